//! Listing a directory: READDIR replies handed to the VFS's sink, with
//! stable cookies (the server's offsets) across calls.
//!
//! An open directory keeps its last READDIR reply (a [`Chunk`]): a listing
//! that the sink stopped part way resumes from it without a new request.
//! The sink runs with no lock of ours held (the VFS may call back into this
//! filesystem from it, as `ls -R` does): the chunk is taken out of its slot
//! while it is walked.
//!
//! A hostile server cannot make a listing endless: a reply that hands back
//! the cookie it was asked for is EIO, and one pass (from cookie 0) yields
//! at most [`MAX_ENTRIES`] records.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use vfs::{DirEntryRef, DirSink, Errno, FileType, Inode, VfsResult};

use crate::inode::FuseInode;
use crate::ops;
use crate::proto::dirent::{self, DirentIter};
use crate::session::Session;

/// Bytes asked for per READDIR: about 400 typical names.
const READDIR_BUFFER: usize = 16 * 1024;
/// Records one pass over a directory may yield before it is taken for a
/// server that never ends its listing.
pub const MAX_ENTRIES: u64 = 1 << 22;

/// One READDIR reply, every record already checked.
pub(crate) struct Chunk {
    /// The cookie it was read at.
    start: u64,
    buf: Vec<u8>,
    len: usize,
    /// Whether `buf[..len]` holds a reply (not after an error or the end).
    valid: bool,
}

impl Chunk {
    fn new() -> VfsResult<Chunk> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(READDIR_BUFFER)
            .map_err(|_| Errno::ENOMEM)?;
        buf.resize(READDIR_BUFFER, 0);
        Ok(Chunk {
            start: 0,
            buf,
            len: 0,
            valid: false,
        })
    }

    /// Where the record after `cookie` starts, if this chunk holds it.
    fn position_after(&self, cookie: u64) -> Option<usize> {
        if !self.valid {
            return None;
        }
        if cookie == self.start {
            return (self.len > 0).then_some(0);
        }
        let records = &self.buf[..self.len];
        let mut iter = DirentIter::new(records);
        while let Some(Ok(record)) = iter.next() {
            if record.off == cookie {
                let at = self.len - iter.remaining();
                return (at < self.len).then_some(at);
            }
        }
        None
    }

    fn fill(&mut self, s: &Session, nodeid: u64, fh: u64, cookie: u64) -> VfsResult<()> {
        self.valid = false;
        self.len = ops::readdir(s, nodeid, fh, cookie, &mut self.buf)?;
        self.start = cookie;
        // An empty reply is the end now, not for later calls: entries may
        // be added after it.
        self.valid = self.len > 0;
        Ok(())
    }
}

/// List directory `nodeid` (open as `fh`) from `cookie` into `sink`,
/// reusing the chunk in `cache`. `delivered` counts records of the current
/// pass.
pub(crate) fn list(
    s: &Arc<Session>,
    nodeid: u64,
    fh: u64,
    cookie: u64,
    sink: &mut DirSink<'_>,
    cache: &spin::Mutex<Option<Chunk>>,
    delivered: &AtomicU64,
) -> VfsResult<()> {
    if cookie == 0 {
        delivered.store(0, Ordering::Relaxed);
    }
    let taken = cache.lock().take();
    let mut chunk = match taken {
        Some(chunk) => chunk,
        None => Chunk::new()?,
    };
    let result = walk(s, nodeid, fh, cookie, sink, &mut chunk, delivered);
    if result.is_err() {
        chunk.valid = false;
    }
    *cache.lock() = Some(chunk);
    result
}

fn walk(
    s: &Arc<Session>,
    nodeid: u64,
    fh: u64,
    mut cookie: u64,
    sink: &mut DirSink<'_>,
    chunk: &mut Chunk,
    delivered: &AtomicU64,
) -> VfsResult<()> {
    loop {
        let pos = match chunk.position_after(cookie) {
            Some(pos) => pos,
            None => {
                chunk.fill(s, nodeid, fh, cookie)?;
                if !chunk.valid {
                    return Ok(());
                }
                0
            }
        };
        for record in DirentIter::new(&chunk.buf[pos..chunk.len]) {
            let record = record?;
            cookie = record.off;
            if delivered.fetch_add(1, Ordering::Relaxed) >= MAX_ENTRIES {
                return Err(Errno::EIO);
            }
            if record.is_dot() {
                continue;
            }
            let Ok(name) = core::str::from_utf8(record.name) else {
                log::warn!("virtiofs: skipping a name that is not UTF-8 in directory {nodeid}");
                continue;
            };
            let file_type = match dirent::file_type(record.kind)? {
                Some(t) => t,
                None => type_by_lookup(s, nodeid, name)?,
            };
            let entry = DirEntryRef {
                ino: record.ino,
                file_type,
                name,
            };
            if !sink(entry, record.off) {
                return Ok(());
            }
        }
    }
}

/// The type of a record the host listed as `DT_UNKNOWN` (some host
/// filesystems do): ask for the node.
fn type_by_lookup(s: &Arc<Session>, dir: u64, name: &str) -> VfsResult<FileType> {
    Ok(FuseInode::lookup_node(s, dir, name)?.file_type())
}
