//! End-to-end tests of the independent channels (`spec/channels.md`): the server publishes the
//! compact line for every release checkpoint, and `cairn verify --channel dns:NAME | url:URL |
//! git+URL` fetches the checkpoint from each channel, verifies it, and proves it consistent
//! with the log's. The DNS channel is served by a real `dnsmasq` on loopback; the git channel
//! is the log's own repository (and a tampered copy); the URL channel is the log server's
//! `update-latest.txt` or a small static server.
//!
//! Build the binary first: `cargo build -p cairn-cli`.

mod client_support;

use std::path::Path;

use cairn_tests::dns::Dnsmasq;
use cairn_tests::git::{GitDaemon, commit_on_branch, git_at, read_on_branch};
use cairn_verifier::checkpoint::{Checkpoint, Inconsistency};
use cairn_verifier::compact::{from_compact, to_compact};
use cairn_verifier::hash::{Hash, leaf_hash};
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::{Ed25519Signer, Ed25519Verifier, KeyName, Note, NoteSigner as _};
use client_support::*;

/// The DNS name the tests publish the TXT record at.
const TXT_NAME: &str = "_cairn.log.example.org";

fn releases_origin() -> String {
    format!("{PREFIX}/releases")
}

/// The log key under the release log's name, as the log signs release checkpoints.
fn releases_signer() -> Ed25519Signer {
    log_key().with_name(KeyName::new(&releases_origin()).expect("name"))
}

fn releases_verifier() -> Ed25519Verifier {
    releases_signer().verifier()
}

/// A release checkpoint of `size` with `root`, signed by the log key: what a compromised log
/// (or one forked by its operator) would publish.
fn signed_checkpoint(size: u64, root: Hash) -> Vec<u8> {
    let text = Checkpoint::new(releases_origin(), size, root)
        .to_text()
        .expect("checkpoint");
    Note::sign(&text, &[&releases_signer()])
        .expect("sign")
        .to_bytes()
}

/// The compact line (no newline) of a signed checkpoint.
fn compact(checkpoint: &[u8]) -> String {
    to_compact(&Note::parse(checkpoint).expect("note")).expect("compact")
}

/// The log's current compact line, as `GET /releases/dns-txt` gives it for the zone.
fn dns_value(log: &TestLog) -> String {
    text(&log.get("/releases/dns-txt")).trim_end().to_owned()
}

/// A log with `n` releases published; the client trusts it; the artifact of the first release.
fn setup(n: usize) -> (TestLog, Client, std::path::PathBuf) {
    let log = TestLog::start();
    let (artifact, _) = log.publish("example/os", "1.0", b"the 1.0 image\n");
    for i in 1..n {
        log.publish(
            "example/os",
            &format!("1.{i}"),
            format!("image {i}\n").as_bytes(),
        );
    }
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    (log, client, artifact)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// The `channels` array of a `--json` answer.
fn channels(out: &std::process::Output) -> Vec<serde_json::Value> {
    json(out)["channels"]
        .as_array()
        .expect("channels array")
        .clone()
}

fn dns_args(dns: &Dnsmasq) -> Vec<String> {
    vec![
        "--channel".into(),
        format!("dns:{TXT_NAME}"),
        "--dns-server".into(),
        dns.addr(),
    ]
}

fn verify(client: &Client, artifact: &Path, args: &[String]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    client.verify(artifact, &args)
}

/// Reads the single evidence file and confirms it as a third party would, with the verifier's
/// `Inconsistency::from_evidence`: both notes verify with the log key and conflict under the
/// proof it carries. Returns the two sizes and the proof's length.
fn confirm_evidence(client: &Client) -> (u64, u64, usize) {
    let files = client.evidence();
    assert_eq!(files.len(), 1, "one evidence file: {files:?}");
    let body = std::fs::read(&files[0]).expect("evidence");
    let evidence = Inconsistency::from_evidence(&body, &releases_verifier())
        .unwrap_or_else(|e| panic!("the evidence is not confirmed: {e}"));
    assert_eq!(evidence.older().origin(), releases_origin());
    (
        evidence.older().size(),
        evidence.newer().size(),
        evidence.proof().len(),
    )
}

#[test]
fn the_server_publishes_the_compact_line_for_every_release_checkpoint() {
    let log = TestLog::start();
    let repo = log.dir.repo();
    for i in 0..4 {
        if i > 0 {
            log.publish(
                "example/os",
                &format!("2.{i}"),
                format!("v{i}\n").as_bytes(),
            );
        }
        let latest = Note::parse(&log.get("/releases/checkpoint")).expect("checkpoint");
        let update = text(&log.get("/releases/update-latest.txt"));
        let on_branch = text(&read_on_branch(&repo, "releases/update-latest.txt"));
        let dns = text(&log.get("/releases/dns-txt"));
        for (what, value) in [
            ("update-latest.txt over HTTP", &update),
            ("update-latest.txt on the branch", &on_branch),
        ] {
            let line = value
                .strip_suffix('\n')
                .unwrap_or_else(|| panic!("{what} ends in a newline: {value:?}"));
            let note = from_compact(line).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                note.text(),
                latest.text(),
                "{what} is the latest checkpoint"
            );
            note.verify(&[&releases_verifier()])
                .unwrap_or_else(|e| panic!("{what} carries the log's signature: {e}"));
            assert_eq!(line, dns.trim_end(), "the DNS value is the same line");
            assert!(line.len() <= 255, "one TXT string: {} bytes", line.len());
        }
    }
}

#[test]
fn dns_channel_that_agrees_passes_and_its_strings_are_joined() {
    let (log, client, artifact) = setup(1);
    let value = dns_value(&log);
    // The record's value split into two character-strings, as zone files split values over
    // 255 bytes: the client joins them.
    let (a, b) = value.split_at(100);
    let dns = Dnsmasq::start(&[(TXT_NAME, &[a, b])]);
    let mut args = dns_args(&dns);
    args.push("-v".into());
    let out = verify(&client, &artifact, &args);
    assert_exit(&out, 0, "DNS channel agrees");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "channel dns:{TXT_NAME}: size 1 agrees with the log"
        )),
        "one line per channel check:\n{stdout}"
    );
    assert!(
        text(&out.stderr).contains("ok   channel: dns:"),
        "{}",
        text(&out.stderr)
    );
    args.push("--json".into());
    let out = verify(&client, &artifact, &args);
    assert_exit(&out, 0, "DNS channel agrees (json)");
    let list = channels(&out);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["channel"], format!("dns:{TXT_NAME}"));
    assert_eq!(list[0]["relation"], "same");
    assert_eq!(list[0]["result"], "consistent");
    assert!(client.evidence().is_empty());
}

#[test]
fn dns_channel_with_a_forked_checkpoint_is_exit_4_with_evidence() {
    let (_log, client, artifact) = setup(1);
    // The same tree size, another root, signed by the log key: a split view.
    let fork = compact(&signed_checkpoint(1, leaf_hash(b"another history")));
    let dns = Dnsmasq::start(&[(TXT_NAME, &[fork.as_str()])]);
    let mut args = dns_args(&dns);
    args.push("--json".into());
    let out = verify(&client, &artifact, &args);
    assert_refused(&out, 4, "channel", "forked DNS checkpoint");
    let path = client.evidence()[0].display().to_string();
    assert!(
        text(&out.stderr).contains(&path),
        "the evidence path is printed:\n{}",
        text(&out.stderr)
    );
    assert_eq!(confirm_evidence(&client), (1, 1, 0));
    let list = channels(&out);
    assert_eq!(list[0]["result"], "failed", "{list:?}");
    // Nothing was stored from the refused run: the next run is still a first use.
    assert!(
        !client
            .state()
            .join("logs")
            .read_dir()
            .map(|mut d| d.any(|e| e
                .expect("entry")
                .path()
                .join("releases.checkpoint")
                .exists()))
            .unwrap_or(false),
        "no checkpoint stored after a refused run"
    );
    // install refuses the same way and leaves nothing behind.
    let to = client.dir.path().join("installed.img");
    let out = client.cairn(
        &["install"],
        &[
            &artifact.display().to_string(),
            "--to",
            &to.display().to_string(),
            "--channel",
            &format!("dns:{TXT_NAME}"),
            "--dns-server",
            &dns.addr(),
        ],
    );
    assert_exit(&out, 4, "install with a forked DNS checkpoint");
    assert!(!to.exists(), "nothing installed");
}

#[test]
fn older_channel_checkpoints_are_proved_consistent_and_a_forked_one_is_evidence() {
    let (log, client, artifact) = setup(1);
    // An honest DNS record lagging behind: published at size 1, the log is now at size 3.
    let old = dns_value(&log);
    log.publish("example/os", "1.1", b"one\n");
    log.publish("example/os", "1.2", b"two\n");
    let dns = Dnsmasq::start(&[(TXT_NAME, &[old.as_str()])]);
    let mut args = dns_args(&dns);
    args.push("--json".into());
    let out = verify(&client, &artifact, &args);
    assert_exit(&out, 0, "an older honest DNS checkpoint");
    let list = channels(&out);
    assert_eq!(list[0]["relation"], "older", "{list:?}");
    assert_eq!(list[0]["size"], 1);
    assert_eq!(list[0]["log_size"], 3);
    drop(dns);

    // A checkpoint of size 2 the log signed for some other history: the proof from the log's
    // tiles (authenticated against its size-3 root) does not connect them.
    let fork = compact(&signed_checkpoint(2, leaf_hash(b"forked")));
    let dns = Dnsmasq::start(&[(TXT_NAME, &[fork.as_str()])]);
    let mut args = dns_args(&dns);
    args.push("--json".into());
    let out = verify(&client, &artifact, &args);
    assert_refused(&out, 4, "channel", "forked older DNS checkpoint");
    let (older, newer, proof) = confirm_evidence(&client);
    assert_eq!((older, newer), (2, 3));
    assert!(
        proof > 0,
        "the evidence carries the proof from the log's tiles"
    );
}

#[test]
fn several_txt_records_are_all_checked() {
    let (log, client, artifact) = setup(1);
    let honest = dns_value(&log);
    let fork = compact(&signed_checkpoint(1, leaf_hash(b"other")));
    let dns = Dnsmasq::start(&[
        (TXT_NAME, &["v=spf1 -all"]),
        (TXT_NAME, &[honest.as_str()]),
        (TXT_NAME, &[fork.as_str()]),
    ]);
    let mut args = dns_args(&dns);
    args.push("--json".into());
    let out = verify(&client, &artifact, &args);
    assert_refused(&out, 4, "channel", "one of two compact records is forked");
}

#[test]
fn a_channel_ahead_of_the_log() {
    let (log, client, artifact) = setup(1);
    // A stale front end: a man in the middle serves the size-1 checkpoint while the log,
    // whose update-latest.txt is the url: channel, has grown to size 2. The log's tiles prove
    // the larger tree consistent, so the client accepts (the log grew meanwhile).
    let stale = log.get("/releases/checkpoint");
    log.publish("example/os", "1.1", b"newer\n");
    let front = TinyHttp::start(mitm(log.url(), move |name, body| {
        if name == "releases" {
            stale.clone()
        } else {
            body
        }
    }));
    client.trust(&front.url(), &log, &[]);
    let channel = format!("url:{}/releases/update-latest.txt", log.url());
    let out = client.verify(&artifact, &["--channel", &channel, "--json"]);
    assert_exit(&out, 0, "a channel ahead of a lagging front end");
    let list = channels(&out);
    assert_eq!(list[0]["relation"], "newer", "{list:?}");
    assert_eq!(list[0]["size"], 2);

    // A signed checkpoint larger than anything the log serves, for a tree the log cannot
    // show: no conflict can be proved, so the client refuses (exit 3) and says why.
    let fresh = Client::new();
    fresh.trust(&log.url(), &log, &[]);
    let ahead = compact(&signed_checkpoint(5, leaf_hash(b"withheld")));
    let dns = Dnsmasq::start(&[(TXT_NAME, &[ahead.as_str()])]);
    let mut args = dns_args(&dns);
    args.push("--json".into());
    let out = verify(&fresh, &artifact, &args);
    assert_refused(&out, 3, "channel", "a withheld larger tree");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("withholds a tree it signed"), "{stderr}");
    assert!(fresh.evidence().is_empty(), "no evidence: nothing proved");
}

#[test]
fn two_channels_ahead_of_the_log_are_checked_against_each_other() {
    let (log, client, artifact) = setup(1);
    // A malicious log behind a front end: it serves its size-1 checkpoint, and for the two
    // larger trees it signed (size 3 on one channel, size 2 on another) partial tiles that
    // authenticate each: both extend the size-1 tree, but they diverge after it.
    let stale = log.get("/releases/checkpoint");
    let first = Hash::from_slice(&log.get("/releases/tile/0/000.p/1")).expect("leaf 0");
    // Level-0 tiles hold the leaf hashes, concatenated.
    let tree = |others: &[&[u8]]| -> (MemoryTree, Vec<u8>) {
        let leaves: Vec<Hash> = std::iter::once(first)
            .chain(others.iter().map(|o| leaf_hash(o)))
            .collect();
        let mut t = MemoryTree::new();
        for leaf in &leaves {
            t.append_leaf_hash(*leaf);
        }
        let tile = leaves.iter().flat_map(|l| l.as_bytes().to_vec()).collect();
        (t, tile)
    };
    let (x, x_tile) = tree(&[b"x1", b"x2"]);
    let (y, y_tile) = tree(&[b"y1"]);
    let forward = mitm(log.url(), move |name, body| {
        if name == "releases" {
            stale.clone()
        } else {
            body
        }
    });
    let front = TinyHttp::start(move |path: &str| match path {
        "/releases/tile/0/000.p/3" => Answer::Full(200, x_tile.clone()),
        "/releases/tile/0/000.p/2" => Answer::Full(200, y_tile.clone()),
        _ => forward(path),
    });
    client.trust(&front.url(), &log, &[]);
    let dir = log.scratch().join("static");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("x"), signed_checkpoint(3, x.root())).expect("write");
    std::fs::write(dir.join("y"), signed_checkpoint(2, y.root())).expect("write");
    let web = TinyHttp::start(files(dir));
    let (cx, cy) = (
        format!("url:{}/x", web.url()),
        format!("url:{}/y", web.url()),
    );
    // Each alone extends the log's checkpoint.
    for channel in [&cx, &cy] {
        let out = client.verify(&artifact, &["--channel", channel, "--json"]);
        assert_exit(&out, 0, "one channel ahead");
        assert_eq!(channels(&out)[0]["relation"], "newer");
    }
    // Together they conflict: the size-3 tree's own tiles do not contain the size-2 tree.
    let out = client.verify(&artifact, &["--channel", &cx, "--channel", &cy, "--json"]);
    assert_refused(
        &out,
        4,
        "channel",
        "two diverging channels ahead of the log",
    );
    let (older, newer, proof) = confirm_evidence(&client);
    assert_eq!((older, newer), (2, 3));
    assert!(proof > 0);
}

#[test]
fn url_channel_update_latest_and_a_forked_full_checkpoint() {
    let (log, client, artifact) = setup(2);
    let channel = format!("url:{}/releases/update-latest.txt", log.url());
    let out = client.verify(&artifact, &["--channel", &channel, "--json"]);
    assert_exit(&out, 0, "update-latest.txt from the log server");
    assert_eq!(channels(&out)[0]["relation"], "same");

    // A static server publishing a full checkpoint note of another tree of the same size.
    let dir = log.scratch().join("static");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("checkpoint"),
        signed_checkpoint(2, leaf_hash(b"elsewhere")),
    )
    .expect("write");
    let web = TinyHttp::start(files(dir));
    let forked = format!("url:{}/checkpoint", web.url());
    let out = client.verify(&artifact, &["--channel", &forked, "--json"]);
    assert_refused(&out, 4, "channel", "forked checkpoint over a URL");
    assert_eq!(confirm_evidence(&client), (2, 2, 0));

    // A URL that does not answer 200 cannot vouch for anything: operational error.
    let missing = format!("url:{}/nothing-here", web.url());
    let out = client.verify(&artifact, &["--channel", &missing, "--json"]);
    assert_refused(&out, 1, "channel", "missing channel file");
    // Bytes that are no checkpoint at all: verification failed.
    let dir = log.scratch().join("static2");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("junk"), b"cairn-checkpoint/v1 nonsense\n").expect("write");
    let junk = TinyHttp::start(files(dir));
    let out = client.verify(
        &artifact,
        &["--channel", &format!("url:{}/junk", junk.url()), "--json"],
    );
    assert_exit(&out, 3, "a malformed compact line");
}

#[test]
fn git_channel_reads_the_branch_and_refuses_a_forked_one() {
    let (log, client, artifact) = setup(2);
    let repo = log.dir.repo();
    let channel = format!("git+file://{}", repo.display());
    let out = client.verify(&artifact, &["--channel", &channel, "--json"]);
    assert_exit(&out, 0, "the log's own branch");
    assert_eq!(channels(&out)[0]["relation"], "same");
    assert_eq!(channels(&out)[0]["size"], 2);

    // A copy of the repository where someone with write access rewrote the checkpoint.
    let copy = log.scratch().join("copy.git");
    git_at(
        &log.scratch(),
        &[
            "clone",
            "--quiet",
            "--bare",
            &repo.display().to_string(),
            &copy.display().to_string(),
        ],
    );
    commit_on_branch(
        &copy,
        &log.scratch(),
        "releases/checkpoint",
        &signed_checkpoint(2, leaf_hash(b"rewritten")),
    );
    let forked = format!("git+file://{}", copy.display());
    let out = client.verify(&artifact, &["--channel", &forked, "--json"]);
    assert_refused(&out, 4, "channel", "forked git branch");
    assert_eq!(confirm_evidence(&client), (2, 2, 0));

    // A checkpoint not signed by the log key: verification failed, no evidence.
    let impostor = Ed25519Signer::from_seed(KeyName::new(&releases_origin()).expect("n"), [9; 32]);
    let latest = Note::parse(&log.get("/releases/checkpoint")).expect("note");
    commit_on_branch(
        &copy,
        &log.scratch(),
        "releases/checkpoint",
        &Note::sign(latest.text(), &[&impostor])
            .expect("sign")
            .to_bytes(),
    );
    let fresh = Client::new();
    fresh.trust(&log.url(), &log, &[]);
    let out = fresh.verify(&artifact, &["--channel", &forked, "--json"]);
    assert_refused(
        &out,
        3,
        "checkpoint-signature",
        "git branch signed by another key",
    );
    assert!(fresh.evidence().is_empty());
    let list = channels(&out);
    assert_eq!(list[0]["result"], "failed", "{list:?}");
    assert!(list[0]["size"].is_null(), "nothing verified: {list:?}");
    assert!(impostor.key_id() != releases_signer().key_id());

    // No repository there: operational error.
    let nowhere = format!("git+file://{}", log.scratch().join("nowhere.git").display());
    let out = fresh.verify(&artifact, &["--channel", &nowhere, "--json"]);
    assert_refused(&out, 1, "channel", "no repository");
}

#[test]
fn git_channel_over_git_daemon() {
    let (log, client, artifact) = setup(3);
    // The log's repository (DATA/repo.git) served read-only over git:// on loopback.
    let daemon = GitDaemon::start(&log.data());
    let channel = format!("git+{}", daemon.url("repo.git"));
    let out = client.verify(&artifact, &["--channel", &channel, "--json"]);
    assert_exit(&out, 0, "the branch over git://");
    let list = channels(&out);
    assert_eq!(list[0]["channel"], channel);
    assert_eq!(list[0]["relation"], "same");
    assert_eq!(list[0]["size"], 3);
    let out = client.verify(
        &artifact,
        &["--channel", &format!("git+{}", daemon.url("none.git"))],
    );
    assert_exit(&out, 1, "no such repository on the daemon");
}

#[test]
fn several_channels_are_each_checked() {
    let (log, client, artifact) = setup(2);
    let dns = Dnsmasq::start(&[(TXT_NAME, &[dns_value(&log).as_str()])]);
    let url = format!("url:{}/releases/update-latest.txt", log.url());
    let git = format!("git+file://{}", log.dir.repo().display());
    let mut args = dns_args(&dns);
    args.extend(["--channel".into(), url.clone(), "--channel".into(), git]);
    args.push("--json".into());
    let out = verify(&client, &artifact, &args);
    assert_exit(&out, 0, "three channels agree");
    let list = channels(&out);
    let names: Vec<&str> = list
        .iter()
        .map(|c| c["channel"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), 3, "{list:?}");
    assert!(names[0].starts_with("dns:") && names[1].starts_with("url:"));
    assert!(names[2].starts_with("git+file://"));

    // The last of three channels is forked: the first two pass, the third fails the run.
    let dir = log.scratch().join("static");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("update-latest.txt"),
        format!("{}\n", compact(&signed_checkpoint(2, leaf_hash(b"x")))),
    )
    .expect("write");
    let web = TinyHttp::start(files(dir));
    let mut args = dns_args(&dns);
    args.extend([
        "--channel".into(),
        url,
        "--channel".into(),
        format!("url:{}/update-latest.txt", web.url()),
        "--json".into(),
    ]);
    let out = verify(&client, &artifact, &args);
    assert_refused(&out, 4, "channel", "the third channel is forked");
    let list = channels(&out);
    let results: Vec<&str> = list
        .iter()
        .map(|c| c["result"].as_str().expect("result"))
        .collect();
    assert_eq!(results, ["consistent", "consistent", "failed"]);
}

#[test]
fn dns_channel_without_an_answer_is_an_operational_error() {
    let (_log, client, artifact) = setup(1);
    // A name the server has no TXT record for.
    let dns = Dnsmasq::start(&[("_other.log.example.org", &["hello"])]);
    let mut args = dns_args(&dns);
    args.push("--json".into());
    let out = verify(&client, &artifact, &args);
    assert_refused(&out, 1, "channel", "no TXT record");
    assert!(text(&out.stderr).contains("TXT"), "{}", text(&out.stderr));
    // Only other TXT records at the name: nothing to check either.
    drop(dns);
    let dns = Dnsmasq::start(&[(TXT_NAME, &["v=spf1 -all"])]);
    let mut args = dns_args(&dns);
    args.push("--json".into());
    let out = verify(&client, &artifact, &args);
    assert_refused(&out, 1, "channel", "no compact record");
    assert!(
        text(&out.stderr).contains("1 other TXT records"),
        "{}",
        text(&out.stderr)
    );
    // No DNS server at all on that port.
    let addr = dns.addr();
    drop(dns);
    let out = client.verify(
        &artifact,
        &[
            "--channel",
            &format!("dns:{TXT_NAME}"),
            "--dns-server",
            &addr,
            "--json",
        ],
    );
    assert_refused(&out, 1, "channel", "no DNS server");
    assert!(client.evidence().is_empty());
}

#[test]
fn channel_usage_errors() {
    let (_log, client, artifact) = setup(1);
    for (args, what) in [
        (
            vec!["--channel", "dns:_cairn.example.org", "--offline"],
            "channel offline",
        ),
        (vec!["--channel", "ftp:x"], "unknown channel kind"),
        (vec!["--channel", "url:ftp://example.org/x"], "non-HTTP URL"),
        (vec!["--dns-server", "127.0.0.1:53"], "--dns-server alone"),
        (
            vec![
                "--channel",
                "dns:_cairn.example.org",
                "--dns-server",
                "nope",
            ],
            "bad server address",
        ),
    ] {
        let out = client.verify(&artifact, &args);
        assert_exit(&out, 2, what);
    }
}
