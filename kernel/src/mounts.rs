//! Mounting the filesystems from the mount table at boot.
//!
//! Devices are resolved by the kernel, not through `/dev`: an entry whose
//! source is `/dev/NAME` is mounted by calling the filesystem's constructor
//! directly with the disk the kernel probed as NAME, then
//! [`Vfs::mount_fs`]. So the root can come from a disk before any devfs is
//! mounted (no temporary root, no pivot), and a custom table needs no devfs
//! entry to mount further disks. A `devfs` entry mounts the kernel's one
//! devfs instance (the one holding the probed disks and the console).
//!
//! Mount points must exist on the filesystem below them: images for this
//! kernel contain empty `/dev` and `/tmp` directories.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use drivers::BlockDevice;
use fs_devfs::DevFs;
use vfs::{
    AnyDevice, Errno, FileSystem, FsConstructor, MountContext, MountFlags, MountSource, Vfs,
};

use crate::fstab::{MountEntry, parse_etc_fstab};
use crate::{EXIT_NO_ROOT_DISK, EXIT_ROOT_MOUNT_FAILED};

/// Filesystem types the kernel registers, by name.
pub const FS_TYPES: &[(&str, FsConstructor)] = &[
    ("rofs", fs_rofs::new_fs),
    ("ramfs", fs_ramfs::new_fs),
    ("devfs", fs_devfs::new_fs),
];

/// A disk found at boot, named as in /dev (`vblk0`, ...).
pub struct Disk {
    pub name: String,
    pub device: Arc<dyn BlockDevice>,
}

/// What boot needs to mount things.
pub struct MountEnv<'a> {
    pub vfs: &'a Vfs,
    pub devfs: &'a Arc<DevFs>,
    pub disks: &'a [Disk],
}

/// A fatal mount failure: the exit code and the message to print.
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
}

fn mount_entry(env: &MountEnv, entry: &MountEntry) -> Result<(), Failure> {
    let flags = flags_of(entry);
    let src = entry.source.as_deref();
    match src {
        Some(path) => {
            let name = path.strip_prefix("/dev/").unwrap_or(path);
            let disk = env
                .disks
                .iter()
                .find(|d| d.name == name)
                .ok_or(Failure::NoDevice)?;
            let ctor = FS_TYPES
                .iter()
                .find(|(n, _)| *n == entry.fs_type)
                .map(|(_, c)| *c)
                .ok_or(Failure::Errno(
                    Errno::ENODEV,
                    "unknown filesystem type".to_string(),
                ))?;
            let device: AnyDevice = Arc::new(disk.device.clone());
            let ctx = MountContext {
                source: MountSource::Device {
                    name: path.to_string(),
                    device,
                },
                options: entry.options.clone(),
                clock: Arc::new(crate::time::KernelClock),
            };
            let fs: Arc<dyn FileSystem> = ctor(&ctx).map_err(|e| {
                let detail = if entry.fs_type == "rofs" {
                    match fs_rofs::inspect(&*disk.device) {
                        Err(why) => why.to_string(),
                        Ok(_) => String::new(),
                    }
                } else {
                    String::new()
                };
                Failure::Errno(e, detail)
            })?;
            env.vfs
                .mount_fs(fs, path, &entry.target, flags, &entry.options)
                .map_err(|e| Failure::Errno(e, String::new()))
        }
        None if entry.fs_type == "devfs" => {
            let fs: Arc<dyn FileSystem> = env.devfs.clone();
            env.vfs
                .mount_fs(fs, "none", &entry.target, flags, &entry.options)
                .map_err(|e| Failure::Errno(e, String::new()))
        }
        None => env
            .vfs
            .mount(None, &entry.target, &entry.fs_type, flags, &entry.options)
            .map_err(|e| Failure::Errno(e, String::new())),
    }
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
    }
}

/// Mount the root entry of `table`, then the rest in order. Returns the time
/// the root mount took, in ns. Only a root failure is fatal.
pub fn mount_table(env: &MountEnv, table: &[MountEntry]) -> Result<u64, Fatal> {
    let Some(root) = table.iter().find(|e| e.target == "/") else {
        return Err(Fatal {
            code: crate::EXIT_BAD_CMDLINE,
            message: "the mount table has no / entry".into(),
        });
    };
    let start = crate::time::now_ns();
    if let Err(f) = mount_entry(env, root) {
        let names: Vec<&str> = env.disks.iter().map(|d| d.name.as_str()).collect();
        return Err(match f {
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
            f => Fatal {
                code: EXIT_ROOT_MOUNT_FAILED,
                message: format!("cannot mount root {}: {}", describe(root), failure_text(&f)),
            },
        });
    }
    let root_ns = crate::time::now_ns() - start;
    log::info!("mounted {} in {} us", describe(root), root_ns / 1000);
    for entry in table.iter().filter(|e| e.target != "/") {
        mount_logged(env, entry, "");
    }
    Ok(root_ns)
}

fn mount_logged(env: &MountEnv, entry: &MountEntry, origin: &str) {
    match mount_entry(env, entry) {
        Ok(()) => log::info!("mounted {}{origin}", describe(entry)),
        Err(f) => {
            let hint = match f {
                Failure::Errno(Errno::ENOENT, _) => " (the mount point must exist in the image)",
                _ => "",
            };
            log::error!(
                "cannot mount {}{origin}: {}{hint}",
                describe(entry),
                failure_text(&f)
            );
        }
    }
}

/// Apply `/etc/fstab` if the root has one: entries for targets already
/// mounted are skipped, bad lines are reported with their number.
pub fn apply_etc_fstab(env: &MountEnv) {
    let text = match env.vfs.read_file("/etc/fstab") {
        Ok(bytes) => bytes,
        Err(Errno::ENOENT) => return,
        Err(e) => {
            log::warn!("/etc/fstab: {e}");
            return;
        }
    };
    let Ok(text) = core::str::from_utf8(&text) else {
        log::warn!("/etc/fstab: not UTF-8 text, ignored");
        return;
    };
    let (entries, errors) = parse_etc_fstab(text);
    for e in &errors {
        log::warn!("/etc/fstab:{}: {}; line skipped", e.line, e.message);
    }
    for entry in &entries {
        let mounted = env.vfs.mounts().iter().any(|m| m.target == entry.target);
        if mounted {
            log::debug!("/etc/fstab: {} already mounted, skipped", entry.target);
            continue;
        }
        mount_logged(env, entry, " (from /etc/fstab)");
    }
}
