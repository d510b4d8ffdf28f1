//! The mounted filesystem ([`VirtioFs`]) and its type ([`VirtioFsType`]),
//! which finds a device by its tag.

use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use drivers::FuseTransport;
use vfs::{
    Clock, Errno, FileSystem, FsType, Inode, MountContext, MountSource, StatFs, VfsResult,
    parse_options,
};

use crate::inode::FuseInode;
use crate::ops;
use crate::session::{InitError, Params, Session};

/// One mounted virtio-fs share.
pub struct VirtioFs {
    session: Arc<Session>,
    root: Arc<FuseInode>,
}

impl VirtioFs {
    /// Start a FUSE session on `transport` (INIT) and fetch the root.
    pub fn new(
        transport: Arc<dyn FuseTransport>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, InitError> {
        VirtioFs::with_cache(transport, clock, None)
    }

    /// As [`VirtioFs::new`], caching file data in `data` (a space of the
    /// shared page cache; see the crate's cache policy).
    pub fn with_cache(
        transport: Arc<dyn FuseTransport>,
        clock: Arc<dyn Clock>,
        data: Option<pagecache::Space>,
    ) -> Result<Self, InitError> {
        let mut session = Session::start(transport, clock)?;
        session.data = data;
        let session = Arc::new(session);
        let root = match FuseInode::root(session.clone()) {
            Ok(root) => root,
            Err(e) => {
                session.close();
                return Err(InitError::Errno(e));
            }
        };
        Ok(VirtioFs { session, root })
    }

    /// What INIT negotiated (request sizes, flags).
    pub fn params(&self) -> Params {
        self.session.params
    }

    fn is_closed(&self) -> bool {
        self.session.is_closed()
    }
}

impl FileSystem for VirtioFs {
    fn root(&self) -> VfsResult<Arc<dyn Inode>> {
        Ok(self.root.clone())
    }

    fn fs_type(&self) -> &'static str {
        "virtiofs"
    }

    fn statfs(&self) -> VfsResult<StatFs> {
        ops::statfs(&self.session)
    }

    fn sync(&self) -> VfsResult<()> {
        self.session.flush_forgets();
        Ok(())
    }

    fn unmount(&self) -> VfsResult<()> {
        self.session.close();
        Ok(())
    }
}

struct Device {
    tag: String,
    transport: Arc<dyn FuseTransport>,
    /// The live session on it: a second mount of the tag shares it, as on
    /// Linux (one FUSE session per device).
    mounted: spin::Mutex<Weak<VirtioFs>>,
    /// Why the last mount failed, for `diagnose`.
    last_error: spin::Mutex<Option<String>>,
}

/// The `virtiofs` filesystem type: mounts the device whose tag is the mount
/// source (`vfs.fstab=TAG:/mnt:virtiofs`, `mount -t virtiofs TAG /mnt`).
///
/// The kernel fills it with the devices it probed. Mount options: none yet
/// (`ro` is the VFS's read-only flag); unknown ones are EINVAL.
pub struct VirtioFsType {
    devices: Vec<Device>,
}

impl VirtioFsType {
    /// A type over `(tag, transport)` pairs. A tag given twice keeps its
    /// first device.
    pub fn new(devices: Vec<(String, Arc<dyn FuseTransport>)>) -> Self {
        let mut kept: Vec<Device> = Vec::new();
        for (tag, transport) in devices {
            if kept.iter().any(|d| d.tag == tag) {
                log::warn!("virtiofs: a second device with tag '{tag}' is ignored");
                continue;
            }
            kept.push(Device {
                tag,
                transport,
                mounted: spin::Mutex::new(Weak::new()),
                last_error: spin::Mutex::new(None),
            });
        }
        VirtioFsType { devices: kept }
    }

    /// The tags of the devices, in the order given.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.devices.iter().map(|d| d.tag.as_str())
    }

    fn device(&self, ctx: &MountContext) -> VfsResult<&Device> {
        let MountSource::Named(tag) = &ctx.source else {
            return Err(Errno::EINVAL);
        };
        self.devices
            .iter()
            .find(|d| &d.tag == tag)
            .ok_or(Errno::ENODEV)
    }
}

impl FsType for VirtioFsType {
    fn name(&self) -> &'static str {
        "virtiofs"
    }

    fn create(&self, ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
        let device = self.device(ctx)?;
        if let Some((key, _)) = parse_options(&ctx.options).first() {
            *device.last_error.lock() = Some(format!("virtiofs: unknown option '{key}'"));
            return Err(Errno::EINVAL);
        }
        let mut mounted = device.mounted.lock();
        if let Some(live) = mounted.upgrade().filter(|fs| !fs.is_closed()) {
            return Ok(live);
        }
        // Without room for a space the share still works, uncached.
        let data = ctx.cache.register(&format!("virtiofs:{}", device.tag)).ok();
        match VirtioFs::with_cache(device.transport.clone(), ctx.clock.clone(), data) {
            Ok(fs) => {
                let fs = Arc::new(fs);
                *mounted = Arc::downgrade(&fs);
                *device.last_error.lock() = None;
                Ok(fs)
            }
            Err(e) => {
                *device.last_error.lock() =
                    Some(format!("virtiofs '{}': {}", device.tag, e.describe()));
                Err(e.errno())
            }
        }
    }

    fn diagnose(&self, ctx: &MountContext) -> Option<String> {
        match self.device(ctx) {
            Ok(device) => device.last_error.lock().clone(),
            Err(Errno::ENODEV) => {
                let tags: Vec<&str> = self.tags().collect();
                Some(format!(
                    "virtiofs: no device with tag '{}' (devices: {})",
                    ctx.source.describe(),
                    if tags.is_empty() {
                        String::from("none")
                    } else {
                        tags.join(", ")
                    }
                ))
            }
            Err(_) => Some(String::from(
                "virtiofs: the source must be a device tag, such as 'share'",
            )),
        }
    }
}
