//! Runs `tests/vfs-fuse-compare.sh` against the `vfs-fuse` binary: ordinary
//! programs (cp -a, tar -x, mv, ln, chmod, rm -r, writes, permission checks
//! as an unprivileged user) on our VFS through FUSE and on tmpfs must give
//! the same trees; and `tests/vfs-fuse-overlay-compare.sh`: cp -a, mv,
//! rm -r and other changes of image files through `vfs-fuse --image IMG
//! --overlay` and through Linux overlayfs over the same tree must give the
//! same trees. The scripts themselves say when they skip (no /dev/fuse, or
//! not root).

use std::process::Command;

fn run_script(name: &str) {
    let script = format!("{}/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_vfs-fuse"))
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed:\n{text}");
    assert!(
        text.contains(" passed, 0 failed") || text.starts_with("skipped:"),
        "{text}"
    );
}

#[test]
fn vfs_fuse_matches_tmpfs() {
    run_script("vfs-fuse-compare.sh");
}

#[test]
fn vfs_fuse_overlay_matches_linux_overlayfs() {
    // The script builds mkimage (cargo) to make the image.
    run_script("vfs-fuse-overlay-compare.sh");
}
