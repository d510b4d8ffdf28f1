//! Build an image from a generated tree with the writer, mount it and read
//! everything back, for both formats.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use fs_rofs::RofsFs;
use fs_rofs::writer::{EntryMeta, FileSource, Format, ImageBuilder};
use vfs::{Errno, FileSystem, FileType};

/// What the test tree should contain at each path.
#[derive(Clone, Debug)]
struct Expect {
    node: Node,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    mtime_nsec: u32,
}

const SIZES: &[usize] = &[
    0, 1, 2, 511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097, 8191, 8192, 8193, 65535, 65536,
    65537, 100_003,
];
const BIG_DIR_ENTRIES: usize = 10_000;
const DEEP: usize = 40;
const DEFAULT_MTIME: i64 = 1_700_000_000;

struct Tree {
    builder: ImageBuilder,
    expect: BTreeMap<String, Expect>,
    /// Groups of paths that must share one inode (v2).
    hardlinks: Vec<Vec<String>>,
}

impl Tree {
    fn new(format: Format, block_size: u32) -> Self {
        let mut opts = options(format, block_size);
        opts.default_mtime = DEFAULT_MTIME;
        let mut expect = BTreeMap::new();
        expect.insert("/".to_string(), dir_expect());
        Tree {
            builder: ImageBuilder::new(opts),
            expect,
            hardlinks: Vec::new(),
        }
    }

    fn parents(&mut self, path: &str) {
        let mut at = 0;
        while let Some(i) = path[at + 1..].find('/') {
            at += i + 1;
            self.expect
                .entry(path[..at].to_string())
                .or_insert_with(dir_expect);
        }
    }

    fn file(&mut self, path: &str, data: Vec<u8>, meta: EntryMeta) {
        self.parents(path);
        self.expect.insert(
            path.to_string(),
            Expect {
                node: Node::File { data: data.clone() },
                mode: 0o100000 | meta.mode.unwrap_or(0o644),
                uid: meta.uid,
                gid: meta.gid,
                mtime: meta.mtime.unwrap_or(DEFAULT_MTIME),
                mtime_nsec: meta.mtime_nsec,
            },
        );
        self.builder
            .add_file(path, FileSource::Bytes(data), meta)
            .unwrap();
    }

    fn symlink(&mut self, path: &str, target: &str) {
        self.parents(path);
        self.expect.insert(
            path.to_string(),
            Expect {
                node: Node::Symlink {
                    target: target.to_string(),
                },
                mode: 0o120777,
                uid: 0,
                gid: 0,
                mtime: DEFAULT_MTIME,
                mtime_nsec: 0,
            },
        );
        self.builder
            .add_symlink(path, target, EntryMeta::default())
            .unwrap();
    }

    fn dir(&mut self, path: &str, meta: EntryMeta) {
        self.parents(path);
        self.expect.insert(
            path.to_string(),
            Expect {
                node: Node::Dir { entries: 0 },
                mode: 0o040000 | meta.mode.unwrap_or(0o755),
                uid: meta.uid,
                gid: meta.gid,
                mtime: meta.mtime.unwrap_or(DEFAULT_MTIME),
                mtime_nsec: meta.mtime_nsec,
            },
        );
        self.builder.add_dir(path, meta).unwrap();
    }

    fn hardlink(&mut self, path: &str, existing: &str) {
        self.parents(path);
        let e = self.expect[existing].clone();
        self.expect.insert(path.to_string(), e);
        self.builder.add_hardlink(path, existing).unwrap();
        match self
            .hardlinks
            .iter_mut()
            .find(|g| g.iter().any(|p| p == existing))
        {
            Some(group) => group.push(path.to_string()),
            None => self
                .hardlinks
                .push(vec![existing.to_string(), path.to_string()]),
        }
    }
}

fn dir_expect() -> Expect {
    Expect {
        node: Node::Dir { entries: 0 },
        mode: 0o040755,
        uid: 0,
        gid: 0,
        mtime: DEFAULT_MTIME,
        mtime_nsec: 0,
    }
}

fn generate(format: Format, block_size: u32) -> Tree {
    let mut t = Tree::new(format, block_size);
    // Files around every block boundary.
    for (i, &size) in SIZES.iter().enumerate() {
        t.file(
            &format!("/sizes/size-{size}"),
            pattern(size, i as u64 + 1),
            EntryMeta::default(),
        );
    }
    t.file("/empty", Vec::new(), EntryMeta::default());
    t.dir(
        "/empty-dir",
        EntryMeta {
            mode: Some(0o700),
            uid: 5,
            gid: 6,
            mtime: Some(42),
            mtime_nsec: 999_999_999,
        },
    );
    // Deep directories.
    let mut deep = String::new();
    for level in 0..DEEP {
        deep.push_str(&format!("/d{level}"));
    }
    t.file(
        &format!("{deep}/leaf.txt"),
        b"at the bottom\n".to_vec(),
        EntryMeta::default(),
    );
    // One directory of 10,000 entries: small distinct files, some empty.
    for i in 0..BIG_DIR_ENTRIES {
        let data = if i % 3 == 0 {
            Vec::new()
        } else {
            format!("entry {i}\n").into_bytes()
        };
        t.file(&format!("/big/f{i:05}"), data, EntryMeta::default());
    }
    // Metadata.
    t.file(
        "/meta/secret",
        b"s3cret".to_vec(),
        EntryMeta {
            mode: Some(0o4750),
            uid: 1000,
            gid: 100,
            mtime: Some(1_234_567_890),
            mtime_nsec: 123_456_789,
        },
    );
    t.file(
        "/meta/negative-time",
        b"old".to_vec(),
        EntryMeta {
            mtime: Some(-5),
            ..Default::default()
        },
    );
    // Symlinks.
    t.symlink("/links/rel", "../sizes/size-1");
    t.symlink("/links/abs", &format!("{deep}/leaf.txt"));
    t.symlink("/links/dangling", "/does/not/exist");
    t.symlink("/links/loop1", "/links/loop2");
    t.symlink("/links/loop2", "/links/loop1");
    t.symlink("/links/to-dir", "/sizes");
    // Hard links, in the same and in other directories.
    t.file(
        "/hard/original",
        pattern(5000, 99),
        EntryMeta {
            mode: Some(0o600),
            ..Default::default()
        },
    );
    t.hardlink("/hard/second", "/hard/original");
    t.hardlink("/elsewhere/third", "/hard/original");
    t.hardlink("/links/hard-symlink", "/links/rel");
    // Identical contents under different names (dedup).
    t.file("/dup/one", pattern(10_000, 1234), EntryMeta::default());
    t.file("/dup/two", pattern(10_000, 1234), EntryMeta::default());
    // Unicode and maximal names.
    t.file(
        "/names/caf\u{e9}.txt",
        b"unicode".to_vec(),
        EntryMeta::default(),
    );
    t.file(
        "/names/\u{65e5}\u{672c}\u{8a9e}",
        b"cjk".to_vec(),
        EntryMeta::default(),
    );
    t.file(
        "/names/emoji-\u{1f600}",
        b"emoji".to_vec(),
        EntryMeta::default(),
    );
    t.file(
        &format!("/names/{}", "x".repeat(255)),
        b"255 ascii".to_vec(),
        EntryMeta::default(),
    );
    t.file(
        &format!("/names/{}x", "\u{e9}".repeat(127)),
        b"255 bytes utf8".to_vec(),
        EntryMeta::default(),
    );
    t.file("/names/with space", b"space".to_vec(), EntryMeta::default());
    if format == Format::V3 {
        // Inline data of every length up to the threshold, and just past it.
        for len in 0..=fs_rofs::format::v3::V3_INLINE_MAX + 1 {
            t.file(
                &format!("/inline/len-{len:04}"),
                pattern(len, len as u64 + 7),
                EntryMeta::default(),
            );
        }
        // Symlink targets inline and (past the threshold) in a data block.
        t.symlink("/links/long", &"a/".repeat(2000));
        t.symlink("/links/longest", &"b".repeat(4095));
        // Big files with tails on both sides of the threshold.
        t.file("/tails/4096+2048", pattern(6144, 77), EntryMeta::default());
        t.file("/tails/4096+2049", pattern(6145, 78), EntryMeta::default());
        // Highly compressible and incompressible data across clusters.
        t.file("/lz/zeros", vec![0u8; 300_000], EntryMeta::default());
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog\n"
            .iter()
            .copied()
            .cycle()
            .take(200_001)
            .collect();
        t.file("/lz/text", text, EntryMeta::default());
        for (i, size) in [131_071usize, 131_072, 131_073, 196_608]
            .into_iter()
            .enumerate()
        {
            let mut mixed = pattern(size, 500 + i as u64);
            mixed[..size / 2].fill(7);
            t.file(&format!("/lz/mixed-{size}"), mixed, EntryMeta::default());
        }
    }
    t
}

fn check(format: Format, block_size: u32) {
    check_with(format, block_size, None);
}

fn check_with(format: Format, block_size: u32, lz4_cluster: Option<u32>) {
    let mut tree = generate(format, block_size);
    if let Some(cluster) = lz4_cluster {
        tree.builder.compress_lz4(cluster).unwrap();
    }
    let expect = tree.expect.clone();
    let hardlinks = tree.hardlinks.clone();
    let (bytes, summary) = write_image(tree.builder);
    assert!(
        summary.deduplicated_bytes >= 10_000,
        "identical files stored once: {summary:?}"
    );
    let fs = mount(bytes.clone()).expect("mount");
    let version = match format {
        Format::V1 => 1,
        Format::V2 => 2,
        Format::V3 => 3,
    };
    assert_eq!(fs.version(), version);

    let walked = walk(&*fs, &BIG_LIMITS).expect("walk");
    let paths: Vec<&String> = walked.iter().map(|(p, _)| p).collect();
    let expected_paths: Vec<&String> = expect.keys().collect();
    let mut sorted_paths = paths.clone();
    sorted_paths.sort();
    assert_eq!(sorted_paths, expected_paths, "same set of paths");

    let walked = by_path(walked);
    for (path, want) in &expect {
        let got = &walked[path];
        let ftype = got.stat.file_type().unwrap();
        match (&want.node, &got.node) {
            (Node::File { data: w }, Node::File { data: g }) => {
                assert!(w == g, "{path}: contents differ");
                assert_eq!(got.stat.size, w.len() as u64, "{path}: size");
            }
            (Node::Symlink { target: w }, Node::Symlink { target: g }) => {
                assert_eq!(w, g, "{path}");
                assert_eq!(got.stat.size, w.len() as u64, "{path}: symlink size");
            }
            (Node::Dir { .. }, Node::Dir { entries }) => {
                let children = expect
                    .keys()
                    .filter(|p| parent(p) == Some(path.as_str()))
                    .count();
                assert_eq!(*entries, children, "{path}: entry count");
            }
            (w, g) => panic!("{path}: expected {w:?}, got {g:?}"),
        }
        assert_eq!(ftype.mode_bits(), want.mode & 0o170000, "{path}: type");
        if format != Format::V1 {
            assert_eq!(got.stat.mode, want.mode, "{path}: mode");
            assert_eq!(
                (got.stat.uid, got.stat.gid),
                (want.uid, want.gid),
                "{path}: owner"
            );
            assert_eq!(got.stat.mtime.sec, want.mtime, "{path}: mtime");
            assert_eq!(got.stat.mtime.nsec, want.mtime_nsec, "{path}: mtime_nsec");
            assert_eq!(got.stat.blksize, block_size);
        }
    }

    // Hard links: one inode under several names (v2), link count = names.
    for group in &hardlinks {
        let inos: Vec<u64> = group.iter().map(|p| walked[p].ino).collect();
        if format != Format::V1 {
            assert!(
                inos.iter().all(|&i| i == inos[0]),
                "{group:?} share an inode: {inos:?}"
            );
            assert_eq!(walked[&group[0]].stat.nlink as usize, group.len());
        } else {
            let mut unique = inos.clone();
            unique.dedup();
            assert_eq!(unique.len(), group.len(), "v1 stores separate inodes");
        }
    }
    // Directory link counts (v2): 2 + subdirectories.
    if format != Format::V1 {
        for (path, want) in &expect {
            if let Node::Dir { .. } = want.node {
                let subdirs = expect
                    .iter()
                    .filter(|(p, e)| {
                        parent(p) == Some(path.as_str()) && matches!(e.node, Node::Dir { .. })
                    })
                    .count();
                assert_eq!(
                    walked[path].stat.nlink as usize,
                    2 + subdirs,
                    "{path}: nlink"
                );
            }
        }
    }

    check_through_vfs(fs.clone(), &expect, format);
    check_lookup_and_readdir(&fs, format);
    check_reads(&fs, &expect);
    check_read_only(&fs);

    let report = fs_rofs::verify(&*disk(bytes.clone())).expect("verify clean image");
    assert_eq!(report.info.version, version);
    assert_eq!(
        report.info.files as usize,
        expect
            .values()
            .filter(|e| matches!(e.node, Node::File { .. }))
            .count()
            - if format != Format::V1 {
                hardlinks[0].len() - 1
            } else {
                0
            }
    );
    let image_len = bytes.len() as u64;
    let info = fs_rofs::inspect(&*disk(bytes)).unwrap();
    assert_eq!(
        info.dirents as usize,
        expect.len() - 1,
        "one entry per path but the root"
    );
    assert_eq!(
        (info.files, info.dirs, info.symlinks),
        (summary.files, summary.dirs, summary.symlinks)
    );
    assert_eq!(info.inodes, info.files + info.dirs + info.symlinks);
    assert_eq!(info.image_bytes, image_len);
    if format != Format::V1 {
        if lz4_cluster.is_none() {
            assert_eq!(info.data_bytes, summary.data_bytes);
        } else {
            // Compressed clusters take less than the data they hold.
            assert!(info.data_bytes < summary.data_bytes, "{info:?}");
        }
        assert!(info.superblock_crc32.is_some());
        // v2: the region's CRC; v3: the CRC of the per-block CRCs.
        assert!(info.metadata_crc32.is_some());
    }
}

/// The same tree read through `vfs::Vfs` (path resolution, descriptors).
fn check_through_vfs(fs: Arc<RofsFs>, expect: &BTreeMap<String, Expect>, format: Format) {
    let vfs = vfs::Vfs::new(Arc::new(vfs::FixedClock::default()));
    vfs.mount_fs(fs, "/dev/vblk0", "/", vfs::MountFlags::RDONLY, "")
        .unwrap();
    for (path, want) in expect {
        let stat = vfs.lstat(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(stat.mode & 0o170000, want.mode & 0o170000, "{path}");
        if format != Format::V1 {
            assert_eq!(stat.mode, want.mode, "{path}");
        }
        match &want.node {
            Node::File { data } => assert!(vfs.read_file(path).unwrap() == *data, "{path}"),
            Node::Symlink { target } => assert_eq!(&vfs.readlink(path).unwrap(), target, "{path}"),
            Node::Dir { .. } => {
                let children = expect
                    .keys()
                    .filter(|p| parent(p) == Some(path.as_str()))
                    .count();
                assert_eq!(vfs.read_dir(path).unwrap().len(), children, "{path}");
            }
        }
    }
    assert_eq!(vfs.stat("/links/loop1").err(), Some(Errno::ELOOP));
    assert_eq!(
        vfs.read_file("/links/rel").unwrap(),
        vfs.read_file("/sizes/size-1").unwrap()
    );
}

fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    let i = path.rfind('/').unwrap();
    Some(if i == 0 { "/" } else { &path[..i] })
}

fn check_lookup_and_readdir(fs: &Arc<RofsFs>, format: Format) {
    let big = resolve(&**fs, "/big").unwrap();
    // Every entry is found by lookup, and misses give ENOENT.
    for i in (0..BIG_DIR_ENTRIES).step_by(97) {
        let name = format!("f{i:05}");
        let child = big.lookup(&name).unwrap();
        assert_eq!(child.file_type(), FileType::Regular);
    }
    for miss in ["f10000", "f", "g00001", "f0000", "\u{e9}"] {
        assert_eq!(big.lookup(miss).err(), Some(Errno::ENOENT), "{miss}");
    }
    // readdir resumes at any cookie; v2 lists names in byte order.
    let mut all = Vec::new();
    big.readdir(0, &mut |e, next| {
        all.push((e.name.to_string(), next));
        true
    })
    .unwrap();
    assert_eq!(all.len(), BIG_DIR_ENTRIES);
    if format != Format::V1 {
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
    }
    let (_, cookie) = all[4321].clone();
    let mut rest = Vec::new();
    big.readdir(cookie, &mut |e, _| {
        rest.push(e.name.to_string());
        rest.len() < 3
    })
    .unwrap();
    assert_eq!(
        rest,
        vec![
            all[4322].0.clone(),
            all[4323].0.clone(),
            all[4324].0.clone()
        ]
    );
    let mut none = 0;
    // The cookie after the last entry (the entry count in v1/v2; opaque in v3).
    let end = all.last().unwrap().1;
    if format != Format::V3 {
        assert_eq!(end, BIG_DIR_ENTRIES as u64);
    }
    big.readdir(end, &mut |_, _| {
        none += 1;
        true
    })
    .unwrap();
    big.readdir(u64::MAX, &mut |_, _| {
        none += 1;
        true
    })
    .unwrap();
    assert_eq!(none, 0);
    // Type errors.
    let file = resolve(&**fs, "/sizes/size-1").unwrap();
    assert_eq!(file.lookup("x").err(), Some(Errno::ENOTDIR));
    assert_eq!(
        file.readdir(0, &mut |_, _| true).err(),
        Some(Errno::ENOTDIR)
    );
    assert_eq!(file.readlink().err(), Some(Errno::EINVAL));
    assert_eq!(big.read_at(0, &mut [0u8; 4]).err(), Some(Errno::EISDIR));
    let link = resolve(&**fs, "/links/loop1").unwrap();
    assert_eq!(link.readlink().unwrap(), "/links/loop2");
    assert_eq!(
        resolve(&**fs, "/links/loop2").unwrap().readlink().unwrap(),
        "/links/loop1"
    );
    assert_eq!(link.read_at(0, &mut [0u8; 4]).err(), Some(Errno::EINVAL));
}

fn check_reads(fs: &Arc<RofsFs>, expect: &BTreeMap<String, Expect>) {
    // Odd chunk sizes and offsets, including past the end.
    for &size in SIZES {
        let path = format!("/sizes/size-{size}");
        let Node::File { data } = &expect[&path].node else {
            unreachable!()
        };
        let inode = resolve(&**fs, &path).unwrap();
        for chunk in [1usize, 7, 511, 512, 4096, 10_000] {
            if size > 20_000 && chunk < 512 {
                continue;
            }
            assert!(
                read_all(&*inode, size as u64, chunk).unwrap() == *data,
                "{path} in chunks of {chunk}"
            );
        }
        for offset in [
            0u64,
            1,
            511,
            512,
            4095,
            4097,
            size as u64 / 2,
            size as u64,
            size as u64 + 1,
            u64::MAX,
        ] {
            let mut buf = vec![0u8; 1000];
            let n = inode.read_at(offset, &mut buf).unwrap();
            let start = (offset as usize).min(size);
            let want = &data[start..(start + 1000).min(size)];
            assert_eq!(n, want.len(), "{path} at {offset}");
            assert!(&buf[..n] == want, "{path} at {offset}");
        }
    }
}

fn check_read_only(fs: &Arc<RofsFs>) {
    assert!(fs.is_read_only());
    assert_eq!(fs.fs_type(), "rofs");
    let statfs = fs.statfs().unwrap();
    assert_eq!(statfs.blocks_free, 0);
    assert!(statfs.files > BIG_DIR_ENTRIES as u64);
    // Changes never reach the backend: the VFS answers EROFS for a
    // filesystem that says it is read-only, even on a mount without `ro`.
    let vfs = vfs::Vfs::new(Arc::new(vfs::FixedClock::default()));
    vfs.mount_fs(fs.clone(), "/dev/vblk0", "/", vfs::MountFlags::empty(), "")
        .unwrap();
    let file = "/sizes/size-1";
    assert_eq!(vfs.mkdir("/x", 0o755).err(), Some(Errno::EROFS));
    assert_eq!(vfs.mknod("/x", 0o100644, 0).err(), Some(Errno::EROFS));
    assert_eq!(vfs.symlink("y", "/x").err(), Some(Errno::EROFS));
    assert_eq!(vfs.unlink("/empty").err(), Some(Errno::EROFS));
    assert_eq!(vfs.rmdir("/empty-dir").err(), Some(Errno::EROFS));
    assert_eq!(vfs.link(file, "/x").err(), Some(Errno::EROFS));
    assert_eq!(vfs.rename("/empty", "/full").err(), Some(Errno::EROFS));
    assert_eq!(
        vfs.open(file, vfs::OpenFlags::O_WRONLY, 0).err(),
        Some(Errno::EROFS)
    );
    assert_eq!(vfs.truncate(file, 0).err(), Some(Errno::EROFS));
    assert_eq!(vfs.chmod(file, 0o600).err(), Some(Errno::EROFS));
}

#[test]
fn round_trip_v2_4096() {
    check(Format::V2, 4096);
}

#[test]
fn round_trip_v2_512() {
    check(Format::V2, 512);
}

#[test]
fn round_trip_v1() {
    check(Format::V1, 512);
}

#[test]
fn mount_through_constructor() {
    let bytes = small_tree(Format::V2, 4096);
    let device = disk(bytes);
    let ctx = |source, options: &str| {
        vfs::MountContext::new(
            source,
            options,
            Arc::new(vfs::FixedClock::default()),
            pagecache::PageCache::new(1 << 20),
        )
    };
    let dev_source = || vfs::MountSource::Device {
        name: "/dev/vblk0".into(),
        device: device.clone(),
    };
    use vfs::FsType;
    let new_fs = |ctx: &vfs::MountContext| fs_rofs::RofsType.create(ctx);
    let fs = new_fs(&ctx(dev_source(), "")).unwrap();
    assert_eq!(fs.fs_type(), "rofs");
    assert!(new_fs(&ctx(dev_source(), "verify")).is_ok());
    assert_eq!(
        new_fs(&ctx(dev_source(), "verify,bogus")).err(),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        new_fs(&ctx(dev_source(), "verify=1")).err(),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        new_fs(&ctx(vfs::MountSource::None, "")).err(),
        Some(Errno::ENOTBLK)
    );
    // A source that names no device (the old untyped-device case can no
    // longer be built: devices are typed).
    let wrong = vfs::MountSource::Named("x".into());
    assert_eq!(new_fs(&ctx(wrong, "")).err(), Some(Errno::ENOTBLK));
}

#[test]
fn round_trip_v3() {
    check(Format::V3, 4096);
}

#[test]
fn round_trip_v3_lz4_64k() {
    check_with(Format::V3, 4096, Some(65536));
}

#[test]
fn round_trip_v3_lz4_4k() {
    check_with(Format::V3, 4096, Some(4096));
}

/// Compressed images store less, report what they store, and read the
/// same bytes as the raw image.
#[test]
fn v3_lz4_stores_less_and_reads_the_same() {
    let (raw, _) = write_image(generate(Format::V3, 4096).builder);
    let mut tree = generate(Format::V3, 4096);
    tree.builder.compress_lz4(65536).unwrap();
    let (packed, _) = write_image(tree.builder);
    assert!(
        packed.len() < raw.len() - 400_000,
        "{} vs {}",
        packed.len(),
        raw.len()
    );
    let info = fs_rofs::inspect(&*disk(packed.clone())).unwrap();
    assert_eq!(info.incompat & fs_rofs::format::v3::V3_INCOMPAT_LZ4, 1);
    assert!(info.data_bytes < info.raw_bytes - info.inline_bytes);
    let fs = mount(packed).unwrap();
    let zeros = resolve(&*fs, "/lz/zeros").unwrap().getattr().unwrap();
    assert!(
        zeros.blocks * 512 < 10_000,
        "stored size of zeros: {}",
        zeros.blocks * 512
    );
    let noise = resolve(&*fs, "/sizes/size-100003")
        .unwrap()
        .getattr()
        .unwrap();
    assert!(
        noise.blocks * 512 >= 100_003,
        "incompressible data is stored raw"
    );
}

/// v3 images depend only on their inputs, and store small files inline.
#[test]
fn v3_reproducible_and_inline() {
    let (a, summary) = write_image(generate(Format::V3, 4096).builder);
    let (b, _) = write_image(generate(Format::V3, 4096).builder);
    assert!(a == b, "two builds of one tree are byte for byte equal");
    let info = fs_rofs::inspect(&*disk(a)).unwrap();
    assert_eq!(info.version, 3);
    // Every file of at most 2048 bytes is inline (the /inline files alone
    // hold sum(0..=2048) bytes), and none of them is in the data region.
    let inline_files: u64 = (0..=fs_rofs::format::v3::V3_INLINE_MAX as u64).sum();
    assert!(info.inline_bytes >= inline_files, "{info:?}");
    assert_eq!(
        info.raw_bytes,
        info.inline_bytes + summary.data_bytes + summary.deduplicated_bytes
    );
}
