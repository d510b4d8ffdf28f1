//! Lower hard links stay one object after a copy-up of any name, with the
//! link counts Linux shows with `index=on`.

use alloc::vec;

use vfs::Errno;

use super::*;

fn tree() -> Vec<Entry<'static>> {
    vec![
        Entry::Dir("/d", 0o755),
        Entry::File("/d/f", b"hi\n", 0o644),
        Entry::HardLink("/d/g", "/d/f"),
        Entry::HardLink("/h", "/d/f"),
    ]
}

fn nlinks(s: &Stack, paths: &[&str]) -> Vec<u32> {
    paths.iter().map(|p| s.stat(p).nlink).collect()
}

#[test]
fn one_object_after_copy_up_of_any_name() {
    let s = Stack::new(&tree());
    let ino = s.stat("/d/f").ino;
    assert_eq!(nlinks(&s, &["/d/f", "/d/g", "/h"]), [3, 3, 3]);
    assert_eq!(s.stat("/h").ino, ino);
    // Write through one name: every name shows it.
    s.write_at("/d/g", 3, b"more\n");
    for path in ["/d/f", "/d/g", "/h"] {
        assert_eq!(s.read(path), b"hi\nmore\n", "{path}");
        assert_eq!(s.stat(path).ino, ino, "{path}");
    }
    assert_eq!(nlinks(&s, &["/d/f", "/d/g", "/h"]), [3, 3, 3]);
    // The copy sits in the index, and (as Linux does) at the name used.
    assert_eq!(s.upper_names("/.wh..wh.index").len(), 1);
    assert_eq!(s.upper_names("/d"), strings(&["g"]));
    assert_eq!(errno(s.raw().lstat("/h")), Errno::ENOENT);
    assert!(!s.names("/").contains(&".wh..wh.index".into()));
    // Attributes are the object's too.
    s.vfs.chmod("/h", 0o600).unwrap();
    assert_eq!(s.stat("/d/f").mode & 0o7777, 0o600);
}

#[test]
fn link_counts_follow_unlink_link_and_rename() {
    let s = Stack::new(&tree());
    s.write_at("/d/f", 0, b"H");
    s.vfs.unlink("/d/g").unwrap();
    assert_eq!(nlinks(&s, &["/d/f", "/h"]), [2, 2]);
    s.vfs.link("/h", "/d/z").unwrap();
    assert_eq!(nlinks(&s, &["/d/f", "/h", "/d/z"]), [3, 3, 3]);
    s.vfs.rename("/h", "/hh").unwrap();
    assert_eq!(nlinks(&s, &["/d/f", "/hh", "/d/z"]), [3, 3, 3]);
    assert_eq!(s.read("/hh"), b"Hi\n");
    assert_eq!(s.read("/d/z"), b"Hi\n");
    // Once no lower name is left the index entry goes.
    s.vfs.unlink("/d/f").unwrap();
    assert_eq!(nlinks(&s, &["/hh", "/d/z"]), [2, 2]);
    assert_eq!(s.upper_names("/.wh..wh.index"), Vec::<String>::new());
    s.vfs.unlink("/hh").unwrap();
    assert_eq!(nlinks(&s, &["/d/z"]), [1]);
    assert_eq!(s.read("/d/z"), b"Hi\n");
}

#[test]
fn unlinking_names_before_any_copy_up() {
    let s = Stack::new(&tree());
    s.vfs.unlink("/d/f").unwrap();
    assert_eq!(nlinks(&s, &["/d/g", "/h"]), [2, 2]);
    s.vfs
        .rename("/d/g", "/h")
        .unwrap_or_else(|e| panic!("{e:?}"));
    // Renaming one name over another of the same object does nothing.
    assert_eq!(nlinks(&s, &["/d/g", "/h"]), [2, 2]);
    s.vfs.unlink("/d/g").unwrap();
    assert_eq!(nlinks(&s, &["/h"]), [1]);
    s.write_at("/h", 0, b"!");
    assert_eq!(s.read("/h"), b"!i\n");
    assert_eq!(nlinks(&s, &["/h"]), [1]);
    s.vfs.unlink("/h").unwrap();
    assert_eq!(errno(s.vfs.stat("/h")), Errno::ENOENT);
    assert_eq!(s.upper_names("/.wh..wh.index"), Vec::<String>::new());
}

#[test]
fn open_descriptor_follows_the_object_through_renames() {
    let s = Stack::new(&tree());
    let fd = s.vfs.open("/d/f", vfs::OpenFlags::O_RDWR, 0).unwrap();
    s.vfs.rename("/d/g", "/moved").unwrap();
    s.vfs.pwrite(fd, b"X", 0).unwrap();
    s.vfs.close(fd).unwrap();
    for path in ["/d/f", "/moved", "/h"] {
        assert_eq!(s.read(path), b"Xi\n", "{path}");
    }
}

/// A copy-up copies the parents of the name it came through, as Linux
/// does, even after the VFS moved a name onto another of the same object.
#[test]
fn copy_up_copies_the_parents_of_the_name_used() {
    let s = Stack::new(&[
        Entry::Dir("/x", 0o755),
        Entry::Dir("/y", 0o755),
        Entry::File("/x/f", b"one", 0o644),
        Entry::HardLink("/y/g", "/x/f"),
    ]);
    // Look both names up first, so both have nodes.
    assert_eq!(s.stat("/x/f").ino, s.stat("/y/g").ino);
    // Two names of one object: nothing happens (the VFS moves its entry).
    s.vfs.rename("/x/f", "/y/g").unwrap();
    assert_eq!(s.names("/x"), strings(&["f"]));
    assert_eq!(nlinks(&s, &["/x/f", "/y/g"]), [2, 2]);
    s.vfs.chmod("/y/g", 0o600).unwrap();
    assert_eq!(s.upper_names("/"), strings(&[".wh..wh.index", "y"]));
    assert_eq!(s.upper_names("/y"), strings(&["g"]));
    assert_eq!(s.stat("/x/f").mode & 0o7777, 0o600);
    // /x was not copied: a lower-only directory keeps its own link count.
    assert_eq!(s.stat("/x").nlink, 2);
    assert_eq!(s.stat("/y").nlink, 1);
}
