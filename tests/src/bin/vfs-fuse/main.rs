//! `vfs-fuse DIR [--size BYTES]`: mount our VFS, with a ramfs at `/`, on a
//! host directory through FUSE, so ordinary programs and external POSIX
//! test suites run against the VFS code. Runs in the foreground until
//! SIGINT or SIGTERM (which unmount) or until DIR is unmounted.
//!
//! Needs `/dev/fuse`; as root it mounts with mount(2) (no libfuse, no
//! fusermount). See [`ops`] for which permission checks apply.

#![forbid(unsafe_code)]

mod attr;
mod nodes;
mod ops;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use fuser::{Config, MountOption, SessionACL};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use vfs::{Clock, MountFlags, Vfs};

#[derive(Parser)]
#[command(
    name = "vfs-fuse",
    about = "Mount the VFS (ramfs at /) on a host directory through FUSE"
)]
struct Args {
    /// Where to mount.
    dir: PathBuf,
    /// Limit the ramfs's file data (bytes; K, M, G suffixes).
    #[arg(long)]
    size: Option<String>,
}

fn run(args: Args) -> Result<(), String> {
    let limit = match &args.size {
        Some(text) => {
            Some(vfs::parse_size(text).ok_or_else(|| format!("--size '{text}': not a size"))?)
        }
        None => None,
    };
    let clock: Arc<dyn Clock> = Arc::new(tests::HostClock);
    let ramfs = fs_ramfs::RamFs::new(clock.clone(), limit);
    let vfs = Vfs::new(clock.clone());
    vfs.mount_fs(ramfs.clone(), "ramfs", "/", MountFlags::empty(), "")
        .map_err(|e| format!("mounting ramfs on /: {e}"))?;
    let fs = ops::VfsFuse::new(vfs, ramfs, clock).map_err(|e| format!("stat /: {e}"))?;
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("vfs".to_string()),
        MountOption::Subtype("vfs".to_string()),
        MountOption::DefaultPermissions,
        MountOption::Dev,
    ];
    config.acl = SessionACL::All;
    let dir = args.dir.display().to_string();
    let mut session = fuser::Session::new(fs, &args.dir, &config)
        .map_err(|e| format!("cannot mount on '{dir}': {e}"))?;
    let mut unmounter = session.unmount_callable();
    let mut signals =
        Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("cannot catch signals: {e}"))?;
    let handle = signals.handle();
    let shown = dir.clone();
    let waiter = std::thread::spawn(move || {
        for _ in signals.forever() {
            match unmounter.unmount() {
                Ok(()) => return,
                Err(e) => eprintln!("vfs-fuse: cannot unmount '{shown}': {e} (still mounted)"),
            }
        }
    });
    let result = session.run();
    handle.close();
    let _ = waiter.join();
    result.map_err(|e| format!("serving '{dir}': {e}"))
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vfs-fuse: {e}");
            ExitCode::FAILURE
        }
    }
}
