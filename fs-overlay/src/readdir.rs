//! Directory listings: one layer passed through, or a merged snapshot kept
//! in the open directory's handle (see "Directory listings" in the crate
//! docs).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use spin::Mutex;
use vfs::{DirEntryRef, DirSink, Errno, FileHandle, FileType, Inode, InodeNo, VfsResult};

use crate::Shared;
use crate::ino::UPPER;
use crate::inode::OverlayInode;
use crate::layers::{is_reserved, names_whiteout};

/// How a directory is listed.
#[derive(Clone)]
enum View {
    /// Only one layer has it: that layer's listing and cookies, filtered.
    Single { layer: u32, dir: Arc<dyn Inode> },
    /// Several layers: a snapshot; a cookie is a position in it plus one.
    Merged(Arc<Listing>),
}

/// The merged entries of a directory: every name once, whiteouts kept (as
/// hidden entries) so that they hide the same names of lower layers.
#[derive(Default)]
struct Listing {
    names: String,
    entries: Vec<Entry>,
}

struct Entry {
    start: u32,
    len: u32,
    ino: InodeNo,
    kind: FileType,
    visible: bool,
}

impl Listing {
    fn name(&self, index: u32) -> &str {
        self.entries
            .get(index as usize)
            .and_then(|e| self.names.get(e.start as usize..(e.start + e.len) as usize))
            .unwrap_or_default()
    }

    /// Add an entry; allocations are fallible (a hostile layer can be huge).
    fn push(&mut self, name: &str, ino: InodeNo, kind: FileType) -> VfsResult<u32> {
        let start = u32::try_from(self.names.len()).map_err(|_| Errno::ENOMEM)?;
        let len = u32::try_from(name.len()).map_err(|_| Errno::ENOMEM)?;
        let index = u32::try_from(self.entries.len()).map_err(|_| Errno::ENOMEM)?;
        start.checked_add(len).ok_or(Errno::ENOMEM)?;
        self.names
            .try_reserve(name.len())
            .map_err(|_| Errno::ENOMEM)?;
        self.entries.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.names.push_str(name);
        self.entries.push(Entry {
            start,
            len,
            ino,
            kind,
            visible: true,
        });
        Ok(index)
    }
}

/// The overlay inode number of entry number `real` of `layer`.
fn entry_ino(fs: &Shared, layer: u32, real: InodeNo) -> InodeNo {
    if layer == UPPER {
        fs.inos.upper(real)
    } else {
        fs.inos.encode(layer, real)
    }
}

/// The layers of a directory, topmost first.
fn layers_of(node: &OverlayInode) -> impl Iterator<Item = (u32, &Arc<dyn Inode>)> {
    let upper = node.upper.get().map(|u| (UPPER, u));
    upper
        .into_iter()
        .chain(node.lowers.iter().map(|l| (l.layer, &l.inode)))
}

fn view(node: &OverlayInode) -> VfsResult<View> {
    if !node.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let mut layers = layers_of(node);
    let first = layers.next().ok_or(Errno::EIO)?;
    if layers.next().is_none() {
        return Ok(View::Single {
            layer: first.0,
            dir: first.1.clone(),
        });
    }
    Ok(View::Merged(Arc::new(merge(node)?)))
}

/// Every layer's entries, each name from the topmost layer that has it.
fn merge(node: &OverlayInode) -> VfsResult<Listing> {
    let hasher = DefaultHashBuilder::default();
    let mut listing = Listing::default();
    let mut seen: HashTable<u32> = HashTable::new();
    for (layer, dir) in layers_of(node) {
        let first_new = listing.entries.len();
        let mut failed = None;
        let mut cookie = 0;
        loop {
            let start = cookie;
            dir.readdir(cookie, &mut |entry, next| {
                cookie = next;
                if is_reserved(entry.name) {
                    return true;
                }
                let hash = hasher.hash_one(entry.name);
                if let Some(&i) = seen.find(hash, |&i| listing.name(i) == entry.name) {
                    // A layer naming an entry twice is broken: stop, do not spin.
                    if i as usize >= first_new {
                        failed = Some(Errno::EIO);
                        return false;
                    }
                    return true;
                }
                let ino = entry_ino(&node.fs, layer, entry.ino);
                let pushed = seen
                    .try_reserve(1, |&i| hasher.hash_one(listing.name(i)))
                    .map_err(|_| Errno::ENOMEM)
                    .and_then(|()| listing.push(entry.name, ino, entry.file_type));
                match pushed {
                    Ok(index) => {
                        seen.insert_unique(hash, index, |&i| hasher.hash_one(listing.name(i)));
                        true
                    }
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            // Done when a call brings nothing new (a layer that does not
            // move its cookie forward cannot keep this going either).
            if cookie == start {
                break;
            }
        }
        // Whiteouts stay in the set (they hide lower names) but are not shown.
        for index in first_new..listing.entries.len() {
            let Some(entry) = listing.entries.get(index) else {
                break;
            };
            if entry.kind != FileType::CharDevice {
                continue;
            }
            let hidden = names_whiteout(&**dir, listing.name(index as u32), entry.kind)?;
            if let Some(entry) = listing.entries.get_mut(index) {
                entry.visible = !hidden;
            }
        }
    }
    Ok(listing)
}

impl View {
    fn emit(&self, fs: &Shared, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        match self {
            View::Single { layer, dir } => {
                let mut failed = None;
                dir.readdir(cookie, &mut |entry, next| {
                    if is_reserved(entry.name) {
                        return true;
                    }
                    match names_whiteout(&**dir, entry.name, entry.file_type) {
                        Ok(true) => return true,
                        Ok(false) => {}
                        Err(e) => {
                            failed = Some(e);
                            return false;
                        }
                    }
                    let shown = DirEntryRef {
                        ino: entry_ino(fs, *layer, entry.ino),
                        ..entry
                    };
                    sink(shown, next)
                })?;
                failed.map_or(Ok(()), Err)
            }
            View::Merged(listing) => {
                let start = usize::try_from(cookie).unwrap_or(usize::MAX);
                for (index, entry) in listing.entries.iter().enumerate().skip(start) {
                    if !entry.visible {
                        continue;
                    }
                    let shown = DirEntryRef {
                        ino: entry.ino,
                        file_type: entry.kind,
                        name: listing.name(index as u32),
                    };
                    if !sink(shown, index as u64 + 1) {
                        break;
                    }
                }
                Ok(())
            }
        }
    }
}

/// `Inode::readdir` without an open handle: a fresh view per call.
pub(crate) fn readdir(node: &OverlayInode, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
    view(node)?.emit(&node.fs, cookie, sink)
}

/// Whether a directory shows no entries.
pub(crate) fn is_empty(node: &OverlayInode) -> VfsResult<bool> {
    let mut empty = true;
    view(node)?.emit(&node.fs, 0, &mut |_, _| {
        empty = false;
        false
    })?;
    Ok(empty)
}

/// The handle of an open directory: its view, made at the first read and
/// again at each rewind (cookie 0).
pub(crate) struct DirHandle {
    view: Mutex<Option<View>>,
}

impl DirHandle {
    pub fn new() -> DirHandle {
        DirHandle {
            view: Mutex::new(None),
        }
    }
}

impl FileHandle for DirHandle {
    fn readdir(&self, inode: &dyn Inode, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        let node = inode
            .as_any()
            .downcast_ref::<OverlayInode>()
            .ok_or(Errno::EIO)?;
        let kept = if cookie == 0 {
            None
        } else {
            self.view.lock().clone()
        };
        let view = match kept {
            Some(view) => view,
            None => {
                // Built without the handle locked: it reads every layer.
                let view = view(node)?;
                *self.view.lock() = Some(view.clone());
                view
            }
        };
        view.emit(&node.fs, cookie, sink)
    }
}
