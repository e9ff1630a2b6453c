//! Exit codes and the one place errors are printed.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | ok |
//! | 1 | operational error (I/O, network, refused for a non-security reason) |
//! | 2 | usage error (clap exits with 2 itself) |
//! | 3 | verification failed |
//! | 4 | log inconsistency, evidence written |

use std::process::ExitCode;

/// A failure that maps to an exit code other than 1. Anything else is operational (1).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// Bad arguments that clap could not catch (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A security check refused the input (exit 3).
    #[error("verification failed: {0}")]
    Verification(String),
    /// Two checkpoints that cannot both be honest (exit 4).
    #[error("log inconsistency: {message}; evidence written to {evidence}")]
    Inconsistency {
        /// What conflicts.
        message: String,
        /// Path of the evidence file.
        evidence: String,
    },
    /// `cairn monitor --once` raised alerts (exit 3, or 4 for an inconsistent checkpoint).
    #[error("{count} alert(s) raised")]
    Alerts {
        /// How many.
        count: usize,
        /// The exit code.
        code: u8,
    },
}

/// Prints an error once, with its causes, and returns the exit code for it.
pub(crate) fn report(result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    eprintln!("cairn: {err:#}");
    match err.downcast_ref::<Failure>() {
        Some(Failure::Usage(_)) => ExitCode::from(2),
        Some(Failure::Verification(_)) => ExitCode::from(3),
        Some(Failure::Inconsistency { .. }) => ExitCode::from(4),
        Some(Failure::Alerts { code, .. }) => ExitCode::from(*code),
        None => ExitCode::from(1),
    }
}
