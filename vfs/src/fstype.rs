//! How filesystems are made: the [`FsType`] a backend registers once in the
//! [`Vfs`](crate::Vfs), the [`MountContext`] a mount hands it, and the
//! [`MountSource`] it builds from (nothing, a block device, a name such as a
//! virtio-fs tag, or layers of filesystems mounted earlier).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use drivers::BlockDevice;
use pagecache::PageCache;

use crate::backend::{FileSystem, Inode};
use crate::errno::VfsResult;
use crate::types::Clock;

/// A kind of filesystem, registered once in the VFS under its name.
///
/// `Vfs::mount(source, target, "name", ...)` finds the type by name and calls
/// [`FsType::create`]; the type decides what it accepts (ENOTBLK for a
/// missing device, EINVAL for bad options). A type may hand out one shared
/// instance (the kernel's devfs, which holds the probed disks) or a new one
/// per mount.
pub trait FsType: Send + Sync {
    /// The name used in `mount -t` and fstab ("rofs", "ramfs", "devfs").
    fn name(&self) -> &'static str;

    /// A filesystem for one mount.
    fn create(&self, ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>>;

    /// After `create` failed: one line saying why, if the type can tell
    /// more than the errno (ROFS names the structure that is corrupt).
    fn diagnose(&self, _ctx: &MountContext) -> Option<String> {
        None
    }
}

/// A directory of a filesystem mounted earlier, handed to a stacking
/// filesystem (an overlay) as one of its layers.
#[derive(Clone)]
pub struct Layer {
    /// How it was named in the options (`/lower`, `@base`).
    pub name: String,
    /// The filesystem the directory is on (for `statfs`, `sync`).
    pub fs: Arc<dyn FileSystem>,
    /// The directory itself.
    pub dir: Arc<dyn Inode>,
    /// Whether its mount is read-only.
    pub read_only: bool,
}

/// The layers of a stacking mount, from `lowerdir=` (topmost first) and
/// `upperdir=` options that the VFS resolved.
#[derive(Clone, Default)]
pub struct Layers {
    pub lower: Vec<Layer>,
    pub upper: Option<Layer>,
}

/// What a filesystem is constructed from.
#[derive(Clone)]
pub enum MountSource {
    /// Nothing (ramfs, devfs; the source word `none`).
    None,
    /// A block device, with the name it was given (such as `/dev/vblk0`).
    Device {
        name: String,
        device: Arc<dyn BlockDevice>,
    },
    /// A source word that names no device node, such as a virtio-fs tag.
    Named(String),
    /// Directories of other filesystems, for a stacking filesystem.
    Layers(Layers),
}

impl MountSource {
    /// The source as the mount table shows it.
    pub fn describe(&self) -> String {
        match self {
            MountSource::None | MountSource::Layers(_) => String::from("none"),
            MountSource::Device { name, .. } => name.clone(),
            MountSource::Named(name) => name.clone(),
        }
    }

    /// The block device, if this source is one.
    pub fn device(&self) -> Option<&Arc<dyn BlockDevice>> {
        match self {
            MountSource::Device { device, .. } => Some(device),
            _ => None,
        }
    }
}

/// Everything handed to [`FsType::create`].
#[derive(Clone)]
pub struct MountContext {
    pub source: MountSource,
    /// The options string, such as `"size=64M"` or `"verify"`, without the
    /// layer options the VFS resolved; may be empty.
    pub options: String,
    pub clock: Arc<dyn Clock>,
    /// The page cache shared by every mount of this VFS (one budget):
    /// block filesystems read their devices through `cache.attach(..)`.
    pub cache: Arc<PageCache>,
}

impl MountContext {
    pub fn new(
        source: MountSource,
        options: &str,
        clock: Arc<dyn Clock>,
        cache: Arc<PageCache>,
    ) -> MountContext {
        MountContext {
            source,
            options: String::from(options),
            clock,
            cache,
        }
    }
}

/// A plain constructor function as an [`FsType`], for types with no state
/// of their own.
pub struct FnFsType {
    pub name: &'static str,
    pub create: fn(&MountContext) -> VfsResult<Arc<dyn FileSystem>>,
}

impl FsType for FnFsType {
    fn name(&self) -> &'static str {
        self.name
    }

    fn create(&self, ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
        (self.create)(ctx)
    }
}

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
