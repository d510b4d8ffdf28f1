//! Support for the fuzz targets: a transport that answers each request with
//! the next reply taken from the fuzz input, the session the `session`
//! target drives over it, and a small honest server that `make_seeds`
//! records seed inputs from.
//!
//! Input format of `session`: a sequence of chunks `[flags: u8][len: u16 LE]
//! [len bytes]`, one per request. Flag bit 0 writes the request's `unique`
//! into the reply header and bit 1 its own length, so mutations get past
//! those two checks and into the bodies; bit 2 claims 256 bytes more than
//! were written. When the input runs out, every request times out.

use std::sync::{Arc, Mutex};

use drivers::{FuseTransport, TransportError};
use fs_virtiofs::VirtioFs;
use fs_virtiofs::proto::dirent::push_dirent;
use fs_virtiofs::proto::*;
use vfs::{FileSystem, FileType, FixedClock, Inode, OpenFlags, SetAttr, Timespec};
use zerocopy::{FromBytes, IntoBytes};

/// Most nodes one run visits, so a hostile tree stays small.
const MAX_VISITS: usize = 64;
const MAX_DEPTH: usize = 3;
const MAX_NAMES: usize = 16;

/// Replies from the input, in order.
pub struct Replay {
    input: Mutex<(Vec<u8>, usize)>,
}

impl Replay {
    pub fn new(input: &[u8]) -> Self {
        Replay {
            input: Mutex::new((input.to_vec(), 0)),
        }
    }

    /// Bytes of input used so far.
    pub fn consumed(&self) -> usize {
        self.input.lock().unwrap().1
    }

    fn next_chunk(&self) -> Option<(u8, Vec<u8>)> {
        let mut guard = self.input.lock().unwrap();
        let (data, at) = &mut *guard;
        let head = data.get(*at..*at + 3)?;
        let flags = head[0];
        let len = usize::from(u16::from_le_bytes([head[1], head[2]]));
        let start = *at + 3;
        let end = (start + len).min(data.len());
        *at = end;
        Some((flags, data[start..end].to_vec()))
    }
}

impl FuseTransport for Replay {
    fn call(&self, request: &[&[u8]], reply: &mut [&mut [u8]]) -> Result<usize, TransportError> {
        let unique = request
            .first()
            .and_then(|h| InHeader::read_from_prefix(h).ok())
            .map_or(0, |(h, _)| h.unique);
        let (flags, mut bytes) = self.next_chunk().ok_or(TransportError::Timeout)?;
        if flags & 1 != 0 && bytes.len() >= 16 {
            bytes[8..16].copy_from_slice(&unique.to_ne_bytes());
        }
        if flags & 2 != 0 && bytes.len() >= 4 {
            let len = bytes.len() as u32;
            bytes[..4].copy_from_slice(&len.to_ne_bytes());
        }
        let mut done = 0;
        for segment in reply.iter_mut() {
            let n = segment.len().min(bytes.len() - done);
            segment[..n].copy_from_slice(&bytes[done..done + n]);
            done += n;
        }
        Ok(if flags & 4 != 0 {
            bytes.len() + 256
        } else {
            bytes.len()
        })
    }

    fn send_oneway(&self, _request: &[&[u8]]) -> Result<(), TransportError> {
        Ok(())
    }

    fn max_message(&self) -> usize {
        (1 << 20) + 4096
    }
}

/// Mount over `transport` and use every operation, bounded. Errors are
/// fine; a panic, a hang or an out-of-bounds access is a bug.
pub fn run(transport: Arc<dyn FuseTransport>) {
    let clock = Arc::new(FixedClock(Timespec::new(1_700_000_000, 0)));
    let Ok(fs) = VirtioFs::new(transport, clock) else {
        return;
    };
    let Ok(root) = fs.root() else {
        return;
    };
    let mut visits = 0;
    visit(&root, 0, &mut visits);
    let _ = fs.statfs();
    change(&root);
    let _ = fs.sync();
    let _ = fs.unmount();
}

fn visit(inode: &Arc<dyn Inode>, depth: usize, visits: &mut usize) {
    *visits += 1;
    if *visits > MAX_VISITS {
        return;
    }
    let _ = inode.getattr();
    match inode.file_type() {
        FileType::Directory => {
            let mut names = Vec::new();
            if let Ok(Some(handle)) = inode.open(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY) {
                let mut cookie = 0;
                // Two calls, so resuming from a cookie is exercised.
                for _ in 0..2 {
                    let _ = handle.readdir(inode.as_ref(), cookie, &mut |entry, next| {
                        names.push(entry.name.to_string());
                        cookie = next;
                        names.len() % 4 != 0 && names.len() < MAX_NAMES
                    });
                }
                let _ = handle.fsync(inode.as_ref());
            }
            let _ = inode.lookup("missing");
            if depth < MAX_DEPTH {
                for name in names {
                    if let Ok(child) = inode.lookup(&name) {
                        visit(&child, depth + 1, visits);
                    }
                }
            }
        }
        FileType::Regular => {
            if let Ok(Some(handle)) = inode.open(OpenFlags::O_RDWR) {
                let mut buf = vec![0u8; 8192];
                let _ = handle.read_at(inode.as_ref(), 0, &mut buf);
                let _ = handle.read_at(inode.as_ref(), 1 << 20, &mut buf[..100]);
                let _ = handle.write_at(inode.as_ref(), 10, b"fuzz");
                let _ = handle.fsync(inode.as_ref());
            }
            let _ = inode.read_at(0, &mut [0u8; 64]);
        }
        FileType::Symlink => {
            let _ = inode.readlink();
        }
        _ => {
            let _ = inode.open(OpenFlags::O_RDONLY);
        }
    }
}

fn change(root: &Arc<dyn Inode>) {
    if let Ok(file) = root.create("new", 0o100644, 0) {
        if let Ok(Some(handle)) = file.open(OpenFlags::O_WRONLY) {
            let _ = handle.write_at(file.as_ref(), 0, &[1u8; 5000]);
        }
        let _ = file.truncate(0);
        let _ = file.truncate(100);
        let _ = file.setattr(&SetAttr {
            mode: Some(0o600),
            mtime: Some(Timespec::new(5, 5)),
            ..SetAttr::default()
        });
        let _ = root.link("hard", &file);
    }
    let _ = root.create("fifo", 0o010644, 0);
    let _ = root.mkdir("dir", 0o755);
    let _ = root.symlink("sym", "target");
    let _ = root.rename("new", root, "renamed");
    let _ = root.unlink("renamed");
    let _ = root.rmdir("dir");
}

/// The reply message for `unique` with `body`, or error `-errno`.
pub fn reply(unique: u64, result: Result<Vec<u8>, i32>) -> Vec<u8> {
    let (error, body) = match result {
        Ok(body) => (0, body),
        Err(e) => (-e, Vec::new()),
    };
    let header = OutHeader {
        len: (OUT_HEADER_LEN + body.len()) as u32,
        error,
        unique,
    };
    let mut out = header.as_bytes().to_vec();
    out.extend(body);
    out
}

/// A tiny honest server: root (1) holding `file` (2), `dir` (3, holding
/// `inner`, 5) and `link` (4, to `file`); anything it creates gets a new node.
pub struct TinyServer {
    next_node: Mutex<u64>,
    /// Each reply, as a `session` input chunk.
    pub recorded: Mutex<Vec<u8>>,
}

impl Default for TinyServer {
    fn default() -> Self {
        TinyServer {
            next_node: Mutex::new(10),
            recorded: Mutex::new(Vec::new()),
        }
    }
}

fn attr(nodeid: u64) -> Attr {
    let (mode, size) = match nodeid {
        1 | 3 => (0o040755, 4096),
        4 => (0o120777, 4),
        _ => (0o100644, 5000),
    };
    Attr {
        ino: 1000 + nodeid,
        size,
        blocks: 8,
        mode,
        nlink: 1,
        blksize: 4096,
        ..Attr::default()
    }
}

fn entry(nodeid: u64) -> Vec<u8> {
    EntryOut {
        nodeid,
        attr: attr(nodeid),
        ..EntryOut::default()
    }
    .as_bytes()
    .to_vec()
}

impl TinyServer {
    fn answer(&self, header: &InHeader, body: &[u8]) -> Option<Result<Vec<u8>, i32>> {
        let name = || body.split(|&b| b == 0).next().unwrap_or_default().to_vec();
        Some(match Opcode::from_raw(header.opcode) {
            Some(Opcode::Forget | Opcode::BatchForget) => return None,
            Some(Opcode::Init) => Ok(InitOut {
                major: 7,
                minor: 31,
                max_write: 1 << 20,
                max_pages: 256,
                flags: init_flags::MAX_PAGES | init_flags::BIG_WRITES,
                ..InitOut::default()
            }
            .as_bytes()
            .to_vec()),
            Some(Opcode::Getattr | Opcode::Setattr) => Ok(AttrOut {
                attr: attr(header.nodeid),
                ..AttrOut::default()
            }
            .as_bytes()
            .to_vec()),
            Some(Opcode::Lookup) => match (header.nodeid, &name()[..]) {
                (1, b"file") => Ok(entry(2)),
                (1, b"dir") => Ok(entry(3)),
                (1, b"link") => Ok(entry(4)),
                (3, b"inner") => Ok(entry(5)),
                _ => Err(2),
            },
            Some(Opcode::Open | Opcode::Opendir) => Ok(OpenOut {
                fh: 77,
                ..OpenOut::default()
            }
            .as_bytes()
            .to_vec()),
            Some(Opcode::Readdir) => {
                let (arg, _) = ReadIn::read_from_prefix(body).ok()?;
                let names: &[(&[u8], u32)] = match header.nodeid {
                    1 => &[
                        (b".", 4),
                        (b"..", 4),
                        (b"file", 8),
                        (b"dir", 4),
                        (b"link", 10),
                    ],
                    _ => &[(b".", 4), (b"..", 4), (b"inner", 8)],
                };
                let mut out = Vec::new();
                for (i, (n, kind)) in names.iter().enumerate().skip(arg.offset as usize) {
                    push_dirent(&mut out, 2000 + i as u64, i as u64 + 1, *kind, n);
                }
                Ok(out)
            }
            Some(Opcode::Read) => {
                let (arg, _) = ReadIn::read_from_prefix(body).ok()?;
                let size = (arg.size as u64).min(5000u64.saturating_sub(arg.offset));
                Ok(vec![0x61; size as usize])
            }
            Some(Opcode::Write) => {
                let (arg, _) = WriteIn::read_from_prefix(body).ok()?;
                Ok(WriteOut {
                    size: arg.size,
                    padding: 0,
                }
                .as_bytes()
                .to_vec())
            }
            Some(Opcode::Readlink) => Ok(b"file".to_vec()),
            Some(Opcode::Statfs) => Ok(StatfsOut {
                blocks: 100,
                bfree: 50,
                bsize: 4096,
                namelen: 255,
                ..StatfsOut::default()
            }
            .as_bytes()
            .to_vec()),
            Some(Opcode::Create) => {
                let mut node = self.next_node.lock().unwrap();
                *node += 1;
                let mut out = entry(*node);
                out.extend(OpenOut::default().as_bytes());
                Ok(out)
            }
            Some(Opcode::Mkdir | Opcode::Symlink | Opcode::Mknod | Opcode::Link) => {
                let mut node = self.next_node.lock().unwrap();
                *node += 1;
                Ok(entry(*node))
            }
            Some(_) => Ok(Vec::new()),
            None => Err(38),
        })
    }
}

impl FuseTransport for TinyServer {
    fn call(&self, request: &[&[u8]], reply: &mut [&mut [u8]]) -> Result<usize, TransportError> {
        let whole = request.concat();
        let (header, body) =
            InHeader::read_from_prefix(&whole).map_err(|_| TransportError::Device)?;
        let Some(result) = self.answer(&header, body) else {
            return Ok(0);
        };
        let bytes = self::reply(header.unique, result);
        let mut recorded = self.recorded.lock().unwrap();
        recorded.push(3);
        recorded.extend((bytes.len() as u16).to_le_bytes());
        recorded.extend(&bytes);
        let mut done = 0;
        for segment in reply.iter_mut() {
            let n = segment.len().min(bytes.len() - done);
            segment[..n].copy_from_slice(&bytes[done..done + n]);
            done += n;
        }
        Ok(done)
    }

    fn max_message(&self) -> usize {
        (1 << 20) + 4096
    }
}
