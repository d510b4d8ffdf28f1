//! The seam between a FUSE client (`fs-virtiofs`) and whatever carries its
//! messages: the virtio-fs device in the kernel, an in-process fake server in
//! host tests.
//!
//! A message is a list of byte segments, so the client never copies payload:
//! a WRITE sends `[in_header, write_in, caller's data]` and a READ receives
//! `[out_header, caller's buffer]`, the device reading from and writing into
//! those buffers directly (one descriptor each on virtio). The transport only
//! moves bytes; every check of what came back (lengths, `unique`, errors) is
//! the client's, because the other side is not trusted.

use core::fmt;

/// Why a message could not be exchanged. The client turns every one of these
/// into EIO (ENOMEM for [`TransportError::NoMemory`]) for its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// No reply within the transport's wait limit: the daemon is gone or
    /// stuck. A virtio transport resets its device and fails from then on.
    Timeout,
    /// The transport failed earlier (timeout, device error) and refuses
    /// further messages.
    Broken,
    /// The device misbehaved: used a buffer it was not given, reported a
    /// length beyond the buffers, or refused the queue.
    Device,
    /// The message has more segments or bytes than the transport carries.
    TooLarge,
    /// Memory for the message could not be allocated.
    NoMemory,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportError::Timeout => "no reply in time (daemon gone?)",
            TransportError::Broken => "transport failed earlier",
            TransportError::Device => "device misbehaved",
            TransportError::TooLarge => "message too large for the transport",
            TransportError::NoMemory => "out of memory for the message",
        })
    }
}

/// Carries FUSE messages to a server and its replies back.
///
/// Implementations take `&self` and serialise internally; a call blocks until
/// the reply arrived or a bounded wait ran out, never forever.
pub trait FuseTransport: Send + Sync {
    /// Send the request made of the `request` segments (in order) and receive
    /// the reply into the `reply` segments (filled in order). Returns the
    /// number of reply bytes written, as the other side reports it: the
    /// caller checks it against the buffers and the FUSE header. Empty
    /// segments are allowed and skipped.
    fn call(&self, request: &[&[u8]], reply: &mut [&mut [u8]]) -> Result<usize, TransportError>;

    /// Send a request that has no reply (FORGET, BATCH_FORGET). virtio-fs
    /// sends these on its high-priority queue. The default sends it as a
    /// call with no reply buffers.
    fn send_oneway(&self, request: &[&[u8]]) -> Result<(), TransportError> {
        self.call(request, &mut []).map(|_| ())
    }

    /// The most bytes one request or one reply may hold in total (headers
    /// included). The client sizes READ and WRITE requests from it and from
    /// what the server negotiated.
    fn max_message(&self) -> usize;

    /// The most segments one request plus its reply may have.
    fn max_segments(&self) -> usize {
        usize::MAX
    }
}
