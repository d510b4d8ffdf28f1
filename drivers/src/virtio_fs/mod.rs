//! The virtio-fs device (virtio device id 26): a [`FuseTransport`] over a
//! virtio transport, for the kernel.
//!
//! The device has a config space of `tag[36]` (the name the host gave the
//! share, NUL-padded) and `num_request_queues`, a high-priority queue 0
//! (FORGET and BATCH_FORGET, which have no reply) and request queues from 1.
//! One request is in flight at a time, on queue 1, under one lock: each is a
//! descriptor chain of the request segments (device-readable) followed by
//! the reply segments (device-writable), pointing straight at the caller's
//! buffers, so a READ lands in the caller's buffer and a WRITE is sent from
//! it without a copy.
//!
//! # Bounded waits
//! The driver polls the used ring (no interrupts) for at most its
//! [`WaitLimit`]. When that runs out, the daemon is taken as gone: the
//! device is reset, which makes QEMU stop the vhost-user backend's rings
//! before the status write returns, so nothing writes into the caller's
//! buffers after the call returned; the call and every later one fail
//! ([`TransportError::Timeout`], then [`TransportError::Broken`]).
//!
//! # Transports
//! virtio-drivers 0.13 has no device type for virtio-fs, and its
//! `MmioTransport::new` and `PciTransport::new` refuse device id 26. So
//! this module brings what is needed to construct one: [`MmioFsTransport`]
//! (virtio-mmio, legacy and modern, for microvm) and [`pci_transport`],
//! which builds virtio-drivers' own `PciTransport` for a virtio-fs function
//! (PCI id `1af4:105a`, modern only). Both report
//! [`DeviceType::_9P`](virtio_drivers::transport::DeviceType) from
//! `Transport::device_type`, the nearest type the enum has; nothing here
//! relies on it. [`probe_pci`] (over `pci::PciBus`) and [`probe_mmio`] find
//! and set up the devices as `virtio::probe_pci` / `probe_mmio` do disks.

mod mmio;
mod pci;
mod probe;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transport_tests;

use alloc::string::String;
use core::hint::spin_loop;
use core::sync::atomic::{AtomicU64, Ordering};

use virtio_drivers::Hal;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{DeviceStatus, Transport};

use crate::{FuseTransport, TransportError};

pub use mmio::{MmioFsError, MmioFsTransport};
pub use pci::{PCI_DEVICE_ID, is_virtio_fs, pci_transport};
pub use probe::{MmioFsDevice, PciFsDevice, probe_mmio, probe_pci};

/// The virtio device id of a filesystem device.
pub const DEVICE_ID: u32 = 26;

/// Queue 0: FORGET and BATCH_FORGET.
const HIPRIO_QUEUE: u16 = 0;
/// The first request queue (there is no notification queue: we do not
/// offer `VIRTIO_FS_F_NOTIFICATION`).
const REQUEST_QUEUE: u16 = 1;
/// Descriptors per queue. A message is at most a handful of segments (a
/// WRITE is three, its reply one or two) and one is in flight at a time.
const QUEUE_SIZE: usize = 16;

/// Length of the tag in the config space.
const TAG_LEN: usize = 36;
/// Offset of `num_request_queues` in the config space.
const CONFIG_NUM_QUEUES: usize = TAG_LEN;

/// `VIRTIO_F_VERSION_1`: the only feature we accept (modern devices).
const FEATURE_VERSION_1: u64 = 1 << 32;

/// The largest message we put in one chain. The FUSE client sizes READ and
/// WRITE from what the daemon negotiated (virtiofsd: 1 MiB), which is far
/// below; this only bounds a confused caller.
const MAX_MESSAGE: usize = 16 << 20;

/// Polls of the device status after a reset before giving up on it.
const RESET_POLLS: u32 = 1_000_000;

/// How long a request may wait for its reply.
#[derive(Clone, Copy, Debug)]
pub enum WaitLimit {
    /// At most this many polls of the used ring (for hosts or early boot
    /// without a calibrated clock).
    Polls(u64),
    /// Until `timeout_ns` have passed on `now_ns`, a monotonic clock in
    /// nanoseconds (the kernel's `time::now_ns`).
    Clock {
        now_ns: fn() -> u64,
        timeout_ns: u64,
    },
}

/// Why a virtio-fs device could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioFsError {
    /// The device refused the feature set (it needs features we lack).
    FeaturesRefused,
    /// The config space is missing or too small.
    Config,
    /// The tag is empty or not UTF-8.
    BadTag,
    /// The device has no request queue.
    NoRequestQueue,
    /// A queue could not be set up (too small, already in use, no memory).
    Queue(virtio_drivers::Error),
}

impl core::fmt::Display for VirtioFsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VirtioFsError::FeaturesRefused => f.write_str("device refused our features"),
            VirtioFsError::Config => f.write_str("config space missing or too small"),
            VirtioFsError::BadTag => f.write_str("tag is empty or not UTF-8"),
            VirtioFsError::NoRequestQueue => f.write_str("device has no request queue"),
            VirtioFsError::Queue(e) => write!(f, "queue setup failed: {e}"),
        }
    }
}

/// Request counters, for diagnostics and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages sent (requests and one-way messages).
    pub messages: u64,
    /// Bytes sent plus bytes received.
    pub bytes: u64,
}

struct Queues<H: Hal, T: Transport> {
    transport: T,
    hiprio: VirtQueue<H, QUEUE_SIZE>,
    request: VirtQueue<H, QUEUE_SIZE>,
    /// Set when the device was given up on; every call fails from then on.
    broken: bool,
}

/// A virtio-fs device. Implements [`FuseTransport`].
pub struct VirtioFsDevice<H: Hal, T: Transport> {
    queues: spin::Mutex<Queues<H, T>>,
    tag: String,
    num_request_queues: u32,
    wait: WaitLimit,
    messages: AtomicU64,
    bytes: AtomicU64,
}

// SAFETY: the device holds raw pointers to identity-mapped MMIO and DMA
// memory that stay valid for the kernel's lifetime; every access to the
// transport and the queues goes through the mutex, so one CPU at a time
// drives the device.
unsafe impl<H: Hal, T: Transport> Send for VirtioFsDevice<H, T> {}
// SAFETY: as above; `&VirtioFsDevice` reaches the device only through the mutex.
unsafe impl<H: Hal, T: Transport> Sync for VirtioFsDevice<H, T> {}

impl<H: Hal, T: Transport> VirtioFsDevice<H, T> {
    /// Initialise the device behind `transport` (already probed and known to
    /// be virtio-fs: [`MmioFsTransport::new`] or [`pci_transport`]): feature
    /// negotiation, the tag, the high-priority and first request queue.
    pub fn new(mut transport: T, wait: WaitLimit) -> Result<Self, VirtioFsError> {
        // virtio 1.2, 3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK.
        transport.set_status(DeviceStatus::empty());
        transport.set_status(DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER);
        let offered = transport.read_device_features();
        transport.write_driver_features(offered & FEATURE_VERSION_1);
        let features_ok =
            DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER | DeviceStatus::FEATURES_OK;
        transport.set_status(features_ok);
        if !transport.get_status().contains(DeviceStatus::FEATURES_OK) {
            transport.set_status(DeviceStatus::FAILED);
            return Err(VirtioFsError::FeaturesRefused);
        }
        transport.set_guest_page_size(virtio_drivers::PAGE_SIZE as u32);

        let fail = |transport: &mut T, e| {
            transport.set_status(DeviceStatus::FAILED);
            e
        };
        let (tag, num_request_queues) = match read_config(&transport) {
            Ok(config) => config,
            Err(e) => return Err(fail(&mut transport, e)),
        };
        if num_request_queues == 0 {
            return Err(fail(&mut transport, VirtioFsError::NoRequestQueue));
        }
        let hiprio = match VirtQueue::new(&mut transport, HIPRIO_QUEUE, false, false) {
            Ok(q) => q,
            Err(e) => return Err(fail(&mut transport, VirtioFsError::Queue(e))),
        };
        let request = match VirtQueue::new(&mut transport, REQUEST_QUEUE, false, false) {
            Ok(q) => q,
            Err(e) => return Err(fail(&mut transport, VirtioFsError::Queue(e))),
        };
        transport.finish_init();
        Ok(VirtioFsDevice {
            queues: spin::Mutex::new(Queues {
                transport,
                hiprio,
                request,
                broken: false,
            }),
            tag,
            num_request_queues,
            wait,
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    /// The tag the host gave this share (`-device ...,tag=NAME`).
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// How many request queues the device offers (we use the first).
    pub fn num_request_queues(&self) -> u32 {
        self.num_request_queues
    }

    /// Messages and bytes so far.
    pub fn stats(&self) -> Stats {
        Stats {
            messages: self.messages.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// Whether the device was given up on (a timeout or a device error).
    pub fn is_broken(&self) -> bool {
        self.queues.lock().broken
    }

    /// Put one chain on `queue_index`, notify, wait for it, take it back.
    fn exchange(
        &self,
        queue_index: u16,
        request: &[&[u8]],
        reply: &mut [&mut [u8]],
    ) -> Result<usize, TransportError> {
        let mut inputs: [&[u8]; QUEUE_SIZE] = [&[]; QUEUE_SIZE];
        let mut outputs: [&mut [u8]; QUEUE_SIZE] = Default::default();
        let (mut n_in, mut n_out) = (0, 0);
        let (mut sent, mut room) = (0usize, 0usize);
        // virtio-drivers refuses empty buffers: leave them out.
        for segment in request.iter().filter(|s| !s.is_empty()) {
            *inputs.get_mut(n_in).ok_or(TransportError::TooLarge)? = segment;
            n_in += 1;
            sent = sent.saturating_add(segment.len());
        }
        for segment in reply.iter_mut().filter(|s| !s.is_empty()) {
            room = room.saturating_add(segment.len());
            let slot = outputs
                .get_mut(n_out)
                .filter(|_| n_in + n_out < QUEUE_SIZE)
                .ok_or(TransportError::TooLarge)?;
            *slot = &mut **segment;
            n_out += 1;
        }
        if n_in == 0 || sent > MAX_MESSAGE || room > MAX_MESSAGE {
            return Err(TransportError::TooLarge);
        }
        let (inputs, outputs) = (&inputs[..n_in], &mut outputs[..n_out]);

        let mut guard = self.queues.lock();
        let queues = &mut *guard;
        if queues.broken {
            return Err(TransportError::Broken);
        }
        let queue = if queue_index == HIPRIO_QUEUE {
            &mut queues.hiprio
        } else {
            &mut queues.request
        };
        // SAFETY: the buffers stay borrowed (so valid and untouched by us)
        // until `pop_used` below returns them, or, if the device never does,
        // until `give_up` has reset it, after which it no longer accesses
        // them (see the module docs).
        let token = match unsafe { queue.add(inputs, outputs) } {
            Ok(token) => token,
            Err(_) => return Err(TransportError::Device),
        };
        if queue.should_notify() {
            queues.transport.notify(queue_index);
        }
        if !wait_for_used(queue, self.wait) {
            give_up(queues);
            return Err(TransportError::Timeout);
        }
        // SAFETY: the same buffers as given to `add` for this token, still valid.
        let used = match unsafe { queue.pop_used(token, inputs, outputs) } {
            Ok(len) => len as usize,
            Err(_) => {
                // The device completed a chain we did not give it: it can
                // no longer be trusted with our buffers.
                give_up(queues);
                return Err(TransportError::Device);
            }
        };
        drop(guard);
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add((sent + used.min(room)) as u64, Ordering::Relaxed);
        if used > room {
            return Err(TransportError::Device);
        }
        Ok(used)
    }
}

impl<H: Hal, T: Transport> FuseTransport for VirtioFsDevice<H, T> {
    fn call(&self, request: &[&[u8]], reply: &mut [&mut [u8]]) -> Result<usize, TransportError> {
        self.exchange(REQUEST_QUEUE, request, reply)
    }

    fn send_oneway(&self, request: &[&[u8]]) -> Result<(), TransportError> {
        self.exchange(HIPRIO_QUEUE, request, &mut []).map(|_| ())
    }

    fn max_message(&self) -> usize {
        MAX_MESSAGE
    }

    fn max_segments(&self) -> usize {
        QUEUE_SIZE
    }
}

/// Poll until the device returned a chain, within `wait`.
fn wait_for_used<H: Hal>(queue: &VirtQueue<H, QUEUE_SIZE>, wait: WaitLimit) -> bool {
    match wait {
        WaitLimit::Polls(polls) => {
            for _ in 0..polls {
                if queue.can_pop() {
                    return true;
                }
                spin_loop();
            }
            queue.can_pop()
        }
        WaitLimit::Clock { now_ns, timeout_ns } => {
            let start = now_ns();
            loop {
                // Read the clock once per batch of polls: polls are cheap.
                for _ in 0..64 {
                    if queue.can_pop() {
                        return true;
                    }
                    spin_loop();
                }
                if now_ns().wrapping_sub(start) >= timeout_ns {
                    return queue.can_pop();
                }
            }
        }
    }
}

/// Reset the device and refuse every later call. Reading the status back
/// as 0 means the reset finished (virtio 1.2, 4.1.4.3.2).
fn give_up<H: Hal, T: Transport>(queues: &mut Queues<H, T>) {
    queues.broken = true;
    queues.transport.set_status(DeviceStatus::empty());
    for _ in 0..RESET_POLLS {
        if queues.transport.get_status().is_empty() {
            break;
        }
        spin_loop();
    }
    log::error!("virtio-fs: no reply from the device; reset it, every request fails from now on");
}

/// The tag and request-queue count, read until the config generation is stable.
fn read_config<T: Transport>(transport: &T) -> Result<(String, u32), VirtioFsError> {
    for _ in 0..16 {
        let before = transport.read_config_generation();
        let mut raw = [0u8; TAG_LEN];
        // Four bytes at a time: config space guarantees 4-byte accesses, and
        // wider loads of MMIO are not all emulated.
        for (i, chunk) in raw.chunks_exact_mut(4).enumerate() {
            let word: [u8; 4] = transport
                .read_config_space(i * 4)
                .map_err(|_| VirtioFsError::Config)?;
            chunk.copy_from_slice(&word);
        }
        let queues: u32 = transport
            .read_config_space(CONFIG_NUM_QUEUES)
            .map_err(|_| VirtioFsError::Config)?;
        if transport.read_config_generation() == before {
            return Ok((parse_tag(&raw)?, u32::from_le(queues)));
        }
    }
    Err(VirtioFsError::Config)
}

/// The tag: UTF-8 up to the first NUL (or all 36 bytes), not empty.
fn parse_tag(raw: &[u8; TAG_LEN]) -> Result<String, VirtioFsError> {
    let len = raw.iter().position(|&b| b == 0).unwrap_or(TAG_LEN);
    match core::str::from_utf8(&raw[..len]) {
        Ok(tag) if !tag.is_empty() => Ok(String::from(tag)),
        _ => Err(VirtioFsError::BadTag),
    }
}
