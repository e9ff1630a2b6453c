//! A log key that fails to sign (a PKCS#11 token removed, an agent gone): the batch is refused
//! with 503 and nothing of it is logged; nothing acknowledged is lost; the log signs again by
//! itself when the key works again. The key here is an in-memory Ed25519 key behind a switch;
//! `tests/tests/hardware_keys.rs` does the same with a real SoftHSM2 token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cairn_log_server::config::LogKeys;
use cairn_log_server::log::{Log, LogKind, Outcome, Refusal, Submission};
use cairn_log_server::metrics::Metrics;
use cairn_log_server::storage::{MemoryStorage, Storage};
use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::entry::{KeyEvent, RootSet, Scope};
use cairn_verifier::note::{Ed25519Signer, KeyName, Note, NoteSigner};
use cairn_verifier::signer::{Ed25519Key, KeySigner, SignError};

const PREFIX: &str = "example.org";

#[derive(Debug)]
struct Switchable {
    key: Ed25519Signer,
    working: AtomicBool,
}

impl Ed25519Key for Switchable {
    fn public_key(&self) -> [u8; 32] {
        self.key.public_key()
    }

    fn try_sign_raw(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        if self.working.load(Ordering::SeqCst) {
            Ok(self.key.sign_raw(message))
        } else {
            Err(SignError("token not present".to_owned()))
        }
    }
}

fn signer(name: &str, seed: u8) -> Ed25519Signer {
    Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32])
}

fn signed(text: &str, signers: &[&dyn NoteSigner]) -> Vec<u8> {
    Note::sign(text, signers).expect("sign").to_bytes()
}

fn add_key_event(root: &Ed25519Signer, key: &Ed25519Signer) -> Vec<u8> {
    let event = KeyEvent::Add {
        key: key.verifier(),
        scope: Scope::new("example/*").expect("scope"),
        from: 0,
        reason: None,
    };
    signed(&event.to_text(), &[root])
}

#[test]
fn a_failing_log_key_refuses_the_batch_and_recovers() {
    let root = signer("example.org/root", 2);
    let genesis = KeyEvent::Root {
        roots: RootSet::new(vec![root.verifier()], 1).expect("roots"),
        reason: None,
    };
    let file_key = signer(PREFIX, 1);
    let device = Arc::new(Switchable {
        key: signer(PREFIX, 1),
        working: AtomicBool::new(true),
    });
    let log_key =
        KeySigner::new(KeyName::new(PREFIX).expect("name"), device.clone()).expect("valid key");
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    // Both logs signed with the device key (the single-key layout; per-origin keys on two
    // devices behave the same per log).
    let log_keys = LogKeys::single(&log_key, PREFIX).expect("keys");
    let log = Log::create(
        PREFIX,
        &log_keys,
        Arc::clone(&storage),
        &signed(&genesis.to_text(), &[&root]),
        Arc::new(Metrics::default()),
    )
    .expect("create");
    let first = add_key_event(&root, &signer("example.org/rel-1", 3));
    let outcomes = log.sequence(vec![Submission::new(LogKind::Keys, first.clone())]);
    assert!(
        matches!(outcomes[..], [Outcome::Logged { index: 1, .. }]),
        "{outcomes:?}"
    );

    device.working.store(false, Ordering::SeqCst);
    let second = add_key_event(&root, &signer("example.org/rel-2", 4));
    let outcomes = log.sequence(vec![Submission::new(LogKind::Keys, second.clone())]);
    match &outcomes[..] {
        [
            Outcome::Refused {
                rule: Refusal::Unavailable,
                reason,
            },
        ] => {
            assert!(reason.contains("the log key could not sign"), "{reason}");
            assert!(reason.contains("token not present"), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        !log.is_broken(),
        "a signing failure must not stop the log for good"
    );
    {
        let state = log.read();
        assert_eq!(state.keys.size(), 2, "the refused entry is not in the tree");
    }
    // What a restart would load: the acknowledged entry, not the refused one, under the key
    // file's own signature (same key material).
    let reopened = Log::open(
        PREFIX,
        &LogKeys::single(&signer(PREFIX, 1).into(), PREFIX).expect("keys"),
        Arc::clone(&storage),
        Arc::new(Metrics::default()),
    )
    .expect("reopen");
    assert_eq!(reopened.read().keys.size(), 2);
    drop(reopened);

    device.working.store(true, Ordering::SeqCst);
    let outcomes = log.sequence(vec![Submission::new(LogKind::Keys, second)]);
    assert!(
        matches!(outcomes[..], [Outcome::Logged { index: 2, .. }]),
        "{outcomes:?}"
    );
    let checkpoint = log.read().keys.checkpoint();
    let verifier = file_key
        .verifier()
        .with_name(KeyName::new("example.org/keys").expect("name"));
    let verified =
        VerifiedCheckpoint::verify(&checkpoint, "example.org/keys", &verifier).expect("verifies");
    assert_eq!(verified.size(), 3);
}
