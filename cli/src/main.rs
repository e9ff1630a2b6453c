//! The `cairn` command.

fn main() {
    eprintln!("cairn: no commands are implemented yet");
    std::process::exit(1);
}
