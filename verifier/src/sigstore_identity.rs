//! Which Sigstore certificate identities are accepted: an exact SAN value, or a workflow identity
//! with any tag (`...@refs/tags/*`). See spec/sigstore.md, "Identity patterns". It lives in the
//! trusted core because key-log grants (`event add-identity`, spec/entries.md 7.4) carry one.

use std::fmt;

const TAGS_SUFFIX: &str = "@refs/tags/";

/// An accepted certificate identity (the certificate's URI or email subject alternative name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMatcher {
    /// Exactly this identity.
    Exact(String),
    /// `PREFIX@refs/tags/*`: the identity `PREFIX@refs/tags/TAG` for any tag name `TAG` made of
    /// ASCII letters, digits and `._-+/`, not starting with `/` or `.`, without `..` or `//`.
    AnyTag {
        /// Everything before `*`, ending in `@refs/tags/`.
        prefix: String,
    },
}

impl IdentityMatcher {
    /// Parses an identity as given on the command line or in a key-log grant. A `*` is only
    /// allowed as the whole last component after `@refs/tags/`.
    pub fn parse(text: &str) -> Result<IdentityMatcher, String> {
        if text.is_empty() || text.len() > 4096 {
            return Err("an identity must be 1 to 4096 bytes".to_owned());
        }
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!(
                "identity {text:?} contains whitespace or a control character"
            ));
        }
        match text.find('*') {
            None => Ok(IdentityMatcher::Exact(text.to_owned())),
            Some(i) => {
                let prefix = &text[..i];
                if i + 1 != text.len()
                    || !prefix.ends_with(TAGS_SUFFIX)
                    || prefix.len() == TAGS_SUFFIX.len()
                {
                    return Err(format!(
                        "identity pattern {text:?}: `*` is only allowed as `IDENTITY@refs/tags/*`"
                    ));
                }
                Ok(IdentityMatcher::AnyTag {
                    prefix: prefix.to_owned(),
                })
            }
        }
    }

    /// Whether `identity` is accepted.
    pub fn matches(&self, identity: &str) -> bool {
        match self {
            IdentityMatcher::Exact(want) => identity == want,
            IdentityMatcher::AnyTag { prefix } => identity
                .strip_prefix(prefix.as_str())
                .is_some_and(is_tag_name),
        }
    }
}

fn is_tag_name(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 255
        && !tag.starts_with(['/', '.'])
        && !tag.ends_with('/')
        && !tag.contains("..")
        && !tag.contains("//")
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+/".contains(&b))
}

impl fmt::Display for IdentityMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityMatcher::Exact(s) => f.write_str(s),
            IdentityMatcher::AnyTag { prefix } => write!(f, "{prefix}*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WF: &str = "https://github.com/o/r/.github/workflows/release.yml";

    #[test]
    fn exact_matches_only_itself() {
        let m = IdentityMatcher::parse(&format!("{WF}@refs/heads/main")).expect("parse");
        assert!(m.matches(&format!("{WF}@refs/heads/main")));
        assert!(!m.matches(&format!("{WF}@refs/heads/main2")));
        assert!(!m.matches(&format!("{WF}@refs/heads/mai")));
    }

    #[test]
    fn any_tag_matches_tags_only() {
        let m = IdentityMatcher::parse(&format!("{WF}@refs/tags/*")).expect("parse");
        assert!(m.matches(&format!("{WF}@refs/tags/v1.2.3")));
        assert!(m.matches(&format!("{WF}@refs/tags/release/2026-01")));
        for bad in [
            format!("{WF}@refs/tags/"),
            format!("{WF}@refs/heads/main"),
            format!("{WF}@refs/tags/../heads/main"),
            format!("{WF}@refs/tags/v1@x"),
            format!("{WF}x@refs/tags/v1"),
            format!("{WF}@refs/tags/v1 x"),
        ] {
            assert!(!m.matches(&bad), "{bad}");
        }
    }

    #[test]
    fn stars_elsewhere_are_refused() {
        for bad in [
            "*",
            "https://github.com/*",
            "https://x@refs/tags/*/x",
            "@refs/tags/*",
            "https://x@refs/heads/*",
            "a b",
        ] {
            assert!(IdentityMatcher::parse(bad).is_err(), "{bad}");
        }
    }
}
