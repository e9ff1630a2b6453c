// Reading a tlog-tiles log (c2sp.org/tlog-tiles) over HTTP and authenticating what it serves
// against a checkpoint verified with the log's key: hash tiles give the inclusion proof of every
// entry shown (RFC 6962 proofs built from tile hashes, then checked against the signed root), and
// entry bundles give the entries. Nothing fetched is trusted until it verified.

import { fromBase64 } from "./bytes.js";
import { leafHash, nodeHash, verifyInclusion } from "./merkle.js";
import { VerifyError, parseVkey, verifyCheckpoint, verifyCosignatures } from "./note.js";

const TILE_HEIGHT = 8;
const TILE_WIDTH = 256;

/** Fetch failures (network, HTTP status) as opposed to verification failures. */
export class FetchError extends Error {}

/** The path component of a tile index: 3-digit groups, all but the last prefixed with x. */
export function tileIndexPath(n) {
  let s = String(n);
  const groups = [];
  do {
    groups.unshift(s.slice(-3).padStart(3, "0"));
    s = s.slice(0, -3);
  } while (s.length > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? "x" + g : g)).join("/");
}

export function tilePath(level, n, width) {
  const tail = width < TILE_WIDTH ? `.p/${width}` : "";
  return `tile/${level === "entries" ? "entries" : level}/${tileIndexPath(n)}${tail}`;
}

/** GET relative to the page: bytes, or null for 404; anything else throws FetchError. */
export async function fetchBytes(url, { allow404 = true } = {}) {
  let res;
  try {
    res = await fetch(url, { cache: "no-cache" });
  } catch (e) {
    throw new FetchError(`GET ${url}: ${e.message}`);
  }
  if (res.status === 404 && allow404) return null;
  if (!res.ok) throw new FetchError(`GET ${url}: HTTP ${res.status} ${(await res.text()).trim().slice(0, 200)}`);
  return new Uint8Array(await res.arrayBuffer());
}

export async function fetchText(url) {
  const bytes = await fetchBytes(url);
  return bytes === null ? null : new TextDecoder().decode(bytes);
}

/** Splits an entry bundle (u16 big-endian length-prefixed entries). */
export function splitBundle(bytes, count) {
  const entries = [];
  let p = 0;
  while (p < bytes.length) {
    if (p + 2 > bytes.length) throw new VerifyError("entry bundle ends inside a length prefix");
    const len = (bytes[p] << 8) | bytes[p + 1];
    if (p + 2 + len > bytes.length) throw new VerifyError("entry bundle ends inside an entry");
    entries.push(bytes.slice(p + 2, p + 2 + len));
    p += 2 + len;
  }
  if (entries.length !== count) throw new VerifyError(`entry bundle holds ${entries.length} entries, expected ${count}`);
  return entries;
}

/**
 * One log (base URL such as "releases/"), read against its latest checkpoint verified with
 * `logKey` (a parsed Ed25519 vkey whose name is the origin).
 */
export class VerifiedLog {
  static async open(base, logKeyVkey, witnesses) {
    const logKey = parseVkey(logKeyVkey);
    const bytes = await fetchBytes(base + "checkpoint", { allow404: false });
    const { checkpoint, note } = await verifyCheckpoint(bytes, logKey.name, logKey);
    if (checkpoint.extensions.length !== 0) throw new VerifyError("Cairn checkpoints carry no extension lines");
    if (checkpoint.size > BigInt(Number.MAX_SAFE_INTEGER)) throw new VerifyError("tree size too large for this page");
    const cosignatures = await verifyCosignatures(note, witnesses);
    return new VerifiedLog(base, logKey, checkpoint, note, cosignatures);
  }

  constructor(base, logKey, checkpoint, note, cosignatures) {
    this.base = base;
    this.logKey = logKey;
    this.checkpoint = checkpoint;
    this.size = Number(checkpoint.size);
    this.note = note;
    this.cosignatures = cosignatures;
    this.tiles = new Map();
    this.bundles = new Map();
  }

  get origin() {
    return this.checkpoint.origin;
  }

  /** The hashes of tile (level, n) as the tree of this checkpoint's size has it. */
  async tile(level, n) {
    const count = Math.floor(this.size / 2 ** (TILE_HEIGHT * level));
    const width = Math.min(TILE_WIDTH, count - n * TILE_WIDTH);
    if (width <= 0) throw new VerifyError(`tile ${level}/${n} lies beyond the tree`);
    const path = tilePath(level, n, width);
    if (!this.tiles.has(path)) {
      this.tiles.set(path, (async () => {
        const bytes = await fetchBytes(this.base + path);
        if (bytes === null) throw new FetchError(`${this.base}${path}: not found`);
        if (bytes.length !== width * 32) throw new VerifyError(`${this.base}${path} is ${bytes.length} bytes, expected ${width * 32}`);
        return Array.from({ length: width }, (_, i) => bytes.slice(32 * i, 32 * i + 32));
      })());
      this.tiles.get(path).catch(() => this.tiles.delete(path));
    }
    return this.tiles.get(path);
  }

  /** Hash of the complete subtree at `level` and `index` (covering leaves index*2^level ...). */
  async hashAt(level, index) {
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const span = 2 ** (level - tileLevel * TILE_HEIGHT);
    const start = index * span;
    const n = Math.floor(start / TILE_WIDTH);
    const hashes = (await this.tile(tileLevel, n)).slice(start - n * TILE_WIDTH, start - n * TILE_WIDTH + span);
    if (hashes.length !== span) throw new VerifyError(`tile ${tileLevel}/${n} is too short`);
    let level_ = hashes;
    while (level_.length > 1) {
      const next = [];
      for (let i = 0; i < level_.length; i += 2) next.push(await nodeHash(level_[i], level_[i + 1]));
      level_ = next;
    }
    return level_[0];
  }

  /** Hash of leaves [lo, hi) where lo is a multiple of the largest power of two below hi - lo. */
  async rangeHash(lo, hi) {
    const n = hi - lo;
    if ((n & (n - 1)) === 0) {
      const level = Math.log2(n);
      return this.hashAt(level, lo / n);
    }
    const k = 2 ** Math.floor(Math.log2(n - 1));
    return nodeHash(await this.rangeHash(lo, lo + k), await this.rangeHash(lo + k, hi));
  }

  /** The RFC 6962 inclusion proof of `index`, from the tiles (unverified until checked). */
  async inclusionProof(index, lo = 0, hi = this.size) {
    const n = hi - lo;
    if (n === 1) return [];
    const k = 2 ** Math.floor(Math.log2(n - 1));
    if (index < lo + k) return [...(await this.inclusionProof(index, lo, lo + k)), await this.rangeHash(lo + k, hi)];
    return [...(await this.inclusionProof(index, lo + k, hi)), await this.rangeHash(lo, lo + k)];
  }

  /** The entries of bundle n, as of this checkpoint (unverified). */
  async bundle(n) {
    const width = Math.min(TILE_WIDTH, this.size - n * TILE_WIDTH);
    if (width <= 0) throw new VerifyError(`entry bundle ${n} lies beyond the tree`);
    const path = tilePath("entries", n, width);
    if (!this.bundles.has(path)) {
      this.bundles.set(path, (async () => {
        const bytes = await fetchBytes(this.base + path);
        if (bytes === null) throw new FetchError(`${this.base}${path}: not found`);
        return splitBundle(bytes, width);
      })());
      this.bundles.get(path).catch(() => this.bundles.delete(path));
    }
    return this.bundles.get(path);
  }

  /**
   * The entry at `index` and the outcome of its inclusion proof against the verified
   * checkpoint: {index, bytes, included: true} or {index, bytes?, included: false, error}.
   */
  async entry(index) {
    let bytes;
    try {
      if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) {
        throw new VerifyError(`index ${index} is not below the checkpoint's size ${this.size}`);
      }
      const n = Math.floor(index / TILE_WIDTH);
      bytes = (await this.bundle(n))[index - n * TILE_WIDTH];
      const proof = await this.inclusionProof(index);
      await verifyInclusion(await leafHash(bytes), BigInt(index), this.checkpoint.size, proof, this.checkpoint.root);
      return { index, bytes, included: true };
    } catch (e) {
      return { index, bytes, included: false, error: e.message };
    }
  }

  /** Every entry, checked by recomputing the root over all of them (for the small key log). */
  async allEntries() {
    const { rootOf } = await import("./merkle.js");
    const entries = [];
    for (let n = 0; n * TILE_WIDTH < this.size; n++) entries.push(...(await this.bundle(n)));
    const leaves = [];
    for (const e of entries) leaves.push(await leafHash(e));
    const root = await rootOf(leaves);
    const { equalBytes } = await import("./bytes.js");
    if (!equalBytes(root, this.checkpoint.root)) {
      throw new VerifyError(`the ${entries.length} entries served do not hash to the checkpoint's root`);
    }
    return entries;
  }
}

export { fromBase64 };
