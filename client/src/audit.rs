//! Following a Cairn log and verifying every byte of it: the one core `cairn monitor` and
//! `cairn mirror` share (`spec/monitor.md`).
//!
//! One round, from the state the last successful round saved:
//!
//! 1. The key log: [`crate::keylog::sync`] (log signature, consistency with the stored copy,
//!    every entry hashed to the root, replay from the pinned roots). Each new key event is an
//!    alert.
//! 2. The release log's checkpoint: log signature, consistency proof from the stored checkpoint
//!    (a conflict writes evidence), witness quorum and age (reported as alerts, not stops).
//! 3. Every new release-log entry: fetched bundle by bundle, hashed into the stored right edge
//!    of the tree ([`RightEdge`]), and judged as a client would (grammar, signatures, key
//!    validity at its index, scope), in parallel since signature checks dominate. The
//!    recomputed root must equal the checkpoint's.
//! 4. Only then is the new state written, atomically: nothing from a round that failed is kept.
//!
//! The state is O(log n) plus one small record per release (for equivocation detection), so a
//! restart resumes without downloading what was verified before.

use std::collections::HashMap;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::PathBuf;

use crate::error::Context as _;
use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::entry::{Entry, KeyEvent, OidcIssuer, Release, Sha256Digest, SigstoreSigner};
use cairn_verifier::hash::{Hash, leaf_hash, sha256};
use cairn_verifier::keylog::{InvalidRelease, KeyState, deprecation_is_valid, release_is_valid};
use cairn_verifier::merkle::RightEdge;
use cairn_verifier::note::{Ed25519Verifier, Note, NoteVerifier};
use cairn_verifier::sigstore_identity::IdentityMatcher;
use cairn_verifier::tile::{EntryBundle, TILE_HEIGHT, TreeHead};
use serde_json::{Map, Value, json};

use crate::Error;
use crate::checkpoints::{check_consistent, verify_signature};
use crate::keylog::{KeyLog, check_extends, proof_from_tiles};
use crate::report::Report;
use crate::state::StateDir;
use crate::trust::{LogName, Trust};
use crate::upstream::{Upstream, bundle_of, checkpoint_of};

/// Bundles fetched and judged per step (per thread).
const BUNDLES_PER_THREAD: usize = 4;
/// Bytes of one equivocation-index record: 16 bytes of SHA-256(name "\n" version), then the
/// release-log index (big-endian u64).
const INDEX_RECORD: usize = 24;
/// Largest audit state file read.
const MAX_STATE_SIZE: usize = 64 * 1024;
/// First line of nothing: the state file is JSON with this `format` value.
const STATE_FORMAT: &str = "cairn-audit-state/v1";

/// What an alert is about (`spec/monitor.md`, "Alerts").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A key-log entry (root, add, retire, revoke).
    KeyEvent,
    /// An entry signed by a `--watch-key`.
    WatchedKeyUsed,
    /// A Sigstore release naming a `--watch-identity` as its signer.
    WatchedIdentityUsed,
    /// An entry that is not valid as a client judges it.
    InvalidEntry,
    /// Two releases for one name and version.
    Equivocation,
    /// Two checkpoints that cannot both be honest; evidence written.
    InconsistentCheckpoint,
    /// No new checkpoint or cosignature within the maximum age.
    Stale,
    /// The checkpoint lacks the policy's witness quorum.
    QuorumLost,
    /// A deprecation was logged.
    Deprecation,
    /// A `--mirror` could not be read or its checkpoint did not verify, so a split view
    /// through it would go unseen.
    MirrorCheckFailed,
}

impl AlertKind {
    /// The `alert` value of the JSON line.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::KeyEvent => "key-event",
            AlertKind::WatchedKeyUsed => "watched-key-used",
            AlertKind::WatchedIdentityUsed => "watched-identity-used",
            AlertKind::InvalidEntry => "invalid-entry",
            AlertKind::Equivocation => "equivocation",
            AlertKind::InconsistentCheckpoint => "inconsistent-checkpoint",
            AlertKind::Stale => "stale",
            AlertKind::QuorumLost => "quorum-lost",
            AlertKind::Deprecation => "deprecation",
            AlertKind::MirrorCheckFailed => "mirror-check-failed",
        }
    }
}

/// One alert: its kind, a human message and the facts for machines.
#[derive(Debug, Clone)]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// One line for people.
    pub message: String,
    /// `origin`, `index`, `key`, `evidence` and the like.
    pub fields: Map<String, Value>,
}

impl Alert {
    /// A `--mirror` that could not be checked this round.
    pub fn mirror_check_failed(mirror: &str, error: &crate::Error) -> Alert {
        Alert::new(
            AlertKind::MirrorCheckFailed,
            format!("mirror {mirror} could not be checked: {}", error.chain()),
        )
        .with("mirror", mirror)
    }

    fn new(kind: AlertKind, message: impl Into<String>) -> Alert {
        Alert {
            kind,
            message: message.into(),
            fields: Map::new(),
        }
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Alert {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    /// The JSON object printed on stdout and posted to the webhook.
    pub fn to_json(&self, time: u64) -> Value {
        let mut out = Map::new();
        out.insert("alert".into(), self.kind.as_str().into());
        out.insert("time".into(), time.into());
        out.insert("message".into(), self.message.clone().into());
        for (k, v) in &self.fields {
            out.insert(k.clone(), v.clone());
        }
        Value::Object(out)
    }
}

/// The saved state of the release-log audit.
#[derive(Debug, Clone)]
struct SavedState {
    /// The last verified release-log checkpoint (note bytes).
    checkpoint: Vec<u8>,
    /// The right edge of that tree.
    edge: RightEdge,
    /// Valid records in the equivocation index.
    index_records: u64,
    /// When a checkpoint of either log last changed (POSIX seconds).
    last_change: u64,
    /// The watched keys (vkeys) the audited entries were already checked against; `None` in
    /// a state saved before this was recorded (taken as "none").
    watched: Vec<String>,
}

/// The outcome of one verified round.
#[derive(Debug)]
pub struct Round {
    /// The verified key log.
    pub keylog: KeyLog,
    /// Key-log size before the round (`None`: first round).
    pub keys_before: Option<u64>,
    /// The verified release-log checkpoint.
    pub releases: VerifiedCheckpoint,
    /// Release-log size before the round.
    pub releases_before: u64,
    /// What [`Auditor::commit`] saves.
    pending: Pending,
}

/// The state a verified round leaves to save.
#[derive(Debug)]
struct Pending {
    new_records: Vec<([u8; 16], u64)>,
    index_records: u64,
    edge: RightEdge,
    last_change: u64,
}

/// Receives each release-log bundle a round fetched, with all of its entries, and the index of
/// the first entry the round verifies (entries before it in the bundle were verified by an
/// earlier round and are not checked again by this one).
pub type BundleSink<'a> = dyn FnMut(&EntryBundle, &[Vec<u8>], u64) -> crate::Result<()> + 'a;

/// Reads a file of the followed log by path (`Ok(None)`: it does not exist).
type FetchFile<'a> = dyn Fn(&str) -> Result<Option<Vec<u8>>, String> + 'a;

/// The follow-and-verify core.
#[derive(Debug)]
pub struct Auditor {
    trust: Trust,
    /// Where the state, the key-log copy and evidence live.
    dir: StateDir,
    watch: Vec<Ed25519Verifier>,
    /// `--watch-identity`: Sigstore issuers and identities (or patterns) to alert on.
    watch_identities: Vec<(OidcIssuer, IdentityMatcher)>,
    max_age: u64,
    threads: usize,
}

/// What judging one release-log entry found.
#[derive(Debug)]
struct Judged {
    leaf: Hash,
    /// For a release: the equivocation key of its name and version.
    release_key: Option<([u8; 16], String)>,
    alerts: Vec<Alert>,
}

impl Auditor {
    /// An auditor of the log `trust` names, keeping its state in `dir`.
    pub fn new(
        trust: Trust,
        dir: StateDir,
        watch: Vec<Ed25519Verifier>,
        max_age: u64,
        threads: usize,
    ) -> Auditor {
        Auditor {
            trust,
            dir,
            watch,
            watch_identities: Vec::new(),
            max_age,
            threads: threads.max(1),
        }
    }

    /// Also alerts (`watched-identity-used`) on every Sigstore release whose `sigstore` line
    /// names one of these issuers with a matching identity, whether or not it is valid (an
    /// invalid one raises `invalid-entry` as well). Entries audited in earlier rounds are not
    /// searched again.
    pub fn with_watched_identities(mut self, ids: Vec<(OidcIssuer, IdentityMatcher)>) -> Auditor {
        self.watch_identities = ids;
        self
    }

    /// The trust policy.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The state directory (evidence is written there).
    pub fn state(&self) -> &StateDir {
        &self.dir
    }

    fn state_path(&self) -> PathBuf {
        self.dir.log_dir(&self.trust).join("audit.json")
    }

    fn index_path(&self) -> PathBuf {
        self.dir.log_dir(&self.trust).join("releases.index")
    }

    fn load(&self) -> crate::Result<Option<SavedState>> {
        let path = self.state_path();
        let Some(bytes) = self.dir.read(&path, MAX_STATE_SIZE)? else {
            return Ok(None);
        };
        let damaged = |what: &str| {
            crate::error::err!(
                "the audit state {} is damaged ({what}); remove the directory {} to audit the \
                 log again from the start",
                path.display(),
                self.dir.log_dir(&self.trust).display()
            )
        };
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| damaged("not JSON"))?;
        if v["format"] != STATE_FORMAT {
            return Err(damaged("unknown format"));
        }
        let checkpoint = v["releases_checkpoint"]
            .as_str()
            .ok_or_else(|| damaged("no checkpoint"))?
            .as_bytes()
            .to_vec();
        let size = v["releases_size"]
            .as_u64()
            .ok_or_else(|| damaged("no size"))?;
        let hashes = v["right_edge"]
            .as_array()
            .ok_or_else(|| damaged("no right edge"))?
            .iter()
            .map(|h| h.as_str().and_then(|s| Hash::from_base64(s).ok()))
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| damaged("bad right-edge hash"))?;
        let edge = RightEdge::from_parts(size, hashes).map_err(|e| damaged(&e.to_string()))?;
        Ok(Some(SavedState {
            checkpoint,
            edge,
            index_records: v["index_records"]
                .as_u64()
                .ok_or_else(|| damaged("no index count"))?,
            last_change: v["last_change"]
                .as_u64()
                .ok_or_else(|| damaged("no last change"))?,
            watched: v["watched"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }))
    }

    /// The equivocation index: name/version key to the first release-log index.
    fn load_index(&self, records: u64) -> crate::Result<HashMap<[u8; 16], u64>> {
        let path = self.index_path();
        let mut map = HashMap::new();
        let mut data = Vec::new();
        match std::fs::File::open(&path) {
            Ok(f) => {
                let want = records.saturating_mul(INDEX_RECORD as u64);
                f.take(want)
                    .read_to_end(&mut data)
                    .with_context(|| format!("reading {}", path.display()))?;
                if (data.len() as u64) < want {
                    crate::error::bail!(
                        "{} is shorter than the audit state says; remove {} to start over",
                        path.display(),
                        self.dir.log_dir(&self.trust).display()
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && records == 0 => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        for rec in data.chunks_exact(INDEX_RECORD) {
            let mut key = [0u8; 16];
            key.copy_from_slice(&rec[..16]);
            let mut idx = [0u8; 8];
            idx.copy_from_slice(&rec[16..]);
            map.entry(key).or_insert(u64::from_be_bytes(idx));
        }
        Ok(map)
    }

    /// Appends records to the index after its `records` valid ones (a crash may have left
    /// unacknowledged bytes beyond them) and syncs it.
    fn append_index(&self, records: u64, new: &[([u8; 16], u64)]) -> crate::Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        let path = self.index_path();
        // The directory exists once the key log was stored; on a first round it may not yet.
        crate::state::create_private_dir(&self.dir.log_dir(&self.trust))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let at = records * INDEX_RECORD as u64;
        f.set_len(at)
            .and_then(|()| f.seek(std::io::SeekFrom::Start(at)).map(|_| ()))
            .with_context(|| format!("truncating {}", path.display()))?;
        let mut buf = Vec::with_capacity(new.len() * INDEX_RECORD);
        for (key, idx) in new {
            buf.extend_from_slice(key);
            buf.extend_from_slice(&idx.to_be_bytes());
        }
        f.write_all(&buf)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", path.display()))
    }

    fn save(&self, s: &SavedState) -> crate::Result<()> {
        let v = json!({
            "format": STATE_FORMAT,
            "releases_checkpoint": String::from_utf8_lossy(&s.checkpoint),
            "releases_size": s.edge.size(),
            "right_edge": s.edge.hashes().iter().map(Hash::to_base64).collect::<Vec<_>>(),
            "index_records": s.index_records,
            "last_change": s.last_change,
            "watched": s.watched,
        });
        let bytes = serde_json::to_vec_pretty(&v).context("encoding the audit state")?;
        self.dir.write(&self.state_path(), &bytes)
    }

    /// Runs one round against `up` (see the module documentation). Alerts go to `alerts` as
    /// they are found, so a round that stops still reports what it saw. `sink` receives each
    /// release-log bundle fetched (all of its entries) before the round is verified. Nothing is
    /// saved: [`Auditor::commit`] does that with the verified round.
    pub fn round<U: Upstream + ?Sized>(
        &self,
        up: &U,
        now: u64,
        report: &mut Report,
        alerts: &mut Vec<Alert>,
        sink: &mut BundleSink<'_>,
    ) -> crate::Result<Round> {
        let trust = &self.trust;
        let saved = self.load()?;
        // 1. The key log.
        let (keylog, keys_before) =
            match crate::keylog::sync(up, &self.dir, trust, now, None, report) {
                Ok(v) => v,
                Err(e) => {
                    self.alert_on_inconsistency(&e, LogName::Keys, up, alerts);
                    if let Some(detail) = report.failed("keylog-replay") {
                        // An event the log should have refused: the key log stops there.
                        alerts.push(
                            Alert::new(
                                AlertKind::InvalidEntry,
                                format!("{}: {detail}", trust.origin(LogName::Keys)),
                            )
                            .with("origin", trust.origin(LogName::Keys))
                            .with("reason", detail.to_owned())
                            .with("cause", REFUSABLE),
                        );
                    }
                    return Err(e);
                }
            };
        let keys_origin = trust.origin(LogName::Keys);
        self.quorum(&keylog.checkpoint, alerts);
        let first_new_key = keys_before.unwrap_or(0);
        for (i, entry) in keylog
            .entries
            .iter()
            .enumerate()
            .skip(usize::try_from(first_new_key).context("key-log size out of range")?)
        {
            let index = i as u64;
            alerts.extend(key_event_alert(&keys_origin, index, entry));
            alerts.extend(self.watched(&keys_origin, index, entry));
        }

        // 2. The release log's checkpoint.
        let origin = trust.origin(LogName::Releases);
        let bytes = checkpoint_of(up, LogName::Releases)?;
        let cp = verify_signature(trust, LogName::Releases, &bytes, "release log", report)?;
        self.quorum(&cp, alerts);
        let (old_cp, edge, index_records, last_change) = match &saved {
            Some(s) => {
                let old = verify_signature(
                    trust,
                    LogName::Releases,
                    &s.checkpoint,
                    "stored release-log checkpoint",
                    report,
                )?;
                if old.size() != s.edge.size() {
                    crate::error::bail!(
                        "the audit state is damaged (checkpoint size {} but right edge of {}); \
                         remove {} to start over",
                        old.size(),
                        s.edge.size(),
                        self.dir.log_dir(trust).display()
                    );
                }
                (Some(old), s.edge.clone(), s.index_records, s.last_change)
            }
            None => (None, RightEdge::new(), 0, now),
        };
        if let Some(old) = &old_cp {
            let checked = check_extends(
                up,
                LogName::Releases,
                &self.dir,
                old,
                &cp,
                "release log",
                report,
            );
            if let Err(e) = checked {
                self.alert_on_inconsistency(&e, LogName::Releases, up, alerts);
                return Err(e);
            }
        }
        // A watched key added since the last round is looked for in everything audited before
        // (`--watch-key` added later looks back over the history).
        if let (Some(s), Some(old)) = (&saved, &old_cp) {
            let added: Vec<&Ed25519Verifier> = self
                .watch
                .iter()
                .filter(|k| !s.watched.contains(&k.to_vkey()))
                .collect();
            if !added.is_empty() {
                let keys_seen = usize::try_from(first_new_key).unwrap_or(usize::MAX);
                for (i, entry) in keylog.entries.iter().enumerate().take(keys_seen) {
                    alerts.extend(watched_by(&added, &keys_origin, i as u64, entry));
                }
                self.rescan(up, old, &added, alerts)?;
            }
        }
        let changed = old_cp.as_ref().is_none_or(|o| o.size() != cp.size())
            || keys_before.is_none_or(|k| k != keylog.checkpoint.size());
        let last_change = if changed { now } else { last_change };
        alerts.extend(self.staleness(&[&keylog.checkpoint, &cp], last_change, now));

        // 3. Every new release-log entry.
        let releases_before = edge.size();
        let mut edge = edge;
        let mut index = self.load_index(index_records)?;
        let mut new_records: Vec<([u8; 16], u64)> = Vec::new();
        // Alerts about entries are held back until the entries are known to be the log's.
        let mut entry_alerts = Vec::new();
        let mut next = releases_before;
        while next < cp.size() {
            let mut bundles = Vec::new();
            let mut at = next;
            while at < cp.size() && bundles.len() < self.threads * BUNDLES_PER_THREAD {
                let b = EntryBundle::for_entry(TILE_HEIGHT, at, cp.size())
                    .map_err(|e| crate::error::err!("planning release-log bundles: {e}"))?;
                at = b.first_entry() + u64::from(b.width());
                bundles.push(b);
            }
            let judged = self.fetch_and_judge(up, &origin, &bundles, next, &keylog.state)?;
            for (bundle, (entries, results)) in bundles.iter().zip(judged) {
                sink(bundle, &entries, releases_before)?;
                for j in results {
                    let i = next;
                    edge.append(j.leaf);
                    entry_alerts.extend(j.alerts);
                    if let Some((key, what)) = j.release_key {
                        if let Some(&first) = index.get(&key) {
                            entry_alerts.push(
                                Alert::new(
                                    AlertKind::Equivocation,
                                    format!(
                                        "{origin} index {i}: a second release of {what}; the first \
                                         is at index {first}"
                                    ),
                                )
                                .with("origin", origin.clone())
                                .with("index", i)
                                .with("first_index", first)
                                .with("release", what),
                            );
                        } else {
                            index.insert(key, i);
                            new_records.push((key, i));
                        }
                    }
                    next += 1;
                }
            }
        }
        if edge.size() != cp.size() || edge.root() != *cp.root() {
            let detail = format!(
                "the release-log entries {} serves hash to root {} at size {}, not to the \
                 checkpoint's root {} (size {})",
                up.describe(),
                edge.root(),
                edge.size(),
                cp.root(),
                cp.size()
            );
            report.fail("entries", &detail);
            return Err(Error::Refused(detail));
        }
        alerts.extend(entry_alerts);
        report.pass(
            "entries",
            format!(
                "release log: {} new entries hash to the checkpoint's root (size {})",
                cp.size() - releases_before,
                cp.size()
            ),
        );

        Ok(Round {
            keylog,
            keys_before,
            releases: cp,
            releases_before,
            pending: Pending {
                new_records,
                index_records,
                edge,
                last_change,
            },
        })
    }

    /// Saves what `round` verified, so the next round starts from it: the index, then the
    /// state that counts its records, then the key log. A mirror calls this only after its
    /// copy moved forward, so its state never runs ahead of its files.
    pub fn commit(&self, round: &Round) -> crate::Result<()> {
        let p = &round.pending;
        self.append_index(p.index_records, &p.new_records)?;
        self.save(&SavedState {
            checkpoint: round.releases.note_bytes().to_vec(),
            edge: p.edge.clone(),
            index_records: p.index_records + p.new_records.len() as u64,
            last_change: p.last_change,
            watched: self.watch.iter().map(Ed25519Verifier::to_vkey).collect(),
        })?;
        if round
            .keys_before
            .is_none_or(|k| k != round.keylog.checkpoint.size())
        {
            crate::keylog::store(&self.dir, &self.trust, &round.keylog)?;
        }
        Ok(())
    }

    /// Fetches `bundles` and judges their entries from `first` on, on up to `threads` threads.
    #[allow(clippy::type_complexity)]
    fn fetch_and_judge<U: Upstream + ?Sized>(
        &self,
        up: &U,
        origin: &str,
        bundles: &[EntryBundle],
        first: u64,
        keys: &KeyState,
    ) -> crate::Result<Vec<(Vec<Vec<u8>>, Vec<Judged>)>> {
        let per = bundles.len().div_ceil(self.threads).max(1);
        let work = |chunk: &[EntryBundle]| -> crate::Result<Vec<(Vec<Vec<u8>>, Vec<Judged>)>> {
            chunk
                .iter()
                .map(|b| {
                    let entries = bundle_of(up, LogName::Releases, b)?;
                    if entries.len() != usize::from(b.width()) {
                        return Err(Error::Refused(format!(
                            "{}: bundle {} holds {} entries, not {}",
                            up.describe(),
                            b.path(),
                            entries.len(),
                            b.width()
                        )));
                    }
                    let fetch = |path: &str| {
                        up.get(path, cairn_sigstore::MAX_BUNDLE_SIZE)
                            .map_err(|e| e.to_string())
                    };
                    let results = entries
                        .iter()
                        .enumerate()
                        .filter_map(|(k, e)| {
                            let index = b.first_entry() + k as u64;
                            (index >= first).then(|| self.judge(origin, index, e, keys, &fetch))
                        })
                        .collect();
                    Ok((entries, results))
                })
                .collect()
        };
        if self.threads == 1 || bundles.len() == 1 {
            return work(bundles);
        }
        let results: Vec<crate::Result<_>> = std::thread::scope(|s| {
            let handles: Vec<_> = bundles
                .chunks(per)
                .map(|chunk| s.spawn(move || work(chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(crate::error::err!("an audit thread panicked")))
                })
                .collect()
        });
        let mut out = Vec::with_capacity(bundles.len());
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Judges one release-log entry as a client would. `fetch` reads a file of the log (the
    /// Sigstore bundles a release names).
    fn judge(
        &self,
        origin: &str,
        index: u64,
        entry: &[u8],
        keys: &KeyState,
        fetch: &FetchFile<'_>,
    ) -> Judged {
        let leaf = leaf_hash(entry);
        let mut alerts = self.watched(origin, index, entry);
        let invalid = |reason: String, cause: &str| {
            Alert::new(
                AlertKind::InvalidEntry,
                format!("{origin} index {index}: {reason}"),
            )
            .with("origin", origin.to_owned())
            .with("index", index)
            .with("reason", reason)
            .with("cause", cause.to_owned())
        };
        let note = match Note::parse(entry) {
            Ok(n) => n,
            Err(e) => {
                alerts.push(invalid(format!("not a signed note: {e}"), REFUSABLE));
                return Judged {
                    leaf,
                    release_key: None,
                    alerts,
                };
            }
        };
        let mut release_key = None;
        match Entry::parse(note.text()) {
            Ok(Entry::Release(r)) => {
                let what = format!("{} {}", r.name(), r.version());
                let digest = sha256(format!("{}\n{}", r.name(), r.version()).as_bytes());
                let mut key = [0u8; 16];
                key.copy_from_slice(&digest[..16]);
                release_key = Some((key, what));
                if let Some(signer) = r.sigstore() {
                    alerts.extend(self.watched_identity(origin, index, &r, signer));
                    let path = crate::verify::sigstore_bundle_log_path(&signer.bundle);
                    match fetch(&path) {
                        Ok(Some(bundle)) => {
                            if let Err(e) =
                                cairn_sigstore::judge_release(&note, index, keys, &bundle)
                            {
                                let cause = match &e {
                                    cairn_sigstore::ReleaseError::KeyLog(k) => cause_of(k),
                                    _ => REFUSABLE,
                                };
                                alerts.push(invalid(format!("release: {e}"), cause));
                            }
                        }
                        Ok(None) => alerts.push(invalid(
                            format!(
                                "release: the log does not serve its Sigstore bundle {}",
                                signer.bundle
                            ),
                            REFUSABLE,
                        )),
                        // A bundle that cannot be read now is not a verdict on the entry.
                        Err(e) => alerts.push(invalid(
                            format!("release: its Sigstore bundle could not be read: {e}"),
                            "unchecked",
                        )),
                    }
                } else if let Err(e) = release_is_valid(&note, index, keys) {
                    alerts.push(invalid(format!("release: {e}"), cause_of(&e)));
                }
            }
            Ok(Entry::Deprecation(d)) => {
                let validity = deprecation_is_valid(&note, index, keys);
                let mut alert = Alert::new(
                    AlertKind::Deprecation,
                    format!(
                        "{origin} index {index}: {} {} deprecated: {}",
                        d.name(),
                        d.version(),
                        d.reason()
                    ),
                )
                .with("origin", origin.to_owned())
                .with("index", index)
                .with("name", d.name().to_string())
                .with("version", d.version().to_string())
                .with("reason", d.reason().to_string());
                if let Some(a) = d.advisory() {
                    alert = alert.with("advisory", a.to_string());
                }
                if let Some(r) = d.replacement() {
                    alert = alert.with("replacement", r.to_string());
                }
                alerts.push(alert);
                if let Err(e) = validity {
                    alerts.push(invalid(format!("deprecation: {e}"), cause_of(&e)));
                }
            }
            Ok(Entry::Key(_)) => alerts.push(invalid(
                "a key event in the release log".to_owned(),
                REFUSABLE,
            )),
            Err(e) => alerts.push(invalid(format!("entry does not parse: {e}"), REFUSABLE)),
        }
        Judged {
            leaf,
            release_key,
            alerts,
        }
    }

    /// Looks for `added` watched keys in the release-log entries `0..old.size()` audited by
    /// earlier rounds, each bundle authenticated against `old` before its entries are read.
    fn rescan<U: Upstream + ?Sized>(
        &self,
        up: &U,
        old: &VerifiedCheckpoint,
        added: &[&Ed25519Verifier],
        alerts: &mut Vec<Alert>,
    ) -> crate::Result<()> {
        let origin = self.trust.origin(LogName::Releases);
        let tree = TreeHead::from_verified(old);
        let reader = cairn_verifier::tile::TileHashReader::new(
            tree,
            crate::upstream::UpstreamTiles::new(up, LogName::Releases),
        );
        let mut found = Vec::new();
        let mut next = 0;
        while next < old.size() {
            let bundle = EntryBundle::for_entry(TILE_HEIGHT, next, old.size())
                .map_err(|e| crate::error::err!("planning release-log bundles: {e}"))?;
            let entries = bundle_of(up, LogName::Releases, &bundle)?;
            crate::upstream::verify_bundle(LogName::Releases, &bundle, &entries, &reader)?;
            for (k, entry) in entries.iter().enumerate() {
                found.extend(watched_by(
                    added,
                    &origin,
                    bundle.first_entry() + k as u64,
                    entry,
                ));
            }
            next = bundle.first_entry() + u64::from(bundle.width());
        }
        // Only after every bundle was authenticated: alerts about the log's real entries.
        alerts.extend(found);
        Ok(())
    }

    /// A `watched-identity-used` alert when a watched identity is a Sigstore release's signer.
    fn watched_identity(
        &self,
        origin: &str,
        index: u64,
        release: &Release,
        signer: &SigstoreSigner,
    ) -> Option<Alert> {
        let (issuer, pattern) = self
            .watch_identities
            .iter()
            .find(|(i, m)| i == &signer.issuer && m.matches(signer.identity.as_str()))?;
        Some(
            Alert::new(
                AlertKind::WatchedIdentityUsed,
                format!(
                    "{origin} index {index}: {} {} authorised by watched Sigstore identity {} (issuer {})",
                    release.name(),
                    release.version(),
                    signer.identity,
                    signer.issuer
                ),
            )
            .with("origin", origin.to_owned())
            .with("index", index)
            .with("identity", signer.identity.to_string())
            .with("issuer", issuer.to_string())
            .with("watched", pattern.to_string())
            .with("name", release.name().to_string())
            .with("version", release.version().to_string()),
        )
    }

    /// A `watched-key-used` alert for each watched key whose signature on `entry` verifies.
    fn watched(&self, origin: &str, index: u64, entry: &[u8]) -> Vec<Alert> {
        let keys: Vec<&Ed25519Verifier> = self.watch.iter().collect();
        watched_by(&keys, origin, index, entry)
    }
}

/// A `watched-key-used` alert for each of `keys` whose signature on `entry` verifies.
fn watched_by(keys: &[&Ed25519Verifier], origin: &str, index: u64, entry: &[u8]) -> Vec<Alert> {
    if keys.is_empty() {
        return Vec::new();
    }
    let Ok(note) = Note::parse(entry) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for key in keys {
        let key: &Ed25519Verifier = key;
        let known: [&dyn NoteVerifier; 1] = [key];
        let signed = note
            .verify(&known)
            .map(|v| !v.verified_signatures().is_empty())
            .unwrap_or(false);
        if signed {
            let kind = note
                .text()
                .split('\n')
                .next()
                .unwrap_or_default()
                .to_owned();
            out.push(
                Alert::new(
                    AlertKind::WatchedKeyUsed,
                    format!(
                        "{origin} index {index}: signed by watched key {} ({kind})",
                        key.name()
                    ),
                )
                .with("origin", origin.to_owned())
                .with("index", index)
                .with("key", key.to_vkey())
                .with("entry_type", kind)
                .with("entry", String::from_utf8_lossy(entry).into_owned()),
            );
        }
    }
    out
}

impl Auditor {
    /// A `quorum-lost` alert when `cp` lacks the policy's witness quorum.
    fn quorum(&self, cp: &VerifiedCheckpoint, alerts: &mut Vec<Alert>) {
        if !self.trust.has_quorum() {
            return;
        }
        let mut report = Report::default();
        let check = crate::checkpoints::check_witnesses(
            &self.trust,
            cp,
            cp.origin(),
            0,
            crate::checkpoints::Freshness::NotRequired,
            &mut report,
        );
        if let Err(e) = check {
            alerts.push(
                Alert::new(
                    AlertKind::QuorumLost,
                    format!("{} size {}: {}", cp.origin(), cp.size(), e.chain()),
                )
                .with("origin", cp.origin().to_owned())
                .with("size", cp.size()),
            );
        }
    }

    /// A `stale` alert when neither log produced a new checkpoint (or, with witnesses, a
    /// cosignature) within the maximum age.
    fn staleness(&self, cps: &[&VerifiedCheckpoint], last_change: u64, now: u64) -> Vec<Alert> {
        let newest = if self.trust.witnesses.is_empty() {
            last_change
        } else {
            cps.iter()
                .flat_map(|cp| {
                    self.trust
                        .witnesses
                        .iter()
                        .filter_map(|w| w.key.cosignature_time(cp.note()).ok())
                })
                .max()
                .unwrap_or(0)
        };
        let age = now.saturating_sub(newest);
        if age <= self.max_age {
            return Vec::new();
        }
        let what = if self.trust.witnesses.is_empty() {
            "no new checkpoint"
        } else {
            "no new witness cosignature"
        };
        vec![
            Alert::new(
                AlertKind::Stale,
                format!(
                    "{}: {what} for {age} s (max age {} s)",
                    self.trust.prefix(),
                    self.max_age
                ),
            )
            .with("origin", self.trust.prefix().to_owned())
            .with("age", age)
            .with("max_age", self.max_age),
        ]
    }

    /// Turns an inconsistency failure into an `inconsistent-checkpoint` alert.
    fn alert_on_inconsistency<U: Upstream + ?Sized>(
        &self,
        e: &crate::Error,
        log: LogName,
        up: &U,
        alerts: &mut Vec<Alert>,
    ) {
        if let Some(Error::Inconsistent { message, evidence }) = Some(e.root()) {
            alerts.push(inconsistency_alert(
                &self.trust.origin(log),
                &up.describe(),
                message,
                &evidence.display().to_string(),
            ));
        }
    }

    /// Compares `mirror`'s checkpoints of both logs with the ones this round verified from
    /// the log: each must be signed by the log and consistent with them (the proof comes
    /// from whichever side is larger). A conflict writes evidence and alerts; anything else
    /// that fails is returned as an error for the caller to report.
    pub fn check_mirror<U: Upstream + ?Sized, M: Upstream + ?Sized>(
        &self,
        log_up: &U,
        mirror: &M,
        round: &Round,
        alerts: &mut Vec<Alert>,
    ) -> crate::Result<()> {
        for (log, ours) in [
            (LogName::Keys, &round.keylog.checkpoint),
            (LogName::Releases, &round.releases),
        ] {
            let mut report = Report::default();
            let what = format!("{} at {}", log.as_str(), mirror.describe());
            let bytes = checkpoint_of(mirror, log)?;
            let theirs = verify_signature(&self.trust, log, &bytes, &what, &mut report)?;
            let (older, newer, source): (_, _, &dyn Fn(TreeHead, u64) -> crate::Result<_>) =
                if theirs.size() <= ours.size() {
                    (&theirs, ours, &|t, s| proof_from_tiles(log_up, log, t, s))
                } else {
                    (ours, &theirs, &|t, s| proof_from_tiles(mirror, log, t, s))
                };
            let proof = if older.size() == 0 || older.size() == newer.size() {
                Vec::new()
            } else {
                source(TreeHead::from_verified(newer), older.size())?
            };
            if let Err(e) = check_consistent(&self.dir, older, newer, &proof, &what, &mut report) {
                if let Some(Error::Inconsistent { message, evidence }) = Some(e.root()) {
                    alerts.push(inconsistency_alert(
                        &self.trust.origin(log),
                        &mirror.describe(),
                        message,
                        &evidence.display().to_string(),
                    ));
                    continue;
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

/// `cause` of an `invalid-entry` alert for an entry the log should have refused.
const REFUSABLE: &str = "log-should-have-refused";

/// Whether an invalid release is something the log should have refused, or was made invalid
/// by a later key event (a revocation or a retirement whose `until` lies at or before it).
fn cause_of(e: &InvalidRelease) -> &'static str {
    match e {
        InvalidRelease::Revoked { .. } | InvalidRelease::Retired { .. } => {
            "invalidated-by-key-event"
        }
        _ => REFUSABLE,
    }
}

fn inconsistency_alert(origin: &str, source: &str, message: &str, evidence: &str) -> Alert {
    Alert::new(
        AlertKind::InconsistentCheckpoint,
        format!("{source}: {message}; evidence in {evidence}"),
    )
    .with("origin", origin.to_owned())
    .with("source", source.to_owned())
    .with("evidence", evidence.to_owned())
}

/// A `key-event` alert for key-log entry `index` (it verified: the key log replayed).
fn key_event_alert(origin: &str, index: u64, entry: &[u8]) -> Option<Alert> {
    let note = Note::parse(entry).ok()?;
    let event = KeyEvent::parse(note.text()).ok()?;
    let mut alert = Alert::new(AlertKind::KeyEvent, String::new())
        .with("origin", origin.to_owned())
        .with("index", index)
        .with("event", event.kind());
    let summary = match &event {
        KeyEvent::Root { roots, .. } => {
            let keys: Vec<String> = roots.keys().iter().map(|k| k.to_vkey()).collect();
            alert = alert
                .with("threshold", roots.threshold())
                .with("roots", keys.clone());
            format!("root keys set ({} of {})", roots.threshold(), keys.len())
        }
        KeyEvent::Add {
            key, scope, from, ..
        } => {
            alert = alert
                .with("key", key.to_vkey())
                .with("scope", scope.to_string())
                .with("from", *from);
            format!(
                "release key {} added for {scope} from index {from}",
                key.name()
            )
        }
        KeyEvent::Retire { key, until, .. } | KeyEvent::Revoke { key, until, .. } => {
            alert = alert.with("key", key.to_vkey()).with("until", *until);
            format!(
                "release key {} {} from index {until}",
                key.name(),
                if event.kind() == "revoke" {
                    "revoked"
                } else {
                    "retired"
                }
            )
        }
        KeyEvent::SigstoreRoot {
            from, trusted_root, ..
        } => {
            let digest = Sha256Digest::of(trusted_root);
            alert = alert
                .with("from", *from)
                .with("trusted_root_sha256", digest.to_hex());
            format!("Sigstore trusted root {digest} pinned from index {from}")
        }
        KeyEvent::AddIdentity {
            issuer,
            identity,
            scope,
            from,
            ..
        } => {
            alert = alert
                .with("issuer", issuer.to_string())
                .with("identity", identity.to_string())
                .with("scope", scope.to_string())
                .with("from", *from);
            format!(
                "Sigstore identity {identity} (issuer {issuer}) granted {scope} from index {from}"
            )
        }
        KeyEvent::RetireIdentity {
            issuer,
            identity,
            until,
            ..
        }
        | KeyEvent::RevokeIdentity {
            issuer,
            identity,
            until,
            ..
        } => {
            alert = alert
                .with("issuer", issuer.to_string())
                .with("identity", identity.to_string())
                .with("until", *until);
            format!(
                "Sigstore identity {identity} (issuer {issuer}) {} from index {until}",
                if event.kind() == "revoke-identity" {
                    "revoked"
                } else {
                    "retired"
                }
            )
        }
    };
    let reason = match &event {
        KeyEvent::Root { reason, .. }
        | KeyEvent::Add { reason, .. }
        | KeyEvent::SigstoreRoot { reason, .. }
        | KeyEvent::AddIdentity { reason, .. } => reason.as_ref().map(ToString::to_string),
        KeyEvent::Retire { reason, .. }
        | KeyEvent::Revoke { reason, .. }
        | KeyEvent::RetireIdentity { reason, .. }
        | KeyEvent::RevokeIdentity { reason, .. } => Some(reason.to_string()),
    };
    if let Some(r) = reason {
        alert = alert.with("reason", r);
    }
    alert.message = format!("{origin} index {index}: {summary}");
    Some(alert)
}
