//! Releases authorised by a Sigstore bundle, end to end with the real server (issue 14's
//! acceptance scenario): a key log granting `demo/*` to the Sigstore conformance beacon identity
//! and pinning the production trusted root, built with `cairn key grant-identity|sigstore-root|
//! sign|submit`; `a.txt` of the conformance suite published with its `happy-path-v0.3` bundle by
//! `cairn publish --sigstore-bundle`; `cairn verify` online (bundle beside the file, or fetched
//! from the log by digest) and `--offline`; refusals by the server (403) of a bundle for another
//! file, of an identity with no grant and of a tampered bundle; the identity revoked before the
//! release's index (exit 3); and the monitor's view of all of it.
//!
//! Build the binary first: `cargo build -p cairn-cli`.

mod client_support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use cairn_verifier::entry::Sha256Digest;
use cairn_verifier::note::Note;
use client_support::*;
use serde_json::Value;

const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const GITHUB: &str = "https://token.actions.githubusercontent.com";

fn testdata(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sigstore-verify/testdata")
        .join(path)
}

/// Runs a `cairn key` event command, has the root sign it, and submits it.
fn key_event(log: &TestLog, args: &[&str]) {
    let dir = log.scratch();
    let out = run_cairn(&[&["key"], args].concat());
    assert_exit(&out, 0, &format!("cairn key {}", args[0]));
    let event = dir.join(format!("{}.event", args[0]));
    std::fs::write(&event, &out.stdout).expect("event");
    let root_key = dir.join("root.key");
    std::fs::write(&root_key, format!("{}\n", log.root.to_skey())).expect("root key");
    std::fs::set_permissions(&root_key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let event_s = event.display().to_string();
    let out = run_cairn(&[
        "key",
        "sign",
        &event_s,
        "--key",
        &root_key.display().to_string(),
    ]);
    assert_exit(&out, 0, "cairn key sign");
    let url = log.url();
    let out = run_cairn(&["key", "submit", &event_s, "--log", &url]);
    assert_exit(&out, 0, "cairn key submit");
}

fn publish(log: &TestLog, file: &Path, version: &str, bundle: &Path) -> Output {
    run_cairn(&[
        "publish",
        &file.display().to_string(),
        "--name",
        "demo/a",
        "--version",
        version,
        "--sigstore-bundle",
        &bundle.display().to_string(),
        "--log",
        &log.url(),
        "--log-key",
        log.dir.log_vkey(),
    ])
}

fn monitor(client: &Client, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--once"];
    all.extend_from_slice(args);
    let out = client.cairn(&["monitor"], &all);
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn of_kind<'a>(alerts: &'a [Value], kind: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["alert"] == kind).collect()
}

#[test]
fn a_ci_identity_publishes_and_clients_verify_the_bundle_themselves() {
    let log = TestLog::start();
    let dir = log.scratch();
    let artifact = dir.join("a.txt");
    std::fs::copy(testdata("bundle-verify/a.txt"), &artifact).expect("a.txt");
    let bundle_bytes = std::fs::read(testdata(
        "bundle-verify/happy-path-v0.3/bundle.sigstore.json",
    ))
    .expect("bundle");
    let bundle = dir.join("happy.sigstore.json");
    std::fs::write(&bundle, &bundle_bytes).expect("bundle copy");

    // No trusted root and no grant yet: refused by the server, nothing logged.
    let out = publish(&log, &artifact, "0.1", &bundle);
    assert_exit(&out, 3, "publish before any grant");
    assert!(text(&out.stderr).contains("403"), "{}", text(&out.stderr));

    key_event(
        &log,
        &[
            "sigstore-root",
            "--from",
            "0",
            "--reason",
            "Sigstore public good",
        ],
    );
    // A grant for the same workflow on another branch: the bundle's identity has no grant.
    let dev = BEACON.replace("refs/heads/main", "refs/heads/dev");
    key_event(
        &log,
        &[
            "grant-identity",
            "--issuer",
            GITHUB,
            "--identity",
            &dev,
            "--scope",
            "demo/*",
            "--from",
            "0",
        ],
    );
    let out = publish(&log, &artifact, "0.1", &bundle);
    assert_exit(&out, 3, "publish by an identity with no grant");
    let err = text(&out.stderr);
    assert!(err.contains("403") && err.contains("no grant"), "{err}");

    key_event(
        &log,
        &[
            "grant-identity",
            "--issuer",
            GITHUB,
            "--identity",
            BEACON,
            "--scope",
            "demo/*",
            "--from",
            "0",
            "--reason",
            "CI releases",
        ],
    );

    // A bundle for another file: 403, the bundle does not sign it.
    let other = dir.join("other.txt");
    std::fs::write(&other, b"not the signed file\n").expect("other");
    let out = publish(&log, &other, "0.2", &bundle);
    assert_exit(&out, 3, "publish another file with the bundle");
    assert!(text(&out.stderr).contains("403"), "{}", text(&out.stderr));

    // A tampered bundle (one signature byte changed): 403.
    let mut tampered_bytes = bundle_bytes.clone();
    let marker = b"\"signature\": \"";
    let at = tampered_bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("message signature")
        + marker.len()
        + 10;
    tampered_bytes[at] = if tampered_bytes[at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = dir.join("tampered.sigstore.json");
    std::fs::write(&tampered, &tampered_bytes).expect("tampered");
    let out = publish(&log, &artifact, "0.2", &tampered);
    assert_exit(&out, 3, "publish with a tampered bundle");
    assert!(text(&out.stderr).contains("403"), "{}", text(&out.stderr));
    assert!(
        !proof_path(&artifact).exists(),
        "nothing written for refused releases"
    );

    // The real thing.
    let out = publish(&log, &artifact, "0.3", &bundle);
    assert_exit(&out, 0, "publish with the bundle");
    let beside = dir.join("a.txt.sigstore.json");
    assert_eq!(std::fs::read(&beside).expect("bundle beside"), bundle_bytes);
    assert!(proof_path(&artifact).exists());
    // Publishing again is idempotent (same leaf, same proof).
    let out = publish(&log, &artifact, "0.3", &bundle);
    assert_ne!(code(&out), 3, "{}", text(&out.stderr));
    // The log serves the bundle by digest.
    let hex = Sha256Digest::of(&bundle_bytes).to_hex();
    assert_eq!(
        log.get(&format!("/releases/sigstore-bundle/{hex}")),
        bundle_bytes
    );

    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    // Online with the bundle beside the file.
    let out = client.verify(&artifact, &["--name", "demo/a", "--version", "0.3"]);
    assert_exit(&out, 0, "verify online");
    // Online without it: fetched from the log by digest, and checked by the client.
    std::fs::rename(&beside, dir.join("aside.json")).expect("move the bundle away");
    let out = client.verify(&artifact, &["-v"]);
    assert_exit(&out, 0, "verify online, bundle from the log");
    assert!(
        text(&out.stderr).contains("Sigstore bundle"),
        "{}",
        text(&out.stderr)
    );
    // Offline needs the bundle beside the file.
    let out = client.verify(&artifact, &["--offline"]);
    assert_exit(&out, 3, "verify offline without the bundle");
    std::fs::rename(dir.join("aside.json"), &beside).expect("bundle back");
    let out = client.verify(&artifact, &["--offline"]);
    assert_exit(&out, 0, "verify offline");
    // `cairn install` from the local file, offline, with the bundle beside it.
    let dest = dir.join("installed.txt");
    let out = client.cairn(
        &["install"],
        &[
            &artifact.display().to_string(),
            "--to",
            &dest.display().to_string(),
            "--offline",
        ],
    );
    assert_exit(&out, 0, "install offline");
    assert_eq!(
        std::fs::read(&dest).expect("installed"),
        std::fs::read(&artifact).expect("artifact")
    );
    // `cairn update` finds the Sigstore release as the newest valid one of demo/a.
    let updated = dir.join("updated.txt");
    let out = client.cairn(
        &["update"],
        &[
            "demo/a",
            "--base",
            &dir.display().to_string(),
            "--to",
            &updated.display().to_string(),
        ],
    );
    assert_exit(&out, 0, "update to the Sigstore release");
    assert_eq!(
        std::fs::read(&updated).expect("updated"),
        std::fs::read(&artifact).expect("artifact")
    );
    // Offline with another file in place of the bundle: refused.
    std::fs::write(&beside, &tampered_bytes).expect("swap the bundle");
    let out = client.verify(&artifact, &["--offline"]);
    assert_exit(&out, 3, "verify offline with a swapped bundle");
    std::fs::write(&beside, &bundle_bytes).expect("bundle back");

    // A mirror copies the bundle; its clients verify through it, the bundle fetched from the copy.
    let mirror_dir = dir.join("mirror");
    let out = client.cairn(
        &["mirror"],
        &[
            "--upstream",
            &log.url(),
            "--mirror-dir",
            &mirror_dir.display().to_string(),
            "--once",
        ],
    );
    assert_exit(&out, 0, "mirror round");
    assert_eq!(
        std::fs::read(mirror_dir.join(format!("releases/sigstore-bundle/{hex}"))).expect("copied"),
        bundle_bytes
    );
    let mirror =
        cairn_tests::process::Server::start_mirror(&mirror_dir).unwrap_or_else(|f| panic!("{f}"));
    let via_mirror = Client::new();
    via_mirror.trust(&mirror.base_url(), &log, &[]);
    std::fs::rename(&beside, dir.join("aside.json")).expect("move the bundle away");
    let out = via_mirror.verify(&artifact, &[]);
    assert_exit(&out, 0, "verify through the mirror, bundle from the mirror");
    std::fs::rename(dir.join("aside.json"), &beside).expect("bundle back");
    drop(mirror);

    // The monitor sees the grants, the release (watched identity) and nothing invalid.
    let monitor_client = Client::new();
    monitor_client.trust(&log.url(), &log, &[]);
    let a = monitor(&monitor_client, &["--watch-identity", GITHUB, BEACON]);
    let events: Vec<&Value> = of_kind(&a, "key-event");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "add-identity" && e["identity"] == BEACON),
        "{a:?}"
    );
    assert!(
        events.iter().any(|e| e["event"] == "sigstore-root"),
        "{a:?}"
    );
    let used = of_kind(&a, "watched-identity-used");
    assert_eq!(used.len(), 1, "{a:?}");
    assert_eq!(used[0]["version"], "0.3");
    assert!(of_kind(&a, "invalid-entry").is_empty(), "{a:?}");

    // The identity revoked from release index 0: every release it authorised is invalid.
    key_event(
        &log,
        &[
            "revoke-identity",
            "--issuer",
            GITHUB,
            "--identity",
            BEACON,
            "--until",
            "0",
            "--reason",
            "Workflow token leaked",
        ],
    );
    let out = client.verify(&artifact, &[]);
    assert_exit(&out, 3, "verify after the revocation");
    assert!(
        text(&out.stderr).contains("revoked"),
        "{}",
        text(&out.stderr)
    );
    // A monitor judges each entry once, when it first audits it (as for keys): one starting
    // now finds the release invalidated by the revocation.
    let late_monitor = Client::new();
    late_monitor.trust(&log.url(), &log, &[]);
    let a = monitor(&late_monitor, &[]);
    let invalid = of_kind(&a, "invalid-entry");
    assert_eq!(invalid.len(), 1, "{a:?}");
    assert_eq!(invalid[0]["cause"], "invalidated-by-key-event");
}

/// A Sigstore release note of `artifact` (as `a.txt`, name `demo/planted`, `version`) naming
/// `bundle` and `identity`.
fn sigstore_note(version: &str, artifact: &[u8], bundle: &[u8], identity: &str) -> Vec<u8> {
    use cairn_verifier::entry::{
        CertIdentity, FileName, FileRef, OidcIssuer, Release, ReleaseName, SigstoreSigner, Version,
    };
    let release = Release::new(
        ReleaseName::new("demo/planted").expect("name"),
        Version::new(version).expect("version"),
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
    cairn_verifier::keylog::sigstore_release_note(&release).expect("note")
}

#[test]
fn sigstore_releases_written_past_the_server_are_invalid_entries_for_the_monitor() {
    use cairn_verifier::entry::{
        KeyEvent, OidcIssuer, Scope, parse_identity_pattern, sigstore_root_event,
    };
    let mut log = TestLog::start();
    let root = sigstore_root_event(
        0,
        std::fs::read(testdata("trusted_root.production.json")).expect("root"),
        None,
    )
    .expect("root event");
    log.post("keys", &sign(&root.to_text(), &[&log.root]))
        .expect("pin the trusted root");
    let dev = BEACON.replace("refs/heads/main", "refs/heads/dev");
    for identity in [BEACON, dev.as_str()] {
        let grant = KeyEvent::AddIdentity {
            issuer: OidcIssuer::new(GITHUB).expect("issuer"),
            identity: parse_identity_pattern(identity).expect("identity"),
            scope: Scope::new("demo/*").expect("scope"),
            from: 0,
            reason: None,
        };
        log.post("keys", &sign(&grant.to_text(), &[&log.root]))
            .expect("grant");
    }
    // `plant` appends to a non-empty release log.
    log.publish("example/os", "1.0", b"a key-signed release\n");
    let a_txt = std::fs::read(testdata("bundle-verify/a.txt")).expect("a.txt");
    let bundle = std::fs::read(testdata(
        "bundle-verify/happy-path-v0.3/bundle.sigstore.json",
    ))
    .expect("bundle");
    let mut tampered = bundle.clone();
    let marker = b"\"signature\": \"";
    let at = tampered
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("message signature")
        + marker.len()
        + 10;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };

    let cases: [(&str, Vec<u8>, &[u8]); 3] = [
        // The bundle signs a.txt, the entry names another file.
        (
            "1",
            sigstore_note("1", b"another file\n", &bundle, BEACON),
            &bundle,
        ),
        // The entry names a granted identity the bundle's certificate is not for.
        ("2", sigstore_note("2", &a_txt, &bundle, &dev), &bundle),
        // A tampered bundle, named by its own digest.
        (
            "3",
            sigstore_note("3", &a_txt, &tampered, BEACON),
            &tampered,
        ),
    ];
    // A Sigstore release without its bundle, on the plain endpoint: 400.
    let (status, reason) = log
        .post("releases", &cases[0].1)
        .expect_err("refused without its bundle");
    assert_eq!(status, 400, "{reason}");
    assert!(reason.contains("add-sigstore"), "{reason}");
    // A trusted root the Sigstore verifier cannot read, even signed by the root: 400.
    let unusable = sigstore_root_event(0, b"{\"mediaType\": \"nonsense\"}".to_vec(), None)
        .expect("root event");
    let (status, reason) = log
        .post("keys", &sign(&unusable.to_text(), &[&log.root]))
        .expect_err("unusable trusted root");
    assert_eq!(status, 400, "{reason}");
    assert!(reason.contains("trusted root"), "{reason}");
    // Bundles are served by 64 hex digits only.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for (path, want) in [
        ("..%2Fcheckpoint".to_owned(), 400),
        ("ABC".to_owned(), 400),
        ("0".repeat(64), 404),
    ] {
        let status = agent
            .get(&format!("{}/releases/sigstore-bundle/{path}", log.url()))
            .call()
            .expect("GET")
            .status()
            .as_u16();
        assert_eq!(status, want, "{path}");
    }
    for (version, note, bundle_bytes) in &cases {
        // The server refuses each one (403) when asked properly.
        let mut body = Note::parse_entry(note)
            .expect("note")
            .text()
            .as_bytes()
            .to_vec();
        body.push(b'\n');
        body.extend_from_slice(bundle_bytes);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let status = agent
            .post(&format!("{}/releases/add-sigstore", log.url()))
            .send(&body[..])
            .expect("POST")
            .status()
            .as_u16();
        assert_eq!(status, 403, "case {version}");
        // A compromised operator writes it into the storage anyway, with its bundle.
        log.stop();
        let path = format!(
            "releases/sigstore-bundle/{}",
            Sha256Digest::of(bundle_bytes).to_hex()
        );
        plant(&log, note, &[(&path, bundle_bytes)]);
        let data = log.data();
        log.serve(&data);
    }
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let a = monitor(&client, &[]);
    let invalid = of_kind(&a, "invalid-entry");
    assert_eq!(invalid.len(), 3, "{a:?}");
    for alert in &invalid {
        assert_eq!(alert["cause"], "log-should-have-refused", "{alert}");
    }
    // And a client refuses the one for a.txt with the other identity's claim.
    let dir = log.scratch();
    let file = dir.join("a.txt");
    std::fs::write(&file, &a_txt).expect("a.txt");
    let out = client.verify(&file, &[]);
    assert_exit(&out, 3, "verify a planted release");
}

#[test]
fn usage_errors_are_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.txt");
    let b = dir.path().join("b.txt");
    std::fs::copy(testdata("bundle-verify/a.txt"), &a).expect("a.txt");
    std::fs::write(&b, b"b\n").expect("b.txt");
    let bundle = testdata("bundle-verify/happy-path-v0.3/bundle.sigstore.json");
    let key_bundle = testdata("bundle-verify/managed-key-happy-path/bundle.sigstore.json");
    let bad_root = dir.path().join("root.json");
    std::fs::write(&bad_root, b"{}").expect("root");
    let (a, b, bundle, key_bundle, bad_root) = (
        a.display().to_string(),
        b.display().to_string(),
        bundle.display().to_string(),
        key_bundle.display().to_string(),
        bad_root.display().to_string(),
    );
    let log = "http://127.0.0.1:9";
    let base = ["--name", "demo/a", "--version", "1", "--log", log];
    for (what, args) in [
        (
            "two files",
            vec!["publish", &a, &b, "--sigstore-bundle", &bundle],
        ),
        (
            "a manifest",
            vec![
                "publish",
                &a,
                "--manifest",
                &b,
                "--sigstore-bundle",
                &bundle,
            ],
        ),
        (
            "a key as well",
            vec!["publish", &a, "--sigstore-bundle", &bundle, "--key", &b],
        ),
        (
            "a key-signed bundle",
            vec!["publish", &a, "--sigstore-bundle", &key_bundle],
        ),
    ] {
        let mut all = args.clone();
        all.extend_from_slice(&base);
        let out = run_cairn(&all);
        assert_exit(&out, 2, what);
    }
    for (what, args) in [
        (
            "an unusable trusted root",
            vec![
                "key",
                "sigstore-root",
                "--trusted-root",
                &bad_root,
                "--from",
                "0",
            ],
        ),
        (
            "a star that is not a tag pattern",
            vec![
                "key",
                "grant-identity",
                "--issuer",
                GITHUB,
                "--identity",
                "https://github.com/o/r/.github/workflows/r.yml@refs/heads/*",
                "--scope",
                "demo/*",
                "--from",
                "0",
            ],
        ),
        (
            "an http issuer",
            vec![
                "key",
                "grant-identity",
                "--issuer",
                "http://issuer.example",
                "--identity",
                BEACON,
                "--scope",
                "demo/*",
                "--from",
                "0",
            ],
        ),
    ] {
        let out = run_cairn(&args);
        assert_exit(&out, 2, what);
    }
    // The production root and a grant are written as events the grammar accepts.
    let out = run_cairn(&["key", "sigstore-root", "--from", "0"]);
    assert_exit(&out, 0, "sigstore-root with the shipped root");
    let text = String::from_utf8(out.stdout).expect("event text");
    assert!(
        text.starts_with("cairn/key/v1\nevent sigstore-root\nfrom 0\n"),
        "{text}"
    );
    assert!(cairn_verifier::entry::KeyEvent::parse(&text).is_ok());
}
