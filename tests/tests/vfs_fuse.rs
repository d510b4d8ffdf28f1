//! Runs `tests/vfs-fuse-compare.sh` against the `vfs-fuse` binary: ordinary
//! programs (cp -a, tar -x, mv, ln, chmod, rm -r, writes, permission checks
//! as an unprivileged user) on our VFS through FUSE and on tmpfs must give
//! the same trees. The script itself says when it skips (no /dev/fuse, or
//! not root).

use std::process::Command;

#[test]
fn vfs_fuse_matches_tmpfs() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/vfs-fuse-compare.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_vfs-fuse"))
        .output()
        .expect("run vfs-fuse-compare.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "vfs-fuse-compare.sh failed:\n{text}");
    assert!(
        text.contains(" passed, 0 failed") || text.starts_with("skipped:"),
        "{text}"
    );
}
