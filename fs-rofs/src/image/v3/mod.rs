//! Version 3: nothing is resident but the superblock. Inodes and directory
//! blocks are 4 KiB metadata blocks read on demand through the page cache,
//! each checked against its own CRC32 (and its structure) when it enters
//! the cache, so a corrupt block is EIO for the operation that touched it.
//!
//! Directory cycles cannot be followed: a directory inode records the byte
//! address of the one entry allowed to name it, and an entry block records
//! the directory that owns it. Opening a directory through an entry checks
//! both, so every directory but the root has exactly one way in (from its
//! parent), the root has none, and no walk can revisit a directory.

pub(crate) mod dir;
pub(crate) mod lz4;
pub(crate) mod node;
pub(crate) mod report;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;
use core::ops::Range;

use drivers::{BlockDevice, BlockError};
use pagecache::{CachedDevice, Page, ReadAhead, Space};
use spin::Mutex;
use zerocopy::FromBytes;

use crate::error::RofsError;
use crate::format::v3::{
    BLOCK_DIR_INDEX, BLOCK_DIRENTS, BLOCK_HEADER_SIZE, BLOCK_INODES, DT_DIR, DT_LNK, DT_REG,
    LAYOUT_LZ4, LAYOUT_PLAIN, RawBlockHeader, RawV3DirEntry, RawV3Inode, RawV3SuperBlock,
    V3_BLOCK_SIZE, V3_CLUSTER_LOG2, V3_DIRENT_SIZE, V3_INCOMPAT_LZ4, V3_INO_SCALE, V3_INODE_SIZE,
    V3_KNOWN_INCOMPAT, V3_SUPERBLOCK_SIZE, VERSION_3, block_crc, dtype_of,
};
use crate::format::{MAGIC, SB_CRC_OFFSET, SYMLINK_MAX, superblock_crc};
use crate::problem::Problem;
use crate::validate::name_ok;

const BS: u64 = V3_BLOCK_SIZE as u64;

pub(crate) fn problem(what: &'static str, at: u64) -> RofsError {
    RofsError::Corrupt(Problem::V3 { what, at })
}

/// What mount learnt from the superblock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Super {
    pub raw: RawV3SuperBlock,
    /// Metadata blocks.
    pub meta: (u64, u64),
    pub root: u64,
}

impl Super {
    fn meta_range(&self) -> Range<u64> {
        self.meta.0..self.meta.1
    }
}

/// Where a volume's blocks come from: the page cache (a mount), or the
/// device directly (`inspect` and `verify`, which get a borrowed device).
pub(crate) enum Source<'a> {
    Cache(Arc<CachedDevice>),
    Direct(&'a dyn BlockDevice),
}

/// A metadata block: a cached page, or a block read for a host tool.
pub(crate) enum Block {
    Cached(Page),
    Read(Vec<u8>),
}

impl core::ops::Deref for Block {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Block::Cached(page) => page,
            Block::Read(bytes) => bytes,
        }
    }
}

/// A v3 image: mounted (through the cache) or opened by a host tool.
pub(crate) struct Volume<'a> {
    pub dev: Source<'a>,
    pub sb: Super,
    /// With the `verify` mount option: inodes whose data CRC was checked,
    /// sorted by inode number, with the outcome. Grows with the files read,
    /// not with the image, and fallibly.
    verified: Option<Mutex<Vec<(u64, bool)>>>,
    /// Decompressed clusters (mounted compressed images only).
    clusters: Option<Space>,
}

/// A decoded inode and the cached block it lives in (for inline data).
pub(crate) struct Node {
    pub ino: u64,
    pub raw: RawV3Inode,
    page: Block,
    inline_at: usize,
}

impl Node {
    pub fn mode(&self) -> u32 {
        self.raw.mode.get()
    }

    pub fn size(&self) -> u64 {
        self.raw.size.get()
    }

    pub fn dtype(&self) -> u8 {
        dtype_of(self.mode())
    }

    /// The inline bytes (the file's tail, after its block part).
    pub fn inline(&self) -> &[u8] {
        let len = usize::from(self.raw.inline_len.get());
        self.page
            .get(self.inline_at..self.inline_at + len)
            .unwrap_or(&[])
    }

    /// Bytes of the file stored in data blocks (the rest is inline).
    pub fn block_bytes(&self) -> u64 {
        self.size() - u64::from(self.raw.inline_len.get())
    }

    /// Files and symlinks: blocks `start..start + count`; directories:
    /// their entry blocks.
    pub fn blocks(&self) -> Range<u64> {
        let start = self.raw.start.get();
        start..start + u64::from(self.raw.count.get())
    }
}

/// Parse and check the superblock in `block0` against a device of
/// `device_bytes` bytes.
pub(crate) fn parse_super(block0: &[u8], device_bytes: u64) -> Result<Super, RofsError> {
    let raw = RawV3SuperBlock::read_from_prefix(block0)
        .map_err(|_| RofsError::Truncated {
            needed_bytes: V3_SUPERBLOCK_SIZE as u64,
            device_bytes,
        })?
        .0;
    if raw.magic.get() != MAGIC {
        return Err(RofsError::BadMagic(raw.magic.get()));
    }
    if raw.version.get() != VERSION_3 {
        return Err(RofsError::UnsupportedVersion(raw.version.get()));
    }
    let header_size = raw.header_size.get();
    let header = block0
        .get(..header_size as usize)
        .filter(|h| h.len() >= V3_SUPERBLOCK_SIZE && h.len() > SB_CRC_OFFSET + 4)
        .ok_or(Problem::HeaderSize(header_size))?;
    let computed = superblock_crc(header);
    if computed != raw.sb_crc32.get() {
        return Err(RofsError::SuperblockChecksum {
            stored: raw.sb_crc32.get(),
            computed,
        });
    }
    let incompat = raw.incompat.get() & !V3_KNOWN_INCOMPAT;
    let ro_compat = raw.ro_compat.get();
    if incompat != 0 || ro_compat != 0 {
        return Err(RofsError::UnknownFeatures {
            incompat,
            ro_compat,
        });
    }
    if raw.block_size.get() != V3_BLOCK_SIZE {
        return Err(Problem::BlockSize(raw.block_size.get().into()).into());
    }
    let image_bytes = raw
        .image_blocks
        .get()
        .checked_mul(BS)
        .ok_or(Problem::SizeOverflows)?;
    if image_bytes > device_bytes {
        return Err(RofsError::Truncated {
            needed_bytes: image_bytes,
            device_bytes,
        });
    }
    let lz4 = raw.incompat.get() & V3_INCOMPAT_LZ4 != 0;
    if lz4 && !V3_CLUSTER_LOG2.contains(&raw.cluster_log2.get()) {
        return Err(problem("cluster size", raw.cluster_log2.get().into()));
    }
    let meta_start = raw.meta_start.get();
    let meta_end = meta_start.checked_add(raw.meta_blocks.get());
    if meta_start == 0 || meta_end.is_none_or(|end| end > raw.image_blocks.get()) {
        return Err(Problem::MetadataRegion {
            offset: meta_start.saturating_mul(BS),
            len: raw.meta_blocks.get().saturating_mul(BS),
        }
        .into());
    }
    Ok(Super {
        raw,
        meta: (meta_start, meta_end.unwrap_or(meta_start)),
        root: raw.root_ino.get(),
    })
}

/// The check a metadata block passes before it enters the cache: its
/// CRC32, a known kind, and (entry blocks) every entry in bounds with a
/// valid name, names strictly increasing, and a known type. Afterwards
/// readers index the block without further checks failing.
pub(crate) fn check_block(block: &[u8]) -> Result<(), &'static str> {
    let header = RawBlockHeader::ref_from_prefix(block)
        .map_err(|_| "short metadata block")?
        .0;
    if block.len() != BS as usize {
        return Err("short metadata block");
    }
    if header.crc32.get() != block_crc(block) {
        return Err("metadata block CRC32 mismatch");
    }
    let count = usize::from(header.count.get());
    match header.kind {
        BLOCK_INODES if (BLOCK_HEADER_SIZE..=block.len()).contains(&count) => Ok(()),
        BLOCK_INODES => Err("inode block fill out of range"),
        BLOCK_DIRENTS => check_entries(block, count, false),
        BLOCK_DIR_INDEX if header.reserved == 0 => Err("index block of level 0"),
        BLOCK_DIR_INDEX => check_entries(block, count, true),
        _ => Err("metadata block of unknown kind"),
    }
}

/// Entry blocks and (`index`) lookup index blocks share a layout; index
/// records carry a block number and type 0.
fn check_entries(block: &[u8], count: usize, index: bool) -> Result<(), &'static str> {
    let names_from = BLOCK_HEADER_SIZE + count * V3_DIRENT_SIZE;
    if count == 0 || names_from > block.len() {
        return Err("entry count out of range");
    }
    let mut previous: &[u8] = &[];
    for i in 0..count {
        let (entry, name) = entry_at(block, i).ok_or("entry name outside its block")?;
        if (name.as_ptr() as usize) < block.as_ptr() as usize + names_from {
            return Err("entry name overlaps the entries");
        }
        if !name_ok(name, true) {
            return Err("invalid entry name");
        }
        if i > 0 && name <= previous {
            return Err("entry names not strictly increasing");
        }
        let typed = matches!(entry.file_type, DT_REG | DT_DIR | DT_LNK);
        if typed == index || entry.ino.get() == 0 {
            return Err("entry of unknown type or inode 0");
        }
        previous = name;
    }
    Ok(())
}

/// Entry `i` of an entry block and its name (bounds-checked only).
pub(crate) fn entry_at(block: &[u8], i: usize) -> Option<(&RawV3DirEntry, &[u8])> {
    let at = BLOCK_HEADER_SIZE + i * V3_DIRENT_SIZE;
    let entry = RawV3DirEntry::ref_from_bytes(block.get(at..at + V3_DIRENT_SIZE)?).ok()?;
    let off = usize::from(entry.name_off.get());
    let name = block.get(off..off + usize::from(entry.name_len))?;
    Some((entry, name))
}

impl Volume<'static> {
    /// Mount: read block 0 through the cache, check the superblock, and
    /// read the root inode. Nothing else is read or kept.
    pub fn mount(dev: Arc<CachedDevice>, verify: bool) -> Result<Self, RofsError> {
        let block0 = dev.page(0, None)?;
        let sb = parse_super(&block0, BlockDevice::size_bytes(&*dev))?;
        Volume::open(Source::Cache(dev), sb, verify)
    }
}

impl<'a> Volume<'a> {
    /// Open the image on a borrowed device, for host tools (no cache).
    pub fn direct(dev: &'a dyn BlockDevice) -> Result<Self, RofsError> {
        let mut block0 = crate::mem::vec_filled(BS.min(dev.size_bytes()), 0u8)?;
        drivers::read_bytes(dev, 0, &mut block0)?;
        let sb = parse_super(&block0, dev.size_bytes())?;
        Volume::open(Source::Direct(dev), sb, false)
    }

    fn open(dev: Source<'a>, sb: Super, verify: bool) -> Result<Self, RofsError> {
        let clusters = match &dev {
            Source::Cache(dev) if sb.raw.incompat.get() & V3_INCOMPAT_LZ4 != 0 => {
                Some(dev.space().cache().register("rofs:lz4")?)
            }
            _ => None,
        };
        let volume = Volume {
            dev,
            sb,
            verified: verify.then(|| Mutex::new(Vec::new())),
            clusters,
        };
        let root = volume.inode(sb.root)?;
        if root.dtype() != DT_DIR || root.raw.entry_addr.get() != 0 {
            return Err(problem("root inode is not a directory", sb.root));
        }
        Ok(volume)
    }

    /// Metadata block `block` of kind `kind`, checked when it was cached.
    pub fn meta_block(&self, block: u64, kind: u8) -> Result<Block, RofsError> {
        if !self.sb.meta_range().contains(&block) {
            return Err(problem("block outside the metadata region", block));
        }
        let dev = match &self.dev {
            Source::Cache(dev) => dev,
            Source::Direct(dev) => {
                let mut bytes = crate::mem::vec_filled(BS, 0u8)?;
                drivers::read_bytes(*dev, block * BS, &mut bytes)?;
                check_block(&bytes).map_err(|why| problem(why, block))?;
                if bytes.get(4) != Some(&kind) {
                    return Err(problem("metadata block of the wrong kind", block));
                }
                return Ok(Block::Read(bytes));
            }
        };
        let failed = Cell::new(None);
        let check = |_: u64, bytes: &[u8]| {
            check_block(bytes).map_err(|why| {
                failed.set(Some(why));
                BlockError::Corrupt
            })
        };
        let page = dev
            .page(block, Some(&check))
            .map_err(|e| match failed.get() {
                Some(why) => problem(why, block),
                None => RofsError::Device(e),
            })?;
        if page.get(4) != Some(&kind) {
            return Err(problem("metadata block of the wrong kind", block));
        }
        Ok(Block::Cached(page))
    }

    /// Inode `ino`, decoded and checked against the image's regions.
    pub fn inode(&self, ino: u64) -> Result<Node, RofsError> {
        let bad = |what| problem(what, ino);
        let addr = ino
            .checked_mul(V3_INO_SCALE)
            .ok_or_else(|| bad("inode number"))?;
        let at = (addr % BS) as usize;
        let page = self.meta_block(addr / BS, BLOCK_INODES)?;
        let used = page
            .get(6..8)
            .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
        let end = at + V3_INODE_SIZE;
        if at < BLOCK_HEADER_SIZE || end > used {
            return Err(bad("inode number outside its block's inodes"));
        }
        let raw = page
            .get(at..end)
            .and_then(|b| RawV3Inode::read_from_bytes(b).ok())
            .ok_or_else(|| bad("inode number"))?;
        let node = Node {
            ino,
            raw,
            page,
            inline_at: end,
        };
        self.check_node(&node, used)?;
        Ok(node)
    }

    fn check_node(&self, node: &Node, used: usize) -> Result<(), RofsError> {
        let bad = |what| Err(problem(what, node.ino));
        let raw = &node.raw;
        let inline = usize::from(raw.inline_len.get());
        if node.inline_at + inline > used {
            return bad("inline data past its block");
        }
        if raw.layout == LAYOUT_LZ4 {
            return self.check_lz4(node);
        }
        if raw.layout != LAYOUT_PLAIN {
            return bad("unknown data layout");
        }
        let start = raw.start.get();
        let count = u64::from(raw.count.get());
        match node.dtype() {
            DT_DIR => {
                let end = start.checked_add(count);
                if inline != 0
                    || (count > 0
                        && (start < self.sb.meta.0 || end.is_none_or(|e| e > self.sb.meta.1)))
                {
                    return bad("directory blocks outside the metadata region");
                }
            }
            DT_REG | DT_LNK => {
                let Some(block_bytes) = node.size().checked_sub(inline as u64) else {
                    return bad("inline data longer than the file");
                };
                let end = start.checked_add(count);
                if count != block_bytes.div_ceil(BS)
                    || (count > 0 && (start == 0 || end.is_none_or(|e| e > self.sb.meta.0)))
                {
                    return bad("file blocks outside the data region");
                }
                if node.dtype() == DT_LNK && !(1..=SYMLINK_MAX as u64).contains(&node.size()) {
                    return bad("symlink target length");
                }
            }
            _ => return bad("inode of unknown type"),
        }
        Ok(())
    }

    /// Read file bytes at `offset` of `node`: the block part from the data
    /// blocks (through the cache when mounted), the tail from the inline
    /// data. Returns the bytes read (0 at or past the end).
    pub fn read(
        &self,
        node: &Node,
        offset: u64,
        buf: &mut [u8],
        ra: Option<&ReadAhead>,
    ) -> Result<usize, RofsError> {
        let size = node.size();
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let n = core::cmp::min(buf.len() as u64, size - offset) as usize;
        let buf = &mut buf[..n];
        let block_bytes = node.block_bytes();
        let split = block_bytes.saturating_sub(offset).min(n as u64) as usize;
        let (head, tail) = buf.split_at_mut(split);
        if node.raw.layout == LAYOUT_LZ4 {
            self.read_lz4(node, offset, head, ra)?;
        } else if !head.is_empty() {
            let base = node
                .blocks()
                .start
                .checked_mul(BS)
                .ok_or_else(|| problem("file blocks", node.ino))?;
            match &self.dev {
                Source::Cache(dev) => dev.read(base + offset, head, ra, base + block_bytes)?,
                Source::Direct(dev) => drivers::read_bytes(*dev, base + offset, head)?,
            }
        }
        if !tail.is_empty() {
            let from = (offset + split as u64 - block_bytes) as usize;
            let src = node
                .inline()
                .get(from..from + tail.len())
                .ok_or_else(|| problem("inline data", node.ino))?;
            tail.copy_from_slice(src);
        }
        Ok(n)
    }

    /// The CRC32 of a file's whole contents, read in chunks.
    pub fn file_crc(&self, node: &Node) -> Result<u32, RofsError> {
        let mut buf = crate::mem::vec_filled((64 * 1024).min(node.size()), 0u8)?;
        let (mut crc, mut done) = (0, 0u64);
        while done < node.size() {
            let n = self.read(node, done, &mut buf, None)?;
            if n == 0 {
                break;
            }
            crc = crate::crc::update(crc, &buf[..n]);
            done += n as u64;
        }
        Ok(crc)
    }

    fn check_lz4(&self, node: &Node) -> Result<(), RofsError> {
        let raw = &node.raw;
        let count = u64::from(raw.count.get());
        let index_end = raw
            .start
            .get()
            .checked_mul(BS)
            .and_then(|s| s.checked_add(count * crate::format::v3::CLUSTER_RECORD_SIZE as u64));
        let ok = self.sb.raw.incompat.get() & V3_INCOMPAT_LZ4 != 0
            && node.dtype() == DT_REG
            && raw.inline_len.get() == 0
            && count == node.size().div_ceil(self.cluster_size())
            && raw.start.get() >= 1
            && index_end.is_some_and(|e| e <= self.sb.meta.0 * BS);
        if ok {
            Ok(())
        } else {
            Err(problem(
                "compressed file's index outside the data",
                node.ino,
            ))
        }
    }

    /// With `verify`: the remembered outcome of inode `ino`'s CRC check.
    pub fn verified(&self, ino: u64) -> Option<bool> {
        let list = self.verified.as_ref()?.lock();
        let i = list.binary_search_by_key(&ino, |e| e.0).ok()?;
        list.get(i).map(|e| e.1)
    }

    /// Whether reads check data CRCs (the `verify` option).
    pub fn verifies(&self) -> bool {
        self.verified.is_some()
    }

    /// Remember inode `ino`'s CRC outcome (forgotten if memory is short:
    /// then the next read checks again).
    pub fn remember(&self, ino: u64, good: bool) {
        let Some(list) = &self.verified else { return };
        let mut list = list.lock();
        if let Err(i) = list.binary_search_by_key(&ino, |e| e.0)
            && list.try_reserve(1).is_ok()
        {
            list.insert(i, (ino, good));
        }
    }
}
