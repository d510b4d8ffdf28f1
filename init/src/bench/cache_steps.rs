//! The bench steps the page cache changes: counters after each step, small
//! and random reads, the LRU check, and dropping the cache before a cold
//! step (as `echo 3 > /proc/sys/vm/drop_caches` on Linux).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use vfs::pagecache::Counters;
use vfs::{Errno, OpenFlags, Vfs};

use super::{print_error, read_whole, report, timed};
use crate::{DiskStats, Platform, println};

/// The size of a small read (one page).
const SMALL_READ: usize = 4096;
/// Random 4 KiB reads of the big file per pass.
const RANDOM_READS: u64 = 2048;
/// Reads of the big file between the two hot-set passes of the LRU check.
const SCAN_READ: usize = 64 * 1024;
/// The hot set: this many of the smallest files (each under 64 KiB).
const HOT_FILES: usize = 64;

/// What the counters were before a step.
pub(super) struct Mark {
    disk: DiskStats,
    cache: Counters,
}

pub(super) fn mark(p: &dyn Platform, vfs: &Vfs) -> Mark {
    Mark {
        disk: p.disk_stats(),
        cache: vfs.cache().stats().map(|s| s.total).unwrap_or_default(),
    }
}

/// Print what `name` cost in device requests and what the cache did:
/// `INFO name-requests N` (virtio requests, for the harness) and one
/// `CACHE name ...` line of counter deltas.
pub(super) fn counters(p: &dyn Platform, vfs: &Vfs, name: &str, before: &Mark) {
    let now = mark(p, vfs);
    let requests = now.disk.requests.saturating_sub(before.disk.requests);
    println!(p, "INFO {}-requests {}", name, requests);
    let (a, b) = (&before.cache, &now.cache);
    println!(
        p,
        "CACHE {} hits={} misses={} readahead={} ra-used={} ra-wasted={} evicted={} dev-reads={} bypass={} resident-kib={}",
        name,
        b.hits.saturating_sub(a.hits),
        b.misses.saturating_sub(a.misses),
        b.readahead_pages.saturating_sub(a.readahead_pages),
        b.readahead_used.saturating_sub(a.readahead_used),
        b.readahead_wasted.saturating_sub(a.readahead_wasted),
        b.evictions.saturating_sub(a.evictions),
        b.device_reads.saturating_sub(a.device_reads),
        b.bypass_reads.saturating_sub(a.bypass_reads),
        b.resident_bytes / 1024,
    );
}

/// Drop every cached page (the budget stays).
pub(super) fn drop_cache(vfs: &Vfs) {
    let cache = vfs.cache();
    let budget = cache.budget();
    cache.set_budget(0);
    cache.set_budget(budget);
}

/// Read every file in 4 KiB `read` calls: cold (cache dropped) then warm.
pub(super) fn small_reads(p: &dyn Platform, vfs: &Vfs, files: &[String]) {
    let mut buf = vec![0u8; SMALL_READ];
    drop_cache(vfs);
    for name in ["small-cold", "small-warm"] {
        let before = mark(p, vfs);
        let outcome = timed(p, || {
            let mut total = 0u64;
            for path in files {
                total += read_whole(vfs, path, &mut buf)?;
            }
            Ok(total)
        });
        report(p, name, outcome, true);
        counters(p, vfs, name, &before);
    }
}

/// `RANDOM_READS` 4 KiB reads at pseudo-random page offsets of `big`
/// through one open file, cold then warm (the same offsets).
pub(super) fn random_reads(p: &dyn Platform, vfs: &Vfs, big: &str) {
    let size = match vfs.stat(big) {
        Ok(stat) => stat.size,
        Err(e) => return print_error(p, "random-cold", e),
    };
    let pages = (size / SMALL_READ as u64).max(1);
    let mut buf = vec![0u8; SMALL_READ];
    drop_cache(vfs);
    for name in ["random-cold", "random-warm"] {
        let before = mark(p, vfs);
        let outcome = timed(p, || {
            let fd = vfs.open(big, OpenFlags::O_RDONLY, 0)?;
            let mut x = 0x2545_f491_4f6c_dd1du64;
            let mut total = 0u64;
            let result = (0..RANDOM_READS).try_for_each(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let offset = (x % pages) * SMALL_READ as u64;
                total += vfs.pread(fd, &mut buf, offset)? as u64;
                Ok(())
            });
            vfs.close(fd)?;
            result.map(|()| total)
        });
        report(p, name, outcome, true);
        counters(p, vfs, name, &before);
        println!(p, "INFO {}-reads {}", name, RANDOM_READS);
    }
}

/// The LRU check: read a hot set of small files twice, one pass over the
/// big file in 64 KiB reads (through the cache), then the hot set again:
/// `lru-hot-reread` should send no request if the scan did not evict it.
pub(super) fn lru_check(p: &dyn Platform, vfs: &Vfs, files: &[String], big: &str) {
    let mut sized: Vec<(u64, &String)> = files
        .iter()
        .filter_map(|f| Some((vfs.stat(f).ok()?.size, f)))
        .filter(|(size, _)| *size > 0 && *size < 64 * 1024)
        .collect();
    sized.sort();
    let hot: Vec<&String> = sized.iter().take(HOT_FILES).map(|(_, f)| *f).collect();
    let mut buf = vec![0u8; SCAN_READ];
    let read_hot = |buf: &mut [u8]| -> Result<u64, Errno> {
        let mut total = 0;
        for path in &hot {
            total += read_whole(vfs, path, buf)?;
        }
        Ok(total)
    };
    drop_cache(vfs);
    for _ in 0..2 {
        if let Err(e) = read_hot(&mut buf) {
            return print_error(p, "lru-hot-reread", e);
        }
    }
    let before = mark(p, vfs);
    report(
        p,
        "lru-scan",
        timed(p, || read_whole(vfs, big, &mut buf)),
        true,
    );
    counters(p, vfs, "lru-scan", &before);
    let before = mark(p, vfs);
    report(p, "lru-hot-reread", timed(p, || read_hot(&mut buf)), true);
    counters(p, vfs, "lru-hot-reread", &before);
    println!(p, "INFO lru-hot-files {}", hot.len());
    println!(p, "INFO cache-budget-kib {}", vfs.cache().budget() / 1024);
}
