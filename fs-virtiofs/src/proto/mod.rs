//! The FUSE wire protocol (Linux `include/uapi/linux/fuse.h`), version 7.31,
//! the one QEMU's virtiofsd speaks, defined once with zerocopy for the client
//! and for the test servers.
//!
//! Every message starts with a header ([`InHeader`] for requests,
//! [`OutHeader`] for replies) followed by the operation's body structs and
//! NUL-terminated names. virtio-fs carries them in the guest's byte order,
//! which is little-endian on every target this crate builds for.
//!
//! [`reply`] checks what comes back; [`dirent`] walks directory listings.
//! Both treat the other side as hostile.

mod bodies;
pub mod dirent;
pub mod reply;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub use bodies::*;

#[cfg(not(target_endian = "little"))]
compile_error!("virtio-fs messages are little-endian; this crate reads them natively");

/// The protocol major version we speak; a server with another is refused.
pub const KERNEL_VERSION: u32 = 7;
/// The minor version we announce in INIT.
pub const KERNEL_MINOR_VERSION: u32 = 31;
/// The oldest minor version we accept (the 64-byte INIT reply, 7.23).
pub const MIN_MINOR_VERSION: u32 = 23;

/// The node id of the root directory; it is never looked up or forgotten.
pub const ROOT_ID: u64 = 1;
/// Longest name in a directory.
pub const NAME_MAX: usize = 255;
/// Longest symlink target (including its NUL in Linux's count).
pub const PATH_MAX: usize = 4096;
/// Errors a server may return are `-MAX_ERRNO ..= -1`.
pub const MAX_ERRNO: i32 = 4095;
/// Unit of `max_pages` in the INIT reply.
pub const PAGE_SIZE: usize = 4096;
/// Request pages Linux assumes when the server does not set `max_pages`.
pub const DEFAULT_MAX_PAGES: u32 = 32;

macro_rules! opcodes {
    ($($name:ident = $num:expr,)*) => {
        /// Request opcodes (the subset this crate sends or serves).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum Opcode {
            $($name = $num,)*
        }

        impl Opcode {
            /// The opcode with this number, if it is one we know.
            pub fn from_raw(raw: u32) -> Option<Opcode> {
                match raw {
                    $($num => Some(Opcode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

opcodes! {
    Lookup = 1,
    Forget = 2,
    Getattr = 3,
    Setattr = 4,
    Readlink = 5,
    Symlink = 6,
    Mknod = 8,
    Mkdir = 9,
    Unlink = 10,
    Rmdir = 11,
    Rename = 12,
    Link = 13,
    Open = 14,
    Read = 15,
    Write = 16,
    Statfs = 17,
    Release = 18,
    Fsync = 20,
    Flush = 25,
    Init = 26,
    Opendir = 27,
    Readdir = 28,
    Releasedir = 29,
    Fsyncdir = 30,
    Create = 35,
    Destroy = 38,
    BatchForget = 42,
    Readdirplus = 44,
}

/// INIT flags (`fuse_init_in.flags`, `fuse_init_out.flags`).
pub mod init_flags {
    pub const ASYNC_READ: u32 = 1 << 0;
    pub const POSIX_LOCKS: u32 = 1 << 1;
    pub const ATOMIC_O_TRUNC: u32 = 1 << 3;
    pub const EXPORT_SUPPORT: u32 = 1 << 4;
    pub const BIG_WRITES: u32 = 1 << 5;
    pub const DONT_MASK: u32 = 1 << 6;
    pub const AUTO_INVAL_DATA: u32 = 1 << 12;
    pub const DO_READDIRPLUS: u32 = 1 << 13;
    pub const READDIRPLUS_AUTO: u32 = 1 << 14;
    pub const WRITEBACK_CACHE: u32 = 1 << 16;
    pub const PARALLEL_DIROPS: u32 = 1 << 18;
    pub const MAX_PAGES: u32 = 1 << 22;
    pub const CACHE_SYMLINKS: u32 = 1 << 23;
    pub const EXPLICIT_INVAL_DATA: u32 = 1 << 25;
}

/// `fuse_setattr_in.valid` bits.
pub mod fattr {
    pub const MODE: u32 = 1 << 0;
    pub const UID: u32 = 1 << 1;
    pub const GID: u32 = 1 << 2;
    pub const SIZE: u32 = 1 << 3;
    pub const ATIME: u32 = 1 << 4;
    pub const MTIME: u32 = 1 << 5;
    pub const FH: u32 = 1 << 6;
    pub const ATIME_NOW: u32 = 1 << 7;
    pub const MTIME_NOW: u32 = 1 << 8;
    pub const CTIME: u32 = 1 << 10;
}

/// `fuse_open_out.open_flags` bits.
pub mod fopen {
    pub const DIRECT_IO: u32 = 1 << 0;
    pub const KEEP_CACHE: u32 = 1 << 1;
    pub const NONSEEKABLE: u32 = 1 << 2;
    pub const CACHE_DIR: u32 = 1 << 3;
}

/// `fuse_getattr_in.getattr_flags`: `fh` is valid.
pub const GETATTR_FH: u32 = 1 << 0;
/// `fuse_fsync_in.fsync_flags`: data only.
pub const FSYNC_FDATASYNC: u32 = 1 << 0;

/// Header of every request.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct InHeader {
    /// Length of the whole request, header included.
    pub len: u32,
    pub opcode: u32,
    /// Request id, echoed by the reply.
    pub unique: u64,
    /// The node the request is about (0 for INIT, DESTROY, BATCH_FORGET).
    pub nodeid: u64,
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
    pub total_extlen: u16,
    pub padding: u16,
}

/// Header of every reply.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct OutHeader {
    /// Length of the whole reply, header included.
    pub len: u32,
    /// 0, or a negated errno (then the reply is only this header).
    pub error: i32,
    pub unique: u64,
}

/// Size of [`InHeader`] on the wire.
pub const IN_HEADER_LEN: usize = size_of::<InHeader>();
/// Size of [`OutHeader`] on the wire.
pub const OUT_HEADER_LEN: usize = size_of::<OutHeader>();

const _: () = assert!(IN_HEADER_LEN == 40 && OUT_HEADER_LEN == 16);
