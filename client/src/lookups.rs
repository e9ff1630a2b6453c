//! The static lookups a log or mirror serves (`spec/http-api.md`, "Static lookups"): hints
//! only. A client reads them to find candidate entries, then verifies every entry it uses
//! against an authenticated checkpoint; an answer can hide an entry but never forge one.

use cairn_verifier::lookup;

use crate::upstream::{Upstream, reason_line};

/// Longest static lookup answer read: a few thousand indexes or versions.
const MAX_LOOKUP_SIZE: usize = 64 * 1024;

/// `GET releases/lookup/size` at `up`: the release-log size up to which its lookups are
/// complete, or `None` when it answers no lookups (a 404: a plain copy of the log, a static
/// server over a `git clone`, a mirror made before lookups existed). spec/http-api.md.
pub fn lookup_size<U: Upstream + ?Sized>(up: &U) -> crate::Result<Option<u64>> {
    let Some(body) = up.get(lookup::SIZE_PATH, MAX_LOOKUP_SIZE)? else {
        return Ok(None);
    };
    let line = std::str::from_utf8(&body)
        .ok()
        .and_then(|t| t.strip_suffix('\n'))
        .and_then(cairn_verifier::decimal::parse_canonical_u64);
    match line {
        Some(size) => Ok(Some(size)),
        None => Err(crate::error::err!(
            "{}: {} is not one decimal line: {:?}",
            up.describe(),
            lookup::SIZE_PATH,
            reason_line(&body)
        )),
    }
}

/// A lookup answering indexes (one canonical decimal per line) at `path`; `None` on 404.
pub fn lookup_indexes<U: Upstream + ?Sized>(up: &U, path: &str) -> crate::Result<Option<Vec<u64>>> {
    let Some(body) = up.get(path, MAX_LOOKUP_SIZE)? else {
        return Ok(None);
    };
    let text = String::from_utf8(body)
        .map_err(|_| crate::error::err!("{}: {path}: the answer is not UTF-8", up.describe()))?;
    text.lines()
        .map(|l| {
            cairn_verifier::decimal::parse_canonical_u64(l).ok_or_else(|| {
                crate::error::err!(
                    "{}: {path}: answer line {:?} is not an index",
                    up.describe(),
                    reason_line(l.as_bytes())
                )
            })
        })
        .collect::<crate::Result<Vec<u64>>>()
        .map(Some)
}

/// Whether the lookups of `up` can answer for a release-log tree of `size`: `Err` says, in
/// plain words, why not (no lookups at all, lookups behind the checkpoint, or unreadable).
pub fn lookups_cover<U: Upstream + ?Sized>(up: &U, size: u64) -> Result<(), String> {
    match lookup_size(up) {
        Ok(Some(n)) if n >= size => Ok(()),
        Ok(Some(n)) => Err(format!(
            "{} answers lookups for the first {n} entries of the release log only, not for \
             all {size} of its checkpoint",
            up.describe()
        )),
        Ok(None) => Err(format!(
            "{} answers no lookups (it serves the log's tiles only: a plain copy of the log, \
             or a mirror that does not write lookups)",
            up.describe()
        )),
        Err(e) => Err(format!("the lookups could not be read: {}", e.chain())),
    }
}
