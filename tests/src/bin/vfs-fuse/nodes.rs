//! The table that turns FUSE node ids into VFS paths.
//!
//! The VFS API is path-based; FUSE names objects by node id. Each node the
//! kernel knows records the names it is known by, as (parent node, name)
//! pairs, so its path is found by walking parents up to the root: renaming
//! a directory changes one pair and every path below it follows. Node ids
//! are the VFS inode numbers (the root swapped onto FUSE's id 1).

use std::collections::HashMap;

/// FUSE's node id of the root directory.
pub const FUSE_ROOT: u64 = 1;
/// Deeper than any path the VFS accepts: a corrupt table cannot loop.
const MAX_DEPTH: usize = 4096;

#[derive(Default)]
struct Node {
    /// Names of this node: (parent node id, name). Directories have one.
    links: Vec<(u64, String)>,
    /// Kernel lookups not yet forgotten.
    lookups: u64,
}

/// Node ids and the names they are known by.
pub struct Nodes {
    root_ino: u64,
    nodes: HashMap<u64, Node>,
}

impl Nodes {
    pub fn new(root_ino: u64) -> Nodes {
        let mut nodes = HashMap::new();
        nodes.insert(
            FUSE_ROOT,
            Node {
                links: Vec::new(),
                lookups: 1,
            },
        );
        Nodes { root_ino, nodes }
    }

    /// VFS inode number to node id.
    pub fn id_of(&self, ino: u64) -> u64 {
        if ino == self.root_ino {
            FUSE_ROOT
        } else if ino == FUSE_ROOT {
            self.root_ino
        } else {
            ino
        }
    }

    /// The VFS path of node `id`.
    pub fn path(&self, id: u64) -> Option<String> {
        let mut names = Vec::new();
        let mut at = id;
        while at != FUSE_ROOT {
            let (parent, name) = self.nodes.get(&at)?.links.first()?;
            names.push(name.as_str());
            at = *parent;
            if names.len() > MAX_DEPTH {
                return None;
            }
        }
        if names.is_empty() {
            return Some("/".to_string());
        }
        let mut path = String::new();
        for name in names.iter().rev() {
            path.push('/');
            path.push_str(name);
        }
        Some(path)
    }

    /// The path of `name` in directory node `parent`.
    pub fn child_path(&self, parent: u64, name: &str) -> Option<String> {
        let dir = self.path(parent)?;
        Some(if dir == "/" {
            format!("/{name}")
        } else {
            format!("{dir}/{name}")
        })
    }

    /// The kernel looked up (or created) `name` in `parent`: node `id`.
    pub fn looked_up(&mut self, id: u64, parent: u64, name: &str) {
        let node = self.nodes.entry(id).or_default();
        node.lookups += 1;
        if id != FUSE_ROOT && !node.links.iter().any(|(p, n)| *p == parent && n == name) {
            node.links.push((parent, name.to_string()));
        }
    }

    pub fn forget(&mut self, id: u64, count: u64) {
        if id == FUSE_ROOT {
            return;
        }
        if let Some(node) = self.nodes.get_mut(&id) {
            node.lookups = node.lookups.saturating_sub(count);
            if node.lookups == 0 {
                self.nodes.remove(&id);
            }
        }
    }

    /// `name` in `parent` no longer names node `id`.
    pub fn unlinked(&mut self, id: u64, parent: u64, name: &str) {
        if let Some(node) = self.nodes.get_mut(&id) {
            node.links.retain(|(p, n)| !(*p == parent && n == name));
        }
    }

    /// Node `id` moved from `name` in `parent` to `new_name` in `new_parent`.
    pub fn renamed(&mut self, id: u64, parent: u64, name: &str, new_parent: u64, new_name: &str) {
        if let Some(node) = self.nodes.get_mut(&id) {
            node.links.retain(|(p, n)| !(*p == parent && n == name));
            node.links.insert(0, (new_parent, new_name.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_renames_and_links() {
        let mut nodes = Nodes::new(1);
        nodes.looked_up(2, FUSE_ROOT, "a");
        nodes.looked_up(3, 2, "f");
        assert_eq!(nodes.path(3).as_deref(), Some("/a/f"));
        nodes.renamed(2, FUSE_ROOT, "a", FUSE_ROOT, "b");
        assert_eq!(nodes.path(3).as_deref(), Some("/b/f"));
        nodes.looked_up(3, FUSE_ROOT, "hard");
        nodes.unlinked(3, 2, "f");
        assert_eq!(nodes.path(3).as_deref(), Some("/hard"));
        assert_eq!(nodes.child_path(FUSE_ROOT, "x").as_deref(), Some("/x"));
        nodes.forget(3, 2);
        assert_eq!(nodes.path(3), None);
        assert_eq!(nodes.path(FUSE_ROOT).as_deref(), Some("/"));
        let swapped = Nodes::new(7);
        assert_eq!(
            (swapped.id_of(7), swapped.id_of(1), swapped.id_of(5)),
            (1, 7, 5)
        );
    }
}
