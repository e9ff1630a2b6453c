//! `cairn trust`: the client options every client command takes, and `cairn trust init`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_client::Error;
use cairn_client::checkpoints::verify_signature;
use cairn_client::duration::parse_duration;
use cairn_client::state::{StateDir, write_atomic};
use cairn_client::trust::{LogName, Trust};
use cairn_client::upstream::Remote;
use cairn_verifier::entry::{KeyEvent, RootSet, RootSetDifference};
use cairn_verifier::note::Note;
use cairn_verifier::tile::TreeHead;

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
                return Err(Error::Usage("--timeout must be longer than 0 s".to_owned()).into());
            }
            cairn_client::upstream::set_request_deadline(timeout);
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
        if let Some(warning) = trust.single_key_warning(&path) {
            eprintln!("cairn: warning: {warning}");
        }
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
    use crate::maintainer::key_files::{SECRET_KEY_GIVEN, is_secret_key};
    if is_secret_key(value) {
        return Err(Error::Usage(SECRET_KEY_GIVEN.to_owned()).into());
    }
    if value.contains('+') && !Path::new(value).exists() {
        return Ok(value.to_owned());
    }
    let bytes = crate::maintainer::key_files::read_small_file(Path::new(value), "verifier key")
        .map_err(|e| {
            Error::Usage(format!(
                "{value:?} is neither a verifier key nor a readable file: {e:#}"
            ))
        })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("{value}: not a verifier key (not UTF-8 text)")))?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    if is_secret_key(line) {
        return Err(Error::Usage(format!("{value}: {SECRET_KEY_GIVEN}")).into());
    }
    if line.contains('\n') {
        return Err(
            Error::Usage(format!("{value}: expected one line holding a verifier key")).into(),
        );
    }
    Ok(line.to_owned())
}

/// Verifier keys given on the command line: a vkey, or a file holding one or more, one a line
/// (as `cairn init` prints the log's keys).
pub(crate) fn vkey_lines(value: &str) -> anyhow::Result<Vec<String>> {
    use crate::maintainer::key_files::{SECRET_KEY_GIVEN, is_secret_key};
    if is_secret_key(value) {
        return Err(Error::Usage(SECRET_KEY_GIVEN.to_owned()).into());
    }
    if value.contains('+') && !Path::new(value).exists() {
        return Ok(vec![value.to_owned()]);
    }
    let bytes = crate::maintainer::key_files::read_small_file(Path::new(value), "verifier key")
        .map_err(|e| {
            Error::Usage(format!(
                "{value:?} is neither a verifier key nor a readable file: {e:#}"
            ))
        })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("{value}: not a verifier key (not UTF-8 text)")))?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if lines.iter().any(|l| is_secret_key(l)) {
        return Err(Error::Usage(format!("{value}: {SECRET_KEY_GIVEN}")).into());
    }
    if lines.is_empty() || lines.len() > 2 {
        return Err(Error::Usage(format!(
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
        return Err(Error::Usage("--quorum needs at least one --witness".to_owned()).into());
    }
    if !witnesses.is_empty() && quorum == 0 {
        return Err(Error::Usage(
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
        args.max_age.unwrap_or(cairn_client::trust::DEFAULT_MAX_AGE),
    )
    .map_err(Error::Usage)?;
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
        return Err(Error::Usage(format!(
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
            if crate::exit::classify(&e).0 == "verification-failed" {
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
    Err(Error::Usage(format!(
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
    let server = Remote::http(&trust.url)?;
    let bytes = server.checkpoint(LogName::Keys)?;
    let mut report = crate::output::report(false);
    let cp = verify_signature(trust, LogName::Keys, &bytes, "key log", &mut report)?;
    if cp.size() == 0 {
        anyhow::bail!("the key log is empty");
    }
    let tree = TreeHead::from_verified(&cp);
    let reader = server.hash_reader(LogName::Keys, tree);
    let entry = server.entry(LogName::Keys, &reader, 0)?;
    let bad = |what: String| Error::Refused(format!("the log's key-log entry 0 {what}"));
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
            .ok_or_else(|| Error::Usage(format!("--witness {name}: missing the verifier key")))?;
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
    use cairn_verifier::note::KeyName;

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
