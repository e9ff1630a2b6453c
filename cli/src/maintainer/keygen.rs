//! `cairn keygen`: a new Ed25519 note signing key and its verifier key, or (`--alg ml-dsa-44`)
//! an ML-DSA-44 witness cosigning key and its type 0x06 verifier key.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use anyhow::Context as _;
use cairn_keys::KeyRef;
use cairn_keys::pkcs11::Pkcs11Key;
use cairn_verifier::cosignature::CosignatureSigner;
use cairn_verifier::note::{Ed25519Signer, KeyName};
use cairn_verifier::signer::KeySigner;
use rand_core::{OsRng, RngCore as _};

use crate::maintainer::key_files::{key_error, parse_keyref};
use cairn_client::Error;

/// Arguments of `cairn keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Key name written on every signature (for example `example.org/release-2026`).
    #[arg(long)]
    name: String,
    /// Where to write the signing key; the verifier key goes to FILE.pub. Never overwritten.
    #[arg(long, value_name = "FILE", required_unless_present = "pkcs11")]
    out: Option<PathBuf>,
    /// Generate the key pair inside this PKCS#11 token instead (an RFC 7512 URI with
    /// object=LABEL, module-path and the PIN): the private key is sensitive and not
    /// extractable, so it never leaves the token. Prints the verifier key.
    #[arg(long, value_name = "URI", conflicts_with = "out")]
    pkcs11: Option<String>,
    /// The signature algorithm: `ed25519` (note signatures; as a witness key, cosignature/v1)
    /// or `ml-dsa-44` (witness cosignatures only, tlog-cosignature subtree/v1; key files only).
    #[arg(long, value_enum, default_value = "ed25519")]
    alg: Alg,
    /// Print `{"vkeys": [VKEY], "signing_key": FILE, "verifier_key": FILE.pub}` (without the
    /// files for --pkcs11) instead of the bare verifier key.
    #[arg(long)]
    json: bool,
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
    let name = KeyName::new(&args.name).map_err(|e| Error::Usage(format!("--name: {e}")))?;
    let out = match (&args.out, &args.pkcs11) {
        (_, Some(_)) if matches!(args.alg, Alg::MlDsa44) => {
            return Err(Error::Usage(
                "--pkcs11 makes Ed25519 keys only (PKCS#11 tokens offer no ML-DSA-44 yet); \
                 use --out for an ML-DSA-44 witness key"
                    .to_owned(),
            )
            .into());
        }
        (_, Some(uri)) => return generate_in_token(uri, name, args.json),
        (Some(out), None) => out,
        (None, None) => {
            return Err(Error::Usage("give --out FILE or --pkcs11 URI".to_owned()).into());
        }
    };
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
                .map_err(|e| Error::Usage(format!("--name: {e}")))?;
            let skey = signer
                .to_skey()
                .context("an ML-DSA-44 key made from a seed has a seed")?;
            (skey, signer.verifier().to_vkey())
        }
    };
    let public = pub_path(out);
    // Check both before writing either, so a refusal leaves nothing behind.
    for path in [out, &public] {
        if path.exists() {
            return Err(Error::Usage(format!(
                "{} already exists; refusing to overwrite a key",
                path.display()
            ))
            .into());
        }
    }
    write_new(out, format!("{skey}\n").as_bytes(), 0o600)?;
    write_new(&public, format!("{vkey}\n").as_bytes(), 0o644)?;
    eprintln!(
        "cairn: wrote signing key {} (mode 0600) and verifier key {}",
        out.display(),
        public.display()
    );
    crate::output::print_vkeys(
        &[vkey],
        args.json,
        serde_json::json!({
            "signing_key": out.display().to_string(),
            "verifier_key": public.display().to_string(),
        }),
    );
    Ok(())
}

/// `cairn keygen --pkcs11 URI --name NAME`: the pair is made by the token; only its public key
/// is read back.
fn generate_in_token(uri: &str, name: KeyName, json: bool) -> anyhow::Result<()> {
    let KeyRef::Pkcs11(uri) = parse_keyref(uri)? else {
        return Err(Error::Usage(format!("--pkcs11 {uri:?} is not a pkcs11: URI")).into());
    };
    let key = Pkcs11Key::generate(&uri).map_err(key_error)?;
    let signer = KeySigner::new(name, Arc::new(key))
        .map_err(|e| anyhow::anyhow!("the token's new key is not a valid Ed25519 key: {e}"))?;
    let vkey = signer.verifier().to_vkey();
    eprintln!("cairn: generated an Ed25519 key pair in the token ({uri}); it cannot be exported");
    crate::output::print_vkeys(&[vkey], json, serde_json::Value::Null);
    Ok(())
}

fn pub_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Creates `path` with `mode`, failing if it exists, and syncs it to disk.
pub(crate) fn write_new(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    crate::atomic_file::write(path, data, mode, crate::atomic_file::Existing::Refuse)
}
