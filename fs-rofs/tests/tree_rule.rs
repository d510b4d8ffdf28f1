//! The directory tree rule (issue 8.1): hand-damaged images with valid
//! checksums whose directory entries make a cycle, or reach a directory
//! twice, or leave one unreachable, are refused at mount with EIO, in both
//! versions, and `inspect`/`verify` say which entry is wrong.

mod common;

use common::*;
use fs_rofs::writer::{EntryMeta, FileSource, Format, ImageBuilder};
use vfs::Errno;

/// `/a/b/c/` and `/d/` are directories, `/a/f` and `/d/g` files.
fn tree(format: Format) -> Vec<u8> {
    let mut b = ImageBuilder::new(options(format, 512));
    let m = EntryMeta::default;
    b.add_dir("/a/b/c", m()).unwrap();
    b.add_file("/a/f", FileSource::Bytes(b"f".to_vec()), m())
        .unwrap();
    b.add_file("/d/g", FileSource::Bytes(b"g".to_vec()), m())
        .unwrap();
    write_image(b).0
}

fn le(bytes: &[u8], at: usize, len: usize) -> u64 {
    let mut word = [0u8; 8];
    word[..len].copy_from_slice(&bytes[at..at + len]);
    u64::from_le_bytes(word)
}

/// One directory entry as found in the image bytes.
struct Entry {
    /// Byte offset of its inode-number field.
    ino_at: usize,
    ino: u64,
    name: Vec<u8>,
}

/// The tables of a v1 or v2 image, parsed the obvious way.
struct Tables {
    v1: bool,
    entries: Vec<Entry>,
    /// `(first entry, entry count)` of each inode (directories only).
    runs: Vec<(u64, u64)>,
}

fn parse(image: &[u8]) -> Tables {
    if le(image, 8, 8) == 1 {
        let mut at = 512 * le(image, 24, 8) as usize;
        let mut entries = Vec::new();
        for _ in 0..le(image, 40, 8) {
            let len = le(image, at + 8, 2) as usize;
            let name = image[at + 10..at + 10 + len].to_vec();
            let ino = le(image, at, 8);
            entries.push(Entry {
                ino_at: at,
                ino,
                name,
            });
            at += 10 + len;
        }
        for _ in 0..le(image, 48, 8) {
            at += 2 + le(image, at, 2) as usize;
        }
        let runs = (0..le(image, 56, 8) as usize)
            .map(|i| {
                (
                    le(image, at + 32 * i + 16, 8),
                    le(image, at + 32 * i + 24, 8),
                )
            })
            .collect();
        Tables {
            v1: true,
            entries,
            runs,
        }
    } else {
        let meta = le(image, 56, 8) as usize;
        let (inodes, dirents) = (
            meta + le(image, 88, 8) as usize,
            meta + le(image, 96, 8) as usize,
        );
        let names = meta + le(image, 104, 8) as usize;
        let entries = (0..le(image, 84, 4) as usize)
            .map(|i| {
                let at = dirents + 12 * i;
                let off = names + le(image, at + 4, 4) as usize;
                let len = le(image, at + 8, 2) as usize;
                let ino = le(image, at, 4);
                Entry {
                    ino_at: at,
                    ino,
                    name: image[off..off + len].to_vec(),
                }
            })
            .collect();
        let runs = (0..le(image, 80, 4) as usize)
            .map(|i| {
                (
                    le(image, inodes + 64 * i + 40, 8),
                    le(image, inodes + 64 * i + 48, 8),
                )
            })
            .collect();
        Tables {
            v1: false,
            entries,
            runs,
        }
    }
}

impl Tables {
    /// The index of the entry at `path` (absolute, no trailing slash).
    fn entry(&self, path: &str) -> usize {
        let mut dir = 1u64;
        let mut found = None;
        for name in path.split('/').filter(|n| !n.is_empty()) {
            let (start, count) = self.runs[dir as usize - 1];
            let index = (start..start + count)
                .map(|i| i as usize)
                .find(|&i| self.entries[i].name == name.as_bytes())
                .unwrap_or_else(|| panic!("{path}: no {name}"));
            dir = self.entries[index].ino;
            found = Some(index);
        }
        found.expect("not the root")
    }

    fn ino(&self, path: &str) -> u64 {
        if path == "/" {
            1
        } else {
            self.entries[self.entry(path)].ino
        }
    }
}

/// Point the entry at `path` at inode `ino`, keeping the checksums valid.
fn repoint(image: &mut [u8], path: &str, ino: u64) {
    let tables = parse(image);
    let at = tables.entries[tables.entry(path)].ino_at;
    if tables.v1 {
        image[at..at + 8].copy_from_slice(&ino.to_le_bytes());
    } else {
        image[at..at + 4].copy_from_slice(&(ino as u32).to_le_bytes());
        reseal(image);
    }
}

/// Recompute a v2 image's metadata and superblock CRC32s.
fn reseal(image: &mut [u8]) {
    let (meta, len) = (le(image, 56, 8) as usize, le(image, 64, 8) as usize);
    let crc = crc32fast::hash(&image[meta..meta + len]);
    image[72..76].copy_from_slice(&crc.to_le_bytes());
    let crc = fs_rofs::format::superblock_crc(&image[..fs_rofs::format::SUPERBLOCK_SIZE]);
    let at = fs_rofs::format::SB_CRC_OFFSET;
    image[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Damage a fresh image, then require: mount EIO, and inspect and verify
/// both explaining with `why`.
fn refused(format: Format, damage: impl Fn(&mut [u8], &Tables), why: &str) {
    let mut image = tree(format);
    let tables = parse(&image);
    damage(&mut image, &tables);
    assert_eq!(
        mount(image.clone()).err(),
        Some(Errno::EIO),
        "{format:?}: {why}"
    );
    let inspected = fs_rofs::inspect(&*disk(image.clone())).unwrap_err();
    assert_eq!(
        inspected.to_string(),
        format!("corrupt image: {why}"),
        "{format:?}"
    );
    let problems = fs_rofs::verify(&*disk(image)).unwrap_err();
    let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(lines, [format!("corrupt image: {why}")], "{format:?}");
}

const BOTH: [Format; 2] = [Format::V1, Format::V2];

#[test]
fn clean_tree_mounts() {
    for format in BOTH {
        let image = tree(format);
        assert!(mount(image.clone()).is_ok());
        assert!(fs_rofs::verify(&*disk(image)).is_ok());
    }
}

#[test]
fn entry_pointing_at_its_own_directory() {
    for format in BOTH {
        refused(
            format,
            |img, t| repoint(img, "/a/b", t.ino("/a")),
            r#"entry "b" in /a points at its own directory"#,
        );
    }
}

#[test]
fn entry_pointing_at_the_root() {
    for format in BOTH {
        refused(
            format,
            |img, _| repoint(img, "/a/b/c", 1),
            r#"entry "c" in /a/b points at the root"#,
        );
    }
}

#[test]
fn entry_pointing_at_an_ancestor() {
    for format in BOTH {
        refused(
            format,
            |img, t| repoint(img, "/a/b/c", t.ino("/a")),
            r#"entry "c" in /a/b points at its ancestor /a"#,
        );
    }
}

#[test]
fn two_entries_at_one_directory() {
    for format in BOTH {
        // Two names in one directory, and in two directories.
        let d = |t: &Tables| t.ino("/d");
        refused(
            format,
            |img, t| repoint(img, "/a", d(t)),
            &format!("directory inode {} is reachable twice (as /a and as /d)", 3),
        );
        refused(
            format,
            |img, t| repoint(img, "/d", t.ino("/a/b")),
            &format!(
                "directory inode {} is reachable twice (as /d and as /a/b)",
                4
            ),
        );
    }
}

#[test]
fn unreachable_directory() {
    for format in BOTH {
        // "/d" now names the file "/a/f": directory d hangs from nothing.
        refused(
            format,
            |img, t| repoint(img, "/d", t.ino("/a/f")),
            "directory inode 3 is unreachable from the root",
        );
    }
}

#[test]
fn inode_numbers_are_as_assumed() {
    // The messages above name inodes: breadth-first, children by name.
    for format in BOTH {
        let t = parse(&tree(format));
        let inos: Vec<u64> = ["/a", "/d", "/a/b", "/a/f", "/d/g", "/a/b/c"]
            .iter()
            .map(|p| t.ino(p))
            .collect();
        assert_eq!(inos, [2, 3, 4, 5, 6, 7], "{format:?}");
    }
}

#[test]
fn deep_paths_are_shortened_in_messages() {
    // 40 nested directories; the deepest entry points at the root.
    let names: Vec<String> = (0..40).map(|i| format!("d{i:02}")).collect();
    let deepest = format!("/{}", names.join("/"));
    for format in BOTH {
        let mut b = ImageBuilder::new(options(format, 512));
        b.add_dir(&deepest, EntryMeta::default()).unwrap();
        let mut image = write_image(b).0;
        repoint(&mut image, &deepest, 1);
        let why = fs_rofs::inspect(&*disk(image)).unwrap_err().to_string();
        // The 16 components nearest the entry, after "/...".
        let dir = format!("/.../{}", names[23..39].join("/"));
        assert_eq!(
            why,
            format!(r#"corrupt image: entry "d39" in {dir} points at the root"#)
        );
    }
}
