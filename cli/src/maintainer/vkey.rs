//! `cairn vkey KEYREF --name NAME`: the verifier key of any signing key reference.

use cairn_verifier::note::NoteSigner as _;

use crate::maintainer::key_files::{load_key, parse_keyref};

/// Arguments of `cairn vkey`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The signing key: a key file, a pkcs11: URI or an ssh-agent: key.
    #[arg(value_name = "KEYREF")]
    key: String,
    /// The key name the verifier key carries. Required for pkcs11: and ssh-agent: keys; for a
    /// key file it must be the file's name if given.
    #[arg(long)]
    name: Option<String>,
    /// Print the cosignature/v1 (type 0x04) verifier key, as a witness publishes it.
    #[arg(long)]
    cosignature: bool,
    /// Print `{"vkeys": [VKEY]}` instead of the bare verifier key.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    parse_keyref(&args.key)?;
    let vkey = if args.cosignature {
        crate::maintainer::key_files::load_cosigner(&args.key, args.name.as_deref())?
            .verifier()
            .to_vkey()
    } else {
        let signer = load_key(&args.key, args.name.as_deref())?;
        eprintln!("cairn: verifier key of {} ({})", signer.name(), args.key);
        signer.verifier().to_vkey()
    };
    crate::output::print_vkeys(&[vkey], args.json, serde_json::Value::Null);
    Ok(())
}
