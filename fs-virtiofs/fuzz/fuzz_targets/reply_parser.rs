//! The reply checks on arbitrary bytes: the first 16 bytes as a reply
//! header (with lengths and an id from the next 12), the rest as a READDIR
//! body, a READDIRPLUS body, attributes, an entry and a link target. Any
//! panic or out-of-bounds access is a bug.
#![no_main]

use fs_virtiofs::proto::dirent::{DirentIter, DirentPlusIter, file_type};
use fs_virtiofs::proto::reply::{check_name, check_reply, entry_from, link_target, stat_from};
use fs_virtiofs::proto::{Attr, EntryOut, OutHeader};
use libfuzzer_sys::fuzz_target;
use zerocopy::FromBytes;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, rest)) = OutHeader::read_from_prefix(data)
        && let Some(numbers) = rest.get(..12)
    {
        let word = |i: usize| {
            u32::from_le_bytes([numbers[i], numbers[i + 1], numbers[i + 2], numbers[i + 3]])
        };
        let (received, capacity) = (word(0) as usize, word(4) as usize);
        let unique = u64::from(word(8));
        if let Ok(body) = check_reply(&header, received, capacity, unique) {
            assert!(body + 16 == received && received <= capacity);
        }
    }
    let mut cookies = 0;
    for record in DirentIter::new(data) {
        match record {
            Ok(d) => {
                assert!(d.off != 0 && !d.name.is_empty() && d.name.len() <= 255);
                assert!(check_name(d.name).is_ok() && file_type(d.kind).is_ok());
                cookies += 1;
            }
            Err(_) => break,
        }
    }
    assert!(cookies <= data.len() / 24);
    for record in DirentPlusIter::new(data) {
        if record.is_err() {
            break;
        }
    }
    if let Ok((attr, _)) = Attr::read_from_prefix(data) {
        let _ = stat_from(&attr);
    }
    if let Ok((entry, _)) = EntryOut::read_from_prefix(data) {
        let _ = entry_from(&entry);
    }
    let _ = link_target(data);
});
