//! `install --decompress` (and `update --decompress`): a zstd or xz image is downloaded or
//! read, its compressed bytes hashed, decompressed, the decompressed bytes hashed and written;
//! the compressed digest is verified against the log as `install` does, and the decompressed
//! digest and size must equal the entry's `decompressed` line (spec/entries.md) before the
//! result is usable.
//!
//! - To a file: a temporary file beside it, sparse where the image has zero blocks, synced,
//!   renamed into place only after every check passed.
//! - To a block device: written in place (it cannot be atomic), synced, its page cache dropped,
//!   read back and hashed again. If anything fails after the first byte was written, the
//!   device's first and last MiB are zeroed, so a half-written or unverified image never boots
//!   (partition tables live there: GPT at both ends, MBR at the start), and the outcome says so.

use std::fs;
use std::io::{Read, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use crate::client::decompress::{SparseFile, StreamError, Streamed, stream};
use crate::client::hashing::hash_stream;
use crate::client::install::{
    Prepared, Source, Target, TemporaryGuard, fetch_proof, is_block_device, open_source,
    set_temporary, too_large,
};
use cairn_client::Error;
use cairn_client::report::Report;
use cairn_client::upstream::{http_client, request_deadline};
use cairn_client::verify::{Expected, ProofFile, Run, Verified, proof_path_for, read_proof};

/// What the head and tail zeroing covers on a device that failed verification.
const ZEROED: u64 = 1 << 20;

/// The largest decompressed size the proof's release names, if it names any.
fn largest_decompressed_size(proof: &ProofFile) -> Option<u64> {
    let parsed = cairn_verifier::tlog_proof::TlogProof::parse(&proof.bytes).ok()?;
    let note = cairn_verifier::note::Note::parse(parsed.extra.as_deref()?).ok()?;
    let release = cairn_verifier::entry::Release::parse(note.text()).ok()?;
    release
        .artifacts()
        .iter()
        .filter_map(|a| release.decompressed(&a.file_name))
        .map(|d| d.size)
        .max()
}

/// A stream failure as the client contract wants it: damaged or oversized data is a
/// verification failure (exit 3), data that is not compressed a usage error.
pub(crate) fn stream_failure(e: StreamError, label: &str) -> anyhow::Error {
    match e {
        StreamError::UnknownFormat(_) => Error::Usage(format!(
            "--decompress: {e}; install it without --decompress"
        ))
        .into(),
        StreamError::TooLarge { .. } => Error::Refused(e.to_string()).into(),
        // The network or the disk failed: an operational error, not a verdict on the data.
        StreamError::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<crate::client::decompress::SourceError>()) =>
        {
            anyhow::anyhow!("reading {label}: {io}")
        }
        StreamError::Io(io)
            if io.kind() == std::io::ErrorKind::Other
                || io.kind() == std::io::ErrorKind::InvalidData
                || io.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Error::Refused(format!(
                "{label} does not decompress: {io}: the file is damaged or was tampered with"
            ))
            .into()
        }
        StreamError::Io(io) => anyhow::anyhow!("{label}: {io}"),
    }
}

/// Records both digests in the report.
pub(crate) fn report_hashes(report: &mut Report, label: &str, to: Option<&Path>, s: &Streamed) {
    let c = s.compressed.digest.to_hex();
    let d = s.decompressed.digest.to_hex();
    report.pass(
        "hash",
        format!("{label}: sha256:{c} ({} bytes)", s.compressed.size),
    );
    report.pass(
        "decompress",
        format!(
            "{label} decompressed: sha256:{d} ({} bytes)",
            s.decompressed.size
        ),
    );
    report.artifact = Some(json!({
        "source": label,
        "path": to.map(|p| p.display().to_string()),
        "sha256": c,
        "size": s.compressed.size,
        "decompressed": {"sha256": d, "size": s.decompressed.size},
    }));
}

/// `install --decompress`.
pub(crate) fn install_decompressed(
    run: &mut Run,
    args: &Target<'_>,
    prepared: &Prepared,
    expected: &Expected,
) -> anyhow::Result<Verified> {
    let source = &prepared.source;
    let proof = match args.proof {
        Some(p) => Some(
            read_proof(p)?
                .ok_or_else(|| Error::Usage(format!("--proof {}: no such file", p.display())))?,
        ),
        None => match source {
            Source::Url(url) => fetch_proof(&http_client(Some(request_deadline()))?, url)?,
            Source::Local(path) => read_proof(&proof_path_for(path))?,
        },
    };
    let limit = proof
        .as_ref()
        .and_then(crate::client::install::largest_logged_size);
    let out_limit = proof.as_ref().and_then(largest_decompressed_size);
    if proof.is_none() {
        run.report.skip(
            "proof",
            format!(
                "{}.tlog-proof not found: looking the artifact up in the log after the \
                 download (the decompressed size is not capped before then)",
                args.source
            ),
        );
    }
    if is_block_device(args.to) {
        return flash_device(
            run,
            args,
            source,
            proof.as_ref(),
            limit,
            out_limit,
            expected,
        );
    }
    let dir = prepared.dir.as_path();
    let _guard = TemporaryGuard;
    let mut temporary = tempfile::Builder::new()
        .prefix(&format!(".{}.cairn-", prepared.file_name))
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    set_temporary(Some(temporary.path().to_path_buf()));
    let (input, total) = open_source(source, args.source, limit)?;
    let mut sparse = SparseFile::new(temporary.as_file_mut());
    let (_, streamed) = stream(input, args.source, total, out_limit, out_limit, &mut sparse)
        .map_err(|e| stream_failure(e, args.source))?;
    sparse.finish().context("writing the decompressed image")?;
    check_lengths(args.source, total, limit, &streamed)?;
    report_hashes(&mut run.report, args.source, Some(args.to), &streamed);
    let verified = run.verify(
        &streamed.compressed,
        proof.as_ref(),
        expected,
        &args.checks.to_options(),
    )?;
    cairn_client::verify::check_decompressed(&mut run.report, &verified, &streamed.decompressed)?;
    crate::client::install::persist(temporary, args.to, dir)?;
    run.report.pass(
        "install",
        format!(
            "installed the decompressed image ({} bytes) as {}",
            streamed.decompressed.size,
            args.to.display()
        ),
    );
    Ok(verified)
}

fn check_lengths(
    label: &str,
    total: Option<u64>,
    limit: Option<u64>,
    streamed: &Streamed,
) -> anyhow::Result<()> {
    if let Some(limit) = limit
        && streamed.compressed.size > limit
    {
        return Err(too_large(label, limit, streamed.compressed.size).into());
    }
    if let Some(expected) = total
        && expected != streamed.compressed.size
    {
        anyhow::bail!(
            "{label}: got {} bytes, the source announced {expected}",
            streamed.compressed.size
        );
    }
    Ok(())
}

/// Writes, verifies and reads back a device; zeroes its ends when anything fails after the
/// first write.
#[allow(clippy::too_many_arguments)]
fn flash_device(
    run: &mut Run,
    args: &Target<'_>,
    source: &Source,
    proof: Option<&ProofFile>,
    limit: Option<u64>,
    out_limit: Option<u64>,
    expected: &Expected,
) -> anyhow::Result<Verified> {
    // O_EXCL on a block device: refused (EBUSY) while it is mounted or otherwise in use.
    let mut device = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::EXCL.bits() as i32)
        .open(args.to)
        .with_context(|| {
            format!(
                "opening {} for writing (is it mounted or in use?)",
                args.to.display()
            )
        })?;
    let device_size = device
        .seek(SeekFrom::End(0))
        .with_context(|| format!("reading the size of {}", args.to.display()))?;
    device.seek(SeekFrom::Start(0))?;
    if let Some(needed) = out_limit
        && needed > device_size
    {
        return Err(Error::Usage(format!(
            "{} holds {device_size} bytes; the image needs up to {needed}",
            args.to.display()
        ))
        .into());
    }
    let (input, total) = open_source(source, args.source, limit)?;
    let out_limit = Some(out_limit.map_or(device_size, |l| l.min(device_size)));
    let written = std::cell::Cell::new(0u64);
    let outcome = (|| -> anyhow::Result<Verified> {
        let mut sink = Counted {
            file: &mut device,
            written: &written,
        };
        let (_, streamed) = stream(input, args.source, total, out_limit, out_limit, &mut sink)
            .map_err(|e| stream_failure(e, args.source))?;
        device
            .sync_all()
            .with_context(|| format!("syncing {}", args.to.display()))?;
        check_lengths(args.source, total, limit, &streamed)?;
        report_hashes(&mut run.report, args.source, Some(args.to), &streamed);
        let verified = run.verify(
            &streamed.compressed,
            proof,
            expected,
            &args.checks.to_options(),
        )?;
        cairn_client::verify::check_decompressed(
            &mut run.report,
            &verified,
            &streamed.decompressed,
        )?;
        // Read back what the device holds, past the page cache.
        let _ = rustix::fs::fadvise(
            &device,
            0,
            std::num::NonZeroU64::new(device_size),
            rustix::fs::Advice::DontNeed,
        );
        device.seek(SeekFrom::Start(0))?;
        let back = hash_stream(
            (&device).take(streamed.decompressed.size),
            Some(streamed.decompressed.size),
            "reading back",
            None,
        )
        .with_context(|| format!("reading back {}", args.to.display()))?;
        if back != streamed.decompressed {
            let detail = format!(
                "{} reads back as {} ({} bytes), not the image written ({})",
                args.to.display(),
                back.digest,
                back.size,
                streamed.decompressed.digest
            );
            run.report.fail("read-back", &detail);
            return Err(Error::Refused(detail).into());
        }
        run.report.pass(
            "read-back",
            format!(
                "{} reads back as {} ({} bytes)",
                args.to.display(),
                back.digest,
                back.size
            ),
        );
        Ok(verified)
    })();
    match outcome {
        Ok(verified) => {
            run.report.pass(
                "install",
                format!("flashed {} with the verified image", args.to.display()),
            );
            Ok(verified)
        }
        Err(e) if written.get() == 0 => {
            let what = format!("nothing was written to {}", args.to.display());
            run.report.fail("install", &what);
            Err(e.context(what))
        }
        Err(e) => {
            let zeroed = zero_ends(&mut device, device_size);
            let what = match zeroed {
                Ok(()) => format!(
                    "{} was NOT flashed with a verified image: its first and last MiB were \
                     zeroed so it does not boot what was written",
                    args.to.display()
                ),
                Err(z) => format!(
                    "{} was NOT flashed with a verified image, and zeroing its first and last \
                     MiB FAILED ({z}): do not boot from it",
                    args.to.display()
                ),
            };
            eprintln!("cairn: {what}");
            run.report.fail("install", &what);
            Err(e.context(what))
        }
    }
}

/// A writer that counts what reached the device.
struct Counted<'a> {
    file: &'a mut fs::File,
    written: &'a std::cell::Cell<u64>,
}

impl std::io::Write for Counted<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(data)?;
        self.written.set(self.written.get() + n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn zero_ends(device: &mut fs::File, size: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; usize::try_from(ZEROED.min(size)).unwrap_or(0)];
    device.seek(SeekFrom::Start(0))?;
    device.write_all(&zeros)?;
    let tail = size.saturating_sub(ZEROED);
    device.seek(SeekFrom::Start(tail))?;
    device.write_all(&zeros[..usize::try_from(size - tail).unwrap_or(0)])?;
    device.sync_all()
}
