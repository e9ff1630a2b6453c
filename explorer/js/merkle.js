// RFC 6962 / RFC 9162 Merkle tree hashing and proof verification (sections 2.1.1, 2.1.3.2,
// 2.1.4.2), with WebCrypto SHA-256. Indexes and sizes are BigInts (sizes go up to 2^64-1).

import { concat, equalBytes } from "./bytes.js";
import { VerifyError } from "./note.js";

const subtle = globalThis.crypto.subtle;

export async function sha256Digest(data) {
  return new Uint8Array(await subtle.digest("SHA-256", data));
}

/** SHA-256(0x00 || entry). */
export function leafHash(entry) {
  return sha256Digest(concat([0], entry));
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left, right) {
  return sha256Digest(concat([1], left, right));
}

function check32(hashes, what) {
  for (const h of hashes) {
    if (!(h instanceof Uint8Array) || h.length !== 32) throw new VerifyError(`${what}: a hash is not 32 bytes`);
  }
}

/** Verifies that `leaf` (a leaf hash) is at `index` of the tree of `size` leaves with `root`. */
export async function verifyInclusion(leaf, index, size, proof, root) {
  index = BigInt(index);
  size = BigInt(size);
  check32([leaf, root, ...proof], "inclusion proof");
  if (index >= size) throw new VerifyError(`inclusion proof: index ${index} is not below the tree size ${size}`);
  let f = index;
  let s = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (s === 0n) throw new VerifyError("inclusion proof is too long");
    if ((f & 1n) === 1n || f === s) {
      r = await nodeHash(p, r);
      while ((f & 1n) === 0n && f !== 0n) {
        f >>= 1n;
        s >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    f >>= 1n;
    s >>= 1n;
  }
  if (s !== 0n) throw new VerifyError("inclusion proof is too short");
  if (!equalBytes(r, root)) throw new VerifyError(`inclusion proof of entry ${index} leads to another root than the checkpoint's`);
}

/** Verifies that the tree (size1, root1) is a prefix of the tree (size2, root2). */
export async function verifyConsistency(size1, root1, size2, root2, proof) {
  size1 = BigInt(size1);
  size2 = BigInt(size2);
  check32([root1, root2, ...proof], "consistency proof");
  if (size1 === 0n || size1 > size2) throw new VerifyError(`consistency proof: bad tree sizes ${size1} and ${size2}`);
  if (size1 === size2) {
    if (proof.length !== 0) throw new VerifyError("consistency proof between equal sizes must be empty");
    if (!equalBytes(root1, root2)) throw new VerifyError("two different roots for the same tree size");
    return;
  }
  const powerOfTwo = (size1 & (size1 - 1n)) === 0n;
  const rest = powerOfTwo ? proof : proof.slice(1);
  if (!powerOfTwo && proof.length === 0) throw new VerifyError("consistency proof is empty");
  const start = powerOfTwo ? root1 : proof[0];
  let f = size1 - 1n;
  let s = size2 - 1n;
  while ((f & 1n) === 1n) {
    f >>= 1n;
    s >>= 1n;
  }
  let fr = start;
  let sr = start;
  for (const c of rest) {
    if (s === 0n) throw new VerifyError("consistency proof is too long");
    if ((f & 1n) === 1n || f === s) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while ((f & 1n) === 0n && f !== 0n) {
        f >>= 1n;
        s >>= 1n;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    f >>= 1n;
    s >>= 1n;
  }
  if (s !== 0n) throw new VerifyError("consistency proof is too short");
  if (!equalBytes(fr, root1)) throw new VerifyError("consistency proof does not lead to the older root");
  if (!equalBytes(sr, root2)) throw new VerifyError("consistency proof does not lead to the newer root");
}

/** Root of a list of leaf hashes (MTH of RFC 6962 section 2.1). */
export async function rootOf(leafHashes) {
  if (leafHashes.length === 0) return sha256Digest(new Uint8Array(0));
  let level = leafHashes;
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(await nodeHash(level[i], level[i + 1]));
    if (level.length % 2 === 1) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0];
}
