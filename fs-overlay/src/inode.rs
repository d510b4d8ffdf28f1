//! The overlay's inode: one object of the merged tree, routed to the layer
//! that holds it now (the upper copy once there is one, else the lower).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::{Mutex, Once};
use vfs::{
    DirSink, Errno, FileHandle, FileType, Inode, InodeNo, OpenFlags, SetAttr, Stat, VfsResult,
};

use crate::Shared;
use crate::layers::Lower;
use crate::links::{LinkState, LinkedNames};
use crate::readdir::{self, DirHandle};

/// Where a not-yet-copied object was found: its parent and its name there,
/// so a copy-up knows where the copy goes. Lower directories and lower
/// files with one name never move without a copy-up first (renaming them
/// copies them up; a lower directory cannot be renamed), so this stays
/// true. A name of a hard-linked file has a node of its own (see `links`),
/// whose place is that name.
pub(crate) struct Place {
    pub parent: Arc<OverlayInode>,
    pub name: Box<str>,
}

/// One object of an overlay.
///
/// `repr(C)`: what a warm `stat` of a lower object reads (a few flags and
/// the lower attributes) comes first, in as few cache lines as possible;
/// the rest of the node is not touched then.
#[repr(C)]
pub struct OverlayInode {
    /// `upper` is set (stored with Release after it).
    copied: AtomicBool,
    /// Its last name was removed while it was only in a lower layer.
    pub(crate) removed: AtomicBool,
    pub(crate) kind: FileType,
    /// `lower_stat` holds the lower object's attributes.
    has_lower_stat: bool,
    /// A directory merged from several lower layers (and no upper yet).
    lower_merged: bool,
    /// `link` is set.
    linked: bool,
    /// The attributes of `first` when it is a lower object, read once
    /// (with `ino` set to this node's number): lower layers do not change
    /// under a mount (as on Linux, where doing so is undefined).
    lower_stat: Stat,
    /// The upper object, set once (found there, or on copy-up).
    pub(crate) upper: Once<Arc<dyn Inode>>,
    /// For a lower file with several names: their shared state.
    pub(crate) link: Option<Arc<LinkState>>,
    /// The object's inode number, as `stat` and listings show it.
    pub(crate) number: InodeNo,
    /// For a directory, the lower directories merged into it, topmost
    /// first (empty for anything else).
    pub(crate) lowers: Box<[Lower]>,
    /// The object this node was made from: the upper one when it was found
    /// there, else the topmost lower one.
    pub(crate) first: Arc<dyn Inode>,
    pub(crate) fs: Arc<Shared>,
    /// What `Inode::ino` returns, the VFS's key for its vnode: the object's
    /// number, except for a name of a hard-linked lower file, which gets a
    /// key of its own so that the node knows its name (see `links`).
    key: InodeNo,
    pub(crate) place: Mutex<Option<Place>>,
    /// For a directory: the nodes of its lower hard-linked names (see
    /// `links`), made on first use.
    pub(crate) linked_names: Mutex<Option<Box<LinkedNames>>>,
    this: Weak<OverlayInode>,
}

impl OverlayInode {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        fs: &Arc<Shared>,
        key: InodeNo,
        ino: InodeNo,
        kind: FileType,
        first: Arc<dyn Inode>,
        lower_stat: Option<Stat>,
        upper: Option<Arc<dyn Inode>>,
        lowers: Vec<Lower>,
        place: Option<Place>,
        link: Option<Arc<LinkState>>,
    ) -> Arc<OverlayInode> {
        let copied = upper.is_some();
        let upper_once = Once::new();
        if let Some(upper) = upper {
            upper_once.call_once(|| upper);
        }
        // Only directories merge lower layers; a file's lower object is `first`.
        let lowers = if kind == FileType::Directory {
            lowers
        } else {
            Vec::new()
        };
        let has_lower_stat = lower_stat.is_some();
        let mut lower_stat = lower_stat.unwrap_or_default();
        lower_stat.ino = ino;
        Arc::new_cyclic(|this| OverlayInode {
            copied: AtomicBool::new(copied),
            removed: AtomicBool::new(false),
            kind,
            has_lower_stat,
            lower_merged: lowers.len() > 1,
            linked: link.is_some(),
            lower_stat,
            upper: upper_once,
            link,
            number: ino,
            lowers: lowers.into_boxed_slice(),
            first,
            fs: fs.clone(),
            key,
            place: Mutex::new(place),
            linked_names: Mutex::new(None),
            this: this.clone(),
        })
    }

    /// Route this node to its upper object (once).
    pub(crate) fn set_upper(&self, upper: Arc<dyn Inode>) -> &Arc<dyn Inode> {
        let upper = self.upper.call_once(|| upper);
        self.copied.store(true, Ordering::Release);
        upper
    }

    /// The upper object, if there is one yet.
    fn current_upper(&self) -> Option<&Arc<dyn Inode>> {
        if let Some(upper) = self.upper.get() {
            return Some(upper);
        }
        // Another name of a hard-linked file may have been copied up.
        let upper = self.link.as_ref()?.upper()?;
        Some(self.set_upper(upper))
    }

    /// The object that answers for this node now.
    pub(crate) fn top(&self) -> &Arc<dyn Inode> {
        self.current_upper().unwrap_or(&self.first)
    }

    pub(crate) fn this(&self) -> VfsResult<Arc<OverlayInode>> {
        self.this.upgrade().ok_or(Errno::ENOENT)
    }

    pub(crate) fn parent(&self) -> Option<Arc<OverlayInode>> {
        self.place.lock().as_ref().map(|p| p.parent.clone())
    }

    /// The name `name` in `parent` no longer shows this node.
    pub(crate) fn forget_place_if(&self, parent: &OverlayInode, name: &str) {
        let mut mine = self.place.lock();
        let matches = mine
            .as_ref()
            .is_some_and(|p| core::ptr::eq(&*p.parent, parent) && &*p.name == name);
        let old = if matches { mine.take() } else { None };
        drop(mine);
        drop(old);
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.kind == FileType::Directory
    }

    /// A directory made of more than one layer.
    pub(crate) fn is_merged(&self) -> bool {
        self.is_dir() && self.lowers.len() + usize::from(self.upper.get().is_some()) > 1
    }

    /// Only in the upper layer (a directory of that kind can be renamed).
    pub(crate) fn is_pure_upper(&self) -> bool {
        self.lowers.is_empty() && self.upper.get().is_some()
    }

    /// The upper object for a data change, copying a regular file up first;
    /// other types (device nodes) are written where they are, as on Linux.
    fn for_data_change(&self, keep: Option<u64>) -> VfsResult<Arc<dyn Inode>> {
        match self.upper.get() {
            _ if self.kind == FileType::Regular => self.copy_up(keep),
            Some(upper) => Ok(upper.clone()),
            None => Ok(self.first.clone()),
        }
    }
}

impl Drop for OverlayInode {
    fn drop(&mut self) {
        // Free a chain of parents iteratively: a deep tree must not
        // overflow the stack through nested drops.
        let mut next = self.place.get_mut().take().map(|p| p.parent);
        while let Some(parent) = next {
            next = Arc::into_inner(parent)
                .and_then(|mut p| p.place.get_mut().take().map(|p| p.parent));
        }
    }
}

impl Inode for OverlayInode {
    fn ino(&self) -> InodeNo {
        self.key
    }

    fn file_type(&self) -> FileType {
        self.kind
    }

    fn getattr(&self) -> VfsResult<Stat> {
        // The warm path of a lower object: flags and the kept attributes.
        if !self.copied.load(Ordering::Acquire) && !self.linked && self.has_lower_stat {
            let mut stat = self.lower_stat;
            if self.removed.load(Ordering::Acquire) {
                stat.nlink = 0;
            } else if self.lower_merged {
                stat.nlink = 1;
            }
            return Ok(stat);
        }
        let mut stat = match self.current_upper() {
            Some(upper) => upper.getattr()?,
            None if self.has_lower_stat => self.lower_stat,
            None => self.first.getattr()?,
        };
        stat.ino = self.number;
        if let Some(link) = &self.link {
            stat.nlink = link.nlink(self.upper.get().map(|_| stat.nlink));
        } else if self.removed.load(Ordering::Acquire) {
            stat.nlink = 0;
        } else if self.is_merged() {
            // As Linux: counting subdirectories across layers is not worth
            // it, and 1 tells `find` not to rely on the count.
            stat.nlink = 1;
        }
        Ok(stat)
    }

    fn setattr(&self, attr: &SetAttr) -> VfsResult<()> {
        self.copy_up(None)?.setattr(attr)
    }

    fn lookup(&self, name: &str) -> VfsResult<Arc<dyn Inode>> {
        let node: Arc<dyn Inode> = self.lookup_node(name)?;
        Ok(node)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        self.top().read_at(offset, buf)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> VfsResult<usize> {
        self.for_data_change(None)?.write_at(offset, buf)
    }

    fn truncate(&self, size: u64) -> VfsResult<()> {
        self.for_data_change(Some(size))?.truncate(size)
    }

    fn fsync(&self) -> VfsResult<()> {
        self.top().fsync()
    }

    fn readdir(&self, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        readdir::readdir(self, cookie, sink)
    }

    fn readlink(&self) -> VfsResult<String> {
        self.top().readlink()
    }

    fn create(&self, name: &str, mode: u32, rdev: u64) -> VfsResult<Arc<dyn Inode>> {
        let node: Arc<dyn Inode> = self.create_node(name, mode, rdev)?;
        Ok(node)
    }

    fn mkdir(&self, name: &str, mode: u32) -> VfsResult<Arc<dyn Inode>> {
        let node: Arc<dyn Inode> = self.mkdir_node(name, mode)?;
        Ok(node)
    }

    fn symlink(&self, name: &str, target: &str) -> VfsResult<Arc<dyn Inode>> {
        let node: Arc<dyn Inode> = self.symlink_node(name, target)?;
        Ok(node)
    }

    fn link(&self, name: &str, target: &Arc<dyn Inode>) -> VfsResult<()> {
        self.link_node(name, target)
    }

    fn unlink(&self, name: &str) -> VfsResult<()> {
        self.remove_name(name, false)
    }

    fn rmdir(&self, name: &str) -> VfsResult<()> {
        self.remove_name(name, true)
    }

    fn rename(&self, old_name: &str, new_dir: &Arc<dyn Inode>, new_name: &str) -> VfsResult<()> {
        self.rename_node(old_name, new_dir, new_name)
    }

    fn open(&self, flags: OpenFlags) -> VfsResult<Option<Box<dyn FileHandle>>> {
        match self.kind {
            FileType::Directory => Ok(Some(Box::new(DirHandle::new()))),
            FileType::Regular => {
                let writes = flags.bits() & 3 != 0;
                let truncates = flags.contains(OpenFlags::O_TRUNC);
                if writes || truncates {
                    // With O_TRUNC the VFS truncates next: copy no data.
                    self.copy_up(truncates.then_some(0))?;
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    fn ioctl(&self, request: u32, arg: usize) -> VfsResult<usize> {
        self.top().ioctl(request, arg)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
