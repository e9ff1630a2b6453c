//! The client's trust file (`spec/client.md`, "The trust file") and `cairn trust init`.
//!
//! One file holds everything a client pins: Cairn's own settings (the key log's genesis roots and
//! threshold, the maximum checkpoint age) in a few strict lines, then a blank line, then a
//! C2SP tlog-policy (the log's key and URL, the witnesses and their quorum), parsed by
//! [`Policy::parse`]. Every value has one spelling, so a file that parses formats back to the
//! same bytes.

use std::path::Path;
use std::time::Duration;

use cairn_verifier::cosignature::CosignatureVerifier;
use cairn_verifier::decimal::parse_canonical_u64;
use cairn_verifier::entry::{MAX_ROOTS, RootSet};
use cairn_verifier::note::{Ed25519Verifier, KeyName, NoteVerifier as _};
use cairn_verifier::policy::{MAX_POLICY_SIZE, Policy};

use crate::Error;

/// First line of every trust file.
pub const TRUST_HEADER: &str = "cairn-trust/v1";
/// Largest trust file read: the policy's own limit plus room for the root lines.
pub const MAX_TRUST_SIZE: usize = MAX_POLICY_SIZE + 8 * 1024;
/// Maximum checkpoint age when `--max-age` is not given.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Which of the log's two trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogName {
    /// The release log, `URL/releases/`, origin `PREFIX/releases`.
    Releases,
    /// The key log, `URL/keys/`, origin `PREFIX/keys`.
    Keys,
}

impl LogName {
    /// The path segment and origin suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            LogName::Releases => "releases",
            LogName::Keys => "keys",
        }
    }
}

/// A witness of the policy with its parsed cosignature key.
#[derive(Debug, Clone)]
pub struct Witness {
    /// Its `cosignature/v1` verifier key.
    pub key: CosignatureVerifier,
}

/// A parsed, validated trust file.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The origin prefix: origins are `PREFIX/releases` and `PREFIX/keys`.
    prefix: String,
    /// The release log's verifier key, named `PREFIX/releases`.
    releases_key: Ed25519Verifier,
    /// The key log's verifier key, named `PREFIX/keys`.
    keys_key: Ed25519Verifier,
    /// The policy names the log by one key named PREFIX (before per-origin keys; deprecated).
    pub single_key: bool,
    /// The log's base URL (from the policy's `log` line).
    pub url: String,
    /// The pinned genesis roots of the key log.
    pub roots: RootSet,
    /// The longest a checkpoint's witness cosignatures may be old.
    pub max_age: Duration,
    /// The C2SP tlog-policy.
    pub policy: Policy,
    /// The policy's witnesses, keys parsed.
    pub witnesses: Vec<Witness>,
    /// The file's bytes, as read or written.
    pub text: String,
}

impl Trust {
    /// The origin prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// What names this log in the state directory: the release log's public key under the
    /// prefix, as trust files before per-origin keys spelled it, so a client that moves its
    /// trust file to per-origin keys keeps what it verified.
    pub fn identity(&self) -> String {
        match KeyName::new(&self.prefix) {
            Ok(name) => self.releases_key.with_name(name).to_vkey(),
            Err(_) => self.releases_key.to_vkey(),
        }
    }

    /// The origin of one of the two logs, `PREFIX/releases` or `PREFIX/keys`.
    pub fn origin(&self, log: LogName) -> String {
        format!("{}/{}", self.prefix(), log.as_str())
    }

    /// The log's key under the name that log's checkpoints are signed with.
    pub fn verifier(&self, log: LogName) -> crate::Result<Ed25519Verifier> {
        Ok(match log {
            LogName::Releases => self.releases_key.clone(),
            LogName::Keys => self.keys_key.clone(),
        })
    }

    /// Whether the policy asks for witness cosignatures at all.
    pub fn has_quorum(&self) -> bool {
        self.policy.quorum() != "none"
    }

    /// Builds and checks a trust file from its parts.
    pub fn build(
        log_vkeys: &[String],
        url: &str,
        roots: &[String],
        threshold: usize,
        witnesses: &[(String, String, Option<String>)],
        quorum: usize,
        max_age: Duration,
    ) -> Result<Trust, String> {
        check_url(url)?;
        let mut log_keys = Vec::new();
        for vkey in log_vkeys {
            let key = Ed25519Verifier::from_vkey(vkey)
                .map_err(|e| format!("--log-key: not an Ed25519 verifier key: {e}"))?;
            log_keys.push(key.to_vkey());
        }
        if log_keys.is_empty() || log_keys.len() > 2 {
            return Err(format!(
                "--log-key: expected the log's two verifier keys (PREFIX/releases and \
                 PREFIX/keys), got {}",
                log_keys.len()
            ));
        }
        let mut keys = Vec::with_capacity(roots.len());
        for r in roots {
            keys.push(
                Ed25519Verifier::from_vkey(r)
                    .map_err(|e| format!("--root-key {r:?}: not an Ed25519 verifier key: {e}"))?,
            );
        }
        let roots =
            RootSet::new(keys, threshold).map_err(|e| format!("--root-key/--threshold: {e}"))?;
        for (name, vkey, url) in witnesses {
            CosignatureVerifier::from_vkey(vkey).map_err(|e| {
                format!("--witness {name}: not a cosignature/v1 (type 0x04) verifier key: {e}")
            })?;
            if let Some(url) = url {
                check_url(url).map_err(|e| format!("--witness {name}: {e}"))?;
            }
        }
        if quorum > witnesses.len() {
            return Err(format!(
                "--quorum {quorum} is more than the {} witnesses given",
                witnesses.len()
            ));
        }
        let log_keys: Vec<&str> = log_keys.iter().map(String::as_str).collect();
        let policy = Policy::for_logs(&log_keys, Some(url), witnesses, quorum)
            .map_err(|e| format!("trust policy: {e}"))?
            .to_text();
        let secs = max_age.as_secs();
        if secs == 0 || max_age.subsec_nanos() != 0 {
            return Err("--max-age must be a positive whole number of seconds".to_owned());
        }
        let mut text = format!("{TRUST_HEADER}\n");
        for key in roots.keys() {
            text.push_str(&format!("root {}\n", key.to_vkey()));
        }
        text.push_str(&format!("threshold {}\n", roots.threshold()));
        text.push_str(&format!("max-age {secs}\n\n"));
        text.push_str(&policy);
        // Re-parse: what we write is exactly what we accept.
        Trust::parse(text.as_bytes())
    }

    /// Parses a trust file strictly (see `spec/client.md`).
    pub fn parse(bytes: &[u8]) -> Result<Trust, String> {
        if bytes.len() > MAX_TRUST_SIZE {
            return Err(format!(
                "{} bytes, larger than the limit of {MAX_TRUST_SIZE}",
                bytes.len()
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
        let (head, policy_text) = text
            .split_once("\n\n")
            .ok_or("no blank line between Cairn's settings and the tlog-policy")?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TRUST_HEADER) {
            return Err(format!("the first line must be {TRUST_HEADER:?}"));
        }
        let mut keys = Vec::new();
        let mut threshold = None;
        let mut max_age = None;
        for (i, line) in lines.enumerate() {
            let number = i + 2;
            let (key, value) = line
                .split_once(' ')
                .ok_or_else(|| format!("line {number}: expected `key value`"))?;
            match (key, threshold, max_age) {
                ("root", None, None) => {
                    if keys.len() == MAX_ROOTS {
                        return Err(format!("line {number}: more than {MAX_ROOTS} root keys"));
                    }
                    let k = Ed25519Verifier::from_vkey(value)
                        .map_err(|e| format!("line {number}: bad root key: {e}"))?;
                    if k.to_vkey() != value {
                        return Err(format!("line {number}: root key is not canonical"));
                    }
                    keys.push(k);
                }
                ("threshold", None, None) => {
                    threshold = Some(
                        parse_canonical_u64(value)
                            .and_then(|n| usize::try_from(n).ok())
                            .ok_or_else(|| format!("line {number}: bad threshold"))?,
                    );
                }
                ("max-age", Some(_), None) => {
                    let secs = parse_canonical_u64(value)
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("line {number}: bad max-age (whole seconds)"))?;
                    max_age = Some(Duration::from_secs(secs));
                }
                _ => {
                    return Err(format!(
                        "line {number}: unexpected {key:?} (order: root..., threshold, max-age)"
                    ));
                }
            }
        }
        let threshold = threshold.ok_or("no threshold line")?;
        let max_age = max_age.ok_or("no max-age line")?;
        let written: Vec<String> = keys.iter().map(Ed25519Verifier::to_vkey).collect();
        let roots = RootSet::new(keys, threshold).map_err(|e| format!("root keys: {e}"))?;
        let canonical: Vec<String> = roots.keys().iter().map(Ed25519Verifier::to_vkey).collect();
        if canonical != written {
            return Err("root lines are not in canonical (sorted) order".to_owned());
        }
        let policy = Policy::parse(policy_text.as_bytes()).map_err(|e| format!("policy: {e}"))?;
        let (prefix, releases_key, keys_key, url) = policy_log_keys(&policy)?;
        check_url(&url).map_err(|e| format!("policy: log URL: {e}"))?;
        let mut witnesses = Vec::new();
        for w in policy.witnesses() {
            let key = CosignatureVerifier::from_vkey(&w.vkey).map_err(|e| {
                format!(
                    "policy: witness {}: not a cosignature/v1 verifier key: {e}",
                    w.name
                )
            })?;
            witnesses.push(Witness { key });
        }
        let single_key = releases_key.public_key() == keys_key.public_key();
        Ok(Trust {
            prefix,
            releases_key,
            keys_key,
            single_key,
            url: url.trim_end_matches('/').to_owned(),
            roots,
            max_age,
            policy,
            witnesses,
            text: text.to_owned(),
        })
    }

    /// Reads and parses a trust file.
    pub fn load(path: &Path) -> crate::Result<Trust> {
        let Some(bytes) = crate::state::read_private(path, MAX_TRUST_SIZE, "trust policy")? else {
            return Err(Error::Usage(format!(
                "no trust policy at {}: run `cairn trust init` first (or pass --trust FILE)",
                path.display()
            )));
        };
        let trust = Trust::parse(&bytes).map_err(|e| {
            Error::Usage(format!("trust policy {} is invalid: {e}", path.display()))
        })?;
        Ok(trust)
    }

    /// The warning a caller should show for a trust file that names the log by one key
    /// (deprecated), read from `path`; `None` for a current one.
    pub fn single_key_warning(&self, path: &Path) -> Option<String> {
        self.single_key.then(|| {
            format!(
                "trust policy {} names the log by one key named {:?} (deprecated); the log \
                 publishes one verifier key per origin: get both from the operator and re-run \
                 `cairn trust init --log {} --log-key RELEASES_VKEY --log-key KEYS_VKEY ... \
                 --force`",
                path.display(),
                self.prefix,
                self.url
            )
        })
    }
}

/// The log's keys from the policy's `log` lines: two lines, one per origin (`PREFIX/releases`
/// and `PREFIX/keys`, as c2sp.org/tlog-policy asks: the key name is the origin), or, from trust
/// files made before per-origin keys, one line whose key is named `PREFIX` and stands for both.
/// Returns the prefix, the two verifiers and the log's base URL.
fn policy_log_keys(
    policy: &Policy,
) -> Result<(String, Ed25519Verifier, Ed25519Verifier, String), String> {
    let parse = |vkey: &str| {
        Ed25519Verifier::from_vkey(vkey)
            .map_err(|e| format!("policy: log key is not an Ed25519 verifier key: {e}"))
    };
    let per_origin =
        |origin: &str| KeyName::new(origin).map_err(|e| format!("policy: origin {origin:?}: {e}"));
    match policy.logs() {
        [log] => {
            let key = parse(&log.vkey)?;
            let prefix = key.name().as_str().to_owned();
            if prefix.ends_with("/releases") || prefix.ends_with("/keys") {
                return Err(format!(
                    "policy: only the {prefix} log is listed; a Cairn log needs two log lines, \
                     PREFIX/releases and PREFIX/keys"
                ));
            }
            let url = log
                .url
                .clone()
                .ok_or("policy: the log line needs the log's URL")?;
            let releases = key.with_name(per_origin(&format!("{prefix}/releases"))?);
            let keys = key.with_name(per_origin(&format!("{prefix}/keys"))?);
            Ok((prefix, releases, keys, url))
        }
        [a, b] => {
            let (ka, kb) = (parse(&a.vkey)?, parse(&b.vkey)?);
            let (releases, keys, rl, kl) = if ka.name().as_str().ends_with("/keys") {
                (kb, ka, b, a)
            } else {
                (ka, kb, a, b)
            };
            let prefix = releases
                .name()
                .as_str()
                .strip_suffix("/releases")
                .ok_or_else(|| {
                    format!(
                        "policy: with two log lines, one key must be named PREFIX/releases \
                         (found {:?})",
                        releases.name().as_str()
                    )
                })?
                .to_owned();
            if keys.name().as_str() != format!("{prefix}/keys") {
                return Err(format!(
                    "policy: the log lines name {:?} and {:?}; a Cairn log's are \
                     {prefix}/releases and {prefix}/keys",
                    releases.name().as_str(),
                    keys.name().as_str()
                ));
            }
            let url = match (&rl.url, &kl.url) {
                (Some(r), Some(k)) if r.trim_end_matches('/') != k.trim_end_matches('/') => {
                    return Err(format!(
                        "policy: the two log lines give different URLs ({r} and {k}); both \
                         logs are served from one base URL"
                    ));
                }
                (Some(u), _) | (None, Some(u)) => u.clone(),
                (None, None) => return Err("policy: a log line needs the log's URL".to_owned()),
            };
            Ok((prefix, releases, keys, url))
        }
        other => Err(format!(
            "policy: a Cairn log needs two log lines (PREFIX/releases and PREFIX/keys), found {}",
            other.len()
        )),
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} must be an http or https URL"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{url:?} must not have a query or fragment"));
    }
    Ok(())
}

/// Options every client command takes.
#[cfg(test)]
mod tests {
    use super::*;
    use cairn_verifier::cosignature::CosignatureSigner;
    use cairn_verifier::note::Ed25519Signer;

    fn key(name: &str, seed: u8) -> Ed25519Signer {
        Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32])
    }

    #[test]
    fn build_then_parse_round_trips_and_is_strict() {
        let log = vec![
            key("log.example.org/releases", 1).verifier().to_vkey(),
            key("log.example.org/keys", 5).verifier().to_vkey(),
        ];
        let roots = vec![
            key("example.org/root2", 3).verifier().to_vkey(),
            key("example.org/root1", 2).verifier().to_vkey(),
        ];
        let w = CosignatureSigner::from_seed(KeyName::new("w1.example").expect("n"), [4; 32]);
        let witnesses = vec![(
            "w1".to_owned(),
            w.verifier().to_vkey(),
            Some("https://w1.example/".to_owned()),
        )];
        let trust = Trust::build(
            &log,
            "http://127.0.0.1:1",
            &roots,
            2,
            &witnesses,
            1,
            DEFAULT_MAX_AGE,
        )
        .expect("builds");
        let again = Trust::parse(trust.text.as_bytes()).expect("parses");
        assert_eq!(again.text, trust.text);
        assert_eq!(trust.prefix(), "log.example.org");
        assert_eq!(trust.origin(LogName::Keys), "log.example.org/keys");
        assert_eq!(trust.max_age, DEFAULT_MAX_AGE);
        assert!(trust.has_quorum());

        // Swapped root lines, a missing blank line, a non-canonical number: refused.
        let lines: Vec<&str> = trust.text.split('\n').collect();
        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        assert!(Trust::parse(swapped.join("\n").as_bytes()).is_err());
        let no_blank = trust.text.replacen("\n\n", "\n", 1);
        assert!(Trust::parse(no_blank.as_bytes()).is_err());
        let padded = trust.text.replace("max-age 86400", "max-age 086400");
        assert!(Trust::parse(padded.as_bytes()).is_err());
        let zero = trust.text.replace("max-age 86400", "max-age 0");
        assert!(Trust::parse(zero.as_bytes()).is_err());
        // A plain Ed25519 key is not a witness key.
        assert!(
            Trust::build(
                &log,
                "http://x",
                &roots,
                1,
                &[("w".into(), roots[0].clone(), None)],
                1,
                DEFAULT_MAX_AGE
            )
            .is_err()
        );
        assert!(Trust::build(&log, "ftp://x", &roots, 1, &[], 0, DEFAULT_MAX_AGE).is_err());
        assert!(Trust::build(&log, "http://x", &roots, 3, &[], 0, DEFAULT_MAX_AGE).is_err());
    }

    #[test]
    fn policies_name_the_two_origins_or_the_deprecated_single_key() {
        let releases = key("p.example/releases", 1).verifier().to_vkey();
        let keys = key("p.example/keys", 2).verifier().to_vkey();
        let roots = key("p.example/root", 3).verifier().to_vkey();
        let head = format!("{TRUST_HEADER}\nroot {roots}\nthreshold 1\nmax-age 60\n\n");
        let parse = |policy: &str| Trust::parse(format!("{head}{policy}").as_bytes());
        // Hand-written: comments, tabs, key log first, the URL on one line only.
        let t = parse(&format!(
            "# a Cairn log\n\tlog {keys} https://p.example\n  log\t{releases}\nquorum none\n"
        ))
        .expect("spec-style policy");
        assert_eq!(t.prefix(), "p.example");
        assert_eq!(t.url, "https://p.example");
        assert!(!t.single_key);
        assert_eq!(t.verifier(LogName::Keys).expect("v").to_vkey(), keys);
        assert_eq!(
            t.verifier(LogName::Releases).expect("v").to_vkey(),
            releases
        );
        // The deprecated single key stands for both origins, and names the same state.
        let single = key("p.example", 1).verifier().to_vkey();
        let old = parse(&format!("log {single} https://p.example\nquorum none\n")).expect("old");
        assert!(old.single_key);
        assert_eq!(
            old.verifier(LogName::Releases).expect("v").to_vkey(),
            releases
        );
        assert_eq!(
            old.identity(),
            t.identity(),
            "a migrated client keeps its state"
        );
        // Refused: one per-origin line, mismatched prefixes, different URLs, no URL.
        assert!(parse(&format!("log {releases} https://p.example\nquorum none\n")).is_err());
        let other = key("q.example/keys", 2).verifier().to_vkey();
        assert!(
            parse(&format!(
                "log {releases} https://p.example\nlog {other}\nquorum none\n"
            ))
            .is_err()
        );
        assert!(
            parse(&format!(
                "log {releases} https://p.example\nlog {keys} https://q.example\nquorum none\n"
            ))
            .is_err()
        );
        assert!(parse(&format!("log {releases}\nlog {keys}\nquorum none\n")).is_err());
    }
}
