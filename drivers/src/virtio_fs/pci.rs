//! virtio-fs on PCI (q35's `vhost-user-fs-pci`, id `1af4:105a`).
//!
//! virtio-drivers' `PciTransport` does everything a modern virtio-pci
//! function needs (capabilities, BAR regions, common config, notify), but its
//! constructor maps the PCI device id to its device-type enum first, which
//! has no filesystem entry, and refuses the function. [`pci_transport`]
//! builds it anyway by reading configuration space through a thin wrapper
//! that shows that one function's device id as a type the enum knows; every
//! other register, and every other function, reads through unchanged.

use virtio_drivers::Hal;
use virtio_drivers::transport::pci::bus::{
    ConfigurationAccess, DeviceFunction, DeviceFunctionInfo, PciRoot,
};
use virtio_drivers::transport::pci::{PciTransport, VirtioPciError};

use super::DEVICE_ID;

/// PCI vendor id of virtio devices.
const VIRTIO_VENDOR_ID: u16 = 0x1af4;
/// Modern virtio PCI device ids are 0x1040 + the virtio device id.
const MODERN_ID_BASE: u16 = 0x1040;
/// The PCI device id of a virtio-fs function. There is no transitional id:
/// virtio-fs is modern only.
pub const PCI_DEVICE_ID: u16 = MODERN_ID_BASE + DEVICE_ID as u16;
/// The id shown to `PciTransport::new`: 9P, the nearest kind it knows.
const STAND_IN_ID: u16 = MODERN_ID_BASE + 9;

/// Whether an enumerated PCI function is a virtio-fs device.
pub fn is_virtio_fs(info: &DeviceFunctionInfo) -> bool {
    info.vendor_id == VIRTIO_VENDOR_ID && info.device_id == PCI_DEVICE_ID
}

/// virtio-drivers' `PciTransport` for the virtio-fs function `function`,
/// reached through `access` (the same configuration access the probing code
/// uses). Its BARs must already be assigned and decoding enabled, as for
/// any `PciTransport::new`.
pub fn pci_transport<H: Hal, C: ConfigurationAccess>(
    access: C,
    function: DeviceFunction,
) -> Result<PciTransport, VirtioPciError> {
    let id_word = access.read_word(function, 0);
    let (vendor, device) = (id_word as u16, (id_word >> 16) as u16);
    if vendor != VIRTIO_VENDOR_ID {
        return Err(VirtioPciError::InvalidVendorId(vendor));
    }
    if device != PCI_DEVICE_ID {
        return Err(VirtioPciError::InvalidDeviceId(device));
    }
    let mut root = PciRoot::new(StandInId::new(access, function));
    PciTransport::new::<H, _>(&mut root, function)
}

/// Configuration access that reports [`STAND_IN_ID`] as `function`'s device id.
pub(super) struct StandInId<C> {
    inner: C,
    function: DeviceFunction,
}

impl<C> StandInId<C> {
    pub(super) fn new(inner: C, function: DeviceFunction) -> Self {
        StandInId { inner, function }
    }
}

impl<C: ConfigurationAccess> ConfigurationAccess for StandInId<C> {
    fn read_word(&self, device_function: DeviceFunction, register_offset: u8) -> u32 {
        let word = self.inner.read_word(device_function, register_offset);
        if device_function == self.function && register_offset == 0 {
            (word & 0xffff) | (u32::from(STAND_IN_ID) << 16)
        } else {
            word
        }
    }

    fn write_word(&mut self, device_function: DeviceFunction, register_offset: u8, data: u32) {
        self.inner
            .write_word(device_function, register_offset, data);
    }

    unsafe fn unsafe_clone(&self) -> Self {
        StandInId {
            // SAFETY: our caller takes on the same duty as for the inner
            // access (clones must not be used concurrently).
            inner: unsafe { self.inner.unsafe_clone() },
            function: self.function,
        }
    }
}
