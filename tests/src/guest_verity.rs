//! Verified guest images: a generated image with a dm-verity tree
//! appended, as `mkimage verity` does it (the default salt derived from the
//! image, the layout of `drivers::verity`), plus the tampering and the
//! small `/etc/fstab` root the in-guest verity tests boot.
//!
//! A tree over a full image (72 MiB) is cached next to it, keyed by the
//! image's name (which already covers its content) and the verity sources.

use std::collections::hash_map::DefaultHasher;
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use drivers::verity::{BLOCK, Digest, Hex, TreeBuilder, default_salt, parse_root_hash};
use fs_rofs::writer::{BuildOptions, EntryMeta, FileSource, ImageBuilder};

use crate::guest_image::GuestImage;

/// A generated image with a tree, and the root hash to boot it with.
#[derive(Clone, Debug)]
pub struct VerifiedImage {
    /// Facts about the whole file (data, tree and locator): what the raw
    /// `/dev/vblk0` shows the suite.
    pub image: GuestImage,
    pub root_hash: Digest,
}

impl VerifiedImage {
    /// The root hash as hex, for `rofs.roothash=` and `roothash=`.
    pub fn root_hex(&self) -> String {
        Hex(&self.root_hash).to_string()
    }
}

/// Read size while copying and hashing.
const CHUNK: usize = 1 << 20;

/// Copy `src` to `out` and append a tree over it (zero-padded to 4096
/// first, with the default salt); returns the root hash.
pub fn append_tree(src: &Path, out: &Path) -> Result<Digest, String> {
    let name = src.display();
    let mut input = File::open(src).map_err(|e| format!("open {name}: {e}"))?;
    let len = input
        .metadata()
        .map_err(|e| format!("stat {name}: {e}"))?
        .len();
    if len == 0 {
        return Err(format!("{name} is empty"));
    }
    let data_bytes = len.next_multiple_of(BLOCK as u64);
    let mut first = vec![0u8; BLOCK];
    let head = BLOCK.min(len as usize);
    input
        .read_exact(&mut first[..head])
        .map_err(|e| format!("read {name}: {e}"))?;
    let mut builder =
        TreeBuilder::new(&default_salt(data_bytes, &first)).map_err(|e| e.to_string())?;
    let file = File::create(out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let mut output = BufWriter::with_capacity(CHUNK, file);
    let write_err = |e: std::io::Error| format!("write {}: {e}", out.display());
    let mut copy = |data: &[u8], builder: &mut TreeBuilder| -> Result<(), String> {
        builder.update(data).map_err(|e| e.to_string())?;
        output.write_all(data).map_err(write_err)
    };
    copy(&first[..head], &mut builder)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| format!("read {name}: {e}"))?;
        if n == 0 {
            break;
        }
        copy(&buf[..n], &mut builder)?;
    }
    let padding = (data_bytes - len) as usize;
    copy(&vec![0u8; padding], &mut builder)?;
    let tree = builder.finish().map_err(|e| e.to_string())?;
    tree.write_appendix(&mut |part: &[u8]| output.write_all(part))
        .map_err(write_err)?;
    let file = output.into_inner().map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    Ok(tree.root_hash())
}

/// `image` with a tree, built once and cached in `cache_dir` (beside it).
pub fn verified_cached(image: &GuestImage, cache_dir: &Path) -> Result<VerifiedImage, String> {
    let stem = image
        .path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| format!("{}: no file name", image.path.display()))?;
    let path = cache_dir.join(format!("{stem}.verity-{:016x}.img", code_key()));
    let hash_file = path.with_extension("roothash");
    // The root-hash file is written before the rename, so an image next to
    // a readable one is complete.
    if path.is_file()
        && let Ok(text) = fs::read_to_string(&hash_file)
        && let Ok(root_hash) = parse_root_hash(&text)
    {
        let mut verified = GuestImage::from_file(&path).map_err(|e| e.to_string())?;
        verified.listed_files = image.listed_files;
        return Ok(VerifiedImage {
            image: verified,
            root_hash,
        });
    }
    let tmp = cache_dir.join(format!("{stem}.verity.{}.tmp", std::process::id()));
    let root_hash = append_tree(&image.path, &tmp).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    fs::write(&hash_file, format!("{}\n", Hex(&root_hash)))
        .map_err(|e| format!("write {}: {e}", hash_file.display()))?;
    fs::rename(&tmp, &path).map_err(|e| format!("rename to {}: {e}", path.display()))?;
    remove_stale(cache_dir, &path);
    let mut verified = GuestImage::from_file(&path).map_err(|e| e.to_string())?;
    verified.listed_files = image.listed_files;
    Ok(VerifiedImage {
        image: verified,
        root_hash,
    })
}

/// Hash of the tree code, so a format change rebuilds the cached trees.
fn code_key() -> u64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../drivers/src/verity");
    let mut sources: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    sources.sort();
    let mut hasher = DefaultHasher::new();
    include_str!("guest_verity.rs").hash(&mut hasher);
    for source in sources {
        source.file_name().hash(&mut hasher);
        fs::read(&source).unwrap_or_default().hash(&mut hasher);
    }
    hasher.finish()
}

/// Drop cached trees (image and root-hash file) whose image is gone, and
/// older ones of the image `keep` was built from.
fn remove_stale(cache_dir: &Path, keep: &Path) {
    let base_of = |path: &Path| -> Option<String> {
        let name = path.file_name()?.to_str()?;
        Some(name.split_once(".verity-")?.0.to_string())
    };
    let Some(keep_base) = base_of(keep) else {
        return;
    };
    let Ok(entries) = fs::read_dir(cache_dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        let Some(base) = base_of(&path) else {
            continue;
        };
        let current = path.with_extension("") == keep.with_extension("");
        let orphan = !cache_dir.join(format!("{base}.img")).is_file();
        if !current && (orphan || base == keep_base) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// Flip one byte of the 4096-byte block holding the first copy of `needle`
/// in the file at `path` (after its tree was built); returns that block's
/// number.
pub fn tamper_block(path: &Path, needle: &[u8]) -> Result<u64, String> {
    let mut bytes = fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let at = bytes
        .windows(needle.len().max(1))
        .position(|w| w == needle)
        .ok_or_else(|| format!("{}: the bytes to tamper with are not there", path.display()))?;
    if let Some(byte) = bytes.get_mut(at) {
        *byte ^= 0x01;
    }
    fs::write(path, &bytes).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok((at / BLOCK) as u64)
}

/// A small root image: the mount points `/dev`, `/tmp` and `mounts`, an
/// `/etc/fstab` of `fstab`, and `/etc/motd`. For boots whose interest is
/// the other disks.
pub fn fstab_root(out: &Path, mounts: &[&str], fstab: &str) -> Result<(), String> {
    let mut builder = ImageBuilder::new(BuildOptions::default());
    for dir in ["/dev", "/tmp"].iter().chain(mounts) {
        builder
            .add_dir(dir, EntryMeta::default())
            .map_err(|e| format!("add {dir}: {e}"))?;
    }
    for (path, data) in [
        ("/etc/fstab", fstab.as_bytes()),
        ("/etc/motd", b"fstab root\n"),
    ] {
        builder
            .add_file(path, FileSource::Bytes(data.to_vec()), EntryMeta::default())
            .map_err(|e| format!("add {path}: {e}"))?;
    }
    let file = File::create(out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let mut writer = BufWriter::new(file);
    builder
        .write(&mut writer, &mut |_, _| {})
        .map_err(|e| format!("write {}: {e}", out.display()))?;
    let file = writer.into_inner().map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    file.set_len(len.next_multiple_of(BLOCK as u64))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use drivers::verity::VerityDevice;
    use drivers::{BlockDevice, FileDisk};

    use crate::guest_image::{ImageSpec, build_cached};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("guest-verity-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn the_cached_tree_verifies_and_tampering_is_caught() {
        let dir = scratch("cache");
        let base = build_cached(&ImageSpec::small(), &dir).expect("image");
        let verified = verified_cached(&base, &dir).expect("tree");
        assert_eq!(&verified.image.head, &base.head);
        assert!(verified.image.size > base.size);
        // Built once: the second call reuses the file.
        let again = verified_cached(&base, &dir).expect("cached");
        assert_eq!(again.root_hash, verified.root_hash);
        assert_eq!(again.image.path, verified.image.path);

        let disk: Arc<dyn BlockDevice> =
            Arc::new(FileDisk::open(&verified.image.path, 512).expect("open"));
        let device = VerityDevice::open(disk.clone(), verified.root_hash).expect("verify");
        assert_eq!(device.size_bytes(), base.size);
        let mut all = vec![0u8; base.size as usize];
        device
            .read_blocks(0, &mut all)
            .expect("every block verifies");
        assert_eq!(all, fs::read(&base.path).expect("base"));

        let tampered = dir.join("tampered.img");
        fs::copy(&verified.image.path, &tampered).expect("copy");
        let block = tamper_block(&tampered, b"hello from the guest image").expect("tamper");
        let disk: Arc<dyn BlockDevice> = Arc::new(FileDisk::open(&tampered, 512).expect("open"));
        let device = VerityDevice::open(disk, verified.root_hash).expect("tree intact");
        let mut one = vec![0u8; BLOCK];
        assert!(device.read_blocks(block, &mut one).is_err());
        device.read_blocks(block + 1, &mut one).expect("neighbour");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn fstab_root_mounts_and_has_its_lines() {
        let dir = scratch("fstab");
        let path = dir.join("root.img");
        fstab_root(&path, &["/data"], "none /x ramfs rw 0 0\n").expect("root");
        let bytes = fs::read(&path).expect("read");
        assert_eq!(bytes.len() % BLOCK, 0);
        let disk: Arc<dyn BlockDevice> = Arc::new(drivers::RamDisk::from_bytes(512, bytes));
        let fs = fs_rofs::RofsFs::mount(disk, "").expect("mount");
        let clock: Arc<dyn vfs::Clock> = Arc::new(vfs::FixedClock::default());
        let vfs = vfs::Vfs::new(clock);
        vfs.mount_fs(fs, "root", "/", vfs::MountFlags::RDONLY, "")
            .expect("attach");
        assert_eq!(
            vfs.read_file("/etc/fstab").expect("fstab"),
            b"none /x ramfs rw 0 0\n"
        );
        assert!(vfs.read_dir("/data").expect("data").is_empty());
        let _ = fs::remove_dir_all(&dir);
    }
}
