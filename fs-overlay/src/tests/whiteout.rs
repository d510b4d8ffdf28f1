//! Whiteouts, opaque directories and the reserved names.

use alloc::vec;

use vfs::{Errno, FileType, OpenFlags};

use super::*;

fn tree() -> Vec<Entry<'static>> {
    vec![
        Entry::Dir("/var", 0o755),
        Entry::Dir("/var/log", 0o755),
        Entry::File("/var/log/boot.log", b"booted\n", 0o644),
        Entry::File("/var/log/old.log", b"old\n", 0o644),
        Entry::Dir("/var/empty", 0o755),
        Entry::File("/hosts", b"127.0.0.1\n", 0o644),
    ]
}

#[test]
fn unlink_of_a_lower_file_leaves_a_whiteout() {
    let s = Stack::new(&tree());
    s.vfs.unlink("/hosts").unwrap();
    assert_eq!(errno(s.vfs.stat("/hosts")), Errno::ENOENT);
    assert!(!s.names("/").contains(&"hosts".into()));
    assert!(s.upper_whiteout("/hosts"));
    assert_eq!(errno(s.vfs.unlink("/hosts")), Errno::ENOENT);
    // The name can be used again, without the old contents.
    s.vfs.write_file("/hosts", b"new").unwrap();
    assert_eq!(s.read("/hosts"), b"new");
    assert!(s.names("/").contains(&"hosts".into()));
    assert_eq!(
        s.raw().lstat("/hosts").unwrap().file_type(),
        Some(FileType::Regular)
    );
    // Removing it again needs a whiteout again (the lower file is there).
    s.vfs.unlink("/hosts").unwrap();
    assert!(s.upper_whiteout("/hosts"));
    assert_eq!(errno(s.vfs.stat("/hosts")), Errno::ENOENT);
}

#[test]
fn unlink_of_a_copied_file_and_of_an_upper_only_file() {
    let s = Stack::new(&tree());
    s.write_at("/var/log/boot.log", 0, b"B");
    s.vfs.unlink("/var/log/boot.log").unwrap();
    assert!(s.upper_whiteout("/var/log/boot.log"));
    assert_eq!(errno(s.vfs.stat("/var/log/boot.log")), Errno::ENOENT);

    s.vfs.write_file("/var/log/new.log", b"n").unwrap();
    s.vfs.unlink("/var/log/new.log").unwrap();
    // Nothing below: no whiteout needed.
    assert_eq!(errno(s.raw().lstat("/var/log/new.log")), Errno::ENOENT);
    assert_eq!(s.names("/var/log"), strings(&["old.log"]));
}

#[test]
fn rmdir_of_lower_directories() {
    let s = Stack::new(&tree());
    assert_eq!(errno(s.vfs.rmdir("/var/log")), Errno::ENOTEMPTY);
    s.vfs.rmdir("/var/empty").unwrap();
    assert!(s.upper_whiteout("/var/empty"));
    assert_eq!(errno(s.vfs.stat("/var/empty")), Errno::ENOENT);
    // Emptied in the merged view (upper only holds whiteouts): removable.
    s.vfs.unlink("/var/log/boot.log").unwrap();
    assert_eq!(errno(s.vfs.rmdir("/var/log")), Errno::ENOTEMPTY);
    s.vfs.unlink("/var/log/old.log").unwrap();
    s.vfs.rmdir("/var/log").unwrap();
    assert!(s.upper_whiteout("/var/log"));
    assert_eq!(s.names("/var"), Vec::<String>::new());
    s.vfs.rmdir("/var").unwrap();
    assert_eq!(s.names("/"), strings(&["hosts"]));
}

#[test]
fn a_directory_made_again_is_opaque() {
    let s = Stack::new(&tree());
    for name in ["boot.log", "old.log"] {
        s.vfs.unlink(&std::format!("/var/log/{name}")).unwrap();
    }
    s.vfs.rmdir("/var/log").unwrap();
    s.vfs.mkdir("/var/log", 0o700).unwrap();
    assert_eq!(s.names("/var/log"), Vec::<String>::new());
    assert_eq!(errno(s.vfs.stat("/var/log/boot.log")), Errno::ENOENT);
    assert_eq!(s.stat("/var/log").mode & 0o7777, 0o700);
    // An upper-only directory counts its own links.
    assert_eq!(s.stat("/var/log").nlink, 2);
    // The marker is there but hidden.
    assert_eq!(s.upper_names("/var/log"), strings(&[".wh..wh..opq"]));
    assert_eq!(errno(s.vfs.stat("/var/log/.wh..wh..opq")), Errno::ENOENT);
    s.vfs.write_file("/var/log/x", b"x").unwrap();
    assert_eq!(s.names("/var/log"), strings(&["x"]));
    // And it can go again (marker and all).
    s.vfs.unlink("/var/log/x").unwrap();
    s.vfs.rmdir("/var/log").unwrap();
    assert!(s.upper_whiteout("/var/log"));
}

#[test]
fn new_directories_in_merged_directories_are_opaque() {
    let s = Stack::new(&tree());
    s.vfs.mkdir("/var/new", 0o755).unwrap();
    assert_eq!(s.upper_names("/var/new"), strings(&[".wh..wh..opq"]));
    // Inside an upper-only directory no marker is needed.
    s.vfs.mkdir("/var/new/sub", 0o755).unwrap();
    assert_eq!(s.upper_names("/var/new/sub"), Vec::<String>::new());
    assert_eq!(s.stat("/var/new").nlink, 3);
}

#[test]
fn a_file_replaces_a_whited_out_directory() {
    let s = Stack::new(&tree());
    s.vfs.rmdir("/var/empty").unwrap();
    s.vfs.write_file("/var/empty", b"now a file").unwrap();
    assert_eq!(s.read("/var/empty"), b"now a file");
    s.vfs.unlink("/var/empty").unwrap();
    s.vfs.symlink("../hosts", "/var/empty").unwrap();
    assert_eq!(s.read("/var/empty"), b"127.0.0.1\n");
    s.vfs.unlink("/var/empty").unwrap();
    s.vfs.mkdir("/var/empty", 0o755).unwrap();
    assert_eq!(s.names("/var/empty"), Vec::<String>::new());
}

#[test]
fn reserved_names_are_hidden_and_refused() {
    let s = Stack::new(&tree());
    s.vfs.mkdir("/var/new", 0o755).unwrap();
    assert_eq!(errno(s.vfs.stat("/var/new/.wh..wh..opq")), Errno::ENOENT);
    for name in ["/.wh..wh..opq", "/var/.wh..wh.x", "/.wh..wh.index"] {
        assert_eq!(errno(s.vfs.write_file(name, b"")), Errno::EPERM, "{name}");
        assert_eq!(errno(s.vfs.mkdir(name, 0o755)), Errno::EPERM, "{name}");
        assert_eq!(errno(s.vfs.symlink("x", name)), Errno::EPERM, "{name}");
        assert_eq!(errno(s.vfs.rename("/hosts", name)), Errno::EPERM, "{name}");
    }
    // Names that only look similar are ordinary.
    s.vfs.write_file("/.wh.plain", b"ok").unwrap();
    assert_eq!(s.read("/.wh.plain"), b"ok");
    // A 0/0 character device would be a whiteout: EPERM, as on Linux.
    assert_eq!(errno(s.vfs.mknod("/dev0", 0o020644, 0)), Errno::EPERM);
    s.vfs.mknod("/dev1", 0o020644, 0x0103).unwrap();
    assert_eq!(s.stat("/dev1").rdev, 0x0103);
    assert!(s.names("/").contains(&"dev1".into()));
}

#[test]
fn whiteouts_in_lower_layers_hide_names_below() {
    let bottom = ramfs_tree(|v| {
        v.mkdir("/d", 0o755).unwrap();
        v.write_file("/d/gone", b"bottom").unwrap();
        v.write_file("/d/kept", b"bottom").unwrap();
        v.mkdir("/d/sub", 0o755).unwrap();
        v.write_file("/d/sub/deep", b"bottom").unwrap();
    });
    // A middle layer as an earlier upper would have left it.
    let middle = ramfs_tree(|v| {
        v.mkdir("/d", 0o755).unwrap();
        v.mknod("/d/gone", 0o020000, 0).unwrap();
        v.mkdir("/d/sub", 0o755).unwrap();
        v.mknod("/d/sub/.wh..wh..opq", 0o020000, 0).unwrap();
        v.write_file("/d/sub/top", b"middle").unwrap();
    });
    let s = Stack::over(alloc::vec![middle, bottom], None);
    assert_eq!(s.names("/d"), strings(&["kept", "sub"]));
    assert_eq!(errno(s.vfs.stat("/d/gone")), Errno::ENOENT);
    assert_eq!(s.names("/d/sub"), strings(&["top"]));
    assert_eq!(errno(s.vfs.stat("/d/sub/deep")), Errno::ENOENT);
    assert_eq!(s.read("/d/kept"), b"bottom");
    // Whited out below, so a new file there shows nothing of "bottom".
    let fd = s
        .vfs
        .open("/d/gone", OpenFlags::O_CREAT | OpenFlags::O_WRONLY, 0o644)
        .unwrap();
    s.vfs.close(fd).unwrap();
    assert_eq!(s.read("/d/gone"), b"");
}

#[test]
fn rmdir_out_of_inodes_leaves_the_directory_as_it_was() {
    let lower = rofs(&[Entry::Dir("/d", 0o755), Entry::File("/d/x", b"x", 0o644)]);
    // Room for the copy of /d and the whiteout of /d/x, not one more.
    let upper = fs_ramfs::RamFs::with_limits(clock(), None, Some(2), 0o755);
    let s = Stack::with_upper(alloc::vec![lower], upper);
    s.vfs.unlink("/d/x").unwrap();
    assert_eq!(errno(s.vfs.rmdir("/d")), Errno::ENOSPC);
    assert_eq!(s.names("/d"), Vec::<String>::new());
    assert_eq!(errno(s.vfs.stat("/d/x")), Errno::ENOENT);
    assert!(s.upper_whiteout("/d/x"));
    assert_eq!(s.names("/"), strings(&["d"]));
}
