//! ROFS images of both formats used through `vfs::Vfs`: path resolution,
//! symlinks (ELOOP for a loop), reads through file descriptors, getdents,
//! and EROFS for every change.

mod common;

use std::sync::Arc;

use common::*;
use fs_rofs::writer::{EntryMeta, FileSource, Format, ImageBuilder};
use vfs::{Errno, FixedClock, MountFlags, OpenFlags, Vfs, Whence};

fn image(format: Format) -> Vec<u8> {
    let mut b = ImageBuilder::new(options(format, 512));
    let m = EntryMeta::default;
    b.add_file("/etc/hostname", FileSource::Bytes(b"guest\n".to_vec()), m())
        .unwrap();
    b.add_file("/data/big", FileSource::Bytes(pattern(70_000, 4)), m())
        .unwrap();
    b.add_file("/a/b/c/deep.txt", FileSource::Bytes(b"deep".to_vec()), m())
        .unwrap();
    b.add_symlink("/links/rel", "../etc/hostname", m()).unwrap();
    b.add_symlink("/links/abs", "/a/b/c/deep.txt", m()).unwrap();
    b.add_symlink("/links/to-dir", "/a/b", m()).unwrap();
    b.add_symlink("/links/dangling", "/does/not/exist", m())
        .unwrap();
    b.add_symlink("/links/loop1", "/links/loop2", m()).unwrap();
    b.add_symlink("/links/loop2", "/links/loop1", m()).unwrap();
    b.add_hardlink("/etc/hostname2", "/etc/hostname").unwrap();
    write_image(b).0
}

fn vfs_with(bytes: Vec<u8>) -> Vfs {
    let vfs = Vfs::new(Arc::new(FixedClock::default()));
    let fs = mount(bytes).unwrap();
    vfs.mount_fs(fs, "/dev/vblk0", "/", MountFlags::RDONLY, "")
        .unwrap();
    vfs
}

fn check(vfs: &Vfs, format: Format) {
    assert_eq!(vfs.read_file("/etc/hostname").unwrap(), b"guest\n");
    assert_eq!(vfs.read_file("/links/rel").unwrap(), b"guest\n");
    assert_eq!(vfs.read_file("/links/abs").unwrap(), b"deep");
    assert_eq!(vfs.read_file("/links/to-dir/c/deep.txt").unwrap(), b"deep");
    assert_eq!(vfs.read_file("/a/b/../b/c/./deep.txt").unwrap(), b"deep");
    assert!(vfs.read_file("/data/big").unwrap() == pattern(70_000, 4));
    assert_eq!(vfs.stat("/links/loop1").err(), Some(Errno::ELOOP));
    assert_eq!(
        vfs.open("/links/loop2", OpenFlags::O_RDONLY, 0).err(),
        Some(Errno::ELOOP)
    );
    assert_eq!(vfs.stat("/links/dangling").err(), Some(Errno::ENOENT));
    assert_eq!(vfs.readlink("/links/loop1").unwrap(), "/links/loop2");
    assert_eq!(vfs.lstat("/links/loop1").unwrap().mode & 0o170000, 0o120000);
    assert_eq!(vfs.stat("/links/to-dir").unwrap().mode & 0o170000, 0o040000);
    assert_eq!(vfs.stat("/etc/hostname/x").err(), Some(Errno::ENOTDIR));
    assert_eq!(vfs.stat("/nope").err(), Some(Errno::ENOENT));
    let same = vfs.stat("/etc/hostname").unwrap().ino == vfs.stat("/etc/hostname2").unwrap().ino;
    assert_eq!(
        same,
        format == Format::V2,
        "hard links share an inode in v2 only"
    );

    // Reads through a descriptor, with seeks.
    let fd = vfs.open("/data/big", OpenFlags::O_RDONLY, 0).unwrap();
    let mut buf = vec![0u8; 1000];
    assert_eq!(vfs.lseek(fd, 69_500, Whence::Set).unwrap(), 69_500);
    assert_eq!(vfs.read(fd, &mut buf).unwrap(), 500);
    assert!(buf[..500] == pattern(70_000, 4)[69_500..]);
    assert_eq!(vfs.read(fd, &mut buf).unwrap(), 0);
    assert_eq!(vfs.pread(fd, &mut buf, 511).unwrap(), 1000);
    assert!(buf == pattern(70_000, 4)[511..1511]);
    assert_eq!(vfs.fstat(fd).unwrap().size, 70_000);
    vfs.close(fd).unwrap();

    // Directory listings.
    let mut names: Vec<String> = vfs
        .read_dir("/links")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["abs", "dangling", "loop1", "loop2", "rel", "to-dir"]
    );
    let fd = vfs
        .open("/", OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY, 0)
        .unwrap();
    let mut all = Vec::new();
    loop {
        let batch = vfs.getdents(fd, 2).unwrap();
        if batch.is_empty() {
            break;
        }
        all.extend(batch.into_iter().map(|e| e.name));
    }
    all.sort();
    assert_eq!(all, [".", "..", "a", "data", "etc", "links"]);
    vfs.close(fd).unwrap();

    // Nothing can change.
    assert_eq!(
        vfs.open("/new", OpenFlags::O_CREAT | OpenFlags::O_WRONLY, 0o644)
            .err(),
        Some(Errno::EROFS)
    );
    assert_eq!(
        vfs.open("/etc/hostname", OpenFlags::O_WRONLY, 0).err(),
        Some(Errno::EROFS)
    );
    assert_eq!(vfs.mkdir("/newdir", 0o755).err(), Some(Errno::EROFS));
    assert_eq!(vfs.unlink("/etc/hostname").err(), Some(Errno::EROFS));
    assert_eq!(
        vfs.rename("/etc/hostname", "/etc/x").err(),
        Some(Errno::EROFS)
    );
    assert_eq!(vfs.symlink("/x", "/y").err(), Some(Errno::EROFS));
    assert_eq!(vfs.chmod("/etc/hostname", 0o777).err(), Some(Errno::EROFS));
    assert_eq!(
        vfs.write_file("/etc/hostname", b"x").err(),
        Some(Errno::EROFS)
    );
    let statfs = vfs.statfs("/").unwrap();
    assert_eq!(statfs.blocks_free, 0);
}

#[test]
fn v2_through_vfs() {
    check(&vfs_with(image(Format::V2)), Format::V2);
}

#[test]
fn v1_through_vfs() {
    check(&vfs_with(image(Format::V1)), Format::V1);
}

#[test]
fn golden_v1_loop_is_eloop() {
    let path = format!(
        "{}/../tests/data/osv-rofs-v1/golden-v1.rofs",
        env!("CARGO_MANIFEST_DIR")
    );
    let vfs = vfs_with(std::fs::read(path).unwrap());
    assert_eq!(vfs.stat("/links/loop1").err(), Some(Errno::ELOOP));
    assert_eq!(vfs.read_file("/links/rel-to-hostname").unwrap().len(), 10);
    assert_eq!(vfs.read_file("/links/abs-to-deep").unwrap().len(), 777);
    assert_eq!(vfs.stat("/links/dangling").err(), Some(Errno::ENOENT));
    assert_eq!(vfs.read_dir("/many").unwrap().len(), 300);
}

#[test]
fn registered_constructor_mounts_devices() {
    let vfs = Vfs::new(Arc::new(FixedClock::default()));
    vfs.register(std::sync::Arc::new(fs_rofs::RofsType))
        .unwrap();
    // Without a device path the constructor has no block device.
    assert_eq!(
        vfs.mount(None, "/", "rofs", MountFlags::RDONLY, "").err(),
        Some(Errno::ENOTBLK)
    );
}
