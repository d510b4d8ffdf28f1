//! virtio-blk over the `virtio-drivers` crate, for the kernel.
//!
//! Discovery covers the two QEMU x86 machines the kernel boots on:
//! - PCI (q35, pc): [`probe_pci`] claims every virtio-blk function on bus 0
//!   through [`crate::pci`] (configuration ports, BAR assignment where
//!   firmware left none, enabling) and builds a PCI transport for it.
//! - virtio-mmio (microvm): [`probe_mmio`] checks a range of slots for the
//!   virtio magic.
//!
//! # Memory model
//! [`IdentityHal`] assumes physical == virtual addresses for all memory the
//! kernel uses (heap, stack, statics, MMIO). That is what lets
//! [`VirtioBlk::read_blocks`] hand the caller's buffer straight to the device:
//! no bounce buffer, no copy.
//!
//! # Request size
//! Each request costs a fixed ~50 µs under TCG, so a read is split into as
//! few requests as possible: one request per [`VirtioBlk::max_request_bytes`]
//! (the device's `size_max` when it announces one, else 64 MiB), each a
//! single descriptor pointing into the caller's buffer.

use alloc::alloc::{Layout, alloc_zeroed, dealloc};
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use virtio_drivers::device::blk::{SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::pci::{PciTransport, virtio_device_type};
use virtio_drivers::transport::{DeviceType, SomeTransport, Transport};
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

use crate::pci::PciBus;
use crate::{BlockDevice, BlockError, check_request};

/// Upper bound on one request when the device sets no `size_max`. Big enough
/// that the per-request cost vanishes, small enough to stay far from QEMU's
/// 2 GiB per-request limit.
const DEFAULT_MAX_REQUEST: usize = 64 << 20;

/// `VIRTIO_BLK_F_SIZE_MAX`: `size_max` in the config space is valid.
const FEATURE_SIZE_MAX: u64 = 1 << 1;
/// Offset of `size_max` in the virtio-blk config space.
const CONFIG_SIZE_MAX: usize = 8;

/// DMA for an identity-mapped kernel: memory comes from the global allocator,
/// page-aligned, and its address is its physical address.
pub struct IdentityHal;

// SAFETY: dma_alloc returns zeroed, page-aligned, exclusively owned memory
// whose physical address equals its virtual one (identity mapping, see the
// module docs); share/unshare need no work because devices see the same
// addresses as the CPU and x86 DMA is cache-coherent.
unsafe impl Hal for IdentityHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let layout = dma_layout(pages);
        // SAFETY: the layout has a non-zero size (at least one page).
        let ptr = unsafe { alloc_zeroed(layout) };
        match NonNull::new(ptr) {
            Some(nn) => (ptr as usize as PhysAddr, nn),
            None => alloc::alloc::handle_alloc_error(layout),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: the caller passes back a region from dma_alloc with the same page count.
        unsafe { dealloc(vaddr.as_ptr(), dma_layout(pages)) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Identity mapping. A zero BAR is rejected before a transport is built.
        NonNull::new(paddr as usize as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr() as *mut u8 as usize as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

fn dma_layout(pages: usize) -> Layout {
    let size = pages.max(1).saturating_mul(PAGE_SIZE);
    Layout::from_size_align(size, PAGE_SIZE).unwrap_or(Layout::new::<[u8; PAGE_SIZE]>())
}

/// Where a [`VirtioBlk`] was found, for boot messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Pci { bus: u8, device: u8, function: u8 },
    Mmio { base: usize },
}

impl core::fmt::Display for Location {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Location::Pci {
                bus,
                device,
                function,
            } => {
                write!(f, "pci {bus:02x}:{device:02x}.{function}")
            }
            Location::Mmio { base } => write!(f, "virtio-mmio@{base:#x}"),
        }
    }
}

/// A virtio-blk disk.
pub struct VirtioBlk {
    inner: spin::Mutex<VirtIOBlk<IdentityHal, SomeTransport<'static>>>,
    num_blocks: u64,
    read_only: bool,
    max_request_bytes: usize,
    location: Location,
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// Request counters of one disk, for diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Read and write requests sent to the device.
    pub requests: u64,
    /// Bytes they moved.
    pub bytes: u64,
}

// SAFETY: the driver holds raw pointers to identity-mapped MMIO and DMA memory
// that stays valid for the kernel's lifetime; every access goes through the
// mutex, so one CPU at a time drives the device.
unsafe impl Send for VirtioBlk {}
// SAFETY: as above; `&VirtioBlk` only reaches the device through the mutex.
unsafe impl Sync for VirtioBlk {}

impl VirtioBlk {
    fn new(mut transport: SomeTransport<'static>, location: Location) -> Option<VirtioBlk> {
        if transport.device_type() != DeviceType::Block {
            return None;
        }
        let mut max_request_bytes = DEFAULT_MAX_REQUEST;
        if transport.read_device_features() & FEATURE_SIZE_MAX != 0
            && let Ok(size_max) = transport.read_config_space::<u32>(CONFIG_SIZE_MAX)
        {
            // size_max is per segment; we use one data segment per request.
            let size_max = (size_max as usize) / SECTOR_SIZE * SECTOR_SIZE;
            if size_max >= SECTOR_SIZE {
                max_request_bytes = max_request_bytes.min(size_max);
            }
        }
        match VirtIOBlk::<IdentityHal, _>::new(transport) {
            Ok(blk) => Some(VirtioBlk {
                num_blocks: blk.capacity(),
                read_only: blk.readonly(),
                inner: spin::Mutex::new(blk),
                max_request_bytes,
                location,
                requests: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
            }),
            Err(e) => {
                log::warn!("virtio-blk at {location}: init failed: {e:?}");
                None
            }
        }
    }

    /// Where the device was found.
    pub fn location(&self) -> Location {
        self.location
    }

    /// The largest single request this driver sends.
    pub fn max_request_bytes(&self) -> usize {
        self.max_request_bytes
    }

    /// Requests and bytes so far.
    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    fn count(&self, bytes: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

impl BlockDevice for VirtioBlk {
    fn block_size(&self) -> usize {
        SECTOR_SIZE
    }

    fn num_blocks(&self) -> u64 {
        self.num_blocks
    }

    fn read_blocks(&self, start: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(SECTOR_SIZE, self.num_blocks, start, buf.len())?;
        let mut dev = self.inner.lock();
        let mut block = start;
        for chunk in buf.chunks_mut(self.max_request_bytes) {
            let id = usize::try_from(block).map_err(|_| BlockError::OutOfRange)?;
            dev.read_blocks(id, chunk).map_err(|_| BlockError::Io)?;
            self.count(chunk.len());
            block += (chunk.len() / SECTOR_SIZE) as u64;
        }
        Ok(())
    }

    fn write_blocks(&self, start: u64, buf: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_request(SECTOR_SIZE, self.num_blocks, start, buf.len())?;
        let mut dev = self.inner.lock();
        let mut block = start;
        for chunk in buf.chunks(self.max_request_bytes) {
            let id = usize::try_from(block).map_err(|_| BlockError::OutOfRange)?;
            dev.write_blocks(id, chunk).map_err(|_| BlockError::Io)?;
            self.count(chunk.len());
            block += (chunk.len() / SECTOR_SIZE) as u64;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), BlockError> {
        if self.read_only {
            return Ok(());
        }
        self.inner.lock().flush().map_err(|_| BlockError::Io)
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }
}

/// Size of one virtio-mmio slot on microvm.
pub const MMIO_SLOT_SIZE: usize = 512;
const VIRTIO_MMIO_MAGIC: u32 = 0x7472_6976;

/// Find virtio-blk devices in `count` virtio-mmio slots of `stride` bytes
/// starting at `base` (microvm: 0xfeb0_0000, 512, 24). Slots are checked from
/// the highest down: QEMU's microvm gives the first `-device` on its command
/// line the highest slot, so the result follows the command-line order.
///
/// # Safety
/// The range must be identity-mapped, uncached MMIO (or unbacked memory that
/// reads harmlessly) for the rest of the kernel's life.
pub unsafe fn probe_mmio(base: usize, stride: usize, count: usize) -> Vec<VirtioBlk> {
    let mut found = Vec::new();
    for slot in (0..count).rev() {
        let Some(addr) = slot.checked_mul(stride).and_then(|o| o.checked_add(base)) else {
            break;
        };
        // SAFETY: the caller promises the slot is readable MMIO; the magic and
        // device-id registers are the first two words and reading them has no side effects.
        let (magic, device_id) = unsafe {
            let p = addr as *const u32;
            (p.read_volatile(), p.add(2).read_volatile())
        };
        // virtio-fs (26) is `virtio_fs::probe_mmio`'s, and virtio-drivers'
        // transport refuses it anyway.
        if magic != VIRTIO_MMIO_MAGIC || device_id == 0 || device_id == 26 {
            continue;
        }
        let Some(header) = NonNull::new(addr as *mut VirtIOHeader) else {
            continue;
        };
        // SAFETY: the slot holds a virtio-mmio device (checked above) that stays
        // mapped for the kernel's lifetime; nothing else touches it.
        let transport = match unsafe { MmioTransport::new(header, stride) } {
            Ok(t) => t,
            Err(e) => {
                log::warn!("virtio-mmio@{addr:#x}: {e:?}");
                continue;
            }
        };
        if let Some(blk) = VirtioBlk::new(transport.into(), Location::Mmio { base: addr }) {
            found.push(blk);
        }
    }
    found
}

/// Find virtio-blk devices on PCI bus 0. Memory BARs that are unassigned, or
/// outside the identity map (at or above `window_end`), are placed in
/// `[window_start, window_end)` above any BAR firmware already put there.
///
/// # Safety
/// `[window_start, window_end)` must be free physical address space routed to
/// PCI and identity-mapped uncached, as must any BAR firmware assigned below
/// `window_end`.
pub unsafe fn probe_pci(window_start: u64, window_end: u64) -> Vec<VirtioBlk> {
    let mut found = Vec::new();
    // SAFETY: the caller makes the promise `PciBus::scan` asks for.
    let Some(mut bus) = (unsafe { PciBus::scan(window_start, window_end) }) else {
        return found;
    };
    let blocks: Vec<_> = bus
        .functions()
        .iter()
        .filter(|(_, info)| virtio_device_type(info) == Some(DeviceType::Block))
        .map(|(df, _)| *df)
        .collect();
    for df in blocks {
        let location = Location::Pci {
            bus: df.bus,
            device: df.device,
            function: df.function,
        };
        let Ok(claimed) = bus.claim(df) else {
            log::warn!("virtio-blk at {location}: no room for its BARs");
            continue;
        };
        let transport = PciTransport::new::<IdentityHal, _>(bus.root(), df);
        bus.enable(claimed);
        match transport {
            Ok(transport) => {
                if let Some(blk) = VirtioBlk::new(transport.into(), location) {
                    found.push(blk);
                }
            }
            Err(e) => log::warn!("virtio-blk at {location}: {e:?}"),
        }
    }
    found
}
