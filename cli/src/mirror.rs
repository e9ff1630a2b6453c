//! `cairn mirror`: copy a log, verifying every byte before the copy moves forward
//! (`docs/mirrors.md`).
//!
//! The upstream is a log server or any static copy (`--from URL`, tlog-tiles over HTTP) or the
//! log's git repository (`--from git+URL`, fetched with gix into a cache repository; file,
//! git and http(s) transports). Either way each round is [`Auditor::round`], the same
//! follow-and-verify core `cairn monitor` runs: checkpoints signed by the log, consistent with
//! what the mirror held, every new entry hashed into the tree and judged. Nothing is trusted
//! because of where it came from, git object ids included.
//!
//! `DIR` is a plain tlog-tiles layout of both logs (`releases/checkpoint`, `releases/tile/...`,
//! `keys/...`) that `cairn serve --mirror DIR` or any static web server can serve. A round
//! writes the new files into `DIR/.cairn-staging/`, then moves them into place, checkpoints
//! last, so a reader never sees a checkpoint whose tiles are missing; a round that fails
//! leaves `DIR` as it was. The mirror's own state (key-log copy, audit state, evidence) is in
//! `DIR/.cairn-mirror/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use cairn_verifier::tile::{
    EntryBundle, MAX_BUNDLE_SIZE, TILE_HEIGHT, TileHashReader, TreeHead, encode_entry_bundle,
    new_tiles, read_tile_data,
};

use crate::audit::{Auditor, Round};
use crate::checkpoints::now;
use crate::duration::parse_duration;
use crate::exit::Failure;
use crate::fetch::{FetchError, LogServer, Upstream, UpstreamTiles};
use crate::monitor::threads;
use crate::report::Report;
use crate::state::{StateDir, create_private_dir, sync_dir};
use crate::trust::{ClientOptions, LogName};

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
    #[arg(long, value_name = "URL|git+URL")]
    from: String,
    /// The mirror's directory (created if needed).
    #[arg(long, value_name = "DIR")]
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
    #[command(flatten)]
    client: ClientOptions,
}

/// Where the mirror reads from.
enum Source {
    Http(LogServer),
    Git(GitRemote),
}

/// `cairn mirror`.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    if args.interval.is_zero() {
        return Err(Failure::Usage("--interval must be longer than zero".to_owned()).into());
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
                .map_err(|e| Failure::Usage(format!("--from {:?}: {e}", args.from)))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(Failure::Usage(format!(
                    "--from {:?}: use an http(s) URL, or git+URL for a git repository",
                    args.from
                ))
                .into());
            }
            Source::Http(LogServer::new(&args.from)?)
        }
    };
    let auditor = Auditor::new(
        trust.clone(),
        state,
        Vec::new(),
        trust.max_age.as_secs(),
        threads(args.threads),
    );
    loop {
        let result = match &source {
            Source::Http(server) => round(&auditor, server, &dir, args.verbose),
            Source::Git(remote) => remote
                .fetch()
                .and_then(|tree| round(&auditor, &tree, &dir, args.verbose)),
        };
        match &result {
            Ok(round) => eprintln!(
                "cairn: mirror: {} now at releases {}, keys {} (verified)",
                dir.display(),
                round.releases.size(),
                round.keylog.checkpoint.size()
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

/// One round: verify, stage, move into place, then save the verified state.
fn round<U: Upstream + ?Sized>(
    auditor: &Auditor,
    up: &U,
    dir: &Path,
    verbose: bool,
) -> anyhow::Result<Round> {
    let staging = Staging::new(dir)?;
    let own = DirFiles {
        root: dir.to_path_buf(),
    };
    let mut report = Report::new(verbose);
    let mut alerts = Vec::new();
    let mut sink = |bundle: &EntryBundle, entries: &[Vec<u8>], first: u64| {
        check_known_prefix(&own, bundle, entries, first)?;
        let data = encode_entry_bundle(entries)
            .map_err(|e| anyhow::anyhow!("re-encoding bundle {}: {e}", bundle.path()))?;
        staging.put(&format!("releases/{}", bundle.path()), &data)
    };
    let round = auditor.round(up, now(), &mut report, &mut alerts, &mut sink)?;
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
                    anyhow::Error::new(Failure::Verification(format!(
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
    Ok(round)
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
        return Err(Failure::Verification(format!(
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
            "keys/checkpoint" => 1,
            "releases/checkpoint" => 2,
            _ => 0,
        });
        let mut dirs: std::collections::BTreeSet<PathBuf> = std::collections::BTreeSet::new();
        for path in &files {
            let to = dir.join(path);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
                if path.ends_with("/checkpoint") {
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

/// Files under a directory, as an [`Upstream`] (the mirror's own copy).
#[derive(Debug)]
pub(crate) struct DirFiles {
    /// The directory.
    pub(crate) root: PathBuf,
}

impl Upstream for DirFiles {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, FetchError> {
        if path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(FetchError(format!("refusing path {path:?}")));
        }
        let full = self.root.join(path);
        match fs::read(&full) {
            Ok(data) if data.len() > limit => Err(FetchError(format!(
                "{} is larger than {limit} bytes",
                full.display()
            ))),
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FetchError(format!("reading {}: {e}", full.display()))),
        }
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
            return Err(Failure::Usage(format!(
                "--from git+{url:?}: use git+file://, git+git://, git+http(s):// or git+ssh://"
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
        // Index the two logs' files once: each later read is one object lookup.
        let mut files = std::collections::HashMap::new();
        let mut budget = MAX_TREE_ENTRIES;
        index_tree(&repo, tree, "", 0, &mut budget, &mut files)?;
        Ok(GitTree {
            repo: repo.into_sync(),
            files,
            pool: std::sync::Mutex::default(),
            what: format!("git {} ({BRANCH} at {id})", self.url),
        })
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

/// Deepest directory a log's layout has below the repository root is 6
/// (`releases/tile/entries/x001/x234/067.p`); a deeper tree is refused.
const MAX_TREE_DEPTH: usize = 8;
/// Most tree entries read from a fetched commit: enough for the tiles and bundles of a log of
/// about four billion entries, and a bound on what an upstream that shares one subtree many
/// times over (a "git bomb") can make the mirror walk.
const MAX_TREE_ENTRIES: usize = 1 << 24;

/// Records the blobs under `releases/` and `keys/` of `tree` by path, refusing a tree deeper
/// than [`MAX_TREE_DEPTH`] or with more than `budget` entries in all (the upstream is
/// untrusted).
fn index_tree(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    prefix: &str,
    depth: usize,
    budget: &mut usize,
    files: &mut std::collections::HashMap<String, gix::ObjectId>,
) -> anyhow::Result<()> {
    if depth > MAX_TREE_DEPTH {
        return Err(Failure::Verification(format!(
            "the fetched tree nests deeper than a log's layout ({prefix:?}); refusing it"
        ))
        .into());
    }
    let object = repo
        .find_object(tree)
        .with_context(|| format!("reading tree {prefix:?} of the fetched commit"))?;
    let decoded = object
        .try_into_tree()
        .context("a tree entry is not a tree")?;
    let entries: Vec<(gix::objs::tree::EntryMode, String, gix::ObjectId)> = decoded
        .decode()
        .context("decoding a tree of the fetched commit")?
        .entries
        .iter()
        .map(|e| (e.mode, e.filename.to_string(), e.oid.to_owned()))
        .collect();
    *budget = budget.checked_sub(entries.len()).ok_or_else(|| {
        Failure::Verification(format!(
            "the fetched tree has more than {MAX_TREE_ENTRIES} entries; refusing it"
        ))
    })?;
    for (mode, name, oid) in entries {
        let path = format!("{prefix}{name}");
        if prefix.is_empty() && name != "releases" && name != "keys" {
            continue;
        }
        if mode.is_tree() {
            index_tree(repo, oid, &format!("{path}/"), depth + 1, budget, files)?;
        } else if mode.is_blob() {
            files.insert(path, oid);
        }
    }
    Ok(())
}

/// The files of one fetched commit, as an [`Upstream`].
#[derive(Debug)]
struct GitTree {
    repo: gix::ThreadSafeRepository,
    /// Blob ids of the logs' files, by path.
    files: std::collections::HashMap<String, gix::ObjectId>,
    /// Thread-local handles, reused across reads.
    pool: std::sync::Mutex<Vec<gix::Repository>>,
    what: String,
}

impl Upstream for GitTree {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, FetchError> {
        let fail = |e: &dyn std::fmt::Display| FetchError(format!("{}: {path}: {e}", self.what));
        let Some(&oid) = self.files.get(path) else {
            return Ok(None);
        };
        let repo = self
            .pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| self.repo.to_thread_local());
        let read = (|| {
            let header = repo.find_header(oid).map_err(|e| fail(&e))?;
            if usize::try_from(header.size()).unwrap_or(usize::MAX) > limit {
                return Err(fail(&format!("larger than {limit} bytes")));
            }
            let object = repo.find_object(oid).map_err(|e| fail(&e))?;
            Ok(Some(object.detach().data))
        })();
        if let Ok(mut p) = self.pool.lock() {
            p.push(repo);
        }
        read
    }
}
