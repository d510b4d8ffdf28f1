//! The plain data types of the backend contract: file types, times, `stat`
//! and `statfs` records, directory entries and attribute changes.

use alloc::string::String;

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

/// One directory entry as a backend hands it to a readdir sink: borrowed,
/// so listing a directory allocates nothing per entry in the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntryRef<'a> {
    pub ino: InodeNo,
    pub file_type: FileType,
    pub name: &'a str,
}

impl DirEntryRef<'_> {
    /// An owned copy, for callers that keep entries ([`crate::Vfs::getdents`]).
    pub fn to_entry(&self) -> DirEntry {
        DirEntry {
            ino: self.ino,
            file_type: self.file_type,
            name: String::from(self.name),
        }
    }
}

/// One directory entry as the VFS returns it from `getdents` and `read_dir`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: InodeNo,
    pub file_type: FileType,
    pub name: String,
}

/// Attribute changes for [`Inode::setattr`](crate::Inode::setattr). `None` leaves a field as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// New permission bits (only `S_IPERM` bits are used).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub atime: Option<Timespec>,
    pub mtime: Option<Timespec>,
}
