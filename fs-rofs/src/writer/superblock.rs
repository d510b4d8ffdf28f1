//! The end of a build: the metadata region after the data, then the
//! superblock into block 0, which is written last so a failed build never
//! leaves a valid-looking image.

use std::io::{Seek, Write};
use std::vec;

use zerocopy::IntoBytes;

use super::data::Sink;
use super::dedup::Extent;
use super::plan::Plan;
use super::{BuildError, ImageBuilder, ImageSummary};
use crate::format::{
    COMPAT_DATA_CRC32, DIRENT_SIZE, INODE_SIZE, MAGIC, RawSuperBlock, RawV1SuperBlock,
    SUPERBLOCK_SIZE, V1_BLOCK_SIZE, VERSION_1, VERSION_2, superblock_crc,
};

impl ImageBuilder {
    pub(super) fn finish_v2<W: Write + Seek>(
        &self,
        plan: &Plan,
        extents: &[Extent],
        sink: &mut Sink<'_, W>,
    ) -> Result<ImageSummary, BuildError> {
        let bs = u64::from(self.opts.block_size);
        let tables = self.v2_tables(plan, extents)?;
        let meta_offset = sink.pos;
        sink.write(&tables.bytes)?;
        let image_end = sink.finish(bs)?;
        let summary = tables.summary;
        let inode_bytes = tables.inodes * INODE_SIZE as u64;
        let mut sb = RawSuperBlock {
            magic: MAGIC.into(),
            version: VERSION_2.into(),
            block_size: self.opts.block_size.into(),
            header_size: (SUPERBLOCK_SIZE as u32).into(),
            compat: COMPAT_DATA_CRC32.into(),
            incompat: 0.into(),
            ro_compat: 0.into(),
            sb_crc32: 0.into(),
            image_blocks: (image_end / bs).into(),
            data_blocks: (meta_offset / bs - 1).into(),
            meta_offset: meta_offset.into(),
            meta_len: (tables.bytes.len() as u64).into(),
            meta_crc32: crc32fast::hash(&tables.bytes).into(),
            root_ino: 1.into(),
            inode_count: (tables.inodes as u32).into(),
            dirent_count: (tables.entries as u32).into(),
            inode_table_off: 0.into(),
            dirent_table_off: inode_bytes.into(),
            names_off: (inode_bytes + tables.entries * DIRENT_SIZE as u64).into(),
            names_len: tables.names_len.into(),
            dir_count: (summary.dirs as u32).into(),
            file_count: (summary.files as u32).into(),
            symlink_count: (summary.symlinks as u32).into(),
            reserved0: 0.into(),
            data_bytes: sink.data_summary.stored.into(),
            reserved: [0.into(); 2],
        };
        sb.sb_crc32 = superblock_crc(sb.as_bytes()).into();
        finish_with_superblock(sink, bs, sb.as_bytes(), image_end, summary)
    }

    pub(super) fn finish_v1<W: Write + Seek>(
        &self,
        plan: &Plan,
        extents: &[Extent],
        sink: &mut Sink<'_, W>,
    ) -> Result<ImageSummary, BuildError> {
        let bs = u64::from(V1_BLOCK_SIZE);
        let tables = self.v1_tables(plan, extents);
        let meta_offset = sink.pos;
        sink.write(&tables.bytes)?;
        let image_end = sink.finish(bs)?;
        let sb = RawV1SuperBlock {
            magic: MAGIC.into(),
            version: VERSION_1.into(),
            block_size: bs.into(),
            structure_info_first_block: (meta_offset / bs).into(),
            structure_info_blocks_count: (tables.bytes.len() as u64).div_ceil(bs).into(),
            directory_entries_count: tables.entries.into(),
            symlinks_count: tables.symlinks.into(),
            inodes_count: tables.inodes.into(),
        };
        finish_with_superblock(sink, bs, sb.as_bytes(), image_end, tables.summary)
    }
}

/// Write block 0 (the superblock, zero-padded to a block) last, leave the
/// output positioned at the image end, and complete `summary`.
pub(super) fn finish_with_superblock<W: Write + Seek>(
    sink: &mut Sink<'_, W>,
    block_size: u64,
    superblock: &[u8],
    image_end: u64,
    mut summary: ImageSummary,
) -> Result<ImageSummary, BuildError> {
    let mut block = vec![0u8; block_size as usize];
    block[..superblock.len()].copy_from_slice(superblock);
    sink.seek(0)?;
    sink.write(&block)?;
    sink.seek(image_end)?;
    summary.image_bytes = image_end;
    summary.data_bytes = sink.data_summary.stored;
    summary.deduplicated_bytes = sink.data_summary.deduplicated;
    Ok(summary)
}
