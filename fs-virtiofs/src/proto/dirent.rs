//! Directory listings: the records of a READDIR reply ([`DirentHeader`] then
//! the name, padded to 8 bytes) and of a READDIRPLUS reply (an
//! [`EntryOut`] before each). Every record is checked before it is handed
//! out; the first bad one ends the walk with EIO.

use vfs::{Errno, FileType, VfsResult};
use zerocopy::FromBytes;

use super::reply::check_name;
use super::{DirentHeader, EntryOut};

const HEADER: usize = size_of::<DirentHeader>();
const ENTRY: usize = size_of::<EntryOut>();

/// One checked record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dirent<'a> {
    /// The host's inode number.
    pub ino: u64,
    /// The cookie to resume after this record; never 0.
    pub off: u64,
    /// `d_type`: see [`file_type`].
    pub kind: u32,
    /// 1..=255 bytes, no `/` or NUL (`.` and `..` included).
    pub name: &'a [u8],
}

impl Dirent<'_> {
    /// Whether this is `.` or `..`, which the VFS adds itself.
    pub fn is_dot(&self) -> bool {
        self.name == b"." || self.name == b".."
    }
}

/// The file type for a `d_type`: `Ok(None)` for `DT_UNKNOWN`, EIO for a
/// value that is no type at all.
pub fn file_type(kind: u32) -> VfsResult<Option<FileType>> {
    Ok(Some(match kind {
        0 => return Ok(None),
        1 => FileType::Fifo,
        2 => FileType::CharDevice,
        4 => FileType::Directory,
        6 => FileType::BlockDevice,
        8 => FileType::Regular,
        10 => FileType::Symlink,
        12 => FileType::Socket,
        _ => return Err(Errno::EIO),
    }))
}

/// Walks the records of a READDIR reply body.
pub struct DirentIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> DirentIter<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        DirentIter {
            rest: body,
            failed: false,
        }
    }

    /// Bytes not yet walked.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
}

/// Parse the record at the start of `buf`: the record and its padded length.
fn record(buf: &[u8]) -> VfsResult<(Dirent<'_>, usize)> {
    let (head, after) = DirentHeader::read_from_prefix(buf).map_err(|_| Errno::EIO)?;
    let namelen = usize::try_from(head.namelen).map_err(|_| Errno::EIO)?;
    let name = after.get(..namelen).ok_or(Errno::EIO)?;
    check_name(name)?;
    file_type(head.kind)?;
    if head.off == 0 {
        return Err(Errno::EIO);
    }
    // Records are padded to 8 bytes, the last one too.
    let padded = (HEADER + namelen).next_multiple_of(8);
    if padded > buf.len() {
        return Err(Errno::EIO);
    }
    let dirent = Dirent {
        ino: head.ino,
        off: head.off,
        kind: head.kind,
        name,
    };
    Ok((dirent, padded))
}

impl<'a> Iterator for DirentIter<'a> {
    type Item = VfsResult<Dirent<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match record(self.rest) {
            Ok((dirent, len)) => {
                self.rest = &self.rest[len..];
                Some(Ok(dirent))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Walks the records of a READDIRPLUS reply body: each an entry (node id 0
/// for names the server did not look up, such as `.` and `..`) and a dirent.
pub struct DirentPlusIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> DirentPlusIter<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        DirentPlusIter {
            rest: body,
            failed: false,
        }
    }
}

impl<'a> Iterator for DirentPlusIter<'a> {
    type Item = VfsResult<(EntryOut, Dirent<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let parsed = EntryOut::read_from_prefix(self.rest)
            .map_err(|_| Errno::EIO)
            .and_then(|(entry, after)| Ok((entry, record(after)?)));
        match parsed {
            Ok((entry, (dirent, len))) => {
                self.rest = &self.rest[ENTRY + len..];
                Some(Ok((entry, dirent)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Append one READDIR record to `out` (for servers and tests).
pub fn push_dirent(out: &mut alloc::vec::Vec<u8>, ino: u64, off: u64, kind: u32, name: &[u8]) {
    use zerocopy::IntoBytes;
    let head = DirentHeader {
        ino,
        off,
        namelen: name.len() as u32,
        kind,
    };
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(name);
    let padded = (HEADER + name.len()).next_multiple_of(8);
    out.resize(out.len() + padded - HEADER - name.len(), 0);
}

/// The padded size of a READDIR record with a name of `namelen` bytes.
pub fn dirent_size(namelen: usize) -> usize {
    (HEADER + namelen).next_multiple_of(8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use zerocopy::IntoBytes;

    fn listing(records: &[(u64, u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (off, kind, name)) in records.iter().enumerate() {
            push_dirent(&mut out, i as u64 + 100, *off, *kind, name);
        }
        out
    }

    #[test]
    fn good_listing() {
        let body = listing(&[(1, 4, b"."), (2, 4, b".."), (3, 8, b"file"), (9, 0, b"x")]);
        let all: Vec<_> = DirentIter::new(&body).collect::<VfsResult<_>>().unwrap();
        assert_eq!(all.len(), 4);
        assert!(all[0].is_dot() && all[1].is_dot() && !all[2].is_dot());
        assert_eq!(
            (all[2].ino, all[2].off, all[2].name),
            (102, 3, &b"file"[..])
        );
        assert_eq!(file_type(all[3].kind), Ok(None));
    }

    #[test]
    fn bad_records_end_the_walk_with_eio() {
        let cases: [&[(u64, u32, &[u8])]; 5] = [
            &[(1, 8, b"a/b")],
            &[(1, 8, b"a\0")],
            &[(1, 8, b"")],
            &[(0, 8, b"zero-offset")],
            &[(1, 3, b"bad-type")],
        ];
        for records in cases {
            let body = listing(records);
            let results: Vec<_> = DirentIter::new(&body).collect();
            assert_eq!(results, [Err(Errno::EIO)], "{records:?}");
        }
        // A name longer than the body, a missing padding, a short header.
        let mut body = listing(&[(1, 8, b"abc")]);
        let mut long = body.clone();
        long[16..20].copy_from_slice(&200u32.to_ne_bytes());
        assert_eq!(DirentIter::new(&long).next(), Some(Err(Errno::EIO)));
        body.truncate(27);
        assert_eq!(DirentIter::new(&body).next(), Some(Err(Errno::EIO)));
        assert_eq!(DirentIter::new(&body[..10]).next(), Some(Err(Errno::EIO)));
        // Good records before a bad one still come out, then the error, then nothing.
        let mut mixed = listing(&[(1, 8, b"ok")]);
        mixed.extend(listing(&[(2, 8, b"no/")]));
        let mut iter = DirentIter::new(&mixed);
        assert!(iter.next().unwrap().is_ok());
        assert_eq!(iter.next(), Some(Err(Errno::EIO)));
        assert_eq!(iter.next(), None);
    }

    #[test]
    fn plus_records() {
        let entry = EntryOut {
            nodeid: 5,
            ..EntryOut::default()
        };
        let mut body = Vec::new();
        body.extend_from_slice(entry.as_bytes());
        push_dirent(&mut body, 7, 1, 8, b"f");
        let all: Vec<_> = DirentPlusIter::new(&body)
            .collect::<VfsResult<_>>()
            .unwrap();
        assert_eq!(all[0].0.nodeid, 5);
        assert_eq!(all[0].1.name, b"f");
        assert_eq!(
            DirentPlusIter::new(&body[..100]).next(),
            Some(Err(Errno::EIO))
        );
    }
}
