//! The Cairn client as a library.
//!
//! Everything a Cairn client decides, without a terminal: the client algorithm of
//! `spec/client.md` ([`verify`]), the key-log sync ([`keylog`]), the follow-and-verify engine
//! of monitors and mirrors ([`audit`]), the witness-quorum and freshness decision
//! ([`checkpoints`]) and the checkpoint channels ([`channels`]). The trust decisions themselves
//! are the `cairn-verifier` crate's typed ones; this crate adds the I/O around them.
//!
//! All I/O goes through two interfaces:
//! - [`upstream::Upstream`]: fetch one file of a log by its tlog-tiles path. Three
//!   implementations: [`upstream::LogServer`] (HTTP, a log server, a mirror or any static web
//!   server), [`sources::DirFiles`] (a directory, such as a `cairn mirror` copy) and
//!   [`sources::GitTree`] (a git repository holding the log's branch).
//! - [`state::Store`]: read and compare-and-swap the client's stored state (last verified
//!   checkpoints, the key log, evidence), implemented by [`state::StateDir`].
//!
//! Results are typed values: a [`report::Report`] of every check, a [`verify::Verified`]
//! release, [`audit::Alert`]s; failures are an [`Error`] whose [`Error::kind`] says whether
//! it is a refusal, an inconsistency (with evidence), a usage error or an operational one.
//! Nothing here prints.
//!
//! ```no_run
//! # fn main() -> Result<(), cairn_client::Error> {
//! use cairn_client::report::Report;
//! use cairn_client::state::StateDir;
//! use cairn_client::trust::Trust;
//! use cairn_client::verify::{Expected, Options, Run};
//!
//! let state = StateDir::open("/var/lib/myupdater/cairn")?;
//! let trust = Trust::load(&state.trust_path())?;
//! let mut run = Run::online(state, trust, Report::default())?;
//! let file = std::fs::File::open("image.raw")?;
//! let hashed = cairn_client::hashing::hash_stream(file, None, &mut |_| {})?;
//! let verified = run.verify(&hashed, None, &Expected::any(), &Options::default())?;
//! println!("{} {} at index {}", verified.release.name(), verified.release.version(), verified.index);
//! # Ok(()) }
//! ```

pub mod audit;
pub mod channels;
pub mod checkpoints;
pub mod duration;
pub mod error;
pub mod hashing;
pub mod keylog;
pub mod lookups;
pub mod newest;
pub mod report;
pub mod sources;
pub mod state;
pub mod trust;
pub mod upstream;
pub mod verify;

pub use error::{Error, Kind, Result};
