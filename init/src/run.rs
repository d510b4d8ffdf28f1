//! From probed disks to an exit code: mount the table, then run the mode the
//! command line chose.

use alloc::sync::Arc;
use alloc::vec::Vec;

use fs_devfs::DevFs;
use vfs::Vfs;

use crate::cmdline::{Config, Mode};
use crate::fstab::{MountEntry, default_table};
use crate::mounts::{self, Disk, Fatal, MountEnv};
use crate::shell::Shell;
use crate::{EXIT_SUCCESS, EXIT_TESTS_FAILED, Platform, bench, println, selftest};

/// What the kernel found and decided before handing over.
pub struct Boot<'a> {
    /// The whole command line; the suites read their `selftest.*` words.
    pub cmdline: &'a str,
    /// The parsed command line (the kernel parses it early for `log=`).
    pub config: &'a Config,
    /// The probed disks, named as in /dev (`vblk0`, ...).
    pub disks: &'a [Disk],
    /// The one devfs instance (disks and console already added); every
    /// `devfs` mount shows it.
    pub devfs: &'a Arc<DevFs>,
    /// How long the device probe took, for the boot log line.
    pub probe_ns: u64,
}

/// The filesystems, mounted.
pub struct Mounted {
    pub vfs: Vfs,
    /// How long the root mount took, in ns.
    pub root_mount_ns: u64,
}

/// Positive dentries kept for a heap of `heap_bytes`: one per 2 KiB of
/// heap (a dentry with its vnode costs about 400 bytes), so a walk over
/// any number of files keeps the cache under a fifth of the heap.
pub fn dentry_limit(heap_bytes: u64) -> usize {
    usize::try_from(heap_bytes / 2048)
        .unwrap_or(usize::MAX)
        .max(256)
}

/// A fresh VFS with every filesystem type registered, the mount table
/// mounted (the command line's, else [`default_table`] sized by the
/// platform's heap; with `root=overlay` its root entry stacked, see
/// [`crate::overlay_root`]), then `/etc/fstab` applied. Only a root
/// failure is fatal.
pub fn mount_all(platform: &dyn Platform, boot: &Boot) -> Result<Mounted, Fatal> {
    let cache = vfs::pagecache::PageCache::new(cache_budget(platform.heap_bytes()));
    let vfs = Vfs::with_cache(platform.clock(), cache);
    vfs.set_dentry_limit(dentry_limit(platform.heap_bytes()));
    mounts::register_types(&vfs, boot.devfs, &platform.shares());
    let default: Vec<MountEntry>;
    let table = match &boot.config.fstab {
        Some(table) => table.as_slice(),
        None => {
            default = with_root_hash(default_table(platform.heap_bytes()), boot.config);
            &default
        }
    };
    let env = MountEnv {
        vfs: &vfs,
        disks: boot.disks,
        platform,
    };
    let table = crate::overlay_root::stack_root(table, &boot.config.root, platform.heap_bytes());
    let root_mount_ns = mounts::mount_table(&env, &table)?;
    mounts::apply_etc_fstab(&env);
    Ok(Mounted { vfs, root_mount_ns })
}

/// The page cache's budget: an eighth of the heap. `/tmp` may take half of
/// it, and filesystems that read through the cache (ROFS v3) would
/// otherwise fill the rest, since nothing shrinks the cache when an
/// allocation fails.
fn cache_budget(heap_bytes: u64) -> usize {
    usize::try_from(heap_bytes / 8).unwrap_or(usize::MAX)
}

/// The default table with `rofs.roothash=` on its root entry.
fn with_root_hash(mut table: Vec<MountEntry>, config: &Config) -> Vec<MountEntry> {
    if let Some(root) = &config.root_hash {
        for entry in table.iter_mut().filter(|e| e.target == "/") {
            entry.options = crate::verity::with_root_hash(&entry.options, root);
        }
    }
    table
}

/// Mount everything and run the chosen mode; returns the exit code for the
/// kernel to report. A fatal mount failure prints one `FATAL:` line.
pub fn run(platform: &dyn Platform, boot: &Boot) -> u32 {
    let mode = &boot.config.mode;
    if *mode == Mode::Bench {
        println!(platform, "BENCH-INIT");
    }
    let mounted = match mount_all(platform, boot) {
        Ok(mounted) => mounted,
        Err(fatal) => {
            println!(platform, "FATAL: {}", fatal.message);
            return fatal.code;
        }
    };
    let boot_ns = platform.now_ns();
    log::info!(
        "boot done in {}.{:03} ms since kernel entry (disk probe {} us, root mount {} us)",
        boot_ns / 1_000_000,
        boot_ns / 1000 % 1000,
        boot.probe_ns / 1000,
        mounted.root_mount_ns / 1000
    );
    let vfs = &mounted.vfs;
    let shell = Shell::new(platform, vfs);
    match mode {
        Mode::Test => {
            let env = selftest::Env {
                platform,
                vfs,
                cmdline: boot.cmdline,
            };
            let (passed, failed) = selftest::run(&env);
            log::info!("tests: {passed} passed, {failed} failed");
            if failed == 0 {
                EXIT_SUCCESS
            } else {
                EXIT_TESTS_FAILED
            }
        }
        Mode::Bench => {
            bench::run(&bench::Env {
                platform,
                vfs,
                boot_ns,
                mount_ns: mounted.root_mount_ns,
                big_file: &boot.config.bench_file,
                cmdline: boot.cmdline,
            });
            EXIT_SUCCESS
        }
        Mode::RunScript(path) => {
            match vfs.read_file(path) {
                Ok(bytes) => match core::str::from_utf8(&bytes) {
                    Ok(text) => {
                        shell.run_script(path, text);
                    }
                    Err(_) => println!(platform, "run: {path}: not a UTF-8 text file"),
                },
                Err(e) => println!(platform, "run: {path}: {e}"),
            }
            EXIT_SUCCESS
        }
        Mode::RunInline(commands) => {
            shell.run_script("run", commands);
            EXIT_SUCCESS
        }
        Mode::Shell => {
            shell.interactive();
            EXIT_SUCCESS
        }
    }
}
