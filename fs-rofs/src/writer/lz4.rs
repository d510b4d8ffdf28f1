//! v3 compressed file data: each file cut into clusters, each compressed
//! with LZ4 on its own and stored raw when it does not shrink, the clusters
//! back to back and then the file's cluster index, block-aligned.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::io::{Seek, Write};
use std::vec;
use std::vec::Vec;

use zerocopy::IntoBytes;

use super::data::{Sink, open, read_full, source_error};
use super::dedup::{Dedup, Extent};
use super::{BuildError, FileSource, ImageBuilder, NodeId};
use crate::format::v3::{
    CLUSTER_RAW, RawCluster, V3_BLOCK_SIZE, V3_CLUSTER_LOG2, V3_DEFAULT_CLUSTER_LOG2,
};

const BS: u64 = V3_BLOCK_SIZE as u64;

impl ImageBuilder {
    /// Store files of format v3 (other than those small enough to be
    /// inline) LZ4-compressed in clusters of `cluster_size` bytes (a power
    /// of two from 4 KiB to 1 MiB).
    pub fn compress_lz4(&mut self, cluster_size: u32) -> Result<(), BuildError> {
        let log2 = cluster_size.trailing_zeros();
        if !cluster_size.is_power_of_two() || !V3_CLUSTER_LOG2.contains(&log2) {
            return Err(BuildError::InvalidOption(std::format!(
                "cluster size {cluster_size}: a power of two from 4096 to 1048576"
            )));
        }
        self.lz4_cluster_log2 = Some(log2);
        Ok(())
    }

    /// Write one file's clusters and index at the (block-aligned) sink
    /// position; an earlier identical file's extent instead when there is
    /// one (`candidate`: another file has the same size).
    pub(super) fn write_lz4<W: Write + Seek>(
        &self,
        source: &FileSource,
        node: NodeId,
        candidate: bool,
        sink: &mut Sink<'_, W>,
        dedup: &mut Dedup,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Extent, BuildError> {
        let log2 = self.lz4_cluster_log2.unwrap_or(V3_DEFAULT_CLUSTER_LOG2);
        let cluster = 1usize << log2;
        let start = sink.pos;
        let mut reader = open(source)?;
        let mut chunk = vec![0u8; cluster];
        let mut packed = vec![0u8; lz4_flex::block::get_maximum_output_size(cluster)];
        let mut records: Vec<RawCluster> = Vec::new();
        let mut crc = crc32fast::Hasher::new();
        let mut hash = DefaultHasher::new();
        let (mut size, mut stored) = (0u64, 0u64);
        loop {
            let n = read_full(&mut reader, &mut chunk).map_err(|e| source_error(source, e))?;
            if n == 0 {
                break;
            }
            let data = &chunk[..n];
            crc.update(data);
            if candidate {
                hash.write(data);
            }
            let m = lz4_flex::block::compress_into(data, &mut packed)
                .map_err(|e| BuildError::Output(std::io::Error::other(e)))?;
            let (bytes, flags) = if m < n {
                (&packed[..m], 0)
            } else {
                (data, CLUSTER_RAW)
            };
            records.push(RawCluster {
                offset: sink.pos.into(),
                stored_len: (bytes.len() as u32).into(),
                flags: flags.into(),
            });
            sink.write(bytes)?;
            size += n as u64;
            stored += bytes.len() as u64;
            progress(n as u64);
            if n < cluster {
                break;
            }
        }
        let key = (size, crc.finalize(), hash.finish());
        if candidate && let Some(earlier) = dedup.find(self, key, source)? {
            sink.seek(start)?;
            return Ok(earlier);
        }
        sink.pad_to(BS)?;
        let index_block = sink.pos / BS;
        sink.write(records.as_bytes())?;
        sink.pad_to(BS)?;
        sink.data_summary.lz4_raw += size;
        sink.data_summary.lz4_stored += stored;
        let occupied = stored + records.as_bytes().len() as u64;
        Ok(dedup.store(key, index_block, occupied, node))
    }
}
