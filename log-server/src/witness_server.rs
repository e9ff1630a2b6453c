//! The witness server (`cairn witness`; the log's client of witnesses is `witness_client`): a
//! C2SP tlog-witness (`spec/witness.md`). For each configured log it keeps the latest
//! checkpoint it cosigned, durably, and cosigns a new checkpoint only if it is signed by
//! the log's key and provably consistent with that one.
//!
//! ```text
//! DIR/cairn-writer.lock              exclusive flock: one witness process per directory
//! DIR/logs/<sha256(origin)>.checkpoint   the latest cosigned checkpoint of each log: the log's
//!                                        verified signature and this witness's cosignature
//! DIR/evidence/<time>-<sha256(origin)>.txt  requests whose proof did not verify (kept, not used)
//! ```
//!
//! Compare-and-swap per origin: the origin's mutex is held from reading the stored checkpoint,
//! through the decision ([`cairn_verifier::witness::decide`]), to the durable write of the new one
//! (temporary file, fsync, rename, fsync of the directory). Only then is the cosignature returned.
//! A crash at any point leaves the old checkpoint or the new one, and since a cosignature is
//! never sent before its checkpoint is durable, the witness never cosigns a checkpoint
//! inconsistent with one it cosigned before, across restarts.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::cosignature::CosignatureSigner;
use cairn_verifier::keys::AnyVerifier;
use cairn_verifier::note::NoteVerifier;
use cairn_verifier::witness::{
    AddCheckpoint, MAX_ADD_CHECKPOINT_BODY, Refusal, SIZE_CONTENT_TYPE, cosigned_note, decide,
    verify_with_any,
};
use sha2::{Digest as _, Sha256};

use crate::http::text;
use crate::storage::StorageError;
use crate::storage::durable::{rename_synced, write_synced};
use crate::storage::git::lock_writer;

/// Why the witness could not start or store a checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// A file operation failed, or another witness holds the directory.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The configuration is not usable.
    #[error("{0}")]
    Config(String),
    /// A stored checkpoint does not verify with the configured key: refuse to start rather than
    /// forget what was cosigned.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A log the witness cosigns for.
#[derive(Debug, Clone)]
pub struct WitnessedLog {
    /// The checkpoint origin.
    pub origin: String,
    /// The log's keys for that origin: a checkpoint signed by any of them is accepted. Their
    /// names need not be the origin (sum.golang.org's is not).
    pub verifiers: Vec<AnyVerifier>,
}

/// The latest cosigned checkpoint of one origin. The mutex is the per-origin compare-and-swap
/// lock; it outlives configuration reloads, so a request in flight and a reload never see two
/// different "latest" checkpoints.
type Latest = Arc<Mutex<Option<(VerifiedCheckpoint, Vec<u8>)>>>;

#[derive(Debug)]
struct Slot {
    verifiers: Vec<AnyVerifier>,
    path: PathBuf,
    latest: Latest,
}

impl Slot {
    fn keys(&self) -> Vec<&dyn NoteVerifier> {
        self.verifiers
            .iter()
            .map(|v| v as &dyn NoteVerifier)
            .collect()
    }
}

/// Request counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct WitnessMetrics {
    cosigned: AtomicU64,
    refused: [AtomicU64; 6],
    failed: AtomicU64,
}

const REFUSAL_STATUSES: [u16; 6] = [400, 403, 404, 409, 422, 413];

/// A witness: its keys, its logs and their state.
pub struct Witness {
    signers: Vec<CosignatureSigner>,
    dir: PathBuf,
    logs: RwLock<HashMap<String, Arc<Slot>>>,
    /// Every origin's state ever loaded, so that a reload that drops and re-adds an origin
    /// shares the lock of a request still in flight for it.
    states: Mutex<HashMap<String, Latest>>,
    metrics: WitnessMetrics,
    _lock: File,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("keys", &self.signers)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// What an `add-checkpoint` request gets.
#[derive(Debug)]
pub enum AddOutcome {
    /// 200: the cosignature lines.
    Cosigned(String),
    /// A refusal with the spec's status.
    Refused(Refusal),
    /// 500: the new checkpoint could not be stored, so nothing was cosigned.
    Failed(String),
}

/// Most evidence files a witness keeps in `DIR/evidence` before it only logs refusals.
const MAX_EVIDENCE_FILES: usize = 1000;

fn state_name(origin: &str) -> String {
    let digest = Sha256::digest(origin.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Witness {
    /// Opens (creating if needed) the data directory `dir`: takes its lock and loads and
    /// re-verifies the stored checkpoint of every configured log. `signers` are the witness's
    /// keys (Ed25519 and/or ML-DSA-44; every one cosigns each checkpoint it can).
    pub fn open(
        dir: &Path,
        signers: Vec<CosignatureSigner>,
        logs: Vec<WitnessedLog>,
    ) -> Result<Witness, WitnessError> {
        if signers.is_empty() {
            return Err(WitnessError::Config("the witness has no key".to_owned()));
        }
        let io = |op, path: &Path| {
            let path = path.to_owned();
            move |source| StorageError::Io { op, path, source }
        };
        let state_dir = dir.join("logs");
        std::fs::create_dir_all(&state_dir).map_err(io("create", &state_dir))?;
        let lock = lock_writer("open", dir)?;
        let witness = Witness {
            signers,
            dir: dir.to_owned(),
            logs: RwLock::new(HashMap::new()),
            states: Mutex::new(HashMap::new()),
            metrics: WitnessMetrics::default(),
            _lock: lock,
        };
        witness.reload(logs)?;
        Ok(witness)
    }

    /// Replaces the set of witnessed logs and their keys (`cairn witness` calls it on SIGHUP).
    /// The stored checkpoint of every log must verify under its new keys, or nothing changes:
    /// the witness must not forget what it cosigned. Requests in flight finish under the old
    /// configuration; an origin's compare-and-swap lock is kept across reloads.
    pub fn reload(&self, logs: Vec<WitnessedLog>) -> Result<(), WitnessError> {
        if logs.is_empty() {
            return Err(WitnessError::Config(
                "no log to witness; give at least one --log ORIGIN VKEY".to_owned(),
            ));
        }
        let io = |op, path: &Path| {
            let path = path.to_owned();
            move |source| StorageError::Io { op, path, source }
        };
        let state_dir = self.dir.join("logs");
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let mut slots = HashMap::new();
        for log in logs {
            if log.verifiers.is_empty() {
                return Err(WitnessError::Config(format!(
                    "log {} has no key",
                    log.origin
                )));
            }
            if slots.contains_key(&log.origin) {
                return Err(WitnessError::Config(format!(
                    "log {} is configured twice (give its keys together)",
                    log.origin
                )));
            }
            let path = state_dir.join(format!("{}.checkpoint", state_name(&log.origin)));
            let keys: Vec<&dyn NoteVerifier> = log
                .verifiers
                .iter()
                .map(|v| v as &dyn NoteVerifier)
                .collect();
            let corrupt = |e: String| WitnessError::Corrupt {
                path: path.clone(),
                reason: format!(
                    "the stored checkpoint of {} does not verify with the configured keys: {e}",
                    log.origin
                ),
            };
            let latest = match states.get(&log.origin) {
                Some(latest) => {
                    let held = latest.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some((_, bytes)) = held.as_ref() {
                        verify_with_any(bytes, &log.origin, &keys)
                            .map_err(|e| corrupt(e.to_string()))?;
                    }
                    Arc::clone(latest)
                }
                None => {
                    // A temporary file left by a crash before its rename is not state.
                    let _ = std::fs::remove_file(path.with_extension("tmp"));
                    let loaded = match std::fs::read(&path) {
                        Ok(bytes) => {
                            let cp = verify_with_any(&bytes, &log.origin, &keys)
                                .map_err(|e| corrupt(e.to_string()))?;
                            Some((cp, bytes))
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                        Err(e) => return Err(io("read", &path)(e).into()),
                    };
                    Arc::new(Mutex::new(loaded))
                }
            };
            drop(keys);
            slots.insert(
                log.origin.clone(),
                Arc::new(Slot {
                    verifiers: log.verifiers,
                    path,
                    latest,
                }),
            );
        }
        for (origin, slot) in &slots {
            states
                .entry(origin.clone())
                .or_insert_with(|| Arc::clone(&slot.latest));
        }
        *self.logs.write().unwrap_or_else(|p| p.into_inner()) = slots;
        Ok(())
    }

    fn slot(&self, origin: &str) -> Option<Arc<Slot>> {
        self.logs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(origin)
            .cloned()
    }

    /// The witness's verifier keys (`cosignature/v1` and/or ML-DSA-44), one per key.
    pub fn vkeys(&self) -> Vec<String> {
        self.signers
            .iter()
            .map(|s| s.verifier().to_vkey())
            .collect()
    }

    /// The configured origins and the size of the latest checkpoint cosigned for each.
    pub fn sizes(&self) -> Vec<(String, Option<u64>)> {
        let logs = self.logs.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = logs
            .iter()
            .map(|(origin, slot)| {
                let latest = slot.latest.lock().unwrap_or_else(|p| p.into_inner());
                (origin.clone(), latest.as_ref().map(|(cp, _)| cp.size()))
            })
            .collect();
        out.sort();
        out
    }

    /// The latest cosigned checkpoint of `origin` (log signature and this witness's
    /// cosignature), if it cosigned one.
    pub fn latest(&self, origin: &str) -> Option<Vec<u8>> {
        let slot = self.slot(origin)?;
        let latest = slot.latest.lock().unwrap_or_else(|p| p.into_inner());
        latest.as_ref().map(|(_, bytes)| bytes.clone())
    }

    /// Handles one `add-checkpoint` body, at POSIX time `now` (seconds). Blocking: it writes
    /// and fsyncs the state file.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> AddOutcome {
        let outcome = self.add_checkpoint_inner(body, now);
        match &outcome {
            AddOutcome::Cosigned(_) => {
                self.metrics.cosigned.fetch_add(1, Ordering::Relaxed);
            }
            AddOutcome::Refused(r) => {
                if let Some(i) = REFUSAL_STATUSES.iter().position(|&s| s == r.status()) {
                    self.metrics.refused[i].fetch_add(1, Ordering::Relaxed);
                }
            }
            AddOutcome::Failed(_) => {
                self.metrics.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        outcome
    }

    fn add_checkpoint_inner(&self, body: &[u8], now: u64) -> AddOutcome {
        let request = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(r) => return AddOutcome::Refused(r),
        };
        let origin = match request.origin() {
            Ok(o) => o,
            Err(r) => return AddOutcome::Refused(r),
        };
        let Some(slot) = self.slot(&origin) else {
            return AddOutcome::Refused(Refusal::UnknownLog(origin));
        };
        let keys = slot.keys();
        // The compare-and-swap: held until the new checkpoint is durable.
        let mut latest = slot.latest.lock().unwrap_or_else(|p| p.into_inner());
        let checkpoint = match decide(&request, &origin, &keys, latest.as_ref().map(|(cp, _)| cp)) {
            Ok(cp) => cp,
            Err(refusal) => {
                if refusal.is_fork_evidence() {
                    self.keep_evidence(&origin, body, &refusal);
                }
                return AddOutcome::Refused(refusal);
            }
        };
        // Every key cosigns what it can: an ML-DSA-44 key cannot cosign an empty tree.
        let mut cosignatures = Vec::new();
        let mut last_error = None;
        for signer in &self.signers {
            match signer.cosign(&checkpoint, now) {
                Ok(sig) => cosignatures.push(sig),
                Err(e) => last_error = Some(e),
            }
        }
        let Some((first, rest)) = cosignatures.split_first() else {
            return AddOutcome::Failed(format!(
                "no key of this witness can cosign this checkpoint: {}",
                last_error.map_or_else(String::new, |e| e.to_string())
            ));
        };
        let note = match cosigned_note(&checkpoint, first.clone()).and_then(|mut n| {
            for sig in rest {
                n.push_signature(sig.clone())?;
            }
            Ok(n)
        }) {
            Ok(n) => n.to_bytes(),
            Err(e) => return AddOutcome::Failed(format!("building the cosigned note: {e}")),
        };
        let stored = verify_with_any(&note, &origin, &keys)
            .map_err(|e| e.to_string())
            .and_then(|cp| {
                store(&slot.path, &note)
                    .map(|()| cp)
                    .map_err(|e| e.to_string())
            });
        match stored {
            Ok(cp) => {
                *latest = Some((cp, note));
                AddOutcome::Cosigned(cosignatures.iter().map(|s| s.to_line()).collect())
            }
            Err(e) => {
                tracing::error!(origin, error = %e, "cannot store the cosigned checkpoint");
                AddOutcome::Failed(format!(
                    "the checkpoint could not be stored, so it was not cosigned: {e}"
                ))
            }
        }
    }

    /// Keeps a request that is evidence of a fork (two conflicting checkpoints signed by the
    /// log, [`Refusal::is_fork_evidence`]), for the operator: once per distinct request (the
    /// file is named by its hash) and at most [`MAX_EVIDENCE_FILES`] files. Only a holder of
    /// the log key can make such a request. Best effort: the refusal stands either way.
    fn keep_evidence(&self, origin: &str, body: &[u8], refusal: &Refusal) {
        let dir = self.dir.join("evidence");
        let digest: String = Sha256::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let path = dir.join(format!("{}-{digest}.txt", state_name(origin)));
        let mut text = format!("refused: {refusal}\norigin: {origin}\n\n").into_bytes();
        text.extend_from_slice(body);
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            let kept = std::fs::read_dir(&dir)?.count();
            if path.exists() {
                return Ok(());
            }
            if kept >= MAX_EVIDENCE_FILES {
                return Err(std::io::Error::other(format!(
                    "{} already holds {kept} evidence files",
                    dir.display()
                )));
            }
            std::fs::write(&path, &text)
        });
        match written {
            Ok(()) => {
                tracing::warn!(origin, evidence = %path.display(), %refusal, "refused a checkpoint")
            }
            Err(e) => {
                tracing::warn!(origin, %refusal, error = %e, "refused a checkpoint; could not keep the request")
            }
        }
    }

    /// Prometheus text exposition of the request counters.
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write as _;
        let m = &self.metrics;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP cairn_witness_cosigned_total Checkpoints cosigned.\n\
             # TYPE cairn_witness_cosigned_total counter\n\
             cairn_witness_cosigned_total {}",
            m.cosigned.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP cairn_witness_refused_total add-checkpoint requests refused, by status.\n\
             # TYPE cairn_witness_refused_total counter"
        );
        for (status, n) in REFUSAL_STATUSES.iter().zip(&m.refused) {
            let _ = writeln!(
                out,
                "cairn_witness_refused_total{{status=\"{status}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP cairn_witness_store_failures_total Checkpoints not cosigned because storing them failed.\n\
             # TYPE cairn_witness_store_failures_total counter\n\
             cairn_witness_store_failures_total {}",
            m.failed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP cairn_witness_tree_size Size of the latest checkpoint cosigned, per log.\n\
             # TYPE cairn_witness_tree_size gauge"
        );
        for (origin, size) in self.sizes() {
            let _ = writeln!(
                out,
                "cairn_witness_tree_size{{origin=\"{}\"}} {}",
                origin.replace('\\', "\\\\").replace('"', "\\\""),
                size.unwrap_or(0)
            );
        }
        out
    }
}

/// Writes `data` to `path` so that a crash leaves the old file or the new one, durably.
fn store(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    let tmp = path.with_extension("tmp");
    let dir = path.parent().unwrap_or(Path::new("."));
    write_synced(&tmp, data)?;
    // Renames, then fsyncs the directory so the new name is durable.
    rename_synced(&tmp, path, dir)
}

/// The witness's HTTP API (spec/witness.md): `POST /add-checkpoint`, `GET /latest/<origin>`,
/// `GET /<hex SHA-256 of origin>/checkpoint` (the monitoring path tlog-witness recommends),
/// `GET /metrics`, `GET /healthz`.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route(
            "/add-checkpoint",
            post(add_checkpoint).layer(DefaultBodyLimit::max(MAX_ADD_CHECKPOINT_BODY)),
        )
        .route("/latest/{*origin}", get(latest))
        .route("/{origin_hash}/checkpoint", get(latest_by_hash))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(witness)
}

/// Serves the witness on `listener` until `shutdown` resolves.
pub async fn serve(
    witness: Arc<Witness>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits =
        crate::listener::ConnectionLimits::defaults_for_this_process(MAX_ADD_CHECKPOINT_BODY);
    crate::listener::serve(listener, router(witness), limits, shutdown).await
}

async fn add_checkpoint(
    State(witness): State<Arc<Witness>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than {MAX_ADD_CHECKPOINT_BODY} bytes"),
            );
        }
        Err(rejection) => {
            return text(
                rejection.status(),
                format!("could not read the request body: {rejection}"),
            );
        }
    };
    let outcome = {
        let witness = Arc::clone(&witness);
        tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now())).await
    };
    match outcome {
        Ok(AddOutcome::Cosigned(lines)) => text(StatusCode::OK, lines),
        Ok(AddOutcome::Refused(refusal)) => {
            let status =
                StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            match refusal.witness_size() {
                Some(size) => (
                    status,
                    [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
                    format!("{size}\n"),
                )
                    .into_response(),
                None => text(status, refusal.to_string()),
            }
        }
        Ok(AddOutcome::Failed(reason)) => text(StatusCode::INTERNAL_SERVER_ERROR, reason),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

async fn latest_by_hash(
    State(witness): State<Arc<Witness>>,
    UrlPath(hash): UrlPath<String>,
) -> Response {
    // Lowercase hex only: one spelling per origin.
    let origin = witness
        .logs
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .keys()
        .find(|o| state_name(o) == hash)
        .cloned();
    match origin {
        Some(origin) => latest(State(witness), UrlPath(origin)).await,
        None => text(
            StatusCode::NOT_FOUND,
            format!("no witnessed log has an origin whose SHA-256 is {hash:?}"),
        ),
    }
}

async fn latest(State(witness): State<Arc<Witness>>, UrlPath(origin): UrlPath<String>) -> Response {
    if witness.slot(&origin).is_none() {
        return text(StatusCode::NOT_FOUND, format!("unknown log {origin:?}"));
    }
    match witness.latest(&origin) {
        Some(bytes) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        None => text(
            StatusCode::NOT_FOUND,
            format!("no checkpoint of {origin} cosigned yet"),
        ),
    }
}

async fn metrics(State(witness): State<Arc<Witness>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        witness.render_metrics(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_verifier::checkpoint::Checkpoint;
    use cairn_verifier::merkle::MemoryTree;
    use cairn_verifier::note::{Ed25519Signer, KeyName, Note};

    const ORIGIN: &str = "example.org/releases";

    fn log_key() -> Ed25519Signer {
        Ed25519Signer::from_seed(KeyName::new(ORIGIN).expect("name"), [7; 32])
    }

    fn open(dir: &Path) -> Result<Witness, WitnessError> {
        Witness::open(
            dir,
            vec![CosignatureSigner::from_seed(
                KeyName::new("w.example").expect("name"),
                [1; 32],
            )],
            vec![WitnessedLog {
                origin: ORIGIN.to_owned(),
                verifiers: vec![AnyVerifier::Ed25519(log_key().verifier())],
            }],
        )
    }

    fn body(tree: &MemoryTree, old: u64, size: u64) -> Vec<u8> {
        let text = Checkpoint::new(ORIGIN, size, tree.root_at(size).expect("root"))
            .to_text()
            .expect("text");
        AddCheckpoint {
            old_size: old,
            proof: if old == 0 {
                Vec::new()
            } else {
                tree.prove_consistency(old, size).expect("proof")
            },
            checkpoint: Note::sign(&text, &[&log_key()]).expect("sign").to_bytes(),
        }
        .to_bytes()
    }

    #[test]
    fn state_survives_reopening_and_a_second_process_is_locked_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tree = MemoryTree::new();
        for i in 0..6u8 {
            tree.append(&[i]);
        }
        {
            let w = open(dir.path()).expect("open");
            assert!(matches!(
                open(dir.path()),
                Err(WitnessError::Storage(StorageError::Locked { .. }))
            ));
            assert!(matches!(
                w.add_checkpoint(&body(&tree, 0, 4), 100),
                AddOutcome::Cosigned(_)
            ));
            let latest = w.latest(ORIGIN).expect("stored");
            let cp =
                VerifiedCheckpoint::verify(&latest, ORIGIN, &log_key().verifier()).expect("verify");
            assert_eq!(cp.size(), 4);
            assert_eq!(w.signers[0].verifier().cosignature_time(cp.note()), Ok(100));
        }
        let w = open(dir.path()).expect("reopen");
        assert_eq!(w.sizes(), vec![(ORIGIN.to_owned(), Some(4))]);
        match w.add_checkpoint(&body(&tree, 0, 6), 101) {
            AddOutcome::Refused(r) => assert_eq!(r.witness_size(), Some(4)),
            other => panic!("expected 409, got {other:?}"),
        }
        assert!(matches!(
            w.add_checkpoint(&body(&tree, 4, 6), 102),
            AddOutcome::Cosigned(_)
        ));
        let unknown = String::from_utf8(body(&tree, 0, 6))
            .expect("utf8")
            .replace(ORIGIN, "other.example/log");
        assert!(matches!(
            w.add_checkpoint(unknown.as_bytes(), 103),
            AddOutcome::Refused(Refusal::UnknownLog(_))
        ));
        drop(w);
        // A state file altered on disk is refused at start, not silently forgotten.
        let path = dir
            .path()
            .join("logs")
            .join(format!("{}.checkpoint", state_name(ORIGIN)));
        let mut bytes = std::fs::read(&path).expect("read");
        let at = bytes.iter().position(|&b| b == b'\n').expect("line") + 1;
        bytes[at] = b'9';
        std::fs::write(&path, bytes).expect("write");
        assert!(matches!(
            open(dir.path()),
            Err(WitnessError::Corrupt { .. })
        ));
    }
}
