//! A small in-memory backend for the VFS's own unit tests.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;

use crate::backend::*;
use crate::errno::{Errno, VfsResult};
use crate::fstype::*;
use crate::types::*;

pub struct TestFs {
    root: Arc<Node>,
    next_ino: Arc<AtomicU64>,
    read_only: bool,
    pub lookups: Arc<AtomicUsize>,
    pub unmounts: AtomicUsize,
}

pub struct Node {
    ino: InodeNo,
    ft: FileType,
    state: Mutex<State>,
    next_ino: Arc<AtomicU64>,
    lookups: Arc<AtomicUsize>,
    this: Weak<Node>,
}

struct State {
    mode: u32,
    nlink: u32,
    data: Vec<u8>,
    /// Directory entries: name -> (insertion cookie, node).
    entries: BTreeMap<String, (u64, Arc<Node>)>,
    next_cookie: u64,
    target: String,
    mtime: Timespec,
    atime: Timespec,
    uid: u32,
    gid: u32,
}

impl TestFs {
    pub fn new(read_only: bool) -> Arc<TestFs> {
        let next_ino = Arc::new(AtomicU64::new(2));
        let lookups = Arc::new(AtomicUsize::new(0));
        let root = Node::new(1, FileType::Directory, 0o755, &next_ino, &lookups);
        Arc::new(TestFs {
            root,
            next_ino,
            read_only,
            lookups,
            unmounts: AtomicUsize::new(0),
        })
    }
}

pub fn ctor(_ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
    Ok(TestFs::new(false))
}

impl Node {
    fn new(
        ino: InodeNo,
        ft: FileType,
        perm: u32,
        next: &Arc<AtomicU64>,
        lookups: &Arc<AtomicUsize>,
    ) -> Arc<Node> {
        Arc::new_cyclic(|this| Node {
            ino,
            ft,
            state: Mutex::new(State {
                mode: perm,
                nlink: if ft == FileType::Directory { 2 } else { 1 },
                data: Vec::new(),
                entries: BTreeMap::new(),
                next_cookie: 1,
                target: String::new(),
                mtime: Timespec::ZERO,
                atime: Timespec::ZERO,
                uid: 0,
                gid: 0,
            }),
            next_ino: next.clone(),
            lookups: lookups.clone(),
            this: this.clone(),
        })
    }

    fn child(&self, ft: FileType, perm: u32) -> Arc<Node> {
        let ino = self.next_ino.fetch_add(1, Ordering::Relaxed);
        Node::new(ino, ft, perm, &self.next_ino, &self.lookups)
    }

    fn add(&self, name: &str, node: Arc<Node>) -> VfsResult<Arc<dyn Inode>> {
        let mut st = self.state.lock();
        if st.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let cookie = st.next_cookie;
        st.next_cookie += 1;
        st.entries.insert(name.to_string(), (cookie, node.clone()));
        Ok(node)
    }
}

impl FileSystem for TestFs {
    fn root(&self) -> VfsResult<Arc<dyn Inode>> {
        Ok(self.root.clone())
    }
    fn fs_type(&self) -> &'static str {
        "testfs"
    }
    fn is_read_only(&self) -> bool {
        self.read_only
    }
    fn unmount(&self) -> VfsResult<()> {
        self.unmounts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn statfs(&self) -> VfsResult<StatFs> {
        Ok(StatFs {
            fs_type: 0x1234,
            files: self.next_ino.load(Ordering::Relaxed),
            ..StatFs::default()
        })
    }
}

impl Inode for Node {
    fn ino(&self) -> InodeNo {
        self.ino
    }
    fn file_type(&self) -> FileType {
        self.ft
    }
    fn getattr(&self) -> VfsResult<Stat> {
        let st = self.state.lock();
        Ok(Stat {
            ino: self.ino,
            mode: self.ft.mode_bits() | st.mode,
            nlink: st.nlink,
            size: if self.ft == FileType::Symlink {
                st.target.len() as u64
            } else {
                st.data.len() as u64
            },
            blocks: (st.data.len() as u64).div_ceil(512),
            atime: st.atime,
            mtime: st.mtime,
            uid: st.uid,
            gid: st.gid,
            ..Stat::default()
        })
    }
    fn setattr(&self, attr: &SetAttr) -> VfsResult<()> {
        let mut st = self.state.lock();
        if let Some(m) = attr.mode {
            st.mode = m & S_IPERM;
        }
        if let Some(t) = attr.atime {
            st.atime = t;
        }
        if let Some(t) = attr.mtime {
            st.mtime = t;
        }
        if let Some(uid) = attr.uid {
            st.uid = uid;
        }
        if let Some(gid) = attr.gid {
            st.gid = gid;
        }
        Ok(())
    }
    fn lookup(&self, name: &str) -> VfsResult<Arc<dyn Inode>> {
        if self.ft != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let st = self.state.lock();
        st.entries
            .get(name)
            .map(|(_, n)| n.clone() as Arc<dyn Inode>)
            .ok_or(Errno::ENOENT)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        if self.ft != FileType::Regular {
            return Err(self.not_a_file());
        }
        let st = self.state.lock();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(st.data.len());
        let n = buf.len().min(st.data.len() - start);
        buf[..n].copy_from_slice(&st.data[start..start + n]);
        Ok(n)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> VfsResult<usize> {
        let mut st = self.state.lock();
        let start = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
        let end = start.checked_add(buf.len()).ok_or(Errno::EFBIG)?;
        if end > (1 << 24) {
            return Err(Errno::ENOSPC);
        }
        if st.data.len() < end {
            st.data.resize(end, 0);
        }
        st.data[start..end].copy_from_slice(buf);
        Ok(buf.len())
    }
    fn truncate(&self, size: u64) -> VfsResult<()> {
        let size = usize::try_from(size).map_err(|_| Errno::EFBIG)?;
        if size > (1 << 24) {
            return Err(Errno::ENOSPC);
        }
        self.state.lock().data.resize(size, 0);
        Ok(())
    }
    fn readdir(&self, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        if self.ft != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let mut list: Vec<(u64, String, Arc<Node>)> = self
            .state
            .lock()
            .entries
            .iter()
            .map(|(k, (c, n))| (*c, k.clone(), n.clone()))
            .collect();
        list.sort_by_key(|e| e.0);
        for (c, name, node) in list {
            if c <= cookie {
                continue;
            }
            let e = DirEntryRef {
                ino: node.ino,
                file_type: node.ft,
                name: &name,
            };
            if !sink(e, c) {
                break;
            }
        }
        Ok(())
    }
    fn readlink(&self) -> VfsResult<String> {
        if self.ft != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        Ok(self.state.lock().target.clone())
    }
    fn create(&self, name: &str, mode: u32, _rdev: u64) -> VfsResult<Arc<dyn Inode>> {
        let ft = FileType::from_mode(mode).ok_or(Errno::EINVAL)?;
        let node = self.child(ft, mode & S_IPERM);
        self.add(name, node)
    }
    fn mkdir(&self, name: &str, mode: u32) -> VfsResult<Arc<dyn Inode>> {
        let node = self.child(FileType::Directory, mode);
        let r = self.add(name, node)?;
        self.state.lock().nlink += 1;
        Ok(r)
    }
    fn symlink(&self, name: &str, target: &str) -> VfsResult<Arc<dyn Inode>> {
        let node = self.child(FileType::Symlink, 0o777);
        node.state.lock().target = target.to_string();
        self.add(name, node)
    }
    fn link(&self, name: &str, target: &Arc<dyn Inode>) -> VfsResult<()> {
        let node = target.as_any().downcast_ref::<Node>().ok_or(Errno::EXDEV)?;
        let node = node.this.upgrade().ok_or(Errno::ENOENT)?;
        self.add(name, node.clone())?;
        node.state.lock().nlink += 1;
        Ok(())
    }
    fn unlink(&self, name: &str) -> VfsResult<()> {
        let (_, node) = self
            .state
            .lock()
            .entries
            .remove(name)
            .ok_or(Errno::ENOENT)?;
        let mut st = node.state.lock();
        st.nlink = st.nlink.saturating_sub(1);
        Ok(())
    }
    fn rmdir(&self, name: &str) -> VfsResult<()> {
        let mut st = self.state.lock();
        let (_, node) = st.entries.get(name).ok_or(Errno::ENOENT)?;
        if !node.state.lock().entries.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        let node = node.clone();
        st.entries.remove(name);
        st.nlink -= 1;
        node.state.lock().nlink = 0;
        Ok(())
    }
    fn rename(&self, old_name: &str, new_dir: &Arc<dyn Inode>, new_name: &str) -> VfsResult<()> {
        let new_dir = new_dir
            .as_any()
            .downcast_ref::<Node>()
            .ok_or(Errno::EXDEV)?;
        let node = self
            .state
            .lock()
            .entries
            .get(old_name)
            .map(|e| e.1.clone())
            .ok_or(Errno::ENOENT)?;
        let existing = new_dir
            .state
            .lock()
            .entries
            .get(new_name)
            .map(|e| e.1.clone());
        if let Some(existing) = existing {
            if existing.ft == FileType::Directory && !existing.state.lock().entries.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            new_dir.state.lock().entries.remove(new_name);
            let mut st = existing.state.lock();
            st.nlink = st.nlink.saturating_sub(1);
        }
        self.state.lock().entries.remove(old_name);
        let mut st = new_dir.state.lock();
        let cookie = st.next_cookie;
        st.next_cookie += 1;
        st.entries.insert(new_name.to_string(), (cookie, node));
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
