//! Version 1 (OSv's format): the structure-info blocks are read in one
//! request and kept as read. Entries and symlinks are variable-length, so
//! mount records where each one starts (4 bytes per record) and, per
//! directory, its entries sorted by name (4 bytes per entry) so lookup is a
//! binary search. Resident memory is the on-disk tables plus 8 bytes per
//! entry: less than v2 needs for the same tree (its inodes are 64 bytes).
//!
//! Names and targets are raw bytes (OSv writes lengths in characters, so a
//! non-ASCII name comes out cut or shifted; validation then refuses the
//! image or readdir shows the name with U+FFFD replacements, never worse).

use alloc::vec::Vec;
use core::ops::Range;

use drivers::BlockDevice;
use zerocopy::FromBytes;

use super::{Entry, Image, InodeRecord, Layout, META_MAX};
use crate::error::RofsError;
use crate::format::{
    RawV1DirEntryHead, RawV1Inode, RawV1SuperBlock, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
    V1_BLOCK_SIZE, V1_DIRENT_HEAD_SIZE, V1_INODE_SIZE, V1_SYMLINK_HEAD_SIZE, VERSION_1,
};
use crate::mem;
use crate::problem::Problem;
use crate::validate::{self, Rules};

/// OSv's tables as read, with offsets of their variable-length records.
pub(crate) struct Tables {
    raw: Vec<u8>,
    /// Byte offset in `raw` of each directory entry, in table order.
    entries: Vec<u32>,
    /// Byte offset in `raw` of each symlink record.
    symlinks: Vec<u32>,
    /// Byte range of the inode table in `raw`.
    inodes: Range<usize>,
    /// `entries`, each directory's run sorted by name (ties in table
    /// order): lookup binary-searches here.
    by_name: Vec<u32>,
}

impl Tables {
    fn raw_inodes(&self) -> &[RawV1Inode] {
        let bytes = self.raw.get(self.inodes.clone()).unwrap_or(&[]);
        <[RawV1Inode]>::ref_from_bytes(bytes).unwrap_or(&[])
    }

    /// The entry whose record starts at byte `at`.
    #[inline]
    fn entry_at(&self, at: u32) -> Option<Entry<'_>> {
        let rest = self.raw.get(at as usize..)?;
        let (head, rest) = RawV1DirEntryHead::ref_from_prefix(rest).ok()?;
        let name = rest.get(..usize::from(head.name_len.get()))?;
        Some(Entry {
            ino: head.inode_no.get(),
            name,
        })
    }

    fn name_at(&self, at: u32) -> &[u8] {
        self.entry_at(at).map_or(&[], |e| e.name)
    }

    /// Sort each directory's run of [`Tables::by_name`]. Writers usually
    /// emit sorted directories, and then this is one comparison per entry.
    fn sort_runs(&mut self) {
        let mut by_name = core::mem::take(&mut self.by_name);
        for raw in self.raw_inodes() {
            let kind = (raw.mode.get() & u64::from(S_IFMT)) as u32;
            let (start, count) = (raw.data_offset.get(), raw.count.get());
            if kind != S_IFDIR || count < 2 {
                continue;
            }
            // Validated: inside the table.
            let Some(run) = by_name.get_mut(start as usize..(start + count) as usize) else {
                continue;
            };
            let key = |&at: &u32| (self.name_at(at), at);
            if !run.is_sorted_by_key(key) {
                // In place: no allocation sized by the directory.
                run.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
            }
        }
        self.by_name = by_name;
    }
}

impl super::Tables for Tables {
    fn inode_count(&self) -> u64 {
        self.raw_inodes().len() as u64
    }

    fn entry_count(&self) -> u64 {
        self.entries.len() as u64
    }

    fn inode(&self, ino: u64) -> Result<InodeRecord, Problem> {
        let raw = ino
            .checked_sub(1)
            .and_then(|i| self.raw_inodes().get(usize::try_from(i).ok()?))
            .ok_or(Problem::InodeNumber { ino })?;
        let mode = raw.mode.get() & u64::from(S_IFMT);
        let (offset, count) = (raw.data_offset.get(), raw.count.get());
        // OSv keeps no attributes: fixed modes, owner 0, time 0.
        let mut record = InodeRecord {
            mode: mode as u32,
            nlink: 1,
            ..InodeRecord::default()
        };
        match mode as u32 {
            S_IFDIR => {
                record.mode |= 0o555;
                record.nlink = 2;
                record.size = count;
                record.start = offset;
                record.count = count;
            }
            S_IFREG => {
                record.mode |= 0o555;
                record.size = count;
                if count > 0 {
                    record.start = offset;
                    record.count = count.div_ceil(u64::from(V1_BLOCK_SIZE));
                }
            }
            S_IFLNK => {
                let at = usize::try_from(offset)
                    .ok()
                    .and_then(|i| self.symlinks.get(i))
                    .ok_or(Problem::V1SymlinkIndex { ino, index: offset })?;
                let len = self
                    .raw
                    .get(*at as usize..*at as usize + V1_SYMLINK_HEAD_SIZE)
                    .and_then(|b| b.try_into().ok())
                    .map(u16::from_le_bytes)
                    .ok_or(Problem::V1SymlinkIndex { ino, index: offset })?;
                record.mode |= 0o777;
                record.size = len.into();
                record.start = u64::from(*at) + V1_SYMLINK_HEAD_SIZE as u64;
                record.count = len.into();
            }
            other => return Err(Problem::FileType { ino, mode: other }),
        }
        Ok(record)
    }

    #[inline]
    fn entry(&self, index: u64) -> Result<Entry<'_>, Problem> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.entries.get(i))
            .and_then(|&at| self.entry_at(at))
            .ok_or(Problem::EntryName { index })
    }

    fn bytes(&self, start: u64, count: u64) -> Option<&[u8]> {
        let s = usize::try_from(start).ok()?;
        let e = s.checked_add(usize::try_from(count).ok()?)?;
        self.raw.get(s..e)
    }

    /// The first entry (in table order) with this name, as OSv's linear
    /// scan finds it.
    fn lookup(&self, dir: &InodeRecord, name: &[u8]) -> Result<Option<u64>, Problem> {
        let run = usize::try_from(dir.start)
            .ok()
            .zip(usize::try_from(dir.entry_range().end).ok())
            .and_then(|(s, e)| self.by_name.get(s..e))
            .ok_or(Problem::DirEntries {
                ino: 0,
                start: dir.start,
                count: dir.count,
            })?;
        let first = run.partition_point(|&at| self.name_at(at) < name);
        Ok(run
            .get(first)
            .and_then(|&at| self.entry_at(at))
            .filter(|e| e.name == name)
            .map(|e| e.ino))
    }
}

/// Read and validate a v1 image; `head` is the first sector.
pub(crate) fn load(dev: &dyn BlockDevice, head: &[u8]) -> Result<Image, RofsError> {
    let device_bytes = dev.size_bytes();
    let sb = RawV1SuperBlock::read_from_prefix(head)
        .map_err(|_| RofsError::Truncated {
            needed_bytes: 64,
            device_bytes,
        })?
        .0;
    if sb.block_size.get() != u64::from(V1_BLOCK_SIZE) {
        return Err(Problem::BlockSize(sb.block_size.get()).into());
    }
    let bs = u64::from(V1_BLOCK_SIZE);
    let first = sb.structure_info_first_block.get();
    let blocks = sb.structure_info_blocks_count.get();
    let region = Problem::V1Tables {
        first_block: first,
        blocks,
    };
    let meta_offset = first.checked_mul(bs).ok_or(region.clone())?;
    let meta_len = blocks
        .checked_mul(bs)
        .filter(|&l| l <= META_MAX)
        .ok_or(region.clone())?;
    let needed = meta_offset.checked_add(meta_len).ok_or(region.clone())?;
    if needed > device_bytes {
        return Err(RofsError::Truncated {
            needed_bytes: needed,
            device_bytes,
        });
    }
    if first == 0 {
        return Err(region.into());
    }
    // Each record takes at least 10 (entry), 2 (symlink) or 32 (inode)
    // bytes, which bounds the counts before anything is allocated.
    let dirent_count = sb.directory_entries_count.get();
    let symlink_count = sb.symlinks_count.get();
    let inode_count = sb.inodes_count.get();
    let fits = |count: u64, each: usize| {
        count
            .checked_mul(each as u64)
            .is_some_and(|n| n <= meta_len)
    };
    if !fits(dirent_count, V1_DIRENT_HEAD_SIZE)
        || !fits(symlink_count, V1_SYMLINK_HEAD_SIZE)
        || !fits(inode_count, V1_INODE_SIZE)
        || inode_count > u64::from(u32::MAX)
    {
        return Err(Problem::V1Counts.into());
    }
    let raw = super::read_region(dev, meta_offset, meta_len)?;
    let mut at = 0usize;
    let entries = record_offsets(&raw, &mut at, dirent_count, |rest| {
        let (head, _) = RawV1DirEntryHead::ref_from_prefix(rest).ok()?;
        Some(V1_DIRENT_HEAD_SIZE + usize::from(head.name_len.get()))
    })?;
    let symlinks = record_offsets(&raw, &mut at, symlink_count, |rest| {
        let len = rest.first_chunk::<2>().copied().map(u16::from_le_bytes)?;
        Some(V1_SYMLINK_HEAD_SIZE + usize::from(len))
    })?;
    let inodes_end = at + inode_count as usize * V1_INODE_SIZE;
    if inodes_end > raw.len() {
        return Err(Problem::V1TablesEnd {
            at: raw.len() as u64,
        }
        .into());
    }
    let mut by_name = mem::vec_with_capacity(dirent_count)?;
    by_name.extend_from_slice(&entries);
    let mut tables = Tables {
        raw,
        entries,
        symlinks,
        inodes: at..inodes_end,
        by_name,
    };
    // OSv puts file data between the superblock and the tables.
    let rules = Rules {
        data_blocks: 1..first,
        block_size: V1_BLOCK_SIZE,
        utf8: false,
        sorted: false,
    };
    let counts = validate::check(&tables, &rules)?;
    tables.sort_runs();
    Ok(Image {
        version: VERSION_1,
        block_size: V1_BLOCK_SIZE,
        compat: 0,
        incompat: 0,
        ro_compat: 0,
        image_blocks: device_bytes / bs,
        meta_bytes: meta_len,
        meta_crc32: None,
        sb_crc32: None,
        data_bytes: counts.file_bytes,
        has_data_crc: false,
        names_unique: false,
        inode_count: inode_count as u32,
        dirent_count: dirent_count as u32,
        dir_count: counts.dirs,
        file_count: counts.files,
        symlink_count: counts.symlinks,
        layout: Layout::V1(tables),
    })
}

/// Where each of `count` records starts, from byte `*at` of `raw` on;
/// `len_of` reads a record's length from its first bytes. Leaves `*at` past
/// the last record.
fn record_offsets(
    raw: &[u8],
    at: &mut usize,
    count: u64,
    len_of: impl Fn(&[u8]) -> Option<usize>,
) -> Result<Vec<u32>, RofsError> {
    let mut offsets = mem::vec_with_capacity(count)?;
    for _ in 0..count {
        let end = raw
            .get(*at..)
            .and_then(&len_of)
            .map(|len| *at + len)
            .filter(|&end| end <= raw.len())
            .ok_or(Problem::V1TablesEnd { at: *at as u64 })?;
        // The region is at most META_MAX (1 GiB), so offsets fit in u32;
        // pushes stay within the capacity reserved above.
        offsets.push(*at as u32);
        *at = end;
    }
    Ok(offsets)
}
