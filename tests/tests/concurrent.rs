//! Many concurrent submitters: every entry is logged exactly once, at the index it was
//! acknowledged with, and the final size is exact.

use std::collections::{HashMap, HashSet};
use std::sync::Barrier;

use cairn_tests::TestLog;
use cairn_tests::fixtures::{Keys, release};
use cairn_tests::http::Http;
use cairn_tests::log::Log;

const SUBMITTERS: usize = 50;
const ENTRIES_EACH: usize = 100;

#[test]
fn fifty_concurrent_submitters_of_a_hundred_entries_each_are_all_logged_exactly_once() {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), &[]);
    log.publish(Log::Keys, &keys.add_release_key());
    let releases = log.view(Log::Releases);
    let url = log.server.url("/releases/add");
    let barrier = Barrier::new(SUBMITTERS);

    let acked: Vec<(u64, Vec<u8>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..SUBMITTERS)
            .map(|t| {
                let (keys, releases, url, barrier) = (&keys, &releases, &url, &barrier);
                scope.spawn(move || {
                    let entries: Vec<Vec<u8>> = (0..ENTRIES_EACH)
                        .map(|n| {
                            release(&format!("example/s{t}"), &format!("1.{n}"), &keys.release)
                        })
                        .collect();
                    let http = Http::new();
                    barrier.wait();
                    entries
                        .into_iter()
                        .map(|entry| {
                            let reply = http.must_post(url, &entry);
                            assert_eq!(reply.status, 200, "submitter {t}: {}", reply.text());
                            let (index, _) = releases.verify_proof(&reply.body, &entry);
                            (index, entry)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("submitter thread"))
            .collect()
    });

    let total = SUBMITTERS * ENTRIES_EACH;
    assert_eq!(acked.len(), total);
    let by_index: HashMap<u64, &Vec<u8>> = acked.iter().map(|(i, e)| (*i, e)).collect();
    assert_eq!(by_index.len(), total, "every acknowledged index is unique");

    let checkpoint = releases.checkpoint();
    assert_eq!(
        checkpoint.size(),
        u64::try_from(total).expect("fits"),
        "the final size is exactly the number of submissions"
    );
    let logged = releases.entries(&checkpoint);
    let distinct: HashSet<&Vec<u8>> = logged.iter().collect();
    assert_eq!(distinct.len(), total, "no entry is logged twice");
    for (index, entry) in &acked {
        let at = usize::try_from(*index).expect("fits");
        assert!(
            logged.get(at) == Some(entry),
            "the entry acknowledged at index {index} is not there"
        );
    }
}

/// Submits every entry from its own thread at once; returns the replies in entry order.
fn submit_all_at_once(log: &TestLog, entries: &[Vec<u8>]) -> Vec<cairn_tests::http::Reply> {
    let url = log.server.url("/releases/add");
    let barrier = Barrier::new(entries.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .iter()
            .map(|entry| {
                let (url, barrier) = (&url, &barrier);
                scope.spawn(move || {
                    let http = Http::new();
                    barrier.wait();
                    http.must_post(url, entry)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("submitter thread"))
            .collect()
    })
}

#[test]
fn concurrent_conflicting_releases_for_one_name_and_version_accept_exactly_one() {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), &[]);
    log.publish(Log::Keys, &keys.add_release_key());
    let releases = log.view(Log::Releases);
    for round in 0..5 {
        let version = format!("{round}.0");
        // Eight different releases claiming the same name and version, submitted together so
        // that they can land in one batch.
        let entries: Vec<Vec<u8>> = (0..8)
            .map(|n| {
                cairn_tests::fixtures::sign(
                    &cairn_tests::fixtures::release_text(
                        "example/race",
                        &version,
                        &[&format!("variant-{n}.img")],
                    ),
                    &[&keys.release],
                )
            })
            .collect();
        let replies = submit_all_at_once(&log, &entries);
        let mut winners = Vec::new();
        for (entry, reply) in entries.iter().zip(&replies) {
            match reply.status {
                200 => winners.push(releases.verify_proof(&reply.body, entry).0),
                409 => {
                    cairn_tests::assert_refused(reply, 409, "the losing release");
                }
                other => panic!("unexpected {other}: {}", reply.text()),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one release may hold example/race {version}, \
             {} were accepted at {winners:?}",
            winners.len()
        );
    }
    let logged = releases.entries(&releases.checkpoint());
    assert_eq!(logged.len(), 5, "one release per version is logged");
}

#[test]
fn retirement_boundary_holds_under_concurrent_submissions() {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), &[]);
    log.publish(Log::Keys, &keys.add_release_key());
    let b = cairn_tests::fixtures::key("release-b");
    log.publish(
        Log::Keys,
        &cairn_tests::fixtures::sign(
            &cairn_tests::fixtures::add_key_event(&b, "example/*", 0),
            &[&keys.root],
        ),
    );
    for n in 0..3 {
        log.publish(
            Log::Releases,
            &release("example/warmup", &format!("{n}"), &b),
        );
    }
    // `b` may sign indexes 3..=7 and nothing from 8 on; 20 submissions race for them, interleaved
    // with 10 by the still valid key `a` that push the indexes along.
    let until = 8;
    log.publish(
        Log::Keys,
        &cairn_tests::fixtures::sign(
            &cairn_tests::fixtures::retire_key_event(&b, until),
            &[&keys.root],
        ),
    );
    let mut entries = Vec::new();
    for n in 0..20u32 {
        entries.push(release("example/by-b", &format!("{n}"), &b));
        if n.is_multiple_of(2) {
            entries.push(release("example/by-a", &format!("{n}"), &keys.release));
        }
    }
    let replies = submit_all_at_once(&log, &entries);
    let releases = log.view(Log::Releases);
    let mut accepted_b = Vec::new();
    for (entry, reply) in entries.iter().zip(&replies) {
        let by_b = String::from_utf8_lossy(entry).contains("example/by-b");
        match reply.status {
            200 => {
                let (index, _) = releases.verify_proof(&reply.body, entry);
                if by_b {
                    accepted_b.push(index);
                }
            }
            403 if by_b => {
                cairn_tests::assert_refused(reply, 403, "a release by the retired key");
            }
            other => panic!(
                "unexpected {other} for a release by {}: {}",
                if by_b { "b" } else { "a" },
                reply.text()
            ),
        }
    }
    assert!(
        accepted_b.iter().all(|&i| i < until),
        "the retired key's releases were logged at {accepted_b:?}, at or after until={until}"
    );
    let logged = releases.entries(&releases.checkpoint());
    for (index, entry) in logged.iter().enumerate() {
        let by_b = String::from_utf8_lossy(entry).contains("example/by-b");
        assert!(
            !(by_b && u64::try_from(index).expect("fits") >= until),
            "index {index} holds a release by the key retired from {until}"
        );
    }
}
