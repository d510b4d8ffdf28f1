//! virtio-fs file data in the shared page cache (the crate's cache
//! policy): a `vfs::Vfs` over the backend over the in-process FUSE server,
//! counting READ requests and changing files behind the guest's back on
//! the host.

mod common;

use std::fs::{File, FileTimes};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{Config, FakeServer, mount_root};
use fs_virtiofs::FILL;
use fs_virtiofs::proto::{Opcode, fopen};
use vfs::{FixedClock, OpenFlags, Timespec, Vfs};

const LEN: usize = 300 * 1024;

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed ^ (i >> 12) as u8)
        .collect()
}

fn setup(dir: &Path, config: Config) -> (Arc<FakeServer>, Vfs) {
    std::fs::write(dir.join("f"), content(LEN, 1)).unwrap();
    let server = Arc::new(FakeServer::with_config(dir, config));
    let clock = Arc::new(FixedClock(Timespec::new(1_700_000_000, 0)));
    let vfs = mount_root(server.clone(), clock);
    (server, vfs)
}

/// Read `len` bytes at 0 in one call (exactly the file's size where the
/// READ count matters: a read past the end asks the server once more).
fn read_all(vfs: &Vfs, fd: i32, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let n = vfs.pread(fd, &mut buf, 0).unwrap();
    buf.truncate(n);
    buf
}

fn reads(server: &FakeServer) -> u64 {
    server.count(Opcode::Read)
}

/// Give `path` an mtime that cannot be the one it had.
fn set_mtime(path: &Path, secs: u64) {
    let file = File::options().write(true).open(path).unwrap();
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    file.set_times(FileTimes::new().set_modified(when)).unwrap();
}

#[test]
fn reads_again_and_after_reopen_come_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (server, vfs) = setup(dir.path(), Config::default());
    let fd = vfs.open("/f", OpenFlags::O_RDONLY, 0).unwrap();
    assert_eq!(read_all(&vfs, fd, LEN), content(LEN, 1));
    // One READ for the whole span (within max_read).
    let first = reads(&server);
    assert_eq!(first, 1);
    assert_eq!(read_all(&vfs, fd, LEN), content(LEN, 1));
    assert_eq!(reads(&server), first, "second read asked the server");
    vfs.close(fd).unwrap();
    // Unchanged on the host: a reopen keeps the data.
    let fd = vfs.open("/f", OpenFlags::O_RDONLY, 0).unwrap();
    let mut part = vec![0u8; 10_000];
    assert_eq!(vfs.pread(fd, &mut part, 12_345).unwrap(), 10_000);
    assert!(part[..] == content(LEN, 1)[12_345..22_345]);
    assert_eq!(
        reads(&server),
        first,
        "a reopen of an unchanged file dropped its data"
    );
    vfs.close(fd).unwrap();
    let stats = vfs.cache().stats().unwrap();
    assert!(stats.to_string().contains("virtiofs:share"), "{stats}");
    assert!(vfs.cache().resident_bytes() >= LEN);
}

#[test]
fn small_sequential_reads_take_one_request_per_fill() {
    let dir = tempfile::tempdir().unwrap();
    let (server, vfs) = setup(dir.path(), Config::default());
    let fd = vfs.open("/f", OpenFlags::O_RDONLY, 0).unwrap();
    let mut back = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = vfs.read(fd, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
    }
    assert!(back == content(LEN, 1));
    // Whole fills, plus the READs at the end of the file that find nothing.
    let fills = LEN.div_ceil(FILL) as u64;
    let got = reads(&server);
    assert!(
        (fills..=fills + 2).contains(&got),
        "{got} READs for {fills} fills"
    );
    vfs.close(fd).unwrap();
}

#[test]
fn a_host_change_is_seen_at_the_next_open_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let (server, vfs) = setup(dir.path(), Config::default());
    let path = dir.path().join("f");
    let fd = vfs.open("/f", OpenFlags::O_RDONLY, 0).unwrap();
    assert_eq!(read_all(&vfs, fd, LEN), content(LEN, 1));
    // Same size, new bytes and mtime, written on the host.
    std::fs::write(&path, content(LEN, 2)).unwrap();
    set_mtime(&path, 1_000_000);
    let before = reads(&server);
    assert_eq!(read_all(&vfs, fd, LEN), content(LEN, 1), "close-to-open");
    assert_eq!(reads(&server), before);
    vfs.close(fd).unwrap();
    let fd = vfs.open("/f", OpenFlags::O_RDONLY, 0).unwrap();
    assert_eq!(read_all(&vfs, fd, LEN), content(LEN, 2));
    vfs.close(fd).unwrap();
    // Longer on the host (mtime kept): the size alone drops the data.
    let longer = content(LEN + 5000, 3);
    std::fs::write(&path, &longer).unwrap();
    set_mtime(&path, 1_000_000);
    let fd = vfs.open("/f", OpenFlags::O_RDONLY, 0).unwrap();
    assert_eq!(read_all(&vfs, fd, LEN + 5000), longer);
    vfs.close(fd).unwrap();
    // A stat showing the change drops the data too, before any reopen.
    let fd = vfs.open("/f", OpenFlags::O_RDONLY, 0).unwrap();
    std::fs::write(&path, content(LEN + 5000, 4)).unwrap();
    set_mtime(&path, 2_000_000);
    vfs.stat("/f").unwrap();
    assert_eq!(read_all(&vfs, fd, LEN + 5000), content(LEN + 5000, 4));
    vfs.close(fd).unwrap();
}

#[test]
fn writes_and_truncates_drop_what_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let (server, vfs) = setup(dir.path(), Config::default());
    let fd = vfs.open("/f", OpenFlags::O_RDWR, 0).unwrap();
    let mut want = content(LEN, 1);
    assert_eq!(read_all(&vfs, fd, LEN), want);
    let patch = vec![0xAB; 10_000];
    assert_eq!(vfs.pwrite(fd, &patch, 100_001).unwrap(), patch.len());
    want[100_001..110_001].copy_from_slice(&patch);
    assert!(read_all(&vfs, fd, LEN) == want);
    // Appending past a cached partial last page.
    assert_eq!(vfs.pwrite(fd, b"tail", LEN as u64).unwrap(), 4);
    want.extend_from_slice(b"tail");
    assert!(read_all(&vfs, fd, LEN + 4) == want);
    vfs.ftruncate(fd, 5000).unwrap();
    assert!(read_all(&vfs, fd, LEN + 100) == want[..5000]);
    vfs.ftruncate(fd, 8000).unwrap();
    let mut grown = want[..5000].to_vec();
    grown.resize(8000, 0);
    assert!(read_all(&vfs, fd, LEN + 100) == grown);
    vfs.close(fd).unwrap();
    assert!(std::fs::read(dir.path().join("f")).unwrap() == grown);
    assert_eq!(server.violations(), Vec::<String>::new());
}

#[test]
fn direct_io_opens_bypass_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        open_flags: fopen::DIRECT_IO,
        ..Config::default()
    };
    let (server, vfs) = setup(dir.path(), config);
    let fd = vfs.open("/f", OpenFlags::O_RDONLY, 0).unwrap();
    assert_eq!(read_all(&vfs, fd, LEN), content(LEN, 1));
    let first = reads(&server);
    assert_eq!(read_all(&vfs, fd, LEN), content(LEN, 1));
    assert_eq!(reads(&server), 2 * first, "a direct-I/O read was cached");
    // A host change shows at once.
    std::fs::write(dir.path().join("f"), content(LEN, 9)).unwrap();
    assert_eq!(read_all(&vfs, fd, LEN), content(LEN, 9));
    vfs.close(fd).unwrap();
    assert_eq!(vfs.cache().resident_bytes(), 0);
}

#[test]
fn reads_larger_than_the_bypass_threshold_are_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let (server, vfs) = setup(dir.path(), Config::default());
    let big = content(3 << 20, 5);
    std::fs::write(dir.path().join("big"), &big).unwrap();
    let fd = vfs.open("/big", OpenFlags::O_RDONLY, 0).unwrap();
    assert!(read_all(&vfs, fd, big.len() + 100) == big);
    assert_eq!(vfs.cache().resident_bytes(), 0);
    // Straight into the caller's buffer: 1 MiB READs, then the one at the end.
    assert_eq!(
        server.io_sizes(Opcode::Read),
        [1 << 20, 1 << 20, 1 << 20, 100]
    );
    vfs.close(fd).unwrap();
}
