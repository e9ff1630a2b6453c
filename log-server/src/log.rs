//! The log: both logs' state, the sequencer, publication, and loading, one concern per module.
//!
//! - `log/state.rs`: the trees, entries, committed checkpoints and lookup indexes readers are served.
//! - `log/sequencer.rs`: batching, validation, the one durable commit per batch, acknowledgements.
//! - `log/publication.rs`: signed and witnessed checkpoints, channel files, the verifier-key file.
//! - `log/recovery.rs`: loading and verifying the branch head, rebuilding after a failed commit.
//!
//! Invariants that span them (spec/git-layout.md, DESIGN.md "Git is storage and transport"):
//! - Readers see only the *committed* prefix of each log (`committed` sizes and checkpoints that
//!   are in the branch head). Entries appended by a batch in progress are invisible until the
//!   branch moved.
//! - An entry is acknowledged (its `add` answered with a proof) only after the commit holding it
//!   returned, i.e. after the branch update is durable.
//! - The server never signs a checkpoint over entries that were not committed: if a commit
//!   fails, the in-memory state is rebuilt from the branch head.
//! - Refusals say which rule a submission broke ([`Refusal`]); only the HTTP layer turns that
//!   into a status code.

mod checked;
mod publication;
mod recovery;
mod sequencer;
mod state;

use std::sync::{Arc, RwLock, RwLockReadGuard};

use cairn_verifier::note::NoteError;

use crate::config::LogKeys;
use crate::metrics::Metrics;
use crate::storage::{Storage, StorageError};

pub use checked::CheckedSignatures;
pub use state::{LogState, State};

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
    /// Refused: the rule broken and a one-line reason.
    Refused {
        /// Which rule.
        rule: Refusal,
        /// One line, no newline.
        reason: String,
    },
}

/// The rule a refused submission broke. The HTTP layer maps each to a status code
/// (spec/http-api.md); nothing else here knows about HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Larger than [`MAX_ENTRY_SIZE`].
    TooLarge,
    /// Not a signed note, not an entry, an entry for the other log, a key-log genesis that is
    /// not a root event, or a deprecation of a release the log does not hold.
    Malformed,
    /// Not authorised: no valid signature by a key the key log grants this entry (or, for a
    /// key event, not the roots' threshold).
    Unauthorized,
    /// The same name and version are already logged with different content.
    Conflict,
    /// Authorised and well-formed, but contradicts the log: an `add` whose `from` lies before
    /// the release log's size.
    Contradicts,
    /// The log cannot take writes now (storage failing, the batch not committed, the log key
    /// unable to sign, no genesis yet): retry later.
    Unavailable,
}

impl Outcome {
    fn refused(rule: Refusal, reason: impl Into<String>) -> Outcome {
        Outcome::Refused {
            rule,
            reason: reason.into(),
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
    /// Signatures the add handler already verified (off the sequencer thread); the sequencer
    /// verifies the others. Outside this crate only the empty one can be made.
    pub checked: CheckedSignatures,
}

impl Submission {
    /// A submission of `entry` to `log` whose signatures the sequencer verifies itself.
    pub fn new(log: LogKind, entry: Vec<u8>) -> Submission {
        Submission {
            log,
            entry,
            checked: CheckedSignatures::default(),
        }
    }
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
        let outcomes = log.sequence(vec![Submission::new(LogKind::Keys, genesis.to_vec())]);
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
        let state = recovery::load(prefix, log_keys, storage.as_ref())?;
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

    /// The file at `path` in the committed tree (the branch head), `None` if there is none.
    pub fn read_committed_file(&self, path: &str) -> Result<Option<Vec<u8>>, LogError> {
        let head = self.read().head.clone();
        match head {
            Some(head) => Ok(self.storage.read(&head, path)?),
            None => Ok(None),
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

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}
