//! The entry vectors of `spec/vectors/entries/` (format: `spec/vectors/README.md`).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use cairn_verifier::entry::{Deprecation, Entry, KeyEvent, Release};

fn entries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/entries")
}

/// The `.txt` files of a vector directory, sorted, as (file name, contents).
fn read_vectors(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 file name")
                .to_owned();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            (name, text)
        })
        .collect();
    files.sort();
    files
}

/// The variant name of an error, from its Debug form (`OutOfOrder { .. }` -> `OutOfOrder`).
fn variant<E: Debug>(error: &E) -> String {
    format!("{error:?}")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

#[test]
fn valid_vectors_parse_and_format_back_to_the_same_bytes() {
    let vectors = read_vectors(&entries_dir().join("valid"));
    assert!(vectors.len() >= 14, "valid vectors missing");
    for (name, text) in &vectors {
        let entry = Entry::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&entry.to_text(), text, "{name} does not format back");
        // The per-type parser agrees with the dispatching one, and the file name says the type.
        match &entry {
            Entry::Release(r) => {
                assert!(name.starts_with("release-"), "{name}");
                assert_eq!(Release::parse(text).as_ref(), Ok(r));
            }
            Entry::Deprecation(d) => {
                assert!(name.starts_with("deprecate-"), "{name}");
                assert_eq!(Deprecation::parse(text).as_ref(), Ok(d));
            }
            Entry::Key(k) => {
                assert!(name.starts_with("key-"), "{name}");
                assert_eq!(KeyEvent::parse(text).as_ref(), Ok(k));
            }
        }
    }
}

#[test]
fn invalid_vectors_fail_with_the_expected_error() {
    let listing = std::fs::read_to_string(entries_dir().join("invalid-expected.txt"))
        .expect("invalid-expected.txt");
    let expected: BTreeMap<&str, &str> = listing
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| line.split_once(' ').expect("`file variant` line"))
        .collect();
    let vectors = read_vectors(&entries_dir().join("invalid"));
    let names: Vec<&str> = vectors.iter().map(|(n, _)| n.as_str()).collect();
    let listed: Vec<&str> = expected.keys().copied().collect();
    assert_eq!(names, listed, "invalid/ and invalid-expected.txt disagree");
    assert!(vectors.len() >= 100, "invalid vectors missing");
    for (name, text) in &vectors {
        let error = match Entry::parse(text) {
            Ok(entry) => panic!("{name} parsed as {entry:?}"),
            Err(e) => e,
        };
        assert_eq!(variant(&error), expected[name.as_str()], "{name}: {error}");
    }
}

#[test]
fn spec_examples_are_valid_vectors_quoted_verbatim() {
    let spec = std::fs::read_to_string(entries_dir().join("../../entries.md")).expect("entries.md");
    let quoted = [
        "release-full.txt",
        "deprecate-full.txt",
        "key-root-genesis.txt",
        "key-add.txt",
        "key-revoke-never-valid.txt",
        "release-sigstore.txt",
        "key-add-identity-any-tag.txt",
        "key-revoke-identity.txt",
    ];
    for name in quoted {
        let text = std::fs::read_to_string(entries_dir().join("valid").join(name)).expect(name);
        assert!(
            spec.contains(&format!("```\n{text}```")),
            "entries.md does not quote {name}"
        );
    }
}
