//! `cairn serve --mirror DIR`: the read API of spec/http-api.md ("Read API") from a mirror's
//! copy, read-only. `DIR` is what `cairn mirror` maintains: both logs' `checkpoint`, hash
//! tiles and entry bundles, each verified before it was moved into place, the static lookups
//! ("Static lookups") and `releases/update-latest.txt`. Exactly what a static web server serving
//! the same directory answers: submissions are refused with 405; the log server's dynamic-only
//! extras (proofs, the older `<name>/<version>` lookup forms) are 404. `/metrics` shows the
//! mirror's last round (`DIR/.cairn-mirror/metrics.prom`, written by `cairn mirror`).

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_verifier::lookup;
use cairn_verifier::tile::TilePath;
use tokio::net::TcpListener;

#[derive(Debug)]
struct Mirror {
    dir: PathBuf,
}

fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{body}\n"),
    )
        .into_response()
}

fn known_log(log: &str) -> bool {
    matches!(log, "releases" | "keys")
}

/// The read-only router over `dir`.
pub fn router(dir: PathBuf) -> Router {
    let state = Arc::new(Mirror { dir });
    Router::new()
        .route("/{log}/checkpoint", get(checkpoint))
        .route("/{log}/tile/{*rest}", get(tile))
        .route("/{log}/add", axum::routing::any(read_only))
        .route("/releases/lookup/{*rest}", get(lookup))
        .route("/releases/update-latest.txt", get(update_latest))
        .route("/releases/sigstore-bundle/{digest}", get(sigstore_bundle))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { text(StatusCode::OK, "ok") }))
        .route("/trust-policy", get(trust_policy))
        .merge(crate::explorer::routes())
        .fallback(|| async { text(StatusCode::NOT_FOUND, "not served by a read-only mirror") })
        .with_state(state)
}

/// `DIR/trust-policy`, when the mirror's operator put the log's published policy there (the
/// explorer shows it; docs/explorer.md).
async fn trust_policy(State(m): State<Arc<Mirror>>) -> Response {
    match tokio::fs::read_to_string(m.dir.join("trust-policy")).await {
        Ok(policy) => crate::explorer::policy_response(policy),
        Err(_) => text(
            StatusCode::NOT_FOUND,
            "this mirror publishes no trust policy",
        ),
    }
}

async fn read_only() -> Response {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "this is a read-only mirror; submit to the log itself",
    );
    r.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
    r
}

async fn checkpoint(State(m): State<Arc<Mirror>>, Path(log): Path<String>) -> Response {
    if !known_log(&log) {
        return text(
            StatusCode::NOT_FOUND,
            "no such log; use /releases/ or /keys/",
        );
    }
    match tokio::fs::read(m.dir.join(&log).join("checkpoint")).await {
        Ok(data) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            data,
        )
            .into_response(),
        Err(_) => text(StatusCode::NOT_FOUND, "the mirror holds no checkpoint yet"),
    }
}

async fn tile(State(m): State<Arc<Mirror>>, Path((log, rest)): Path<(String, String)>) -> Response {
    if !known_log(&log) {
        return text(
            StatusCode::NOT_FOUND,
            "no such log; use /releases/ or /keys/",
        );
    }
    let path = format!("tile/{rest}");
    // Only paths of the tlog-tiles grammar reach the file system.
    if let Err(e) = TilePath::parse(&path) {
        return text(StatusCode::BAD_REQUEST, &format!("bad tile path: {e}"));
    }
    match tokio::fs::read(m.dir.join(&log).join(&path)).await {
        Ok(data) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            data,
        )
            .into_response(),
        Err(_) => text(StatusCode::NOT_FOUND, "no such tile in the mirror"),
    }
}

/// Whether `rest` (after `releases/lookup/`) is a static lookup path: only those reach the
/// file system, so no request can name anything else in `DIR`.
fn static_lookup(rest: &str) -> bool {
    if rest == "size" {
        return true;
    }
    if let Some(hex) = rest.strip_prefix("sha256/") {
        return hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    }
    rest.strip_prefix("name/")
        .and_then(lookup::parse_name_lookup)
        .is_some()
}

async fn lookup(State(m): State<Arc<Mirror>>, Path(rest): Path<String>) -> Response {
    if !static_lookup(&rest) {
        return text(
            StatusCode::NOT_FOUND,
            "a mirror answers the static lookups of spec/http-api.md only",
        );
    }
    match tokio::fs::read(m.dir.join(lookup::LOOKUP_DIR).join(&rest)).await {
        Ok(data) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            data,
        )
            .into_response(),
        Err(_) if rest == "size" => text(
            StatusCode::NOT_FOUND,
            "this mirror's copy holds no lookups (made by an older cairn mirror?)",
        ),
        Err(_) => text(StatusCode::NOT_FOUND, "no such entry"),
    }
}

async fn plain_file(path: PathBuf, content_type: &'static str, missing: &str) -> Response {
    match tokio::fs::read(path).await {
        Ok(data) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            data,
        )
            .into_response(),
        Err(_) => text(StatusCode::NOT_FOUND, missing),
    }
}

/// A Sigstore bundle the copy holds (spec/git-layout.md); only a 64-hex-digit name reaches the
/// file system.
async fn sigstore_bundle(State(m): State<Arc<Mirror>>, Path(digest): Path<String>) -> Response {
    let hex = digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return text(
            StatusCode::BAD_REQUEST,
            "a bundle is named by 64 lowercase hex digits of its SHA-256",
        );
    }
    plain_file(
        m.dir.join("releases/sigstore-bundle").join(&digest),
        "application/json",
        "no such Sigstore bundle in this copy",
    )
    .await
}

async fn update_latest(State(m): State<Arc<Mirror>>) -> Response {
    plain_file(
        m.dir.join("releases/update-latest.txt"),
        "text/plain; charset=utf-8",
        "the mirror holds no update-latest.txt yet",
    )
    .await
}

async fn metrics(State(m): State<Arc<Mirror>>) -> Response {
    plain_file(
        m.dir.join(".cairn-mirror/metrics.prom"),
        "text/plain; version=0.0.4",
        "the mirror has not finished a round yet",
    )
    .await
}

/// Serves `dir` on `listener` until `shutdown` resolves.
pub async fn run(
    dir: PathBuf,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Read-only: no request has a body worth keeping, but a submission sent here by mistake (at
    // most one entry's size) reaches the router and is told 405 "read-only mirror", not 413.
    let limits =
        crate::listener::ConnectionLimits::defaults_for_this_process(usize::from(u16::MAX));
    crate::listener::serve(listener, router(dir), limits, shutdown).await
}
