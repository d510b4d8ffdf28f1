//! `tests/guest-bench.sh --vs-linux`: the same bench steps on Debian's
//! Linux under the same QEMU, machine and memory, on EROFS and SquashFS
//! images of the same tree as our image.
//!
//! Prepared once under the target dir: Debian's `linux-image-*-amd64`
//! package (the one `linux-image-amd64` depends on) and `busybox-static`,
//! fetched with `apt-get download` and unpacked with `dpkg-deb -x`, never
//! installed; an initramfs (written here as `newc` cpio) holding busybox,
//! the virtio, EROFS and SquashFS modules and `linux-bench` (built static
//! from `src/bin/linux-bench.rs`); the tree extracted from our image with
//! `mkimage extract` and packed by `mkfs.erofs` and `mksquashfs`
//! (uncompressed), and by `mkfs.erofs -zlz4` (beside our LZ4 test image).
//! Each run boots ours, then Linux on EROFS, SquashFS and EROFS-LZ4; the
//! figures are medians of the runs. Boot time is, on both
//! sides, QEMU's start to the first console line after the root is
//! mounted, on the host clock.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::qemu::{self, Machine};

/// Steps compared, in print order (ms).
const STEPS: &[&str] = &[
    "boot",
    "mount",
    "walk-cold",
    "walk-warm",
    "big-cold",
    "big-warm",
    "readall-cold",
    "readall-warm",
    "small-cold",
    "small-warm",
    "random-cold",
    "random-warm",
];

/// Modules to load, in dependency order (from each module's `depends=`).
const MODULES: &[&str] = &[
    "drivers/virtio/virtio_ring",
    "drivers/virtio/virtio",
    "drivers/virtio/virtio_mmio",
    "drivers/virtio/virtio_pci_modern_dev",
    "drivers/virtio/virtio_pci_legacy_dev",
    "drivers/virtio/virtio_pci",
    "drivers/block/virtio_blk",
    "crypto/crc32c_generic",
    "lib/libcrc32c",
    "fs/erofs/erofs",
    "fs/squashfs/squashfs",
];

fn sh(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What the Linux boots need.
struct Linux {
    vmlinuz: PathBuf,
    initrd: PathBuf,
    erofs: PathBuf,
    /// The same tree with `mkfs.erofs -zlz4`, beside our LZ4 image.
    erofs_lz4: PathBuf,
    squashfs: PathBuf,
}

/// Fetch and build everything once into `work`.
fn prepare(work: &Path, image: &Path) -> Result<Linux, String> {
    fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let pkgs = work.join("pkgs");
    if !pkgs.join("done").exists() {
        let depends = sh(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
        let package = depends
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .find(|p| p.starts_with("linux-image-"))
            .ok_or("linux-image-amd64 names no linux-image-* package")?
            .to_string();
        fs::create_dir_all(&pkgs).map_err(|e| e.to_string())?;
        println!("vs-linux: apt-get download {package} busybox-static");
        sh(Command::new("apt-get").current_dir(&pkgs).args([
            "download",
            &package,
            "busybox-static",
        ]))?;
        for entry in fs::read_dir(&pkgs).map_err(|e| e.to_string())? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.extension().is_some_and(|x| x == "deb") {
                sh(Command::new("dpkg-deb")
                    .arg("-x")
                    .arg(&path)
                    .arg(pkgs.join("root")))?;
            }
        }
        fs::write(pkgs.join("done"), package).map_err(|e| e.to_string())?;
    }
    let root = pkgs.join("root");
    let vmlinuz = only_entry(&root.join("boot"), "vmlinuz-")?;
    let modules = only_entry(&root.join("lib/modules"), "")?.join("kernel");
    let busybox = root.join("bin/busybox");

    let bench = work.join("linux-bench");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin/linux-bench.rs");
    sh(Command::new("rustc")
        .args([
            "--edition",
            "2024",
            "-O",
            "-C",
            "target-feature=+crt-static",
            "-o",
        ])
        .arg(&bench)
        .arg(&source))?;

    let script = {
        let mut s = String::from("#!/bin/busybox sh\n");
        s.push_str("/bin/busybox mount -t proc proc /proc\n");
        s.push_str("/bin/busybox mount -t sysfs sysfs /sys\n");
        s.push_str("/bin/busybox mount -t devtmpfs devtmpfs /dev\n");
        for m in MODULES {
            let name = Path::new(m)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(m);
            s.push_str(&format!("/bin/busybox insmod /lib/{name}.ko\n"));
        }
        s.push_str("FS=$(/bin/busybox sed -n 's/.*benchfs=\\([a-z]*\\).*/\\1/p' /proc/cmdline)\n");
        s.push_str("/bench $FS /dev/vda big.bin\n");
        s.push_str("/bin/busybox reboot -f\n");
        s
    };
    let mut cpio = Cpio::default();
    for dir in ["bin", "dev", "proc", "sys", "mnt", "lib"] {
        cpio.entry(dir, 0o040755, &[], 0);
    }
    cpio.entry("dev/console", 0o020600, &[], (5 << 8) | 1);
    let read = |p: &Path| fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    cpio.entry("bin/busybox", 0o100755, &read(&busybox)?, 0);
    cpio.entry("bench", 0o100755, &read(&bench)?, 0);
    cpio.entry("init", 0o100755, script.as_bytes(), 0);
    for m in MODULES {
        let file = modules.join(format!("{m}.ko"));
        let name = Path::new(m)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(m);
        cpio.entry(&format!("lib/{name}.ko"), 0o100644, &read(&file)?, 0);
    }
    let initrd = work.join("initrd.cpio");
    fs::write(&initrd, cpio.finish()).map_err(|e| e.to_string())?;

    let tree = work.join("tree");
    let erofs = work.join("tree.erofs");
    let erofs_lz4 = work.join("tree.erofs-lz4");
    let squashfs = work.join("tree.squashfs");
    if !erofs.exists() || !erofs_lz4.exists() || !squashfs.exists() {
        let _ = fs::remove_dir_all(&tree);
        sh(Command::new("cargo")
            .args([
                "run",
                "--quiet",
                "--release",
                "-p",
                "mkimage",
                "--",
                "extract",
            ])
            .arg(image)
            .arg(&tree))?;
        // mkfs.erofs 1.5 fails on a 255-byte name ("Could not format the
        // device"): those files (one in the test image) are left out of both
        // Linux images.
        for long in long_names(&tree)? {
            println!("vs-linux: left out of the Linux images: {}", long.display());
            fs::remove_file(&long).map_err(|e| format!("{}: {e}", long.display()))?;
        }
        let _ = fs::remove_file(&erofs);
        let _ = fs::remove_file(&erofs_lz4);
        let _ = fs::remove_file(&squashfs);
        sh(Command::new("mkfs.erofs")
            .arg("--quiet")
            .arg(&erofs)
            .arg(&tree))?;
        sh(Command::new("mkfs.erofs")
            .args(["--quiet", "-zlz4"])
            .arg(&erofs_lz4)
            .arg(&tree))?;
        sh(Command::new("mksquashfs").arg(&tree).arg(&squashfs).args([
            "-noI",
            "-noD",
            "-noF",
            "-noX",
            "-no-progress",
            "-quiet",
        ]))?;
    }
    Ok(Linux {
        vmlinuz,
        initrd,
        erofs,
        erofs_lz4,
        squashfs,
    })
}

/// Files below `dir` whose name is over 200 bytes.
fn long_names(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let entry = entry.map_err(|e| e.to_string())?;
            let kind = entry.file_type().map_err(|e| e.to_string())?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if entry.file_name().len() > 200 {
                found.push(entry.path());
            }
        }
    }
    Ok(found)
}

fn only_entry(dir: &Path, prefix: &str) -> Result<PathBuf, String> {
    fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .ok_or_else(|| format!("nothing named {prefix}* in {}", dir.display()))
}

/// A `newc` cpio archive, the initramfs format.
#[derive(Default)]
struct Cpio {
    bytes: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: u32) {
        self.ino += 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            rdev >> 8,
            rdev & 0xff,
            name.len() + 1,
            0
        );
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], 0);
        self.bytes
    }
}

/// One boot: the console lines, and when (since QEMU's start) the first
/// line containing `marker` arrived.
struct Run {
    output: String,
    marked: Option<Duration>,
}

fn boot(args: &[String], marker: &str, timeout: Duration) -> Result<Run, String> {
    let start = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("qemu: {e}"))?;
    let stdout = child.stdout.take().ok_or("no qemu stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((start.elapsed(), line)).is_err() {
                break;
            }
        }
    });
    let mut run = Run {
        output: String::new(),
        marked: None,
    };
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok((at, line)) => {
                if run.marked.is_none() && line.contains(marker) {
                    run.marked = Some(at);
                }
                run.output.push_str(line.trim_end_matches('\r'));
                run.output.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {timeout:?}:\n{}", run.output));
            }
        }
    }
    let _ = child.wait();
    Ok(run)
}

fn common_args(machine: Machine, memory: &str) -> Vec<String> {
    qemu::machine_args(machine, memory, &qemu::default_accel())
}

fn disk_args(machine: Machine, disk: &Path) -> Vec<String> {
    let (_, blk) = machine.args();
    vec![
        "-drive".into(),
        format!(
            "file={},if=none,id=d0,format=raw,readonly=on",
            disk.display()
        ),
        "-device".into(),
        format!("{blk},drive=d0"),
    ]
}

/// `RESULT` and `INFO` figures of a run, plus `boot`.
fn figures(run: &Run) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = qemu::parse_results(&run.output).into_iter().collect();
    for line in run.output.lines() {
        let mut words = line.split_whitespace();
        if let (Some("INFO"), Some(name), Some(value)) = (words.next(), words.next(), words.next())
            && let Ok(value) = value.parse()
        {
            out.insert(name.to_string(), value);
        }
    }
    if let Some(at) = run.marked {
        out.insert("boot".into(), at.as_secs_f64() * 1000.0);
    }
    out
}

/// Run the comparison: `runs` boots of each side on `machine`.
pub fn run(
    kernel: &Path,
    image: &Path,
    work: &Path,
    machine: Machine,
    runs: usize,
) -> Result<(), String> {
    let linux = prepare(work, image)?;
    let memory = "256M";
    let sides: [(&str, Vec<String>, &str); 4] = [
        (
            "ours",
            [
                common_args(machine, memory),
                vec!["-kernel".into(), kernel.display().to_string()],
                vec!["-append".into(), "bench".into()],
                disk_args(machine, image),
            ]
            .concat(),
            "mounted /dev/vblk0 on / type rofs",
        ),
        (
            "erofs",
            linux_args(&linux, machine, memory, &linux.erofs, "erofs"),
            "ROOT-MOUNTED",
        ),
        (
            "squashfs",
            linux_args(&linux, machine, memory, &linux.squashfs, "squashfs"),
            "ROOT-MOUNTED",
        ),
        (
            "erofs-lz4",
            linux_args(&linux, machine, memory, &linux.erofs_lz4, "erofs"),
            "ROOT-MOUNTED",
        ),
    ];
    let mut samples: [BTreeMap<String, Vec<f64>>; 4] = Default::default();
    for i in 0..runs {
        for (side, (name, args, marker)) in sides.iter().enumerate() {
            let run = boot(args, marker, Duration::from_secs(600))
                .map_err(|e| format!("{name}#{i}: {e}"))?;
            if !run.output.contains("BENCH-DONE") {
                return Err(format!("{name}#{i}: no BENCH-DONE:\n{}", run.output));
            }
            for line in run.output.lines().filter(|l| l.contains("RESULT-ERROR")) {
                println!("{name}#{i}: {line}");
            }
            for (figure, value) in figures(&run) {
                samples[side].entry(figure).or_default().push(value);
            }
        }
    }
    let med = |side: usize, name: &str| {
        samples[side].get(name).map_or(f64::NAN, |v| {
            let mut v = v.clone();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
    };
    println!();
    println!(
        "vs Linux ({}, {}, -m {memory}, median of {runs} boot(s)); ratio = ours / theirs (< 1: we are faster); req = device requests",
        machine.name(),
        qemu::default_accel().join(",")
    );
    println!(
        "{:<14} {:>10} {:>7} {:>10} {:>7} {:>8} {:>10} {:>8} {:>10} {:>8}",
        "step (ms)",
        "ours",
        "req",
        "erofs",
        "req",
        "ratio",
        "squashfs",
        "ratio",
        "erofs-lz4",
        "ratio"
    );
    for step in STEPS {
        let (ours, erofs, squash) = (med(0, step), med(1, step), med(2, step));
        let erofs_lz4 = med(3, step);
        let req = |side| {
            let r = med(side, &format!("{step}-requests"));
            if r.is_nan() {
                String::new()
            } else {
                format!("{r:.0}")
            }
        };
        println!(
            "{step:<14} {ours:>10.3} {:>7} {erofs:>10.3} {:>7} {:>7.2}x {squash:>10.3} {:>7.2}x {erofs_lz4:>10.3} {:>7.2}x",
            req(0),
            req(1),
            ours / erofs,
            ours / squash,
            ours / erofs_lz4
        );
    }
    println!(
        "(boot: QEMU start to the first line after the root mount, host clock; Linux's mount includes starting busybox mount; ours is the v3 LZ4 test image, so erofs-lz4 is the like-for-like column)"
    );
    Ok(())
}

/// Under TCG on a loaded host Linux's TSC calibration against the PIT
/// fails and boot stalls; TCG's TSC counts at the host's rate, so give
/// Linux that (from /proc/cpuinfo) as `tsc_early_khz=`.
fn tsc_words() -> String {
    let khz = fs::read_to_string("/proc/cpuinfo").ok().and_then(|info| {
        let mhz: f64 = info
            .lines()
            .find(|l| l.starts_with("cpu MHz"))?
            .split(':')
            .nth(1)?
            .trim()
            .parse()
            .ok()?;
        Some((mhz * 1000.0) as u64)
    });
    match khz {
        Some(khz) => format!(" tsc_early_khz={khz} tsc=reliable"),
        None => String::new(),
    }
}

fn linux_args(linux: &Linux, machine: Machine, memory: &str, disk: &Path, fs: &str) -> Vec<String> {
    [
        common_args(machine, memory),
        vec![
            "-kernel".into(),
            linux.vmlinuz.display().to_string(),
            "-initrd".into(),
            linux.initrd.display().to_string(),
            "-append".into(),
            format!(
                "console=ttyS0 quiet panic=-1 reboot=t{} benchfs={fs}",
                tsc_words()
            ),
        ],
        disk_args(machine, disk),
    ]
    .concat()
}
