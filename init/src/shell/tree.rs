//! Changes to whole trees, `rm -r` and `cp -r`, as walks (see `walk`), and
//! the one file copy loop `cp` uses.
//!
//! Both stop at the first error and report it. A recursive remove stays on
//! the filesystem of its operand: a directory below it on another mount is
//! skipped with one line and kept, with the directories above it.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use vfs::{DirEntry, Errno, FileType, OpenFlags, Stat, Vfs};

use super::Shell;
use super::command::{CopyError, Error, at, join, same_file, stream_fd, write_all};
use super::dirs::refusal_line;
use super::walk::{Refusal, Step, Visitor};
use crate::println;

/// Copy the file `src` to `dst` (created with `mode`, or truncated), up to
/// the first read or write error. Refuses to copy a file onto itself, which
/// would truncate it first.
pub(super) fn copy_file(vfs: &Vfs, src: &str, dst: &str, mode: u32) -> Result<(), Error> {
    if let (Ok(a), Ok(b)) = (vfs.stat(src), vfs.stat(dst))
        && same_file(&a, &b)
    {
        return Err(Error::Usage(format!("{src} and {dst} are the same file")));
    }
    // The source first: a missing one must not leave an empty target.
    let input = vfs.open(src, OpenFlags::O_RDONLY, 0).map_err(at(src))?;
    let flags = OpenFlags::O_WRONLY | OpenFlags::O_CREAT | OpenFlags::O_TRUNC;
    let output = match vfs.open(dst, flags, mode) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = vfs.close(input);
            return Err(Error::Errno(String::from(dst), e));
        }
    };
    let copied = stream_fd(vfs, input, |data| write_all(vfs, output, data));
    let _ = vfs.close(input);
    let closed = vfs.close(output);
    match copied {
        Err(CopyError::Read(e)) => Err(Error::Errno(String::from(src), e)),
        Err(CopyError::Write(e)) => Err(Error::Errno(String::from(dst), e)),
        Ok(_) => closed.map_err(at(dst)),
    }
}

/// `rm -r` as a walk: files are unlinked as they come, directories removed
/// after their entries (post-order).
pub(super) struct Remove<'s> {
    pub sh: &'s Shell<'s>,
    /// Per directory entered: whether something below it is kept.
    kept: Vec<bool>,
    /// The first error; it ends the walk.
    pub error: Option<Error>,
}

impl<'s> Remove<'s> {
    pub fn new(sh: &'s Shell<'s>) -> Remove<'s> {
        Remove {
            sh,
            kept: Vec::new(),
            error: None,
        }
    }

    fn fail(&mut self, path: &str, e: Errno) {
        if self.error.is_none() {
            self.error = Some(Error::Errno(String::from(path), e));
        }
    }

    /// Something in the current directory stays, so it cannot be removed.
    fn keep(&mut self) {
        if let Some(kept) = self.kept.last_mut() {
            *kept = true;
        }
    }
}

impl Visitor for Remove<'_> {
    fn enter(&mut self, _path: &str, _st: &Stat, _listing: Option<&[DirEntry]>) -> bool {
        self.kept.push(false);
        true
    }

    fn entry(&mut self, path: &str, entry: &DirEntry) -> Step {
        if entry.file_type == FileType::Directory {
            return Step::Descend;
        }
        if let Err(e) = self.sh.vfs.unlink(path) {
            self.fail(path, e);
        }
        Step::Skip
    }

    fn leave(&mut self, path: &str, _st: &Stat) {
        if self.kept.pop().unwrap_or(false) {
            self.keep();
        } else if let Err(e) = self.sh.vfs.rmdir(path) {
            self.fail(path, e);
        }
    }

    fn refused(&mut self, path: &str, why: Refusal<'_>) {
        refusal_line(self.sh, "rm", path, why);
        self.keep();
    }

    fn error(&mut self, path: &str, e: Errno) {
        self.fail(path, e);
    }

    fn stopped(&self) -> bool {
        self.error.is_some()
    }
}

/// `cp -r` as a walk: directories are made on entering them, files copied
/// and symlinks recreated as they come. The copy's own top directory, met
/// inside the source (`cp -r /a /a/b`), is not copied into itself.
pub(super) struct CopyTree<'s> {
    sh: &'s Shell<'s>,
    /// Length of the source root; the rest of a path is its place in the copy.
    source_len: usize,
    target: String,
    /// `(st_dev, st_ino)` of the copy's top directory once made.
    target_id: Option<(u64, u64)>,
    pub error: Option<Error>,
}

impl<'s> CopyTree<'s> {
    pub fn new(sh: &'s Shell<'s>, source: &str, target: &str) -> CopyTree<'s> {
        CopyTree {
            sh,
            source_len: source.len(),
            target: String::from(target),
            target_id: None,
            error: None,
        }
    }

    fn target_of(&self, path: &str) -> String {
        let rel = path.get(self.source_len..).unwrap_or("");
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() {
            self.target.clone()
        } else {
            join(&self.target, rel)
        }
    }

    fn fail(&mut self, error: Error) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    fn copy_entry(&mut self, path: &str, entry: &DirEntry) -> Result<(), Error> {
        let vfs = self.sh.vfs;
        let target = self.target_of(path);
        match entry.file_type {
            FileType::Regular => {
                let mode = vfs.lstat(path).map_err(at(path))?.mode & 0o7777;
                copy_file(vfs, path, &target, mode)
            }
            FileType::Symlink => {
                let link = vfs.readlink(path).map_err(at(path))?;
                vfs.symlink(&link, &target).map_err(at(&target))
            }
            _ => {
                println!(self.sh.platform, "cp: {path}: not a regular file, skipped");
                Ok(())
            }
        }
    }
}

impl Visitor for CopyTree<'_> {
    fn enter(&mut self, path: &str, st: &Stat, _listing: Option<&[DirEntry]>) -> bool {
        if self.target_id == Some((st.dev, st.ino)) {
            println!(
                self.sh.platform,
                "cp: {path}: the copy's own destination, not copied into itself"
            );
            return false;
        }
        let vfs = self.sh.vfs;
        let target = self.target_of(path);
        match vfs.mkdir(&target, st.mode & 0o7777) {
            Ok(()) => {}
            Err(Errno::EEXIST)
                if vfs
                    .stat(&target)
                    .is_ok_and(|s| s.file_type() == Some(FileType::Directory)) => {}
            Err(e) => {
                self.fail(Error::Errno(target, e));
                return false;
            }
        }
        if self.target_id.is_none() {
            self.target_id = vfs.lstat(&target).ok().map(|s| (s.dev, s.ino));
        }
        true
    }

    fn entry(&mut self, path: &str, entry: &DirEntry) -> Step {
        if entry.file_type == FileType::Directory {
            return Step::Descend;
        }
        if let Err(e) = self.copy_entry(path, entry) {
            self.fail(e);
        }
        Step::Skip
    }

    fn refused(&mut self, path: &str, why: Refusal<'_>) {
        refusal_line(self.sh, "cp", path, why);
    }

    fn error(&mut self, path: &str, e: Errno) {
        self.fail(Error::Errno(String::from(path), e));
    }

    fn stopped(&self) -> bool {
        self.error.is_some()
    }
}
