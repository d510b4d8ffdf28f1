//! Unit tests straight through the backend traits (no VFS).

extern crate std;

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use drivers::{BlockDevice, BlockError, RamDisk};
use spin::Mutex;
use vfs::{Errno, FileSystem, FileType, FixedClock, Inode, MountContext, MountSource, Timespec};

use crate::{BLOCK_MAJOR, Console, DevFs, Xoshiro256StarStar, makedev};

fn node(fs: &DevFs, name: &str) -> Arc<dyn Inode> {
    fs.root().unwrap().lookup(name).unwrap()
}

fn listing(dir: &Arc<dyn Inode>, cookie: u64) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    dir.readdir(cookie, &mut |e, next| {
        out.push((e.name.to_string(), next));
        true
    })
    .unwrap();
    out
}

#[test]
fn standard_nodes_are_listed_sorted_with_linux_numbers() {
    let fs = DevFs::new(0);
    let root = fs.root().unwrap();
    let names: Vec<String> = listing(&root, 0).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["console", "full", "null", "random", "urandom", "zero"]
    );
    let null = node(&fs, "null").getattr().unwrap();
    assert_eq!(null.mode, 0o020666);
    assert_eq!(null.rdev, makedev(1, 3));
    assert_eq!(null.rdev, 0x103);
    assert_eq!(node(&fs, "console").getattr().unwrap().rdev, 0x501);
    assert_eq!(node(&fs, "urandom").file_type(), FileType::CharDevice);
    assert_eq!(root.getattr().unwrap().mode, 0o040755);
    assert_eq!(root.lookup("nope").err(), Some(Errno::ENOENT));
    // A big minor number uses the split encoding.
    assert_eq!(makedev(8, 0x1234), 0x0120_0834);
}

#[test]
fn dev_directory_refuses_changes() {
    let fs = DevFs::new(0);
    let root = fs.root().unwrap();
    assert_eq!(root.create("x", 0o100644, 0).err(), Some(Errno::EPERM));
    assert_eq!(root.mkdir("x", 0o755).err(), Some(Errno::EPERM));
    assert_eq!(root.symlink("x", "null").err(), Some(Errno::EPERM));
    assert_eq!(root.unlink("null"), Err(Errno::EPERM));
    assert_eq!(root.rename("null", &root, "x"), Err(Errno::EPERM));
    let null = node(&fs, "null");
    assert_eq!(root.link("x", &null), Err(Errno::EPERM));
    assert_eq!(null.lookup("x").err(), Some(Errno::ENOTDIR));
}

#[test]
fn null_zero_full() {
    let fs = DevFs::new(0);
    let mut buf = [7u8; 100];
    let null = node(&fs, "null");
    assert_eq!(null.read_at(0, &mut buf).unwrap(), 0);
    assert_eq!(null.write_at(12345, &buf).unwrap(), 100);

    let zero = node(&fs, "zero");
    assert_eq!(zero.read_at(99, &mut buf).unwrap(), 100);
    assert_eq!(buf, [0u8; 100]);
    assert_eq!(zero.write_at(0, b"abc").unwrap(), 3);

    let full = node(&fs, "full");
    buf.fill(9);
    assert_eq!(full.read_at(0, &mut buf).unwrap(), 100);
    assert_eq!(buf, [0u8; 100]);
    assert_eq!(full.write_at(0, b"abc"), Err(Errno::ENOSPC));
}

#[derive(Default)]
struct TestConsole {
    output: Mutex<Vec<u8>>,
    input: Mutex<Vec<u8>>,
}

impl Console for TestConsole {
    fn write(&self, data: &[u8]) {
        self.output.lock().extend_from_slice(data);
    }

    fn read(&self, buf: &mut [u8]) -> usize {
        let mut input = self.input.lock();
        let n = buf.len().min(input.len());
        buf[..n].copy_from_slice(&input[..n]);
        input.drain(..n);
        n
    }
}

#[test]
fn console_without_and_with_a_backend() {
    let fs = DevFs::new(0);
    let console = node(&fs, "console");
    let mut buf = [0u8; 8];
    assert_eq!(console.write_at(0, b"lost").unwrap(), 4);
    assert_eq!(console.read_at(0, &mut buf).unwrap(), 0);

    let backend = Arc::new(TestConsole::default());
    backend.input.lock().extend_from_slice(b"typed input");
    fs.set_console(backend.clone());
    assert_eq!(console.write_at(0, b"hello ").unwrap(), 6);
    assert_eq!(console.write_at(0, b"world").unwrap(), 5);
    assert_eq!(&*backend.output.lock(), b"hello world");
    assert_eq!(console.read_at(0, &mut buf).unwrap(), 8);
    assert_eq!(&buf, b"typed in");
    assert_eq!(console.read_at(0, &mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"put");
}

#[test]
fn xoshiro_matches_the_reference_output() {
    // Reference values for the state [1, 2, 3, 4].
    let mut rng = Xoshiro256StarStar::from_state([1, 2, 3, 4]);
    assert_eq!(rng.next_u64(), 11520);
    assert_eq!(rng.next_u64(), 0);
    assert_eq!(rng.next_u64(), 1_509_978_240);
}

#[test]
fn urandom_is_seeded_and_looks_random() {
    let read = |seed: u64| {
        let fs = DevFs::new(seed);
        let mut buf = vec![0u8; 1 << 16];
        assert_eq!(
            node(&fs, "urandom").read_at(0, &mut buf).unwrap(),
            buf.len()
        );
        buf
    };
    let a = read(1);
    assert_eq!(a, read(1), "same seed, same stream");
    assert_ne!(a, read(2));
    // Every byte value shows up, about equally often (65536 / 256 = 256 each).
    let mut counts = [0u32; 256];
    for &b in &a {
        counts[b as usize] += 1;
    }
    assert!(
        counts.iter().all(|&c| (150..=370).contains(&c)),
        "{counts:?}"
    );

    // random and urandom share one stream; odd lengths work; writes mix in.
    let fs = DevFs::new(5);
    let (u, r) = (node(&fs, "urandom"), node(&fs, "random"));
    let mut x = [0u8; 13];
    let mut y = [0u8; 13];
    u.read_at(0, &mut x).unwrap();
    r.read_at(0, &mut y).unwrap();
    assert_ne!(x, y);
    let fs2 = DevFs::new(5);
    let u2 = node(&fs2, "urandom");
    assert_eq!(u2.write_at(0, b"entropy").unwrap(), 7);
    let mut z = [0u8; 13];
    u2.read_at(0, &mut z).unwrap();
    assert_ne!(z, x, "writing changes the stream");
}

fn disk_with_pattern(blocks: u64) -> (Arc<dyn BlockDevice>, Vec<u8>) {
    let bytes: Vec<u8> = (0..blocks as usize * 512)
        .map(|i| (i * 13 % 251) as u8)
        .collect();
    (Arc::new(RamDisk::from_bytes(512, bytes.clone())), bytes)
}

#[test]
fn block_device_node_reads_and_writes_any_range() {
    let fs = DevFs::new(0);
    let (disk, mut shadow) = disk_with_pattern(16);
    fs.add_block_device("vblk0", disk.clone()).unwrap();
    let blk = node(&fs, "vblk0");
    let st = blk.getattr().unwrap();
    assert_eq!(st.mode, 0o060660);
    assert_eq!(st.size, 16 * 512);
    assert_eq!(st.rdev, makedev(BLOCK_MAJOR, 0));
    assert_eq!(blk.file_type(), FileType::BlockDevice);

    for (off, len) in [
        (0usize, 512usize),
        (1, 10),
        (500, 30),
        (511, 2000),
        (1024, 4096),
        (8000, 192),
    ] {
        let mut buf = vec![0u8; len];
        assert_eq!(blk.read_at(off as u64, &mut buf).unwrap(), len);
        assert_eq!(buf, shadow[off..off + len], "read {off}+{len}");
    }
    for (off, len) in [
        (3usize, 5usize),
        (510, 4),
        (700, 1500),
        (1024, 1024),
        (0, 8192),
        (8190, 2),
    ] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + off) as u8 ^ 0x5a).collect();
        assert_eq!(blk.write_at(off as u64, &data).unwrap(), len);
        shadow[off..off + len].copy_from_slice(&data);
        let mut whole = vec![0u8; shadow.len()];
        drivers::read_bytes(&*disk, 0, &mut whole).unwrap();
        assert_eq!(whole, shadow, "after write {off}+{len}");
    }

    // The end of the device: short, then nothing.
    let mut buf = [0u8; 100];
    assert_eq!(blk.read_at(8192 - 40, &mut buf).unwrap(), 40);
    assert_eq!(&buf[..40], &shadow[8192 - 40..]);
    assert_eq!(blk.read_at(8192, &mut buf).unwrap(), 0);
    assert_eq!(blk.read_at(u64::MAX, &mut buf).unwrap(), 0);
    assert_eq!(blk.write_at(8192 - 10, &[1u8; 100]).unwrap(), 10);
    assert_eq!(blk.write_at(8192, &[1u8; 100]), Err(Errno::ENOSPC));
    assert_eq!(blk.write_at(u64::MAX, &[1u8; 100]), Err(Errno::ENOSPC));
}

#[test]
fn block_device_is_handed_out_for_mounting() {
    let fs = DevFs::new(0);
    let (disk, _) = disk_with_pattern(4);
    fs.add_block_device("vblk0", disk.clone()).unwrap();
    let (other, _) = disk_with_pattern(2);
    fs.add_block_device("vblk1", other).unwrap();
    assert_eq!(
        fs.add_block_device("vblk0", disk.clone()),
        Err(Errno::EEXIST)
    );
    for bad in ["", ".", "..", "a/b", "nul\0"] {
        assert_eq!(
            fs.add_block_device(bad, disk.clone()),
            Err(Errno::EINVAL),
            "{bad:?}"
        );
    }
    let dev = node(&fs, "vblk0").block_device().unwrap();
    assert!(Arc::ptr_eq(&dev, &disk));
    assert_eq!(
        node(&fs, "vblk1").getattr().unwrap().rdev,
        makedev(BLOCK_MAJOR, 16)
    );
    assert!(node(&fs, "null").block_device().is_none());
}

/// A disk whose blocks from `bad_from` on fail.
struct FailingDisk {
    inner: RamDisk,
    bad_from: u64,
}

impl BlockDevice for FailingDisk {
    fn block_size(&self) -> usize {
        self.inner.block_size()
    }
    fn num_blocks(&self) -> u64 {
        self.inner.num_blocks()
    }
    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        if start + (buf.len() / 512) as u64 > self.bad_from {
            return Err(BlockError::Io);
        }
        self.inner.read_blocks(start, buf)
    }
    fn write_blocks(&self, start: u64, buf: &[u8]) -> Result<(), BlockError> {
        if start + (buf.len() / 512) as u64 > self.bad_from {
            return Err(BlockError::Io);
        }
        self.inner.write_blocks(start, buf)
    }
}

#[test]
fn device_errors_become_eio_or_short_writes() {
    let fs = DevFs::new(0);
    fs.add_block_device(
        "bad",
        Arc::new(FailingDisk {
            inner: RamDisk::new(512, 8),
            bad_from: 4,
        }),
    )
    .unwrap();
    fs.add_block_device("ro", Arc::new(RamDisk::new(512, 8).read_only()))
        .unwrap();
    let bad = node(&fs, "bad");
    let mut buf = [0u8; 600];
    assert_eq!(bad.read_at(0, &mut buf).unwrap(), 600);
    assert_eq!(bad.read_at(4 * 512, &mut buf), Err(Errno::EIO));
    assert_eq!(bad.write_at(4 * 512 + 3, &buf), Err(Errno::EIO));
    // Head block fine, the rest fails: a short count.
    assert_eq!(bad.write_at(3 * 512 + 100, &buf).unwrap(), 412);
    let ro = node(&fs, "ro");
    assert_eq!(ro.write_at(0, &buf), Err(Errno::EROFS));
    assert_eq!(ro.read_at(0, &mut buf).unwrap(), 600);
}

#[test]
fn readdir_cookies_stay_valid_while_devices_are_added() {
    let fs = DevFs::new(0);
    let root = fs.root().unwrap();
    let first = listing(&root, 0);
    // Stop after "null".
    let (_, after_null) = first.iter().find(|(n, _)| n == "null").cloned().unwrap();
    let (disk, _) = disk_with_pattern(1);
    fs.add_block_device("vblk0", disk.clone()).unwrap();
    fs.add_block_device("aaa", disk).unwrap();
    let rest: Vec<String> = listing(&root, after_null)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(rest, ["random", "urandom", "vblk0", "zero"]);
    assert!(listing(&root, 9999).is_empty());
    // Stopping early works.
    let mut taken = Vec::new();
    root.readdir(0, &mut |e, _| {
        taken.push(e.name.to_string());
        taken.len() < 2
    })
    .unwrap();
    assert_eq!(taken, ["aaa", "console"]);
}

#[test]
fn constructor_options() {
    let ctx = |options: &str| {
        MountContext::new(
            MountSource::None,
            options,
            Arc::new(FixedClock(Timespec::new(77, 0))),
            vfs::pagecache::PageCache::new(1 << 20),
        )
    };
    let read_random = |fs: &Arc<dyn FileSystem>| {
        let mut buf = [0u8; 16];
        fs.root()
            .unwrap()
            .lookup("urandom")
            .unwrap()
            .read_at(0, &mut buf)
            .unwrap();
        buf
    };
    let default = crate::new_fs(&ctx("")).unwrap();
    assert_eq!(default.fs_type(), "devfs");
    assert_eq!(default.root().unwrap().getattr().unwrap().mtime.sec, 77);
    let seeded = crate::new_fs(&ctx("seed=0")).unwrap();
    assert_eq!(read_random(&default), read_random(&seeded));
    let other = crate::new_fs(&ctx("seed=42")).unwrap();
    assert_ne!(read_random(&default), read_random(&other));
    for bad in ["seed=x", "seed", "size=1M", "seed=-1"] {
        assert_eq!(crate::new_fs(&ctx(bad)).err(), Some(Errno::EINVAL), "{bad}");
    }
}
