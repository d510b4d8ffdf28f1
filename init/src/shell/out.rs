//! Where a command's output goes: the console, or the file of a `> FILE` /
//! `>> FILE` redirection. A redirection streams: output is written through a
//! buffer of at most [`OUT_BUFFER`] bytes, so a command can write more than
//! the heap holds (`cat /dev/zero > /tmp/f` runs until the file system is
//! full). The first write error is kept; from then on every write fails with
//! it, so the command producing the output stops, and the shell reports the
//! error once, naming the file.

use alloc::vec::Vec;
use core::fmt;

use vfs::{Errno, Fd, OpenFlags, Vfs, VfsResult};

use super::command::write_all;
use crate::Platform;

/// Bytes a redirection collects before writing them to its file.
pub const OUT_BUFFER: usize = 64 * 1024;

/// A command's output.
pub enum Out<'a> {
    Console(&'a dyn Platform),
    File(FileOut<'a>),
}

/// An open redirection target and its write buffer.
pub struct FileOut<'a> {
    vfs: &'a Vfs,
    fd: Fd,
    buf: Vec<u8>,
    error: Option<Errno>,
}

impl<'a> Out<'a> {
    /// Open `path` for a redirection: created if missing (mode 0644),
    /// truncated, or appended to with `append`.
    pub fn file(vfs: &'a Vfs, path: &str, append: bool) -> VfsResult<Out<'a>> {
        let mut flags = OpenFlags::O_WRONLY | OpenFlags::O_CREAT;
        flags |= if append {
            OpenFlags::O_APPEND
        } else {
            OpenFlags::O_TRUNC
        };
        let fd = vfs.open(path, flags, 0o644)?;
        Ok(Out::File(FileOut {
            vfs,
            fd,
            buf: Vec::new(),
            error: None,
        }))
    }

    /// Write `data`; after the first failure, every call returns that error.
    pub fn bytes(&mut self, data: &[u8]) -> VfsResult<()> {
        match self {
            Out::Console(platform) => {
                platform.console_write(data);
                Ok(())
            }
            Out::File(file) => file.write(data),
        }
    }

    /// The error that stopped the output, if any.
    pub fn failed(&self) -> Option<Errno> {
        match self {
            Out::Console(_) => None,
            Out::File(file) => file.error,
        }
    }

    /// The open file behind a redirection (to refuse copying a file into itself).
    pub fn fd(&self) -> Option<Fd> {
        match self {
            Out::Console(_) => None,
            Out::File(file) => Some(file.fd),
        }
    }

    /// Write what is buffered and close the file; the first error of the
    /// whole output, if any.
    pub fn finish(self) -> VfsResult<()> {
        match self {
            Out::Console(_) => Ok(()),
            Out::File(mut file) => {
                let flushed = file.flush();
                let closed = file.vfs.close(file.fd);
                flushed.and(closed)
            }
        }
    }
}

impl FileOut<'_> {
    fn write(&mut self, data: &[u8]) -> VfsResult<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.buf.len() + data.len() > OUT_BUFFER {
            self.flush()?;
        }
        if data.len() >= OUT_BUFFER {
            // Big chunks (cat's reads) go straight to the file.
            return self.record(write_all(self.vfs, self.fd, data));
        }
        if self.buf.capacity() == 0 {
            // Sized once, by a constant: no growth by doubling later.
            self.buf = Vec::with_capacity(OUT_BUFFER);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> VfsResult<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = write_all(self.vfs, self.fd, &self.buf);
        self.buf.clear();
        self.record(result)
    }

    fn record(&mut self, result: VfsResult<()>) -> VfsResult<()> {
        if let Err(e) = result {
            self.error = Some(e);
        }
        result
    }
}

impl fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes()).map_err(|_| fmt::Error)
    }
}
