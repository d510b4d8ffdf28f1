//! The positive dentry bound: old unused leaves go, what is in use stays,
//! and evicted names resolve again to the same files.

use alloc::format;
use alloc::sync::Arc;

use super::vfs;
use crate::testfs::TestFs;
use crate::*;

#[test]
fn walking_many_files_stays_within_the_bound() {
    let v = vfs();
    v.set_dentry_limit(64);
    v.mkdir("/d", 0o755).unwrap();
    for i in 0..1000 {
        v.write_file(&format!("/d/f{i}"), format!("{i}").as_bytes())
            .unwrap();
    }
    for i in 0..1000 {
        assert_eq!(
            v.stat(&format!("/d/f{i}")).unwrap().size,
            format!("{i}").len() as u64
        );
    }
    // The root, /d and at most the limit of leaves.
    assert!(v.cached_dentries() <= 64 + 2, "{}", v.cached_dentries());
    // Evicted names come back with the same inode and contents.
    let ino = v.stat("/d/f0").unwrap().ino;
    for i in 1..1000 {
        v.stat(&format!("/d/f{i}")).unwrap();
    }
    assert_eq!(v.stat("/d/f0").unwrap().ino, ino);
    assert_eq!(v.read_file("/d/f0").unwrap(), b"0");
}

#[test]
fn eviction_asks_the_backend_again() {
    let v = Vfs::new(Arc::new(FixedClock(Timespec::ZERO)));
    let fs = TestFs::new(false);
    v.mount_fs(fs.clone(), "none", "/", MountFlags::empty(), "")
        .unwrap();
    v.set_dentry_limit(8);
    for i in 0..32 {
        v.write_file(&format!("/f{i}"), b"").unwrap();
    }
    let lookups = || fs.lookups.load(core::sync::atomic::Ordering::Relaxed);
    v.stat("/f31").unwrap();
    let before = lookups();
    v.stat("/f31").unwrap();
    assert_eq!(lookups(), before, "a recent entry answers from the cache");
    v.stat("/f0").unwrap();
    assert_eq!(lookups(), before + 1, "an evicted entry is looked up again");
}

#[test]
fn open_files_cwd_and_mount_points_are_kept() {
    let v = vfs();
    v.set_dentry_limit(4);
    v.mkdir("/keep", 0o755).unwrap();
    v.mkdir("/mnt", 0o755).unwrap();
    v.mount_fs(TestFs::new(false), "none", "/mnt", MountFlags::empty(), "")
        .unwrap();
    v.write_file("/mnt/inside", b"m").unwrap();
    v.write_file("/open", b"o").unwrap();
    let fd = v.open("/open", OpenFlags::O_RDONLY, 0).unwrap();
    v.chdir("/keep").unwrap();
    for i in 0..200 {
        v.write_file(&format!("/x{i}"), b"").unwrap();
        v.stat(&format!("/x{i}")).unwrap();
    }
    // Still mounted, still the cwd, still readable through the fd.
    assert_eq!(v.read_file("/mnt/inside").unwrap(), b"m");
    assert_eq!(v.getcwd().unwrap(), "/keep");
    let mut buf = [0u8; 4];
    assert_eq!(v.read(fd, &mut buf).unwrap(), 1);
    v.close(fd).unwrap();
    assert!(v.mounts().iter().any(|m| m.target == "/mnt"));
}

#[test]
fn renames_and_unlinks_after_eviction_see_the_backend() {
    let v = vfs();
    v.set_dentry_limit(2);
    v.mkdir("/a", 0o755).unwrap();
    v.mkdir("/a/b", 0o755).unwrap();
    v.write_file("/a/b/f", b"data").unwrap();
    for i in 0..50 {
        v.write_file(&format!("/n{i}"), b"").unwrap();
    }
    v.rename("/a/b/f", "/a/g").unwrap();
    assert_eq!(v.stat("/a/b/f"), Err(Errno::ENOENT));
    assert_eq!(v.read_file("/a/g").unwrap(), b"data");
    v.unlink("/a/g").unwrap();
    assert_eq!(v.stat("/a/g"), Err(Errno::ENOENT));
    v.rmdir("/a/b").unwrap();
    v.rmdir("/a").unwrap();
    assert_eq!(v.stat("/a"), Err(Errno::ENOENT));
}
