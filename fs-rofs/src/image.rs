//! Parsing and validating an image into an in-memory, trusted [`Image`].
//!
//! Both versions end up in the v2 table layout: a v2 image's metadata region
//! is used as read; a v1 image's tables are translated once at mount. Every
//! table, offset, count and name is checked here, so later accessors only
//! ever see consistent data (they still use `get()` and return EIO rather
//! than trusting that).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use drivers::{BlockDevice, read_bytes};
use zerocopy::{FromBytes, IntoBytes};

use crate::error::{RofsError, corrupt};
use crate::format::*;

/// Metadata larger than this is refused rather than allocated (a hostile
/// superblock could otherwise ask for the whole device).
const META_MAX: u64 = 1 << 30;

/// A validated image: its superblock facts and its tables.
pub(crate) struct Image {
    pub version: u64,
    pub block_size: u32,
    pub compat: u32,
    pub incompat: u32,
    pub ro_compat: u32,
    pub image_blocks: u64,
    /// Byte length of the on-disk metadata region.
    pub meta_bytes: u64,
    pub meta_crc32: Option<u32>,
    pub sb_crc32: Option<u32>,
    /// Sum of stored file extents (v2 superblock value; v1: sum of sizes).
    pub data_bytes: u64,
    /// Whether inodes carry data CRC32s.
    pub has_data_crc: bool,
    /// Directory entries sorted by name (v2): lookup binary-searches them.
    pub sorted: bool,
    /// For unsorted (v1) directories: entry indices, each directory's run
    /// sorted by name, so lookup binary-searches here instead.
    lookup_index: Vec<u32>,
    /// Tables in the v2 layout.
    tables: Vec<u8>,
    inodes: Range<usize>,
    dirents: Range<usize>,
    names: Range<usize>,
    pub inode_count: u32,
    pub dirent_count: u32,
    pub dir_count: u64,
    pub file_count: u64,
    pub symlink_count: u64,
}

/// The root directory's inode number in both versions.
pub(crate) const ROOT_INO: u64 = 1;

impl Image {
    /// Read and validate the image on `dev`.
    pub fn load(dev: &dyn BlockDevice) -> Result<Image, RofsError> {
        let device_bytes = dev.size_bytes();
        let mut head = [0u8; 512];
        let head_len = core::cmp::min(device_bytes, head.len() as u64) as usize;
        if head_len < 16 {
            return Err(RofsError::Truncated {
                needed_bytes: 512,
                device_bytes,
            });
        }
        read_bytes(dev, 0, &mut head[..head_len])?;
        let head = &head[..head_len];
        let magic = u64::from_le_bytes(le8(head, 0));
        if magic != MAGIC {
            return Err(RofsError::BadMagic(magic));
        }
        match u64::from_le_bytes(le8(head, 8)) {
            VERSION_1 => load_v1(dev, head),
            VERSION_2 => load_v2(dev, head),
            other => Err(RofsError::UnsupportedVersion(other)),
        }
    }

    /// One of the validated table ranges (empty if it somehow is not).
    fn region(&self, range: &Range<usize>) -> &[u8] {
        self.tables.get(range.clone()).unwrap_or(&[])
    }

    /// The inode record for `ino`, or EIO-worthy corruption.
    pub fn inode(&self, ino: u64) -> Result<&Inode, RofsError> {
        let index =
            ino.checked_sub(1)
                .filter(|&i| i < u64::from(self.inode_count))
                .ok_or_else(|| corrupt!("inode number {ino} out of range"))? as usize;
        let at = index * INODE_SIZE;
        let table = self.region(&self.inodes);
        table
            .get(at..at + INODE_SIZE)
            .and_then(|b| Inode::ref_from_bytes(b).ok())
            .ok_or_else(|| corrupt!("inode {ino} outside its table"))
    }

    /// The directory entries of directory inode `dir`.
    pub fn entries(&self, dir: &Inode) -> Result<&[DirEntry], RofsError> {
        let start = dir.start.get();
        let count = dir.count.get();
        let table = self.region(&self.dirents);
        let all = <[DirEntry]>::ref_from_bytes(table).map_err(|_| corrupt!("dirent table size"))?;
        let end = start
            .checked_add(count)
            .ok_or_else(|| corrupt!("dirent range overflows"))?;
        usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(s, e)| all.get(s..e))
            .ok_or_else(|| corrupt!("directory entries {start}+{count} out of range"))
    }

    /// The name bytes of an entry.
    pub fn name(&self, entry: &DirEntry) -> &[u8] {
        self.blob(
            u64::from(entry.name_off.get()),
            u64::from(entry.name_len.get()),
        )
        .unwrap_or(&[])
    }

    /// `len` bytes at `off` of the names blob.
    pub fn blob(&self, off: u64, len: u64) -> Option<&[u8]> {
        let names = self.region(&self.names);
        let s = usize::try_from(off).ok()?;
        let e = s.checked_add(usize::try_from(len).ok()?)?;
        names.get(s..e)
    }

    /// The entry named `name` in directory `dir`: a binary search, over the
    /// entries themselves (v2) or over the lookup index (v1).
    pub fn lookup(&self, dir: &Inode, name: &[u8]) -> Result<Option<&DirEntry>, RofsError> {
        let entries = self.entries(dir)?;
        if self.sorted {
            let found = entries.binary_search_by(|e| self.name(e).cmp(name));
            return Ok(found.ok().and_then(|i| entries.get(i)));
        }
        let all = <[DirEntry]>::ref_from_bytes(self.region(&self.dirents))
            .map_err(|_| corrupt!("dirent table size"))?;
        let start = dir.start.get() as usize;
        let run = start
            .checked_add(entries.len())
            .and_then(|end| self.lookup_index.get(start..end))
            .ok_or_else(|| corrupt!("lookup index out of range"))?;
        let entry = |i: u32| all.get(i as usize);
        let found =
            run.binary_search_by(|&i| entry(i).map(|e| self.name(e)).unwrap_or(&[]).cmp(name));
        Ok(found.ok().and_then(|k| run.get(k)).and_then(|&i| entry(i)))
    }

    /// Byte offset on the device of block `block` of the image.
    pub fn block_offset(&self, block: u64) -> Option<u64> {
        block.checked_mul(u64::from(self.block_size))
    }

    /// Check every table against every other and against the device.
    /// `data_blocks` is the range of blocks file data may occupy.
    fn validate(&mut self, data_blocks: Range<u64>, strict_names: bool) -> Result<(), RofsError> {
        let inode_table = self
            .tables
            .get(self.inodes.clone())
            .ok_or_else(|| corrupt!("inode table range"))?;
        let inodes = <[Inode]>::ref_from_bytes(inode_table)
            .map_err(|_| corrupt!("inode table is not a whole number of inodes"))?;
        let dirent_table = self
            .tables
            .get(self.dirents.clone())
            .ok_or_else(|| corrupt!("dirent table range"))?;
        let dirents = <[DirEntry]>::ref_from_bytes(dirent_table)
            .map_err(|_| corrupt!("dirent table is not a whole number of entries"))?;
        let names = self
            .tables
            .get(self.names.clone())
            .ok_or_else(|| corrupt!("names range"))?;
        let bs = u64::from(self.block_size);
        let (mut dirs, mut files, mut links) = (0u64, 0u64, 0u64);
        // Sum of directory sizes bounds the sortedness check below to
        // O(entries) even if a hostile image makes directories overlap.
        let mut dirent_refs = 0u64;
        let mut dir_runs: Vec<(u64, u64)> = Vec::new();
        if inodes.is_empty() {
            return Err(corrupt!("no inodes"));
        }
        for (index, inode) in inodes.iter().enumerate() {
            let ino = index as u64 + 1;
            let start = inode.start.get();
            let count = inode.count.get();
            match inode.mode.get() & S_IFMT {
                S_IFDIR => {
                    dirs += 1;
                    let end = start
                        .checked_add(count)
                        .filter(|&e| e <= dirents.len() as u64);
                    if end.is_none() {
                        return Err(corrupt!(
                            "inode {ino}: directory entries {start}+{count} out of range"
                        ));
                    }
                    dirent_refs = dirent_refs
                        .checked_add(count)
                        .filter(|&n| n <= dirents.len() as u64)
                        .ok_or_else(|| corrupt!("inode {ino}: directories share entries"))?;
                    if count > 0 {
                        dir_runs.push((start, count));
                    }
                    let own = &dirents[start as usize..(start + count) as usize];
                    for pair in own.windows(2) {
                        if self.sorted && blob(names, &pair[0]) >= blob(names, &pair[1]) {
                            return Err(corrupt!(
                                "inode {ino}: directory entries not sorted or duplicated"
                            ));
                        }
                    }
                }
                S_IFREG => {
                    files += 1;
                    let size = inode.size.get();
                    if size == 0 {
                        if count != 0 {
                            return Err(corrupt!("inode {ino}: empty file with data blocks"));
                        }
                    } else {
                        if count != size.div_ceil(bs) {
                            return Err(corrupt!(
                                "inode {ino}: size {size} does not match {count} blocks"
                            ));
                        }
                        let end = start.checked_add(count);
                        if start < data_blocks.start || end.is_none_or(|e| e > data_blocks.end) {
                            return Err(corrupt!(
                                "inode {ino}: data blocks {start}+{count} outside the data region"
                            ));
                        }
                    }
                }
                S_IFLNK => {
                    links += 1;
                    let target = start
                        .checked_add(count)
                        .filter(|&e| e <= names.len() as u64 && count <= SYMLINK_MAX as u64)
                        .map(|e| &names[start as usize..e as usize]);
                    match target {
                        Some(t) if !t.is_empty() && !t.contains(&0) => {
                            if strict_names && core::str::from_utf8(t).is_err() {
                                return Err(corrupt!("inode {ino}: symlink target is not UTF-8"));
                            }
                        }
                        _ => {
                            return Err(corrupt!(
                                "inode {ino}: bad symlink target {start}+{count}"
                            ));
                        }
                    }
                }
                other => return Err(corrupt!("inode {ino}: unsupported file type {other:#o}")),
            }
        }
        // Directories own disjoint runs of the entry table.
        dir_runs.sort_unstable();
        for pair in dir_runs.windows(2) {
            if pair[0].0 + pair[0].1 > pair[1].0 {
                return Err(corrupt!(
                    "directories share entries {}..{}",
                    pair[1].0,
                    pair[0].0 + pair[0].1
                ));
            }
        }
        if !self.sorted {
            let mut index: Vec<u32> = (0..dirents.len() as u32).collect();
            for &(start, count) in &dir_runs {
                let run = &mut index[start as usize..(start + count) as usize];
                run.sort_by(|&a, &b| {
                    blob(names, &dirents[a as usize]).cmp(blob(names, &dirents[b as usize]))
                });
            }
            self.lookup_index = index;
        }
        if inodes[0].mode.get() & S_IFMT != S_IFDIR {
            return Err(corrupt!("root inode is not a directory"));
        }
        for (index, entry) in dirents.iter().enumerate() {
            let ino = u64::from(entry.ino.get());
            if ino == 0 || ino > inodes.len() as u64 {
                return Err(corrupt!(
                    "directory entry {index}: inode {ino} out of range"
                ));
            }
            let off = entry.name_off.get() as usize;
            let name = off
                .checked_add(usize::from(entry.name_len.get()))
                .and_then(|end| names.get(off..end))
                .ok_or_else(|| corrupt!("directory entry {index}: name out of range"))?;
            if !valid_name(name) {
                return Err(corrupt!("directory entry {index}: invalid name"));
            }
            if strict_names && core::str::from_utf8(name).is_err() {
                return Err(corrupt!("directory entry {index}: name is not UTF-8"));
            }
        }
        self.dir_count = dirs;
        self.file_count = files;
        self.symlink_count = links;
        Ok(())
    }
}

/// A name a directory may hold: 1..=255 bytes, no '/', no NUL, not . or ..
pub(crate) fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name != b"."
        && name != b".."
        && !name.iter().any(|&b| b == b'/' || b == 0)
}

fn blob<'a>(names: &'a [u8], entry: &DirEntry) -> &'a [u8] {
    let off = entry.name_off.get() as usize;
    off.checked_add(usize::from(entry.name_len.get()))
        .and_then(|end| names.get(off..end))
        .unwrap_or(&[])
}

fn le8(bytes: &[u8], at: usize) -> [u8; 8] {
    let mut out = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        out.copy_from_slice(src);
    }
    out
}

fn load_v2(dev: &dyn BlockDevice, head: &[u8]) -> Result<Image, RofsError> {
    let device_bytes = dev.size_bytes();
    let sb = SuperBlock::read_from_prefix(head)
        .map_err(|_| RofsError::Truncated {
            needed_bytes: SUPERBLOCK_SIZE as u64,
            device_bytes,
        })?
        .0;
    let header_size = sb.header_size.get() as usize;
    if header_size < SUPERBLOCK_SIZE || header_size > head.len() {
        return Err(corrupt!("superblock header size {header_size}"));
    }
    let computed = superblock_crc(&head[..header_size]);
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
        return Err(corrupt!("block size {bs}"));
    }
    let bs = u64::from(bs);
    let image_bytes = sb
        .image_blocks
        .get()
        .checked_mul(bs)
        .ok_or_else(|| corrupt!("image size overflows"))?;
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
        .ok_or_else(|| corrupt!("data block count overflows"))?;
    let meta_end = meta_offset.checked_add(meta_len);
    if meta_offset % bs != 0
        || data_end.checked_mul(bs).is_none_or(|d| d > meta_offset)
        || meta_end.is_none_or(|e| e > image_bytes)
        || meta_len > META_MAX
    {
        return Err(corrupt!(
            "metadata region {meta_offset}+{meta_len} out of range"
        ));
    }
    // One request: read whole blocks (the region is padded to a block in
    // the image) so read_bytes needs no separate bounce read for the tail.
    let unit = bs.max(dev.block_size() as u64);
    let padded = meta_len
        .div_ceil(unit)
        .saturating_mul(unit)
        .min(image_bytes - meta_offset);
    let t0 = crate::mp_t();
    let mut meta = vec![0u8; padded as usize];
    let t1 = crate::mp_t();
    read_bytes(dev, meta_offset, &mut meta)?;
    let t2 = crate::mp_t();
    meta.truncate(meta_len as usize);
    let computed = crc32fast::hash(&meta);
    let t3 = crate::mp_t();
    if computed != sb.meta_crc32.get() {
        return Err(RofsError::MetadataChecksum {
            stored: sb.meta_crc32.get(),
            computed,
        });
    }
    let inode_count = sb.inode_count.get();
    let dirent_count = sb.dirent_count.get();
    let inodes = table(
        sb.inode_table_off.get(),
        u64::from(inode_count),
        INODE_SIZE,
        meta.len(),
        "inode",
    )?;
    let dirents = table(
        sb.dirent_table_off.get(),
        u64::from(dirent_count),
        DIRENT_SIZE,
        meta.len(),
        "dirent",
    )?;
    let names = table(
        sb.names_off.get(),
        sb.names_len.get(),
        1,
        meta.len(),
        "names",
    )?;
    if u64::from(sb.root_ino.get()) != ROOT_INO {
        return Err(corrupt!("root inode {}", sb.root_ino.get()));
    }
    let mut image = Image {
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
        sorted: true,
        lookup_index: Vec::new(),
        tables: meta,
        inodes,
        dirents,
        names,
        inode_count,
        dirent_count,
        dir_count: 0,
        file_count: 0,
        symlink_count: 0,
    };
    let t4 = crate::mp_t();
    image.validate(1..data_end, true)?;
    let t5 = crate::mp_t();
    crate::mp_set(0, t1-t0); crate::mp_set(1, t2-t1); crate::mp_set(2, t3-t2); crate::mp_set(3, t4-t3); crate::mp_set(4, t5-t4);
    if image.dir_count != u64::from(sb.dir_count.get())
        || image.file_count != u64::from(sb.file_count.get())
        || image.symlink_count != u64::from(sb.symlink_count.get())
    {
        return Err(corrupt!("superblock counts do not match the inode table"));
    }
    Ok(image)
}

fn table(
    off: u64,
    count: u64,
    size: usize,
    meta_len: usize,
    what: &str,
) -> Result<Range<usize>, RofsError> {
    let range = count
        .checked_mul(size as u64)
        .and_then(|len| off.checked_add(len).map(|end| (off, end)))
        .filter(|&(_, end)| end <= meta_len as u64)
        .map(|(s, e)| s as usize..e as usize);
    range.ok_or_else(|| corrupt!("{what} table {off}+{count}x{size} outside the metadata region"))
}

/// A cursor over the v1 structure-info blocks that never reads past the end.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RofsError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| corrupt!("v1 tables end early at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, RofsError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u64(&mut self) -> Result<u64, RofsError> {
        Ok(u64::from_le_bytes(le8(self.take(8)?, 0)))
    }
}

/// Translate OSv's tables into the v2 layout. Names and targets are kept as
/// raw bytes (OSv writes lengths in characters, so a non-ASCII name comes out
/// cut or shifted; validation then refuses the image or readdir shows the
/// name with U+FFFD replacements, never worse).
fn load_v1(dev: &dyn BlockDevice, head: &[u8]) -> Result<Image, RofsError> {
    let device_bytes = dev.size_bytes();
    let sb = V1SuperBlock::read_from_prefix(head)
        .map_err(|_| RofsError::Truncated {
            needed_bytes: 64,
            device_bytes,
        })?
        .0;
    if sb.block_size.get() != u64::from(V1_BLOCK_SIZE) {
        return Err(corrupt!(
            "v1 block size {} (OSv uses 512)",
            sb.block_size.get()
        ));
    }
    let bs = u64::from(V1_BLOCK_SIZE);
    let first = sb.structure_info_first_block.get();
    let blocks = sb.structure_info_blocks_count.get();
    let meta_offset = first
        .checked_mul(bs)
        .ok_or_else(|| corrupt!("v1 table offset overflows"))?;
    let meta_len = blocks.checked_mul(bs).filter(|&l| l <= META_MAX);
    let meta_len = meta_len.ok_or_else(|| corrupt!("v1 table length {blocks} blocks"))?;
    let needed = meta_offset
        .checked_add(meta_len)
        .ok_or_else(|| corrupt!("v1 tables overflow"))?;
    if needed > device_bytes {
        return Err(RofsError::Truncated {
            needed_bytes: needed,
            device_bytes,
        });
    }
    if first == 0 {
        return Err(corrupt!("v1 tables overlap the superblock"));
    }
    let mut raw = vec![0u8; meta_len as usize];
    read_bytes(dev, meta_offset, &mut raw)?;
    let mut cur = Cursor { bytes: &raw, at: 0 };

    // Each record takes at least 10 (dirent), 2 (symlink) or 32 (inode)
    // bytes, which bounds the counts before anything is allocated.
    let dirent_count = sb.directory_entries_count.get();
    let symlink_count = sb.symlinks_count.get();
    let inode_count = sb.inodes_count.get();
    let fits = |count: u64, each: u64| count.checked_mul(each).is_some_and(|n| n <= meta_len);
    if !fits(dirent_count, 10)
        || !fits(symlink_count, 2)
        || !fits(inode_count, 32)
        || inode_count > u32::MAX as u64
    {
        return Err(corrupt!("v1 counts do not fit the tables"));
    }
    let mut names: Vec<u8> = Vec::new();
    let mut dirents: Vec<DirEntry> = Vec::with_capacity(dirent_count as usize);
    for _ in 0..dirent_count {
        let ino = cur.u64()?;
        let len = cur.u16()?;
        let name = cur.take(usize::from(len))?;
        let ino = u32::try_from(ino).map_err(|_| corrupt!("v1 dirent inode {ino}"))?;
        let name_off = u32::try_from(names.len()).map_err(|_| corrupt!("v1 names too long"))?;
        names.extend_from_slice(name);
        dirents.push(DirEntry {
            ino: ino.into(),
            name_off: name_off.into(),
            name_len: len.into(),
            reserved: 0.into(),
        });
    }
    let mut targets: Vec<(u64, u64)> = Vec::with_capacity(symlink_count as usize);
    for _ in 0..symlink_count {
        let len = cur.u16()?;
        let target = cur.take(usize::from(len))?;
        targets.push((names.len() as u64, u64::from(len)));
        names.extend_from_slice(target);
    }
    let mut inodes: Vec<Inode> = Vec::with_capacity(inode_count as usize);
    let mut data_bytes = 0u64;
    for _ in 0..inode_count {
        let raw_inode =
            V1Inode::read_from_bytes(cur.take(32)?).map_err(|_| corrupt!("v1 inode"))?;
        let kind = (raw_inode.mode.get() & u64::from(S_IFMT)) as u32;
        let offset = raw_inode.data_offset.get();
        let count = raw_inode.count.get();
        let mut inode = Inode {
            mode: kind.into(),
            nlink: 1.into(),
            ..Default::default()
        };
        match kind {
            S_IFDIR => {
                inode.mode = (kind | 0o555).into();
                inode.nlink = 2.into();
                inode.size = count.into();
                inode.start = offset.into();
                inode.count = count.into();
            }
            S_IFREG => {
                inode.mode = (kind | 0o555).into();
                inode.size = count.into();
                data_bytes = data_bytes.saturating_add(count);
                if count > 0 {
                    inode.start = offset.into();
                    inode.count = count.div_ceil(bs).into();
                }
            }
            S_IFLNK => {
                let (off, len) = usize::try_from(offset)
                    .ok()
                    .and_then(|i| targets.get(i).copied())
                    .ok_or_else(|| corrupt!("v1 symlink index {offset} out of range"))?;
                inode.mode = (kind | 0o777).into();
                inode.size = len.into();
                inode.start = off.into();
                inode.count = len.into();
            }
            other => return Err(corrupt!("v1 inode with unsupported mode {other:#o}")),
        }
        inodes.push(inode);
    }
    let mut tables =
        Vec::with_capacity(inodes.len() * INODE_SIZE + dirents.len() * DIRENT_SIZE + names.len());
    tables.extend_from_slice(inodes.as_bytes());
    let inodes_end = tables.len();
    tables.extend_from_slice(dirents.as_bytes());
    let dirents_end = tables.len();
    tables.extend_from_slice(&names);
    let names_end = tables.len();
    let mut image = Image {
        version: VERSION_1,
        block_size: V1_BLOCK_SIZE,
        compat: 0,
        incompat: 0,
        ro_compat: 0,
        image_blocks: device_bytes / bs,
        meta_bytes: meta_len,
        meta_crc32: None,
        sb_crc32: None,
        data_bytes,
        has_data_crc: false,
        sorted: false,
        lookup_index: Vec::new(),
        tables,
        inodes: 0..inodes_end,
        dirents: inodes_end..dirents_end,
        names: dirents_end..names_end,
        inode_count: inode_count as u32,
        dirent_count: dirents.len() as u32,
        dir_count: 0,
        file_count: 0,
        symlink_count: 0,
    };
    // OSv puts file data between the superblock and the tables.
    image.validate(1..first, false)?;
    Ok(image)
}

/// A name for diagnostics.
pub(crate) fn display_name(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
