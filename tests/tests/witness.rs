//! End-to-end tests of witnessing (issue 7): real `cairn witness` processes, a real `cairn serve`
//! that asks them for cosignatures, and clients whose trust policy needs a quorum of them.
//!
//! - `two_witnesses_quorum_2_of_2_then_one_down`: a log with two witnesses publishes cosigned
//!   checkpoints (the `add` reply's proof carries both cosignatures, which verify under the
//!   verifier's cosignature/v1 code); a 2-of-2 client verifies; with one witness killed the log
//!   keeps acknowledging, the 2-of-2 client refuses (exit 3) and a 1-of-2 client accepts.
//! - `witness_answers_the_spec_status_codes`: a witness driven directly over HTTP answers 200,
//!   400, 403, 404, 409 (with `text/x.tlog.size` and its size), 422, and serves its latest
//!   cosigned checkpoint.
//! - `witness_killed_and_restarted_never_cosigns_inconsistent_checkpoints`: a witness SIGKILLed
//!   while checkpoints are being cosigned, restarted, still holds at least every checkpoint it
//!   answered 200 for, refuses forks of them, and carries on with the honest log.
//! - `log_relearns_the_witness_size_after_its_own_restart`: the log forgets what the witnesses
//!   cosigned when it restarts; the 409 reply teaches it again and cosigning continues.
//! - `witness_refuses_a_forked_log_and_quorum_clients_refuse_its_releases`: a copy of the log's
//!   data directory served with the same key logs another release at the same index; the
//!   witness refuses it, and a client needing the witness refuses the forked release.
//! - `a_hanging_witness_never_blocks_acknowledgements`: a witness that accepts connections and
//!   never answers delays each `add` by at most the bound, never fails it; the other witness
//!   still cosigns.
//! - `forged_and_oversized_witness_replies_are_not_attached`: a cosignature by the right key over
//!   another checkpoint, and a megabyte reply, are refused with the reason logged.
//! - `idle_log_refreshes_cosignatures`: `--witness-refresh` moves cosignature timestamps forward.
//! - `hook_runs_after_each_publication_and_failures_do_not_stop_the_log`: the hook gets the
//!   published (cosigned) checkpoint, update-latest.txt and the DNS TXT value; a failing hook is
//!   counted in /metrics and the log keeps acknowledging.
//!
//! Build the binary first: `cargo build -p cairn-cli`.

mod client_support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::time::Duration;

use cairn_tests::http::Http;
use cairn_tests::process::Server;
use cairn_tests::{assert_refused as assert_http_refused, poll_until};
use cairn_verifier::checkpoint::{Checkpoint, VerifiedCheckpoint};
use cairn_verifier::cosignature::{CosignatureSigner, CosignatureVerifier};
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::{Ed25519Signer, KeyName, Note, NoteVerifier as _};
use cairn_verifier::tlog_proof::TlogProof;
use cairn_verifier::witness::{AddCheckpoint, parse_cosignature_lines};
use client_support::*;

/// A witness process with its key and state directory.
struct TestWitness {
    name: String,
    seed: [u8; 32],
    files: tempfile::TempDir,
    server: Option<Server>,
    logs: Vec<(String, String)>,
}

impl TestWitness {
    /// Starts `cairn witness` for the test log's two origins, each with its own key.
    fn start(label: &str) -> TestWitness {
        let releases_vkey = log_key()
            .with_name(KeyName::new(&format!("{PREFIX}/releases")).expect("name"))
            .verifier()
            .to_vkey();
        TestWitness::start_for(
            label,
            vec![
                (format!("{PREFIX}/releases"), releases_vkey),
                (
                    format!("{PREFIX}/keys"),
                    keys_log_key().verifier().to_vkey(),
                ),
            ],
        )
    }

    fn start_for(label: &str, logs: Vec<(String, String)>) -> TestWitness {
        let files = tempfile::tempdir().expect("tempdir");
        let name = format!("witness.example/{label}");
        let seed = cairn_verifier::hash::sha256(format!("cairn-witness-test/{label}").as_bytes());
        let signer = Ed25519Signer::from_seed(KeyName::new(&name).expect("name"), seed);
        let key = files.path().join("witness.key");
        std::fs::write(&key, format!("{}\n", signer.to_skey())).expect("key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let mut w = TestWitness {
            name: label.to_owned(),
            seed,
            files,
            server: None,
            logs,
        };
        w.restart();
        w
    }

    fn key_path(&self) -> PathBuf {
        self.files.path().join("witness.key")
    }

    fn data(&self) -> PathBuf {
        self.files.path().join("data")
    }

    /// (Re)starts the process on the same key and state.
    fn restart(&mut self) {
        let logs: Vec<(&str, &str)> = self
            .logs
            .iter()
            .map(|(o, k)| (o.as_str(), k.as_str()))
            .collect();
        self.server = Some(Server::witness(&self.key_path(), &self.data(), &logs));
    }

    /// Restarts the process on the same key, state and address (the log is configured with
    /// its URL, so a witness that comes back answers where it was).
    fn restart_in_place(&mut self, addr: std::net::SocketAddr) {
        let mut args: Vec<String> = vec![
            "witness".into(),
            "--key".into(),
            self.key_path().display().to_string(),
            "--data".into(),
            self.data().display().to_string(),
            "--listen".into(),
            addr.to_string(),
        ];
        for (origin, vkey) in &self.logs {
            args.extend(["--witness-log".to_owned(), origin.clone(), vkey.clone()]);
        }
        self.server = Some(Server::spawn(&args).unwrap_or_else(|f| panic!("{f}")));
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.server.as_ref().expect("running").addr()
    }

    fn kill(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.sigkill();
        }
    }

    fn url(&self) -> String {
        self.server.as_ref().expect("running").base_url()
    }

    fn cosigner(&self) -> CosignatureSigner {
        let name = KeyName::new(&format!("witness.example/{}", self.name)).expect("name");
        CosignatureSigner::from_seed(name, self.seed)
    }

    fn vkey(&self) -> String {
        self.cosigner().verifier().to_vkey()
    }

    /// `cairn serve --witness NAME VKEY URL` arguments.
    fn serve_args(&self) -> Vec<String> {
        vec![
            "--witness".into(),
            self.name.clone(),
            self.vkey(),
            self.url(),
        ]
    }

    /// `cairn trust init --witness NAME VKEY` arguments.
    fn trust_args(&self) -> Vec<String> {
        vec!["--witness".into(), self.name.clone(), self.vkey()]
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The witnesses (by key) whose cosignature on `note` verifies.
fn cosigned_by(note_bytes: &[u8], witnesses: &[&TestWitness]) -> Vec<String> {
    let note = Note::parse(note_bytes).expect("note");
    witnesses
        .iter()
        .filter(|w| w.cosigner().verifier().cosignature_time(&note).is_ok())
        .map(|w| w.name.clone())
        .collect()
}

#[test]
fn two_witnesses_quorum_2_of_2_then_one_down() {
    let w1 = TestWitness::start("w1");
    let mut w2 = TestWitness::start("w2");
    let mut serve: Vec<String> = w1.serve_args();
    serve.extend(w2.serve_args());
    serve.extend(["--witness-timeout".into(), "2s".into()]);
    let log = TestLog::start_with(&strs(&serve));

    // The proof in the add reply carries both cosignatures, and they verify with the verifier's
    // cosignature/v1 code under the witnesses' type 0x04 keys.
    let (artifact, _) = log.publish("example/os", "1.0", b"the 1.0 image\n");
    let proof = TlogProof::parse(&std::fs::read(proof_path(&artifact)).expect("proof"))
        .expect("parse proof");
    assert_eq!(
        cosigned_by(&proof.checkpoint, &[&w1, &w2]),
        vec!["w1", "w2"],
        "the add reply's checkpoint:\n{}\nserver stderr:\n{}",
        text(&proof.checkpoint),
        log.server.as_ref().expect("server").stderr()
    );
    let now = now();
    let note = Note::parse(&proof.checkpoint).expect("note");
    for w in [&w1, &w2] {
        let v = CosignatureVerifier::from_vkey(&w.vkey()).expect("0x04 vkey");
        let t = v.cosignature_time(&note).expect("cosignature verifies");
        assert!(
            t <= now && now - t < 120,
            "timestamp {t} is not recent (now {now})"
        );
    }
    // The HTTP checkpoint, the git branch and the witnesses' own view agree.
    let http_cp = log.get("/releases/checkpoint");
    assert_eq!(cosigned_by(&http_cp, &[&w1, &w2]), vec!["w1", "w2"]);
    let git_cp = cairn_tests::git::read_on_branch(&log.dir.repo(), "releases/checkpoint");
    assert_eq!(
        git_cp, http_cp,
        "the git channel carries the cosigned checkpoint"
    );
    let keys_cp = log.get("/keys/checkpoint");
    assert_eq!(cosigned_by(&keys_cp, &[&w1, &w2]), vec!["w1", "w2"]);
    let http = Http::new();
    let latest = http
        .must_get(&format!("{}/latest/{PREFIX}/releases", w1.url()))
        .expect_ok("witness latest");
    let releases_vkey = log_key()
        .with_name(KeyName::new(&format!("{PREFIX}/releases")).expect("name"))
        .verifier();
    let latest =
        VerifiedCheckpoint::verify(&latest.body, &format!("{PREFIX}/releases"), &releases_vkey)
            .expect("the witness serves a checkpoint the log signed");
    assert_eq!(latest.size(), 1);

    // A 2-of-2 client verifies online and offline.
    let mut trust: Vec<String> = w1.trust_args();
    trust.extend(w2.trust_args());
    let strict = Client::new();
    strict.trust(&log.url(), &log, &strs(&trust));
    assert_exit(&strict.verify(&artifact, &["-v"]), 0, "2-of-2 online");
    assert_exit(
        &strict.verify(&artifact, &["--offline"]),
        0,
        "2-of-2 offline",
    );

    // One witness down: the log keeps acknowledging; its new checkpoints carry w1 only.
    w2.kill();
    let (artifact2, _) = log.publish("example/os", "2.0", b"the 2.0 image\n");
    let proof2 = TlogProof::parse(&std::fs::read(proof_path(&artifact2)).expect("proof"))
        .expect("parse proof");
    assert_eq!(cosigned_by(&proof2.checkpoint, &[&w1, &w2]), vec!["w1"]);
    let out = strict.verify(&artifact2, &["--json"]);
    assert_refused(&out, 3, "witness-quorum", "2-of-2 with one witness down");
    let mut lenient_trust = trust.clone();
    lenient_trust.extend(["--quorum".into(), "1".into()]);
    let lenient = Client::new();
    lenient.trust(&log.url(), &log, &strs(&lenient_trust));
    assert_exit(
        &lenient.verify(&artifact2, &["-v"]),
        0,
        "1-of-2 with one witness down",
    );
    let metrics = text(&log.get("/metrics"));
    assert!(
        metrics.contains("cairn_witness_requests_total{witness=\"w2\",result=\"failed\"}"),
        "{metrics}"
    );
}

/// A witness that comes back after a failure is asked again within its backoff (seconds), not
/// at the next commit or the hourly refresh: a 2-of-2 client verifies the release published
/// while it was down as soon as it is back, with no new commit in between.
#[test]
fn a_witness_that_comes_back_is_asked_again_without_a_new_commit() {
    let w1 = TestWitness::start("back1");
    let mut w2 = TestWitness::start("back2");
    let mut serve: Vec<String> = w1.serve_args();
    serve.extend(w2.serve_args());
    serve.extend(["--witness-timeout".into(), "2s".into()]);
    let log = TestLog::start_with(&strs(&serve));
    let mut trust: Vec<String> = w1.trust_args();
    trust.extend(w2.trust_args());
    let strict = Client::new();
    strict.trust(&log.url(), &log, &strs(&trust));

    let addr = w2.addr();
    w2.kill();
    let (artifact, _) = log.publish("example/os", "1.0", b"published with w2 down\n");
    let cp = log.get("/releases/checkpoint");
    assert_eq!(cosigned_by(&cp, &[&w1, &w2]), vec!["back1"]);
    let out = strict.verify(&artifact, &["--json"]);
    assert_refused(&out, 3, "witness-quorum", "2-of-2 while w2 is down");
    // Down a few seconds (so the backoff grew), then back on the same address.
    std::thread::sleep(Duration::from_secs(3));
    w2.restart_in_place(addr);
    let back = std::time::Instant::now();
    poll_until(
        Duration::from_secs(20),
        "the returning witness's cosignature on the unchanged checkpoint",
        || {
            let cp = log.get("/releases/checkpoint");
            (cosigned_by(&cp, &[&w1, &w2]) == vec!["back1", "back2"]).then_some(())
        },
    );
    assert!(
        back.elapsed() < Duration::from_secs(20),
        "asked again within its backoff, not at the hourly refresh"
    );
    // The proof file written at publication carries only back1's cosignature; a client that
    // comes later asks the log (lookup and the cosigned checkpoint it now serves).
    std::fs::remove_file(format!("{}.tlog-proof", artifact.display())).expect("stale proof");
    assert_exit(
        &strict.verify(&artifact, &["-v"]),
        0,
        "2-of-2 once w2 is back, without a new release",
    );
    let releases = text(&log.get("/releases/checkpoint"));
    assert!(
        releases.lines().nth(1) == Some("1"),
        "no new entry was logged:\n{releases}"
    );
}

/// `cairn init`, then the `[[witness]]` table of docs/operators.md appended to config.toml as
/// the guide says: `serve` starts and asks that witness (it used to fail with a TOML
/// duplicate-key error because `init` wrote `witness = []`).
#[test]
fn the_documented_witness_table_can_be_appended_to_the_initial_config() {
    let w = TestWitness::start("appended");
    let files = tempfile::tempdir().expect("tempdir");
    let releases_key =
        log_key().with_name(KeyName::new(&format!("{PREFIX}/releases")).expect("name"));
    let mut skeys = Vec::new();
    for (file, signer) in [("releases.key", releases_key), ("keys.key", keys_log_key())] {
        let skey = files.path().join(file);
        std::fs::write(&skey, format!("{}\n", signer.to_skey())).expect("log key");
        std::fs::set_permissions(&skey, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        skeys.push(skey);
    }
    let skeys: Vec<&std::path::Path> = skeys.iter().map(|p| p.as_path()).collect();
    let dir = cairn_tests::process::LogDir::init_with(
        PREFIX,
        &cairn_tests::fixtures::genesis(&[&key("root1")], 1, &[&key("root1")]),
        &skeys,
    );
    let config = dir.data().join("config.toml");
    let written = std::fs::read_to_string(&config).expect("config");
    assert!(
        !written
            .lines()
            .any(|l| l.trim_start().starts_with("witness") && !l.contains("[witnessing]")),
        "init writes no witness key:\n{written}"
    );
    let table = format!(
        "\n[[witness]]\nname = \"appended\"\nvkey = \"{}\"\nurl = \"{}\"\n",
        w.vkey(),
        w.url()
    );
    std::fs::write(&config, format!("{written}{table}")).expect("append");
    let server = dir.serve(&[]);
    assert!(
        server
            .stderr()
            .contains(&format!("cairn: witness appended at {}", w.url())),
        "{}",
        server.stderr()
    );
    poll_until(
        Duration::from_secs(30),
        "the appended witness's cosignature",
        || {
            let cp = Http::new().must_get(&server.url("/keys/checkpoint")).body;
            (cosigned_by(&cp, &[&w]) == vec!["appended"]).then_some(())
        },
    );
}

/// The spec's examples of refusals, against a real witness process.
#[test]
fn witness_answers_the_spec_status_codes() {
    let origin = format!("{PREFIX}/releases");
    let log_signer = log_key().with_name(KeyName::new(&origin).expect("name"));
    let w = TestWitness::start("direct");
    let http = Http::new();
    let url = format!("{}/add-checkpoint", w.url());
    let mut tree = MemoryTree::new();
    for i in 0..8u32 {
        tree.append(format!("entry {i}").as_bytes());
    }
    let checkpoint = |tree: &MemoryTree, size: u64, signer: &Ed25519Signer, origin: &str| {
        let text = Checkpoint::new(origin, size, tree.root_at(size).expect("root"))
            .to_text()
            .expect("text");
        Note::sign(&text, &[signer]).expect("sign").to_bytes()
    };
    let body = |old: u64, proof: Vec<cairn_verifier::hash::Hash>, cp: Vec<u8>| {
        AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: cp,
        }
        .to_bytes()
    };

    // 200 for the first checkpoint, with a cosignature that verifies over its text.
    let cp3 = checkpoint(&tree, 3, &log_signer, &origin);
    let reply = http.must_post(&url, &body(0, vec![], cp3.clone()));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text3 = Note::parse(&cp3).expect("note").text().to_owned();
    let sigs = parse_cosignature_lines(&text3, &reply.body).expect("signature lines");
    let v = w.cosigner().verifier();
    let sig = sigs
        .iter()
        .find(|s| s.name == *v.name() && s.key_id == v.key_id())
        .expect("the witness's cosignature");
    v.verify_cosignature(text3.as_bytes(), &sig.signature)
        .expect("cosignature/v1 verifies");

    // 409 with the witness's size when the old size is wrong.
    let cp8 = checkpoint(&tree, 8, &log_signer, &origin);
    let reply = http.must_post(&url, &body(0, vec![], cp8.clone()));
    assert_eq!(reply.status, 409);
    assert_eq!(reply.header("content-type"), Some("text/x.tlog.size"));
    assert_eq!(reply.text(), "3\n");

    // 422: a proof from 3 to 8 that does not verify (the log rewrote entry 1).
    let mut forked = MemoryTree::new();
    for i in 0..8u32 {
        let data = if i == 1 {
            "rewritten".to_owned()
        } else {
            format!("entry {i}")
        };
        forked.append(data.as_bytes());
    }
    let fork8 = checkpoint(&forked, 8, &log_signer, &origin);
    let reply = http.must_post(
        &url,
        &body(3, forked.prove_consistency(3, 8).expect("proof"), fork8),
    );
    assert_http_refused(&reply, 422, "inconsistent checkpoint");
    // 422: another root for the size it cosigned (a fork; a 409 would read "retry from 3").
    let fork3 = checkpoint(&forked, 3, &log_signer, &origin);
    let reply = http.must_post(&url, &body(3, vec![], fork3));
    assert_http_refused(&reply, 422, "another root for the same size");
    // 422: a signed checkpoint of size 0 whose root is not the empty tree's.
    let empty_text = format!(
        "{origin}\n0\n{}\n",
        tree.root_at(3).expect("root").to_base64()
    );
    let empty = Note::sign(&empty_text, &[&log_signer])
        .expect("sign")
        .to_bytes();
    let reply = http.must_post(&url, &body(0, vec![], empty));
    assert_http_refused(&reply, 422, "size 0 with a root");
    // 403 before anything else about the lines: a bad signature by the trusted key, next to a
    // good one (the same key twice).
    let good8 = String::from_utf8(checkpoint(&tree, 8, &log_signer, &origin)).expect("utf8");
    let line = good8[good8.find('\u{2014}').expect("line")..].to_owned();
    let mut bad_line = line.clone();
    let at = bad_line.len() - 20;
    let flipped = if &bad_line[at..=at] == "A" { "B" } else { "A" };
    bad_line.replace_range(at..=at, flipped);
    let reply = http.must_post(
        &url,
        &body(
            3,
            tree.prove_consistency(3, 8).expect("proof"),
            good8
                .replacen(&line, &format!("{line}{bad_line}"), 1)
                .into_bytes(),
        ),
    );
    assert_http_refused(&reply, 403, "bad signature by the trusted key");
    // 403: signed by a key the witness does not trust for this origin.
    let impostor = Ed25519Signer::from_seed(KeyName::new(&origin).expect("name"), [42; 32]);
    let reply = http.must_post(
        &url,
        &body(
            3,
            tree.prove_consistency(3, 8).expect("proof"),
            checkpoint(&tree, 8, &impostor, &origin),
        ),
    );
    assert_http_refused(&reply, 403, "unknown key");
    // 404: a log the witness does not witness.
    let other = Ed25519Signer::from_seed(KeyName::new("other.example/log").expect("name"), [5; 32]);
    let reply = http.must_post(
        &url,
        &body(0, vec![], checkpoint(&tree, 3, &other, "other.example/log")),
    );
    assert_http_refused(&reply, 404, "unknown log");
    // 400: malformed, and an old size above the checkpoint's.
    assert_http_refused(&http.must_post(&url, b"old 01\n\nx\n"), 400, "malformed");
    let reply = http.must_post(&url, &body(9, vec![], cp8.clone()));
    assert_http_refused(&reply, 400, "old size above the checkpoint size");
    // 413: a declared body over the limit is refused before it is read (the server answers and
    // closes, so the body is never sent: a client still writing it would see a broken pipe).
    {
        use std::io::{Read as _, Write as _};
        let addr = w.url().trim_start_matches("http://").to_owned();
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            stream,
            "POST /add-checkpoint HTTP/1.1\r\nHost: witness\r\nContent-Length: {}\r\n\r\n",
            cairn_verifier::witness::MAX_ADD_CHECKPOINT_BODY + 1
        )
        .expect("write");
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.starts_with("HTTP/1.1 413"),
            "oversized body: {reply:?}"
        );
    }

    // After all those refusals the witness still holds size 3, and the honest growth works.
    let reply = http.must_post(
        &url,
        &body(3, tree.prove_consistency(3, 8).expect("proof"), cp8),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let latest = http
        .must_get(&format!("{}/latest/{origin}", w.url()))
        .expect_ok("latest");
    let latest = VerifiedCheckpoint::verify(&latest.body, &origin, &log_signer.verifier())
        .expect("latest verifies");
    assert_eq!(latest.size(), 8);
    assert!(v.cosignature_time(latest.note()).is_ok());
    let reply = http.must_get(&format!("{}/latest/other.example/log", w.url()));
    assert_eq!(reply.status, 404);
    // A genuine checkpoint replayed with a malformed proof (a hash where the proof between
    // equal sizes must be empty) is refused, but it proves nothing about the log.
    let replayed = http
        .must_get(&format!("{}/latest/{origin}", w.url()))
        .expect_ok("latest")
        .body;
    let junk = tree.root_at(3).expect("root");
    let reply = http.must_post(&url, &body(8, vec![junk], replayed));
    assert_http_refused(
        &reply,
        422,
        "malformed proof for the witness's own checkpoint",
    );
    // A second root for size 8, sent twice.
    let fork8_again = checkpoint(&forked, 8, &log_signer, &origin);
    for _ in 0..2 {
        let reply = http.must_post(&url, &body(8, vec![], fork8_again.clone()));
        assert_eq!(reply.status, 422);
    }
    // The monitoring path tlog-witness recommends: lowercase hex SHA-256 of the origin.
    let hex: String = cairn_verifier::hash::sha256(origin.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let by_hash = http
        .must_get(&format!("{}/{hex}/checkpoint", w.url()))
        .expect_ok("monitoring path");
    assert_eq!(
        by_hash.body,
        http.must_get(&format!("{}/latest/{origin}", w.url()))
            .expect_ok("latest")
            .body
    );
    let reply = http.must_get(&format!("{}/{}/checkpoint", w.url(), "0".repeat(64)));
    assert_eq!(reply.status, 404);
    // Kept for the operator: exactly the three fork proofs (the inconsistent 3 -> 8, the
    // second root for 3, the second root for 8 once), not the replay.
    let evidence = std::fs::read_dir(w.data().join("evidence"))
        .expect("evidence dir")
        .count();
    assert_eq!(evidence, 3, "evidence files kept");
}

#[test]
fn witness_killed_and_restarted_never_cosigns_inconsistent_checkpoints() {
    let origin = format!("{PREFIX}/releases");
    let log_signer = log_key().with_name(KeyName::new(&origin).expect("name"));
    let mut w = TestWitness::start("crashy");
    let http = Http::new();
    let mut honest = MemoryTree::new();
    let mut rng = cairn_tests::Rng::from_env_or_clock("witness-crash");
    let sign = |tree: &MemoryTree, size: u64| {
        let text = Checkpoint::new(origin.as_str(), size, tree.root_at(size).expect("root"))
            .to_text()
            .expect("text");
        Note::sign(&text, &[&log_signer]).expect("sign").to_bytes()
    };
    let mut cosigned_max = 0u64;
    for round in 0..4 {
        // Grow the honest log and submit checkpoints as fast as possible from a thread, while
        // the test kills the witness at a random moment.
        let start = honest.size();
        for i in 0..40 {
            honest.append(format!("round {round} entry {i}").as_bytes());
        }
        let url = format!("{}/add-checkpoint", w.url());
        let submitted: Vec<(u64, Vec<u8>)> = ((start + 1)..=honest.size())
            .map(|size| (size, sign(&honest, size)))
            .collect();
        let tree = honest.clone();
        let sender = std::thread::spawn(move || {
            let http = Http::new();
            let mut old = start;
            let mut ok = Vec::new();
            for (size, cp) in submitted {
                let proof = if old == 0 {
                    Vec::new()
                } else {
                    tree.prove_consistency(old, size).expect("proof")
                };
                let body = AddCheckpoint {
                    old_size: old,
                    proof,
                    checkpoint: cp,
                }
                .to_bytes();
                match http.post(&url, &body) {
                    Ok(reply) if reply.status == 200 => {
                        ok.push(size);
                        old = size;
                    }
                    Ok(reply) if reply.status == 409 => {
                        old = reply.text().trim().parse().expect("size");
                    }
                    _ => break, // killed
                }
            }
            ok
        });
        std::thread::sleep(Duration::from_millis(rng.range(5, 120)));
        w.kill();
        let ok = sender.join().expect("sender");
        eprintln!(
            "round {round}: {} of 40 checkpoints cosigned before SIGKILL",
            ok.len()
        );
        if let Some(&max) = ok.iter().max() {
            cosigned_max = cosigned_max.max(max);
        }
        w.restart();
        // Every checkpoint answered 200 was durable before the answer: the witness holds at
        // least the largest.
        let latest = http
            .must_get(&format!("{}/latest/{origin}", w.url()))
            .expect_ok("latest after restart");
        let latest = VerifiedCheckpoint::verify(&latest.body, &origin, &log_signer.verifier())
            .expect("stored checkpoint verifies");
        assert!(
            latest.size() >= cosigned_max,
            "round {round}: the witness answered 200 for size {cosigned_max} but holds {} after SIGKILL",
            latest.size()
        );
        assert_eq!(*latest.root(), honest.root_at(latest.size()).expect("root"));
        let held = latest.size();
        // A fork of anything it cosigned is refused, whatever old size is claimed.
        let mut forked = MemoryTree::new();
        for i in 0..held.max(1) {
            if i == 0 {
                forked.append(b"a different first entry");
            } else {
                forked.append(&[0u8; 1]);
            }
        }
        forked.append(b"one more");
        let fork_size = forked.size();
        for old in [0, held] {
            let proof = if old == 0 {
                Vec::new()
            } else {
                forked.prove_consistency(old, fork_size).expect("proof")
            };
            let body = AddCheckpoint {
                old_size: old,
                proof,
                checkpoint: sign(&forked, fork_size),
            }
            .to_bytes();
            let reply = http.must_post(&format!("{}/add-checkpoint", w.url()), &body);
            assert_ne!(
                reply.status, 200,
                "round {round}: cosigned a fork (old {old})"
            );
        }
        // The honest log continues from what the witness holds.
        let body = AddCheckpoint {
            old_size: held,
            proof: if held == 0 {
                Vec::new()
            } else {
                honest
                    .prove_consistency(held, honest.size())
                    .expect("proof")
            },
            checkpoint: sign(&honest, honest.size()),
        }
        .to_bytes();
        let reply = http.must_post(&format!("{}/add-checkpoint", w.url()), &body);
        assert_eq!(reply.status, 200, "round {round}: {}", reply.text());
        cosigned_max = honest.size();
    }
}

#[test]
fn log_relearns_the_witness_size_after_its_own_restart() {
    let w = TestWitness::start("steady");
    let mut serve = w.serve_args();
    serve.extend(["--witness-timeout".into(), "2s".into()]);
    let mut log = TestLog::start_with(&strs(&serve));
    log.publish("example/os", "1.0", b"one\n");
    // A restarted log starts from old size 0; the witness answers 409 with its size and the
    // log retries from there.
    log.stop();
    log.serve_with(&strs(&serve));
    let (artifact, _) = log.publish("example/os", "2.0", b"two\n");
    let proof =
        TlogProof::parse(&std::fs::read(proof_path(&artifact)).expect("proof")).expect("parse");
    assert_eq!(cosigned_by(&proof.checkpoint, &[&w]), vec!["steady"]);
}

#[test]
fn hook_runs_after_each_publication_and_failures_do_not_stop_the_log() {
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().display().to_string();
    let w = TestWitness::start("hooked");
    let hook = format!(
        "set -e; d={dir}; cp \"$CAIRN_CHECKPOINT_FILE\" $d/cp-$CAIRN_TREE_SIZE; \
         cp \"$CAIRN_UPDATE_LATEST_FILE\" $d/update-$CAIRN_TREE_SIZE; \
         printf %s \"$CAIRN_DNS_TXT\" > $d/dns-$CAIRN_TREE_SIZE; \
         printf %s \"$CAIRN_ORIGIN\" > $d/origin-$CAIRN_TREE_SIZE; touch $d/done-$CAIRN_TREE_SIZE"
    );
    let mut serve = w.serve_args();
    serve.extend(["--hook".into(), hook]);
    let mut log = TestLog::start_with(&strs(&serve));
    log.publish("example/os", "1.0", b"one\n");
    let file = |name: &str| -> Option<Vec<u8>> { std::fs::read(out.path().join(name)).ok() };
    poll_until(Duration::from_secs(30), "hook run for size 1", || {
        file("done-1")
    });
    let cp = file("cp-1").expect("checkpoint copied by the hook");
    // The hook saw the published, cosigned checkpoint and the channel values the server serves.
    assert_eq!(cp, log.get("/releases/checkpoint"));
    assert_eq!(cosigned_by(&cp, &[&w]), vec!["hooked"]);
    assert_eq!(
        file("update-1").expect("update"),
        log.get("/releases/update-latest.txt")
    );
    assert_eq!(
        text(&file("dns-1").expect("dns")),
        text(&log.get("/releases/dns-txt")).trim_end()
    );
    assert_eq!(
        text(&file("origin-1").expect("origin")),
        format!("{PREFIX}/releases")
    );
    log.publish("example/os", "2.0", b"two\n");
    poll_until(Duration::from_secs(30), "hook run for size 2", || {
        file("done-2")
    });

    // A failing hook is logged and counted; the log keeps acknowledging.
    log.stop();
    log.serve_with(&["--hook", "echo failing on purpose >&2; exit 3"]);
    log.publish("example/os", "3.0", b"three\n");
    log.publish("example/os", "4.0", b"four\n");
    let failures = poll_until(Duration::from_secs(30), "hook failure counted", || {
        let metrics = text(&log.get("/metrics"));
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("cairn_hook_failures_total "))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|&n| n >= 1)
    });
    assert!(failures >= 1);
    assert!(
        log.server
            .as_mut()
            .map(|s| !s.has_exited())
            .unwrap_or(false)
    );

    // A hook that hangs is killed after --hook-timeout, with everything it started, and counted
    // as a failure.
    log.stop();
    let hang = format!("(sleep 1; touch {dir}/survived) & wait");
    log.serve_with(&["--hook", &hang, "--hook-timeout", "200ms"]);
    log.publish("example/os", "5.0", b"five\n");
    poll_until(
        Duration::from_secs(30),
        "hanging hook killed and counted",
        || {
            let metrics = text(&log.get("/metrics"));
            metrics
                .lines()
                .find_map(|l| l.strip_prefix("cairn_hook_failures_total "))
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|&n| n >= 1)
        },
    );
    let stderr = log.server.as_ref().expect("server").stderr();
    assert!(stderr.contains("killed after"), "{stderr}");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        file("survived").is_none(),
        "a process the hook started outlived its timeout"
    );
}

/// The attack witnesses exist for: the log (its key, its data) shows a second history to some
/// clients. A copy of the data directory, served with the same key and the same witness, logs a
/// different release at the index the honest log used. The witness refuses to cosign the fork
/// (it keeps the request as evidence), so a client whose policy needs that witness refuses the
/// forked release, while the honest one verifies.
#[test]
fn witness_refuses_a_forked_log_and_quorum_clients_refuse_its_releases() {
    let w = TestWitness::start("judge");
    let mut serve = w.serve_args();
    serve.extend(["--witness-timeout".into(), "2s".into()]);
    let mut log = TestLog::start_with(&strs(&serve));
    log.stop();
    let fork_data = log.scratch().join("fork-data");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(log.data())
        .arg(&fork_data)
        .status()
        .expect("cp");
    assert!(status.success());
    log.serve_with(&strs(&serve));
    let (honest, index) = log.publish("example/os", "1.0", b"the honest image\n");

    let fork = Server::start(&fork_data, &strs(&serve)).unwrap_or_else(|f| panic!("{f}"));
    let evil_note = sign(
        &release_text(
            "example/os",
            "1.0-evil",
            &[("image.img", b"the backdoored image\n")],
        ),
        &[&log.release],
    );
    let http = Http::new();
    let reply = http.must_post(&fork.url("/releases/add"), &evil_note);
    assert_eq!(
        reply.status,
        200,
        "the fork still logs (it cannot know it is a fork): {}",
        reply.text()
    );
    let evil_proof = TlogProof::parse(&reply.body).expect("proof");
    assert_eq!(
        evil_proof.index, index,
        "same index, different entry: a split view"
    );
    assert!(
        cosigned_by(&evil_proof.checkpoint, &[&w]).is_empty(),
        "the witness cosigned a fork of a checkpoint it had cosigned:\n{}",
        text(&evil_proof.checkpoint)
    );
    let fork_stderr = poll_until(Duration::from_secs(30), "the fork logs the refusal", || {
        let s = fork.stderr();
        // tlog-witness: the same size with another root is a fork, 422 (not 409, which a
        // log would read as "retry from this size").
        s.contains("422").then_some(s)
    });
    assert!(fork_stderr.contains("judge"), "{fork_stderr}");
    let evidence = poll_until(Duration::from_secs(10), "the witness kept evidence", || {
        std::fs::read_dir(w.data().join("evidence"))
            .ok()
            .map(|d| d.count())
            .filter(|&n| n > 0)
    });
    assert!(evidence > 0);

    let evil = log.scratch().join("evil.img");
    std::fs::write(&evil, b"the backdoored image\n").expect("artifact");
    std::fs::write(proof_path(&evil), &reply.body).expect("proof");
    let client = Client::new();
    client.trust(&log.url(), &log, &strs(&w.trust_args()));
    assert_exit(&client.verify(&honest, &[]), 0, "honest release");
    let out = client.verify(&evil, &["--offline", "--json"]);
    assert_refused(&out, 3, "witness-quorum", "forked release, offline");
}

/// Idle, the log re-asks its witnesses (`--witness-refresh`), so the cosignature timestamps on
/// the published checkpoint move forward; each refresh is a commit the restarted log accepts.
#[test]
fn idle_log_refreshes_cosignatures() {
    let w = TestWitness::start("fresh");
    let mut serve = w.serve_args();
    serve.extend(["--witness-refresh".into(), "1s".into()]);
    let mut log = TestLog::start_with(&strs(&serve));
    let v = w.cosigner().verifier();
    let time = |log: &TestLog| {
        let cp = log.get("/keys/checkpoint");
        v.cosignature_time(&Note::parse(&cp).expect("note")).ok()
    };
    let first = poll_until(Duration::from_secs(30), "first cosignature", || time(&log));
    let later = poll_until(Duration::from_secs(30), "a refreshed cosignature", || {
        time(&log).filter(|&t| t > first)
    });
    assert!(later > first);
    log.stop();
    log.serve_with(&strs(&serve));
    assert!(time(&log).is_some_and(|t| t >= later));
}

/// A witness that accepts connections and never answers (the worst kind of down): every
/// submission is still acknowledged, within the bound of twice the witness timeout plus a
/// second, with a proof the log signed; the failures are counted; a working second witness
/// still cosigns.
#[test]
fn a_hanging_witness_never_blocks_acknowledgements() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hole_url = format!("http://{}", hole.local_addr().expect("addr"));
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let held = std::sync::Arc::clone(&held);
        std::thread::spawn(move || {
            for conn in hole.incoming().flatten() {
                held.lock().expect("held").push(conn);
            }
        });
    }
    let good = TestWitness::start("good");
    let hanging = TestWitness::start("hanging");
    let mut serve = good.serve_args();
    serve.extend([
        "--witness".into(),
        "hanging".into(),
        hanging.vkey(),
        hole_url,
        "--witness-timeout".into(),
        "300ms".into(),
    ]);
    let log = TestLog::start_with(&strs(&serve));
    for i in 0..3 {
        let started = std::time::Instant::now();
        let (artifact, _) = log.publish(
            "example/os",
            &format!("{i}.0"),
            format!("image {i}\n").as_bytes(),
        );
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "add took {took:?} with a hanging witness (bound: 2 x 300 ms + 1 s, plus the commit)"
        );
        let proof =
            TlogProof::parse(&std::fs::read(proof_path(&artifact)).expect("proof")).expect("parse");
        assert_eq!(
            cosigned_by(&proof.checkpoint, &[&good, &hanging]),
            vec!["good"]
        );
    }
    let metrics = text(&log.get("/metrics"));
    assert!(
        metrics.contains("cairn_witness_requests_total{witness=\"hanging\",result=\"failed\"}"),
        "{metrics}"
    );
    assert!(
        !held.lock().expect("held").is_empty(),
        "the log did try the hanging witness"
    );
}

/// A fake witness on loopback that reads each request whole and answers `reply` (status, body).
fn fake_witness(reply: impl Fn() -> (u16, Vec<u8>) + Send + Sync + 'static) -> String {
    use std::io::{BufRead as _, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let reply = std::sync::Arc::new(reply);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let reply = std::sync::Arc::clone(&reply);
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let (status, body) = reply();
                    let mut out = &stream;
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
                        body.len()
                    );
                    if out
                        .write_all(head.as_bytes())
                        .and_then(|()| out.write_all(&body))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// Adversarial witnesses (named after what they do): one answers a cosignature by its own key
/// over another checkpoint, one answers a megabyte. The log attaches neither, says why, and
/// keeps acknowledging with the honest witness's cosignature.
#[test]
fn forged_and_oversized_witness_replies_are_not_attached() {
    let honest = TestWitness::start("honest");
    let forger = TestWitness::start("forger");
    let flooder = TestWitness::start("flooder");
    let forger_key = forger.cosigner();
    let other = Checkpoint::new(
        format!("{PREFIX}/releases"),
        1,
        cairn_verifier::hash::leaf_hash(b"another tree"),
    )
    .to_text()
    .expect("text");
    let forged_line = forger_key
        .cosign_text(&other, now())
        .expect("cosign")
        .to_line()
        .into_bytes();
    let forged_url = fake_witness(move || (200, forged_line.clone()));
    let flood_url = fake_witness(|| (200, vec![b'A'; 1 << 20]));
    let mut serve = honest.serve_args();
    serve.extend([
        "--witness".into(),
        "forger".into(),
        forger.vkey(),
        forged_url,
        "--witness".into(),
        "flooder".into(),
        flooder.vkey(),
        flood_url,
        "--witness-timeout".into(),
        "2s".into(),
    ]);
    let log = TestLog::start_with(&strs(&serve));
    let (artifact, _) = log.publish("example/os", "1.0", b"one\n");
    let proof =
        TlogProof::parse(&std::fs::read(proof_path(&artifact)).expect("proof")).expect("parse");
    assert_eq!(
        cosigned_by(&proof.checkpoint, &[&honest, &forger, &flooder]),
        vec!["honest"]
    );
    let note = Note::parse(&proof.checkpoint).expect("note");
    assert_eq!(
        note.signatures().len(),
        2,
        "only the log's signature and the honest cosignature are attached:\n{}",
        text(&proof.checkpoint)
    );
    let stderr = log.server.as_ref().expect("server").stderr();
    assert!(stderr.contains("does not verify"), "{stderr}");
    assert!(stderr.contains("reply larger than"), "{stderr}");
}

/// A witness process with an Ed25519 and an ML-DSA-44 key (made by `cairn keygen`), witnessing
/// the test log. Returns the process, its two vkeys and the directory holding its files.
fn two_key_witness(label: &str) -> (Server, String, String, tempfile::TempDir) {
    let files = tempfile::tempdir().expect("tempdir");
    let name = format!("witness.example/{label}");
    let keygen = |alg: &str, file: &str| {
        let out = run_cairn(&[
            "keygen",
            "--name",
            &name,
            "--alg",
            alg,
            "--out",
            &files.path().join(file).display().to_string(),
        ]);
        assert_exit(&out, 0, "keygen");
        String::from_utf8(out.stdout)
            .expect("utf8")
            .trim_end()
            .to_owned()
    };
    let ed = keygen("ed25519", "ed.key");
    let pq = keygen("ml-dsa-44", "pq.key");
    assert_eq!(
        CosignatureVerifier::from_vkey(&pq)
            .expect("ML-DSA-44 vkey")
            .sig_type(),
        cairn_verifier::cosignature::SIG_TYPE_ML_DSA_44
    );
    let releases_vkey = log_key()
        .with_name(KeyName::new(&format!("{PREFIX}/releases")).expect("name"))
        .verifier()
        .to_vkey();
    let keys_vkey = keys_log_key().verifier().to_vkey();
    let key = |f: &str| files.path().join(f).display().to_string();
    let args: Vec<String> = vec![
        "witness".into(),
        "--key".into(),
        key("ed.key"),
        "--key".into(),
        key("pq.key"),
        "--data".into(),
        key("data"),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--witness-log".into(),
        format!("{PREFIX}/releases"),
        releases_vkey,
        "--witness-log".into(),
        format!("{PREFIX}/keys"),
        keys_vkey,
    ];
    let server = Server::spawn(&args).unwrap_or_else(|f| panic!("{f}"));
    // The witness prints both of its keys; a cosignature/v1 key wraps the Ed25519 key.
    let printed = run_cairn(&[
        "witness",
        "--key",
        &key("ed.key"),
        "--key",
        &key("pq.key"),
        "--print-vkey",
    ]);
    assert_exit(&printed, 0, "--print-vkey");
    let printed = String::from_utf8(printed.stdout).expect("utf8");
    assert!(printed.lines().any(|l| l == pq), "{printed}");
    let ed_cosig = CosignatureSigner::from_skey(
        std::fs::read_to_string(files.path().join("ed.key"))
            .expect("key")
            .trim_end(),
    )
    .expect("skey")
    .verifier()
    .to_vkey();
    assert!(printed.lines().any(|l| l == ed_cosig), "{printed}");
    assert_ne!(
        ed, ed_cosig,
        "the note key is type 0x01, the cosigner type 0x04"
    );
    (server, ed_cosig, pq, files)
}

/// An ML-DSA-44 cosignature made by `cairn witness` verifies in `cairn verify` under a 1-of-1
/// policy on that witness; a log that knows only the witness's Ed25519 key keeps that
/// cosignature when the reply also carries the ML-DSA-44 line; a proof carrying unknown lines
/// (an ML-DSA-44 line, a repeated line, a long name) is accepted as Go's note.Open accepts it.
#[test]
fn ml_dsa_44_cosignatures_from_the_witness_verify_in_clients() {
    let (pq_witness, _, pq_vkey, _pq_files) = two_key_witness("pq");
    let (ed_witness, ed_vkey, _, _ed_files) = two_key_witness("ed");
    let mut sizes = Vec::new();
    for (label, witness, vkey) in [
        ("ml-dsa-44", &pq_witness, &pq_vkey),
        ("ed25519", &ed_witness, &ed_vkey),
    ] {
        let log = TestLog::start_with(&["--witness", "w", vkey, &witness.base_url()]);
        let (artifact, index) = log.publish("example/os", "1.0", b"the 1.0 image\n");
        let proof_file = proof_path(&artifact);
        // subtree/v1 cannot cover the empty tree, so an ML-DSA-44 witness answers the log's
        // size-0 request with no usable line and the log does not wait for it at the first
        // append: the cosigned checkpoint comes a moment later. Take the proof once it has it.
        let verifier = CosignatureVerifier::from_vkey(vkey).expect("vkey");
        let proof_bytes = poll_until(Duration::from_secs(30), "a cosigned proof", || {
            let bytes = log.get(&format!("/releases/proof/{index}"));
            let proof = TlogProof::parse(&bytes).ok()?;
            let note = Note::parse(&proof.checkpoint).ok()?;
            verifier.cosignature_time(&note).ok().map(|_| bytes)
        });
        std::fs::write(&proof_file, &proof_bytes).expect("write the cosigned proof");
        let proof = TlogProof::parse(&proof_bytes).expect("parse proof");
        let note = Note::parse(&proof.checkpoint).expect("note");
        let verifier = CosignatureVerifier::from_vkey(vkey).expect("vkey");
        let t = verifier.cosignature_time(&note).unwrap_or_else(|e| {
            panic!(
                "{label}: {e}\n{}\nlog stderr:\n{}\nwitness stderr:\n{}",
                text(&proof.checkpoint),
                log.server.as_ref().map(|s| s.stderr()).unwrap_or_default(),
                witness.stderr()
            )
        });
        assert!(now() - t < 120, "{label}: timestamp {t}");
        // Only the cosignature the log knows is attached (log signature + one line).
        assert_eq!(
            note.signatures().len(),
            2,
            "{label}: {}",
            text(&proof.checkpoint)
        );
        sizes.push((label, proof_bytes.len()));

        let client = Client::new();
        client.trust(&log.url(), &log, &["--witness", "w", vkey]);
        // Online once (the key log is synced and stored), then offline from the proof alone.
        assert_exit(&client.verify(&artifact, &[]), 0, label);
        assert_exit(&client.verify(&artifact, &["--offline"]), 0, label);

        // What another implementation may add to the checkpoint: unknown lines.
        let mut tampered = proof.clone();
        let mut cp = String::from_utf8(tampered.checkpoint.clone()).expect("utf8");
        cp.push_str(&format!(
            "\u{2014} other-witness.example/pq {}\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [6u8; 2432])
        ));
        cp.push_str(&"\u{2014} other.example/k AQIDBAUG\n".repeat(2));
        cp.push_str(&format!("\u{2014} {} AQIDBAU=\n", "long".repeat(300)));
        tampered.checkpoint = cp.into_bytes();
        std::fs::write(&proof_file, tampered.to_bytes()).expect("write proof");
        assert_exit(
            &client.verify(&artifact, &["--offline"]),
            0,
            &format!("{label}: proof with unknown lines"),
        );
    }
    eprintln!("tlog-proof sizes with one cosignature: {sizes:?}");
    assert!(sizes[0].1 > sizes[1].1 + 3000, "{sizes:?}");
}

/// The witness takes several keys per origin, key names other than the origin, and re-reads
/// its --config file on SIGHUP without forgetting what it cosigned.
#[test]
fn witness_reloads_its_configuration_on_sighup() {
    let files = tempfile::tempdir().expect("tempdir");
    let wkey = Ed25519Signer::from_seed(KeyName::new("witness.example/r").expect("n"), [3; 32]);
    let key_path = files.path().join("w.key");
    std::fs::write(&key_path, format!("{}\n", wkey.to_skey())).expect("key");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // A sum.golang.org-style log: origin with spaces, keys not named after it.
    let origin = "go.sum database tree";
    let old_key = Ed25519Signer::from_seed(KeyName::new("sum.example").expect("n"), [4; 32]);
    let new_key = Ed25519Signer::from_seed(KeyName::new("sum.example/2026").expect("n"), [5; 32]);
    let other = Ed25519Signer::from_seed(KeyName::new("a.example").expect("n"), [6; 32]);
    let config = files.path().join("witness.conf");
    std::fs::write(
        &config,
        format!("# logs\nlog {} example.org/a\n", other.verifier().to_vkey()),
    )
    .expect("config");
    let args: Vec<String> = vec![
        "witness".into(),
        "--key".into(),
        key_path.display().to_string(),
        "--data".into(),
        files.path().join("data").display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--config".into(),
        config.display().to_string(),
    ];
    let server = Server::spawn(&args).unwrap_or_else(|f| panic!("{f}"));
    let http = Http::new();
    let url = format!("{}/add-checkpoint", server.base_url());
    let mut tree = MemoryTree::new();
    for i in 0..6u32 {
        tree.append(format!("entry {i}").as_bytes());
    }
    let request = |origin: &str, old: u64, size: u64, signer: &Ed25519Signer| {
        let text = Checkpoint::new(origin, size, tree.root_at(size).expect("root"))
            .to_text()
            .expect("text");
        AddCheckpoint {
            old_size: old,
            proof: if old == 0 {
                Vec::new()
            } else {
                tree.prove_consistency(old, size).expect("proof")
            },
            checkpoint: Note::sign(&text, &[signer]).expect("sign").to_bytes(),
        }
        .to_bytes()
    };
    let reply = http.must_post(&url, &request("example.org/a", 0, 2, &other));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = http.must_post(&url, &request(origin, 0, 3, &old_key));
    assert_eq!(reply.status, 404, "not configured yet");

    // Add the sum-style log with two keys, and reload.
    std::fs::write(
        &config,
        format!(
            "log {} example.org/a\nlog {} {origin}\nlog {} {origin}\n",
            other.verifier().to_vkey(),
            old_key.verifier().to_vkey(),
            new_key.verifier().to_vkey()
        ),
    )
    .expect("config");
    server.sighup();
    poll_until(
        Duration::from_secs(10),
        "the reloaded configuration",
        || {
            (http
                .must_post(&url, &request(origin, 0, 3, &old_key))
                .status
                == 200)
                .then_some(())
        },
    );
    // Either key is accepted; the witness kept its state for both logs.
    let reply = http.must_post(&url, &request(origin, 3, 5, &new_key));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = http.must_post(&url, &request("example.org/a", 0, 4, &other));
    assert_eq!(reply.status, 409, "the reload kept example.org/a at size 2");
    assert_eq!(reply.text(), "2\n");

    // A broken configuration is refused and the running one stays.
    std::fs::write(&config, "log nonsense\n").expect("config");
    server.sighup();
    poll_until(Duration::from_secs(10), "the refused reload", || {
        server
            .stderr()
            .contains("configuration not reloaded")
            .then_some(())
    });
    let reply = http.must_post(&url, &request(origin, 5, 6, &old_key));
    assert_eq!(reply.status, 200, "{}", reply.text());
}
