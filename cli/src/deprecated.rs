//! Old flag spellings kept as hidden aliases (docs/cli.md, "Renamed flags"): they still work,
//! and each use prints one warning on stderr naming the new spelling.

use std::ffi::OsString;

/// Warns on stderr if the command line used `old` (as `old` or `old=VALUE`) instead of `new`.
/// Clap does not report which alias matched, so this looks at the raw arguments; the caller
/// knows the subcommand, and the old spelling is only ever a flag of that subcommand.
pub(crate) fn warn_if_used(command: &str, old: &str, new: &str) {
    if used(std::env::args_os().skip(1), old) {
        eprintln!("cairn: warning: `cairn {command} {old}` is deprecated; use {new} (docs/cli.md)");
    }
}

fn used(args: impl Iterator<Item = OsString>, flag: &str) -> bool {
    for arg in args {
        let Some(arg) = arg.to_str().map(str::to_owned) else {
            continue;
        };
        if arg == "--" {
            return false;
        }
        if arg == flag || arg.strip_prefix(flag).is_some_and(|r| r.starts_with('=')) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::used;

    fn args(list: &[&str]) -> impl Iterator<Item = std::ffi::OsString> {
        list.iter()
            .map(|s| std::ffi::OsString::from(*s))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn finds_the_old_spelling_only() {
        assert!(used(args(&["serve", "--mirror", "d"]), "--mirror"));
        assert!(used(args(&["serve", "--mirror=d"]), "--mirror"));
        assert!(!used(args(&["serve", "--mirror-dir", "d"]), "--mirror"));
        assert!(!used(args(&["serve", "--mirror-dir=d"]), "--mirror"));
        assert!(!used(args(&["verify", "--", "--mirror"]), "--mirror"));
    }
}
