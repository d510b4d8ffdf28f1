//! Why an image was refused.

use core::fmt;

use drivers::BlockError;
use vfs::Errno;

use crate::problem::Problem;

/// Everything that can be wrong with an image or its device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RofsError {
    /// Block 0 does not hold the ROFS magic: not a ROFS image at all.
    BadMagic(u64),
    /// The magic matches but the version is neither 1 nor 2.
    UnsupportedVersion(u64),
    /// The image needs features this reader does not have.
    UnknownFeatures { incompat: u32, ro_compat: u32 },
    /// The superblock's own checksum does not match.
    SuperblockChecksum { stored: u32, computed: u32 },
    /// The metadata region's checksum does not match.
    MetadataChecksum { stored: u32, computed: u32 },
    /// The image claims more space than the device has.
    Truncated {
        needed_bytes: u64,
        device_bytes: u64,
    },
    /// A table, field or reference breaks a rule of the format.
    Corrupt(Problem),
    /// The device failed.
    Device(BlockError),
    /// An allocation sized by the image failed (a huge or hostile image on
    /// a small heap): ENOMEM, never an abort.
    NoMemory { bytes: u64 },
}

impl fmt::Display for RofsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RofsError::BadMagic(m) => write!(f, "not a ROFS image (magic {m:#x})"),
            RofsError::UnsupportedVersion(v) => write!(f, "unsupported ROFS version {v}"),
            RofsError::UnknownFeatures {
                incompat,
                ro_compat,
            } => write!(
                f,
                "image needs unknown features (incompat {incompat:#x}, ro_compat {ro_compat:#x})"
            ),
            RofsError::SuperblockChecksum { stored, computed } => write!(
                f,
                "superblock CRC32 mismatch (stored {stored:08x}, computed {computed:08x})"
            ),
            RofsError::MetadataChecksum { stored, computed } => write!(
                f,
                "metadata CRC32 mismatch (stored {stored:08x}, computed {computed:08x})"
            ),
            RofsError::Truncated {
                needed_bytes,
                device_bytes,
            } => write!(
                f,
                "image truncated: needs {needed_bytes} bytes, device has {device_bytes}"
            ),
            RofsError::Corrupt(what) => write!(f, "corrupt image: {what}"),
            RofsError::Device(e) => write!(f, "device error: {e}"),
            RofsError::NoMemory { bytes } => {
                write!(f, "not enough memory for {bytes} bytes of image tables")
            }
        }
    }
}

impl core::error::Error for RofsError {}

impl From<BlockError> for RofsError {
    fn from(e: BlockError) -> Self {
        RofsError::Device(e)
    }
}

impl From<RofsError> for Errno {
    fn from(e: RofsError) -> Errno {
        match e {
            // Not ROFS at all: the caller picked the wrong filesystem type.
            RofsError::BadMagic(_) => Errno::EINVAL,
            RofsError::NoMemory { .. } => {
                log::warn!("rofs: {e}");
                Errno::ENOMEM
            }
            RofsError::UnsupportedVersion(_) | RofsError::UnknownFeatures { .. } => {
                log::warn!("rofs: {e}");
                Errno::EINVAL
            }
            _ => {
                log::warn!("rofs: {e}");
                Errno::EIO
            }
        }
    }
}

impl From<Problem> for RofsError {
    fn from(p: Problem) -> Self {
        RofsError::Corrupt(p)
    }
}
