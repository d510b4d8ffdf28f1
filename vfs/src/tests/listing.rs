//! `read_dir_with`: streaming listings that stop early, over backends that
//! report a directory in one call or in pieces through a handle.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::vfs;
use crate::*;

/// Names seen by `read_dir_with` until `keep` says stop, and how many
/// times the callback ran.
fn listing(v: &Vfs, path: &str, keep: usize) -> VfsResult<(Vec<String>, usize)> {
    let mut names = Vec::new();
    let mut calls = 0;
    v.read_dir_with(path, &mut |entry| {
        calls += 1;
        names.push(String::from(entry.name));
        names.len() < keep
    })?;
    Ok((names, calls))
}

#[test]
fn read_dir_with_streams_and_stops_early() {
    let v = vfs();
    v.mkdir("/d", 0o755).unwrap();
    for i in 0..10 {
        v.write_file(&alloc::format!("/d/f{i}"), b"").unwrap();
    }
    let all: Vec<String> = v
        .read_dir("/d")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(all.len(), 10);
    assert_eq!(listing(&v, "/d", usize::MAX).unwrap(), (all.clone(), 10));
    let (names, calls) = listing(&v, "/d", 3).unwrap();
    assert_eq!((names.as_slice(), calls), (&all[..3], 3));
    assert_eq!(listing(&v, "/d", 1).unwrap().1, 1);
    v.mkdir("/empty", 0o755).unwrap();
    assert_eq!(listing(&v, "/empty", usize::MAX).unwrap().1, 0);
    assert_eq!(listing(&v, "/d/f0", 1), Err(Errno::ENOTDIR));
    assert_eq!(listing(&v, "/nope", 1), Err(Errno::ENOENT));
}

/// Every path under `dir`, depth first, listing subdirectories from inside
/// the callback as `ls -R` does.
fn walk(v: &Vfs, dir: &str, out: &mut Vec<String>) -> VfsResult<()> {
    let mut result = Ok(());
    v.read_dir_with(dir, &mut |entry| {
        let path = alloc::format!("{}/{}", dir.trim_end_matches('/'), entry.name);
        out.push(path.clone());
        if let Err(e) = v.stat(&path) {
            result = Err(e);
        } else if entry.file_type == FileType::Directory {
            result = walk(v, &path, out);
        }
        result.is_ok()
    })?;
    result
}

#[test]
fn read_dir_with_callbacks_may_use_the_vfs() {
    let v = vfs();
    let mut expected = Vec::new();
    for a in 0..3 {
        let da = alloc::format!("/d{a}");
        v.mkdir(&da, 0o755).unwrap();
        expected.push(da.clone());
        for b in 0..3 {
            let db = alloc::format!("{da}/e{b}");
            v.mkdir(&db, 0o755).unwrap();
            expected.push(db.clone());
            let f = alloc::format!("{db}/f");
            v.write_file(&f, b"x").unwrap();
            expected.push(f);
        }
    }
    let mut seen = Vec::new();
    walk(&v, "/", &mut seen).unwrap();
    assert_eq!(seen, expected);
}

/// A directory listed only through the handle its `open` returns, two
/// entries per `readdir` call.
struct Chunked {
    names: Vec<String>,
    readdirs: Arc<AtomicUsize>,
}

struct ChunkedHandle {
    names: Vec<String>,
    readdirs: Arc<AtomicUsize>,
}

impl Inode for Chunked {
    fn ino(&self) -> InodeNo {
        1
    }
    fn file_type(&self) -> FileType {
        FileType::Directory
    }
    fn getattr(&self) -> VfsResult<Stat> {
        Ok(Stat {
            ino: 1,
            mode: FileType::Directory.mode_bits() | 0o755,
            nlink: 2,
            ..Stat::default()
        })
    }
    fn lookup(&self, _name: &str) -> VfsResult<Arc<dyn Inode>> {
        Err(Errno::ENOENT)
    }
    fn readdir(&self, _cookie: u64, _sink: &mut DirSink<'_>) -> VfsResult<()> {
        Err(Errno::EIO)
    }
    fn open(&self, _flags: OpenFlags) -> VfsResult<Option<Box<dyn FileHandle>>> {
        Ok(Some(Box::new(ChunkedHandle {
            names: self.names.clone(),
            readdirs: self.readdirs.clone(),
        })))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl FileHandle for ChunkedHandle {
    fn readdir(&self, _inode: &dyn Inode, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        self.readdirs.fetch_add(1, Ordering::Relaxed);
        let start = usize::try_from(cookie).unwrap();
        for (i, name) in self.names.iter().enumerate().skip(start).take(2) {
            let entry = DirEntryRef {
                ino: 10 + i as u64,
                file_type: FileType::Regular,
                name,
            };
            if !sink(entry, i as u64 + 1) {
                break;
            }
        }
        Ok(())
    }
}

struct ChunkedFs(Arc<Chunked>);

impl FileSystem for ChunkedFs {
    fn root(&self) -> VfsResult<Arc<dyn Inode>> {
        Ok(self.0.clone())
    }
    fn fs_type(&self) -> &'static str {
        "chunked"
    }
}

#[test]
fn read_dir_with_resumes_a_handle_that_reports_in_pieces() {
    let v = vfs();
    v.mkdir("/c", 0o755).unwrap();
    let names: Vec<String> = (0..7).map(|i| alloc::format!("n{i}")).collect();
    let readdirs = Arc::new(AtomicUsize::new(0));
    let dir = Arc::new(Chunked {
        names: names.clone(),
        readdirs: readdirs.clone(),
    });
    v.mount_fs(
        Arc::new(ChunkedFs(dir)),
        "none",
        "/c",
        MountFlags::empty(),
        "",
    )
    .unwrap();
    let count = || readdirs.swap(0, Ordering::Relaxed);

    assert_eq!(listing(&v, "/c", usize::MAX).unwrap(), (names.clone(), 7));
    assert_eq!(count(), 5, "four pieces, then one empty call ends it");
    // Stopping in the second piece asks for no third.
    let (first, calls) = listing(&v, "/c", 3).unwrap();
    assert_eq!((first.as_slice(), calls), (&names[..3], 3));
    assert_eq!(count(), 2);
    let collected: Vec<String> = v
        .read_dir("/c")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(collected, names);
}
