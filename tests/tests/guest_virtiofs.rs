//! virtio-fs under QEMU: a host directory served by QEMU's virtiofsd,
//! mounted in the guest, changed by the in-guest `virtiofs` suite, then
//! checked here.
//!
//! Each boot: a temporary directory with `share/host.bin` (seeded bytes
//! the guest checks against `selftest.share=SIZE:CRC`), virtiofsd on it
//! (`-o cache=none`; if it cannot start the test fails with the reason), a
//! small root image with `/mnt` and an `/etc/fstab` line
//! `share /mnt virtiofs rw 0 0`, and `test selftest.only=virtiofs`.
//! - microvm (`vhost-user-fs-device`): the share comes from `/etc/fstab`;
//!   the command line's table also names a tag no device has, which must
//!   give one error line naming it and leave the boot going.
//! - q35 (`vhost-user-fs-pci`): the share comes from the command line
//!   (`vfs.fstab=share:/mnt:virtiofs:rw`), so the `/etc/fstab` line is
//!   skipped as already mounted.
//!
//! - vanished daemon (microvm, legacy virtio-mmio, which virtiofsd refuses
//!   and exits on during device setup): the boot's mount of the share
//!   waits `virtiofs.timeout=2` seconds, fails with EIO, and the boot goes
//!   on; a later mount fails at once, and the VM powers off normally.
//!
//! - `root=virtiofs:share` (microvm, no disk, the default table): the
//!   share is `/`, `/dev` and `/tmp` are mounted on mount points made on
//!   it, and the suite runs on `/`.
//!
//! Each boot also has a second device (tag `data`, its own virtiofsd),
//! mounted read-only on `/mnt2` (but for the shared root), which must be
//! probed and stay unchanged; and q35 runs once more with virtiofsd
//! `cache=always`, so data goes through the guest's page cache.
//!
//! Afterwards the share must hold exactly `host.bin` (unchanged) and the
//! `guest/` tree the suite documents (`init::selftest::virtiofs`), with
//! the right bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use init::selftest::virtiofs::{DATA_LEN, TRUNC_LEN, pattern_byte};
use tests::guest_image;
use tests::guest_verity::fstab_root;
use tests::qemu::{self, Boot, Machine, Outcome, status};
use tests::virtiofsd::Virtiofsd;

const HOST_FILE_LEN: usize = 777_777;

const SUITE: [&str; 9] = [
    "virtiofs-host-file",
    "virtiofs-create-write-read",
    "virtiofs-rename",
    "virtiofs-unlink",
    "virtiofs-truncate",
    "virtiofs-mkdir-rmdir",
    "virtiofs-symlink",
    "virtiofs-stat",
    "virtiofs-readdir",
];

const BASE_TABLE: &str =
    "vfs.fstab=vblk0:/:rofs vfs.fstab=none:/dev:devfs vfs.fstab=none:/tmp:ramfs::size=16M";

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(pattern_byte).collect()
}

/// What a path in the share is, for the exact comparison.
#[derive(Debug, PartialEq, Eq)]
enum Node {
    File(Vec<u8>),
    Dir,
    Link(PathBuf),
}

fn tree(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read share dir") {
            let path = entry.expect("entry").path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let node = if meta.file_type().is_symlink() {
                Node::Link(fs::read_link(&path).expect("readlink"))
            } else if meta.is_dir() {
                pending.push(path.clone());
                Node::Dir
            } else {
                Node::File(fs::read(&path).expect("read"))
            };
            out.insert(rel, node);
        }
    }
    out
}

fn expected_tree(host: &[u8]) -> BTreeMap<String, Node> {
    let mut want = BTreeMap::new();
    want.insert("host.bin".into(), Node::File(host.to_vec()));
    want.insert("guest".into(), Node::Dir);
    want.insert("guest/data.bin".into(), Node::File(pattern(DATA_LEN)));
    want.insert("guest/b.txt".into(), Node::File(b"renamed\n".to_vec()));
    want.insert(
        "guest/trunc.bin".into(),
        Node::File(pattern(TRUNC_LEN as usize)),
    );
    want.insert("guest/d1".into(), Node::Dir);
    want.insert("guest/link".into(), Node::Link(PathBuf::from("data.bin")));
    want
}

fn describe_diff(got: &BTreeMap<String, Node>, want: &BTreeMap<String, Node>) -> String {
    let mut lines = Vec::new();
    for (path, node) in want {
        match got.get(path) {
            None => lines.push(format!("missing: {path}")),
            Some(g) if g != node => lines.push(format!("differs: {path}")),
            _ => {}
        }
    }
    for path in got.keys().filter(|p| !want.contains_key(*p)) {
        lines.push(format!("unexpected: {path}"));
    }
    lines.join("; ")
}

/// How the boot mounts the share.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mount {
    /// From the image's `/etc/fstab`, after a command-line entry with an unknown tag.
    EtcFstab,
    /// From `vfs.fstab=share:/mnt:virtiofs:rw`.
    Cmdline,
    /// `root=virtiofs:share` over the default table, no disk at all.
    Root,
}

/// The second share's one file: a second device, read-only, that must
/// stay as it was.
const DATA_FILE: &[u8] = b"second share, mounted read-only\n";

fn share_boot(machine: Machine, mount: Mount, cache: &str) {
    qemu::check_qemu().unwrap_or_else(|e| panic!("{e}"));
    let kernel = qemu::build_kernel().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let share = dir.path().join("share");
    fs::create_dir(&share).expect("mkdir share");
    let host = guest_image::content(0x05ee_d0f5, HOST_FILE_LEN);
    fs::write(share.join("host.bin"), &host).expect("write host.bin");
    let image = dir.path().join("root.img");
    let data = dir.path().join("data");
    fs::create_dir(&data).expect("mkdir data");
    fs::write(data.join("readme.txt"), DATA_FILE).expect("write readme.txt");
    fstab_root(
        &image,
        &["/mnt", "/mnt2"],
        "share /mnt virtiofs rw 0 0\ndata /mnt2 virtiofs ro 0 0\n",
    )
    .expect("root image");
    let disk = (mount != Mount::Root).then_some(image.as_path());

    let socket = dir.path().join("vfs.sock");
    let mut daemon = Virtiofsd::start_with_cache(&share, &socket, cache)
        .unwrap_or_else(|e| panic!("virtiofsd cannot start, so virtio-fs is untested: {e}"));
    let mut data_daemon = Virtiofsd::start(&data, &dir.path().join("data.sock"))
        .unwrap_or_else(|e| panic!("virtiofsd cannot start, so virtio-fs is untested: {e}"));

    let fstab = match mount {
        Mount::EtcFstab => format!("{BASE_TABLE} vfs.fstab=nosuch:/mnt:virtiofs"),
        Mount::Cmdline => {
            format!(
                "{BASE_TABLE} vfs.fstab=share:/mnt:virtiofs:rw vfs.fstab=data:/mnt2:virtiofs:ro"
            )
        }
        Mount::Root => "root=virtiofs:share".to_string(),
    };
    let cmdline = format!(
        "test selftest.only=virtiofs selftest.share={HOST_FILE_LEN}:{:08x} {fstab}",
        crc32fast::hash(&host)
    );
    let mut spec = Boot::new(
        &format!("virtiofs-{}", machine.name()),
        machine,
        &kernel,
        disk,
        &cmdline,
    );
    spec.shares = vec![
        ("share".to_string(), daemon.socket().to_path_buf()),
        ("data".to_string(), data_daemon.socket().to_path_buf()),
    ];
    spec.timeout = Duration::from_secs(300);
    let outcome: Outcome = qemu::boot(&spec).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    let context = format!(
        "{}: {}; virtiofsd said: {}",
        spec.name,
        outcome.describe(),
        daemon.output().trim()
    );
    let stopped = daemon.stop();
    let data_stopped = data_daemon.stop();

    assert!(!outcome.timed_out, "{context}");
    let failures: Vec<&str> = outcome
        .output
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert!(failures.is_empty(), "{context}: {failures:?}");
    for name in SUITE {
        assert!(
            outcome.output.lines().any(|l| l == format!("PASS {name}")),
            "{context}: no PASS {name}"
        );
    }
    assert_eq!(
        qemu::parse_summary(&outcome.output),
        Some((SUITE.len() as u32, 0)),
        "{context}"
    );
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
    match mount {
        Mount::EtcFstab => {
            let errors: Vec<&str> = outcome
                .output
                .lines()
                .filter(|l| l.contains("nosuch"))
                .filter(|l| l.contains("ERROR"))
                .collect();
            assert_eq!(errors.len(), 1, "{context}: {errors:?}");
            assert!(
                errors[0].contains("no device with tag 'nosuch' (devices: share, data)"),
                "{context}: {}",
                errors[0]
            );
            assert!(
                outcome
                    .output
                    .contains("mounted share on /mnt type virtiofs (rw) (from /etc/fstab)"),
                "{context}"
            );
        }
        Mount::Cmdline => assert!(
            outcome
                .output
                .contains("mounted share on /mnt type virtiofs (rw)\n"),
            "{context}"
        ),
        Mount::Root => {
            for line in [
                "mounted share on / type virtiofs (rw) in ",
                "made the mount point /dev on the shared root",
                "made the mount point /tmp on the shared root",
                "mounted none on /dev type devfs (rw)",
                "mounted none on /tmp type ramfs (rw,size=",
            ] {
                assert!(outcome.output.contains(line), "{context}: no {line:?}");
            }
        }
    }

    for tag in ["share", "data"] {
        let probed = format!("virtio-fs '{tag}' at ");
        assert!(outcome.output.contains(&probed), "{context}: no {probed:?}");
    }
    if mount != Mount::Root {
        let line = "mounted data on /mnt2 type virtiofs (ro)";
        assert!(outcome.output.contains(line), "{context}: no {line:?}");
    }
    let untouched = BTreeMap::from([("readme.txt".to_string(), Node::File(DATA_FILE.to_vec()))]);
    assert!(
        tree(&data) == untouched,
        "{context}: the read-only share changed"
    );
    assert!(
        data_stopped.is_some(),
        "{context}: the second virtiofsd kept running"
    );

    let got = tree(&share);
    let mut want = expected_tree(&host);
    if mount == Mount::Root {
        // The mount points the kernel made on the shared root.
        want.insert("dev".into(), Node::Dir);
        want.insert("tmp".into(), Node::Dir);
    }
    assert!(got == want, "{context}: {}", describe_diff(&got, &want));
    assert!(
        stopped.is_some(),
        "{context}: virtiofsd kept running after QEMU exited"
    );
}

#[test]
fn qemu_virtiofs_suite_on_microvm() {
    share_boot(Machine::Microvm, Mount::EtcFstab, "none");
}

#[test]
fn qemu_virtiofs_suite_on_q35() {
    share_boot(Machine::Q35, Mount::Cmdline, "none");
}

/// `cache=always`: no `DIRECT_IO`, day-long attribute times and
/// `FOPEN_KEEP_CACHE`, so file data goes through the guest's page cache;
/// the suite's read-backs and the host's check still agree.
#[test]
fn qemu_virtiofs_suite_through_the_page_cache_on_q35() {
    share_boot(Machine::Q35, Mount::Cmdline, "always");
}

#[test]
fn qemu_virtiofs_root_on_microvm() {
    share_boot(Machine::Microvm, Mount::Root, "none");
}

#[test]
fn qemu_virtiofs_vanished_daemon_gives_eio_not_a_hang() {
    qemu::check_qemu().unwrap_or_else(|e| panic!("{e}"));
    let kernel = qemu::build_kernel().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let share = dir.path().join("share");
    fs::create_dir(&share).expect("mkdir share");
    let image = dir.path().join("root.img");
    fstab_root(&image, &["/mnt"], "share /mnt virtiofs rw 0 0\n").expect("root image");
    let daemon = Virtiofsd::start(&share, &dir.path().join("vfs.sock"))
        .unwrap_or_else(|e| panic!("virtiofsd cannot start, so virtio-fs is untested: {e}"));
    let cmdline = "virtiofs.timeout=2 \
                   run=\"mount;mkdir /tmp/s;mount -t virtiofs share /tmp/s;uptime;echo run-done\"";
    let mut spec = Boot::new(
        "virtiofs-vanished",
        Machine::Microvm,
        &kernel,
        Some(&image),
        cmdline,
    );
    spec.shares = vec![("share".to_string(), daemon.socket().to_path_buf())];
    spec.legacy_mmio = true;
    spec.timeout = Duration::from_secs(120);
    let outcome = qemu::boot(&spec).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    let context = format!("{}: {}", spec.name, outcome.describe());
    assert!(!outcome.timed_out, "{context}: the guest hung");
    let out = &outcome.output;
    assert!(
        out.contains("cannot mount share on /mnt type virtiofs (rw) (from /etc/fstab): EIO"),
        "{context}"
    );
    assert!(
        out.contains("virtio-fs: no reply from the device"),
        "{context}"
    );
    assert!(out.contains("mount: /tmp/s: EIO"), "{context}");
    assert!(
        !out.lines().any(|l| l.starts_with("share on ")),
        "{context}: a mount of the share is listed"
    );
    assert!(out.contains("run-done"), "{context}");
    // The one wait was bounded by the 2 s timeout: the script ran by about
    // 2 s of guest time plus boot, far below two waits.
    let up = out
        .lines()
        .find_map(|l| {
            l.strip_prefix("up ")?
                .strip_suffix(" s")?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("{context}: no uptime line"));
    assert!((2.0..4.0).contains(&up), "{context}: uptime {up} s");
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
}

#[test]
fn qemu_a_shared_root_with_an_unknown_tag_fails_with_one_line() {
    qemu::check_qemu().unwrap_or_else(|e| panic!("{e}"));
    let kernel = qemu::build_kernel().unwrap_or_else(|e| panic!("{e}"));
    let spec = Boot::new(
        "virtiofs-no-root",
        Machine::Microvm,
        &kernel,
        None,
        "root=virtiofs:nosuch",
    );
    let outcome = qemu::boot(&spec).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    let context = format!("{}: {}", spec.name, outcome.describe());
    let fatal: Vec<&str> = outcome
        .output
        .lines()
        .filter(|l| l.starts_with("FATAL"))
        .collect();
    assert_eq!(
        fatal,
        [
            "FATAL: cannot mount root nosuch on / type virtiofs (rw): ENODEV (No such device): virtiofs: no device with tag 'nosuch' (devices: none)"
        ],
        "{context}"
    );
    assert_eq!(outcome.status, Some(status::ROOT_MOUNT_FAILED), "{context}");
}

/// virtiofsd killed in the middle of a `cp -r` on the share: the request
/// in flight waits `virtiofs.timeout=2` seconds, the copy stops at its
/// first error (EIO), later requests fail at once, and the VM goes on to
/// power off normally.
#[test]
fn qemu_virtiofs_daemon_killed_mid_copy_gives_eio_not_a_hang() {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    qemu::check_qemu().unwrap_or_else(|e| panic!("{e}"));
    let kernel = qemu::build_kernel().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let share = dir.path().join("share");
    fs::create_dir_all(share.join("src")).expect("mkdir share/src");
    // Many more files than the copy can make between the first one and the
    // kill.
    const FILES: usize = 20_000;
    for i in 0..FILES {
        fs::write(share.join(format!("src/f{i:05}")), format!("file {i}\n")).expect("write");
    }
    let image = dir.path().join("root.img");
    fstab_root(&image, &["/mnt"], "share /mnt virtiofs rw 0 0\n").expect("root image");
    let daemon = Virtiofsd::start(&share, &dir.path().join("vfs.sock"))
        .unwrap_or_else(|e| panic!("virtiofsd cannot start, so virtio-fs is untested: {e}"));
    let cmdline = "virtiofs.timeout=2 \
        run=\"cp -r /mnt/src /mnt/dst;ls /mnt;uptime;echo run-done\"";
    let mut spec = Boot::new(
        "virtiofs-killed",
        Machine::Microvm,
        &kernel,
        Some(&image),
        cmdline,
    );
    spec.shares = vec![("share".to_string(), daemon.socket().to_path_buf())];
    spec.timeout = Duration::from_secs(180);
    let daemon = Arc::new(Mutex::new(daemon));
    // Kill the daemon once the copy has made a file on the host.
    let killer = {
        let (daemon, dst) = (daemon.clone(), share.join("dst"));
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                if fs::read_dir(&dst).is_ok_and(|mut d| d.next().is_some()) {
                    daemon.lock().expect("daemon").kill();
                    return true;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            false
        })
    };
    let outcome = qemu::boot(&spec).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    let killed = killer.join().expect("killer thread");
    let context = format!("{}: {}", spec.name, outcome.describe());
    assert!(killed, "{context}: the copy never made a file");
    assert!(!outcome.timed_out, "{context}: the guest hung");
    let out = &outcome.output;
    assert!(
        out.contains("virtio-fs: no reply from the device"),
        "{context}"
    );
    let copy_errors: Vec<&str> = out.lines().filter(|l| l.starts_with("cp: ")).collect();
    assert_eq!(copy_errors.len(), 1, "{context}: {copy_errors:?}");
    assert!(
        copy_errors[0].ends_with("EIO (Input/output error)"),
        "{context}"
    );
    assert!(
        out.contains("ls: /mnt: EIO (Input/output error)"),
        "{context}"
    );
    assert!(out.contains("run-done"), "{context}");
    // The copy got only part of the way before the kill.
    let copied = fs::read_dir(share.join("dst"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(
        (1..FILES).contains(&copied),
        "{context}: {copied} files copied"
    );
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
}
