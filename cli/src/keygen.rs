//! `cairn keygen`: a new Ed25519 note signing key and its verifier key.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cairn_verifier::note::{Ed25519Signer, KeyName};
use rand_core::{OsRng, RngCore as _};

use crate::exit::Failure;

/// Arguments of `cairn keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Key name written on every signature (for example `example.org/release-2026`).
    #[arg(long)]
    name: String,
    /// Where to write the signing key; the verifier key goes to FILE.pub. Never overwritten.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let name = KeyName::new(&args.name).map_err(|e| Failure::Usage(format!("--name: {e}")))?;
    let mut seed = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut seed)
        .context("reading randomness from the operating system")?;
    let signer = Ed25519Signer::from_seed(name, seed);
    let public = pub_path(&args.out);
    // Check both before writing either, so a refusal leaves nothing behind.
    for path in [&args.out, &public] {
        if path.exists() {
            return Err(Failure::Usage(format!(
                "{} already exists; refusing to overwrite a key",
                path.display()
            ))
            .into());
        }
    }
    write_new(
        &args.out,
        format!("{}\n", signer.to_skey()).as_bytes(),
        0o600,
    )?;
    let vkey = signer.verifier().to_vkey();
    write_new(&public, format!("{vkey}\n").as_bytes(), 0o644)?;
    eprintln!(
        "cairn: wrote signing key {} (mode 0600) and verifier key {}",
        args.out.display(),
        public.display()
    );
    #[allow(clippy::print_stdout)] // The verifier key is this command's data.
    {
        println!("{vkey}");
    }
    Ok(())
}

fn pub_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Creates `path` with `mode`, failing if it exists, and syncs it to disk.
pub(crate) fn write_new(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
