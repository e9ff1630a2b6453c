//! Writing the new objects of one commit as one git pack file with its index, durably.
//!
//! Why a pack per commit rather than loose objects: a batch creates a few blobs, the trees along their
//! paths and one commit, about 25 objects for a one-entry batch. As loose objects each would need its
//! own file, fsync and directory fsync before the branch may move; as one pack it is two files and a
//! handful of fsyncs. The packs are later merged and delta-compressed by `git repack` (see
//! `repack.rs`), which gix cannot do.
//!
//! gix-pack can only write a pack by streaming an existing pack through its indexer, with progress
//! and interrupt plumbing and its own temporary-file handling and renames, none of which fsyncs. The
//! formats are small, so this module writes them directly, following git's
//! `Documentation/gitformat-pack.txt`: "pack-*.pack files have the following format" (version 2,
//! undeltified entries only) and "Version 2 pack-*.idx files support packs larger than 4 GiB".
//! `git fsck` and `git verify-pack` check the result in the tests.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;

use gix::ObjectId;
use gix::objs::Kind;

use super::StorageError;
use super::durable::sync_dir;

/// Prefix of the temporary files written before a pack is renamed into place. The names must not end
/// in `.pack` or `.idx`: git and gix treat any `*.idx` with a matching `*.pack` in `objects/pack` as
/// a pack, and a `git repack` running in the background would then try to read a file that is about
/// to be renamed away (and fail). Git's `prune` removes old `tmp_*` files, and `GitStorage::open`
/// removes leftovers with this prefix after a crash.
pub(crate) const TMP_PREFIX: &str = "tmp_cairn_";

/// One object to store: its id (already computed by the caller), kind and uncompressed content.
#[derive(Debug)]
pub(crate) struct PackObject<'a> {
    pub(crate) id: ObjectId,
    pub(crate) kind: Kind,
    pub(crate) data: Cow<'a, [u8]>,
}

/// Sizes of a pack and its index as written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Written {
    /// Bytes in the two files.
    pub(crate) bytes: u64,
    /// Disk space the two files occupy (allocated 512-byte blocks), as `du` counts it.
    pub(crate) disk_bytes: u64,
}

/// Where one entry of the pack starts and the CRC-32 of its bytes, as the index needs them.
struct Located {
    id: ObjectId,
    offset: u64,
    crc32: u32,
}

/// A pack and its index written under temporary names, not yet fsynced or visible to readers.
/// Dropping it unpublished removes the files (best effort; `GitStorage::open` removes what a
/// crash leaves).
#[derive(Debug)]
pub(crate) struct StagedPack {
    pack_dir: std::path::PathBuf,
    tmp_pack: std::path::PathBuf,
    tmp_index: std::path::PathBuf,
    final_pack: std::path::PathBuf,
    final_index: std::path::PathBuf,
    bytes: u64,
    published: bool,
}

/// Write `objects` as the pack `pack-<checksum>` below `pack_dir` under temporary names, without
/// fsync: the caller fsyncs [`StagedPack::files`] (together with whatever else must be durable
/// before the pack is published, concurrently), then calls [`StagedPack::publish`].
/// Duplicate ids in `objects` are written once.
pub(crate) fn stage_pack(
    pack_dir: &Path,
    mut objects: Vec<PackObject<'_>>,
) -> Result<StagedPack, StorageError> {
    objects.sort_by_key(|object| object.id);
    objects.dedup_by(|a, b| a.id == b.id);

    let (pack, located) = encode_pack(&objects)?;
    let pack_checksum = &pack[pack.len() - HASH_LEN..];
    let index = encode_index(&located, pack_checksum)?;
    let name = format!("pack-{}", hex(pack_checksum));

    let (tmp_pack, tmp_index) = temporary_names(pack_dir, &name);
    let staged = StagedPack {
        pack_dir: pack_dir.to_owned(),
        final_pack: pack_dir.join(format!("{name}.pack")),
        final_index: pack_dir.join(format!("{name}.idx")),
        tmp_pack,
        tmp_index,
        bytes: (pack.len() + index.len()) as u64,
        published: false,
    };
    write_unsynced(&staged.tmp_pack, &pack)?;
    write_unsynced(&staged.tmp_index, &index)?;
    Ok(staged)
}

impl StagedPack {
    /// The two temporary files, to be fsynced before [`StagedPack::publish`].
    pub(crate) fn files(&self) -> [&Path; 2] {
        [&self.tmp_pack, &self.tmp_index]
    }

    /// Rename the `.pack`, then the `.idx` into place (the `.idx` publishes the pack: git and gix
    /// ignore a pack without an index), then fsync the directory once, which makes both names
    /// durable. The caller must have fsynced [`StagedPack::files`].
    ///
    /// A crash before the directory fsync can leave (after a power loss, on a file system that
    /// does not keep the order of renames within a directory) an index without its pack, which
    /// `GitStorage::open` removes; any other outcome is no new pack or the complete pack, and the
    /// branch never names the pack's objects before this returned.
    pub(crate) fn publish(mut self) -> Result<Written, StorageError> {
        let rename = |from: &Path, to: &Path| {
            std::fs::rename(from, to).map_err(|source| StorageError::Io {
                op: "rename",
                path: to.to_owned(),
                source,
            })
        };
        rename(&self.tmp_pack, &self.final_pack)?;
        // From here the pack file is under its final name; if the index rename fails it is an
        // orphan that git and gix ignore.
        self.published = true;
        rename(&self.tmp_index, &self.final_index)?;
        sync_dir(&self.pack_dir)?;
        Ok(Written {
            bytes: self.bytes,
            disk_bytes: allocated(&self.final_pack) + allocated(&self.final_index),
        })
    }
}

impl Drop for StagedPack {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.tmp_pack);
            let _ = std::fs::remove_file(&self.tmp_index);
        }
    }
}

/// Create (or truncate) `path` and write `data`, without fsync.
fn write_unsynced(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    std::fs::write(path, data).map_err(|source| StorageError::Io {
        op: "write",
        path: path.to_owned(),
        source,
    })
}

/// Disk space a file occupies; 0 if it cannot be determined (the figure is only reported).
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map_or(0, |meta| meta.blocks() * 512)
}

const HASH_LEN: usize = 20;

/// Names for the pack and index of pack `name` while they are being written.
fn temporary_names(pack_dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        pack_dir.join(format!("{TMP_PREFIX}{name}_pack")),
        pack_dir.join(format!("{TMP_PREFIX}{name}_idx")),
    )
}

fn pack_error(reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        op: "write pack",
        path: String::new(),
        reason: reason.into(),
    }
}

/// The whole pack file in memory (a batch is at most a few MiB) and where each entry landed.
/// `objects` must be sorted by id, which makes the order of entries, and so the file, deterministic.
fn encode_pack(objects: &[PackObject<'_>]) -> Result<(Vec<u8>, Vec<Located>), StorageError> {
    let count = u32::try_from(objects.len()).map_err(|_| pack_error("more than 2^32 objects"))?;
    let mut pack = Vec::with_capacity(
        12 + HASH_LEN + objects.iter().map(|o| o.data.len() + 16).sum::<usize>(),
    );
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&count.to_be_bytes());

    let mut located = Vec::with_capacity(objects.len());
    for object in objects {
        let offset = pack.len() as u64;
        push_entry_header(&mut pack, object.kind, object.data.len() as u64);
        let mut deflate =
            gix::zlib::stream::deflate::Write::new(&mut pack, gix::zlib::Compression::DEFAULT);
        deflate
            .write_all(&object.data)
            .and_then(|()| deflate.flush()) // `flush` finishes the zlib stream
            .map_err(|err| pack_error(format!("zlib: {err}")))?;
        let start = usize::try_from(offset).map_err(|_| pack_error("pack too large"))?;
        located.push(Located {
            id: object.id,
            offset,
            crc32: crc32fast::hash(&pack[start..]),
        });
    }
    let checksum = sha1(&pack)?;
    pack.extend_from_slice(checksum.as_bytes());
    Ok((pack, located))
}

/// An entry header: type in bits 4-6 of the first byte, then the uncompressed size, low 4 bits first
/// and 7 bits per following byte, the high bit of each byte saying that another byte follows.
fn push_entry_header(out: &mut Vec<u8>, kind: Kind, size: u64) {
    let type_bits: u8 = match kind {
        Kind::Commit => 1,
        Kind::Tree => 2,
        Kind::Blob => 3,
        Kind::Tag => 4,
    };
    let mut byte = (type_bits << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest != 0 {
        out.push(byte | 0x80);
        byte = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(byte);
}

/// The version-2 index: magic and version, a 256-entry fan-out table of cumulative counts by first id
/// byte, the sorted ids, their CRC-32s, their 31-bit offsets (with a table of 64-bit offsets for
/// entries beyond 2 GiB), the pack checksum, and the checksum of all of the above.
/// `located` must be sorted by id.
fn encode_index(located: &[Located], pack_checksum: &[u8]) -> Result<Vec<u8>, StorageError> {
    let mut index = Vec::with_capacity(8 + 256 * 4 + located.len() * 28 + 2 * HASH_LEN);
    index.extend_from_slice(&[0xff, b't', b'O', b'c']);
    index.extend_from_slice(&2u32.to_be_bytes());

    let mut fanout = [0u32; 256];
    for entry in located {
        fanout[usize::from(entry.id.first_byte())] += 1;
    }
    let mut cumulative = 0u32;
    for count in fanout {
        cumulative += count;
        index.extend_from_slice(&cumulative.to_be_bytes());
    }
    for entry in located {
        index.extend_from_slice(entry.id.as_bytes());
    }
    for entry in located {
        index.extend_from_slice(&entry.crc32.to_be_bytes());
    }
    let mut large_offsets = Vec::new();
    for entry in located {
        let small = match u32::try_from(entry.offset) {
            Ok(offset) if offset < 0x8000_0000 => offset,
            _ => {
                let slot = u32::try_from(large_offsets.len())
                    .ok()
                    .filter(|slot| *slot < 0x8000_0000)
                    .ok_or_else(|| pack_error("too many large offsets"))?;
                large_offsets.push(entry.offset);
                0x8000_0000 | slot
            }
        };
        index.extend_from_slice(&small.to_be_bytes());
    }
    for offset in large_offsets {
        index.extend_from_slice(&offset.to_be_bytes());
    }
    index.extend_from_slice(pack_checksum);
    let checksum = sha1(&index)?;
    index.extend_from_slice(checksum.as_bytes());
    Ok(index)
}

fn sha1(data: &[u8]) -> Result<ObjectId, StorageError> {
    let mut hasher = gix::hash::hasher(gix::hash::Kind::Sha1);
    hasher.update(data);
    // The collision-detecting SHA-1 refuses input crafted for a collision attack.
    hasher
        .try_finalize()
        .map_err(|err| pack_error(format!("sha1: {err}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_files_do_not_look_like_packs() {
        let (pack, index) = temporary_names(Path::new("objects/pack"), "pack-0123");
        for path in [pack, index] {
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            assert!(
                name.starts_with(TMP_PREFIX) && name.starts_with("tmp_"),
                "{name}"
            );
            // Every suffix git gives meaning to in objects/pack.
            for suffix in [
                ".pack",
                ".idx",
                ".keep",
                ".rev",
                ".bitmap",
                ".promisor",
                ".mtimes",
            ] {
                assert!(!name.ends_with(suffix), "{name} ends with {suffix}");
            }
        }
    }

    #[test]
    fn entry_header_encodes_type_and_size() {
        let mut out = Vec::new();
        push_entry_header(&mut out, Kind::Blob, 10);
        assert_eq!(out, [0x3a]);
        out.clear();
        // 300 = 0b1_0010_1100: low nibble 0xc, then 0b1_0010 = 0x12.
        push_entry_header(&mut out, Kind::Tree, 300);
        assert_eq!(out, [0x80 | 0x20 | 0x0c, 0x12]);
    }

    #[test]
    fn index_fanout_counts_are_cumulative() {
        let ids = [[0u8; 20], [1u8; 20], [1u8; 20]];
        let located: Vec<Located> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Located {
                id: ObjectId::from_bytes_or_panic(id),
                offset: 12 + i as u64,
                crc32: 0,
            })
            .collect();
        let index = encode_index(&located, &[0u8; 20]).expect("index");
        let fanout = |byte: usize| {
            let at = 8 + byte * 4;
            u32::from_be_bytes(index[at..at + 4].try_into().expect("4 bytes"))
        };
        assert_eq!((fanout(0), fanout(1), fanout(255)), (1, 3, 3));
        assert_eq!(index.len(), 8 + 1024 + 3 * (20 + 4 + 4) + 40);
    }
}
