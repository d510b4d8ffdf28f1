//! The command table and what the commands share: argument and error
//! handling, path joining, streaming a file in chunks.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use vfs::{Errno, Fd, OpenFlags, Stat, Vfs, VfsResult};

use super::{Flow, Out, Shell, data, dirs, files, system};
use crate::println;

/// Chunk size for streaming file data (cat, cp, crc32): big reads are cheap
/// on virtio, and this keeps memory use bounded.
pub(super) const CHUNK: usize = 256 * 1024;

const HELP: &str = "\
commands:
  ls [-l] [-R] [-a] [PATH...]   list directories
  cat FILE...                   print files
  stat PATH...                  show attributes (of links themselves)
  mkdir [-p] DIR...             make directories
  rm [-r] [-f] PATH...          remove files (trees with -r, on one file system;
                                / only with --no-preserve-root)
  mv SRC DST                    rename or move into a directory
  ln [-s] TARGET LINK           hard or symbolic link
  cp [-r] SRC DST               copy a file (a tree with -r)
  echo [-n] WORD... [> FILE]    print words (> and >> redirect any command)
  touch FILE...                 create empty files
  df [PATH]                     filesystem space
  mount [-t TYPE] [-o OPTS] [-r] SOURCE|none TARGET   (no args: list mounts)
  umount TARGET                 unmount
  find [PATH] [-name GLOB] [-type f|d|l]
  hexdump [-s OFFSET] [-n LENGTH] FILE
  crc32 FILE...                 CRC32 and size, as in /crc32.list
  readspeed PATH [BUFSIZE]      read with BUFSIZE reads (default 4M): MiB/s, disk requests
  cachestat                     page cache: budget, resident bytes, counters per disk and in total
  cd DIR, pwd, sync, uptime, help, poweroff
  debug-panic, debug-fault, debug-overflow
                                trigger a panic / a page fault / a stack overflow (exit code 4)";

/// Run one command. Errors are printed to the console as `cmd: path: ERRNO (text)`.
pub(super) fn dispatch(sh: &Shell, args: &[&str], out: &mut Out) -> Flow {
    let Some((&name, rest)) = args.split_first() else {
        return Flow::Continue;
    };
    let vfs = sh.vfs;
    let result = match name {
        "ls" => dirs::ls(sh, rest, out),
        "cat" => files::cat(vfs, rest, out),
        "stat" => files::stat(vfs, rest, out),
        "mkdir" => dirs::mkdir(vfs, rest),
        "rm" => files::rm(sh, rest),
        "mv" => files::mv(vfs, rest),
        "ln" => files::ln(vfs, rest),
        "cp" => files::cp(sh, rest),
        "echo" => files::echo(rest, out),
        "touch" => files::touch(vfs, rest),
        "df" => system::df(vfs, rest, out),
        "mount" => system::mount(vfs, rest, out),
        "umount" => system::umount(vfs, rest),
        "find" => dirs::find(sh, rest, out),
        "hexdump" => data::hexdump(vfs, rest, out),
        "crc32" => data::crc32(vfs, rest, out),
        "readspeed" => data::readspeed(sh, rest, out),
        "cd" => dirs::cd(vfs, rest),
        "pwd" => dirs::pwd(vfs, out),
        "sync" => vfs.sync().map_err(|e| Error::Errno(String::new(), e)),
        "uptime" => system::uptime(sh, out),
        "cachestat" => system::cachestat(vfs, rest, out),
        "help" => {
            let _ = writeln!(out, "{HELP}");
            Ok(())
        }
        "poweroff" | "exit" | "halt" => return Flow::PowerOff,
        // Diagnostics, so tests can check the panic and exception paths.
        "debug-panic" => panic!("debug-panic command"),
        "debug-overflow" => system::debug_overflow(sh),
        "debug-fault" => system::debug_fault(sh),
        _ => Err(Error::Usage(String::from("command not found"))),
    };
    let p = sh.platform;
    match result {
        Ok(()) => {}
        Err(Error::Errno(path, e)) if path.is_empty() => println!(p, "{name}: {e}"),
        Err(Error::Errno(path, e)) => println!(p, "{name}: {path}: {e}"),
        Err(Error::Usage(msg)) => println!(p, "{name}: {msg}"),
        Err(Error::Reported) => {}
    }
    Flow::Continue
}

pub(super) enum Error {
    /// The path involved (may be empty) and the error.
    Errno(String, Errno),
    Usage(String),
    /// Already printed (commands that go on past a bad operand).
    Reported,
}

pub(super) type CmdResult = Result<(), Error>;

pub(super) fn at(path: &str) -> impl Fn(Errno) -> Error + '_ {
    move |e| Error::Errno(path.to_string(), e)
}

pub(super) fn usage(text: &str) -> Error {
    Error::Usage(format!("usage: {text}"))
}

/// Split `-abc` style flags from operands; flags must be in `allowed`.
pub(super) fn flags<'a>(
    args: &[&'a str],
    allowed: &str,
) -> Result<(Vec<char>, Vec<&'a str>), Error> {
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

pub(super) fn write_all(vfs: &Vfs, fd: Fd, mut data: &[u8]) -> VfsResult<()> {
    while !data.is_empty() {
        let n = vfs.write(fd, data)?;
        if n == 0 {
            return Err(Errno::EIO);
        }
        // A backend claiming more than it was given is an I/O error, not a panic.
        data = data.get(n..).ok_or(Errno::EIO)?;
    }
    Ok(())
}

pub(super) fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Why a copy loop stopped before the end of its input.
pub(super) enum CopyError {
    /// Reading the source failed.
    Read(Errno),
    /// The sink refused the data (a full file system, a failed output).
    Write(Errno),
}

impl CopyError {
    pub(super) fn errno(&self) -> Errno {
        match self {
            CopyError::Read(e) | CopyError::Write(e) => *e,
        }
    }
}

/// Stream the file at `path` through `sink` in [`CHUNK`]-sized reads,
/// stopping at the first error of either side. Returns the bytes read.
pub(super) fn read_chunks(
    vfs: &Vfs,
    path: &str,
    sink: impl FnMut(&[u8]) -> VfsResult<()>,
) -> Result<u64, CopyError> {
    let fd = vfs
        .open(path, OpenFlags::O_RDONLY, 0)
        .map_err(CopyError::Read)?;
    let result = stream_fd(vfs, fd, sink);
    let _ = vfs.close(fd);
    result
}

/// [`read_chunks`] on an open file, from its current offset.
pub(super) fn stream_fd(
    vfs: &Vfs,
    fd: Fd,
    mut sink: impl FnMut(&[u8]) -> VfsResult<()>,
) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = vfs.read(fd, &mut buf).map_err(CopyError::Read)?;
        if n == 0 {
            return Ok(total);
        }
        // A backend claiming more than the buffer is an I/O error, not a panic.
        let chunk = buf.get(..n).ok_or(CopyError::Read(Errno::EIO))?;
        sink(chunk).map_err(CopyError::Write)?;
        total = total.saturating_add(n as u64);
    }
}

/// Whether two stats name the same file (device and inode).
pub(super) fn same_file(a: &Stat, b: &Stat) -> bool {
    a.dev == b.dev && a.ino == b.ino
}

pub(super) fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => vfs::parse_size(text),
    }
}
