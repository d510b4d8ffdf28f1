//! Helpers shared by the fs-rofs integration tests.
#![allow(dead_code)]

pub mod counting;
pub mod tables;

#[allow(unused_imports)] // Not every test binary counts requests.
pub use counting::CountingDisk;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use drivers::{BlockDevice, RamDisk};
use fs_rofs::RofsFs;
use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, Format, ImageBuilder, ImageSummary};
use vfs::{Errno, FileSystem, FileType, Inode, OpenFlags, VfsResult};

/// Build an image in memory.
pub fn write_image(builder: ImageBuilder) -> (Vec<u8>, ImageSummary) {
    let mut out = Cursor::new(Vec::new());
    let summary = builder
        .write(&mut out, &mut |_, _| {})
        .expect("write image");
    let bytes = out.into_inner();
    assert_eq!(
        bytes.len() as u64,
        summary.image_bytes,
        "summary matches the bytes written"
    );
    (bytes, summary)
}

pub fn options(format: Format, block_size: u32) -> BuildOptions {
    BuildOptions {
        format,
        block_size,
        default_mtime: 0,
    }
}

pub fn disk(bytes: Vec<u8>) -> Arc<dyn BlockDevice> {
    Arc::new(RamDisk::from_bytes(512, bytes))
}

pub fn mount(bytes: Vec<u8>) -> VfsResult<Arc<RofsFs>> {
    RofsFs::mount(disk(bytes), "")
}

/// Deterministic pseudo-random bytes (xorshift), different per seed.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What one path of a walked tree holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir { entries: usize },
    File { data: Vec<u8> },
    Symlink { target: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walked {
    pub ino: u64,
    pub stat: vfs::Stat,
    pub node: Node,
}

/// Limits that keep a walk of a hostile image finite.
pub struct Limits {
    pub max_depth: usize,
    pub max_entries: usize,
    pub max_file_bytes: u64,
    /// Read file contents (slow for big trees) or only their attributes.
    pub read_files: bool,
}

pub const SMALL_LIMITS: Limits = Limits {
    max_depth: 16,
    max_entries: 10_000,
    max_file_bytes: 1 << 20,
    read_files: true,
};
pub const BIG_LIMITS: Limits = Limits {
    max_depth: 64,
    max_entries: 100_000,
    max_file_bytes: 1 << 24,
    read_files: true,
};

/// Read `buf` at `offset` through `handle` (an open file), else the inode.
pub fn read_via(
    inode: &dyn Inode,
    handle: Option<&dyn vfs::FileHandle>,
    offset: u64,
    buf: &mut [u8],
) -> VfsResult<usize> {
    match handle {
        Some(handle) => handle.read_at(inode, offset, buf),
        None => inode.read_at(offset, buf),
    }
}

/// Read a whole file as an open file does (through its handle, so with
/// read-ahead), in `chunk`-sized reads.
pub fn read_all(inode: &dyn Inode, size: u64, chunk: usize) -> VfsResult<Vec<u8>> {
    let handle = inode.open(OpenFlags::O_RDONLY)?;
    let mut data = vec![0u8; size as usize];
    let mut done = 0usize;
    while done < data.len() {
        let end = (done + chunk).min(data.len());
        let n = read_via(inode, handle.as_deref(), done as u64, &mut data[done..end])?;
        if n == 0 {
            return Err(Errno::EIO);
        }
        done += n;
    }
    // At the end, reads return 0.
    let mut extra = [0u8; 8];
    if read_via(inode, handle.as_deref(), size, &mut extra)? != 0 {
        return Err(Errno::EIO);
    }
    Ok(data)
}

/// Walk the whole tree depth-first in readdir order, bounded by `limits`.
/// Returns (path, entry) in visit order.
pub fn walk(fs: &dyn FileSystem, limits: &Limits) -> VfsResult<Vec<(String, Walked)>> {
    let root = fs.root()?;
    let mut out = Vec::new();
    visit(&root, "/".to_string(), 0, limits, &mut out)?;
    Ok(out)
}

fn visit(
    inode: &Arc<dyn Inode>,
    path: String,
    depth: usize,
    limits: &Limits,
    out: &mut Vec<(String, Walked)>,
) -> VfsResult<()> {
    if out.len() >= limits.max_entries {
        return Err(Errno::E2BIG);
    }
    let stat = inode.getattr()?;
    let ino = inode.ino();
    if stat.ino != ino || stat.file_type() != Some(inode.file_type()) {
        return Err(Errno::EUCLEAN);
    }
    match inode.file_type() {
        FileType::Directory => {
            if depth >= limits.max_depth {
                return Err(Errno::ELOOP);
            }
            let mut children = Vec::new();
            inode.readdir(0, &mut |entry, _| {
                children.push(entry.to_entry());
                children.len() <= limits.max_entries
            })?;
            out.push((
                path.clone(),
                Walked {
                    ino,
                    stat,
                    node: Node::Dir {
                        entries: children.len(),
                    },
                },
            ));
            for entry in children {
                let child = inode.lookup(&entry.name)?;
                if child.ino() != entry.ino || child.file_type() != entry.file_type {
                    return Err(Errno::EUCLEAN);
                }
                let child_path = if path == "/" {
                    format!("/{}", entry.name)
                } else {
                    format!("{path}/{}", entry.name)
                };
                visit(&child, child_path, depth + 1, limits, out)?;
            }
        }
        FileType::Regular => {
            if stat.size > limits.max_file_bytes {
                return Err(Errno::EFBIG);
            }
            let data = if limits.read_files {
                read_all(&**inode, stat.size, 65536)?
            } else {
                Vec::new()
            };
            out.push((
                path,
                Walked {
                    ino,
                    stat,
                    node: Node::File { data },
                },
            ));
        }
        FileType::Symlink => {
            let target = inode.readlink()?;
            out.push((
                path,
                Walked {
                    ino,
                    stat,
                    node: Node::Symlink { target },
                },
            ));
        }
        _ => return Err(Errno::EUCLEAN),
    }
    Ok(())
}

/// Resolve an absolute path by `lookup` per component (no symlink following).
pub fn resolve(fs: &dyn FileSystem, path: &str) -> VfsResult<Arc<dyn Inode>> {
    let mut node = fs.root()?;
    for name in path.split('/').filter(|c| !c.is_empty()) {
        node = node.lookup(name)?;
    }
    Ok(node)
}

/// A small tree of every kind of entry, for the corruption sweep.
pub fn small_tree(format: Format, block_size: u32) -> Vec<u8> {
    let mut b = ImageBuilder::new(options(format, block_size));
    let meta = EntryMeta::default();
    b.add_file(
        "/etc/hostname",
        FileSource::Bytes(b"rofs-test\n".to_vec()),
        meta.clone(),
    )
    .unwrap();
    b.add_file("/etc/empty", FileSource::Bytes(Vec::new()), meta.clone())
        .unwrap();
    b.add_file(
        "/data/blob",
        FileSource::Bytes(pattern(1300, 7)),
        meta.clone(),
    )
    .unwrap();
    b.add_file(
        "/data/dup",
        FileSource::Bytes(pattern(1300, 7)),
        meta.clone(),
    )
    .unwrap();
    b.add_dir("/a/b/c", meta.clone()).unwrap();
    b.add_symlink("/a/b/c/up", "../../../etc/hostname", meta.clone())
        .unwrap();
    b.add_symlink("/loop", "/loop", meta.clone()).unwrap();
    b.add_hardlink("/a/hostname-link", "/etc/hostname").unwrap();
    b.add_file("/caf\u{e9}", FileSource::Bytes(b"x".to_vec()), meta)
        .unwrap();
    write_image(b).0
}

/// Map of path -> walked entry.
pub fn by_path(walked: Vec<(String, Walked)>) -> BTreeMap<String, Walked> {
    walked.into_iter().collect()
}
