//! Monitor and mirror benchmark (issue 6): how fast `cairn monitor` audits a log of 1,000,000
//! entries, compared with the raw Ed25519 verification rate of the same machine, and how fast
//! `cairn mirror` copies 100,000 entries over HTTP and from a git repository.
//!
//! Run (release build; docs/performance.md, "Monitor" and "Mirror", records the results):
//!
//! ```text
//! cargo build --release -p cairn-cli
//! cargo bench -p cairn-tests --bench monitor -- --cairn target/release/cairn
//! ```
//!
//! Options (after `--`): `--cairn PATH` (default `target/release/cairn`), `--entries N` (audited
//! log, default 1,000,000), `--mirror-entries N` (default 100,000), `--threads 1,2` (monitor runs,
//! one per number). Needs `git`. Under `cargo test --benches` it only prints that it was skipped.
//!
//! What it does:
//! 1. Signs N release entries with a release key (on every core), and builds both logs' tlog-tiles
//!    directories with the verifier's own code: the key log (genesis root event, the release
//!    key's `add`), the release log (hash tiles of every level, entry bundles), checkpoints signed
//!    by the log key. Nothing of this is timed.
//! 2. Serves the directory with `cairn serve --mirror DIR` on loopback, writes a trust policy with
//!    `cairn trust init`, and times `cairn monitor --once --threads T` from an empty state, for
//!    each T. The run must end with exactly the two `key-event` alerts (every entry is valid).
//! 3. Times raw Ed25519 verification (the verifier's strict check) of the same entries' signatures
//!    on 1 and 2 threads: the ceiling the audit is compared with.
//! 4. For the first M entries: a second directory served the same way, and a `git` repository of
//!    it (one commit, branch `main`); times `cairn mirror --once` from each into an empty
//!    directory and checks the copy's checkpoint.

#![allow(clippy::print_stdout, reason = "the report is the output")]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use cairn_tests::fixtures::{add_key_event, genesis, sign};
use cairn_verifier::checkpoint::Checkpoint;
use cairn_verifier::entry::{FileName, FileRef, Release, ReleaseName, Sha256Digest, Version};
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::{Ed25519Signer, KeyName, Note, NoteVerifier as _};
use cairn_verifier::tile::{
    EntryBundle, TILE_HEIGHT, encode_entry_bundle, read_tile_data, tiles_for_size,
};

const PREFIX: &str = "bench.example/log";

type Result<T, E = String> = std::result::Result<T, E>;

#[derive(Debug)]
struct Options {
    cairn: PathBuf,
    entries: usize,
    mirror_entries: usize,
    threads: Vec<usize>,
}

fn parse_options() -> Result<Option<Options>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return Ok(None);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?
        .to_path_buf();
    let mut o = Options {
        cairn: root.join("target/release/cairn"),
        entries: 1_000_000,
        mirror_entries: 100_000,
        threads: vec![1, 2],
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--cairn" => {
                let p = PathBuf::from(value()?);
                o.cairn = if p.is_file() { p } else { root.join(p) };
            }
            "--entries" => o.entries = value()?.parse().map_err(|e| format!("--entries: {e}"))?,
            "--mirror-entries" => {
                o.mirror_entries = value()?
                    .parse()
                    .map_err(|e| format!("--mirror-entries: {e}"))?;
            }
            "--threads" => {
                o.threads = value()?
                    .split(',')
                    .map(|t| t.parse().map_err(|e| format!("--threads: {e}")))
                    .collect::<Result<_>>()?;
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !o.cairn.is_file() {
        return Err(format!(
            "{} does not exist: cargo build --release -p cairn-cli",
            o.cairn.display()
        ));
    }
    Ok(Some(o))
}

fn main() {
    cairn_tests::bench_main("monitor", parse_options, run);
}

fn signer(name: &str, byte: u8) -> Ed25519Signer {
    Ed25519Signer::from_seed(KeyName::new(name).expect("key name"), [byte; 32])
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `n` distinct releases signed by `key`, on every core.
fn releases(n: usize, key: &Ed25519Signer) -> Vec<Vec<u8>> {
    let threads = cores();
    let per = n.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .step_by(per)
            .map(|start| {
                s.spawn(move || {
                    (start..(start + per).min(n))
                        .map(|i| {
                            let text = Release::new(
                                ReleaseName::new("bench/app").expect("name"),
                                Version::new(&format!("1.{i}")).expect("version"),
                                vec![FileRef {
                                    digest: Sha256Digest::of(&(i as u64).to_be_bytes()),
                                    size: 1 << 20,
                                    file_name: FileName::new("app.img").expect("file"),
                                }],
                                Vec::new(),
                            )
                            .expect("release")
                            .to_text();
                            sign(&text, &[key])
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    })
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    std::fs::write(path, data).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes one log's tlog-tiles layout (tiles, bundles, checkpoint) under `dir/<name>/`.
fn write_log(dir: &Path, name: &str, entries: &[Vec<u8>], log_key: &Ed25519Signer) -> Result<()> {
    let mut tree = MemoryTree::new();
    for e in entries {
        tree.append(e);
    }
    let n = entries.len() as u64;
    let base = dir.join(name);
    for tile in tiles_for_size(TILE_HEIGHT, n).map_err(|e| e.to_string())? {
        let data = read_tile_data(&tile, &tree).map_err(|e| e.to_string())?;
        write(&base.join(tile.path()), &data)?;
    }
    let mut at = 0u64;
    while at < n {
        let b = EntryBundle::for_entry(TILE_HEIGHT, at, n).map_err(|e| e.to_string())?;
        let first = b.first_entry() as usize;
        let data = encode_entry_bundle(&entries[first..first + usize::from(b.width())])
            .map_err(|e| e.to_string())?;
        write(&base.join(b.path()), &data)?;
        at = b.first_entry() + u64::from(b.width());
    }
    let origin = format!("{PREFIX}/{name}");
    let text = Checkpoint::new(origin.clone(), n, tree.root())
        .to_text()
        .map_err(|e| e.to_string())?;
    let key = log_key.with_name(KeyName::new(&origin).map_err(|e| e.to_string())?);
    let note = Note::sign(&text, &[&key]).map_err(|e| e.to_string())?;
    write(&base.join("checkpoint"), &note.to_bytes())
}

/// A running `cairn serve --mirror DIR`, killed on drop.
struct Served(Child, String);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(cairn: &Path, dir: &Path) -> Result<Served> {
    let mut child = Command::new(cairn)
        .args(["serve", "--mirror-dir"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning cairn serve: {e}"))?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines
            .next()
            .ok_or("cairn serve --mirror exited before listening")?
            .map_err(|e| e.to_string())?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Served(child, url))
}

fn cairn(cairn: &Path, args: &[&str]) -> Result<std::process::Output> {
    Command::new(cairn)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running cairn {args:?}: {e}"))
}

fn trust(bin: &Path, state: &Path, url: &str, log: &Ed25519Signer, root: &str) -> Result<()> {
    let out = cairn(
        bin,
        &[
            "trust",
            "init",
            "--state",
            &state.display().to_string(),
            "--log",
            url,
            "--log-key",
            &log.verifier().to_vkey(),
            "--root-key",
            root,
            "--threshold",
            "1",
        ],
    )?;
    if !out.status.success() {
        return Err(format!(
            "trust init: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Raw strict Ed25519 verifications per second of the entries' signatures on `threads` threads.
fn raw_ed25519(entries: &[Vec<u8>], key: &Ed25519Signer, threads: usize) -> f64 {
    let verifier = key.verifier();
    let parsed: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|e| {
            let note = Note::parse(e).expect("note");
            (
                note.text().to_owned(),
                note.signatures()[0].signature.clone(),
            )
        })
        .collect();
    let per = parsed.len().div_ceil(threads);
    let started = Instant::now();
    std::thread::scope(|s| {
        for chunk in parsed.chunks(per) {
            let verifier = &verifier;
            s.spawn(move || {
                for (text, sig) in chunk {
                    assert!(verifier.verify(text.as_bytes(), sig), "signature verifies");
                }
            });
        }
    });
    parsed.len() as f64 / started.elapsed().as_secs_f64()
}

fn run(o: &Options) -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let root = signer("bench.example/root", 1);
    let release = signer("bench.example/release", 2);
    let log_key = signer(PREFIX, 3);
    println!("## Setup\n");
    println!("- cairn: `{}`", o.cairn.display());
    println!("- cores: {}", cores());
    let t = Instant::now();
    let entries = releases(o.entries, &release);
    println!(
        "- signed {} releases in {:.1} s",
        entries.len(),
        t.elapsed().as_secs_f64()
    );
    let keys = vec![
        genesis(&[&root], 1, &[&root]),
        sign(&add_key_event(&release, "bench/*", 0), &[&root]),
    ];
    let root_vkey = root.verifier().to_vkey();

    // The audited log.
    let big = tmp.path().join("big");
    let t = Instant::now();
    write_log(&big, "keys", &keys, &log_key)?;
    write_log(&big, "releases", &entries, &log_key)?;
    println!(
        "- wrote the {}-entry log's tiles in {:.1} s\n",
        entries.len(),
        t.elapsed().as_secs_f64()
    );
    let server = serve(&o.cairn, &big)?;

    println!("## Monitor: audit of {} entries\n", entries.len());
    println!("| threads | seconds | entries/s |");
    println!("|---|---|---|");
    let mut audit_rates = Vec::new();
    for &threads in &o.threads {
        let state = tmp.path().join(format!("monitor-{threads}"));
        trust(&o.cairn, &state, &server.1, &log_key, &root_vkey)?;
        let t = Instant::now();
        let out = cairn(
            &o.cairn,
            &[
                "monitor",
                "--once",
                "--state",
                &state.display().to_string(),
                "--threads",
                &threads.to_string(),
            ],
        )?;
        let secs = t.elapsed().as_secs_f64();
        let alerts = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = alerts.lines().collect();
        if out.status.code() != Some(3)
            || lines.len() != 2
            || !lines.iter().all(|l| l.contains("\"key-event\""))
        {
            return Err(format!(
                "monitor run ({threads} threads): exit {:?}, alerts:\n{alerts}\nstderr:\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let rate = entries.len() as f64 / secs;
        audit_rates.push((threads, rate));
        println!("| {threads} | {secs:.1} | {rate:.0} |");
    }

    println!("\n## Raw Ed25519 (strict) verification of the same signatures\n");
    println!("| threads | verifications/s |");
    println!("|---|---|");
    let sample = &entries[..entries.len().min(200_000)];
    for &threads in &o.threads {
        let rate = raw_ed25519(sample, &release, threads);
        println!("| {threads} | {rate:.0} |");
        if let Some((_, audit)) = audit_rates.iter().find(|(t, _)| *t == threads) {
            println!("|   | audit / raw = {:.2} |", audit / rate);
        }
    }
    drop(server);

    // Mirror.
    let m = o.mirror_entries.min(entries.len());
    let small = tmp.path().join("small");
    write_log(&small, "keys", &keys, &log_key)?;
    write_log(&small, "releases", &entries[..m], &log_key)?;
    let git_dir = tmp.path().join("small-git");
    let status = Command::new("cp")
        .arg("-a")
        .arg(&small)
        .arg(&git_dir)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("cp failed".into());
    }
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["add", "-A"],
        vec![
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example",
            "commit",
            "-qm",
            "cairn: bench",
        ],
    ] {
        let st = Command::new("git")
            .args(&args)
            .current_dir(&git_dir)
            .status()
            .map_err(|e| format!("git: {e}"))?;
        if !st.success() {
            return Err(format!("git {args:?} failed"));
        }
    }
    let server = serve(&o.cairn, &small)?;
    println!("\n## Mirror: sync of {m} entries into an empty directory\n");
    println!("| from | seconds | entries/s |");
    println!("|---|---|---|");
    let expected = std::fs::read(small.join("releases/checkpoint")).map_err(|e| e.to_string())?;
    for (what, from) in [
        ("HTTP (`cairn serve --mirror`)", server.1.clone()),
        (
            "git+file:// (gix fetch)",
            format!("git+file://{}", git_dir.join(".git").display()),
        ),
    ] {
        let state = tmp.path().join(format!("mirror-state-{}", what.len()));
        trust(&o.cairn, &state, &server.1, &log_key, &root_vkey)?;
        let to = tmp.path().join(format!("mirror-{}", what.len()));
        let t = Instant::now();
        let out = cairn(
            &o.cairn,
            &[
                "mirror",
                "--once",
                "--state",
                &state.display().to_string(),
                "--upstream",
                &from,
                "--mirror-dir",
                &to.display().to_string(),
            ],
        )?;
        let secs = t.elapsed().as_secs_f64();
        if !out.status.success() {
            return Err(format!(
                "mirror from {what}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let got = std::fs::read(to.join("releases/checkpoint")).map_err(|e| e.to_string())?;
        if got != expected {
            return Err(format!("mirror from {what}: the copy's checkpoint differs"));
        }
        println!("| {what} | {secs:.1} | {:.0} |", m as f64 / secs);
    }
    Ok(())
}
