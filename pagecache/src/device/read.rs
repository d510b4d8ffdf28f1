//! The data read path of a [`CachedDevice`]: scan the cache, fetch what is
//! missing (plus read-ahead) in one device request, insert, copy out.

use alloc::vec::Vec;
use core::ops::Range;

use drivers::BlockError;

use super::{BYPASS_THRESHOLD, CachedDevice};
use crate::page::{PAGE_SIZE, Page};
use crate::readahead::ReadAhead;
use crate::state::Insert;
use crate::stats::Event;

/// Leading cached pages a read collects under one lock round.
const BATCH: usize = 16;

/// Most pages one cached read can touch: `BYPASS_THRESHOLD` bytes at an
/// unaligned offset.
const MAX_READ_PAGES: usize = BYPASS_THRESHOLD / PAGE_SIZE + 1;
const MISSING_WORDS: usize = MAX_READ_PAGES.div_ceil(64);

impl CachedDevice {
    /// Read `buf.len()` bytes at byte `offset` of the device through the
    /// cache.
    ///
    /// `readahead` is the open file's state (none: no read-ahead, as for
    /// random access); read-ahead stops at byte `limit` (the end of the
    /// file's data on the device; `u64::MAX` for the device end). A read
    /// issues at most one device request: the missing pages it needs, and
    /// when it continues a sequential run and needs the device, the missing
    /// pages of its window past its end. Reads over [`BYPASS_THRESHOLD`]
    /// go straight into `buf`, uncached. When no buffer for the request can
    /// be allocated, the read is served uncached rather than failed.
    pub fn read(
        &self,
        offset: u64,
        buf: &mut [u8],
        readahead: Option<&ReadAhead>,
        limit: u64,
    ) -> Result<(), BlockError> {
        let len = buf.len();
        let end = offset
            .checked_add(len as u64)
            .filter(|&end| end <= self.size)
            .ok_or(BlockError::OutOfRange)?;
        if len == 0 {
            return Ok(());
        }
        let access = readahead.map(|ra| ra.advance(offset, len));
        let budget = self.space.cache().budget();
        if len > BYPASS_THRESHOLD || budget < PAGE_SIZE {
            self.space.tally().add(Event::Bypass, 1);
            self.space
                .tally()
                .add(Event::Miss, pages_between(offset, end));
            return self.direct(offset, buf);
        }
        // A window larger than a quarter of the budget would evict itself.
        // Nor read ahead while pages cannot be allocated.
        let window = match self.space.cache().starved() {
            true => 0,
            false => access.map_or(0, |a| a.window).min(budget / 4),
        };
        let same_page = access.is_some_and(|a| a.same_page);
        let plan = Plan::new(self, offset, end, window, limit);
        let scan = self.scan(&plan, same_page);
        for (i, page) in scan.batch.iter().take(scan.lead).enumerate() {
            if let Some(page) = page {
                plan.copy_page(plan.first + i as u64, page, buf);
            }
        }
        let span = match scan.missing_span(&plan) {
            Some(span) => span,
            None => return self.copy_rest(&plan, &scan, None, buf),
        };
        self.space.tally().add(Event::Miss, scan.missing_count());
        let Some(temp) = self.fetch(&plan, span.clone())? else {
            self.space.tally().add(Event::AllocFailure, 1);
            return self.direct(offset, buf);
        };
        plan.copy_span(span.start, &temp, buf);
        self.insert_span(&plan, &scan, span.clone(), &temp);
        self.copy_rest(&plan, &scan, Some(span), buf)
    }

    /// Phase 1, under one lock: collect the leading cached pages (counted as
    /// hits), find the missing ones, and how far read-ahead may go.
    fn scan(&self, plan: &Plan, same_page: bool) -> Scan {
        let mut scan = Scan {
            batch: [const { None }; BATCH],
            lead: 0,
            missing: [0; MISSING_WORDS],
            first_missing: None,
            last_missing: None,
            ahead_end: plan.last + 1,
            epoch: 0,
        };
        let mut state = self.space.cache().lock();
        scan.epoch = state.epoch(self.space.id()).unwrap_or(0);
        for page in plan.first..=plan.last {
            let key = self.key(page);
            let rel = (page - plan.first) as usize;
            if scan.first_missing.is_none() && scan.lead < BATCH {
                let promote = !(same_page && page == plan.first);
                if let Some(hit) = state.hit(&key, promote) {
                    if let Some(slot) = scan.batch.get_mut(scan.lead) {
                        *slot = Some(hit);
                    }
                    scan.lead += 1;
                    continue;
                }
            } else if state.contains(&key) {
                continue;
            }
            scan.mark_missing(rel, page);
        }
        self.space.tally().add(Event::Hit, scan.lead as u64);
        // Read ahead only when the missing run reaches the end of the read,
        // and only over pages not cached yet.
        if plan.window > 0 && scan.last_missing == Some(plan.last) {
            let mut page = plan.last + 1;
            while page < plan.ahead_limit && !state.contains(&self.key(page)) {
                page += 1;
            }
            scan.ahead_end = page;
        }
        scan
    }

    /// One device request for `span` (page numbers) into a new buffer.
    /// `Ok(None)` when no buffer could be allocated even without the
    /// read-ahead part.
    fn fetch(&self, plan: &Plan, span: Range<u64>) -> Result<Option<Vec<u8>>, BlockError> {
        let bytes = |pages: &Range<u64>| {
            let start = pages.start * PAGE_SIZE as u64;
            let end = (pages.end * PAGE_SIZE as u64).min(self.size);
            end.saturating_sub(start) as usize
        };
        let mut temp = Vec::new();
        let mut want = bytes(&span);
        if temp.try_reserve_exact(want).is_err() {
            // Without the read-ahead part.
            want = bytes(&(span.start..span.end.min(plan.last + 1)));
            if temp.try_reserve_exact(want).is_err() {
                return Ok(None);
            }
        }
        temp.resize(want, 0);
        self.device_read(span.start, &mut temp)?;
        Ok(Some(temp))
    }

    /// Cache the pages of `span` that were missing, from `temp` (which may
    /// stop short of `span.end` when read-ahead was dropped for memory).
    /// Stops quietly on allocation failure or when a write or invalidation
    /// happened since the scan (what was read may be stale).
    fn insert_span(&self, plan: &Plan, scan: &Scan, span: Range<u64>, temp: &[u8]) {
        for (i, chunk) in temp.chunks(PAGE_SIZE).enumerate() {
            let page = span.start + i as u64;
            let requested = page <= plan.last;
            if requested && !scan.is_missing((page - plan.first) as usize) {
                continue;
            }
            let Ok(buf) = self.space.cache().allocate(self.space.tally()) else {
                return;
            };
            let Ok(filled) = buf.fill(chunk) else {
                return;
            };
            let how = Insert {
                speculative: !requested,
                verified: false,
                replace: false,
            };
            let mut state = self.space.cache().lock();
            if state.epoch(self.space.id()) != Some(scan.epoch) {
                return;
            }
            if state.insert(self.key(page), filled, how).is_err() {
                return;
            }
        }
    }

    /// Phase 3: the requested pages neither collected in phase 1 nor
    /// missing. Those inside `span` were copied from the fetch and only
    /// count as hits; the others are copied from the cache (or read
    /// directly if evicted meanwhile).
    fn copy_rest(
        &self,
        plan: &Plan,
        scan: &Scan,
        span: Option<Range<u64>>,
        buf: &mut [u8],
    ) -> Result<(), BlockError> {
        let mut hits = 0;
        let mut outcome = Ok(());
        for page in plan.first + scan.lead as u64..=plan.last {
            if scan.is_missing((page - plan.first) as usize) {
                continue;
            }
            let hit = self.space.cache().lock().hit(&self.key(page), true);
            hits += u64::from(hit.is_some());
            if span.as_ref().is_some_and(|s| s.contains(&page)) {
                continue;
            }
            match hit {
                Some(cached) => plan.copy_page(page, &cached, buf),
                None => {
                    let (at, range) = plan.overlap(page);
                    if let Some(part) = buf.get_mut(range) {
                        outcome = self.direct(at, part);
                        if outcome.is_err() {
                            break;
                        }
                    }
                }
            }
        }
        self.space.tally().add(Event::Hit, hits);
        outcome
    }
}

/// Pages touched by `[offset, end)`.
fn pages_between(offset: u64, end: u64) -> u64 {
    let page = PAGE_SIZE as u64;
    end.div_ceil(page) - offset / page
}

/// Where one read lands: its pages and the read-ahead limit.
struct Plan {
    offset: u64,
    end: u64,
    first: u64,
    last: u64,
    window: usize,
    /// One past the last page read-ahead may fetch.
    ahead_limit: u64,
}

impl Plan {
    fn new(dev: &CachedDevice, offset: u64, end: u64, window: usize, limit: u64) -> Plan {
        let page = PAGE_SIZE as u64;
        let first = offset / page;
        let last = (end - 1) / page;
        let stop = end.saturating_add(window as u64).min(limit).min(dev.size);
        Plan {
            offset,
            end,
            first,
            last,
            window,
            ahead_limit: stop.div_ceil(page).max(last + 1),
        }
    }

    /// Device byte offset and `buf` range that page `page` covers.
    fn overlap(&self, page: u64) -> (u64, Range<usize>) {
        let start = (page * PAGE_SIZE as u64).max(self.offset);
        let end = ((page + 1) * PAGE_SIZE as u64).min(self.end);
        let from = (start - self.offset) as usize;
        (start, from..from + end.saturating_sub(start) as usize)
    }

    fn copy_page(&self, page: u64, cached: &Page, buf: &mut [u8]) {
        let (at, range) = self.overlap(page);
        let src = (at - page * PAGE_SIZE as u64) as usize;
        if let (Some(dst), Some(src)) = (buf.get_mut(range.clone()), cached.get(src..))
            && let Some(src) = src.get(..dst.len())
        {
            dst.copy_from_slice(src);
        }
    }

    /// Copy the requested part of a fetch starting at page `start`.
    fn copy_span(&self, start: u64, temp: &[u8], buf: &mut [u8]) {
        let base = start * PAGE_SIZE as u64;
        let from = self.offset.max(base);
        let to = self.end.min(base + temp.len() as u64);
        if to <= from {
            return;
        }
        let n = (to - from) as usize;
        let src = (from - base) as usize;
        let dst = (from - self.offset) as usize;
        if let (Some(d), Some(s)) = (buf.get_mut(dst..dst + n), temp.get(src..src + n)) {
            d.copy_from_slice(s);
        }
    }
}

/// What phase 1 found.
struct Scan {
    batch: [Option<Page>; BATCH],
    lead: usize,
    /// Bitmap of the requested pages found missing, relative to the first.
    missing: [u64; MISSING_WORDS],
    first_missing: Option<u64>,
    last_missing: Option<u64>,
    /// One past the last read-ahead page to fetch.
    ahead_end: u64,
    epoch: u64,
}

impl Scan {
    fn mark_missing(&mut self, rel: usize, page: u64) {
        if let Some(word) = self.missing.get_mut(rel / 64) {
            *word |= 1 << (rel % 64);
        }
        self.first_missing.get_or_insert(page);
        self.last_missing = Some(page);
    }

    fn is_missing(&self, rel: usize) -> bool {
        self.missing
            .get(rel / 64)
            .is_some_and(|word| word & (1 << (rel % 64)) != 0)
    }

    fn missing_count(&self) -> u64 {
        self.missing.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// The pages to fetch: first to last missing, plus read-ahead.
    fn missing_span(&self, plan: &Plan) -> Option<Range<u64>> {
        let first = self.first_missing?;
        let last = self.last_missing?;
        let end = if last == plan.last {
            self.ahead_end
        } else {
            last + 1
        };
        Some(first..end)
    }
}
