//! A hostile log, served by the tests' `TinyHttp` (client_support): it signs what a
//! compromised log would (with a log key the test holds) or trickles its answers one byte at a
//! time. Every client that reads a log (`verify`, `install`, `monitor`, `mirror`) must give up
//! with bounded memory (the child's peak resident size, `VmHWM` in /proc/PID/status) and in
//! bounded time, with a clear message.
//!
//! Build the binary first: `cargo build -p cairn-cli`.

mod client_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_verifier::checkpoint::Checkpoint;
use cairn_verifier::hash::Hash;
use cairn_verifier::note::Note;
use cairn_verifier::tile::encode_entry_bundle;
use client_support::{Answer, PREFIX, TinyHttp, cairn_bin, key, log_key, text};

/// The most a client may hold in memory while refusing a hostile log.
const MEMORY_LIMIT_KIB: u64 = 200 * 1024;
/// Past this the child is killed at once, so a regression does not take the machine down.
const KILL_AT_KIB: u64 = 600 * 1024;

/// What the hostile server answers for one path.
/// A checkpoint of `log` at `size` with `root`, signed by the test's log key: what a
/// compromised log can publish.
fn signed_checkpoint(log: &str, size: u64, root: [u8; 32]) -> Vec<u8> {
    let text = Checkpoint::new(format!("{PREFIX}/{log}"), size, Hash(root))
        .to_text()
        .expect("checkpoint text");
    // The log key under the log's origin, as each log's checkpoints are signed.
    let key = cairn_verifier::note::Ed25519Signer::from_seed(
        cairn_verifier::note::KeyName::new(&format!("{PREFIX}/{log}")).expect("name"),
        cairn_verifier::hash::sha256(b"cairn-client-tests/log"),
    );
    assert_eq!(
        key.verifier().public_key(),
        log_key().verifier().public_key()
    );
    Note::sign(&text, &[&key as &dyn cairn_verifier::note::NoteSigner])
        .expect("sign")
        .to_bytes()
}

/// A log that signs a key log of `size` entries and serves, for every entry bundle, 256
/// entries of `entry_len` bytes (and zero hashes for every tile).
fn hostile_keylog(size: u64, entry_len: usize) -> TinyHttp {
    let keys = signed_checkpoint("keys", size, [7; 32]);
    let releases = signed_checkpoint("releases", size, [9; 32]);
    let entries: Vec<Vec<u8>> = (0..256).map(|_| vec![b'k'; entry_len]).collect();
    let bundle = encode_entry_bundle(&entries).expect("bundle");
    TinyHttp::start(move |path| match path {
        "/keys/checkpoint" => Answer::Full(200, keys.clone()),
        "/releases/checkpoint" => Answer::Full(200, releases.clone()),
        p if p.contains("/tile/entries/") => Answer::Full(200, bundle.clone()),
        p if p.contains("/tile/") => Answer::Full(200, vec![0; 256 * 32]),
        _ => Answer::Full(404, b"not found\n".to_vec()),
    })
}

/// A client state trusting the log at `url` (checked only later: `--offline`).
fn client_for(url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        &[
            "trust",
            "init",
            "--offline",
            "--state",
            &dir.path().join("state").display().to_string(),
            "--log",
            url,
            "--log-key",
            &log_key().verifier().to_vkey(),
            "--root-key",
            &key("root1").verifier().to_vkey(),
            "--threshold",
            "1",
        ],
        Duration::from_secs(60),
    )
    .0;
    assert_eq!(
        out.status.code(),
        Some(0),
        "trust init: {}",
        text(&out.stderr)
    );
    dir
}

/// Runs `cairn args...`, polling the child's peak resident size; kills it past `limit` or at
/// [`KILL_AT_KIB`]. Returns the output, the peak (KiB) and the time taken.
fn run(args: &[&str], limit: Duration) -> (Output, u64, Duration) {
    let started = Instant::now();
    let mut child = Command::new(cairn_bin())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cairn");
    let status_path = format!("/proc/{}/status", child.id());
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let mut peak = 0u64;
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|s| vm_hwm_kib(&s))
        {
            peak = peak.max(hwm);
        }
        if let Some(s) = child.try_wait().expect("poll") {
            break s;
        }
        if peak > KILL_AT_KIB || started.elapsed() > limit {
            let _ = child.kill();
            let s = child.wait().expect("wait");
            break s;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = Output {
        status,
        stdout: t_out.join().expect("stdout thread"),
        stderr: t_err.join().expect("stderr thread"),
    };
    (output, peak, started.elapsed())
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
}

#[track_caller]
fn assert_refused_bounded(
    what: &str,
    (out, peak, took): &(Output, u64, Duration),
    code: i32,
    needle: &str,
    time: Duration,
) {
    let stderr = text(&out.stderr);
    assert!(
        *peak < MEMORY_LIMIT_KIB,
        "{what}: peak resident size {peak} KiB, over {MEMORY_LIMIT_KIB} KiB\n{stderr}"
    );
    assert!(
        *took < time,
        "{what}: took {took:?}, over {time:?}\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(code), "{what}: exit code\n{stderr}");
    assert!(
        stderr.contains(needle),
        "{what}: stderr lacks {needle:?}:\n{stderr}"
    );
    assert!(
        !stderr.contains(" { ") && !stderr.contains("Some("),
        "{what}: Rust debug text on stderr:\n{stderr}"
    );
}

/// Runs each client command that syncs the key log against `url` with `state`.
fn every_client(
    url: &str,
    state: &Path,
    scratch: &Path,
    extra: &[&str],
) -> Vec<(String, (Output, u64, Duration))> {
    let artifact = scratch.join("image.img");
    std::fs::write(&artifact, b"an image\n").expect("write artifact");
    let state = state.display().to_string();
    let artifact = artifact.display().to_string();
    let installed = scratch.join("installed.img").display().to_string();
    let mirror = scratch.join("mirror").display().to_string();
    let limit = Duration::from_secs(90);
    let mut runs = Vec::new();
    let commands: Vec<(&str, Vec<&str>)> = vec![
        ("verify", vec!["verify", &artifact, "--state", &state]),
        (
            "install",
            vec!["install", &artifact, "--to", &installed, "--state", &state],
        ),
        ("monitor", vec!["monitor", "--once", "--state", &state]),
        (
            "mirror",
            vec![
                "mirror",
                "--once",
                "--upstream",
                url,
                "--mirror-dir",
                &mirror,
                "--state",
                &state,
            ],
        ),
    ];
    for (name, mut args) in commands {
        args.extend_from_slice(extra);
        runs.push((name.to_owned(), run(&args, limit)));
    }
    runs
}

#[test]
fn log_signed_key_log_of_two_to_the_forty_entries_is_refused_in_bounded_memory() {
    let log = hostile_keylog(1 << 40, 100);
    let client = client_for(&log.url());
    let state = client.path().join("state");
    for (name, result) in every_client(&log.url(), &state, client.path(), &[]) {
        assert_refused_bounded(
            &format!("{name} against a key log of 2^40"),
            &result,
            3,
            "more than the 262144 a client keeps",
            Duration::from_secs(30),
        );
    }
}

#[test]
fn key_log_whose_entries_exceed_the_snapshot_cap_is_refused_in_bounded_memory() {
    // Within the entry count a client keeps, but every entry near the 64 KiB maximum: the
    // entries pass the snapshot cap long before the checkpoint's size is reached.
    let log = hostile_keylog(1 << 18, 60_000);
    let client = client_for(&log.url());
    let state = client.path().join("state");
    for (name, result) in every_client(&log.url(), &state, client.path(), &[]) {
        assert_refused_bounded(
            &format!("{name} against fat key entries"),
            &result,
            3,
            "MiB a client keeps",
            Duration::from_secs(60),
        );
    }
}

#[test]
fn trickling_log_is_given_up_at_the_total_deadline() {
    // The checkpoint arrives one byte every 100 ms: each read is quick, so only a total
    // deadline ends the fetch (the whole answer would take minutes).
    let keys = signed_checkpoint("keys", 1, [7; 32]);
    let padded = [keys.as_slice(), &[b'\n'; 2000]].concat();
    let log = TinyHttp::start(move |path| match path {
        "/keys/checkpoint" | "/releases/checkpoint" => Answer::Trickle {
            body: padded.clone(),
            every: Duration::from_millis(100),
        },
        _ => Answer::Full(404, b"not found\n".to_vec()),
    });
    let client = client_for(&log.url());
    let state = client.path().join("state");
    for (name, result) in every_client(&log.url(), &state, client.path(), &["--timeout", "2s"]) {
        assert_refused_bounded(
            &format!("{name} against a trickling log"),
            &result,
            1,
            "took longer than 2 s",
            Duration::from_secs(20),
        );
    }
}
