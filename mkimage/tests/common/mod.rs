//! Helpers shared by the tree, tar and mount tests: running the binary,
//! generating a host tree with every kind of object, and comparing two
//! trees entry by entry (type, mode, owner, time, links, data).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps};

pub fn mkimage(args: &[&str], epoch: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mkimage"));
    cmd.args(args).stdin(Stdio::null());
    match epoch {
        Some(e) => cmd.env("SOURCE_DATE_EPOCH", e),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    cmd.output().expect("run mkimage")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ok(args: &[&str]) -> Output {
    let out = mkimage(args, None);
    assert!(
        out.status.success(),
        "mkimage {args:?} failed: {}",
        stderr(&out)
    );
    out
}

/// Run and require a clean failure (exit 1, no panic); returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = mkimage(args, None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "mkimage {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Set a path's times (not following symlinks) to `sec`.`nsec`.
pub fn set_time(path: &Path, sec: i64, nsec: i64) {
    let t = Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).expect("utimensat");
}

pub fn chown(path: &Path, uid: u32, gid: u32) {
    rustix::fs::chownat(
        CWD,
        path,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .expect("chown");
}

fn chmod(path: &Path, mode: u32) {
    rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(mode)).expect("chmod");
}

fn write(path: &Path, data: &[u8]) {
    fs::write(path, data).expect("write");
}

/// A host tree with every object kind formats v1/v2 can hold: files with
/// odd modes (setuid, setgid, sticky, 0000), owners (when root), hard links
/// (three names, across directories), empty directories, relative,
/// absolute, dangling and directory symlinks, unicode and 255-byte names,
/// and nanosecond times on everything. Times are set last, innermost first.
pub fn every_kind_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/empty")).expect("mkdir");
    fs::create_dir_all(root.join("usr/lib/deep/deeper")).expect("mkdir");
    fs::create_dir_all(root.join("sticky")).expect("mkdir");
    fs::create_dir_all(root.join("ünïcødé")).expect("mkdir");
    write(&root.join("etc/hostname"), b"guest\n");
    write(&root.join("etc/shadow"), b"root:*:0:0\n");
    write(&root.join("usr/lib/libfoo.so"), &vec![0x5a; 10_000]);
    write(
        &root.join("usr/lib/deep/deeper/data"),
        &(0..70_000u32).map(|i| i as u8).collect::<Vec<_>>(),
    );
    write(&root.join("usr/lib/empty-file"), b"");
    write(&root.join("usr/lib/setuid"), b"#!/bin/sh\n");
    write(&root.join("usr/lib/setgid"), b"g");
    write(&root.join("usr/lib/none"), b"no access");
    write(&root.join("ünïcødé/日本語.txt"), "こんにちは".as_bytes());
    write(&root.join("etc").join("n".repeat(255)), b"long name");
    // Hard links: three names, one in another directory.
    write(&root.join("usr/lib/linked"), b"shared inode");
    fs::hard_link(root.join("usr/lib/linked"), root.join("usr/lib/linked2")).expect("link");
    fs::hard_link(root.join("usr/lib/linked"), root.join("etc/linked3")).expect("link");
    // Same data, separate inode (deduplicated data, not a link).
    write(&root.join("etc/same-data"), b"shared inode");
    symlink("hostname", root.join("etc/rel-link")).expect("symlink");
    symlink("/etc/hostname", root.join("etc/abs-link")).expect("symlink");
    symlink("../nowhere/at/all", root.join("etc/dangling")).expect("symlink");
    symlink("usr/lib", root.join("lib")).expect("symlink");
    symlink("deep", root.join("usr/lib/dir-link")).expect("symlink");
    chmod(&root.join("usr/lib/setuid"), 0o4755);
    chmod(&root.join("usr/lib/setgid"), 0o2750);
    chmod(&root.join("usr/lib/none"), 0o000);
    chmod(&root.join("etc/shadow"), 0o600);
    chmod(&root.join("sticky"), 0o1777);
    chmod(&root.join("etc/empty"), 0o700);
    if is_root() {
        chown(&root.join("etc/shadow"), 0, 42);
        chown(&root.join("usr/lib/libfoo.so"), 1234, 5678);
        chown(&root.join("etc/rel-link"), 99, 98);
        chown(&root.join("sticky"), 7, 8);
        // chown clears setuid/setgid: set them again.
        chown(&root.join("usr/lib/setuid"), 1000, 1000);
        chmod(&root.join("usr/lib/setuid"), 0o4755);
    }
    // Times last, children before parents (writing a child moves its
    // directory's mtime). Each entry gets its own nanoseconds.
    let mut all = Vec::new();
    collect(root, &mut all);
    all.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
    for (i, path) in all.iter().enumerate() {
        set_time(
            path,
            1_600_000_000 + i as i64 * 1000,
            123_456_789 - i as i64,
        );
    }
    set_time(root, 1_500_000_000, 987_654_321);
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        out.push(path.clone());
        if fs::symlink_metadata(&path).expect("lstat").is_dir() {
            collect(&path, out);
        }
    }
}

/// One entry as the comparison sees it.
#[derive(Debug, PartialEq, Eq)]
pub struct Facts {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub nlink: u64,
    pub size: u64,
    pub link: Option<PathBuf>,
    pub data: Option<Vec<u8>>,
}

/// Which attributes [`compare_trees`] checks besides type, mode, links and data.
#[derive(Clone, Copy)]
pub struct Check {
    pub owners: bool,
    pub nsec: bool,
}

/// Every entry below `root` (relative path; "" is the root) with its facts.
pub fn facts(root: &Path, check: Check) -> BTreeMap<String, Facts> {
    let mut out = BTreeMap::new();
    facts_into(root, root, check, &mut out);
    out
}

fn facts_into(root: &Path, path: &Path, check: Check, out: &mut BTreeMap<String, Facts>) {
    let meta = fs::symlink_metadata(path).expect("lstat");
    let rel = path
        .strip_prefix(root)
        .expect("below root")
        .to_string_lossy()
        .into_owned();
    let kind = meta.file_type();
    let link = kind
        .is_symlink()
        .then(|| fs::read_link(path).expect("readlink"));
    let data = kind.is_file().then(|| fs::read(path).expect("read"));
    out.insert(
        rel,
        Facts {
            mode: meta.mode(),
            uid: if check.owners { meta.uid() } else { 0 },
            gid: if check.owners { meta.gid() } else { 0 },
            mtime: meta.mtime(),
            mtime_nsec: if check.nsec { meta.mtime_nsec() } else { 0 },
            nlink: meta.nlink(),
            size: if kind.is_dir() { 0 } else { meta.len() },
            link,
            data,
        },
    );
    if kind.is_dir() {
        for entry in fs::read_dir(path).expect("read_dir") {
            facts_into(root, &entry.expect("entry").path(), check, out);
        }
    }
}

/// `a` and `b` hold the same tree: `diff -r --no-dereference` finds no
/// difference, and every entry has the same type, mode, owner, mtime, link
/// count, link target and data.
pub fn compare_trees(a: &Path, b: &Path, check: Check) {
    let diff = Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(a)
        .arg(b)
        .output()
        .expect("run diff");
    assert!(
        diff.status.success(),
        "diff -r --no-dereference {} {}:\n{}{}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&diff.stdout),
        String::from_utf8_lossy(&diff.stderr)
    );
    let fa = facts(a, check);
    let fb = facts(b, check);
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "different names"
    );
    for (path, facts_a) in &fa {
        assert_eq!(Some(facts_a), fb.get(path), "entry '{path}' differs");
    }
}

/// Files of `root` that are hard links of each other have one inode.
pub fn same_inode(a: &Path, b: &Path) -> bool {
    fs::symlink_metadata(a).expect("lstat").ino() == fs::symlink_metadata(b).expect("lstat").ino()
}
