//! Reading a log as a client does: verified checkpoints, tiles authenticated against them,
//! entry bundles, `.tlog-proof` files and consistency between checkpoints. Everything goes
//! through `cairn_verifier`; nothing the server says is trusted without it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use cairn_verifier::checkpoint::{VerifiedCheckpoint, verify_consistent};
use cairn_verifier::hash::leaf_hash;
use cairn_verifier::merkle::verify_inclusion;
use cairn_verifier::note::Ed25519Verifier;
use cairn_verifier::tile::{
    EntryBundle, TILE_HEIGHT, TILE_WIDTH, Tile, TileHashReader, TileReader, TreeHead,
};
use cairn_verifier::tlog_proof::TlogProof;

use crate::http::Http;

/// Which of the two logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Log {
    /// The release log, `/releases/`.
    Releases,
    /// The key log, `/keys/`.
    Keys,
}

impl Log {
    /// The path segment and origin suffix: `releases` or `keys`.
    pub fn name(self) -> &'static str {
        match self {
            Log::Releases => "releases",
            Log::Keys => "keys",
        }
    }
}

/// A failure to read something a test expected to read.
#[derive(Debug)]
pub struct FetchError(pub String);

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FetchError {}

/// Where a log's tlog-tiles files come from: the server over HTTP, or a directory (a clone).
#[derive(Debug, Clone)]
pub enum Source {
    /// `http://ADDR/<log>/`.
    Http {
        /// `http://ADDR/<log>` (no trailing slash).
        base: String,
        /// The client.
        http: Http,
    },
    /// `DIR/<log>/` on disk.
    Dir(PathBuf),
}

impl Source {
    /// Reads the file at `path` (relative to the log's prefix): `Ok(None)` when it does not exist.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, FetchError> {
        match self {
            Source::Http { base, http } => {
                let url = format!("{base}/{path}");
                let reply = http
                    .get(&url)
                    .map_err(|e| FetchError(format!("GET {url}: {e}")))?;
                match reply.status {
                    200 => Ok(Some(reply.body)),
                    404 => Ok(None),
                    status => Err(FetchError(format!(
                        "GET {url}: status {status}: {}",
                        reply.text().trim_end()
                    ))),
                }
            }
            Source::Dir(dir) => match std::fs::read(dir.join(path)) {
                Ok(data) => Ok(Some(data)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(FetchError(format!("reading {path}: {e}"))),
            },
        }
    }

    fn must_read(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        self.read(path)?
            .ok_or_else(|| FetchError(format!("{path} does not exist ({self:?})")))
    }
}

/// Tiles from a [`Source`], with the tlog-tiles fallback from a missing partial tile to the full
/// tile cut to width. Untrusted: [`TileHashReader`] authenticates what it returns.
#[derive(Debug)]
pub struct SourceTiles {
    source: Source,
    cache: Mutex<HashMap<Tile, Vec<u8>>>,
}

impl TileReader for SourceTiles {
    type Error = FetchError;

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, FetchError> {
        tiles
            .iter()
            .map(|tile| {
                if let Some(data) = self.cache.lock().expect("tile cache").get(tile) {
                    return Ok(data.clone());
                }
                if let Some(data) = self.source.read(&tile.path())? {
                    return Ok(data);
                }
                if tile.is_full() {
                    return Err(FetchError(format!("tile {} does not exist", tile.path())));
                }
                let full = Tile::new(tile.height(), tile.level(), tile.index(), TILE_WIDTH)
                    .map_err(|e| FetchError(e.to_string()))?;
                let mut data = self.source.read(&full.path())?.ok_or_else(|| {
                    FetchError(format!(
                        "neither {} nor {} exists",
                        tile.path(),
                        full.path()
                    ))
                })?;
                data.truncate(tile.data_len());
                Ok(data)
            })
            .collect()
    }

    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]) {
        let mut cache = self.cache.lock().expect("tile cache");
        for (tile, data) in tiles.iter().zip(data) {
            cache.insert(*tile, data.clone());
        }
    }
}

/// One log as a client sees it: its origin, the log's key under that origin, and a source.
#[derive(Debug, Clone)]
pub struct LogView {
    log: Log,
    origin: String,
    verifier: Ed25519Verifier,
    source: Source,
}

impl LogView {
    /// The log `log` of the server at `server_base` (`http://ADDR`), whose origin prefix is
    /// `prefix` and whose key (under the name `prefix/<log>`) is `verifier`.
    pub fn http(log: Log, prefix: &str, verifier: Ed25519Verifier, server_base: &str) -> LogView {
        LogView {
            log,
            origin: format!("{prefix}/{}", log.name()),
            verifier,
            source: Source::Http {
                base: format!("{server_base}/{}", log.name()),
                http: Http::new(),
            },
        }
    }

    /// The same log read from the directory `root/<log>/` (a checkout of the git branch).
    pub fn dir(
        log: Log,
        prefix: &str,
        verifier: Ed25519Verifier,
        root: &std::path::Path,
    ) -> LogView {
        LogView {
            log,
            origin: format!("{prefix}/{}", log.name()),
            verifier,
            source: Source::Dir(root.join(log.name())),
        }
    }

    /// Which log.
    pub fn log(&self) -> Log {
        self.log
    }

    /// The origin, `PREFIX/<log>`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The source the view reads from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Verifies checkpoint note bytes as this log's (signature by the log key, origin, no
    /// extension lines).
    pub fn verify_checkpoint(&self, bytes: &[u8]) -> Result<VerifiedCheckpoint, FetchError> {
        VerifiedCheckpoint::verify_without_extensions(bytes, &self.origin, &self.verifier).map_err(
            |e| {
                FetchError(format!(
                    "{} checkpoint does not verify: {e}\n{}",
                    self.origin,
                    String::from_utf8_lossy(bytes)
                ))
            },
        )
    }

    /// Fetches and verifies the latest checkpoint.
    pub fn try_checkpoint(&self) -> Result<VerifiedCheckpoint, FetchError> {
        let bytes = self.source.must_read("checkpoint")?;
        self.verify_checkpoint(&bytes)
    }

    /// Fetches and verifies the latest checkpoint, panicking on failure.
    pub fn checkpoint(&self) -> VerifiedCheckpoint {
        self.try_checkpoint().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A hash reader authenticated against `checkpoint`.
    pub fn hash_reader(&self, checkpoint: &VerifiedCheckpoint) -> TileHashReader<SourceTiles> {
        TileHashReader::new(
            TreeHead::from_verified(checkpoint),
            SourceTiles {
                source: self.source.clone(),
                cache: Mutex::new(HashMap::new()),
            },
        )
    }

    /// Reads the entries of `bundle` (falling back to the full bundle when a partial one is
    /// gone), without authenticating them.
    pub fn read_bundle(&self, bundle: &EntryBundle) -> Result<Vec<Vec<u8>>, FetchError> {
        let split = |b: &EntryBundle, data: &[u8]| {
            b.split(data)
                .map(|entries| entries.into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>())
                .map_err(|e| FetchError(format!("entry bundle {}: {e}", b.path())))
        };
        if let Some(data) = self.source.read(&bundle.path())? {
            return split(bundle, &data);
        }
        let full = EntryBundle::new(TILE_HEIGHT, bundle.index(), TILE_WIDTH)
            .map_err(|e| FetchError(e.to_string()))?;
        if full == *bundle {
            return Err(FetchError(format!("{} does not exist", bundle.path())));
        }
        let data = self.source.read(&full.path())?.ok_or_else(|| {
            FetchError(format!(
                "neither {} nor {} exists",
                bundle.path(),
                full.path()
            ))
        })?;
        let mut entries = split(&full, &data)?;
        entries.truncate(usize::from(bundle.width()));
        Ok(entries)
    }

    /// Every entry of the tree `checkpoint` signs, in index order, each authenticated against
    /// it through the tiles.
    pub fn try_entries(&self, checkpoint: &VerifiedCheckpoint) -> Result<Vec<Vec<u8>>, FetchError> {
        let reader = self.hash_reader(checkpoint);
        let size = checkpoint.size();
        let full = u64::from(TILE_WIDTH);
        let mut all = Vec::new();
        for index in 0..size.div_ceil(full) {
            let width = u16::try_from((size - index * full).min(full)).expect("at most 256");
            let bundle = EntryBundle::new(TILE_HEIGHT, index, width)
                .map_err(|e| FetchError(e.to_string()))?;
            let entries = self.read_bundle(&bundle)?;
            let slices: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
            bundle.verify_entries(&slices, &reader).map_err(|e| {
                FetchError(format!(
                    "{}: entry bundle {} does not match the checkpoint of size {size}: {e}",
                    self.origin,
                    bundle.path()
                ))
            })?;
            all.extend(entries);
        }
        Ok(all)
    }

    /// [`LogView::try_entries`], panicking on failure.
    pub fn entries(&self, checkpoint: &VerifiedCheckpoint) -> Vec<Vec<u8>> {
        self.try_entries(checkpoint)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Proves the inclusion of every one of `entries` (the whole log, in order) in the tree of
    /// `checkpoint` with proofs computed from authenticated tiles, and verifies each proof
    /// against the checkpoint's root.
    pub fn check_inclusion_of_all(&self, checkpoint: &VerifiedCheckpoint, entries: &[Vec<u8>]) {
        let reader = self.hash_reader(checkpoint);
        for (index, entry) in (0..).zip(entries) {
            let proof = reader
                .prove_inclusion(index, checkpoint.size())
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: no inclusion proof for {index} from the tiles: {e}",
                        self.origin
                    )
                });
            verify_inclusion(
                &leaf_hash(entry),
                index,
                checkpoint.size(),
                &proof,
                checkpoint.root(),
            )
            .unwrap_or_else(|e| panic!("{}: entry {index} is not included: {e}", self.origin));
        }
    }

    /// Checks that `newer` extends `older`, with a consistency proof computed from tiles that
    /// are authenticated against `newer`.
    pub fn try_check_consistent(
        &self,
        older: &VerifiedCheckpoint,
        newer: &VerifiedCheckpoint,
    ) -> Result<(), FetchError> {
        let proof = if older.size() == 0 || older.size() >= newer.size() {
            Vec::new()
        } else {
            self.hash_reader(newer)
                .prove_consistency(older.size(), newer.size())
                .map_err(|e| {
                    FetchError(format!(
                        "{}: no consistency proof from {} to {} from the tiles: {e}",
                        self.origin,
                        older.size(),
                        newer.size()
                    ))
                })?
        };
        verify_consistent(older, newer, &proof).map_err(|e| {
            FetchError(format!(
                "{}: checkpoint of size {} is not consistent with the one of size {}: {e}\n\
                 older:\n{}\nnewer:\n{}",
                self.origin,
                newer.size(),
                older.size(),
                String::from_utf8_lossy(older.note_bytes()),
                String::from_utf8_lossy(newer.note_bytes()),
            ))
        })
    }

    /// [`LogView::try_check_consistent`], panicking on failure.
    pub fn check_consistent(&self, older: &VerifiedCheckpoint, newer: &VerifiedCheckpoint) {
        self.try_check_consistent(older, newer)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Verifies a `.tlog-proof` returned for `entry`: the `extra` line is exactly `entry`, the
    /// checkpoint is this log's, and the inclusion proof ties the entry to it. Returns the
    /// index and the checkpoint.
    pub fn try_verify_proof(
        &self,
        proof: &[u8],
        entry: &[u8],
    ) -> Result<(u64, VerifiedCheckpoint), FetchError> {
        let parsed = TlogProof::parse(proof).map_err(|e| {
            FetchError(format!(
                "not a .tlog-proof: {e}\n{}",
                String::from_utf8_lossy(proof)
            ))
        })?;
        match &parsed.extra {
            Some(extra) if extra == entry => {}
            Some(extra) => {
                return Err(FetchError(format!(
                    "the proof's extra line is not the submitted entry:\n{}\nsubmitted:\n{}",
                    String::from_utf8_lossy(extra),
                    String::from_utf8_lossy(entry)
                )));
            }
            None => return Err(FetchError("the proof has no extra line".into())),
        }
        let checkpoint = self.verify_checkpoint(&parsed.checkpoint)?;
        verify_inclusion(
            &leaf_hash(entry),
            parsed.index,
            checkpoint.size(),
            &parsed.proof,
            checkpoint.root(),
        )
        .map_err(|e| {
            FetchError(format!(
                "{}: inclusion proof for index {} in size {} fails: {e}",
                self.origin,
                parsed.index,
                checkpoint.size()
            ))
        })?;
        Ok((parsed.index, checkpoint))
    }

    /// [`LogView::try_verify_proof`], panicking on failure.
    pub fn verify_proof(&self, proof: &[u8], entry: &[u8]) -> (u64, VerifiedCheckpoint) {
        self.try_verify_proof(proof, entry)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}
