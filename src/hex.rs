//! Lowercase hex of bytes, where a digest or a keyed hash must be text: derived Seam keys,
//! Redis key names, the short login digests the fleet is asked about.

use std::fmt::Write as _;

/// Appends `bytes` to `out` as two lowercase hex digits each.
pub(crate) fn push(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_become_two_lowercase_digits_each() {
        let mut out = String::from("k:");
        super::push(&mut out, &[0x00, 0x0f, 0xab, 0xff]);
        assert_eq!(out, "k:000fabff");
    }
}
