// Hashes a File in a worker, in slices, so that neither the page nor memory holds it whole: at
// most one slice (CHUNK bytes) is in memory at a time, whatever the file's size.
import { Sha256 } from "./sha256.js";
import { toHex } from "./bytes.js";

const CHUNK = 8 * 1024 * 1024;

self.onmessage = async ({ data: { file } }) => {
  try {
    const started = performance.now();
    const h = new Sha256();
    for (let offset = 0; offset < file.size; offset += CHUNK) {
      const piece = new Uint8Array(await file.slice(offset, offset + CHUNK).arrayBuffer());
      h.update(piece);
      self.postMessage({ progress: Math.min(file.size, offset + CHUNK) });
    }
    self.postMessage({ done: toHex(h.digest()), size: file.size, ms: performance.now() - started });
  } catch (e) {
    self.postMessage({ error: `cannot read ${file.name}: ${e.message}` });
  }
};
