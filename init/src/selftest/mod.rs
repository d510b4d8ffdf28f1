//! In-guest test suites, run by the `test` command-line word.
//!
//! They exercise the whole stack (VFS, ROFS over virtio-blk, ramfs, devfs)
//! through the public [`vfs::Vfs`] API only. Every expectation about the root
//! image comes from data the host computed when it built the image:
//! `/crc32.list` (one `CRC32HEX SIZE /path` line per regular file),
//! `/selftest.expect` (directory sizes, links, loops, byte ranges) and the
//! `selftest.disk=SIZE:HEAD16HEX:CRC` command-line word (the raw disk's size,
//! first 16 bytes, and the CRC32 of its bytes 1..=65536). Nothing here compares
//! against a value the guest derives itself, so each test can fail.
//!
//! Output: one `PASS name` or `FAIL name: reason` line per test, then
//! `N passed, N failed` on its own line.
//!
//! This file is the runner and the list of tests in their order; each suite
//! is one file (`rofs`, `ramfs`, `dev`, `mounts`, `errors`, `overlay` with
//! `overlay_walk`), with the assertion helpers in `check` and the host
//! facts in `facts`.
//!
//! Suites follow the root's type: when `/` is an overlay (`root=overlay`)
//! the `overlay-*` tests run (before the cleanup), and `err-erofs` runs on
//! a read-only view of the overlay's lower layer, saying so in its PASS
//! line. When a writable virtio-fs share is mounted, the `virtiofs-*`
//! tests run on it (see [`virtiofs`]); without one they are not run.
//!
//! `selftest.only=PREFIX` runs only the tests whose names start with
//! PREFIX (`selftest.only=virtiofs`); the summary counts those.

mod check;
mod dev;
mod errors;
mod facts;
mod mounts;
mod overlay;
mod overlay_walk;
mod ramfs;
mod rofs;
pub mod virtiofs;

use alloc::format;
use alloc::string::String;

use vfs::Vfs;

use crate::{Platform, println};

pub use dev::CONSOLE_MARKER;
use facts::{expect_ref, load_crc_list, load_expect};

/// What the suites run against.
pub struct Env<'a> {
    /// The console the `PASS`/`FAIL` lines go to.
    pub platform: &'a dyn Platform,
    pub vfs: &'a Vfs,
    /// The whole kernel command line; the suite reads its `selftest.*` words.
    pub cmdline: &'a str,
}

/// A test's verdict: `Err` carries the reason printed after `FAIL name:`.
type Outcome = Result<(), String>;

/// Run every suite; returns (passed, failed).
pub fn run(env: &Env) -> (u32, u32) {
    let mut runner = Runner {
        platform: env.platform,
        only: env
            .cmdline
            .split_whitespace()
            .find_map(|w| w.strip_prefix("selftest.only=")),
        passed: 0,
        failed: 0,
    };
    let vfs = env.vfs;
    // Host-computed data; a missing or malformed file fails the tests using it.
    let crc_list = load_crc_list(vfs);
    let expect = load_expect(vfs);

    runner.check("rofs-crc32-all-files", || {
        rofs::crc_all(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });
    runner.check("rofs-tree-matches-list", || {
        rofs::tree_matches(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });
    runner.check("rofs-byte-ranges", || {
        rofs::ranges(vfs, expect_ref(&expect)?)
    });
    runner.check("rofs-dir-10000", || {
        rofs::big_dir(vfs, expect_ref(&expect)?)
    });
    runner.check("rofs-deep-path", || rofs::deep(vfs, expect_ref(&expect)?));
    runner.check("rofs-symlinks", || {
        rofs::symlinks(vfs, expect_ref(&expect)?)
    });
    runner.check("rofs-hardlinks", || {
        rofs::hardlinks(vfs, expect_ref(&expect)?)
    });
    runner.check("rofs-path-forms", || {
        rofs::path_forms(vfs, expect_ref(&expect)?)
    });
    runner.check("rofs-fd-ops", || {
        rofs::fd_ops(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });

    runner.check("ramfs-setup", || ramfs::setup(vfs));
    runner.check("ramfs-create-write-read", || ramfs::create_write_read(vfs));
    runner.check("ramfs-rename", || ramfs::rename(vfs));
    runner.check("ramfs-link-unlink", || ramfs::link_unlink(vfs));
    runner.check("ramfs-unlinked-open-file", || ramfs::unlinked_open(vfs));
    runner.check("ramfs-mkdir-rmdir", || ramfs::mkdir_rmdir(vfs));
    runner.check("ramfs-truncate", || ramfs::truncate(vfs));
    runner.check("ramfs-append", || ramfs::append(vfs));
    runner.check("ramfs-symlink", || ramfs::symlink(vfs));
    runner.check("ramfs-big-file", || ramfs::big_file(vfs));
    runner.check("ramfs-tmp-size-limit", || ramfs::size_limit(vfs));
    runner.check("ramfs-readdir-while-changing", || {
        ramfs::readdir_changing(vfs)
    });

    runner.check("dev-null", || dev::null(vfs));
    runner.check("dev-zero", || dev::zero(vfs));
    runner.check("dev-full", || dev::full(vfs));
    runner.check("dev-urandom", || dev::urandom(vfs));
    runner.check("dev-console", || dev::console(vfs));
    runner.check("dev-vblk0", || dev::vblk0(vfs, env.cmdline));
    runner.check("dev-remount", || dev::remount(vfs));

    runner.check("mount-umount-ramfs", || mounts::mount_umount(vfs));
    runner.check("umount-busy", || mounts::umount_busy(vfs));

    let stack = overlay::Stack::of_root(vfs);
    match &stack {
        None => runner.check("err-erofs", || {
            errors::erofs(vfs, crc_list.as_ref().map_err(Clone::clone)?, "")
        }),
        Some(stack) => {
            let note = format!(
                "on a read-only view of {}: / is an overlay",
                stack.lower.join(":")
            );
            runner.check_noted("err-erofs", &note, || {
                let list = crc_list.as_ref().map_err(Clone::clone)?;
                stack.with_lower_view(vfs, |view| errors::erofs(vfs, list, view))
            })
        }
    }
    runner.check("err-enoent", || errors::enoent(vfs, expect_ref(&expect)?));
    runner.check("err-enotdir", || {
        errors::enotdir(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });
    runner.check("err-eloop", || errors::eloop(vfs, expect_ref(&expect)?));
    runner.check("err-exdev", || {
        let root_read_only = vfs
            .mounts()
            .iter()
            .any(|m| m.target == "/" && m.flags.contains(vfs::MountFlags::RDONLY));
        errors::exdev(
            vfs,
            crc_list.as_ref().map_err(Clone::clone)?,
            root_read_only,
        )
    });
    runner.check("err-eisdir", || errors::eisdir(vfs));
    runner.check("err-ebadf", || errors::ebadf(vfs));
    runner.check("err-eexist-enotempty", || errors::eexist_enotempty(vfs));
    runner.check("err-einval", || errors::einval(vfs));

    if let Some(stack) = &stack {
        overlay_suite(
            &mut runner,
            env,
            stack,
            crc_list.as_deref().map_err(Clone::clone),
        );
    }

    if let Some(share) = virtiofs::share_of(vfs) {
        virtiofs_suite(&mut runner, env, &share);
    }

    runner.check("ramfs-cleanup", || ramfs::cleanup(vfs));

    println!(
        env.platform,
        "{} passed, {} failed", runner.passed, runner.failed
    );
    (runner.passed, runner.failed)
}

/// The `overlay` suite, in order: each test changes `/` and records it in
/// the ledger; the walk checks the whole tree against the list and it.
fn overlay_suite(
    runner: &mut Runner,
    env: &Env,
    stack: &overlay::Stack,
    list: Result<&[facts::CrcEntry], String>,
) {
    let vfs = env.vfs;
    let ledger = overlay::Ledger::default();
    let list = || list.clone();
    runner.check("overlay-stack", || {
        overlay::stack(vfs, stack, env.cmdline, env.platform.heap_bytes())
    });
    runner.check("overlay-etc-writes", || {
        overlay::etc_writes(vfs, stack, list()?, &ledger)
    });
    runner.check("overlay-deletes", || {
        overlay::deletes(vfs, stack, list()?, &ledger)
    });
    runner.check("overlay-dir-recreated", || {
        overlay::dir_recreated(vfs, stack, list()?, &ledger)
    });
    runner.check("overlay-renames", || {
        overlay::renames(vfs, stack, list()?, &ledger)
    });
    runner.check("overlay-copyup-enospc", || {
        overlay::copyup_enospc(vfs, stack, list()?, &ledger)
    });
    runner.check("overlay-walk", || overlay_walk::walk(vfs, list()?, &ledger));
}

/// The `virtiofs` suite on the share mounted at `share`, in order: each
/// test builds on the files the ones before made.
fn virtiofs_suite(runner: &mut Runner, env: &Env, share: &str) {
    let vfs = env.vfs;
    runner.check("virtiofs-host-file", || {
        virtiofs::host_file(vfs, share, env.cmdline)
    });
    runner.check("virtiofs-create-write-read", || {
        virtiofs::create_write_read(vfs, share)
    });
    runner.check("virtiofs-rename", || virtiofs::rename(vfs, share));
    runner.check("virtiofs-unlink", || virtiofs::unlink(vfs, share));
    runner.check("virtiofs-truncate", || virtiofs::truncate(vfs, share));
    runner.check("virtiofs-mkdir-rmdir", || virtiofs::mkdir_rmdir(vfs, share));
    runner.check("virtiofs-symlink", || virtiofs::symlink(vfs, share));
    runner.check("virtiofs-stat", || virtiofs::stat(vfs, share));
    runner.check("virtiofs-readdir", || virtiofs::readdir(vfs, share));
}

struct Runner<'a> {
    platform: &'a dyn Platform,
    /// `selftest.only=`: run only the tests named with this prefix.
    only: Option<&'a str>,
    passed: u32,
    failed: u32,
}

impl Runner<'_> {
    fn selected(&self, name: &str) -> bool {
        self.only.is_none_or(|prefix| name.starts_with(prefix))
    }

    fn check(&mut self, name: &str, test: impl FnOnce() -> Outcome) {
        if !self.selected(name) {
            return;
        }
        match test() {
            Ok(()) => {
                self.passed += 1;
                println!(self.platform, "PASS {}", name);
            }
            Err(reason) => {
                self.failed += 1;
                println!(self.platform, "FAIL {}: {}", name, reason);
            }
        }
    }

    /// As [`Runner::check`], with `note` after a PASS (how the test ran).
    fn check_noted(&mut self, name: &str, note: &str, test: impl FnOnce() -> Outcome) {
        if !self.selected(name) {
            return;
        }
        match test() {
            Ok(()) => {
                self.passed += 1;
                println!(self.platform, "PASS {} ({})", name, note);
            }
            Err(reason) => {
                self.failed += 1;
                println!(self.platform, "FAIL {}: {}", name, reason);
            }
        }
    }
}
