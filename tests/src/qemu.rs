//! Build the kernel and boot it under QEMU.
//!
//! [`boot`] starts `qemu-system-x86_64` with the command lines agreed in the
//! kernel contract, streams the serial console line by line to stdout (each
//! line prefixed with the boot's name, so parallel boots stay readable),
//! collects it, and kills QEMU when the timeout passes.
//!
//! QEMU's exit status is `(v << 1) | 1` for a value `v` the kernel writes to
//! the isa-debug-exit port; status 0 means a triple fault, never success.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// QEMU exit statuses for the kernel's exit values (kernel contract).
pub mod status {
    /// Poweroff, or every in-guest test passed.
    pub const SUCCESS: i32 = 1;
    pub const TESTS_FAILED: i32 = 3;
    pub const NO_ROOT_DISK: i32 = 5;
    pub const ROOT_MOUNT_FAILED: i32 = 7;
    pub const PANIC: i32 = 9;
    pub const BAD_CMDLINE: i32 = 11;
    /// The root's `roothash=` verification refused the disk.
    pub const ROOT_VERIFY_FAILED: i32 = 13;
}

/// The two machine types the kernel supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    Q35,
    Microvm,
}

impl Machine {
    pub fn name(self) -> &'static str {
        match self {
            Machine::Q35 => "q35",
            Machine::Microvm => "microvm",
        }
    }

    /// `-machine` value and the virtio-blk device for the disk.
    pub fn args(self) -> (&'static str, &'static str) {
        match self {
            Machine::Q35 => ("q35", "virtio-blk-pci"),
            Machine::Microvm => ("microvm", "virtio-blk-device"),
        }
    }
}

/// The accelerators to ask for, in order: the comma-separated list in the
/// `GUEST_ACCEL` environment variable (`GUEST_ACCEL=tcg`, `GUEST_ACCEL=kvm,tcg`)
/// when set; otherwise `-accel kvm -accel tcg` (KVM when usable, else TCG),
/// except on hosts whose /dev/kvm is the paravirtual `kvm_pvm` module: there
/// the guest ran plain memory loops about 100x slower than under TCG
/// (measured: a 4 MiB u64 copy loop took 3.2 s with KVM, 39 ms with TCG), so
/// TCG alone is used.
pub fn default_accel() -> Vec<String> {
    match std::env::var("GUEST_ACCEL") {
        Ok(list) if !list.trim().is_empty() => {
            list.split(',').map(|a| a.trim().to_string()).collect()
        }
        _ if Path::new("/sys/module/kvm_pvm").exists() => vec!["tcg".to_string()],
        _ => vec!["kvm".to_string(), "tcg".to_string()],
    }
}

/// One boot.
#[derive(Clone, Debug)]
pub struct Boot {
    /// Prefix of each streamed console line.
    pub name: String,
    pub machine: Machine,
    pub kernel: PathBuf,
    /// The root disk, attached read-only; None boots without a disk.
    pub disk: Option<PathBuf>,
    /// More disks, attached read-only after it, in order (vblk1, ...).
    pub extra_disks: Vec<PathBuf>,
    pub cmdline: String,
    pub memory: String,
    /// Accelerators in order of preference (`-accel X` each); QEMU uses the
    /// first that works. Default: [`default_accel`].
    pub accel: Vec<String>,
    pub timeout: Duration,
    /// Print console lines as they arrive (the output is collected either way).
    pub stream: bool,
    /// virtio-fs devices: (tag, vhost-user socket of a running virtiofsd).
    /// With any, guest memory is a shared memfd of `memory`'s size, as
    /// vhost-user needs, and microvm's virtio-mmio is modern (virtiofsd
    /// refuses legacy devices).
    pub shares: Vec<(String, PathBuf)>,
    /// Keep microvm's virtio-mmio legacy even with shares: virtiofsd then
    /// exits during device setup, leaving a device nothing answers (the
    /// vanished-daemon test).
    pub legacy_mmio: bool,
}

impl Boot {
    pub fn new(
        name: &str,
        machine: Machine,
        kernel: &Path,
        disk: Option<&Path>,
        cmdline: &str,
    ) -> Boot {
        Boot {
            name: name.to_string(),
            machine,
            kernel: kernel.to_path_buf(),
            disk: disk.map(Path::to_path_buf),
            extra_disks: Vec::new(),
            cmdline: cmdline.to_string(),
            memory: "64M".to_string(),
            accel: default_accel(),
            timeout: Duration::from_secs(120),
            stream: true,
            shares: Vec::new(),
            legacy_mmio: false,
        }
    }

    /// The QEMU arguments (without the binary).
    pub fn args(&self) -> Vec<String> {
        let (_, blk) = self.machine.args();
        let mut args = machine_args(self.machine, &self.memory, &self.accel);
        args.extend(["-kernel".to_string(), self.kernel.display().to_string()]);
        args.extend(["-append".to_string(), self.cmdline.clone()]);
        for (i, disk) in self.disk.iter().chain(&self.extra_disks).enumerate() {
            args.push("-drive".to_string());
            args.push(format!(
                "file={},if=none,id=d{i},format=raw,readonly=on",
                disk.display()
            ));
            args.push("-device".to_string());
            args.push(format!("{blk},drive=d{i}"));
        }
        if !self.shares.is_empty() {
            args.extend(self.share_args());
        }
        args
    }

    /// The memory backend and the devices for [`Boot::shares`].
    fn share_args(&self) -> Vec<String> {
        let mut args = vec![
            "-object".to_string(),
            format!("memory-backend-memfd,id=mem,size={},share=on", self.memory),
            "-machine".to_string(),
            "memory-backend=mem".to_string(),
        ];
        let device = match self.machine {
            Machine::Q35 => "vhost-user-fs-pci",
            Machine::Microvm => {
                if !self.legacy_mmio {
                    args.push("-global".to_string());
                    args.push("virtio-mmio.force-legacy=false".to_string());
                }
                "vhost-user-fs-device"
            }
        };
        for (i, (tag, socket)) in self.shares.iter().enumerate() {
            args.push("-chardev".to_string());
            args.push(format!("socket,id=fs{i},path={}", socket.display()));
            args.push("-device".to_string());
            args.push(format!("{device},chardev=fs{i},tag={tag}"));
        }
        args
    }
}

/// What every boot here starts with, ours or Linux's: the machine, no
/// default devices, the serial console on stdio, the exit device, the
/// accelerators in order and the memory.
pub fn machine_args(machine: Machine, memory: &str, accel: &[String]) -> Vec<String> {
    let (machine, _) = machine.args();
    let mut args: Vec<String> = [
        "-nodefaults",
        "-no-reboot",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-cpu",
        "max",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-machine",
        machine,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for accel in accel {
        args.extend(["-accel".to_string(), accel.clone()]);
    }
    args.extend(["-m".to_string(), memory.to_string()]);
    args
}

/// How a boot ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// QEMU's exit status; None when it was killed (timeout) or died by a signal.
    pub status: Option<i32>,
    pub timed_out: bool,
    /// The serial console, `\r` removed.
    pub output: String,
    /// QEMU's own stderr (warnings, errors).
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    /// A one-line description for assertion messages.
    pub fn describe(&self) -> String {
        let status = match (self.timed_out, self.status) {
            (true, _) => "timed out (killed)".to_string(),
            (false, Some(code)) => format!("exit status {code}"),
            (false, None) => "killed by a signal".to_string(),
        };
        let stderr = self.stderr.trim();
        if stderr.is_empty() {
            format!("{status} after {:.1} s", self.elapsed.as_secs_f64())
        } else {
            format!(
                "{status} after {:.1} s; qemu stderr: {stderr}",
                self.elapsed.as_secs_f64()
            )
        }
    }
}

/// Whether QEMU is installed; the error says how to install it.
pub fn check_qemu() -> Result<(), String> {
    match Command::new(QEMU)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!(
            "`{QEMU} --version` failed ({s}); run tests/setup.sh to install QEMU"
        )),
        Err(e) => Err(format!(
            "{QEMU} is not installed ({e}); run tests/setup.sh (or apt-get install qemu-system-x86)"
        )),
    }
}

/// Run QEMU for `boot` and wait for it (at most `boot.timeout`).
pub fn boot(boot: &Boot) -> Result<Outcome, String> {
    let start = Instant::now();
    let mut child = Command::new(QEMU)
        .args(boot.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start {QEMU}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let mut stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let (name, stream) = (boot.name.clone(), boot.stream);
    // Reader threads inherit the test's output capture, so streamed lines
    // show with --nocapture and in a failed test's output.
    let console = thread::spawn(move || {
        let mut output = String::new();
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line).replace('\r', "");
            if stream {
                print!("[{name}] {}", text);
                if !text.ends_with('\n') {
                    println!();
                }
            }
            output.push_str(&text);
            line.clear();
        }
        output
    });
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (status, timed_out) = wait_with_timeout(&mut child, boot.timeout)?;
    let output = console.join().unwrap_or_default();
    let stderr = errors.join().unwrap_or_default();
    Ok(Outcome {
        status,
        timed_out,
        output,
        stderr,
        elapsed: start.elapsed(),
    })
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Result<(Option<i32>, bool), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("wait for qemu: {e}"))?
        {
            return Ok((status.code(), false));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok((None, true));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Path of the release kernel ELF that `cargo build --release` in kernel/ makes.
pub fn kernel_path() -> PathBuf {
    workspace_root().join("kernel/target/x86_64-unikernel/release/kernel")
}

/// Build the kernel (`cd kernel && cargo build --release`) once per process;
/// cargo itself skips the work when nothing changed.
pub fn build_kernel() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(|| build_kernel_now(false)).clone()
}

/// Path of the kernel without the in-guest suites (`--no-default-features`),
/// built into its own target dir so the two builds never replace each other.
pub fn lean_kernel_path() -> PathBuf {
    workspace_root().join("kernel/target/lean/x86_64-unikernel/release/kernel")
}

/// Build the lean kernel (what `tests/boot-example.sh` boots) once per process.
pub fn build_lean_kernel() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(|| build_kernel_now(true)).clone()
}

fn build_kernel_now(lean: bool) -> Result<PathBuf, String> {
    let dir = workspace_root().join("kernel");
    let mut command = Command::new("cargo");
    command.args(["build", "--release"]).current_dir(&dir);
    // This process may run under cargo (cargo test) with settings meant for
    // the host crates; the kernel build must use kernel/.cargo/config.toml,
    // kernel/target and the toolchain file only.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTDOC",
        "CARGO_MANIFEST_DIR",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_PKG_NAME",
        "RUSTUP_TOOLCHAIN",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_TARGET_TMPDIR",
    ] {
        command.env_remove(var);
    }
    if lean {
        command
            .arg("--no-default-features")
            .env("CARGO_TARGET_DIR", dir.join("target/lean"));
    }
    let output = command
        .output()
        .map_err(|e| format!("run cargo build in {}: {e}", dir.display()))?;
    if !output.status.success() {
        return Err(format!(
            "kernel build failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let kernel = if lean {
        lean_kernel_path()
    } else {
        kernel_path()
    };
    if !kernel.is_file() {
        return Err(format!(
            "kernel build succeeded but {} is missing",
            kernel.display()
        ));
    }
    Ok(kernel)
}

/// The `RESULT name milliseconds` and `RATE name MiB/s` lines of a benchmark
/// run, in order.
pub fn parse_results(output: &str) -> Vec<(String, f64)> {
    output
        .lines()
        .filter_map(|line| {
            let figure = line
                .strip_prefix("RESULT ")
                .or_else(|| line.strip_prefix("RATE "))?;
            let mut words = figure.split_whitespace();
            let (name, value) = (words.next()?, words.next()?);
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The `N passed, N failed` summary line of a selftest run, if exactly one.
pub fn parse_summary(output: &str) -> Option<(u32, u32)> {
    let mut found = output.lines().filter_map(|line| {
        let (passed, failed) = line.trim().split_once(" passed, ")?;
        Some((
            passed.parse().ok()?,
            failed.strip_suffix(" failed")?.parse().ok()?,
        ))
    });
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_needs_exactly_one_well_formed_line() {
        assert_eq!(
            parse_summary("PASS a\n12 passed, 0 failed\n"),
            Some((12, 0))
        );
        assert_eq!(parse_summary("3 passed, 2 failed\r\n"), Some((3, 2)));
        assert_eq!(parse_summary("PASS a\n"), None);
        assert_eq!(
            parse_summary("1 passed, 0 failed\n1 passed, 0 failed\n"),
            None
        );
        assert_eq!(parse_summary("x passed, 0 failed\n"), None);
        assert_eq!(parse_summary("1 passed, 0 failed!\n"), None);
    }

    #[test]
    fn results_parse_names_and_values() {
        let out = "BENCH-INIT\nRESULT boot 12.345\nRATE big-cold-mibps 900.1\nRESULT-ERROR x: EIO\nRESULT bad\n";
        assert_eq!(
            parse_results(out),
            vec![
                ("boot".to_string(), 12.345),
                ("big-cold-mibps".to_string(), 900.1)
            ]
        );
    }

    #[test]
    fn args_follow_the_contract() {
        let boot = Boot::new(
            "t",
            Machine::Microvm,
            Path::new("/k"),
            Some(Path::new("/d.img")),
            "test x",
        );
        let args = boot.args().join(" ");
        assert!(args.contains("-machine microvm"), "{args}");
        assert!(
            args.contains("-device virtio-blk-device,drive=d0"),
            "{args}"
        );
        assert!(
            args.contains("file=/d.img,if=none,id=d0,format=raw,readonly=on"),
            "{args}"
        );
        assert!(args.contains("-accel tcg"), "{args}");
        assert!(args.contains("-append test x") || boot.args().contains(&"test x".to_string()));
        let mut more = boot.clone();
        more.extra_disks = vec![PathBuf::from("/e.img")];
        let args = more.args().join(" ");
        assert!(args.contains("file=/d.img,if=none,id=d0,"), "{args}");
        assert!(
            args.contains("file=/e.img,if=none,id=d1,format=raw,readonly=on -device virtio-blk-device,drive=d1"),
            "{args}"
        );
        let none = Boot::new("t", Machine::Q35, Path::new("/k"), None, "");
        assert!(!none.args().iter().any(|a| a.contains("drive")));
        assert!(none.args().join(" ").contains("-machine q35"));
    }

    #[test]
    fn timeout_kills_the_process() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep");
        let started = Instant::now();
        let (status, timed_out) =
            wait_with_timeout(&mut child, Duration::from_millis(100)).expect("wait");
        assert!(timed_out);
        assert_eq!(status, None);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
