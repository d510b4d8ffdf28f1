//! The two transports over stand-ins: the MMIO one over a register block in
//! ordinary memory (checked against the virtio 1.2 register offsets), the
//! PCI one over a fake configuration space.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use virtio_drivers::transport::Transport;
use virtio_drivers::transport::pci::VirtioPciError;
use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};

use super::mmio::{MmioFsError, MmioFsTransport};
use super::pci::StandInId;
use super::*;

/// 512 bytes of "registers", word-aligned.
#[repr(C, align(4096))]
struct Regs([u32; 128]);

fn regs(version: u32, device: u32) -> Box<Regs> {
    let mut r = Box::new(Regs([0; 128]));
    r.0[0] = 0x7472_6976;
    r.0[1] = version;
    r.0[2] = device;
    // Config space at 0x100: tag "share", then num_request_queues = 1.
    r.0[0x40] = u32::from_le_bytes(*b"shar");
    r.0[0x41] = u32::from(b'e');
    r.0[0x49] = 1;
    r
}

fn word(r: &Regs, offset: usize) -> u32 {
    // SAFETY: reading our own memory the transport wrote through a raw pointer.
    unsafe { core::ptr::read_volatile(&r.0[offset / 4]) }
}

fn transport(r: &mut Regs) -> Result<MmioFsTransport, MmioFsError> {
    // SAFETY: the block is ours, word-aligned and lives for the test.
    unsafe { MmioFsTransport::new(r.0.as_mut_ptr() as usize, 512) }
}

#[test]
fn mmio_refuses_what_is_not_a_filesystem() {
    let mut bad_magic = regs(2, 26);
    bad_magic.0[0] = 0;
    assert_eq!(
        transport(&mut bad_magic).err(),
        Some(MmioFsError::BadMagic(0))
    );
    assert_eq!(
        transport(&mut regs(3, 26)).err(),
        Some(MmioFsError::BadVersion(3))
    );
    assert_eq!(
        transport(&mut regs(2, 2)).err(),
        Some(MmioFsError::NotFs(2))
    );
    let mut small = regs(2, 26);
    // SAFETY: as in `transport`; the size is what is being refused.
    let too_small = unsafe { MmioFsTransport::new(small.0.as_mut_ptr() as usize, 0x120) };
    assert_eq!(too_small.err(), Some(MmioFsError::TooSmall(0x120)));
    let mut blk = regs(2, 2);
    // SAFETY: our own block.
    assert_eq!(
        unsafe { MmioFsTransport::device_id_at(blk.0.as_mut_ptr() as usize) },
        Some(2)
    );
    blk.0[0] = 1;
    // SAFETY: our own block.
    assert_eq!(
        unsafe { MmioFsTransport::device_id_at(blk.0.as_mut_ptr() as usize) },
        None
    );
}

#[test]
fn mmio_modern_registers_sit_where_the_spec_puts_them() {
    let mut r = regs(2, 26);
    let mut t = transport(&mut r).unwrap();
    assert!(!t.is_legacy() && !t.requires_legacy_layout());
    let tag: [u8; 4] = t.read_config_space(0).unwrap();
    assert_eq!(&tag, b"shar");
    let queues: u32 = t.read_config_space(36).unwrap();
    assert_eq!(queues, 1);
    assert!(t.read_config_space::<u32>(0x100).is_err(), "past the slot");
    t.queue_set(1, 16, 0x1_2345_6000, 0x1_2345_7000, 0x1_2345_8000);
    assert_eq!(word(&r, 0x030), 1, "QueueSel");
    assert_eq!(word(&r, 0x038), 16, "QueueNum");
    assert_eq!(
        (word(&r, 0x080), word(&r, 0x084)),
        (0x2345_6000, 1),
        "QueueDesc"
    );
    assert_eq!(
        (word(&r, 0x090), word(&r, 0x094)),
        (0x2345_7000, 1),
        "QueueDriver"
    );
    assert_eq!(
        (word(&r, 0x0a0), word(&r, 0x0a4)),
        (0x2345_8000, 1),
        "QueueDevice"
    );
    assert_eq!(word(&r, 0x044), 1, "QueueReady");
    assert!(t.queue_used(1));
    t.write_driver_features(FEATURE_VERSION_1 | 5);
    // The last write selected the high word.
    assert_eq!((word(&r, 0x024), word(&r, 0x020)), (1, 1));
    t.notify(1);
    assert_eq!(word(&r, 0x050), 1, "QueueNotify");
    t.set_status(DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER);
    assert_eq!(word(&r, 0x070), 3, "Status");
    assert_eq!(
        t.get_status(),
        DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER
    );
    t.queue_unset(1);
    assert_eq!((word(&r, 0x044), word(&r, 0x080)), (0, 0));
}

#[test]
fn mmio_legacy_uses_page_frames() {
    let mut r = regs(1, 26);
    let mut t = transport(&mut r).unwrap();
    assert!(t.is_legacy() && t.requires_legacy_layout());
    t.set_guest_page_size(4096);
    assert_eq!(word(&r, 0x028), 4096, "GuestPageSize");
    t.queue_set(0, 8, 0x5000_0000, 0x5000_0080, 0x5000_1000);
    assert_eq!(word(&r, 0x03c), 4096, "QueueAlign");
    assert_eq!(word(&r, 0x040), 0x5_0000, "QueuePFN");
    assert_eq!(word(&r, 0x044), 0, "no QueueReady in legacy");
    assert_eq!(t.read_config_generation(), 0);
}

/// A configuration space: words by (function, offset).
#[derive(Default)]
struct FakeConfig(Arc<spin::Mutex<BTreeMap<(u8, u8), u32>>>);

impl ConfigurationAccess for FakeConfig {
    fn read_word(&self, df: DeviceFunction, offset: u8) -> u32 {
        *self
            .0
            .lock()
            .get(&(df.device, offset))
            .unwrap_or(&0xffff_ffff)
    }
    fn write_word(&mut self, df: DeviceFunction, offset: u8, data: u32) {
        self.0.lock().insert((df.device, offset), data);
    }
    unsafe fn unsafe_clone(&self) -> Self {
        FakeConfig(self.0.clone())
    }
}

fn function(device: u8) -> DeviceFunction {
    DeviceFunction {
        bus: 0,
        device,
        function: 0,
    }
}

#[test]
fn pci_shows_the_stand_in_id_for_that_function_only() {
    let config = FakeConfig::default();
    config.0.lock().insert((3, 0), 0x105a_1af4);
    config.0.lock().insert((3, 4), 0x1234);
    config.0.lock().insert((4, 0), 0x105a_1af4);
    let shim = StandInId::new(FakeConfig(config.0.clone()), function(3));
    assert_eq!(shim.read_word(function(3), 0), 0x1049_1af4);
    assert_eq!(shim.read_word(function(3), 4), 0x1234);
    assert_eq!(shim.read_word(function(4), 0), 0x105a_1af4);
    let mut writer = shim;
    writer.write_word(function(3), 8, 7);
    assert_eq!(config.0.lock()[&(3, 8)], 7);
}

#[test]
fn pci_refuses_other_devices_before_touching_them() {
    let config = FakeConfig::default();
    config.0.lock().insert((1, 0), 0x1001_1af4); // virtio-blk
    config.0.lock().insert((2, 0), 0x105a_8086); // not virtio
    let err = |device| {
        pci_transport::<super::tests::TestHal, _>(FakeConfig(config.0.clone()), function(device))
            .err()
            .unwrap()
    };
    assert_eq!(err(1), VirtioPciError::InvalidDeviceId(0x1001));
    assert_eq!(err(2), VirtioPciError::InvalidVendorId(0x8086));
    assert_eq!(config.0.lock().len(), 2, "nothing written");
}
