//! The tree rule and the entry rules, in one breadth-first pass from the
//! root: every directory is reached through exactly one entry (the root
//! through none), so no entry points at the root or at an ancestor, and no
//! walker can loop. Each directory's entries are checked as it is expanded.
//!
//! O(entries) time; memory: a bit per inode and per entry, and 8 bytes per
//! directory for the queue, all allocated fallibly. A failure is explained
//! with paths, found by walking the queue back up (only then).

use alloc::string::String;
use alloc::vec::Vec;

use super::rules::{self, Rules};
use crate::error::RofsError;
use crate::format::ROOT_INO;
use crate::image::{Entry, Tables};
use crate::mem::{self, BitSet};
use crate::problem::{Problem, SHOWN_COMPONENTS, shown_path};

/// A directory reached, and the queue position of the one it was reached
/// from (parents come earlier in the queue than their children).
#[derive(Clone, Copy)]
struct Reached {
    ino: u32,
    parent: u32,
}

const NO_PARENT: u32 = u32::MAX;

/// Check the directory tree of `tables`; `dirs` marks the directory inodes
/// (validated by the inode pass), `dir_count` of them.
pub(super) fn check<T: Tables>(
    tables: &T,
    rules: &Rules,
    dirs: &BitSet,
    dir_count: u64,
) -> Result<(), RofsError> {
    let inode_count = tables.inode_count();
    let mut owned = BitSet::new(tables.entry_count())?;
    let mut reached = BitSet::new(inode_count + 1)?;
    let mut queue: Vec<Reached> = mem::vec_with_capacity(dir_count)?;
    reached.test_and_set(ROOT_INO);
    mem::push(
        &mut queue,
        Reached {
            ino: ROOT_INO as u32,
            parent: NO_PARENT,
        },
    )?;
    let mut head = 0usize;
    while let Some(&Reached { ino: dir, .. }) = queue.get(head) {
        let record = tables.inode(dir.into())?;
        let mut prev: &[u8] = &[];
        for index in record.entry_range() {
            // Directories owning one entry would make walks revisit it.
            if owned.test_and_set(index) {
                return Err(Problem::SharedEntries {
                    ino: dir.into(),
                    index,
                }
                .into());
            }
            let entry = tables.entry(index)?;
            rules::entry(index, &entry, inode_count, rules)?;
            if rules.sorted && index != record.start {
                rules::order(index, prev, entry.name)?;
            }
            prev = entry.name;
            if dirs.get(entry.ino) {
                if reached.test_and_set(entry.ino) {
                    return Err(explain(tables, &queue, head, &entry).into());
                }
                // Inode numbers fit in u32 in every version; the queue
                // holds at most `dir_count` directories.
                mem::push(
                    &mut queue,
                    Reached {
                        ino: entry.ino as u32,
                        parent: head as u32,
                    },
                )?;
            }
        }
        head += 1;
    }
    if (queue.len() as u64) < dir_count {
        let ino = (1..=inode_count)
            .find(|&i| dirs.get(i) && !reached.get(i))
            .unwrap_or(0);
        return Err(Problem::Unreachable { ino }.into());
    }
    Ok(())
}

/// Why `entry`, in the directory at queue position `at`, may not point at
/// the directory it points at: it is an ancestor, or it was reached before.
#[cold]
fn explain<T: Tables>(tables: &T, queue: &[Reached], at: usize, entry: &Entry<'_>) -> Problem {
    let target = queue.iter().position(|r| u64::from(r.ino) == entry.ino);
    let dir = path(tables, queue, at);
    let name = String::from_utf8_lossy(entry.name).into_owned();
    let target_path = target.map_or_else(String::new, |t| path(tables, queue, t));
    if target.is_some_and(|t| up_from(queue, at).any(|p| p == t)) {
        Problem::EntryAtAncestor {
            dir,
            name,
            ancestor: target_path,
        }
    } else {
        let second = if dir == "/" {
            alloc::format!("/{name}")
        } else {
            alloc::format!("{dir}/{name}")
        };
        Problem::ReachableTwice {
            ino: entry.ino,
            first: target_path,
            second,
        }
    }
}

/// Queue positions from `at` up to the root.
fn up_from(queue: &[Reached], at: usize) -> impl Iterator<Item = usize> + '_ {
    core::iter::successors(Some(at), |&p| {
        let parent = queue.get(p)?.parent as usize;
        // Parents precede children, so this always ends.
        (parent < p).then_some(parent)
    })
}

/// The path of the directory at queue position `at`.
fn path<T: Tables>(tables: &T, queue: &[Reached], at: usize) -> String {
    let mut names: [&[u8]; SHOWN_COMPONENTS] = [&[]; SHOWN_COMPONENTS];
    let mut shown = 0;
    let mut truncated = false;
    let mut positions = up_from(queue, at).peekable();
    while let (Some(child), Some(&parent)) = (positions.next(), positions.peek()) {
        if shown == SHOWN_COMPONENTS {
            truncated = true;
            break;
        }
        let (Some(c), Some(p)) = (queue.get(child), queue.get(parent)) else {
            break;
        };
        names[shown] = name_in(tables, p.ino.into(), c.ino.into()).unwrap_or(b"?");
        shown += 1;
    }
    shown_path(&names[..shown], truncated)
}

/// The name of the first entry of directory `dir` that points at `child`.
fn name_in<T: Tables>(tables: &T, dir: u64, child: u64) -> Option<&[u8]> {
    let record = tables.inode(dir).ok()?;
    record
        .entry_range()
        .filter_map(|i| tables.entry(i).ok())
        .find(|e| e.ino == child)
        .map(|e| e.name)
}
