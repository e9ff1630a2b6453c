//! A bounded cache of encoded tiles and entry bundles for the read API.
//!
//! Why it is safe: in an append-only log the bytes at a tile path never change once the path
//! exists (`tile/0/x001/234.p/17` is always the first 17 hashes of that tile), which is why the
//! read API marks tiles immutable. Only answers computed from the committed tree are inserted,
//! and a path that is not in the committed tree yet is never cached (its lookup returned 404).
//!
//! Why it helps: without it every GET re-reads 256 hashes out of the Merkle tree or re-encodes up
//! to 256 entries into a fresh buffer; with it a hit is a reference-count increment, and the
//! buffer goes to the socket as it is.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::body::Bytes;

use crate::log::LogKind;

/// Default bound of the cached bytes: a few hundred full entry bundles.
pub const DEFAULT_TILE_CACHE_BYTES: usize = 64 << 20;

/// Encoded tiles by log and tile path (`tile/...`), at most `max_bytes` of them.
#[derive(Debug)]
pub struct TileCache {
    max_bytes: usize,
    inner: RwLock<Cached>,
}

#[derive(Debug, Default)]
struct Cached {
    bytes: usize,
    /// Release log, key log.
    tiles: [HashMap<String, Bytes>; 2],
}

fn slot(log: LogKind) -> usize {
    match log {
        LogKind::Releases => 0,
        LogKind::Keys => 1,
    }
}

impl TileCache {
    /// An empty cache holding at most `max_bytes` of tile data (0 disables it).
    pub fn new(max_bytes: usize) -> TileCache {
        TileCache {
            max_bytes,
            inner: RwLock::new(Cached::default()),
        }
    }

    /// The cached bytes of `path` in `log`, if any.
    pub fn get(&self, log: LogKind, path: &str) -> Option<Bytes> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.tiles[slot(log)].get(path).cloned()
    }

    /// Remembers the bytes of `path` in `log`. When the bound would be exceeded, everything is
    /// dropped first: simple, O(1) amortised, and the hot tiles come back on the next requests.
    pub fn insert(&self, log: LogKind, path: String, data: Bytes) {
        if data.len() > self.max_bytes {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.bytes + data.len() > self.max_bytes {
            inner.tiles.iter_mut().for_each(HashMap::clear);
            inner.bytes = 0;
        }
        let len = data.len();
        if inner.tiles[slot(log)].insert(path, data).is_none() {
            inner.bytes += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_its_bound() {
        let cache = TileCache::new(10);
        cache.insert(
            LogKind::Releases,
            "tile/0/000".to_owned(),
            Bytes::from_static(b"123456"),
        );
        assert_eq!(
            cache.get(LogKind::Releases, "tile/0/000").as_deref(),
            Some(&b"123456"[..])
        );
        assert!(cache.get(LogKind::Keys, "tile/0/000").is_none(), "per log");
        cache.insert(
            LogKind::Releases,
            "tile/0/001".to_owned(),
            Bytes::from_static(b"abcdef"),
        );
        assert!(
            cache.get(LogKind::Releases, "tile/0/000").is_none(),
            "cleared"
        );
        assert!(cache.get(LogKind::Releases, "tile/0/001").is_some());
        cache.insert(
            LogKind::Releases,
            "tile/0/002".to_owned(),
            Bytes::from_static(b"too large!!"),
        );
        assert!(
            cache.get(LogKind::Releases, "tile/0/002").is_none(),
            "never cached"
        );
        assert_eq!(cache.inner.read().expect("lock").bytes, 6);
    }
}
