//! The FUSE filesystem behind `mkimage mount`: a read-only view of an image
//! through the same no_std reader the guest uses (`fs_rofs::RofsFs`).
//!
//! FUSE names objects by node id; the image names them by inode number, so
//! the node id is the image's inode number (with the root swapped onto
//! FUSE's fixed id 1), and `stat` shows the image's own numbers and link
//! counts. The table of nodes the kernel knows holds each looked-up inode
//! until the kernel forgets it, so memory follows the kernel's inode cache,
//! not the image size. Directory offsets are the reader's own cookies
//! (after `.` and `..`), so a listing resumes where it stopped.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fs_rofs::RofsFs;
use fuser::{
    AccessFlags, FileAttr, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, OpenAccMode,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, Request,
};
use vfs::{FileSystem, FileType, Inode, Stat, Timespec};

/// How long the kernel may cache names and attributes: the image never
/// changes while mounted.
const TTL: Duration = Duration::from_secs(60);
/// FUSE's node id of the root directory.
const FUSE_ROOT: u64 = 1;
/// Directory offsets 1 and 2 are `.` and `..`; reader cookies follow.
const DOT_ENTRIES: u64 = 2;

struct Node {
    inode: Arc<dyn Inode>,
    /// Lookups the kernel has not forgotten yet.
    lookups: u64,
    /// The directory this node was found in (for `..`).
    parent: u64,
}

/// A mounted image, served to the kernel.
pub struct ImageFs {
    fs: Arc<RofsFs>,
    root_ino: u64,
    nodes: RwLock<HashMap<u64, Node>>,
}

impl ImageFs {
    pub fn new(fs: Arc<RofsFs>) -> Result<ImageFs, vfs::Errno> {
        let root = fs.root()?;
        let root_ino = root.ino();
        let nodes = HashMap::from([(
            FUSE_ROOT,
            Node {
                inode: root,
                lookups: 1,
                parent: FUSE_ROOT,
            },
        )]);
        Ok(ImageFs {
            fs,
            root_ino,
            nodes: RwLock::new(nodes),
        })
    }

    /// Image inode number to FUSE node id (root and 1 trade places).
    fn to_fuse(&self, ino: u64) -> u64 {
        if ino == self.root_ino {
            FUSE_ROOT
        } else if ino == FUSE_ROOT {
            self.root_ino
        } else {
            ino
        }
    }

    fn node(&self, id: INodeNo) -> Result<(Arc<dyn Inode>, u64), fuser::Errno> {
        let nodes = self.nodes.read().map_err(|_| fuser::Errno::EIO)?;
        let node = nodes.get(&id.0).ok_or(fuser::Errno::ESTALE)?;
        Ok((node.inode.clone(), node.parent))
    }

    fn attr(&self, inode: &dyn Inode) -> Result<FileAttr, fuser::Errno> {
        let stat = inode.getattr().map_err(errno)?;
        Ok(file_attr(self.to_fuse(stat.ino), &stat))
    }

    fn do_lookup(&self, parent: INodeNo, name: &OsStr) -> Result<FileAttr, fuser::Errno> {
        let (dir, _) = self.node(parent)?;
        let name = name.to_str().ok_or(fuser::Errno::ENOENT)?;
        let child = dir.lookup(name).map_err(errno)?;
        let attr = self.attr(child.as_ref())?;
        let mut nodes = self.nodes.write().map_err(|_| fuser::Errno::EIO)?;
        nodes
            .entry(attr.ino.0)
            .or_insert(Node {
                inode: child,
                lookups: 0,
                parent: parent.0,
            })
            .lookups += 1;
        Ok(attr)
    }

    fn do_read(&self, ino: INodeNo, offset: u64, size: u32) -> Result<Vec<u8>, fuser::Errno> {
        let (inode, _) = self.node(ino)?;
        let mut buf = vec![0u8; size as usize];
        let mut done = 0;
        // The reader may return short counts; FUSE wants all bytes up to EOF.
        while done < buf.len() {
            let at = offset.saturating_add(done as u64);
            let rest = buf.get_mut(done..).ok_or(fuser::Errno::EIO)?;
            match inode.read_at(at, rest).map_err(errno)? {
                0 => break,
                n => done += n,
            }
        }
        buf.truncate(done);
        Ok(buf)
    }

    fn do_readdir(
        &self,
        ino: INodeNo,
        offset: u64,
        reply: &mut ReplyDirectory,
    ) -> Result<(), fuser::Errno> {
        let (dir, parent) = self.node(ino)?;
        if offset == 0 && reply.add(ino, 1, fuser::FileType::Directory, ".") {
            return Ok(());
        }
        if offset <= 1 && reply.add(INodeNo(parent), 2, fuser::FileType::Directory, "..") {
            return Ok(());
        }
        let cookie = offset.saturating_sub(DOT_ENTRIES);
        let mut overflow = false;
        dir.readdir(cookie, &mut |entry, next| {
            let Some(next) = next.checked_add(DOT_ENTRIES) else {
                overflow = true;
                return false;
            };
            let id = INodeNo(self.to_fuse(entry.ino));
            // `add` is true when the reply buffer is full: stop there.
            !reply.add(id, next, fuse_type(entry.file_type), entry.name)
        })
        .map_err(errno)?;
        if overflow {
            return Err(fuser::Errno::EIO);
        }
        Ok(())
    }
}

impl Filesystem for ImageFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.do_lookup(parent, name) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        if ino.0 == FUSE_ROOT {
            return;
        }
        if let Ok(mut nodes) = self.nodes.write()
            && let Some(node) = nodes.get_mut(&ino.0)
        {
            node.lookups = node.lookups.saturating_sub(nlookup);
            if node.lookups == 0 {
                nodes.remove(&ino.0);
            }
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self
            .node(ino)
            .and_then(|(inode, _)| self.attr(inode.as_ref()))
        {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self
            .node(ino)
            .and_then(|(inode, _)| inode.readlink().map_err(errno))
        {
            Ok(target) => reply.data(target.as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(fuser::Errno::EROFS);
        }
        match self.node(ino) {
            // The data never changes: the kernel may keep its page cache.
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        match self.do_read(ino, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        match self.do_readdir(ino, offset, &mut reply) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.fs.statfs() {
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

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        // Mode bits are checked by the kernel (`default_permissions`); only
        // writing is refused here.
        match self.node(ino) {
            Ok(_) if mask.contains(AccessFlags::W_OK) => reply.error(fuser::Errno::EROFS),
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

pub fn errno(e: vfs::Errno) -> fuser::Errno {
    fuser::Errno::from_i32(e.raw())
}

fn fuse_type(t: FileType) -> fuser::FileType {
    match t {
        FileType::Regular => fuser::FileType::RegularFile,
        FileType::Directory => fuser::FileType::Directory,
        FileType::Symlink => fuser::FileType::Symlink,
        FileType::CharDevice => fuser::FileType::CharDevice,
        FileType::BlockDevice => fuser::FileType::BlockDevice,
        FileType::Fifo => fuser::FileType::NamedPipe,
        FileType::Socket => fuser::FileType::Socket,
    }
}

fn system_time(t: Timespec) -> SystemTime {
    let nsec = Duration::from_nanos(u64::from(t.nsec.min(999_999_999)));
    let secs = Duration::from_secs(t.sec.unsigned_abs());
    let base = if t.sec >= 0 {
        UNIX_EPOCH.checked_add(secs)
    } else {
        UNIX_EPOCH.checked_sub(secs)
    };
    base.and_then(|b| b.checked_add(nsec)).unwrap_or(UNIX_EPOCH)
}

fn file_attr(ino: u64, stat: &Stat) -> FileAttr {
    let kind = stat
        .file_type()
        .map_or(fuser::FileType::RegularFile, fuse_type);
    FileAttr {
        ino: INodeNo(ino),
        size: stat.size,
        blocks: stat.blocks,
        atime: system_time(stat.atime),
        mtime: system_time(stat.mtime),
        ctime: system_time(stat.ctime),
        crtime: system_time(stat.mtime),
        kind,
        perm: (stat.mode & 0o7777) as u16,
        nlink: stat.nlink,
        uid: stat.uid,
        gid: stat.gid,
        rdev: stat.rdev as u32,
        blksize: stat.blksize,
        flags: 0,
    }
}
