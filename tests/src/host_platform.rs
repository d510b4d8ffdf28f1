//! init's [`Platform`] on the host, for running the in-guest suites and the
//! benchmark outside QEMU with the kernel's own mount code.

use std::string::String;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use init::{DiskStats, Platform};
use vfs::Clock;

use crate::HostClock;

/// Console output is kept (and echoed to stdout, one `[host] ` line per
/// line); there is no console input (reads deliver Ctrl-D, which ends a
/// shell session); the clocks are the host's.
pub struct HostPlatform {
    heap_bytes: u64,
    console: Mutex<Captured>,
    start: OnceLock<Instant>,
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    /// Where the line not yet echoed starts.
    echoed: usize,
}

impl HostPlatform {
    /// A platform whose heap (what the default `/tmp` gets half of) is
    /// `heap_bytes`.
    pub fn new(heap_bytes: u64) -> HostPlatform {
        HostPlatform {
            heap_bytes,
            console: Mutex::new(Captured::default()),
            start: OnceLock::new(),
        }
    }

    /// Everything written to the console so far (and forget it).
    pub fn take_output(&self) -> String {
        let mut console = self.console.lock().unwrap_or_else(|e| e.into_inner());
        let captured = std::mem::take(&mut *console);
        String::from_utf8_lossy(&captured.bytes).into_owned()
    }
}

impl Platform for HostPlatform {
    fn console_write(&self, bytes: &[u8]) {
        let mut console = self.console.lock().unwrap_or_else(|e| e.into_inner());
        console.bytes.extend_from_slice(bytes);
        while let Some(end) = console.bytes[console.echoed..]
            .iter()
            .position(|&b| b == b'\n')
        {
            let line = &console.bytes[console.echoed..console.echoed + end];
            println!("[host] {}", String::from_utf8_lossy(line));
            console.echoed += end + 1;
        }
    }

    fn console_read_byte(&self) -> Option<u8> {
        Some(0x04)
    }

    fn now_ns(&self) -> u64 {
        self.start.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(HostClock)
    }

    fn disk_stats(&self) -> DiskStats {
        DiskStats::default()
    }

    fn heap_bytes(&self) -> u64 {
        self.heap_bytes
    }
}
