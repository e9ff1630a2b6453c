//! What the client fetches from a log server (`spec/http-api.md`): checkpoints, tiles, entry
//! bundles and lookups. Nothing here is trusted: checkpoints are verified by the caller, tiles
//! go through [`TileHashReader`], entries are checked against authenticated leaf hashes, and
//! lookups are only hints. Every reply is size-capped while it is read.

use std::io::Read as _;
use std::time::Duration;

use crate::error::Context as _;
use cairn_verifier::note::MAX_NOTE_SIZE;
use cairn_verifier::tile::{
    EntryBundle, MAX_BUNDLE_SIZE, TILE_HEIGHT, TILE_WIDTH, Tile, TileHashReader, TileReader,
    TreeHead,
};

use crate::Error;
use crate::trust::LogName;

/// Longest time one fetch (checkpoint, tile, entry bundle, lookup) may take from the request
/// to the last byte, unless `--timeout` says otherwise. reqwest's blocking timeout bounds each
/// wait (the headers, every read), not the whole transfer, so a server trickling one byte at a
/// time would never be given up without a total deadline: [`DeadlineReader`] checks it between
/// reads, and each wait is bounded by the same duration, so a fetch ends within twice it.
pub const DEFAULT_REQUEST_DEADLINE: Duration = Duration::from_secs(300);

/// The deadline in force for this process (`--timeout`), set once at start.
static REQUEST_DEADLINE: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

/// Sets the total deadline of every bounded fetch (`--timeout`). The first call wins.
pub fn set_request_deadline(deadline: Duration) {
    let _ = REQUEST_DEADLINE.set(deadline);
}

/// The total deadline of one bounded fetch.
pub fn request_deadline() -> Duration {
    REQUEST_DEADLINE
        .get()
        .copied()
        .unwrap_or(DEFAULT_REQUEST_DEADLINE)
}
/// Longest lookup answer read: a few thousand indexes.
const MAX_LOOKUP_SIZE: usize = 64 * 1024;
/// Longest refusal reason kept from a reply.
const MAX_REASON_LEN: usize = 200;

/// A failed request, as the error type of [`TileReader`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

/// A blocking HTTP client built the way every Cairn command builds one (rustls with ring).
/// It sends `Accept-Encoding: gzip` and decodes gzip answers (hosts may gzip entry bundles,
/// as tlog-tiles allows); every cap ([`read_limited`]) applies to the decoded bytes.
pub fn http_client(timeout: Option<Duration>) -> crate::Result<reqwest::blocking::Client> {
    client_builder(timeout)
        .build()
        .context("setting up the HTTP client")
}

/// Like [`http_client`], for downloading release files: the bytes exactly as the host stores
/// them. No `Accept-Encoding`, and a `Content-Encoding: gzip` answer is not decoded: a host
/// that labels a `.tar.gz` that way (Apache's `AddEncoding x-gzip .gz`) would otherwise hand
/// over the decompressed tar, whose digest is not the release's.
pub fn download_client(timeout: Option<Duration>) -> crate::Result<reqwest::blocking::Client> {
    client_builder(timeout)
        .no_gzip()
        .build()
        .context("setting up the HTTP client")
}

fn client_builder(timeout: Option<Duration>) -> reqwest::blocking::ClientBuilder {
    // reqwest is built without a default crypto provider (to keep aws-lc-sys out); ring is
    // installed once per process. An error means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
}

/// A reader that fails once a deadline has passed, checked before every read: the total
/// deadline of a fetch whose single reads each have their own timeout.
#[derive(Debug)]
pub struct DeadlineReader<R> {
    inner: R,
    deadline: std::time::Instant,
    budget: Duration,
}

impl<R> DeadlineReader<R> {
    /// `inner`, failing after `budget` from now.
    pub fn new(inner: R, budget: Duration) -> DeadlineReader<R> {
        DeadlineReader {
            inner,
            deadline: std::time::Instant::now() + budget,
            budget,
        }
    }
}

impl<R: std::io::Read> std::io::Read for DeadlineReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if std::time::Instant::now() >= self.deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the transfer took longer than {} (the server is too slow or trickling; \
                     see --timeout)",
                    human_duration(self.budget)
                ),
            ));
        }
        self.inner.read(buf)
    }
}

/// `90 s` or `250 ms`.
pub fn human_duration(d: Duration) -> String {
    // Whole seconds, rounded up, from one second on (a remaining budget is a hair short).
    if d >= Duration::from_secs(1) {
        format!("{} s", d.as_secs_f64().ceil())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Reads at most `limit` bytes of a reply, failing if there are more or if the whole reply
/// takes longer than [`request_deadline`].
pub fn read_limited(
    response: reqwest::blocking::Response,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    read_limited_within(response, limit, request_deadline())
}

/// [`read_limited`] with the total deadline `budget` counted from now.
pub fn read_limited_within(
    response: reqwest::blocking::Response,
    limit: usize,
    budget: Duration,
) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let started = std::time::Instant::now();
    DeadlineReader::new(response, budget)
        .take(cap)
        .read_to_end(&mut body)
        .map_err(|e| {
            // reqwest's own per-request timeout may end the transfer first; say which limit.
            if started.elapsed() >= budget {
                FetchError(format!(
                    "reading the reply: the transfer took longer than {} (the server is too \
                     slow or trickling; see --timeout)",
                    human_duration(budget)
                ))
            } else {
                FetchError(format!("reading the reply: {}", error_chain(&e)))
            }
        })?;
    if body.len() > limit {
        return Err(FetchError(format!(
            "the reply is larger than {limit} bytes"
        )));
    }
    Ok(body)
}

/// An error and its causes on one line ("a: b: c"), as reqwest's own message leaves the cause
/// (refused connection, timeout) out.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// The first line of a refusal body, without control characters, shortened.
pub fn reason_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REASON_LEN)
        .collect();
    if line.is_empty() {
        "(no reason given)".to_owned()
    } else {
        line
    }
}

/// Where a log's tlog-tiles files come from: a log server, a mirror, a static web server, or a
/// git tree. Untrusted: everything read through it is verified by the caller.
pub trait Upstream: std::fmt::Debug + Send + Sync {
    /// Where the files come from, for messages.
    fn describe(&self) -> String;

    /// The file at `path` (relative, such as `releases/checkpoint`): `Ok(None)` when it does
    /// not exist, an error on any other failure or a file over `limit` bytes.
    fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, FetchError>;
}

impl<T: Upstream + ?Sized> Upstream for &T {
    fn describe(&self) -> String {
        (**self).describe()
    }

    fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, FetchError> {
        (**self).get(path, limit)
    }
}

fn must_get<U: Upstream + ?Sized>(up: &U, path: &str, limit: usize) -> crate::Result<Vec<u8>> {
    up.get(path, limit)?
        .ok_or_else(|| crate::error::err!("{}: {path} does not exist", up.describe()))
}

/// The latest checkpoint of `log` at `up`, unverified.
pub fn checkpoint_of<U: Upstream + ?Sized>(up: &U, log: LogName) -> crate::Result<Vec<u8>> {
    must_get(up, &format!("{}/checkpoint", log.as_str()), MAX_NOTE_SIZE)
}

/// The entries of `bundle` of `log` at `up`, unverified (falling back to the full bundle, cut
/// to width, when the partial one is gone because the log grew).
pub fn bundle_of<U: Upstream + ?Sized>(
    up: &U,
    log: LogName,
    bundle: &EntryBundle,
) -> crate::Result<Vec<Vec<u8>>> {
    let split = |b: &EntryBundle, data: &[u8]| -> crate::Result<Vec<Vec<u8>>> {
        let entries = b.split(data).map_err(|e| {
            Error::Refused(format!("{} is not a valid entry bundle: {e}", b.path()))
        })?;
        Ok(entries.into_iter().map(<[u8]>::to_vec).collect())
    };
    let path = format!("{}/{}", log.as_str(), bundle.path());
    if let Some(data) = up.get(&path, MAX_BUNDLE_SIZE)? {
        return split(bundle, &data);
    }
    let full = EntryBundle::new(TILE_HEIGHT, bundle.index(), TILE_WIDTH)
        .map_err(|e| crate::error::err!("{e}"))?;
    if full == *bundle {
        crate::error::bail!("{}: {path} does not exist", up.describe());
    }
    let full_path = format!("{}/{}", log.as_str(), full.path());
    let data = must_get(up, &full_path, MAX_BUNDLE_SIZE)?;
    let mut entries = split(&full, &data)?;
    entries.truncate(usize::from(bundle.width()));
    Ok(entries)
}

/// A client of one log server.
#[derive(Debug, Clone)]
pub struct LogServer {
    base: String,
    http: reqwest::blocking::Client,
}

impl Upstream for LogServer {
    fn describe(&self) -> String {
        self.base.clone()
    }

    fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, FetchError> {
        LogServer::get(self, path, limit)
    }
}

impl LogServer {
    /// A client for the server at `url` (the trust policy's log URL).
    pub fn new(url: &str) -> crate::Result<LogServer> {
        Ok(LogServer {
            base: url.trim_end_matches('/').to_owned(),
            http: http_client(Some(request_deadline()))?,
        })
    }

    /// `GET path` (relative to the base URL): `Ok(None)` on 404, an error on any other
    /// non-200 answer or a body over `limit` bytes.
    pub fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, FetchError> {
        let url = format!("{}/{path}", self.base);
        let budget = request_deadline();
        let started = std::time::Instant::now();
        let response = self
            .http
            .get(&url)
            .timeout(budget)
            .send()
            .map_err(|e| FetchError(format!("GET {url}: {}", error_chain(&e))))?;
        let status = response.status().as_u16();
        let body = read_limited_within(response, limit, budget.saturating_sub(started.elapsed()))
            .map_err(|e| FetchError(format!("GET {url}: {e}")))?;
        match status {
            200 => Ok(Some(body)),
            404 => Ok(None),
            _ => Err(FetchError(format!(
                "GET {url}: the log answered HTTP {status}: {}",
                reason_line(&body)
            ))),
        }
    }
}

/// One log's files from any [`Upstream`], shared: what a client run, the key-log sync and the
/// channel checks read the log through.
#[derive(Debug, Clone)]
pub struct Remote(std::sync::Arc<dyn Upstream>);

impl Remote {
    /// The log at `upstream`.
    pub fn new(upstream: impl Upstream + 'static) -> Remote {
        Remote(std::sync::Arc::new(upstream))
    }

    /// The log server (or mirror, or static copy) at `url`, over HTTP.
    pub fn http(url: &str) -> crate::Result<Remote> {
        Ok(Remote::new(LogServer::new(url)?))
    }

    /// The latest checkpoint of `log`, unverified.
    pub fn checkpoint(&self, log: LogName) -> crate::Result<Vec<u8>> {
        checkpoint_of(self, log)
    }

    /// Tiles of `log`, for a [`TileHashReader`] trusting `tree`.
    pub fn hash_reader(&self, log: LogName, tree: TreeHead) -> TileHashReader<RemoteTiles> {
        TileHashReader::new(tree, UpstreamTiles::new(self.clone(), log))
    }

    /// The entries of `bundle` of `log`, unverified.
    pub fn bundle(&self, log: LogName, bundle: &EntryBundle) -> crate::Result<Vec<Vec<u8>>> {
        bundle_of(self, log, bundle)
    }

    /// The entry at `index` of `log`, authenticated: its bundle must hash to the leaf hashes
    /// `reader` reads from tiles authenticated against its trusted tree.
    pub fn entry(
        &self,
        log: LogName,
        reader: &TileHashReader<RemoteTiles>,
        index: u64,
    ) -> crate::Result<Vec<u8>> {
        let size = reader.tree().size();
        let bundle = EntryBundle::for_entry(TILE_HEIGHT, index, size)
            .map_err(|e| crate::error::err!("entry {index} of a tree of {size}: {e}"))?;
        let mut entries = self.bundle(log, &bundle)?;
        verify_bundle(log, &bundle, &entries, reader)?;
        let at = usize::try_from(index - bundle.first_entry())
            .map_err(|_| crate::error::err!("entry offset out of range"))?;
        if at >= entries.len() {
            crate::error::bail!("entry {index} is not in bundle {}", bundle.path());
        }
        Ok(entries.swap_remove(at))
    }

    /// `GET /releases/lookup/sha256/<hex>`: release-log indexes naming that digest.
    pub fn lookup_digest(&self, hex: &str) -> crate::Result<Vec<u64>> {
        self.lookup(&format!("releases/lookup/sha256/{hex}"))
    }

    fn lookup(&self, path: &str) -> crate::Result<Vec<u64>> {
        let Some(body) = self.get(path, MAX_LOOKUP_SIZE)? else {
            return Ok(Vec::new());
        };
        let text = String::from_utf8(body).context("lookup answer is not UTF-8")?;
        text.lines()
            .map(|l| {
                cairn_verifier::decimal::parse_canonical_u64(l)
                    .ok_or_else(|| crate::error::err!("lookup answer line {l:?} is not an index"))
            })
            .collect()
    }
}

impl Upstream for Remote {
    fn describe(&self) -> String {
        self.0.describe()
    }

    fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, FetchError> {
        self.0.get(path, limit)
    }
}

/// Checks that the entries of `bundle` hash to the leaf hashes `reader` authenticates.
pub fn verify_bundle<R: cairn_verifier::merkle::HashReader>(
    log: LogName,
    bundle: &EntryBundle,
    entries: &[Vec<u8>],
    reader: &R,
) -> crate::Result<()>
where
    R::Error: std::error::Error + Send + Sync + 'static,
{
    let slices: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    bundle.verify_entries(&slices, reader).map_err(|e| {
        if e.is_security_failure() {
            Error::Refused(format!(
                "entry bundle {} of the {} log does not match its checkpoint: {e}",
                bundle.path(),
                log.as_str()
            ))
        } else {
            crate::error::err!(
                "reading entry bundle {} of the {} log: {e}",
                bundle.path(),
                log.as_str()
            )
        }
    })
}

/// Tiles of one log from a [`Remote`].
pub type RemoteTiles = UpstreamTiles<Remote>;

/// Tiles of one log from an [`Upstream`]. Untrusted: [`TileHashReader`] authenticates what it
/// returns; tiles it authenticated are kept, so parents are fetched once per tree.
#[derive(Debug)]
pub struct UpstreamTiles<U> {
    upstream: U,
    log: LogName,
    authenticated: std::sync::Mutex<std::collections::HashMap<Tile, Vec<u8>>>,
}

impl<U: Upstream> UpstreamTiles<U> {
    /// Tiles of `log` at `upstream`.
    pub fn new(upstream: U, log: LogName) -> UpstreamTiles<U> {
        UpstreamTiles {
            upstream,
            log,
            authenticated: std::sync::Mutex::default(),
        }
    }

    fn read_one(&self, tile: &Tile) -> Result<Vec<u8>, FetchError> {
        if let Some(data) = self
            .authenticated
            .lock()
            .ok()
            .and_then(|m| m.get(tile).cloned())
        {
            return Ok(data);
        }
        // Read a little more than a full tile: a tile of the wrong length is then refused as
        // one that does not match its checkpoint (exit 3) rather than as a failed read.
        let limit = usize::from(TILE_WIDTH) * 32 * 8;
        let path = format!("{}/{}", self.log.as_str(), tile.path());
        if let Some(data) = self.upstream.get(&path, limit)? {
            return Ok(data);
        }
        if tile.is_full() {
            return Err(FetchError(format!(
                "{}: {path} does not exist",
                self.upstream.describe()
            )));
        }
        // A partial tile may be gone once the log grew; its prefix is in the full tile.
        let full = Tile::new(tile.height(), tile.level(), tile.index(), TILE_WIDTH)
            .map_err(|e| FetchError(e.to_string()))?;
        let full_path = format!("{}/{}", self.log.as_str(), full.path());
        let mut data = self
            .upstream
            .get(&full_path, limit)?
            .ok_or_else(|| FetchError(format!("neither {path} nor {full_path} exists")))?;
        // The full tile must be full; only then is its prefix the partial tile.
        if data.len() == full.data_len() {
            data.truncate(tile.data_len());
        }
        Ok(data)
    }
}

impl<U: Upstream> TileReader for UpstreamTiles<U> {
    type Error = FetchError;

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, FetchError> {
        tiles.iter().map(|tile| self.read_one(tile)).collect()
    }

    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]) {
        if let Ok(mut m) = self.authenticated.lock() {
            for (t, d) in tiles.iter().zip(data) {
                m.insert(*t, d.clone());
            }
        }
    }
}
