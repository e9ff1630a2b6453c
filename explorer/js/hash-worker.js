// Hashes a File in a worker, in slices, so that neither the page nor memory holds it whole: at
// most two slices (2 x CHUNK bytes) are in memory at a time, whatever the file's size. The next
// slice is read while the current one is hashed, so reading the disk and hashing overlap.
import { Sha256 } from "./sha256.js";
import { toHex } from "./bytes.js";

const CHUNK = 8 * 1024 * 1024;

self.onmessage = async ({ data: { file } }) => {
  try {
    const started = performance.now();
    const h = new Sha256();
    const read = (offset) => file.slice(offset, offset + CHUNK).arrayBuffer();
    let next = file.size > 0 ? read(0) : null;
    for (let offset = 0; offset < file.size; offset += CHUNK) {
      const piece = new Uint8Array(await next);
      next = offset + CHUNK < file.size ? read(offset + CHUNK) : null;
      h.update(piece);
      self.postMessage({ progress: Math.min(file.size, offset + CHUNK) });
    }
    self.postMessage({ done: toHex(h.digest()), size: file.size, ms: performance.now() - started });
  } catch (e) {
    self.postMessage({ error: `cannot read ${file.name}: ${e.message}` });
  }
};
