//! The end of a v3 build: long symlink targets as data, then the inode
//! blocks and the directory entry blocks (each 4 KiB block with its own
//! CRC32), then the superblock into block 0.
//!
//! Inode numbers are addresses, so the inodes are packed first (their
//! sizes are known: 64 bytes plus inline data); directory blocks depend only
//! on names, so each directory's entry addresses are known before any inode
//! is serialised.

use std::io::{Seek, Write};
use std::string::String;
use std::vec;
use std::vec::Vec;

use zerocopy::IntoBytes;

use super::data::{Sink, open, read_full, source_error};
use super::dedup::Extent;
use super::plan::Plan;
use super::{BuildError, ImageBuilder, ImageSummary, Kind};
use crate::format::v3::{
    BLOCK_DIR_INDEX, BLOCK_DIRENTS, BLOCK_HEADER_SIZE, BLOCK_INODES, LAYOUT_LZ4, LAYOUT_PLAIN,
    RawBlockHeader, RawV3DirEntry, RawV3Inode, RawV3SuperBlock, V3_BLOCK_SIZE, V3_DIRENT_SIZE,
    V3_INCOMPAT_LZ4, V3_INLINE_MAX, V3_INO_SCALE, V3_INODE_SIZE, V3_SUPERBLOCK_SIZE, VERSION_3,
    block_crc, dtype_of,
};
use crate::format::{COMPAT_DATA_CRC32, MAGIC, superblock_crc};

const BS: u64 = V3_BLOCK_SIZE as u64;
const BLOCK: usize = V3_BLOCK_SIZE as usize;

/// Where one inode's contents are.
#[derive(Default)]
struct Stored {
    inline: Vec<u8>,
    start: u64,
    count: u32,
    size: u64,
    crc32: u32,
    layout: u8,
    /// Compressed files: bytes of their clusters and index.
    stored: u64,
}

/// A metadata block being filled.
struct MetaBlock {
    bytes: Vec<u8>,
    /// Inode blocks: bytes used. Entry blocks: entries; names grow down
    /// from `names_at`.
    count: usize,
    names_at: usize,
}

impl MetaBlock {
    fn new() -> Self {
        MetaBlock {
            bytes: vec![0u8; BLOCK],
            count: 0,
            names_at: BLOCK,
        }
    }

    fn seal(self, kind: u8, owner: u64, count: usize) -> Vec<u8> {
        self.seal_level(kind, 0, owner, count)
    }

    fn seal_level(mut self, kind: u8, level: u8, owner: u64, count: usize) -> Vec<u8> {
        let header = RawBlockHeader {
            crc32: 0.into(),
            kind,
            reserved: level,
            count: (count as u16).into(),
            owner: owner.into(),
        };
        self.bytes[..BLOCK_HEADER_SIZE].copy_from_slice(header.as_bytes());
        let crc = block_crc(&self.bytes);
        self.bytes[..4].copy_from_slice(&crc.to_le_bytes());
        self.bytes
    }
}

/// Lookup index blocks over a directory's entry blocks (`firsts`: each
/// block's first name and block number), level by level until one block
/// holds the level; appended to `out`, whose first block is `base`.
/// Returns the top block's number.
fn index_levels(
    mut firsts: Vec<(String, u64)>,
    owner: u64,
    base: u64,
    out: &mut Vec<Vec<u8>>,
) -> Result<u32, BuildError> {
    let mut level = 1u8;
    loop {
        let mut next = Vec::new();
        let mut current = MetaBlock::new();
        for (name, child) in &firsts {
            let used = BLOCK_HEADER_SIZE + current.count * V3_DIRENT_SIZE;
            if used + V3_DIRENT_SIZE + name.len() > current.names_at {
                let count = current.count;
                out.push(current.seal_level(BLOCK_DIR_INDEX, level, owner, count));
                current = MetaBlock::new();
            }
            if current.count == 0 {
                next.push((name.clone(), base + out.len() as u64));
            }
            current.names_at -= name.len();
            current.bytes[current.names_at..][..name.len()].copy_from_slice(name.as_bytes());
            let slot = BLOCK_HEADER_SIZE + current.count * V3_DIRENT_SIZE;
            let record = RawV3DirEntry {
                ino: (*child).into(),
                name_off: (current.names_at as u16).into(),
                name_len: name.len() as u8,
                file_type: 0,
            };
            current.bytes[slot..slot + V3_DIRENT_SIZE].copy_from_slice(record.as_bytes());
            current.count += 1;
        }
        let count = current.count;
        out.push(current.seal_level(BLOCK_DIR_INDEX, level, owner, count));
        if next.len() == 1 {
            return u32::try_from(next[0].1).map_err(|_| too_large("metadata past 2^32 blocks"));
        }
        firsts = next;
        level = level
            .checked_add(1)
            .ok_or_else(|| too_large("a directory index of 256 levels"))?;
    }
}

fn too_large(what: &str) -> BuildError {
    BuildError::TooLarge(String::from(what))
}

impl ImageBuilder {
    /// The contents of each inode: inline bytes or a data extent (long
    /// symlink targets are written here, after the file data).
    fn v3_contents<W: Write + Seek>(
        &self,
        plan: &Plan,
        extents: &[Extent],
        sink: &mut Sink<'_, W>,
    ) -> Result<Vec<Stored>, BuildError> {
        let mut stored = Vec::with_capacity(plan.inodes.len());
        for (planned, extent) in plan.inodes.iter().zip(extents) {
            let item = match &self.nodes[planned.node].kind {
                Kind::Dir(_) => Stored::default(),
                Kind::File(source) if extent.size == 0 => {
                    // Skipped by the data pass: small enough to go inline.
                    let mut inline = vec![0u8; V3_INLINE_MAX + 1];
                    let mut reader = open(source)?;
                    let n = read_full(&mut reader, &mut inline)
                        .map_err(|error| source_error(source, error))?;
                    if n > V3_INLINE_MAX {
                        return Err(BuildError::InvalidOption(std::format!(
                            "a source file grew while the image was written ({source:?})"
                        )));
                    }
                    inline.truncate(n);
                    Stored {
                        size: n as u64,
                        crc32: if n == 0 { 0 } else { crc32fast::hash(&inline) },
                        inline,
                        ..Stored::default()
                    }
                }
                Kind::File(_) => {
                    let (unit, layout) = match self.lz4_cluster_log2 {
                        Some(log2) => (1u64 << log2, LAYOUT_LZ4),
                        None => (BS, LAYOUT_PLAIN),
                    };
                    Stored {
                        start: extent.start_block,
                        count: u32::try_from(extent.size.div_ceil(unit))
                            .map_err(|_| too_large("a file of 2^32 blocks or clusters"))?,
                        size: extent.size,
                        crc32: extent.crc32,
                        inline: Vec::new(),
                        layout,
                        stored: if layout == LAYOUT_LZ4 {
                            extent.stored
                        } else {
                            0
                        },
                    }
                }
                Kind::Symlink(target) if target.len() <= V3_INLINE_MAX => Stored {
                    inline: target.as_bytes().to_vec(),
                    size: target.len() as u64,
                    ..Stored::default()
                },
                Kind::Symlink(target) => {
                    let start = sink.pos / BS;
                    sink.write(target.as_bytes())?;
                    sink.pad_to(BS)?;
                    Stored {
                        start,
                        count: 1,
                        size: target.len() as u64,
                        ..Stored::default()
                    }
                }
            };
            stored.push(item);
        }
        Ok(stored)
    }

    pub(super) fn finish_v3<W: Write + Seek>(
        &self,
        plan: &Plan,
        extents: &[Extent],
        sink: &mut Sink<'_, W>,
    ) -> Result<ImageSummary, BuildError> {
        // Past anything a deduplicated file left behind.
        sink.finish(BS)?;
        let stored = self.v3_contents(plan, extents, sink)?;
        sink.finish(BS)?;
        let meta_start = sink.pos / BS;

        // Inode numbers: pack the inodes (8-aligned) into inode blocks.
        let mut inos = Vec::with_capacity(plan.inodes.len());
        let (mut block, mut at) = (0u64, BLOCK_HEADER_SIZE);
        let mut fills = Vec::new();
        for item in &stored {
            let len = (V3_INODE_SIZE + item.inline.len()).next_multiple_of(8);
            if at + len > BLOCK {
                fills.push(at);
                block += 1;
                at = BLOCK_HEADER_SIZE;
            }
            inos.push(((meta_start + block) * BS + at as u64) / V3_INO_SCALE);
            at += len;
        }
        fills.push(at);
        let inode_blocks = block + 1;

        // Entry blocks, directory by directory; each child directory's
        // entry address.
        let mut entry_blocks: Vec<Vec<u8>> = Vec::new();
        let mut dir_blocks = vec![(0u64, 0u32); plan.inodes.len()];
        let mut dir_index = vec![0u32; plan.inodes.len()];
        let mut entry_addr = vec![0u64; plan.inodes.len()];
        let first_entry_block = meta_start + inode_blocks;
        for (index, planned) in plan.inodes.iter().enumerate() {
            if !matches!(self.nodes[planned.node].kind, Kind::Dir(_)) || planned.entries == 0 {
                continue;
            }
            let owner = inos[index];
            let first = first_entry_block + entry_blocks.len() as u64;
            let run = &plan.dirents[planned.first_entry as usize..][..planned.entries as usize];
            let mut current = MetaBlock::new();
            let mut firsts = Vec::new();
            for (name, child) in run {
                let child = *child as usize - 1;
                let need = V3_DIRENT_SIZE + name.len();
                let used = BLOCK_HEADER_SIZE + current.count * V3_DIRENT_SIZE;
                if used + need > current.names_at {
                    let count = current.count;
                    entry_blocks.push(current.seal(BLOCK_DIRENTS, owner, count));
                    current = MetaBlock::new();
                }
                if current.count == 0 {
                    firsts.push((name.clone(), first_entry_block + entry_blocks.len() as u64));
                }
                current.names_at -= name.len();
                current.bytes[current.names_at..][..name.len()].copy_from_slice(name.as_bytes());
                let slot = BLOCK_HEADER_SIZE + current.count * V3_DIRENT_SIZE;
                let entry = RawV3DirEntry {
                    ino: inos[child].into(),
                    name_off: (current.names_at as u16).into(),
                    name_len: name.len() as u8,
                    file_type: dtype_of(self.mode(plan.inodes[child].node)),
                };
                current.bytes[slot..slot + V3_DIRENT_SIZE].copy_from_slice(entry.as_bytes());
                let block_no = first_entry_block + entry_blocks.len() as u64;
                if matches!(self.nodes[plan.inodes[child].node].kind, Kind::Dir(_)) {
                    entry_addr[child] = block_no * BS + slot as u64;
                }
                current.count += 1;
            }
            let count = current.count;
            entry_blocks.push(current.seal(BLOCK_DIRENTS, owner, count));
            let blocks = first_entry_block + entry_blocks.len() as u64 - first;
            dir_blocks[index] = (
                first,
                u32::try_from(blocks).map_err(|_| too_large("a directory of 2^32 blocks"))?,
            );
            if blocks > 1 {
                dir_index[index] =
                    index_levels(firsts, owner, first_entry_block, &mut entry_blocks)?;
            }
        }

        // Serialise the inodes.
        let mut summary = ImageSummary::default();
        let (mut raw_bytes, mut inline_bytes) = (0u64, 0u64);
        let mut blocks = vec![MetaBlock::new()];
        for (index, (planned, item)) in plan.inodes.iter().zip(&stored).enumerate() {
            let node = &self.nodes[planned.node];
            let mut inode = RawV3Inode {
                mode: self.mode(planned.node).into(),
                uid: node.meta.uid.into(),
                gid: node.meta.gid.into(),
                nlink: planned.nlink.into(),
                mtime_sec: node.meta.mtime.unwrap_or(self.opts.default_mtime).into(),
                mtime_nsec: node.meta.mtime_nsec.min(999_999_999).into(),
                ..Default::default()
            };
            match &node.kind {
                Kind::Dir(_) => {
                    summary.dirs += 1;
                    inode.size = planned.entries.into();
                    inode.start = dir_blocks[index].0.into();
                    inode.count = dir_blocks[index].1.into();
                    inode.entry_addr = entry_addr[index].into();
                    inode.data_crc32 = dir_index[index].into();
                }
                kind => {
                    if let Kind::File(_) = kind {
                        summary.files += 1;
                        raw_bytes += item.size;
                        inline_bytes += item.inline.len() as u64;
                    } else {
                        summary.symlinks += 1;
                    }
                    inode.size = item.size.into();
                    inode.data_crc32 = item.crc32.into();
                    inode.start = item.start.into();
                    inode.count = item.count.into();
                    inode.inline_len = (item.inline.len() as u16).into();
                    inode.layout = item.layout;
                    inode.entry_addr = item.stored.into();
                }
            }
            let addr = inos[index] * V3_INO_SCALE;
            let (block, at) = ((addr / BS - meta_start) as usize, (addr % BS) as usize);
            if blocks.len() <= block {
                blocks.push(MetaBlock::new());
            }
            let bytes = &mut blocks[block].bytes;
            bytes[at..at + V3_INODE_SIZE].copy_from_slice(inode.as_bytes());
            bytes[at + V3_INODE_SIZE..][..item.inline.len()].copy_from_slice(&item.inline);
        }
        let mut crcs = crc32fast::Hasher::new();
        for (block, fill) in blocks.into_iter().zip(fills) {
            let sealed = block.seal(BLOCK_INODES, 0, fill);
            crcs.update(&sealed[..4]);
            sink.write(&sealed)?;
        }
        for block in &entry_blocks {
            crcs.update(&block[..4]);
            sink.write(block)?;
        }
        let image_end = sink.finish(BS)?;
        let mut sb = RawV3SuperBlock {
            magic: MAGIC.into(),
            version: VERSION_3.into(),
            block_size: V3_BLOCK_SIZE.into(),
            header_size: (V3_SUPERBLOCK_SIZE as u32).into(),
            compat: COMPAT_DATA_CRC32.into(),
            image_blocks: (image_end / BS).into(),
            meta_start: meta_start.into(),
            meta_blocks: (image_end / BS - meta_start).into(),
            root_ino: inos.first().copied().unwrap_or(0).into(),
            inode_count: (plan.inodes.len() as u64).into(),
            dir_count: (summary.dirs as u32).into(),
            file_count: (summary.files as u32).into(),
            symlink_count: (summary.symlinks as u32).into(),
            incompat: if self.lz4_cluster_log2.is_some() {
                V3_INCOMPAT_LZ4
            } else {
                0
            }
            .into(),
            cluster_log2: self.lz4_cluster_log2.unwrap_or(0).into(),
            data_bytes: (sink.data_summary.stored - sink.data_summary.lz4_raw
                + sink.data_summary.lz4_stored)
                .into(),
            raw_bytes: raw_bytes.into(),
            inline_bytes: inline_bytes.into(),
            dirent_count: (plan.dirents.len() as u64).into(),
            meta_crc32: crcs.finalize().into(),
            ..Default::default()
        };
        sb.sb_crc32 = superblock_crc(sb.as_bytes()).into();
        super::superblock::finish_with_superblock(sink, BS, sb.as_bytes(), image_end, summary)
    }
}
