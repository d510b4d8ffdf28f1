//! Commands on files: `cat`, `stat`, `rm`, `mv`, `ln`, `cp`, `echo`, `touch`
//! (the recursive forms of `rm` and `cp` walk in `tree`).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use vfs::{Errno, FileType, OpenFlags, Vfs};

use super::command::{CmdResult, CopyError, Error, at, flags, join, same_file, stream_fd, usage};
use super::tree::{CopyTree, Remove, copy_file};
use super::walk::{self, Order};
use super::{Out, Shell};
use crate::println;

pub(super) fn cat(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    if args.is_empty() {
        return Err(usage("cat FILE..."));
    }
    // As GNU cat: reading the file being written would never end.
    let output = out.fd().and_then(|fd| vfs.fstat(fd).ok());
    for path in args {
        let fd = vfs.open(path, OpenFlags::O_RDONLY, 0).map_err(at(path))?;
        let input = vfs.fstat(fd);
        let result = match (&input, &output) {
            (Ok(a), Some(b)) if same_file(a, b) && a.file_type() == Some(FileType::Regular) => {
                Err(Error::Usage(format!("{path}: input file is output file")))
            }
            _ => stream_fd(vfs, fd, |data| out.bytes(data)).map_err(|e| match e {
                CopyError::Read(e) => Error::Errno(path.to_string(), e),
                // The shell reports a failed output once, naming its file.
                CopyError::Write(_) => Error::Reported,
            }),
        };
        let _ = vfs.close(fd);
        result.map(|_| ())?;
    }
    Ok(())
}

pub(super) fn stat(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    if args.is_empty() {
        return Err(usage("stat PATH..."));
    }
    for path in args {
        let st = vfs.lstat(path).map_err(at(path))?;
        let kind = match FileType::from_mode(st.mode) {
            Some(FileType::Regular) => "regular file",
            Some(FileType::Directory) => "directory",
            Some(FileType::Symlink) => "symbolic link",
            Some(FileType::CharDevice) => "character device",
            Some(FileType::BlockDevice) => "block device",
            Some(FileType::Fifo) => "fifo",
            Some(FileType::Socket) => "socket",
            None => "unknown",
        };
        let _ = write!(out, "  File: {path}");
        if kind == "symbolic link"
            && let Ok(t) = vfs.readlink(path)
        {
            let _ = write!(out, " -> {t}");
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  Size: {}\tBlocks: {}\tIO Block: {}\t{kind}",
            st.size, st.blocks, st.blksize
        );
        let _ = writeln!(
            out,
            "Device: {}\tInode: {}\tLinks: {}\tRdev: {}",
            st.dev, st.ino, st.nlink, st.rdev
        );
        let _ = writeln!(
            out,
            "Access: ({:04o}/{})\tUid: {}\tGid: {}",
            st.mode & 0o7777,
            statfmt::mode_string(st.mode),
            st.uid,
            st.gid
        );
        for (label, t) in [
            ("Access", st.atime),
            ("Modify", st.mtime),
            ("Change", st.ctime),
        ] {
            let _ = writeln!(
                out,
                "{label}: {}.{:09}",
                statfmt::UtcTime::from_unix(t.sec),
                t.nsec
            );
        }
    }
    Ok(())
}

/// Whether `path` ends in a `.` or `..` component (`/tmp/..`, `a/./`).
fn ends_in_dot(path: &str) -> bool {
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    matches!(last, "." | "..")
}

/// Whether `path` names the root directory (by device and inode, so `//`
/// and `/tmp/../` count).
fn is_root(vfs: &Vfs, path: &str) -> bool {
    match (vfs.stat(path), vfs.stat("/")) {
        (Ok(a), Ok(b)) => same_file(&a, &b),
        _ => false,
    }
}

pub(super) fn rm(sh: &Shell, args: &[&str]) -> CmdResult {
    const USAGE: &str = "rm [-r] [-f] [--no-preserve-root] PATH...";
    let vfs = sh.vfs;
    let mut preserve_root = true;
    let mut short = Vec::new();
    for &a in args {
        match a {
            "--no-preserve-root" => preserve_root = false,
            "--preserve-root" => preserve_root = true,
            a => short.push(a),
        }
    }
    let (fl, paths) = flags(&short, "rRf")?;
    if paths.is_empty() {
        return Err(usage(USAGE));
    }
    let recursive = fl.contains(&'r') || fl.contains(&'R');
    let force = fl.contains(&'f');
    let mut failed = None;
    for path in paths {
        // GNU rm's two refusals, checked before anything is removed.
        if ends_in_dot(path) {
            println!(sh.platform, "rm: {path}: refusing to remove '.' or '..'");
            failed = Some(Error::Reported);
            continue;
        }
        if recursive && preserve_root && is_root(vfs, path) {
            println!(
                sh.platform,
                "rm: {path}: refusing to remove / recursively (use --no-preserve-root)"
            );
            failed = Some(Error::Reported);
            continue;
        }
        let result = match vfs.lstat(path) {
            Ok(st) if st.file_type() == Some(FileType::Directory) => {
                if recursive {
                    let mut remove = Remove::new(sh);
                    walk::walk(vfs, path, st, Order::Directory, true, &mut remove);
                    remove.error.map_or(Ok(()), Err)
                } else {
                    Err(Error::Errno(path.to_string(), Errno::EISDIR))
                }
            }
            Ok(_) => vfs.unlink(path).map_err(at(path)),
            Err(e) => Err(Error::Errno(path.to_string(), e)),
        };
        match result {
            Ok(()) => {}
            Err(Error::Errno(p, Errno::ENOENT)) if force && p == path => {}
            Err(e) => return Err(e),
        }
    }
    failed.map_or(Ok(()), Err)
}

/// `dst`, or `dst/basename(src)` when `dst` is an existing directory.
fn destination(vfs: &Vfs, src: &str, dst: &str) -> String {
    let is_dir = vfs
        .stat(dst)
        .is_ok_and(|s| s.file_type() == Some(FileType::Directory));
    if is_dir {
        let base = src.trim_end_matches('/').rsplit('/').next().unwrap_or(src);
        join(dst, base)
    } else {
        dst.to_string()
    }
}

pub(super) fn mv(vfs: &Vfs, args: &[&str]) -> CmdResult {
    let [src, dst] = args else {
        return Err(usage("mv SRC DST"));
    };
    let target = destination(vfs, src, dst);
    vfs.rename(src, &target).map_err(at(src))
}

pub(super) fn ln(vfs: &Vfs, args: &[&str]) -> CmdResult {
    let (fl, operands) = flags(args, "s")?;
    let [target, link] = operands[..] else {
        return Err(usage("ln [-s] TARGET LINK"));
    };
    if fl.contains(&'s') {
        vfs.symlink(target, link).map_err(at(link))
    } else {
        vfs.link(target, link).map_err(at(link))
    }
}

pub(super) fn cp(sh: &Shell, args: &[&str]) -> CmdResult {
    const USAGE: &str = "cp [-r] SRC DST";
    let vfs = sh.vfs;
    let (fl, operands) = flags(args, "rR")?;
    let [src, dst] = operands[..] else {
        return Err(usage(USAGE));
    };
    let target = destination(vfs, src, dst);
    let st = vfs.stat(src).map_err(at(src))?;
    if st.file_type() != Some(FileType::Directory) {
        return copy_file(vfs, src, &target, st.mode & 0o7777);
    }
    if !fl.contains(&'r') && !fl.contains(&'R') {
        return Err(Error::Usage(format!("{src}: is a directory (use cp -r)")));
    }
    let mut copy = CopyTree::new(sh, src, &target);
    walk::walk(vfs, src, st, Order::Directory, false, &mut copy);
    copy.error.map_or(Ok(()), Err)
}

pub(super) fn echo(args: &[&str], out: &mut Out) -> CmdResult {
    let (newline, words) = match args.first() {
        Some(&"-n") => (false, &args[1..]),
        _ => (true, args),
    };
    let _ = write!(out, "{}", words.join(" "));
    if newline {
        let _ = writeln!(out);
    }
    Ok(())
}

pub(super) fn touch(vfs: &Vfs, args: &[&str]) -> CmdResult {
    if args.is_empty() {
        return Err(usage("touch FILE..."));
    }
    for path in args {
        let fd = vfs
            .open(path, OpenFlags::O_WRONLY | OpenFlags::O_CREAT, 0o644)
            .map_err(at(path))?;
        let _ = vfs.close(fd);
    }
    Ok(())
}
