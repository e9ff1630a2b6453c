// Hashes a File in a worker, in slices, so that neither the page nor memory holds it whole: at
// most two slices (2 x SLICE bytes) are in memory at a time, whatever the file's size. The next
// slice is read while the current one is hashed, so reading the disk and hashing overlap.
//
// SHA-256 runs in WebAssembly (sha256-wasm.js) when the module compiles, which needs
// 'wasm-unsafe-eval' in the Content-Security-Policy; otherwise (an older policy on a static copy,
// an old browser) in JavaScript (sha256.js), at about half the speed. The result says which.
//
// The message may ask for another way of reading (`read`: "slice", the default; "sync", with
// FileReaderSync; "stream", with file.stream()), another slice size (`slice`, bytes) or the
// JavaScript SHA-256 (`engine: "js"`): tests/bench.mjs compares them (docs/performance.md).
import { Sha256 } from "./sha256.js";
import { Sha256Wasm, compileSha256Wasm } from "./sha256-wasm.js";
import { toHex } from "./bytes.js";

const SLICE = 8 * 1024 * 1024;
// Each slice is copied into the module's memory and hashed in pieces of this size, which stay in
// the CPU's cache (faster than one 8 MiB buffer, docs/performance.md).
const WASM_BUFFER = 64 * 1024;

/** A SHA-256 computation, in WebAssembly if this browser and page allow it. */
async function sha256(engine) {
  if (engine === "js") return { h: new Sha256(), engine: "JavaScript" };
  try {
    const res = await fetch(new URL("../wasm/sha256.wasm", import.meta.url));
    if (!res.ok) throw new Error(`sha256.wasm: HTTP ${res.status}`);
    const module = await compileSha256Wasm(await res.arrayBuffer());
    return { h: await Sha256Wasm.create(module, WASM_BUFFER), engine: "WebAssembly" };
  } catch (e) {
    return { h: new Sha256(), engine: "JavaScript", fallback: e.message };
  }
}

/** Feeds `file` to `h` slice by slice, reading the next slice while one is hashed. */
async function readSlices(file, h, slice) {
  const read = (offset) => file.slice(offset, offset + slice).arrayBuffer();
  let next = file.size > 0 ? read(0) : null;
  for (let offset = 0; offset < file.size; offset += slice) {
    const piece = new Uint8Array(await next);
    next = offset + slice < file.size ? read(offset + slice) : null;
    h.update(piece);
    self.postMessage({ progress: Math.min(file.size, offset + slice) });
  }
}

/** The same with FileReaderSync: no overlap, the read blocks this worker. */
function readSync(file, h, slice) {
  const reader = new FileReaderSync();
  for (let offset = 0; offset < file.size; offset += slice) {
    h.update(new Uint8Array(reader.readAsArrayBuffer(file.slice(offset, offset + slice))));
    self.postMessage({ progress: Math.min(file.size, offset + slice) });
  }
}

/** The same with the file's ReadableStream, in the pieces the browser chooses. */
async function readStream(file, h, slice) {
  const reader = file.stream().getReader();
  let done = 0;
  let reported = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    h.update(value);
    done += value.length;
    if (done - reported >= slice) {
      self.postMessage({ progress: done });
      reported = done;
    }
  }
}

const READERS = { slice: readSlices, sync: readSync, stream: readStream };

self.onmessage = async ({ data: { file, read = "slice", slice = SLICE, engine } }) => {
  try {
    const started = performance.now();
    const { h, engine: used, fallback } = await sha256(engine);
    const reader = READERS[read];
    if (!reader) throw new Error(`no reading method ${read}`);
    await reader(file, h, slice);
    self.postMessage({ done: toHex(h.digest()), size: file.size, ms: performance.now() - started, engine: used, fallback });
  } catch (e) {
    self.postMessage({ error: `cannot read ${file.name}: ${e.message}` });
  }
};
