//! What the unikernel does after boot that is not hardware: its policy.
//!
//! The kernel crate (`kernel/`) boots the CPU, sets up memory, the console,
//! the clock and interrupts, probes the disks and builds the one devfs
//! instance; then it hands a [`Boot`] to [`run`] together with a
//! [`Platform`] (console, clocks, disk counters, heap size) and exits with the
//! code `run` returns. Everything in between lives here, as plain safe
//! `no_std` code that `cargo test` checks on the host:
//!
//! | module | what |
//! |---|---|
//! | [`platform`] | the [`Platform`] seam and the `print!`/`println!` macros that write through it |
//! | [`cmdline`] | the kernel command line (`test`, `bench`, `run=`, `log=`, `vfs.fstab=`) |
//! | [`fstab`] | mount tables: `vfs.fstab=` entries, `/etc/fstab`, the default table |
//! | [`mounts`] | mounting a table at boot: a loop over the VFS's filesystem-type registry |
//! | [`overlay_root`] | `root=overlay`: the root entry as the lower layer of a writable overlay `/` |
//! | `run` | [`run`] and [`mount_all`]: mount, then the mode the command line chose |
//! | [`shell`] | the command interpreter (`run=` scripts and the interactive shell) |
//! | [`selftest`] | the in-guest suites, one file per suite |
//! | [`bench`](mod@bench) | the in-guest benchmark |
//! | [`verity`] | verified mounts: the `roothash=` option and the verifying device |
//!
//! The exit codes ([`EXIT_SUCCESS`] ...) are the kernel's contract with
//! whoever boots it (README, "Exit codes"); the kernel writes them to QEMU's
//! `isa-debug-exit` device.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod platform;

pub mod bench;
pub mod cmdline;
pub mod fstab;
pub mod mounts;
pub mod overlay_root;
mod run;
pub mod selftest;
pub mod shell;
pub mod verity;

#[cfg(test)]
mod tests;

pub use cmdline::{Config, LogLevel, Mode};
pub use mounts::{Disk, Fatal};
pub use platform::{DiskStats, Platform, Share};
pub use run::{Boot, Mounted, mount_all, run};

/// Success: `poweroff`, the end of `run=`, the benchmark done, all tests passed.
pub const EXIT_SUCCESS: u32 = 0;
/// The in-guest tests ran and some failed.
pub const EXIT_TESTS_FAILED: u32 = 1;
/// The root entry names a disk that was not found.
pub const EXIT_NO_ROOT_DISK: u32 = 2;
/// The root filesystem could not be mounted (not ROFS, corrupt image, ...).
pub const EXIT_ROOT_MOUNT_FAILED: u32 = 3;
/// A kernel panic or CPU exception (the kernel's handlers use it).
pub const EXIT_PANIC: u32 = 4;
/// The kernel command line is malformed.
pub const EXIT_BAD_CMDLINE: u32 = 5;
/// The root entry asked for verification (`roothash=`) and the disk failed
/// it: a wrong root hash, no tree, or a tree that disagrees with the data.
pub const EXIT_ROOT_VERIFY_FAILED: u32 = 6;
