//! Turning manifest lines, `--dir` trees and tar layers into the final set
//! of guest entries.
//!
//! Manifest lines are applied here (host symlinks followed, or kept with
//! `!`, inside a `[root DIR]` when one is set); trees are walked by
//! [`crate::tree_walk`] (manifest `/**` lines), [`crate::dir_input`]
//! (`--dir`) and [`crate::tar_input`] (`--tar`). Later entries override
//! earlier ones for the same guest path. The result is sorted by guest path,
//! so the image does not depend on directory-listing order.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vfs::FileType;

use crate::manifest::{Attrs, Kind, Line, ManifestError, Origin};
use crate::root::HostRoot;
use crate::spill::SpillRef;
use crate::tree_walk::TreeWalk;

/// Where a regular file's bytes are read from while the image is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A host file.
    Host(PathBuf),
    /// A tar member's data, spilled to disk while the archive was read.
    Spill(SpillRef),
    /// A small tar member's data, kept in memory.
    Memory(Arc<Vec<u8>>),
}

/// What one guest path becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    Dir,
    /// A regular file. Entries with the same `link_key` (host device and
    /// inode, or a tar archive's own numbering) become one inode with
    /// several names: hard links stay hard links.
    File {
        source: Source,
        link_key: Option<(u64, u64)>,
    },
    Symlink {
        target: String,
    },
    /// A socket, fifo or device node (`rdev` for devices). Formats v1 and v2
    /// cannot store these: `build` refuses them, or skips them with
    /// `--skip-special`.
    Special {
        file_type: FileType,
        rdev: u64,
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
    /// Nanoseconds of `mtime` (host trees and tar members carry them).
    pub mtime_nsec: u32,
    /// Index into [`Plan::origins`].
    pub origin: usize,
}

/// All entries by normalised guest path.
#[derive(Debug, Default)]
pub struct Plan {
    pub entries: BTreeMap<String, Entry>,
    pub origins: Vec<Origin>,
    /// Set by `--root DIR` or a manifest `[root DIR]` line: followed host
    /// symlinks inside DIR resolve as if DIR were `/`.
    pub root: Option<HostRoot>,
}

impl Plan {
    pub fn origin(&self, entry: &Entry) -> &Origin {
        // Every entry's origin index was pushed before the entry.
        &self.origins[entry.origin]
    }

    /// Record where the next entries come from; returns its index.
    pub fn push_origin(&mut self, origin: Origin) -> usize {
        self.origins.push(origin);
        self.origins.len() - 1
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
        let origin = self.push_origin(Origin {
            file: "default mount point".to_string(),
            line: 0,
        });
        self.entries.insert(
            guest.to_string(),
            entry(What::Dir, &Attrs::default(), None, origin),
        );
    }

    fn apply_line(&mut self, line: &Line) -> Result<(), ManifestError> {
        let origin = self.push_origin(line.origin.clone());
        let err = |msg: String| ManifestError::new(&line.origin, msg);
        let attrs = line.attrs;
        match &line.kind {
            Kind::Root { host, shown } => {
                let root = HostRoot::new(host).map_err(|e| err(format!("[root {shown}]: {e}")))?;
                self.root = Some(root);
                Ok(())
            }
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
                let (what, meta) =
                    host_entry(self.root.as_ref(), host, shown, *keep_symlink).map_err(err)?;
                let host_mode = match &what {
                    What::File { .. } => Some(default_file_mode_of(&meta)),
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
                let host = match &self.root {
                    Some(root) if root.contains(host) => root
                        .resolve(host, true)
                        .map_err(|e| err(not_found(shown, &e)))?,
                    _ => host.clone(),
                };
                let meta = fs::metadata(&host).map_err(|e| err(not_found(shown, &e)))?;
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
                let walk = TreeWalk::new(origin, attrs, *keep_symlinks, self.root.clone());
                walk.run(self, &host, &meta, &line.guest).map_err(err)
            }
        }
    }

    /// Put `new` at `guest`, replacing what was there (later lines win).
    pub fn insert(&mut self, guest: &str, new: Entry) -> Result<(), String> {
        let is_dir = new.what == What::Dir;
        if guest == "/" && !is_dir {
            return Err("the root '/' can only be a directory".to_string());
        }
        // An entry under a path that an earlier manifest line made a file or
        // symlink is a mistake in the manifest: say which lines. (A `--dir`
        // tree or a tar layer may turn a lower layer's file into a
        // directory, as a layered root filesystem does.)
        let new_line = self.origins.get(new.origin).map_or(0, |o| o.line);
        let mut end = 0;
        while let Some(next) = guest[end + 1..].find('/') {
            end += 1 + next;
            let ancestor = &guest[..end];
            let Some(old) = self.entries.get(ancestor).filter(|e| e.what != What::Dir) else {
                continue;
            };
            let old_origin = self.origin(old);
            if new_line != 0 && old_origin.line != 0 {
                return Err(format!(
                    "'{guest}' is below '{ancestor}', which {old_origin} made a file, not a directory"
                ));
            }
            self.entries.remove(ancestor);
        }
        if !is_dir {
            self.remove_below(guest);
        }
        self.entries.insert(guest.to_string(), new);
        Ok(())
    }

    /// Drop every entry strictly below `guest` for which `doomed` is true
    /// (a file or symlink replacing a directory replaces its contents; a tar
    /// whiteout or opaque directory hides what lower layers put there).
    pub fn remove_below_if(&mut self, guest: &str, doomed: impl Fn(&Entry) -> bool) {
        let prefix = if guest == "/" {
            "/".to_string()
        } else {
            format!("{guest}/")
        };
        let keys: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, e)| k.as_str() != "/" && doomed(e))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.entries.remove(&key);
        }
    }

    fn remove_below(&mut self, guest: &str) {
        self.remove_below_if(guest, |_| true);
    }
}

/// An entry with manifest attributes over the writer's defaults.
pub fn entry(what: What, attrs: &Attrs, host_mode: Option<u32>, origin: usize) -> Entry {
    Entry {
        what,
        mode: attrs.mode.or(host_mode),
        uid: attrs.uid.unwrap_or(0),
        gid: attrs.gid.unwrap_or(0),
        mtime: attrs.mtime,
        mtime_nsec: 0,
        origin,
    }
}

/// Files get 0o755 when any execute bit is set on the host, else 0o644,
/// so the image does not depend on the builder's umask.
pub fn default_file_mode_of(meta: &Metadata) -> u32 {
    if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

pub fn not_found(shown: &str, error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::NotFound {
        format!("host file '{shown}' not found")
    } else {
        format!("host file '{shown}': {error}")
    }
}

/// What a single host path (not a tree) becomes, with the metadata it was
/// judged by. Inside `root`, every symlink on the way resolves chroot-style.
fn host_entry(
    root: Option<&HostRoot>,
    host: &Path,
    shown: &str,
    keep_symlink: bool,
) -> Result<(What, Metadata), String> {
    let root = root.filter(|r| r.contains(host));
    let host = match root {
        Some(root) => root
            .resolve(host, false)
            .map_err(|e| not_found(shown, &e))?,
        None => host.to_path_buf(),
    };
    let lmeta = fs::symlink_metadata(&host).map_err(|e| not_found(shown, &e))?;
    if !lmeta.file_type().is_symlink() {
        return Ok((kind_of(&lmeta, &host, shown)?, lmeta));
    }
    if keep_symlink {
        return Ok((symlink_entry(&host, shown)?, lmeta));
    }
    let dangling = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => format!("host file '{shown}' not found (dangling symlink)"),
        _ => format!("host file '{shown}': {e}"),
    };
    let target = match root {
        Some(root) => root.resolve(&host, true).map_err(dangling)?,
        None => host,
    };
    let meta = fs::metadata(&target).map_err(dangling)?;
    Ok((kind_of(&meta, &target, shown)?, meta))
}

/// A host symlink kept as a symlink.
pub fn symlink_entry(host: &Path, shown: &str) -> Result<What, String> {
    let target = fs::read_link(host).map_err(|e| format!("host symlink '{shown}': {e}"))?;
    let target = target
        .into_os_string()
        .into_string()
        .map_err(|_| format!("host symlink '{shown}' has a target that is not UTF-8"))?;
    crate::manifest::check_symlink_target(&target)
        .map_err(|e| format!("host symlink '{shown}': {e}"))?;
    Ok(What::Symlink { target })
}

fn kind_of(meta: &Metadata, host: &Path, shown: &str) -> Result<What, String> {
    if meta.is_dir() {
        Ok(What::Dir)
    } else if meta.is_file() {
        Ok(What::File {
            source: Source::Host(host.to_path_buf()),
            link_key: None,
        })
    } else {
        Err(format!(
            "host file '{shown}' is not a regular file, directory or symlink"
        ))
    }
}

/// Host hard links: for each (device, inode) of a tree file, its first guest
/// path in sorted order; the other names become hard links to it.
pub fn hard_link_groups(plan: &Plan) -> HashMap<(u64, u64), String> {
    let mut first = HashMap::new();
    for (guest, entry) in &plan.entries {
        if let What::File {
            link_key: Some(key),
            ..
        } = &entry.what
        {
            first.entry(*key).or_insert_with(|| guest.clone());
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
        // An entry below a file that a manifest line made is an error naming
        // both lines (issue 8.7), never a silent file-to-directory change.
        let err = plan_of(dir, "/y: f\n/y/z: f").expect_err("below a file");
        let text = err.to_string();
        assert!(text.contains("m:2"), "{text}");
        assert!(text.contains("m:1 made a file"), "{text}");
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
