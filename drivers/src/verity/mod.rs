//! dm-verity for our images: a SHA-256 hash tree over every 4096-byte block
//! of the data, in exactly the layout `veritysetup format` writes (hash type
//! 1, salted, 4096-byte data and hash blocks), so standard tools check our
//! images and compute the same root hash.
//!
//! An image with a tree is laid out as
//!
//! ```text
//! [ data (the filesystem, padded to 4096) | verity superblock, padded to 4096 | tree, top level first | locator ]
//!   0                                       hash_offset = data_bytes                                     last 4096 bytes
//! ```
//!
//! The locator (ours, not dm-verity's) says where the superblock is, so the
//! person booting supplies only the root hash. See `FORMAT.md` beside this
//! file for every byte.
//!
//! - [`TreeBuilder`] hashes data streamed in any chunks and yields a
//!   [`HashTree`]: the root hash and the bytes to append.
//! - [`locate`] / [`probe`] find and sanity-check an image's tree.
//! - [`VerityDevice`] wraps any [`BlockDevice`](crate::BlockDevice) and
//!   presents only the data area, each block verified before it is returned.
//!
//! How a mount uses it (the root hash comes from the command line or fstab):
//!
//! ```
//! # use std::sync::Arc;
//! # use drivers::{BlockDevice, RamDisk};
//! use drivers::verity::{self, Hex, TreeBuilder, VerityDevice};
//! # let mut builder = TreeBuilder::new(b"salt").unwrap();
//! # builder.update(&[7u8; 3 * 4096]).unwrap();
//! # let tree = builder.finish().unwrap();
//! # let mut image = vec![7u8; 3 * 4096];
//! # tree.write_appendix(&mut |p: &[u8]| -> Result<(), ()> { image.extend_from_slice(p); Ok(()) }).unwrap();
//! # let disk: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, image));
//! # let roothash_option = Some(Hex(&tree.root_hash()).to_string());
//! let device: Arc<dyn BlockDevice> = match roothash_option.as_deref() {
//!     Some(hex) => {
//!         let root = verity::parse_root_hash(hex)?;
//!         Arc::new(VerityDevice::open(disk, root)?) // refuses now, with a one-line reason
//!     }
//!     None => {
//!         if let Some(info) = verity::probe(disk.as_ref()) {
//!             log::warn!("image has a dm-verity tree (root hash {}); mounted unverified", Hex(&info.stored_root));
//!         }
//!         disk
//!     }
//! };
//! assert_eq!(device.block_size(), 4096);
//! # Ok::<(), verity::VerityError>(())
//! ```
//!
//! Nothing read from the device is trusted for integrity except through the
//! root hash given to [`VerityDevice::open`]; the locator and superblock are
//! only checked so that a hostile one gives an error, never a panic, an
//! out-of-range read or an allocation sized by it.

mod builder;
mod cache;
mod device;
mod error;
mod format;
mod hash;
mod hex;
mod locate;

pub use builder::{HashTree, TreeBuilder, default_salt, derived_uuid};
pub use device::{VerityDevice, VerityOptions, VerityStats};
pub use error::VerityError;
pub use format::{BLOCK, Digest, Geometry, MAX_SALT, Salt};
pub use hex::{Hex, decode_hex, parse_root_hash};
pub use locate::{VerityInfo, locate, probe};
