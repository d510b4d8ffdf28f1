//! Deduplication: identical file contents are stored once.

use std::collections::BTreeMap;
use std::vec;
use std::vec::Vec;

use super::data::{open, read_full, source_error};
use super::{BuildError, FileSource, ImageBuilder, Kind, NodeId};

/// Where a file's data went.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Extent {
    pub start_block: u64,
    pub size: u64,
    pub crc32: u32,
    /// Bytes it occupies in the data region: `size` when stored as is;
    /// clusters and index when compressed (a v3 LZ4 file's `st_blocks`).
    pub stored: u64,
}

/// Stored extents by (size, crc32, hash64), for deduplication.
#[derive(Default)]
pub(super) struct Dedup {
    seen: BTreeMap<(u64, u32, u64), Vec<(Extent, NodeId)>>,
    pub stored: u64,
    pub deduplicated: u64,
}

impl Dedup {
    /// An earlier extent with the same key and, compared byte by byte, the
    /// same contents as `source`.
    pub fn find(
        &mut self,
        builder: &ImageBuilder,
        key: (u64, u32, u64),
        source: &FileSource,
    ) -> Result<Option<Extent>, BuildError> {
        for (earlier, node) in self.seen.get(&key).map(Vec::as_slice).unwrap_or(&[]) {
            let Kind::File(earlier_source) = &builder.nodes[*node].kind else {
                continue;
            };
            if same_contents(earlier_source, source)? {
                self.deduplicated += key.0;
                return Ok(Some(*earlier));
            }
        }
        Ok(None)
    }

    /// Remember an extent written at `start_block`, occupying `stored` bytes.
    pub fn store(
        &mut self,
        key: (u64, u32, u64),
        start_block: u64,
        stored: u64,
        node: NodeId,
    ) -> Extent {
        let extent = Extent {
            start_block,
            size: key.0,
            crc32: key.1,
            stored,
        };
        self.stored += key.0;
        self.seen.entry(key).or_default().push((extent, node));
        extent
    }
}

/// Whether two sources hold the same bytes, compared chunk by chunk.
fn same_contents(a: &FileSource, b: &FileSource) -> Result<bool, BuildError> {
    if let (FileSource::Bytes(x), FileSource::Bytes(y)) = (a, b) {
        return Ok(x == y);
    }
    let mut ra = open(a)?;
    let mut rb = open(b)?;
    let mut ba = vec![0u8; 1 << 16];
    let mut bb = vec![0u8; 1 << 16];
    loop {
        let na = read_full(&mut ra, &mut ba).map_err(|e| source_error(a, e))?;
        let nb = read_full(&mut rb, &mut bb).map_err(|e| source_error(b, e))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}
