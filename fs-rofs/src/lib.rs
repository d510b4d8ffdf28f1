//! ROFS: the read-only root filesystem image, in OSv's format (v1) and ours
//! (v2, and v3 read on demand).
//!
//! - The reader ([`RofsFs`], registered as `"rofs"` through [`RofsType`]) is
//!   `no_std` + `alloc` and safe code only. Mount reads the superblock and then
//!   the whole metadata region in one request, checks its CRC32s (v2), and
//!   validates every table and the directory tree before anything trusts them;
//!   afterwards lookups are binary searches. File data is read through the
//!   VFS's page cache (`pagecache::CachedDevice`), keyed by device block so
//!   deduplicated contents are cached once; each open file has a handle
//!   holding its read-ahead state (`handle`), reads through the inode alone
//!   (pread) are cached without read-ahead. The v1/v2 tables are loaded
//!   once at mount, past the cache.
//! - Version 3 (`image/v3`) keeps nothing resident but the superblock:
//!   mount reads block 0 and the root inode; inodes (addressed by their
//!   byte position, so no table) and sorted directory entry blocks are
//!   read on demand through the page cache, each 4 KiB metadata block
//!   checked against its own CRC32 when it enters the cache. Small files
//!   are inline next to their inode; file data may be LZ4 clusters,
//!   decompressed per cluster into the cache. Directory loops are
//!   impossible to follow: a directory names the one entry allowed to
//!   reach it (see `FORMAT.md`).
//! - Bad input never panics: a malformed image gives an [`Errno`](vfs::Errno)
//!   (EINVAL when it is not ROFS, EIO when it breaks a rule of the format,
//!   ENOMEM when its tables do not fit in memory: every allocation sized by
//!   image data is fallible). Directories must form a tree (each reached from
//!   the root through exactly one entry), so no walker can loop.
//! - [`inspect`] and [`verify`] report on an image for host tools, with the
//!   same [`Problem`] text that made mount refuse it.
//! - The writer (module `writer`, feature `std`) streams file data into the
//!   image, deduplicating identical contents, then writes the metadata and
//!   lastly the superblock.
//!
//! Layout of the code: `format` (on-disk structs, `Raw*`), `image` (the
//! loaded image and its accessors, with one module per version holding its
//! loader and resident tables), `validate` (every rule once, each returning
//! a [`Problem`]), `fs`/`inode` (the VFS backend), `report` (inspect and
//! verify). A new format version adds `image/vN.rs` and a `Layout` variant.
//!
//! The byte-level layout of both versions is documented in `FORMAT.md` next to
//! this crate's `Cargo.toml`; the structs are in [`format`].

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod crc;
mod data;
mod error;
mod fs;
mod handle;
mod image;
mod inode;
mod mem;
mod problem;
mod report;
mod validate;

pub mod format;
#[cfg(feature = "std")]
pub mod writer;

pub use error::RofsError;
pub use fs::{RofsFs, RofsType};
pub use inode::RofsInode;
pub use problem::{Problem, Table};
pub use report::{ImageInfo, VerifyProblem, VerifyReport, inspect, verify};
