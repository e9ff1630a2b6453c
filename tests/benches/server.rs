//! Log server benchmark (issue 3): append throughput and latency of `POST /releases/add`, and tile
//! GET throughput of `cairn serve` against nginx serving a `git clone` of the same repository.
//!
//! Run (release build, loopback, one run; docs/performance.md, "Log server", records the results):
//!
//! ```text
//! cargo build --release -p cairn-cli
//! cargo bench -p cairn-tests --bench server -- --cairn target/release/cairn
//! ```
//!
//! Options (after `--`): `--cairn PATH` (default `target/release/cairn` of this workspace; a
//! relative path is also looked up from the workspace root),
//! `--entries N` (entries per append phase, default 20,000), `--clients 1,64` (one append phase per
//! number, in order), `--phase-seconds S` (an append phase also stops after S seconds, default 60),
//! `--get-seconds S` (per wrk run, default 10), `--get-rounds R` (alternating runs per server,
//! default 3), `--get-connections N` (default 64),
//! `--serve-arg ARG` (repeatable; appended to the `cairn serve` command line, e.g. a batch interval),
//! `--init-arg ARG` (repeatable; appended to `cairn init`, e.g. `--init-arg --log-key --init-arg
//! pkcs11:...` for a log key in an HSM; the environment, such as `SOFTHSM2_CONF`, is inherited),
//! `--witnesses N` (start N `cairn witness` processes on loopback for the log and pass them to
//! `cairn serve --witness`: every checkpoint is then cosigned, and every `add` waits for it).
//! `--no-gets` stops after the durability check (appends only). Needs `git`, and for the GETs `nginx`
//! and `wrk`, on `PATH`. Under `cargo test --benches` (no `--bench` argument) it
//! only prints that it was skipped: it needs a release build of the binary.
//!
//! What it does:
//! 1. `cairn init` a temporary data directory with a genesis root event signed by a fresh root key;
//!    `cairn serve --listen 127.0.0.1:0 --rate-limit-address 0 --rate-limit-key 0`; adds a release
//!    key through `POST /keys/add`.
//! 2. Signs every release of every phase before anything is timed (distinct versions, so each is a
//!    new entry).
//! 3. Per append phase: C client threads, each with its own keep-alive connection, each sending its
//!    next entry when the previous one is answered. Every answer must be `200` with a `.tlog-proof`;
//!    after the phase every proof is verified (log signature on the checkpoint, the entry in the
//!    `extra` line, inclusion) and indexes must be distinct. `/metrics` is read before and after.
//! 4. Durability: the server is killed with SIGKILL and restarted from the data directory; every
//!    acknowledged entry must be served at its acknowledged index. Commits and repository size are
//!    read with real git.
//! 5. GETs: `git clone` of the repository, served by nginx (own config, loopback, static files); every
//!    tile and entry-bundle path of the clone must be byte-identical from both servers and on disk;
//!    then wrk loads both with the same path list and concurrency.

#![allow(clippy::print_stdout, reason = "the report is the output")]

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::entry::{
    FileName, FileRef, KeyEvent, Reason, Release, ReleaseName, RootSet, Scope, Sha256Digest,
    Version,
};
use cairn_verifier::hash::leaf_hash;
use cairn_verifier::merkle::verify_inclusion;
use cairn_verifier::note::{Ed25519Signer, Ed25519Verifier, KeyName, Note};
use cairn_verifier::tlog_proof::TlogProof;

const ORIGIN: &str = "bench.example/log";
const RELEASE_NAME: &str = "bench/app";

type Result<T, E = String> = std::result::Result<T, E>;

#[derive(Debug)]
struct Options {
    cairn: PathBuf,
    entries: usize,
    clients: Vec<usize>,
    phase_seconds: u64,
    get_seconds: u64,
    get_connections: usize,
    get_rounds: usize,
    serve_args: Vec<String>,
    init_args: Vec<String>,
    witnesses: usize,
    /// Skip step 5 (tile GETs against nginx): for measuring appends only.
    no_gets: bool,
}

fn parse_options() -> Result<Option<Options>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return Ok(None);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned();
    let mut options = Options {
        cairn: workspace.join("target/release/cairn"),
        entries: 20_000,
        clients: vec![1, 64],
        phase_seconds: 60,
        get_seconds: 10,
        get_connections: 64,
        get_rounds: 3,
        serve_args: Vec::new(),
        init_args: Vec::new(),
        witnesses: 0,
        no_gets: false,
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match arg.as_str() {
            "--bench" => {}
            "--cairn" => options.cairn = PathBuf::from(value()?),
            "--entries" => options.entries = number(value()?)?,
            "--clients" => {
                options.clients = value()?
                    .split(',')
                    .map(|c| number(c.to_owned()))
                    .collect::<Result<_>>()?;
            }
            "--phase-seconds" => options.phase_seconds = number(value()?)? as u64,
            "--get-seconds" => options.get_seconds = number(value()?)? as u64,
            "--get-connections" => options.get_connections = number(value()?)?,
            "--no-gets" => options.no_gets = true,
            "--get-rounds" => options.get_rounds = number(value()?)?.max(1),
            "--serve-arg" => options.serve_args.push(value()?),
            "--init-arg" => options.init_args.push(value()?),
            "--witnesses" => options.witnesses = number(value()?)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    // `cargo bench` runs this from the package directory: read a relative path from the
    // workspace root, where the command was most likely typed.
    if options.cairn.is_relative() && !options.cairn.exists() {
        options.cairn = workspace.join(&options.cairn);
    }
    Ok(Some(options))
}

fn main() {
    cairn_tests::bench_main("server", parse_options, run);
}

fn signer(name: &str, byte: u8) -> Ed25519Signer {
    Ed25519Signer::from_seed(KeyName::new(name).expect("key name"), [byte; 32])
}

fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    let tmp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let data = tmp.path().join("data");
    let mut report = String::new();
    let _ = writeln!(report, "## Setup\n");
    let _ = writeln!(report, "- cairn: `{}`", options.cairn.display());
    let _ = writeln!(report, "- serve args: `{}`", options.serve_args.join(" "));
    let _ = writeln!(report, "- load average at start: {}", loadavg());
    for (what, cmd) in [
        ("git", vec!["git", "--version"]),
        ("nginx", vec!["nginx", "-v"]),
        ("wrk", vec!["wrk", "--version"]),
    ] {
        let out = Command::new(cmd[0]).args(&cmd[1..]).output();
        let text = out
            .map(|o| {
                let all = [o.stdout, o.stderr].concat();
                String::from_utf8_lossy(&all)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_else(|e| format!("not found: {e}"));
        let _ = writeln!(report, "- {what}: {}", text.trim());
    }

    // 1. A log with one root key and one release key.
    let root = signer("bench.example/root", 1);
    let release_key = signer("bench.example/release", 2);
    let genesis = Note::sign(
        &KeyEvent::Root {
            roots: RootSet::new(vec![root.verifier()], 1).map_err(|e| e.to_string())?,
            reason: Some(Reason::new("benchmark genesis").map_err(|e| e.to_string())?),
        }
        .to_text(),
        &[&root],
    )
    .map_err(|e| e.to_string())?
    .to_bytes();
    let genesis_path = tmp.path().join("genesis.note");
    std::fs::write(&genesis_path, &genesis).map_err(|e| e.to_string())?;
    let init = Command::new(&options.cairn)
        .arg("init")
        .arg("--data")
        .arg(&data)
        .args(["--origin", ORIGIN, "--genesis"])
        .arg(&genesis_path)
        .args(&options.init_args)
        .output()
        .map_err(|e| format!("running {}: {e}", options.cairn.display()))?;
    if !init.status.success() {
        return Err(format!(
            "cairn init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        ));
    }
    // `cairn init` prints the per-origin keys: the release log's, then the key log's.
    let printed = String::from_utf8_lossy(&init.stdout).into_owned();
    let vkeys: Vec<String> = printed.lines().map(str::to_owned).collect();
    let [log_vkey, keys_vkey] = vkeys.as_slice() else {
        return Err(format!(
            "cairn init printed {printed:?}, not two verifier keys"
        ));
    };
    let (log_vkey, keys_vkey) = (log_vkey.clone(), keys_vkey.clone());
    let log_verifier =
        Ed25519Verifier::from_vkey(&log_vkey).map_err(|e| format!("log vkey {log_vkey:?}: {e}"))?;

    // Witnesses, if asked for: real `cairn witness` processes for both origins.
    let mut witnesses = Vec::new();
    let mut serve_args = options.serve_args.clone();
    for i in 0..options.witnesses {
        let w = signer(&format!("bench.example/witness{i}"), 10 + i as u8);
        let key = tmp.path().join(format!("witness{i}.key"));
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key)
                .map_err(|e| format!("{}: {e}", key.display()))?;
            writeln!(f, "{}", w.to_skey()).map_err(|e| e.to_string())?;
        }
        let vkey = cairn_verifier::cosignature::CosignatureSigner::from_signer(w)
            .verifier()
            .to_vkey();
        let args: Vec<String> = vec![
            "witness".into(),
            "--key".into(),
            key.display().to_string(),
            "--data".into(),
            tmp.path().join(format!("witness{i}")).display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--log".into(),
            format!("{ORIGIN}/releases"),
            log_vkey.clone(),
            "--log".into(),
            format!("{ORIGIN}/keys"),
            keys_vkey.clone(),
        ];
        let witness = Server::spawn(options, &args, tmp.path(), &format!("witness{i}"))?;
        serve_args.extend([
            "--witness".to_owned(),
            format!("w{i}"),
            vkey,
            witness.url.clone(),
        ]);
        witnesses.push(witness);
    }
    let _ = writeln!(report, "- witnesses: {}", options.witnesses);
    let mut server = Server::start(options, &serve_args, &data, tmp.path(), "serve-1")?;
    let add_key = Note::sign(
        &KeyEvent::Add {
            key: release_key.verifier(),
            scope: Scope::new("bench/*").map_err(|e| e.to_string())?,
            from: 0,
            reason: None,
        }
        .to_text(),
        &[&root],
    )
    .map_err(|e| e.to_string())?
    .to_bytes();
    let (status, body) = post(&agent(), &format!("{}/keys/add", server.url), &add_key)?;
    if status != 200 {
        return Err(format!(
            "adding the release key: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }

    // 2. Every entry of every phase, signed before anything is timed.
    let sign_started = Instant::now();
    let phases: Vec<Vec<Vec<u8>>> = options
        .clients
        .iter()
        .enumerate()
        .map(|(phase, _)| {
            (0..options.entries)
                .map(|i| release_entry(&release_key, phase, i))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
    let entry_sizes: Vec<usize> = phases.iter().flatten().map(Vec::len).collect();
    let _ = writeln!(
        report,
        "- pre-signed {} releases in {:.2} s (entry size {}..{} bytes)",
        entry_sizes.len(),
        sign_started.elapsed().as_secs_f64(),
        entry_sizes.iter().min().unwrap_or(&0),
        entry_sizes.iter().max().unwrap_or(&0)
    );

    // 3. Append phases.
    let _ = writeln!(report, "\n## Appends (`POST /releases/add`)\n");
    let _ = writeln!(
        report,
        "| clients | entries acknowledged | failures | seconds | entries/s | p50 ms | p99 ms | max ms | batches | entries/batch | mean commit ms (server) | server CPU s per 1,000 entries | git repack CPU s per 1,000 entries | proofs verified |"
    );
    let _ = writeln!(
        report,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut acknowledged: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut failures_total = 0usize;
    let mut notes = String::new();
    for (phase, &clients) in options.clients.iter().enumerate() {
        let before = server.metrics()?;
        let cpu_before = server.cpu_seconds()?;
        let reader = Reader::start(&server.url);
        let result = append_phase(
            &server.url,
            &phases[phase],
            clients,
            Duration::from_secs(options.phase_seconds),
        );
        let reads = reader.stop();
        let cpu_after = server.cpu_seconds()?;
        let (cpu, git_cpu) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
        let after = server.metrics()?;
        let batches = after.get("cairn_batches_committed_total")
            - before.get("cairn_batches_committed_total");
        let sequenced = after.get("cairn_entries_sequenced_total{log=\"releases\"}")
            - before.get("cairn_entries_sequenced_total{log=\"releases\"}");
        let commit_sum =
            after.get("cairn_commit_seconds_sum") - before.get("cairn_commit_seconds_sum");
        let commit_count =
            after.get("cairn_commit_seconds_count") - before.get("cairn_commit_seconds_count");
        let verified = verify_proofs(&result.answers, &phases[phase], &log_verifier)?;
        let ok = result.answers.len();
        let mut latencies = result.latencies.clone();
        latencies.sort_unstable();
        let _ = writeln!(
            report,
            "| {clients} | {ok} | {} | {:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {batches:.0} | {:.1} | {:.1} | {:.3} | {:.3} | {verified} |",
            result.failures.len(),
            result.elapsed.as_secs_f64(),
            ok as f64 / result.elapsed.as_secs_f64(),
            percentile_ms(&latencies, 50.0),
            percentile_ms(&latencies, 99.0),
            percentile_ms(&latencies, 100.0),
            sequenced / batches.max(1.0),
            1000.0 * commit_sum / commit_count.max(1.0),
            1000.0 * cpu / (ok.max(1) as f64),
            1000.0 * git_cpu / (ok.max(1) as f64),
        );
        let _ = writeln!(
            notes,
            "- {clients} client(s): load average after the phase {}",
            loadavg()
        );
        if options.witnesses > 0 {
            // How many answers carried a proof whose checkpoint every witness had cosigned.
            let fully_cosigned = result
                .answers
                .iter()
                .filter(|(_, _, proof)| {
                    TlogProof::parse(proof)
                        .ok()
                        .and_then(|p| Note::parse(&p.checkpoint).ok())
                        .is_some_and(|n| n.signatures().len() > options.witnesses)
                })
                .count();
            let republished = after.get("cairn_cosigned_checkpoints_published_total")
                - before.get("cairn_cosigned_checkpoints_published_total");
            let _ = writeln!(
                notes,
                "- {clients} client(s): {fully_cosigned} of {ok} proofs carry all {} cosignatures; \
                 {republished:.0} cosigned checkpoints committed to the branch for {batches:.0} batches",
                options.witnesses
            );
        }
        let _ = writeln!(
            notes,
            "  - meanwhile one reader fetched `/releases/checkpoint` every 5 ms, {} times: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} failed)",
            reads.latencies.len(),
            percentile_ms(&reads.latencies, 50.0),
            percentile_ms(&reads.latencies, 99.0),
            percentile_ms(&reads.latencies, 100.0),
            reads.failures
        );
        for f in result.failures.iter().take(5) {
            let _ = writeln!(notes, "  - failure: {f}");
        }
        failures_total += result.failures.len();
        for (entry, index, _) in &result.answers {
            acknowledged.push((*index, phases[phase][*entry].clone()));
        }
        print!("{report}");
        report.clear();
        let _ = std::io::stdout().flush();
    }
    print!("\n{notes}");
    let distinct: HashSet<u64> = acknowledged.iter().map(|(i, _)| *i).collect();
    if distinct.len() != acknowledged.len() {
        return Err("two acknowledged entries share an index".to_owned());
    }

    // 4. Durability: SIGKILL, restart, every acknowledged entry at its index.
    let final_metrics = server.metrics()?;
    let repo = data.join("repo.git");
    let commits = git_output(&repo, &["rev-list", "--count", "main"])?;
    let packs_before_kill = count_packs(&repo);
    server.kill();
    let server = Server::start(options, &serve_args, &data, tmp.path(), "serve-2")?;
    let checked = check_after_restart(&server.url, &acknowledged)?;
    let _ = writeln!(report, "\n## Durability\n");
    let _ = writeln!(
        report,
        "- batches committed (`cairn_batches_committed_total`): {}; commits on `main` (git rev-list --count, incl. init and key add): {}",
        final_metrics.get("cairn_batches_committed_total"),
        commits.trim()
    );
    let _ = writeln!(
        report,
        "- acknowledged entries: {} (failures: {failures_total}); after SIGKILL and restart, {checked} checked at their acknowledged index: all present",
        acknowledged.len()
    );
    let _ = writeln!(
        report,
        "- repository after the run: {} bytes ({}), {packs_before_kill} packs",
        dir_size(&repo),
        human(dir_size(&repo))
    );

    if options.no_gets {
        let _ = writeln!(report, "\n(tile GETs skipped: --no-gets)");
        print!("{report}");
        drop(server);
        if failures_total > 0 {
            return Err(format!("{failures_total} submissions failed"));
        }
        return Ok(());
    }

    // 5. GETs: nginx over a clone versus cairn serve.
    let www = tmp.path().join("www");
    let clone = Command::new("git")
        .args(["clone", "--quiet"])
        .arg(&repo)
        .arg(&www)
        .output()
        .map_err(|e| format!("git clone: {e}"))?;
    if !clone.status.success() {
        return Err(format!(
            "git clone: {}",
            String::from_utf8_lossy(&clone.stderr)
        ));
    }
    let mut paths = Vec::new();
    for log in ["releases", "keys"] {
        collect_files(&www, &www.join(log).join("tile"), &mut paths)?;
    }
    paths.sort();
    let nginx = Nginx::start(tmp.path(), &www)?;
    let identical = compare_servers(&paths, &www, &server.url, &nginx.url)?;
    let _ = writeln!(
        report,
        "\n## Tile GETs (wrk, {} connections, 2 threads, {} alternating rounds of {} s per server)\n",
        options.get_connections, options.get_rounds, options.get_seconds
    );
    let _ = writeln!(
        report,
        "{identical} paths (every tile and entry bundle in the clone) byte-identical from cairn serve, nginx and the clone.\n"
    );
    let _ = writeln!(
        report,
        "| paths | server | requests/s, median run (all runs) | MB/s | p50 ms | p99 ms | non-200 | socket errors |"
    );
    let _ = writeln!(report, "|---|---|---:|---:|---:|---:|---:|---:|");
    let bundles: Vec<String> = paths
        .iter()
        .filter(|p| p.contains("/tile/entries/"))
        .cloned()
        .collect();
    let hashes: Vec<String> = paths
        .iter()
        .filter(|p| !p.contains("/tile/entries/"))
        .cloned()
        .collect();
    let lua = tmp.path().join("paths.lua");
    std::fs::write(&lua, WRK_SCRIPT).map_err(|e| e.to_string())?;
    for (label, list) in [
        ("all tiles and bundles", &paths),
        ("hash tiles", &hashes),
        ("entry bundles", &bundles),
    ] {
        let list_path = tmp.path().join("paths.txt");
        std::fs::write(&list_path, list.join("\n") + "\n").map_err(|e| e.to_string())?;
        // The machine is shared: alternate the two servers, several rounds, and report the
        // run with the median throughput of each, so that a burst of someone else's load
        // does not land on one server only.
        let servers = [("nginx", &nginx.url), ("cairn serve", &server.url)];
        let mut runs: [Vec<WrkResult>; 2] = [Vec::new(), Vec::new()];
        for round in 0..options.get_rounds {
            for (s, (_, url)) in servers.iter().enumerate() {
                if round == 0 {
                    // Warm-up, not reported.
                    wrk(url, &lua, &list_path, options.get_connections, 2)?;
                }
                runs[s].push(wrk(
                    url,
                    &lua,
                    &list_path,
                    options.get_connections,
                    options.get_seconds,
                )?);
            }
        }
        for (s, (name, _)) in servers.iter().enumerate() {
            let runs = &mut runs[s];
            runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
            let all: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.rate())).collect();
            let r = &runs[runs.len() / 2];
            let _ = writeln!(
                report,
                "| {label} ({}) | {name} | {:.0} ({}) | {:.1} | {:.2} | {:.2} | {} | {} |",
                list.len(),
                r.rate(),
                all.join(", "),
                r.bytes / r.seconds / 1e6,
                r.p50_us / 1000.0,
                r.p99_us / 1000.0,
                runs.iter().map(|r| r.non_200).sum::<u64>(),
                runs.iter().map(|r| r.socket_errors).sum::<u64>(),
            );
        }
    }
    let _ = writeln!(
        report,
        "\nTotal benchmark time: {:.0} s; load average at the end: {}.",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    print!("{report}");
    drop(nginx);
    drop(server);
    if failures_total > 0 {
        return Err(format!("{failures_total} submissions failed"));
    }
    Ok(())
}

fn release_entry(key: &Ed25519Signer, phase: usize, i: usize) -> Result<Vec<u8>> {
    let err = |e: cairn_verifier::entry::EntryError| e.to_string();
    let file = |kind: &str, ext: &str| -> Result<FileRef> {
        Ok(FileRef {
            digest: Sha256Digest::of(format!("{kind} {phase} {i}").as_bytes()),
            size: 100_000_000 + i as u64,
            file_name: FileName::new(&format!("app-1.{phase}.{i}.{ext}")).map_err(err)?,
        })
    };
    let release = Release::new(
        ReleaseName::new(RELEASE_NAME).map_err(err)?,
        Version::new(&format!("1.{phase}.{i}")).map_err(err)?,
        vec![file("artifact", "img")?],
        vec![file("manifest", "spdx.json")?],
    )
    .map_err(err)?;
    Ok(Note::sign(&release.to_text(), &[key])
        .map_err(|e| e.to_string())?
        .to_bytes())
}

/// A client with a keep-alive connection. Every step of a call has a deadline, but there is no
/// global or resolve deadline: with one, ureq resolves the host of every call (even an IP literal
/// such as `127.0.0.1:PORT`) on a new thread, and 1,024 clients then spend more CPU creating and
/// tearing down threads than on HTTP (perf, issue 18).
fn agent() -> ureq::Agent {
    let limit = Some(Duration::from_secs(120));
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(limit)
        .timeout_send_request(limit)
        .timeout_send_body(limit)
        .timeout_recv_response(limit)
        .timeout_recv_body(limit)
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
    let mut response = agent
        .post(url)
        .header("Content-Type", "text/plain")
        .send(body)
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_vec()
        .map_err(|e| format!("POST {url}: reading the answer: {e}"))?;
    Ok((status, body))
}

fn get(agent: &ureq::Agent, url: &str) -> Result<(u16, Vec<u8>)> {
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .map_err(|e| format!("GET {url}: reading the answer: {e}"))?;
    Ok((status, body))
}

struct PhaseResult {
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// (position in the phase's entry list, index, proof bytes)
    answers: Vec<(usize, u64, Vec<u8>)>,
    failures: Vec<String>,
}

fn append_phase(url: &str, entries: &[Vec<u8>], clients: usize, limit: Duration) -> PhaseResult {
    let entries = Arc::new(entries.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let collected = Arc::new(Mutex::new((Vec::new(), Vec::new(), Vec::new())));
    let url = format!("{url}/releases/add");
    let started = Instant::now();
    let deadline = started + limit;
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (entries, next, collected, url) = (
                Arc::clone(&entries),
                Arc::clone(&next),
                Arc::clone(&collected),
                url.clone(),
            );
            std::thread::spawn(move || {
                let agent = agent();
                let (mut lat, mut ans, mut fail) = (Vec::new(), Vec::new(), Vec::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= entries.len() || Instant::now() >= deadline {
                        break;
                    }
                    let t = Instant::now();
                    match post(&agent, &url, &entries[i]) {
                        Ok((200, body)) => {
                            lat.push(t.elapsed());
                            match TlogProof::parse(&body) {
                                Ok(p) => ans.push((i, p.index, body)),
                                Err(e) => fail.push(format!("entry {i}: 200 without a proof: {e}")),
                            }
                        }
                        Ok((status, body)) => fail.push(format!(
                            "entry {i}: {status} {}",
                            String::from_utf8_lossy(&body).trim()
                        )),
                        Err(e) => fail.push(format!("entry {i}: {e}")),
                    }
                }
                let mut c = collected.lock().expect("no panics while holding the lock");
                c.0.extend(lat);
                c.1.extend(ans);
                c.2.extend(fail);
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let elapsed = started.elapsed();
    let (latencies, answers, failures) =
        std::mem::take(&mut *collected.lock().expect("threads are done"));
    PhaseResult {
        elapsed,
        latencies,
        answers,
        failures,
    }
}

/// One client reading the checkpoint every 5 ms while an append phase runs, to see whether reads
/// wait for commits.
struct Reader {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Reads>,
}

#[derive(Default)]
struct Reads {
    latencies: Vec<Duration>,
    failures: usize,
}

impl Reader {
    fn start(url: &str) -> Reader {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let url = format!("{url}/releases/checkpoint");
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let agent = agent();
            let mut reads = Reads::default();
            while !flag.load(Ordering::Relaxed) {
                let t = Instant::now();
                match get(&agent, &url) {
                    Ok((200, _)) => reads.latencies.push(t.elapsed()),
                    _ => reads.failures += 1,
                }
                // About 200 reads a second: enough to land inside every commit, too few to
                // take CPU from the appends.
                std::thread::sleep(Duration::from_millis(5));
            }
            reads.latencies.sort_unstable();
            reads
        });
        Reader { stop, thread }
    }

    fn stop(self) -> Reads {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Verifies every proof: checkpoint signed by the log, the entry in `extra`, inclusion.
fn verify_proofs(
    answers: &[(usize, u64, Vec<u8>)],
    entries: &[Vec<u8>],
    log: &Ed25519Verifier,
) -> Result<usize> {
    let origin = format!("{ORIGIN}/releases");
    for (i, index, body) in answers {
        let proof = TlogProof::parse(body).map_err(|e| format!("entry {i}: {e}"))?;
        if proof.extra.as_deref() != Some(&entries[*i][..]) {
            return Err(format!("entry {i}: the proof's extra is not the entry"));
        }
        let checkpoint = VerifiedCheckpoint::verify(&proof.checkpoint, &origin, log)
            .map_err(|e| format!("entry {i}: checkpoint: {e}"))?;
        verify_inclusion(
            &leaf_hash(&entries[*i]),
            *index,
            checkpoint.size(),
            &proof.proof,
            checkpoint.root(),
        )
        .map_err(|e| format!("entry {i} at {index}: inclusion: {e}"))?;
    }
    Ok(answers.len())
}

/// After a restart: every acknowledged entry (all of them) is the entry at its index.
fn check_after_restart(url: &str, acknowledged: &[(u64, Vec<u8>)]) -> Result<usize> {
    let agent = agent();
    let (status, checkpoint) = get(&agent, &format!("{url}/releases/checkpoint"))?;
    if status != 200 {
        return Err(format!("checkpoint after restart: {status}"));
    }
    let size: u64 = String::from_utf8_lossy(&checkpoint)
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .ok_or("checkpoint after restart has no size")?;
    let max = acknowledged.iter().map(|(i, _)| *i).max().unwrap_or(0);
    if !acknowledged.is_empty() && size <= max {
        return Err(format!(
            "after restart the log has {size} entries, but index {max} was acknowledged"
        ));
    }
    for (index, entry) in acknowledged {
        let (status, body) = get(&agent, &format!("{url}/releases/proof/{index}"))?;
        let proof = TlogProof::parse(&body).map_err(|e| format!("proof {index}: {status} {e}"))?;
        if proof.extra.as_deref() != Some(&entry[..]) {
            return Err(format!("after restart, index {index} holds another entry"));
        }
    }
    Ok(acknowledged.len())
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// A running `cairn serve`; killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(
        options: &Options,
        serve_args: &[String],
        data: &Path,
        logs: &Path,
        name: &str,
    ) -> Result<Server> {
        let mut args: Vec<String> = vec!["serve".into(), "--data".into()];
        args.push(data.display().to_string());
        args.extend(
            [
                "--listen",
                "127.0.0.1:0",
                "--rate-limit-address",
                "0",
                "--rate-limit-key",
                "0",
            ]
            .map(str::to_owned),
        );
        args.extend(serve_args.iter().cloned());
        Server::spawn(options, &args, logs, name)
    }

    /// Starts `cairn ARGS`, a command that prints `listening on http://ADDR` on stderr.
    fn spawn(options: &Options, args: &[String], logs: &Path, name: &str) -> Result<Server> {
        let mut child = Command::new(&options.cairn)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting cairn {}: {e}", args[0]))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let log_path = logs.join(format!("{name}.log"));
        let (tx, rx) = mpsc::channel();
        // Keep draining stderr for the whole run, or the server would block on a full pipe.
        std::thread::spawn(move || {
            let mut log = std::fs::File::create(log_path).ok();
            let mut tx = Some(tx);
            for line in BufReader::new(stderr)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if let Some(addr) = line.split("listening on http://").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.trim().to_owned());
                }
                if let Some(log) = &mut log {
                    let _ = writeln!(log, "{line}");
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(120))
            .map_err(|_| format!("cairn {} did not print its address", args[0]))?;
        Ok(Server {
            child,
            url: format!("http://{addr}"),
        })
    }

    fn metrics(&self) -> Result<Metrics> {
        let (status, body) = get(&agent(), &format!("{}/metrics", self.url))?;
        if status != 200 {
            return Err(format!("/metrics: {status}"));
        }
        let mut values = BTreeMap::new();
        for line in String::from_utf8_lossy(&body).lines() {
            if line.starts_with('#') {
                continue;
            }
            if let Some((name, value)) = line.rsplit_once(' ')
                && let Ok(v) = value.parse::<f64>()
            {
                values.insert(name.to_owned(), v);
            }
        }
        Ok(Metrics(values))
    }

    /// The server's own CPU time (user + system), and that of its finished children (the
    /// background `git repack` runs), in seconds.
    fn cpu_seconds(&self) -> Result<(f64, f64)> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .map_err(|e| format!("reading the server's /proc stat: {e}"))?;
        let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        // After the command name: state is field 3 of stat(5), utime 14, stime 15, and the
        // children's (waited for) cutime 16, cstime 17.
        let ticks = |n: usize| {
            fields
                .get(n - 3)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok((
            (ticks(14) + ticks(15)) / 100.0,
            (ticks(16) + ticks(17)) / 100.0,
        ))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Metrics(BTreeMap<String, f64>);

impl Metrics {
    fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }
}

/// nginx with its own configuration under `dir`, serving `root` on a loopback port.
struct Nginx {
    child: Child,
    url: String,
}

impl Nginx {
    fn start(dir: &Path, root: &Path) -> Result<Nginx> {
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(prefix.join("tmp")).map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        // Run as root, nginx hands requests to workers running as `nobody`, who cannot read a
        // private temporary directory: keep the workers' user.
        let user = if is_root { "user root;\n" } else { "" };
        let p = prefix.display();
        let config = format!(
            "{user}worker_processes auto;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  default_type application/octet-stream;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n\
               keepalive_requests 1000000;\n  open_file_cache max=10000 inactive=60s;\n\
               client_body_temp_path {p}/tmp/body;\n  proxy_temp_path {p}/tmp/proxy;\n  fastcgi_temp_path {p}/tmp/fastcgi;\n  uwsgi_temp_path {p}/tmp/uwsgi;\n  scgi_temp_path {p}/tmp/scgi;\n\
               server {{\n    listen 127.0.0.1:{port};\n    root {};\n    location / {{ }}\n  }}\n}}\n",
            root.display()
        );
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, config).map_err(|e| e.to_string())?;
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting nginx: {e}"))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let waited = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if waited.elapsed() > Duration::from_secs(20) {
                return Err(format!(
                    "nginx did not start; see {}",
                    prefix.join("error.log").display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Nginx {
            child,
            url: format!("http://{addr}"),
        })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGKILL of the master leaves workers; ask politely with `nginx -s quit` semantics.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn collect_files(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect_files(base, &path, out)?;
        } else {
            let rel = path.strip_prefix(base).map_err(|e| e.to_string())?;
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

fn compare_servers(paths: &[String], www: &Path, cairn: &str, nginx: &str) -> Result<usize> {
    let agent = agent();
    for path in paths {
        let disk = std::fs::read(www.join(path)).map_err(|e| format!("{path}: {e}"))?;
        for base in [cairn, nginx] {
            let (status, body) = get(&agent, &format!("{base}/{path}"))?;
            if status != 200 || body != disk {
                return Err(format!(
                    "{base}/{path}: status {status}, {} bytes, not the {} bytes of the clone",
                    body.len(),
                    disk.len()
                ));
            }
        }
    }
    Ok(paths.len())
}

const WRK_SCRIPT: &str = r#"
-- Each thread walks the path list round robin from its own offset.
local paths = {}
local counter = 1
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = "/" .. line end
  end
  counter = ((id or 0) * 7919) % #paths + 1
end
function request()
  local p = paths[counter]
  counter = counter % #paths + 1
  return wrk.format("GET", p)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT %d %d %d %d %d %.1f %.1f\n",
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50.0), latency:percentile(99.0)))
end
"#;

#[derive(Debug)]
struct WrkResult {
    requests: f64,
    seconds: f64,
    bytes: f64,
    non_200: u64,
    socket_errors: u64,
    p50_us: f64,
    p99_us: f64,
}

impl WrkResult {
    fn rate(&self) -> f64 {
        self.requests / self.seconds
    }
}

fn wrk(url: &str, lua: &Path, list: &Path, connections: usize, seconds: u64) -> Result<WrkResult> {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg("-s")
        .arg(lua)
        .arg(url)
        .arg("--")
        .arg(list)
        .output()
        .map_err(|e| format!("running wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("WRKRESULT "))
        .ok_or_else(|| {
            format!(
                "wrk printed no result: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let f: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(f64::NAN))
        .collect();
    if f.len() != 7 {
        return Err(format!("wrk result line {line:?}"));
    }
    Ok(WrkResult {
        requests: f[0],
        seconds: f[1] / 1e6,
        bytes: f[2],
        non_200: f[3] as u64,
        socket_errors: f[4] as u64,
        p50_us: f[5],
        p99_us: f[6],
    })
}

fn git_output(repo: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|e| format!("git {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn count_packs(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("objects/pack"))
        .map(|d| {
            d.filter_map(std::result::Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                .count()
        })
        .unwrap_or(0)
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(std::result::Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The 1, 5 and 15 minute load averages: the machine is shared, so say how busy it was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn human(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
