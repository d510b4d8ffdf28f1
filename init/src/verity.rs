//! Verified mounts: the `roothash=HEX` mount option.
//!
//! Any entry with a device source may carry `roothash=HEX` among its
//! options (`vfs.fstab=vblk0:/:rofs::roothash=HEX`, or `ro,roothash=HEX` in
//! `/etc/fstab`); `rofs.roothash=HEX` on the command line is the short form
//! for the root entry. The mount code then hands the filesystem type a
//! [`VerityDevice`] over the disk instead of the disk, so every block the
//! filesystem reads is checked against the image's dm-verity tree, and the
//! type never sees the option. Any filesystem on a device can be verified:
//! the check sits below it. A page cache the type keeps sits above the
//! verifying device, so blocks it holds were verified once on the way in.
//!
//! The hash is checked when the entry is parsed (a malformed one is a bad
//! command line, or a skipped `/etc/fstab` line); the tree when the entry is
//! mounted (a wrong root hash, no tree, or a tree that disagrees with the
//! data refuses the mount). Without `roothash=`, a disk whose image carries
//! a tree is mounted as it is, and one log line says so.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use drivers::BlockDevice;
use drivers::verity::{self, Digest, Hex, VerityDevice, VerityError};

/// The mount option's name.
pub const ROOTHASH: &str = "roothash";

/// The `roothash=` value of a comma-separated option string, and the other
/// options in their order (what the filesystem type is given). Errors name
/// the option: a malformed hash, or the option given twice.
pub fn split_options(options: &str) -> Result<(Option<Digest>, String), String> {
    let mut root = None;
    let mut rest: Vec<&str> = Vec::new();
    for option in options.split(',') {
        let Some(hex) = option.trim().strip_prefix("roothash=") else {
            if !option.trim().is_empty() {
                rest.push(option);
            }
            continue;
        };
        let digest = verity::parse_root_hash(hex).map_err(|e| format!("roothash=`{hex}`: {e}"))?;
        if root.replace(digest).is_some() {
            return Err(format!("{ROOTHASH}= given twice"));
        }
    }
    Ok((root, rest.join(",")))
}

/// Check the `roothash=` option of an entry as it is parsed: well-formed,
/// at most once, and only where there is a device to verify.
pub fn check_options(options: &str, has_device: bool) -> Result<(), String> {
    let (root, _) = split_options(options)?;
    if root.is_some() && !has_device {
        return Err(format!(
            "{ROOTHASH}= needs a device source (there is nothing to verify)"
        ));
    }
    Ok(())
}

/// Options with `roothash=HEX` added (for `rofs.roothash=` on the root
/// entry); `hex` must already be a valid root hash.
pub fn with_root_hash(options: &str, root: &Digest) -> String {
    if options.is_empty() {
        format!("{ROOTHASH}={}", Hex(root))
    } else {
        format!("{options},{ROOTHASH}={}", Hex(root))
    }
}

/// What the filesystem type is given for a disk.
pub struct Prepared {
    pub device: Arc<dyn BlockDevice>,
    /// The verifying device when the entry is verified (for its counters:
    /// whether a failed mount was a verification failure).
    pub verifier: Option<Arc<VerityDevice>>,
}

/// The device to mount from disk `name`: with a root hash, the verifying
/// device over `disk`, opened now (so a wrong hash, a missing tree or a
/// damaged one refuse the mount here, with [`VerityError`]'s one-line
/// reason); without, the disk itself, after one log line if its image
/// carries a tree nobody asked to check.
pub fn prepare(
    name: &str,
    disk: Arc<dyn BlockDevice>,
    root: Option<Digest>,
) -> Result<Prepared, VerityError> {
    let Some(root) = root else {
        if let Some(info) = verity::probe(disk.as_ref()) {
            log::warn!(
                "{name}: image carries a dm-verity tree (root hash {}); mounted unverified",
                Hex(&info.stored_root)
            );
        }
        return Ok(Prepared {
            device: disk,
            verifier: None,
        });
    };
    let verifier = Arc::new(VerityDevice::open(disk, root)?);
    let info = verifier.info();
    log::info!(
        "{name}: verifying {} data blocks against root hash {} ({} tree levels)",
        info.data_blocks(),
        Hex(&root),
        info.levels()
    );
    Ok(Prepared {
        device: verifier.clone(),
        verifier: Some(verifier),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

    fn digest() -> Digest {
        verity::parse_root_hash(HASH).expect("hash")
    }

    #[test]
    fn split_takes_the_hash_out_and_keeps_the_rest_in_order() {
        assert_eq!(split_options(""), Ok((None, String::new())));
        assert_eq!(
            split_options("verify,size=3"),
            Ok((None, "verify,size=3".into()))
        );
        let (root, rest) = split_options(&format!("verify,roothash={HASH},x=1")).expect("split");
        assert_eq!(root, Some(digest()));
        assert_eq!(rest, "verify,x=1");
        let (root, rest) = split_options(&format!("roothash={HASH}")).expect("split");
        assert_eq!((root, rest.as_str()), (Some(digest()), ""));
    }

    #[test]
    fn malformed_or_repeated_hashes_name_the_option() {
        let err = split_options("roothash=abc").unwrap_err();
        assert!(
            err.starts_with("roothash=`abc`: a root hash is 64 hex digits"),
            "{err}"
        );
        assert!(split_options("roothash=").is_err());
        assert!(split_options(&format!("roothash={}", &HASH[..62])).is_err());
        assert!(split_options(&format!("roothash={HASH}0")).is_err());
        assert!(split_options(&format!("roothash={}zz", &HASH[..62])).is_err());
        let twice = format!("roothash={HASH},roothash={HASH}");
        assert_eq!(split_options(&twice).unwrap_err(), "roothash= given twice");
        // Only the exact option name counts.
        assert_eq!(
            split_options("roothashx=1,xroothash=2"),
            Ok((None, "roothashx=1,xroothash=2".into()))
        );
    }

    #[test]
    fn a_hash_needs_a_device() {
        assert!(check_options(&format!("roothash={HASH}"), true).is_ok());
        assert!(check_options(&format!("roothash={HASH}"), false).is_err());
        assert!(check_options("size=1M", false).is_ok());
    }

    #[test]
    fn alias_appends_the_option() {
        let root = digest();
        let lower = HASH.to_ascii_lowercase();
        assert_eq!(with_root_hash("", &root), format!("roothash={lower}"));
        assert_eq!(
            with_root_hash("verify", &root),
            format!("verify,roothash={lower}")
        );
        assert_eq!(
            split_options(&with_root_hash("verify", &root))
                .expect("split")
                .0,
            Some(root)
        );
    }
}
