//! Pages, their keys and where their memory comes from.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

use drivers::BlockError;

/// Bytes per cached page.
pub const PAGE_SIZE: usize = 4096;

/// One registered user of the cache (a mounted device, a decompressed view,
/// a virtio-fs mount).
///
/// The slot number is reused after the space is unregistered but the
/// generation is not, so a stale id never matches another space's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpaceId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl fmt::Display for SpaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.slot, self.generation)
    }
}

/// What a cached page holds: page `index` of `object` in `space`.
///
/// `object` is 0 for a raw device (then `index` is the device's 4 KiB page
/// number) or the user's object id (a cluster's stored offset, a node id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageKey {
    pub space: SpaceId,
    pub object: u64,
    pub index: u64,
}

/// A page buffer before it holds data: `PAGE_SIZE` bytes of capacity.
pub struct PageBuf(Vec<u8>);

impl PageBuf {
    /// A buffer from the heap, or `None` when the allocation fails.
    pub fn try_new() -> Option<PageBuf> {
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(PAGE_SIZE).ok()?;
        Some(PageBuf(bytes))
    }

    /// The page holding `data` (at most `PAGE_SIZE` bytes; the rest of the
    /// page reads as zeros).
    pub(crate) fn fill(self, data: &[u8]) -> Result<Page, BlockError> {
        let len = data.len().min(PAGE_SIZE);
        let mut bytes = self.0;
        bytes.clear();
        bytes
            .try_reserve_exact(PAGE_SIZE)
            .map_err(|_| BlockError::NoMemory)?;
        bytes.extend_from_slice(data.get(..len).unwrap_or_default());
        bytes.resize(PAGE_SIZE, 0);
        Page::from_vec(bytes, len)
    }

    /// A zeroed page of `len` valid bytes, for reading straight into.
    pub(crate) fn zeroed(self, len: usize) -> Result<Page, BlockError> {
        let mut bytes = self.0;
        bytes.clear();
        bytes
            .try_reserve_exact(PAGE_SIZE)
            .map_err(|_| BlockError::NoMemory)?;
        bytes.resize(PAGE_SIZE, 0);
        Page::from_vec(bytes, len.min(PAGE_SIZE))
    }
}

/// Where page buffers come from. The default is the heap; the kernel may
/// hand in a pool, and tests one that fails on demand.
pub trait PageAllocator: Send + Sync {
    /// A fresh buffer, or `None` when memory is short (the cache then evicts
    /// one page and asks once more).
    fn allocate(&self) -> Option<PageBuf>;
}

/// Page buffers from the global heap, allocated fallibly.
pub struct HeapPages;

impl PageAllocator for HeapPages {
    fn allocate(&self) -> Option<PageBuf> {
        PageBuf::try_new()
    }
}

struct PageData {
    bytes: Box<[u8; PAGE_SIZE]>,
    len: usize,
}

/// A cached page, shared: readers clone it under the cache lock and copy
/// out after dropping the lock. Derefs to its valid bytes (`len()` of them;
/// only the last page of a device or object is shorter than `PAGE_SIZE`).
#[derive(Clone)]
pub struct Page(Arc<PageData>);

impl Page {
    fn from_vec(bytes: Vec<u8>, len: usize) -> Result<Page, BlockError> {
        let bytes: Box<[u8; PAGE_SIZE]> = bytes
            .into_boxed_slice()
            .try_into()
            .map_err(|_| BlockError::NoMemory)?;
        Ok(Page(Arc::new(PageData { bytes, len })))
    }

    /// Valid bytes in the page.
    pub fn len(&self) -> usize {
        self.0.len
    }

    /// Whether the page holds no valid byte.
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// The whole page buffer for filling, if nobody else holds the page.
    pub(crate) fn bytes_mut(&mut self) -> Option<&mut [u8; PAGE_SIZE]> {
        Arc::get_mut(&mut self.0).map(|data| &mut *data.bytes)
    }

    /// Whether two handles are the same cached page.
    pub fn same_page(&self, other: &Page) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for Page {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        let data = &*self.0;
        data.bytes.get(..data.len).unwrap_or_default()
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page").field("len", &self.len()).finish()
    }
}
