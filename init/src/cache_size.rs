//! `vfs.cache=SIZE`: the page cache's one budget, as bytes (`K`/`M`/`G`
//! suffixes) or a percentage of the heap (`25%`), and the default.
//!
//! The default is a quarter of the heap, at most [`DEFAULT_MAX`]: small
//! enough that `-m 2M` boots with room for everything else, and not a hard
//! reservation anyway, since the kernel shrinks the cache when an
//! allocation fails. `vfs.cache=0` turns caching off (reads go straight to
//! the device). A budget is never more than the heap.

use alloc::format;
use alloc::string::String;

/// The largest default budget.
pub const DEFAULT_MAX: u64 = 256 << 20;
/// The default share of the heap, in percent.
pub const DEFAULT_PERCENT: u64 = 25;

/// What `vfs.cache=` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSize {
    Bytes(u64),
    /// 0 to 100 percent of the heap.
    Percent(u8),
}

/// Parse the value of `vfs.cache=`.
pub fn parse(value: &str) -> Result<CacheSize, String> {
    if let Some(number) = value.strip_suffix('%') {
        let percent = number
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= 100 && !number.starts_with('+'))
            .ok_or_else(|| format!("vfs.cache=`{value}`: a percentage is 0% to 100%"))?;
        return Ok(CacheSize::Percent(percent));
    }
    vfs::parse_size(value)
        .map(CacheSize::Bytes)
        .ok_or_else(|| format!("vfs.cache=`{value}`: not a size (such as 8M or 25%)"))
}

/// The budget in bytes for a heap of `heap_bytes`.
pub fn budget(size: Option<CacheSize>, heap_bytes: u64) -> u64 {
    let bytes = match size {
        None => (heap_bytes / 100 * DEFAULT_PERCENT).min(DEFAULT_MAX),
        Some(CacheSize::Bytes(bytes)) => bytes,
        Some(CacheSize::Percent(p)) => heap_bytes / 100 * u64::from(p),
    };
    bytes.min(heap_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_percentages() {
        assert_eq!(parse("8M"), Ok(CacheSize::Bytes(8 << 20)));
        assert_eq!(parse("512k"), Ok(CacheSize::Bytes(512 << 10)));
        assert_eq!(parse("1G"), Ok(CacheSize::Bytes(1 << 30)));
        assert_eq!(parse("0"), Ok(CacheSize::Bytes(0)));
        assert_eq!(parse("25%"), Ok(CacheSize::Percent(25)));
        assert_eq!(parse("100%"), Ok(CacheSize::Percent(100)));
        for bad in [
            "",
            "%",
            "101%",
            "-1%",
            "+5%",
            "x",
            "8Q",
            "1.5M",
            "99999999999999999999G",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn budgets() {
        let heap = 100 << 20;
        assert_eq!(budget(None, heap), 25 << 20);
        assert_eq!(budget(None, 8 << 30), DEFAULT_MAX);
        assert_eq!(budget(Some(CacheSize::Percent(10)), heap), 10 << 20);
        assert_eq!(budget(Some(CacheSize::Bytes(4096)), heap), 4096);
        assert_eq!(
            budget(Some(CacheSize::Bytes(1 << 40)), heap),
            heap,
            "at most the heap"
        );
        assert_eq!(
            budget(Some(CacheSize::Percent(100)), u64::MAX),
            u64::MAX / 100 * 100
        );
        // -m 2M: about 1.3 MiB of heap, a few hundred KiB of cache.
        assert!(budget(None, 1300 << 10) < 400 << 10);
    }
}
