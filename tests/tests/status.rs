//! `cairn status --json` end to end: a client of a witnessed log (two witnesses, quorum 2,
//! max age 3 s) after a verify, a key rotation, a revocation and an outage of one witness.
//! The witnesses are played by a man-in-the-middle that cosigns every checkpoint the log
//! serves, as in tests/tests/clients.rs; the outage switches one of them off.

mod client_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cairn_tests::fixtures::retire_key_event;
use client_support::*;
use serde_json::Value;

fn status(client: &Client) -> Value {
    let out = client.cairn(&["status"], &["--json"]);
    assert_exit(&out, 0, "status --json");
    serde_json::from_slice(&out.stdout).expect("status --json prints one JSON object")
}

/// The `status` of the release key named `name`.
fn key_status(s: &Value, name: &str) -> String {
    s["release_keys"]
        .as_array()
        .expect("release_keys")
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no release key {name} in {s}"))["status"]
        .as_str()
        .expect("status")
        .to_owned()
}

#[test]
fn status_after_rotation_revocation_and_witness_outage() {
    let log = TestLog::start();
    let (artifact, index) = log.publish("example/os", "1.0", b"status\n");
    assert_eq!(index, 0);

    // Witnesses w1 and w2 cosign whatever the log serves, at the time they are asked, unless
    // w2 is down.
    let w2_up = Arc::new(AtomicBool::new(true));
    let up = Arc::clone(&w2_up);
    let mitm_server = TinyHttp::start(mitm(log.url(), move |_, cp| {
        let (w1, w2) = (witness("w1"), witness("w2"));
        let mut signers = vec![(&w1, now())];
        if up.load(Ordering::SeqCst) {
            signers.push((&w2, now()));
        }
        cosign(&cp, &signers)
    }));
    let client = Client::new();
    let (w1, w2) = (
        witness("w1").verifier().to_vkey(),
        witness("w2").verifier().to_vkey(),
    );
    client.trust(
        &mitm_server.url(),
        &log,
        &[
            "--witness",
            "w1",
            &w1,
            "--witness",
            "w2",
            &w2,
            "--quorum",
            "2",
            "--max-age",
            "3s",
        ],
    );

    // Nothing verified yet: the log and the policy, no checkpoints.
    let s = status(&client);
    assert_eq!(s["log"], mitm_server.url());
    assert!(s["releases"].is_null() && s["keys"].is_null(), "{s}");
    assert!(s["last_result"].is_null());

    // 1. A verified release: both checkpoints stored, cosigned by both, fresh.
    rewrite_proof_checkpoint(&proof_path(&artifact), |cp| {
        cosign(cp, &[(&witness("w1"), now()), (&witness("w2"), now())])
    });
    assert_exit(&client.verify(&artifact, &[]), 0, "verify");
    let s = status(&client);
    assert_eq!(s["releases"]["size"], 1, "{s}");
    assert_eq!(s["keys"]["size"], 2, "genesis and the release key: {s}");
    for log_name in ["releases", "keys"] {
        let w = &s[log_name]["witnesses"];
        assert_eq!(w["quorum_met"], true, "{log_name}: {s}");
        assert_eq!(w["fresh_quorum_met"], true, "{log_name}: {s}");
        assert_eq!(w["cosigned"].as_array().map(Vec::len), Some(2), "{s}");
    }
    let rel1 = log.release.verifier();
    let rel1_name = cairn_verifier::note::NoteVerifier::name(&rel1)
        .as_str()
        .to_owned();
    assert_eq!(key_status(&s, &rel1_name), "valid");
    assert_eq!(s["roots"]["threshold"], 1);
    assert_eq!(s["last_result"]["verdict"], "ok", "{s}");
    assert_eq!(s["last_result"]["name"], "example/os");
    assert_eq!(s["last_result"]["index"], 0);

    // 2. Rotation: rel2 added from index 1, rel1 retired at 1.
    let rel2 = key("rel2");
    let rel2_name = cairn_verifier::note::NoteVerifier::name(&rel2.verifier())
        .as_str()
        .to_owned();
    log.post(
        "keys",
        &sign(&add_key_event(&rel2, "example/*", 1), &[&log.root]),
    )
    .expect("add rel2");
    log.post(
        "keys",
        &sign(&retire_key_event(&log.release, 1), &[&log.root]),
    )
    .expect("retire rel1");
    assert_exit(
        &client.cairn(&["keylog", "sync"], &[]),
        0,
        "sync after rotation",
    );
    let s = status(&client);
    assert_eq!(s["keys"]["size"], 4, "{s}");
    assert_eq!(key_status(&s, &rel1_name), "retired", "{s}");
    assert_eq!(key_status(&s, &rel2_name), "valid", "{s}");

    // 3. Revocation of rel2 (compromised from index 1 on).
    log.post("keys", &sign(&revoke_key_event(&rel2, 1), &[&log.root]))
        .expect("revoke rel2");
    assert_exit(
        &client.cairn(&["keylog", "sync"], &[]),
        0,
        "sync after revocation",
    );
    let s = status(&client);
    assert_eq!(s["keys"]["size"], 5, "{s}");
    assert_eq!(key_status(&s, &rel2_name), "revoked", "{s}");
    assert_eq!(key_status(&s, &rel1_name), "retired", "{s}");

    // 4. Witness w2 goes down: a new checkpoint is cosigned by w1 only, so verify fails its
    // quorum, and status says so; once max-age passes, the stored checkpoints are stale.
    w2_up.store(false, Ordering::SeqCst);
    let rel3 = key("rel3");
    log.post(
        "keys",
        &sign(&add_key_event(&rel3, "example/*", 1), &[&log.root]),
    )
    .expect("add rel3");
    let out = client.verify(&artifact, &["--json"]);
    assert_refused(
        &out,
        3,
        "witness-quorum",
        "quorum lost with one witness down",
    );
    let s = status(&client);
    assert_eq!(s["last_result"]["verdict"], "verification-failed", "{s}");
    assert_eq!(s["last_result"]["exit"], 3);
    assert!(
        s["last_result"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("quorum")),
        "{s}"
    );
    assert_eq!(s["keys"]["size"], 5, "nothing unwitnessed was stored: {s}");
    std::thread::sleep(std::time::Duration::from_secs(4));
    let s = status(&client);
    for log_name in ["releases", "keys"] {
        let w = &s[log_name]["witnesses"];
        assert_eq!(
            w["quorum_met"], true,
            "{log_name}: still cosigned by both: {s}"
        );
        assert_eq!(
            w["fresh_quorum_met"], false,
            "{log_name}: older than max-age: {s}"
        );
        assert!(w["newest_age_secs"].as_u64().is_some_and(|a| a > 3), "{s}");
    }
    let text = client.cairn(&["status"], &[]);
    assert_exit(&text, 0, "status");
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("STALE"), "{text}");
    assert!(
        text.contains("revoked") && text.contains("retired"),
        "{text}"
    );
}
