//! One FUSE session over a transport: INIT negotiation, request ids, the
//! checked request/reply exchange every operation goes through, the queue of
//! pending FORGETs, and the table of live nodes.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use drivers::{FuseTransport, TransportError};
use vfs::{Clock, Errno, VfsResult};
use zerocopy::{FromZeros, IntoBytes};

use crate::inode::FuseInode;
use crate::proto::reply::check_reply;
use crate::proto::{
    BatchForgetIn, DEFAULT_MAX_PAGES, ForgetOne, IN_HEADER_LEN, InHeader, InitIn, InitOut,
    KERNEL_MINOR_VERSION, KERNEL_VERSION, MIN_MINOR_VERSION, OUT_HEADER_LEN, Opcode, OutHeader,
    PAGE_SIZE, WriteIn, init_flags,
};

/// Most request segments after the header (RENAME: body, two names and
/// their NULs).
const MAX_ARGS: usize = 5;
/// Most reply segments after the header (CREATE: entry and open).
const MAX_REPLY_SEGMENTS: usize = 3;
/// FORGETs gathered before they go out as one BATCH_FORGET.
const FORGET_BATCH: usize = 32;
/// The read size we ask the server to allow (virtiofsd grants 1 MiB).
const WANTED_MAX_READ: u32 = 1 << 20;

/// What INIT settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The protocol minor version in use.
    pub minor: u32,
    /// The INIT flags both sides agreed on.
    pub flags: u32,
    /// Largest WRITE payload: the server's `max_write`, within the transport.
    pub max_write: usize,
    /// Largest READ (and READDIR) reply payload: the server's `max_pages`
    /// (32 pages when it sets none), within the transport.
    pub max_read: usize,
}

/// Why a session could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The exchange failed or the reply was malformed.
    Errno(Errno),
    /// The server speaks another protocol major version.
    Major(u32),
    /// The server's minor version is older than we support.
    Minor(u32),
}

impl InitError {
    pub fn errno(&self) -> Errno {
        match self {
            InitError::Errno(e) => *e,
            InitError::Major(_) | InitError::Minor(_) => Errno::EIO,
        }
    }

    /// One line for the mount diagnosis.
    pub fn describe(&self) -> String {
        match self {
            InitError::Errno(e) => format!("FUSE INIT failed: {e}"),
            InitError::Major(m) => format!(
                "the server speaks FUSE {m}.x; this client speaks {KERNEL_VERSION}.{KERNEL_MINOR_VERSION}"
            ),
            InitError::Minor(m) => format!(
                "the server speaks FUSE {KERNEL_VERSION}.{m}; this client needs {KERNEL_VERSION}.{MIN_MINOR_VERSION} or later"
            ),
        }
    }
}

/// The errno a caller sees for a transport failure.
fn transport_errno(error: TransportError) -> Errno {
    match error {
        TransportError::NoMemory => Errno::ENOMEM,
        TransportError::TooLarge => Errno::EINVAL,
        TransportError::Timeout | TransportError::Broken | TransportError::Device => Errno::EIO,
    }
}

pub(crate) struct Session {
    transport: Arc<dyn FuseTransport>,
    next_unique: AtomicU64,
    pub params: Params,
    pub clock: Arc<dyn Clock>,
    /// Set by DESTROY (unmount): requests fail, nothing is forgotten.
    closed: AtomicBool,
    forgets: spin::Mutex<Vec<ForgetOne>>,
    /// Live nodes by node id, so each has one object and one lookup count.
    pub nodes: spin::Mutex<BTreeMap<u64, Weak<FuseInode>>>,
    /// Bumped by every namespace change: cached attributes of any node from
    /// an older epoch are stale (link counts and directory times moved).
    pub attr_epoch: AtomicU64,
    /// The mount's space in the shared page cache, for file data; None
    /// reads and writes the server directly.
    pub data: Option<pagecache::Space>,
}

impl Session {
    /// Start a session: INIT, and refuse a server we cannot talk to.
    pub fn start(
        transport: Arc<dyn FuseTransport>,
        clock: Arc<dyn Clock>,
    ) -> Result<Session, InitError> {
        let mut session = Session {
            transport,
            next_unique: AtomicU64::new(1),
            params: Params {
                minor: KERNEL_MINOR_VERSION,
                flags: 0,
                max_write: PAGE_SIZE,
                max_read: PAGE_SIZE,
            },
            clock,
            closed: AtomicBool::new(false),
            forgets: spin::Mutex::new(Vec::new()),
            nodes: spin::Mutex::new(BTreeMap::new()),
            attr_epoch: AtomicU64::new(0),
            data: None,
        };
        let wanted = init_flags::BIG_WRITES | init_flags::MAX_PAGES | init_flags::PARALLEL_DIROPS;
        let init = InitIn {
            major: KERNEL_VERSION,
            minor: KERNEL_MINOR_VERSION,
            max_readahead: WANTED_MAX_READ,
            flags: wanted,
        };
        let mut out = InitOut::new_zeroed();
        let body = session
            .request(
                Opcode::Init,
                0,
                &[init.as_bytes()],
                &mut [out.as_mut_bytes()],
            )
            .map_err(InitError::Errno)?;
        if out.major != KERNEL_VERSION {
            return Err(InitError::Major(out.major));
        }
        if body != size_of::<InitOut>() {
            return Err(InitError::Errno(Errno::EIO));
        }
        if out.minor < MIN_MINOR_VERSION {
            return Err(InitError::Minor(out.minor));
        }
        session.params = negotiate(&out, wanted, session.transport.max_message());
        Ok(session)
    }

    fn unique(&self) -> u64 {
        self.next_unique.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether DESTROY was sent (the mount is gone).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Send `opcode` for `nodeid` with the body segments `args`, receive the
    /// reply body into `reply`, and check the reply header. Returns the
    /// body's length (each caller checks it against what it expects).
    pub fn request(
        &self,
        opcode: Opcode,
        nodeid: u64,
        args: &[&[u8]],
        reply: &mut [&mut [u8]],
    ) -> VfsResult<usize> {
        if self.is_closed() {
            return Err(Errno::EIO);
        }
        let (header, unique) = self.header(opcode, nodeid, args)?;
        let mut segments: [&[u8]; MAX_ARGS + 1] = [&[]; MAX_ARGS + 1];
        segments[0] = header.as_bytes();
        for (slot, arg) in segments[1..].iter_mut().zip(args) {
            *slot = arg;
        }
        let reply_segments = reply.len();
        if reply_segments > MAX_REPLY_SEGMENTS {
            return Err(Errno::EINVAL);
        }
        let mut out = OutHeader::new_zeroed();
        let received;
        let capacity;
        {
            let mut replies: [&mut [u8]; MAX_REPLY_SEGMENTS + 1] = Default::default();
            replies[0] = out.as_mut_bytes();
            for (slot, segment) in replies[1..].iter_mut().zip(reply.iter_mut()) {
                *slot = &mut **segment;
            }
            capacity = replies.iter().map(|r| r.len()).sum::<usize>();
            received = self
                .transport
                .call(&segments[..=args.len()], &mut replies[..=reply_segments])
                .map_err(|e| {
                    log::debug!("virtiofs: {opcode:?} failed in the transport: {e}");
                    transport_errno(e)
                })?;
        }
        check_reply(&out, received, capacity, unique)
    }

    /// Send a request that has no reply (FORGET, BATCH_FORGET).
    fn send_oneway(&self, opcode: Opcode, nodeid: u64, args: &[&[u8]]) -> VfsResult<()> {
        let (header, _) = self.header(opcode, nodeid, args)?;
        let mut segments: [&[u8]; MAX_ARGS + 1] = [&[]; MAX_ARGS + 1];
        segments[0] = header.as_bytes();
        for (slot, arg) in segments[1..].iter_mut().zip(args) {
            *slot = arg;
        }
        self.transport
            .send_oneway(&segments[..=args.len()])
            .map_err(transport_errno)
    }

    fn header(&self, opcode: Opcode, nodeid: u64, args: &[&[u8]]) -> VfsResult<(InHeader, u64)> {
        if args.len() > MAX_ARGS {
            return Err(Errno::EINVAL);
        }
        let body: usize = args.iter().map(|a| a.len()).sum();
        let len = u32::try_from(IN_HEADER_LEN + body).map_err(|_| Errno::EINVAL)?;
        let unique = self.unique();
        let header = InHeader {
            len,
            opcode: opcode as u32,
            unique,
            nodeid,
            ..InHeader::default()
        };
        Ok((header, unique))
    }

    /// Count `nlookup` lookups of `nodeid` as forgotten. They go to the
    /// server in batches (order does not matter: counts only add up).
    pub fn forget(&self, nodeid: u64, nlookup: u64) {
        if nlookup == 0 || self.is_closed() {
            return;
        }
        let full = {
            let mut pending = self.forgets.lock();
            if pending.try_reserve(1).is_err() {
                drop(pending);
                let one = crate::proto::ForgetIn { nlookup };
                let _ = self.send_oneway(Opcode::Forget, nodeid, &[one.as_bytes()]);
                return;
            }
            pending.push(ForgetOne { nodeid, nlookup });
            pending.len() >= FORGET_BATCH
        };
        if full {
            self.flush_forgets();
        }
    }

    /// Send every pending FORGET now.
    pub fn flush_forgets(&self) {
        let batch = core::mem::take(&mut *self.forgets.lock());
        if batch.is_empty() || self.is_closed() {
            return;
        }
        let head = BatchForgetIn {
            count: batch.len() as u32,
            dummy: 0,
        };
        if let Err(e) =
            self.send_oneway(Opcode::BatchForget, 0, &[head.as_bytes(), batch.as_bytes()])
        {
            log::debug!(
                "virtiofs: BATCH_FORGET of {} nodes failed: {e}",
                batch.len()
            );
        }
    }

    /// End the session (unmount): pending FORGETs, then DESTROY. Nodes that
    /// outlive it send nothing more.
    pub fn close(&self) {
        self.flush_forgets();
        let _ = self.request(Opcode::Destroy, 0, &[], &mut []);
        self.closed.store(true, Ordering::Release);
    }

    /// Mark every cached attribute stale.
    pub fn namespace_changed(&self) {
        self.attr_epoch.fetch_add(1, Ordering::AcqRel);
    }

    pub fn epoch(&self) -> u64 {
        self.attr_epoch.load(Ordering::Acquire)
    }
}

/// Sizes and flags from the server's INIT reply, within the transport.
fn negotiate(out: &InitOut, wanted: u32, max_message: usize) -> Params {
    let flags = out.flags & wanted;
    // Linux takes at least one page whatever the server says.
    let write_room = max_message.saturating_sub(IN_HEADER_LEN + size_of::<WriteIn>());
    let max_write = (out.max_write as usize)
        .max(PAGE_SIZE)
        .min(write_room)
        .max(1);
    let pages = if flags & init_flags::MAX_PAGES != 0 && out.max_pages != 0 {
        u32::from(out.max_pages)
    } else {
        DEFAULT_MAX_PAGES
    };
    let read_room = max_message.saturating_sub(OUT_HEADER_LEN);
    let max_read = (pages as usize * PAGE_SIZE).min(read_room).max(1);
    Params {
        minor: out.minor.min(KERNEL_MINOR_VERSION),
        flags,
        max_write,
        max_read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_stays_within_server_and_transport() {
        let out = InitOut {
            major: 7,
            minor: 36,
            flags: init_flags::MAX_PAGES | init_flags::BIG_WRITES | init_flags::WRITEBACK_CACHE,
            max_write: 1 << 20,
            max_pages: 256,
            ..InitOut::default()
        };
        let wanted = init_flags::MAX_PAGES | init_flags::BIG_WRITES;
        let p = negotiate(&out, wanted, 16 << 20);
        assert_eq!((p.minor, p.flags), (31, wanted));
        assert_eq!((p.max_write, p.max_read), (1 << 20, 1 << 20));
        // A small transport caps both; a server without MAX_PAGES gets 32 pages.
        let p = negotiate(&out, wanted, 64 * 1024);
        assert_eq!(p.max_write, 64 * 1024 - 80);
        assert_eq!(p.max_read, 64 * 1024 - 16);
        let plain = InitOut {
            flags: 0,
            max_write: 0,
            ..out
        };
        let p = negotiate(&plain, wanted, 16 << 20);
        assert_eq!((p.max_write, p.max_read), (4096, 32 * 4096));
        // A transport too small for anything still gives usable, if tiny, sizes.
        let p = negotiate(&out, wanted, 10);
        assert_eq!((p.max_write, p.max_read), (1, 1));
    }
}
