//! Points in time, as the bundle and the trusted root state them. There is no clock here: every
//! time comes from a signed statement (a Rekor SET, an RFC 3161 timestamp) or from the trusted
//! root's validity periods.

use std::fmt;

/// A point in time: seconds and nanoseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    /// A whole number of seconds since the epoch.
    pub fn from_unix(secs: i64) -> Timestamp {
        Timestamp { secs, nanos: 0 }
    }

    /// Milliseconds since the epoch (as in RFC 6962 SCTs).
    pub fn from_unix_millis(millis: u64) -> Timestamp {
        let secs = i64::try_from(millis / 1000).unwrap_or(i64::MAX);
        Timestamp {
            secs,
            // Below 1000 * 1_000_000, which fits in u32.
            nanos: u32::try_from((millis % 1000) * 1_000_000).unwrap_or(0),
        }
    }

    /// Whole seconds since the epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// Parses an RFC 3339 time in UTC as protobuf's JSON mapping writes it:
    /// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        let bad = || format!("{text:?} is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.frac]Z)");
        let b = text.as_bytes();
        if b.len() < 20 || b.len() > 40 {
            return Err(bad());
        }
        let sep_ok = b[4] == b'-'
            && b[7] == b'-'
            && (b[10] == b'T' || b[10] == b't')
            && b[13] == b':'
            && b[16] == b':';
        if !sep_ok {
            return Err(bad());
        }
        let year = digits(&b[0..4]).ok_or_else(bad)?;
        let month = digits(&b[5..7]).ok_or_else(bad)?;
        let day = digits(&b[8..10]).ok_or_else(bad)?;
        let hour = digits(&b[11..13]).ok_or_else(bad)?;
        let minute = digits(&b[14..16]).ok_or_else(bad)?;
        let second = digits(&b[17..19]).ok_or_else(bad)?;
        let rest = &b[19..];
        let (nanos, rest) = fraction(rest).ok_or_else(bad)?;
        if rest != b"Z" && rest != b"z" {
            return Err(bad());
        }
        from_civil(year, month, day, hour, minute, second, nanos).ok_or_else(bad)
    }

    /// Parses an ASN.1 GeneralizedTime value as RFC 3161 writes it: `YYYYMMDDHHMMSS[.fraction]Z`.
    pub fn parse_generalized(text: &[u8]) -> Result<Timestamp, String> {
        let bad = || {
            format!(
                "{:?} is not a GeneralizedTime in UTC",
                String::from_utf8_lossy(text)
            )
        };
        if text.len() < 15 || text.len() > 40 {
            return Err(bad());
        }
        let year = digits(&text[0..4]).ok_or_else(bad)?;
        let month = digits(&text[4..6]).ok_or_else(bad)?;
        let day = digits(&text[6..8]).ok_or_else(bad)?;
        let hour = digits(&text[8..10]).ok_or_else(bad)?;
        let minute = digits(&text[10..12]).ok_or_else(bad)?;
        let second = digits(&text[12..14]).ok_or_else(bad)?;
        let (nanos, rest) = fraction(&text[14..]).ok_or_else(bad)?;
        if rest != b"Z" {
            return Err(bad());
        }
        from_civil(year, month, day, hour, minute, second, nanos).ok_or_else(bad)
    }

    /// An X.509 certificate time (UTCTime or GeneralizedTime).
    pub(crate) fn from_x509(time: &x509_cert::time::Time) -> Timestamp {
        let d = time.to_unix_duration();
        Timestamp {
            secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: d.subsec_nanos(),
        }
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339, UTC, with the fraction only when there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        )?;
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

/// A closed interval `[start, end]`; no end means open-ended. The trusted root's `validFor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First instant of validity.
    pub start: Timestamp,
    /// Last instant of validity, inclusive.
    pub end: Option<Timestamp>,
}

impl Validity {
    /// Whether `t` lies in the interval (both ends included).
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && self.end.is_none_or(|end| t <= end)
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |acc, d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

/// An optional `.digits` fraction (1 to 9 digits), returning nanoseconds and what follows.
fn fraction(b: &[u8]) -> Option<(u32, &[u8])> {
    let Some(rest) = b.strip_prefix(b".") else {
        return Some((0, b));
    };
    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 9 {
        return None;
    }
    let value = digits(&rest[..n])?;
    let nanos = value * 10u32.pow(u32::try_from(9 - n).ok()?);
    Some((nanos, &rest[n..]))
}

fn from_civil(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
) -> Option<Timestamp> {
    if !(1..=12).contains(&month) || day == 0 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > month_days[usize::try_from(month - 1).ok()?] {
        return None;
    }
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    Some(Timestamp { secs, nanos })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_orders() {
        let t = Timestamp::parse_rfc3339("2022-10-31T23:59:59.999Z").expect("parse");
        assert_eq!(t.to_string(), "2022-10-31T23:59:59.999Z");
        let start = Timestamp::parse_rfc3339("2021-01-12T11:53:27Z").expect("parse");
        assert_eq!(start.unix_seconds(), 1_610_452_407);
        assert!(start < t);
        assert_eq!(
            Timestamp::parse_rfc3339("1970-01-01T00:00:00Z").expect("epoch"),
            Timestamp::from_unix(0)
        );
    }

    #[test]
    fn malformed_times_are_refused() {
        for bad in [
            "2022-13-01T00:00:00Z",
            "2022-02-30T00:00:00Z",
            "2022-01-01 00:00:00Z",
            "2022-01-01T00:00:00",
            "2022-01-01T00:00:00+01:00",
            "2022-01-01T24:00:00Z",
            "2022-01-01T00:00:00.Z",
            "2022-01-01T00:00:00.1234567890Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generalized_time_with_and_without_fraction() {
        let t = Timestamp::parse_generalized(b"20250612120220Z").expect("parse");
        assert_eq!(t.to_string(), "2025-06-12T12:02:20Z");
        let f = Timestamp::parse_generalized(b"20250612120220.5Z").expect("parse");
        assert!(f > t);
        assert!(Timestamp::parse_generalized(b"20250612120220").is_err());
        assert!(Timestamp::parse_generalized(b"2025061212022Z").is_err());
    }

    #[test]
    fn validity_is_a_closed_interval() {
        let a = Timestamp::from_unix(10);
        let b = Timestamp::from_unix(20);
        let v = Validity {
            start: a,
            end: Some(b),
        };
        assert!(v.contains(a) && v.contains(b) && v.contains(Timestamp::from_unix(15)));
        assert!(!v.contains(Timestamp::from_unix(9)) && !v.contains(Timestamp::from_unix(21)));
        let open = Validity {
            start: a,
            end: None,
        };
        assert!(open.contains(Timestamp::from_unix(i64::MAX)));
    }
}
