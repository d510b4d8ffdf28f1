//! `GraphFs`: a read-only filesystem whose directories are a table of
//! `(name, inode)` entries. Unlike ramfs it can hold what only a hostile
//! image can: an entry pointing at its own directory or at an ancestor (a
//! loop), two names for one directory, and directories of any size whose
//! names are generated rather than stored.

use std::any::Any;
use std::sync::Arc;

use vfs::{
    DirEntryRef, DirSink, Errno, FileSystem, FileType, Inode, InodeNo, Stat, StatFs, VfsResult,
};

/// One object; inode `n` is `nodes[n - 1]`, inode 1 the root.
pub enum Node {
    Dir(Vec<(String, InodeNo)>),
    File(Vec<u8>),
    /// A directory of `count` entries `e0000000`, `e0000001`, ..., each
    /// naming inode `target`.
    Wide {
        count: u64,
        target: InodeNo,
    },
}

pub struct GraphFs {
    nodes: Arc<Vec<Node>>,
}

impl GraphFs {
    pub fn new(nodes: Vec<Node>) -> Arc<GraphFs> {
        Arc::new(GraphFs {
            nodes: Arc::new(nodes),
        })
    }
}

/// A directory node from `(name, inode)` pairs.
pub fn dir(entries: &[(&str, InodeNo)]) -> Node {
    Node::Dir(entries.iter().map(|(n, i)| (n.to_string(), *i)).collect())
}

/// The name of entry `i` of a [`Node::Wide`] directory.
pub fn wide_name(i: u64) -> String {
    format!("e{i:07}")
}

struct GraphInode {
    nodes: Arc<Vec<Node>>,
    ino: InodeNo,
}

impl GraphInode {
    fn node(&self) -> VfsResult<&Node> {
        let index = usize::try_from(self.ino).map_err(|_| Errno::EIO)?;
        self.nodes.get(index.wrapping_sub(1)).ok_or(Errno::EIO)
    }

    fn child(&self, ino: InodeNo) -> VfsResult<Arc<dyn Inode>> {
        let inode = GraphInode {
            nodes: self.nodes.clone(),
            ino,
        };
        inode.node()?;
        Ok(Arc::new(inode))
    }

    fn type_of(&self, ino: InodeNo) -> FileType {
        GraphInode {
            nodes: self.nodes.clone(),
            ino,
        }
        .file_type()
    }
}

impl Inode for GraphInode {
    fn ino(&self) -> InodeNo {
        self.ino
    }

    fn file_type(&self) -> FileType {
        match self.node() {
            Ok(Node::File(_)) | Err(_) => FileType::Regular,
            Ok(_) => FileType::Directory,
        }
    }

    fn getattr(&self) -> VfsResult<Stat> {
        let (mode, size) = match self.node()? {
            Node::File(data) => (0o100644, data.len() as u64),
            Node::Dir(entries) => (0o040755, entries.len() as u64),
            Node::Wide { count, .. } => (0o040755, *count),
        };
        Ok(Stat {
            ino: self.ino,
            mode,
            nlink: 1,
            size,
            blksize: 4096,
            ..Stat::default()
        })
    }

    fn lookup(&self, name: &str) -> VfsResult<Arc<dyn Inode>> {
        match self.node()? {
            Node::Dir(entries) => {
                let (_, ino) = entries
                    .iter()
                    .find(|(n, _)| n == name)
                    .ok_or(Errno::ENOENT)?;
                self.child(*ino)
            }
            Node::Wide { count, target } => {
                let i: u64 = name
                    .strip_prefix('e')
                    .and_then(|n| n.parse().ok())
                    .ok_or(Errno::ENOENT)?;
                if i >= *count || wide_name(i) != name {
                    return Err(Errno::ENOENT);
                }
                self.child(*target)
            }
            Node::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        match self.node()? {
            Node::File(data) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let n = buf.len().min(data.len() - start);
                buf[..n].copy_from_slice(&data[start..start + n]);
                Ok(n)
            }
            _ => Err(Errno::EISDIR),
        }
    }

    fn readdir(&self, cookie: u64, sink: &mut DirSink<'_>) -> VfsResult<()> {
        match self.node()? {
            Node::Dir(entries) => {
                for (i, (name, ino)) in entries.iter().enumerate().skip(cookie as usize) {
                    let entry = DirEntryRef {
                        ino: *ino,
                        file_type: self.type_of(*ino),
                        name,
                    };
                    if !sink(entry, i as u64 + 1) {
                        break;
                    }
                }
                Ok(())
            }
            Node::Wide { count, target } => {
                let file_type = self.type_of(*target);
                for i in cookie..*count {
                    let name = wide_name(i);
                    let entry = DirEntryRef {
                        ino: *target,
                        file_type,
                        name: &name,
                    };
                    if !sink(entry, i + 1) {
                        break;
                    }
                }
                Ok(())
            }
            Node::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl FileSystem for GraphFs {
    fn root(&self) -> VfsResult<Arc<dyn Inode>> {
        Ok(Arc::new(GraphInode {
            nodes: self.nodes.clone(),
            ino: 1,
        }))
    }

    fn fs_type(&self) -> &'static str {
        "graph"
    }

    fn is_read_only(&self) -> bool {
        true
    }

    fn statfs(&self) -> VfsResult<StatFs> {
        Ok(StatFs {
            block_size: 4096,
            ..StatFs::default()
        })
    }
}
