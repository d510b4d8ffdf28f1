//! Verified mounts at boot: `rofs.roothash=`, `roothash=` in both mount
//! tables, each refusal's exit code and line, tampered blocks giving EIO,
//! and the log line for a tree nobody asked to check.

use std::cell::RefCell;
use std::format;
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec;
use std::vec::Vec;

use drivers::verity::{Digest, Hex, TreeBuilder};
use drivers::{BlockDevice, RamDisk};
use vfs::Errno;

use super::platform::{Machine, TestPlatform, image};
use crate::cmdline;
use crate::{Disk, EXIT_ROOT_VERIFY_FAILED, EXIT_SUCCESS, mount_all, run};

const HEAP: u64 = 8 << 20;

/// `bytes` padded to 4096 with a dm-verity tree appended, and its root hash.
pub(super) fn with_tree(mut bytes: Vec<u8>) -> (Vec<u8>, Digest) {
    bytes.resize(bytes.len().next_multiple_of(4096), 0);
    let mut builder = TreeBuilder::new(b"init test salt").expect("builder");
    builder.update(&bytes).expect("hash");
    let tree = builder.finish().expect("tree");
    tree.write_appendix(&mut |part: &[u8]| -> Result<(), ()> {
        bytes.extend_from_slice(part);
        Ok(())
    })
    .expect("appendix");
    (bytes, tree.root_hash())
}

pub(super) fn hex(root: &Digest) -> String {
    Hex(root).to_string()
}

/// Flip a byte of the 4096-byte block holding the first copy of `needle`.
pub(super) fn tamper(bytes: &mut [u8], needle: &[u8]) {
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in the image");
    bytes[at] ^= 0x20;
}

pub(super) fn machine(disks: Vec<Vec<u8>>, cmdline: &str) -> Machine {
    let disks = disks
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let device: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, bytes));
            Disk {
                name: format!("vblk{i}"),
                device,
            }
        })
        .collect();
    Machine::with_disks(disks, cmdline)
}

fn mounts(vfs: &vfs::Vfs) -> Vec<(String, String)> {
    vfs.mounts()
        .into_iter()
        .map(|m| (m.target, m.options))
        .collect()
}

#[test]
fn the_short_alias_verifies_the_default_root() {
    let (disk, root) = with_tree(image(&[]));
    let platform = TestPlatform::new(HEAP);
    let m = machine(vec![disk], &format!("rofs.roothash={}", hex(&root)));
    let mounted = mount_all(&platform, &m.boot()).expect("verified mount");
    assert_eq!(
        mounted.vfs.read_file("/etc/motd").expect("motd"),
        b"hello\n"
    );
    // The type saw no roothash= (ROFS refuses options it does not know).
    assert_eq!(mounts(&mounted.vfs)[0], ("/".to_string(), String::new()));
}

#[test]
fn the_fstab_option_verifies_and_other_options_still_reach_the_type() {
    let (disk, root) = with_tree(image(&[]));
    let platform = TestPlatform::new(HEAP);
    let m = machine(
        vec![disk],
        &format!("vfs.fstab=vblk0:/:rofs::verify,roothash={}", hex(&root)),
    );
    let mounted = mount_all(&platform, &m.boot()).expect("verified mount");
    assert_eq!(
        mounts(&mounted.vfs),
        [("/".to_string(), "verify".to_string())]
    );
    assert_eq!(
        mounted.vfs.read_file("/data/a.txt").expect("a.txt"),
        b"0123456789abcdefghij"
    );
}

#[test]
fn a_wrong_root_hash_refuses_the_root_with_its_own_code() {
    let (disk, mut root) = with_tree(image(&[]));
    root[5] ^= 1;
    let platform = TestPlatform::new(HEAP);
    let m = machine(vec![disk], &format!("rofs.roothash={} test", hex(&root)));
    assert_eq!(run(&platform, &m.boot()), EXIT_ROOT_VERIFY_FAILED);
    let out = platform.take_output();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(&format!(
            "FATAL: root verification failed: /dev/vblk0: root hash mismatch: expected {}, the image's tree has ",
            hex(&root)
        )),
        "{out}"
    );
    assert!(!out.contains("PASS"), "{out}");
}

#[test]
fn a_root_hash_for_an_image_without_a_tree_is_refused() {
    let platform = TestPlatform::new(HEAP);
    let m = machine(
        vec![image(&[])],
        &format!("vfs.fstab=vblk0:/:rofs::roothash={}", "ab".repeat(32)),
    );
    let fatal = mount_all(&platform, &m.boot()).err().expect("refused");
    assert_eq!(fatal.code, EXIT_ROOT_VERIFY_FAILED);
    assert_eq!(
        fatal.message,
        "root verification failed: /dev/vblk0: no dm-verity tree (no locator in the last 4096-byte block)"
    );
}

#[test]
fn metadata_that_disagrees_with_the_tree_refuses_the_root() {
    // The ROFS superblock is block 0: tampered after the tree was built,
    // the tree opens but the first read of the mount fails verification.
    let (mut disk, root) = with_tree(image(&[]));
    disk[8] ^= 1;
    let platform = TestPlatform::new(HEAP);
    let m = machine(vec![disk], &format!("rofs.roothash={}", hex(&root)));
    let fatal = mount_all(&platform, &m.boot()).err().expect("refused");
    assert_eq!(fatal.code, EXIT_ROOT_VERIFY_FAILED);
    assert!(
        fatal.message.starts_with(
            "root verification failed: /dev/vblk0: the data disagrees with the hash tree"
        ),
        "{}",
        fatal.message
    );
    assert!(fatal.message.ends_with("(EIO)"), "{}", fatal.message);
}

#[test]
fn a_damaged_tree_refuses_the_root() {
    // The tree's level 0 sits between the superblock block and the locator;
    // with one level, it is also the top block, whose hash is the root.
    let (mut disk, root) = with_tree(image(&[]));
    let len = disk.len();
    disk[len - 2 * 4096] ^= 1;
    let platform = TestPlatform::new(HEAP);
    let m = machine(vec![disk], &format!("rofs.roothash={}", hex(&root)));
    let fatal = mount_all(&platform, &m.boot()).err().expect("refused");
    assert_eq!(fatal.code, EXIT_ROOT_VERIFY_FAILED);
    assert!(
        fatal.message.contains("root hash mismatch"),
        "{}",
        fatal.message
    );
}

#[test]
fn a_tampered_file_block_gives_eio_and_the_rest_reads() {
    let (mut disk, root) = with_tree(image(&[]));
    tamper(&mut disk, b"0123456789abcdefghij");
    let platform = TestPlatform::new(HEAP);
    let m = machine(
        vec![disk],
        &format!(
            r#"rofs.roothash={} run="cat /data/a.txt;cat /etc/motd;ls /data""#,
            hex(&root)
        ),
    );
    assert_eq!(run(&platform, &m.boot()), EXIT_SUCCESS);
    let out = platform.take_output();
    assert_eq!(
        out,
        "cat: /data/a.txt: EIO (Input/output error)\nhello\na.txt\nb.txt\n"
    );

    // Unverified, the same disk hands out the tampered bytes.
    let mut disk = with_tree(image(&[])).0;
    tamper(&mut disk, b"0123456789abcdefghij");
    let m = machine(vec![disk], "");
    let mounted = mount_all(&platform, &m.boot()).expect("unverified mount");
    assert_eq!(
        mounted.vfs.read_file("/data/a.txt").expect("read"),
        b"\x10123456789abcdefghij"
    );
}

#[test]
fn a_tree_mounted_unverified_is_logged_once() {
    let (disk, root) = with_tree(image(&[]));
    let platform = TestPlatform::new(HEAP);
    let m = machine(vec![disk], "");
    let lines = capture_log(|| {
        mount_all(&platform, &m.boot()).expect("unverified mount");
    });
    let notes: Vec<&String> = lines.iter().filter(|l| l.contains("dm-verity")).collect();
    assert_eq!(
        notes,
        [&format!(
            "WARN vblk0: image carries a dm-verity tree (root hash {}); mounted unverified",
            hex(&root)
        )]
    );
    // No tree, no line.
    let m = machine(vec![image(&[])], "");
    let lines = capture_log(|| {
        mount_all(&platform, &m.boot()).expect("plain mount");
    });
    assert!(!lines.iter().any(|l| l.contains("dm-verity")), "{lines:?}");
}

#[test]
fn etc_fstab_verifies_other_disks_and_skips_the_ones_that_fail() {
    let (good, good_root) = with_tree(image(&[("/etc/motd2", b"second disk\n")]));
    let (bad, mut bad_root) = with_tree(image(&[]));
    bad_root[0] ^= 0xff;
    let fstab = format!(
        "/dev/vblk1 /data rofs ro,roothash={} 0 0\n\
         /dev/vblk2 /links rofs ro,roothash={} 0 0\n\
         /dev/vblk1 /tmp rofs ro,roothash=nothex 0 0\n\
         none /dev ramfs rw,roothash={} 0 0\n",
        hex(&good_root),
        hex(&bad_root),
        hex(&good_root)
    );
    let root = image(&[("/etc/fstab", fstab.as_bytes())]);
    let platform = TestPlatform::new(HEAP);
    let m = machine(vec![root, good, bad], "vfs.fstab=vblk0:/:rofs");
    let mut mounted = None;
    let lines = capture_log(|| mounted = Some(mount_all(&platform, &m.boot()).expect("mount")));
    let vfs = mounted.expect("mounted").vfs;
    assert_eq!(
        mounts(&vfs),
        [
            ("/".to_string(), String::new()),
            ("/data".to_string(), String::new())
        ]
    );
    assert_eq!(
        vfs.read_file("/data/etc/motd2").expect("read"),
        b"second disk\n"
    );
    let errors: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("ERROR") || l.starts_with("WARN"))
        .collect();
    assert_eq!(errors.len(), 3, "{lines:?}");
    assert!(
        errors[0].starts_with("WARN /etc/fstab:3: roothash=`nothex`: a root hash is 64 hex digits"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("WARN /etc/fstab:4: roothash= needs a device source"),
        "{errors:?}"
    );
    assert!(
        errors[2].starts_with("ERROR cannot mount /dev/vblk2 on /links type rofs")
            && errors[2].contains(": verification failed: root hash mismatch: expected"),
        "{errors:?}"
    );
}

#[test]
fn command_line_entries_for_other_disks_are_verified_or_skipped() {
    let (good, good_root) = with_tree(image(&[("/etc/motd2", b"second disk\n")]));
    let (bad, mut bad_root) = with_tree(image(&[]));
    bad_root[31] ^= 1;
    let platform = TestPlatform::new(HEAP);
    let m = machine(
        vec![image(&[]), good, bad],
        &format!(
            "vfs.fstab=vblk0:/:rofs;vblk1:/data:rofs::roothash={};vblk2:/links:rofs::roothash={}",
            hex(&good_root),
            hex(&bad_root)
        ),
    );
    let mut mounted = None;
    let lines = capture_log(|| mounted = Some(mount_all(&platform, &m.boot()).expect("mount")));
    let vfs = mounted.expect("mounted").vfs;
    let targets: Vec<String> = mounts(&vfs).into_iter().map(|(t, _)| t).collect();
    assert_eq!(targets, ["/", "/data"]);
    assert_eq!(
        vfs.read_file("/data/etc/motd2").expect("read"),
        b"second disk\n"
    );
    let refused: Vec<&String> = lines.iter().filter(|l| l.starts_with("ERROR")).collect();
    assert_eq!(refused.len(), 1, "{lines:?}");
    assert!(
        refused[0].starts_with("ERROR cannot mount /dev/vblk2 on /links type rofs (ro,roothash=")
            && refused[0].contains("verification failed: root hash mismatch"),
        "{refused:?}"
    );
}

#[test]
fn command_line_errors_name_the_word() {
    let err = cmdline::parse("rofs.roothash=xyz").unwrap_err();
    assert_eq!(
        err,
        "rofs.roothash=`xyz`: a root hash is 64 hex digits (a SHA-256 digest)"
    );
    let err = cmdline::parse("vfs.fstab=vblk0:/:rofs::roothash=12").unwrap_err();
    assert!(
        err.starts_with("`vblk0:/:rofs::roothash=12`: roothash=`12`: a root hash is 64"),
        "{err}"
    );
    let (a, b) = ("aa".repeat(32), "bb".repeat(32));
    let err = cmdline::parse(&format!("vfs.fstab=none:/:ramfs::roothash={a}")).unwrap_err();
    assert!(err.contains("roothash= needs a device source"), "{err}");
    let err = cmdline::parse(&format!(
        "rofs.roothash={a} vfs.fstab=vblk0:/:rofs::roothash={b}"
    ))
    .unwrap_err();
    assert_eq!(
        err,
        "rofs.roothash= disagrees with the root entry's roothash= option"
    );
    let err = cmdline::parse(&format!("rofs.roothash={a} vfs.fstab=none:/:ramfs")).unwrap_err();
    assert!(err.contains("has no device to verify"), "{err}");
    assert!(cmdline::parse(&format!("rofs.roothash={a} rofs.roothash={a}")).is_err());
    // Agreeing forms merge into the table's root entry, once.
    let config = cmdline::parse(&format!(
        "vfs.fstab=vblk0:/:rofs::roothash={a} rofs.roothash={}",
        a.to_uppercase()
    ))
    .expect("agree");
    let table = config.fstab.expect("table");
    assert_eq!(table[0].options, format!("roothash={a}"));
    let config =
        cmdline::parse(&format!("rofs.roothash={b} vfs.fstab=vblk0:/:rofs::verify")).expect("ok");
    assert_eq!(
        config.fstab.expect("table")[0].options,
        format!("verify,roothash={b}")
    );
}

#[test]
fn the_verifying_device_refuses_a_disk_whose_blocks_do_not_divide_4096() {
    // Not reachable with virtio disks (512-byte sectors), but a disk of odd
    // blocks must be refused with the reason, not mounted or panicked on.
    let (disk, root) = with_tree(image(&[]));
    let device: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(3000, disk));
    let err = crate::verity::prepare("vblk0", device, Some(root))
        .err()
        .expect("refused");
    assert_eq!(
        err.to_string(),
        "device block size 3000 does not divide 4096"
    );
    assert_eq!(Errno::from(drivers::BlockError::Corrupt), Errno::EIO);
}

// --- Capturing log lines (per thread, as the tests run in parallel). ---

std::thread_local! {
    static CAPTURE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        CAPTURE.with(|c| {
            if let Some(lines) = c.borrow_mut().as_mut() {
                lines.push(format!("{} {}", record.level(), record.args()));
            }
        });
    }
    fn flush(&self) {}
}

static LOGGER: CaptureLogger = CaptureLogger;

/// The log lines `f` emits on this thread.
fn capture_log(f: impl FnOnce()) -> Vec<String> {
    // Another test may have installed it already: either way it is ours.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    f();
    CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default()
}
