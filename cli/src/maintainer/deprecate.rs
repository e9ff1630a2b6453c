//! `cairn deprecate`: log that a published version should no longer be installed
//! (`cairn/deprecate/v1`), signed by a release key valid for the name.

use cairn_verifier::entry::{Advisory, Deprecation, Reason, ReleaseName, Version};
use cairn_verifier::note::Note;

use crate::maintainer::key_files::{LogKey, load_key};
use crate::maintainer::log_client::{self, LogClient, LogName};
use cairn_client::Error;

/// Arguments of `cairn deprecate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Release name.
    #[arg(long)]
    name: String,
    /// The deprecated version.
    #[arg(long)]
    version: String,
    /// Why (one line), shown to clients.
    #[arg(long)]
    reason: String,
    /// An advisory identifier (for example a CVE id).
    #[arg(long, value_name = "ID")]
    advisory: Option<String>,
    /// The version clients should install instead.
    #[arg(long, value_name = "VERSION")]
    replacement: Option<String>,
    /// A release signing key valid for NAME in the key log: a key file (mode 0600), a pkcs11:
    /// URI or an ssh-agent: key.
    #[arg(long = "key", value_name = "KEYREF")]
    key: String,
    /// The key's name (as in its verifier key); required when --key is a pkcs11: or ssh-agent:
    /// reference, which stores none.
    #[arg(long, value_name = "NAME")]
    key_name: Option<String>,
    /// The log's base URL.
    #[arg(long, value_name = "URL")]
    log: String,
    /// The log's verifier key: the returned proof's checkpoint must be signed by it.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    Error::Usage(e.to_string()).into()
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let name = ReleaseName::new(&args.name).map_err(|e| usage(format!("--name: {e}")))?;
    let version = Version::new(&args.version).map_err(|e| usage(format!("--version: {e}")))?;
    let reason = Reason::new(&args.reason).map_err(|e| usage(format!("--reason: {e}")))?;
    let advisory = args
        .advisory
        .as_deref()
        .map(|a| Advisory::new(a).map_err(|e| usage(format!("--advisory: {e}"))))
        .transpose()?;
    let replacement = args
        .replacement
        .as_deref()
        .map(|v| Version::new(v).map_err(|e| usage(format!("--replacement: {e}"))))
        .transpose()?;
    let deprecation =
        Deprecation::new(name, version, reason, advisory, replacement).map_err(usage)?;
    let signer = load_key(&args.key, args.key_name.as_deref())?;
    let client = LogClient::new(&args.log)?;
    let log_key = args.log_key.as_deref().map(LogKey::parse).transpose()?;
    let note = Note::sign(&deprecation.to_text(), &[&signer])
        .map_err(|e| usage(format!("the deprecation cannot be signed: {e}")))?;
    let logged = log_client::submit_and_check(
        &client,
        LogName::Releases,
        &note.to_bytes(),
        log_key.as_ref(),
    )?;
    log_client::warn_unverified(&logged.checkpoint);
    #[allow(clippy::print_stdout)] // The result is this command's data.
    if args.json {
        let value = serde_json::json!({
            "index": logged.index,
            "name": deprecation.name().as_str(),
            "version": deprecation.version().as_str(),
            "reason": deprecation.reason().as_str(),
            "advisory": deprecation.advisory().map(Advisory::as_str),
            "replacement": deprecation.replacement().map(Version::as_str),
        });
        println!("{value}");
    } else {
        println!(
            "{} {} deprecated at release-log index {}",
            deprecation.name(),
            deprecation.version(),
            logged.index
        );
    }
    Ok(())
}
