//! The walk of one manifest `/**` line (OSv's meaning: host symlinks are
//! followed unless the line has `!`).
//!
//! Following links can reach one host directory through many paths. Each
//! directory is walked once per line: a second arrival (through a symlink,
//! not a loop) is stored as a symlink to the guest path of its first copy, so
//! a symlink DAG cannot make the walk, or the image, exponential (a directory
//! that contains itself is still an error). Inside a `[root DIR]`, followed
//! links resolve chroot-style ([`crate::root`]).

use std::collections::{HashMap, HashSet};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::manifest::{Attrs, NAME_MAX};
use crate::plan::{self, Plan, Source, What, entry};
use crate::root::HostRoot;

/// Walk state for one `/**` line.
pub struct TreeWalk {
    origin: usize,
    attrs: Attrs,
    keep_symlinks: bool,
    root: Option<HostRoot>,
    /// Directories on the current path (a second visit is a loop).
    ancestors: HashSet<(u64, u64)>,
    /// Every directory walked so far, with the guest path it went to.
    walked: HashMap<(u64, u64), String>,
}

impl TreeWalk {
    pub fn new(origin: usize, attrs: Attrs, keep_symlinks: bool, root: Option<HostRoot>) -> Self {
        TreeWalk {
            origin,
            attrs,
            keep_symlinks,
            root,
            ancestors: HashSet::new(),
            walked: HashMap::new(),
        }
    }

    /// Walk the host directory `host` (already resolved; `meta` is its
    /// metadata) into `guest`.
    pub fn run(
        mut self,
        plan: &mut Plan,
        host: &Path,
        meta: &Metadata,
        guest: &str,
    ) -> Result<(), String> {
        let key = (meta.dev(), meta.ino());
        self.ancestors.insert(key);
        self.walked.insert(key, guest.to_string());
        self.walk(plan, host, guest)
    }

    fn walk(&mut self, plan: &mut Plan, host_dir: &Path, guest_dir: &str) -> Result<(), String> {
        let reader =
            fs::read_dir(host_dir).map_err(|e| format!("reading '{}': {e}", host_dir.display()))?;
        // Sorted, so that which name of a hard-linked file comes first, and
        // which copy of a directory reached twice is the real one, does not
        // depend on the host's directory order.
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
            let guest = join_guest(guest_dir, &name);
            self.walk_entry(plan, host, &guest)?;
        }
        Ok(())
    }

    fn walk_entry(&mut self, plan: &mut Plan, host: PathBuf, guest: &str) -> Result<(), String> {
        let lmeta = fs::symlink_metadata(&host)
            .map_err(|e| format!("host file '{}': {e}", host.display()))?;
        let followed = lmeta.file_type().is_symlink();
        let (host, meta) = if followed {
            if self.keep_symlinks {
                let what = plan::symlink_entry(&host, &host.display().to_string())?;
                return plan.insert(guest, entry(what, &self.attrs_no_mode(), None, self.origin));
            }
            self.follow(&host)?
        } else {
            (host, lmeta)
        };
        if meta.is_dir() {
            let key = (meta.dev(), meta.ino());
            if self.ancestors.contains(&key) {
                return Err(format!(
                    "host directory '{}' contains itself (symlink loop)",
                    host.display()
                ));
            }
            if let Some(first) = self.walked.get(&key) {
                let target = relative_target(guest, first);
                let what = What::Symlink { target };
                return plan.insert(guest, entry(what, &self.attrs_no_mode(), None, self.origin));
            }
            self.walked.insert(key, guest.to_string());
            plan.insert(
                guest,
                entry(What::Dir, &self.attrs_no_mode(), None, self.origin),
            )?;
            self.ancestors.insert(key);
            self.walk(plan, &host, guest)?;
            self.ancestors.remove(&key);
        } else if meta.is_file() {
            // Only real hard links share an inode; a followed symlink is a
            // copy (content deduplication still shares its data).
            let link_key = (!followed).then(|| (meta.dev(), meta.ino()));
            let mode = plan::default_file_mode_of(&meta);
            let what = What::File {
                source: Source::Host(host),
                link_key,
            };
            plan.insert(guest, entry(what, &self.attrs, Some(mode), self.origin))?;
        } else {
            eprintln!(
                "mkimage: warning: skipping '{}': not a regular file, directory or symlink",
                host.display()
            );
        }
        Ok(())
    }

    /// Where the symlink `host` leads (chroot-style inside the root), and
    /// that object's metadata.
    fn follow(&self, host: &Path) -> Result<(PathBuf, Metadata), String> {
        let dangling = |e: io::Error| match e.kind() {
            io::ErrorKind::NotFound => {
                format!(
                    "host file '{}' not found (dangling symlink)",
                    host.display()
                )
            }
            _ => format!("host file '{}': {e}", host.display()),
        };
        let target = match &self.root {
            Some(root) if root.contains(host) => root.resolve(host, true).map_err(dangling)?,
            _ => host.to_path_buf(),
        };
        let meta = fs::metadata(&target).map_err(dangling)?;
        Ok((target, meta))
    }

    /// A tree line's `mode=` applies to its files only.
    fn attrs_no_mode(&self) -> Attrs {
        Attrs {
            mode: None,
            ..self.attrs
        }
    }
}

pub fn join_guest(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The relative symlink target that leads from the link at `link` to the
/// absolute guest path `to` (`/a/b/c` to `/a/x` is `../x`).
pub fn relative_target(link: &str, to: &str) -> String {
    let from: Vec<&str> = link.split('/').filter(|s| !s.is_empty()).collect();
    let from = &from[..from.len().saturating_sub(1)];
    let to: Vec<&str> = to.split('/').filter(|s| !s.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend_from_slice(&to[common..]);
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_targets() {
        assert_eq!(relative_target("/a/b/c", "/a/x"), "../x");
        assert_eq!(relative_target("/lib64", "/lib"), "lib");
        assert_eq!(relative_target("/a/b", "/a"), ".");
        assert_eq!(relative_target("/x/y/z", "/p/q"), "../../p/q");
    }
}
