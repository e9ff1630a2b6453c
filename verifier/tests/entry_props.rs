//! Property tests for the entry grammar: parsers never panic, generated entries round-trip,
//! any text the parser accepts is canonical, and scope matching agrees with a plain recursive
//! reference matcher.

use cairn_verifier::entry::{
    Advisory, Deprecation, Entry, FileName, FileRef, KeyEvent, Reason, Release, ReleaseName,
    RootSet, Scope, Sha256Digest, Version,
};
use cairn_verifier::note::{Ed25519Signer, Ed25519Verifier, KeyName};
use proptest::prelude::*;

fn release_name() -> impl Strategy<Value = ReleaseName> {
    prop::collection::vec("[a-z0-9][a-z0-9._-]{0,8}", 1..4)
        .prop_map(|segments| ReleaseName::new(&segments.join("/")).expect("generated name"))
}

fn version() -> impl Strategy<Value = Version> {
    "[A-Za-z0-9][A-Za-z0-9._+-]{0,12}".prop_map(|v| Version::new(&v).expect("generated version"))
}

fn file_ref() -> impl Strategy<Value = Option<FileRef>> {
    (
        any::<[u8; 32]>(),
        any::<u64>(),
        "[A-Za-z0-9][A-Za-z0-9._+-]{0,16}",
    )
        .prop_map(|(digest, size, name)| {
            // The generator can produce names the rules refuse (`a.`, `con.x`); skip those.
            FileName::new(&name).ok().map(|file_name| FileRef {
                digest: Sha256Digest::from_bytes(digest),
                size,
                file_name,
            })
        })
}

fn release() -> impl Strategy<Value = Release> {
    (
        release_name(),
        version(),
        prop::collection::vec(file_ref(), 1..5),
        prop::collection::vec(file_ref(), 0..3),
    )
        .prop_filter_map("duplicate or refused file names", |(n, v, a, m)| {
            let a: Vec<FileRef> = a.into_iter().flatten().collect();
            let m: Vec<FileRef> = m.into_iter().flatten().collect();
            Release::new(n, v, a, m).ok()
        })
}

fn reason() -> impl Strategy<Value = Reason> {
    "[!-~]{1,6}( [!-~]{1,6}){0,4}".prop_map(|r| Reason::new(&r).expect("generated reason"))
}

fn deprecation() -> impl Strategy<Value = Deprecation> {
    (
        release_name(),
        version(),
        reason(),
        prop::option::of("[!-~]{1,20}".prop_map(|a| Advisory::new(&a).expect("advisory"))),
        prop::option::of(version()),
    )
        .prop_filter_map("replacement equals version", |(n, v, r, a, rep)| {
            Deprecation::new(n, v, r, a, rep).ok()
        })
}

fn key() -> impl Strategy<Value = Ed25519Verifier> {
    ("[a-z]{1,6}\\.org/[a-z0-9-]{1,8}", any::<[u8; 32]>()).prop_map(|(name, seed)| {
        Ed25519Signer::from_seed(KeyName::new(&name).expect("key name"), seed).verifier()
    })
}

fn scope() -> impl Strategy<Value = Scope> {
    prop::collection::vec("[a-z0-9*][a-z0-9._*-]{0,6}", 1..4)
        .prop_filter_map("refused scope", |segments| {
            Scope::new(&segments.join("/")).ok()
        })
}

fn key_event() -> impl Strategy<Value = KeyEvent> {
    prop_oneof![
        (
            prop::collection::vec(key(), 1..5),
            1usize..5,
            prop::option::of(reason())
        )
            .prop_filter_map("invalid root set", |(keys, t, reason)| {
                RootSet::new(keys, t)
                    .ok()
                    .map(|roots| KeyEvent::Root { roots, reason })
            }),
        (key(), scope(), any::<u64>(), prop::option::of(reason())).prop_map(
            |(key, scope, from, reason)| KeyEvent::Add {
                key,
                scope,
                from,
                reason
            }
        ),
        (key(), any::<u64>(), reason()).prop_map(|(key, until, reason)| KeyEvent::Retire {
            key,
            until,
            reason
        }),
        (key(), any::<u64>(), reason()).prop_map(|(key, until, reason)| KeyEvent::Revoke {
            key,
            until,
            reason
        }),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        release().prop_map(Entry::Release),
        deprecation().prop_map(Entry::Deprecation),
        key_event().prop_map(Entry::Key),
    ]
}

/// One edit of a text: insert, delete or replace one character, drawn from characters that
/// matter to the grammar.
#[derive(Debug, Clone)]
enum Edit {
    Insert(prop::sample::Index, char),
    Delete(prop::sample::Index),
    Replace(prop::sample::Index, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    let c = prop::sample::select(vec![
        ' ', '\n', '/', '*', '.', '0', '1', '9', 'a', 'A', 'f', 'F', ':', '-', '+', '~', '\t',
        '\r', 'é', '\u{0}',
    ]);
    prop_oneof![
        (any::<prop::sample::Index>(), c.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<prop::sample::Index>().prop_map(Edit::Delete),
        (any::<prop::sample::Index>(), c).prop_map(|(i, c)| Edit::Replace(i, c)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        match e {
            Edit::Insert(i, c) => {
                let at = i.index(chars.len() + 1);
                chars.insert(at, *c);
            }
            Edit::Delete(i) if !chars.is_empty() => {
                let at = i.index(chars.len());
                chars.remove(at);
            }
            Edit::Replace(i, c) if !chars.is_empty() => {
                let at = i.index(chars.len());
                chars[at] = *c;
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// Reference scope matcher: plain recursion over segments and characters, written
/// independently of the crate's iterative one.
fn reference_match(scope: &str, name: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|k| glob(rest, &s[k..])),
            Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
        }
    }
    let p: Vec<&str> = scope.split('/').collect();
    let s: Vec<&str> = name.split('/').collect();
    p.len() == s.len()
        && p.iter()
            .zip(&s)
            .all(|(p, s)| glob(p.as_bytes(), s.as_bytes()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn generated_entries_round_trip(entry in entry()) {
        let text = entry.to_text();
        let parsed = Entry::parse(&text);
        prop_assert_eq!(parsed.as_ref(), Ok(&entry), "{}", text);
        prop_assert_eq!(parsed.map(|e| e.to_text()), Ok(text));
    }

    #[test]
    fn accepted_texts_are_canonical(entry in entry(), edits in prop::collection::vec(edit(), 1..4)) {
        // Whatever a mutated text parses to, it must format back to exactly those bytes:
        // no two byte strings share a meaning.
        let text = apply(&entry.to_text(), &edits);
        if let Ok(parsed) = Entry::parse(&text) {
            prop_assert_eq!(parsed.to_text(), text);
        }
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_text(text in ".{0,300}") {
        let _ = Entry::parse(&text);
        let _ = Release::parse(&text);
        let _ = Deprecation::parse(&text);
        let _ = KeyEvent::parse(&text);
    }

    #[test]
    fn parsers_never_panic_on_grammar_shaped_lines(
        ty in prop::sample::select(vec!["cairn/release/v1", "cairn/deprecate/v1", "cairn/key/v1"]),
        lines in prop::collection::vec(
            (prop::sample::select(vec![
                "name", "version", "artifact", "manifest", "reason", "advisory", "replacement",
                "event", "key", "scope", "from", "until", "root", "threshold", "x",
            ]), "[ -~]{0,40}"),
            0..12,
        ),
    ) {
        let mut text = format!("{ty}\n");
        for (k, v) in &lines {
            text.push_str(&format!("{k} {v}\n"));
        }
        if let Ok(parsed) = Entry::parse(&text) {
            prop_assert_eq!(parsed.to_text(), text);
        }
    }

    #[test]
    fn scope_matching_agrees_with_reference(scope in scope(), name in release_name()) {
        prop_assert_eq!(scope.matches(&name), reference_match(scope.as_str(), name.as_str()));
    }

    #[test]
    fn scope_matches_names_built_from_it(
        segments in prop::collection::vec(("[a-z0-9][a-z0-9._-]{0,4}", any::<bool>()), 1..4),
        fill in "[a-z0-9._-]{0,5}",
    ) {
        // Replace some segments of a name by `*` or `<prefix>*`: the scope must match the name.
        let name: Vec<&str> = segments.iter().map(|(s, _)| s.as_str()).collect();
        let scope: Vec<String> = segments
            .iter()
            .map(|(s, star)| if *star { format!("{}*", &s[..1]) } else { s.clone() })
            .collect();
        let name = ReleaseName::new(&name.join("/")).expect("name");
        let scope = Scope::new(&scope.join("/")).expect("scope");
        prop_assert!(scope.matches(&name));
        // One more segment never matches: `*` does not cross `/`.
        let deeper = ReleaseName::new(&format!("{name}/x{fill}")).expect("name");
        prop_assert!(!scope.matches(&deeper));
    }
}
