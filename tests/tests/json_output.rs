//! `--json` on the commands that print keys (docs/cli.md): one JSON object whose `vkeys` are
//! exactly what the plain form prints, one a line.

use std::process::Command;

use cairn_tests::process::cairn_bin;
use serde_json::Value;

fn run(args: &[&str], dir: &std::path::Path) -> String {
    let plain = Command::new(cairn_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run cairn");
    assert!(
        plain.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&plain.stderr)
    );
    String::from_utf8(plain.stdout).expect("UTF-8")
}

fn json(args: &[&str], dir: &std::path::Path) -> Value {
    let out = Command::new(cairn_bin())
        .args(args)
        .arg("--json")
        .current_dir(dir)
        .output()
        .expect("run cairn");
    assert!(
        out.status.success(),
        "{args:?} --json: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(text.lines().count(), 1, "one object on one line: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?} --json: {e}: {text}"))
}

fn vkeys(value: &Value) -> Vec<String> {
    value["vkeys"]
        .as_array()
        .expect("vkeys array")
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect()
}

#[test]
fn keygen_vkey_and_init_print_their_keys_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let value = json(
        &["keygen", "--name", "example.org/rel", "--out", "rel.key"],
        d,
    );
    let printed = vkeys(&value);
    assert_eq!(printed.len(), 1);
    assert!(printed[0].starts_with("example.org/rel+"), "{printed:?}");
    assert_eq!(value["signing_key"], "rel.key");
    assert_eq!(value["verifier_key"], "rel.key.pub");
    let public = std::fs::read_to_string(d.join("rel.key.pub")).expect("pub");
    assert_eq!(public.trim_end(), printed[0]);

    let plain = run(&["vkey", "rel.key"], d);
    let value = json(&["vkey", "rel.key"], d);
    assert_eq!(vkeys(&value), vec![plain.trim_end().to_owned()]);

    // init: the genesis is a root event signed by its one root.
    json(
        &["keygen", "--name", "example.org/root", "--out", "root.key"],
        d,
    );
    let root_vkey = std::fs::read_to_string(d.join("root.key.pub")).expect("pub");
    let event = Command::new(cairn_bin())
        .args([
            "key",
            "root",
            "--root-key",
            root_vkey.trim_end(),
            "--threshold",
            "1",
        ])
        .current_dir(d)
        .output()
        .expect("key root");
    assert!(
        event.status.success(),
        "{}",
        String::from_utf8_lossy(&event.stderr)
    );
    std::fs::write(d.join("genesis.event"), &event.stdout).expect("write");
    let signed = Command::new(cairn_bin())
        .args(["key", "sign", "genesis.event", "--key", "root.key"])
        .current_dir(d)
        .output()
        .expect("key sign");
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let value = json(
        &[
            "init",
            "--data",
            "data",
            "--origin",
            "example.org",
            "--genesis",
            "genesis.event",
        ],
        d,
    );
    let keys = vkeys(&value);
    assert_eq!(keys.len(), 2, "{value}");
    assert!(keys[0].starts_with("example.org/releases+"), "{keys:?}");
    assert!(keys[1].starts_with("example.org/keys+"), "{keys:?}");
    assert_eq!(value["origin"], "example.org");
}
