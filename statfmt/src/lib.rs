//! Text forms of file modes and times, as `ls -l` prints them.
//!
//! Shared by every tool that lists files (the guest's shell in `init`,
//! `mkimage ls -l`) so they print the same way. `no_std` + `alloc`; the mode
//! bits are decoded by [`vfs::FileType::from_mode`], so there is one reading
//! of them in the project.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use core::fmt;

use vfs::FileType;

/// The first character of an `ls -l` mode: `-`, `d`, `l`, `c`, `b`, `p`, `s`.
pub const fn type_char(file_type: FileType) -> char {
    match file_type {
        FileType::Regular => '-',
        FileType::Directory => 'd',
        FileType::Symlink => 'l',
        FileType::CharDevice => 'c',
        FileType::BlockDevice => 'b',
        FileType::Fifo => 'p',
        FileType::Socket => 's',
    }
}

/// `drwxr-xr-x` as `ls -l` prints a full mode, including setuid, setgid and
/// sticky (`s`/`S`, `t`/`T`). A mode with no known type shows `?`.
pub fn mode_string(mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(FileType::from_mode(mode).map_or('?', type_char));
    for (shift, special, special_char) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (mode & special != 0, bits & 1 != 0) {
            (true, true) => special_char,
            (true, false) => special_char.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// A UTC calendar time, from Unix seconds. Displays as `YYYY-MM-DD HH:MM:SS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl UtcTime {
    /// The proleptic Gregorian date and time of `secs` since 1970-01-01 UTC
    /// (days-from-civil inverted, exact for every i64 input whose day count
    /// fits; no table, no panics).
    pub fn from_unix(secs: i64) -> UtcTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let z = days.saturating_add(719_468);
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe
            .saturating_add(era.saturating_mul(400))
            .saturating_add(i64::from(month <= 2));
        UtcTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn modes_print_like_ls() {
        assert_eq!(mode_string(0o100644), "-rw-r--r--");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o041644), "drw-r--r-T");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o020666), "crw-rw-rw-");
        assert_eq!(mode_string(0o000644), "?rw-r--r--");
    }

    #[test]
    fn every_type_has_its_letter() {
        let types = [
            FileType::Regular,
            FileType::Directory,
            FileType::Symlink,
            FileType::CharDevice,
            FileType::BlockDevice,
            FileType::Fifo,
            FileType::Socket,
        ];
        let letters: String = types
            .iter()
            .map(|t| {
                mode_string(t.mode_bits() | 0o755)
                    .chars()
                    .next()
                    .unwrap_or(' ')
            })
            .collect();
        assert_eq!(letters, "-dlcbps");
    }

    #[test]
    fn times_print_in_utc() {
        assert_eq!(UtcTime::from_unix(0).to_string(), "1970-01-01 00:00:00");
        assert_eq!(
            UtcTime::from_unix(1_700_000_000).to_string(),
            "2023-11-14 22:13:20"
        );
        assert_eq!(
            UtcTime::from_unix(951_782_400).to_string(),
            "2000-02-29 00:00:00"
        );
        assert_eq!(UtcTime::from_unix(-1).to_string(), "1969-12-31 23:59:59");
        // Extremes must not panic.
        let _ = UtcTime::from_unix(i64::MAX).to_string();
        let _ = UtcTime::from_unix(i64::MIN).to_string();
    }
}
