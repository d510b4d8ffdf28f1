//! An in-process FUSE server over a real host directory, as the other end
//! of the transport: it plays virtiofsd for host tests.
//!
//! Nodes are `O_PATH` handles keyed by (st_dev, st_ino), with lookup counts
//! the client's FORGETs must bring back to zero; file handles are host
//! files; directory handles hold a listing snapshot taken at OPENDIR (offset
//! = index + 1, so cookies are stable). Anything the client sends that a
//! real server would reject as malformed is recorded in `violations`, which
//! tests expect to stay empty.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirEntryExt, FileExt, FileTypeExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fs_virtiofs::proto::dirent::{dirent_size, push_dirent};
use fs_virtiofs::proto::*;
use fs_virtiofs::{FuseTransport, TransportError};
use rustix::fs::{AtFlags, Mode, OFlags, Timestamps};
use zerocopy::{FromBytes, IntoBytes};

type Reply = Result<Vec<u8>, i32>;

struct Node {
    fd: OwnedFd,
    key: (u64, u64),
    nlookup: u64,
}

struct Listing {
    entries: Vec<(Vec<u8>, u64, u32)>,
}

#[derive(Default)]
struct State {
    nodes: HashMap<u64, Node>,
    by_key: HashMap<(u64, u64), u64>,
    next_node: u64,
    files: HashMap<u64, File>,
    dirs: HashMap<u64, Listing>,
    next_fh: u64,
    initialized: bool,
}

/// Knobs a test sets before mounting.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub max_write: u32,
    pub max_pages: u16,
    /// Seconds of `attr_valid` in every reply (virtiofsd cache=none: 0).
    pub attr_valid: u64,
    pub major: u32,
    pub minor: u32,
    /// Report every name's type as DT_UNKNOWN in listings.
    pub unknown_types: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_write: 1 << 20,
            max_pages: 256,
            attr_valid: 0,
            major: 7,
            minor: 31,
            unknown_types: false,
        }
    }
}

pub struct FakeServer {
    root: PathBuf,
    pub config: Mutex<Config>,
    state: Mutex<State>,
    /// Requests per opcode.
    counts: Mutex<HashMap<u32, u64>>,
    /// (opcode, size) of every READ and WRITE, to check request sizes.
    io: Mutex<Vec<(Opcode, u32)>>,
    pub violations: Mutex<Vec<String>>,
    /// Nodes with lookups still counted when DESTROY came, per DESTROY.
    pub live_at_destroy: Mutex<Vec<usize>>,
}

fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(5)
}

fn rerr(e: rustix::io::Errno) -> i32 {
    e.raw_os_error()
}

fn proc_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Split `bytes` into a NUL-terminated name and the rest.
fn take_name(bytes: &[u8]) -> Result<(&[u8], &[u8]), i32> {
    let end = bytes.iter().position(|&b| b == 0).ok_or(22)?;
    Ok((&bytes[..end], &bytes[end + 1..]))
}

fn as_path(name: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(name))
}

fn attr_of(st: &rustix::fs::Stat) -> Attr {
    Attr {
        ino: st.st_ino,
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        atime: st.st_atime as u64,
        mtime: st.st_mtime as u64,
        ctime: st.st_ctime as u64,
        atimensec: st.st_atime_nsec as u32,
        mtimensec: st.st_mtime_nsec as u32,
        ctimensec: st.st_ctime_nsec as u32,
        mode: st.st_mode,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev as u32,
        blksize: st.st_blksize as u32,
        flags: 0,
    }
}

fn dtype(ft: std::fs::FileType) -> u32 {
    if ft.is_dir() {
        4
    } else if ft.is_symlink() {
        10
    } else if ft.is_file() {
        8
    } else if ft.is_fifo() {
        1
    } else if ft.is_char_device() {
        2
    } else if ft.is_block_device() {
        6
    } else if ft.is_socket() {
        12
    } else {
        0
    }
}

impl FakeServer {
    pub fn new(root: &Path) -> FakeServer {
        let fd = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
            .expect("open the shared directory");
        let st = rustix::fs::fstat(&fd).unwrap();
        let key = (st.st_dev, st.st_ino);
        let mut state = State {
            next_node: ROOT_ID + 1,
            next_fh: 1,
            ..State::default()
        };
        state.by_key.insert(key, ROOT_ID);
        state.nodes.insert(
            ROOT_ID,
            Node {
                fd,
                key,
                nlookup: 0,
            },
        );
        FakeServer {
            root: root.to_path_buf(),
            config: Mutex::new(Config::default()),
            state: Mutex::new(state),
            counts: Mutex::new(HashMap::new()),
            io: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            live_at_destroy: Mutex::new(Vec::new()),
        }
    }

    pub fn with_config(root: &Path, config: Config) -> FakeServer {
        let server = FakeServer::new(root);
        *server.config.lock().unwrap() = config;
        server
    }

    pub fn count(&self, op: Opcode) -> u64 {
        self.counts
            .lock()
            .unwrap()
            .get(&(op as u32))
            .copied()
            .unwrap_or(0)
    }

    pub fn total_requests(&self) -> u64 {
        self.counts.lock().unwrap().values().sum()
    }

    pub fn reset_counts(&self) {
        self.counts.lock().unwrap().clear();
        self.io.lock().unwrap().clear();
    }

    /// Sizes of the READs or WRITEs seen.
    pub fn io_sizes(&self, op: Opcode) -> Vec<u32> {
        self.io
            .lock()
            .unwrap()
            .iter()
            .filter(|(o, _)| *o == op)
            .map(|(_, s)| *s)
            .collect()
    }

    /// Nodes other than the root that the client still holds lookups of.
    pub fn live_nodes(&self) -> usize {
        self.state.lock().unwrap().nodes.len() - 1
    }

    /// Open file and directory handles.
    pub fn open_handles(&self) -> usize {
        let state = self.state.lock().unwrap();
        state.files.len() + state.dirs.len()
    }

    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }

    /// Handle one whole request; None for the messages that get no reply.
    pub fn handle(&self, request: &[u8]) -> Option<(u64, Reply)> {
        let Ok((header, rest)) = InHeader::read_from_prefix(request) else {
            self.violation(format!("request of {} bytes has no header", request.len()));
            return None;
        };
        if header.len as usize != request.len() {
            self.violation(format!(
                "header says {} bytes, request has {}",
                header.len,
                request.len()
            ));
        }
        *self
            .counts
            .lock()
            .unwrap()
            .entry(header.opcode)
            .or_default() += 1;
        let Some(op) = Opcode::from_raw(header.opcode) else {
            return Some((header.unique, Err(38)));
        };
        let mut state = self.state.lock().unwrap();
        if !state.initialized && op != Opcode::Init {
            self.violation(format!("{op:?} before INIT"));
        }
        let reply = match op {
            Opcode::Forget => {
                let n = ForgetIn::read_from_prefix(rest).map(|(f, _)| f.nlookup);
                self.forget(&mut state, header.nodeid, n.unwrap_or(0));
                return None;
            }
            Opcode::BatchForget => {
                self.batch_forget(&mut state, rest);
                return None;
            }
            _ => self.dispatch(&mut state, op, header.nodeid, rest),
        };
        Some((header.unique, reply))
    }

    fn forget(&self, state: &mut State, nodeid: u64, n: u64) {
        let Some(node) = state.nodes.get_mut(&nodeid) else {
            self.violation(format!("FORGET of unknown node {nodeid}"));
            return;
        };
        if node.nlookup < n || nodeid == ROOT_ID {
            self.violation(format!(
                "FORGET {n} of node {nodeid} with {} lookups",
                node.nlookup
            ));
        }
        node.nlookup = node.nlookup.saturating_sub(n);
        if node.nlookup == 0 && nodeid != ROOT_ID {
            let key = node.key;
            state.nodes.remove(&nodeid);
            if state.by_key.get(&key) == Some(&nodeid) {
                state.by_key.remove(&key);
            }
        }
    }

    fn batch_forget(&self, state: &mut State, body: &[u8]) {
        let Ok((head, mut rest)) = BatchForgetIn::read_from_prefix(body) else {
            self.violation("short BATCH_FORGET".into());
            return;
        };
        if rest.len() != head.count as usize * size_of::<ForgetOne>() {
            self.violation("BATCH_FORGET count disagrees with its length".into());
        }
        while let Ok((one, after)) = ForgetOne::read_from_prefix(rest) {
            self.forget(state, one.nodeid, one.nlookup);
            rest = after;
        }
    }

    fn node_fd<'a>(&self, state: &'a State, nodeid: u64) -> Result<&'a OwnedFd, i32> {
        state.nodes.get(&nodeid).map(|n| &n.fd).ok_or_else(|| {
            self.violation(format!("request for unknown node {nodeid}"));
            2
        })
    }

    /// Count a lookup of `name` in `parent` and reply with its entry.
    fn lookup(&self, state: &mut State, parent: u64, name: &[u8]) -> Reply {
        if name.is_empty() || name.contains(&b'/') {
            self.violation(format!("bad name {name:?}"));
            return Err(22);
        }
        let parent_fd = self.node_fd(state, parent)?;
        let fd = rustix::fs::openat(
            parent_fd,
            as_path(name),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(rerr)?;
        let st = rustix::fs::fstat(&fd).map_err(rerr)?;
        let key = (st.st_dev, st.st_ino);
        let nodeid = match state.by_key.get(&key) {
            Some(&id) => id,
            None => {
                let id = state.next_node;
                state.next_node += 1;
                state.by_key.insert(key, id);
                state.nodes.insert(
                    id,
                    Node {
                        fd,
                        key,
                        nlookup: 0,
                    },
                );
                id
            }
        };
        if let Some(node) = state.nodes.get_mut(&nodeid)
            && nodeid != ROOT_ID
        {
            node.nlookup += 1;
        }
        let valid = self.config.lock().unwrap().attr_valid;
        let entry = EntryOut {
            nodeid,
            generation: 0,
            entry_valid: valid,
            attr_valid: valid,
            entry_valid_nsec: 0,
            attr_valid_nsec: 0,
            attr: attr_of(&st),
        };
        Ok(entry.as_bytes().to_vec())
    }

    fn attr_reply(&self, st: &rustix::fs::Stat) -> Reply {
        let out = AttrOut {
            attr_valid: self.config.lock().unwrap().attr_valid,
            attr_valid_nsec: 0,
            dummy: 0,
            attr: attr_of(st),
        };
        Ok(out.as_bytes().to_vec())
    }

    fn body<T: FromBytes>(&self, op: Opcode, rest: &[u8]) -> Result<(T, Vec<u8>), i32> {
        match T::read_from_prefix(rest) {
            Ok((v, after)) => Ok((v, after.to_vec())),
            Err(_) => {
                self.violation(format!("short {op:?} body"));
                Err(22)
            }
        }
    }

    fn dispatch(&self, state: &mut State, op: Opcode, nodeid: u64, rest: &[u8]) -> Reply {
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
            open_flags: 0,
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

/// Write a reply (header and body) into the client's segments.
pub fn scatter(bytes: &[u8], reply: &mut [&mut [u8]]) -> usize {
    let mut done = 0;
    for segment in reply.iter_mut() {
        let n = segment.len().min(bytes.len() - done);
        segment[..n].copy_from_slice(&bytes[done..done + n]);
        done += n;
    }
    done
}

/// The whole reply message for a handled request.
pub fn reply_bytes(unique: u64, reply: &Reply) -> Vec<u8> {
    let (error, body) = match reply {
        Ok(body) => (0, &body[..]),
        Err(e) => (-e, &[][..]),
    };
    let header = OutHeader {
        len: (OUT_HEADER_LEN + body.len()) as u32,
        error,
        unique,
    };
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

impl FuseTransport for FakeServer {
    fn call(&self, request: &[&[u8]], reply: &mut [&mut [u8]]) -> Result<usize, TransportError> {
        let request = request.concat();
        let Some((unique, result)) = self.handle(&request) else {
            return Ok(0);
        };
        let bytes = reply_bytes(unique, &result);
        let room: usize = reply.iter().map(|r| r.len()).sum();
        if bytes.len() > room {
            self.violation(format!(
                "reply of {} bytes for buffers of {room}",
                bytes.len()
            ));
            return Ok(scatter(&reply_bytes(unique, &Err(5)), reply));
        }
        Ok(scatter(&bytes, reply))
    }

    fn max_message(&self) -> usize {
        (2 << 20) + 4096
    }
}
