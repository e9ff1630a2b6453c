//! `cairn sigstore verify`: check a Sigstore bundle over a file, offline, with
//! `cairn-sigstore` (spec/sigstore.md). Exit 0 verified, 3 refused (the reason on stderr),
//! 1 error (a file could not be read), 2 usage.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cairn_sigstore::{
    Artifact, IdentityMatcher, Policy, SignerKey, TimeSource, TrustedRoot, Verdict, verify_bundle,
};
use serde_json::json;

use crate::client::hashing::hash_stream;
use cairn_client::Error;

/// Artifacts up to this size are read into memory, so that Ed25519 message signatures (which
/// sign the bytes, not a digest) can be checked; larger ones are hashed while streaming.
const IN_MEMORY_ARTIFACT: u64 = 64 << 20;

/// `cairn sigstore ...`
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Verify a Sigstore bundle over a file, offline: certificate chain, SCTs, identity,
    /// signature, transparency-log entry, inclusion proof, timestamps.
    Verify(VerifyArgs),
}

/// `cairn sigstore verify`
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("signer").required(true).args(["identity", "public_key"])))]
pub(crate) struct VerifyArgs {
    /// The bundle (`*.sigstore.json`, format 0.1 to 0.3).
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// The signed file (for DSSE bundles: a subject of the in-toto statement).
    #[arg(long, value_name = "FILE")]
    artifact: PathBuf,
    /// The certificate identity (URI or email SAN), exactly, or `...@refs/tags/*` for a
    /// workflow at any tag.
    #[arg(long, value_name = "ID", requires = "issuer")]
    identity: Option<String>,
    /// The OIDC issuer of the certificate, exactly (for example `https://token.actions.githubusercontent.com`).
    #[arg(long, value_name = "URL", requires = "identity")]
    issuer: Option<String>,
    /// Verify a bundle signed with this public key (a PEM file) instead of a certificate
    /// identity. (Old spelling: --key.)
    #[arg(long = "public-key", alias = "key", value_name = "PEM", conflicts_with_all = ["identity", "issuer"])]
    public_key: Option<PathBuf>,
    /// The Sigstore trusted root (`trusted_root.json`); default: the public-good production
    /// root shipped with Cairn.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// Print the verdict as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        Command::Verify(v) => verify(v),
    }
}

fn read_limited(path: &Path, limit: usize, what: &str) -> anyhow::Result<Vec<u8>> {
    let file =
        File::open(path).with_context(|| format!("cannot open {what} {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if bytes.len() > limit {
        return Err(Error::Refused(format!(
            "{what} {} is larger than {limit} bytes",
            path.display()
        ))
        .into());
    }
    Ok(bytes)
}

fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let policy = match (&args.identity, &args.issuer, &args.public_key) {
        (Some(identity), Some(issuer), None) => Policy::Identity {
            identity: IdentityMatcher::parse(identity)
                .map_err(|e| Error::Usage(format!("--identity: {e}")))?,
            issuer: issuer.clone(),
        },
        (None, None, Some(path)) => {
            let pem = read_limited(path, 64 * 1024, "key")?;
            Policy::Key(
                SignerKey::from_pem(&pem)
                    .map_err(|e| Error::Refused(format!("key {}: {e}", path.display())))?,
            )
        }
        _ => {
            return Err(
                Error::Usage("give --identity with --issuer, or --public-key".to_owned()).into(),
            );
        }
    };
    let root = match &args.trusted_root {
        None => TrustedRoot::production(),
        Some(path) => {
            let bytes = read_limited(path, cairn_sigstore::MAX_TRUSTED_ROOT_SIZE, "trusted root")?;
            TrustedRoot::from_json(&bytes)
                .map_err(|e| Error::Refused(format!("trusted root {}: {e}", path.display())))?
        }
    };
    let bundle = read_limited(&args.bundle, cairn_sigstore::MAX_BUNDLE_SIZE, "bundle")?;

    let file = File::open(&args.artifact)
        .with_context(|| format!("cannot open artifact {}", args.artifact.display()))?;
    let size = file
        .metadata()
        .with_context(|| format!("cannot stat artifact {}", args.artifact.display()))?
        .len();
    let in_memory;
    let artifact = if size <= IN_MEMORY_ARTIFACT {
        let mut bytes = Vec::new();
        file.take(IN_MEMORY_ARTIFACT + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read artifact {}", args.artifact.display()))?;
        in_memory = bytes;
        Artifact::Bytes(&in_memory)
    } else {
        let hashed = hash_stream(file, Some(size), "hashing", None)
            .with_context(|| format!("cannot read artifact {}", args.artifact.display()))?;
        Artifact::Sha256(*hashed.digest.as_bytes())
    };

    let verdict = verify_bundle(&bundle, artifact, &root, &policy)
        .map_err(|e| Error::Refused(format!("bundle {}: {e}", args.bundle.display())))?;
    print_verdict(&verdict, args.json);
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[allow(clippy::print_stdout)] // The verdict is this command's data.
fn print_verdict(verdict: &Verdict, as_json: bool) {
    let (identity, issuer) = match &verdict.signer {
        cairn_sigstore::Signer::Certificate { identity, issuer } => {
            (Some(identity.as_str()), Some(issuer.as_str()))
        }
        _ => (None, None),
    };
    if as_json {
        let times: Vec<_> = verdict
            .times
            .iter()
            .map(|t| {
                let source = match &t.source {
                    TimeSource::Rekor { log } => json!({"rekor": log}),
                    _ => json!("timestamp-authority"),
                };
                json!({"time": t.time.to_string(), "source": source})
            })
            .collect();
        let entries: Vec<_> = verdict
            .log_entries
            .iter()
            .map(|e| {
                json!({"log": e.log, "origin": e.origin, "index": e.index, "tree_size": e.tree_size})
            })
            .collect();
        let out = json!({
            "verified": true,
            "artifact_sha256": hex(&verdict.artifact_sha256),
            "signer": if identity.is_some() { "certificate" } else { "key" },
            "identity": identity,
            "issuer": issuer,
            "signed_at": verdict.signed_at().to_string(),
            "integrated_time": verdict.integrated_time().map(|t| t.to_string()),
            "predicate_type": verdict.predicate_type,
            "times": times,
            "log_entries": entries,
        });
        println!("{out}");
        return;
    }
    let who = match (identity, issuer) {
        (Some(id), Some(iss)) => format!("{id} (issuer {iss})"),
        _ => "the given key".to_owned(),
    };
    println!(
        "verified: sha256:{} signed by {who} at {}",
        hex(&verdict.artifact_sha256),
        verdict.signed_at()
    );
    for e in &verdict.log_entries {
        println!(
            "  logged: {} index {} (inclusion proved in tree size {})",
            e.log, e.index, e.tree_size
        );
    }
}
