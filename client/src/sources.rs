//! Two [`Upstream`]s besides HTTP: a directory holding a copy of the log's files (a `cairn
//! mirror` copy, a `git clone` checkout) and a git tree (a commit of the log's branch). Both
//! are as untrusted as a server: paths are checked, reads are capped, trees are bounded.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::error::Context as _;
use crate::upstream::{FetchError, Upstream};

/// Files under a directory, as an [`Upstream`] (the mirror's own copy).
#[derive(Debug)]
pub struct DirFiles {
    /// The directory.
    pub root: PathBuf,
}

impl Upstream for DirFiles {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, FetchError> {
        if path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(FetchError(format!("refusing path {path:?}")));
        }
        let full = self.root.join(path);
        // Read one byte past the limit, so that an oversized file is refused without
        // reading all of it.
        let read = fs::File::open(&full).and_then(|f| {
            let mut data = Vec::new();
            f.take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
                .read_to_end(&mut data)
                .map(|_| data)
        });
        match read {
            Ok(data) if data.len() > limit => Err(FetchError(format!(
                "{} is larger than {limit} bytes",
                full.display()
            ))),
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FetchError(format!("reading {}: {e}", full.display()))),
        }
    }
}

/// Deepest directory a log's layout has below the repository root is 6
/// (`releases/tile/entries/x001/x234/067.p`); a deeper tree is refused.
const MAX_TREE_DEPTH: usize = 8;
/// Most tree entries read from a fetched commit: enough for the tiles and bundles of a log of
/// about four billion entries, and a bound on what an upstream that shares one subtree many
/// times over (a "git bomb") can make the mirror walk.
const MAX_TREE_ENTRIES: usize = 1 << 24;

/// Records the blobs under `releases/` and `keys/` of `tree` by path, refusing a tree deeper
/// than [`MAX_TREE_DEPTH`] or with more than `budget` entries in all (the upstream is
/// untrusted).
fn index_tree(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    prefix: &str,
    depth: usize,
    budget: &mut usize,
    files: &mut std::collections::HashMap<String, gix::ObjectId>,
) -> crate::Result<()> {
    if depth > MAX_TREE_DEPTH {
        return Err(Error::Refused(format!(
            "the fetched tree nests deeper than a log's layout ({prefix:?}); refusing it"
        )));
    }
    let object = repo
        .find_object(tree)
        .with_context(|| format!("reading tree {prefix:?} of the fetched commit"))?;
    let decoded = object
        .try_into_tree()
        .context("a tree entry is not a tree")?;
    let entries: Vec<(gix::objs::tree::EntryMode, String, gix::ObjectId)> = decoded
        .decode()
        .context("decoding a tree of the fetched commit")?
        .entries
        .iter()
        .map(|e| (e.mode, e.filename.to_string(), e.oid.to_owned()))
        .collect();
    *budget = budget.checked_sub(entries.len()).ok_or_else(|| {
        Error::Refused(format!(
            "the fetched tree has more than {MAX_TREE_ENTRIES} entries; refusing it"
        ))
    })?;
    for (mode, name, oid) in entries {
        let path = format!("{prefix}{name}");
        if prefix.is_empty() && name != "releases" && name != "keys" {
            continue;
        }
        if mode.is_tree() {
            index_tree(repo, oid, &format!("{path}/"), depth + 1, budget, files)?;
        } else if mode.is_blob() {
            files.insert(path, oid);
        }
    }
    Ok(())
}

/// The files of the logs in one git tree (a commit of the log's branch), as an [`Upstream`]:
/// a clone of the log's repository, or what a mirror fetched. Untrusted like every upstream.
#[derive(Debug)]
pub struct GitTree {
    repo: gix::ThreadSafeRepository,
    /// Blob ids of the logs' files, by path.
    files: std::collections::HashMap<String, gix::ObjectId>,
    /// Thread-local handles, reused across reads.
    pool: std::sync::Mutex<Vec<gix::Repository>>,
    what: String,
}

impl GitTree {
    /// The logs' files in `tree` of `repo`, described as `what` in messages. The tree is
    /// walked once (bounded in depth and entries: the repository is untrusted).
    pub fn of_tree(
        repo: gix::Repository,
        tree: gix::ObjectId,
        what: String,
    ) -> crate::Result<GitTree> {
        let mut files = std::collections::HashMap::new();
        let mut budget = MAX_TREE_ENTRIES;
        index_tree(&repo, tree, "", 0, &mut budget, &mut files)?;
        Ok(GitTree {
            repo: repo.into_sync(),
            files,
            pool: std::sync::Mutex::default(),
            what,
        })
    }

    /// The logs' files at the tip of `branch` (such as `refs/heads/main`) of the git
    /// repository at `path` (a bare repository or a working copy's `.git`).
    pub fn open(path: &Path, branch: &str) -> crate::Result<GitTree> {
        let repo = gix::open_opts(path, gix::open::Options::isolated())
            .map_err(|e| crate::error::err!("opening git repository {}: {e}", path.display()))?;
        let mut reference = repo
            .find_reference(branch)
            .map_err(|e| crate::error::err!("{}: no {branch}: {e}", path.display()))?;
        let id = reference
            .peel_to_id()
            .map_err(|e| crate::error::err!("{}: resolving {branch}: {e}", path.display()))?
            .detach();
        let tree = repo
            .find_object(id)
            .map_err(|e| crate::error::err!("{}: reading commit {id}: {e}", path.display()))?
            .peel_to_tree()
            .map_err(|e| crate::error::err!("{}: reading the tree of {id}: {e}", path.display()))?
            .id;
        GitTree::of_tree(
            repo,
            tree,
            format!("git {} ({branch} at {id})", path.display()),
        )
    }
}

impl Upstream for GitTree {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn get(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, FetchError> {
        let fail = |e: &dyn std::fmt::Display| FetchError(format!("{}: {path}: {e}", self.what));
        let Some(&oid) = self.files.get(path) else {
            return Ok(None);
        };
        let repo = self
            .pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| self.repo.to_thread_local());
        let read = (|| {
            let header = repo.find_header(oid).map_err(|e| fail(&e))?;
            if usize::try_from(header.size()).unwrap_or(usize::MAX) > limit {
                return Err(fail(&format!("larger than {limit} bytes")));
            }
            let object = repo.find_object(oid).map_err(|e| fail(&e))?;
            Ok(Some(object.detach().data))
        })();
        if let Ok(mut p) = self.pool.lock() {
            p.push(repo);
        }
        read
    }
}
