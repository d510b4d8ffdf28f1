//! Paths, mounts, links, getdents and the caches, against the test backend.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::vfs;
use crate::testfs::TestFs;
use crate::*;

#[test]
fn create_write_read_stat() {
    let v = vfs();
    v.mkdir("/a", 0o755).unwrap();
    v.write_file("/a/f", b"hello").unwrap();
    assert_eq!(v.read_file("/a/f").unwrap(), b"hello");
    let st = v.stat("//a/./f").unwrap();
    assert_eq!(st.size, 5);
    assert_eq!(st.dev, 1);
    assert_eq!(v.stat("/a/f/"), Err(Errno::ENOTDIR));
    assert_eq!(v.stat("/a/g"), Err(Errno::ENOENT));
    assert_eq!(v.stat(""), Err(Errno::ENOENT));
}

#[test]
fn warm_stat_makes_no_lookups() {
    let v = Vfs::new(Arc::new(FixedClock(Timespec::ZERO)));
    let fs = TestFs::new(false);
    v.mount_fs(fs.clone(), "none", "/", MountFlags::empty(), "")
        .unwrap();
    v.mkdir("/d1", 0o755).unwrap();
    v.mkdir("/d1/d2", 0o755).unwrap();
    v.write_file("/d1/d2/f", b"x").unwrap();
    let before = fs.lookups.load(core::sync::atomic::Ordering::Relaxed);
    for _ in 0..10 {
        v.stat("/d1/d2/f").unwrap();
        assert_eq!(v.stat("/d1/d2/missing"), Err(Errno::ENOENT));
    }
    let after = fs.lookups.load(core::sync::atomic::Ordering::Relaxed);
    // One backend lookup for the first miss; then the negative entry answers.
    assert_eq!(after - before, 1);
    // Creating the name turns the negative entry positive.
    v.write_file("/d1/d2/missing", b"").unwrap();
    assert!(v.stat("/d1/d2/missing").is_ok());
}

#[test]
fn hard_links_share_vnode() {
    let v = vfs();
    v.write_file("/f", b"1").unwrap();
    v.link("/f", "/g").unwrap();
    let a = v.resolve("/f", true).unwrap().1;
    let b = v.resolve("/g", true).unwrap().1;
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(v.stat("/g").unwrap().nlink, 2);
}

#[test]
fn symlinks_and_loops() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    v.write_file("/d/f", b"x").unwrap();
    v.symlink("f", "/d/l").unwrap();
    assert_eq!(v.read_file("/d/l").unwrap(), b"x");
    v.symlink("/d", "/ld").unwrap();
    assert_eq!(v.read_file("/ld/l").unwrap(), b"x");
    v.symlink("/c2", "/c1").unwrap();
    v.symlink("/c1", "/c2").unwrap();
    assert_eq!(v.stat("/c1"), Err(Errno::ELOOP));
    assert_eq!(
        v.lstat("/c1").unwrap().mode & S_IFMT,
        FileType::Symlink.mode_bits()
    );
}

#[test]
fn mounts_and_dotdot() {
    let v = vfs();
    v.mkdir("/mnt", 0o755).unwrap();
    v.write_file("/mnt/hidden", b"").unwrap();
    v.mount_fs(TestFs::new(false), "none", "/mnt", MountFlags::empty(), "")
        .unwrap();
    assert_eq!(v.stat("/mnt/hidden"), Err(Errno::ENOENT));
    v.mkdir("/mnt/sub", 0o755).unwrap();
    assert_eq!(
        v.stat("/mnt/sub/../..").unwrap().ino,
        v.stat("/").unwrap().ino
    );
    assert_eq!(v.stat("/mnt/..").unwrap().dev, 1);
    assert_ne!(v.stat("/mnt").unwrap().dev, v.stat("/").unwrap().dev);
    v.chdir("/mnt/sub").unwrap();
    assert_eq!(v.getcwd().unwrap(), "/mnt/sub");
    assert_eq!(v.umount("/mnt"), Err(Errno::EBUSY));
    v.chdir("/").unwrap();
    let fd = v.open("/mnt/sub", OpenFlags::O_RDONLY, 0).unwrap();
    assert_eq!(v.umount("/mnt"), Err(Errno::EBUSY));
    v.close(fd).unwrap();
    v.umount("/mnt").unwrap();
    assert!(v.stat("/mnt/hidden").is_ok());
    assert_eq!(v.umount("/mnt"), Err(Errno::EINVAL));
    assert_eq!(v.mounts().len(), 1);
}

#[test]
fn mount_by_name_with_block_source() {
    let v = vfs();
    v.register(Arc::new(FnFsType {
        name: "testfs",
        create: crate::testfs::ctor,
    }))
    .unwrap();
    v.mkdir("/m", 0o755).unwrap();
    v.mount(None, "/m", "testfs", MountFlags::RDONLY, "")
        .unwrap();
    assert_eq!(v.mkdir("/m/x", 0o755), Err(Errno::EROFS));
    assert_eq!(
        v.mount(None, "/m", "nope", MountFlags::empty(), ""),
        Err(Errno::ENODEV)
    );
    assert_eq!(
        v.mount(Some("/m"), "/m", "testfs", MountFlags::empty(), ""),
        Err(Errno::ENOTBLK)
    );
    let infos = v.mounts();
    assert_eq!(infos[1].target, "/m");
    assert_eq!(infos[1].fs_type, "testfs");
}

#[test]
fn getdents_resumes() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    for i in 0..5 {
        v.write_file(&alloc::format!("/d/f{i}"), b"").unwrap();
    }
    let fd = v
        .open("/d", OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY, 0)
        .unwrap();
    let mut names: Vec<String> = Vec::new();
    loop {
        let batch = v.getdents(fd, 2).unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 2);
        names.extend(batch.into_iter().map(|e| e.name));
    }
    assert_eq!(names, [".", "..", "f0", "f1", "f2", "f3", "f4"]);
}

#[test]
fn vnode_table_sweeps_dead_entries() {
    let v = vfs();
    for i in 0..200 {
        let p = alloc::format!("/f{i}");
        v.write_file(&p, b"").unwrap();
        v.unlink(&p).unwrap();
    }
    assert!(v.vnodes.len() < 150);
}

#[test]
fn read_only_backend_gives_erofs() {
    let v = vfs();
    v.mkdir("/ro", 0o755).unwrap();
    v.mount_fs(TestFs::new(true), "none", "/ro", MountFlags::empty(), "")
        .unwrap();
    assert_eq!(
        v.open("/ro/f", OpenFlags::O_WRONLY | OpenFlags::O_CREAT, 0o644),
        Err(Errno::EROFS)
    );
    assert_eq!(v.mkdir("/ro/d", 0o755), Err(Errno::EROFS));
    assert_eq!(v.chmod("/ro", 0o700), Err(Errno::EROFS));
    assert!(v.mounts()[1].flags.contains(MountFlags::RDONLY));
}

#[test]
fn mount_source_names_the_device() {
    let v = Vfs::new(Arc::new(FixedClock(Timespec::ZERO)));
    v.register(Arc::new(FnFsType {
        name: "testfs",
        create: crate::testfs::ctor,
    }))
    .unwrap();
    let device: Arc<dyn drivers::BlockDevice> = Arc::new(drivers::RamDisk::new(512, 8));
    let source = MountSource::Device {
        name: String::from("/dev/vblk0"),
        device,
    };
    v.mount_source(source, "/", "testfs", MountFlags::empty(), "")
        .unwrap();
    assert_eq!(v.mounts()[0].source, "/dev/vblk0");
    assert!(v.stat("/").is_ok());
}

#[test]
fn symlink_target_with_nul_is_einval() {
    let v = vfs();
    // Only a backend can hold such a target; the VFS must not trust it.
    let fs = TestFs::new(false);
    v.mkdir("/m", 0o755).unwrap();
    v.mount_fs(fs.clone(), "none", "/m", MountFlags::empty(), "")
        .unwrap();
    let root = fs.root().unwrap();
    root.symlink("bad", "a\0b").unwrap();
    assert_eq!(v.stat("/m/bad"), Err(Errno::EINVAL));
    root.symlink("long", &"x/".repeat(2100)).unwrap();
    assert_eq!(v.stat("/m/long"), Err(Errno::ENAMETOOLONG));
}

#[test]
fn open_excl_dot_and_creat_directory() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    let excl = OpenFlags::O_WRONLY | OpenFlags::O_CREAT | OpenFlags::O_EXCL;
    assert_eq!(v.open("/d/.", excl, 0o644), Err(Errno::EEXIST));
    assert_eq!(
        v.open("/d/.", OpenFlags::O_WRONLY | OpenFlags::O_CREAT, 0o644),
        Err(Errno::EISDIR)
    );
    assert_eq!(
        v.open(
            "/d/x",
            OpenFlags::O_RDONLY | OpenFlags::O_CREAT | OpenFlags::O_DIRECTORY,
            0o644
        ),
        Err(Errno::EINVAL)
    );
}

#[test]
fn unmount_reaches_the_backend_once_after_its_last_mount() {
    let v = vfs();
    v.mkdir("/m1", 0o755).unwrap();
    v.mkdir("/m2", 0o755).unwrap();
    let fs = TestFs::new(false);
    v.mount_fs(fs.clone(), "none", "/m1", MountFlags::empty(), "")
        .unwrap();
    v.mount_fs(fs.clone(), "none", "/m2", MountFlags::empty(), "")
        .unwrap();
    v.write_file("/m1/f", b"shared").unwrap();
    assert_eq!(v.read_file("/m2/f").unwrap(), b"shared");
    // Two mounts of one instance are still two mounts: EXDEV between them.
    assert_eq!(v.rename("/m1/f", "/m2/g"), Err(Errno::EXDEV));
    v.umount("/m1").unwrap();
    assert_eq!(fs.unmounts.load(core::sync::atomic::Ordering::Relaxed), 0);
    v.umount("/m2").unwrap();
    assert_eq!(fs.unmounts.load(core::sync::atomic::Ordering::Relaxed), 1);
}

/// As Linux: creating, linking or renaming into a removed directory (here a
/// deleted cwd) answers ENOENT before any other check could answer.
#[test]
fn removed_directory_takes_no_new_names() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    v.mkdir("/e", 0o755).unwrap();
    v.write_file("/f", b"x").unwrap();
    v.chdir("/d").unwrap();
    v.rmdir("/d").unwrap();
    // Without the liveness check: EINVAL (source is an ancestor of the
    // destination directory) and ENOTDIR (trailing slash on a file).
    assert_eq!(v.rename("/e", "x"), Err(Errno::ENOENT));
    assert_eq!(v.rename("/f", "x/"), Err(Errno::ENOENT));
    assert_eq!(v.rename("/f", "x"), Err(Errno::ENOENT));
    assert_eq!(v.rename("x", "/g"), Err(Errno::ENOENT));
    assert_eq!(v.mkdir("x", 0o755), Err(Errno::ENOENT));
    assert_eq!(v.symlink("/f", "x"), Err(Errno::ENOENT));
    assert_eq!(v.link("/f", "x"), Err(Errno::ENOENT));
    assert_eq!(v.mknod("x", 0o644, 0), Err(Errno::ENOENT));
    let creat = OpenFlags::O_CREAT | OpenFlags::O_WRONLY;
    assert_eq!(v.open("x", creat, 0o644), Err(Errno::ENOENT));
    // Nothing reached the backend: the tree is as before.
    let names: Vec<String> = v
        .read_dir("/")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(v.stat("/e").is_ok() && v.stat("/f").is_ok());
}

/// A name cached by a lookup between a create's backend call and its cache
/// update keeps its dentry (the cwd may already stand in it).
#[test]
fn create_keeps_a_dentry_cached_for_the_same_vnode() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    let (id, vnode) = v.resolve("/d", true).unwrap();
    let root = v.resolve("/", true).unwrap().0;
    assert_eq!(v.cache_created(root, "d", vnode).unwrap(), id);
}
