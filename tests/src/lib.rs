//! Host-side support for the integration tests and benchmarks.
//!
//! - [`guest_image`]: generates the root image the in-guest suites run
//!   against (with host-computed checksums), cached under the target dir.
//! - [`guest_verity`]: that image with a dm-verity tree, tampering, and a
//!   small root carrying an `/etc/fstab`, for the verified boots.
//! - [`hostile_image`]: root images for the hostile-input boots (directory
//!   loops with valid checksums, 100,000-entry directories in v1 and v2).
//! - [`qemu`]: builds the kernel and boots it under QEMU with a timeout,
//!   streaming the serial console.
//! - [`virtiofsd`]: QEMU's virtiofsd on a temporary directory, for boots
//!   with a virtio-fs share.
//! - [`host_platform`]: init's `Platform` on the host, so the in-guest
//!   suites run here with the kernel's own mount code.

#![forbid(unsafe_code)]

pub mod guest_image;
pub mod guest_verity;
pub mod host_platform;
pub mod hostile_image;
pub mod qemu;
pub mod virtiofsd;

use vfs::{Clock, Timespec};

/// Real wall-clock time: what a VFS on the host stamps files with.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostClock;

impl Clock for HostClock {
    fn now(&self) -> Timespec {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timespec::new(since.as_secs() as i64, since.subsec_nanos())
    }
}
