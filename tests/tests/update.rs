//! End-to-end tests of `cairn update` (spec/client.md, "Updating") against a real `cairn serve`
//! on loopback, with the release files served over HTTP by a tiny server and, for the hiding
//! attack, a man-in-the-middle in front of the log that removes a version from the
//! `_versions` lookup.
//!
//! Build the binary first: `cargo build -p cairn-cli`.

mod client_support;

use std::path::{Path, PathBuf};

use client_support::*;

const NAME: &str = "example/os";

/// Publishes `version` of NAME with one artifact `os-<version>.img` and writes the file (and,
/// when `with_proof`, its `.tlog-proof`) into `dist`. Returns the release-log index.
fn publish(log: &TestLog, dist: &Path, version: &str, with_proof: bool) -> u64 {
    let file = format!("os-{version}.img");
    let contents = format!("the {version} image\n").repeat(100);
    let note = sign(
        &release_text(NAME, version, &[(&file, contents.as_bytes())]),
        &[&log.release],
    );
    let proof = log.post("releases", &note).expect("publish");
    std::fs::write(dist.join(&file), &contents).expect("artifact");
    if with_proof {
        std::fs::write(proof_path(&dist.join(&file)), &proof).expect("proof");
    }
    cairn_verifier::tlog_proof::TlogProof::parse(&proof)
        .expect("proof")
        .index
}

fn update(client: &Client, base: &str, to: &Path, extra: &[&str]) -> std::process::Output {
    let to = to.display().to_string();
    let mut args = vec![NAME, "--base", base, "--to", to.as_str()];
    args.extend_from_slice(extra);
    client.cairn(&["update"], &args)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

#[test]
fn update_picks_the_newest_valid_release_and_refuses_a_lookup_that_hides_one() {
    let log = TestLog::start();
    let dist = log.scratch().join("dist");
    std::fs::create_dir_all(&dist).expect("dist");
    // Some unrelated entries between them, so the scan crosses bundles of other names.
    publish(&log, &dist, "1.0", true);
    log.publish("example/other", "7.0", b"other\n");
    let i11 = publish(&log, &dist, "1.1", false);
    publish(&log, &dist, "2.0", true);
    let dep = sign(&deprecation_text(NAME, "2.0"), &[&log.release]);
    log.post("releases", &dep).expect("deprecate 2.0");

    let files = TinyHttp::start(files(dist.clone()));
    let base = format!("{}/", files.url());
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let target = client.dir.path().join("os.img");

    // 2.0 is deprecated: 1.1 is the newest valid release (downloaded without a proof file).
    let out = update(&client, &base, &target, &["--json"]);
    assert_exit(&out, 0, "first update");
    let v = json(&out);
    assert_eq!(v["verdict"], "ok", "{v}");
    assert_eq!(v["entry"]["version"], "1.1", "{v}");
    assert_eq!(v["entry"]["index"], i11, "{v}");
    assert_eq!(
        std::fs::read(&target).expect("installed"),
        std::fs::read(dist.join("os-1.1.img")).expect("dist")
    );

    // Nothing newer: up to date, exit 0, the file untouched.
    let before = std::fs::metadata(&target)
        .expect("meta")
        .modified()
        .expect("mtime");
    let out = update(&client, &base, &target, &[]);
    assert_exit(&out, 0, "second update");
    assert!(
        text(&out.stdout).starts_with("up to date: example/os 1.1 os-1.1.img"),
        "{}",
        text(&out.stdout)
    );
    let after = std::fs::metadata(&target)
        .expect("meta")
        .modified()
        .expect("mtime");
    assert_eq!(before, after);

    // A log (here a proxy in front of it) whose lookup hides 1.1: refused, exit 3, for this
    // client (which read the entries before) and for a new client (which reads them now).
    let proxy = TinyHttp::start(mitm_paths(log.url(), |path, body| {
        if path.ends_with("/_versions") {
            String::from_utf8(body)
                .expect("utf-8")
                .lines()
                .filter(|l| !l.starts_with("1.1 "))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                .into_bytes()
        } else {
            body
        }
    }));
    for fresh in [false, true] {
        let c = Client::new();
        let client_ref = if fresh { &c } else { &client };
        client_ref.trust(&proxy.url(), &log, &[]);
        let out = update(client_ref, &base, &target, &["--json"]);
        assert_exit(&out, 3, "a lookup hiding 1.1");
        assert_eq!(failed_check(&out).as_deref(), Some("lookup"));
        let error = json(&out)["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.contains("hides 1.1 (index"), "{error}");
    }
    // The honest log again.
    client.trust(&log.url(), &log, &[]);

    // A new release: installed on the next run, then up to date.
    let i21 = publish(&log, &dist, "2.1", true);
    let out = update(&client, &base, &target, &[]);
    assert_exit(&out, 0, "update to 2.1");
    assert!(
        text(&out.stdout).contains(&format!(
            "example/os 2.1 os-2.1.img (release-log index {i21})"
        )),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        std::fs::read(&target).expect("installed"),
        std::fs::read(dist.join("os-2.1.img")).expect("dist")
    );
    let out = update(&client, &base, &target, &["--json"]);
    assert_exit(&out, 0, "up to date after 2.1");
    let v = json(&out);
    assert_eq!(v["verdict"], "up-to-date", "{v}");
    assert_eq!(v["installed"]["version"], "2.1", "{v}");
}

#[test]
fn a_tampered_artifact_is_refused_and_nothing_is_installed() {
    let log = TestLog::start();
    let dist: PathBuf = log.scratch().join("dist");
    std::fs::create_dir_all(&dist).expect("dist");
    publish(&log, &dist, "1.0", false);
    std::fs::write(dist.join("os-1.0.img"), b"not what was logged\n").expect("tamper");
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let target = client.dir.path().join("os.img");
    // A plain directory as BASE.
    let out = update(&client, &dist.display().to_string(), &target, &[]);
    assert_exit(&out, 3, "tampered artifact");
    assert!(!target.exists());
}
