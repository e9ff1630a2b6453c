//! `cairn publish`: hash the files of a release, sign the `cairn/release/v1` statement, submit it,
//! check the log's proof, and write `FILE.tlog-proof` beside every file. With `--sigstore-bundle`
//! the release is authorised by the bundle instead of a key (spec/entries.md 5.1): the bundle is
//! submitted with the entry and copied beside the file as `FILE.sigstore.json`.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use cairn_client::verify::sigstore_bundle_path_for;
use cairn_log_server::sigstore_check::MAX_SIGSTORE_SUBMISSION;
use cairn_verifier::entry::{
    CertIdentity, Decompressed, FileName, FileRef, OidcIssuer, Release, ReleaseName, Sha256Digest,
    SigstoreSigner, Version,
};
use cairn_verifier::keylog::sigstore_release_note;
use cairn_verifier::note::Note;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest as _, Sha256};

use crate::atomic_file::{self, Existing};
use crate::client::decompress::Format;
use crate::maintainer::key_files::{LogKey, load_key};
use crate::maintainer::log_client::{self, LogClient, LogName, Logged};
use cairn_client::Error;

/// Files at least this large get a progress bar while they are hashed (on a terminal).
const PROGRESS_THRESHOLD: u64 = 64 << 20;
/// Read size while hashing: large enough that SHA-256 (with the CPU's SHA extensions, which
/// `sha2` detects at run time) dominates, not system calls.
const READ_BUFFER: usize = 1 << 20;

/// Arguments of `cairn publish`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The release's artifacts; `FILE.tlog-proof` is written beside each.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Release name (for example `example/installer-amd64`).
    #[arg(long)]
    name: String,
    /// Release version.
    #[arg(long)]
    version: String,
    /// The release signing key, valid for NAME in the key log: a key file (mode 0600), a
    /// pkcs11: URI or an ssh-agent: key (docs/maintainers.md, "Keys on hardware").
    #[arg(
        long = "key",
        value_name = "KEYREF",
        required_unless_present = "sigstore_bundle",
        conflicts_with = "sigstore_bundle"
    )]
    key: Option<String>,
    /// Authorise the release by this Sigstore bundle of FILE (from `cosign sign-blob
    /// --bundle` or `sigstore sign`) instead of a key: its identity needs a grant for NAME in
    /// the key log. One FILE, no --manifest; the bundle is copied to FILE.sigstore.json.
    #[arg(long, value_name = "BUNDLE", conflicts_with = "key_name")]
    sigstore_bundle: Option<PathBuf>,
    /// The key's name (as in its verifier key); required when --key is a pkcs11: or ssh-agent:
    /// reference, which stores none.
    #[arg(long, value_name = "NAME")]
    key_name: Option<String>,
    /// The log's base URL.
    #[arg(long, value_name = "URL")]
    log: String,
    /// An image manifest or SBOM of the release (repeatable); gets a `.tlog-proof` too.
    #[arg(long = "manifest", value_name = "FILE")]
    manifests: Vec<PathBuf>,
    /// The log's verifier key: the returned proof's checkpoint must be signed by it.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// Replace existing `.tlog-proof` files instead of refusing.
    #[arg(long)]
    force: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// One file of the release, before and after hashing.
struct Item {
    path: PathBuf,
    file_name: FileName,
    proof_path: PathBuf,
    manifest: bool,
    digest: Option<(Sha256Digest, u64)>,
    /// For a zstd- or xz-compressed artifact: the decompressed content's digest and size.
    decompressed: Option<Decompressed>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    // Everything that can be refused locally is, before any file is hashed or anything sent.
    let name = ReleaseName::new(&args.name).map_err(|e| usage(format!("--name: {e}")))?;
    let version = Version::new(&args.version).map_err(|e| usage(format!("--version: {e}")))?;
    let mut items = Vec::new();
    for (path, manifest) in args
        .files
        .iter()
        .map(|p| (p, false))
        .chain(args.manifests.iter().map(|p| (p, true)))
    {
        items.push(item(path, manifest, args.force)?);
    }
    let sigstore = match &args.sigstore_bundle {
        Some(path) => Some(read_bundle(path, &items)?),
        None => None,
    };
    let signer = match (&args.key, &sigstore) {
        (Some(key), None) => Some(load_key(key, args.key_name.as_deref())?),
        _ => None,
    };
    let client = LogClient::new(&args.log)?;
    let log_key = args.log_key.as_deref().map(LogKey::parse).transpose()?;
    for item in &mut items {
        // A compressed image also gets its decompressed content's digest (one pass: the
        // compressed bytes are hashed as they are decompressed).
        let format = if item.manifest {
            None
        } else {
            Format::of_file(&item.path)
                .with_context(|| format!("cannot read {}", item.path.display()))?
        };
        match format {
            Some(_) => {
                let (digest, decompressed) = hash_compressed(&item.path)?;
                item.digest = Some(digest);
                item.decompressed = Some(decompressed);
            }
            None => item.digest = Some(hash_file(&item.path)?),
        }
    }
    let file_ref = |item: &Item| {
        item.digest.map(|(digest, size)| FileRef {
            digest,
            size,
            file_name: item.file_name.clone(),
        })
    };
    let artifacts = items
        .iter()
        .filter(|i| !i.manifest)
        .filter_map(file_ref)
        .collect();
    let manifests = items
        .iter()
        .filter(|i| i.manifest)
        .filter_map(file_ref)
        .collect();
    let mut release = Release::new(name, version, artifacts, manifests).map_err(usage)?;
    for item in &items {
        if let Some(d) = item.decompressed {
            release = release
                .with_decompressed(&item.file_name, d)
                .map_err(usage)?;
        }
    }
    let logged = match (&sigstore, &signer) {
        (Some(bundle), _) => {
            release = release
                .with_sigstore(bundle.signer.clone())
                .map_err(usage)?;
            let entry = sigstore_release_note(&release).map_err(usage)?;
            let reply = client.submit_sigstore(&release.to_text(), &bundle.bytes)?;
            log_client::check_proof(&reply, LogName::Releases, &entry, log_key.as_ref())?
        }
        (None, Some(signer)) => {
            let note = Note::sign(&release.to_text(), &[signer])
                .map_err(|e| usage(format!("the release statement cannot be signed: {e}")))?;
            let entry = note.to_bytes();
            log_client::submit_and_check(&client, LogName::Releases, &entry, log_key.as_ref())?
        }
        (None, None) => return Err(usage("--key or --sigstore-bundle is required")),
    };
    log_client::warn_unverified(&logged.checkpoint);
    let existing = if args.force {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    for item in &items {
        atomic_file::write(&item.proof_path, &logged.proof, 0o644, existing).with_context(
            || {
                format!(
                    "the release is logged at index {}, but its proof could not be written \
                 (GET {}/releases/proof/{} serves one)",
                    logged.index,
                    args.log.trim_end_matches('/'),
                    logged.index
                )
            },
        )?;
    }
    if let (Some(bundle), Some(item)) = (&sigstore, items.first()) {
        let beside = sigstore_bundle_path_for(&item.path);
        let same = args
            .sigstore_bundle
            .as_deref()
            .is_some_and(|given| same_file(given, &beside));
        if !same {
            atomic_file::write(&beside, &bundle.bytes, 0o644, existing).with_context(|| {
                format!(
                    "the release is logged at index {}, but its bundle could not be copied                      beside the file",
                    logged.index
                )
            })?;
        }
    }
    summary(args.json, &release, &items, &logged);
    Ok(())
}

/// A Sigstore bundle given to `--sigstore-bundle`, and the `sigstore` line it leads to.
struct Bundle {
    bytes: Vec<u8>,
    signer: SigstoreSigner,
}

/// Reads the bundle and the signer its certificate names (unverified here: the log checks it,
/// and every client checks it again).
fn read_bundle(path: &Path, items: &[Item]) -> anyhow::Result<Bundle> {
    if items.len() != 1 || items.iter().any(|i| i.manifest) {
        return Err(usage(
            "--sigstore-bundle: a Sigstore bundle signs one file; give exactly one FILE and no              --manifest",
        ));
    }
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > MAX_SIGSTORE_SUBMISSION as u64 {
        return Err(usage(format!(
            "{}: a bundle of {} bytes is larger than the log accepts ({MAX_SIGSTORE_SUBMISSION})",
            path.display(),
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (issuer, sans) = cairn_sigstore::certificate_identity_unverified(&bytes)
        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let [identity] = sans.as_slice() else {
        return Err(usage(format!(
            "{}: the certificate names {} identities ({}); a Sigstore release names one",
            path.display(),
            sans.len(),
            sans.join(", ")
        )));
    };
    let issuer = OidcIssuer::new(&issuer).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let identity =
        CertIdentity::new(identity).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    if let Some(item) = items.first() {
        let beside = sigstore_bundle_path_for(&item.path);
        if beside.exists() && !same_file(path, &beside) {
            // Written after the release is logged; refuse now rather than fail then.
            let existing = std::fs::read(&beside).unwrap_or_default();
            if existing != bytes {
                return Err(usage(format!(
                    "{} already exists and is another bundle; remove it first",
                    beside.display()
                )));
            }
        }
    }
    Ok(Bundle {
        signer: SigstoreSigner {
            bundle: Sha256Digest::of(&bytes),
            issuer,
            identity,
        },
        bytes,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    Error::Usage(e.to_string()).into()
}

fn item(path: &Path, manifest: bool, force: bool) -> anyhow::Result<Item> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        return Err(usage(format!("{} is not a regular file", path.display())));
    }
    let base = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| usage(format!("{} has no UTF-8 file name", path.display())))?;
    let file_name = FileName::new(base).map_err(|e| {
        usage(format!(
            "{}: the file name cannot go in a release statement: {e}",
            path.display()
        ))
    })?;
    let mut proof_path = path.as_os_str().to_owned();
    proof_path.push(".tlog-proof");
    let proof_path = PathBuf::from(proof_path);
    if !force && proof_path.exists() {
        return Err(usage(format!(
            "{} already exists; refusing to overwrite it (pass --force to replace it)",
            proof_path.display()
        )));
    }
    Ok(Item {
        path: path.to_owned(),
        file_name,
        proof_path,
        manifest,
        digest: None,
        decompressed: None,
    })
}

/// SHA-256 and size of a file, read once as a stream. The size is what was read, not what the
/// file system reported beforehand, so the two always describe the same bytes.
fn hash_file(path: &Path) -> anyhow::Result<(Sha256Digest, u64)> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let expected = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if expected >= PROGRESS_THRESHOLD {
        let bar = ProgressBar::with_draw_target(Some(expected), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!("hashing {}", path.display()));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok((Sha256Digest::from_bytes(hasher.finalize().into()), size))
}

/// Digest and size of a compressed file and of its decompressed content, in one pass.
fn hash_compressed(path: &Path) -> anyhow::Result<((Sha256Digest, u64), Decompressed)> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let total = file.metadata().ok().map(|m| m.len());
    let shown = path.display().to_string();
    let (_, streamed) =
        crate::client::decompress::stream(file, &shown, total, None, None, &mut std::io::sink())
            .map_err(|e| {
                anyhow::Error::new(Error::Usage(format!(
                    "{shown} starts like a compressed image but does not decompress: {e}; publish \
             only intact images"
                )))
            })?;
    Ok((
        (streamed.compressed.digest, streamed.compressed.size),
        Decompressed {
            digest: streamed.decompressed.digest,
            size: streamed.decompressed.size,
        },
    ))
}

fn summary(json: bool, release: &Release, items: &[Item], logged: &Logged) {
    let path_of = |f: &FileRef| {
        items
            .iter()
            .find(|i| i.file_name == f.file_name)
            .map(|i| {
                (
                    i.path.display().to_string(),
                    i.proof_path.display().to_string(),
                )
            })
            .unwrap_or_default()
    };
    #[allow(clippy::print_stdout)] // The summary is this command's data.
    if json {
        let files = |list: &[FileRef]| -> Vec<serde_json::Value> {
            list.iter()
                .map(|f| {
                    let (path, proof) = path_of(f);
                    let mut v = serde_json::json!({
                        "file_name": f.file_name.as_str(),
                        "path": path,
                        "digest": f.digest.to_string(),
                        "size": f.size,
                        "proof": proof,
                    });
                    if let Some(d) = release.decompressed(&f.file_name) {
                        v["decompressed"] = serde_json::json!({
                            "digest": d.digest.to_string(),
                            "size": d.size,
                        });
                    }
                    v
                })
                .collect()
        };
        let value = serde_json::json!({
            "index": logged.index,
            "name": release.name().as_str(),
            "version": release.version().as_str(),
            "artifacts": files(release.artifacts()),
            "manifests": files(release.manifests()),
            "checkpoint": {
                "origin": logged.checkpoint.origin,
                "size": logged.checkpoint.size,
                "signature_verified": logged.checkpoint.verified,
            },
        });
        println!("{value}");
    } else {
        println!(
            "{} {} logged at release-log index {}",
            release.name(),
            release.version(),
            logged.index
        );
        for (kind, list) in [
            ("artifact", release.artifacts()),
            ("manifest", release.manifests()),
        ] {
            for f in list {
                let (_, proof) = path_of(f);
                println!(
                    "  {kind} {} {} {} -> {proof}",
                    f.digest, f.size, f.file_name
                );
                if let Some(d) = release.decompressed(&f.file_name) {
                    println!("    decompressed {} {}", d.digest, d.size);
                }
            }
        }
    }
}
