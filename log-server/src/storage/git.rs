//! [`GitStorage`]: the log's files as commits on `refs/heads/main` of a bare git repository, with gix.
//!
//! One commit, step by step (all under the writer mutex, and the repository under an exclusive
//! `flock` so that no second cairn process writes to it):
//! 1. check that the branch is at the expected parent (a cheap early [`StorageError::Conflict`]);
//! 2. edit the parent's tree with gix's tree editor: only the changed blobs and the trees along their
//!    paths are new objects, whatever the size of the rest of the tree. The parent commit's tree
//!    and the trees the last commits wrote are kept in memory ([`TreeCache`]), so the editor
//!    rarely reads through gix (whose lookups rescan `objects/pack` for the pack written last);
//! 3. lock the branch with a gix ref transaction that requires the old value to be the parent (or
//!    the branch to be absent for the first commit): the compare-and-swap. The new value is now
//!    in the lock file, not yet in the ref;
//! 4. write those objects and the commit as one pack under temporary names (`pack.rs`);
//! 5. fsync the pack, its index and the branch's lock file, concurrently (about one fsync's wait);
//! 6. rename the pack and its index into place and fsync the pack directory once;
//! 7. rename the lock file over the branch and fsync its directory.
//!
//! Three waits for the disk in sequence (steps 5, 6, 7), each needing the one before: the objects
//! are durable before their names, and the pack is durable and visible before the branch names it.
//! A crash before step 7 leaves at most an unreferenced pack (or temporary files and the branch's
//! lock file, which `open` removes); a crash after it leaves the new head with all its objects
//! durable. Either way the branch never names a missing object.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use gix::ObjectId;
use gix::objs::tree::EntryKind;
use gix::objs::{Kind, WriteTo};
use gix::refs::Target;
use gix::refs::transaction::{Change as RefChange, LogChange, PreviousValue, RefEdit, RefLog};

use super::durable::{sync_dir, sync_file, sync_files};
use super::pack::{PackObject, TMP_PREFIX, stage_pack};
use super::repack::Repacker;
use super::{
    BRANCH, Change, CommitId, CommitInfo, Storage, StorageError, check_message, check_path,
};

/// Name and email of the author and committer of every commit.
const IDENTITY_NAME: &str = "cairn-log";
const IDENTITY_EMAIL: &str = "cairn-log@localhost";

/// How often a read of the object database is tried before a missing object is believed; see
/// `GitStorage::retrying`.
const LOOKUP_ATTEMPTS: usize = 4;

/// The file, inside the repository directory, that a writer holds an exclusive `flock` on.
const WRITER_LOCK: &str = "cairn-writer.lock";

/// Index slots of gix's object store. The number is fixed when a repository is opened and counts
/// every pack index, so it must exceed the largest number of packs that can pile up between two
/// repacks (one per commit): normally at most a few dozen, but thousands if git is missing or
/// packing is off. 32,000 is close to gix's limit of 2^15 - 1 and costs about a MiB.
const OBJECT_STORE_SLOTS: u16 = 32_000;

/// When packs are merged with `git repack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RepackPolicy {
    /// Never on its own; only through [`GitStorage::repack`]. For benchmarks and tests.
    Never,
    /// Start a background `git repack --geometric=2 -d` once this many packs (one per commit)
    /// have been written since the previous run started.
    Background {
        /// Packs written since the previous run that trigger the next one.
        new_packs: usize,
    },
}

/// Options of [`GitStorage::init_with`] and [`GitStorage::open_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GitOptions {
    /// When packs are merged. Default: in the background once 32 packs (one per commit) were
    /// written since the previous run started.
    pub repack: RepackPolicy,
    /// The git binary that runs `git repack`. Default: `git` from `PATH`.
    pub git_binary: PathBuf,
}

impl Default for GitOptions {
    fn default() -> Self {
        GitOptions {
            // Few enough packs that object lookups stay fast (what a geometric repack leaves,
            // plus at most these 32 and those written during a run), enough commits per run
            // that the repacks (two process starts, delta search, an index, fsyncs) cost little
            // per commit (docs/performance.md, "Log server").
            repack: RepackPolicy::Background { new_packs: 32 },
            git_binary: PathBuf::from("git"),
        }
    }
}

impl GitOptions {
    /// These options with `repack` as the packing policy.
    pub fn with_repack(mut self, repack: RepackPolicy) -> Self {
        self.repack = repack;
        self
    }

    /// These options with `git_binary` as the git to run.
    pub fn with_git_binary(mut self, git_binary: impl Into<PathBuf>) -> Self {
        self.git_binary = git_binary.into();
        self
    }
}

/// Counters of what a [`GitStorage`] wrote since it was opened, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteStats {
    /// Commits whose branch move succeeded.
    pub commits: u64,
    /// Packs written (one per attempted commit, including those that then lost a race).
    pub packs: u64,
    /// Objects in those packs.
    pub objects: u64,
    /// Size of the pack and index files written.
    pub bytes: u64,
    /// Disk space those files took when written (allocated blocks, as `du` counts them): what the
    /// repository would grow by if packs were never merged.
    pub disk_bytes: u64,
}

/// The state behind the writer mutex.
#[derive(Debug)]
struct Writer {
    repacker: Repacker,
    stats: WriteStats,
    trees: TreeCache,
}

/// Most bytes of tree objects [`TreeCache`] holds; when a commit would exceed it, the cache is
/// emptied and starts again with that commit's trees. A commit writes the trees along its paths
/// (a few tens of KiB at a million entries), so this keeps hundreds of commits' trees.
const TREE_CACHE_BYTES: usize = 16 << 20;

/// The last commit's tree id and the tree objects recent commits wrote, by id. Objects are
/// content-addressed, so an entry can never be stale; it is filled only after the pack holding
/// its objects is durable, so the editor never builds on a tree that is not in the repository.
#[derive(Debug, Default)]
struct TreeCache {
    /// (commit, its root tree) of the last commit this storage wrote.
    last: Option<(ObjectId, ObjectId)>,
    trees: HashMap<ObjectId, Vec<u8>>,
    bytes: usize,
}

impl TreeCache {
    /// The root tree of `commit`, if it is the last commit written.
    fn tree_of(&self, commit: ObjectId) -> Option<ObjectId> {
        self.last.filter(|(c, _)| *c == commit).map(|(_, t)| t)
    }

    fn remember(&mut self, commit: ObjectId, tree: ObjectId, trees: Vec<(ObjectId, Vec<u8>)>) {
        let added: usize = trees.iter().map(|(_, data)| data.len()).sum();
        if self.bytes + added > TREE_CACHE_BYTES {
            self.trees.clear();
            self.bytes = 0;
        }
        for (id, data) in trees {
            let len = data.len();
            if self.trees.insert(id, data).is_none() {
                self.bytes += len;
            }
        }
        self.last = Some((commit, tree));
    }
}

/// The object database seen through the [`TreeCache`]: trees from memory when it has them.
struct CachedOdb<'a> {
    cache: &'a TreeCache,
    odb: &'a dyn gix::objs::Find,
}

impl gix::objs::Find for CachedOdb<'_> {
    fn try_find<'b>(
        &self,
        id: &gix::oid,
        buffer: &'b mut Vec<u8>,
    ) -> Result<Option<gix::objs::Data<'b>>, gix::objs::find::Error> {
        match self.cache.trees.get(id) {
            Some(data) => {
                buffer.clear();
                buffer.extend_from_slice(data);
                Ok(Some(gix::objs::Data::new(
                    buffer,
                    Kind::Tree,
                    gix::hash::Kind::Sha1,
                )))
            }
            None => self.odb.try_find(id, buffer),
        }
    }
}

/// A [`Storage`] in a bare git repository: each commit is a commit on [`BRANCH`], whose tree a mirror
/// can `git clone` and serve as a static web site.
///
/// Only one `GitStorage` (in any process) may write to a repository at a time; opening a second one
/// fails with [`StorageError::Locked`]. Other tools must not write to the repository while it is open;
/// reading it (`git clone`, `git fetch`, `git fsck`) is fine.
pub struct GitStorage {
    repo: gix::ThreadSafeRepository,
    git_dir: PathBuf,
    /// Serialises commits; owns the background packing state and the write counters.
    writer: Mutex<Writer>,
    /// Holds the exclusive `flock` for as long as the storage lives; the kernel releases it when the
    /// process dies, however it dies.
    _writer_lock: File,
}

impl std::fmt::Debug for GitStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitStorage")
            .field("git_dir", &self.git_dir)
            .finish_non_exhaustive()
    }
}

impl GitStorage {
    /// Create a new bare repository at `path` (which must not exist or be an empty directory) with
    /// `HEAD` pointing at [`BRANCH`], and open it with default options.
    pub fn init(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::init_with(path, GitOptions::default())
    }

    /// Like [`GitStorage::init`], with `options`.
    pub fn init_with(path: impl AsRef<Path>, options: GitOptions) -> Result<Self, StorageError> {
        let path = path.as_ref();
        if std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(unusable(
                "init",
                path,
                "the directory is not empty; use open for an existing repository",
            ));
        }
        let create = gix::create::Options {
            destination_must_be_empty: Some(true),
            ..Default::default()
        };
        let repo = gix::ThreadSafeRepository::init_opts(
            path,
            gix::create::Kind::Bare,
            create,
            open_options(),
        )
        .map_err(|err| git_error("init", path.display(), err))?;
        check_layout("init", path, &repo.to_thread_local())?;
        let git_dir = canonical_git_dir("init", &repo)?;
        // gix wrote HEAD, config and the directory skeleton without fsync; make them durable before
        // anything depends on them.
        sync_tree(&git_dir)?;
        if let Some(parent) = git_dir.parent() {
            sync_dir(parent)?;
        }
        Self::finish_open("init", repo, git_dir, options)
    }

    /// Open the existing bare repository at `path` with default options.
    ///
    /// Refused with [`StorageError::Unusable`]: a path that is not a git repository, a repository with
    /// a working tree, a SHA-256 repository, `HEAD` not pointing at [`BRANCH`], other branches, or a
    /// branch that does not point at a commit.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with(path, GitOptions::default())
    }

    /// Like [`GitStorage::open`], with `options`.
    pub fn open_with(path: impl AsRef<Path>, options: GitOptions) -> Result<Self, StorageError> {
        let path = path.as_ref();
        let repo = gix::open_opts(path, open_options())
            .map_err(|err| unusable("open", path, format!("not a git repository: {err}")))?;
        check_layout("open", path, &repo)?;
        let repo = repo.into_sync();
        let git_dir = canonical_git_dir("open", &repo)?;
        Self::finish_open("open", repo, git_dir, options)
    }

    fn finish_open(
        op: &'static str,
        repo: gix::ThreadSafeRepository,
        git_dir: PathBuf,
        options: GitOptions,
    ) -> Result<Self, StorageError> {
        let writer_lock = lock_writer(op, &git_dir)?;
        remove_crash_leftovers(&git_dir)?;
        let new_packs = match options.repack {
            RepackPolicy::Never => None,
            RepackPolicy::Background { new_packs } => Some(new_packs.max(1)),
        };
        let repacker = Repacker::new(options.git_binary, git_dir.clone(), new_packs)?;
        Ok(GitStorage {
            repo,
            git_dir,
            writer: Mutex::new(Writer {
                repacker,
                stats: WriteStats::default(),
                trees: TreeCache::default(),
            }),
            _writer_lock: writer_lock,
        })
    }

    /// The repository directory.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// Merge packs now with `git repack` (after waiting for a background run to finish), blocking
    /// commits meanwhile. The background policy makes this unnecessary in normal operation.
    pub fn repack(&self) -> Result<(), StorageError> {
        self.writer().repacker.repack_now()
    }

    /// Number of packs in the repository (counted after each repack, plus one per commit since).
    pub fn pack_count(&self) -> usize {
        self.writer().repacker.packs()
    }

    /// The error of the last finished background repack, if it failed (once; later calls return
    /// `None` until another run fails). Commits do not fail because of it: a failed repack only means
    /// more packs until the next run.
    pub fn take_repack_failure(&self) -> Option<StorageError> {
        self.writer().repacker.take_failure()
    }

    /// Wait for a running background repack to finish (for an orderly shutdown), then return what
    /// [`GitStorage::take_repack_failure`] would. Commits wait meanwhile.
    pub fn wait_for_repack(&self) -> Option<StorageError> {
        let mut writer = self.writer();
        writer.repacker.wait();
        writer.repacker.take_failure()
    }

    /// What this storage has written since it was opened.
    pub fn stats(&self) -> WriteStats {
        self.writer().stats
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        // The guarded state is counters and the background thread handle; a panic elsewhere while
        // holding the lock cannot make them inconsistent with the repository.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn local(&self) -> gix::Repository {
        self.repo.to_thread_local()
    }

    /// Run a read-only operation on the object database, again if it failed to find an object.
    ///
    /// gix 0.87's object store (shared by all handles of one repository) only learns about a new pack
    /// when a lookup misses and it rescans `objects/pack`. When several threads miss at once, one of
    /// them can be handed the snapshot another thread built a moment earlier and report a miss for
    /// an object whose pack is already published (seen in the concurrent-writers test: the second
    /// lookup always succeeds). A miss is also what a repack's deleted packs look like. So a failed
    /// lookup is retried; an id that is really unknown costs a few directory scans.
    fn retrying<T>(
        &self,
        mut op: impl FnMut(&gix::Repository) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut attempt = 1;
        loop {
            match op(&self.local()) {
                Err(StorageError::UnknownCommit { .. } | StorageError::Git { .. })
                    if attempt < LOOKUP_ATTEMPTS =>
                {
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    fn find_commit<'r>(
        &self,
        repo: &'r gix::Repository,
        op: &'static str,
        id: &CommitId,
    ) -> Result<gix::Commit<'r>, StorageError> {
        let unknown = || StorageError::UnknownCommit { op, id: id.clone() };
        let oid = ObjectId::from_hex(id.as_str().as_bytes()).map_err(|_| unknown())?;
        let object = repo
            .try_find_object(oid)
            .map_err(|err| git_error(op, id, err))?
            .ok_or_else(unknown)?;
        if object.kind != Kind::Commit {
            return Err(unknown());
        }
        Ok(object.into_commit())
    }

    /// Lock the branch for a move from `parent` to `new` (the compare-and-swap: fails with
    /// [`StorageError::Conflict`] unless the branch is at `parent`). The new value is written to
    /// the lock file (not fsynced; see [`GitStorage::lock_file`]); the move happens when the
    /// returned transaction is committed, and dropping it removes the lock.
    fn lock_branch<'s>(
        &self,
        refs: &'s gix::refs::file::Store,
        parent: Option<ObjectId>,
        new: ObjectId,
    ) -> Result<gix::refs::file::Transaction<'s, 's>, StorageError> {
        let name = gix::refs::FullName::try_from(BRANCH)
            .map_err(|err| git_error("commit", BRANCH, err))?;
        let edit = RefEdit {
            change: RefChange::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: "cairn: commit".into(),
                },
                expected: match parent {
                    Some(parent) => PreviousValue::MustExistAndMatch(Target::Object(parent)),
                    None => PreviousValue::MustNotExist,
                },
                new: Target::Object(new),
            },
            name,
            deref: false,
        };
        refs.transaction()
            .prepare(
                Some(edit),
                gix::lock::acquire::Fail::Immediately,
                gix::lock::acquire::Fail::Immediately,
            )
            .map_err(|err| {
                use gix::refs::file::transaction::prepare::Error as Prepare;
                match err {
                    Prepare::ReferenceOutOfDate { .. }
                    | Prepare::MustExist { .. }
                    | Prepare::MustNotExist { .. } => StorageError::Conflict {
                        expected: parent.map(to_commit_id),
                        actual: self.head().ok().flatten(),
                    },
                    other => git_error("commit: lock branch", BRANCH, other),
                }
            })
    }

    /// The branch's lock file, which `prepare` wrote the new value into. gix does not fsync it, so
    /// the commit does before it is renamed over the branch: otherwise a power loss could leave a
    /// renamed but empty ref file.
    fn lock_file(&self) -> PathBuf {
        let mut lock_path = self.git_dir.join(BRANCH).into_os_string();
        lock_path.push(".lock");
        PathBuf::from(lock_path)
    }

    /// Move the branch: rename the (fsynced) lock file over it, then fsync its directory.
    fn move_branch(
        &self,
        locked: gix::refs::file::Transaction<'_, '_>,
    ) -> Result<(), StorageError> {
        locked
            .commit(None)
            .map_err(|err| git_error("commit: move branch", BRANCH, err))?;
        let ref_path = self.git_dir.join(BRANCH);
        let ref_dir = ref_path.parent().unwrap_or(&self.git_dir);
        sync_dir(ref_dir)
    }
}

impl Drop for GitStorage {
    fn drop(&mut self) {
        // Let a running `git repack` finish so that no thread outlives the storage; the repository is
        // consistent either way.
        self.writer().repacker.wait();
    }
}

impl Storage for GitStorage {
    fn head(&self) -> Result<Option<CommitId>, StorageError> {
        let repo = self.local();
        let reference = repo
            .try_find_reference(BRANCH)
            .map_err(|err| git_error("head", BRANCH, err))?;
        match reference.map(|r| r.target().into_owned()) {
            None => Ok(None),
            Some(Target::Object(id)) => Ok(Some(to_commit_id(id))),
            Some(Target::Symbolic(name)) => Err(StorageError::Corrupt {
                op: "head",
                path: BRANCH.to_owned(),
                reason: format!("the branch is a symbolic reference to {}", name.as_bstr()),
            }),
        }
    }

    fn read(&self, at: &CommitId, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_path("read", path)?;
        self.retrying(|repo| {
            let commit = self.find_commit(repo, "read", at)?;
            let tree = commit.tree().map_err(|err| git_error("read", at, err))?;
            let entry = tree
                .lookup_entry(path.split('/'))
                .map_err(|err| git_error("read", path, err))?;
            match entry {
                Some(entry)
                    if matches!(
                        entry.mode().kind(),
                        EntryKind::Blob | EntryKind::BlobExecutable
                    ) =>
                {
                    let blob = entry.object().map_err(|err| git_error("read", path, err))?;
                    Ok(Some(blob.detach().data))
                }
                _ => Ok(None),
            }
        })
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
        let mut writer = self.writer();
        let head = self.head()?;
        if head.as_ref() != parent {
            return Err(StorageError::Conflict {
                expected: parent.cloned(),
                actual: head,
            });
        }
        let built = self
            .retrying(|repo| build_commit(self, repo, &writer.trees, parent, changes, message))?;
        let object_count = built.objects.len() as u64;
        let new_trees: Vec<(ObjectId, Vec<u8>)> = built
            .objects
            .iter()
            .filter(|o| o.kind == Kind::Tree)
            .map(|o| (o.id, o.data.to_vec()))
            .collect();

        // No reflog: the history of the branch is the commit chain itself, and a bare repository
        // does not log ref updates by default anyway. This also means no committer is needed.
        let mut refs = self.local().refs.clone();
        refs.write_reflog = gix::refs::store::WriteReflog::Disable;
        let locked = self.lock_branch(&refs, built.parent, built.commit)?;
        let staged = stage_pack(&self.git_dir.join("objects").join("pack"), built.objects)?;
        let [pack, index] = staged.files();
        let lock_file = self.lock_file();
        sync_files(&[pack, index, &lock_file])?;
        let written = staged.publish()?;
        writer.repacker.pack_written();
        writer.stats.packs += 1;
        writer.stats.objects += object_count;
        writer.stats.bytes += written.bytes;
        writer.stats.disk_bytes += written.disk_bytes;
        // The pack is durable: its trees may now be built on.
        writer.trees.remember(built.commit, built.tree, new_trees);
        self.move_branch(locked)?;
        writer.stats.commits += 1;
        Ok(to_commit_id(built.commit))
    }

    fn commit_info(&self, at: &CommitId) -> Result<CommitInfo, StorageError> {
        self.retrying(|repo| {
            let commit = self.find_commit(repo, "commit_info", at)?;
            let decoded = commit
                .decode()
                .map_err(|err| git_error("commit_info", at, err))?;
            let parent = decoded.parents().next().map(to_commit_id);
            let message = std::str::from_utf8(decoded.message)
                .map_err(|_| StorageError::Corrupt {
                    op: "commit_info",
                    path: at.to_string(),
                    reason: "the commit message is not UTF-8".to_owned(),
                })?
                .to_owned();
            Ok(CommitInfo { parent, message })
        })
    }
}

/// What [`build_commit`] makes.
struct BuiltCommit<'c> {
    /// The changed blobs, the trees along their paths and the commit.
    objects: Vec<PackObject<'c>>,
    parent: Option<ObjectId>,
    commit: ObjectId,
    tree: ObjectId,
}

/// The new objects of a commit of `changes` on top of `parent` (the changed blobs, the trees along
/// their paths and the commit), the parent's id and the new commit's and tree's ids. Reads only:
/// trees from `cache` when it has them, else through gix.
fn build_commit<'c>(
    storage: &GitStorage,
    repo: &gix::Repository,
    cache: &TreeCache,
    parent: Option<&CommitId>,
    changes: &'c [Change],
    message: &str,
) -> Result<BuiltCommit<'c>, StorageError> {
    let parent_id = parent
        .map(|id| {
            ObjectId::from_hex(id.as_str().as_bytes()).map_err(|_| StorageError::UnknownCommit {
                op: "commit",
                id: id.clone(),
            })
        })
        .transpose()?;
    let odb = CachedOdb {
        cache,
        odb: &repo.objects,
    };
    let base_tree = match (parent, parent_id) {
        (Some(parent), Some(parent_id)) => {
            let tree_id = match cache.tree_of(parent_id) {
                Some(tree) => tree,
                None => storage
                    .find_commit(repo, "commit", parent)?
                    .tree_id()
                    .map_err(|err| git_error("commit", BRANCH, err))?
                    .detach(),
            };
            let mut buffer = Vec::new();
            let data = gix::objs::Find::try_find(&odb, &tree_id, &mut buffer)
                .map_err(|err| StorageError::Git {
                    op: "commit",
                    path: BRANCH.to_owned(),
                    source: err,
                })?
                .ok_or_else(|| StorageError::UnknownCommit {
                    op: "commit",
                    id: parent.clone(),
                })?;
            let decoded = gix::objs::TreeRef::from_bytes(data.data, gix::hash::Kind::Sha1)
                .map_err(|err| git_error("commit", BRANCH, err))?;
            gix::objs::Tree::from(decoded)
        }
        _ => gix::objs::Tree::empty(),
    };

    let mut objects: Vec<PackObject<'_>> = Vec::with_capacity(changes.len() * 4 + 2);
    // The editor loads only the trees along the edited paths and writes only those it changed.
    let mut editor = gix::objs::tree::Editor::new(base_tree, &odb, gix::hash::Kind::Sha1);
    for change in changes {
        let path = change.path().split('/');
        match change {
            Change::Put { data, .. } => {
                let id = hash("commit", Kind::Blob, data)?;
                objects.push(PackObject {
                    id,
                    kind: Kind::Blob,
                    data: Cow::Borrowed(data),
                });
                editor.upsert(path, EntryKind::Blob, id)
            }
            Change::Delete { .. } => editor.remove(path),
        }
        .map_err(|err| git_error("commit: edit tree", change.path(), err))?;
    }
    let tree_id = editor.write(|tree| -> Result<ObjectId, StorageError> {
        let mut data = Vec::new();
        tree.write_to(&mut data)
            .map_err(|err| git_error("commit: encode tree", BRANCH, err))?;
        let id = hash("commit", Kind::Tree, &data)?;
        objects.push(PackObject {
            id,
            kind: Kind::Tree,
            data: Cow::Owned(data),
        });
        Ok(id)
    })?;
    if tree_id.is_empty_tree() {
        // Everything was deleted: the editor may return the well-known id without writing it.
        objects.push(PackObject {
            id: tree_id,
            kind: Kind::Tree,
            data: Cow::Borrowed(&[]),
        });
    }

    let identity = gix::actor::Signature {
        name: IDENTITY_NAME.into(),
        email: IDENTITY_EMAIL.into(),
        time: gix::date::Time::now_utc(),
    };
    let commit = gix::objs::Commit {
        tree: tree_id,
        parents: parent_id.into_iter().collect(),
        author: identity.clone(),
        committer: identity,
        encoding: None,
        message: message.into(),
        extra_headers: Vec::new(),
    };
    let mut data = Vec::new();
    commit
        .write_to(&mut data)
        .map_err(|err| git_error("commit: encode commit", BRANCH, err))?;
    let commit_id = hash("commit", Kind::Commit, &data)?;
    objects.push(PackObject {
        id: commit_id,
        kind: Kind::Commit,
        data: Cow::Owned(data),
    });

    Ok(BuiltCommit {
        objects,
        parent: parent_id,
        commit: commit_id,
        tree: tree_id,
    })
}

/// Open options: ignore the user's and the system's git configuration and environment so that the
/// repository behaves the same under every account, and size the object store for many packs.
fn open_options() -> gix::open::Options {
    gix::open::Options::isolated()
        .object_store_slots(gix::odb::store::init::Slots::Given(OBJECT_STORE_SLOTS))
}

/// Refuse repositories this storage must not write to.
fn check_layout(op: &'static str, path: &Path, repo: &gix::Repository) -> Result<(), StorageError> {
    if !repo.is_bare() {
        return Err(unusable(
            op,
            path,
            "not a bare repository (it has a working tree)",
        ));
    }
    if repo.object_hash() != gix::hash::Kind::Sha1 {
        return Err(unusable(
            op,
            path,
            "uses SHA-256 object ids; cairn expects SHA-1",
        ));
    }
    let head = repo.head_name().map_err(|err| git_error(op, "HEAD", err))?;
    if head.as_ref().map(|name| name.as_bstr()) != Some(BRANCH.into()) {
        let found = head.map_or_else(|| "a detached commit".to_owned(), |name| name.to_string());
        return Err(unusable(
            op,
            path,
            format!("HEAD points to {found}; cairn's layout has HEAD -> {BRANCH} only"),
        ));
    }
    let references = repo
        .references()
        .map_err(|err| git_error(op, "refs", err))?;
    for reference in references
        .local_branches()
        .map_err(|err| git_error(op, "refs/heads", err))?
    {
        let reference = reference.map_err(|err| StorageError::Git {
            op,
            path: "refs/heads".to_owned(),
            source: err,
        })?;
        let name = reference.name().as_bstr().to_string();
        if name != BRANCH {
            return Err(unusable(
                op,
                path,
                format!("has branch {name}; cairn's layout has the single branch {BRANCH}"),
            ));
        }
        let target = reference.target().try_id().map(ToOwned::to_owned);
        let is_commit = match target {
            Some(id) => repo
                .try_find_header(id)
                .map_err(|err| git_error(op, BRANCH, err))?
                .is_some_and(|header| header.kind() == Kind::Commit),
            None => false,
        };
        if !is_commit {
            return Err(unusable(
                op,
                path,
                format!("{BRANCH} does not point at a commit"),
            ));
        }
    }
    Ok(())
}

fn canonical_git_dir(
    op: &'static str,
    repo: &gix::ThreadSafeRepository,
) -> Result<PathBuf, StorageError> {
    std::fs::canonicalize(repo.git_dir()).map_err(|source| StorageError::Io {
        op,
        path: repo.git_dir().to_owned(),
        source,
    })
}

/// Take the exclusive writer lock, without waiting.
pub(crate) fn lock_writer(op: &'static str, git_dir: &Path) -> Result<File, StorageError> {
    let path = git_dir.join(WRITER_LOCK);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StorageError::Io {
            op,
            path: path.clone(),
            source,
        })?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(StorageError::Locked {
            op,
            path: git_dir.to_owned(),
            lock: path,
        }),
        Err(err) => Err(StorageError::Io {
            op,
            path,
            source: err.into(),
        }),
    }
}

/// Remove what a killed writer can leave behind. Safe because we hold the writer lock, so no other
/// cairn process is in the middle of a commit: a leftover branch lock file would otherwise block every
/// later commit, and temporary pack files would only waste space.
fn remove_crash_leftovers(git_dir: &Path) -> Result<(), StorageError> {
    let io = |op, path: &Path| {
        let path = path.to_owned();
        move |source| StorageError::Io { op, path, source }
    };
    let mut branch_lock = git_dir.join(BRANCH).into_os_string();
    branch_lock.push(".lock");
    let branch_lock = PathBuf::from(branch_lock);
    match std::fs::remove_file(&branch_lock) {
        Ok(()) => {
            if let Some(dir) = branch_lock.parent() {
                sync_dir(dir)?;
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io("remove stale branch lock", &branch_lock)(err)),
    }
    let pack_dir = git_dir.join("objects").join("pack");
    let mut removed = false;
    for entry in std::fs::read_dir(&pack_dir).map_err(io("list packs", &pack_dir))? {
        let entry = entry.map_err(io("list packs", &pack_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // An index whose pack is missing: a commit renames the pack, then its index, then fsyncs
        // the directory once, so after a power loss on a file system that does not keep the
        // order of the two renames the index may be there alone. It names no reachable object
        // (the branch moves only after the fsync) and git never leaves one behind either (it
        // renames a new pack before its index, and deletes an old pack before its index), so
        // removing it is always safe, and readers would otherwise fail on it.
        let orphan_index = name
            .strip_suffix(".idx")
            .is_some_and(|stem| !pack_dir.join(format!("{stem}.pack")).exists());
        if name.starts_with(TMP_PREFIX) || orphan_index {
            // Gone already is fine: the background `git repack` of the process that was killed
            // may still be running, and it deletes an old pack, then its index, so the index
            // can look orphaned here for a moment and vanish before this removes it.
            removed |= remove_if_present(&entry.path())
                .map_err(io("remove temporary pack", &entry.path()))?;
        }
    }
    if removed {
        sync_dir(&pack_dir)?;
    }
    Ok(())
}

/// Removes `path`; `Ok(false)` when it did not exist (any more).
fn remove_if_present(path: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

/// fsync every file and directory below `dir` (a freshly created repository skeleton).
fn sync_tree(dir: &Path) -> Result<(), StorageError> {
    let entries = std::fs::read_dir(dir).map_err(|source| StorageError::Io {
        op: "fsync repository",
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| StorageError::Io {
            op: "fsync repository",
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            sync_file(&path)?;
        }
    }
    sync_dir(dir)
}

fn hash(op: &'static str, kind: Kind, data: &[u8]) -> Result<ObjectId, StorageError> {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, data)
        .map_err(|err| git_error(op, "object hash", err))
}

fn to_commit_id(id: ObjectId) -> CommitId {
    CommitId::new(id.to_hex().to_string())
}

fn unusable(op: &'static str, path: &Path, reason: impl Into<String>) -> StorageError {
    StorageError::Unusable {
        op,
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn git_error(
    op: &'static str,
    path: impl std::fmt::Display,
    err: impl std::error::Error + Send + Sync + 'static,
) -> StorageError {
    StorageError::Git {
        op,
        path: path.to_string(),
        source: Box::new(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leftover_that_vanished_meanwhile_is_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pack-1.idx");
        std::fs::write(&path, b"x").expect("write");
        assert!(remove_if_present(&path).expect("removed"));
        // What the startup cleanup met after a SIGKILL: the killed server's `git repack`
        // removed the index between the directory listing and the removal.
        assert!(!remove_if_present(&path).expect("already gone is fine"));
    }
}
