//! The tree state of both logs and the lookup indexes: what readers are served.
//!
//! Invariants:
//! - `entries`, `tree` and `by_leaf` of a [`LogState`] always describe the same prefix of the
//!   log; `committed` <= that size, and only the committed prefix is visible through the
//!   public accessors (readers never see an entry whose commit has not returned).
//! - `checkpoint` is the signed checkpoint of size `committed` in the branch head;
//!   `published` is what readers get (it lags `checkpoint` while witnesses are asked).
//! - The lookup indexes (`by_digest`, `by_name_version`, deprecations) cover exactly the
//!   entries in `entries`; they are hints for clients, which verify what they are pointed to.

use std::collections::HashMap;
use std::sync::Arc;

use cairn_verifier::entry::{Entry, Release};
use cairn_verifier::hash::{Hash, leaf_hash};
use cairn_verifier::keylog::KeyState;
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::Note;
use cairn_verifier::tile::{EntryBundle, Tile, encode_entry_bundle, read_tile_data};
use cairn_verifier::tlog_proof::TlogProof;

use super::LogKind;
use crate::storage::CommitId;

/// One log's tree, entries and committed checkpoint.
#[derive(Debug)]
pub struct LogState {
    pub(super) origin: String,
    pub(super) tree: MemoryTree,
    pub(super) entries: Vec<Arc<[u8]>>,
    pub(super) by_leaf: HashMap<Hash, u64>,
    pub(super) committed: u64,
    pub(super) checkpoint: Arc<[u8]>,
    /// The checkpoint readers get (HTTP `checkpoint`, proofs): the head checkpoint, or with
    /// witnesses the latest one whose witnessing round finished, with the cosignatures it got.
    /// Never larger than `committed`, and it only grows.
    pub(super) published: Arc<[u8]>,
    pub(super) published_size: u64,
}

impl LogState {
    pub(super) fn new(origin: String) -> LogState {
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

    pub(super) fn append(&mut self, entry: Arc<[u8]>) -> u64 {
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

    pub(super) fn publish(&mut self, checkpoint: Arc<[u8]>, size: u64) {
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

    pub(super) fn proof_against(
        &self,
        index: u64,
        size: u64,
        checkpoint: &[u8],
    ) -> Option<Vec<u8>> {
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
    pub(super) key_state: Option<KeyState>,
    pub(super) by_digest: HashMap<[u8; 32], Vec<u64>>,
    pub(super) by_name_version: HashMap<(String, String), u64>,
    pub(super) by_deprecation: HashMap<(String, String), Vec<u64>>,
    /// Every release of a name, (version, index) in index order (the `_versions` lookup).
    pub(super) by_name: HashMap<String, Vec<(String, u64)>>,
    pub(super) head: Option<CommitId>,
}

impl State {
    pub(super) fn empty(prefix: &str) -> State {
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

    pub(super) fn log_mut(&mut self, kind: LogKind) -> &mut LogState {
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
    pub(super) fn index_deprecation_entry(&mut self, index: u64, entry: &[u8]) {
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

    pub(super) fn index_release_entry(&mut self, index: u64, release: &Release) {
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

impl LogState {
    /// Encodes the entries of `bundle` whether or not they are committed yet (for the batch
    /// being written).
    pub(super) fn bundle_range(&self, bundle: &EntryBundle) -> Option<Vec<u8>> {
        let first = usize::try_from(bundle.first_entry()).ok()?;
        let end = first.checked_add(usize::from(bundle.width()))?;
        encode_entry_bundle(self.entries.get(first..end)?).ok()
    }
}
