// Incremental SHA-256 with the compression function in WebAssembly (../wasm/sha256.wat, compiled
// to ../wasm/sha256.wasm), the same update/digest interface as Sha256 in sha256.js and about
// twice its speed. This file does the buffering and the padding (FIPS 180-4 5.1.1); the module
// compresses whole 64-byte blocks. Tested against sha256.js, WebCrypto and the FIPS/NIST examples
// (explorer/tests/vectors.mjs).
//
// Compiling WebAssembly needs 'wasm-unsafe-eval' in the page's Content-Security-Policy; callers
// fall back to sha256.js when compiling fails (hash-worker.js).

// Where the message buffer starts in the module's memory; bytes 0..31 hold the state.
const BUFFER = 1024;
const PAGE = 65536;

/** Compiles the module from its bytes (an ArrayBuffer or a typed array). */
export function compileSha256Wasm(bytes) {
  return WebAssembly.compile(bytes);
}

/** A SHA-256 computation fed in pieces of any size, on its own instance of the module. */
export class Sha256Wasm {
  /**
   * A new computation on `module` (from compileSha256Wasm). `capacity` is the size of the buffer
   * in the module's memory that each update is copied into (rounded up to whole blocks, at least
   * two): an update of at most `capacity` bytes costs one copy and one call into the module.
   */
  static async create(module, capacity = 1 << 20) {
    const instance = await WebAssembly.instantiate(module);
    return new Sha256Wasm(instance.exports, Math.max(128, Math.ceil(capacity / 64) * 64));
  }

  constructor(exports, capacity) {
    const { memory, init, blocks } = exports;
    const pages = Math.ceil((BUFFER + capacity) / PAGE);
    if (memory.buffer.byteLength < pages * PAGE) memory.grow(pages - memory.buffer.byteLength / PAGE);
    // Taken after growing: growing detaches the previous ArrayBuffer.
    this.bytes = new Uint8Array(memory.buffer);
    this.view = new DataView(memory.buffer);
    this.blocks = blocks;
    this.capacity = capacity;
    // Bytes at BUFFER not yet compressed: always fewer than 64 between updates.
    this.buffered = 0;
    // Message length in bytes; a Number is exact up to 2^53 bytes, far beyond any file.
    this.length = 0;
    this.finished = false;
    init();
  }

  /** Adds `data` (a Uint8Array) to the message. */
  update(data) {
    if (this.finished) throw new Error("SHA-256 already finished");
    this.length += data.length;
    for (let p = 0; p < data.length; ) {
      const take = Math.min(data.length - p, this.capacity - this.buffered);
      this.bytes.set(data.subarray(p, p + take), BUFFER + this.buffered);
      this.buffered += take;
      p += take;
      const whole = this.buffered >>> 6;
      if (whole > 0) {
        this.blocks(BUFFER, whole);
        const done = whole * 64;
        this.bytes.copyWithin(BUFFER, BUFFER + done, BUFFER + this.buffered);
        this.buffered -= done;
      }
    }
    return this;
  }

  /** The 32-byte digest; the object cannot be updated afterwards. */
  digest() {
    if (this.finished) throw new Error("SHA-256 already finished");
    this.finished = true;
    // 5.1.1: a 1 bit, zeros up to 56 mod 64 bytes, then the length in bits as 64-bit big-endian.
    const end = this.buffered < 56 ? 64 : 128;
    this.bytes[BUFFER + this.buffered] = 0x80;
    this.bytes.fill(0, BUFFER + this.buffered + 1, BUFFER + end - 8);
    const bits = this.length * 8;
    this.view.setUint32(BUFFER + end - 8, Math.floor(bits / 2 ** 32));
    this.view.setUint32(BUFFER + end - 4, bits >>> 0);
    this.blocks(BUFFER, end / 64);
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) outView.setUint32(4 * i, this.view.getUint32(4 * i, true));
    return out;
  }
}
