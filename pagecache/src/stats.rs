//! Counters per space and in total, and their snapshot for `cachestat`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::page::SpaceId;

/// What a counter counts. Atomics, so the device layer counts its requests
/// without taking the cache lock.
#[derive(Clone, Copy)]
pub(crate) enum Event {
    Hit,
    Miss,
    ReadAhead,
    ReadAheadUsed,
    ReadAheadWasted,
    Eviction,
    Insert,
    DeviceRead,
    DeviceWrite,
    Bypass,
    AllocFailure,
}

const EVENTS: usize = 11;

/// The live counters of one space.
#[derive(Default)]
pub(crate) struct Tally([AtomicU64; EVENTS]);

impl Tally {
    pub(crate) fn add(&self, event: Event, n: u64) {
        if let Some(counter) = self.0.get(event as usize) {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn get(&self, event: Event) -> u64 {
        self.0
            .get(event as usize)
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }

    pub(crate) fn snapshot(&self, resident_pages: usize) -> Counters {
        Counters {
            hits: self.get(Event::Hit),
            misses: self.get(Event::Miss),
            readahead_pages: self.get(Event::ReadAhead),
            readahead_used: self.get(Event::ReadAheadUsed),
            readahead_wasted: self.get(Event::ReadAheadWasted),
            evictions: self.get(Event::Eviction),
            inserts: self.get(Event::Insert),
            device_reads: self.get(Event::DeviceRead),
            device_writes: self.get(Event::DeviceWrite),
            bypass_reads: self.get(Event::Bypass),
            alloc_failures: self.get(Event::AllocFailure),
            resident_bytes: (resident_pages * crate::PAGE_SIZE) as u64,
        }
    }
}

/// A snapshot of counters (of one space, or summed over all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Pages a caller asked for that were cached.
    pub hits: u64,
    /// Pages a caller asked for that were not (read from the device, or
    /// bypassed).
    pub misses: u64,
    /// Pages inserted by read-ahead, beyond what the caller asked for.
    pub readahead_pages: u64,
    /// Read-ahead pages hit before they left the cache.
    pub readahead_used: u64,
    /// Read-ahead pages that left the cache (evicted, invalidated) unhit.
    pub readahead_wasted: u64,
    /// Pages evicted to stay within the budget or by `shrink`.
    pub evictions: u64,
    /// Pages inserted.
    pub inserts: u64,
    /// Read requests sent to the device under the cache.
    pub device_reads: u64,
    /// Write requests sent to the device under the cache.
    pub device_writes: u64,
    /// Reads too large for the cache, sent straight to the device.
    pub bypass_reads: u64,
    /// Page or buffer allocations that failed even after an eviction.
    pub alloc_failures: u64,
    /// Bytes of pages in the cache now (whole pages).
    pub resident_bytes: u64,
}

impl Counters {
    pub(crate) fn accumulate(&mut self, other: &Counters) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.readahead_pages += other.readahead_pages;
        self.readahead_used += other.readahead_used;
        self.readahead_wasted += other.readahead_wasted;
        self.evictions += other.evictions;
        self.inserts += other.inserts;
        self.device_reads += other.device_reads;
        self.device_writes += other.device_writes;
        self.bypass_reads += other.bypass_reads;
        self.alloc_failures += other.alloc_failures;
        self.resident_bytes += other.resident_bytes;
    }

    /// Hits per hundred lookups (0 when there were none).
    pub fn hit_percent(&self) -> u64 {
        let lookups = self.hits + self.misses;
        (self.hits * 100).checked_div(lookups).unwrap_or(0)
    }
}

/// One registered space's counters.
#[derive(Clone, Debug)]
pub struct SpaceStats {
    pub id: SpaceId,
    pub name: String,
    pub counters: Counters,
}

/// Everything `PageCache::stats` reports.
#[derive(Clone, Debug)]
pub struct CacheStats {
    /// The budget in bytes.
    pub budget: usize,
    /// Bytes of pages in the protected segment (hit at least twice).
    pub protected_bytes: usize,
    /// Bytes the index itself holds (slab and hash tables), outside the
    /// budget: about 2.5% of the resident bytes.
    pub index_bytes: usize,
    /// Live spaces plus every space unregistered so far (resident bytes:
    /// live only).
    pub total: Counters,
    /// The live spaces, in registration slot order.
    pub spaces: Vec<SpaceStats>,
}

fn row(f: &mut fmt::Formatter<'_>, name: &str, c: &Counters) -> fmt::Result {
    writeln!(
        f,
        "{:<12} {:>9} {:>9} {:>9} {:>4}% {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        name,
        c.resident_bytes / 1024,
        c.hits,
        c.misses,
        c.hit_percent(),
        c.readahead_pages,
        c.readahead_used,
        c.readahead_wasted,
        c.evictions,
        c.device_reads,
        c.bypass_reads,
    )
}

/// The `cachestat` table: one line per space, then the total.
impl fmt::Display for CacheStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "cache: {} KiB budget, {} KiB resident ({} KiB protected), {} KiB index",
            self.budget / 1024,
            self.total.resident_bytes / 1024,
            self.protected_bytes / 1024,
            self.index_bytes / 1024,
        )?;
        writeln!(
            f,
            "{:<12} {:>9} {:>9} {:>9} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "space",
            "res-KiB",
            "hits",
            "misses",
            "hit",
            "ra",
            "ra-used",
            "ra-waste",
            "evicted",
            "dev-rd",
            "bypass",
        )?;
        for space in &self.spaces {
            row(f, &space.name, &space.counters)?;
        }
        row(f, "total", &self.total)
    }
}
