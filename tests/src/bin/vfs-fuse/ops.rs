//! FUSE operations over a `vfs::Vfs`, each one a VFS call on the node's
//! path (see [`crate::nodes`]), so `cp -a`, `tar`, `mv`, `ln`, `chmod` and
//! `rm -r` exercise the VFS code itself.
//!
//! Two calls the VFS API does not have yet go to the backend inode directly
//! (found by walking the ramfs from its root): changing owners (`chown`,
//! and the owner of a new file made by a non-root caller) and setting a
//! symlink's own times (`Vfs::utimens` follows symlinks).
//!
//! Permissions: the VFS models mode bits and owners but checks none, so the
//! mount uses the kernel's `default_permissions`: Linux checks the mode
//! bits, owners and the sticky bit against the attributes this filesystem
//! reports, for every caller. New objects belong to the caller; in a setgid
//! directory they take its group, and new directories its setgid bit.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fs_ramfs::RamFs;
use fuser::{
    FileAttr, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, OpenAccMode,
    OpenFlags as FuseOpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use vfs::{
    Clock, DirEntry, Errno, FileSystem, FileType, Inode, OpenFlags, SetAttr, Stat, Timespec, Vfs,
};

use crate::attr::{file_attr, fuse_type};
use crate::nodes::Nodes;

/// Attributes may be cached briefly; every change goes through this process.
const TTL: Duration = Duration::from_secs(1);
/// Directory handles live above every file descriptor number.
const DIR_HANDLE_BASE: u64 = 1 << 32;
const S_ISGID: u32 = 0o2000;

type Res<T> = Result<T, fuser::Errno>;

fn errno(e: Errno) -> fuser::Errno {
    fuser::Errno::from_i32(e.raw())
}

/// The VFS with a ramfs at `/`, served to the kernel.
pub struct VfsFuse {
    vfs: Vfs,
    ramfs: Arc<RamFs>,
    clock: Arc<dyn Clock>,
    nodes: Mutex<Nodes>,
    /// Open directories: a listing taken at opendir, served by offset.
    dirs: Mutex<HashMap<u64, Vec<DirEntry>>>,
    next_dir: AtomicU64,
}

impl VfsFuse {
    pub fn new(vfs: Vfs, ramfs: Arc<RamFs>, clock: Arc<dyn Clock>) -> Result<VfsFuse, Errno> {
        let root_ino = vfs.lstat("/")?.ino;
        Ok(VfsFuse {
            vfs,
            ramfs,
            clock,
            nodes: Mutex::new(Nodes::new(root_ino)),
            dirs: Mutex::new(HashMap::new()),
            next_dir: AtomicU64::new(DIR_HANDLE_BASE),
        })
    }

    fn nodes(&self) -> Res<MutexGuard<'_, Nodes>> {
        self.nodes.lock().map_err(|_| fuser::Errno::EIO)
    }

    fn path(&self, id: INodeNo) -> Res<String> {
        self.nodes()?.path(id.0).ok_or(fuser::Errno::ESTALE)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Res<String> {
        let name = name.to_str().ok_or(fuser::Errno::EINVAL)?;
        self.nodes()?
            .child_path(parent.0, name)
            .ok_or(fuser::Errno::ESTALE)
    }

    fn attr(&self, stat: &Stat) -> Res<FileAttr> {
        Ok(file_attr(self.nodes()?.id_of(stat.ino), stat))
    }

    /// `name` in `parent` now names what `path` resolves to: record it.
    fn entry(&self, parent: INodeNo, name: &OsStr, path: &str) -> Res<FileAttr> {
        let stat = self.vfs.lstat(path).map_err(errno)?;
        let mut nodes = self.nodes()?;
        let id = nodes.id_of(stat.ino);
        nodes.looked_up(id, parent.0, name.to_str().ok_or(fuser::Errno::EINVAL)?);
        Ok(file_attr(id, &stat))
    }

    /// The backend inode at `path`, for the calls the VFS API lacks.
    fn backend(&self, path: &str) -> Res<Arc<dyn Inode>> {
        let mut inode = self.ramfs.root().map_err(errno)?;
        for name in path.split('/').filter(|n| !n.is_empty()) {
            inode = inode.lookup(name).map_err(errno)?;
        }
        Ok(inode)
    }

    /// Give a new object at `path` to the caller (the group of a setgid
    /// parent, and that bit for a new directory).
    fn own(&self, req: &Request, parent: &str, path: &str) -> Res<()> {
        let dir = self.vfs.stat(parent).map_err(errno)?;
        let made = self.vfs.lstat(path).map_err(errno)?;
        let inherit = dir.mode & S_ISGID != 0;
        let gid = if inherit { dir.gid } else { req.gid() };
        let mut change = SetAttr::default();
        if made.uid != req.uid() || made.gid != gid {
            change.uid = Some(req.uid());
            change.gid = Some(gid);
        }
        if inherit && made.file_type() == Some(FileType::Directory) {
            change.mode = Some((made.mode | S_ISGID) & 0o7777);
        }
        if change != SetAttr::default() {
            self.backend(path)?.setattr(&change).map_err(errno)?;
        }
        Ok(())
    }

    fn parent_path(&self, parent: INodeNo) -> Res<String> {
        self.path(parent)
    }

    fn time(&self, t: TimeOrNow) -> Timespec {
        match t {
            TimeOrNow::Now => self.clock.now(),
            TimeOrNow::SpecificTime(at) => match at.duration_since(UNIX_EPOCH) {
                Ok(d) => Timespec::new(d.as_secs() as i64, d.subsec_nanos()),
                Err(before) => {
                    let d = before.duration();
                    let (sec, nsec) = (-(d.as_secs() as i64), d.subsec_nanos());
                    if nsec == 0 {
                        Timespec::new(sec, 0)
                    } else {
                        Timespec::new(sec - 1, 1_000_000_000 - nsec)
                    }
                }
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn do_setattr(
        &self,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        fh: Option<FileHandle>,
    ) -> Res<FileAttr> {
        let path = self.path(ino)?;
        if let Some(size) = size {
            match fh.filter(|fh| fh.0 < DIR_HANDLE_BASE) {
                Some(fh) => self.vfs.ftruncate(fh.0 as i32, size),
                None => self.vfs.truncate(&path, size),
            }
            .map_err(errno)?;
        }
        let stat = self.vfs.lstat(&path).map_err(errno)?;
        let symlink = stat.file_type() == Some(FileType::Symlink);
        if let Some(mode) = mode
            && !symlink
        {
            self.vfs.chmod(&path, mode).map_err(errno)?;
        }
        let (atime, mtime) = (atime.map(|t| self.time(t)), mtime.map(|t| self.time(t)));
        if (atime.is_some() || mtime.is_some()) && !symlink {
            self.vfs.utimens(&path, atime, mtime).map_err(errno)?;
        }
        let owner_change = uid.is_some_and(|u| u != stat.uid) || gid.is_some_and(|g| g != stat.gid);
        let link_times = symlink && (atime.is_some() || mtime.is_some());
        if owner_change || link_times {
            let change = SetAttr {
                uid,
                gid,
                atime: atime.filter(|_| symlink),
                mtime: mtime.filter(|_| symlink),
                ..SetAttr::default()
            };
            self.backend(&path)?.setattr(&change).map_err(errno)?;
        }
        self.attr(&self.vfs.lstat(&path).map_err(errno)?)
    }

    fn do_open(&self, path: &str, flags: FuseOpenFlags, extra: OpenFlags, mode: u32) -> Res<u64> {
        let mut open = match flags.acc_mode() {
            OpenAccMode::O_RDONLY => OpenFlags::O_RDONLY,
            OpenAccMode::O_WRONLY => OpenFlags::O_WRONLY,
            OpenAccMode::O_RDWR => OpenFlags::O_RDWR,
        } | extra;
        if flags.0 & 0o1000 != 0 {
            open |= OpenFlags::O_TRUNC;
        }
        let fd = self.vfs.open(path, open, mode).map_err(errno)?;
        u64::try_from(fd).map_err(|_| fuser::Errno::EBADF)
    }

    fn do_rename(
        &self,
        parent: INodeNo,
        name: &OsStr,
        new_parent: INodeNo,
        new_name: &OsStr,
        flags: RenameFlags,
    ) -> Res<()> {
        let (old, new) = (self.child(parent, name)?, self.child(new_parent, new_name)?);
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return Err(fuser::Errno::EINVAL);
        }
        let replaced = self.vfs.lstat(&new).ok();
        if flags.contains(RenameFlags::RENAME_NOREPLACE) && replaced.is_some() {
            return Err(fuser::Errno::EEXIST);
        }
        let moved = self.vfs.lstat(&old).map_err(errno)?;
        self.vfs.rename(&old, &new).map_err(errno)?;
        let (name, new_name) = (name.to_str().unwrap_or(""), new_name.to_str().unwrap_or(""));
        let mut nodes = self.nodes()?;
        if let Some(gone) = replaced.filter(|r| r.ino != moved.ino) {
            let id = nodes.id_of(gone.ino);
            nodes.unlinked(id, new_parent.0, new_name);
        }
        let id = nodes.id_of(moved.ino);
        nodes.renamed(id, parent.0, name, new_parent.0, new_name);
        Ok(())
    }

    fn do_remove(&self, parent: INodeNo, name: &OsStr, dir: bool) -> Res<()> {
        let path = self.child(parent, name)?;
        let stat = self.vfs.lstat(&path).map_err(errno)?;
        if dir {
            self.vfs.rmdir(&path)
        } else {
            self.vfs.unlink(&path)
        }
        .map_err(errno)?;
        let mut nodes = self.nodes()?;
        let id = nodes.id_of(stat.ino);
        nodes.unlinked(id, parent.0, name.to_str().unwrap_or(""));
        Ok(())
    }
}

fn reply_entry(reply: ReplyEntry, result: Res<FileAttr>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn reply_empty(reply: ReplyEmpty, result: Res<()>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for VfsFuse {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        reply_entry(
            reply,
            self.child(parent, name)
                .and_then(|p| self.entry(parent, name, &p)),
        );
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        if let Ok(mut nodes) = self.nodes() {
            nodes.forget(ino.0, nlookup);
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let stat = match fh.filter(|fh| fh.0 < DIR_HANDLE_BASE) {
            // An open file may have no name left.
            Some(fh) => self.vfs.fstat(fh.0 as i32).map_err(errno),
            None => self
                .path(ino)
                .and_then(|p| self.vfs.lstat(&p).map_err(errno)),
        };
        match stat.and_then(|s| self.attr(&s)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        match self.do_setattr(ino, mode, uid, gid, size, atime, mtime, fh) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self
            .path(ino)
            .and_then(|p| self.vfs.readlink(&p).map_err(errno))
        {
            Ok(target) => reply.data(target.as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let result = self.child(parent, name).and_then(|path| {
            let mode = (mode & vfs::S_IFMT) | (mode & 0o7777 & !umask);
            self.vfs
                .mknod(&path, mode, u64::from(rdev))
                .map_err(errno)?;
            self.own(req, &self.parent_path(parent)?, &path)?;
            self.entry(parent, name, &path)
        });
        reply_entry(reply, result);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let result = self.child(parent, name).and_then(|path| {
            self.vfs
                .mkdir(&path, mode & 0o7777 & !umask)
                .map_err(errno)?;
            self.own(req, &self.parent_path(parent)?, &path)?;
            self.entry(parent, name, &path)
        });
        reply_entry(reply, result);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.do_remove(parent, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.do_remove(parent, name, true));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let result = self.child(parent, link_name).and_then(|path| {
            let target = target.to_str().ok_or(fuser::Errno::EINVAL)?;
            self.vfs.symlink(target, &path).map_err(errno)?;
            self.own(req, &self.parent_path(parent)?, &path)?;
            self.entry(parent, link_name, &path)
        });
        reply_entry(reply, result);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty(
            reply,
            self.do_rename(parent, name, newparent, newname, flags),
        );
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let result = self.path(ino).and_then(|old| {
            let new = self.child(newparent, newname)?;
            self.vfs.link(&old, &new).map_err(errno)?;
            self.entry(newparent, newname, &new)
        });
        reply_entry(reply, result);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: FuseOpenFlags, reply: ReplyOpen) {
        match self
            .path(ino)
            .and_then(|p| self.do_open(&p, flags, OpenFlags::empty(), 0))
        {
            Ok(fd) => reply.opened(FileHandle(fd), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let result = self.child(parent, name).and_then(|path| {
            let fd = self.do_open(
                &path,
                FuseOpenFlags(flags),
                OpenFlags::O_CREAT | OpenFlags::O_EXCL,
                mode & 0o7777 & !umask,
            )?;
            self.own(req, &self.parent_path(parent)?, &path)?;
            Ok((self.entry(parent, name, &path)?, fd))
        });
        match result {
            Ok((attr, fd)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(fd),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: FuseOpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        let mut buf = vec![0u8; size as usize];
        match self.vfs.pread(fh.0 as i32, &mut buf, offset) {
            Ok(n) => reply.data(buf.get(..n).unwrap_or(&[])),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: FuseOpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.vfs.pwrite(fh.0 as i32, data, offset) {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: FuseOpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.vfs.close(fh.0 as i32).map_err(errno));
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.vfs.fsync(fh.0 as i32).map_err(errno));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: FuseOpenFlags, reply: ReplyOpen) {
        let result = self
            .path(ino)
            .and_then(|p| self.vfs.read_dir(&p).map_err(errno));
        match (result, self.dirs.lock()) {
            (Ok(entries), Ok(mut dirs)) => {
                let fh = self.next_dir.fetch_add(1, Ordering::Relaxed);
                dirs.insert(fh, entries);
                reply.opened(FileHandle(fh), FopenFlags::empty());
            }
            (Err(e), _) => reply.error(e),
            (_, Err(_)) => reply.error(fuser::Errno::EIO),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Ok(dirs) = self.dirs.lock() else {
            return reply.error(fuser::Errno::EIO);
        };
        let Some(entries) = dirs.get(&fh.0) else {
            return reply.error(fuser::Errno::EBADF);
        };
        let Ok(nodes) = self.nodes() else {
            return reply.error(fuser::Errno::EIO);
        };
        // Offsets: 1 and 2 follow "." and ".."; entry i is followed by i + 3.
        if offset == 0 && reply.add(ino, 1, fuser::FileType::Directory, ".") {
            return reply.ok();
        }
        if offset <= 1 && reply.add(ino, 2, fuser::FileType::Directory, "..") {
            return reply.ok();
        }
        let start = offset.saturating_sub(2) as usize;
        for (i, entry) in entries.iter().enumerate().skip(start) {
            let id = INodeNo(nodes.id_of(entry.ino));
            if reply.add(id, i as u64 + 3, fuse_type(entry.file_type), &entry.name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: FuseOpenFlags,
        reply: ReplyEmpty,
    ) {
        if let Ok(mut dirs) = self.dirs.lock() {
            dirs.remove(&fh.0);
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.vfs.statfs("/") {
            Ok(s) => reply.statfs(
                s.blocks,
                s.blocks_free,
                s.blocks_available,
                s.files,
                s.files_free,
                s.block_size,
                s.name_max,
                s.block_size,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }
}
