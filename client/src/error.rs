//! The library's one error type.
//!
//! Every failure says what kind it is ([`Error::kind`]), so that a caller decides what to do
//! (and the `cairn` command which exit code to use) by matching a type, not by reading text:
//!
//! | kind | meaning | `cairn` exit |
//! |---|---|---|
//! | [`Kind::Usage`] | the caller asked for something that cannot work (options, missing trust policy) | 2 |
//! | [`Kind::Refused`] | a security check refused the input: a signature, a proof, a key's validity | 3 |
//! | [`Kind::Inconsistent`] | two checkpoints that cannot both be honest; evidence was written | 4 |
//! | [`Kind::Operational`] | I/O, network, a server that refused or failed | 1 |
//!
//! An error keeps the steps it went through ("reading the key log: fetching ...: ...") as a
//! chain of [`std::error::Error::source`]s, and wrapping never changes the kind: a refusal
//! reported while "syncing the key log" is still a refusal.

use std::fmt::Display;
use std::path::PathBuf;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The caller asked for something that cannot work.
    Usage,
    /// A security check refused the input.
    Refused,
    /// The log showed two views that cannot both be honest; evidence was written.
    Inconsistent,
    /// Anything else: I/O, the network, a server's refusal or failure.
    Operational,
}

/// A failure of a client operation.
///
/// `{}` shows this error's own message, `{:#}` (and [`Error::chain`]) the whole chain on one
/// line, `what was done: why it failed: ...`, as `anyhow` does. A wrapped I/O, HTTP or JSON
/// error shows its own causes inline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller asked for something that cannot work.
    Usage(String),
    /// A security check refused the input; the text says which and why.
    Refused(String),
    /// Two checkpoints that cannot both be honest.
    Inconsistent {
        /// What conflicts.
        message: String,
        /// The evidence file written (`spec/client.md`, "Evidence").
        evidence: PathBuf,
    },
    /// An operational failure, with what was being done.
    Failed {
        /// What failed, or what was being done when the source failed.
        message: String,
        /// The underlying failure, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A file or directory operation failed.
    Io(std::io::Error),
    /// A durable write failed (which step, on which path).
    Durable(cairn_durable::DurableError),
    /// A fetch from an upstream failed.
    Fetch(crate::upstream::FetchError),
    /// An HTTP request failed.
    Http(reqwest::Error),
    /// JSON could not be read or written.
    Json(serde_json::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Usage(m) => f.write_str(m)?,
            Error::Refused(m) => write!(f, "verification failed: {m}")?,
            Error::Inconsistent { message, evidence } => write!(
                f,
                "log inconsistency: {message}; evidence written to {}",
                evidence.display()
            )?,
            Error::Failed { message, .. } => f.write_str(message)?,
            Error::Io(e) => f.write_str(&flatten(e))?,
            Error::Durable(e) => f.write_str(&flatten(e))?,
            Error::Fetch(e) => f.write_str(&flatten(e))?,
            Error::Http(e) => f.write_str(&flatten(e))?,
            Error::Json(e) => f.write_str(&flatten(e))?,
        }
        if f.alternate() {
            let mut next = std::error::Error::source(self);
            while let Some(e) = next {
                write!(f, ": {e}")?;
                next = e.source();
            }
        }
        Ok(())
    }
}

/// An error and its causes on one line, each cause once (some errors repeat their source in
/// their own message).
fn flatten(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

macro_rules! wrap {
    ($($variant:ident($t:ty)),* $(,)?) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::$variant(e)
            }
        }
    )*};
}

wrap!(
    Io(std::io::Error),
    Durable(cairn_durable::DurableError),
    Fetch(crate::upstream::FetchError),
    Http(reqwest::Error),
    Json(serde_json::Error),
);

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An operational failure described by `message`.
    pub fn msg(message: impl Display) -> Error {
        Error::Failed {
            message: message.to_string(),
            source: None,
        }
    }

    /// A refusal: a security check failed.
    pub fn refused(reason: impl Display) -> Error {
        Error::Refused(reason.to_string())
    }

    /// A usage error.
    pub fn usage(reason: impl Display) -> Error {
        Error::Usage(reason.to_string())
    }

    /// This error with `context` (what was being done) in front of it. The kind is kept.
    pub fn context(self, context: impl Display) -> Error {
        Error::Failed {
            message: context.to_string(),
            source: Some(Box::new(self)),
        }
    }

    /// The kind: of this error, or of the first error in its chain that has a definite one
    /// (wrapping an error in context never changes its kind).
    pub fn kind(&self) -> Kind {
        match self {
            Error::Usage(_) => Kind::Usage,
            Error::Refused(_) => Kind::Refused,
            Error::Inconsistent { .. } => Kind::Inconsistent,
            Error::Io(_)
            | Error::Durable(_)
            | Error::Fetch(_)
            | Error::Http(_)
            | Error::Json(_) => Kind::Operational,
            Error::Failed { source, .. } => {
                let mut next: Option<&(dyn std::error::Error + 'static)> = source
                    .as_deref()
                    .map(|e| e as &(dyn std::error::Error + 'static));
                while let Some(e) = next {
                    if let Some(ours) = e.downcast_ref::<Error>() {
                        return ours.kind();
                    }
                    next = e.source();
                }
                Kind::Operational
            }
        }
    }

    /// The innermost [`Error`] of a definite kind in the chain (a refusal's or an
    /// inconsistency's own text), or this one.
    pub fn root(&self) -> &Error {
        if let Error::Failed {
            source: Some(inner),
            ..
        } = self
            && let Some(ours) = inner.downcast_ref::<Error>()
        {
            return ours.root();
        }
        self
    }

    /// The whole chain on one line: `what was done: why it failed: ...` (as `{:#}`).
    pub fn chain(&self) -> String {
        format!("{self:#}")
    }
}

/// `.context(...)` and `.with_context(...)` on results and options, as in the rest of the
/// workspace: say what was being done when something failed.
pub trait Context<T> {
    /// On failure, `context` says what was being done.
    fn context(self, context: impl Display) -> Result<T>;
    /// On failure, `context()` says what was being done (computed only then).
    fn with_context<D: Display>(self, context: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Display) -> Result<T> {
        self.map_err(|e| Error::Failed {
            message: context.to_string(),
            source: Some(Box::new(e)),
        })
    }

    fn with_context<D: Display>(self, context: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| Error::Failed {
            message: context().to_string(),
            source: Some(Box::new(e)),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Display) -> Result<T> {
        self.ok_or_else(|| Error::msg(context))
    }

    fn with_context<D: Display>(self, context: impl FnOnce() -> D) -> Result<T> {
        self.ok_or_else(|| Error::msg(context()))
    }
}

/// Returns early with an operational [`Error`] built like `format!`.
#[allow(unused_macros)]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::msg(format!($($arg)*)))
    };
}
pub(crate) use bail;

/// An operational [`Error`] built like `format!`.
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::error::Error::msg(format!($($arg)*))
    };
}
pub(crate) use err;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_kind() {
        let e = Error::refused("bad signature")
            .context("checking the checkpoint")
            .context("syncing the key log");
        assert_eq!(e.kind(), Kind::Refused);
        assert_eq!(
            e.chain(),
            "syncing the key log: checking the checkpoint: verification failed: bad signature"
        );
        assert!(matches!(e.root(), Error::Refused(r) if r == "bad signature"));
        let io: Result<()> = Err(std::io::Error::other("disk gone")).context("writing state");
        let io = io.expect_err("an error");
        assert_eq!(io.kind(), Kind::Operational);
        assert_eq!(io.chain(), "writing state: disk gone");
    }
}
