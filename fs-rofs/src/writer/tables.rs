//! The metadata tables of each version, built from the plan and the
//! extents the data pass wrote.

use std::string::String;
use std::vec::Vec;

use zerocopy::IntoBytes;

use super::dedup::Extent;
use super::plan::Plan;
use super::{BuildError, ImageBuilder, ImageSummary, Kind};
use crate::format::{
    DIRENT_SIZE, INODE_SIZE, RawDirEntry, RawInode, RawV1DirEntryHead, RawV1Inode, S_IFDIR,
    S_IFLNK, S_IFREG,
};

/// A metadata region ready to write, and what it holds.
pub(super) struct Tables {
    pub bytes: Vec<u8>,
    pub inodes: u64,
    pub entries: u64,
    /// v2: bytes of the names blob; v1: symlink records.
    pub names_len: u64,
    pub symlinks: u64,
    /// Inode counts by type (sizes are filled in by the caller).
    pub summary: ImageSummary,
}

impl ImageBuilder {
    /// v2: the inode table, the entry table and the names blob, in that
    /// order.
    pub(super) fn v2_tables(&self, plan: &Plan, extents: &[Extent]) -> Result<Tables, BuildError> {
        let bs = u64::from(self.opts.block_size);
        let mut names: Vec<u8> = Vec::new();
        let mut add_name = |bytes: &[u8]| -> Result<u32, BuildError> {
            let off = u32::try_from(names.len())
                .map_err(|_| BuildError::TooLarge(String::from("names blob over 4 GiB")))?;
            names.extend_from_slice(bytes);
            Ok(off)
        };
        let mut dirents = Vec::with_capacity(plan.dirents.len());
        for (name, ino) in &plan.dirents {
            let name_off = add_name(name.as_bytes())?;
            dirents.push(RawDirEntry {
                ino: (*ino).into(),
                name_off: name_off.into(),
                name_len: (name.len() as u16).into(),
                reserved: 0.into(),
            });
        }
        let mut inodes = Vec::with_capacity(plan.inodes.len());
        let mut summary = ImageSummary::default();
        for (planned, extent) in plan.inodes.iter().zip(extents) {
            let node = &self.nodes[planned.node];
            let mut inode = RawInode {
                mode: self.mode(planned.node).into(),
                uid: node.meta.uid.into(),
                gid: node.meta.gid.into(),
                nlink: planned.nlink.into(),
                mtime_sec: node.meta.mtime.unwrap_or(self.opts.default_mtime).into(),
                mtime_nsec: node.meta.mtime_nsec.min(999_999_999).into(),
                ..Default::default()
            };
            match &node.kind {
                Kind::Dir(_) => {
                    summary.dirs += 1;
                    inode.size = planned.entries.into();
                    inode.start = planned.first_entry.into();
                    inode.count = planned.entries.into();
                }
                Kind::File(_) => {
                    summary.files += 1;
                    inode.size = extent.size.into();
                    inode.data_crc32 = extent.crc32.into();
                    inode.start = extent.start_block.into();
                    inode.count = extent.size.div_ceil(bs).into();
                }
                Kind::Symlink(target) => {
                    summary.symlinks += 1;
                    inode.size = (target.len() as u64).into();
                    inode.start = u64::from(add_name(target.as_bytes())?).into();
                    inode.count = (target.len() as u64).into();
                }
            }
            inodes.push(inode);
        }
        let mut bytes = Vec::with_capacity(
            inodes.len() * INODE_SIZE + dirents.len() * DIRENT_SIZE + names.len(),
        );
        bytes.extend_from_slice(inodes.as_bytes());
        bytes.extend_from_slice(dirents.as_bytes());
        bytes.extend_from_slice(&names);
        Ok(Tables {
            bytes,
            inodes: inodes.len() as u64,
            entries: dirents.len() as u64,
            names_len: names.len() as u64,
            symlinks: summary.symlinks,
            summary,
        })
    }

    /// v1 (OSv): directory entries, then symlinks, then inodes, packed.
    pub(super) fn v1_tables(&self, plan: &Plan, extents: &[Extent]) -> Tables {
        let mut bytes = Vec::new();
        for (name, ino) in &plan.dirents {
            let head = RawV1DirEntryHead {
                inode_no: u64::from(*ino).into(),
                // Byte length (OSv's generator wrongly writes characters).
                name_len: (name.len() as u16).into(),
            };
            bytes.extend_from_slice(head.as_bytes());
            bytes.extend_from_slice(name.as_bytes());
        }
        let mut symlinks = 0u64;
        for planned in &plan.inodes {
            if let Kind::Symlink(target) = &self.nodes[planned.node].kind {
                bytes.extend_from_slice(&(target.len() as u16).to_le_bytes());
                bytes.extend_from_slice(target.as_bytes());
                symlinks += 1;
            }
        }
        let names_len = bytes.len() as u64;
        let mut summary = ImageSummary::default();
        let mut symlink_index = 0u64;
        for (index, (planned, extent)) in plan.inodes.iter().zip(extents).enumerate() {
            let (mode, offset, count) = match &self.nodes[planned.node].kind {
                Kind::Dir(_) => {
                    summary.dirs += 1;
                    (S_IFDIR, planned.first_entry, planned.entries)
                }
                Kind::File(_) => {
                    summary.files += 1;
                    (S_IFREG, extent.start_block, extent.size)
                }
                Kind::Symlink(_) => {
                    summary.symlinks += 1;
                    symlink_index += 1;
                    (S_IFLNK, symlink_index - 1, 1)
                }
            };
            let inode = RawV1Inode {
                mode: u64::from(mode).into(),
                inode_no: (index as u64 + 1).into(),
                data_offset: offset.into(),
                count: count.into(),
            };
            bytes.extend_from_slice(inode.as_bytes());
        }
        Tables {
            bytes,
            inodes: plan.inodes.len() as u64,
            entries: plan.dirents.len() as u64,
            names_len,
            symlinks,
            summary,
        }
    }
}
