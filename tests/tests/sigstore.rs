//! `cairn sigstore verify` end to end, through the real binary: every case of the Sigstore
//! conformance suite's `bundle-verify` folder (shipped in `sigstore-verify/testdata/`) gives
//! the expected verdict (a name ending in `_fail` must exit 3, every other must exit 0), plus
//! the command's usage errors, JSON output and refusals of modified bundles.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cairn_tests::process::cairn_bin;

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sigstore-verify/testdata/bundle-verify")
}

fn cairn<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(cairn_bin())
        .arg("sigstore")
        .arg("verify")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cairn")
}

fn trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The command line for a case, following the folder's README.
fn case_args(dir: &Path) -> Vec<String> {
    let mut args = vec![
        "--bundle".to_owned(),
        dir.join("bundle.sigstore.json").display().to_string(),
        "--artifact".to_owned(),
    ];
    let artifact = dir.join("artifact");
    args.push(if artifact.exists() {
        artifact.display().to_string()
    } else {
        cases_dir().join("a.txt").display().to_string()
    });
    if dir.join("key.pub").exists() {
        args.push("--key".to_owned());
        args.push(dir.join("key.pub").display().to_string());
    } else {
        args.push("--identity".to_owned());
        args.push(trimmed(&dir.join("identity")).unwrap_or(DEFAULT_IDENTITY.to_owned()));
        args.push("--issuer".to_owned());
        args.push(trimmed(&dir.join("issuer")).unwrap_or(DEFAULT_ISSUER.to_owned()));
    }
    if dir.join("trusted_root.json").exists() {
        args.push("--trusted-root".to_owned());
        args.push(dir.join("trusted_root.json").display().to_string());
    }
    args
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

#[test]
fn every_conformance_case_gives_the_expected_verdict_through_the_binary() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("the bundle-verify folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    let mut mismatches = Vec::new();
    for dir in &cases {
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let out = cairn(&case_args(dir));
        let code = out.status.code();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        if name.ends_with("_fail") {
            // Refused: exit 3, one line naming the reason, nothing on stdout.
            if code != Some(3) || !stderr.contains("verification failed") || !stdout.is_empty() {
                mismatches.push(format!(
                    "{name}: must be refused (exit 3), got {code:?}: {stdout} {stderr}"
                ));
            } else if stderr.lines().count() != 1 {
                mismatches.push(format!("{name}: the refusal is not one line: {stderr}"));
            }
        } else if code != Some(0) || !stdout.starts_with("verified: sha256:") {
            mismatches.push(format!(
                "{name}: must verify (exit 0), got {code:?}: {stdout} {stderr}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases mismatch:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn json_verdict_names_identity_issuer_times_and_entry() {
    let dir = cases_dir().join("happy-path-v0.3");
    let mut args = case_args(&dir);
    args.push("--json".to_owned());
    let out = cairn(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["verified"], true);
    assert_eq!(v["identity"], DEFAULT_IDENTITY);
    assert_eq!(v["issuer"], DEFAULT_ISSUER);
    // sha256 of a.txt, as the bundle's hashedrekord entry records it.
    assert_eq!(
        v["artifact_sha256"],
        "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"
    );
    // integratedTime 1710869186, covered by the verified signed entry timestamp.
    assert_eq!(v["integrated_time"], "2024-03-19T17:26:26Z");
    assert_eq!(v["log_entries"][0]["log"], "https://rekor.sigstore.dev");
    assert_eq!(v["log_entries"][0]["index"], 79_571_823);
    assert_eq!(v["log_entries"][0]["tree_size"], 75_408_393);
}

#[test]
fn identity_and_issuer_must_match() {
    let dir = cases_dir().join("happy-path-v0.3");
    let base = case_args(&dir);
    let with = |identity: &str, issuer: &str| {
        let mut args: Vec<String> = base[..4].to_vec();
        args.extend([
            "--identity".into(),
            identity.into(),
            "--issuer".into(),
            issuer.into(),
        ]);
        cairn(&args)
    };
    // A workflow pattern for tags does not accept a branch identity.
    let tag_pattern = DEFAULT_IDENTITY.replace("@refs/heads/main", "@refs/tags/*");
    let out = with(&tag_pattern, DEFAULT_ISSUER);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("signer:"),
        "{}",
        text(&out.stderr)
    );
    // Another issuer.
    let out = with(DEFAULT_IDENTITY, "https://accounts.google.com");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("OIDC issuer"),
        "{}",
        text(&out.stderr)
    );
    // A prefix of the identity is not the identity.
    let out = with(
        &DEFAULT_IDENTITY[..DEFAULT_IDENTITY.len() - 1],
        DEFAULT_ISSUER,
    );
    assert_eq!(out.status.code(), Some(3));
    // The exact identity verifies (control).
    let out = with(DEFAULT_IDENTITY, DEFAULT_ISSUER);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn modified_bundles_are_refused() {
    let dir = cases_dir().join("happy-path-v0.3");
    let original = std::fs::read_to_string(dir.join("bundle.sigstore.json")).expect("bundle");
    let tmp = tempfile::tempdir().expect("tempdir");
    // Each edit changes one signed or proved value; each must be refused with exit 3.
    let edits = [
        // A sibling hash of the inclusion proof.
        ("1J7hRIEGvYdAyzEs", "1J7hRIEGvYdAyzEt"),
        // The integrated time (covered by the signed entry timestamp).
        (
            "\"integratedTime\": \"1710869186\"",
            "\"integratedTime\": \"1710869187\"",
        ),
        // The log index (covered by the signed entry timestamp).
        ("\"logIndex\": \"79571823\"", "\"logIndex\": \"79571824\""),
        // The checkpoint's tree size.
        ("\\n75408393\\n", "\\n75408394\\n"),
    ];
    for (from, to) in edits {
        assert!(original.contains(from), "the fixture contains {from}");
        let path = tmp.path().join("bundle.json");
        std::fs::write(&path, original.replacen(from, to, 1)).expect("write");
        let mut args = case_args(&dir);
        args[1] = path.display().to_string();
        let out = cairn(&args);
        assert_eq!(
            out.status.code(),
            Some(3),
            "edit {from} -> {to}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn usage_and_io_errors() {
    let dir = cases_dir().join("happy-path-v0.3");
    let bundle = dir.join("bundle.sigstore.json").display().to_string();
    let artifact = cases_dir().join("a.txt").display().to_string();
    // Neither an identity nor a key.
    let out = cairn(&["--bundle", &bundle, "--artifact", &artifact]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // An identity without an issuer.
    let out = cairn(&[
        "--bundle",
        &bundle,
        "--artifact",
        &artifact,
        "--identity",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // A `*` anywhere but after @refs/tags/.
    let out = cairn(&[
        "--bundle",
        &bundle,
        "--artifact",
        &artifact,
        "--identity",
        "https://*",
        "--issuer",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // A missing artifact is an error, not a verdict.
    let out = cairn(&[
        "--bundle",
        &bundle,
        "--artifact",
        "/nonexistent/file",
        "--identity",
        DEFAULT_IDENTITY,
        "--issuer",
        DEFAULT_ISSUER,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("/nonexistent/file"));
}
