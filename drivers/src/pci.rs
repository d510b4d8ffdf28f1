//! PCI bus 0 on x86, for the PCI transports of the virtio drivers.
//!
//! - Configuration space through the legacy 0xCF8/0xCFC ports ([`PortIoCam`]):
//!   the virtio capabilities live in the first 256 bytes, so ECAM is not
//!   needed.
//! - Enumeration of bus 0 ([`PciBus::scan`]) with the `virtio-drivers` PCI
//!   root, whose device and BAR types the transports take.
//! - BAR assignment for firmware that assigns none (qboot), or that put a BAR
//!   outside the identity map: such memory BARs get an address from a window
//!   the kernel reserves, above every BAR firmware already placed there.
//! - Enabling a device: memory and I/O decoding plus bus mastering.
//!
//! A driver [`PciBus::claim`]s a function (decoding off, BARs placed), builds
//! its transport, then [`PciBus::enable`]s it.
//!
//! Changing a device's decode bits makes QEMU rebuild its memory map, which is
//! slow under TCG, so a claimed device is switched off once while its BARs are
//! sized and placed, and other devices' BARs are only sized when a BAR has to
//! be placed (with qboot, whose devices all have decoding off).

use alloc::vec::Vec;
use core::arch::asm;

use virtio_drivers::transport::pci::bus::{
    BarInfo, Command, ConfigurationAccess, DeviceFunction, DeviceFunctionInfo, MemoryBarType,
    PciRoot,
};

const PCI_CONFIG_ADDRESS: u16 = 0xCF8;
const PCI_CONFIG_DATA: u16 = 0xCFC;

/// PCI configuration access through the legacy 0xCF8/0xCFC ports.
pub struct PortIoCam;

impl PortIoCam {
    fn select(device_function: DeviceFunction, register_offset: u8) {
        let address = 0x8000_0000u32
            | (u32::from(device_function.bus) << 16)
            | (u32::from(device_function.device & 0x1f) << 11)
            | (u32::from(device_function.function & 0x7) << 8)
            | u32::from(register_offset & 0xfc);
        // SAFETY: writing the PCI configuration address port selects a register; no memory effects.
        unsafe {
            asm!("out dx, eax", in("dx") PCI_CONFIG_ADDRESS, in("eax") address,
                 options(nomem, nostack, preserves_flags))
        };
    }
}

impl ConfigurationAccess for PortIoCam {
    fn read_word(&self, device_function: DeviceFunction, register_offset: u8) -> u32 {
        Self::select(device_function, register_offset);
        let value: u32;
        // SAFETY: reads the selected configuration register; no memory effects.
        unsafe {
            asm!("in eax, dx", out("eax") value, in("dx") PCI_CONFIG_DATA,
                 options(nomem, nostack, preserves_flags))
        };
        value
    }

    fn write_word(&mut self, device_function: DeviceFunction, register_offset: u8, data: u32) {
        Self::select(device_function, register_offset);
        // SAFETY: writes the selected configuration register of a device we own.
        unsafe {
            asm!("out dx, eax", in("dx") PCI_CONFIG_DATA, in("eax") data,
                 options(nomem, nostack, preserves_flags))
        };
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortIoCam
    }
}

/// Whether a PCI host bridge answers on the legacy configuration ports.
pub fn pci_present() -> bool {
    let df = DeviceFunction {
        bus: 0,
        device: 0,
        function: 0,
    };
    let id = PortIoCam.read_word(df, 0);
    id != 0xFFFF_FFFF && id != 0
}

/// A function a driver claimed: its command register as firmware left it.
#[must_use = "enable the device once its transport is built"]
pub struct Claimed {
    function: DeviceFunction,
    command: Command,
}

/// The claimed function's memory BARs do not fit in the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRoomForBars;

/// Bus 0 and the window for memory BARs firmware left unassigned.
pub struct PciBus {
    root: PciRoot<PortIoCam>,
    functions: Vec<(DeviceFunction, DeviceFunctionInfo)>,
    window_start: u64,
    window_end: u64,
    /// Where the next placed BAR may start; found on the first placement.
    cursor: Option<u64>,
}

impl PciBus {
    /// Enumerate bus 0; None when no host bridge answers.
    ///
    /// # Safety
    /// `[window_start, window_end)` must be free physical address space
    /// routed to PCI and identity-mapped uncached, as must any BAR firmware
    /// assigned below `window_end`, for the rest of the kernel's life.
    pub unsafe fn scan(window_start: u64, window_end: u64) -> Option<PciBus> {
        if !pci_present() {
            return None;
        }
        let root = PciRoot::new(PortIoCam);
        let functions = root.enumerate_bus(0).collect();
        Some(PciBus {
            root,
            functions,
            window_start,
            window_end,
            cursor: None,
        })
    }

    /// Every function found on bus 0, in bus order.
    pub fn functions(&self) -> &[(DeviceFunction, DeviceFunctionInfo)] {
        &self.functions
    }

    /// The configuration root, for building a transport of a claimed function.
    pub fn root(&mut self) -> &mut PciRoot<PortIoCam> {
        &mut self.root
    }

    /// Prepare `function` for its driver: decoding off, and its memory BARs
    /// placed in the window when they are unassigned or outside the identity
    /// map. On error the device is left with decoding off.
    pub fn claim(&mut self, function: DeviceFunction) -> Result<Claimed, NoRoomForBars> {
        let (_, command) = self.root.get_status_command(function);
        let decode = Command::IO_SPACE | Command::MEMORY_SPACE;
        if command.intersects(decode) {
            self.root.set_command(function, command - decode);
        }
        if self.needs_placement(function) {
            let mut cursor = match self.cursor {
                Some(cursor) => cursor,
                None => self.firmware_bar_end(),
            };
            let placed = self.assign_bars(function, &mut cursor);
            self.cursor = Some(cursor);
            if !placed {
                return Err(NoRoomForBars);
            }
        }
        Ok(Claimed { function, command })
    }

    /// Turn on decoding and bus mastering for a claimed function.
    pub fn enable(&mut self, claimed: Claimed) {
        let decode = Command::IO_SPACE | Command::MEMORY_SPACE;
        self.root.set_command(
            claimed.function,
            claimed.command | decode | Command::BUS_MASTER,
        );
    }

    /// Whether a memory BAR of `function` is unassigned or outside the identity map.
    fn needs_placement(&mut self, function: DeviceFunction) -> bool {
        let Ok(bars) = self.root.bars(function) else {
            return false;
        };
        let end = self.window_end;
        bars.iter()
            .flatten()
            .any(|bar| match bar.memory_address_size() {
                Some((address, size)) => size != 0 && !bar_in_map(address, size, end),
                None => false,
            })
    }

    /// The end of the highest BAR any function already has in the window.
    fn firmware_bar_end(&mut self) -> u64 {
        let (start, end) = (self.window_start, self.window_end);
        let mut cursor = start;
        for (function, _) in &self.functions {
            if let Ok(bars) = self.root.bars(*function) {
                for (addr, size) in bars
                    .iter()
                    .flatten()
                    .filter_map(BarInfo::memory_address_size)
                {
                    if addr >= start && addr < end {
                        cursor = cursor.max(addr.saturating_add(size));
                    }
                }
            }
        }
        cursor
    }

    /// Give every memory BAR of `function` that needs one an address from
    /// the window. False if the window is too small.
    fn assign_bars(&mut self, function: DeviceFunction, cursor: &mut u64) -> bool {
        let end = self.window_end;
        let Ok(bars) = self.root.bars(function) else {
            return false;
        };
        for (index, bar) in bars.iter().enumerate() {
            let Some(BarInfo::Memory {
                address_type,
                address,
                size,
                ..
            }) = bar
            else {
                continue;
            };
            let (address, size) = (*address, *size);
            if bar_in_map(address, size, end) || size == 0 {
                continue;
            }
            // BARs are naturally aligned to their (power-of-two) size.
            let Some(base) = cursor.checked_next_multiple_of(size.max(16)) else {
                return false;
            };
            let Some(next) = base.checked_add(size).filter(|&n| n <= end) else {
                return false;
            };
            let index = index as u8;
            match address_type {
                MemoryBarType::Width64 => self.root.set_bar_64(function, index, base),
                _ => match u32::try_from(base) {
                    Ok(base32) => self.root.set_bar_32(function, index, base32),
                    Err(_) => return false,
                },
            }
            *cursor = next;
        }
        true
    }
}

/// Whether a BAR at `address` of `size` bytes is assigned and inside the
/// identity map (which ends at `end`).
fn bar_in_map(address: u64, size: u64, end: u64) -> bool {
    address != 0 && address.checked_add(size).is_some_and(|e| e <= end)
}
