//! End-to-end tests of `cairn monitor` against real `cairn serve` processes on loopback: key
//! events, watched keys and deprecations are alerted once each and the monitor resumes from its
//! state; an equivocation planted in the log's git storage is found; a log that shows one
//! history to the monitor and another to a mirror yields `inconsistent-checkpoint` with
//! evidence that the verifier confirms.
//!
//! Build the binary first: `cargo build -p cairn-cli`.

mod client_support;

use std::process::Output;

use cairn_tests::http::Http;
use cairn_tests::process::Server;
use cairn_verifier::checkpoint::{Checkpoint, VerifiedCheckpoint, verify_consistent};
use cairn_verifier::hash::Hash;
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::{KeyName, Note};
use cairn_verifier::tile::{EntryBundle, TILE_HEIGHT, Tile, encode_entry_bundle};
use client_support::*;
use serde_json::Value;

/// `cairn monitor --once --state STATE args...`.
fn monitor(client: &Client, args: &[&str]) -> Output {
    let mut all = vec!["--once"];
    all.extend_from_slice(args);
    client.cairn(&["monitor"], &all)
}

/// The alerts printed on stdout.
fn alerts(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn of_kind<'a>(alerts: &'a [Value], kind: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["alert"] == kind).collect()
}

#[test]
fn key_events_watched_key_and_deprecation_are_alerted_once_and_the_monitor_resumes() {
    let log = TestLog::start();
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let watched = log.release.verifier().to_vkey();

    // First round: the genesis root event and the release key's addition.
    let out = monitor(&client, &["--watch-key", &watched]);
    assert_exit(&out, 3, "first round alerts on the key events");
    let a = alerts(&out);
    let events = of_kind(&a, "key-event");
    assert_eq!(events.len(), 2, "{a:?}");
    assert_eq!(events[0]["event"], "root");
    assert_eq!(events[1]["event"], "add");
    assert_eq!(events[1]["key"], watched.as_str());
    assert_eq!(a.len(), 2, "nothing else: {a:?}");
    assert!(
        text(&out.stderr).contains("ALERT key-event"),
        "{}",
        text(&out.stderr)
    );

    // Nothing new: no alert, exit 0, and nothing verified before is fetched again (the state
    // holds the key log and the release log's right edge).
    let fetched = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = std::sync::Arc::clone(&fetched);
    let counting = TinyHttp::start(mitm_paths(log.url(), move |path, body| {
        seen.lock().expect("lock").push(path.to_owned());
        body
    }));
    let url = counting.url();
    let out = monitor(&client, &["--watch-key", &watched, "--log", &url]);
    assert_exit(&out, 0, "quiet round");
    assert!(alerts(&out).is_empty());
    let paths = fetched.lock().expect("lock").clone();
    assert!(
        paths.iter().all(|p| p.ends_with("/checkpoint")),
        "a round with nothing new fetches only the checkpoints: {paths:?}"
    );

    // A release and a deprecation signed by the watched key; another key's release.
    log.publish("example/os", "1.0", b"one\n");
    let other = key("rel2");
    let add = sign(&add_key_event(&other, "example/*", 0), &[&log.root]);
    log.post("keys", &add).expect("add rel2");
    let release2 = sign(
        &release_text("example/os", "2.0", &[("image.img", b"two\n")]),
        &[&other],
    );
    log.post("releases", &release2).expect("release by rel2");
    let dep = sign(&deprecation_text("example/os", "1.0"), &[&log.release]);
    log.post("releases", &dep).expect("deprecation");

    let out = monitor(&client, &["--watch-key", &watched]);
    assert_exit(&out, 3, "second round");
    let a = alerts(&out);
    let used = of_kind(&a, "watched-key-used");
    let indexes: Vec<u64> = used
        .iter()
        .map(|u| u["index"].as_u64().expect("index"))
        .collect();
    assert_eq!(
        indexes,
        vec![0, 2],
        "the release and the deprecation: {a:?}"
    );
    assert_eq!(used[0]["key"], watched.as_str());
    let events = of_kind(&a, "key-event");
    assert_eq!(events.len(), 1, "only the new add: {a:?}");
    assert_eq!(events[0]["index"], 2);
    let deps = of_kind(&a, "deprecation");
    assert_eq!(deps.len(), 1, "{a:?}");
    assert_eq!(deps[0]["version"], "1.0");
    assert!(of_kind(&a, "invalid-entry").is_empty(), "{a:?}");

    // A revocation is a key event, and it invalidates the release it covers.
    let revoke = sign(&revoke_key_event(&other, 0), &[&log.root]);
    log.post("keys", &revoke).expect("revoke");
    let out = monitor(&client, &[]);
    assert_exit(&out, 3, "revocation");
    let a = alerts(&out);
    assert_eq!(of_kind(&a, "key-event").len(), 1, "{a:?}");
    assert_eq!(of_kind(&a, "key-event")[0]["event"], "revoke");

    // The state resumes: a fresh monitor (no state) sees every entry again.
    let fresh = Client::new();
    fresh.trust(&log.url(), &log, &[]);
    let out = monitor(&fresh, &[]);
    assert_exit(&out, 3, "fresh monitor");
    let a = alerts(&out);
    assert_eq!(of_kind(&a, "key-event").len(), 4, "{a:?}");
    let invalid = of_kind(&a, "invalid-entry");
    assert_eq!(invalid.len(), 1, "{a:?}");
    assert_eq!(invalid[0]["index"], 1);
    assert_eq!(invalid[0]["cause"], "invalidated-by-key-event");
}

#[test]
fn equivocation_planted_in_the_log_storage_is_alerted() {
    let mut log = TestLog::start();
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    log.publish("example/os", "1.0", b"the real 1.0\n");
    log.publish("example/os", "1.1", b"1.1\n");
    assert_exit(&monitor(&client, &[]), 3, "key events of the first round");
    // The server refuses a second 1.0 (409); a compromised operator writes it into storage.
    let evil = sign(
        &release_text("example/os", "1.0", &[("image.img", b"a backdoored 1.0\n")]),
        &[&log.release],
    );
    let (status, _) = log
        .post("releases", &evil)
        .expect_err("the server refuses it");
    assert_eq!(status, 409);
    log.stop();
    plant(&log, &evil, &[]);
    let data = log.data();
    log.serve(&data);
    let url = log.url();
    let out = monitor(&client, &["--log", &url]);
    assert_exit(&out, 3, "equivocation");
    let a = alerts(&out);
    let eq = of_kind(&a, "equivocation");
    assert_eq!(eq.len(), 1, "{a:?}");
    assert_eq!(eq[0]["index"], 2);
    assert_eq!(eq[0]["first_index"], 0);
    assert_eq!(eq[0]["release"], "example/os 1.0");
    assert!(of_kind(&a, "inconsistent-checkpoint").is_empty(), "{a:?}");
}

/// Parses an evidence file and checks what it claims with the verifier alone: both notes are
/// signed by the log key, and `verify_consistent` refuses them with the recorded proof.
fn confirm_evidence(path: &std::path::Path) {
    let body = std::fs::read(path).expect("evidence");
    let mut rest: &[u8] = &body;
    fn line(rest: &mut &[u8]) -> String {
        let end = rest.iter().position(|&b| b == b'\n').expect("line");
        let l = String::from_utf8(rest[..end].to_vec()).expect("utf8");
        *rest = &rest[end + 1..];
        l
    }
    let line = |r: &mut &[u8]| line(r);
    assert_eq!(line(&mut rest), "cairn/inconsistency-evidence/v1");
    let origin = line(&mut rest)
        .strip_prefix("origin ")
        .expect("origin")
        .to_owned();
    let _reason = line(&mut rest);
    let key = if origin.ends_with("/keys") {
        keys_log_key().verifier()
    } else {
        log_key()
            .with_name(KeyName::new(&origin).expect("n"))
            .verifier()
    };
    let mut cps = Vec::new();
    for label in ["older", "newer"] {
        let l = line(&mut rest);
        let mut parts = l.split(' ');
        assert_eq!(parts.next(), Some(label));
        let _size = parts.next();
        let len: usize = parts.next().expect("len").parse().expect("len");
        let (note, tail) = rest.split_at(len);
        rest = tail;
        cps.push(
            VerifiedCheckpoint::verify_without_extensions(note, &origin, &key)
                .expect("the evidence's checkpoint is signed by the log"),
        );
    }
    let n: usize = line(&mut rest)
        .strip_prefix("proof ")
        .expect("proof")
        .parse()
        .expect("n");
    let proof: Vec<Hash> = (0..n)
        .map(|_| Hash::from_base64(&line(&mut rest)).expect("hash"))
        .collect();
    match verify_consistent(&cps[0], &cps[1], &proof) {
        Err(e) if e.inconsistency().is_some() => {}
        other => panic!("the verifier does not confirm the evidence: {other:?}"),
    }
}

#[test]
fn a_log_showing_the_monitor_and_a_mirror_different_histories_is_inconsistent() {
    let mut log = TestLog::start();
    log.publish("example/os", "1.0", b"one\n");
    let fork = log.files.path().join("fork-data");
    log.copy_data(&fork);
    // Same key, same history so far; now each side logs a different release.
    log.publish("example/os", "1.1", b"for the monitor\n");
    let fork_server = Server::start(&fork, &[]).unwrap_or_else(|f| panic!("{f}"));
    let forked = sign(
        &release_text(
            "example/os",
            "1.1",
            &[("image.img", b"for the mirror's users\n")],
        ),
        &[&log.release],
    );
    Http::new()
        .must_post(&format!("{}/releases/add", fork_server.base_url()), &forked)
        .expect_ok("logging the fork's release");

    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let out = monitor(&client, &["--mirror", &fork_server.base_url()]);
    assert_exit(&out, 4, "inconsistent checkpoint");
    let a = alerts(&out);
    let inc = of_kind(&a, "inconsistent-checkpoint");
    assert_eq!(inc.len(), 1, "{a:?}");
    assert_eq!(inc[0]["origin"], format!("{PREFIX}/releases"));
    let evidence = inc[0]["evidence"].as_str().expect("evidence path");
    confirm_evidence(std::path::Path::new(evidence));

    // A mirror that agrees raises nothing of the kind.
    let out = monitor(&client, &["--mirror", &log.url()]);
    assert_exit(&out, 0, "consistent mirror, nothing new");
}

/// A loopback HTTP server that records the body of every POST (the webhook's receiver).
fn webhook_receiver() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    (url, rx)
}

#[test]
fn stale_log_lost_quorum_and_the_webhook() {
    let log = TestLog::start();
    // No witnesses: stale means no new checkpoint of either log within --max-age.
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let (hook, received) = webhook_receiver();
    let out = monitor(&client, &["--max-age", "1s", "--webhook", &hook]);
    assert_exit(&out, 3, "key events");
    assert!(of_kind(&alerts(&out), "stale").is_empty());
    let posted: Vec<Value> = (0..2)
        .map(|_| {
            let body = received
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("the webhook received the alert");
            serde_json::from_str(&body).expect("JSON body")
        })
        .collect();
    assert_eq!(
        posted,
        alerts(&out),
        "the webhook gets the same JSON objects"
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = monitor(&client, &["--max-age", "1s"]);
    assert_exit(&out, 3, "stale");
    let a = alerts(&out);
    assert_eq!(of_kind(&a, "stale").len(), 1, "{a:?}");
    assert_eq!(a.len(), 1, "{a:?}");
    log.publish("example/os", "1.0", b"one\n");
    assert_exit(
        &monitor(&client, &["--max-age", "1s"]),
        0,
        "a new checkpoint",
    );

    // A policy with a witness: the log's checkpoints carry no cosignature.
    let w1 = witness("w1").verifier().to_vkey();
    let witnessed = Client::new();
    let wargs = ["--witness", "w1", &w1, "--quorum", "1", "--max-age", "1h"];
    witnessed.trust(&log.url(), &log, &wargs);
    let out = monitor(&witnessed, &[]);
    assert_exit(&out, 3, "quorum lost");
    let a = alerts(&out);
    assert_eq!(of_kind(&a, "quorum-lost").len(), 2, "both logs: {a:?}");
    assert_eq!(
        of_kind(&a, "stale").len(),
        1,
        "no cosignature at all: {a:?}"
    );

    // Behind a man in the middle that cosigns: fresh cosignatures clear both alerts, old ones
    // (two hours, max age one hour) are stale.
    for (age, stale) in [(0, 0), (7200, 1)] {
        let at = now() - age;
        let cosigning = TinyHttp::start(mitm(log.url(), move |_, cp| {
            cosign(&cp, &[(&witness("w1"), at)])
        }));
        let url = cosigning.url();
        let out = monitor(&witnessed, &["--log", &url]);
        let a = alerts(&out);
        assert!(of_kind(&a, "quorum-lost").is_empty(), "{a:?}");
        assert_eq!(of_kind(&a, "stale").len(), stale, "{a:?}");
        assert_exit(&out, if stale == 0 { 0 } else { 3 }, "cosigned");
    }
}

/// The tlog-tiles files of a tree of `entries` (fewer than 256): checkpoint signed by the log
/// key for `origin`, the partial level-0 tile and the partial entry bundle, by path.
fn small_log_files(origin: &str, entries: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    let mut tree = MemoryTree::new();
    for e in entries {
        tree.append(e);
    }
    let width = u16::try_from(entries.len()).expect("small");
    let tile = Tile::new(TILE_HEIGHT, 0, 0, width).expect("tile");
    let bundle = EntryBundle::new(TILE_HEIGHT, 0, width).expect("bundle");
    let tile_data: Vec<u8> = entries
        .iter()
        .flat_map(|e| cairn_verifier::hash::leaf_hash(e).0)
        .collect();
    let signer = if origin.ends_with("/keys") {
        keys_log_key()
    } else {
        log_key().with_name(KeyName::new(origin).expect("n"))
    };
    let text = Checkpoint::new(origin, entries.len() as u64, tree.root())
        .to_text()
        .expect("checkpoint");
    vec![
        (
            "checkpoint".to_owned(),
            Note::sign(&text, &[&signer]).expect("sign").to_bytes(),
        ),
        (tile.path(), tile_data),
        (bundle.path(), encode_entry_bundle(entries).expect("bundle")),
    ]
}

#[test]
fn a_key_event_the_log_should_have_refused_is_an_invalid_entry() {
    let log = TestLog::start();
    // A compromised log serves a key log whose third event is signed by a release key, not by
    // the root threshold: it signs the checkpoint and serves matching tiles.
    let genesis = cairn_tests::fixtures::genesis(&[&log.root], 1, &[&log.root]);
    let add = sign(&add_key_event(&log.release, "example/*", 0), &[&log.root]);
    let rogue = sign(&add_key_event(&key("rogue"), "*", 0), &[&log.release]);
    let files = small_log_files(&format!("{PREFIX}/keys"), &[genesis, add, rogue]);
    let upstream = log.url();
    let served = TinyHttp::start(move |path: &str| {
        for (p, data) in &files {
            if path == format!("/keys/{p}") {
                return Answer::Full(200, data.clone());
            }
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        match agent.get(&format!("{upstream}{path}")).call() {
            Ok(mut r) => Answer::Full(
                r.status().as_u16(),
                r.body_mut().read_to_vec().unwrap_or_default(),
            ),
            Err(_) => Answer::Full(502, Vec::new()),
        }
    });
    let client = Client::new();
    client.trust(&served.url(), &log, &[]);
    let out = monitor(&client, &[]);
    assert_exit(&out, 3, "invalid key event");
    let a = alerts(&out);
    let invalid = of_kind(&a, "invalid-entry");
    assert_eq!(invalid.len(), 1, "{a:?}");
    assert_eq!(invalid[0]["origin"], format!("{PREFIX}/keys"));
    assert_eq!(invalid[0]["cause"], "log-should-have-refused");
    assert!(
        invalid[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("entry 2") || r.contains("index 2")),
        "the reason names the entry: {a:?}"
    );
    // The key log is not trusted past the bad event: no state was saved.
    assert!(
        !client.state().join("monitor/logs").exists()
            || std::fs::read_dir(client.state().join("monitor/logs"))
                .expect("dir")
                .all(|d| !d.expect("entry").path().join("audit.json").exists()),
        "nothing saved"
    );
}

#[test]
fn a_second_monitor_on_the_same_state_is_refused() {
    let log = TestLog::start();
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let state = client.state().display().to_string();
    let spawn_first = || {
        std::process::Command::new(cairn_bin())
            .args(["monitor", "--state", &state, "--interval", "1h"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn cairn monitor")
    };
    let mut running = spawn_first();
    let lock = client.state().join("monitor/lock");
    let refused = cairn_tests::poll_until(
        std::time::Duration::from_secs(30),
        "the second monitor is refused",
        || {
            // A probe that ran while the long-running one was starting may have held the
            // lock at that moment and made *it* the refused one: start it again.
            if running
                .try_wait()
                .expect("poll the first monitor")
                .is_some()
            {
                running = spawn_first();
            }
            let out = monitor(&client, &[]);
            (lock.exists() && code(&out) == 2).then_some(out)
        },
    );
    assert!(
        text(&refused.stderr).contains("another cairn monitor is running"),
        "{}",
        text(&refused.stderr)
    );
    let _ = running.kill();
    let _ = running.wait();
    // Whether the first one finished its round (alerts consumed: 0) or not (3), the lock is free.
    let out = monitor(&client, &[]);
    assert!(
        matches!(code(&out), 0 | 3),
        "runs once the first one is gone: {}",
        text(&out.stderr)
    );
}

#[test]
fn tampered_entries_stop_the_round_without_alerts_and_without_saving() {
    let log = TestLog::start();
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    assert_exit(&monitor(&client, &[]), 3, "key events");
    log.publish("example/os", "1.0", b"one\n");
    let watched = log.release.verifier().to_vkey();
    // A byte of the new release flipped in transit: its signature no longer verifies, and the
    // entries no longer hash to the checkpoint's root.
    let evil = TinyHttp::start(mitm_paths(log.url(), |path, mut body| {
        if path.starts_with("/releases/tile/entries/") && body.len() > 40 {
            body[40] ^= 1;
        }
        body
    }));
    let url = evil.url();
    let out = monitor(&client, &["--log", &url, "--watch-key", &watched]);
    assert_exit(&out, 3, "tampered entry bundle");
    assert!(
        alerts(&out).is_empty(),
        "no alert about entries that are not the log's: {}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("root"), "{}", text(&out.stderr));
    // The state did not move: the honest log's entry is audited next.
    let out = monitor(&client, &["--watch-key", &watched]);
    assert_exit(&out, 3, "honest round");
    let a = alerts(&out);
    assert_eq!(of_kind(&a, "watched-key-used").len(), 1, "{a:?}");
    assert!(of_kind(&a, "invalid-entry").is_empty(), "{a:?}");
}

#[test]
fn a_watch_key_added_later_looks_back_over_the_history() {
    let log = TestLog::start();
    log.publish("example/os", "1.0", b"one\n");
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let out = monitor(&client, &[]);
    assert_exit(&out, 3, "first round: key events only");
    assert!(of_kind(&alerts(&out), "watched-key-used").is_empty());

    // The maintainer starts watching the release key: its earlier release is reported.
    let watched = log.release.verifier().to_vkey();
    let out = monitor(&client, &["--watch-key", &watched]);
    assert_exit(&out, 3, "the new watched key is looked for in the history");
    let a = alerts(&out);
    let used = of_kind(&a, "watched-key-used");
    assert_eq!(used.len(), 1, "{a:?}");
    assert_eq!(used[0]["index"], 0);
    assert_eq!(used[0]["key"], watched.as_str());
    assert_eq!(a.len(), 1, "nothing else: {a:?}");

    // Once looked back over, the history is not reported again.
    let out = monitor(&client, &["--watch-key", &watched]);
    assert_exit(&out, 0, "nothing new");
    assert!(alerts(&out).is_empty());
}

#[test]
fn a_dead_mirror_is_an_alert() {
    let log = TestLog::start();
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    assert_exit(&monitor(&client, &[]), 3, "first round: key events");
    // Nothing listens on the mirror's port.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let out = monitor(&client, &["--mirror", &url]);
    assert_exit(&out, 3, "a mirror that cannot be read");
    let a = alerts(&out);
    let failed = of_kind(&a, "mirror-check-failed");
    assert_eq!(failed.len(), 1, "{a:?}");
    assert_eq!(failed[0]["mirror"], url.as_str());
}
