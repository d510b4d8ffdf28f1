//! Overlay inode numbers, and the table that keeps one node per object.
//!
//! A layer's inode number `real` becomes `(real << bits) | layer`, where
//! layer 0 is the upper layer and lower layer `i` is `i + 1` (Linux's `xino`
//! does the same with high bits). So numbers from different layers never
//! collide and need no table. A copy-up keeps the number of the object it
//! copied (its origin): the copy's real number maps to it in `origins`, for
//! as long as the copy has a name. Real numbers too large to shift get numbers
//! from a counter in the top half of the range, remembered per object.

use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;
use spin::Mutex;
use vfs::{FileType, InodeNo};

use crate::inode::OverlayInode;

/// Layer number of the upper layer; lower layer `i` is `i + 1`.
pub(crate) const UPPER: u32 = 0;

/// Numbers at or above this come from the fallback counter.
const FALLBACK_BASE: u64 = 1 << 63;
/// The VFS keys of names of hard-linked lower files count down from the top
/// (see `links`); they are never shown as inode numbers.
const NAME_KEYS_TOP: u64 = u64::MAX;

pub(crate) struct InoMap {
    bits: u32,
    /// Upper real inode number -> overlay number, for copied-up objects.
    origins: Mutex<HashMap<InodeNo, InodeNo>>,
    fallback: Mutex<Fallback>,
    next_name_key: AtomicU64,
}

struct Fallback {
    numbers: HashMap<(u32, InodeNo), InodeNo>,
    next: u64,
}

impl InoMap {
    /// Numbers for `layers` layers (upper included, whether or not there is one).
    pub fn new(layers: u32) -> InoMap {
        let bits = (u32::BITS - layers.saturating_sub(1).leading_zeros()).max(1);
        InoMap {
            bits,
            origins: Mutex::new(HashMap::new()),
            fallback: Mutex::new(Fallback {
                numbers: HashMap::new(),
                next: FALLBACK_BASE,
            }),
            next_name_key: AtomicU64::new(NAME_KEYS_TOP),
        }
    }

    /// A fresh VFS key for one name of a hard-linked lower file.
    pub fn name_key(&self) -> InodeNo {
        self.next_name_key.fetch_sub(1, Ordering::Relaxed)
    }

    /// The overlay number of object `real` of `layer`, ignoring origins.
    pub fn encode(&self, layer: u32, real: InodeNo) -> InodeNo {
        if real < FALLBACK_BASE >> self.bits {
            return (real << self.bits) | u64::from(layer);
        }
        let mut fallback = self.fallback.lock();
        let next = fallback.next;
        let number = *fallback.numbers.entry((layer, real)).or_insert(next);
        if number == next {
            fallback.next = next.saturating_add(1);
        }
        number
    }

    /// The overlay number of upper object `real`: its origin's if it is a copy.
    pub fn upper(&self, real: InodeNo) -> InodeNo {
        match self.origins.lock().get(&real) {
            Some(&origin) => origin,
            None => self.encode(UPPER, real),
        }
    }

    /// Record that upper object `real` is a copy of the object numbered `ino`.
    pub fn set_origin(&self, real: InodeNo, ino: InodeNo) {
        if self.encode(UPPER, real) != ino {
            self.origins.lock().insert(real, ino);
        }
    }

    /// Forget the origin of upper object `real` (its last name went away).
    pub fn forget_origin(&self, real: InodeNo) {
        self.origins.lock().remove(&real);
    }
}

/// Live nodes by overlay inode number, so every name of an object and every
/// internal lookup shares one node (and its copy-up state). Weak references:
/// a node lives as long as the VFS or a child node uses it.
pub(crate) struct NodeTable {
    inner: Mutex<Nodes>,
}

struct Nodes {
    map: HashMap<InodeNo, Weak<OverlayInode>>,
    /// Sweep dead entries when the map grows past this (amortised O(1)).
    sweep_at: usize,
}

impl NodeTable {
    pub fn new() -> NodeTable {
        NodeTable {
            inner: Mutex::new(Nodes {
                map: HashMap::new(),
                sweep_at: 64,
            }),
        }
    }

    /// The live node numbered `ino` of type `kind`, if any.
    pub fn get(&self, ino: InodeNo, kind: FileType) -> Option<Arc<OverlayInode>> {
        let nodes = self.inner.lock();
        let live = nodes.map.get(&ino).and_then(Weak::upgrade)?;
        (live.kind == kind).then_some(live)
    }

    /// The live node numbered `ino`, or `fresh` (which becomes the live one).
    pub fn get_or_insert(&self, fresh: Arc<OverlayInode>) -> Arc<OverlayInode> {
        let mut nodes = self.inner.lock();
        if let Some(live) = nodes.map.get(&fresh.number).and_then(Weak::upgrade)
            && live.kind == fresh.kind
        {
            return live;
        }
        nodes.map.insert(fresh.number, Arc::downgrade(&fresh));
        if nodes.map.len() >= nodes.sweep_at {
            nodes.map.retain(|_, w| w.strong_count() > 0);
            nodes.sweep_at = (nodes.map.len() * 2).max(64);
        }
        fresh
    }

    /// Drop `node` from the table (the object is gone; a later object with
    /// its number must not find it).
    pub fn forget(&self, node: &OverlayInode) {
        let mut nodes = self.inner.lock();
        if nodes
            .map
            .get(&node.number)
            .is_some_and(|w| core::ptr::eq(w.as_ptr(), node))
        {
            nodes.map.remove(&node.number);
        }
    }
}
