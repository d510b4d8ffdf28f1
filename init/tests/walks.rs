//! The shell's recursive walkers (`ls -R`, `find`, `rm -r`, `cp -r`) on trees
//! with directory loops, on mounts, and on the root: a loop is reported in
//! one line and not entered, `rm -r` refuses `/` and `.`/`..` and removes
//! nothing across a mount point, `cp -r` stops at the first error.

mod common;

use common::graph::{GraphFs, Node, dir};
use common::{run, vfs_with};
use vfs::{MountFlags, Vfs};

/// `/g`: the root holds `a` and a file `f`; `a` holds itself (`self`), the
/// root (`up`) and `b`; `b` holds the root again (`top`) and the file.
fn looped() -> Vfs {
    let vfs = vfs_with("");
    let fs = GraphFs::new(vec![
        dir(&[("a", 2), ("f", 4)]),
        dir(&[("self", 2), ("up", 1), ("b", 3)]),
        dir(&[("top", 1), ("x", 4)]),
        Node::File(b"data".to_vec()),
    ]);
    vfs.mkdir("/g", 0o755).expect("mkdir /g");
    vfs.mount_fs(fs, "graph", "/g", MountFlags::RDONLY, "")
        .expect("mount /g");
    vfs
}

#[test]
fn find_reports_each_loop_once_and_ends() {
    assert_eq!(
        run(&looped(), "find /g"),
        "/g\n/g/a\n/g/a/self\n\
         find: /g/a/self: directory loop (same as /g/a)\n\
         /g/a/up\n\
         find: /g/a/up: directory loop (same as /g)\n\
         /g/a/b\n/g/a/b/top\n\
         find: /g/a/b/top: directory loop (same as /g)\n\
         /g/a/b/x\n/g/f\n"
    );
    assert_eq!(
        run(&looped(), "find /g -type f"),
        "find: /g/a/self: directory loop (same as /g/a)\n\
         find: /g/a/up: directory loop (same as /g)\n\
         find: /g/a/b/top: directory loop (same as /g)\n\
         /g/a/b/x\n/g/f\n"
    );
}

#[test]
fn ls_r_lists_every_directory_once_and_reports_loops() {
    assert_eq!(
        run(&looped(), "ls -R /g"),
        "/g:\na\nf\n\n\
         /g/a:\nb\nself\nup\n\n\
         /g/a/b:\ntop\nx\n\n\
         ls: /g/a/b/top: directory loop (same as /g)\n\
         ls: /g/a/self: directory loop (same as /g/a)\n\
         ls: /g/a/up: directory loop (same as /g)\n"
    );
}

#[test]
fn a_directory_with_two_names_is_not_a_loop() {
    let vfs = vfs_with("");
    let fs = GraphFs::new(vec![
        dir(&[("x", 2), ("y", 2)]),
        dir(&[("f", 3)]),
        Node::File(Vec::new()),
    ]);
    vfs.mkdir("/g", 0o755).expect("mkdir");
    vfs.mount_fs(fs, "graph", "/g", MountFlags::RDONLY, "")
        .expect("mount");
    assert_eq!(run(&vfs, "find /g"), "/g\n/g/x\n/g/x/f\n/g/y\n/g/y/f\n");
}

#[test]
fn cp_r_copies_a_looped_tree_without_its_loops() {
    let vfs = looped();
    assert_eq!(
        run(&vfs, "cp -r /g /copy"),
        "cp: /g/a/self: directory loop (same as /g/a)\n\
         cp: /g/a/up: directory loop (same as /g)\n\
         cp: /g/a/b/top: directory loop (same as /g)\n"
    );
    assert_eq!(
        run(&vfs, "find /copy; cat /copy/a/b/x"),
        "/copy\n/copy/a\n/copy/a/b\n/copy/a/b/x\n/copy/f\ndata"
    );
}

#[test]
fn cp_r_copies_files_links_and_modes_and_not_into_itself() {
    let vfs = vfs_with("");
    let text = run(
        &vfs,
        "mkdir -p /a/b/c; echo one > /a/one; echo two > /a/b/two; ln -s ../one /a/b/l; \
         cp -r /a /z; find /z; cat /z/one /z/b/two /z/b/l; \
         cp /a /y; cp -r /a /a/b/c",
    );
    assert_eq!(
        text,
        "/z\n/z/b\n/z/b/c\n/z/b/l\n/z/b/two\n/z/one\n\
         one\ntwo\none\n\
         cp: /a: is a directory (use cp -r)\n\
         cp: /a/b/c/a: the copy's own destination, not copied into itself\n"
    );
    assert_eq!(vfs.readlink("/z/b/l").expect("readlink"), "../one");
    // The copy inside the source ended: one level, not an endless nest.
    assert_eq!(
        run(&vfs, "find /a/b/c/a -type d"),
        "/a/b/c/a\n/a/b/c/a/b\n/a/b/c/a/b/c\n"
    );
}

#[test]
fn cp_stops_at_the_first_error_and_keeps_the_source() {
    let vfs = vfs_with("");
    assert_eq!(
        run(&vfs, "echo keep > /f; cp /f /f; cp /f /; cat /f"),
        "cp: /f and /f are the same file\ncp: /f and /f are the same file\nkeep\n"
    );
    // A missing source leaves no empty target behind.
    assert_eq!(
        run(&vfs, "cp /nope /t; ls /"),
        "cp: /nope: ENOENT (No such file or directory)\ndev\nf\n"
    );
}

#[test]
fn rm_r_refuses_the_root_and_dot_names() {
    let vfs = vfs_with("");
    run(
        &vfs,
        "mkdir /tmp; mount -t ramfs none /tmp; echo safe > /tmp/data; echo x > /x",
    );
    assert_eq!(
        run(
            &vfs,
            "rm -r /; rm -rf //; rm -r /tmp/..; rm -r /tmp/../; rm -r /.; rm . ; cat /tmp/data /x"
        ),
        "rm: /: refusing to remove / recursively (use --no-preserve-root)\n\
         rm: //: refusing to remove / recursively (use --no-preserve-root)\n\
         rm: /tmp/..: refusing to remove '.' or '..'\n\
         rm: /tmp/../: refusing to remove '.' or '..'\n\
         rm: /.: refusing to remove '.' or '..'\n\
         rm: .: refusing to remove '.' or '..'\n\
         safe\nx\n"
    );
}

#[test]
fn rm_r_removes_nothing_across_a_mount_point() {
    let vfs = vfs_with("");
    run(
        &vfs,
        "mkdir -p /tmp /top/m /top/d/e; mount -t ramfs none /tmp; mount -t ramfs none /top/m; \
         echo safe > /tmp/data; echo in > /top/m/inner; echo out > /top/d/e/f; echo y > /y",
    );
    assert_eq!(
        run(&vfs, "rm -r /top; find /top"),
        "rm: /top/m: on another file system (a mount point), skipped\n\
         /top\n/top/m\n/top/m/inner\n"
    );
    // With the failsafe off, / itself is walked: everything on the root
    // filesystem goes, every mount below it stays, with its data.
    assert_eq!(
        run(
            &vfs,
            "rm -r --no-preserve-root /; find /tmp; cat /top/m/inner; ls /"
        ),
        "rm: /dev: on another file system (a mount point), skipped\n\
         rm: /tmp: on another file system (a mount point), skipped\n\
         rm: /top/m: on another file system (a mount point), skipped\n\
         /tmp\n/tmp/data\nin\ndev\ntmp\ntop\n"
    );
    // A mount point given as the operand: its contents go, the mount stays.
    assert_eq!(
        run(&vfs, "rm -r /tmp; ls /tmp"),
        "rm: /tmp: EBUSY (Device or resource busy)\n"
    );
}

#[test]
fn rm_r_on_a_read_only_tree_stops_at_the_first_error() {
    let vfs = looped();
    assert_eq!(
        run(&vfs, "rm -r /g; ls /g"),
        "rm: /g/a/self: directory loop (same as /g/a)\n\
         rm: /g/a/up: directory loop (same as /g)\n\
         rm: /g/a/b/top: directory loop (same as /g)\n\
         rm: /g/a/b/x: EROFS (Read-only file system)\na\nf\n"
    );
}
