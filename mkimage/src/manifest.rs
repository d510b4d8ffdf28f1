//! Parsing of OSv-style `usr.manifest` files into a list of [`Line`]s.
//!
//! This module only understands text: it resolves `%(var)s`, the `/&/`
//! shorthand, `->` symlinks, `!` and `/**` trees, and validates guest paths.
//! Touching the host filesystem is the job of [`crate::plan`].

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use fs_rofs::format::{NAME_MAX, SYMLINK_MAX};

/// Where an entry came from, for error messages (`usr.manifest:12`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The manifest as named on the command line, or `--dir DIR`.
    pub file: String,
    /// 1-based line number; 0 for entries that have no line (`--dir`).
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// An error in a manifest, or in an entry it names, with its origin.
#[derive(Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub origin: Origin,
    pub message: String,
}

impl ManifestError {
    pub fn new(origin: &Origin, message: impl Into<String>) -> Self {
        ManifestError {
            origin: origin.clone(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for ManifestError {}

/// Per-entry attributes (our extension, written `{mode=0600 uid=0 gid=42}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mtime: Option<i64>,
}

/// What a manifest line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `[root DIR]`: later lines follow links inside DIR chroot-style.
    Root { host: PathBuf, shown: String },
    /// `/guest: ->target`
    Symlink { target: String },
    /// `/guest: host` (a file, or a directory that becomes an empty one).
    /// `keep_symlink` is the leading `!`.
    Path {
        host: PathBuf,
        shown: String,
        keep_symlink: bool,
    },
    /// `/guest/**: host/**`: the whole tree under `host`.
    Tree {
        host: PathBuf,
        shown: String,
        keep_symlinks: bool,
    },
}

/// One meaningful manifest line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub origin: Origin,
    /// Normalised absolute guest path ("/" for the root; for a tree, the
    /// directory the tree lands in).
    pub guest: String,
    pub kind: Kind,
    pub attrs: Attrs,
}

/// Parse manifest `text`. `label` names the file in errors; relative host
/// paths are taken from `base_dir`; `defines` fill `%(name)s`.
pub fn parse(
    text: &str,
    label: &str,
    base_dir: &Path,
    defines: &HashMap<String, String>,
) -> Result<Vec<Line>, ManifestError> {
    let mut lines = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let origin = Origin {
            file: label.to_string(),
            line: index + 1,
        };
        if let Some(line) = parse_line(raw, &origin, base_dir, defines)? {
            lines.push(line);
        }
    }
    Ok(lines)
}

fn parse_line(
    raw: &str,
    origin: &Origin,
    base_dir: &Path,
    defines: &HashMap<String, String>,
) -> Result<Option<Line>, ManifestError> {
    let err = |msg: String| ManifestError::new(origin, msg);
    let text = raw.trim();
    if text.is_empty() || text.starts_with('#') || text.starts_with(';') {
        return Ok(None);
    }
    if text.starts_with('[') {
        // OSv manifests carry a single `[manifest]` section header.
        if text == "[manifest]" {
            return Ok(None);
        }
        // Our extension: `[root DIR]` makes followed links inside DIR
        // resolve as if DIR were `/` (an unpacked image root).
        if let Some(dir) = text
            .strip_prefix("[root ")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            let dir = interpolate(dir.trim(), defines).map_err(err)?;
            if dir.is_empty() {
                return Err(err("[root DIR]: no directory given".to_string()));
            }
            return Ok(Some(Line {
                origin: origin.clone(),
                guest: "/".to_string(),
                kind: Kind::Root {
                    host: resolve_host(base_dir, &dir),
                    shown: dir,
                },
                attrs: Attrs::default(),
            }));
        }
        return Err(err(format!(
            "unknown section '{text}' (only [manifest] is allowed)"
        )));
    }
    // OSv splits at the first ": "; a guest path may itself contain ':'.
    let (guest_raw, host_raw) = match text.split_once(": ") {
        Some(pair) => pair,
        None => match text.strip_suffix(':') {
            Some(g) => (g, ""),
            None => {
                return Err(err(format!(
                    "expected '/guest/path: host/path', got '{text}'"
                )));
            }
        },
    };
    let (host_raw, attrs) = split_attrs(host_raw.trim()).map_err(err)?;
    let guest_text = interpolate(guest_raw.trim(), defines).map_err(err)?;
    let host_text = interpolate(host_raw, defines).map_err(err)?;
    if host_text.is_empty() {
        return Err(err(format!("no host path for '{guest_text}'")));
    }

    if let Some(target) = host_text.strip_prefix("->") {
        if target.is_empty() {
            return Err(err(format!("empty symlink target for '{guest_text}'")));
        }
        check_symlink_target(target).map_err(err)?;
        let guest = normalize_guest(&guest_text).map_err(err)?;
        return Ok(Some(Line {
            origin: origin.clone(),
            guest,
            kind: Kind::Symlink {
                target: target.to_string(),
            },
            attrs,
        }));
    }

    let (keep_symlink, host_text) = match host_text.strip_prefix('!') {
        Some(rest) => (true, rest.to_string()),
        None => (false, host_text),
    };
    if host_text.is_empty() {
        return Err(err(format!("no host path for '{guest_text}'")));
    }

    let guest_tree = guest_text.strip_suffix("/**");
    let host_tree = strip_tree_suffix(&host_text);
    let kind_and_guest = match (guest_tree, host_tree) {
        (Some(guest_dir), Some(host_dir)) => {
            let guest =
                normalize_guest(if guest_dir.is_empty() { "/" } else { guest_dir }).map_err(err)?;
            let host_dir = if host_dir.is_empty() { "." } else { host_dir };
            (
                Kind::Tree {
                    host: resolve_host(base_dir, host_dir),
                    shown: host_dir.to_string(),
                    keep_symlinks: keep_symlink,
                },
                guest,
            )
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(err(format!(
                "'/**' must end both the guest and the host path ('{guest_text}: {host_text}')"
            )));
        }
        (None, None) => {
            let (guest, host) = expand_ampersand(&guest_text, &host_text);
            let guest = normalize_guest(&guest).map_err(err)?;
            (
                Kind::Path {
                    host: resolve_host(base_dir, &host),
                    shown: host,
                    keep_symlink,
                },
                guest,
            )
        }
    };
    let (kind, guest) = kind_and_guest;
    Ok(Some(Line {
        origin: origin.clone(),
        guest,
        kind,
        attrs,
    }))
}

/// `host/**` -> `host`, `**` -> ``.
fn strip_tree_suffix(host: &str) -> Option<&str> {
    if host == "**" {
        return Some("");
    }
    host.strip_suffix("/**")
}

/// The `/&/` shorthand: `/&/lib/foo.so: build/&` is guest `/lib/foo.so`
/// from host `build/lib/foo.so`. Without a host ending in `&`, `&` is literal.
fn expand_ampersand(guest: &str, host: &str) -> (String, String) {
    let host_prefix = if host == "&" {
        Some("")
    } else {
        host.strip_suffix("/&").map(|_| &host[..host.len() - 1])
    };
    match (guest.split_once("/&/"), host_prefix) {
        (Some((before, after)), Some(prefix)) => {
            (format!("{before}/{after}"), format!("{prefix}{after}"))
        }
        _ => (guest.to_string(), host.to_string()),
    }
}

fn resolve_host(base_dir: &Path, host: &str) -> PathBuf {
    let path = Path::new(host);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

/// Split a trailing `{key=value ...}` attribute block off a host path.
///
/// Only a block preceded by whitespace is recognised, so an OSv manifest
/// (which never uses one) parses unchanged.
fn split_attrs(host: &str) -> Result<(&str, Attrs), String> {
    let Some(body) = host.strip_suffix('}') else {
        return Ok((host, Attrs::default()));
    };
    let Some(open) = body.rfind('{') else {
        return Ok((host, Attrs::default()));
    };
    let before = &body[..open];
    if !before.is_empty() && !before.ends_with(char::is_whitespace) {
        return Ok((host, Attrs::default()));
    }
    let mut attrs = Attrs::default();
    for item in body[open + 1..].split(|c: char| c == ',' || c.is_whitespace()) {
        if item.is_empty() {
            continue;
        }
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("attribute '{item}' is not key=value"))?;
        let bad = || format!("bad value '{value}' for attribute '{key}'");
        match key {
            "mode" => {
                let mode = u32::from_str_radix(value, 8).map_err(|_| bad())?;
                if mode > 0o7777 {
                    return Err(format!("mode '{value}' has bits outside 07777"));
                }
                attrs.mode = Some(mode);
            }
            "uid" => attrs.uid = Some(value.parse().map_err(|_| bad())?),
            "gid" => attrs.gid = Some(value.parse().map_err(|_| bad())?),
            "mtime" => attrs.mtime = Some(value.parse().map_err(|_| bad())?),
            _ => {
                return Err(format!(
                    "unknown attribute '{key}' (known: mode, uid, gid, mtime)"
                ));
            }
        }
    }
    Ok((before.trim_end(), attrs))
}

/// A symlink target the image can hold.
pub fn check_symlink_target(target: &str) -> Result<(), String> {
    if target.contains('\0') {
        return Err("symlink target contains a NUL byte".to_string());
    }
    if target.len() > SYMLINK_MAX {
        return Err(format!(
            "symlink target of {} bytes is too long (at most {SYMLINK_MAX})",
            target.len()
        ));
    }
    Ok(())
}

/// Fill `%(name)s` from `defines`; `%%` is a literal `%`. Any other `%` is
/// kept as it is.
pub fn interpolate(text: &str, defines: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            let close = tail.find(")s").ok_or_else(|| {
                format!("unterminated variable reference '%({tail}' (expected '%(name)s')")
            })?;
            let name = &tail[..close];
            let value = defines.get(name).ok_or_else(|| {
                format!("undefined variable '{name}' (define it with -D {name}=...)")
            })?;
            out.push_str(value);
            rest = &tail[close + 2..];
        } else {
            out.push('%');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Check and normalise an absolute guest path: repeated and trailing slashes
/// are dropped; `.`, `..`, NUL and names over [`NAME_MAX`] bytes are errors.
pub fn normalize_guest(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("guest path '{path}' is not absolute"));
    }
    if path.contains('\0') {
        return Err("guest path contains a NUL byte".to_string());
    }
    let mut out = String::with_capacity(path.len());
    for name in path.split('/').filter(|n| !n.is_empty()) {
        if name == "." || name == ".." {
            return Err(format!("guest path '{path}' has a '{name}' component"));
        }
        if name.len() > NAME_MAX {
            return Err(format!(
                "guest path '{path}' has a name of {} bytes (at most {NAME_MAX})",
                name.len()
            ));
        }
        out.push('/');
        out.push_str(name);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defines(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse_one(text: &str) -> Result<Line, ManifestError> {
        let lines = parse(text, "m", Path::new("/base"), &defines(&[("arch", "x64")]))?;
        assert_eq!(lines.len(), 1, "{lines:?}");
        Ok(lines.into_iter().next().unwrap_or_else(|| unreachable!()))
    }

    fn err_of(text: &str) -> String {
        parse(text, "usr.manifest", Path::new("/base"), &HashMap::new())
            .expect_err("should fail")
            .to_string()
    }

    #[test]
    fn skips_header_comments_and_blank_lines() {
        let text = "[manifest]\n# comment\n\n   \n  # indented\n/a: b\n";
        let lines = parse(text, "m", Path::new("/base"), &HashMap::new()).expect("parses");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].origin.line, 6);
        assert_eq!(lines[0].guest, "/a");
    }

    #[test]
    fn plain_entry_is_relative_to_base_and_absolute_kept() {
        let line = parse_one("/etc/hostname: tree/etc/hostname").expect("parses");
        assert_eq!(
            line.kind,
            Kind::Path {
                host: PathBuf::from("/base/tree/etc/hostname"),
                shown: "tree/etc/hostname".into(),
                keep_symlink: false
            }
        );
        let line = parse_one("/x: /abs/x").expect("parses");
        assert!(matches!(line.kind, Kind::Path { ref host, .. } if host == Path::new("/abs/x")));
    }

    #[test]
    fn variables_are_filled_and_undefined_ones_fail() {
        let line = parse_one("/lib/%(arch)s.so: build/%(arch)s/lib.so").expect("parses");
        assert_eq!(line.guest, "/lib/x64.so");
        assert!(matches!(line.kind, Kind::Path { ref shown, .. } if shown == "build/x64/lib.so"));
        assert_eq!(
            err_of("\n\n/x: %(nope)s/y"),
            "usr.manifest:3: undefined variable 'nope' (define it with -D nope=...)"
        );
        assert_eq!(
            interpolate("100%% a%b", &HashMap::new()).as_deref(),
            Ok("100% a%b")
        );
        assert!(interpolate("%(open", &HashMap::new()).is_err());
    }

    #[test]
    fn ampersand_shorthand() {
        let line = parse_one("/&/lib/foo.so: build/&").expect("parses");
        assert_eq!(line.guest, "/lib/foo.so");
        assert!(matches!(line.kind, Kind::Path { ref shown, .. } if shown == "build/lib/foo.so"));
        let line = parse_one("/usr/&/lib/a.so: &").expect("parses");
        assert_eq!(line.guest, "/usr/lib/a.so");
        assert!(matches!(line.kind, Kind::Path { ref shown, .. } if shown == "lib/a.so"));
        // Without a host ending in '&' the '&' is an ordinary name.
        let line = parse_one("/&/x: y").expect("parses");
        assert_eq!(line.guest, "/&/x");
    }

    #[test]
    fn trees() {
        let line = parse_one("/data/**: tree/data/**").expect("parses");
        assert_eq!(line.guest, "/data");
        assert_eq!(
            line.kind,
            Kind::Tree {
                host: PathBuf::from("/base/tree/data"),
                shown: "tree/data".into(),
                keep_symlinks: false
            }
        );
        let line = parse_one("/**: !**").expect("parses");
        assert_eq!(line.guest, "/");
        assert!(
            matches!(line.kind, Kind::Tree { keep_symlinks: true, ref shown, .. } if shown == ".")
        );
        assert_eq!(
            err_of("/data/**: tree/data"),
            "usr.manifest:1: '/**' must end both the guest and the host path ('/data/**: tree/data')"
        );
    }

    #[test]
    fn symlinks_and_bang() {
        let line = parse_one("/links/x: ->../etc/hostname").expect("parses");
        assert_eq!(
            line.kind,
            Kind::Symlink {
                target: "../etc/hostname".into()
            }
        );
        let line = parse_one("/lib/l: !build/l").expect("parses");
        assert!(
            matches!(line.kind, Kind::Path { keep_symlink: true, ref shown, .. } if shown == "build/l")
        );
        assert_eq!(
            err_of("/l: ->"),
            "usr.manifest:1: empty symlink target for '/l'"
        );
    }

    #[test]
    fn attributes() {
        let line = parse_one("/etc/shadow: etc/shadow {mode=0600 uid=0 gid=42}").expect("parses");
        assert_eq!(
            line.attrs,
            Attrs {
                mode: Some(0o600),
                uid: Some(0),
                gid: Some(42),
                mtime: None
            }
        );
        assert!(matches!(line.kind, Kind::Path { ref shown, .. } if shown == "etc/shadow"));
        let line = parse_one("/l: ->t {uid=7,mtime=-5}").expect("parses");
        assert_eq!(
            line.attrs,
            Attrs {
                mode: None,
                uid: Some(7),
                gid: None,
                mtime: Some(-5)
            }
        );
        assert_eq!(line.kind, Kind::Symlink { target: "t".into() });
        // Braces glued to the name are part of the name (OSv compatibility).
        let line = parse_one("/x: dir/a{b}").expect("parses");
        assert!(matches!(line.kind, Kind::Path { ref shown, .. } if shown == "dir/a{b}"));
        assert_eq!(
            err_of("/x: y {owner=1}"),
            "usr.manifest:1: unknown attribute 'owner' (known: mode, uid, gid, mtime)"
        );
        assert_eq!(
            err_of("/x: y {mode=0999}"),
            "usr.manifest:1: bad value '0999' for attribute 'mode'"
        );
        assert_eq!(
            err_of("/x: y {mode=17777}"),
            "usr.manifest:1: mode '17777' has bits outside 07777"
        );
    }

    #[test]
    fn guest_path_validation() {
        assert_eq!(parse_one("//a//b/: c").expect("parses").guest, "/a/b");
        assert_eq!(
            err_of("a/b: c"),
            "usr.manifest:1: guest path 'a/b' is not absolute"
        );
        assert_eq!(
            err_of("/a/../b: c"),
            "usr.manifest:1: guest path '/a/../b' has a '..' component"
        );
        assert_eq!(
            err_of("/a/./b: c"),
            "usr.manifest:1: guest path '/a/./b' has a '.' component"
        );
        let long = "n".repeat(256);
        assert_eq!(
            err_of(&format!("/{long}: c")),
            format!("usr.manifest:1: guest path '/{long}' has a name of 256 bytes (at most 255)")
        );
        assert!(parse_one(&format!("/{}: c", "n".repeat(255))).is_ok());
        assert!(err_of("/a\0b: c").contains("NUL"));
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(
            err_of("# ok\n/just-a-path"),
            "usr.manifest:2: expected '/guest/path: host/path', got '/just-a-path'"
        );
        assert_eq!(err_of("/a:"), "usr.manifest:1: no host path for '/a'");
        assert_eq!(
            err_of("[other]"),
            "usr.manifest:1: unknown section '[other]' (only [manifest] is allowed)"
        );
    }

    #[test]
    fn root_lines() {
        let line = parse_one("[root rootfs]").expect("parses");
        assert_eq!(
            line.kind,
            Kind::Root {
                host: PathBuf::from("/base/rootfs"),
                shown: "rootfs".into()
            }
        );
        let line = parse_one("[root /abs/%(arch)s]").expect("parses");
        assert!(matches!(line.kind, Kind::Root { ref host, .. } if host == Path::new("/abs/x64")));
        assert_eq!(
            err_of("[root ]"),
            "usr.manifest:1: [root DIR]: no directory given"
        );
    }

    #[test]
    fn guest_path_may_contain_colon() {
        let line = parse_one("/a:b: c").expect("parses");
        assert_eq!(line.guest, "/a:b");
    }
}
