//! Every case of the Sigstore conformance suite's `bundle-verify` folder (copied into
//! `testdata/bundle-verify`, see its README) through the library: a case whose name ends in
//! `_fail` must be refused, every other must verify. Mismatches are reported by name, all at
//! once. The same cases run through the `cairn` binary in `tests/tests/sigstore.rs`.

use std::path::{Path, PathBuf};

use cairn_sigstore::{Artifact, IdentityMatcher, Policy, SignerKey, TrustedRoot, verify_bundle};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Runs one case; `Ok(true)` if it verified, `Ok(false)` with the reason printed if refused.
fn run_case(dir: &Path) -> Result<(), String> {
    let bundle = std::fs::read(dir.join("bundle.sigstore.json")).map_err(|e| e.to_string())?;
    let artifact_path = if dir.join("artifact").exists() {
        dir.join("artifact")
    } else {
        testdata().join("bundle-verify/a.txt")
    };
    let artifact = std::fs::read(artifact_path).map_err(|e| e.to_string())?;
    let root_bytes = std::fs::read(dir.join("trusted_root.json"))
        .unwrap_or_else(|_| cairn_sigstore::PRODUCTION_TRUSTED_ROOT.to_vec());
    let root = TrustedRoot::from_json(&root_bytes).map_err(|e| format!("trusted root: {e}"))?;
    let policy = match std::fs::read(dir.join("key.pub")) {
        Ok(pem) => Policy::Key(SignerKey::from_pem(&pem)?),
        Err(_) => Policy::Identity {
            identity: IdentityMatcher::parse(
                &read_trimmed(&dir.join("identity")).unwrap_or(DEFAULT_IDENTITY.to_owned()),
            )?,
            issuer: read_trimmed(&dir.join("issuer")).unwrap_or(DEFAULT_ISSUER.to_owned()),
        },
    };
    verify_bundle(&bundle, Artifact::Bytes(&artifact), &root, &policy)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn every_conformance_case_gives_the_expected_verdict() {
    let dir = testdata().join("bundle-verify");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("bundle-verify folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 50, "only {} cases found", cases.len());
    let mut mismatches = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for case in &cases {
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let expect_ok = !name.ends_with("_fail");
        let result = run_case(case);
        match (&result, expect_ok) {
            (Ok(()), true) => accepted += 1,
            (Err(e), false) => {
                refused += 1;
                eprintln!("{name}: refused as expected: {e}");
            }
            (Ok(()), false) => mismatches.push(format!("{name}: verified but must be refused")),
            (Err(e), true) => mismatches.push(format!("{name}: refused but must verify: {e}")),
        }
    }
    eprintln!(
        "{accepted} verified, {refused} refused, {} mismatches",
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "mismatches:\n{}",
        mismatches.join("\n")
    );
}
