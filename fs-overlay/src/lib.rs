//! overlay: a copy-up filesystem that stacks a writable upper layer over one
//! or more read-only lower layers (`no_std` + `alloc`), after mini_fo and
//! with Linux overlayfs as the behaviour reference.
//!
//! An [`OverlayFs`] is built from a [`vfs::Layers`] (directories of
//! filesystems mounted earlier; the VFS resolves `lowerdir=`/`upperdir=`),
//! through [`OverlayType`] (`"overlay"`) or [`OverlayFs::new`].
//!
//! # Reading
//! A name resolves to the topmost layer that has it: lookup, stat,
//! readlink and read go to that layer's object. A directory merges the
//! directories of the same path below it, down to an opaque one; a
//! non-directory above hides everything below. A lower-only overlay (no
//! upper, or a read-only one, which then counts as the topmost lower) is
//! read-only.
//!
//! # Copy-up
//! The first change of a lower object copies it into the upper layer: open
//! for writing or with `O_TRUNC`, truncate, setattr (chmod, chown,
//! utimens), link to it, rename of it, and any change inside a lower
//! directory (create, remove, rename). Parents are copied first, top down,
//! in a loop (no recursion, whatever the depth). The copy is made under a
//! temporary name in the target directory, data streamed in 128 KiB chunks
//! (all-zero chunks left as holes), mode, owner and times set, and then
//! renamed to its name; on any failure (ENOSPC in a small upper) the
//! temporary is removed, so the lower object stays visible and unchanged.
//! `O_TRUNC` and truncate copy only the bytes that survive. The parent's
//! times are put back after a copy-up, as Linux does. Descriptors opened
//! before a copy-up see the copy from then on (as Linux since 4.19).
//!
//! # Whiteouts, opaque directories, reserved names
//! The layers have no extended attributes, so markers are entries:
//! - a deleted lower name gets a whiteout in the upper directory: a
//!   character device 0/0 with that name, as Linux's (creating such a
//!   device through the overlay is EPERM, as on Linux);
//! - an opaque directory (one made in a directory with lower layers, for
//!   example removed and made again) holds a whiteout named `.wh..wh..opq`;
//! - names starting with `.wh..wh.` belong to the overlay (the opaque
//!   marker, temporaries `.wh..wh.tmp.N`, the hard-link index
//!   `.wh..wh.index` in the upper root). They are hidden in every layer,
//!   never found by lookup, and creating one is EPERM. Linux reserves no
//!   names; these follow aufs's.
//!
//! # Directory listings
//! A directory with one layer (lower-only, or upper-only) is listed straight
//! from that layer, with its cookies, filtered. A merged one is listed from a
//! snapshot built when it is opened (and again on rewind) and kept in the
//! open directory's handle: upper entries, then each lower layer's that no
//! layer above named; a cookie is a position in it, so `getdents` across
//! calls lists each name once. Names created after the snapshot show after
//! a rewind (POSIX leaves it open, Linux behaves the same).
//!
//! # Rename
//! Files move freely (copied up first). A directory that has a lower part
//! (lower-only or merged) gives EXDEV, as Linux without `redirect_dir`;
//! upper-only directories move, and become opaque when they land in a
//! directory with lower layers. Replacing a directory needs it empty in the
//! merged view (ENOTEMPTY).
//!
//! # Inode numbers, links, statfs
//! Numbers are the layer's number shifted left, with the layer in the low
//! bits, so they are unique across layers and stable for the life of the
//! mount; a copy keeps its origin's number (module `ino`). `st_dev` is the
//! overlay mount's (the VFS sets it). Hard links of lower files stay one
//! object after a copy-up of any name, with the link counts Linux shows
//! with `index=on` (module `links`). A merged directory reports one link,
//! as on Linux. `statfs` reports the upper layer's figures (the top
//! lower's when read-only) with the overlayfs magic.
//!
//! # Where it differs from Linux overlayfs
//! Checked operation by operation against Linux (`index=on,
//! redirect_dir=off, metacopy=off, xino=off`) by
//! `tests/tests/overlay_differential.rs`. Known differences:
//! - the reserved `.wh..wh.` names above;
//! - `fstat` of a descriptor whose file was removed shows 0 links (Linux
//!   shows the lower file's count);
//! - removing a name of a lower hard-linked file only counts it (Linux
//!   copies the file's data to its index first);
//! - the attributes of lower objects are read once per node: lower layers
//!   must not change under a mount (on Linux doing so is undefined too);
//! - the hard-link index is kept in memory: an upper layer reused by a
//!   later mount shows copies at the names that got upper links.
//!
//! # Locks
//! One lock per overlay (`ns`) orders its changes of the upper layer: every
//! namespace change and copy-up holds it, so a big copy-up delays other
//! changes of the same overlay, never reads. Lookups, reads and writes do
//! not take it. It is taken inside the VFS's locks and outside the layers'.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod copyup;
mod dirops;
mod ino;
mod inode;
mod layers;
mod links;
mod readdir;
#[cfg(test)]
mod tests;

pub use inode::OverlayInode;

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;
use spin::{Mutex, MutexGuard, Once};
use vfs::{
    Errno, FileSystem, FileType, FsType, Inode, InodeNo, Layer, Layers, MountContext, MountSource,
    StatFs, VfsResult,
};

use ino::{InoMap, NodeTable};
use inode::Place;
use layers::{Found, INDEX_DIR, Lower, TEMP_PREFIX};
use links::LinkState;

/// `statfs` magic of Linux's overlayfs.
pub const OVERLAYFS_MAGIC: u64 = 0x794c_7630;
/// Most lower layers one overlay takes (Linux: 500).
pub const MAX_LOWER_LAYERS: usize = 500;

/// Held across every change of the upper layer (see "Locks").
pub(crate) type NsGuard<'a> = MutexGuard<'a, ()>;

/// State shared by an overlay and all its nodes.
pub(crate) struct Shared {
    /// The writable upper layer; None for a read-only overlay.
    pub upper: Option<Layer>,
    /// The lower layers, topmost first.
    pub lowers: Vec<Layer>,
    pub inos: InoMap,
    pub nodes: NodeTable,
    /// Lower hard-linked objects by overlay inode number.
    pub links: Mutex<HashMap<InodeNo, Arc<LinkState>>>,
    pub ns: Mutex<()>,
    temp_seq: AtomicU64,
    index_dir: Once<Arc<dyn Inode>>,
}

impl Shared {
    /// The upper layer's directory, or EROFS.
    pub fn upper_root(&self) -> VfsResult<&Arc<dyn Inode>> {
        self.upper.as_ref().map(|l| &l.dir).ok_or(Errno::EROFS)
    }

    /// A fresh temporary name for the upper layer.
    pub fn temp_name(&self) -> String {
        let n = self.temp_seq.fetch_add(1, Ordering::Relaxed);
        format!("{TEMP_PREFIX}{n:x}")
    }

    /// The index directory in the upper root, made on first use.
    pub fn index_dir(&self, _ns: &NsGuard<'_>) -> VfsResult<Arc<dyn Inode>> {
        if let Some(dir) = self.index_dir.get() {
            return Ok(dir.clone());
        }
        let root = self.upper_root()?;
        let dir = match layers::find(&**root, INDEX_DIR)? {
            Some(dir) if dir.file_type() == FileType::Directory => dir,
            Some(_) => return Err(Errno::EIO),
            None => root.mkdir(INDEX_DIR, 0o700)?,
        };
        Ok(self.index_dir.call_once(|| dir).clone())
    }

    /// The node for an object found through the layers: the live one if
    /// any, else a new one. A name of a lower hard-linked file gets a node of
    /// its own (see `links`).
    pub fn node_for(
        self: &Arc<Self>,
        found: Found,
        place: Option<Place>,
    ) -> VfsResult<Arc<OverlayInode>> {
        let kind = found.file_type().ok_or(Errno::EIO)?;
        let Found { upper, lowers } = found;
        let (ino, first) = match (&upper, lowers.first()) {
            (Some(u), _) => (self.inos.upper(u.ino()), u.clone()),
            (None, Some(l)) => (self.inos.encode(l.layer, l.inode.ino()), l.inode.clone()),
            (None, None) => return Err(Errno::EIO),
        };
        let lower_stat = match upper {
            Some(_) => None,
            None => Some(first.getattr()?),
        };
        let link = match (kind, &lower_stat) {
            (FileType::Directory, _) => None,
            (_, Some(stat)) => self.link_state(ino, Some(stat.nlink))?,
            (_, None) => self.link_state(ino, None)?,
        };
        if upper.is_none()
            && let Some(link) = link
        {
            let at = place.as_ref().map(|p| (p.parent.clone(), p.name.clone()));
            if let Some((parent, name)) = &at
                && let Some(live) = parent.linked_name(name, ino)
            {
                return Ok(live);
            }
            let key = self.inos.name_key();
            let shared_upper = link.upper();
            let node = OverlayInode::new(
                self,
                key,
                ino,
                kind,
                first,
                lower_stat,
                shared_upper,
                lowers,
                place,
                Some(link),
            );
            if let Some((parent, name)) = at {
                parent.remember_linked_name(&name, &node);
            }
            return Ok(node);
        }
        if let Some(live) = self.nodes.get(ino, kind) {
            return Ok(live);
        }
        let node = OverlayInode::new(
            self, ino, ino, kind, first, lower_stat, upper, lowers, place, link,
        );
        Ok(self.nodes.get_or_insert(node))
    }

    /// The shared state of a lower object with several names, made on the
    /// first lookup of one of them (`lower_nlink`: the link count of the
    /// lower object found, None for an upper one).
    fn link_state(
        &self,
        ino: InodeNo,
        lower_nlink: Option<u32>,
    ) -> VfsResult<Option<Arc<LinkState>>> {
        let mut links = self.links.lock();
        if let Some(link) = links.get(&ino) {
            return Ok(Some(link.clone()));
        }
        match lower_nlink {
            Some(nlink) if nlink > 1 && self.upper.is_some() => {
                let link = Arc::new(LinkState::new(ino, nlink));
                links.insert(ino, link.clone());
                Ok(Some(link))
            }
            _ => Ok(None),
        }
    }
}

/// One mounted overlay.
pub struct OverlayFs {
    shared: Arc<Shared>,
    root: Arc<OverlayInode>,
}

impl OverlayFs {
    /// An overlay of `layers`. `options` is empty or a list of Linux options
    /// that describe what this overlay does anyway (`index=on`,
    /// `redirect_dir=off`, `metacopy=off`, `xino=off`, `workdir=…`); anything
    /// else is EINVAL, as is an overlay without lower layers, with more than
    /// [`MAX_LOWER_LAYERS`], or whose upper directory is also a lower one. A
    /// layer that is not a directory is ENOTDIR.
    pub fn new(layers: Layers, options: &str) -> VfsResult<Arc<OverlayFs>> {
        check_options(options)?;
        let Layers { mut lower, upper } = layers;
        if lower.is_empty() || lower.len() > MAX_LOWER_LAYERS {
            return Err(Errno::EINVAL);
        }
        // A read-only upper layer is only read: it is the topmost lower one.
        let upper = match upper {
            Some(layer) if layer.read_only => {
                lower.insert(0, layer);
                None
            }
            other => other,
        };
        for layer in upper.iter().chain(lower.iter()) {
            if layer.dir.file_type() != FileType::Directory {
                return Err(Errno::ENOTDIR);
            }
        }
        // As Linux: the upper directory cannot also be a lower one.
        if let Some(up) = &upper
            && lower.iter().any(|l| same_dir(l, up))
        {
            return Err(Errno::EINVAL);
        }
        let layer_count = u32::try_from(lower.len() + 1).map_err(|_| Errno::EINVAL)?;
        let shared = Arc::new(Shared {
            upper,
            lowers: lower,
            inos: InoMap::new(layer_count),
            nodes: NodeTable::new(),
            links: Mutex::new(HashMap::new()),
            ns: Mutex::new(()),
            temp_seq: AtomicU64::new(0),
            index_dir: Once::new(),
        });
        let root = root_node(&shared)?;
        Ok(Arc::new(OverlayFs { shared, root }))
    }

    /// Whether the overlay has a writable upper layer.
    pub fn has_upper(&self) -> bool {
        self.shared.upper.is_some()
    }
}

/// Whether two layers name the same directory of the same filesystem.
fn same_dir(a: &Layer, b: &Layer) -> bool {
    let fs_of = |l: &Layer| Arc::as_ptr(&l.fs).cast::<()>();
    fs_of(a) == fs_of(b) && a.dir.ino() == b.dir.ino()
}

/// Options this overlay accepts: Linux's spellings of what it does anyway.
fn check_options(options: &str) -> VfsResult<()> {
    for (key, value) in vfs::parse_options(options) {
        match (key, value) {
            ("index", Some("on"))
            | ("redirect_dir", Some("off" | "nofollow"))
            | ("metacopy", Some("off"))
            | ("xino", Some("off" | "auto"))
            | ("workdir", Some(_)) => {}
            _ => return Err(Errno::EINVAL),
        }
    }
    Ok(())
}

/// The root: the upper root over every lower root, down to an opaque one.
fn root_node(shared: &Arc<Shared>) -> VfsResult<Arc<OverlayInode>> {
    let upper = shared.upper.as_ref().map(|l| l.dir.clone());
    let mut lowers = Vec::new();
    let upper_opaque = match &upper {
        Some(dir) => layers::is_opaque(&**dir)?,
        None => false,
    };
    if !upper_opaque {
        for (i, layer) in shared.lowers.iter().enumerate() {
            let number = u32::try_from(i + 1).map_err(|_| Errno::EINVAL)?;
            lowers.push(Lower {
                layer: number,
                inode: layer.dir.clone(),
            });
            if i + 1 < shared.lowers.len() && layers::is_opaque(&*layer.dir)? {
                break;
            }
        }
    }
    shared.node_for(Found { upper, lowers }, None)
}

impl FileSystem for OverlayFs {
    fn root(&self) -> VfsResult<Arc<dyn Inode>> {
        Ok(self.root.clone())
    }

    fn fs_type(&self) -> &'static str {
        "overlay"
    }

    fn is_read_only(&self) -> bool {
        self.shared.upper.is_none()
    }

    fn statfs(&self) -> VfsResult<StatFs> {
        let top = match (&self.shared.upper, self.shared.lowers.first()) {
            (Some(layer), _) | (None, Some(layer)) => layer,
            (None, None) => return Err(Errno::EIO),
        };
        let mut figures = top.fs.statfs()?;
        figures.fs_type = OVERLAYFS_MAGIC;
        Ok(figures)
    }

    fn sync(&self) -> VfsResult<()> {
        match &self.shared.upper {
            Some(layer) => layer.fs.sync(),
            None => Ok(()),
        }
    }
}

/// The `"overlay"` filesystem type: an overlay of the layers the VFS
/// resolved from `lowerdir=`/`upperdir=` (EINVAL for any other source).
pub struct OverlayType;

impl FsType for OverlayType {
    fn name(&self) -> &'static str {
        "overlay"
    }

    fn create(&self, ctx: &MountContext) -> VfsResult<Arc<dyn FileSystem>> {
        match &ctx.source {
            MountSource::Layers(layers) => {
                let fs: Arc<dyn FileSystem> = OverlayFs::new(layers.clone(), &ctx.options)?;
                Ok(fs)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn diagnose(&self, ctx: &MountContext) -> Option<String> {
        match &ctx.source {
            MountSource::Layers(layers) if layers.lower.is_empty() => {
                Some(String::from("overlay needs at least one lowerdir= layer"))
            }
            MountSource::Layers(layers) if layers.lower.len() > MAX_LOWER_LAYERS => Some(format!(
                "overlay takes at most {MAX_LOWER_LAYERS} lower layers"
            )),
            MountSource::Layers(_) => check_options(&ctx.options)
                .err()
                .map(|_| format!("overlay: unsupported options {:?}", ctx.options)),
            _ => Some(String::from(
                "overlay needs lowerdir= (and upperdir= to be writable) options",
            )),
        }
    }
}
