//! Lower files with several names (hard links) stay one object after a
//! copy-up of any of them, as Linux overlayfs with `index=on`.
//!
//! The first copy-up of such a file puts the copy in the index directory of
//! the upper layer (under a name made of its overlay inode number) and, as
//! Linux does, links it at the name used; every name still in a lower layer
//! resolves to that copy through [`LinkState`], and gets its own upper link
//! when it is changed. Each lower name that an upper entry covers (a
//! whiteout, a replacing rename, an upper link) is counted; the link count
//! shown is the upper copy's names (without the index entry) plus the lower
//! names not yet covered. When none is left the index entry goes: the copy
//! is an ordinary upper file from then on.
//!
//! Each lower name of such a file has a node of its own (kept per directory
//! in `linked_names`, with a VFS key of its own), so a copy-up knows which
//! name it came through and copies that name's parents, as Linux does; all
//! of them share the object's state, inode number and link count. One
//! consequence: the VFS cannot see that two such names are one object, so a
//! rename of one onto the other reaches [`OverlayInode::rename_node`],
//! which does nothing (as POSIX says) but moves the old name's node to the
//! new name, as the VFS moves its cache entry.
//!
//! The index lives in memory for the life of the mount (the upper layer is
//! meant to be fresh, as the kernel's ramfs is); an upper layer reused by a
//! later mount shows the copies at the names that got upper links.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::{Arc, Weak};

use hashbrown::HashMap;
use spin::Mutex;
use vfs::{Inode, InodeNo};

use crate::inode::{OverlayInode, Place};

pub(crate) struct LinkState {
    /// The overlay inode number of the object.
    pub ino: InodeNo,
    /// Link count of the lower object.
    pub lower_nlink: u32,
    inner: Mutex<LinkInner>,
}

struct LinkInner {
    /// Lower names covered by an upper entry.
    covered: u32,
    /// The upper copy, once made.
    upper: Option<Arc<dyn Inode>>,
    /// Its name in the index directory while lower names remain.
    index_name: Option<String>,
}

impl LinkState {
    pub fn new(ino: InodeNo, lower_nlink: u32) -> LinkState {
        LinkState {
            ino,
            lower_nlink,
            inner: Mutex::new(LinkInner {
                covered: 0,
                upper: None,
                index_name: None,
            }),
        }
    }

    /// The upper copy, if made.
    pub fn upper(&self) -> Option<Arc<dyn Inode>> {
        self.inner.lock().upper.clone()
    }

    /// Record the copy made under `index_name` in the index directory.
    pub fn set_upper(&self, upper: Arc<dyn Inode>, index_name: String) {
        let mut inner = self.inner.lock();
        inner.upper = Some(upper);
        inner.index_name = Some(index_name);
    }

    /// Lower names not covered yet.
    fn lower_left(inner: &LinkInner, lower_nlink: u32) -> u32 {
        lower_nlink.saturating_sub(inner.covered)
    }

    /// The link count to show, given the upper copy's own (None before the
    /// copy-up).
    pub fn nlink(&self, upper_nlink: Option<u32>) -> u32 {
        let inner = self.inner.lock();
        let index_link = u32::from(inner.index_name.is_some());
        let upper_names = upper_nlink.map_or(0, |n| n.saturating_sub(index_link));
        upper_names.saturating_add(Self::lower_left(&inner, self.lower_nlink))
    }

    /// A lower name was covered. When it was the last, the index entry is
    /// no longer needed: returns its name for the caller to remove.
    pub fn cover_one(&self) -> Option<String> {
        let mut inner = self.inner.lock();
        inner.covered = inner.covered.saturating_add(1);
        if Self::lower_left(&inner, self.lower_nlink) == 0 {
            inner.index_name.take()
        } else {
            None
        }
    }

    /// Put back an index name whose removal failed, so the count stays right.
    pub fn restore_index_name(&self, name: String) {
        self.inner.lock().index_name = Some(name);
    }

    /// Whether every lower name is covered.
    pub fn all_covered(&self) -> bool {
        Self::lower_left(&self.inner.lock(), self.lower_nlink) == 0
    }
}

/// The nodes of a directory's lower hard-linked names, by name.
pub(crate) type LinkedNames = HashMap<Box<str>, Weak<OverlayInode>>;

impl OverlayInode {
    /// The live node of lower hard-linked name `name` in this directory,
    /// if it still shows object `ino`.
    pub(crate) fn linked_name(&self, name: &str, ino: InodeNo) -> Option<Arc<OverlayInode>> {
        let names = self.linked_names.lock();
        let live = names.as_ref()?.get(name).and_then(Weak::upgrade)?;
        (live.number == ino).then_some(live)
    }

    pub(crate) fn remember_linked_name(&self, name: &str, node: &Arc<OverlayInode>) {
        let mut names = self.linked_names.lock();
        let names = names.get_or_insert_with(Box::default);
        // Drop dead entries now and then (amortised O(1)).
        if names.len() >= 64 && names.len().is_power_of_two() {
            names.retain(|_, w| w.strong_count() > 0);
        }
        names.insert(name.into(), Arc::downgrade(node));
    }

    fn take_linked_name(&self, name: &str) -> Option<Weak<OverlayInode>> {
        self.linked_names.lock().as_mut()?.remove(name)
    }

    pub(crate) fn forget_linked_name(&self, name: &str) {
        self.take_linked_name(name);
    }

    /// The VFS moved its entry for `old_name` to `new_name` in `new_dir`
    /// (a rename between two names of one object): move the node too.
    pub(crate) fn move_linked_name(&self, old_name: &str, new_dir: &OverlayInode, new_name: &str) {
        let moved = self.take_linked_name(old_name);
        let Some(node) = moved.as_ref().and_then(Weak::upgrade) else {
            return;
        };
        if let Ok(parent) = new_dir.this() {
            let old = node.place.lock().replace(Place {
                parent,
                name: new_name.into(),
            });
            drop(old);
            new_dir.remember_linked_name(new_name, &node);
        }
    }
}
