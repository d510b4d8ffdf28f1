//! The VFS core of the unikernel filesystem subsystem.
//!
//! `no_std` + `alloc`. It owns the mount, dentry, vnode and open-file tables,
//! resolves paths, and offers a POSIX-like API on a [`Vfs`] value (no hidden
//! globals: the kernel owns one, tests make their own). Filesystems plug in
//! through the traits in [`backend`].
//!
//! # Structure
//! The API is one [`Vfs`] value whose methods live in one file per concept,
//! each an `impl Vfs` block:
//! - `resolve`: path walks through the dentry cache, parent lookups, cwd.
//! - `mount`: the type registry, making mounts (on a directory, on `/`, or
//!   hidden as `@name`); `layers`: `lowerdir=`/`upperdir=` options resolved
//!   into [`MountSource::Layers`] and the pins on the layers' mounts;
//!   `unmount`: umount and pivot_root; `mount_table`: mounts, statfs, sync.
//! - `namespace`: create, mkdir, link, symlink, mknod, unlink, rmdir, rename.
//! - `io`: open, close, dup, read, write, seek, truncate, fsync, whole files.
//! - `dir`: getdents, read_dir and the streaming read_dir_with, directory
//!   seeks.
//! - `attr`: stat, lstat, fstat, readlink, chmod, chown, lchown, utimens.
//!
//! The tables they share:
//! - `tree`: the namespace, i.e. the dentry cache (a slab of dentries, each
//!   directory mapping child names to ids, with negative entries) and the
//!   mount table, under one reader-writer lock. A hidden mount has a root
//!   dentry of its own that no dentry of the tree leads to.
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
//! A mount's layer pins (how many stacked mounts use it as a layer) and the
//! list of mounts a stacked mount pins are part of the mount table, so they
//! change only under the `tree` write lock, atomically with umount's check.
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
mod children;
pub mod errno;
mod file;
pub mod fstype;
pub mod path;
mod tree;
pub mod types;
mod vnode;

// The `impl Vfs` blocks, one file per concept (see Structure above).
mod attr;
mod dir;
mod io;
mod layers;
mod mount;
mod mount_table;
mod namespace;
mod resolve;
mod unmount;

#[cfg(test)]
mod testfs;
#[cfg(test)]
mod tests;

pub use backend::*;
pub use errno::{Errno, VfsResult};
pub use fstype::*;
/// The page cache crate, for backends that read through [`MountContext::cache`].
pub use pagecache;
pub use types::*;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::AtomicU64;

use pagecache::PageCache;
use spin::{Mutex, RwLock};

use file::FdTable;
use tree::Tree;
use vnode::VnodeTable;

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
    /// Absolute path of the mount point, or `@name` for a hidden mount.
    pub target: String,
    pub fs_type: String,
    pub flags: MountFlags,
    pub options: String,
    /// Device id reported in `Stat::dev` for files on this mount.
    pub dev: u64,
}

/// Largest file offset (Linux's `loff_t` is signed).
pub(crate) const MAX_OFFSET: u64 = i64::MAX as u64;

/// The virtual filesystem: one namespace of mounts and one table of open files.
pub struct Vfs {
    clock: Arc<dyn Clock>,
    cache: Arc<PageCache>,
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

/// Page-cache budget of [`Vfs::new`] (host tools and tests; the kernel
/// sizes its cache from the command line with [`Vfs::with_cache`]).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

impl Vfs {
    /// A VFS with nothing mounted and a page cache of [`DEFAULT_CACHE_BYTES`].
    /// Files created through it take their times from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Vfs {
        Vfs::with_cache(clock, PageCache::new(DEFAULT_CACHE_BYTES))
    }

    /// A VFS whose mounts all read through `cache` (one budget for all).
    pub fn with_cache(clock: Arc<dyn Clock>, cache: Arc<PageCache>) -> Vfs {
        Vfs::with_limits(clock, cache, DEFAULT_MAX_FDS)
    }

    /// Like [`Vfs::new`] with a different descriptor limit.
    pub fn with_max_fds(clock: Arc<dyn Clock>, max_fds: usize) -> Vfs {
        Vfs::with_limits(clock, PageCache::new(DEFAULT_CACHE_BYTES), max_fds)
    }

    fn with_limits(clock: Arc<dyn Clock>, cache: Arc<PageCache>, max_fds: usize) -> Vfs {
        Vfs {
            clock,
            cache,
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

    /// The page cache handed to filesystems constructed by [`Vfs::mount`].
    pub fn cache(&self) -> &Arc<PageCache> {
        &self.cache
    }

    /// Bound the dentry cache to about `limit` positive entries (default
    /// [`DEFAULT_DENTRY_LIMIT`]); past it the oldest unused leaves are
    /// dropped and looked up again when next needed. Entries in use (open,
    /// a cwd, a mount point, a directory with cached children) stay, so
    /// the bound can be exceeded by what is in use.
    pub fn set_dentry_limit(&self, limit: usize) {
        self.tree.write().set_positive_limit(limit);
    }

    /// Positive dentries cached now (for tests and `cachestat`-like reports).
    pub fn cached_dentries(&self) -> usize {
        self.tree.read().positive_count()
    }
}

/// Positive dentries kept by default (a few tens of MiB at most on the host).
pub const DEFAULT_DENTRY_LIMIT: usize = tree::DEFAULT_POSITIVE_LIMIT;
