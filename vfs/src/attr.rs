//! Attributes: stat in its three forms, readlink, and the changes that go
//! through `Inode::setattr` (chmod, chown, lchown, utimens), each EROFS on a
//! read-only mount.

use alloc::string::String;

use crate::errno::{Errno, VfsResult};
use crate::types::{FileType, S_IPERM, SetAttr, Stat, Timespec};
use crate::vnode::Vnode;
use crate::{Fd, Vfs};

impl Vfs {
    pub fn stat(&self, path: &str) -> VfsResult<Stat> {
        let (_, vnode) = self.resolve(path, true)?;
        stat_of(&vnode)
    }

    pub fn lstat(&self, path: &str) -> VfsResult<Stat> {
        let (_, vnode) = self.resolve(path, false)?;
        stat_of(&vnode)
    }

    pub fn fstat(&self, fd: Fd) -> VfsResult<Stat> {
        stat_of(&self.file(fd)?.vnode)
    }

    pub fn readlink(&self, path: &str) -> VfsResult<String> {
        let (_, vnode) = self.resolve(path, false)?;
        if vnode.file_type != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        vnode.link_target().map(String::from)
    }

    pub fn chmod(&self, path: &str, mode: u32) -> VfsResult<()> {
        let (_, vnode) = self.resolve(path, true)?;
        if vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        vnode.inode.setattr(&SetAttr {
            mode: Some(mode & S_IPERM),
            ..SetAttr::default()
        })
    }

    /// Change the owner and group of `path`, following a final symlink.
    /// None leaves that id as it is; both None changes nothing.
    pub fn chown(&self, path: &str, uid: Option<u32>, gid: Option<u32>) -> VfsResult<()> {
        self.change_owner(path, true, uid, gid)
    }

    /// As [`Vfs::chown`], but a final symlink itself is changed.
    pub fn lchown(&self, path: &str, uid: Option<u32>, gid: Option<u32>) -> VfsResult<()> {
        self.change_owner(path, false, uid, gid)
    }

    fn change_owner(
        &self,
        path: &str,
        follow: bool,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> VfsResult<()> {
        let (_, vnode) = self.resolve(path, follow)?;
        if vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        vnode.inode.setattr(&SetAttr {
            uid,
            gid,
            ..SetAttr::default()
        })
    }

    /// None leaves a time unchanged.
    pub fn utimens(
        &self,
        path: &str,
        atime: Option<Timespec>,
        mtime: Option<Timespec>,
    ) -> VfsResult<()> {
        for t in [atime, mtime].into_iter().flatten() {
            if t.nsec >= 1_000_000_000 {
                return Err(Errno::EINVAL);
            }
        }
        let (_, vnode) = self.resolve(path, true)?;
        if vnode.mount.read_only {
            return Err(Errno::EROFS);
        }
        if atime.is_none() && mtime.is_none() {
            return Ok(());
        }
        vnode.inode.setattr(&SetAttr {
            atime,
            mtime,
            ..SetAttr::default()
        })
    }
}

fn stat_of(vnode: &Vnode) -> VfsResult<Stat> {
    let mut stat = vnode.inode.getattr()?;
    stat.dev = vnode.mount.id;
    Ok(stat)
}
