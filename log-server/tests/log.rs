//! The sequencer's state machine against in-memory and git storage: sequencing, refusals,
//! idempotency, reopening, and that every proof it hands out verifies.

use std::sync::Arc;

use cairn_log_server::config::LogKeys;
use cairn_log_server::log::{Log, LogKind, Outcome, Refusal, Submission};
use cairn_log_server::metrics::Metrics;
use cairn_log_server::storage::{
    Change, CommitId, CommitInfo, GitStorage, MemoryStorage, Storage, StorageError,
};
use cairn_verifier::checkpoint::{VerifiedCheckpoint, verify_consistent};
use cairn_verifier::entry::{
    FileName, FileRef, KeyEvent, Reason, Release, ReleaseName, RootSet, Scope, Sha256Digest,
    Version,
};
use cairn_verifier::hash::leaf_hash;
use cairn_verifier::merkle::verify_inclusion;
use cairn_verifier::note::{Ed25519Signer, KeyName, Note, NoteSigner};
use cairn_verifier::signer::KeySigner;
use cairn_verifier::tlog_proof::TlogProof;

const PREFIX: &str = "example.org";

fn signer(name: &str, seed: u8) -> Ed25519Signer {
    Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32])
}

fn signed(text: &str, signers: &[&dyn NoteSigner]) -> Vec<u8> {
    Note::sign(text, signers).expect("sign").to_bytes()
}

struct Fixture {
    log_keys: LogKeys,
    root: Ed25519Signer,
    release_key: Ed25519Signer,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            log_keys: LogKeys {
                releases: signer("example.org/releases", 1).into(),
                keys: signer("example.org/keys", 4).into(),
                legacy: None,
            },
            root: signer("example.org/root", 2),
            release_key: signer("example.org/rel", 3),
        }
    }

    fn genesis(&self) -> Vec<u8> {
        let event = KeyEvent::Root {
            roots: RootSet::new(vec![self.root.verifier()], 1).expect("roots"),
            reason: None,
        };
        signed(&event.to_text(), &[&self.root])
    }

    fn add_key(&self, key: &Ed25519Signer, scope: &str, from: u64) -> Vec<u8> {
        let event = KeyEvent::Add {
            key: key.verifier(),
            scope: Scope::new(scope).expect("scope"),
            from,
            reason: None,
        };
        signed(&event.to_text(), &[&self.root])
    }

    fn release(&self, key: &Ed25519Signer, name: &str, version: &str, content: &[u8]) -> Vec<u8> {
        let file = FileRef {
            digest: Sha256Digest::of(content),
            size: content.len() as u64,
            file_name: FileName::new("image.iso").expect("file name"),
        };
        let release = Release::new(
            ReleaseName::new(name).expect("name"),
            Version::new(version).expect("version"),
            vec![file],
            vec![],
        )
        .expect("release");
        signed(&release.to_text(), &[key])
    }

    fn create(&self, storage: Arc<dyn Storage>) -> Log {
        Log::create(
            PREFIX,
            &self.log_keys,
            storage,
            &self.genesis(),
            Arc::new(Metrics::default()),
        )
        .expect("create log")
    }
}

fn sub(log: LogKind, entry: &[u8]) -> Submission {
    Submission::new(log, entry.to_vec())
}

/// Checks a proof as a client would: checkpoint signature, inclusion, entry bytes.
fn check_proof(fx: &Fixture, kind: LogKind, proof: &[u8], entry: &[u8]) -> VerifiedCheckpoint {
    let proof = TlogProof::parse(proof).expect("proof parses");
    assert_eq!(proof.extra.as_deref(), Some(entry), "extra is the entry");
    let origin = format!("{PREFIX}/{}", kind.name());
    let verifier = fx.log_keys.primary(kind.name()).verifier();
    let cp = VerifiedCheckpoint::verify_without_extensions(&proof.checkpoint, &origin, &verifier)
        .expect("checkpoint verifies");
    verify_inclusion(
        &leaf_hash(entry),
        proof.index,
        cp.size(),
        &proof.proof,
        cp.root(),
    )
    .expect("inclusion verifies");
    cp
}

fn logged(outcome: &Outcome) -> (u64, &[u8]) {
    match outcome {
        Outcome::Logged { index, proof, .. } => (*index, proof),
        Outcome::Refused { rule, reason } => panic!("refused ({rule:?}): {reason}"),
    }
}

fn refused(outcome: &Outcome) -> Refusal {
    match outcome {
        Outcome::Refused { rule, .. } => *rule,
        Outcome::Logged { index, .. } => panic!("logged at {index}, expected a refusal"),
    }
}

#[test]
fn sequence_refuse_reopen_in_memory() {
    exercise(Arc::new(MemoryStorage::new()));
}

#[test]
fn sequence_refuse_reopen_in_git() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = GitStorage::init(dir.path().join("repo.git")).expect("git init");
    exercise(Arc::new(storage));
}

fn exercise(storage: Arc<dyn Storage>) {
    let fx = Fixture::new();
    let log = fx.create(Arc::clone(&storage));
    assert_eq!(log.read().keys.size(), 1);
    assert_eq!(log.read().releases.size(), 0);

    // Add a release key, then publish two releases in one batch.
    let add = fx.add_key(&fx.release_key, "example/*", 0);
    let out = log.sequence(vec![sub(LogKind::Keys, &add)]);
    let (index, proof) = logged(&out[0]);
    assert_eq!(index, 1);
    let keys_cp = check_proof(&fx, LogKind::Keys, proof, &add);

    let r1 = fx.release(&fx.release_key, "example/os", "1.0", b"one");
    let r2 = fx.release(&fx.release_key, "example/os", "2.0", b"two");
    let out = log.sequence(vec![
        sub(LogKind::Releases, &r1),
        sub(LogKind::Releases, &r2),
    ]);
    let (i1, p1) = logged(&out[0]);
    let (i2, p2) = logged(&out[1]);
    assert_eq!((i1, i2), (0, 1));
    let cp1 = check_proof(&fx, LogKind::Releases, p1, &r1);
    check_proof(&fx, LogKind::Releases, p2, &r2);

    // Refusals, each with its rule, in one batch with a duplicate and a good entry.
    let stranger = signer("example.org/stranger", 9);
    let r3 = fx.release(&fx.release_key, "example/os", "3.0", b"three");
    let out = log.sequence(vec![
        sub(LogKind::Releases, b"not a note"),
        sub(
            LogKind::Releases,
            &fx.release(&stranger, "example/os", "4.0", b"x"),
        ),
        sub(
            LogKind::Releases,
            &fx.release(&fx.release_key, "other/os", "1.0", b"x"),
        ),
        sub(
            LogKind::Releases,
            &fx.release(&fx.release_key, "example/os", "1.0", b"changed"),
        ),
        sub(LogKind::Releases, &add),
        sub(LogKind::Keys, &fx.add_key(&stranger, "example/*", 0)[..40]),
        sub(
            LogKind::Keys,
            &signed(
                &KeyEvent::Add {
                    key: stranger.verifier(),
                    scope: Scope::new("example/*").expect("scope"),
                    from: 0,
                    reason: Some(Reason::new("not signed by a root").expect("reason")),
                }
                .to_text(),
                &[&stranger],
            ),
        ),
        sub(LogKind::Releases, &r1),
        sub(LogKind::Releases, &r3),
    ]);
    assert_eq!(refused(&out[0]), Refusal::Malformed, "malformed note");
    assert_eq!(refused(&out[1]), Refusal::Unauthorized, "unknown key");
    assert_eq!(refused(&out[2]), Refusal::Unauthorized, "out of scope");
    assert_eq!(refused(&out[3]), Refusal::Conflict, "conflicting release");
    assert_eq!(
        refused(&out[4]),
        Refusal::Malformed,
        "key event in the release log"
    );
    assert_eq!(refused(&out[5]), Refusal::Malformed, "truncated key event");
    assert_eq!(refused(&out[6]), Refusal::Unauthorized, "below threshold");
    let (dup, _) = logged(&out[7]);
    assert_eq!(dup, 0, "identical resubmission answers the existing index");
    let (i3, p3) = logged(&out[8]);
    assert_eq!(i3, 2);
    let cp2 = check_proof(&fx, LogKind::Releases, p3, &r3);
    let state = log.read();
    let consistency = state.releases_consistency(cp1.size(), cp2.size());
    drop(state);
    verify_consistent(&cp1, &cp2, &consistency).expect("consistent");
    assert_eq!(log.read().lookup_release("example/os", "2.0"), Some(1));
    assert_eq!(
        log.read()
            .lookup_digest(Sha256Digest::of(b"three").as_bytes()),
        vec![2]
    );

    // Reopen from storage: the same state, verified on load.
    let reopened =
        Log::open(PREFIX, &fx.log_keys, storage, Arc::new(Metrics::default())).expect("reopen");
    let (a, b) = (log.read(), reopened.read());
    assert_eq!(a.releases.size(), b.releases.size());
    assert_eq!(a.keys.size(), b.keys.size());
    assert_eq!(a.releases.checkpoint(), b.releases.checkpoint());
    assert_eq!(a.keys.checkpoint(), b.keys.checkpoint());
    assert_eq!(b.lookup_release("example/os", "3.0"), Some(2));
    assert_eq!(keys_cp.size(), 2);
}

#[test]
fn open_refuses_a_foreign_log_key() {
    let fx = Fixture::new();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    fx.create(Arc::clone(&storage));
    let other = LogKeys {
        releases: signer("example.org/releases", 42).into(),
        ..fx.log_keys.clone()
    };
    let err =
        Log::open(PREFIX, &other, storage, Arc::new(Metrics::default())).expect_err("foreign key");
    assert!(err.to_string().contains("log key"), "{err}");
}

#[test]
fn create_refuses_a_bad_genesis() {
    let fx = Fixture::new();
    let add = fx.add_key(&fx.release_key, "example/*", 0);
    let result = Log::create(
        PREFIX,
        &fx.log_keys,
        Arc::new(MemoryStorage::new()),
        &add,
        Arc::new(Metrics::default()),
    );
    assert!(result.is_err());
}

/// Storage whose next commit fails once, as a full disk would make it.
struct FlakyStorage {
    inner: MemoryStorage,
    fail_next: std::sync::atomic::AtomicBool,
}

impl Storage for FlakyStorage {
    fn head(&self) -> Result<Option<CommitId>, StorageError> {
        self.inner.head()
    }

    fn read(&self, at: &CommitId, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read(at, path)
    }

    fn commit(
        &self,
        parent: Option<&CommitId>,
        changes: &[Change],
        message: &str,
    ) -> Result<CommitId, StorageError> {
        if self
            .fail_next
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StorageError::InvalidMessage {
                reason: "simulated I/O failure",
            });
        }
        self.inner.commit(parent, changes, message)
    }

    fn commit_info(&self, at: &CommitId) -> Result<CommitInfo, StorageError> {
        self.inner.commit_info(at)
    }
}

#[test]
fn a_failed_commit_acknowledges_nothing_and_the_log_recovers() {
    let fx = Fixture::new();
    let storage = Arc::new(FlakyStorage {
        inner: MemoryStorage::new(),
        fail_next: std::sync::atomic::AtomicBool::new(false),
    });
    let log = fx.create(storage.clone());
    let add = fx.add_key(&fx.release_key, "example/*", 0);
    logged(&log.sequence(vec![sub(LogKind::Keys, &add)])[0]);
    let checkpoint_before = log.read().releases.checkpoint();

    storage
        .fail_next
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let lost = fx.release(&fx.release_key, "example/os", "1.0", b"one");
    let out = log.sequence(vec![
        sub(LogKind::Releases, &lost),
        sub(LogKind::Releases, b"junk"),
    ]);
    assert_eq!(refused(&out[0]), Refusal::Unavailable, "not acknowledged");
    assert_eq!(
        refused(&out[1]),
        Refusal::Malformed,
        "refusals keep their own reason"
    );
    {
        let state = log.read();
        assert_eq!(state.releases.size(), 0, "nothing uncommitted is visible");
        assert_eq!(state.releases.checkpoint(), checkpoint_before);
        assert_eq!(state.lookup_release("example/os", "1.0"), None);
    }
    assert!(!log.is_broken());

    // The same entry goes in at index 0 on retry: the failed batch left no trace.
    let out = log.sequence(vec![sub(LogKind::Releases, &lost)]);
    let (index, proof) = logged(&out[0]);
    assert_eq!(index, 0);
    check_proof(&fx, LogKind::Releases, proof, &lost);
}

/// With witnesses, readers see a checkpoint once its witnessing round published it: cosigned
/// on the branch head it is committed again (a commit the log reopens from); superseded by a
/// newer batch it is published to readers only, and readers' checkpoint never moves back.
#[test]
fn witnessed_checkpoints_are_published_after_their_round() {
    use cairn_verifier::cosignature::CosignatureSigner;
    let fx = Fixture::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let storage: Arc<dyn Storage> =
        Arc::new(GitStorage::init(dir.path().join("repo.git")).expect("init"));
    let log = fx.create(Arc::clone(&storage));
    log.set_witnessed(true);
    let before = log.read().keys.checkpoint();
    logged(
        &log.sequence(vec![sub(
            LogKind::Keys,
            &fx.add_key(&fx.release_key, "example/*", 0),
        )])[0],
    );
    // Committed, acknowledged with a proof against the head, not yet published to readers.
    assert_eq!(log.read().keys.size(), 2);
    assert_eq!(log.read().keys.checkpoint(), before);
    assert!(log.read().keys.proof(1).is_none());
    assert!(log.read().keys.head_proof(1).is_some());
    let witness = CosignatureSigner::from_seed(KeyName::new("w.example").expect("name"), [9; 32]);
    let plain = log.plain_checkpoint(LogKind::Keys).expect("checkpoint");
    let cosig = witness
        .cosign_text(plain.text(), 1_700_000_000)
        .expect("cosign");
    assert!(
        log.publish_witnessed(LogKind::Keys, plain.text(), vec![cosig.clone()])
            .expect("publish"),
        "a new cosignature on the head checkpoint is committed"
    );
    let published = log.read().keys.checkpoint();
    assert_eq!(published, log.read().keys.head_checkpoint());
    let note = Note::parse(&published).expect("note");
    assert_eq!(
        witness.verifier().cosignature_time(&note),
        Ok(1_700_000_000)
    );
    check_proof(
        &fx,
        LogKind::Keys,
        &log.read().keys.proof(1).expect("proof"),
        &fx.add_key(&fx.release_key, "example/*", 0),
    );
    // The same again changes nothing.
    assert!(
        !log.publish_witnessed(LogKind::Keys, plain.text(), vec![cosig])
            .expect("publish")
    );
    // A round that finishes after a newer batch: published to readers, not committed.
    let one = fx.release(&fx.release_key, "example/os", "1", b"one");
    logged(&log.sequence(vec![sub(LogKind::Releases, &one)])[0]);
    let stale = log.plain_checkpoint(LogKind::Releases).expect("checkpoint");
    logged(
        &log.sequence(vec![sub(
            LogKind::Releases,
            &fx.release(&fx.release_key, "example/os", "2", b"two"),
        )])[0],
    );
    let cosig = witness
        .cosign_text(stale.text(), 1_700_000_001)
        .expect("cosign");
    assert!(
        !log.publish_witnessed(LogKind::Releases, stale.text(), vec![cosig])
            .expect("publish")
    );
    assert_eq!(log.read().releases.published_size(), 1);
    assert_eq!(log.read().releases.size(), 2);
    let cp = check_proof(
        &fx,
        LogKind::Releases,
        &log.read().releases.proof(0).expect("proof"),
        &one,
    );
    assert_eq!(
        witness.verifier().cosignature_time(cp.note()),
        Ok(1_700_000_001)
    );
    // The head's round without any cosignature still publishes it (with what the log has).
    let head = log.plain_checkpoint(LogKind::Releases).expect("checkpoint");
    assert!(
        !log.publish_witnessed(LogKind::Releases, head.text(), vec![])
            .expect("publish")
    );
    assert_eq!(log.read().releases.published_size(), 2);
    // An older round finishing late does not move readers back.
    assert!(
        !log.publish_witnessed(LogKind::Releases, stale.text(), vec![])
            .expect("publish")
    );
    assert_eq!(log.read().releases.published_size(), 2);
    // The log reopens from the branch, cosigned key checkpoint included.
    drop(log);
    let reopened =
        Log::open(PREFIX, &fx.log_keys, storage, Arc::new(Metrics::default())).expect("reopen");
    assert_eq!(reopened.read().keys.checkpoint(), published);
    assert_eq!(reopened.read().releases.size(), 2);
}

/// Storage that runs out of file descriptors for a while: commits and reads fail with EMFILE
/// until `available` is set again.
struct DescriptorStarvedStorage {
    inner: MemoryStorage,
    starved: std::sync::atomic::AtomicBool,
}

impl DescriptorStarvedStorage {
    fn check(&self) -> Result<(), StorageError> {
        if self.starved.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StorageError::InvalidMessage {
                reason: "Too many open files (os error 24)",
            });
        }
        Ok(())
    }
}

impl Storage for DescriptorStarvedStorage {
    fn head(&self) -> Result<Option<CommitId>, StorageError> {
        self.check()?;
        self.inner.head()
    }

    fn read(&self, at: &CommitId, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.check()?;
        self.inner.read(at, path)
    }

    fn commit(
        &self,
        parent: Option<&CommitId>,
        changes: &[Change],
        message: &str,
    ) -> Result<CommitId, StorageError> {
        self.check()?;
        self.inner.commit(parent, changes, message)
    }

    fn commit_info(&self, at: &CommitId) -> Result<CommitInfo, StorageError> {
        self.check()?;
        self.inner.commit_info(at)
    }
}

/// Issue 12: a commit and the state reload after it both fail (the process is out of
/// descriptors). The log refuses writes with 503 meanwhile, and accepts them again as soon as
/// the storage works, without a restart.
#[test]
fn a_log_starved_of_descriptors_recovers_without_a_restart() {
    let fx = Fixture::new();
    let storage = Arc::new(DescriptorStarvedStorage {
        inner: MemoryStorage::new(),
        starved: std::sync::atomic::AtomicBool::new(false),
    });
    let log = fx.create(storage.clone());
    let add = fx.add_key(&fx.release_key, "example/*", 0);
    logged(&log.sequence(vec![sub(LogKind::Keys, &add)])[0]);

    storage
        .starved
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let release = fx.release(&fx.release_key, "example/os", "1.0", b"one");
    assert_eq!(
        refused(&log.sequence(vec![sub(LogKind::Releases, &release)])[0]),
        Refusal::Unavailable
    );
    assert!(log.is_broken(), "the reload failed too");
    let out = log.sequence(vec![sub(LogKind::Releases, &release)]);
    let Outcome::Refused { rule, reason } = &out[0] else {
        panic!("logged while the storage fails");
    };
    assert_eq!(*rule, Refusal::Unavailable);
    assert!(reason.contains("Too many open files"), "{reason}");

    storage
        .starved
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let out = log.sequence(vec![sub(LogKind::Releases, &release)]);
    let (index, proof) = logged(&out[0]);
    assert_eq!(index, 0);
    check_proof(&fx, LogKind::Releases, proof, &release);
    assert!(!log.is_broken());
}

/// A log made before per-origin keys (one key named PREFIX for both logs) keeps working, and
/// after `cairn migrate-keys` (the release log keeps its key material, the key log gets a new
/// key, the old key stays as `log.key`) reopening re-signs the key log's checkpoint so that it
/// verifies under the new per-origin key and still under the old key's derived name.
#[test]
fn single_key_logs_open_and_migrate_to_per_origin_keys() {
    let fx = Fixture::new();
    let old = signer(PREFIX, 7);
    let single = LogKeys::single(&KeySigner::from(signer(PREFIX, 7)), PREFIX).expect("keys");
    assert!(single.is_single_key());
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let log = Log::create(
        PREFIX,
        &single,
        Arc::clone(&storage),
        &fx.genesis(),
        Arc::new(Metrics::default()),
    )
    .expect("create a single-key log");
    let add = fx.add_key(&fx.release_key, "example/*", 0);
    assert!(matches!(
        log.sequence(vec![sub(LogKind::Keys, &add)]).as_slice(),
        [Outcome::Logged { .. }]
    ));
    let derived = |name: &str| old.with_name(KeyName::new(name).expect("name")).verifier();
    let before = log.read().keys.checkpoint().to_vec();
    VerifiedCheckpoint::verify(&before, "example.org/keys", &derived("example.org/keys"))
        .expect("signed with the single key");
    let releases_before = log.read().releases.checkpoint().to_vec();
    let vkey_file = |storage: &Arc<dyn Storage>| {
        let head = storage.head().expect("head").expect("a commit");
        String::from_utf8(
            storage
                .read(&head, "cairn-log.vkey")
                .expect("read")
                .expect("file"),
        )
        .expect("UTF-8")
    };
    assert_eq!(
        vkey_file(&storage),
        format!("{}\n", old.verifier().to_vkey()),
        "an unmigrated log names its one key PREFIX"
    );
    drop(log);

    // Migrated, but log.key deleted before the first start: the stored key-log checkpoint
    // (signed only by the old key) is still the log's own, and is re-signed by the new key.
    let copy: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let early = LogKeys {
        releases: single.releases.clone(),
        keys: signer("example.org/keys", 9).into(),
        legacy: None,
    };
    {
        let log = Log::create(
            PREFIX,
            &single,
            Arc::clone(&copy),
            &fx.genesis(),
            Arc::new(Metrics::default()),
        )
        .expect("create");
        drop(log);
        let log = Log::open(
            PREFIX,
            &early,
            Arc::clone(&copy),
            Arc::new(Metrics::default()),
        )
        .expect("open without log.key right after the migration");
        let cp = log.read().keys.checkpoint().to_vec();
        VerifiedCheckpoint::verify(&cp, "example.org/keys", &early.keys.verifier())
            .expect("re-signed with the new key");
        assert_eq!(Note::parse(&cp).expect("note").signatures().len(), 1);
        assert_eq!(vkey_file(&copy), early.vkeys());
    }

    let new_keys_key = signer("example.org/keys", 8);
    let migrated = LogKeys {
        releases: single.releases.clone(),
        keys: signer("example.org/keys", 8).into(),
        legacy: Some(signer(PREFIX, 7).into()),
    };
    let log = Log::open(
        PREFIX,
        &migrated,
        Arc::clone(&storage),
        Arc::new(Metrics::default()),
    )
    .expect("open after the migration");
    assert_eq!(
        vkey_file(&storage),
        migrated.vkeys(),
        "the first start after the migration publishes the per-origin keys on the branch"
    );
    assert_eq!(migrated.vkeys().lines().count(), 2);
    let after = log.read().keys.checkpoint().to_vec();
    assert_ne!(after, before, "the key log's checkpoint was re-signed");
    VerifiedCheckpoint::verify(&after, "example.org/keys", &new_keys_key.verifier())
        .expect("verifies under the new per-origin key");
    VerifiedCheckpoint::verify(&after, "example.org/keys", &derived("example.org/keys"))
        .expect("and under the old key (old trust files)");
    assert_eq!(
        log.read().releases.checkpoint().to_vec(),
        releases_before,
        "the release log keeps its key: nothing to re-sign"
    );
    // New batches carry both signatures too; the re-signed head is on the branch.
    let release = fx.release(&fx.release_key, "example/os", "1.0", b"one");
    let outcome = log.sequence(vec![sub(LogKind::Releases, &release)]);
    assert!(matches!(outcome.as_slice(), [Outcome::Logged { .. }]));
    drop(log);
    let reopened = Log::open(
        PREFIX,
        &migrated,
        Arc::clone(&storage),
        Arc::new(Metrics::default()),
    )
    .expect("reopen");
    assert_eq!(reopened.read().keys.checkpoint().to_vec(), after);

    // Once log.key is deleted, the old signature goes away at the next start.
    let done = LogKeys {
        legacy: None,
        ..migrated
    };
    drop(reopened);
    let log = Log::open(PREFIX, &done, storage, Arc::new(Metrics::default())).expect("reopen");
    let last = log.read().keys.checkpoint().to_vec();
    assert_eq!(Note::parse(&last).expect("note").signatures().len(), 1);
    VerifiedCheckpoint::verify(&last, "example.org/keys", &new_keys_key.verifier())
        .expect("new key only");
}
