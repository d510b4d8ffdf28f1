//! The namespace: dentry cache and mount table, kept under one lock.
//!
//! Dentries live in a slab indexed by [`DentryId`] (slot index plus a
//! generation, so a stale id is detected instead of aliasing a reused slot).
//! Each directory dentry maps child names to child ids, which makes the cache
//! keyed by (parent, name). A dentry with no vnode is negative: the name is
//! known not to exist. Mounts attach to a dentry (`mounted`), and the root
//! dentry of a mount points back at its mount point (`covers`).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::MountFlags;
use crate::children::Children;
use crate::errno::{Errno, VfsResult};
use crate::types::FileType;
use crate::vnode::{MountShared, Vnode};

/// Slot index (low 32 bits) and generation (high 32 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DentryId(u64);

impl DentryId {
    fn new(index: u32, generation: u32) -> Self {
        DentryId(((generation as u64) << 32) | index as u64)
    }
    fn index(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }
    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

pub(crate) struct Dentry {
    pub children: Children,
    /// Root dentry of the mount on top of this one.
    pub mounted: Option<DentryId>,
    /// The vnode's type, kept here so a path walk need not touch the vnode.
    pub file_type: Option<FileType>,
    /// False once removed from its parent (deleted, or its mount went away).
    pub hashed: bool,
    /// None for a negative entry.
    pub vnode: Option<Arc<Vnode>>,
    /// Parent in the same filesystem; a filesystem root is its own parent.
    pub parent: DentryId,
    pub name: Box<str>,
    /// For a mount's root dentry: the dentry it is mounted on.
    pub covers: Option<DentryId>,
    pub mount_id: u64,
    /// Bumped whenever `children` may have gone stale, so a lookup done
    /// without the lock does not insert an outdated answer.
    pub version: u64,
    /// References that keep an unhashed dentry's slot (the cwd).
    pub pins: u32,
}

struct Slot {
    generation: u32,
    dentry: Option<Dentry>,
}

/// Where a mount sits.
pub(crate) enum MountPoint {
    /// The namespace root.
    Root,
    /// On top of this dentry.
    On(DentryId),
    /// Nowhere in the tree: a hidden mount named `@name`, used as a layer.
    Hidden(Box<str>),
}

impl MountPoint {
    /// The dentry it is mounted on, if it is attached below the root.
    pub fn dentry(&self) -> Option<DentryId> {
        match self {
            MountPoint::On(id) => Some(*id),
            _ => None,
        }
    }
}

/// One row of the mount table.
pub(crate) struct MountRec {
    pub shared: Arc<MountShared>,
    /// Its root dentry (hidden mounts have one too, reached by no path).
    pub root: DentryId,
    pub mountpoint: MountPoint,
    pub source: String,
    pub fs_type: String,
    pub flags: MountFlags,
    pub options: String,
    /// How many stacked mounts use a directory of this one as a layer;
    /// umount answers EBUSY while it is not zero.
    pub layer_users: u32,
    /// The mounts this one stacks on, pinned until it goes away (one entry
    /// per layer, so a mount used twice is pinned twice).
    pub layers: Vec<Arc<MountShared>>,
}

/// Most negative dentries kept; the oldest go first.
const MAX_NEGATIVE: usize = 8192;

/// Default bound on cached positive dentries ([`Tree::set_positive_limit`]).
pub(crate) const DEFAULT_POSITIVE_LIMIT: usize = 1 << 16;

/// Queue entries examined per insert once over the limit: keeps each
/// insert O(1) even when the oldest entries cannot go yet.
const EVICT_ATTEMPTS: usize = 8;

pub(crate) struct Tree {
    slots: Vec<Slot>,
    free: Vec<u32>,
    negatives: VecDeque<DentryId>,
    /// Positive dentries in insertion order, oldest first (may hold ids
    /// freed since; those are skipped), for the positive bound.
    positives: VecDeque<DentryId>,
    positive_limit: usize,
    pub mounts: Vec<MountRec>,
    pub root: Option<DentryId>,
    pub cwd: Option<DentryId>,
}

impl Tree {
    pub fn new() -> Self {
        Tree {
            slots: Vec::new(),
            free: Vec::new(),
            negatives: VecDeque::new(),
            positives: VecDeque::new(),
            positive_limit: DEFAULT_POSITIVE_LIMIT,
            mounts: Vec::new(),
            root: None,
            cwd: None,
        }
    }

    /// The dentry `id`, or ENOENT if it has been freed.
    #[inline]
    pub fn get(&self, id: DentryId) -> VfsResult<&Dentry> {
        match self.slots.get(id.index()) {
            Some(Slot {
                generation,
                dentry: Some(d),
            }) if *generation == id.generation() => Ok(d),
            _ => Err(Errno::ENOENT),
        }
    }

    pub fn get_mut(&mut self, id: DentryId) -> VfsResult<&mut Dentry> {
        match self.slots.get_mut(id.index()) {
            Some(Slot {
                generation,
                dentry: Some(d),
            }) if *generation == id.generation() => Ok(d),
            _ => Err(Errno::ENOENT),
        }
    }

    /// The positive vnode of `id`.
    #[inline]
    pub fn vnode(&self, id: DentryId) -> VfsResult<&Arc<Vnode>> {
        self.get(id)?.vnode.as_ref().ok_or(Errno::ENOENT)
    }

    fn alloc(&mut self, dentry: Dentry) -> VfsResult<DentryId> {
        if let Some(index) = self.free.pop() {
            let slot = self.slots.get_mut(index as usize).ok_or(Errno::EIO)?;
            slot.dentry = Some(dentry);
            return Ok(DentryId::new(index, slot.generation));
        }
        let index = u32::try_from(self.slots.len()).map_err(|_| Errno::ENOMEM)?;
        self.slots.push(Slot {
            generation: 0,
            dentry: Some(dentry),
        });
        Ok(DentryId::new(index, 0))
    }

    /// A filesystem root dentry (its own parent), not yet attached anywhere.
    pub fn new_root(&mut self, vnode: Arc<Vnode>, covers: Option<DentryId>) -> VfsResult<DentryId> {
        let mount_id = vnode.mount.id;
        let id = self.alloc(Dentry {
            parent: DentryId(0),
            name: Box::from(""),
            file_type: Some(vnode.file_type),
            vnode: Some(vnode),
            children: Children::default(),
            mounted: None,
            covers,
            mount_id,
            version: 0,
            pins: 0,
            hashed: true,
        })?;
        self.get_mut(id)?.parent = id;
        Ok(id)
    }

    /// Cache `name` in directory `parent` (negative when `vnode` is None),
    /// replacing any entry of that name.
    pub fn insert(
        &mut self,
        parent: DentryId,
        name: &str,
        vnode: Option<Arc<Vnode>>,
    ) -> VfsResult<DentryId> {
        let p = self.get(parent)?;
        let mount_id = p.mount_id;
        // Only a replaced entry makes concurrent lookups stale.
        if p.children.get(name).is_some() {
            self.remove_child(parent, name)?;
        }
        let negative = vnode.is_none();
        let id = self.alloc(Dentry {
            parent,
            name: Box::from(name),
            file_type: vnode.as_ref().map(|v| v.file_type),
            vnode,
            children: Children::default(),
            mounted: None,
            covers: None,
            mount_id,
            version: 0,
            pins: 0,
            hashed: true,
        })?;
        let p = self.get_mut(parent)?;
        p.children.insert(name, id);
        if negative {
            self.negatives.push_back(id);
            while self.negatives.len() > MAX_NEGATIVE {
                if let Some(old) = self.negatives.pop_front() {
                    self.evict_negative(old);
                }
            }
        } else {
            self.positives.push_back(id);
            self.evict_positives();
        }
        Ok(id)
    }

    fn evict_negative(&mut self, id: DentryId) {
        let (parent, name) = match self.get(id) {
            Ok(d) if d.vnode.is_none() && d.hashed => (d.parent, d.name.clone()),
            _ => return,
        };
        let _ = self.remove_child(parent, &name);
        self.requeue_if_leaf(parent);
        self.evict_positives();
    }

    /// Live positive dentries (walks the slab: for tests and reports).
    pub fn positive_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.dentry.as_ref().is_some_and(|d| d.vnode.is_some()))
            .count()
    }

    /// Bound the cached positive dentries (at least 1).
    pub fn set_positive_limit(&mut self, limit: usize) {
        self.positive_limit = limit.max(1);
        for _ in 0..self.positives.len() {
            if self.positives.len() <= self.positive_limit {
                break;
            }
            self.evict_positives();
        }
    }

    /// Evict the oldest positive dentries while over the limit. Only a
    /// leaf that nothing else uses can go: no cached children, no mount on
    /// it or of it, no pin (the cwd), and its vnode held by the dentry
    /// alone (an open file, a hard link's other name or an operation in
    /// flight keeps it). The filesystem still has the file; the next
    /// lookup asks it again. A directory whose last child goes rejoins the
    /// queue.
    fn evict_positives(&mut self) {
        for _ in 0..EVICT_ATTEMPTS {
            if self.positives.len() <= self.positive_limit {
                return;
            }
            let Some(id) = self.positives.pop_front() else {
                return;
            };
            let Ok(d) = self.get(id) else { continue };
            let Some(vnode) = d.vnode.as_ref() else {
                continue;
            };
            if !d.hashed || d.parent == id || !d.children.is_empty() {
                // Gone, a filesystem root, or a directory whose children
                // will bring it back when the last of them goes.
                continue;
            }
            if d.mounted.is_some() || d.pins > 0 || Arc::strong_count(vnode) > 1 {
                self.positives.push_back(id);
                continue;
            }
            let (parent, name) = (d.parent, d.name.clone());
            let _ = self.remove_child(parent, &name);
            self.requeue_if_leaf(parent);
        }
    }

    /// Queue `id` for eviction again if it is now a positive leaf.
    fn requeue_if_leaf(&mut self, id: DentryId) {
        if let Ok(d) = self.get(id)
            && d.vnode.is_some()
            && d.hashed
            && d.parent != id
            && d.children.is_empty()
        {
            self.positives.push_back(id);
        }
    }

    /// Drop the cached entry `name` of `parent` with everything under it.
    pub fn remove_child(&mut self, parent: DentryId, name: &str) -> VfsResult<()> {
        let p = self.get_mut(parent)?;
        p.version = p.version.wrapping_add(1);
        if let Some(child) = p.children.remove(name) {
            self.drop_subtree(child);
        }
        Ok(())
    }

    /// Unhash `id` and its descendants; free each slot nobody pins.
    /// Mounts on top are not followed: callers refuse to remove mount points.
    pub fn drop_subtree(&mut self, id: DentryId) {
        let mut stack = Vec::new();
        stack.push(id);
        while let Some(cur) = stack.pop() {
            let Ok(d) = self.get_mut(cur) else { continue };
            d.hashed = false;
            d.version = d.version.wrapping_add(1);
            stack.extend(d.children.drain());
            if d.pins == 0 {
                self.free_slot(cur);
            }
        }
    }

    fn free_slot(&mut self, id: DentryId) {
        if let Some(slot) = self.slots.get_mut(id.index())
            && slot.generation == id.generation()
            && slot.dentry.is_some()
        {
            slot.dentry = None;
            slot.generation = slot.generation.wrapping_add(1);
            if let Ok(index) = u32::try_from(id.index()) {
                self.free.push(index);
            }
        }
    }

    pub fn pin(&mut self, id: DentryId) {
        if let Ok(d) = self.get_mut(id) {
            d.pins = d.pins.saturating_add(1);
        }
    }

    pub fn unpin(&mut self, id: DentryId) {
        if let Ok(d) = self.get_mut(id) {
            d.pins = d.pins.saturating_sub(1);
            if d.pins == 0 && !d.hashed {
                self.free_slot(id);
            }
        }
    }

    /// Move the cached `old_name` of `old_parent` to `new_name` of
    /// `new_parent`, keeping its subtree (the caller dropped any target).
    pub fn move_child(
        &mut self,
        old_parent: DentryId,
        old_name: &str,
        new_parent: DentryId,
        new_name: &str,
    ) -> VfsResult<()> {
        self.remove_child(new_parent, new_name)?;
        let p = self.get_mut(old_parent)?;
        p.version = p.version.wrapping_add(1);
        let Some(id) = p.children.remove(old_name) else {
            return Ok(());
        };
        let d = self.get_mut(id)?;
        d.parent = new_parent;
        d.name = Box::from(new_name);
        let np = self.get_mut(new_parent)?;
        np.version = np.version.wrapping_add(1);
        np.children.insert(new_name, id);
        Ok(())
    }

    /// The top of the stack of mounts on `id`.
    #[inline]
    pub fn follow_mounts(&self, mut id: DentryId) -> DentryId {
        while let Ok(Dentry {
            mounted: Some(top), ..
        }) = self.get(id)
        {
            id = *top;
        }
        id
    }

    /// Where `..` of directory `id` leads: up within its filesystem, out of
    /// a mount into the parent filesystem, never above `root`.
    pub fn dotdot(&self, id: DentryId, root: DentryId) -> VfsResult<DentryId> {
        let mut cur = id;
        loop {
            if cur == root {
                return Ok(root);
            }
            let d = self.get(cur)?;
            if d.parent != cur {
                return Ok(self.follow_mounts(d.parent));
            }
            // A filesystem root: continue from its mount point.
            match d.covers {
                Some(mp) => cur = mp,
                None => return Ok(cur),
            }
        }
    }

    /// The absolute path of `id` as seen from the namespace root.
    pub fn path_of(&self, id: DentryId) -> VfsResult<String> {
        let root = self.root.ok_or(Errno::ENOENT)?;
        let mut names: Vec<&str> = Vec::new();
        let mut cur = id;
        // Bounded: each step either leaves a mount or goes up one level.
        for _ in 0..=self.slots.len() {
            if cur == root {
                let mut out = String::new();
                for name in names.iter().rev() {
                    out.push('/');
                    out.push_str(name);
                }
                if out.is_empty() {
                    out.push('/');
                }
                return Ok(out);
            }
            let d = self.get(cur)?;
            if !d.hashed {
                return Err(Errno::ENOENT);
            }
            if d.parent == cur {
                cur = d.covers.ok_or(Errno::ENOENT)?;
            } else {
                names.push(&d.name);
                cur = d.parent;
            }
        }
        Err(Errno::ENOENT)
    }

    /// Whether `ancestor` is `id` or above it within one filesystem.
    pub fn is_ancestor(&self, ancestor: DentryId, id: DentryId) -> bool {
        self.walk_up_finds(ancestor, id, false)
    }

    /// Whether `ancestor` is `id` or above it, crossing mount points.
    pub fn is_ancestor_across_mounts(&self, ancestor: DentryId, id: DentryId) -> bool {
        self.walk_up_finds(ancestor, id, true)
    }

    /// Walk parents from `id` looking for `ancestor`; at a mount's root,
    /// continue at the mount point below it when `cross_mounts`. Bounded by
    /// the table size, so a broken parent chain cannot loop.
    fn walk_up_finds(&self, ancestor: DentryId, id: DentryId, cross_mounts: bool) -> bool {
        let mut cur = id;
        for _ in 0..=self.slots.len() {
            if cur == ancestor {
                return true;
            }
            match self.get(cur) {
                Ok(d) if d.parent != cur => cur = d.parent,
                Ok(Dentry {
                    covers: Some(mp), ..
                }) if cross_mounts => cur = *mp,
                _ => return false,
            }
        }
        false
    }
}
