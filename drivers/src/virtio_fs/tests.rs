//! The device driver against a fake virtio-fs device: a `Transport` whose
//! `notify` walks the real split rings virtio-drivers laid out in memory
//! (host addresses stand in for physical ones), the way QEMU would.

use alloc::alloc::{Layout, alloc_zeroed, dealloc};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::ptr::NonNull;

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{BufferDirection, Error, Hal, PAGE_SIZE, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::*;

pub(super) struct TestHal;

fn layout(pages: usize) -> Layout {
    Layout::from_size_align(pages.max(1) * PAGE_SIZE, PAGE_SIZE).unwrap()
}

// SAFETY: memory from the global allocator, zeroed and page-aligned; its
// host address serves as the "physical" address the fake device uses.
unsafe impl Hal for TestHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        // SAFETY: non-zero size.
        let ptr = unsafe { alloc_zeroed(layout(pages)) };
        let ptr = NonNull::new(ptr).unwrap();
        (ptr.as_ptr() as usize as PhysAddr, ptr)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: allocated by dma_alloc with this page count.
        unsafe { dealloc(vaddr.as_ptr(), layout(pages)) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as usize as *mut u8).unwrap()
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr() as *mut u8 as usize as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

/// What the fake device does with a request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Reply with 16 bytes of "header" then the request bytes reversed.
    Echo,
    /// Never complete the chain.
    Silent,
    /// Complete it, claiming more bytes than the buffers hold.
    OverlongUsed,
    /// Complete it under another descriptor id.
    WrongId,
}

#[derive(Default)]
struct QueueAddrs {
    size: u32,
    desc: u64,
    avail: u64,
    used: u64,
    /// Next avail index the device looks at.
    seen: u16,
}

struct DeviceState {
    behaviour: Behaviour,
    status: u32,
    features_ok_sticks: bool,
    config: [u8; 40],
    queues: [QueueAddrs; 2],
    /// (queue, request bytes) of each chain handled.
    log: Vec<(u16, Vec<u8>)>,
    resets_after_init: u32,
}

#[derive(Clone)]
struct FakeTransport(Arc<spin::Mutex<DeviceState>>);

impl FakeTransport {
    fn new(tag: &[u8], queues: u32) -> Self {
        let mut config = [0u8; 40];
        config[..tag.len()].copy_from_slice(tag);
        config[36..].copy_from_slice(&queues.to_le_bytes());
        FakeTransport(Arc::new(spin::Mutex::new(DeviceState {
            behaviour: Behaviour::Echo,
            status: 0,
            features_ok_sticks: true,
            config,
            queues: Default::default(),
            log: Vec::new(),
            resets_after_init: 0,
        })))
    }

    fn set(&self, behaviour: Behaviour) {
        self.0.lock().behaviour = behaviour;
    }
}

/// Read a `T` from fake "physical" memory.
fn peek<T: FromBytes>(addr: u64) -> T {
    // SAFETY: addresses come from the rings virtio-drivers allocated (or
    // buffers the driver shared), live while the device owns the chain.
    unsafe { core::ptr::read_volatile(addr as usize as *const T) }
}

fn poke<T: IntoBytes + Immutable>(addr: u64, value: T) {
    // SAFETY: as in `peek`, for device-writable ring fields and buffers.
    unsafe { core::ptr::write_volatile(addr as usize as *mut T, value) }
}

impl DeviceState {
    fn process(&mut self, queue: u16) {
        let behaviour = self.behaviour;
        let q = &mut self.queues[usize::from(queue)];
        let size = q.size as u16;
        let avail_idx: u16 = peek(q.avail + 2);
        while q.seen != avail_idx {
            if behaviour == Behaviour::Silent {
                return;
            }
            let head: u16 = peek(q.avail + 4 + 2 * u64::from(q.seen % size));
            let (mut request, mut writable) = (Vec::new(), Vec::new());
            let mut index = head;
            loop {
                let d = q.desc + 16 * u64::from(index);
                let (addr, len, flags, next): (u64, u32, u16, u16) =
                    (peek(d), peek(d + 8), peek(d + 12), peek(d + 14));
                if flags & 2 != 0 {
                    writable.push((addr, len as usize));
                } else {
                    for i in 0..u64::from(len) {
                        request.push(peek::<u8>(addr + i));
                    }
                }
                if flags & 1 == 0 {
                    break;
                }
                index = next;
            }
            let mut reply = vec![0xAAu8; 16];
            reply.extend(request.iter().rev());
            let mut written = 0usize;
            for (addr, len) in writable.iter().copied() {
                let take = len.min(reply.len() - written);
                for i in 0..take {
                    poke(addr + i as u64, reply[written + i]);
                }
                written += take;
            }
            let room: usize = writable.iter().map(|w| w.1).sum();
            let (id, len) = match behaviour {
                Behaviour::OverlongUsed => (head, room + 1),
                Behaviour::WrongId => (head.wrapping_add(1) % size, written),
                _ => (head, written),
            };
            let used_idx: u16 = peek(q.used + 2);
            let elem = q.used + 4 + 8 * u64::from(used_idx % size);
            poke(elem, u32::from(id));
            poke(elem + 4, len as u32);
            core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
            poke(q.used + 2, used_idx.wrapping_add(1));
            q.seen = q.seen.wrapping_add(1);
            self.log.push((queue, request));
        }
    }
}

impl Transport for FakeTransport {
    fn device_type(&self) -> DeviceType {
        DeviceType::_9P
    }
    fn read_device_features(&mut self) -> u64 {
        FEATURE_VERSION_1 | 1 // plus a feature we must not accept
    }
    fn write_driver_features(&mut self, driver_features: u64) {
        assert_eq!(driver_features, FEATURE_VERSION_1);
    }
    fn max_queue_size(&mut self, _queue: u16) -> u32 {
        128
    }
    fn notify(&mut self, queue: u16) {
        self.0.lock().process(queue);
    }
    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_retain(self.0.lock().status)
    }
    fn set_status(&mut self, status: DeviceStatus) {
        let mut state = self.0.lock();
        let mut bits = status.bits();
        if !state.features_ok_sticks {
            bits &= !DeviceStatus::FEATURES_OK.bits();
        }
        if bits == 0 && state.status & DeviceStatus::DRIVER_OK.bits() != 0 {
            state.resets_after_init += 1;
        }
        state.status = bits;
    }
    fn set_guest_page_size(&mut self, _guest_page_size: u32) {}
    fn requires_legacy_layout(&self) -> bool {
        false
    }
    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        desc: PhysAddr,
        avail: PhysAddr,
        used: PhysAddr,
    ) {
        self.0.lock().queues[usize::from(queue)] = QueueAddrs {
            size,
            desc,
            avail,
            used,
            seen: 0,
        };
    }
    fn queue_unset(&mut self, _queue: u16) {}
    fn queue_used(&mut self, queue: u16) -> bool {
        self.0.lock().queues[usize::from(queue)].size != 0
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        InterruptStatus::empty()
    }
    fn read_config_generation(&self) -> u32 {
        0
    }
    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, Error> {
        let state = self.0.lock();
        let bytes = state
            .config
            .get(offset..offset + size_of::<T>())
            .ok_or(Error::ConfigSpaceTooSmall)?;
        T::read_from_bytes(bytes).map_err(|_| Error::ConfigSpaceTooSmall)
    }
    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        _o: usize,
        _v: T,
    ) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
}

fn device(fake: &FakeTransport) -> VirtioFsDevice<TestHal, FakeTransport> {
    VirtioFsDevice::new(fake.clone(), WaitLimit::Polls(10_000)).unwrap()
}

#[test]
fn reads_tag_and_queue_count() {
    let fake = FakeTransport::new(b"share", 1);
    let dev = device(&fake);
    assert_eq!(dev.tag(), "share");
    assert_eq!(dev.num_request_queues(), 1);
    assert!(fake.0.lock().status & DeviceStatus::DRIVER_OK.bits() != 0);
    // A 36-byte tag has no NUL.
    let full = FakeTransport::new(&[b'x'; 36], 2);
    assert_eq!(device(&full).tag().len(), 36);
}

#[test]
fn refuses_bad_setup() {
    let err = |fake: FakeTransport| {
        VirtioFsDevice::<TestHal, _>::new(fake, WaitLimit::Polls(10))
            .err()
            .unwrap()
    };
    assert_eq!(err(FakeTransport::new(b"", 1)), VirtioFsError::BadTag);
    assert_eq!(
        err(FakeTransport::new(&[0xff, 0xfe], 1)),
        VirtioFsError::BadTag
    );
    assert_eq!(
        err(FakeTransport::new(b"t", 0)),
        VirtioFsError::NoRequestQueue
    );
    let stubborn = FakeTransport::new(b"t", 1);
    stubborn.0.lock().features_ok_sticks = false;
    assert_eq!(err(stubborn.clone()), VirtioFsError::FeaturesRefused);
    assert!(stubborn.0.lock().status & DeviceStatus::FAILED.bits() != 0);
}

#[test]
fn request_and_reply_go_straight_through_caller_buffers() {
    let fake = FakeTransport::new(b"share", 1);
    let dev = device(&fake);
    let header = [1u8, 2, 3];
    let data: Vec<u8> = (0..200u8).collect();
    let mut reply_header = [0u8; 16];
    let mut reply_data = vec![0u8; 300];
    let n = dev
        .call(
            &[&header, &[], &data],
            &mut [&mut reply_header, &mut [], &mut reply_data],
        )
        .unwrap();
    assert_eq!(n, 16 + 203);
    assert_eq!(reply_header, [0xAA; 16]);
    let mut expected: Vec<u8> = header.iter().chain(&data).copied().collect();
    expected.reverse();
    assert_eq!(&reply_data[..203], &expected[..]);
    assert!(reply_data[203..].iter().all(|&b| b == 0));
    let state = fake.0.lock();
    assert_eq!(state.log.len(), 1);
    assert_eq!(state.log[0].0, REQUEST_QUEUE);
    drop(state);
    assert_eq!(dev.stats().messages, 1);
    // Many calls reuse the ring (wraps past the queue size).
    for i in 0..100u8 {
        let mut r = [0u8; 17];
        assert_eq!(dev.call(&[&[i]], &mut [&mut r]).unwrap(), 17);
        assert_eq!(r[16], i);
    }
}

#[test]
fn oneway_messages_use_the_high_priority_queue() {
    let fake = FakeTransport::new(b"share", 1);
    let dev = device(&fake);
    dev.send_oneway(&[&[9u8; 8]]).unwrap();
    assert_eq!(fake.0.lock().log[0].0, HIPRIO_QUEUE);
}

#[test]
fn too_many_segments_or_none() {
    let fake = FakeTransport::new(b"share", 1);
    let dev = device(&fake);
    let byte = [0u8; 1];
    let many: Vec<&[u8]> = vec![&byte; QUEUE_SIZE + 1];
    assert_eq!(dev.call(&many, &mut []), Err(TransportError::TooLarge));
    let mut r = [[0u8; 1]; QUEUE_SIZE];
    let mut replies: Vec<&mut [u8]> = r.iter_mut().map(|b| &mut b[..]).collect();
    assert_eq!(
        dev.call(&[&byte], &mut replies),
        Err(TransportError::TooLarge)
    );
    assert_eq!(dev.call(&[&[]], &mut []), Err(TransportError::TooLarge));
    // Still usable.
    let mut ok = [0u8; 17];
    assert_eq!(dev.call(&[&byte], &mut [&mut ok]), Ok(17));
}

#[test]
fn silent_device_times_out_then_stays_broken() {
    let fake = FakeTransport::new(b"share", 1);
    let dev = device(&fake);
    fake.set(Behaviour::Silent);
    let mut r = [0u8; 32];
    assert_eq!(
        dev.call(&[&[1]], &mut [&mut r]),
        Err(TransportError::Timeout)
    );
    assert!(dev.is_broken());
    assert_eq!(fake.0.lock().resets_after_init, 1, "device was reset");
    fake.set(Behaviour::Echo);
    assert_eq!(
        dev.call(&[&[1]], &mut [&mut r]),
        Err(TransportError::Broken)
    );
    assert_eq!(dev.send_oneway(&[&[1]]), Err(TransportError::Broken));
}

#[test]
fn clock_deadline_bounds_the_wait() {
    use core::sync::atomic::{AtomicU64, Ordering};
    static NOW: AtomicU64 = AtomicU64::new(0);
    // Each reading advances 1 ms: a 50 ms limit ends after ~50 readings.
    fn now_ns() -> u64 {
        NOW.fetch_add(1_000_000, Ordering::Relaxed)
    }
    let fake = FakeTransport::new(b"share", 1);
    let dev = VirtioFsDevice::<TestHal, _>::new(
        fake.clone(),
        WaitLimit::Clock {
            now_ns,
            timeout_ns: 50_000_000,
        },
    )
    .unwrap();
    let mut r = [0u8; 17];
    assert_eq!(dev.call(&[&[1]], &mut [&mut r]), Ok(17));
    fake.set(Behaviour::Silent);
    let before = NOW.load(Ordering::Relaxed);
    assert_eq!(
        dev.call(&[&[1]], &mut [&mut r]),
        Err(TransportError::Timeout)
    );
    let readings = (NOW.load(Ordering::Relaxed) - before) / 1_000_000;
    assert!((50..60).contains(&readings), "{readings} clock readings");
}

#[test]
fn used_length_beyond_the_buffers_is_a_device_error() {
    let fake = FakeTransport::new(b"share", 1);
    let dev = device(&fake);
    fake.set(Behaviour::OverlongUsed);
    let mut r = [0u8; 20];
    assert_eq!(
        dev.call(&[&[1]], &mut [&mut r]),
        Err(TransportError::Device)
    );
    // The chain was returned properly, so the device stays usable.
    fake.set(Behaviour::Echo);
    assert_eq!(dev.call(&[&[1]], &mut [&mut r]), Ok(17));
}

#[test]
fn completing_a_chain_we_did_not_give_breaks_the_device() {
    let fake = FakeTransport::new(b"share", 1);
    let dev = device(&fake);
    fake.set(Behaviour::WrongId);
    let mut r = [0u8; 20];
    assert_eq!(
        dev.call(&[&[1]], &mut [&mut r]),
        Err(TransportError::Device)
    );
    assert!(dev.is_broken());
    assert_eq!(
        dev.call(&[&[1]], &mut [&mut r]),
        Err(TransportError::Broken)
    );
}
