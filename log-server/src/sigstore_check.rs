//! Releases authorised by a Sigstore bundle (spec/keylog.md 5.1, spec/http-api.md
//! "add-sigstore"): the submission endpoint, the sequencer's judgement of such releases, the
//! bundle files committed with them, and serving bundles by digest.
//!
//! The server checks a Sigstore release with the same functions clients use
//! (`cairn_sigstore::judge_release`), twice: once in the handler, at the index the entry would get
//! now, so a bad bundle never occupies the sequencer; and again in the sequencer at the exact
//! index. Clients never rely on either check: they verify the bundle themselves.
//!
//! Bundles waiting for their entry's commit are held in `PENDING`, keyed by their SHA-256 and
//! counted by the requests holding them. It is process-wide on purpose: bundles are
//! content-addressed, so two logs in one process (tests) share a bundle harmlessly, and it needs
//! no field in the sequencer's state. Its size is bounded by the requests in flight, each of at
//! most [`MAX_SIGSTORE_SUBMISSION`] bytes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cairn_verifier::entry::{KeyEvent, Release, Sha256Digest, SigstoreSigner};
use cairn_verifier::keylog::{InvalidRelease, KeyState, sigstore_release_note};
use cairn_verifier::note::Note;

use crate::http::{AppState, text};
use crate::log::{LogKind, Refusal};
use crate::storage::Change;

/// Largest `POST /releases/add-sigstore` body: the entry text and the bundle. The same as every
/// request body to the log (the listener refuses a larger one with 413 before reading it):
/// real bundles are 3 to 16 KiB (the conformance suite's largest is 15,939 bytes).
pub const MAX_SIGSTORE_SUBMISSION: usize = cairn_verifier::tile::MAX_ENTRY_SIZE;

/// Where a bundle is stored in the tree and served (the same path, so a static copy of the
/// repository serves it too).
pub fn bundle_path(digest: &Sha256Digest) -> String {
    format!("releases/sigstore-bundle/{}", digest.to_hex())
}

/// Bundles of submissions in flight: digest -> (bytes, number of requests holding it).
type PendingBundles = BTreeMap<Sha256Digest, (Arc<[u8]>, usize)>;

static PENDING: Mutex<PendingBundles> = Mutex::new(BTreeMap::new());

fn pending() -> std::sync::MutexGuard<'static, PendingBundles> {
    PENDING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Holds a bundle in [`PENDING`] for as long as it lives.
struct Held(Sha256Digest);

impl Held {
    fn new(digest: Sha256Digest, bundle: Arc<[u8]>) -> Held {
        pending().entry(digest).or_insert((bundle, 0)).1 += 1;
        Held(digest)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut map = pending();
        if let Some(slot) = map.get_mut(&self.0) {
            slot.1 -= 1;
            if slot.1 == 0 {
                map.remove(&self.0);
            }
        }
    }
}

/// The sequencer's judgement of a Sigstore release at `index`, with the bundle its submission
/// brought (key-signed releases are judged by the sequencer's own signature rule).
pub(crate) fn judge_release(
    note: &Note,
    signer: &SigstoreSigner,
    index: u64,
    keys: &KeyState,
) -> Result<(), (Refusal, String)> {
    let bundle = pending().get(&signer.bundle).map(|(b, _)| Arc::clone(b));
    let Some(bundle) = bundle else {
        return Err((
            Refusal::Malformed,
            "a Sigstore release is submitted with its bundle (POST /releases/add-sigstore)"
                .to_owned(),
        ));
    };
    cairn_sigstore::judge_release(note, index, keys, &bundle)
        .map(|_| ())
        .map_err(|e| (sigstore_refusal(&e), e.to_string()))
}

/// Refuses a `sigstore-root` event whose trusted root the Sigstore verifier cannot read: the key
/// log would pin a root under which no release can ever be valid.
pub(crate) fn check_key_event(event: &KeyEvent) -> Result<(), (Refusal, String)> {
    if let KeyEvent::SigstoreRoot { trusted_root, .. } = event {
        cairn_sigstore::TrustedRoot::from_json(trusted_root).map_err(|e| {
            (
                Refusal::Malformed,
                format!("sigstore-root: the trusted root is unusable: {e}"),
            )
        })?;
    }
    Ok(())
}

fn release_refusal(e: &InvalidRelease) -> Refusal {
    match e {
        InvalidRelease::Malformed(_) | InvalidRelease::Note(_) => Refusal::Malformed,
        _ => Refusal::Unauthorized,
    }
}

fn sigstore_refusal(e: &cairn_sigstore::ReleaseError) -> Refusal {
    match e {
        cairn_sigstore::ReleaseError::KeyLog(k) => release_refusal(k),
        _ => Refusal::Unauthorized,
    }
}

/// The bundle files of the Sigstore releases among `releases` (the ones a batch appends), for
/// the batch's commit.
pub(crate) fn bundle_changes<'a>(releases: impl Iterator<Item = &'a Release>) -> Vec<Change> {
    let map = pending();
    releases
        .filter_map(|r| r.sigstore())
        .filter_map(|s| {
            map.get(&s.bundle)
                .map(|(b, _)| Change::put(bundle_path(&s.bundle), b.to_vec()))
        })
        .collect()
}

/// The routes of this module.
pub fn routes() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route(
            "/releases/add-sigstore",
            post(add_sigstore).layer(DefaultBodyLimit::max(MAX_SIGSTORE_SUBMISSION)),
        )
        .route("/releases/sigstore-bundle/{digest}", get(get_bundle))
}

/// `POST /releases/add-sigstore`: the release's entry text, one empty line, the bundle's bytes.
async fn add_sigstore(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // The bundle check below costs a few signature verifications: the per-address limit comes
    // first, so a flood of bad bundles is throttled before any of that work. (An accepted
    // submission then counts once more in `add`.)
    let ip = app
        .limits
        .trusted_proxies
        .client_address(peer.ip(), &headers);
    if let Err(wait) = app.limits.per_address.check(&ip) {
        return crate::http::too_many(&app, wait);
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("submission is larger than {MAX_SIGSTORE_SUBMISSION} bytes")
            } else {
                format!("could not read the request body: {rejection}")
            };
            return text(status, reason);
        }
    };
    let Some(split) = body.windows(2).position(|w| w == b"\n\n") else {
        return text(
            StatusCode::BAD_REQUEST,
            "the body is the entry text, an empty line, then the Sigstore bundle",
        );
    };
    let (entry_text, bundle) = (&body[..=split], &body[split + 2..]);
    let release = match std::str::from_utf8(entry_text)
        .map_err(|_| "the entry text is not UTF-8".to_owned())
        .and_then(|t| Release::parse(t).map_err(|e| format!("malformed release: {e}")))
    {
        Ok(r) => r,
        Err(reason) => return text(StatusCode::BAD_REQUEST, reason),
    };
    let Some(signer) = release.sigstore() else {
        return text(
            StatusCode::BAD_REQUEST,
            "the release has no sigstore line; releases signed by a key go to POST /releases/add",
        );
    };
    let digest = Sha256Digest::of(bundle);
    if digest != signer.bundle {
        return text(
            StatusCode::FORBIDDEN,
            format!(
                "the bundle's SHA-256 is {digest}, but the release's sigstore line names {}",
                signer.bundle
            ),
        );
    }
    let note_bytes = match sigstore_release_note(&release) {
        Ok(n) => n,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    // Check now, at the index the entry would get now, so that a bad bundle is refused
    // without waiting for the sequencer (which checks again at the exact index).
    let already_logged = app
        .log
        .read()
        .log(LogKind::Releases)
        .index_of(&note_bytes)
        .is_some();
    if !already_logged {
        let log = Arc::clone(&app.log);
        let (note_copy, bundle_copy) = (note_bytes.clone(), bundle.to_vec());
        let checked = tokio::task::spawn_blocking(move || {
            // A copy, so that the state lock is not held during the signature checks.
            let (keys, index) = {
                let state = log.read();
                let keys = state.key_state().cloned();
                (keys, state.log(LogKind::Releases).size())
            };
            let Some(keys) = keys else {
                return Err("the key log has no genesis yet".to_owned());
            };
            let note = Note::parse_entry(&note_copy).map_err(|e| e.to_string())?;
            cairn_sigstore::judge_release(&note, index, &keys, &bundle_copy)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await;
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return text(StatusCode::FORBIDDEN, reason),
            Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        }
    }
    let _held = Held::new(digest, Arc::from(bundle));
    crate::http::add(
        State(app),
        Path("releases".to_owned()),
        ConnectInfo(peer),
        headers,
        Ok(Bytes::from(note_bytes)),
    )
    .await
}

/// `GET /releases/sigstore-bundle/<hex>`: a bundle a logged release names.
async fn get_bundle(State(app): State<Arc<AppState>>, Path(digest): Path<String>) -> Response {
    let Ok(parsed) = Sha256Digest::parse(&format!("sha256:{digest}")) else {
        return text(
            StatusCode::BAD_REQUEST,
            "a bundle is named by 64 lowercase hex digits of its SHA-256",
        );
    };
    let log = Arc::clone(&app.log);
    let read =
        tokio::task::spawn_blocking(move || log.read_committed_file(&bundle_path(&parsed))).await;
    match read {
        Ok(Ok(Some(bytes))) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Ok(Ok(None)) => text(StatusCode::NOT_FOUND, "no such Sigstore bundle in this log"),
        Ok(Err(e)) => text(StatusCode::SERVICE_UNAVAILABLE, format!("storage: {e}")),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}
