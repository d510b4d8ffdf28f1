//! Data tools: `hexdump`, `crc32`, `readspeed`.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use vfs::{Errno, OpenFlags, Vfs};

use super::command::{CmdResult, Error, at, parse_number, read_chunks, usage};
use super::{Out, Shell};

pub(super) fn hexdump(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
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
        if out.failed().is_some() {
            // The shell reports the failed output.
            break Err(Error::Reported);
        }
    };
    let _ = vfs.close(fd);
    if pos > offset {
        let _ = writeln!(out, "{pos:08x}");
    }
    result
}

pub(super) fn crc32(vfs: &Vfs, args: &[&str], out: &mut Out) -> CmdResult {
    if args.is_empty() {
        return Err(usage("crc32 FILE..."));
    }
    for path in args {
        let mut hasher = crc32fast::Hasher::new();
        let size = read_chunks(vfs, path, |data| {
            hasher.update(data);
            Ok(())
        })
        .map_err(|e| Error::Errno(path.to_string(), e.errno()))?;
        let _ = writeln!(out, "{:08x} {size} {path}", hasher.finalize());
    }
    Ok(())
}

pub(super) fn readspeed(sh: &Shell, args: &[&str], out: &mut Out) -> CmdResult {
    let (vfs, p) = (sh.vfs, sh.platform);
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
    let before = p.disk_stats();
    let start = p.now_ns();
    let mut total = 0u64;
    let result = loop {
        match vfs.read(fd, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => total += n as u64,
            Err(e) => break Err(Error::Errno(path.to_string(), e)),
        }
    };
    let ns = p.now_ns().saturating_sub(start).max(1);
    let _ = vfs.close(fd);
    result?;
    let after = p.disk_stats();
    let mib_s = total as u128 * 1_000_000_000 / ns as u128 / (1 << 20);
    let requests = after.requests.saturating_sub(before.requests);
    let request_kib = after.bytes.saturating_sub(before.bytes) / requests.max(1) / 1024;
    let _ = writeln!(
        out,
        "{total} bytes in {}.{:03} ms: {mib_s} MiB/s ({requests} disk requests, {request_kib} KiB each)",
        ns / 1_000_000,
        ns / 1000 % 1000
    );
    Ok(())
}
