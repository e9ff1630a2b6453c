//! The version order `cairn update` uses to pick the newest release of a name
//! (spec/client.md, "Version order").
//!
//! A version is split on `.` and `-` into components. It is *orderable* when its components
//! are one or more decimal numbers (the release), optionally followed by one pre-release tag
//! `alpha`, `beta`, `pre` or `rc` with optional trailing digits (`rc2`), optionally followed
//! by more decimal numbers (`2.0-rc.1`). Every number fits 64 bits; nothing else (uppercase,
//! `_`, `+`, other words) is allowed. Examples: `1.0`, `14.2-20261120`, `2.0-rc1`,
//! `2.0-beta.3`. Not orderable: `14.2-RELEASE-p1`, `v1.0`, `1.0+build5`.
//!
//! Orderable versions compare release numbers component by component, a missing component
//! counting as 0 (`1.0` equals `1.0.0`); with equal releases, a pre-release sorts before the
//! release itself; two pre-releases compare by tag (`alpha` < `beta` < `pre` < `rc`), then by
//! the tag's number (missing = 0), then by the numbers after the tag (missing = 0).
//!
//! [`newest`] picks among candidate releases: when every candidate is orderable, the greatest
//! version wins and the log index breaks ties (the later entry wins); when any candidate is
//! not orderable, the log order alone decides (the latest entry wins), so a name whose
//! versions follow some other scheme still gets a well-defined answer.

use core::cmp::Ordering;

/// A pre-release tag, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tag {
    Alpha,
    Beta,
    Pre,
    Rc,
}

/// A parsed orderable version.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    release: Vec<u64>,
    /// The tag, its number and the numbers after it.
    pre: Option<(Tag, u64, Vec<u64>)>,
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn tag(s: &str) -> Option<(Tag, u64)> {
    let digits = s.find(|c: char| c.is_ascii_digit()).unwrap_or(s.len());
    let (word, n) = s.split_at(digits);
    let tag = match word {
        "alpha" => Tag::Alpha,
        "beta" => Tag::Beta,
        "pre" => Tag::Pre,
        "rc" => Tag::Rc,
        _ => return None,
    };
    let n = if n.is_empty() { 0 } else { number(n)? };
    Some((tag, n))
}

fn parse(version: &str) -> Option<Parsed> {
    let mut release = Vec::new();
    let mut pre: Option<(Tag, u64, Vec<u64>)> = None;
    for part in version.split(['.', '-']) {
        match (&mut pre, number(part)) {
            (None, Some(n)) => release.push(n),
            (Some((_, _, after)), Some(n)) => after.push(n),
            (None, None) if !release.is_empty() => {
                let (t, n) = tag(part)?;
                pre = Some((t, n, Vec::new()));
            }
            _ => return None,
        }
    }
    if release.is_empty() {
        return None;
    }
    Some(Parsed { release, pre })
}

/// Compares two number lists, a missing number counting as 0.
fn numbers(a: &[u64], b: &[u64]) -> Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

fn compare_parsed(a: &Parsed, b: &Parsed) -> Ordering {
    numbers(&a.release, &b.release).then_with(|| match (&a.pre, &b.pre) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some((ta, na, aa)), Some((tb, nb, ab))) => ta
            .cmp(tb)
            .then_with(|| na.cmp(nb))
            .then_with(|| numbers(aa, ab)),
    })
}

/// Whether `version` is orderable (see the module documentation).
pub fn is_orderable(version: &str) -> bool {
    parse(version).is_some()
}

/// Compares two orderable versions; `None` when either is not orderable.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(compare_parsed(&parse(a)?, &parse(b)?))
}

/// The newest of `candidates` (version, log index): by version when all are orderable, the
/// later index breaking ties; by log index alone otherwise. `None` when there are none.
pub fn newest<V: AsRef<str>>(candidates: &[(V, u64)]) -> Option<&(V, u64)> {
    let parsed: Option<Vec<Parsed>> = candidates.iter().map(|(v, _)| parse(v.as_ref())).collect();
    match parsed {
        Some(parsed) => candidates
            .iter()
            .zip(parsed)
            .max_by(|(a, pa), (b, pb)| compare_parsed(pa, pb).then_with(|| a.1.cmp(&b.1)))
            .map(|(c, _)| c),
        None => candidates.iter().max_by_key(|(_, i)| *i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lt(a: &str, b: &str) {
        assert_eq!(compare(a, b), Some(Ordering::Less), "{a} < {b}");
        assert_eq!(compare(b, a), Some(Ordering::Greater), "{b} > {a}");
    }

    #[test]
    fn numeric_components_compare_as_numbers() {
        lt("1.0", "1.1");
        lt("1.9", "1.10");
        lt("1.1", "2.0");
        lt("2", "2.0.1");
        lt("14.2-20261120", "14.2-20261201");
        lt("14.2-20261201", "14.3");
        assert_eq!(compare("1.0", "1.0.0"), Some(Ordering::Equal));
        assert_eq!(compare("1.01", "1.1"), Some(Ordering::Equal));
    }

    #[test]
    fn pre_releases_sort_before_their_release() {
        lt("2.0-rc1", "2.0");
        lt("2.0-alpha", "2.0-alpha1");
        lt("2.0-alpha2", "2.0-beta1");
        lt("2.0-beta9", "2.0-pre1");
        lt("2.0-pre1", "2.0-rc1");
        lt("2.0-rc1", "2.0-rc2");
        lt("2.0-rc.1", "2.0-rc.2");
        lt("2.0-rc9", "2.0.1-alpha");
        lt("1.9", "2.0-alpha");
        assert_eq!(compare("2.0-rc", "2.0-rc0"), Some(Ordering::Equal));
    }

    #[test]
    fn other_schemes_are_not_orderable() {
        for v in [
            "14.2-RELEASE-p1",
            "v1.0",
            "1.0+build5",
            "1.0_1",
            "rc1",
            "1.0-rc1-beta2",
            "1.0-RC1",
            "1..0",
            "1.0-",
            "99999999999999999999",
        ] {
            assert!(!is_orderable(v), "{v}");
            assert_eq!(compare(v, "1.0"), None, "{v}");
        }
        assert!(is_orderable("2.0-rc.1.2"));
    }

    #[test]
    fn newest_uses_versions_then_log_order() {
        let c = [("1.0", 0), ("2.0", 1), ("1.1", 2)];
        assert_eq!(newest(&c), Some(&("2.0", 1)));
        // Equal versions: the later entry wins.
        let c = [("1.0.0", 5), ("1.0", 3)];
        assert_eq!(newest(&c), Some(&("1.0.0", 5)));
        // A pre-release logged after its release does not win.
        let c = [("2.0", 1), ("2.0-rc1", 2)];
        assert_eq!(newest(&c), Some(&("2.0", 1)));
        // One version that does not parse: log order for the whole name.
        let c = [("2.0", 1), ("1.0-RELEASE", 2)];
        assert_eq!(newest(&c), Some(&("1.0-RELEASE", 2)));
        let none: [(&str, u64); 0] = [];
        assert_eq!(newest(&none), None);
    }
}
