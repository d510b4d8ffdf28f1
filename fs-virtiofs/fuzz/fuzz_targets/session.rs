//! A whole virtio-fs session whose every reply comes from the input (see
//! the crate docs for the format). Any panic, hang or out-of-bounds access
//! is a bug; errors are fine.
#![no_main]

use std::sync::Arc;

use fs_virtiofs_fuzz::{Replay, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    run(Arc::new(Replay::new(data)));
});
