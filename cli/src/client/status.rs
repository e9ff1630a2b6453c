//! `cairn status`: where this client stands with the log its trust policy names, from what it
//! has stored and verified (no network): the log, the latest verified checkpoints of both logs
//! and their witness cosignatures, the release keys valid now, and the last verify or install.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::keylog::{EndKind, KeyState, ReleaseKey};
use cairn_verifier::note::{MAX_NOTE_SIZE, NoteVerifier as _};
use serde_json::{Value, json};

use crate::client::trust::ClientOptions;
use crate::client::verify::LAST_RESULT_FILE;
use cairn_client::checkpoints::{now, verify_signature};
use cairn_client::keylog::load_stored;
use cairn_client::state::StateDir;
use cairn_client::trust::{LogName, Trust};

/// Arguments of `cairn status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientOptions,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let (state, trust) = args.client.load()?;
    let trust_path = args
        .client
        .trust
        .clone()
        .unwrap_or_else(|| state.trust_path());
    let status = gather(&state, &trust, &trust_path, now())?;
    #[allow(clippy::print_stdout)] // The status is this command's data.
    if args.json {
        println!("{status}");
    } else {
        print!("{}", human(&status));
    }
    Ok(())
}

/// Everything `status` reports, as the JSON object `--json` prints.
fn gather(state: &StateDir, trust: &Trust, trust_path: &Path, now: u64) -> anyhow::Result<Value> {
    // Stored state was verified when it was stored; its signatures are checked again here
    // (cheap), quietly: the status shows the result, not each check.
    let mut report = crate::output::report(false);
    let releases_path = state.releases_checkpoint_path(trust);
    let releases = match state.read(&releases_path, MAX_NOTE_SIZE)? {
        Some(bytes) => Some(verify_signature(
            trust,
            LogName::Releases,
            &bytes,
            "stored release-log checkpoint",
            &mut report,
        )?),
        None => None,
    };
    let keylog = load_stored(state, trust, now, None, &mut report)?;
    // A key's validity "now": for the next release, at index = the release log's size.
    let next_index = releases.as_ref().map_or(0, VerifiedCheckpoint::size);
    let last = state
        .read(&state.log_dir(trust).join(LAST_RESULT_FILE), 64 * 1024)?
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    Ok(json!({
        "trust": trust_path.display().to_string(),
        "log": trust.url,
        "origins": [trust.origin(LogName::Releases), trust.origin(LogName::Keys)],
        "witnesses": {
            "names": trust.witnesses.iter().map(|w| w.key.name().as_str().to_owned()).collect::<Vec<_>>(),
            "quorum": trust.policy.quorum(),
            "max_age_secs": trust.max_age.as_secs(),
        },
        "releases": releases.as_ref().map(|cp| checkpoint_status(trust, cp, &releases_path, now)),
        "keys": keylog.as_ref().map(|k| checkpoint_status(trust, &k.checkpoint, &state.keylog_path(trust), now)),
        "roots": keylog.as_ref().map(|k| json!({
            "threshold": k.state.roots().threshold(),
            "keys": k.state.roots().keys().iter().map(|v| v.to_vkey()).collect::<Vec<_>>(),
        })),
        "release_keys": keylog.as_ref().map(|k| release_keys(&k.state, next_index)),
        "last_result": last,
    }))
}

/// A stored checkpoint: its size, when this client verified it (the file's time), and what its
/// witness cosignatures say under the policy now.
fn checkpoint_status(trust: &Trust, cp: &VerifiedCheckpoint, file: &PathBuf, now: u64) -> Value {
    let verified_at = std::fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let max_age = trust.max_age.as_secs();
    let witnesses = if trust.has_quorum() {
        let cosigners = trust.policy.cosigners(cp, now, Some(max_age));
        let quorum = trust.policy.witness(cp.clone(), now, None).is_ok();
        let fresh = trust.policy.witness(cp.clone(), now, Some(max_age)).is_ok();
        match cosigners {
            Ok(c) => json!({
                "cosigned": c.cosigned(),
                "fresh": c.fresh(),
                "newest_cosignature": c.newest(),
                "newest_age_secs": c.newest().map(|t| now.saturating_sub(t)),
                "quorum_met": quorum,
                "fresh_quorum_met": fresh,
            }),
            Err(e) => {
                json!({ "error": e.to_string(), "quorum_met": false, "fresh_quorum_met": false })
            }
        }
    } else {
        Value::Null
    };
    json!({
        "origin": cp.origin(),
        "size": cp.size(),
        "stored_at": verified_at,
        "stored_age_secs": verified_at.map(|t| now.saturating_sub(t)),
        "witnesses": witnesses,
    })
}

/// Every release key the key log defines, and whether it may sign the release at `index`.
fn release_keys(state: &KeyState, index: u64) -> Vec<Value> {
    state
        .release_keys()
        .iter()
        .map(|k| {
            json!({
                "key": k.key().to_vkey(),
                "name": k.key().name().as_str(),
                "scope": k.scope().as_str(),
                "from": k.from(),
                "added_at_key_log_index": k.added_at(),
                "until": k.end().map(|e| e.until),
                "status": key_status(k, index),
            })
        })
        .collect()
}

fn key_status(key: &ReleaseKey, index: u64) -> &'static str {
    match key.end() {
        Some(end) if end.until <= index || end.until <= key.from() => match end.kind {
            EndKind::Retired => "retired",
            EndKind::Revoked => "revoked",
        },
        _ if key.from() > index => "not-yet-valid",
        Some(end) => match end.kind {
            EndKind::Retired => "valid (retiring)",
            EndKind::Revoked => "valid (revocation pending)",
        },
        None => "valid",
    }
}

fn age(secs: Option<u64>) -> String {
    match secs {
        None => "unknown".to_owned(),
        Some(s) if s < 120 => format!("{s} s ago"),
        Some(s) if s < 7200 => format!("{} min ago", s / 60),
        Some(s) if s < 172_800 => format!("{} h ago", s / 3600),
        Some(s) => format!("{} days ago", s / 86_400),
    }
}

/// The text form of the status.
fn human(s: &Value) -> String {
    let mut out = String::new();
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    out.push_str(&format!(
        "log        {} (trust policy {})\n",
        str_of(&s["log"]),
        str_of(&s["trust"])
    ));
    let names: Vec<String> = s["witnesses"]["names"]
        .as_array()
        .map(|a| a.iter().map(str_of).collect())
        .unwrap_or_default();
    if names.is_empty() {
        out.push_str(
            "witnesses  none (checkpoint age and split views are not checked by witnesses)\n",
        );
    } else {
        out.push_str(&format!(
            "witnesses  {} (quorum {}, max age {} s)\n",
            names.join(", "),
            str_of(&s["witnesses"]["quorum"]),
            s["witnesses"]["max_age_secs"]
        ));
    }
    for (label, key) in [("releases", "releases"), ("key log", "keys")] {
        let cp = &s[key];
        if cp.is_null() {
            out.push_str(&format!(
                "{label:<10} nothing verified yet (run `cairn keylog sync` or `cairn verify`)\n"
            ));
            continue;
        }
        out.push_str(&format!(
            "{label:<10} size {}, stored {}",
            cp["size"],
            age(cp["stored_age_secs"].as_u64())
        ));
        let w = &cp["witnesses"];
        if !w.is_null() {
            let cosigned: Vec<String> = w["cosigned"]
                .as_array()
                .map(|a| a.iter().map(str_of).collect())
                .unwrap_or_default();
            out.push_str(&format!(
                "; cosigned by {} (newest {}); quorum {}, {}",
                if cosigned.is_empty() {
                    "no witness".to_owned()
                } else {
                    cosigned.join(", ")
                },
                age(w["newest_age_secs"].as_u64()),
                if w["quorum_met"].as_bool() == Some(true) {
                    "met"
                } else {
                    "NOT met"
                },
                if w["fresh_quorum_met"].as_bool() == Some(true) {
                    "fresh"
                } else {
                    "STALE"
                },
            ));
        }
        out.push('\n');
    }
    if let Some(roots) = s["roots"].as_object() {
        out.push_str(&format!(
            "roots      {} of {}\n",
            roots["threshold"],
            roots["keys"].as_array().map_or(0, Vec::len)
        ));
    }
    for k in s["release_keys"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "key        {} scope {} from {}{}: {}\n",
            str_of(&k["name"]),
            str_of(&k["scope"]),
            k["from"],
            k["until"]
                .as_u64()
                .map(|u| format!(" until {u}"))
                .unwrap_or_default(),
            str_of(&k["status"])
        ));
    }
    let last = &s["last_result"];
    if last.is_object() {
        out.push_str(&format!(
            "last       {} {}: {} (exit {}){}\n",
            str_of(&last["command"]),
            str_of(&last["file"]),
            str_of(&last["verdict"]),
            last["exit"],
            last["error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    out
}
