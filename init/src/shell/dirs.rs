//! Commands on directories: `ls`, `mkdir`, `find`, `cd`, `pwd`.

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

use vfs::{DirEntry, Errno, FileType, Stat, Vfs};

use super::command::{CmdResult, Error, at, flags, usage};
use super::walk::{self, Order, Refusal, Step};
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
    if paths.is_empty() {
        paths.push(".");
    }
    let mut list = List {
        sh,
        out,
        long: fl.contains(&'l'),
        recursive: fl.contains(&'R'),
        all: fl.contains(&'a'),
        headers: paths.len() > 1 || fl.contains(&'R'),
    };
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
            if list.long {
                let lst = vfs.lstat(path).unwrap_or(st);
                long_line(vfs, path, path, &lst, list.out);
            } else {
                let _ = writeln!(list.out, "{path}");
            }
        } else {
            walk::walk(vfs, path, st, Order::Sorted, false, &mut list);
        }
        if list.out.failed().is_some() {
            return Err(Error::Reported);
        }
    }
    failed.map_or(Ok(()), Err)
}

/// `ls` as a walk: each directory's block is printed on entering it, from
/// the sorted listing when the walk could keep one, else streamed in
/// directory order (a 100,000-entry directory lists in constant memory).
struct List<'s, 'o, 'p> {
    sh: &'s Shell<'s>,
    out: &'o mut Out<'p>,
    long: bool,
    recursive: bool,
    all: bool,
    /// `DIR:` before and a blank line after each block.
    headers: bool,
}

impl List<'_, '_, '_> {
    fn shown(&self, name: &str) -> bool {
        self.all || !name.starts_with('.')
    }

    fn line(&mut self, dir: &str, name: &str) {
        if !self.shown(name) {
            return;
        }
        if self.long {
            let mut full = String::from(dir);
            walk::push_name(&mut full, name);
            match self.sh.vfs.lstat(&full) {
                Ok(st) => long_line(self.sh.vfs, &full, name, &st, self.out),
                Err(e) => println!(self.sh.platform, "ls: {full}: {e}"),
            }
        } else {
            let _ = writeln!(self.out, "{name}");
        }
    }
}

impl walk::Visitor for List<'_, '_, '_> {
    fn enter(&mut self, path: &str, _st: &Stat, listing: Option<&[DirEntry]>) -> bool {
        if self.headers {
            let _ = writeln!(self.out, "{path}:");
        }
        match listing {
            Some(entries) => {
                for entry in entries {
                    self.line(path, &entry.name);
                }
            }
            None => {
                println!(
                    self.sh.platform,
                    "ls: {path}: too many entries to sort in memory; listed in directory order"
                );
                let vfs = self.sh.vfs;
                let result = vfs.read_dir_with(path, &mut |entry| {
                    self.line(path, entry.name);
                    self.out.failed().is_none()
                });
                if let Err(e) = result {
                    println!(self.sh.platform, "ls: {path}: {e}");
                }
            }
        }
        if self.headers {
            let _ = writeln!(self.out);
        }
        self.recursive
    }

    fn entry(&mut self, _path: &str, entry: &DirEntry) -> Step {
        if entry.file_type == FileType::Directory && self.shown(&entry.name) {
            Step::Descend
        } else {
            Step::Skip
        }
    }

    fn refused(&mut self, path: &str, why: Refusal<'_>) {
        refusal_line(self.sh, "ls", path, why);
    }

    fn error(&mut self, path: &str, e: Errno) {
        println!(self.sh.platform, "ls: {path}: {e}");
    }

    fn stopped(&self) -> bool {
        self.out.failed().is_some()
    }
}

/// The one line for a directory a walk did not enter.
pub(super) fn refusal_line(sh: &Shell, command: &str, path: &str, why: Refusal<'_>) {
    match why {
        Refusal::Loop { first } => {
            println!(
                sh.platform,
                "{command}: {path}: directory loop (same as {first})"
            )
        }
        Refusal::OtherFilesystem => println!(
            sh.platform,
            "{command}: {path}: on another file system (a mount point), skipped"
        ),
    }
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
    let root_st = vfs.lstat(root).map_err(at(root))?;
    let mut find = Find {
        sh,
        out,
        name,
        kind,
    };
    find.report(root, root_st.file_type());
    if root_st.file_type() == Some(FileType::Directory) {
        walk::walk(vfs, root, root_st, Order::Directory, false, &mut find);
    }
    if find.out.failed().is_some() {
        return Err(Error::Reported);
    }
    Ok(())
}

/// `find` as a walk: every path that matches is printed, in directory order.
struct Find<'s, 'o, 'p, 'a> {
    sh: &'s Shell<'s>,
    out: &'o mut Out<'p>,
    name: Option<&'a str>,
    kind: Option<FileType>,
}

impl Find<'_, '_, '_, '_> {
    fn report(&mut self, path: &str, t: Option<FileType>) {
        let base = path.rsplit('/').next().unwrap_or(path);
        if self
            .name
            .is_none_or(|n| glob(n.as_bytes(), base.as_bytes()))
            && self.kind.is_none_or(|k| Some(k) == t)
        {
            let _ = writeln!(self.out, "{path}");
        }
    }
}

impl walk::Visitor for Find<'_, '_, '_, '_> {
    fn enter(&mut self, _path: &str, _st: &Stat, _listing: Option<&[DirEntry]>) -> bool {
        true
    }

    fn entry(&mut self, path: &str, entry: &DirEntry) -> Step {
        self.report(path, Some(entry.file_type));
        if entry.file_type == FileType::Directory {
            Step::Descend
        } else {
            Step::Skip
        }
    }

    fn refused(&mut self, path: &str, why: Refusal<'_>) {
        refusal_line(self.sh, "find", path, why);
    }

    fn error(&mut self, path: &str, e: Errno) {
        println!(self.sh.platform, "find: {path}: {e}");
    }

    fn stopped(&self) -> bool {
        self.out.failed().is_some()
    }
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
