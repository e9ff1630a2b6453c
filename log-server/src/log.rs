//! The sequencer's state and the batch commit: both logs, the key state, the lookup indexes, and
//! the one function that turns a batch of submissions into one durable git commit.
//!
//! Invariants (spec/git-layout.md, DESIGN.md "Git is storage and transport"):
//! - Readers see only the *committed* prefix of each log (`committed` sizes and checkpoints that
//!   are in the branch head). Entries appended by a batch in progress are invisible until the
//!   branch moved.
//! - An entry is acknowledged (its `add` answered with a proof) only after the commit holding it
//!   returned, i.e. after the branch update is durable.
//! - The state lock is held for writing only while a batch is validated and appended and while
//!   a durable commit is published, never during the git commit itself (fsyncs take tens of
//!   milliseconds): readers keep being served from the committed prefix meanwhile. One batch is
//!   sequenced at a time (`Log::sequencer`).
//! - If a commit fails, the in-memory state is rebuilt from the branch head, so the server never
//!   signs a checkpoint over entries that were not committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Instant;

use cairn_verifier::checkpoint::{Checkpoint, VerifiedCheckpoint};
use cairn_verifier::compact::to_compact;
use cairn_verifier::entry::{Entry, KeyEvent, Release};
use cairn_verifier::hash::{Hash, leaf_hash};
use cairn_verifier::keylog::{
    InvalidRelease, KeyLogError, KeyState, deprecation_is_valid, release_is_valid,
};
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::{Ed25519Signer, KeyName, Note};
use cairn_verifier::tile::{
    EntryBundle, TILE_HEIGHT, TILE_WIDTH, Tile, encode_entry_bundle, new_tiles, read_tile_data,
};
use cairn_verifier::tlog_proof::TlogProof;

use crate::metrics::Metrics;
use crate::storage::{Change, CommitId, Storage, StorageError};

/// Largest entry accepted: one u16 entry-bundle slot.
pub const MAX_ENTRY_SIZE: usize = 65_535;

/// Which of the two logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogKind {
    /// The release log (`PREFIX/releases`).
    Releases,
    /// The key log (`PREFIX/keys`).
    Keys,
}

impl LogKind {
    /// The path component and origin suffix: `releases` or `keys`.
    pub fn name(self) -> &'static str {
        match self {
            LogKind::Releases => "releases",
            LogKind::Keys => "keys",
        }
    }
}

/// Why the log state could not be loaded or a batch could not be committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The repository has no commit: it was never initialised.
    #[error("the repository is empty; create the log with `cairn init`")]
    Empty,
    /// The stored data contradicts itself or the log key: refuse to serve it.
    #[error("corrupt or foreign log data: {0}")]
    Corrupt(String),
    /// The genesis event is not acceptable.
    #[error("genesis event refused: {0}")]
    Genesis(String),
}

/// The answer to one submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sequenced (or already present): the `.tlog-proof` of the entry, and whether it was new.
    Logged {
        /// The entry's index.
        index: u64,
        /// The proof file bytes.
        proof: Vec<u8>,
        /// False for an identical resubmission.
        new: bool,
    },
    /// Refused with an HTTP status and a one-line reason.
    Refused {
        /// 400, 403, 409, 429 or 503.
        status: u16,
        /// One line, no newline.
        reason: String,
    },
}

impl Outcome {
    fn refused(status: u16, reason: impl Into<String>) -> Outcome {
        Outcome::Refused {
            status,
            reason: reason.into(),
        }
    }
}

/// One log's tree, entries and committed checkpoint.
#[derive(Debug)]
pub struct LogState {
    origin: String,
    tree: MemoryTree,
    entries: Vec<Arc<[u8]>>,
    by_leaf: HashMap<Hash, u64>,
    committed: u64,
    checkpoint: Arc<[u8]>,
}

impl LogState {
    fn new(origin: String) -> LogState {
        LogState {
            origin,
            tree: MemoryTree::new(),
            entries: Vec::new(),
            by_leaf: HashMap::new(),
            committed: 0,
            checkpoint: Arc::from(&b""[..]),
        }
    }

    fn append(&mut self, entry: Arc<[u8]>) -> u64 {
        let leaf = leaf_hash(&entry);
        let index = self.tree.append_leaf_hash(leaf);
        self.by_leaf.insert(leaf, index);
        self.entries.push(entry);
        index
    }

    /// The origin line of this log.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Size of the latest committed checkpoint.
    pub fn size(&self) -> u64 {
        self.committed
    }

    /// The latest committed checkpoint note, with cosignatures.
    pub fn checkpoint(&self) -> Arc<[u8]> {
        Arc::clone(&self.checkpoint)
    }

    /// The committed entry at `index`.
    pub fn entry(&self, index: u64) -> Option<Arc<[u8]>> {
        if index >= self.committed {
            return None;
        }
        usize::try_from(index)
            .ok()
            .and_then(|i| self.entries.get(i))
            .cloned()
    }

    /// The bytes of a hash tile, if the committed tree has it at that width.
    pub fn tile_data(&self, tile: &Tile) -> Option<Vec<u8>> {
        let present = tile.in_tree(self.committed)?;
        if present.width() < tile.width() {
            return None;
        }
        read_tile_data(tile, &self.tree).ok()
    }

    /// The bytes of an entry bundle, if the committed log has that many entries in it.
    pub fn bundle_data(&self, bundle: &EntryBundle) -> Option<Vec<u8>> {
        let first = bundle.first_entry();
        let end = first.checked_add(u64::from(bundle.width()))?;
        if end > self.committed {
            return None;
        }
        let (first, end) = (usize::try_from(first).ok()?, usize::try_from(end).ok()?);
        encode_entry_bundle(&self.entries[first..end]).ok()
    }

    /// A `.tlog-proof` for the committed entry at `index` against the committed checkpoint.
    pub fn proof(&self, index: u64) -> Option<Vec<u8>> {
        let entry = self.entry(index)?;
        let proof = self.tree.prove_inclusion(index, self.committed).ok()?;
        Some(
            TlogProof {
                extra: Some(entry.to_vec()),
                index,
                proof,
                checkpoint: self.checkpoint.to_vec(),
            }
            .to_bytes(),
        )
    }

    /// Index of a committed entry with exactly these bytes.
    pub fn index_of(&self, entry: &[u8]) -> Option<u64> {
        self.by_leaf
            .get(&leaf_hash(entry))
            .copied()
            .filter(|&i| i < self.committed)
    }
}

/// Everything the sequencer and the readers share.
#[derive(Debug)]
pub struct State {
    /// The release log.
    pub releases: LogState,
    /// The key log.
    pub keys: LogState,
    key_state: Option<KeyState>,
    by_digest: HashMap<[u8; 32], Vec<u64>>,
    by_name_version: HashMap<(String, String), u64>,
    head: Option<CommitId>,
}

impl State {
    fn empty(prefix: &str) -> State {
        State {
            releases: LogState::new(format!("{prefix}/releases")),
            keys: LogState::new(format!("{prefix}/keys")),
            key_state: None,
            by_digest: HashMap::new(),
            by_name_version: HashMap::new(),
            head: None,
        }
    }

    /// One of the two logs.
    pub fn log(&self, kind: LogKind) -> &LogState {
        match kind {
            LogKind::Releases => &self.releases,
            LogKind::Keys => &self.keys,
        }
    }

    fn log_mut(&mut self, kind: LogKind) -> &mut LogState {
        match kind {
            LogKind::Releases => &mut self.releases,
            LogKind::Keys => &mut self.keys,
        }
    }

    /// Committed release-log indexes whose entry names an artifact or manifest with this digest.
    pub fn lookup_digest(&self, digest: &[u8; 32]) -> Vec<u64> {
        self.by_digest
            .get(digest)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&i| i < self.releases.committed)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Committed release-log index of the release with this name and version.
    pub fn lookup_release(&self, name: &str, version: &str) -> Option<u64> {
        self.by_name_version
            .get(&(name.to_owned(), version.to_owned()))
            .copied()
            .filter(|&i| i < self.releases.committed)
    }

    /// Consistency proof between two committed sizes of the release log.
    pub fn releases_consistency(&self, size1: u64, size2: u64) -> Vec<Hash> {
        if size2 > self.releases.committed {
            return Vec::new();
        }
        self.releases
            .tree
            .prove_consistency(size1, size2)
            .unwrap_or_default()
    }

    /// The key state replayed from the key log (None only before genesis). Unlike the other
    /// accessors it may already include the key events of the batch being committed: use it
    /// for nothing that is published (the HTTP layer only picks the rate-limit key with it).
    pub fn key_state(&self) -> Option<&KeyState> {
        self.key_state.as_ref()
    }

    fn index_release_entry(&mut self, index: u64, release: &Release) {
        for file in release.artifacts().iter().chain(release.manifests()) {
            let list = self.by_digest.entry(*file.digest.as_bytes()).or_default();
            if !list.contains(&index) {
                list.push(index);
            }
        }
        self.by_name_version.insert(
            (
                release.name().as_str().to_owned(),
                release.version().as_str().to_owned(),
            ),
            index,
        );
    }
}

/// A submission for the sequencer.
#[derive(Debug)]
pub struct Submission {
    /// Which log it goes to.
    pub log: LogKind,
    /// The entry: a signed note.
    pub entry: Vec<u8>,
}

/// The log: its key, its storage and its state.
pub struct Log {
    prefix: String,
    releases_signer: Ed25519Signer,
    keys_signer: Ed25519Signer,
    storage: Arc<dyn Storage>,
    state: RwLock<State>,
    /// Held for the whole of [`Log::sequence`]: the state lock is released while the batch is
    /// committed, so this is what keeps a second batch from appending in between.
    sequencer: Mutex<()>,
    metrics: Arc<Metrics>,
    /// Set when storage failed and the state could not be rebuilt: refuse writes.
    broken: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("prefix", &self.prefix).finish()
    }
}

fn per_origin_signer(log_key: &Ed25519Signer, origin: &str) -> Result<Ed25519Signer, LogError> {
    let name = KeyName::new(origin).map_err(|e| LogError::Corrupt(format!("origin: {e}")))?;
    Ok(log_key.with_name(name))
}

impl Log {
    /// Creates a new log in empty `storage`: the genesis `root` event becomes key-log entry 0,
    /// and the first commit holds both checkpoints (release log empty, key log of size 1).
    pub fn create(
        prefix: &str,
        log_key: &Ed25519Signer,
        storage: Arc<dyn Storage>,
        genesis: &[u8],
        metrics: Arc<Metrics>,
    ) -> Result<Log, LogError> {
        if storage.head()?.is_some() {
            return Err(LogError::Corrupt(
                "the repository already has commits".to_owned(),
            ));
        }
        let log = Log::with_state(prefix, log_key, storage, State::empty(prefix), metrics)?;
        let outcomes = log.sequence(vec![Submission {
            log: LogKind::Keys,
            entry: genesis.to_vec(),
        }]);
        match outcomes.into_iter().next() {
            Some(Outcome::Logged { .. }) => Ok(log),
            Some(Outcome::Refused { reason, .. }) => Err(LogError::Genesis(reason)),
            None => Err(LogError::Genesis("no outcome".to_owned())),
        }
    }

    /// Opens the log in `storage`, verifying everything it loads: both checkpoints must carry
    /// a valid signature by `log_key`, the trees recomputed from every stored entry must have
    /// the checkpoints' roots, and the key log must replay from its own genesis.
    pub fn open(
        prefix: &str,
        log_key: &Ed25519Signer,
        storage: Arc<dyn Storage>,
        metrics: Arc<Metrics>,
    ) -> Result<Log, LogError> {
        let state = load(prefix, log_key, storage.as_ref())?;
        Log::with_state(prefix, log_key, storage, state, metrics)
    }

    fn with_state(
        prefix: &str,
        log_key: &Ed25519Signer,
        storage: Arc<dyn Storage>,
        state: State,
        metrics: Arc<Metrics>,
    ) -> Result<Log, LogError> {
        let log = Log {
            prefix: prefix.to_owned(),
            releases_signer: per_origin_signer(log_key, &format!("{prefix}/releases"))?,
            keys_signer: per_origin_signer(log_key, &format!("{prefix}/keys"))?,
            storage,
            state: RwLock::new(state),
            sequencer: Mutex::new(()),
            metrics,
            broken: std::sync::atomic::AtomicBool::new(false),
        };
        log.update_gauges();
        Ok(log)
    }

    /// Read access for HTTP handlers. Readers must only use committed data (the accessors on
    /// [`LogState`] and [`State`] enforce that).
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the log refuses writes after a storage failure it could not recover from.
    pub fn is_broken(&self) -> bool {
        self.broken.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The origin prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn update_gauges(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let state = self.read();
        self.metrics
            .releases
            .tree_size
            .store(state.releases.committed, Relaxed);
        self.metrics
            .keys
            .tree_size
            .store(state.keys.committed, Relaxed);
    }

    /// Sequences a batch: validates each submission in order against the state (including the
    /// earlier submissions of the same batch), appends the accepted ones, writes one commit, and
    /// returns one outcome per submission, in order. Nothing is reported as logged unless the
    /// commit succeeded.
    pub fn sequence(&self, batch: Vec<Submission>) -> Vec<Outcome> {
        use std::sync::atomic::Ordering::Relaxed;
        let started = Instant::now();
        if self.is_broken() {
            return batch
                .iter()
                .map(|_| {
                    Outcome::refused(
                        503,
                        "the log's storage failed; the operator must restart it",
                    )
                })
                .collect();
        }
        // Poisoning carries no meaning here: the state is rebuilt from storage on failure.
        let _sequencer = self.sequencer.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        let old = (state.releases.tree.size(), state.keys.tree.size());
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(batch.len());
        let mut pending: Vec<(usize, LogKind, u64)> = Vec::new();
        for (i, sub) in batch.into_iter().enumerate() {
            match validate_and_append(&mut state, sub) {
                Ok((kind, index, true)) => {
                    pending.push((i, kind, index));
                    outcomes.push(None);
                }
                Ok((kind, index, false)) => {
                    // Already in the log or earlier in this batch.
                    self.metrics
                        .log(kind)
                        .submissions_duplicate
                        .fetch_add(1, Relaxed);
                    pending.push((i, kind, index));
                    outcomes.push(None);
                }
                Err((kind, outcome)) => {
                    self.metrics
                        .log(kind)
                        .submissions_refused
                        .fetch_add(1, Relaxed);
                    outcomes.push(Some(outcome));
                }
            }
        }
        let new = (state.releases.tree.size(), state.keys.tree.size());
        drop(state);
        // The commit runs under a read lock: readers only ever look at the committed prefix,
        // which this batch does not change until it is published below.
        let result = if new == old {
            Ok(None)
        } else {
            let state = self.read();
            self.write_batch(&state, old, new).map(Some)
        };
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        let committed = match result {
            Ok(grown) => {
                if let Some(written) = grown {
                    publish(&mut state, written, new);
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
                }
                true
            }
            Err(e) => {
                self.metrics.batches_failed.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "batch commit failed; reloading state from storage");
                let reason = format!("the batch could not be committed ({e}); retry");
                for &(i, _, _) in &pending {
                    outcomes[i] = Some(Outcome::refused(503, reason.clone()));
                }
                // Drop everything appended in memory: rebuild from what is durable.
                match load(&self.prefix, &self.releases_signer, self.storage.as_ref()) {
                    Ok(fresh) => *state = fresh,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot reload state; refusing writes");
                        self.broken.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                false
            }
        };
        drop(state);
        if committed {
            // Proofs against the checkpoint just published; no other batch can publish before
            // this one returns (the sequencer lock).
            let state = self.read();
            for (i, kind, index) in pending {
                let log = state.log(kind);
                let outcome = match log.proof(index) {
                    Some(proof) => Outcome::Logged {
                        index,
                        proof,
                        new: index
                            >= if kind == LogKind::Releases {
                                old.0
                            } else {
                                old.1
                            },
                    },
                    None => Outcome::refused(503, "internal error: no proof for a logged entry"),
                };
                outcomes[i] = Some(outcome);
            }
        }
        self.update_gauges();
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::refused(503, "internal error")))
            .collect()
    }

    /// Writes the files of the grown logs as one durable commit; [`publish`] then shows it to
    /// readers.
    fn write_batch(
        &self,
        state: &State,
        old: (u64, u64),
        new: (u64, u64),
    ) -> Result<Written, LogError> {
        let mut changes = Vec::new();
        let mut checkpoints: [Option<Vec<u8>>; 2] = [None, None];
        for (slot, kind, old_size, new_size, signer) in [
            (0, LogKind::Releases, old.0, new.0, &self.releases_signer),
            (1, LogKind::Keys, old.1, new.1, &self.keys_signer),
        ] {
            // Only a grown log gets new files, except in the first commit, which publishes
            // the empty release log's checkpoint too.
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
            let note = Note::sign(&text, &[signer])
                .map_err(|e| LogError::Corrupt(format!("signing the checkpoint: {e}")))?;
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
            checkpoints[slot] = Some(bytes);
        }
        if state.head.is_none() {
            changes.push(Change::put(
                "cairn-log.vkey",
                format!("{}\n", self.log_vkey()),
            ));
        }
        let message = commit_message(state, &checkpoints, new);
        let head = self
            .storage
            .commit(state.head.as_ref(), &changes, &message)?;
        Ok(Written { head, checkpoints })
    }

    /// The log's verifier key (key name: the origin prefix).
    pub fn log_vkey(&self) -> String {
        let name = KeyName::new(&self.prefix).map(|n| self.releases_signer.with_name(n));
        match name {
            Ok(signer) => signer.verifier().to_vkey(),
            Err(_) => String::new(),
        }
    }
}

/// A batch durably committed but not yet shown to readers.
struct Written {
    head: CommitId,
    checkpoints: [Option<Vec<u8>>; 2],
}

/// The branch moved durably: show the new sizes and checkpoints to readers.
fn publish(state: &mut State, written: Written, new: (u64, u64)) {
    let Written {
        head,
        mut checkpoints,
    } = written;
    state.head = Some(head);
    for (slot, kind, size) in [(0, LogKind::Releases, new.0), (1, LogKind::Keys, new.1)] {
        if let Some(bytes) = checkpoints[slot].take() {
            let log = state.log_mut(kind);
            log.checkpoint = Arc::from(bytes);
            log.committed = size;
        }
    }
}

fn commit_message(state: &State, checkpoints: &[Option<Vec<u8>>; 2], new: (u64, u64)) -> String {
    let mut message = format!("cairn: releases {} keys {}\n", new.0, new.1);
    for (slot, kind) in [(0, LogKind::Releases), (1, LogKind::Keys)] {
        let bytes = match &checkpoints[slot] {
            Some(b) => b.clone(),
            None => state.log(kind).checkpoint.to_vec(),
        };
        message.push('\n');
        message.push_str(&String::from_utf8_lossy(&bytes));
    }
    message
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

impl LogState {
    /// Encodes the entries of `bundle` whether or not they are committed yet (for the batch
    /// being written).
    fn bundle_range(&self, bundle: &EntryBundle) -> Option<Vec<u8>> {
        let first = usize::try_from(bundle.first_entry()).ok()?;
        let end = first.checked_add(usize::from(bundle.width()))?;
        encode_entry_bundle(self.entries.get(first..end)?).ok()
    }
}

impl Metrics {
    fn log(&self, kind: LogKind) -> &crate::metrics::LogMetrics {
        match kind {
            LogKind::Releases => &self.releases,
            LogKind::Keys => &self.keys,
        }
    }
}

type Refusal = (LogKind, Outcome);

/// Validates one submission against the state (everything appended so far, committed or not)
/// and appends it. Returns the index and whether it is new.
fn validate_and_append(
    state: &mut State,
    sub: Submission,
) -> Result<(LogKind, u64, bool), Refusal> {
    let kind = sub.log;
    let refuse = |status: u16, reason: String| (kind, Outcome::refused(status, reason));
    if sub.entry.len() > MAX_ENTRY_SIZE {
        return Err(refuse(
            413,
            format!(
                "entry is {} bytes; the limit is {MAX_ENTRY_SIZE}",
                sub.entry.len()
            ),
        ));
    }
    let leaf = leaf_hash(&sub.entry);
    if let Some(&index) = state.log(kind).by_leaf.get(&leaf) {
        return Ok((kind, index, false));
    }
    let note = Note::parse(&sub.entry).map_err(|e| refuse(400, format!("malformed note: {e}")))?;
    let entry =
        Entry::parse(note.text()).map_err(|e| refuse(400, format!("malformed entry: {e}")))?;
    match (kind, &entry) {
        (LogKind::Releases, Entry::Key(_)) => {
            return Err(refuse(
                400,
                "key events go to the key log (POST /keys/add)".to_owned(),
            ));
        }
        (LogKind::Keys, Entry::Release(_) | Entry::Deprecation(_)) => {
            return Err(refuse(
                400,
                "releases and deprecations go to the release log (POST /releases/add)".to_owned(),
            ));
        }
        _ => {}
    }
    match kind {
        LogKind::Keys => {
            let next = state.keys.tree.size();
            let applied = match &mut state.key_state {
                None => {
                    // Genesis: the server trusts the root set its operator gave it at init.
                    let Entry::Key(KeyEvent::Root { roots, .. }) = &entry else {
                        return Err(refuse(
                            400,
                            "key-log entry 0 must be a root event".to_owned(),
                        ));
                    };
                    let (fresh, _) = KeyState::genesis(roots, &sub.entry)
                        .map_err(|e| refuse(keylog_status(&e), format!("genesis: {e}")))?;
                    state.key_state = Some(fresh);
                    Ok(())
                }
                Some(ks) => {
                    if next == 0 {
                        return Err(refuse(500, "key state without genesis".to_owned()));
                    }
                    ks.apply(&sub.entry)
                        .map(|_| ())
                        .map_err(|e| refuse(keylog_status(&e), e.to_string()))
                }
            };
            applied?;
            let index = state.keys.append(Arc::from(sub.entry));
            Ok((kind, index, true))
        }
        LogKind::Releases => {
            let Some(key_state) = &state.key_state else {
                return Err(refuse(503, "the key log has no genesis yet".to_owned()));
            };
            let index = state.releases.tree.size();
            match &entry {
                Entry::Release(release) => {
                    let key = (
                        release.name().as_str().to_owned(),
                        release.version().as_str().to_owned(),
                    );
                    if let Some(existing) = state.by_name_version.get(&key) {
                        return Err(refuse(
                            409,
                            format!(
                                "release {} {} is already logged at index {existing} with different content",
                                key.0, key.1
                            ),
                        ));
                    }
                    release_is_valid(&note, index, key_state)
                        .map_err(|e| refuse(release_status(&e), e.to_string()))?;
                    let release = release.clone();
                    let index = state.releases.append(Arc::from(sub.entry));
                    state.index_release_entry(index, &release);
                    Ok((kind, index, true))
                }
                Entry::Deprecation(dep) => {
                    let key = (
                        dep.name().as_str().to_owned(),
                        dep.version().as_str().to_owned(),
                    );
                    if !state.by_name_version.contains_key(&key) {
                        return Err(refuse(
                            400,
                            format!("no release {} {} in the log to deprecate", key.0, key.1),
                        ));
                    }
                    deprecation_is_valid(&note, index, key_state)
                        .map_err(|e| refuse(release_status(&e), e.to_string()))?;
                    let index = state.releases.append(Arc::from(sub.entry));
                    Ok((kind, index, true))
                }
                Entry::Key(_) => Err(refuse(400, "key event in the release log".to_owned())),
            }
        }
    }
}

fn keylog_status(e: &KeyLogError) -> u16 {
    match e {
        KeyLogError::Note(_) | KeyLogError::Entry(_) => 400,
        _ => 403,
    }
}

fn release_status(e: &InvalidRelease) -> u16 {
    match e {
        InvalidRelease::Malformed(_) => 400,
        _ => 403,
    }
}

/// Rebuilds the state from the branch head, verifying it (see [`Log::open`]).
fn load(prefix: &str, log_key: &Ed25519Signer, storage: &dyn Storage) -> Result<State, LogError> {
    let head = storage.head()?.ok_or(LogError::Empty)?;
    let mut state = State::empty(prefix);
    for kind in [LogKind::Keys, LogKind::Releases] {
        let dir = kind.name();
        let origin = state.log(kind).origin.clone();
        let bytes = storage
            .read(&head, &format!("{dir}/checkpoint"))?
            .ok_or_else(|| LogError::Corrupt(format!("{dir}/checkpoint is missing")))?;
        let verifier = per_origin_signer(log_key, &origin)?.verifier();
        let checkpoint = VerifiedCheckpoint::verify(&bytes, &origin, &verifier).map_err(|e| {
            LogError::Corrupt(format!(
                "{dir}/checkpoint does not verify with this data directory's log key: {e}"
            ))
        })?;
        let size = checkpoint.size();
        let mut first = 0u64;
        while first < size {
            let width = (size - first).min(u64::from(TILE_WIDTH));
            let bundle = EntryBundle::for_entry(TILE_HEIGHT, first, size)
                .map_err(|e| LogError::Corrupt(format!("bundle for entry {first}: {e}")))?;
            let path = format!("{dir}/{}", bundle.path());
            let data = storage
                .read(&head, &path)?
                .ok_or_else(|| LogError::Corrupt(format!("{path} is missing")))?;
            let entries = bundle
                .split(&data)
                .map_err(|e| LogError::Corrupt(format!("{path}: {e}")))?;
            if entries.len() as u64 != width {
                return Err(LogError::Corrupt(format!(
                    "{path}: wrong number of entries"
                )));
            }
            for entry in entries {
                let index = state.log(kind).tree.size();
                let entry: Arc<[u8]> = Arc::from(entry);
                apply_loaded(&mut state, kind, index, &entry)?;
                state.log_mut(kind).append(entry);
            }
            first += width;
        }
        let log = state.log_mut(kind);
        let root = log
            .tree
            .root_at(size)
            .map_err(|e| LogError::Corrupt(format!("{dir}: {e}")))?;
        if root != *checkpoint.root() {
            return Err(LogError::Corrupt(format!(
                "{dir}: the stored entries hash to {root}, but the checkpoint says {}",
                checkpoint.root()
            )));
        }
        log.committed = size;
        log.checkpoint = Arc::from(bytes);
    }
    state.head = Some(head);
    Ok(state)
}

/// Replays one stored entry into the key state and indexes. Stored entries passed validation
/// when they were sequenced; a key-log entry that no longer replays means the data was altered.
fn apply_loaded(
    state: &mut State,
    kind: LogKind,
    index: u64,
    entry: &[u8],
) -> Result<(), LogError> {
    match kind {
        LogKind::Keys => {
            if index == 0 {
                let note = Note::parse(entry)
                    .map_err(|e| LogError::Corrupt(format!("key entry 0: {e}")))?;
                let Ok(Entry::Key(KeyEvent::Root { roots, .. })) = Entry::parse(note.text()) else {
                    return Err(LogError::Corrupt(
                        "key entry 0 is not a root event".to_owned(),
                    ));
                };
                let (ks, _) = KeyState::genesis(&roots, entry)
                    .map_err(|e| LogError::Corrupt(format!("key entry 0: {e}")))?;
                state.key_state = Some(ks);
            } else if let Some(ks) = &mut state.key_state {
                ks.apply(entry).map_err(|e| {
                    LogError::Corrupt(format!("key entry {index} does not replay: {e}"))
                })?;
            }
        }
        LogKind::Releases => {
            // Releases are indexed, not re-judged: a later revoke may legitimately invalidate
            // an entry that was valid when it was sequenced.
            if let Ok(note) = Note::parse(entry)
                && let Ok(Entry::Release(release)) = Entry::parse(note.text())
            {
                state.index_release_entry(index, &release);
            }
        }
    }
    Ok(())
}
