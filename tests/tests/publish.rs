//! Publish over HTTP and read everything back as a client: checkpoints verified with the log
//! key, every entry authenticated through tiles, every `.tlog-proof` verified, and every pair of
//! successive checkpoints consistent.

use cairn_tests::TestLog;
use cairn_tests::fixtures::{
    Keys, add_key_event, deprecation_text, genesis, key, release_text, sign,
};
use cairn_tests::log::{Log, LogView};
use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::hash::Hash;

/// Checks every observed checkpoint against the next one and against the last one.
fn assert_all_consistent(view: &LogView, seen: &[VerifiedCheckpoint]) {
    for pair in seen.windows(2) {
        view.check_consistent(&pair[0], &pair[1]);
    }
    let last = seen.last().expect("at least one checkpoint");
    for older in seen {
        view.check_consistent(older, last);
    }
}

/// Publishes `entry` to `log`, requiring index `expected` and a proof against the first
/// checkpoint that includes it (size `expected + 1`, as nothing else is being submitted), then
/// records that checkpoint and the latest one.
fn publish_in_order(
    log: &TestLog,
    which: Log,
    entry: &[u8],
    expected: u64,
    seen: &mut Vec<VerifiedCheckpoint>,
) {
    let (index, proof_checkpoint) = log.publish(which, entry);
    assert_eq!(index, expected, "a lone submission gets the next index");
    assert_eq!(
        proof_checkpoint.size(),
        expected + 1,
        "the proof is against the first checkpoint that includes the entry"
    );
    seen.push(proof_checkpoint);
    let latest = log.view(which).checkpoint();
    assert!(
        latest.size() > expected,
        "the served checkpoint includes an acknowledged entry"
    );
    seen.push(latest);
}

#[test]
fn publish_and_read_back_with_one_root_key() {
    let keys = Keys::new();
    let genesis = keys.genesis();
    let log = TestLog::start(&genesis, &[]);
    let releases = log.view(Log::Releases);
    let keylog = log.view(Log::Keys);

    let first = releases.checkpoint();
    assert_eq!(first.size(), 0, "a new release log is empty");
    assert_eq!(first.root(), &Hash::empty_tree());
    let mut seen_releases = vec![first];
    let first_keys = keylog.checkpoint();
    assert_eq!(first_keys.size(), 1, "the key log starts with the genesis");
    assert_eq!(keylog.entries(&first_keys), vec![genesis.clone()]);
    let mut seen_keys = vec![first_keys];

    let add = keys.add_release_key();
    publish_in_order(&log, Log::Keys, &add, 1, &mut seen_keys);

    let mut published = Vec::new();
    let texts = [
        release_text("example/app", "1.0", &["app-amd64.img"]),
        release_text("example/app", "1.1", &["app-amd64.img", "app-arm64.img"]),
        release_text("example/installer", "14.2-20261120", &["installer.iso"]),
        release_text(
            "example/app",
            "2.0-RC1",
            &["a.tar.gz", "b.tar.gz", "c.tar.gz"],
        ),
        deprecation_text("example/app", "1.0", Some("1.1")),
        release_text("example/tools", "0.1.0+build.7", &["tools.zip"]),
    ];
    for (i, text) in texts.iter().enumerate() {
        let entry = sign(text, &[&keys.release]);
        let expected = u64::try_from(i).expect("small");
        publish_in_order(&log, Log::Releases, &entry, expected, &mut seen_releases);
        published.push(entry);
    }

    let last = releases.checkpoint();
    assert_eq!(last.size(), 6);
    assert_eq!(
        releases.entries(&last),
        published,
        "the release log holds exactly what was published, in order"
    );
    releases.check_inclusion_of_all(&last, &published);
    let key_checkpoint = keylog.checkpoint();
    keylog.check_inclusion_of_all(&key_checkpoint, &[genesis.clone(), add.clone()]);
    assert_eq!(
        keylog.entries(&keylog.checkpoint()),
        vec![genesis, add],
        "the key log holds the genesis and the key addition"
    );
    assert_all_consistent(&releases, &seen_releases);
    assert_all_consistent(&keylog, &seen_keys);
}

#[test]
fn publish_and_read_back_with_two_of_three_root_keys() {
    let (r1, r2, r3) = (key("root1"), key("root2"), key("root3"));
    let genesis = genesis(&[&r1, &r2, &r3], 2, &[&r1, &r3]);
    let log = TestLog::start(&genesis, &[]);
    let releases = log.view(Log::Releases);
    let keylog = log.view(Log::Keys);
    let mut seen_keys = vec![keylog.checkpoint()];
    let mut seen_releases = vec![releases.checkpoint()];

    let (a, b) = (key("release-a"), key("release-b"));
    let add_a = sign(&add_key_event(&a, "example/*", 0), &[&r2, &r3]);
    publish_in_order(&log, Log::Keys, &add_a, 1, &mut seen_keys);
    let add_b = sign(&add_key_event(&b, "example/app*", 0), &[&r1, &r2, &r3]);
    publish_in_order(&log, Log::Keys, &add_b, 2, &mut seen_keys);

    let entries = [
        sign(&release_text("example/app", "1.0", &["app.img"]), &[&a]),
        sign(&release_text("example/app-extra", "1.0", &["x.img"]), &[&b]),
        // Two release keys, both valid for the name: still one entry.
        sign(&release_text("example/app", "1.1", &["app.img"]), &[&a, &b]),
    ];
    for (i, entry) in entries.iter().enumerate() {
        let expected = u64::try_from(i).expect("small");
        publish_in_order(&log, Log::Releases, entry, expected, &mut seen_releases);
    }
    let last = releases.checkpoint();
    assert_eq!(releases.entries(&last), entries.to_vec());
    releases.check_inclusion_of_all(&last, &entries);
    assert_eq!(
        keylog.entries(&keylog.checkpoint()),
        vec![genesis, add_a, add_b]
    );
    assert_all_consistent(&releases, &seen_releases);
    assert_all_consistent(&keylog, &seen_keys);
}
