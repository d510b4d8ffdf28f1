//! `inspect` (superblock facts) and `verify` (full structural and checksum
//! check) for host tools. Both load the image exactly as mount does, so a
//! refused image is explained by the rule that refused it.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use drivers::BlockDevice;

use crate::data::file_crc;
use crate::error::RofsError;
use crate::format::v3::VERSION_3;
use crate::format::{ROOT_INO, S_IFDIR, S_IFREG};
use crate::image::{Image, v3};
use crate::mem;
use crate::problem::{Problem, SHOWN_COMPONENTS, shown_path};
use crate::validate::clashes::{self, Clash};

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
    /// Entries of one directory with one name, or with names that read the
    /// same once decoded (v1 allows both; no host directory can hold them).
    pub name_clashes: Vec<Problem>,
    /// Sum of the regular files' sizes (v3; 0 before).
    pub raw_bytes: u64,
    /// Bytes of file data stored inline with inodes (v3).
    pub inline_bytes: u64,
    /// v3 compressed images: the LZ4 cluster size (0: not compressed).
    pub cluster_size: u64,
}

/// Superblock facts and table counts of the image on `dev` (validated).
pub fn inspect(dev: &dyn BlockDevice) -> Result<ImageInfo, RofsError> {
    let image = match Image::load(dev) {
        Err(RofsError::UnsupportedVersion(VERSION_3)) => return v3::report::inspect(dev),
        other => other?,
    };
    let clashes = clashes::find(&image)?;
    let mut info = info(&image);
    if !clashes.is_empty() {
        let names = Names::of(&image)?;
        info.name_clashes = clashes
            .iter()
            .map(|c| clash_problem(&image, &names, c))
            .collect();
    }
    Ok(info)
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
        name_clashes: Vec::new(),
        raw_bytes: 0,
        inline_bytes: 0,
        cluster_size: 0,
    }
}

fn clash_problem(image: &Image, names: &Names, clash: &Clash) -> Problem {
    let dir = names.path(image, clash.dir);
    let (name, count) = (clash.name.clone(), clash.count);
    if clash.lossy {
        Problem::LossyNameClash { dir, name, count }
    } else {
        Problem::DuplicateName { dir, name, count }
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

impl VerifyProblem {
    pub(crate) fn whole(what: impl ToString) -> VerifyProblem {
        VerifyProblem {
            ino: None,
            path: None,
            what: what.to_string(),
        }
    }
}

/// Check the whole image: superblock and every table and the directory
/// tree (as mount does), that every inode is reachable and (v2) has as many
/// names as its link count says, names that clash (v1), and for v2 each
/// file's data CRC32. v1 images carry no checksums: structure only.
pub fn verify(dev: &dyn BlockDevice) -> Result<VerifyReport, Vec<VerifyProblem>> {
    let whole = |e: RofsError| vec![VerifyProblem::whole(e)];
    let image = match Image::load(dev) {
        Err(RofsError::UnsupportedVersion(VERSION_3)) => return v3::report::verify(dev),
        other => other.map_err(whole)?,
    };
    let names = Names::of(&image).map_err(whole)?;
    let mut problems = Vec::new();
    let mut files_checked = 0u64;
    let mut bytes_checked = 0u64;
    for ino in 1..=u64::from(image.inode_count) {
        let record = image.inode(ino).map_err(whole)?;
        let named = names.count(ino);
        let problem = |what: String| VerifyProblem {
            ino: Some(ino),
            path: (named > 0).then(|| names.path(&image, ino)),
            what,
        };
        if named == 0 && ino != ROOT_INO {
            problems.push(problem(String::from("unreachable from the root")));
            continue;
        }
        let kind = record.kind();
        if image.version >= 2 && kind != S_IFDIR && record.nlink != named {
            let what = alloc::format!("link count {} but {named} names", record.nlink);
            problems.push(problem(what));
        }
        if kind == S_IFREG && image.has_data_crc {
            match file_crc(dev, &image, &record) {
                Ok(crc) if crc == record.data_crc32 => {
                    files_checked += 1;
                    bytes_checked = bytes_checked.saturating_add(record.size);
                }
                Ok(crc) => problems.push(problem(alloc::format!(
                    "data CRC32 mismatch (stored {:08x}, computed {crc:08x})",
                    record.data_crc32
                ))),
                Err(e) => problems.push(problem(e.to_string())),
            }
        }
    }
    for clash in clashes::find(&image).map_err(whole)? {
        problems.push(VerifyProblem::whole(clash_problem(&image, &names, &clash)));
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

/// For each inode: how many entries name it, and the first one (directory
/// and entry index), to show paths. 12 bytes per inode, allocated fallibly.
struct Names {
    count: Vec<u32>,
    first: Vec<(u32, u32)>,
}

const UNNAMED: (u32, u32) = (0, 0);

impl Names {
    /// Every directory of a loaded image is reached once from the root (the
    /// tree rule), so reading all directories in inode order sees every
    /// entry reachable from the root exactly once.
    fn of(image: &Image) -> Result<Names, RofsError> {
        let slots = u64::from(image.inode_count) + 1;
        let mut names = Names {
            count: mem::vec_filled(slots, 0u32)?,
            first: mem::vec_filled(slots, UNNAMED)?,
        };
        for dir in 1..=u64::from(image.inode_count) {
            let record = image.inode(dir)?;
            if record.kind() != S_IFDIR {
                continue;
            }
            for index in record.entry_range() {
                let ino = image.entry(index)?.ino as usize;
                if let (Some(count), Some(first)) =
                    (names.count.get_mut(ino), names.first.get_mut(ino))
                {
                    *count = count.saturating_add(1);
                    if *first == UNNAMED {
                        *first = (dir as u32, index as u32);
                    }
                }
            }
        }
        Ok(names)
    }

    fn count(&self, ino: u64) -> u32 {
        self.count.get(ino as usize).copied().unwrap_or(0)
    }

    /// A path of `ino` through first names, shortened when very deep.
    fn path(&self, image: &Image, ino: u64) -> String {
        let mut parts: [&[u8]; SHOWN_COMPONENTS] = [&[]; SHOWN_COMPONENTS];
        let mut shown = 0;
        let mut at = ino;
        while at != ROOT_INO {
            let Some(&(dir, index)) = self.first.get(at as usize).filter(|f| **f != UNNAMED) else {
                break;
            };
            if shown == SHOWN_COMPONENTS {
                return shown_path(&parts, true);
            }
            parts[shown] = image.entry(index.into()).map_or(b"?", |e| e.name);
            shown += 1;
            at = dir.into();
        }
        shown_path(&parts[..shown], false)
    }
}
