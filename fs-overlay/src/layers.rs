//! Reading the layers: whiteouts, opaque directories, reserved names, and
//! resolving one name through the stack (Linux's `ovl_lookup`).

use alloc::sync::Arc;
use alloc::vec::Vec;

use vfs::{Errno, FileType, Inode, VfsResult};

/// Names starting with this are the overlay's own (markers, temporaries,
/// the hard-link index): hidden from listings, never found by lookup, and
/// not creatable through the overlay (EPERM).
pub(crate) const RESERVED_PREFIX: &str = ".wh..wh.";
/// A directory holding an entry of this name is opaque: lower directories
/// of the same path do not show through it.
pub(crate) const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Directory in the upper layer's root holding copies of lower hard-linked
/// files (Linux keeps its index in the work directory).
pub(crate) const INDEX_DIR: &str = ".wh..wh.index";
/// Start of temporary names in the upper layer.
pub(crate) const TEMP_PREFIX: &str = ".wh..wh.tmp.";

/// A whiteout is a character device with device number 0/0, as Linux's.
pub(crate) const WHITEOUT_MODE: u32 = 0o020000;
pub(crate) const WHITEOUT_RDEV: u64 = 0;

pub(crate) fn is_reserved(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
}

/// A directory or object of one lower layer.
#[derive(Clone)]
pub(crate) struct Lower {
    /// Overlay layer number (lower layer `i` is `i + 1`).
    pub layer: u32,
    pub inode: Arc<dyn Inode>,
}

pub(crate) fn is_whiteout(inode: &dyn Inode) -> VfsResult<bool> {
    if inode.file_type() != FileType::CharDevice {
        return Ok(false);
    }
    Ok(inode.getattr()?.rdev == WHITEOUT_RDEV)
}

/// `name` in `dir`, if present (errors other than ENOENT pass on).
pub(crate) fn find(dir: &dyn Inode, name: &str) -> VfsResult<Option<Arc<dyn Inode>>> {
    match dir.lookup(name) {
        Ok(inode) => Ok(Some(inode)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) fn is_opaque(dir: &dyn Inode) -> VfsResult<bool> {
    Ok(find(dir, OPAQUE_MARKER)?.is_some())
}

/// Whether entry `name` of layer directory `dir` is a whiteout, for
/// listings, whose entries carry only the file type.
pub(crate) fn names_whiteout(dir: &dyn Inode, name: &str, file_type: FileType) -> VfsResult<bool> {
    if file_type != FileType::CharDevice {
        return Ok(false);
    }
    match find(dir, name)? {
        Some(inode) => is_whiteout(&*inode),
        None => Ok(false),
    }
}

/// What a name resolves to through the layers.
pub(crate) struct Found {
    pub upper: Option<Arc<dyn Inode>>,
    /// For a directory, every lower directory merged under it, topmost
    /// first; for anything else at most the one lower object.
    pub lowers: Vec<Lower>,
}

impl Found {
    pub fn file_type(&self) -> Option<FileType> {
        match (&self.upper, self.lowers.first()) {
            (Some(upper), _) => Some(upper.file_type()),
            (None, Some(lower)) => Some(lower.inode.file_type()),
            (None, None) => None,
        }
    }
}

/// Resolve `name` in a directory made of `upper` over `lowers`: the topmost
/// layer with the name gives the object; a directory also collects the
/// directories of the same name below it until an opaque one, a whiteout or
/// a non-directory. None if nothing (or a whiteout) is there.
pub(crate) fn resolve(
    upper: Option<&Arc<dyn Inode>>,
    lowers: &[Lower],
    name: &str,
) -> VfsResult<Option<Found>> {
    let mut found = Found {
        upper: None,
        lowers: Vec::new(),
    };
    if let Some(dir) = upper
        && let Some(inode) = find(&**dir, name)?
    {
        if is_whiteout(&*inode)? {
            return Ok(None);
        }
        let merges =
            inode.file_type() == FileType::Directory && !lowers.is_empty() && !is_opaque(&*inode)?;
        found.upper = Some(inode);
        if !merges {
            return Ok(Some(found));
        }
    }
    for (i, dir) in lowers.iter().enumerate() {
        let Some(inode) = find(&*dir.inode, name)? else {
            continue;
        };
        if is_whiteout(&*inode)? {
            break;
        }
        let is_dir = inode.file_type() == FileType::Directory;
        let above_is_dir = found.file_type() == Some(FileType::Directory);
        match (above_is_dir, is_dir) {
            // A directory above hides non-directories below.
            (true, false) => break,
            (false, false) => {
                found.lowers.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                found.lowers.push(Lower {
                    layer: dir.layer,
                    inode,
                });
                break;
            }
            (_, true) => {
                let more_below = i + 1 < lowers.len();
                let opaque = more_below && is_opaque(&*inode)?;
                found.lowers.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                found.lowers.push(Lower {
                    layer: dir.layer,
                    inode,
                });
                if opaque {
                    break;
                }
            }
        }
    }
    if found.upper.is_none() && found.lowers.is_empty() {
        return Ok(None);
    }
    Ok(Some(found))
}
