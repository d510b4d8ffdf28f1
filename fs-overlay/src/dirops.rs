//! Namespace changes: lookup, create, mkdir, symlink, link, unlink, rmdir
//! and rename, with whiteouts and opaque directories.
//!
//! Every change runs under the overlay's `ns` lock and makes each state
//! change in the upper layer with one call where it can (a new object over
//! a whiteout is made under a temporary name and renamed over it; a removed
//! name that a lower layer also has is replaced by a whiteout made under a
//! temporary name), so a concurrent lookup sees the state before or after.
//! The exception is a directory replacing a whiteout (the upper layer
//! cannot rename a directory over a device): between the unlink of the
//! whiteout and the rename, a lookup finds the name as if not yet made.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use vfs::{Errno, FileType, Inode, VfsResult};

use crate::copyup::discard;
use crate::inode::{OverlayInode, Place};
use crate::layers::{
    self, Found, OPAQUE_MARKER, WHITEOUT_MODE, WHITEOUT_RDEV, find, is_opaque, is_reserved,
    is_whiteout,
};
use crate::links::LinkState;
use crate::readdir;
use crate::{NsGuard, Shared};

/// EPERM for the overlay's own names (see "reserved names").
fn check_new_name(name: &str) -> VfsResult<()> {
    if is_reserved(name) {
        Err(Errno::EPERM)
    } else {
        Ok(())
    }
}

/// What the upper directory `dir` holds at `name`: nothing, a whiteout,
/// or an entry.
enum UpperEntry {
    Free,
    Whiteout,
    Entry,
}

fn upper_entry(dir: &dyn Inode, name: &str) -> VfsResult<UpperEntry> {
    Ok(match find(dir, name)? {
        None => UpperEntry::Free,
        Some(inode) if is_whiteout(&*inode)? => UpperEntry::Whiteout,
        Some(_) => UpperEntry::Entry,
    })
}

fn make_whiteout(dir: &dyn Inode, name: &str) -> VfsResult<()> {
    dir.create(name, WHITEOUT_MODE, WHITEOUT_RDEV).map(|_| ())
}

/// Put a new object made by `make` at `name` in upper directory `dir`. Over
/// a whiteout, or when `whole` (an opaque directory must appear with its
/// marker), it is made under a temporary name and renamed into place.
fn place_new(
    fs: &Shared,
    dir: &Arc<dyn Inode>,
    name: &str,
    whole: bool,
    make: impl FnOnce(&Arc<dyn Inode>, &str) -> VfsResult<Arc<dyn Inode>>,
) -> VfsResult<Arc<dyn Inode>> {
    let over_whiteout = match upper_entry(&**dir, name)? {
        UpperEntry::Free => false,
        UpperEntry::Whiteout => true,
        UpperEntry::Entry => return Err(Errno::EEXIST),
    };
    if !over_whiteout && !whole {
        return make(dir, name);
    }
    let temp = fs.temp_name();
    let made = make(dir, &temp)?;
    let placed = if over_whiteout && made.file_type() == FileType::Directory {
        // A directory cannot replace a device in one rename.
        dir.unlink(name).and_then(|()| {
            dir.rename(&temp, dir, name).inspect_err(|_| {
                let _ = make_whiteout(&**dir, name);
            })
        })
    } else {
        dir.rename(&temp, dir, name)
    };
    match placed {
        Ok(()) => Ok(made),
        Err(e) => {
            discard(&**dir, &temp);
            Err(e)
        }
    }
}

/// Replace the entry `name` of upper directory `dir` by a whiteout. For a
/// directory (`emptied`: its upper directory, empty in the merged view),
/// its hidden entries go only once the whiteout is made, so a failure
/// leaves it as it was.
fn replace_with_whiteout(
    fs: &Shared,
    dir: &Arc<dyn Inode>,
    name: &str,
    emptied: Option<&dyn Inode>,
) -> VfsResult<()> {
    let temp = fs.temp_name();
    make_whiteout(&**dir, &temp)?;
    let replaced = match emptied {
        Some(child) => clear_hidden(child)
            .and_then(|()| dir.rmdir(name))
            .and_then(|()| dir.rename(&temp, dir, name)),
        None => dir.rename(&temp, dir, name),
    };
    if replaced.is_err() {
        discard(&**dir, &temp);
    }
    replaced
}

/// Remove the overlay's hidden entries (whiteouts, the opaque marker) from
/// an upper directory that is empty in the merged view, so the upper
/// layer can remove or replace it.
fn clear_hidden(dir: &dyn Inode) -> VfsResult<()> {
    let mut names: Vec<(String, FileType)> = Vec::new();
    let mut cookie = 0;
    let mut failed = None;
    loop {
        let start = cookie;
        dir.readdir(cookie, &mut |entry, next| {
            cookie = next;
            if is_reserved(entry.name) || entry.file_type == FileType::CharDevice {
                if names.try_reserve(1).is_err() {
                    failed = Some(Errno::ENOMEM);
                    return false;
                }
                names.push((String::from(entry.name), entry.file_type));
            }
            true
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        if cookie == start {
            break;
        }
    }
    for (name, file_type) in names {
        if is_reserved(&name) {
            discard(dir, &name);
        } else if layers::names_whiteout(dir, &name, file_type)? {
            dir.unlink(&name)?;
        } else {
            return Err(Errno::ENOTEMPTY);
        }
    }
    Ok(())
}

impl OverlayInode {
    /// The node for `name` in this directory.
    pub(crate) fn lookup_node(&self, name: &str) -> VfsResult<Arc<OverlayInode>> {
        if !self.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if is_reserved(name) {
            return Err(Errno::ENOENT);
        }
        let found = layers::resolve(self.upper.get(), &self.lowers, name)?.ok_or(Errno::ENOENT)?;
        let place = match found.upper {
            Some(_) => None,
            None => Some(Place {
                parent: self.this()?,
                name: name.into(),
            }),
        };
        self.fs.node_for(found, place)
    }

    /// Whether a lower layer of this directory shows `name` (so removing it
    /// from the upper layer needs a whiteout).
    fn lower_has(&self, name: &str) -> VfsResult<bool> {
        for dir in self.lowers.iter() {
            if let Some(inode) = find(&*dir.inode, name)? {
                return Ok(!is_whiteout(&*inode)?);
            }
        }
        Ok(false)
    }

    fn new_upper_node(&self, inode: Arc<dyn Inode>) -> VfsResult<Arc<OverlayInode>> {
        let found = Found {
            upper: Some(inode),
            lowers: Vec::new(),
        };
        self.fs.node_for(found, None)
    }

    pub(crate) fn create_node(
        &self,
        name: &str,
        mode: u32,
        rdev: u64,
    ) -> VfsResult<Arc<OverlayInode>> {
        check_new_name(name)?;
        // As Linux: a whiteout cannot be made through the overlay.
        if FileType::from_mode(mode) == Some(FileType::CharDevice) && rdev == WHITEOUT_RDEV {
            return Err(Errno::EPERM);
        }
        let ns = self.fs.ns.lock();
        let dir = self.copy_up_locked(&ns, None)?;
        let inode = place_new(&self.fs, &dir, name, false, |d, n| d.create(n, mode, rdev))?;
        self.new_upper_node(inode)
    }

    pub(crate) fn mkdir_node(&self, name: &str, mode: u32) -> VfsResult<Arc<OverlayInode>> {
        check_new_name(name)?;
        let ns = self.fs.ns.lock();
        let dir = self.copy_up_locked(&ns, None)?;
        // As Linux: a directory made where lower layers are is opaque, so
        // nothing of an earlier directory of the same name shows through.
        let opaque = !self.lowers.is_empty();
        let inode = place_new(&self.fs, &dir, name, opaque, |d, n| {
            let made = d.mkdir(n, mode)?;
            if opaque && let Err(e) = make_whiteout(&*made, OPAQUE_MARKER) {
                let _ = d.rmdir(n);
                return Err(e);
            }
            Ok(made)
        })?;
        self.new_upper_node(inode)
    }

    pub(crate) fn symlink_node(&self, name: &str, target: &str) -> VfsResult<Arc<OverlayInode>> {
        check_new_name(name)?;
        let ns = self.fs.ns.lock();
        let dir = self.copy_up_locked(&ns, None)?;
        let inode = place_new(&self.fs, &dir, name, false, |d, n| d.symlink(n, target))?;
        self.new_upper_node(inode)
    }

    pub(crate) fn link_node(&self, name: &str, target: &Arc<dyn Inode>) -> VfsResult<()> {
        check_new_name(name)?;
        let target = self.same_fs(target)?;
        if target.is_dir() {
            return Err(Errno::EPERM);
        }
        let ns = self.fs.ns.lock();
        let dir = self.copy_up_locked(&ns, None)?;
        let copy = target.copy_up_locked(&ns, None)?;
        place_new(&self.fs, &dir, name, false, |d, n| {
            d.link(n, &copy).map(|()| copy.clone())
        })?;
        Ok(())
    }

    fn same_fs<'a>(&self, other: &'a Arc<dyn Inode>) -> VfsResult<&'a OverlayInode> {
        let other = other
            .as_any()
            .downcast_ref::<OverlayInode>()
            .ok_or(Errno::EXDEV)?;
        if Arc::ptr_eq(&other.fs, &self.fs) {
            Ok(other)
        } else {
            Err(Errno::EXDEV)
        }
    }

    /// unlink (`dir` false) or rmdir (`dir` true) of `name`.
    pub(crate) fn remove_name(&self, name: &str, dir: bool) -> VfsResult<()> {
        let ns = self.fs.ns.lock();
        let child = self.lookup_node(name)?;
        match (dir, child.is_dir()) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            (true, true) if !readdir::is_empty(&child)? => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        let lower_has = self.lower_has(name)?;
        let parent = if lower_has {
            self.copy_up_locked(&ns, None)?
        } else {
            self.upper.get().cloned().ok_or(Errno::EIO)?
        };
        let in_upper = matches!(upper_entry(&*parent, name)?, UpperEntry::Entry);
        let emptied = match child.upper.get() {
            Some(upper) if dir && in_upper => Some(&**upper),
            _ => None,
        };
        match (in_upper, lower_has) {
            (true, true) => replace_with_whiteout(&self.fs, &parent, name, emptied)?,
            (true, false) if dir => {
                if let Some(upper) = emptied {
                    clear_hidden(upper)?;
                }
                parent.rmdir(name)?
            }
            (true, false) => parent.unlink(name)?,
            (false, true) => make_whiteout(&*parent, name)?,
            (false, false) => return Err(Errno::ENOENT),
        }
        child.name_gone(&ns, in_upper, self, name);
        Ok(())
    }

    /// The name `name` of this object in `parent` went away: an upper entry
    /// (`in_upper`) or a lower name now covered by a whiteout or another
    /// object.
    fn name_gone(&self, ns: &NsGuard<'_>, in_upper: bool, parent: &OverlayInode, name: &str) {
        parent.forget_linked_name(name);
        if self.is_dir() {
            self.removed.store(true, Ordering::Release);
        } else if !in_upper {
            match &self.link {
                Some(link) => self.cover_lower_name(ns, link, parent, name),
                None => self.removed.store(true, Ordering::Release),
            }
        }
        let gone = self.removed.load(Ordering::Acquire)
            || self.getattr().map_or(true, |stat| stat.nlink == 0);
        if gone {
            if let Some(upper) = self.upper.get() {
                self.fs.inos.forget_origin(upper.ino());
            }
            self.fs.nodes.forget(self);
        }
    }

    /// Count the covered lower name `name` in `parent` of a hard-linked
    /// object; drop its index entry once no lower name is left.
    pub(crate) fn cover_lower_name(
        &self,
        ns: &NsGuard<'_>,
        link: &LinkState,
        parent: &OverlayInode,
        name: &str,
    ) {
        self.forget_place_if(parent, name);
        if let Some(index_name) = link.cover_one() {
            let removed = self
                .fs
                .index_dir(ns)
                .and_then(|index| index.unlink(&index_name));
            if removed.is_err() {
                link.restore_index_name(index_name);
            }
        }
        if link.all_covered() {
            self.fs.links.lock().remove(&link.ino);
        }
    }

    pub(crate) fn rename_node(
        &self,
        old_name: &str,
        new_dir: &Arc<dyn Inode>,
        new_name: &str,
    ) -> VfsResult<()> {
        check_new_name(new_name)?;
        let new_dir = self.same_fs(new_dir)?;
        let ns = self.fs.ns.lock();
        let source = self.lookup_node(old_name)?;
        // As Linux without redirect_dir: a directory with a lower part stays.
        if source.is_dir() && !source.is_pure_upper() {
            return Err(Errno::EXDEV);
        }
        let target = match new_dir.lookup_node(new_name) {
            Ok(node) => Some(node),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(e),
        };
        if let Some(target) = &target {
            // Two names of one object: nothing to do, but see `links`.
            if target.number == source.number {
                self.move_linked_name(old_name, new_dir, new_name);
                return Ok(());
            }
            match (source.is_dir(), target.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !readdir::is_empty(target)? => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        let old_lower = self.lower_has(old_name)?;
        let old_dir = self.copy_up_locked(&ns, None)?;
        if !matches!(upper_entry(&*old_dir, old_name)?, UpperEntry::Entry) {
            // A lower name: copying it up gives it an upper entry here.
            source.copy_up_locked(&ns, None)?;
            if !matches!(upper_entry(&*old_dir, old_name)?, UpperEntry::Entry) {
                return Err(Errno::EIO);
            }
        }
        let source_upper = source.upper.get().cloned().ok_or(Errno::EIO)?;
        let target_dir = new_dir.copy_up_locked(&ns, None)?;
        let target_entry = upper_entry(&*target_dir, new_name)?;
        let target_in_upper = matches!(target_entry, UpperEntry::Entry);
        // As Linux: a directory moved where lower layers are becomes opaque.
        if source.is_dir() && !new_dir.lowers.is_empty() && !is_opaque(&*source_upper)? {
            make_whiteout(&*source_upper, OPAQUE_MARKER)?;
        }
        let unwhited = source.is_dir() && matches!(target_entry, UpperEntry::Whiteout);
        if unwhited {
            target_dir.unlink(new_name)?;
        }
        let restore_target = || {
            if unwhited {
                let _ = make_whiteout(&*target_dir, new_name);
            }
        };
        let old_whiteout = if old_lower {
            let temp = self.fs.temp_name();
            if let Err(e) = make_whiteout(&*old_dir, &temp) {
                restore_target();
                return Err(e);
            }
            Some(temp)
        } else {
            None
        };
        // A replaced directory loses its hidden entries last, just before
        // the rename (whose other checks are all done).
        let emptied = match &target {
            Some(target) if target.is_dir() && target_in_upper => target.upper.get().cloned(),
            _ => None,
        };
        let renamed = match &emptied {
            Some(upper) => clear_hidden(&**upper),
            None => Ok(()),
        }
        .and_then(|()| old_dir.rename(old_name, &target_dir, new_name));
        if let Err(e) = renamed {
            if let Some(temp) = &old_whiteout {
                discard(&*old_dir, temp);
            }
            restore_target();
            return Err(e);
        }
        self.forget_linked_name(old_name);
        if let Some(temp) = old_whiteout {
            old_dir.rename(&temp, &old_dir, old_name)?;
        }
        if let Some(target) = target {
            target.name_gone(&ns, target_in_upper, new_dir, new_name);
        }
        Ok(())
    }
}
