//! `cairn witness`: a C2SP tlog-witness server (the logic is in `cairn_log_server::witness`, the
//! decision in `cairn_verifier::witness`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use cairn_log_server::witness_server::{Witness, WitnessedLog, serve};
use cairn_verifier::keys::AnyVerifier;
use cairn_verifier::note::{KeyName, NoteVerifier as _};

use crate::maintainer::key_files::{load_cosigner, read_verifier};
use cairn_client::Error;

/// Arguments of `cairn witness`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct WitnessArgs {
    /// A witness signing key: a key file made by `cairn keygen` (Ed25519, or `--alg ml-dsa-44`;
    /// its name is the witness's name), or a pkcs11: URI or ssh-agent: key for an Ed25519 key
    /// (then give --key-name). Repeatable: every key cosigns each checkpoint it can.
    #[arg(long, value_name = "KEYREF", required = true)]
    key: Vec<String>,
    /// The witness's name for the pkcs11: and ssh-agent: keys among --key (a token or an agent
    /// stores no name).
    #[arg(long, value_name = "NAME")]
    key_name: Option<String>,
    /// Print the witness's verifier keys (cosignature/v1 and/or ML-DSA-44: what logs and
    /// clients configure), one per line, on stdout and exit.
    #[arg(long)]
    print_vkey: bool,
    /// State directory: the latest cosigned checkpoint of each log (created if missing).
    #[arg(long, value_name = "DIR", required_unless_present = "print_vkey")]
    data: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// A log to witness: its checkpoint origin and its verifier key (or a file holding it).
    /// The key may be named ORIGIN, or be a Cairn log's key named PREFIX when ORIGIN is
    /// PREFIX/releases or PREFIX/keys; any other name is taken as is (sum.golang.org's key is
    /// not named after its origin). Repeatable, also with one origin to trust several keys.
    /// (Old spelling: --log.)
    #[arg(long = "witness-log", alias = "log", value_names = ["ORIGIN", "VKEY"], num_args = 2, action = clap::ArgAction::Append)]
    logs: Vec<String>,
    /// A file of `log <vkey> <origin>` lines (the origin is the rest of the line and may hold
    /// spaces; `#` starts a comment), read at start and again on SIGHUP, added to the --log
    /// options. A reload that fails leaves the running
    /// configuration in place.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The log key for `origin` from `--log ORIGIN VKEY`.
fn log_verifier(origin: &str, vkey: &str) -> anyhow::Result<AnyVerifier> {
    // A file with a Cairn log's two per-origin keys (as `cairn init` prints them): the one
    // named after the origin.
    let named = crate::client::trust::vkey_lines(vkey)
        .ok()
        .and_then(|lines| {
            lines
                .into_iter()
                .find(|l| l.starts_with(&format!("{origin}+")))
        });
    let key = read_verifier(
        named.as_deref().unwrap_or(vkey),
        &format!("--witness-log {origin}"),
    )?;
    let name = key.name().as_str();
    // A Cairn log's legacy key named PREFIX signs PREFIX/releases and PREFIX/keys under
    // per-origin names derived from it.
    let derived = origin
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|log| log == "releases" || log == "keys");
    if !derived {
        return Ok(AnyVerifier::Ed25519(key));
    }
    eprintln!(
        "cairn: warning: --log {origin}: the key {name:?} is a Cairn log's single key \
         (deprecated); give the key named {origin} that `cairn init` or `cairn migrate-keys` \
         printed (docs/operators.md, \"Migrating to per-origin verifier keys\")"
    );
    let name =
        KeyName::new(origin).map_err(|e| Error::Usage(format!("--witness-log {origin}: {e}")))?;
    Ok(AnyVerifier::Ed25519(key.with_name(name)))
}

/// Adds a key for `origin`, grouping keys by origin in first-seen order.
fn add_key(logs: &mut Vec<WitnessedLog>, origin: &str, key: AnyVerifier) {
    match logs.iter_mut().find(|l| l.origin == origin) {
        Some(log) => log.verifiers.push(key),
        None => logs.push(WitnessedLog {
            origin: origin.to_owned(),
            verifiers: vec![key],
        }),
    }
}

/// The configured logs: the --log options, then the lines of --config.
fn configured_logs(args: &WitnessArgs) -> anyhow::Result<Vec<WitnessedLog>> {
    let mut logs = Vec::new();
    for pair in args.logs.chunks(2) {
        let [origin, vkey] = pair else {
            return Err(Error::Usage("--witness-log takes ORIGIN and VKEY".to_owned()).into());
        };
        add_key(&mut logs, origin, log_verifier(origin, vkey)?);
    }
    if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line
                .strip_prefix("log ")
                .and_then(|rest| rest.trim_start().split_once(' '))
                .map(|(vkey, origin)| (vkey, origin.trim()))
                .filter(|(_, origin)| !origin.is_empty());
            let Some((vkey, origin)) = parsed else {
                return Err(Error::Usage(format!(
                    "{}:{}: expected \"log <vkey> <origin>\"",
                    path.display(),
                    i + 1
                ))
                .into());
            };
            add_key(&mut logs, origin, log_verifier(origin, vkey)?);
        }
    }
    if logs.is_empty() {
        return Err(Error::Usage(
            "give at least one --log ORIGIN VKEY (or a --config file with log lines)".to_owned(),
        )
        .into());
    }
    Ok(logs)
}

fn print_logs(witness: &Witness) {
    for (origin, size) in witness.sizes() {
        match size {
            Some(size) => eprintln!("cairn: witnessing {origin} (latest cosigned size {size})"),
            None => eprintln!("cairn: witnessing {origin} (nothing cosigned yet)"),
        }
    }
}

pub(crate) fn run(args: &WitnessArgs) -> anyhow::Result<()> {
    crate::deprecated::warn_if_used("witness", "--log", "--witness-log");
    let mut signers = Vec::new();
    for keyref in &args.key {
        signers.push(load_cosigner(keyref, args.key_name.as_deref())?);
    }
    if args.print_vkey {
        #[allow(clippy::print_stdout)] // The verifier keys are this command's data.
        for signer in &signers {
            println!("{}", signer.verifier().to_vkey());
        }
        return Ok(());
    }
    let Some(data) = &args.data else {
        return Err(Error::Usage("--data DIR is required".to_owned()).into());
    };
    let logs = configured_logs(args)?;
    let witness = Witness::open(data, signers, logs)
        .with_context(|| format!("opening the witness state in {}", data.display()))?;
    for vkey in witness.vkeys() {
        eprintln!("cairn: witness key: {vkey}");
    }
    print_logs(&witness);
    let witness = Arc::new(witness);
    let args = args.clone();
    crate::operator::log::serve_on(args.listen, move |listener| async move {
        #[cfg(unix)]
        {
            let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .context("installing the SIGHUP handler")?;
            let witness = Arc::clone(&witness);
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let reloaded = configured_logs(&args)
                        .and_then(|logs| witness.reload(logs).map_err(Into::into));
                    match reloaded {
                        Ok(()) => {
                            eprintln!("cairn: configuration reloaded");
                            print_logs(&witness);
                        }
                        Err(e) => eprintln!(
                            "cairn: configuration not reloaded (the running one stays): {e:#}"
                        ),
                    }
                }
            });
        }
        serve(witness, listener, crate::operator::log::shutdown_signal()).await?;
        Ok(())
    })
}
