//! What a client run found: every check in order (passed, failed, skipped, warned) with its
//! detail, and facts about the artifact, the entry and the channels. The library never prints;
//! a caller that wants to show checks as they happen gives the report an observer.

use serde_json::{Value, json};

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Passed.
    Pass,
    /// Failed: the run stops.
    Fail,
    /// Not applicable or not possible here (for example offline); the detail says why.
    Skip,
    /// Passed with a warning (for example a deprecated release without --refuse-deprecated).
    Warn,
}

impl Status {
    /// `pass`, `fail`, `skip` or `warn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Warn => "warn",
        }
    }
}

/// One check and its outcome.
#[derive(Debug, Clone)]
pub struct Check {
    /// Stable identifier (`checkpoint-signature`, `inclusion`, ...).
    pub name: &'static str,
    /// Outcome.
    pub status: Status,
    /// Human detail.
    pub detail: String,
}

/// Called with each check as it is recorded.
pub type Observer = Box<dyn FnMut(&Check) + Send>;

/// The checks of one run, in order.
#[derive(Default)]
pub struct Report {
    verbose: bool,
    observer: Option<Observer>,
    checks: Vec<Check>,
    /// Facts about the verified entry, for `--json`.
    pub entry: Option<Value>,
    /// Facts about the artifact (digest, size, path), for `--json`.
    pub artifact: Option<Value>,
    /// One object per checkpoint obtained from a `--channel`, for `--json` and the verdict.
    pub channels: Vec<Value>,
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("verbose", &self.verbose)
            .field("checks", &self.checks)
            .field("entry", &self.entry)
            .field("artifact", &self.artifact)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl Report {
    /// A report that calls `observer` with each check as it is recorded. `verbose` tells the
    /// operations that have more to say (a progress note, a skipped optional step) whether
    /// the caller shows it.
    pub fn with_observer(verbose: bool, observer: Observer) -> Report {
        Report {
            verbose,
            observer: Some(observer),
            ..Report::default()
        }
    }

    fn push(&mut self, name: &'static str, status: Status, detail: String) {
        let check = Check {
            name,
            status,
            detail,
        };
        if let Some(observer) = self.observer.as_mut() {
            observer(&check);
        }
        self.checks.push(check);
    }

    /// Whether the caller shows every check (`-v`).
    pub fn is_verbose(&self) -> bool {
        self.verbose
    }

    /// Every check so far, in order.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// Records a passed check.
    pub fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Pass, detail.into());
    }

    /// Records a skipped check.
    pub fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Skip, detail.into());
    }

    /// Records a warning (always printed).
    pub fn warn(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Warn, detail.into());
    }

    /// Records a failed check. The caller returns the matching error.
    pub fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Fail, detail.into());
    }

    /// The detail of the failed check `name`, if it failed.
    pub fn failed(&self, name: &str) -> Option<&str> {
        self.checks
            .iter()
            .find(|c| c.name == name && c.status == Status::Fail)
            .map(|c| c.detail.as_str())
    }

    /// The `--json` object: verdict, exit code, error (if any), artifact, entry, channels and
    /// checks.
    pub fn to_json(&self, verdict: &str, exit: u8, error: Option<String>) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| json!({"check": c.name, "status": c.status.as_str(), "detail": c.detail}))
            .collect();
        json!({
            "verdict": verdict,
            "exit_code": exit,
            "error": error,
            "artifact": self.artifact,
            "entry": self.entry,
            "channels": self.channels,
            "checks": checks,
        })
    }
}
