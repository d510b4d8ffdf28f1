//! Mount table behaviour: ramfs on / and /tmp, devfs on /dev, nesting,
//! `..` across mounts, busy unmounts, EXDEV, read-only mounts, pivot_root
//! and mounting by type name from a block device.

use std::sync::Arc;

use drivers::{BlockDevice, RamDisk};
use fs_devfs::DevFs;
use fs_ramfs::RamFs;
use vfs::{
    Errno, FileSystem, FixedClock, MountContext, MountFlags, MountSource, OpenFlags, Timespec, Vfs,
    VfsResult,
};

const RD: OpenFlags = OpenFlags::O_RDONLY;
const WR: OpenFlags = OpenFlags::O_WRONLY;
const RW: OpenFlags = OpenFlags::O_RDWR;
const CREAT: OpenFlags = OpenFlags::O_CREAT;

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock(Timespec::new(1_000, 0)))
}

/// ramfs on /, ramfs on /tmp, devfs on /dev.
fn standard() -> Vfs {
    let vfs = Vfs::new(clock());
    vfs.register(std::sync::Arc::new(fs_ramfs::RamFsType))
        .unwrap();
    vfs.mount(None, "/", "ramfs", MountFlags::empty(), "")
        .unwrap();
    vfs.mkdir("/tmp", 0o1777).unwrap();
    vfs.mkdir("/dev", 0o755).unwrap();
    vfs.mount(None, "/tmp", "ramfs", MountFlags::empty(), "size=16M")
        .unwrap();
    vfs.mount_fs(DevFs::new(7), "devfs", "/dev", MountFlags::empty(), "")
        .unwrap();
    vfs
}

fn ramfs() -> Arc<dyn FileSystem> {
    RamFs::new(clock(), None)
}

#[test]
fn standard_layout_and_mount_table() {
    let v = standard();
    let table = v.mounts();
    let rows: Vec<(&str, &str, &str)> = table
        .iter()
        .map(|m| (m.target.as_str(), m.fs_type.as_str(), m.source.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("/", "ramfs", "none"),
            ("/tmp", "ramfs", "none"),
            ("/dev", "devfs", "devfs")
        ]
    );
    assert_eq!(table[1].options, "size=16M");
    // Each mount has its own device id, and stat reports it.
    assert_eq!(v.stat("/").unwrap().dev, table[0].dev);
    assert_eq!(v.stat("/tmp").unwrap().dev, table[1].dev);
    assert_eq!(v.stat("/dev/null").unwrap().dev, table[2].dev);
    assert_ne!(table[0].dev, table[1].dev);
    assert_ne!(table[1].dev, table[2].dev);
    // Devices work through the VFS.
    let fd = v.open("/dev/zero", RD, 0).unwrap();
    let mut buf = [1u8; 8];
    assert_eq!(v.read(fd, &mut buf).unwrap(), 8);
    assert_eq!(buf, [0; 8]);
    // read_file of an endless device stops at a bound instead of running on.
    let zeros = v.read_file("/dev/zero").unwrap();
    assert_eq!(zeros.len(), 1 << 20);
    assert!(zeros.iter().all(|&b| b == 0));
    assert!(v.read_file("/dev/null").unwrap().is_empty());
    let null = v.open("/dev/null", WR, 0).unwrap();
    assert_eq!(v.write(null, b"gone").unwrap(), 4);
    // statfs answers for the filesystem holding the path.
    assert_eq!(v.statfs("/dev").unwrap().fs_type, fs_devfs::DEVFS_MAGIC);
    assert_ne!(v.statfs("/tmp").unwrap().fs_type, fs_devfs::DEVFS_MAGIC);
}

#[test]
fn files_live_on_their_own_mount() {
    let v = standard();
    v.write_file("/tmp/f", b"tmp").unwrap();
    v.write_file("/f", b"root").unwrap();
    assert_eq!(v.read_file("/tmp/f").unwrap(), b"tmp");
    assert_eq!(v.read_file("/f").unwrap(), b"root");
    assert_ne!(v.stat("/tmp/f").unwrap().dev, v.stat("/f").unwrap().dev);
}

#[test]
fn nested_mounts() {
    let v = standard();
    v.mkdir("/tmp/a", 0o755).unwrap();
    v.mount_fs(ramfs(), "none", "/tmp/a", MountFlags::empty(), "")
        .unwrap();
    v.mkdir("/tmp/a/b", 0o755).unwrap();
    v.mount_fs(ramfs(), "none", "/tmp/a/b", MountFlags::empty(), "")
        .unwrap();
    v.write_file("/tmp/a/b/deep", b"3").unwrap();
    let devs: Vec<u64> = ["/", "/tmp", "/tmp/a", "/tmp/a/b"]
        .iter()
        .map(|p| v.stat(p).unwrap().dev)
        .collect();
    let mut unique = devs.clone();
    unique.dedup();
    assert_eq!(unique.len(), 4);
    assert_eq!(
        v.mounts()
            .iter()
            .map(|m| m.target.clone())
            .collect::<Vec<_>>(),
        ["/", "/tmp", "/dev", "/tmp/a", "/tmp/a/b"]
    );
    // Unmount in reverse order.
    assert_eq!(v.umount("/tmp/a"), Err(Errno::EBUSY));
    v.umount("/tmp/a/b").unwrap();
    assert_eq!(v.stat("/tmp/a/b/deep"), Err(Errno::ENOENT));
    v.umount("/tmp/a").unwrap();
    assert_eq!(v.stat("/tmp/a").unwrap().dev, devs[1]);
}

#[test]
fn dotdot_crosses_mounts_upwards() {
    let v = standard();
    let root = v.stat("/").unwrap();
    let up = v.stat("/tmp/..").unwrap();
    assert_eq!((up.dev, up.ino), (root.dev, root.ino));
    v.mkdir("/tmp/x", 0o755).unwrap();
    let up2 = v.stat("/tmp/x/../..").unwrap();
    assert_eq!((up2.dev, up2.ino), (root.dev, root.ino));
    assert_eq!(
        v.stat("/dev/../tmp/x").unwrap().dev,
        v.stat("/tmp").unwrap().dev
    );
    v.chdir("/tmp/x").unwrap();
    v.chdir("../..").unwrap();
    assert_eq!(v.getcwd().unwrap(), "/");
    v.chdir("/tmp").unwrap();
    assert_eq!(v.getcwd().unwrap(), "/tmp");
    assert_eq!(v.stat("..").unwrap().ino, root.ino);
    // getdents ".." of a mount root is the root itself, as Linux reports it.
    let fd = v.open("/tmp", RD, 0).unwrap();
    let dots = v.getdents(fd, 2).unwrap();
    assert_eq!(dots[1].name, "..");
    assert_eq!(dots[1].ino, v.stat("/tmp").unwrap().ino);
}

#[test]
fn mount_hides_a_non_empty_dir_and_umount_reveals_it() {
    let v = standard();
    v.mkdir("/data", 0o755).unwrap();
    v.write_file("/data/old", b"under").unwrap();
    v.stat("/data/old").unwrap();
    v.mount_fs(ramfs(), "none", "/data", MountFlags::empty(), "")
        .unwrap();
    assert_eq!(v.stat("/data/old"), Err(Errno::ENOENT));
    assert!(v.read_dir("/data").unwrap().is_empty());
    v.write_file("/data/new", b"over").unwrap();
    v.umount("/data").unwrap();
    assert_eq!(v.read_file("/data/old").unwrap(), b"under");
    assert_eq!(v.stat("/data/new"), Err(Errno::ENOENT));
}

#[test]
fn stacked_mounts_on_one_dir() {
    let v = standard();
    v.write_file("/tmp/first", b"").unwrap();
    v.mount_fs(ramfs(), "none", "/tmp", MountFlags::empty(), "")
        .unwrap();
    assert_eq!(v.stat("/tmp/first"), Err(Errno::ENOENT));
    v.umount("/tmp").unwrap();
    assert!(v.stat("/tmp/first").is_ok());
}

#[test]
fn umount_is_busy_with_an_open_fd() {
    let v = standard();
    v.write_file("/tmp/f", b"").unwrap();
    let fd = v.open("/tmp/f", RD, 0).unwrap();
    let dup = v.dup(fd).unwrap();
    v.close(fd).unwrap();
    assert_eq!(v.umount("/tmp"), Err(Errno::EBUSY));
    v.close(dup).unwrap();
    v.umount("/tmp").unwrap();
    // An open directory counts as well.
    let dfd = v.open("/dev", RD, 0).unwrap();
    assert_eq!(v.umount("/dev"), Err(Errno::EBUSY));
    v.close(dfd).unwrap();
    v.umount("/dev").unwrap();
}

#[test]
fn umount_is_busy_with_the_cwd_inside() {
    let v = standard();
    v.mkdir("/tmp/w", 0o755).unwrap();
    v.chdir("/tmp/w").unwrap();
    assert_eq!(v.umount("/tmp"), Err(Errno::EBUSY));
    v.chdir("/").unwrap();
    v.umount("/tmp").unwrap();
}

#[test]
fn umount_is_busy_with_a_submount() {
    let v = standard();
    v.mkdir("/tmp/sub", 0o755).unwrap();
    v.mount_fs(ramfs(), "none", "/tmp/sub", MountFlags::empty(), "")
        .unwrap();
    assert_eq!(v.umount("/tmp"), Err(Errno::EBUSY));
    v.umount("/tmp/sub").unwrap();
    v.umount("/tmp").unwrap();
}

#[test]
fn umount_of_a_non_mountpoint_is_einval() {
    let v = standard();
    v.mkdir("/plain", 0o755).unwrap();
    assert_eq!(v.umount("/plain"), Err(Errno::EINVAL));
    assert_eq!(v.umount("/tmp/."), Ok(()), "the mount root itself is fine");
}

#[test]
fn umount_and_mount_of_the_root_are_ebusy() {
    let v = standard();
    assert_eq!(v.umount("/"), Err(Errno::EBUSY));
    assert_eq!(v.umount("/tmp/.."), Err(Errno::EBUSY), "that is /");
    assert_eq!(
        v.mount_fs(ramfs(), "none", "/", MountFlags::empty(), ""),
        Err(Errno::EBUSY)
    );
}

#[test]
fn umount_or_mount_on_a_missing_path_is_enoent() {
    let v = standard();
    assert_eq!(v.umount("/missing"), Err(Errno::ENOENT));
    assert_eq!(v.umount(""), Err(Errno::ENOENT));
    assert_eq!(
        v.mount_fs(ramfs(), "none", "/missing", MountFlags::empty(), ""),
        Err(Errno::ENOENT)
    );
}

#[test]
fn mount_on_a_file_is_enotdir() {
    let v = standard();
    v.write_file("/file", b"").unwrap();
    assert_eq!(
        v.mount_fs(ramfs(), "none", "/file", MountFlags::empty(), ""),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(v.mounts().len(), 3);
}

#[test]
fn mount_points_are_busy_for_rmdir_and_rename() {
    let v = standard();
    assert_eq!(v.rmdir("/tmp"), Err(Errno::EBUSY));
    assert_eq!(v.rename("/tmp", "/tmp2"), Err(Errno::EBUSY));
    v.mkdir("/empty", 0o755).unwrap();
    assert_eq!(v.rename("/empty", "/tmp"), Err(Errno::EBUSY));
    assert!(v.stat("/empty").is_ok());
}

#[test]
fn rename_and_link_across_mounts_are_exdev() {
    let v = standard();
    v.write_file("/f", b"").unwrap();
    v.mkdir("/d", 0o755).unwrap();
    assert_eq!(v.rename("/f", "/tmp/f"), Err(Errno::EXDEV));
    assert_eq!(v.rename("/d", "/tmp/d"), Err(Errno::EXDEV));
    assert_eq!(v.link("/f", "/tmp/f"), Err(Errno::EXDEV));
    assert_eq!(v.link("/dev/null", "/n"), Err(Errno::EXDEV));
    assert!(v.stat("/f").is_ok());
    assert_eq!(v.stat("/tmp/f"), Err(Errno::ENOENT));
}

#[test]
fn read_only_mount_refuses_every_write() {
    let v = standard();
    v.mkdir("/ro", 0o755).unwrap();
    let fs = ramfs();
    // Fill it through a writable mount first.
    v.mkdir("/setup", 0o755).unwrap();
    v.mount_fs(fs.clone(), "none", "/setup", MountFlags::empty(), "")
        .unwrap();
    v.write_file("/setup/f", b"content").unwrap();
    v.mkdir("/setup/dir", 0o755).unwrap();
    v.umount("/setup").unwrap();
    v.mount_fs(fs, "none", "/ro", MountFlags::RDONLY, "")
        .unwrap();
    assert!(
        v.mounts()
            .last()
            .unwrap()
            .flags
            .contains(MountFlags::RDONLY)
    );

    assert_eq!(v.read_file("/ro/f").unwrap(), b"content");
    let fd = v.open("/ro/f", RD | CREAT, 0o644).unwrap();
    v.close(fd).unwrap();
    assert_eq!(v.open("/ro/f", WR, 0), Err(Errno::EROFS));
    assert_eq!(v.open("/ro/f", RW, 0), Err(Errno::EROFS));
    assert_eq!(
        v.open("/ro/f", RD | OpenFlags::O_TRUNC, 0),
        Err(Errno::EROFS)
    );
    assert_eq!(v.open("/ro/new", RD | CREAT, 0o644), Err(Errno::EROFS));
    assert_eq!(v.write_file("/ro/f", b"x"), Err(Errno::EROFS));
    assert_eq!(v.mkdir("/ro/nd", 0o755), Err(Errno::EROFS));
    assert_eq!(
        v.mkdir("/ro/dir", 0o755),
        Err(Errno::EEXIST),
        "EEXIST wins, as Linux"
    );
    assert_eq!(v.rmdir("/ro/dir"), Err(Errno::EROFS));
    assert_eq!(v.unlink("/ro/f"), Err(Errno::EROFS));
    assert_eq!(v.rename("/ro/f", "/ro/g"), Err(Errno::EROFS));
    assert_eq!(v.link("/ro/f", "/ro/g"), Err(Errno::EROFS));
    assert_eq!(v.symlink("f", "/ro/l"), Err(Errno::EROFS));
    assert_eq!(v.chmod("/ro/f", 0o600), Err(Errno::EROFS));
    assert_eq!(
        v.utimens("/ro/f", Some(Timespec::new(5, 0)), None),
        Err(Errno::EROFS)
    );
    assert_eq!(v.truncate("/ro/f", 0), Err(Errno::EROFS));
    // Nothing changed.
    assert_eq!(v.read_file("/ro/f").unwrap(), b"content");
    assert_eq!(v.stat("/ro/f").unwrap().mode, 0o100644);
}

#[test]
fn pivot_root_switches_the_root() {
    let v = standard();
    v.write_file("/oldfile", b"old").unwrap();
    v.mkdir("/newroot", 0o755).unwrap();
    v.mount_fs(ramfs(), "none", "/newroot", MountFlags::empty(), "")
        .unwrap();
    v.mkdir("/newroot/oldroot", 0o755).unwrap();
    v.write_file("/newroot/newfile", b"new").unwrap();
    let new_dev = v.stat("/newroot").unwrap().dev;

    assert_eq!(
        v.pivot_root("/tmp", "/newroot/oldroot"),
        Err(Errno::EINVAL),
        "put_old not under new_root"
    );
    assert_eq!(
        v.pivot_root("/newroot/oldroot", "/newroot/oldroot"),
        Err(Errno::EINVAL),
        "not a mount point"
    );
    assert_eq!(v.pivot_root("/", "/tmp"), Err(Errno::EBUSY));

    v.pivot_root("/newroot", "/newroot/oldroot").unwrap();
    assert_eq!(v.stat("/").unwrap().dev, new_dev);
    assert_eq!(v.read_file("/newfile").unwrap(), b"new");
    assert_eq!(v.read_file("/oldroot/oldfile").unwrap(), b"old");
    assert!(v.stat("/oldroot/dev/null").is_ok());
    assert_eq!(v.stat("/..").unwrap().dev, new_dev);
    assert_eq!(v.stat("/oldroot/..").unwrap().dev, new_dev);
    assert_eq!(v.getcwd().unwrap(), "/");
    let targets: Vec<String> = v.mounts().into_iter().map(|m| m.target).collect();
    assert!(targets.contains(&"/oldroot".to_string()), "{targets:?}");
    assert!(targets.contains(&"/oldroot/tmp".to_string()), "{targets:?}");
    assert!(targets.contains(&"/".to_string()), "{targets:?}");
    // The old root still has submounts, so it cannot go yet.
    assert_eq!(v.umount("/oldroot"), Err(Errno::EBUSY));
    v.umount("/oldroot/tmp").unwrap();
    v.umount("/oldroot/dev").unwrap();
    v.umount("/oldroot").unwrap();
    assert!(v.read_dir("/oldroot").unwrap().is_empty());
    assert_eq!(v.mounts().len(), 1);
}

/// A test filesystem type that needs a block device: it checks a magic
/// number in block 0 and serves an empty ramfs.
fn blockfs_new(ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
    let MountSource::Device { device: dev, .. } = &ctx.source else {
        return Err(Errno::ENOTBLK);
    };
    let mut block = vec![0u8; dev.block_size()];
    dev.read_blocks(0, &mut block).map_err(|_| Errno::EIO)?;
    if !block.starts_with(b"MAGIC!") {
        return Err(Errno::EINVAL);
    }
    let fs: Arc<dyn FileSystem> = RamFs::new(ctx.clock.clone(), None);
    Ok(fs)
}

#[test]
fn mount_by_type_name_with_a_block_device_source() {
    let v = standard();
    v.register(Arc::new(vfs::FnFsType {
        name: "blockfs",
        create: blockfs_new,
    }))
    .unwrap();
    let mut image = b"MAGIC!".to_vec();
    image.resize(4096, 0);
    let disk: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, image));
    let devfs = DevFs::new(1);
    devfs.add_block_device("vblk0", disk).unwrap();
    let blank: Arc<dyn BlockDevice> = Arc::new(RamDisk::new(512, 8));
    devfs.add_block_device("vblk1", blank).unwrap();
    v.umount("/dev").unwrap();
    v.mount_fs(devfs, "devfs", "/dev", MountFlags::empty(), "")
        .unwrap();
    v.mkdir("/mnt", 0o755).unwrap();

    assert_eq!(
        v.mount(
            Some("/dev/null"),
            "/mnt",
            "blockfs",
            MountFlags::empty(),
            ""
        ),
        Err(Errno::ENOTBLK)
    );
    assert_eq!(
        v.mount(
            Some("/dev/nope"),
            "/mnt",
            "blockfs",
            MountFlags::empty(),
            ""
        ),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        v.mount(
            Some("/dev/vblk1"),
            "/mnt",
            "blockfs",
            MountFlags::empty(),
            ""
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        v.mount(None, "/mnt", "blockfs", MountFlags::empty(), ""),
        Err(Errno::ENOTBLK)
    );
    assert_eq!(
        v.mount(
            Some("/dev/vblk0"),
            "/mnt",
            "nosuchfs",
            MountFlags::empty(),
            ""
        ),
        Err(Errno::ENODEV)
    );
    assert_eq!(v.mounts().len(), 3, "failed mounts leave no trace");

    v.mount(
        Some("/dev/vblk0"),
        "/mnt",
        "blockfs",
        MountFlags::RDONLY,
        "",
    )
    .unwrap();
    let row = v.mounts().into_iter().last().unwrap();
    assert_eq!(
        (
            row.source.as_str(),
            row.target.as_str(),
            row.fs_type.as_str()
        ),
        ("/dev/vblk0", "/mnt", "blockfs")
    );
    assert_eq!(v.stat("/mnt").unwrap().dev, row.dev);
    assert_eq!(v.mkdir("/mnt/x", 0o755), Err(Errno::EROFS));
    // The device node is busy only through open fds, not through the mount.
    v.umount("/mnt").unwrap();
}

#[test]
fn rofs_by_type_name_from_a_devfs_block_device() {
    let v = standard();
    v.register(std::sync::Arc::new(fs_rofs::RofsType)).unwrap();
    let image_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/osv-rofs-v1/golden-v1.rofs"
    );
    let image = std::fs::read(image_path).unwrap();
    let disk: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, image).read_only());
    let devfs = DevFs::new(1);
    devfs.add_block_device("vblk0", disk).unwrap();
    v.umount("/dev").unwrap();
    v.mount_fs(devfs, "devfs", "/dev", MountFlags::empty(), "")
        .unwrap();
    v.mkdir("/rootfs", 0o755).unwrap();
    v.mount(
        Some("/dev/vblk0"),
        "/rootfs",
        "rofs",
        MountFlags::empty(),
        "",
    )
    .unwrap();

    let hostname = v.read_file("/rootfs/etc/hostname").unwrap();
    assert_eq!(hostname.len(), 10);
    assert_eq!(crc32fast::hash(&hostname), 0x460d_b61b);
    assert_eq!(
        v.stat("/rootfs/data/size-100003.bin").unwrap().size,
        100_003
    );
    // Absolute targets resolve against the VFS root, not the image's root.
    assert_eq!(v.readlink("/rootfs/links/loop1").unwrap(), "/links/loop2");
    assert_eq!(v.stat("/rootfs/links/loop1"), Err(Errno::ENOENT));
    // The backend is read-only even though the mount flags are not.
    assert!(
        v.mounts()
            .last()
            .unwrap()
            .flags
            .contains(MountFlags::RDONLY)
    );
    assert_eq!(
        v.write_file("/rootfs/etc/hostname", b"x"),
        Err(Errno::EROFS)
    );
    assert_eq!(v.mkdir("/rootfs/new", 0o755), Err(Errno::EROFS));
    assert_eq!(v.unlink("/rootfs/etc/hostname"), Err(Errno::EROFS));
    // `..` leaves the image back into ramfs.
    assert_eq!(
        v.stat("/rootfs/etc/../..").unwrap().ino,
        v.stat("/").unwrap().ino
    );
    let fd = v.open("/rootfs/etc/hostname", RD, 0).unwrap();
    assert_eq!(v.umount("/rootfs"), Err(Errno::EBUSY));
    v.close(fd).unwrap();
    v.umount("/rootfs").unwrap();
    assert!(v.read_dir("/rootfs").unwrap().is_empty());
}
