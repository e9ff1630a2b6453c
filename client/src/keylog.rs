//! The client's copy of the key log (`spec/client.md` step 1 and "Key-log snapshots"):
//! `cairn keylog sync`, `cairn keylog export`, and the key state `verify` judges releases with.
//!
//! A copy is the key-log checkpoint (with cosignatures) and every key entry. It is trusted only
//! after the checkpoint verifies, the entries hash to its root and they replay from the pinned
//! genesis roots; a newer copy replaces an older one only through a verified consistency proof.

use std::io::Read as _;

use crate::error::Context as _;
use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::keylog::{KeyState, replay};
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::MAX_NOTE_SIZE;
use cairn_verifier::tile::{EntryBundle, MAX_ENTRY_SIZE, TILE_HEIGHT, TileHashReader, TreeHead};

use crate::Error;
use crate::checkpoints::{Freshness, check_consistent, check_witnesses, verify_signature};
use crate::report::Report;
use crate::state::{Slot, Store, checkpoint_size, store_newer};
use crate::trust::{LogName, Trust};
use crate::upstream::{Upstream, UpstreamTiles, bundle_of, checkpoint_of};

/// First line of a decompressed snapshot.
pub const SNAPSHOT_HEADER: &str = "cairn-keylog-snapshot/v1";
/// Largest snapshot accepted, compressed or decompressed.
pub const MAX_SNAPSHOT_SIZE: usize = 64 << 20;
/// Most key-log entries a client keeps. The key log is small by design (a few events a year);
/// the smallest valid key event is over 200 bytes, so a log within [`MAX_SNAPSHOT_SIZE`] has
/// fewer. A log-signed checkpoint claiming more is refused before anything is fetched, so a
/// hostile log cannot make a client collect entries until it runs out of memory.
pub const MAX_KEYLOG_ENTRIES: u64 = 1 << 18;
/// zstd level for snapshots: key entries are small text, any level is fast.
const ZSTD_LEVEL: i32 = 19;

/// An unverified key-log copy: the checkpoint note, verbatim, and every entry in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The key-log checkpoint with its cosignatures.
    pub checkpoint: Vec<u8>,
    /// Key-log entries `0..size`.
    pub entries: Vec<Vec<u8>>,
}

impl Snapshot {
    /// The decompressed encoding (see `spec/client.md`).
    pub fn encode(&self) -> crate::Result<Vec<u8>> {
        let mut out = format!(
            "{SNAPSHOT_HEADER}\nsize {}\ncheckpoint {}\n",
            self.entries.len(),
            self.checkpoint.len()
        )
        .into_bytes();
        out.extend_from_slice(&self.checkpoint);
        for e in &self.entries {
            let len = u16::try_from(e.len()).context("a key entry is larger than 65,535 bytes")?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(e);
        }
        Ok(out)
    }

    /// The zstd-compressed snapshot file.
    pub fn to_file_bytes(&self) -> crate::Result<Vec<u8>> {
        let raw = self.encode()?;
        zstd::bulk::compress(&raw, ZSTD_LEVEL).context("compressing the key-log snapshot")
    }

    /// Parses a snapshot file (zstd-compressed), strictly and with size caps first.
    pub fn from_file_bytes(file: &[u8]) -> Result<Snapshot, String> {
        if file.len() > MAX_SNAPSHOT_SIZE {
            return Err(format!("larger than {MAX_SNAPSHOT_SIZE} bytes"));
        }
        let mut raw = Vec::new();
        let decoder =
            zstd::stream::read::Decoder::new(file).map_err(|e| format!("not zstd data: {e}"))?;
        let cap = u64::try_from(MAX_SNAPSHOT_SIZE).unwrap_or(u64::MAX) + 1;
        decoder
            .take(cap)
            .read_to_end(&mut raw)
            .map_err(|e| format!("not valid zstd data: {e}"))?;
        if raw.len() > MAX_SNAPSHOT_SIZE {
            return Err(format!(
                "decompresses to more than {MAX_SNAPSHOT_SIZE} bytes"
            ));
        }
        Snapshot::decode(&raw)
    }

    /// Parses the decompressed encoding, strictly, refusing counts the data cannot hold
    /// before allocating for them.
    pub fn decode(raw: &[u8]) -> Result<Snapshot, String> {
        let mut rest = raw;
        let mut line = |what: &str| -> Result<String, String> {
            let end = rest
                .iter()
                .take(64)
                .position(|&b| b == b'\n')
                .ok_or_else(|| format!("missing {what} line"))?;
            let text = std::str::from_utf8(&rest[..end])
                .map_err(|_| format!("{what} line is not UTF-8"))?
                .to_owned();
            rest = &rest[end + 1..];
            Ok(text)
        };
        if line("header")? != SNAPSHOT_HEADER {
            return Err(format!("does not start with {SNAPSHOT_HEADER:?}"));
        }
        let number = |text: String, key: &str| -> Result<usize, String> {
            text.strip_prefix(key)
                .and_then(|v| v.strip_prefix(' '))
                .and_then(cairn_verifier::decimal::parse_canonical_u64)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| format!("bad {key} line {text:?}"))
        };
        let size = number(line("size")?, "size")?;
        let cp_len = number(line("checkpoint")?, "checkpoint")?;
        if cp_len > MAX_NOTE_SIZE {
            return Err("checkpoint larger than a note may be".to_owned());
        }
        // Each entry takes at least its two length bytes: refuse a size the data cannot hold
        // before allocating for it.
        if size > rest.len() / 2 {
            return Err(format!("size {size} is more than the data can hold"));
        }
        if u64::try_from(size).unwrap_or(u64::MAX) > MAX_KEYLOG_ENTRIES {
            return Err(format!(
                "size {size} is more than the {MAX_KEYLOG_ENTRIES} entries a client keeps"
            ));
        }
        if rest.len() < cp_len {
            return Err("truncated checkpoint".to_owned());
        }
        let (checkpoint, mut rest) = rest.split_at(cp_len);
        let mut entries = Vec::with_capacity(size);
        for i in 0..size {
            let Some((len, tail)) = rest.split_first_chunk::<2>() else {
                return Err(format!("truncated at entry {i}"));
            };
            let len = usize::from(u16::from_be_bytes(*len));
            if len > MAX_ENTRY_SIZE || tail.len() < len {
                return Err(format!("truncated at entry {i}"));
            }
            let (entry, tail) = tail.split_at(len);
            entries.push(entry.to_vec());
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(format!("{} bytes after the last entry", rest.len()));
        }
        Ok(Snapshot {
            checkpoint: checkpoint.to_vec(),
            entries,
        })
    }
}

/// A verified key log: checkpoint, entries that hash to its root, and the replayed key state.
#[derive(Debug)]
pub struct KeyLog {
    /// The key-log checkpoint.
    pub checkpoint: VerifiedCheckpoint,
    /// Every entry, `0..checkpoint.size()`.
    pub entries: Vec<Vec<u8>>,
    /// The key state replayed from the pinned roots.
    pub state: KeyState,
}

impl KeyLog {
    /// The snapshot of this copy.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            checkpoint: self.checkpoint.note_bytes().to_vec(),
            entries: self.entries.clone(),
        }
    }
}

fn tree_of(entries: &[Vec<u8>]) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for e in entries {
        tree.append(e);
    }
    tree
}

/// Checks that `entries` are exactly what `cp` commits to, then replays them from the pinned
/// roots.
fn check_entries_and_replay(
    trust: &Trust,
    checkpoint: VerifiedCheckpoint,
    entries: Vec<Vec<u8>>,
    what: &str,
    report: &mut Report,
) -> crate::Result<KeyLog> {
    let count = u64::try_from(entries.len()).unwrap_or(u64::MAX);
    let root = tree_of(&entries).root();
    if count != checkpoint.size() || root != *checkpoint.root() {
        let detail = format!(
            "{what}: {count} entries with root {root} do not match the checkpoint (size {}, root {})",
            checkpoint.size(),
            checkpoint.root()
        );
        report.fail("keylog-entries", &detail);
        return Err(Error::Refused(format!("key log: {detail}")));
    }
    report.pass(
        "keylog-entries",
        format!("{what}: all {count} key entries hash to the checkpoint's root"),
    );
    let roots = trust.roots.keys();
    let state = match replay(roots, trust.roots.threshold(), &entries) {
        Ok(state) => state,
        Err(e) => {
            let detail = format!("{what}: {e}");
            report.fail("keylog-replay", &detail);
            return Err(Error::Refused(format!(
                "the key log breaks its rules (the log misbehaved, or the pinned roots are not \
                 this log's): {detail}"
            )));
        }
    };
    report.pass(
        "keylog-replay",
        format!(
            "{what}: {} events replayed from the pinned roots ({} release keys)",
            state.size(),
            state.release_keys().len()
        ),
    );
    Ok(KeyLog {
        checkpoint,
        entries,
        state,
    })
}

/// Verifies a snapshot: the log's signature, the witness quorum (and freshness when
/// `freshness` says so), the entries against the root, and the replay.
pub fn verify_snapshot(
    trust: &Trust,
    snapshot: Snapshot,
    what: &str,
    now: u64,
    freshness: Freshness,
    report: &mut Report,
) -> crate::Result<KeyLog> {
    let cp = verify_signature(trust, LogName::Keys, &snapshot.checkpoint, what, report)?;
    check_witnesses(trust, &cp, what, now, freshness, report)?;
    check_entries_and_replay(trust, cp, snapshot.entries, what, report)
}

/// Loads the stored key log, if any. It was fully verified before it was stored; its
/// signature, entries and replay are checked again (cheap), its witnesses only when
/// `freshness` asks for it.
pub fn load_stored(
    state: &dyn Store,
    trust: &Trust,
    now: u64,
    freshness: Option<Freshness>,
    report: &mut Report,
) -> crate::Result<Option<KeyLog>> {
    let slot = Slot::keylog();
    let Some(bytes) = state.read(trust, &slot, MAX_SNAPSHOT_SIZE)? else {
        return Ok(None);
    };
    let snapshot = Snapshot::from_file_bytes(&bytes).map_err(|e| {
        crate::error::err!(
            "the stored key log ({}) is damaged ({e}); remove it and run `cairn keylog sync`",
            slot.as_str()
        )
    })?;
    let what = "stored key log";
    let cp = match stored_before_migration(trust, &snapshot.checkpoint) {
        Some(cp) => {
            report.pass(
                "checkpoint-signature",
                format!(
                    "{what}: {} size {} signed by the log's key from before per-origin keys \
                     (now the release log's key)",
                    cp.origin(),
                    cp.size()
                ),
            );
            cp
        }
        None => verify_signature(trust, LogName::Keys, &snapshot.checkpoint, what, report)?,
    };
    if let Some(freshness) = freshness {
        check_witnesses(trust, &cp, what, now, freshness, report)?;
    }
    check_entries_and_replay(trust, cp, snapshot.entries, what, report).map(Some)
}

/// A key log this client stored before its log moved to per-origin keys (`cairn migrate-keys`)
/// and before the key log grew again carries only the old single key's signature; that key is
/// the release log's key now (the migration keeps it). Accepted for this client's own stored
/// copy only, which it verified when it stored it, so a client that takes the new keys keeps
/// its key log, and its consistency with what it saw, instead of failing. `None` when the key
/// log's own key verifies it (or nothing does).
fn stored_before_migration(trust: &Trust, bytes: &[u8]) -> Option<VerifiedCheckpoint> {
    let origin = trust.origin(LogName::Keys);
    let keys = trust.verifier(LogName::Keys).ok()?;
    if VerifiedCheckpoint::verify_without_extensions(bytes, &origin, &keys).is_ok() {
        return None;
    }
    let old = trust
        .verifier(LogName::Releases)
        .ok()?
        .with_name(cairn_verifier::note::NoteVerifier::name(&keys).clone());
    VerifiedCheckpoint::verify_without_extensions(bytes, &origin, &old).ok()
}

/// Of two verified copies of the key log, the newer one, after checking they are consistent
/// (both hold every entry, so the proof is computed locally).
pub fn newer_of(
    state: &dyn Store,
    a: KeyLog,
    b: KeyLog,
    report: &mut Report,
) -> crate::Result<KeyLog> {
    let (older, newer) = if a.checkpoint.size() <= b.checkpoint.size() {
        (a, b)
    } else {
        (b, a)
    };
    let (s1, s2) = (older.checkpoint.size(), newer.checkpoint.size());
    let proof = if s1 == 0 || s1 == s2 {
        Vec::new()
    } else {
        tree_of(&newer.entries)
            .prove_consistency(s1, s2)
            .map_err(|e| crate::error::err!("key-log consistency proof {s1} -> {s2}: {e}"))?
    };
    check_consistent(
        state,
        &older.checkpoint,
        &newer.checkpoint,
        &proof,
        "key log",
        report,
    )?;
    Ok(newer)
}

/// Fetches the log's key-log checkpoint and entries and verifies them against the stored copy
/// (`spec/client.md` step 1). Returns the verified copy and the size of the stored copy it
/// extends (`None` on the first sync). Nothing is stored here.
///
/// `witnesses` says how the checkpoint's cosignatures are checked; a monitor passes `None`
/// and judges quorum and age itself, to report them rather than stop.
pub fn sync<U: Upstream + ?Sized>(
    server: &U,
    state: &dyn Store,
    trust: &Trust,
    now: u64,
    witnesses: Option<Freshness>,
    report: &mut Report,
) -> crate::Result<(KeyLog, Option<u64>)> {
    let stored = load_stored(state, trust, now, None, report)?;
    let what = "key log";
    let bytes = checkpoint_of(server, LogName::Keys)?;
    let cp = verify_signature(trust, LogName::Keys, &bytes, what, report)?;
    if let Some(freshness) = witnesses {
        check_witnesses(trust, &cp, what, now, freshness, report)?;
    }
    let (mut entries, stored_size) = match &stored {
        Some(s) => {
            let old = &s.checkpoint;
            check_extends(server, LogName::Keys, state, old, &cp, what, report)?;
            (s.entries.clone(), old.size())
        }
        None => {
            report.skip(
                "consistency",
                "key log: no stored key-log checkpoint yet (first sync)",
            );
            (Vec::new(), 0)
        }
    };
    if cp.size() > MAX_KEYLOG_ENTRIES {
        let detail = format!(
            "{} serves a key-log checkpoint of {} entries, more than the {MAX_KEYLOG_ENTRIES} a \
             client keeps (a key log is small by design; this log is hostile or broken)",
            server.describe(),
            cp.size()
        );
        report.fail("keylog-entries", &detail);
        return Err(Error::Refused(detail));
    }
    // The entries are held in memory; their total stays within what a snapshot may hold.
    let mut held: usize = entries.iter().map(Vec::len).sum();
    let mut next = stored_size;
    while next < cp.size() {
        let bundle = EntryBundle::for_entry(TILE_HEIGHT, next, cp.size())
            .map_err(|e| crate::error::err!("planning key-log bundles: {e}"))?;
        let fetched = bundle_of(server, LogName::Keys, &bundle).inspect_err(|e| {
            if let Some(Error::Refused(m)) = Some(e.root()) {
                report.fail("keylog-entries", m.clone());
            }
        })?;
        let skip = usize::try_from(next - bundle.first_entry()).unwrap_or(usize::MAX);
        for e in fetched.into_iter().skip(skip) {
            held = held.saturating_add(e.len() + 2);
            if held > MAX_SNAPSHOT_SIZE {
                let detail = format!(
                    "{}: the key log's first {next} entries already exceed the {} MiB a \
                     client keeps (a key log is small by design; this log is hostile or broken)",
                    server.describe(),
                    MAX_SNAPSHOT_SIZE >> 20
                );
                report.fail("keylog-entries", &detail);
                return Err(Error::Refused(detail));
            }
            entries.push(e);
            next += 1;
        }
    }
    let old = stored.as_ref().map(|s| s.checkpoint.size());
    let keylog = check_entries_and_replay(trust, cp, entries, what, report)?;
    Ok((keylog, old))
}

/// Checks that `cp`, just verified from `up`, extends `old`, verified before from the same
/// log: a smaller checkpoint is a rollback (or a stale copy) and is refused; otherwise the
/// consistency proof is built from `up`'s tiles and checked, writing evidence on a conflict
/// (the error is then [`Error::Inconsistent`]). `what` names the log in messages.
pub fn check_extends<U: Upstream + ?Sized>(
    up: &U,
    log: LogName,
    state: &dyn Store,
    old: &VerifiedCheckpoint,
    cp: &VerifiedCheckpoint,
    what: &str,
    report: &mut Report,
) -> crate::Result<()> {
    if cp.size() < old.size() {
        let detail = format!(
            "{} serves a {what} checkpoint of size {}, older than size {} verified before: \
             rollback (or a stale mirror)",
            up.describe(),
            cp.size(),
            old.size()
        );
        report.fail("consistency", &detail);
        return Err(Error::Refused(detail));
    }
    let proof = if old.size() == 0 || old.size() == cp.size() {
        Vec::new()
    } else {
        let tree = TreeHead::from_verified(cp);
        proof_from_tiles(up, log, tree, old.size()).inspect_err(|e| {
            if let Some(Error::Refused(m)) = Some(e.root()) {
                report.fail("consistency", m.clone());
            }
        })?
    };
    check_consistent(state, old, cp, &proof, what, report)
}

/// A consistency proof from `old_size` to `tree` of `log`, from tiles authenticated against
/// `tree`.
pub fn proof_from_tiles<U: Upstream + ?Sized>(
    server: &U,
    log: LogName,
    tree: TreeHead,
    old_size: u64,
) -> crate::Result<Vec<cairn_verifier::hash::Hash>> {
    TileHashReader::new(tree, UpstreamTiles::new(server, log))
        .prove_consistency(old_size, tree.size())
        .map_err(|e| {
            if e.is_security_failure() {
                Error::Refused(format!(
                    "the {} log's tiles do not match its checkpoint: {e}",
                    log.as_str()
                ))
            } else {
                crate::error::err!(
                    "reading the {} log's tiles for a consistency proof {old_size} -> {}: {e}",
                    log.as_str(),
                    tree.size()
                )
            }
        })
}

/// Stores a verified key log, unless the store already holds a larger one (another client
/// sharing the state stored it meanwhile).
pub fn store(state: &dyn Store, trust: &Trust, keylog: &KeyLog) -> crate::Result<()> {
    let bytes = keylog.snapshot().to_file_bytes()?;
    let size_of = |b: &[u8]| {
        Snapshot::from_file_bytes(b)
            .ok()
            .and_then(|s| checkpoint_size(&s.checkpoint))
    };
    store_newer(
        state,
        trust,
        &Slot::keylog(),
        &bytes,
        MAX_SNAPSHOT_SIZE,
        &size_of,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trips_and_refuses_damage() {
        let snap = Snapshot {
            checkpoint: b"o\n1\nroot\n\n- sig\n".to_vec(),
            entries: vec![b"one".to_vec(), Vec::new(), vec![7; 300]],
        };
        let file = snap.to_file_bytes().expect("encodes");
        assert_eq!(Snapshot::from_file_bytes(&file), Ok(snap.clone()));
        let raw = snap.encode().expect("encodes");
        assert_eq!(Snapshot::decode(&raw), Ok(snap.clone()));
        // Truncated, trailing data, wrong header, inflated count.
        assert!(Snapshot::decode(&raw[..raw.len() - 1]).is_err());
        let mut longer = raw.clone();
        longer.push(0);
        assert!(Snapshot::decode(&longer).is_err());
        let wrong = [b"x".as_slice(), &raw].concat();
        assert!(Snapshot::decode(&wrong).is_err());
        let inflated = String::from_utf8_lossy(&raw).replacen("size 3", "size 9999999", 1);
        assert!(Snapshot::decode(inflated.as_bytes()).is_err());
        let padded = String::from_utf8_lossy(&raw).replacen("size 3", "size 03", 1);
        assert!(Snapshot::decode(padded.as_bytes()).is_err());
        assert!(Snapshot::from_file_bytes(b"not zstd").is_err());
    }
}
