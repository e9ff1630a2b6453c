//! `cairn verify`: the client algorithm of `spec/client.md`, shared with `cairn install`.
//!
//! The order is the spec's: key log, artifact hash (done by the caller, while reading or
//! downloading), entry and inclusion, checkpoint checks and consistency, entry checks, then the
//! state is stored, only once every check passed.

use std::path::{Path, PathBuf};

use crate::error::Context as _;
use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::entry::{Deprecation, Entry, Release, ReleaseName, Sha256Digest, Version};
use cairn_verifier::hash::leaf_hash;
use cairn_verifier::keylog::{KeyState, deprecation_is_valid, release_is_valid};
use cairn_verifier::lookup;
use cairn_verifier::merkle::verify_inclusion;
use cairn_verifier::note::{MAX_NOTE_SIZE, Note, NoteVerifier as _};
use cairn_verifier::tile::{TileHashReader, TreeHead};
use cairn_verifier::tlog_proof::{MAX_TLOG_PROOF_SIZE, TlogProof};
use serde_json::json;

use crate::Error;
use crate::channels::Channels;
use crate::checkpoints::{Freshness, check_consistent, check_witnesses, now, verify_signature};
use crate::hashing::Hashed;
use crate::keylog::{KeyLog, MAX_SNAPSHOT_SIZE, Snapshot, check_extends, load_stored, newer_of};
use crate::report::Report;
use crate::state::{Slot, Store, checkpoint_size, store_newer};
use crate::trust::{LogName, Trust};
use crate::upstream::{Remote, RemoteTiles};

/// What the artifact must be, beyond being logged and validly signed.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// The release name it must belong to.
    pub name: Option<ReleaseName>,
    /// The release version it must belong to.
    pub version: Option<Version>,
}

impl Expected {
    /// Any release: logged and validly signed is enough.
    pub fn any() -> Expected {
        Expected::default()
    }

    /// A release of this name and version.
    pub fn release(name: ReleaseName, version: Version) -> Expected {
        Expected {
            name: Some(name),
            version: Some(version),
        }
    }
}

/// How a run checks, beyond the algorithm's fixed steps.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A key-log snapshot (`cairn keylog export`) to use instead of fetching the key log.
    pub keylog: Option<PathBuf>,
    /// Refuse a deprecated release instead of warning.
    pub refuse_deprecated: bool,
    /// Independent channels to fetch the release checkpoint from and compare.
    pub channels: Channels,
    /// The Sigstore bundle shipped beside the artifact (`FILE.sigstore.json`), for releases a
    /// bundle authorises (spec/keylog.md 5.1). Online, a bundle is otherwise fetched from the log
    /// by its digest; offline it is required. Either way the client verifies it itself.
    pub sigstore_bundle: Option<PathBuf>,
}

/// The Sigstore bundle path `cairn publish` writes beside `file`: `FILE.sigstore.json`.
pub fn sigstore_bundle_path_for(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".sigstore.json");
    PathBuf::from(name)
}

/// The log path a Sigstore bundle is served and stored under (spec/http-api.md).
pub fn sigstore_bundle_log_path(digest: &Sha256Digest) -> String {
    format!("releases/sigstore-bundle/{}", digest.to_hex())
}

/// Finds the bundle a Sigstore release names: the local file when it is that bundle, else (online)
/// the log's copy. The digest is checked again by the judgement; this only picks a source.
fn find_sigstore_bundle(
    server: Option<&Remote>,
    local: Option<&Path>,
    digest: &Sha256Digest,
) -> Result<Vec<u8>, String> {
    let mut local_note = String::new();
    if let Some(path) = local {
        match read_file_limited(path, cairn_sigstore::MAX_BUNDLE_SIZE) {
            Ok(Some(bytes)) if Sha256Digest::of(&bytes) == *digest => return Ok(bytes),
            Ok(Some(_)) => {
                local_note = format!(" ({} is another bundle)", path.display());
            }
            Ok(None) => {}
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        }
    }
    let Some(server) = server else {
        return Err(format!(
            "the release is authorised by Sigstore bundle {digest}; offline, put it beside the              file as FILE.sigstore.json{local_note}"
        ));
    };
    use crate::upstream::Upstream as _;
    match server.get(
        &sigstore_bundle_log_path(digest),
        cairn_sigstore::MAX_BUNDLE_SIZE,
    ) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(format!(
            "the log does not serve Sigstore bundle {digest}{local_note}"
        )),
        Err(e) => Err(format!("fetching Sigstore bundle {digest}: {e}")),
    }
}

/// A `.tlog-proof` given to the run: where it came from, and its bytes.
#[derive(Debug, Clone)]
pub struct ProofFile {
    /// Path or URL, for messages.
    pub source: String,
    /// The file.
    pub bytes: Vec<u8>,
}

/// Most entries naming one digest that an online lookup examines.
const MAX_CANDIDATES: usize = 32;

/// One run of the client algorithm.
#[derive(Debug)]
pub struct Run {
    /// Where the client keeps what it verified.
    pub store: std::sync::Arc<dyn Store>,
    /// The trust policy.
    pub trust: Trust,
    /// `now`, read once when the run starts.
    pub now: u64,
    /// The log, or `None` offline (no network at all).
    pub server: Option<Remote>,
    /// The checks so far.
    pub report: Report,
}

/// A verified artifact.
#[derive(Debug)]
pub struct Verified {
    /// The release it belongs to.
    pub release: Release,
    /// Its release-log index.
    pub index: u64,
    /// The artifact's file name in the release.
    pub file_name: String,
    /// Whether a valid deprecation exists (online only).
    pub deprecated: bool,
    /// Why deprecations could not be checked (offline, or a server that answers no lookups).
    pub deprecation_unchecked: Option<String>,
}

/// What the deprecation check found.
#[derive(Debug)]
enum DeprecationCheck {
    /// No valid deprecation in the log's lookups.
    None,
    /// A valid deprecation (a warning; `--refuse-deprecated` fails before this).
    Deprecated,
    /// No answer: the reason, reported as a skipped check.
    Unchecked(String),
}

/// What to store once every check passed.
#[derive(Debug, Default)]
struct Pending {
    releases_checkpoint: Option<Vec<u8>>,
    keylog: bool,
}

fn head(cp: &VerifiedCheckpoint) -> TreeHead {
    TreeHead::from_verified(cp)
}

impl Run {
    /// A run against the log the trust policy names, over HTTP; `now` is read once, here.
    pub fn online(store: impl Store + 'static, trust: Trust, report: Report) -> crate::Result<Run> {
        let server = Remote::http(&trust.url)?;
        Ok(Run::with_remote(store, trust, Some(server), report))
    }

    /// A run with no network at all: the proof file and the stored or given key log only.
    pub fn offline(store: impl Store + 'static, trust: Trust, report: Report) -> Run {
        Run::with_remote(store, trust, None, report)
    }

    /// A run reading the log from `server` (any [`crate::upstream::Upstream`]: a mirror
    /// directory, a git repository), or offline with `None`.
    pub fn with_remote(
        store: impl Store + 'static,
        trust: Trust,
        server: Option<Remote>,
        report: Report,
    ) -> Run {
        Run {
            store: std::sync::Arc::new(store),
            trust,
            now: now(),
            server,
            report,
        }
    }

    /// Runs steps 1 and 3 to 5 of the algorithm for an artifact already hashed (step 2), then
    /// stores the newer checkpoints.
    pub fn verify(
        &mut self,
        hashed: &Hashed,
        proof: Option<&ProofFile>,
        expected: &Expected,
        checks: &Options,
    ) -> crate::Result<Verified> {
        let mut pending = Pending::default();
        let keylog = self.key_log(checks.keylog.as_deref(), &mut pending)?;
        let verified = match (&self.server, proof) {
            (Some(server), proof) => {
                let server = server.clone();
                self.verify_online(
                    &server,
                    hashed,
                    proof,
                    expected,
                    &keylog.state,
                    checks,
                    &mut pending,
                )?
            }
            (None, Some(proof)) => {
                self.verify_offline(hashed, proof, expected, &keylog.state, checks, &mut pending)?
            }
            (None, None) => {
                let detail = "offline verification needs the artifact's .tlog-proof (FILE.tlog-proof or --proof)";
                self.report.fail("inclusion", detail);
                return Err(Error::Refused(detail.to_owned()));
            }
        };
        if let Some(cp) = &pending.releases_checkpoint {
            store_newer(
                &*self.store,
                &self.trust,
                &Slot::releases_checkpoint(),
                cp,
                MAX_NOTE_SIZE,
                &checkpoint_size,
            )?;
        }
        if pending.keylog {
            crate::keylog::store(&*self.store, &self.trust, &keylog)?;
        }
        Ok(verified)
    }

    /// Step 1: the key log, synced online or from the stored copy and `--keylog` offline.
    fn key_log(&mut self, snapshot: Option<&Path>, pending: &mut Pending) -> crate::Result<KeyLog> {
        let (state, trust, now) = (&*self.store, &self.trust, self.now);
        let report = &mut self.report;
        if let (Some(server), None) = (&self.server, snapshot) {
            let (keylog, old) = crate::keylog::sync(
                server,
                state,
                trust,
                now,
                Some(crate::checkpoints::Freshness::Required),
                report,
            )?;
            pending.keylog = old.is_none_or(|old| old < keylog.checkpoint.size());
            return Ok(keylog);
        }
        let stored = load_stored(state, trust, now, None, report)?;
        let stored_size = stored.as_ref().map(|k| k.checkpoint.size());
        let given = match snapshot {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("reading key-log snapshot {}", path.display()))?;
                if bytes.len() > MAX_SNAPSHOT_SIZE {
                    return Err(Error::Refused(format!(
                        "key-log snapshot {} is larger than {MAX_SNAPSHOT_SIZE} bytes",
                        path.display()
                    )));
                }
                let snap = Snapshot::from_file_bytes(&bytes).map_err(|e| {
                    report.fail("keylog-entries", format!("{}: {e}", path.display()));
                    Error::Refused(format!(
                        "key-log snapshot {} is malformed: {e}",
                        path.display()
                    ))
                })?;
                Some(crate::keylog::verify_snapshot(
                    trust,
                    snap,
                    "key-log snapshot",
                    now,
                    Freshness::NotRequired,
                    report,
                )?)
            }
            None => None,
        };
        let chosen = match (stored, given) {
            (Some(s), Some(g)) => newer_of(state, s, g, report)?,
            (Some(s), None) => s,
            (None, Some(g)) => g,
            (None, None) => {
                let detail =
                    "no key log: run `cairn keylog sync` while online, or pass --keylog SNAPSHOT";
                report.fail("keylog-entries", detail);
                return Err(Error::Refused(detail.to_owned()));
            }
        };
        check_witnesses(
            trust,
            &chosen.checkpoint,
            "key log",
            now,
            Freshness::Required,
            report,
        )?;
        pending.keylog = stored_size.is_none_or(|s| chosen.checkpoint.size() > s);
        Ok(chosen)
    }

    fn stored_checkpoint(&mut self) -> crate::Result<Option<VerifiedCheckpoint>> {
        let slot = Slot::releases_checkpoint();
        let Some(bytes) = self.store.read(&self.trust, &slot, MAX_NOTE_SIZE)? else {
            return Ok(None);
        };
        verify_signature(
            &self.trust,
            LogName::Releases,
            &bytes,
            "stored release checkpoint",
            &mut self.report,
        )
        .map(Some)
        .map_err(|e| {
            e.context(format!(
                "the stored checkpoint ({}) does not verify with the trusted log key",
                slot.as_str()
            ))
        })
    }

    /// Parses a proof file, verifies its checkpoint (signature and quorum; its age does not
    /// matter) and the inclusion of its entry. Returns the checkpoint, index and entry.
    fn proof_file(
        &mut self,
        proof: &ProofFile,
    ) -> crate::Result<(VerifiedCheckpoint, u64, Vec<u8>)> {
        let parsed = match TlogProof::parse(&proof.bytes) {
            Ok(p) => p,
            Err(e) => {
                let detail = format!("{}: {e}", proof.source);
                self.report.fail("proof", &detail);
                return Err(Error::Refused(format!("malformed proof: {detail}")));
            }
        };
        let Some(entry) = parsed.extra.clone() else {
            let detail = format!("{}: no extra line, so no entry to check", proof.source);
            self.report.fail("proof", &detail);
            return Err(Error::Refused(detail));
        };
        self.report.pass(
            "proof",
            format!("{}: entry at index {}", proof.source, parsed.index),
        );
        let what = "proof's checkpoint";
        let cp = verify_signature(
            &self.trust,
            LogName::Releases,
            &parsed.checkpoint,
            what,
            &mut self.report,
        )?;
        check_witnesses(
            &self.trust,
            &cp,
            what,
            self.now,
            Freshness::NotRequired,
            &mut self.report,
        )?;
        match verify_inclusion(
            &leaf_hash(&entry),
            parsed.index,
            cp.size(),
            &parsed.proof,
            cp.root(),
        ) {
            Ok(()) => self.report.pass(
                "inclusion",
                format!(
                    "entry {} is included in the checkpoint of size {}",
                    parsed.index,
                    cp.size()
                ),
            ),
            Err(e) => {
                let detail = format!(
                    "entry {} in the checkpoint of size {}: {e}",
                    parsed.index,
                    cp.size()
                );
                self.report.fail("inclusion", &detail);
                return Err(Error::Refused(format!("inclusion proof: {detail}")));
            }
        }
        Ok((cp, parsed.index, entry))
    }

    /// The log's latest release checkpoint, verified (signature, witness quorum and
    /// freshness, consistency with the stored one, the `--channel`s), with the stored one.
    pub fn latest(
        &mut self,
        server: &Remote,
        checks: &Options,
    ) -> crate::Result<(Option<VerifiedCheckpoint>, VerifiedCheckpoint)> {
        let stored = self.stored_checkpoint()?;
        let what = "latest release checkpoint";
        let bytes = server.checkpoint(LogName::Releases)?;
        let latest = verify_signature(
            &self.trust,
            LogName::Releases,
            &bytes,
            what,
            &mut self.report,
        )?;
        check_witnesses(
            &self.trust,
            &latest,
            what,
            self.now,
            Freshness::Required,
            &mut self.report,
        )?;
        match &stored {
            Some(s) => check_extends(
                server,
                LogName::Releases,
                &*self.store,
                s,
                &latest,
                "release log",
                &mut self.report,
            )?,
            None => self.report.skip(
                "consistency",
                "release log: no stored checkpoint yet (first use); this one is stored",
            ),
        }
        let cx = crate::channels::Context {
            server,
            state: &*self.store,
            trust: &self.trust,
            now: self.now,
            latest: &latest,
        };
        crate::channels::check_all(&checks.channels, &cx, &mut self.report)?;
        Ok((stored, latest))
    }

    /// Step 1 alone (the key log), storing it when it grew.
    pub fn key_state(&mut self, checks: &Options) -> crate::Result<KeyLog> {
        let mut pending = Pending::default();
        let keylog = self.key_log(checks.keylog.as_deref(), &mut pending)?;
        if pending.keylog {
            crate::keylog::store(&*self.store, &self.trust, &keylog)?;
        }
        Ok(keylog)
    }

    #[allow(clippy::too_many_arguments)]
    fn verify_online(
        &mut self,
        server: &Remote,
        hashed: &Hashed,
        proof: Option<&ProofFile>,
        expected: &Expected,
        keys: &KeyState,
        checks: &Options,
        pending: &mut Pending,
    ) -> crate::Result<Verified> {
        let (stored, latest) = self.latest(server, checks)?;
        let reader = server.hash_reader(LogName::Releases, head(&latest));
        let candidates: Vec<(u64, Vec<u8>)> = match proof {
            Some(proof) => {
                let (cp, index, entry) = self.proof_file(proof)?;
                if cp.size() > latest.size() {
                    let detail = format!(
                        "the proof's checkpoint has size {}, larger than the log's latest {}: \
                         the log rolled back, or serves a stale view",
                        cp.size(),
                        latest.size()
                    );
                    self.report.fail("consistency", &detail);
                    return Err(Error::Refused(detail));
                }
                let proof = if cp.size() == 0 || cp.size() == latest.size() {
                    Vec::new()
                } else {
                    reader_proof(&reader, cp.size(), latest.size())
                        .inspect_err(|e| record_failure(&mut self.report, "consistency", e))?
                };
                check_consistent(
                    &*self.store,
                    &cp,
                    &latest,
                    &proof,
                    "proof's checkpoint against the latest",
                    &mut self.report,
                )?;
                vec![(index, entry)]
            }
            None => {
                let digest_hex = hashed.digest.to_hex();
                let mut indexes: Vec<u64> = server
                    .lookup_digest(&digest_hex)?
                    .into_iter()
                    .filter(|&i| i < latest.size())
                    .collect();
                // The lookup is a hint from the server: bound the work it can make us do. The
                // newest entries are the likeliest to be the release meant.
                if indexes.len() > MAX_CANDIDATES {
                    indexes.drain(..indexes.len() - MAX_CANDIDATES);
                }
                if indexes.is_empty() {
                    // A 404 means "none" only from a server that answers lookups at all.
                    if let Err(why) = crate::lookups::lookups_cover(server, latest.size()) {
                        let detail = format!(
                            "{why}; it cannot find the entry for sha256:{digest_hex}: verify \
                             with the release's proof file (put FILE.tlog-proof beside the file, \
                             or pass --proof FILE.tlog-proof)"
                        );
                        self.report.fail("inclusion", &detail);
                        return Err(Error::Refused(detail));
                    }
                    let detail = format!(
                        "no release in the log (size {}) names sha256:{digest_hex}",
                        latest.size()
                    );
                    self.report.fail("inclusion", &detail);
                    return Err(Error::Refused(format!("not logged: {detail}")));
                }
                let mut found = Vec::new();
                for index in indexes {
                    let entry = server
                        .entry(LogName::Releases, &reader, index)
                        .inspect_err(|e| record_failure(&mut self.report, "inclusion", e))?;
                    self.report.pass(
                        "inclusion",
                        format!(
                            "entry {index} read from tiles authenticated against the checkpoint of size {}",
                            latest.size()
                        ),
                    );
                    found.push((index, entry));
                }
                found
            }
        };
        let mut verified = self.judge(
            hashed,
            &candidates,
            expected,
            keys,
            checks.sigstore_bundle.clone(),
        )?;
        match self.deprecation(server, &reader, &verified, keys, checks)? {
            DeprecationCheck::None => {}
            DeprecationCheck::Deprecated => verified.deprecated = true,
            DeprecationCheck::Unchecked(why) => verified.deprecation_unchecked = Some(why),
        }
        if stored.as_ref().is_none_or(|s| latest.size() > s.size()) {
            pending.releases_checkpoint = Some(latest.note_bytes().to_vec());
        }
        Ok(verified)
    }

    fn verify_offline(
        &mut self,
        hashed: &Hashed,
        proof: &ProofFile,
        expected: &Expected,
        keys: &KeyState,
        checks: &Options,
        pending: &mut Pending,
    ) -> crate::Result<Verified> {
        let stored = self.stored_checkpoint()?;
        let (cp, index, entry) = self.proof_file(proof)?;
        match &stored {
            Some(s) if s.size() == cp.size() => {
                check_consistent(&*self.store, s, &cp, &[], "release log", &mut self.report)?;
            }
            Some(s) => self.report.skip(
                "consistency",
                format!(
                    "offline: no consistency proof between the stored checkpoint (size {}) and \
                     the proof's (size {}); the witness quorum vouches for the proof's",
                    s.size(),
                    cp.size()
                ),
            ),
            None => {
                self.report.skip(
                    "consistency",
                    "release log: no stored checkpoint yet (first use); the proof's is stored",
                );
                pending.releases_checkpoint = Some(cp.note_bytes().to_vec());
            }
        }
        let mut verified = self.judge(
            hashed,
            &[(index, entry)],
            expected,
            keys,
            checks.sigstore_bundle.clone(),
        )?;
        verified.deprecated = false;
        verified.deprecation_unchecked = Some(self.unchecked_deprecation(
            &verified,
            "offline: no lookups".to_owned(),
            checks,
        )?);
        Ok(verified)
    }

    /// Step 5 for each candidate entry; the first that passes every check wins.
    fn judge(
        &mut self,
        hashed: &Hashed,
        candidates: &[(u64, Vec<u8>)],
        expected: &Expected,
        keys: &KeyState,
        bundle: Option<PathBuf>,
    ) -> crate::Result<Verified> {
        let mut failures: Vec<(&'static str, String)> = Vec::new();
        for (index, entry) in candidates {
            let (server, local) = (self.server.as_ref(), bundle.as_deref());
            let mut bundle_for = |d: &Sha256Digest| find_sigstore_bundle(server, local, d);
            match judge_one(hashed, *index, entry, expected, keys, &mut bundle_for) {
                Ok((verified, passes)) => {
                    for (name, detail) in passes {
                        self.report.pass(name, detail);
                    }
                    self.report.entry = Some(entry_json(&verified, entry));
                    return Ok(verified);
                }
                Err(f) => failures.push(f),
            }
        }
        let detail = failures
            .iter()
            .map(|(_, d)| d.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let name = failures.last().map_or("entry", |(n, _)| *n);
        self.report.fail(name, &detail);
        Err(Error::Refused(detail))
    }

    /// A deprecation check that got no answer: a skipped check (reported on stderr and in
    /// `--json`), or a failure under `--refuse-deprecated`, never a pass. Returns the reason.
    fn unchecked_deprecation(
        &mut self,
        verified: &Verified,
        why: String,
        checks: &Options,
    ) -> crate::Result<String> {
        let detail = format!(
            "deprecations of {} {} were not checked: {why}",
            verified.release.name(),
            verified.release.version()
        );
        if checks.refuse_deprecated {
            self.report.fail("deprecation", &detail);
            return Err(Error::Refused(format!(
                "{detail}; --refuse-deprecated needs an answer: verify online against the log, \
                 or a mirror that answers lookups"
            )));
        }
        self.report.skip("deprecation", &detail);
        Ok(why)
    }

    /// Looks up deprecations of the verified release (online): a valid one is a warning, or a
    /// failure with `--refuse-deprecated`. The lookup is a hint: each entry it names is read
    /// from tiles authenticated against the checkpoint and checked. A lookup that cannot be
    /// answered is [`DeprecationCheck::Unchecked`].
    fn deprecation(
        &mut self,
        server: &Remote,
        reader: &TileHashReader<RemoteTiles>,
        verified: &Verified,
        keys: &KeyState,
        checks: &Options,
    ) -> crate::Result<DeprecationCheck> {
        let name = verified.release.name().as_str();
        let version = verified.release.version().as_str();
        let size = reader.tree().size();
        let path = lookup::deprecations_path(verified.release.name(), verified.release.version());
        let answer = crate::lookups::lookups_cover(server, size).and_then(|()| {
            crate::lookups::lookup_indexes(server, &path)
                .map_err(|e| format!("the deprecation lookup failed: {}", e.chain()))
        });
        let indexes = match answer {
            Ok(found) => found.unwrap_or_default(),
            Err(why) => {
                let why = self.unchecked_deprecation(verified, why, checks)?;
                return Ok(DeprecationCheck::Unchecked(why));
            }
        };
        for index in indexes.into_iter().filter(|&i| i < size) {
            let entry = server
                .entry(LogName::Releases, reader, index)
                .inspect_err(|e| record_failure(&mut self.report, "deprecation", e))?;
            let Ok(note) = Note::parse(&entry) else {
                continue;
            };
            let Ok(Entry::Deprecation(dep)) = Entry::parse(note.text()) else {
                continue;
            };
            if dep.name().as_str() != name || dep.version().as_str() != version {
                continue;
            }
            match deprecation_is_valid(&note, index, keys) {
                Ok(_) => {
                    let detail = describe_deprecation(&dep, index);
                    if let Some(e) = self.report.entry.as_mut() {
                        e["deprecation"] = json!({
                            "index": index,
                            "reason": dep.reason().as_str(),
                            "advisory": dep.advisory().map(|a| a.as_str()),
                            "replacement": dep.replacement().map(|v| v.as_str()),
                        });
                    }
                    if checks.refuse_deprecated {
                        self.report.fail("deprecation", &detail);
                        return Err(Error::Refused(format!("{detail} (--refuse-deprecated)")));
                    }
                    self.report.warn("deprecation", detail);
                    return Ok(DeprecationCheck::Deprecated);
                }
                Err(e) => self.report.warn(
                    "deprecation",
                    format!("ignoring the deprecation at index {index}: not validly signed: {e}"),
                ),
            }
        }
        self.report.pass(
            "deprecation",
            format!("{name} {version} is not deprecated (log size {size})"),
        );
        Ok(DeprecationCheck::None)
    }
}

/// Records a verification failure raised below the checks (tiles or bundles that do not match
/// their checkpoint) as the failure of `check`.
fn record_failure(report: &mut Report, check: &'static str, error: &crate::Error) {
    if let Some(Error::Refused(message)) = Some(error.root()) {
        report.fail(check, message.clone());
    }
}

fn reader_proof(
    reader: &TileHashReader<RemoteTiles>,
    old: u64,
    new: u64,
) -> crate::Result<Vec<cairn_verifier::hash::Hash>> {
    reader.prove_consistency(old, new).map_err(|e| {
        if e.is_security_failure() {
            Error::Refused(format!(
                "the release log's tiles do not match its checkpoint: {e}"
            ))
        } else {
            crate::error::err!(
                "reading the release log's tiles for a consistency proof {old} -> {new}: {e}"
            )
        }
    })
}

fn describe_deprecation(dep: &Deprecation, index: u64) -> String {
    let mut s = format!(
        "{} {} is deprecated (entry {index}): {}",
        dep.name(),
        dep.version(),
        dep.reason().as_str()
    );
    if let Some(a) = dep.advisory() {
        s.push_str(&format!("; advisory {}", a.as_str()));
    }
    if let Some(r) = dep.replacement() {
        s.push_str(&format!("; replacement {}", r.as_str()));
    }
    s
}

type Passes = Vec<(&'static str, String)>;

/// The entry checks of step 5 for one entry: a release naming this digest and size, the
/// expected name and version, and a key valid at the index.
fn judge_one(
    hashed: &Hashed,
    index: u64,
    entry: &[u8],
    expected: &Expected,
    keys: &KeyState,
    bundle_for: &mut dyn FnMut(&Sha256Digest) -> Result<Vec<u8>, String>,
) -> Result<(Verified, Passes), (&'static str, String)> {
    let mut passes = Vec::new();
    let note = Note::parse(entry)
        .map_err(|e| ("entry", format!("entry {index} is not a signed note: {e}")))?;
    let release = match Entry::parse(note.text()) {
        Ok(Entry::Release(r)) => r,
        Ok(other) => {
            let kind = match other {
                Entry::Deprecation(_) => "a deprecation",
                _ => "a key event",
            };
            return Err(("entry", format!("entry {index} is {kind}, not a release")));
        }
        Err(e) => return Err(("entry", format!("entry {index} does not parse: {e}"))),
    };
    let digest_hex = hashed.digest.to_hex();
    let Some(file) = release.find_file(&hashed.digest, hashed.size) else {
        return Err((
            "artifact-binding",
            format!(
                "entry {index} ({} {}) names no artifact or manifest with sha256:{digest_hex} and size {}",
                release.name(),
                release.version(),
                hashed.size
            ),
        ));
    };
    passes.push((
        "artifact-binding",
        format!(
            "entry {index} names {} with this digest and size ({} bytes)",
            file.file_name.as_str(),
            hashed.size
        ),
    ));
    if let Some(name) = &expected.name
        && name != release.name()
    {
        return Err((
            "name-version",
            format!(
                "entry {index} is release {}, not {}",
                release.name().as_str(),
                name.as_str()
            ),
        ));
    }
    if let Some(version) = &expected.version
        && version != release.version()
    {
        return Err((
            "name-version",
            format!(
                "entry {index} is version {}, not {}",
                release.version().as_str(),
                version.as_str()
            ),
        ));
    }
    if expected.name.is_some() || expected.version.is_some() {
        passes.push((
            "name-version",
            format!("{} {}", release.name(), release.version()),
        ));
    }
    if let Some(signer) = release.sigstore() {
        let bundle = bundle_for(&signer.bundle)
            .map_err(|e| ("key-validity", format!("entry {index}: {e}")))?;
        let (_, verdict) =
            cairn_sigstore::judge_release(&note, index, keys, &bundle).map_err(|e| {
                (
                    "key-validity",
                    format!("entry {index} is not validly authorised at its index: {e}"),
                )
            })?;
        passes.push((
            "key-validity",
            format!(
                "Sigstore bundle {} verified: signed by {} (issuer {}) at {}, granted for {} at index {index}",
                signer.bundle,
                signer.identity,
                signer.issuer,
                verdict.signed_at(),
                release.name()
            ),
        ));
    } else {
        match release_is_valid(&note, index, keys) {
            Ok(valid) => {
                passes.push((
                    "key-validity",
                    format!(
                        "signed by {} valid at index {index} for {}",
                        valid
                            .signers()
                            .iter()
                            .map(|k| k.name().as_str().to_owned())
                            .collect::<Vec<_>>()
                            .join(", "),
                        release.name()
                    ),
                ));
            }
            Err(e) => {
                return Err((
                    "key-validity",
                    format!("entry {index} is not validly signed at its index: {e}"),
                ));
            }
        }
    }
    Ok((
        Verified {
            file_name: file.file_name.as_str().to_owned(),
            release,
            index,
            deprecated: false,
            deprecation_unchecked: None,
        },
        passes,
    ))
}

fn entry_json(verified: &Verified, entry: &[u8]) -> serde_json::Value {
    let files = |list: &[cairn_verifier::entry::FileRef]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|f| {
                json!({"name": f.file_name.as_str(), "sha256": f.digest.to_hex(), "size": f.size})
            })
            .collect()
    };
    json!({
        "index": verified.index,
        "name": verified.release.name().as_str(),
        "version": verified.release.version().as_str(),
        "file": verified.file_name,
        "artifacts": files(verified.release.artifacts()),
        "manifests": files(verified.release.manifests()),
        "note": String::from_utf8_lossy(entry),
    })
}

/// Reads a proof file if it exists.
pub fn read_proof(path: &Path) -> crate::Result<Option<ProofFile>> {
    match std::fs::File::open(path) {
        Ok(file) => {
            let mut bytes = Vec::new();
            let cap = u64::try_from(MAX_TLOG_PROOF_SIZE).unwrap_or(u64::MAX) + 1;
            std::io::Read::read_to_end(&mut std::io::Read::take(file, cap), &mut bytes)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(Some(ProofFile {
                source: path.display().to_string(),
                bytes,
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The file at `path`, `Ok(None)` if it does not exist; refused when larger than `limit`.
fn read_file_limited(path: &Path, limit: usize) -> Result<Option<Vec<u8>>, String> {
    match std::fs::File::open(path) {
        Ok(file) => {
            let mut bytes = Vec::new();
            let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            std::io::Read::read_to_end(&mut std::io::Read::take(file, cap), &mut bytes)
                .map_err(|e| e.to_string())?;
            if bytes.len() > limit {
                return Err(format!("larger than {limit} bytes"));
            }
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// `FILE.tlog-proof`.
pub fn proof_path_for(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".tlog-proof");
    PathBuf::from(name)
}

/// The decompressed content must be what the verified entry's `decompressed` line says.
pub fn check_decompressed(
    report: &mut Report,
    verified: &Verified,
    decompressed: &Hashed,
) -> crate::Result<()> {
    let Some(file_name) = verified
        .release
        .artifacts()
        .iter()
        .find(|a| a.file_name.as_str() == verified.file_name)
        .map(|a| a.file_name.clone())
    else {
        let detail = format!(
            "{} is a manifest of {} {}, not an image",
            verified.file_name,
            verified.release.name(),
            verified.release.version()
        );
        report.fail("decompress", &detail);
        return Err(Error::Refused(detail));
    };
    let Some(logged) = verified.release.decompressed(&file_name) else {
        let detail = format!(
            "the log entry of {} {} names no decompressed content for {file_name} (it was not \
             published as a compressed image): nothing vouches for what it decompresses to",
            verified.release.name(),
            verified.release.version()
        );
        report.fail("decompress", &detail);
        return Err(Error::Refused(detail));
    };
    if logged.digest != decompressed.digest || logged.size != decompressed.size {
        let detail = format!(
            "{file_name} decompresses to {} ({} bytes), but its log entry says {} ({} bytes)",
            decompressed.digest, decompressed.size, logged.digest, logged.size
        );
        report.fail("decompress", &detail);
        return Err(Error::Refused(detail));
    }
    report.pass(
        "decompress",
        format!(
            "{file_name} decompresses to {} ({} bytes), as logged",
            logged.digest, logged.size
        ),
    );
    Ok(())
}
