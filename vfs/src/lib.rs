//! The VFS core of the unikernel filesystem subsystem.
//!
//! `no_std` + `alloc`. It owns the mount, dentry, vnode and open-file tables,
//! resolves paths, and offers a POSIX-like API on a [`Vfs`] value (no hidden
//! globals: the kernel owns one, tests make their own). Filesystems plug in
//! through the traits in [`backend`].

#![no_std]

extern crate alloc;

pub mod backend;
pub mod errno;

pub use backend::*;
pub use errno::{Errno, VfsResult};

// --- API SKELETON: the signatures below are the contract; bodies are filled in by the vfs work. ---

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// A file descriptor. Negative or unknown values give EBADF.
pub type Fd = i32;

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

/// The virtual filesystem: one namespace of mounts and one table of open files.
pub struct Vfs {
    _private: (),
}

#[allow(unused_variables)]
impl Vfs {
    /// A VFS with nothing mounted. Files created through it take their times from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Vfs { todo!() }
    /// Register a filesystem type by name ("rofs", "ramfs", "devfs").
    pub fn register_fs(&self, name: &'static str, ctor: FsConstructor) -> VfsResult<()> { todo!() }
    /// Mount a filesystem of type `fs_type` on `target`. `source` is a path to a block-device
    /// node (resolved through the VFS, e.g. "/dev/vblk0") or None. The first mount must be on "/".
    pub fn mount(&self, source: Option<&str>, target: &str, fs_type: &str, flags: MountFlags, options: &str) -> VfsResult<()> { todo!() }
    /// Mount an already-constructed filesystem on `target`.
    pub fn mount_fs(&self, fs: Arc<dyn FileSystem>, source: &str, target: &str, flags: MountFlags, options: &str) -> VfsResult<()> { todo!() }
    /// Unmount the filesystem mounted at `target`. EBUSY with open files or submounts.
    pub fn umount(&self, target: &str) -> VfsResult<()> { todo!() }
    /// Make the mount at `new_root` the root; the old root is moved to `put_old` (a directory under new_root).
    pub fn pivot_root(&self, new_root: &str, put_old: &str) -> VfsResult<()> { todo!() }
    /// The mount table, in mount order.
    pub fn mounts(&self) -> Vec<MountInfo> { todo!() }
    pub fn statfs(&self, path: &str) -> VfsResult<StatFs> { todo!() }
    pub fn sync(&self) -> VfsResult<()> { todo!() }

    pub fn open(&self, path: &str, flags: OpenFlags, mode: u32) -> VfsResult<Fd> { todo!() }
    pub fn close(&self, fd: Fd) -> VfsResult<()> { todo!() }
    pub fn dup(&self, fd: Fd) -> VfsResult<Fd> { todo!() }
    pub fn dup2(&self, old: Fd, new: Fd) -> VfsResult<Fd> { todo!() }

    pub fn read(&self, fd: Fd, buf: &mut [u8]) -> VfsResult<usize> { todo!() }
    pub fn write(&self, fd: Fd, buf: &[u8]) -> VfsResult<usize> { todo!() }
    pub fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> VfsResult<usize> { todo!() }
    pub fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> VfsResult<usize> { todo!() }
    /// EINVAL when the result would be negative.
    pub fn lseek(&self, fd: Fd, offset: i64, whence: Whence) -> VfsResult<u64> { todo!() }
    pub fn truncate(&self, path: &str, len: u64) -> VfsResult<()> { todo!() }
    pub fn ftruncate(&self, fd: Fd, len: u64) -> VfsResult<()> { todo!() }
    pub fn fsync(&self, fd: Fd) -> VfsResult<()> { todo!() }

    pub fn stat(&self, path: &str) -> VfsResult<Stat> { todo!() }
    pub fn lstat(&self, path: &str) -> VfsResult<Stat> { todo!() }
    pub fn fstat(&self, fd: Fd) -> VfsResult<Stat> { todo!() }
    pub fn chmod(&self, path: &str, mode: u32) -> VfsResult<()> { todo!() }
    /// None leaves a time unchanged.
    pub fn utimens(&self, path: &str, atime: Option<Timespec>, mtime: Option<Timespec>) -> VfsResult<()> { todo!() }

    /// Up to `max` entries from the directory open at `fd`, continuing where the last call
    /// stopped (a stable cookie kept in the open file). Includes "." and "..". Empty at the end.
    pub fn getdents(&self, fd: Fd, max: usize) -> VfsResult<Vec<DirEntry>> { todo!() }
    /// All entries of the directory at `path`, without "." and "..".
    pub fn read_dir(&self, path: &str) -> VfsResult<Vec<DirEntry>> { todo!() }
    pub fn mkdir(&self, path: &str, mode: u32) -> VfsResult<()> { todo!() }
    pub fn rmdir(&self, path: &str) -> VfsResult<()> { todo!() }

    pub fn unlink(&self, path: &str) -> VfsResult<()> { todo!() }
    pub fn link(&self, old: &str, new: &str) -> VfsResult<()> { todo!() }
    pub fn symlink(&self, target: &str, link_path: &str) -> VfsResult<()> { todo!() }
    pub fn readlink(&self, path: &str) -> VfsResult<String> { todo!() }
    pub fn rename(&self, old: &str, new: &str) -> VfsResult<()> { todo!() }

    pub fn chdir(&self, path: &str) -> VfsResult<()> { todo!() }
    pub fn getcwd(&self) -> VfsResult<String> { todo!() }

    /// Convenience: the whole contents of the file at `path`.
    pub fn read_file(&self, path: &str) -> VfsResult<Vec<u8>> { todo!() }
    /// Convenience: create or replace the file at `path` with `data`.
    pub fn write_file(&self, path: &str, data: &[u8]) -> VfsResult<()> { todo!() }
}
