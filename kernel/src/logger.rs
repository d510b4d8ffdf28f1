//! A `log` backend on the serial console: `[   12.345] LEVEL message`, with
//! milliseconds since kernel entry.

use log::{Level, LevelFilter, Metadata, Record};

use init::LogLevel;

struct SerialLogger;

impl log::Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // virtio-drivers chats at info level; we print our own device lines.
        let level =
            if record.target().starts_with("virtio_drivers") && record.level() == Level::Info {
                Level::Debug
            } else {
                record.level()
            };
        if level > log::max_level() {
            return;
        }
        let us = crate::time::now_ns() / 1000;
        let level = match level {
            Level::Error => "ERROR",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        };
        crate::println!(
            "[{:5}.{:03}] {level} {}",
            us / 1000,
            us % 1000,
            record.args()
        );
    }

    fn flush(&self) {}
}

static LOGGER: SerialLogger = SerialLogger;

pub fn init() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}

pub fn set_level(level: LogLevel) {
    log::set_max_level(match level {
        LogLevel::Off => LevelFilter::Off,
        LogLevel::Error => LevelFilter::Error,
        LogLevel::Warn => LevelFilter::Warn,
        LogLevel::Info => LevelFilter::Info,
        LogLevel::Debug => LevelFilter::Debug,
        LogLevel::Trace => LevelFilter::Trace,
    });
}
