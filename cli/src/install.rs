//! `cairn install SOURCE --to PATH`: download (or copy) an artifact, hashing it as it arrives,
//! into a temporary file beside PATH; verify it exactly as `cairn verify` does; rename it into
//! place only when every check passed (`spec/client.md` step 6).
//!
//! PATH is never opened for writing. The temporary file is removed on every failure: by
//! [`tempfile::NamedTempFile`]'s drop on errors and panics, and by a Ctrl-C/SIGTERM handler that
//! removes it before the process exits (drops do not run when a signal kills the process).

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context as _;
use serde_json::json;

use crate::exit::Failure;
use crate::fetch::{download_client, http_client, read_limited};
use crate::hashing::hash_stream;
use crate::report::Report;
use crate::state::sync_dir;
use crate::trust::ClientOptions;
use crate::verify::{
    CheckOptions, ProofFile, Run, Verified, print_outcome, print_start_failure, proof_path_for,
    read_proof,
};

/// Arguments of `cairn install`.
#[derive(Debug, clap::Args)]
pub(crate) struct InstallArgs {
    /// An http(s) URL or a local path. Its proof is SOURCE.tlog-proof if that exists.
    source: String,
    /// Where to install the verified artifact.
    #[arg(long, value_name = "PATH")]
    to: PathBuf,
    /// The artifact's `.tlog-proof` (default: SOURCE.tlog-proof if it exists).
    #[arg(long, value_name = "FILE.tlog-proof")]
    proof: Option<PathBuf>,
    #[command(flatten)]
    checks: CheckOptions,
    #[command(flatten)]
    client: ClientOptions,
}

/// Longest wait for the download's headers or for any read of its body.
const STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The temporary file the signal handler must remove, if any.
static TEMPORARY: Mutex<Option<PathBuf>> = Mutex::new(None);

fn set_temporary(path: Option<PathBuf>) {
    if let Ok(mut slot) = TEMPORARY.lock() {
        *slot = path;
    }
}

/// Installs the Ctrl-C / SIGTERM handler once: remove the temporary file, exit 130.
fn install_signal_handler() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        if let Ok(mut slot) = TEMPORARY.lock()
            && let Some(path) = slot.take()
        {
            let _ = fs::remove_file(&path);
        }
        eprintln!("cairn: interrupted; nothing was installed");
        std::process::exit(130);
    })
    .context("installing the interrupt handler")
}

/// Clears the handler's path when the temporary file is gone (persisted or dropped).
struct TemporaryGuard;

impl Drop for TemporaryGuard {
    fn drop(&mut self) {
        set_temporary(None);
    }
}

enum Source {
    Url(reqwest::Url),
    Local(PathBuf),
}

fn parse_source(source: &str) -> anyhow::Result<Source> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let url = reqwest::Url::parse(source)
            .map_err(|e| Failure::Usage(format!("{source:?} is not a URL: {e}")))?;
        return Ok(Source::Url(url));
    }
    if source.contains("://") {
        return Err(Failure::Usage(format!(
            "{source:?}: only http, https and local paths are supported"
        ))
        .into());
    }
    Ok(Source::Local(PathBuf::from(source)))
}

/// Runs `cairn install`.
pub(crate) fn run(args: &InstallArgs) -> anyhow::Result<()> {
    let expected = args.checks.expected()?;
    let source = parse_source(&args.source)?;
    if args.checks.offline && matches!(source, Source::Url(_)) {
        return Err(Failure::Usage(
            "--offline allows no network access; SOURCE must be a local path".to_owned(),
        )
        .into());
    }
    let file_name = args
        .to
        .file_name()
        .ok_or_else(|| Failure::Usage(format!("--to {}: not a file path", args.to.display())))?
        .to_string_lossy()
        .into_owned();
    if args.to.is_dir() {
        return Err(Failure::Usage(format!(
            "--to {} is a directory; give the file's path",
            args.to.display()
        ))
        .into());
    }
    let dir = match args.to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut run = Run::start(&args.client, &args.checks, Report::new(args.checks.verbose))
        .inspect_err(|e| print_start_failure(e, &args.checks))?;
    install_signal_handler()?;
    let result = install(&mut run, args, &source, &dir, &file_name, &expected);
    print_outcome(
        &run.report,
        &result,
        args.checks.json,
        &args.to.display().to_string(),
    );
    result.map(|_| ())
}

fn install(
    run: &mut Run,
    args: &InstallArgs,
    source: &Source,
    dir: &Path,
    file_name: &str,
    expected: &crate::verify::Expected,
) -> anyhow::Result<Verified> {
    // The guard is dropped after the temporary file (reverse order), so the signal handler
    // never points at a path that was reused. After the rename the temporary path no longer
    // exists, so a late signal removes nothing.
    let _guard = TemporaryGuard;
    let mut temporary = tempfile::Builder::new()
        .prefix(&format!(".{file_name}.cairn-"))
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    set_temporary(Some(temporary.path().to_path_buf()));

    let given_proof = match &args.proof {
        Some(p) => Some(
            read_proof(p)?
                .ok_or_else(|| Failure::Usage(format!("--proof {}: no such file", p.display())))?,
        ),
        None => None,
    };
    let (hashed, proof) = match source {
        Source::Url(url) => {
            // reqwest's blocking timeout bounds each wait (the headers, every read), not the
            // whole transfer: a multi-GiB download may take long, a stalled one fails. The
            // file is hashed as the host stores it, never gzip-decoded (`download_client`).
            let http = download_client(Some(STALL_TIMEOUT))?;
            let response = http
                .get(url.clone())
                .send()
                .with_context(|| format!("downloading {url}"))?;
            let status = response.status();
            if !status.is_success() {
                anyhow::bail!("downloading {url}: HTTP {status}");
            }
            let total = response.content_length();
            let hashed = hash_stream(
                response,
                total,
                file_name,
                Some(temporary.as_file_mut() as &mut dyn std::io::Write),
            )
            .with_context(|| format!("downloading {url}"))?;
            if let Some(expected_len) = total
                && expected_len != hashed.size
            {
                anyhow::bail!(
                    "downloading {url}: got {} bytes, the server announced {expected_len}",
                    hashed.size
                );
            }
            let proof = match given_proof {
                Some(p) => Some(p),
                None => fetch_proof(&http_client(Some(STALL_TIMEOUT))?, url)?,
            };
            (hashed, proof)
        }
        Source::Local(path) => {
            let file =
                fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let total = file.metadata().ok().map(|m| m.len());
            let hashed = hash_stream(
                file,
                total,
                file_name,
                Some(temporary.as_file_mut() as &mut dyn std::io::Write),
            )
            .with_context(|| format!("copying {}", path.display()))?;
            let proof = match given_proof {
                Some(p) => Some(p),
                None => read_proof(&proof_path_for(path))?,
            };
            (hashed, proof)
        }
    };
    temporary
        .as_file()
        .sync_all()
        .context("syncing the downloaded file")?;
    let digest_hex: String = hashed
        .digest
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    run.report.pass(
        "hash",
        format!(
            "{}: sha256:{digest_hex} ({} bytes)",
            args.source, hashed.size
        ),
    );
    run.report.artifact = Some(json!({
        "source": args.source,
        "path": args.to.display().to_string(),
        "sha256": digest_hex,
        "size": hashed.size,
    }));
    if proof.is_none() {
        run.report.skip(
            "proof",
            format!(
                "{}.tlog-proof not found: looking the artifact up in the log",
                args.source
            ),
        );
    }
    let verified = run.verify(&hashed, proof.as_ref(), expected, &args.checks)?;

    // Every check passed: give the file the destination's mode (or 0644) and rename it.
    let mode = fs::metadata(&args.to)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    temporary
        .as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .context("setting the installed file's mode")?;
    temporary
        .persist(&args.to)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming into {}", args.to.display()))?;
    sync_dir(dir);
    run.report
        .pass("install", format!("installed {}", args.to.display()));
    Ok(verified)
}

/// `URL.tlog-proof`, if the server has it (404: no proof; any other failure is an error).
fn fetch_proof(
    http: &reqwest::blocking::Client,
    url: &reqwest::Url,
) -> anyhow::Result<Option<ProofFile>> {
    let mut proof_url = url.clone();
    proof_url.set_path(&format!("{}.tlog-proof", url.path()));
    let response = http
        .get(proof_url.clone())
        .send()
        .with_context(|| format!("fetching {proof_url}"))?;
    let status = response.status().as_u16();
    if status == 404 {
        return Ok(None);
    }
    let bytes = read_limited(response, cairn_verifier::tlog_proof::MAX_TLOG_PROOF_SIZE)
        .map_err(|e| anyhow::anyhow!("fetching {proof_url}: {e}"))?;
    if status != 200 {
        anyhow::bail!("fetching {proof_url}: HTTP {status}");
    }
    Ok(Some(ProofFile {
        source: proof_url.to_string(),
        bytes,
    }))
}
