//! The read side of `spec/http-api.md` beyond tiles: response headers, path errors, lookups,
//! proofs for an index, the compact checkpoint channel, health and metrics.

use cairn_tests::TestLog;
use cairn_tests::fixtures::{Keys, release_text, release_text_with, sign};
use cairn_tests::log::Log;
use cairn_verifier::compact::from_compact;
use cairn_verifier::entry::Sha256Digest;

/// A log with the release key added and three releases: indexes 0 and 2 share the artifact
/// `shared.img`; index 1 is `example/app 2.0`.
fn small_log() -> (TestLog, Vec<Vec<u8>>) {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), &[]);
    log.publish(Log::Keys, &keys.add_release_key());
    let shared: &[u8] = b"the same bytes in two releases\n";
    let entries = vec![
        sign(
            &release_text_with(
                "example/app",
                "1.0",
                &[("shared.img", shared)],
                &[("sbom.json", b"{}\n")],
            ),
            &[&keys.release],
        ),
        sign(
            &release_text("example/app", "2.0", &["app.img"]),
            &[&keys.release],
        ),
        sign(
            &release_text_with("example/other", "1.0", &[("shared.img", shared)], &[]),
            &[&keys.release],
        ),
    ];
    for entry in &entries {
        log.publish(Log::Releases, entry);
    }
    (log, entries)
}

#[test]
fn checkpoints_and_tiles_have_the_specified_content_types_and_cache_headers() {
    let (log, _) = small_log();
    for which in ["releases", "keys"] {
        let reply = log
            .get(&format!("/{which}/checkpoint"))
            .expect_ok("checkpoint");
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "/{which}/checkpoint content type"
        );
        assert_eq!(
            reply.header("cache-control"),
            Some("no-cache"),
            "/{which}/checkpoint must not be cached"
        );
    }
    for path in [
        "/releases/tile/0/000.p/3",
        "/releases/tile/entries/000.p/3",
        "/keys/tile/0/000.p/2",
        "/keys/tile/entries/000.p/2",
    ] {
        let reply = log.get(path).expect_ok(path);
        assert_eq!(
            reply.header("content-type"),
            Some("application/octet-stream"),
            "{path} content type"
        );
        let cache = reply.header("cache-control").unwrap_or_default();
        assert!(
            cache.contains("immutable"),
            "{path} is immutable, got cache-control {cache:?}"
        );
    }
}

#[test]
fn malformed_tile_paths_are_400_and_missing_tiles_are_404() {
    let (log, _) = small_log();
    for path in [
        "/releases/tile/0/x00",
        "/releases/tile/0/0",
        "/releases/tile/0/000.p/0",
        "/releases/tile/0/000.p/256",
        "/releases/tile/0/000.p/03",
        "/releases/tile/entries/000.p/",
        "/keys/tile/9999/000",
    ] {
        let reply = log.get(path);
        assert_eq!(
            reply.status,
            400,
            "{path} does not parse under tlog-tiles: {}",
            reply.text()
        );
    }
    for path in [
        // The log has 3 entries: these are well-formed but do not exist.
        "/releases/tile/0/000",
        "/releases/tile/0/000.p/4",
        "/releases/tile/0/001",
        "/releases/tile/1/000.p/1",
        "/releases/tile/entries/000",
        "/releases/tile/entries/000.p/4",
        "/releases/tile/entries/001.p/1",
        "/keys/tile/entries/000.p/3",
    ] {
        let reply = log.get(path);
        assert_eq!(
            reply.status,
            404,
            "{path} is well-formed but absent: {}",
            reply.text()
        );
    }
}

#[test]
fn lookups_by_digest_and_by_name_and_version() {
    let (log, _) = small_log();
    let shared = Sha256Digest::of(b"the same bytes in two releases\n");
    let hex = shared.to_string();
    let hex = hex.strip_prefix("sha256:").expect("digest display");
    let reply = log
        .get(&format!("/releases/lookup/sha256/{hex}"))
        .expect_ok("digest lookup");
    assert_eq!(
        reply.text(),
        "0\n2\n",
        "indexes naming the digest, ascending"
    );

    let sbom = Sha256Digest::of(b"{}\n").to_string();
    let reply = log
        .get(&format!(
            "/releases/lookup/sha256/{}",
            &sbom["sha256:".len()..]
        ))
        .expect_ok("manifest digest lookup");
    assert_eq!(reply.text(), "0\n", "manifest digests are indexed too");

    let absent = Sha256Digest::of(b"never published").to_string();
    let reply = log.get(&format!(
        "/releases/lookup/sha256/{}",
        &absent["sha256:".len()..]
    ));
    assert_eq!(reply.status, 404, "unknown digest: {}", reply.text());

    let reply = log
        .get("/releases/lookup/name/example/app/2.0")
        .expect_ok("name lookup");
    assert_eq!(reply.text(), "1\n");
    let reply = log.get("/releases/lookup/name/example/app/3.0");
    assert_eq!(reply.status, 404, "unknown version: {}", reply.text());
    let reply = log.get(&format!(
        "/releases/lookup/sha256/{}",
        hex.to_ascii_uppercase()
    ));
    assert_eq!(
        reply.status,
        400,
        "uppercase hex is not a lookup key: {}",
        reply.text()
    );
}

#[test]
fn proof_for_an_index_verifies_against_the_latest_checkpoint() {
    let (log, entries) = small_log();
    let releases = log.view(Log::Releases);
    let latest = releases.checkpoint();
    for (index, entry) in entries.iter().enumerate() {
        let reply = log
            .get(&format!("/releases/proof/{index}"))
            .expect_ok("proof for an index");
        let (proved, checkpoint) = releases.verify_proof(&reply.body, entry);
        assert_eq!(proved, u64::try_from(index).expect("small"));
        assert_eq!(
            checkpoint.note_bytes(),
            latest.note_bytes(),
            "against the latest checkpoint"
        );
    }
    let keylog = log.view(Log::Keys);
    let key_entries = keylog.entries(&keylog.checkpoint());
    let reply = log.get("/keys/proof/0").expect_ok("key-log proof");
    assert_eq!(keylog.verify_proof(&reply.body, &key_entries[0]).0, 0);
    let reply = log.get("/releases/proof/3");
    assert_eq!(reply.status, 404, "no entry at index 3: {}", reply.text());
}

#[test]
fn update_latest_txt_is_the_compact_form_of_the_release_checkpoint() {
    let (log, _) = small_log();
    let releases = log.view(Log::Releases);
    let latest = releases.checkpoint();
    let reply = log
        .get("/releases/update-latest.txt")
        .expect_ok("update-latest.txt");
    let text = reply.text();
    let line = text
        .strip_suffix('\n')
        .expect("the file form ends in a newline");
    let note = from_compact(line).expect("a compact checkpoint line");
    let compact = releases
        .verify_checkpoint(&note.to_bytes())
        .expect("the compact line verifies with the log key");
    assert_eq!(compact.size(), latest.size());
    assert_eq!(compact.root(), latest.root());

    let reply = log.get("/releases/dns-txt").expect_ok("dns-txt");
    let dns = reply.text();
    assert!(
        dns.trim_end() == line,
        "the DNS TXT value carries the same compact line: {dns:?} vs {line:?}"
    );
}

#[test]
fn health_and_metrics_answer() {
    let (log, _) = small_log();
    let reply = log.get("/healthz").expect_ok("healthz");
    assert_eq!(reply.text().trim_end(), "ok");
    let reply = log.get("/metrics").expect_ok("metrics");
    let text = reply.text();
    assert!(
        text.lines().any(|l| l.starts_with("# TYPE ")),
        "Prometheus text exposition: {text}"
    );
}
