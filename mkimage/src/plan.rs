//! Turning manifest lines into the final set of guest entries.
//!
//! This is where the host filesystem is read: trees are walked, host
//! symlinks followed (or kept with `!`), hard links found, and later lines
//! override earlier ones for the same guest path. The result is sorted by
//! guest path, so the image does not depend on directory-listing order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::manifest::{Attrs, Kind, Line, ManifestError, NAME_MAX, Origin};

/// What one guest path becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    Dir,
    /// A regular file read from `host`. `link_key` (device, inode) is set
    /// for files found in a tree, so that host hard links stay hard links.
    File {
        host: PathBuf,
        link_key: Option<(u64, u64)>,
    },
    Symlink {
        target: String,
    },
}

/// One guest entry of the final image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub what: What,
    /// Permission bits; None means the writer's default.
    pub mode: Option<u32>,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Option<i64>,
    /// Index into [`Plan::origins`].
    pub origin: usize,
}

/// All entries by normalised guest path.
#[derive(Debug, Default)]
pub struct Plan {
    pub entries: BTreeMap<String, Entry>,
    pub origins: Vec<Origin>,
}

impl Plan {
    pub fn origin(&self, entry: &Entry) -> &Origin {
        // Every entry's origin index was pushed before the entry.
        &self.origins[entry.origin]
    }

    /// Apply `lines` in order.
    pub fn apply(&mut self, lines: &[Line]) -> Result<(), ManifestError> {
        for line in lines {
            self.apply_line(line)?;
        }
        Ok(())
    }

    /// Add an empty directory at `guest` unless the plan already has that path.
    pub fn add_default_dir(&mut self, guest: &str) {
        if self.entries.contains_key(guest) {
            return;
        }
        self.origins.push(Origin {
            file: "default mount point".to_string(),
            line: 0,
        });
        let origin = self.origins.len() - 1;
        self.entries.insert(
            guest.to_string(),
            entry(What::Dir, &Attrs::default(), None, origin),
        );
    }

    /// Add the whole host tree `dir` at the guest root (`--dir`).
    pub fn add_host_dir(&mut self, dir: &Path) -> Result<(), ManifestError> {
        let origin = Origin {
            file: format!("--dir {}", dir.display()),
            line: 0,
        };
        let line = Line {
            origin,
            guest: "/".to_string(),
            kind: Kind::Tree {
                host: dir.to_path_buf(),
                shown: dir.display().to_string(),
                keep_symlinks: false,
            },
            attrs: Attrs::default(),
        };
        self.apply_line(&line)
    }

    fn apply_line(&mut self, line: &Line) -> Result<(), ManifestError> {
        self.origins.push(line.origin.clone());
        let origin = self.origins.len() - 1;
        let err = |msg: String| ManifestError::new(&line.origin, msg);
        let attrs = line.attrs;
        match &line.kind {
            Kind::Symlink { target } => {
                let what = What::Symlink {
                    target: target.clone(),
                };
                self.insert(&line.guest, entry(what, &attrs, None, origin))
                    .map_err(err)
            }
            Kind::Path {
                host,
                shown,
                keep_symlink,
            } => {
                let what = host_entry(host, shown, *keep_symlink, None).map_err(err)?;
                let host_mode = match &what {
                    What::File { .. } => Some(default_file_mode(host)),
                    _ => None,
                };
                self.insert(&line.guest, entry(what, &attrs, host_mode, origin))
                    .map_err(err)
            }
            Kind::Tree {
                host,
                shown,
                keep_symlinks,
            } => {
                let meta = fs::metadata(host).map_err(|e| err(not_found(shown, &e)))?;
                if !meta.is_dir() {
                    return Err(err(format!("host path '{shown}' is not a directory")));
                }
                // The tree's directory itself exists even when it is empty.
                let dir_attrs = Attrs {
                    mode: None,
                    ..attrs
                };
                self.insert(&line.guest, entry(What::Dir, &dir_attrs, None, origin))
                    .map_err(err)?;
                let mut ancestors = HashSet::new();
                ancestors.insert((meta.dev(), meta.ino()));
                let walk = TreeWalk {
                    origin,
                    attrs,
                    keep_symlinks: *keep_symlinks,
                };
                walk.walk(self, host, &line.guest, &mut ancestors)
                    .map_err(err)
            }
        }
    }

    /// Put `new` at `guest`, replacing what was there (later lines win).
    fn insert(&mut self, guest: &str, new: Entry) -> Result<(), String> {
        let is_dir = new.what == What::Dir;
        if guest == "/" && !is_dir {
            return Err("the root '/' can only be a directory".to_string());
        }
        // A later entry under a path that an earlier line made a file or
        // symlink replaces that file with a directory.
        let mut end = 0;
        while let Some(next) = guest[end + 1..].find('/') {
            end += 1 + next;
            let ancestor = &guest[..end];
            if self
                .entries
                .get(ancestor)
                .is_some_and(|e| e.what != What::Dir)
            {
                self.entries.remove(ancestor);
            }
        }
        if !is_dir {
            // A file or symlink replacing a directory replaces its contents.
            let prefix = format!("{guest}/");
            let doomed: Vec<String> = self
                .entries
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| k.clone())
                .collect();
            for key in doomed {
                self.entries.remove(&key);
            }
        }
        self.entries.insert(guest.to_string(), new);
        Ok(())
    }
}

fn entry(what: What, attrs: &Attrs, host_mode: Option<u32>, origin: usize) -> Entry {
    Entry {
        what,
        mode: attrs.mode.or(host_mode),
        uid: attrs.uid.unwrap_or(0),
        gid: attrs.gid.unwrap_or(0),
        mtime: attrs.mtime,
        origin,
    }
}

/// Files get 0o755 when any execute bit is set on the host, else 0o644,
/// so the image does not depend on the builder's umask.
fn default_file_mode_of(meta: &Metadata) -> u32 {
    if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

fn default_file_mode(host: &Path) -> u32 {
    fs::metadata(host)
        .map(|m| default_file_mode_of(&m))
        .unwrap_or(0o644)
}

fn not_found(shown: &str, error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::NotFound {
        format!("host file '{shown}' not found")
    } else {
        format!("host file '{shown}': {error}")
    }
}

/// What a single host path (not a tree) becomes.
fn host_entry(
    host: &Path,
    shown: &str,
    keep_symlink: bool,
    link_key: Option<(u64, u64)>,
) -> Result<What, String> {
    let lmeta = fs::symlink_metadata(host).map_err(|e| not_found(shown, &e))?;
    if lmeta.file_type().is_symlink() {
        if keep_symlink {
            return symlink_entry(host, shown);
        }
        let meta = fs::metadata(host).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => format!("host file '{shown}' not found (dangling symlink)"),
            _ => format!("host file '{shown}': {e}"),
        })?;
        return kind_of(&meta, host, shown, link_key);
    }
    kind_of(&lmeta, host, shown, link_key)
}

fn symlink_entry(host: &Path, shown: &str) -> Result<What, String> {
    let target = fs::read_link(host).map_err(|e| format!("host symlink '{shown}': {e}"))?;
    let target = target
        .into_os_string()
        .into_string()
        .map_err(|_| format!("host symlink '{shown}' has a target that is not UTF-8"))?;
    crate::manifest::check_symlink_target(&target)
        .map_err(|e| format!("host symlink '{shown}': {e}"))?;
    Ok(What::Symlink { target })
}

fn kind_of(
    meta: &Metadata,
    host: &Path,
    shown: &str,
    link_key: Option<(u64, u64)>,
) -> Result<What, String> {
    if meta.is_dir() {
        Ok(What::Dir)
    } else if meta.is_file() {
        Ok(What::File {
            host: host.to_path_buf(),
            link_key,
        })
    } else {
        Err(format!(
            "host file '{shown}' is not a regular file, directory or symlink"
        ))
    }
}

/// Walk state for one `/**` line.
struct TreeWalk {
    origin: usize,
    attrs: Attrs,
    keep_symlinks: bool,
}

impl TreeWalk {
    fn walk(
        &self,
        plan: &mut Plan,
        host_dir: &Path,
        guest_dir: &str,
        ancestors: &mut HashSet<(u64, u64)>,
    ) -> Result<(), String> {
        let reader =
            fs::read_dir(host_dir).map_err(|e| format!("reading '{}': {e}", host_dir.display()))?;
        // Sorted, so that which name of a hard-linked file comes first does
        // not depend on the host's directory order.
        let mut names = Vec::new();
        for item in reader {
            let item = item.map_err(|e| format!("reading '{}': {e}", host_dir.display()))?;
            names.push(item.file_name());
        }
        names.sort();
        for name in names {
            let host = host_dir.join(&name);
            let name = name.into_string().map_err(|n| {
                format!(
                    "host name '{}' is not valid UTF-8",
                    host_dir.join(n).display()
                )
            })?;
            if name.len() > NAME_MAX {
                return Err(format!(
                    "host name '{}' is longer than {NAME_MAX} bytes",
                    host.display()
                ));
            }
            let guest = if guest_dir == "/" {
                format!("/{name}")
            } else {
                format!("{guest_dir}/{name}")
            };
            let lmeta = fs::symlink_metadata(&host)
                .map_err(|e| format!("host file '{}': {e}", host.display()))?;
            let followed = lmeta.file_type().is_symlink();
            let meta = if followed {
                if self.keep_symlinks {
                    let what = symlink_entry(&host, &host.display().to_string())?;
                    plan.insert(
                        &guest,
                        entry(what, &self.attrs_no_mode(), None, self.origin),
                    )?;
                    continue;
                }
                fs::metadata(&host).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => {
                        format!(
                            "host file '{}' not found (dangling symlink)",
                            host.display()
                        )
                    }
                    _ => format!("host file '{}': {e}", host.display()),
                })?
            } else {
                lmeta
            };
            if meta.is_dir() {
                let key = (meta.dev(), meta.ino());
                if !ancestors.insert(key) {
                    return Err(format!(
                        "host directory '{}' contains itself (symlink loop)",
                        host.display()
                    ));
                }
                plan.insert(
                    &guest,
                    entry(What::Dir, &self.attrs_no_mode(), None, self.origin),
                )?;
                self.walk(plan, &host, &guest, ancestors)?;
                ancestors.remove(&key);
            } else if meta.is_file() {
                // Only real hard links share an inode; a followed symlink
                // is a copy (content deduplication still shares its data).
                let link_key = (!followed).then(|| (meta.dev(), meta.ino()));
                let what = What::File { host, link_key };
                let mode = default_file_mode_of(&meta);
                plan.insert(&guest, entry(what, &self.attrs, Some(mode), self.origin))?;
            } else {
                eprintln!(
                    "mkimage: warning: skipping '{}': not a regular file, directory or symlink",
                    host.display()
                );
            }
        }
        Ok(())
    }

    /// A tree line's `mode=` applies to its files only.
    fn attrs_no_mode(&self) -> Attrs {
        Attrs {
            mode: None,
            ..self.attrs
        }
    }
}

/// Host hard links: for each (device, inode) of a tree file, its first guest
/// path in sorted order; the other names become hard links to it.
pub fn hard_link_groups(plan: &Plan) -> HashMap<(u64, u64), &str> {
    let mut first = HashMap::new();
    for (guest, entry) in &plan.entries {
        if let What::File {
            link_key: Some(key),
            ..
        } = &entry.what
        {
            first.entry(*key).or_insert(guest.as_str());
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse;

    fn plan_of(dir: &Path, text: &str) -> Result<Plan, ManifestError> {
        let lines = parse(text, "m", dir, &HashMap::new())?;
        let mut plan = Plan::default();
        plan.apply(&lines)?;
        Ok(plan)
    }

    fn scratch() -> tempfile::TempDir {
        tempfile::TempDir::new().expect("scratch dir")
    }

    #[test]
    fn later_lines_override_and_files_replace_directories() {
        let tmp = scratch();
        let dir = tmp.path();
        fs::create_dir_all(dir.join("t/sub")).expect("mkdir");
        fs::write(dir.join("t/sub/a"), b"a").expect("write");
        fs::write(dir.join("f"), b"f").expect("write");
        let plan = plan_of(dir, "/x/**: t/**\n/x/sub: f\n/y: f\n/y: ->z").expect("plan");
        let keys: Vec<&str> = plan.entries.keys().map(String::as_str).collect();
        assert_eq!(keys, ["/x", "/x/sub", "/y"]);
        assert!(matches!(plan.entries["/x/sub"].what, What::File { .. }));
        assert_eq!(
            plan.entries["/y"].what,
            What::Symlink { target: "z".into() }
        );
        assert_eq!(plan.origin(&plan.entries["/y"]).line, 4);
        // A later entry below a file turns the file back into a directory.
        let plan = plan_of(dir, "/y: f\n/y/z: f").expect("plan");
        let keys: Vec<&str> = plan.entries.keys().map(String::as_str).collect();
        assert_eq!(keys, ["/y/z"]);
    }

    #[test]
    fn hard_links_and_symlinks_in_trees() {
        let tmp = scratch();
        let dir = tmp.path();
        fs::create_dir_all(dir.join("t/.hidden")).expect("mkdir");
        fs::write(dir.join("t/b"), b"data").expect("write");
        fs::hard_link(dir.join("t/b"), dir.join("t/a")).expect("link");
        std::os::unix::fs::symlink("b", dir.join("t/s")).expect("symlink");
        fs::write(dir.join("t/.hidden/h"), b"h").expect("write");
        let plan = plan_of(dir, "/**: t/**").expect("plan");
        let groups = hard_link_groups(&plan);
        let What::File {
            link_key: Some(key),
            ..
        } = plan.entries["/b"].what
        else {
            panic!("not a file")
        };
        assert_eq!(groups[&key], "/a");
        assert!(matches!(plan.entries["/s"].what, What::File { .. }));
        assert!(plan.entries.contains_key("/.hidden/h"));
        let plan = plan_of(dir, "/**: !t/**").expect("plan");
        assert_eq!(
            plan.entries["/s"].what,
            What::Symlink { target: "b".into() }
        );
    }

    #[test]
    fn missing_and_looping_host_files() {
        let tmp = scratch();
        let dir = tmp.path();
        fs::create_dir_all(dir.join("loop")).expect("mkdir");
        std::os::unix::fs::symlink("..", dir.join("loop/up")).expect("symlink");
        let err = plan_of(dir, "# c\n/x: nope/x.so").expect_err("missing");
        assert_eq!(err.to_string(), "m:2: host file 'nope/x.so' not found");
        let err = plan_of(dir, "/l/**: loop/**").expect_err("loop");
        assert!(err.to_string().starts_with("m:1: host directory"), "{err}");
        assert!(
            err.to_string().ends_with("contains itself (symlink loop)"),
            "{err}"
        );
    }
}
