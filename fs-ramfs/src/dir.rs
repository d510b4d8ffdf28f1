//! Directory contents: a sorted name map plus stable readdir cookies.
//!
//! Entries live in a `BTreeMap` keyed by name: lookup is O(log n) and readdir
//! walks names in sorted order.
//!
//! Cookies: see "Readdir cookies" in the crate documentation.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Bound;

use crate::RamInode;

pub struct Entry {
    pub inode: Arc<RamInode>,
    slot: u64,
}

#[derive(Default)]
pub struct DirEntries {
    entries: BTreeMap<Arc<str>, Entry>,
    /// Slot -> name, for every name since the directory was last empty.
    names: Vec<Arc<str>>,
    /// Slots of names that were removed, for reuse when they come back.
    retired: BTreeMap<Arc<str>, u64>,
    /// Subdirectories, for the directory's link count.
    pub subdirs: u32,
}

impl DirEntries {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<RamInode>> {
        self.entries.get(name).map(|e| &e.inode)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Add `name`, which must not exist.
    pub fn insert(&mut self, name: &str, inode: Arc<RamInode>) {
        let (key, slot) = match self.retired.remove_entry(name) {
            Some((key, slot)) => (key, slot),
            None => {
                let key: Arc<str> = Arc::from(name);
                let slot = self.names.len() as u64;
                self.names.push(key.clone());
                (key, slot)
            }
        };
        if inode.is_dir() {
            self.subdirs += 1;
        }
        self.entries.insert(key, Entry { inode, slot });
    }

    /// Remove `name`, returning its inode.
    pub fn remove(&mut self, name: &str) -> Option<Arc<RamInode>> {
        let (key, entry) = self.entries.remove_entry(name)?;
        if entry.inode.is_dir() {
            self.subdirs -= 1;
        }
        if self.entries.is_empty() {
            self.names.clear();
            self.retired.clear();
        } else {
            self.retired.insert(key, entry.slot);
        }
        Some(entry.inode)
    }

    /// Take every entry out (for dropping a tree without recursion).
    pub fn take_all(&mut self) -> Vec<Arc<RamInode>> {
        let entries = core::mem::take(&mut self.entries);
        self.names.clear();
        self.retired.clear();
        self.subdirs = 0;
        entries.into_values().map(|e| e.inode).collect()
    }

    /// Up to `max` entries after `cookie`, each with the cookie that resumes
    /// after it.
    pub fn batch(&self, cookie: u64, max: usize) -> Vec<(Arc<str>, Arc<RamInode>, u64)> {
        let range = match cookie {
            0 => self
                .entries
                .range::<str, _>((Bound::Unbounded, Bound::Unbounded)),
            c => match usize::try_from(c - 1)
                .ok()
                .and_then(|slot| self.names.get(slot))
            {
                Some(name) => self
                    .entries
                    .range::<str, _>((Bound::Excluded(&**name), Bound::Unbounded)),
                None => return Vec::new(),
            },
        };
        range
            .take(max)
            .map(|(name, e)| (name.clone(), e.inode.clone(), e.slot + 1))
            .collect()
    }
}
