//! The overlay root (`root=overlay`): run when `/` is an overlay.
//!
//! Every expectation comes from `/crc32.list` (the host's CRC and size of
//! each image file): writes under `/etc`, deletes of image files, a
//! directory removed and made again (opaque), renames (EXDEV for a lower
//! directory), a copy-up larger than the upper layer's free space (ENOSPC,
//! the lower file unchanged, no space kept), and at the end a walk of `/`
//! ([`super::overlay_walk`]) against the list with the suite's changes. The
//! lower layer is checked through a read-only view of it: a lower-only
//! overlay of the same hidden mount, mounted under `/tmp` for the check.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use vfs::{Errno, MountFlags, OpenFlags, Vfs};

use super::Outcome;
use super::check::{RW_CREATE, crc_file, ensure, equal, ok, open, want_err, with_fd};
use super::facts::CrcEntry;

/// Where the read-only view of the lower layers is mounted while used.
const VIEW: &str = "/tmp/.overlay-lower";
/// Read buffer for whole-file CRCs.
const BUF: usize = 1 << 20;

/// The layers of the overlay on `/`, as its mount options name them.
pub(super) struct Stack {
    /// `lowerdir=` words, topmost first.
    pub lower: Vec<String>,
    /// `upperdir=`, empty if none.
    pub upper: String,
}

impl Stack {
    /// The stack of `/`, if `/` is an overlay.
    pub(super) fn of_root(vfs: &Vfs) -> Option<Stack> {
        let root = vfs.mounts().into_iter().find(|m| m.target == "/")?;
        if root.fs_type != "overlay" {
            return None;
        }
        let mut stack = Stack {
            lower: Vec::new(),
            upper: String::new(),
        };
        for option in root.options.split(',') {
            match option.split_once('=') {
                Some(("lowerdir", v)) => stack.lower = v.split(':').map(String::from).collect(),
                Some(("upperdir", v)) => stack.upper = String::from(v),
                _ => {}
            }
        }
        Some(stack)
    }

    /// Run `body` with the lower layers mounted read-only at [`VIEW`]; it
    /// gets the path prefix to put before image paths.
    pub(super) fn with_lower_view(&self, vfs: &Vfs, body: impl FnOnce(&str) -> Outcome) -> Outcome {
        ok(vfs.mkdir(VIEW, 0o755), "mkdir the lower view")?;
        let options = format!("lowerdir={}", self.lower.join(":"));
        let mounted = ok(
            vfs.mount(None, VIEW, "overlay", MountFlags::RDONLY, &options),
            &format!("mount a view of {options}"),
        );
        let result = mounted.and_then(|()| {
            let result = body(VIEW);
            let unmounted = ok(vfs.umount(VIEW), "umount the lower view");
            result.and(unmounted)
        });
        let removed = ok(vfs.rmdir(VIEW), "rmdir the lower view");
        result.and(removed)
    }
}

/// What the suite changed under `/`: path -> Some(size) made or changed,
/// None removed. The walk compares the tree with the list plus these.
#[derive(Default)]
pub(super) struct Ledger(RefCell<BTreeMap<String, Option<u64>>>);

impl Ledger {
    fn made(&self, path: &str, size: u64) {
        self.0.borrow_mut().insert(path.to_string(), Some(size));
    }

    fn removed(&self, path: &str) {
        self.0.borrow_mut().insert(path.to_string(), None);
    }

    fn touched(&self, path: &str) -> bool {
        self.0.borrow().contains_key(path)
    }

    /// The image's regular files (path -> size) with the changes applied.
    pub(super) fn expected(&self, list: &[CrcEntry]) -> BTreeMap<String, u64> {
        let mut files: BTreeMap<String, u64> =
            list.iter().map(|e| (e.path.clone(), e.size)).collect();
        for (path, change) in self.0.borrow().iter() {
            match change {
                Some(size) => files.insert(path.clone(), *size),
                None => files.remove(path),
            };
        }
        files
    }
}

fn listed<'a>(list: &'a [CrcEntry], path: &str) -> Result<&'a CrcEntry, String> {
    list.iter()
        .find(|e| e.path == path)
        .ok_or_else(|| format!("/crc32.list has no {path}"))
}

/// The file at `path` (under `prefix`) has the list's size and CRC.
fn intact(vfs: &Vfs, prefix: &str, entry: &CrcEntry, what: &str) -> Outcome {
    let path = format!("{prefix}{}", entry.path);
    let mut buf = vec![0u8; BUF.min(entry.size as usize).max(1)];
    let (size, crc) = crc_file(vfs, &path, &mut buf)?;
    equal(
        (size, crc),
        (entry.size, entry.crc),
        &format!("{what}: {path} (size, CRC32)"),
    )
}

fn names(vfs: &Vfs, dir: &str) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = ok(vfs.read_dir(dir), &format!("read_dir {dir}"))?
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    Ok(names)
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `/` is the overlay of hidden layers: a read-only lower, a writable
/// ramfs upper of `root.size=` (else half the heap), whose figures `df /`
/// shows.
pub(super) fn stack(vfs: &Vfs, stack: &Stack, cmdline: &str, heap_bytes: u64) -> Outcome {
    let rows = vfs.mounts();
    let row = |target: &str| {
        rows.iter()
            .find(|m| m.target == target)
            .ok_or_else(|| format!("no mount {target} in the table"))
    };
    ensure(!stack.lower.is_empty(), || "/ has no lowerdir=".into())?;
    for lower in &stack.lower {
        ensure(lower.starts_with('@'), || {
            format!("lower {lower} is not hidden")
        })?;
        let m = row(lower)?;
        ensure(m.flags.contains(MountFlags::RDONLY), || {
            format!("lower {lower} is mounted read-write")
        })?;
    }
    let upper = row(&stack.upper)?;
    equal(upper.fs_type.as_str(), "ramfs", "upper layer type")?;
    let root = row("/")?;
    ensure(!root.flags.contains(MountFlags::RDONLY), || {
        "/ is read-only".into()
    })?;
    equal(ok(vfs.stat("/"), "stat /")?.dev, root.dev, "st_dev of /")?;

    let size = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("root.size="))
        .map(|v| vfs::parse_size(v).ok_or_else(|| format!("root.size=`{v}`")))
        .transpose()?
        .unwrap_or(heap_bytes / 2);
    let of_root = ok(vfs.statfs("/"), "statfs /")?;
    let of_upper = ok(vfs.statfs(&stack.upper), "statfs the upper layer")?;
    equal(
        of_root.fs_type,
        fs_overlay::OVERLAYFS_MAGIC,
        "statfs / magic",
    )?;
    equal(
        of_root.blocks,
        size / u64::from(of_root.block_size.max(1)),
        "blocks of /",
    )?;
    equal(
        (of_root.blocks, of_root.blocks_free, of_root.files_free),
        (of_upper.blocks, of_upper.blocks_free, of_upper.files_free),
        "statfs / vs the upper layer",
    )
}

/// A new file under `/etc`, an append to an image file and a write in the
/// middle of another; the lower layer keeps the old bytes.
pub(super) fn etc_writes(vfs: &Vfs, stack: &Stack, list: &[CrcEntry], ledger: &Ledger) -> Outcome {
    let new = "/etc/selftest.new";
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let fd = open(vfs, new, RW_CREATE | OpenFlags::O_EXCL, 0o644)?;
    with_fd(vfs, fd, |fd| {
        for chunk in data.chunks(3000) {
            equal(
                ok(vfs.write(fd, chunk), "write the new file")?,
                chunk.len(),
                "written",
            )?;
        }
        Ok(())
    })?;
    ledger.made(new, data.len() as u64);
    equal(
        ok(vfs.read_file(new), "read the new file")?,
        data,
        "new file bytes",
    )?;
    let count = names(vfs, "/etc")?
        .iter()
        .filter(|n| *n == "selftest.new")
        .count();
    equal(count, 1, "the new name in ls /etc")?;

    let motd = listed(list, "/etc/motd")?;
    intact(vfs, "", motd, "before the append")?;
    let tail = b"appended by the overlay suite\n";
    let fd = open(
        vfs,
        &motd.path,
        OpenFlags::O_WRONLY | OpenFlags::O_APPEND,
        0,
    )?;
    with_fd(vfs, fd, |fd| ok(vfs.write(fd, tail), "append"))?;
    let after = ok(vfs.read_file(&motd.path), "read after the append")?;
    let (head, rest) = after.split_at(after.len().min(motd.size as usize));
    equal(crc32fast::hash(head), motd.crc, "the kept bytes' CRC32")?;
    equal(rest, &tail[..], "the appended bytes")?;
    ledger.made(&motd.path, motd.size.saturating_add(tail.len() as u64));

    // A write at an offset copies the rest of the file up around it.
    let conf = listed(list, "/etc/app/app.conf")?;
    ensure(conf.size > 104, || "app.conf is too small".into())?;
    let fd = open(vfs, &conf.path, OpenFlags::O_RDWR, 0)?;
    with_fd(vfs, fd, |fd| {
        ok(vfs.lseek(fd, 100, vfs::Whence::Set), "lseek")?;
        ok(vfs.write(fd, b"XYZW"), "write at 100").map(|_| ())
    })?;
    ledger.made(&conf.path, conf.size);
    let patched = ok(vfs.read_file(&conf.path), "read the patched file")?;
    stack.with_lower_view(vfs, |view| {
        intact(vfs, view, motd, "lower after the append")?;
        intact(vfs, view, conf, "lower after the write")?;
        want_err(
            vfs.stat(&format!("{view}{new}")),
            Errno::ENOENT,
            "new file in the lower",
        )?;
        let mut want = ok(
            vfs.read_file(&format!("{view}{}", conf.path)),
            "lower app.conf",
        )?;
        if let Some(part) = want.get_mut(100..104) {
            part.copy_from_slice(b"XYZW");
        }
        equal(
            patched == want,
            true,
            "patched app.conf = lower bytes with XYZW at 100",
        )
    })
}

/// Image files removed: gone from listings, stat and open; their other
/// hard-link names stay with one link less; the name can be used again;
/// the lower layer still has them.
pub(super) fn deletes(vfs: &Vfs, stack: &Stack, list: &[CrcEntry], ledger: &Ledger) -> Outcome {
    let gone = ["/sizes/s-1.bin", "/hard/second.bin"];
    let before = names(vfs, "/sizes")?.len();
    for path in gone {
        ok(vfs.unlink(path), &format!("unlink {path}"))?;
        ledger.removed(path);
        want_err(vfs.stat(path), Errno::ENOENT, &format!("stat {path}"))?;
        want_err(vfs.lstat(path), Errno::ENOENT, &format!("lstat {path}"))?;
        want_err(
            vfs.open(path, OpenFlags::O_RDONLY, 0),
            Errno::ENOENT,
            &format!("open {path}"),
        )?;
        want_err(
            vfs.unlink(path),
            Errno::ENOENT,
            &format!("unlink {path} again"),
        )?;
        let parent = path.rsplit_once('/').map_or("/", |(p, _)| p);
        let left = names(vfs, parent)?;
        ensure(!left.iter().any(|n| n == name_of(path)), || {
            format!("{path} still listed in {parent}")
        })?;
    }
    equal(
        names(vfs, "/sizes")?.len(),
        before.saturating_sub(1),
        "entries of /sizes",
    )?;
    for other in ["/hard/orig.bin", "/sizes/hard-third.bin"] {
        let stat = ok(vfs.stat(other), &format!("stat {other}"))?;
        equal(
            stat.nlink,
            2,
            &format!("links of {other} after removing a name"),
        )?;
        intact(vfs, "", listed(list, other)?, "the other name")?;
    }
    // The name again: a new file where the whiteout was.
    let again = "/sizes/s-1.bin";
    ok(
        vfs.write_file(again, b"made again"),
        "re-create a removed name",
    )?;
    equal(
        ok(vfs.read_file(again), "read it")?,
        b"made again".to_vec(),
        "re-created",
    )?;
    ledger.made(again, 10);
    stack.with_lower_view(vfs, |view| {
        for path in gone {
            intact(vfs, view, listed(list, path)?, "removed file in the lower")?;
        }
        equal(
            ok(vfs.stat(&format!("{view}/hard/orig.bin")), "lower orig")?.nlink,
            3,
            "links in the lower",
        )
    })
}

/// A lower directory emptied, removed and made again is opaque: none of its
/// old children show, new ones do; the lower keeps them.
pub(super) fn dir_recreated(
    vfs: &Vfs,
    stack: &Stack,
    list: &[CrcEntry],
    ledger: &Ledger,
) -> Outcome {
    let dir = "/names";
    let prefix = format!("{dir}/");
    let children: Vec<&CrcEntry> = list
        .iter()
        .filter(|e| e.path.starts_with(&prefix))
        .collect();
    ensure(children.len() >= 3, || {
        format!("{dir} has too few files listed")
    })?;
    want_err(
        vfs.rmdir(dir),
        Errno::ENOTEMPTY,
        "rmdir a full lower directory",
    )?;
    for child in &children {
        ok(vfs.unlink(&child.path), &format!("unlink {}", child.path))?;
        ledger.removed(&child.path);
    }
    equal(names(vfs, dir)?, Vec::<String>::new(), "emptied directory")?;
    ok(vfs.rmdir(dir), "rmdir the emptied directory")?;
    want_err(vfs.stat(dir), Errno::ENOENT, "stat the removed directory")?;
    ok(vfs.mkdir(dir, 0o750), "mkdir it again")?;
    equal(
        names(vfs, dir)?,
        Vec::<String>::new(),
        "the new directory's entries",
    )?;
    let first = children
        .first()
        .map(|c| c.path.as_str())
        .unwrap_or_default();
    want_err(vfs.stat(first), Errno::ENOENT, "an old child")?;
    let fresh = "/names/fresh";
    ok(vfs.write_file(fresh, b"new child"), "a new child")?;
    ledger.made(fresh, 9);
    equal(
        names(vfs, dir)?,
        vec!["fresh".to_string()],
        "entries after a create",
    )?;
    equal(
        ok(vfs.stat(dir), "stat dir")?.mode & 0o7777,
        0o750,
        "the new directory's mode",
    )?;
    stack.with_lower_view(vfs, |view| {
        for child in &children {
            intact(vfs, view, child, "old child in the lower")?;
        }
        want_err(
            vfs.stat(&format!("{view}{fresh}")),
            Errno::ENOENT,
            "new child in the lower",
        )
    })
}

/// Renames: a lower file (copied up), a file over another lower file, an
/// upper-only directory; EXDEV for a lower or merged directory.
pub(super) fn renames(vfs: &Vfs, stack: &Stack, list: &[CrcEntry], ledger: &Ledger) -> Outcome {
    let hosts = listed(list, "/etc/hosts")?;
    let moved = "/etc/hosts.moved";
    ok(vfs.rename(&hosts.path, moved), "rename a lower file")?;
    ledger.removed(&hosts.path);
    ledger.made(moved, hosts.size);
    want_err(vfs.stat(&hosts.path), Errno::ENOENT, "the old name")?;
    let moved_entry = CrcEntry {
        crc: hosts.crc,
        size: hosts.size,
        path: moved.to_string(),
    };
    intact(vfs, "", &moved_entry, "the new name")?;

    let (from, over) = (
        listed(list, "/sizes/s-2.bin")?,
        listed(list, "/sizes/s-511.bin")?,
    );
    ok(
        vfs.rename(&from.path, &over.path),
        "rename over a lower file",
    )?;
    ledger.removed(&from.path);
    ledger.made(&over.path, from.size);
    let replaced = CrcEntry {
        crc: from.crc,
        size: from.size,
        path: over.path.clone(),
    };
    intact(vfs, "", &replaced, "the replaced file")?;

    for dir in ["/deep/d01", "/links", "/etc"] {
        want_err(
            vfs.rename(dir, "/moved-dir"),
            Errno::EXDEV,
            &format!("rename {dir}"),
        )?;
        ok(vfs.stat(dir), &format!("{dir} still there"))?;
    }
    ok(vfs.mkdir("/etc/made", 0o755), "mkdir an upper directory")?;
    ok(
        vfs.write_file("/etc/made/inside", b"inside"),
        "a file in it",
    )?;
    ok(
        vfs.rename("/etc/made", "/made-moved"),
        "rename an upper-only directory",
    )?;
    ledger.made("/made-moved/inside", 6);
    equal(
        ok(vfs.read_file("/made-moved/inside"), "read after the move")?,
        b"inside".to_vec(),
        "moved directory's file",
    )?;
    want_err(
        vfs.stat("/etc/made"),
        Errno::ENOENT,
        "the old directory name",
    )?;
    stack.with_lower_view(vfs, |view| {
        intact(vfs, view, hosts, "renamed file in the lower")?;
        intact(vfs, view, over, "replaced file in the lower")
    })
}

/// A copy-up that cannot fit: every trigger gives ENOSPC, the file stays
/// the lower one (same size, inode, bytes), no space or name is left behind.
pub(super) fn copyup_enospc(
    vfs: &Vfs,
    stack: &Stack,
    list: &[CrcEntry],
    ledger: &Ledger,
) -> Outcome {
    let before = ok(vfs.statfs(&stack.upper), "statfs the upper layer")?;
    let free = before
        .blocks_available
        .saturating_mul(u64::from(before.block_size));
    let file = list
        .iter()
        .filter(|e| e.size > free && !ledger.touched(&e.path))
        .max_by_key(|e| e.size)
        .ok_or_else(|| {
            format!("no image file is larger than the upper layer's free space ({free} bytes): boot with a smaller root.size=")
        })?;
    let path = file.path.as_str();
    let parent = path
        .rsplit_once('/')
        .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
    let listing = names(vfs, parent)?;
    let stat = ok(vfs.stat(path), "stat before")?;
    want_err(
        vfs.open(path, OpenFlags::O_WRONLY, 0),
        Errno::ENOSPC,
        "open for writing",
    )?;
    want_err(
        vfs.open(path, OpenFlags::O_RDWR | OpenFlags::O_APPEND, 0),
        Errno::ENOSPC,
        "open for appending",
    )?;
    let keep = free
        .saturating_add(1 << 20)
        .min(file.size.saturating_sub(1));
    want_err(vfs.truncate(path, keep), Errno::ENOSPC, "truncate")?;
    want_err(vfs.chmod(path, 0o600), Errno::ENOSPC, "chmod")?;
    let after = ok(vfs.stat(path), "stat after")?;
    equal(
        (after.ino, after.size, after.mode, after.nlink),
        (stat.ino, stat.size, stat.mode, stat.nlink),
        "stat after the failed copy-ups",
    )?;
    equal(names(vfs, parent)?, listing, &format!("ls {parent}"))?;
    let now = ok(vfs.statfs(&stack.upper), "statfs after")?;
    equal(
        (now.blocks_free, now.files_free),
        (before.blocks_free, before.files_free),
        "upper free blocks and inodes",
    )?;
    intact(vfs, "", file, "the file after ENOSPC")?;
    // The overlay still works.
    ok(
        vfs.write_file("/etc/after-enospc", b"ok"),
        "a small write after",
    )?;
    ledger.made("/etc/after-enospc", 2);
    stack.with_lower_view(vfs, |view| intact(vfs, view, file, "the lower file"))
}
