//! A virtio-mmio transport (legacy version 1 and modern version 2) that
//! accepts a virtio-fs device, which virtio-drivers' own `MmioTransport`
//! refuses (its device-type enum stops at 25). Register layout from the
//! virtio 1.2 spec, 4.2.2 (modern) and 4.2.4 (legacy).

use core::hint::spin_loop;

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error, PAGE_SIZE, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::DEVICE_ID;

const MAGIC: usize = 0x000;
const VERSION: usize = 0x004;
const DEVICE: usize = 0x008;
const DEVICE_FEATURES: usize = 0x010;
const DEVICE_FEATURES_SEL: usize = 0x014;
const DRIVER_FEATURES: usize = 0x020;
const DRIVER_FEATURES_SEL: usize = 0x024;
const LEGACY_GUEST_PAGE_SIZE: usize = 0x028;
const QUEUE_SEL: usize = 0x030;
const QUEUE_NUM_MAX: usize = 0x034;
const QUEUE_NUM: usize = 0x038;
const LEGACY_QUEUE_ALIGN: usize = 0x03c;
const LEGACY_QUEUE_PFN: usize = 0x040;
const QUEUE_READY: usize = 0x044;
const QUEUE_NOTIFY: usize = 0x050;
const INTERRUPT_STATUS: usize = 0x060;
const INTERRUPT_ACK: usize = 0x064;
const STATUS: usize = 0x070;
const QUEUE_DESC_LOW: usize = 0x080;
const QUEUE_DESC_HIGH: usize = 0x084;
const QUEUE_DRIVER_LOW: usize = 0x090;
const QUEUE_DRIVER_HIGH: usize = 0x094;
const QUEUE_DEVICE_LOW: usize = 0x0a0;
const QUEUE_DEVICE_HIGH: usize = 0x0a4;
const CONFIG_GENERATION: usize = 0x0fc;
const CONFIG: usize = 0x100;

const MAGIC_VALUE: u32 = 0x7472_6976;
/// Polls of `QueueReady` reading back 0 after a queue is disabled.
const UNSET_POLLS: u32 = 1_000_000;

/// Why a slot is not a usable virtio-fs device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioFsError {
    /// No virtio magic at the address.
    BadMagic(u32),
    /// A version other than 1 (legacy) or 2 (modern).
    BadVersion(u32),
    /// A virtio device, but not a filesystem.
    NotFs(u32),
    /// The region is too small for the registers and the config space.
    TooSmall(usize),
}

/// A virtio-mmio region holding a virtio-fs device.
pub struct MmioFsTransport {
    base: usize,
    size: usize,
    legacy: bool,
}

impl MmioFsTransport {
    /// The device id in the slot at `base`, if it holds a virtio-mmio device
    /// at all: lets probing code pick this transport for id 26 before
    /// virtio-drivers' `MmioTransport::new` refuses it.
    ///
    /// # Safety
    /// `base` must be identity-mapped, readable MMIO (or memory that reads
    /// harmlessly) of at least 12 bytes.
    pub unsafe fn device_id_at(base: usize) -> Option<u32> {
        // SAFETY: the caller promises the first words are readable; the
        // magic and device-id registers have no read side effects.
        let (magic, id) = unsafe {
            let p = base as *const u32;
            (p.read_volatile(), p.add(2).read_volatile())
        };
        (magic == MAGIC_VALUE && id != 0).then_some(id)
    }

    /// The transport for the virtio-fs device at `base`, whose slot is
    /// `size` bytes (512 on microvm).
    ///
    /// # Safety
    /// `base .. base + size` must be an identity-mapped, uncached virtio-mmio
    /// register region that stays mapped, and is used by nothing else, for
    /// the rest of the kernel's life.
    pub unsafe fn new(base: usize, size: usize) -> Result<Self, MmioFsError> {
        // The config space we read: tag[36] and num_request_queues.
        if size < CONFIG + 40 || base.checked_add(size).is_none() || !base.is_multiple_of(4) {
            return Err(MmioFsError::TooSmall(size));
        }
        let probe = MmioFsTransport {
            base,
            size,
            legacy: false,
        };
        let magic = probe.read(MAGIC);
        if magic != MAGIC_VALUE {
            return Err(MmioFsError::BadMagic(magic));
        }
        let version = probe.read(VERSION);
        if version != 1 && version != 2 {
            return Err(MmioFsError::BadVersion(version));
        }
        let id = probe.read(DEVICE);
        if id != DEVICE_ID {
            return Err(MmioFsError::NotFs(id));
        }
        Ok(MmioFsTransport {
            legacy: version == 1,
            ..probe
        })
    }

    /// Where the registers are.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Whether the device speaks the legacy (version 1) register layout.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    fn read(&self, offset: usize) -> u32 {
        // SAFETY: `new`'s caller promised the region is mapped MMIO; every
        // offset used is a register inside it (all below 0x100 + 40, which
        // `new` checked against the size) and 4-byte aligned.
        unsafe { ((self.base + offset) as *const u32).read_volatile() }
    }

    fn write(&mut self, offset: usize, value: u32) {
        // SAFETY: as in `read`; we own the device, so writing its registers
        // affects nothing else.
        unsafe { ((self.base + offset) as *mut u32).write_volatile(value) }
    }

    fn select_queue(&mut self, queue: u16) {
        self.write(QUEUE_SEL, u32::from(queue));
    }
}

impl Transport for MmioFsTransport {
    fn device_type(&self) -> DeviceType {
        // virtio-drivers 0.13 has no variant for 26; see the module docs.
        DeviceType::_9P
    }

    fn read_device_features(&mut self) -> u64 {
        self.write(DEVICE_FEATURES_SEL, 0);
        let low = self.read(DEVICE_FEATURES);
        self.write(DEVICE_FEATURES_SEL, 1);
        let high = self.read(DEVICE_FEATURES);
        u64::from(low) | (u64::from(high) << 32)
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        self.write(DRIVER_FEATURES_SEL, 0);
        self.write(DRIVER_FEATURES, driver_features as u32);
        self.write(DRIVER_FEATURES_SEL, 1);
        self.write(DRIVER_FEATURES, (driver_features >> 32) as u32);
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.select_queue(queue);
        self.read(QUEUE_NUM_MAX)
    }

    fn notify(&mut self, queue: u16) {
        self.write(QUEUE_NOTIFY, u32::from(queue));
    }

    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_retain(self.read(STATUS))
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.write(STATUS, status.bits());
    }

    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        if self.legacy {
            self.write(LEGACY_GUEST_PAGE_SIZE, guest_page_size);
        }
    }

    fn requires_legacy_layout(&self) -> bool {
        self.legacy
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        self.select_queue(queue);
        self.write(QUEUE_NUM, size);
        if self.legacy {
            // The legacy layout is one page-aligned block (virtio-drivers
            // allocates it so): the device finds the rings from the PFN.
            let Ok(pfn) = u32::try_from(descriptors / PAGE_SIZE as u64) else {
                log::error!("virtio-fs: queue {queue} above the legacy 16 TiB limit");
                return;
            };
            self.write(LEGACY_QUEUE_ALIGN, PAGE_SIZE as u32);
            self.write(LEGACY_QUEUE_PFN, pfn);
        } else {
            self.write(QUEUE_DESC_LOW, descriptors as u32);
            self.write(QUEUE_DESC_HIGH, (descriptors >> 32) as u32);
            self.write(QUEUE_DRIVER_LOW, driver_area as u32);
            self.write(QUEUE_DRIVER_HIGH, (driver_area >> 32) as u32);
            self.write(QUEUE_DEVICE_LOW, device_area as u32);
            self.write(QUEUE_DEVICE_HIGH, (device_area >> 32) as u32);
            self.write(QUEUE_READY, 1);
        }
    }

    fn queue_unset(&mut self, queue: u16) {
        self.select_queue(queue);
        if self.legacy {
            self.write(QUEUE_NUM, 0);
            self.write(LEGACY_QUEUE_ALIGN, 0);
            self.write(LEGACY_QUEUE_PFN, 0);
            return;
        }
        self.write(QUEUE_READY, 0);
        // 4.2.2.2: read back 0 before reusing the queue's memory (bounded).
        for _ in 0..UNSET_POLLS {
            if self.read(QUEUE_READY) == 0 {
                break;
            }
            spin_loop();
        }
        for reg in [
            QUEUE_NUM,
            QUEUE_DESC_LOW,
            QUEUE_DESC_HIGH,
            QUEUE_DRIVER_LOW,
            QUEUE_DRIVER_HIGH,
            QUEUE_DEVICE_LOW,
            QUEUE_DEVICE_HIGH,
        ] {
            self.write(reg, 0);
        }
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.select_queue(queue);
        if self.legacy {
            self.read(LEGACY_QUEUE_PFN) != 0
        } else {
            self.read(QUEUE_READY) != 0
        }
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        let pending = self.read(INTERRUPT_STATUS);
        if pending != 0 {
            self.write(INTERRUPT_ACK, pending);
        }
        InterruptStatus::from_bits_truncate(pending)
    }

    fn read_config_generation(&self) -> u32 {
        if self.legacy {
            0
        } else {
            self.read(CONFIG_GENERATION)
        }
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, Error> {
        let len = size_of::<T>();
        let end = offset
            .checked_add(len)
            .and_then(|e| e.checked_add(CONFIG))
            .ok_or(Error::ConfigSpaceTooSmall)?;
        if end > self.size {
            return Err(Error::ConfigSpaceTooSmall);
        }
        let mut value = T::new_zeroed();
        // Byte by byte: any width is valid for the config space and no
        // access is wider than the device emulates.
        for (i, byte) in value.as_mut_bytes().iter_mut().enumerate() {
            // SAFETY: `CONFIG + offset + i < end <= size`, inside the region
            // `new`'s caller vouched for; config reads have no side effects.
            *byte = unsafe { ((self.base + CONFIG + offset + i) as *const u8).read_volatile() };
        }
        Ok(value)
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<(), Error> {
        let bytes = value.as_bytes();
        let end = offset
            .checked_add(bytes.len())
            .and_then(|e| e.checked_add(CONFIG))
            .ok_or(Error::ConfigSpaceTooSmall)?;
        if end > self.size {
            return Err(Error::ConfigSpaceTooSmall);
        }
        for (i, &byte) in bytes.iter().enumerate() {
            // SAFETY: inside the region, as in `read_config_space`.
            unsafe { ((self.base + CONFIG + offset + i) as *mut u8).write_volatile(byte) };
        }
        Ok(())
    }
}
