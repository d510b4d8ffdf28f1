//! The in-guest suites, on the host and under QEMU.
//!
//! 1. `host_*`: the very suite the kernel runs (`init::selftest`) against the
//!    same VFS stack on the host, mounted by the kernel's own code
//!    (`init::mount_all` with init's default table): ROFS from the generated
//!    image as vblk0 on /, devfs on /dev, ramfs on /tmp. Fast, and it shows
//!    the suite fails when the image is damaged.
//! 2. `qemu_*`: boot the kernel with `test` on q35 and microvm and check
//!    every line, the summary and the exit status; then the failure paths: a
//!    corrupt image, a disk that is not ROFS, no disk, and a `run=` command.
//! 3. Verified roots: the image with a dm-verity tree booted with
//!    `rofs.roothash=` (every suite passes), a wrong hash, no tree and a
//!    malformed hash (each refused with its exit code), a tampered block
//!    (EIO for that file only), and `/etc/fstab` verifying further disks.
//!    Accelerators: `-accel kvm -accel tcg`, but TCG alone where /dev/kvm is
//!    the slow `kvm_pvm` (see `tests::qemu::default_accel`; override with
//!    `GUEST_ACCEL=tcg` or `GUEST_ACCEL=kvm,tcg`).
//!
//! One generated image (cached under the target dir) serves every boot.
//! QEMU must be installed (tests/setup.sh); without it these tests fail.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use drivers::{BlockDevice, FileDisk};
use init::selftest::{self, CONSOLE_MARKER};
use tests::guest_image::{self, GuestImage, ImageSpec};
use tests::guest_verity::{self, VerifiedImage};
use tests::host_platform::HostPlatform;
use tests::qemu::{self, Boot, Machine, Outcome, status};

// --- The kernel's suite and benchmark, run on the host. ---

/// devfs console that collects what is written.
#[derive(Default)]
struct CapturedConsole(Mutex<Vec<u8>>);

impl fs_devfs::Console for CapturedConsole {
    fn write(&self, data: &[u8]) {
        self.0.lock().expect("console lock").extend_from_slice(data);
    }
    fn read(&self, _buf: &mut [u8]) -> usize {
        0
    }
}

/// Boot as the kernel does, up to the mounts: `image` as vblk0, devfs with
/// it and a captured console, `cmdline` parsed by init, and init's mount
/// code with its default table (`/tmp` gets half of `heap_bytes`, as half of
/// the kernel's heap).
fn host_boot(
    image: &Path,
    heap_bytes: u64,
    cmdline: &str,
) -> (HostPlatform, init::Mounted, Arc<CapturedConsole>) {
    let disk: Arc<dyn BlockDevice> = Arc::new(FileDisk::open(image, 512).expect("open image"));
    let devfs = fs_devfs::DevFs::new(0x1234_5678);
    let console = Arc::new(CapturedConsole::default());
    devfs.set_console(console.clone());
    let disks = [init::Disk {
        name: "vblk0".to_string(),
        device: disk,
    }];
    let config = init::cmdline::parse(cmdline).expect("command line");
    // Sized and shared as the kernel does.
    let budget = init::cache_size::budget(config.cache, heap_bytes);
    let cache = vfs::pagecache::PageCache::new(budget as usize);
    init::mounts::add_disks(&devfs, &disks, &cache);
    let platform = HostPlatform::new(heap_bytes);
    let boot = init::Boot {
        cmdline,
        config: &config,
        disks: &disks,
        devfs: &devfs,
        cache: &cache,
        probe_ns: 0,
    };
    let mounted = init::mount_all(&platform, &boot)
        .unwrap_or_else(|fatal| panic!("mount (exit code {}): {}", fatal.code, fatal.message));
    (platform, mounted, console)
}

/// As a 64 MiB guest, which the QEMU runs use: /tmp is 31 MiB.
const SUITE_HEAP: u64 = 62 << 20;

fn run_suite_on_host(image: &GuestImage, cmdline: &str) -> ((u32, u32), String, String) {
    let (platform, mounted, console) = host_boot(&image.path, SUITE_HEAP, cmdline);
    let result = selftest::run(&selftest::Env {
        platform: &platform,
        vfs: &mounted.vfs,
        cmdline,
    });
    let console = String::from_utf8_lossy(&console.0.lock().expect("console lock")).into_owned();
    (result, platform.take_output(), console)
}

// --- Shared, built once per test process. ---

fn full_image() -> &'static GuestImage {
    static IMAGE: OnceLock<GuestImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let started = Instant::now();
        let image = guest_image::build_cached(&ImageSpec::full(), &cache_dir())
            .expect("build the test image");
        println!(
            "test image {} ({} bytes) ready in {:.1} s",
            image.path.display(),
            image.size,
            started.elapsed().as_secs_f64()
        );
        image
    })
}

fn small_image() -> &'static GuestImage {
    static IMAGE: OnceLock<GuestImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        guest_image::build_cached(&ImageSpec::small(), &cache_dir()).expect("build the small image")
    })
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest-images")
}

/// The names of the suite's tests, in order, from a host run (the reference
/// the QEMU runs are compared with).
fn suite_test_names() -> &'static Vec<String> {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let image = full_image();
        let ((passed, failed), lines, _) =
            run_suite_on_host(image, &format!("test {}", image.selftest_cmdline_word()));
        let names: Vec<String> = lines
            .lines()
            .filter_map(|l| {
                l.strip_prefix("PASS ")
                    .or_else(|| l.strip_prefix("FAIL ").and_then(|r| r.split(':').next()))
            })
            .map(str::to_string)
            .collect();
        assert_eq!(names.len() as u32, passed + failed);
        names
    })
}

fn kernel() -> PathBuf {
    qemu::check_qemu().unwrap_or_else(|e| panic!("{e}"));
    qemu::build_kernel().unwrap_or_else(|e| panic!("{e}"))
}

fn boot(boot: &Boot) -> Outcome {
    let outcome = qemu::boot(boot).unwrap_or_else(|e| panic!("{}: {e}", boot.name));
    println!(
        "[{}] {} (-accel {})",
        boot.name,
        outcome.describe(),
        boot.accel.join(" -accel ")
    );
    outcome
}

/// Check a `test` boot: every suite line PASS, the names as on the host,
/// one summary line that agrees, the console marker, exit status exactly 1.
fn check_suite_output(machine: &str, outcome: &Outcome) {
    let context = || format!("{machine}: {}", outcome.describe());
    let fails: Vec<&str> = outcome
        .output
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert!(
        fails.is_empty(),
        "{}: failing tests:\n{}",
        context(),
        fails.join("\n")
    );
    assert!(!outcome.timed_out, "{}: timed out", context());
    let (passed, failed) = qemu::parse_summary(&outcome.output)
        .unwrap_or_else(|| panic!("{}: no single 'N passed, N failed' line", context()));
    let passes: Vec<&str> = outcome
        .output
        .lines()
        .filter_map(|l| l.strip_prefix("PASS "))
        .collect();
    assert_eq!(failed, 0, "{}", context());
    assert_eq!(
        passed as usize,
        passes.len(),
        "{}: summary disagrees with the PASS lines",
        context()
    );
    let expected = suite_test_names();
    assert_eq!(
        &passes,
        expected,
        "{}: the guest ran other tests than the suite on the host",
        context()
    );
    assert!(
        outcome.output.contains(CONSOLE_MARKER),
        "{}: the line written to /dev/console did not reach the serial port",
        context()
    );
    assert_eq!(
        outcome.status,
        Some(status::SUCCESS),
        "{}: wrong exit status",
        context()
    );
}

fn test_boot(machine: Machine) {
    let kernel = kernel();
    let image = full_image();
    let names = suite_test_names();
    assert!(
        names.len() >= 30,
        "the suite has only {} tests",
        names.len()
    );
    let cmdline = format!("test {}", image.selftest_cmdline_word());
    let mut spec = Boot::new(
        machine.name(),
        machine,
        &kernel,
        Some(&image.path),
        &cmdline,
    );
    spec.timeout = Duration::from_secs(300);
    let outcome = boot(&spec);
    check_suite_output(machine.name(), &outcome);
}

// --- Host runs of the suite. ---

#[test]
fn host_suite_passes_on_the_generated_image() {
    let image = full_image();
    let ((passed, failed), lines, console) =
        run_suite_on_host(image, &format!("test {}", image.selftest_cmdline_word()));
    assert_eq!(
        failed,
        0,
        "failures:\n{}",
        lines
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(passed >= 30);
    assert_eq!(qemu::parse_summary(&lines), Some((passed, failed)));
    assert!(console.contains(CONSOLE_MARKER), "console got {console:?}");
}

#[test]
fn host_suite_fails_on_wrong_host_facts() {
    // The disk facts on the command line are the host's: change them and the
    // device test must fail; leave them out and it must fail too.
    let image = small_image();
    let mut wrong = image.clone();
    wrong.size += 4096;
    let ((_, failed), lines, _) =
        run_suite_on_host(image, &format!("test {}", wrong.selftest_cmdline_word()));
    assert!(
        failed >= 1 && lines.contains("FAIL dev-vblk0: vblk0 size"),
        "{lines}"
    );
    let ((_, failed), lines, _) = run_suite_on_host(image, "test");
    assert!(
        failed >= 1 && lines.contains("FAIL dev-vblk0: no selftest.disk="),
        "{lines}"
    );
}

#[test]
fn host_suite_fails_on_damaged_file_data() {
    // Flip one byte of /big.bin's data (found by its first bytes, which the
    // generator determines); the metadata is intact, so the mount succeeds
    // and the CRC check must catch it.
    let image = small_image();
    let mut bytes = std::fs::read(&image.path).expect("read image");
    let first = guest_image::big_file_prefix(&ImageSpec::small(), 64);
    let at = bytes
        .windows(64)
        .position(|w| w == first.as_slice())
        .expect("big file data in the image");
    bytes[at + 10] ^= 1;
    let damaged = cache_dir().join(format!("damaged-{}.img", std::process::id()));
    std::fs::write(&damaged, &bytes).expect("write damaged image");
    let damaged_image = GuestImage::from_file(&damaged).expect("facts");
    let ((_, failed), lines, _) = run_suite_on_host(
        &damaged_image,
        &format!("test {}", damaged_image.selftest_cmdline_word()),
    );
    let _ = std::fs::remove_file(&damaged);
    assert!(
        lines.contains("FAIL rofs-crc32-all-files: /big.bin CRC32"),
        "{lines}"
    );
    assert!(lines.contains("FAIL rofs-byte-ranges"), "{lines}");
    assert!(failed >= 2);
}

#[test]
fn host_bench_prints_every_figure() {
    let image = small_image();
    // As the 256 MiB guest tests/guest-bench.sh boots (64 MiB ramfs figures):
    // /tmp is 127 MiB.
    let (platform, mounted, _) = host_boot(&image.path, 254 << 20, "bench");
    init::bench::run(&init::bench::Env {
        platform: &platform,
        vfs: &mounted.vfs,
        boot_ns: 1_500_000,
        mount_ns: 250_000,
        big_file: "/big.bin",
        cmdline: "bench",
        ramfs_bytes: 64 << 20,
        ramfs_only: false,
    });
    let out = platform.take_output();
    let results = qemu::parse_results(&out);
    for name in [
        "boot",
        "mount",
        "walk-cold",
        "walk-warm",
        "readall-cold",
        "readall-warm",
        "big-cold",
        "big-warm",
        "small-cold",
        "small-warm",
        "random-cold",
        "random-warm",
        "lru-scan",
        "lru-hot-reread",
        "memcpy",
        "ramfs-write",
        "ramfs-read",
    ] {
        assert!(
            results.iter().any(|(n, _)| n == name),
            "no RESULT {name} in:\n{out}"
        );
    }
    assert!(results.contains(&("boot".to_string(), 1.5)), "{out}");
    assert!(results.contains(&("mount".to_string(), 0.25)), "{out}");
    assert!(!out.contains("RESULT-ERROR"), "{out}");
    assert!(
        out.contains(&format!(
            "INFO big-cold-bytes {}",
            ImageSpec::small().big_bytes
        )),
        "{out}"
    );
    assert!(out.trim_end().ends_with("BENCH-DONE"), "{out}");
}

// --- Under QEMU. ---

#[test]
fn qemu_suites_pass_on_q35() {
    test_boot(Machine::Q35);
}

#[test]
fn qemu_suites_pass_on_microvm() {
    test_boot(Machine::Microvm);
}

/// A failing boot: exit status `want`, one `FATAL:` line holding all of
/// `words` (lowercase), no panic, and no test run.
fn check_clean_failure(name: &str, outcome: &Outcome, want: i32, words: &[&str]) {
    let context = format!("{name}: {}\n{}", outcome.describe(), outcome.output);
    assert_eq!(outcome.status, Some(want), "{context}");
    assert!(!outcome.output.contains("PANIC"), "{context}");
    assert!(
        !outcome
            .output
            .lines()
            .any(|l| l.starts_with("PASS ") || l.starts_with("FAIL ")),
        "{context}"
    );
    let fatal: Vec<String> = outcome
        .output
        .lines()
        .filter(|l| l.starts_with("FATAL: "))
        .map(str::to_lowercase)
        .collect();
    assert_eq!(fatal.len(), 1, "{name}: expected one FATAL line\n{context}");
    for word in words {
        assert!(
            fatal[0].contains(word),
            "{name}: no {word:?} in the FATAL line\n{context}"
        );
    }
}

#[test]
fn qemu_corrupt_metadata_fails_the_root_mount() {
    let kernel = kernel();
    let bad = cache_dir().join(format!("corrupt-{}.img", std::process::id()));
    guest_image::corrupt_metadata(&small_image().path, &bad).expect("corrupt image");
    let outcome = boot(&Boot::new(
        "corrupt",
        Machine::Microvm,
        &kernel,
        Some(&bad),
        "test",
    ));
    let _ = std::fs::remove_file(&bad);
    check_clean_failure(
        "corrupt",
        &outcome,
        status::ROOT_MOUNT_FAILED,
        &["cannot mount root", "eio", "crc32 mismatch"],
    );
}

#[test]
fn qemu_zero_disk_is_not_rofs() {
    let kernel = kernel();
    let zeros = cache_dir().join(format!("zeros-{}.img", std::process::id()));
    std::fs::create_dir_all(cache_dir()).expect("cache dir");
    std::fs::write(&zeros, vec![0u8; 1 << 20]).expect("zero image");
    let outcome = boot(&Boot::new(
        "zeros",
        Machine::Q35,
        &kernel,
        Some(&zeros),
        "test",
    ));
    let _ = std::fs::remove_file(&zeros);
    check_clean_failure(
        "zeros",
        &outcome,
        status::ROOT_MOUNT_FAILED,
        &["cannot mount root", "einval", "not a rofs image"],
    );
}

#[test]
fn qemu_no_disk_is_reported() {
    let kernel = kernel();
    for machine in [Machine::Microvm, Machine::Q35] {
        let name = format!("nodisk-{}", machine.name());
        let outcome = boot(&Boot::new(&name, machine, &kernel, None, "test"));
        check_clean_failure(
            &name,
            &outcome,
            status::NO_ROOT_DISK,
            &["no root disk", "vblk0"],
        );
    }
}

#[test]
fn qemu_run_command_prints_a_file() {
    let kernel = kernel();
    let image = small_image();
    // Quotes group the commands into one word (init/src/cmdline.rs).
    let cmdline = r#"run="cat /hello.txt;ls /links;echo run-done""#;
    let outcome = boot(&Boot::new(
        "run",
        Machine::Microvm,
        &kernel,
        Some(&image.path),
        cmdline,
    ));
    let context = format!("run: {}\n{}", outcome.describe(), outcome.output);
    assert!(
        outcome.output.contains("hello from the guest image"),
        "{context}"
    );
    // ls lists the image's symlink directory, written by the generator.
    for name in ["loop-a", "chain1", "dangling"] {
        assert!(
            outcome.output.lines().any(|l| l.contains(name)),
            "no {name} in ls output: {context}"
        );
    }
    assert!(outcome.output.contains("run-done"), "{context}");
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
}

#[test]
fn qemu_failing_suite_exits_with_status_3() {
    // Wrong host facts for the disk: exactly the device test fails, the rest
    // still run, and the kernel reports failure through the exit status.
    let kernel = kernel();
    let image = small_image();
    let mut wrong = image.clone();
    wrong.crc_from_1 ^= 1;
    let cmdline = format!("test {}", wrong.selftest_cmdline_word());
    let outcome = boot(&Boot::new(
        "failing",
        Machine::Microvm,
        &kernel,
        Some(&image.path),
        &cmdline,
    ));
    let context = format!("failing: {}\n{}", outcome.describe(), outcome.output);
    let fails: Vec<&str> = outcome
        .output
        .lines()
        .filter(|l| l.starts_with("FAIL "))
        .collect();
    assert_eq!(fails.len(), 1, "{context}");
    assert!(
        fails[0].starts_with("FAIL dev-vblk0: CRC32 of bytes 1..=65536"),
        "{context}"
    );
    let (passed, failed) = qemu::parse_summary(&outcome.output).expect("summary line");
    assert_eq!(
        (passed as usize + 1, failed),
        (suite_test_names().len(), 1),
        "{context}"
    );
    assert_eq!(outcome.status, Some(status::TESTS_FAILED), "{context}");
}

// --- Verified roots (dm-verity, `rofs.roothash=` and `roothash=`). ---

fn verified_full_image() -> &'static VerifiedImage {
    static IMAGE: OnceLock<VerifiedImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        guest_verity::verified_cached(full_image(), &cache_dir()).expect("tree over the image")
    })
}

fn verified_small_image() -> &'static VerifiedImage {
    static IMAGE: OnceLock<VerifiedImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        guest_verity::verified_cached(small_image(), &cache_dir()).expect("tree over the image")
    })
}

/// A copy of `image` under a name of this process, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn copy(image: &Path, name: &str) -> Scratch {
        let path = cache_dir().join(format!("{name}-{}.img", std::process::id()));
        std::fs::copy(image, &path).expect("copy image");
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The other root hash: one bit flipped.
fn wrong_hex(verified: &VerifiedImage) -> String {
    let mut root = verified.root_hash;
    root[31] ^= 1;
    drivers::verity::Hex(&root).to_string()
}

#[test]
fn host_suite_passes_on_the_verified_image() {
    // The kernel's mount code wraps the disk in the verifying device: every
    // block the suites read is checked against the tree.
    let verified = verified_full_image();
    let cmdline = format!(
        "test rofs.roothash={} {}",
        verified.root_hex(),
        verified.image.selftest_cmdline_word()
    );
    let ((passed, failed), lines, _) = run_suite_on_host(&verified.image, &cmdline);
    assert_eq!(failed, 0, "{lines}");
    assert_eq!(passed as usize, suite_test_names().len(), "{lines}");
}

#[test]
fn qemu_suites_pass_on_microvm_with_a_root_hash() {
    let kernel = kernel();
    let verified = verified_full_image();
    let cmdline = format!(
        "test rofs.roothash={} {}",
        verified.root_hex(),
        verified.image.selftest_cmdline_word()
    );
    let mut spec = Boot::new(
        "verified",
        Machine::Microvm,
        &kernel,
        Some(&verified.image.path),
        &cmdline,
    );
    spec.timeout = Duration::from_secs(400);
    let outcome = boot(&spec);
    check_suite_output("verified microvm", &outcome);
    let verifying = format!("vblk0: verifying {} data blocks", full_image().size / 4096);
    assert!(outcome.output.contains(&verifying), "{}", outcome.output);
    assert!(!outcome.output.contains("unverified"), "{}", outcome.output);
}

#[test]
fn qemu_root_verification_refusals() {
    let kernel = kernel();
    let verified = verified_small_image();
    let refuse = |name: &str, disk: &Path, cmdline: &str, want: i32, words: &[&str]| {
        let outcome = boot(&Boot::new(
            name,
            Machine::Microvm,
            &kernel,
            Some(disk),
            cmdline,
        ));
        check_clean_failure(name, &outcome, want, words);
    };
    refuse(
        "wrong-hash",
        &verified.image.path,
        &format!("test rofs.roothash={}", wrong_hex(verified)),
        status::ROOT_VERIFY_FAILED,
        &[
            "root verification failed: /dev/vblk0: root hash mismatch",
            &wrong_hex(verified),
        ],
    );
    refuse(
        "no-tree",
        &small_image().path,
        &format!(
            "test vfs.fstab=vblk0:/:rofs::roothash={}",
            verified.root_hex()
        ),
        status::ROOT_VERIFY_FAILED,
        &["root verification failed", "no dm-verity tree"],
    );
    refuse(
        "bad-hash",
        &verified.image.path,
        "test rofs.roothash=12345",
        status::BAD_CMDLINE,
        &[
            "bad kernel command line",
            "rofs.roothash=`12345`",
            "64 hex digits",
        ],
    );
}

#[test]
fn qemu_tampered_block_gives_eio_and_the_rest_reads() {
    let kernel = kernel();
    let verified = verified_small_image();
    let tampered = Scratch::copy(&verified.image.path, "tampered");
    // A data block of its own: /hard/orig.bin (5000 random bytes, stored
    // raw even in a compressed image; small files are inline in inode
    // blocks that the mount itself needs).
    let spec = ImageSpec::small();
    let orig = guest_image::content(spec.seed ^ 0x4a4d, 5000);
    guest_verity::tamper_block(&tampered.0, &orig[..64]).expect("tamper");
    let big = guest_image::big_file_prefix(&spec, spec.big_bytes as usize);
    let cmdline = format!(
        r#"rofs.roothash={} run="crc32 /hard/orig.bin;cat /hello.txt;cat /names/.hidden;crc32 /big.bin;echo run-done""#,
        verified.root_hex()
    );
    let outcome = boot(&Boot::new(
        "tampered",
        Machine::Microvm,
        &kernel,
        Some(&tampered.0),
        &cmdline,
    ));
    let context = format!("tampered: {}\n{}", outcome.describe(), outcome.output);
    let lines: Vec<&str> = outcome.output.lines().collect();
    for want in [
        "crc32: /hard/orig.bin: EIO (Input/output error)",
        "hello from the guest image",
        "dot file",
        &format!("{:08x} {} /big.bin", crc32fast::hash(&big), big.len()),
        "run-done",
    ] {
        assert!(lines.contains(&want), "no line {want:?}: {context}");
    }
    assert!(!outcome.output.contains("PANIC"), "{context}");
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");

    // Without a root hash the same disk mounts, says it is unverified, and
    // hands out the tampered bytes.
    let outcome = boot(&Boot::new(
        "unverified",
        Machine::Microvm,
        &kernel,
        Some(&tampered.0),
        "run=\"crc32 /hard/orig.bin\"",
    ));
    let context = format!("unverified: {}\n{}", outcome.describe(), outcome.output);
    let note = format!(
        "vblk0: image carries a dm-verity tree (root hash {}); mounted unverified",
        verified.root_hex()
    );
    assert_eq!(outcome.output.matches(&note).count(), 1, "{context}");
    let mut damaged = orig.clone();
    damaged[0] ^= 0x01;
    let want = format!("{:08x} 5000 /hard/orig.bin", crc32fast::hash(&damaged));
    assert!(outcome.output.lines().any(|l| l == want), "{context}");
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
}

#[test]
fn qemu_etc_fstab_verifies_a_second_disk() {
    let kernel = kernel();
    let verified = verified_small_image();
    let fstab = format!(
        "/dev/vblk1 /data rofs ro,roothash={} 0 0\n/dev/vblk2 /bad rofs ro,roothash={} 0 0\n",
        verified.root_hex(),
        wrong_hex(verified)
    );
    let root = cache_dir().join(format!("fstab-root-{}.img", std::process::id()));
    guest_verity::fstab_root(&root, &["/data", "/bad"], &fstab).expect("root image");
    let root = Scratch(root);
    let second = Scratch::copy(&verified.image.path, "second");
    let mut spec = Boot::new(
        "fstab-verity",
        Machine::Q35,
        &kernel,
        Some(&root.0),
        r#"run="cat /data/hello.txt;ls /bad;echo run-done""#,
    );
    spec.extra_disks = vec![second.0.clone(), verified.image.path.clone()];
    let outcome = boot(&spec);
    let context = format!("fstab-verity: {}\n{}", outcome.describe(), outcome.output);
    assert!(
        outcome.output.contains("hello from the guest image"),
        "{context}"
    );
    assert!(outcome.output.contains("vblk1: verifying"), "{context}");
    let refused: Vec<&str> = outcome
        .output
        .lines()
        .filter(|l| l.contains("ERROR cannot mount /dev/vblk2 on /bad"))
        .collect();
    assert_eq!(refused.len(), 1, "{context}");
    assert!(
        refused[0].ends_with(&format!(
            "(from /etc/fstab): verification failed: root hash mismatch: expected {}, the image's tree has {}",
            wrong_hex(verified),
            verified.root_hex()
        )),
        "{context}"
    );
    assert!(outcome.output.contains("run-done"), "{context}");
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
}
