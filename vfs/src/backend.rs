//! The contract between the VFS and filesystem backends.
//!
//! A backend implements [`FileSystem`] once per mounted instance and [`Inode`]
//! for each of its objects, and registers a [`FsType`](crate::FsType) that
//! builds instances. Every [`Inode`] method that changes state has a default
//! that returns the right error, so a read-only backend implements only
//! `ino`, `file_type`, `getattr`, `lookup`, `read_at`, `readdir` and
//! `readlink`.
//!
//! Division of labour, so that backends stay small and consistent:
//! - The VFS resolves paths, follows symlinks, checks `.`/`..`, name lengths,
//!   read-only mounts (EROFS), file types for the POSIX errno rules (EISDIR,
//!   ENOTDIR, ENOTEMPTY is the backend's), cross-mount EXDEV, and open flags.
//!   Backends never see `.` or `..` in `lookup`, `create`, `unlink` etc., and
//!   never parse paths.
//! - Backends own their data, nlink counts, timestamps and space accounting.
//! - An [`Inode`] stays alive while any `Arc` to it exists: an unlinked file
//!   keeps working through open file descriptors until the last one closes.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::any::Any;

use drivers::BlockDevice;

use crate::OpenFlags;
use crate::errno::{Errno, VfsResult};
use crate::types::{DirEntryRef, FileType, InodeNo, SetAttr, Stat, StatFs};

/// What [`Inode::readdir`] calls for each entry: `sink(entry, next_cookie)`,
/// returning `false` to stop.
pub type DirSink<'a> = dyn FnMut(DirEntryRef<'_>, u64) -> bool + 'a;

/// A filesystem object. Implementations use interior mutability and must be
/// safe to call from several threads.
pub trait Inode: Send + Sync {
    /// Inode number, unique within its filesystem. Two names of one inode
    /// (hard links) return the same number, so the VFS shares their vnode.
    fn ino(&self) -> InodeNo;

    /// The object's type. Cheap: the VFS calls it on every path step.
    fn file_type(&self) -> FileType;

    /// Full attributes.
    fn getattr(&self) -> VfsResult<Stat>;

    /// Change attributes (chmod, chown, utimens).
    fn setattr(&self, _attr: &SetAttr) -> VfsResult<()> {
        Err(Errno::EPERM)
    }

    /// Look up `name` in this directory. `name` is never empty, `.` or `..`.
    fn lookup(&self, _name: &str) -> VfsResult<Arc<dyn Inode>> {
        Err(Errno::ENOTDIR)
    }

    /// Read at byte offset `offset`. Returns 0 at or past the end.
    fn read_at(&self, _offset: u64, _buf: &mut [u8]) -> VfsResult<usize> {
        Err(self.not_a_file())
    }

    /// Write at byte offset `offset`, growing the file as needed.
    fn write_at(&self, _offset: u64, _buf: &[u8]) -> VfsResult<usize> {
        Err(match self.file_type() {
            FileType::Directory => Errno::EISDIR,
            _ => Errno::EPERM,
        })
    }

    /// Set the file size, zero-filling on growth.
    fn truncate(&self, _size: u64) -> VfsResult<()> {
        Err(match self.file_type() {
            FileType::Directory => Errno::EISDIR,
            _ => Errno::EPERM,
        })
    }

    /// Flush this inode's data to stable storage.
    fn fsync(&self) -> VfsResult<()> {
        Ok(())
    }

    /// Read directory entries starting at `cookie` (0 is the start). The
    /// backend calls `sink(entry, next_cookie)` for each entry; `next_cookie`
    /// resumes right after that entry. It stops when `sink` returns `false`.
    /// Cookies must stay valid while entries are added or removed, so a
    /// directory can be read across calls. Backends do not emit `.` or `..`;
    /// the VFS adds them. Call `sink` with no lock held that a lookup or
    /// readdir would take: [`Vfs::read_dir_with`](crate::Vfs::read_dir_with)
    /// runs its caller's code there (`ls -R` lists subdirectories from it).
    fn readdir(&self, _cookie: u64, _sink: &mut DirSink<'_>) -> VfsResult<()> {
        Err(Errno::ENOTDIR)
    }

    /// The target of a symlink.
    fn readlink(&self) -> VfsResult<String> {
        Err(Errno::EINVAL)
    }

    /// Create a regular file, device node, fifo or socket named `name` in this
    /// directory with the full `mode` (type and permission bits). EEXIST if
    /// the name exists.
    fn create(&self, _name: &str, _mode: u32, _rdev: u64) -> VfsResult<Arc<dyn Inode>> {
        Err(self.not_a_dir_or(Errno::EPERM))
    }

    /// Create a directory. EEXIST if the name exists.
    fn mkdir(&self, _name: &str, _mode: u32) -> VfsResult<Arc<dyn Inode>> {
        Err(self.not_a_dir_or(Errno::EPERM))
    }

    /// Create a symlink to `target`. EEXIST if the name exists.
    fn symlink(&self, _name: &str, _target: &str) -> VfsResult<Arc<dyn Inode>> {
        Err(self.not_a_dir_or(Errno::EPERM))
    }

    /// Add a hard link `name` to `target`, an inode of the same filesystem
    /// (the VFS checks that, and that it is not a directory).
    fn link(&self, _name: &str, _target: &Arc<dyn Inode>) -> VfsResult<()> {
        Err(self.not_a_dir_or(Errno::EPERM))
    }

    /// Remove the non-directory entry `name` (the VFS checked the type).
    fn unlink(&self, _name: &str) -> VfsResult<()> {
        Err(self.not_a_dir_or(Errno::EPERM))
    }

    /// Remove the empty directory `name`; ENOTEMPTY if it has entries.
    fn rmdir(&self, _name: &str) -> VfsResult<()> {
        Err(self.not_a_dir_or(Errno::EPERM))
    }

    /// Move `old_name` in this directory to `new_name` in `new_dir`, a
    /// directory of the same filesystem, replacing what is there. The VFS has
    /// already checked the POSIX rules that need only types and paths
    /// (EISDIR, ENOTDIR, EINVAL for a directory into its own subtree, same
    /// inode is a no-op); the backend checks ENOTEMPTY for a replaced
    /// directory.
    fn rename(&self, _old_name: &str, _new_dir: &Arc<dyn Inode>, _new_name: &str) -> VfsResult<()> {
        Err(self.not_a_dir_or(Errno::EPERM))
    }

    /// Called when a file is opened. A backend that keeps state per open
    /// file (read-ahead, a server-side handle, a directory listing snapshot)
    /// returns it as a [`FileHandle`]; the VFS then sends that open file's
    /// I/O through the handle and drops it on the last close. Default: no
    /// handle, I/O goes to the inode.
    fn open(&self, _flags: OpenFlags) -> VfsResult<Option<Box<dyn FileHandle>>> {
        Ok(None)
    }

    /// Device- or backend-specific control requests.
    fn ioctl(&self, _request: u32, _arg: usize) -> VfsResult<usize> {
        Err(Errno::ENOTTY)
    }

    /// For a block-device node: the device itself, so `mount /dev/vblk0`
    /// can hand it to a filesystem constructor.
    fn block_device(&self) -> Option<Arc<dyn BlockDevice>> {
        None
    }

    /// For downcasting to the backend's concrete type (rename and link need
    /// the other directory's real type).
    fn as_any(&self) -> &dyn Any;

    /// EISDIR for a directory, EINVAL otherwise (the default for I/O on a
    /// type that has no data).
    fn not_a_file(&self) -> Errno {
        match self.file_type() {
            FileType::Directory => Errno::EISDIR,
            _ => Errno::EINVAL,
        }
    }

    /// ENOTDIR if this inode is not a directory, else `otherwise`.
    fn not_a_dir_or(&self, otherwise: Errno) -> Errno {
        if self.file_type() == FileType::Directory {
            otherwise
        } else {
            Errno::ENOTDIR
        }
    }
}

/// Per-open-file state a backend returns from [`Inode::open`]. The VFS keeps
/// it in the open file description (shared by `dup`ed descriptors) and calls
/// it, with the file's inode, for that file's I/O. Every method defaults to
/// the inode's own, so a handle overrides only what it changes. Dropping it
/// is the release (the last close).
pub trait FileHandle: Send + Sync {
    fn read_at(&self, inode: &dyn Inode, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        inode.read_at(offset, buf)
    }

    fn write_at(&self, inode: &dyn Inode, offset: u64, buf: &[u8]) -> VfsResult<usize> {
        inode.write_at(offset, buf)
    }

    fn readdir(&self, inode: &dyn Inode, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        inode.readdir(cookie, sink)
    }

    fn fsync(&self, inode: &dyn Inode) -> VfsResult<()> {
        inode.fsync()
    }
}

/// One mounted instance of a filesystem.
pub trait FileSystem: Send + Sync {
    /// The root directory.
    fn root(&self) -> VfsResult<Arc<dyn Inode>>;

    /// The name of its [`FsType`](crate::FsType) ("rofs", "ramfs", "devfs").
    fn fs_type(&self) -> &'static str;

    /// Whether this filesystem can never be written. The VFS then treats
    /// every mount of it as read-only and answers EROFS itself.
    fn is_read_only(&self) -> bool {
        false
    }

    /// Filesystem-wide figures.
    fn statfs(&self) -> VfsResult<StatFs> {
        Err(Errno::ENOSYS)
    }

    /// Flush everything to stable storage.
    fn sync(&self) -> VfsResult<()> {
        Ok(())
    }

    /// Called once when the last mount of this instance goes away.
    fn unmount(&self) -> VfsResult<()> {
        Ok(())
    }
}
