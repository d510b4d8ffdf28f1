//! Nodes: one [`FuseInode`] per server node id, with the lookups it owes
//! the server (FORGET when it drops), its attribute cache, and the
//! directory operations that go to the server by node id.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use vfs::{
    DirSink, Errno, FileHandle, FileType, Inode, InodeNo, OpenFlags, S_IPERM, SetAttr, Stat,
    VfsResult,
};
use zerocopy::{FromZeros, IntoBytes};

use crate::attr_cache::AttrCache;
use crate::data_cache;
use crate::dir::{Chunk, list};
use crate::handle::{DirHandle, OpenFileHandle};
use crate::ops::{self, NUL};
use crate::proto::reply::{entry_from, expect_len, link_target};
use crate::proto::{
    CreateIn, EntryOut, LinkIn, MkdirIn, MknodIn, NAME_MAX, Opcode, OpenOut, PATH_MAX, ROOT_ID,
    RenameIn, SetattrIn, fattr,
};
use crate::session::Session;

/// Linux open flags for the fh a CREATE opens (kept for the open that
/// follows it).
const CREATE_FLAGS: u32 =
    OpenFlags::O_RDWR.bits() | OpenFlags::O_CREAT.bits() | OpenFlags::O_EXCL.bits();

pub(crate) struct FuseInode {
    pub(crate) session: Arc<Session>,
    pub(crate) nodeid: u64,
    generation: u64,
    pub(crate) ino: InodeNo,
    file_type: FileType,
    /// Lookups of this node the server counted for us, forgotten on drop.
    lookups: AtomicU64,
    pub(crate) attr: AttrCache,
    /// The fh a CREATE opened and its `FOPEN_*` flags, for the `open` that
    /// the VFS makes next.
    spare: spin::Mutex<Option<(u64, u32)>>,
    /// The node's side of the page cache (`data_cache`).
    pub(crate) data: data_cache::DataState,
    /// Made by our CREATE and not written or truncated since: a
    /// truncate to 0 (O_TRUNC right after O_CREAT) has nothing to do.
    fresh: AtomicBool,
}

impl FuseInode {
    /// The root directory (node 1, which is never looked up or forgotten).
    pub fn root(session: Arc<Session>) -> VfsResult<Arc<FuseInode>> {
        let now = session.clock.now();
        let epoch = session.epoch();
        let (stat, timeout) = ops::getattr(&session, ROOT_ID, None)?;
        if stat.file_type() != Some(FileType::Directory) {
            return Err(Errno::ENOTDIR);
        }
        let root = Arc::new(FuseInode::new(session, ROOT_ID, 0, &stat, 0));
        root.attr.store(stat, timeout, now, epoch);
        root.session
            .nodes
            .lock()
            .insert(ROOT_ID, Arc::downgrade(&root));
        Ok(root)
    }

    fn new(session: Arc<Session>, nodeid: u64, generation: u64, stat: &Stat, lookups: u64) -> Self {
        FuseInode {
            session,
            nodeid,
            generation,
            ino: stat.ino,
            // Callers checked the mode has a type.
            file_type: stat.file_type().unwrap_or(FileType::Regular),
            lookups: AtomicU64::new(lookups),
            attr: AttrCache::default(),
            spare: spin::Mutex::new(None),
            data: data_cache::DataState::default(),
            fresh: AtomicBool::new(false),
        }
    }

    /// The node for an entry reply of `body` bytes, for which the server
    /// counted one lookup: the live object for that node id (one more lookup
    /// on it) or a new one. A malformed entry is EIO, and its lookup is
    /// forgotten at once.
    fn from_entry(
        session: &Arc<Session>,
        entry: &EntryOut,
        body: usize,
    ) -> VfsResult<Arc<FuseInode>> {
        expect_len(body, size_of::<EntryOut>())?;
        let entry = match entry_from(entry) {
            Ok(Some(entry)) => entry,
            Ok(None) => return Err(Errno::ENOENT),
            Err((nodeid, e)) => {
                session.forget(nodeid, 1);
                return Err(e);
            }
        };
        let now = session.clock.now();
        let epoch = session.epoch();
        // An object that lost its last reference meanwhile, or one for an
        // older incarnation of the node id, is dropped only after the table
        // lock is released (its drop takes that lock).
        let mut replaced = None;
        let node = {
            let mut nodes = session.nodes.lock();
            match nodes.get(&entry.nodeid).and_then(Weak::upgrade) {
                Some(live)
                    if live.generation == entry.generation && live.file_type == entry.file_type =>
                {
                    live.lookups.fetch_add(1, Ordering::AcqRel);
                    live
                }
                other => {
                    replaced = other;
                    let node = Arc::new(FuseInode::new(
                        session.clone(),
                        entry.nodeid,
                        entry.generation,
                        &entry.stat,
                        1,
                    ));
                    nodes.insert(entry.nodeid, Arc::downgrade(&node));
                    node
                }
            }
        };
        drop(replaced);
        node.store_attrs(entry.stat, entry.attr_timeout, now, epoch);
        Ok(node)
    }

    /// LOOKUP `name` in directory `parent`.
    pub(crate) fn lookup_node(
        session: &Arc<Session>,
        parent: u64,
        name: &str,
    ) -> VfsResult<Arc<FuseInode>> {
        check_arg(name)?;
        let mut out = EntryOut::new_zeroed();
        let body = session.request(
            Opcode::Lookup,
            parent,
            &[name.as_bytes(), NUL],
            &mut [out.as_mut_bytes()],
        )?;
        FuseInode::from_entry(session, &out, body)
    }

    /// The file changed here (a write, a truncate): cached attributes are stale.
    pub(crate) fn changed(&self) {
        self.fresh.store(false, Ordering::Release);
        self.attr.invalidate();
    }

    fn dir_only(&self) -> VfsResult<()> {
        if self.file_type == FileType::Directory {
            Ok(())
        } else {
            Err(Errno::ENOTDIR)
        }
    }

    /// SETATTR, keeping the reply's attributes.
    fn set(&self, arg: &SetattrIn) -> VfsResult<()> {
        let now = self.session.clock.now();
        let epoch = self.session.epoch();
        let result = ops::setattr(&self.session, self.nodeid, arg);
        self.changed();
        let (stat, timeout) = result?;
        if arg.valid & fattr::SIZE != 0
            && let Some(space) = &self.session.data
        {
            self.data.drop_pages(space, self.nodeid, 0..u64::MAX);
        }
        self.store_attrs(stat, timeout, now, epoch);
        Ok(())
    }

    /// A directory-changing request whose reply is an entry.
    fn make(&self, op: Opcode, args: &[&[u8]]) -> VfsResult<Arc<FuseInode>> {
        let mut out = EntryOut::new_zeroed();
        let result = self
            .session
            .request(op, self.nodeid, args, &mut [out.as_mut_bytes()]);
        self.session.namespace_changed();
        FuseInode::from_entry(&self.session, &out, result?)
    }

    /// A directory-changing request with an empty reply.
    fn change(&self, op: Opcode, args: &[&[u8]]) -> VfsResult<()> {
        let result = self.session.request(op, self.nodeid, args, &mut []);
        self.session.namespace_changed();
        expect_len(result?, 0)
    }

    /// Another inode of this same session, for link and rename.
    fn same_session<'a>(&self, other: &'a Arc<dyn Inode>) -> VfsResult<&'a FuseInode> {
        match other.as_any().downcast_ref::<FuseInode>() {
            Some(node) if Arc::ptr_eq(&node.session, &self.session) => Ok(node),
            _ => Err(Errno::EXDEV),
        }
    }

    fn create_file(&self, name: &str, mode: u32) -> VfsResult<Arc<dyn Inode>> {
        let arg = CreateIn {
            flags: CREATE_FLAGS,
            mode,
            umask: 0,
            open_flags: 0,
        };
        let mut entry = EntryOut::new_zeroed();
        let mut open = OpenOut::new_zeroed();
        let result = self.session.request(
            Opcode::Create,
            self.nodeid,
            &[arg.as_bytes(), name.as_bytes(), NUL],
            &mut [entry.as_mut_bytes(), open.as_mut_bytes()],
        );
        self.session.namespace_changed();
        let body = result?;
        expect_len(body, size_of::<EntryOut>() + size_of::<OpenOut>())?;
        let node = match FuseInode::from_entry(&self.session, &entry, size_of::<EntryOut>()) {
            Ok(node) => node,
            Err(e) => {
                ops::release(&self.session, entry.nodeid, false, open.fh, CREATE_FLAGS);
                return Err(e);
            }
        };
        let mut spare = node.spare.lock();
        if spare.is_none() {
            *spare = Some((open.fh, open.open_flags));
            node.fresh.store(true, Ordering::Release);
            drop(spare);
        } else {
            drop(spare);
            ops::release(&self.session, node.nodeid, false, open.fh, CREATE_FLAGS);
        }
        Ok(node)
    }
}

/// A name we send: the VFS already refused `/`, `.`, `..` and long names;
/// NUL would end it early on the wire.
fn check_arg(name: &str) -> VfsResult<()> {
    if name.is_empty() || name.len() > NAME_MAX || name.as_bytes().contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl Drop for FuseInode {
    fn drop(&mut self) {
        if let Some((fh, _)) = self.spare.get_mut().take() {
            ops::release(&self.session, self.nodeid, false, fh, CREATE_FLAGS);
        }
        if let Some(space) = &self.session.data {
            self.data.drop_pages(space, self.nodeid, 0..u64::MAX);
        }
        {
            let mut nodes = self.session.nodes.lock();
            let me: *const FuseInode = self;
            if nodes
                .get(&self.nodeid)
                .is_some_and(|w| core::ptr::eq(w.as_ptr(), me))
            {
                nodes.remove(&self.nodeid);
            }
        }
        self.session.forget(self.nodeid, *self.lookups.get_mut());
    }
}

impl Inode for FuseInode {
    fn ino(&self) -> InodeNo {
        self.ino
    }

    fn file_type(&self) -> FileType {
        self.file_type
    }

    fn getattr(&self) -> VfsResult<Stat> {
        let now = self.session.clock.now();
        let epoch = self.session.epoch();
        if let Some(stat) = self.attr.get(now, epoch) {
            return Ok(stat);
        }
        let (mut stat, timeout) = ops::getattr(&self.session, self.nodeid, None)?;
        if stat.file_type() != Some(self.file_type) {
            return Err(Errno::EIO);
        }
        // The number the VFS knows this node by, whatever the server says now.
        stat.ino = self.ino;
        self.store_attrs(stat, timeout, now, epoch);
        Ok(stat)
    }

    fn setattr(&self, attr: &SetAttr) -> VfsResult<()> {
        let mut arg = SetattrIn::default();
        if let Some(mode) = attr.mode {
            arg.valid |= fattr::MODE;
            arg.mode = self.file_type.mode_bits() | (mode & S_IPERM);
        }
        if let Some(uid) = attr.uid {
            arg.valid |= fattr::UID;
            arg.uid = uid;
        }
        if let Some(gid) = attr.gid {
            arg.valid |= fattr::GID;
            arg.gid = gid;
        }
        if let Some(t) = attr.atime {
            arg.valid |= fattr::ATIME;
            (arg.atime, arg.atimensec) = (t.sec as u64, t.nsec);
        }
        if let Some(t) = attr.mtime {
            arg.valid |= fattr::MTIME;
            (arg.mtime, arg.mtimensec) = (t.sec as u64, t.nsec);
        }
        if arg.valid == 0 {
            return Ok(());
        }
        self.set(&arg)
    }

    fn lookup(&self, name: &str) -> VfsResult<Arc<dyn Inode>> {
        self.dir_only()?;
        Ok(FuseInode::lookup_node(&self.session, self.nodeid, name)?)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        if self.file_type != FileType::Regular {
            return Err(self.not_a_file());
        }
        let flags = OpenFlags::O_RDONLY.bits();
        let fh = ops::open(&self.session, self.nodeid, false, flags)?.fh;
        let result = ops::read(&self.session, self.nodeid, fh, flags, offset, buf);
        ops::release(&self.session, self.nodeid, false, fh, flags);
        result
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> VfsResult<usize> {
        match self.file_type {
            FileType::Regular => {}
            FileType::Directory => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        }
        let flags = OpenFlags::O_WRONLY.bits();
        let fh = ops::open(&self.session, self.nodeid, false, flags)?.fh;
        let result = ops::write(&self.session, self.nodeid, fh, flags, offset, buf);
        self.wrote(offset, buf.len());
        ops::release(&self.session, self.nodeid, false, fh, flags);
        result
    }

    fn truncate(&self, size: u64) -> VfsResult<()> {
        match self.file_type {
            FileType::Regular => {}
            FileType::Directory => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        }
        if size == 0 && self.fresh.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        self.set(&SetattrIn {
            valid: fattr::SIZE,
            size,
            ..SetattrIn::default()
        })
    }

    fn readdir(&self, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        self.dir_only()?;
        let flags = OpenFlags::O_DIRECTORY.bits();
        let fh = ops::open(&self.session, self.nodeid, true, flags)?.fh;
        let cache = spin::Mutex::new(None::<Chunk>);
        let delivered = AtomicU64::new(0);
        let result = list(
            &self.session,
            self.nodeid,
            fh,
            cookie,
            sink,
            &cache,
            &delivered,
        );
        ops::release(&self.session, self.nodeid, true, fh, flags);
        result
    }

    fn readlink(&self) -> VfsResult<String> {
        if self.file_type != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        let mut buf = Vec::new();
        buf.try_reserve_exact(PATH_MAX).map_err(|_| Errno::ENOMEM)?;
        buf.resize(PATH_MAX, 0);
        let len = self
            .session
            .request(Opcode::Readlink, self.nodeid, &[], &mut [&mut buf])?;
        let target = link_target(buf.get(..len).ok_or(Errno::EIO)?)?;
        let mut out = String::new();
        out.try_reserve_exact(target.len())
            .map_err(|_| Errno::ENOMEM)?;
        out.push_str(target);
        Ok(out)
    }

    fn create(&self, name: &str, mode: u32, rdev: u64) -> VfsResult<Arc<dyn Inode>> {
        self.dir_only()?;
        check_arg(name)?;
        match FileType::from_mode(mode) {
            Some(FileType::Regular) => self.create_file(name, mode),
            Some(FileType::Directory | FileType::Symlink) | None => Err(Errno::EINVAL),
            Some(_) => {
                let arg = MknodIn {
                    mode,
                    rdev: u32::try_from(rdev).map_err(|_| Errno::EINVAL)?,
                    umask: 0,
                    padding: 0,
                };
                Ok(self.make(Opcode::Mknod, &[arg.as_bytes(), name.as_bytes(), NUL])?)
            }
        }
    }

    fn mkdir(&self, name: &str, mode: u32) -> VfsResult<Arc<dyn Inode>> {
        self.dir_only()?;
        check_arg(name)?;
        let arg = MkdirIn {
            mode: mode & S_IPERM,
            umask: 0,
        };
        Ok(self.make(Opcode::Mkdir, &[arg.as_bytes(), name.as_bytes(), NUL])?)
    }

    fn symlink(&self, name: &str, target: &str) -> VfsResult<Arc<dyn Inode>> {
        self.dir_only()?;
        check_arg(name)?;
        if target.is_empty() || target.len() >= PATH_MAX || target.as_bytes().contains(&0) {
            return Err(Errno::EINVAL);
        }
        Ok(self.make(
            Opcode::Symlink,
            &[name.as_bytes(), NUL, target.as_bytes(), NUL],
        )?)
    }

    fn link(&self, name: &str, target: &Arc<dyn Inode>) -> VfsResult<()> {
        self.dir_only()?;
        check_arg(name)?;
        let target = self.same_session(target)?;
        let arg = LinkIn {
            oldnodeid: target.nodeid,
        };
        // The reply counts a lookup of the target: the live object takes it.
        self.make(Opcode::Link, &[arg.as_bytes(), name.as_bytes(), NUL])
            .map(drop)
    }

    fn unlink(&self, name: &str) -> VfsResult<()> {
        self.dir_only()?;
        check_arg(name)?;
        self.change(Opcode::Unlink, &[name.as_bytes(), NUL])
    }

    fn rmdir(&self, name: &str) -> VfsResult<()> {
        self.dir_only()?;
        check_arg(name)?;
        self.change(Opcode::Rmdir, &[name.as_bytes(), NUL])
    }

    fn rename(&self, old_name: &str, new_dir: &Arc<dyn Inode>, new_name: &str) -> VfsResult<()> {
        self.dir_only()?;
        check_arg(old_name)?;
        check_arg(new_name)?;
        let new_dir = self.same_session(new_dir)?;
        let arg = RenameIn {
            newdir: new_dir.nodeid,
        };
        self.change(
            Opcode::Rename,
            &[
                arg.as_bytes(),
                old_name.as_bytes(),
                NUL,
                new_name.as_bytes(),
                NUL,
            ],
        )
    }

    fn open(&self, flags: OpenFlags) -> VfsResult<Option<Box<dyn FileHandle>>> {
        match self.file_type {
            FileType::Regular => {
                let append = flags.contains(OpenFlags::O_APPEND);
                // The host file keeps O_APPEND, so appends stay atomic there.
                let wire = (flags.bits() & 3) | (flags & OpenFlags::O_APPEND).bits();
                let spare = if append {
                    None
                } else {
                    self.spare.lock().take()
                };
                let (fh, wire, open_flags) = match spare {
                    Some((fh, open_flags)) => (fh, OpenFlags::O_RDWR.bits(), open_flags),
                    None => {
                        let out = ops::open(&self.session, self.nodeid, false, wire)?;
                        (out.fh, wire, out.open_flags)
                    }
                };
                let handle = OpenFileHandle::new(self.session.clone(), self.nodeid, fh, wire);
                // Dropping the handle on an error is its RELEASE.
                let cached = self.open_cached(open_flags)?;
                Ok(Some(Box::new(handle.cached(cached))))
            }
            FileType::Directory => {
                let wire = OpenFlags::O_DIRECTORY.bits();
                let out = ops::open(&self.session, self.nodeid, true, wire)?;
                Ok(Some(Box::new(DirHandle::new(
                    self.session.clone(),
                    self.nodeid,
                    out.fh,
                    wire,
                ))))
            }
            // Device nodes, fifos and sockets on the share would be opened on
            // the host: never.
            _ => Err(Errno::ENXIO),
        }
    }

    fn fsync(&self) -> VfsResult<()> {
        // Without an open file there is no fh to sync; writes through a
        // handle are synced by the handle.
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
