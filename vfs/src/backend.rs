//! The contract between the VFS and filesystem backends.
//!
//! A backend implements [`FileSystem`] once per mounted instance and [`Inode`]
//! for each of its objects. Every [`Inode`] method that changes state has a
//! default that returns the right error, so a read-only backend implements only
//! `ino`, `file_type`, `getattr`, `lookup`, `read_at`, `readdir` and `readlink`.
//!
//! Division of labour, so that backends stay small and consistent:
//! - The VFS resolves paths, follows symlinks, checks `.`/`..`, name lengths,
//!   read-only mounts (EROFS), file types for the POSIX errno rules (EISDIR,
//!   ENOTDIR, ENOTEMPTY is the backend's), cross-mount EXDEV, and open flags.
//!   Backends never see `.` or `..` in `lookup`, `create`, `unlink` etc.
//! - Backends own their data, nlink counts, timestamps and space accounting.
//! - An [`Inode`] stays alive while any `Arc` to it exists: an unlinked file
//!   keeps working through open file descriptors until the last one closes.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use crate::errno::{Errno, VfsResult};

/// Inode number, unique within one filesystem instance.
pub type InodeNo = u64;

/// The kind of a filesystem object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileType {
    /// The `S_IFMT` bits of `st_mode` for this type.
    pub const fn mode_bits(self) -> u32 {
        match self {
            FileType::Fifo => 0o010000,
            FileType::CharDevice => 0o020000,
            FileType::Directory => 0o040000,
            FileType::BlockDevice => 0o060000,
            FileType::Regular => 0o100000,
            FileType::Symlink => 0o120000,
            FileType::Socket => 0o140000,
        }
    }

    /// The type encoded in the `S_IFMT` bits of `mode`, if any.
    pub const fn from_mode(mode: u32) -> Option<FileType> {
        match mode & S_IFMT {
            0o010000 => Some(FileType::Fifo),
            0o020000 => Some(FileType::CharDevice),
            0o040000 => Some(FileType::Directory),
            0o060000 => Some(FileType::BlockDevice),
            0o100000 => Some(FileType::Regular),
            0o120000 => Some(FileType::Symlink),
            0o140000 => Some(FileType::Socket),
            _ => None,
        }
    }

    /// The `d_type` value Linux's getdents64 reports.
    pub const fn dirent_type(self) -> u8 {
        match self {
            FileType::Fifo => 1,
            FileType::CharDevice => 2,
            FileType::Directory => 4,
            FileType::BlockDevice => 6,
            FileType::Regular => 8,
            FileType::Symlink => 10,
            FileType::Socket => 12,
        }
    }
}

/// Mask of the file-type bits in a mode.
pub const S_IFMT: u32 = 0o170000;
/// Mask of the permission bits (including setuid, setgid, sticky) in a mode.
pub const S_IPERM: u32 = 0o7777;

/// A point in time: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: u32,
}

impl Timespec {
    pub const ZERO: Timespec = Timespec { sec: 0, nsec: 0 };

    pub const fn new(sec: i64, nsec: u32) -> Self {
        Timespec { sec, nsec }
    }
}

/// A source of wall-clock time, given to backends that keep timestamps.
/// The host uses real time; the kernel uses its calibrated TSC clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timespec;
}

/// A clock that always reads the same time (reproducible images and tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedClock(pub Timespec);

impl Clock for FixedClock {
    fn now(&self) -> Timespec {
        self.0
    }
}

/// Attributes of an inode, as `stat` reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Device id of the filesystem; the VFS fills in the mount's id.
    pub dev: u64,
    pub ino: InodeNo,
    /// Full mode: `S_IFMT` type bits and permission bits.
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    /// Device number for character and block device nodes.
    pub rdev: u64,
    pub size: u64,
    pub blksize: u32,
    /// Space used, in 512-byte units.
    pub blocks: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

impl Stat {
    pub fn file_type(&self) -> Option<FileType> {
        FileType::from_mode(self.mode)
    }
}

/// Filesystem-wide figures, as `statfs` reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    /// A magic number identifying the filesystem type.
    pub fs_type: u64,
    pub block_size: u32,
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
    pub name_max: u32,
}

/// One entry produced by [`Inode::readdir`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: InodeNo,
    pub file_type: FileType,
    pub name: String,
}

/// Attribute changes for [`Inode::setattr`]. `None` leaves a field as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// New permission bits (only `S_IPERM` bits are used).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub atime: Option<Timespec>,
    pub mtime: Option<Timespec>,
}

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
    /// the VFS adds them.
    fn readdir(&self, _cookie: u64, _sink: &mut dyn FnMut(DirEntry, u64) -> bool) -> VfsResult<()> {
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

    /// Called when a file is opened (devices use it). Default: nothing.
    fn open(&self, _flags: u32) -> VfsResult<()> {
        Ok(())
    }

    /// Device- or backend-specific control requests.
    fn ioctl(&self, _request: u32, _arg: usize) -> VfsResult<usize> {
        Err(Errno::ENOTTY)
    }

    /// For a block-device node: the device itself, so `mount /dev/vblk0`
    /// can hand it to a filesystem constructor (see [`AnyDevice`]).
    fn block_device(&self) -> Option<AnyDevice> {
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

/// One mounted instance of a filesystem.
pub trait FileSystem: Send + Sync {
    /// The root directory.
    fn root(&self) -> VfsResult<Arc<dyn Inode>>;

    /// The type name it was registered under ("rofs", "ramfs", "devfs").
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

/// A block device handed through the VFS without the VFS knowing its type.
///
/// By convention it holds an `Arc<dyn drivers::BlockDevice>`; a backend gets it
/// back with `device.downcast_ref::<Arc<dyn drivers::BlockDevice>>()`. This
/// keeps `vfs` free of any dependency on `drivers`.
pub type AnyDevice = Arc<dyn Any + Send + Sync>;

/// What a filesystem is constructed from.
#[derive(Clone)]
pub enum MountSource {
    /// Nothing (ramfs, devfs).
    None,
    /// A block device, with the name it was given (such as `/dev/vblk0`).
    Device { name: String, device: AnyDevice },
}

/// Environment handed to filesystem constructors.
#[derive(Clone)]
pub struct MountContext {
    pub source: MountSource,
    /// The options string, such as `"size=64M"` or `"verify"`; may be empty.
    pub options: String,
    pub clock: Arc<dyn Clock>,
}

/// A constructor for one filesystem type, registered by name in the VFS.
pub type FsConstructor = fn(&MountContext) -> VfsResult<Arc<dyn FileSystem>>;

/// Split an options string `"a=1,b,c=x"` into `(key, value)` pairs, for
/// backends parsing their mount options.
pub fn parse_options(options: &str) -> Vec<(&str, Option<&str>)> {
    options
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| match o.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (o, None),
        })
        .collect()
}

/// Parse a size such as `"64M"`, `"4096"`, `"1G"`, `"512k"`. None on
/// malformed input or overflow.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        b't' | b'T' => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    value.checked_mul(1u64 << shift)
}
