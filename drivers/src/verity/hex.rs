//! Hex text for root hashes, salts and UUIDs (command lines, logs, tools).

use core::fmt;

use super::error::VerityError;
use super::format::Digest;

/// Displays bytes as lowercase hex, two digits per byte.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Decode `text` (hex digits, either case) into `out`; returns the number of
/// bytes written. `None` when a character is not a hex digit, the length is
/// odd, or the bytes do not fit `out`.
pub fn decode_hex(text: &str, out: &mut [u8]) -> Option<usize> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) || digits.len() / 2 > out.len() {
        return None;
    }
    for (slot, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let high = hex_value(*pair.first()?)?;
        let low = hex_value(*pair.get(1)?)?;
        *slot = (high << 4) | low;
    }
    Some(digits.len() / 2)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A SHA-256 root hash from its 64 hex digits (as `veritysetup` prints it
/// and as the kernel command line gives it).
pub fn parse_root_hash(text: &str) -> Result<Digest, VerityError> {
    let mut root = [0u8; 32];
    match decode_hex(text.trim(), &mut root) {
        Some(32) => Ok(root),
        _ => Err(VerityError::BadHex(
            "a root hash is 64 hex digits (a SHA-256 digest)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn round_trip_and_rejects() {
        let bytes = [0x00, 0x7f, 0xab, 0xff];
        assert_eq!(Hex(&bytes).to_string(), "007fabff");
        let mut out = [0u8; 4];
        assert_eq!(decode_hex("007FabFF", &mut out), Some(4));
        assert_eq!(out, bytes);
        assert_eq!(decode_hex("abc", &mut out), None, "odd length");
        assert_eq!(decode_hex("0g", &mut out), None, "not hex");
        assert_eq!(decode_hex("0011223344", &mut out), None, "too long");
        assert_eq!(decode_hex("", &mut out), Some(0));
        let text = "11".repeat(32);
        assert_eq!(parse_root_hash(&text), Ok([0x11; 32]));
        assert!(parse_root_hash(&text[..62]).is_err());
        assert!(parse_root_hash("é").is_err());
    }
}
