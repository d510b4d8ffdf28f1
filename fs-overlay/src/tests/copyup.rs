//! Each copy-up trigger, what the copy keeps, and ENOSPC part way.

use alloc::sync::Arc;
use alloc::vec;

use vfs::{Errno, FileSystem, FileType, OpenFlags, SetAttr, Timespec};

use super::*;

fn tree() -> Vec<Entry<'static>> {
    vec![
        Entry::Dir("/etc", 0o751),
        Entry::Dir("/etc/conf.d", 0o750),
        Entry::File("/etc/conf.d/app.conf", b"key=value\n", 0o640),
        Entry::File("/etc/motd", b"hello\n", 0o644),
        Entry::Symlink("/etc/link", "motd"),
    ]
}

/// The upper copy of `path` exists and has the lower attributes.
fn assert_copied(s: &Stack, path: &str, mode: u32) {
    let st = s.raw().lstat(path).unwrap();
    assert_eq!(st.mode & 0o7777, mode, "{path}: mode kept");
    assert_eq!(
        (st.uid, st.gid),
        (LOWER_UID, LOWER_GID),
        "{path}: owner kept"
    );
    assert_eq!(
        st.mtime,
        Timespec::new(LOWER_MTIME, 0),
        "{path}: mtime kept"
    );
}

#[test]
fn reads_do_not_copy_up() {
    let s = Stack::new(&tree());
    assert_eq!(s.read("/etc/conf.d/app.conf"), b"key=value\n");
    let fd = s.vfs.open("/etc/motd", OpenFlags::O_RDONLY, 0).unwrap();
    s.vfs.close(fd).unwrap();
    s.vfs.stat("/etc/link").unwrap();
    assert_eq!(s.vfs.readlink("/etc/link").unwrap(), "motd");
    assert!(s.names("/etc").contains(&"motd".into()));
    assert!(
        s.upper_names("/").is_empty(),
        "nothing copied: {:?}",
        s.upper_names("/")
    );
}

#[test]
fn open_for_write_copies_up_file_and_parents() {
    for flags in [OpenFlags::O_WRONLY, OpenFlags::O_RDWR] {
        let s = Stack::new(&tree());
        let fd = s.vfs.open("/etc/conf.d/app.conf", flags, 0).unwrap();
        s.vfs.pwrite(fd, b"KEY", 0).unwrap();
        s.vfs.close(fd).unwrap();
        assert_eq!(s.read("/etc/conf.d/app.conf"), b"KEY=value\n");
        assert_eq!(
            s.raw().read_file("/etc/conf.d/app.conf").unwrap(),
            b"KEY=value\n"
        );
        // Parents first, with their own attributes.
        assert_copied(&s, "/etc", 0o751);
        assert_copied(&s, "/etc/conf.d", 0o750);
        assert_eq!(
            s.raw().lstat("/etc/conf.d/app.conf").unwrap().mode & 0o7777,
            0o640
        );
        // Only the path to the file was copied.
        assert_eq!(s.upper_names("/etc"), strings(&["conf.d"]));
    }
}

#[test]
fn copy_keeps_mode_owner_and_times() {
    let s = Stack::new(&tree());
    // A no-op write access (open + close) is enough to copy.
    let fd = s.vfs.open("/etc/motd", OpenFlags::O_WRONLY, 0).unwrap();
    s.vfs.close(fd).unwrap();
    assert_copied(&s, "/etc/motd", 0o644);
    let st = s.stat("/etc/motd");
    assert_eq!(st.atime, Timespec::new(LOWER_MTIME, 0));
    assert_eq!(st.size, 6);
    assert_eq!(s.read("/etc/motd"), b"hello\n");
}

#[test]
fn copy_up_keeps_the_parent_times() {
    let s = Stack::new(&tree());
    s.write_at("/etc/conf.d/app.conf", 0, b"x");
    // The copy of /etc/conf.d got its lower times back after app.conf landed in it.
    assert_copied(&s, "/etc/conf.d", 0o750);
}

#[test]
fn o_trunc_copies_no_data() {
    let s = Stack::new(&[Entry::File("/big", &pattern(300_000, 1), 0o600)]);
    let fd = s
        .vfs
        .open("/big", OpenFlags::O_WRONLY | OpenFlags::O_TRUNC, 0)
        .unwrap();
    s.vfs.close(fd).unwrap();
    assert_eq!(s.stat("/big").size, 0);
    assert_eq!(s.upper.used_bytes(), 0, "no data was copied");
    assert_eq!(s.raw().lstat("/big").unwrap().mode & 0o7777, 0o600);
}

#[test]
fn truncate_copies_only_what_survives() {
    let data = pattern(300_000, 2);
    let s = Stack::new(&[Entry::File("/big", &data, 0o644)]);
    s.vfs.truncate("/big", 1000).unwrap();
    assert_eq!(s.read("/big"), &data[..1000]);
    assert!(s.upper.used_bytes() < 200_000, "{}", s.upper.used_bytes());
    // Growing zero-fills.
    s.vfs.truncate("/big", 5000).unwrap();
    let grown = s.read("/big");
    assert_eq!(&grown[..1000], &data[..1000]);
    assert!(grown[1000..].iter().all(|&b| b == 0));
}

#[test]
fn setattr_copies_up() {
    let s = Stack::new(&tree());
    s.vfs.chmod("/etc/motd", 0o600).unwrap();
    assert_eq!(s.stat("/etc/motd").mode & 0o7777, 0o600);
    assert_eq!(s.raw().lstat("/etc/motd").unwrap().mode & 0o7777, 0o600);
    assert_eq!(s.read("/etc/motd"), b"hello\n");

    let when = Timespec::new(1234, 5);
    s.vfs
        .utimens("/etc/conf.d/app.conf", Some(when), Some(when))
        .unwrap();
    assert_eq!(s.stat("/etc/conf.d/app.conf").mtime, when);
    assert_eq!(s.raw().lstat("/etc/conf.d/app.conf").unwrap().mtime, when);

    // chown straight through the inode (and a directory's chmod).
    let root = s.overlay.root().unwrap();
    let etc = root.lookup("etc").unwrap();
    etc.setattr(&SetAttr {
        uid: Some(42),
        ..SetAttr::default()
    })
    .unwrap();
    assert_eq!(s.stat("/etc").uid, 42);
    assert_eq!(s.raw().lstat("/etc").unwrap().uid, 42);
    s.vfs.chmod("/etc", 0o700).unwrap();
    assert_eq!(s.stat("/etc").mode & 0o7777, 0o700);
}

#[test]
fn link_and_rename_copy_up() {
    let s = Stack::new(&tree());
    s.vfs.link("/etc/motd", "/etc/motd2").unwrap();
    assert_eq!(s.read("/etc/motd2"), b"hello\n");
    assert_eq!(s.stat("/etc/motd").nlink, 2);
    assert_eq!(s.stat("/etc/motd").ino, s.stat("/etc/motd2").ino);
    assert!(s.raw().lstat("/etc/motd").is_ok() && s.raw().lstat("/etc/motd2").is_ok());

    s.vfs.rename("/etc/conf.d/app.conf", "/app.conf").unwrap();
    assert_eq!(s.read("/app.conf"), b"key=value\n");
    assert_eq!(errno(s.vfs.stat("/etc/conf.d/app.conf")), Errno::ENOENT);
    assert!(s.upper_whiteout("/etc/conf.d/app.conf"));
    assert_eq!(s.raw().lstat("/app.conf").unwrap().mode & 0o7777, 0o640);

    // A symlink is copied as a symlink.
    s.vfs.rename("/etc/link", "/etc/link2").unwrap();
    assert_eq!(s.vfs.readlink("/etc/link2").unwrap(), "motd");
    assert_eq!(s.read("/etc/link2"), b"hello\n");
}

#[test]
fn creating_in_a_lower_directory_copies_it_up() {
    let s = Stack::new(&tree());
    s.vfs.write_file("/etc/conf.d/new", b"n").unwrap();
    assert_copied(&s, "/etc", 0o751);
    assert_eq!(s.names("/etc/conf.d"), strings(&["app.conf", "new"]));
    assert_eq!(s.upper_names("/etc/conf.d"), strings(&["new"]));
}

#[test]
fn big_file_is_streamed_whole_and_holes_stay_holes() {
    let mut data = pattern(1_000_003, 3);
    // A long run of zeros in the middle.
    data[300_000..800_000].iter_mut().for_each(|b| *b = 0);
    let s = Stack::new(&[Entry::File("/big", &data, 0o644)]);
    s.write_at("/big", 999_999, b"!");
    let mut want = data.clone();
    want[999_999] = b'!';
    assert_eq!(s.read("/big"), want);
    assert_eq!(s.stat("/big").size, 1_000_003);
    assert!(
        s.upper.used_bytes() < 700_000,
        "zeros not stored: {}",
        s.upper.used_bytes()
    );
}

#[test]
fn descriptors_opened_before_the_copy_see_it() {
    let s = Stack::new(&tree());
    let reader = s.vfs.open("/etc/motd", OpenFlags::O_RDONLY, 0).unwrap();
    s.write_at("/etc/motd", 0, b"J");
    let mut buf = [0u8; 6];
    assert_eq!(s.vfs.pread(reader, &mut buf, 0).unwrap(), 6);
    assert_eq!(&buf, b"Jello\n");
    s.vfs.close(reader).unwrap();
}

#[test]
fn enospc_during_copy_up_leaves_the_lower_file() {
    let data = pattern(1 << 20, 4);
    let lower = rofs(&[
        Entry::Dir("/d", 0o755),
        Entry::File("/d/big", &data, 0o644),
        Entry::File("/d/small", b"tiny", 0o644),
    ]);
    let s = Stack::over(alloc::vec![lower], Some(256 * 1024));
    let before = s.stat("/d/big");
    for attempt in [
        s.vfs.open("/d/big", OpenFlags::O_WRONLY, 0).map(|_| ()),
        s.vfs
            .open("/d/big", OpenFlags::O_RDWR | OpenFlags::O_APPEND, 0)
            .map(|_| ()),
        s.vfs.truncate("/d/big", 600_000),
        s.vfs.chmod("/d/big", 0o600),
        s.vfs.rename("/d/big", "/d/moved"),
        s.vfs.link("/d/big", "/d/again"),
    ] {
        assert_eq!(attempt, Err(Errno::ENOSPC));
        assert_eq!(s.read("/d/big"), data, "lower content intact");
        assert_eq!(s.stat("/d/big"), before);
        assert_eq!(s.names("/d"), strings(&["big", "small"]));
        // No temporary left behind, no space held.
        assert_eq!(s.upper_names("/d"), Vec::<String>::new());
        assert_eq!(s.upper.used_bytes(), 0);
    }
    // The upper layer still works for what fits.
    s.write_at("/d/small", 4, b"er");
    assert_eq!(s.read("/d/small"), b"tinyer");
    assert_eq!(s.read("/d/big"), data);
    let st = s.overlay.statfs().unwrap();
    assert_eq!(st.blocks, 256 * 1024 / 4096);
}

#[test]
fn out_of_inodes_during_copy_up_leaves_nothing_behind() {
    let lower = rofs(&[
        Entry::Dir("/a", 0o755),
        Entry::Dir("/a/b", 0o755),
        Entry::File("/a/b/f", b"data", 0o644),
    ]);
    // Room for two inodes: /a and /a/b copy, the file does not.
    let upper = fs_ramfs::RamFs::with_limits(clock(), None, Some(2), 0o755);
    let s = Stack::with_upper(alloc::vec![lower], upper);
    assert_eq!(errno(s.vfs.chmod("/a/b/f", 0o600)), Errno::ENOSPC);
    assert_eq!(s.stat("/a/b/f").mode & 0o7777, 0o644);
    assert_eq!(s.read("/a/b/f"), b"data");
    assert_eq!(s.upper_names("/a/b"), Vec::<String>::new());
    // A directory copy that cannot be made leaves no temporary either.
    let upper = fs_ramfs::RamFs::with_limits(clock(), None, Some(1), 0o755);
    let lower = rofs(&[Entry::Dir("/a", 0o755), Entry::Dir("/a/b", 0o755)]);
    let s = Stack::with_upper(alloc::vec![lower], upper);
    assert_eq!(errno(s.vfs.mkdir("/a/b/new", 0o755)), Errno::ENOSPC);
    assert_eq!(s.upper_names("/a"), Vec::<String>::new());
    assert_eq!(s.names("/a/b"), Vec::<String>::new());
}

#[test]
fn enospc_copying_a_hard_linked_file_leaves_no_index_entry() {
    let data = pattern(512 * 1024, 6);
    let lower = rofs(&[Entry::File("/f", &data, 0o644), Entry::HardLink("/g", "/f")]);
    let s = Stack::over(alloc::vec![lower], Some(64 * 1024));
    assert_eq!(
        errno(s.vfs.open("/g", OpenFlags::O_WRONLY, 0)),
        Errno::ENOSPC
    );
    assert_eq!(s.upper_names("/.wh..wh.index"), Vec::<String>::new());
    assert_eq!(s.upper.used_bytes(), 0);
    assert_eq!(s.read("/f"), data);
    assert_eq!(s.stat("/g").nlink, 2);
}

#[test]
fn copy_up_of_a_deep_tree_is_iterative() {
    // Deeper than any recursion would survive on a test thread's stack.
    const DEPTH: usize = 12_000;
    let mut b = fs_rofs::writer::ImageBuilder::new(Default::default());
    let mut path = String::new();
    for _ in 0..DEPTH {
        path.push_str("/d");
    }
    b.add_dir(&path, Default::default()).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    b.write(&mut out, &mut |_, _| {}).unwrap();
    let lower: Arc<dyn FileSystem> = fs_rofs::RofsFs::mount(
        Arc::new(drivers::RamDisk::from_bytes(512, out.into_inner())),
        "",
    )
    .unwrap();
    let s = Stack::over(alloc::vec![lower], None);
    for _ in 0..DEPTH {
        s.vfs.chdir("d").unwrap();
    }
    s.vfs.write_file("leaf", b"deep").unwrap();
    assert_eq!(s.vfs.read_file("leaf").unwrap(), b"deep");
    assert_eq!(
        s.vfs.lstat("leaf").unwrap().file_type(),
        Some(FileType::Regular)
    );
    assert!(s.raw().lstat("/d/d/d").is_ok());
    drop(s);
}
