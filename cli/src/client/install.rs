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

use crate::client::hashing::hash_stream;
use crate::client::trust::ClientOptions;
use crate::client::verify::{CheckOptions, print_outcome, print_start_failure};
use cairn_client::Error;
use cairn_client::state::sync_dir;
use cairn_client::upstream::{
    download_client, error_chain, http_client, read_limited, request_deadline,
};
use cairn_client::verify::{ProofFile, Run, Verified, proof_path_for, read_proof};

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
    /// SOURCE is a zstd or xz image: install its decompressed content (to a file, sparse, or
    /// to a block device, read back and verified); both digests must match the log.
    #[arg(long)]
    decompress: bool,
    #[command(flatten)]
    checks: CheckOptions,
    #[command(flatten)]
    client: ClientOptions,
}

/// Longest wait for the download's headers or for any read of its body.
pub(crate) const STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The temporary file the signal handler must remove, if any.
static TEMPORARY: Mutex<Option<PathBuf>> = Mutex::new(None);

pub(crate) fn set_temporary(path: Option<PathBuf>) {
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
pub(crate) struct TemporaryGuard;

impl Drop for TemporaryGuard {
    fn drop(&mut self) {
        set_temporary(None);
    }
}

pub(crate) enum Source {
    Url(reqwest::Url),
    Local(PathBuf),
}

fn parse_source(source: &str) -> anyhow::Result<Source> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let url = reqwest::Url::parse(source)
            .map_err(|e| Error::Usage(format!("{source:?} is not a URL: {e}")))?;
        return Ok(Source::Url(url));
    }
    if source.contains("://") {
        return Err(Error::Usage(format!(
            "{source:?}: only http, https and local paths are supported"
        ))
        .into());
    }
    Ok(Source::Local(PathBuf::from(source)))
}

/// What to install and where: the arguments of `cairn install`, also built by `cairn update`.
pub(crate) struct Target<'a> {
    /// An http(s) URL or a local path.
    pub(crate) source: &'a str,
    /// Where to install it.
    pub(crate) to: &'a Path,
    /// The `.tlog-proof` to use (default: SOURCE.tlog-proof if it exists).
    pub(crate) proof: Option<&'a Path>,
    /// The checks.
    pub(crate) checks: &'a CheckOptions,
    /// Install the decompressed content of a zstd or xz artifact.
    pub(crate) decompress: bool,
}

/// The source, the destination's directory and file name, checked before the run starts.
pub(crate) struct Prepared {
    pub(crate) source: Source,
    pub(crate) dir: PathBuf,
    pub(crate) file_name: String,
}

fn prepare(target: &Target<'_>) -> anyhow::Result<Prepared> {
    let source = parse_source(target.source)?;
    if target.checks.offline && matches!(source, Source::Url(_)) {
        return Err(Error::Usage(
            "--offline allows no network access; SOURCE must be a local path".to_owned(),
        )
        .into());
    }
    let file_name = target
        .to
        .file_name()
        .ok_or_else(|| Error::Usage(format!("--to {}: not a file path", target.to.display())))?
        .to_string_lossy()
        .into_owned();
    if !target.decompress && is_block_device(target.to) {
        return Err(Error::Usage(format!(
            "--to {} is a block device; flashing an image needs --decompress (a raw image can be \
             installed to a file)",
            target.to.display()
        ))
        .into());
    }
    if target.to.is_dir() {
        return Err(Error::Usage(format!(
            "--to {} is a directory; give the file's path",
            target.to.display()
        ))
        .into());
    }
    let dir = match target.to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(Prepared {
        source,
        dir,
        file_name,
    })
}

/// Runs `cairn install`.
pub(crate) fn run(args: &InstallArgs) -> anyhow::Result<()> {
    let expected = args.checks.expected()?;
    let source = args.source.as_str();
    let target = Target {
        source,
        to: &args.to,
        proof: args.proof.as_deref(),
        checks: &args.checks,
        decompress: args.decompress,
    };
    let prepared = prepare(&target)?;
    let mut run = crate::client::verify::start_run(
        &args.client,
        &args.checks,
        crate::output::report(args.checks.verbose),
    )
    .inspect_err(|e| print_start_failure(e, &args.checks))?;
    install_signal_handler()?;
    let result = install(&mut run, &target, &prepared, &expected);
    print_outcome(
        &run.report,
        &result,
        args.checks.json,
        &args.to.display().to_string(),
    );
    crate::client::verify::record_last_result(
        &run,
        &result,
        "install",
        &args.to.display().to_string(),
    );
    result.map(|_| ())
}

/// Installs `target` within a run that already started (`cairn update`): download, verify,
/// rename, exactly as `cairn install`. Sets the interrupt handler, so call it once.
pub(crate) fn install_target(
    run: &mut Run,
    target: &Target<'_>,
    expected: &cairn_client::verify::Expected,
) -> anyhow::Result<Verified> {
    let prepared = prepare(target)?;
    install_signal_handler()?;
    install(run, target, &prepared, expected)
}

fn install(
    run: &mut Run,
    args: &Target<'_>,
    prepared: &Prepared,
    expected: &cairn_client::verify::Expected,
) -> anyhow::Result<Verified> {
    if args.decompress {
        return crate::client::flash::install_decompressed(run, args, prepared, expected);
    }
    let (source, dir, file_name) = (
        &prepared.source,
        prepared.dir.as_path(),
        &prepared.file_name,
    );
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

    // The proof comes first: the entry it carries names every file of the release with its
    // size, so the download is stopped as soon as it is larger than any of them (a hostile
    // or broken server cannot fill the disk before verification refuses the file).
    let proof = match args.proof {
        Some(p) => Some(
            read_proof(p)?
                .ok_or_else(|| Error::Usage(format!("--proof {}: no such file", p.display())))?,
        ),
        None => match source {
            Source::Url(url) => fetch_proof(&http_client(Some(request_deadline()))?, url)?,
            Source::Local(path) => read_proof(&proof_path_for(path))?,
        },
    };
    let limit = proof.as_ref().and_then(largest_logged_size);
    // reqwest's blocking timeout bounds each wait (the headers, every read), not the whole
    // transfer: a multi-GiB download may take long, a stalled one fails.
    let (input, total) = open_source(source, args.source, limit)?;
    let hashed = hash_stream(
        input,
        total,
        file_name,
        Some(temporary.as_file_mut() as &mut dyn std::io::Write),
    )
    .with_context(|| format!("reading {}", args.source))?;
    if let (Source::Url(url), Some(expected_len)) = (source, total)
        && expected_len != hashed.size
    {
        anyhow::bail!(
            "downloading {url}: got {} bytes, the server announced {expected_len}",
            hashed.size
        );
    }
    if let Some(limit) = limit
        && hashed.size > limit
    {
        return Err(too_large(args.source, limit, hashed.size).into());
    }
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
    // A Sigstore-authorised release: the bundle beside a local source (offline it must be
    // there); otherwise the client fetches the log's copy and checks it.
    let options = cairn_client::verify::Options {
        sigstore_bundle: match source {
            Source::Local(path) => Some(cairn_client::verify::sigstore_bundle_path_for(path)),
            Source::Url(_) => None,
        },
        ..args.checks.to_options()
    };
    let verified = run.verify(&hashed, proof.as_ref(), expected, &options)?;

    persist(temporary, args.to, dir)?;
    run.report
        .pass("install", format!("installed {}", args.to.display()));
    Ok(verified)
}

/// The largest file size the proof's release entry names, if the proof holds a release.
pub(crate) fn largest_logged_size(proof: &ProofFile) -> Option<u64> {
    let parsed = cairn_verifier::tlog_proof::TlogProof::parse(&proof.bytes).ok()?;
    let note = cairn_verifier::note::Note::parse(parsed.extra.as_deref()?).ok()?;
    let release = cairn_verifier::entry::Release::parse(note.text()).ok()?;
    release
        .artifacts()
        .iter()
        .chain(release.manifests())
        .map(|f| f.size)
        .max()
}

/// Opens the source of `install` (plain or `--decompress`): the download, refused early when it
/// announces more than `limit` bytes, or the local file; capped at `limit` + 1 bytes either way,
/// with the announced or on-disk length for progress. Downloads are never gzip-decoded
/// (`download_client`): the file is hashed as the host stores it.
pub(crate) fn open_source(
    source: &Source,
    label: &str,
    limit: Option<u64>,
) -> anyhow::Result<(Box<dyn std::io::Read + Send>, Option<u64>)> {
    match source {
        Source::Url(url) => {
            let http = download_client(Some(STALL_TIMEOUT))?;
            let response = http
                .get(url.clone())
                .send()
                .map_err(|e| anyhow::anyhow!("downloading {url}: {}", error_chain(&e)))?;
            let status = response.status();
            if !status.is_success() {
                anyhow::bail!("downloading {url}: HTTP {}", status.as_u16());
            }
            let total = response.content_length();
            if let (Some(total), Some(limit)) = (total, limit)
                && total > limit
            {
                return Err(too_large(label, limit, total).into());
            }
            Ok((Box::new(capped(response, limit)), total))
        }
        Source::Local(path) => {
            let file =
                fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let total = file.metadata().ok().map(|m| m.len());
            Ok((Box::new(capped(file, limit)), total))
        }
    }
}

/// Moves a verified temporary file into place: the destination's permission bits (or 0644),
/// then the rename, then the directory's fsync. Never setuid, setgid or sticky: a verified
/// file gains no privilege from what it replaces. The destination itself is looked at, not
/// what a symlink there points to (the rename replaces the link, so its target's mode is not
/// the file's). `install` and `install --decompress` both end here.
pub(crate) fn persist(
    temporary: tempfile::NamedTempFile,
    to: &Path,
    dir: &Path,
) -> anyhow::Result<()> {
    let mode = fs::symlink_metadata(to)
        .ok()
        .filter(fs::Metadata::is_file)
        .map_or(0o644, |m| m.permissions().mode() & 0o777);
    temporary
        .as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .context("setting the installed file's mode")?;
    temporary
        .persist(to)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming into {}", to.display()))?;
    sync_dir(dir);
    Ok(())
}

/// `reader`, stopped one byte past `limit` so an oversized file is noticed without reading it all.
pub(crate) fn capped<R: std::io::Read>(reader: R, limit: Option<u64>) -> std::io::Take<R> {
    reader.take(limit.map_or(u64::MAX, |l| l.saturating_add(1)))
}

pub(crate) fn too_large(source: &str, limit: u64, got: u64) -> Error {
    Error::Refused(format!(
        "{source} is larger ({got}+ bytes) than any file its log entry names (at most {limit} \
         bytes); the download was stopped"
    ))
}

/// `URL.tlog-proof`, if the server has it (404: no proof; any other failure is an error).
pub(crate) fn fetch_proof(
    http: &reqwest::blocking::Client,
    url: &reqwest::Url,
) -> anyhow::Result<Option<ProofFile>> {
    let mut proof_url = url.clone();
    proof_url.set_path(&format!("{}.tlog-proof", url.path()));
    let response = http
        .get(proof_url.clone())
        .send()
        .map_err(|e| anyhow::anyhow!("fetching {proof_url}: {}", error_chain(&e)))?;
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

/// Whether `path` is a block device (a disk to flash).
pub(crate) fn is_block_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}
