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
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fs_virtiofs::proto::*;
use fs_virtiofs::{FuseTransport, TransportError};
use rustix::fs::{Mode, OFlags};
use zerocopy::{FromBytes, IntoBytes};

pub(super) type Reply = Result<Vec<u8>, i32>;

pub(super) struct Node {
    pub fd: OwnedFd,
    pub key: (u64, u64),
    pub nlookup: u64,
}

pub(super) struct Listing {
    pub entries: Vec<(Vec<u8>, u64, u32)>,
}

#[derive(Default)]
pub(super) struct State {
    pub nodes: HashMap<u64, Node>,
    pub by_key: HashMap<(u64, u64), u64>,
    pub next_node: u64,
    pub files: HashMap<u64, File>,
    pub dirs: HashMap<u64, Listing>,
    pub next_fh: u64,
    pub initialized: bool,
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
    /// `FOPEN_*` flags of every OPEN and CREATE reply.
    pub open_flags: u32,
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
            open_flags: 0,
        }
    }
}

pub struct FakeServer {
    pub(super) root: PathBuf,
    pub config: Mutex<Config>,
    pub(super) state: Mutex<State>,
    /// Requests per opcode.
    counts: Mutex<HashMap<u32, u64>>,
    /// (opcode, size) of every READ and WRITE, to check request sizes.
    pub(super) io: Mutex<Vec<(Opcode, u32)>>,
    pub violations: Mutex<Vec<String>>,
    /// Nodes with lookups still counted when DESTROY came, per DESTROY.
    pub live_at_destroy: Mutex<Vec<usize>>,
}

pub(super) fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(5)
}

pub(super) fn rerr(e: rustix::io::Errno) -> i32 {
    e.raw_os_error()
}

pub(super) fn proc_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Split `bytes` into a NUL-terminated name and the rest.
pub(super) fn take_name(bytes: &[u8]) -> Result<(&[u8], &[u8]), i32> {
    let end = bytes.iter().position(|&b| b == 0).ok_or(22)?;
    Ok((&bytes[..end], &bytes[end + 1..]))
}

pub(super) fn as_path(name: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(name))
}

pub(super) fn attr_of(st: &rustix::fs::Stat) -> Attr {
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

pub(super) fn dtype(ft: std::fs::FileType) -> u32 {
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

    pub(super) fn violation(&self, what: String) {
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

    pub(super) fn node_fd<'a>(&self, state: &'a State, nodeid: u64) -> Result<&'a OwnedFd, i32> {
        state.nodes.get(&nodeid).map(|n| &n.fd).ok_or_else(|| {
            self.violation(format!("request for unknown node {nodeid}"));
            2
        })
    }

    /// Count a lookup of `name` in `parent` and reply with its entry.
    pub(super) fn lookup(&self, state: &mut State, parent: u64, name: &[u8]) -> Reply {
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

    pub(super) fn attr_reply(&self, st: &rustix::fs::Stat) -> Reply {
        let out = AttrOut {
            attr_valid: self.config.lock().unwrap().attr_valid,
            attr_valid_nsec: 0,
            dummy: 0,
            attr: attr_of(st),
        };
        Ok(out.as_bytes().to_vec())
    }

    pub(super) fn body<T: FromBytes>(&self, op: Opcode, rest: &[u8]) -> Result<(T, Vec<u8>), i32> {
        match T::read_from_prefix(rest) {
            Ok((v, after)) => Ok((v, after.to_vec())),
            Err(_) => {
                self.violation(format!("short {op:?} body"));
                Err(22)
            }
        }
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
