//! The log explorer (`explorer/` at the repository root, issue 17), embedded in the binary so
//! that `cargo build` alone gives a server that serves it: the page at `/`, its files under
//! `/explorer/`, with a Content-Security-Policy that allows nothing but this origin's own files
//! (no inline script or style, no other origin, no framing). The page reads the log through the
//! same read API as any client and verifies everything itself.
//!
//! The one binary file is `explorer/wasm/sha256.wasm`, the page's SHA-256 for hashing dropped
//! files, compiled from the readable `explorer/wasm/sha256.wat` and committed so that
//! `cargo build` needs no WebAssembly tool; a test below fails when the two differ.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The policy sent with every explorer file. `'wasm-unsafe-eval'` lets the page compile
/// WebAssembly (its SHA-256, `explorer/wasm/sha256.wasm`, fetched from this origin like any other
/// file); it allows no JavaScript `eval`, no inline script and no other origin, which
/// `'unsafe-eval'` would (docs/decisions.md, "SHA-256 in the explorer: WebAssembly").
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const INDEX: &str = include_str!("../../explorer/index.html");

/// Every file of the page but `index.html`, by its path under `/explorer/`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../explorer/style.css"),
    ),
    ("js/app.js", JS, include_bytes!("../../explorer/js/app.js")),
    (
        "js/bytes.js",
        JS,
        include_bytes!("../../explorer/js/bytes.js"),
    ),
    (
        "js/entry.js",
        JS,
        include_bytes!("../../explorer/js/entry.js"),
    ),
    (
        "js/hash-worker.js",
        JS,
        include_bytes!("../../explorer/js/hash-worker.js"),
    ),
    (
        "js/hashfile.js",
        JS,
        include_bytes!("../../explorer/js/hashfile.js"),
    ),
    (
        "js/keylog.js",
        JS,
        include_bytes!("../../explorer/js/keylog.js"),
    ),
    ("js/log.js", JS, include_bytes!("../../explorer/js/log.js")),
    (
        "js/sha256-wasm.js",
        JS,
        include_bytes!("../../explorer/js/sha256-wasm.js"),
    ),
    (
        "js/merkle.js",
        JS,
        include_bytes!("../../explorer/js/merkle.js"),
    ),
    (
        "js/note.js",
        JS,
        include_bytes!("../../explorer/js/note.js"),
    ),
    (
        "js/policy.js",
        JS,
        include_bytes!("../../explorer/js/policy.js"),
    ),
    (
        "js/sha256.js",
        JS,
        include_bytes!("../../explorer/js/sha256.js"),
    ),
    ("wasm/sha256.wasm", "application/wasm", SHA256_WASM),
];

/// The page's SHA-256 compression function, compiled from `explorer/wasm/sha256.wat`.
const SHA256_WASM: &[u8] = include_bytes!("../../explorer/wasm/sha256.wasm");

const JS: &str = "text/javascript; charset=utf-8";

/// The explorer's routes, to merge into a router of any state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX.as_bytes()) }),
        )
        .route("/explorer/{*path}", get(asset))
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => page(content_type, body),
        None => (StatusCode::NOT_FOUND, "no such explorer file\n").into_response(),
    }
}

fn page(content_type: &'static str, body: &'static [u8]) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed `sha256.wasm` is exactly what `sha256.wat` compiles to, so the binary the
    /// page runs is the text a reviewer reads. `CAIRN_WRITE_WASM=1` rewrites it.
    #[test]
    fn explorer_wasm_is_compiled_from_the_wat() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../explorer/wasm");
        let wat = dir.join("sha256.wat");
        let compiled = wat::parse_file(&wat).unwrap_or_else(|e| panic!("{}: {e}", wat.display()));
        if std::env::var_os("CAIRN_WRITE_WASM").is_some() {
            std::fs::write(dir.join("sha256.wasm"), &compiled).expect("write sha256.wasm");
            return;
        }
        assert!(
            compiled == SHA256_WASM,
            "explorer/wasm/sha256.wasm is not the compiled explorer/wasm/sha256.wat; regenerate it with\n  \
             CAIRN_WRITE_WASM=1 cargo test -p cairn-log-server explorer_wasm\nand commit both"
        );
    }

    /// The page may compile WebAssembly, and nothing more: no JavaScript `eval`, no inline code.
    #[test]
    fn explorer_csp_allows_webassembly_but_no_eval() {
        let script_src = CONTENT_SECURITY_POLICY
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src "))
            .expect("a script-src directive");
        assert_eq!(script_src, "script-src 'self' 'wasm-unsafe-eval'");
        assert!(!CONTENT_SECURITY_POLICY.contains("'unsafe-eval'"));
        assert!(!CONTENT_SECURITY_POLICY.contains("'unsafe-inline'"));
    }

    #[tokio::test]
    async fn explorer_serves_the_wasm_as_application_wasm_with_the_policy() {
        let r = asset(Path("wasm/sha256.wasm".to_owned())).await;
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h[header::CONTENT_TYPE], "application/wasm");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .expect("body");
        assert!(body.starts_with(b"\0asm"), "a WebAssembly binary");
        assert_eq!(body.as_ref(), SHA256_WASM);
    }
}
