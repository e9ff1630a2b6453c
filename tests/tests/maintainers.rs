//! The release manager's guide (`docs/maintainers.md`), run end to end against the real
//! `cairn serve` on loopback.
//!
//! Every `sh` block of the guide is run in order, exactly as written, by bash in one working
//! directory (with `cairn` on PATH, `LOG` set to the server's URL and `LOG_KEY` to the log's
//! verifier key file). Between blocks the test checks what the guide claims, as a client would:
//! proofs against the log's key, digests and sizes of the real files, the log's own refusals of
//! under-signed events, and finally a replay of the whole key log from the pinned genesis roots
//! that judges every release-log entry.
//!
//! The `cairn` binary must be built first (`cargo build -p cairn-cli`; `cargo test --workspace`
//! does it), or named by `CAIRN_BIN`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cairn_tests::assert_refused;
use cairn_tests::http::Http;
use cairn_tests::log::{Log, LogView};
use cairn_tests::process::{Server, cairn_bin};
use cairn_verifier::entry::{Entry, KeyEvent, Release, RootSet, Sha256Digest};
use cairn_verifier::keylog::{InvalidRelease, KeyState, deprecation_is_valid, release_is_valid};
use cairn_verifier::note::{Ed25519Signer, Ed25519Verifier, Note};
use cairn_verifier::tlog_proof::TlogProof;

const GUIDE: &str = "docs/maintainers.md";
const PREFIX: &str = "example.org";

// ---------------------------------------------------------------------------------------------
// The guide.

#[derive(Debug)]
struct Step {
    name: String,
    expect_exit: i32,
    script: String,
}

/// The `sh` blocks of the guide, each preceded by `<!-- step: NAME [exit=N] -->`, run in
/// document order.
struct Guide {
    steps: Vec<Step>,
    next: usize,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Guide {
    fn load(dir: &Path) -> Guide {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(GUIDE);
        let text = std::fs::read_to_string(&path).expect("read the guide");
        let mut steps = Vec::new();
        let mut sh_blocks = 0;
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if line.trim() == "```sh" {
                sh_blocks += 1;
            }
            let Some(marker) = line
                .strip_prefix("<!-- step: ")
                .and_then(|l| l.strip_suffix(" -->"))
            else {
                continue;
            };
            let mut words = marker.split_whitespace();
            let name = words.next().expect("step name").to_owned();
            let expect_exit = words
                .find_map(|w| w.strip_prefix("exit="))
                .map_or(0, |n| n.parse().expect("exit code"));
            assert_eq!(
                lines.next().map(str::trim),
                Some("```sh"),
                "step {name}: the marker must be followed by a ```sh block"
            );
            sh_blocks += 1;
            let mut script = String::new();
            for line in lines.by_ref() {
                if line.trim() == "```" {
                    break;
                }
                script.push_str(line);
                script.push('\n');
            }
            steps.push(Step {
                name,
                expect_exit,
                script,
            });
        }
        assert_eq!(
            sh_blocks,
            steps.len(),
            "every ```sh block of {GUIDE} needs a step marker, so that the test runs it"
        );
        let bin_dir = cairn_bin()
            .parent()
            .expect("binary directory")
            .to_path_buf();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Guide {
            steps,
            next: 0,
            dir: dir.to_owned(),
            env: vec![
                ("PATH".to_owned(), path),
                ("NO_COLOR".to_owned(), "1".to_owned()),
            ],
        }
    }

    fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Runs the next step, which must be `name`, and checks its exit code.
    fn run(&mut self, name: &str) -> Output {
        let step = self
            .steps
            .get(self.next)
            .unwrap_or_else(|| panic!("the guide has no step after {}", self.next));
        assert_eq!(step.name, name, "the guide's steps run in document order");
        self.next += 1;
        let output = Command::new("bash")
            .args(["-e", "-u", "-o", "pipefail", "-c", &step.script])
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run bash");
        // A transcript, shown by the test harness when the test fails (or with --nocapture).
        eprintln!(
            "=== step {name} (exit {:?})\n{}--- stdout\n{}--- stderr\n{}",
            output.status.code(),
            step.script,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            output.status.code(),
            Some(step.expect_exit),
            "guide step {name} exited with {:?}, the guide says {}\nscript:\n{}\nstdout:\n{}\nstderr:\n{}",
            output.status.code(),
            step.expect_exit,
            step.script,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn finish(&self) {
        assert_eq!(
            self.next,
            self.steps.len(),
            "every step of the guide must run; not run: {:?}",
            self.steps[self.next..]
                .iter()
                .map(|s| &s.name)
                .collect::<Vec<_>>()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Checks.

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The decimal lines a step printed: the key-log indexes of `cairn key submit` (keygen's vkeys
/// and other data lines are skipped).
fn indexes(o: &Output) -> Vec<u64> {
    stdout(o).lines().filter_map(|l| l.parse().ok()).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Deterministic file contents of `len` bytes.
fn contents(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn write_file(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, data).expect("write");
}

fn log_verifier(work: &Path, log: &str) -> Ed25519Verifier {
    let vkeys = std::fs::read_to_string(work.join("log.vkey")).expect("log.vkey");
    let origin = format!("{PREFIX}/{log}");
    let line = vkeys
        .lines()
        .find(|l| l.starts_with(&format!("{origin}+")))
        .unwrap_or_else(|| panic!("log.vkey has no key named {origin}: {vkeys:?}"));
    Ed25519Verifier::from_vkey(line).expect("the log's vkey")
}

fn verifier_of(work: &Path, pub_file: &str) -> Ed25519Verifier {
    let text = std::fs::read_to_string(work.join(pub_file)).expect("read .pub");
    Ed25519Verifier::from_vkey(text.trim_end()).expect("vkey")
}

/// Checks the `.tlog-proof` beside each file: it verifies against the log's key, and its entry
/// is a release of `name` `version` naming the file's real digest and size. Returns the index.
fn check_proofs(work: &Path, files: &[&str], name: &str, version: &str) -> u64 {
    let verifier = log_verifier(work, "releases");
    let mut index = None;
    for file in files {
        let data = std::fs::read(work.join(file)).expect("artifact");
        let bytes =
            std::fs::read(work.join(format!("{file}.tlog-proof"))).expect("the .tlog-proof");
        let proof = TlogProof::parse(&bytes).expect("proof parses");
        let verified = proof
            .verify(&format!("{PREFIX}/releases"), &verifier)
            .expect("the proof verifies against the log's key");
        let note = Note::parse(verified.entry()).expect("entry is a note");
        let release = Release::parse(note.text()).expect("entry is a release");
        assert_eq!(release.name().as_str(), name);
        assert_eq!(release.version().as_str(), version);
        let found = release
            .find_file(&Sha256Digest::of(&data), data.len() as u64)
            .unwrap_or_else(|| panic!("the entry does not name {file}'s digest and size"));
        assert_eq!(
            found.file_name.as_str(),
            Path::new(file)
                .file_name()
                .and_then(|n| n.to_str())
                .expect("name")
        );
        assert!(index.is_none_or(|i| i == verified.index()));
        index = Some(verified.index());
    }
    index.expect("at least one file")
}

/// All entries of `log`, authenticated: the checkpoint verifies with the log's key and every
/// entry bundle matches the tiles authenticated against it.
fn fetch_log(server: &Server, work: &Path, log: Log) -> Vec<Vec<u8>> {
    let view = LogView::http(
        log,
        PREFIX,
        log_verifier(work, log.name()),
        &server.base_url(),
    );
    let checkpoint = view.checkpoint();
    view.entries(&checkpoint)
}

/// `POST /<log>/add` of `entry`, bypassing the CLI.
fn submit_raw(server: &Server, log: Log, entry: &[u8]) -> cairn_tests::http::Reply {
    Http::new().must_post(&server.url(&format!("/{}/add", log.name())), entry)
}

#[test]
fn release_managers_guide_runs_against_a_real_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = tmp.path();
    // The release files the guide publishes: two artifacts and an SBOM, then later versions.
    write_file(
        &work.join("dist/1.0/installer.img"),
        &contents(1, 2_097_275),
    );
    write_file(&work.join("dist/1.0/installer.iso"), &contents(2, 716_800));
    write_file(
        &work.join("dist/1.0/packages.spdx.json"),
        br#"{"spdxVersion":"SPDX-2.3","name":"example/installer 1.0","packages":[{"name":"busybox","versionInfo":"1.36.1"}]}"#,
    );
    write_file(&work.join("dist/1.1/installer.img"), &contents(3, 100_000));
    write_file(&work.join("dist/1.2/installer.img"), &contents(4, 120_000));
    let mut guide = Guide::load(work);

    // 1. Roots and genesis; the operator creates the log.
    guide.run("roots-keygen");
    guide.run("genesis");
    guide.run("operator-init");
    let server = Server::start(&work.join("log-data"), &[]).unwrap_or_else(|e| panic!("{e}"));
    guide.set_env("LOG", &server.base_url());
    guide.set_env("LOG_KEY", "log.vkey");
    let pinned = RootSet::new(
        vec![
            verifier_of(work, "root-alice.key.pub"),
            verifier_of(work, "root-bob.key.pub"),
            verifier_of(work, "root-carol.key.pub"),
        ],
        2,
    )
    .expect("roots");

    // 2. A release key: one root is not enough, for the CLI and for the log.
    guide.run("release-key");
    let refused = guide.run("add-one-root-refused");
    let err = stderr(&refused);
    assert!(err.contains("NOT met"), "{err}");
    assert!(
        err.contains("example.org/root-bob, example.org/root-carol"),
        "{err}"
    );
    let one_root = std::fs::read(work.join("add-2026.event")).expect("event");
    assert_refused(
        &submit_raw(&server, Log::Keys, &one_root),
        403,
        "add signed by one root",
    );
    let added = guide.run("add-two-roots");
    assert_eq!(indexes(&added), [1], "the add is key-log entry 1");

    // 3. Publish two artifacts and a manifest; every proof verifies and names the real file.
    let published = guide.run("publish");
    let files = [
        "dist/1.0/installer.img",
        "dist/1.0/installer.iso",
        "dist/1.0/packages.spdx.json",
    ];
    assert_eq!(check_proofs(work, &files, "example/installer", "1.0"), 0);
    assert!(stdout(&published).contains("logged at release-log index 0"));
    let proofs: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(work.join(format!("{f}.tlog-proof"))).expect("proof"))
        .collect();
    assert!(
        proofs.windows(2).all(|w| w[0] == w[1]),
        "one entry, one proof"
    );
    let entry = TlogProof::parse(&proofs[0])
        .expect("proof")
        .extra
        .expect("entry");
    let release = Release::parse(Note::parse(&entry).expect("note").text()).expect("release");
    assert_eq!(release.artifacts().len(), 2);
    assert_eq!(release.manifests().len(), 1);
    assert_eq!(
        release.manifests()[0].file_name.as_str(),
        "packages.spdx.json"
    );

    // 4. Rotation: add the new key, publish with it, retire the old one; the old key is refused.
    let rotated = guide.run("rotate-add");
    assert_eq!(indexes(&rotated), [2]);
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(work.join("release-1.1.json")).expect("publish --json output"),
    )
    .expect("publish --json prints JSON");
    assert_eq!(json["index"], 1);
    assert_eq!(json["name"], "example/installer");
    assert_eq!(json["version"], "1.1");
    let img = std::fs::read(work.join("dist/1.1/installer.img")).expect("img");
    assert_eq!(
        json["artifacts"][0]["digest"],
        Sha256Digest::of(&img).to_string()
    );
    assert_eq!(json["artifacts"][0]["size"], img.len());
    assert_eq!(
        check_proofs(
            work,
            &["dist/1.1/installer.img"],
            "example/installer",
            "1.1"
        ),
        1
    );
    let retired = guide.run("rotate-retire");
    assert_eq!(indexes(&retired), [3]);
    let retire_event = std::fs::read_to_string(work.join("retire-2026.event")).expect("event");
    assert!(
        retire_event.contains("\nuntil 2\n"),
        "until is the release log's size: {retire_event}"
    );
    let refused = guide.run("retired-key-refused");
    let err = stderr(&refused);
    assert!(
        err.contains("HTTP 403"),
        "the log's status is reported: {err}"
    );
    assert!(
        err.contains("retired"),
        "the log's reason is reported: {err}"
    );
    assert!(
        !work.join("dist/1.2/installer.img.tlog-proof").exists(),
        "no proof for a refused release"
    );
    guide.run("publish-new-key");
    assert_eq!(
        check_proofs(
            work,
            &["dist/1.2/installer.img"],
            "example/installer",
            "1.2"
        ),
        2
    );

    // 5. Compromise: an attacker publishes with the leaked key at index 3; the revocation
    // invalidates that entry (and everything the key signs from index 3 on).
    let leaked = Ed25519Signer::from_skey(
        std::fs::read_to_string(work.join("release-2027.key"))
            .expect("key")
            .trim_end(),
    )
    .expect("skey");
    let evil = format!(
        "cairn/release/v1\nname example/installer\nversion 6.6.6\nartifact {} 3 installer.img\n",
        Sha256Digest::of(b"bad")
    );
    let evil_entry = Note::sign(&evil, &[&leaked]).expect("sign").to_bytes();
    let reply = submit_raw(&server, Log::Releases, &evil_entry).expect_ok("the attacker's release");
    assert_eq!(TlogProof::parse(&reply.body).expect("proof").index, 3);
    let revoked = guide.run("revoke");
    assert_eq!(indexes(&revoked), [4, 5]);
    let evil2 = evil.replace("6.6.6", "6.6.7");
    assert_refused(
        &submit_raw(
            &server,
            Log::Releases,
            &Note::sign(&evil2, &[&leaked]).expect("sign").to_bytes(),
        ),
        403,
        "release by a revoked key",
    );

    // 6. Root change: the old threshold alone is refused by the CLI and by the log.
    guide.run("root-change-prepare");
    let refused = guide.run("root-change-old-threshold-refused");
    let err = stderr(&refused);
    assert!(err.contains("current roots: threshold 2 of 3 met"), "{err}");
    assert!(err.contains("new roots: threshold 2 of 3 NOT met"), "{err}");
    assert!(
        err.contains("example.org/root-alice, example.org/root-dave"),
        "{err}"
    );
    let old_only = std::fs::read(work.join("roots-2.event")).expect("event");
    assert_refused(
        &submit_raw(&server, Log::Keys, &old_only),
        403,
        "root change meeting the old threshold only",
    );
    let changed = guide.run("root-change");
    assert_eq!(indexes(&changed), [6]);

    // 7. Deprecation.
    let deprecated = guide.run("deprecate");
    assert_eq!(
        stdout(&deprecated),
        "example/installer 1.0 deprecated at release-log index 4\n"
    );
    guide.finish();

    // A client's view of the result: replay the key log from the pinned genesis roots, then
    // judge every release-log entry.
    let keys = fetch_log(&server, work, Log::Keys);
    assert_eq!(keys.len(), 7);
    let (mut state, _) = KeyState::genesis(&pinned, &keys[0]).expect("genesis");
    for entry in &keys[1..] {
        state.apply(entry).expect("every key event replays");
    }
    let dave = verifier_of(work, "root-dave.key.pub");
    assert!(state.roots().contains_public_key(dave.public_key()));
    let releases = fetch_log(&server, work, Log::Releases);
    assert_eq!(releases.len(), 5);
    for (index, entry) in releases.iter().enumerate() {
        let index = index as u64;
        let note = Note::parse(entry).expect("note");
        match Entry::parse(note.text()).expect("entry") {
            Entry::Release(_) => {
                let judged = release_is_valid(&note, index, &state);
                if index == 3 {
                    assert!(
                        matches!(judged, Err(InvalidRelease::Revoked { .. })),
                        "the attacker's release is invalid: {judged:?}"
                    );
                } else {
                    judged.unwrap_or_else(|e| panic!("release {index} stays valid: {e}"));
                }
            }
            Entry::Deprecation(d) => {
                assert_eq!(index, 4);
                assert_eq!(d.replacement().map(|v| v.as_str()), Some("1.2"));
                deprecation_is_valid(&note, index, &state).expect("deprecation is valid");
            }
            Entry::Key(k) => panic!("key event {k:?} in the release log"),
        }
    }
    // The key events say what the guide says.
    let kinds: Vec<&str> = keys[1..]
        .iter()
        .map(|e| {
            KeyEvent::parse(Note::parse(e).expect("note").text())
                .expect("event")
                .kind()
        })
        .collect();
    assert_eq!(
        kinds,
        ["add", "add", "retire", "revoke", "add", "root"],
        "server stderr:\n{}",
        server.stderr()
    );
}
