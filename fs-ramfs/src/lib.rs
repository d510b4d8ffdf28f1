//! ramfs: a writable in-memory filesystem for the VFS (`no_std` + `alloc`).
//!
//! - Regular files keep their bytes in pages of [`PAGE_SIZE`] (64 KiB) in a
//!   sparse map: appends never copy old data, holes read as zeros and cost no
//!   memory, and a read takes one lock and copies straight from the pages into
//!   the caller's buffer. A small file's page buffer is only as big as needed
//!   (doubling as it grows), and the `size=` limit counts these buffers.
//! - Directories are `BTreeMap`s keyed by name: O(log n) lookup, sorted
//!   readdir, and cookies that stay valid across inserts and removes (see
//!   [Readdir cookies](#readdir-cookies)).
//! - Every inode is an `Arc`: a directory entry holds one, the VFS holds one
//!   per open file, so an unlinked file stays usable until its last user lets
//!   go, and its memory (and its share of the `size=` limit) is returned when
//!   the last `Arc` drops.
//! - Namespace changes (create, link, unlink, rename, ...) are serialised by
//!   one per-filesystem lock, taken before any directory lock; lookups and
//!   readdir take only the one directory's read lock. So no two threads can
//!   ever wait on each other's directory locks, whatever the tree shape.
//!   (Two directories are still locked in inode-number order in `rename`.)
//!
//! # Readdir cookies
//!
//! Every name that enters a directory gets a slot in a per-directory
//! append-only log; the cookie after an entry is its slot plus one (0 is the
//! start). Resuming looks up the slot's name and continues with the first name
//! greater than it (a `BTreeMap` range query), so a cookie stays valid whatever
//! is inserted or removed meanwhile, even if its own name was removed: entries
//! present for the whole scan come exactly once, in order. A removed name keeps
//! its slot and gets it back if it returns, so the log grows only with distinct
//! names. When the directory becomes empty the log is cleared: every later
//! entry is then new to every reader, which POSIX lets a scan report or not;
//! an old cookie past the new log's end reads as end of directory.
//!
//! # Mount options
//!
//! `size=N[kKmMgG]` caps the bytes of file data (0: no cap),
//! `nr_inodes=N` caps the number of inodes, `mode=OOO` sets the root's
//! permissions. Unknown options and malformed values give EINVAL.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod dir;
mod pages;
#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::{Mutex, RwLock};
use vfs::{
    Clock, DirEntryRef, DirSink, Errno, FileSystem, FileType, FsType, Inode, InodeNo, MountContext,
    S_IPERM, SetAttr, Stat, StatFs, Timespec, VfsResult,
};

use dir::DirEntries;
use pages::Pages;
pub use pages::{MAX_FILE_SIZE, PAGE_SIZE};

/// `statfs` magic number of Linux's ramfs.
pub const RAMFS_MAGIC: u64 = 0x8584_58f6;
/// Block size reported by `statfs` and `st_blksize`.
const BLOCK_SIZE: u32 = 4096;
/// Linux tmpfs reports a directory's size as 20 bytes per entry (plus `.`/`..`).
const DIRENT_SIZE: u64 = 20;
/// Entries handed to a readdir sink per directory-lock hold.
const READDIR_BATCH: usize = 64;
/// Seconds after which a read refreshes atime even if it is newer than mtime
/// (Linux's `relatime`).
const ATIME_REFRESH_SECS: i64 = 24 * 60 * 60;

/// Bytes of file data in use, against an optional limit.
pub struct Space {
    limit: Option<u64>,
    used: AtomicU64,
}

impl Space {
    fn new(limit: Option<u64>) -> Self {
        Space {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Charge `bytes`, or ENOSPC if that would pass the limit.
    pub(crate) fn reserve(&self, bytes: u64) -> VfsResult<()> {
        let Some(limit) = self.limit else {
            self.used.fetch_add(bytes, Ordering::Relaxed);
            return Ok(());
        };
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= limit)
            })
            .map(|_| ())
            .map_err(|_| Errno::ENOSPC)
    }

    pub(crate) fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// State shared by a filesystem and all its inodes.
struct Shared {
    clock: Arc<dyn Clock>,
    space: Space,
    inode_limit: Option<u64>,
    inodes: AtomicU64,
    next_ino: AtomicU64,
    /// Serialises namespace changes (see the crate docs).
    tree_lock: Mutex<()>,
}

impl Shared {
    fn now(&self) -> Timespec {
        self.clock.now()
    }

    fn charge_inode(&self) -> VfsResult<()> {
        let limit = self.inode_limit.unwrap_or(u64::MAX);
        self.inodes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                n.checked_add(1).filter(|&total| total <= limit)
            })
            .map(|_| ())
            .map_err(|_| Errno::ENOSPC)
    }
}

/// One mounted ramfs instance.
pub struct RamFs {
    shared: Arc<Shared>,
    root: Arc<RamInode>,
}

impl RamFs {
    /// An empty ramfs whose file data may use at most `limit` bytes
    /// (`None`: no limit).
    pub fn new(clock: Arc<dyn Clock>, limit: Option<u64>) -> Arc<RamFs> {
        Self::with_limits(clock, limit, None, 0o755)
    }

    /// Like [`RamFs::new`], also capping the number of inodes and setting the
    /// root directory's permissions.
    pub fn with_limits(
        clock: Arc<dyn Clock>,
        limit: Option<u64>,
        inode_limit: Option<u64>,
        root_mode: u32,
    ) -> Arc<RamFs> {
        let shared = Arc::new(Shared {
            clock,
            space: Space::new(limit),
            inode_limit,
            // The root is not charged against `nr_inodes`.
            inodes: AtomicU64::new(0),
            next_ino: AtomicU64::new(1),
            tree_lock: Mutex::new(()),
        });
        let root = RamInode::new_unchecked(
            &shared,
            FileType::Directory,
            root_mode,
            Body::Dir(RwLock::new(DirEntries::default())),
        );
        Arc::new(RamFs { shared, root })
    }

    /// Bytes of file data currently held.
    pub fn used_bytes(&self) -> u64 {
        self.shared.space.used()
    }
}

/// The "ramfs" filesystem type: a new, empty ramfs per mount.
pub struct RamFsType;

impl FsType for RamFsType {
    fn name(&self) -> &'static str {
        "ramfs"
    }

    fn create(&self, ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
        new_fs(ctx)
    }
}

fn new_fs(ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
    let mut limit = None;
    let mut inode_limit = None;
    let mut root_mode = 0o755;
    for (key, value) in vfs::parse_options(&ctx.options) {
        match (key, value) {
            ("size", Some(v)) => {
                let bytes = vfs::parse_size(v).ok_or(Errno::EINVAL)?;
                limit = (bytes != 0).then_some(bytes);
            }
            ("nr_inodes", Some(v)) => {
                let n = vfs::parse_size(v).ok_or(Errno::EINVAL)?;
                inode_limit = (n != 0).then_some(n);
            }
            ("mode", Some(v)) => {
                let mode = u32::from_str_radix(v, 8).map_err(|_| Errno::EINVAL)?;
                if mode & !S_IPERM != 0 {
                    return Err(Errno::EINVAL);
                }
                root_mode = mode;
            }
            _ => return Err(Errno::EINVAL),
        }
    }
    Ok(RamFs::with_limits(
        ctx.clock.clone(),
        limit,
        inode_limit,
        root_mode,
    ))
}

impl FileSystem for RamFs {
    fn root(&self) -> VfsResult<Arc<dyn Inode>> {
        Ok(self.root.clone())
    }

    fn fs_type(&self) -> &'static str {
        "ramfs"
    }

    fn statfs(&self) -> VfsResult<StatFs> {
        let bs = u64::from(BLOCK_SIZE);
        let used = self.shared.space.used().div_ceil(bs);
        // Without a limit, report the space in use as the size, nothing free
        // (as Linux ramfs, which has no size either).
        let (blocks, free) = match self.shared.space.limit {
            Some(limit) => {
                let total = limit / bs;
                (total, total.saturating_sub(used))
            }
            None => (used, 0),
        };
        let files = self.shared.inodes.load(Ordering::Relaxed) + 1;
        let (files_total, files_free) = match self.shared.inode_limit {
            Some(limit) => (limit, limit.saturating_sub(files - 1)),
            None => (files, 0),
        };
        Ok(StatFs {
            fs_type: RAMFS_MAGIC,
            block_size: BLOCK_SIZE,
            blocks,
            blocks_free: free,
            blocks_available: free,
            files: files_total,
            files_free,
            name_max: 255,
        })
    }
}

/// Attributes that change after creation.
struct Meta {
    perm: u32,
    uid: u32,
    gid: u32,
    /// For directories only 1 (linked) or 0 (removed); `getattr` reports
    /// 2 + subdirectories.
    nlink: u32,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
}

enum Body {
    File(RwLock<Pages>),
    Dir(RwLock<DirEntries>),
    Symlink(String),
    /// Device node, fifo or socket: metadata only.
    Node {
        rdev: u64,
    },
}

/// A ramfs inode.
pub struct RamInode {
    ino: InodeNo,
    kind: FileType,
    shared: Arc<Shared>,
    /// This inode's own `Arc`, to store it in a directory when it arrives as
    /// `&RamInode` (hard links).
    this: Weak<RamInode>,
    /// For a directory: the directory holding it (to refuse a rename that
    /// would move a directory under itself).
    parent: Mutex<Weak<RamInode>>,
    meta: Mutex<Meta>,
    body: Body,
}

impl RamInode {
    fn new(shared: &Arc<Shared>, kind: FileType, perm: u32, body: Body) -> VfsResult<Arc<Self>> {
        shared.charge_inode()?;
        Ok(Self::new_unchecked(shared, kind, perm, body))
    }

    /// A new inode without charging the inode limit (the root). Callers
    /// other than the root must charge first.
    fn new_unchecked(shared: &Arc<Shared>, kind: FileType, perm: u32, body: Body) -> Arc<Self> {
        let now = shared.now();
        let ino = shared.next_ino.fetch_add(1, Ordering::Relaxed);
        Arc::new_cyclic(|this| RamInode {
            ino,
            kind,
            shared: shared.clone(),
            this: this.clone(),
            parent: Mutex::new(Weak::new()),
            meta: Mutex::new(Meta {
                perm: perm & S_IPERM,
                uid: 0,
                gid: 0,
                nlink: 1,
                atime: now,
                mtime: now,
                ctime: now,
            }),
            body,
        })
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.kind == FileType::Directory
    }

    fn entries(&self) -> VfsResult<&RwLock<DirEntries>> {
        match &self.body {
            Body::Dir(entries) => Ok(entries),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn pages(&self) -> VfsResult<&RwLock<Pages>> {
        match &self.body {
            Body::File(pages) => Ok(pages),
            _ => Err(self.not_a_file()),
        }
    }

    fn is_removed(&self) -> bool {
        self.meta.lock().nlink == 0
    }

    /// Mark a content change: mtime and ctime.
    fn touch_modified(&self, now: Timespec) {
        let mut meta = self.meta.lock();
        meta.mtime = now;
        meta.ctime = now;
    }

    fn touch_changed(&self, now: Timespec) {
        self.meta.lock().ctime = now;
    }

    /// Add a new inode made by `make` under `name` in this directory.
    fn add_child(
        &self,
        name: &str,
        make: impl FnOnce() -> VfsResult<Arc<RamInode>>,
    ) -> VfsResult<Arc<dyn Inode>> {
        let entries = self.entries()?;
        let _tree = self.shared.tree_lock.lock();
        if self.is_removed() {
            return Err(Errno::ENOENT);
        }
        let mut entries = entries.write();
        if entries.contains(name) {
            return Err(Errno::EEXIST);
        }
        let child = make()?;
        if child.is_dir() {
            *child.parent.lock() = self.this.clone();
        }
        entries.insert(name, child.clone());
        drop(entries);
        self.touch_modified(self.shared.now());
        Ok(child)
    }

    /// Whether `dir` is `ancestor` or lies below it.
    fn is_within(dir: &RamInode, ancestor: &RamInode) -> bool {
        let mut current = dir.this.upgrade();
        while let Some(node) = current {
            if core::ptr::eq(&*node, ancestor) {
                return true;
            }
            current = node.parent.lock().upgrade();
        }
        false
    }

    fn refresh_atime(&self) {
        let now = self.shared.now();
        let mut meta = self.meta.lock();
        if meta.atime <= meta.mtime
            || meta.atime <= meta.ctime
            || now.sec.saturating_sub(meta.atime.sec) >= ATIME_REFRESH_SECS
        {
            meta.atime = now;
        }
    }
}

impl Drop for RamInode {
    fn drop(&mut self) {
        // The root was never charged; every other inode was.
        if self.ino != 1 {
            self.shared.inodes.fetch_sub(1, Ordering::Relaxed);
        }
        match &mut self.body {
            Body::File(pages) => pages.get_mut().release_all(&self.shared.space),
            Body::Dir(entries) => {
                // Free a whole subtree iteratively: a deep tree must not
                // overflow the stack through nested drops.
                let mut pending = entries.get_mut().take_all();
                while let Some(child) = pending.pop() {
                    if let Some(mut child) = Arc::into_inner(child)
                        && let Body::Dir(entries) = &mut child.body
                    {
                        pending.extend(entries.get_mut().take_all());
                    }
                }
            }
            Body::Symlink(_) | Body::Node { .. } => {}
        }
    }
}

impl Inode for RamInode {
    fn ino(&self) -> InodeNo {
        self.ino
    }

    fn file_type(&self) -> FileType {
        self.kind
    }

    fn getattr(&self) -> VfsResult<Stat> {
        let (size, allocated, subdirs, rdev) = match &self.body {
            Body::File(pages) => {
                let pages = pages.read();
                (pages.size(), pages.allocated(), 0, 0)
            }
            Body::Dir(entries) => {
                let entries = entries.read();
                let size = DIRENT_SIZE * (entries.len() as u64 + 2);
                (size, 0, entries.subdirs, 0)
            }
            Body::Symlink(target) => (target.len() as u64, 0, 0, 0),
            Body::Node { rdev } => (0, 0, 0, *rdev),
        };
        let meta = self.meta.lock();
        let nlink = match (self.kind, meta.nlink) {
            (FileType::Directory, 0) => 0,
            (FileType::Directory, _) => subdirs.saturating_add(2),
            (_, n) => n,
        };
        Ok(Stat {
            dev: 0,
            ino: self.ino,
            mode: self.kind.mode_bits() | meta.perm,
            nlink,
            uid: meta.uid,
            gid: meta.gid,
            rdev,
            size,
            blksize: BLOCK_SIZE,
            blocks: allocated.div_ceil(512),
            atime: meta.atime,
            mtime: meta.mtime,
            ctime: meta.ctime,
        })
    }

    fn setattr(&self, attr: &SetAttr) -> VfsResult<()> {
        let now = self.shared.now();
        let mut meta = self.meta.lock();
        if let Some(mode) = attr.mode {
            meta.perm = mode & S_IPERM;
        }
        if let Some(uid) = attr.uid {
            meta.uid = uid;
        }
        if let Some(gid) = attr.gid {
            meta.gid = gid;
        }
        if let Some(atime) = attr.atime {
            meta.atime = atime;
        }
        if let Some(mtime) = attr.mtime {
            meta.mtime = mtime;
        }
        meta.ctime = now;
        Ok(())
    }

    fn lookup(&self, name: &str) -> VfsResult<Arc<dyn Inode>> {
        let entries = self.entries()?.read();
        match entries.get(name) {
            Some(inode) => Ok(inode.clone()),
            None => Err(Errno::ENOENT),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        let n = self.pages()?.read().read(offset, buf);
        if n > 0 {
            self.refresh_atime();
        }
        Ok(n)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> VfsResult<usize> {
        let pages = match &self.body {
            Body::File(pages) => pages,
            Body::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        let n = pages.write().write(&self.shared.space, offset, buf)?;
        if n > 0 {
            self.touch_modified(self.shared.now());
        }
        Ok(n)
    }

    fn truncate(&self, size: u64) -> VfsResult<()> {
        let pages = match &self.body {
            Body::File(pages) => pages,
            Body::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        pages.write().truncate(&self.shared.space, size)?;
        self.touch_modified(self.shared.now());
        Ok(())
    }

    fn readdir(&self, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        let entries = self.entries()?;
        let mut cookie = cookie;
        loop {
            // Copy a batch out, so `sink` runs without the directory locked.
            let batch = entries.read().batch(cookie, READDIR_BATCH);
            let full = batch.len() == READDIR_BATCH;
            for (name, inode, next) in batch {
                let entry = DirEntryRef {
                    ino: inode.ino,
                    file_type: inode.kind,
                    name: &name,
                };
                if !sink(entry, next) {
                    return Ok(());
                }
                cookie = next;
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn readlink(&self) -> VfsResult<String> {
        match &self.body {
            Body::Symlink(target) => Ok(target.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn create(&self, name: &str, mode: u32, rdev: u64) -> VfsResult<Arc<dyn Inode>> {
        self.entries()?;
        let kind = match mode & vfs::S_IFMT {
            0 => FileType::Regular,
            bits => match FileType::from_mode(bits) {
                Some(FileType::Directory) => return Err(Errno::EPERM),
                Some(FileType::Symlink) | None => return Err(Errno::EINVAL),
                Some(kind) => kind,
            },
        };
        self.add_child(name, || {
            let body = match kind {
                FileType::Regular => Body::File(RwLock::new(Pages::default())),
                _ => Body::Node { rdev },
            };
            RamInode::new(&self.shared, kind, mode, body)
        })
    }

    fn mkdir(&self, name: &str, mode: u32) -> VfsResult<Arc<dyn Inode>> {
        self.add_child(name, || {
            let body = Body::Dir(RwLock::new(DirEntries::default()));
            RamInode::new(&self.shared, FileType::Directory, mode, body)
        })
    }

    fn symlink(&self, name: &str, target: &str) -> VfsResult<Arc<dyn Inode>> {
        self.add_child(name, || {
            RamInode::new(
                &self.shared,
                FileType::Symlink,
                0o777,
                Body::Symlink(String::from(target)),
            )
        })
    }

    fn link(&self, name: &str, target: &Arc<dyn Inode>) -> VfsResult<()> {
        let entries = self.entries()?;
        let target = target
            .as_any()
            .downcast_ref::<RamInode>()
            .ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&target.shared, &self.shared) {
            return Err(Errno::EXDEV);
        }
        if target.is_dir() {
            return Err(Errno::EPERM);
        }
        let target = target.this.upgrade().ok_or(Errno::ENOENT)?;
        let _tree = self.shared.tree_lock.lock();
        if self.is_removed() {
            return Err(Errno::ENOENT);
        }
        let mut entries = entries.write();
        if entries.contains(name) {
            return Err(Errno::EEXIST);
        }
        let now = self.shared.now();
        {
            let mut meta = target.meta.lock();
            // An unlinked file cannot get a name back (as on Linux).
            if meta.nlink == 0 {
                return Err(Errno::ENOENT);
            }
            meta.nlink = meta.nlink.checked_add(1).ok_or(Errno::EMLINK)?;
            meta.ctime = now;
        }
        entries.insert(name, target);
        drop(entries);
        self.touch_modified(now);
        Ok(())
    }

    fn unlink(&self, name: &str) -> VfsResult<()> {
        let entries = self.entries()?;
        let _tree = self.shared.tree_lock.lock();
        let mut entries = entries.write();
        match entries.get(name) {
            None => return Err(Errno::ENOENT),
            Some(inode) if inode.is_dir() => return Err(Errno::EISDIR),
            Some(_) => {}
        }
        let removed = entries.remove(name).ok_or(Errno::ENOENT)?;
        drop(entries);
        let now = self.shared.now();
        {
            let mut meta = removed.meta.lock();
            meta.nlink = meta.nlink.saturating_sub(1);
            meta.ctime = now;
        }
        self.touch_modified(now);
        Ok(())
    }

    fn rmdir(&self, name: &str) -> VfsResult<()> {
        let entries = self.entries()?;
        let _tree = self.shared.tree_lock.lock();
        let mut entries = entries.write();
        let child = entries.get(name).ok_or(Errno::ENOENT)?;
        // Under the tree lock no other thread holds a second directory lock,
        // so taking the child's after the parent's cannot deadlock.
        if !child.entries()?.read().is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        let removed = entries.remove(name).ok_or(Errno::ENOENT)?;
        drop(entries);
        let now = self.shared.now();
        {
            let mut meta = removed.meta.lock();
            meta.nlink = 0;
            meta.ctime = now;
        }
        *removed.parent.lock() = Weak::new();
        self.touch_modified(now);
        Ok(())
    }

    fn rename(&self, old_name: &str, new_dir: &Arc<dyn Inode>, new_name: &str) -> VfsResult<()> {
        let new_dir = new_dir
            .as_any()
            .downcast_ref::<RamInode>()
            .ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&new_dir.shared, &self.shared) {
            return Err(Errno::EXDEV);
        }
        let old_entries = self.entries()?;
        let new_entries = new_dir.entries()?;
        let same_dir = core::ptr::eq(self, new_dir);
        let _tree = self.shared.tree_lock.lock();
        if self.is_removed() || new_dir.is_removed() {
            return Err(Errno::ENOENT);
        }
        // Lock in inode-number order (the tree lock already excludes other
        // writers; the order keeps this safe on its own too).
        let (mut old_guard, mut new_guard) = if same_dir {
            (old_entries.write(), None)
        } else if self.ino < new_dir.ino {
            let old = old_entries.write();
            (old, Some(new_entries.write()))
        } else {
            let new = new_entries.write();
            (old_entries.write(), Some(new))
        };
        let source = old_guard.get(old_name).ok_or(Errno::ENOENT)?.clone();
        if source.is_dir() && Self::is_within(new_dir, &source) {
            return Err(Errno::EINVAL);
        }
        let target_entries = new_guard.as_deref_mut().unwrap_or(&mut *old_guard);
        let victim = target_entries.get(new_name).cloned();
        if let Some(victim) = &victim {
            if Arc::ptr_eq(victim, &source) {
                // Two names of one inode: POSIX says do nothing.
                return Ok(());
            }
            match (source.is_dir(), victim.is_dir()) {
                (false, true) => return Err(Errno::EISDIR),
                (true, false) => return Err(Errno::ENOTDIR),
                (true, true) => {
                    // The victim may be the source's own directory (then it is
                    // locked above, and certainly not empty).
                    if core::ptr::eq(&**victim, self) || !victim.entries()?.read().is_empty() {
                        return Err(Errno::ENOTEMPTY);
                    }
                }
                (false, false) => {}
            }
        }
        old_guard.remove(old_name);
        let target_entries = new_guard.as_deref_mut().unwrap_or(&mut *old_guard);
        if victim.is_some() {
            target_entries.remove(new_name);
        }
        target_entries.insert(new_name, source.clone());
        drop(new_guard);
        drop(old_guard);

        let now = self.shared.now();
        if source.is_dir() {
            *source.parent.lock() = new_dir.this.clone();
        }
        source.touch_changed(now);
        if let Some(victim) = victim {
            let mut meta = victim.meta.lock();
            meta.nlink = if victim.is_dir() {
                0
            } else {
                meta.nlink.saturating_sub(1)
            };
            meta.ctime = now;
            drop(meta);
            if victim.is_dir() {
                *victim.parent.lock() = Weak::new();
            }
        }
        self.touch_modified(now);
        if !same_dir {
            new_dir.touch_modified(now);
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
