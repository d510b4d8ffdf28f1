//! Mount an arbitrary image and walk all of it (bounded). Any panic, hang or
//! out-of-bounds access is a bug; errors are fine.
#![no_main]

use std::sync::Arc;

use drivers::{BlockDevice, RamDisk};
use libfuzzer_sys::fuzz_target;
use vfs::{FileSystem, FileType, Inode};

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
                names.push(e.name);
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

fuzz_target!(|data: &[u8]| {
    let Some((&flags, image)) = data.split_first() else { return };
    let dev: Arc<dyn BlockDevice> = Arc::new(RamDisk::from_bytes(512, image.to_vec()));
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
