//! The depth-first walk behind `ls -R`, `find`, `rm -r` and `cp -r`.
//!
//! - **No recursion**: an explicit stack, so a deep tree cannot overflow the
//!   kernel stack.
//! - **Memory bounded by the depth**, not by the number of paths visited:
//!   one path string shared by every level (its length is capped by the
//!   VFS's `PATH_MAX`), and per level the directory's identity, a resume
//!   position and at most [`BATCH`] entries read ahead. A directory is read
//!   in batches through `getdents` at a saved position, so a 100,000-entry
//!   directory costs no more than a small one. A sorted walk ([`Order::Sorted`],
//!   for `ls`) keeps a directory's whole listing only while all kept
//!   listings fit [`SORT_BUDGET`]; a bigger one comes in directory order.
//! - **Loops**: each level remembers its directory's `(st_dev, st_ino)`; a
//!   directory equal to one the walk is inside (an image whose entries point
//!   back at an ancestor) is reported, as GNU find does, and not entered.
//! - **Mounts**: with `one_filesystem`, a directory on another device than
//!   the walk's root (a mount point) is reported and not entered (`rm -r`).
//!
//! Only directories are `lstat`ed (to learn their identity); other entries
//! are known by their readdir type, so walking a directory of plain files
//! adds nothing to the VFS's dentry cache.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use vfs::{DirEntry, Errno, FileType, OpenFlags, Stat, Vfs, VfsResult, Whence};

/// Entries read ahead per directory level.
pub(super) const BATCH: usize = 32;

/// Bytes all sorted listings held at once may take (see [`entry_cost`]).
pub(super) const SORT_BUDGET: usize = 1 << 20;

/// `getdents` position of a directory's first entry after `.` and `..`.
const FIRST_ENTRY: u64 = 2;

/// In which order a directory's entries come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Order {
    /// As the filesystem lists them (`find`, `rm -r`, `cp -r`).
    Directory,
    /// By name when the listing fits [`SORT_BUDGET`], else directory order.
    Sorted,
}

/// What to do with a directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Skip,
    /// Walk into it (if it is a directory that may be entered).
    Descend,
}

/// Why a directory was not entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal<'p> {
    /// It is a directory the walk is already inside, first reached as `first`.
    Loop { first: &'p str },
    /// It is on another filesystem than the walk's root.
    OtherFilesystem,
}

/// What a walk reports to the command using it.
pub(super) trait Visitor {
    /// Entering the directory `path` (the root first). `listing` is its whole
    /// content sorted by name when the walk could keep it, None when the
    /// entries come in directory order. Return false to skip its entries
    /// ([`Visitor::leave`] still follows).
    fn enter(&mut self, path: &str, st: &Stat, listing: Option<&[DirEntry]>) -> bool;
    /// Each entry of the directory entered last, in order; `path` is the
    /// entry's own path.
    fn entry(&mut self, path: &str, entry: &DirEntry) -> Step;
    /// After a directory's entries (post-order).
    fn leave(&mut self, _path: &str, _st: &Stat) {}
    /// The directory `path` was not entered.
    fn refused(&mut self, path: &str, why: Refusal<'_>);
    /// Listing a directory, or `lstat` of one to enter, failed.
    fn error(&mut self, path: &str, e: Errno);
    /// True ends the walk at once (the output failed, `rm` met an error).
    fn stopped(&self) -> bool {
        false
    }
}

/// One directory level of the walk.
struct Frame {
    /// Length of the shared path at this directory.
    len: usize,
    /// Length of the path at its parent, restored when leaving.
    parent_len: usize,
    st: Stat,
    children: Children,
    /// Bytes of [`SORT_BUDGET`] this level holds.
    held: usize,
}

enum Children {
    /// The sorted listing, and the next entry to hand out.
    Sorted(Vec<DirEntry>, usize),
    /// Directory order: read ahead, and where the next batch starts.
    Stream {
        ahead: VecDeque<DirEntry>,
        next: u64,
        at_end: bool,
    },
}

/// What a kept entry is charged against [`SORT_BUDGET`]: the record, its
/// name, and allocator overhead.
pub(super) fn entry_cost(name: &str) -> usize {
    core::mem::size_of::<DirEntry>() + name.len() + 16
}

/// Walk the directory `root` (whose stat the caller took, following the
/// operand or not as its command does).
pub(super) fn walk(
    vfs: &Vfs,
    root: &str,
    root_st: Stat,
    order: Order,
    one_filesystem: bool,
    visitor: &mut dyn Visitor,
) {
    let mut path = String::from(root);
    let mut frames: Vec<Frame> = Vec::new();
    let mut budget = SORT_BUDGET;
    enter(
        vfs,
        &mut path,
        0,
        root_st,
        order,
        &mut budget,
        &mut frames,
        visitor,
    );
    while let Some(top) = frames.last_mut() {
        if visitor.stopped() {
            return;
        }
        let entry = match next_entry(vfs, &path, top) {
            Ok(Some(entry)) => entry,
            Ok(None) => {
                if let Some(done) = frames.pop() {
                    budget += done.held;
                    visitor.leave(&path, &done.st);
                    path.truncate(done.parent_len);
                }
                continue;
            }
            Err(e) => {
                visitor.error(&path, e);
                top.children = Children::Sorted(Vec::new(), 0);
                continue;
            }
        };
        let dir_len = top.len;
        push_name(&mut path, &entry.name);
        if visitor.entry(&path, &entry) == Step::Descend {
            match vfs.lstat(&path) {
                Err(e) => visitor.error(&path, e),
                Ok(st) if st.file_type() != Some(FileType::Directory) => {}
                Ok(st) => {
                    let first = frames
                        .iter()
                        .find(|f| f.st.dev == st.dev && f.st.ino == st.ino)
                        .map(|f| f.len);
                    if let Some(first) = first {
                        let first = path.get(..first).unwrap_or("");
                        visitor.refused(&path, Refusal::Loop { first });
                    } else if one_filesystem && st.dev != root_st.dev {
                        visitor.refused(&path, Refusal::OtherFilesystem);
                    } else {
                        enter(
                            vfs,
                            &mut path,
                            dir_len,
                            st,
                            order,
                            &mut budget,
                            &mut frames,
                            visitor,
                        );
                        continue;
                    }
                }
            }
        }
        path.truncate(dir_len);
    }
}

/// Start walking the directory at `path`: a new frame and the visitor's
/// `enter`.
#[allow(clippy::too_many_arguments)]
fn enter(
    vfs: &Vfs,
    path: &mut String,
    parent_len: usize,
    st: Stat,
    order: Order,
    budget: &mut usize,
    frames: &mut Vec<Frame>,
    visitor: &mut dyn Visitor,
) {
    let sorted = match order {
        Order::Directory => None,
        Order::Sorted => match sorted_listing(vfs, path, *budget) {
            Ok(listing) => listing,
            Err(e) => {
                visitor.error(path, e);
                path.truncate(parent_len);
                return;
            }
        },
    };
    if frames.try_reserve(1).is_err() {
        visitor.error(path, Errno::ENOMEM);
        path.truncate(parent_len);
        return;
    }
    let (children, held, walk_entries) = match sorted {
        Some((entries, cost)) => {
            let walk_entries = visitor.enter(path, &st, Some(&entries));
            (Children::Sorted(entries, 0), cost, walk_entries)
        }
        None => {
            let walk_entries = visitor.enter(path, &st, None);
            let stream = Children::Stream {
                ahead: VecDeque::new(),
                next: FIRST_ENTRY,
                at_end: false,
            };
            (stream, 0, walk_entries)
        }
    };
    // A directory whose entries are not walked keeps no listing.
    let (children, held) = if walk_entries {
        (children, held)
    } else {
        (Children::Sorted(Vec::new(), 0), 0)
    };
    *budget = budget.saturating_sub(held);
    frames.push(Frame {
        len: path.len(),
        parent_len,
        st,
        children,
        held,
    });
}

/// The whole listing of `path` sorted by name and its cost, or None when it
/// does not fit `budget` bytes.
fn sorted_listing(
    vfs: &Vfs,
    path: &str,
    budget: usize,
) -> VfsResult<Option<(Vec<DirEntry>, usize)>> {
    let mut entries: Vec<DirEntry> = Vec::new();
    let mut cost = 0usize;
    let mut fits = true;
    vfs.read_dir_with(path, &mut |entry| {
        cost = cost.saturating_add(entry_cost(entry.name));
        fits = cost <= budget && entries.try_reserve(1).is_ok();
        if fits {
            entries.push(entry.to_entry());
        }
        fits
    })?;
    if !fits {
        return Ok(None);
    }
    entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(Some((entries, cost)))
}

/// The next entry of the directory of `frame` (at `path`), reading the next
/// batch when the one ahead is used up; None at its end.
fn next_entry(vfs: &Vfs, path: &str, frame: &mut Frame) -> VfsResult<Option<DirEntry>> {
    match &mut frame.children {
        Children::Sorted(entries, next) => {
            // The visitor has seen the listing: hand the names over, no copy.
            let entry = entries.get_mut(*next).map(|e| DirEntry {
                ino: e.ino,
                file_type: e.file_type,
                name: core::mem::take(&mut e.name),
            });
            *next += 1;
            Ok(entry)
        }
        Children::Stream {
            ahead,
            next,
            at_end,
        } => loop {
            if let Some(entry) = ahead.pop_front() {
                return Ok(Some(entry));
            }
            if *at_end {
                return Ok(None);
            }
            let (batch, after) = read_batch(vfs, path, &frame.st, *next)?;
            *at_end = batch.is_empty();
            *next = after;
            // `.` and `..` are the walk's own business, not entries.
            ahead.extend(
                batch
                    .into_iter()
                    .filter(|e| e.name != "." && e.name != ".."),
            );
        },
    }
}

/// Up to [`BATCH`] entries of the directory at `path` from the `getdents`
/// position `at` (empty at the end), and the position after them. The directory is opened for
/// each batch (no descriptor is held across a subtree), and must still be the
/// one the walk entered.
fn read_batch(vfs: &Vfs, path: &str, st: &Stat, at: u64) -> VfsResult<(Vec<DirEntry>, u64)> {
    let fd = vfs.open(path, OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY, 0)?;
    let result = (|| {
        let now = vfs.fstat(fd)?;
        if now.dev != st.dev || now.ino != st.ino {
            // Replaced while the walk was below it.
            return Err(Errno::ENOENT);
        }
        let at = i64::try_from(at).map_err(|_| Errno::EOVERFLOW)?;
        vfs.lseek(fd, at, Whence::Set)?;
        let batch = vfs.getdents(fd, BATCH)?;
        let after = vfs.lseek(fd, 0, Whence::Cur)?;
        Ok((batch, after))
    })();
    let _ = vfs.close(fd);
    result
}

/// Append `/name` to `path` (no doubled `/` after a root such as `/`).
pub(super) fn push_name(path: &mut String, name: &str) {
    if !path.ends_with('/') {
        path.push('/');
    }
    path.push_str(name);
}
