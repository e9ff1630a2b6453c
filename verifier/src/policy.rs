//! C2SP tlog-policy (`c2sp.org/tlog-policy`): which logs and witnesses a verifier trusts, and
//! the quorum of witness cosignatures a checkpoint needs.
//!
//! ```text
//! log <vkey> [<url>]
//! witness <name> <vkey> [<url>]
//! group <name> all|any|<k> <member>...
//! quorum <name>
//! ```
//!
//! Deviation, stated in `spec/README.md` ("Profiles"): the spec treats bytes with the high bit set as opaque;
//! Cairn requires the file to be UTF-8 (which the spec strongly recommends), because every name
//! ends up in UTF-8 messages and JSON.

use std::collections::{BTreeMap, BTreeSet};

use crate::checkpoint::VerifiedCheckpoint;
use crate::cosignature::{CosignatureError, CosignatureVerifier};
use crate::decimal::parse_canonical_u64;
use crate::note::{KeyName, NoteError, split_vkey};

/// Largest policy file accepted, in bytes.
pub const MAX_POLICY_SIZE: usize = 64 * 1024;
/// Most logs, witnesses or groups a policy may define (the spec recommends supporting 32).
pub const MAX_POLICY_ITEMS: usize = 64;
/// Most members one group may list.
pub const MAX_GROUP_MEMBERS: usize = 64;

/// The predefined quorum name that requires no cosignature.
const NONE: &str = "none";

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file is larger than [`MAX_POLICY_SIZE`].
    #[error("policy is {0} bytes, larger than the limit of {MAX_POLICY_SIZE}")]
    TooLarge(usize),
    /// The file is not UTF-8.
    #[error("policy is not UTF-8")]
    NotUtf8,
    /// A byte outside tab, newline and printable characters.
    #[error("line {line}: control character 0x{byte:02x}")]
    ControlCharacter {
        /// 1-based line number.
        line: usize,
        /// The offending byte.
        byte: u8,
    },
    /// The file does not end with a newline.
    #[error("policy must end with a newline")]
    MissingFinalNewline,
    /// A line that is not one of the four forms.
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A vkey on a line did not parse.
    #[error("line {line}: bad verifier key: {source}")]
    BadKey {
        /// 1-based line number.
        line: usize,
        /// The key error.
        source: NoteError,
    },
    /// No `quorum` line.
    #[error("policy has no quorum line")]
    MissingQuorum,
    /// A value given to [`Policy::simple`] is not a single field: it is empty or holds white
    /// space or a control character, which would change the lines of the generated policy.
    #[error("{0} must be one field without white space or control characters")]
    InvalidField(&'static str),
    /// More than [`MAX_POLICY_ITEMS`] of one kind.
    #[error("policy defines more than {MAX_POLICY_ITEMS} {0}")]
    TooManyItems(&'static str),
}

/// A log the policy trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    /// The verifier key, as written (its key name is the log's origin).
    pub vkey: String,
    /// The key name (the log's origin).
    pub name: KeyName,
    /// Optional URL of the log.
    pub url: Option<String>,
}

/// A witness the policy knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    /// The policy-local name used in groups and the quorum.
    pub name: String,
    /// The witness's verifier key, as written (a cosignature/v1 key in Cairn).
    pub vkey: String,
    /// Optional submission prefix URL of the witness.
    pub url: Option<String>,
}

/// A k-of-n group of witnesses or other groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyGroup {
    /// The group's name.
    pub name: String,
    /// How many members must have witnessed (1..=members.len()).
    pub threshold: usize,
    /// Names of witnesses or earlier groups, each at most once.
    pub members: Vec<String>,
    spelled: Threshold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Threshold {
    All,
    Any,
    Number,
}

/// The policy witnesses whose cosignatures on a checkpoint verified ([`Policy::cosigners`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cosigners {
    cosigned: BTreeSet<String>,
    fresh: BTreeSet<String>,
    newest: Option<u64>,
}

impl Cosigners {
    /// Names of the witnesses whose cosignature verified.
    pub fn cosigned(&self) -> &BTreeSet<String> {
        &self.cosigned
    }

    /// Those of them whose cosignature is fresh (all of them when no maximum age was given).
    pub fn fresh(&self) -> &BTreeSet<String> {
        &self.fresh
    }

    /// The newest verified cosignature's time, in POSIX seconds.
    pub fn newest(&self) -> Option<u64> {
        self.newest
    }
}

/// A checkpoint the log signed and a quorum of the policy's witnesses cosigned (freshly, when
/// a maximum age was asked for). Only [`Policy::witness`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedCheckpoint {
    checkpoint: VerifiedCheckpoint,
    cosigners: Cosigners,
}

impl WitnessedCheckpoint {
    /// The log-signed checkpoint.
    pub fn checkpoint(&self) -> &VerifiedCheckpoint {
        &self.checkpoint
    }

    /// The witnesses whose cosignatures verified.
    pub fn cosigners(&self) -> &Cosigners {
        &self.cosigners
    }

    /// The log-signed checkpoint, giving up the witness judgement.
    pub fn into_checkpoint(self) -> VerifiedCheckpoint {
        self.checkpoint
    }
}

/// Why a checkpoint did not become a [`WitnessedCheckpoint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuorumError {
    /// A policy witness's key is not a `cosignature/v1` verifier key.
    #[error("witness {witness}: not a cosignature/v1 verifier key: {error}")]
    WitnessKey {
        /// The witness's name in the policy.
        witness: String,
        /// Why its key was refused.
        error: NoteError,
    },
    /// A policy witness's cosignature is on the note but does not verify.
    #[error("witness {witness}: {error}")]
    BadCosignature {
        /// The witness's name in the policy.
        witness: String,
        /// Why the cosignature was refused.
        error: CosignatureError,
    },
    /// The verified cosignatures do not meet the quorum.
    #[error("quorum {quorum:?} not met")]
    NotMet {
        /// The policy's quorum name.
        quorum: String,
        /// The witnesses whose cosignatures verified.
        cosigners: Cosigners,
    },
    /// The quorum is met, but not by cosignatures at most `max_age` seconds old.
    #[error("the witness quorum is not met by cosignatures at most {max_age} s old at {now}")]
    Stale {
        /// The maximum age asked for.
        max_age: u64,
        /// The caller's clock.
        now: u64,
        /// The witnesses whose cosignatures verified.
        cosigners: Cosigners,
    },
}

/// A parsed trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    logs: Vec<PolicyLog>,
    witnesses: Vec<PolicyWitness>,
    groups: Vec<PolicyGroup>,
    quorum: String,
}

impl Policy {
    /// Parses a policy file under the tlog-policy rules.
    pub fn parse(bytes: &[u8]) -> Result<Policy, PolicyError> {
        if bytes.len() > MAX_POLICY_SIZE {
            return Err(PolicyError::TooLarge(bytes.len()));
        }
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            return Err(PolicyError::MissingFinalNewline);
        }
        let mut builder = Builder::default();
        // Split on newline only: `lines()` would quietly accept CRLF.
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let number = i + 1;
            // A comment is opaque bytes (tlog-policy does not require them to be UTF-8 text);
            // everything else is checked strictly.
            if raw.trim_ascii_start().starts_with(b"#") {
                continue;
            }
            let line = std::str::from_utf8(raw).map_err(|_| PolicyError::NotUtf8)?;
            if let Some(byte) = line
                .bytes()
                .find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
            {
                return Err(PolicyError::ControlCharacter { line: number, byte });
            }
            let fields: Vec<&str> = line.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
            match fields.first() {
                None => continue,
                Some(first) if first.starts_with('#') => continue,
                Some(_) => builder.line(number, &fields)?,
            }
        }
        builder.finish()
    }

    /// Formats the policy in canonical form (one line per item, single spaces).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for log in &self.logs {
            out.push_str(&format!("log {}", log.vkey));
            if let Some(url) = &log.url {
                out.push_str(&format!(" {url}"));
            }
            out.push('\n');
        }
        for w in &self.witnesses {
            out.push_str(&format!("witness {} {}", w.name, w.vkey));
            if let Some(url) = &w.url {
                out.push_str(&format!(" {url}"));
            }
            out.push('\n');
        }
        for g in &self.groups {
            let k = match g.spelled {
                Threshold::All => "all".to_owned(),
                Threshold::Any => "any".to_owned(),
                Threshold::Number => g.threshold.to_string(),
            };
            out.push_str(&format!("group {} {k} {}\n", g.name, g.members.join(" ")));
        }
        out.push_str(&format!("quorum {}\n", self.quorum));
        out
    }

    /// The trusted logs.
    pub fn logs(&self) -> &[PolicyLog] {
        &self.logs
    }

    /// The known witnesses.
    pub fn witnesses(&self) -> &[PolicyWitness] {
        &self.witnesses
    }

    /// The groups, in definition order.
    pub fn groups(&self) -> &[PolicyGroup] {
        &self.groups
    }

    /// The name of the quorum rule (a witness, a group, or `none`).
    pub fn quorum(&self) -> &str {
        &self.quorum
    }

    /// Verifies every cosignature on `checkpoint` by a witness of this policy (tlog-cosignature
    /// `cosignature/v1`): one that does not verify is an error, a witness that did not cosign is
    /// simply absent. With `max_age`, a cosignature counts as fresh when at most that many
    /// seconds older than `now` (or dated after it: the witness vouches for it). No quorum is
    /// asked for; see [`Policy::witness`] for the trust decision.
    pub fn cosigners(
        &self,
        checkpoint: &VerifiedCheckpoint,
        now: u64,
        max_age: Option<u64>,
    ) -> Result<Cosigners, QuorumError> {
        let mut found = Cosigners::default();
        for w in &self.witnesses {
            let key = CosignatureVerifier::from_vkey(&w.vkey).map_err(|error| {
                QuorumError::WitnessKey {
                    witness: w.name.clone(),
                    error,
                }
            })?;
            match key.cosignature_time(checkpoint.note()) {
                Ok(time) => {
                    found.cosigned.insert(w.name.clone());
                    found.newest = Some(found.newest.map_or(time, |n| n.max(time)));
                    if max_age.is_none_or(|age| time.saturating_add(age) >= now) {
                        found.fresh.insert(w.name.clone());
                    }
                }
                Err(CosignatureError::NotCosigned { .. }) => {}
                Err(error) => {
                    return Err(QuorumError::BadCosignature {
                        witness: w.name.clone(),
                        error,
                    });
                }
            }
        }
        Ok(found)
    }

    /// The trust decision on a checkpoint the log signed: verifies the witnesses' cosignatures
    /// on it ([`Policy::cosigners`]), requires the verified ones to meet the quorum and, with
    /// `max_age`, the fresh ones too (`now` is the caller's clock, read once). Only this
    /// function makes a [`WitnessedCheckpoint`], so a caller cannot count a witness whose
    /// cosignature did not verify. A policy whose quorum is `none` witnesses every checkpoint.
    pub fn witness(
        &self,
        checkpoint: VerifiedCheckpoint,
        now: u64,
        max_age: Option<u64>,
    ) -> Result<WitnessedCheckpoint, QuorumError> {
        let cosigners = self.cosigners(&checkpoint, now, max_age)?;
        if !self.quorum_met(&cosigners.cosigned) {
            return Err(QuorumError::NotMet {
                quorum: self.quorum.clone(),
                cosigners,
            });
        }
        if let Some(max_age) = max_age {
            if !self.quorum_met(&cosigners.fresh) {
                return Err(QuorumError::Stale {
                    max_age,
                    now,
                    cosigners,
                });
            }
        }
        Ok(WitnessedCheckpoint {
            checkpoint,
            cosigners,
        })
    }

    /// Whether the witnesses named in `cosigned` (those whose cosignatures verified) satisfy
    /// the quorum. Names not defined in the policy are ignored. Private: the names must come
    /// from [`Policy::cosigners`], never from a caller.
    fn quorum_met(&self, cosigned: &BTreeSet<String>) -> bool {
        if self.quorum == NONE {
            return true;
        }
        // Groups only reference names defined before them, so one pass in order suffices.
        let mut witnessed: BTreeMap<&str, bool> = self
            .witnesses
            .iter()
            .map(|w| (w.name.as_str(), cosigned.contains(&w.name)))
            .collect();
        for g in &self.groups {
            let count = g
                .members
                .iter()
                .filter(|m| witnessed.get(m.as_str()).copied().unwrap_or(false))
                .count();
            witnessed.insert(g.name.as_str(), count >= g.threshold);
        }
        witnessed
            .get(self.quorum.as_str())
            .copied()
            .unwrap_or(false)
    }

    /// Builds a policy programmatically (for `cairn trust init`): one log, the witnesses, and a
    /// quorum of `k` of them (`none` when there are no witnesses). Every value must be a single
    /// field (no white space or control characters), so it cannot add or hide lines; the result
    /// is re-parsed, so it obeys every rule a parsed policy does.
    pub fn simple(
        log_vkey: &str,
        log_url: Option<&str>,
        witnesses: &[(String, String, Option<String>)],
        quorum: usize,
    ) -> Result<Policy, PolicyError> {
        Policy::for_logs(&[log_vkey], log_url, witnesses, quorum)
    }

    /// [`Policy::simple`] for several logs, one `log` line each (a Cairn log's two per-origin
    /// keys), all with `log_url` if given.
    pub fn for_logs(
        log_vkeys: &[&str],
        log_url: Option<&str>,
        witnesses: &[(String, String, Option<String>)],
        quorum: usize,
    ) -> Result<Policy, PolicyError> {
        for log_vkey in log_vkeys {
            single_field(log_vkey, "log key")?;
        }
        if let Some(url) = log_url {
            single_field(url, "log URL")?;
        }
        for (name, vkey, url) in witnesses {
            single_field(name, "witness name")?;
            single_field(vkey, "witness key")?;
            if let Some(url) = url {
                single_field(url, "witness URL")?;
            }
        }
        let mut text = String::new();
        for log_vkey in log_vkeys {
            text.push_str(&format!("log {log_vkey}"));
            if let Some(url) = log_url {
                text.push_str(&format!(" {url}"));
            }
            text.push('\n');
        }
        for (name, vkey, url) in witnesses {
            text.push_str(&format!("witness {name} {vkey}"));
            if let Some(url) = url {
                text.push_str(&format!(" {url}"));
            }
            text.push('\n');
        }
        if witnesses.is_empty() || quorum == 0 {
            text.push_str("quorum none\n");
        } else {
            let names: Vec<&str> = witnesses.iter().map(|(n, _, _)| n.as_str()).collect();
            text.push_str(&format!(
                "group quorum-group {quorum} {}\n",
                names.join(" ")
            ));
            text.push_str("quorum quorum-group\n");
        }
        Policy::parse(text.as_bytes())
    }
}

#[derive(Default)]
struct Builder {
    logs: Vec<PolicyLog>,
    witnesses: Vec<PolicyWitness>,
    groups: Vec<PolicyGroup>,
    quorum: Option<String>,
    /// Public key of every log and witness key (the material after the signature type byte),
    /// to refuse duplicates: the spec calls two vkeys duplicate when they wrap the same public
    /// key, whatever their names, key IDs or signature types (Ed25519 note keys and
    /// cosignature/v1 keys wrap the same 32-byte Ed25519 keys).
    log_keys: BTreeSet<Vec<u8>>,
    witness_keys: BTreeSet<Vec<u8>>,
    names: BTreeSet<String>,
}

/// A field of the policy as error messages show it: quoted, escaped, and cut to a few dozen
/// characters, so a hostile file cannot make an error message as large as itself.
fn quoted(field: &str) -> String {
    const MAX_SHOWN: usize = 40;
    let mut chars = field.chars();
    let head: String = chars.by_ref().take(MAX_SHOWN).collect();
    if chars.next().is_some() {
        format!("{head:?}...")
    } else {
        format!("{head:?}")
    }
}

fn syntax(line: usize, reason: impl Into<String>) -> PolicyError {
    PolicyError::Syntax {
        line,
        reason: reason.into(),
    }
}

impl Builder {
    fn line(&mut self, line: usize, fields: &[&str]) -> Result<(), PolicyError> {
        match fields[0] {
            "log" => self.log(line, &fields[1..]),
            "witness" => self.witness(line, &fields[1..]),
            "group" => self.group(line, &fields[1..]),
            "quorum" => self.quorum(line, &fields[1..]),
            other => Err(syntax(line, format!("unknown keyword {}", quoted(other)))),
        }
    }

    fn log(&mut self, line: usize, args: &[&str]) -> Result<(), PolicyError> {
        let (vkey, url) = match args {
            [vkey] => (*vkey, None),
            [vkey, url] => (*vkey, Some((*url).to_owned())),
            _ => return Err(syntax(line, "expected: log <vkey> [<url>]")),
        };
        let (name, _, material) =
            split_vkey(vkey).map_err(|source| PolicyError::BadKey { line, source })?;
        if !self.log_keys.insert(public_key(material)) {
            return Err(syntax(line, "duplicate log key"));
        }
        if self.logs.len() == MAX_POLICY_ITEMS {
            return Err(PolicyError::TooManyItems("logs"));
        }
        self.logs.push(PolicyLog {
            vkey: vkey.to_owned(),
            name,
            url,
        });
        Ok(())
    }

    fn define(&mut self, line: usize, name: &str) -> Result<(), PolicyError> {
        if name == NONE {
            return Err(syntax(line, "the name \"none\" is predefined"));
        }
        if !self.names.insert(name.to_owned()) {
            return Err(syntax(
                line,
                format!("name {} is defined twice", quoted(name)),
            ));
        }
        Ok(())
    }

    fn witness(&mut self, line: usize, args: &[&str]) -> Result<(), PolicyError> {
        let (name, vkey, url) = match args {
            [name, vkey] => (*name, *vkey, None),
            [name, vkey, url] => (*name, *vkey, Some((*url).to_owned())),
            _ => return Err(syntax(line, "expected: witness <name> <vkey> [<url>]")),
        };
        let (_, _, material) =
            split_vkey(vkey).map_err(|source| PolicyError::BadKey { line, source })?;
        if !self.witness_keys.insert(public_key(material)) {
            return Err(syntax(line, "duplicate witness key"));
        }
        self.define(line, name)?;
        if self.witnesses.len() == MAX_POLICY_ITEMS {
            return Err(PolicyError::TooManyItems("witnesses"));
        }
        self.witnesses.push(PolicyWitness {
            name: name.to_owned(),
            vkey: vkey.to_owned(),
            url,
        });
        Ok(())
    }

    fn group(&mut self, line: usize, args: &[&str]) -> Result<(), PolicyError> {
        let [name, k, members @ ..] = args else {
            return Err(syntax(line, "expected: group <name> all|any|<k> <name>..."));
        };
        if members.is_empty() {
            return Err(syntax(line, "a group needs at least one member"));
        }
        if members.len() > MAX_GROUP_MEMBERS {
            return Err(syntax(line, "too many group members"));
        }
        let mut seen = BTreeSet::new();
        for m in members {
            if *m == NONE {
                return Err(syntax(line, "\"none\" cannot be a group member"));
            }
            if !self.names.contains(*m) {
                return Err(syntax(
                    line,
                    format!("member {} is not defined above", quoted(m)),
                ));
            }
            if !seen.insert(*m) {
                return Err(syntax(
                    line,
                    format!("member {} is listed twice", quoted(m)),
                ));
            }
        }
        let n = members.len();
        let (threshold, spelled) = match *k {
            "all" => (n, Threshold::All),
            "any" => (1, Threshold::Any),
            digits => {
                let k = parse_decimal(digits)
                    .ok_or_else(|| syntax(line, format!("bad threshold {}", quoted(digits))))?;
                if k < 1 || k > n {
                    return Err(syntax(line, format!("threshold {k} is not in 1..={n}")));
                }
                (k, Threshold::Number)
            }
        };
        self.define(line, name)?;
        if self.groups.len() == MAX_POLICY_ITEMS {
            return Err(PolicyError::TooManyItems("groups"));
        }
        self.groups.push(PolicyGroup {
            name: (*name).to_owned(),
            threshold,
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            spelled,
        });
        Ok(())
    }

    fn quorum(&mut self, line: usize, args: &[&str]) -> Result<(), PolicyError> {
        let [name] = args else {
            return Err(syntax(line, "expected: quorum <name>"));
        };
        if self.quorum.is_some() {
            return Err(syntax(line, "a policy has exactly one quorum line"));
        }
        if *name != NONE && !self.names.contains(*name) {
            return Err(syntax(
                line,
                format!("quorum {} is not defined above", quoted(name)),
            ));
        }
        self.quorum = Some((*name).to_owned());
        Ok(())
    }

    fn finish(self) -> Result<Policy, PolicyError> {
        Ok(Policy {
            quorum: self.quorum.ok_or(PolicyError::MissingQuorum)?,
            logs: self.logs,
            witnesses: self.witnesses,
            groups: self.groups,
        })
    }
}

/// Refuses a value that would not be read back as exactly one field of one line.
fn single_field(value: &str, what: &'static str) -> Result<(), PolicyError> {
    if value.is_empty()
        || value
            .bytes()
            .any(|b| b == b' ' || b == b'\t' || b < 0x20 || b == 0x7f)
    {
        return Err(PolicyError::InvalidField(what));
    }
    Ok(())
}

/// The public key a vkey's material wraps: everything after the signature type byte.
fn public_key(mut material: Vec<u8>) -> Vec<u8> {
    if !material.is_empty() {
        material.remove(0);
    }
    material
}

/// A canonical decimal that fits usize.
fn parse_decimal(s: &str) -> Option<usize> {
    parse_canonical_u64(s).and_then(|n| usize::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{Ed25519Signer, KeyName};

    fn vkey(name: &str, seed: u8) -> String {
        Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32])
            .verifier()
            .to_vkey()
    }

    /// A checkpoint of size 1 signed by the log, and a 2-of-2 policy over witnesses `w1`, `w2`.
    fn witnessed_setup() -> (
        Policy,
        VerifiedCheckpoint,
        Vec<crate::cosignature::CosignatureSigner>,
    ) {
        use crate::checkpoint::Checkpoint;
        use crate::cosignature::CosignatureSigner;
        use crate::note::{Note, NoteSigner};
        let log = Ed25519Signer::from_seed(KeyName::new("example.org/log").expect("name"), [1; 32]);
        let text = Checkpoint::new("example.org/log", 1, crate::hash::leaf_hash(b"entry"))
            .to_text()
            .expect("checkpoint text");
        let note = Note::sign(&text, &[&log as &dyn NoteSigner]).expect("sign");
        let cp = VerifiedCheckpoint::verify(&note.to_bytes(), "example.org/log", &log.verifier())
            .expect("log signature");
        let witnesses: Vec<CosignatureSigner> = [("w1", 2u8), ("w2", 3)]
            .iter()
            .map(|(n, seed)| {
                CosignatureSigner::from_seed(KeyName::new(n).expect("name"), [*seed; 32])
            })
            .collect();
        let policy = Policy::simple(
            &log.verifier().to_vkey(),
            None,
            &witnesses
                .iter()
                .map(|w| (w.name().as_str().to_owned(), w.verifier().to_vkey(), None))
                .collect::<Vec<_>>(),
            2,
        )
        .expect("2-of-2 policy");
        (policy, cp, witnesses)
    }

    /// `cp` with the given signature lines appended after the log's signature.
    fn with_cosignatures(
        cp: &VerifiedCheckpoint,
        sigs: Vec<crate::note::NoteSignature>,
    ) -> VerifiedCheckpoint {
        let mut note = cp.note().clone();
        for sig in sigs {
            note.push_signature(sig).expect("push signature");
        }
        let log = Ed25519Signer::from_seed(KeyName::new("example.org/log").expect("name"), [1; 32]);
        VerifiedCheckpoint::verify(&note.to_bytes(), "example.org/log", &log.verifier())
            .expect("the log's signature still verifies")
    }

    #[test]
    fn unverified_cosignatures_never_make_a_witnessed_checkpoint() {
        let (policy, cp, w) = witnessed_setup();
        const NOW: u64 = 1_800_000_000;
        let good: Vec<_> = w
            .iter()
            .map(|w| w.cosign(&cp, NOW - 10).expect("cosign"))
            .collect();

        // No cosignature at all.
        assert!(matches!(
            policy.witness(cp.clone(), NOW, None),
            Err(QuorumError::NotMet { .. })
        ));
        // Both witnesses' names and key IDs, one signature corrupted: refused, not counted.
        let mut forged = good.clone();
        let last = forged[1].signature.len() - 1;
        forged[1].signature[last] ^= 1;
        assert!(matches!(
            policy.witness(with_cosignatures(&cp, forged), NOW, None),
            Err(QuorumError::BadCosignature { witness, .. }) if witness == "w2"
        ));
        // A cosignature of another checkpoint text, moved onto this one.
        let other =
            crate::checkpoint::Checkpoint::new("example.org/log", 2, crate::hash::leaf_hash(b"x"))
                .to_text()
                .expect("text");
        let moved = vec![
            good[0].clone(),
            w[1].cosign_text(&other, NOW).expect("cosign"),
        ];
        assert!(matches!(
            policy.witness(with_cosignatures(&cp, moved), NOW, None),
            Err(QuorumError::BadCosignature { witness, .. }) if witness == "w2"
        ));
        // A stranger's key under a policy witness's name (other key ID): ignored, so the
        // quorum is not met, whatever the line is called.
        let impostor = crate::cosignature::CosignatureSigner::from_seed(
            KeyName::new("w2").expect("name"),
            [9; 32],
        );
        let sigs = vec![good[0].clone(), impostor.cosign(&cp, NOW).expect("cosign")];
        let err = policy
            .witness(with_cosignatures(&cp, sigs), NOW, None)
            .expect_err("one real cosignature of two");
        match err {
            QuorumError::NotMet { cosigners, .. } => {
                assert_eq!(cosigners.cosigned().iter().collect::<Vec<_>>(), ["w1"]);
            }
            other => panic!("expected NotMet, got {other}"),
        }
        // Both real cosignatures: witnessed; too old for a 5 s maximum age: stale.
        let both = with_cosignatures(&cp, good);
        let witnessed = policy
            .witness(both.clone(), NOW, Some(60))
            .expect("2 of 2, fresh");
        assert_eq!(witnessed.cosigners().cosigned().len(), 2);
        assert_eq!(witnessed.cosigners().newest(), Some(NOW - 10));
        assert_eq!(crate::tile::TreeHead::from(&witnessed).size(), 1);
        assert!(matches!(
            policy.witness(both, NOW, Some(5)),
            Err(QuorumError::Stale { max_age: 5, .. })
        ));
    }

    fn spec_example() -> String {
        // The example of c2sp.org/tlog-policy, with real keys in place of the elided ones.
        format!(
            "log {}\n\nwitness X1 {}\nwitness X2 {}\nwitness X3 {}\ngroup X-witnesses 2 X1 X2 X3\n\n\
             witness Y1 {}\nwitness Y2 {}\nwitness Y3 {}\ngroup Y-witnesses any Y1 Y2 Y3\n\n\
             # comment\n  group X-and-Y\tall X-witnesses Y-witnesses  \nquorum X-and-Y\n",
            vkey("example.org/log", 1),
            vkey("x1.example", 2),
            vkey("x2.example", 3),
            vkey("x3.example", 4),
            vkey("y1.example", 5),
            vkey("y2.example", 6),
            vkey("y3.example", 7),
        )
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn spec_example_quorum() {
        let p = Policy::parse(spec_example().as_bytes()).expect("parses");
        assert_eq!(p.logs().len(), 1);
        assert_eq!(p.witnesses().len(), 6);
        assert!(p.quorum_met(&set(&["X1", "X3", "Y2"])));
        assert!(
            !p.quorum_met(&set(&["X1", "Y1", "Y2", "Y3"])),
            "one X is not 2"
        );
        assert!(!p.quorum_met(&set(&["X1", "X2", "X3"])), "no Y");
        assert!(
            !p.quorum_met(&set(&["X-witnesses", "Y-witnesses"])),
            "groups are not witnesses"
        );
        let again = Policy::parse(p.to_text().as_bytes()).expect("canonical form parses");
        assert_eq!(again, p);
    }

    #[test]
    fn quorum_none_and_single_witness() {
        let none = format!("log {}\nquorum none\n", vkey("l", 1));
        assert!(
            Policy::parse(none.as_bytes())
                .expect("ok")
                .quorum_met(&set(&[]))
        );
        let one = format!("witness w {}\nquorum w\n", vkey("w", 2));
        let p = Policy::parse(one.as_bytes()).expect("ok");
        assert!(!p.quorum_met(&set(&[])));
        assert!(p.quorum_met(&set(&["w"])));
    }

    #[test]
    fn simple_policy_k_of_n() {
        let witnesses = vec![
            ("w1".to_owned(), vkey("w1", 2), None),
            (
                "w2".to_owned(),
                vkey("w2", 3),
                Some("http://127.0.0.1:1/".to_owned()),
            ),
        ];
        let p = Policy::simple(&vkey("l", 1), None, &witnesses, 2).expect("2-of-2");
        assert!(!p.quorum_met(&set(&["w1"])));
        assert!(p.quorum_met(&set(&["w1", "w2"])));
        let p = Policy::simple(&vkey("l", 1), None, &witnesses, 1).expect("1-of-2");
        assert!(p.quorum_met(&set(&["w2"])));
        assert!(Policy::simple(&vkey("l", 1), None, &witnesses, 3).is_err());
    }

    /// The vkey of `seed`'s Ed25519 key as a cosignature/v1 (type 0x04) witness key.
    fn cosignature_vkey(name: &str, seed: u8) -> String {
        use base64::Engine as _;
        let public =
            Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32]).public_key();
        let name = KeyName::new(name).expect("name");
        let mut material = vec![0x04];
        material.extend_from_slice(&public);
        format!(
            "{name}+{:08x}+{}",
            crate::note::key_id(&name, 0x04, &public),
            base64::engine::general_purpose::STANDARD.encode(material)
        )
    }

    #[test]
    fn same_key_under_another_signature_type_is_a_duplicate() {
        // One Ed25519 key pair listed twice, as a plain note key and as a cosignature/v1 key:
        // its holder alone would meet a 2-of-2 quorum meant for two witnesses.
        let text = format!(
            "witness a {}\nwitness b {}\ngroup g all a b\nquorum g\n",
            vkey("w.example", 2),
            cosignature_vkey("w.example", 2),
        );
        assert_eq!(
            Policy::parse(text.as_bytes()),
            Err(PolicyError::Syntax {
                line: 2,
                reason: "duplicate witness key".into()
            })
        );
        let logs = format!(
            "log {}\nlog {}\nquorum none\n",
            vkey("example.org/log", 1),
            cosignature_vkey("example.org/other", 1),
        );
        assert_eq!(
            Policy::parse(logs.as_bytes()),
            Err(PolicyError::Syntax {
                line: 2,
                reason: "duplicate log key".into()
            })
        );
        // Different keys under the two types are fine.
        let distinct = format!(
            "witness a {}\nwitness b {}\ngroup g all a b\nquorum g\n",
            vkey("w.example", 2),
            cosignature_vkey("w.example", 3),
        );
        assert!(Policy::parse(distinct.as_bytes()).is_ok());
    }

    #[test]
    fn simple_refuses_names_that_inject_policy_lines() {
        // Witness names that carry a space and a newline rewrite the generated text: each real
        // key is pushed into a comment, and the quorum group ends up over two attacker keys.
        let (att1, att2) = (vkey("evil1.example", 8), vkey("evil2.example", 9));
        let witnesses = vec![
            (format!("w1 {att1}\n#"), vkey("w1.example", 2), None),
            (format!("{att1} {att2}\n#"), vkey("w2.example", 3), None),
        ];
        assert_eq!(
            Policy::simple(&vkey("l", 1), None, &witnesses, 2),
            Err(PolicyError::InvalidField("witness name"))
        );
        let fine = vec![("w1".to_owned(), vkey("w1.example", 2), None)];
        for (log_url, witnesses, what) in [
            (Some("http://a/ b"), fine.clone(), "log URL"),
            (Some(""), fine.clone(), "log URL"),
            (
                None,
                vec![(
                    "w1".to_owned(),
                    format!("{} x", vkey("w1.example", 2)),
                    None,
                )],
                "witness key",
            ),
            (
                None,
                vec![(
                    "w1".to_owned(),
                    vkey("w1.example", 2),
                    Some("http://w/\nquorum none".to_owned()),
                )],
                "witness URL",
            ),
            (
                None,
                vec![("w\t1".to_owned(), vkey("w1.example", 2), None)],
                "witness name",
            ),
        ] {
            assert_eq!(
                Policy::simple(&vkey("l", 1), log_url, &witnesses, 1),
                Err(PolicyError::InvalidField(what))
            );
        }
        assert_eq!(
            Policy::simple(&format!("{}\nquorum none\n#", vkey("l", 1)), None, &fine, 1),
            Err(PolicyError::InvalidField("log key"))
        );
    }

    #[test]
    fn errors_do_not_echo_long_fields() {
        let w1 = vkey("w1", 2);
        let long = "z".repeat(50_000);
        let cases = [
            format!("{long}\n"),
            format!("witness {long} {w1}\nwitness {long} {}\n", vkey("w2", 3)),
            format!("witness a {w1}\ngroup g any {long}\n"),
            format!("witness {long} {w1}\ngroup g any {long} {long}\n"),
            format!("witness a {w1}\ngroup g {long} a\n"),
            format!("quorum {long}\n"),
        ];
        for text in cases {
            let error = Policy::parse(text.as_bytes()).expect_err("refused");
            let shown = error.to_string();
            assert!(shown.len() < 200, "{} bytes: {shown:.80}", shown.len());
        }
    }

    #[test]
    fn refusals() {
        let w1 = vkey("w1", 2);
        let cases = [
            (format!("witness a {w1}\n"), "no quorum"),
            (
                format!("witness a {w1}\nquorum a\nquorum a\n"),
                "two quorums",
            ),
            ("quorum b\n".to_owned(), "undefined quorum"),
            (format!("witness a {w1}\ngroup g 2 a\nquorum g\n"), "k > n"),
            (format!("witness a {w1}\ngroup g 0 a\nquorum g\n"), "k = 0"),
            (
                format!("witness a {w1}\ngroup g 01 a\nquorum g\n"),
                "leading zero",
            ),
            (
                format!("witness a {w1}\ngroup g any a a\nquorum g\n"),
                "member twice",
            ),
            (
                format!("witness a {w1}\ngroup g any none\nquorum g\n"),
                "none as member",
            ),
            ("group g any b\nquorum g\n".to_owned(), "undefined member"),
            (
                format!("witness a {w1}\nwitness b {w1}\nquorum a\n"),
                "duplicate key",
            ),
            (
                format!(
                    "witness a {w1}\nwitness b {}\nquorum a\n",
                    vkey("other-name", 2)
                ),
                "same key, other name",
            ),
            (
                format!("witness a {w1}\nwitness a {}\nquorum a\n", vkey("w3", 9)),
                "name twice",
            ),
            (format!("witness none {w1}\nquorum none\n"), "redefine none"),
            (format!("witness a {w1}\nquorum a"), "no final newline"),
            (format!("witness a {w1}\r\nquorum a\n"), "carriage return"),
            (format!("witnesses a {w1}\nquorum a\n"), "unknown keyword"),
            ("witness a not-a-key\nquorum a\n".to_owned(), "bad vkey"),
            (format!("log {w1} url extra\nquorum none\n"), "extra field"),
            (
                format!("witness a {w1}\ngroup g \u{ff11} a\nquorum g\n"),
                "fullwidth digit threshold",
            ),
            (
                format!("witness a {w1}\ngroup g +1 a\nquorum g\n"),
                "signed threshold",
            ),
            (
                format!("witness a {w1}\ngroup g 18446744073709551617 a\nquorum g\n"),
                "threshold overflow",
            ),
            (
                format!("witness a {w1}\ngroup g ANY a\nquorum g\n"),
                "uppercase keyword",
            ),
            (
                format!("witness\u{a0}a {w1}\nquorum none\n"),
                "no-break space as separator",
            ),
            (format!("witness a {w1}\u{b}\nquorum a\n"), "vertical tab"),
            (
                format!("witness a {w1}\nquorum a # trailing comment\n"),
                "comment after a field",
            ),
            (format!("witness a {w1}\nquorum a\u{7f}\n"), "DEL"),
            (
                format!("witness a {w1}\nquorum A\n"),
                "names are case-sensitive",
            ),
        ];
        for (text, what) in cases {
            assert!(
                Policy::parse(text.as_bytes()).is_err(),
                "{what}: accepted {text:?}"
            );
        }
        assert_eq!(
            Policy::parse(&vec![b'#'; MAX_POLICY_SIZE + 1]),
            Err(PolicyError::TooLarge(MAX_POLICY_SIZE + 1))
        );
    }

    #[test]
    fn comments_are_opaque_bytes_and_the_rest_is_strict() {
        let body = format!("witness w {}\nquorum w\n", vkey("w", 2));
        let latin1 = [b"# caf\xe9 \x01 \r\n".as_slice(), body.as_bytes()].concat();
        assert_eq!(
            Policy::parse(&latin1).expect("non-UTF-8 comment").quorum(),
            "w"
        );
        let indented = [b"  \t# \xff\xfe\n".as_slice(), body.as_bytes()].concat();
        Policy::parse(&indented).expect("indented comment");
        let bad_line = [body.as_bytes(), b"group g 1 w\xe9\n".as_slice()].concat();
        assert_eq!(Policy::parse(&bad_line), Err(PolicyError::NotUtf8));
    }
}
