//! A directory dentry's cached children: a hash table from name to
//! [`DentryId`], with short names stored inline so a warm lookup touches
//! one cache line and allocates nothing.

use alloc::boxed::Box;

use hashbrown::HashTable;

use crate::tree::DentryId;

/// Hash of a name for the child tables: word at a time, inlined, no
/// allocation. Names come from the application itself (a unikernel), so a
/// fixed-key hash is acceptable.
#[inline]
pub(crate) fn hash_name(name: &str) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes = name.as_bytes();
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        h = (h ^ word(chunk)).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        h = (h ^ word(rest)).wrapping_mul(K).rotate_left(29);
    }
    // Spread into the top bits too: hashbrown uses them as its tag.
    h ^= h >> 32;
    h = h.wrapping_mul(K);
    h ^ (h >> 29)
}

/// Up to 8 bytes as a little-endian word (a short slice is zero-padded).
#[inline]
fn word(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .enumerate()
        .fold(0, |w, (i, &b)| w | (u64::from(b) << (8 * i)))
}

/// Byte equality without a call to `memcmp` (names are short).
#[inline]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks(8);
    let mut cb = b.chunks(8);
    loop {
        match (ca.next(), cb.next()) {
            (Some(x), Some(y)) => {
                if word(x) != word(y) {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Names up to this long live inside the table entry: comparing them
/// touches no other cache line.
const INLINE_NAME: usize = 22;

enum NameKey {
    Inline(u8, [u8; INLINE_NAME]),
    Heap(Box<[u8]>),
}

impl NameKey {
    fn new(name: &str) -> Self {
        let bytes = name.as_bytes();
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE_NAME => {
                let mut buf = [0; INLINE_NAME];
                for (dst, src) in buf.iter_mut().zip(bytes) {
                    *dst = *src;
                }
                NameKey::Inline(len, buf)
            }
            _ => NameKey::Heap(Box::from(bytes)),
        }
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            NameKey::Inline(len, buf) => buf.get(..usize::from(*len)).unwrap_or(&[]),
            NameKey::Heap(b) => b,
        }
    }
}

struct ChildEntry {
    hash: u64,
    id: DentryId,
    name: NameKey,
}

/// A directory's cached children: name -> dentry id.
#[derive(Default)]
pub(crate) struct Children {
    table: HashTable<ChildEntry>,
}

impl Children {
    #[inline]
    pub fn get_hashed(&self, hash: u64, name: &str) -> Option<DentryId> {
        self.table
            .find(hash, |e| {
                e.hash == hash && same_name(e.name.bytes(), name.as_bytes())
            })
            .map(|e| e.id)
    }

    pub fn get(&self, name: &str) -> Option<DentryId> {
        self.get_hashed(hash_name(name), name)
    }

    /// Add `name` (the caller removed any entry of that name first).
    pub fn insert(&mut self, name: &str, id: DentryId) {
        let hash = hash_name(name);
        self.table.insert_unique(
            hash,
            ChildEntry {
                hash,
                id,
                name: NameKey::new(name),
            },
            |e| e.hash,
        );
    }

    pub fn remove(&mut self, name: &str) -> Option<DentryId> {
        let hash = hash_name(name);
        match self.table.find_entry(hash, |e| {
            e.hash == hash && same_name(e.name.bytes(), name.as_bytes())
        }) {
            Ok(entry) => Some(entry.remove().0.id),
            Err(_) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn drain(&mut self) -> impl Iterator<Item = DentryId> + '_ {
        self.table.drain().map(|e| e.id)
    }
}
