// Hashes a File in a worker, streaming, so that neither the page nor memory holds it whole: the
// file's ReadableStream fills one 1 MiB buffer again and again (a BYOB reader), so memory stays
// flat whatever the file's size, and the browser reads the next bytes while this worker hashes.
//
// SHA-256 runs in WebAssembly (sha256-wasm.js) when the module compiles, which needs
// 'wasm-unsafe-eval' in the Content-Security-Policy; otherwise (an older policy on a static copy,
// an old browser) in JavaScript (sha256.js), at about half the speed. The result says which.
//
// The message may ask for another way of reading, for tests/bench.mjs, which compares them
// (docs/performance.md, "Explorer"): `read` "byob" (the default), "stream" (the stream's own
// chunks), "slice" (file.slice().arrayBuffer(), the next slice read while one is hashed) or "sync"
// (FileReaderSync); `slice` and `buffer` (bytes) their sizes; `engine: "js"` the JavaScript SHA-256.
import { Sha256 } from "./sha256.js";
import { Sha256Wasm, compileSha256Wasm } from "./sha256-wasm.js";
import { toHex } from "./bytes.js";

const MiB = 1024 * 1024;
// Progress is reported about every PROGRESS bytes.
const PROGRESS = 8 * MiB;
// Each piece read is copied into the module's memory and hashed in pieces of this size, which
// stay in the CPU's cache.
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

/** Feeds `file` to `h` through a BYOB reader filling one buffer of `buffer` bytes. */
async function readByob(file, h, { buffer = MiB }) {
  let reader;
  try {
    reader = file.stream().getReader({ mode: "byob" });
  } catch {
    // A browser whose Blob stream is not a byte stream: take the stream's own chunks.
    return readStream(file, h);
  }
  let space = new ArrayBuffer(buffer);
  let done = 0;
  for (;;) {
    const { value, done: end } = await reader.read(new Uint8Array(space));
    if (end) return;
    h.update(value);
    // The read transferred the buffer into `value`; use it again.
    space = value.buffer;
    if (Math.floor((done + value.length) / PROGRESS) > Math.floor(done / PROGRESS)) self.postMessage({ progress: done + value.length });
    done += value.length;
  }
}

/** The same with the stream's own chunks (a new array for each). */
async function readStream(file, h) {
  const reader = file.stream().getReader();
  let done = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) return;
    h.update(value);
    if (Math.floor((done + value.length) / PROGRESS) > Math.floor(done / PROGRESS)) self.postMessage({ progress: done + value.length });
    done += value.length;
  }
}

/** The same in slices, reading the next slice while one is hashed (at most two held). */
async function readSlices(file, h, { slice = 8 * MiB }) {
  const read = (offset) => file.slice(offset, offset + slice).arrayBuffer();
  let next = file.size > 0 ? read(0) : null;
  for (let offset = 0; offset < file.size; offset += slice) {
    const piece = new Uint8Array(await next);
    next = offset + slice < file.size ? read(offset + slice) : null;
    h.update(piece);
    self.postMessage({ progress: Math.min(file.size, offset + slice) });
  }
}

/** The same with FileReaderSync: no overlap, each read blocks this worker. */
function readSync(file, h, { slice = 8 * MiB }) {
  const reader = new FileReaderSync();
  for (let offset = 0; offset < file.size; offset += slice) {
    h.update(new Uint8Array(reader.readAsArrayBuffer(file.slice(offset, offset + slice))));
    self.postMessage({ progress: Math.min(file.size, offset + slice) });
  }
}

const READERS = { byob: readByob, stream: readStream, slice: readSlices, sync: readSync };

self.onmessage = async ({ data: { file, read = "byob", engine, ...sizes } }) => {
  try {
    const started = performance.now();
    const { h, engine: used, fallback } = await sha256(engine);
    const reader = READERS[read];
    if (!reader) throw new Error(`no reading method ${read}`);
    await reader(file, h, sizes);
    self.postMessage({ done: toHex(h.digest()), size: file.size, ms: performance.now() - started, engine: used, fallback });
  } catch (e) {
    self.postMessage({ error: `cannot read ${file.name}: ${e.message}` });
  }
};
