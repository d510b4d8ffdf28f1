//! Differential test: our overlay against Linux overlayfs.
//!
//! Per seed, a random lower tree (directories, files of many sizes and
//! modes, relative symlinks, hard links; names from a pool of four so that
//! operations collide with it) is built twice: as a ROFS image on a RamDisk
//! with `fs_rofs::writer`, under our overlay with a ramfs upper; and as a
//! directory on disk under `mount -t overlay`, whose upper and work
//! directories are on a tmpfs mounted for the run. Then thousands of random
//! operations (open with random flags, write at offsets, append, read,
//! truncate, rename, link, unlink, mkdir, rmdir, symlink, readlink, readdir,
//! stat, lstat, chmod, utimens, and I/O through descriptors kept open while
//! their files are copied up, renamed or removed) run against both, and
//! every result and errno must match; every few hundred operations and at
//! the end the visible trees are compared (types, sizes, link counts,
//! permissions, contents, symlink targets).
//!
//! Linux is mounted with `index=on,redirect_dir=off,metacopy=off,xino=off`:
//! the behaviour ours implements (hard links stay one object; lower
//! directories do not move). Not compared: inode numbers, devices, times,
//! directory sizes, and the link count `fstat` shows for a removed file
//! (Linux reports the lower file's, we report 0).
//!
//! Needs root (mount); otherwise, or where overlayfs is missing, it says it
//! is skipped and why. Failures print the seed; rerun one with
//! `DIFF_SEED=<seed> cargo test -p tests --test overlay_differential`
//! (`DIFF_LOG=<n>` shows more of the operations before a failure).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, CString};
use std::fmt::Write as _;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use drivers::RamDisk;
use fastrand::Rng;
use fs_overlay::OverlayFs;
use fs_ramfs::RamFs;
use fs_rofs::RofsFs;
use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, ImageBuilder};
use rustix::fs::{AtFlags, CWD, Mode, OFlags, SeekFrom, Timestamps};
use rustix::mount::{MountFlags as LinuxMountFlags, UnmountFlags};
use vfs::{
    FileSystem, FileType, FixedClock, Layer, Layers, MountFlags, OpenFlags, Stat, Timespec, Vfs,
    Whence,
};

const NAMES: [&str; 4] = ["a", "b", "c", "d"];
/// Symlink targets made by operations; absolute ones are rooted in the
/// merged directory on Linux. Lower-tree symlinks use the relative ones.
const LINK_TARGETS: [&str; 8] = ["a", "b", "a/b", "c/d", "b/../a", "missing", "/a", "/b/c"];
const OPS_PER_SEED: usize = 5_000;
const FULL_CHECK_EVERY: usize = 250;
/// Seeds run by default (each takes a fraction of a second).
const FIXED_SEEDS: [u64; 20] = [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    205,
    1000,
    4242,
    0x0e7a_1a75,
];
const MAX_KEPT_FDS: usize = 3;
const LOG_TAIL: usize = 60;
const LINUX_OPTIONS: &str = "index=on,redirect_dir=off,metacopy=off,xino=off";

type Outcome = Result<String, i32>;

fn lx<T>(ret: rustix::io::Result<T>) -> Result<T, i32> {
    ret.map_err(|e| e.raw_os_error())
}

fn lx_ok(ret: rustix::io::Result<()>) -> Outcome {
    lx(ret).map(|()| String::from("ok"))
}

fn io_errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

fn kind_name(mode: u32) -> &'static str {
    match FileType::from_mode(mode) {
        Some(FileType::Regular) => "file",
        Some(FileType::Directory) => "dir",
        Some(FileType::Symlink) => "symlink",
        Some(FileType::CharDevice) => "chr",
        Some(_) => "other",
        None => "?",
    }
}

/// The fields both sides must agree on (sizes of directories and symlinks
/// legitimately differ).
fn render_stat(mode: u32, size: u64, nlink: Option<u64>) -> String {
    let kind = kind_name(mode);
    let size = match kind {
        "dir" | "symlink" => String::from("-"),
        _ => size.to_string(),
    };
    let nlink = nlink.map_or(String::from("-"), |n| n.to_string());
    format!("{kind} size={size} nlink={nlink} perm={:o}", mode & 0o7777)
}

fn render_vfs_stat(st: &Stat) -> String {
    render_stat(st.mode, st.size, Some(u64::from(st.nlink)))
}

fn render_linux_stat(st: &rustix::fs::Stat) -> String {
    render_stat(st.st_mode, st.st_size as u64, Some(st.st_nlink))
}

/// Length plus an FNV-1a hash: compact, and any difference shows.
fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{} bytes fnv={h:016x}", bytes.len())
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

// ----- the lower tree -----

enum LowerEntry {
    Dir(u32),
    File(Vec<u8>, u32),
    Symlink(&'static str),
    HardLink(String),
}

/// A random tree of depth up to 3 over `NAMES`, parents before children.
fn generate_lower(rng: &mut Rng) -> Vec<(String, LowerEntry)> {
    let mut kinds: BTreeMap<String, bool> = BTreeMap::new(); // path -> is_dir
    let mut files: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for _ in 0..rng.usize(20..60) {
        let depth = rng.usize(1..=3);
        let parts: Vec<&str> = (0..depth)
            .map(|_| NAMES[rng.usize(..NAMES.len())])
            .collect();
        let path = format!("/{}", parts.join("/"));
        if kinds.contains_key(&path) {
            continue;
        }
        // Parents: made as directories, unless a file is in the way.
        let mut blocked = false;
        for i in 1..parts.len() {
            let parent = format!("/{}", parts[..i].join("/"));
            match kinds.get(&parent) {
                Some(true) => {}
                Some(false) => {
                    blocked = true;
                    break;
                }
                None => {
                    kinds.insert(parent.clone(), true);
                    out.push((parent, LowerEntry::Dir(dir_mode(rng))));
                }
            }
        }
        if blocked {
            continue;
        }
        let entry = match rng.u8(0..10) {
            0 | 1 => LowerEntry::Dir(dir_mode(rng)),
            2..=7 => {
                let mode = [0o644, 0o600, 0o755, 0o640][rng.usize(..4)];
                LowerEntry::File(file_data(rng), mode)
            }
            8 => LowerEntry::Symlink(LINK_TARGETS[rng.usize(..6)]),
            _ if !files.is_empty() => LowerEntry::HardLink(files[rng.usize(..files.len())].clone()),
            _ => LowerEntry::File(file_data(rng), 0o644),
        };
        kinds.insert(path.clone(), matches!(entry, LowerEntry::Dir(_)));
        if matches!(entry, LowerEntry::File(..)) {
            files.push(path.clone());
        }
        out.push((path, entry));
    }
    out
}

fn dir_mode(rng: &mut Rng) -> u32 {
    [0o755, 0o700, 0o750, 0o711][rng.usize(..4)]
}

fn file_data(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.u8(0..10) {
        0 => 0,
        1..=5 => rng.usize(1..300),
        6..=8 => rng.usize(300..20_000),
        _ => rng.usize(60_000..200_000),
    };
    let fill = rng.u8(..);
    (0..len).map(|i| fill.wrapping_add((i * 7) as u8)).collect()
}

fn rofs_of(tree: &[(String, LowerEntry)]) -> Arc<RofsFs> {
    let meta = |mode| EntryMeta {
        mode,
        ..EntryMeta::default()
    };
    let mut b = ImageBuilder::new(BuildOptions::default());
    b.add_dir("/", meta(Some(0o755))).unwrap();
    for (path, entry) in tree {
        match entry {
            LowerEntry::Dir(mode) => b.add_dir(path, meta(Some(*mode))),
            LowerEntry::File(data, mode) => {
                b.add_file(path, FileSource::Bytes(data.clone()), meta(Some(*mode)))
            }
            LowerEntry::Symlink(target) => b.add_symlink(path, target, meta(None)),
            LowerEntry::HardLink(existing) => b.add_hardlink(path, existing),
        }
        .unwrap();
    }
    let mut image = std::io::Cursor::new(Vec::new());
    b.write(&mut image, &mut |_, _| {}).unwrap();
    RofsFs::mount(Arc::new(RamDisk::from_bytes(512, image.into_inner())), "").unwrap()
}

fn write_linux_tree(root: &Path, tree: &[(String, LowerEntry)]) {
    std::fs::set_permissions(root, PermissionsExt::from_mode(0o755)).unwrap();
    let mut dir_modes = Vec::new();
    for (path, entry) in tree {
        let host = root.join(&path[1..]);
        match entry {
            LowerEntry::Dir(mode) => {
                std::fs::create_dir(&host).unwrap();
                dir_modes.push((host, *mode));
            }
            LowerEntry::File(data, mode) => {
                std::fs::write(&host, data).unwrap();
                std::fs::set_permissions(&host, PermissionsExt::from_mode(*mode)).unwrap();
            }
            LowerEntry::Symlink(target) => std::os::unix::fs::symlink(target, &host).unwrap(),
            LowerEntry::HardLink(existing) => {
                std::fs::hard_link(root.join(&existing[1..]), &host).unwrap()
            }
        }
    }
    for (host, mode) in dir_modes {
        std::fs::set_permissions(&host, PermissionsExt::from_mode(mode)).unwrap();
    }
}

// ----- Linux mounts -----

/// A tmpfs with `upper`, `work` and `merged`, the overlay on `merged`;
/// unmounted when dropped.
struct LinuxOverlay {
    lower: tempfile::TempDir,
    tmpfs: tempfile::TempDir,
    merged: PathBuf,
    overlay_mounted: bool,
}

impl LinuxOverlay {
    fn mount(tree: &[(String, LowerEntry)]) -> Result<LinuxOverlay, String> {
        let lower = tempfile::tempdir().map_err(|e| e.to_string())?;
        write_linux_tree(lower.path(), tree);
        let tmpfs = tempfile::tempdir().map_err(|e| e.to_string())?;
        rustix::mount::mount(
            "tmpfs",
            tmpfs.path(),
            "tmpfs",
            LinuxMountFlags::empty(),
            None,
        )
        .map_err(|e| format!("mount -t tmpfs: {e}"))?;
        let mut me = LinuxOverlay {
            lower,
            merged: tmpfs.path().join("merged"),
            tmpfs,
            overlay_mounted: false,
        };
        for dir in ["upper", "work", "merged"] {
            let path = me.tmpfs.path().join(dir);
            std::fs::create_dir(&path).map_err(|e| e.to_string())?;
            std::fs::set_permissions(&path, PermissionsExt::from_mode(0o755))
                .map_err(|e| e.to_string())?;
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={},{LINUX_OPTIONS}",
            me.lower.path().display(),
            me.tmpfs.path().join("upper").display(),
            me.tmpfs.path().join("work").display()
        );
        let options = CString::new(options).map_err(|e| e.to_string())?;
        rustix::mount::mount(
            "overlay",
            &me.merged,
            "overlay",
            LinuxMountFlags::empty(),
            Some(options.as_c_str()),
        )
        .map_err(|e| format!("mount -t overlay -o {options:?}: {e}"))?;
        me.overlay_mounted = true;
        Ok(me)
    }
}

impl Drop for LinuxOverlay {
    fn drop(&mut self) {
        if self.overlay_mounted {
            let _ = rustix::mount::unmount(&self.merged, UnmountFlags::DETACH);
        }
        let _ = rustix::mount::unmount(self.tmpfs.path(), UnmountFlags::DETACH);
    }
}

/// Why this machine cannot run the test, if it cannot.
fn skip_reason() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some(String::from(
            "not root (mounting tmpfs and overlayfs needs it)",
        ));
    }
    match std::fs::read_to_string("/proc/filesystems") {
        Ok(list) if list.lines().any(|l| l.trim_end().ends_with("\toverlay")) => None,
        Ok(_) => Some(String::from("the kernel has no overlayfs")),
        Err(e) => Some(format!("cannot read /proc/filesystems: {e}")),
    }
}

// ----- the harness -----

struct Kept {
    vfs_fd: vfs::Fd,
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
    errno_mismatches: Vec<String>,
    /// Paths of the lower tree: operations aim at them half the time, so
    /// that copy-ups, whiteouts and merges are common.
    lower_paths: Vec<String>,
    /// The lower tree's hard-linked paths (relative), which a remount sees
    /// differently (the hard-link index lives in memory).
    linked_paths: BTreeSet<String>,
    /// The overlay's layers, for the remount check.
    layers: Layers,
}

impl Harness {
    fn new(seed: u64, rng: Rng, tree: &[(String, LowerEntry)], root: &Path) -> Harness {
        let lower = rofs_of(tree);
        let clock = Arc::new(FixedClock(Timespec::new(1_700_000_000, 0)));
        let upper = RamFs::new(clock.clone(), None);
        let layer = |name: &str, fs: Arc<dyn FileSystem>, read_only| Layer {
            name: name.to_string(),
            dir: fs.root().unwrap(),
            fs,
            read_only,
        };
        let layers = Layers {
            lower: vec![layer("lower", lower, true)],
            upper: Some(layer("upper", upper, false)),
        };
        let overlay = OverlayFs::new(layers.clone(), LINUX_OPTIONS).unwrap();
        let vfs = Vfs::new(clock);
        // Odd seeds evict dentries all the time: the overlay must give the
        // same answers (inode numbers included) when names are looked up again.
        if seed % 2 == 1 {
            vfs.set_dentry_limit(8);
        }
        vfs.mount_fs(overlay, "overlay", "/", MountFlags::empty(), LINUX_OPTIONS)
            .unwrap();
        Harness {
            seed,
            rng,
            vfs,
            root: root.to_path_buf(),
            kept: Vec::new(),
            log: Vec::new(),
            errno_mismatches: Vec::new(),
            lower_paths: tree.iter().map(|(path, _)| path.clone()).collect(),
            linked_paths: tree
                .iter()
                .filter_map(|(path, entry)| match entry {
                    LowerEntry::HardLink(existing) => Some([path.clone(), existing.clone()]),
                    _ => None,
                })
                .flatten()
                .map(|p| p[1..].to_string())
                .collect(),
            layers,
        }
    }

    /// The Linux path: generated paths are absolute in the merged root.
    fn cpath(&self, path: &str) -> CString {
        let mut bytes = self.root.as_os_str().as_bytes().to_vec();
        bytes.extend_from_slice(path.as_bytes());
        CString::new(bytes).unwrap()
    }

    fn path(&mut self) -> String {
        if !self.lower_paths.is_empty() && self.rng.bool() {
            return self.lower_paths[self.rng.usize(..self.lower_paths.len())].clone();
        }
        self.random_path()
    }

    fn random_path(&mut self) -> String {
        let depth = match self.rng.u8(0..10) {
            0..=3 => 1,
            4..=7 => 2,
            _ => 3,
        };
        let mut parts: Vec<&str> = (0..depth)
            .map(|_| NAMES[self.rng.usize(..NAMES.len())])
            .collect();
        if self.rng.u8(0..40) == 0 && parts.len() >= 2 {
            parts.insert(self.rng.usize(1..parts.len()), "..");
        }
        let mut path = format!("/{}", parts.join("/"));
        if self.rng.u8(0..30) == 0 {
            path.push('/');
        }
        path
    }

    fn mode(&mut self) -> u32 {
        [0o755, 0o700, 0o644, 0o600, 0o777, 0o711][self.rng.usize(..6)]
    }

    fn offset(&mut self) -> u64 {
        match self.rng.u8(0..10) {
            0..=3 => 0,
            4..=7 => self.rng.u64(0..5000),
            8 => self.rng.u64(60_000..70_000),
            _ => self.rng.u64(150_000..250_000),
        }
    }

    fn open_flags(&mut self) -> u32 {
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
        // O_CREAT with O_DIRECTORY is not portable across kernel versions.
        if flags.contains(OFlags::CREATE) {
            flags.remove(OFlags::DIRECTORY);
        }
        flags.bits()
    }

    fn fail(&self, op: &str, vfs: &Outcome, linux: &Outcome) -> ! {
        let mut msg = String::new();
        let _ = writeln!(
            msg,
            "OVERLAY DIFFERENTIAL MISMATCH with seed {} (rerun: DIFF_SEED={})",
            self.seed, self.seed
        );
        let _ = writeln!(msg, "operation #{}: {op}", self.log.len());
        let _ = writeln!(msg, "  ours:  {}", render(vfs));
        let _ = writeln!(msg, "  linux: {}", render(linux));
        msg.push_str(&self.recent_log());
        panic!("{msg}");
    }

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

    /// Equal outcomes, or: both failed (nothing changed on either side;
    /// noted, reported at the end), or a mismatch that stops the seed.
    fn compare(&mut self, op: String, vfs: Outcome, linux: Outcome) {
        if vfs != linux {
            if let (Err(v), Err(l)) = (&vfs, &linux) {
                self.errno_mismatches.push(format!(
                    "#{}: {op}: ours {} but linux {}",
                    self.log.len(),
                    render(&Err(*v)),
                    render(&Err(*l))
                ));
            } else {
                self.fail(&op, &vfs, &linux);
            }
        }
        self.log.push(format!("{op} -> {}", render(&linux)));
    }

    fn step(&mut self) {
        match self.rng.u8(0..100) {
            0..=9 => self.op_open_close(),
            10..=19 => self.op_write(),
            20..=25 => self.op_read(),
            26..=29 => self.op_truncate(),
            30..=38 => self.two_paths("rename", Vfs::rename, |a, b| rustix::fs::rename(a, b)),
            39..=43 => self.two_paths("link", Vfs::link, |a, b| rustix::fs::link(a, b)),
            44..=50 => self.one_path("unlink", Vfs::unlink, |p| rustix::fs::unlink(p)),
            51..=55 => self.op_mkdir(),
            56..=64 => self.one_path("rmdir", Vfs::rmdir, |p| rustix::fs::rmdir(p)),
            65..=68 => self.op_symlink(),
            69..=70 => self.op_readlink(),
            71..=76 => self.op_readdir(),
            77..=83 => {
                let follow = self.rng.bool();
                self.op_stat(follow)
            }
            84..=85 => self.op_chmod(),
            86 => self.op_remove_tree(),
            87..=88 => self.op_utimens(),
            89..=91 => self.op_keep_open(),
            92..=97 => self.op_kept_io(),
            _ => self.op_close_kept(),
        }
    }

    fn op_open_close(&mut self) {
        let path = self.path();
        let flags = self.open_flags();
        let mode = self.mode();
        let op = format!("open({path:?}, {flags:#o}, {mode:#o}) + close");
        let vfs = self
            .vfs
            .open(&path, OpenFlags::from_bits_retain(flags), mode)
            .and_then(|fd| self.vfs.close(fd))
            .map(|()| String::from("ok"))
            .map_err(|e| e.raw());
        let linux = linux_open(&self.cpath(&path), flags, mode).map(|_fd| String::from("ok"));
        self.compare(op, vfs, linux);
    }

    fn op_write(&mut self) {
        let path = self.path();
        let append = self.rng.u8(0..4) == 0;
        let data = file_data(&mut self.rng);
        let offset = self.offset();
        let mut flags = if append {
            OFlags::WRONLY | OFlags::APPEND
        } else {
            OFlags::WRONLY
        };
        // Sometimes creating, so that the tree does not fill with directories.
        if self.rng.u8(0..3) == 0 {
            flags |= OFlags::CREATE;
        }
        let flags = flags.bits();
        let op = format!(
            "write({path:?}, flags={flags:#o}, offset={offset}, len={})",
            data.len()
        );
        let vfs = (|| {
            let fd = self
                .vfs
                .open(&path, OpenFlags::from_bits_retain(flags), 0o644)?;
            let result = if append {
                self.vfs.write(fd, &data)
            } else {
                self.vfs.pwrite(fd, &data, offset)
            };
            self.vfs.close(fd)?;
            result.map(|n| n.to_string())
        })()
        .map_err(|e| e.raw());
        let c = self.cpath(&path);
        let linux = (|| {
            let fd = linux_open(&c, flags, 0o644)?;
            if append {
                lx(rustix::io::write(&fd, &data)).map(|n| n.to_string())
            } else {
                lx(rustix::io::pwrite(&fd, &data, offset)).map(|n| n.to_string())
            }
        })();
        self.compare(op, vfs, linux);
    }

    fn op_read(&mut self) {
        let path = self.path();
        let offset = self.offset();
        let len = self.rng.usize(0..250_000);
        let op = format!("pread({path:?}, offset={offset}, len={len})");
        let vfs = (|| {
            let fd = self.vfs.open(&path, OpenFlags::O_RDONLY, 0)?;
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
            .truncate(&path, len)
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        // No safe truncate(2) binding: open(O_WRONLY) + ftruncate checks the
        // same things in the same order for the types made here.
        let c = self.cpath(&path);
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
        // The target is more often free when not aimed at the lower tree.
        let (from, to) = (self.path(), self.random_path());
        let op = format!("{name}({from:?}, {to:?})");
        let vfs = call(&self.vfs, &from, &to)
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let linux = lx_ok(sys(&self.cpath(&from), &self.cpath(&to)));
        self.compare(op, vfs, linux);
    }

    fn one_path(
        &mut self,
        name: &str,
        call: fn(&Vfs, &str) -> vfs::VfsResult<()>,
        sys: fn(&CStr) -> rustix::io::Result<()>,
    ) {
        let path = self.path();
        self.one_path_at(name, &path, call, sys);
    }

    /// `rm -r` of a directory, one unlink or rmdir at a time (each
    /// compared), deepest first, in the order Linux lists the entries; then
    /// often `mkdir` of it again. Empties lower directories, so removed and
    /// re-made (opaque) directories are common.
    fn op_remove_tree(&mut self) {
        let path = self.path();
        let top = self.root.join(path.trim_start_matches('/'));
        let is_dir = std::fs::symlink_metadata(&top).is_ok_and(|m| m.file_type().is_dir());
        if !is_dir || path.contains("..") || path.ends_with('/') {
            return self.one_path("rmdir", Vfs::rmdir, |p| rustix::fs::rmdir(p));
        }
        let mut stack = vec![(path.clone(), false)];
        while let Some((dir, listed)) = stack.pop() {
            if listed {
                self.one_path_at("rmdir", &dir, Vfs::rmdir, |p| rustix::fs::rmdir(p));
                continue;
            }
            stack.push((dir.clone(), true));
            let host = self.root.join(dir.trim_start_matches('/'));
            let Ok(entries) = std::fs::read_dir(&host) else {
                continue;
            };
            let mut names: Vec<(String, bool)> = entries
                .filter_map(Result::ok)
                .map(|e| {
                    let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                    (e.file_name().to_string_lossy().into_owned(), is_dir)
                })
                .collect();
            names.sort();
            for (name, is_dir) in names {
                let child = format!("{dir}/{name}");
                if is_dir {
                    stack.push((child, false));
                } else {
                    self.one_path_at("unlink", &child, Vfs::unlink, |p| rustix::fs::unlink(p));
                }
            }
        }
        if self.rng.bool() {
            let mode = self.mode();
            let op = format!("mkdir({path:?}, {mode:#o})");
            let vfs = self.vfs.mkdir(&path, mode).map(|()| "ok".into());
            let linux = lx_ok(rustix::fs::mkdir(
                self.cpath(&path),
                Mode::from_bits_retain(mode),
            ));
            self.compare(op, vfs.map_err(|e| e.raw()), linux);
        }
    }

    fn one_path_at(
        &mut self,
        name: &str,
        path: &str,
        call: fn(&Vfs, &str) -> vfs::VfsResult<()>,
        sys: fn(&CStr) -> rustix::io::Result<()>,
    ) {
        let op = format!("{name}({path:?})");
        let vfs = call(&self.vfs, path)
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let linux = lx_ok(sys(&self.cpath(path)));
        self.compare(op, vfs, linux);
    }

    fn op_mkdir(&mut self) {
        let path = self.path();
        let mode = self.mode();
        let op = format!("mkdir({path:?}, {mode:#o})");
        let vfs = self
            .vfs
            .mkdir(&path, mode)
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let linux = lx_ok(rustix::fs::mkdir(
            self.cpath(&path),
            Mode::from_bits_retain(mode),
        ));
        self.compare(op, vfs, linux);
    }

    fn op_symlink(&mut self) {
        let target = LINK_TARGETS[self.rng.usize(..LINK_TARGETS.len())];
        let path = self.path();
        let op = format!("symlink({target:?}, {path:?})");
        let vfs = self
            .vfs
            .symlink(target, &path)
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let linux_target = match target.strip_prefix('/') {
            Some(rest) => format!("{}/{rest}", self.root.display()),
            None => target.to_string(),
        };
        let t = CString::new(linux_target).unwrap();
        let linux = lx_ok(rustix::fs::symlink(&t, self.cpath(&path)));
        self.compare(op, vfs, linux);
    }

    fn op_readlink(&mut self) {
        let path = self.path();
        let op = format!("readlink({path:?})");
        let vfs = self.vfs.readlink(&path).map_err(|e| e.raw());
        let linux = linux_readlink(&self.cpath(&path), &self.root);
        self.compare(op, vfs, linux);
    }

    fn op_readdir(&mut self) {
        let path = self.path();
        let op = format!("readdir({path:?})");
        let vfs = self
            .vfs
            .read_dir(&path)
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
        let op = format!("{}({path:?})", if follow { "stat" } else { "lstat" });
        let vfs = if follow {
            self.vfs.stat(&path)
        } else {
            self.vfs.lstat(&path)
        };
        let vfs = vfs.map(|st| render_vfs_stat(&st)).map_err(|e| e.raw());
        let c = self.cpath(&path);
        let linux = lx(if follow {
            rustix::fs::stat(&c)
        } else {
            rustix::fs::lstat(&c)
        })
        .map(|st| render_linux_stat(&st));
        self.compare(op, vfs, linux);
    }

    fn op_chmod(&mut self) {
        let path = self.path();
        let mode = self.mode();
        let op = format!("chmod({path:?}, {mode:#o})");
        let vfs = self
            .vfs
            .chmod(&path, mode)
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let linux = lx_ok(rustix::fs::chmod(
            self.cpath(&path),
            Mode::from_bits_retain(mode),
        ));
        self.compare(op, vfs, linux);
    }

    fn op_utimens(&mut self) {
        let path = self.path();
        let time = |rng: &mut Rng| {
            (rng.u8(0..4) != 0)
                .then(|| Timespec::new(rng.i64(0..2_000_000_000), rng.u32(..1_000_000_000)))
        };
        let (atime, mtime) = match (time(&mut self.rng), time(&mut self.rng)) {
            // Linux answers that one without looking at the path (see utimensat(2)).
            (None, None) => (None, Some(Timespec::new(1, 0))),
            times => times,
        };
        let op = format!("utimens({path:?}, {atime:?}, {mtime:?})");
        let vfs = self
            .vfs
            .utimens(&path, atime, mtime)
            .map(|()| "ok".into())
            .map_err(|e| e.raw());
        let linux_time = |t: Option<Timespec>| match t {
            Some(t) => rustix::fs::Timespec {
                tv_sec: t.sec,
                tv_nsec: i64::from(t.nsec),
            },
            None => rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
        };
        let times = Timestamps {
            last_access: linux_time(atime),
            last_modification: linux_time(mtime),
        };
        let linux = lx_ok(rustix::fs::utimensat(
            CWD,
            self.cpath(&path),
            &times,
            AtFlags::empty(),
        ));
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
            .open(&path, OpenFlags::from_bits_retain(flags), 0o644)
            .map_err(|e| e.raw());
        let linux = linux_open(&self.cpath(&path), flags, 0o644);
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
                let (vfs, linux) = (vfs.map(|_| "fd".into()), linux.map(|_| "fd".into()));
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
        drop(k.linux_fd);
        self.compare(op, vfs, Ok("ok".into()));
    }

    fn kept_linux_fd(&self, i: usize) -> BorrowedFd<'_> {
        self.kept[i].linux_fd.as_fd()
    }

    /// I/O through a kept descriptor whose file may since have been copied
    /// up, renamed, replaced or removed.
    fn op_kept_io(&mut self) {
        if self.kept.is_empty() {
            return self.op_keep_open();
        }
        let i = self.rng.usize(..self.kept.len());
        let (vfd, what) = (self.kept[i].vfs_fd, self.kept[i].what.clone());
        let is_dir = rustix::fs::fstat(self.kept_linux_fd(i))
            .is_ok_and(|st| FileType::from_mode(st.st_mode) == Some(FileType::Directory));
        match self.rng.u8(0..5) {
            0 => {
                let data = file_data(&mut self.rng);
                let op = format!("write({what}, len={})", data.len());
                let vfs = self.vfs.write(vfd, &data).map(|n| n.to_string());
                let linux = lx(rustix::io::write(self.kept_linux_fd(i), &data));
                self.compare(op, vfs.map_err(|e| e.raw()), linux.map(|n| n.to_string()));
            }
            1 => {
                let (offset, len) = (self.offset(), self.rng.usize(0..100_000));
                let op = format!("pread({what}, offset={offset}, len={len})");
                let mut buf = vec![0u8; len];
                let vfs = self
                    .vfs
                    .pread(vfd, &mut buf, offset)
                    .map(|n| digest(&buf[..n]));
                let mut buf = vec![0u8; len];
                let linux = lx(rustix::io::pread(
                    self.kept_linux_fd(i),
                    &mut buf[..],
                    offset,
                ))
                .map(|n| digest(&buf[..n]));
                self.compare(op, vfs.map_err(|e| e.raw()), linux);
            }
            2 => {
                // The link count of a removed file differs (see the top).
                let op = format!("fstat({what})");
                let vfs = self
                    .vfs
                    .fstat(vfd)
                    .map(|st| render_stat(st.mode, st.size, None));
                let linux = lx(rustix::fs::fstat(self.kept_linux_fd(i)))
                    .map(|st| render_stat(st.st_mode, st.st_size as u64, None));
                self.compare(op, vfs.map_err(|e| e.raw()), linux);
            }
            // Directory positions are filesystem-specific; not compared.
            3 if !is_dir => {
                let offset = self.rng.i64(-10..5000);
                let op = format!("lseek({what}, {offset}, Set)");
                let vfs = self
                    .vfs
                    .lseek(vfd, offset, Whence::Set)
                    .map(|n| n.to_string());
                let linux = lx(rustix::fs::seek(
                    self.kept_linux_fd(i),
                    SeekFrom::Start(offset as u64),
                ))
                .map(|n| n.to_string());
                self.compare(op, vfs.map_err(|e| e.raw()), linux);
            }
            _ => {
                let len = self.rng.usize(0..20_000);
                let op = format!("read({what}, len={len})");
                let mut buf = vec![0u8; len];
                let vfs = self.vfs.read(vfd, &mut buf).map(|n| digest(&buf[..n]));
                let mut buf = vec![0u8; len];
                let linux = lx(rustix::io::read(self.kept_linux_fd(i), &mut buf[..]))
                    .map(|n| digest(&buf[..n]));
                self.compare(op, vfs.map_err(|e| e.raw()), linux);
            }
        }
    }

    fn check_trees(&mut self) {
        let ours = vfs_tree(&self.vfs, "/").map_err(|e| e.raw());
        let linux = linux_tree(&self.root, "").map_err(io_errno);
        self.fail_if_trees_differ("whole-tree comparison", &ours, &linux);
        self.check_remount();
    }

    /// Stop with the lines each tree has and the other lacks.
    fn fail_if_trees_differ(&self, what: &str, ours: &Outcome, linux: &Outcome) {
        if ours == linux {
            return;
        }
        if let (Ok(a), Ok(b)) = (ours, linux) {
            let only = |x: &str, y: &str| -> String {
                let y: Vec<&str> = y.lines().collect();
                x.lines()
                    .filter(|l| !y.contains(l))
                    .collect::<Vec<_>>()
                    .join("\n      ")
            };
            let what = format!("{what} (lines only on each side)");
            self.fail(&what, &Ok(only(a, b)), &Ok(only(b, a)));
        }
        self.fail(what, ours, linux);
    }

    /// What the overlay wrote to its upper layer (whiteouts, opaque
    /// markers, copies) must show the same tree to a new overlay of the
    /// same layers, which has no caches and no nodes: a state kept only in
    /// memory would show here. Not compared: the lower tree's hard-linked
    /// paths and file link counts (the hard-link index is in memory).
    fn check_remount(&mut self) {
        let fresh = OverlayFs::new(self.layers.clone(), LINUX_OPTIONS).unwrap();
        let vfs = Vfs::new(Arc::new(FixedClock(Timespec::new(1_700_000_000, 0))));
        vfs.mount_fs(fresh, "overlay", "/", MountFlags::empty(), "")
            .unwrap();
        let comparable = |tree: vfs::VfsResult<String>| -> Outcome {
            let tree = tree.map_err(|e| e.raw())?;
            let mut out = String::new();
            for line in tree.lines() {
                let mut words: Vec<&str> = line.split(' ').collect();
                if words
                    .first()
                    .is_some_and(|p| self.linked_paths.contains(*p))
                {
                    continue;
                }
                if words.get(1) == Some(&"file")
                    && let Some(nlink) = words.get_mut(3)
                {
                    *nlink = "nlink=-";
                }
                let _ = writeln!(out, "{}", words.join(" "));
            }
            Ok(out)
        };
        let live = comparable(vfs_tree(&self.vfs, "/"));
        let remounted = comparable(vfs_tree(&vfs, "/"));
        self.fail_if_trees_differ(
            "remount comparison (ours: this overlay; linux: a new one on its layers)",
            &live,
            &remounted,
        );
    }

    fn close_all(&mut self) {
        while !self.kept.is_empty() {
            self.op_close_kept();
        }
    }
}

fn linux_open(path: &CStr, flags: u32, mode: u32) -> Result<OwnedFd, i32> {
    lx(rustix::fs::open(
        path,
        OFlags::from_bits_retain(flags) | OFlags::CLOEXEC,
        Mode::from_bits_retain(mode),
    ))
}

/// A Linux symlink's target with the merged root turned back into `/`.
fn linux_readlink(c: &CStr, root: &Path) -> Outcome {
    let target = lx(rustix::fs::readlink(c, Vec::new()))?;
    let target = String::from_utf8_lossy(target.as_bytes()).into_owned();
    let root = root.display().to_string();
    Ok(match target.strip_prefix(&root) {
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => target,
    })
}

fn linux_readdir(path: &CStr) -> Outcome {
    let path = Path::new(std::ffi::OsStr::from_bytes(path.to_bytes()));
    let mut v = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io_errno)? {
        let entry = entry.map_err(io_errno)?;
        let ft = entry.file_type().map_err(io_errno)?;
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else {
            "other"
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
        let path = format!("{}/{}", dir.trim_end_matches('/'), e.name);
        let st = vfs.lstat(&path)?;
        let _ = write!(out, "{} {}", &path[1..], render_vfs_stat(&st));
        match st.file_type() {
            Some(FileType::Regular) => {
                let _ = write!(out, " {}", digest(&vfs.read_file(&path)?));
            }
            Some(FileType::Symlink) => {
                let _ = write!(out, " -> {}", vfs.readlink(&path)?);
            }
            _ => {}
        }
        out.push('\n');
        if st.file_type() == Some(FileType::Directory) {
            out.push_str(&vfs_tree(vfs, &path)?);
        }
    }
    Ok(out)
}

fn linux_tree(root: &Path, rel: &str) -> std::io::Result<String> {
    let mut out = String::new();
    let mut names: Vec<String> = std::fs::read_dir(root.join(rel))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path = root.join(&rel);
        let md = std::fs::symlink_metadata(&path)?;
        let _ = write!(
            out,
            "{rel} {}",
            render_stat(md.mode(), md.size(), Some(md.nlink()))
        );
        if md.file_type().is_file() {
            let _ = write!(out, " {}", digest(&std::fs::read(&path)?));
        } else if md.file_type().is_symlink() {
            let c = CString::new(path.as_os_str().as_bytes()).unwrap();
            let target = linux_readlink(&c, root).unwrap_or_else(|e| format!("error {e}"));
            let _ = write!(out, " -> {target}");
        }
        out.push('\n');
        if md.file_type().is_dir() {
            out.push_str(&linux_tree(root, &rel)?);
        }
    }
    Ok(out)
}

fn run_seed(seed: u64) -> Result<(), String> {
    let mut rng = Rng::with_seed(seed);
    let tree = generate_lower(&mut rng);
    let linux = LinuxOverlay::mount(&tree)?;
    let mut h = Harness::new(seed, rng, &tree, &linux.merged);
    h.check_trees();
    for i in 0..OPS_PER_SEED {
        h.step();
        if (i + 1) % FULL_CHECK_EVERY == 0 {
            h.check_trees();
        }
    }
    h.close_all();
    h.check_trees();
    if !h.errno_mismatches.is_empty() {
        let mut msg = format!("seed {seed}: errno disagreements (rerun: DIFF_SEED={seed}):\n");
        for line in &h.errno_mismatches {
            let _ = writeln!(msg, "  {line}");
        }
        msg.push_str(&h.recent_log());
        panic!("{msg}");
    }
    drop(h);
    drop(linux);
    Ok(())
}

#[test]
fn overlay_matches_linux_overlayfs() {
    if let Some(why) = skip_reason() {
        eprintln!("overlay_differential: skipped: {why}");
        return;
    }
    // Both sides create with exactly the mode given.
    rustix::process::umask(Mode::empty());
    let seeds: Vec<u64> = match std::env::var("DIFF_SEED") {
        Ok(s) => vec![s.trim().parse().expect("DIFF_SEED must be a number")],
        Err(_) => FIXED_SEEDS.to_vec(),
    };
    let mut failures = Vec::new();
    for seed in seeds {
        eprintln!("overlay_differential: seed {seed}");
        match std::panic::catch_unwind(|| run_seed(seed)) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => {
                eprintln!("overlay_differential: skipped: cannot mount here: {why}");
                return;
            }
            Err(panic) => failures.push(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            ),
        }
    }
    assert!(
        failures.is_empty(),
        "{} seed(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
