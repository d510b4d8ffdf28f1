//! Namespace changes: creating, linking, removing and renaming names, each
//! checked in Linux's order and applied to the dentry cache under the
//! mount's `ns_change` lock.

use alloc::sync::Arc;

use spin::MutexGuard;

use crate::Vfs;
use crate::backend::Inode;
use crate::errno::{Errno, VfsResult};
use crate::path::{Last, MAX_SYMLINKS, check_path};
use crate::tree::DentryId;
use crate::types::{FileType, S_IFMT, S_IPERM};
use crate::vnode::Vnode;

impl Vfs {
    /// Start a namespace change in directory `dir`: lock its mount's
    /// `ns_change` and check (under it) that `dir` was not removed meanwhile.
    /// Hold the guard until the dentry cache shows the change.
    pub(crate) fn begin_change<'v>(
        &self,
        dir: DentryId,
        dir_vnode: &'v Vnode,
    ) -> VfsResult<MutexGuard<'v, ()>> {
        let guard = dir_vnode.mount.ns_change.lock();
        self.check_live(dir)?;
        Ok(guard)
    }

    /// Cache a name just created in `dir` (under `ns_change`).
    pub(crate) fn cache_created(
        &self,
        dir: DentryId,
        name: &str,
        vnode: Arc<Vnode>,
    ) -> VfsResult<DentryId> {
        let mut tree = self.tree.write();
        // A lookup between the backend call and now may have cached the new
        // name already: keep that dentry (someone may stand in it).
        if let Some(c) = tree.get(dir)?.children.get(name)
            && tree
                .get(c)?
                .vnode
                .as_ref()
                .is_some_and(|v| Arc::ptr_eq(v, &vnode))
        {
            return Ok(c);
        }
        tree.insert(dir, name, Some(vnode))
    }

    /// Drop a name just removed from `dir`.
    pub(crate) fn uncache(&self, dir: DentryId, name: &str) {
        let _ = self.tree.write().remove_child(dir, name);
    }

    /// Forget the vnode of a removed name when no other link keeps the inode.
    pub(crate) fn forget_if_unlinked(&self, vnode: &Arc<Vnode>) {
        let gone = vnode.is_dir() || vnode.inode.getattr().map_or(true, |s| s.nlink == 0);
        if gone {
            self.vnodes.forget(vnode);
        }
    }

    pub fn mkdir(&self, path: &str, mode: u32) -> VfsResult<()> {
        self.create_entry(path, true, |dir_vnode, name| {
            let inode = dir_vnode.inode.mkdir(name, mode & S_IPERM)?;
            Ok(self.vnodes.get(&dir_vnode.mount, inode))
        })
    }

    pub fn rmdir(&self, path: &str) -> VfsResult<()> {
        check_path(path)?;
        let mut links = MAX_SYMLINKS;
        let (dir, dir_vnode, split) = self.resolve_parent(None, path, &mut links)?;
        let name = match split.last {
            Last::Name(n) => n,
            Last::Dot => return Err(Errno::EINVAL),
            Last::DotDot => return Err(Errno::ENOTEMPTY),
            Last::Root => return Err(Errno::EBUSY),
        };
        self.remove_entry(
            dir,
            &dir_vnode,
            name,
            |vnode| {
                if vnode.is_dir() {
                    Ok(())
                } else {
                    Err(Errno::ENOTDIR)
                }
            },
            |parent| parent.rmdir(name),
        )
    }

    pub fn unlink(&self, path: &str) -> VfsResult<()> {
        check_path(path)?;
        let mut links = MAX_SYMLINKS;
        let (dir, dir_vnode, split) = self.resolve_parent(None, path, &mut links)?;
        let Last::Name(name) = split.last else {
            return Err(Errno::EISDIR);
        };
        self.remove_entry(
            dir,
            &dir_vnode,
            name,
            |vnode| {
                if vnode.is_dir() {
                    Err(Errno::EISDIR)
                } else if split.trailing_slash {
                    Err(Errno::ENOTDIR)
                } else {
                    Ok(())
                }
            },
            |parent| parent.unlink(name),
        )
    }

    /// The shared tail of rmdir and unlink, in Linux's order: EROFS, then
    /// (under the mount's `ns_change`) ENOENT, the caller's type check, EBUSY
    /// for a mount point; then the backend call and the cache update.
    pub(crate) fn remove_entry(
        &self,
        dir: DentryId,
        dir_vnode: &Vnode,
        name: &str,
        type_check: impl FnOnce(&Vnode) -> VfsResult<()>,
        remove: impl FnOnce(&dyn Inode) -> VfsResult<()>,
    ) -> VfsResult<()> {
        if dir_vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        let _change = self.begin_change(dir, dir_vnode)?;
        let child = self.lookup_child(dir, name)?;
        let vnode = child.vnode.ok_or(Errno::ENOENT)?;
        type_check(&vnode)?;
        if child.covered {
            return Err(Errno::EBUSY);
        }
        remove(dir_vnode.inode.as_ref())?;
        self.uncache(dir, name);
        self.forget_if_unlinked(&vnode);
        Ok(())
    }

    /// Create the final name of `path` with `make` (given the directory's
    /// vnode and the name; it calls the backend) and cache it. Checks in
    /// Linux's order: EEXIST if taken, ENOENT for a trailing slash (unless
    /// `dir_ok`, as mkdir), EROFS on a read-only mount, ENOENT if the
    /// directory has been removed; `make` runs under the mount's `ns_change`.
    pub(crate) fn create_entry(
        &self,
        path: &str,
        dir_ok: bool,
        make: impl FnOnce(&Arc<Vnode>, &str) -> VfsResult<Arc<Vnode>>,
    ) -> VfsResult<()> {
        check_path(path)?;
        let mut links = MAX_SYMLINKS;
        let (dir, dir_vnode, split) = self.resolve_parent(None, path, &mut links)?;
        let Last::Name(name) = split.last else {
            return Err(Errno::EEXIST);
        };
        if self.lookup_child(dir, name)?.vnode.is_some() {
            return Err(Errno::EEXIST);
        }
        if split.trailing_slash && !dir_ok {
            return Err(Errno::ENOENT);
        }
        if dir_vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        let _change = self.begin_change(dir, &dir_vnode)?;
        let vnode = make(&dir_vnode, name)?;
        self.cache_created(dir, name, vnode)?;
        Ok(())
    }

    pub fn link(&self, old: &str, new: &str) -> VfsResult<()> {
        let (_, old_vnode) = self.resolve(old, false)?;
        self.create_entry(new, false, |dir_vnode, name| {
            if old_vnode.mount.id != dir_vnode.mount.id {
                return Err(Errno::EXDEV);
            }
            if old_vnode.is_dir() {
                return Err(Errno::EPERM);
            }
            // As Linux: no new name for an inode whose last name went away
            // since it was resolved (unlinks wait for `ns_change`, held here).
            if old_vnode.inode.getattr()?.nlink == 0 {
                return Err(Errno::ENOENT);
            }
            dir_vnode.inode.link(name, &old_vnode.inode)?;
            Ok(old_vnode.clone())
        })
    }

    pub fn symlink(&self, target: &str, link_path: &str) -> VfsResult<()> {
        check_path(target)?;
        self.create_entry(link_path, false, |dir_vnode, name| {
            let inode = dir_vnode.inode.symlink(name, target)?;
            Ok(self.vnodes.get(&dir_vnode.mount, inode))
        })
    }

    /// Create a regular file, device node, fifo or socket (type from `mode`;
    /// no type bits means a regular file). EPERM for a directory type, as
    /// Linux; EINVAL for a symlink or unknown type.
    pub fn mknod(&self, path: &str, mode: u32, rdev: u64) -> VfsResult<()> {
        let file_type = match mode & S_IFMT {
            0 => FileType::Regular,
            bits => match FileType::from_mode(bits) {
                Some(FileType::Directory) => return Err(Errno::EPERM),
                Some(FileType::Symlink) | None => return Err(Errno::EINVAL),
                Some(t) => t,
            },
        };
        self.create_entry(path, false, |dir_vnode, name| {
            let inode =
                dir_vnode
                    .inode
                    .create(name, file_type.mode_bits() | (mode & S_IPERM), rdev)?;
            Ok(self.vnodes.get(&dir_vnode.mount, inode))
        })
    }

    pub fn rename(&self, old: &str, new: &str) -> VfsResult<()> {
        check_path(old)?;
        check_path(new)?;
        let mut links = MAX_SYMLINKS;
        let (old_dir, old_dir_vnode, old_split) = self.resolve_parent(None, old, &mut links)?;
        let mut links = MAX_SYMLINKS;
        let (new_dir, new_dir_vnode, new_split) = self.resolve_parent(None, new, &mut links)?;
        let (Last::Name(old_name), Last::Name(new_name)) = (old_split.last, new_split.last) else {
            return Err(Errno::EBUSY);
        };
        if old_dir_vnode.mount.id != new_dir_vnode.mount.id {
            return Err(Errno::EXDEV);
        }
        if old_dir_vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        // Both directories are on this mount (EXDEV above). As Linux, a
        // removed directory on either side answers ENOENT before anything else.
        let _change = self.begin_change(old_dir, &old_dir_vnode)?;
        self.check_live(new_dir)?;
        let source = self.lookup_child(old_dir, old_name)?;
        let old_vnode = source.vnode.ok_or(Errno::ENOENT)?;
        if !old_vnode.is_dir() && (old_split.trailing_slash || new_split.trailing_slash) {
            return Err(Errno::ENOTDIR);
        }
        if old_vnode.is_dir() && self.tree.read().is_ancestor(source.dentry, new_dir) {
            return Err(Errno::EINVAL);
        }
        let dest = self.lookup_child(new_dir, new_name)?;
        if let Some(new_vnode) = &dest.vnode {
            if self.tree.read().is_ancestor(dest.dentry, old_dir) {
                return Err(Errno::ENOTEMPTY);
            }
            if Arc::ptr_eq(new_vnode, &old_vnode) || new_vnode.ino == old_vnode.ino {
                return Ok(());
            }
            match (old_vnode.is_dir(), new_vnode.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                _ => {}
            }
        }
        if source.covered || dest.covered {
            return Err(Errno::EBUSY);
        }
        old_dir_vnode
            .inode
            .rename(old_name, &new_dir_vnode.inode, new_name)?;
        let _ = self
            .tree
            .write()
            .move_child(old_dir, old_name, new_dir, new_name);
        if let Some(replaced) = &dest.vnode {
            self.forget_if_unlinked(replaced);
        }
        Ok(())
    }
}
