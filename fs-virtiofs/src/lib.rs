//! virtio-fs for the VFS: a FUSE client backend over a message transport
//! (`no_std` + `alloc`).
//!
//! The host runs a FUSE server (QEMU's `virtiofsd`) on a directory; the
//! guest's virtio-fs device (`drivers::virtio_fs`, feature `virtio`) carries
//! FUSE messages to it. This crate speaks the protocol ([`proto`], version
//! 7.31) over any [`FuseTransport`], so host tests run it against an
//! in-process server on a temporary directory.
//!
//! - [`VirtioFsType`] is the `virtiofs` filesystem type: the mount source is
//!   a device tag (`mount -t virtiofs share /mnt`). Each mount of a tag
//!   shares one FUSE session; unmount sends DESTROY.
//! - Nodes: one [`vfs::Inode`] object per server node id, counting the
//!   lookups the server made for it and sending FORGET (batched, on the
//!   device's high-priority queue) when it drops. Inode numbers are the
//!   host's.
//! - Open files and directories hold the server's fh in a
//!   [`vfs::FileHandle`]; dropping it is the RELEASE. A CREATE's fh serves
//!   the open that follows it.
//! - READ and WRITE go straight between the caller's buffer and the
//!   transport, one request per `max_read` / `max_write` bytes (virtiofsd:
//!   1 MiB). Readdir cookies are the server's offsets.
//! - Every reply is checked before use ([`proto::reply`],
//!   [`proto::dirent`]); bad replies and transport failures are EIO (or the
//!   errno the server named), never a panic or a hang.
//!
//! # Cache policy
//! Attributes are kept for the `attr_valid` time the server grants, on the
//! mount's clock, and dropped early on any local change (see
//! `attr_cache`). File data goes through the VFS's shared page cache (one
//! space per mount, keyed by node id), close-to-open by mtime and size:
//! kept across opens while the server reports the mtime and size it had
//! when cached, dropped when a fresh attribute reply differs (every open
//! without `FOPEN_KEEP_CACHE` fetches one), write-through with the written
//! pages dropped; an open with `FOPEN_DIRECT_IO` (virtiofsd `cache=none`)
//! bypasses it (`data_cache` has the details).
//!
//! Names are the VFS's to cache, and today it keeps them (positive and
//! negative) until the guest itself changes them: `entry_valid` is not
//! honoured, so a name the host adds, removes or renames behind a name the
//! guest already looked up is not seen until that dentry goes. Listings and
//! file contents always show the host's current state.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod attr_cache;
mod data_cache;
mod dir;
mod fs;
mod handle;
mod inode;
mod ops;
pub mod proto;
mod session;

pub use data_cache::FILL;
pub use dir::MAX_ENTRIES;
pub use drivers::{FuseTransport, TransportError};
pub use fs::{VirtioFs, VirtioFsType};
pub use ops::FUSE_SUPER_MAGIC;
pub use session::{InitError, Params};
