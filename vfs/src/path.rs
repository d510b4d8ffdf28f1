//! Path syntax checks and splitting, without allocation.

use crate::errno::{Errno, VfsResult};

/// Longest path accepted, in bytes, including Linux's terminating NUL.
pub const PATH_MAX: usize = 4096;
/// Longest name of one path component, in bytes.
pub const NAME_MAX: usize = 255;
/// Symlinks followed in one resolution before ELOOP (Linux's MAXSYMLINKS).
pub const MAX_SYMLINKS: u32 = 40;

/// Reject what no path may be: empty (ENOENT), NUL bytes (EINVAL), too long.
pub fn check_path(path: &str) -> VfsResult<()> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if path.as_bytes().contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The non-empty components of `path`; repeated slashes count as one.
pub fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// The final component of a path, classified as Linux's `last_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Last<'a> {
    /// The path names the root (only slashes).
    Root,
    Dot,
    DotDot,
    Name(&'a str),
}

/// A path split into the directory part and its final component.
pub struct Split<'a> {
    /// Directory part; empty means the starting directory.
    pub dir: &'a str,
    pub last: Last<'a>,
    /// Whether the path ended in a slash (the final object must be a directory).
    pub trailing_slash: bool,
}

/// Split `path` into its directory part and final component.
pub fn split_last(path: &str) -> Split<'_> {
    let trimmed = path.trim_end_matches('/');
    let trailing_slash = trimmed.len() != path.len();
    if trimmed.is_empty() {
        return Split {
            dir: "/",
            last: Last::Root,
            trailing_slash,
        };
    }
    let (dir, name) = match trimmed.rfind('/') {
        // Keep the slash so "/x" has the directory "/".
        Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    let last = match name {
        "." => Last::Dot,
        ".." => Last::DotDot,
        _ => Last::Name(name),
    };
    Split {
        dir,
        last,
        trailing_slash,
    }
}

/// ENAMETOOLONG for a component longer than [`NAME_MAX`].
pub fn check_name(name: &str) -> VfsResult<()> {
    if name.len() > NAME_MAX {
        Err(Errno::ENAMETOOLONG)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_forms() {
        let s = split_last("/a/b/");
        assert_eq!(
            (s.dir, s.last, s.trailing_slash),
            ("/a/", Last::Name("b"), true)
        );
        let s = split_last("b");
        assert_eq!((s.dir, s.last), ("", Last::Name("b")));
        let s = split_last("///");
        assert_eq!(s.last, Last::Root);
        let s = split_last("/x");
        assert_eq!((s.dir, s.last), ("/", Last::Name("x")));
        assert_eq!(split_last("a/..").last, Last::DotDot);
        assert_eq!(split_last("a/.").last, Last::Dot);
    }

    #[test]
    fn checks() {
        assert_eq!(check_path(""), Err(Errno::ENOENT));
        assert_eq!(check_path("a\0b"), Err(Errno::EINVAL));
        assert_eq!(check_path(&"a".repeat(4096)), Err(Errno::ENAMETOOLONG));
        assert_eq!(check_path(&"a".repeat(4095)), Ok(()));
        assert_eq!(
            components("//a///b/").collect::<alloc::vec::Vec<_>>(),
            ["a", "b"]
        );
    }
}
