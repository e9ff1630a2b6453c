//! Crash safety: SIGKILL the server in the middle of a stream of submissions to both logs, at
//! random moments, several times; after each restart every acknowledged entry is at its
//! acknowledged index with the same bytes, nothing that was not submitted is logged, and the new
//! checkpoints are consistent with every checkpoint observed before the kill.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cairn_tests::fixtures::{Keys, add_key_event, key, release, sign};
use cairn_tests::http::Http;
use cairn_tests::log::{Log, LogView};
use cairn_tests::{Rng, TestLog};
use cairn_verifier::checkpoint::VerifiedCheckpoint;

const ROUNDS: usize = 10;
const RELEASE_SUBMITTERS: usize = 4;

/// An acknowledged submission.
struct Ack {
    log: Log,
    index: u64,
    entry: Vec<u8>,
}

#[derive(Default)]
struct Record {
    /// Every entry ever sent (acknowledged or not), per log.
    attempted: Mutex<[HashSet<Vec<u8>>; 2]>,
    acks: Mutex<Vec<Ack>>,
    /// Every checkpoint seen: served ones and those in proofs.
    observed: Mutex<Vec<(Log, VerifiedCheckpoint)>>,
}

fn slot(log: Log) -> usize {
    match log {
        Log::Releases => 0,
        Log::Keys => 1,
    }
}

/// Submits entries from `make` until the server goes away or `stop` is set.
fn submit_stream(
    url: &str,
    view: &LogView,
    record: &Record,
    stop: &AtomicBool,
    acked: &AtomicUsize,
    mut make: impl FnMut(usize) -> Vec<u8>,
) {
    let http = Http::new();
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let entry = make(n);
        record.attempted.lock().expect("record")[slot(view.log())].insert(entry.clone());
        let Ok(reply) = http.post(url, &entry) else {
            // Killed: connection refused or reset. The entry may or may not be logged.
            return;
        };
        match reply.status {
            200 => {
                let (index, checkpoint) = view.verify_proof(&reply.body, &entry);
                record.acks.lock().expect("record").push(Ack {
                    log: view.log(),
                    index,
                    entry,
                });
                record
                    .observed
                    .lock()
                    .expect("record")
                    .push((view.log(), checkpoint));
                acked.fetch_add(1, Ordering::SeqCst);
            }
            // Shutting down or storage failed: not acknowledged.
            503 => {}
            other => panic!(
                "{}: unexpected {other} for a valid entry: {}",
                view.origin(),
                reply.text()
            ),
        }
    }
}

/// Fetches both checkpoints until the server goes away or `stop` is set.
fn observe(views: &[LogView; 2], record: &Record, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        for view in views {
            match view.try_checkpoint() {
                Ok(checkpoint) => record
                    .observed
                    .lock()
                    .expect("record")
                    .push((view.log(), checkpoint)),
                Err(e) if e.0.contains("does not verify") => panic!("{e}"),
                Err(_) => return,
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Polls `done` every few milliseconds until it holds or `timeout` passes; returns whether it
/// held.
fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// After a restart: every acknowledged entry is in place, nothing unknown is logged, and every
/// checkpoint observed so far is consistent with the new one.
fn check_after_restart(log: &TestLog, record: &Record, initial: &[Vec<Vec<u8>>; 2]) {
    for which in [Log::Releases, Log::Keys] {
        let view = log.view(which);
        let checkpoint = view.checkpoint();
        let entries = view.entries(&checkpoint);
        for ack in record.acks.lock().expect("record").iter() {
            if ack.log != which {
                continue;
            }
            let at = usize::try_from(ack.index).expect("fits");
            assert!(
                entries.get(at) == Some(&ack.entry),
                "{}: the entry acknowledged at index {} is {} after the restart (size {})",
                view.origin(),
                ack.index,
                if at < entries.len() {
                    "different"
                } else {
                    "missing"
                },
                checkpoint.size()
            );
        }
        let attempted = &record.attempted.lock().expect("record")[slot(which)];
        let known = &initial[slot(which)];
        let mut seen = HashSet::new();
        for (i, entry) in entries.iter().enumerate() {
            assert!(
                known.get(i) == Some(entry) || attempted.contains(entry),
                "{}: entry {i} was never submitted:\n{}",
                view.origin(),
                String::from_utf8_lossy(entry)
            );
            assert!(
                seen.insert(entry),
                "{}: entry {i} is logged twice",
                view.origin()
            );
        }
        let observed = record.observed.lock().expect("record");
        for (_, older) in observed.iter().filter(|(l, _)| *l == which) {
            view.check_consistent(older, &checkpoint);
        }
        drop(observed);
        record
            .observed
            .lock()
            .expect("record")
            .push((which, checkpoint));
    }
}

#[test]
fn sigkill_during_submissions_loses_nothing_acknowledged() {
    let mut rng = Rng::from_env_or_clock("sigkill_during_submissions_loses_nothing_acknowledged");
    let keys = Keys::new();
    let genesis = keys.genesis();
    let add = keys.add_release_key();
    let mut log = TestLog::start(&genesis, &[]);
    log.publish(Log::Keys, &add);
    let initial = [Vec::new(), vec![genesis, add]];
    let record = Record::default();

    for round in 0..ROUNDS {
        let stop = AtomicBool::new(false);
        let acked = AtomicUsize::new(0);
        let target = usize::try_from(rng.range(0, 60)).expect("small");
        let extra_delay = Duration::from_micros(rng.range(0, 20_000));
        let views = [log.view(Log::Releases), log.view(Log::Keys)];
        let release_url = log.server.url("/releases/add");
        let keys_url = log.server.url("/keys/add");
        std::thread::scope(|scope| {
            for t in 0..RELEASE_SUBMITTERS {
                let (url, view, record, stop, acked, keys) =
                    (&release_url, &views[0], &record, &stop, &acked, &keys);
                scope.spawn(move || {
                    submit_stream(url, view, record, stop, acked, |n| {
                        release(
                            &format!("example/crash{t}"),
                            &format!("{round}.{n}"),
                            &keys.release,
                        )
                    });
                });
            }
            {
                let (url, view, record, stop, acked, keys) =
                    (&keys_url, &views[1], &record, &stop, &acked, &keys);
                scope.spawn(move || {
                    submit_stream(url, view, record, stop, acked, |n| {
                        let new_key = key(&format!("crash-{round}-{n}"));
                        sign(&add_key_event(&new_key, "example/*", 0), &[&keys.root])
                    });
                });
            }
            {
                let (views, record, stop) = (&views, &record, &stop);
                scope.spawn(move || observe(views, record, stop));
            }
            // Wait for the target without panicking here: the submitters only stop once the
            // server is gone.
            let reached = wait_for(Duration::from_secs(60), || {
                acked.load(Ordering::SeqCst) >= target
            });
            // A random moment, not a synchronisation: the kill lands anywhere in a batch.
            std::thread::sleep(extra_delay);
            log.server.sigkill();
            stop.store(true, Ordering::SeqCst);
            assert!(
                reached,
                "round {round}: only {} of {target} submissions acknowledged within 60 s; \
                 server stderr:\n{}",
                acked.load(Ordering::SeqCst),
                log.server.stderr()
            );
        });
        eprintln!(
            "round {round}: killed after {} acknowledgements (target {target}, +{extra_delay:?})",
            acked.load(Ordering::SeqCst)
        );
        log.restart(&[]);
        check_after_restart(&log, &record, &initial);
    }

    // The restarted server still sequences, consistently with everything before.
    let entry = release("example/after-crash", "1.0", &keys.release);
    let (index, checkpoint) = log.publish(Log::Releases, &entry);
    record.acks.lock().expect("record").push(Ack {
        log: Log::Releases,
        index,
        entry: entry.clone(),
    });
    record.attempted.lock().expect("record")[0].insert(entry);
    record
        .observed
        .lock()
        .expect("record")
        .push((Log::Releases, checkpoint));
    check_after_restart(&log, &record, &initial);
}

#[test]
fn a_restart_keeps_key_state_lookups_conflicts_and_idempotence() {
    let keys = Keys::new();
    let mut log = TestLog::start(&keys.genesis(), &[]);
    log.publish(Log::Keys, &keys.add_release_key());
    let revoked = key("release-revoked");
    log.publish(
        Log::Keys,
        &sign(&add_key_event(&revoked, "example/*", 0), &[&keys.root]),
    );
    let first = release("example/app", "1.0", &keys.release);
    let (first_index, _) = log.publish(Log::Releases, &first);
    log.publish(
        Log::Keys,
        &sign(
            &cairn_tests::fixtures::revoke_key_event(&revoked, 0),
            &[&keys.root],
        ),
    );
    log.restart(&[]);

    // The key log was replayed: the revocation still holds, the addition still counts.
    let reply = log.submit(Log::Releases, &release("example/app", "2.0", &revoked));
    cairn_tests::assert_refused(&reply, 403, "a revoked key after a restart");
    let (second_index, _) =
        log.publish(Log::Releases, &release("example/app", "2.0", &keys.release));
    assert_eq!(second_index, first_index + 1);
    // The name index was rebuilt: a resubmission keeps its index, a conflict is still refused,
    // lookups answer.
    assert_eq!(log.publish(Log::Releases, &first).0, first_index);
    let conflicting = sign(
        &cairn_tests::fixtures::release_text("example/app", "1.0", &["other.img"]),
        &[&keys.release],
    );
    cairn_tests::assert_refused(
        &log.submit(Log::Releases, &conflicting),
        409,
        "a conflicting release after a restart",
    );
    let reply = log
        .get("/releases/lookup/name/example/app/1.0")
        .expect_ok("name lookup after a restart");
    assert_eq!(reply.text(), format!("{first_index}\n"));
    // A key event resubmitted after a restart keeps its index too.
    assert_eq!(log.publish(Log::Keys, &keys.add_release_key()).0, 1);
}
