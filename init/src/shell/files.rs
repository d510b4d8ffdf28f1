//! Commands on files: `cat`, `stat`, `rm`, `mv`, `ln`, `cp`, `echo`, `touch`.

use alloc::string::{String, ToString};
use alloc::vec;
use core::fmt::Write;

use vfs::{Errno, FileType, OpenFlags, Vfs, VfsResult};

use super::Out;
use super::command::{CmdResult, Error, at, flags, join, read_chunks, usage, write_all};

pub(super) fn cat(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    if args.is_empty() {
        return Err(usage("cat FILE..."));
    }
    for path in args {
        read_chunks(vfs, path, |data| out.bytes(data)).map_err(at(path))?;
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

fn remove_tree(vfs: &Vfs, root: &str) -> VfsResult<()> {
    // Post-order without recursion: directories are pushed back after their
    // children and removed once empty.
    let mut stack = vec![(root.to_string(), false)];
    while let Some((path, visited)) = stack.pop() {
        let st = vfs.lstat(&path)?;
        if st.file_type() != Some(FileType::Directory) {
            vfs.unlink(&path)?;
        } else if visited {
            vfs.rmdir(&path)?;
        } else {
            let entries = vfs.read_dir(&path)?;
            stack.push((path.clone(), true));
            for e in entries {
                stack.push((join(&path, &e.name), false));
            }
        }
    }
    Ok(())
}

pub(super) fn rm(vfs: &Vfs, args: &[&str]) -> CmdResult {
    let (fl, paths) = flags(args, "rRf")?;
    if paths.is_empty() {
        return Err(usage("rm [-r] [-f] PATH..."));
    }
    let recursive = fl.contains(&'r') || fl.contains(&'R');
    let force = fl.contains(&'f');
    for path in paths {
        let result = match vfs.lstat(path) {
            Ok(st) if st.file_type() == Some(FileType::Directory) => {
                if recursive {
                    remove_tree(vfs, path)
                } else {
                    Err(Errno::EISDIR)
                }
            }
            Ok(_) => vfs.unlink(path),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {}
            Err(Errno::ENOENT) if force => {}
            Err(e) => return Err(Error::Errno(path.to_string(), e)),
        }
    }
    Ok(())
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

pub(super) fn cp(vfs: &Vfs, args: &[&str]) -> CmdResult {
    let [src, dst] = args else {
        return Err(usage("cp SRC DST"));
    };
    let target = destination(vfs, src, dst);
    let mode = vfs.stat(src).map_err(at(src))?.mode & 0o777;
    let out = vfs
        .open(
            &target,
            OpenFlags::O_WRONLY | OpenFlags::O_CREAT | OpenFlags::O_TRUNC,
            mode,
        )
        .map_err(at(&target))?;
    let mut write_error = None;
    let read = read_chunks(vfs, src, |data| {
        if write_error.is_none() {
            write_error = write_all(vfs, out, data).err();
        }
    });
    let _ = vfs.close(out);
    read.map_err(at(src))?;
    write_error.map_or(Ok(()), |e| Err(Error::Errno(target, e)))
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
