//! Root images for the in-guest hostile-input tests (`tests/guest_hostile.rs`):
//! a v2 image whose directory entries form loops (checksums valid, so only
//! the tree rule can refuse it), and images with one 100,000-entry
//! directory, in v1 and v2.
//!
//! Each starts from an ordinary image written by [`fs_rofs::writer`] with the
//! kernel's mount points (`/dev`, `/tmp`); the loops are made afterwards by
//! rewriting directory entries, at the byte offsets `fs-rofs/FORMAT.md`
//! gives, and recomputing both CRC32s.

use std::io::Cursor;
use std::path::Path;

use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, Format, ImageBuilder};

/// Entries of `/many` in [`wide_image`].
pub const WIDE_ENTRIES: usize = 100_000;

/// The name of entry `i` of `/many`.
pub fn wide_name(i: usize) -> String {
    format!("f{i:06}")
}

fn base(format: Format, block_size: u32) -> ImageBuilder {
    let mut b = ImageBuilder::new(BuildOptions {
        format,
        block_size,
        default_mtime: 0,
    });
    for dir in ["/dev", "/tmp"] {
        b.add_dir(dir, EntryMeta::default()).expect("mount point");
    }
    b.add_file(
        "/etc/motd",
        FileSource::Bytes(b"hostile image\n".to_vec()),
        EntryMeta::default(),
    )
    .expect("motd");
    b
}

fn write(b: ImageBuilder) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    b.write(&mut out, &mut |_, _| {}).expect("write image");
    out.into_inner()
}

/// A v2 image with loops: `/loop/a/back` names `/loop` (an ancestor) and
/// `/loop/a/self` names `/loop/a` (its own directory); `/loop/a/file`
/// holds `inside the loop\n`.
pub fn cyclic_image() -> Vec<u8> {
    let mut b = base(Format::V2, 4096);
    for dir in ["/loop/a/back", "/loop/a/self"] {
        b.add_dir(dir, EntryMeta::default()).expect("dir");
    }
    b.add_file(
        "/loop/a/file",
        FileSource::Bytes(b"inside the loop\n".to_vec()),
        EntryMeta::default(),
    )
    .expect("file");
    let mut image = write(b);
    let view = V2::read(&image);
    let loop_ino = view.ino_of(&image, "loop");
    let a_ino = view.ino_of(&image, "a");
    view.point(&mut image, "back", loop_ino);
    view.point(&mut image, "self", a_ino);
    reseal_v2(&mut image);
    image
}

/// An image with `/many` holding [`WIDE_ENTRIES`] empty files
/// ([`wide_name`]), in `format` (v2 with 4096-byte blocks, or v1).
pub fn wide_image(format: Format) -> Vec<u8> {
    let block_size = if format == Format::V1 { 512 } else { 4096 };
    let mut b = base(format, block_size);
    for i in 0..WIDE_ENTRIES {
        b.add_file(
            &format!("/many/{}", wide_name(i)),
            FileSource::Bytes(Vec::new()),
            EntryMeta::default(),
        )
        .expect("file");
    }
    write(b)
}

/// Write `image` to `path`.
pub fn save(image: &[u8], path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, image).map_err(|e| format!("write {}: {e}", path.display()))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Where a v2 image's tables are (superblock offsets from FORMAT.md).
struct V2 {
    dirents: usize,
    dirent_count: usize,
    names: usize,
}

const DIRENT_SIZE: usize = 12;

impl V2 {
    fn read(image: &[u8]) -> V2 {
        assert_eq!(le64(image, 8), 2, "a v2 image");
        let meta = le64(image, 56) as usize;
        V2 {
            dirents: meta + le64(image, 96) as usize,
            dirent_count: le32(image, 84) as usize,
            names: meta + le64(image, 104) as usize,
        }
    }

    /// Byte offset of the one directory entry called `name`.
    fn entry(&self, image: &[u8], name: &str) -> usize {
        let found: Vec<usize> = (0..self.dirent_count)
            .map(|i| self.dirents + i * DIRENT_SIZE)
            .filter(|&at| {
                let off = self.names + le32(image, at + 4) as usize;
                let len = u16::from_le_bytes([image[at + 8], image[at + 9]]) as usize;
                &image[off..off + len] == name.as_bytes()
            })
            .collect();
        assert_eq!(found.len(), 1, "one entry named {name}");
        found[0]
    }

    fn ino_of(&self, image: &[u8], name: &str) -> u32 {
        le32(image, self.entry(image, name))
    }

    /// Make the entry `name` name inode `ino`.
    fn point(&self, image: &mut [u8], name: &str, ino: u32) {
        let at = self.entry(image, name);
        image[at..at + 4].copy_from_slice(&ino.to_le_bytes());
    }
}

/// Recompute a v2 image's metadata and superblock CRC32s.
fn reseal_v2(image: &mut [u8]) {
    let (meta, meta_len) = (le64(image, 56) as usize, le64(image, 64) as usize);
    let crc = crc32fast::hash(&image[meta..meta + meta_len]);
    image[72..76].copy_from_slice(&crc.to_le_bytes());
    let header = le32(image, 20) as usize;
    image[36..40].fill(0);
    let crc = crc32fast::hash(&image[..header]);
    image[36..40].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use drivers::{BlockDevice, RamDisk};

    #[test]
    fn the_cyclic_image_is_sealed_and_refused_by_the_tree_rule() {
        let image = cyclic_image();
        let device: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, image.clone()));
        let refused = fs_rofs::RofsFs::mount(device.clone(), "").err();
        assert_eq!(refused, Some(vfs::Errno::EIO));
        // Refused for its loops, not for a checksum: verify names them.
        let problems: Vec<String> = match fs_rofs::verify(&*device) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        };
        let text = problems.join("\n");
        assert!(text.contains("back") && text.contains("ancestor"), "{text}");
        assert!(!text.to_lowercase().contains("crc"), "{text}");
    }

    #[test]
    fn wide_images_mount_and_list_every_entry() {
        for format in [Format::V1, Format::V2] {
            let device: Arc<dyn BlockDevice> =
                Arc::new(RamDisk::from_bytes(512, wide_image(format)));
            let fs = fs_rofs::RofsFs::mount(device, "").expect("mount");
            let many = vfs::FileSystem::root(&*fs)
                .and_then(|root| root.lookup("many"))
                .expect("/many");
            let mut count = 0;
            many.readdir(0, &mut |entry, _| {
                assert!(entry.name.starts_with('f'));
                count += 1;
                true
            })
            .expect("readdir");
            assert_eq!(count, WIDE_ENTRIES, "{format:?}");
        }
    }
}
