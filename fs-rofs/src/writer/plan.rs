//! Planning the image: inode numbers and directory entry runs.

use std::collections::VecDeque;
use std::string::String;
use std::vec;
use std::vec::Vec;

use super::{BuildError, Format, ImageBuilder, Kind, NodeId, ROOT};

impl ImageBuilder {
    /// Number the inodes breadth-first from the root (children in name
    /// order) and lay out each directory's entries contiguously.
    pub(super) fn plan(&self) -> Result<Plan, BuildError> {
        let share = self.opts.format != Format::V1;
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
}

/// One inode to write: its tree node, link count and (directories) its
/// entry run.
pub(super) struct PlannedInode {
    pub node: NodeId,
    pub nlink: u32,
    pub first_entry: u64,
    pub entries: u64,
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

/// Inodes in number order (inode `n` at index `n - 1`) and all entries.
pub(super) struct Plan {
    pub inodes: Vec<PlannedInode>,
    /// (name, inode number), each directory's run sorted by name.
    pub dirents: Vec<(String, u32)>,
}
