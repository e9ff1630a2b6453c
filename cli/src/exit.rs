//! Exit codes and the one place errors are printed.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | ok |
//! | 1 | operational error (I/O, network, refused for a non-security reason) |
//! | 2 | usage error (clap exits with 2 itself) |
//! | 3 | verification failed |
//! | 4 | log inconsistency, evidence written |
//!
//! The kind of a failure is the client library's [`cairn_client::Kind`]; the one failure
//! only the command knows is [`Failure::Alerts`].

use std::process::ExitCode;

use cairn_client::Kind;

/// `cairn monitor --once` raised alerts: exit 3, or 4 for an inconsistent checkpoint.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// Alerts were raised.
    #[error("{count} alert(s) raised")]
    Alerts {
        /// How many.
        count: usize,
        /// The exit code.
        code: u8,
    },
}

/// The verdict word (`--json`) and exit code of a failure.
pub(crate) fn classify(err: &anyhow::Error) -> (&'static str, u8) {
    if let Some(Failure::Alerts { code, .. }) = err.downcast_ref::<Failure>() {
        return ("alerts", *code);
    }
    match err
        .downcast_ref::<cairn_client::Error>()
        .map(cairn_client::Error::kind)
    {
        Some(Kind::Usage) => ("usage-error", 2),
        Some(Kind::Refused) => ("verification-failed", 3),
        Some(Kind::Inconsistent) => ("log-inconsistency", 4),
        Some(Kind::Operational) | None => ("error", 1),
    }
}

/// An error of a command's own code, handed back to the client library (a callback's
/// failure): a library error keeps its kind, anything else is operational.
pub(crate) fn into_client(err: anyhow::Error) -> cairn_client::Error {
    match err.downcast::<cairn_client::Error>() {
        Ok(ours) => ours,
        Err(other) => cairn_client::Error::msg(format!("{other:#}")),
    }
}

/// Prints an error once, with its causes, and returns the exit code for it.
pub(crate) fn report(result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    eprintln!("cairn: {err:#}");
    ExitCode::from(classify(&err).1)
}
