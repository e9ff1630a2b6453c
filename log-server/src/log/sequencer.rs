//! The sequencer: batching, validation, the one durable commit per batch, and the
//! acknowledgements.
//!
//! Invariants:
//! - One batch is sequenced at a time (`Log::sequencer`); the sequencer is the only writer of
//!   the state.
//! - Submissions are validated in order against the committed state plus the earlier
//!   submissions of the same batch; a refused submission changes nothing.
//! - An entry is acknowledged (its `add` answered with a proof) only after the commit holding it
//!   returned, i.e. after the branch update is durable. If the commit fails, the in-memory
//!   state is rebuilt from the branch head and every accepted submission of the batch is
//!   refused as [`Refusal::Unavailable`].
//! - The write lock is held only while entries are appended (hashing) and while a durable
//!   commit is published, never during validation or the git commit itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use cairn_verifier::checkpoint::Checkpoint;
use cairn_verifier::compact::to_compact;
use cairn_verifier::entry::ReleaseName;
use cairn_verifier::entry::{Entry, KeyEvent, Release};
use cairn_verifier::hash::{Hash, leaf_hash};
use cairn_verifier::keylog::{InvalidRelease, KeyLogError, KeyState};
use cairn_verifier::note::{Ed25519Verifier, Note, NoteError, NoteVerifier};
use cairn_verifier::tile::{EntryBundle, TILE_HEIGHT, TILE_WIDTH, new_tiles, read_tile_data};

use super::checked::{CachedKey, CheckedSignatures};
use super::publication::{VKEY_FILE, sign_checkpoint};
use super::state::{LogState, State};
use super::{Log, LogError, LogKind, MAX_ENTRY_SIZE, Outcome, Refusal, Submission};
use crate::metrics::Metrics;
use crate::storage::Change;

impl Log {
    /// Sequences a batch: validates each submission in order against the state (including the
    /// earlier submissions of the same batch), appends the accepted ones, writes one commit, and
    /// returns one outcome per submission, in order. Nothing is reported as logged unless the
    /// commit succeeded.
    ///
    /// The work is split so readers are blocked only for memory updates: validation (signature
    /// checks) and tile building run under the read lock, the git commit under no lock, and
    /// only appending and publishing take the write lock. This is sound because the sequencer
    /// is the only writer (`sequencer` mutex), so the state cannot change between the phases.
    pub fn sequence(&self, batch: Vec<Submission>) -> Vec<Outcome> {
        use std::sync::atomic::Ordering::Relaxed;
        let _only_writer = self.sequencer.lock().unwrap_or_else(|p| p.into_inner());
        let started = Instant::now();
        if self.is_broken() {
            // The failure may have been transient (out of file descriptors, a full disk
            // that was cleaned up): try again before refusing, so the log never stays broken
            // until an operator restarts it.
            let mut state = self.write();
            if let Err(e) = self.reload_into(&mut state) {
                return batch
                    .iter()
                    .map(|_| {
                        Outcome::refused(
                            Refusal::Unavailable,
                            format!("the log's storage is failing ({e}); retry later"),
                        )
                    })
                    .collect();
            }
        }
        // Phase 1: decide, under the read lock.
        let (plan, old) = {
            let state = self.read();
            let old = (state.releases.tree.size(), state.keys.tree.size());
            let allow = self
                .allow_backdated_from
                .load(std::sync::atomic::Ordering::SeqCst);
            (plan_batch(&state, batch, allow), old)
        };
        for decision in &plan.decisions {
            match decision {
                Decision::Refused(kind, _) => {
                    self.metrics
                        .log(*kind)
                        .submissions_refused
                        .fetch_add(1, Relaxed);
                }
                Decision::Existing(kind, _) | Decision::Repeat(kind, _) => {
                    self.metrics
                        .log(*kind)
                        .submissions_duplicate
                        .fetch_add(1, Relaxed);
                }
                Decision::New(..) => {}
            }
        }
        if plan.appended.is_empty() {
            let state = self.read();
            return plan
                .decisions
                .into_iter()
                .map(|d| d.outcome(&state, old))
                .collect();
        }
        // Phase 2: append, under the write lock (hashing only).
        {
            let mut state = self.write();
            for item in &plan.appended {
                let index = state.log_mut(item.kind).append(Arc::clone(&item.entry));
                if let Some(release) = &item.release {
                    state.index_release_entry(index, release);
                } else if item.kind == LogKind::Releases {
                    state.index_deprecation_entry(index, &item.entry);
                }
            }
            if let Some(ks) = &plan.key_state {
                state.key_state = Some(ks.clone());
            }
        }
        // Phase 3: tiles, bundles and signed checkpoints, under the read lock.
        let prepared = {
            let state = self.read();
            let new = (state.releases.tree.size(), state.keys.tree.size());
            self.prepare_commit(&state, old, new).map(|mut p| {
                let releases = plan.appended.iter().filter_map(|a| a.release.as_ref());
                p.changes
                    .extend(crate::sigstore_check::bundle_changes(releases));
                (p, new, state.head.clone())
            })
        };
        // Phase 4: the durable commit, under no lock.
        let committed = prepared.and_then(|(prepared, new, head)| {
            let id = self
                .storage
                .commit(head.as_ref(), &prepared.changes, &prepared.message)?;
            Ok((prepared, new, id))
        });
        // Phase 5: publish, or drop what was appended.
        let mut state = self.write();
        match committed {
            Ok((prepared, new, id)) => {
                state.head = Some(id);
                let witnessed = self.witnessed.load(std::sync::atomic::Ordering::SeqCst);
                for (kind, size, checkpoint) in prepared.checkpoints {
                    let log = state.log_mut(kind);
                    log.checkpoint = Arc::from(checkpoint);
                    log.committed = size;
                    if !witnessed {
                        log.publish(Arc::clone(&log.checkpoint), size);
                    }
                }
                self.metrics.batches_committed.fetch_add(1, Relaxed);
                self.metrics.commit_latency.observe(started.elapsed());
                self.metrics
                    .releases
                    .entries_sequenced
                    .fetch_add(new.0 - old.0, Relaxed);
                self.metrics
                    .keys
                    .entries_sequenced
                    .fetch_add(new.1 - old.1, Relaxed);
                self.metrics.releases.tree_size.store(new.0, Relaxed);
                self.metrics.keys.tree_size.store(new.1, Relaxed);
                drop(state);
                // Wakes the publisher (witness cosignatures, hook); never waits for it.
                self.commits.send_modify(|n| *n += 1);
                let state = self.read();
                plan.decisions
                    .into_iter()
                    .map(|d| d.outcome(&state, old))
                    .collect()
            }
            Err(e) => {
                self.metrics.batches_failed.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "batch commit failed; reloading state from storage");
                let _ = self.reload_into(&mut state);
                let reason = format!("the batch could not be committed ({e}); retry");
                plan.decisions
                    .into_iter()
                    .map(|d| match d {
                        Decision::Refused(_, outcome) => outcome,
                        _ => Outcome::refused(Refusal::Unavailable, reason.clone()),
                    })
                    .collect()
            }
        }
    }

    /// The files of the grown logs (tiles, bundles, signed checkpoints, channel files) and the
    /// commit message. The first commit publishes both logs, even the empty release log.
    fn prepare_commit(
        &self,
        state: &State,
        old: (u64, u64),
        new: (u64, u64),
    ) -> Result<PreparedCommit, LogError> {
        let mut changes = Vec::new();
        let mut checkpoints = Vec::new();
        for (kind, old_size, new_size) in [
            (LogKind::Releases, old.0, new.0),
            (LogKind::Keys, old.1, new.1),
        ] {
            if new_size == old_size && state.head.is_some() {
                continue;
            }
            let log = state.log(kind);
            let dir = kind.name();
            tile_changes(log, dir, old_size, new_size, &mut changes)?;
            let root = log
                .tree
                .root_at(new_size)
                .map_err(|e| LogError::Corrupt(format!("computing the root: {e}")))?;
            let text = Checkpoint::new(log.origin.clone(), new_size, root)
                .to_text()
                .map_err(|e| LogError::Corrupt(format!("checkpoint: {e}")))?;
            let note = sign_checkpoint(&self.log_keys, kind, &text)?;
            let bytes = note.to_bytes();
            changes.push(Change::put(format!("{dir}/checkpoint"), bytes.clone()));
            if kind == LogKind::Releases {
                let line = to_compact(&note)
                    .map_err(|e| LogError::Corrupt(format!("compact checkpoint: {e}")))?;
                changes.push(Change::put(
                    format!("{dir}/update-latest.txt"),
                    format!("{line}\n"),
                ));
            }
            checkpoints.push((kind, new_size, bytes));
        }
        if state.head.is_none() {
            changes.push(Change::put(VKEY_FILE, self.log_keys.vkeys()));
        }
        let mut message = format!("cairn: releases {} keys {}\n", new.0, new.1);
        for kind in [LogKind::Releases, LogKind::Keys] {
            let bytes = checkpoints
                .iter()
                .find(|(k, _, _)| *k == kind)
                .map(|(_, _, b)| b.clone())
                .unwrap_or_else(|| state.log(kind).checkpoint.to_vec());
            message.push('\n');
            message.push_str(&String::from_utf8_lossy(&bytes));
        }
        Ok(PreparedCommit {
            changes,
            message,
            checkpoints,
        })
    }
}

/// The tile, entry-bundle and partial-tile-removal changes for a log growing from `old` to
/// `new` entries.
fn tile_changes(
    log: &LogState,
    dir: &str,
    old: u64,
    new: u64,
    changes: &mut Vec<Change>,
) -> Result<(), LogError> {
    if new == old {
        return Ok(());
    }
    let tiles = new_tiles(TILE_HEIGHT, old, new)
        .map_err(|e| LogError::Corrupt(format!("planning tiles: {e}")))?;
    for tile in tiles {
        let data = read_tile_data(&tile, &log.tree)
            .map_err(|e| LogError::Corrupt(format!("tile {}: {e}", tile.path())))?;
        changes.push(Change::put(format!("{dir}/{}", tile.path()), data));
        if tile.level() == 0 {
            let bundle = EntryBundle::from_tile(&tile);
            let data = log
                .bundle_range(&bundle)
                .ok_or_else(|| LogError::Corrupt(format!("bundle {}", bundle.path())))?;
            changes.push(Change::put(format!("{dir}/{}", bundle.path()), data));
            if bundle.width() == TILE_WIDTH {
                changes.push(Change::delete(format!("{dir}/{}.p", bundle.path())));
            }
        }
        if tile.is_full() {
            // tlog-tiles lets a log drop partial tiles once the full tile exists.
            changes.push(Change::delete(format!("{dir}/{}.p", tile.path())));
        }
    }
    Ok(())
}

impl Metrics {
    pub(super) fn log(&self, kind: LogKind) -> &crate::metrics::LogMetrics {
        match kind {
            LogKind::Releases => &self.releases,
            LogKind::Keys => &self.keys,
        }
    }
}

/// What the sequencer decided for one submission.
#[derive(Debug)]
enum Decision {
    /// Refused, with its answer.
    Refused(LogKind, Outcome),
    /// Identical to the committed entry at this index.
    Existing(LogKind, u64),
    /// Appended: the n-th new entry of that log in this batch.
    New(LogKind, u64),
    /// Identical to the n-th new entry of that log in this batch.
    Repeat(LogKind, u64),
}

impl Decision {
    /// The answer once the batch is committed; `old` are the sizes before the batch.
    pub(super) fn outcome(self, state: &State, old: (u64, u64)) -> Outcome {
        let (kind, index, new) = match self {
            Decision::Refused(_, outcome) => return outcome,
            Decision::Existing(kind, index) => (kind, index, false),
            Decision::New(kind, n) => (kind, base(kind, old) + n, true),
            Decision::Repeat(kind, n) => (kind, base(kind, old) + n, false),
        };
        match state.log(kind).head_proof(index) {
            Some(proof) => Outcome::Logged { index, proof, new },
            None => Outcome::refused(
                Refusal::Unavailable,
                "internal error: no proof for a logged entry",
            ),
        }
    }
}

fn base(kind: LogKind, old: (u64, u64)) -> u64 {
    match kind {
        LogKind::Releases => old.0,
        LogKind::Keys => old.1,
    }
}

/// An accepted entry waiting to be appended.
#[derive(Debug)]
struct Appended {
    kind: LogKind,
    entry: Arc<[u8]>,
    /// For the lookup indexes.
    release: Option<Release>,
}

/// The decisions for a batch, the entries to append, and the key state after them.
#[derive(Debug, Default)]
struct Plan {
    decisions: Vec<Decision>,
    appended: Vec<Appended>,
    key_state: Option<KeyState>,
}

/// The files and message of one commit, and the checkpoints it publishes.
#[derive(Debug)]
struct PreparedCommit {
    changes: Vec<Change>,
    message: String,
    checkpoints: Vec<(LogKind, u64, Vec<u8>)>,
}

/// Decides every submission of a batch in order, against the committed state plus the earlier
/// submissions of the same batch. Does not modify the state.
fn plan_batch(state: &State, batch: Vec<Submission>, allow_backdated_from: bool) -> Plan {
    let mut plan = Plan {
        key_state: state.key_state.clone(),
        ..Plan::default()
    };
    let mut counts: HashMap<LogKind, u64> = HashMap::new();
    let mut leaves: HashMap<(LogKind, Hash), u64> = HashMap::new();
    let mut names: HashMap<(String, String), u64> = HashMap::new();
    let mut key_state_changed = false;
    for sub in batch {
        let kind = sub.log;
        let leaf = leaf_hash(&sub.entry);
        if let Some(&index) = state.log(kind).by_leaf.get(&leaf) {
            plan.decisions.push(Decision::Existing(kind, index));
            continue;
        }
        if let Some(&n) = leaves.get(&(kind, leaf)) {
            plan.decisions.push(Decision::Repeat(kind, n));
            continue;
        }
        let n = counts.get(&kind).copied().unwrap_or(0);
        let index = state.log(kind).tree.size() + n;
        let ctx = Context {
            state,
            names: &names,
            release_size: state.log(LogKind::Releases).tree.size()
                + counts.get(&LogKind::Releases).copied().unwrap_or(0),
            allow_backdated_from,
        };
        let checked = sub.checked.about(&leaf);
        match decide(&ctx, &mut plan.key_state, kind, index, &sub.entry, checked) {
            Ok(accepted) => {
                if kind == LogKind::Keys {
                    key_state_changed = true;
                }
                if let Some(release) = &accepted {
                    names.insert(
                        (
                            release.name().as_str().to_owned(),
                            release.version().as_str().to_owned(),
                        ),
                        index,
                    );
                }
                leaves.insert((kind, leaf), n);
                counts.insert(kind, n + 1);
                plan.appended.push(Appended {
                    kind,
                    entry: Arc::from(sub.entry),
                    release: accepted,
                });
                plan.decisions.push(Decision::New(kind, n));
            }
            Err((rule, reason)) => {
                plan.decisions
                    .push(Decision::Refused(kind, Outcome::refused(rule, reason)));
            }
        }
    }
    if !key_state_changed {
        plan.key_state = None;
    }
    plan
}

/// What [`decide`] reads besides the key state.
struct Context<'a> {
    state: &'a State,
    /// Releases accepted earlier in this batch, by (name, version).
    names: &'a HashMap<(String, String), u64>,
    /// The release log's size with the releases accepted earlier in this batch.
    release_size: u64,
    /// Accept an `add` whose `from` is below `release_size`.
    allow_backdated_from: bool,
}

impl Context<'_> {
    pub(super) fn release_index(&self, name: &str, version: &str) -> Option<u64> {
        let key = (name.to_owned(), version.to_owned());
        self.state
            .by_name_version
            .get(&key)
            .or_else(|| self.names.get(&key))
            .copied()
    }
}

/// Judges one new entry at `index`. Key events are applied to `key_state`. Returns the release
/// (for the lookup indexes) when the entry is one, or a refusal (the rule, a one-line reason).
fn decide(
    ctx: &Context<'_>,
    key_state: &mut Option<KeyState>,
    kind: LogKind,
    index: u64,
    entry: &[u8],
    checked: Option<&CheckedSignatures>,
) -> Result<Option<Release>, (Refusal, String)> {
    if entry.len() > MAX_ENTRY_SIZE {
        return Err((
            Refusal::TooLarge,
            format!(
                "entry is {} bytes; the limit is {MAX_ENTRY_SIZE}",
                entry.len()
            ),
        ));
    }
    let note = Note::parse_entry(entry)
        .map_err(|e| (Refusal::Malformed, format!("malformed note: {e}")))?;
    let parsed = Entry::parse(note.text())
        .map_err(|e| (Refusal::Malformed, format!("malformed entry: {e}")))?;
    match (kind, parsed) {
        (LogKind::Releases, Entry::Key(_)) => Err((
            Refusal::Malformed,
            "key events go to the key log (POST /keys/add)".to_owned(),
        )),
        (LogKind::Keys, Entry::Release(_) | Entry::Deprecation(_)) => Err((
            Refusal::Malformed,
            "releases and deprecations go to the release log (POST /releases/add)".to_owned(),
        )),
        (LogKind::Keys, Entry::Key(event)) => {
            match key_state {
                None => {
                    // Genesis: the server trusts the root set its operator gave it at init.
                    let KeyEvent::Root { roots, .. } = &event else {
                        return Err((
                            Refusal::Malformed,
                            "key-log entry 0 must be a root event".to_owned(),
                        ));
                    };
                    let (fresh, _) = KeyState::genesis(roots, entry)
                        .map_err(|e| (keylog_rule(&e), format!("genesis: {e}")))?;
                    *key_state = Some(fresh);
                }
                Some(ks) => {
                    // Authenticate first (threshold, keys: Unauthorized), then judge the
                    // event's content against the log (backdated `from`: Contradicts), on a copy so that a
                    // refused event leaves the key state untouched.
                    let mut next = ks.clone();
                    next.apply(entry)
                        .map_err(|e| (keylog_rule(&e), e.to_string()))?;
                    crate::sigstore_check::check_key_event(&event)?;
                    if let KeyEvent::Add { from, .. } = &event
                        && *from < ctx.release_size
                        && !ctx.allow_backdated_from
                    {
                        return Err((
                            Refusal::Contradicts,
                            format!(
                                "add: from {from} lies before the release log's size {}; a \
                                 backdated key would make releases already logged valid \
                                 (spec/keylog.md 4.4); use from {} or later, or ask the \
                                 operator to allow backdated keys",
                                ctx.release_size, ctx.release_size
                            ),
                        ));
                    }
                    *ks = next;
                }
            }
            Ok(None)
        }
        (LogKind::Releases, Entry::Release(release)) => {
            let ks = key_state.as_ref().ok_or((
                Refusal::Unavailable,
                "the key log has no genesis yet".to_owned(),
            ))?;
            if let Some(existing) =
                ctx.release_index(release.name().as_str(), release.version().as_str())
            {
                return Err((
                    Refusal::Conflict,
                    format!(
                        "release {} {} is already logged at index {existing} with different content",
                        release.name(),
                        release.version()
                    ),
                ));
            }
            if let Some(signer) = release.sigstore() {
                // Authorised by a Sigstore bundle, which its submission brought.
                crate::sigstore_check::judge_release(&note, signer, index, ks)?;
            } else {
                signers_valid_at(&note, release.name(), index, ks, checked)
                    .map_err(|e| (release_rule(&e), e.to_string()))?;
            }
            Ok(Some(release))
        }
        (LogKind::Releases, Entry::Deprecation(dep)) => {
            let ks = key_state.as_ref().ok_or((
                Refusal::Unavailable,
                "the key log has no genesis yet".to_owned(),
            ))?;
            if ctx
                .release_index(dep.name().as_str(), dep.version().as_str())
                .is_none()
            {
                return Err((
                    Refusal::Malformed,
                    format!(
                        "no release {} {} in the log to deprecate",
                        dep.name(),
                        dep.version()
                    ),
                ));
            }
            signers_valid_at(&note, dep.name(), index, ks, checked)
                .map_err(|e| (release_rule(&e), e.to_string()))?;
            Ok(None)
        }
    }
}

/// The rule of `cairn_verifier::keylog::release_is_valid` (and `deprecation_is_valid`) for a
/// release or deprecation of `name` at release-log index `index`, with the signature checks
/// answered by `checked` where the add handler already made them (`checked.rs`).
///
/// Signature lines by keys the key state does not know as release keys are ignored; a release
/// key's signature that does not verify makes the entry invalid; at least one signer must be
/// valid at `index`, and a revoked signer invalidates the entry whatever the others. The unit
/// tests below compare this with the verifier's function case by case.
fn signers_valid_at(
    note: &Note,
    name: &ReleaseName,
    index: u64,
    ks: &KeyState,
    checked: Option<&CheckedSignatures>,
) -> Result<(), InvalidRelease> {
    let keys: Vec<&Ed25519Verifier> = ks.release_keys().iter().map(|r| r.key()).collect();
    let cached: Vec<CachedKey<'_>> = keys.iter().map(|&key| CachedKey { key, checked }).collect();
    let known: Vec<&dyn NoteVerifier> = cached.iter().map(|k| k as &dyn NoteVerifier).collect();
    let find = |name: &str, key_id: u32| {
        keys.iter()
            .copied()
            .find(|k| k.name().as_str() == name && k.key_id() == key_id)
    };
    let verified = match note.verify(&known) {
        Ok(verified) => verified,
        Err(NoteError::NoKnownSignature) => return Err(InvalidRelease::UnknownKey),
        Err(NoteError::BadSignature { name, key_id }) => {
            return Err(match find(&name, key_id) {
                Some(key) => InvalidRelease::BadSignature { key: key.to_vkey() },
                None => InvalidRelease::Note(NoteError::BadSignature { name, key_id }),
            });
        }
        Err(other) => return Err(InvalidRelease::Note(other)),
    };
    let mut signers: Vec<&Ed25519Verifier> = Vec::new();
    for sig in verified.verified_signatures() {
        if let Some(key) = find(sig.name.as_str(), sig.key_id)
            && !signers.iter().any(|s| s.public_key() == key.public_key())
        {
            signers.push(key);
        }
    }
    let mut any_valid = false;
    let mut worst: Option<InvalidRelease> = None;
    for signer in signers {
        let Some(release_key) = ks.release_key(signer.public_key()) else {
            continue;
        };
        match release_key.check(name, index) {
            Ok(()) => any_valid = true,
            Err(e) => {
                if worst.as_ref().is_none_or(|w| severity(&e) < severity(w)) {
                    worst = Some(e);
                }
            }
        }
    }
    match worst {
        Some(revoked @ InvalidRelease::Revoked { .. }) => Err(revoked),
        Some(worst) if !any_valid => Err(worst),
        _ if !any_valid => Err(InvalidRelease::UnknownKey),
        _ => Ok(()),
    }
}

/// Which of several failing signers to report, as the verifier does: lower is more serious.
fn severity(e: &InvalidRelease) -> u8 {
    match e {
        InvalidRelease::Revoked { .. } => 0,
        InvalidRelease::Retired { .. } => 1,
        InvalidRelease::OutOfScope { .. } => 2,
        InvalidRelease::NotYetValid { .. } => 3,
        _ => 4,
    }
}

fn keylog_rule(e: &KeyLogError) -> Refusal {
    match e {
        KeyLogError::Note(_) | KeyLogError::Entry(_) => Refusal::Malformed,
        _ => Refusal::Unauthorized,
    }
}

fn release_rule(e: &InvalidRelease) -> Refusal {
    match e {
        // Two lines from one known key make the note malformed (signed-note); that is only
        // known once the keys are (unknown keys' lines are ignored at parse time).
        InvalidRelease::Malformed(_)
        | InvalidRelease::Note(cairn_verifier::note::NoteError::DuplicateSignature { .. }) => {
            Refusal::Malformed
        }
        _ => Refusal::Unauthorized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_verifier::entry::{
        Deprecation, FileName, FileRef, Reason, RootSet, Scope, Sha256Digest, Version,
    };
    use cairn_verifier::keylog::{deprecation_is_valid, release_is_valid};
    use cairn_verifier::note::{Ed25519Signer, KeyName, NoteSigner};

    fn signer(name: &str, seed: u8) -> Ed25519Signer {
        Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32])
    }

    fn signed(text: &str, signers: &[&dyn NoteSigner]) -> Vec<u8> {
        Note::sign(text, signers).expect("sign").to_bytes()
    }

    fn release(name: &str, version: &str, signers: &[&dyn NoteSigner]) -> Vec<u8> {
        let file = FileRef {
            digest: Sha256Digest::of(version.as_bytes()),
            size: 1,
            file_name: FileName::new("image.iso").expect("file name"),
        };
        let release = Release::new(
            ReleaseName::new(name).expect("name"),
            Version::new(version).expect("version"),
            vec![file],
            vec![],
        )
        .expect("release");
        signed(&release.to_text(), signers)
    }

    /// A key state with release keys: `a` (scope `a/*`, from 0), `b` (scope `*`, from 5,
    /// retired at 20), `c` (scope `*`, from 0, revoked from 10). `x` is never added.
    struct Keys {
        a: Ed25519Signer,
        b: Ed25519Signer,
        c: Ed25519Signer,
        x: Ed25519Signer,
        root: Ed25519Signer,
        state: KeyState,
    }

    fn keys() -> Keys {
        let root = signer("example.org/root", 1);
        let (a, b, c, x) = (
            signer("a", 2),
            signer("b", 3),
            signer("c", 4),
            signer("a", 5), // same name as `a`, another key
        );
        let roots = RootSet::new(vec![root.verifier()], 1).expect("roots");
        let genesis = KeyEvent::Root {
            roots: roots.clone(),
            reason: None,
        };
        let (mut state, _) =
            KeyState::genesis(&roots, &signed(&genesis.to_text(), &[&root])).expect("genesis");
        let reason = || Reason::new("test").expect("reason");
        let events = [
            KeyEvent::Add {
                key: a.verifier(),
                scope: Scope::new("a/*").expect("scope"),
                from: 0,
                reason: None,
            },
            KeyEvent::Add {
                key: b.verifier(),
                scope: Scope::new("*").expect("scope"),
                from: 5,
                reason: None,
            },
            KeyEvent::Add {
                key: c.verifier(),
                scope: Scope::new("*").expect("scope"),
                from: 0,
                reason: None,
            },
            KeyEvent::Retire {
                key: b.verifier(),
                until: 20,
                reason: reason(),
            },
            KeyEvent::Revoke {
                key: c.verifier(),
                until: 10,
                reason: reason(),
            },
        ];
        for event in events {
            state
                .apply(&signed(&event.to_text(), &[&root]))
                .expect("key event");
        }
        Keys {
            a,
            b,
            c,
            x,
            root,
            state,
        }
    }

    /// Replaces the signature of the last signature line with another valid-looking one.
    fn corrupt_last_signature(entry: &[u8]) -> Vec<u8> {
        let text = String::from_utf8(entry.to_vec()).expect("utf-8");
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let last = lines.last_mut().expect("a signature line");
        let (prefix, b64) = last.rsplit_once(' ').expect("signature line");
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let mut raw = engine.decode(b64).expect("base64");
        let end = raw.len() - 1;
        raw[end] ^= 1;
        *last = format!("{prefix} {}", engine.encode(raw));
        format!("{}\n", lines.join("\n")).into_bytes()
    }

    /// Repeats the last signature line (two lines from one key: malformed once the key is known).
    fn duplicate_last_signature(entry: &[u8]) -> Vec<u8> {
        let text = String::from_utf8(entry.to_vec()).expect("utf-8");
        let last = text.lines().last().expect("a signature line");
        format!("{text}{last}\n").into_bytes()
    }

    /// The server's rule gives the verifier's verdict (the same error, or both accept) for
    /// releases and deprecations signed in every combination below, at indexes around each
    /// key's limits, with and without the handler's facts.
    #[test]
    fn the_policy_check_agrees_with_the_verifier() {
        let k = keys();
        let ks = &k.state;
        let names = ["a/x", "b/y"];
        let signer_sets: Vec<Vec<&dyn NoteSigner>> = vec![
            vec![&k.a],
            vec![&k.b],
            vec![&k.c],
            vec![&k.x],
            vec![&k.root],
            vec![&k.a, &k.b],
            vec![&k.b, &k.a],
            vec![&k.a, &k.c],
            vec![&k.c, &k.a],
            vec![&k.b, &k.c],
            vec![&k.x, &k.a],
        ];
        let all_keys: Vec<Ed25519Verifier> =
            ks.release_keys().iter().map(|r| r.key().clone()).collect();
        let mut compared = 0;
        for name in names {
            for signers in &signer_sets {
                let good = release(name, "1", signers);
                let mut entries = vec![good.clone()];
                entries.push(corrupt_last_signature(&good));
                entries.push(duplicate_last_signature(&good));
                let dep = Deprecation::new(
                    ReleaseName::new(name).expect("name"),
                    Version::new("1").expect("version"),
                    Reason::new("old").expect("reason"),
                    None,
                    None,
                )
                .expect("deprecation");
                entries.push(signed(&dep.to_text(), signers));
                for entry in entries {
                    let Ok(note) = Note::parse_entry(&entry) else {
                        continue;
                    };
                    let facts = CheckedSignatures::check(&entry, &all_keys);
                    for index in [0, 4, 5, 9, 10, 19, 20, 100] {
                        let parsed = Entry::parse(note.text()).expect("entry");
                        let (expected, name) = match &parsed {
                            Entry::Release(r) => {
                                (release_is_valid(&note, index, ks).map(|_| ()), r.name())
                            }
                            Entry::Deprecation(d) => {
                                (deprecation_is_valid(&note, index, ks).map(|_| ()), d.name())
                            }
                            Entry::Key(_) => unreachable!("test entries are releases"),
                        };
                        for checked in [None, Some(&facts)] {
                            let got = signers_valid_at(&note, name, index, ks, checked);
                            assert_eq!(got, expected, "{name} at {index}, facts: {checked:?}");
                            compared += 1;
                        }
                    }
                }
            }
        }
        assert!(compared > 500, "compared {compared}");
    }

    /// The sequencer believes the handler's facts instead of verifying again: a fact that says
    /// a bad signature verified is taken (only this crate can make one), and a fact that says
    /// a good one failed refuses the entry. The old code verified every signature itself and
    /// ignored any fact.
    #[test]
    fn the_sequencer_uses_the_facts_and_only_for_their_entry() {
        let k = keys();
        let ks = &k.state;
        let name = ReleaseName::new("a/x").expect("name");
        let good = release("a/x", "1", &[&k.a]);
        let bad = corrupt_last_signature(&good);
        let note_bad = Note::parse_entry(&bad).expect("note");
        let note_good = Note::parse_entry(&good).expect("note");

        let says_valid = CheckedSignatures::assumed(&bad, &k.a.verifier(), true);
        assert_eq!(says_valid.len(), 1);
        assert_eq!(
            signers_valid_at(&note_bad, &name, 0, ks, says_valid.about(&leaf_hash(&bad))),
            Ok(())
        );
        let says_invalid = CheckedSignatures::assumed(&good, &k.a.verifier(), false);
        assert!(matches!(
            signers_valid_at(
                &note_good,
                &name,
                0,
                ks,
                says_invalid.about(&leaf_hash(&good))
            ),
            Err(InvalidRelease::BadSignature { .. })
        ));
        // Facts about another entry are not used: the bad signature is verified, and fails.
        assert!(says_valid.about(&leaf_hash(&good)).is_none());
        assert!(matches!(
            signers_valid_at(&note_bad, &name, 0, ks, None),
            Err(InvalidRelease::BadSignature { .. })
        ));
        // Real facts say what verification says.
        let real = CheckedSignatures::check(&good, &[k.a.verifier()]);
        assert_eq!(
            real.signer(),
            Some(("a".to_owned(), k.a.verifier().key_id()))
        );
        let real_bad = CheckedSignatures::check(&bad, &[k.a.verifier()]);
        assert_eq!(real_bad.signer(), None);
    }
}
