//! Vnodes: the VFS's handle on a backend inode, shared by every name of it.

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hashbrown::HashMap;
use spin::{Mutex, Once};

use crate::backend::{FileSystem, Inode};
use crate::errno::VfsResult;
use crate::types::{FileType, InodeNo};

/// Per-mount state that vnodes and open files need without the namespace lock.
pub(crate) struct MountShared {
    /// Mount id; also the `st_dev` of its files.
    pub id: u64,
    pub fs: Arc<dyn FileSystem>,
    pub read_only: bool,
    /// Open file descriptions on this mount (umount answers EBUSY while non-zero).
    pub open_files: AtomicUsize,
    /// Set by umount; an open racing with umount backs out when it sees it.
    pub detached: AtomicBool,
    /// Held across each namespace change on this mount (the backend call and
    /// the dentry-cache update after it, see `Vfs::begin_change`), so the
    /// cache applies changes in the order the backend made them.
    pub ns_change: Mutex<()>,
}

/// One inode of one mount. Hard links resolve to the same `Arc<Vnode>`.
pub(crate) struct Vnode {
    pub mount: Arc<MountShared>,
    pub inode: Arc<dyn Inode>,
    pub ino: InodeNo,
    pub file_type: FileType,
    /// Symlink targets never change, so the first readlink is kept.
    link_target: Once<String>,
}

impl Vnode {
    /// The symlink target, read from the backend once.
    pub fn link_target(&self) -> VfsResult<&str> {
        if let Some(t) = self.link_target.get() {
            return Ok(t);
        }
        let target = self.inode.readlink()?;
        Ok(self.link_target.call_once(|| target))
    }

    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }
}

/// Vnodes keyed by (mount id, inode number). Holds weak references: a vnode
/// lives as long as a dentry or open file uses it.
pub(crate) struct VnodeTable {
    inner: Mutex<VnodeMap>,
}

struct VnodeMap {
    map: HashMap<(u64, InodeNo), Weak<Vnode>>,
    /// Sweep dead entries when the map grows past this (amortised O(1)).
    sweep_at: usize,
}

impl VnodeTable {
    pub fn new() -> Self {
        VnodeTable {
            inner: Mutex::new(VnodeMap {
                map: HashMap::new(),
                sweep_at: 64,
            }),
        }
    }

    /// The vnode for `inode` on `mount`, shared with other names of it.
    pub fn get(&self, mount: &Arc<MountShared>, inode: Arc<dyn Inode>) -> Arc<Vnode> {
        let ino = inode.ino();
        let file_type = inode.file_type();
        let key = (mount.id, ino);
        let mut table = self.inner.lock();
        if let Some(v) = table.map.get(&key).and_then(Weak::upgrade) {
            // A different type means the backend reused the number for a new object.
            if v.file_type == file_type {
                return v;
            }
        }
        let vnode = Arc::new(Vnode {
            mount: mount.clone(),
            inode,
            ino,
            file_type,
            link_target: Once::new(),
        });
        table.map.insert(key, Arc::downgrade(&vnode));
        if table.map.len() >= table.sweep_at {
            table.map.retain(|_, w| w.strong_count() > 0);
            table.sweep_at = (table.map.len() * 2).max(64);
        }
        vnode
    }

    /// Forget `vnode` (its inode is gone, so its number may be reused).
    pub fn forget(&self, vnode: &Arc<Vnode>) {
        let mut table = self.inner.lock();
        let key = (vnode.mount.id, vnode.ino);
        if table
            .map
            .get(&key)
            .is_some_and(|w| core::ptr::eq(w.as_ptr(), Arc::as_ptr(vnode)))
        {
            table.map.remove(&key);
        }
    }

    /// Drop every entry of a mount that went away.
    pub fn forget_mount(&self, mount_id: u64) {
        self.inner.lock().map.retain(|k, _| k.0 != mount_id);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }
}

/// Whether `mount` is gone, for callers that took a reference before umount.
pub(crate) fn is_detached(mount: &MountShared) -> bool {
    mount.detached.load(Ordering::SeqCst)
}
