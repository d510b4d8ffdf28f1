//! The kernel command line. Pure parsing (unit-tested on the host).
//!
//! Grammar: words separated by spaces or tabs. Double quotes group text with
//! spaces into one word and are removed (`run="ls /;cat /x"`); QEMU passes
//! them through verbatim. Words:
//!
//! | word | meaning |
//! |---|---|
//! | `test` | run the in-guest test suites, exit 0 if all pass, else 1 |
//! | `bench` | run the in-guest benchmarks |
//! | `bench.file=PATH` | the big file for `bench` (default `/big.bin`) |
//! | `run=/path/script` | run the shell script at PATH from the image, then power off |
//! | `run=CMD;CMD;...` | run these shell commands (`;`-separated), then power off |
//! | `log=LEVEL` | `off`, `error`, `warn`, `info` (default), `debug`, `trace` |
//! | `vfs.fstab=dev:path:fs[:flags[:opts]]` | a mount; repeat the word (or separate entries with `;`) for more. Any given replaces the default table. `fstab=` is an alias |
//! | `rofs.roothash=HEX` | verify the root entry's disk against this dm-verity root hash: short for its `roothash=HEX` option ([`crate::verity`]) |
//! | `root=overlay`, `root.size=SIZE` | a writable `/`: an overlay over the root entry's filesystem, changes in a ramfs of SIZE (default half the heap) ([`crate::overlay_root`]) |
//! | `root=virtiofs:TAG` | `/` is the virtio-fs share of that tag, writable; `/dev` and `/tmp` still mounted ([`crate::overlay_root`]) |
//! | `virtiofs.timeout=SECONDS` | how long a virtio-fs request waits for the host's daemon (default 20, 1 to 3600); then the device is given up on and requests fail with EIO |
//! | `selftest.*`, `bench.*` | left to the suites, which see the whole line |
//!
//! Without `test`, `bench` or `run=`, the kernel starts an interactive shell
//! on the serial console. Other words are reported and ignored. A malformed
//! word (bad level, bad fstab entry, unterminated quote, two modes) is an
//! error: the kernel exits with code 5.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::fstab::{MountEntry, parse_cmdline_entry};

/// What the kernel does once the filesystems are mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Shell,
    Test,
    Bench,
    /// Run the script file at this path.
    RunScript(String),
    /// Run these commands.
    RunInline(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    pub log_level: LogLevel,
    pub bench_file: String,
    /// Mounts from `vfs.fstab=`; None means the default table.
    pub fstab: Option<Vec<MountEntry>>,
    /// Words the kernel does not know (reported, then ignored).
    pub unknown: Vec<String>,
    /// `rofs.roothash=`: the root entry's dm-verity root hash. Already
    /// merged into a `vfs.fstab=` root entry's options; the default table
    /// gets it at mount.
    pub root_hash: Option<drivers::verity::Digest>,
    /// `root=overlay` and `root.size=`, applied to the table at mount.
    pub root: crate::overlay_root::RootOptions,
    /// `virtiofs.timeout=SECONDS`: how long a virtio-fs request waits for
    /// the daemon before the device is given up on (EIO from then on).
    pub share_timeout_s: u32,
}

/// The default of `virtiofs.timeout=`: generous, since a 1 MiB request
/// under TCG on a loaded host takes well under a second.
pub const DEFAULT_SHARE_TIMEOUT_S: u32 = 20;

/// Split into words, honouring double quotes.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut in_quotes = false;
    for c in line.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                in_word = true;
            }
            ' ' | '\t' | '\n' | '\r' if !in_quotes => {
                if in_word {
                    words.push(core::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_quotes {
        return Err("unterminated double quote".to_string());
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

fn parse_level(text: &str) -> Option<LogLevel> {
    Some(match text {
        "off" => LogLevel::Off,
        "error" => LogLevel::Error,
        "warn" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        _ => return None,
    })
}

/// Parse the whole command line.
pub fn parse(line: &str) -> Result<Config, String> {
    let mut config = Config {
        mode: Mode::Shell,
        log_level: LogLevel::Info,
        bench_file: "/big.bin".to_string(),
        fstab: None,
        unknown: Vec::new(),
        root_hash: None,
        root: Default::default(),
        share_timeout_s: DEFAULT_SHARE_TIMEOUT_S,
    };
    let mut mode_word: Option<String> = None;
    for word in split_words(line)? {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word.as_str(), None),
        };
        let new_mode = match (key, value) {
            ("test", None) => Some(Mode::Test),
            ("bench", None) => Some(Mode::Bench),
            ("run", Some(v)) => {
                let v = v.trim();
                if v.is_empty() {
                    return Err("run= needs a script path or commands".to_string());
                }
                if v.starts_with('/') && !v.contains(|c: char| c == ';' || c.is_whitespace()) {
                    Some(Mode::RunScript(v.to_string()))
                } else {
                    Some(Mode::RunInline(v.to_string()))
                }
            }
            ("bench.file", Some(v)) => {
                if !v.starts_with('/') {
                    return Err(format!("bench.file=`{v}` is not an absolute path"));
                }
                config.bench_file = v.to_string();
                None
            }
            ("log", Some(v)) => {
                config.log_level = parse_level(v).ok_or_else(|| {
                    format!("log=`{v}`: use off, error, warn, info, debug or trace")
                })?;
                None
            }
            ("vfs.fstab" | "fstab", Some(v)) => {
                let table = config.fstab.get_or_insert_with(Vec::new);
                for part in v.split(';').filter(|p| !p.trim().is_empty()) {
                    table.push(parse_cmdline_entry(part.trim())?);
                }
                None
            }
            ("rofs.roothash", Some(v)) => {
                let root = drivers::verity::parse_root_hash(v)
                    .map_err(|e| format!("rofs.roothash=`{v}`: {e}"))?;
                if config.root_hash.replace(root).is_some() {
                    return Err("rofs.roothash= given twice".to_string());
                }
                None
            }
            ("virtiofs.timeout", Some(v)) => {
                config.share_timeout_s = v
                    .parse()
                    .ok()
                    .filter(|s| (1..=3600).contains(s))
                    .ok_or_else(|| {
                        format!("virtiofs.timeout=`{v}`: use whole seconds from 1 to 3600")
                    })?;
                None
            }
            ("root" | "root.size", Some(v)) => {
                crate::overlay_root::parse_word(&mut config.root, key, v)?;
                None
            }
            _ => {
                if !key.starts_with("selftest.") && !key.starts_with("bench.") {
                    config.unknown.push(word.clone());
                }
                None
            }
        };
        if let Some(mode) = new_mode {
            if let Some(previous) = &mode_word {
                return Err(format!(
                    "`{word}` conflicts with `{previous}`: choose one of test, bench, run="
                ));
            }
            mode_word = Some(word.clone());
            config.mode = mode;
        }
    }
    crate::overlay_root::check(&config.root)?;
    if let Some(table) = &config.fstab
        && !table.iter().any(|e| e.target == "/")
    {
        return Err("vfs.fstab= entries given, but none mounts /".to_string());
    }
    if let (Some(root), Some(table)) = (config.root_hash, config.fstab.as_mut()) {
        merge_root_hash(table, &root)?;
    }
    Ok(config)
}

/// `rofs.roothash=` into the root entry of a `vfs.fstab=` table: its
/// `roothash=` option, which must agree if the entry has one already.
fn merge_root_hash(table: &mut [MountEntry], root: &drivers::verity::Digest) -> Result<(), String> {
    for entry in table.iter_mut().filter(|e| e.target == "/") {
        if entry.source.is_none() {
            return Err(format!(
                "rofs.roothash= given, but the root entry ({} on /) has no device to verify",
                entry.fs_type
            ));
        }
        match crate::verity::split_options(&entry.options)?.0 {
            Some(given) if given != *root => {
                return Err(
                    "rofs.roothash= disagrees with the root entry's roothash= option".to_string(),
                );
            }
            Some(_) => {}
            None => entry.options = crate::verity::with_root_hash(&entry.options, root),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        assert_eq!(split_words("  a b\tc ").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            split_words(r#"run="ls /;cat /x" log=debug"#).unwrap(),
            ["run=ls /;cat /x", "log=debug"]
        );
        assert_eq!(split_words(r#"a"b c"d"#).unwrap(), ["ab cd"]);
        assert_eq!(split_words(r#""""#).unwrap(), [""]);
        assert!(split_words(r#"run="ls"#).is_err());
        assert!(split_words("").unwrap().is_empty());
    }

    #[test]
    fn virtiofs_timeout_is_bounded_seconds() {
        assert_eq!(parse("").unwrap().share_timeout_s, DEFAULT_SHARE_TIMEOUT_S);
        assert_eq!(parse("virtiofs.timeout=3").unwrap().share_timeout_s, 3);
        for bad in ["0", "3601", "-1", "1.5", "", "x"] {
            let e = parse(&format!("virtiofs.timeout={bad}")).unwrap_err();
            assert!(e.contains("virtiofs.timeout="), "{e}");
        }
    }

    #[test]
    fn empty_line_is_shell_with_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.mode, Mode::Shell);
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.bench_file, "/big.bin");
        assert!(c.fstab.is_none());
    }

    #[test]
    fn modes() {
        assert_eq!(parse("test").unwrap().mode, Mode::Test);
        assert_eq!(parse("bench bench.file=/x").unwrap().mode, Mode::Bench);
        assert_eq!(parse("bench bench.file=/x").unwrap().bench_file, "/x");
        assert_eq!(
            parse("run=/etc/demo.sh").unwrap().mode,
            Mode::RunScript("/etc/demo.sh".into())
        );
        assert_eq!(
            parse(r#"run="ls /;cat /x""#).unwrap().mode,
            Mode::RunInline("ls /;cat /x".into())
        );
        assert_eq!(
            parse("run=/etc/x;ls").unwrap().mode,
            Mode::RunInline("/etc/x;ls".into())
        );
        assert!(parse("test bench").is_err());
        assert!(parse("run=").is_err());
        assert!(parse("bench.file=relative").is_err());
    }

    #[test]
    fn log_levels() {
        assert_eq!(parse("log=trace").unwrap().log_level, LogLevel::Trace);
        assert_eq!(parse("log=off").unwrap().log_level, LogLevel::Off);
        assert!(parse("log=loud").is_err());
    }

    #[test]
    fn fstab_words() {
        let c = parse("vfs.fstab=vblk0:/:rofs vfs.fstab=none:/tmp:ramfs::size=32M").unwrap();
        let t = c.fstab.unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].options, "size=32M");
        let c = parse("fstab=vblk0:/:rofs;none:/dev:devfs").unwrap();
        assert_eq!(c.fstab.unwrap().len(), 2);
        assert!(parse("vfs.fstab=none:/tmp:ramfs").is_err(), "no root");
        assert!(parse("vfs.fstab=garbage").is_err());
    }

    #[test]
    fn unknown_words_are_collected_not_fatal() {
        let c = parse("quiet selftest.filter=x foo=bar").unwrap();
        assert_eq!(c.unknown, ["quiet", "foo=bar"]);
    }
}
