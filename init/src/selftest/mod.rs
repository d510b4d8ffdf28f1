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
//! is one file (`rofs`, `ramfs`, `dev`, `mounts`, `errors`), with
//! the assertion helpers in `check` and the host facts in `facts`.

mod check;
mod dev;
mod errors;
mod facts;
mod mounts;
mod ramfs;
mod rofs;

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

    runner.check("err-erofs", || {
        errors::erofs(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });
    runner.check("err-enoent", || errors::enoent(vfs, expect_ref(&expect)?));
    runner.check("err-enotdir", || {
        errors::enotdir(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });
    runner.check("err-eloop", || errors::eloop(vfs, expect_ref(&expect)?));
    runner.check("err-exdev", || {
        errors::exdev(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });
    runner.check("err-eisdir", || errors::eisdir(vfs));
    runner.check("err-ebadf", || errors::ebadf(vfs));
    runner.check("err-eexist-enotempty", || errors::eexist_enotempty(vfs));
    runner.check("err-einval", || errors::einval(vfs));

    runner.check("ramfs-cleanup", || ramfs::cleanup(vfs));

    println!(
        env.platform,
        "{} passed, {} failed", runner.passed, runner.failed
    );
    (runner.passed, runner.failed)
}

struct Runner<'a> {
    platform: &'a dyn Platform,
    passed: u32,
    failed: u32,
}

impl Runner<'_> {
    fn check(&mut self, name: &str, test: impl FnOnce() -> Outcome) {
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
}
