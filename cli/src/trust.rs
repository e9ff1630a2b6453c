//! The client's trust file (`spec/client.md`, "The trust file") and `cairn trust init`.
//!
//! One file holds everything a client pins: Cairn's own settings (the key log's genesis roots and
//! threshold, the maximum checkpoint age) in a few strict lines, then a blank line, then a
//! C2SP tlog-policy (the log's key and URL, the witnesses and their quorum), parsed by
//! [`Policy::parse`]. Every value has one spelling, so a file that parses formats back to the
//! same bytes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_verifier::cosignature::CosignatureVerifier;
use cairn_verifier::decimal::parse_canonical_u64;
use cairn_verifier::entry::{KeyEvent, MAX_ROOTS, RootSet, RootSetDifference};
use cairn_verifier::note::{Ed25519Verifier, KeyName, Note, NoteVerifier as _};
use cairn_verifier::policy::{MAX_POLICY_SIZE, Policy};
use cairn_verifier::tile::TreeHead;

use crate::checkpoints::verify_signature;
use crate::duration::parse_duration;
use crate::exit::Failure;
use crate::fetch::LogServer;
use crate::report::Report;
use crate::state::{StateDir, write_atomic};

/// First line of every trust file.
pub(crate) const TRUST_HEADER: &str = "cairn-trust/v1";
/// Largest trust file read: the policy's own limit plus room for the root lines.
pub(crate) const MAX_TRUST_SIZE: usize = MAX_POLICY_SIZE + 8 * 1024;
/// Maximum checkpoint age when `--max-age` is not given.
pub(crate) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Which of the log's two trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogName {
    /// The release log, `URL/releases/`, origin `PREFIX/releases`.
    Releases,
    /// The key log, `URL/keys/`, origin `PREFIX/keys`.
    Keys,
}

impl LogName {
    /// The path segment and origin suffix.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LogName::Releases => "releases",
            LogName::Keys => "keys",
        }
    }
}

/// A witness of the policy with its parsed cosignature key.
#[derive(Debug, Clone)]
pub(crate) struct Witness {
    /// Its `cosignature/v1` verifier key.
    pub(crate) key: CosignatureVerifier,
}

/// A parsed, validated trust file.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    /// The origin prefix: origins are `PREFIX/releases` and `PREFIX/keys`.
    prefix: String,
    /// The release log's verifier key, named `PREFIX/releases`.
    releases_key: Ed25519Verifier,
    /// The key log's verifier key, named `PREFIX/keys`.
    keys_key: Ed25519Verifier,
    /// The policy names the log by one key named PREFIX (before per-origin keys; deprecated).
    pub(crate) single_key: bool,
    /// The log's base URL (from the policy's `log` line).
    pub(crate) url: String,
    /// The pinned genesis roots of the key log.
    pub(crate) roots: RootSet,
    /// The longest a checkpoint's witness cosignatures may be old.
    pub(crate) max_age: Duration,
    /// The C2SP tlog-policy.
    pub(crate) policy: Policy,
    /// The policy's witnesses, keys parsed.
    pub(crate) witnesses: Vec<Witness>,
    /// The file's bytes, as read or written.
    pub(crate) text: String,
}

impl Trust {
    /// The origin prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// What names this log in the state directory: the release log's public key under the
    /// prefix, as trust files before per-origin keys spelled it, so a client that moves its
    /// trust file to per-origin keys keeps what it verified.
    pub(crate) fn identity(&self) -> String {
        match KeyName::new(&self.prefix) {
            Ok(name) => self.releases_key.with_name(name).to_vkey(),
            Err(_) => self.releases_key.to_vkey(),
        }
    }

    /// The origin of one of the two logs, `PREFIX/releases` or `PREFIX/keys`.
    pub(crate) fn origin(&self, log: LogName) -> String {
        format!("{}/{}", self.prefix(), log.as_str())
    }

    /// The log's key under the name that log's checkpoints are signed with.
    pub(crate) fn verifier(&self, log: LogName) -> anyhow::Result<Ed25519Verifier> {
        Ok(match log {
            LogName::Releases => self.releases_key.clone(),
            LogName::Keys => self.keys_key.clone(),
        })
    }

    /// Whether the policy asks for witness cosignatures at all.
    pub(crate) fn has_quorum(&self) -> bool {
        self.policy.quorum() != "none"
    }

    /// Builds and checks a trust file from its parts.
    pub(crate) fn build(
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
    pub(crate) fn parse(bytes: &[u8]) -> Result<Trust, String> {
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
    pub(crate) fn load(path: &Path) -> anyhow::Result<Trust> {
        let Some(bytes) = crate::state::read_private(path, MAX_TRUST_SIZE, "trust policy")? else {
            return Err(Failure::Usage(format!(
                "no trust policy at {}: run `cairn trust init` first (or pass --trust FILE)",
                path.display()
            ))
            .into());
        };
        let trust = Trust::parse(&bytes).map_err(|e| {
            Failure::Usage(format!("trust policy {} is invalid: {e}", path.display()))
        })?;
        if trust.single_key {
            eprintln!(
                "cairn: warning: trust policy {} names the log by one key named {:?} \
                 (deprecated); the log publishes one verifier key per origin: get both from the \
                 operator and re-run `cairn trust init --log {} --log-key RELEASES_VKEY \
                 --log-key KEYS_VKEY ... --force`",
                path.display(),
                trust.prefix,
                trust.url
            );
        }
        Ok(trust)
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
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ClientOptions {
    /// State directory: trust policy, last verified checkpoints, key-log copy, evidence
    /// (default: $XDG_STATE_HOME/cairn or ~/.local/state/cairn).
    #[arg(long, value_name = "DIR")]
    pub(crate) state: Option<PathBuf>,
    /// Trust policy file to use instead of the one in the state directory.
    #[arg(long, value_name = "FILE")]
    pub(crate) trust: Option<PathBuf>,
    /// Longest one fetch from the log (checkpoint, tile, entry bundle, lookup) may take in
    /// total, for example 30s or 5m; a slower or trickling server is given up (default 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
}

impl ClientOptions {
    /// The state directory (and, as every client command starts here, the fetch deadline).
    pub(crate) fn state_dir(&self) -> anyhow::Result<StateDir> {
        if let Some(timeout) = self.timeout {
            if timeout.is_zero() {
                return Err(Failure::Usage("--timeout must be longer than 0 s".to_owned()).into());
            }
            crate::fetch::set_request_deadline(timeout);
        }
        let state = StateDir::resolve(self.state.as_deref())?;
        state.check()?;
        Ok(state)
    }

    /// The state directory and the trust policy in force.
    pub(crate) fn load(&self) -> anyhow::Result<(StateDir, Trust)> {
        let state = self.state_dir()?;
        let path = self.trust.clone().unwrap_or_else(|| state.trust_path());
        let trust = Trust::load(&path)?;
        Ok((state, trust))
    }
}

/// `cairn trust ...`.
#[derive(Debug, clap::Args)]
pub(crate) struct TrustArgs {
    #[command(subcommand)]
    command: TrustCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TrustCommand {
    /// Write the trust policy: the log, its key, the key log's genesis roots, witnesses.
    Init(InitArgs),
}

/// Arguments of `cairn trust init`.
#[derive(Debug, clap::Args)]
struct InitArgs {
    /// The log's base URL (the release log is URL/releases/, the key log URL/keys/).
    #[arg(long, value_name = "URL")]
    log: String,
    /// The log's verifier keys, one per origin (PREFIX/releases and PREFIX/keys): give the
    /// option twice, or once with the file `cairn init` wrote them to (one per line).
    #[arg(long = "log-key", value_name = "VKEY", required = true)]
    log_keys: Vec<String>,
    /// A genesis root key of the key log (vkey or file); repeat for each root.
    #[arg(long = "root-key", value_name = "VKEY", required = true, num_args = 1..)]
    root_keys: Vec<String>,
    /// How many root keys must sign a key event, as in the genesis.
    #[arg(long, value_name = "K")]
    threshold: usize,
    /// A witness: policy name, cosignature/v1 verifier key (or file), optional URL. Repeatable.
    #[arg(long = "witness", value_names = ["NAME", "VKEY", "URL"], num_args = 2..=3, action = clap::ArgAction::Append)]
    witnesses: Vec<String>,
    /// How many witnesses must cosign a checkpoint (default: all of them).
    #[arg(long, value_name = "K")]
    quorum: Option<usize>,
    /// Oldest acceptable witness cosignature, for example 24h or 7d (default 24h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_age: Option<Duration>,
    /// Write the policy here instead of into the state directory (not with --trust, which
    /// names the policy file other commands read).
    #[arg(long, value_name = "FILE", conflicts_with = "trust")]
    out: Option<PathBuf>,
    /// Replace an existing trust policy.
    #[arg(long)]
    force: bool,
    /// Do not contact the log to check the roots and threshold against its genesis (key-log
    /// entry 0); `cairn keylog sync` checks them later.
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    client: ClientOptions,
}

/// A vkey given on the command line, or the path of a file whose one line is the vkey.
pub(crate) fn vkey_arg(value: &str) -> anyhow::Result<String> {
    use crate::key_files::{SECRET_KEY_GIVEN, is_secret_key};
    if is_secret_key(value) {
        return Err(Failure::Usage(SECRET_KEY_GIVEN.to_owned()).into());
    }
    if value.contains('+') && !Path::new(value).exists() {
        return Ok(value.to_owned());
    }
    let bytes =
        crate::key_files::read_small_file(Path::new(value), "verifier key").map_err(|e| {
            Failure::Usage(format!(
                "{value:?} is neither a verifier key nor a readable file: {e:#}"
            ))
        })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::Usage(format!("{value}: not a verifier key (not UTF-8 text)")))?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    if is_secret_key(line) {
        return Err(Failure::Usage(format!("{value}: {SECRET_KEY_GIVEN}")).into());
    }
    if line.contains('\n') {
        return Err(
            Failure::Usage(format!("{value}: expected one line holding a verifier key")).into(),
        );
    }
    Ok(line.to_owned())
}

/// Verifier keys given on the command line: a vkey, or a file holding one or more, one a line
/// (as `cairn init` prints the log's keys).
pub(crate) fn vkey_lines(value: &str) -> anyhow::Result<Vec<String>> {
    use crate::key_files::{SECRET_KEY_GIVEN, is_secret_key};
    if is_secret_key(value) {
        return Err(Failure::Usage(SECRET_KEY_GIVEN.to_owned()).into());
    }
    if value.contains('+') && !Path::new(value).exists() {
        return Ok(vec![value.to_owned()]);
    }
    let bytes =
        crate::key_files::read_small_file(Path::new(value), "verifier key").map_err(|e| {
            Failure::Usage(format!(
                "{value:?} is neither a verifier key nor a readable file: {e:#}"
            ))
        })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::Usage(format!("{value}: not a verifier key (not UTF-8 text)")))?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if lines.iter().any(|l| is_secret_key(l)) {
        return Err(Failure::Usage(format!("{value}: {SECRET_KEY_GIVEN}")).into());
    }
    if lines.is_empty() || lines.len() > 2 {
        return Err(Failure::Usage(format!(
            "{value}: expected one or two lines, each a verifier key"
        ))
        .into());
    }
    Ok(lines)
}

/// Runs `cairn trust ...`.
pub(crate) fn run(args: &TrustArgs) -> anyhow::Result<()> {
    match &args.command {
        TrustCommand::Init(init) => run_init(init),
    }
}

fn run_init(args: &InitArgs) -> anyhow::Result<()> {
    let mut log_keys = Vec::new();
    for value in &args.log_keys {
        log_keys.extend(vkey_lines(value)?);
    }
    let roots = args
        .root_keys
        .iter()
        .map(|r| vkey_arg(r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let witnesses = parse_witness_args(&args.witnesses)?;
    let quorum = args.quorum.unwrap_or(witnesses.len());
    if args.quorum.is_some() && witnesses.is_empty() {
        return Err(Failure::Usage("--quorum needs at least one --witness".to_owned()).into());
    }
    if !witnesses.is_empty() && quorum == 0 {
        return Err(Failure::Usage(
            "--quorum 0 would ignore every witness; leave the witnesses out instead".to_owned(),
        )
        .into());
    }
    let trust = Trust::build(
        &log_keys,
        &args.log,
        &roots,
        args.threshold,
        &witnesses,
        quorum,
        args.max_age.unwrap_or(DEFAULT_MAX_AGE),
    )
    .map_err(Failure::Usage)?;
    // `--trust FILE` names the policy file for every client command, so here it is where to
    // write it (like `--out`).
    let path = match args.out.as_ref().or(args.client.trust.as_ref()) {
        Some(out) => out.clone(),
        None => {
            let state = args.client.state_dir()?;
            state.create()?;
            state.trust_path()
        }
    };
    if path.exists() && !args.force {
        return Err(Failure::Usage(format!(
            "{} already exists; pass --force to replace it",
            path.display()
        ))
        .into());
    }
    if args.offline {
        eprintln!(
            "cairn: --offline: the root keys and threshold were not checked against the log's \
             genesis; `cairn keylog sync` will check them"
        );
    } else {
        check_genesis(&trust)?;
    }
    write_atomic(&path, trust.text.as_bytes(), 0o644)?;
    eprintln!(
        "cairn: wrote the trust policy for log {} ({}) to {}",
        trust.prefix(),
        trust.url,
        path.display()
    );
    if trust.single_key {
        eprintln!(
            "cairn: warning: --log-key {:?} is a Cairn log's single key (deprecated): ask the \
             operator for the log's two per-origin verifier keys (`cairn migrate-keys` prints them) \
             and re-run this command with them",
            trust.prefix()
        );
    }
    if trust.witnesses.is_empty() {
        eprintln!(
            "cairn: warning: no witnesses: clients will not check checkpoint age, and a log that \
             shows different histories to different clients is detected only against this \
             client's own earlier view"
        );
    }
    Ok(())
}

/// Checks the roots and threshold of `trust` against the log's genesis (key-log entry 0), when
/// the log can be reached: the entry must be authenticated by the log-signed key-log checkpoint
/// (its bundle hashes to tiles that hash to the root), then its root set must be the one given.
/// A difference is refused in plain words; an unreachable log only gets a warning, as the first
/// `cairn keylog sync` checks the same thing.
fn check_genesis(trust: &Trust) -> anyhow::Result<()> {
    let logged = match fetch_genesis_roots(trust) {
        Ok(roots) => roots,
        Err(e) => {
            if let Some(Failure::Verification(_)) = e.downcast_ref::<Failure>() {
                return Err(e.context(format!(
                    "checking the root keys against the genesis of the log at {}",
                    trust.url
                )));
            }
            eprintln!(
                "cairn: warning: could not check the root keys against the log's genesis \
                 ({e:#}); `cairn keylog sync` will check them"
            );
            return Ok(());
        }
    };
    let differences = trust.roots.differences(&logged);
    if differences.is_empty() {
        eprintln!(
            "cairn: the {} root keys and threshold {} match the log's genesis",
            logged.keys().len(),
            logged.threshold()
        );
        return Ok(());
    }
    let mut lines = Vec::new();
    for d in &differences {
        lines.push(match d {
            RootSetDifference::Missing(k) => {
                format!("--root-key {k} is not a root key of the log's genesis")
            }
            RootSetDifference::Extra(k) => {
                format!("the log's genesis also has root key {k}, which was not given")
            }
            RootSetDifference::Threshold { expected, found } => {
                format!("the log's genesis has threshold {found}, not {expected}")
            }
            other => other.to_string(),
        });
    }
    Err(Failure::Usage(format!(
        "the root keys and threshold given do not match the genesis of the log at {} \
         (key-log entry 0): {}; pass exactly its root keys and threshold (or --offline to skip \
         this check)",
        trust.url,
        lines.join("; ")
    ))
    .into())
}

/// The root set of the log's authenticated genesis event.
fn fetch_genesis_roots(trust: &Trust) -> anyhow::Result<RootSet> {
    let server = LogServer::new(&trust.url)?;
    let bytes = server.checkpoint(LogName::Keys)?;
    let mut report = Report::new(false);
    let cp = verify_signature(trust, LogName::Keys, &bytes, "key log", &mut report)?;
    if cp.size() == 0 {
        anyhow::bail!("the key log is empty");
    }
    let tree = TreeHead::from_verified(&cp);
    let reader = server.hash_reader(LogName::Keys, tree);
    let entry = server.entry(LogName::Keys, &reader, 0)?;
    let bad = |what: String| Failure::Verification(format!("the log's key-log entry 0 {what}"));
    let note = Note::parse(&entry).map_err(|e| bad(format!("is not a signed note: {e}")))?;
    match KeyEvent::parse(note.text()).map_err(|e| bad(format!("does not parse: {e}")))? {
        KeyEvent::Root { roots, .. } => Ok(roots),
        other => Err(bad(format!("is a {} event, not a root event", other.kind())).into()),
    }
}

/// Splits the values of repeated `--witness NAME VKEY [URL]` options. clap gives them flat, so
/// a value that looks like a witness name after a vkey starts the next witness; a URL always
/// contains `://`.
fn parse_witness_args(values: &[String]) -> anyhow::Result<Vec<(String, String, Option<String>)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let name = &values[i];
        let vkey = values
            .get(i + 1)
            .ok_or_else(|| Failure::Usage(format!("--witness {name}: missing the verifier key")))?;
        let vkey = vkey_arg(vkey)?;
        i += 2;
        let url = match values.get(i) {
            Some(v) if v.contains("://") => {
                i += 1;
                Some(v.clone())
            }
            _ => None,
        };
        out.push((name.clone(), vkey, url));
    }
    Ok(out)
}

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

    #[test]
    fn witness_arguments_split_on_urls() {
        let w1 = CosignatureSigner::from_seed(KeyName::new("w1").expect("n"), [4; 32])
            .verifier()
            .to_vkey();
        let w2 = CosignatureSigner::from_seed(KeyName::new("w2").expect("n"), [5; 32])
            .verifier()
            .to_vkey();
        let values: Vec<String> = ["a", &w1, "http://a", "b", &w2]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let parsed = parse_witness_args(&values).expect("parses");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].2.as_deref(), Some("http://a"));
        assert_eq!(parsed[1].0, "b");
        assert_eq!(parsed[1].2, None);
    }
}
