//! Mount tables: the kernel command line's `vfs.fstab=` entries
//! (Unikraft-style `dev:path:fs[:flags[:opts]]`) and `/etc/fstab` (Linux
//! format). Pure parsing (`cargo test -p init` checks it, random inputs
//! included).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// One filesystem to mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// Block-device node such as `/dev/vblk0`, the device tag of a
    /// [`source_is_tag`] type (`share`), or None (`none`).
    pub source: Option<String>,
    /// Absolute mount point, or `@name` for a hidden mount.
    pub target: String,
    pub fs_type: String,
    pub read_only: bool,
    /// Options passed to the filesystem, such as `size=32M`.
    pub options: String,
}

/// The table used when the command line gives none: ROFS from the first
/// virtio disk on `/`, devfs on `/dev`, ramfs on `/tmp`. `/tmp` is limited to
/// half of `heap_bytes` (as Linux sizes tmpfs), so filling it gives ENOSPC
/// instead of starving the kernel of memory.
pub fn default_table(heap_bytes: u64) -> Vec<MountEntry> {
    let tmp_options = alloc::format!("size={}", (heap_bytes / 2).max(4096));
    alloc::vec![
        entry(Some("/dev/vblk0"), "/", "rofs", true, ""),
        entry(None, "/dev", "devfs", false, ""),
        entry(None, "/tmp", "ramfs", false, &tmp_options),
    ]
}

fn entry(
    source: Option<&str>,
    target: &str,
    fs_type: &str,
    read_only: bool,
    options: &str,
) -> MountEntry {
    MountEntry {
        source: source.map(ToString::to_string),
        target: target.to_string(),
        fs_type: fs_type.to_string(),
        read_only,
        options: options.to_string(),
    }
}

/// Whether the source word of `fs_type` is a device tag (virtio-fs: the
/// `tag=` QEMU gave the share) rather than a node under `/dev`.
pub fn source_is_tag(fs_type: &str) -> bool {
    fs_type == "virtiofs"
}

/// A device tag: non-empty, at most 36 bytes (the virtio-fs config
/// field), not `none`, no `/`, `:`, whitespace or control characters.
pub fn check_tag(tag: &str) -> Result<String, String> {
    let valid = |c: char| !(c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if tag.is_empty() || tag == "none" || tag.len() > 36 || !tag.chars().all(valid) {
        return Err(format!(
            "bad device tag `{tag}` (1 to 36 bytes, no `/`, `:` or spaces)"
        ));
    }
    Ok(tag.to_string())
}

fn tag_source(tag: &str) -> Result<Option<String>, String> {
    check_tag(tag).map(Some)
}

/// `vblk0` and `/dev/vblk0` name a device node; `none` (or empty) is no source.
fn device_source(dev: &str) -> Result<Option<String>, String> {
    match dev {
        "" | "none" => Ok(None),
        d if d.starts_with("/dev/") && d.len() > 5 => Ok(Some(d.to_string())),
        d if d.starts_with('/') => Err(format!("device `{d}` is not under /dev")),
        d if d.contains('/') => Err(format!("bad device name `{d}`")),
        d => Ok(Some(format!("/dev/{d}"))),
    }
}

/// The mount point `path` checked and in its plain form: an absolute path
/// with repeated `/` collapsed, `.` components and a trailing `/` dropped
/// (`//tmp/./` is `/tmp`; `..` stays: only the VFS can resolve it, through
/// symlinks, which is how boot compares targets with what is mounted), or
/// `@name` for a hidden mount (a layer for an overlay, reachable by no path).
pub fn normalize_target(path: &str) -> Result<String, String> {
    if let Some(name) = path.strip_prefix('@') {
        let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
        if name.is_empty() || name.len() > 255 || !name.bytes().all(valid) {
            return Err(format!(
                "hidden mount `{path}`: the name after @ is 1 to 255 of A-Z a-z 0-9 _ . -"
            ));
        }
        return Ok(path.to_string());
    }
    if !path.starts_with('/') {
        return Err(format!("mount point `{path}` is not an absolute path"));
    }
    let mut out = String::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

fn check_fs_type(fs: &str) -> Result<(), String> {
    if fs.is_empty()
        || !fs
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!("bad filesystem type `{fs}`"));
    }
    Ok(())
}

/// Parse one command-line entry `dev:path:fs[:flags[:opts]]`.
///
/// - `dev`: `vblk0`, `/dev/vblk0`, or `none` for filesystems without a device.
/// - `path`: the absolute mount point, or `@name` for a hidden mount.
/// - `fs`: `rofs`, `ramfs`, `devfs`, ...
/// - `flags`: empty, `ro` or `rw` (default: `ro` for rofs, else `rw`).
/// - `opts`: everything after the fourth `:`, handed to the filesystem
///   (e.g. `size=32M`).
pub fn parse_cmdline_entry(text: &str) -> Result<MountEntry, String> {
    let mut parts = text.splitn(5, ':');
    let dev = parts.next().unwrap_or("");
    let (Some(path), Some(fs)) = (parts.next(), parts.next()) else {
        return Err(format!("`{text}`: expected dev:path:fs[:flags[:opts]]"));
    };
    let flags = parts.next().unwrap_or("");
    let options = parts.next().unwrap_or("");
    let source = if source_is_tag(fs) {
        tag_source(dev)
    } else {
        device_source(dev)
    }
    .map_err(|e| format!("`{text}`: {e}"))?;
    let target = normalize_target(path).map_err(|e| format!("`{text}`: {e}"))?;
    check_fs_type(fs).map_err(|e| format!("`{text}`: {e}"))?;
    crate::verity::check_options(options, source.is_some() && !source_is_tag(fs))
        .map_err(|e| format!("`{text}`: {e}"))?;
    let read_only = match flags {
        "" => fs == "rofs",
        "ro" => true,
        "rw" => false,
        other => return Err(format!("`{text}`: unknown flags `{other}` (use ro or rw)")),
    };
    Ok(MountEntry {
        source,
        target,
        fs_type: fs.to_string(),
        read_only,
        options: options.to_string(),
    })
}

/// Generic mount options the VFS itself handles or ignores; all others go to
/// the filesystem.
const GENERIC_OPTIONS: &[&str] = &[
    "defaults",
    "auto",
    "nouser",
    "user",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "relatime",
    "noatime",
    "atime",
    "nodiratime",
    "strictatime",
    "sync",
    "async",
    "nofail",
];

/// One problem in `/etc/fstab`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FstabError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

/// Parse `/etc/fstab` text: `spec file vfstype [mntops [freq [passno]]]`,
/// `#` comments, blank lines. A `spec` under `/dev/` is a device node; any
/// other (`none`, `tmpfs`, ...) means no device. `ro`/`rw` set the flags,
/// `noauto` skips the line, generic options (`defaults`, `nosuid`, ...) are
/// dropped and the rest is passed to the filesystem. Bad lines are returned
/// as errors alongside the good entries, never both-or-nothing.
pub fn parse_etc_fstab(text: &str) -> (Vec<MountEntry>, Vec<FstabError>) {
    parse_etc_fstab_bytes(text.as_bytes())
}

/// [`parse_etc_fstab`] of the file's bytes: a line that is not UTF-8 is one
/// error with its number, and the other lines still count.
pub fn parse_etc_fstab_bytes(text: &[u8]) -> (Vec<MountEntry>, Vec<FstabError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let Ok(raw) = core::str::from_utf8(raw) else {
            errors.push(FstabError {
                line: index + 1,
                message: "not UTF-8 text".to_string(),
            });
            continue;
        };
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match parse_fstab_line(line) {
            Ok(Some(e)) => entries.push(e),
            Ok(None) => {}
            Err(message) => errors.push(FstabError {
                line: index + 1,
                message,
            }),
        }
    }
    (entries, errors)
}

fn parse_fstab_line(line: &str) -> Result<Option<MountEntry>, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 3 {
        return Err(format!(
            "expected at least 3 fields (spec file vfstype), found {}",
            fields.len()
        ));
    }
    if fields.len() > 6 {
        return Err(format!("expected at most 6 fields, found {}", fields.len()));
    }
    for (i, f) in fields.iter().enumerate().skip(4) {
        if !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("field {} (`{f}`) must be a number", i + 1));
        }
    }
    let (spec, target, fs_type) = (fields[0], fields[1], fields[2]);
    let source = if source_is_tag(fs_type) {
        tag_source(spec)?
    } else if spec.starts_with("/dev/") && spec.len() > 5 {
        Some(spec.to_string())
    } else if spec.starts_with('/') {
        return Err(format!("source `{spec}` is not a device under /dev"));
    } else {
        None
    };
    let target = normalize_target(target)?;
    check_fs_type(fs_type)?;
    let mut read_only = fs_type == "rofs";
    let mut options: Vec<&str> = Vec::new();
    for opt in fields.get(3).copied().unwrap_or("defaults").split(',') {
        match opt {
            "" => {}
            "ro" => read_only = true,
            "rw" => read_only = false,
            "noauto" => return Ok(None),
            o if GENERIC_OPTIONS.contains(&o) => {}
            o => options.push(o),
        }
    }
    let options = options.join(",");
    crate::verity::check_options(&options, source.is_some() && !source_is_tag(fs_type))?;
    Ok(Some(MountEntry {
        source,
        target,
        fs_type: fs_type.to_string(),
        read_only,
        options,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_entry_full() {
        let e = parse_cmdline_entry("none:/tmp:ramfs::size=32M").unwrap();
        assert_eq!(e, entry(None, "/tmp", "ramfs", false, "size=32M"));
        let e = parse_cmdline_entry("vblk0:/:rofs").unwrap();
        assert_eq!(e, entry(Some("/dev/vblk0"), "/", "rofs", true, ""));
        let e = parse_cmdline_entry("/dev/vblk1:/data:rofs:ro:verify").unwrap();
        assert_eq!(
            e,
            entry(Some("/dev/vblk1"), "/data", "rofs", true, "verify")
        );
        let e = parse_cmdline_entry("none:/t:ramfs:ro").unwrap();
        assert!(e.read_only);
    }

    #[test]
    fn virtiofs_source_is_the_tag() {
        let e = parse_cmdline_entry("share:/mnt:virtiofs").unwrap();
        assert_eq!(e, entry(Some("share"), "/mnt", "virtiofs", false, ""));
        let e = parse_cmdline_entry("data:/d:virtiofs:ro").unwrap();
        assert_eq!(e, entry(Some("data"), "/d", "virtiofs", true, ""));
        let (entries, errors) = parse_etc_fstab("share /mnt virtiofs rw 0 0\nx /y virtiofs ro\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            entries[0],
            entry(Some("share"), "/mnt", "virtiofs", false, "")
        );
        assert_eq!(entries[1], entry(Some("x"), "/y", "virtiofs", true, ""));
        for bad in ["none", "", "/dev/share", "a/b"] {
            let text = format!("{bad}:/mnt:virtiofs");
            assert!(parse_cmdline_entry(&text).is_err(), "{text}");
        }
        let long = "t".repeat(37);
        assert!(parse_cmdline_entry(&format!("{long}:/mnt:virtiofs")).is_err());
        let (entries, errors) = parse_etc_fstab("none /mnt virtiofs\n/dev/x /m virtiofs\n");
        assert!(entries.is_empty());
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn cmdline_entry_options_keep_colons() {
        let e = parse_cmdline_entry("none:/t:ramfs:rw:a=b:c").unwrap();
        assert_eq!(e.options, "a=b:c");
    }

    #[test]
    fn cmdline_entry_errors() {
        assert!(parse_cmdline_entry("vblk0").is_err());
        assert!(parse_cmdline_entry("vblk0:/").is_err());
        assert!(parse_cmdline_entry("vblk0:relative:rofs").is_err());
        assert!(parse_cmdline_entry("vblk0:/:").is_err());
        assert!(parse_cmdline_entry("vblk0:/:rofs:rx").is_err());
        assert!(parse_cmdline_entry("/etc/x:/:rofs").is_err());
        assert!(parse_cmdline_entry("a/b:/:rofs").is_err());
        assert!(parse_cmdline_entry("vblk0:/:ro fs").is_err());
    }

    #[test]
    fn default_has_root_first() {
        let t = default_table(64 << 20);
        assert_eq!(t[0].target, "/");
        assert_eq!(t[0].source.as_deref(), Some("/dev/vblk0"));
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].target, "/tmp");
        assert_eq!(t[2].options, "size=33554432");
    }

    #[test]
    fn etc_fstab_good_and_bad_lines() {
        let text = "# comment\n\
                    /dev/vblk0 / rofs ro 0 0\n\
                    \n\
                    none /tmp ramfs rw,size=8M,nosuid 0 0\n\
                    broken line\n\
                    none /x ramfs defaults,noauto 0 0\n\
                    none relative ramfs\n\
                    none /y ramfs rw zero 0\n\
                    tmpfs /z ramfs   # trailing comment\n\
                    /home/x /q rofs\n";
        let (entries, errors) = parse_etc_fstab(text);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0], entry(Some("/dev/vblk0"), "/", "rofs", true, ""));
        assert_eq!(entries[1], entry(None, "/tmp", "ramfs", false, "size=8M"));
        assert_eq!(entries[2], entry(None, "/z", "ramfs", false, ""));
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [5, 7, 8, 10]);
    }

    #[test]
    fn hidden_targets() {
        let e = parse_cmdline_entry("none:@etc.upper:ramfs::size=1M").unwrap();
        assert_eq!(e, entry(None, "@etc.upper", "ramfs", false, "size=1M"));
        let e = parse_cmdline_entry("none:/etc:overlay::lowerdir=/etc:@base,upperdir=@etc.upper")
            .unwrap();
        assert_eq!(e.options, "lowerdir=/etc:@base,upperdir=@etc.upper");
        for bad in [
            "none:@:ramfs",
            "none:@a/b:ramfs",
            "none:@a b:ramfs",
            "none:@\u{e4}:ramfs",
        ] {
            let error = parse_cmdline_entry(bad).unwrap_err();
            assert!(error.contains("the name after @"), "{bad}: {error}");
        }
        let (entries, errors) = parse_etc_fstab(
            "none @etc.upper ramfs size=1M 0 0\n\
             none /etc overlay lowerdir=/etc,upperdir=@etc.upper,workdir=@w 0 0\n\
             none @bad/name ramfs\n",
        );
        assert_eq!(
            entries[0],
            entry(None, "@etc.upper", "ramfs", false, "size=1M")
        );
        assert_eq!(
            entries[1],
            entry(
                None,
                "/etc",
                "overlay",
                false,
                "lowerdir=/etc,upperdir=@etc.upper,workdir=@w"
            )
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
    }

    #[test]
    fn etc_fstab_too_many_fields() {
        let (entries, errors) = parse_etc_fstab("none /a ramfs rw 0 0 extra\n");
        assert!(entries.is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 1);
    }

    #[test]
    fn targets_are_normalized() {
        for (given, plain) in [
            ("/tmp/", "/tmp"),
            ("//tmp", "/tmp"),
            ("/./tmp", "/tmp"),
            ("/tmp/.//x/", "/tmp/x"),
            ("//", "/"),
            ("/.", "/"),
            ("/tmp/../tmp", "/tmp/../tmp"),
        ] {
            assert_eq!(normalize_target(given).as_deref(), Ok(plain), "{given}");
            let e = parse_cmdline_entry(&format!("none:{given}:ramfs")).unwrap();
            assert_eq!(e.target, plain);
            let (entries, _) = parse_etc_fstab(&format!("none {given} ramfs\n"));
            assert_eq!(entries[0].target, plain);
        }
        assert!(normalize_target("tmp/").is_err());
        // `//` names the root, so a table whose root is written so is valid.
        assert!(crate::cmdline::parse("vfs.fstab=vblk0://:rofs").is_ok());
    }

    #[test]
    fn a_non_utf8_line_is_reported_and_the_others_apply() {
        let text = b"none /a ramfs\n\xff\xfe /b ramfs\nnone /c ramfs\n";
        let (entries, errors) = parse_etc_fstab_bytes(text);
        let targets: Vec<&str> = entries.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(targets, ["/a", "/c"]);
        assert_eq!(
            errors,
            [FstabError {
                line: 2,
                message: "not UTF-8 text".to_string()
            }]
        );
    }

    #[test]
    fn etc_fstab_binary_garbage_does_not_panic() {
        let text = "\u{0}\u{1}\u{fffd} / \t\t x\n::::\n/dev/ / rofs\n";
        let (_entries, errors) = parse_etc_fstab(text);
        assert!(!errors.is_empty());
    }
}
