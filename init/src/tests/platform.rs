//! A [`Platform`] for host tests, and a small ROFS image to boot from.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::Cursor;
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

use drivers::{BlockDevice, RamDisk};
use fs_devfs::DevFs;
use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, ImageBuilder};
use vfs::{Clock, Timespec};

use crate::cmdline::{self, Config};
use crate::{Boot, Disk, DiskStats, Platform, Share};

/// File times in the test image and the wall clock: 2023-11-14 22:13:20 UTC.
pub const EPOCH: i64 = 1_700_000_000;

/// Console output kept in memory, scripted console input, a clock that
/// advances 1 µs per reading.
pub struct TestPlatform {
    output: RefCell<Vec<u8>>,
    input: RefCell<VecDeque<u8>>,
    now: Cell<u64>,
    heap_bytes: u64,
    shares: Vec<Share>,
}

impl TestPlatform {
    pub fn new(heap_bytes: u64) -> TestPlatform {
        TestPlatform {
            output: RefCell::new(Vec::new()),
            input: RefCell::new(VecDeque::new()),
            now: Cell::new(0),
            heap_bytes,
            shares: Vec::new(),
        }
    }

    /// The virtio-fs devices this platform reports.
    pub fn with_shares(mut self, shares: Vec<Share>) -> TestPlatform {
        self.shares = shares;
        self
    }

    /// Bytes the console will deliver, in order; after them, Ctrl-D.
    pub fn type_in(&self, text: &str) {
        self.input.borrow_mut().extend(text.bytes());
    }

    /// Everything written to the console so far (and forget it).
    pub fn take_output(&self) -> String {
        String::from_utf8_lossy(&self.output.take()).into_owned()
    }
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timespec {
        Timespec::new(EPOCH, 0)
    }
}

impl Platform for TestPlatform {
    fn console_write(&self, bytes: &[u8]) {
        self.output.borrow_mut().extend_from_slice(bytes);
    }

    fn console_read_byte(&self) -> Option<u8> {
        // Ctrl-D once the script is used up, so a shell session always ends.
        Some(self.input.borrow_mut().pop_front().unwrap_or(0x04))
    }

    fn now_ns(&self) -> u64 {
        let now = self.now.get() + 1000;
        self.now.set(now);
        now
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(FixedClock)
    }

    fn disk_stats(&self) -> DiskStats {
        DiskStats::default()
    }

    fn heap_bytes(&self) -> u64 {
        self.heap_bytes
    }

    fn shares(&self) -> Vec<Share> {
        self.shares.clone()
    }
}

/// A v2 image: `/dev` and `/tmp` mount points, `/etc/motd`, `/etc/demo.sh`,
/// `/data/{a,b}.txt`, a symlink `/links/motd`, plus `extra` files.
pub fn image(extra: &[(&str, &[u8])]) -> Vec<u8> {
    let meta = || EntryMeta {
        mtime: Some(EPOCH),
        ..EntryMeta::default()
    };
    let mut builder = ImageBuilder::new(BuildOptions {
        default_mtime: EPOCH,
        ..BuildOptions::default()
    });
    let bytes = |b: &[u8]| FileSource::Bytes(b.to_vec());
    for dir in ["/dev", "/tmp", "/data", "/links"] {
        builder.add_dir(dir, meta()).expect("dir");
    }
    let files: [(&str, &[u8]); 4] = [
        ("/etc/motd", b"hello\n"),
        ("/etc/demo.sh", b"echo from the script\ncat /etc/motd\n"),
        ("/data/a.txt", b"0123456789abcdefghij"),
        ("/data/b.txt", b""),
    ];
    for (path, data) in files.iter().chain(extra) {
        builder.add_file(path, bytes(data), meta()).expect("file");
    }
    builder
        .add_symlink("/links/motd", "../etc/motd", meta())
        .expect("symlink");
    let mut out = Cursor::new(Vec::new());
    builder
        .write(&mut out, &mut |_, _| {})
        .expect("write image");
    out.into_inner()
}

/// What [`Boot`] borrows, owned.
pub struct Machine {
    pub cmdline: String,
    pub config: Config,
    pub disks: Vec<Disk>,
    pub devfs: Arc<DevFs>,
}

impl Machine {
    /// `disk` as vblk0 (if any), devfs with it, and `cmdline` parsed.
    pub fn new(disk: Option<Vec<u8>>, cmdline: &str) -> Machine {
        let devfs = DevFs::new(7);
        let mut disks = Vec::new();
        if let Some(bytes) = disk {
            let device: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, bytes));
            devfs
                .add_block_device("vblk0", device.clone())
                .expect("vblk0");
            disks.push(Disk {
                name: String::from("vblk0"),
                device,
            });
        }
        Machine {
            cmdline: String::from(cmdline),
            config: cmdline::parse(cmdline).expect("command line"),
            disks,
            devfs,
        }
    }

    pub fn boot(&self) -> Boot<'_> {
        Boot {
            cmdline: &self.cmdline,
            config: &self.config,
            disks: &self.disks,
            devfs: &self.devfs,
            probe_ns: 0,
        }
    }
}
