//! Differential test: the VFS over ramfs against a real Linux directory.
//!
//! A seeded generator drives thousands of random operations (open with random
//! flags, write, read, truncate, rename, link, unlink, mkdir, rmdir, symlink
//! with relative and absolute targets, readlink, readdir, stat, lstat, chmod,
//! chdir, getcwd, and read/write/lseek/fstat/ftruncate/dup on descriptors kept
//! open while their files are renamed, replaced or unlinked) against both,
//! with a small pool of names so that collisions, replacements and errors are
//! common. Paths are absolute or relative to the working directory, with
//! occasional `.`, `..`, `//` and trailing slashes. Every result and errno
//! must match, and every few hundred operations the two whole trees are
//! compared (types, sizes, link counts, permissions, contents, symlink
//! targets). Inode numbers, devices, times and block counts legitimately
//! differ and are not compared, nor are directory sizes.
//!
//! Linux (on tmpfs, `/dev/shm`) is the reference. A mismatch that changed
//! state stops the seed at once; errno-only mismatches are collected and
//! reported at the end. Messages give the seed, the operation and the ones
//! before it. Rerun one seed with
//! `DIFF_SEED=<seed> cargo test -p tests --test differential`; add
//! `DIFF_LOG=<n>` for a longer log and `DIFF_TREES=1` to see the tree before
//! a failing operation.

use std::ffi::{CStr, CString};
use std::fmt::Write as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fastrand::Rng;
use rustix::fs::{FileType as LinuxFileType, Mode, OFlags, SeekFrom};
use vfs::{FileType, FixedClock, MountFlags, OpenFlags, S_IFMT, Stat, Timespec, Vfs, Whence};

/// Names the paths are built from: few, so operations collide.
const NAMES: [&str; 4] = ["a", "b", "c", "d"];
/// Symlink targets. None may resolve above the test root on Linux, whose
/// parent exists, where the VFS root is its own parent: relative targets never
/// start with `..`, and there is no target `/` (`link/..` would then leave
/// the root). Absolute targets are rooted in the test directory on Linux.
const LINK_TARGETS: [&str; 10] = [
    "a", "b", "a/b", "c/d", "b/../a", "missing", "d/", "/a", "/b/c", "/c/../d",
];
/// Operations per seed.
const OPS_PER_SEED: usize = 10_000;
/// Whole-tree comparison interval.
const FULL_CHECK_EVERY: usize = 250;
/// Seeds 20 and 171 catch renames into a removed working directory (Linux
/// answers ENOENT before any other check).
const FIXED_SEEDS: [u64; 10] = [1, 2, 3, 4, 5, 6, 7, 20, 171, 0x5eed_f00d];
const MAX_KEPT_FDS: usize = 4;
/// Operations shown before a failure (env `DIFF_LOG=N` shows N).
const LOG_TAIL: usize = 80;

/// An operation's outcome, rendered for comparison and messages.
type Outcome = Result<String, i32>;

/// A Linux call's result with the raw errno, the VFS's error currency.
fn lx<T>(ret: rustix::io::Result<T>) -> Result<T, i32> {
    ret.map_err(|e| e.raw_os_error())
}

/// A Linux call that returns nothing on success, as an outcome.
fn lx_ok(ret: rustix::io::Result<()>) -> Outcome {
    lx(ret).map(|()| String::from("ok"))
}

/// open(2) with the generated raw flags (plus close-on-exec), as the VFS
/// gets them.
fn linux_open(path: &CStr, flags: u32, mode: u32) -> Result<OwnedFd, i32> {
    lx(rustix::fs::open(
        path,
        OFlags::from_bits_retain(flags) | OFlags::CLOEXEC,
        Mode::from_bits_retain(mode),
    ))
}

fn kind_name(mode: u32) -> &'static str {
    match FileType::from_mode(mode) {
        Some(FileType::Regular) => "file",
        Some(FileType::Directory) => "dir",
        Some(FileType::Symlink) => "symlink",
        Some(FileType::CharDevice) => "chr",
        Some(FileType::BlockDevice) => "blk",
        Some(FileType::Fifo) => "fifo",
        Some(FileType::Socket) => "sock",
        None => "?",
    }
}

/// The fields both sides must agree on.
fn render_stat(mode: u32, size: u64, nlink: u64) -> String {
    let kind = kind_name(mode);
    // A symlink's size is its target's length, which differs for absolute
    // targets; targets are compared through readlink instead.
    let size = if kind == "dir" || kind == "symlink" {
        String::from("-")
    } else {
        size.to_string()
    };
    format!("{kind} size={size} nlink={nlink} perm={:o}", mode & 0o7777)
}

fn render_vfs_stat(st: &Stat) -> String {
    render_stat(st.mode, st.size, u64::from(st.nlink))
}

fn render_linux_stat(st: &rustix::fs::Stat) -> String {
    render_stat(st.st_mode, st.st_size as u64, st.st_nlink)
}

/// A descriptor open on both sides.
struct Kept {
    vfs_fd: vfs::Fd,
    /// Dropping it closes it.
    linux_fd: OwnedFd,
    what: String,
}

struct Harness {
    seed: u64,
    rng: Rng,
    vfs: Vfs,
    root: PathBuf,
    kept: Vec<Kept>,
    log: Vec<String>,
    /// Distinct (operation, vfs errno, linux errno) disagreements seen.
    errno_mismatches: Vec<(String, i32, i32, String)>,
    /// Debugging a seed (`DIFF_TREES=1`): the Linux tree before each step,
    /// shown when the step fails.
    keep_tree_before: bool,
    tree_before: String,
}

impl Harness {
    fn new(seed: u64, root: &Path) -> Harness {
        let vfs = Vfs::new(Arc::new(FixedClock(Timespec::new(1_700_000_000, 0))));
        // Odd seeds run with a tiny dentry cache, so evictions happen all
        // the time and must never change an answer.
        if seed % 2 == 1 {
            vfs.set_dentry_limit(8);
        }
        vfs.register(std::sync::Arc::new(fs_ramfs::RamFsType))
            .unwrap();
        vfs.mount(None, "/", "ramfs", MountFlags::empty(), "")
            .unwrap();
        Harness {
            seed,
            rng: Rng::with_seed(seed),
            vfs,
            root: root.to_path_buf(),
            kept: Vec::new(),
            log: Vec::new(),
            errno_mismatches: Vec::new(),
            keep_tree_before: std::env::var_os("DIFF_TREES").is_some(),
            tree_before: String::from("(run with DIFF_TREES=1 to see it)"),
        }
    }

    /// The path for the VFS: generated paths are already in its terms.
    fn vpath(path: &str) -> String {
        path.to_string()
    }

    /// The path for Linux: absolute ones are rooted in the test directory,
    /// relative ones resolve from the process's working directory, which
    /// `chdir` operations move in step with the VFS's.
    fn cpath(&self, path: &str) -> CString {
        let mut bytes = Vec::new();
        if path.starts_with('/') {
            bytes.extend_from_slice(self.root.as_os_str().as_bytes());
        }
        bytes.extend_from_slice(path.as_bytes());
        CString::new(bytes).unwrap()
    }

    /// A random path of 1 to 3 names, sometimes with `.`, `..` or a trailing
    /// slash; mostly absolute, sometimes relative to the working directory.
    fn path(&mut self) -> String {
        let depth = match self.rng.u8(0..10) {
            0..=3 => 1,
            4..=7 => 2,
            _ => 3,
        };
        let mut parts: Vec<&str> = (0..depth)
            .map(|_| NAMES[self.rng.usize(..NAMES.len())])
            .collect();
        match self.rng.u8(0..40) {
            0 => parts.insert(self.rng.usize(1..=parts.len()), "."),
            // `..` only after a name, so it never climbs above the root.
            1 if parts.len() >= 2 => parts.insert(self.rng.usize(1..parts.len()), ".."),
            _ => {}
        }
        let mut path = parts.join("/");
        match self.rng.u8(0..40) {
            0 | 1 => path.push('/'),
            2 => path.push_str("/."),
            3 => path = path.replacen('/', "//", 1),
            _ => {}
        }
        if self.rng.u8(0..5) != 0 {
            path.insert(0, '/');
        }
        path
    }

    fn mode(&mut self) -> u32 {
        let mode = [0o755, 0o700, 0o644, 0o600, 0o777, 0o711][self.rng.usize(..6)];
        // The VFS does not enforce permissions and root ignores them on
        // Linux; anyone else needs owner rwx to keep walking the tree.
        if rustix::process::geteuid().is_root() {
            mode
        } else {
            mode | 0o700
        }
    }

    fn data(&mut self) -> Vec<u8> {
        let len = match self.rng.u8(0..10) {
            0 => 0,
            1..=6 => self.rng.usize(1..200),
            7 | 8 => self.rng.usize(200..10_000),
            _ => self.rng.usize(60_000..140_000),
        };
        let fill = self.rng.u8(..);
        (0..len).map(|i| fill.wrapping_add(i as u8)).collect()
    }

    fn offset(&mut self) -> u64 {
        match self.rng.u8(0..10) {
            0..=3 => 0,
            4..=7 => self.rng.u64(0..5000),
            8 => self.rng.u64(60_000..70_000),
            _ => self.rng.u64(200_000..300_000),
        }
    }

    fn open_flags(&mut self) -> u32 {
        // Linux's own flag values (from the kernel headers), passed raw to
        // both sides: the VFS must use the same numbers.
        let mut flags = [OFlags::RDONLY, OFlags::WRONLY, OFlags::RDWR][self.rng.usize(..3)];
        for (bit, one_in) in [
            (OFlags::CREATE, 2),
            (OFlags::EXCL, 5),
            (OFlags::TRUNC, 6),
            (OFlags::APPEND, 6),
            (OFlags::DIRECTORY, 10),
            (OFlags::NOFOLLOW, 10),
        ] {
            if self.rng.u8(0..one_in) == 0 {
                flags |= bit;
            }
        }
        // O_CREAT with O_DIRECTORY: EINVAL since Linux 6.4, a regular file
        // before; not portable, so not generated.
        if flags.contains(OFlags::CREATE) {
            flags.remove(OFlags::DIRECTORY);
        }
        flags.bits()
    }

    fn fail(&self, op: &str, vfs: &Outcome, linux: &Outcome) -> ! {
        let mut msg = String::new();
        let _ = writeln!(
            msg,
            "DIFFERENTIAL MISMATCH with seed {} (rerun: DIFF_SEED={})",
            self.seed, self.seed
        );
        let _ = writeln!(msg, "operation #{}: {op}", self.log.len());
        let _ = writeln!(msg, "  vfs:   {}", render(vfs));
        let _ = writeln!(msg, "  linux: {}", render(linux));
        let _ = writeln!(
            msg,
            "tree before it (linux):\n{}",
            indent(&self.tree_before)
        );
        msg.push_str(&self.recent_log());
        panic!("{msg}");
    }

    /// The last operations, for failure messages (DIFF_SEED replays all).
    fn recent_log(&self) -> String {
        let tail = std::env::var("DIFF_LOG")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(LOG_TAIL);
        let start = self.log.len().saturating_sub(tail);
        let mut out = format!("the {} operations before it:\n", self.log.len() - start);
        for (i, line) in self.log.iter().enumerate().skip(start) {
            let _ = writeln!(out, "  #{i}: {line}");
        }
        out
    }

    fn compare(&mut self, op: String, vfs: Outcome, linux: Outcome) {
        if vfs != linux {
            // Both failed, just with different errnos: neither side changed
            // state, so note it and keep going to find more.
            if let (Err(v), Err(l)) = (&vfs, &linux) {
                let kind = op.split('(').next().unwrap_or("").to_string();
                if !self
                    .errno_mismatches
                    .iter()
                    .any(|m| m.0 == kind && m.1 == *v && m.2 == *l)
                {
                    let line = format!(
                        "#{}: {op}: vfs {} but linux {}\n    tree at that point (linux):\n{}",
                        self.log.len(),
                        render(&vfs),
                        render(&linux),
                        indent(&linux_tree(&self.root, ""))
                    );
                    self.errno_mismatches.push((kind, *v, *l, line));
                }
            } else {
                self.fail(&op, &vfs, &linux);
            }
        }
        self.log.push(format!("{op} -> {}", render(&linux)));
    }

    fn step(&mut self) {
        if self.keep_tree_before {
            self.tree_before = linux_tree(&self.root, "");
        }
        let choice = self.rng.u8(0..100);
        match choice {
            0..=9 => self.op_open_close(),
            10..=19 => self.op_write(),
            20..=25 => self.op_read(),
            26..=29 => self.op_truncate(),
            30..=38 => self.op_rename(),
            39..=42 => self.op_link(),
            43..=49 => self.op_unlink(),
            50..=58 => self.op_mkdir(),
            59..=63 => self.op_rmdir(),
            64..=68 => self.op_symlink(),
            69..=70 => self.op_readlink(),
            71..=75 => self.op_readdir(),
            76..=81 => {
                let follow = self.rng.bool();
                self.op_stat(follow)
            }
            82..=83 => self.op_chmod(),
            84..=87 => self.op_keep_open(),
            88..=95 => self.op_kept_io(),
            96 | 97 => self.op_close_kept(),
            98 => self.op_chdir(),
            _ => self.op_getcwd(),
        }
    }

    fn op_open_close(&mut self) {
        let path = self.path();
        let flags = self.open_flags();
        let mode = self.mode();
        let op = format!("open({path:?}, {flags:#o}, {mode:#o}) + close");
        let vfs = self
            .vfs
            .open(
                &Self::vpath(&path),
                OpenFlags::from_bits_retain(flags),
                mode,
            )
            .and_then(|fd| self.vfs.close(fd))
            .map(|()| String::from("ok"))
            .map_err(|e| e.raw());
        let c = self.cpath(&path);
        // The descriptor is dropped, so closed, at once.
        let linux = linux_open(&c, flags, mode).map(|_fd| String::from("ok"));
        self.compare(op, vfs, linux);
    }

    fn op_write(&mut self) {
        let path = self.path();
        let append = self.rng.u8(0..4) == 0;
        let data = self.data();
        let offset = self.offset();
        let flags = if append {
            OFlags::WRONLY | OFlags::APPEND
        } else {
            OFlags::WRONLY
        }
        .bits();
        let op = format!(
            "write({path:?}, append={append}, offset={offset}, len={})",
            data.len()
        );
        let vfs = (|| {
            let fd = self
                .vfs
                .open(&Self::vpath(&path), OpenFlags::from_bits_retain(flags), 0)?;
            let result = (|| {
                if !append {
                    self.vfs.lseek(fd, offset as i64, Whence::Set)?;
                }
                self.vfs.write(fd, &data)
            })();
            self.vfs.close(fd)?;
            result.map(|n| n.to_string())
        })()
        .map_err(|e| e.raw());
        let c = self.cpath(&path);
        // The descriptor is closed when dropped, on every path out.
        let linux = (|| {
            let fd = linux_open(&c, flags, 0)?;
            if !append {
                lx(rustix::fs::seek(&fd, SeekFrom::Start(offset)))?;
            }
            lx(rustix::io::write(&fd, &data)).map(|n| n.to_string())
        })();
        self.compare(op, vfs, linux);
    }

    fn op_read(&mut self) {
        let path = self.path();
        let offset = self.offset();
        let len = self.rng.usize(0..150_000);
        let op = format!("pread({path:?}, offset={offset}, len={len})");
        let vfs = (|| {
            let fd = self.vfs.open(&Self::vpath(&path), OpenFlags::O_RDONLY, 0)?;
            let mut buf = vec![0u8; len];
            let result = self.vfs.pread(fd, &mut buf, offset);
            self.vfs.close(fd)?;
            result.map(|n| digest(&buf[..n]))
        })()
        .map_err(|e| e.raw());
        let c = self.cpath(&path);
        let linux = (|| {
            let fd = linux_open(&c, OFlags::RDONLY.bits(), 0)?;
            let mut buf = vec![0u8; len];
            let n = lx(rustix::io::pread(&fd, &mut buf[..], offset))?;
            Ok(digest(&buf[..n]))
        })();
        self.compare(op, vfs, linux);
    }

    fn op_truncate(&mut self) {
        let path = self.path();
        let len = self.offset();
        let op = format!("truncate({path:?}, {len})");
        let vfs = self
            .vfs
            .truncate(&Self::vpath(&path), len)
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let c = self.cpath(&path);
        // truncate(2) has no safe binding. open(O_WRONLY) + ftruncate(2)
        // checks the same things in the same order (lookup: ENOENT,
        // ENOTDIR, ELOOP; then EISDIR; then write permission), so gives the
        // same errno for every file, directory and symlink made here.
        let linux = lx_ok((|| {
            let fd = rustix::fs::open(&c, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
            rustix::fs::ftruncate(&fd, len)
        })());
        self.compare(op, vfs, linux);
    }

    fn two_paths(
        &mut self,
        name: &str,
        call: fn(&Vfs, &str, &str) -> vfs::VfsResult<()>,
        sys: fn(&CStr, &CStr) -> rustix::io::Result<()>,
    ) {
        let (from, to) = (self.path(), self.path());
        let op = format!("{name}({from:?}, {to:?})");
        let vfs = call(&self.vfs, &Self::vpath(&from), &Self::vpath(&to))
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let (a, b) = (self.cpath(&from), self.cpath(&to));
        let linux = lx_ok(sys(&a, &b));
        self.compare(op, vfs, linux);
    }

    fn op_rename(&mut self) {
        self.two_paths("rename", Vfs::rename, |a, b| rustix::fs::rename(a, b));
    }

    fn op_link(&mut self) {
        self.two_paths("link", Vfs::link, |a, b| rustix::fs::link(a, b));
    }

    fn one_path(
        &mut self,
        name: &str,
        call: fn(&Vfs, &str) -> vfs::VfsResult<()>,
        sys: fn(&CStr) -> rustix::io::Result<()>,
    ) {
        let path = self.path();
        let op = format!("{name}({path:?})");
        let vfs = call(&self.vfs, &Self::vpath(&path))
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let c = self.cpath(&path);
        let linux = lx_ok(sys(&c));
        self.compare(op, vfs, linux);
    }

    fn op_unlink(&mut self) {
        self.one_path("unlink", Vfs::unlink, |p| rustix::fs::unlink(p));
    }

    fn op_rmdir(&mut self) {
        self.one_path("rmdir", Vfs::rmdir, |p| rustix::fs::rmdir(p));
    }

    fn op_mkdir(&mut self) {
        let path = self.path();
        let mode = self.mode();
        let op = format!("mkdir({path:?}, {mode:#o})");
        let vfs = self
            .vfs
            .mkdir(&Self::vpath(&path), mode)
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let c = self.cpath(&path);
        let linux = lx_ok(rustix::fs::mkdir(&c, Mode::from_bits_retain(mode)));
        self.compare(op, vfs, linux);
    }

    fn op_symlink(&mut self) {
        let target = LINK_TARGETS[self.rng.usize(..LINK_TARGETS.len())];
        let path = self.path();
        let op = format!("symlink({target:?}, {path:?})");
        let vfs = self
            .vfs
            .symlink(target, &Self::vpath(&path))
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let linux_target = match target.strip_prefix('/') {
            Some(rest) => format!("{}/{rest}", self.root.display()),
            None => target.to_string(),
        };
        let (t, c) = (CString::new(linux_target).unwrap(), self.cpath(&path));
        let linux = lx_ok(rustix::fs::symlink(&t, &c));
        self.compare(op, vfs, linux);
    }

    fn op_readlink(&mut self) {
        let path = self.path();
        let op = format!("readlink({path:?})");
        let vfs = self.vfs.readlink(&Self::vpath(&path)).map_err(|e| e.raw());
        let linux = linux_readlink(&self.cpath(&path), &self.root);
        self.compare(op, vfs, linux);
    }

    fn op_readdir(&mut self) {
        let path = self.path();
        let op = format!("readdir({path:?})");
        let vfs = self
            .vfs
            .read_dir(&Self::vpath(&path))
            .map(|entries| {
                let mut v: Vec<String> = entries
                    .iter()
                    .map(|e| format!("{}:{}", e.name, kind_name(e.file_type.mode_bits())))
                    .collect();
                v.sort();
                v.join(" ")
            })
            .map_err(|e| e.raw());
        let linux = linux_readdir(&self.cpath(&path));
        self.compare(op, vfs, linux);
    }

    fn op_stat(&mut self, follow: bool) {
        let path = self.path();
        let name = if follow { "stat" } else { "lstat" };
        let op = format!("{name}({path:?})");
        let vpath = Self::vpath(&path);
        let vfs = if follow {
            self.vfs.stat(&vpath)
        } else {
            self.vfs.lstat(&vpath)
        };
        let vfs = vfs.map(|st| render_vfs_stat(&st)).map_err(|e| e.raw());
        let linux = linux_stat(&self.cpath(&path), follow);
        self.compare(op, vfs, linux);
    }

    fn op_chdir(&mut self) {
        let path = self.path();
        let op = format!("chdir({path:?})");
        let vfs = self
            .vfs
            .chdir(&Self::vpath(&path))
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let c = self.cpath(&path);
        let linux = lx_ok(rustix::process::chdir(&c));
        self.compare(op, vfs, linux);
    }

    fn op_getcwd(&mut self) {
        let vfs = self.vfs.getcwd().map_err(|e| e.raw());
        let linux = std::env::current_dir()
            .map_err(|e| e.raw_os_error().unwrap_or(-1))
            .map(|cwd| match cwd.strip_prefix(&self.root) {
                Ok(rest) => format!("/{}", rest.display()),
                Err(_) => format!("outside the root: {}", cwd.display()),
            });
        self.compare(String::from("getcwd()"), vfs, linux);
    }

    fn op_chmod(&mut self) {
        let path = self.path();
        let mode = self.mode();
        let op = format!("chmod({path:?}, {mode:#o})");
        let vfs = self
            .vfs
            .chmod(&Self::vpath(&path), mode)
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let c = self.cpath(&path);
        let linux = lx_ok(rustix::fs::chmod(&c, Mode::from_bits_retain(mode)));
        self.compare(op, vfs, linux);
    }

    fn op_keep_open(&mut self) {
        if self.kept.len() >= MAX_KEPT_FDS {
            return self.op_close_kept();
        }
        let path = self.path();
        let flags = self.open_flags() & !OFlags::EXCL.bits();
        let op = format!("open-kept({path:?}, {flags:#o})");
        let vfs = self
            .vfs
            .open(
                &Self::vpath(&path),
                OpenFlags::from_bits_retain(flags),
                0o644,
            )
            .map_err(|e| e.raw());
        let c = self.cpath(&path);
        let linux = linux_open(&c, flags, 0o644);
        match (vfs, linux) {
            (Ok(vfs_fd), Ok(linux_fd)) => {
                let what = format!("fd[{}]={path:?}", self.kept.len());
                self.compare(op, Ok(what.clone()), Ok(what.clone()));
                self.kept.push(Kept {
                    vfs_fd,
                    linux_fd,
                    what,
                });
            }
            (vfs, linux) => {
                let vfs = vfs.map(|fd| format!("fd {fd}"));
                let linux = linux.map(|fd| format!("fd {}", fd.as_raw_fd()));
                self.compare(op, vfs, linux);
            }
        }
    }

    fn op_close_kept(&mut self) {
        if self.kept.is_empty() {
            return;
        }
        let k = self.kept.remove(self.rng.usize(..self.kept.len()));
        let op = format!("close({})", k.what);
        let vfs = self
            .vfs
            .close(k.vfs_fd)
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        // Dropping the descriptor closes it. The safe API cannot report a
        // close(2) failure, but closing a descriptor we own on tmpfs has
        // none to report (no EBADF, no deferred write errors).
        drop(k.linux_fd);
        let linux = Ok(String::from("ok"));
        self.compare(op, vfs, linux);
    }

    /// The Linux side of kept descriptor `i`, borrowed afresh at each use so
    /// the generator can be drawn from in between.
    fn kept_linux_fd(&self, i: usize) -> BorrowedFd<'_> {
        self.kept[i].linux_fd.as_fd()
    }

    /// I/O through a kept descriptor, whose file may since have been renamed,
    /// replaced or unlinked.
    fn op_kept_io(&mut self) {
        if self.kept.is_empty() {
            return self.op_keep_open();
        }
        let i = self.rng.usize(..self.kept.len());
        let (vfd, what) = (self.kept[i].vfs_fd, self.kept[i].what.clone());
        match self.rng.u8(0..7) {
            // A duplicate shares the offset (checked by later reads/seeks).
            6 if self.kept.len() < MAX_KEPT_FDS => {
                let op = format!("dup({what})");
                let vfs = self.vfs.dup(vfd).map_err(|e| e.raw());
                let linux = lx(rustix::io::fcntl_dupfd_cloexec(self.kept_linux_fd(i), 0));
                match (vfs, linux) {
                    (Ok(vfs_fd), Ok(linux_fd)) => {
                        let dup_what = format!("fd[{}]=dup of {what}", self.kept.len());
                        self.compare(op, Ok(dup_what.clone()), Ok(dup_what.clone()));
                        self.kept.push(Kept {
                            vfs_fd,
                            linux_fd,
                            what: dup_what,
                        });
                    }
                    (vfs, linux) => {
                        let (vfs, linux) = (
                            vfs.map(|fd| format!("fd {fd}")),
                            linux.map(|fd| format!("fd {}", fd.as_raw_fd())),
                        );
                        self.compare(op, vfs, linux);
                    }
                }
            }
            // lseek on a directory: Linux's tmpfs takes any position, the
            // VFS only a rewind (its positions are readdir cookies). Both
            // are valid (positions are filesystem-specific), so not compared.
            4 if !linux_fd_is_dir(self.kept_linux_fd(i)) => {
                let (offset, whence) = match self.rng.u8(0..3) {
                    0 => (self.rng.i64(-10..5000), Whence::Set),
                    1 => (self.rng.i64(-3000..3000), Whence::Cur),
                    _ => (self.rng.i64(-3000..3000), Whence::End),
                };
                let linux_pos = match whence {
                    // A negative offset wraps here and rustix passes the
                    // same bits on as lseek(2)'s signed offset, so Linux
                    // sees the negative offset and answers EINVAL.
                    Whence::Set => SeekFrom::Start(offset as u64),
                    Whence::Cur => SeekFrom::Current(offset),
                    Whence::End => SeekFrom::End(offset),
                };
                let op = format!("lseek({what}, {offset}, {whence:?})");
                let vfs = self
                    .vfs
                    .lseek(vfd, offset, whence)
                    .map(|n| n.to_string())
                    .map_err(|e| e.raw());
                let linux =
                    lx(rustix::fs::seek(self.kept_linux_fd(i), linux_pos)).map(|n| n.to_string());
                self.compare(op, vfs, linux);
            }
            4 | 5 => {
                let len = self.rng.usize(0..20_000);
                let op = format!("read({what}, len={len})");
                let mut buf = vec![0u8; len];
                let vfs = self
                    .vfs
                    .read(vfd, &mut buf)
                    .map(|n| digest(&buf[..n]))
                    .map_err(|e| e.raw());
                let mut buf = vec![0u8; len];
                let linux = lx(rustix::io::read(self.kept_linux_fd(i), &mut buf[..]))
                    .map(|n| digest(&buf[..n]));
                self.compare(op, vfs, linux);
            }
            0 => {
                let data = self.data();
                let op = format!("write({what}, len={})", data.len());
                let vfs = self
                    .vfs
                    .write(vfd, &data)
                    .map(|n| n.to_string())
                    .map_err(|e| e.raw());
                let linux =
                    lx(rustix::io::write(self.kept_linux_fd(i), &data)).map(|n| n.to_string());
                self.compare(op, vfs, linux);
            }
            1 => {
                let offset = self.offset();
                let len = self.rng.usize(0..100_000);
                let op = format!("pread({what}, offset={offset}, len={len})");
                let mut buf = vec![0u8; len];
                let vfs = self
                    .vfs
                    .pread(vfd, &mut buf, offset)
                    .map(|n| digest(&buf[..n]))
                    .map_err(|e| e.raw());
                let mut buf = vec![0u8; len];
                let linux = lx(rustix::io::pread(
                    self.kept_linux_fd(i),
                    &mut buf[..],
                    offset,
                ))
                .map(|n| digest(&buf[..n]));
                self.compare(op, vfs, linux);
            }
            2 => {
                let op = format!("fstat({what})");
                let vfs = self
                    .vfs
                    .fstat(vfd)
                    .map(|st| render_vfs_stat(&st))
                    .map_err(|e| e.raw());
                let linux =
                    lx(rustix::fs::fstat(self.kept_linux_fd(i))).map(|st| render_linux_stat(&st));
                self.compare(op, vfs, linux);
            }
            _ => {
                let len = self.offset();
                let op = format!("ftruncate({what}, {len})");
                let vfs = self
                    .vfs
                    .ftruncate(vfd, len)
                    .map(|()| "ok".into())
                    .map_err(|e| e.raw());
                let linux = lx_ok(rustix::fs::ftruncate(self.kept_linux_fd(i), len));
                self.compare(op, vfs, linux);
            }
        }
    }

    /// Compare the whole trees.
    fn check_trees(&mut self) {
        let vfs = vfs_tree(&self.vfs, "/").map_err(|e| e.raw());
        let linux = Ok(linux_tree(&self.root, ""));
        if vfs != linux {
            let (v, l) = (vfs.clone(), linux.clone());
            self.fail("whole-tree comparison", &v, &l);
        }
    }

    fn close_all(&mut self) {
        while !self.kept.is_empty() {
            self.op_close_kept();
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}\n")).collect()
}

fn render(outcome: &Outcome) -> String {
    match outcome {
        Ok(s) => format!("Ok({s})"),
        Err(e) => {
            let name = vfs::Errno::from_raw(*e).map_or("?", |e| e.name());
            format!("Err({name} {e})")
        }
    }
}

/// Length plus an FNV-1a hash: compact, and any difference shows.
fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{} bytes fnv={h:016x}", bytes.len())
}

fn linux_fd_is_dir(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fstat(fd)
        .is_ok_and(|st| LinuxFileType::from_raw_mode(st.st_mode) == LinuxFileType::Directory)
}

fn linux_stat(c: &CStr, follow: bool) -> Outcome {
    let st = if follow {
        rustix::fs::stat(c)
    } else {
        rustix::fs::lstat(c)
    };
    lx(st).map(|st| render_linux_stat(&st))
}

/// The target of a Linux symlink, with the test root turned back into `/`.
fn linux_readlink(c: &CStr, root: &Path) -> Outcome {
    let target = lx(rustix::fs::readlink(c, Vec::new()))?;
    let target = String::from_utf8_lossy(target.as_bytes()).into_owned();
    let root = root.display().to_string();
    Ok(match target.strip_prefix(&root) {
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => target,
    })
}

fn linux_readdir(path: &CString) -> Outcome {
    let path = Path::new(std::ffi::OsStr::from_bytes(path.as_bytes()));
    let entries = std::fs::read_dir(path).map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    let mut v = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| e.raw_os_error().unwrap_or(-1))?;
        let ft = entry
            .file_type()
            .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else {
            "?"
        };
        v.push(format!("{}:{kind}", entry.file_name().to_string_lossy()));
    }
    v.sort();
    Ok(v.join(" "))
}

/// Every object under `dir` (not following symlinks), one line each, sorted.
fn vfs_tree(vfs: &Vfs, dir: &str) -> vfs::VfsResult<String> {
    let mut out = String::new();
    let mut entries = vfs.read_dir(dir)?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        let path = if dir == "/" {
            format!("/{}", e.name)
        } else {
            format!("{dir}/{}", e.name)
        };
        let st = vfs.lstat(&path)?;
        let _ = write!(out, "{} {}", &path[1..], render_vfs_stat(&st));
        match st.mode & S_IFMT {
            m if m == FileType::Regular.mode_bits() => {
                let _ = write!(out, " {}", digest(&vfs.read_file(&path)?));
            }
            m if m == FileType::Symlink.mode_bits() => {
                let _ = write!(out, " -> {}", vfs.readlink(&path)?);
            }
            _ => {}
        }
        out.push('\n');
        if st.mode & S_IFMT == FileType::Directory.mode_bits() {
            out.push_str(&vfs_tree(vfs, &path)?);
        }
    }
    Ok(out)
}

fn linux_tree(root: &Path, rel: &str) -> String {
    let mut out = String::new();
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path = root.join(&rel);
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        let st = rustix::fs::lstat(&c).unwrap();
        let _ = write!(out, "{rel} {}", render_linux_stat(&st));
        let kind = LinuxFileType::from_raw_mode(st.st_mode);
        match kind {
            LinuxFileType::RegularFile => {
                let _ = write!(out, " {}", digest(&std::fs::read(&path).unwrap()));
            }
            LinuxFileType::Symlink => {
                let _ = write!(out, " -> {}", linux_readlink(&c, root).unwrap());
            }
            _ => {}
        }
        out.push('\n');
        if kind == LinuxFileType::Directory {
            out.push_str(&linux_tree(root, &rel));
        }
    }
    out
}

fn run_seed(seed: u64) {
    // tmpfs is the closest Linux relative of ramfs (directory link counts
    // and all); fall back to the default temp dir.
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    // Same root permissions as the ramfs root (tempdir makes it 0700).
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut h = Harness::new(seed, dir.path());
    std::env::set_current_dir(dir.path()).unwrap();
    for i in 0..OPS_PER_SEED {
        h.step();
        if (i + 1) % FULL_CHECK_EVERY == 0 {
            h.check_trees();
        }
    }
    h.close_all();
    h.check_trees();
    // Leave the directory before it is deleted.
    std::env::set_current_dir("/").unwrap();
    if !h.errno_mismatches.is_empty() {
        let mut msg = format!("seed {seed}: errno disagreements (rerun: DIFF_SEED={seed}):\n");
        for (_, _, _, line) in &h.errno_mismatches {
            msg.push_str(&format!("  {line}\n"));
        }
        msg.push_str(&h.recent_log());
        panic!("{msg}");
    }
}

#[test]
fn vfs_on_ramfs_matches_linux() {
    // The VFS creates with exactly the mode given; make Linux do the same.
    rustix::process::umask(Mode::empty());
    let seeds: Vec<u64> = match std::env::var("DIFF_SEED") {
        Ok(s) => vec![s.trim().parse().expect("DIFF_SEED must be a number")],
        Err(_) => FIXED_SEEDS.to_vec(),
    };
    // Run every seed, then report all failures together.
    let mut failures = Vec::new();
    for seed in seeds {
        eprintln!("differential: seed {seed}");
        let run = std::panic::catch_unwind(|| run_seed(seed));
        if let Err(panic) = run {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} seed(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Reading a directory in small `getdents` batches while names come and go
/// between the calls: every name present from the open to the end is
/// reported exactly once, and no name twice (POSIX leaves names added or
/// removed meanwhile open either way). Checks the VFS position handling and
/// ramfs's cookies together.
#[test]
fn getdents_is_stable_across_changes_between_calls() {
    for seed in [11u64, 12, 13] {
        let mut rng = Rng::with_seed(seed);
        let vfs = Vfs::new(Arc::new(FixedClock(Timespec::new(1, 0))));
        vfs.register(std::sync::Arc::new(fs_ramfs::RamFsType))
            .unwrap();
        vfs.mount(None, "/", "ramfs", MountFlags::empty(), "")
            .unwrap();
        vfs.mkdir("/d", 0o755).unwrap();
        let name = |i: u32| format!("n{:04}", i);
        let mut live: std::collections::BTreeSet<u32> =
            (0..300).map(|_| rng.u32(0..1000)).collect();
        for &i in &live {
            vfs.write_file(&format!("/d/{}", name(i)), b"").unwrap();
        }
        let stable_candidates = live.clone();
        let mut touched = std::collections::BTreeSet::new();
        let fd = vfs.open("/d", OpenFlags::O_DIRECTORY, 0).unwrap();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let batch = vfs.getdents(fd, rng.usize(1..8)).unwrap();
            if batch.is_empty() {
                break;
            }
            seen.extend(batch.into_iter().map(|e| e.name));
            for _ in 0..rng.usize(0..4) {
                let i = rng.u32(0..1000);
                let path = format!("/d/{}", name(i));
                if live.remove(&i) {
                    vfs.unlink(&path).unwrap();
                } else {
                    vfs.write_file(&path, b"").unwrap();
                    live.insert(i);
                }
                touched.insert(i);
            }
        }
        vfs.close(fd).unwrap();
        assert_eq!(&seen[..2], [".", ".."], "seed {seed}");
        let mut counts = std::collections::BTreeMap::new();
        for n in &seen[2..] {
            *counts.entry(n.clone()).or_insert(0) += 1;
        }
        for (n, c) in &counts {
            assert_eq!(*c, 1, "seed {seed}: {n} reported {c} times");
        }
        for i in stable_candidates.difference(&touched) {
            assert!(
                counts.contains_key(&name(*i)),
                "seed {seed}: {} never reported",
                name(*i)
            );
        }
        let sorted: Vec<&String> = seen[2..].iter().collect();
        assert!(
            sorted.windows(2).all(|w| w[0] < w[1]),
            "seed {seed}: ramfs lists in name order"
        );
    }
}

/// Threads change one tree at once through one VFS; afterwards the VFS's
/// (warm) view must equal a fresh VFS's (cold) view of the same ramfs, and
/// every link count must match the names found. Catches stale or lost
/// entries in the VFS caches and lost updates in ramfs under contention.
#[test]
fn concurrent_changes_leave_caches_and_backend_agreeing() {
    // Races need luck: several rounds, each on a new filesystem.
    for round in 0..8 {
        concurrent_round(round);
    }
}

fn concurrent_round(round: u64) {
    let clock = Arc::new(FixedClock(Timespec::new(1, 0)));
    let fs = fs_ramfs::RamFs::new(clock.clone(), None);
    let shared = Arc::new(Vfs::new(clock.clone()));
    // Odd rounds evict dentries constantly while the threads race.
    if round % 2 == 1 {
        shared.set_dentry_limit(8);
    }
    shared
        .mount_fs(fs.clone(), "none", "/", MountFlags::empty(), "")
        .unwrap();
    // DIFF_THREADS=1 tells a race from a plain bug.
    let thread_count: u64 = std::env::var("DIFF_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let start = Arc::new(std::sync::Barrier::new(thread_count as usize));
    let threads: Vec<_> = (0..thread_count)
        .map(|t| {
            let vfs = shared.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let mut rng = Rng::with_seed(100 * round + t);
                let path = |rng: &mut Rng| {
                    let depth = rng.usize(1..=3);
                    let parts: Vec<&str> = (0..depth)
                        .map(|_| NAMES[rng.usize(..NAMES.len())])
                        .collect();
                    format!("/{}", parts.join("/"))
                };
                for _ in 0..20_000 {
                    let (p, q) = (path(&mut rng), path(&mut rng));
                    // Results differ run to run; only consistency is checked.
                    let _ = match rng.u8(0..10) {
                        0 => vfs.write_file(&p, b"data"),
                        1 => vfs.mkdir(&p, 0o755),
                        2 => vfs.rmdir(&p),
                        3 => vfs.unlink(&p),
                        4 | 5 => vfs.rename(&p, &q),
                        6 => vfs.link(&p, &q),
                        7 => vfs.symlink("a", &p),
                        8 => vfs.stat(&p).map(|_| ()),
                        _ => vfs.read_dir(&p).map(|_| ()),
                    };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let fresh = Vfs::new(clock);
    fresh
        .mount_fs(fs, "none", "/", MountFlags::empty(), "")
        .unwrap();
    // The backend is consistent: names per file inode match its link count,
    // and a directory's is 2 + subdirectories.
    let mut names_per_ino = std::collections::HashMap::<u64, (u32, u32)>::new();
    let mut dirs = vec![String::from("/")];
    while let Some(dir) = dirs.pop() {
        let entries = fresh.read_dir(&dir).unwrap();
        let subdirs = entries
            .iter()
            .filter(|e| e.file_type == FileType::Directory)
            .count();
        assert_eq!(
            fresh.lstat(&dir).unwrap().nlink as usize,
            2 + subdirs,
            "{dir}"
        );
        for e in entries {
            let path = if dir == "/" {
                format!("/{}", e.name)
            } else {
                format!("{dir}/{}", e.name)
            };
            let st = fresh.lstat(&path).unwrap();
            if e.file_type == FileType::Directory {
                dirs.push(path);
            } else {
                names_per_ino.entry(st.ino).or_insert((st.nlink, 0)).1 += 1;
            }
        }
    }
    for (ino, (nlink, names)) in names_per_ino {
        assert_eq!(nlink, names, "inode {ino}");
    }

    // A failed walk (a cached name that lstat cannot find) shows as text.
    let warm = vfs_tree(&shared, "/").unwrap_or_else(|e| format!("walk failed: {e:?}\n"));
    let cold = vfs_tree(&fresh, "/").unwrap();
    if warm != cold {
        let only = |a: &str, b: &str| -> String {
            let b: std::collections::HashSet<&str> = b.lines().collect();
            a.lines()
                .filter(|l| !b.contains(l))
                .map(|l| format!("    {l}\n"))
                .collect()
        };
        panic!(
            "round {round}: the VFS that made the changes sees a different tree than a fresh \
             VFS on the same ramfs\n  only in the warm (cached) view:\n{}  only in the fresh \
             view:\n{}",
            only(&warm, &cold),
            only(&cold, &warm)
        );
    }
}
