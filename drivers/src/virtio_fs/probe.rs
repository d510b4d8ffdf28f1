//! Finding virtio-fs devices on the two QEMU machines the kernel boots on,
//! the way `virtio::probe_pci` / `virtio::probe_mmio` find disks.

use alloc::vec::Vec;

use virtio_drivers::transport::pci::PciTransport;

use super::pci::{is_virtio_fs, pci_transport};
use super::{DEVICE_ID, MmioFsTransport, VirtioFsDevice, WaitLimit};
use crate::pci::{PciBus, PortIoCam};
use crate::virtio::{IdentityHal, Location};

/// A virtio-fs device on PCI (q35: `vhost-user-fs-pci`).
pub type PciFsDevice = VirtioFsDevice<IdentityHal, PciTransport>;
/// A virtio-fs device on virtio-mmio (microvm: `vhost-user-fs-device`).
pub type MmioFsDevice = VirtioFsDevice<IdentityHal, MmioFsTransport>;

/// The virtio-fs functions on `bus`, each claimed (BARs placed), its
/// transport built and the device enabled and set up. Functions that fail
/// are logged and skipped.
pub fn probe_pci(bus: &mut PciBus, wait: WaitLimit) -> Vec<(Location, PciFsDevice)> {
    let mut found = Vec::new();
    let functions: Vec<_> = bus
        .functions()
        .iter()
        .filter(|(_, info)| is_virtio_fs(info))
        .map(|(df, _)| *df)
        .collect();
    for df in functions {
        let location = Location::Pci {
            bus: df.bus,
            device: df.device,
            function: df.function,
        };
        let Ok(claimed) = bus.claim(df) else {
            log::warn!("virtio-fs at {location}: no room for its BARs");
            continue;
        };
        let transport = pci_transport::<IdentityHal, _>(PortIoCam, df);
        bus.enable(claimed);
        match transport.map(|t| VirtioFsDevice::new(t, wait)) {
            Ok(Ok(device)) => found.push((location, device)),
            Ok(Err(e)) => log::warn!("virtio-fs at {location}: {e}"),
            Err(e) => log::warn!("virtio-fs at {location}: {e:?}"),
        }
    }
    found
}

/// The virtio-fs devices in `count` virtio-mmio slots of `stride` bytes from
/// `base` (microvm: 0xfeb0_0000, 512, 24), highest slot first, which is
/// QEMU's command-line order.
///
/// # Safety
/// The range must be identity-mapped, uncached MMIO (or unbacked memory
/// that reads harmlessly) for the rest of the kernel's life, and the slots
/// holding virtio-fs devices must be used by nothing else.
pub unsafe fn probe_mmio(
    base: usize,
    stride: usize,
    count: usize,
    wait: WaitLimit,
) -> Vec<(Location, MmioFsDevice)> {
    let mut found = Vec::new();
    for slot in (0..count).rev() {
        let Some(addr) = slot.checked_mul(stride).and_then(|o| o.checked_add(base)) else {
            break;
        };
        // SAFETY: the caller promises every slot is readable MMIO.
        if unsafe { MmioFsTransport::device_id_at(addr) } != Some(DEVICE_ID) {
            continue;
        }
        let location = Location::Mmio { base: addr };
        // SAFETY: the slot holds a virtio-mmio device that stays mapped and
        // is ours alone (the caller's promise).
        match unsafe { MmioFsTransport::new(addr, stride) }.map(|t| VirtioFsDevice::new(t, wait)) {
            Ok(Ok(device)) => found.push((location, device)),
            Ok(Err(e)) => log::warn!("virtio-fs at {location}: {e}"),
            Err(e) => log::warn!("virtio-fs at {location}: {e:?}"),
        }
    }
    found
}
