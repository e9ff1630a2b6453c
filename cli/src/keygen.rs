//! `cairn keygen`: a new Ed25519 note signing key and its verifier key, or (`--alg ml-dsa-44`)
//! an ML-DSA-44 witness cosigning key and its type 0x06 verifier key.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cairn_verifier::cosignature::CosignatureSigner;
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
    /// The signature algorithm: `ed25519` (note signatures; as a witness key, cosignature/v1)
    /// or `ml-dsa-44` (witness cosignatures only, tlog-cosignature subtree/v1).
    #[arg(long, value_enum, default_value = "ed25519")]
    alg: Alg,
}

/// Key algorithms `cairn keygen` makes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Alg {
    /// Ed25519.
    Ed25519,
    /// ML-DSA-44 (FIPS 204), for witnesses.
    #[value(name = "ml-dsa-44")]
    MlDsa44,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let name = KeyName::new(&args.name).map_err(|e| Failure::Usage(format!("--name: {e}")))?;
    let mut seed = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut seed)
        .context("reading randomness from the operating system")?;
    let (skey, vkey) = match args.alg {
        Alg::Ed25519 => {
            let signer = Ed25519Signer::from_seed(name, seed);
            (signer.to_skey(), signer.verifier().to_vkey())
        }
        Alg::MlDsa44 => {
            let signer = CosignatureSigner::ml_dsa_44_from_seed(name, seed)
                .map_err(|e| Failure::Usage(format!("--name: {e}")))?;
            (signer.to_skey(), signer.verifier().to_vkey())
        }
    };
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
    write_new(&args.out, format!("{skey}\n").as_bytes(), 0o600)?;
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
