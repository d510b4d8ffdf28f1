//! v3 directories: sorted entries in entry blocks. Lookup is a binary
//! search over the directory's blocks by their first names (one cached
//! block per probe), then a binary search inside one block.

use super::{Block, Node, Volume, entry_at, problem};
use crate::error::RofsError;
use crate::format::v3::{
    BLOCK_DIR_INDEX, BLOCK_DIRENTS, BLOCK_HEADER_SIZE, V3_BLOCK_SIZE, V3_DIRENT_SIZE,
};

/// One entry found in a directory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    pub ino: u64,
    pub dtype: u8,
    /// Byte address of the entry in the image (what a directory inode's
    /// `entry_addr` must equal).
    pub addr: u64,
}

/// An entry block of a directory, checked to belong to it.
pub(crate) struct EntryBlock {
    pub block: u64,
    page: Block,
}

impl EntryBlock {
    pub fn len(&self) -> usize {
        self.page
            .get(6..8)
            .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])))
    }

    /// Entry `i`: the found record and its name.
    pub fn get(&self, i: usize) -> Option<(Found, &[u8])> {
        let (raw, name) = entry_at(&self.page, i)?;
        let addr =
            self.block * u64::from(V3_BLOCK_SIZE) + (BLOCK_HEADER_SIZE + i * V3_DIRENT_SIZE) as u64;
        let found = Found {
            ino: raw.ino.get(),
            dtype: raw.file_type,
            addr,
        };
        Some((found, name))
    }

    fn first_name(&self) -> &[u8] {
        self.get(0).map_or(&[], |(_, name)| name)
    }

    fn owner(&self) -> Option<u64> {
        self.page
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    }

    /// The entry named `name`, by binary search.
    fn find(&self, name: &[u8]) -> Result<Option<Found>, RofsError> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (found, entry_name) = self
                .get(mid)
                .ok_or_else(|| problem("entry outside its block", self.block))?;
            match entry_name.cmp(name) {
                core::cmp::Ordering::Equal => return Ok(Some(found)),
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok(None)
    }

    /// The last record whose name is at most `name`.
    fn last_at_most(&self, name: &[u8]) -> Result<Option<Found>, RofsError> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (_, entry_name) = self
                .get(mid)
                .ok_or_else(|| problem("entry outside its block", self.block))?;
            if entry_name <= name {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo
            .checked_sub(1)
            .and_then(|i| self.get(i))
            .map(|(found, _)| found))
    }
}

impl Volume<'_> {
    /// Entry block `index` of directory `dir`.
    pub fn entry_block(&self, dir: &Node, index: u64) -> Result<EntryBlock, RofsError> {
        let blocks = dir.blocks();
        let block = blocks
            .start
            .checked_add(index)
            .filter(|b| blocks.contains(b))
            .ok_or_else(|| problem("entry block index", dir.ino))?;
        let entries = EntryBlock {
            block,
            page: self.meta_block(block, BLOCK_DIRENTS)?,
        };
        if entries.owner() != Some(dir.ino) {
            return Err(problem("entry block of another directory", block));
        }
        Ok(entries)
    }

    /// The entry block that may hold `name`, through the directory's
    /// lookup index: from its top block down, the last record whose name
    /// is at most `name` at each level. Levels strictly decrease, so the
    /// descent ends; `None` when `name` sorts before every entry.
    fn find_indexed(
        &self,
        dir: &Node,
        top: u64,
        name: &[u8],
    ) -> Result<Option<EntryBlock>, RofsError> {
        let (mut block, mut above) = (top, u8::MAX);
        loop {
            let page = self.meta_block(block, BLOCK_DIR_INDEX)?;
            let index = EntryBlock { block, page };
            let level = index.page.get(5).copied().unwrap_or(0);
            if index.owner() != Some(dir.ino) || level == 0 || (block != top && level >= above) {
                return Err(problem("lookup index block out of place", block));
            }
            let Some(child) = index.last_at_most(name)? else {
                return Ok(None);
            };
            if level == 1 {
                let leaf = child.ino.checked_sub(dir.blocks().start);
                let leaf =
                    leaf.ok_or_else(|| problem("lookup index names no entry block", block))?;
                return self.entry_block(dir, leaf).map(Some);
            }
            (block, above) = (child.ino, level);
        }
    }

    /// The entry `name` of directory `dir`, if any.
    pub fn find(&self, dir: &Node, name: &[u8]) -> Result<Option<Found>, RofsError> {
        let top = u64::from(dir.raw.data_crc32.get());
        if top != 0 {
            let Some(block) = self.find_indexed(dir, top, name)? else {
                return Ok(None);
            };
            return block.find(name);
        }
        let count = u64::from(dir.raw.count.get());
        // The last block whose first name is <= name holds it, if any does.
        let (mut lo, mut hi) = (0u64, count);
        let mut candidate = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let block = self.entry_block(dir, mid)?;
            if block.first_name() <= name {
                lo = mid + 1;
                candidate = Some(block);
            } else {
                hi = mid;
            }
        }
        match candidate {
            Some(block) => block.find(name),
            None => Ok(None),
        }
    }

    /// The inode an entry names, checked against the entry: same type and,
    /// for a directory, this is the one entry allowed to name it.
    pub fn open_entry(&self, found: &Found) -> Result<Node, RofsError> {
        let node = self.inode(found.ino)?;
        if node.dtype() != found.dtype {
            return Err(problem("entry type differs from its inode's", found.ino));
        }
        if found.dtype == crate::format::v3::DT_DIR && node.raw.entry_addr.get() != found.addr {
            return Err(problem(
                "directory named by an entry other than its own (a loop or a second name)",
                found.ino,
            ));
        }
        Ok(node)
    }
}
