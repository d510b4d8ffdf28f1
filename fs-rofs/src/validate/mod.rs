//! Validation of a version's tables before anything trusts them, in two
//! linear passes: every inode ([`rules`] per type), then the directory tree
//! from the root ([`tree`]: every entry of every directory, and the tree
//! shape). Mount fails with the first [`Problem`](crate::problem::Problem)
//! found; `inspect`/`verify` print the same problem.
//!
//! [`clashes`] finds names that are legal in v1 but cannot be extracted (two
//! entries with one name); only `inspect` and `verify` look for them.

pub(crate) mod clashes;
mod rules;
#[cfg(test)]
mod tests;
mod tree;

pub(crate) use rules::Rules;
/// For the writer, which refuses what mount would.
pub(crate) use rules::name_ok;

use crate::error::RofsError;
use crate::format::{ROOT_INO, S_IFDIR, S_IFLNK, S_IFREG};
use crate::image::Tables;
use crate::mem::BitSet;
use crate::problem::Problem;

/// What the inode pass counted.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub dirs: u64,
    pub files: u64,
    pub symlinks: u64,
    /// Sum of file sizes (v1 records no stored-bytes total).
    pub file_bytes: u64,
}

/// Check every table of `tables` against the others and `rules`.
pub(crate) fn check<T: Tables>(tables: &T, rules: &Rules) -> Result<Counts, RofsError> {
    let inode_count = tables.inode_count();
    if inode_count == 0 {
        return Err(Problem::NoInodes.into());
    }
    if tables.inode(ROOT_INO)?.kind() != S_IFDIR {
        return Err(Problem::RootNotDirectory.into());
    }
    // Indexed by inode number, so one bit more than the table.
    let mut dirs = BitSet::new(inode_count + 1)?;
    let counts = check_inodes(tables, rules, &mut dirs)?;
    tree::check(tables, rules, &dirs, counts.dirs)?;
    Ok(counts)
}

/// Every inode by its type's rule; marks the directories in `dirs`.
fn check_inodes<T: Tables>(
    tables: &T,
    rules: &Rules,
    dirs: &mut BitSet,
) -> Result<Counts, Problem> {
    let entry_count = tables.entry_count();
    let mut counts = Counts::default();
    for ino in 1..=tables.inode_count() {
        let r = tables.inode(ino)?;
        match r.kind() {
            S_IFREG => {
                rules::file(ino, &r, rules)?;
                counts.files += 1;
                counts.file_bytes = counts.file_bytes.saturating_add(r.size);
            }
            S_IFDIR => {
                rules::directory(ino, &r, entry_count)?;
                counts.dirs += 1;
                dirs.test_and_set(ino);
            }
            S_IFLNK => {
                rules::symlink(ino, &r, tables.bytes(r.start, r.count), rules)?;
                counts.symlinks += 1;
            }
            mode => return Err(Problem::FileType { ino, mode }),
        }
    }
    Ok(counts)
}
