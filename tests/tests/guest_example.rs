//! The example of the README's first command, as a test: the image built
//! by `mkimage` from `tests/example/example.manifest`, booted on microvm in
//! `-m 2M` with the kernel `tests/boot-example.sh` boots (built without the
//! in-guest suites), runs `/etc/demo.sh` to the end. A kernel that grows
//! past what 2 MiB of guest memory holds fails here.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tests::qemu::{self, Boot, Machine, status};

/// The debug `mkimage` of this workspace (`cargo test --workspace` built it).
fn mkimage() -> PathBuf {
    let root = qemu::workspace_root();
    let out = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "mkimage", "--bin", "mkimage"])
        .current_dir(&root)
        .output()
        .expect("run cargo build -p mkimage");
    assert!(
        out.status.success(),
        "cargo build -p mkimage: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("debug/mkimage")
}

/// The example image, built into a file named after `name`.
fn example_image(name: &str) -> PathBuf {
    let root = qemu::workspace_root();
    let image = std::env::temp_dir().join(format!("{name}-{}.img", std::process::id()));
    let out = Command::new(mkimage())
        .arg("build")
        .arg("-m")
        .arg(root.join("tests/example/example.manifest"))
        .arg("-o")
        .arg(&image)
        .output()
        .expect("run mkimage");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    image
}

#[test]
fn qemu_the_example_runs_in_2_mib_with_the_lean_kernel() {
    qemu::check_qemu().expect("QEMU");
    let kernel = qemu::build_lean_kernel().expect("lean kernel");
    let image = example_image("example-2m");
    let mut boot = Boot::new(
        "example-2m",
        Machine::Microvm,
        &kernel,
        Some(&image),
        "run=/etc/demo.sh",
    );
    boot.memory = "2M".into();
    boot.timeout = Duration::from_secs(120);
    let outcome = qemu::boot(&boot).expect("boot");
    let _ = std::fs::remove_file(&image);
    let context = format!("{}\n{}", outcome.output, outcome.stderr);
    assert!(!outcome.output.contains("PANIC"), "{context}");
    assert_eq!(outcome.status, Some(status::SUCCESS), "{context}");
    for line in ["cat: /nope: ENOENT (No such file or directory)", "hello"] {
        assert!(
            outcome.output.lines().any(|l| l.trim_end() == line),
            "no line {line:?}\n{context}"
        );
    }
}

#[test]
fn qemu_the_lean_kernel_refuses_test_with_exit_code_5() {
    qemu::check_qemu().expect("QEMU");
    let kernel = qemu::build_lean_kernel().expect("lean kernel");
    let image = example_image("lean-test");
    let boot = Boot::new("lean-test", Machine::Microvm, &kernel, Some(&image), "test");
    let outcome = qemu::boot(&boot).expect("boot");
    let _ = std::fs::remove_file(&image);
    assert_eq!(
        outcome.status,
        Some(status::BAD_CMDLINE),
        "{}",
        outcome.output
    );
    assert!(
        outcome
            .output
            .contains("FATAL: `test`: this kernel was built without the in-guest suites"),
        "{}",
        outcome.output
    );
}
