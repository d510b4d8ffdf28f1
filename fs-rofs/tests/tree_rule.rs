//! The directory tree rule (issue 8.1): hand-damaged images with valid
//! checksums whose directory entries make a cycle, or reach a directory
//! twice, or leave one unreachable, are refused at mount with EIO, in both
//! versions, and `inspect`/`verify` say which entry is wrong.

mod common;

use common::tables::{Tables, parse, repoint};
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
