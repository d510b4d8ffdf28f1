//! Shared test support: the fake server, a transport that tampers with its
//! replies, a clock tests move by hand, and mounting helpers.

#![allow(dead_code)]

pub mod server;
mod server_ops;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use fs_virtiofs::proto::{OUT_HEADER_LEN, Opcode};
use fs_virtiofs::{FuseTransport, TransportError, VirtioFsType};
use vfs::{Clock, MountFlags, Timespec, Vfs};

#[allow(unused_imports)]
pub use server::{Config, FakeServer};

/// A clock that stands still until a test moves it.
#[derive(Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timespec {
        Timespec::new(1_700_000_000 + self.0.load(Ordering::SeqCst), 0)
    }
}

/// A VFS with `server` mounted on `/` under the tag `share`.
pub fn mount_root(server: Arc<dyn FuseTransport>, clock: Arc<dyn Clock>) -> Vfs {
    let vfs = Vfs::new(clock);
    let fs_type = VirtioFsType::new(vec![("share".to_string(), server)]);
    vfs.register(Arc::new(fs_type)).unwrap();
    vfs.mount(Some("share"), "/", "virtiofs", MountFlags::empty(), "")
        .unwrap();
    vfs
}

/// What a tampering rule does with one exchange.
pub enum Action {
    /// Hand the (possibly edited) reply to the client, claiming `usize` bytes.
    Reply(usize),
    /// Fail in the transport, as a vanished daemon does.
    Fail(TransportError),
}

/// `rule(opcode, reply bytes, client buffer capacity)` edits the reply.
pub type Rule = Box<dyn FnMut(Opcode, &mut Vec<u8>, usize) -> Action + Send>;

/// A transport in front of a good server that lets a rule edit replies.
pub struct Tamper {
    pub server: Arc<FakeServer>,
    rule: Mutex<Rule>,
}

impl Tamper {
    pub fn new(server: Arc<FakeServer>, rule: Rule) -> Self {
        Tamper {
            server,
            rule: Mutex::new(rule),
        }
    }

    pub fn set_rule(&self, rule: Rule) {
        *self.rule.lock().unwrap() = rule;
    }

    /// A rule that passes everything through.
    pub fn honest() -> Rule {
        Box::new(|_, bytes, _| Action::Reply(bytes.len()))
    }
}

impl FuseTransport for Tamper {
    fn call(&self, request: &[&[u8]], reply: &mut [&mut [u8]]) -> Result<usize, TransportError> {
        let whole = request.concat();
        let opcode = opcode_of(&whole);
        let Some((unique, result)) = self.server.handle(&whole) else {
            return Ok(0);
        };
        let mut bytes = server::reply_bytes(unique, &result);
        let room: usize = reply.iter().map(|r| r.len()).sum();
        let Some(opcode) = opcode else {
            return Ok(server::scatter(&bytes, reply));
        };
        match (self.rule.lock().unwrap())(opcode, &mut bytes, room) {
            Action::Fail(e) => Err(e),
            Action::Reply(claimed) => {
                let n = bytes.len().min(room);
                server::scatter(&bytes[..n], reply);
                Ok(claimed)
            }
        }
    }

    fn max_message(&self) -> usize {
        self.server.max_message()
    }
}

/// The opcode of a request.
pub fn opcode_of(request: &[u8]) -> Option<Opcode> {
    use zerocopy::FromBytes;
    let (header, _) = fs_virtiofs::proto::InHeader::read_from_prefix(request).ok()?;
    Opcode::from_raw(header.opcode)
}

/// The body of a reply, after its header.
pub fn body(bytes: &mut [u8]) -> &mut [u8] {
    &mut bytes[OUT_HEADER_LEN..]
}

/// Set the header's `len` to the reply's length.
pub fn fix_len(bytes: &mut [u8]) {
    let len = bytes.len() as u32;
    bytes[..4].copy_from_slice(&len.to_ne_bytes());
}
