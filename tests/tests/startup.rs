//! `cairn init` and the data directory it makes, and `cairn serve` refusing to start on a data
//! directory that is corrupt or does not match its key (each named after what was done to it).

use std::os::unix::fs::PermissionsExt as _;

use cairn_tests::TestLog;
use cairn_tests::fixtures::{Keys, PREFIX, genesis, key, release, sign};
use cairn_tests::git::{commit_on_branch, git_in, read_on_branch};
use cairn_tests::log::{Log, LogView};
use cairn_tests::process::{LogDir, init_raw, run_cairn, serve_expecting_refusal};
use cairn_verifier::hash::Hash;
use cairn_verifier::tile::{EntryBundle, Tile};

#[test]
fn init_creates_the_data_directory_and_the_first_commit() {
    let keys = Keys::new();
    let genesis = keys.genesis();
    let dir = LogDir::init(PREFIX, &genesis);
    let data = dir.data();
    for file in ["releases.key", "keys.key"] {
        let mode = std::fs::metadata(data.join(file))
            .unwrap_or_else(|e| panic!("DIR/{file}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the log key {file} is private");
    }
    assert!(!data.join("log.key").exists(), "no single log key any more");
    assert!(data.join("config.toml").is_file(), "DIR/config.toml exists");
    let bare = git_in(
        &dir.repo(),
        &["rev-parse", "--is-bare-repository"],
        None,
        &[],
    );
    assert_eq!(String::from_utf8_lossy(&bare).trim(), "true");

    let repo = dir.repo();
    let vkey = read_on_branch(&repo, "cairn-log.vkey");
    assert_eq!(
        String::from_utf8_lossy(&vkey),
        dir.log_vkeys_text(),
        "cairn-log.vkey holds the printed keys"
    );
    let releases = LogView::dir(Log::Releases, PREFIX, dir.log_verifier("releases"), &repo);
    let keylog = LogView::dir(Log::Keys, PREFIX, dir.log_verifier("keys"), &repo);
    let release_checkpoint = releases
        .verify_checkpoint(&read_on_branch(&repo, "releases/checkpoint"))
        .expect("the release checkpoint is signed by the log key");
    assert_eq!(release_checkpoint.size(), 0);
    assert_eq!(release_checkpoint.root(), &Hash::empty_tree());
    let key_checkpoint = keylog
        .verify_checkpoint(&read_on_branch(&repo, "keys/checkpoint"))
        .expect("the key checkpoint is signed by the log key");
    assert_eq!(key_checkpoint.size(), 1, "the genesis is key-log entry 0");
    let bundle = EntryBundle::new(8, 0, 1).expect("bundle");
    let data = read_on_branch(&repo, &format!("keys/{}", bundle.path()));
    assert_eq!(
        bundle.split(&data).expect("a bundle of one entry"),
        vec![genesis.as_slice()],
        "entry 0 is the genesis, byte for byte"
    );
    let tile = Tile::new(8, 0, 0, 1).expect("tile");
    assert_eq!(
        read_on_branch(&repo, &format!("keys/{}", tile.path())),
        cairn_verifier::hash::leaf_hash(&genesis).0.to_vec()
    );
    assert_eq!(
        key_checkpoint.root(),
        &cairn_verifier::hash::leaf_hash(&genesis)
    );
    let line = read_on_branch(&repo, "releases/update-latest.txt");
    let line = String::from_utf8(line).expect("a text line");
    let note = cairn_verifier::compact::from_compact(line.strip_suffix('\n').expect("newline"))
        .expect("update-latest.txt is a compact checkpoint line");
    let compact = releases
        .verify_checkpoint(&note.to_bytes())
        .expect("signed by the log key");
    assert_eq!(
        compact.size(),
        0,
        "update-latest.txt names the first checkpoint"
    );
    let message = git_in(&repo, &["cat-file", "commit", "refs/heads/main"], None, &[]);
    let message = String::from_utf8(message).expect("UTF-8 commit");
    let (_, message) = message.split_once("\n\n").expect("commit headers");
    assert_eq!(
        message,
        format!(
            "cairn: releases 0 keys 1\n\n{}\n{}",
            String::from_utf8_lossy(release_checkpoint.note_bytes()),
            String::from_utf8_lossy(key_checkpoint.note_bytes())
        ),
        "the first commit's message carries both checkpoints"
    );
}

#[test]
fn init_with_log_keys_uses_those_keys() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut secrets = Vec::new();
    let mut publics = String::new();
    for log in ["releases", "keys"] {
        let secret = scratch.path().join(format!("{log}.secret"));
        let out = run_cairn(&[
            "keygen".as_ref(),
            "--name".as_ref(),
            format!("{PREFIX}/{log}").as_ref(),
            "--out".as_ref(),
            secret.as_os_str(),
        ]);
        assert!(out.status.success(), "keygen: {out:?}");
        publics.push_str(
            &std::fs::read_to_string(scratch.path().join(format!("{log}.secret.pub")))
                .expect("pub"),
        );
        secrets.push(secret);
    }
    // Given in either order.
    let dir = LogDir::init_with(
        PREFIX,
        &Keys::new().genesis(),
        &[secrets[1].as_path(), secrets[0].as_path()],
    );
    assert_eq!(dir.log_vkeys_text(), publics);
    let log_server = dir.serve(&[]);
    let view = LogView::http(
        Log::Keys,
        PREFIX,
        dir.log_verifier("keys"),
        &log_server.base_url(),
    );
    assert_eq!(view.checkpoint().size(), 1);
    // One key named PREFIX for both logs is refused: each origin gets its own key.
    let single = scratch.path().join("single.secret");
    let out = run_cairn(&[
        "keygen".as_ref(),
        "--name".as_ref(),
        PREFIX.as_ref(),
        "--out".as_ref(),
        single.as_os_str(),
    ]);
    assert!(out.status.success(), "keygen: {out:?}");
    let other = tempfile::tempdir().expect("tempdir");
    let out = init_raw(other.path(), PREFIX, &Keys::new().genesis(), &[&single]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn init_refuses_a_genesis_below_its_own_threshold() {
    let (r1, r2, r3) = (key("root1"), key("root2"), key("root3"));
    let scratch = tempfile::tempdir().expect("tempdir");
    let weak = genesis(&[&r1, &r2, &r3], 2, &[&r1]);
    let out = init_raw(scratch.path(), PREFIX, &weak, &[]);
    assert!(
        !out.status.success(),
        "init accepted a 2-of-3 genesis signed by one key; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scratch = tempfile::tempdir().expect("tempdir");
    let not_root = sign(
        &cairn_tests::fixtures::add_key_event(&key("release-a"), "example/*", 0),
        &[&r1],
    );
    let out = init_raw(scratch.path(), PREFIX, &not_root, &[]);
    assert!(
        !out.status.success(),
        "init accepted an `add` event as the genesis; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A log with the release key added and three releases, its server stopped with SIGKILL.
fn stopped_log_with_three_releases() -> (LogDir, Vec<Vec<u8>>) {
    let keys = Keys::new();
    let mut log = TestLog::start(&keys.genesis(), &[]);
    log.publish(Log::Keys, &keys.add_release_key());
    let entries: Vec<Vec<u8>> = ["1.0", "1.1", "1.2"]
        .iter()
        .map(|v| release("example/app", v, &keys.release))
        .collect();
    for entry in &entries {
        log.publish(Log::Releases, entry);
    }
    log.server.sigkill();
    (log.dir, entries)
}

#[track_caller]
fn assert_names(stderr: &str, any_of: &[&str], what: &str) {
    let lower = stderr.to_lowercase();
    assert!(
        any_of.iter().any(|w| lower.contains(w)),
        "{what}: the message should name the problem (one of {any_of:?}); stderr:\n{stderr}"
    );
}

#[test]
fn serve_refuses_a_data_directory_whose_log_key_was_replaced() {
    let (dir, _) = stopped_log_with_three_releases();
    // Another log's key, in exactly the format `cairn init` writes.
    let other = LogDir::init(PREFIX, &Keys::new().genesis());
    assert_ne!(other.log_vkeys_text(), dir.log_vkeys_text());
    let key_path = dir.data().join("releases.key");
    std::fs::write(
        &key_path,
        std::fs::read(other.data().join("releases.key")).expect("other key"),
    )
    .expect("replace releases.key");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (status, stderr) = serve_expecting_refusal(&dir.data());
    assert!(!status.success(), "exit status {status}");
    assert_names(&stderr, &["key"], "replaced log key");
}

#[test]
fn serve_refuses_a_repository_whose_entry_bundle_was_altered_with_git() {
    let (dir, entries) = stopped_log_with_three_releases();
    let repo = dir.repo();
    let path = "releases/tile/entries/000.p/3";
    let mut bundle = read_on_branch(&repo, path);
    // Change one character of the second entry's version, keeping every length: the bundle
    // still parses, but its entry no longer hashes to the logged leaf.
    let text = String::from_utf8(bundle.clone()).expect("entries are text");
    let at = text.find("version 1.1").expect("second entry") + "version 1.".len();
    bundle[at] = b'9';
    assert_ne!(bundle, read_on_branch(&repo, path));
    assert_eq!(entries.len(), 3);
    commit_on_branch(&repo, &dir.scratch(), path, &bundle);
    let (status, stderr) = serve_expecting_refusal(&dir.data());
    assert!(!status.success(), "exit status {status}");
    assert_names(
        &stderr,
        &["entries/000", "entry bundle", "entry", "entries", "leaf"],
        "altered entry bundle",
    );
}

#[test]
fn serve_refuses_a_repository_whose_hash_tile_was_altered_with_git() {
    let (dir, _) = stopped_log_with_three_releases();
    let repo = dir.repo();
    let path = "releases/tile/0/000.p/3";
    let mut tile = read_on_branch(&repo, path);
    tile[40] ^= 1;
    commit_on_branch(&repo, &dir.scratch(), path, &tile);
    let (status, stderr) = serve_expecting_refusal(&dir.data());
    assert!(!status.success(), "exit status {status}");
    assert_names(
        &stderr,
        &["tile", "root", "hash", "checkpoint"],
        "altered hash tile",
    );
}

#[test]
fn serve_refuses_a_repository_whose_checkpoint_was_replaced_with_git() {
    let (dir, _) = stopped_log_with_three_releases();
    let repo = dir.repo();
    // An older checkpoint, validly signed by the log: a rollback of the branch's pointer file.
    let log_history = git_in(&repo, &["log", "--format=%H", "refs/heads/main"], None, &[]);
    let commits: Vec<String> = String::from_utf8_lossy(&log_history)
        .lines()
        .map(str::to_owned)
        .collect();
    let oldest = commits.last().expect("at least the first commit");
    let old = git_in(
        &repo,
        &["cat-file", "blob", &format!("{oldest}:releases/checkpoint")],
        None,
        &[],
    );
    commit_on_branch(&repo, &dir.scratch(), "releases/checkpoint", &old);
    let (status, stderr) = serve_expecting_refusal(&dir.data());
    assert!(!status.success(), "exit status {status}");
    assert_names(
        &stderr,
        &["checkpoint", "size", "tile"],
        "checkpoint rolled back",
    );
}

#[test]
fn serve_refuses_a_data_directory_without_its_repository() {
    let (dir, _) = stopped_log_with_three_releases();
    std::fs::remove_dir_all(dir.repo()).expect("remove repo.git");
    let (status, stderr) = serve_expecting_refusal(&dir.data());
    assert!(!status.success(), "exit status {status}");
    assert_names(&stderr, &["repo", "git"], "missing repository");
}
