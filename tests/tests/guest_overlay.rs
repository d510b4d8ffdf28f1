//! A writable root and overlaid directories, on the host and under QEMU.
//!
//! 1. `host_*`: init's suites on a `root=overlay` boot made by the kernel's
//!    own mount code over the generated image (the overlay suite runs,
//!    `err-erofs` moves to a view of the lower layer), also over the image
//!    with a dm-verity tree; and with an upper layer too big for the
//!    ENOSPC case, which must then fail.
//! 2. `qemu_*`: `root=overlay test` on microvm and q35 (every test passes,
//!    the same tests as on the host, status 1); a directory overlaid from
//!    the command line and from `/etc/fstab` (writes land, `/` stays
//!    read-only, `mount` and `df` show the stack); an overlay root over a
//!    verified disk (`rofs.roothash=`); bad `root=` words exit with the
//!    bad-command-line status.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use drivers::{BlockDevice, FileDisk};
use init::selftest::{self, CONSOLE_MARKER};
use tests::guest_image::{self, GuestImage, ImageSpec};
use tests::guest_verity;
use tests::host_platform::HostPlatform;
use tests::qemu::{self, Boot, Machine, Outcome, status};

/// As a 64 MiB guest: `/tmp` and the root's upper layer get 31 MiB each.
const SUITE_HEAP: u64 = 62 << 20;

#[derive(Default)]
struct CapturedConsole(Mutex<Vec<u8>>);

impl fs_devfs::Console for CapturedConsole {
    fn write(&self, data: &[u8]) {
        self.0.lock().expect("console").extend_from_slice(data);
    }
    fn read(&self, _buf: &mut [u8]) -> usize {
        0
    }
}

/// The suites on the host over `image` as vblk0, mounted by init as the
/// kernel does for `cmdline`: ((passed, failed), the suite's lines).
fn host_suite(image: &Path, cmdline: &str) -> ((u32, u32), String) {
    let disk: Arc<dyn BlockDevice> = Arc::new(FileDisk::open(image, 512).expect("open image"));
    let devfs = fs_devfs::DevFs::new(0x1234_5678);
    devfs
        .add_block_device("vblk0", disk.clone())
        .expect("vblk0");
    devfs.set_console(Arc::new(CapturedConsole::default()));
    let disks = [init::Disk {
        name: "vblk0".to_string(),
        device: disk,
    }];
    let config = init::cmdline::parse(cmdline).expect("command line");
    let platform = HostPlatform::new(SUITE_HEAP);
    let boot = init::Boot {
        cmdline,
        config: &config,
        disks: &disks,
        devfs: &devfs,
        probe_ns: 0,
    };
    let mounted = init::mount_all(&platform, &boot)
        .unwrap_or_else(|f| panic!("mount (exit code {}): {}", f.code, f.message));
    let result = selftest::run(&selftest::Env {
        platform: &platform,
        vfs: &mounted.vfs,
        cmdline,
    });
    (result, platform.take_output())
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest-images")
}

fn full_image() -> &'static GuestImage {
    static IMAGE: OnceLock<GuestImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        guest_image::build_cached(&ImageSpec::full(), &cache_dir()).expect("build the test image")
    })
}

fn overlay_cmdline(image: &GuestImage) -> String {
    format!("root=overlay test {}", image.selftest_cmdline_word())
}

/// The first word after PASS/FAIL of every suite line.
fn test_names(lines: &str) -> Vec<String> {
    lines
        .lines()
        .filter_map(|l| l.strip_prefix("PASS ").or_else(|| l.strip_prefix("FAIL ")))
        .map(|rest| {
            let end = rest.find([' ', ':']).unwrap_or(rest.len());
            rest[..end].to_string()
        })
        .collect()
}

/// The names of the tests a `root=overlay` boot runs, from a host run.
fn overlay_test_names() -> &'static Vec<String> {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let image = full_image();
        let ((passed, failed), lines) = host_suite(&image.path, &overlay_cmdline(image));
        let names = test_names(&lines);
        assert_eq!(names.len() as u32, passed + failed, "{lines}");
        names
    })
}

const OVERLAY_TESTS: [&str; 7] = [
    "overlay-stack",
    "overlay-etc-writes",
    "overlay-deletes",
    "overlay-dir-recreated",
    "overlay-renames",
    "overlay-copyup-enospc",
    "overlay-walk",
];

const EROFS_NOTE: &str = "PASS err-erofs (on a read-only view of @root.lower: / is an overlay)";

fn failures(lines: &str) -> String {
    lines
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn host_overlay_root_passes_every_suite() {
    let image = full_image();
    let ((passed, failed), lines) = host_suite(&image.path, &overlay_cmdline(image));
    assert_eq!(failed, 0, "failures:\n{}", failures(&lines));
    assert_eq!(qemu::parse_summary(&lines), Some((passed, failed)));
    let names = test_names(&lines);
    for name in OVERLAY_TESTS {
        assert_eq!(
            names.iter().filter(|n| *n == name).count(),
            1,
            "{name}:\n{lines}"
        );
    }
    assert!(lines.lines().any(|l| l == EROFS_NOTE), "{lines}");
    // The rest of the suites are the ones a read-only root runs.
    let ((plain, _), plain_lines) = host_suite(
        &image.path,
        &format!("test {}", image.selftest_cmdline_word()),
    );
    assert_eq!(plain as usize + OVERLAY_TESTS.len(), passed as usize);
    assert!(plain_lines.contains("\nPASS err-erofs\n"), "{plain_lines}");
    assert!(!plain_lines.contains("overlay-"), "{plain_lines}");
}

#[test]
fn host_overlay_root_over_a_verified_disk() {
    let verified =
        guest_verity::verified_cached(full_image(), &cache_dir()).expect("tree over the image");
    let cmdline = format!(
        "root=overlay rofs.roothash={} test {}",
        verified.root_hex(),
        verified.image.selftest_cmdline_word()
    );
    let ((_, failed), lines) = host_suite(&verified.image.path, &cmdline);
    assert_eq!(failed, 0, "failures:\n{}", failures(&lines));
    assert_eq!(&test_names(&lines), overlay_test_names());
}

#[test]
fn host_copyup_enospc_fails_when_everything_fits() {
    // An upper layer larger than any image file: the ENOSPC case cannot be
    // made, and the test says so instead of passing.
    let image = full_image();
    let cmdline = format!(
        "root=overlay root.size=200M test {}",
        image.selftest_cmdline_word()
    );
    let ((_, failed), lines) = host_suite(&image.path, &cmdline);
    assert_eq!(failed, 1, "{lines}");
    assert!(
        lines.contains(
            "FAIL overlay-copyup-enospc: no image file is larger than the upper layer's free space"
        ),
        "{lines}"
    );
}

// --- Under QEMU. ---

fn kernel() -> PathBuf {
    qemu::check_qemu().unwrap_or_else(|e| panic!("{e}"));
    qemu::build_kernel().unwrap_or_else(|e| panic!("{e}"))
}

fn boot(spec: &Boot) -> Outcome {
    let outcome = qemu::boot(spec).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    println!("[{}] {}", spec.name, outcome.describe());
    outcome
}

fn overlay_boot(machine: Machine) {
    let kernel = kernel();
    let image = full_image();
    let expected = overlay_test_names();
    let mut spec = Boot::new(
        &format!("overlay-{}", machine.name()),
        machine,
        &kernel,
        Some(&image.path),
        &overlay_cmdline(image),
    );
    spec.timeout = Duration::from_secs(400);
    let outcome = boot(&spec);
    let context = format!("{}: {}", spec.name, outcome.describe());
    assert!(!outcome.timed_out, "{context}: timed out");
    assert_eq!(failures(&outcome.output), "", "{context}: failing tests");
    let (passed, failed) = qemu::parse_summary(&outcome.output)
        .unwrap_or_else(|| panic!("{context}: no single 'N passed, N failed' line"));
    assert_eq!(failed, 0, "{context}");
    assert_eq!(
        &test_names(&outcome.output),
        expected,
        "{context}: other tests than on the host"
    );
    assert_eq!(passed as usize, expected.len(), "{context}");
    assert!(outcome.output.lines().any(|l| l == EROFS_NOTE), "{context}");
    assert!(outcome.output.contains(CONSOLE_MARKER), "{context}");
    assert!(
        outcome.output.contains(
            "mounted none on / type overlay (rw,lowerdir=@root.lower,upperdir=@root.upper)"
        ),
        "{context}"
    );
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
}

#[test]
fn qemu_overlay_root_suites_pass_on_microvm() {
    overlay_boot(Machine::Microvm);
}

#[test]
fn qemu_overlay_root_suites_pass_on_q35() {
    overlay_boot(Machine::Q35);
}

/// Shell commands for a boot with `/etc` overlaid: change it (`victim` is
/// an image file under /etc to delete), then show the result and the mount
/// table.
fn etc_script(victim: &str) -> String {
    format!(
        "echo new file > /etc/new;echo more >> /etc/motd;rm /etc/{victim};\
         cat /etc/new;cat /etc/motd;ls /etc;ls /etc/{victim};echo x > /x;mount;df;echo run-done"
    )
}

/// What an `/etc` overlay boot must print: `motd` is the root image's.
fn check_etc_boot(name: &str, outcome: &Outcome, motd: &str, victim: &str) {
    let context = format!("{name}: {}\n{}", outcome.describe(), outcome.output);
    let lines: Vec<&str> = outcome.output.lines().collect();
    let gone = format!("ls: /etc/{victim}: ENOENT (No such file or directory)");
    for want in [
        "new file",
        &format!("{motd}more")[..],
        &gone,
        "echo: /x: EROFS (Read-only file system)",
        "none on @etc.upper type ramfs (rw,size=1M)",
        "run-done",
    ] {
        assert!(
            outcome.output.contains(want),
            "{name}: no {want:?} in the output\n{context}"
        );
    }
    assert!(
        lines.contains(&"new"),
        "ls /etc lists the new file\n{context}"
    );
    assert!(
        !lines.contains(&victim),
        "ls /etc lists the deleted file\n{context}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l
                .starts_with("none on /etc type overlay (rw,lowerdir=/etc,upperdir=@etc.upper")),
        "{context}"
    );
    let df_etc = lines
        .iter()
        .find(|l| l.starts_with("none ") && l.contains(" overlay ") && l.ends_with(" /etc"))
        .unwrap_or_else(|| panic!("no df row for /etc\n{context}"));
    assert!(df_etc.contains(" 1024K "), "{context}");
    assert!(!outcome.output.contains("PANIC"), "{context}");
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
}

#[test]
fn qemu_etc_overlaid_from_the_command_line() {
    let kernel = kernel();
    let image = guest_image::build_cached(&ImageSpec::small(), &cache_dir()).expect("image");
    let cmdline = format!(
        "vfs.fstab=vblk0:/:rofs;none:/dev:devfs;none:/tmp:ramfs::size=4M \
         vfs.fstab=none:@etc.upper:ramfs::size=1M \
         vfs.fstab=none:/etc:overlay::lowerdir=/etc,upperdir=@etc.upper \
         run=\"{}\"",
        etc_script("hosts")
    );
    let outcome = boot(&Boot::new(
        "etc-cmdline",
        Machine::Microvm,
        &kernel,
        Some(&image.path),
        &cmdline,
    ));
    check_etc_boot(
        "etc-cmdline",
        &outcome,
        "welcome to the test image\n",
        "hosts",
    );
}

#[test]
fn qemu_etc_overlaid_from_etc_fstab() {
    let kernel = kernel();
    let fstab = "none @etc.upper ramfs rw,size=1M 0 0\n\
                 none /etc overlay lowerdir=/etc,upperdir=@etc.upper,workdir=/tmp 0 0\n";
    let root = cache_dir().join(format!("etc-fstab-{}.img", std::process::id()));
    std::fs::create_dir_all(cache_dir()).expect("cache dir");
    guest_verity::fstab_root(&root, &[], fstab).expect("root image");
    let outcome = boot(&Boot::new(
        "etc-fstab",
        Machine::Q35,
        &kernel,
        Some(&root),
        &format!("run=\"{}\"", etc_script("fstab")),
    ));
    let _ = std::fs::remove_file(&root);
    check_etc_boot("etc-fstab", &outcome, "fstab root\n", "fstab");
    assert!(
        outcome
            .output
            .contains("mounted none on /etc type overlay (rw,lowerdir=/etc,upperdir=@etc.upper,workdir=/tmp) (from /etc/fstab)"),
        "{}",
        outcome.output
    );
}

#[test]
fn qemu_bad_root_words_exit_with_the_command_line_status() {
    let kernel = kernel();
    let image = guest_image::build_cached(&ImageSpec::small(), &cache_dir()).expect("image");
    for (word, text) in [
        (
            "root=ramfs",
            "root=`ramfs`: the root kinds are root=overlay and root=virtiofs:TAG",
        ),
        (
            "root=overlay root.size=lots",
            "root.size=`lots`: not a size",
        ),
        ("root.size=8M", "root.size= needs root=overlay"),
    ] {
        let outcome = boot(&Boot::new(
            "bad-root",
            Machine::Microvm,
            &kernel,
            Some(&image.path),
            &format!("{word} test"),
        ));
        let context = format!("{word}: {}\n{}", outcome.describe(), outcome.output);
        assert_eq!(outcome.status, Some(status::BAD_CMDLINE), "{context}");
        let fatal: Vec<&str> = outcome
            .output
            .lines()
            .filter(|l| l.starts_with("FATAL: "))
            .collect();
        assert_eq!(fatal.len(), 1, "{context}");
        assert!(
            fatal[0].contains("bad kernel command line") && fatal[0].contains(text),
            "{context}"
        );
        assert!(!outcome.output.contains("PASS "), "{context}");
    }
}

#[test]
fn qemu_overlay_root_over_a_verified_disk() {
    let kernel = kernel();
    let small = guest_image::build_cached(&ImageSpec::small(), &cache_dir()).expect("image");
    let verified = guest_verity::verified_cached(&small, &cache_dir()).expect("tree");
    let cmdline = format!(
        "root=overlay rofs.roothash={} run=\"echo changed > /hello.txt;cat /hello.txt;cat /etc/motd;mount\"",
        verified.root_hex()
    );
    let outcome = boot(&Boot::new(
        "overlay-verified",
        Machine::Microvm,
        &kernel,
        Some(&verified.image.path),
        &cmdline,
    ));
    let context = format!("{}\n{}", outcome.describe(), outcome.output);
    let lines: Vec<&str> = outcome.output.lines().collect();
    for want in [
        "changed",
        "welcome to the test image",
        "/dev/vblk0 on @root.lower type rofs (ro)",
        "none on / type overlay (rw,lowerdir=@root.lower,upperdir=@root.upper)",
    ] {
        assert!(lines.contains(&want), "no line {want:?}: {context}");
    }
    assert!(outcome.output.contains("vblk0: verifying"), "{context}");
    assert!(!outcome.output.contains("unverified"), "{context}");
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
}
