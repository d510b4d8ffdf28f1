//! A block device read through the cache: [`CachedDevice`].

use alloc::sync::{Arc, Weak};

use drivers::{BlockDevice, BlockError, check_request};

use crate::cache::{PageCache, Space};
use crate::page::{PAGE_SIZE, Page, PageKey};
use crate::readahead::MAX_WINDOW;
use crate::state::Insert;
use crate::stats::{Counters, Event};

mod read;

/// Reads larger than this go straight to the device, uncached.
pub const BYPASS_THRESHOLD: usize = MAX_WINDOW;

/// Device pages are object 0 of their space.
const DEVICE_OBJECT: u64 = 0;

/// A check run on a page's bytes (its index and valid bytes) when it enters
/// the cache through [`CachedDevice::page`]; an error keeps it out.
pub type Verify<'a> = dyn Fn(u64, &[u8]) -> Result<(), BlockError> + 'a;

/// A block device whose reads go through the page cache, in one space.
///
/// Device pages are keyed by their 4 KiB page number (object 0). Block
/// sizes 512 to 4096 (powers of two) work; the last page of a device whose
/// size is not a whole number of pages is partial. Writes go through to the
/// device, then update the cached pages they overlap (or drop those a
/// reader holds). Implements [`BlockDevice`], so any filesystem or a devfs
/// block node can use it unchanged.
pub struct CachedDevice {
    inner: Arc<dyn BlockDevice>,
    space: Space,
    block_size: usize,
    size: u64,
}

/// A device attached with [`PageCache::attach`], found again by the address
/// of either the device or its wrapper.
pub(crate) struct Attached {
    inner: usize,
    outer: usize,
    device: Weak<CachedDevice>,
}

fn address<T: ?Sized>(arc: &Arc<T>) -> usize {
    Arc::as_ptr(arc) as *const () as usize
}

impl PageCache {
    /// The cached view of `dev`, one per device: attaching the same device
    /// (or its `CachedDevice`) again returns the same wrapper, so a devfs
    /// node and a filesystem on one disk share one space and its pages.
    pub fn attach(
        self: &Arc<Self>,
        name: &str,
        dev: Arc<dyn BlockDevice>,
    ) -> Result<Arc<CachedDevice>, BlockError> {
        let addr = address(&dev);
        let mut devices = self.devices.lock();
        devices.retain(|d| d.device.strong_count() > 0);
        let found = devices
            .iter()
            .filter(|d| d.inner == addr || d.outer == addr)
            .find_map(|d| d.device.upgrade());
        if let Some(found) = found {
            return Ok(found);
        }
        devices.try_reserve(1).map_err(|_| BlockError::NoMemory)?;
        let cached = Arc::new(CachedDevice::new(self, name, dev)?);
        devices.push(Attached {
            inner: addr,
            outer: address(&cached),
            device: Arc::downgrade(&cached),
        });
        Ok(cached)
    }
}

impl CachedDevice {
    /// Wrap `inner` in a new space named `name`. Misaligned when the block
    /// size is not a power of two from 1 to 4096.
    pub fn new(
        cache: &Arc<PageCache>,
        name: &str,
        inner: Arc<dyn BlockDevice>,
    ) -> Result<CachedDevice, BlockError> {
        let block_size = inner.block_size();
        if !block_size.is_power_of_two() || block_size > PAGE_SIZE {
            return Err(BlockError::Misaligned);
        }
        let size = inner.num_blocks().saturating_mul(block_size as u64);
        Ok(CachedDevice {
            space: cache.register(name)?,
            inner,
            block_size,
            size,
        })
    }

    /// The device under the cache.
    pub fn inner(&self) -> &Arc<dyn BlockDevice> {
        &self.inner
    }

    /// This device's space.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// This device's counters.
    pub fn stats(&self) -> Counters {
        self.space.stats()
    }

    /// Drop every cached page of this device (after it changed underneath).
    pub fn invalidate(&self) -> usize {
        self.space.invalidate(DEVICE_OBJECT)
    }

    fn key(&self, page: u64) -> PageKey {
        self.space.page_key(DEVICE_OBJECT, page)
    }

    /// Valid bytes of device page `page`.
    fn page_len(&self, page: u64) -> usize {
        let start = page.saturating_mul(PAGE_SIZE as u64);
        self.size.saturating_sub(start).min(PAGE_SIZE as u64) as usize
    }

    fn page_count(&self) -> u64 {
        self.size.div_ceil(PAGE_SIZE as u64)
    }

    /// One device request for the pages from `page` on, filling `buf`
    /// (whole blocks: the span is clipped to the device end).
    fn device_read(&self, page: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.space.tally().add(Event::DeviceRead, 1);
        let block = page.saturating_mul((PAGE_SIZE / self.block_size) as u64);
        self.inner.read_blocks(block, buf)
    }

    /// Uncached byte-offset read (bypass and fallbacks), requests counted.
    fn direct(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        drivers::read_bytes(&Counted(self), offset, buf)
    }

    /// Device page `index` through the cache (for metadata), checked by
    /// `verify` before it is cached or first returned: a failed check
    /// caches nothing (and drops an unchecked cached copy) and returns the
    /// check's error. `NoMemory` when no page could be allocated.
    pub fn page(&self, index: u64, verify: Option<&Verify<'_>>) -> Result<Page, BlockError> {
        if index >= self.page_count() {
            return Err(BlockError::OutOfRange);
        }
        let key = self.key(index);
        let (cached, epoch) = {
            let mut state = self.space.cache().lock();
            let cached = state.peek(&key);
            if cached.is_some() {
                state.hit(&key, true);
                self.space.tally().add(Event::Hit, 1);
            }
            (cached, state.epoch(self.space.id()).unwrap_or(0))
        };
        if let Some((page, verified)) = cached {
            let Some(check) = verify.filter(|_| !verified) else {
                return Ok(page);
            };
            let outcome = check(index, &page);
            let mut state = self.space.cache().lock();
            match outcome {
                Ok(()) => state.mark_verified(&key, &page),
                Err(_) => {
                    if state.peek(&key).is_some_and(|(p, _)| p.same_page(&page)) {
                        state.remove(&key);
                    }
                }
            }
            return outcome.map(|()| page);
        }
        self.space.tally().add(Event::Miss, 1);
        let len = self.page_len(index);
        let mut page = self
            .space
            .cache()
            .allocate(self.space.tally())?
            .zeroed(len)?;
        let bytes = page.bytes_mut().ok_or(BlockError::NoMemory)?;
        self.device_read(index, bytes.get_mut(..len).ok_or(BlockError::OutOfRange)?)?;
        if let Some(check) = verify {
            check(index, &page)?;
        }
        let how = Insert {
            speculative: false,
            verified: verify.is_some(),
            replace: false,
        };
        let mut state = self.space.cache().lock();
        if state.epoch(self.space.id()) == Some(epoch) {
            // Not cached (no memory for the index) still returns the page.
            let _ = state.insert(key, page.clone(), how);
        }
        Ok(page)
    }
}

/// The inner device with its reads counted, for `drivers::read_bytes`.
struct Counted<'a>(&'a CachedDevice);

impl BlockDevice for Counted<'_> {
    fn block_size(&self) -> usize {
        self.0.block_size
    }

    fn num_blocks(&self) -> u64 {
        self.0.size / self.0.block_size as u64
    }

    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.0.space.tally().add(Event::DeviceRead, 1);
        self.0.inner.read_blocks(start, buf)
    }

    fn write_blocks(&self, _start: u64, _buf: &[u8]) -> Result<(), BlockError> {
        Err(BlockError::ReadOnly)
    }
}

impl BlockDevice for CachedDevice {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn num_blocks(&self) -> u64 {
        self.size / self.block_size as u64
    }

    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(self.block_size, self.num_blocks(), start, buf.len())?;
        self.read(start * self.block_size as u64, buf, None, self.size)
    }

    /// Write through, then bring the cached pages in line: patched in place
    /// when no reader holds them, dropped otherwise (and all dropped when
    /// the write failed part way).
    fn write_blocks(&self, start: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(self.block_size, self.num_blocks(), start, buf.len())?;
        self.space.tally().add(Event::DeviceWrite, 1);
        let outcome = self.inner.write_blocks(start, buf);
        if outcome == Err(BlockError::ReadOnly) {
            // Nothing was written: the cached pages still match the device.
            return outcome;
        }
        let offset = start * self.block_size as u64;
        let end = offset + buf.len() as u64;
        let mut state = self.space.cache().lock();
        state.bump_epoch(self.space.id());
        if buf.is_empty() {
            return outcome;
        }
        let page_bytes = PAGE_SIZE as u64;
        for page in offset / page_bytes..=(end - 1) / page_bytes {
            let key = self.key(page);
            if outcome.is_err() {
                state.remove(&key);
                continue;
            }
            let from = offset.max(page * page_bytes);
            let to = end.min((page + 1) * page_bytes);
            let src = (from - offset) as usize..(to - offset) as usize;
            match buf.get(src) {
                Some(data) => state.patch_or_drop(&key, (from % page_bytes) as usize, data),
                None => {
                    state.remove(&key);
                }
            }
        }
        outcome
    }

    fn flush(&self) -> Result<(), BlockError> {
        self.inner.flush()
    }

    fn is_read_only(&self) -> bool {
        self.inner.is_read_only()
    }
}
