//! Canonical decimals: the one spelling of a number that every Cairn and C2SP format accepts
//! (tree sizes, indexes, tile coordinates, thresholds).

/// Most digits of a u64 (2^64 - 1 has 20).
pub const MAX_U64_DIGITS: usize = 20;

/// Whether `text` is a canonical decimal: ASCII digits only, no sign, no leading zero unless it
/// is `0` itself, at most [`MAX_U64_DIGITS`] digits. Says nothing about overflow.
pub fn is_canonical_decimal(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_U64_DIGITS
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'))
}

/// Parses a canonical decimal that fits a u64; `None` for any other spelling or an overflow.
pub fn parse_canonical_u64(text: &str) -> Option<u64> {
    if !is_canonical_decimal(text) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_per_number() {
        assert_eq!(parse_canonical_u64("0"), Some(0));
        assert_eq!(parse_canonical_u64("7"), Some(7));
        assert_eq!(parse_canonical_u64("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1_000",
            "18446744073709551616",
            "1e3",
            "\u{ff11}",
            "0x10",
            "000000000000000000001",
        ] {
            assert_eq!(parse_canonical_u64(bad), None, "{bad:?}");
        }
        assert!(is_canonical_decimal("99999999999999999999"));
        assert_eq!(
            parse_canonical_u64("99999999999999999999"),
            None,
            "overflow"
        );
    }
}
