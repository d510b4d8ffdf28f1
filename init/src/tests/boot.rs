//! Mounting at boot and what each mode returns.

use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use super::platform::{Machine, TestPlatform, image};
use crate::{
    EXIT_NO_ROOT_DISK, EXIT_ROOT_MOUNT_FAILED, EXIT_SUCCESS, EXIT_TESTS_FAILED, mount_all, run,
};

const HEAP: u64 = 8 << 20;

fn mounts(vfs: &vfs::Vfs) -> Vec<(String, String, String)> {
    vfs.mounts()
        .into_iter()
        .map(|m| (m.target, m.fs_type, m.options))
        .collect()
}

fn entry(target: &str, fs_type: &str, options: &str) -> (String, String, String) {
    (target.into(), fs_type.into(), options.into())
}

#[test]
fn default_table_mounts_root_dev_and_a_tmp_of_half_the_heap() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[])), "");
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    let vfs = &mounted.vfs;
    assert_eq!(
        mounts(vfs),
        vec![
            entry("/", "rofs", ""),
            entry("/dev", "devfs", ""),
            entry("/tmp", "ramfs", "size=4194304"),
        ]
    );
    assert_eq!(vfs.read_file("/etc/motd").expect("motd"), b"hello\n");
    // devfs is the instance the kernel built: its vblk0 is the root disk.
    let disk = vfs.stat("/dev/vblk0").expect("vblk0");
    assert_eq!(disk.size, machine.disks[0].device.size_bytes());
    let tmp = vfs.statfs("/tmp").expect("statfs /tmp");
    assert_eq!(tmp.blocks * u64::from(tmp.block_size), HEAP / 2);
}

#[test]
fn command_line_table_replaces_the_default() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(
        Some(image(&[])),
        "vfs.fstab=vblk0:/:rofs fstab=none:/data:ramfs::size=1M",
    );
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    assert_eq!(
        mounts(&mounted.vfs),
        vec![entry("/", "rofs", ""), entry("/data", "ramfs", "size=1M")]
    );
    // Nothing on /dev or /tmp: the image's empty directories show.
    assert!(mounted.vfs.read_dir("/dev").expect("ls /dev").is_empty());
}

#[test]
fn a_failing_non_root_entry_is_not_fatal() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(
        Some(image(&[])),
        "vfs.fstab=vblk0:/:rofs;none:/missing:ramfs;none:/tmp:nosuchfs;none:/dev:devfs",
    );
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    assert_eq!(
        mounts(&mounted.vfs),
        vec![entry("/", "rofs", ""), entry("/dev", "devfs", "")]
    );
}

#[test]
fn etc_fstab_adds_mounts_and_skips_mounted_noauto_and_bad_lines() {
    let fstab: &[u8] = b"/dev/vblk0 / rofs ro 0 0\n\
        none /data ramfs rw,size=2M,nosuid 0 0\n\
        not a valid line at all here\n\
        none /links ramfs noauto 0 0\n";
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[("/etc/fstab", fstab)])), "");
    let mounted = mount_all(&platform, &machine.boot()).expect("mount");
    assert_eq!(
        mounts(&mounted.vfs),
        vec![
            entry("/", "rofs", ""),
            entry("/dev", "devfs", ""),
            entry("/tmp", "ramfs", "size=4194304"),
            entry("/data", "ramfs", "size=2M"),
        ]
    );
}

#[test]
fn no_disk_is_fatal_with_its_own_code() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(None, "test");
    let fatal = mount_all(&platform, &machine.boot())
        .err()
        .expect("no root disk");
    assert_eq!(fatal.code, EXIT_NO_ROOT_DISK);
    assert_eq!(
        fatal.message,
        "no root disk: /dev/vblk0 not found (disks found: none)"
    );
}

#[test]
fn a_disk_that_is_not_rofs_fails_the_root_mount() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(vec![0u8; 1 << 16]), "");
    let fatal = mount_all(&platform, &machine.boot())
        .err()
        .expect("zeros are no ROFS");
    assert_eq!(fatal.code, EXIT_ROOT_MOUNT_FAILED);
    assert!(
        fatal
            .message
            .starts_with("cannot mount root /dev/vblk0 on / type rofs (ro): EINVAL"),
        "{}",
        fatal.message
    );
}

#[test]
fn run_prints_one_fatal_line_and_returns_the_code() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(None, "run=/etc/demo.sh");
    assert_eq!(run(&platform, &machine.boot()), EXIT_NO_ROOT_DISK);
    assert_eq!(
        platform.take_output(),
        "FATAL: no root disk: /dev/vblk0 not found (disks found: none)\n"
    );
}

#[test]
fn run_script_and_inline_commands_exit_0() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[])), "run=/etc/demo.sh");
    assert_eq!(run(&platform, &machine.boot()), EXIT_SUCCESS);
    assert_eq!(platform.take_output(), "from the script\nhello\n");

    let machine = Machine::new(
        Some(image(&[])),
        r#"run="echo one > /tmp/x;cat /tmp/x;cat /nope""#,
    );
    assert_eq!(run(&platform, &machine.boot()), EXIT_SUCCESS);
    assert_eq!(
        platform.take_output(),
        "one\ncat: /nope: ENOENT (No such file or directory)\n"
    );

    let machine = Machine::new(Some(image(&[])), "run=/no/script");
    assert_eq!(run(&platform, &machine.boot()), EXIT_SUCCESS);
    assert_eq!(
        platform.take_output(),
        "run: /no/script: ENOENT (No such file or directory)\n"
    );
}

#[test]
fn interactive_shell_runs_typed_lines_until_poweroff() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[])), "");
    // A typo erased with backspace, a line abandoned with Ctrl-C.
    platform.type_in("cd /etc\recho hi\x7f\x7fok\rcat motd\rjunk\x03poweroff\recho never\r");
    assert_eq!(run(&platform, &machine.boot()), EXIT_SUCCESS);
    let out = platform.take_output();
    assert!(out.starts_with("Type `help`"), "{out}");
    assert!(out.contains("/# cd /etc\n/etc# "), "{out}");
    assert!(out.contains("\nok\n"), "{out}");
    assert!(out.contains("\nhello\n"), "{out}");
    assert!(out.contains("junk^C\n"), "{out}");
    assert!(!out.contains("never\n"), "{out}");
}

#[test]
fn interactive_shell_ends_on_ctrl_d() {
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[])), "");
    platform.type_in("echo once\r");
    // The platform delivers Ctrl-D after the script.
    assert_eq!(run(&platform, &machine.boot()), EXIT_SUCCESS);
    assert!(platform.take_output().ends_with("once\n/# \n"));
}

#[test]
fn test_mode_fails_on_an_image_without_host_facts() {
    // No /crc32.list or /selftest.expect: the tests that need them fail, the
    // others run, and the exit code says so.
    let platform = TestPlatform::new(HEAP);
    let machine = Machine::new(Some(image(&[])), "test");
    assert_eq!(run(&platform, &machine.boot()), EXIT_TESTS_FAILED);
    let out = platform.take_output();
    assert!(
        out.contains("FAIL rofs-crc32-all-files: read /crc32.list: unexpected ENOENT"),
        "{out}"
    );
    assert!(out.contains("PASS ramfs-create-write-read"), "{out}");
    assert!(out.contains("PASS dev-null"), "{out}");
    let summary: Vec<&str> = out.lines().filter(|l| l.ends_with(" failed")).collect();
    assert_eq!(summary.len(), 1, "{out}");
    let passes = out.lines().filter(|l| l.starts_with("PASS ")).count();
    let fails = out.lines().filter(|l| l.starts_with("FAIL ")).count();
    assert_eq!(summary[0], format!("{passes} passed, {fails} failed"));
}
