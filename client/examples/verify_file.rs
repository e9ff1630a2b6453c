//! `verify_file STATE_DIR FILE`: verifies FILE against the log STATE_DIR/trust names (from
//! `cairn trust init`), as `cairn verify` does. Exit 0 verified, 3 refused, 4 inconsistent.

#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line program's output.

use cairn_client::verify::{Expected, Options, Run};
use cairn_client::{Kind, hashing::hash_stream, report::Report, state::StateDir, trust::Trust};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, state, file] = &args[..] else {
        eprintln!("usage: verify_file STATE_DIR FILE");
        std::process::exit(2);
    };
    let result = (|| {
        let state = StateDir::open(state)?;
        let trust = Trust::load(&state.trust_path())?;
        let mut run = Run::online(state, trust, Report::default())?;
        let hashed = hash_stream(std::fs::File::open(file)?, None, &mut |_| {})?;
        run.verify(&hashed, None, &Expected::any(), &Options::default())
    })();
    match result {
        Ok(v) => println!(
            "verified {} {} (index {})",
            v.release.name(),
            v.release.version(),
            v.index
        ),
        Err(e) => {
            eprintln!("{}", e.chain());
            std::process::exit(match e.kind() {
                Kind::Refused => 3,
                Kind::Inconsistent => 4,
                Kind::Usage | Kind::Operational => 1,
            });
        }
    }
}
