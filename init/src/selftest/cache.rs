//! The page cache under the whole stack: its counters move as reads say
//! they must, `/dev/vblk0` and `/` read through one space, and memory the
//! cache holds goes back to the heap when an allocation needs it.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use vfs::pagecache::{CacheStats, Counters, PAGE_SIZE, PageCache, Space};
use vfs::{OpenFlags, Vfs};

use super::Outcome;
use super::check::{crc_file, ensure, equal, ok, open, with_fd};
use super::facts::CrcEntry;

/// The counters of the space named `name`.
fn space(stats: &CacheStats, name: &str) -> Result<Counters, String> {
    stats
        .spaces
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.counters)
        .ok_or_else(|| format!("no cache space named {name}"))
}

fn stats(cache: &PageCache) -> Result<CacheStats, String> {
    cache.stats().map_err(|e| format!("cache stats: {e:?}"))
}

/// Drop every cached page, keeping the budget.
fn empty(cache: &PageCache) {
    let budget = cache.budget();
    cache.set_budget(0);
    cache.set_budget(budget);
}

/// A file of at least 16 KiB whose pages fit in a quarter of the budget.
fn pick_file(list: &[CrcEntry], budget: usize) -> Result<&CrcEntry, String> {
    list.iter()
        .filter(|e| e.size >= 16 * 1024 && e.size <= (budget / 4) as u64)
        .max_by_key(|e| e.size)
        .ok_or_else(|| format!("no file of 16 KiB to {} KiB in the list", budget / 4096))
}

/// Read `entry` whole and check its CRC32.
fn read_checked(vfs: &Vfs, entry: &CrcEntry) -> Outcome {
    let mut buf = alloc::vec![0u8; 64 * 1024];
    let (size, crc) = crc_file(vfs, &entry.path, &mut buf)?;
    equal((size, crc), (entry.size, entry.crc), &entry.path)
}

/// The space `/` reads through: the one whose misses a cold read moved.
fn moved_space(before: &CacheStats, after: &CacheStats) -> Option<String> {
    after
        .spaces
        .iter()
        .find(|s| space(before, &s.name).map_or(true, |b| s.counters.misses > b.misses))
        .map(|s| s.name.clone())
}

/// `cache-counters`: a cold read misses and reads the device; a warm read
/// of the same file hits every page and sends no request.
pub(super) fn counters(vfs: &Vfs, list: &[CrcEntry]) -> Outcome {
    let cache = vfs.cache();
    let file = pick_file(list, cache.budget())?;
    empty(cache);
    let s0 = stats(cache)?;
    read_checked(vfs, file)?;
    let s1 = stats(cache)?;
    let name = moved_space(&s0, &s1).ok_or("a cold read moved no space's misses")?;
    let (c0, c1) = (space(&s0, &name).unwrap_or_default(), space(&s1, &name)?);
    ensure(c1.device_reads > c0.device_reads, || {
        format!("{name}: cold read sent no device request")
    })?;
    let pages = file.size / PAGE_SIZE as u64;
    ensure(c1.resident_bytes >= pages * PAGE_SIZE as u64, || {
        format!(
            "{name}: {} bytes resident after reading {}",
            c1.resident_bytes, file.size
        )
    })?;
    read_checked(vfs, file)?;
    let c2 = space(&stats(cache)?, &name)?;
    equal(
        c2.device_reads,
        c1.device_reads,
        "device reads of a warm read",
    )?;
    equal(c2.misses, c1.misses, "misses of a warm read")?;
    ensure(c2.hits >= c1.hits + pages, || {
        format!("warm read of {} pages: {} hits", pages, c2.hits - c1.hits)
    })?;
    ensure(
        stats(cache)?.total.resident_bytes <= cache.budget() as u64,
        || "resident bytes over the budget".into(),
    )
}

/// `cache-dev-shared`: `/dev/vblk0` reads through the cache (a second read
/// is all hits), and, unless `/` is verified (its own view of the disk),
/// in the same space as `/`.
pub(super) fn dev_shared(vfs: &Vfs, list: &[CrcEntry], cmdline: &str) -> Outcome {
    let cache = vfs.cache();
    empty(cache);
    let fd = open(vfs, "/dev/vblk0", OpenFlags::O_RDONLY, 0)?;
    let mut buf = alloc::vec![0u8; 64 * 1024];
    let (c0, c1, c2) = with_fd(vfs, fd, |fd| {
        let c0 = space(&stats(cache)?, "vblk0")?;
        ok(vfs.pread(fd, &mut buf, 0), "pread /dev/vblk0")?;
        let c1 = space(&stats(cache)?, "vblk0")?;
        ok(vfs.pread(fd, &mut buf, 0), "pread /dev/vblk0 again")?;
        Ok((c0, c1, space(&stats(cache)?, "vblk0")?))
    })?;
    ensure(c1.device_reads > c0.device_reads, || {
        "cold /dev read: no request".into()
    })?;
    equal(
        c2.device_reads,
        c1.device_reads,
        "requests of a warm /dev read",
    )?;
    ensure(c2.hits >= c1.hits + 16, || {
        "warm /dev read: not 16 hits".into()
    })?;
    if cmdline.contains("roothash=") {
        return Ok(());
    }
    let file = pick_file(list, cache.budget())?;
    let before = stats(cache)?;
    read_checked(vfs, file)?;
    let name = moved_space(&before, &stats(cache)?).ok_or("reading / moved no space")?;
    equal(name.as_str(), "vblk0", "the space / reads through")
}

/// `cache-shrink`: on a platform whose heap runs out (the kernel), fill
/// the heap, let the cache take most of what is left, then allocate more
/// than is left beside the cache: that succeeds because failed
/// allocations evict pages and retry. Elsewhere (host tests,
/// where allocation does not run out), `PageCache::shrink` itself: it
/// frees what it reports. The pages go into a space of the test's own, so
/// nothing else allocates while the heap is full; `heap` is the heap's
/// size in bytes when it is bounded.
pub(super) fn shrink(vfs: &Vfs, heap: Option<u64>) -> Outcome {
    let cache = vfs.cache();
    let budget = cache.budget();
    let space = cache
        .register("selftest")
        .map_err(|e| format!("register: {e:?}"))?;
    // Size the index for every page now, so filling it later allocates
    // page buffers only.
    cache.set_budget(CACHE_SHARE);
    let warmed = fill(&space, CACHE_SHARE);
    cache.set_budget(0);
    cache.set_budget(CACHE_SHARE);
    let outcome = match (warmed, heap) {
        (Err(e), _) => Err(e),
        (Ok(()), Some(heap)) => shrink_for_allocation(&space, heap),
        (Ok(()), None) => shrink_direct(cache, &space),
    };
    drop(space);
    cache.set_budget(budget);
    outcome
}

const CHUNK: usize = 64 * 1024;
/// The room left in the full heap and the cache's share of it.
const ROOM: usize = 8 * CHUNK;
const CACHE_SHARE: usize = 7 * CHUNK;

/// Insert pages into `space` until `bytes` are resident.
fn fill(space: &Space, bytes: usize) -> Outcome {
    let page = [0x5Au8; PAGE_SIZE];
    for index in 0..(bytes / PAGE_SIZE) as u64 {
        space
            .insert(1, index, &page)
            .map_err(|e| format!("insert page {index}: {e:?}"))?;
    }
    Ok(())
}

fn shrink_for_allocation(space: &Space, heap: u64) -> Outcome {
    // ROOM bytes in one block, then everything else the heap has in ever
    // smaller pieces, then ROOM freed for the cache's pages to fill.
    let mut room = Vec::<u8>::new();
    room.try_reserve_exact(ROOM)
        .map_err(|_| "no room for the test block")?;
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let most = usize::try_from(heap / CHUNK as u64).unwrap_or(usize::MAX);
    pieces
        .try_reserve_exact(most.saturating_mul(PIECE_SIZES.len() * 16) + 4096)
        .map_err(|_| "no room for the piece list")?;
    let mut taken: Vec<Vec<u8>> = Vec::new();
    taken
        .try_reserve_exact(2 * ROOM / PAGE_SIZE)
        .map_err(|_| "no room for the taken list")?;
    for size in PIECE_SIZES {
        while pieces.len() < pieces.capacity() {
            let mut piece = Vec::new();
            if piece.try_reserve_exact(size).is_err() {
                break;
            }
            pieces.push(piece);
        }
    }
    drop(room);
    let filled_cache = fill(space, CACHE_SHARE);
    let before = space.stats();
    // Now take page-sized blocks until the heap says no: only the cache's
    // pages, given back on failure, can supply most of them.
    while taken.len() < taken.capacity() {
        let mut block = Vec::new();
        if block.try_reserve_exact(PAGE_SIZE).is_err() {
            break;
        }
        taken.push(block);
    }
    let after = space.stats();
    let got = taken.len() * PAGE_SIZE;
    drop(taken);
    drop(pieces);
    filled_cache?;
    ensure(before.resident_bytes >= CACHE_SHARE as u64, || {
        format!("the cache only took {} bytes", before.resident_bytes)
    })?;
    let evicted = after.evictions - before.evictions;
    let pages = (CACHE_SHARE / PAGE_SIZE) as u64;
    ensure(evicted >= pages * 3 / 4, || {
        format!("{got} bytes allocated, only {evicted} of {pages} pages evicted for them")
    })?;
    ensure(got >= CACHE_SHARE, || {
        format!("{got} bytes allocated after {evicted} pages were evicted")
    })
}

/// The pieces the rest of the heap is taken in, largest first.
const PIECE_SIZES: [usize; 4] = [CHUNK, PAGE_SIZE, 256, 32];

fn shrink_direct(cache: &PageCache, space: &Space) -> Outcome {
    fill(space, CACHE_SHARE)?;
    let evicted = space.stats().evictions;
    let before = cache.resident_bytes();
    ensure(before >= CACHE_SHARE, || {
        format!("the cache only took {before} bytes")
    })?;
    let freed = cache.shrink(CHUNK);
    ensure(freed >= CHUNK, || format!("shrink freed {freed} bytes"))?;
    equal(
        cache.resident_bytes(),
        before - freed,
        "resident after shrink",
    )?;
    equal(
        space.stats().evictions - evicted,
        (freed / PAGE_SIZE) as u64,
        "evictions",
    )
}
