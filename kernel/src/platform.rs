//! The kernel's side of the seam to `init`: the serial console, the TSC
//! clock, the virtio disks' counters and the heap size, as an
//! [`init::Platform`]; and the serial console as devfs's `/dev/console`.

use alloc::sync::Arc;
use alloc::vec::Vec;

use alloc::string::ToString;

use drivers::FuseTransport;
use drivers::virtio::VirtioBlk;
use drivers::virtio_fs::{MmioFsDevice, PciFsDevice, Stats};
use init::{DiskStats, Share};
use vfs::Clock;

use crate::{serial, time};

/// An address above the 4 GiB identity map: reading it page-faults.
const UNMAPPED_ADDRESS: usize = 0x10_0000_0000;

pub struct KernelPlatform {
    /// Bytes the heap allocator was given.
    pub heap_bytes: u64,
    /// The virtio disks, for request statistics.
    pub virtio_disks: Vec<Arc<VirtioBlk>>,
    /// The virtio-fs devices, handed to init by tag.
    pub shares: Vec<ShareDevice>,
}

/// A virtio-fs device on either transport.
pub enum ShareDevice {
    Pci(Arc<PciFsDevice>),
    Mmio(Arc<MmioFsDevice>),
}

impl ShareDevice {
    pub fn tag(&self) -> &str {
        match self {
            ShareDevice::Pci(d) => d.tag(),
            ShareDevice::Mmio(d) => d.tag(),
        }
    }

    pub fn num_request_queues(&self) -> u32 {
        match self {
            ShareDevice::Pci(d) => d.num_request_queues(),
            ShareDevice::Mmio(d) => d.num_request_queues(),
        }
    }

    fn stats(&self) -> Stats {
        match self {
            ShareDevice::Pci(d) => d.stats(),
            ShareDevice::Mmio(d) => d.stats(),
        }
    }

    fn transport(&self) -> Arc<dyn FuseTransport> {
        match self {
            ShareDevice::Pci(d) => d.clone(),
            ShareDevice::Mmio(d) => d.clone(),
        }
    }
}

impl init::Platform for KernelPlatform {
    fn console_write(&self, bytes: &[u8]) {
        serial::write_bytes(bytes);
    }

    fn console_read_byte(&self) -> Option<u8> {
        serial::try_read_byte()
    }

    fn now_ns(&self) -> u64 {
        time::now_ns()
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(time::KernelClock)
    }

    fn disk_stats(&self) -> DiskStats {
        let mut total = DiskStats::default();
        for disk in &self.virtio_disks {
            let s = disk.stats();
            total.requests += s.requests;
            total.bytes += s.bytes;
        }
        total
    }

    fn shares(&self) -> Vec<Share> {
        self.shares
            .iter()
            .map(|s| Share {
                tag: s.tag().to_string(),
                transport: s.transport(),
            })
            .collect()
    }

    fn share_stats(&self) -> DiskStats {
        let mut total = DiskStats::default();
        for share in &self.shares {
            let s = share.stats();
            total.requests += s.messages;
            total.bytes += s.bytes;
        }
        total
    }

    fn heap_bytes(&self) -> u64 {
        self.heap_bytes
    }

    fn read_unmapped(&self) -> Option<u64> {
        // SAFETY: deliberately faults (the address is outside every mapping);
        // the page-fault handler reports it and exits the VM.
        Some(unsafe { core::ptr::read_volatile(UNMAPPED_ADDRESS as *const u64) })
    }
}

/// The serial console as devfs's /dev/console. Reads never block: they
/// return the bytes already waiting (0 if none).
pub struct SerialConsole;

impl fs_devfs::Console for SerialConsole {
    fn write(&self, data: &[u8]) {
        serial::write_bytes(data);
    }

    fn read(&self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        for slot in buf.iter_mut() {
            match serial::try_read_byte() {
                Some(b) => {
                    *slot = b;
                    n += 1;
                }
                None => break,
            }
        }
        n
    }
}
