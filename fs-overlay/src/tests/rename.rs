//! Rename: files move (copied up first), lower and merged directories give
//! EXDEV, upper-only directories move and turn opaque in merged places.

use alloc::vec;

use vfs::Errno;

use super::*;

fn tree() -> Vec<Entry<'static>> {
    vec![
        Entry::Dir("/a", 0o755),
        Entry::File("/a/f", b"lower f", 0o644),
        Entry::File("/a/g", b"lower g", 0o600),
        Entry::Dir("/a/sub", 0o755),
        Entry::File("/a/sub/inner", b"inner", 0o644),
        Entry::Dir("/b", 0o755),
        Entry::Dir("/b/empty", 0o755),
    ]
}

#[test]
fn lower_file_moves_and_leaves_a_whiteout() {
    let s = Stack::new(&tree());
    let ino = s.stat("/a/f").ino;
    s.vfs.rename("/a/f", "/b/f2").unwrap();
    assert_eq!(s.read("/b/f2"), b"lower f");
    assert_eq!(s.stat("/b/f2").ino, ino, "the number moves with the object");
    assert_eq!(errno(s.vfs.stat("/a/f")), Errno::ENOENT);
    assert!(s.upper_whiteout("/a/f"));
    assert_eq!(s.names("/a"), strings(&["g", "sub"]));
    assert_eq!(s.names("/b"), strings(&["empty", "f2"]));
    // Back to its old name: the whiteout is replaced.
    s.vfs.rename("/b/f2", "/a/f").unwrap();
    assert_eq!(s.read("/a/f"), b"lower f");
    assert_eq!(s.raw().read_file("/a/f").unwrap(), b"lower f");
    assert_eq!(s.names("/b"), strings(&["empty"]));
}

#[test]
fn rename_over_lower_and_upper_files() {
    let s = Stack::new(&tree());
    s.vfs.rename("/a/f", "/a/g").unwrap();
    assert_eq!(s.read("/a/g"), b"lower f");
    assert_eq!(s.stat("/a/g").mode & 0o7777, 0o644);
    assert_eq!(s.names("/a"), strings(&["g", "sub"]));
    s.vfs.write_file("/a/new", b"upper").unwrap();
    s.vfs.rename("/a/new", "/a/g").unwrap();
    assert_eq!(s.read("/a/g"), b"upper");
    assert_eq!(s.names("/a"), strings(&["g", "sub"]));
    // Nothing lower at /a/new: no whiteout left there.
    assert_eq!(errno(s.raw().lstat("/a/new")), Errno::ENOENT);
}

#[test]
fn lower_and_merged_directories_give_exdev() {
    let s = Stack::new(&tree());
    assert_eq!(errno(s.vfs.rename("/a/sub", "/b/sub")), Errno::EXDEV);
    assert_eq!(errno(s.vfs.rename("/b/empty", "/b/e2")), Errno::EXDEV);
    // Merged (copied up) is still EXDEV.
    s.vfs.write_file("/a/sub/new", b"").unwrap();
    assert_eq!(errno(s.vfs.rename("/a/sub", "/a/sub2")), Errno::EXDEV);
    // EXDEV comes before ENOTEMPTY of the target, as Linux checks.
    assert_eq!(errno(s.vfs.rename("/b/empty", "/a/sub")), Errno::EXDEV);
    assert_eq!(s.names("/a/sub"), strings(&["inner", "new"]));
}

#[test]
fn upper_directories_move_and_become_opaque_in_merged_places() {
    let s = Stack::new(&tree());
    s.vfs.mkdir("/c", 0o755).unwrap();
    s.vfs.mkdir("/c/d", 0o755).unwrap();
    s.vfs.write_file("/c/d/file", b"mine").unwrap();
    // Into a lower directory's place: it must be empty in the merged view.
    assert_eq!(errno(s.vfs.rename("/c/d", "/a/sub")), Errno::ENOTEMPTY);
    s.vfs.unlink("/a/sub/inner").unwrap();
    s.vfs.rename("/c/d", "/a/sub").unwrap();
    assert_eq!(s.names("/a/sub"), strings(&["file"]));
    assert_eq!(errno(s.vfs.stat("/a/sub/inner")), Errno::ENOENT);
    assert_eq!(s.names("/c"), Vec::<String>::new());
    // Over a whited-out directory.
    s.vfs.rmdir("/b/empty").unwrap();
    s.vfs.mkdir("/c/e", 0o755).unwrap();
    s.vfs.rename("/c/e", "/b/empty").unwrap();
    assert_eq!(s.names("/b/empty"), Vec::<String>::new());
    assert_eq!(s.upper_names("/b/empty"), strings(&[".wh..wh..opq"]));
    // An upper directory renamed in place, then away.
    s.vfs.rename("/c", "/c2").unwrap();
    s.vfs.rename("/c2", "/b/c3").unwrap();
    assert_eq!(s.names("/"), strings(&["a", "b"]));
    assert_eq!(s.names("/b"), strings(&["c3", "empty"]));
}

#[test]
fn rename_keeps_parents_and_types_consistent() {
    let s = Stack::new(&tree());
    assert_eq!(errno(s.vfs.rename("/a/f", "/b/empty")), Errno::EISDIR);
    s.vfs.mkdir("/u", 0o755).unwrap();
    assert_eq!(errno(s.vfs.rename("/u", "/a/f")), Errno::ENOTDIR);
    assert_eq!(errno(s.vfs.rename("/a/missing", "/a/x")), Errno::ENOENT);
    // Nothing changed by the failures.
    assert_eq!(s.names("/a"), strings(&["f", "g", "sub"]));
    assert_eq!(s.read("/a/f"), b"lower f");
}
