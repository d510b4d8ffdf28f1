//! `mkimage mount IMAGE DIR`: serve an image read-only on a host directory
//! through FUSE ([`crate::fuse_image`]), with `fuser`'s own mount code (no
//! libfuse: as root it mounts with mount(2); otherwise it needs
//! `fusermount3`).
//!
//! In the foreground it runs until SIGINT or SIGTERM, which unmount cleanly
//! (a busy mount stays and says so; the next signal tries again), or until
//! someone else unmounts DIR (`umount DIR`, `fusermount3 -u DIR`). With
//! `--daemon` it starts itself again in the background, in its own process
//! group, and returns once that copy has mounted the image.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use fuser::{Config, MountOption, SessionACL};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::CliError;
use crate::fuse_image::ImageFs;

/// Set in the environment of the background copy started by `--daemon`: it
/// prints [`READY`] on stdout once mounted.
const READY_ENV: &str = "MKIMAGE_MOUNT_NOTIFY";
const READY: &str = "mounted";

pub fn run(
    image: &Path,
    root_hash: Option<&str>,
    dir: &Path,
    daemon: bool,
) -> Result<(), CliError> {
    if daemon {
        return spawn_daemon(image, root_hash, dir);
    }
    let fs = crate::inspect::mount(image, root_hash)?;
    let fs = ImageFs::new(fs).map_err(|e| CliError::msg(format!("{}: /: {e}", image.display())))?;
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::RO,
        MountOption::FSName(image.display().to_string()),
        MountOption::Subtype("rofs".to_string()),
        // The kernel checks mode bits and owners against what the image says.
        MountOption::DefaultPermissions,
        MountOption::NoDev,
    ];
    config.acl = SessionACL::All;
    let mount_err =
        |e: std::io::Error| CliError::msg(format!("cannot mount on '{}': {e}", dir.display()));
    let mut session = fuser::Session::new(fs, dir, &config).map_err(mount_err)?;
    let mut unmounter = session.unmount_callable();
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| CliError::msg(format!("cannot catch signals: {e}")))?;
    let signal_handle = signals.handle();
    let shown = dir.display().to_string();
    let waiter = std::thread::spawn(move || {
        for _ in signals.forever() {
            match unmounter.unmount() {
                Ok(()) => return,
                Err(e) => eprintln!("mkimage: cannot unmount '{shown}': {e} (still mounted)"),
            }
        }
    });
    if std::env::var_os(READY_ENV).is_some() {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{READY}").and_then(|()| out.flush());
        // The starter exits now and closes its end of our stderr: later
        // messages would fail (and eprintln! would panic).
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            let _ = rustix::stdio::dup2_stderr(&null);
            let _ = rustix::stdio::dup2_stdout(&null);
        }
    }
    let result = session.run();
    signal_handle.close();
    let _ = waiter.join();
    result.map_err(|e| CliError::msg(format!("serving '{}': {e}", dir.display())))
}

/// Start `mkimage mount IMAGE DIR` again in the background and wait until
/// it says it has mounted (or has failed, with its own message on stderr).
fn spawn_daemon(image: &Path, root_hash: Option<&str>, dir: &Path) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::msg(format!("cannot find mkimage itself: {e}")))?;
    let mut command = Command::new(exe);
    command
        .arg("mount")
        .arg(image)
        .arg(dir)
        .args(
            root_hash
                .map(|hex| ["--root-hash", hex])
                .into_iter()
                .flatten(),
        )
        .env(READY_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group: a Ctrl-C at the terminal does not reach it.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| CliError::msg(format!("cannot start the background mount: {e}")))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    if line.trim() == READY {
        return Ok(());
    }
    // It ended before mounting: pass on its own message.
    let mut why = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut why);
    }
    let status = child
        .wait()
        .map_err(|e| CliError::msg(format!("background mount: {e}")))?;
    let why = why.trim().trim_start_matches("mkimage: ").to_string();
    Err(CliError::msg(if why.is_empty() {
        format!(
            "background mount of '{}' on '{}' failed ({status})",
            image.display(),
            dir.display()
        )
    } else {
        why
    }))
}
