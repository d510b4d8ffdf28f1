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
mod inode;
mod pages;
#[cfg(test)]
mod tests;

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::{Mutex, RwLock};
use vfs::{
    Clock, Errno, FileSystem, FileType, FsType, Inode, MountContext, S_IPERM, StatFs, Timespec,
    VfsResult,
};

use dir::DirEntries;
use inode::Body;
pub use inode::RamInode;
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
