//! The in-guest benchmark driver behind `tests/guest-bench.sh`.
//!
//! Builds the test image and the kernel, boots `bench` on microvm and q35
//! (several runs each, the median is shown), and prints each figure with
//! the virtio requests it sent. Ratios only ever compare figures of the
//! same boots (warm / cold, ramfs-read / memcpy); no figure typed in. The
//! 256 MiB ramfs-versus-memcpy figures come from their own boots
//! (`bench.only=ramfs`, `-m 1G`). Then reports the stripped kernel size and the
//! smallest `-m` that boots the test image. Last, the verified root: the
//! image with a dm-verity tree booted with and without `rofs.roothash=`,
//! alternating, on the first machine; each figure's ratio verified /
//! unverified comes from the same run, and the guest's per-block hash cost
//! from the bench's `verity-*` lines.
//!
//! Options: `--runs N` (default 3), `--machine microvm|q35` (default both),
//! `--verity-only` (just the verified-root comparison), `--no-verity`,
//! `--share` (only virtio-fs: virtiofsd `cache=none`, or the mode
//! `--share-cache none|auto|always` names, on a temporary
//! directory per boot, `bench bench.share=share`, its figures and the
//! in-guest ratios against ROFS over virtio-blk from the same boot).
//! `--vs-linux` (only the comparison with Linux on EROFS, SquashFS and EROFS-LZ4, on
//! the first machine: [`tests::vs_linux`]).
//! `GUEST_ACCEL=tcg` forces TCG (see `tests::qemu::default_accel`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use tests::guest_image::{self, GuestImage, ImageSpec};
use tests::guest_verity;
use tests::qemu::{self, Boot, Machine, status};
use tests::virtiofsd::Virtiofsd;

/// Figures in print order: (name, unit).
const FIGURES: &[(&str, &str)] = &[
    ("boot", "ms"),
    ("mount", "ms"),
    ("walk-cold", "ms"),
    ("walk-warm", "ms"),
    ("big-cold", "ms"),
    ("big-cold-mibps", "MiB/s"),
    ("big-warm", "ms"),
    ("big-warm-mibps", "MiB/s"),
    ("readall-cold", "ms"),
    ("readall-cold-mibps", "MiB/s"),
    ("readall-warm", "ms"),
    ("small-cold", "ms"),
    ("small-warm", "ms"),
    ("random-cold", "ms"),
    ("random-warm", "ms"),
    ("lru-scan", "ms"),
    ("lru-hot-reread", "ms"),
];

/// Figures of the `bench.only=ramfs` boots (256 MiB into 256 MiB).
const RAMFS_FIGURES: &[(&str, &str)] = &[
    ("memcpy", "ms"),
    ("memcpy-mibps", "MiB/s"),
    ("ramfs-write", "ms"),
    ("ramfs-write-mibps", "MiB/s"),
    ("ramfs-read", "ms"),
    ("ramfs-read-mibps", "MiB/s"),
];

/// Same-run ratios printed under the table: (label, numerator, denominator).
const RATIOS: &[(&str, &str, &str)] = &[
    ("walk warm / cold", "walk-warm", "walk-cold"),
    ("readall warm / cold", "readall-warm", "readall-cold"),
    ("small warm / cold", "small-warm", "small-cold"),
    ("random warm / cold", "random-warm", "random-cold"),
    ("ramfs-read / memcpy", "ramfs-read", "memcpy"),
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("guest-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut runs = 3usize;
    let mut machines = vec![Machine::Microvm, Machine::Q35];
    let (mut verity, mut verity_only, mut share_only, mut vs_linux) = (true, false, false, false);
    let mut share_cache = "none".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--runs needs a number")?
            }
            "--machine" => {
                machines = match args.next().as_deref() {
                    Some("microvm") => vec![Machine::Microvm],
                    Some("q35") => vec![Machine::Q35],
                    _ => return Err("--machine needs microvm or q35".into()),
                }
            }
            "--verity-only" => verity_only = true,
            "--vs-linux" => vs_linux = true,
            "--no-verity" => verity = false,
            "--share" => share_only = true,
            "--share-cache" => {
                share_cache = match args.next().as_deref() {
                    Some(mode @ ("none" | "auto" | "always")) => mode.to_string(),
                    _ => return Err("--share-cache needs none, auto or always".into()),
                };
                share_only = true;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    qemu::check_qemu()?;
    println!("building the test image and the kernel ...");
    let spec = ImageSpec::full();
    let image = guest_image::build_cached(&spec, &guest_image::default_cache_dir())?;
    let kernel = qemu::build_kernel()?;
    println!(
        "image {} ({:.1} MiB), kernel {}",
        image.path.display(),
        image.size as f64 / 1048576.0,
        kernel.display()
    );
    println!("accelerators: {}", qemu::default_accel().join(", "));
    if verity_only {
        return verity_comparison(&kernel, &image, machines[0], runs);
    }
    if share_only {
        return share_comparison(&kernel, &image, &machines, runs, &share_cache);
    }
    if vs_linux {
        let work = guest_image::default_cache_dir().join("vs-linux");
        return tests::vs_linux::run(&kernel, &image.path, &work, machines[0], runs);
    }

    // table[figure][machine]: medians.
    let mut table: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut host_ms: Vec<Vec<f64>> = Vec::new();
    for &machine in &machines {
        let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut walls = Vec::new();
        for run in 0..runs {
            // The root figures in 256M; the 256 MiB ramfs/memcpy figures
            // need three such buffers, so they get their own boot.
            for (label, memory, cmdline) in [
                ("", "256M", "bench"),
                ("-ramfs", "1G", "bench bench.only=ramfs bench.ramfs=256M"),
            ] {
                let mut boot = Boot::new(
                    &format!("{}{label}#{run}", machine.name()),
                    machine,
                    &kernel,
                    Some(&image.path),
                    cmdline,
                );
                boot.memory = memory.into();
                boot.timeout = Duration::from_secs(300);
                boot.stream = false;
                let (figures, wall) = bench_boot(&boot, "BENCH-DONE")?;
                for (name, value) in figures {
                    samples.entry(name).or_default().push(value);
                }
                if label.is_empty() {
                    walls.push(wall);
                }
            }
        }
        for (name, _) in FIGURES.iter().chain(RAMFS_FIGURES) {
            for key in [name.to_string(), format!("{name}-requests")] {
                table
                    .entry(key.clone())
                    .or_default()
                    .push(samples.get(&key).map(|v| median(v)).unwrap_or(f64::NAN));
            }
        }
        for (_, top, bottom) in RATIOS {
            let ratios: Vec<f64> = samples
                .get(*top)
                .zip(samples.get(*bottom))
                .map(|(t, b)| t.iter().zip(b).map(|(t, b)| t / b).collect())
                .unwrap_or_default();
            table
                .entry(format!("{top}/{bottom}"))
                .or_default()
                .push(median(&ratios));
        }
        host_ms.push(walls);
    }

    println!();
    println!(
        "In-guest benchmark, median of {runs} boot(s) each; requests = virtio requests of the step"
    );
    let header: Vec<String> = machines
        .iter()
        .map(|m| format!("{:>12}{:>10}", m.name(), "requests"))
        .collect();
    println!("{:<20} {} {:>8}", "figure", header.join(""), "unit");
    for (name, unit) in FIGURES.iter().chain(RAMFS_FIGURES) {
        let values = &table[*name];
        let requests = &table[&format!("{name}-requests")];
        let cells: Vec<String> = values
            .iter()
            .zip(requests)
            .map(|(v, r)| {
                let r = if r.is_nan() {
                    String::new()
                } else {
                    format!("{r:.0}")
                };
                format!("{v:>12.3}{r:>10}")
            })
            .collect();
        println!("{name:<20} {} {unit:>8}", cells.join(""));
    }
    let walls: Vec<String> = host_ms
        .iter()
        .map(|w| format!("{:>12.0}{:>10}", median(w), ""))
        .collect();
    println!(
        "{:<20} {} {:>8}",
        "qemu-start-to-exit",
        walls.join(""),
        "ms"
    );
    println!("same-run ratios (median over boots of the per-boot ratio):");
    for (label, top, bottom) in RATIOS {
        let cells: Vec<String> = table[&format!("{top}/{bottom}")]
            .iter()
            .map(|r| format!("{r:>11.3}x{:>10}", ""))
            .collect();
        println!("{label:<20} {}", cells.join(""));
    }
    println!(
        "(big = {} MiB; random = 2048 4 KiB preads of it; lru = the 64 smallest files after a 64 KiB-read pass over it; ramfs/memcpy = 256 MiB into 256 MiB)",
        spec.big_bytes >> 20
    );
    println!("Linux on the same QEMU and tree: tests/guest-bench.sh --vs-linux");

    println!();
    report_kernel_size(&kernel);
    smallest_memory(&kernel, &image.path)?;
    if verity {
        verity_comparison(&kernel, &image, machines[0], runs)?;
    }
    Ok(())
}

/// Figures of the virtio-fs comparison, in print order: (name, unit).
const SHARE_FIGURES: &[(&str, &str)] = &[
    ("share-write-mibps", "MiB/s"),
    ("share-read-mibps", "MiB/s"),
    ("share-read-warm-mibps", "MiB/s"),
    ("share-read-warm/share-read", "x"),
    ("big-cold-mibps", "MiB/s"),
    ("share-read/big-cold", "x"),
    ("share-write/big-cold", "x"),
    ("share-create-ns-per-entry", "ns"),
    ("share-walk-ns-per-entry", "ns"),
    ("walk-cold-ns-per-entry", "ns"),
    ("share-walk/walk-cold-per-entry", "x"),
    ("share-readall-ns-per-entry", "ns"),
    ("readall-cold-ns-per-entry", "ns"),
    ("share-readall/readall-cold-per-entry", "x"),
    ("share-requests", "msgs"),
];

/// `bench bench.share=share` with a fresh virtiofsd per boot (it serves
/// one connection), `runs` times per machine; medians of the figures.
fn share_comparison(
    kernel: &Path,
    image: &GuestImage,
    machines: &[Machine],
    runs: usize,
    cache: &str,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("guest-bench-share-{}", std::process::id()));
    let share = dir.join("share");
    std::fs::create_dir_all(&share).map_err(|e| format!("create {}: {e}", share.display()))?;
    let mut columns = Vec::new();
    for &machine in machines {
        let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for run in 0..runs {
            let daemon = Virtiofsd::start_with_cache(&share, &dir.join("vfs.sock"), cache)?;
            let mut boot = Boot::new(
                &format!("share-{}#{run}", machine.name()),
                machine,
                kernel,
                Some(&image.path),
                "bench bench.share=share",
            );
            boot.memory = "256M".into();
            boot.timeout = Duration::from_secs(600);
            boot.stream = false;
            boot.shares = vec![("share".into(), daemon.socket().to_path_buf())];
            let figures = bench_boot(&boot, "RATE share-read-mibps").map_err(|e| {
                format!(
                    "{e}
virtiofsd: {}",
                    daemon.output()
                )
            })?;
            for (name, value) in figures.0 {
                samples.entry(name).or_default().push(value);
            }
        }
        columns.push(samples);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!();
    println!(
        "virtio-fs (virtiofsd -o cache={cache}), median of {runs} boot(s); ratios from the same boot"
    );
    let names: Vec<String> = machines
        .iter()
        .map(|m| format!("{:>12}", m.name()))
        .collect();
    println!("{:<38} {} {:>6}", "figure", names.join(""), "unit");
    for (name, unit) in SHARE_FIGURES {
        let values: Vec<String> = columns
            .iter()
            .map(|c| {
                format!(
                    "{:>12.2}",
                    c.get(*name).map(|v| median(v)).unwrap_or(f64::NAN)
                )
            })
            .collect();
        println!("{name:<38} {} {unit:>6}", values.join(""));
    }
    Ok(())
}

/// Figures of the verified-root comparison, in print order.
const VERITY_FIGURES: &[&str] = &[
    "mount",
    "walk-cold",
    "walk-warm",
    "big-cold",
    "big-warm",
    "readall-cold",
    "readall-warm",
];

/// One `bench` boot's `RESULT`/`RATE` figures and `INFO` numbers by name,
/// and its QEMU start-to-exit time in ms (host clock).
fn bench_boot(boot: &Boot, must_say: &str) -> Result<(BTreeMap<String, f64>, f64), String> {
    let outcome = qemu::boot(boot)?;
    if outcome.status != Some(status::SUCCESS)
        || !outcome.output.contains("BENCH-DONE")
        || !outcome.output.contains(must_say)
    {
        return Err(format!(
            "{}: {} (expected {must_say:?})\n{}",
            boot.name,
            outcome.describe(),
            outcome.output
        ));
    }
    for line in outcome
        .output
        .lines()
        .filter(|l| l.starts_with("RESULT-ERROR"))
    {
        println!("{}: {line}", boot.name);
    }
    let mut figures: BTreeMap<String, f64> =
        qemu::parse_results(&outcome.output).into_iter().collect();
    for line in outcome.output.lines() {
        let mut words = line.split_whitespace();
        if let (Some("INFO" | "RATIO"), Some(name), Some(value)) =
            (words.next(), words.next(), words.next())
            && let Ok(value) = value.parse()
        {
            figures.insert(name.to_string(), value);
        }
    }
    Ok((figures, outcome.elapsed.as_secs_f64() * 1000.0))
}

/// The test image with a tree, booted `bench` without and with
/// `rofs.roothash=` (alternating, `runs` times each) on `machine`.
fn verity_comparison(
    kernel: &Path,
    image: &GuestImage,
    machine: Machine,
    runs: usize,
) -> Result<(), String> {
    let verified = guest_verity::verified_cached(image, &guest_image::default_cache_dir())?;
    println!();
    println!(
        "Verified root: {} with a dm-verity tree, on {}, {runs} boot(s) each way",
        verified.image.path.display(),
        machine.name()
    );
    let modes = [
        ("unverified", "bench".to_string(), "mounted unverified"),
        (
            "verified",
            format!("bench rofs.roothash={}", verified.root_hex()),
            "vblk0: verifying",
        ),
    ];
    // samples[mode][figure]
    let mut samples: [BTreeMap<String, Vec<f64>>; 2] = Default::default();
    for run in 0..runs {
        for (mode, (label, cmdline, must_say)) in modes.iter().enumerate() {
            let mut boot = Boot::new(
                &format!("{label}#{run}"),
                machine,
                kernel,
                Some(&verified.image.path),
                cmdline,
            );
            boot.memory = "256M".into();
            boot.timeout = Duration::from_secs(600);
            boot.stream = false;
            let (mut figures, _) = bench_boot(&boot, must_say)?;
            // The whole tree's file data: the big file plus every other file.
            for temp in ["cold", "warm"] {
                let (big, rest) = (
                    figures.get(&format!("big-{temp}")),
                    figures.get(&format!("readall-{temp}")),
                );
                if let (Some(big), Some(rest)) = (big, rest) {
                    let sum = big + rest;
                    figures.insert(format!("tree-{temp}"), sum);
                }
            }
            for (name, value) in figures {
                samples[mode].entry(name).or_default().push(value);
            }
        }
    }
    let med = |mode: usize, name: &str| samples[mode].get(name).map_or(f64::NAN, |v| median(v));
    // The machine is shared: the range of each figure shows the noise.
    let range = |mode: usize, name: &str| {
        let values = samples[mode].get(name).map(Vec::as_slice).unwrap_or(&[]);
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{low:.1}..{high:.1}")
    };
    println!(
        "{:<14} {:>11} {:>11} {:>8}   {:<32} ratio = verified / unverified (medians, same run)",
        "figure (ms)", "unverified", "verified", "ratio", "range unverified | verified"
    );
    let row = |name: &str, goal: &str| {
        let (plain, checked) = (med(0, name), med(1, name));
        let spread = format!("{} | {}", range(0, name), range(1, name));
        println!(
            "{name:<14} {plain:>11.3} {checked:>11.3} {:>7.2}x   {spread:<32} {goal}",
            checked / plain
        );
    };
    for name in VERITY_FIGURES {
        row(name, "");
    }
    row("tree-cold", "big-cold + readall-cold; goal <= 1.30x");
    row("tree-warm", "big-warm + readall-warm; goal <= 1.05x");

    let blocks = med(1, "verity-blocks");
    println!(
        "per-block verification in the guest: {:.1} us per 4 KiB block ({blocks:.0} blocks from memory: plain {:.3} ms, verified {:.3} ms)",
        med(1, "verity-ns-per-block") / 1000.0,
        med(1, "verity-plain"),
        med(1, "verity-verified"),
    );
    let big_blocks = med(1, "big-cold-bytes") / 4096.0;
    println!(
        "implied by big-cold: (verified - unverified) / {big_blocks:.0} blocks = {:.1} us per block",
        (med(1, "big-cold") - med(0, "big-cold")) * 1000.0 / big_blocks
    );
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn report_kernel_size(kernel: &Path) {
    let built = std::fs::metadata(kernel).map(|m| m.len()).unwrap_or(0);
    // The release profile strips already; binutils strip shows whether anything is left.
    let stripped = std::env::temp_dir().join(format!("kernel-stripped-{}", std::process::id()));
    let strip_ok = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(kernel)
        .status()
        .is_ok_and(|s| s.success());
    match strip_ok
        .then(|| std::fs::metadata(&stripped).map(|m| m.len()).ok())
        .flatten()
    {
        Some(size) => println!(
            "kernel size: {built} bytes as built, {size} bytes after `strip` ({:.1} KiB)",
            size as f64 / 1024.0
        ),
        None => println!(
            "kernel size: {built} bytes as built (release profile strips; `strip` unavailable)"
        ),
    }
    let _ = std::fs::remove_file(&stripped);
}

/// Boot the test image with `run=poweroff` at descending memory sizes.
fn smallest_memory(kernel: &Path, image: &Path) -> Result<(), String> {
    let mut smallest = None;
    for memory in ["64M", "32M", "16M", "8M", "4M"] {
        let mut boot = Boot::new(
            &format!("mem-{memory}"),
            Machine::Microvm,
            kernel,
            Some(image),
            "run=poweroff",
        );
        boot.memory = memory.into();
        boot.timeout = Duration::from_secs(60);
        boot.stream = false;
        let outcome = qemu::boot(&boot)?;
        let ok = outcome.status == Some(status::SUCCESS);
        println!(
            "-m {memory:>4}: {}",
            if ok {
                "boots".to_string()
            } else {
                format!("fails ({})", outcome.describe())
            }
        );
        if ok {
            smallest = Some(memory);
        } else {
            break;
        }
    }
    match smallest {
        Some(memory) => println!("smallest -m that boots the test image (microvm): {memory}"),
        None => println!("the test image does not boot even with -m 64M"),
    }
    Ok(())
}
