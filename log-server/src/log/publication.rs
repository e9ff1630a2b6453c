//! Publication: signing checkpoints, witnessed publication (cosignatures attached by the
//! publisher), the channel files of each commit, and the branch's verifier-key file.
//!
//! Invariants:
//! - Every checkpoint the log writes is signed by every key it carries ([`sign_checkpoint`]):
//!   its per-origin key and, during a key migration, the old single key.
//! - With witnesses, readers get a new checkpoint only once the publisher finished its
//!   witnessing round ([`Log::publish_witnessed`]); a cosigned checkpoint is committed before it
//!   is served. Cosignatures are verified by the publisher before they reach this module.
//! - A re-signed or cosigned checkpoint never changes the size or root of what is committed.

use std::sync::Arc;

use cairn_verifier::checkpoint::Checkpoint;
use cairn_verifier::note::{Note, NoteSignature, NoteSigner};

use super::{Log, LogError, LogKind, signing_error};
use crate::config::LogKeys;
use crate::storage::Change;

/// The file on the branch that names the log's verifier keys (spec/git-layout.md).
pub(super) const VKEY_FILE: &str = "cairn-log.vkey";

/// Signs a checkpoint of `kind` with every key it carries (see [`LogKeys::signers`]).
pub(super) fn sign_checkpoint(keys: &LogKeys, kind: LogKind, text: &str) -> Result<Note, LogError> {
    let signers = keys.signers(kind.name());
    let refs: Vec<&dyn NoteSigner> = signers.iter().map(|s| s as &dyn NoteSigner).collect();
    Note::sign(text, &refs).map_err(signing_error)
}

impl Log {
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
    pub(super) fn resign_stale_checkpoints(&self) -> Result<(), LogError> {
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
    pub(super) fn refresh_vkey_file(&self) -> Result<(), LogError> {
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
