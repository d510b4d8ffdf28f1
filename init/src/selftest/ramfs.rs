//! ramfs on `/tmp`: writes, renames, links, directories, truncation, the
//! size limit, listings that change underneath. Works in `/tmp/selftest`.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use vfs::{Errno, FileType, OpenFlags, Vfs, Whence};

use super::Outcome;
use super::check::{RW_CREATE, ensure, equal, kind, ok, open, want_err, with_fd};

/// Where the ramfs tests work; removed again at the end.
const SCRATCH: &str = "/tmp/selftest";

fn scratch(name: &str) -> String {
    format!("{SCRATCH}/{name}")
}

pub(super) fn setup(vfs: &Vfs) -> Outcome {
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

pub(super) fn create_write_read(vfs: &Vfs) -> Outcome {
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

pub(super) fn rename(vfs: &Vfs) -> Outcome {
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

pub(super) fn link_unlink(vfs: &Vfs) -> Outcome {
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

pub(super) fn unlinked_open(vfs: &Vfs) -> Outcome {
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

pub(super) fn mkdir_rmdir(vfs: &Vfs) -> Outcome {
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

pub(super) fn truncate(vfs: &Vfs) -> Outcome {
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

pub(super) fn append(vfs: &Vfs) -> Outcome {
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

pub(super) fn symlink(vfs: &Vfs) -> Outcome {
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
pub(super) fn size_limit(vfs: &Vfs) -> Outcome {
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

pub(super) fn big_file(vfs: &Vfs) -> Outcome {
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
pub(super) fn readdir_changing(vfs: &Vfs) -> Outcome {
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

pub(super) fn cleanup(vfs: &Vfs) -> Outcome {
    let left = ok(vfs.read_dir(SCRATCH), "read_dir scratch")?;
    let names: Vec<&str> = left.iter().map(|e| e.name.as_str()).collect();
    ensure(names.is_empty(), || {
        format!("tests left files behind: {names:?}")
    })?;
    ok(vfs.rmdir(SCRATCH), "rmdir scratch")
}
