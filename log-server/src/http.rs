//! The HTTP API (spec/http-api.md): tlog-tiles reads for both logs, submissions, lookups,
//! channel files, metrics.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cairn_verifier::compact::to_compact;
use cairn_verifier::entry::{Entry, Sha256Digest};
use cairn_verifier::lookup::{self, NameLookup};
use cairn_verifier::note::{Ed25519Verifier, Note, NoteVerifier as _};
use cairn_verifier::tile::TilePath;
use tokio::sync::{mpsc, oneshot};

use crate::batcher::Pending;
use crate::log::{CheckedSignatures, Log, LogKind, MAX_ENTRY_SIZE, Outcome, Refusal, Submission};
use crate::metrics::Metrics;
use crate::ratelimit::SubmissionLimits;
use crate::tile_cache::TileCache;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The log.
    pub log: Arc<Log>,
    /// The sequencer's queue.
    pub submit: mpsc::Sender<Pending<Submission, Outcome>>,
    /// Rate limits of `add`.
    pub limits: SubmissionLimits,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Encoded tiles and entry bundles already served (they never change).
    pub tiles: TileCache,
    /// With witnesses: the sizes whose cosigning round finished, and how long an `add` waits
    /// for its entry's round before answering with the log-signed checkpoint.
    pub witnessed: Option<(tokio::sync::watch::Receiver<(u64, u64)>, Duration)>,
    /// The body of `GET /trust-policy` (see [`crate::explorer::trust_policy`]).
    pub trust_policy: String,
}

/// The router of the whole API.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/{log}/checkpoint", get(checkpoint))
        .route("/{log}/tile/{*rest}", get(tile).layer(bundle_compression()))
        .route(
            "/{log}/add",
            post(add).layer(DefaultBodyLimit::max(MAX_ENTRY_SIZE)),
        )
        .route("/{log}/proof/{index}", get(proof))
        .route("/releases/lookup/size", get(lookup_size))
        .route("/releases/lookup/sha256/{digest}", get(lookup_digest))
        .route("/releases/lookup/name/{*rest}", get(lookup_name))
        .route(
            "/releases/lookup/deprecations/{*rest}",
            get(lookup_deprecations),
        )
        .route("/releases/update-latest.txt", get(update_latest))
        .route("/releases/dns-txt", get(dns_txt))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route(
            "/trust-policy",
            get(|State(app): State<Arc<AppState>>| async move {
                crate::explorer::policy_response(app.trust_policy.clone())
            }),
        )
        .merge(crate::explorer::routes())
        .merge(crate::sigstore_check::routes())
        .with_state(state)
}

/// Marks a response as an entry bundle, the one kind of reply gzipped for clients that send
/// `Accept-Encoding: gzip` (signed-note entries compress well; hash tiles are random bytes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryBundleBody;

/// gzip for entry bundles only (see [`EntryBundleBody`]); everything else passes unchanged.
pub(crate) fn bundle_compression()
-> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    tower_http::compression::CompressionLayer::new().compress_when(
        |status: StatusCode,
         _: axum::http::Version,
         _: &axum::http::HeaderMap,
         extensions: &axum::http::Extensions| {
            status == StatusCode::OK && extensions.get::<EntryBundleBody>().is_some()
        },
    )
}

pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut body = body.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn log_kind(name: &str) -> Option<LogKind> {
    match name {
        "releases" => Some(LogKind::Releases),
        "keys" => Some(LogKind::Keys),
        _ => None,
    }
}

fn no_such_log() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "no such log; use /releases/ or /keys/",
    )
}

async fn checkpoint(State(app): State<Arc<AppState>>, Path(log): Path<String>) -> Response {
    let Some(kind) = log_kind(&log) else {
        return no_such_log();
    };
    let bytes = app.log.read().log(kind).checkpoint();
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes.to_vec(),
    )
        .into_response()
}

async fn tile(
    State(app): State<Arc<AppState>>,
    Path((log, rest)): Path<(String, String)>,
) -> Response {
    let Some(kind) = log_kind(&log) else {
        return no_such_log();
    };
    let path = format!("tile/{rest}");
    let is_bundle = path.starts_with("tile/entries/");
    let data = match app.tiles.get(kind, &path) {
        Some(data) => Some(data),
        None => {
            let parsed = match TilePath::parse(&path) {
                Ok(p) => p,
                Err(e) => return text(StatusCode::BAD_REQUEST, format!("bad tile path: {e}")),
            };
            let data = {
                let state = app.log.read();
                let log = state.log(kind);
                match &parsed {
                    TilePath::Hashes(t) => log.tile_data(t),
                    TilePath::Entries(b) => log.bundle_data(b),
                }
            };
            data.map(|data| {
                let data = Bytes::from(data);
                app.tiles.insert(kind, path, data.clone());
                data
            })
        }
    };
    match data {
        Some(data) => {
            let mut response = (
                [
                    (header::CONTENT_TYPE, "application/octet-stream"),
                    (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                ],
                data,
            )
                .into_response();
            if is_bundle {
                response.extensions_mut().insert(EntryBundleBody);
            }
            response
        }
        None => text(StatusCode::NOT_FOUND, "no such tile in the current tree"),
    }
}

pub(crate) fn too_many(app: &AppState, wait: Duration) -> Response {
    app.metrics
        .rate_limited
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = text(
        StatusCode::TOO_MANY_REQUESTS,
        format!("rate limited; retry in {secs} s"),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The keys of `kind`'s log that may have signed `entry` (those named on its signature lines):
/// release keys for the release log, root keys for the key log. Copied so that the signature
/// checks run without holding the state lock.
fn candidate_keys(log: &Log, kind: LogKind, entry: &[u8]) -> Vec<Ed25519Verifier> {
    let Ok(note) = Note::parse_entry(entry) else {
        return Vec::new();
    };
    let state = log.read();
    let Some(key_state) = state.key_state() else {
        return Vec::new();
    };
    let named = |k: &Ed25519Verifier| {
        note.signatures()
            .iter()
            .any(|s| k.name() == &s.name && k.key_id() == s.key_id)
    };
    match kind {
        LogKind::Releases => key_state
            .release_keys()
            .iter()
            .map(|k| k.key())
            .filter(|k| named(k))
            .cloned()
            .collect(),
        LogKind::Keys => key_state
            .roots()
            .keys()
            .iter()
            .filter(|k| named(k))
            .cloned()
            .collect(),
    }
}

pub(crate) async fn add(
    State(app): State<Arc<AppState>>,
    Path(log): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let Some(kind) = log_kind(&log) else {
        return no_such_log();
    };
    // Behind a trusted reverse proxy, the client is the address the proxy forwarded.
    let ip: IpAddr = app
        .limits
        .trusted_proxies
        .client_address(peer.ip(), &headers);
    if let Err(wait) = app.limits.per_address.check(&ip) {
        return too_many(&app, wait);
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("entry is larger than {MAX_ENTRY_SIZE} bytes")
            } else {
                format!("could not read the request body: {rejection}")
            };
            return text(status, reason);
        }
    };
    // Cheap syntax checks here, so malformed input never occupies the single sequencer.
    if let Err(reason) = check_syntax(&body) {
        return text(StatusCode::BAD_REQUEST, reason);
    }
    let entry = body.to_vec();
    // Verify the signatures here, where many adds run at once (on every runtime worker), and
    // hand the sequencer (one thread) the facts: it then only applies the key-log policy. The
    // facts also give the per-key rate limit its verified signer, so nobody can spend someone
    // else's budget by copying their key name. Key events are verified by the sequencer (the
    // key state's own replay), so for the key log this is only done for the per-key limit.
    // Inline, not on the blocking pool: one Ed25519 verification per signature line (about
    // 50 us; an entry has at most a few lines) is shorter than the thread hand-offs of
    // `spawn_blocking`, which cost more CPU than the verification under load (perf, run E).
    // An entry already logged costs no budget and no verification: anyone may replay a logged
    // entry (it is public), and its answer is the existing proof.
    let already_logged = app.log.read().log(kind).index_of(&entry).is_some();
    let per_key = app.limits.per_key.is_limited();
    let mut checked = CheckedSignatures::default();
    if !already_logged && (kind == LogKind::Releases || per_key) {
        let keys = candidate_keys(&app.log, kind, &entry);
        checked = CheckedSignatures::check(&entry, &keys);
        if per_key
            && let Some(key) = checked.signer()
            && let Err(wait) = app.limits.per_key.check(&key)
        {
            return too_many(&app, wait);
        }
    }
    if kind == LogKind::Keys {
        // The sequencer verifies key events through the key state; facts would go unused.
        checked = CheckedSignatures::default();
    }
    let (reply, answer) = oneshot::channel();
    let pending = Pending {
        item: Submission {
            log: kind,
            entry,
            checked,
        },
        reply,
    };
    if app.submit.send(pending).await.is_err() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the sequencer is shutting down; retry",
        );
    }
    let mut outcome = answer.await;
    if let (Ok(Outcome::Logged { index, proof, .. }), Some((witnessed, wait))) =
        (&mut outcome, &app.witnessed)
    {
        // Give the witnesses one round, so the proof's checkpoint carries their cosignatures
        // (a client whose policy needs a quorum can use it offline). Bounded: a witness that is
        // down makes the answer later, never lost.
        let mut witnessed = witnessed.clone();
        let reached = |sizes: &(u64, u64)| match kind {
            LogKind::Releases => sizes.0 > *index,
            LogKind::Keys => sizes.1 > *index,
        };
        let _ = tokio::time::timeout(*wait, witnessed.wait_for(reached)).await;
        if let Some(cosigned) = app.log.read().log(kind).proof(*index) {
            *proof = cosigned;
        }
    }
    app.metrics.add_latency.observe(started.elapsed());
    match outcome {
        Ok(Outcome::Logged { proof, .. }) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            proof,
        )
            .into_response(),
        Ok(Outcome::Refused { rule, reason }) => text(refusal_status(rule), reason),
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the sequencer stopped before answering; the entry may or may not be logged, resubmit (submissions are idempotent)",
        ),
    }
}

/// The status code of each refusal rule (spec/http-api.md, "add"): the only place the log's
/// refusals meet HTTP.
fn refusal_status(rule: Refusal) -> StatusCode {
    match rule {
        Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Refusal::Malformed => StatusCode::BAD_REQUEST,
        Refusal::Unauthorized => StatusCode::FORBIDDEN,
        Refusal::Conflict => StatusCode::CONFLICT,
        Refusal::Contradicts => StatusCode::UNPROCESSABLE_ENTITY,
        Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        // Refusal is non_exhaustive for other crates only; a new rule needs its status here.
    }
}

fn check_syntax(body: &[u8]) -> Result<(), String> {
    let note = Note::parse(body).map_err(|e| format!("malformed note: {e}"))?;
    Entry::parse(note.text()).map_err(|e| format!("malformed entry: {e}"))?;
    Ok(())
}

async fn proof(
    State(app): State<Arc<AppState>>,
    Path((log, index)): Path<(String, String)>,
) -> Response {
    let Some(kind) = log_kind(&log) else {
        return no_such_log();
    };
    let Some(index) = cairn_verifier::decimal::parse_canonical_u64(&index) else {
        return text(StatusCode::BAD_REQUEST, "index must be a canonical decimal");
    };
    match app.log.read().log(kind).proof(index) {
        Some(p) => text(StatusCode::OK, String::from_utf8_lossy(&p)),
        None => text(StatusCode::NOT_FOUND, "no entry at that index"),
    }
}

async fn lookup_digest(State(app): State<Arc<AppState>>, Path(digest): Path<String>) -> Response {
    let Ok(digest) = Sha256Digest::parse(&format!("sha256:{digest}")) else {
        return text(
            StatusCode::BAD_REQUEST,
            "digest must be 64 lowercase hexadecimal digits",
        );
    };
    let indexes = app.log.read().lookup_digest(digest.as_bytes());
    if indexes.is_empty() {
        return text(StatusCode::NOT_FOUND, "no entry names that digest");
    }
    let body: String = indexes.iter().map(|i| format!("{i}\n")).collect();
    text(StatusCode::OK, body)
}

async fn lookup_size(State(app): State<Arc<AppState>>) -> Response {
    text(StatusCode::OK, format!("{}", app.log.read().lookup_size()))
}

/// The static forms of spec/http-api.md ("Static lookups"), which a mirror's files answer too.
fn lookup_name_static(app: &AppState, lookup: NameLookup) -> Response {
    let state = app.log.read();
    let body = match &lookup {
        NameLookup::Versions(name) => lookup::versions_body(&state.lookup_versions(name.as_str())),
        NameLookup::Release(name, version) => state
            .lookup_release(name.as_str(), version.as_str())
            .map(|i| lookup::indexes_body(&[i]))
            .unwrap_or_default(),
        NameLookup::Deprecations(name, version) => {
            lookup::indexes_body(&state.lookup_deprecations(name.as_str(), version.as_str()))
        }
    };
    drop(state);
    if body.is_empty() {
        return text(StatusCode::NOT_FOUND, "no such entry");
    }
    text(StatusCode::OK, body)
}

async fn lookup_name(State(app): State<Arc<AppState>>, Path(rest): Path<String>) -> Response {
    if let Some(lookup) = lookup::parse_name_lookup(&rest) {
        return lookup_name_static(&app, lookup);
    }
    let Some((name, version)) = rest.rsplit_once('/') else {
        return text(
            StatusCode::BAD_REQUEST,
            "expected /releases/lookup/name/<name>/<version>",
        );
    };
    match app.log.read().lookup_release(name, version) {
        Some(i) => text(StatusCode::OK, format!("{i}")),
        None => text(
            StatusCode::NOT_FOUND,
            "no release with that name and version",
        ),
    }
}

async fn lookup_deprecations(
    State(app): State<Arc<AppState>>,
    Path(rest): Path<String>,
) -> Response {
    let Some((name, version)) = rest.rsplit_once('/') else {
        return text(
            StatusCode::BAD_REQUEST,
            "expected /releases/lookup/deprecations/<name>/<version>",
        );
    };
    let indexes = app.log.read().lookup_deprecations(name, version);
    if indexes.is_empty() {
        return text(StatusCode::NOT_FOUND, "no deprecation of that release");
    }
    let body: String = indexes.iter().map(|i| format!("{i}\n")).collect();
    text(StatusCode::OK, body)
}

fn compact_line(app: &AppState) -> Option<String> {
    let bytes = app.log.read().releases.checkpoint();
    to_compact(&Note::parse(&bytes).ok()?).ok()
}

fn checkpoint_unavailable() -> Response {
    text(StatusCode::INTERNAL_SERVER_ERROR, "checkpoint unavailable")
}

async fn update_latest(State(app): State<Arc<AppState>>) -> Response {
    match compact_line(&app) {
        Some(line) => {
            let mut r = text(StatusCode::OK, line);
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        None => checkpoint_unavailable(),
    }
}

async fn dns_txt(State(app): State<Arc<AppState>>) -> Response {
    match compact_line(&app) {
        Some(line) => text(StatusCode::OK, line),
        None => checkpoint_unavailable(),
    }
}

async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

async fn healthz(State(app): State<Arc<AppState>>) -> Response {
    if app.log.is_broken() {
        text(StatusCode::SERVICE_UNAVAILABLE, "storage failed")
    } else {
        text(StatusCode::OK, "ok")
    }
}
