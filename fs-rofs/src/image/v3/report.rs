//! `inspect` and `verify` of a v3 image, through the same reader as mount
//! (on the borrowed device, without a cache).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use drivers::BlockDevice;

use super::{Volume, check_block};
use crate::error::RofsError;
use crate::format::v3::{DT_DIR, DT_REG, LAYOUT_LZ4, V3_BLOCK_SIZE, V3_INCOMPAT_LZ4};
use crate::report::{ImageInfo, VerifyProblem, VerifyReport};

const BS: u64 = V3_BLOCK_SIZE as u64;

/// Superblock facts (and the root inode checked).
pub(crate) fn inspect(dev: &dyn BlockDevice) -> Result<ImageInfo, RofsError> {
    Ok(info(&Volume::direct(dev)?))
}

fn info(volume: &Volume<'_>) -> ImageInfo {
    let raw = &volume.sb.raw;
    ImageInfo {
        version: 3,
        block_size: V3_BLOCK_SIZE,
        compat: raw.compat.get(),
        incompat: raw.incompat.get(),
        ro_compat: raw.ro_compat.get(),
        inodes: raw.inode_count.get(),
        dirs: raw.dir_count.get().into(),
        files: raw.file_count.get().into(),
        symlinks: raw.symlink_count.get().into(),
        dirents: raw.dirent_count.get(),
        metadata_bytes: raw.meta_blocks.get() * BS,
        data_bytes: raw.data_bytes.get(),
        image_bytes: raw.image_blocks.get() * BS,
        metadata_crc32: Some(raw.meta_crc32.get()),
        superblock_crc32: Some(raw.sb_crc32.get()),
        name_clashes: Vec::new(),
        raw_bytes: raw.raw_bytes.get(),
        inline_bytes: raw.inline_bytes.get(),
        cluster_size: if raw.incompat.get() & V3_INCOMPAT_LZ4 != 0 {
            volume.cluster_size()
        } else {
            0
        },
    }
}

fn join(dir: &str, name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    if dir == "/" {
        alloc::format!("/{name}")
    } else {
        alloc::format!("{dir}/{name}")
    }
}

/// Every metadata block's CRC and structure, then the tree from the root
/// (every entry's inode, types, the one-entry-per-directory rule), link
/// counts against names, the superblock counts, and every file's CRC32.
pub(crate) fn verify(dev: &dyn BlockDevice) -> Result<VerifyReport, Vec<VerifyProblem>> {
    let whole = |e: RofsError| alloc::vec![VerifyProblem::whole(e)];
    let volume = Volume::direct(dev).map_err(whole)?;
    let mut problems = Vec::new();
    let mut block = alloc::vec![0u8; BS as usize];
    let mut crcs = 0u32;
    for index in volume.sb.meta.0..volume.sb.meta.1 {
        let checked = drivers::read_bytes(dev, index * BS, &mut block)
            .map_err(|e| RofsError::from(e).to_string())
            .and_then(|()| check_block(&block).map_err(ToString::to_string));
        if let Err(why) = checked {
            problems.push(VerifyProblem::whole(alloc::format!(
                "metadata block {index}: {why}"
            )));
        }
        crcs = crate::crc::update(crcs, block.get(..4).unwrap_or(&[]));
    }
    if crcs != volume.sb.raw.meta_crc32.get() {
        problems.push(VerifyProblem::whole(alloc::format!(
            "superblock metadata CRC32 {:08x}, the blocks' CRC32s give {crcs:08x}",
            volume.sb.raw.meta_crc32.get()
        )));
    }
    // ino -> (names, first path, nlink, is a regular file)
    let mut seen: BTreeMap<u64, (u32, String, u32, bool)> = BTreeMap::new();
    let mut queue = VecDeque::from([(volume.sb.root, String::from("/"))]);
    let (mut dirs, mut entries) = (0u64, 0u64);
    while let Some((ino, path)) = queue.pop_front() {
        dirs += 1;
        let problem = |what: String| VerifyProblem {
            ino: Some(ino),
            path: Some(path.clone()),
            what,
        };
        let dir = match volume.inode(ino) {
            Ok(dir) => dir,
            Err(e) => {
                problems.push(problem(e.to_string()));
                continue;
            }
        };
        for index in 0..u64::from(dir.raw.count.get()) {
            let block = match volume.entry_block(&dir, index) {
                Ok(block) => block,
                Err(e) => {
                    problems.push(problem(e.to_string()));
                    continue;
                }
            };
            for slot in 0..block.len() {
                let Some((found, name)) = block.get(slot) else {
                    break;
                };
                entries += 1;
                let child_path = join(&path, name);
                let node = match volume.open_entry(&found) {
                    Ok(node) => node,
                    Err(e) => {
                        problems.push(VerifyProblem {
                            ino: Some(found.ino),
                            path: Some(child_path),
                            what: e.to_string(),
                        });
                        continue;
                    }
                };
                if found.dtype == DT_DIR {
                    queue.push_back((found.ino, child_path));
                    continue;
                }
                let regular = found.dtype == DT_REG;
                let slot =
                    seen.entry(found.ino)
                        .or_insert((0, child_path, node.raw.nlink.get(), regular));
                slot.0 += 1;
                if slot.0 == 1 && node.raw.layout == LAYOUT_LZ4 {
                    let recorded = node.raw.entry_addr.get();
                    match volume.stored_lz4(&node) {
                        Ok(stored) if stored == recorded => {}
                        Ok(stored) => problems.push(VerifyProblem {
                            ino: Some(found.ino),
                            path: Some(slot.1.clone()),
                            what: alloc::format!(
                                "stored bytes recorded as {recorded}, its clusters and index take {stored}"
                            ),
                        }),
                        Err(e) => problems.push(VerifyProblem {
                            ino: Some(found.ino),
                            path: Some(slot.1.clone()),
                            what: e.to_string(),
                        }),
                    }
                }
                if slot.0 == 1
                    && regular
                    && volume.sb.raw.compat.get() & crate::format::COMPAT_DATA_CRC32 != 0
                {
                    match volume.file_crc(&node) {
                        Ok(crc) if crc == node.raw.data_crc32.get() => {}
                        Ok(crc) => problems.push(VerifyProblem {
                            ino: Some(found.ino),
                            path: Some(slot.1.clone()),
                            what: alloc::format!(
                                "data CRC32 mismatch (stored {:08x}, computed {crc:08x})",
                                node.raw.data_crc32.get()
                            ),
                        }),
                        Err(e) => problems.push(VerifyProblem {
                            ino: Some(found.ino),
                            path: Some(slot.1.clone()),
                            what: e.to_string(),
                        }),
                    }
                }
            }
        }
    }
    let (mut files, mut symlinks, mut bytes_checked) = (0u64, 0u64, 0u64);
    for (ino, (names, path, nlink, regular)) in &seen {
        if names != nlink {
            problems.push(VerifyProblem {
                ino: Some(*ino),
                path: Some(path.clone()),
                what: alloc::format!("link count {nlink} but {names} names"),
            });
        }
        if *regular {
            files += 1;
            bytes_checked += volume.inode(*ino).map_or(0, |n| n.size());
        } else {
            symlinks += 1;
        }
    }
    let raw = &volume.sb.raw;
    let counts = [
        ("directories", u64::from(raw.dir_count.get()), dirs),
        ("files", u64::from(raw.file_count.get()), files),
        ("symlinks", u64::from(raw.symlink_count.get()), symlinks),
        ("entries", raw.dirent_count.get(), entries),
        ("inodes", raw.inode_count.get(), dirs + files + symlinks),
    ];
    for (what, claimed, found) in counts {
        if claimed != found {
            problems.push(VerifyProblem::whole(alloc::format!(
                "superblock says {claimed} {what}, the tree has {found}"
            )));
        }
    }
    if problems.is_empty() {
        Ok(VerifyReport {
            info: info(&volume),
            files_checked: files,
            bytes_checked,
        })
    } else {
        Err(problems)
    }
}
