//! Names v1 allows but no host directory can hold: two entries of one
//! directory with the same bytes, or different bytes that read the same
//! once decoded lossily (invalid UTF-8 shown as U+FFFD). Mount accepts them
//! (lookup finds the first, as OSv does); `inspect` and `verify` report
//! them, and `mkimage extract` refuses such an image before writing.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::RofsError;
use crate::format::S_IFDIR;
use crate::image::Image;
use crate::mem;

/// A clash in directory `dir`: `count` entries named (or read as) `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Clash {
    pub dir: u64,
    pub name: String,
    pub count: usize,
    /// The names differ as bytes and only clash once decoded.
    pub lossy: bool,
}

/// Every clash in the image, directory by directory in inode order.
pub(crate) fn find(image: &Image) -> Result<Vec<Clash>, RofsError> {
    let mut clashes = Vec::new();
    if image.names_unique {
        return Ok(clashes);
    }
    let mut names: Vec<&[u8]> = Vec::new();
    let mut decoded: Vec<Cow<'_, str>> = Vec::new();
    for dir in 1..=u64::from(image.inode_count) {
        let record = image.inode(dir)?;
        if record.kind() != S_IFDIR || record.count < 2 {
            continue;
        }
        names.clear();
        reserve(&mut names, record.count)?;
        let mut all_utf8 = true;
        for index in record.entry_range() {
            let name = image.entry(index)?.name;
            all_utf8 &= core::str::from_utf8(name).is_ok();
            names.push(name);
        }
        names.sort_unstable();
        for (name, count) in runs(&names) {
            let name = String::from_utf8_lossy(name).into_owned();
            let lossy = false;
            mem::push(
                &mut clashes,
                Clash {
                    dir,
                    name,
                    count,
                    lossy,
                },
            )?;
        }
        if all_utf8 {
            continue;
        }
        // Distinct byte names only: exact duplicates are reported above.
        names.dedup();
        decoded.clear();
        reserve(&mut decoded, names.len() as u64)?;
        decoded.extend(names.iter().map(|n| String::from_utf8_lossy(n)));
        decoded.sort_unstable();
        for (name, count) in runs(&decoded) {
            let name = String::from(&**name);
            let lossy = true;
            mem::push(
                &mut clashes,
                Clash {
                    dir,
                    name,
                    count,
                    lossy,
                },
            )?;
        }
    }
    Ok(clashes)
}

fn reserve<T>(v: &mut Vec<T>, count: u64) -> Result<(), RofsError> {
    let n = usize::try_from(count).map_err(|_| RofsError::NoMemory { bytes: count })?;
    v.try_reserve(n)
        .map_err(|_| RofsError::NoMemory { bytes: count })
}

/// Each value that occurs more than once in sorted `items`, with its count.
fn runs<T: PartialEq>(items: &[T]) -> impl Iterator<Item = (&T, usize)> {
    items
        .chunk_by(|a, b| a == b)
        .filter(|run| run.len() > 1)
        .filter_map(|run| Some((run.first()?, run.len())))
}
