//! SHA-256 of an artifact while it is read (or downloaded), reporting progress to the caller.
//!
//! `sha2` picks the CPU's SHA extensions at run time (x86 SHA-NI, ARMv8 SHA2), so hashing runs
//! at the speed of `openssl dgst -sha256`. Reading happens on a second thread that fills
//! buffers while this one hashes the previous one, so the cost of a verification is that of
//! hashing, not of hashing plus reading.

use std::io::{Read, Write};
use std::sync::mpsc;

use cairn_verifier::entry::Sha256Digest;
use sha2::{Digest as _, Sha256};

/// Size of each read buffer.
const BUFFER_SIZE: usize = 1 << 20;
/// Buffers in flight between the reader and the hasher.
const BUFFERS: usize = 3;
/// The digest and byte count of what was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashed {
    /// SHA-256 of the bytes.
    pub digest: Sha256Digest,
    /// Number of bytes.
    pub size: u64,
}

/// Reads `input` to the end, hashing every byte and, when `copy` is given, writing it there
/// too. `progress` is called with the number of bytes hashed so far after each buffer.
pub fn hash_stream<R: Read + Send>(
    input: R,
    mut copy: Option<&mut dyn Write>,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<Hashed> {
    let (full_tx, full_rx) = mpsc::sync_channel::<std::io::Result<(Vec<u8>, usize)>>(BUFFERS);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        // Cannot fail: the channel holds BUFFERS and the receiver is alive.
        let _ = empty_tx.send(vec![0u8; BUFFER_SIZE]);
    }
    // `move`: the channels belong to this closure, so an early return drops them and the
    // reader thread, blocked on one of them, stops instead of deadlocking the scope.

    std::thread::scope(move |scope| {
        scope.spawn(move || {
            let mut input = input;
            while let Ok(mut buf) = empty_rx.recv() {
                let filled = fill(&mut input, &mut buf);
                let done = !matches!(filled, Ok(n) if n > 0);
                if full_tx.send(filled.map(|n| (buf, n))).is_err() || done {
                    return;
                }
            }
        });
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        loop {
            let (buf, n) = match full_rx.recv() {
                Ok(Ok(item)) => item,
                Ok(Err(e)) => return Err(e),
                Err(_) => break,
            };
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            if let Some(out) = copy.as_mut() {
                out.write_all(&buf[..n])?;
            }
            size += n as u64;
            progress(size);
            // The reader may have stopped already; a failed send just drops the buffer.
            let _ = empty_tx.send(buf);
        }
        Ok(Hashed {
            digest: Sha256Digest::from_bytes(hasher.finalize().into()),
            size,
        })
    })
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
fn fill<R: Read>(input: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_copies_across_buffer_boundaries() {
        for len in [0usize, 1, BUFFER_SIZE - 1, BUFFER_SIZE, 2 * BUFFER_SIZE + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut copy = Vec::new();
            let hashed =
                hash_stream(data.as_slice(), Some(&mut copy), &mut |_| {}).expect("hashes");
            assert_eq!(hashed.size, len as u64);
            assert_eq!(hashed.digest, Sha256Digest::of(&data));
            assert_eq!(copy, data);
        }
    }

    #[test]
    fn read_errors_are_reported() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        assert!(hash_stream(Broken, None, &mut |_| {}).is_err());
    }
}
