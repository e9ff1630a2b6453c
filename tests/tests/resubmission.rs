//! Idempotent resubmission, and the rate limits (429 with `Retry-After`).

use std::sync::Barrier;
use std::time::{Duration, Instant};

use cairn_tests::fixtures::{Keys, add_key_event, key, release, sign};
use cairn_tests::http::{Http, Reply};
use cairn_tests::log::Log;
use cairn_tests::{TestLog, assert_refused};

#[test]
fn identical_resubmission_returns_the_same_index() {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), &[]);
    let add = keys.add_release_key();
    let (key_index, _) = log.publish(Log::Keys, &add);
    let (again, _) = log.publish(Log::Keys, &add);
    assert_eq!(again, key_index, "a resubmitted key event keeps its index");

    let first = release("example/app", "1.0", &keys.release);
    let second = release("example/app", "2.0", &keys.release);
    let (i1, _) = log.publish(Log::Releases, &first);
    let (i2, _) = log.publish(Log::Releases, &second);
    for _ in 0..3 {
        assert_eq!(log.publish(Log::Releases, &first).0, i1);
        assert_eq!(log.publish(Log::Releases, &second).0, i2);
    }
    let releases = log.view(Log::Releases);
    let checkpoint = releases.checkpoint();
    assert_eq!(checkpoint.size(), 2, "resubmissions add nothing");
    assert_eq!(releases.entries(&checkpoint), vec![first, second]);
    let keylog = log.view(Log::Keys);
    assert_eq!(keylog.checkpoint().size(), 2, "genesis and one addition");
}

#[test]
fn concurrent_identical_submissions_are_logged_once() {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), &[]);
    log.publish(Log::Keys, &keys.add_release_key());
    let entry = release("example/app", "1.0", &keys.release);
    let releases = log.view(Log::Releases);
    let threads = 8;
    let barrier = Barrier::new(threads);
    let indexes: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let http = Http::new();
                    barrier.wait();
                    let reply = http.must_post(&log.server.url("/releases/add"), &entry);
                    assert_eq!(reply.status, 200, "{}", reply.text());
                    releases.verify_proof(&reply.body, &entry).0
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("submitter"))
            .collect()
    });
    assert!(
        indexes.iter().all(|&i| i == 0),
        "every identical submission got the same index: {indexes:?}"
    );
    let checkpoint = releases.checkpoint();
    assert_eq!(releases.entries(&checkpoint), vec![entry]);
}

/// Submits `entries` in order until one is rate limited; returns how many were accepted and the
/// 429 reply with the index of the entry it refused.
fn submit_until_limited(log: &TestLog, entries: &[Vec<u8>]) -> (usize, Option<(usize, Reply)>) {
    let mut accepted = 0;
    for (i, entry) in entries.iter().enumerate() {
        let reply = log.submit(Log::Releases, entry);
        match reply.status {
            200 => accepted += 1,
            429 => return (accepted, Some((i, reply))),
            other => panic!("unexpected {other}: {}", reply.text()),
        }
    }
    (accepted, None)
}

/// Checks a 429: one-line reason and a `Retry-After` of a whole number of seconds (at least 1,
/// at most a minute). Returns the delay.
fn check_429(reply: &Reply, what: &str) -> Duration {
    assert_refused(reply, 429, what);
    let value = reply
        .header("retry-after")
        .unwrap_or_else(|| panic!("{what}: 429 without Retry-After"));
    let seconds: u64 = value
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{what}: Retry-After {value:?} is not delay-seconds"));
    assert!(
        (1..=60).contains(&seconds),
        "{what}: Retry-After {seconds} is not a sensible delay"
    );
    Duration::from_secs(seconds)
}

/// Resubmits `entry` until it is accepted, waiting `Retry-After` between attempts, within a
/// deadline.
fn retry_after_waiting(log: &TestLog, entry: &[u8], mut wait: Duration) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(wait);
        let reply = log.submit(Log::Releases, entry);
        if reply.status == 200 {
            return log.view(Log::Releases).verify_proof(&reply.body, entry).0;
        }
        wait = check_429(&reply, "retry after waiting");
        assert!(Instant::now() < deadline, "still limited after Retry-After");
    }
}

#[test]
fn per_address_rate_limit_answers_429_with_retry_after() {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), &["--rate-limit-address", "2"]);
    // The key addition may itself be limited; the harness does not retry, so give it room.
    let add = keys.add_release_key();
    let reply = log.submit(Log::Keys, &add);
    if reply.status == 429 {
        let wait = check_429(&reply, "key addition");
        std::thread::sleep(wait);
        log.publish(Log::Keys, &add);
    } else {
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let entries: Vec<Vec<u8>> = (0..20)
        .map(|i| release("example/app", &format!("1.{i}"), &keys.release))
        .collect();
    let (accepted, limited) = submit_until_limited(&log, &entries);
    let (refused_at, reply) =
        limited.expect("20 submissions at once exceed a limit of 2 per second");
    let wait = check_429(&reply, "per-address limit");
    assert!(
        accepted <= 4,
        "a limit of 2 per second let {accepted} through"
    );
    let index = retry_after_waiting(&log, &entries[refused_at], wait);
    assert_eq!(
        index,
        u64::try_from(accepted).expect("small"),
        "the retried entry takes the next index"
    );
    let releases = log.view(Log::Releases);
    let logged = releases.entries(&releases.checkpoint());
    assert_eq!(
        logged,
        entries[..=refused_at].to_vec(),
        "exactly the accepted entries are logged"
    );
}

#[test]
fn per_key_rate_limit_answers_429_and_spares_other_keys() {
    let keys = Keys::new();
    let log = TestLog::start(
        &keys.genesis(),
        &["--rate-limit-key", "2", "--rate-limit-address", "0"],
    );
    let other = key("release-other");
    log.publish(Log::Keys, &keys.add_release_key());
    log.publish(
        Log::Keys,
        &sign(&add_key_event(&other, "example/*", 0), &[&keys.root]),
    );
    let entries: Vec<Vec<u8>> = (0..20)
        .map(|i| release("example/app", &format!("1.{i}"), &keys.release))
        .collect();
    let (_, limited) = submit_until_limited(&log, &entries);
    let (refused_at, reply) =
        limited.expect("20 submissions by one key exceed a limit of 2 per second");
    let wait = check_429(&reply, "per-key limit");
    // Another key is not limited by the first one's use.
    let by_other = release("example/other", "1.0", &other);
    let reply = log.submit(Log::Releases, &by_other);
    assert_eq!(
        reply.status,
        200,
        "a different key is not rate limited by another key's use: {}",
        reply.text()
    );
    retry_after_waiting(&log, &entries[refused_at], wait);
    let releases = log.view(Log::Releases);
    let logged = releases.entries(&releases.checkpoint());
    assert!(
        !entries[refused_at + 1..].iter().any(|e| logged.contains(e)),
        "entries never accepted are not logged"
    );
    assert_eq!(logged.len(), refused_at + 2);
}
