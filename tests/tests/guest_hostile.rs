//! The kernel under hostile input, in QEMU (issue 8): directory loops in an
//! image, endless sources into a size-limited `/tmp`, `rm -r /`, command
//! lines past 4 KiB and past the limit, devfs mounted again, and
//! 100,000-entry directories in a 16 MiB guest. Every boot must end by
//! itself with the expected exit status and never print a kernel panic.
//!
//! Images: the small generated image (`tests::guest_image`) and the hostile
//! ones of `tests::hostile_image`, written under the target dir per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use fs_rofs::writer::Format;
use tests::guest_image::{self, GuestImage, ImageSpec};
use tests::hostile_image::{self, WIDE_ENTRIES, wide_name};
use tests::qemu::{self, Boot, Machine, Outcome, status};

fn kernel() -> PathBuf {
    qemu::check_qemu().unwrap_or_else(|e| panic!("{e}"));
    qemu::build_kernel().unwrap_or_else(|e| panic!("{e}"))
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest-images")
}

fn small_image() -> &'static GuestImage {
    static IMAGE: OnceLock<GuestImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        guest_image::build_cached(&ImageSpec::small(), &cache_dir()).expect("build the small image")
    })
}

/// `image` written to a file of this process named `name`.
fn image_file(name: &str, image: &[u8]) -> PathBuf {
    let path = cache_dir().join(format!("hostile-{name}-{}.img", std::process::id()));
    hostile_image::save(image, &path).expect("write image");
    path
}

/// Boot with a 16 MiB guest (the issue's size) and a generous TCG timeout.
fn boot(name: &str, machine: Machine, disks: &[&Path], cmdline: &str) -> Outcome {
    boot_with(name, machine, disks, cmdline, "16M")
}

fn boot_with(
    name: &str,
    machine: Machine,
    disks: &[&Path],
    cmdline: &str,
    memory: &str,
) -> Outcome {
    let mut spec = Boot::new(name, machine, &kernel(), disks.first().copied(), cmdline);
    spec.extra_disks = disks.iter().skip(1).map(|d| d.to_path_buf()).collect();
    spec.memory = memory.to_string();
    spec.timeout = Duration::from_secs(240);
    // The long-line boots would echo kilobytes per console line.
    spec.stream = cmdline.len() < 1024;
    let outcome = qemu::boot(&spec).unwrap_or_else(|e| panic!("{name}: {e}"));
    println!("[{name}] {}", outcome.describe());
    outcome
}

fn context(name: &str, outcome: &Outcome) -> String {
    let output: String = outcome
        .output
        .lines()
        .map(|l| if l.len() > 300 { &l[..300] } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    format!("{name}: {}\n{output}", outcome.describe())
}

/// A `run=` boot that must power off by itself (status 1) without a panic,
/// having printed each of `lines` as a whole console line.
fn check_run(name: &str, outcome: &Outcome, lines: &[&str]) {
    let context = context(name, outcome);
    assert!(!outcome.output.contains("PANIC"), "{context}");
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
    for line in lines {
        assert!(
            outcome.output.lines().any(|l| l == *line),
            "{name}: no line {line:?}\n{context}"
        );
    }
}

fn fatal_lines(outcome: &Outcome) -> Vec<&str> {
    outcome
        .output
        .lines()
        .filter(|l| l.starts_with("FATAL: "))
        .collect()
}

// The walkers' own loop detection is tested on the host (init/tests/walks.rs,
// a backend that can hold loops): in the guest the ROFS reader refuses such
// an image before any walker sees it.

#[test]
fn qemu_a_looped_root_is_refused_with_exit_code_3() {
    let image = image_file("loop-root", &hostile_image::cyclic_image());
    let outcome = boot(
        "loop-root",
        Machine::Microvm,
        &[&image],
        r#"run="ls -R /;find /;echo walk-done""#,
    );
    let _ = std::fs::remove_file(&image);
    let context = context("loop-root", &outcome);
    assert!(!outcome.output.contains("PANIC"), "{context}");
    assert_eq!(outcome.status, Some(status::ROOT_MOUNT_FAILED), "{context}");
    let fatal = fatal_lines(&outcome);
    assert_eq!(fatal.len(), 1, "{context}");
    assert!(
        fatal[0].contains("cannot mount root")
            && fatal[0].contains("EIO")
            && fatal[0].contains("ancestor"),
        "{context}"
    );
    assert!(
        !outcome.output.lines().any(|l| l == "walk-done"),
        "{context}"
    );
}

#[test]
fn qemu_a_looped_second_disk_is_refused_with_eio() {
    let image = image_file("loop-disk", &hostile_image::cyclic_image());
    let outcome = boot(
        "loop-disk",
        Machine::Q35,
        &[&small_image().path, &image],
        r#"run="mkdir /tmp/m;mount -t rofs /dev/vblk1 /tmp/m;ls /tmp/m;mount;echo disk-done""#,
    );
    let _ = std::fs::remove_file(&image);
    check_run(
        "loop-disk",
        &outcome,
        &["mount: /tmp/m: EIO (Input/output error)", "disk-done"],
    );
    // Nothing was mounted there.
    let context = context("loop-disk", &outcome);
    assert!(
        !outcome.output.lines().any(|l| l.contains(" on /tmp/m ")),
        "{context}"
    );
}

#[test]
fn qemu_endless_sources_stop_at_enospc_and_big_outputs_stream() {
    // A 2 MiB /tmp; /dev/zero never ends; the hexdump writes about 60 MB,
    // four times the guest's memory, through a redirection.
    let cmdline = r#"vfs.fstab=vblk0:/:rofs;none:/dev:devfs;none:/tmp:ramfs::size=2M run="cat /dev/zero > /tmp/f;ls -l /tmp;cp /dev/zero /tmp/g;rm /tmp/f;rm /tmp/g;echo fits > /tmp/h;cat /tmp/h;hexdump -n 12M /dev/zero > /dev/null;echo stream-done""#;
    let outcome = boot("enospc", Machine::Microvm, &[&small_image().path], cmdline);
    check_run(
        "enospc",
        &outcome,
        &[
            "cat: /tmp/f: ENOSPC (No space left on device)",
            "cp: /tmp/g: ENOSPC (No space left on device)",
            "fits",
            "stream-done",
        ],
    );
    let context = context("enospc", &outcome);
    assert!(
        outcome
            .output
            .lines()
            .any(|l| l.contains("    2097152 ") && l.ends_with(" f")),
        "/tmp/f is the whole 2 MiB: {context}"
    );
}

#[test]
fn qemu_rm_r_of_the_root_is_refused_and_tmp_survives() {
    let outcome = boot(
        "rm-root",
        Machine::Microvm,
        &[&small_image().path],
        r#"run="echo precious > /tmp/keep;rm -r /;rm -r /tmp/..;rm -rf //;rm -r --no-preserve-root /;cat /tmp/keep;ls /dev/vblk0""#,
    );
    check_run(
        "rm-root",
        &outcome,
        &[
            "rm: /: refusing to remove / recursively (use --no-preserve-root)",
            "rm: /tmp/..: refusing to remove '.' or '..'",
            "rm: //: refusing to remove / recursively (use --no-preserve-root)",
            "precious",
            "/dev/vblk0",
        ],
    );
    // Without the failsafe the walk stays on the read-only root and stops
    // at its first file.
    let context = context("rm-root", &outcome);
    assert!(
        outcome
            .output
            .lines()
            .any(|l| l.starts_with("rm: /") && l.ends_with(": EROFS (Read-only file system)")),
        "{context}"
    );
}

/// `selftest.pad=xxx...` making the whole line `len` bytes with `tail`.
fn padded(len: usize, tail: &str) -> String {
    let pad = len.saturating_sub(tail.len() + " selftest.pad=".len());
    format!("selftest.pad={} {tail}", "x".repeat(pad))
}

#[test]
fn qemu_a_5000_byte_command_line_is_kept_whole() {
    let image = small_image();
    let cmdline = padded(5000, &format!("{} test", image.selftest_cmdline_word()));
    assert!(cmdline.len() >= 5000 && cmdline.ends_with(" test"));
    // The suite's ramfs tests want the 64 MiB guest the other suite boots use.
    let outcome = boot_with(
        "cmdline-5000",
        Machine::Microvm,
        &[&image.path],
        &cmdline,
        "64M",
    );
    let context = context("cmdline-5000", &outcome);
    assert!(!outcome.output.contains("PANIC"), "{context}");
    let (passed, failed) = qemu::parse_summary(&outcome.output)
        .unwrap_or_else(|| panic!("no summary line (the `test` word was lost?)\n{context}"));
    let fails: Vec<&str> = outcome
        .output
        .lines()
        .filter(|l| l.starts_with("FAIL "))
        .collect();
    assert!(fails.is_empty(), "{fails:?}\n{context}");
    assert_eq!(failed, 0, "{context}");
    assert!(passed >= 30, "{context}");
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
}

#[test]
fn qemu_a_command_line_over_64_kib_is_refused_with_exit_code_5() {
    let image = small_image();
    let cmdline = padded(70_000, "test");
    let outcome = boot("cmdline-70000", Machine::Microvm, &[&image.path], &cmdline);
    let context = context("cmdline-70000", &outcome);
    assert_eq!(outcome.status, Some(status::BAD_CMDLINE), "{context}");
    assert_eq!(
        fatal_lines(&outcome),
        ["FATAL: kernel command line longer than 65536 bytes: refused, not cut"],
        "{context}"
    );
    assert!(!outcome.output.contains("passed, "), "{context}");
}

#[test]
fn qemu_q35_seabios_overwrites_a_long_line_and_the_kernel_says_so() {
    // SeaBIOS's PVH loader puts the command line just below the start info,
    // so past about 4 KiB the start info is gone: a clean FATAL naming it,
    // never a boot with another configuration.
    let image = small_image();
    let cmdline = padded(5000, "test");
    let outcome = boot("cmdline-seabios", Machine::Q35, &[&image.path], &cmdline);
    let context = context("cmdline-seabios", &outcome);
    assert_eq!(outcome.status, Some(status::PANIC), "{context}");
    let fatal = fatal_lines(&outcome);
    assert_eq!(fatal.len(), 1, "{context}");
    assert!(fatal[0].contains("SeaBIOS"), "{context}");
    assert!(!outcome.output.contains("passed, "), "{context}");
}

#[test]
fn qemu_devfs_mounted_again_has_the_disks() {
    let outcome = boot(
        "devfs-remount",
        Machine::Microvm,
        &[&small_image().path],
        r#"run="umount /dev;ls /dev;echo unmounted;mount -t devfs none /dev;ls /dev;hexdump -n 16 /dev/vblk0""#,
    );
    check_run(
        "devfs-remount",
        &outcome,
        &[
            "unmounted",
            "vblk0",
            "console",
            // The ROFS magic and version 3: the root disk itself (the
            // test image is v3).
            "00000000  ad be ad de 00 00 00 00  03 00 00 00 00 00 00 00  |................|",
        ],
    );
}

/// The exact `ls -R /many` text of a wide image.
fn wide_listing() -> Vec<u8> {
    let mut text = String::from("/many:\n");
    for i in 0..WIDE_ENTRIES {
        text.push_str(&wide_name(i));
        text.push('\n');
    }
    text.push('\n');
    text.into_bytes()
}

#[test]
fn qemu_ls_r_of_100000_entries_streams_in_16_mib() {
    let image = image_file("wide-v2", &hostile_image::wide_image(Format::V2));
    let listing = wide_listing();
    let outcome = boot(
        "wide-ls-r",
        Machine::Microvm,
        &[&image],
        r#"run="ls -R / > /dev/null;ls -R /many > /tmp/ls.txt;crc32 /tmp/ls.txt;echo ls-done""#,
    );
    let _ = std::fs::remove_file(&image);
    let crc = format!(
        "{:08x} {} /tmp/ls.txt",
        crc32fast::hash(&listing),
        listing.len()
    );
    check_run(
        "wide-ls-r",
        &outcome,
        &[
            "ls: /many: too many entries to sort in memory; listed in directory order",
            &crc,
            "ls-done",
        ],
    );
}

#[test]
fn qemu_ls_l_of_100000_entries_in_16_mib() {
    let image = image_file("wide-v2-l", &hostile_image::wide_image(Format::V2));
    let outcome = boot(
        "wide-ls-l",
        Machine::Microvm,
        &[&image],
        r#"run="ls -l /many > /dev/null;echo ls-l-done""#,
    );
    let _ = std::fs::remove_file(&image);
    check_run("wide-ls-l", &outcome, &["ls-l-done"]);
}

#[test]
fn qemu_a_100000_file_v1_root_mounts_and_lists_in_16_mib() {
    let image = image_file("wide-v1", &hostile_image::wide_image(Format::V1));
    let listing = wide_listing();
    let outcome = boot(
        "wide-v1",
        Machine::Microvm,
        &[&image],
        r#"run="ls -R /many > /tmp/ls.txt;crc32 /tmp/ls.txt;echo v1-done""#,
    );
    let _ = std::fs::remove_file(&image);
    let crc = format!(
        "{:08x} {} /tmp/ls.txt",
        crc32fast::hash(&listing),
        listing.len()
    );
    check_run("wide-v1", &outcome, &[&crc, "v1-done"]);
}
