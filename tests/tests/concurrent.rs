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
