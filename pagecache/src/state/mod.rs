//! The cache's state under its lock: the slot slab, the page index, the two
//! LRU segments, the per-object lists and the space table.
//!
//! Every operation is O(1) except the ones that drop a set of pages
//! (O(pages dropped) for an object, O(slots) for a whole space). Nothing here
//! allocates except growing the slab and the hash tables, and those use
//! `try_reserve`: on failure one page is evicted and the reservation tried
//! once more before giving `NoMemory`.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Range;

use drivers::BlockError;
use hashbrown::HashMap;

use crate::list::{self, Link, Links, List, NIL};
use crate::page::{PAGE_SIZE, Page, PageKey, SpaceId};
use crate::stats::{Counters, Event, SpaceStats, Tally};

mod check;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Segment {
    Free,
    /// Seen once (or demoted from protected): evicted first.
    Probation,
    /// Hit again while on probation.
    Protected,
}

struct Slot {
    key: PageKey,
    page: Option<Page>,
    /// Position in its segment, or the free list (through `next`).
    lru: Link,
    /// Position in its object's list.
    obj: Link,
    segment: Segment,
    /// Inserted by read-ahead and not hit yet.
    speculative: bool,
    /// Passed a verify-on-fill check.
    verified: bool,
}

struct LruLinks<'a>(&'a mut [Slot]);

impl Links for LruLinks<'_> {
    fn link(&mut self, slot: u32) -> Option<&mut Link> {
        self.0.get_mut(slot as usize).map(|s| &mut s.lru)
    }
}

struct ObjLinks<'a>(&'a mut [Slot]);

impl Links for ObjLinks<'_> {
    fn link(&mut self, slot: u32) -> Option<&mut Link> {
        self.0.get_mut(slot as usize).map(|s| &mut s.obj)
    }
}

/// A registered space.
pub(crate) struct SpaceEntry {
    pub(crate) name: String,
    pub(crate) tally: Arc<Tally>,
    pages: usize,
    /// Bumped by every write and invalidation, so a fill that read the
    /// device before one of them does not insert what it read.
    pub(crate) epoch: u64,
}

struct SpaceSlot {
    generation: u32,
    entry: Option<SpaceEntry>,
}

/// Why a page leaves the cache.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// For room (the budget) or by `shrink`: counted as an eviction.
    Evicted,
    /// Invalidated, overwritten or its space unregistered.
    Dropped,
}

/// How a page enters the cache.
#[derive(Clone, Copy)]
pub(crate) struct Insert {
    pub(crate) speculative: bool,
    pub(crate) verified: bool,
    /// Replace a page already cached under the key (else keep it).
    pub(crate) replace: bool,
}

pub(crate) struct State {
    slots: Vec<Slot>,
    free: u32,
    index: HashMap<PageKey, u32>,
    objects: HashMap<(SpaceId, u64), List>,
    probation: List,
    protected: List,
    budget_pages: usize,
    spaces: Vec<SpaceSlot>,
    /// Counters of unregistered spaces, so totals never go backwards.
    retired: Counters,
}

impl State {
    pub(crate) fn new(budget_bytes: usize) -> State {
        State {
            slots: Vec::new(),
            free: NIL,
            index: HashMap::new(),
            objects: HashMap::new(),
            probation: List::EMPTY,
            protected: List::EMPTY,
            budget_pages: budget_bytes / PAGE_SIZE,
            spaces: Vec::new(),
            retired: Counters::default(),
        }
    }

    pub(crate) fn resident_pages(&self) -> usize {
        self.probation.len + self.protected.len
    }

    /// Most pages the protected segment may hold: about three quarters of
    /// the budget, so new pages always have room to prove themselves.
    fn protected_cap(&self) -> usize {
        self.budget_pages - self.budget_pages / 4
    }

    pub(crate) fn set_budget(&mut self, bytes: usize) {
        self.budget_pages = bytes / PAGE_SIZE;
        while self.resident_pages() > self.budget_pages && self.evict_one() {}
        self.rebalance();
    }

    // ----- spaces -----

    pub(crate) fn register(
        &mut self,
        name: String,
        tally: Arc<Tally>,
    ) -> Result<SpaceId, BlockError> {
        let entry = SpaceEntry {
            name,
            tally,
            pages: 0,
            epoch: 0,
        };
        // A slot whose generation is exhausted is never reused, so ids stay
        // unique for the life of the cache.
        let free = self
            .spaces
            .iter()
            .position(|s| s.entry.is_none() && s.generation < u32::MAX);
        let slot = match free {
            Some(slot) => slot,
            None => {
                self.spaces
                    .try_reserve(1)
                    .map_err(|_| BlockError::NoMemory)?;
                self.spaces.push(SpaceSlot {
                    generation: 0,
                    entry: None,
                });
                self.spaces.len() - 1
            }
        };
        let space = self.spaces.get_mut(slot).ok_or(BlockError::NoMemory)?;
        space.generation += 1;
        space.entry = Some(entry);
        Ok(SpaceId {
            slot: u32::try_from(slot).map_err(|_| BlockError::NoMemory)?,
            generation: space.generation,
        })
    }

    pub(crate) fn space(&self, id: SpaceId) -> Option<&SpaceEntry> {
        let slot = self.spaces.get(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_ref()
    }

    fn space_mut(&mut self, id: SpaceId) -> Option<&mut SpaceEntry> {
        let slot = self.spaces.get_mut(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_mut()
    }

    fn tally(&self, id: SpaceId, event: Event, n: u64) {
        if let Some(space) = self.space(id) {
            space.tally.add(event, n);
        }
    }

    /// Drop every page of `id` and forget the space.
    pub(crate) fn unregister(&mut self, id: SpaceId) {
        if self.space(id).is_none() {
            return;
        }
        for slot in 0..self.slots.len() {
            let ours = self
                .slots
                .get(slot)
                .is_some_and(|s| s.segment != Segment::Free && s.key.space == id);
            if ours {
                self.remove_slot(slot as u32, Removal::Dropped);
            }
        }
        if let Some(space) = self.spaces.get_mut(id.slot as usize)
            && let Some(entry) = space.entry.take()
        {
            let mut counters = entry.tally.snapshot(0);
            counters.resident_bytes = 0;
            self.retired.accumulate(&counters);
        }
    }

    pub(crate) fn space_pages(&self, id: SpaceId) -> usize {
        self.space(id).map_or(0, |s| s.pages)
    }

    pub(crate) fn epoch(&self, id: SpaceId) -> Option<u64> {
        self.space(id).map(|s| s.epoch)
    }

    pub(crate) fn bump_epoch(&mut self, id: SpaceId) {
        if let Some(space) = self.space_mut(id) {
            space.epoch = space.epoch.wrapping_add(1);
        }
    }

    // ----- lookups -----

    pub(crate) fn contains(&self, key: &PageKey) -> bool {
        self.index.contains_key(key)
    }

    /// The page under `key`, moved to the front of its segment (the caller
    /// counts the hit, once per read rather than per page). `promote`: whether this access counts as a second use (a
    /// read that continues inside the page the previous read ended in does
    /// not, nor does the first hit of a read-ahead page).
    pub(crate) fn hit(&mut self, key: &PageKey, promote: bool) -> Option<Page> {
        let slot = *self.index.get(key)?;
        self.touch(slot, promote);
        self.slots.get(slot as usize)?.page.clone()
    }

    /// The page under `key` and whether it passed a verify-on-fill check,
    /// without touching the LRU or counting.
    pub(crate) fn peek(&self, key: &PageKey) -> Option<(Page, bool)> {
        let slot = self.slots.get(*self.index.get(key)? as usize)?;
        Some((slot.page.clone()?, slot.verified))
    }

    /// Mark the page under `key` verified, if it is still `page`.
    pub(crate) fn mark_verified(&mut self, key: &PageKey, page: &Page) {
        if let Some(&slot) = self.index.get(key)
            && let Some(slot) = self.slots.get_mut(slot as usize)
            && slot.page.as_ref().is_some_and(|p| p.same_page(page))
        {
            slot.verified = true;
        }
    }

    fn touch(&mut self, slot: u32, promote: bool) {
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let (segment, speculative, space) = (s.segment, s.speculative, s.key.space);
        s.speculative = false;
        if speculative {
            self.tally(space, Event::ReadAheadUsed, 1);
        }
        match segment {
            Segment::Probation if promote && !speculative => {
                list::unlink(&mut LruLinks(&mut self.slots), &mut self.probation, slot);
                list::push_front(&mut LruLinks(&mut self.slots), &mut self.protected, slot);
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    s.segment = Segment::Protected;
                }
                self.rebalance();
            }
            Segment::Probation => {
                list::unlink(&mut LruLinks(&mut self.slots), &mut self.probation, slot);
                list::push_front(&mut LruLinks(&mut self.slots), &mut self.probation, slot);
            }
            Segment::Protected => {
                list::unlink(&mut LruLinks(&mut self.slots), &mut self.protected, slot);
                list::push_front(&mut LruLinks(&mut self.slots), &mut self.protected, slot);
            }
            Segment::Free => {}
        }
    }

    /// Demote the protected segment's oldest pages to probation's front
    /// while it holds more than its cap.
    fn rebalance(&mut self) {
        while self.protected.len > self.protected_cap() {
            let tail = self.protected.tail;
            if tail == NIL {
                break;
            }
            list::unlink(&mut LruLinks(&mut self.slots), &mut self.protected, tail);
            list::push_front(&mut LruLinks(&mut self.slots), &mut self.probation, tail);
            if let Some(s) = self.slots.get_mut(tail as usize) {
                s.segment = Segment::Probation;
            }
        }
    }

    // ----- insertion and removal -----

    /// Cache `page` under `key`. Returns whether it is now cached (false: no
    /// budget, the space is gone, or `how.replace` is off and a page is
    /// already there). Evicts to stay within the budget.
    pub(crate) fn insert(
        &mut self,
        key: PageKey,
        page: Page,
        how: Insert,
    ) -> Result<bool, BlockError> {
        if self.budget_pages == 0 || self.space(key.space).is_none() {
            return Ok(false);
        }
        if let Some(&old) = self.index.get(&key) {
            if !how.replace {
                return Ok(false);
            }
            self.remove_slot(old, Removal::Dropped);
        }
        while self.resident_pages() >= self.budget_pages {
            if !self.evict_one() {
                return Ok(false);
            }
        }
        // Last step before inserting: nothing may be removed between the
        // reservation and the insertion it made room for.
        if self.reserve(&key).is_err() {
            // Free a page's worth and try once more.
            self.evict_one();
            if self.reserve(&key).is_err() {
                self.tally(key.space, Event::AllocFailure, 1);
                return Err(BlockError::NoMemory);
            }
        }
        let slot = self.take_slot();
        let entry = Slot {
            key,
            page: Some(page),
            lru: Link::NONE,
            obj: Link::NONE,
            segment: Segment::Probation,
            speculative: how.speculative,
            verified: how.verified,
        };
        match self.slots.get_mut(slot as usize) {
            Some(s) => *s = entry,
            None => self.slots.push(entry),
        }
        list::push_front(&mut LruLinks(&mut self.slots), &mut self.probation, slot);
        let object = self
            .objects
            .entry((key.space, key.object))
            .or_insert(List::EMPTY);
        list::push_front(&mut ObjLinks(&mut self.slots), object, slot);
        self.index.insert(key, slot);
        if let Some(space) = self.space_mut(key.space) {
            space.pages += 1;
            space.tally.add(Event::Insert, 1);
            if how.speculative {
                space.tally.add(Event::ReadAhead, 1);
            }
        }
        Ok(true)
    }

    /// Room in the slab and both tables for one more page under `key`.
    fn reserve(&mut self, key: &PageKey) -> Result<(), ()> {
        if self.free == NIL {
            if self.slots.len() >= NIL as usize {
                return Err(());
            }
            self.slots.try_reserve(1).map_err(|_| ())?;
        }
        self.index.try_reserve(1).map_err(|_| ())?;
        if !self.objects.contains_key(&(key.space, key.object)) {
            self.objects.try_reserve(1).map_err(|_| ())?;
        }
        Ok(())
    }

    /// A free slot's number: from the free list, or the next new one (the
    /// caller pushes it; `reserve` made room).
    fn take_slot(&mut self) -> u32 {
        if self.free != NIL {
            let slot = self.free;
            self.free = self.slots.get(slot as usize).map_or(NIL, |s| s.lru.next);
            return slot;
        }
        self.slots.len() as u32
    }

    /// Evict the least recently used page, probation first.
    pub(crate) fn evict_one(&mut self) -> bool {
        let victim = if self.probation.tail != NIL {
            self.probation.tail
        } else {
            self.protected.tail
        };
        victim != NIL && self.remove_slot(victim, Removal::Evicted)
    }

    fn remove_slot(&mut self, slot: u32, why: Removal) -> bool {
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return false;
        };
        let (segment, key, speculative) = (s.segment, s.key, s.speculative);
        let list = match segment {
            Segment::Free => return false,
            Segment::Probation => &mut self.probation,
            Segment::Protected => &mut self.protected,
        };
        list::unlink(&mut LruLinks(&mut self.slots), list, slot);
        let object_key = (key.space, key.object);
        if let Some(object) = self.objects.get_mut(&object_key) {
            list::unlink(&mut ObjLinks(&mut self.slots), object, slot);
            if object.len == 0 {
                self.objects.remove(&object_key);
            }
        }
        self.index.remove(&key);
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.page = None;
            s.segment = Segment::Free;
            s.speculative = false;
            s.verified = false;
            s.obj = Link::NONE;
            s.lru = Link {
                prev: NIL,
                next: self.free,
            };
            self.free = slot;
        }
        if let Some(space) = self.space_mut(key.space) {
            space.pages = space.pages.saturating_sub(1);
            if why == Removal::Evicted {
                space.tally.add(Event::Eviction, 1);
            }
            if speculative {
                space.tally.add(Event::ReadAheadWasted, 1);
            }
        }
        true
    }

    pub(crate) fn remove(&mut self, key: &PageKey) -> bool {
        match self.index.get(key) {
            Some(&slot) => self.remove_slot(slot, Removal::Dropped),
            None => false,
        }
    }

    /// Update the cached page under `key` with `data` at byte `at` if no
    /// reader holds it, else drop it. For write-through.
    pub(crate) fn patch_or_drop(&mut self, key: &PageKey, at: usize, data: &[u8]) {
        let Some(&slot) = self.index.get(key) else {
            return;
        };
        let patched = self
            .slots
            .get_mut(slot as usize)
            .and_then(|s| s.page.as_mut())
            .and_then(|page| page.bytes_mut())
            .and_then(|bytes| bytes.get_mut(at..at.checked_add(data.len())?))
            .map(|target| target.copy_from_slice(data))
            .is_some();
        if !patched {
            self.remove_slot(slot, Removal::Dropped);
        }
    }

    /// Drop the pages of `object` whose index is in `range` (all of them
    /// for `0..u64::MAX`). O(pages of the object), or O(range) point
    /// lookups when the range is the smaller.
    pub(crate) fn invalidate(&mut self, space: SpaceId, object: u64, range: Range<u64>) -> usize {
        let Some(list) = self.objects.get(&(space, object)).copied() else {
            return 0;
        };
        let mut dropped = 0;
        let span = range.end.saturating_sub(range.start);
        if span < list.len as u64 {
            for index in range {
                if self.remove(&PageKey {
                    space,
                    object,
                    index,
                }) {
                    dropped += 1;
                }
            }
            return dropped;
        }
        let mut slot = list.head;
        while slot != NIL {
            let Some(s) = self.slots.get(slot as usize) else {
                break;
            };
            let (next, index) = (s.obj.next, s.key.index);
            if range.contains(&index) && self.remove_slot(slot, Removal::Dropped) {
                dropped += 1;
            }
            slot = next;
        }
        dropped
    }

    /// Evict up to `pages` pages, probation first. Returns how many went.
    pub(crate) fn shrink(&mut self, pages: usize) -> usize {
        let mut freed = 0;
        while freed < pages && self.evict_one() {
            freed += 1;
        }
        freed
    }

    // ----- reporting -----

    pub(crate) fn protected_pages(&self) -> usize {
        self.protected.len
    }

    /// Bytes held by the slab and the two tables (their capacity).
    pub(crate) fn index_bytes(&self) -> usize {
        let entry = |key: usize, value: usize| key + value + 1;
        self.slots.capacity() * size_of::<Slot>()
            + self.index.capacity() * entry(size_of::<PageKey>(), size_of::<u32>())
            + self.objects.capacity() * entry(size_of::<(SpaceId, u64)>(), size_of::<List>())
    }

    pub(crate) fn space_stats(&self) -> Result<(Counters, Vec<SpaceStats>), BlockError> {
        let mut total = self.retired;
        let mut spaces = Vec::new();
        let live = self.spaces.iter().filter(|s| s.entry.is_some()).count();
        spaces
            .try_reserve_exact(live)
            .map_err(|_| BlockError::NoMemory)?;
        for (slot, space) in self.spaces.iter().enumerate() {
            let Some(entry) = &space.entry else {
                continue;
            };
            let counters = entry.tally.snapshot(entry.pages);
            total.accumulate(&counters);
            let mut name = String::new();
            name.try_reserve_exact(entry.name.len())
                .map_err(|_| BlockError::NoMemory)?;
            name.push_str(&entry.name);
            spaces.push(SpaceStats {
                id: SpaceId {
                    slot: slot as u32,
                    generation: space.generation,
                },
                name,
                counters,
            });
        }
        Ok((total, spaces))
    }
}
