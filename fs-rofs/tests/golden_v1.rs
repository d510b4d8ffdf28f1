//! The reference image written by OSv's own generator must list exactly as
//! its expected listing says.

mod common;

use std::sync::Arc;

use common::*;
use fs_rofs::writer::{EntryMeta, FileSource, Format, ImageBuilder};
use vfs::{Errno, FileSystem, FileType, Inode};

fn data_dir() -> String {
    format!("{}/../tests/data/osv-rofs-v1", env!("CARGO_MANIFEST_DIR"))
}

fn golden() -> Vec<u8> {
    std::fs::read(format!("{}/golden-v1.rofs", data_dir())).expect("golden image")
}

/// Listing lines in the README's format, depth-first in readdir order.
fn listing(fs: &dyn FileSystem) -> Vec<String> {
    let mut lines = Vec::new();
    list(&fs.root().unwrap(), "/", &mut lines, 0);
    lines
}

fn list(inode: &Arc<dyn Inode>, path: &str, lines: &mut Vec<String>, depth: usize) {
    assert!(depth < 32, "walk bounded");
    let stat = inode.getattr().unwrap();
    match inode.file_type() {
        FileType::Directory => {
            let mut entries = Vec::new();
            inode
                .readdir(0, &mut |e, _| {
                    entries.push(e.to_entry());
                    true
                })
                .unwrap();
            lines.push(format!("d {path} {} -", entries.len()));
            for e in entries {
                let child = inode.lookup(&e.name).unwrap();
                assert_eq!(child.ino(), e.ino);
                let child_path = if path == "/" {
                    format!("/{}", e.name)
                } else {
                    format!("{path}/{}", e.name)
                };
                list(&child, &child_path, lines, depth + 1);
            }
        }
        FileType::Regular => {
            let data = read_all(&**inode, stat.size, 4096).unwrap();
            lines.push(format!(
                "f {path} {} {:08x}",
                stat.size,
                crc32fast::hash(&data)
            ));
        }
        FileType::Symlink => {
            let target = inode.readlink().unwrap();
            lines.push(format!("l {path} {} - -> {target}", stat.size));
        }
        other => panic!("{path}: unexpected {other:?}"),
    }
}

#[test]
fn golden_image_lists_as_expected() {
    let fs = mount(golden()).expect("mount OSv image");
    assert_eq!(fs.version(), 1);
    let expected = std::fs::read_to_string(format!("{}/golden-v1.listing", data_dir())).unwrap();
    let expected: Vec<&str> = expected.lines().collect();
    let got = listing(&*fs);
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
}

#[test]
fn golden_image_symlink_loop_and_lookups() {
    let fs = mount(golden()).unwrap();
    assert_eq!(
        resolve(&*fs, "/links/loop1").unwrap().readlink().unwrap(),
        "/links/loop2"
    );
    assert_eq!(
        resolve(&*fs, "/links/loop2").unwrap().readlink().unwrap(),
        "/links/loop1"
    );
    assert_eq!(
        resolve(&*fs, "/links/to-dir").unwrap().readlink().unwrap(),
        "/a/b"
    );
    let deep = resolve(&*fs, "/a/b/c/d/e/f/g/deep.txt").unwrap();
    assert_eq!(deep.getattr().unwrap().size, 777);
    assert_eq!(deep.getattr().unwrap().mode & 0o170000, 0o100000);
    assert_eq!(
        resolve(&*fs, "/many/f0299.txt").unwrap().file_type(),
        FileType::Regular
    );
    assert_eq!(resolve(&*fs, "/many/f0300.txt").err(), Some(Errno::ENOENT));
    assert_eq!(resolve(&*fs, "/etc/hostname/x").err(), Some(Errno::ENOTDIR));
    // Contents match the source tree.
    let hostname = std::fs::read(format!("{}/tree/etc/hostname", data_dir())).unwrap();
    let inode = resolve(&*fs, "/etc/hostname").unwrap();
    assert_eq!(
        read_all(&*inode, hostname.len() as u64, 3).unwrap(),
        hostname
    );
}

#[test]
fn golden_image_inspect_and_verify() {
    let info = fs_rofs::inspect(&*disk(golden())).unwrap();
    assert_eq!((info.version, info.block_size), (1, 512));
    assert_eq!((info.inodes, info.dirents, info.symlinks), (338, 337, 6));
    assert_eq!(info.dirs + info.files + info.symlinks, info.inodes);
    assert_eq!(info.metadata_crc32, None);
    let report = fs_rofs::verify(&*disk(golden())).unwrap();
    assert_eq!(report.files_checked, 0, "v1 has no checksums");
}

/// Our v1 writer rebuilds the same tree from the manifest's sources; the
/// result lists the same set of lines (our directory order is sorted).
#[test]
fn v1_writer_reproduces_golden_content() {
    let dir = data_dir();
    let mut b = ImageBuilder::new(options(Format::V1, 512));
    let meta = EntryMeta::default();
    let tree = format!("{dir}/tree");
    add_tree(&mut b, std::path::Path::new(&tree), "");
    // git keeps no empty directories, so the tree may lack this one.
    b.add_dir("/empty-dir", meta.clone()).unwrap();
    for (path, target) in [
        ("/links/rel-to-hostname", "../etc/hostname"),
        ("/links/abs-to-deep", "/a/b/c/d/e/f/g/deep.txt"),
        ("/links/dangling", "/does/not/exist"),
        ("/links/to-dir", "/a/b"),
        ("/links/loop1", "/links/loop2"),
        ("/links/loop2", "/links/loop1"),
    ] {
        b.add_symlink(path, target, meta.clone()).unwrap();
    }
    let (bytes, _) = write_image(b);
    let ours = mount(bytes).unwrap();
    let theirs = mount(golden()).unwrap();
    let mut a = listing(&*ours);
    let mut b = listing(&*theirs);
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

fn add_tree(b: &mut ImageBuilder, dir: &std::path::Path, guest: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let guest_path = format!("{guest}/{name}");
        let ft = entry.file_type().unwrap();
        if ft.is_dir() {
            b.add_dir(&guest_path, EntryMeta::default()).unwrap();
            add_tree(b, &entry.path(), &guest_path);
        } else {
            b.add_file(
                &guest_path,
                FileSource::Path(entry.path()),
                EntryMeta::default(),
            )
            .unwrap();
        }
    }
}

/// OSv's generator writes a non-ASCII name's length in characters: the
/// reader must refuse such an image or show a wrong name, never panic.
#[test]
fn osv_character_length_bug_is_survived() {
    let mut b = ImageBuilder::new(options(Format::V1, 512));
    b.add_file(
        "/caf\u{e9}-\u{65e5}",
        FileSource::Bytes(b"data".to_vec()),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_file(
        "/z",
        FileSource::Bytes(b"zz".to_vec()),
        EntryMeta::default(),
    )
    .unwrap();
    b.add_symlink("/\u{e9}l", "/caf\u{e9}", EntryMeta::default())
        .unwrap();
    let (bytes, _) = write_image(b);
    // Rewrite the tables as OSv would: character lengths, same bytes.
    let table = 512 * u64::from_le_bytes(bytes[24..32].try_into().unwrap()) as usize;
    let mut osv = bytes[..table].to_vec();
    let mut at = table;
    let dirents = u64::from_le_bytes(bytes[40..48].try_into().unwrap());
    let symlinks = u64::from_le_bytes(bytes[48..56].try_into().unwrap());
    for _ in 0..dirents {
        osv.extend_from_slice(&bytes[at..at + 8]);
        let len = u16::from_le_bytes([bytes[at + 8], bytes[at + 9]]) as usize;
        let name = &bytes[at + 10..at + 10 + len];
        let chars = std::str::from_utf8(name).unwrap().chars().count() as u16;
        osv.extend_from_slice(&chars.to_le_bytes());
        osv.extend_from_slice(name);
        at += 10 + len;
    }
    for _ in 0..symlinks {
        let len = u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
        let target = &bytes[at + 2..at + 2 + len];
        let chars = std::str::from_utf8(target).unwrap().chars().count() as u16;
        osv.extend_from_slice(&chars.to_le_bytes());
        osv.extend_from_slice(target);
        at += 2 + len;
    }
    osv.extend_from_slice(&bytes[at..]);
    osv.resize(bytes.len(), 0);
    let result = std::panic::catch_unwind(|| match mount(osv) {
        Ok(fs) => walk(&*fs, &SMALL_LIMITS).map(|w| w.len()),
        Err(e) => Err(e),
    });
    let outcome = result.expect("no panic");
    // The shifted tables do not parse as valid: an error, not garbage.
    assert!(outcome.is_err(), "{outcome:?}");
}
