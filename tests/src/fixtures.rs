//! Deterministic keys and the entries tests submit: genesis root events, key events and signed
//! releases, built with the verifier's own entry builders.

use cairn_verifier::entry::{
    Deprecation, FileName, FileRef, KeyEvent, Reason, Release, ReleaseName, RootSet, Scope,
    Sha256Digest, Version,
};
use cairn_verifier::hash::sha256;
use cairn_verifier::note::{Ed25519Signer, Ed25519Verifier, KeyName, Note, NoteSigner};

/// The origin prefix of every test log.
pub const PREFIX: &str = "log.example.org";

/// A signing key derived from `label` alone (seed `SHA-256("cairn-tests/" || label)`), named
/// `example.org/<label>`: the same label always gives the same key.
pub fn key(label: &str) -> Ed25519Signer {
    let name = KeyName::new(&format!("example.org/{label}")).expect("test key name");
    Ed25519Signer::from_seed(name, sha256(format!("cairn-tests/{label}").as_bytes()))
}

/// Signs `text` with each of `signers`, returning the note's bytes.
pub fn sign(text: &str, signers: &[&Ed25519Signer]) -> Vec<u8> {
    let signers: Vec<&dyn NoteSigner> = signers.iter().map(|s| *s as &dyn NoteSigner).collect();
    Note::sign(text, &signers)
        .expect("test entries are valid note texts")
        .to_bytes()
}

/// A `root` event text: `roots` with `threshold`.
pub fn root_event(roots: &[&Ed25519Signer], threshold: usize) -> String {
    let keys: Vec<Ed25519Verifier> = roots.iter().map(|r| r.verifier()).collect();
    KeyEvent::Root {
        roots: RootSet::new(keys, threshold).expect("test root set"),
        reason: Some(reason("Genesis")),
    }
    .to_text()
}

/// The genesis: a `root` event for `roots` and `threshold`, signed by `signers`.
pub fn genesis(roots: &[&Ed25519Signer], threshold: usize, signers: &[&Ed25519Signer]) -> Vec<u8> {
    sign(&root_event(roots, threshold), signers)
}

/// An `add` event text: `key` may sign names matching `scope` from release index `from`.
pub fn add_key_event(key: &Ed25519Signer, scope: &str, from: u64) -> String {
    KeyEvent::Add {
        key: key.verifier(),
        scope: Scope::new(scope).expect("test scope"),
        from,
        reason: None,
    }
    .to_text()
}

/// A `retire` event text: `key` signs nothing at or after release index `until`.
pub fn retire_key_event(key: &Ed25519Signer, until: u64) -> String {
    KeyEvent::Retire {
        key: key.verifier(),
        until,
        reason: reason("Planned rotation"),
    }
    .to_text()
}

/// A `revoke` event text: `key` signs nothing at or after release index `until`.
pub fn revoke_key_event(key: &Ed25519Signer, until: u64) -> String {
    KeyEvent::Revoke {
        key: key.verifier(),
        until,
        reason: reason("Key compromised"),
    }
    .to_text()
}

fn reason(text: &str) -> Reason {
    Reason::new(text).expect("test reason")
}

/// The contents of a fake artifact: deterministic, distinct per name, version and file.
pub fn artifact_bytes(name: &str, version: &str, file: &str) -> Vec<u8> {
    format!("artifact {file} of {name} {version}\n").into_bytes()
}

/// A release text with one artifact per name in `files` (contents from [`artifact_bytes`]) and
/// one manifest.
pub fn release_text(name: &str, version: &str, files: &[&str]) -> String {
    let contents: Vec<(&str, Vec<u8>)> = files
        .iter()
        .chain(&["manifest.json"])
        .map(|f| (*f, artifact_bytes(name, version, f)))
        .collect();
    let (manifest, artifacts) = contents.split_last().expect("at least the manifest");
    let artifacts: Vec<(&str, &[u8])> = artifacts.iter().map(|(f, d)| (*f, d.as_slice())).collect();
    release_text_with(name, version, &artifacts, &[(manifest.0, &manifest.1)])
}

/// A release text with the given artifacts and manifests (file name and contents).
pub fn release_text_with(
    name: &str,
    version: &str,
    artifacts: &[(&str, &[u8])],
    manifests: &[(&str, &[u8])],
) -> String {
    let file_ref = |(file, data): &(&str, &[u8])| FileRef {
        digest: Sha256Digest::of(data),
        size: u64::try_from(data.len()).expect("small"),
        file_name: FileName::new(file).expect("test file name"),
    };
    Release::new(
        ReleaseName::new(name).expect("test release name"),
        Version::new(version).expect("test version"),
        artifacts.iter().map(file_ref).collect(),
        manifests.iter().map(file_ref).collect(),
    )
    .expect("test release")
    .to_text()
}

/// A deprecation text for `name` at `version`.
pub fn deprecation_text(name: &str, version: &str, replacement: Option<&str>) -> String {
    Deprecation::new(
        ReleaseName::new(name).expect("test release name"),
        Version::new(version).expect("test version"),
        reason("Security fix available"),
        None,
        replacement.map(|r| Version::new(r).expect("test version")),
    )
    .expect("test deprecation")
    .to_text()
}

/// A release of `name` at `version` with a single artifact `image.img`, signed by `signer`.
pub fn release(name: &str, version: &str, signer: &Ed25519Signer) -> Vec<u8> {
    sign(&release_text(name, version, &["image.img"]), &[signer])
}

/// The usual small log: one root key (threshold 1) and one release key for `example/*` from
/// index 0, which the tests add over HTTP.
#[derive(Debug)]
pub struct Keys {
    /// The root key.
    pub root: Ed25519Signer,
    /// The release key.
    pub release: Ed25519Signer,
}

impl Keys {
    /// The fixed keys.
    pub fn new() -> Keys {
        Keys {
            root: key("root1"),
            release: key("release-a"),
        }
    }

    /// Genesis: `root` alone, threshold 1.
    pub fn genesis(&self) -> Vec<u8> {
        genesis(&[&self.root], 1, &[&self.root])
    }

    /// The `add` event for the release key (scope `example/*`, from 0), signed by the root.
    pub fn add_release_key(&self) -> Vec<u8> {
        sign(&add_key_event(&self.release, "example/*", 0), &[&self.root])
    }
}

impl Default for Keys {
    fn default() -> Keys {
        Keys::new()
    }
}
