//! v3 compressed files: clusters of `1 << cluster_log2` bytes, each LZ4 or
//! raw, found through a per-file index. A read decompresses only the
//! clusters it touches, into the page cache (keyed by the cluster's stored
//! offset, so deduplicated files share them).
//!
//! Hostile input: every index record is checked against the data region
//! and the cluster's length before use; buffers are one stored cluster and
//! one cluster at most, allocated fallibly; `lz4_flex`'s safe decoder never
//! writes past its output and a stream that does not fill the cluster
//! exactly is EIO. Each read touches a bounded number of clusters, so
//! nothing loops.

use pagecache::ReadAhead;
use zerocopy::FromBytes;

use super::{Node, Source, Volume, problem};
use crate::error::RofsError;
use crate::format::v3::{CLUSTER_RAW, CLUSTER_RECORD_SIZE, RawCluster, V3_BLOCK_SIZE};
use crate::mem;

const BS: u64 = V3_BLOCK_SIZE as u64;

impl Volume<'_> {
    /// Bytes per cluster (a power of two checked at mount).
    pub fn cluster_size(&self) -> u64 {
        1u64 << self.sb.raw.cluster_log2.get()
    }

    /// Record `index` of `node`'s cluster index, checked: inside the data
    /// blocks, raw exactly as long as the cluster, compressed shorter.
    pub fn cluster(&self, node: &Node, index: u64) -> Result<(RawCluster, u64), RofsError> {
        let bad = |what| problem(what, node.ino);
        let mut record = [0u8; CLUSTER_RECORD_SIZE];
        let at = node
            .raw
            .start
            .get()
            .checked_mul(BS)
            .and_then(|base| base.checked_add(index.checked_mul(CLUSTER_RECORD_SIZE as u64)?))
            .ok_or_else(|| bad("cluster index"))?;
        self.read_raw(at, &mut record)?;
        let raw = RawCluster::read_from_bytes(&record).map_err(|_| bad("cluster record"))?;
        let start = index * self.cluster_size();
        let len = self.cluster_size().min(node.size().saturating_sub(start));
        let stored = u64::from(raw.stored_len.get());
        let end = raw.offset.get().checked_add(stored);
        let fits = raw.offset.get() >= BS && end.is_some_and(|e| e <= self.sb.meta.0 * BS);
        let sized = if raw.flags.get() & CLUSTER_RAW != 0 {
            stored == len
        } else {
            stored > 0 && stored < len
        };
        if !fits || !sized || len == 0 || raw.flags.get() & !CLUSTER_RAW != 0 {
            return Err(bad("cluster record outside the data or of a wrong length"));
        }
        Ok((raw, len))
    }

    /// Device bytes at `at`: through the cache when mounted, with the open
    /// file's read-ahead (`ra`) up to byte `limit`.
    fn read_raw(&self, at: u64, buf: &mut [u8]) -> Result<(), RofsError> {
        self.read_ahead(at, buf, None, u64::MAX)
    }

    fn read_ahead(
        &self,
        at: u64,
        buf: &mut [u8],
        ra: Option<&ReadAhead>,
        limit: u64,
    ) -> Result<(), RofsError> {
        match &self.dev {
            Source::Cache(dev) => dev.read(at, buf, ra, limit)?,
            Source::Direct(dev) => drivers::read_bytes(*dev, at, buf)?,
        }
        Ok(())
    }

    /// Cluster `raw` (of `len` bytes) decompressed into a new buffer.
    fn inflate(
        &self,
        node: &Node,
        raw: &RawCluster,
        len: u64,
    ) -> Result<alloc::vec::Vec<u8>, RofsError> {
        let mut stored = mem::vec_filled(raw.stored_len.get().into(), 0u8)?;
        self.read_raw(raw.offset.get(), &mut stored)?;
        let mut out = mem::vec_filled(len, 0u8)?;
        match lz4_flex::block::decompress_into(&stored, &mut out) {
            Ok(n) if n as u64 == len => Ok(out),
            _ => Err(problem(
                "LZ4 cluster does not decompress to its length",
                node.ino,
            )),
        }
    }

    /// Read a compressed file's bytes at `offset` (within its size). Raw
    /// clusters are read with the open file's read-ahead (`ra`): a file's
    /// clusters lie back to back before its index.
    pub fn read_lz4(
        &self,
        node: &Node,
        offset: u64,
        buf: &mut [u8],
        ra: Option<&ReadAhead>,
    ) -> Result<(), RofsError> {
        let limit = node.raw.start.get().saturating_mul(BS);
        let size = self.cluster_size();
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let (index, within) = (pos / size, pos % size);
            let (raw, len) = self.cluster(node, index)?;
            let n = ((len - within) as usize).min(buf.len() - done);
            let dst = &mut buf[done..done + n];
            if raw.flags.get() & CLUSTER_RAW != 0 {
                // Raw clusters stored back to back are one device read, so a
                // big read of incompressible data goes straight into the
                // caller's buffer, as from a plain file.
                let run = n + self.raw_run(
                    node,
                    index + 1,
                    raw.offset.get() + len,
                    buf.len() - done - n,
                );
                let dst = &mut buf[done..done + run];
                self.read_ahead(raw.offset.get() + within, dst, ra, limit)?;
                done += run;
            } else {
                self.read_compressed(node, &raw, len, within, dst)?;
                done += n;
            }
        }
        Ok(())
    }

    /// How many of the next `want` bytes, from cluster `index` on, are raw
    /// clusters stored contiguously from device byte `at`. A bad record
    /// ends the run; the caller's next step reports it.
    fn raw_run(&self, node: &Node, mut index: u64, mut at: u64, want: usize) -> usize {
        let mut run = 0usize;
        while run < want {
            let Ok((raw, len)) = self.cluster(node, index) else {
                break;
            };
            if raw.flags.get() & CLUSTER_RAW == 0 || raw.offset.get() != at {
                break;
            }
            run += (len as usize).min(want - run);
            at += len;
            index += 1;
        }
        run
    }

    fn read_compressed(
        &self,
        node: &Node,
        raw: &RawCluster,
        len: u64,
        within: u64,
        dst: &mut [u8],
    ) -> Result<(), RofsError> {
        let object = raw.offset.get();
        if let Some(space) = &self.clusters
            && space.read_cached(object, within, dst) == dst.len()
        {
            return Ok(());
        }
        let cluster = self.inflate(node, raw, len)?;
        let from = within as usize;
        dst.copy_from_slice(
            cluster
                .get(from..from + dst.len())
                .ok_or_else(|| problem("read past a cluster", node.ino))?,
        );
        if let Some(space) = &self.clusters {
            // Not cached when memory is short: the next read decompresses again.
            let _ = space.insert_run(object, 0, &cluster);
        }
        Ok(())
    }

    /// Bytes a compressed file occupies in the data blocks (its clusters,
    /// which the writer stores back to back, and its index).
    pub fn stored_lz4(&self, node: &Node) -> Result<u64, RofsError> {
        let count = u64::from(node.raw.count.get());
        if count == 0 {
            return Ok(0);
        }
        let (first, _) = self.cluster(node, 0)?;
        let (last, _) = self.cluster(node, count - 1)?;
        let span = (last.offset.get() + u64::from(last.stored_len.get()))
            .saturating_sub(first.offset.get());
        Ok(span + count * CLUSTER_RECORD_SIZE as u64)
    }
}
