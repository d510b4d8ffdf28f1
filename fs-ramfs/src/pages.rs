//! File contents as a sparse map of fixed-size pages.
//!
//! A file's bytes live in pages of [`PAGE_SIZE`] bytes keyed by page index in a
//! `BTreeMap`, so appends never copy earlier data and holes cost nothing. A
//! page's buffer may be shorter than `PAGE_SIZE` (a small file does not pay for
//! 64 KiB); bytes past a buffer's end, and missing pages, read as zeros. A short
//! buffer grows by doubling, so growing one page copies at most about
//! `PAGE_SIZE` bytes in total.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use vfs::{Errno, VfsResult};

use crate::Space;

/// Bytes per page.
pub const PAGE_SIZE: usize = 64 * 1024;
const PAGE: u64 = PAGE_SIZE as u64;
/// Smallest buffer allocated for a page.
const MIN_BUFFER: usize = 256;
/// Largest file size, as on Linux (`MAX_LFS_FILESIZE`).
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// The data of one regular file.
#[derive(Default)]
pub struct Pages {
    size: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
    /// Bytes of page buffers held, charged to the filesystem's [`Space`].
    allocated: u64,
}

/// Buffer length for a page that must hold at least `need` bytes.
fn buffer_len(need: usize) -> usize {
    need.max(MIN_BUFFER).next_power_of_two().min(PAGE_SIZE)
}

/// A zeroed buffer of `len` bytes starting with `prefix`; ENOSPC instead of an
/// allocation failure.
fn new_buffer(len: usize, prefix: &[u8]) -> VfsResult<Box<[u8]>> {
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(len).map_err(|_| Errno::ENOSPC)?;
    buffer.extend_from_slice(prefix);
    buffer.resize(len, 0);
    Ok(buffer.into_boxed_slice())
}

impl Pages {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes of memory held for the contents.
    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    /// Copy bytes at `offset` into `buf`; 0 at or past the end.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.size || buf.is_empty() {
            return 0;
        }
        let len = buf
            .len()
            .min(usize::try_from(self.size - offset).unwrap_or(usize::MAX));
        let buf = &mut buf[..len];
        let end = offset + len as u64;
        let first = offset / PAGE;
        let last = (end - 1) / PAGE;
        // Bytes of `buf` filled so far.
        let mut filled = 0usize;
        for (&index, page) in self.pages.range(first..=last) {
            let page_start = index * PAGE;
            let from = page_start.max(offset);
            let to = (page_start + PAGE).min(end);
            // A hole before this page.
            let gap_end = (from - offset) as usize;
            buf[filled..gap_end].fill(0);
            let in_page = (from - page_start) as usize;
            let want = (to - from) as usize;
            // The part of the range this page's (possibly short) buffer holds.
            let held = page.get(in_page..).unwrap_or(&[]);
            let have = held.len().min(want);
            buf[gap_end..gap_end + have].copy_from_slice(&held[..have]);
            // Past the end of a short buffer.
            buf[gap_end + have..gap_end + want].fill(0);
            filled = gap_end + want;
        }
        buf[filled..].fill(0);
        len
    }

    /// Write `data` at `offset`, growing the file. Returns the bytes written,
    /// which is short only when space runs out part way; ENOSPC if nothing fit.
    pub fn write(&mut self, space: &Space, offset: u64, data: &[u8]) -> VfsResult<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if offset >= MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let room = usize::try_from(MAX_FILE_SIZE - offset).unwrap_or(usize::MAX);
        let data = &data[..data.len().min(room)];
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let index = pos / PAGE;
            let in_page = (pos % PAGE) as usize;
            let n = (PAGE_SIZE - in_page).min(data.len() - done);
            let chunk = &data[done..done + n];
            if let Err(e) = self.write_in_page(space, index, in_page, chunk) {
                if done == 0 {
                    return Err(e);
                }
                break;
            }
            done += n;
        }
        self.size = self.size.max(offset + done as u64);
        Ok(done)
    }

    fn write_in_page(
        &mut self,
        space: &Space,
        index: u64,
        in_page: usize,
        chunk: &[u8],
    ) -> VfsResult<()> {
        let need = in_page + chunk.len();
        match self.pages.get_mut(&index) {
            Some(page) if page.len() >= need => {
                page[in_page..need].copy_from_slice(chunk);
            }
            Some(page) => {
                let len = buffer_len(need);
                let extra = (len - page.len()) as u64;
                space.reserve(extra)?;
                let mut grown = match new_buffer(len, page) {
                    Ok(b) => b,
                    Err(e) => {
                        space.release(extra);
                        return Err(e);
                    }
                };
                grown[in_page..need].copy_from_slice(chunk);
                *page = grown;
                self.allocated += extra;
            }
            None => {
                let len = buffer_len(need);
                space.reserve(len as u64)?;
                // A write from the page start fills the buffer directly,
                // without zeroing it first.
                let result = if in_page == 0 {
                    new_buffer(len, chunk)
                } else {
                    new_buffer(len, &[]).map(|mut b| {
                        b[in_page..need].copy_from_slice(chunk);
                        b
                    })
                };
                let page = match result {
                    Ok(b) => b,
                    Err(e) => {
                        space.release(len as u64);
                        return Err(e);
                    }
                };
                self.pages.insert(index, page);
                self.allocated += len as u64;
            }
        }
        Ok(())
    }

    /// Set the size. Shrinking frees whole pages past the end and zeroes the
    /// tail of the last one, so a later extension reads zeros.
    pub fn truncate(&mut self, space: &Space, size: u64) -> VfsResult<()> {
        if size > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        if size < self.size {
            let keep_pages = size.div_ceil(PAGE);
            let dropped = self.pages.split_off(&keep_pages);
            let freed: u64 = dropped.values().map(|p| p.len() as u64).sum();
            drop(dropped);
            self.allocated -= freed;
            space.release(freed);
            let tail = (size % PAGE) as usize;
            if tail != 0
                && let Some(page) = self.pages.get_mut(&(size / PAGE))
                && tail < page.len()
            {
                page[tail..].fill(0);
            }
        }
        self.size = size;
        Ok(())
    }

    /// Drop all data, returning its space (the inode is going away).
    pub fn release_all(&mut self, space: &Space) {
        self.pages.clear();
        space.release(self.allocated);
        self.allocated = 0;
    }
}
