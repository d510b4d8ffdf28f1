//! Mounting the filesystems from the mount table at boot.
//!
//! Every entry goes through the VFS the same way: [`register_types`] puts
//! each filesystem type (and the kernel's one devfs instance) in the VFS's
//! registry once, and each entry is a `Vfs::mount_source` call by type name.
//! Devices are resolved by the kernel, not through `/dev`: an entry whose
//! source is `/dev/NAME` gets the disk the kernel probed as NAME. So the root
//! can come from a disk before any devfs is mounted (no temporary root, no
//! pivot), and a custom table needs no devfs entry to mount further disks.
//!
//! Mount points must exist on the filesystem below them: images for this
//! kernel contain empty `/dev` and `/tmp` directories; on a shared root
//! (`root=virtiofs:TAG`) missing ones are made on the host directory.
//!
//! An entry with the `roothash=HEX` option gets its disk through the
//! verifying device ([`crate::verity`]); the type sees the other options.
//!
//! Hidden entries (target `@name`, mounted without a path, for use as
//! layers) come first, in table order, then `/`, then the rest: so a root
//! can be an overlay of hidden layers (`root=overlay` builds such a table,
//! [`crate::overlay_root`]). `/etc/fstab` is applied after the root, in file
//! order, so an overlay there names layers from lines above it (or paths:
//! `lowerdir=/etc` is resolved before the overlay covers `/etc`).
//!
//! To offer a new filesystem type, add it to [`register_types`]: that is the
//! one line a new filesystem crate needs here.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use drivers::BlockDevice;
use drivers::verity::{Digest, VerityDevice};
use fs_devfs::{DevFs, DevFsType};
use vfs::{Errno, MountFlags, MountSource, Vfs};

use crate::fstab::source_is_tag;
use crate::fstab::{MountEntry, parse_etc_fstab_bytes};
use crate::verity;
use crate::{EXIT_BAD_CMDLINE, EXIT_NO_ROOT_DISK, EXIT_ROOT_MOUNT_FAILED, EXIT_ROOT_VERIFY_FAILED};
use crate::{Platform, Share};

/// Register every filesystem type the kernel offers; `devfs` is the kernel's
/// own instance (with the probed disks and the console) at every mount.
/// `shares` are the virtio-fs devices the platform found, mounted by tag.
pub fn register_types(vfs: &Vfs, devfs: &Arc<DevFs>, shares: &[Share]) {
    let devices = shares
        .iter()
        .map(|s| (s.tag.clone(), s.transport.clone()))
        .collect();
    let types: [Arc<dyn vfs::FsType>; 5] = [
        Arc::new(fs_rofs::RofsType),
        Arc::new(fs_ramfs::RamFsType),
        Arc::new(DevFsType::Shared(devfs.clone())),
        Arc::new(fs_overlay::OverlayType),
        Arc::new(fs_virtiofs::VirtioFsType::new(devices)),
    ];
    for fs_type in types {
        if let Err(e) = vfs.register(fs_type.clone()) {
            log::error!("cannot register filesystem type {}: {e}", fs_type.name());
        }
    }
}

/// A disk found at boot, named as in /dev (`vblk0`, ...).
pub struct Disk {
    pub name: String,
    pub device: Arc<dyn BlockDevice>,
}

/// What boot needs to mount things.
pub struct MountEnv<'a> {
    pub vfs: &'a Vfs,
    pub disks: &'a [Disk],
    /// For the time the root mount takes.
    pub platform: &'a dyn Platform,
}

/// A fatal mount failure: the exit code and the message to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fatal {
    pub code: u32,
    pub message: String,
}

fn flags_of(entry: &MountEntry) -> MountFlags {
    if entry.read_only {
        MountFlags::RDONLY
    } else {
        MountFlags::empty()
    }
}

/// Why an entry could not be mounted.
enum Failure {
    NoDevice,
    Errno(Errno, String),
    /// `roothash=` was given and the disk failed verification: why.
    Verify(String),
}

/// The source of `entry`: the probed disk it names (through the verifying
/// device, also returned, when `root` is given), or nothing.
fn source_of(
    env: &MountEnv,
    entry: &MountEntry,
    root: Option<Digest>,
) -> Result<(MountSource, Option<Arc<VerityDevice>>), Failure> {
    let Some(path) = entry.source.as_deref() else {
        if root.is_some() {
            return Err(Failure::Errno(
                Errno::EINVAL,
                "roothash= needs a device source".to_string(),
            ));
        }
        return Ok((MountSource::None, None));
    };
    if source_is_tag(&entry.fs_type) {
        // The type finds its device by tag and names an unknown one.
        if root.is_some() {
            return Err(Failure::Errno(
                Errno::EINVAL,
                "roothash= needs a block device source".to_string(),
            ));
        }
        return Ok((MountSource::Named(path.to_string()), None));
    }
    let name = path.strip_prefix("/dev/").unwrap_or(path);
    let disk = env
        .disks
        .iter()
        .find(|d| d.name == name)
        .ok_or(Failure::NoDevice)?;
    let prepared = verity::prepare(name, disk.device.clone(), root)
        .map_err(|e| Failure::Verify(e.to_string()))?;
    let source = MountSource::Device {
        name: path.to_string(),
        device: prepared.device,
    };
    Ok((source, prepared.verifier))
}

fn mount_entry(env: &MountEnv, entry: &MountEntry) -> Result<(), Failure> {
    let (root, options) =
        verity::split_options(&entry.options).map_err(|e| Failure::Errno(Errno::EINVAL, e))?;
    let (source, verifier) = source_of(env, entry, root)?;
    env.vfs
        .mount_source(
            source.clone(),
            &entry.target,
            &entry.fs_type,
            flags_of(entry),
            &options,
        )
        .map_err(|e| {
            // The tree opened, but a block the filesystem read while
            // mounting did not match it: the data disagrees with the tree.
            if verifier.is_some_and(|v| v.stats().failures > 0) {
                return Failure::Verify(format!(
                    "the data disagrees with the hash tree: a block read while mounting fails verification ({})",
                    e.name()
                ));
            }
            let detail = env
                .vfs
                .diagnose_mount(&source, &entry.fs_type, &options)
                .unwrap_or_default();
            Failure::Errno(e, detail)
        })
}

fn describe(entry: &MountEntry) -> String {
    format!(
        "{} on {} type {} ({}{}{})",
        entry.source.as_deref().unwrap_or("none"),
        entry.target,
        entry.fs_type,
        if entry.read_only { "ro" } else { "rw" },
        if entry.options.is_empty() { "" } else { "," },
        entry.options
    )
}

fn failure_text(f: &Failure) -> String {
    match f {
        Failure::NoDevice => "no such device".to_string(),
        Failure::Errno(e, detail) if detail.is_empty() => format!("{e}"),
        Failure::Errno(e, detail) => format!("{e}: {detail}"),
        Failure::Verify(why) => format!("verification failed: {why}"),
    }
}

fn is_hidden(entry: &MountEntry) -> bool {
    entry.target.starts_with('@')
}

/// Mount the hidden entries (`@name`) of `table` in table order, then its
/// root entry, then the rest in order, so a root can stack on hidden
/// layers. Returns the time the root and its layers took, in ns. Only a
/// root failure is fatal, and the failure of a hidden entry the root names
/// as a layer (`lowerdir=`, `upperdir=`) counts as one.
pub fn mount_table(env: &MountEnv, table: &[MountEntry]) -> Result<u64, Fatal> {
    let Some(root) = table.iter().find(|e| e.target == "/") else {
        return Err(Fatal {
            code: EXIT_BAD_CMDLINE,
            message: "the mount table has no / entry".into(),
        });
    };
    let start = env.platform.now_ns();
    for entry in table.iter().filter(|e| is_hidden(e)) {
        let needed = crate::overlay_root::layer_words(root).any(|w| w == entry.target);
        match mount_entry(env, entry) {
            Ok(()) => log::info!("mounted {}", describe(entry)),
            Err(f) if needed => return Err(root_fatal(env, entry, f)),
            Err(f) => log_failure(entry, "", &f),
        }
    }
    if let Err(f) = mount_entry(env, root) {
        return Err(root_fatal(env, root, f));
    }
    let root_ns = env.platform.now_ns().saturating_sub(start);
    log::info!("mounted {} in {} us", describe(root), root_ns / 1000);
    let share_root = source_is_tag(&root.fs_type) && !root.read_only;
    for entry in table.iter().filter(|e| e.target != "/" && !is_hidden(e)) {
        if share_root {
            make_mount_point(env.vfs, &entry.target);
        }
        mount_logged(env, entry, "");
    }
    Ok(root_ns)
}

/// On a host directory as `/` (`root=virtiofs:TAG`), a mount point the
/// directory lacks (`/dev`, `/tmp`) is made there, once, and said so.
fn make_mount_point(vfs: &Vfs, target: &str) {
    if vfs.lstat(target) != Err(Errno::ENOENT) {
        return;
    }
    match vfs.mkdir(target, 0o755) {
        Ok(()) => log::info!("made the mount point {target} on the shared root"),
        Err(e) => log::warn!("cannot make the mount point {target} on the shared root: {e}"),
    }
}

/// The fatal error for `root` (the root entry or a layer of it) failing.
fn root_fatal(env: &MountEnv, root: &MountEntry, f: Failure) -> Fatal {
    let names: Vec<&str> = env.disks.iter().map(|d| d.name.as_str()).collect();
    match f {
        Failure::NoDevice => Fatal {
            code: EXIT_NO_ROOT_DISK,
            message: format!(
                "no root disk: {} not found (disks found: {})",
                root.source.as_deref().unwrap_or("?"),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        },
        Failure::Verify(why) => Fatal {
            code: EXIT_ROOT_VERIFY_FAILED,
            message: format!(
                "root verification failed: {}: {why}",
                root.source.as_deref().unwrap_or("?")
            ),
        },
        f => Fatal {
            code: EXIT_ROOT_MOUNT_FAILED,
            message: format!("cannot mount root {}: {}", describe(root), failure_text(&f)),
        },
    }
}

fn mount_logged(env: &MountEnv, entry: &MountEntry, origin: &str) {
    match mount_entry(env, entry) {
        Ok(()) => log::info!("mounted {}{origin}", describe(entry)),
        Err(f) => log_failure(entry, origin, &f),
    }
}

fn log_failure(entry: &MountEntry, origin: &str, f: &Failure) {
    let hint = match f {
        Failure::Errno(Errno::ENOENT, _) if !is_hidden(entry) => {
            " (the mount point must exist in the image)"
        }
        _ => "",
    };
    log::error!(
        "cannot mount {}{origin}: {}{hint}",
        describe(entry),
        failure_text(f)
    );
}

/// Whether `target` is already the root of a mount: compared through the
/// VFS by device and inode, so `/tmp/`, `//tmp` and `/tmp/../tmp` all find
/// the mount on `/tmp`.
fn already_mounted(vfs: &Vfs, target: &str) -> bool {
    let Ok(there) = vfs.stat(target) else {
        return false;
    };
    vfs.mounts()
        .iter()
        .filter(|m| !m.target.starts_with('@'))
        .filter_map(|m| vfs.stat(&m.target).ok())
        .any(|root| root.dev == there.dev && root.ino == there.ino)
}

/// Apply `/etc/fstab` if the root has one: entries for targets already
/// mounted are skipped, bad lines (not UTF-8 included) are reported with
/// their number and skipped.
pub fn apply_etc_fstab(env: &MountEnv) {
    let text = match env.vfs.read_file("/etc/fstab") {
        Ok(bytes) => bytes,
        Err(Errno::ENOENT) => return,
        Err(e) => {
            log::warn!("/etc/fstab: {e}");
            return;
        }
    };
    let (entries, errors) = parse_etc_fstab_bytes(&text);
    for e in &errors {
        log::warn!("/etc/fstab:{}: {}; line skipped", e.line, e.message);
    }
    for entry in &entries {
        if already_mounted(env.vfs, &entry.target) {
            log::debug!("/etc/fstab: {} already mounted, skipped", entry.target);
            continue;
        }
        mount_logged(env, entry, " (from /etc/fstab)");
    }
}
