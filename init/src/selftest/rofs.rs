//! The ROFS root over the disk: every byte, the tree, ranges, a 10,000-entry
//! directory, deep paths, symlinks, hard links, path forms, descriptors.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use vfs::{Errno, FileType, OpenFlags, Stat, Vfs, Whence};

use super::Outcome;
use super::check::{crc_file, ensure, equal, join, kind, ok, open, want_err, with_fd};
use super::facts::{CrcEntry, Expect, number, word};

/// Size of the buffer for "large reads": big enough that a file's data comes in
/// few requests, small enough for a 64 MiB guest.
const BIG_READ: usize = 1 << 20;

pub(super) fn crc_all(vfs: &Vfs, list: &[CrcEntry]) -> Outcome {
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
pub(super) fn tree_matches(vfs: &Vfs, list: &[CrcEntry]) -> Outcome {
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
pub(super) fn ranges(vfs: &Vfs, expect: &Expect) -> Outcome {
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
pub(super) fn big_dir(vfs: &Vfs, expect: &Expect) -> Outcome {
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
pub(super) fn deep(vfs: &Vfs, expect: &Expect) -> Outcome {
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
pub(super) fn symlinks(vfs: &Vfs, expect: &Expect) -> Outcome {
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
pub(super) fn hardlinks(vfs: &Vfs, expect: &Expect) -> Outcome {
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
pub(super) fn path_forms(vfs: &Vfs, expect: &Expect) -> Outcome {
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
pub(super) fn fd_ops(vfs: &Vfs, list: &[CrcEntry]) -> Outcome {
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
