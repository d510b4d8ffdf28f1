//! The VFS core of the unikernel filesystem subsystem.
//!
//! `no_std` + `alloc`. It owns the mount, dentry, vnode and open-file tables,
//! resolves paths, and offers a POSIX-like API on a [`Vfs`] value (no hidden
//! globals: the kernel owns one, tests make their own). Filesystems plug in
//! through the traits in [`backend`].
//!
//! # Structure
//! - `tree`: the namespace, i.e. the dentry cache (a slab of dentries, each
//!   directory mapping child names to ids, with negative entries) and the
//!   mount table, under one reader-writer lock.
//! - `vnode`: the vnode table keyed by (mount id, inode number), so hard
//!   links share one vnode.
//! - `file`: the descriptor table; an open file holds its vnode, offset and
//!   flags.
//! - `path`: allocation-free path splitting and syntax checks.
//!
//! # Cache bounds
//! Positive dentries live as long as their names do (unlink, rmdir, rename
//! and umount drop them), so the cache grows with the files a program
//! touches, never beyond the filesystems' own size. Negative dentries are
//! capped (the oldest go first).
//!
//! # Locks and their order
//! All locks are `spin` locks. Taken in this order, never the reverse:
//! `registry` → a mount's `ns_change` → `tree` → `vnodes` → `files` → an open
//! file's `dir_pos`.
//!
//! `ns_change` (one per mount) serialises the namespace changes on a mount:
//! create, mkdir, symlink, mknod, link, unlink, rmdir and rename take it
//! before their last checks (the directory is still live; for removals and
//! rename also the lookups of the names involved) and hold it across the
//! backend call until the dentry cache shows the change; `mount` holds it
//! while it attaches to a dentry of that mount, and `umount` holds the
//! unmounted mount's own while it drops its dentries. Without it the cache could
//! apply two changes in another order than the backend did (a directory that
//! one thread just removed, cached again by the `mkdir` that created it).
//! Only namespace changes on the same mount ever wait for it; path lookups
//! never take it.
//!
//! Apart from `ns_change`, no two are held together except `tree` with
//! nothing else: the warm path of `stat` takes the `tree` read lock once for
//! the whole walk, clones the final vnode and calls `getattr` unlocked. No
//! other VFS lock is held across a backend call that does I/O (`lookup`,
//! `read_at`, `write_at`, `readdir`, ...): lookups drop the tree lock, ask
//! the backend, and insert the answer only if the directory's version did not
//! change meanwhile (a removal or rename bumps it after its backend call; a
//! create inserts its entry, which a lookup checks for before inserting);
//! reads and writes clone the open file out of the descriptor table first.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod backend;
pub mod errno;
mod file;
pub mod fstype;
pub mod path;
mod tree;
pub mod types;
mod vnode;

#[cfg(test)]
mod testfs;
#[cfg(test)]
mod tests;

pub use backend::*;
pub use errno::{Errno, VfsResult};
pub use fstype::*;
pub use types::*;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use spin::{Mutex, MutexGuard, RwLock};

use file::{DirPos, FdTable, OpenFile};
use path::{Last, MAX_SYMLINKS, Split, check_name, check_path, split_last};
use tree::{DentryId, MountRec, Tree};
use vnode::{MountShared, Vnode, VnodeTable, is_detached};

/// A file descriptor. Negative or unknown values give EBADF.
pub type Fd = i32;

/// Open descriptors allowed by [`Vfs::new`]; past it, EMFILE.
pub const DEFAULT_MAX_FDS: usize = 1024;

bitflags::bitflags! {
    /// Flags for [`Vfs::open`], with Linux's values.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct OpenFlags: u32 {
        const O_RDONLY = 0;
        const O_WRONLY = 0o1;
        const O_RDWR = 0o2;
        const O_CREAT = 0o100;
        const O_EXCL = 0o200;
        const O_TRUNC = 0o1000;
        const O_APPEND = 0o2000;
        const O_DIRECTORY = 0o200000;
        const O_NOFOLLOW = 0o400000;
    }
}

bitflags::bitflags! {
    /// Flags for [`Vfs::mount`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct MountFlags: u32 {
        const RDONLY = 1;
    }
}

/// Where [`Vfs::lseek`] counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whence {
    Set,
    Cur,
    End,
}

/// One row of the mount table, for `mount` and `df`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// The source given at mount time ("/dev/vblk0", or "none").
    pub source: String,
    /// Absolute path of the mount point.
    pub target: String,
    pub fs_type: String,
    pub flags: MountFlags,
    pub options: String,
    /// Device id reported in `Stat::dev` for files on this mount.
    pub dev: u64,
}

/// Largest file offset (Linux's `loff_t` is signed).
const MAX_OFFSET: u64 = i64::MAX as u64;

/// A positive resolution result: the dentry and its vnode.
type Resolved = (DentryId, Arc<Vnode>);

/// A name looked up in a directory: the dentry in that directory, whether a
/// mount covers it, and its vnode (None if the name does not exist).
struct Child {
    dentry: DentryId,
    covered: bool,
    vnode: Option<Arc<Vnode>>,
}

/// The virtual filesystem: one namespace of mounts and one table of open files.
pub struct Vfs {
    clock: Arc<dyn Clock>,
    registry: RwLock<Vec<Arc<dyn FsType>>>,
    tree: RwLock<Tree>,
    vnodes: VnodeTable,
    files: Mutex<FdTable>,
    next_mount_id: AtomicU64,
}

// The kernel shares one Vfs between CPUs.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Vfs>();
};

impl Vfs {
    /// A VFS with nothing mounted. Files created through it take their times from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Vfs {
        Vfs::with_max_fds(clock, DEFAULT_MAX_FDS)
    }

    /// Like [`Vfs::new`] with a different descriptor limit.
    pub fn with_max_fds(clock: Arc<dyn Clock>, max_fds: usize) -> Vfs {
        Vfs {
            clock,
            registry: RwLock::new(Vec::new()),
            tree: RwLock::new(Tree::new()),
            vnodes: VnodeTable::new(),
            files: Mutex::new(FdTable::new(max_fds)),
            next_mount_id: AtomicU64::new(1),
        }
    }

    /// The clock handed to filesystems constructed by [`Vfs::mount`].
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    // ----- path resolution -----

    /// Resolve `path` from `base` (None: the cwd). Symlinks are followed
    /// mid-path; the final one only if `follow_final` or a trailing slash.
    fn walk(
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
                    drop(tree);
                    let c = self.lookup_slow(cur_id, name)?;
                    tree = self.tree.read();
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
    fn resolve(&self, path: &str, follow: bool) -> VfsResult<Resolved> {
        check_path(path)?;
        let mut links = MAX_SYMLINKS;
        self.walk(None, path, follow, &mut links)
    }

    /// Resolve the directory part of `path` and split off its final component.
    fn resolve_parent<'p>(
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
    /// Returns the (possibly negative) dentry.
    fn lookup_slow(&self, dir: DentryId, name: &str) -> VfsResult<DentryId> {
        loop {
            let (dir_vnode, version) = {
                let tree = self.tree.read();
                let d = tree.get(dir)?;
                if let Some(c) = d.children.get(name) {
                    return Ok(c);
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
                return Ok(c);
            }
            if !d.hashed {
                return Err(Errno::ENOENT);
            }
            if d.version == version {
                return tree.insert(dir, name, vnode);
            }
            // The directory changed while we asked: ask again.
        }
    }

    /// Look up `name` in directory `dir` (cached or from the backend).
    fn lookup_child(&self, dir: DentryId, name: &str) -> VfsResult<Child> {
        let cached = self.tree.read().get(dir)?.children.get(name);
        let dentry = match cached {
            Some(c) => c,
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
    fn check_live(&self, dir: DentryId) -> VfsResult<()> {
        if self.tree.read().get(dir)?.hashed {
            Ok(())
        } else {
            Err(Errno::ENOENT)
        }
    }

    /// Start a namespace change in directory `dir`: lock its mount's
    /// `ns_change` and check (under it) that `dir` was not removed meanwhile.
    /// Hold the guard until the dentry cache shows the change.
    fn begin_change<'v>(
        &self,
        dir: DentryId,
        dir_vnode: &'v Vnode,
    ) -> VfsResult<MutexGuard<'v, ()>> {
        let guard = dir_vnode.mount.ns_change.lock();
        self.check_live(dir)?;
        Ok(guard)
    }

    /// Cache a name just created in `dir` (under `ns_change`).
    fn cache_created(&self, dir: DentryId, name: &str, vnode: Arc<Vnode>) -> VfsResult<DentryId> {
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
    fn uncache(&self, dir: DentryId, name: &str) {
        let _ = self.tree.write().remove_child(dir, name);
    }

    /// Forget the vnode of a removed name when no other link keeps the inode.
    fn forget_if_unlinked(&self, vnode: &Arc<Vnode>) {
        let gone = vnode.is_dir() || vnode.inode.getattr().map_or(true, |s| s.nlink == 0);
        if gone {
            self.vnodes.forget(vnode);
        }
    }

    fn file(&self, fd: Fd) -> VfsResult<Arc<OpenFile>> {
        self.files.lock().get(fd).cloned()
    }

    // ----- mounts -----

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
    fn constructor(&self, fs_type: &str) -> VfsResult<Arc<dyn FsType>> {
        self.registry
            .read()
            .iter()
            .find(|t| t.name() == fs_type)
            .cloned()
            .ok_or(Errno::ENODEV)
    }

    fn construct_and_attach(
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
    fn check_mount_target(&self, target: &str) -> VfsResult<()> {
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

    fn attach(
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

    // ----- open files -----

    pub fn open(&self, path: &str, flags: OpenFlags, mode: u32) -> VfsResult<Fd> {
        check_path(path)?;
        let access = flags.bits() & 3;
        if access == 3 {
            return Err(Errno::EINVAL);
        }
        let writes = access != 0;
        // As Linux since 6.4: the combination has no meaning.
        if flags.contains(OpenFlags::O_CREAT | OpenFlags::O_DIRECTORY) {
            return Err(Errno::EINVAL);
        }
        if !self.files.lock().has_room() {
            return Err(Errno::EMFILE);
        }
        let (dentry, vnode) = if flags.contains(OpenFlags::O_CREAT) {
            self.open_create(path, flags, mode)?
        } else {
            let mut links = MAX_SYMLINKS;
            self.walk(
                None,
                path,
                !flags.contains(OpenFlags::O_NOFOLLOW),
                &mut links,
            )?
        };
        let ft = vnode.file_type;
        if ft == FileType::Directory && flags.contains(OpenFlags::O_CREAT) {
            return Err(Errno::EISDIR);
        }
        if flags.contains(OpenFlags::O_DIRECTORY) && ft != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if ft == FileType::Symlink {
            return Err(Errno::ELOOP);
        }
        let truncate = flags.contains(OpenFlags::O_TRUNC);
        if ft == FileType::Directory && (writes || truncate) {
            return Err(Errno::EISDIR);
        }
        // As Linux: device nodes stay writable on a read-only mount.
        let on_disk = matches!(ft, FileType::Regular | FileType::Directory);
        if (writes || truncate) && on_disk && vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        let handle = vnode.inode.open(flags)?;
        if truncate && ft == FileType::Regular {
            vnode.inode.truncate(0)?;
        }
        let file = Arc::new(OpenFile::new(vnode, flags, dentry, handle));
        if is_detached(&file.vnode.mount) {
            return Err(Errno::ENOENT);
        }
        self.files.lock().insert(file)
    }

    /// The O_CREAT part of open: find or create the final name, following a
    /// final symlink (to create its target) unless O_EXCL or O_NOFOLLOW.
    fn open_create(&self, path: &str, flags: OpenFlags, mode: u32) -> VfsResult<Resolved> {
        let mut links = MAX_SYMLINKS;
        let mut base: Option<DentryId> = None;
        let mut target: String;
        let mut cur: &str = path;
        loop {
            let (dir, dir_vnode, split) = self.resolve_parent(base, cur, &mut links)?;
            let name = match split.last {
                Last::Name(n) => n,
                // ".", ".." or "/": an existing directory; open() answers EISDIR.
                _ if flags.contains(OpenFlags::O_EXCL) => return Err(Errno::EEXIST),
                _ => return self.walk(base, cur, true, &mut links),
            };
            if split.trailing_slash {
                return Err(Errno::EISDIR);
            }
            let child = self.lookup_child(dir, name)?;
            match child.vnode {
                Some(_) if flags.contains(OpenFlags::O_EXCL) => return Err(Errno::EEXIST),
                Some(v)
                    if v.file_type == FileType::Symlink
                        && !flags.contains(OpenFlags::O_NOFOLLOW) =>
                {
                    if links == 0 {
                        return Err(Errno::ELOOP);
                    }
                    links -= 1;
                    target = String::from(v.link_target()?);
                    if target.is_empty() {
                        return Err(Errno::ENOENT);
                    }
                    check_path(&target)?;
                    base = Some(dir);
                    cur = &target;
                    // `target` is reassigned only after `cur` is last used.
                    continue;
                }
                Some(_) => {
                    let tree = self.tree.read();
                    let top = tree.follow_mounts(child.dentry);
                    return Ok((top, tree.vnode(top)?.clone()));
                }
                None => {
                    if dir_vnode.mount.read_only {
                        return Err(Errno::EROFS);
                    }
                    let _change = self.begin_change(dir, &dir_vnode)?;
                    // Another thread may have made the name since we looked:
                    // then go round again to open (or refuse) what it made.
                    if self.lookup_child(dir, name)?.vnode.is_some() {
                        continue;
                    }
                    let inode = dir_vnode.inode.create(
                        name,
                        FileType::Regular.mode_bits() | (mode & S_IPERM),
                        0,
                    )?;
                    let vnode = self.vnodes.get(&dir_vnode.mount, inode);
                    let id = self.cache_created(dir, name, vnode.clone())?;
                    return Ok((id, vnode));
                }
            }
        }
    }

    pub fn close(&self, fd: Fd) -> VfsResult<()> {
        let file = self.files.lock().remove(fd)?;
        // The last reference drops here, outside the table lock.
        drop(file);
        Ok(())
    }

    pub fn dup(&self, fd: Fd) -> VfsResult<Fd> {
        let mut files = self.files.lock();
        let file = files.get(fd)?.clone();
        files.insert(file)
    }

    pub fn dup2(&self, old: Fd, new: Fd) -> VfsResult<Fd> {
        let replaced = {
            let mut files = self.files.lock();
            let file = files.get(old)?.clone();
            if old == new {
                return Ok(new);
            }
            files.insert_at(new, file)?
        };
        drop(replaced);
        Ok(new)
    }

    // ----- data -----

    pub fn read(&self, fd: Fd, buf: &mut [u8]) -> VfsResult<usize> {
        let file = self.file(fd)?;
        if !file.readable() {
            return Err(Errno::EBADF);
        }
        let offset = file.offset.load(Ordering::Acquire);
        let n = read_into(&file, offset, buf)?;
        file.offset
            .store(offset.saturating_add(n as u64), Ordering::Release);
        Ok(n)
    }

    pub fn write(&self, fd: Fd, buf: &[u8]) -> VfsResult<usize> {
        let file = self.file(fd)?;
        if !file.writable() {
            return Err(Errno::EBADF);
        }
        // As Linux: an empty write does not even move an O_APPEND offset.
        if buf.is_empty() {
            return Ok(0);
        }
        let offset = if file.flags.contains(OpenFlags::O_APPEND) {
            file.vnode.inode.getattr()?.size
        } else {
            file.offset.load(Ordering::Acquire)
        };
        let n = write_from(&file, offset, buf)?;
        file.offset
            .store(offset.saturating_add(n as u64), Ordering::Release);
        Ok(n)
    }

    pub fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> VfsResult<usize> {
        if offset > MAX_OFFSET {
            return Err(Errno::EINVAL);
        }
        let file = self.file(fd)?;
        if !file.readable() {
            return Err(Errno::EBADF);
        }
        read_into(&file, offset, buf)
    }

    pub fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> VfsResult<usize> {
        if offset > MAX_OFFSET {
            return Err(Errno::EINVAL);
        }
        let file = self.file(fd)?;
        if !file.writable() {
            return Err(Errno::EBADF);
        }
        write_from(&file, offset, buf)
    }

    /// EINVAL when the result would be negative.
    pub fn lseek(&self, fd: Fd, offset: i64, whence: Whence) -> VfsResult<u64> {
        let file = self.file(fd)?;
        if file.vnode.is_dir() {
            return seek_dir(&file, offset, whence);
        }
        let base = match whence {
            Whence::Set => 0,
            Whence::Cur => file.offset.load(Ordering::Acquire),
            Whence::End => file.vnode.inode.getattr()?.size,
        };
        let new = i128::from(base) + i128::from(offset);
        if new < 0 || new > i128::from(MAX_OFFSET) {
            return Err(Errno::EINVAL);
        }
        let new = new as u64;
        file.offset.store(new, Ordering::Release);
        Ok(new)
    }

    pub fn truncate(&self, path: &str, len: u64) -> VfsResult<()> {
        // Linux rejects a negative length before looking at the path.
        if len > MAX_OFFSET {
            return Err(Errno::EINVAL);
        }
        let (_, vnode) = self.resolve(path, true)?;
        match vnode.file_type {
            FileType::Directory => return Err(Errno::EISDIR),
            FileType::Regular => {}
            _ => return Err(Errno::EINVAL),
        }
        if vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        vnode.inode.truncate(len)
    }

    pub fn ftruncate(&self, fd: Fd, len: u64) -> VfsResult<()> {
        if len > MAX_OFFSET {
            return Err(Errno::EINVAL);
        }
        let file = self.file(fd)?;
        if file.vnode.file_type != FileType::Regular || !file.writable() {
            return Err(Errno::EINVAL);
        }
        file.vnode.inode.truncate(len)
    }

    pub fn fsync(&self, fd: Fd) -> VfsResult<()> {
        self.file(fd)?.fsync()
    }

    // ----- attributes -----

    pub fn stat(&self, path: &str) -> VfsResult<Stat> {
        let (_, vnode) = self.resolve(path, true)?;
        stat_of(&vnode)
    }

    pub fn lstat(&self, path: &str) -> VfsResult<Stat> {
        let (_, vnode) = self.resolve(path, false)?;
        stat_of(&vnode)
    }

    pub fn fstat(&self, fd: Fd) -> VfsResult<Stat> {
        stat_of(&self.file(fd)?.vnode)
    }

    pub fn chmod(&self, path: &str, mode: u32) -> VfsResult<()> {
        let (_, vnode) = self.resolve(path, true)?;
        if vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        vnode.inode.setattr(&SetAttr {
            mode: Some(mode & S_IPERM),
            ..SetAttr::default()
        })
    }

    /// None leaves a time unchanged.
    pub fn utimens(
        &self,
        path: &str,
        atime: Option<Timespec>,
        mtime: Option<Timespec>,
    ) -> VfsResult<()> {
        for t in [atime, mtime].into_iter().flatten() {
            if t.nsec >= 1_000_000_000 {
                return Err(Errno::EINVAL);
            }
        }
        let (_, vnode) = self.resolve(path, true)?;
        if vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        if atime.is_none() && mtime.is_none() {
            return Ok(());
        }
        vnode.inode.setattr(&SetAttr {
            atime,
            mtime,
            ..SetAttr::default()
        })
    }

    // ----- directories -----

    /// Up to `max` entries from the directory open at `fd`, continuing where the last call
    /// stopped (a stable cookie kept in the open file). Includes "." and "..". Empty at the end.
    pub fn getdents(&self, fd: Fd, max: usize) -> VfsResult<Vec<DirEntry>> {
        let file = self.file(fd)?;
        let vnode = &file.vnode;
        if !vnode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if max == 0 {
            return Err(Errno::EINVAL);
        }
        let mut pos = *file.dir_pos.lock();
        let mut out = Vec::new();
        while out.len() < max {
            match pos {
                DirPos::Dot => {
                    out.push(dir_entry(vnode.ino, "."));
                    pos = DirPos::DotDot;
                }
                DirPos::DotDot => {
                    out.push(dir_entry(self.parent_ino(file.dentry, vnode), ".."));
                    pos = DirPos::Backend(0);
                }
                DirPos::Backend(cookie) => {
                    let mut next = cookie;
                    file.readdir(cookie, &mut |entry, after| {
                        out.push(entry.to_entry());
                        next = after;
                        out.len() < max
                    })?;
                    pos = DirPos::Backend(next);
                    break;
                }
            }
        }
        *file.dir_pos.lock() = pos;
        Ok(out)
    }

    /// The inode number `..` reports: the parent within the same filesystem.
    fn parent_ino(&self, dentry: DentryId, vnode: &Vnode) -> InodeNo {
        let tree = self.tree.read();
        match tree.get(dentry) {
            Ok(d) if d.parent != dentry => tree.vnode(d.parent).map_or(vnode.ino, |p| p.ino),
            _ => vnode.ino,
        }
    }

    /// All entries of the directory at `path`, without "." and "..".
    pub fn read_dir(&self, path: &str) -> VfsResult<Vec<DirEntry>> {
        let (_, vnode) = self.resolve(path, true)?;
        if !vnode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let handle = vnode
            .inode
            .open(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY)?;
        let inode = vnode.inode.as_ref();
        let mut out = Vec::new();
        let mut cookie = 0;
        loop {
            let before = out.len();
            let start = cookie;
            let mut sink = |entry: DirEntryRef<'_>, after| {
                out.push(entry.to_entry());
                cookie = after;
                true
            };
            match &handle {
                Some(h) => h.readdir(inode, start, &mut sink)?,
                None => inode.readdir(start, &mut sink)?,
            }
            // Backends report everything in one call; loop only if one stops early.
            if out.len() == before {
                return Ok(out);
            }
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
    fn remove_entry(
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
    fn create_entry(
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

    /// A device- or backend-specific request on an open file.
    pub fn ioctl(&self, fd: Fd, request: u32, arg: usize) -> VfsResult<usize> {
        self.file(fd)?.vnode.inode.ioctl(request, arg)
    }

    pub fn readlink(&self, path: &str) -> VfsResult<String> {
        let (_, vnode) = self.resolve(path, false)?;
        if vnode.file_type != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        vnode.link_target().map(String::from)
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

    /// Convenience: the whole contents of the file at `path`.
    pub fn read_file(&self, path: &str) -> VfsResult<Vec<u8>> {
        let fd = self.open(path, OpenFlags::O_RDONLY, 0)?;
        let result = self.read_all(fd);
        let closed = self.close(fd);
        let data = result?;
        closed?;
        Ok(data)
    }

    fn read_all(&self, fd: Fd) -> VfsResult<Vec<u8>> {
        let stat = self.fstat(fd)?;
        let size = stat.size;
        // A device such as /dev/zero never ends: stop after a bounded amount.
        let limit = match stat.file_type() {
            Some(FileType::Regular) => usize::MAX,
            _ => 1 << 20,
        };
        let mut data = Vec::new();
        // Sized to the file plus one byte, so the end shows as a short read.
        let hint = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .clamp(4096, 1 << 24);
        data.try_reserve(hint).map_err(|_| Errno::ENOMEM)?;
        loop {
            let len = data.len();
            if data.capacity() == len {
                data.try_reserve(len.max(4096)).map_err(|_| Errno::ENOMEM)?;
            }
            data.resize(data.capacity(), 0);
            let n = self.read(fd, data.get_mut(len..).ok_or(Errno::EIO)?)?;
            data.truncate(len + n);
            if n == 0 || data.len() >= limit {
                data.truncate(limit);
                return Ok(data);
            }
        }
    }

    /// Convenience: create or replace the file at `path` with `data`.
    pub fn write_file(&self, path: &str, data: &[u8]) -> VfsResult<()> {
        let flags = OpenFlags::O_WRONLY | OpenFlags::O_CREAT | OpenFlags::O_TRUNC;
        let fd = self.open(path, flags, 0o644)?;
        let mut result = Ok(());
        let mut done = 0;
        while done < data.len() {
            match self.write(fd, data.get(done..).unwrap_or_default()) {
                Ok(0) => {
                    result = Err(Errno::EIO);
                    break;
                }
                Ok(n) => done += n,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let closed = self.close(fd);
        result?;
        closed
    }
}

/// lseek on a directory: the position is the getdents cookie (0 is ".",
/// 1 is "..", a backend cookie `c` is `c + 2`), so telldir/seekdir work.
fn seek_dir(file: &OpenFile, offset: i64, whence: Whence) -> VfsResult<u64> {
    let mut pos = file.dir_pos.lock();
    let current = match *pos {
        DirPos::Dot => 0,
        DirPos::DotDot => 1,
        DirPos::Backend(c) => c.checked_add(2).ok_or(Errno::EOVERFLOW)?,
    };
    let target = match whence {
        Whence::Set => i128::from(offset),
        Whence::Cur => i128::from(current) + i128::from(offset),
        Whence::End => return Err(Errno::EINVAL),
    };
    let target = u64::try_from(target).map_err(|_| Errno::EINVAL)?;
    if target > MAX_OFFSET {
        return Err(Errno::EINVAL);
    }
    *pos = match target {
        0 => DirPos::Dot,
        1 => DirPos::DotDot,
        c => DirPos::Backend(c - 2),
    };
    Ok(target)
}

fn dir_entry(ino: InodeNo, name: &str) -> DirEntry {
    DirEntry {
        ino,
        file_type: FileType::Directory,
        name: String::from(name),
    }
}

fn stat_of(vnode: &Vnode) -> VfsResult<Stat> {
    let mut stat = vnode.inode.getattr()?;
    stat.dev = vnode.mount.id;
    Ok(stat)
}

/// EINVAL when `offset + len` passes the largest file offset, as Linux's
/// `rw_verify_area`.
fn check_range(offset: u64, len: usize) -> VfsResult<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= MAX_OFFSET => Ok(()),
        _ => Err(Errno::EINVAL),
    }
}

/// Read at `offset` straight into the caller's buffer.
fn read_into(file: &OpenFile, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
    check_range(offset, buf.len())?;
    if file.vnode.is_dir() {
        return Err(Errno::EISDIR);
    }
    if buf.is_empty() {
        return Ok(0);
    }
    let n = file.read_at(offset, buf)?;
    Ok(n.min(buf.len()))
}

/// Write at `offset` straight from the caller's buffer.
fn write_from(file: &OpenFile, offset: u64, buf: &[u8]) -> VfsResult<usize> {
    check_range(offset, buf.len())?;
    if file.vnode.is_dir() {
        return Err(Errno::EISDIR);
    }
    if buf.is_empty() {
        return Ok(0);
    }
    let n = file.write_at(offset, buf)?;
    Ok(n.min(buf.len()))
}
