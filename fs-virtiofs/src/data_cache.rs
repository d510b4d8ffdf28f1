//! File data in the shared page cache: one [`pagecache::Space`] per mount,
//! pages keyed by node id and 4 KiB page number.
//!
//! # Policy (close-to-open, by mtime and size)
//! - An open file whose OPEN reply has `FOPEN_DIRECT_IO` (virtiofsd's
//!   `cache=none`) reads and writes the server directly, as Linux does.
//! - Otherwise reads are served from cached pages; what is missing is read
//!   from the server in page-aligned runs of at least [`FILL`] bytes (one
//!   READ each, at most `max_read`) and cached. Reads larger than
//!   [`pagecache::BYPASS_THRESHOLD`] go straight into the caller's buffer.
//! - Cached data carries the `(mtime, size)` the server last reported for
//!   the node. Any fresh attribute reply (GETATTR, an entry, SETATTR) that
//!   differs drops all the node's pages. An open without
//!   `FOPEN_KEEP_CACHE` asks for fresh attributes first, so a file changed
//!   on the host is seen at the next open (Linux's FUSE drops the data at
//!   every such open; keeping it while mtime and size are unchanged is
//!   its `auto_inval_data` behaviour).
//! - Our own writes go to the server first (write-through), then drop the
//!   pages they touched; truncation drops all of them. A forgotten node's
//!   pages go with it (the server may reuse its id).
//!
//! Within one open, changes made on the host are not seen until a fresh
//! attribute reply shows them.

use alloc::vec::Vec;
use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

use pagecache::{BYPASS_THRESHOLD, PAGE_SIZE, Space};
use vfs::{Errno, Stat, Timespec, VfsResult};

use crate::inode::FuseInode;
use crate::ops;
use crate::proto::fopen;
use crate::session::Session;

/// The least a fill reads from the server: small sequential reads then cost
/// one request per 128 KiB rather than per page.
pub const FILL: usize = 128 << 10;

/// What cached data of a node is valid for: its mtime and size.
type Stamp = (Timespec, u64);

/// A node's side of the cache.
#[derive(Default)]
pub(crate) struct DataState {
    stamp: spin::Mutex<Option<Stamp>>,
    /// Bumped before every drop of pages, so a fill whose READ raced with
    /// a write drops what it cached (it may be older than the write).
    generation: AtomicU64,
}

impl DataState {
    /// Drop the node's pages in `pages`.
    pub(crate) fn drop_pages(&self, space: &Space, nodeid: u64, pages: Range<u64>) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        space.invalidate_range(nodeid, pages);
    }

    /// Attributes fresh from the server: drop the node's pages if its mtime
    /// or size moved since its data was cached, and remember these.
    fn note_attrs(&self, space: &Space, nodeid: u64, stat: &Stat) {
        let stamp = (stat.mtime, stat.size);
        let mut current = self.stamp.lock();
        if current.is_some_and(|old| old != stamp) {
            self.drop_pages(space, nodeid, 0..u64::MAX);
        }
        *current = Some(stamp);
    }

    /// Bytes `offset .. offset + len` were written: drop the pages they touch.
    fn wrote(&self, space: &Space, nodeid: u64, offset: u64, len: usize) {
        if len > 0 {
            let page = PAGE_SIZE as u64;
            let end = offset.saturating_add(len as u64);
            self.drop_pages(space, nodeid, offset / page..end.div_ceil(page));
        }
    }
}

/// Read into `buf` at `offset` through the cache (see the module docs).
fn read(
    space: &Space,
    session: &Session,
    state: &DataState,
    (nodeid, fh, flags): (u64, u64, u32),
    offset: u64,
    buf: &mut [u8],
) -> VfsResult<usize> {
    if buf.len() > BYPASS_THRESHOLD {
        return ops::read(session, nodeid, fh, flags, offset, buf);
    }
    let page = PAGE_SIZE as u64;
    let largest = (session.params.max_read / PAGE_SIZE).max(1) * PAGE_SIZE;
    let mut done = 0;
    let mut fill: Vec<u8> = Vec::new();
    while done < buf.len() {
        let pos = offset.checked_add(done as u64).ok_or(Errno::EINVAL)?;
        let cached = space.read_cached(nodeid, pos, &mut buf[done..]);
        done += cached;
        if done == buf.len() {
            break;
        }
        let pos = pos + cached as u64;
        let start = pos - pos % page;
        let end = (offset + buf.len() as u64).div_ceil(page) * page;
        let want = ((end - start) as usize).clamp(FILL.min(largest), largest);
        if fill
            .try_reserve_exact(want.saturating_sub(fill.len()))
            .is_err()
        {
            // No memory for a fill buffer: the caller's buffer needs none.
            let got = ops::read(session, nodeid, fh, flags, pos, &mut buf[done..])?;
            return Ok(done + got);
        }
        fill.resize(want, 0);
        let generation = state.generation.load(Ordering::Acquire);
        let got = ops::read(session, nodeid, fh, flags, start, &mut fill[..want])?;
        let data = &fill[..got];
        // A failure to cache only costs a later read.
        let first = start / page;
        let _ = space.insert_run(nodeid, first, data);
        if state.generation.load(Ordering::Acquire) != generation {
            // A write or change landed meanwhile: what was read may predate it.
            space.invalidate_range(nodeid, first..first + got.div_ceil(PAGE_SIZE) as u64);
        }
        let skip = (pos - start) as usize;
        let Some(fresh) = data.get(skip..) else {
            break; // end of file before `pos`
        };
        let n = fresh.len().min(buf.len() - done);
        buf[done..done + n].copy_from_slice(&fresh[..n]);
        done += n;
        if got < want || n == 0 {
            break;
        }
    }
    Ok(done)
}

impl FuseInode {
    /// Attributes fresh from the server: cached data may be stale now.
    pub(crate) fn store_attrs(&self, stat: Stat, timeout: Timespec, now: Timespec, epoch: u64) {
        if let Some(space) = &self.session.data {
            self.data.note_attrs(space, self.nodeid, &stat);
        }
        self.attr.store(stat, timeout, now, epoch);
    }

    /// Bytes were written at `offset`: drop their cached pages and the
    /// cached attributes.
    pub(crate) fn wrote(&self, offset: u64, len: usize) {
        if let Some(space) = &self.session.data {
            self.data.wrote(space, self.nodeid, offset, len);
        }
        self.changed();
    }

    /// Read through the page cache (or straight, without one).
    pub(crate) fn read_cached(
        &self,
        fh: u64,
        flags: u32,
        offset: u64,
        buf: &mut [u8],
    ) -> VfsResult<usize> {
        match &self.session.data {
            Some(space) => read(
                space,
                &self.session,
                &self.data,
                (self.nodeid, fh, flags),
                offset,
                buf,
            ),
            None => ops::read(&self.session, self.nodeid, fh, flags, offset, buf),
        }
    }

    /// At an open with these `FOPEN_*` flags: whether reads may use the
    /// cache, after fresh attributes have dropped stale data.
    pub(crate) fn open_cached(&self, open_flags: u32) -> VfsResult<bool> {
        if self.session.data.is_none() || open_flags & fopen::DIRECT_IO != 0 {
            return Ok(false);
        }
        if open_flags & fopen::KEEP_CACHE == 0 {
            let now = self.session.clock.now();
            let epoch = self.session.epoch();
            let (mut stat, timeout) = ops::getattr(&self.session, self.nodeid, None)?;
            stat.ino = self.ino;
            self.store_attrs(stat, timeout, now, epoch);
        }
        Ok(true)
    }
}
