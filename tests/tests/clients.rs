//! End-to-end tests of `cairn trust init`, `cairn verify`, `cairn install` and `cairn keylog`
//! against a real `cairn serve` on loopback. Each attack test is named after the attack and
//! checks the exit code the client contract promises (`spec/client.md`).
//!
//! Witness cosignatures: the server does not ask witnesses yet, so the tests that need them make
//! cosignatures themselves with `CosignatureSigner`, either on the checkpoint inside a
//! `.tlog-proof` file (offline) or through a man-in-the-middle HTTP server in front of the log
//! that adds them to every `checkpoint` answer (online, and for `keylog export`).
//!
//! Build the binary first: `cargo build -p cairn-cli`.

mod client_support;

use std::path::Path;

use cairn_verifier::checkpoint::Checkpoint;
use cairn_verifier::hash::leaf_hash;
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::{Ed25519Signer, KeyName, Note};
use cairn_verifier::tlog_proof::TlogProof;
use client_support::*;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A log with one release published, a client trusting it, and the release's artifact and proof.
fn setup() -> (TestLog, Client, std::path::PathBuf) {
    let log = TestLog::start();
    let (artifact, _) = log.publish("example/os", "1.0", b"the 1.0 image\n");
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    (log, client, artifact)
}

#[test]
fn verify_with_proof_online_then_offline_and_json() {
    let (log, client, artifact) = setup();
    let out = client.verify(&artifact, &["-v"]);
    assert_exit(&out, 0, "online verify with proof");
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("OK "), "{stdout}");
    assert!(stdout.contains("example/os 1.0 image.img"), "{stdout}");
    let stderr = text(&out.stderr);
    for check in [
        "keylog-replay",
        "checkpoint-signature",
        "inclusion",
        "consistency",
        "artifact-binding",
        "key-validity",
        "deprecation",
    ] {
        assert!(
            stderr.contains(check),
            "{check} missing from -v output:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("age is not checked"),
        "with no witnesses the client says the age check is skipped:\n{stderr}"
    );
    // The client stored both checkpoints and the key log.
    let logs = client.state().join("logs");
    let id = std::fs::read_dir(&logs)
        .expect("logs dir")
        .next()
        .expect("one log")
        .expect("entry")
        .path();
    assert!(id.join("releases.checkpoint").is_file());
    assert!(id.join("keylog.snapshot").is_file());

    // Offline, same state: no network needed.
    let out = client.verify(
        &artifact,
        &[
            "--offline",
            "--json",
            "--name",
            "example/os",
            "--version",
            "1.0",
        ],
    );
    assert_exit(&out, 0, "offline verify");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["verdict"], "ok");
    assert_eq!(json["entry"]["name"], "example/os");
    assert_eq!(json["entry"]["index"], 0);
    assert!(json["checks"].as_array().expect("checks").len() >= 8);
    drop(log);
}

#[test]
fn verify_online_by_digest_lookup_without_proof() {
    let (log, client, artifact) = setup();
    std::fs::remove_file(proof_path(&artifact)).expect("remove proof");
    let out = client.verify(&artifact, &["--json"]);
    assert_exit(&out, 0, "lookup");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["entry"]["version"], "1.0");
    // Offline without a proof there is nothing to verify against.
    let out = client.verify(&artifact, &["--offline", "--json"]);
    assert_refused(&out, 3, "inclusion", "offline without proof");
    drop(log);
}

#[test]
fn offline_verification_with_the_server_stopped_succeeds_with_proof_and_snapshot() {
    let (mut log, online, artifact) = setup();
    let snapshot = log.scratch().join("keys.snapshot");
    let out = online.cairn(&["keylog", "export"], &["--out", &s(&snapshot)]);
    assert_exit(&out, 0, "keylog export");
    log.stop();
    // A fresh machine: trust file and snapshot only, no state, no server.
    let airgapped = Client::new();
    airgapped.trust("http://127.0.0.1:9", &log, &[]);
    let out = airgapped.verify(&artifact, &["--offline", "--keylog", &s(&snapshot), "-v"]);
    assert_exit(&out, 0, "air-gapped verify");
    // The snapshot is now stored: the next offline run needs only the proof.
    let out = airgapped.verify(&artifact, &["--offline"]);
    assert_exit(&out, 0, "offline verify from the stored key log");
    // Without a snapshot or stored key log there is no key state.
    let empty = Client::new();
    empty.trust("http://127.0.0.1:9", &log, &[]);
    assert_refused(
        &empty.verify(&artifact, &["--offline", "--json"]),
        3,
        "keylog-entries",
        "no key log",
    );
}

#[test]
fn tampered_artifact() {
    let (log, client, artifact) = setup();
    std::fs::write(&artifact, b"the 1.0 image, backdoored\n").expect("tamper");
    let out = client.verify(&artifact, &["--json"]);
    assert_refused(&out, 3, "artifact-binding", "tampered artifact with proof");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["verdict"], "verification-failed");
    std::fs::remove_file(proof_path(&artifact)).expect("rm");
    assert_exit(
        &client.verify(&artifact, &[]),
        3,
        "tampered artifact by lookup",
    );
    drop(log);
}

#[test]
fn proof_for_a_different_artifact() {
    let (log, client, artifact) = setup();
    let (other, _) = log.publish("example/os", "2.0", b"the 2.0 image\n");
    let out = client.verify(&artifact, &["--proof", &s(&proof_path(&other)), "--json"]);
    assert_refused(&out, 3, "artifact-binding", "proof of another artifact");
}

#[test]
fn entry_that_names_the_digest_with_another_size() {
    let log = TestLog::start();
    let contents = b"sized image\n";
    // A release naming the right digest but a wrong size: the entry binds both.
    let note = sign(
        &release_text_sized(
            "example/os",
            "3.0",
            &[(
                "image.img",
                cairn_verifier::entry::Sha256Digest::of(contents),
                999,
            )],
        ),
        &[&log.release],
    );
    let proof = log.post("releases", &note).expect("logged");
    let path = log.scratch().join("sized.img");
    std::fs::write(&path, contents).expect("artifact");
    std::fs::write(proof_path(&path), proof).expect("proof");
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    assert_refused(
        &client.verify(&path, &["--json"]),
        3,
        "artifact-binding",
        "size mismatch",
    );
}

#[test]
fn tampered_tiles_and_entry_bundles_from_a_mirror() {
    let (log, client, artifact) = setup();
    log.publish("example/os", "1.1", b"more\n");
    log.publish("example/os", "1.2", b"more still\n");
    std::fs::remove_file(proof_path(&artifact)).expect("no proof: look up and read tiles");
    for (what, target) in [
        ("entry bundle", "/releases/tile/entries/"),
        ("hash tile", "/releases/tile/0/"),
    ] {
        let evil = TinyHttp::start(mitm_paths(log.url(), move |path, mut body| {
            if path.starts_with(target) && body.len() > 40 {
                body[40] ^= 1;
            }
            body
        }));
        client.trust(&evil.url(), &log, &[]);
        let out = client.verify(&artifact, &["--json"]);
        assert_refused(&out, 3, "inclusion", what);
        assert_install_refused(&client, &artifact, &[], 3, "inclusion");
    }
}

#[test]
fn tampered_proof() {
    let (log, client, artifact) = setup();
    log.publish("example/os", "1.1", b"more\n");
    log.publish("example/os", "1.2", b"more still\n");
    let proof_file = log.scratch().join("1.2.img.tlog-proof");
    let mut proof = TlogProof::parse(&std::fs::read(&proof_file).expect("read")).expect("parse");
    assert!(
        !proof.proof.is_empty(),
        "the proof has hashes to tamper with"
    );
    proof.proof[0] = leaf_hash(b"not the sibling");
    let tampered = log.scratch().join("1.2.img.tampered");
    std::fs::write(&tampered, proof.to_bytes()).expect("write");
    let out = client.verify(
        &log.scratch().join("1.2.img"),
        &["--proof", &s(&tampered), "--json"],
    );
    assert_refused(&out, 3, "inclusion", "tampered proof hash");
    // Garbage in the proof file.
    std::fs::write(&tampered, b"c2sp.org/tlog-proof@v1\nindex x\n").expect("write");
    assert_refused(
        &client.verify(&artifact, &["--proof", &s(&tampered), "--json"]),
        3,
        "proof",
        "malformed proof",
    );
}

#[test]
fn forged_checkpoint_signature() {
    let (log, client, artifact) = setup();
    assert_exit(&client.cairn(&["keylog", "sync"], &[]), 0, "sync");
    // The same checkpoint text signed by a key with the log's name but not the log's key.
    let impostor = Ed25519Signer::from_seed(
        KeyName::new(&format!("{PREFIX}/releases")).expect("name"),
        [42; 32],
    );
    rewrite_proof_checkpoint(&proof_path(&artifact), |cp| {
        let note = Note::parse(cp).expect("note");
        Note::sign(note.text(), &[&impostor])
            .expect("sign")
            .to_bytes()
    });
    let out = client.verify(&artifact, &["--offline", "--json"]);
    assert_refused(&out, 3, "checkpoint-signature", "forged signature");
    // Online too: the proof's checkpoint is checked whatever the log serves.
    let out = client.verify(&artifact, &["--json"]);
    assert_refused(&out, 3, "checkpoint-signature", "forged signature online");
    drop(log);
}

#[test]
fn log_key_mismatch() {
    let (log, client, artifact) = setup();
    let other = Ed25519Signer::from_seed(KeyName::new(PREFIX).expect("name"), [7; 32]);
    // trust init reaches the log: its key-log checkpoint does not verify with that key.
    let out = client.trust_raw(&log.url(), &other.verifier().to_vkey(), &log, &[]);
    assert_exit(&out, 3, "trust init with another log key");
    assert!(
        text(&out.stderr).contains("checkpoint signature"),
        "{}",
        text(&out.stderr)
    );
    let out = client.trust_raw(
        &log.url(),
        &other.verifier().to_vkey(),
        &log,
        &["--offline"],
    );
    assert_exit(&out, 0, "trust init --offline with another log key");
    let out = client.verify(&artifact, &["--json"]);
    assert_refused(&out, 3, "checkpoint-signature", "log key mismatch");
    assert_install_refused(&client, &artifact, &[], 3, "checkpoint-signature");
    assert!(
        text(&out.stderr).contains("checkpoint signature"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn rollback_to_an_older_checkpoint() {
    let (mut log, client, artifact) = setup();
    let old = log.files.path().join("old-data");
    log.copy_data(&old);
    client.trust(&log.url(), &log, &[]);
    log.publish("example/os", "1.1", b"newer\n");
    assert_exit(
        &client.verify(&artifact, &[]),
        0,
        "verify stores the newer checkpoint",
    );
    // The log (or a mirror, or an attacker with its key) now serves the older state.
    log.stop();
    log.serve(&old);
    client.trust(&log.url(), &log, &[]);
    let out = client.verify(&artifact, &["--json"]);
    assert_refused(&out, 3, "consistency", "rollback");
    assert_install_refused(&client, &artifact, &[], 3, "consistency");
    assert!(
        text(&out.stderr).contains("rollback"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn split_view() {
    let (mut log, client, artifact) = setup();
    let fork = log.files.path().join("fork-data");
    log.copy_data(&fork);
    client.trust(&log.url(), &log, &[]);
    // Two servers with the same key and the same history so far; each now logs a different
    // release, so both sign a checkpoint of the same size with different roots.
    log.publish("example/os", "1.1", b"for some\n");
    assert_exit(&client.verify(&artifact, &[]), 0, "first view");
    log.stop();
    log.serve(&fork);
    log.publish("example/os", "1.1", b"for others\n");
    client.trust(&log.url(), &log, &[]);
    let out = client.verify(&artifact, &["--json"]);
    assert_refused(&out, 4, "consistency", "split view");
    let evidence = client.evidence();
    assert_eq!(evidence.len(), 1, "one evidence file: {evidence:?}");
    let path = evidence[0].display().to_string();
    assert!(
        text(&out.stderr).contains(&path),
        "the path is printed:\n{}",
        text(&out.stderr)
    );
    let body = std::fs::read_to_string(&evidence[0]).expect("evidence");
    assert!(
        body.starts_with("cairn/inconsistency-evidence/v1\n"),
        "{body}"
    );
    assert!(
        body.contains("older 2 ") && body.contains("newer 2 "),
        "{body}"
    );
    // install refuses the same way (and writes its own evidence file).
    assert_install_refused(&client, &artifact, &[], 4, "consistency");
}

#[test]
fn split_view_of_the_key_log() {
    let (mut log, client, artifact) = setup();
    let fork = log.files.path().join("fork-data");
    log.copy_data(&fork);
    client.trust(&log.url(), &log, &[]);
    // Each copy logs a different key event: two key-log checkpoints of size 3.
    let add_a = sign(&add_key_event(&key("rel-a"), "example/*", 1), &[&log.root]);
    log.post("keys", &add_a).expect("add on one side");
    assert_exit(
        &client.cairn(&["keylog", "sync"], &[]),
        0,
        "first view of the key log",
    );
    log.stop();
    log.serve(&fork);
    let add_b = sign(&add_key_event(&key("rel-b"), "example/*", 1), &[&log.root]);
    log.post("keys", &add_b).expect("add on the other side");
    client.trust(&log.url(), &log, &[]);
    let out = client.verify(&artifact, &["--json"]);
    assert_refused(&out, 4, "consistency", "key-log split view");
    let evidence = client.evidence();
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    let body = std::fs::read_to_string(&evidence[0]).expect("evidence");
    assert!(body.contains(&format!("origin {PREFIX}/keys")), "{body}");
    // install refuses the same way (and writes its own evidence file).
    assert_install_refused(&client, &artifact, &[], 4, "consistency");
}

#[test]
fn key_log_from_other_genesis_roots() {
    let (log, client, artifact) = setup();
    // The client pinned other roots than the log's genesis: nothing verifies against it.
    let other = Client::new();
    let root = key("someone-else").verifier().to_vkey();
    let vkey = log.dir.log_vkey().to_owned();
    let state = s(&other.state());
    let url = log.url();
    let out = run_cairn(&[
        "trust",
        "init",
        "--state",
        &state,
        "--log",
        &url,
        "--log-key",
        &vkey,
        "--root-key",
        &root,
        "--threshold",
        "1",
    ]);
    // trust init reaches the log and says in plain words what differs.
    assert_exit(&out, 2, "trust init with other roots");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "--root-key {root} is not a root key of the log's genesis"
        )) && stderr.contains(&format!(
            "the log's genesis also has root key {}",
            log.root.verifier().to_vkey()
        )),
        "{stderr}"
    );
    assert!(!std::path::Path::new(&state).join("trust").exists());
    let out = run_cairn(&[
        "trust",
        "init",
        "--offline",
        "--state",
        &state,
        "--log",
        &url,
        "--log-key",
        &vkey,
        "--root-key",
        &root,
        "--threshold",
        "1",
    ]);
    assert_exit(&out, 0, "trust init --offline with other roots");
    let out = other.verify(&artifact, &["--json"]);
    assert_refused(
        &out,
        3,
        "keylog-replay",
        "genesis differs from the pinned roots",
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("pinned root key {root} is not in the genesis"))
            && !stderr.contains("RootSet {"),
        "the refusal names the difference in words, not as Rust debug text:\n{stderr}"
    );
    assert_install_refused(&other, &artifact, &[], 3, "keylog-replay");
    drop(client);
}

#[test]
fn split_view_offline_from_a_crafted_checkpoint() {
    let (log, client, artifact) = setup();
    assert_exit(
        &client.verify(&artifact, &[]),
        0,
        "stores the log's checkpoint of size 1",
    );
    // A compromised log key signs a second tree of the same size holding another entry.
    let forged_entry = sign(
        &release_text("example/os", "1.0", &[("image.img", b"evil\n")]),
        &[&log.release],
    );
    let mut tree = MemoryTree::new();
    tree.append(&forged_entry);
    let signer = log_key().with_name(KeyName::new(&format!("{PREFIX}/releases")).expect("n"));
    let text_cp = Checkpoint::new(format!("{PREFIX}/releases"), 1, tree.root())
        .to_text()
        .expect("checkpoint");
    let cp = Note::sign(&text_cp, &[&signer]).expect("sign").to_bytes();
    let evil = log.scratch().join("evil.img");
    std::fs::write(&evil, b"evil\n").expect("write");
    let proof = TlogProof {
        extra: Some(forged_entry),
        index: 0,
        proof: Vec::new(),
        checkpoint: cp,
    };
    std::fs::write(proof_path(&evil), proof.to_bytes()).expect("proof");
    let out = client.verify(&evil, &["--offline", "--json"]);
    assert_refused(&out, 4, "consistency", "offline split view");
    assert_eq!(client.evidence().len(), 1);
    // install refuses the same way (and writes its own evidence file).
    assert_install_refused(&client, &evil, &["--offline"], 4, "consistency");
}

#[test]
fn key_revoked_at_that_index() {
    let (log, client, artifact) = setup();
    let (later, index) = log.publish("example/os", "1.1", b"signed after the leak\n");
    assert_eq!(index, 1);
    assert_exit(
        &client.verify(&later, &[]),
        0,
        "valid before the revocation",
    );
    // The key leaked at release index 1: revoked from there on. Index 0 stays valid.
    let revoke = sign(&revoke_key_event(&log.release, 1), &[&log.root]);
    log.post("keys", &revoke).expect("revoke");
    let out = client.verify(&later, &["-v", "--json"]);
    assert_refused(&out, 3, "key-validity", "revoked key");
    assert!(
        text(&out.stderr).contains("revoked"),
        "{}",
        text(&out.stderr)
    );
    assert_exit(
        &client.verify(&artifact, &[]),
        0,
        "a release before the revocation's index stays valid",
    );
    assert_install_refused(&client, &later, &[], 3, "key-validity");
}

#[test]
fn key_out_of_scope() {
    // The log's own server refuses out-of-scope releases, so only a compromised log key can put
    // one in a signed tree: the client refuses it from the key log alone.
    let (log, client, _) = setup();
    assert_exit(&client.cairn(&["keylog", "sync"], &[]), 0, "sync");
    let contents = b"not ours\n";
    let entry = sign(
        &release_text("other/os", "1.0", &[("image.img", contents)]),
        &[&log.release],
    );
    // A tree extending the real one, so the checkpoint is consistent with what the client saw.
    let real = TlogProof::parse(&log.get("/releases/proof/0")).expect("proof");
    let mut tree = MemoryTree::new();
    tree.append(&real.extra.expect("entry"));
    tree.append(&entry);
    let signer = log_key().with_name(KeyName::new(&format!("{PREFIX}/releases")).expect("n"));
    let text_cp = Checkpoint::new(format!("{PREFIX}/releases"), 2, tree.root())
        .to_text()
        .expect("checkpoint");
    let proof = TlogProof {
        extra: Some(entry),
        index: 1,
        proof: tree.prove_inclusion(1, 2).expect("prove"),
        checkpoint: Note::sign(&text_cp, &[&signer]).expect("sign").to_bytes(),
    };
    let path = log.scratch().join("other.img");
    std::fs::write(&path, contents).expect("write");
    std::fs::write(proof_path(&path), proof.to_bytes()).expect("proof");
    let out = client.verify(&path, &["--offline", "-v", "--json"]);
    assert_refused(&out, 3, "key-validity", "out of scope");
    assert_install_refused(&client, &path, &["--offline"], 3, "key-validity");
    assert!(
        text(&out.stderr).contains("may not sign"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn deprecated_release() {
    let (mut log, client, artifact) = setup();
    let dep = sign(&deprecation_text("example/os", "1.0"), &[&log.release]);
    log.post("releases", &dep).expect("deprecate");
    // The server rebuilds its deprecation index from the repository after a restart.
    log.stop();
    let data = log.data();
    log.serve(&data);
    client.trust(&log.url(), &log, &[]);
    let out = client.verify(&artifact, &["--json"]);
    assert_exit(&out, 0, "deprecated: warning only");
    assert!(
        text(&out.stderr).contains("deprecated"),
        "{}",
        text(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["entry"]["deprecation"]["replacement"], "9.9");
    assert_refused(
        &client.verify(&artifact, &["--refuse-deprecated", "--json"]),
        3,
        "deprecation",
        "deprecated, refused",
    );
}

#[test]
fn wrong_name_or_version() {
    let (log, client, artifact) = setup();
    assert_refused(
        &client.verify(&artifact, &["--name", "example/other", "--json"]),
        3,
        "name-version",
        "name",
    );
    assert_refused(
        &client.verify(&artifact, &["--version", "2.0", "--json"]),
        3,
        "name-version",
        "version",
    );
    assert_exit(
        &client.verify(&artifact, &["--name", "not a name!"]),
        2,
        "usage",
    );
    drop(log);
}

/// A client trusting witnesses `w1` and `w2` (quorum `quorum`, max age 1h) behind a
/// man-in-the-middle that cosigns every checkpoint by `cosigners` at `cosign_at`.
fn witnessed(
    log: &TestLog,
    quorum: &str,
    cosign_at: u64,
    cosigners: Vec<&'static str>,
) -> (Client, TinyHttp) {
    let upstream = log.url();
    let mitm_server = TinyHttp::start(mitm(upstream, move |_, cp| {
        let signers: Vec<_> = cosigners.iter().map(|l| witness(l)).collect();
        let pairs: Vec<_> = signers.iter().map(|w| (w, cosign_at)).collect();
        cosign(&cp, &pairs)
    }));
    let client = Client::new();
    let (w1, w2) = (
        witness("w1").verifier().to_vkey(),
        witness("w2").verifier().to_vkey(),
    );
    client.trust(
        &mitm_server.url(),
        log,
        &[
            "--witness",
            "w1",
            &w1,
            "--witness",
            "w2",
            &w2,
            "--quorum",
            quorum,
            "--max-age",
            "1h",
        ],
    );
    (client, mitm_server)
}

#[test]
fn witnessed_checkpoints_verify_online_and_offline() {
    let log = TestLog::start();
    let (artifact, _) = log.publish("example/os", "1.0", b"witnessed\n");
    let (client, _mitm) = witnessed(&log, "2", now(), vec!["w1", "w2"]);
    let out = client.verify(&artifact, &["-v"]);
    // The proof from the log carries no cosignatures yet: its quorum fails.
    assert_exit(&out, 3, "proof without cosignatures");
    rewrite_proof_checkpoint(&proof_path(&artifact), |cp| {
        cosign(cp, &[(&witness("w1"), now()), (&witness("w2"), now())])
    });
    let out = client.verify(&artifact, &["-v"]);
    assert_exit(&out, 0, "witnessed online");
    assert!(
        text(&out.stderr).contains("freshness"),
        "{}",
        text(&out.stderr)
    );
    let snapshot = log.scratch().join("keys.snapshot");
    assert_exit(
        &client.cairn(&["keylog", "export"], &["--out", &s(&snapshot)]),
        0,
        "export",
    );
    let airgapped = Client::new();
    let (w1, w2) = (
        witness("w1").verifier().to_vkey(),
        witness("w2").verifier().to_vkey(),
    );
    airgapped.trust(
        "http://127.0.0.1:9",
        &log,
        &[
            "--witness",
            "w1",
            &w1,
            "--witness",
            "w2",
            &w2,
            "--max-age",
            "1h",
        ],
    );
    assert_exit(
        &airgapped.verify(&artifact, &["--offline", "--keylog", &s(&snapshot)]),
        0,
        "witnessed offline",
    );
}

#[test]
fn checkpoint_older_than_max_age() {
    let log = TestLog::start();
    let (artifact, _) = log.publish("example/os", "1.0", b"stale\n");
    let two_hours_ago = now() - 2 * 3600;
    let (client, _mitm) = witnessed(&log, "2", two_hours_ago, vec!["w1", "w2"]);
    let out = client.verify(&artifact, &["--json"]);
    assert_refused(&out, 3, "freshness", "stale checkpoints online");
    assert_install_refused(&client, &artifact, &[], 3, "freshness");
    assert!(text(&out.stderr).contains("stale"), "{}", text(&out.stderr));
    // One fresh witness and one stale one do not make a fresh quorum of two.
    let upstream = log.url();
    let mixed = TinyHttp::start(mitm(upstream, move |_, cp| {
        cosign(
            &cp,
            &[(&witness("w1"), now()), (&witness("w2"), two_hours_ago)],
        )
    }));
    client.trust(
        &mixed.url(),
        &log,
        &[
            "--witness",
            "w1",
            &witness("w1").verifier().to_vkey(),
            "--witness",
            "w2",
            &witness("w2").verifier().to_vkey(),
            "--max-age",
            "1h",
        ],
    );
    let out = client.verify(&artifact, &["--json"]);
    assert_refused(&out, 3, "freshness", "one fresh witness of two");
    // Offline, the key log used must be fresh too. A machine with a lax policy (max age 30
    // days) exports a snapshot cosigned two hours ago; a machine allowing one hour refuses it.
    let witnesses = [
        "--witness".to_owned(),
        "w1".to_owned(),
        witness("w1").verifier().to_vkey(),
        "--witness".to_owned(),
        "w2".to_owned(),
        witness("w2").verifier().to_vkey(),
    ];
    let mut lax_args: Vec<&str> = witnesses.iter().map(String::as_str).collect();
    lax_args.extend(["--max-age", "30d"]);
    let lax = Client::new();
    let old_view = TinyHttp::start(mitm(log.url(), move |_, cp| {
        cosign(
            &cp,
            &[
                (&witness("w1"), two_hours_ago),
                (&witness("w2"), two_hours_ago),
            ],
        )
    }));
    lax.trust(&old_view.url(), &log, &lax_args);
    let snapshot = log.scratch().join("old.snapshot");
    let out = lax.cairn(&["keylog", "export"], &["--out", &s(&snapshot)]);
    assert_exit(&out, 0, "a lax policy accepts a two-hour-old key log");
    let mut strict_args: Vec<&str> = witnesses.iter().map(String::as_str).collect();
    strict_args.extend(["--max-age", "1h"]);
    let strict = Client::new();
    strict.trust("http://127.0.0.1:9", &log, &strict_args);
    rewrite_proof_checkpoint(&proof_path(&artifact), |cp| {
        cosign(cp, &[(&witness("w1"), now()), (&witness("w2"), now())])
    });
    let out = strict.verify(
        &artifact,
        &["--offline", "--keylog", &s(&snapshot), "--json"],
    );
    assert_refused(&out, 3, "freshness", "stale key-log snapshot offline");
}

#[test]
fn witness_quorum_not_met() {
    let log = TestLog::start();
    let (artifact, _) = log.publish("example/os", "1.0", b"quorum\n");
    let (client, _mitm) = witnessed(&log, "2", now(), vec!["w1", "w2"]);
    // Online checkpoints are fully cosigned; the proof's has one cosignature of two.
    rewrite_proof_checkpoint(&proof_path(&artifact), |cp| {
        cosign(cp, &[(&witness("w1"), now())])
    });
    let out = client.verify(&artifact, &["--json"]);
    assert_refused(&out, 3, "witness-quorum", "quorum not met");
    assert_install_refused(&client, &artifact, &[], 3, "witness-quorum");
    // A bad cosignature by a policy witness refuses the checkpoint outright.
    rewrite_proof_checkpoint(&proof_path(&artifact), |cp| {
        let mut note = Note::parse(cp).expect("note");
        let mut sig = witness("w2")
            .cosign_text(note.text(), now())
            .expect("cosign");
        sig.signature[20] ^= 1;
        note.push_signature(sig).expect("push");
        note.to_bytes()
    });
    assert_refused(
        &client.verify(&artifact, &["--json"]),
        3,
        "witness-quorum",
        "bad cosignature",
    );
}

#[test]
fn trust_init_refuses_bad_input() {
    let log = TestLog::start();
    let client = Client::new();
    let out = client.trust_raw(&log.url(), "not-a-key", &log, &[]);
    assert_exit(&out, 2, "bad log key");
    let out = client.trust_raw("ftp://x", log.dir.log_vkey(), &log, &[]);
    assert_exit(&out, 2, "bad URL");
    // A plain Ed25519 key is not a witness key.
    let out = client.trust_raw(
        &log.url(),
        log.dir.log_vkey(),
        &log,
        &["--witness", "w1", &key("w").verifier().to_vkey()],
    );
    assert_exit(&out, 2, "witness key type");
    // Without --force an existing policy is kept.
    client.trust(&log.url(), &log, &[]);
    let root = log.root.verifier().to_vkey();
    let state = s(&client.state());
    let vkey = log.dir.log_vkey().to_owned();
    let out = run_cairn(&[
        "trust",
        "init",
        "--state",
        &state,
        "--log",
        &log.url(),
        "--log-key",
        &vkey,
        "--root-key",
        &root,
        "--threshold",
        "1",
    ]);
    assert_exit(&out, 2, "no overwrite");
    // No trust policy at all: a usage error, still one JSON object with --json.
    let none = Client::new();
    let out = none.verify(&log.scratch(), &["--json"]);
    assert_exit(&out, 2, "no trust policy");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["verdict"], "usage-error");
}

// ---- install ----

/// Serves the scratch directory over HTTP.
fn file_server(log: &TestLog) -> TinyHttp {
    TinyHttp::start(files(log.scratch()))
}

fn install(client: &Client, source: &str, to: &Path, args: &[&str]) -> std::process::Output {
    let to = s(to);
    let mut all = vec![source, "--to", to.as_str(), "--json"];
    all.extend_from_slice(args);
    client.cairn(&["install"], &all)
}

/// Asserts PATH holds `old` and the directory has no temporary file.
#[track_caller]
fn assert_untouched(to: &Path, old: &[u8]) {
    assert_eq!(
        std::fs::read(to).expect("PATH still there"),
        old,
        "PATH changed"
    );
    let dir = to.parent().expect("dir");
    let left = files_containing(dir, ".cairn-");
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

/// Runs `cairn install SOURCE` over an existing PATH, expects the refusal `code` at `check`, and
/// checks that PATH is untouched and no temporary file is left.
#[track_caller]
fn assert_install_refused(client: &Client, source: &Path, args: &[&str], code: i32, check: &str) {
    let dest = tempfile::tempdir().expect("dest");
    let to = dest.path().join("installed.img");
    let old = b"the version installed before\n";
    std::fs::write(&to, old).expect("old");
    let out = install(client, &s(source), &to, args);
    assert_refused(&out, code, check, &format!("install {}", source.display()));
    assert_untouched(&to, old);
}

#[test]
fn install_from_http_and_from_a_local_path() {
    let (log, client, artifact) = setup();
    let http = file_server(&log);
    let dest_dir = tempfile::tempdir().expect("dest");
    let to = dest_dir.path().join("os.img");
    let out = install(&client, &format!("{}/1.0.img", http.url()), &to, &["-v"]);
    assert_exit(&out, 0, "install over HTTP with proof");
    assert_eq!(std::fs::read(&to).expect("installed"), b"the 1.0 image\n");
    assert!(files_containing(dest_dir.path(), ".cairn-").is_empty());
    // Without SOURCE.tlog-proof the client looks the digest up.
    std::fs::remove_file(&to).expect("rm");
    std::fs::remove_file(proof_path(&artifact)).expect("rm proof");
    let out = install(&client, &format!("{}/1.0.img", http.url()), &to, &[]);
    assert_exit(&out, 0, "install over HTTP by lookup");
    // From a local path, replacing the file.
    let (local, _) = log.publish("example/os", "1.1", b"the 1.1 image\n");
    let out = install(&client, &s(&local), &to, &["--name", "example/os"]);
    assert_exit(&out, 0, "install from a local path");
    assert_eq!(std::fs::read(&to).expect("installed"), b"the 1.1 image\n");
}

#[test]
fn install_leaves_path_untouched_on_every_failure() {
    let (log, client, artifact) = setup();
    let (other, _) = log.publish("example/os", "2.0", b"the 2.0 image\n");
    let http = file_server(&log);
    let dest_dir = tempfile::tempdir().expect("dest");
    let to = dest_dir.path().join("os.img");
    let old = b"the installed version\n";
    std::fs::write(&to, old).expect("old");
    let scratch = log.scratch();

    // Tampered artifact (HTTP, with its proof).
    std::fs::write(scratch.join("tampered.img"), b"backdoored\n").expect("w");
    std::fs::copy(
        proof_path(&artifact),
        scratch.join("tampered.img.tlog-proof"),
    )
    .expect("cp");
    let out = install(&client, &format!("{}/tampered.img", http.url()), &to, &[]);
    assert_refused(&out, 3, "artifact-binding", "install tampered");
    assert_untouched(&to, old);

    // Not logged at all (no proof, lookup finds nothing).
    std::fs::write(scratch.join("unlogged.img"), b"never published\n").expect("w");
    let out = install(&client, &format!("{}/unlogged.img", http.url()), &to, &[]);
    assert_refused(&out, 3, "inclusion", "install unlogged");
    assert_untouched(&to, old);

    // Proof for a different artifact (local source).
    let out = install(
        &client,
        &s(&artifact),
        &to,
        &["--proof", &s(&proof_path(&other))],
    );
    assert_refused(
        &out,
        3,
        "artifact-binding",
        "install with another artifact's proof",
    );
    assert_untouched(&to, old);

    // Wrong version.
    let out = install(&client, &s(&artifact), &to, &["--version", "2.0"]);
    assert_refused(&out, 3, "name-version", "install wrong version");
    assert_untouched(&to, old);

    // Forged checkpoint signature in the proof.
    let forged = scratch.join("forged.img");
    std::fs::copy(&artifact, &forged).expect("cp");
    std::fs::copy(proof_path(&artifact), proof_path(&forged)).expect("cp");
    let impostor = Ed25519Signer::from_seed(
        KeyName::new(&format!("{PREFIX}/releases")).expect("name"),
        [42; 32],
    );
    rewrite_proof_checkpoint(&proof_path(&forged), |cp| {
        let note = Note::parse(cp).expect("note");
        Note::sign(note.text(), &[&impostor])
            .expect("sign")
            .to_bytes()
    });
    let out = install(&client, &s(&forged), &to, &[]);
    assert_refused(&out, 3, "checkpoint-signature", "install forged checkpoint");
    assert_untouched(&to, old);

    // Download that fails midway (HTTP 404) and a source that does not exist.
    let out = install(&client, &format!("{}/missing.img", http.url()), &to, &[]);
    assert_exit(&out, 1, "install 404");
    assert_untouched(&to, old);
    let out = install(&client, &s(&scratch.join("nope.img")), &to, &[]);
    assert_exit(&out, 1, "install missing file");
    assert_untouched(&to, old);

    // Deprecated and refused.
    let dep = sign(&deprecation_text("example/os", "1.0"), &[&log.release]);
    log.post("releases", &dep).expect("deprecate");
    let out = install(&client, &s(&artifact), &to, &["--refuse-deprecated"]);
    assert_refused(&out, 3, "deprecation", "install deprecated");
    assert_untouched(&to, old);

    // Revoked key.
    let revoke = sign(&revoke_key_event(&log.release, 0), &[&log.root]);
    log.post("keys", &revoke).expect("revoke");
    let out = install(&client, &s(&artifact), &to, &[]);
    assert_refused(&out, 3, "key-validity", "install revoked");
    assert_untouched(&to, old);
}

#[test]
fn install_interrupted_by_ctrl_c_leaves_no_temporary_file() {
    let (log, client, _) = setup();
    // No proof file beside the image (install asks for it first), then a download that stalls.
    let stall = TinyHttp::start(|path: &str| {
        if path.ends_with(".tlog-proof") {
            return Answer::Full(404, b"not found\n".to_vec());
        }
        Answer::Stall {
            total: 10 << 20,
            first: vec![0u8; 1 << 20],
        }
    });
    let dest_dir = tempfile::tempdir().expect("dest");
    let to = dest_dir.path().join("os.img");
    let child = std::process::Command::new(cairn_bin())
        .args([
            "install",
            &format!("{}/big.img", stall.url()),
            "--to",
            &s(&to),
        ])
        .args(["--state", &s(&client.state())])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn install");
    // Wait until the temporary file exists and holds the first mebibyte.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let partial = files_containing(dest_dir.path(), ".cairn-");
        if let Some(name) = partial.first() {
            let len = std::fs::metadata(dest_dir.path().join(name))
                .map(|m| m.len())
                .unwrap_or(0);
            if len >= 1 << 20 {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(!to.exists(), "nothing installed");
    assert!(
        files_containing(dest_dir.path(), ".cairn-").is_empty(),
        "the temporary file was removed"
    );
    drop(log);
}

#[test]
fn install_never_copies_setuid_nor_takes_a_mode_through_a_symlink() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_log, client, artifact) = setup();
    let dest = tempfile::tempdir().expect("dest");
    // A setuid, setgid program is replaced: the verified file keeps the permission bits only.
    let to = dest.path().join("tool");
    std::fs::write(&to, b"old\n").expect("old");
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o6755)).expect("chmod");
    let out = install(&client, &s(&artifact), &to, &[]);
    assert_exit(&out, 0, "install over a setuid file");
    let mode = std::fs::metadata(&to).expect("meta").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755, "setuid/setgid bits copied: {mode:o}");
    // A symlink at PATH: the link is replaced by the file, whose mode is not the target's.
    let target = dest.path().join("target");
    std::fs::write(&target, b"target\n").expect("target");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o4777)).expect("chmod");
    let link = dest.path().join("link");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let out = install(&client, &s(&artifact), &link, &[]);
    assert_exit(&out, 0, "install over a symlink");
    let meta = std::fs::symlink_metadata(&link).expect("meta");
    assert!(meta.is_file(), "the link was replaced by the file");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
    assert_eq!(std::fs::read(&target).expect("target"), b"target\n");
}

#[test]
fn install_stops_a_download_at_the_logged_size() {
    let (log, client, artifact) = setup();
    let proof = std::fs::read(proof_path(&artifact)).expect("proof");
    let logged = std::fs::read(&artifact).expect("artifact");
    // The server announces a 1 GiB body and then stalls; and, second, sends more than logged.
    for (announced, first) in [(1u64 << 30, logged.clone()), (1 << 20, vec![b'x'; 1 << 20])] {
        let proof = proof.clone();
        let first_body = first.clone();
        let http = TinyHttp::start(move |path| match path {
            "/os.img.tlog-proof" => Answer::Full(200, proof.clone()),
            "/os.img" if announced == 1 << 30 => Answer::Stall {
                total: announced,
                first: first_body.clone(),
            },
            "/os.img" => Answer::Full(200, first_body.clone()),
            _ => Answer::Full(404, b"no\n".to_vec()),
        });
        let dest = tempfile::tempdir().expect("dest");
        let to = dest.path().join("os.img");
        let started = std::time::Instant::now();
        let out = install(&client, &format!("{}/os.img", http.url()), &to, &[]);
        assert_exit(&out, 3, "oversized download");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "took {:?}",
            started.elapsed()
        );
        assert!(
            text(&out.stderr).contains("the download was stopped"),
            "{}",
            text(&out.stderr)
        );
        assert!(!to.exists());
        assert!(files_containing(dest.path(), ".cairn-").is_empty());
    }
    drop(log);
}

#[test]
fn trust_file_and_state_directory_other_users_can_change_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_log, client, artifact) = setup();
    let trust = client.state().join("trust");
    std::fs::set_permissions(&trust, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let out = client.verify(&artifact, &[]);
    assert_exit(&out, 2, "world-writable trust file");
    assert!(
        text(&out.stderr).contains("writable by other users"),
        "{}",
        text(&out.stderr)
    );
    std::fs::set_permissions(&trust, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_exit(&client.verify(&artifact, &[]), 0, "trust file fixed");

    std::fs::set_permissions(client.state(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod");
    let out = client.verify(&artifact, &[]);
    assert_exit(&out, 2, "world-writable state directory");
    assert!(
        text(&out.stderr).contains("state directory"),
        "{}",
        text(&out.stderr)
    );
    std::fs::set_permissions(client.state(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");

    // A FIFO as the trust file is refused at once, never waited on.
    let fifo = client.dir.path().join("trust.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let started = std::time::Instant::now();
    let out = client.verify(&artifact, &["--trust", &s(&fifo)]);
    assert_exit(&out, 2, "FIFO trust file");
    assert!(
        text(&out.stderr).contains("a FIFO"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // A state file that is a FIFO too.
    let logs = client.state().join("logs");
    let id = std::fs::read_dir(&logs)
        .expect("logs")
        .next()
        .expect("one")
        .expect("e")
        .path();
    std::fs::remove_file(id.join("releases.checkpoint")).expect("rm");
    let made = std::process::Command::new("mkfifo")
        .arg(id.join("releases.checkpoint"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let out = client.verify(&artifact, &[]);
    assert_exit(&out, 2, "FIFO state file");
    assert!(
        text(&out.stderr).contains("a FIFO"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn short_or_oversized_tile_is_a_verification_failure() {
    let (log, client, artifact) = setup();
    assert_exit(
        &client.verify(&artifact, &[]),
        0,
        "first verify stores size 1",
    );
    log.publish("example/os", "1.1", b"more\n");
    log.publish("example/os", "1.2", b"more still\n");
    for (what, change) in [("short", -32i64), ("oversized", 32)] {
        let evil = TinyHttp::start(mitm_paths(log.url(), move |path, mut body| {
            if path.starts_with("/releases/tile/0/") {
                if change < 0 {
                    body.truncate(body.len() - 32);
                } else {
                    body.extend_from_slice(&[0; 32]);
                }
            }
            body
        }));
        let other = Client::new();
        // The client saw size 1 before: the consistency proof to size 3 reads tiles.
        std::fs::create_dir_all(other.state()).expect("state");
        copy_dir(&client.state(), &other.state());
        other.trust(&evil.url(), &log, &[]);
        let out = other.verify(&artifact, &["--json"]);
        assert_refused(&out, 3, "consistency", &format!("{what} tile"));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

#[test]
fn secret_key_where_a_verifier_key_belongs_and_public_key_where_a_secret_key_belongs() {
    let log = TestLog::start();
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("k");
    assert_exit(
        &run_cairn(&["keygen", "--name", "example.org/k", "--out", &s(&secret)]),
        0,
        "keygen",
    );
    let public = dir.path().join("k.pub");
    // A secret key given as the log key or a root key, inline or as a file.
    let inline = std::fs::read_to_string(&secret).expect("secret");
    for value in [s(&secret), inline.trim().to_owned()] {
        let client = Client::new();
        let out = client.trust_raw(&log.url(), &value, &log, &[]);
        assert_exit(&out, 2, "secret key as --log-key");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("this is a secret (signing) key; pass the verifier key"),
            "{stderr}"
        );
        assert!(!stderr.contains("key ID must be"), "{stderr}");
    }
    // The public key given to publish: named as such, not judged by its mode.
    let file = dir.path().join("a.img");
    std::fs::write(&file, b"a\n").expect("file");
    let out = run_cairn(&[
        "publish",
        &s(&file),
        "--name",
        "example/os",
        "--version",
        "9",
        "--key",
        &s(&public),
        "--log",
        &log.url(),
    ]);
    assert_exit(&out, 2, "publish --key FILE.pub");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("is a verifier key (public)"), "{stderr}");
    assert!(!stderr.contains("compromised"), "{stderr}");
}
