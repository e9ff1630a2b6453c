//! Paths of the release log's static lookups (spec/http-api.md, "Static lookups").
//!
//! The log server answers these from its index; a mirror (`cairn mirror`) writes them as files,
//! so that any static web server serving the mirror's directory answers them too. A path is the
//! same string on the wire and on disk, so it must be safe as a relative file path and must
//! never name a file that another lookup needs as a directory. Release names contain `/`, so
//! `name/<name>/<version>` cannot be both: name `a` version `b` is a file where name `a/b`
//! needs a directory. Each name therefore gets one directory, `name/<name>/`, whose own
//! entries start with `_`, which no name segment can ([`ReleaseName`]: a segment starts with a
//! lowercase letter or digit). Versions start with an ASCII letter or digit, so no component is
//! `.`, `..` or hidden.
//!
//! Lookups are hints: a client fetches and verifies every entry a lookup names. The answer of
//! [`SIZE_PATH`] says up to which release-log size the lookups are complete, which is what lets
//! a client tell "none" (a 404 below that size) from "this server answers no lookups".

use crate::entry::{ReleaseName, Sha256Digest, Version};

/// `releases/lookup/size`: one canonical decimal line, the release-log size up to which every
/// lookup below is complete. Absent on a server or copy that answers no lookups.
pub const SIZE_PATH: &str = "releases/lookup/size";

/// The directory every lookup lives under.
pub const LOOKUP_DIR: &str = "releases/lookup";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `releases/lookup/sha256/<hex>`: the indexes of the entries naming the digest, one per line,
/// ascending.
pub fn digest_path(digest: &Sha256Digest) -> String {
    format!("{LOOKUP_DIR}/sha256/{}", hex(digest.as_bytes()))
}

/// `releases/lookup/name/<name>/_versions`: every release of the name, `<version> <index>` per
/// line, ascending by index.
pub fn versions_path(name: &ReleaseName) -> String {
    format!("{LOOKUP_DIR}/name/{}/_versions", name.as_str())
}

/// `releases/lookup/name/<name>/_release/<version>`: the index of the release, one line.
pub fn release_path(name: &ReleaseName, version: &Version) -> String {
    format!(
        "{LOOKUP_DIR}/name/{}/_release/{}",
        name.as_str(),
        version.as_str()
    )
}

/// `releases/lookup/name/<name>/_deprecations/<version>`: the indexes of the deprecations of
/// that release, one per line, ascending.
pub fn deprecations_path(name: &ReleaseName, version: &Version) -> String {
    format!(
        "{LOOKUP_DIR}/name/{}/_deprecations/{}",
        name.as_str(),
        version.as_str()
    )
}

/// What a path under `releases/lookup/name/` asks for (the part after `name/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameLookup {
    /// `<name>/_versions`.
    Versions(ReleaseName),
    /// `<name>/_release/<version>`.
    Release(ReleaseName, Version),
    /// `<name>/_deprecations/<version>`.
    Deprecations(ReleaseName, Version),
}

/// Parses the part of a static lookup path after `releases/lookup/name/`. `None` when it is
/// not one of the static forms (or names an invalid name or version).
pub fn parse_name_lookup(rest: &str) -> Option<NameLookup> {
    if let Some(name) = rest.strip_suffix("/_versions") {
        return ReleaseName::new(name).ok().map(NameLookup::Versions);
    }
    let (head, version) = rest.rsplit_once('/')?;
    let version = Version::new(version).ok()?;
    if let Some(name) = head.strip_suffix("/_release") {
        return Some(NameLookup::Release(ReleaseName::new(name).ok()?, version));
    }
    if let Some(name) = head.strip_suffix("/_deprecations") {
        return Some(NameLookup::Deprecations(
            ReleaseName::new(name).ok()?,
            version,
        ));
    }
    None
}

/// The body of a lookup answering indexes: one canonical decimal per line.
pub fn indexes_body(indexes: &[u64]) -> String {
    indexes.iter().map(|i| format!("{i}\n")).collect()
}

/// The body of a `_versions` lookup.
pub fn versions_body(versions: &[(String, u64)]) -> String {
    versions.iter().map(|(v, i)| format!("{v} {i}\n")).collect()
}

/// Parses a `_versions` body (strict: canonical decimals, valid versions).
pub fn parse_versions_body(body: &str) -> Option<Vec<(Version, u64)>> {
    body.lines()
        .map(|l| {
            let (v, i) = l.split_once(' ')?;
            Some((
                Version::new(v).ok()?,
                crate::decimal::parse_canonical_u64(i)?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ReleaseName {
        ReleaseName::new(s).expect("name")
    }
    fn version(s: &str) -> Version {
        Version::new(s).expect("version")
    }

    #[test]
    fn a_name_that_extends_another_never_needs_a_file_as_a_directory() {
        // Name `a` version `b`, and name `a/b`: the first is a file under `a/_release/`, the
        // second a directory `a/b/`, so both exist side by side.
        let short = release_path(&name("a"), &version("b"));
        let long = release_path(&name("a/b"), &version("c"));
        assert_eq!(short, "releases/lookup/name/a/_release/b");
        assert_eq!(long, "releases/lookup/name/a/b/_release/c");
        assert!(!long.starts_with(&format!("{short}/")));
        assert_eq!(
            versions_path(&name("a/b")),
            "releases/lookup/name/a/b/_versions"
        );
    }

    #[test]
    fn static_name_paths_parse_back() {
        for (n, v) in [
            ("a", "1.0"),
            ("hardenedbsd/installer-amd64", "14.2-RELEASE-p1"),
        ] {
            let (n, v) = (name(n), version(v));
            let rest = |p: String| p["releases/lookup/name/".len()..].to_owned();
            assert_eq!(
                parse_name_lookup(&rest(release_path(&n, &v))),
                Some(NameLookup::Release(n.clone(), v.clone()))
            );
            assert_eq!(
                parse_name_lookup(&rest(deprecations_path(&n, &v))),
                Some(NameLookup::Deprecations(n.clone(), v.clone()))
            );
            assert_eq!(
                parse_name_lookup(&rest(versions_path(&n))),
                Some(NameLookup::Versions(n.clone()))
            );
        }
        // The older dynamic form `<name>/<version>` is not a static one.
        assert_eq!(parse_name_lookup("example/os/1.0"), None);
        assert_eq!(parse_name_lookup("../_release/1.0"), None);
        assert_eq!(parse_name_lookup("a/_release/../x"), None);
        assert_eq!(parse_name_lookup("A/_versions"), None);
    }

    #[test]
    fn versions_bodies_round_trip_and_reject_non_canonical_indexes() {
        let body = versions_body(&[("1.0".to_owned(), 3), ("2.0".to_owned(), 10)]);
        assert_eq!(body, "1.0 3\n2.0 10\n");
        assert_eq!(
            parse_versions_body(&body),
            Some(vec![(version("1.0"), 3), (version("2.0"), 10)])
        );
        assert_eq!(parse_versions_body("1.0 03\n"), None);
        assert_eq!(parse_versions_body("1.0\n"), None);
    }
}
