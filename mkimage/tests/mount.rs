//! `mkimage mount`: a walk through the FUSE mount point finds the same tree
//! as `mkimage extract` of the same image (names, types, modes, owners,
//! times, link counts, link targets, data), hard links share an inode
//! number, and SIGTERM or `umount` end the mount cleanly. Skipped, saying
//! why, only where `/dev/fuse` is missing.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tempfile::TempDir;

/// Generous: the machine may be busy with other builds.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(60);

fn fuse_available() -> bool {
    if Path::new("/dev/fuse").exists() {
        return true;
    }
    eprintln!("skipped: /dev/fuse is missing, so no FUSE mount can be made here");
    false
}

fn mounted(dir: &Path) -> bool {
    let dir = fs::canonicalize(dir).expect("canonical");
    let table = fs::read_to_string("/proc/self/mounts").expect("mounts");
    table
        .lines()
        .any(|line| line.split_whitespace().nth(1) == Some(dir.to_str().expect("utf-8")))
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < MOUNT_TIMEOUT,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn mount_walk_equals_extract() {
    if !fuse_available() {
        return;
    }
    let tmp = TempDir::new().expect("tempdir");
    let tree = tmp.path().join("tree");
    every_kind_tree(&tree);
    // A directory whose listing takes many FUSE readdir calls: each resumes
    // from the reader's cookie.
    fs::create_dir(tree.join("many")).expect("mkdir");
    for i in 0..3000 {
        fs::write(
            tree.join("many").join(format!("{i:05}-{}", "x".repeat(90))),
            b"",
        )
        .expect("write");
    }
    let image = tmp.path().join("t.img");
    ok(&["build", "--dir", p(&tree), "-o", p(&image)]);
    let extracted = tmp.path().join("extracted");
    ok(&["extract", p(&image), p(&extracted)]);
    let mnt = tmp.path().join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .args(["mount", p(&image), p(&mnt)])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn mount");
    wait_until("the mount", || mounted(&mnt));
    let result = std::panic::catch_unwind(|| {
        compare_trees(
            &extracted,
            &mnt,
            Check {
                owners: true,
                nsec: true,
            },
        );
        assert!(same_inode(
            &mnt.join("usr/lib/linked"),
            &mnt.join("etc/linked3")
        ));
        assert!(!same_inode(
            &mnt.join("usr/lib/linked"),
            &mnt.join("etc/same-data")
        ));
        assert_eq!(fs::read_dir(mnt.join("many")).expect("list").count(), 3000);
        let root = fs::metadata(&mnt).expect("stat root");
        assert_eq!(root.ino(), 1, "the image's root inode number");
        let sfs = rustix::fs::statfs(&mnt).expect("statfs");
        let image_len = fs::metadata(&image).expect("image").len();
        assert_eq!(sfs.f_blocks * sfs.f_bsize as u64, image_len);
        // Read-only: writes are refused.
        let err = fs::write(mnt.join("new"), b"x").expect_err("read-only");
        assert_eq!(err.raw_os_error(), Some(30), "EROFS, got {err}");
    });
    // SIGTERM unmounts and exits 0, whatever the checks said.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(exit.success(), "mount exited {exit}");
    assert!(!mounted(&mnt), "still mounted after SIGTERM");
}

#[test]
fn daemon_mount_ends_with_umount() {
    if !fuse_available() {
        return;
    }
    let tmp = TempDir::new().expect("tempdir");
    let tree = tmp.path().join("tree");
    fs::create_dir_all(tree.join("d")).expect("mkdir");
    fs::write(tree.join("d/f"), b"daemon data").expect("write");
    let image = tmp.path().join("d.img");
    ok(&["build", "--dir", p(&tree), "-o", p(&image)]);
    let mnt = tmp.path().join("mnt");
    fs::create_dir(&mnt).expect("mkdir");
    ok(&["mount", "--daemon", p(&image), p(&mnt)]);
    assert!(mounted(&mnt), "--daemon returned before mounting");
    let data = fs::read(mnt.join("d/f"));
    let umount = Command::new("umount").arg(&mnt).status().expect("umount");
    assert_eq!(data.expect("read through the mount"), b"daemon data");
    assert!(umount.success());
    wait_until("the unmount", || !mounted(&mnt));
    // A bad image fails before forking, naming the image.
    fs::write(tmp.path().join("bad.img"), b"not an image").expect("write");
    let err = fails(&["mount", "--daemon", p(&tmp.path().join("bad.img")), p(&mnt)]);
    assert!(err.contains("bad.img"), "{err}");
}
