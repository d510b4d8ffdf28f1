//! Parsing and validating an image into an in-memory, trusted [`Image`].
//!
//! Both versions end up in the v2 table layout: a v2 image's metadata region
//! is used as read; a v1 image's tables are translated once at mount. Every
//! table, offset, count and name is checked here, so later accessors only
//! ever see consistent data (they still use `get()` and return EIO rather
//! than trusting that).

use alloc::string::String;
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
    ///
    /// Two linear passes, inodes then entries, looking at each name byte
    /// once (validity, UTF-8 and order fused): under QEMU TCG this is a
    /// large part of the mount time.
    fn validate(&mut self, data_blocks: Range<u64>, strict_names: bool) -> Result<(), RofsError> {
        let table = |range: &Range<usize>, what: &str| {
            self.tables
                .get(range.clone())
                .ok_or_else(|| corrupt!("{what} range"))
        };
        let inodes = <[Inode]>::ref_from_bytes(table(&self.inodes, "inode table")?)
            .map_err(|_| corrupt!("inode table is not a whole number of inodes"))?;
        let dirents = <[DirEntry]>::ref_from_bytes(table(&self.dirents, "dirent table")?)
            .map_err(|_| corrupt!("dirent table is not a whole number of entries"))?;
        let names = table(&self.names, "names")?;
        let root = inodes.first().ok_or_else(|| corrupt!("no inodes"))?;
        if root.mode.get() & S_IFMT != S_IFDIR {
            return Err(corrupt!("root inode is not a directory"));
        }
        let scan = scan_inodes(
            inodes,
            dirents.len() as u64,
            names,
            &data_blocks,
            self.block_size,
            strict_names,
            self.dir_count as usize,
        )?;
        let mut dir_runs = scan.dir_runs;
        // In images mkimage writes, directories' runs are already in order;
        // skipping the sort also skips running its code, which an emulator
        // would first have to translate. check_entries checks they are
        // disjoint.
        if !scan.runs_sorted {
            dir_runs.sort_unstable();
        }
        check_entries(
            dirents,
            names,
            inodes.len() as u64,
            &dir_runs,
            self.sorted,
            strict_names,
        )?;
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
        self.dir_count = scan.dirs;
        self.file_count = scan.files;
        self.symlink_count = scan.links;
        Ok(())
    }
}

/// What a check of the inode table found.
struct InodeScan {
    dirs: u64,
    files: u64,
    links: u64,
    /// `(first entry, entry count)` of each non-empty directory, in inode order.
    dir_runs: Vec<(u64, u64)>,
    /// Whether `dir_runs` is in order of first entry.
    runs_sorted: bool,
}

/// Check every inode against the other tables and the data region.
///
/// The loop only decides; a failed image goes through [`explain_inodes`]
/// to say which inode is wrong. Under QEMU TCG much of a one-shot pass's
/// cost is translating the code it runs, so the loop is kept small and
/// calls into no library code on valid images (no sort, `contains` or UTF-8
/// decoder for ASCII).
fn scan_inodes(
    inodes: &[Inode],
    dirent_total: u64,
    names: &[u8],
    data_blocks: &Range<u64>,
    block_size: u32,
    strict_names: bool,
    dir_hint: usize,
) -> Result<InodeScan, RofsError> {
    let bs = u64::from(block_size);
    if !bs.is_power_of_two() {
        return Err(corrupt!("block size {bs}"));
    }
    // Blocks of a file by shift and mask: no division in the loop.
    let block_shift = bs.trailing_zeros();
    let names_len = names.len() as u64;
    let (mut dirs, mut files, mut links) = (0u64, 0u64, 0u64);
    // Sum of directory sizes: at most the table, which bounds the overlap
    // check to O(entries) even if a hostile image makes directories overlap.
    let mut dirent_refs = 0u64;
    let mut dir_runs: Vec<(u64, u64)> = Vec::with_capacity(dir_hint.min(inodes.len()).min(1 << 16));
    let explain = || explain_inodes(inodes, dirent_total, names, data_blocks, bs, strict_names);
    let (data_start, data_end) = (data_blocks.start, data_blocks.end);
    let mut runs_sorted = true;
    let mut bad = false;
    for inode in inodes {
        let kind = inode.mode.get() & S_IFMT;
        let start = inode.start.get();
        let count = inode.count.get();
        if kind == S_IFREG {
            // The common case, kept to one short path; a failure is only
            // noted here and explained after the loop.
            files += 1;
            let size = inode.size.get();
            let blocks = (size >> block_shift) + u64::from(size & (bs - 1) != 0);
            let (end, overflow) = start.overflowing_add(count);
            let outside = overflow | (start < data_start) | (end > data_end);
            bad |= (count != blocks) | ((count != 0) & outside);
        } else if kind == S_IFDIR {
            dirs += 1;
            if start.checked_add(count).is_none_or(|e| e > dirent_total) {
                return Err(explain());
            }
            dirent_refs += count;
            if dirent_refs > dirent_total {
                return Err(explain());
            }
            if count != 0 {
                runs_sorted &= dir_runs.last().is_none_or(|&(last, _)| last <= start);
                dir_runs.push((start, count));
            }
        } else if kind == S_IFLNK {
            links += 1;
            let target = start
                .checked_add(count)
                .filter(|&e| e <= names_len && count <= SYMLINK_MAX as u64)
                .and_then(|e| names.get(start as usize..e as usize));
            if !target.is_some_and(|t| symlink_target_ok(t, strict_names)) {
                return Err(explain());
            }
        } else {
            return Err(explain());
        }
    }
    if bad {
        return Err(explain());
    }
    Ok(InodeScan {
        dirs,
        files,
        links,
        dir_runs,
        runs_sorted,
    })
}

/// The first problem [`scan_inodes`] found, checked one inode at a time.
#[cold]
fn explain_inodes(
    inodes: &[Inode],
    dirent_total: u64,
    names: &[u8],
    data_blocks: &Range<u64>,
    bs: u64,
    strict_names: bool,
) -> RofsError {
    let mut dirent_refs = 0u64;
    for (index, inode) in inodes.iter().enumerate() {
        let ino = index as u64 + 1;
        let start = inode.start.get();
        let count = inode.count.get();
        let end = start.checked_add(count);
        match inode.mode.get() & S_IFMT {
            S_IFDIR => {
                if end.is_none_or(|e| e > dirent_total) {
                    return corrupt!("inode {ino}: directory entries {start}+{count} out of range");
                }
                dirent_refs += count;
                if dirent_refs > dirent_total {
                    return corrupt!("inode {ino}: directories share entries");
                }
            }
            S_IFREG => {
                let size = inode.size.get();
                if count != size.div_ceil(bs) {
                    return corrupt!("inode {ino}: size {size} does not match {count} blocks");
                }
                if count != 0
                    && (start < data_blocks.start || end.is_none_or(|e| e > data_blocks.end))
                {
                    return corrupt!(
                        "inode {ino}: data blocks {start}+{count} outside the data region"
                    );
                }
            }
            S_IFLNK => {
                let target = end
                    .filter(|&e| e <= names.len() as u64 && count <= SYMLINK_MAX as u64)
                    .and_then(|e| names.get(start as usize..e as usize));
                match target {
                    Some(t) if !t.is_empty() && !t.contains(&0) => {
                        if strict_names && core::str::from_utf8(t).is_err() {
                            return corrupt!("inode {ino}: symlink target is not UTF-8");
                        }
                    }
                    _ => return corrupt!("inode {ino}: bad symlink target {start}+{count}"),
                }
            }
            other => return corrupt!("inode {ino}: unsupported file type {other:#o}"),
        }
    }
    corrupt!("inode table inconsistent")
}

/// Check every directory entry: its inode in range, its name in the blob
/// and valid (with `utf8`, also UTF-8), within each directory's run (when
/// `sorted`) names strictly increasing, which also rules out duplicates,
/// and directories' runs disjoint. `dir_runs` is sorted and each run lies
/// in the table, so one walk in table order sees where each run begins and
/// ends.
///
/// The loop only decides, accumulating failures in a flag, and a name of
/// up to 8 bytes (nearly all, in practice) takes a path with no branch:
/// NUL and '/' by the zero-byte test, order by comparing the names as
/// zero-padded big-endian numbers (exact, since names hold no NUL); the
/// others take plain byte loops (and the UTF-8 decoder if not ASCII). A
/// failed image goes through [`explain_entries`] for the message.
fn check_entries(
    dirents: &[DirEntry],
    names: &[u8],
    inode_count: u64,
    dir_runs: &[(u64, u64)],
    sorted: bool,
    utf8: bool,
) -> Result<(), RofsError> {
    /// Bytes past the name read as 'a': neither NUL, '/' nor non-ASCII.
    const FILL: u64 = ONES * b'a' as u64;
    const SLASHES: u64 = ONES * b'/' as u64;
    const DOT: u64 = b'.' as u64;
    const DOT_DOT: u64 = u16::from_le_bytes(*b"..") as u64;
    let explain = || explain_entries(dirents, names, inode_count, dir_runs, sorted, utf8);
    let last_run = dir_runs.len().saturating_sub(1);
    let run_at = |i: usize| dir_runs.get(i.min(last_run)).copied();
    let (mut next_start, mut next_count) = run_at(0).unwrap_or((u64::MAX, 0));
    let mut next_index = 1usize;
    let mut run_end = 0u64;
    let mut bad = false;
    let mut prev = 0..0;
    // The previous name as a big-endian word, or None if it was longer
    // than 8 bytes.
    let mut prev_key: Option<u64> = None;
    for (at, entry) in (0u64..).zip(dirents) {
        let ino = u64::from(entry.ino.get());
        let off = entry.name_off.get() as usize;
        let len = usize::from(entry.name_len.get());
        let end = off.saturating_add(len);
        bad |= ino.wrapping_sub(1) >= inode_count;
        let starts_run = at == next_start;
        if starts_run {
            // Validated by scan_inodes: start + count <= number of entries.
            run_end = next_start + next_count;
            (next_start, next_count) = match run_at(next_index) {
                Some(run) if next_index <= last_run => run,
                _ => (u64::MAX, 0),
            };
            next_index += 1;
            bad |= next_start < run_end;
        }
        let ordered = sorted & !starts_run & (at < run_end);
        let short = len.wrapping_sub(1) < 8;
        let mask = u64::MAX >> ((8 - len.clamp(1, 8)) * 8);
        let word = names.get(off..).and_then(|rest| rest.first_chunk::<8>());
        let name_word = match word {
            Some(bytes) if short => Some(u64::from_le_bytes(*bytes) & mask),
            _ => None,
        };
        let ascii_word = name_word.filter(|&name| name & HIGHS == 0);
        match (ascii_word, prev_key) {
            (Some(name), Some(prev_key)) => {
                let filled = name | (FILL & !mask);
                bad |= (has_zero_byte(filled) | has_zero_byte(filled ^ SLASHES) != 0)
                    | (name == DOT)
                    | (name == DOT_DOT)
                    | (ordered & (prev_key >= name.swap_bytes()));
            }
            _ => {
                // Longer names, non-ASCII ones, names in the blob's last 7
                // bytes, and the name after a long one.
                bad |= !names.get(off..end).is_some_and(|name| name_ok(name, utf8))
                    || (ordered && !names_less(names, prev.clone(), off..end));
            }
        }
        prev_key = name_word.map(u64::swap_bytes);
        prev = off..end;
    }
    if bad {
        return Err(explain());
    }
    Ok(())
}

/// The first problem [`check_entries`] found, checked one entry at a time.
#[cold]
fn explain_entries(
    dirents: &[DirEntry],
    names: &[u8],
    inode_count: u64,
    dir_runs: &[(u64, u64)],
    sorted: bool,
    utf8: bool,
) -> RofsError {
    for pair in dir_runs.windows(2) {
        if pair[0].0 + pair[0].1 > pair[1].0 {
            return corrupt!(
                "directories share entries {}..{}",
                pair[1].0,
                pair[0].0 + pair[0].1
            );
        }
    }
    for (index, entry) in dirents.iter().enumerate() {
        let ino = u64::from(entry.ino.get());
        if ino == 0 || ino > inode_count {
            return corrupt!("directory entry {index}: inode {ino} out of range");
        }
        let off = entry.name_off.get() as usize;
        let Some(name) = off
            .checked_add(usize::from(entry.name_len.get()))
            .and_then(|end| names.get(off..end))
        else {
            return corrupt!("directory entry {index}: name out of range");
        };
        if !name_ok(name, utf8) {
            return corrupt!("directory entry {index}: invalid name");
        }
    }
    if sorted {
        for &(start, count) in dir_runs {
            let run = dirents.get(start as usize..(start + count) as usize);
            for (i, pair) in run.unwrap_or(&[]).windows(2).enumerate() {
                if blob(names, &pair[0]) >= blob(names, &pair[1]) {
                    let index = start as usize + i + 1;
                    return corrupt!("directory entry {index}: entries not sorted or duplicated");
                }
            }
        }
    }
    corrupt!("directory entries inconsistent")
}

/// A symlink target: 1.. bytes, no NUL, with `utf8` valid UTF-8. A plain
/// loop rather than `contains` and `from_utf8`, whose code an emulator would
/// first have to translate; the decoder only sees non-ASCII targets.
fn symlink_target_ok(target: &[u8], utf8: bool) -> bool {
    let (mut nul, mut high) = (false, 0u8);
    for &byte in target {
        nul |= byte == 0;
        high |= byte;
    }
    !target.is_empty() && !nul && (high < 0x80 || !utf8 || core::str::from_utf8(target).is_ok())
}

/// A name a directory may hold: 1..=255 bytes, no '/', no NUL, not . or ..
#[cfg(any(feature = "std", test))]
pub(crate) fn valid_name(name: &[u8]) -> bool {
    name_ok(name, false)
}

/// [`valid_name`] plus, with `utf8`, valid UTF-8.
fn name_ok(name: &[u8], utf8: bool) -> bool {
    let (valid, high) = scan_name(name);
    valid && (!high || !utf8 || core::str::from_utf8(name).is_ok())
}

/// Whether `name` is valid (see [`valid_name`]) and whether it has a
/// non-ASCII byte. A plain loop (see [`symlink_target_ok`] for why).
fn scan_name(name: &[u8]) -> (bool, bool) {
    let (mut bad, mut high) = (false, 0u8);
    for &byte in name {
        bad |= (byte == 0) | (byte == b'/');
        high |= byte;
    }
    let valid = !bad && !name.is_empty() && name.len() <= NAME_MAX && name != b"." && name != b"..";
    (valid, high >= 0x80)
}

/// `names[a] < names[b]` in byte order (either out of range: false).
fn names_less(names: &[u8], a: Range<usize>, b: Range<usize>) -> bool {
    let (Some(a), Some(b)) = (names.get(a), names.get(b)) else {
        return false;
    };
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

/// Bytes 0x01 repeated, and the byte with the high bit, for word-at-a-time
/// byte tests.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Non-zero when some byte of `word` is zero (exact as a yes/no answer).
const fn has_zero_byte(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
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
    let mut meta = zeroed_buffer(padded)?;
    read_bytes(dev, meta_offset, &mut meta)?;
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
        // The superblock's claim, as a capacity hint for validation (which
        // then replaces it with the real count, compared below).
        dir_count: u64::from(sb.dir_count.get()),
        file_count: 0,
        symlink_count: 0,
    };
    image.validate(1..data_end, true)?;
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
    let mut raw = zeroed_buffer(meta_len)?;
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

/// A zeroed buffer of `len` bytes for metadata, or an error instead of an
/// allocation failure: the length comes from the image, and a hostile one may
/// ask for more than the kernel's heap.
fn zeroed_buffer(len: u64) -> Result<Vec<u8>, RofsError> {
    let too_big = RofsError::OutOfMemory { bytes: len };
    let len = usize::try_from(len).map_err(|_| too_big.clone())?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).map_err(|_| too_big)?;
    buf.resize(len, 0);
    Ok(buf)
}

/// A name for diagnostics.
pub(crate) fn display_name(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `check_entries` must decide, written the obvious way.
    fn reference(
        dirents: &[DirEntry],
        names: &[u8],
        inode_count: u64,
        runs: &[(u64, u64)],
        sorted: bool,
    ) -> bool {
        let name_of = |e: &DirEntry| {
            let off = e.name_off.get() as usize;
            names.get(off..off + usize::from(e.name_len.get()))
        };
        for pair in runs.windows(2) {
            if pair[0].0 + pair[0].1 > pair[1].0 {
                return false;
            }
        }
        for e in dirents {
            let ino = u64::from(e.ino.get());
            let ok_name = name_of(e).is_some_and(|n| {
                !n.is_empty()
                    && n.len() <= NAME_MAX
                    && n != b"."
                    && n != b".."
                    && !n.contains(&0)
                    && !n.contains(&b'/')
                    && core::str::from_utf8(n).is_ok()
            });
            if ino == 0 || ino > inode_count || !ok_name {
                return false;
            }
        }
        !sorted
            || runs.iter().all(|&(start, count)| {
                dirents[start as usize..(start + count) as usize]
                    .windows(2)
                    .all(|p| name_of(&p[0]) < name_of(&p[1]))
            })
    }

    #[test]
    fn entry_check_agrees_with_the_obvious_one() {
        // Bytes that matter: separators, NUL, dots, non-ASCII (valid and
        // not), and plain letters, in names of 0..=12 bytes so both the
        // one-word path and the byte loop run, at every blob position.
        const ALPHABET: &[u8] = b"ab.../\0\xc3\xa9\xff";
        // Seeded, so a failure reproduces.
        let mut rng = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15);
        let (mut accepted, mut refused) = (0, 0);
        for round in 0..20_000 {
            let count = 1 + rng.u64(..7) as usize;
            let mut names = Vec::new();
            let mut dirents = Vec::new();
            for _ in 0..count {
                let len = if rng.u64(..8) == 0 {
                    9 + rng.u64(..4)
                } else {
                    1 + rng.u64(..3)
                };
                let off = names.len();
                for _ in 0..len {
                    // Mostly letters, so that many images are valid.
                    let pick = if rng.u64(..6) == 0 {
                        rng.u64(..ALPHABET.len() as u64)
                    } else {
                        rng.u64(..2)
                    };
                    names.push(ALPHABET[pick as usize]);
                }
                dirents.push(DirEntry {
                    ino: (rng.u64(..5) as u32).into(),
                    name_off: (off as u32).into(),
                    name_len: (len as u16).into(),
                    reserved: 0.into(),
                });
            }
            if round % 5 == 0 {
                // Sort by name, as a writer does, so order checks pass.
                dirents.sort_by(|a, b| blob(&names, a).cmp(blob(&names, b)));
            }
            if round % 7 == 0 {
                // A name that runs past the blob.
                let last = dirents.len() - 1;
                dirents[last].name_len = (dirents[last].name_len.get() + 1).into();
            }
            let mut runs = Vec::new();
            let mut at = 0u64;
            while at < count as u64 {
                let len = 1 + rng.u64(..count as u64 - at);
                if rng.u64(..3) != 0 {
                    runs.push((at, len));
                }
                at += len;
            }
            if round % 11 == 0 && runs.len() > 1 {
                runs[0].1 += 1; // overlap its neighbour
            }
            for sorted in [true, false] {
                let want = reference(&dirents, &names, 4, &runs, sorted);
                let got = check_entries(&dirents, &names, 4, &runs, sorted, true).is_ok();
                assert_eq!(
                    got, want,
                    "round {round}, sorted {sorted}: {dirents:?} {names:?} {runs:?}"
                );
                if want {
                    accepted += 1;
                } else {
                    refused += 1;
                }
            }
        }
        // Both outcomes are well represented.
        assert!(accepted > 1000 && refused > 1000, "{accepted} {refused}");
    }

    #[test]
    fn name_rules() {
        assert!(valid_name(b"a") && valid_name(b"..."));
        assert!(!valid_name(b"") && !valid_name(b".") && !valid_name(b".."));
        assert!(!valid_name(b"a/b") && !valid_name(b"a\0"));
        assert!(valid_name(&[b'x'; NAME_MAX]) && !valid_name(&[b'x'; NAME_MAX + 1]));
        assert!(name_ok("é".as_bytes(), true) && !name_ok(b"\xff", true));
        assert!(name_ok(b"\xff", false));
    }
}
