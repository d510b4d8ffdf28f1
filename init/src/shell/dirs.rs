//! Commands on directories: `ls`, `mkdir`, `find`, `cd`, `pwd`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use vfs::{Errno, FileType, Stat, Vfs};

use super::command::{CmdResult, Error, at, flags, join, sorted_dir, usage};
use super::{Out, Shell};
use crate::println;

fn long_line(vfs: &Vfs, path: &str, name: &str, st: &Stat, out: &mut Out) {
    let size = match FileType::from_mode(st.mode) {
        Some(FileType::CharDevice | FileType::BlockDevice) => {
            format!("{:>3}, {:>3}", st.rdev >> 8, st.rdev & 0xff)
        }
        _ => format!("{}", st.size),
    };
    let _ = write!(
        out,
        "{} {:>3} {:>4} {:>4} {:>10} {} {}",
        statfmt::mode_string(st.mode),
        st.nlink,
        st.uid,
        st.gid,
        size,
        statfmt::UtcTime::from_unix(st.mtime.sec),
        name
    );
    if FileType::from_mode(st.mode) == Some(FileType::Symlink)
        && let Ok(target) = vfs.readlink(path)
    {
        let _ = write!(out, " -> {target}");
    }
    let _ = writeln!(out);
}

pub(super) fn ls(sh: &Shell, args: &[&str], out: &mut Out) -> CmdResult {
    let vfs = sh.vfs;
    let (fl, mut paths) = flags(args, "lRa1")?;
    let long = fl.contains(&'l');
    let recursive = fl.contains(&'R');
    let all = fl.contains(&'a');
    if paths.is_empty() {
        paths.push(".");
    }
    let many = paths.len() > 1 || recursive;
    let mut failed = None;
    for path in paths {
        let st = match vfs.stat(path) {
            Ok(st) => st,
            Err(e) => {
                println!(sh.platform, "ls: {path}: {e}");
                failed = Some(Error::Reported);
                continue;
            }
        };
        if FileType::from_mode(st.mode) != Some(FileType::Directory) {
            if long {
                let lst = vfs.lstat(path).unwrap_or(st);
                long_line(vfs, path, path, &lst, out);
            } else {
                let _ = writeln!(out, "{path}");
            }
            continue;
        }
        // Iterative walk so deep trees cannot overflow the kernel stack.
        let mut pending = vec![path.to_string()];
        while let Some(dir) = pending.pop() {
            let entries = match sorted_dir(vfs, &dir) {
                Ok(e) => e,
                Err(e) => {
                    println!(sh.platform, "ls: {dir}: {e}");
                    continue;
                }
            };
            if many {
                let _ = writeln!(out, "{dir}:");
            }
            let mut subdirs = Vec::new();
            for entry in &entries {
                if !all && entry.name.starts_with('.') {
                    continue;
                }
                let full = join(&dir, &entry.name);
                if long {
                    match vfs.lstat(&full) {
                        Ok(st) => long_line(vfs, &full, &entry.name, &st, out),
                        Err(e) => println!(sh.platform, "ls: {full}: {e}"),
                    }
                } else {
                    let _ = writeln!(out, "{}", entry.name);
                }
                if recursive && entry.file_type == FileType::Directory {
                    subdirs.push(full);
                }
            }
            if many {
                let _ = writeln!(out);
            }
            // Reverse so the stack pops them in name order.
            pending.extend(subdirs.into_iter().rev());
        }
    }
    failed.map_or(Ok(()), Err)
}

pub(super) fn mkdir(vfs: &Vfs, args: &[&str]) -> CmdResult {
    let (fl, paths) = flags(args, "p")?;
    if paths.is_empty() {
        return Err(usage("mkdir [-p] DIR..."));
    }
    let parents = fl.contains(&'p');
    for path in paths {
        if !parents {
            vfs.mkdir(path, 0o755).map_err(at(path))?;
            continue;
        }
        let mut prefix = String::new();
        if path.starts_with('/') {
            prefix.push('/');
        }
        for part in path.split('/').filter(|p| !p.is_empty()) {
            prefix.push_str(part);
            match vfs.mkdir(&prefix, 0o755) {
                Ok(()) => {}
                Err(Errno::EEXIST)
                    if vfs
                        .stat(&prefix)
                        .is_ok_and(|s| s.file_type() == Some(FileType::Directory)) => {}
                Err(e) => return Err(Error::Errno(prefix, e)),
            }
            prefix.push('/');
        }
    }
    Ok(())
}

/// Shell-style glob: `*` any run, `?` one character.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

pub(super) fn find(sh: &Shell, args: &[&str], out: &mut Out) -> CmdResult {
    let vfs = sh.vfs;
    let mut root = ".";
    let mut name = None;
    let mut kind = None;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-name" => {
                name = Some(
                    *args
                        .get(i + 1)
                        .ok_or_else(|| usage("find [PATH] [-name GLOB] [-type f|d|l]"))?,
                );
                i += 1;
            }
            "-type" => {
                kind = Some(match args.get(i + 1).copied() {
                    Some("f") => FileType::Regular,
                    Some("d") => FileType::Directory,
                    Some("l") => FileType::Symlink,
                    Some("c") => FileType::CharDevice,
                    Some("b") => FileType::BlockDevice,
                    _ => return Err(usage("find [PATH] [-name GLOB] [-type f|d|l|c|b]")),
                });
                i += 1;
            }
            p if i == 0 && !p.starts_with('-') => root = p,
            other => return Err(Error::Usage(format!("unknown argument `{other}`"))),
        }
        i += 1;
    }
    let root_type = vfs.lstat(root).map_err(at(root))?.file_type();
    let matches = |path: &str, t: Option<FileType>| {
        let base = path.rsplit('/').next().unwrap_or(path);
        name.is_none_or(|n| glob(n.as_bytes(), base.as_bytes()))
            && kind.is_none_or(|k| Some(k) == t)
    };
    let mut stack = vec![(root.to_string(), root_type)];
    while let Some((path, t)) = stack.pop() {
        if matches(&path, t) {
            let _ = writeln!(out, "{path}");
        }
        if t == Some(FileType::Directory) {
            match sorted_dir(vfs, &path) {
                Ok(entries) => {
                    for e in entries.into_iter().rev() {
                        stack.push((join(&path, &e.name), Some(e.file_type)));
                    }
                }
                Err(e) => println!(sh.platform, "find: {path}: {e}"),
            }
        }
    }
    Ok(())
}

pub(super) fn cd(vfs: &Vfs, args: &[&str]) -> CmdResult {
    let dir = args.first().copied().unwrap_or("/");
    vfs.chdir(dir).map_err(at(dir))
}

pub(super) fn pwd(vfs: &Vfs, out: &mut Out) -> CmdResult {
    let path = vfs.getcwd().map_err(|e| Error::Errno(String::new(), e))?;
    let _ = writeln!(out, "{path}");
    Ok(())
}
