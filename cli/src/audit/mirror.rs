//! `cairn mirror`: copy a log, verifying every byte before the copy moves forward
//! (`docs/mirrors.md`).
//!
//! The upstream is a log server or any static copy (`--upstream URL`, tlog-tiles over HTTP) or the
//! log's git repository (`--upstream git+URL`, fetched with gix into a cache repository; file,
//! git and http(s) transports). Either way each round is [`Auditor::round`], the same
//! follow-and-verify core `cairn monitor` runs: checkpoints signed by the log, consistent with
//! what the mirror held, every new entry hashed into the tree and judged. Nothing is trusted
//! because of where it came from, git object ids included.
//!
//! `DIR` is a plain tlog-tiles layout of both logs (`releases/checkpoint`, `releases/tile/...`,
//! `keys/...`) that `cairn serve --mirror DIR` or any static web server can serve, plus the
//! release log's static lookups (`releases/lookup/...`, spec/http-api.md "Static lookups",
//! paths from [`cairn_verifier::lookup`]) and `releases/update-latest.txt`, so a client that
//! has only the artifact can verify through the copy. A round writes the new files into
//! `DIR/.cairn-staging/`, then moves them into place: tiles, bundles and lookup files, then
//! `releases/lookup/size`, then the checkpoints, so a reader never sees a checkpoint whose
//! tiles or lookups are missing; a round that fails leaves `DIR` as it was. Lookup files are
//! rewritten as the union of what `DIR` holds and what the round verified, so a round that
//! stopped after moving some of them and is run again writes the same bytes. The mirror's own
//! state (key-log copy, audit state, evidence, `metrics.prom`) is in `DIR/.cairn-mirror/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use cairn_verifier::tile::{
    EntryBundle, MAX_BUNDLE_SIZE, TILE_HEIGHT, TileHashReader, TreeHead, encode_entry_bundle,
    new_tiles, read_tile_data,
};

use crate::audit::monitor::threads;
use crate::client::trust::ClientOptions;
use cairn_client::Error;
use cairn_client::audit::{Auditor, Round};
use cairn_client::checkpoints::now;
use cairn_client::duration::parse_duration;
use cairn_client::report::Report;
use cairn_client::sources::{DirFiles, GitTree};
use cairn_client::state::{StateDir, create_private_dir, sync_dir};
use cairn_client::trust::LogName;
use cairn_client::upstream::{Remote, Upstream, UpstreamTiles};
use cairn_verifier::entry::{Entry, ReleaseName, Sha256Digest, Version};
use cairn_verifier::lookup;
use cairn_verifier::note::Note;
use std::collections::BTreeMap;

/// Where new files wait until the round verified.
const STAGING: &str = ".cairn-staging";
/// The mirror's own state inside DIR.
const STATE: &str = ".cairn-mirror";
/// The branch a Cairn log publishes (spec/git-layout.md).
const BRANCH: &str = "refs/heads/main";
/// Where the fetched branch is kept in the cache repository.
const TRACKING: &str = "refs/remotes/upstream/main";

/// Arguments of `cairn mirror`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The upstream: a log server's (or a copy's) base URL, or git+URL of its repository
    /// (git+file:///..., git+git://..., git+https://...).
    /// (Old spelling: --from.)
    #[arg(long = "upstream", alias = "from", value_name = "URL|git+URL")]
    from: String,
    /// The mirror's directory (created if needed); `cairn serve --mirror-dir` serves it. (Old
    /// spelling: --to.)
    #[arg(long = "mirror-dir", alias = "to", value_name = "DIR")]
    to: PathBuf,
    /// Run one round and exit.
    #[arg(long)]
    once: bool,
    /// Time between rounds.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    interval: Duration,
    /// With git+URL: the longest a fetch may take; a fetch still running then ends the
    /// process with exit 1, the copy unchanged (the fetch writes only to its cache).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30m")]
    fetch_timeout: Duration,
    /// Threads that verify entries (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print each check on stderr.
    #[arg(short, long)]
    verbose: bool,
    /// Print one JSON object per round on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientOptions,
}

/// Where the mirror reads from.
enum Source {
    Http(Remote),
    Git(GitRemote),
}

/// `cairn mirror`.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    crate::deprecated::warn_if_used("mirror", "--from", "--upstream");
    crate::deprecated::warn_if_used("mirror", "--to", "--mirror-dir");
    if args.interval.is_zero() {
        return Err(Error::Usage("--interval must be longer than zero".to_owned()).into());
    }
    let (_, trust) = args.client.load()?;
    fs::create_dir_all(&args.to).with_context(|| format!("creating {}", args.to.display()))?;
    let dir = args.to.clone();
    let state = StateDir::resolve(Some(&dir.join(STATE)))?;
    let _lock = state.lock("cairn mirror")?;
    let source = match args.from.strip_prefix("git+") {
        Some(url) => Source::Git(GitRemote::new(
            url,
            &dir.join(STATE).join("upstream.git"),
            args.fetch_timeout,
        )?),
        None => {
            let parsed = reqwest::Url::parse(&args.from)
                .map_err(|e| Error::Usage(format!("--upstream {:?}: {e}", args.from)))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(Error::Usage(format!(
                    "--upstream {:?}: use an http(s) URL, or git+URL for a git repository",
                    args.from
                ))
                .into());
            }
            Source::Http(Remote::http(&args.from)?)
        }
    };
    let auditor = Auditor::new(
        trust.clone(),
        state,
        Vec::new(),
        trust.max_age.as_secs(),
        threads(args.threads),
    );
    let mut metrics = RoundMetrics::load(&dir.join(STATE).join(METRICS_FILE));
    loop {
        let started = std::time::Instant::now();
        let result = match &source {
            Source::Http(server) => round(&auditor, server, &dir, args.verbose),
            Source::Git(remote) => remote
                .fetch()
                .and_then(|tree| round(&auditor, &tree, &dir, args.verbose)),
        };
        let outcome = RoundOutcome::of(&result, started.elapsed(), now());
        if args.json {
            outcome.print_json(&dir);
        }
        metrics.record(&outcome);
        if let Err(e) = metrics.save(&dir.join(STATE).join(METRICS_FILE)) {
            eprintln!("cairn: mirror: could not write the round's metrics: {e:#}");
        }
        match &result {
            Ok(round) => eprintln!(
                "cairn: mirror: {} now at releases {}, keys {} (verified; {} lookup files written)",
                dir.display(),
                round.round.releases.size(),
                round.round.keylog.checkpoint.size(),
                round.lookup_files
            ),
            Err(e) if !args.once => eprintln!(
                "cairn: mirror: update refused, {} keeps its last verified state: {e:#}",
                dir.display()
            ),
            Err(_) => {}
        }
        if args.once {
            return result.map(|_| ()).map_err(|e| {
                e.context(format!(
                    "update refused; {} keeps its last verified state",
                    dir.display()
                ))
            });
        }
        std::thread::sleep(args.interval);
    }
}

/// A verified round and what it wrote.
struct Mirrored {
    round: Round,
    lookup_files: usize,
}

/// One round: verify, stage, move into place, then save the verified state.
fn round<U: Upstream + ?Sized>(
    auditor: &Auditor,
    up: &U,
    dir: &Path,
    verbose: bool,
) -> anyhow::Result<Mirrored> {
    let staging = Staging::new(dir)?;
    let own = DirFiles {
        root: dir.to_path_buf(),
    };
    let mut report = crate::output::report(verbose);
    let mut alerts = Vec::new();
    let mut lookups = Lookups::default();
    let mut sigstore_bundles: Vec<Sha256Digest> = Vec::new();
    let mut sink = |bundle: &EntryBundle, entries: &[Vec<u8>], first: u64| {
        let stored = (|| {
            check_known_prefix(&own, bundle, entries, first)?;
            for (at, entry) in (bundle.first_entry()..).zip(entries) {
                if at >= first {
                    lookups.add(at, entry);
                    sigstore_bundles.extend(sigstore_bundle_of(entry));
                }
            }
            let data = encode_entry_bundle(entries)
                .map_err(|e| anyhow::anyhow!("re-encoding bundle {}: {e}", bundle.path()))?;
            staging.put(&format!("releases/{}", bundle.path()), &data)
        })();
        stored.map_err(crate::exit::into_client)
    };
    let round = auditor.round(up, now(), &mut report, &mut alerts, &mut sink)?;
    // A copy made before lookups existed (or whose lookups stopped short) catches up from the
    // entries it holds, which an earlier round verified.
    let covered = match crate::maintainer::log_client::lookup_size(&own) {
        Ok(Some(n)) => n.min(round.releases_before),
        _ => 0,
    };
    lookups.backfill(&own, covered, round.releases_before)?;
    let lookup_files = lookups.stage(&own, &staging, round.releases.size())?;
    stage_update_latest(up, auditor, &staging, &round, &mut report)?;
    stage_sigstore_bundles(up, &staging, &sigstore_bundles)?;
    for alert in &alerts {
        eprintln!(
            "cairn: mirror: note {}: {}",
            alert.kind.as_str(),
            alert.message
        );
    }
    // The key log: bundles from the verified entries, tiles authenticated against the root.
    let keys = &round.keylog;
    let keys_from = round.keys_before.unwrap_or(0);
    let mut at = keys_from;
    while at < keys.checkpoint.size() {
        let b = EntryBundle::for_entry(TILE_HEIGHT, at, keys.checkpoint.size())
            .map_err(|e| anyhow::anyhow!("planning key-log bundles: {e}"))?;
        let first = usize::try_from(b.first_entry()).context("key-log index")?;
        let slice = &keys.entries[first..first + usize::from(b.width())];
        let data = encode_entry_bundle(slice)
            .map_err(|e| anyhow::anyhow!("encoding key-log bundle {}: {e}", b.path()))?;
        staging.put(&format!("keys/{}", b.path()), &data)?;
        at = b.first_entry() + u64::from(b.width());
    }
    for (log, cp, before) in [
        (LogName::Keys, &keys.checkpoint, keys_from),
        (LogName::Releases, &round.releases, round.releases_before),
    ] {
        let tree = TreeHead::from_verified(cp);
        let reader = TileHashReader::new(tree, UpstreamTiles::new(up, log));
        let tiles = new_tiles(TILE_HEIGHT, before, cp.size())
            .map_err(|e| anyhow::anyhow!("planning {} tiles: {e}", log.as_str()))?;
        for tile in tiles {
            let data = read_tile_data(&tile, &reader).map_err(|e| {
                if e.is_security_failure() {
                    anyhow::Error::new(Error::Refused(format!(
                        "{}: {} tile {} does not match the verified checkpoint: {e}",
                        up.describe(),
                        log.as_str(),
                        tile.path()
                    )))
                } else {
                    anyhow::anyhow!(
                        "{}: reading {} tile {}: {e}",
                        up.describe(),
                        log.as_str(),
                        tile.path()
                    )
                }
            })?;
            staging.put(&format!("{}/{}", log.as_str(), tile.path()), &data)?;
        }
        staging.put(&format!("{}/checkpoint", log.as_str()), cp.note_bytes())?;
    }
    staging.publish(dir)?;
    auditor.commit(&round)?;
    Ok(Mirrored {
        round,
        lookup_files,
    })
}

/// `releases/update-latest.txt`: the compact line of the checkpoint the copy serves (the
/// bytes the log serves for that checkpoint, channels.md). The upstream's own file, when it
/// has one, is checked first: it must verify under the log key, and a line for the size the
/// mirror verified must carry the same root (a different one is a fork, exit 4 with evidence);
/// an older line is consistent with the copy or the round is refused.
fn stage_update_latest<U: Upstream + ?Sized>(
    up: &U,
    auditor: &Auditor,
    staging: &Staging,
    round: &Round,
    report: &mut Report,
) -> anyhow::Result<()> {
    let cp = &round.releases;
    if let Some(bytes) = up.get(UPDATE_LATEST, cairn_verifier::note::MAX_NOTE_SIZE)? {
        let note = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|line| cairn_verifier::compact::from_compact(line).ok())
            .ok_or_else(|| {
                Error::Refused(format!(
                    "{}: {UPDATE_LATEST} is not a compact checkpoint line",
                    up.describe()
                ))
            })?;
        let theirs = cairn_client::checkpoints::verify_signature(
            auditor.trust(),
            LogName::Releases,
            &note.to_bytes(),
            &format!("{}'s {UPDATE_LATEST}", up.describe()),
            report,
        )?;
        if theirs.size() <= cp.size() {
            let proof = if theirs.size() == 0 || theirs.size() == cp.size() {
                Vec::new()
            } else {
                let reader = TileHashReader::new(
                    TreeHead::from_verified(cp),
                    UpstreamTiles::new(up, LogName::Releases),
                );
                reader
                    .prove_consistency(theirs.size(), cp.size())
                    .map_err(|e| anyhow::anyhow!("{UPDATE_LATEST}: consistency proof: {e}"))?
            };
            cairn_client::checkpoints::check_consistent(
                auditor.state(),
                &theirs,
                cp,
                &proof,
                &format!("{}'s {UPDATE_LATEST} against its checkpoint", up.describe()),
                report,
            )?;
        }
        // A newer line names a tree the copy does not serve yet; the copy's own line follows.
    }
    let note = cairn_verifier::note::Note::parse(cp.note_bytes())
        .map_err(|e| anyhow::anyhow!("the verified checkpoint does not parse as a note: {e}"))?;
    let line = cairn_verifier::compact::to_compact(&note)
        .map_err(|e| anyhow::anyhow!("compacting the verified checkpoint: {e}"))?;
    staging.put(UPDATE_LATEST, format!("{line}\n").as_bytes())
}

/// Where the update file lives, in the log's layout and the copy's.
const UPDATE_LATEST: &str = "releases/update-latest.txt";

/// The bundle digest a Sigstore release names (spec/entries.md 5.1), if `entry` is one.
fn sigstore_bundle_of(entry: &[u8]) -> Option<Sha256Digest> {
    let note = Note::parse(entry).ok()?;
    match Entry::parse(note.text()) {
        Ok(Entry::Release(r)) => r.sigstore().map(|s| s.bundle),
        _ => None,
    }
}

/// Copies the Sigstore bundles the round's new releases name (`releases/sigstore-bundle/<hex>`,
/// spec/git-layout.md), each checked against its digest, so the copy's clients can verify those
/// releases online as against the log. A bundle the upstream does not serve is left out (the
/// round's audit already reported the release as invalid).
fn stage_sigstore_bundles<U: Upstream + ?Sized>(
    up: &U,
    staging: &Staging,
    digests: &[Sha256Digest],
) -> anyhow::Result<()> {
    for digest in digests {
        let path = cairn_client::verify::sigstore_bundle_log_path(digest);
        match up.get(&path, cairn_sigstore::MAX_BUNDLE_SIZE) {
            Ok(Some(bytes)) if Sha256Digest::of(&bytes) == *digest => staging.put(&path, &bytes)?,
            Ok(Some(_)) => eprintln!(
                "cairn: mirror: {} serves another file as {path}; not copied",
                up.describe()
            ),
            Ok(None) => eprintln!(
                "cairn: mirror: {} does not serve {path}; not copied",
                up.describe()
            ),
            Err(e) => return Err(anyhow::anyhow!("{}: reading {path}: {e}", up.describe())),
        }
    }
    Ok(())
}

/// What a round learned for the static lookups (spec/http-api.md), by the index of each
/// release-log entry it verified.
#[derive(Debug, Default)]
struct Lookups {
    digests: BTreeMap<[u8; 32], Vec<u64>>,
    /// (name, version) -> index of the first release of that name and version.
    releases: BTreeMap<(String, String), u64>,
    deprecations: BTreeMap<(String, String), Vec<u64>>,
}

impl Lookups {
    /// Indexes the entry at `index` if it is a release or a deprecation. Entries that do not
    /// parse are left out, as the log server would have refused them.
    fn add(&mut self, index: u64, entry: &[u8]) {
        let Ok(note) = Note::parse(entry) else {
            return;
        };
        match Entry::parse(note.text()) {
            Ok(Entry::Release(r)) => {
                for file in r.artifacts().iter().chain(r.manifests()) {
                    self.digests
                        .entry(*file.digest.as_bytes())
                        .or_default()
                        .push(index);
                }
                self.releases
                    .entry((
                        r.name().as_str().to_owned(),
                        r.version().as_str().to_owned(),
                    ))
                    .or_insert(index);
            }
            Ok(Entry::Deprecation(d)) => self
                .deprecations
                .entry((
                    d.name().as_str().to_owned(),
                    d.version().as_str().to_owned(),
                ))
                .or_default()
                .push(index),
            _ => {}
        }
    }

    /// Indexes the entries `from..to` of the copy's own bundles.
    fn backfill(&mut self, own: &DirFiles, from: u64, to: u64) -> anyhow::Result<()> {
        let mut at = from;
        while at < to {
            let b = EntryBundle::for_entry(TILE_HEIGHT, at, to)
                .map_err(|e| anyhow::anyhow!("planning bundles for the lookups: {e}"))?;
            let entries = cairn_client::upstream::bundle_of(own, LogName::Releases, &b)
                .context("reading the copy's own bundles to build its lookups")?;
            for (i, entry) in (b.first_entry()..).zip(&entries) {
                if i >= at {
                    self.add(i, entry);
                }
            }
            at = b.first_entry() + u64::from(b.width());
        }
        Ok(())
    }

    /// Stages every lookup file the round changes, merged with what `DIR` holds, and
    /// `releases/lookup/size`. Returns how many files were staged.
    fn stage(&self, own: &DirFiles, staging: &Staging, size: u64) -> anyhow::Result<usize> {
        let mut files = 0;
        for (digest, indexes) in &self.digests {
            let path = lookup::digest_path(&Sha256Digest::from_bytes(*digest));
            merge_indexes(own, staging, &path, indexes)?;
            files += 1;
        }
        let mut versions: BTreeMap<&str, Vec<(String, u64)>> = BTreeMap::new();
        for ((name, version), &index) in &self.releases {
            let (n, v) = name_version(name, version)?;
            let path = lookup::release_path(&n, &v);
            if own.get(&path, MAX_LOOKUP_FILE)?.is_none() {
                // The first release of a name and version wins, as on the log server, which
                // refuses a second one (a monitor alerts on it).
                staging.put(&path, lookup::indexes_body(&[index]).as_bytes())?;
                files += 1;
            }
            versions
                .entry(name.as_str())
                .or_default()
                .push((version.clone(), index));
        }
        for (name, new) in versions {
            let n = ReleaseName::new(name)
                .map_err(|e| anyhow::anyhow!("a verified entry's name: {e}"))?;
            let path = lookup::versions_path(&n);
            let mut all: Vec<(String, u64)> = match own.get(&path, MAX_LOOKUP_FILE)? {
                Some(body) => std::str::from_utf8(&body)
                    .ok()
                    .and_then(lookup::parse_versions_body)
                    .ok_or_else(|| damaged(own, &path))?
                    .into_iter()
                    .map(|(v, i)| (v.as_str().to_owned(), i))
                    .collect(),
                None => Vec::new(),
            };
            for (version, index) in new {
                if !all.iter().any(|(v, _)| *v == version) {
                    all.push((version, index));
                }
            }
            all.sort_by_key(|(_, i)| *i);
            staging.put(&path, lookup::versions_body(&all).as_bytes())?;
            files += 1;
        }
        for ((name, version), indexes) in &self.deprecations {
            let (n, v) = name_version(name, version)?;
            merge_indexes(own, staging, &lookup::deprecations_path(&n, &v), indexes)?;
            files += 1;
        }
        staging.put(lookup::SIZE_PATH, format!("{size}\n").as_bytes())?;
        Ok(files)
    }
}

/// Largest lookup file the mirror reads back from its own copy.
const MAX_LOOKUP_FILE: usize = 16 << 20;

fn name_version(name: &str, version: &str) -> anyhow::Result<(ReleaseName, Version)> {
    Ok((
        ReleaseName::new(name).map_err(|e| anyhow::anyhow!("a verified entry's name: {e}"))?,
        Version::new(version).map_err(|e| anyhow::anyhow!("a verified entry's version: {e}"))?,
    ))
}

fn damaged(own: &DirFiles, path: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the copy's own {path} is damaged; remove {} and {} to rebuild the lookups",
        own.root.join(path).display(),
        own.root.join(lookup::SIZE_PATH).display()
    )
}

/// Stages `path` as the union of the indexes `DIR` holds there and `new`, ascending.
fn merge_indexes(own: &DirFiles, staging: &Staging, path: &str, new: &[u64]) -> anyhow::Result<()> {
    let mut all = crate::maintainer::log_client::lookup_indexes(own, path)
        .map_err(|_| damaged(own, path))?
        .unwrap_or_default();
    all.extend_from_slice(new);
    all.sort_unstable();
    all.dedup();
    staging.put(path, lookup::indexes_body(&all).as_bytes())
}

/// The file the mirror keeps its round metrics in (inside `DIR/.cairn-mirror/`), which
/// `cairn serve --mirror` answers at `/metrics`.
const METRICS_FILE: &str = "metrics.prom";

/// How one round ended.
struct RoundOutcome {
    outcome: &'static str,
    exit_code: u8,
    error: Option<String>,
    releases_size: Option<u64>,
    keys_size: Option<u64>,
    new_entries: u64,
    lookup_files: usize,
    seconds: f64,
    finished: u64,
}

impl RoundOutcome {
    fn of(result: &anyhow::Result<Mirrored>, took: Duration, finished: u64) -> RoundOutcome {
        let mut o = RoundOutcome {
            outcome: "ok",
            exit_code: 0,
            error: None,
            releases_size: None,
            keys_size: None,
            new_entries: 0,
            lookup_files: 0,
            seconds: took.as_secs_f64(),
            finished,
        };
        match result {
            Ok(m) => {
                o.releases_size = Some(m.round.releases.size());
                o.keys_size = Some(m.round.keylog.checkpoint.size());
                o.new_entries = m.round.releases.size() - m.round.releases_before;
                o.lookup_files = m.lookup_files;
            }
            Err(e) => {
                (o.outcome, o.exit_code) = match crate::exit::classify(e).1 {
                    3 => ("refused", 3),
                    4 => ("inconsistent", 4),
                    _ => ("error", 1),
                };
                o.error = Some(format!("{e:#}"));
            }
        }
        o
    }

    #[allow(clippy::print_stdout)] // --json: the round's record is this command's data.
    fn print_json(&self, dir: &Path) {
        let v = serde_json::json!({
            "dir": dir.display().to_string(),
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "error": self.error,
            "releases_size": self.releases_size,
            "keys_size": self.keys_size,
            "new_entries": self.new_entries,
            "lookup_files": self.lookup_files,
            "seconds": self.seconds,
            "finished": self.finished,
        });
        println!("{v}");
    }
}

/// The mirror's round metrics, kept across runs in `DIR/.cairn-mirror/metrics.prom` (so that
/// `--once` from a timer counts too), in the Prometheus text format.
#[derive(Debug, Default)]
struct RoundMetrics {
    rounds: BTreeMap<&'static str, u64>,
    entries: u64,
    last_round: u64,
    last_success: u64,
    last_seconds: f64,
    releases_size: u64,
    keys_size: u64,
}

const OUTCOMES: [&str; 4] = ["ok", "refused", "inconsistent", "error"];

impl RoundMetrics {
    /// What an earlier run left (missing or unreadable: start from zero).
    fn load(path: &Path) -> RoundMetrics {
        let mut m = RoundMetrics::default();
        let Ok(text) = fs::read_to_string(path) else {
            return m;
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((key, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(n) = value.parse::<u64>() else {
                continue;
            };
            match key {
                "cairn_mirror_entries_verified_total" => m.entries = n,
                "cairn_mirror_last_success_timestamp_seconds" => m.last_success = n,
                _ => {
                    for outcome in OUTCOMES {
                        if key == format!("cairn_mirror_rounds_total{{outcome=\"{outcome}\"}}") {
                            m.rounds.insert(outcome, n);
                        }
                    }
                }
            }
        }
        m
    }

    fn record(&mut self, o: &RoundOutcome) {
        *self.rounds.entry(o.outcome).or_default() += 1;
        self.entries += o.new_entries;
        self.last_round = o.finished;
        self.last_seconds = o.seconds;
        if o.outcome == "ok" {
            self.last_success = o.finished;
            self.releases_size = o.releases_size.unwrap_or_default();
            self.keys_size = o.keys_size.unwrap_or_default();
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP cairn_mirror_rounds_total Mirror rounds, by outcome.\n");
        out.push_str("# TYPE cairn_mirror_rounds_total counter\n");
        for outcome in OUTCOMES {
            let n = self.rounds.get(outcome).copied().unwrap_or_default();
            out.push_str(&format!(
                "cairn_mirror_rounds_total{{outcome=\"{outcome}\"}} {n}\n"
            ));
        }
        for (name, kind, help, value) in [
            (
                "cairn_mirror_entries_verified_total",
                "counter",
                "Release-log entries verified and copied.",
                self.entries.to_string(),
            ),
            (
                "cairn_mirror_last_round_timestamp_seconds",
                "gauge",
                "When the last round ended (Unix time).",
                self.last_round.to_string(),
            ),
            (
                "cairn_mirror_last_success_timestamp_seconds",
                "gauge",
                "When the last verified round ended (Unix time).",
                self.last_success.to_string(),
            ),
            (
                "cairn_mirror_last_round_duration_seconds",
                "gauge",
                "How long the last round took.",
                format!("{:.3}", self.last_seconds),
            ),
            (
                "cairn_mirror_releases_size",
                "gauge",
                "Release-log size of the copy after the last verified round of this process.",
                self.releases_size.to_string(),
            ),
            (
                "cairn_mirror_keys_size",
                "gauge",
                "Key-log size of the copy after the last verified round of this process.",
                self.keys_size.to_string(),
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        out
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        Ok(cairn_client::state::write_atomic(
            path,
            self.render().as_bytes(),
            0o644,
        )?)
    }
}

/// The entries of `bundle` before `first` were verified by an earlier round, and the mirror
/// holds them (partial bundles stay in `DIR`): the upstream must serve exactly those.
fn check_known_prefix(
    own: &DirFiles,
    bundle: &EntryBundle,
    entries: &[Vec<u8>],
    first: u64,
) -> anyhow::Result<()> {
    if bundle.first_entry() >= first {
        return Ok(());
    }
    let known = u16::try_from(first - bundle.first_entry()).context("bundle offset")?;
    let prev =
        EntryBundle::new(TILE_HEIGHT, bundle.index(), known).map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = format!("releases/{}", prev.path());
    let data = own.get(&path, MAX_BUNDLE_SIZE)?.ok_or_else(|| {
        anyhow::anyhow!(
            "the mirror's copy lacks {path}, which an earlier round wrote; remove {} and {} \
             to start over",
            own.root.join(STATE).display(),
            own.root.join("releases").display()
        )
    })?;
    let held = prev
        .split(&data)
        .map_err(|e| anyhow::anyhow!("the mirror's own {path} is damaged: {e}"))?;
    let same =
        held.len() <= entries.len() && held.iter().zip(entries).all(|(a, b)| *a == b.as_slice());
    if !same {
        return Err(Error::Refused(format!(
            "bundle {} changes entries before index {first} that the mirror verified before",
            bundle.path()
        ))
        .into());
    }
    Ok(())
}

/// Files staged in `DIR/.cairn-staging`, moved into `DIR` by [`Staging::publish`].
struct Staging {
    root: PathBuf,
    files: std::cell::RefCell<Vec<String>>,
}

impl Staging {
    /// A fresh staging directory (what a failed round left there is discarded).
    fn new(dir: &Path) -> anyhow::Result<Staging> {
        let root = dir.join(STAGING);
        if root.exists() {
            fs::remove_dir_all(&root).with_context(|| {
                format!("removing the old staging directory {}", root.display())
            })?;
        }
        fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        Ok(Staging {
            root,
            files: std::cell::RefCell::new(Vec::new()),
        })
    }

    fn put(&self, path: &str, data: &[u8]) -> anyhow::Result<()> {
        use std::io::Write as _;
        let full = self.root.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut f =
            fs::File::create(&full).with_context(|| format!("creating {}", full.display()))?;
        f.write_all(data)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", full.display()))?;
        self.files.borrow_mut().push(path.to_owned());
        Ok(())
    }

    /// Moves every staged file into `dir`: tiles and bundles first, then the key log's
    /// checkpoint, then the release log's.
    fn publish(&self, dir: &Path) -> anyhow::Result<()> {
        let mut files = self.files.take();
        files.sort_by_key(|p| match p.as_str() {
            lookup::SIZE_PATH => 1,
            "keys/checkpoint" | UPDATE_LATEST => 2,
            "releases/checkpoint" => 3,
            _ => 0,
        });
        let mut dirs: std::collections::BTreeSet<PathBuf> = std::collections::BTreeSet::new();
        for path in &files {
            let to = dir.join(path);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
                if path.ends_with("/checkpoint") || path == lookup::SIZE_PATH {
                    // Tiles are durable before a checkpoint names them.
                    for d in &dirs {
                        sync_dir(d);
                    }
                }
                // The new directories' own entries must be durable too: sync every
                // directory from the file's up to DIR (create_dir_all may have made several).
                let mut d = parent;
                while d.starts_with(dir) && dirs.insert(d.to_path_buf()) && d != dir {
                    match d.parent() {
                        Some(up) => d = up,
                        None => break,
                    }
                }
            }
            fs::rename(self.root.join(path), &to)
                .with_context(|| format!("moving {path} into {}", dir.display()))?;
        }
        for d in &dirs {
            sync_dir(d);
        }
        Ok(())
    }
}

impl Drop for Staging {
    /// Whatever was not published (a round that failed) is discarded.
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// A git remote fetched with gix into a bare cache repository.
struct GitRemote {
    url: String,
    cache: PathBuf,
    timeout: Duration,
}

impl GitRemote {
    fn new(url: &str, cache: &Path, timeout: Duration) -> anyhow::Result<GitRemote> {
        let scheme = url.split("://").next().unwrap_or_default();
        if !matches!(scheme, "file" | "git" | "http" | "https" | "ssh") || !url.contains("://") {
            return Err(Error::Usage(format!(
                "--upstream git+{url:?}: use git+file://, git+git://, git+http(s):// or git+ssh://"
            ))
            .into());
        }
        Ok(GitRemote {
            url: url.to_owned(),
            cache: cache.to_path_buf(),
            timeout,
        })
    }

    /// Fetches the log's branch and returns the tree it points to (untrusted).
    fn fetch(&self) -> anyhow::Result<GitTree> {
        // The http transport builds its own reqwest client over the ring provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let repo = if self.cache.join("HEAD").exists() {
            gix::open_opts(&self.cache, gix::open::Options::isolated())
                .with_context(|| format!("opening {}", self.cache.display()))?
        } else {
            create_private_dir(&self.cache)?;
            gix::init_bare(&self.cache)
                .with_context(|| format!("creating {}", self.cache.display()))?
        };
        let spec = format!("+{BRANCH}:{TRACKING}");
        let remote = repo
            .remote_at(self.url.as_str())
            .with_context(|| format!("git remote {}", self.url))?
            .with_refspecs(Some(spec.as_str()), gix::remote::Direction::Fetch)
            .context("setting the refspec")?;
        let interrupt = std::sync::atomic::AtomicBool::new(false);
        let fetched = std::thread::scope(|scope| {
            let (done, finished) = std::sync::mpsc::channel::<()>();
            let interrupt = &interrupt;
            scope.spawn(move || fetch_watchdog(&self.url, self.timeout, interrupt, &finished));
            let fetched = remote
                .connect(gix::remote::Direction::Fetch)
                .with_context(|| format!("connecting to {}", self.url))
                .and_then(|c| {
                    c.prepare_fetch(gix::progress::Discard, Default::default())
                        .with_context(|| format!("fetching from {}", self.url))
                })
                .and_then(|p| {
                    p.receive(gix::progress::Discard, interrupt)
                        .with_context(|| format!("fetching from {}", self.url))
                });
            drop(done);
            fetched
        });
        fetched?;
        let mut reference = repo
            .find_reference(TRACKING)
            .with_context(|| format!("{} has no {BRANCH}", self.url))?;
        let id = reference
            .peel_to_id()
            .context("resolving the fetched branch")?
            .detach();
        let tree = repo
            .find_object(id)
            .context("reading the fetched commit")?
            .peel_to_tree()
            .context("reading the fetched commit's tree")?
            .id;
        Ok(GitTree::of_tree(
            repo,
            tree,
            format!("git {} ({BRANCH} at {id})", self.url),
        )?)
    }
}

/// Waits for `finished` (its sender dropped when the fetch returns). At `timeout` it asks gix
/// to stop; a fetch blocked on a silent peer cannot see that, so after a short grace the
/// process ends with exit 1. Nothing is lost: the fetch writes only to the cache repository,
/// and the copy in DIR changes only after a verified round.
fn fetch_watchdog(
    url: &str,
    timeout: Duration,
    interrupt: &std::sync::atomic::AtomicBool,
    finished: &std::sync::mpsc::Receiver<()>,
) {
    use std::sync::mpsc::RecvTimeoutError;
    if !matches!(
        finished.recv_timeout(timeout),
        Err(RecvTimeoutError::Timeout)
    ) {
        return;
    }
    interrupt.store(true, std::sync::atomic::Ordering::SeqCst);
    if !matches!(
        finished.recv_timeout(FETCH_GRACE),
        Err(RecvTimeoutError::Timeout)
    ) {
        return;
    }
    eprintln!(
        "cairn: the fetch from {url} did not finish within {timeout:?} (--fetch-timeout); \
         stopping. The mirror's copy is unchanged."
    );
    std::process::exit(1);
}

/// How long a fetch may go on after it was asked to stop.
const FETCH_GRACE: Duration = Duration::from_secs(2);
