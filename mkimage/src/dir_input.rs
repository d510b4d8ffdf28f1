//! `--dir DIR`: a faithful copy of a host tree at the guest root.
//!
//! Nothing is followed: symlinks stay symlinks (dangling ones and links to
//! directories included), files with the same device and inode stay one
//! inode with several names, empty directories stay, and each entry keeps
//! its host mode (all 12 permission bits), owner and modification time
//! (nanoseconds included), subject to `--all-root`, `--mtime` and
//! `--exclude` ([`InputPolicy`]). Sockets, fifos and device nodes are
//! collected with their kind and device number; [`crate::build`] refuses or
//! skips them, since formats v1 and v2 cannot store them.

use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use vfs::FileType;

use crate::manifest::{ManifestError, NAME_MAX, Origin};
use crate::plan::{self, Entry, Plan, Source, What};
use crate::policy::InputPolicy;
use crate::tree_walk::join_guest;

/// Add the whole host tree `dir` at `/`.
pub fn add_tree(plan: &mut Plan, dir: &Path, policy: &InputPolicy) -> Result<(), ManifestError> {
    let origin_info = Origin {
        file: format!("--dir {}", dir.display()),
        line: 0,
    };
    let origin = plan.push_origin(origin_info.clone());
    let err = |msg: String| ManifestError::new(&origin_info, msg);
    // The tree's top is followed when it is itself a symlink: it names the tree.
    let meta = fs::metadata(dir).map_err(|e| err(format!("'{}': {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(err(format!("'{}' is not a directory", dir.display())));
    }
    let walk = DirWalk { policy, origin };
    let root = walk.entry(What::Dir, &meta);
    plan.insert("/", root).map_err(err)?;
    walk.walk(plan, dir, "/", "").map_err(err)
}

struct DirWalk<'a> {
    policy: &'a InputPolicy,
    origin: usize,
}

impl DirWalk<'_> {
    fn walk(
        &self,
        plan: &mut Plan,
        host_dir: &Path,
        guest_dir: &str,
        rel_dir: &str,
    ) -> Result<(), String> {
        let shown = |p: &Path| p.display().to_string();
        let reader =
            fs::read_dir(host_dir).map_err(|e| format!("reading '{}': {e}", shown(host_dir)))?;
        for item in reader {
            let item = item.map_err(|e| format!("reading '{}': {e}", shown(host_dir)))?;
            let host = item.path();
            let name = item
                .file_name()
                .into_string()
                .map_err(|_| format!("host name '{}' is not valid UTF-8", shown(&host)))?;
            if name.len() > NAME_MAX {
                return Err(format!(
                    "host name '{}' is longer than {NAME_MAX} bytes",
                    shown(&host)
                ));
            }
            let rel = if rel_dir.is_empty() {
                name.clone()
            } else {
                format!("{rel_dir}/{name}")
            };
            if self.policy.excludes.matches(&rel) {
                continue;
            }
            let guest = join_guest(guest_dir, &name);
            // lstat: the entry itself, never what a symlink points at.
            let meta = fs::symlink_metadata(&host)
                .map_err(|e| format!("host file '{}': {e}", shown(&host)))?;
            let kind = meta.file_type();
            let what = if kind.is_dir() {
                What::Dir
            } else if kind.is_file() {
                // Only multiply-linked files need a key to find their other names.
                let link_key = (meta.nlink() > 1).then(|| (meta.dev(), meta.ino()));
                What::File {
                    source: Source::Host(host.clone()),
                    link_key,
                }
            } else if kind.is_symlink() {
                plan::symlink_entry(&host, &shown(&host))?
            } else {
                let file_type = if kind.is_fifo() {
                    FileType::Fifo
                } else if kind.is_socket() {
                    FileType::Socket
                } else if kind.is_char_device() {
                    FileType::CharDevice
                } else {
                    FileType::BlockDevice
                };
                What::Special {
                    file_type,
                    rdev: meta.rdev(),
                }
            };
            let is_dir = what == What::Dir;
            plan.insert(&guest, self.entry(what, &meta))?;
            if is_dir {
                self.walk(plan, &host, &guest, &rel)?;
            }
        }
        Ok(())
    }

    /// An entry with the host's own attributes, as the policy allows.
    fn entry(&self, what: What, meta: &Metadata) -> Entry {
        let (uid, gid) = self.policy.owner(meta.uid(), meta.gid());
        let nsec = u32::try_from(meta.mtime_nsec()).unwrap_or(0);
        let (mtime, mtime_nsec) = self.policy.time(meta.mtime(), nsec);
        Entry {
            what,
            mode: Some(meta.mode() & 0o7777),
            uid,
            gid,
            mtime: Some(mtime),
            mtime_nsec,
            origin: self.origin,
        }
    }
}
