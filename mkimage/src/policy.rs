//! What `--dir` and `--tar` inputs keep of the metadata they find:
//! `--all-root` (owners 0:0), `--mtime T` / `SOURCE_DATE_EPOCH` (every time
//! later than T becomes T, for reproducible images) and `--exclude`.

use crate::exclude::Excludes;

/// The choices shared by every tree-shaped input.
#[derive(Clone, Debug, Default)]
pub struct InputPolicy {
    pub excludes: Excludes,
    /// Owners become 0:0.
    pub all_root: bool,
    /// Times later than this (seconds) are clamped to it, nanoseconds 0.
    pub clamp: Option<i64>,
    /// Sockets, fifos and device nodes are dropped with a warning instead of
    /// failing the build.
    pub skip_special: bool,
}

impl InputPolicy {
    pub fn time(&self, sec: i64, nsec: u32) -> (i64, u32) {
        match self.clamp {
            // A time in the clamp's own second is past it unless its nsec is 0.
            Some(limit) if sec >= limit => (limit, 0),
            _ => (sec, nsec.min(999_999_999)),
        }
    }

    pub fn owner(&self, uid: u32, gid: u32) -> (u32, u32) {
        if self.all_root { (0, 0) } else { (uid, gid) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_later_times_and_keeps_earlier_ones() {
        let p = InputPolicy {
            clamp: Some(100),
            all_root: true,
            ..InputPolicy::default()
        };
        assert_eq!(p.time(99, 5), (99, 5));
        assert_eq!(p.time(100, 5), (100, 0));
        assert_eq!(p.time(1_000, 5), (100, 0));
        assert_eq!(p.time(-3, 2_000_000_000), (-3, 999_999_999));
        assert_eq!(p.owner(7, 8), (0, 0));
        assert_eq!(InputPolicy::default().owner(7, 8), (7, 8));
        assert_eq!(InputPolicy::default().time(5, 6), (5, 6));
    }
}
