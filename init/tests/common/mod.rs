//! What init's integration tests share: a console [`Platform`] that keeps
//! or only counts what is written, a VFS with ramfs on `/` and devfs on
//! `/dev`, and [`GraphFs`], a read-only backend whose directory entries are
//! given as a table, so a test can build trees a hostile image could hold.

#![allow(dead_code)]

pub mod graph;

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use fs_devfs::DevFsType;
use fs_ramfs::RamFsType;
use init::{DiskStats, Platform};
use vfs::{Clock, FixedClock, MountFlags, Vfs};

/// A console that keeps what is written (or, when counting, only its first
/// [`COUNTING_KEEPS`] bytes, for outputs bigger than a test wants to hold).
pub struct Console {
    keep: usize,
    text: RefCell<Vec<u8>>,
    bytes: Cell<u64>,
    lines: Cell<u64>,
}

/// Bytes a counting console keeps (its first lines).
pub const COUNTING_KEEPS: usize = 4096;

impl Console {
    pub fn keeping() -> Console {
        Console::new(usize::MAX)
    }

    pub fn counting() -> Console {
        Console::new(COUNTING_KEEPS)
    }

    fn new(keep: usize) -> Console {
        Console {
            keep,
            text: RefCell::new(Vec::new()),
            bytes: Cell::new(0),
            lines: Cell::new(0),
        }
    }

    /// What was written so far (and forget it).
    pub fn take(&self) -> String {
        String::from_utf8_lossy(&self.text.take()).into_owned()
    }

    pub fn lines(&self) -> u64 {
        self.lines.get()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.get()
    }
}

impl Platform for Console {
    fn console_write(&self, bytes: &[u8]) {
        self.bytes.set(self.bytes.get() + bytes.len() as u64);
        let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        self.lines.set(self.lines.get() + newlines);
        let mut text = self.text.borrow_mut();
        let room = self.keep.saturating_sub(text.len());
        text.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn console_read_byte(&self) -> Option<u8> {
        Some(0x04)
    }

    fn now_ns(&self) -> u64 {
        0
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(FixedClock::default())
    }

    fn disk_stats(&self) -> DiskStats {
        DiskStats::default()
    }

    fn heap_bytes(&self) -> u64 {
        64 << 20
    }
}

/// ramfs on `/` (`size=` as given), devfs on `/dev`.
pub fn vfs_with(root_options: &str) -> Vfs {
    let vfs = Vfs::new(Arc::new(FixedClock::default()));
    vfs.register(Arc::new(RamFsType)).expect("register ramfs");
    vfs.register(Arc::new(DevFsType::Fresh))
        .expect("register devfs");
    vfs.mount(None, "/", "ramfs", MountFlags::empty(), root_options)
        .expect("mount /");
    vfs.mkdir("/dev", 0o755).expect("mkdir /dev");
    vfs.mount(None, "/dev", "devfs", MountFlags::empty(), "")
        .expect("mount /dev");
    vfs
}

/// Run `script` in init's shell; returns what the console got.
pub fn run(vfs: &Vfs, script: &str) -> String {
    let console = Console::keeping();
    init::shell::Shell::new(&console, vfs).run_script("t", script);
    console.take()
}
