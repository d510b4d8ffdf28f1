//! QEMU's virtiofsd on a host directory, for boots with a virtio-fs share.
//!
//! [`Virtiofsd::start`] runs
//! `/usr/lib/qemu/virtiofsd --socket-path=SOCK -o source=DIR -o cache=none`
//! (or another `cache=` mode)
//! (it needs root), waits for its socket, and says why when it cannot
//! start; the daemon serves one QEMU connection and exits when QEMU goes.
//! Dropping the value stops it if it still runs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Where QEMU 7.2 from apt puts the daemon.
pub const VIRTIOFSD: &str = "/usr/lib/qemu/virtiofsd";

/// How long the socket may take to appear.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running virtiofsd.
pub struct Virtiofsd {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Virtiofsd {
    /// Serve `dir` on the socket `socket` (removed first if left over),
    /// `-o cache=none`; the daemon's output goes to `socket` with `.log`
    /// appended.
    pub fn start(dir: &Path, socket: &Path) -> Result<Virtiofsd, String> {
        Virtiofsd::start_with_cache(dir, socket, "none")
    }

    /// As [`Virtiofsd::start`] with `-o cache=CACHE` (`none`, `auto`,
    /// `always`).
    pub fn start_with_cache(dir: &Path, socket: &Path, cache: &str) -> Result<Virtiofsd, String> {
        if !Path::new(VIRTIOFSD).is_file() {
            return Err(format!(
                "{VIRTIOFSD} not found: install QEMU from apt (tests/setup.sh)"
            ));
        }
        let _ = std::fs::remove_file(socket);
        let log = PathBuf::from(format!("{}.log", socket.display()));
        let out = File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(VIRTIOFSD)
            .arg(format!("--socket-path={}", socket.display()))
            .args(["-o", &format!("source={}", dir.display())])
            .args(["-o", &format!("cache={cache}")])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start {VIRTIOFSD}: {e}"))?;
        let mut daemon = Virtiofsd {
            child,
            socket: socket.to_path_buf(),
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while !daemon.socket.exists() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                return Err(format!(
                    "{VIRTIOFSD} exited ({status}) before making its socket (it must run as root): {}",
                    daemon.output().trim()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{VIRTIOFSD} made no socket {} in {START_TIMEOUT:?}: {}",
                    daemon.socket.display(),
                    daemon.output().trim()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(daemon)
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// What the daemon printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kill the daemon at once, as a crash would (the vanished-daemon test).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop the daemon now (it normally exits with QEMU): its exit status,
    /// None if it had to be killed.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Virtiofsd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}
