//! Why a verity tree could not be built, found or trusted.

use core::fmt;

use super::hex::Hex;
use crate::BlockError;

/// Everything that stops a verity device from opening (or a tree from being
/// built). Each variant displays as one line naming the cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerityError {
    /// The device's last 4096-byte block is not a verity locator: the image
    /// carries no tree.
    NoTree,
    /// The locator is there but damaged or of an unknown version.
    Locator(&'static str),
    /// The dm-verity superblock is missing, damaged or describes a tree this
    /// reader does not handle (hash type 0, another hash, other block sizes).
    Superblock(&'static str),
    /// The sizes and offsets of the locator and superblock do not fit
    /// together or do not fit the device.
    Geometry(&'static str),
    /// The underlying device's block size does not divide 4096.
    BlockSize(usize),
    /// The tree's top block does not hash to the root hash given.
    RootMismatch { expected: [u8; 32], found: [u8; 32] },
    /// A hash block below the root does not match its parent's digest (or
    /// its zero padding is not zero): the tree disagrees with itself.
    TreeCorrupt {
        /// Level of the bad block (0 = the digests of data blocks).
        level: usize,
        /// Index of the block within its level.
        index: u64,
    },
    /// The underlying device failed a read.
    Device(BlockError),
    /// A buffer could not be allocated.
    NoMemory,
    /// A root hash or salt given as text is not valid hex of the right length.
    BadHex(&'static str),
    /// The tree builder was given nothing to hash, or a salt over 256 bytes.
    BadInput(&'static str),
}

impl fmt::Display for VerityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerityError::NoTree => {
                f.write_str("no dm-verity tree (no locator in the last 4096-byte block)")
            }
            VerityError::Locator(why) => write!(f, "verity locator: {why}"),
            VerityError::Superblock(why) => write!(f, "verity superblock: {why}"),
            VerityError::Geometry(why) => write!(f, "verity tree geometry: {why}"),
            VerityError::BlockSize(size) => {
                write!(f, "device block size {size} does not divide 4096")
            }
            VerityError::RootMismatch { expected, found } => write!(
                f,
                "root hash mismatch: expected {}, the image's tree has {}",
                Hex(expected),
                Hex(found)
            ),
            VerityError::TreeCorrupt { level, index } => write!(
                f,
                "hash tree block {index} of level {level} fails verification"
            ),
            VerityError::Device(e) => write!(f, "reading the device: {e}"),
            VerityError::NoMemory => f.write_str("out of memory for the hash tree"),
            VerityError::BadHex(why) => f.write_str(why),
            VerityError::BadInput(why) => f.write_str(why),
        }
    }
}

impl From<BlockError> for VerityError {
    fn from(e: BlockError) -> Self {
        match e {
            BlockError::NoMemory => VerityError::NoMemory,
            other => VerityError::Device(other),
        }
    }
}
