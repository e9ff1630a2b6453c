//! Checking checkpoints as `spec/client.md` step 4 says: the log's signature, the witness
//! quorum, freshness against a `now` read once per run, and consistency between two
//! checkpoints of one log (with the evidence written when they conflict).

use std::collections::BTreeSet;

use cairn_verifier::checkpoint::{CheckpointError, VerifiedCheckpoint, verify_consistent};
use cairn_verifier::cosignature::CosignatureError;
use cairn_verifier::hash::Hash;

use crate::exit::Failure;
use crate::report::Report;
use crate::state::StateDir;
use crate::trust::{LogName, Trust};

/// Verifies the log's signature on checkpoint `bytes` of `log`: origin `PREFIX/<log>`, a valid
/// Ed25519 signature by the log key under that name, no extension lines.
pub(crate) fn verify_signature(
    trust: &Trust,
    log: LogName,
    bytes: &[u8],
    what: &str,
    report: &mut Report,
) -> anyhow::Result<VerifiedCheckpoint> {
    let verifier = trust.verifier(log)?;
    match VerifiedCheckpoint::verify_without_extensions(bytes, &trust.origin(log), &verifier) {
        Ok(cp) => {
            report.pass(
                "checkpoint-signature",
                format!(
                    "{what}: {} size {} signed by the log key {}",
                    cp.origin(),
                    cp.size(),
                    trust.prefix()
                ),
            );
            Ok(cp)
        }
        Err(e) => {
            let detail = format!("{what}: {e}");
            report.fail("checkpoint-signature", &detail);
            Err(Failure::Verification(format!("checkpoint signature: {detail}")).into())
        }
    }
}

/// Whether the age of a checkpoint is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// The quorum must be met by cosignatures no older than the maximum age.
    Required,
    /// Only the quorum is checked (a checkpoint inside a proof file: inclusion in an old,
    /// witnessed checkpoint stays true forever).
    NotRequired,
}

/// Checks the witness cosignatures on `cp` against the policy: every cosignature by a policy
/// witness must verify, the verified ones must meet the quorum, and with
/// [`Freshness::Required`] the ones at most `max-age` old at `now` must meet it too. A
/// cosignature dated in the future counts as fresh (the witness vouches for it).
pub(crate) fn check_witnesses(
    trust: &Trust,
    cp: &VerifiedCheckpoint,
    what: &str,
    now: u64,
    freshness: Freshness,
    report: &mut Report,
) -> anyhow::Result<()> {
    if !trust.has_quorum() {
        report.skip(
            "witness-quorum",
            format!("{what}: the trust policy names no witness quorum"),
        );
        if freshness == Freshness::Required {
            report.skip(
                "freshness",
                format!("{what}: no witnesses in the trust policy, so the checkpoint's age is not checked"),
            );
        }
        return Ok(());
    }
    let Cosigners {
        cosigned,
        fresh,
        newest,
    } = cosigners(trust, cp, what, now, report)?;
    let max_age = trust.max_age.as_secs();
    if !trust.policy.quorum_met(&cosigned) {
        let detail = format!(
            "{what}: cosigned by {} of {} policy witnesses ({}); quorum {:?} not met",
            cosigned.len(),
            trust.witnesses.len(),
            names(&cosigned),
            trust.policy.quorum()
        );
        report.fail("witness-quorum", &detail);
        return Err(Failure::Verification(format!("witness quorum not met: {detail}")).into());
    }
    report.pass(
        "witness-quorum",
        format!("{what}: cosigned by {}", names(&cosigned)),
    );
    if freshness == Freshness::NotRequired {
        return Ok(());
    }
    let newest = newest.unwrap_or(0);
    let age = now.saturating_sub(newest);
    if !trust.policy.quorum_met(&fresh) {
        let detail = format!(
            "{what}: the witness quorum is not met by cosignatures at most {max_age} s old \
             (newest cosignature is {age} s old, at {newest}; now {now})"
        );
        report.fail("freshness", &detail);
        return Err(Failure::Verification(format!("stale checkpoint: {detail}")).into());
    }
    report.pass(
        "freshness",
        format!("{what}: newest cosignature {age} s old (max age {max_age} s)"),
    );
    Ok(())
}

/// The policy witnesses whose cosignatures on a checkpoint verified.
struct Cosigners {
    cosigned: BTreeSet<String>,
    /// Those whose cosignature is at most `max-age` old at `now` (or dated in the future).
    fresh: BTreeSet<String>,
    /// The newest cosignature's time.
    newest: Option<u64>,
}

/// Verifies every cosignature on `cp` by a policy witness: one that does not verify fails the
/// check `witness-quorum` (exit 3); checkpoints without cosignatures pass with none.
fn cosigners(
    trust: &Trust,
    cp: &VerifiedCheckpoint,
    what: &str,
    now: u64,
    report: &mut Report,
) -> anyhow::Result<Cosigners> {
    let mut found = Cosigners {
        cosigned: BTreeSet::new(),
        fresh: BTreeSet::new(),
        newest: None,
    };
    let max_age = trust.max_age.as_secs();
    for w in &trust.witnesses {
        match w.key.cosignature_time(cp.note()) {
            Ok(time) => {
                found.cosigned.insert(w.name.clone());
                found.newest = Some(found.newest.map_or(time, |n| n.max(time)));
                if time.saturating_add(max_age) >= now {
                    found.fresh.insert(w.name.clone());
                }
            }
            Err(CosignatureError::NotCosigned { .. }) => {}
            Err(e) => {
                let detail = format!("{what}: witness {}: {e}", w.name);
                report.fail("witness-quorum", &detail);
                return Err(Failure::Verification(format!("witness cosignature: {detail}")).into());
            }
        }
    }
    Ok(found)
}

fn names(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "no witness".to_owned()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Verifies the cosignatures a checkpoint carries without asking for a quorum or an age (a
/// checkpoint from a channel: the log's signature alone makes a conflict evidence). Returns
/// the policy witnesses that cosigned it.
pub(crate) fn verify_cosignatures(
    trust: &Trust,
    cp: &VerifiedCheckpoint,
    what: &str,
    now: u64,
    report: &mut Report,
) -> anyhow::Result<BTreeSet<String>> {
    Ok(cosigners(trust, cp, what, now, report)?.cosigned)
}

/// Checks that `older` and `newer` (same log, `older.size() <= newer.size()`) are consistent
/// with `proof`. A conflict writes the evidence into the state directory and fails with exit 4;
/// a proof that cannot be checked fails with exit 3.
pub(crate) fn check_consistent(
    state: &StateDir,
    older: &VerifiedCheckpoint,
    newer: &VerifiedCheckpoint,
    proof: &[Hash],
    what: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    check_consistent_as("consistency", state, older, newer, proof, what, report)
}

/// [`check_consistent`], reported as the check named `check`.
pub(crate) fn check_consistent_as(
    check: &'static str,
    state: &StateDir,
    older: &VerifiedCheckpoint,
    newer: &VerifiedCheckpoint,
    proof: &[Hash],
    what: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    match verify_consistent(older, newer, proof) {
        Ok(()) => {
            report.pass(
                check,
                format!(
                    "{what}: size {} is consistent with size {}",
                    newer.size(),
                    older.size()
                ),
            );
            Ok(())
        }
        Err(CheckpointError::Inconsistent(inconsistency)) => {
            let path = state.write_evidence(&inconsistency)?;
            let message = format!("{what}: {inconsistency}");
            report.fail(check, format!("{message}; evidence in {}", path.display()));
            Err(Failure::Inconsistency {
                message,
                evidence: path.display().to_string(),
            }
            .into())
        }
        Err(e) => {
            let detail = format!("{what}: {e}");
            report.fail(check, &detail);
            Err(Failure::Verification(format!("{check}: {detail}")).into())
        }
    }
}

/// `now` as POSIX seconds, read once per run.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
