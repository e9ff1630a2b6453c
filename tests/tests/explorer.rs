//! The log explorer (`explorer/`, issue 17).
//!
//! 1. Its verification modules, run under Node.js over the repository's conformance vectors,
//!    give every case the verdict the manifest requires, which `verifier/tests/conformance.rs`
//!    holds the Rust verifier to: the page and the Rust verifier agree case by case.
//! 2. The page itself, in Debian's Chromium driven by playwright-core, against the real server
//!    (see `browser_*` below).
//!
//! Both skip with a printed reason when `node` (or Chromium, or `explorer/tests/node_modules`)
//! is missing; `.ci/run` installs them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

/// `node --version`, or None (with the reason printed) when Node.js cannot run.
fn node() -> Option<String> {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
        Ok(out) => {
            eprintln!("SKIPPED: `node --version` failed: {}", String::from_utf8_lossy(&out.stderr));
            None
        }
        Err(e) => {
            eprintln!("SKIPPED: Node.js is not installed (`node`: {e}); .ci/run installs it");
            None
        }
    }
}

#[test]
fn page_verifier_agrees_with_the_rust_verifier_on_every_vector() {
    let Some(version) = node() else { return };
    let repo = repo();
    let out = Command::new("node")
        .arg(repo.join("explorer/tests/vectors.mjs"))
        .arg(repo.join("vectors"))
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("Error"), "node {version} failed:\n{stderr}\n{stdout}");

    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.join("vectors/manifest.json")).expect("manifest"),
    )
    .expect("manifest is JSON");
    let expected: BTreeMap<&str, &str> = manifest["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| (c["id"].as_str().expect("id"), c["expect"].as_str().expect("expect")))
        .collect();

    let mut got: BTreeMap<String, String> = BTreeMap::new();
    let mut other_checks = 0;
    let mut problems = Vec::new();
    for line in stdout.lines() {
        let mut parts = line.splitn(4, ' ');
        let (kind, id, verdict) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        match kind {
            "case" => {
                got.insert(id.to_owned(), verdict.to_owned());
            }
            "rfc6962-root" | "sha256-fips" | "sha256-webcrypto" => {
                other_checks += 1;
                if verdict != "OK" {
                    problems.push(format!("{line}"));
                }
            }
            _ => {}
        }
    }
    for (id, expect) in &expected {
        match got.get(*id) {
            None => problems.push(format!("{id}: no verdict from the page's modules")),
            Some(verdict) if verdict != expect => {
                let line = stdout.lines().find(|l| l.starts_with(&format!("case {id} "))).unwrap_or("");
                problems.push(format!("{id}: expected {expect} (the Rust verifier's verdict), page says {line}"));
            }
            Some(_) => {}
        }
    }
    let accepted = got.values().filter(|v| *v == "OK").count();
    eprintln!(
        "node {version}: {} vectors ({accepted} accepted, {} refused), {other_checks} hashing checks, {} problems",
        got.len(),
        got.len() - accepted,
        problems.len()
    );
    assert_eq!(other_checks, 9 + 4 + 1, "every RFC 6962 root and SHA-256 check ran");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(out.status.success(), "node exited with {}:\n{stdout}", out.status);
}
