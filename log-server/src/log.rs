//! The sequencer's state and the batch commit: both logs, the key state, the lookup indexes, and
//! the one function that turns a batch of submissions into one durable git commit.
//!
//! Invariants (spec/git-layout.md, DESIGN.md "Git is storage and transport"):
//! - Readers see only the *committed* prefix of each log (`committed` sizes and checkpoints that
//!   are in the branch head). Entries appended by a batch in progress are invisible until the
//!   branch moved.
//! - An entry is acknowledged (its `add` answered with a proof) only after the commit holding it
//!   returned, i.e. after the branch update is durable.
//! - The state lock is held for writing only while a batch's entries are appended (hashing) and
//!   while a durable commit is published, never while submissions are validated or during the
//!   git commit itself (fsyncs take tens of milliseconds): readers keep being served from the
//!   committed prefix meanwhile. One batch is sequenced at a time (`Log::sequencer`).
//! - If a commit fails, the in-memory state is rebuilt from the branch head, so the server never
//!   signs a checkpoint over entries that were not committed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use cairn_verifier::checkpoint::{Checkpoint, VerifiedCheckpoint};
use cairn_verifier::compact::to_compact;
use cairn_verifier::entry::{Entry, KeyEvent, Release};
use cairn_verifier::hash::{Hash, leaf_hash};
use cairn_verifier::keylog::{
    InvalidRelease, KeyLogError, KeyState, deprecation_is_valid, release_is_valid,
};
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::{Note, NoteError, NoteSignature, NoteSigner};
use cairn_verifier::tile::{
    EntryBundle, TILE_HEIGHT, TILE_WIDTH, Tile, encode_entry_bundle, new_tiles, read_tile_data,
    tiles_for_size,
};
use cairn_verifier::tlog_proof::TlogProof;

use crate::config::LogKeys;
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
    /// The log key (in a token or an agent) failed to sign a checkpoint. Nothing was committed;
    /// the next batch tries again.
    #[error("the log key could not sign the checkpoint: {0}")]
    Signing(String),
}

/// A checkpoint signing error: the key failing is [`LogError::Signing`], anything else is a
/// bug in the text.
fn signing_error(e: NoteError) -> LogError {
    match e {
        NoteError::SigningFailed(message) => LogError::Signing(message),
        other => LogError::Corrupt(format!("signing the checkpoint: {other}")),
    }
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
    /// The checkpoint readers get (HTTP `checkpoint`, proofs): the head checkpoint, or with
    /// witnesses the latest one whose witnessing round finished, with the cosignatures it got.
    /// Never larger than `committed`, and it only grows.
    published: Arc<[u8]>,
    published_size: u64,
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
            published: Arc::from(&b""[..]),
            published_size: 0,
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

    /// Size of the latest committed checkpoint (the branch head's).
    pub fn size(&self) -> u64 {
        self.committed
    }

    /// The published checkpoint note, with cosignatures: the branch head's, or with witnesses
    /// the latest whose witnessing round finished (spec/witness.md).
    pub fn checkpoint(&self) -> Arc<[u8]> {
        Arc::clone(&self.published)
    }

    /// Size of [`LogState::checkpoint`].
    pub fn published_size(&self) -> u64 {
        self.published_size
    }

    /// The branch head's checkpoint note.
    pub fn head_checkpoint(&self) -> Arc<[u8]> {
        Arc::clone(&self.checkpoint)
    }

    fn publish(&mut self, checkpoint: Arc<[u8]>, size: u64) {
        self.published = checkpoint;
        self.published_size = size;
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

    /// A `.tlog-proof` for the entry at `index` against the published checkpoint.
    pub fn proof(&self, index: u64) -> Option<Vec<u8>> {
        self.proof_against(index, self.published_size, &self.published)
    }

    /// A `.tlog-proof` for the entry at `index` against the branch head's checkpoint.
    pub fn head_proof(&self, index: u64) -> Option<Vec<u8>> {
        self.proof_against(index, self.committed, &self.checkpoint)
    }

    fn proof_against(&self, index: u64, size: u64, checkpoint: &[u8]) -> Option<Vec<u8>> {
        if index >= size {
            return None;
        }
        let entry = self.entry(index)?;
        let proof = self.tree.prove_inclusion(index, size).ok()?;
        Some(
            TlogProof {
                extra: Some(entry.to_vec()),
                index,
                proof,
                checkpoint: checkpoint.to_vec(),
            }
            .to_bytes(),
        )
    }

    /// RFC 6962 consistency proof between two committed sizes (`None` if either is not
    /// committed or `size1 > size2`).
    pub fn consistency(&self, size1: u64, size2: u64) -> Option<Vec<Hash>> {
        if size1 > size2 || size2 > self.committed {
            return None;
        }
        if size1 == 0 || size1 == size2 {
            return Some(Vec::new());
        }
        self.tree.prove_consistency(size1, size2).ok()
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
    by_deprecation: HashMap<(String, String), Vec<u64>>,
    /// Every release of a name, (version, index) in index order (the `_versions` lookup).
    by_name: HashMap<String, Vec<(String, u64)>>,
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
            by_deprecation: HashMap::new(),
            by_name: HashMap::new(),
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

    /// The release-log size up to which the lookups are complete (the committed size).
    pub fn lookup_size(&self) -> u64 {
        self.releases.committed
    }

    /// Every committed release of this name, (version, index) ascending by index.
    pub fn lookup_versions(&self, name: &str) -> Vec<(String, u64)> {
        self.by_name
            .get(name)
            .map(|v| {
                v.iter()
                    .filter(|(_, i)| *i < self.releases.committed)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Committed release-log indexes of deprecations of this name and version, ascending.
    pub fn lookup_deprecations(&self, name: &str, version: &str) -> Vec<u64> {
        self.by_deprecation
            .get(&(name.to_owned(), version.to_owned()))
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&i| i < self.releases.committed)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Indexes a release-log entry that is a deprecation (for the deprecation lookup).
    fn index_deprecation_entry(&mut self, index: u64, entry: &[u8]) {
        if let Ok(note) = Note::parse(entry)
            && let Ok(Entry::Deprecation(dep)) = Entry::parse(note.text())
        {
            let list = self
                .by_deprecation
                .entry((
                    dep.name().as_str().to_owned(),
                    dep.version().as_str().to_owned(),
                ))
                .or_default();
            if !list.contains(&index) {
                list.push(index);
            }
        }
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
        let previous = self.by_name_version.insert(
            (
                release.name().as_str().to_owned(),
                release.version().as_str().to_owned(),
            ),
            index,
        );
        if previous.is_none() {
            self.by_name
                .entry(release.name().as_str().to_owned())
                .or_default()
                .push((release.version().as_str().to_owned(), index));
        }
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
    /// The per-origin signing keys (and, during a migration, the old single key).
    log_keys: LogKeys,
    /// Held for the whole of [`Log::sequence`]: the sequencer is the only writer.
    sequencer: std::sync::Mutex<()>,
    storage: Arc<dyn Storage>,
    state: RwLock<State>,
    metrics: Arc<Metrics>,
    /// Set when storage failed and the state could not be rebuilt: refuse writes.
    broken: std::sync::atomic::AtomicBool,
    /// Bumped after every durable commit of a batch, for the publisher (witnesses, hook).
    commits: tokio::sync::watch::Sender<u64>,
    /// With witnesses, a new checkpoint is published to readers by the publisher, once its
    /// witnessing round finished; without, at once.
    witnessed: std::sync::atomic::AtomicBool,
    /// Accept `add` key events whose `from` lies before the release log's size.
    allow_backdated_from: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("prefix", &self.prefix).finish()
    }
}

/// The file on the branch that names the log's verifier keys (spec/git-layout.md).
const VKEY_FILE: &str = "cairn-log.vkey";

/// Signs a checkpoint of `kind` with every key it carries (see [`LogKeys::signers`]).
fn sign_checkpoint(keys: &LogKeys, kind: LogKind, text: &str) -> Result<Note, LogError> {
    let signers = keys.signers(kind.name());
    let refs: Vec<&dyn NoteSigner> = signers.iter().map(|s| s as &dyn NoteSigner).collect();
    Note::sign(text, &refs).map_err(signing_error)
}

impl Log {
    /// Creates a new log in empty `storage`: the genesis `root` event becomes key-log entry 0,
    /// and the first commit holds both checkpoints (release log empty, key log of size 1).
    pub fn create(
        prefix: &str,
        log_keys: &LogKeys,
        storage: Arc<dyn Storage>,
        genesis: &[u8],
        metrics: Arc<Metrics>,
    ) -> Result<Log, LogError> {
        if storage.head()?.is_some() {
            return Err(LogError::Corrupt(
                "the repository already has commits".to_owned(),
            ));
        }
        let log = Log::with_state(prefix, log_keys, storage, State::empty(prefix), metrics)?;
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
    /// a valid signature by one of `log_keys`, the trees recomputed from every stored entry must have
    /// the checkpoints' roots, and the key log must replay from its own genesis.
    pub fn open(
        prefix: &str,
        log_keys: &LogKeys,
        storage: Arc<dyn Storage>,
        metrics: Arc<Metrics>,
    ) -> Result<Log, LogError> {
        let state = load(prefix, log_keys, storage.as_ref())?;
        let log = Log::with_state(prefix, log_keys, storage, state, metrics)?;
        log.resign_stale_checkpoints()?;
        Ok(log)
    }

    fn with_state(
        prefix: &str,
        log_keys: &LogKeys,
        storage: Arc<dyn Storage>,
        state: State,
        metrics: Arc<Metrics>,
    ) -> Result<Log, LogError> {
        let log = Log {
            prefix: prefix.to_owned(),
            log_keys: log_keys.clone(),
            sequencer: std::sync::Mutex::new(()),
            storage,
            state: RwLock::new(state),
            metrics,
            broken: std::sync::atomic::AtomicBool::new(false),
            commits: tokio::sync::watch::Sender::new(0),
            witnessed: std::sync::atomic::AtomicBool::new(false),
            allow_backdated_from: std::sync::atomic::AtomicBool::new(false),
        };
        log.update_gauges();
        Ok(log)
    }

    /// Read access for HTTP handlers. Readers must only use committed data (the accessors on
    /// [`LogState`] and [`State`] enforce that).
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Rebuilds `state` from storage after a failed commit, retrying a few times with backoff
    /// (about 1.5 s in all: transient errors such as EMFILE often pass that fast). On success
    /// the log is no longer broken; on failure it is, until a later call succeeds (every
    /// batch tries again).
    fn reload_into(&self, state: &mut State) -> Result<(), LogError> {
        let mut pause = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            match load(&self.prefix, &self.log_keys, self.storage.as_ref()) {
                Ok(fresh) => {
                    *state = fresh;
                    if self.broken.swap(false, std::sync::atomic::Ordering::SeqCst) {
                        tracing::info!("storage works again; accepting writes");
                    }
                    return Ok(());
                }
                Err(e) if attempt < 4 => {
                    tracing::warn!(error = %e, retry_in = ?pause, "cannot reload state from storage");
                    std::thread::sleep(pause);
                    pause *= 2;
                    attempt += 1;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot reload state; refusing writes until it works again");
                    self.broken.store(true, std::sync::atomic::Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
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
                            503,
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
            self.prepare_commit(&state, old, new)
                .map(|p| (p, new, state.head.clone()))
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
                        _ => Outcome::refused(503, reason.clone()),
                    })
                    .collect()
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
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

    /// A receiver that sees a new value after every durable batch commit.
    pub fn subscribe_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// The committed checkpoint of `kind` as the log signed it (its text and the log's own
    /// signature, no cosignature): what is sent to witnesses.
    pub fn plain_checkpoint(&self, kind: LogKind) -> Result<Note, LogError> {
        let bytes = self.read().log(kind).head_checkpoint();
        let note = Note::parse(&bytes)
            .map_err(|e| LogError::Corrupt(format!("{} checkpoint: {e}", kind.name())))?;
        sign_checkpoint(&self.log_keys, kind, note.text())
    }

    /// After a key change (the migration to per-origin keys, or removing `log.key` at its
    /// end), the branch head's checkpoints may lack a signature the log now makes: re-signs
    /// each such checkpoint (same size and root) in a commit of its own, so clients holding
    /// the new verifier keys can verify the log before its next batch.
    fn resign_stale_checkpoints(&self) -> Result<(), LogError> {
        for kind in [LogKind::Releases, LogKind::Keys] {
            let bytes = self.read().log(kind).checkpoint.clone();
            let note = Note::parse(&bytes)
                .map_err(|e| LogError::Corrupt(format!("{} checkpoint: {e}", kind.name())))?;
            let fresh = sign_checkpoint(&self.log_keys, kind, note.text())?;
            let origin = self.read().log(kind).origin.clone();
            let ours = |sig: &NoteSignature| sig.name.as_str() == origin;
            let missing = fresh
                .signatures()
                .iter()
                .any(|s| !note.signatures().contains(s));
            let dropped = note
                .signatures()
                .iter()
                .any(|s| ours(s) && !fresh.signatures().contains(s));
            if missing || dropped {
                tracing::info!(
                    log = kind.name(),
                    "re-signing the checkpoint with the log's current keys"
                );
                // Cosignatures (other names) were verified when they were attached: kept.
                let cosignatures = note
                    .signatures()
                    .iter()
                    .filter(|s| !ours(s))
                    .cloned()
                    .collect();
                self.publish_witnessed(kind, note.text(), cosignatures)?;
            }
        }
        self.refresh_vkey_file()
    }

    /// Makes the branch's `cairn-log.vkey` hold the verifier keys the log now signs with (it
    /// names the old single key until the first start after `cairn migrate-keys`): one commit
    /// that changes only that file, its message of the usual form.
    fn refresh_vkey_file(&self) -> Result<(), LogError> {
        let _only_writer = self.sequencer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(head) = self.read().head.clone() else {
            return Ok(());
        };
        let vkeys = self.log_keys.vkeys();
        if self.storage.read(&head, VKEY_FILE)?.as_deref() == Some(vkeys.as_bytes()) {
            return Ok(());
        }
        tracing::info!("writing the per-origin verifier keys to {VKEY_FILE}");
        let message = {
            let state = self.read();
            format!(
                "cairn: releases {} keys {}\n\n{}\n{}",
                state.releases.committed,
                state.keys.committed,
                String::from_utf8_lossy(&state.releases.checkpoint),
                String::from_utf8_lossy(&state.keys.checkpoint)
            )
        };
        let id = self
            .storage
            .commit(Some(&head), &[Change::put(VKEY_FILE, vkeys)], &message)?;
        self.write().head = Some(id);
        Ok(())
    }

    /// Whether new checkpoints wait for the publisher ([`Log::publish_witnessed`]) before
    /// readers see them. Set before serving, when witnesses are configured.
    /// Whether an `add` key event may name a `from` below the release log's current size
    /// (spec/keylog.md 4.4 recommends refusing it; off by default).
    pub fn set_allow_backdated_from(&self, on: bool) {
        self.allow_backdated_from
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Sets whether new checkpoints wait for a witnessing round before readers see them.
    pub fn set_witnessed(&self, on: bool) {
        self.witnessed
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Publishes a committed checkpoint of `kind` (its text `text`) after its witnessing round,
    /// with `cosignatures` (already verified by the caller; possibly none). If it is still the
    /// branch head's checkpoint and the note changes, one commit that changes only
    /// `<log>/checkpoint` records it on the branch first. If a newer batch was committed
    /// meanwhile, it is published to readers only (it is older than the head, so the branch
    /// keeps the head's). Readers' checkpoint never moves backwards. Returns whether a commit
    /// was made.
    ///
    /// Takes the sequencer's lock: the branch moves by compare-and-swap, and this is a writer.
    pub fn publish_witnessed(
        &self,
        kind: LogKind,
        text: &str,
        cosignatures: Vec<NoteSignature>,
    ) -> Result<bool, LogError> {
        let _only_writer = self.sequencer.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_broken() {
            return Ok(false);
        }
        let size = Checkpoint::parse(text)
            .map_err(|e| LogError::Corrupt(format!("checkpoint to publish: {e}")))?
            .size;
        let mut note = sign_checkpoint(&self.log_keys, kind, text)?;
        for sig in cosignatures {
            note.push_signature(sig)
                .map_err(|e| LogError::Corrupt(format!("attaching a cosignature: {e}")))?;
        }
        let bytes: Arc<[u8]> = Arc::from(note.to_bytes());
        let (head_bytes, head) = {
            let state = self.read();
            (state.log(kind).head_checkpoint(), state.head.clone())
        };
        let head_note = Note::parse(&head_bytes)
            .map_err(|e| LogError::Corrupt(format!("{} checkpoint: {e}", kind.name())))?;
        if head_note.text() != text {
            // Superseded by a newer batch: readers get it if it is newer than what they have.
            let mut state = self.write();
            let log = state.log_mut(kind);
            if size <= log.committed && size > log.published_size {
                log.publish(bytes, size);
            }
            return Ok(false);
        }
        if bytes == head_bytes {
            self.write().log_mut(kind).publish(bytes, size);
            return Ok(false);
        }
        let message = {
            let state = self.read();
            let mut message = format!(
                "cairn: releases {} keys {}\n",
                state.releases.committed, state.keys.committed
            );
            for k in [LogKind::Releases, LogKind::Keys] {
                message.push('\n');
                if k == kind {
                    message.push_str(&String::from_utf8_lossy(&bytes));
                } else {
                    message.push_str(&String::from_utf8_lossy(&state.log(k).checkpoint));
                }
            }
            message
        };
        let change = Change::put(format!("{}/checkpoint", kind.name()), bytes.to_vec());
        match self.storage.commit(head.as_ref(), &[change], &message) {
            Ok(id) => {
                let mut state = self.write();
                state.head = Some(id);
                let log = state.log_mut(kind);
                log.checkpoint = Arc::clone(&bytes);
                log.publish(bytes, size);
                Ok(true)
            }
            Err(e) => {
                tracing::error!(error = %e, "cosigned checkpoint commit failed; reloading state from storage");
                let mut state = self.write();
                let _ = self.reload_into(&mut state);
                Err(e.into())
            }
        }
    }

    /// The log's per-origin verifier keys, one line each (see [`LogKeys::vkeys`]).
    pub fn log_vkeys(&self) -> String {
        self.log_keys.vkeys()
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
    fn outcome(self, state: &State, old: (u64, u64)) -> Outcome {
        let (kind, index, new) = match self {
            Decision::Refused(_, outcome) => return outcome,
            Decision::Existing(kind, index) => (kind, index, false),
            Decision::New(kind, n) => (kind, base(kind, old) + n, true),
            Decision::Repeat(kind, n) => (kind, base(kind, old) + n, false),
        };
        match state.log(kind).head_proof(index) {
            Some(proof) => Outcome::Logged { index, proof, new },
            None => Outcome::refused(503, "internal error: no proof for a logged entry"),
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
        match decide(&ctx, &mut plan.key_state, kind, index, &sub.entry) {
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
            Err((status, reason)) => {
                plan.decisions
                    .push(Decision::Refused(kind, Outcome::refused(status, reason)));
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
    fn release_index(&self, name: &str, version: &str) -> Option<u64> {
        let key = (name.to_owned(), version.to_owned());
        self.state
            .by_name_version
            .get(&key)
            .or_else(|| self.names.get(&key))
            .copied()
    }
}

/// Judges one new entry at `index`. Key events are applied to `key_state`. Returns the release
/// (for the lookup indexes) when the entry is one, or a refusal (status, one-line reason).
fn decide(
    ctx: &Context<'_>,
    key_state: &mut Option<KeyState>,
    kind: LogKind,
    index: u64,
    entry: &[u8],
) -> Result<Option<Release>, (u16, String)> {
    if entry.len() > MAX_ENTRY_SIZE {
        return Err((
            413,
            format!(
                "entry is {} bytes; the limit is {MAX_ENTRY_SIZE}",
                entry.len()
            ),
        ));
    }
    let note = Note::parse_entry(entry).map_err(|e| (400, format!("malformed note: {e}")))?;
    let parsed = Entry::parse(note.text()).map_err(|e| (400, format!("malformed entry: {e}")))?;
    match (kind, parsed) {
        (LogKind::Releases, Entry::Key(_)) => Err((
            400,
            "key events go to the key log (POST /keys/add)".to_owned(),
        )),
        (LogKind::Keys, Entry::Release(_) | Entry::Deprecation(_)) => Err((
            400,
            "releases and deprecations go to the release log (POST /releases/add)".to_owned(),
        )),
        (LogKind::Keys, Entry::Key(event)) => {
            match key_state {
                None => {
                    // Genesis: the server trusts the root set its operator gave it at init.
                    let KeyEvent::Root { roots, .. } = &event else {
                        return Err((400, "key-log entry 0 must be a root event".to_owned()));
                    };
                    let (fresh, _) = KeyState::genesis(roots, entry)
                        .map_err(|e| (keylog_status(&e), format!("genesis: {e}")))?;
                    *key_state = Some(fresh);
                }
                Some(ks) => {
                    // Authenticate first (threshold, keys: 403), then judge the event's
                    // content against the log (backdated `from`: 422), on a copy so that a
                    // refused event leaves the key state untouched.
                    let mut next = ks.clone();
                    next.apply(entry)
                        .map_err(|e| (keylog_status(&e), e.to_string()))?;
                    if let KeyEvent::Add { from, .. } = &event
                        && *from < ctx.release_size
                        && !ctx.allow_backdated_from
                    {
                        return Err((
                            422,
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
            let ks = key_state
                .as_ref()
                .ok_or((503, "the key log has no genesis yet".to_owned()))?;
            if let Some(existing) =
                ctx.release_index(release.name().as_str(), release.version().as_str())
            {
                return Err((
                    409,
                    format!(
                        "release {} {} is already logged at index {existing} with different content",
                        release.name(),
                        release.version()
                    ),
                ));
            }
            release_is_valid(&note, index, ks).map_err(|e| (release_status(&e), e.to_string()))?;
            Ok(Some(release))
        }
        (LogKind::Releases, Entry::Deprecation(dep)) => {
            let ks = key_state
                .as_ref()
                .ok_or((503, "the key log has no genesis yet".to_owned()))?;
            if ctx
                .release_index(dep.name().as_str(), dep.version().as_str())
                .is_none()
            {
                return Err((
                    400,
                    format!(
                        "no release {} {} in the log to deprecate",
                        dep.name(),
                        dep.version()
                    ),
                ));
            }
            deprecation_is_valid(&note, index, ks)
                .map_err(|e| (release_status(&e), e.to_string()))?;
            Ok(None)
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
        // Two lines from one known key make the note malformed (signed-note); that is only
        // known once the keys are (unknown keys' lines are ignored at parse time).
        InvalidRelease::Malformed(_)
        | InvalidRelease::Note(cairn_verifier::note::NoteError::DuplicateSignature { .. }) => 400,
        _ => 403,
    }
}

/// Rebuilds the state from the branch head, verifying it (see [`Log::open`]).
fn load(prefix: &str, log_keys: &LogKeys, storage: &dyn Storage) -> Result<State, LogError> {
    let head = storage.head()?.ok_or(LogError::Empty)?;
    let mut state = State::empty(prefix);
    for kind in [LogKind::Keys, LogKind::Releases] {
        let dir = kind.name();
        let origin = state.log(kind).origin.clone();
        let bytes = storage
            .read(&head, &format!("{dir}/checkpoint"))?
            .ok_or_else(|| LogError::Corrupt(format!("{dir}/checkpoint is missing")))?;
        // Any of the data directory's keys will do: right after a key change the stored
        // checkpoint carries only the old one (`Log::open` then re-signs it).
        let mut verified = Err(String::new());
        for signer in log_keys.accepted(dir) {
            match VerifiedCheckpoint::verify(&bytes, &origin, &signer.verifier()) {
                Ok(c) => {
                    verified = Ok(c);
                    break;
                }
                Err(e) if verified.is_err() => verified = Err(e.to_string()),
                Err(_) => {}
            }
        }
        let checkpoint = verified.map_err(|e| {
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
        log.published = Arc::clone(&log.checkpoint);
        log.published_size = size;
        check_stored_tiles(storage, &head, dir, &state.log(kind).tree, size)?;
        check_nothing_beyond(storage, &head, dir, size)?;
    }
    // The head commit's subject names the sizes it published; an older checkpoint put back in
    // place (which still verifies) would make the server fork its own log.
    let subject = format!(
        "cairn: releases {} keys {}",
        state.releases.committed, state.keys.committed
    );
    let message = storage.commit_info(&head)?.message;
    if message.lines().next() != Some(subject.as_str()) {
        return Err(LogError::Corrupt(format!(
            "the head commit says {:?} but the checkpoints say {subject:?}",
            message.lines().next().unwrap_or("")
        )));
    }
    state.head = Some(head);
    Ok(state)
}

/// Every hash tile of the tree must be stored exactly as the entries imply: a mirror clones
/// these bytes, and a tile that differs from the one the server computes would fail there.
fn check_stored_tiles(
    storage: &dyn Storage,
    head: &CommitId,
    dir: &str,
    tree: &MemoryTree,
    size: u64,
) -> Result<(), LogError> {
    let tiles = tiles_for_size(TILE_HEIGHT, size)
        .map_err(|e| LogError::Corrupt(format!("{dir}: planning tiles: {e}")))?;
    for tile in tiles {
        let path = format!("{dir}/{}", tile.path());
        let stored = storage
            .read(head, &path)?
            .ok_or_else(|| LogError::Corrupt(format!("{path} is missing")))?;
        let expected =
            read_tile_data(&tile, tree).map_err(|e| LogError::Corrupt(format!("{path}: {e}")))?;
        if stored != expected {
            return Err(LogError::Corrupt(format!(
                "{path} does not match the hashes of the stored entries"
            )));
        }
    }
    Ok(())
}

/// No entry bundle may hold entries past the checkpoint: that would mean the checkpoint was
/// rolled back under entries the log already published.
fn check_nothing_beyond(
    storage: &dyn Storage,
    head: &CommitId,
    dir: &str,
    size: u64,
) -> Result<(), LogError> {
    let width = u64::from(TILE_WIDTH);
    let index = size / width;
    let mut paths = vec![format!("{dir}/tile/entries/{}", bundle_index_path(index))];
    let filled = size % width;
    if filled + 1 < width {
        paths.push(format!(
            "{dir}/tile/entries/{}.p/{}",
            bundle_index_path(index),
            filled + 1
        ));
    }
    for path in paths {
        if storage.read(head, &path)?.is_some() {
            return Err(LogError::Corrupt(format!(
                "{path} holds entries beyond the checkpoint's size {size}: the checkpoint was \
                 replaced by an older one"
            )));
        }
    }
    Ok(())
}

/// The `<N>` part of a tile path (`x001/x234/067`).
fn bundle_index_path(index: u64) -> String {
    EntryBundle::new(TILE_HEIGHT, index, TILE_WIDTH)
        .map(|b| b.path())
        .unwrap_or_default()
        .trim_start_matches("tile/entries/")
        .to_owned()
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
            } else {
                state.index_deprecation_entry(index, entry);
            }
        }
    }
    Ok(())
}
