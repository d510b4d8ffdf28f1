//! The in-guest benchmark driver behind `tests/guest-bench.sh`.
//!
//! Builds the test image and the kernel, boots `bench` on microvm and q35
//! (several runs each, the median is shown), and prints each figure next to
//! the Linux anchor figures from the issue as a ratio (anchor / ours: above 1
//! means we are faster). Then reports the stripped kernel size and the
//! smallest `-m` that boots the test image.
//!
//! Options: `--runs N` (default 3), `--machine microvm|q35` (default both).
//! `GUEST_ACCEL=tcg` forces TCG (see `tests::qemu::default_accel`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use tests::guest_image::{self, ImageSpec};
use tests::qemu::{self, Boot, Machine, status};

/// Linux 6.x under TCG on this machine kind (from the issue).
const LINUX_BOOT_MS: f64 = 1600.0;
const LINUX_MOUNT_MS: f64 = 10.0;
const LINUX_BIG_COLD_MS: f64 = 110.0;
const LINUX_BIG_COLD_MIBPS: f64 = 580.0;

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
    ("ramfs-write", "ms"),
    ("ramfs-write-mibps", "MiB/s"),
    ("ramfs-read", "ms"),
    ("ramfs-read-mibps", "MiB/s"),
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

    let mut table: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut host_ms: Vec<Vec<f64>> = Vec::new();
    for &machine in &machines {
        let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut walls = Vec::new();
        for run in 0..runs {
            let mut boot = Boot::new(
                &format!("{}#{run}", machine.name()),
                machine,
                &kernel,
                Some(&image.path),
                "bench",
            );
            boot.memory = "256M".into();
            boot.timeout = Duration::from_secs(300);
            boot.stream = false;
            let outcome = qemu::boot(&boot)?;
            if outcome.status != Some(status::SUCCESS) || !outcome.output.contains("BENCH-DONE") {
                return Err(format!(
                    "{}: {}\n{}",
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
            for (name, value) in qemu::parse_results(&outcome.output) {
                samples.entry(name).or_default().push(value);
            }
            walls.push(outcome.elapsed.as_secs_f64() * 1000.0);
        }
        for (name, _) in FIGURES {
            table
                .entry(name)
                .or_default()
                .push(samples.get(*name).map(|v| median(v)).unwrap_or(f64::NAN));
        }
        host_ms.push(walls);
    }

    println!();
    println!(
        "In-guest benchmark, median of {runs} boot(s) each; ratio = Linux anchor / ours (> 1: faster than Linux)"
    );
    let header: Vec<String> = machines
        .iter()
        .map(|m| format!("{:>12}", m.name()))
        .collect();
    println!(
        "{:<20} {} {:>8} {:>14}   ratio (per machine)",
        "figure",
        header.join(""),
        "unit",
        "Linux anchor"
    );
    for (name, unit) in FIGURES {
        let values = &table[name];
        let cells: Vec<String> = values.iter().map(|v| format!("{v:>12.3}")).collect();
        let anchor = match *name {
            "boot" => Some((LINUX_BOOT_MS, false)),
            "mount" => Some((LINUX_MOUNT_MS, false)),
            "big-cold" => Some((LINUX_BIG_COLD_MS, false)),
            "big-cold-mibps" => Some((LINUX_BIG_COLD_MIBPS, true)),
            _ => None,
        };
        let (anchor_text, ratios) = match anchor {
            Some((linux, higher_is_better)) => {
                let ratios: Vec<String> = values
                    .iter()
                    .map(|&ours| {
                        format!(
                            "{:.1}x",
                            if higher_is_better {
                                ours / linux
                            } else {
                                linux / ours
                            }
                        )
                    })
                    .collect();
                (format!("{linux:.0}"), ratios.join(" "))
            }
            None => (String::new(), String::new()),
        };
        println!(
            "{name:<20} {} {unit:>8} {anchor_text:>14}   {ratios}",
            cells.join("")
        );
    }
    let walls: Vec<String> = host_ms
        .iter()
        .map(|w| format!("{:>12.0}", median(w)))
        .collect();
    println!(
        "{:<20} {} {:>8}",
        "qemu-start-to-exit",
        walls.join(""),
        "ms"
    );
    println!(
        "(big = {} MiB; Linux anchors: Linux 6.x under TCG, boot to init, EROFS mount, cold 64 MiB read)",
        spec.big_bytes >> 20
    );

    println!();
    report_kernel_size(&kernel);
    smallest_memory(&kernel, &image.path)
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
