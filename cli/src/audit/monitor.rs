//! `cairn monitor`: follow a log, verify everything, and alert (`spec/monitor.md`).
//!
//! Each round is [`Auditor::round`] against the log, then a comparison of every `--mirror`
//! with what the round verified. Alerts are printed as one JSON object per line on stdout and
//! one human line on stderr, and POSTed to `--webhook`. The state lives in
//! `<state>/monitor/logs/<ID>/` (key-log copy, audit state, equivocation index) and evidence in
//! `<state>/monitor/evidence/`.

use std::time::Duration;

use anyhow::Context as _;
use cairn_verifier::entry::{OidcIssuer, parse_identity_pattern};
use cairn_verifier::note::Ed25519Verifier;

use crate::client::trust::{ClientOptions, vkey_arg};
use crate::exit::Failure;
use cairn_client::Error;
use cairn_client::audit::{Alert, AlertKind, Auditor};
use cairn_client::checkpoints::now;
use cairn_client::duration::parse_duration;
use cairn_client::state::StateDir;
use cairn_client::upstream::{Remote, Upstream as _, http_client};

/// Exit code of `--once` when an alert fired.
const EXIT_ALERT: u8 = 3;
/// Exit code of `--once` when an `inconsistent-checkpoint` alert fired.
const EXIT_INCONSISTENT: u8 = 4;

/// Arguments of `cairn monitor`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log's base URL (default: the trust policy's).
    #[arg(long, value_name = "URL")]
    log: Option<String>,
    /// Alert on every entry this key signed (a verifier key or a file holding one). Repeatable.
    #[arg(long = "watch-key", value_name = "VKEY")]
    watch_keys: Vec<String>,
    /// Alert on every Sigstore release this OIDC issuer and identity (exact, or
    /// `WORKFLOW@refs/tags/*`) authorised. Repeatable.
    #[arg(long = "watch-identity", num_args = 2, value_names = ["ISSUER", "IDENTITY"])]
    watch_identities: Vec<String>,
    /// A mirror (or any copy serving the log's tlog-tiles) whose checkpoints must be
    /// consistent with the log's. Repeatable.
    #[arg(long = "mirror", value_name = "URL")]
    mirrors: Vec<String>,
    /// Alert when neither log shows a new checkpoint (with witnesses: a new cosignature)
    /// for this long (default: the trust policy's max age).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_age: Option<Duration>,
    /// POST each alert's JSON object to this URL.
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// Run one round and exit: 0 no alert, 3 an alert, 4 an inconsistent checkpoint.
    #[arg(long)]
    once: bool,
    /// Time between rounds.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    interval: Duration,
    /// Threads that verify entries (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print each check on stderr.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    client: ClientOptions,
}

/// The monitor's own state directory inside the client's.
pub(crate) fn monitor_state(state: &StateDir) -> StateDir {
    state.child("monitor")
}

/// Threads to verify with: `requested`, else the CPUs available.
pub(crate) fn threads(requested: Option<usize>) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1)
}

/// `cairn monitor`.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    if args.interval.is_zero() {
        return Err(Error::Usage("--interval must be longer than zero".to_owned()).into());
    }
    let (state, mut trust) = args.client.load()?;
    if let Some(url) = &args.log {
        trust.url = url.trim_end_matches('/').to_owned();
    }
    let mut watch = Vec::new();
    for v in &args.watch_keys {
        let text = vkey_arg(v)?;
        watch.push(
            Ed25519Verifier::from_vkey(&text)
                .map_err(|e| Error::Usage(format!("--watch-key {v:?}: {e}")))?,
        );
    }
    let mut watch_identities = Vec::new();
    for pair in args.watch_identities.chunks(2) {
        let [issuer, identity] = pair else {
            return Err(Error::Usage("--watch-identity takes ISSUER IDENTITY".to_owned()).into());
        };
        let issuer =
            OidcIssuer::new(issuer).map_err(|e| Error::Usage(format!("--watch-identity: {e}")))?;
        let identity = parse_identity_pattern(identity)
            .map_err(|e| Error::Usage(format!("--watch-identity: {e}")))?;
        watch_identities.push((issuer, identity));
    }
    let max_age = args.max_age.unwrap_or(trust.max_age).as_secs().max(1);
    let server = Remote::http(&trust.url)?;
    let mirrors = args
        .mirrors
        .iter()
        .map(|m| Remote::http(m))
        .collect::<Result<Vec<_>, _>>()?;
    let webhook = match &args.webhook {
        Some(url) => {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| Error::Usage(format!("--webhook {url:?} is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(Error::Usage(format!("--webhook {url:?} must be http(s)")).into());
            }
            Some((url.clone(), http_client(Some(Duration::from_secs(10)))?))
        }
        None => None,
    };
    let dir = monitor_state(&state);
    let _lock = dir.lock("cairn monitor")?;
    let auditor = Auditor::new(trust, dir, watch, max_age, threads(args.threads))
        .with_watched_identities(watch_identities);
    loop {
        let mut alerts = Vec::new();
        let mut report = crate::output::report(args.verbose);
        let time = now();
        let result = auditor
            .round(&server, time, &mut report, &mut alerts, &mut |_, _, _| {
                Ok(())
            })
            .and_then(|round| {
                auditor.commit(&round)?;
                eprintln!(
                    "cairn: monitor: {} releases {} -> {}, keys {} -> {}",
                    auditor.trust().prefix(),
                    round.releases_before,
                    round.releases.size(),
                    round.keys_before.unwrap_or(0),
                    round.keylog.checkpoint.size()
                );
                for m in &mirrors {
                    // A mirror that cannot be read hides any split view it might show, so
                    // it is an alert, not a note on stderr.
                    if let Err(e) = auditor.check_mirror(&server, m, &round, &mut alerts) {
                        alerts.push(Alert::mirror_check_failed(&m.describe(), &e));
                    }
                }
                Ok(())
            });
        for alert in &alerts {
            emit(alert, time, webhook.as_ref());
        }
        let inconsistent = alerts
            .iter()
            .any(|a| a.kind == AlertKind::InconsistentCheckpoint);
        if args.once {
            return match result {
                Err(e) if !inconsistent => Err(e.into()),
                _ if inconsistent => Err(Failure::Alerts {
                    count: alerts.len(),
                    code: EXIT_INCONSISTENT,
                }
                .into()),
                _ if !alerts.is_empty() => Err(Failure::Alerts {
                    count: alerts.len(),
                    code: EXIT_ALERT,
                }
                .into()),
                _ => Ok(()),
            };
        }
        if let Err(e) = result {
            eprintln!("cairn: monitor: round failed (state not advanced): {e:#}");
        }
        std::thread::sleep(args.interval);
    }
}

/// Prints an alert (JSON on stdout, a line on stderr) and posts it to the webhook.
fn emit(alert: &Alert, time: u64, webhook: Option<&(String, reqwest::blocking::Client)>) {
    use std::io::Write as _;
    let json = alert.to_json(time);
    let line = json.to_string();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    eprintln!("cairn: ALERT {}: {}", alert.kind.as_str(), alert.message);
    if let Some((url, http)) = webhook {
        let sent = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(line)
            .send()
            .context("sending")
            .and_then(|r| {
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("answered HTTP {}", r.status().as_u16()))
                }
            });
        if let Err(e) = sent {
            eprintln!("cairn: monitor: webhook {url}: {e:#}");
        }
    }
}
