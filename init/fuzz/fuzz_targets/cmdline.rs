//! The kernel command line parser on any text: an error or a config, never
//! a panic, and a config keeps the parser's promises.
#![no_main]

use init::cmdline::{self, Mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The kernel refuses a line that is not UTF-8 before parsing it.
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(words) = cmdline::split_words(line) {
        assert!(words.iter().all(|w| !w.contains('"')), "{line:?}");
    }
    let Ok(config) = cmdline::parse(line) else {
        return;
    };
    if let Some(table) = &config.fstab {
        assert!(table.iter().any(|e| e.target == "/"), "{line:?}");
        for entry in table {
            // An absolute path, or `@name` for a hidden mount (a layer).
            assert!(
                entry.target.starts_with('/') || entry.target.starts_with('@'),
                "{line:?}"
            );
            assert!(!entry.fs_type.is_empty(), "{line:?}");
        }
    }
    match &config.mode {
        Mode::RunScript(path) => assert!(path.starts_with('/'), "{line:?}"),
        Mode::RunInline(commands) => assert!(!commands.trim().is_empty(), "{line:?}"),
        _ => {}
    }
    assert!(config.bench_file.starts_with('/'), "{line:?}");
    // Whatever the word said, the budget never exceeds the heap.
    for heap in [0, 1 << 20, u64::MAX] {
        assert!(init::cache_size::budget(config.cache, heap) <= heap, "{line:?}");
    }
});
