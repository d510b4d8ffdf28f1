//! The mounted filesystem: the `"rofs"` type and `vfs::FileSystem` over an
//! [`Image`].

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::AtomicU8;

use drivers::BlockDevice;
use pagecache::{CachedDevice, PageCache};
use vfs::{Errno, FileSystem, FsType, Inode, MountContext, StatFs, VfsResult, parse_options};

use crate::error::RofsError;
use crate::format::v3::VERSION_3;
use crate::format::{MAGIC, NAME_MAX, ROOT_INO};
use crate::image::Image;
use crate::inode::{CRC_UNKNOWN, RofsInode};
use crate::mem;

/// Page-cache budget of a mount made with [`RofsFs::mount`] (a private
/// cache, for host tools that mount one image).
const HOST_CACHE_BYTES: usize = 16 << 20;

/// The "rofs" filesystem type: mounts the image on the source block device
/// (ENOTBLK without one).
pub struct RofsType;

impl FsType for RofsType {
    fn name(&self) -> &'static str {
        "rofs"
    }

    fn create(&self, ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
        let device = ctx.source.device().ok_or(Errno::ENOTBLK)?;
        let cached = ctx
            .cache
            .attach(&ctx.source.describe(), device.clone())
            .map_err(|_| Errno::EINVAL)?;
        let fs: Arc<dyn FileSystem> = RofsFs::mount_cached(cached, &ctx.options)?;
        Ok(fs)
    }

    fn diagnose(&self, ctx: &MountContext) -> Option<String> {
        let device = ctx.source.device()?;
        crate::inspect(&**device).err().map(|why| why.to_string())
    }
}

/// A mounted ROFS image (v1, v2 or v3).
pub struct RofsFs {
    mounted: Mount,
}

/// v1/v2 keep their validated tables; v3 reads everything on demand.
enum Mount {
    Tables(Arc<Mounted>),
    V3(Arc<crate::image::v3::Volume<'static>>),
}

/// What every inode of a mount shares.
pub(crate) struct Mounted {
    /// The device, read through the shared page cache.
    pub dev: Arc<CachedDevice>,
    pub image: Image,
    /// With the `verify` option: per-inode result of the whole-file CRC check.
    pub crc_state: Vec<AtomicU8>,
}

impl RofsFs {
    /// Mount the image on `dev`. `options` is empty or `verify`: with
    /// `verify`, the first read of each regular file checks the CRC32 of the
    /// whole file (one extra pass over it); a mismatch makes every read of
    /// that file fail with EIO. v1 images have no checksums, so `verify`
    /// checks nothing more there. An image whose tables do not fit in memory
    /// gives ENOMEM.
    pub fn mount(dev: Arc<dyn BlockDevice>, options: &str) -> VfsResult<Arc<RofsFs>> {
        let cache = PageCache::new(HOST_CACHE_BYTES);
        let cached = cache.attach("rofs", dev).map_err(|_| Errno::EINVAL)?;
        RofsFs::mount_cached(cached, options)
    }

    /// Like [`RofsFs::mount`], reading through a device of a shared page
    /// cache (what the `"rofs"` type does with the VFS's cache).
    pub fn mount_cached(dev: Arc<CachedDevice>, options: &str) -> VfsResult<Arc<RofsFs>> {
        let mut verify = false;
        for (key, value) in parse_options(options) {
            match (key, value) {
                ("verify", None) => verify = true,
                _ => {
                    log::warn!("rofs: unknown mount option {key:?}");
                    return Err(Errno::EINVAL);
                }
            }
        }
        // v1/v2 tables are loaded whole and kept: read them past the cache,
        // which would only hold a second copy.
        let image = match Image::load(&**dev.inner()) {
            Err(RofsError::UnsupportedVersion(VERSION_3)) => {
                let volume = crate::image::v3::Volume::mount(dev, verify)?;
                let mounted = Mount::V3(Arc::new(volume));
                return Ok(Arc::new(RofsFs { mounted }));
            }
            other => other?,
        };
        let mut crc_state = Vec::new();
        if verify && image.has_data_crc {
            crc_state = mem::vec_with_capacity(image.inode_count.into())?;
            // Within the capacity reserved.
            crc_state.extend((0..image.inode_count).map(|_| AtomicU8::new(CRC_UNKNOWN)));
        }
        Ok(Arc::new(RofsFs {
            mounted: Mount::Tables(Arc::new(Mounted {
                dev,
                image,
                crc_state,
            })),
        }))
    }

    /// Whether file data may be LZ4-compressed (v3 with that feature bit);
    /// then a file's `st_blocks` counts its stored (compressed) bytes.
    pub fn compressed(&self) -> bool {
        match &self.mounted {
            Mount::Tables(_) => false,
            Mount::V3(volume) => {
                volume.sb.raw.incompat.get() & crate::format::v3::V3_INCOMPAT_LZ4 != 0
            }
        }
    }

    /// The format version of the mounted image (1, 2 or 3).
    pub fn version(&self) -> u64 {
        match &self.mounted {
            Mount::Tables(mounted) => mounted.image.version,
            Mount::V3(_) => VERSION_3,
        }
    }
}

impl FileSystem for RofsFs {
    fn root(&self) -> VfsResult<Arc<dyn Inode>> {
        match &self.mounted {
            Mount::Tables(mounted) => RofsInode::open(mounted, ROOT_INO),
            Mount::V3(volume) => volume.root_inode(),
        }
    }

    fn fs_type(&self) -> &'static str {
        "rofs"
    }

    fn is_read_only(&self) -> bool {
        true
    }

    fn statfs(&self) -> VfsResult<StatFs> {
        let image = match &self.mounted {
            Mount::Tables(mounted) => &mounted.image,
            Mount::V3(volume) => return Ok(volume.statfs()),
        };
        Ok(StatFs {
            // The image magic.
            fs_type: MAGIC,
            block_size: image.block_size,
            blocks: image.image_blocks,
            blocks_free: 0,
            blocks_available: 0,
            files: u64::from(image.inode_count),
            files_free: 0,
            name_max: NAME_MAX as u32,
        })
    }
}
