//! The flag rules of docs/cli.md, checked over the clap definitions of every subcommand: one
//! long flag name, one kind of value, whichever command it appears in.

use std::collections::BTreeMap;

use clap::{ArgAction, Command};

/// The kind of value a `value_name` stands for. The names docs/cli.md lists as the same kind
/// map to one kind; any other value name is its own kind.
fn kind(value_name: &str) -> &str {
    match value_name {
        "KEYREF" => "KEYREF (a secret signing key: file, pkcs11: or ssh-agent:)",
        "VKEY" => "VKEY (a verifier key, or a file holding it)",
        "URL" | "URL|git+URL" => "URL",
        "DIR" => "DIR (a directory)",
        "FILE" | "SNAPSHOT" | "GENESIS.note" | "FILE.tlog-proof" | "PEM" | "EVENT" | "PATH" => {
            "FILE (a file)"
        }
        other => other,
    }
}

/// The value kind of one argument: its value names' kinds, or FLAG for an option without value.
fn arg_kind(arg: &clap::Arg) -> String {
    if matches!(
        arg.get_action(),
        ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count
    ) {
        return "FLAG (no value)".to_owned();
    }
    match arg.get_value_names() {
        Some(names) => names
            .iter()
            .map(|n| kind(n.as_str()))
            .collect::<Vec<_>>()
            .join(" "),
        None => kind(&arg.get_id().as_str().to_uppercase()).to_owned(),
    }
}

/// Every long flag of `command` and its subcommands, with the kinds it takes and where.
fn collect(
    command: &Command,
    path: &str,
    out: &mut BTreeMap<String, BTreeMap<String, Vec<String>>>,
) {
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") {
            continue;
        }
        // Hidden aliases are deprecated old spellings (docs/cli.md, "Renamed flags"): they
        // broke the rule, which is why they were renamed, and they go away.
        out.entry(long.to_owned())
            .or_default()
            .entry(arg_kind(arg))
            .or_default()
            .push(path.to_owned());
    }
    for sub in command.get_subcommands() {
        collect(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

/// Each flag name with more than one kind of value, described.
pub(crate) fn violations(root: &Command) -> Vec<String> {
    let mut flags = BTreeMap::new();
    collect(root, root.get_name(), &mut flags);
    flags
        .into_iter()
        .filter(|(_, kinds)| kinds.len() > 1)
        .map(|(flag, kinds)| {
            let uses: Vec<String> = kinds
                .iter()
                .map(|(kind, paths)| format!("{kind} in {}", paths.join(", ")))
                .collect();
            format!("--{flag}: {}", uses.join("; "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::violations;
    use crate::Cli;

    #[test]
    fn one_flag_name_one_kind_of_value() {
        let found = violations(&Cli::command());
        assert!(
            found.is_empty(),
            "flags that take two kinds of value (docs/cli.md, \"One flag, one kind of value\"):\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn the_rule_catches_a_flag_with_two_kinds() {
        let command = clap::Command::new("cairn")
            .subcommand(
                clap::Command::new("a").arg(clap::Arg::new("key").long("key").value_name("KEYREF")),
            )
            .subcommand(
                clap::Command::new("b").arg(clap::Arg::new("key").long("key").value_name("VKEY")),
            );
        assert_eq!(violations(&command).len(), 1);
    }

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}
