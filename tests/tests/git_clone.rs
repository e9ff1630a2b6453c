//! What a mirror gets with plain `git clone`: both logs' checkpoints, tiles and entry bundles,
//! byte-identical to what the server serves over HTTP, and a branch history whose commit
//! messages carry every checkpoint the log published, all consistent with each other.

use std::path::{Path, PathBuf};

use cairn_tests::TestLog;
use cairn_tests::fixtures::{Keys, PREFIX, add_key_event, key, release, sign};
use cairn_tests::git::{BRANCH, git_at};
use cairn_tests::http::Http;
use cairn_tests::log::{Log, LogView};
use cairn_verifier::tile::{TILE_HEIGHT, tiles_for_size};

const THREADS: usize = 8;
const EACH: usize = 40;

/// Every file under `dir`, as paths relative to `dir` with `/` separators.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("under dir");
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn git_clone_holds_both_logs_byte_identical_to_http() {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), &[]);
    log.publish(Log::Keys, &keys.add_release_key());
    for n in 0..3 {
        let event = sign(
            &add_key_event(&key(&format!("mirror-{n}")), "example/*", 0),
            &[&keys.root],
        );
        log.publish(Log::Keys, &event);
    }
    // More than one full tile, from concurrent submitters (so batches hold several entries).
    let url = log.server.url("/releases/add");
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (url, keys) = (&url, &keys);
            scope.spawn(move || {
                let http = Http::new();
                for n in 0..EACH {
                    let entry = release(&format!("example/m{t}"), &format!("1.{n}"), &keys.release);
                    let reply = http.must_post(url, &entry);
                    assert_eq!(reply.status, 200, "{}", reply.text());
                }
            });
        }
    });

    let scratch = log.dir.scratch();
    let clone = scratch.join("clone");
    git_at(
        &scratch,
        &[
            "clone",
            "--quiet",
            "--branch",
            "main",
            &log.dir.repo().display().to_string(),
            "clone",
        ],
    );
    let vkey = std::fs::read_to_string(clone.join("cairn-log.vkey")).expect("cairn-log.vkey");
    assert_eq!(vkey, log.dir.log_vkeys_text());

    for which in [Log::Releases, Log::Keys] {
        let http_view = log.view(which);
        let dir_view = LogView::dir(which, PREFIX, log.dir.log_verifier(which.name()), &clone);
        let served = http_view.checkpoint();
        let cloned = dir_view.checkpoint();
        assert_eq!(
            cloned.note_bytes(),
            served.note_bytes(),
            "{}: the clone's checkpoint is the served one",
            which.name()
        );
        let expected_size = match which {
            Log::Releases => THREADS * EACH,
            Log::Keys => 5,
        };
        assert_eq!(cloned.size(), u64::try_from(expected_size).expect("small"));
        assert_eq!(
            dir_view.entries(&cloned),
            http_view.entries(&served),
            "{}: the same entries, each authenticated",
            which.name()
        );

        let root = clone.join(which.name());
        let files = files_under(&root);
        for tile in tiles_for_size(TILE_HEIGHT, cloned.size()).expect("tiles") {
            assert!(
                files.contains(&tile.path()),
                "{}: the clone lacks {}",
                which.name(),
                tile.path()
            );
        }
        if cloned.size() >= 256 {
            assert!(
                !files.iter().any(|f| f.starts_with("tile/0/000.p/")
                    || f.starts_with("tile/entries/000.p/")),
                "{}: partial tiles are removed once the full tile is written: {files:?}",
                which.name()
            );
        }
        for file in &files {
            let reply = log.get(&format!("/{}/{file}", which.name()));
            assert_eq!(
                reply.status,
                200,
                "{}/{file} is in the clone but not served: {}",
                which.name(),
                reply.text()
            );
            assert!(
                reply.body == std::fs::read(root.join(file)).expect("read clone file"),
                "{}/{file} differs between the clone and HTTP",
                which.name()
            );
        }
    }

    audit_history(&log, &clone);
}

/// Every commit on the branch names both checkpoints in its message; each verifies, the sizes in
/// the subject match, sizes never shrink, and every one is consistent with the final one.
fn audit_history(log: &TestLog, clone: &Path) {
    let views = [
        LogView::dir(
            Log::Releases,
            PREFIX,
            log.dir.log_verifier("releases"),
            clone,
        ),
        LogView::dir(Log::Keys, PREFIX, log.dir.log_verifier("keys"), clone),
    ];
    let finals = [views[0].checkpoint(), views[1].checkpoint()];
    let list = git_at(clone, &["rev-list", "--reverse", BRANCH]);
    let list = String::from_utf8(list).expect("ids");
    let mut previous: Option<[u64; 2]> = None;
    let mut commits = 0;
    for id in list.lines() {
        commits += 1;
        let raw = String::from_utf8(git_at(clone, &["cat-file", "commit", id])).expect("UTF-8");
        let (_, message) = raw.split_once("\n\n").expect("commit headers");
        let (subject, body) = message
            .split_once("\n\n")
            .unwrap_or_else(|| panic!("commit {id}: no checkpoints in {message:?}"));
        let separator = format!("\n\n{PREFIX}/keys\n");
        let at = body
            .find(&separator)
            .unwrap_or_else(|| panic!("commit {id}: no key-log checkpoint in {body:?}"));
        let (release_note, key_note) = (&body[..=at], &body[at + 2..]);
        let checkpoints = [
            views[0]
                .verify_checkpoint(release_note.as_bytes())
                .unwrap_or_else(|e| panic!("commit {id}: {e}")),
            views[1]
                .verify_checkpoint(key_note.as_bytes())
                .unwrap_or_else(|e| panic!("commit {id}: {e}")),
        ];
        let sizes = [checkpoints[0].size(), checkpoints[1].size()];
        assert_eq!(
            subject,
            format!("cairn: releases {} keys {}", sizes[0], sizes[1]),
            "commit {id}: subject"
        );
        if let Some(before) = previous {
            assert!(
                sizes[0] >= before[0] && sizes[1] >= before[1],
                "commit {id}: a log shrank from {before:?} to {sizes:?}"
            );
            assert_ne!(
                sizes, before,
                "commit {id}: a batch commit that adds nothing"
            );
        }
        previous = Some(sizes);
        for (view, (checkpoint, last)) in views.iter().zip(checkpoints.iter().zip(&finals)) {
            view.check_consistent(checkpoint, last);
        }
    }
    assert_eq!(
        previous,
        Some([finals[0].size(), finals[1].size()]),
        "the last commit carries the final checkpoints"
    );
    assert!(
        commits > 1 && commits <= 1 + 5 + THREADS * EACH,
        "one commit per batch: {commits} commits"
    );
}
