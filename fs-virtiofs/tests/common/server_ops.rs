//! The fake server's operations: one host call (or a few) per FUSE request.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirEntryExt, FileExt};

use fs_virtiofs::proto::dirent::{dirent_size, push_dirent};
use fs_virtiofs::proto::*;
use rustix::fs::{AtFlags, Mode, OFlags, Timestamps};
use zerocopy::IntoBytes;

use super::server::{
    FakeServer, Listing, Reply, State, as_path, dtype, errno, proc_path, rerr, take_name,
};

impl FakeServer {
    pub(super) fn dispatch(
        &self,
        state: &mut State,
        op: Opcode,
        nodeid: u64,
        rest: &[u8],
    ) -> Reply {
        match op {
            Opcode::Init => {
                let (init, _) = self.body::<InitIn>(op, rest)?;
                if state.initialized {
                    self.violation("second INIT without DESTROY".into());
                }
                state.initialized = true;
                let c = *self.config.lock().unwrap();
                let out = InitOut {
                    major: c.major,
                    minor: c.minor,
                    max_readahead: init.max_readahead,
                    flags: init.flags & (init_flags::MAX_PAGES | init_flags::BIG_WRITES),
                    max_write: c.max_write,
                    time_gran: 1,
                    max_pages: c.max_pages,
                    ..InitOut::default()
                };
                Ok(out.as_bytes().to_vec())
            }
            Opcode::Destroy => {
                self.live_at_destroy
                    .lock()
                    .unwrap()
                    .push(state.nodes.len() - 1);
                state.initialized = false;
                state.files.clear();
                state.dirs.clear();
                state.nodes.retain(|&id, _| id == ROOT_ID);
                let root_key = state.nodes[&ROOT_ID].key;
                state.by_key.retain(|k, _| *k == root_key);
                Ok(Vec::new())
            }
            Opcode::Lookup => {
                let (name, _) = take_name(rest)?;
                self.lookup(state, nodeid, name)
            }
            Opcode::Getattr => {
                let (arg, _) = self.body::<GetattrIn>(op, rest)?;
                let st = if arg.getattr_flags & GETATTR_FH != 0 {
                    let file = state.files.get(&arg.fh).ok_or(9)?;
                    rustix::fs::fstat(file).map_err(rerr)?
                } else {
                    rustix::fs::fstat(self.node_fd(state, nodeid)?).map_err(rerr)?
                };
                self.attr_reply(&st)
            }
            Opcode::Setattr => self.setattr(state, nodeid, rest),
            Opcode::Readlink => {
                let fd = self.node_fd(state, nodeid)?;
                let target = rustix::fs::readlinkat(fd, "", Vec::new()).map_err(rerr)?;
                Ok(target.into_bytes())
            }
            Opcode::Symlink => {
                let (name, after) = take_name(rest)?;
                let (target, _) = take_name(after)?;
                let parent = self.node_fd(state, nodeid)?;
                rustix::fs::symlinkat(as_path(target), parent, as_path(name)).map_err(rerr)?;
                self.lookup(state, nodeid, name)
            }
            Opcode::Mknod => {
                let (arg, after) = self.body::<MknodIn>(op, rest)?;
                let (name, _) = take_name(&after)?;
                let parent = self.node_fd(state, nodeid)?;
                rustix::fs::mknodat(
                    parent,
                    as_path(name),
                    rustix::fs::FileType::from_raw_mode(arg.mode),
                    Mode::from_raw_mode(arg.mode),
                    u64::from(arg.rdev),
                )
                .map_err(rerr)?;
                self.lookup(state, nodeid, name)
            }
            Opcode::Mkdir => {
                let (arg, after) = self.body::<MkdirIn>(op, rest)?;
                let (name, _) = take_name(&after)?;
                let parent = self.node_fd(state, nodeid)?;
                rustix::fs::mkdirat(parent, as_path(name), Mode::from_raw_mode(arg.mode))
                    .map_err(rerr)?;
                self.lookup(state, nodeid, name)
            }
            Opcode::Unlink | Opcode::Rmdir => {
                let (name, _) = take_name(rest)?;
                let parent = self.node_fd(state, nodeid)?;
                let flags = if op == Opcode::Rmdir {
                    AtFlags::REMOVEDIR
                } else {
                    AtFlags::empty()
                };
                rustix::fs::unlinkat(parent, as_path(name), flags).map_err(rerr)?;
                Ok(Vec::new())
            }
            Opcode::Rename => {
                let (arg, after) = self.body::<RenameIn>(op, rest)?;
                let (old, after) = take_name(&after)?;
                let (new, _) = take_name(after)?;
                let from = self.node_fd(state, nodeid)?;
                let to = self.node_fd(state, arg.newdir)?;
                rustix::fs::renameat(from, as_path(old), to, as_path(new)).map_err(rerr)?;
                Ok(Vec::new())
            }
            Opcode::Link => {
                let (arg, after) = self.body::<LinkIn>(op, rest)?;
                let (name, _) = take_name(&after)?;
                let source = proc_path(self.node_fd(state, arg.oldnodeid)?);
                let parent = self.node_fd(state, nodeid)?;
                rustix::fs::linkat(
                    rustix::fs::CWD,
                    source.as_str(),
                    parent,
                    as_path(name),
                    AtFlags::SYMLINK_FOLLOW,
                )
                .map_err(rerr)?;
                self.lookup(state, nodeid, name)
            }
            Opcode::Open => {
                let (arg, _) = self.body::<OpenIn>(op, rest)?;
                let path = proc_path(self.node_fd(state, nodeid)?);
                let flags = OFlags::from_bits_retain(arg.flags) | OFlags::CLOEXEC;
                if flags.intersects(OFlags::CREATE | OFlags::EXCL | OFlags::TRUNC) {
                    self.violation(format!("OPEN with flags {:o}", arg.flags));
                }
                let fd = rustix::fs::open(path.as_str(), flags, Mode::empty()).map_err(rerr)?;
                Ok(self.new_file(state, fd))
            }
            Opcode::Create => {
                let (arg, after) = self.body::<CreateIn>(op, rest)?;
                let (name, _) = take_name(&after)?;
                let parent = self.node_fd(state, nodeid)?;
                let flags = OFlags::from_bits_retain(arg.flags) | OFlags::CREATE | OFlags::CLOEXEC;
                let fd =
                    rustix::fs::openat(parent, as_path(name), flags, Mode::from_raw_mode(arg.mode))
                        .map_err(rerr)?;
                let mut reply = self.lookup(state, nodeid, name)?;
                reply.extend(self.new_file(state, fd));
                Ok(reply)
            }
            Opcode::Read => {
                let (arg, _) = self.body::<ReadIn>(op, rest)?;
                self.io.lock().unwrap().push((op, arg.size));
                if arg.size as usize > usize::from(self.config.lock().unwrap().max_pages) * 4096 {
                    self.violation(format!("READ of {} bytes", arg.size));
                }
                let file = state.files.get(&arg.fh).ok_or(9)?;
                let mut data = vec![0u8; arg.size as usize];
                let mut done = 0;
                while done < data.len() {
                    match file.read_at(&mut data[done..], arg.offset + done as u64) {
                        Ok(0) => break,
                        Ok(n) => done += n,
                        Err(e) => return Err(errno(e)),
                    }
                }
                data.truncate(done);
                Ok(data)
            }
            Opcode::Write => {
                let (arg, data) = self.body::<WriteIn>(op, rest)?;
                self.io.lock().unwrap().push((op, arg.size));
                if data.len() != arg.size as usize {
                    self.violation(format!("WRITE says {} bytes, has {}", arg.size, data.len()));
                }
                if arg.size > self.config.lock().unwrap().max_write {
                    self.violation(format!("WRITE of {} bytes", arg.size));
                }
                let file = state.files.get(&arg.fh).ok_or(9)?;
                let append = arg.flags & OFlags::APPEND.bits() != 0;
                if append {
                    use std::io::Write;
                    (&*file).write_all(&data).map_err(errno)?;
                } else {
                    file.write_all_at(&data, arg.offset).map_err(errno)?;
                }
                let out = WriteOut {
                    size: data.len() as u32,
                    padding: 0,
                };
                Ok(out.as_bytes().to_vec())
            }
            Opcode::Release => {
                let (arg, _) = self.body::<ReleaseIn>(op, rest)?;
                if state.files.remove(&arg.fh).is_none() {
                    self.violation(format!("RELEASE of unknown fh {}", arg.fh));
                }
                Ok(Vec::new())
            }
            Opcode::Opendir => {
                let path = proc_path(self.node_fd(state, nodeid)?);
                let mut entries = vec![(b".".to_vec(), 0, 4), (b"..".to_vec(), 0, 4)];
                let unknown = self.config.lock().unwrap().unknown_types;
                for entry in std::fs::read_dir(&path).map_err(errno)? {
                    let entry = entry.map_err(errno)?;
                    use std::os::unix::ffi::OsStrExt;
                    let kind = if unknown {
                        0
                    } else {
                        dtype(entry.file_type().map_err(errno)?)
                    };
                    entries.push((entry.file_name().as_bytes().to_vec(), entry.ino(), kind));
                }
                let fh = state.next_fh;
                state.next_fh += 1;
                state.dirs.insert(fh, Listing { entries });
                let out = OpenOut {
                    fh,
                    open_flags: 0,
                    padding: 0,
                };
                Ok(out.as_bytes().to_vec())
            }
            Opcode::Readdir => {
                let (arg, _) = self.body::<ReadIn>(op, rest)?;
                let listing = state.dirs.get(&arg.fh).ok_or(9)?;
                let mut out = Vec::new();
                for (i, (name, ino, kind)) in
                    listing.entries.iter().enumerate().skip(arg.offset as usize)
                {
                    if out.len() + dirent_size(name.len()) > arg.size as usize {
                        break;
                    }
                    push_dirent(&mut out, *ino, i as u64 + 1, *kind, name);
                }
                Ok(out)
            }
            Opcode::Releasedir => {
                let (arg, _) = self.body::<ReleaseIn>(op, rest)?;
                if state.dirs.remove(&arg.fh).is_none() {
                    self.violation(format!("RELEASEDIR of unknown fh {}", arg.fh));
                }
                Ok(Vec::new())
            }
            Opcode::Fsync => {
                let (arg, _) = self.body::<FsyncIn>(op, rest)?;
                state
                    .files
                    .get(&arg.fh)
                    .ok_or(9)?
                    .sync_all()
                    .map_err(errno)?;
                Ok(Vec::new())
            }
            Opcode::Fsyncdir | Opcode::Flush => Ok(Vec::new()),
            Opcode::Statfs => {
                let st = rustix::fs::statvfs(&self.root).map_err(rerr)?;
                let out = StatfsOut {
                    blocks: st.f_blocks,
                    bfree: st.f_bfree,
                    bavail: st.f_bavail,
                    files: st.f_files,
                    ffree: st.f_ffree,
                    bsize: st.f_bsize as u32,
                    namelen: st.f_namemax as u32,
                    frsize: st.f_frsize as u32,
                    ..StatfsOut::default()
                };
                Ok(out.as_bytes().to_vec())
            }
            Opcode::Readdirplus => Err(38),
            Opcode::Forget | Opcode::BatchForget => unreachable!(),
        }
    }

    fn new_file(&self, state: &mut State, fd: OwnedFd) -> Vec<u8> {
        let fh = state.next_fh;
        state.next_fh += 1;
        state.files.insert(fh, File::from(fd));
        OpenOut {
            fh,
            open_flags: self.config.lock().unwrap().open_flags,
            padding: 0,
        }
        .as_bytes()
        .to_vec()
    }

    fn setattr(&self, state: &mut State, nodeid: u64, rest: &[u8]) -> Reply {
        let (arg, _) = self.body::<SetattrIn>(Opcode::Setattr, rest)?;
        let fd = self.node_fd(state, nodeid)?;
        let path = proc_path(fd);
        if arg.valid & fattr::MODE != 0 {
            rustix::fs::chmod(path.as_str(), Mode::from_raw_mode(arg.mode)).map_err(rerr)?;
        }
        if arg.valid & (fattr::UID | fattr::GID) != 0 {
            let uid = (arg.valid & fattr::UID != 0).then(|| rustix::fs::Uid::from_raw(arg.uid));
            let gid = (arg.valid & fattr::GID != 0).then(|| rustix::fs::Gid::from_raw(arg.gid));
            rustix::fs::chownat(fd, "", uid, gid, AtFlags::EMPTY_PATH).map_err(rerr)?;
        }
        if arg.valid & fattr::SIZE != 0 {
            let file =
                rustix::fs::open(path.as_str(), OFlags::WRONLY, Mode::empty()).map_err(rerr)?;
            rustix::fs::ftruncate(&file, arg.size).map_err(rerr)?;
        }
        if arg.valid & (fattr::ATIME | fattr::MTIME) != 0 {
            let time = |set: bool, sec: u64, nsec: u32| rustix::fs::Timespec {
                tv_sec: sec as i64,
                tv_nsec: if set {
                    nsec.into()
                } else {
                    rustix::fs::UTIME_OMIT
                },
            };
            let times = Timestamps {
                last_access: time(arg.valid & fattr::ATIME != 0, arg.atime, arg.atimensec),
                last_modification: time(arg.valid & fattr::MTIME != 0, arg.mtime, arg.mtimensec),
            };
            rustix::fs::utimensat(rustix::fs::CWD, path.as_str(), &times, AtFlags::empty())
                .map_err(rerr)?;
        }
        let st = rustix::fs::fstat(fd.as_fd()).map_err(rerr)?;
        self.attr_reply(&st)
    }
}
