//! A small x86_64 unikernel for the filesystem subsystem: it boots under QEMU
//! through the PVH entry, finds virtio-blk disks, mounts ROFS on `/`, devfs on
//! `/dev` and ramfs on `/tmp` behind one [`vfs::Vfs`], and then runs the
//! in-guest tests, the benchmarks, a script, or an interactive shell.
//!
//! # Build
//! `cd kernel && cargo build --release` gives the PVH ELF
//! `kernel/target/x86_64-unikernel/release/kernel` (target spec
//! `../x86_64-unikernel.json`, build-std; see `.cargo/config.toml`).
//!
//! # QEMU command lines (TCG works; KVM is used when available)
//! Common part:
//! `qemu-system-x86_64 -nodefaults -no-reboot -display none -serial stdio
//!  -accel kvm -accel tcg -cpu max -m 64M
//!  -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel KERNEL -append "CMDLINE"`
//! - microvm (fastest boot): `-machine microvm -drive file=IMG,if=none,id=d0,format=raw,readonly=on
//!   -device virtio-blk-device,drive=d0`. Legacy and modern virtio-mmio both
//!   work; no extra flags are needed.
//! - q35: `-machine q35 -drive file=IMG,if=none,id=d0,format=raw,readonly=on
//!   -device virtio-blk-pci,drive=d0`. Works with SeaBIOS (the default) and
//!   with qboot (`-bios /usr/share/qemu/qboot.rom`, about 50 ms faster under
//!   TCG); the kernel assigns PCI BARs firmware left empty.
//!
//! More disks appear as /dev/vblk1, ... in command-line order. virtio-fs
//! devices (`vhost-user-fs-device` on microvm, with
//! `-global virtio-mmio.force-legacy=false`; `vhost-user-fs-pci` on q35;
//! both need `-object memory-backend-memfd,...,share=on` as the machine's
//! memory) are probed after the disks and handed to init by tag
//! ([`init::Platform::shares`]); their requests wait at most
//! `virtiofs.timeout=` seconds on the TSC clock. The example
//! image boots in `-m 2M` and the in-guest test image in `-m 4M`; the kernel
//! itself needs about 1 MiB plus what the filesystems hold in memory.
//!
//! # Exit codes (port 0xf4; QEMU exits with `(code << 1) | 1`)
//! 0 success / poweroff, 1 in-guest tests failed, 2 no root disk, 3 root mount
//! failed (not ROFS, corrupt), 4 kernel panic or CPU exception, 5 bad kernel
//! command line. QEMU status 0 would be a triple fault.
//!
//! # What lives where
//! This crate is the hardware: `boot` (PVH entry, page tables, long mode),
//! `pvh` (boot information), `heap`, `idt` (exceptions), `serial` and
//! `logger` (console), `time` (TSC clock), the disk probe below, and
//! `platform` (the [`init::Platform`] it hands over). Everything after boot
//! (command line, mount tables, mounting, the shell, the in-guest suites and
//! the benchmark) is the `init` crate, which `kernel_main` calls once the
//! disks and devfs exist.
//!
//! # Clock
//! `time::now_ns()` is the TSC since kernel entry, calibrated against the PIT.
//! Wall-clock time (file timestamps) is `SOURCE_DATE_EPOCH` of the build (or
//! 0) plus uptime: there is no RTC driver.

#![no_std]
#![no_main]
#![feature(abi_x86_interrupt)]

extern crate alloc;

mod arch;
mod boot;
mod heap;
mod idt;
mod logger;
mod platform;
mod pvh;
mod serial;
mod time;

use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;

use drivers::BlockDevice;
use drivers::virtio::VirtioBlk;
use fs_devfs::DevFs;
use init::{Disk, EXIT_BAD_CMDLINE, EXIT_PANIC};

use crate::platform::{KernelPlatform, SerialConsole};

/// microvm's virtio-mmio slots.
const MMIO_BASE: usize = 0xfeb0_0000;
const MMIO_SLOTS: usize = 24;
/// Where the kernel may place PCI memory BARs firmware left unassigned:
/// above q35's ECAM window, below microvm's virtio-mmio / the IOAPIC.
const PCI_BAR_WINDOW: (u64, u64) = (0xC000_0000, 0xFEB0_0000);

fn fail(code: u32, message: &str) -> ! {
    println!("FATAL: {message}");
    arch::exit(code)
}

#[unsafe(no_mangle)]
extern "C" fn kernel_main(start_info: u64) -> ! {
    time::mark_entry();
    serial::init();
    idt::init();
    logger::init();

    // On the stack: kernel_main never returns, so it lives as long as the kernel.
    let mut boot_info = pvh::BootInfo::empty();
    // SAFETY: `start_info` is QEMU's %ebx, and low memory is not yet heap.
    if let Err(why) = unsafe { pvh::copy_start_info(start_info, &mut boot_info) } {
        fail(EXIT_PANIC, why);
    }
    if boot_info.cmdline_too_long {
        // No heap yet: println! formats straight to the serial port.
        println!(
            "FATAL: kernel command line longer than {} bytes: refused, not cut",
            pvh::CMDLINE_MAX
        );
        arch::exit(EXIT_BAD_CMDLINE);
    }
    // SAFETY: everything needed from low memory was copied just above, but
    // the command line, which the heap leaves alone.
    let heap_bytes = unsafe { heap::init(boot_info.regions(), boot_info.cmdline_span()) };
    // SAFETY: the heap is up and left the command line's bytes alone.
    let cmdline = match unsafe { boot_info.take_cmdline() } {
        Ok(text) => text,
        Err(why) => fail(EXIT_BAD_CMDLINE, why),
    };
    let cmdline = cmdline.as_str();
    // Parsed here, before anything else logs, for `log=`.
    let config = match init::cmdline::parse(cmdline) {
        Ok(c) => c,
        Err(why) => fail(EXIT_BAD_CMDLINE, &format!("bad kernel command line: {why}")),
    };
    logger::set_level(config.log_level);
    let console_tsc = arch::rdtsc();
    let tsc_hz = time::calibrate();
    let console_us = time::tsc_to_ns(console_tsc) / 1000;
    log::info!(
        "unikernel: {} KiB heap, TSC {}.{:03} MHz, console up at {} us",
        heap_bytes >> 10,
        tsc_hz / 1_000_000,
        tsc_hz / 1000 % 1000,
        console_us
    );
    log::info!("command line: {cmdline:?}");
    for word in &config.unknown {
        log::warn!("unknown command-line word `{word}` ignored");
    }

    // Devices.
    let probe_start = time::now_ns();
    let virtio_disks = probe_disks();
    let shares = probe_shares(config.share_timeout_s);
    let probe_ns = time::now_ns() - probe_start;
    let disks: Vec<Disk> = virtio_disks
        .iter()
        .enumerate()
        .map(|(i, blk)| {
            let device: Arc<dyn BlockDevice> = blk.clone();
            Disk {
                name: format!("vblk{i}"),
                device,
            }
        })
        .collect();
    let seed =
        arch::rdrand64().unwrap_or_else(|| arch::rdtsc().rotate_left(17) ^ 0x9E37_79B9_7F4A_7C15);
    let devfs = DevFs::new(seed);
    devfs.set_console(Arc::new(SerialConsole));
    for disk in &disks {
        let _ = devfs.add_block_device(&disk.name, disk.device.clone());
    }

    // Everything else is policy.
    let platform = KernelPlatform {
        heap_bytes,
        virtio_disks,
        shares,
    };
    let boot = init::Boot {
        cmdline,
        config: &config,
        disks: &disks,
        devfs: &devfs,
        probe_ns,
    };
    arch::exit(init::run(&platform, &boot))
}

/// Find the virtio-blk disks (PCI first, then virtio-mmio), in the order
/// they become vblk0, vblk1, ...
fn probe_disks() -> Vec<Arc<VirtioBlk>> {
    // SAFETY: the boot page tables identity-map the top 1 GiB below 4 GiB
    // uncached, which holds the BAR window and the virtio-mmio slots; on q35/pc
    // that window is PCI address space with nothing else assigned there.
    let mut found = unsafe { drivers::virtio::probe_pci(PCI_BAR_WINDOW.0, PCI_BAR_WINDOW.1) };
    // SAFETY: as above; on machines without virtio-mmio the slots read as
    // unbacked memory and fail the magic check.
    found.extend(unsafe {
        drivers::virtio::probe_mmio(MMIO_BASE, drivers::virtio::MMIO_SLOT_SIZE, MMIO_SLOTS)
    });
    for (i, blk) in found.iter().enumerate() {
        let kib = blk.size_bytes() >> 10;
        let ro = if blk.is_read_only() {
            ", read-only"
        } else {
            ""
        };
        log::info!(
            "/dev/vblk{i}: virtio-blk at {}, {} sectors ({kib} KiB{ro}), requests up to {} KiB",
            blk.location(),
            blk.num_blocks(),
            blk.max_request_bytes() / 1024
        );
    }
    if found.is_empty() {
        log::warn!("no virtio-blk disk found");
    }
    found.into_iter().map(Arc::new).collect()
}

/// Find the virtio-fs devices (PCI first, then virtio-mmio, as the disks).
/// A request waits at most `timeout_s` on the kernel clock for its reply;
/// then the device is given up on and every request fails with EIO.
fn probe_shares(timeout_s: u32) -> Vec<platform::ShareDevice> {
    use drivers::virtio_fs::WaitLimit;
    let wait = WaitLimit::Clock {
        now_ns: time::now_ns,
        timeout_ns: u64::from(timeout_s) * 1_000_000_000,
    };
    let mut found = Vec::new();
    // SAFETY: as in `probe_disks`: the window is identity-mapped uncached PCI
    // space; BARs the disk probe placed are already assigned there, so this
    // second scan places new ones above them.
    if let Some(mut bus) = unsafe { drivers::pci::PciBus::scan(PCI_BAR_WINDOW.0, PCI_BAR_WINDOW.1) }
    {
        for (location, device) in drivers::virtio_fs::probe_pci(&mut bus, wait) {
            found.push((location, platform::ShareDevice::Pci(Arc::new(device))));
        }
    }
    // SAFETY: as in `probe_disks`; virtio-fs slots are not virtio-blk, so
    // the disk probe left them alone.
    let mmio = unsafe {
        drivers::virtio_fs::probe_mmio(MMIO_BASE, drivers::virtio::MMIO_SLOT_SIZE, MMIO_SLOTS, wait)
    };
    for (location, device) in mmio {
        found.push((location, platform::ShareDevice::Mmio(Arc::new(device))));
    }
    for (location, share) in &found {
        log::info!(
            "virtio-fs '{}' at {location}, {} request queue(s)",
            share.tag(),
            share.num_request_queues()
        );
    }
    found.into_iter().map(|(_, share)| share).collect()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let message = info.message();
    match info.location() {
        Some(loc) => println!(
            "KERNEL PANIC at {}:{}:{}: {}",
            loc.file(),
            loc.line(),
            loc.column(),
            message
        ),
        None => println!("KERNEL PANIC: {message}"),
    }
    arch::exit(EXIT_PANIC)
}
