//! The image writer (feature `std`): build a tree in memory from guest paths,
//! then stream it into an image.
//!
//! [`ImageBuilder::write`] writes file data first, starting at block 1, in
//! inode order, straight from each source into the output (no whole-image
//! buffer). Identical contents are stored once: each file is hashed while it
//! is streamed; when size, CRC32 and a 64-bit hash match an earlier file, the
//! two sources are compared byte for byte and, if equal, the output seeks back
//! and the inode shares the earlier extent. Then the metadata region, and
//! last the superblock into block 0. The output depends only on the inputs:
//! children are kept sorted, no clock is read, no hash map is iterated.

mod data;
mod dedup;
mod lz4;
mod plan;
mod superblock;
mod tables;
mod v3;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Seek, Write};
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use crate::format::{
    NAME_MAX, S_IFDIR, S_IFLNK, S_IFREG, SYMLINK_MAX, V1_BLOCK_SIZE, V2_DEFAULT_BLOCK_SIZE,
};
use crate::validate::name_ok;
use data::{DataSummary, Sink};

/// Which on-disk format to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// OSv's format, readable by OSv's own ROFS.
    V1,
    /// Ours: checksums, full metadata, sorted directories, deduplication.
    #[default]
    V2,
    /// Ours, read on demand: per-block checksums, inline small files,
    /// entry types in directories, nanosecond times.
    V3,
}

/// Image-wide choices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    pub format: Format,
    /// v2: a power of two from 512 to 65536 (4096 default); v1: must be 512.
    pub block_size: u32,
    /// Modification time of entries that give none (SOURCE_DATE_EPOCH or 0).
    pub default_mtime: i64,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            format: Format::V2,
            block_size: V2_DEFAULT_BLOCK_SIZE,
            default_mtime: 0,
        }
    }
}

/// Per-entry metadata (v2 stores all of it; v1 only the type).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryMeta {
    /// Permission bits; None: 0o755 directories, 0o644 files, 0o777 symlinks.
    pub mode: Option<u32>,
    pub uid: u32,
    pub gid: u32,
    /// None: [`BuildOptions::default_mtime`].
    pub mtime: Option<i64>,
    /// Nanoseconds of `mtime` (v2 and v3 store them).
    pub mtime_nsec: u32,
}

/// Where a file's contents come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileSource {
    /// A host file, read while the image is written.
    Path(PathBuf),
    Bytes(Vec<u8>),
}

/// What [`ImageBuilder::write`] produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSummary {
    pub image_bytes: u64,
    /// Regular-file inodes.
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Bytes of file data stored (after deduplication, before block padding).
    pub data_bytes: u64,
    /// Bytes of file data not stored because an identical file was.
    pub deduplicated_bytes: u64,
}

/// Why an image could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// Reading a source file failed.
    Io { path: PathBuf, error: io::Error },
    /// Writing the image failed.
    Output(io::Error),
    /// Not an absolute path of valid names (or `/` where an entry is needed).
    InvalidPath(String),
    /// A parent of the path exists and is not a directory.
    NotADirectory(String),
    /// A name is longer than 255 bytes, or a symlink target than 4095.
    NameTooLong(String),
    /// A hard link's existing path does not exist.
    MissingLinkTarget(String),
    /// A hard link to a directory.
    HardLinkToDirectory(String),
    /// More inodes, entries or names than the format holds.
    TooLarge(String),
    /// A bad [`BuildOptions`] value or symlink target.
    InvalidOption(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Io { path, error } => write!(f, "reading {}: {error}", path.display()),
            BuildError::Output(error) => write!(f, "writing the image: {error}"),
            BuildError::InvalidPath(p) => write!(f, "invalid guest path {p:?}"),
            BuildError::NotADirectory(p) => write!(f, "{p:?} is not a directory"),
            BuildError::NameTooLong(p) => write!(f, "name too long in {p:?}"),
            BuildError::MissingLinkTarget(p) => write!(f, "hard link target {p:?} does not exist"),
            BuildError::HardLinkToDirectory(p) => write!(f, "cannot hard-link directory {p:?}"),
            BuildError::TooLarge(what) => write!(f, "image too large: {what}"),
            BuildError::InvalidOption(what) => write!(f, "invalid option: {what}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io { error, .. } | BuildError::Output(error) => Some(error),
            _ => None,
        }
    }
}

type NodeId = usize;

enum Kind {
    Dir(BTreeMap<String, NodeId>),
    File(FileSource),
    Symlink(String),
}

struct Node {
    kind: Kind,
    meta: EntryMeta,
}

/// Collects entries, then writes the image.
pub struct ImageBuilder {
    opts: BuildOptions,
    nodes: Vec<Node>,
    /// v3: compress file data in clusters of `1 << log2` bytes.
    lz4_cluster_log2: Option<u32>,
}

const ROOT: NodeId = 0;

/// Split an absolute guest path into checked names.
fn components(path: &str) -> Result<Vec<&str>, BuildError> {
    if !path.starts_with('/') {
        return Err(BuildError::InvalidPath(path.to_string()));
    }
    let mut out = Vec::new();
    for name in path.split('/').filter(|c| !c.is_empty()) {
        if name.len() > NAME_MAX {
            return Err(BuildError::NameTooLong(path.to_string()));
        }
        if !name_ok(name.as_bytes(), false) {
            return Err(BuildError::InvalidPath(path.to_string()));
        }
        out.push(name);
    }
    Ok(out)
}

impl ImageBuilder {
    pub fn new(opts: BuildOptions) -> Self {
        let root = Node {
            kind: Kind::Dir(BTreeMap::new()),
            meta: EntryMeta::default(),
        };
        ImageBuilder {
            opts,
            nodes: vec![root],
            lz4_cluster_log2: None,
        }
    }

    /// The directory holding the last component of `names`, created as needed.
    fn parent_of(&mut self, path: &str, names: &[&str]) -> Result<NodeId, BuildError> {
        let mut dir = ROOT;
        let parents = names.len().saturating_sub(1);
        for name in &names[..parents] {
            let existing = match &self.nodes[dir].kind {
                Kind::Dir(children) => children.get(*name).copied(),
                _ => return Err(BuildError::NotADirectory(path.to_string())),
            };
            dir = match existing {
                Some(id) => match self.nodes[id].kind {
                    Kind::Dir(_) => id,
                    _ => return Err(BuildError::NotADirectory(path.to_string())),
                },
                None => self.insert(dir, name, Kind::Dir(BTreeMap::new()), EntryMeta::default()),
            };
        }
        Ok(dir)
    }

    fn insert(&mut self, dir: NodeId, name: &str, kind: Kind, meta: EntryMeta) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node { kind, meta });
        self.link(dir, name, id);
        id
    }

    fn link(&mut self, dir: NodeId, name: &str, id: NodeId) {
        if let Kind::Dir(children) = &mut self.nodes[dir].kind {
            children.insert(name.to_string(), id);
        }
    }

    fn lookup(&self, names: &[&str]) -> Option<NodeId> {
        let mut node = ROOT;
        for name in names {
            match &self.nodes[node].kind {
                Kind::Dir(children) => node = *children.get(*name)?,
                _ => return None,
            }
        }
        Some(node)
    }

    /// Add a directory (parents are created with mode 0o755). Re-adding an
    /// existing directory updates its metadata and keeps its children.
    pub fn add_dir(&mut self, guest_path: &str, meta: EntryMeta) -> Result<(), BuildError> {
        let names = components(guest_path)?;
        let Some(last) = names.last() else {
            self.nodes[ROOT].meta = meta;
            return Ok(());
        };
        let parent = self.parent_of(guest_path, &names)?;
        if let Some(id) = self.lookup(&names)
            && let Kind::Dir(_) = self.nodes[id].kind
        {
            self.nodes[id].meta = meta;
            return Ok(());
        }
        self.insert(parent, last, Kind::Dir(BTreeMap::new()), meta);
        Ok(())
    }

    /// Add a regular file, replacing whatever the path held.
    pub fn add_file(
        &mut self,
        guest_path: &str,
        source: FileSource,
        meta: EntryMeta,
    ) -> Result<(), BuildError> {
        let names = components(guest_path)?;
        let Some(last) = names.last() else {
            return Err(BuildError::InvalidPath(guest_path.to_string()));
        };
        let parent = self.parent_of(guest_path, &names)?;
        self.insert(parent, last, Kind::File(source), meta);
        Ok(())
    }

    /// Add a symlink to `target` (not checked to exist), replacing whatever
    /// the path held.
    pub fn add_symlink(
        &mut self,
        guest_path: &str,
        target: &str,
        meta: EntryMeta,
    ) -> Result<(), BuildError> {
        let names = components(guest_path)?;
        let Some(last) = names.last() else {
            return Err(BuildError::InvalidPath(guest_path.to_string()));
        };
        if target.len() > SYMLINK_MAX {
            return Err(BuildError::NameTooLong(target.to_string()));
        }
        if target.is_empty() || target.contains('\0') {
            return Err(BuildError::InvalidOption(alloc_format(format_args!(
                "symlink target {target:?}"
            ))));
        }
        let parent = self.parent_of(guest_path, &names)?;
        self.insert(parent, last, Kind::Symlink(target.to_string()), meta);
        Ok(())
    }

    /// Another name for the inode at `existing_guest_path` (v2). v1 has no
    /// hard links: it gets a second inode sharing the same data blocks.
    pub fn add_hardlink(
        &mut self,
        guest_path: &str,
        existing_guest_path: &str,
    ) -> Result<(), BuildError> {
        let names = components(guest_path)?;
        let Some(last) = names.last() else {
            return Err(BuildError::InvalidPath(guest_path.to_string()));
        };
        let existing = components(existing_guest_path)?;
        let target = self
            .lookup(&existing)
            .ok_or_else(|| BuildError::MissingLinkTarget(existing_guest_path.to_string()))?;
        if let Kind::Dir(_) = self.nodes[target].kind {
            return Err(BuildError::HardLinkToDirectory(
                existing_guest_path.to_string(),
            ));
        }
        let parent = self.parent_of(guest_path, &names)?;
        self.link(parent, last, target);
        Ok(())
    }

    /// Write the image to `out`, which should be empty and positioned at 0.
    pub fn write<W: Write + Seek>(
        self,
        out: &mut W,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImageSummary, BuildError> {
        let bs = self.opts.block_size;
        match self.opts.format {
            Format::V1 if bs != V1_BLOCK_SIZE => {
                return Err(BuildError::InvalidOption(alloc_format(format_args!(
                    "v1 block size must be 512, not {bs}"
                ))));
            }
            Format::V3 if bs != crate::format::v3::V3_BLOCK_SIZE => {
                return Err(BuildError::InvalidOption(alloc_format(format_args!(
                    "v3 block size must be 4096, not {bs}"
                ))));
            }
            Format::V2 if !bs.is_power_of_two() || !(512..=65536).contains(&bs) => {
                return Err(BuildError::InvalidOption(alloc_format(format_args!(
                    "block size {bs}"
                ))));
            }
            _ => {}
        }
        if self.lz4_cluster_log2.is_some() && self.opts.format != Format::V3 {
            return Err(BuildError::InvalidOption(String::from(
                "compression needs format v3",
            )));
        }
        let plan = self.plan()?;
        let mut sink = Sink {
            out,
            pos: 0,
            max: 0,
            data_summary: DataSummary::default(),
        };
        let data = self.write_data(&plan, &mut sink, progress)?;
        match self.opts.format {
            Format::V1 => self.finish_v1(&plan, &data, &mut sink),
            Format::V2 => self.finish_v2(&plan, &data, &mut sink),
            Format::V3 => self.finish_v3(&plan, &data, &mut sink),
        }
    }

    fn mode(&self, node: NodeId) -> u32 {
        let meta = &self.nodes[node].meta;
        match self.nodes[node].kind {
            Kind::Dir(_) => S_IFDIR | (meta.mode.unwrap_or(0o755) & 0o7777),
            Kind::File(_) => S_IFREG | (meta.mode.unwrap_or(0o644) & 0o7777),
            Kind::Symlink(_) => S_IFLNK | (meta.mode.unwrap_or(0o777) & 0o7777),
        }
    }
}

fn alloc_format(args: fmt::Arguments<'_>) -> String {
    std::fmt::format(args)
}
