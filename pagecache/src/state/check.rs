//! The structural invariants of the cache state, checked on demand (tests
//! and fuzzing call `PageCache::check` after every operation).

use alloc::vec::Vec;

use super::{Segment, State};
use crate::list::NIL;

impl State {
    /// Check every structural invariant; the first broken one is named.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.resident_pages() > self.budget_pages {
            return Err("resident pages above the budget");
        }
        if self.protected.len > self.protected_cap() {
            return Err("protected segment above its cap");
        }
        if self.index.len() != self.resident_pages() {
            return Err("index size differs from the segments' lengths");
        }
        for (list, segment) in [
            (&self.probation, Segment::Probation),
            (&self.protected, Segment::Protected),
        ] {
            let mut count = 0;
            let mut prev = NIL;
            let mut slot = list.head;
            while slot != NIL {
                let s = self
                    .slots
                    .get(slot as usize)
                    .ok_or("link out of the slab")?;
                if s.segment != segment || s.lru.prev != prev {
                    return Err("segment list links disagree");
                }
                if self.index.get(&s.key) != Some(&slot) || s.page.is_none() {
                    return Err("listed page missing from the index");
                }
                count += 1;
                if count > list.len {
                    return Err("segment list longer than its length");
                }
                prev = slot;
                slot = s.lru.next;
            }
            if count != list.len || list.tail != prev {
                return Err("segment list length or tail wrong");
            }
        }
        let mut per_space: Vec<usize> = Vec::new();
        per_space
            .try_reserve_exact(self.spaces.len())
            .map_err(|_| "out of memory")?;
        per_space.resize(self.spaces.len(), 0);
        let mut object_pages = 0;
        for (&(space, object), list) in &self.objects {
            let mut slot = list.head;
            let mut count = 0;
            while slot != NIL {
                let s = self
                    .slots
                    .get(slot as usize)
                    .ok_or("link out of the slab")?;
                if s.key.space != space || s.key.object != object {
                    return Err("page on another object's list");
                }
                count += 1;
                if count > list.len {
                    return Err("object list longer than its length");
                }
                slot = s.obj.next;
            }
            if count != list.len || count == 0 {
                return Err("object list length wrong or empty list kept");
            }
            if let Some(n) = per_space.get_mut(space.slot as usize) {
                *n += count;
            }
            object_pages += count;
        }
        if object_pages != self.index.len() {
            return Err("object lists do not cover the index");
        }
        for (slot, space) in self.spaces.iter().enumerate() {
            let pages = space.entry.as_ref().map_or(0, |e| e.pages);
            if per_space.get(slot).copied().unwrap_or(0) != pages {
                return Err("space page count wrong");
            }
        }
        Ok(())
    }
}
