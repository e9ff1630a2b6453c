//! The progress bar on stderr for hashing a large input (the hashing is
//! `cairn_client::hashing`).

use std::io::{Read, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Inputs at least this large (or of unknown size) get a progress bar.
const PROGRESS_THRESHOLD: u64 = 64 << 20;

pub(crate) use cairn_client::hashing::Hashed;

/// A progress bar on stderr for `total` bytes (`None`: unknown), hidden for small inputs and
/// when stderr is not a terminal.
fn progress(total: Option<u64>, label: &str) -> ProgressBar {
    let show = total.is_none_or(|t| t >= PROGRESS_THRESHOLD);
    if !show {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = if total.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    } else {
        "{msg} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_owned());
    bar
}

/// Reads `input` to the end, hashing every byte and, when `copy` is given, writing it there
/// too, with a progress bar for `total` bytes (the expected size; `None`: unknown).
pub(crate) fn hash_stream<R: Read + Send>(
    input: R,
    total: Option<u64>,
    label: &str,
    copy: Option<&mut dyn Write>,
) -> std::io::Result<Hashed> {
    let bar = progress(total, label);
    let result = cairn_client::hashing::hash_stream(input, copy, &mut |n| bar.set_position(n));
    bar.finish_and_clear();
    result
}
