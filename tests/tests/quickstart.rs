//! The README's quickstart, run verbatim against the real binary.
//!
//! The block between `<!-- quickstart:begin -->` and `<!-- quickstart:end -->` in README.md is
//! run by `bash -e` in a fresh temporary directory that looks like the top of a checkout
//! (`target/release/cairn` is the binary under test), while the development `cairn serve`
//! (started there without --data, as the README's first command does) listens on a free
//! loopback port named by `CAIRN_LOG`. Then each step's result is checked as a client would:
//! the keys, the key-log index, the proof against the log's key, the trust policy, the installed
//! copy, and the refusal of a changed file.

use std::path::Path;
use std::process::{Command, Stdio};

use cairn_tests::process::{Server, cairn, cairn_bin};
use cairn_verifier::entry::{Release, Sha256Digest};
use cairn_verifier::note::{Ed25519Verifier, Note};
use cairn_verifier::tlog_proof::TlogProof;

const BEGIN: &str = "<!-- quickstart:begin -->";
const END: &str = "<!-- quickstart:end -->";

/// The `sh` block between the quickstart markers of README.md.
fn quickstart_block() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&path).expect("read README.md");
    let start = text
        .find(BEGIN)
        .expect("README.md has the quickstart begin marker")
        + BEGIN.len();
    let end = text
        .find(END)
        .expect("README.md has the quickstart end marker");
    let inner = text[start..end].trim();
    let body = inner
        .strip_prefix("```sh\n")
        .and_then(|b| b.strip_suffix("```"))
        .expect("the quickstart markers enclose exactly one ```sh block");
    body.to_owned()
}

#[test]
fn readme_quickstart_runs_verbatim() {
    let block = quickstart_block();
    let top = tempfile::tempdir().expect("temporary directory");
    let top = top.path();
    // The checkout's `target/release/cairn`, which the block puts on PATH.
    std::fs::create_dir_all(top.join("target/release")).expect("target/release");
    std::os::unix::fs::symlink(cairn_bin(), top.join("target/release/cairn")).expect("symlink");

    // The README's first command, on a free port: creates ./cairn-data.
    let mut serve = cairn();
    serve
        .current_dir(top)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let server = Server::spawn_command(serve).unwrap_or_else(|f| panic!("{f}"));
    let data = std::fs::canonicalize(top.join("cairn-data")).expect("serve created ./cairn-data");
    assert!(data.join("root.key").is_file() && data.join("root.key.pub").is_file());

    // The server reprints the log's keys and prints the same commands as the README, with
    // its URL and paths filled in.
    let stderr = cairn_tests::poll_until(
        std::time::Duration::from_secs(30),
        "the development serve's next commands",
        || {
            let text = server.stderr();
            text.contains("cairn install hello.txt").then_some(text)
        },
    );
    let printed_vkeys: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("cairn: log verifier key (clients' --log-key): "))
        .collect();
    assert_eq!(printed_vkeys.len(), 2, "serve prints both keys:\n{stderr}");
    let hints: Vec<String> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("cairn: next, in another terminal"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(|l| {
            l.trim()
                .replace(&data.display().to_string(), "../cairn-data")
        })
        .collect();
    assert!(
        hints.len() >= 10,
        "serve prints the next commands:\n{stderr}"
    );
    for hint in &hints {
        if let Some(url) = hint.strip_prefix("export CAIRN_LOG=") {
            assert_eq!(url, server.base_url());
            continue;
        }
        assert!(
            block.lines().any(|l| l == hint),
            "serve suggests {hint:?}, which the README's quickstart does not have"
        );
    }

    let out = Command::new("bash")
        .arg("-e")
        .arg("-c")
        .arg(&block)
        .current_dir(top)
        .env("CAIRN_LOG", server.base_url())
        .env("HOME", top)
        .env("NO_COLOR", "1")
        .env_remove("XDG_STATE_HOME")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the quickstart failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let demo = top.join("demo");

    // 1. The log's verifier keys, the same the server printed.
    let vkeys = std::fs::read_to_string(demo.join("log.vkeys")).expect("log.vkeys");
    assert_eq!(vkeys.lines().collect::<Vec<_>>(), printed_vkeys);
    let releases_key = Ed25519Verifier::from_vkey(printed_vkeys[0]).expect("a vkey");

    // 2. The release key went into the key log after the genesis.
    assert!(
        stderr.contains("add event logged at key-log index 1"),
        "stderr:\n{stderr}"
    );

    // 3. The release is logged, and its proof verifies against the log's key alone.
    assert!(
        stdout.contains("demo/hello 1.0 logged at release-log index 0"),
        "stdout:\n{stdout}"
    );
    let proof = std::fs::read(demo.join("hello.txt.tlog-proof")).expect("hello.txt.tlog-proof");
    let verified = TlogProof::parse(&proof)
        .expect("the proof parses")
        .verify("localhost/cairn-dev/releases", &releases_key)
        .expect("the proof verifies against the printed key");
    let release = Release::parse(Note::parse(verified.entry()).expect("a note").text())
        .expect("a release entry");
    let original = b"hello, transparency\n";
    assert!(
        release
            .find_file(&Sha256Digest::of(original), original.len() as u64)
            .is_some(),
        "the entry names the file's digest and size"
    );

    // 4. The trust policy lives in the demo's own state directory.
    assert!(demo.join("state/cairn/trust").is_file());

    // 5. Verified, installed byte for byte.
    assert!(
        stdout.contains("OK hello.txt: demo/hello 1.0 hello.txt (release-log index 0)"),
        "stdout:\n{stdout}"
    );
    assert_eq!(
        std::fs::read(demo.join("hello-installed.txt")).expect("the installed copy"),
        original
    );

    // 6. The changed file is refused as a verification failure.
    assert!(stdout.contains("refused, exit 3"), "stdout:\n{stdout}");
}
