//! [`MemoryStorage`]: the storage contract held in memory, for tests of the layers above.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{Change, CommitId, CommitInfo, Storage, StorageError, check_message, check_path};

/// Files of one commit. Values are shared between commits so that a commit copies pointers, not tiles.
type Files = BTreeMap<String, Arc<[u8]>>;

/// An in-memory [`Storage`] with the same semantics as [`GitStorage`](super::GitStorage), including
/// [`StorageError::Conflict`] on a stale parent. Nothing survives the value being dropped.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    head: Option<CommitId>,
    commits: HashMap<CommitId, Commit>,
    /// Source of commit ids: ids are never reused, so a stale id can never alias a new commit.
    next_id: u64,
}

#[derive(Debug)]
struct Commit {
    parent: Option<CommitId>,
    message: String,
    files: Arc<Files>,
}

impl MemoryStorage {
    /// An empty store: no commits, no head.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated: the head and the commit
        // map are only changed together at the end of `commit`, after everything that can fail.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Storage for MemoryStorage {
    fn head(&self) -> Result<Option<CommitId>, StorageError> {
        Ok(self.state().head.clone())
    }

    fn read(&self, at: &CommitId, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_path("read", path)?;
        let state = self.state();
        let commit = state
            .commits
            .get(at)
            .ok_or_else(|| StorageError::UnknownCommit {
                op: "read",
                id: at.clone(),
            })?;
        Ok(commit.files.get(path).map(|data| data.to_vec()))
    }

    fn commit(
        &self,
        parent: Option<&CommitId>,
        changes: &[Change],
        message: &str,
    ) -> Result<CommitId, StorageError> {
        check_message(message)?;
        for change in changes {
            check_path("commit", change.path())?;
        }
        let mut state = self.state();
        if state.head.as_ref() != parent {
            return Err(StorageError::Conflict {
                expected: parent.cloned(),
                actual: state.head.clone(),
            });
        }
        let mut files = match parent {
            Some(parent) => Files::clone(&state.commits[parent].files),
            None => Files::new(),
        };
        for change in changes {
            apply(&mut files, change);
        }
        state.next_id += 1;
        // Shaped like a git object id so that code printing ids looks the same with both stores.
        let id = CommitId::new(format!("{:040x}", state.next_id));
        state.commits.insert(
            id.clone(),
            Commit {
                parent: parent.cloned(),
                message: message.to_owned(),
                files: Arc::new(files),
            },
        );
        state.head = Some(id.clone());
        Ok(id)
    }

    fn commit_info(&self, at: &CommitId) -> Result<CommitInfo, StorageError> {
        let state = self.state();
        let commit = state
            .commits
            .get(at)
            .ok_or_else(|| StorageError::UnknownCommit {
                op: "commit_info",
                id: at.clone(),
            })?;
        Ok(CommitInfo {
            parent: commit.parent.clone(),
            message: commit.message.clone(),
        })
    }
}

/// Apply one change with the semantics of a git tree edit: a file replaces a directory at the same
/// path, a directory replaces a file standing where it must go, and empty directories do not exist.
fn apply(files: &mut Files, change: &Change) {
    let path = change.path();
    remove_subtree(files, path);
    if let Change::Put { data, .. } = change {
        // A file at any ancestor path would be a file where a directory must be: git replaces it.
        for (end, _) in path.match_indices('/') {
            files.remove(&path[..end]);
        }
        files.insert(path.to_owned(), Arc::from(data.as_slice()));
    }
}

/// Remove the file at `path` and every file below `path/`.
fn remove_subtree(files: &mut Files, path: &str) {
    files.remove(path);
    let prefix = format!("{path}/");
    let below: Vec<String> = files
        .range(prefix.clone()..)
        .take_while(|(name, _)| name.starts_with(&prefix))
        .map(|(name, _)| name.clone())
        .collect();
    for name in below {
        files.remove(&name);
    }
}
