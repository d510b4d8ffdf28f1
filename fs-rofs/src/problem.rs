//! What is wrong with a corrupt image: one variant per validation rule.
//!
//! Each rule in `validate` (and in the version loaders) returns
//! `Result<(), Problem>`. The mount path maps any problem to EIO; `inspect`,
//! `verify` and the kernel's log print its `Display` text. So the fast check
//! and the explanation are the same code.

use alloc::string::String;
use core::fmt;

/// Which table of the metadata region a [`Problem::Table`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Inodes,
    Entries,
    Names,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Table::Inodes => "inode",
            Table::Entries => "directory entry",
            Table::Names => "names",
        })
    }
}

/// One broken rule of the format, with what is needed to find it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    // Superblock and regions.
    /// v2 `header_size` below the struct or past the first sector.
    HeaderSize(u32),
    /// Not a power of two in the version's range.
    BlockSize(u64),
    /// `image_blocks` or `data_blocks` times the block size overflows.
    SizeOverflows,
    /// The metadata region is unaligned, overlaps the data or leaves the image.
    MetadataRegion {
        offset: u64,
        len: u64,
    },
    /// A table does not lie inside the metadata region.
    Table {
        table: Table,
        offset: u64,
        count: u64,
        size: u64,
    },
    /// The superblock names another root than inode 1.
    RootIno(u64),
    /// A superblock count disagrees with the inode table.
    Count {
        what: &'static str,
        claimed: u64,
        found: u64,
    },
    /// v1 structure-info blocks overlap the superblock or overflow.
    V1Tables {
        first_block: u64,
        blocks: u64,
    },
    /// v1 record counts cannot fit in the structure-info blocks.
    V1Counts,
    /// The v1 tables end inside a record.
    V1TablesEnd {
        at: u64,
    },
    /// A v1 symlink inode names a symlink record that does not exist.
    V1SymlinkIndex {
        ino: u64,
        index: u64,
    },

    // Inodes.
    /// An inode number outside the inode table.
    InodeNumber {
        ino: u64,
    },
    NoInodes,
    RootNotDirectory,
    FileType {
        ino: u64,
        mode: u32,
    },
    /// `count` is not `ceil(size / block_size)`.
    FileBlocks {
        ino: u64,
        size: u64,
        count: u64,
    },
    FileExtent {
        ino: u64,
        start: u64,
        count: u64,
    },
    DirEntries {
        ino: u64,
        start: u64,
        count: u64,
    },
    /// Directories' entry runs overlap.
    SharedEntries {
        ino: u64,
        index: u64,
    },
    SymlinkTarget {
        ino: u64,
        start: u64,
        count: u64,
    },
    SymlinkNotUtf8 {
        ino: u64,
    },

    // Directory entries.
    EntryInode {
        index: u64,
        ino: u64,
    },
    EntryName {
        index: u64,
    },
    InvalidName {
        index: u64,
    },
    /// Not strictly after the previous entry of its directory (v2).
    Unsorted {
        index: u64,
    },

    // The directory tree (paths are as far as they can be named).
    /// An entry of directory `dir` points at `ancestor`, which contains it
    /// (or is `dir` itself).
    EntryAtAncestor {
        dir: String,
        name: String,
        ancestor: String,
    },
    /// Directory `ino` is the target of two entries.
    ReachableTwice {
        ino: u64,
        first: String,
        second: String,
    },
    /// No entry reaches directory `ino` from the root.
    Unreachable {
        ino: u64,
    },

    // Found by `inspect`/`verify` only; mount accepts them (v1).
    /// `count` entries of one directory with the same name bytes.
    DuplicateName {
        dir: String,
        name: String,
        count: usize,
    },
    /// `count` different names of one directory that read the same once
    /// decoded lossily.
    /// A v3 metadata block or record breaks a rule; `at` is the block
    /// number or the inode number the rule is about.
    V3 {
        what: &'static str,
        at: u64,
    },
    LossyNameClash {
        dir: String,
        name: String,
        count: usize,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::HeaderSize(n) => write!(f, "superblock header size {n}"),
            Problem::BlockSize(n) => write!(f, "block size {n}"),
            Problem::SizeOverflows => f.write_str("image or data size overflows"),
            Problem::MetadataRegion { offset, len } => {
                write!(f, "metadata region {offset}+{len} out of range")
            }
            Problem::Table {
                table,
                offset,
                count,
                size,
            } => write!(
                f,
                "{table} table {offset}+{count}x{size} outside the metadata region"
            ),
            Problem::RootIno(n) => write!(f, "root inode {n}"),
            Problem::Count {
                what,
                claimed,
                found,
            } => write!(
                f,
                "superblock says {claimed} {what} but the inode table has {found}"
            ),
            Problem::V1Tables {
                first_block,
                blocks,
            } => write!(f, "v1 tables at block {first_block}+{blocks} out of range"),
            Problem::V1Counts => f.write_str("v1 counts do not fit the tables"),
            Problem::V1TablesEnd { at } => write!(f, "v1 tables end early at byte {at}"),
            Problem::V1SymlinkIndex { ino, index } => {
                write!(f, "inode {ino}: v1 symlink index {index} out of range")
            }
            Problem::InodeNumber { ino } => write!(f, "inode number {ino} out of range"),
            Problem::NoInodes => f.write_str("no inodes"),
            Problem::RootNotDirectory => f.write_str("root inode is not a directory"),
            Problem::FileType { ino, mode } => {
                write!(f, "inode {ino}: unsupported file type {mode:#o}")
            }
            Problem::FileBlocks { ino, size, count } => {
                write!(f, "inode {ino}: size {size} does not match {count} blocks")
            }
            Problem::FileExtent { ino, start, count } => write!(
                f,
                "inode {ino}: data blocks {start}+{count} outside the data region"
            ),
            Problem::DirEntries { ino, start, count } => write!(
                f,
                "inode {ino}: directory entries {start}+{count} out of range"
            ),
            Problem::SharedEntries { ino, index } => write!(
                f,
                "inode {ino}: directory entry {index} belongs to another directory too"
            ),
            Problem::SymlinkTarget { ino, start, count } => {
                write!(f, "inode {ino}: bad symlink target {start}+{count}")
            }
            Problem::SymlinkNotUtf8 { ino } => {
                write!(f, "inode {ino}: symlink target is not UTF-8")
            }
            Problem::EntryInode { index, ino } => {
                write!(f, "directory entry {index}: inode {ino} out of range")
            }
            Problem::EntryName { index } => {
                write!(f, "directory entry {index}: name out of range")
            }
            Problem::InvalidName { index } => write!(f, "directory entry {index}: invalid name"),
            Problem::Unsorted { index } => write!(
                f,
                "directory entry {index}: entries not sorted or duplicated"
            ),
            Problem::EntryAtAncestor {
                dir,
                name,
                ancestor,
            } => {
                if ancestor == "/" {
                    write!(f, "entry {name:?} in {dir} points at the root")
                } else if ancestor == dir {
                    write!(f, "entry {name:?} in {dir} points at its own directory")
                } else {
                    write!(
                        f,
                        "entry {name:?} in {dir} points at its ancestor {ancestor}"
                    )
                }
            }
            Problem::ReachableTwice { ino, first, second } => write!(
                f,
                "directory inode {ino} is reachable twice (as {first} and as {second})"
            ),
            Problem::Unreachable { ino } => {
                write!(f, "directory inode {ino} is unreachable from the root")
            }
            Problem::V3 { what, at } => write!(f, "{what} ({at})"),
            Problem::DuplicateName { dir, name, count } => {
                write!(f, "{dir}: {count} entries named {name:?}")
            }
            Problem::LossyNameClash { dir, name, count } => write!(
                f,
                "{dir}: {count} entries read as {name:?} (names that are not UTF-8)"
            ),
        }
    }
}

/// Components of a path shown in a message, nearest the leaf; deeper paths
/// start with `/...`, so a hostile depth cannot make a message huge.
pub(crate) const SHOWN_COMPONENTS: usize = 16;

/// The path made of `leaf_first` (names from the leaf up), prefixed with
/// `/...` when `truncated`. Names are shown lossily.
pub(crate) fn shown_path(leaf_first: &[&[u8]], truncated: bool) -> String {
    let mut path = String::new();
    if truncated {
        path.push_str("/...");
    }
    for name in leaf_first.iter().rev() {
        path.push('/');
        path.push_str(&String::from_utf8_lossy(name));
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}
