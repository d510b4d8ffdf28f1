//! The seam between init and the machine it runs on.
//!
//! The kernel implements [`Platform`] over its serial port, TSC and virtio
//! disks; host tests implement it over buffers and `std::time`. Everything in
//! this crate reaches the hardware only through it, which is what lets the
//! same shell, suites and mount code run in the guest and in `cargo test`.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use drivers::FuseTransport;
use vfs::Clock;

/// A virtio-fs device the platform found: the tag the host gave the share
/// (`-device vhost-user-fs-device,tag=NAME`) and the transport that carries
/// FUSE messages to its daemon. `vfs.fstab=TAG:/mnt:virtiofs` mounts it.
#[derive(Clone)]
pub struct Share {
    pub tag: String,
    pub transport: Arc<dyn FuseTransport>,
}

/// Request counters of the platform's disks (the shell's `readspeed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Read and write requests sent to the devices.
    pub requests: u64,
    /// Bytes they moved.
    pub bytes: u64,
}

/// What init needs from the machine.
pub trait Platform {
    /// Write bytes to the console; `\n` ends a line (the console adds any
    /// `\r` it needs).
    fn console_write(&self, bytes: &[u8]);

    /// One byte of console input if one is waiting; never blocks.
    fn console_read_byte(&self) -> Option<u8>;

    /// Monotonic nanoseconds since boot.
    fn now_ns(&self) -> u64;

    /// The wall clock the VFS stamps files with.
    fn clock(&self) -> Arc<dyn Clock>;

    /// Requests and bytes of all disks so far.
    fn disk_stats(&self) -> DiskStats;

    /// Bytes of heap the platform gave the allocator (the default `/tmp`
    /// gets half of it).
    fn heap_bytes(&self) -> u64;

    /// The virtio-fs devices found at boot, in probe order. A platform
    /// without any returns none.
    fn shares(&self) -> Vec<Share> {
        Vec::new()
    }

    /// Messages and bytes all virtio-fs devices carried so far (the bench).
    fn share_stats(&self) -> DiskStats {
        DiskStats::default()
    }

    /// Read an address that is not mapped, for `debug-fault`: on the kernel
    /// the page fault handler ends the VM and this never returns. A platform
    /// without such an address returns None.
    fn read_unmapped(&self) -> Option<u64> {
        None
    }

    /// Called while waiting for console input.
    fn idle(&self) {
        core::hint::spin_loop();
    }
}

/// Wait for one byte of console input.
pub fn read_byte(platform: &dyn Platform) -> u8 {
    loop {
        if let Some(b) = platform.console_read_byte() {
            return b;
        }
        platform.idle();
    }
}

/// A [`fmt::Write`] over the platform's console.
pub struct Console<'a>(pub &'a dyn Platform);

impl Write for Console<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.console_write(s.as_bytes());
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(platform: &dyn Platform, args: fmt::Arguments) {
    let _ = Console(platform).write_fmt(args);
}

/// `print!` through a platform's console: `print!(platform, "x = {x}")`.
#[macro_export]
macro_rules! print {
    ($platform:expr, $($arg:tt)*) => {
        $crate::platform::_print($platform, format_args!($($arg)*))
    };
}

/// `println!` through a platform's console: `println!(platform, "PASS {name}")`.
#[macro_export]
macro_rules! println {
    ($platform:expr) => {
        $crate::platform::_print($platform, format_args!("\n"))
    };
    ($platform:expr, $($arg:tt)*) => {
        $crate::platform::_print($platform, format_args!("{}\n", format_args!($($arg)*)))
    };
}
