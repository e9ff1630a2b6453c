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
        Ok(out) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        Ok(out) => {
            eprintln!(
                "SKIPPED: `node --version` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
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
    assert!(
        !stderr.contains("Error"),
        "node {version} failed:\n{stderr}\n{stdout}"
    );

    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.join("vectors/manifest.json")).expect("manifest"),
    )
    .expect("manifest is JSON");
    let expected: BTreeMap<&str, &str> = manifest["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().expect("id"),
                c["expect"].as_str().expect("expect"),
            )
        })
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
            "rfc6962-root" | "sha256-fips" | "sha256-webcrypto" | "sha256-wasm" => {
                other_checks += 1;
                if verdict != "OK" {
                    problems.push(line.to_owned());
                }
            }
            _ => {}
        }
    }
    for (id, expect) in &expected {
        match got.get(*id) {
            None => problems.push(format!("{id}: no verdict from the page's modules")),
            Some(verdict) if verdict != expect => {
                let line = stdout
                    .lines()
                    .find(|l| l.starts_with(&format!("case {id} ")))
                    .unwrap_or("");
                problems.push(format!(
                    "{id}: expected {expect} (the Rust verifier's verdict), page says {line}"
                ));
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
    assert_eq!(
        other_checks,
        9 + 4 + 1 + 3,
        "every RFC 6962 root and SHA-256 check ran (JavaScript and WebAssembly)"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        out.status.success(),
        "node exited with {}:\n{stdout}",
        out.status
    );
}

mod client_support;

use std::os::unix::fs::PermissionsExt as _;

use cairn_tests::process::Server;
use cairn_verifier::cosignature::CosignatureSigner;
use cairn_verifier::entry::{Advisory, Deprecation, Reason, ReleaseName, Version};
use cairn_verifier::hash::sha256;
use cairn_verifier::note::{Ed25519Signer, KeyName};
use client_support::{
    PREFIX, TestLog, TinyHttp, add_key_event, key, keys_log_key, log_key, mitm_paths,
    revoke_key_event, sign,
};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Why the browser tests cannot run here, if they cannot.
fn browser_missing() -> Option<String> {
    node()?;
    if !Path::new(CHROMIUM).exists() {
        return Some(format!(
            "{CHROMIUM} is missing (Debian package chromium; .ci/run installs it)"
        ));
    }
    if !repo()
        .join("explorer/tests/node_modules/playwright-core")
        .exists()
    {
        return Some(
            "explorer/tests/node_modules is missing (run `npm ci` in explorer/tests; .ci/run does)"
                .into(),
        );
    }
    None
}

/// A `cairn witness` for both of the test log's origins.
struct Witness {
    label: String,
    seed: [u8; 32],
    _files: tempfile::TempDir,
    server: Server,
}

impl Witness {
    fn start(label: &str) -> Witness {
        let files = tempfile::tempdir().expect("tempdir");
        let seed = sha256(format!("cairn-explorer-witness/{label}").as_bytes());
        let name = KeyName::new(&format!("witness.example/{label}")).expect("name");
        let signer = Ed25519Signer::from_seed(name, seed);
        let key_file = files.path().join("witness.key");
        std::fs::write(&key_file, format!("{}\n", signer.to_skey())).expect("key");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let releases = format!("{PREFIX}/releases");
        let keys = format!("{PREFIX}/keys");
        // The test log's per-origin keys (client_support): the release log's key material
        // renamed to its origin, and the key log's own key.
        let releases_vkey = log_key()
            .with_name(KeyName::new(&releases).expect("name"))
            .verifier()
            .to_vkey();
        let keys_vkey = keys_log_key().verifier().to_vkey();
        let server = Server::witness(
            &key_file,
            &files.path().join("data"),
            &[
                (releases.as_str(), releases_vkey.as_str()),
                (keys.as_str(), keys_vkey.as_str()),
            ],
        );
        Witness {
            label: label.to_owned(),
            seed,
            _files: files,
            server,
        }
    }

    fn vkey(&self) -> String {
        let name = KeyName::new(&format!("witness.example/{}", self.label)).expect("name");
        CosignatureSigner::from_seed(name, self.seed)
            .verifier()
            .to_vkey()
    }
}

fn flip_last_signature_byte(note: Vec<u8>) -> Vec<u8> {
    // The first signature line is the log's; change one base64 character in its middle.
    let text = String::from_utf8(note).expect("checkpoint is text");
    let start = text.find("\n\n\u{2014} ").expect("signature line") + 2;
    let line_end = start + text[start..].find('\n').expect("line end");
    let pos = line_end - 10;
    let mut bytes = text.into_bytes();
    bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
    bytes
}

#[test]
fn browser_explorer_against_the_real_server() {
    if let Some(why) = browser_missing() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let w1 = Witness::start("w1");
    let w2 = Witness::start("w2");
    let mut serve: Vec<String> = Vec::new();
    for w in [&w1, &w2] {
        serve.extend([
            "--witness".into(),
            w.label.clone(),
            w.vkey(),
            w.server.base_url(),
        ]);
    }
    serve.extend(["--witness-timeout".into(), "2s".into()]);
    let args: Vec<&str> = serve.iter().map(String::as_str).collect();
    let log = TestLog::start_with(&args);

    // Release log: 0 os 1.0 and 1 os 1.1 by rel1; rotation rel1 -> rel2 at 2 (add rel2 from 2,
    // retire rel1 until 2); 2 os 2.0 by rel2; 3 deprecation of 1.0 by rel2 (advisory,
    // replacement 2.0); then rel1 revoked from 1, which invalidates 1.1 but not 1.0.
    let (v10, _) = log.publish("example/os", "1.0", b"explorer test image 1.0\n");
    let (v11, _) = log.publish("example/os", "1.1", b"explorer test image 1.1\n");
    let rel2 = key("rel2");
    log.post(
        "keys",
        &sign(&add_key_event(&rel2, "example/*", 2), &[&log.root]),
    )
    .expect("add rel2");
    log.post(
        "keys",
        &sign(
            &cairn_tests::fixtures::retire_key_event(&log.release, 2),
            &[&log.root],
        ),
    )
    .expect("retire rel1");
    let v20_bytes = b"explorer test image 2.0\n";
    let v20_note = sign(
        &client_support::release_text("example/os", "2.0", &[("image.img", v20_bytes)]),
        &[&rel2],
    );
    log.post("releases", &v20_note)
        .expect("publish 2.0 with rel2");
    let v20 = log.scratch().join("2.0.img");
    std::fs::write(&v20, v20_bytes).expect("2.0 image");
    let deprecation = Deprecation::new(
        ReleaseName::new("example/os").expect("name"),
        Version::new("1.0").expect("version"),
        Reason::new("Remote code execution in the installer").expect("reason"),
        Some(Advisory::new("CVE-2026-12345").expect("advisory")),
        Some(Version::new("2.0").expect("version")),
    )
    .expect("deprecation")
    .to_text();
    log.post("releases", &sign(&deprecation, &[&rel2]))
        .expect("deprecate 1.0");
    log.post(
        "keys",
        &sign(&revoke_key_event(&log.release, 1), &[&log.root]),
    )
    .expect("revoke rel1 from 1");

    // Tampering proxies in front of the same server.
    let upstream = log.url();
    let wrong_tile = TinyHttp::start(mitm_paths(upstream.clone(), |path, mut body| {
        if path.starts_with("/releases/tile/0/") && !body.is_empty() {
            body[0] ^= 1;
        }
        body
    }));
    let bad_signature = TinyHttp::start(mitm_paths(upstream.clone(), |path, body| {
        if path == "/releases/checkpoint" {
            flip_last_signature_byte(body)
        } else {
            body
        }
    }));

    // A `cairn mirror` copy served by `cairn serve --mirror`, with the log's policy beside it.
    let client = client_support::Client::new();
    client.trust(&upstream, &log, &[]);
    let mirror_dir = log.scratch().join("mirror");
    let mirror_arg = mirror_dir.display().to_string();
    let out = client.cairn(
        &["mirror"],
        &["--from", &upstream, "--to", &mirror_arg, "--once"],
    );
    client_support::assert_exit(&out, 0, "cairn mirror --once");
    std::fs::write(mirror_dir.join("trust-policy"), log.get("/trust-policy")).expect("policy");
    let mirror = Server::start_mirror(&mirror_dir).unwrap_or_else(|f| panic!("{f}"));

    let screenshots = repo().join("target/explorer-screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot dir");
    let digest = |p: &Path| {
        sha256(&std::fs::read(p).expect("artifact"))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    // A file of several stream reads and progress steps, not a whole number of blocks, with
    // content that differs everywhere (so a reused or skipped buffer changes the digest).
    let large = log.scratch().join("large.bin");
    let mut bytes = Vec::with_capacity(24 * 1024 * 1024 + 13);
    let mut x: u32 = 0x2545_f491;
    while bytes.len() < 24 * 1024 * 1024 + 13 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push(x as u8);
    }
    std::fs::write(&large, &bytes).expect("large file");
    let fixture = serde_json::json!({
        "base": upstream,
        "wrongTile": wrong_tile.url(),
        "badSignature": bad_signature.url(),
        "mirror": mirror.base_url(),
        "screenshots": screenshots,
        "v10": {"path": v10, "digest": digest(&v10)},
        "v11": {"path": v11, "digest": digest(&v11)},
        "v20": {"path": v20, "digest": digest(&v20)},
        "large": {"path": large, "digest": digest(&large)},
        "rel1": log.release.verifier().to_vkey(),
        "witnesses": ["w1", "w2"],
    });
    let out = Command::new("node")
        .arg(repo().join("explorer/tests/browser.mjs"))
        .arg(fixture.to_string())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "browser tests failed (screenshots in {})",
        screenshots.display()
    );
    for check in [
        "status",
        "pin",
        "drop-verified",
        "wasm-fallback",
        "hash-large",
        "paste-deprecated",
        "paste-revoked",
        "paste-unknown",
        "name-history",
        "key-history",
        "recent",
        "csp",
        "tampered-tile",
        "bad-signature",
    ] {
        assert!(
            stdout.lines().any(|l| l == format!("ok {check}")),
            "check {check} did not pass"
        );
    }
}
