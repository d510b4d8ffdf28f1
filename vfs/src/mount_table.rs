//! Reading the mount table: `mounts` (hidden mounts listed as `@name`),
//! `statfs`, `sync`, and finding hidden mounts by name.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::backend::FileSystem;
use crate::errno::{Errno, VfsResult};
use crate::path::NAME_MAX;
use crate::tree::{MountPoint, MountRec, Tree};
use crate::types::StatFs;
use crate::{MountFlags, MountInfo, Vfs};

impl Vfs {
    /// The mount table, in mount order.
    pub fn mounts(&self) -> Vec<MountInfo> {
        let tree = self.tree.read();
        tree.mounts
            .iter()
            .map(|m| MountInfo {
                source: m.source.clone(),
                target: match &m.mountpoint {
                    MountPoint::Root => String::from("/"),
                    MountPoint::On(mp) => tree.path_of(*mp).unwrap_or_default(),
                    MountPoint::Hidden(name) => format!("@{name}"),
                },
                fs_type: m.fs_type.clone(),
                flags: if m.shared.read_only {
                    m.flags | MountFlags::RDONLY
                } else {
                    m.flags
                },
                options: m.options.clone(),
                dev: m.shared.id,
            })
            .collect()
    }

    /// Figures of the filesystem holding `path`, or of the hidden mount
    /// `@name`.
    pub fn statfs(&self, path: &str) -> VfsResult<StatFs> {
        let fs = match hidden_target(path)? {
            Some(name) => {
                let tree = self.tree.read();
                find_hidden(&tree, name)
                    .ok_or(Errno::ENOENT)?
                    .shared
                    .fs
                    .clone()
            }
            None => self.resolve(path, true)?.1.mount.fs.clone(),
        };
        fs.statfs()
    }

    pub fn sync(&self) -> VfsResult<()> {
        let all: Vec<Arc<dyn FileSystem>> = self
            .tree
            .read()
            .mounts
            .iter()
            .map(|m| m.shared.fs.clone())
            .collect();
        let mut result = Ok(());
        for fs in all {
            if let Err(e) = fs.sync() {
                result = Err(e);
            }
        }
        result
    }
}

/// For a target `@name`, the name (EINVAL unless it is 1 to 255 of
/// `[A-Za-z0-9_.-]`); None for any other target.
pub(crate) fn hidden_target(target: &str) -> VfsResult<Option<&str>> {
    match target.strip_prefix('@') {
        Some(_) => hidden_name(target).map(Some),
        None => Ok(None),
    }
}

/// The name of the hidden mount `@name`; EINVAL for a malformed one.
pub(crate) fn hidden_name(word: &str) -> VfsResult<&str> {
    let name = word.strip_prefix('@').ok_or(Errno::EINVAL)?;
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    if name.is_empty() || name.len() > NAME_MAX || !name.bytes().all(valid) {
        return Err(Errno::EINVAL);
    }
    Ok(name)
}

/// The hidden mount named `name`.
pub(crate) fn find_hidden<'t>(tree: &'t Tree, name: &str) -> Option<&'t MountRec> {
    tree.mounts
        .iter()
        .find(|m| matches!(&m.mountpoint, MountPoint::Hidden(n) if **n == *name))
}
