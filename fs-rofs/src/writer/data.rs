//! Streaming file data into the image, from block 1 on, in inode order.

use std::boxed::Box;
use std::collections::{BTreeMap, btree_map};
use std::fs::File;
use std::hash::{DefaultHasher, Hasher};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::vec;
use std::vec::Vec;

use super::dedup::{Dedup, Extent};
use super::plan::Plan;
use super::{BuildError, FileSource, Format, ImageBuilder, Kind, NodeId};
use crate::format::v3::V3_INLINE_MAX;

impl ImageBuilder {
    /// Stream every file's data from block 1 on; returns each inode's extent.
    pub(super) fn write_data<W: Write + Seek>(
        &self,
        plan: &Plan,
        sink: &mut Sink<'_, W>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<Extent>, BuildError> {
        let bs = u64::from(self.opts.block_size);
        // Sizes first: only files sharing a size can be duplicates, so only
        // those are hashed.
        let mut lens: BTreeMap<NodeId, u64> = BTreeMap::new();
        let mut files_of_size: BTreeMap<u64, u32> = BTreeMap::new();
        for planned in &plan.inodes {
            if let Kind::File(source) = &self.nodes[planned.node].kind
                && let btree_map::Entry::Vacant(slot) = lens.entry(planned.node)
            {
                let len = source_len(source)?;
                slot.insert(len);
                *files_of_size.entry(len).or_default() += 1;
            }
        }
        let total = lens.values().fold(0u64, |a, &b| a.saturating_add(b));
        progress(0, total);
        let mut done = 0u64;
        let mut extents = vec![Extent::default(); plan.inodes.len()];
        let mut by_node: BTreeMap<NodeId, Extent> = BTreeMap::new();
        let mut dedup = Dedup::default();
        sink.seek(bs)?;
        let mut buf = vec![0u8; 1 << 20];
        for (index, planned) in plan.inodes.iter().enumerate() {
            let Kind::File(source) = &self.nodes[planned.node].kind else {
                continue;
            };
            if let Some(extent) = by_node.get(&planned.node) {
                // v1 second name of a hard link: same data.
                extents[index] = *extent;
                continue;
            }
            let expected = lens.get(&planned.node).copied().unwrap_or(0);
            if self.opts.format == Format::V3 && expected <= V3_INLINE_MAX as u64 {
                // Stored inline with its inode (read again then).
                continue;
            }
            let candidate = expected > 0 && files_of_size.get(&expected).is_some_and(|&n| n > 1);
            let start = sink.pos;
            if self.lz4_cluster_log2.is_some() {
                let mut advance = |n: u64| {
                    done = done.saturating_add(n);
                    progress(done, total.max(done));
                };
                let extent = self.write_lz4(
                    source,
                    planned.node,
                    candidate,
                    sink,
                    &mut dedup,
                    &mut advance,
                )?;
                by_node.insert(planned.node, extent);
                extents[index] = extent;
                continue;
            }
            let extent = match source {
                // In memory: hash before writing, so a duplicate is never written.
                FileSource::Bytes(data) if candidate => {
                    let mut hash = DefaultHasher::new();
                    hash.write(data);
                    let key = (data.len() as u64, crc32fast::hash(data), hash.finish());
                    done = done.saturating_add(key.0);
                    progress(done, total.max(done));
                    match dedup.find(self, key, source)? {
                        Some(earlier) => earlier,
                        None => {
                            sink.write(data)?;
                            sink.pad_to(bs)?;
                            dedup.store(key, start / bs, key.0, planned.node)
                        }
                    }
                }
                // Streamed: hash while writing; on a duplicate, seek back
                // so the next file overwrites the copy.
                _ => {
                    let mut reader = open(source)?;
                    let mut crc = crc32fast::Hasher::new();
                    let mut hash = DefaultHasher::new();
                    let mut size = 0u64;
                    loop {
                        let n = reader
                            .read(&mut buf)
                            .map_err(|error| source_error(source, error))?;
                        if n == 0 {
                            break;
                        }
                        crc.update(&buf[..n]);
                        if candidate {
                            hash.write(&buf[..n]);
                        }
                        sink.write(&buf[..n])?;
                        size += n as u64;
                        done = done.saturating_add(n as u64);
                        progress(done, total.max(done));
                    }
                    let key = (size, crc.finalize(), hash.finish());
                    if size == 0 {
                        // No blocks; v1 points empty files at the next free block.
                        let at = if self.opts.format == Format::V1 {
                            start / bs
                        } else {
                            0
                        };
                        Extent {
                            start_block: at,
                            size: 0,
                            crc32: key.1,
                            stored: 0,
                        }
                    } else if let Some(earlier) = if candidate {
                        dedup.find(self, key, source)?
                    } else {
                        None
                    } {
                        sink.seek(start)?;
                        earlier
                    } else {
                        sink.pad_to(bs)?;
                        dedup.store(key, start / bs, key.0, planned.node)
                    }
                }
            };
            by_node.insert(planned.node, extent);
            extents[index] = extent;
        }
        sink.data_summary.stored = dedup.stored;
        sink.data_summary.deduplicated = dedup.deduplicated;
        Ok(extents)
    }
}

/// Bytes stored and not stored (deduplicated) by the data pass.
#[derive(Clone, Copy, Default)]
pub(super) struct DataSummary {
    pub stored: u64,
    pub deduplicated: u64,
    /// v3 compressed files: their bytes, and what their clusters take.
    pub lz4_raw: u64,
    pub lz4_stored: u64,
}

/// The output with its position and high-water mark tracked.
pub(super) struct Sink<'a, W> {
    pub out: &'a mut W,
    pub pos: u64,
    pub max: u64,
    pub data_summary: DataSummary,
}

impl<W: Write + Seek> Sink<'_, W> {
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        self.out.write_all(bytes).map_err(BuildError::Output)?;
        self.pos += bytes.len() as u64;
        self.max = self.max.max(self.pos);
        Ok(())
    }

    pub fn seek(&mut self, pos: u64) -> Result<(), BuildError> {
        self.out
            .seek(SeekFrom::Start(pos))
            .map_err(BuildError::Output)?;
        self.pos = pos;
        Ok(())
    }

    pub fn pad_to(&mut self, bs: u64) -> Result<(), BuildError> {
        let pad = (bs - self.pos % bs) % bs;
        self.write(&vec![0u8; pad as usize])
    }

    /// Pad to a whole block, also covering (with zeros) any bytes a
    /// deduplicated file left past the end; returns the image size.
    pub fn finish(&mut self, bs: u64) -> Result<u64, BuildError> {
        self.pad_to(bs)?;
        while self.pos < self.max {
            let n = (self.max - self.pos).min(1 << 20);
            self.write(&vec![0u8; n as usize])?;
        }
        self.pad_to(bs)?;
        Ok(self.pos)
    }
}

pub(super) fn source_error(source: &FileSource, error: io::Error) -> BuildError {
    match source {
        FileSource::Path(path) => BuildError::Io {
            path: path.clone(),
            error,
        },
        FileSource::Bytes(_) => BuildError::Output(error),
    }
}

fn source_len(source: &FileSource) -> Result<u64, BuildError> {
    match source {
        FileSource::Bytes(bytes) => Ok(bytes.len() as u64),
        FileSource::Path(path) => {
            std::fs::metadata(path)
                .map(|m| m.len())
                .map_err(|error| BuildError::Io {
                    path: path.clone(),
                    error,
                })
        }
    }
}

pub(super) fn open(source: &FileSource) -> Result<Box<dyn Read + '_>, BuildError> {
    Ok(match source {
        FileSource::Bytes(bytes) => Box::new(bytes.as_slice()),
        FileSource::Path(path) => Box::new(File::open(path).map_err(|error| BuildError::Io {
            path: path.clone(),
            error,
        })?),
    })
}

pub(super) fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
