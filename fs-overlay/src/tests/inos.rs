//! Inode numbers: unique across layers, stable for the life of the mount.

use alloc::collections::BTreeMap;
use alloc::vec;

use vfs::FileSystem;

use super::*;

#[test]
fn numbers_are_unique_across_layers() {
    let s = Stack::new(&[
        Entry::File("/lower1", b"", 0o644),
        Entry::File("/lower2", b"", 0o644),
        Entry::Dir("/dir", 0o755),
    ]);
    // The upper ramfs hands out small numbers too: they must not collide.
    for i in 0..10 {
        s.vfs.write_file(&std::format!("/upper{i}"), b"").unwrap();
    }
    let mut seen = BTreeMap::new();
    for entry in s.vfs.read_dir("/").unwrap() {
        let ino = s.stat(&std::format!("/{}", entry.name)).ino;
        if let Some(other) = seen.insert(ino, entry.name.clone()) {
            panic!("{} and {other} share inode {ino}", entry.name);
        }
    }
    assert!(!seen.contains_key(&s.stat("/").ino));
}

#[test]
fn numbers_survive_copy_up_and_cache_loss() {
    let s = Stack::new(&[
        Entry::Dir("/d", 0o755),
        Entry::File("/d/f", b"data", 0o644),
        Entry::Dir("/d/e", 0o755),
    ]);
    let paths = ["/", "/d", "/d/f", "/d/e"];
    let before: Vec<u64> = paths.iter().map(|p| s.stat(p).ino).collect();
    s.write_at("/d/f", 0, b"D");
    s.vfs.write_file("/d/e/new", b"").unwrap();
    let after: Vec<u64> = paths.iter().map(|p| s.stat(p).ino).collect();
    assert_eq!(before, after, "copy-up keeps numbers");
    // A second VFS on the same overlay has no cached vnodes.
    let fresh = vfs_on(s.overlay.clone() as Arc<dyn FileSystem>);
    let cold: Vec<u64> = paths.iter().map(|p| fresh.lstat(p).unwrap().ino).collect();
    assert_eq!(before, cold);
    let new_ino = s.stat("/d/e/new").ino;
    assert_eq!(fresh.lstat("/d/e/new").unwrap().ino, new_ino);
    // Renamed: the same number.
    s.vfs.rename("/d/f", "/f").unwrap();
    assert_eq!(fresh.lstat("/f").unwrap().ino, before[2]);
}

#[test]
fn numbers_of_many_objects_stay_distinct_after_changes() {
    let names: Vec<String> = (0..100).map(|i| std::format!("/f{i}")).collect();
    let entries: Vec<Entry<'_>> = names.iter().map(|n| Entry::File(n, b"x", 0o644)).collect();
    let s = Stack::new(&entries);
    for (i, name) in names.iter().enumerate() {
        match i % 3 {
            0 => s.write_at(name, 0, b"y"),
            1 => s.vfs.rename(name, &std::format!("{name}.moved")).unwrap(),
            _ => {}
        }
        s.vfs.write_file(&std::format!("/new{i}"), b"").unwrap();
    }
    let mut inos: Vec<u64> = s.vfs.read_dir("/").unwrap().iter().map(|e| e.ino).collect();
    let count = inos.len();
    inos.sort();
    inos.dedup();
    assert_eq!(inos.len(), count);
    assert_eq!(count, 200);
    let _ = vec![0u8];
}
