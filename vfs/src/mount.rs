//! Making mounts: the type registry, constructing a filesystem from its
//! source (a device, a name, nothing, or layers) and attaching it to the
//! tree or, for a target `@name`, recording it as a hidden mount.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use spin::Mutex;

use crate::backend::FileSystem;
use crate::errno::{Errno, VfsResult};
use crate::fstype::{FsType, MountContext, MountSource};
use crate::layers::{LayerPins, has_layer_options};
use crate::mount_table::{find_hidden, hidden_target};
use crate::path::check_path;
use crate::tree::{MountPoint, MountRec};
use crate::types::FileType;
use crate::vnode::MountShared;
use crate::{MountFlags, Vfs};

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
    /// as [`MountSource::Named`] (a virtio-fs tag), or None / `"none"`.
    ///
    /// `target` is a directory, or `@name` (`[A-Za-z0-9_.-]+`) for a hidden mount: recorded
    /// in the mount table but reachable by no path, for use as a layer; EBUSY if that name
    /// is taken. The first mount attached to the tree must be on "/"; hidden mounts may come
    /// before it.
    ///
    /// The options `lowerdir=A[:B...]` (topmost first) and `upperdir=C`, each an absolute
    /// path to a directory or `@name`, are resolved here into [`MountSource::Layers`] and
    /// removed from the options the type sees; `workdir=` is accepted and dropped. The
    /// layers' mounts cannot be unmounted (EBUSY) while this mount exists. A missing layer
    /// is ENOENT, a non-directory ENOTDIR; a source other than `"none"` together with layer
    /// options, a layer option given twice, or layer options without `lowerdir=` are EINVAL.
    ///
    /// Wherever a mount target is expected (here, [`Vfs::umount`], [`Vfs::statfs`]), a word
    /// starting with `@` names a hidden mount; a directory of such a name is `./@name`.
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
            Some(_) if has_layer_options(options) => return Err(Errno::EINVAL),
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
    /// Targets and layer options as [`Vfs::mount`] (layer options need
    /// [`MountSource::None`]). An explicit [`MountSource::Layers`] is handed
    /// to the type as it is, and its mounts are not pinned.
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

    /// Why mounting `fs_type` from `source` with `options` fails: which
    /// layer option is wrong, else the type's words (see
    /// [`FsType::diagnose`]); None if it cannot say more.
    pub fn diagnose_mount(
        &self,
        source: &MountSource,
        fs_type: &str,
        options: &str,
    ) -> Option<String> {
        let ctor = self.constructor(fs_type).ok()?;
        let (source, options) = match self.layers_for_diagnosis(source, options) {
            Ok(prepared) => prepared,
            Err(line) => return Some(line),
        };
        ctor.diagnose(&MountContext::new(
            source,
            &options,
            self.clock.clone(),
            self.cache.clone(),
        ))
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
        let (source, type_options, pins) = self.prepare_layers(source, options)?;
        let ctx = MountContext::new(
            source,
            &type_options,
            self.clock.clone(),
            self.cache.clone(),
        );
        let fs = ctor.create(&ctx)?;
        self.attach(fs, &source_name, target, fs_type, flags, options, pins)
    }

    /// Mount an already-constructed filesystem on `target` (a directory or
    /// `@name`, as [`Vfs::mount`]). `options` are only recorded.
    pub fn mount_fs(
        &self,
        fs: Arc<dyn FileSystem>,
        source: &str,
        target: &str,
        flags: MountFlags,
        options: &str,
    ) -> VfsResult<()> {
        let fs_type = fs.fs_type();
        let pins = LayerPins::none(self);
        self.attach(fs, source, target, fs_type, flags, options, pins)
    }

    /// ENOENT/ENOTDIR for a target that cannot take a mount; for `@name`,
    /// EINVAL for a bad name and EBUSY for one in use.
    pub(crate) fn check_mount_target(&self, target: &str) -> VfsResult<()> {
        check_path(target)?;
        if let Some(name) = hidden_target(target)? {
            return match find_hidden(&self.tree.read(), name) {
                Some(_) => Err(Errno::EBUSY),
                None => Ok(()),
            };
        }
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

    /// Record `fs` as a mount on `target`; `pins` (its layers' mounts) go
    /// into its record, to be released when it is unmounted.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn attach(
        &self,
        fs: Arc<dyn FileSystem>,
        source: &str,
        target: &str,
        fs_type: &str,
        flags: MountFlags,
        options: &str,
        pins: LayerPins<'_>,
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
        let record = |root, mountpoint, layers| MountRec {
            shared: shared.clone(),
            root,
            mountpoint,
            source: String::from(source),
            fs_type: String::from(fs_type),
            flags,
            options: String::from(options),
            layer_users: 0,
            layers,
        };
        if let Some(name) = hidden_target(target)? {
            let mut tree = self.tree.write();
            if find_hidden(&tree, name).is_some() {
                return Err(Errno::EBUSY);
            }
            // A root dentry of its own, parent of nothing in the tree.
            let root = tree.new_root(root_vnode, None)?;
            let rec = record(root, MountPoint::Hidden(Box::from(name)), pins.take());
            tree.mounts.push(rec);
            return Ok(());
        }
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
                (root, MountPoint::Root)
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
                (root, MountPoint::On(mp))
            }
        };
        let rec = record(root, rec_mountpoint, pins.take());
        tree.mounts.push(rec);
        Ok(())
    }
}
