//! The shell's commands. Each works only through the [`Vfs`] API.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use vfs::{DirEntry, Errno, Fd, FileType, MountFlags, OpenFlags, Stat, Vfs, VfsResult};

use super::{Flow, Out};

/// Chunk size for streaming file data (cat, cp, crc32): big reads are cheap
/// on virtio, and this keeps memory use bounded.
const CHUNK: usize = 256 * 1024;

const HELP: &str = "\
commands:
  ls [-l] [-R] [-a] [PATH...]   list directories
  cat FILE...                   print files
  stat PATH...                  show attributes (of links themselves)
  mkdir [-p] DIR...             make directories
  rm [-r] [-f] PATH...          remove files (and trees with -r)
  mv SRC DST                    rename or move into a directory
  ln [-s] TARGET LINK           hard or symbolic link
  cp SRC DST                    copy a file
  echo [-n] WORD... [> FILE]    print words (> and >> redirect any command)
  touch FILE...                 create empty files
  df [PATH]                     filesystem space
  mount [-t TYPE] [-o OPTS] [-r] SOURCE|none TARGET   (no args: list mounts)
  umount TARGET                 unmount
  find [PATH] [-name GLOB] [-type f|d|l]
  hexdump [-s OFFSET] [-n LENGTH] FILE
  crc32 FILE...                 CRC32 and size, as in /crc32.list
  readspeed PATH [BUFSIZE]      read with BUFSIZE reads (default 4M): MiB/s, disk requests
  cd DIR, pwd, sync, uptime, help, poweroff
  debug-panic, debug-fault, debug-overflow
                                trigger a panic / a page fault / a stack overflow (exit code 4)";

/// Run one command. Errors are printed to the console as `cmd: path: ERRNO (text)`.
pub fn dispatch(vfs: &Vfs, args: &[&str], out: &mut Out) -> Flow {
    let Some((&name, rest)) = args.split_first() else {
        return Flow::Continue;
    };
    let result = match name {
        "ls" => ls(vfs, rest, out),
        "cat" => cat(vfs, rest, out),
        "stat" => stat(vfs, rest, out),
        "mkdir" => mkdir(vfs, rest),
        "rm" => rm(vfs, rest),
        "mv" => mv(vfs, rest),
        "ln" => ln(vfs, rest),
        "cp" => cp(vfs, rest),
        "echo" => echo(rest, out),
        "touch" => touch(vfs, rest),
        "df" => df(vfs, rest, out),
        "mount" => mount(vfs, rest, out),
        "umount" => umount(vfs, rest),
        "find" => find(vfs, rest, out),
        "hexdump" => hexdump(vfs, rest, out),
        "crc32" => crc32(vfs, rest, out),
        "readspeed" => readspeed(vfs, rest, out),
        "cd" => cd(vfs, rest),
        "pwd" => vfs
            .getcwd()
            .map(|p| {
                let _ = writeln!(out, "{p}");
            })
            .map_err(|e| Error::Errno(String::new(), e)),
        "sync" => vfs.sync().map_err(|e| Error::Errno(String::new(), e)),
        "uptime" => {
            let ms = crate::time::now_ns() / 1_000_000;
            let _ = writeln!(out, "up {}.{:03} s", ms / 1000, ms % 1000);
            Ok(())
        }
        "help" => {
            let _ = writeln!(out, "{HELP}");
            Ok(())
        }
        "poweroff" | "exit" | "halt" => return Flow::PowerOff,
        // Diagnostics, so tests can check the panic and exception paths.
        "debug-panic" => panic!("debug-panic command"),
        "debug-overflow" => {
            crate::println!("{}", recurse(0));
            Ok(())
        }
        "debug-fault" => {
            // Above the 4 GiB identity map: a page fault.
            // SAFETY: deliberately faults; the exception handler exits the VM.
            let value = unsafe { core::ptr::read_volatile(0x10_0000_0000usize as *const u64) };
            crate::println!("read {value}");
            Ok(())
        }
        _ => Err(Error::Usage(String::from("command not found"))),
    };
    match result {
        Ok(()) => {}
        Err(Error::Errno(path, e)) if path.is_empty() => crate::println!("{name}: {e}"),
        Err(Error::Errno(path, e)) => crate::println!("{name}: {path}: {e}"),
        Err(Error::Usage(msg)) => crate::println!("{name}: {msg}"),
        Err(Error::Reported) => {}
    }
    Flow::Continue
}

enum Error {
    /// The path involved (may be empty) and the error.
    Errno(String, Errno),
    Usage(String),
    /// Already printed (commands that go on past a bad operand).
    Reported,
}

type CmdResult = Result<(), Error>;

fn at(path: &str) -> impl Fn(Errno) -> Error + '_ {
    move |e| Error::Errno(path.to_string(), e)
}

fn usage(text: &str) -> Error {
    Error::Usage(format!("usage: {text}"))
}

/// Split `-abc` style flags from operands; flags must be in `allowed`.
fn flags<'a>(args: &[&'a str], allowed: &str) -> Result<(Vec<char>, Vec<&'a str>), Error> {
    let mut set = Vec::new();
    let mut operands = Vec::new();
    let mut only_operands = false;
    for &a in args {
        if !only_operands && a == "--" {
            only_operands = true;
        } else if !only_operands && a.len() > 1 && a.starts_with('-') {
            for c in a.chars().skip(1) {
                if !allowed.contains(c) {
                    return Err(Error::Usage(format!("unknown option -{c}")));
                }
                set.push(c);
            }
        } else {
            operands.push(a);
        }
    }
    Ok((set, operands))
}

pub fn write_all(vfs: &Vfs, fd: Fd, mut data: &[u8]) -> VfsResult<()> {
    while !data.is_empty() {
        let n = vfs.write(fd, data)?;
        if n == 0 {
            return Err(Errno::EIO);
        }
        data = &data[n..];
    }
    Ok(())
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn sorted_dir(vfs: &Vfs, path: &str) -> VfsResult<Vec<DirEntry>> {
    let mut entries = vfs.read_dir(path)?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

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
        vfs::mode_string(st.mode),
        st.nlink,
        st.uid,
        st.gid,
        size,
        vfs::UtcTime::from_unix(st.mtime.sec),
        name
    );
    if FileType::from_mode(st.mode) == Some(FileType::Symlink)
        && let Ok(target) = vfs.readlink(path)
    {
        let _ = write!(out, " -> {target}");
    }
    let _ = writeln!(out);
}

fn ls(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
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
                crate::println!("ls: {path}: {e}");
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
                    crate::println!("ls: {dir}: {e}");
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
                        Err(e) => crate::println!("ls: {full}: {e}"),
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

/// Stream the file at `path` through `sink` in [`CHUNK`]-sized reads.
fn read_chunks(vfs: &Vfs, path: &str, mut sink: impl FnMut(&[u8])) -> VfsResult<u64> {
    let fd = vfs.open(path, OpenFlags::O_RDONLY, 0)?;
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    let result = loop {
        match vfs.read(fd, &mut buf) {
            Ok(0) => break Ok(total),
            Ok(n) => {
                sink(&buf[..n]);
                total += n as u64;
            }
            Err(e) => break Err(e),
        }
    };
    let _ = vfs.close(fd);
    result
}

fn cat(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    if args.is_empty() {
        return Err(usage("cat FILE..."));
    }
    for path in args {
        read_chunks(vfs, path, |data| out.bytes(data)).map_err(at(path))?;
    }
    Ok(())
}

fn stat(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
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
            vfs::mode_string(st.mode),
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
                vfs::UtcTime::from_unix(t.sec),
                t.nsec
            );
        }
    }
    Ok(())
}

fn mkdir(vfs: &Vfs, args: &[&str]) -> CmdResult {
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

fn rm(vfs: &Vfs, args: &[&str]) -> CmdResult {
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

fn mv(vfs: &Vfs, args: &[&str]) -> CmdResult {
    let [src, dst] = args else {
        return Err(usage("mv SRC DST"));
    };
    let target = destination(vfs, src, dst);
    vfs.rename(src, &target).map_err(at(src))
}

fn ln(vfs: &Vfs, args: &[&str]) -> CmdResult {
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

fn cp(vfs: &Vfs, args: &[&str]) -> CmdResult {
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

fn echo(args: &[&str], out: &mut Out) -> CmdResult {
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

fn touch(vfs: &Vfs, args: &[&str]) -> CmdResult {
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

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 10 * 1024 && unit + 1 < UNITS.len() {
        value /= 1024;
        unit += 1;
    }
    format!("{value}{}", UNITS[unit])
}

fn df(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    let mounts = vfs.mounts();
    let _ = writeln!(
        out,
        "{:<14} {:<6} {:>8} {:>8} {:>8} {:>5} Mounted on",
        "Filesystem", "Type", "Size", "Used", "Avail", "Use%"
    );
    for m in &mounts {
        if args.first().is_some_and(|path| *path != m.target) {
            continue;
        }
        match vfs.statfs(&m.target) {
            Ok(s) => {
                let bs = u64::from(s.block_size);
                let size = s.blocks.saturating_mul(bs);
                let used = s.blocks.saturating_sub(s.blocks_free).saturating_mul(bs);
                let avail = s.blocks_available.saturating_mul(bs);
                let pct = if size == 0 {
                    0
                } else {
                    used.saturating_mul(100).div_ceil(size)
                };
                let _ = writeln!(
                    out,
                    "{:<14} {:<6} {:>8} {:>8} {:>8} {:>4}% {}",
                    m.source,
                    m.fs_type,
                    human(size),
                    human(used),
                    human(avail),
                    pct,
                    m.target
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "{:<14} {:<6} {:>8} {:>8} {:>8} {:>5} {} ({})",
                    m.source,
                    m.fs_type,
                    "-",
                    "-",
                    "-",
                    "-",
                    m.target,
                    e.name()
                );
            }
        }
    }
    Ok(())
}

fn mount(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    if args.is_empty() {
        for m in vfs.mounts() {
            let ro = if m.flags.contains(MountFlags::RDONLY) {
                "ro"
            } else {
                "rw"
            };
            let opts = if m.options.is_empty() {
                String::new()
            } else {
                format!(",{}", m.options)
            };
            let _ = writeln!(
                out,
                "{} on {} type {} ({ro}{opts})",
                m.source, m.target, m.fs_type
            );
        }
        return Ok(());
    }
    let mut fs_type = None;
    let mut options = String::new();
    let mut flags = MountFlags::empty();
    let mut operands = Vec::new();
    let mut iter = args.iter();
    while let Some(&a) = iter.next() {
        match a {
            "-t" => fs_type = iter.next().copied(),
            "-o" => {
                let opts = iter.next().copied().unwrap_or("");
                let mut rest = Vec::new();
                for o in opts.split(',').filter(|o| !o.is_empty()) {
                    match o {
                        "ro" => flags |= MountFlags::RDONLY,
                        "rw" => flags.remove(MountFlags::RDONLY),
                        "defaults" => {}
                        other => rest.push(other),
                    }
                }
                options = rest.join(",");
            }
            "-r" => flags |= MountFlags::RDONLY,
            _ => operands.push(a),
        }
    }
    let (Some(fs_type), &[source, target]) = (fs_type, &operands[..]) else {
        return Err(usage("mount -t TYPE [-o OPTS] [-r] SOURCE|none TARGET"));
    };
    let source = if source == "none" { None } else { Some(source) };
    vfs.mount(source, target, fs_type, flags, &options)
        .map_err(at(target))
}

fn umount(vfs: &Vfs, args: &[&str]) -> CmdResult {
    let [target] = args else {
        return Err(usage("umount TARGET"));
    };
    vfs.umount(target).map_err(at(target))
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

fn find(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
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
                Err(e) => crate::println!("find: {path}: {e}"),
            }
        }
    }
    Ok(())
}

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => vfs::parse_size(text),
    }
}

fn hexdump(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    const USAGE: &str = "hexdump [-s OFFSET] [-n LENGTH] FILE";
    let mut offset = 0u64;
    let mut length = u64::MAX;
    let mut file = None;
    let mut iter = args.iter();
    while let Some(&a) = iter.next() {
        match a {
            "-s" => {
                offset = iter
                    .next()
                    .and_then(|v| parse_number(v))
                    .ok_or_else(|| usage(USAGE))?
            }
            "-n" => {
                length = iter
                    .next()
                    .and_then(|v| parse_number(v))
                    .ok_or_else(|| usage(USAGE))?
            }
            f if file.is_none() => file = Some(f),
            _ => return Err(usage(USAGE)),
        }
    }
    let path = file.ok_or_else(|| usage(USAGE))?;
    let fd = vfs.open(path, OpenFlags::O_RDONLY, 0).map_err(at(path))?;
    let mut buf = vec![0u8; 4096];
    let mut pos = offset;
    let mut left = length;
    let result = loop {
        if left == 0 {
            break Ok(());
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match vfs.pread(fd, &mut buf[..want], pos) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(Error::Errno(path.to_string(), e)),
        };
        for (row_index, row) in buf[..n].chunks(16).enumerate() {
            let addr = pos + (row_index * 16) as u64;
            let _ = write!(out, "{addr:08x} ");
            for i in 0..16 {
                if i == 8 {
                    let _ = write!(out, " ");
                }
                match row.get(i) {
                    Some(b) => {
                        let _ = write!(out, " {b:02x}");
                    }
                    None => {
                        let _ = write!(out, "   ");
                    }
                }
            }
            let text: String = row
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            let _ = writeln!(out, "  |{text}|");
        }
        pos += n as u64;
        left -= n as u64;
    };
    let _ = vfs.close(fd);
    if pos > offset {
        let _ = writeln!(out, "{pos:08x}");
    }
    result
}

fn crc32(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    if args.is_empty() {
        return Err(usage("crc32 FILE..."));
    }
    for path in args {
        let mut hasher = crc32fast::Hasher::new();
        let size = read_chunks(vfs, path, |data| hasher.update(data)).map_err(at(path))?;
        let _ = writeln!(out, "{:08x} {size} {path}", hasher.finalize());
    }
    Ok(())
}

fn readspeed(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    const USAGE: &str = "readspeed PATH [BUFSIZE]";
    let (path, size) = match args {
        [path] => (*path, 4 << 20),
        [path, size] => (*path, parse_number(size).ok_or_else(|| usage(USAGE))?),
        _ => return Err(usage(USAGE)),
    };
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| usage(USAGE))?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(size)
        .map_err(|_| Error::Errno(path.to_string(), Errno::ENOMEM))?;
    buf.resize(size, 0);
    let fd = vfs.open(path, OpenFlags::O_RDONLY, 0).map_err(at(path))?;
    let before = crate::disk_stats();
    let start = crate::time::now_ns();
    let mut total = 0u64;
    let result = loop {
        match vfs.read(fd, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => total += n as u64,
            Err(e) => break Err(Error::Errno(path.to_string(), e)),
        }
    };
    let ns = (crate::time::now_ns() - start).max(1);
    let _ = vfs.close(fd);
    result?;
    let after = crate::disk_stats();
    let mib_s = total as u128 * 1_000_000_000 / ns as u128 / (1 << 20);
    let requests = after.requests - before.requests;
    let request_kib = (after.bytes - before.bytes) / requests.max(1) / 1024;
    let _ = writeln!(
        out,
        "{total} bytes in {}.{:03} ms: {mib_s} MiB/s ({requests} disk requests, {request_kib} KiB each)",
        ns / 1_000_000,
        ns / 1000 % 1000
    );
    Ok(())
}

/// Unbounded recursion for `debug-overflow`; `black_box` keeps every frame.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    frame[0] + recurse(core::hint::black_box(depth + 1))
}

fn cd(vfs: &Vfs, args: &[&str]) -> CmdResult {
    let dir = args.first().copied().unwrap_or("/");
    vfs.chdir(dir).map_err(at(dir))
}
