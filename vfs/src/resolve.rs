//! Path resolution: walking a path through the dentry cache (asking the
//! backend only on a miss), the parent-and-last-name split that namespace
//! changes start from, and the working directory.

use alloc::string::String;
use alloc::sync::Arc;

use crate::Vfs;
use crate::errno::{Errno, VfsResult};
use crate::path::{Last, MAX_SYMLINKS, Split, check_name, check_path, split_last};
use crate::tree::DentryId;
use crate::types::FileType;
use crate::vnode::Vnode;

/// A positive resolution result: the dentry and its vnode.
pub(crate) type Resolved = (DentryId, Arc<Vnode>);

/// A name looked up in a directory: the dentry in that directory, whether a
/// mount covers it, and its vnode (None if the name does not exist).
pub(crate) struct Child {
    pub dentry: DentryId,
    pub covered: bool,
    pub vnode: Option<Arc<Vnode>>,
}

impl Vfs {
    /// Resolve `path` from `base` (None: the cwd). Symlinks are followed
    /// mid-path; the final one only if `follow_final` or a trailing slash.
    pub(crate) fn walk(
        &self,
        base: Option<DentryId>,
        path: &str,
        follow_final: bool,
        links: &mut u32,
    ) -> VfsResult<Resolved> {
        let mut tree = self.tree.read();
        let root = tree.root.ok_or(Errno::ENOENT)?;
        let mut cur_id = if path.starts_with('/') {
            root
        } else {
            match base {
                Some(b) => b,
                None => tree.cwd.ok_or(Errno::ENOENT)?,
            }
        };
        let mut cur = tree.get(cur_id)?;
        // The vnode of the last child looked up while the lock was dropped.
        let mut _hold: Option<Arc<Vnode>> = None;
        // Components end where the trailing slashes begin.
        let end = path.trim_end_matches('/').len();
        let must_be_dir = end < path.len();
        let bytes = path.as_bytes();
        let mut i = 0;
        while i < end {
            if bytes.get(i) == Some(&b'/') {
                i += 1;
                continue;
            }
            let start = i;
            while i < end && bytes.get(i).is_some_and(|&b| b != b'/') {
                i += 1;
            }
            let name = path.get(start..i).ok_or(Errno::EINVAL)?;
            let is_last = i >= end;
            match cur.file_type {
                Some(FileType::Directory) => {}
                Some(_) => return Err(Errno::ENOTDIR),
                None => return Err(Errno::ENOENT),
            }
            check_name(name)?;
            if name == "." {
                continue;
            }
            if name == ".." {
                cur_id = tree.dotdot(cur_id, root)?;
                cur = tree.get(cur_id)?;
                continue;
            }
            let mut child_id = match cur.children.get(name) {
                Some(c) => c,
                None => {
                    // While the lock is dropped, our references keep the
                    // directory and the new child from being evicted.
                    let _dir_hold = cur.vnode.clone();
                    drop(tree);
                    let (c, child_hold) = self.lookup_slow(cur_id, name)?;
                    tree = self.tree.read();
                    _hold = child_hold;
                    c
                }
            };
            let mut child = tree.get(child_id)?;
            while let Some(top) = child.mounted {
                child_id = top;
                child = tree.get(top)?;
            }
            let file_type = child.file_type.ok_or(Errno::ENOENT)?;
            if file_type == FileType::Symlink && (!is_last || follow_final || must_be_dir) {
                let vnode = child.vnode.clone().ok_or(Errno::ENOENT)?;
                let _dir_hold = tree.get(cur_id)?.vnode.clone();
                drop(tree);
                if *links == 0 {
                    return Err(Errno::ELOOP);
                }
                *links -= 1;
                let target = vnode.link_target()?;
                // A backend's target is data: hold it to the rules of a path.
                check_path(target)?;
                let (t, _) = self.walk(Some(cur_id), target, true, links)?;
                tree = self.tree.read();
                cur_id = t;
                cur = tree.get(cur_id)?;
                continue;
            }
            cur_id = child_id;
            cur = child;
        }
        let vnode = cur.vnode.as_ref().ok_or(Errno::ENOENT)?;
        if must_be_dir && !vnode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok((cur_id, vnode.clone()))
    }

    /// Resolve a whole user path.
    pub(crate) fn resolve(&self, path: &str, follow: bool) -> VfsResult<Resolved> {
        check_path(path)?;
        let mut links = MAX_SYMLINKS;
        self.walk(None, path, follow, &mut links)
    }

    /// Resolve the directory part of `path` and split off its final component.
    pub(crate) fn resolve_parent<'p>(
        &self,
        base: Option<DentryId>,
        path: &'p str,
        links: &mut u32,
    ) -> VfsResult<(DentryId, Arc<Vnode>, Split<'p>)> {
        let split = split_last(path);
        let (dir, vnode) = self.walk(base, split.dir, true, links)?;
        if !vnode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if let Last::Name(name) = split.last {
            check_name(name)?;
        }
        Ok((dir, vnode, split))
    }

    /// Ask the backend for `name` in directory `dir` and cache the answer.
    /// Returns the (possibly negative) dentry and its vnode: while the
    /// caller holds that, the bounded dentry cache cannot evict the child.
    pub(crate) fn lookup_slow(
        &self,
        dir: DentryId,
        name: &str,
    ) -> VfsResult<(DentryId, Option<Arc<Vnode>>)> {
        loop {
            let (dir_vnode, version) = {
                let tree = self.tree.read();
                let d = tree.get(dir)?;
                if let Some(c) = d.children.get(name) {
                    return Ok((c, tree.get(c)?.vnode.clone()));
                }
                if !d.hashed {
                    return Err(Errno::ENOENT);
                }
                (d.vnode.clone().ok_or(Errno::ENOENT)?, d.version)
            };
            let vnode = match dir_vnode.inode.lookup(name) {
                Ok(inode) => Some(self.vnodes.get(&dir_vnode.mount, inode)),
                Err(Errno::ENOENT) => None,
                Err(e) => return Err(e),
            };
            let mut tree = self.tree.write();
            let d = tree.get(dir)?;
            if let Some(c) = d.children.get(name) {
                return Ok((c, tree.get(c)?.vnode.clone()));
            }
            if !d.hashed {
                return Err(Errno::ENOENT);
            }
            if d.version == version {
                let held = vnode.clone();
                return Ok((tree.insert(dir, name, vnode)?, held));
            }
            // The directory changed while we asked: ask again.
        }
    }

    /// Look up `name` in directory `dir` (cached or from the backend).
    pub(crate) fn lookup_child(&self, dir: DentryId, name: &str) -> VfsResult<Child> {
        let cached = self.tree.read().get(dir)?.children.get(name);
        let (dentry, _hold) = match cached {
            Some(c) => (c, None),
            None => self.lookup_slow(dir, name)?,
        };
        let tree = self.tree.read();
        let d = tree.get(dentry)?;
        Ok(Child {
            dentry,
            covered: d.mounted.is_some(),
            vnode: d.vnode.clone(),
        })
    }

    /// ENOENT if `dir` has been removed (creating in a deleted directory).
    pub(crate) fn check_live(&self, dir: DentryId) -> VfsResult<()> {
        if self.tree.read().get(dir)?.hashed {
            Ok(())
        } else {
            Err(Errno::ENOENT)
        }
    }

    pub fn chdir(&self, path: &str) -> VfsResult<()> {
        let (id, vnode) = self.resolve(path, true)?;
        if !vnode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut tree = self.tree.write();
        tree.get(id)?;
        if let Some(old) = tree.cwd.replace(id) {
            tree.unpin(old);
        }
        tree.pin(id);
        Ok(())
    }

    pub fn getcwd(&self) -> VfsResult<String> {
        let tree = self.tree.read();
        let cwd = tree.cwd.ok_or(Errno::ENOENT)?;
        tree.path_of(cwd)
    }
}
