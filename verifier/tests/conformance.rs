//! Conformance: every vector listed in `vectors/manifest.json` at the repository root (format
//! described in `vectors/README.md`) goes through this crate's own parsers and verifiers, and the
//! verdict must equal the manifest's `expect`. Also the RFC 6962 reference roots and the
//! byte-exact signing expectations under `vectors/generated/`.
//!
//! The runner is deliberately strict about the vector files themselves: an unknown field, a
//! missing required field or a value of the wrong JSON type is reported as a broken case (and
//! fails the test) rather than silently ignored, so a misspelt `require` cannot turn an "all"
//! into an "any".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use cairn_verifier::checkpoint::{Checkpoint, VerifiedCheckpoint};
use cairn_verifier::cosignature::CosignatureSigner;
use cairn_verifier::hash::{Hash, leaf_hash};
use cairn_verifier::keys::{AnyVerifier, parse_vkey};
use cairn_verifier::merkle::{MemoryTree, verify_consistency, verify_inclusion};
use cairn_verifier::note::{Ed25519Signer, KeyName, Note, NoteVerifier};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Why a case did not end in "accepted".
enum Stop {
    /// This crate refused the input: the verdict is FAIL.
    Reject(String),
    /// The vector file cannot be run as written: a bug in the vector or in this runner.
    Broken(String),
}

type Step<T> = Result<T, Stop>;

fn reject<T>(why: impl Into<String>) -> Step<T> {
    Err(Stop::Reject(why.into()))
}

fn broken<T>(why: impl Into<String>) -> Step<T> {
    Err(Stop::Broken(why.into()))
}

/// A JSON object whose every key must be one the runner understands.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn new(value: &'a Value, what: &'static str, allowed: &[&str]) -> Step<Fields<'a>> {
        let Value::Object(map) = value else {
            return broken(format!("{what} is not a JSON object"));
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return broken(format!("{what} has unknown field {unknown:?}"));
        }
        Ok(Fields { map, what })
    }

    /// The value under whichever of the alternative spellings is present (at most one may be).
    fn get(&self, names: &[&str]) -> Step<Option<&'a Value>> {
        let mut found = names.iter().filter_map(|n| self.map.get(*n));
        let first = found.next();
        if found.next().is_some() {
            return broken(format!("{} has more than one of {names:?}", self.what));
        }
        Ok(first)
    }

    fn u64(&self, names: &[&str]) -> Step<Option<u64>> {
        match self.get(names)? {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) => Ok(Some(v)),
                None => broken(format!("{}.{names:?} is not a u64: {n}", self.what)),
            },
            // Sigstore's protobuf JSON writes 64-bit integers as decimal strings.
            Some(Value::String(s)) => match s.parse::<u64>() {
                Ok(v) => Ok(Some(v)),
                Err(_) => broken(format!("{}.{names:?} is not a u64: {s:?}", self.what)),
            },
            Some(other) => broken(format!("{}.{names:?} is not a number: {other}", self.what)),
        }
    }

    fn str(&self, names: &[&str]) -> Step<Option<&'a str>> {
        match self.get(names)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => broken(format!("{}.{names:?} is not a string: {other}", self.what)),
        }
    }

    /// A hash in base64. A value that is not canonical base64 of exactly 32 bytes is refused by
    /// this crate (README: "Every hash ... decodes to exactly 32 bytes"), so it is a verdict.
    fn hash(&self, names: &[&str]) -> Step<Option<Hash>> {
        match self.str(names)? {
            None => Ok(None),
            Some(s) => match Hash::from_base64(s) {
                Ok(h) => Ok(Some(h)),
                Err(e) => reject(format!("{}.{} {s:?}: {e}", self.what, names[0])),
            },
        }
    }

    /// A list of base64 hashes; JSON `null` (Go's nil slice) is the empty list.
    fn hashes(&self, names: &[&str]) -> Step<Vec<Hash>> {
        match self.get(names)? {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Hash::from_base64(s)
                        .or_else(|e| reject(format!("{}.{}[{i}] {s:?}: {e}", self.what, names[0]))),
                    other => broken(format!(
                        "{}.{}[{i}] is not a string: {other}",
                        self.what, names[0]
                    )),
                })
                .collect(),
            Some(other) => broken(format!("{}.{names:?} is not a list: {other}", self.what)),
        }
    }

    fn bool(&self, name: &str) -> Step<Option<bool>> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => broken(format!("{}.{name} is not a boolean: {other}", self.what)),
        }
    }
}

fn require<T>(value: Option<T>, what: &str) -> Step<T> {
    match value {
        Some(v) => Ok(v),
        None => broken(format!("missing {what}")),
    }
}

const CASE_FIELDS: &[&str] = &[
    "description",
    "note",
    "note_file",
    "vkeys",
    "require",
    "checkpoint",
    "origin",
    "inclusion",
    "consistency",
    // Only in generated/tree13-checkpoint.json: facts about the tree the note signs.
    "tree_size",
    "root",
    "root_hex",
    "leaf_hashes",
];

const INCLUSION_FIELDS: &[&str] = &[
    "index",
    "leafIdx",
    "logIndex",
    "tree_size",
    "treeSize",
    "root",
    "rootHash",
    "leaf_hash",
    "leafHash",
    "leaf_data",
    "canonicalizedBody",
    "proof",
    "hashes",
    // transparency-dev/merkle test metadata; the manifest's verdict is what counts.
    "desc",
    "wantErr",
];

const CONSISTENCY_FIELDS: &[&str] = &[
    "size1", "size2", "root1", "root2", "proof", "hashes", "desc", "wantErr",
];

/// Runs one case file. `Ok(())` means every check this crate made accepted it.
fn run_case(path: &Path, case: &Value, upstream_fail: Option<bool>) -> Step<()> {
    let Value::Object(top) = case else {
        return broken("case is not a JSON object");
    };
    // transparency-dev/merkle files are a bare proof object.
    if top.contains_key("leafIdx") || top.contains_key("size1") {
        let want_err = if top.contains_key("leafIdx") {
            let fields = Fields::new(case, "inclusion", INCLUSION_FIELDS)?;
            check_inclusion(&fields, None)?;
            fields.bool("wantErr")?
        } else {
            let fields = Fields::new(case, "consistency", CONSISTENCY_FIELDS)?;
            check_consistency(&fields, None)?;
            fields.bool("wantErr")?
        };
        // Consistency of the vector set itself, not a verdict: wantErr is upstream's verdict.
        if let (Some(want_err), Some(upstream_fail)) = (want_err, upstream_fail) {
            if want_err != upstream_fail {
                return broken("wantErr disagrees with the manifest's upstream_verdict");
            }
        }
        return Ok(());
    }

    let fields = Fields::new(case, "case", CASE_FIELDS)?;
    let checkpoint = check_note(path, &fields)?;

    for (name, check) in [
        (
            "inclusion",
            check_inclusion as fn(&Fields<'_>, Option<&VerifiedCheckpoint>) -> Step<()>,
        ),
        ("consistency", check_consistency),
    ] {
        let objects = match fields.map.get(name) {
            None => Vec::new(),
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one) => vec![one],
        };
        let allowed = if name == "inclusion" {
            INCLUSION_FIELDS
        } else {
            CONSISTENCY_FIELDS
        };
        for (i, object) in objects.into_iter().enumerate() {
            let what = if name == "inclusion" {
                "inclusion"
            } else {
                "consistency"
            };
            let proof_fields = Fields::new(object, what, allowed)?;
            check(&proof_fields, checkpoint.as_ref()).map_err(|stop| match stop {
                Stop::Reject(why) => Stop::Reject(format!("{name}[{i}]: {why}")),
                Stop::Broken(why) => Stop::Broken(format!("{name}[{i}]: {why}")),
            })?;
        }
    }

    check_tree_facts(&fields, checkpoint.as_ref())
}

/// Verifies the note of a case, if it has one, and returns the verified checkpoint when the case
/// asks for one.
fn check_note(path: &Path, fields: &Fields<'_>) -> Step<Option<VerifiedCheckpoint>> {
    let bytes = match (fields.str(&["note"])?, fields.str(&["note_file"])?) {
        (Some(_), Some(_)) => return broken("both note and note_file"),
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(file)) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            match std::fs::read(dir.join(file)) {
                Ok(bytes) => bytes,
                Err(e) => return broken(format!("cannot read note_file {file}: {e}")),
            }
        }
        (None, None) => {
            for field in ["vkeys", "require", "checkpoint", "origin"] {
                if fields.map.contains_key(field) {
                    return broken(format!("{field} without a note"));
                }
            }
            return Ok(None);
        }
    };

    let vkeys = match fields.map.get("vkeys") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => return broken("a note needs a non-empty vkeys list"),
    };
    let mut verifiers: Vec<AnyVerifier> = Vec::new();
    for vkey in vkeys {
        let Value::String(vkey) = vkey else {
            return broken("vkeys entries must be strings");
        };
        match parse_vkey(vkey) {
            Ok(v) => verifiers.push(v),
            Err(e) => return reject(format!("vkey {vkey}: {e}")),
        }
    }
    let require_all = match fields.str(&["require"])? {
        None | Some("any") => false,
        Some("all") => true,
        Some(other) => return broken(format!("require must be any or all, not {other:?}")),
    };

    let note = Note::parse(&bytes).or_else(|e| reject(format!("note: {e}")))?;
    let known: Vec<&dyn NoteVerifier> = verifiers.iter().map(|v| v as &dyn NoteVerifier).collect();
    let verified = note
        .verify(&known)
        .or_else(|e| reject(format!("note: {e}")))?;
    if require_all {
        if let Some(missing) = verifiers.iter().find(|v| !verified.is_signed_by(*v)) {
            return reject(format!("required key {} did not sign", missing.to_vkey()));
        }
    }

    let expected_origin = fields.str(&["origin"])?;
    if fields.bool("checkpoint")? != Some(true) {
        if expected_origin.is_some() {
            return broken("origin without checkpoint: true");
        }
        return Ok(None);
    }
    // Treat the first listed key that signed as the log's key; the note rules for all of them
    // were applied above.
    let log_key = verifiers
        .iter()
        .find(|v| verified.is_signed_by(*v))
        .expect("Note::verify succeeded, so some listed key signed");
    let origin = match expected_origin {
        Some(origin) => origin.to_owned(),
        // The vector pins no origin: accept whichever origin the signed text names. Reading it
        // here is safe only because the text was verified just above.
        None => match Checkpoint::parse(verified.text()) {
            Ok(cp) => cp.origin,
            Err(e) => return reject(format!("checkpoint: {e}")),
        },
    };
    VerifiedCheckpoint::verify(&bytes, &origin, log_key)
        .map(Some)
        .or_else(|e| reject(format!("checkpoint: {e}")))
}

fn check_inclusion(fields: &Fields<'_>, checkpoint: Option<&VerifiedCheckpoint>) -> Step<()> {
    let index = require(fields.u64(&["index", "leafIdx", "logIndex"])?, "index")?;
    let tree_size = match fields.u64(&["tree_size", "treeSize"])? {
        Some(size) => size,
        None => require(checkpoint, "tree_size (and no checkpoint to take it from)")?.size(),
    };
    let root = match fields.hash(&["root", "rootHash"])? {
        Some(root) => root,
        None => *require(checkpoint, "root (and no checkpoint to take it from)")?.root(),
    };
    let leaf = match (
        fields.hash(&["leaf_hash", "leafHash"])?,
        fields.str(&["leaf_data", "canonicalizedBody"])?,
    ) {
        (Some(hash), None) => hash,
        (None, Some(data)) => match STANDARD.decode(data) {
            Ok(data) => leaf_hash(&data),
            Err(e) => return broken(format!("leaf_data is not base64: {e}")),
        },
        _ => return broken("exactly one of leaf_hash and leaf_data is needed"),
    };
    let proof = fields.hashes(&["proof", "hashes"])?;
    verify_inclusion(&leaf, index, tree_size, &proof, &root)
        .or_else(|e| reject(format!("inclusion of {index} in {tree_size}: {e}")))
}

fn check_consistency(fields: &Fields<'_>, checkpoint: Option<&VerifiedCheckpoint>) -> Step<()> {
    let size1 = require(fields.u64(&["size1"])?, "size1")?;
    let root1 = require(fields.hash(&["root1"])?, "root1")?;
    let size2 = match fields.u64(&["size2"])? {
        Some(size) => size,
        None => require(checkpoint, "size2 (and no checkpoint to take it from)")?.size(),
    };
    let root2 = match fields.hash(&["root2"])? {
        Some(root) => root,
        None => *require(checkpoint, "root2 (and no checkpoint to take it from)")?.root(),
    };
    let proof = fields.hashes(&["proof", "hashes"])?;
    verify_consistency(size1, &root1, size2, &root2, &proof)
        .or_else(|e| reject(format!("consistency {size1} -> {size2}: {e}")))
}

/// `tree_size`, `root`, `root_hex` and `leaf_hashes` state facts about the signed tree: check
/// them against the verified checkpoint and a tree rebuilt from the leaf hashes.
fn check_tree_facts(fields: &Fields<'_>, checkpoint: Option<&VerifiedCheckpoint>) -> Step<()> {
    let size = fields.u64(&["tree_size"])?;
    let root = fields.hash(&["root"])?;
    let root_hex = fields.str(&["root_hex"])?;
    let leaves = match fields.map.get("leaf_hashes") {
        None => None,
        Some(_) => Some(fields.hashes(&["leaf_hashes"])?),
    };
    if size.is_none() && root.is_none() && root_hex.is_none() && leaves.is_none() {
        return Ok(());
    }
    let checkpoint = require(checkpoint, "a checkpoint for tree_size/root facts")?;
    if size.is_some_and(|s| s != checkpoint.size()) {
        return reject("tree_size differs from the signed checkpoint");
    }
    if root.is_some_and(|r| &r != checkpoint.root()) {
        return reject("root differs from the signed checkpoint");
    }
    if root_hex.is_some_and(|h| h != checkpoint.root().to_hex()) {
        return reject("root_hex differs from the signed checkpoint");
    }
    if let Some(leaves) = leaves {
        let mut tree = MemoryTree::new();
        for leaf in leaves {
            tree.append_leaf_hash(leaf);
        }
        if tree.size() != checkpoint.size() || &tree.root() != checkpoint.root() {
            return reject("leaf_hashes do not hash to the signed root");
        }
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    total: usize,
    expect_ok: usize,
    expect_fail: usize,
    mismatches: usize,
}

#[test]
fn every_manifest_case_gets_its_expected_verdict() {
    let started = Instant::now();
    let dir = vectors_dir();
    let manifest = read_json(&dir.join("manifest.json"));
    let cases = manifest
        .get("cases")
        .and_then(Value::as_array)
        .expect("manifest.json has a cases list");
    assert!(!cases.is_empty(), "manifest lists no cases");

    // CAIRN_CONFORMANCE_VERBOSE=1 prints every case's verdict and the reason for each FAIL, to
    // check that FAIL vectors fail for the reason they were written for.
    let verbose = std::env::var_os("CAIRN_CONFORMANCE_VERBOSE").is_some();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    let mut seen_ids = std::collections::BTreeSet::new();
    for entry in cases {
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("manifest entry without {name}: {entry}"))
        };
        let (id, file, expect, category) = (
            field("id"),
            field("case"),
            field("expect"),
            field("category"),
        );
        assert!(seen_ids.insert(id.to_owned()), "duplicate id {id}");
        let expect_ok = match expect {
            "OK" => true,
            "FAIL" => false,
            other => panic!("{id}: expect must be OK or FAIL, not {other:?}"),
        };
        let upstream_fail = entry
            .get("upstream_verdict")
            .and_then(Value::as_str)
            .map(|v| v == "FAIL");

        let path = dir.join(file);
        let outcome = run_case(&path, &read_json(&path), upstream_fail);
        if verbose {
            let verdict = match &outcome {
                Ok(()) => "OK".to_owned(),
                Err(Stop::Reject(why)) => format!("FAIL ({why})"),
                Err(Stop::Broken(why)) => format!("BROKEN ({why})"),
            };
            eprintln!("{id}: expect {expect}, got {verdict}");
        }
        let tally = tallies.entry(category.to_owned()).or_default();
        tally.total += 1;
        if expect_ok {
            tally.expect_ok += 1;
        } else {
            tally.expect_fail += 1;
        }
        let problem = match (outcome, expect_ok) {
            (Ok(()), true) | (Err(Stop::Reject(_)), false) => None,
            (Ok(()), false) => Some("expected FAIL, got OK".to_owned()),
            (Err(Stop::Reject(why)), true) => Some(format!("expected OK, got FAIL: {why}")),
            (Err(Stop::Broken(why)), _) => Some(format!("case cannot be run: {why}")),
        };
        if let Some(problem) = problem {
            tally.mismatches += 1;
            problems.push(format!("{id} ({file}): {problem}"));
        }
    }

    let total: usize = tallies.values().map(|t| t.total).sum();
    let expect_ok: usize = tallies.values().map(|t| t.expect_ok).sum();
    let expect_fail: usize = tallies.values().map(|t| t.expect_fail).sum();
    eprintln!("conformance vectors from {}", dir.display());
    eprintln!(
        "{:<52} {:>6} {:>6} {:>6} {:>9}",
        "category", "total", "OK", "FAIL", "mismatch"
    );
    for (category, t) in &tallies {
        eprintln!(
            "{category:<52} {:>6} {:>6} {:>6} {:>9}",
            t.total, t.expect_ok, t.expect_fail, t.mismatches
        );
    }
    eprintln!(
        "{:<52} {total:>6} {expect_ok:>6} {expect_fail:>6} {:>9}",
        "all",
        problems.len()
    );
    eprintln!("ran in {:.2?}", started.elapsed());
    assert!(
        problems.is_empty(),
        "{} of {total} vectors did not get their expected verdict:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn hex_decode(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("{s:?}: {e}")))
        .collect()
}

#[test]
fn rfc6962_reference_roots_for_every_size() {
    let dir = vectors_dir().join("rfc6962");
    let leaves: Vec<Vec<u8>> = std::fs::read_to_string(dir.join("leaves.hex"))
        .expect("leaves.hex")
        .lines()
        .map(str::trim)
        // The first standard leaf is the empty string: an empty line is a leaf, not padding.
        .map(hex_decode)
        .collect();
    let roots = read_json(&dir.join("reference_roots.json"));
    let roots: Vec<&str> = roots["roots_hex"]
        .as_array()
        .expect("roots_hex")
        .iter()
        .map(|v| v.as_str().expect("hex string"))
        .collect();
    assert_eq!(leaves.len(), 8, "the eight RFC 6962 test leaves");
    assert_eq!(roots.len(), leaves.len() + 1, "a root for every size 0..=8");

    let mut tree = MemoryTree::new();
    for (size, expected) in roots.iter().enumerate() {
        if size > 0 {
            tree.append(&leaves[size - 1]);
        }
        assert_eq!(
            &tree.root().to_hex(),
            expected,
            "root of the first {size} leaves"
        );
        // The reference root also anchors this crate's proofs for that size.
        let root = tree.root();
        for index in 0..tree.size() {
            let proof = tree.prove_inclusion(index, tree.size()).expect("proof");
            verify_inclusion(
                &leaf_hash(&leaves[index as usize]),
                index,
                tree.size(),
                &proof,
                &root,
            )
            .unwrap_or_else(|e| panic!("leaf {index} in {size}: {e}"));
        }
        for size1 in 1..=tree.size() {
            let proof = tree.prove_consistency(size1, tree.size()).expect("proof");
            let root1 = tree.root_at(size1).expect("root");
            verify_consistency(size1, &root1, tree.size(), &root, &proof)
                .unwrap_or_else(|e| panic!("{size1} -> {size}: {e}"));
        }
    }
}

fn text_file(name: &str) -> String {
    let path = vectors_dir().join("generated").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn byte_exact_signing_matches_golang_mod() {
    let expected = read_json(&vectors_dir().join("generated/expected-signing.json"));
    let signs = expected["sign"].as_array().expect("sign list");
    let keygens = expected["keygen"].as_array().expect("keygen list");
    assert!(!signs.is_empty() && !keygens.is_empty());
    for case in signs {
        let signer = Ed25519Signer::from_skey(case["skey"].as_str().expect("skey")).expect("skey");
        let text = text_file(case["text_file"].as_str().expect("text_file"));
        let note = Note::sign(&text, &[&signer]).expect("sign");
        let expected_note = case["expected_note"].as_str().expect("expected_note");
        assert_eq!(
            String::from_utf8(note.to_bytes()).expect("utf8"),
            expected_note
        );
        let parsed = Note::parse(expected_note.as_bytes()).expect("parse");
        assert!(parsed.verify(&[&signer.verifier()]).is_ok());
    }
    for case in keygens {
        let name = KeyName::new(case["name"].as_str().expect("name")).expect("key name");
        let seed: [u8; 32] = hex_decode(case["seed_hex"].as_str().expect("seed_hex"))
            .try_into()
            .expect("32-byte seed");
        let signer = Ed25519Signer::from_seed(name, seed);
        assert_eq!(
            signer.verifier().to_vkey(),
            case["expected_vkey"].as_str().expect("expected_vkey")
        );
        let text = text_file(case["then_sign_text_file"].as_str().expect("text file"));
        let note = Note::sign(&text, &[&signer]).expect("sign");
        assert_eq!(
            note.signatures()[0].to_line().trim_end_matches('\n'),
            case["expected_sig_line"]
                .as_str()
                .expect("expected_sig_line")
        );
    }
}

#[test]
fn generated_keys_and_notes_are_reproduced_byte_for_byte() {
    let keys = read_json(&vectors_dir().join("generated/keys.json"));
    let role = |role: &str, field: &str| -> String {
        keys[role][field]
            .as_str()
            .unwrap_or_else(|| panic!("keys.json {role}.{field}"))
            .to_owned()
    };
    let log = Ed25519Signer::from_skey(&role("log", "skey")).expect("log skey");
    let witness = CosignatureSigner::from_skey(&role("witness", "skey")).expect("witness skey");
    for (who, skey) in [
        ("log", role("log", "skey")),
        ("witness", role("witness", "skey")),
    ] {
        let plain = Ed25519Signer::from_skey(&skey).expect("skey");
        let cosigner = CosignatureSigner::from_skey(&skey).expect("skey");
        assert_eq!(plain.verifier().to_vkey(), role(who, "vkey"));
        assert_eq!(cosigner.verifier().to_vkey(), role(who, "cosig_vkey"));
        assert_eq!(cosigner.name().as_str(), role(who, "name"));
    }

    // The 13-leaf checkpoint: log signature and cosignature at t=1700000000, byte for byte.
    let tree13 = read_json(&vectors_dir().join("generated/tree13-checkpoint.json"));
    let expected = tree13["note"].as_str().expect("note");
    let parsed = Note::parse(expected.as_bytes()).expect("parse");
    let mut note = Note::sign(parsed.text(), &[&log]).expect("sign");
    note.push_signature(
        witness
            .cosign_text(parsed.text(), 1_700_000_000)
            .expect("cosign"),
    )
    .expect("push");
    assert_eq!(String::from_utf8(note.to_bytes()).expect("utf8"), expected);
    assert_eq!(
        witness.verifier().cosignature_time(&parsed),
        Ok(1_700_000_000)
    );

    // The other notes signed with the log key.
    for file in ["gen-empty-tree.note", "gen-extension-line.note"] {
        let path = vectors_dir().join("notes").join(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let parsed = Note::parse(&bytes).expect("parse");
        let resigned = Note::sign(parsed.text(), &[&log]).expect("sign");
        assert_eq!(resigned.to_bytes(), bytes, "{file}");
    }
}
