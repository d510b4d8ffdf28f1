//! Taking mounts apart: umount (refused while a mount is in use, has
//! submounts or is a layer of a stacked mount) and pivot_root.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use crate::Vfs;
use crate::errno::{Errno, VfsResult};
use crate::layers::unpin_layers;
use crate::mount_table::{find_hidden, hidden_target};
use crate::tree::MountPoint;

impl Vfs {
    /// Unmount the filesystem mounted at `target` (a path, or `@name` for a
    /// hidden mount). EBUSY with open files or submounts, or while it is a
    /// layer of a stacked mount; unmounting a stacked mount releases its
    /// layers.
    pub fn umount(&self, target: &str) -> VfsResult<()> {
        let id = match hidden_target(target)? {
            Some(name) => {
                let tree = self.tree.read();
                find_hidden(&tree, name).ok_or(Errno::ENOENT)?.root
            }
            None => self.resolve(target, true)?.0,
        };
        // Namespace changes on this mount finish before it goes away (lock
        // order: ns_change before tree), so none can update a dropped cache.
        let changing = {
            let tree = self.tree.read();
            let record = tree
                .mounts
                .iter()
                .find(|m| m.root == id)
                .ok_or(Errno::EINVAL)?;
            record.shared.clone()
        };
        let _change = changing.ns_change.lock();
        let mut tree = self.tree.write();
        let d = tree.get(id)?;
        let mount_id = d.mount_id;
        let index = tree
            .mounts
            .iter()
            .position(|m| m.root == id && Arc::ptr_eq(&m.shared, &changing))
            .ok_or(Errno::EINVAL)?;
        if tree.root == Some(id) {
            return Err(Errno::EBUSY);
        }
        let has_submount = tree.mounts.iter().any(|m| {
            m.mountpoint
                .dentry()
                .and_then(|mp| tree.get(mp).ok())
                .is_some_and(|mp| mp.mount_id == mount_id)
        });
        let cwd_here = tree
            .cwd
            .and_then(|c| tree.get(c).ok())
            .is_some_and(|c| c.mount_id == mount_id);
        let record = tree.mounts.get(index).ok_or(Errno::EINVAL)?;
        if has_submount || cwd_here || record.layer_users > 0 {
            return Err(Errno::EBUSY);
        }
        let shared = record.shared.clone();
        // Paired with open(): it counts itself, then checks `detached`.
        if shared.open_files.load(Ordering::SeqCst) > 0 {
            return Err(Errno::EBUSY);
        }
        shared.detached.store(true, Ordering::SeqCst);
        if shared.open_files.load(Ordering::SeqCst) > 0 {
            shared.detached.store(false, Ordering::SeqCst);
            return Err(Errno::EBUSY);
        }
        let rec = tree.mounts.remove(index);
        if let Some(mp) = rec.mountpoint.dentry()
            && let Ok(m) = tree.get_mut(mp)
        {
            m.mounted = None;
        }
        tree.drop_subtree(rec.root);
        unpin_layers(&mut tree, &rec.layers);
        let last_of_fs = !tree
            .mounts
            .iter()
            .any(|m| Arc::ptr_eq(&m.shared.fs, &shared.fs));
        drop(tree);
        self.vnodes.forget_mount(mount_id);
        if last_of_fs {
            shared.fs.unmount()?;
        }
        Ok(())
    }

    /// Make the mount at `new_root` the root; the old root is moved to `put_old` (a directory under new_root).
    pub fn pivot_root(&self, new_root: &str, put_old: &str) -> VfsResult<()> {
        let (new, new_vnode) = self.resolve(new_root, true)?;
        let (old_dir, old_vnode) = self.resolve(put_old, true)?;
        if !new_vnode.is_dir() || !old_vnode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut tree = self.tree.write();
        let old_root = tree.root.ok_or(Errno::EINVAL)?;
        let new_index = tree
            .mounts
            .iter()
            .position(|m| m.root == new)
            .ok_or(Errno::EINVAL)?;
        let old_index = tree
            .mounts
            .iter()
            .position(|m| m.root == old_root)
            .ok_or(Errno::EINVAL)?;
        let old_root_mount = tree.get(old_root)?.mount_id;
        if new == old_root || tree.get(old_dir)?.mount_id == old_root_mount {
            return Err(Errno::EBUSY);
        }
        if !tree.is_ancestor_across_mounts(new, old_dir) {
            return Err(Errno::EINVAL);
        }
        if tree.get(old_dir)?.mounted.is_some() {
            return Err(Errno::EBUSY);
        }
        if let Some(mp) = tree.get(new)?.covers {
            tree.get_mut(mp)?.mounted = None;
        }
        tree.get_mut(new)?.covers = None;
        tree.get_mut(old_root)?.covers = Some(old_dir);
        tree.get_mut(old_dir)?.mounted = Some(old_root);
        if let Some(m) = tree.mounts.get_mut(new_index) {
            m.mountpoint = MountPoint::Root;
        }
        if let Some(m) = tree.mounts.get_mut(old_index) {
            m.mountpoint = MountPoint::On(old_dir);
        }
        tree.root = Some(new);
        if tree.cwd == Some(old_root) {
            tree.unpin(old_root);
            tree.pin(new);
            tree.cwd = Some(new);
        }
        Ok(())
    }
}
