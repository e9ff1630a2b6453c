//! The key-log scenarios of `spec/vectors/keylog/` (format: `spec/vectors/README.md`).
//!
//! Each step's note is built and signed here from the fields in the scenario and the seeds in
//! `keys.json`, so the files stay readable; Ed25519 is deterministic, so the bytes are the same
//! on every run. Every refused key event is also checked the way a client meets it: replaying
//! the accepted prefix plus that event must fail at exactly its index with the same reason.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use cairn_verifier::entry::{
    CertIdentity, Deprecation, FileName, FileRef, KeyEvent, OidcIssuer, Reason, Release,
    ReleaseName, RootSet, Scope, Sha256Digest, SigstoreSigner, Version, parse_identity_pattern,
};
use cairn_verifier::keylog::{
    AppliedEvent, KeyLogError, KeyState, deprecation_is_valid, release_is_valid, replay,
    sigstore_authority, sigstore_release_note,
};
use cairn_verifier::note::{
    Ed25519Signer, Ed25519Verifier, KeyName, Note, NoteSignature, NoteSigner as _,
    NoteVerifier as _,
};
use serde::Deserialize;

fn keylog_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/keylog")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[allow(dead_code)]
    description: String,
    keys: BTreeMap<String, KeySpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySpec {
    name: String,
    seed: String,
    vkey: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    #[allow(dead_code)]
    description: String,
    pinned: RootsSpec,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RootsSpec {
    #[serde(alias = "keys")]
    roots: Vec<String>,
    threshold: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    comment: String,
    key_event: Option<EventSpec>,
    key_text: Option<String>,
    release: Option<ReleaseSpec>,
    sigstore_release: Option<SigstoreReleaseSpec>,
    deprecation: Option<DeprecationSpec>,
    roots: Option<RootsSpec>,
    index: Option<u64>,
    #[serde(default)]
    signers: Vec<SignerSpec>,
    expect: Option<String>,
    /// For a valid release or deprecation: the reasons of the signers that did not count.
    #[serde(default)]
    not_counted: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum EventSpec {
    Root {
        roots: Vec<String>,
        threshold: usize,
        reason: Option<String>,
    },
    Add {
        key: String,
        scope: String,
        from: u64,
        reason: Option<String>,
    },
    Retire {
        key: String,
        until: u64,
        reason: String,
    },
    Revoke {
        key: String,
        until: u64,
        reason: String,
    },
    #[serde(rename = "sigstore-root")]
    SigstoreRoot {
        from: u64,
        trusted_root: String,
        reason: Option<String>,
    },
    #[serde(rename = "add-identity")]
    AddIdentity {
        issuer: String,
        identity: String,
        scope: String,
        from: u64,
        reason: Option<String>,
    },
    #[serde(rename = "retire-identity")]
    RetireIdentity {
        issuer: String,
        identity: String,
        until: u64,
        reason: String,
    },
    #[serde(rename = "revoke-identity")]
    RevokeIdentity {
        issuer: String,
        identity: String,
        until: u64,
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SigstoreReleaseSpec {
    name: String,
    version: String,
    issuer: String,
    identity: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseSpec {
    name: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeprecationSpec {
    name: String,
    version: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SignerSpec {
    Label(String),
    Custom {
        key: String,
        name: Option<String>,
        #[serde(default)]
        corrupt: bool,
    },
}

struct Keys(BTreeMap<String, ([u8; 32], Ed25519Verifier)>);

impl Keys {
    fn load() -> Keys {
        let text = std::fs::read_to_string(keylog_dir().join("keys.json")).expect("keys.json");
        let file: KeysFile = serde_json::from_str(&text).expect("keys.json parses");
        let mut keys = BTreeMap::new();
        for (label, spec) in file.keys {
            let seed = decode_seed(&spec.seed);
            let signer = Ed25519Signer::from_seed(KeyName::new(&spec.name).expect("name"), seed);
            assert_eq!(
                signer.verifier().to_vkey(),
                spec.vkey,
                "keys.json: {label}'s vkey does not match its seed and name"
            );
            keys.insert(label, (seed, signer.verifier()));
        }
        Keys(keys)
    }

    fn get(&self, label: &str) -> &([u8; 32], Ed25519Verifier) {
        self.0
            .get(label)
            .unwrap_or_else(|| panic!("unknown key label {label}"))
    }

    fn verifier(&self, label: &str) -> Ed25519Verifier {
        self.get(label).1.clone()
    }

    fn root_set(&self, spec: &RootsSpec) -> RootSet {
        let keys = spec.roots.iter().map(|l| self.verifier(l)).collect();
        RootSet::new(keys, spec.threshold).expect("scenario root set is valid")
    }

    /// Signs `text` as the signer specs say: under the key's own name or another, and with a
    /// corrupted signature when asked.
    fn sign(&self, text: &str, signers: &[SignerSpec]) -> Vec<u8> {
        let mut note = Note::sign(text, &[]).expect("signable text");
        for spec in signers {
            let (label, name, corrupt) = match spec {
                SignerSpec::Label(label) => (label, None, false),
                SignerSpec::Custom { key, name, corrupt } => (key, name.as_deref(), *corrupt),
            };
            let (seed, verifier) = self.get(label);
            let name = KeyName::new(name.unwrap_or(verifier.name().as_str())).expect("name");
            let signer = Ed25519Signer::from_seed(name, *seed);
            if corrupt {
                let mut signature = signer.sign_raw(text.as_bytes()).to_vec();
                signature[10] ^= 0x40;
                let key_id = signer.key_id();
                note.push_signature(NoteSignature {
                    name: signer.name().clone(),
                    key_id,
                    signature,
                })
                .expect("push signature");
            } else {
                note.add_signature(&signer).expect("add signature");
            }
        }
        note.to_bytes()
    }

    fn event(&self, spec: &EventSpec) -> KeyEvent {
        let reason = |r: &Option<String>| r.as_deref().map(|r| Reason::new(r).expect("reason"));
        match spec {
            EventSpec::Root {
                roots,
                threshold,
                reason: r,
            } => KeyEvent::Root {
                roots: self.root_set(&RootsSpec {
                    roots: roots.clone(),
                    threshold: *threshold,
                }),
                reason: reason(r),
            },
            EventSpec::Add {
                key,
                scope,
                from,
                reason: r,
            } => KeyEvent::Add {
                key: self.verifier(key),
                scope: Scope::new(scope).expect("scope"),
                from: *from,
                reason: reason(r),
            },
            EventSpec::Retire { key, until, reason } => KeyEvent::Retire {
                key: self.verifier(key),
                until: *until,
                reason: Reason::new(reason).expect("reason"),
            },
            EventSpec::Revoke { key, until, reason } => KeyEvent::Revoke {
                key: self.verifier(key),
                until: *until,
                reason: Reason::new(reason).expect("reason"),
            },
            EventSpec::SigstoreRoot {
                from,
                trusted_root,
                reason: r,
            } => KeyEvent::SigstoreRoot {
                from: *from,
                trusted_root: trusted_root.as_bytes().to_vec(),
                reason: reason(r),
            },
            EventSpec::AddIdentity {
                issuer,
                identity,
                scope,
                from,
                reason: r,
            } => KeyEvent::AddIdentity {
                issuer: OidcIssuer::new(issuer).expect("issuer"),
                identity: parse_identity_pattern(identity).expect("identity"),
                scope: Scope::new(scope).expect("scope"),
                from: *from,
                reason: reason(r),
            },
            EventSpec::RetireIdentity {
                issuer,
                identity,
                until,
                reason,
            } => KeyEvent::RetireIdentity {
                issuer: OidcIssuer::new(issuer).expect("issuer"),
                identity: parse_identity_pattern(identity).expect("identity"),
                until: *until,
                reason: Reason::new(reason).expect("reason"),
            },
            EventSpec::RevokeIdentity {
                issuer,
                identity,
                until,
                reason,
            } => KeyEvent::RevokeIdentity {
                issuer: OidcIssuer::new(issuer).expect("issuer"),
                identity: parse_identity_pattern(identity).expect("identity"),
                until: *until,
                reason: Reason::new(reason).expect("reason"),
            },
        }
    }

    /// Replaces `{label}` by that key's vkey.
    fn substitute(&self, template: &str) -> String {
        let mut text = template.to_owned();
        for (label, (_, verifier)) in &self.0 {
            text = text.replace(&format!("{{{label}}}"), &verifier.to_vkey());
        }
        assert!(
            !text.contains('{'),
            "unresolved placeholder in {template:?}"
        );
        text
    }
}

fn decode_seed(hex: &str) -> [u8; 32] {
    assert_eq!(hex.len(), 64, "seed must be 64 hex digits");
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex seed");
    }
    seed
}

fn variant<E: Debug>(error: &E) -> String {
    format!("{error:?}")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

fn test_release(spec: &ReleaseSpec) -> String {
    let artifact = FileRef {
        digest: Sha256Digest::of(b"artifact"),
        size: 8,
        file_name: FileName::new("artifact.img").expect("file name"),
    };
    Release::new(
        ReleaseName::new(&spec.name).expect("release name"),
        Version::new(&spec.version).expect("version"),
        vec![artifact],
        vec![],
    )
    .expect("release")
    .to_text()
}

/// The Sigstore release of a `sigstore_release` step: the `release` artifact, and a bundle
/// digest of the 6 bytes "bundle".
fn test_sigstore_release(spec: &SigstoreReleaseSpec) -> Vec<u8> {
    let artifact = FileRef {
        digest: Sha256Digest::of(b"artifact"),
        size: 8,
        file_name: FileName::new("artifact.img").expect("file name"),
    };
    let release = Release::new(
        ReleaseName::new(&spec.name).expect("release name"),
        Version::new(&spec.version).expect("version"),
        vec![artifact],
        vec![],
    )
    .expect("release")
    .with_sigstore(SigstoreSigner {
        bundle: Sha256Digest::of(b"bundle"),
        issuer: OidcIssuer::new(&spec.issuer).expect("issuer"),
        identity: CertIdentity::new(&spec.identity).expect("identity"),
    })
    .expect("sigstore release");
    sigstore_release_note(&release).expect("note")
}

fn test_deprecation(spec: &DeprecationSpec) -> String {
    Deprecation::new(
        ReleaseName::new(&spec.name).expect("release name"),
        Version::new(&spec.version).expect("version"),
        Reason::new(&spec.reason).expect("reason"),
        None,
        None,
    )
    .expect("deprecation")
    .to_text()
}

/// Runs one scenario file; returns the number of checks made.
fn run(file: &str) -> usize {
    let keys = Keys::load();
    let path = keylog_dir().join(format!("{file}.json"));
    let text = std::fs::read_to_string(&path).expect("scenario file");
    let scenario: Scenario = serde_json::from_str(&text).expect("scenario parses");
    let pinned = keys.root_set(&scenario.pinned);
    let pinned_keys: Vec<Ed25519Verifier> = pinned.keys().to_vec();
    let mut state: Option<KeyState> = None;
    let mut accepted: Vec<Vec<u8>> = Vec::new();
    let mut checks = 0;
    for (i, step) in scenario.steps.iter().enumerate() {
        let at = format!("{file} step {i} ({})", step.comment);
        let event_text = match (&step.key_event, &step.key_text) {
            (Some(spec), None) => Some(keys.event(spec).to_text()),
            (None, Some(template)) => Some(keys.substitute(template)),
            (None, None) => None,
            (Some(_), Some(_)) => panic!("{at}: key_event and key_text"),
        };
        if let Some(event_text) = event_text {
            let expect = step.expect.as_deref().expect("key steps have expect");
            let bytes = keys.sign(&event_text, &step.signers);
            let before = state.clone();
            let mut started = None;
            let result: Result<AppliedEvent, KeyLogError> = match state.as_mut() {
                None => KeyState::genesis(&pinned, &bytes).map(|(s, applied)| {
                    started = Some(s);
                    applied
                }),
                Some(s) => s.apply(&bytes),
            };
            if started.is_some() {
                state = started;
            }
            match result {
                Ok(applied) if expect == "ok" => {
                    assert_eq!(applied.index(), accepted.len() as u64, "{at}");
                    if let Some(spec) = &step.key_event {
                        assert_eq!(applied.event(), &keys.event(spec), "{at}");
                    }
                    accepted.push(bytes);
                }
                Ok(applied) => panic!("{at}: accepted {applied:?}, expected {expect}"),
                Err(error) => {
                    assert_eq!(variant(&error), expect, "{at}: {error}");
                    assert_eq!(state, before, "{at}: refused event changed the state");
                    // A client replaying a log that holds this event fails closed at its index.
                    let mut log = accepted.clone();
                    log.push(bytes);
                    match replay(&pinned_keys, pinned.threshold(), &log) {
                        Err(KeyLogError::EntryRefused { index, reason }) => {
                            assert_eq!(index, accepted.len() as u64, "{at}");
                            assert_eq!(*reason, error, "{at}");
                        }
                        other => panic!("{at}: replay gave {other:?}"),
                    }
                }
            }
            checks += 1;
        } else if let Some(spec) = &step.release {
            let state = state.as_ref().expect("release step after genesis");
            let index = step.index.expect("release steps have index");
            let note = Note::parse(&keys.sign(&test_release(spec), &step.signers)).expect("note");
            let expect = step.expect.as_deref().expect("release steps have expect");
            match release_is_valid(&note, index, state) {
                Ok(valid) if expect == "ok" => {
                    assert_eq!(valid.index(), index, "{at}");
                    assert!(!valid.signers().is_empty(), "{at}");
                    assert_eq!(valid.release().name().as_str(), spec.name, "{at}");
                    let not_counted: Vec<String> =
                        valid.not_counted().iter().map(variant).collect();
                    assert_eq!(not_counted, step.not_counted, "{at}");
                }
                Ok(valid) => panic!("{at}: valid {valid:?}, expected {expect}"),
                Err(e) => assert_eq!(variant(&e), expect, "{at}: {e}"),
            }
            checks += 1;
        } else if let Some(spec) = &step.sigstore_release {
            let state = state.as_ref().expect("release step after genesis");
            let index = step.index.expect("release steps have index");
            let bytes = test_sigstore_release(spec);
            let note = Note::parse_entry(&bytes).expect("note");
            let expect = step.expect.as_deref().expect("release steps have expect");
            // Without its bundle, a Sigstore release is never valid.
            assert_eq!(
                release_is_valid(&note, index, state).map(|_| ()),
                Err(cairn_verifier::keylog::InvalidRelease::SigstoreBundleRequired),
                "{at}"
            );
            match sigstore_authority(&note, index, state) {
                Ok(authority) if expect == "ok" => {
                    assert_eq!(authority.index(), index, "{at}");
                    assert!(!authority.grants().is_empty(), "{at}");
                    let pinned = state.trusted_root_at(index).expect("pinned root");
                    assert_eq!(authority.trusted_root(), pinned, "{at}");
                    // The bundle facts must match the sigstore line, or no valid release.
                    let bundle = Sha256Digest::of(b"bundle");
                    let artifact = Sha256Digest::of(b"artifact");
                    assert!(
                        authority
                            .clone()
                            .bundle_verified(&bundle, &spec.issuer, &spec.identity, &bundle)
                            .is_err(),
                        "{at}: another artifact"
                    );
                    assert!(
                        authority
                            .clone()
                            .bundle_verified(&artifact, &spec.issuer, &spec.identity, &artifact)
                            .is_err(),
                        "{at}: another bundle"
                    );
                    assert!(
                        authority
                            .clone()
                            .bundle_verified(&bundle, &spec.issuer, "someone-else", &artifact)
                            .is_err(),
                        "{at}: another identity"
                    );
                    let valid = authority
                        .bundle_verified(&bundle, &spec.issuer, &spec.identity, &artifact)
                        .expect("bundle facts match");
                    assert_eq!(valid.index(), index, "{at}");
                    let not_counted: Vec<String> =
                        valid.not_counted().iter().map(variant).collect();
                    assert_eq!(not_counted, step.not_counted, "{at}");
                }
                Ok(authority) => panic!("{at}: valid {authority:?}, expected {expect}"),
                Err(e) => assert_eq!(variant(&e), expect, "{at}: {e}"),
            }
            checks += 1;
        } else if let Some(spec) = &step.deprecation {
            let state = state.as_ref().expect("deprecation step after genesis");
            let index = step.index.expect("deprecation steps have index");
            let note =
                Note::parse(&keys.sign(&test_deprecation(spec), &step.signers)).expect("note");
            let expect = step
                .expect
                .as_deref()
                .expect("deprecation steps have expect");
            match deprecation_is_valid(&note, index, state) {
                Ok(valid) if expect == "ok" => {
                    assert_eq!(valid.index(), index, "{at}");
                    assert!(!valid.signers().is_empty(), "{at}");
                    assert_eq!(valid.deprecation().name().as_str(), spec.name, "{at}");
                    let not_counted: Vec<String> =
                        valid.not_counted().iter().map(variant).collect();
                    assert_eq!(not_counted, step.not_counted, "{at}");
                }
                Ok(valid) => panic!("{at}: valid {valid:?}, expected {expect}"),
                Err(e) => assert_eq!(variant(&e), expect, "{at}: {e}"),
            }
            checks += 1;
        } else if let Some(spec) = &step.roots {
            let state = state.as_ref().expect("roots step after genesis");
            assert_eq!(state.roots(), &keys.root_set(spec), "{at}");
            checks += 1;
        } else {
            panic!("{at}: step has nothing to do");
        }
    }
    // The client's full replay reaches the same state as the server's incremental one.
    if let Some(state) = &state {
        let replayed = replay(&pinned_keys, pinned.threshold(), &accepted).expect("replay");
        assert_eq!(
            &replayed, state,
            "{file}: replay differs from incremental state"
        );
        assert_eq!(replayed.size(), accepted.len() as u64);
    }
    assert_eq!(checks, scenario.steps.len());
    checks
}

#[test]
fn genesis() {
    assert!(run("genesis") >= 9);
}

#[test]
fn add_release_key() {
    assert!(run("add-release-key") >= 20);
}

#[test]
fn rotation() {
    assert!(run("rotation") >= 20);
}

#[test]
fn compromise_revoke() {
    assert!(run("compromise-revoke") >= 20);
}

#[test]
fn root_change() {
    assert!(run("root-change") >= 15);
}

#[test]
fn signature_counting() {
    assert!(run("signature-counting") >= 10);
}

#[test]
fn odd_cases() {
    assert!(run("odd-cases") >= 15);
}

#[test]
fn sigstore_identities() {
    assert!(run("sigstore-identities") >= 25);
}

#[test]
fn every_scenario_file_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(keylog_dir())
        .expect("keylog dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("UTF-8"))
        .filter(|n| n.ends_with(".json") && n != "keys.json")
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "add-release-key.json",
            "compromise-revoke.json",
            "genesis.json",
            "odd-cases.json",
            "root-change.json",
            "rotation.json",
            "signature-counting.json",
            "sigstore-identities.json",
        ]
    );
}

#[test]
fn replay_refuses_bad_inputs_before_the_log() {
    let keys = Keys::load();
    let roots = [keys.verifier("root1"), keys.verifier("root2")];
    let none: [Vec<u8>; 0] = [];
    assert_eq!(replay(&roots, 1, none), Err(KeyLogError::EmptyKeyLog));
    assert!(matches!(
        replay(&roots, 3, [b"x".to_vec()]),
        Err(KeyLogError::InvalidPinnedRoots(_))
    ));
    assert!(matches!(
        replay(
            &[keys.verifier("root1"), keys.verifier("root1-alias")],
            1,
            [b"x".to_vec()]
        ),
        Err(KeyLogError::InvalidPinnedRoots(_))
    ));
    // Garbage as entry 0 is refused at index 0 as a note error.
    match replay(&roots, 1, [b"not a note".to_vec()]) {
        Err(KeyLogError::EntryRefused { index: 0, reason }) => {
            assert!(matches!(*reason, KeyLogError::Note(_)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn spec_examples_verify_and_are_quoted_verbatim() {
    let dir = keylog_dir().join("examples");
    let read = |name: &str| std::fs::read(dir.join(name)).expect("example note");
    let (genesis, add, release) = (
        read("genesis.note"),
        read("add-release1.note"),
        read("release.note"),
    );
    let keys = Keys::load();
    let roots = ["root1", "root2", "root3"].map(|l| keys.verifier(l));
    let state = replay(&roots, 2, [&genesis, &add]).expect("examples replay");
    assert_eq!(state.size(), 2);
    assert_eq!(state.release_keys().len(), 1);
    let note = Note::parse(&release).expect("release note");
    for index in [0, 1, 1_000_000] {
        let valid = release_is_valid(&note, index, &state).expect("valid release");
        assert_eq!(valid.signers(), [keys.verifier("rel1")]);
    }
    let spec = std::fs::read_to_string(keylog_dir().join("../../keylog.md")).expect("keylog.md");
    for bytes in [&genesis, &add, &release] {
        let text = String::from_utf8(bytes.clone()).expect("UTF-8 note");
        assert!(
            spec.contains(&format!("```\n{text}```")),
            "keylog.md does not quote:\n{text}"
        );
    }
}

#[test]
fn sigstore_note_is_fixed_by_its_text() {
    use cairn_verifier::keylog::{InvalidRelease, sigstore_line_key_id};
    let keys = Keys::load();
    let spec = SigstoreReleaseSpec {
        name: "demo/a".into(),
        version: "1.0".into(),
        issuer: "https://token.actions.githubusercontent.com".into(),
        identity: "https://github.com/o/r/.github/workflows/r.yml@refs/heads/main".into(),
    };
    let bytes = test_sigstore_release(&spec);
    // The key ID spec/entries.md 5.1 gives.
    assert_eq!(
        sigstore_line_key_id().to_be_bytes(),
        [0x91, 0x30, 0x35, 0x5c]
    );
    let note = Note::parse_entry(&bytes).expect("note");
    assert_eq!(note.signatures().len(), 1);
    let state = replay(
        &[keys.verifier("root1")],
        1,
        [keys.sign(
            &KeyEvent::Root {
                roots: RootSet::new(vec![keys.verifier("root1")], 1).expect("roots"),
                reason: None,
            }
            .to_text(),
            &[SignerSpec::Label("root1".into())],
        )],
    )
    .expect("genesis");
    // The reference line alone: judged on (no root pinned here).
    assert_eq!(
        sigstore_authority(&note, 0, &state).map(|_| ()),
        Err(InvalidRelease::NoTrustedRoot { index: 0 })
    );
    // A release key's signature added, or the line replaced by one: refused before anything.
    let text = note.text().to_owned();
    let signed = keys.sign(&text, &[SignerSpec::Label("rel1".into())]);
    let mut both = Note::parse_entry(&bytes).expect("note");
    let extra = Note::parse_entry(&signed).expect("signed").signatures()[0].clone();
    both.push_signature(extra).expect("push");
    for bad in [signed, both.to_bytes()] {
        let bad = Note::parse_entry(&bad).expect("note");
        assert!(matches!(
            sigstore_authority(&bad, 0, &state),
            Err(InvalidRelease::SigstoreNote(_))
        ));
    }
}
