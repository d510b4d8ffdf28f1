//! Both mount-table forms on any bytes: `/etc/fstab` (line by line, bad
//! lines reported with their number) and the command line's
//! `dev:path:fs[:flags[:opts]]`. Never a panic; every entry's target is
//! absolute and normalized (or a hidden `@name`); every error names a line of the input.
#![no_main]

use init::fstab::{normalize_target, parse_cmdline_entry, parse_etc_fstab_bytes};
use libfuzzer_sys::fuzz_target;

fn check_target(target: &str, input: &[u8]) {
    // A hidden mount (a layer for an overlay) is `@name`, reachable by no path.
    if let Some(name) = target.strip_prefix('@') {
        assert!(!name.is_empty() && !name.contains('/'), "{input:?}");
        assert_eq!(normalize_target(target).as_deref(), Ok(target), "{input:?}");
        return;
    }
    assert!(target.starts_with('/'), "{input:?}");
    assert!(!target.contains("//"), "{input:?}");
    assert!(
        !target.contains("/./") && !target.ends_with("/."),
        "{input:?}"
    );
    assert!(target == "/" || !target.ends_with('/'), "{input:?}");
    assert_eq!(normalize_target(target).as_deref(), Ok(target), "{input:?}");
}

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|&b| b == b'\n').count();
    let (entries, errors) = parse_etc_fstab_bytes(data);
    for entry in &entries {
        check_target(&entry.target, data);
    }
    for error in &errors {
        assert!(error.line >= 1 && error.line <= lines, "{data:?}");
    }
    assert!(entries.len() + errors.len() <= lines, "{data:?}");
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(entry) = parse_cmdline_entry(text)
    {
        check_target(&entry.target, data);
    }
});
