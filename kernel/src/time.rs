//! Time: the TSC, calibrated at boot against PIT channel 0 latch reads
//! (channel 2 and port 0x61 do not exist on microvm), and a wall clock for the
//! VFS that counts from a fixed epoch.

use core::sync::atomic::{AtomicU64, Ordering};

use vfs::{Clock, Timespec};

use crate::arch::{inb, outb, rdtsc};

/// TSC value at kernel entry: `now_ns()` counts from here.
static TSC_AT_ENTRY: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick, as a 32.32 fixed-point number.
static NS_PER_TICK_FP32: AtomicU64 = AtomicU64::new(1 << 32);
static TSC_HZ: AtomicU64 = AtomicU64::new(1_000_000_000);

const PIT_HZ: u64 = 1_193_182;
const PIT_CH0: u16 = 0x40;
const PIT_CMD: u16 = 0x43;
/// How long calibration watches the PIT (in PIT ticks: ~2 ms).
const CALIBRATION_TICKS: u32 = 2400;

/// Wall-clock seconds at boot: the build's `SOURCE_DATE_EPOCH` when set,
/// else 0 (1970-01-01). The guest has no RTC driver, so files created in
/// ramfs get `epoch + uptime`.
pub const WALL_CLOCK_EPOCH: i64 = parse_epoch(option_env!("SOURCE_DATE_EPOCH"));

const fn parse_epoch(text: Option<&str>) -> i64 {
    let Some(text) = text else { return 0 };
    let bytes = text.as_bytes();
    let mut value: i64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let d = bytes[i];
        if d < b'0' || d > b'9' || value > i64::MAX / 10 - 10 {
            return 0;
        }
        value = value * 10 + (d - b'0') as i64;
        i += 1;
    }
    value
}

/// Record the TSC at kernel entry. First thing `kernel_main` does.
pub fn mark_entry() {
    TSC_AT_ENTRY.store(rdtsc(), Ordering::Relaxed);
}

fn pit_read() -> u16 {
    outb(PIT_CMD, 0x00); // latch channel 0
    let lo = inb(PIT_CH0);
    let hi = inb(PIT_CH0);
    u16::from_le_bytes([lo, hi])
}

/// Measure the TSC frequency. Returns it in Hz.
pub fn calibrate() -> u64 {
    // Channel 0, lo/hi access, mode 2 (rate generator), full 65536 period.
    outb(PIT_CMD, 0x34);
    outb(PIT_CH0, 0);
    outb(PIT_CH0, 0);
    let mut last = pit_read();
    let tsc_start = rdtsc();
    let mut elapsed: u32 = 0;
    // Bounded: a dead PIT must not hang the boot.
    let mut spins: u32 = 0;
    while elapsed < CALIBRATION_TICKS && spins < 50_000_000 {
        let now = pit_read();
        // The counter counts down and wraps at 65536.
        elapsed += u32::from(last.wrapping_sub(now));
        last = now;
        spins += 1;
    }
    let tsc_ticks = rdtsc().wrapping_sub(tsc_start);
    let hz = if elapsed >= CALIBRATION_TICKS && tsc_ticks > 0 {
        (u128::from(tsc_ticks) * u128::from(PIT_HZ) / u128::from(elapsed)) as u64
    } else {
        log::warn!("PIT calibration failed; assuming a 1 GHz TSC");
        1_000_000_000
    };
    let hz = hz.max(1_000_000);
    TSC_HZ.store(hz, Ordering::Relaxed);
    NS_PER_TICK_FP32.store(
        ((1_000_000_000u128 << 32) / u128::from(hz)) as u64,
        Ordering::Relaxed,
    );
    hz
}

/// Monotonic nanoseconds since kernel entry.
pub fn now_ns() -> u64 {
    tsc_to_ns(rdtsc())
}

/// Nanoseconds from kernel entry to the TSC reading `tsc` (meaningful once
/// [`calibrate`] has run).
pub fn tsc_to_ns(tsc: u64) -> u64 {
    let ticks = tsc.wrapping_sub(TSC_AT_ENTRY.load(Ordering::Relaxed));
    ((u128::from(ticks) * u128::from(NS_PER_TICK_FP32.load(Ordering::Relaxed))) >> 32) as u64
}

/// The VFS clock: [`WALL_CLOCK_EPOCH`] plus uptime.
pub struct KernelClock;

impl Clock for KernelClock {
    fn now(&self) -> Timespec {
        let ns = now_ns();
        Timespec::new(
            WALL_CLOCK_EPOCH + (ns / 1_000_000_000) as i64,
            (ns % 1_000_000_000) as u32,
        )
    }
}
