//! Chroot-style resolution of host paths inside an unpacked image root
//! (`--root DIR`, or a manifest line `[root DIR]`).
//!
//! A tree unpacked from a container image or a package root has absolute
//! symlinks meant for that tree (`lib/jvm.cfg -> /etc/java/jvm.cfg`). When
//! mkimage follows such a link it must land inside the tree, not on the
//! build host's `/`; and a `..` that would climb out of the tree stays at its
//! top, as it would under `chroot`. Every walk is bounded: at most
//! [`MAX_SYMLINK_HOPS`] links per path, like Linux's `ELOOP` limit.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed while resolving one path before giving up (Linux's limit).
pub const MAX_SYMLINK_HOPS: usize = 40;

/// A host directory that plays `/` for the links mkimage follows.
#[derive(Clone, Debug)]
pub struct HostRoot {
    /// The directory with every symlink in it resolved.
    canonical: PathBuf,
    /// The directory as given, made absolute (host paths are compared against both).
    given: PathBuf,
}

impl HostRoot {
    /// `dir` must exist and be a directory.
    pub fn new(dir: &Path) -> Result<HostRoot, String> {
        let shown = dir.display();
        let canonical =
            fs::canonicalize(dir).map_err(|e| format!("root directory '{shown}': {e}"))?;
        if !canonical.is_dir() {
            return Err(format!("root directory '{shown}' is not a directory"));
        }
        let given =
            std::path::absolute(dir).map_err(|e| format!("root directory '{shown}': {e}"))?;
        Ok(HostRoot { canonical, given })
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.canonical
    }

    /// The part of `path` below the root, when `path` lies inside it.
    fn inside(&self, path: &Path) -> Option<PathBuf> {
        let path = std::path::absolute(path).ok()?;
        for base in [&self.canonical, &self.given] {
            if let Ok(rest) = path.strip_prefix(base) {
                return Some(rest.to_path_buf());
            }
        }
        None
    }

    /// Whether `path` is inside this root (and so resolves chroot-style).
    pub fn contains(&self, path: &Path) -> bool {
        self.inside(path).is_some()
    }

    /// Resolve `path`, which must lie inside the root, as `chroot DIR` would:
    /// absolute link targets start again at the root and `..` never climbs
    /// above it. The result is a host path inside the root with no symlink
    /// in it, except in the last component when `follow_last` is false. A
    /// missing last component is returned as it is (the caller's `lstat`
    /// reports it); a missing directory on the way is an error.
    pub fn resolve(&self, path: &Path, follow_last: bool) -> io::Result<PathBuf> {
        let rest = self.inside(path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{}' is outside the root", path.display()),
            )
        })?;
        // Names still to walk, in reverse, so a link's target can be pushed.
        let mut todo: Vec<OsString> = Vec::new();
        push_components(&mut todo, &rest);
        let mut resolved = self.canonical.clone();
        let mut depth = 0usize;
        let mut hops = 0usize;
        while let Some(name) = todo.pop() {
            if name == ".." {
                if depth > 0 {
                    resolved.pop();
                    depth -= 1;
                }
                continue;
            }
            let last = todo.is_empty();
            let candidate = resolved.join(&name);
            if last && !follow_last {
                return Ok(candidate);
            }
            match fs::symlink_metadata(&candidate) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(io::Error::other(format!(
                            "more than {MAX_SYMLINK_HOPS} symlinks resolving '{}' (loop?)",
                            path.display()
                        )));
                    }
                    let target = fs::read_link(&candidate)?;
                    if target.is_absolute() {
                        resolved.clone_from(&self.canonical);
                        depth = 0;
                    }
                    push_components(&mut todo, &target);
                }
                Ok(_) => {
                    resolved = candidate;
                    depth += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && last => return Ok(candidate),
                Err(e) => return Err(e),
            }
        }
        Ok(resolved)
    }
}

/// Push the names of `path` onto `todo` so that they pop in order; `.` and
/// the root are dropped (the caller decides where an absolute path starts).
fn push_components(todo: &mut Vec<OsString>, path: &Path) {
    for component in path.components().rev() {
        match component {
            Component::Normal(name) => todo.push(name.to_os_string()),
            Component::ParentDir => todo.push(OsString::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, HostRoot) {
        let tmp = tempfile::TempDir::new().expect("tempdir");
        let r = tmp.path().join("rootfs");
        fs::create_dir_all(r.join("etc/java")).expect("mkdir");
        fs::create_dir_all(r.join("usr/lib/jvm")).expect("mkdir");
        fs::write(r.join("etc/java/jvm.cfg"), b"image").expect("write");
        symlink("/etc/java/jvm.cfg", r.join("usr/lib/jvm/jvm.cfg")).expect("symlink");
        symlink("../../../../../../etc", r.join("usr/lib/up")).expect("symlink");
        symlink("/usr/lib", r.join("lib")).expect("symlink");
        symlink("loop-b", r.join("loop-a")).expect("symlink");
        symlink("loop-a", r.join("loop-b")).expect("symlink");
        symlink("/nowhere", r.join("dangling")).expect("symlink");
        let root = HostRoot::new(&r).expect("root");
        (tmp, root)
    }

    #[test]
    fn absolute_links_resolve_inside_the_root() {
        let (_tmp, root) = tree();
        let got = root
            .resolve(&root.dir().join("lib/jvm/jvm.cfg"), true)
            .expect("resolves");
        assert_eq!(got, root.dir().join("etc/java/jvm.cfg"));
        assert_eq!(fs::read(&got).expect("read"), b"image");
        // Not following the last component keeps the link itself.
        let got = root
            .resolve(&root.dir().join("lib/jvm/jvm.cfg"), false)
            .expect("resolves");
        assert_eq!(got, root.dir().join("usr/lib/jvm/jvm.cfg"));
    }

    #[test]
    fn dotdot_is_clamped_at_the_root() {
        let (_tmp, root) = tree();
        let got = root
            .resolve(&root.dir().join("usr/lib/up/java/jvm.cfg"), true)
            .expect("resolves");
        assert_eq!(got, root.dir().join("etc/java/jvm.cfg"));
    }

    #[test]
    fn loops_are_bounded_and_dangling_links_come_back_missing() {
        let (_tmp, root) = tree();
        let err = root
            .resolve(&root.dir().join("loop-a"), true)
            .expect_err("loop");
        assert!(err.to_string().contains("more than 40 symlinks"), "{err}");
        let got = root
            .resolve(&root.dir().join("dangling"), true)
            .expect("resolves");
        assert_eq!(got, root.dir().join("nowhere"));
        assert!(fs::symlink_metadata(&got).is_err());
        assert!(!root.contains(Path::new("/etc/passwd")));
    }
}
