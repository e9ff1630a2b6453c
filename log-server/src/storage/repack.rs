//! Merging the per-commit packs with the real `git repack`, in the background.
//!
//! Each commit adds one small pack (see `pack.rs`). Left alone, that costs one pack index lookup per
//! pack on every object read, and it stores every version of a partial tile whole: rewriting a tile
//! of W hashes W times is quadratic. `git repack` merges packs and stores successive versions of a
//! tile as deltas against each other, which makes growth linear again. gix cannot repack, so the real
//! git binary does it, in a background thread so that commits are not blocked.
//!
//! Safety against concurrent commits: `--geometric` hands pack-objects the list of packs to merge
//! (`--stdin-packs`) and keeps *every* object in them, reachable or not. A pack written by a commit
//! whose branch move has not happened yet therefore survives, whether or not it is merged: the
//! merged pack is complete before the old packs are deleted, and packs that appear during the run are
//! not touched. A full `git repack -a -d` would instead drop such not-yet-reachable objects.
//! See docs/decisions.md, "Packing".

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;

use super::StorageError;

/// Arguments for one maintenance run (after `git --git-dir <dir>`).
///
/// - `core.fsync=all` / `core.fsyncMethod=fsync`: the merged pack and its index are fsynced before
///   the packs they replace are deleted (git's default would skip some of this);
/// - `repack.writeBitmaps=false`: bitmaps speed up serving clones of huge repositories and cost time
///   here; geometric repacks without `--write-midx` cannot write them anyway;
/// - `--geometric=2`: merge the smallest packs until each pack holds at least twice as many objects
///   as all smaller ones together, so there are O(log n) packs and each object is rewritten O(log n)
///   times overall;
/// - `-d`: delete the merged packs; `-l`: do not copy objects from alternates; `-q`: quiet.
const REPACK_ARGS: &[&str] = &[
    "-c",
    "core.fsync=all",
    "-c",
    "core.fsyncMethod=fsync",
    "-c",
    "repack.writeBitmaps=false",
    "repack",
    "--geometric=2",
    "-d",
    "-l",
    "-q",
];

/// State of background packing for one repository.
#[derive(Debug)]
pub(crate) struct Repacker {
    git: PathBuf,
    git_dir: PathBuf,
    /// Start a background run once this many packs exist; `None` never starts one.
    max_packs: Option<usize>,
    /// Packs in `objects/pack`, counted at open and after each run, incremented per commit.
    packs: usize,
    running: Option<JoinHandle<Result<(), StorageError>>>,
    /// The failure of the last background run, kept until someone asks.
    last_failure: Option<StorageError>,
}

impl Repacker {
    pub(crate) fn new(
        git: PathBuf,
        git_dir: PathBuf,
        max_packs: Option<usize>,
    ) -> Result<Self, StorageError> {
        let packs = count_packs(&git_dir)?;
        Ok(Repacker {
            git,
            git_dir,
            max_packs,
            packs,
            running: None,
            last_failure: None,
        })
    }

    /// Number of packs as last counted plus those written since.
    pub(crate) fn packs(&self) -> usize {
        self.packs
    }

    /// Record that a commit wrote one more pack, and start a background run if the policy says so.
    pub(crate) fn pack_written(&mut self) {
        self.packs += 1;
        self.reap();
        if self.running.is_none() && self.max_packs.is_some_and(|max| self.packs >= max) {
            let (git, git_dir) = (self.git.clone(), self.git_dir.clone());
            let spawned = std::thread::Builder::new()
                .name("cairn-repack".to_owned())
                .spawn(move || {
                    lower_priority_of_this_thread();
                    run_git_repack(&git, &git_dir)
                });
            match spawned {
                Ok(handle) => self.running = Some(handle),
                Err(source) => {
                    self.last_failure = Some(StorageError::Io {
                        op: "start repack thread",
                        path: self.git_dir.clone(),
                        source,
                    })
                }
            }
        }
    }

    /// Collect a finished background run, if any.
    fn reap(&mut self) {
        if self.running.as_ref().is_some_and(JoinHandle::is_finished) {
            self.join();
        }
    }

    fn join(&mut self) {
        if let Some(handle) = self.running.take() {
            let outcome = handle.join().unwrap_or_else(|_| {
                Err(StorageError::Repack {
                    path: self.git_dir.clone(),
                    reason: "the repack thread panicked".to_owned(),
                })
            });
            if let Err(err) = outcome {
                self.last_failure = Some(err);
            }
            self.recount();
        }
    }

    fn recount(&mut self) {
        match count_packs(&self.git_dir) {
            Ok(packs) => self.packs = packs,
            Err(err) => self.last_failure = Some(err),
        }
    }

    /// Wait for a background run to finish, then run one in the foreground.
    pub(crate) fn repack_now(&mut self) -> Result<(), StorageError> {
        self.join();
        let outcome = run_git_repack(&self.git, &self.git_dir);
        self.recount();
        outcome
    }

    /// Wait for a background run to finish (used when the storage is dropped, so that tests and
    /// benchmarks measure a quiet repository and no thread outlives its storage).
    pub(crate) fn wait(&mut self) {
        self.join();
    }

    /// The failure of the last background run, if it failed; clears it.
    pub(crate) fn take_failure(&mut self) -> Option<StorageError> {
        self.reap();
        self.last_failure.take()
    }
}

/// Background repacks yield the CPU to the sequencer and the HTTP workers: on Linux a nice
/// value belongs to the calling thread and is inherited by the processes it starts, so this
/// lowers `git repack` and its `pack-objects` child without touching the server's other
/// threads. Best effort: a failure only means the repack runs at normal priority.
fn lower_priority_of_this_thread() {
    const BACKGROUND_NICE: i32 = 10;
    if let Err(e) = rustix::process::setpriority_process(None, BACKGROUND_NICE) {
        tracing::debug!(error = %e, "could not lower the repack thread's priority");
    }
}

fn run_git_repack(git: &Path, git_dir: &Path) -> Result<(), StorageError> {
    let output = Command::new(git)
        .arg("--git-dir")
        .arg(git_dir)
        .args(REPACK_ARGS)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| StorageError::Io {
            op: "run git repack",
            path: git.to_owned(),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(StorageError::Repack {
            path: git_dir.to_owned(),
            reason: format!(
                "git repack exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

/// Number of published packs (those with an index) in `objects/pack`.
pub(crate) fn count_packs(git_dir: &Path) -> Result<usize, StorageError> {
    let dir = git_dir.join("objects").join("pack");
    let io = |source| StorageError::Io {
        op: "count packs",
        path: dir.clone(),
        source,
    };
    let mut packs = 0;
    for entry in std::fs::read_dir(&dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("pack-") && name.ends_with(".idx") {
            packs += 1;
        }
    }
    Ok(packs)
}
