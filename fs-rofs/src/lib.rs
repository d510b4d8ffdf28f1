//! ROFS: the read-only root filesystem image, in OSv's format (v1) and ours (v2).
//!
//! - The reader ([`RofsFs`], registered as `"rofs"` through [`RofsType`]) is
//!   `no_std` + `alloc` and safe code only. Mount reads the superblock and then
//!   the whole metadata region in one request, checks its CRC32s (v2), and
//!   validates every table before anything trusts it; afterwards lookups are a
//!   binary search over fixed-size entries (v2) and file reads go straight from
//!   the device into the caller's buffer. Any malformed image gives an
//!   [`Errno`](vfs::Errno) (EINVAL when it is not ROFS, EIO when it is corrupt),
//!   never a panic.
//! - [`inspect`] and [`verify`] report on an image for host tools.
//! - The writer (module `writer`, feature `std`) streams file data into the image,
//!   deduplicating identical contents, then writes the metadata and lastly the
//!   superblock.
//!
//! The byte-level layout of both versions is documented in `FORMAT.md` next to
//! this crate's `Cargo.toml`; the structs are in [`format`].

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod check;
mod crc;
mod error;
mod fs;
mod image;

pub mod format;
#[cfg(feature = "std")]
pub mod writer;

pub use check::{ImageInfo, VerifyProblem, VerifyReport, inspect, verify};
pub use error::RofsError;
pub use fs::{RofsFs, RofsInode, RofsType};
