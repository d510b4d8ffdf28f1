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

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use vfs::{Errno, FileType, MountFlags, OpenFlags, Stat, Vfs, Whence};

/// What the suites run against.
pub struct Env<'a> {
    pub vfs: &'a Vfs,
    /// The whole kernel command line; the suite reads its `selftest.*` words.
    pub cmdline: &'a str,
}

/// A test's verdict: `Err` carries the reason printed after `FAIL name:`.
type Outcome = Result<(), String>;

/// Size of the buffer for "large reads": big enough that a file's data comes in
/// few requests, small enough for a 64 MiB guest.
const BIG_READ: usize = 1 << 20;

/// Where the ramfs tests work; removed again at the end.
const SCRATCH: &str = "/tmp/selftest";

/// Run every suite; returns (passed, failed).
pub fn run(env: &Env) -> (u32, u32) {
    let mut runner = Runner {
        passed: 0,
        failed: 0,
    };
    let vfs = env.vfs;
    // Host-computed data; a missing or malformed file fails the tests using it.
    let crc_list = load_crc_list(vfs);
    let expect = load_expect(vfs);

    runner.check("rofs-crc32-all-files", || {
        rofs_crc_all(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });
    runner.check("rofs-tree-matches-list", || {
        rofs_tree_matches(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });
    runner.check("rofs-byte-ranges", || {
        rofs_ranges(vfs, expect_ref(&expect)?)
    });
    runner.check("rofs-dir-10000", || rofs_big_dir(vfs, expect_ref(&expect)?));
    runner.check("rofs-deep-path", || rofs_deep(vfs, expect_ref(&expect)?));
    runner.check("rofs-symlinks", || rofs_symlinks(vfs, expect_ref(&expect)?));
    runner.check("rofs-hardlinks", || {
        rofs_hardlinks(vfs, expect_ref(&expect)?)
    });
    runner.check("rofs-path-forms", || {
        rofs_path_forms(vfs, expect_ref(&expect)?)
    });
    runner.check("rofs-fd-ops", || {
        rofs_fd_ops(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });

    runner.check("ramfs-setup", || ramfs_setup(vfs));
    runner.check("ramfs-create-write-read", || ramfs_create_write_read(vfs));
    runner.check("ramfs-rename", || ramfs_rename(vfs));
    runner.check("ramfs-link-unlink", || ramfs_link_unlink(vfs));
    runner.check("ramfs-unlinked-open-file", || ramfs_unlinked_open(vfs));
    runner.check("ramfs-mkdir-rmdir", || ramfs_mkdir_rmdir(vfs));
    runner.check("ramfs-truncate", || ramfs_truncate(vfs));
    runner.check("ramfs-append", || ramfs_append(vfs));
    runner.check("ramfs-symlink", || ramfs_symlink(vfs));
    runner.check("ramfs-big-file", || ramfs_big_file(vfs));
    runner.check("ramfs-tmp-size-limit", || ramfs_size_limit(vfs));
    runner.check("ramfs-readdir-while-changing", || {
        ramfs_readdir_changing(vfs)
    });

    runner.check("dev-null", || dev_null(vfs));
    runner.check("dev-zero", || dev_zero(vfs));
    runner.check("dev-full", || dev_full(vfs));
    runner.check("dev-urandom", || dev_urandom(vfs));
    runner.check("dev-console", || dev_console(vfs));
    runner.check("dev-vblk0", || dev_vblk0(vfs, env.cmdline));

    runner.check("mount-umount-ramfs", || mount_umount(vfs));
    runner.check("umount-busy", || umount_busy(vfs));

    runner.check("err-erofs", || {
        err_erofs(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });
    runner.check("err-enoent", || err_enoent(vfs, expect_ref(&expect)?));
    runner.check("err-enotdir", || {
        err_enotdir(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });
    runner.check("err-eloop", || err_eloop(vfs, expect_ref(&expect)?));
    runner.check("err-exdev", || {
        err_exdev(vfs, crc_list.as_ref().map_err(Clone::clone)?)
    });
    runner.check("err-eisdir", || err_eisdir(vfs));
    runner.check("err-ebadf", || err_ebadf(vfs));
    runner.check("err-eexist-enotempty", || err_eexist_enotempty(vfs));
    runner.check("err-einval", || err_einval(vfs));

    runner.check("ramfs-cleanup", || ramfs_cleanup(vfs));

    crate::println!("{} passed, {} failed", runner.passed, runner.failed);
    (runner.passed, runner.failed)
}

struct Runner {
    passed: u32,
    failed: u32,
}

impl Runner {
    fn check(&mut self, name: &str, test: impl FnOnce() -> Outcome) {
        match test() {
            Ok(()) => {
                self.passed += 1;
                crate::println!("PASS {}", name);
            }
            Err(reason) => {
                self.failed += 1;
                crate::println!("FAIL {}: {}", name, reason);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Small assertion helpers: each turns a mismatch into a readable reason.

/// Context for a VFS call that must succeed.
fn ok<T>(result: Result<T, Errno>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what}: unexpected {}", e.name()))
}

/// A VFS call that must fail with exactly `want`.
fn want_err<T>(result: Result<T, Errno>, want: Errno, what: &str) -> Outcome {
    match result {
        Ok(_) => Err(format!("{what}: succeeded, expected {}", want.name())),
        Err(e) if e == want => Ok(()),
        Err(e) => Err(format!(
            "{what}: got {}, expected {}",
            e.name(),
            want.name()
        )),
    }
}

fn ensure(cond: bool, reason: impl FnOnce() -> String) -> Outcome {
    if cond { Ok(()) } else { Err(reason()) }
}

fn equal<T: PartialEq + core::fmt::Debug>(got: T, want: T, what: &str) -> Outcome {
    ensure(got == want, || {
        format!("{what}: got {got:?}, expected {want:?}")
    })
}

fn kind(stat: &Stat) -> Option<FileType> {
    stat.file_type()
}

/// Close `fd` after running `body`, keeping the body's verdict first.
fn with_fd<T>(
    vfs: &Vfs,
    fd: i32,
    body: impl FnOnce(i32) -> Result<T, String>,
) -> Result<T, String> {
    let result = body(fd);
    let closed = ok(vfs.close(fd), "close");
    let value = result?;
    closed?;
    Ok(value)
}

fn open(vfs: &Vfs, path: &str, flags: OpenFlags, mode: u32) -> Result<i32, String> {
    ok(vfs.open(path, flags, mode), &format!("open {path}"))
}

/// Read the whole file at `path` with large reads into `buf`; returns (size, CRC32).
fn crc_file(vfs: &Vfs, path: &str, buf: &mut [u8]) -> Result<(u64, u32), String> {
    let fd = open(vfs, path, OpenFlags::O_RDONLY, 0)?;
    with_fd(vfs, fd, |fd| {
        let mut hasher = crc32fast::Hasher::new();
        let mut total: u64 = 0;
        loop {
            let n = ok(vfs.read(fd, buf), &format!("read {path} at {total}"))?;
            if n == 0 {
                break;
            }
            let chunk = buf
                .get(..n)
                .ok_or_else(|| format!("read {path}: returned {n} > buffer"))?;
            hasher.update(chunk);
            total += n as u64;
        }
        Ok((total, hasher.finalize()))
    })
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

// ---------------------------------------------------------------------------
// Host-computed data.

struct CrcEntry {
    crc: u32,
    size: u64,
    path: String,
}

fn load_crc_list(vfs: &Vfs) -> Result<Vec<CrcEntry>, String> {
    let data = ok(vfs.read_file("/crc32.list"), "read /crc32.list")?;
    let text = core::str::from_utf8(&data).map_err(|_| "/crc32.list is not UTF-8".to_string())?;
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        let (Some(crc), Some(size), Some(path), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(format!("/crc32.list line {}: malformed", number + 1));
        };
        let crc = u32::from_str_radix(crc, 16)
            .map_err(|_| format!("/crc32.list line {}: bad CRC", number + 1))?;
        let size = size
            .parse()
            .map_err(|_| format!("/crc32.list line {}: bad size", number + 1))?;
        entries.push(CrcEntry {
            crc,
            size,
            path: path.to_string(),
        });
    }
    ensure(!entries.is_empty(), || "/crc32.list is empty".to_string())?;
    Ok(entries)
}

/// The lines of `/selftest.expect`, split into words; `#` lines are comments.
struct Expect {
    lines: Vec<Vec<String>>,
}

impl Expect {
    /// Every line whose first word is `key`, without that word.
    fn all(&self, key: &str) -> impl Iterator<Item = &[String]> {
        self.lines
            .iter()
            .filter(move |words| words.first().map(String::as_str) == Some(key))
            .map(|words| words.get(1..).unwrap_or(&[]))
    }

    /// All lines for `key`; an error if there is none (the image lacks the case).
    fn some(&self, key: &str) -> Result<Vec<&[String]>, String> {
        let lines: Vec<&[String]> = self.all(key).collect();
        ensure(!lines.is_empty(), || {
            format!("/selftest.expect has no '{key}' line")
        })?;
        Ok(lines)
    }

    fn one(&self, key: &str) -> Result<&[String], String> {
        let lines = self.some(key)?;
        lines
            .first()
            .copied()
            .ok_or_else(|| format!("no '{key}' line"))
    }
}

fn load_expect(vfs: &Vfs) -> Result<Expect, String> {
    let data = ok(vfs.read_file("/selftest.expect"), "read /selftest.expect")?;
    let text =
        core::str::from_utf8(&data).map_err(|_| "/selftest.expect is not UTF-8".to_string())?;
    let lines = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(|line| {
            line.split_whitespace()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
        .collect();
    Ok(Expect { lines })
}

fn expect_ref(expect: &Result<Expect, String>) -> Result<&Expect, String> {
    expect.as_ref().map_err(Clone::clone)
}

fn word<'a>(words: &'a [String], index: usize, what: &str) -> Result<&'a str, String> {
    words
        .get(index)
        .map(String::as_str)
        .ok_or_else(|| format!("expect line for {what}: missing field {index}"))
}

fn number(words: &[String], index: usize, what: &str) -> Result<u64, String> {
    word(words, index, what)?
        .parse()
        .map_err(|_| format!("expect line for {what}: field {index} is not a number"))
}

// ---------------------------------------------------------------------------
// ROFS root.

fn rofs_crc_all(vfs: &Vfs, list: &[CrcEntry]) -> Outcome {
    let mut buf = vec![0u8; BIG_READ];
    let mut problems = Vec::new();
    for entry in list {
        let stat = ok(vfs.stat(&entry.path), &format!("stat {}", entry.path))?;
        if stat.size != entry.size {
            problems.push(format!(
                "{} stat size {} != {}",
                entry.path, stat.size, entry.size
            ));
        }
        let (size, crc) = crc_file(vfs, &entry.path, &mut buf)?;
        if size != entry.size {
            problems.push(format!(
                "{} read {} bytes, expected {}",
                entry.path, size, entry.size
            ));
        }
        if crc != entry.crc {
            problems.push(format!(
                "{} CRC32 {:08x} != {:08x}",
                entry.path, crc, entry.crc
            ));
        }
        if problems.len() >= 3 {
            break;
        }
    }
    ensure(problems.is_empty(), || problems.join("; "))
}

/// Every regular file reachable from `/` on the root mount is listed, and
/// every listed path is a regular file reached by the walk.
fn rofs_tree_matches(vfs: &Vfs, list: &[CrcEntry]) -> Outcome {
    let root = ok(vfs.stat("/"), "stat /")?;
    let mut found = BTreeSet::new();
    let mut pending = vec![String::from("/")];
    let mut dirs = 0u32;
    while let Some(dir) = pending.pop() {
        dirs += 1;
        for entry in ok(vfs.read_dir(&dir), &format!("read_dir {dir}"))? {
            let path = join(&dir, &entry.name);
            let stat = ok(vfs.lstat(&path), &format!("lstat {path}"))?;
            if stat.dev != root.dev {
                continue; // a mount point such as /dev or /tmp
            }
            equal(
                kind(&stat),
                Some(entry.file_type),
                &format!("{path}: lstat type vs dirent type"),
            )?;
            equal(
                stat.ino,
                entry.ino,
                &format!("{path}: lstat ino vs dirent ino"),
            )?;
            match entry.file_type {
                FileType::Directory => pending.push(path),
                FileType::Regular if path != "/crc32.list" => {
                    found.insert(path);
                }
                _ => {}
            }
        }
    }
    let listed: BTreeSet<String> = list.iter().map(|e| e.path.clone()).collect();
    let missing: Vec<&String> = listed.difference(&found).take(3).collect();
    let extra: Vec<&String> = found.difference(&listed).take(3).collect();
    ensure(missing.is_empty() && extra.is_empty(), || {
        format!(
            "listed but not found: {missing:?}; found but not listed: {extra:?} ({dirs} dirs walked)"
        )
    })
}

/// `range PATH OFFSET LEN CRC`: pread at unaligned offsets; LEN may reach past the end,
/// then the read is short and CRC covers only the bytes that exist.
fn rofs_ranges(vfs: &Vfs, expect: &Expect) -> Outcome {
    for words in expect.some("range")? {
        let path = word(words, 0, "range")?;
        let offset = number(words, 1, "range")?;
        let len = number(words, 2, "range")? as usize;
        let want_len = number(words, 3, "range")? as usize;
        let want_crc = u32::from_str_radix(word(words, 4, "range")?, 16)
            .map_err(|_| "range: bad CRC".to_string())?;
        // The buffer size comes from a file: bound it before allocating.
        ensure(len <= 16 << 20, || {
            format!("range {path} @{offset}: length {len} too large")
        })?;
        let fd = open(vfs, path, OpenFlags::O_RDONLY, 0)?;
        with_fd(vfs, fd, |fd| {
            let mut buf = vec![0u8; len];
            let mut got = 0;
            // pread may return short counts; keep reading until EOF or full.
            while got < len {
                let rest = buf.get_mut(got..).ok_or("range bookkeeping")?;
                let n = ok(
                    vfs.pread(fd, rest, offset + got as u64),
                    &format!("pread {path} @{offset}"),
                )?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            equal(
                got,
                want_len,
                &format!("{path} pread @{offset} len {len}: bytes"),
            )?;
            let crc = crc32fast::hash(buf.get(..got).ok_or("range bookkeeping")?);
            equal(
                format!("{crc:08x}"),
                format!("{want_crc:08x}"),
                &format!("{path} @{offset}+{len} CRC32"),
            )
        })?;
    }
    Ok(())
}

/// `dir-count PATH N`: readdir (both read_dir and getdents in chunks) and a lookup of every entry.
fn rofs_big_dir(vfs: &Vfs, expect: &Expect) -> Outcome {
    for words in expect.some("dir-count")? {
        let dir = word(words, 0, "dir-count")?;
        let want = number(words, 1, "dir-count")? as usize;
        let entries = ok(vfs.read_dir(dir), &format!("read_dir {dir}"))?;
        equal(entries.len(), want, &format!("{dir}: read_dir entries"))?;
        let names: BTreeSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        equal(names.len(), want, &format!("{dir}: distinct names"))?;

        // getdents in chunks of 97 (odd, so chunks end mid-block): "." and ".." plus all.
        let fd = open(vfs, dir, OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY, 0)?;
        let chunked = with_fd(vfs, fd, |fd| {
            let mut seen = BTreeSet::new();
            let mut dots = 0;
            loop {
                let batch = ok(vfs.getdents(fd, 97), "getdents")?;
                if batch.is_empty() {
                    break;
                }
                ensure(batch.len() <= 97, || {
                    format!("getdents returned {} > 97", batch.len())
                })?;
                for entry in batch {
                    if entry.name == "." || entry.name == ".." {
                        dots += 1;
                    } else if !seen.insert(entry.name.clone()) {
                        return Err(format!("getdents returned {} twice", entry.name));
                    }
                }
            }
            equal(dots, 2, "getdents '.' and '..' entries")?;
            Ok(seen.len())
        })?;
        equal(chunked, want, &format!("{dir}: getdents entries"))?;

        for entry in &entries {
            let path = join(dir, &entry.name);
            let stat = ok(vfs.lstat(&path), &format!("lookup {path}"))?;
            equal(stat.ino, entry.ino, &format!("{path}: ino"))?;
        }
        want_err(
            vfs.stat(&join(dir, "no-such-entry")),
            Errno::ENOENT,
            "lookup of a missing name",
        )?;
    }
    Ok(())
}

/// `deep PATH SIZE`: a path with many components resolves, also step by step.
fn rofs_deep(vfs: &Vfs, expect: &Expect) -> Outcome {
    let words = expect.one("deep")?;
    let path = word(words, 0, "deep")?;
    let size = number(words, 1, "deep")?;
    let stat = ok(vfs.stat(path), &format!("stat {path}"))?;
    equal(stat.size, size, "deep file size")?;
    let components = path.split('/').filter(|c| !c.is_empty()).count();
    ensure(components >= 16, || {
        format!("deep path has only {components} components")
    })?;
    // Walk down with chdir and relative names, then come back.
    let mut result = Ok(());
    let mut parts = path.split('/').filter(|c| !c.is_empty()).peekable();
    ok(vfs.chdir("/"), "chdir /")?;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            result = ok(vfs.stat(part), &format!("relative stat {part}"))
                .and_then(|s| equal(s.size, size, "relative size"));
            break;
        }
        if let Err(e) = ok(vfs.chdir(part), &format!("chdir {part}")) {
            result = Err(e);
            break;
        }
    }
    let cwd = vfs.getcwd();
    ok(vfs.chdir("/"), "chdir / after walk")?;
    result?;
    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("/");
    equal(
        ok(cwd, "getcwd")?.as_str(),
        parent,
        "getcwd at the deepest dir",
    )
}

/// `symlink PATH TARGET RESOLVED`: readlink gives TARGET, following it reaches RESOLVED.
fn rofs_symlinks(vfs: &Vfs, expect: &Expect) -> Outcome {
    let mut saw_dir = false;
    for words in expect.some("symlink")? {
        let path = word(words, 0, "symlink")?;
        let target = word(words, 1, "symlink")?;
        let resolved = word(words, 2, "symlink")?;
        let link = ok(vfs.lstat(path), &format!("lstat {path}"))?;
        equal(
            kind(&link),
            Some(FileType::Symlink),
            &format!("{path}: lstat type"),
        )?;
        equal(
            link.size,
            target.len() as u64,
            &format!("{path}: symlink size"),
        )?;
        equal(
            ok(vfs.readlink(path), &format!("readlink {path}"))?.as_str(),
            target,
            "readlink",
        )?;
        let through = ok(vfs.stat(path), &format!("stat through {path}"))?;
        let real = ok(vfs.stat(resolved), &format!("stat {resolved}"))?;
        equal(
            through.ino,
            real.ino,
            &format!("{path}: ino through the link vs {resolved}"),
        )?;
        if kind(&real) == Some(FileType::Directory) {
            saw_dir = true;
            let via_link = ok(vfs.read_dir(path), &format!("read_dir through {path}"))?;
            let direct = ok(vfs.read_dir(resolved), &format!("read_dir {resolved}"))?;
            equal(
                via_link,
                direct,
                &format!("{path}: listing through the link"),
            )?;
        }
        want_err(
            vfs.readlink(resolved),
            Errno::EINVAL,
            "readlink of a non-symlink",
        )?;
    }
    ensure(saw_dir, || {
        "no symlink to a directory in /selftest.expect".into()
    })
}

/// `hardlink NLINK PATH...`: every name has the same inode and the link count.
fn rofs_hardlinks(vfs: &Vfs, expect: &Expect) -> Outcome {
    for words in expect.some("hardlink")? {
        let nlink = number(words, 0, "hardlink")?;
        let paths = words.get(1..).unwrap_or(&[]);
        ensure(paths.len() >= 2, || {
            "hardlink line with fewer than two names".into()
        })?;
        let mut first: Option<Stat> = None;
        for path in paths {
            let stat = ok(vfs.stat(path), &format!("stat {path}"))?;
            equal(u64::from(stat.nlink), nlink, &format!("{path}: nlink"))?;
            if let Some(first) = &first {
                equal(stat.ino, first.ino, &format!("{path}: ino vs {}", paths[0]))?;
                equal(stat.size, first.size, &format!("{path}: size"))?;
            }
            first.get_or_insert(stat);
        }
    }
    Ok(())
}

/// Paths with `.`, `..`, repeated slashes and trailing slashes.
fn rofs_path_forms(vfs: &Vfs, expect: &Expect) -> Outcome {
    let deep = word(expect.one("deep")?, 0, "deep")?;
    let canonical = ok(vfs.stat(deep), "stat deep path")?;
    let (parent, name) = deep.rsplit_once('/').ok_or("deep path has no slash")?;
    let variants = [
        format!("/{deep}"),
        format!("{parent}/./{name}"),
        format!("{parent}//{name}"),
        format!(
            "{parent}/../{}/{name}",
            parent.rsplit('/').next().unwrap_or("")
        ),
        format!("/..{deep}"),
    ];
    for variant in &variants {
        let stat = ok(vfs.stat(variant), &format!("stat {variant}"))?;
        equal(stat.ino, canonical.ino, &format!("{variant}: ino"))?;
    }
    let root = ok(vfs.stat("/"), "stat /")?;
    equal(ok(vfs.stat("/.."), "stat /..")?.ino, root.ino, "/.. is /")?;
    equal(
        ok(
            vfs.stat(&format!("{parent}/")),
            "stat dir with trailing slash",
        )?
        .ino,
        ok(vfs.stat(parent), "stat parent")?.ino,
        "trailing slash",
    )?;
    want_err(
        vfs.stat(&format!("{deep}/")),
        Errno::ENOTDIR,
        "trailing slash on a file",
    )?;
    want_err(vfs.stat(""), Errno::ENOENT, "empty path")
}

/// Seeks, reads at the end, fstat, dup on a ROFS file.
fn rofs_fd_ops(vfs: &Vfs, list: &[CrcEntry]) -> Outcome {
    let entry = list
        .iter()
        .filter(|e| e.size >= 3 && e.size < 1 << 20)
        .max_by_key(|e| e.size)
        .ok_or("no mid-size file listed")?;
    let whole = ok(vfs.read_file(&entry.path), "read_file")?;
    equal(whole.len() as u64, entry.size, "read_file length")?;
    equal(crc32fast::hash(&whole), entry.crc, "read_file CRC32")?;
    let fd = open(vfs, &entry.path, OpenFlags::O_RDONLY, 0)?;
    with_fd(vfs, fd, |fd| {
        equal(ok(vfs.fstat(fd), "fstat")?.size, entry.size, "fstat size")?;
        equal(
            ok(vfs.lseek(fd, -2, Whence::End), "lseek end-2")?,
            entry.size - 2,
            "lseek End",
        )?;
        let mut tail = [0u8; 8];
        equal(
            ok(vfs.read(fd, &mut tail), "read tail")?,
            2,
            "bytes read at end-2",
        )?;
        equal(
            &tail[..2],
            whole.get(whole.len() - 2..).unwrap_or(&[]),
            "tail bytes",
        )?;
        equal(
            ok(vfs.read(fd, &mut tail), "read at EOF")?,
            0,
            "read at EOF",
        )?;
        equal(
            ok(vfs.pread(fd, &mut tail, entry.size + 100), "pread past EOF")?,
            0,
            "pread past EOF",
        )?;
        equal(
            ok(vfs.lseek(fd, 1, Whence::Set), "lseek set")?,
            1,
            "lseek Set",
        )?;
        let dup = ok(vfs.dup(fd), "dup")?;
        // A dup shares the offset.
        let mut one = [0u8; 1];
        let read = ok(vfs.read(dup, &mut one), "read via dup");
        let closed = ok(vfs.close(dup), "close dup");
        equal(read?, 1, "read via dup")?;
        closed?;
        equal(Some(&one[0]), whole.get(1), "byte at offset 1 via dup")?;
        equal(
            ok(vfs.lseek(fd, 0, Whence::Cur), "lseek cur")?,
            2,
            "shared offset after dup read",
        )
    })
}

// ---------------------------------------------------------------------------
// ramfs on /tmp.

fn scratch(name: &str) -> String {
    format!("{SCRATCH}/{name}")
}

const RW_CREATE: OpenFlags = OpenFlags::O_RDWR.union(OpenFlags::O_CREAT);

fn ramfs_setup(vfs: &Vfs) -> Outcome {
    let tmp = ok(vfs.stat("/tmp"), "stat /tmp")?;
    let root = ok(vfs.stat("/"), "stat /")?;
    ensure(tmp.dev != root.dev, || {
        "/tmp is not a separate mount".into()
    })?;
    let fs = vfs
        .mounts()
        .into_iter()
        .find(|m| m.target == "/tmp")
        .ok_or("/tmp is not in the mount table")?;
    equal(fs.fs_type.as_str(), "ramfs", "/tmp fs type")?;
    ok(vfs.mkdir(SCRATCH, 0o755), "mkdir scratch")?;
    equal(
        kind(&ok(vfs.stat(SCRATCH), "stat scratch")?),
        Some(FileType::Directory),
        "scratch type",
    )
}

/// A deterministic test pattern (the guest writes and reads back its own data).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

fn ramfs_create_write_read(vfs: &Vfs) -> Outcome {
    let path = scratch("a.txt");
    let data = pattern(10_000, 1);
    let fd = open(vfs, &path, RW_CREATE | OpenFlags::O_EXCL, 0o640)?;
    with_fd(vfs, fd, |fd| {
        equal(
            ok(vfs.write(fd, &data), "write")?,
            data.len(),
            "bytes written",
        )?;
        equal(
            ok(vfs.fstat(fd), "fstat")?.size,
            data.len() as u64,
            "size after write",
        )?;
        equal(ok(vfs.lseek(fd, 0, Whence::Set), "lseek")?, 0, "lseek to 0")?;
        let mut back = vec![0u8; data.len() + 10];
        let mut got = 0;
        loop {
            let n = ok(
                vfs.read(fd, back.get_mut(got..).unwrap_or(&mut [])),
                "read back",
            )?;
            if n == 0 {
                break;
            }
            got += n;
        }
        equal(got, data.len(), "bytes read back")?;
        ensure(back.get(..got) == Some(&data[..]), || {
            "data read back differs".into()
        })?;
        // Overwrite in the middle with pwrite, then check with pread.
        ok(vfs.pwrite(fd, b"HELLO", 4097), "pwrite")?;
        let mut five = [0u8; 5];
        equal(
            ok(vfs.pread(fd, &mut five, 4097), "pread")?,
            5,
            "pread count",
        )?;
        equal(&five, b"HELLO", "pread after pwrite")
    })?;
    let stat = ok(vfs.stat(&path), "stat")?;
    equal(stat.mode & 0o7777, 0o640, "mode")?;
    equal(kind(&stat), Some(FileType::Regular), "type")?;
    equal(stat.nlink, 1, "nlink")?;
    let mut expected = data;
    expected[4097..4102].copy_from_slice(b"HELLO");
    equal(
        crc32fast::hash(&ok(vfs.read_file(&path), "read_file")?),
        crc32fast::hash(&expected),
        "content CRC32",
    )?;
    ok(vfs.unlink(&path), "unlink")
}

fn ramfs_rename(vfs: &Vfs) -> Outcome {
    let from = scratch("r1");
    let to = scratch("r2");
    ok(vfs.write_file(&from, b"rename me"), "write r1")?;
    let ino = ok(vfs.stat(&from), "stat r1")?.ino;
    ok(vfs.rename(&from, &to), "rename r1 r2")?;
    want_err(vfs.stat(&from), Errno::ENOENT, "old name after rename")?;
    equal(ok(vfs.stat(&to), "stat r2")?.ino, ino, "ino after rename")?;
    equal(
        ok(vfs.read_file(&to), "read r2")?.as_slice(),
        b"rename me",
        "content after rename",
    )?;
    // Replace an existing file, and move into another directory.
    ok(vfs.write_file(&from, b"second"), "write r1 again")?;
    ok(vfs.rename(&from, &to), "rename over r2")?;
    equal(
        ok(vfs.read_file(&to), "read r2")?.as_slice(),
        b"second",
        "content after replacing rename",
    )?;
    ok(vfs.mkdir(&scratch("rdir"), 0o755), "mkdir rdir")?;
    ok(vfs.rename(&to, &scratch("rdir/moved")), "rename into rdir")?;
    equal(
        ok(vfs.read_file(&scratch("rdir/moved")), "read moved")?.as_slice(),
        b"second",
        "moved content",
    )?;
    ok(
        vfs.rename(&scratch("rdir"), &scratch("rdir2")),
        "rename a directory",
    )?;
    equal(
        ok(
            vfs.read_file(&scratch("rdir2/moved")),
            "read through renamed dir",
        )?
        .as_slice(),
        b"second",
        "content in renamed dir",
    )?;
    want_err(
        vfs.rename(&scratch("rdir2"), &scratch("rdir2/sub")),
        Errno::EINVAL,
        "rename a dir into itself",
    )?;
    ok(vfs.unlink(&scratch("rdir2/moved")), "unlink moved")?;
    ok(vfs.rmdir(&scratch("rdir2")), "rmdir rdir2")
}

fn ramfs_link_unlink(vfs: &Vfs) -> Outcome {
    let a = scratch("l1");
    let b = scratch("l2");
    ok(vfs.write_file(&a, b"linked"), "write l1")?;
    ok(vfs.link(&a, &b), "link")?;
    let sa = ok(vfs.stat(&a), "stat l1")?;
    let sb = ok(vfs.stat(&b), "stat l2")?;
    equal(sa.ino, sb.ino, "hard link ino")?;
    equal(sa.nlink, 2, "nlink after link")?;
    ok(vfs.write_file(&b, b"changed"), "write through l2")?;
    equal(
        ok(vfs.read_file(&a), "read l1")?.as_slice(),
        b"changed",
        "shared content",
    )?;
    ok(vfs.unlink(&a), "unlink l1")?;
    want_err(vfs.stat(&a), Errno::ENOENT, "unlinked name")?;
    equal(ok(vfs.stat(&b), "stat l2")?.nlink, 1, "nlink after unlink")?;
    want_err(
        vfs.link(SCRATCH, &scratch("dirlink")),
        Errno::EPERM,
        "hard link to a directory",
    )?;
    want_err(
        vfs.link(&b, &b),
        Errno::EEXIST,
        "link onto an existing name",
    )?;
    ok(vfs.unlink(&b), "unlink l2")?;
    want_err(vfs.unlink(&b), Errno::ENOENT, "unlink twice")
}

fn ramfs_unlinked_open(vfs: &Vfs) -> Outcome {
    let path = scratch("ghost");
    let fd = open(vfs, &path, RW_CREATE, 0o600)?;
    with_fd(vfs, fd, |fd| {
        ok(vfs.write(fd, b"still here"), "write")?;
        ok(vfs.unlink(&path), "unlink while open")?;
        want_err(vfs.stat(&path), Errno::ENOENT, "stat after unlink")?;
        let mut buf = [0u8; 32];
        let n = ok(vfs.pread(fd, &mut buf, 0), "pread after unlink")?;
        equal(&buf[..n], b"still here", "data through the open fd")?;
        equal(
            ok(vfs.fstat(fd), "fstat after unlink")?.nlink,
            0,
            "nlink of an unlinked open file",
        )
    })
}

fn ramfs_mkdir_rmdir(vfs: &Vfs) -> Outcome {
    let dir = scratch("d");
    ok(vfs.mkdir(&dir, 0o700), "mkdir")?;
    let stat = ok(vfs.stat(&dir), "stat dir")?;
    equal(kind(&stat), Some(FileType::Directory), "type")?;
    equal(stat.mode & 0o7777, 0o700, "mode")?;
    let parent_links = ok(vfs.stat(SCRATCH), "stat scratch")?.nlink;
    for i in 0..50 {
        ok(
            vfs.write_file(&format!("{dir}/f{i}"), format!("{i}").as_bytes()),
            "create in dir",
        )?;
    }
    ok(vfs.mkdir(&format!("{dir}/sub"), 0o755), "mkdir sub")?;
    let entries = ok(vfs.read_dir(&dir), "read_dir")?;
    equal(entries.len(), 51, "entries")?;
    equal(
        ok(vfs.read_file(&format!("{dir}/f37")), "read f37")?.as_slice(),
        b"37",
        "file content",
    )?;
    want_err(vfs.rmdir(&dir), Errno::ENOTEMPTY, "rmdir non-empty")?;
    for i in 0..50 {
        ok(vfs.unlink(&format!("{dir}/f{i}")), "unlink in dir")?;
    }
    ok(vfs.rmdir(&format!("{dir}/sub")), "rmdir sub")?;
    equal(
        ok(vfs.read_dir(&dir), "read_dir emptied")?.len(),
        0,
        "entries after removal",
    )?;
    ok(vfs.rmdir(&dir), "rmdir")?;
    want_err(vfs.stat(&dir), Errno::ENOENT, "stat removed dir")?;
    equal(
        ok(vfs.stat(SCRATCH), "stat scratch")?.nlink,
        parent_links - 1,
        "parent nlink after rmdir",
    )
}

fn ramfs_truncate(vfs: &Vfs) -> Outcome {
    let path = scratch("t");
    let data = pattern(9000, 2);
    ok(vfs.write_file(&path, &data), "write")?;
    ok(vfs.truncate(&path, 100), "truncate shrink")?;
    let short = ok(vfs.read_file(&path), "read shrunk")?;
    equal(short.as_slice(), &data[..100], "content after shrink")?;
    ok(vfs.truncate(&path, 5000), "truncate grow")?;
    let grown = ok(vfs.read_file(&path), "read grown")?;
    equal(grown.len(), 5000, "size after grow")?;
    ensure(
        grown[..100] == data[..100] && grown[100..].iter().all(|&b| b == 0),
        || "grown file is not zero-filled".into(),
    )?;
    let fd = open(vfs, &path, OpenFlags::O_RDWR | OpenFlags::O_TRUNC, 0)?;
    with_fd(vfs, fd, |fd| {
        equal(
            ok(vfs.fstat(fd), "fstat after O_TRUNC")?.size,
            0,
            "size after O_TRUNC",
        )?;
        ok(vfs.ftruncate(fd, 7), "ftruncate")?;
        equal(ok(vfs.fstat(fd), "fstat")?.size, 7, "size after ftruncate")
    })?;
    ok(vfs.unlink(&path), "unlink")
}

fn ramfs_append(vfs: &Vfs) -> Outcome {
    let path = scratch("log");
    ok(vfs.write_file(&path, b"one\n"), "write")?;
    let fd = open(vfs, &path, OpenFlags::O_WRONLY | OpenFlags::O_APPEND, 0)?;
    with_fd(vfs, fd, |fd| {
        // Even after a seek to 0, O_APPEND writes land at the end.
        ok(vfs.lseek(fd, 0, Whence::Set), "lseek")?;
        ok(vfs.write(fd, b"two\n"), "append write")?;
        ok(vfs.write(fd, b"three\n"), "append write")?;
        Ok(())
    })?;
    equal(
        ok(vfs.read_file(&path), "read")?.as_slice(),
        b"one\ntwo\nthree\n",
        "appended content",
    )?;
    ok(vfs.unlink(&path), "unlink")
}

fn ramfs_symlink(vfs: &Vfs) -> Outcome {
    ok(
        vfs.write_file(&scratch("target"), b"via link"),
        "write target",
    )?;
    ok(vfs.symlink("target", &scratch("rel")), "symlink relative")?;
    ok(
        vfs.symlink(&scratch("target"), &scratch("abs")),
        "symlink absolute",
    )?;
    equal(
        ok(vfs.readlink(&scratch("rel")), "readlink")?.as_str(),
        "target",
        "readlink",
    )?;
    equal(
        ok(vfs.read_file(&scratch("rel")), "read via rel")?.as_slice(),
        b"via link",
        "via relative link",
    )?;
    equal(
        ok(vfs.read_file(&scratch("abs")), "read via abs")?.as_slice(),
        b"via link",
        "via absolute link",
    )?;
    want_err(
        vfs.open(
            &scratch("rel"),
            OpenFlags::O_RDONLY | OpenFlags::O_NOFOLLOW,
            0,
        ),
        Errno::ELOOP,
        "O_NOFOLLOW on a symlink",
    )?;
    // unlink removes the link, not the target.
    ok(vfs.unlink(&scratch("rel")), "unlink link")?;
    ok(vfs.unlink(&scratch("abs")), "unlink link")?;
    equal(
        ok(vfs.read_file(&scratch("target")), "read target")?.as_slice(),
        b"via link",
        "target kept",
    )?;
    ok(vfs.unlink(&scratch("target")), "unlink target")
}

/// `/tmp` is mounted with a size limit: filling it gives ENOSPC (not an
/// out-of-memory kernel), and unlinking gives the space back.
fn ramfs_size_limit(vfs: &Vfs) -> Outcome {
    let before = ok(vfs.statfs("/tmp"), "statfs /tmp")?;
    let limit = before.blocks.saturating_mul(u64::from(before.block_size));
    ensure(before.blocks_free > 0 && limit > 0, || {
        format!("/tmp has no size limit: {before:?}")
    })?;
    let path = scratch("fill");
    let piece = pattern(1 << 20, 7);
    let fd = open(vfs, &path, RW_CREATE | OpenFlags::O_TRUNC, 0o644)?;
    let filled = with_fd(vfs, fd, |fd| {
        let mut written = 0u64;
        // Bounded: a limit that does not hold fails here instead of looping.
        while written <= limit {
            match vfs.write(fd, &piece) {
                Ok(n) if n > 0 => written += n as u64,
                Ok(_) | Err(Errno::ENOSPC) => return Ok(written),
                Err(e) => return Err(format!("write: unexpected {}", e.name())),
            }
        }
        Err(format!("wrote {written} bytes into a {limit}-byte /tmp"))
    })?;
    want_err(
        vfs.write_file(&scratch("one-more"), &piece),
        Errno::ENOSPC,
        "write when full",
    )?;
    ok(vfs.unlink(&path), "unlink fill")?;
    let _ = vfs.unlink(&scratch("one-more"));
    let after = ok(vfs.statfs("/tmp"), "statfs /tmp after unlink")?;
    ensure(after.blocks_free >= before.blocks_free, || {
        format!(
            "space not returned after filling {filled} bytes: {} free before, {} after",
            before.blocks_free, after.blocks_free
        )
    })
}

fn ramfs_big_file(vfs: &Vfs) -> Outcome {
    // 8 MiB in 1 MiB pieces, each piece different, read back with one 1 MiB buffer.
    const PIECE: usize = 1 << 20;
    const PIECES: u32 = 8;
    let path = scratch("big");
    let fd = open(vfs, &path, RW_CREATE | OpenFlags::O_TRUNC, 0o644)?;
    let mut crcs = Vec::new();
    with_fd(vfs, fd, |fd| {
        for i in 0..PIECES {
            let piece = pattern(PIECE, 100 + i);
            crcs.push(crc32fast::hash(&piece));
            equal(
                ok(vfs.write(fd, &piece), "write piece")?,
                PIECE,
                "bytes written",
            )?;
        }
        equal(
            ok(vfs.fstat(fd), "fstat")?.size,
            u64::from(PIECES) * PIECE as u64,
            "big size",
        )?;
        ok(vfs.lseek(fd, 0, Whence::Set), "rewind")?;
        let mut buf = vec![0u8; PIECE];
        for (i, want) in crcs.iter().enumerate() {
            let mut got = 0;
            while got < PIECE {
                let n = ok(
                    vfs.read(fd, buf.get_mut(got..).unwrap_or(&mut [])),
                    "read piece",
                )?;
                ensure(n > 0, || format!("EOF inside piece {i}"))?;
                got += n;
            }
            equal(crc32fast::hash(&buf), *want, &format!("piece {i} CRC32"))?;
        }
        Ok(())
    })?;
    ok(vfs.unlink(&path), "unlink big")
}

/// Cookies stay valid while entries are removed between getdents calls.
fn ramfs_readdir_changing(vfs: &Vfs) -> Outcome {
    let dir = scratch("churn");
    ok(vfs.mkdir(&dir, 0o755), "mkdir")?;
    for i in 0..40 {
        ok(vfs.write_file(&format!("{dir}/n{i:02}"), b""), "create")?;
    }
    let fd = open(vfs, &dir, OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY, 0)?;
    let seen = with_fd(vfs, fd, |fd| {
        let mut seen = BTreeSet::new();
        let first = ok(vfs.getdents(fd, 10), "getdents")?;
        for entry in &first {
            seen.insert(entry.name.clone());
        }
        // Remove names the first batch has already returned; the rest must still come.
        for name in first.iter().filter(|e| e.name.starts_with('n')) {
            ok(vfs.unlink(&format!("{dir}/{}", name.name)), "unlink seen")?;
        }
        loop {
            let batch = ok(vfs.getdents(fd, 10), "getdents")?;
            if batch.is_empty() {
                break;
            }
            for entry in batch {
                ensure(seen.insert(entry.name.clone()), || {
                    format!("{} returned twice", entry.name)
                })?;
            }
        }
        Ok(seen)
    })?;
    let names = seen.iter().filter(|n| n.starts_with('n')).count();
    equal(names, 40, "names returned across removals")?;
    for entry in ok(vfs.read_dir(&dir), "read_dir")? {
        ok(vfs.unlink(&format!("{dir}/{}", entry.name)), "unlink rest")?;
    }
    ok(vfs.rmdir(&dir), "rmdir")
}

fn ramfs_cleanup(vfs: &Vfs) -> Outcome {
    let left = ok(vfs.read_dir(SCRATCH), "read_dir scratch")?;
    let names: Vec<&str> = left.iter().map(|e| e.name.as_str()).collect();
    ensure(names.is_empty(), || {
        format!("tests left files behind: {names:?}")
    })?;
    ok(vfs.rmdir(SCRATCH), "rmdir scratch")
}

// ---------------------------------------------------------------------------
// devfs.

fn expect_char_device(vfs: &Vfs, path: &str) -> Outcome {
    let stat = ok(vfs.stat(path), &format!("stat {path}"))?;
    equal(
        kind(&stat),
        Some(FileType::CharDevice),
        &format!("{path} type"),
    )
}

fn dev_null(vfs: &Vfs) -> Outcome {
    expect_char_device(vfs, "/dev/null")?;
    let fd = open(vfs, "/dev/null", OpenFlags::O_RDWR, 0)?;
    with_fd(vfs, fd, |fd| {
        let mut buf = [7u8; 64];
        equal(ok(vfs.read(fd, &mut buf), "read")?, 0, "read from null")?;
        equal(
            ok(vfs.write(fd, &[1u8; 300]), "write")?,
            300,
            "write to null",
        )
    })
}

fn dev_zero(vfs: &Vfs) -> Outcome {
    expect_char_device(vfs, "/dev/zero")?;
    let fd = open(vfs, "/dev/zero", OpenFlags::O_RDWR, 0)?;
    with_fd(vfs, fd, |fd| {
        let mut buf = vec![0xa5u8; 70_000];
        let n = ok(vfs.read(fd, &mut buf), "read")?;
        equal(n, buf.len(), "read count from zero")?;
        ensure(buf.iter().all(|&b| b == 0), || {
            "zero gave a non-zero byte".into()
        })?;
        equal(ok(vfs.write(fd, b"abc"), "write")?, 3, "write to zero")
    })
}

fn dev_full(vfs: &Vfs) -> Outcome {
    expect_char_device(vfs, "/dev/full")?;
    let fd = open(vfs, "/dev/full", OpenFlags::O_RDWR, 0)?;
    with_fd(vfs, fd, |fd| {
        want_err(vfs.write(fd, b"x"), Errno::ENOSPC, "write to full")?;
        let mut buf = [0x5au8; 100];
        equal(
            ok(vfs.read(fd, &mut buf), "read")?,
            100,
            "read count from full",
        )?;
        ensure(buf.iter().all(|&b| b == 0), || {
            "full read gave a non-zero byte".into()
        })
    })
}

fn dev_urandom(vfs: &Vfs) -> Outcome {
    expect_char_device(vfs, "/dev/urandom")?;
    let fd = open(vfs, "/dev/urandom", OpenFlags::O_RDONLY, 0)?;
    with_fd(vfs, fd, |fd| {
        let mut a = [0u8; 256];
        let mut b = [0u8; 256];
        equal(ok(vfs.read(fd, &mut a), "read")?, a.len(), "read count")?;
        equal(ok(vfs.read(fd, &mut b), "read")?, b.len(), "read count")?;
        ensure(a.iter().any(|&x| x != 0), || {
            "urandom gave all zeros".into()
        })?;
        ensure(a != b, || "two urandom reads were equal".into())?;
        // A crude sanity check: 256 random bytes have many distinct values.
        let distinct = a.iter().collect::<BTreeSet<_>>().len();
        ensure(distinct > 64, || {
            format!("only {distinct} distinct byte values in 256")
        })
    })
}

/// Marker the host looks for in the serial output (tests/tests/guest.rs).
pub const CONSOLE_MARKER: &str = "selftest: written through /dev/console";

fn dev_console(vfs: &Vfs) -> Outcome {
    expect_char_device(vfs, "/dev/console")?;
    let fd = open(vfs, "/dev/console", OpenFlags::O_WRONLY, 0)?;
    with_fd(vfs, fd, |fd| {
        let line = format!("{CONSOLE_MARKER}\n");
        equal(
            ok(vfs.write(fd, line.as_bytes()), "write")?,
            line.len(),
            "console write count",
        )
    })
}

/// `selftest.disk=SIZE:HEAD:CRC` from the command line: the host's view of the raw disk.
fn dev_vblk0(vfs: &Vfs, cmdline: &str) -> Outcome {
    let value = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("selftest.disk="))
        .ok_or("no selftest.disk= word on the command line")?;
    let mut fields = value.split(':');
    let (Some(size), Some(head), Some(crc), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(format!("malformed selftest.disk={value}"));
    };
    let size: u64 = size
        .parse()
        .map_err(|_| "selftest.disk: bad size".to_string())?;
    let crc = u32::from_str_radix(crc, 16).map_err(|_| "selftest.disk: bad CRC".to_string())?;
    let head = decode_hex(head).ok_or("selftest.disk: bad head hex")?;

    let stat = ok(vfs.stat("/dev/vblk0"), "stat /dev/vblk0")?;
    equal(kind(&stat), Some(FileType::BlockDevice), "vblk0 type")?;
    equal(stat.size, size, "vblk0 size")?;
    let fd = open(vfs, "/dev/vblk0", OpenFlags::O_RDONLY, 0)?;
    with_fd(vfs, fd, |fd| {
        let mut buf = vec![0u8; head.len()];
        equal(
            ok(vfs.pread(fd, &mut buf, 0), "pread head")?,
            head.len(),
            "head bytes",
        )?;
        equal(&buf, &head, "first bytes of vblk0")?;
        // Unaligned offset and length, across several sectors.
        let mut odd = vec![0u8; 65_536];
        let mut got = 0;
        while got < odd.len() {
            let n = ok(
                vfs.pread(fd, odd.get_mut(got..).unwrap_or(&mut []), 1 + got as u64),
                "pread @1",
            )?;
            ensure(n > 0, || "EOF inside the disk".into())?;
            got += n;
        }
        equal(
            format!("{:08x}", crc32fast::hash(&odd)),
            format!("{crc:08x}"),
            "CRC32 of bytes 1..=65536",
        )?;
        let mut tail = [0u8; 16];
        let near_end = size.saturating_sub(3);
        equal(
            ok(vfs.pread(fd, &mut tail, near_end), "pread at end-3")? as u64,
            size - near_end,
            "bytes at end-3",
        )?;
        equal(
            ok(vfs.pread(fd, &mut tail, size), "pread at end")?,
            0,
            "bytes at the end",
        )?;
        // Sequential read with the fd offset, from an odd place.
        ok(vfs.lseek(fd, 5, Whence::Set), "lseek")?;
        let mut five = [0u8; 11];
        equal(ok(vfs.read(fd, &mut five), "read")?, 11, "read count")?;
        equal(Some(&five[..]), head.get(5..16), "bytes 5..16 via read")
    })?;
    // The disk is attached read-only: refused at open (as Linux does) or at the write.
    match vfs.open("/dev/vblk0", OpenFlags::O_WRONLY, 0) {
        Err(e) => equal(e, Errno::EROFS, "open vblk0 for writing"),
        Ok(fd) => with_fd(vfs, fd, |fd| {
            want_err(
                vfs.pwrite(fd, &[0u8; 512], 0),
                Errno::EROFS,
                "write to vblk0",
            )
        }),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

// ---------------------------------------------------------------------------
// mount / umount.

fn mount_umount(vfs: &Vfs) -> Outcome {
    let point = "/tmp/m";
    ok(vfs.mkdir(point, 0o755), "mkdir /tmp/m")?;
    ok(
        vfs.write_file("/tmp/m/under", b"hidden"),
        "file under the mount point",
    )?;
    ok(
        vfs.mount(None, point, "ramfs", MountFlags::empty(), ""),
        "mount ramfs",
    )?;
    let result: Outcome = (|| {
        let tmp = ok(vfs.stat("/tmp"), "stat /tmp")?;
        let inner = ok(vfs.stat(point), "stat mount root")?;
        ensure(inner.dev != tmp.dev, || {
            "mount root has the parent's dev".into()
        })?;
        ensure(
            vfs.mounts()
                .iter()
                .any(|m| m.target == point && m.fs_type == "ramfs"),
            || "not in mount table".into(),
        )?;
        equal(
            ok(vfs.read_dir(point), "read_dir fresh mount")?.len(),
            0,
            "entries of a fresh ramfs",
        )?;
        ok(
            vfs.write_file("/tmp/m/inside", b"in the new fs"),
            "write inside",
        )?;
        equal(
            ok(vfs.stat("/tmp/m/inside"), "stat inside")?.dev,
            inner.dev,
            "dev of a file inside",
        )?;
        equal(
            ok(vfs.stat("/tmp/m/.."), "stat ..")?.ino,
            tmp.ino,
            "'..' of the mount root",
        )?;
        want_err(
            vfs.rename("/tmp/m/inside", "/tmp/outside"),
            Errno::EXDEV,
            "rename across mounts",
        )?;
        Ok(())
    })();
    let unmounted = ok(vfs.umount(point), "umount");
    result?;
    unmounted?;
    ensure(!vfs.mounts().iter().any(|m| m.target == point), || {
        "still in mount table".into()
    })?;
    want_err(
        vfs.stat("/tmp/m/inside"),
        Errno::ENOENT,
        "file of the unmounted fs",
    )?;
    equal(
        ok(
            vfs.read_file("/tmp/m/under"),
            "file under the mount point again",
        )?
        .as_slice(),
        b"hidden",
        "covered file",
    )?;
    ok(vfs.unlink("/tmp/m/under"), "unlink under")?;
    ok(vfs.rmdir(point), "rmdir /tmp/m")
}

fn umount_busy(vfs: &Vfs) -> Outcome {
    let point = "/tmp/busy";
    ok(vfs.mkdir(point, 0o755), "mkdir")?;
    ok(
        vfs.mount(None, point, "ramfs", MountFlags::empty(), ""),
        "mount",
    )?;
    let result: Outcome = (|| {
        let fd = open(vfs, "/tmp/busy/open", RW_CREATE, 0o644)?;
        let busy = want_err(vfs.umount(point), Errno::EBUSY, "umount with an open file");
        ok(vfs.close(fd), "close")?;
        busy?;
        ok(vfs.mkdir("/tmp/busy/sub", 0o755), "mkdir sub")?;
        ok(
            vfs.mount(None, "/tmp/busy/sub", "ramfs", MountFlags::empty(), ""),
            "nested mount",
        )?;
        let nested =
            want_err(vfs.umount(point), Errno::EBUSY, "umount with a submount").and(want_err(
                vfs.rmdir("/tmp/busy/sub"),
                Errno::EBUSY,
                "rmdir a mount point",
            ));
        ok(vfs.umount("/tmp/busy/sub"), "umount nested")?;
        nested?;
        want_err(
            vfs.umount("/tmp/busy/sub"),
            Errno::EINVAL,
            "umount of a non-mount-point",
        )?;
        want_err(
            vfs.umount("/tmp/busy/open"),
            Errno::EINVAL,
            "umount of a file",
        )?;
        want_err(
            vfs.mount(None, "/tmp/busy/none", "ramfs", MountFlags::empty(), ""),
            Errno::ENOENT,
            "mount on a missing dir",
        )?;
        want_err(
            vfs.mount(None, "/tmp/busy/sub", "nosuchfs", MountFlags::empty(), ""),
            Errno::ENODEV,
            "mount of an unknown type",
        )
    })();
    let unmounted = ok(vfs.umount(point), "final umount");
    result?;
    unmounted?;
    ok(vfs.rmdir(point), "rmdir")
}

// ---------------------------------------------------------------------------
// Errors.

fn some_rofs_file(list: &[CrcEntry]) -> Result<&str, String> {
    list.iter()
        .find(|e| e.size > 0)
        .map(|e| e.path.as_str())
        .ok_or_else(|| "no non-empty file listed".into())
}

fn err_erofs(vfs: &Vfs, list: &[CrcEntry]) -> Outcome {
    let file = some_rofs_file(list)?;
    want_err(
        vfs.open(
            "/selftest-new",
            OpenFlags::O_CREAT | OpenFlags::O_WRONLY,
            0o644,
        ),
        Errno::EROFS,
        "O_CREAT under /",
    )?;
    want_err(
        vfs.open(file, OpenFlags::O_WRONLY, 0),
        Errno::EROFS,
        "open a ROFS file for writing",
    )?;
    want_err(
        vfs.open(file, OpenFlags::O_RDONLY | OpenFlags::O_TRUNC, 0),
        Errno::EROFS,
        "O_TRUNC on a ROFS file",
    )?;
    want_err(
        vfs.mkdir("/selftest-dir", 0o755),
        Errno::EROFS,
        "mkdir under /",
    )?;
    want_err(vfs.unlink(file), Errno::EROFS, "unlink a ROFS file")?;
    want_err(
        vfs.rename(file, "/selftest-renamed"),
        Errno::EROFS,
        "rename on /",
    )?;
    want_err(
        vfs.symlink("x", "/selftest-link"),
        Errno::EROFS,
        "symlink under /",
    )?;
    want_err(
        vfs.link(file, "/selftest-hard"),
        Errno::EROFS,
        "link under /",
    )?;
    want_err(vfs.truncate(file, 0), Errno::EROFS, "truncate a ROFS file")?;
    want_err(vfs.chmod(file, 0o600), Errno::EROFS, "chmod a ROFS file")?;
    ok(vfs.stat(file), "file still there").map(|_| ())
}

fn err_enoent(vfs: &Vfs, expect: &Expect) -> Outcome {
    want_err(
        vfs.stat("/no/such/path"),
        Errno::ENOENT,
        "stat missing path",
    )?;
    want_err(
        vfs.open("/no-such-file", OpenFlags::O_RDONLY, 0),
        Errno::ENOENT,
        "open missing file",
    )?;
    want_err(
        vfs.open(
            "/tmp/no-dir/x",
            OpenFlags::O_CREAT | OpenFlags::O_WRONLY,
            0o644,
        ),
        Errno::ENOENT,
        "O_CREAT in a missing dir",
    )?;
    want_err(
        vfs.unlink("/tmp/no-such-file"),
        Errno::ENOENT,
        "unlink missing",
    )?;
    want_err(
        vfs.rmdir("/tmp/no-such-dir"),
        Errno::ENOENT,
        "rmdir missing",
    )?;
    want_err(vfs.chdir("/no-such-dir"), Errno::ENOENT, "chdir missing")?;
    for words in expect.some("dangling")? {
        let path = word(words, 0, "dangling")?;
        ok(vfs.lstat(path), &format!("lstat dangling {path}"))?;
        want_err(
            vfs.stat(path),
            Errno::ENOENT,
            "stat through a dangling symlink",
        )?;
    }
    Ok(())
}

fn err_enotdir(vfs: &Vfs, list: &[CrcEntry]) -> Outcome {
    let file = some_rofs_file(list)?;
    want_err(
        vfs.stat(&format!("{file}/x")),
        Errno::ENOTDIR,
        "file used as a dir (ROFS)",
    )?;
    want_err(vfs.read_dir(file), Errno::ENOTDIR, "read_dir of a file")?;
    want_err(
        vfs.open(file, OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY, 0),
        Errno::ENOTDIR,
        "O_DIRECTORY on a file",
    )?;
    want_err(vfs.chdir(file), Errno::ENOTDIR, "chdir to a file")?;
    ok(vfs.write_file("/tmp/plain", b"x"), "create /tmp/plain")?;
    let result: Outcome = (|| {
        want_err(
            vfs.mkdir("/tmp/plain/sub", 0o755),
            Errno::ENOTDIR,
            "mkdir under a file",
        )?;
        want_err(vfs.rmdir("/tmp/plain"), Errno::ENOTDIR, "rmdir a file")?;
        want_err(
            vfs.open(
                "/tmp/plain/x",
                OpenFlags::O_CREAT | OpenFlags::O_WRONLY,
                0o644,
            ),
            Errno::ENOTDIR,
            "create under a file",
        )
    })();
    ok(vfs.unlink("/tmp/plain"), "unlink /tmp/plain")?;
    result
}

fn err_eloop(vfs: &Vfs, expect: &Expect) -> Outcome {
    for words in expect.some("loop")? {
        let path = word(words, 0, "loop")?;
        equal(
            kind(&ok(vfs.lstat(path), &format!("lstat {path}"))?),
            Some(FileType::Symlink),
            "loop entry type",
        )?;
        want_err(vfs.stat(path), Errno::ELOOP, &format!("stat {path}"))?;
        want_err(
            vfs.open(path, OpenFlags::O_RDONLY, 0),
            Errno::ELOOP,
            &format!("open {path}"),
        )?;
        want_err(
            vfs.stat(&format!("{path}/x")),
            Errno::ELOOP,
            &format!("stat {path}/x"),
        )?;
    }
    Ok(())
}

fn err_exdev(vfs: &Vfs, list: &[CrcEntry]) -> Outcome {
    let file = some_rofs_file(list)?;
    ok(vfs.write_file("/tmp/xdev", b"x"), "create /tmp/xdev")?;
    let result: Outcome = (|| {
        want_err(
            vfs.rename("/tmp/xdev", "/xdev"),
            Errno::EXDEV,
            "rename /tmp -> /",
        )?;
        // Linux checks the new name's mount for writing first: EROFS, not EXDEV.
        want_err(
            vfs.link("/tmp/xdev", "/xdev"),
            Errno::EROFS,
            "link /tmp -> /",
        )?;
        want_err(
            vfs.link(file, "/tmp/xdev-link"),
            Errno::EXDEV,
            "link / -> /tmp",
        )
    })();
    ok(vfs.unlink("/tmp/xdev"), "unlink /tmp/xdev")?;
    result
}

fn err_eisdir(vfs: &Vfs) -> Outcome {
    want_err(
        vfs.open("/tmp", OpenFlags::O_WRONLY, 0),
        Errno::EISDIR,
        "open a dir for writing",
    )?;
    want_err(
        vfs.open("/", OpenFlags::O_RDWR, 0),
        Errno::EISDIR,
        "open / read-write",
    )?;
    let fd = open(vfs, "/", OpenFlags::O_RDONLY, 0)?;
    with_fd(vfs, fd, |fd| {
        want_err(vfs.read(fd, &mut [0u8; 16]), Errno::EISDIR, "read a dir fd")
    })?;
    ok(vfs.mkdir("/tmp/adir", 0o755), "mkdir /tmp/adir")?;
    let result: Outcome = (|| {
        want_err(vfs.unlink("/tmp/adir"), Errno::EISDIR, "unlink a dir")?;
        want_err(
            vfs.truncate("/tmp/adir", 0),
            Errno::EISDIR,
            "truncate a dir",
        )?;
        ok(vfs.write_file("/tmp/afile", b"x"), "create /tmp/afile")?;
        let renamed = want_err(
            vfs.rename("/tmp/afile", "/tmp/adir"),
            Errno::EISDIR,
            "rename a file over a dir",
        );
        ok(vfs.unlink("/tmp/afile"), "unlink /tmp/afile")?;
        renamed
    })();
    ok(vfs.rmdir("/tmp/adir"), "rmdir /tmp/adir")?;
    result
}

fn err_ebadf(vfs: &Vfs) -> Outcome {
    let fd = open(vfs, "/dev/zero", OpenFlags::O_RDONLY, 0)?;
    ok(vfs.close(fd), "close")?;
    let mut buf = [0u8; 4];
    want_err(vfs.read(fd, &mut buf), Errno::EBADF, "read a closed fd")?;
    want_err(vfs.write(fd, b"x"), Errno::EBADF, "write a closed fd")?;
    want_err(vfs.close(fd), Errno::EBADF, "close twice")?;
    want_err(vfs.fstat(fd), Errno::EBADF, "fstat a closed fd")?;
    want_err(vfs.read(-1, &mut buf), Errno::EBADF, "read fd -1")?;
    want_err(
        vfs.lseek(1_000_000, 0, Whence::Set),
        Errno::EBADF,
        "lseek a huge fd",
    )?;
    want_err(vfs.getdents(-5, 10), Errno::EBADF, "getdents fd -5")?;
    let ro = open(vfs, "/dev/zero", OpenFlags::O_RDONLY, 0)?;
    with_fd(vfs, ro, |fd| {
        want_err(vfs.write(fd, b"x"), Errno::EBADF, "write an O_RDONLY fd")
    })?;
    let wo = open(vfs, "/dev/null", OpenFlags::O_WRONLY, 0)?;
    with_fd(vfs, wo, |fd| {
        want_err(vfs.read(fd, &mut buf), Errno::EBADF, "read an O_WRONLY fd")
    })
}

fn err_eexist_enotempty(vfs: &Vfs) -> Outcome {
    want_err(vfs.mkdir("/tmp", 0o755), Errno::EEXIST, "mkdir existing")?;
    ok(vfs.write_file("/tmp/exists", b"x"), "create")?;
    let result: Outcome = (|| {
        want_err(
            vfs.open("/tmp/exists", RW_CREATE | OpenFlags::O_EXCL, 0o644),
            Errno::EEXIST,
            "O_EXCL on existing",
        )?;
        want_err(
            vfs.symlink("x", "/tmp/exists"),
            Errno::EEXIST,
            "symlink onto existing",
        )?;
        want_err(
            vfs.link("/tmp/exists", "/tmp/exists"),
            Errno::EEXIST,
            "link onto existing",
        )
    })();
    ok(vfs.unlink("/tmp/exists"), "unlink")?;
    result
}

fn err_einval(vfs: &Vfs) -> Outcome {
    let fd = open(vfs, "/dev/zero", OpenFlags::O_RDONLY, 0)?;
    with_fd(vfs, fd, |fd| {
        want_err(vfs.lseek(fd, -1, Whence::Set), Errno::EINVAL, "lseek to -1")
    })?;
    want_err(vfs.rmdir("/tmp/."), Errno::EINVAL, "rmdir '.'")?;
    let long = "n".repeat(300);
    want_err(
        vfs.stat(&format!("/tmp/{long}")),
        Errno::ENAMETOOLONG,
        "300-byte name",
    )
}
