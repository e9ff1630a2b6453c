//! Compressed images (zstd, xz): format detection by magic bytes, and the streaming pipeline
//! of `install --decompress` / `verify --decompress`: read, hash the compressed bytes,
//! decompress, hash the decompressed bytes, write.
//!
//! Three threads: one reads and decompresses into 1 MiB buffers; one hashes the compressed
//! and the decompressed bytes; the caller's thread writes each buffer (runs of data blocks as
//! one `write`, zero blocks skipped). Decompressing and hashing run side by side, so verifying
//! an image as it is flashed costs about what decompressing it does.

use std::fs::File;
use std::io::{BufRead, Read, Seek as _, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use cairn_verifier::entry::Sha256Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest as _, Sha256};

use crate::client::hashing::Hashed;

/// A compression format Cairn decompresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Zstandard (RFC 8878): frame magic `28 b5 2f fd`.
    Zstd,
    /// xz: stream header magic `fd 37 7a 58 5a 00`.
    Xz,
}

impl Format {
    /// The format whose magic bytes `head` starts with.
    pub(crate) fn detect(head: &[u8]) -> Option<Format> {
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Format::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Format::Xz)
        } else {
            None
        }
    }

    /// The format of the file at `path`, from its first bytes.
    pub(crate) fn of_file(path: &Path) -> std::io::Result<Option<Format>> {
        let mut head = [0u8; 6];
        let mut file = File::open(path)?;
        let mut got = 0;
        while got < head.len() {
            match file.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Format::detect(&head[..got]))
    }

    /// `zstd` or `xz`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Format::Zstd => "zstd",
            Format::Xz => "xz",
        }
    }
}

/// A decoder of `format` over `input`. zstd accepts concatenated frames and windows up to
/// zstd's default limit (128 MiB; `zstd --long=31` images need `--long` to decompress with
/// the zstd tool too); xz accepts concatenated streams.
fn decoder<'a, R: BufRead + Send + 'a>(
    format: Format,
    input: R,
) -> std::io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match format {
        Format::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        Format::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
    })
}

/// The compressed source, read in chunks that are shared with the hashing thread: the
/// decoder reads each chunk in place (`BufRead`) while the hashing thread hashes the same
/// chunk, so the compressed bytes are copied once (out of the kernel) and hashed off the
/// decompressing thread.
struct Chunks<R> {
    inner: R,
    chunk: Arc<Vec<u8>>,
    /// How much of `chunk` the decoder consumed.
    at: usize,
    to_hasher: mpsc::SyncSender<Piece>,
    bar: ProgressBar,
}

impl<R: Read> Chunks<R> {
    fn new(inner: R, to_hasher: mpsc::SyncSender<Piece>, bar: ProgressBar) -> Chunks<R> {
        Chunks {
            inner,
            chunk: Arc::new(Vec::new()),
            at: 0,
            to_hasher,
            bar,
        }
    }
}

impl<R: Read> BufRead for Chunks<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.at == self.chunk.len() {
            // `read_to_end` retries reads that were interrupted.
            let mut next = Vec::with_capacity(COMPRESSED_CHUNK);
            (&mut self.inner)
                .take(COMPRESSED_CHUNK as u64)
                .read_to_end(&mut next)
                .map_err(|e| std::io::Error::new(e.kind(), SourceError(e)))?;
            let next = Arc::new(next);
            if !next.is_empty() {
                self.to_hasher
                    .send(Piece::Compressed(Arc::clone(&next)))
                    .map_err(|_| std::io::Error::other("the hashing thread stopped"))?;
                self.bar.inc(next.len() as u64);
            }
            self.chunk = next;
            self.at = 0;
        }
        Ok(&self.chunk[self.at..])
    }

    fn consume(&mut self, amount: usize) {
        self.at = (self.at + amount).min(self.chunk.len());
    }
}

impl<R: Read> Read for Chunks<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// A failure to read the source itself (the network or the disk), as opposed to data that
/// does not decompress: carried inside the `std::io::Error` the decoder passes on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SourceError(std::io::Error);

/// What the decompressing thread hands to the hashing thread, in order.
enum Piece {
    /// Compressed bytes, in the order they were read.
    Compressed(Arc<Vec<u8>>),
    /// A buffer of decompressed bytes and how much of it is filled; 0 is the end of the
    /// decompressed content.
    Decompressed(Vec<u8>, usize),
    /// Every compressed byte was sent (trailing bytes after the last frame included).
    Finished,
}

/// The digests and sizes of both sides of a decompression.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Streamed {
    /// The compressed bytes (what the artifact line names).
    pub(crate) compressed: Hashed,
    /// The decompressed bytes (what the `decompressed` line names).
    pub(crate) decompressed: Hashed,
}

/// Why a stream was stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamError {
    /// Not a format Cairn decompresses.
    #[error("{0} is neither zstd nor xz data (no zstd or xz magic bytes at its start)")]
    UnknownFormat(String),
    /// The decompressed content grew past the logged size.
    #[error("{what} decompresses to more than the {limit} bytes its log entry names; stopped")]
    TooLarge {
        /// The source, for the message.
        what: String,
        /// The logged size.
        limit: u64,
    },
    /// Reading, decompressing or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Shows `bar` (a hidden bar without length, which may have counted already) in `multi`.
fn bar(multi: &MultiProgress, bar: ProgressBar, total: Option<u64>, label: String) -> ProgressBar {
    if let Some(t) = total {
        bar.set_length(t);
    }
    let template = if total.is_some() {
        "{msg:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    } else {
        "{msg:>14} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label);
    let bar = multi.add(bar);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Inputs at least this large (or of unknown size) get progress bars.
const PROGRESS_THRESHOLD: u64 = 64 << 20;
/// Decompressed buffer size.
const BUFFER_SIZE: usize = 1 << 20;
/// Buffers in flight between the decompressing thread, the hashing thread and the writer.
const BUFFERS: usize = 8;
/// Compressed bytes handed to the hashing thread at a time.
const COMPRESSED_CHUNK: usize = 1 << 20;

/// Streams `input` (`what`, for messages; `total` its size if known) through its decoder into
/// `sink`, hashing both sides. Stops with [`StreamError::TooLarge`] once the decompressed
/// content passes `limit` (the logged size), so a decompression bomb fills nothing.
///
/// Three stages, each on its own thread, connected by bounded channels: one reads and
/// decompresses; one hashes the compressed and the decompressed bytes; the caller's thread
/// writes into `sink` and hands each buffer back to the first. Decompression and SHA-256 cost
/// about the same per byte for zstd, so on two cores a run costs about what decompressing
/// alone does (docs/performance.md, "Compressed images").
pub(crate) fn stream<R: Read + Send>(
    input: R,
    what: &str,
    total: Option<u64>,
    decompressed_total: Option<u64>,
    limit: Option<u64>,
    sink: &mut dyn Write,
) -> Result<(Format, Streamed), StreamError> {
    let (to_hasher, from_decoder) = mpsc::sync_channel::<Piece>(2 * BUFFERS);
    let compressed_bar = ProgressBar::hidden();
    let mut input = Chunks::new(input, to_hasher.clone(), compressed_bar.clone());
    let format = Format::detect(input.fill_buf()?)
        .ok_or_else(|| StreamError::UnknownFormat(what.to_owned()))?;
    let show = total.is_none_or(|t| t >= PROGRESS_THRESHOLD)
        || decompressed_total.is_some_and(|t| t >= PROGRESS_THRESHOLD);
    let multi = MultiProgress::with_draw_target(if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let compressed_bar = bar(
        &multi,
        compressed_bar,
        total,
        format!("{} in", format.as_str()),
    );
    let decompressed_bar = bar(
        &multi,
        ProgressBar::hidden(),
        decompressed_total,
        "decompressed".to_owned(),
    );
    // Decompressing thread -> hashing thread -> writer (this thread) -> decompressing thread.
    let (to_writer, from_hasher) = mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (to_decoder, from_writer) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = to_decoder.send(vec![0u8; BUFFER_SIZE]);
    }
    let limit_or_max = limit.map_or(u64::MAX, |l| l.saturating_add(1));
    let shown = decompressed_bar.clone();
    let result = std::thread::scope(move |scope| {
        let decoding = scope.spawn(move || -> std::io::Result<()> {
            let stopped = || std::io::Error::other("the writer stopped");
            // The decoder borrows the source, so the compressed side is finished once it is done.
            let mut input = input;
            {
                let mut decoded = decoder(format, &mut input)?.take(limit_or_max);
                loop {
                    let Ok(mut buf) = from_writer.recv() else {
                        return Err(stopped());
                    };
                    let n = fill(&mut decoded, &mut buf)?;
                    if to_hasher.send(Piece::Decompressed(buf, n)).is_err() {
                        return Err(stopped());
                    }
                    if n == 0 {
                        break;
                    }
                }
            }
            // Trailing bytes after the last frame or stream would not be decompressed, yet
            // they are part of the artifact: hash them too (and a decoder that stopped early
            // leaves the rest unhashed otherwise).
            loop {
                let n = input.fill_buf()?.len();
                if n == 0 {
                    break;
                }
                input.consume(n);
            }
            to_hasher.send(Piece::Finished).map_err(|_| stopped())
        });
        let hashing = scope.spawn(move || -> Option<(Hashing, Hashing)> {
            let (mut compressed, mut decompressed) = (Hashing::default(), Hashing::default());
            loop {
                // A closed channel before `Finished` means the decoder failed; it says why.
                match from_decoder.recv().ok()? {
                    Piece::Compressed(chunk) => compressed.update(&chunk),
                    Piece::Decompressed(buf, n) => {
                        decompressed.update(&buf[..n]);
                        // The writer may have stopped; the decoder then stops too.
                        let _ = to_writer.send((buf, n));
                    }
                    Piece::Finished => return Some((compressed, decompressed)),
                }
            }
        });
        let mut write_error = None;
        while let Ok((buf, n)) = from_hasher.recv() {
            if n == 0 {
                break;
            }
            shown.inc(n as u64);
            if let Err(e) = sink.write_all(&buf[..n]) {
                write_error = Some(e);
                break;
            }
            // The decoder may have finished already; a failed send just drops the buffer.
            let _ = to_decoder.send(buf);
        }
        drop(from_hasher);
        drop(to_decoder);
        let decoded = decoding
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the decompressing thread panicked")));
        let hashed = hashing.join().ok().flatten();
        (decoded, hashed, write_error)
    });
    compressed_bar.finish_and_clear();
    decompressed_bar.finish_and_clear();
    let (decoded, hashed, write_error) = result;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if let (Some(limit), Some((_, decompressed))) = (limit, &hashed)
        && decompressed.size > limit
    {
        return Err(StreamError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    decoded?;
    let (compressed, decompressed) =
        hashed.ok_or_else(|| std::io::Error::other("the hashing thread stopped"))?;
    Ok((
        format,
        Streamed {
            compressed: compressed.finish(),
            decompressed: decompressed.finish(),
        },
    ))
}

/// A SHA-256 and a byte count, fed in pieces.
#[derive(Default)]
struct Hashing {
    hasher: Sha256,
    size: u64,
}

impl Hashing {
    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.size += data.len() as u64;
    }

    fn finish(self) -> Hashed {
        Hashed {
            digest: Sha256Digest::from_bytes(self.hasher.finalize().into()),
            size: self.size,
        }
    }
}

fn fill<R: Read>(input: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Block size below which zero runs are written rather than skipped.
const SPARSE_BLOCK: u64 = 4096;

/// A writer into a new, empty file that seeks over all-zero blocks instead of writing them,
/// so the file is sparse where the image is zero. [`SparseFile::finish`] sets the length (a
/// trailing zero run is a hole too) and syncs.
pub(crate) struct SparseFile<'a> {
    file: &'a mut File,
    /// Logical position (what was written or skipped).
    position: u64,
    /// Where the file's offset actually is.
    offset: u64,
}

impl<'a> SparseFile<'a> {
    /// Writes into `file`, which must be empty.
    pub(crate) fn new(file: &'a mut File) -> SparseFile<'a> {
        SparseFile {
            file,
            position: 0,
            offset: 0,
        }
    }

    /// Sets the file's length to what was written and syncs it.
    pub(crate) fn finish(self) -> std::io::Result<()> {
        self.file.set_len(self.position)?;
        self.file.sync_all()
    }
}

impl SparseFile<'_> {
    /// Writes `run` at the logical position, seeking first if blocks were skipped.
    fn write_run(&mut self, run: &[u8]) -> std::io::Result<()> {
        if run.is_empty() {
            return Ok(());
        }
        if self.offset != self.position {
            self.file.seek(SeekFrom::Start(self.position))?;
        }
        self.file.write_all(run)?;
        self.position += run.len() as u64;
        self.offset = self.position;
        Ok(())
    }
}

impl Write for SparseFile<'_> {
    /// Splits `data` at the file's block boundaries; each run of blocks holding data is one
    /// `write`, each run of zero blocks is skipped.
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut run_start = 0usize;
        let mut at = 0usize;
        while at < data.len() {
            // Up to the next block boundary of the file.
            let logical = self.position + (at - run_start) as u64;
            let room = SPARSE_BLOCK - logical % SPARSE_BLOCK;
            let len = usize::try_from(room)
                .unwrap_or(usize::MAX)
                .min(data.len() - at);
            if all_zero(&data[at..at + len]) {
                self.write_run(&data[run_start..at])?;
                self.position += len as u64;
                run_start = at + len;
            }
            at += len;
        }
        self.write_run(&data[run_start..])?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Whether every byte of `piece` is zero (in 256-byte strides the compiler vectorises).
fn all_zero(piece: &[u8]) -> bool {
    piece
        .chunks(256)
        .all(|stride| stride.iter().fold(0u8, |acc, &b| acc | b) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes() {
        assert_eq!(
            Format::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Some(Format::Zstd)
        );
        assert_eq!(
            Format::detect(&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00]),
            Some(Format::Xz)
        );
        assert_eq!(Format::detect(b"\x1f\x8b\x08"), None);
        assert_eq!(Format::detect(&[0x28, 0xb5]), None);
    }

    #[test]
    fn zstd_round_trip_hashes_both_sides_and_writes_sparse() {
        let mut image = vec![0u8; 3 << 20];
        image[5000..5100].fill(7);
        image[(2 << 20) + 1..(2 << 20) + 9].fill(9);
        let compressed = zstd::bulk::compress(&image, 3).expect("compress");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("out.raw");
        let mut file = File::create(&path).expect("create");
        let mut sparse = SparseFile::new(&mut file);
        let (format, s) = stream(
            compressed.as_slice(),
            "test",
            Some(compressed.len() as u64),
            None,
            Some(image.len() as u64),
            &mut sparse,
        )
        .expect("stream");
        sparse.finish().expect("finish");
        assert_eq!(format, Format::Zstd);
        assert_eq!(s.compressed.digest, Sha256Digest::of(&compressed));
        assert_eq!(s.compressed.size, compressed.len() as u64);
        assert_eq!(s.decompressed.size, image.len() as u64);
        let written = std::fs::read(&path).expect("read");
        assert_eq!(written.len(), image.len());
        assert!(
            written == image,
            "first difference at {:?}",
            written.iter().zip(&image).position(|(a, b)| a != b)
        );
        assert_eq!(s.decompressed.digest, Sha256Digest::of(&image));
        // Two 4 KiB blocks hold data; the rest are holes (file systems without holes would
        // allocate all 3 MiB).
        let blocks =
            std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&path).expect("meta"));
        assert!(blocks * 512 < 1 << 20, "{blocks} blocks allocated");
    }

    #[test]
    fn both_digests_cover_every_chunk_and_concatenated_frames() {
        // Incompressible data, so the compressed side spans several chunks, in two frames.
        let mut x = 0x9e37_79b9_u32;
        let mut noise = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect()
        };
        let (a, b) = (noise(COMPRESSED_CHUNK * 2 + 12_345), noise(777));
        let mut compressed = zstd::bulk::compress(&a, 1).expect("compress");
        compressed.extend(zstd::bulk::compress(&b, 1).expect("compress"));
        let image = [a, b].concat();
        // A source that returns short reads, as a network does.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(65_521);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        let (_, s) = stream(Trickle(&compressed), "t", None, None, None, &mut out).expect("stream");
        assert_eq!(s.compressed.digest, Sha256Digest::of(&compressed));
        assert_eq!(s.compressed.size, compressed.len() as u64);
        assert_eq!(s.decompressed.digest, Sha256Digest::of(&image));
        assert_eq!(s.decompressed.size, image.len() as u64);
        assert!(out == image);
    }

    #[test]
    fn sparse_writes_in_any_pieces_give_the_same_file() {
        // Data, zero runs shorter and longer than a block, unaligned edges, a trailing hole.
        let mut image = vec![0u8; 200_000];
        let mut x = 0x2545_f491_u32;
        for (start, len) in [
            (0, 10),
            (4095, 2),
            (9000, 5000),
            (40_960, 4096),
            (100_001, 1),
        ] {
            for b in &mut image[start..start + len] {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = (x as u8) | 1;
            }
        }
        for piece in [1usize, 7, 4096, 4097, 65_536, 200_000] {
            let dir = tempfile::tempdir().expect("dir");
            let path = dir.path().join("out.raw");
            let mut file = File::create(&path).expect("create");
            let mut sparse = SparseFile::new(&mut file);
            for chunk in image.chunks(piece) {
                sparse.write_all(chunk).expect("write");
            }
            sparse.finish().expect("finish");
            let written = std::fs::read(&path).expect("read");
            assert!(
                written == image,
                "pieces of {piece}: first difference at {:?}, length {}",
                written.iter().zip(&image).position(|(a, b)| a != b),
                written.len()
            );
        }
        assert!(all_zero(&[0u8; 1000]));
        let mut one = [0u8; 1000];
        one[999] = 1;
        assert!(!all_zero(&one));
        assert!(all_zero(&[]));
    }

    #[test]
    fn xz_round_trip_and_the_logged_size_caps_the_output() {
        let image = vec![1u8; 1 << 20];
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
        enc.write_all(&image).expect("xz");
        let compressed = enc.finish().expect("xz");
        let (format, s) = stream(
            compressed.as_slice(),
            "test",
            None,
            None,
            None,
            &mut std::io::sink(),
        )
        .expect("stream");
        assert_eq!(format, Format::Xz);
        assert_eq!(s.decompressed.digest, Sha256Digest::of(&image));
        let capped = stream(
            compressed.as_slice(),
            "bomb.xz",
            None,
            None,
            Some(1000),
            &mut std::io::sink(),
        );
        assert!(matches!(
            capped,
            Err(StreamError::TooLarge { limit: 1000, .. })
        ));
        let plain = stream(
            &b"plain text"[..],
            "x.txt",
            None,
            None,
            None,
            &mut std::io::sink(),
        );
        assert!(matches!(plain, Err(StreamError::UnknownFormat(_))));
    }

    #[test]
    fn a_failing_source_is_told_apart_from_bad_data() {
        struct Broken(Vec<u8>);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::other("connection reset"));
                }
                let n = buf.len().min(self.0.len()).min(100);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0.drain(..n);
                Ok(n)
            }
        }
        let compressed = zstd::bulk::compress(&[5u8; 100_000], 3).expect("compress");
        let half = compressed[..compressed.len() / 2].to_vec();
        match stream(Broken(half), "t", None, None, None, &mut std::io::sink()) {
            Err(StreamError::Io(e)) => assert!(
                e.get_ref().is_some_and(|inner| inner.is::<SourceError>()),
                "{e:?}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failing_writer_stops_every_stage() {
        // A disk that fills after 3 MiB: the writer's error is the answer, and the
        // decompressing and hashing threads stop rather than wait for buffers forever.
        struct Full(usize);
        impl Write for Full {
            fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
                if self.0 < data.len() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::StorageFull,
                        "no space left on device",
                    ));
                }
                self.0 -= data.len();
                Ok(data.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let compressed = zstd::bulk::compress(&vec![3u8; 64 << 20], 1).expect("compress");
        match stream(
            compressed.as_slice(),
            "t",
            None,
            None,
            None,
            &mut Full(3 << 20),
        ) {
            Err(StreamError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::StorageFull),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let mut compressed = zstd::bulk::compress(&[5u8; 100_000], 3).expect("compress");
        let mid = compressed.len() / 2;
        compressed.truncate(mid);
        assert!(
            stream(
                compressed.as_slice(),
                "t",
                None,
                None,
                None,
                &mut std::io::sink()
            )
            .is_err()
        );
    }
}
