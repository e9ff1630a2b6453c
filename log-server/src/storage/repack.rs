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
///
/// A run starts once `new_packs` packs have been written since the previous run started, not once
/// the repository holds that many: a geometric repack leaves O(log n) packs behind (4 to 6 after
/// 120,000 entries in the server benchmark, more as the log grows), so a threshold on the total is
/// reached again a few commits after each run, and git ran almost without pause (3.6 to 4.0 ms of
/// git CPU per entry with one-entry batches and a threshold of 16 packs in all, against 2.5 to 2.9
/// with 32 new packs; docs/performance.md, "Log server").
#[derive(Debug)]
pub(crate) struct Repacker {
    git: PathBuf,
    git_dir: PathBuf,
    /// Start a background run once this many packs were written since the last one started;
    /// `None` never starts one.
    new_packs: Option<usize>,
    /// Packs in `objects/pack`, counted at open and after each run, incremented per commit.
    packs: usize,
    /// Packs written since the last run started (at open: all packs, so that a repository left
    /// with many packs is merged soon).
    written: usize,
    running: Option<JoinHandle<Result<(), StorageError>>>,
    /// The failure of the last background run, kept until someone asks.
    last_failure: Option<StorageError>,
}

impl Repacker {
    pub(crate) fn new(
        git: PathBuf,
        git_dir: PathBuf,
        new_packs: Option<usize>,
    ) -> Result<Self, StorageError> {
        let packs = count_packs(&git_dir)?;
        Ok(Repacker {
            git,
            git_dir,
            new_packs,
            packs,
            written: packs,
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
        self.written += 1;
        self.reap();
        if self.running.is_none() && self.new_packs.is_some_and(|n| self.written >= n) {
            self.written = 0;
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
        self.written = 0;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for git that only records that it ran (the real repacks are tested in
    /// `tests/storage.rs`); what is tested here is when the runs start.
    fn recording_git(dir: &Path) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let log = dir.join("runs");
        let script = dir.join("git");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho run >> '{}'\n", log.display()),
        )
        .expect("write script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        (script, log)
    }

    fn runs(log: &Path) -> usize {
        std::fs::read_to_string(log).map_or(0, |s| s.lines().count())
    }

    #[test]
    fn a_run_starts_per_packs_written_not_per_packs_held() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git_dir = dir.path().join("repo.git");
        let pack_dir = git_dir.join("objects").join("pack");
        std::fs::create_dir_all(&pack_dir).expect("mkdir");
        // A repository that already holds 10 packs, as a geometric repack leaves behind.
        for i in 0..10 {
            std::fs::write(pack_dir.join(format!("pack-old{i}.idx")), b"").expect("idx");
        }
        let (git, log) = recording_git(dir.path());
        let mut repacker = Repacker::new(git, git_dir, Some(4)).expect("repacker");
        assert_eq!(repacker.packs(), 10);
        let mut commits = 0;
        // A commit writes one pack, then tells the repacker; waiting for a started run makes
        // the count of runs exact.
        let mut commit = |repacker: &mut Repacker| {
            commits += 1;
            std::fs::write(pack_dir.join(format!("pack-new{commits}.idx")), b"").expect("idx");
            repacker.pack_written();
            repacker.wait();
        };

        // Packs found at open count as written: the first commit starts a run.
        commit(&mut repacker);
        assert_eq!(runs(&log), 1);
        // The stand-in merged nothing, so more than 4 packs are held; yet the next run waits
        // for 4 new ones.
        for held in 12..15 {
            commit(&mut repacker);
            assert_eq!(repacker.packs(), held);
            assert_eq!(runs(&log), 1, "a run started at {held} packs");
        }
        commit(&mut repacker);
        assert_eq!(runs(&log), 2);
        assert!(repacker.take_failure().is_none());

        // A foreground repack restarts the count.
        repacker.repack_now().expect("repack now");
        assert_eq!(runs(&log), 3);
        for _ in 0..3 {
            commit(&mut repacker);
        }
        assert_eq!(runs(&log), 3);
        commit(&mut repacker);
        assert_eq!(runs(&log), 4);
    }
}
