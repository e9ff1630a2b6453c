//! The sequencer at two log sizes: does a batch cost the same at 10^4 entries as at 10^6?
//!
//! Run: `cargo bench -p cairn-log-server --bench scaling` (`-- --entries N` for another large
//! size; docs/performance.md, "Log server", records the results). Under `cargo test --benches` it
//! runs a tiny smoke version instead.
//!
//! What it does, in one process, with the real [`Log`] over the real [`GitStorage`] (background
//! repacking as in production), no HTTP:
//! 1. creates a log with a genesis root event and one release key;
//! 2. fills the release log to 10,000 entries in batches of 4,096, then measures a window of
//!    `WINDOW` batches of `BATCH` entries (about the batch size of the 1,024-client benchmark phase):
//!    per batch, the time of `Log::sequence` (validate, append, tiles, checkpoints, durable
//!    commit, proofs) and the log's `cairn_commit_seconds`;
//! 3. fills to the large size (default 1,000,000) the same way and measures the same window;
//! 4. waits for the background repack, runs `git repack -a -d` and reports the repository size
//!    per entry.
//!
//! Every release is signed in advance (not timed). Submissions come without the add handler's
//! signature facts, so the sequencer verifies every signature itself, at both sizes alike.

#![allow(clippy::print_stdout, reason = "the report is the output")]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_log_server::config::LogKeys;
use cairn_log_server::log::{Log, LogKind, Outcome, Submission};
use cairn_log_server::metrics::Metrics;
use cairn_log_server::storage::{GitOptions, GitStorage, Storage};
use cairn_verifier::entry::{
    FileName, FileRef, KeyEvent, Release, ReleaseName, RootSet, Scope, Sha256Digest, Version,
};
use cairn_verifier::note::{Ed25519Signer, KeyName, Note, NoteSigner};

/// Entries per measured batch.
const BATCH: usize = 256;
/// Batches per measured window (the window ends at the size measured: 10,000 entries is the
/// smaller size, so the window must be well below it).
const WINDOW: usize = 20;
/// Entries per batch while filling (the server's largest batch).
const FILL_BATCH: usize = 4096;

fn signer(name: &str, seed: u8) -> Ed25519Signer {
    Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32])
}

fn signed(text: &str, signers: &[&dyn NoteSigner]) -> Vec<u8> {
    Note::sign(text, signers).expect("sign").to_bytes()
}

fn release(key: &Ed25519Signer, i: usize) -> Vec<u8> {
    let version = format!("1.0.{i}");
    let file = FileRef {
        digest: Sha256Digest::of(version.as_bytes()),
        size: 1_000_000 + i as u64,
        file_name: FileName::new("image.iso").expect("file name"),
    };
    let manifest = FileRef {
        digest: Sha256Digest::of(format!("manifest {i}").as_bytes()),
        size: 4096,
        file_name: FileName::new("image.spdx.json").expect("file name"),
    };
    let release = Release::new(
        ReleaseName::new("bench/app").expect("name"),
        Version::new(&version).expect("version"),
        vec![file],
        vec![manifest],
    )
    .expect("release");
    signed(&release.to_text(), &[key])
}

/// Sequences `entries` as releases in batches of `batch`; returns per-batch wall times.
fn sequence(log: &Log, entries: Vec<Vec<u8>>, batch: usize) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut rest = entries.into_iter().peekable();
    while rest.peek().is_some() {
        let subs: Vec<Submission> = rest
            .by_ref()
            .take(batch)
            .map(|e| Submission::new(LogKind::Releases, e))
            .collect();
        let started = Instant::now();
        let outcomes = log.sequence(subs);
        times.push(started.elapsed());
        for outcome in outcomes {
            if let Outcome::Refused { reason, .. } = outcome {
                panic!("refused: {reason}");
            }
        }
    }
    times
}

fn commit_seconds(metrics: &Metrics) -> (f64, u64) {
    let text = metrics.render();
    let find = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        find("cairn_commit_seconds_sum "),
        find("cairn_commit_seconds_count ") as u64,
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let large: usize = args
        .iter()
        .position(|a| a == "--entries")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("--entries N"))
        .unwrap_or(if full { 1_000_000 } else { 3_000 });
    let small: usize = if full { 10_000 } else { 1_000 };
    let (batch, window) = if full { (BATCH, WINDOW) } else { (64, 3) };

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("repo.git");
    let storage = Arc::new(GitStorage::init_with(&path, GitOptions::default()).expect("init"));
    let log_keys = LogKeys {
        releases: signer("bench.example/releases", 1).into(),
        keys: signer("bench.example/keys", 2).into(),
        legacy: None,
    };
    let root = signer("bench.example/root", 3);
    let key = signer("bench.example/release", 4);
    let genesis = KeyEvent::Root {
        roots: RootSet::new(vec![root.verifier()], 1).expect("roots"),
        reason: None,
    };
    let metrics = Arc::new(Metrics::default());
    let log = Log::create(
        "bench.example",
        &log_keys,
        Arc::clone(&storage) as Arc<dyn Storage>,
        &signed(&genesis.to_text(), &[&root]),
        Arc::clone(&metrics),
    )
    .expect("create");
    let add = KeyEvent::Add {
        key: key.verifier(),
        scope: Scope::new("bench/*").expect("scope"),
        from: 0,
        reason: None,
    };
    let out = log.sequence(vec![Submission::new(
        LogKind::Keys,
        signed(&add.to_text(), &[&root]),
    )]);
    assert!(matches!(out[..], [Outcome::Logged { .. }]), "{out:?}");

    println!(
        "| log size | batches x entries | mean ms per batch (Log::sequence) | p50 | p90 | mean commit ms (cairn_commit_seconds) | entries/s |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let mut next = 0usize;
    let signing = Instant::now();
    let mut signing_time = Duration::ZERO;
    assert!(
        batch * window < small && small < large,
        "window larger than a size"
    );
    for target in [small, large] {
        // Fill in chunks, so that at most one chunk of signed entries waits in memory.
        while next < target - batch * window {
            let end = (next + 25 * FILL_BATCH).min(target - batch * window);
            let started = Instant::now();
            let fill: Vec<Vec<u8>> = (next..end).map(|i| release(&key, i)).collect();
            signing_time += started.elapsed();
            next = end;
            sequence(&log, fill, FILL_BATCH);
        }
        let started = Instant::now();
        let measured: Vec<Vec<u8>> = (next..target).map(|i| release(&key, i)).collect();
        signing_time += started.elapsed();
        next = target;
        let (sum_before, count_before) = commit_seconds(&metrics);
        let started = Instant::now();
        let mut times = sequence(&log, measured, batch);
        let elapsed = started.elapsed();
        let (sum_after, count_after) = commit_seconds(&metrics);
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        times.sort();
        let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!(
            "| {} | {} x {batch} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
            target,
            window,
            ms(mean),
            ms(pick(0.5)),
            ms(pick(0.9)),
            (sum_after - sum_before) * 1000.0 / (count_after - count_before).max(1) as f64,
            (batch * window) as f64 / elapsed.as_secs_f64(),
        );
    }
    let total = signing.elapsed();
    if let Some(e) = storage.wait_for_repack() {
        panic!("background repack failed: {e}");
    }
    drop(log);
    drop(storage);
    let before = disk_usage(&path);
    let repack = Command::new("git")
        .arg("-C")
        .arg(&path)
        .args(["repack", "-a", "-d", "-q"])
        .status()
        .expect("git repack");
    assert!(repack.success(), "git repack -a -d failed");
    let after = disk_usage(&path);
    println!(
        "\nRepository at {large} entries: {:.1} MiB after the run ({:.0} bytes per entry), \
         {:.1} MiB after `git repack -a -d` ({:.0} bytes per entry). Total {:.0} s, of which \
         signing {:.0} s.",
        before as f64 / (1 << 20) as f64,
        before as f64 / large as f64,
        after as f64 / (1 << 20) as f64,
        after as f64 / large as f64,
        total.as_secs_f64(),
        signing_time.as_secs_f64(),
    );
}

/// Bytes on disk below `path`, as `du -sb` would count allocated blocks (`du -s` in 512-byte
/// blocks).
fn disk_usage(path: &Path) -> u64 {
    let out = Command::new("du")
        .arg("-sk")
        .arg(path)
        .output()
        .expect("du");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|k| k.parse::<u64>().ok())
        .map_or(0, |k| k * 1024)
}
