//! The attribute cache of one node: what a GETATTR, SETATTR or entry reply
//! said, kept for as long as the server allowed (`attr_valid`), on the
//! mount's clock.
//!
//! A cached value is dropped early when this client changes the node (a
//! write, a truncate, a setattr stores its reply instead) and, through the
//! session's epoch, when any namespace change happens (create, link, unlink,
//! rename, ...), since those move link counts and directory times of nodes we
//! cannot name cheaply. With virtiofsd's `cache=none` the server allows 0 s,
//! so nothing is kept; `cache=auto` allows 1 s, `cache=always` a day.

use vfs::{Stat, Timespec};

#[derive(Clone, Copy)]
struct Cached {
    stat: Stat,
    until: Timespec,
    epoch: u64,
}

#[derive(Default)]
pub(crate) struct AttrCache {
    slot: spin::Mutex<Option<Cached>>,
}

/// `now + timeout`, saturating.
fn deadline(now: Timespec, timeout: Timespec) -> Timespec {
    let mut sec = now.sec.saturating_add(timeout.sec);
    let mut nsec = now.nsec + timeout.nsec;
    if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        sec = sec.saturating_add(1);
    }
    Timespec::new(sec, nsec)
}

impl AttrCache {
    /// The cached attributes, if still valid at `now` in `epoch`.
    pub fn get(&self, now: Timespec, epoch: u64) -> Option<Stat> {
        let slot = self.slot.lock();
        slot.filter(|c| c.epoch == epoch && now < c.until)
            .map(|c| c.stat)
    }

    /// Keep `stat` for `timeout` from `now` (nothing if the timeout is 0).
    pub fn store(&self, stat: Stat, timeout: Timespec, now: Timespec, epoch: u64) {
        let mut slot = self.slot.lock();
        *slot = (timeout != Timespec::ZERO).then(|| Cached {
            stat,
            until: deadline(now, timeout),
            epoch,
        });
    }

    /// Forget what is cached (the node changed).
    pub fn invalidate(&self) {
        *self.slot.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_until_timeout_or_epoch_change() {
        let cache = AttrCache::default();
        let stat = Stat {
            size: 5,
            ..Stat::default()
        };
        let t0 = Timespec::new(100, 900_000_000);
        cache.store(stat, Timespec::new(1, 200_000_000), t0, 3);
        assert_eq!(cache.get(t0, 3), Some(stat));
        assert_eq!(cache.get(Timespec::new(102, 99_999_999), 3), Some(stat));
        assert_eq!(cache.get(Timespec::new(102, 100_000_000), 3), None);
        assert_eq!(cache.get(t0, 4), None);
        cache.invalidate();
        assert_eq!(cache.get(t0, 3), None);
        // A zero timeout caches nothing; a huge one saturates.
        cache.store(stat, Timespec::ZERO, t0, 3);
        assert_eq!(cache.get(t0, 3), None);
        cache.store(stat, Timespec::new(i64::MAX, 999_999_999), t0, 3);
        assert_eq!(cache.get(Timespec::new(i64::MAX - 1, 0), 3), Some(stat));
    }
}
