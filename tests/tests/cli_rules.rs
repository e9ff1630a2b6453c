//! The command-line rules of docs/cli.md, checked on the real binary: failing commands print
//! one readable error (never Rust debug text) and the documented exit code; conflicting flags
//! are a usage error; the old spellings of renamed flags still work and warn.
//! (The rule "one flag name, one kind of value" is checked over the clap definitions by the
//! unit test `flag_rules` in cli/src.)

use std::path::Path;
use std::process::{Command, Output, Stdio};

use cairn_tests::process::cairn;

/// Runs `cairn ARGS` in `dir` with a private HOME and state, and no network beyond loopback.
fn run(dir: &Path, args: &[&str]) -> Output {
    let mut command: Command = cairn();
    command
        .current_dir(dir)
        .args(args)
        .env("HOME", dir)
        .env("XDG_STATE_HOME", dir.join("state"))
        .stdin(Stdio::null())
        .output()
        .expect("run cairn")
}

/// Rust debug output a user must never see: `Name { `, `Some(`, `Err(`, `Ok(`, `"..."` pairs
/// inside a struct literal.
fn debug_text(stderr: &str) -> Option<String> {
    for marker in ["Some(", "Err(", "Ok(", "None)", "Error {", "Kind("] {
        if stderr.contains(marker) {
            return Some(marker.to_owned());
        }
    }
    // An identifier directly followed by ` { ` is a struct's Debug form (`RootSet { .. }`).
    let bytes = stderr.as_bytes();
    for (i, window) in bytes.windows(3).enumerate() {
        if window == b" { "
            && i > 0
            && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
        {
            let start = stderr[..i].rfind(|c: char| !c.is_alphanumeric() && c != '_');
            let ident = &stderr[start.map_or(0, |s| s + 1)..i];
            if ident.starts_with(|c: char| c.is_ascii_uppercase()) {
                return Some(format!("{ident} {{ "));
            }
        }
    }
    None
}

#[test]
fn the_debug_text_detector_detects() {
    assert!(debug_text("cairn: bad roots: RootSet { keys: [..] }").is_some());
    assert!(debug_text("cairn: got Some(3)").is_some());
    assert!(debug_text("cairn: Query { name: \"x\" }").is_some());
    assert!(debug_text("cairn: the release key's scope does not cover demo/x").is_none());
}

#[test]
fn failing_commands_print_readable_errors() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let d = dir.path();
    // A key pair, an event, a file: real inputs to get past argument parsing.
    let keygen = run(
        d,
        &["keygen", "--name", "example.org/rel", "--out", "rel.key"],
    );
    assert!(keygen.status.success(), "{keygen:?}");
    std::fs::write(d.join("a.txt"), b"artifact\n").expect("write");
    std::fs::write(d.join("garbage"), b"not a note\n").expect("write");
    let vkey = std::fs::read_to_string(d.join("rel.key.pub")).expect("vkey");
    let vkey = vkey.trim();
    let dead = "http://127.0.0.1:9"; // discard port: nothing listens there

    let cases: &[(&[&str], i32)] = &[
        (&[], 2),
        (&["no-such-command"], 2),
        (&["verify"], 2),
        (&["verify", "a.txt"], 2),
        (&["verify", "missing.txt"], 2),
        (&["verify", "a.txt", "--trust", "garbage"], 2),
        (&["install", "a.txt", "--to", "out.txt"], 2),
        (&["keylog", "sync"], 2),
        (&["monitor", "--once"], 2),
        (
            &[
                "trust",
                "init",
                "--log",
                "ftp://x",
                "--log-key",
                vkey,
                "--root-key",
                vkey,
                "--threshold",
                "1",
            ],
            2,
        ),
        (
            &[
                "trust",
                "init",
                "--log",
                dead,
                "--log-key",
                "rel.key",
                "--root-key",
                vkey,
                "--threshold",
                "1",
            ],
            2,
        ),
        (
            &[
                "trust",
                "init",
                "--log",
                dead,
                "--log-key",
                vkey,
                "--root-key",
                vkey,
                "--threshold",
                "1",
                "--out",
                "t",
                "--trust",
                "u",
            ],
            2,
        ),
        (&["key", "root", "--root-key", vkey, "--threshold", "0"], 2),
        (
            &["key", "root", "--root-key", "rel.key", "--threshold", "1"],
            2,
        ),
        (
            &[
                "key",
                "add",
                "--release-key",
                "rel.key",
                "--scope",
                "a/*",
                "--from",
                "0",
            ],
            2,
        ),
        (
            &[
                "key",
                "add",
                "--release-key",
                vkey,
                "--scope",
                "no glob here*",
                "--from",
                "0",
            ],
            2,
        ),
        (
            &[
                "key",
                "add",
                "--release-key",
                vkey,
                "--scope",
                "a/*",
                "--log",
                dead,
            ],
            1,
        ),
        (&["key", "sign", "garbage", "--key", "rel.key"], 2),
        (&["key", "sign", "garbage", "--key", "rel.key.pub"], 2),
        (&["key", "submit", "garbage", "--log", dead], 2),
        (
            &[
                "publish",
                "a.txt",
                "--name",
                "demo/a",
                "--version",
                "1",
                "--key",
                "rel.key.pub",
                "--log",
                dead,
            ],
            2,
        ),
        (
            &[
                "publish",
                "a.txt",
                "--name",
                "demo/a",
                "--version",
                "1",
                "--key",
                "rel.key",
                "--log",
                dead,
            ],
            1,
        ),
        (
            &[
                "publish",
                "a.txt",
                "--name",
                "Not A Name",
                "--version",
                "1",
                "--key",
                "rel.key",
                "--log",
                dead,
            ],
            2,
        ),
        (
            &[
                "deprecate",
                "--name",
                "demo/a",
                "--version",
                "1",
                "--reason",
                "x",
                "--key",
                "rel.key",
                "--log",
                dead,
            ],
            1,
        ),
        (
            &[
                "init",
                "--data",
                "d",
                "--origin",
                "example.org",
                "--genesis",
                "garbage",
            ],
            2,
        ),
        (
            &[
                "init",
                "--data",
                "d",
                "--origin",
                "bad origin",
                "--genesis",
                "garbage",
            ],
            2,
        ),
        (&["serve", "--data", "nowhere"], 1),
        (&["serve", "--mirror-dir", "nowhere"], 2),
        (&["serve", "--data", "d", "--mirror-dir", "m"], 2),
        (&["witness", "--key", "missing.key", "--print-vkey"], 1),
        (&["witness", "--key", "rel.key.pub", "--print-vkey"], 2),
        (
            &[
                "mirror",
                "--upstream",
                "ftp://x",
                "--mirror-dir",
                "m",
                "--once",
            ],
            2,
        ),
        (&["vkey", "missing.key"], 1),
        (&["vkey", "rel.key.pub"], 2),
        (&["keygen", "--name", "bad name", "--out", "k"], 2),
        (
            &["keygen", "--name", "example.org/rel", "--out", "rel.key"],
            2,
        ),
        (
            &[
                "sigstore",
                "verify",
                "--bundle",
                "garbage",
                "--artifact",
                "a.txt",
                "--public-key",
                "garbage",
            ],
            3,
        ),
        (&["verify", "a.txt", "--timeout", "0s"], 2),
        (&["verify", "a.txt", "--timeout", "soon"], 2),
    ];
    let mut problems = Vec::new();
    for (args, want) in cases {
        let out = run(d, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        if code == Some(0) {
            problems.push(format!("cairn {args:?} succeeded; it must fail"));
            continue;
        }
        if stderr.trim().is_empty() {
            problems.push(format!(
                "cairn {args:?} failed ({code:?}) without a word on stderr"
            ));
        }
        if let Some(marker) = debug_text(&stderr) {
            problems.push(format!(
                "cairn {args:?}: Rust debug text ({marker:?}) in:\n{stderr}"
            ));
        }
        if code != Some(*want) {
            problems.push(format!(
                "cairn {args:?} exited {code:?}, documented {want}; stderr:\n{stderr}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn a_key_of_the_wrong_kind_is_named_as_such() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let d = dir.path();
    let keygen = run(
        d,
        &["keygen", "--name", "example.org/rel", "--out", "rel.key"],
    );
    assert!(keygen.status.success(), "{keygen:?}");
    std::fs::write(d.join("a.txt"), b"artifact\n").expect("write");
    // A public key where a secret key belongs, even if its permissions are loose.
    let publish = run(
        d,
        &[
            "publish",
            "a.txt",
            "--name",
            "demo/a",
            "--version",
            "1",
            "--key",
            "rel.key.pub",
            "--log",
            "http://127.0.0.1:9",
        ],
    );
    let stderr = String::from_utf8_lossy(&publish.stderr);
    assert!(stderr.contains("is a verifier key (public)"), "{stderr}");
    // A secret key where a verifier key belongs.
    let add = run(
        d,
        &[
            "key",
            "add",
            "--release-key",
            "rel.key",
            "--scope",
            "demo/*",
            "--from",
            "0",
        ],
    );
    let stderr = String::from_utf8_lossy(&add.stderr);
    assert!(
        stderr.contains("this is a secret (signing) key"),
        "{stderr}"
    );
    assert!(
        add.stdout.is_empty(),
        "nothing is printed for a refused event"
    );
}

#[test]
fn renamed_flags_still_work_and_warn() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let d = dir.path();
    let keygen = run(
        d,
        &["keygen", "--name", "example.org/rel", "--out", "rel.key"],
    );
    assert!(keygen.status.success(), "{keygen:?}");
    // `key add --key` (now --release-key): same event, plus one warning.
    let old = run(
        d,
        &[
            "key",
            "add",
            "--key",
            "rel.key.pub",
            "--scope",
            "demo/*",
            "--from",
            "0",
        ],
    );
    let new = run(
        d,
        &[
            "key",
            "add",
            "--release-key",
            "rel.key.pub",
            "--scope",
            "demo/*",
            "--from",
            "0",
        ],
    );
    assert!(
        old.status.success() && new.status.success(),
        "{old:?}\n{new:?}"
    );
    assert_eq!(old.stdout, new.stdout, "the old spelling means the same");
    let warned = String::from_utf8_lossy(&old.stderr);
    assert!(
        warned.contains("`cairn key add --key` is deprecated; use --release-key"),
        "{warned}"
    );
    assert!(!String::from_utf8_lossy(&new.stderr).contains("deprecated"));
    // `serve --mirror` (now --mirror-dir) warns, then behaves as --mirror-dir.
    let old = run(d, &["serve", "--mirror", "nowhere"]);
    let warned = String::from_utf8_lossy(&old.stderr);
    assert!(
        warned.contains("`cairn serve --mirror` is deprecated; use --mirror-dir"),
        "{warned}"
    );
    assert!(warned.contains("holds no mirrored log"), "{warned}");
    // `witness --log` (now --witness-log).
    let old = run(
        d,
        &[
            "witness",
            "--key",
            "rel.key",
            "--print-vkey",
            "--log",
            "o",
            "x",
        ],
    );
    assert!(
        String::from_utf8_lossy(&old.stderr)
            .contains("`cairn witness --log` is deprecated; use --witness-log"),
        "{old:?}"
    );
}

/// The subcommands `cairn --help` lists.
fn subcommands(dir: &Path) -> Vec<String> {
    let help = run(dir, &["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).expect("UTF-8 help");
    let names: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_owned)
        .collect();
    assert!(
        names.len() >= 15,
        "cairn --help lists the subcommands:\n{text}"
    );
    names
}

#[test]
fn completions_and_man_pages_cover_every_subcommand() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let d = dir.path();
    let names = subcommands(d);
    for shell in ["bash", "zsh", "fish"] {
        let out = run(d, &["completions", shell]);
        assert!(out.status.success(), "completions {shell}: {out:?}");
        let script = String::from_utf8(out.stdout).expect("UTF-8 script");
        for name in &names {
            assert!(
                script.contains(name.as_str()),
                "the {shell} completions do not mention `cairn {name}`"
            );
        }
        // The renamed flags are offered under their new names only.
        assert!(script.contains("mirror-dir") && script.contains("witness-log"));
    }
    let bad = run(d, &["completions", "powershell-9"]);
    assert_eq!(bad.status.code(), Some(2));

    let out = run(d, &["man", "--out-dir", "man"]);
    assert!(out.status.success(), "{out:?}");
    let top = std::fs::read_to_string(d.join("man/cairn.1")).expect("cairn.1");
    assert!(
        top.starts_with(".ie") || top.contains(".TH cairn"),
        "a roff page"
    );
    for name in &names {
        // roff writes a hyphen as `\-`.
        let roff_name = name.replace('-', "\\-");
        assert!(top.contains(&roff_name), "cairn.1 does not list {name}");
        let page = d.join(format!("man/cairn-{name}.1"));
        let text =
            std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        assert!(text.contains(".SH"), "{} has sections", page.display());
    }
    assert!(
        d.join("man/cairn-key-add.1").is_file(),
        "nested subcommands get pages too"
    );
}
