//! Sigstore-authorised releases judged end to end in the library (spec/keylog.md 5.1): a key log
//! granting `demo/*` to the conformance beacon identity and pinning the production trusted root,
//! and the release of the suite's `a.txt` with its real `happy-path-v0.3` bundle.

use std::path::{Path, PathBuf};

use cairn_sigstore::{ReleaseError, judge_release};
use cairn_verifier::entry::{
    CertIdentity, FileName, FileRef, KeyEvent, OidcIssuer, Reason, Release, ReleaseName, RootSet,
    Scope, Sha256Digest, SigstoreSigner, Version, parse_identity_pattern, sigstore_root_event,
};
use cairn_verifier::keylog::{InvalidRelease, KeyState, sigstore_release_note};
use cairn_verifier::note::{Ed25519Signer, KeyName, Note};

const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const GITHUB: &str = "https://token.actions.githubusercontent.com";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(testdata().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Log {
    root: Ed25519Signer,
    state: KeyState,
}

impl Log {
    fn new() -> Log {
        let root =
            Ed25519Signer::from_seed(KeyName::new("example.org/root").expect("name"), [7; 32]);
        let roots = RootSet::new(vec![root.verifier()], 1).expect("roots");
        let genesis = KeyEvent::Root {
            roots: roots.clone(),
            reason: None,
        };
        let (state, _) =
            KeyState::genesis(&roots, &Log::sign_with(&root, &genesis)).expect("genesis");
        Log { root, state }
    }

    fn sign_with(root: &Ed25519Signer, event: &KeyEvent) -> Vec<u8> {
        Note::sign(&event.to_text(), &[root])
            .expect("sign")
            .to_bytes()
    }

    fn apply(&mut self, event: KeyEvent) {
        let bytes = Log::sign_with(&self.root, &event);
        self.state.apply(&bytes).expect("event applies");
    }

    fn grant(&mut self, identity: &str, scope: &str) {
        self.apply(KeyEvent::AddIdentity {
            issuer: OidcIssuer::new(GITHUB).expect("issuer"),
            identity: parse_identity_pattern(identity).expect("identity"),
            scope: Scope::new(scope).expect("scope"),
            from: 0,
            reason: None,
        });
    }

    fn pin(&mut self, root: &str) {
        self.apply(sigstore_root_event(0, read(root), None).expect("root fits"));
    }
}

/// The note of a Sigstore release of `artifact` (as `a.txt`) naming `bundle` and `identity`.
fn release_note(artifact: &[u8], bundle: &[u8], identity: &str) -> Note {
    let release = Release::new(
        ReleaseName::new("demo/a").expect("name"),
        Version::new("0.3").expect("version"),
        vec![FileRef {
            digest: Sha256Digest::of(artifact),
            size: artifact.len() as u64,
            file_name: FileName::new("a.txt").expect("file name"),
        }],
        vec![],
    )
    .expect("release")
    .with_sigstore(SigstoreSigner {
        bundle: Sha256Digest::of(bundle),
        issuer: OidcIssuer::new(GITHUB).expect("issuer"),
        identity: CertIdentity::new(identity).expect("identity"),
    })
    .expect("sigstore release");
    Note::parse_entry(&sigstore_release_note(&release).expect("note")).expect("parses")
}

fn granted_log() -> Log {
    let mut log = Log::new();
    log.grant(BEACON, "demo/*");
    log.pin("trusted_root.production.json");
    log
}

#[test]
fn the_conformance_bundle_authorises_its_release() {
    let log = granted_log();
    let artifact = read("bundle-verify/a.txt");
    let bundle = read("bundle-verify/happy-path-v0.3/bundle.sigstore.json");
    let note = release_note(&artifact, &bundle, BEACON);
    let (valid, verdict) = judge_release(&note, 0, &log.state, &bundle).expect("valid");
    assert_eq!(valid.release().name().as_str(), "demo/a");
    assert_eq!(
        verdict.artifact_sha256,
        *Sha256Digest::of(&artifact).as_bytes()
    );
    assert!(!verdict.log_entries.is_empty());
}

#[test]
fn refusals_name_the_failed_check() {
    let artifact = read("bundle-verify/a.txt");
    let bundle = read("bundle-verify/happy-path-v0.3/bundle.sigstore.json");
    let log = granted_log();

    // The bundle beside the file is not the one the entry names.
    let other = read("bundle-verify/happy-path-v0.1/bundle.sigstore.json");
    let note = release_note(&artifact, &bundle, BEACON);
    assert!(matches!(
        judge_release(&note, 0, &log.state, &other),
        Err(ReleaseError::WrongBundle { .. })
    ));

    // A release of another file with this bundle: the bundle does not sign it.
    let note = release_note(b"another file\n", &bundle, BEACON);
    let e = judge_release(&note, 0, &log.state, &bundle).expect_err("other artifact");
    assert!(matches!(e, ReleaseError::Bundle(_)), "{e}");

    // A tampered bundle named by its own digest: refused by the bundle check.
    let mut tampered = bundle.clone();
    let at = tampered
        .windows(b"\"signature\": \"".len())
        .position(|w| w == b"\"signature\": \"")
        .expect("message signature")
        + b"\"signature\": \"".len()
        + 10;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let note = release_note(&artifact, &tampered, BEACON);
    let e = judge_release(&note, 0, &log.state, &tampered).expect_err("tampered");
    assert!(matches!(e, ReleaseError::Bundle(_)), "{e}");

    // An entry claiming another (granted) identity than the certificate's.
    let dev = BEACON.replace("refs/heads/main", "refs/heads/dev");
    let mut log2 = granted_log();
    log2.grant(&dev, "demo/*");
    let note = release_note(&artifact, &bundle, &dev);
    let e = judge_release(&note, 0, &log2.state, &bundle).expect_err("other identity");
    assert!(
        matches!(e, ReleaseError::Bundle(cairn_sigstore::Error::Signer(_))),
        "{e}"
    );

    // No grant for the identity.
    let mut ungranted = Log::new();
    ungranted.pin("trusted_root.production.json");
    let note = release_note(&artifact, &bundle, BEACON);
    assert!(matches!(
        judge_release(&note, 0, &ungranted.state, &bundle),
        Err(ReleaseError::KeyLog(InvalidRelease::UnknownIdentity { .. }))
    ));

    // The staging root pinned instead: the certificate does not chain to it.
    let mut staging = Log::new();
    staging.grant(BEACON, "demo/*");
    staging.pin("trusted_root.staging.json");
    let e = judge_release(&note, 0, &staging.state, &bundle).expect_err("staging root");
    assert!(matches!(e, ReleaseError::Bundle(_)), "{e}");

    // Revoked before the release's index.
    let mut revoked = granted_log();
    revoked.apply(KeyEvent::RevokeIdentity {
        issuer: OidcIssuer::new(GITHUB).expect("issuer"),
        identity: parse_identity_pattern(BEACON).expect("identity"),
        until: 3,
        reason: Reason::new("Workflow compromised").expect("reason"),
    });
    assert!(judge_release(&note, 2, &revoked.state, &bundle).is_ok());
    assert!(matches!(
        judge_release(&note, 3, &revoked.state, &bundle),
        Err(ReleaseError::KeyLog(InvalidRelease::Revoked { .. }))
    ));
}

#[test]
fn rekor_v2_and_dsse_bundles_authorise_their_releases_too() {
    let artifact = read("bundle-verify/a.txt");
    for case in [
        "rekor2-happy-path",
        "happy-path-intoto-in-dsse-v3",
        "happy-path-v0.1",
    ] {
        let dir = testdata().join("bundle-verify").join(case);
        // A case with its own trusted root (Rekor v2 runs on staging) gets that root pinned.
        let mut log = Log::new();
        log.grant(BEACON, "demo/*");
        if dir.join("trusted_root.json").exists() {
            log.pin(&format!("bundle-verify/{case}/trusted_root.json"));
        } else {
            log.pin("trusted_root.production.json");
        }
        let artifact = std::fs::read(dir.join("artifact")).unwrap_or_else(|_| artifact.clone());
        let bundle = read(&format!("bundle-verify/{case}/bundle.sigstore.json"));
        let note = release_note(&artifact, &bundle, BEACON);
        let result = judge_release(&note, 0, &log.state, &bundle);
        assert!(result.is_ok(), "{case}: {result:?}");
    }
}
