//! Mounting: the type registry, constructing a filesystem from its source,
//! attaching it to the tree, unmounting, pivot_root and the mount table.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use spin::Mutex;

use crate::backend::FileSystem;
use crate::errno::{Errno, VfsResult};
use crate::fstype::{FsType, MountContext, MountSource};
use crate::path::check_path;
use crate::tree::MountRec;
use crate::types::{FileType, StatFs};
use crate::vnode::MountShared;
use crate::{MountFlags, MountInfo, Vfs};

impl Vfs {
    /// Register a filesystem type under its name; EBUSY if the name is taken.
    pub fn register(&self, fs_type: Arc<dyn FsType>) -> VfsResult<()> {
        let mut registry = self.registry.write();
        if registry.iter().any(|t| t.name() == fs_type.name()) {
            return Err(Errno::EBUSY);
        }
        registry.push(fs_type);
        Ok(())
    }

    /// Mount a filesystem of type `fs_type` on `target`. `source` is a path to a block-device
    /// node (resolved through the VFS, e.g. "/dev/vblk0"), another word handed to the type
    /// as [`MountSource::Named`] (a virtio-fs tag), or None / `"none"`. The first mount must
    /// be on "/".
    pub fn mount(
        &self,
        source: Option<&str>,
        target: &str,
        fs_type: &str,
        flags: MountFlags,
        options: &str,
    ) -> VfsResult<()> {
        let ctor = self.constructor(fs_type)?;
        self.check_mount_target(target)?;
        let mount_source = match source {
            None | Some("none") => MountSource::None,
            Some(word) if !word.starts_with('/') => MountSource::Named(String::from(word)),
            Some(path) => {
                let (_, vnode) = self.resolve(path, true)?;
                match vnode.inode.block_device() {
                    Some(device) => MountSource::Device {
                        name: String::from(path),
                        device,
                    },
                    None => return Err(Errno::ENOTBLK),
                }
            }
        };
        self.construct_and_attach(ctor, mount_source, target, fs_type, flags, options)
    }

    /// Mount a registered type from an explicit source. For the boot root,
    /// whose device cannot be named by a path before anything is mounted.
    pub fn mount_source(
        &self,
        source: MountSource,
        target: &str,
        fs_type: &str,
        flags: MountFlags,
        options: &str,
    ) -> VfsResult<()> {
        let ctor = self.constructor(fs_type)?;
        self.check_mount_target(target)?;
        self.construct_and_attach(ctor, source, target, fs_type, flags, options)
    }

    /// Why mounting `fs_type` from `source` with `options` fails, in the
    /// type's words (see [`FsType::diagnose`]); None if it cannot say more.
    pub fn diagnose_mount(
        &self,
        source: &MountSource,
        fs_type: &str,
        options: &str,
    ) -> Option<String> {
        let ctx = MountContext::new(source.clone(), options, self.clock.clone());
        self.constructor(fs_type).ok()?.diagnose(&ctx)
    }

    /// The registered type named `fs_type`; ENODEV for an unknown type.
    pub(crate) fn constructor(&self, fs_type: &str) -> VfsResult<Arc<dyn FsType>> {
        self.registry
            .read()
            .iter()
            .find(|t| t.name() == fs_type)
            .cloned()
            .ok_or(Errno::ENODEV)
    }

    pub(crate) fn construct_and_attach(
        &self,
        ctor: Arc<dyn FsType>,
        source: MountSource,
        target: &str,
        fs_type: &str,
        flags: MountFlags,
        options: &str,
    ) -> VfsResult<()> {
        let source_name = source.describe();
        let ctx = MountContext::new(source, options, self.clock.clone());
        let fs = ctor.create(&ctx)?;
        self.attach(fs, &source_name, target, fs_type, flags, options)
    }

    /// Mount an already-constructed filesystem on `target`.
    pub fn mount_fs(
        &self,
        fs: Arc<dyn FileSystem>,
        source: &str,
        target: &str,
        flags: MountFlags,
        options: &str,
    ) -> VfsResult<()> {
        let fs_type = fs.fs_type();
        self.attach(fs, source, target, fs_type, flags, options)
    }

    /// ENOENT/ENOTDIR for a target that cannot take a mount.
    pub(crate) fn check_mount_target(&self, target: &str) -> VfsResult<()> {
        check_path(target)?;
        if self.tree.read().root.is_none() {
            return if target.bytes().all(|b| b == b'/') {
                Ok(())
            } else {
                Err(Errno::ENOENT)
            };
        }
        let (_, vnode) = self.resolve(target, true)?;
        if vnode.is_dir() {
            Ok(())
        } else {
            Err(Errno::ENOTDIR)
        }
    }

    pub(crate) fn attach(
        &self,
        fs: Arc<dyn FileSystem>,
        source: &str,
        target: &str,
        fs_type: &str,
        flags: MountFlags,
        options: &str,
    ) -> VfsResult<()> {
        self.check_mount_target(target)?;
        let root_inode = fs.root()?;
        if root_inode.file_type() != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let shared = Arc::new(MountShared {
            id: self.next_mount_id.fetch_add(1, Ordering::Relaxed),
            read_only: flags.contains(MountFlags::RDONLY) || fs.is_read_only(),
            fs,
            open_files: AtomicUsize::new(0),
            detached: AtomicBool::new(false),
            ns_change: Mutex::new(()),
        });
        let root_vnode = self.vnodes.get(&shared, root_inode);
        let mountpoint = if self.tree.read().root.is_some() {
            Some(self.resolve(target, true)?)
        } else {
            None
        };
        // The mount point's own mount: an rmdir there checks "not covered"
        // and removes under this lock, so it and this mount cannot interleave.
        let _change = mountpoint.as_ref().map(|(_, v)| v.mount.ns_change.lock());
        let mut tree = self.tree.write();
        let (root, rec_mountpoint) = match (mountpoint.as_ref().map(|(mp, _)| *mp), tree.root) {
            (None, None) => {
                let root = tree.new_root(root_vnode, None)?;
                tree.root = Some(root);
                tree.cwd = Some(root);
                tree.pin(root);
                (root, None)
            }
            (None, Some(_)) => return Err(Errno::EBUSY),
            // Path walks start at the root without crossing mounts on it (as
            // Linux), so such a mount could never be seen: use pivot_root.
            (Some(mp), Some(ns_root)) if mp == ns_root => return Err(Errno::EBUSY),
            (Some(mp), _) => {
                // Another mount may have landed here meanwhile: stack on it.
                let mp = tree.follow_mounts(mp);
                if !tree.get(mp)?.hashed {
                    return Err(Errno::ENOENT);
                }
                let root = tree.new_root(root_vnode, Some(mp))?;
                tree.get_mut(mp)?.mounted = Some(root);
                (root, Some(mp))
            }
        };
        tree.mounts.push(MountRec {
            shared,
            root,
            mountpoint: rec_mountpoint,
            source: String::from(source),
            fs_type: String::from(fs_type),
            flags,
            options: String::from(options),
        });
        Ok(())
    }

    /// Unmount the filesystem mounted at `target`. EBUSY with open files or submounts.
    pub fn umount(&self, target: &str) -> VfsResult<()> {
        let (id, _) = self.resolve(target, true)?;
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
                .and_then(|mp| tree.get(mp).ok())
                .is_some_and(|mp| mp.mount_id == mount_id)
        });
        let cwd_here = tree
            .cwd
            .and_then(|c| tree.get(c).ok())
            .is_some_and(|c| c.mount_id == mount_id);
        if has_submount || cwd_here {
            return Err(Errno::EBUSY);
        }
        let shared = tree.mounts.get(index).ok_or(Errno::EINVAL)?.shared.clone();
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
        if let Some(mp) = rec.mountpoint
            && let Ok(m) = tree.get_mut(mp)
        {
            m.mounted = None;
        }
        tree.drop_subtree(rec.root);
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
            m.mountpoint = None;
        }
        if let Some(m) = tree.mounts.get_mut(old_index) {
            m.mountpoint = Some(old_dir);
        }
        tree.root = Some(new);
        if tree.cwd == Some(old_root) {
            tree.unpin(old_root);
            tree.pin(new);
            tree.cwd = Some(new);
        }
        Ok(())
    }

    /// The mount table, in mount order.
    pub fn mounts(&self) -> Vec<MountInfo> {
        let tree = self.tree.read();
        tree.mounts
            .iter()
            .map(|m| MountInfo {
                source: m.source.clone(),
                target: match m.mountpoint {
                    Some(mp) => tree.path_of(mp).unwrap_or_default(),
                    None => String::from("/"),
                },
                fs_type: m.fs_type.clone(),
                flags: if m.shared.read_only {
                    m.flags | MountFlags::RDONLY
                } else {
                    m.flags
                },
                options: m.options.clone(),
                dev: m.shared.id,
            })
            .collect()
    }

    pub fn statfs(&self, path: &str) -> VfsResult<StatFs> {
        let (_, vnode) = self.resolve(path, true)?;
        vnode.mount.fs.statfs()
    }

    pub fn sync(&self) -> VfsResult<()> {
        let all: Vec<Arc<dyn FileSystem>> = self
            .tree
            .read()
            .mounts
            .iter()
            .map(|m| m.shared.fs.clone())
            .collect();
        let mut result = Ok(());
        for fs in all {
            if let Err(e) = fs.sync() {
                result = Err(e);
            }
        }
        result
    }
}
