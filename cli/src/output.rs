//! Printing helpers shared by several commands.

use serde_json::{Value, json};

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

/// A report for a client run that prints each check on stderr as it happens when `verbose`,
/// and warnings and a skipped deprecation check always.
pub(crate) fn report(verbose: bool) -> cairn_client::report::Report {
    use cairn_client::report::{Report, Status};
    Report::with_observer(
        verbose,
        Box::new(move |check| {
            let always = check.status == Status::Warn
                || (check.status == Status::Skip && check.name == "deprecation");
            if verbose || always {
                let tag = match check.status {
                    Status::Pass => "ok  ",
                    Status::Fail => "FAIL",
                    Status::Skip => "skip",
                    Status::Warn => "WARN",
                };
                eprintln!("cairn: {tag} {}: {}", check.name, check.detail);
            }
        }),
    )
}
