//! `root=overlay`: a writable `/` over the read-only image.
//!
//! The words `root=overlay` and `root.size=SIZE` ([`parse_word`]) turn the
//! mount table's root entry into a stack ([`stack_root`]):
//!
//! | entry | what |
//! |---|---|
//! | `… on @root.lower` | the table's root entry, unchanged but hidden and read-only (a verified disk stays verified: its `roothash=` goes along) |
//! | `none on @root.upper type ramfs (size=N)` | a ramfs of its own, `N` = `root.size=` or half the heap (as `/tmp`, which it shares nothing with) |
//! | `none on / type overlay (lowerdir=@root.lower,upperdir=@root.upper)` | the overlay everyone sees |
//!
//! It is only a rewrite of the table: the mount code mounts hidden entries
//! before `/` ([`crate::mounts`]), and a failure of a layer the root names
//! is a root failure with the root's exit codes. Without `root=overlay`
//! the table is used as it is (a read-only root).
//!
//! `root=virtiofs:TAG` instead replaces the root entry by the virtio-fs
//! share of that tag, writable (`TAG on / type virtiofs (rw)`); the other
//! entries (`/dev`, `/tmp`) stay, their mount points made on the share
//! when missing ([`crate::mounts`]).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::fstab::MountEntry;

/// The hidden mount holding the image under an overlay root.
pub const LOWER: &str = "@root.lower";
/// The hidden ramfs holding the root's changes.
pub const UPPER: &str = "@root.upper";

/// Smallest `root.size=` (one ramfs block).
const MIN_SIZE: u64 = 4096;

/// What the command line says about the root's kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootOptions {
    /// `root=overlay`.
    pub overlay: bool,
    /// `root.size=`: the upper layer's limit in bytes (None: half the heap).
    pub size: Option<u64>,
    /// `root=virtiofs:TAG`: the share of this tag is `/`.
    pub share: Option<String>,
}

/// One `root=` or `root.size=` word into `root`; the line to print for a
/// bad one.
pub fn parse_word(root: &mut RootOptions, key: &str, value: &str) -> Result<(), String> {
    match key {
        "root" => {
            if root.overlay || root.share.is_some() {
                return Err("root= given twice".to_string());
            }
            if value == "overlay" {
                root.overlay = true;
            } else if let Some(tag) = value.strip_prefix("virtiofs:") {
                let tag =
                    crate::fstab::check_tag(tag).map_err(|e| format!("root=`{value}`: {e}"))?;
                root.share = Some(tag);
            } else {
                return Err(format!(
                    "root=`{value}`: the root kinds are root=overlay and root=virtiofs:TAG"
                ));
            }
        }
        "root.size" => {
            let bytes = vfs::parse_size(value)
                .ok_or_else(|| format!("root.size=`{value}`: not a size (such as 16M)"))?;
            if bytes < MIN_SIZE {
                return Err(format!("root.size=`{value}`: must be at least 4K"));
            }
            if root.size.replace(bytes).is_some() {
                return Err("root.size= given twice".to_string());
            }
        }
        _ => return Err(format!("`{key}`: not a root word")),
    }
    Ok(())
}

/// After every word: the combinations that make no sense.
pub fn check(root: &RootOptions) -> Result<(), String> {
    if root.size.is_some() && !root.overlay {
        return Err("root.size= needs root=overlay (a read-only root has no size)".to_string());
    }
    Ok(())
}

/// The mount table to mount: `table` itself, or with `root=overlay` its
/// root entry moved to [`LOWER`] and the upper ramfs and the overlay root
/// in its place.
pub fn stack_root(table: &[MountEntry], root: &RootOptions, heap_bytes: u64) -> Vec<MountEntry> {
    let mut out = Vec::with_capacity(table.len() + 2);
    if let Some(tag) = &root.share {
        for entry in table {
            if entry.target == "/" {
                out.push(MountEntry {
                    source: Some(tag.clone()),
                    target: entry.target.clone(),
                    fs_type: "virtiofs".to_string(),
                    read_only: false,
                    options: String::new(),
                });
            } else {
                out.push(entry.clone());
            }
        }
        return out;
    }
    let mut stacked = !root.overlay;
    for entry in table {
        if stacked || entry.target != "/" {
            out.push(entry.clone());
            continue;
        }
        stacked = true;
        out.push(MountEntry {
            target: LOWER.to_string(),
            read_only: true,
            ..entry.clone()
        });
        let size = root.size.unwrap_or(heap_bytes / 2).max(MIN_SIZE);
        out.push(MountEntry {
            source: None,
            target: UPPER.to_string(),
            fs_type: "ramfs".to_string(),
            read_only: false,
            options: format!("size={size}"),
        });
        out.push(MountEntry {
            source: None,
            target: "/".to_string(),
            fs_type: "overlay".to_string(),
            read_only: false,
            options: format!("lowerdir={LOWER},upperdir={UPPER}"),
        });
    }
    out
}

/// The layers `entry`'s options name (`lowerdir=A:B`, `upperdir=C`), for
/// telling which hidden mounts a stacked root needs.
pub fn layer_words(entry: &MountEntry) -> impl Iterator<Item = &str> {
    entry.options.split(',').flat_map(|option| {
        let words = match option.trim().split_once('=') {
            Some(("lowerdir" | "upperdir", value)) => value,
            _ => "",
        };
        words.split(':').filter(|w| !w.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fstab::{default_table, parse_cmdline_entry};

    fn parse(words: &[(&str, &str)]) -> Result<RootOptions, String> {
        let mut root = RootOptions::default();
        for (key, value) in words {
            parse_word(&mut root, key, value)?;
        }
        check(&root)?;
        Ok(root)
    }

    #[test]
    fn words() {
        assert_eq!(
            parse(&[("root", "overlay")]),
            Ok(RootOptions {
                overlay: true,
                size: None,
                share: None,
            })
        );
        assert_eq!(
            parse(&[("root.size", "16M"), ("root", "overlay")]),
            Ok(RootOptions {
                overlay: true,
                size: Some(16 << 20),
                share: None,
            })
        );
        assert_eq!(
            parse(&[("root", "virtiofs:share")]),
            Ok(RootOptions {
                share: Some("share".into()),
                ..RootOptions::default()
            })
        );
        for (words, error) in [
            (
                &[("root", "ramfs")][..],
                "root=`ramfs`: the root kinds are root=overlay and root=virtiofs:TAG",
            ),
            (
                &[("root", "")][..],
                "root=``: the root kinds are root=overlay and root=virtiofs:TAG",
            ),
            (
                &[("root", "virtiofs:")][..],
                "root=`virtiofs:`: bad device tag `` (1 to 36 bytes, no `/`, `:` or spaces)",
            ),
            (
                &[("root", "virtiofs:share"), ("root", "overlay")][..],
                "root= given twice",
            ),
            (
                &[("root", "virtiofs:share"), ("root.size", "1M")][..],
                "root.size= needs root=overlay (a read-only root has no size)",
            ),
            (
                &[("root", "overlay"), ("root", "overlay")][..],
                "root= given twice",
            ),
            (
                &[("root", "overlay"), ("root.size", "lots")][..],
                "root.size=`lots`: not a size (such as 16M)",
            ),
            (
                &[("root", "overlay"), ("root.size", "0")][..],
                "root.size=`0`: must be at least 4K",
            ),
            (
                &[("root", "overlay"), ("root.size", "99999999999999999999")][..],
                "root.size=`99999999999999999999`: not a size (such as 16M)",
            ),
            (
                &[
                    ("root", "overlay"),
                    ("root.size", "1M"),
                    ("root.size", "2M"),
                ][..],
                "root.size= given twice",
            ),
            (
                &[("root.size", "1M")][..],
                "root.size= needs root=overlay (a read-only root has no size)",
            ),
        ] {
            assert_eq!(parse(words), Err(error.to_string()), "{words:?}");
        }
    }

    #[test]
    fn the_root_entry_becomes_a_stack() {
        let root = RootOptions {
            overlay: true,
            size: None,
            share: None,
        };
        let table = stack_root(&default_table(64 << 20), &root, 64 << 20);
        let rows: Vec<(Option<&str>, &str, &str, bool, &str)> = table
            .iter()
            .map(|e| {
                (
                    e.source.as_deref(),
                    e.target.as_str(),
                    e.fs_type.as_str(),
                    e.read_only,
                    e.options.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (Some("/dev/vblk0"), "@root.lower", "rofs", true, ""),
                (None, "@root.upper", "ramfs", false, "size=33554432"),
                (
                    None,
                    "/",
                    "overlay",
                    false,
                    "lowerdir=@root.lower,upperdir=@root.upper"
                ),
                (None, "/dev", "devfs", false, ""),
                (None, "/tmp", "ramfs", false, "size=33554432"),
            ]
        );
        let words: Vec<&str> = layer_words(&table[2]).collect();
        assert_eq!(words, ["@root.lower", "@root.upper"]);
    }

    #[test]
    fn a_share_root_replaces_the_root_entry() {
        let root = RootOptions {
            share: Some("share".into()),
            ..RootOptions::default()
        };
        let table = stack_root(&default_table(64 << 20), &root, 64 << 20);
        assert_eq!(table.len(), 3);
        assert_eq!(table[0].source.as_deref(), Some("share"));
        assert_eq!(
            (table[0].target.as_str(), table[0].fs_type.as_str()),
            ("/", "virtiofs")
        );
        assert!(!table[0].read_only);
        assert_eq!(&table[1..], &default_table(64 << 20)[1..]);
    }

    #[test]
    fn size_and_options_go_along() {
        let root = RootOptions {
            overlay: true,
            size: Some(1 << 20),
            share: None,
        };
        let entry = parse_cmdline_entry("vblk1:/:rofs::verify").expect("entry");
        let table = stack_root(&[entry], &root, 64 << 20);
        assert_eq!(table.len(), 3);
        assert_eq!(table[0].options, "verify");
        assert_eq!(table[0].source.as_deref(), Some("/dev/vblk1"));
        assert_eq!(table[1].options, "size=1048576");
        // Without root=overlay nothing changes.
        let plain = stack_root(&table, &RootOptions::default(), 64 << 20);
        assert_eq!(plain, table);
    }

    #[test]
    fn layer_words_of_any_entry() {
        let entry = parse_cmdline_entry(
            "none:/:overlay::lowerdir=@a:/b:@c,upperdir=@u,workdir=@w,index=on",
        )
        .expect("entry");
        let words: Vec<&str> = layer_words(&entry).collect();
        assert_eq!(words, ["@a", "/b", "@c", "@u"]);
    }
}
