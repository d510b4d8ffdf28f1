//! The image writer: determinism, deduplication, replacement semantics,
//! errors, and the checks `verify` and the `verify` mount option make.

mod common;

use std::io::Cursor;
use std::path::PathBuf;

use common::*;
use fs_rofs::writer::{BuildError, BuildOptions, EntryMeta, FileSource, Format, ImageBuilder};
use vfs::{Errno, FileType};

/// A scratch directory of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fs-rofs-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn build(format: Format, dir: &std::path::Path) -> Vec<u8> {
    let mut b = ImageBuilder::new(options(
        format,
        if format == Format::V1 { 512 } else { 4096 },
    ));
    b.add_file(
        "/z/last",
        FileSource::Path(dir.join("a.bin")),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_file(
        "/a/first",
        FileSource::Path(dir.join("b.bin")),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_file(
        "/m/bytes",
        FileSource::Bytes(pattern(777, 3)),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_symlink("/m/link", "bytes", EntryMeta::default())
        .unwrap();
    b.add_hardlink("/a/again", "/z/last").unwrap();
    write_image(b).0
}

#[test]
fn output_is_deterministic() {
    let dir = scratch("determinism");
    std::fs::write(dir.join("a.bin"), pattern(9000, 1)).unwrap();
    std::fs::write(dir.join("b.bin"), pattern(100, 2)).unwrap();
    for format in [Format::V1, Format::V2] {
        let one = build(format, &dir);
        let two = build(format, &dir);
        assert!(one == two, "{format:?}: two builds differ");
        assert!(mount(one).is_ok());
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn identical_files_share_data() {
    let dir = scratch("dedup");
    let contents = pattern(10_000, 77);
    std::fs::write(dir.join("host.bin"), &contents).unwrap();
    let build = |second: Vec<u8>| {
        let mut b = ImageBuilder::new(BuildOptions::default());
        b.add_file(
            "/one",
            FileSource::Path(dir.join("host.bin")),
            EntryMeta::default(),
        )
        .unwrap();
        b.add_file("/two", FileSource::Bytes(second), EntryMeta::default())
            .unwrap();
        b.add_file(
            "/three",
            FileSource::Bytes(contents.clone()),
            EntryMeta {
                mode: Some(0o600),
                ..Default::default()
            },
        )
        .unwrap();
        write_image(b)
    };
    let (same, summary) = build(contents.clone());
    assert_eq!(summary.data_bytes, 10_000);
    assert_eq!(summary.deduplicated_bytes, 20_000);
    assert_eq!(summary.files, 3);
    // Same CRC and size but different bytes would not be merged; here one
    // byte differs, so it takes its own three blocks.
    let mut different = contents.clone();
    different[5000] ^= 1;
    let (other, summary) = build(different);
    assert_eq!(summary.data_bytes, 20_000);
    assert_eq!(summary.deduplicated_bytes, 10_000);
    assert_eq!(other.len() - same.len(), 3 * 4096);
    // Three inodes (own metadata) reading the same bytes.
    let fs = mount(same.clone()).unwrap();
    let inos: Vec<u64> = ["/one", "/two", "/three"]
        .iter()
        .map(|p| resolve(&*fs, p).unwrap().ino())
        .collect();
    assert!(inos[0] != inos[1] && inos[1] != inos[2]);
    for path in ["/one", "/two", "/three"] {
        let inode = resolve(&*fs, path).unwrap();
        assert!(
            read_all(&*inode, 10_000, 4096).unwrap() == contents,
            "{path}"
        );
    }
    assert_eq!(
        resolve(&*fs, "/three").unwrap().getattr().unwrap().mode,
        0o100600
    );
    assert_eq!(fs_rofs::inspect(&*disk(same)).unwrap().data_bytes, 10_000);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A duplicate written last, larger than the metadata after it, leaves no
/// stale bytes behind: the image stays valid and its length is reported.
#[test]
fn trailing_duplicate_leaves_a_valid_image() {
    let dir = scratch("trailing");
    let big = pattern(200_000, 5);
    std::fs::write(dir.join("a"), &big).unwrap();
    std::fs::write(dir.join("b"), &big).unwrap();
    for format in [Format::V1, Format::V2] {
        // Host files are streamed and only then found to be duplicates.
        let mut b = ImageBuilder::new(options(format, 512));
        b.add_file("/a", FileSource::Path(dir.join("a")), EntryMeta::default())
            .unwrap();
        b.add_file("/b", FileSource::Path(dir.join("b")), EntryMeta::default())
            .unwrap();
        let (bytes, summary) = write_image(b);
        assert_eq!(summary.deduplicated_bytes, 200_000);
        let fs = mount(bytes.clone()).unwrap();
        let inode = resolve(&*fs, "/b").unwrap();
        assert!(read_all(&*inode, 200_000, 65536).unwrap() == big);
        fs_rofs::verify(&*disk(bytes)).expect("verify");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn later_adds_replace_earlier_ones() {
    let mut b = ImageBuilder::new(BuildOptions::default());
    b.add_file(
        "/etc/x",
        FileSource::Bytes(b"old".to_vec()),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_file(
        "/etc/x",
        FileSource::Bytes(b"new!".to_vec()),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_file(
        "/etc/y",
        FileSource::Bytes(b"y".to_vec()),
        EntryMeta::default(),
    )
    .unwrap();
    // Re-adding a directory keeps its children and takes the new metadata.
    b.add_dir(
        "/etc",
        EntryMeta {
            mode: Some(0o700),
            uid: 3,
            ..Default::default()
        },
    )
    .unwrap();
    // A file replaced by a directory, a directory by a symlink.
    b.add_file("/f", FileSource::Bytes(b"f".to_vec()), EntryMeta::default())
        .unwrap();
    b.add_dir("/f", EntryMeta::default()).unwrap();
    b.add_file(
        "/d/inner",
        FileSource::Bytes(b"i".to_vec()),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_symlink("/d", "/etc", EntryMeta::default()).unwrap();
    b.add_dir(
        "/",
        EntryMeta {
            mode: Some(0o711),
            ..Default::default()
        },
    )
    .unwrap();
    let (bytes, summary) = write_image(b);
    assert_eq!((summary.files, summary.dirs, summary.symlinks), (2, 3, 1));
    let fs = mount(bytes).unwrap();
    let x = resolve(&*fs, "/etc/x").unwrap();
    assert_eq!(read_all(&*x, 4, 10).unwrap(), b"new!");
    assert!(resolve(&*fs, "/etc/y").is_ok());
    let etc = resolve(&*fs, "/etc").unwrap().getattr().unwrap();
    assert_eq!((etc.mode, etc.uid), (0o040700, 3));
    assert_eq!(
        resolve(&*fs, "/f").unwrap().file_type(),
        FileType::Directory
    );
    assert_eq!(resolve(&*fs, "/d").unwrap().readlink().unwrap(), "/etc");
    assert_eq!(resolve(&*fs, "/d/inner").err(), Some(Errno::ENOTDIR));
    assert_eq!(
        vfs::FileSystem::root(&*fs).unwrap().getattr().unwrap().mode,
        0o040711
    );
}

#[test]
fn build_errors() {
    let m = EntryMeta::default;
    let mut b = ImageBuilder::new(BuildOptions::default());
    let bytes = || FileSource::Bytes(b"x".to_vec());
    assert!(matches!(
        b.add_file("relative", bytes(), m()),
        Err(BuildError::InvalidPath(_))
    ));
    assert!(matches!(
        b.add_file("/a/../b", bytes(), m()),
        Err(BuildError::InvalidPath(_))
    ));
    assert!(matches!(
        b.add_file("/a/./b", bytes(), m()),
        Err(BuildError::InvalidPath(_))
    ));
    assert!(matches!(
        b.add_file("/", bytes(), m()),
        Err(BuildError::InvalidPath(_))
    ));
    assert!(matches!(
        b.add_file("/nul\0", bytes(), m()),
        Err(BuildError::InvalidPath(_))
    ));
    assert!(matches!(
        b.add_file(&format!("/{}", "n".repeat(256)), bytes(), m()),
        Err(BuildError::NameTooLong(_))
    ));
    assert!(
        b.add_file(&format!("/{}", "n".repeat(255)), bytes(), m())
            .is_ok()
    );
    b.add_file("/file", bytes(), m()).unwrap();
    assert!(matches!(
        b.add_file("/file/child", bytes(), m()),
        Err(BuildError::NotADirectory(_))
    ));
    assert!(matches!(
        b.add_dir("/file/sub/dir", m()),
        Err(BuildError::NotADirectory(_))
    ));
    assert!(matches!(
        b.add_hardlink("/h", "/missing"),
        Err(BuildError::MissingLinkTarget(_))
    ));
    b.add_dir("/dir", m()).unwrap();
    assert!(matches!(
        b.add_hardlink("/h", "/dir"),
        Err(BuildError::HardLinkToDirectory(_))
    ));
    assert!(matches!(
        b.add_symlink("/s", "", m()),
        Err(BuildError::InvalidOption(_))
    ));
    assert!(matches!(
        b.add_symlink("/s", &"t".repeat(4096), m()),
        Err(BuildError::NameTooLong(_))
    ));
    // A missing host file is reported with its path when writing.
    let missing = PathBuf::from("/nonexistent/fs-rofs/source");
    b.add_file("/from-host", FileSource::Path(missing.clone()), m())
        .unwrap();
    let err = b
        .write(&mut Cursor::new(Vec::new()), &mut |_, _| {})
        .unwrap_err();
    match &err {
        BuildError::Io { path, .. } => assert_eq!(path, &missing),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("/nonexistent/fs-rofs/source"));
    // Block sizes.
    for (format, bs) in [
        (Format::V1, 4096),
        (Format::V2, 1000),
        (Format::V2, 256),
        (Format::V2, 1 << 17),
    ] {
        let b = ImageBuilder::new(options(format, bs));
        let err = b
            .write(&mut Cursor::new(Vec::new()), &mut |_, _| {})
            .unwrap_err();
        assert!(
            matches!(err, BuildError::InvalidOption(_)),
            "{format:?} {bs}"
        );
    }
}

#[test]
fn progress_reports_all_bytes() {
    let mut b = ImageBuilder::new(BuildOptions::default());
    b.add_file(
        "/a",
        FileSource::Bytes(pattern(3_000_000, 1)),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_file(
        "/b",
        FileSource::Bytes(pattern(10, 2)),
        EntryMeta::default(),
    )
    .unwrap();
    let mut calls = Vec::new();
    b.write(&mut Cursor::new(Vec::new()), &mut |done, total| {
        calls.push((done, total))
    })
    .unwrap();
    assert_eq!(calls.first(), Some(&(0, 3_000_010)));
    assert_eq!(calls.last(), Some(&(3_000_010, 3_000_010)));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn empty_image_and_empty_files() {
    for format in [Format::V1, Format::V2] {
        let (bytes, summary) = write_image(ImageBuilder::new(options(format, 512)));
        assert_eq!(summary.dirs, 1);
        let fs = mount(bytes).unwrap();
        assert_eq!(walk(&*fs, &SMALL_LIMITS).unwrap().len(), 1);
        let mut b = ImageBuilder::new(options(format, 512));
        for i in 0..5 {
            b.add_file(
                &format!("/e{i}"),
                FileSource::Bytes(Vec::new()),
                EntryMeta::default(),
            )
            .unwrap();
        }
        let (bytes, summary) = write_image(b);
        assert_eq!(summary.data_bytes, 0);
        // Superblock, no data, one block of metadata.
        assert_eq!(bytes.len(), 2 * 512, "{format:?}");
        let fs = mount(bytes).unwrap();
        let e = resolve(&*fs, "/e3").unwrap();
        assert_eq!(e.getattr().unwrap().size, 0);
        assert_eq!(e.read_at(0, &mut [0u8; 16]).unwrap(), 0);
    }
}

/// Damaged file data: `verify` names the file; the `verify` mount option
/// turns reads into EIO; a plain mount serves the bytes as they are.
#[test]
fn data_checksums() {
    let mut b = ImageBuilder::new(BuildOptions::default());
    b.add_file(
        "/usr/lib/x.so",
        FileSource::Bytes(pattern(10_000, 9)),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_file(
        "/ok",
        FileSource::Bytes(pattern(100, 10)),
        EntryMeta::default(),
    )
    .unwrap();
    let (mut bytes, _) = write_image(b);
    let clean = fs_rofs::verify(&*disk(bytes.clone())).unwrap();
    assert_eq!((clean.files_checked, clean.bytes_checked), (2, 10_100));
    // /ok is inode 2 (the root's children in name order: ok, usr), its
    // data starts at block 1; /usr/lib/x.so's data follows it.
    let fs = mount(bytes.clone()).unwrap();
    let x_ino = resolve(&*fs, "/usr/lib/x.so").unwrap().ino();
    bytes[2 * 4096 + 1234] ^= 0x55;
    let problems = fs_rofs::verify(&*disk(bytes.clone())).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let text = problems[0].to_string();
    assert!(
        text.starts_with(&format!(
            "inode {x_ino} (/usr/lib/x.so): data CRC32 mismatch"
        )),
        "{text}"
    );

    let plain = mount(bytes.clone()).unwrap();
    let x = resolve(&*plain, "/usr/lib/x.so").unwrap();
    assert!(x.read_at(0, &mut [0u8; 100]).is_ok());
    let checked = fs_rofs::RofsFs::mount(disk(bytes), "verify").unwrap();
    let x = resolve(&*checked, "/usr/lib/x.so").unwrap();
    assert_eq!(x.read_at(0, &mut [0u8; 100]).err(), Some(Errno::EIO));
    assert_eq!(
        x.read_at(5000, &mut [0u8; 100]).err(),
        Some(Errno::EIO),
        "stays failed"
    );
    let ok = resolve(&*checked, "/ok").unwrap();
    assert!(read_all(&*ok, 100, 7).unwrap() == pattern(100, 10));
}
