//! Unit tests through the VFS: a ROFS image (or ramfs trees) as lower
//! layers, a ramfs as the upper one, and fresh VFSs on the same upper
//! ramfs to see what the overlay wrote there.

extern crate std;

mod concurrent;
mod copyup;
mod hardlinks;
mod inos;
mod mount;
mod readdir;
mod rename;
mod whiteout;

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use std::io::Cursor;

use drivers::RamDisk;
use fs_ramfs::RamFs;
use fs_rofs::RofsFs;
use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, ImageBuilder};
use vfs::{
    Clock, Errno, FileSystem, FileType, FixedClock, Layer, Layers, MountFlags, OpenFlags, Stat,
    Timespec, Vfs,
};

use crate::OverlayFs;

/// Modification time of every lower entry.
pub(super) const LOWER_MTIME: i64 = 1_000_000;
/// What the clock of the upper layer and the VFS reads.
pub(super) const NOW: i64 = 2_000_000_000;
pub(super) const LOWER_UID: u32 = 7;
pub(super) const LOWER_GID: u32 = 8;

/// One entry of a generated lower tree.
pub(super) enum Entry<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    /// A second name `.0` for the existing file `.1`.
    HardLink(&'a str, &'a str),
}

fn meta(mode: Option<u32>) -> EntryMeta {
    EntryMeta {
        mode,
        uid: LOWER_UID,
        gid: LOWER_GID,
        mtime: Some(LOWER_MTIME),
        mtime_nsec: 0,
    }
}

/// A ROFS image of `entries`, mounted.
pub(super) fn rofs(entries: &[Entry<'_>]) -> Arc<RofsFs> {
    let mut b = ImageBuilder::new(BuildOptions::default());
    b.add_dir("/", meta(Some(0o755))).unwrap();
    for entry in entries {
        match entry {
            Entry::Dir(path, mode) => b.add_dir(path, meta(Some(*mode))).unwrap(),
            Entry::File(path, data, mode) => b
                .add_file(path, FileSource::Bytes(data.to_vec()), meta(Some(*mode)))
                .unwrap(),
            Entry::Symlink(path, target) => b.add_symlink(path, target, meta(None)).unwrap(),
            Entry::HardLink(path, existing) => b.add_hardlink(path, existing).unwrap(),
        }
    }
    let mut out = Cursor::new(Vec::new());
    b.write(&mut out, &mut |_, _| {}).unwrap();
    RofsFs::mount(Arc::new(RamDisk::from_bytes(512, out.into_inner())), "").unwrap()
}

pub(super) fn clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock(Timespec::new(NOW, 0)))
}

pub(super) fn layer(name: &str, fs: Arc<dyn FileSystem>, read_only: bool) -> Layer {
    Layer {
        name: name.to_string(),
        dir: fs.root().unwrap(),
        fs,
        read_only,
    }
}

/// A VFS with `fs` mounted on `/`.
pub(super) fn vfs_on(fs: Arc<dyn FileSystem>) -> Vfs {
    let vfs = Vfs::new(clock());
    vfs.mount_fs(fs, "none", "/", MountFlags::empty(), "")
        .unwrap();
    vfs
}

/// An overlay over lower layers, with its upper ramfs.
pub(super) struct Stack {
    /// The overlay on `/`.
    pub vfs: Vfs,
    pub overlay: Arc<OverlayFs>,
    pub upper: Arc<RamFs>,
}

impl Stack {
    pub fn over(lowers: Vec<Arc<dyn FileSystem>>, upper_limit: Option<u64>) -> Stack {
        Stack::with_upper(lowers, RamFs::new(clock(), upper_limit))
    }

    pub fn with_upper(lowers: Vec<Arc<dyn FileSystem>>, upper: Arc<RamFs>) -> Stack {
        let layers = Layers {
            lower: lowers
                .into_iter()
                .enumerate()
                .map(|(i, fs)| layer(&std::format!("lower{i}"), fs, true))
                .collect(),
            upper: Some(layer("upper", upper.clone(), false)),
        };
        let overlay = OverlayFs::new(layers, "").unwrap();
        Stack {
            vfs: vfs_on(overlay.clone()),
            overlay,
            upper,
        }
    }

    /// An overlay on a ROFS image of `entries`.
    pub fn new(entries: &[Entry<'_>]) -> Stack {
        Stack::over(alloc::vec![rofs(entries)], None)
    }

    /// The upper ramfs on `/` of a new VFS (no stale cache), to see the
    /// markers the overlay wrote.
    pub fn raw(&self) -> Vfs {
        vfs_on(self.upper.clone())
    }

    pub fn read(&self, path: &str) -> Vec<u8> {
        self.vfs.read_file(path).unwrap()
    }

    pub fn stat(&self, path: &str) -> Stat {
        self.vfs.lstat(path).unwrap()
    }

    /// Sorted names in an overlay directory.
    pub fn names(&self, path: &str) -> Vec<String> {
        sorted_names(&self.vfs, path)
    }

    /// Sorted names in the upper layer's directory (markers included).
    pub fn upper_names(&self, path: &str) -> Vec<String> {
        sorted_names(&self.raw(), path)
    }

    /// Whether the upper layer holds a whiteout at `path`.
    pub fn upper_whiteout(&self, path: &str) -> bool {
        self.raw()
            .lstat(path)
            .is_ok_and(|st| st.file_type() == Some(FileType::CharDevice) && st.rdev == 0)
    }

    pub fn write_at(&self, path: &str, offset: u64, data: &[u8]) {
        let fd = self.vfs.open(path, OpenFlags::O_WRONLY, 0).unwrap();
        assert_eq!(self.vfs.pwrite(fd, data, offset).unwrap(), data.len());
        self.vfs.close(fd).unwrap();
    }
}

pub(super) fn sorted_names(vfs: &Vfs, path: &str) -> Vec<String> {
    let mut names: Vec<String> = vfs
        .read_dir(path)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    names
}

pub(super) fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A ramfs tree made by `build` through a VFS, for use as a lower layer.
pub(super) fn ramfs_tree(build: impl FnOnce(&Vfs)) -> Arc<dyn FileSystem> {
    let fs = RamFs::new(clock(), None);
    build(&vfs_on(fs.clone()));
    fs
}

/// Bytes that differ at every position (catches offset mistakes).
pub(super) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

pub(super) fn errno<T: core::fmt::Debug>(result: vfs::VfsResult<T>) -> Errno {
    result.unwrap_err()
}
