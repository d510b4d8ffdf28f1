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

use std::boxed::Box;
use std::collections::{BTreeMap, VecDeque, btree_map};
use std::fmt;
use std::fs::File;
use std::hash::{DefaultHasher, Hasher};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use zerocopy::IntoBytes;

use crate::format::*;
use crate::image::valid_name;

/// Which on-disk format to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// OSv's format, readable by OSv's own ROFS.
    V1,
    /// Ours: checksums, full metadata, sorted directories, deduplication.
    #[default]
    V2,
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
        if !valid_name(name.as_bytes()) {
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
            Format::V2 if !bs.is_power_of_two() || !(512..=65536).contains(&bs) => {
                return Err(BuildError::InvalidOption(alloc_format(format_args!(
                    "block size {bs}"
                ))));
            }
            _ => {}
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
        }
    }

    /// Number the inodes breadth-first from the root (children in name
    /// order) and lay out each directory's entries contiguously.
    fn plan(&self) -> Result<Plan, BuildError> {
        let share = self.opts.format == Format::V2;
        let mut plan = Plan {
            inodes: vec![PlannedInode::new(ROOT)],
            dirents: Vec::new(),
        };
        let mut ino_of: Vec<Option<u32>> = vec![None; self.nodes.len()];
        ino_of[ROOT] = Some(1);
        let mut queue = VecDeque::from([1u32]);
        while let Some(dir_ino) = queue.pop_front() {
            let node = plan.inodes[dir_ino as usize - 1].node;
            let Kind::Dir(children) = &self.nodes[node].kind else {
                continue;
            };
            let first = plan.dirents.len() as u64;
            let mut subdirs = 0u32;
            for (name, &child) in children {
                let existing = if share { ino_of[child] } else { None };
                let ino = match existing {
                    Some(ino) => {
                        let planned = &mut plan.inodes[ino as usize - 1];
                        planned.nlink = planned.nlink.saturating_add(1);
                        ino
                    }
                    None => {
                        let ino = u32::try_from(plan.inodes.len() + 1).map_err(|_| {
                            BuildError::TooLarge(String::from("more than 2^32 inodes"))
                        })?;
                        plan.inodes.push(PlannedInode::new(child));
                        ino_of[child] = Some(ino);
                        if let Kind::Dir(_) = self.nodes[child].kind {
                            subdirs += 1;
                            queue.push_back(ino);
                        }
                        ino
                    }
                };
                plan.dirents.push((name.clone(), ino));
            }
            let planned = &mut plan.inodes[dir_ino as usize - 1];
            planned.first_entry = first;
            planned.entries = children.len() as u64;
            planned.nlink = 2 + subdirs;
        }
        if plan.dirents.len() > u32::MAX as usize {
            return Err(BuildError::TooLarge(String::from(
                "more than 2^32 directory entries",
            )));
        }
        Ok(plan)
    }

    /// Stream every file's data from block 1 on; returns each inode's extent.
    fn write_data<W: Write + Seek>(
        &self,
        plan: &Plan,
        sink: &mut Sink<'_, W>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<Extent>, BuildError> {
        let bs = u64::from(self.opts.block_size);
        // Sizes first: only files sharing a size can be duplicates, so only
        // those are hashed.
        let mut lens: BTreeMap<NodeId, u64> = BTreeMap::new();
        let mut files_of_size: BTreeMap<u64, u32> = BTreeMap::new();
        for planned in &plan.inodes {
            if let Kind::File(source) = &self.nodes[planned.node].kind
                && let btree_map::Entry::Vacant(slot) = lens.entry(planned.node)
            {
                let len = source_len(source)?;
                slot.insert(len);
                *files_of_size.entry(len).or_default() += 1;
            }
        }
        let total = lens.values().fold(0u64, |a, &b| a.saturating_add(b));
        progress(0, total);
        let mut done = 0u64;
        let mut extents = vec![Extent::default(); plan.inodes.len()];
        let mut by_node: BTreeMap<NodeId, Extent> = BTreeMap::new();
        let mut dedup = Dedup::default();
        sink.seek(bs)?;
        let mut buf = vec![0u8; 1 << 20];
        for (index, planned) in plan.inodes.iter().enumerate() {
            let Kind::File(source) = &self.nodes[planned.node].kind else {
                continue;
            };
            if let Some(extent) = by_node.get(&planned.node) {
                // v1 second name of a hard link: same data.
                extents[index] = *extent;
                continue;
            }
            let expected = lens.get(&planned.node).copied().unwrap_or(0);
            let candidate = expected > 0 && files_of_size.get(&expected).is_some_and(|&n| n > 1);
            let start = sink.pos;
            let extent = match source {
                // In memory: hash before writing, so a duplicate is never written.
                FileSource::Bytes(data) if candidate => {
                    let mut hash = DefaultHasher::new();
                    hash.write(data);
                    let key = (data.len() as u64, crc32fast::hash(data), hash.finish());
                    done = done.saturating_add(key.0);
                    progress(done, total.max(done));
                    match dedup.find(self, key, source)? {
                        Some(earlier) => earlier,
                        None => {
                            sink.write(data)?;
                            sink.pad_to(bs)?;
                            dedup.store(key, start / bs, planned.node)
                        }
                    }
                }
                // Streamed: hash while writing; on a duplicate, seek back
                // so the next file overwrites the copy.
                _ => {
                    let mut reader = open(source)?;
                    let mut crc = crc32fast::Hasher::new();
                    let mut hash = DefaultHasher::new();
                    let mut size = 0u64;
                    loop {
                        let n = reader
                            .read(&mut buf)
                            .map_err(|error| source_error(source, error))?;
                        if n == 0 {
                            break;
                        }
                        crc.update(&buf[..n]);
                        if candidate {
                            hash.write(&buf[..n]);
                        }
                        sink.write(&buf[..n])?;
                        size += n as u64;
                        done = done.saturating_add(n as u64);
                        progress(done, total.max(done));
                    }
                    let key = (size, crc.finalize(), hash.finish());
                    if size == 0 {
                        // No blocks; v1 points empty files at the next free block.
                        let at = if self.opts.format == Format::V1 {
                            start / bs
                        } else {
                            0
                        };
                        Extent {
                            start_block: at,
                            size: 0,
                            crc32: key.1,
                        }
                    } else if let Some(earlier) = if candidate {
                        dedup.find(self, key, source)?
                    } else {
                        None
                    } {
                        sink.seek(start)?;
                        earlier
                    } else {
                        sink.pad_to(bs)?;
                        dedup.store(key, start / bs, planned.node)
                    }
                }
            };
            by_node.insert(planned.node, extent);
            extents[index] = extent;
        }
        sink.data_summary = DataSummary {
            stored: dedup.stored,
            deduplicated: dedup.deduplicated,
        };
        Ok(extents)
    }

    fn mode(&self, node: NodeId) -> u32 {
        let meta = &self.nodes[node].meta;
        match self.nodes[node].kind {
            Kind::Dir(_) => S_IFDIR | (meta.mode.unwrap_or(0o755) & 0o7777),
            Kind::File(_) => S_IFREG | (meta.mode.unwrap_or(0o644) & 0o7777),
            Kind::Symlink(_) => S_IFLNK | (meta.mode.unwrap_or(0o777) & 0o7777),
        }
    }

    fn finish_v2<W: Write + Seek>(
        &self,
        plan: &Plan,
        extents: &[Extent],
        sink: &mut Sink<'_, W>,
    ) -> Result<ImageSummary, BuildError> {
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
            dirents.push(DirEntry {
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
            let mut inode = Inode {
                mode: self.mode(planned.node).into(),
                uid: node.meta.uid.into(),
                gid: node.meta.gid.into(),
                nlink: planned.nlink.into(),
                mtime_sec: node.meta.mtime.unwrap_or(self.opts.default_mtime).into(),
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
        let meta_offset = sink.pos;
        let mut meta = Vec::with_capacity(
            inodes.len() * INODE_SIZE + dirents.len() * DIRENT_SIZE + names.len(),
        );
        meta.extend_from_slice(inodes.as_bytes());
        meta.extend_from_slice(dirents.as_bytes());
        meta.extend_from_slice(&names);
        sink.write(&meta)?;
        let image_end = sink.finish(bs)?;
        let mut sb = SuperBlock {
            magic: MAGIC.into(),
            version: VERSION_2.into(),
            block_size: self.opts.block_size.into(),
            header_size: (SUPERBLOCK_SIZE as u32).into(),
            compat: COMPAT_DATA_CRC32.into(),
            incompat: 0.into(),
            ro_compat: 0.into(),
            sb_crc32: 0.into(),
            image_blocks: (image_end / bs).into(),
            data_blocks: (meta_offset / bs - 1).into(),
            meta_offset: meta_offset.into(),
            meta_len: (meta.len() as u64).into(),
            meta_crc32: crc32fast::hash(&meta).into(),
            root_ino: 1.into(),
            inode_count: (inodes.len() as u32).into(),
            dirent_count: (dirents.len() as u32).into(),
            inode_table_off: 0.into(),
            dirent_table_off: ((inodes.len() * INODE_SIZE) as u64).into(),
            names_off: ((inodes.len() * INODE_SIZE + dirents.len() * DIRENT_SIZE) as u64).into(),
            names_len: (names.len() as u64).into(),
            dir_count: (summary.dirs as u32).into(),
            file_count: (summary.files as u32).into(),
            symlink_count: (summary.symlinks as u32).into(),
            reserved0: 0.into(),
            data_bytes: sink.data_summary.stored.into(),
            reserved: [0.into(); 2],
        };
        sb.sb_crc32 = superblock_crc(sb.as_bytes()).into();
        finish_with_superblock(sink, bs, sb.as_bytes(), image_end, summary)
    }

    fn finish_v1<W: Write + Seek>(
        &self,
        plan: &Plan,
        extents: &[Extent],
        sink: &mut Sink<'_, W>,
    ) -> Result<ImageSummary, BuildError> {
        let bs = u64::from(V1_BLOCK_SIZE);
        let meta_offset = sink.pos;
        let mut meta = Vec::new();
        for (name, ino) in &plan.dirents {
            meta.extend_from_slice(&u64::from(*ino).to_le_bytes());
            // Byte length (OSv's generator wrongly writes characters).
            meta.extend_from_slice(&(name.len() as u16).to_le_bytes());
            meta.extend_from_slice(name.as_bytes());
        }
        let mut symlinks = 0u64;
        for planned in &plan.inodes {
            if let Kind::Symlink(target) = &self.nodes[planned.node].kind {
                meta.extend_from_slice(&(target.len() as u16).to_le_bytes());
                meta.extend_from_slice(target.as_bytes());
                symlinks += 1;
            }
        }
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
            let inode = V1Inode {
                mode: u64::from(mode).into(),
                inode_no: (index as u64 + 1).into(),
                data_offset: offset.into(),
                count: count.into(),
            };
            meta.extend_from_slice(inode.as_bytes());
        }
        sink.write(&meta)?;
        let image_end = sink.finish(bs)?;
        let sb = V1SuperBlock {
            magic: MAGIC.into(),
            version: VERSION_1.into(),
            block_size: bs.into(),
            structure_info_first_block: (meta_offset / bs).into(),
            structure_info_blocks_count: (meta.len() as u64).div_ceil(bs).into(),
            directory_entries_count: (plan.dirents.len() as u64).into(),
            symlinks_count: symlinks.into(),
            inodes_count: (plan.inodes.len() as u64).into(),
        };
        finish_with_superblock(sink, bs, sb.as_bytes(), image_end, summary)
    }
}

/// Write block 0 (the superblock, zero-padded to a block) last, leave the
/// output positioned at the image end, and complete `summary`.
fn finish_with_superblock<W: Write + Seek>(
    sink: &mut Sink<'_, W>,
    block_size: u64,
    superblock: &[u8],
    image_end: u64,
    mut summary: ImageSummary,
) -> Result<ImageSummary, BuildError> {
    let mut block = vec![0u8; block_size as usize];
    block[..superblock.len()].copy_from_slice(superblock);
    sink.seek(0)?;
    sink.write(&block)?;
    sink.seek(image_end)?;
    summary.image_bytes = image_end;
    summary.data_bytes = sink.data_summary.stored;
    summary.deduplicated_bytes = sink.data_summary.deduplicated;
    Ok(summary)
}

fn alloc_format(args: fmt::Arguments<'_>) -> String {
    std::fmt::format(args)
}

struct PlannedInode {
    node: NodeId,
    nlink: u32,
    first_entry: u64,
    entries: u64,
}

impl PlannedInode {
    fn new(node: NodeId) -> Self {
        PlannedInode {
            node,
            nlink: 1,
            first_entry: 0,
            entries: 0,
        }
    }
}

struct Plan {
    inodes: Vec<PlannedInode>,
    /// (name, inode number), each directory's run sorted by name.
    dirents: Vec<(String, u32)>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Extent {
    start_block: u64,
    size: u64,
    crc32: u32,
}

/// Stored extents by (size, crc32, hash64), for deduplication.
#[derive(Default)]
struct Dedup {
    seen: BTreeMap<(u64, u32, u64), Vec<(Extent, NodeId)>>,
    stored: u64,
    deduplicated: u64,
}

impl Dedup {
    /// An earlier extent with the same key and, compared byte by byte, the
    /// same contents as `source`.
    fn find(
        &mut self,
        builder: &ImageBuilder,
        key: (u64, u32, u64),
        source: &FileSource,
    ) -> Result<Option<Extent>, BuildError> {
        for (earlier, node) in self.seen.get(&key).map(Vec::as_slice).unwrap_or(&[]) {
            let Kind::File(earlier_source) = &builder.nodes[*node].kind else {
                continue;
            };
            if same_contents(earlier_source, source)? {
                self.deduplicated += key.0;
                return Ok(Some(*earlier));
            }
        }
        Ok(None)
    }

    fn store(&mut self, key: (u64, u32, u64), start_block: u64, node: NodeId) -> Extent {
        let extent = Extent {
            start_block,
            size: key.0,
            crc32: key.1,
        };
        self.stored += key.0;
        self.seen.entry(key).or_default().push((extent, node));
        extent
    }
}

#[derive(Clone, Copy, Default)]
struct DataSummary {
    stored: u64,
    deduplicated: u64,
}

/// The output with its position and high-water mark tracked.
struct Sink<'a, W> {
    out: &'a mut W,
    pos: u64,
    max: u64,
    data_summary: DataSummary,
}

impl<W: Write + Seek> Sink<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        self.out.write_all(bytes).map_err(BuildError::Output)?;
        self.pos += bytes.len() as u64;
        self.max = self.max.max(self.pos);
        Ok(())
    }

    fn seek(&mut self, pos: u64) -> Result<(), BuildError> {
        self.out
            .seek(SeekFrom::Start(pos))
            .map_err(BuildError::Output)?;
        self.pos = pos;
        Ok(())
    }

    fn pad_to(&mut self, bs: u64) -> Result<(), BuildError> {
        let pad = (bs - self.pos % bs) % bs;
        self.write(&vec![0u8; pad as usize])
    }

    /// Pad to a whole block, also covering (with zeros) any bytes a
    /// deduplicated file left past the end; returns the image size.
    fn finish(&mut self, bs: u64) -> Result<u64, BuildError> {
        self.pad_to(bs)?;
        while self.pos < self.max {
            let n = (self.max - self.pos).min(1 << 20);
            self.write(&vec![0u8; n as usize])?;
        }
        self.pad_to(bs)?;
        Ok(self.pos)
    }
}

fn source_error(source: &FileSource, error: io::Error) -> BuildError {
    match source {
        FileSource::Path(path) => BuildError::Io {
            path: path.clone(),
            error,
        },
        FileSource::Bytes(_) => BuildError::Output(error),
    }
}

fn source_len(source: &FileSource) -> Result<u64, BuildError> {
    match source {
        FileSource::Bytes(bytes) => Ok(bytes.len() as u64),
        FileSource::Path(path) => {
            std::fs::metadata(path)
                .map(|m| m.len())
                .map_err(|error| BuildError::Io {
                    path: path.clone(),
                    error,
                })
        }
    }
}

fn open(source: &FileSource) -> Result<Box<dyn Read + '_>, BuildError> {
    Ok(match source {
        FileSource::Bytes(bytes) => Box::new(bytes.as_slice()),
        FileSource::Path(path) => Box::new(File::open(path).map_err(|error| BuildError::Io {
            path: path.clone(),
            error,
        })?),
    })
}

/// Whether two sources hold the same bytes, compared chunk by chunk.
fn same_contents(a: &FileSource, b: &FileSource) -> Result<bool, BuildError> {
    if let (FileSource::Bytes(x), FileSource::Bytes(y)) = (a, b) {
        return Ok(x == y);
    }
    let mut ra = open(a)?;
    let mut rb = open(b)?;
    let mut ba = vec![0u8; 1 << 16];
    let mut bb = vec![0u8; 1 << 16];
    loop {
        let na = read_full(&mut ra, &mut ba).map_err(|e| source_error(a, e))?;
        let nb = read_full(&mut rb, &mut bb).map_err(|e| source_error(b, e))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
