//! Talking to a Cairn log server (spec/http-api.md): checkpoints and entry bundles of the two
//! logs, and submissions whose `.tlog-proof` replies are checked before anyone relies on them.
//!
//! HTTP is reqwest's blocking client over rustls with the ring provider (docs/decisions.md).
//! Nothing fetched here is trusted because of where it came from: a checkpoint is verified with
//! the log's key when the caller has it (`--log-key`), and a submission's proof must contain
//! exactly the entry sent and tie it to the checkpoint's root.

use std::time::Duration;

use anyhow::Context as _;
use cairn_verifier::checkpoint::{Checkpoint, VerifiedCheckpoint};
use cairn_verifier::hash::{Hash, leaf_hash};
use cairn_verifier::merkle::verify_inclusion;
use cairn_verifier::note::{MAX_NOTE_SIZE, Note};
use cairn_verifier::tile::{EntryBundle, MAX_BUNDLE_SIZE, TILE_HEIGHT};
use cairn_verifier::tlog_proof::{MAX_TLOG_PROOF_SIZE, TlogProof};

use cairn_client::Error;

use crate::maintainer::key_files::LogKey;
use cairn_client::upstream::{http_client, read_limited, reason_line};

/// Overall time for one request. A submission waits for its batch to be committed, which
/// takes at most one batch interval plus two git commits.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a rate-limited or briefly unavailable submission is tried again.
const SUBMIT_RETRIES: u32 = 4;
/// Longest wait honoured from a `Retry-After` header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

pub(crate) use cairn_client::trust::LogName;

/// A client of one log server, given by its base URL (`--log URL`).
#[derive(Debug)]
pub(crate) struct LogClient {
    base: String,
    http: reqwest::blocking::Client,
}

/// The server answered a request with something other than success.
#[derive(Debug, thiserror::Error)]
#[error("{what} answered HTTP {status}: {reason}")]
pub(crate) struct ServerRefusal {
    what: String,
    status: u16,
    reason: String,
}

impl LogClient {
    /// A client for the server at `url` (http or https).
    pub(crate) fn new(url: &str) -> anyhow::Result<LogClient> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Error::Usage(format!("--log {url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Usage(format!("--log {url:?} must be an http or https URL")).into());
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(Error::Usage(format!(
                "--log {url:?} must be a base URL, without query or fragment"
            ))
            .into());
        }
        let http = http_client(Some(REQUEST_TIMEOUT))?;
        Ok(LogClient {
            base: parsed.as_str().trim_end_matches('/').to_owned(),
            http,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// `GET path`, requiring 200 and a body of at most `limit` bytes.
    fn get(&self, path: &str, limit: usize) -> anyhow::Result<Vec<u8>> {
        let url = self.url(path);
        let response = self
            .http
            .get(&url)
            .send()
            .with_context(|| format!("fetching {url}"))?;
        let status = response.status().as_u16();
        let body = read_limited(response, limit).with_context(|| format!("reading {url}"))?;
        if status != 200 {
            return Err(ServerRefusal {
                what: format!("GET {url}"),
                status,
                reason: reason_line(&body),
            }
            .into());
        }
        Ok(body)
    }

    /// The latest checkpoint of `log`, as served (unverified).
    pub(crate) fn checkpoint(&self, log: LogName) -> anyhow::Result<Vec<u8>> {
        self.get(&format!("{}/checkpoint", log.as_str()), MAX_NOTE_SIZE)
    }

    /// The entries of one entry bundle of `log`, split (unverified).
    pub(crate) fn entry_bundle(
        &self,
        log: LogName,
        bundle: &EntryBundle,
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let path = format!("{}/{}", log.as_str(), bundle.path());
        let data = self.get(&path, MAX_BUNDLE_SIZE)?;
        let entries = bundle
            .split(&data)
            .map_err(|e| Error::Refused(format!("{path} is not a valid entry bundle: {e}")))?;
        Ok(entries.into_iter().map(<[u8]>::to_vec).collect())
    }

    /// `POST /<log>/add` with `entry`; returns the `.tlog-proof` body of a 200 reply. Rate
    /// limits (429) and a briefly unavailable sequencer (503) are retried a few times, which is
    /// safe because submissions are idempotent. A refusal of the entry's authority (403) is a
    /// verification failure (exit 3); every other refusal is operational (exit 1). Both carry
    /// the server's status and reason.
    pub(crate) fn submit(&self, log: LogName, entry: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.post(&format!("{}/add", log.as_str()), entry)
    }

    /// `POST /releases/add-sigstore` with a Sigstore release's entry text and its bundle
    /// (spec/http-api.md); answered and retried like [`LogClient::submit`].
    pub(crate) fn submit_sigstore(
        &self,
        entry_text: &str,
        bundle: &[u8],
    ) -> anyhow::Result<Vec<u8>> {
        let mut body = Vec::with_capacity(entry_text.len() + 1 + bundle.len());
        body.extend_from_slice(entry_text.as_bytes());
        body.push(b'\n');
        body.extend_from_slice(bundle);
        self.post("releases/add-sigstore", &body)
    }

    fn post(&self, path: &str, entry: &[u8]) -> anyhow::Result<Vec<u8>> {
        let url = self.url(path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "text/plain")
                .body(entry.to_vec())
                .send()
                .map_err(|e| {
                    let what = if e.is_connect() {
                        format!("cannot connect to {url}; nothing was sent")
                    } else {
                        format!(
                            "submitting to {url} failed; the entry may or may not be logged \
                             (submitting it again is safe)"
                        )
                    };
                    anyhow::Error::new(e).context(what)
                })?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = read_limited(response, MAX_TLOG_PROOF_SIZE)
                .with_context(|| format!("reading the reply of {url}"))?;
            if status == 200 {
                return Ok(body);
            }
            let reason = reason_line(&body);
            if matches!(status, 429 | 503) && attempt <= SUBMIT_RETRIES {
                let wait = retry_after
                    .unwrap_or(Duration::from_secs(1 << (attempt - 1)))
                    .min(MAX_RETRY_AFTER);
                eprintln!(
                    "cairn: {url} answered HTTP {status} ({reason}); retrying in {} s",
                    wait.as_secs()
                );
                std::thread::sleep(wait);
                continue;
            }
            let refusal = ServerRefusal {
                what: format!("POST {url}"),
                status,
                reason,
            };
            return Err(if status == 403 {
                Error::Refused(format!("the log refused the entry's signatures: {refusal}")).into()
            } else {
                anyhow::Error::new(refusal).context("the log refused the entry")
            });
        }
    }
}

/// A checkpoint fetched from the log: signature-checked with the log key when one was given.
#[derive(Debug, Clone)]
pub(crate) struct FetchedCheckpoint {
    /// The tree size.
    pub(crate) size: u64,
    /// The root hash.
    pub(crate) root: Hash,
    /// The checkpoint's origin line.
    pub(crate) origin: String,
    /// Whether the signature was verified with `--log-key`.
    pub(crate) verified: bool,
}

impl FetchedCheckpoint {
    fn from_verified(v: &VerifiedCheckpoint) -> FetchedCheckpoint {
        FetchedCheckpoint {
            size: v.size(),
            root: *v.root(),
            origin: v.origin().to_owned(),
            verified: true,
        }
    }
}

/// Checks checkpoint note bytes of `log`: with the log key, a valid signature for the origin
/// `PREFIX/<log>`; without it, only the form and that the origin names this log.
pub(crate) fn check_checkpoint(
    bytes: &[u8],
    log: LogName,
    log_key: Option<&LogKey>,
) -> anyhow::Result<FetchedCheckpoint> {
    match log_key {
        Some(key) => {
            let origin = key.origin(log.as_str());
            let verified = VerifiedCheckpoint::verify_without_extensions(
                bytes,
                &origin,
                &key.verifier_for(log.as_str())?,
            )
            .map_err(|e| {
                Error::Refused(format!(
                    "the {} checkpoint does not verify with --log-key: {e}",
                    log.as_str()
                ))
            })?;
            Ok(FetchedCheckpoint::from_verified(&verified))
        }
        None => checkpoint_unsafe_unverified(bytes, log),
    }
}

/// Parses a checkpoint without checking its signature, for when no log key was given. The
/// result only says what the server claims.
fn checkpoint_unsafe_unverified(bytes: &[u8], log: LogName) -> anyhow::Result<FetchedCheckpoint> {
    let note = Note::parse(bytes).map_err(|e| {
        Error::Refused(format!(
            "the {} checkpoint is not a signed note: {e}",
            log.as_str()
        ))
    })?;
    let checkpoint = Checkpoint::parse(note.text()).map_err(|e| {
        Error::Refused(format!("the {} checkpoint is malformed: {e}", log.as_str()))
    })?;
    let suffix = format!("/{}", log.as_str());
    if !checkpoint.origin.ends_with(&suffix) {
        return Err(Error::Refused(format!(
            "the {} checkpoint has origin {:?}, which does not end in {suffix:?}",
            log.as_str(),
            checkpoint.origin
        ))
        .into());
    }
    Ok(FetchedCheckpoint {
        size: checkpoint.size,
        root: checkpoint.root,
        origin: checkpoint.origin,
        verified: false,
    })
}

/// Fetches and checks the latest checkpoint of `log`.
pub(crate) fn fetch_checkpoint(
    client: &LogClient,
    log: LogName,
    log_key: Option<&LogKey>,
) -> anyhow::Result<FetchedCheckpoint> {
    let bytes = client.checkpoint(log)?;
    check_checkpoint(&bytes, log, log_key)
}

/// Fetches every entry of `log` up to the checkpoint's size and checks that they hash to its
/// root, so the entries are exactly the ones the checkpoint commits to (and, with the log key,
/// the ones the log signed). Meant for the key log, which is small by design.
pub(crate) fn fetch_all_entries(
    client: &LogClient,
    log: LogName,
    log_key: Option<&LogKey>,
) -> anyhow::Result<(FetchedCheckpoint, Vec<Vec<u8>>)> {
    let checkpoint = fetch_checkpoint(client, log, log_key)?;
    if checkpoint.size > cairn_client::keylog::MAX_KEYLOG_ENTRIES {
        return Err(Error::Refused(format!(
            "the {} checkpoint claims {} entries, more than the {} a client keeps",
            log.as_str(),
            checkpoint.size,
            cairn_client::keylog::MAX_KEYLOG_ENTRIES
        ))
        .into());
    }
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let mut tree = cairn_verifier::merkle::MemoryTree::new();
    while (entries.len() as u64) < checkpoint.size {
        let first = entries.len() as u64;
        let bundle = EntryBundle::for_entry(TILE_HEIGHT, first, checkpoint.size)
            .map_err(|e| anyhow::anyhow!("planning entry bundles: {e}"))?;
        for entry in client.entry_bundle(log, &bundle)? {
            tree.append(&entry);
            entries.push(entry);
        }
    }
    if tree.root() != checkpoint.root {
        return Err(Error::Refused(format!(
            "the {} entries served do not hash to the checkpoint's root (size {})",
            log.as_str(),
            checkpoint.size
        ))
        .into());
    }
    Ok((checkpoint, entries))
}

/// A submission the log sequenced, with its checked proof.
#[derive(Debug)]
pub(crate) struct Logged {
    /// The entry's index in its log.
    pub(crate) index: u64,
    /// The `.tlog-proof` as the server sent it.
    pub(crate) proof: Vec<u8>,
    /// The checkpoint the proof is against.
    pub(crate) checkpoint: FetchedCheckpoint,
}

/// Submits `entry` to `log` and checks the reply: a `.tlog-proof` whose entry is byte for byte
/// the one sent, included under its checkpoint's root, and (with the log key) a checkpoint the
/// log signed. Any failure is a verification failure (exit 3): the reply cannot be relied on.
pub(crate) fn submit_and_check(
    client: &LogClient,
    log: LogName,
    entry: &[u8],
    log_key: Option<&LogKey>,
) -> anyhow::Result<Logged> {
    let reply = client.submit(log, entry)?;
    let logged = check_proof(&reply, log, entry, log_key)?;
    Ok(logged)
}

/// Checks a `.tlog-proof` for `entry` in `log` (see [`submit_and_check`]).
pub(crate) fn check_proof(
    proof_bytes: &[u8],
    log: LogName,
    entry: &[u8],
    log_key: Option<&LogKey>,
) -> anyhow::Result<Logged> {
    let bad = |what: String| Error::Refused(format!("the log's proof for the entry {what}"));
    let proof = TlogProof::parse(proof_bytes).map_err(|e| bad(format!("does not parse: {e}")))?;
    if proof.extra.as_deref() != Some(entry) {
        return Err(bad("names a different entry than the one submitted".to_owned()).into());
    }
    let checkpoint = match log_key {
        Some(key) => {
            let origin = key.origin(log.as_str());
            let verified = proof
                .verify(&origin, &key.verifier_for(log.as_str())?)
                .map_err(|e| bad(format!("does not verify: {e}")))?;
            FetchedCheckpoint::from_verified(verified.checkpoint())
        }
        None => {
            let checkpoint = checkpoint_unsafe_unverified(&proof.checkpoint, log)?;
            verify_inclusion(
                &leaf_hash(entry),
                proof.index,
                checkpoint.size,
                &proof.proof,
                &checkpoint.root,
            )
            .map_err(|e| bad(format!("does not prove inclusion: {e}")))?;
            checkpoint
        }
    };
    Ok(Logged {
        index: proof.index,
        proof: proof_bytes.to_vec(),
        checkpoint,
    })
}

/// Tells the user, once, that a checkpoint was taken on the server's word.
pub(crate) fn warn_unverified(checkpoint: &FetchedCheckpoint) {
    if !checkpoint.verified {
        eprintln!(
            "cairn: warning: checkpoint of {} not signature-checked; pass --log-key VKEY \
             (the log's verifier key) to verify it",
            checkpoint.origin
        );
    }
}

pub(crate) use cairn_client::lookups::{lookup_indexes, lookup_size};
