//! The rules an image's inodes and directory entries must keep, each
//! written once: it decides and, when broken, says which record is wrong.

use core::ops::Range;

use crate::format::{NAME_MAX, SYMLINK_MAX};
use crate::image::{Entry, InodeRecord};
use crate::problem::Problem;

/// What the version's superblock says the tables may refer to.
pub(crate) struct Rules {
    /// Blocks file data may occupy.
    pub data_blocks: Range<u64>,
    /// A power of two (checked by the loader).
    pub block_size: u32,
    /// Names and symlink targets must be UTF-8 (v2).
    pub utf8: bool,
    /// Each directory's entries must be strictly sorted by name (v2).
    pub sorted: bool,
}

/// A regular file: `count == ceil(size / block_size)`, and a non-empty
/// extent lies inside the data region.
#[inline]
pub(crate) fn file(ino: u64, r: &InodeRecord, rules: &Rules) -> Result<(), Problem> {
    let shift = rules.block_size.trailing_zeros();
    let mask = u64::from(rules.block_size) - 1;
    // ceil by shift and mask: no division, no overflow.
    let blocks = (r.size >> shift) + u64::from(r.size & mask != 0);
    if r.count != blocks {
        return Err(Problem::FileBlocks {
            ino,
            size: r.size,
            count: r.count,
        });
    }
    let data = &rules.data_blocks;
    let inside =
        r.start >= data.start && r.start.checked_add(r.count).is_some_and(|e| e <= data.end);
    if r.count != 0 && !inside {
        return Err(Problem::FileExtent {
            ino,
            start: r.start,
            count: r.count,
        });
    }
    Ok(())
}

/// A directory: its entries lie inside the entry table.
#[inline]
pub(crate) fn directory(ino: u64, r: &InodeRecord, entry_count: u64) -> Result<(), Problem> {
    if r.start.checked_add(r.count).is_none_or(|e| e > entry_count) {
        return Err(Problem::DirEntries {
            ino,
            start: r.start,
            count: r.count,
        });
    }
    Ok(())
}

/// A symlink: its target (`None` when outside the blob) is 1..=4095 bytes
/// without NUL, and UTF-8 when the rules say so.
#[inline]
pub(crate) fn symlink(
    ino: u64,
    r: &InodeRecord,
    target: Option<&[u8]>,
    rules: &Rules,
) -> Result<(), Problem> {
    let target = target
        .filter(|t| !t.is_empty() && t.len() <= SYMLINK_MAX && !t.contains(&0))
        .ok_or(Problem::SymlinkTarget {
            ino,
            start: r.start,
            count: r.count,
        })?;
    if rules.utf8 && core::str::from_utf8(target).is_err() {
        return Err(Problem::SymlinkNotUtf8 { ino });
    }
    Ok(())
}

/// Directory entry `index`: its inode exists and its name is valid.
#[inline]
pub(crate) fn entry(
    index: u64,
    e: &Entry<'_>,
    inode_count: u64,
    rules: &Rules,
) -> Result<(), Problem> {
    if e.ino.wrapping_sub(1) >= inode_count {
        return Err(Problem::EntryInode { index, ino: e.ino });
    }
    if !name_ok(e.name, rules.utf8) {
        return Err(Problem::InvalidName { index });
    }
    Ok(())
}

/// Entry `index` comes strictly after the previous one of its directory
/// (which also rules out duplicates).
#[inline]
pub(crate) fn order(index: u64, prev: &[u8], name: &[u8]) -> Result<(), Problem> {
    if prev >= name {
        return Err(Problem::Unsorted { index });
    }
    Ok(())
}

/// A name a directory may hold: 1..=255 bytes, no '/', no NUL, not `.` or
/// `..`; with `utf8`, valid UTF-8. One branch-free pass over the bytes; the
/// UTF-8 decoder only runs on names with a non-ASCII byte.
#[inline]
pub(crate) fn name_ok(name: &[u8], utf8: bool) -> bool {
    let (mut bad, mut high) = (false, 0u8);
    for &byte in name {
        bad |= (byte == 0) | (byte == b'/');
        high |= byte;
    }
    let valid = !bad && !name.is_empty() && name.len() <= NAME_MAX && name != b"." && name != b"..";
    valid && (high < 0x80 || !utf8 || core::str::from_utf8(name).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(name_ok(b"a", false) && name_ok(b"...", false));
        assert!(!name_ok(b"", false) && !name_ok(b".", false) && !name_ok(b"..", false));
        assert!(!name_ok(b"a/b", false) && !name_ok(b"a\0", false));
        assert!(name_ok(&[b'x'; NAME_MAX], false) && !name_ok(&[b'x'; NAME_MAX + 1], false));
        assert!(name_ok("é".as_bytes(), true) && !name_ok(b"\xff", true));
        assert!(name_ok(b"\xff", false));
    }

    fn file_record(size: u64, start: u64, count: u64) -> InodeRecord {
        InodeRecord {
            size,
            start,
            count,
            ..InodeRecord::default()
        }
    }

    #[test]
    fn file_rules() {
        let rules = Rules {
            data_blocks: 1..11,
            block_size: 512,
            utf8: true,
            sorted: true,
        };
        assert_eq!(file(2, &file_record(0, 0, 0), &rules), Ok(()));
        assert_eq!(file(2, &file_record(513, 9, 2), &rules), Ok(()));
        assert_eq!(
            file(2, &file_record(513, 9, 1), &rules),
            Err(Problem::FileBlocks {
                ino: 2,
                size: 513,
                count: 1
            })
        );
        assert_eq!(
            file(3, &file_record(513, 10, 2), &rules),
            Err(Problem::FileExtent {
                ino: 3,
                start: 10,
                count: 2
            })
        );
        assert!(file(3, &file_record(1, 0, 1), &rules).is_err());
        assert!(file(3, &file_record(u64::MAX, 1, u64::MAX / 512 + 1), &rules).is_err());
    }
}
