//! Host-side support for the integration tests and benchmarks.
//!
//! - [`guest_image`]: generates the root image the in-guest suites run
//!   against (with host-computed checksums), cached under the target dir.
//! - [`qemu`]: builds the kernel and boots it under QEMU with a timeout,
//!   streaming the serial console.

pub mod guest_image;
pub mod qemu;
