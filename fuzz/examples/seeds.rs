//! Fills `fuzz/seeds/<target>/` with seed inputs: real-world notes and checkpoints from the
//! conformance vectors (`vectors/`), Cairn's entry vectors (`spec/vectors/entries/`), and
//! inputs signed by the fixed fuzzing keys (`keys.rs`) so the fuzzer starts past signature
//! checks. Run from the repository root:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seeds
//! ```
//!
//! Deterministic: the same tree gives the same seeds, so the committed ones can be re-made.

use std::fs;
use std::path::{Path, PathBuf};

use cairn_verifier::checkpoint::{
    Checkpoint, VerifiedCheckpoint, verify_consistent,
};
use cairn_verifier::compact::to_compact;
use cairn_verifier::hash::Hash;
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::{Note, NoteSigner};
use cairn_verifier::policy::Policy;
use cairn_verifier::tile::{Tile, encode_entry_bundle};
use cairn_verifier::tlog_proof::TlogProof;
use cairn_verifier::witness::AddCheckpoint;

#[path = "../keys.rs"]
mod keys;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = root.join("fuzz/seeds");
    let mut seeds = Seeds { out, count: 0 };

    // Real-world notes: signed notes, checkpoints (their text), compact lines of them.
    for path in files(&root.join("vectors/notes")) {
        let bytes = fs::read(&path).expect("read vector note");
        seeds.put("note", &path, &bytes);
        if let Ok(note) = Note::parse(&bytes) {
            if Checkpoint::parse(note.text()).is_ok() {
                seeds.put("checkpoint", &path, note.text().as_bytes());
                seeds.put("cosignature", &path, &bytes);
                seeds.put("tlog_proof", &path, &proof_file(0, &[], &bytes, b"entry"));
            }
        }
    }
    for path in files(&root.join("spec/vectors/keylog/examples")) {
        seeds.put("note", &path, &fs::read(&path).expect("read key-log note"));
    }
    for dir in ["valid", "invalid"] {
        for path in files(&root.join("spec/vectors/entries").join(dir)) {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let target = match name.split('-').next() {
                Some("release") => "entry_release",
                Some("deprecate") => "entry_deprecate",
                Some("key") => "entry_key",
                _ => continue,
            };
            seeds.put(target, &path, &fs::read(&path).expect("read entry vector"));
        }
    }

    // A small log signed by the fuzzing key: checkpoints, a proof file, a witness request,
    // a cosigned note and the witness's reply, evidence, compact lines.
    let signer = keys::log_signer();
    let verifier = keys::log_verifier();
    let mut tree = MemoryTree::new();
    let entries: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("entry {i}\n").into_bytes())
        .collect();
    for e in &entries {
        tree.append(e);
    }
    let sign = |size: u64, root: Hash| -> Vec<u8> {
        let text = Checkpoint::new(keys::ORIGIN, size, root)
            .to_text()
            .expect("checkpoint text");
        Note::sign(&text, &[&signer as &dyn NoteSigner])
            .expect("sign")
            .to_bytes()
    };
    let cp3 = sign(3, tree.root_at(3).expect("root 3"));
    let cp5 = sign(5, tree.root());
    let v5 = VerifiedCheckpoint::verify(&cp5, keys::ORIGIN, &verifier).expect("verify own");
    seeds.put_named("checkpoint", "signed-5", &cp5);
    seeds.put_named("note", "signed-5", &cp5);
    let proof = tree.prove_inclusion(2, 5).expect("inclusion proof");
    seeds.put_named(
        "tlog_proof",
        "signed-index-2",
        &proof_file(2, &proof, &cp5, &entries[2]),
    );
    let consistency = tree.prove_consistency(3, 5).expect("consistency proof");
    let add = AddCheckpoint {
        old_size: 3,
        proof: consistency,
        checkpoint: cp5.clone(),
    };
    seeds.put_named("add_checkpoint", "old-3", &add.to_bytes());
    let add0 = AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        checkpoint: cp3.clone(),
    };
    seeds.put_named("add_checkpoint", "old-0", &add0.to_bytes());
    let witness = keys::witness_signer();
    let cosig = witness.cosign(&v5, 1_700_000_000).expect("cosign");
    let mut cosigned = Note::parse(&cp5).expect("own note");
    cosigned
        .push_signature(cosig.clone())
        .expect("push cosignature");
    seeds.put_named("cosignature", "cosigned-5", &cosigned.to_bytes());
    seeds.put_named("cosignature", "reply-line", cosig.to_line().as_bytes());
    seeds.put_named(
        "compact",
        "signed-5",
        to_compact(v5.note()).expect("compact").as_bytes(),
    );
    seeds.put_named(
        "compact",
        "cosigned-5",
        to_compact(&cosigned).expect("compact").as_bytes(),
    );
    let forked = sign(5, Hash::from_slice(&[0x42; 32]).expect("32 bytes"));
    let vf = VerifiedCheckpoint::verify(&forked, keys::ORIGIN, &verifier).expect("verify fork");
    match verify_consistent(&v5, &vf, &[]) {
        Err(e) if e.inconsistency().is_some() => {
            let inc = e.inconsistency().expect("checked");
            seeds.put_named("evidence", "same-size-fork", inc.to_evidence().as_bytes());
        }
        other => panic!("a fork must be inconsistent, got {other:?}"),
    }
    let fork8 = sign(8, Hash::from_slice(&[0x43; 32]).expect("32 bytes"));
    let v8 = VerifiedCheckpoint::verify(&fork8, keys::ORIGIN, &verifier).expect("verify 8");
    let wrong = vec![Hash::from_slice(&[1; 32]).expect("32 bytes"); 2];
    if let Err(e) = verify_consistent(&v5, &v8, &wrong)
        && let Some(inc) = e.inconsistency()
    {
        seeds.put_named("evidence", "bad-proof", inc.to_evidence().as_bytes());
    }

    // Tiles and bundles.
    for path in [
        "tile/0/000",
        "tile/0/x001/234.p/7",
        "tile/3/x018/x446/x744/x073/x709/x551/615",
        "tile/entries/000",
        "tile/entries/x001/002.p/255",
        "tile/1/001.p/1",
    ] {
        seeds.put_named("tile_path", &path.replace('/', "_"), path.as_bytes());
    }
    for (height, width) in [(8u8, 256u16), (8, 3), (2, 4)] {
        let tile = Tile::new(height, 0, 0, width).expect("valid tile");
        let mut data = vec![height, 0];
        data.extend_from_slice(&width.to_be_bytes());
        data.extend(std::iter::repeat_n(0xab, tile.data_len()));
        seeds.put_named("tile_data", &format!("h{height}-w{width}"), &data);
    }
    let bundle = encode_entry_bundle(&entries).expect("bundle");
    let mut data = vec![4u8];
    data.extend_from_slice(&bundle);
    seeds.put_named("entry_bundle", "five", &data);
    let mut one = vec![0u8];
    one.extend_from_slice(&encode_entry_bundle(&[b"".as_slice()]).expect("bundle"));
    seeds.put_named("entry_bundle", "one-empty", &one);

    // Policies and keys.
    let log_vkey = verifier.to_vkey();
    let witness_vkey = witness.verifier().to_vkey();
    let simple = Policy::simple(
        &log_vkey,
        Some("https://fuzz.example/"),
        &[("w1".to_owned(), witness_vkey.clone(), None)],
        1,
    )
    .expect("simple policy");
    seeds.put_named("policy", "simple", simple.to_text().as_bytes());
    let groups = format!(
        "# comment\nlog {log_vkey}\nwitness a {witness_vkey}\nwitness b {witness_vkey} https://b.example/\n\
         group ab any a b\ngroup all all ab a\nquorum all\n"
    );
    seeds.put_named("policy", "groups", groups.as_bytes());
    seeds.put_named(
        "policy",
        "none",
        format!("log {log_vkey}\nquorum none\n").as_bytes(),
    );
    // The client's trust policy (two per-origin log keys, a root, a witness) and key-log
    // snapshots.
    let keys_vkey = cairn_verifier::note::Ed25519Signer::from_seed(
        cairn_verifier::note::KeyName::new("fuzz.example/keys").expect("name"),
        [8; 32],
    )
    .verifier()
    .to_vkey();
    let root_vkey = cairn_verifier::note::Ed25519Signer::from_seed(
        cairn_verifier::note::KeyName::new("fuzz.example/root").expect("name"),
        [10; 32],
    )
    .verifier()
    .to_vkey();
    let trust = cairn_client::trust::Trust::build(
        &[log_vkey.clone(), keys_vkey],
        "https://fuzz.example/",
        &[root_vkey],
        1,
        &[("w1".to_owned(), witness_vkey.clone(), None)],
        1,
        std::time::Duration::from_secs(3600),
    )
    .expect("trust policy");
    seeds.put_named("trust_policy", "witnessed", trust.text.as_bytes());
    seeds.put_named(
        "trust_policy",
        "commented",
        trust
            .text
            .replace("\nlog ", "\n# the log\n\tlog ")
            .as_bytes(),
    );
    let snapshot = cairn_client::keylog::Snapshot {
        checkpoint: cp3.clone(),
        entries: vec![b"first entry".to_vec(), Vec::new(), vec![0x5a; 300]],
    };
    let mut raw = vec![0u8];
    raw.extend_from_slice(&snapshot.encode().expect("encodes"));
    seeds.put_named("keylog_snapshot", "raw", &raw);
    let mut file = vec![1u8];
    file.extend_from_slice(&snapshot.to_file_bytes().expect("encodes"));
    seeds.put_named("keylog_snapshot", "file", &file);
    seeds.put_named("vkey", "ed25519", log_vkey.as_bytes());
    seeds.put_named("vkey", "cosignature", witness_vkey.as_bytes());
    eprintln!(
        "seeds: wrote {} files under {}",
        seeds.count,
        seeds.out.display()
    );
}

fn proof_file(index: u64, proof: &[Hash], checkpoint: &[u8], entry: &[u8]) -> Vec<u8> {
    TlogProof {
        extra: Some(entry.to_vec()),
        index,
        proof: proof.to_vec(),
        checkpoint: checkpoint.to_vec(),
    }
    .to_bytes()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

struct Seeds {
    out: PathBuf,
    count: usize,
}

impl Seeds {
    fn put(&mut self, target: &str, source: &Path, bytes: &[u8]) {
        let name = source
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("file name");
        self.put_named(target, name, bytes);
    }

    fn put_named(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.out.join(target);
        fs::create_dir_all(&dir).expect("create seed directory");
        fs::write(dir.join(name), bytes).expect("write seed");
        self.count += 1;
    }
}
