//! `inspect` (superblock facts) and `verify` (full structural and checksum
//! check) for host tools and the kernel's self-test.

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use drivers::BlockDevice;

use crate::error::RofsError;
use crate::format::{S_IFDIR, S_IFMT, S_IFREG};
use crate::fs::file_crc;
use crate::image::{Image, ROOT_INO, display_name};

/// What the superblock and tables of an image say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// 1 (OSv) or 2.
    pub version: u64,
    pub block_size: u32,
    pub compat: u32,
    pub incompat: u32,
    pub ro_compat: u32,
    pub inodes: u64,
    pub dirs: u64,
    pub files: u64,
    pub symlinks: u64,
    pub dirents: u64,
    /// Bytes of the on-disk metadata region.
    pub metadata_bytes: u64,
    /// Bytes of stored file data (v2: deduplicated extents; v1: sum of sizes).
    pub data_bytes: u64,
    /// Bytes the image occupies (v1: the device size, OSv records no total).
    pub image_bytes: u64,
    /// v2 only.
    pub metadata_crc32: Option<u32>,
    /// v2 only.
    pub superblock_crc32: Option<u32>,
}

/// Superblock facts and table counts of the image on `dev` (validated).
pub fn inspect(dev: &dyn BlockDevice) -> Result<ImageInfo, RofsError> {
    Ok(info(&Image::load(dev)?))
}

fn info(image: &Image) -> ImageInfo {
    ImageInfo {
        version: image.version,
        block_size: image.block_size,
        compat: image.compat,
        incompat: image.incompat,
        ro_compat: image.ro_compat,
        inodes: u64::from(image.inode_count),
        dirs: image.dir_count,
        files: image.file_count,
        symlinks: image.symlink_count,
        dirents: u64::from(image.dirent_count),
        metadata_bytes: image.meta_bytes,
        data_bytes: image.data_bytes,
        image_bytes: image
            .image_blocks
            .saturating_mul(u64::from(image.block_size)),
        metadata_crc32: image.meta_crc32,
        superblock_crc32: image.sb_crc32,
    }
}

/// The result of a successful [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub info: ImageInfo,
    /// Regular files whose data CRC32 was checked (v2).
    pub files_checked: u64,
    pub bytes_checked: u64,
}

/// One thing wrong with an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyProblem {
    pub ino: Option<u64>,
    /// A path that reaches the inode, when one does.
    pub path: Option<String>,
    pub what: String,
}

impl fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ino, &self.path) {
            (Some(ino), Some(path)) => write!(f, "inode {ino} ({path}): {}", self.what),
            (Some(ino), None) => write!(f, "inode {ino}: {}", self.what),
            _ => f.write_str(&self.what),
        }
    }
}

/// Check the whole image: superblock, every table (as mount does), that
/// every inode is reachable exactly as its link count says, that no
/// directory is reachable twice (no cycles), and for v2 each file's data
/// CRC32. v1 images carry no checksums: structure only.
pub fn verify(dev: &dyn BlockDevice) -> Result<VerifyReport, Vec<VerifyProblem>> {
    let image = Image::load(dev).map_err(|e| {
        vec![VerifyProblem {
            ino: None,
            path: None,
            what: e.to_string(),
        }]
    })?;
    let count = image.inode_count as usize;
    let mut problems = Vec::new();
    let problem = |ino: u64, path: Option<&String>, what: String| VerifyProblem {
        ino: Some(ino),
        path: path.cloned(),
        what,
    };
    // Breadth-first from the root; each directory is expanded at most once,
    // so a hostile cycle ends the walk instead of looping.
    let mut paths: Vec<Option<String>> = vec![None; count];
    let mut names_seen: Vec<u32> = vec![0; count];
    let mut queue = VecDeque::new();
    paths[0] = Some(String::from("/"));
    names_seen[0] = 1;
    queue.push_back(ROOT_INO);
    while let Some(dir_ino) = queue.pop_front() {
        let dir_path = paths[(dir_ino - 1) as usize].clone().unwrap_or_default();
        let entries = match image.inode(dir_ino).and_then(|r| image.entries(r)) {
            Ok(entries) => entries,
            Err(e) => {
                problems.push(problem(dir_ino, Some(&dir_path), e.to_string()));
                continue;
            }
        };
        for entry in entries {
            let ino = u64::from(entry.ino.get());
            let index = (ino - 1) as usize;
            let name = display_name(image.name(entry));
            let path = if dir_path == "/" {
                alloc::format!("/{name}")
            } else {
                alloc::format!("{dir_path}/{name}")
            };
            let Ok(record) = image.inode(ino) else {
                continue;
            };
            let is_dir = record.mode.get() & S_IFMT == S_IFDIR;
            names_seen[index] = names_seen[index].saturating_add(1);
            if paths[index].is_none() {
                paths[index] = Some(path);
                if is_dir {
                    queue.push_back(ino);
                }
            } else if is_dir {
                problems.push(problem(ino, Some(&path), String::from("directory reachable by more than one path (cycle or hard-linked directory)")));
            }
        }
    }
    let mut files_checked = 0u64;
    let mut bytes_checked = 0u64;
    for index in 0..count {
        let ino = index as u64 + 1;
        let path = paths[index].as_ref();
        let Ok(record) = image.inode(ino) else {
            continue;
        };
        if path.is_none() {
            problems.push(problem(
                ino,
                None,
                String::from("unreachable from the root"),
            ));
            continue;
        }
        let kind = record.mode.get() & S_IFMT;
        if image.version >= 2 && kind != S_IFDIR && record.nlink.get() != names_seen[index] {
            problems.push(problem(
                ino,
                path,
                alloc::format!(
                    "link count {} but {} names",
                    record.nlink.get(),
                    names_seen[index]
                ),
            ));
        }
        if kind == S_IFREG && image.has_data_crc {
            match file_crc(dev, &image, record) {
                Ok(crc) if crc == record.data_crc32.get() => {
                    files_checked += 1;
                    bytes_checked = bytes_checked.saturating_add(record.size.get());
                }
                Ok(crc) => problems.push(problem(
                    ino,
                    path,
                    alloc::format!(
                        "data CRC32 mismatch (stored {:08x}, computed {crc:08x})",
                        record.data_crc32.get()
                    ),
                )),
                Err(e) => problems.push(problem(ino, path, e.to_string())),
            }
        }
    }
    if problems.is_empty() {
        Ok(VerifyReport {
            info: info(&image),
            files_checked,
            bytes_checked,
        })
    } else {
        Err(problems)
    }
}
