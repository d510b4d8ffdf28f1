//! The errno of every kind of misuse: EROFS, ENOENT, ENOTDIR, ELOOP, EXDEV,
//! EISDIR, EBADF, EEXIST, ENOTEMPTY, EINVAL, ENAMETOOLONG.

use alloc::format;
use alloc::string::String;

use vfs::{Errno, FileType, OpenFlags, Vfs, Whence};

use super::Outcome;
use super::check::{RW_CREATE, equal, kind, ok, open, want_err, with_fd};
use super::facts::{CrcEntry, Expect, word};

fn some_rofs_file(list: &[CrcEntry]) -> Result<&str, String> {
    list.iter()
        .find(|e| e.size > 0)
        .map(|e| e.path.as_str())
        .ok_or_else(|| "no non-empty file listed".into())
}

/// Every change on a read-only mount is EROFS: on `/` itself, or (when `/`
/// is an overlay) on a read-only view of its lower layer whose paths start
/// with `base`.
pub(super) fn erofs(vfs: &Vfs, list: &[CrcEntry], base: &str) -> Outcome {
    let file = &format!("{base}{}", some_rofs_file(list)?);
    let under = |name: &str| format!("{base}/{name}");
    want_err(
        vfs.open(
            &under("selftest-new"),
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
        vfs.mkdir(&under("selftest-dir"), 0o755),
        Errno::EROFS,
        "mkdir under /",
    )?;
    want_err(vfs.unlink(file), Errno::EROFS, "unlink a ROFS file")?;
    want_err(
        vfs.rename(file, &under("selftest-renamed")),
        Errno::EROFS,
        "rename on /",
    )?;
    want_err(
        vfs.symlink("x", &under("selftest-link")),
        Errno::EROFS,
        "symlink under /",
    )?;
    want_err(
        vfs.link(file, &under("selftest-hard")),
        Errno::EROFS,
        "link under /",
    )?;
    want_err(vfs.truncate(file, 0), Errno::EROFS, "truncate a ROFS file")?;
    want_err(vfs.chmod(file, 0o600), Errno::EROFS, "chmod a ROFS file")?;
    ok(vfs.stat(file), "file still there").map(|_| ())
}

pub(super) fn enoent(vfs: &Vfs, expect: &Expect) -> Outcome {
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

pub(super) fn enotdir(vfs: &Vfs, list: &[CrcEntry]) -> Outcome {
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

pub(super) fn eloop(vfs: &Vfs, expect: &Expect) -> Outcome {
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

/// Renames and links across mounts. `root_read_only`: whether `/` is
/// (then a link into it is EROFS, as Linux checks that first).
pub(super) fn exdev(vfs: &Vfs, list: &[CrcEntry], root_read_only: bool) -> Outcome {
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
            if root_read_only {
                Errno::EROFS
            } else {
                Errno::EXDEV
            },
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

pub(super) fn eisdir(vfs: &Vfs) -> Outcome {
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

pub(super) fn ebadf(vfs: &Vfs) -> Outcome {
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

pub(super) fn eexist_enotempty(vfs: &Vfs) -> Outcome {
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

pub(super) fn einval(vfs: &Vfs) -> Outcome {
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
