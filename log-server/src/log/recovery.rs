//! Loading and recovery: rebuilding the state from the branch head, verifying everything.
//!
//! Invariants:
//! - Nothing is served that was not verified at load: both checkpoints carry a valid signature
//!   by one of the data directory's keys, the trees recomputed from every stored entry have the
//!   checkpoints' roots, every stored tile and bundle matches, nothing lies beyond the
//!   checkpoints, and the key log replays from its own genesis.
//! - After a failed commit the state is rebuilt from storage (a few retries); until that works
//!   the log refuses writes ([`Log::is_broken`]) and tries again on every batch.

use std::sync::Arc;
use std::time::Duration;

use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::entry::{Entry, KeyEvent};
use cairn_verifier::keylog::KeyState;
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::Note;
use cairn_verifier::tile::{EntryBundle, TILE_HEIGHT, TILE_WIDTH, read_tile_data, tiles_for_size};

use super::state::State;
use super::{Log, LogError, LogKind};
use crate::config::LogKeys;
use crate::storage::{CommitId, Storage};

impl Log {
    /// Rebuilds `state` from storage after a failed commit, retrying a few times with backoff
    /// (about 1.5 s in all: transient errors such as EMFILE often pass that fast). On success
    /// the log is no longer broken; on failure it is, until a later call succeeds (every
    /// batch tries again).
    pub(super) fn reload_into(&self, state: &mut State) -> Result<(), LogError> {
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
}

/// Rebuilds the state from the branch head, verifying it (see [`Log::open`]).
pub(super) fn load(
    prefix: &str,
    log_keys: &LogKeys,
    storage: &dyn Storage,
) -> Result<State, LogError> {
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
