//! Version 2: the metadata region is read in one request, checked against
//! its CRC32 and kept as read; tables are viewed in place.

use alloc::vec::Vec;
use core::ops::Range;

use drivers::BlockDevice;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::{Entry, Image, InodeRecord, Layout, META_MAX, Tables as _};
use crate::error::RofsError;
use crate::format::{
    COMPAT_DATA_CRC32, DIRENT_SIZE, INODE_SIZE, KNOWN_INCOMPAT, KNOWN_RO_COMPAT, ROOT_INO,
    RawDirEntry, RawInode, RawSuperBlock, SUPERBLOCK_SIZE, VERSION_2, superblock_crc,
};
use crate::problem::{Problem, Table};
use crate::validate::{self, Rules};

/// The metadata region and where its three tables are.
pub(crate) struct Tables {
    meta: Vec<u8>,
    /// Byte offsets in `meta` (validated to lie inside it) and record counts.
    inodes: usize,
    inode_count: u64,
    dirents: usize,
    entry_count: u64,
    names: Range<usize>,
}

impl Tables {
    /// Record `index` of the `count`-record table at byte `table`: one
    /// fixed-size view, no walk over the table.
    #[inline]
    fn record<T: FromBytes + KnownLayout + Immutable + Unaligned>(
        &self,
        table: usize,
        index: u64,
        count: u64,
    ) -> Option<&T> {
        let size = core::mem::size_of::<T>();
        let at = table + usize::try_from(index).ok().filter(|_| index < count)? * size;
        T::ref_from_bytes(self.meta.get(at..at + size)?).ok()
    }

    /// Entries `start..end` of the entry table.
    fn raw_entries(&self, start: u64, end: u64) -> Option<&[RawDirEntry]> {
        if start > end || end > self.entry_count {
            return None;
        }
        let (s, e) = (start as usize, end as usize);
        let bytes = self
            .meta
            .get(self.dirents + s * DIRENT_SIZE..self.dirents + e * DIRENT_SIZE)?;
        <[RawDirEntry]>::ref_from_bytes_with_elems(bytes, e - s).ok()
    }

    fn names(&self) -> &[u8] {
        self.meta.get(self.names.clone()).unwrap_or(&[])
    }

    #[inline]
    fn name_of(&self, entry: &RawDirEntry) -> Option<&[u8]> {
        let off = entry.name_off.get() as usize;
        let end = off.saturating_add(usize::from(entry.name_len.get()));
        self.names().get(off..end)
    }
}

impl super::Tables for Tables {
    fn inode_count(&self) -> u64 {
        self.inode_count
    }

    fn entry_count(&self) -> u64 {
        self.entry_count
    }

    #[inline]
    fn inode(&self, ino: u64) -> Result<InodeRecord, Problem> {
        let raw: &RawInode = ino
            .checked_sub(1)
            .and_then(|i| self.record(self.inodes, i, self.inode_count))
            .ok_or(Problem::InodeNumber { ino })?;
        Ok(InodeRecord {
            mode: raw.mode.get(),
            uid: raw.uid.get(),
            gid: raw.gid.get(),
            nlink: raw.nlink.get(),
            size: raw.size.get(),
            mtime_sec: raw.mtime_sec.get(),
            mtime_nsec: raw.mtime_nsec.get(),
            data_crc32: raw.data_crc32.get(),
            start: raw.start.get(),
            count: raw.count.get(),
        })
    }

    #[inline]
    fn entry(&self, index: u64) -> Result<Entry<'_>, Problem> {
        let raw: &RawDirEntry = self
            .record(self.dirents, index, self.entry_count)
            .ok_or(Problem::EntryName { index })?;
        let name = self.name_of(raw).ok_or(Problem::EntryName { index })?;
        Ok(Entry {
            ino: u64::from(raw.ino.get()),
            name,
        })
    }

    fn bytes(&self, start: u64, count: u64) -> Option<&[u8]> {
        let s = usize::try_from(start).ok()?;
        let e = s.checked_add(usize::try_from(count).ok()?)?;
        self.names().get(s..e)
    }

    /// Entries are sorted by name bytes: a binary search over them, with
    /// no allocation.
    fn lookup(&self, dir: &InodeRecord, name: &[u8]) -> Result<Option<u64>, Problem> {
        let run =
            self.raw_entries(dir.start, dir.entry_range().end)
                .ok_or(Problem::DirEntries {
                    ino: 0,
                    start: dir.start,
                    count: dir.count,
                })?;
        let found = run.binary_search_by(|e| self.name_of(e).unwrap_or(&[]).cmp(name));
        Ok(found
            .ok()
            .and_then(|i| run.get(i))
            .map(|e| u64::from(e.ino.get())))
    }
}

/// Read and validate a v2 image; `head` is the first sector.
pub(crate) fn load(dev: &dyn BlockDevice, head: &[u8]) -> Result<Image, RofsError> {
    let device_bytes = dev.size_bytes();
    let sb = RawSuperBlock::read_from_prefix(head)
        .map_err(|_| RofsError::Truncated {
            needed_bytes: SUPERBLOCK_SIZE as u64,
            device_bytes,
        })?
        .0;
    let header_size = sb.header_size.get();
    let header = head
        .get(..header_size as usize)
        .filter(|h| h.len() >= SUPERBLOCK_SIZE)
        .ok_or(Problem::HeaderSize(header_size))?;
    let computed = superblock_crc(header);
    if computed != sb.sb_crc32.get() {
        return Err(RofsError::SuperblockChecksum {
            stored: sb.sb_crc32.get(),
            computed,
        });
    }
    let incompat = sb.incompat.get() & !KNOWN_INCOMPAT;
    let ro_compat = sb.ro_compat.get() & !KNOWN_RO_COMPAT;
    if incompat != 0 || ro_compat != 0 {
        return Err(RofsError::UnknownFeatures {
            incompat,
            ro_compat,
        });
    }
    let bs = sb.block_size.get();
    if !bs.is_power_of_two() || !(512..=65536).contains(&bs) {
        return Err(Problem::BlockSize(bs.into()).into());
    }
    let bs = u64::from(bs);
    let image_bytes = sb
        .image_blocks
        .get()
        .checked_mul(bs)
        .ok_or(Problem::SizeOverflows)?;
    if image_bytes > device_bytes {
        return Err(RofsError::Truncated {
            needed_bytes: image_bytes,
            device_bytes,
        });
    }
    let meta_offset = sb.meta_offset.get();
    let meta_len = sb.meta_len.get();
    let data_end = sb
        .data_blocks
        .get()
        .checked_add(1)
        .ok_or(Problem::SizeOverflows)?;
    let meta_end = meta_offset.checked_add(meta_len);
    if meta_offset % bs != 0
        || data_end.checked_mul(bs).is_none_or(|d| d > meta_offset)
        || meta_end.is_none_or(|e| e > image_bytes)
        || meta_len > META_MAX
    {
        return Err(Problem::MetadataRegion {
            offset: meta_offset,
            len: meta_len,
        }
        .into());
    }
    // One request: read whole blocks (the region is padded to a block in
    // the image) so read_bytes needs no separate bounce read for the tail.
    let unit = bs.max(dev.block_size() as u64);
    let padded = meta_len
        .div_ceil(unit)
        .saturating_mul(unit)
        .min(image_bytes - meta_offset);
    let mut meta = super::read_region(dev, meta_offset, padded)?;
    meta.truncate(meta_len as usize);
    let computed = crate::crc::hash(&meta);
    if computed != sb.meta_crc32.get() {
        return Err(RofsError::MetadataChecksum {
            stored: sb.meta_crc32.get(),
            computed,
        });
    }
    let inode_count = sb.inode_count.get();
    let dirent_count = sb.dirent_count.get();
    let len = meta.len();
    let inodes = table(
        Table::Inodes,
        sb.inode_table_off.get(),
        inode_count.into(),
        INODE_SIZE,
        len,
    )?;
    let dirents = table(
        Table::Entries,
        sb.dirent_table_off.get(),
        dirent_count.into(),
        DIRENT_SIZE,
        len,
    )?;
    let names = table(Table::Names, sb.names_off.get(), sb.names_len.get(), 1, len)?;
    let tables = Tables {
        meta,
        inodes: inodes.start,
        inode_count: inode_count.into(),
        dirents: dirents.start,
        entry_count: dirent_count.into(),
        names,
    };
    if u64::from(sb.root_ino.get()) != ROOT_INO {
        return Err(Problem::RootIno(sb.root_ino.get().into()).into());
    }
    let rules = Rules {
        data_blocks: 1..data_end,
        block_size: bs as u32,
        utf8: true,
        sorted: true,
    };
    let counts = validate::check(&tables, &rules)?;
    for (what, claimed, found) in [
        ("directories", sb.dir_count.get(), counts.dirs),
        ("files", sb.file_count.get(), counts.files),
        ("symlinks", sb.symlink_count.get(), counts.symlinks),
    ] {
        if u64::from(claimed) != found {
            return Err(Problem::Count {
                what,
                claimed: claimed.into(),
                found,
            }
            .into());
        }
    }
    debug_assert_eq!(tables.inode_count(), u64::from(inode_count));
    Ok(Image {
        version: VERSION_2,
        block_size: bs as u32,
        compat: sb.compat.get(),
        incompat: sb.incompat.get(),
        ro_compat: sb.ro_compat.get(),
        image_blocks: sb.image_blocks.get(),
        meta_bytes: meta_len,
        meta_crc32: Some(sb.meta_crc32.get()),
        sb_crc32: Some(sb.sb_crc32.get()),
        data_bytes: sb.data_bytes.get(),
        has_data_crc: sb.compat.get() & COMPAT_DATA_CRC32 != 0,
        names_unique: true,
        inode_count,
        dirent_count,
        dir_count: counts.dirs,
        file_count: counts.files,
        symlink_count: counts.symlinks,
        layout: Layout::V2(tables),
    })
}

/// The byte range of a table of `count` records of `size` bytes at `offset`
/// of the metadata region, if it lies inside it.
fn table(
    table: Table,
    offset: u64,
    count: u64,
    size: usize,
    meta_len: usize,
) -> Result<Range<usize>, Problem> {
    count
        .checked_mul(size as u64)
        .and_then(|len| offset.checked_add(len))
        .filter(|&end| end <= meta_len as u64)
        .map(|end| offset as usize..end as usize)
        .ok_or(Problem::Table {
            table,
            offset,
            count,
            size: size as u64,
        })
}
