//! ramfs inodes: regular files (sparse pages), directories (sorted maps
//! with stable cookies), symlinks and device nodes, and the `vfs::Inode`
//! operations on them.

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use core::any::Any;
use core::sync::atomic::Ordering;

use spin::{Mutex, RwLock};
use vfs::{
    DirEntryRef, DirSink, Errno, FileType, Inode, InodeNo, S_IPERM, SetAttr, Stat, Timespec,
    VfsResult,
};

use crate::dir::DirEntries;
use crate::pages::Pages;
use crate::{ATIME_REFRESH_SECS, BLOCK_SIZE, DIRENT_SIZE, READDIR_BATCH, Shared};

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

pub(crate) enum Body {
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
    pub(crate) fn new_unchecked(
        shared: &Arc<Shared>,
        kind: FileType,
        perm: u32,
        body: Body,
    ) -> Arc<Self> {
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
