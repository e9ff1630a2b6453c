//! `cairn verify`: arguments, printing and exit codes. The algorithm is the client library's
//! (`cairn_client::verify`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use cairn_client::Error;
use cairn_client::channels::{Channel, Channels, parse_channel};
use cairn_client::state::Slot;
use cairn_client::verify::{
    Expected, Options, Run, Verified, proof_path_for, read_proof, sigstore_bundle_path_for,
};
use cairn_verifier::entry::{ReleaseName, Version};
use serde_json::json;

use crate::client::hashing::hash_stream;
use crate::client::trust::ClientOptions;
use cairn_client::report::Report;

/// Arguments of `cairn verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The artifact to verify.
    file: PathBuf,
    /// The artifact's `.tlog-proof` (default: FILE.tlog-proof if it exists).
    #[arg(long, value_name = "FILE.tlog-proof")]
    proof: Option<PathBuf>,
    /// FILE is a zstd or xz image: also decompress it (writing nothing) and check the
    /// decompressed content's digest and size against the log.
    #[arg(long)]
    decompress: bool,
    #[command(flatten)]
    checks: CheckOptions,
    #[command(flatten)]
    client: ClientOptions,
}

/// Options `verify` and `install` share.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CheckOptions {
    /// The release name the artifact must belong to.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// The release version the artifact must belong to.
    #[arg(long, value_name = "VERSION")]
    pub(crate) version: Option<String>,
    /// No network access at all: the proof file and the stored or given key log only.
    #[arg(long)]
    pub(crate) offline: bool,
    /// Key-log snapshot (`cairn keylog export`) to use instead of fetching the key log.
    #[arg(long, value_name = "SNAPSHOT")]
    pub(crate) keylog: Option<PathBuf>,
    /// Fail (exit 3) when the release is deprecated, instead of warning.
    #[arg(long)]
    pub(crate) refuse_deprecated: bool,
    /// Print one JSON object with every check and the entry on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Print each check on stderr.
    #[arg(short, long)]
    pub(crate) verbose: bool,
    #[command(flatten)]
    pub(crate) channels: ChannelOptions,
}

impl CheckOptions {
    /// Parses `--name` and `--version` and checks the option combination (exit 2 when they
    /// cannot be valid).
    pub(crate) fn expected(&self) -> anyhow::Result<Expected> {
        self.channels.to_channels().check_usage(self.offline)?;
        let name = self
            .name
            .as_deref()
            .map(ReleaseName::new)
            .transpose()
            .map_err(|e| Error::Usage(format!("--name: {e}")))?;
        let version = self
            .version
            .as_deref()
            .map(Version::new)
            .transpose()
            .map_err(|e| Error::Usage(format!("--version: {e}")))?;
        Ok(Expected { name, version })
    }

    /// The library's options for these flags.
    pub(crate) fn to_options(&self) -> Options {
        Options {
            keylog: self.keylog.clone(),
            refuse_deprecated: self.refuse_deprecated,
            channels: self.channels.to_channels(),
            sigstore_bundle: None,
        }
    }
}

/// `--channel` and `--dns-server`, shared by `verify` and `install`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ChannelOptions {
    /// Also fetch the release checkpoint from this channel, verify it and require it to be
    /// consistent with the log's: dns:NAME (TXT record), url:URL (update-latest.txt or a
    /// checkpoint), git+URL (the log's git branch). Repeat for several; every one is checked.
    #[arg(long = "channel", value_name = "CHANNEL", value_parser = parse_channel)]
    pub(crate) channels: Vec<Channel>,
    /// The DNS server for dns: channels (default: the system's resolver configuration).
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) dns_server: Option<SocketAddr>,
}

impl ChannelOptions {
    /// The library's form of these options.
    pub(crate) fn to_channels(&self) -> Channels {
        Channels {
            channels: self.channels.clone(),
            dns_server: self.dns_server,
        }
    }
}

/// Starts a run of the client algorithm with the state directory and trust policy of
/// `client`, online unless `--offline`.
pub(crate) fn start_run(
    client: &ClientOptions,
    checks: &CheckOptions,
    report: Report,
) -> anyhow::Result<Run> {
    let (state, trust) = client.load()?;
    Ok(if checks.offline {
        Run::offline(state, trust, report)
    } else {
        Run::online(state, trust, report)?
    })
}

/// The exit code and verdict word for a run's result.
pub(crate) fn classify(result: &anyhow::Result<Verified>) -> (&'static str, u8) {
    match result {
        Ok(_) => ("ok", 0),
        Err(e) => crate::exit::classify(e),
    }
}

/// Prints the outcome: the JSON object on stdout with `--json`, else the verdict line on
/// stdout when verified (errors are printed by `exit::report`).
#[allow(clippy::print_stdout)] // The verdict is this command's data.
pub(crate) fn print_outcome(
    report: &Report,
    result: &anyhow::Result<Verified>,
    json_out: bool,
    what: &str,
) {
    let (verdict, code) = classify(result);
    if json_out {
        let error = result.as_ref().err().map(|e| format!("{e:#}"));
        println!("{}", report.to_json(verdict, code, error));
    } else if let Ok(v) = result {
        let mut line = format!(
            "OK {what}: {} {} {} (release-log index {})",
            v.release.name(),
            v.release.version(),
            v.file_name,
            v.index
        );
        if v.deprecated {
            line.push_str(" DEPRECATED");
        }
        if v.deprecation_unchecked.is_some() {
            line.push_str(" (deprecation not checked)");
        }
        println!("{line}");
        for c in &report.channels {
            println!(
                "channel {}: size {} {} (log size {})",
                c["channel"].as_str().unwrap_or_default(),
                c["size"],
                match c["relation"].as_str() {
                    Some("same") => "agrees with the log",
                    Some("older") => "is consistent with the log",
                    _ => "is ahead of the log and consistent with it",
                },
                c["log_size"]
            );
        }
    }
}

/// With `--json`, a run that could not start (bad arguments, no trust policy) still prints its
/// one JSON object.
pub(crate) fn print_start_failure(error: &anyhow::Error, checks: &CheckOptions) {
    if checks.json {
        let result: anyhow::Result<Verified> = Err(anyhow::anyhow!("{error:#}"));
        let (verdict, code) = match crate::exit::classify(error) {
            ("usage-error", 2) => ("usage-error", 2),
            _ => classify(&result),
        };
        #[allow(clippy::print_stdout)] // The JSON object is this command's data.
        {
            println!(
                "{}",
                Report::default().to_json(verdict, code, Some(format!("{error:#}")))
            );
        }
    }
}

/// Runs `cairn verify`.
pub(crate) fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    let started = args.checks.expected().and_then(|expected| {
        let run = crate::client::verify::start_run(
            &args.client,
            &args.checks,
            crate::output::report(args.checks.verbose),
        )?;
        Ok((expected, run))
    });
    let (expected, mut run) = started.inspect_err(|e| print_start_failure(e, &args.checks))?;
    let result = verify_file(&mut run, args, &expected);
    print_outcome(
        &run.report,
        &result,
        args.checks.json,
        &args.file.display().to_string(),
    );
    record_last_result(&run, &result, "verify", &args.file.display().to_string());
    result.map(|_| ())
}

/// The file in the log's state directory where `verify` and `install` record their last
/// outcome, for `cairn status`.
pub(crate) const LAST_RESULT_FILE: &str = "last-result.json";

/// Records this run's outcome for `cairn status`. Best effort: a client whose state directory
/// cannot take it still gets its verdict, with a warning.
pub(crate) fn record_last_result(
    run: &Run,
    result: &anyhow::Result<Verified>,
    command: &str,
    what: &str,
) {
    let (verdict, code) = classify(result);
    let record = json!({
        "command": command,
        "file": what,
        "time": run.now,
        "verdict": verdict,
        "exit": code,
        "error": result.as_ref().err().map(|e| format!("{e:#}")),
        "name": result.as_ref().ok().map(|v| v.release.name().as_str().to_owned()),
        "version": result.as_ref().ok().map(|v| v.release.version().as_str().to_owned()),
        "index": result.as_ref().ok().map(|v| v.index),
    });
    let written = Slot::named(LAST_RESULT_FILE).and_then(|slot| {
        run.store
            .write(&run.trust, &slot, format!("{record}\n").as_bytes())
    });
    if let Err(e) = written {
        eprintln!("cairn: warning: could not record the result for `cairn status`: {e:#}");
    }
}

fn verify_file(run: &mut Run, args: &VerifyArgs, expected: &Expected) -> anyhow::Result<Verified> {
    let proof = match &args.proof {
        Some(p) => Some(
            read_proof(p)?
                .ok_or_else(|| Error::Usage(format!("--proof {}: no such file", p.display())))?,
        ),
        None => read_proof(&proof_path_for(&args.file))?,
    };
    // A release a Sigstore bundle authorises is checked with FILE.sigstore.json when it is
    // there (offline it must be); online the log's copy is fetched otherwise.
    let options = Options {
        sigstore_bundle: Some(sigstore_bundle_path_for(&args.file)),
        ..args.checks.to_options()
    };
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let total = file.metadata().ok().map(|m| m.len());
    let label = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if args.decompress {
        let shown = args.file.display().to_string();
        let (_, streamed) = crate::client::decompress::stream(
            file,
            &shown,
            total,
            None,
            None,
            &mut std::io::sink(),
        )
        .map_err(|e| crate::client::flash::stream_failure(e, &shown))?;
        crate::client::flash::report_hashes(&mut run.report, &shown, Some(&args.file), &streamed);
        let verified = run.verify(&streamed.compressed, proof.as_ref(), expected, &options)?;
        cairn_client::verify::check_decompressed(
            &mut run.report,
            &verified,
            &streamed.decompressed,
        )?;
        return Ok(verified);
    }
    let hashed = hash_stream(file, total, &label, None)
        .with_context(|| format!("reading {}", args.file.display()))?;
    run.report.pass(
        "hash",
        format!(
            "{}: sha256:{} ({} bytes)",
            args.file.display(),
            hashed.digest.to_hex(),
            hashed.size
        ),
    );
    run.report.artifact = Some(json!({
        "path": args.file.display().to_string(),
        "sha256": hashed.digest.to_hex(),
        "size": hashed.size,
    }));
    Ok(run.verify(&hashed, proof.as_ref(), expected, &options)?)
}
