//! `--tar FILE`: a tar archive (ustar, pax, GNU; gzipped or not, found by
//! its magic bytes; `-` is stdin) unpacked at the guest root, one layer per
//! `--tar`, lowest first, the way a container runtime stacks OCI layers.
//!
//! Members keep their type, mode, owner and time (pax `uid`/`gid`/`mtime`
//! records win over the header, and pax times keep their nanoseconds);
//! hard links stay hard links; sockets, fifos and device nodes are collected
//! for [`crate::build`] to refuse or skip. OCI whiteouts: a member
//! `DIR/.wh.NAME` removes `DIR/NAME` (and all below it) put there by lower
//! layers, and `DIR/.wh..wh..opq` hides everything lower layers put below
//! `DIR`; neither is stored. Other `.wh..wh.*` names (aufs bookkeeping) are
//! skipped.
//!
//! The archive is read once, front to back; kept members' data go to the
//! build's [`Spill`], so memory does not grow with the archive. A truncated
//! or corrupt archive fails the build with a message naming the member.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read};
use std::path::Path;

use tar::EntryType;
use vfs::FileType;

use crate::manifest::{NAME_MAX, Origin, check_symlink_target};
use crate::plan::{Entry, Plan, Source, What};
use crate::policy::InputPolicy;
use crate::spill::{Spill, Spilled};

/// Read-ahead of the archive: large reads, few system calls.
const READ_BUFFER: usize = 1 << 20;
/// Devices of tar hard-link keys: no host device has this number.
const TAR_LINK_DEV: u64 = u64::MAX;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Unpack the archive `tar` (layer number `layer`, 0 lowest) over `plan`.
pub fn add_layer(
    plan: &mut Plan,
    tar: &Path,
    layer: usize,
    spill: &mut Spill,
    policy: &InputPolicy,
) -> Result<(), String> {
    let label = if tar == Path::new("-") {
        "stdin".to_string()
    } else {
        tar.display().to_string()
    };
    let (reader, len) = open(tar).map_err(|e| format!("cannot read tar '{label}': {e}"))?;
    let bar = progress_bar(len);
    let reader = Counting {
        inner: reader,
        bar: bar.clone(),
    };
    let origin = plan.push_origin(Origin {
        file: format!("--tar {label}"),
        line: 0,
    });
    let mut layer = Layer {
        plan,
        origin,
        layer: layer as u64,
        spill,
        policy,
        label,
        members: 0,
    };
    let result = layer.read(reader);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}

/// The archive's bytes (gunzipped when they start with gzip's magic) and
/// its length on disk when known.
fn open(tar: &Path) -> io::Result<(Box<dyn Read>, Option<u64>)> {
    let (raw, len): (Box<dyn Read>, Option<u64>) = if tar == Path::new("-") {
        (Box::new(io::stdin().lock()), None)
    } else {
        let file = File::open(tar)?;
        let len = file.metadata().ok().map(|m| m.len());
        (Box::new(file), len)
    };
    let mut buffered = BufReader::with_capacity(READ_BUFFER, raw);
    let gzip = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        (
            Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            len,
        )
    } else {
        (Box::new(buffered), len)
    })
}

struct Layer<'a> {
    plan: &'a mut Plan,
    origin: usize,
    layer: u64,
    spill: &'a mut Spill,
    policy: &'a InputPolicy,
    label: String,
    members: u64,
}

impl Layer<'_> {
    fn read(&mut self, reader: impl Read) -> Result<(), String> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|e| format!("{}: not a tar archive: {e}", self.label))?;
        // The last member read, to name where a broken header sits.
        let mut last: Option<(String, u64)> = None;
        for item in entries {
            let mut member = item.map_err(|e| {
                let place = match &last {
                    Some((name, end)) => format!("after member '{name}' (byte {end})"),
                    None => "at the first member".to_string(),
                };
                format!("{}: corrupt or truncated archive {place}: {e}", self.label)
            })?;
            let shown = String::from_utf8_lossy(&member.path_bytes()).into_owned();
            let end = member.raw_file_position().saturating_add(member.size());
            self.member(&mut member, &shown)
                .map_err(|e| format!("{}: member '{shown}': {e}", self.label))?;
            self.members += 1;
            last = Some((shown, end));
        }
        // Read what follows the end-of-archive blocks too, so a gzip
        // stream's CRC and length are checked even when its damage sits in
        // the archive's zero padding.
        let mut rest = archive.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(|e| {
            let place = match &last {
                Some((name, _)) => format!("after the last member '{name}'"),
                None => "at its end".to_string(),
            };
            format!("{}: corrupt archive {place}: {e}", self.label)
        })?;
        Ok(())
    }

    fn member<R: Read>(
        &mut self,
        member: &mut tar::Entry<'_, R>,
        shown: &str,
    ) -> Result<(), String> {
        let Some(guest) = guest_path(&member.path_bytes())? else {
            return self.root_dir(member);
        };
        let (parent, name) = guest.rsplit_once('/').unwrap_or(("", guest.as_str()));
        let parent = if parent.is_empty() { "/" } else { parent };
        if name == OPAQUE_MARKER {
            let this = self.origin;
            self.plan.remove_below_if(parent, |e| e.origin != this);
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if !hidden.starts_with(WHITEOUT_PREFIX) && !hidden.is_empty() {
                self.whiteout(&format!("{}/{hidden}", parent.trim_end_matches('/')));
            }
            return Ok(());
        }
        if self.excluded(&guest) {
            return Ok(());
        }
        let header_type = member.header().entry_type();
        let what = match header_type {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let len = member.size();
                let source = match self.spill.store(member, len).map_err(|e| e.to_string())? {
                    Spilled::Memory(data) => Source::Memory(data),
                    Spilled::File(at) => Source::Spill(at),
                };
                What::File {
                    source,
                    link_key: None,
                }
            }
            EntryType::Directory => What::Dir,
            EntryType::Symlink => {
                let target = link_name(member)?;
                check_symlink_target(&target)?;
                if target.is_empty() {
                    return Err("symlink with an empty target".to_string());
                }
                What::Symlink { target }
            }
            EntryType::Link => return self.hard_link(member, &guest),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let header = member.header();
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let file_type = match header_type {
                    EntryType::Char => FileType::CharDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                What::Special {
                    file_type,
                    rdev: rustix::fs::makedev(major, minor),
                }
            }
            other => {
                eprintln!(
                    "mkimage: warning: {}: skipping member '{shown}' of unsupported type {:?}",
                    self.label,
                    other.as_byte() as char
                );
                return Ok(());
            }
        };
        let entry = self.entry(member, what)?;
        self.plan.insert(&guest, entry)
    }

    /// The archive's `./` entry: the root directory's own attributes.
    fn root_dir<R: Read>(&mut self, member: &mut tar::Entry<'_, R>) -> Result<(), String> {
        if member.header().entry_type() != EntryType::Directory {
            return Err("the archive root can only be a directory".to_string());
        }
        let entry = self.entry(member, What::Dir)?;
        self.plan.insert("/", entry)
    }

    /// `.wh.NAME`: hide `guest` and everything below it from lower layers.
    fn whiteout(&mut self, guest: &str) {
        let this = self.origin;
        if self
            .plan
            .entries
            .get(guest)
            .is_some_and(|e| e.origin != this)
        {
            self.plan.entries.remove(guest);
        }
        self.plan.remove_below_if(guest, |e| e.origin != this);
    }

    /// A hard link: another name for a file an earlier member (of this or a
    /// lower layer) put in the plan.
    fn hard_link<R: Read>(
        &mut self,
        member: &mut tar::Entry<'_, R>,
        guest: &str,
    ) -> Result<(), String> {
        let target_text = link_name(member)?;
        let target = guest_path(target_text.as_bytes())?
            .ok_or_else(|| "hard link to the archive root".to_string())?;
        let key = (TAR_LINK_DEV, (self.layer << 40) | self.members);
        let Some(existing) = self.plan.entries.get_mut(&target) else {
            return Err(format!(
                "hard link to '{target_text}', which no earlier member holds (or it was excluded)"
            ));
        };
        let copy = match &mut existing.what {
            What::File { link_key, .. } => {
                let key = *link_key.get_or_insert(key);
                let mut copy = existing.clone();
                if let What::File { link_key, .. } = &mut copy.what {
                    *link_key = Some(key);
                }
                copy
            }
            // A hard-linked symlink or special file becomes a copy of it.
            What::Symlink { .. } | What::Special { .. } => existing.clone(),
            What::Dir => return Err(format!("hard link to directory '{target_text}'")),
        };
        let origin = self.origin;
        self.plan.insert(guest, Entry { origin, ..copy })
    }

    fn excluded(&self, guest: &str) -> bool {
        let rel = guest.trim_start_matches('/');
        // An excluded directory takes everything below it along.
        rel.match_indices('/')
            .map(|(at, _)| &rel[..at])
            .chain(std::iter::once(rel))
            .any(|prefix| self.policy.excludes.matches(prefix))
    }

    /// The plan entry for a member: its header's attributes (pax records
    /// first), as the policy allows.
    fn entry<R: Read>(&self, member: &mut tar::Entry<'_, R>, what: What) -> Result<Entry, String> {
        let header = member.header();
        let old = header.as_old();
        let mode = numeric(header.mode().map(u64::from), &old.mode, "mode")? as u32 & 0o7777;
        let mut uid = numeric(header.uid(), &old.uid, "uid")?;
        let mut gid = numeric(header.gid(), &old.gid, "gid")?;
        let mtime = numeric(header.mtime(), &old.mtime, "mtime")?;
        let mut mtime = (i64::try_from(mtime).unwrap_or(i64::MAX), 0u32);
        if let Some(pax) = member
            .pax_extensions()
            .map_err(|e| format!("bad pax header: {e}"))?
        {
            for record in pax {
                let record = record.map_err(|e| format!("bad pax record: {e}"))?;
                let (Ok(key), Ok(value)) = (record.key(), record.value()) else {
                    continue;
                };
                let bad = || format!("bad pax record {key}={value}");
                match key {
                    "uid" => uid = value.parse().map_err(|_| bad())?,
                    "gid" => gid = value.parse().map_err(|_| bad())?,
                    "mtime" => mtime = pax_time(value).ok_or_else(bad)?,
                    _ => {}
                }
            }
        }
        let uid = u32::try_from(uid).map_err(|_| format!("uid {uid} does not fit 32 bits"))?;
        let gid = u32::try_from(gid).map_err(|_| format!("gid {gid} does not fit 32 bits"))?;
        let (uid, gid) = self.policy.owner(uid, gid);
        let (mtime, mtime_nsec) = self.policy.time(mtime.0, mtime.1);
        Ok(Entry {
            what,
            mode: Some(mode),
            uid,
            gid,
            mtime: Some(mtime),
            mtime_nsec,
            origin: self.origin,
        })
    }
}

/// A numeric header field; an empty one (all NUL or spaces, as some
/// writers leave uid, gid or mtime) reads as 0.
fn numeric(value: io::Result<u64>, raw: &[u8], what: &str) -> Result<u64, String> {
    match value {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        Err(e) => Err(format!("bad {what} field: {e}")),
    }
}

/// A member path as a normalised guest path: `./a//b/` is `/a/b`; None for
/// the archive root itself. `..` anywhere is refused, so no member can land
/// outside the image root.
fn guest_path(raw: &[u8]) -> Result<Option<String>, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "name is not valid UTF-8".to_string())?;
    if text.contains('\0') {
        return Err("name contains a NUL byte".to_string());
    }
    let mut guest = String::with_capacity(text.len() + 1);
    for name in text.split('/').filter(|n| !n.is_empty() && *n != ".") {
        if name == ".." {
            return Err("path has a '..' component".to_string());
        }
        if name.len() > NAME_MAX {
            return Err(format!(
                "a name of {} bytes (at most {NAME_MAX})",
                name.len()
            ));
        }
        guest.push('/');
        guest.push_str(name);
    }
    Ok((!guest.is_empty()).then_some(guest))
}

fn link_name<R: Read>(member: &tar::Entry<'_, R>) -> Result<String, String> {
    let raw = member
        .link_name_bytes()
        .ok_or_else(|| "link without a target".to_string())?;
    String::from_utf8(raw.into_owned()).map_err(|_| "link target is not valid UTF-8".to_string())
}

/// A pax time: decimal seconds, optionally negative, with up to nine
/// fractional digits (more are cut): `1700000000.25` is (1700000000, 250000000).
fn pax_time(text: &str) -> Option<(i64, u32)> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sec: i64 = whole.parse().ok()?;
    let digits = frac.get(..frac.len().min(9)).unwrap_or("");
    let mut nsec: u32 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    for _ in digits.len()..9 {
        nsec *= 10;
    }
    // -1.25 means 1.25 s before the epoch: second -2, plus 0.75 s.
    if whole.starts_with('-') && nsec > 0 {
        return Some((sec.checked_sub(1)?, 1_000_000_000 - nsec));
    }
    Some((sec, nsec))
}

/// Counts bytes read for the progress bar.
struct Counting<R> {
    inner: R,
    bar: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
        Ok(n)
    }
}

/// A bar over the (uncompressed) bytes read, only when a person watches stderr.
fn progress_bar(len: Option<u64>) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = match len {
        Some(len) => indicatif::ProgressBar::new(len),
        None => indicatif::ProgressBar::new_spinner(),
    };
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("reading tar {bar:40} {bytes} ({bytes_per_sec})")
    {
        bar.set_style(style);
    }
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths() {
        assert_eq!(guest_path(b"./a//b/").expect("ok").as_deref(), Some("/a/b"));
        assert_eq!(guest_path(b"/etc").expect("ok").as_deref(), Some("/etc"));
        assert_eq!(guest_path(b"./").expect("ok"), None);
        assert!(guest_path(b"a/../../etc").is_err());
        assert!(guest_path(b"\xff").is_err());
        assert!(guest_path("x".repeat(256).as_bytes()).is_err());
    }

    #[test]
    fn pax_times() {
        assert_eq!(
            pax_time("1700000000.25"),
            Some((1_700_000_000, 250_000_000))
        );
        assert_eq!(pax_time("5"), Some((5, 0)));
        assert_eq!(pax_time("1.1234567891"), Some((1, 123_456_789)));
        assert_eq!(pax_time("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(pax_time("x"), None);
        assert_eq!(pax_time("1.x"), None);
    }
}
