//! The log explorer (`explorer/` at the repository root, issue 17), embedded in the binary so
//! that `cargo build` alone gives a server that serves it: the page at `/`, its files under
//! `/explorer/`, with a Content-Security-Policy that allows nothing but this origin's own files
//! (no inline script or style, no other origin, no framing). The page reads the log through the
//! same read API as any client and verifies everything itself.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The policy sent with every explorer file.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const INDEX: &str = include_str!("../../explorer/index.html");

/// Every file of the page but `index.html`, by its path under `/explorer/`.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../explorer/style.css"),
    ),
    ("js/app.js", JS, include_str!("../../explorer/js/app.js")),
    (
        "js/bytes.js",
        JS,
        include_str!("../../explorer/js/bytes.js"),
    ),
    (
        "js/entry.js",
        JS,
        include_str!("../../explorer/js/entry.js"),
    ),
    (
        "js/hash-worker.js",
        JS,
        include_str!("../../explorer/js/hash-worker.js"),
    ),
    (
        "js/hashfile.js",
        JS,
        include_str!("../../explorer/js/hashfile.js"),
    ),
    (
        "js/keylog.js",
        JS,
        include_str!("../../explorer/js/keylog.js"),
    ),
    ("js/log.js", JS, include_str!("../../explorer/js/log.js")),
    (
        "js/merkle.js",
        JS,
        include_str!("../../explorer/js/merkle.js"),
    ),
    ("js/note.js", JS, include_str!("../../explorer/js/note.js")),
    (
        "js/policy.js",
        JS,
        include_str!("../../explorer/js/policy.js"),
    ),
    (
        "js/sha256.js",
        JS,
        include_str!("../../explorer/js/sha256.js"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

/// The explorer's routes, to merge into a router of any state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route("/explorer/{*path}", get(asset))
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => page(content_type, body),
        None => (StatusCode::NOT_FOUND, "no such explorer file\n").into_response(),
    }
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The trust policy the log server publishes at `/trust-policy` (C2SP tlog-policy): one `log`
/// line per origin with the log's verifier keys (`PREFIX/releases+...`, `PREFIX/keys+...`; the
/// single `PREFIX` key of a log not yet migrated), the configured witnesses, and a quorum of one
/// of them. Clients should pin their distribution's
/// own policy; this one says what the server is configured with.
pub fn trust_policy(log_vkeys: &str, witnesses: &[(String, String, Option<String>)]) -> String {
    let quorum = usize::from(!witnesses.is_empty());
    let logs: Vec<&str> = log_vkeys.lines().collect();
    match cairn_verifier::policy::Policy::for_logs(&logs, None, witnesses, quorum) {
        Ok(policy) => policy.to_text(),
        // The parts come from a configuration the server already accepted.
        Err(e) => format!("# no trust policy: {e}\n"),
    }
}

/// `GET /trust-policy`.
pub fn policy_response(text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response()
}
