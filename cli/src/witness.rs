//! `cairn witness`: a C2SP tlog-witness server (the logic is in `cairn_log_server::witness`, the
//! decision in `cairn_verifier::witness`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use cairn_log_server::witness::{Witness, WitnessedLog, serve};
use cairn_verifier::keys::AnyVerifier;
use cairn_verifier::note::{KeyName, NoteVerifier as _};

use crate::exit::Failure;
use crate::key_files::{load_cosigner, read_verifier};

/// Arguments of `cairn witness`.
#[derive(Debug, clap::Args)]
pub(crate) struct WitnessArgs {
    /// The witness's signing key: a key file made by `cairn keygen` (its name is the
    /// witness's name), a pkcs11: URI or an ssh-agent: key (then give --key-name).
    #[arg(long, value_name = "KEYREF")]
    key: String,
    /// The witness's name; required when --key is a pkcs11: or ssh-agent: reference.
    #[arg(long, value_name = "NAME")]
    key_name: Option<String>,
    /// Print the witness's cosignature/v1 verifier key (what logs and clients configure) on
    /// stdout and exit.
    #[arg(long)]
    print_vkey: bool,
    /// State directory: the latest cosigned checkpoint of each log (created if missing).
    #[arg(long, value_name = "DIR", required_unless_present = "print_vkey")]
    data: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// A log to witness: its checkpoint origin and its verifier key (or a file holding it).
    /// The key may be named ORIGIN, or be a Cairn log's key named PREFIX when ORIGIN is
    /// PREFIX/releases or PREFIX/keys. Repeatable.
    #[arg(long = "log", value_names = ["ORIGIN", "VKEY"], num_args = 2, action = clap::ArgAction::Append)]
    logs: Vec<String>,
}

/// The log key for `origin` from `--log ORIGIN VKEY`.
fn log_verifier(origin: &str, vkey: &str) -> anyhow::Result<AnyVerifier> {
    // A file with a Cairn log's two per-origin keys (as `cairn init` prints them): the one
    // named after the origin.
    let named = crate::trust::vkey_lines(vkey).ok().and_then(|lines| {
        lines
            .into_iter()
            .find(|l| l.starts_with(&format!("{origin}+")))
    });
    let key = read_verifier(named.as_deref().unwrap_or(vkey), &format!("--log {origin}"))?;
    let name = key.name().as_str();
    if name == origin {
        return Ok(AnyVerifier::Ed25519(key));
    }
    let derived = origin
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|log| log == "releases" || log == "keys");
    if !derived {
        return Err(Failure::Usage(format!(
            "--log {origin}: the key is named {name:?}; give the key named after the origin, or \
             a Cairn log's key whose name is the origin's prefix (for PREFIX/releases or \
             PREFIX/keys)"
        ))
        .into());
    }
    eprintln!(
        "cairn: warning: --log {origin}: the key {name:?} is a Cairn log's single key \
         (deprecated); give the key named {origin} that `cairn init` or `cairn migrate-keys` \
         printed (docs/operators.md, \"Migrating to per-origin verifier keys\")"
    );
    let name = KeyName::new(origin).map_err(|e| Failure::Usage(format!("--log {origin}: {e}")))?;
    Ok(AnyVerifier::Ed25519(key.with_name(name)))
}

pub(crate) fn run(args: &WitnessArgs) -> anyhow::Result<()> {
    let signer = load_cosigner(&args.key, args.key_name.as_deref())?;
    if args.print_vkey {
        #[allow(clippy::print_stdout)] // The verifier key is this command's data.
        {
            println!("{}", signer.verifier().to_vkey());
        }
        return Ok(());
    }
    let Some(data) = &args.data else {
        return Err(Failure::Usage("--data DIR is required".to_owned()).into());
    };
    let mut logs = Vec::new();
    for pair in args.logs.chunks(2) {
        let [origin, vkey] = pair else {
            return Err(Failure::Usage("--log takes ORIGIN and VKEY".to_owned()).into());
        };
        logs.push(WitnessedLog {
            origin: origin.clone(),
            verifier: log_verifier(origin, vkey)?,
        });
    }
    if logs.is_empty() {
        return Err(Failure::Usage("give at least one --log ORIGIN VKEY".to_owned()).into());
    }
    let witness = Witness::open(data, signer, logs)
        .with_context(|| format!("opening the witness state in {}", data.display()))?;
    eprintln!("cairn: witness key (cosignature/v1): {}", witness.vkey());
    for (origin, size) in witness.sizes() {
        match size {
            Some(size) => eprintln!("cairn: witnessing {origin} (latest cosigned size {size})"),
            None => eprintln!("cairn: witnessing {origin} (nothing cosigned yet)"),
        }
    }
    crate::operator::serve_on(args.listen, move |listener| async move {
        serve(
            Arc::new(witness),
            listener,
            crate::operator::shutdown_signal(),
        )
        .await?;
        Ok(())
    })
}
