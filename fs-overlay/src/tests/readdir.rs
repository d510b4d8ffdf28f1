//! Merged listings: each name once, whiteouts hidden, stable across
//! `getdents` calls, and the same inode numbers as `stat`.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::vec;

use vfs::{FileType, OpenFlags, Whence};

use super::*;

fn listing(s: &Stack, dir: &str) -> Vec<(String, FileType)> {
    let mut v: Vec<_> = s
        .vfs
        .read_dir(dir)
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.file_type))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// `/d` holding an empty file at each of `paths`.
fn files_in_d(paths: &[String]) -> Vec<Entry<'_>> {
    core::iter::once(Entry::Dir("/d", 0o755))
        .chain(paths.iter().map(|p| Entry::File(p, b"", 0o644)))
        .collect()
}

#[test]
fn merged_listing_names_each_entry_once_with_its_top_type() {
    let s = Stack::new(&[
        Entry::Dir("/d", 0o755),
        Entry::File("/d/file", b"1", 0o644),
        Entry::File("/d/gone", b"2", 0o644),
        Entry::Dir("/d/sub", 0o755),
        Entry::Symlink("/d/link", "file"),
        Entry::File("/d/replaced", b"3", 0o644),
    ]);
    s.vfs.unlink("/d/gone").unwrap();
    s.vfs.write_file("/d/new", b"4").unwrap();
    s.write_at("/d/file", 0, b"x");
    s.vfs.unlink("/d/replaced").unwrap();
    s.vfs.mkdir("/d/replaced", 0o755).unwrap();
    assert_eq!(
        listing(&s, "/d"),
        vec![
            ("file".into(), FileType::Regular),
            ("link".into(), FileType::Symlink),
            ("new".into(), FileType::Regular),
            ("replaced".into(), FileType::Directory),
            ("sub".into(), FileType::Directory),
        ]
    );
}

#[test]
fn listing_inode_numbers_match_stat() {
    let s = Stack::new(&[
        Entry::Dir("/d", 0o755),
        Entry::File("/d/lower", b"1", 0o644),
        Entry::File("/d/copied", b"2", 0o644),
        Entry::Dir("/d/dir", 0o755),
        Entry::File("/d/dir/x", b"3", 0o644),
    ]);
    s.write_at("/d/copied", 0, b"c");
    s.vfs.write_file("/d/dir/y", b"4").unwrap();
    s.vfs.write_file("/d/upper", b"5").unwrap();
    for dir in ["/", "/d", "/d/dir"] {
        for entry in s.vfs.read_dir(dir).unwrap() {
            let path = format!("{}/{}", dir.trim_end_matches('/'), entry.name);
            assert_eq!(entry.ino, s.stat(&path).ino, "{path}");
        }
    }
}

/// Read a directory in small `getdents` batches while names come and go
/// between the calls: names present throughout come exactly once.
#[test]
fn getdents_across_calls_with_changes_in_between() {
    let paths: Vec<String> = (0..200).map(|i| format!("/d/l{i:03}")).collect();
    let s = Stack::new(&files_in_d(&paths));
    for i in 0..100 {
        s.vfs.write_file(&format!("/d/u{i:03}"), b"").unwrap();
    }
    // Some whited out before the listing starts.
    for i in (0..200).step_by(7) {
        s.vfs.unlink(&format!("/d/l{i:03}")).unwrap();
    }
    let before: BTreeSet<String> = s.names("/d").into_iter().collect();
    let fd = s.vfs.open("/d", OpenFlags::O_DIRECTORY, 0).unwrap();
    let mut seen: Vec<String> = Vec::new();
    let mut touched = BTreeSet::new();
    let mut round = 0u32;
    loop {
        let batch = s.vfs.getdents(fd, 1 + (round % 5) as usize).unwrap();
        if batch.is_empty() {
            break;
        }
        seen.extend(batch.into_iter().map(|e| e.name));
        // Change the directory between calls.
        let victim = format!("l{:03}", (round * 13 + 1) % 200);
        if s.vfs.unlink(&format!("/d/{victim}")).is_ok() {
            touched.insert(victim);
        }
        let fresh = format!("n{round:03}");
        s.vfs.write_file(&format!("/d/{fresh}"), b"").unwrap();
        touched.insert(fresh);
        round += 1;
    }
    s.vfs.close(fd).unwrap();
    assert_eq!(&seen[..2], [".", ".."]);
    let mut counts = BTreeMap::new();
    for name in &seen[2..] {
        *counts.entry(name.clone()).or_insert(0) += 1;
    }
    for (name, count) in &counts {
        assert_eq!(*count, 1, "{name} listed {count} times");
    }
    for name in before.iter().filter(|n| !touched.contains(*n)) {
        assert!(counts.contains_key(name), "{name} never listed");
    }
    for name in counts.keys() {
        assert!(
            before.contains(name) || touched.contains(name),
            "{name} invented"
        );
    }
    // A rewind sees the changes.
    let fd = s.vfs.open("/d", OpenFlags::O_DIRECTORY, 0).unwrap();
    while !s.vfs.getdents(fd, 50).unwrap().is_empty() {}
    s.vfs.write_file("/d/after", b"").unwrap();
    s.vfs.lseek(fd, 0, Whence::Set).unwrap();
    let mut again = Vec::new();
    loop {
        let batch = s.vfs.getdents(fd, 64).unwrap();
        if batch.is_empty() {
            break;
        }
        again.extend(batch.into_iter().map(|e| e.name));
    }
    s.vfs.close(fd).unwrap();
    assert!(again.contains(&"after".into()));
    assert_eq!(again.len() - 2, s.names("/d").len());
}

/// A lower-only directory is listed straight from its layer: batches resume
/// with the layer's own cookies.
#[test]
fn lower_only_directory_resumes_with_layer_cookies() {
    let names: Vec<String> = (0..50).map(|i| format!("f{i:02}")).collect();
    let paths: Vec<String> = names.iter().map(|n| format!("/d/{n}")).collect();
    let s = Stack::new(&files_in_d(&paths));
    let fd = s.vfs.open("/d", OpenFlags::O_DIRECTORY, 0).unwrap();
    let mut seen = Vec::new();
    loop {
        let batch = s.vfs.getdents(fd, 3).unwrap();
        if batch.is_empty() {
            break;
        }
        seen.extend(batch.into_iter().map(|e| e.name));
    }
    s.vfs.close(fd).unwrap();
    assert_eq!(seen[2..], names[..]);
    assert!(s.upper_names("/").is_empty());
}

#[test]
fn three_layers_merge_top_down() {
    let bottom = ramfs_tree(|v| {
        v.mkdir("/d", 0o755).unwrap();
        v.write_file("/d/a", b"bottom").unwrap();
        v.write_file("/d/b", b"bottom").unwrap();
        v.mkdir("/d/x", 0o755).unwrap();
        v.write_file("/d/x/in-bottom", b"").unwrap();
    });
    let middle = ramfs_tree(|v| {
        v.mkdir("/d", 0o755).unwrap();
        v.write_file("/d/b", b"middle").unwrap();
        v.write_file("/d/c", b"middle").unwrap();
        // A file hides the directory below.
        v.write_file("/d/x", b"file").unwrap();
    });
    let s = Stack::over(alloc::vec![middle, bottom], None);
    s.vfs.write_file("/d/e", b"upper").unwrap();
    assert_eq!(s.names("/d"), strings(&["a", "b", "c", "e", "x"]));
    assert_eq!(s.read("/d/a"), b"bottom");
    assert_eq!(s.read("/d/b"), b"middle");
    assert_eq!(s.stat("/d/x").file_type(), Some(FileType::Regular));
    // Merged directories report one link, as on Linux.
    assert_eq!(s.stat("/d").nlink, 1);
    let inos: BTreeSet<u64> = ["/d/a", "/d/b", "/d/c", "/d/e", "/d/x", "/d", "/"]
        .iter()
        .map(|p| s.stat(p).ino)
        .collect();
    assert_eq!(inos.len(), 7, "unique across layers");
}
