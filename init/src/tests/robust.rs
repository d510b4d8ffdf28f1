//! Boot and the shell under bad input and full file systems (issue 8):
//! `/etc/fstab` targets written in other forms and non-UTF-8 lines, devfs
//! mounted again, a size-limited `/tmp` filled from an endless source, and
//! `rm -r /` on the kernel's mount layout.

use std::string::String;
use std::vec::Vec;

use super::platform::{Machine, TestPlatform, image};
use crate::mount_all;
use crate::shell::Shell;

const HEAP: u64 = 8 << 20;

fn targets(vfs: &vfs::Vfs) -> Vec<(String, String)> {
    vfs.mounts()
        .into_iter()
        .map(|m| (m.target, m.options))
        .collect()
}

fn pair(target: &str, options: &str) -> (String, String) {
    (target.into(), options.into())
}

#[test]
fn etc_fstab_targets_are_compared_after_resolution() {
    // Four spellings of the mounted /tmp (none may stack a second ramfs on
    // it), a non-UTF-8 line, then a line that must still apply.
    let fstab: &[u8] = b"none /tmp/ ramfs size=1M\n\
        none //tmp ramfs size=1M\n\
        none /tmp/../tmp ramfs size=1M\n\
        none /./tmp ramfs size=1M\n\
        none /data\xff ramfs\n\
        none /data/ ramfs size=2M\n";
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[("/etc/fstab", fstab)])), "");
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    assert_eq!(
        targets(&mounted.vfs),
        [
            pair("/", ""),
            pair("/dev", ""),
            pair("/tmp", "size=4194304"),
            pair("/data", "size=2M"),
        ]
    );
}

#[test]
fn devfs_mounted_again_is_the_kernels_instance_with_its_disks() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[])), "");
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    let shell = Shell::new(&platform, &mounted.vfs);
    shell.run_script(
        "t",
        "umount /dev; ls /dev; mount -t devfs none /dev; ls /dev",
    );
    let out = platform.take_output();
    // The image's empty /dev while unmounted, then the kernel's devfs.
    assert!(out.starts_with("console\n"), "{out}");
    assert!(out.lines().any(|l| l == "vblk0"), "{out}");
    let disk = mounted.vfs.stat("/dev/vblk0").expect("vblk0 after remount");
    assert_eq!(disk.size, machine.disks[0].device.size_bytes());
    let mut head = [0u8; 8];
    let fd = mounted
        .vfs
        .open("/dev/vblk0", vfs::OpenFlags::O_RDONLY, 0)
        .expect("open vblk0");
    assert_eq!(mounted.vfs.read(fd, &mut head), Ok(8));
    assert_eq!(u64::from_le_bytes(head), 0xDEAD_BEAD, "ROFS magic");
}

#[test]
fn an_endless_source_fills_tmp_and_stops_with_enospc() {
    // /tmp is half of the 8 MiB heap; /dev/zero never ends.
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[])), "");
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    let shell = Shell::new(&platform, &mounted.vfs);
    shell.run_script(
        "t",
        "cat /dev/zero > /tmp/f; rm /tmp/f; cp /dev/zero /tmp/g; \
         echo more >> /tmp/g; rm /tmp/g; echo fits > /tmp/h; cat /tmp/h",
    );
    assert_eq!(
        platform.take_output(),
        "cat: /tmp/f: ENOSPC (No space left on device)\n\
         cp: /tmp/g: ENOSPC (No space left on device)\n\
         echo: /tmp/g: ENOSPC (No space left on device)\n\
         fits\n"
    );
}

#[test]
fn rm_r_of_the_root_keeps_tmp() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[])), "");
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    let shell = Shell::new(&platform, &mounted.vfs);
    shell.run_script(
        "t",
        "echo precious > /tmp/keep; rm -r /; rm -rf /tmp/..; rm -r /tmp/../; \
         rm -r --no-preserve-root /; cat /tmp/keep; ls /dev/vblk0",
    );
    let out = platform.take_output();
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("rm: /: refusing to remove / recursively (use --no-preserve-root)")
    );
    assert_eq!(
        lines.next(),
        Some("rm: /tmp/..: refusing to remove '.' or '..'")
    );
    assert_eq!(
        lines.next(),
        Some("rm: /tmp/../: refusing to remove '.' or '..'")
    );
    // Without the failsafe the walk stops at the read-only root's first
    // file (mounts it meets are skipped: see tests/walks.rs).
    assert_eq!(
        lines.next(),
        Some("rm: /data/a.txt: EROFS (Read-only file system)")
    );
    assert_eq!(lines.collect::<Vec<_>>(), ["precious", "/dev/vblk0"]);
}

#[test]
fn cat_refuses_to_read_the_file_it_writes() {
    // `cat F >> F` would grow F until /tmp is full: refused, F kept.
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[])), "");
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    let shell = Shell::new(&platform, &mounted.vfs);
    shell.run_script(
        "t",
        "echo once > /tmp/f; cat /tmp/f >> /tmp/f; cat /etc/motd /tmp/f >> /tmp/f; cat /tmp/f",
    );
    assert_eq!(
        platform.take_output(),
        "cat: /tmp/f: input file is output file\n\
         cat: /tmp/f: input file is output file\n\
         once\nhello\n"
    );
}
