//! The last overlay test: a walk of the whole root after every change.
//!
//! Each directory is read through `getdents` in small batches (so the
//! merged listing's cookies are used across calls); every name must come
//! once, no marker of the overlay may show (whiteouts, `.wh..wh.` names),
//! each entry's type and inode must match its `lstat`, no directory may be
//! reached twice (a loop), and the regular files found on the root mount
//! must be exactly the image's list with the suite's changes, sizes included.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use vfs::{FileType, OpenFlags, Vfs};

use super::Outcome;
use super::check::{ensure, equal, join, kind, ok, open, with_fd};
use super::facts::CrcEntry;
use super::overlay::Ledger;

/// Entries per `getdents` call: small, so listings take many calls.
const BATCH: usize = 7;
/// More entries than any directory of the image has: a listing that does
/// not end is a failure, not a hang.
const MAX_ENTRIES: usize = 1 << 20;

pub(super) fn walk(vfs: &Vfs, list: &[CrcEntry], ledger: &Ledger) -> Outcome {
    let root = ok(vfs.stat("/"), "stat /")?;
    let mut found: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen_dirs = BTreeSet::new();
    let mut pending = vec![String::from("/")];
    while let Some(dir) = pending.pop() {
        let dir_stat = ok(vfs.stat(&dir), &format!("stat {dir}"))?;
        ensure(seen_dirs.insert(dir_stat.ino), || {
            format!(
                "{dir}: directory inode {} reached twice (a loop)",
                dir_stat.ino
            )
        })?;
        for entry in listing(vfs, &dir)? {
            let path = join(&dir, &entry.name);
            ensure(!entry.name.starts_with(".wh."), || {
                format!("{path}: an overlay marker is visible")
            })?;
            let stat = ok(vfs.lstat(&path), &format!("lstat {path}"))?;
            if stat.dev != root.dev {
                continue; // a mount point such as /dev or /tmp
            }
            let what = kind(&stat);
            equal(
                what,
                Some(entry.file_type),
                &format!("{path}: lstat type vs dirent type"),
            )?;
            equal(
                stat.ino,
                entry.ino,
                &format!("{path}: lstat ino vs dirent ino"),
            )?;
            ensure(what != Some(FileType::CharDevice) || stat.rdev != 0, || {
                format!("{path}: a whiteout is visible")
            })?;
            match what {
                Some(FileType::Directory) => pending.push(path),
                Some(FileType::Regular) if path != "/crc32.list" => {
                    found.insert(path, stat.size);
                }
                _ => {}
            }
        }
    }
    let expected = ledger.expected(list);
    let mut problems: Vec<String> = Vec::new();
    for (path, size) in &expected {
        match found.get(path) {
            None => problems.push(format!("{path} missing")),
            Some(got) if got != size => {
                problems.push(format!("{path} size {got}, expected {size}"))
            }
            Some(_) => {}
        }
    }
    problems.extend(
        found
            .keys()
            .filter(|p| !expected.contains_key(*p))
            .map(|p| format!("{p} not expected")),
    );
    problems.truncate(4);
    ensure(problems.is_empty(), || problems.join("; "))?;
    ensure(found.len() == expected.len(), || {
        "file counts differ".into()
    })
}

/// The entries of `dir` without `.` and `..`, read in [`BATCH`]es; an
/// error for a name listed twice or a listing that does not end.
fn listing(vfs: &Vfs, dir: &str) -> Result<Vec<vfs::DirEntry>, String> {
    let fd = open(vfs, dir, OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY, 0)?;
    with_fd(vfs, fd, |fd| {
        let mut names = BTreeSet::new();
        let mut entries = Vec::new();
        loop {
            let batch = ok(vfs.getdents(fd, BATCH), &format!("getdents {dir}"))?;
            if batch.is_empty() {
                return Ok(entries);
            }
            for entry in batch {
                ensure(names.insert(entry.name.clone()), || {
                    format!("{dir}: {} listed twice", entry.name)
                })?;
                ensure(names.len() <= MAX_ENTRIES, || {
                    format!("{dir}: the listing does not end")
                })?;
                if entry.name != "." && entry.name != ".." {
                    entries.push(entry);
                }
            }
        }
    })
}
