//! Storage for the log's files: one branch of commits, each commit a complete file tree.
//!
//! The sequencer writes every batch (tiles, entry bundles, checkpoints, channel files) as ONE commit
//! and moves the branch by compare-and-swap on the previous commit id. The branch move is the commit
//! point: an entry is acknowledged only after [`Storage::commit`] returned `Ok`, and after a crash the
//! server restarts from [`Storage::head`]. See DESIGN.md, "Git is storage and transport".
//!
//! Two implementations share one behavioural test suite (`tests/storage.rs`):
//! - [`MemoryStorage`] for tests of the layers above;
//! - [`GitStorage`], a bare git repository whose branch `refs/heads/main` a mirror can `git clone` and
//!   serve as-is with a static web server.
//!
//! The trait is synchronous because gix is; async callers use `spawn_blocking`.

pub(crate) mod durable;
pub(crate) mod git;
mod memory;
mod pack;
mod repack;

use std::fmt;
use std::path::PathBuf;

pub use git::{GitOptions, GitStorage, RepackPolicy, WriteStats};
pub use memory::MemoryStorage;

/// The branch that holds the log, as a full reference name.
pub const BRANCH: &str = "refs/heads/main";

/// Longest path accepted in a [`Change`]. Tile paths are far shorter; the cap keeps a bug in a caller
/// from writing absurd trees.
pub const MAX_PATH_LEN: usize = 1024;

/// The storage behind the log server: a single branch of commits over a file tree.
///
/// Implementations are safe to share between threads. Commits are serialised by the compare-and-swap
/// on the parent, so two writers can never both succeed on top of the same parent.
pub trait Storage: Send + Sync + 'static {
    /// The current head commit, or `None` for a new, empty store.
    fn head(&self) -> Result<Option<CommitId>, StorageError>;

    /// The content of the file at `path` in commit `at`, or `None` if there is no file there
    /// (a directory is not a file).
    fn read(&self, at: &CommitId, path: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Apply `changes` (in order) to the tree of `parent` (the empty tree for `None`), record the result
    /// as one commit with `message`, then move the branch from `parent` to it atomically.
    ///
    /// Fails with [`StorageError::Conflict`] if the branch is no longer at `parent`; the branch is then
    /// left untouched. When this returns `Ok`, the commit and the branch move are durable.
    ///
    /// Any other error leaves the outcome open (for example, the branch moved but the final fsync
    /// failed): re-read [`Storage::head`] before retrying, and treat the batch as committed if the head
    /// is a commit on top of `parent` with this batch's content.
    fn commit(
        &self,
        parent: Option<&CommitId>,
        changes: &[Change],
        message: &str,
    ) -> Result<CommitId, StorageError>;

    /// The parent and message of commit `at`, for walking the history (every checkpoint ever published
    /// is in a commit message).
    fn commit_info(&self, at: &CommitId) -> Result<CommitInfo, StorageError>;
}

/// Opaque identifier of a commit. For [`GitStorage`] it is the lowercase hex object id.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(String);

impl CommitId {
    /// Wrap an identifier, for example one stored by the caller earlier. Nothing is checked here: an id
    /// that names no commit is reported as [`StorageError::UnknownCommit`] when used.
    pub fn new(id: impl Into<String>) -> Self {
        CommitId(id.into())
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({})", self.0)
    }
}

/// One edit of the file tree inside a commit.
#[derive(Clone, PartialEq, Eq)]
pub enum Change {
    /// Create or replace the file at `path`. Whatever was at `path` (a file, or a whole directory) is
    /// replaced, and a file standing where a parent directory of `path` must be is replaced by that
    /// directory.
    Put {
        /// Slash-separated path relative to the repository root, e.g. `releases/tile/0/x001/234`.
        path: String,
        /// The file's bytes.
        data: Vec<u8>,
    },
    /// Remove the file or the whole directory at `path`; nothing happens if it does not exist.
    /// Directories left empty disappear (git cannot store an empty directory). The sequencer uses this
    /// to drop `N.p/` partial tiles once the full tile `N` exists, as tlog-tiles allows.
    Delete {
        /// Slash-separated path relative to the repository root.
        path: String,
    },
}

impl Change {
    /// A [`Change::Put`].
    pub fn put(path: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Change::Put {
            path: path.into(),
            data: data.into(),
        }
    }

    /// A [`Change::Delete`].
    pub fn delete(path: impl Into<String>) -> Self {
        Change::Delete { path: path.into() }
    }

    /// The path this change applies to.
    pub fn path(&self) -> &str {
        match self {
            Change::Put { path, .. } | Change::Delete { path } => path,
        }
    }
}

impl fmt::Debug for Change {
    // File contents can be large binary tiles: show their length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Put { path, data } => write!(f, "Put({path:?}, {} bytes)", data.len()),
            Change::Delete { path } => write!(f, "Delete({path:?})"),
        }
    }
}

/// What [`Storage::commit_info`] returns about a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The commit this one was made on top of, `None` for the first commit.
    pub parent: Option<CommitId>,
    /// The commit message exactly as given to [`Storage::commit`].
    pub message: String,
}

/// Errors of the storage layer. Messages name the operation and the path or commit involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The branch was not at the expected parent: another commit won the race, or the caller's view of
    /// the head is stale. Nothing was changed; re-read the head and rebuild the batch.
    #[error(
        "commit: branch {BRANCH} is at {}, not at the expected parent {}",
        show(.actual),
        show(.expected)
    )]
    Conflict {
        /// The parent the caller asked for.
        expected: Option<CommitId>,
        /// Where the branch actually is.
        actual: Option<CommitId>,
    },
    /// A path in a change or a read is not acceptable as a repository path.
    #[error("{op} {path:?}: invalid path: {reason}")]
    InvalidPath {
        /// The operation (`read`, `commit`).
        op: &'static str,
        /// The offending path.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The commit message cannot be stored (git refuses NUL bytes in commit messages).
    #[error("commit: invalid message: {reason}")]
    InvalidMessage {
        /// Why it was refused.
        reason: &'static str,
    },
    /// No commit with this id exists in the store.
    #[error("{op}: unknown commit {id}")]
    UnknownCommit {
        /// The operation (`read`, `commit_info`).
        op: &'static str,
        /// The id that was asked for.
        id: CommitId,
    },
    /// The directory is not a repository this storage may use (not a bare git repository, wrong
    /// branch layout, or not empty when a new one was asked for).
    #[error("{op} {path}: {reason}")]
    Unusable {
        /// The operation (`open`, `init`).
        op: &'static str,
        /// The repository directory.
        path: PathBuf,
        /// What is wrong, in words an operator can act on.
        reason: String,
    },
    /// Another process holds the writer lock of the repository.
    #[error(
        "{op} {path}: another process is writing to this repository (lock {lock} is held)",
        lock = .lock.display()
    )]
    Locked {
        /// The operation (`open`, `init`).
        op: &'static str,
        /// The repository directory.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A file-system operation failed.
    #[error("{op} {path}: {source}", path = .path.display())]
    Io {
        /// What was being done (`write pack`, `fsync`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The git library reported an error.
    #[error("{op} {path}: {source}")]
    Git {
        /// What was being done.
        op: &'static str,
        /// The repository path, tree path or reference involved.
        path: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The repository contains something this storage never writes (for example a branch pointing at a
    /// tree, or a commit message that is not UTF-8).
    #[error("{op} {path}: unexpected repository content: {reason}")]
    Corrupt {
        /// What was being done.
        op: &'static str,
        /// The commit, reference or path involved.
        path: String,
        /// What was found.
        reason: String,
    },
    /// Running `git repack` failed.
    #[error("repack {path}: {reason}", path = .path.display())]
    Repack {
        /// The repository directory.
        path: PathBuf,
        /// The exit status and git's message.
        reason: String,
    },
}

fn show(id: &Option<CommitId>) -> String {
    match id {
        Some(id) => id.to_string(),
        None => "nothing (no commit yet)".to_owned(),
    }
}

/// Check that `path` can be stored as a file path in a git tree and served by a static web server.
///
/// Both implementations call this, so a path refused by one is refused by the other. The rules are the
/// ones `git fsck --strict` and checkouts enforce, plus no control characters or backslashes, which no
/// tile path contains and which web servers treat inconsistently.
pub(crate) fn check_path(op: &'static str, path: &str) -> Result<(), StorageError> {
    let refuse = |reason| {
        Err(StorageError::InvalidPath {
            op,
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return refuse("empty");
    }
    if path.len() > MAX_PATH_LEN {
        return refuse("longer than MAX_PATH_LEN");
    }
    for component in path.split('/') {
        if component.is_empty() {
            return refuse("empty component (leading, trailing or double slash)");
        }
        if component == "." || component == ".." {
            return refuse("'.' or '..' component");
        }
        // `.git` itself, and the files git interprets when a mirror clones: `.gitattributes` could make
        // a checkout rewrite line endings (the clone would no longer serve the logged bytes),
        // `.gitmodules` is parsed by `git fsck`. `git~1` is `.git` on NTFS.
        let lower = component.to_ascii_lowercase();
        if lower.starts_with(".git") || lower == "git~1" {
            return refuse("component starting with '.git' (git gives such names meaning)");
        }
        if component.chars().any(|c| c.is_control() || c == '\\') {
            return refuse("control character or backslash");
        }
    }
    Ok(())
}

/// Check that `message` can be stored as a git commit message (`git fsck` flags NUL bytes).
pub(crate) fn check_message(message: &str) -> Result<(), StorageError> {
    if message.contains('\0') {
        return Err(StorageError::InvalidMessage {
            reason: "contains a NUL byte",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_are_accepted() {
        for path in [
            "releases/checkpoint",
            "releases/tile/0/x001/234",
            "releases/tile/0/x001/234.p/17",
            "releases/tile/entries/000.p/1",
            "keys/tile/1/000",
            "releases/update-latest.txt",
        ] {
            assert!(check_path("test", path).is_ok(), "{path}");
        }
    }

    #[test]
    fn bad_paths_are_refused() {
        for path in [
            "",
            "/releases",
            "releases/",
            "a//b",
            "a/./b",
            "a/../b",
            ".git/config",
            "a/.GIT/b",
            ".gitattributes",
            "releases/.gitmodules",
            "GIT~1/x",
            "a\\b",
            "a\nb",
            "a\0b",
        ] {
            assert!(
                matches!(
                    check_path("test", path),
                    Err(StorageError::InvalidPath { .. })
                ),
                "{path:?}"
            );
        }
        assert!(check_path("test", &"a".repeat(MAX_PATH_LEN + 1)).is_err());
    }

    #[test]
    fn conflict_message_names_both_sides() {
        let err = StorageError::Conflict {
            expected: Some(CommitId::new("aaaa")),
            actual: None,
        };
        let text = err.to_string();
        assert!(text.contains("aaaa") && text.contains("no commit yet") && text.contains(BRANCH));
    }
}
