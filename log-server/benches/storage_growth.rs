//! Git storage growth and commit rate under a simulated sequencer.
//!
//! Run: `cargo bench -p cairn-log-server --bench storage_growth` (results go to stdout as a markdown
//! table; docs/performance.md, "Git storage growth", records them). Under `cargo test --benches` it
//! runs a tiny smoke version instead. Options after `--`: `--no-aggressive` skips the last column,
//! and a word (e.g. `single`) runs only the scenarios whose name contains it.
//!
//! The simulation writes what a tlog-tiles sequencer writes per batch, for the release log:
//! - entry bundles `releases/tile/entries/<N>[.p/<W>]` of ~330-byte signed-note entries (u16 length
//!   prefix each), the partial bundle rewritten by every batch;
//! - hash tiles `releases/tile/<L>/<N>[.p/<W>]` of random-looking 32-byte hashes at every level that
//!   has at least one hash, partial tiles rewritten by every batch;
//! - once a tile is full, the full tile is written and its `N.p/` directory of partial tiles deleted
//!   (tlog-tiles allows deleting partial tiles once the full tile exists);
//! - `releases/checkpoint` and `keys/checkpoint` (~300 bytes: note, log signature, two witness
//!   cosignatures, all fresh per batch) and `releases/update-latest.txt`;
//! - a commit message carrying both checkpoints.
//!
//! Hashes are pseudo-random but deterministic per (level, index), so a partial tile is a prefix of
//! its later versions, as in a real log. The tile math is deliberately simple and self-contained.

#![allow(clippy::print_stdout, reason = "the report is the output")]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use base64::Engine as _;
use cairn_log_server::storage::{Change, CommitId, GitOptions, GitStorage, RepackPolicy, Storage};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not. After `--`:
    // `--no-aggressive` skips the last column (a quarter of an hour on the single-entry log), and
    // any other word runs only the scenarios whose name contains it (e.g. `single`).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|arg| arg == "--bench");
    let aggressive = !args.iter().any(|arg| arg == "--no-aggressive");
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with("--")).collect();
    let production = GitOptions::default().repack;
    let runs: &[(&str, u64, u64, RepackPolicy)] = if full {
        &[
            ("10,000 single-entry batches", 10_000, 1, production),
            (
                "100,000 entries in batches of 1,000",
                100_000,
                1_000,
                production,
            ),
            // Cross-check: without packing, `du` must match what the storage says it wrote.
            (
                "100,000 entries in batches of 1,000",
                100_000,
                1_000,
                RepackPolicy::Never,
            ),
        ]
    } else {
        &[
            ("smoke: 300 single-entry batches", 300, 1, production),
            (
                "smoke: 300 single-entry batches",
                300,
                1,
                RepackPolicy::Never,
            ),
        ]
    };
    println!(
        "| scenario | packing during the run | commits | commits/s | written (= du if never packed) \
         | du at 1/4, 1/2, 3/4 of the run | du after the run | after `GitStorage::repack` \
         | after `git repack -a -d` | after `git repack -a -d -f --window=250 --depth=50` |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &(name, entries, batch, policy) in runs {
        if filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())) {
            run(name, entries, batch, policy, aggressive);
        }
    }
}

fn run(name: &str, entries: u64, batch: u64, policy: RepackPolicy, aggressive: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.git");
    let storage =
        GitStorage::init_with(&path, GitOptions::default().with_repack(policy)).expect("init");
    let mut log = SimulatedLog::default();
    let mut head: Option<CommitId> = None;
    let mut quarters = Vec::new();
    let mut measuring = std::time::Duration::ZERO;
    let start = Instant::now();
    let mut commits = 0u64;
    while log.size < entries {
        let (changes, message) = log.append(batch.min(entries - log.size));
        head = Some(
            storage
                .commit(head.as_ref(), &changes, &message)
                .expect("commit"),
        );
        commits += 1;
        if quarters.len() < 3 && log.size * 4 >= entries * (quarters.len() as u64 + 1) {
            let pause = Instant::now();
            quarters.push(mib(disk_usage(&path)));
            measuring += pause.elapsed();
        }
    }
    let elapsed = (start.elapsed() - measuring).as_secs_f64();
    // Let a background repack finish, so the size is that of a quiet repository.
    let written = storage.stats();
    assert_eq!(written.commits, commits);
    if let Some(err) = storage.wait_for_repack() {
        panic!("background repack failed: {err}");
    }
    let policy_name = match policy {
        RepackPolicy::Never => "none (one pack per commit)".to_owned(),
        RepackPolicy::Background { new_packs } => {
            format!("background `git repack --geometric=2` every {new_packs} new packs")
        }
        _ => format!("{policy:?}"),
    };
    drop(storage);
    let after_run = disk_usage(&path);

    let storage = GitStorage::open_with(
        &path,
        GitOptions::default().with_repack(RepackPolicy::Never),
    )
    .expect("reopen");
    let start = Instant::now();
    storage.repack().expect("repack");
    let geometric = (disk_usage(&path), start.elapsed().as_secs_f64());
    drop(storage);
    let full = git_repack(&path, &["-a", "-d"]);
    let aggressive =
        aggressive.then(|| git_repack(&path, &["-a", "-d", "-f", "--window=250", "--depth=50"]));

    // The final state is intact.
    let storage = GitStorage::open(&path).expect("reopen");
    let head = head.expect("at least one commit");
    assert_eq!(storage.head().expect("head"), Some(head.clone()));
    assert!(
        storage
            .read(&head, "releases/checkpoint")
            .expect("read")
            .is_some()
    );

    println!(
        "| {name} | {policy_name} | {commits} | {:.0} | {} | {} | {} | {} ({:.1} s) | {} ({:.1} s) | {} |",
        commits as f64 / elapsed,
        mib(written.disk_bytes),
        quarters.join(", "),
        mib(after_run),
        mib(geometric.0),
        geometric.1,
        mib(full.0),
        full.1,
        aggressive.map_or_else(
            || "(skipped)".to_owned(),
            |(bytes, secs)| format!("{} ({secs:.1} s)", mib(bytes))
        ),
    );
}

/// Run `git repack <args>` and return the repository size afterwards and the time it took.
fn git_repack(path: &Path, args: &[&str]) -> (u64, f64) {
    let start = Instant::now();
    let status = Command::new("git")
        .arg("--git-dir")
        .arg(path)
        .args(["-c", "repack.writeBitmaps=false", "repack", "-q"])
        .args(args)
        .status()
        .expect("run git repack");
    assert!(status.success(), "git repack {args:?} failed");
    (disk_usage(path), start.elapsed().as_secs_f64())
}

/// Bytes on disk below `path`, as `du` counts them (allocated blocks).
fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).expect("stat");
    let mut total = meta.blocks() * 512;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).expect("read dir") {
            total += disk_usage(&entry.expect("entry").path());
        }
    }
    total
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The release log as a sequencer sees it: its size, and the files each batch rewrites.
#[derive(Default)]
struct SimulatedLog {
    size: u64,
}

const TILE_WIDTH: u64 = 256;

impl SimulatedLog {
    /// Sequence `n` more entries: the changes of one batch and its commit message.
    fn append(&mut self, n: u64) -> (Vec<Change>, String) {
        let (old, new) = (self.size, self.size + n);
        self.size = new;
        let mut changes = Vec::new();

        // Entry bundles: one per 256 entries.
        for tile in old / TILE_WIDTH..new.div_ceil(TILE_WIDTH) {
            let (start, end) = (tile * TILE_WIDTH, ((tile + 1) * TILE_WIDTH).min(new));
            let mut bundle = Vec::new();
            for index in start..end {
                let entry = entry(index);
                bundle.extend_from_slice(&(entry.len() as u16).to_be_bytes());
                bundle.extend_from_slice(&entry);
            }
            tile_changes(
                &mut changes,
                "releases/tile/entries",
                tile,
                end - start,
                bundle,
            );
        }

        // Hash tiles: level L holds one hash per 256^L entries.
        let mut per_hash = 1u64;
        for level in 0.. {
            let (old_hashes, new_hashes) = (old / per_hash, new / per_hash);
            if new_hashes == 0 {
                break;
            }
            if new_hashes > old_hashes {
                for tile in old_hashes / TILE_WIDTH..new_hashes.div_ceil(TILE_WIDTH) {
                    let start = tile * TILE_WIDTH;
                    let end = ((tile + 1) * TILE_WIDTH).min(new_hashes);
                    let hashes: Vec<u8> = (start..end)
                        .flat_map(|index| random_bytes::<32>(level, index))
                        .collect();
                    let dir = format!("releases/tile/{level}");
                    tile_changes(&mut changes, &dir, tile, end - start, hashes);
                }
            }
            per_hash *= TILE_WIDTH;
        }

        let releases = checkpoint("example.org/releases", new);
        let keys = checkpoint("example.org/keys", 12);
        changes.push(Change::put("releases/checkpoint", releases.clone()));
        changes.push(Change::put("keys/checkpoint", keys.clone()));
        changes.push(Change::put(
            "releases/update-latest.txt",
            format!(
                "example.org/releases {new} {}\n",
                b64(&random_bytes::<32>(100, new))
            ),
        ));
        let message = format!("sequence {n} entries, size {new}\n\n{releases}\n{keys}");
        (changes, message)
    }
}

/// Write tile `index` under `dir` holding `width` items: full tiles replace their partial versions.
fn tile_changes(changes: &mut Vec<Change>, dir: &str, index: u64, width: u64, content: Vec<u8>) {
    let path = format!("{dir}/{}", tile_index_path(index));
    if width == TILE_WIDTH {
        changes.push(Change::delete(format!("{path}.p")));
        changes.push(Change::put(path, content));
    } else {
        changes.push(Change::put(format!("{path}.p/{width}"), content));
    }
}

/// tlog-tiles index encoding: 3-digit groups, all but the last prefixed with `x`.
fn tile_index_path(mut index: u64) -> String {
    let mut groups = vec![format!("{:03}", index % 1000)];
    index /= 1000;
    while index > 0 {
        groups.push(format!("x{:03}", index % 1000));
        index /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// A release entry as a signed note, about 330 bytes.
fn entry(index: u64) -> Vec<u8> {
    let digest = |salt| hex(&random_bytes::<32>(salt, index));
    format!(
        "cairn/release/v1\nname example/pkg-{}\nversion 1.{}.{}\n\
         artifact sha256:{} {} pkg-{index}.tar.gz\n\
         manifest sha256:{} {} pkg-{index}.spdx.json\n\n\
         \u{2014} example.org/release-key {}\n",
        index % 97,
        index / 97,
        index % 97,
        digest(200),
        10_000_000 + index * 7,
        digest(201),
        2_000 + index % 1000,
        b64(&random_bytes::<68>(202, index)),
    )
    .into_bytes()
}

/// A checkpoint with the log's signature and two witness cosignatures, about 300 bytes. Signatures
/// are fresh every batch, as cosignatures carry a timestamp.
fn checkpoint(origin: &str, size: u64) -> String {
    let salt = origin.len() as u64 * 1_000_003 + size;
    format!(
        "{origin}\n{size}\n{}\n\n\u{2014} {origin} {}\n\u{2014} witness-a.example {}\n\u{2014} witness-b.example {}\n",
        b64(&random_bytes::<32>(300, size)),
        b64(&random_bytes::<68>(301, salt)),
        b64(&random_bytes::<76>(302, salt)),
        b64(&random_bytes::<76>(303, salt)),
    )
}

/// Deterministic pseudo-random bytes for (`domain`, `index`): splitmix64.
fn random_bytes<const N: usize>(domain: u64, index: u64) -> [u8; N] {
    let mut state = domain.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index;
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
