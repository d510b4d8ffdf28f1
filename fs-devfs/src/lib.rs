//! devfs: the `/dev` filesystem (`no_std` + `alloc`).
//!
//! One flat, sorted directory of device nodes:
//! - `null` (reads end at once, writes vanish), `zero` (reads zeros, writes
//!   vanish), `full` (reads zeros, writes fail with ENOSPC);
//! - `console`, wired to a [`Console`] with [`DevFs::set_console`] (without
//!   one, writes are dropped and reads return 0);
//! - `urandom` and `random`, one shared [`Xoshiro256StarStar`] generator seeded
//!   at creation: reproducible, fast, **not cryptographically secure**;
//! - block devices added with [`DevFs::add_block_device`], readable and
//!   writable at any byte offset, and handed to filesystem constructors
//!   through [`Inode::block_device`].
//!
//! Nodes cannot be created, removed or renamed from outside (EPERM).

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod rng;
#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::ops::Bound;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use drivers::BlockDevice;
use spin::{Mutex, RwLock};
use vfs::{
    DirEntryRef, DirSink, Errno, FileSystem, FileType, FsType, Inode, InodeNo, MountContext, Stat,
    StatFs, Timespec, VfsResult,
};

pub use rng::Xoshiro256StarStar;

/// `statfs` magic number Linux uses for devtmpfs (it is a tmpfs).
pub const DEVFS_MAGIC: u64 = 0x0102_1994;
/// Major number given to block devices (Linux hands virtio-blk a dynamic one;
/// 254 is what it usually gets).
pub const BLOCK_MAJOR: u32 = 254;
/// Minor numbers per block device (room for partitions, as Linux leaves).
const MINORS_PER_DISK: u32 = 16;

/// Linux's `dev_t` encoding of a major/minor pair.
pub const fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (major as u64, minor as u64);
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

/// Where `/dev/console` output goes and its input comes from.
pub trait Console: Send + Sync {
    fn write(&self, data: &[u8]);
    /// Read available input into `buf`, returning the bytes read.
    fn read(&self, buf: &mut [u8]) -> usize;
}

/// One mounted devfs instance.
pub struct DevFs {
    root: Arc<DevDir>,
    console: Arc<RwLock<Option<Arc<dyn Console>>>>,
    next_ino: AtomicU64,
    block_devices: AtomicU32,
    created: Timespec,
}

impl DevFs {
    /// A devfs with the standard nodes, its random generator seeded with `seed`.
    pub fn new(seed: u64) -> Arc<DevFs> {
        Self::with_time(seed, Timespec::ZERO)
    }

    /// Like [`DevFs::new`], with `created` as every node's timestamps.
    pub fn with_time(seed: u64, created: Timespec) -> Arc<DevFs> {
        let fs = DevFs {
            root: Arc::new(DevDir {
                ino: 1,
                created,
                entries: RwLock::new(DirTable::default()),
            }),
            console: Arc::new(RwLock::new(None)),
            next_ino: AtomicU64::new(2),
            block_devices: AtomicU32::new(0),
            created,
        };
        let rng = Arc::new(Mutex::new(Xoshiro256StarStar::new(seed)));
        let nodes: [(&str, u32, u32, u32, CharKind); 6] = [
            (
                "console",
                5,
                1,
                0o600,
                CharKind::Console(fs.console.clone()),
            ),
            ("full", 1, 7, 0o666, CharKind::Full),
            ("null", 1, 3, 0o666, CharKind::Null),
            ("random", 1, 8, 0o666, CharKind::Random(rng.clone())),
            ("urandom", 1, 9, 0o666, CharKind::Random(rng)),
            ("zero", 1, 5, 0o666, CharKind::Zero),
        ];
        for (name, major, minor, perm, kind) in nodes {
            let node = CharNode {
                ino: fs.next_ino(),
                rdev: makedev(major, minor),
                perm,
                created,
                kind,
            };
            // The names are distinct and valid, so this cannot fail.
            let _ = fs.root.insert(name, Arc::new(node));
        }
        Arc::new(fs)
    }

    fn next_ino(&self) -> InodeNo {
        self.next_ino.fetch_add(1, Ordering::Relaxed)
    }

    /// Send `/dev/console` to `console`.
    pub fn set_console(&self, console: Arc<dyn Console>) {
        *self.console.write() = Some(console);
    }

    /// Add `/dev/<name>` for `dev`. EINVAL for a name that is empty, `.`,
    /// `..` or holds `/` or NUL; EEXIST if taken.
    pub fn add_block_device(&self, name: &str, dev: Arc<dyn BlockDevice>) -> VfsResult<()> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(Errno::EINVAL);
        }
        if name.len() > 255 {
            return Err(Errno::ENAMETOOLONG);
        }
        let index = self.block_devices.fetch_add(1, Ordering::Relaxed);
        let minor = index.checked_mul(MINORS_PER_DISK).ok_or(Errno::ENOSPC)?;
        let node = BlockNode {
            ino: self.next_ino(),
            rdev: makedev(BLOCK_MAJOR, minor),
            created: self.created,
            dev,
            write_lock: Mutex::new(()),
        };
        self.root.insert(name, Arc::new(node))
    }
}

/// The "devfs" filesystem type. [`DevFsType::Fresh`] makes a new devfs per
/// mount (option `seed=N` seeds its random generator, default 0);
/// [`DevFsType::Shared`] mounts one existing instance every time, such as
/// the kernel's, which holds the probed disks and the console (it takes no
/// options). Anything else gives EINVAL.
pub enum DevFsType {
    Fresh,
    Shared(Arc<DevFs>),
}

impl FsType for DevFsType {
    fn name(&self) -> &'static str {
        "devfs"
    }

    fn create(&self, ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
        match self {
            DevFsType::Fresh => new_fs(ctx),
            DevFsType::Shared(_) if !ctx.options.trim().is_empty() => Err(Errno::EINVAL),
            DevFsType::Shared(devfs) => Ok(devfs.clone()),
        }
    }
}

fn new_fs(ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
    let mut seed = 0;
    for (key, value) in vfs::parse_options(&ctx.options) {
        match (key, value) {
            ("seed", Some(v)) => seed = v.parse().map_err(|_| Errno::EINVAL)?,
            _ => return Err(Errno::EINVAL),
        }
    }
    Ok(DevFs::with_time(seed, ctx.clock.now()))
}

impl FileSystem for DevFs {
    fn root(&self) -> VfsResult<Arc<dyn Inode>> {
        Ok(self.root.clone())
    }

    fn fs_type(&self) -> &'static str {
        "devfs"
    }

    fn statfs(&self) -> VfsResult<StatFs> {
        let files = self.root.entries.read().entries.len() as u64 + 1;
        Ok(StatFs {
            fs_type: DEVFS_MAGIC,
            block_size: 4096,
            blocks: 0,
            blocks_free: 0,
            blocks_available: 0,
            files,
            files_free: 0,
            name_max: 255,
        })
    }
}

/// The entries of `/dev`. Names are only ever added, so a cookie is the
/// entry's position in insertion order + 1; resuming looks up that name and
/// continues with the next greater one, which keeps readdir sorted and
/// cookies valid while devices are added.
#[derive(Default)]
struct DirTable {
    entries: BTreeMap<String, (u64, Arc<dyn Inode>)>,
    names: Vec<String>,
}

struct DevDir {
    ino: InodeNo,
    created: Timespec,
    entries: RwLock<DirTable>,
}

impl DevDir {
    fn insert(&self, name: &str, node: Arc<dyn Inode>) -> VfsResult<()> {
        let mut table = self.entries.write();
        if table.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let cookie = table.names.len() as u64 + 1;
        table.names.push(String::from(name));
        table.entries.insert(String::from(name), (cookie, node));
        Ok(())
    }
}

fn stat(ino: InodeNo, mode: u32, rdev: u64, size: u64, created: Timespec) -> Stat {
    Stat {
        dev: 0,
        ino,
        mode,
        nlink: 1,
        uid: 0,
        gid: 0,
        rdev,
        size,
        blksize: 4096,
        blocks: 0,
        atime: created,
        mtime: created,
        ctime: created,
    }
}

impl Inode for DevDir {
    fn ino(&self) -> InodeNo {
        self.ino
    }

    fn file_type(&self) -> FileType {
        FileType::Directory
    }

    fn getattr(&self) -> VfsResult<Stat> {
        let mut st = stat(
            self.ino,
            FileType::Directory.mode_bits() | 0o755,
            0,
            0,
            self.created,
        );
        st.nlink = 2;
        Ok(st)
    }

    fn lookup(&self, name: &str) -> VfsResult<Arc<dyn Inode>> {
        let table = self.entries.read();
        table
            .entries
            .get(name)
            .map(|(_, node)| node.clone())
            .ok_or(Errno::ENOENT)
    }

    fn readdir(&self, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        // The sink runs under the table's read lock: /dev is small, and only
        // adding a device takes the write lock, never from inside a listing.
        let table = self.entries.read();
        let start = match cookie {
            0 => Bound::Unbounded,
            c => match usize::try_from(c - 1).ok().and_then(|i| table.names.get(i)) {
                Some(name) => Bound::Excluded(name.as_str()),
                None => return Ok(()),
            },
        };
        for (name, (next, node)) in table.entries.range::<str, _>((start, Bound::Unbounded)) {
            let entry = DirEntryRef {
                ino: node.ino(),
                file_type: node.file_type(),
                name,
            };
            if !sink(entry, *next) {
                break;
            }
        }
        Ok(())
    }

    fn create(&self, _name: &str, _mode: u32, _rdev: u64) -> VfsResult<Arc<dyn Inode>> {
        Err(Errno::EPERM)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

enum CharKind {
    Null,
    Zero,
    Full,
    Console(Arc<RwLock<Option<Arc<dyn Console>>>>),
    Random(Arc<Mutex<Xoshiro256StarStar>>),
}

struct CharNode {
    ino: InodeNo,
    rdev: u64,
    perm: u32,
    created: Timespec,
    kind: CharKind,
}

impl Inode for CharNode {
    fn ino(&self) -> InodeNo {
        self.ino
    }

    fn file_type(&self) -> FileType {
        FileType::CharDevice
    }

    fn getattr(&self) -> VfsResult<Stat> {
        let mode = FileType::CharDevice.mode_bits() | self.perm;
        Ok(stat(self.ino, mode, self.rdev, 0, self.created))
    }

    fn read_at(&self, _offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        match &self.kind {
            CharKind::Null => Ok(0),
            CharKind::Zero | CharKind::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            CharKind::Console(console) => {
                // Clone out so a slow console does not hold the lock.
                let console = console.read().clone();
                Ok(console.map_or(0, |c| c.read(buf).min(buf.len())))
            }
            CharKind::Random(rng) => {
                rng.lock().fill_bytes(buf);
                Ok(buf.len())
            }
        }
    }

    fn write_at(&self, _offset: u64, buf: &[u8]) -> VfsResult<usize> {
        match &self.kind {
            CharKind::Null | CharKind::Zero => Ok(buf.len()),
            CharKind::Full => Err(Errno::ENOSPC),
            CharKind::Console(console) => {
                let console = console.read().clone();
                if let Some(console) = console {
                    console.write(buf);
                }
                Ok(buf.len())
            }
            CharKind::Random(rng) => {
                rng.lock().mix(buf);
                Ok(buf.len())
            }
        }
    }

    /// Truncating a character device (`O_TRUNC`) is accepted and ignored,
    /// as on Linux.
    fn truncate(&self, _size: u64) -> VfsResult<()> {
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct BlockNode {
    ino: InodeNo,
    rdev: u64,
    created: Timespec,
    dev: Arc<dyn BlockDevice>,
    /// Serialises writes: read-modify-write of a shared edge block must not
    /// lose a concurrent writer's bytes.
    write_lock: Mutex<()>,
}

impl BlockNode {
    /// Bytes from `offset` to the end of the device, clamped to `len`.
    fn clamp(&self, offset: u64, len: usize) -> usize {
        let size = self.dev.size_bytes();
        if offset >= size {
            return 0;
        }
        usize::try_from(size - offset).map_or(len, |room| room.min(len))
    }
}

impl Inode for BlockNode {
    fn ino(&self) -> InodeNo {
        self.ino
    }

    fn file_type(&self) -> FileType {
        FileType::BlockDevice
    }

    fn getattr(&self) -> VfsResult<Stat> {
        let mode = FileType::BlockDevice.mode_bits() | 0o660;
        let mut st = stat(
            self.ino,
            mode,
            self.rdev,
            self.dev.size_bytes(),
            self.created,
        );
        st.blksize = u32::try_from(self.dev.block_size())
            .unwrap_or(4096)
            .max(512);
        Ok(st)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        let n = self.clamp(offset, buf.len());
        if n == 0 {
            return Ok(0);
        }
        drivers::read_bytes(&*self.dev, offset, &mut buf[..n])?;
        Ok(n)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> VfsResult<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.dev.is_read_only() {
            return Err(Errno::EROFS);
        }
        let n = self.clamp(offset, buf.len());
        if n == 0 {
            return Err(Errno::ENOSPC);
        }
        let _guard = self.write_lock.lock();
        // A device error after some bytes were written gives a short count,
        // as write(2) does.
        match drivers::write_bytes(&*self.dev, offset, &buf[..n]) {
            Ok(()) => Ok(n),
            Err((done, _)) if done > 0 => Ok(done),
            Err((_, e)) => Err(e.into()),
        }
    }

    fn fsync(&self) -> VfsResult<()> {
        self.dev.flush().map_err(|_| Errno::EIO)
    }

    /// `O_TRUNC` on a device is ignored, as on Linux.
    fn truncate(&self, _size: u64) -> VfsResult<()> {
        Ok(())
    }

    fn block_device(&self) -> Option<Arc<dyn BlockDevice>> {
        Some(self.dev.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
