//! What a client run says: one line per check on stderr with `-v`, a final verdict, and with
//! `--json` one object on stdout with every check and the entry.

use serde_json::{Value, json};

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
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
    fn as_str(self) -> &'static str {
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
pub(crate) struct Check {
    /// Stable identifier (`checkpoint-signature`, `inclusion`, ...).
    pub(crate) name: &'static str,
    /// Outcome.
    pub(crate) status: Status,
    /// Human detail.
    pub(crate) detail: String,
}

/// The checks of one run, printed on stderr as they happen when verbose.
#[derive(Debug, Default)]
pub(crate) struct Report {
    verbose: bool,
    checks: Vec<Check>,
    /// Facts about the verified entry, for `--json`.
    pub(crate) entry: Option<Value>,
    /// Facts about the artifact (digest, size, path), for `--json`.
    pub(crate) artifact: Option<Value>,
    /// One object per checkpoint obtained from a `--channel`, for `--json` and the verdict.
    pub(crate) channels: Vec<Value>,
}

impl Report {
    /// A report that prints each check on stderr when `verbose`.
    pub(crate) fn new(verbose: bool) -> Report {
        Report {
            verbose,
            ..Report::default()
        }
    }

    fn push(&mut self, name: &'static str, status: Status, detail: String) {
        if self.verbose || status == Status::Warn {
            let tag = match status {
                Status::Pass => "ok  ",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
                Status::Warn => "WARN",
            };
            eprintln!("cairn: {tag} {name}: {detail}");
        }
        self.checks.push(Check {
            name,
            status,
            detail,
        });
    }

    /// Whether each check is printed on stderr as it happens.
    pub(crate) fn is_verbose(&self) -> bool {
        self.verbose
    }

    /// Records a passed check.
    pub(crate) fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Pass, detail.into());
    }

    /// Records a skipped check.
    pub(crate) fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Skip, detail.into());
    }

    /// Records a warning (always printed).
    pub(crate) fn warn(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Warn, detail.into());
    }

    /// Records a failed check. The caller returns the matching error.
    pub(crate) fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Fail, detail.into());
    }

    /// The detail of the failed check `name`, if it failed.
    pub(crate) fn failed(&self, name: &str) -> Option<&str> {
        self.checks
            .iter()
            .find(|c| c.name == name && c.status == Status::Fail)
            .map(|c| c.detail.as_str())
    }

    /// The `--json` object: verdict, exit code, error (if any), artifact, entry, channels and
    /// checks.
    pub(crate) fn to_json(&self, verdict: &str, exit: u8, error: Option<String>) -> Value {
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

/// Prints a command's verifier keys: one a line, or with `--json` one object
/// `{"vkeys": [...], ...extra}` (the keys in the order the plain form prints them).
pub(crate) fn print_vkeys(vkeys: &[String], json: bool, extra: Value) {
    #[allow(clippy::print_stdout)] // The verifier keys are the command's data.
    if json {
        let mut value = json!({ "vkeys": vkeys });
        if let (Some(obj), Value::Object(more)) = (value.as_object_mut(), extra) {
            obj.extend(more);
        }
        println!("{value}");
    } else {
        for vkey in vkeys {
            println!("{vkey}");
        }
    }
}
