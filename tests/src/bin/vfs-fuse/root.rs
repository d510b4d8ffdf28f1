//! The filesystem `vfs-fuse` puts on `/`: a ramfs, a ROFS image
//! (read-only), or an overlay of the image under a ramfs (writable, the
//! image never changes), as `root=overlay` makes it in the guest.

use std::path::Path;
use std::sync::Arc;

use drivers::{BlockDevice, FileDisk};
use fs_overlay::OverlayFs;
use fs_ramfs::RamFs;
use fs_rofs::RofsFs;
use vfs::{Clock, FileSystem, Layer, Layers, MountFlags, Vfs};

/// Mount the root on `vfs`; `limit` caps the ramfs (alone or as the upper
/// layer). Returns the filesystem on `/`.
pub fn mount(
    vfs: &Vfs,
    clock: Arc<dyn Clock>,
    image: Option<&Path>,
    overlay: bool,
    limit: Option<u64>,
) -> Result<Arc<dyn FileSystem>, String> {
    let (fs, flags): (Arc<dyn FileSystem>, MountFlags) = match image {
        None => (RamFs::new(clock, limit), MountFlags::empty()),
        Some(path) => {
            let rofs = open_image(path)?;
            if overlay {
                (over(rofs, RamFs::new(clock, limit))?, MountFlags::empty())
            } else {
                (rofs, MountFlags::RDONLY)
            }
        }
    };
    vfs.mount_fs(fs.clone(), fs.fs_type(), "/", flags, "")
        .map_err(|e| format!("mounting {} on /: {e}", fs.fs_type()))?;
    Ok(fs)
}

fn open_image(path: &Path) -> Result<Arc<dyn FileSystem>, String> {
    let name = path.display();
    let disk: Arc<dyn BlockDevice> =
        Arc::new(FileDisk::open(path, 512).map_err(|e| format!("cannot open '{name}': {e}"))?);
    let rofs = RofsFs::mount(disk, "").map_err(|e| format!("'{name}': not a ROFS image ({e})"))?;
    Ok(rofs)
}

/// An overlay of `lower` (read-only) under the writable `upper`.
fn over(lower: Arc<dyn FileSystem>, upper: Arc<RamFs>) -> Result<Arc<dyn FileSystem>, String> {
    let layer = |name: &str, fs: Arc<dyn FileSystem>, read_only| {
        let dir = fs.root().map_err(|e| format!("root of the {name}: {e}"))?;
        Ok::<_, String>(Layer {
            name: name.to_string(),
            fs,
            dir,
            read_only,
        })
    };
    let layers = Layers {
        lower: vec![layer("image", lower, true)?],
        upper: Some(layer("ramfs", upper, false)?),
    };
    let fs = OverlayFs::new(layers, "").map_err(|e| format!("overlay: {e}"))?;
    Ok(fs)
}
