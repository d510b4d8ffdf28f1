//! The host-computed facts the suites compare against: `/crc32.list` and
//! `/selftest.expect` on the image.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use vfs::Vfs;

use super::check::{ensure, ok};

pub(super) struct CrcEntry {
    pub(super) crc: u32,
    pub(super) size: u64,
    pub(super) path: String,
}

pub(super) fn load_crc_list(vfs: &Vfs) -> Result<Vec<CrcEntry>, String> {
    let data = ok(vfs.read_file("/crc32.list"), "read /crc32.list")?;
    let text = core::str::from_utf8(&data).map_err(|_| "/crc32.list is not UTF-8".to_string())?;
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        let (Some(crc), Some(size), Some(path), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(format!("/crc32.list line {}: malformed", number + 1));
        };
        let crc = u32::from_str_radix(crc, 16)
            .map_err(|_| format!("/crc32.list line {}: bad CRC", number + 1))?;
        let size = size
            .parse()
            .map_err(|_| format!("/crc32.list line {}: bad size", number + 1))?;
        entries.push(CrcEntry {
            crc,
            size,
            path: path.to_string(),
        });
    }
    ensure(!entries.is_empty(), || "/crc32.list is empty".to_string())?;
    Ok(entries)
}

/// The lines of `/selftest.expect`, split into words; `#` lines are comments.
pub(super) struct Expect {
    lines: Vec<Vec<String>>,
}

impl Expect {
    /// Every line whose first word is `key`, without that word.
    pub(super) fn all(&self, key: &str) -> impl Iterator<Item = &[String]> {
        self.lines
            .iter()
            .filter(move |words| words.first().map(String::as_str) == Some(key))
            .map(|words| words.get(1..).unwrap_or(&[]))
    }

    /// All lines for `key`; an error if there is none (the image lacks the case).
    pub(super) fn some(&self, key: &str) -> Result<Vec<&[String]>, String> {
        let lines: Vec<&[String]> = self.all(key).collect();
        ensure(!lines.is_empty(), || {
            format!("/selftest.expect has no '{key}' line")
        })?;
        Ok(lines)
    }

    pub(super) fn one(&self, key: &str) -> Result<&[String], String> {
        let lines = self.some(key)?;
        lines
            .first()
            .copied()
            .ok_or_else(|| format!("no '{key}' line"))
    }
}

pub(super) fn load_expect(vfs: &Vfs) -> Result<Expect, String> {
    let data = ok(vfs.read_file("/selftest.expect"), "read /selftest.expect")?;
    let text =
        core::str::from_utf8(&data).map_err(|_| "/selftest.expect is not UTF-8".to_string())?;
    let lines = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(|line| {
            line.split_whitespace()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
        .collect();
    Ok(Expect { lines })
}

pub(super) fn expect_ref(expect: &Result<Expect, String>) -> Result<&Expect, String> {
    expect.as_ref().map_err(Clone::clone)
}

pub(super) fn word<'a>(words: &'a [String], index: usize, what: &str) -> Result<&'a str, String> {
    words
        .get(index)
        .map(String::as_str)
        .ok_or_else(|| format!("expect line for {what}: missing field {index}"))
}

pub(super) fn number(words: &[String], index: usize, what: &str) -> Result<u64, String> {
    word(words, index, what)?
        .parse()
        .map_err(|_| format!("expect line for {what}: field {index} is not a number"))
}
