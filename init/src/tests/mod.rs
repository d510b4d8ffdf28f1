//! Host tests of init: parsers against random input, boot (mounting and the
//! modes' exit codes) and the shell's commands, on a [`TestPlatform`] over
//! ROFS images built in memory.

mod boot;
mod no_panic;
mod overlay;
pub(crate) mod platform;
mod robust;
mod shell;
mod verity;
mod virtiofs;
