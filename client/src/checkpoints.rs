//! Checking checkpoints as `spec/client.md` step 4 says: the log's signature, the witness
//! quorum, freshness against a `now` read once per run, and consistency between two
//! checkpoints of one log (with the evidence written when they conflict).

use std::collections::BTreeSet;

use cairn_verifier::checkpoint::{CheckpointError, VerifiedCheckpoint, verify_consistent};
use cairn_verifier::hash::Hash;
use cairn_verifier::policy::QuorumError;
use cairn_verifier::security::SecurityError;

use crate::Error;
use crate::report::Report;
use crate::state::Store;
use crate::trust::{LogName, Trust};

/// Verifies the log's signature on checkpoint `bytes` of `log`: origin `PREFIX/<log>`, a valid
/// Ed25519 signature by the log key under that name, no extension lines.
pub fn verify_signature(
    trust: &Trust,
    log: LogName,
    bytes: &[u8],
    what: &str,
    report: &mut Report,
) -> crate::Result<VerifiedCheckpoint> {
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
            Err(Error::Refused(format!("checkpoint signature: {detail}")))
        }
    }
}

/// Whether the age of a checkpoint is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
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
pub fn check_witnesses(
    trust: &Trust,
    cp: &VerifiedCheckpoint,
    what: &str,
    now: u64,
    freshness: Freshness,
    report: &mut Report,
) -> crate::Result<()> {
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
    let max_age = trust.max_age.as_secs();
    let wanted_age = (freshness == Freshness::Required).then_some(max_age);
    // The verifier checks the cosignatures and the quorum itself: only it makes a
    // WitnessedCheckpoint, so no name can be counted here without a verified cosignature.
    let cosigners = match trust.policy.witness(cp.clone(), now, wanted_age) {
        Ok(witnessed) => witnessed.cosigners().clone(),
        Err(QuorumError::NotMet { cosigners, .. }) => {
            let cosigned = cosigners.cosigned();
            let detail = format!(
                "{what}: cosigned by {} of {} policy witnesses ({}); quorum {:?} not met",
                cosigned.len(),
                trust.witnesses.len(),
                names(cosigned),
                trust.policy.quorum()
            );
            report.fail("witness-quorum", &detail);
            return Err(Error::Refused(format!("witness quorum not met: {detail}")));
        }
        Err(QuorumError::Stale { cosigners, .. }) => {
            report.pass(
                "witness-quorum",
                format!("{what}: cosigned by {}", names(cosigners.cosigned())),
            );
            let newest = cosigners.newest().unwrap_or(0);
            let age = now.saturating_sub(newest);
            let detail = format!(
                "{what}: the witness quorum is not met by cosignatures at most {max_age} s old \
                 (newest cosignature is {age} s old, at {newest}; now {now})"
            );
            report.fail("freshness", &detail);
            return Err(Error::Refused(format!("stale checkpoint: {detail}")));
        }
        Err(e) => return Err(cosignature_failure(what, &e, report)),
    };
    report.pass(
        "witness-quorum",
        format!("{what}: cosigned by {}", names(cosigners.cosigned())),
    );
    if freshness == Freshness::NotRequired {
        return Ok(());
    }
    let newest = cosigners.newest().unwrap_or(0);
    let age = now.saturating_sub(newest);
    report.pass(
        "freshness",
        format!("{what}: newest cosignature {age} s old (max age {max_age} s)"),
    );
    Ok(())
}

/// A policy witness's cosignature that does not verify: check `witness-quorum` fails (exit 3).
fn cosignature_failure(what: &str, e: &QuorumError, report: &mut Report) -> crate::Error {
    let detail = format!("{what}: {e}");
    report.fail("witness-quorum", &detail);
    Error::Refused(format!("witness cosignature: {detail}"))
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
pub fn verify_cosignatures(
    trust: &Trust,
    cp: &VerifiedCheckpoint,
    what: &str,
    now: u64,
    report: &mut Report,
) -> crate::Result<BTreeSet<String>> {
    match trust
        .policy
        .cosigners(cp, now, Some(trust.max_age.as_secs()))
    {
        Ok(found) => Ok(found.cosigned().clone()),
        Err(e) => Err(cosignature_failure(what, &e, report)),
    }
}

/// Checks that `older` and `newer` (same log, `older.size() <= newer.size()`) are consistent
/// with `proof`. A conflict writes the evidence into the state directory and fails with exit 4;
/// a proof that cannot be checked fails with exit 3.
pub fn check_consistent(
    state: &dyn Store,
    older: &VerifiedCheckpoint,
    newer: &VerifiedCheckpoint,
    proof: &[Hash],
    what: &str,
    report: &mut Report,
) -> crate::Result<()> {
    check_consistent_as("consistency", state, older, newer, proof, what, report)
}

/// [`check_consistent`], reported as the check named `check`.
pub fn check_consistent_as(
    check: &'static str,
    state: &dyn Store,
    older: &VerifiedCheckpoint,
    newer: &VerifiedCheckpoint,
    proof: &[Hash],
    what: &str,
    report: &mut Report,
) -> crate::Result<()> {
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
        Err(CheckpointError::Security(SecurityError::Inconsistent(inconsistency))) => {
            let path = state.write_evidence(&inconsistency)?;
            let message = format!("{what}: {inconsistency}");
            report.fail(check, format!("{message}; evidence in {}", path.display()));
            Err(Error::Inconsistent {
                message,
                evidence: path,
            })
        }
        Err(e) => {
            let detail = format!("{what}: {e}");
            report.fail(check, &detail);
            Err(Error::Refused(format!("{check}: {detail}")))
        }
    }
}

/// `now` as POSIX seconds, read once per run.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
