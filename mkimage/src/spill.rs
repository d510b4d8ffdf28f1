//! Spill storage for tar member data: the archive is read once, front to
//! back, so each kept member's bytes are copied to disk as they stream past
//! and the image writer reads them back later. Memory stays bounded by one
//! copy buffer, whatever the archive's size.
//!
//! The spill lives in a temporary directory beside the output image (the
//! disk that must hold the image anyway) and is removed when the build ends,
//! failed or not.
//!
//! Small members (up to [`SMALL_MEMBER`] bytes) are kept in memory while
//! their total stays under [`MEMORY_BUDGET`]; the rest get a spill file
//! each, because the image writer takes whole files (`FileSource::Path`)
//! and creating one file per small member costs more than its data (about
//! 0.2 ms each on this machine kind's disks). A [`SpillRef`] already names a
//! byte range, so once the writer takes `FileSource::Range { path, offset,
//! len }`, `store` can append every member to one file and only
//! [`crate::build`]'s mapping from `SpillRef` to `FileSource` changes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Copy buffer: large reads from the archive, few write calls.
const CHUNK: usize = 256 * 1024;
/// Members up to this size may stay in memory...
pub const SMALL_MEMBER: u64 = 1 << 20;
/// ...while all members kept in memory hold at most this many bytes.
pub const MEMORY_BUDGET: u64 = 128 << 20;

/// Where a member's data went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spilled {
    Memory(Arc<Vec<u8>>),
    File(SpillRef),
}

/// Where a member's bytes were put: `len` bytes at `offset` of `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpillRef {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

/// Why a member could not be spilled.
#[derive(Debug)]
pub enum SpillError {
    /// The archive ended inside the member's data.
    Truncated { got: u64, expected: u64 },
    /// Reading the archive failed.
    Read(io::Error),
    /// Writing the spill failed (disk full, ...).
    Write(io::Error),
}

impl std::fmt::Display for SpillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpillError::Truncated { got, expected } => write!(
                f,
                "archive ends inside the member's data ({got} of {expected} bytes)"
            ),
            SpillError::Read(e) => write!(f, "reading the archive: {e}"),
            SpillError::Write(e) => write!(f, "writing the spill file: {e}"),
        }
    }
}

/// The spill directory of one build.
pub struct Spill {
    dir: tempfile::TempDir,
    files: u64,
    buf: Vec<u8>,
    in_memory: u64,
}

impl Spill {
    /// A fresh spill directory in the directory that will hold `output`.
    pub fn beside(output: &Path) -> Result<Spill, String> {
        let parent = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = tempfile::Builder::new()
            .prefix(".mkimage-spill.")
            .tempdir_in(parent)
            .map_err(|e| {
                format!(
                    "cannot create a spill directory in '{}': {e}",
                    parent.display()
                )
            })?;
        Ok(Spill {
            dir,
            files: 0,
            buf: vec![0u8; CHUNK],
            in_memory: 0,
        })
    }

    /// Take exactly `len` bytes of `reader`: in memory when small and the
    /// budget allows, else into a spill file.
    pub fn store(&mut self, reader: &mut dyn Read, len: u64) -> Result<Spilled, SpillError> {
        if len <= SMALL_MEMBER && self.in_memory + len <= MEMORY_BUDGET {
            self.in_memory += len;
            return read_exact_vec(reader, len).map(|data| Spilled::Memory(Arc::new(data)));
        }
        self.store_file(reader, len).map(Spilled::File)
    }

    /// Copy exactly `len` bytes of `reader` into a spill file.
    fn store_file(&mut self, reader: &mut dyn Read, len: u64) -> Result<SpillRef, SpillError> {
        let path = self.dir.path().join(self.files.to_string());
        self.files += 1;
        let mut file = File::create(&path).map_err(SpillError::Write)?;
        let mut got = 0u64;
        while got < len {
            let want = usize::try_from(len - got).unwrap_or(CHUNK).min(CHUNK);
            let Some(chunk) = self.buf.get_mut(..want) else {
                break;
            };
            let n = match reader.read(chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SpillError::Read(e)),
            };
            let data = chunk
                .get(..n)
                .ok_or(SpillError::Truncated { got, expected: len })?;
            file.write_all(data).map_err(SpillError::Write)?;
            got += n as u64;
        }
        if got != len {
            return Err(SpillError::Truncated { got, expected: len });
        }
        Ok(SpillRef {
            path,
            offset: 0,
            len,
        })
    }
}

/// Exactly `len` bytes of `reader` in a vector (`len` is small).
fn read_exact_vec(reader: &mut dyn Read, len: u64) -> Result<Vec<u8>, SpillError> {
    let mut data = Vec::new();
    let want = usize::try_from(len).map_err(|_| SpillError::Truncated {
        got: 0,
        expected: len,
    })?;
    data.try_reserve_exact(want)
        .map_err(|_| SpillError::Write(io::Error::from(io::ErrorKind::OutOfMemory)))?;
    let got = reader
        .take(len)
        .read_to_end(&mut data)
        .map_err(SpillError::Read)? as u64;
    if got != len {
        return Err(SpillError::Truncated { got, expected: len });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_exact_lengths_and_reports_short_input() {
        let tmp = tempfile::TempDir::new().expect("tempdir");
        let mut spill = Spill::beside(&tmp.path().join("out.img")).expect("spill");
        let data = vec![7u8; SMALL_MEMBER as usize + CHUNK + 5];
        let stored = spill.store(&mut data.as_slice(), data.len() as u64);
        let Ok(Spilled::File(r)) = stored else {
            panic!("a large member belongs in a file: {stored:?}");
        };
        assert_eq!(std::fs::read(&r.path).expect("read"), data);
        assert_eq!((r.offset, r.len), (0, data.len() as u64));
        let small = spill.store(&mut &b"abc"[..], 3).expect("store");
        assert_eq!(small, Spilled::Memory(Arc::new(b"abc".to_vec())));
        for len in [10, SMALL_MEMBER + 10] {
            let err = spill.store(&mut &b"abc"[..], len).expect_err("short");
            assert!(matches!(err, SpillError::Truncated { got: 3, .. }), "{err}");
        }
    }
}
