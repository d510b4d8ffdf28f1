//! `info` on a compressed image: size, stored bytes and their ratio per
//! file class (the name's extension), read through the same reader as
//! every other command (`st_blocks` of a compressed file counts its stored
//! bytes; a file small enough to be inline stores none in data blocks).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use fs_rofs::RofsFs;
use vfs::{FileSystem, FileType, Inode};

/// Classes shown, biggest first; the rest are summed as "other".
const SHOWN: usize = 8;

#[derive(Default, Clone, Copy)]
struct Class {
    files: u64,
    size: u64,
    stored: u64,
}

fn class_of(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() && ext.len() <= 8 => {
            format!(".{}", ext.to_ascii_lowercase())
        }
        _ => String::from("(none)"),
    }
}

/// `ratio .EXT:` lines, or a line saying why none could be made.
pub fn lines(fs: &Arc<RofsFs>) -> String {
    let mut classes: BTreeMap<String, Class> = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut queue: VecDeque<Arc<dyn Inode>> = VecDeque::new();
    match fs.root() {
        Ok(root) => queue.push_back(root),
        Err(e) => return format!("{:<16}unreadable ({e})\n", "classes:"),
    }
    while let Some(dir) = queue.pop_front() {
        let mut entries = Vec::new();
        if let Err(e) = dir.readdir(0, &mut |entry, _| {
            entries.push(entry.to_entry());
            true
        }) {
            return format!("{:<16}unreadable ({e})\n", "classes:");
        }
        for entry in entries {
            let Ok(child) = dir.lookup(&entry.name) else {
                continue;
            };
            match child.file_type() {
                FileType::Directory => queue.push_back(child),
                FileType::Regular if seen.insert(child.ino()) => {
                    let Ok(stat) = child.getattr() else { continue };
                    let class = classes.entry(class_of(&entry.name)).or_default();
                    class.files += 1;
                    class.size += stat.size;
                    class.stored += stat.blocks * 512;
                }
                _ => {}
            }
        }
    }
    let mut sorted: Vec<(String, Class)> = classes.into_iter().collect();
    sorted.sort_by(|a, b| b.1.size.cmp(&a.1.size).then(a.0.cmp(&b.0)));
    let mut other = Class::default();
    for (_, class) in sorted.iter().skip(SHOWN) {
        other.files += class.files;
        other.size += class.size;
        other.stored += class.stored;
    }
    sorted.truncate(SHOWN);
    if other.files > 0 {
        sorted.push((String::from("other"), other));
    }
    let mut out = String::new();
    for (name, class) in sorted {
        let ratio = match class.size {
            0 => String::from("-"),
            size => format!("{:.3}", class.stored as f64 / size as f64),
        };
        out.push_str(&format!(
            "{:<16}{ratio} ({} files, {} bytes, {} stored)\n",
            format!("ratio {name}:"),
            class.files,
            class.size,
            class.stored
        ));
    }
    out
}
