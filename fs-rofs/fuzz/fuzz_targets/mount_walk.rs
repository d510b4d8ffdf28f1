//! Mount an arbitrary image and walk all of it (bounded). Any panic, hang or
//! out-of-bounds access is a bug; errors are fine.
#![no_main]

use std::sync::Arc;

use drivers::{BlockDevice, RamDisk};
use libfuzzer_sys::fuzz_target;
use vfs::{FileSystem, FileType, Inode, OpenFlags};

const MAX_DEPTH: usize = 16;
const MAX_VISITS: usize = 4096;
const MAX_READ: u64 = 1 << 20;

fn visit(inode: &Arc<dyn Inode>, depth: usize, visits: &mut usize) {
    *visits += 1;
    if *visits > MAX_VISITS || depth > MAX_DEPTH {
        return;
    }
    let _ = inode.getattr();
    match inode.file_type() {
        FileType::Directory => {
            let mut names = Vec::new();
            let _ = inode.readdir(0, &mut |e, _| {
                names.push(e.name.to_string());
                names.len() < MAX_VISITS
            });
            let _ = inode.lookup("does-not-exist");
            for name in names {
                if let Ok(child) = inode.lookup(&name) {
                    visit(&child, depth + 1, visits);
                }
            }
        }
        FileType::Regular => {
            let size = inode.getattr().map(|s| s.size).unwrap_or(0).min(MAX_READ);
            let mut buf = vec![0u8; 4096];
            let mut offset = 0;
            // As an open file reads (through the page cache with
            // read-ahead), then once more through the inode (cached pages).
            let handle = inode.open(OpenFlags::O_RDONLY).ok().flatten();
            while offset < size {
                let read = match &handle {
                    Some(h) => h.read_at(&**inode, offset, &mut buf),
                    None => inode.read_at(offset, &mut buf),
                };
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => offset += n as u64,
                }
            }
            offset = 0;
            while offset < size {
                match inode.read_at(offset, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => offset += n as u64,
                }
            }
            let _ = inode.read_at(u64::MAX - 1, &mut buf);
        }
        FileType::Symlink => {
            let _ = inode.readlink();
        }
        _ => {}
    }
}

/// Recompute a v3 image's metadata block CRCs and superblock CRC.
fn reseal_v3(image: &mut [u8]) {
    use fs_rofs::format::v3::{V3_SUPERBLOCK_SIZE, block_crc};
    let le64 = |at: usize| image.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    let (Some(start), Some(count)) = (le64(48), le64(56)) else { return };
    let blocks = image.len() / 4096;
    let start = usize::try_from(start).unwrap_or(usize::MAX).min(blocks);
    let end = usize::try_from(count).map_or(blocks, |c| start.saturating_add(c).min(blocks));
    for block in start..end {
        let bytes = &mut image[block * 4096..(block + 1) * 4096];
        let crc = block_crc(bytes);
        bytes[..4].copy_from_slice(&crc.to_le_bytes());
    }
    if image.len() >= V3_SUPERBLOCK_SIZE {
        let crc = fs_rofs::format::superblock_crc(&image[..V3_SUPERBLOCK_SIZE]);
        let at = fs_rofs::format::SB_CRC_OFFSET;
        image[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Recompute a v2 (or v3) image's checksums, so mutations reach the table
/// checks instead of stopping at a CRC mismatch.
fn reseal(image: &mut [u8]) {
    if image.len() < fs_rofs::format::SUPERBLOCK_SIZE {
        return;
    }
    if image.get(8) == Some(&3) {
        return reseal_v3(image);
    }
    let le64 = |at: usize| image.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    let (Some(offset), Some(len)) = (le64(56), le64(64)) else { return };
    let region = usize::try_from(offset)
        .ok()
        .zip(usize::try_from(len).ok())
        .and_then(|(o, l)| image.get(o..o.checked_add(l)?));
    if let Some(region) = region {
        let crc = crc32fast::hash(region);
        image[72..76].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = fs_rofs::format::superblock_crc(&image[..fs_rofs::format::SUPERBLOCK_SIZE]);
    let at = fs_rofs::format::SB_CRC_OFFSET;
    image[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, image)) = data.split_first() else { return };
    let mut image = image.to_vec();
    if flags & 2 != 0 {
        reseal(&mut image);
    }
    let dev: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, image));
    let _ = fs_rofs::inspect(&*dev);
    let _ = fs_rofs::verify(&*dev);
    let options = if flags & 1 != 0 { "verify" } else { "" };
    if let Ok(fs) = fs_rofs::RofsFs::mount(dev, options) {
        let _ = fs.statfs();
        if let Ok(root) = fs.root() {
            let mut visits = 0;
            visit(&root, 0, &mut visits);
        }
    }
});
