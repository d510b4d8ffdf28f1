//! Reading and patching the tables of v1 and v2 images the obvious way, to
//! build hostile images with valid checksums.

pub fn le(bytes: &[u8], at: usize, len: usize) -> u64 {
    let mut word = [0u8; 8];
    word[..len].copy_from_slice(&bytes[at..at + len]);
    u64::from_le_bytes(word)
}

/// One directory entry as found in the image bytes.
pub struct Entry {
    /// Byte offset of its inode-number field.
    pub ino_at: usize,
    pub ino: u64,
    /// Byte offset of its name.
    pub name_at: usize,
    pub name: Vec<u8>,
}

/// The tables of a v1 or v2 image, parsed the obvious way.
pub struct Tables {
    pub v1: bool,
    pub entries: Vec<Entry>,
    /// `(first entry, entry count)` of each inode (directories only).
    pub runs: Vec<(u64, u64)>,
}

pub fn parse(image: &[u8]) -> Tables {
    if le(image, 8, 8) == 1 {
        let mut at = 512 * le(image, 24, 8) as usize;
        let mut entries = Vec::new();
        for _ in 0..le(image, 40, 8) {
            let len = le(image, at + 8, 2) as usize;
            let name = image[at + 10..at + 10 + len].to_vec();
            let ino = le(image, at, 8);
            entries.push(Entry {
                ino_at: at,
                ino,
                name_at: at + 10,
                name,
            });
            at += 10 + len;
        }
        for _ in 0..le(image, 48, 8) {
            at += 2 + le(image, at, 2) as usize;
        }
        let runs = (0..le(image, 56, 8) as usize)
            .map(|i| {
                (
                    le(image, at + 32 * i + 16, 8),
                    le(image, at + 32 * i + 24, 8),
                )
            })
            .collect();
        Tables {
            v1: true,
            entries,
            runs,
        }
    } else {
        let meta = le(image, 56, 8) as usize;
        let (inodes, dirents) = (
            meta + le(image, 88, 8) as usize,
            meta + le(image, 96, 8) as usize,
        );
        let names = meta + le(image, 104, 8) as usize;
        let entries = (0..le(image, 84, 4) as usize)
            .map(|i| {
                let at = dirents + 12 * i;
                let off = names + le(image, at + 4, 4) as usize;
                let len = le(image, at + 8, 2) as usize;
                let ino = le(image, at, 4);
                Entry {
                    ino_at: at,
                    ino,
                    name_at: off,
                    name: image[off..off + len].to_vec(),
                }
            })
            .collect();
        let runs = (0..le(image, 80, 4) as usize)
            .map(|i| {
                (
                    le(image, inodes + 64 * i + 40, 8),
                    le(image, inodes + 64 * i + 48, 8),
                )
            })
            .collect();
        Tables {
            v1: false,
            entries,
            runs,
        }
    }
}

impl Tables {
    /// The index of the entry at `path` (absolute, no trailing slash).
    pub fn entry(&self, path: &str) -> usize {
        let mut dir = 1u64;
        let mut found = None;
        for name in path.split('/').filter(|n| !n.is_empty()) {
            let (start, count) = self.runs[dir as usize - 1];
            let index = (start..start + count)
                .map(|i| i as usize)
                .find(|&i| self.entries[i].name == name.as_bytes())
                .unwrap_or_else(|| panic!("{path}: no {name}"));
            dir = self.entries[index].ino;
            found = Some(index);
        }
        found.expect("not the root")
    }

    pub fn ino(&self, path: &str) -> u64 {
        if path == "/" {
            1
        } else {
            self.entries[self.entry(path)].ino
        }
    }
}

/// Point the entry at `path` at inode `ino`, keeping the checksums valid.
pub fn repoint(image: &mut [u8], path: &str, ino: u64) {
    let tables = parse(image);
    let at = tables.entries[tables.entry(path)].ino_at;
    if tables.v1 {
        image[at..at + 8].copy_from_slice(&ino.to_le_bytes());
    } else {
        image[at..at + 4].copy_from_slice(&(ino as u32).to_le_bytes());
        reseal(image);
    }
}

/// Recompute a v2 image's metadata and superblock CRC32s.
pub fn reseal(image: &mut [u8]) {
    let (meta, len) = (le(image, 56, 8) as usize, le(image, 64, 8) as usize);
    let crc = crc32fast::hash(&image[meta..meta + len]);
    image[72..76].copy_from_slice(&crc.to_le_bytes());
    let crc = fs_rofs::format::superblock_crc(&image[..fs_rofs::format::SUPERBLOCK_SIZE]);
    let at = fs_rofs::format::SB_CRC_OFFSET;
    image[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Overwrite the name of the entry at `path` with `name` (same length),
/// keeping the checksums valid.
pub fn rename(image: &mut [u8], path: &str, name: &[u8]) {
    let tables = parse(image);
    let entry = &tables.entries[tables.entry(path)];
    assert_eq!(entry.name.len(), name.len(), "{path}");
    image[entry.name_at..entry.name_at + name.len()].copy_from_slice(name);
    if !tables.v1 {
        reseal(image);
    }
}
