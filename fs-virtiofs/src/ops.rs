//! The FUSE operations that inodes and open-file handles share, each one
//! request (READ and WRITE one per `max_read` / `max_write` bytes), with its
//! reply checked.

use vfs::{Errno, Stat, StatFs, Timespec, VfsResult};
use zerocopy::{FromZeros, IntoBytes};

use crate::proto::dirent::DirentIter;
use crate::proto::reply::{expect_len, stat_from, timeout};
use crate::proto::{
    AttrOut, FsyncIn, GETATTR_FH, GetattrIn, Opcode, OpenIn, OpenOut, ROOT_ID, ReadIn, ReleaseIn,
    SetattrIn, StatfsOut, WriteIn, WriteOut,
};
use crate::session::Session;

/// The NUL after each name in a request, sent as its own segment so names
/// go out without a copy.
pub(crate) const NUL: &[u8] = b"\0";

/// `statfs` magic of FUSE filesystems, as Linux reports virtio-fs.
pub const FUSE_SUPER_MAGIC: u64 = 0x6573_5546;

/// Attributes and how long they may be cached, from an ATTR reply.
fn attr_reply(out: &AttrOut, body: usize) -> VfsResult<(Stat, Timespec)> {
    expect_len(body, size_of::<AttrOut>())?;
    Ok((
        stat_from(&out.attr)?,
        timeout(out.attr_valid, out.attr_valid_nsec)?,
    ))
}

pub(crate) fn getattr(s: &Session, nodeid: u64, fh: Option<u64>) -> VfsResult<(Stat, Timespec)> {
    let arg = GetattrIn {
        getattr_flags: if fh.is_some() { GETATTR_FH } else { 0 },
        dummy: 0,
        fh: fh.unwrap_or(0),
    };
    let mut out = AttrOut::new_zeroed();
    let body = s.request(
        Opcode::Getattr,
        nodeid,
        &[arg.as_bytes()],
        &mut [out.as_mut_bytes()],
    )?;
    attr_reply(&out, body)
}

pub(crate) fn setattr(s: &Session, nodeid: u64, arg: &SetattrIn) -> VfsResult<(Stat, Timespec)> {
    let mut out = AttrOut::new_zeroed();
    let body = s.request(
        Opcode::Setattr,
        nodeid,
        &[arg.as_bytes()],
        &mut [out.as_mut_bytes()],
    )?;
    attr_reply(&out, body)
}

/// OPEN (or OPENDIR) with Linux open `flags`.
pub(crate) fn open(s: &Session, nodeid: u64, dir: bool, flags: u32) -> VfsResult<OpenOut> {
    let arg = OpenIn {
        flags,
        open_flags: 0,
    };
    let mut out = OpenOut::new_zeroed();
    let op = if dir { Opcode::Opendir } else { Opcode::Open };
    let body = s.request(op, nodeid, &[arg.as_bytes()], &mut [out.as_mut_bytes()])?;
    expect_len(body, size_of::<OpenOut>())?;
    Ok(out)
}

/// RELEASE (or RELEASEDIR). Failures are only logged: the handle is gone
/// either way.
pub(crate) fn release(s: &Session, nodeid: u64, dir: bool, fh: u64, flags: u32) {
    if s.is_closed() {
        return;
    }
    let arg = ReleaseIn {
        fh,
        flags,
        release_flags: 0,
        lock_owner: 0,
    };
    let op = if dir {
        Opcode::Releasedir
    } else {
        Opcode::Release
    };
    if let Err(e) = s
        .request(op, nodeid, &[arg.as_bytes()], &mut [])
        .and_then(|body| expect_len(body, 0))
    {
        log::debug!("virtiofs: {op:?} of node {nodeid} failed: {e}");
    }
}

/// Read into `buf` at `offset`, one READ per `max_read` bytes, stopping at
/// a short reply (end of file). Data lands straight in `buf`.
pub(crate) fn read(
    s: &Session,
    nodeid: u64,
    fh: u64,
    flags: u32,
    offset: u64,
    buf: &mut [u8],
) -> VfsResult<usize> {
    let mut done = 0;
    while done < buf.len() {
        let want = (buf.len() - done).min(s.params.max_read);
        let at = offset.checked_add(done as u64).ok_or(Errno::EINVAL)?;
        let arg = ReadIn {
            fh,
            offset: at,
            size: u32::try_from(want).map_err(|_| Errno::EINVAL)?,
            flags,
            ..ReadIn::default()
        };
        let got = s.request(
            Opcode::Read,
            nodeid,
            &[arg.as_bytes()],
            &mut [&mut buf[done..done + want]],
        )?;
        // The transport cannot write past the buffer and the header check
        // refused a longer claim, so `got <= want` here.
        done += got;
        if got < want {
            break;
        }
    }
    Ok(done)
}

/// Write `data` at `offset`, one WRITE per `max_write` bytes, sent straight
/// from `data`; a short write ends it.
pub(crate) fn write(
    s: &Session,
    nodeid: u64,
    fh: u64,
    flags: u32,
    offset: u64,
    data: &[u8],
) -> VfsResult<usize> {
    let mut done = 0;
    while done < data.len() {
        let chunk = &data[done..(done + s.params.max_write).min(data.len())];
        let at = offset.checked_add(done as u64).ok_or(Errno::EINVAL)?;
        let arg = WriteIn {
            fh,
            offset: at,
            size: u32::try_from(chunk.len()).map_err(|_| Errno::EINVAL)?,
            flags,
            ..WriteIn::default()
        };
        let mut out = WriteOut::new_zeroed();
        let body = s.request(
            Opcode::Write,
            nodeid,
            &[arg.as_bytes(), chunk],
            &mut [out.as_mut_bytes()],
        )?;
        expect_len(body, size_of::<WriteOut>())?;
        let written = out.size as usize;
        if written > chunk.len() {
            return Err(Errno::EIO);
        }
        done += written;
        if written < chunk.len() {
            break;
        }
    }
    Ok(done)
}

/// One READDIR at `cookie` into `buf`; the reply is checked record by
/// record (and must not hand back the cookie it was asked for, which would
/// loop). Returns the bytes of records.
pub(crate) fn readdir(
    s: &Session,
    nodeid: u64,
    fh: u64,
    cookie: u64,
    buf: &mut [u8],
) -> VfsResult<usize> {
    let want = buf.len().min(s.params.max_read);
    let arg = ReadIn {
        fh,
        offset: cookie,
        size: u32::try_from(want).map_err(|_| Errno::EINVAL)?,
        ..ReadIn::default()
    };
    let len = s.request(
        Opcode::Readdir,
        nodeid,
        &[arg.as_bytes()],
        &mut [&mut buf[..want]],
    )?;
    for record in DirentIter::new(&buf[..len]) {
        if record?.off == cookie {
            return Err(Errno::EIO);
        }
    }
    Ok(len)
}

/// FSYNC (or FSYNCDIR). A server without it (ENOSYS) has nothing to flush.
pub(crate) fn fsync(s: &Session, nodeid: u64, dir: bool, fh: u64) -> VfsResult<()> {
    let arg = FsyncIn {
        fh,
        fsync_flags: 0,
        padding: 0,
    };
    let op = if dir { Opcode::Fsyncdir } else { Opcode::Fsync };
    match s.request(op, nodeid, &[arg.as_bytes()], &mut []) {
        Ok(body) => expect_len(body, 0),
        Err(Errno::ENOSYS) => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) fn statfs(s: &Session) -> VfsResult<StatFs> {
    let mut out = StatfsOut::new_zeroed();
    let body = s.request(Opcode::Statfs, ROOT_ID, &[], &mut [out.as_mut_bytes()])?;
    expect_len(body, size_of::<StatfsOut>())?;
    Ok(StatFs {
        fs_type: FUSE_SUPER_MAGIC,
        block_size: out.bsize,
        blocks: out.blocks,
        blocks_free: out.bfree,
        blocks_available: out.bavail,
        files: out.files,
        files_free: out.ffree,
        name_max: out.namelen,
    })
}
