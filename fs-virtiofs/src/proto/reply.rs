//! Checks of everything a server sends back. The server is another program
//! (on virtio-fs, another machine's): each check turns a malformed reply into
//! an [`Errno`] (EIO unless the server named a real error), never a panic.

use vfs::{Errno, FileType, Stat, Timespec, VfsResult};

use super::{Attr, EntryOut, MAX_ERRNO, NAME_MAX, OUT_HEADER_LEN, OutHeader, PATH_MAX};

/// The errno for a server's `-error`: Linux numbers the VFS models map to
/// themselves, anything else to EIO.
pub fn host_errno(raw: i32) -> Errno {
    Errno::from_raw(raw).unwrap_or(Errno::EIO)
}

/// Check a reply's header. `received` is what the transport says it wrote,
/// `capacity` the bytes of the reply buffers (header included), `unique` the
/// request's id. Returns the length of the body after the header.
///
/// - `received` beyond `capacity`, shorter than a header, or different from
///   the header's own `len`: EIO.
/// - another request's `unique`: EIO.
/// - `error` in `-4095..=-1` with nothing after the header: that errno;
///   any other non-zero `error`, or an error with a body: EIO.
pub fn check_reply(
    header: &OutHeader,
    received: usize,
    capacity: usize,
    unique: u64,
) -> VfsResult<usize> {
    if received > capacity || received < OUT_HEADER_LEN || header.len as usize != received {
        return Err(Errno::EIO);
    }
    if header.unique != unique {
        return Err(Errno::EIO);
    }
    match header.error {
        0 => Ok(received - OUT_HEADER_LEN),
        e if (-MAX_ERRNO..0).contains(&e) && received == OUT_HEADER_LEN => Err(host_errno(-e)),
        _ => Err(Errno::EIO),
    }
}

/// A body that must be exactly `expected` bytes long.
pub fn expect_len(body: usize, expected: usize) -> VfsResult<()> {
    if body == expected {
        Ok(())
    } else {
        Err(Errno::EIO)
    }
}

/// A time from seconds and nanoseconds; nanoseconds past a second are EIO.
fn time(sec: u64, nsec: u32) -> VfsResult<Timespec> {
    if nsec >= 1_000_000_000 {
        return Err(Errno::EIO);
    }
    // The wire type is unsigned, but Linux stores signed seconds in it.
    Ok(Timespec::new(sec as i64, nsec))
}

/// A cache timeout (`entry_valid`, `attr_valid`) as a duration.
pub fn timeout(sec: u64, nsec: u32) -> VfsResult<Timespec> {
    if nsec >= 1_000_000_000 {
        return Err(Errno::EIO);
    }
    Ok(Timespec::new(i64::try_from(sec).unwrap_or(i64::MAX), nsec))
}

/// The attributes as a [`Stat`]: a mode without a file type, or an invalid
/// time, is EIO.
pub fn stat_from(attr: &Attr) -> VfsResult<Stat> {
    FileType::from_mode(attr.mode).ok_or(Errno::EIO)?;
    Ok(Stat {
        dev: 0,
        ino: attr.ino,
        mode: attr.mode,
        nlink: attr.nlink,
        uid: attr.uid,
        gid: attr.gid,
        rdev: u64::from(attr.rdev),
        size: attr.size,
        blksize: attr.blksize,
        blocks: attr.blocks,
        atime: time(attr.atime, attr.atimensec)?,
        mtime: time(attr.mtime, attr.mtimensec)?,
        ctime: time(attr.ctime, attr.ctimensec)?,
    })
}

/// A checked entry reply.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub nodeid: u64,
    pub generation: u64,
    pub stat: Stat,
    pub file_type: FileType,
    pub attr_timeout: Timespec,
}

/// Check an entry reply. `Ok(None)` is node id 0: a negative entry, which
/// the server counts no lookup for. `Err` with the node id is a positive but
/// malformed entry: the server did count a lookup, so the caller must still
/// forget it.
pub fn entry_from(entry: &EntryOut) -> Result<Option<Entry>, (u64, Errno)> {
    if entry.nodeid == 0 {
        return Ok(None);
    }
    let bad = |e| (entry.nodeid, e);
    let stat = stat_from(&entry.attr).map_err(bad)?;
    let file_type = stat.file_type().ok_or((entry.nodeid, Errno::EIO))?;
    let attr_timeout = timeout(entry.attr_valid, entry.attr_valid_nsec).map_err(bad)?;
    // The entry timeout is checked for sanity too, though the VFS caches
    // names on its own terms.
    timeout(entry.entry_valid, entry.entry_valid_nsec).map_err(bad)?;
    Ok(Some(Entry {
        nodeid: entry.nodeid,
        generation: entry.generation,
        stat,
        file_type,
        attr_timeout,
    }))
}

/// A name the server put in a directory listing: 1..=255 bytes, no `/` and
/// no NUL. (`.` and `..` pass; the caller decides what they mean.)
pub fn check_name(name: &[u8]) -> VfsResult<()> {
    if name.is_empty() || name.len() > NAME_MAX || name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(Errno::EIO);
    }
    Ok(())
}

/// A READLINK reply: a non-empty UTF-8 path without NUL, shorter than
/// PATH_MAX.
pub fn link_target(bytes: &[u8]) -> VfsResult<&str> {
    if bytes.is_empty() || bytes.len() >= PATH_MAX || bytes.contains(&0) {
        return Err(Errno::EIO);
    }
    core::str::from_utf8(bytes).map_err(|_| Errno::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32, error: i32, unique: u64) -> OutHeader {
        OutHeader { len, error, unique }
    }

    #[test]
    fn header_checks() {
        assert_eq!(check_reply(&header(16, 0, 7), 16, 16, 7), Ok(0));
        assert_eq!(check_reply(&header(40, 0, 7), 40, 64, 7), Ok(24));
        // Short, beyond the buffer, disagreeing lengths, wrong unique.
        assert_eq!(check_reply(&header(15, 0, 7), 15, 64, 7), Err(Errno::EIO));
        assert_eq!(check_reply(&header(80, 0, 7), 80, 64, 7), Err(Errno::EIO));
        assert_eq!(check_reply(&header(40, 0, 7), 32, 64, 7), Err(Errno::EIO));
        assert_eq!(check_reply(&header(16, 0, 8), 16, 64, 7), Err(Errno::EIO));
        // Errors: known, unknown, out of range, with a body.
        assert_eq!(
            check_reply(&header(16, -2, 7), 16, 64, 7),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            check_reply(&header(16, -4000, 7), 16, 64, 7),
            Err(Errno::EIO)
        );
        assert_eq!(
            check_reply(&header(16, -4096, 7), 16, 64, 7),
            Err(Errno::EIO)
        );
        assert_eq!(check_reply(&header(16, 2, 7), 16, 64, 7), Err(Errno::EIO));
        assert_eq!(
            check_reply(&header(16, i32::MIN, 7), 16, 64, 7),
            Err(Errno::EIO)
        );
        assert_eq!(check_reply(&header(24, -2, 7), 24, 64, 7), Err(Errno::EIO));
    }

    #[test]
    fn attributes_need_a_type_and_sane_times() {
        let attr = Attr {
            mode: 0o100644,
            mtimensec: 999_999_999,
            ..Attr::default()
        };
        assert!(stat_from(&attr).is_ok());
        assert_eq!(
            stat_from(&Attr {
                mode: 0o644,
                ..attr
            }),
            Err(Errno::EIO)
        );
        let late = Attr {
            ctimensec: 1_000_000_000,
            ..attr
        };
        assert_eq!(stat_from(&late), Err(Errno::EIO));
        let negative = Attr {
            mtime: (-5i64) as u64,
            ..attr
        };
        assert_eq!(stat_from(&negative).unwrap().mtime.sec, -5);
    }

    #[test]
    fn entries() {
        assert!(matches!(entry_from(&EntryOut::default()), Ok(None)));
        let mut e = EntryOut {
            nodeid: 9,
            attr: Attr {
                mode: 0o040755,
                ..Attr::default()
            },
            attr_valid: u64::MAX,
            ..EntryOut::default()
        };
        let ok = entry_from(&e).unwrap().unwrap();
        assert_eq!((ok.nodeid, ok.file_type), (9, FileType::Directory));
        assert_eq!(ok.attr_timeout.sec, i64::MAX);
        e.attr.mode = 0;
        assert_eq!(entry_from(&e).unwrap_err(), (9, Errno::EIO));
        e.attr.mode = 0o100644;
        e.entry_valid_nsec = 2_000_000_000;
        assert_eq!(entry_from(&e).unwrap_err(), (9, Errno::EIO));
    }

    #[test]
    fn names_and_targets() {
        assert!(check_name(b"a").is_ok());
        assert!(check_name(b"..").is_ok());
        assert!(check_name(&[b'x'; 255]).is_ok());
        for bad in [&b""[..], b"a/b", b"a\0", &[b'x'; 256]] {
            assert_eq!(check_name(bad), Err(Errno::EIO));
        }
        assert_eq!(link_target(b"../x"), Ok("../x"));
        assert_eq!(link_target(b""), Err(Errno::EIO));
        assert_eq!(link_target(b"a\0b"), Err(Errno::EIO));
        assert_eq!(link_target(&[0xff]), Err(Errno::EIO));
        assert_eq!(link_target(&[b'a'; 4096]), Err(Errno::EIO));
    }
}
