// Incremental SHA-256 (FIPS 180-4, sections 5.1.1, 5.3.3, 6.2) for hashing files of any size in
// the browser: WebCrypto's digest() takes the whole input at once, so a 4 GiB image would have to
// be held in memory. Tested against WebCrypto and the FIPS/NIST vectors (explorer/tests/).

// The round constants (4.2.2) and the initial hash value (5.3.3); explorer/wasm/gen.mjs writes
// them into sha256.wat from here.
export const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export const INITIAL = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/**
 * Compresses every whole 64-byte block of `data[start, end)` into `state`; returns the offset
 * after the last block processed.
 */
function compress(state, w, data, start, end) {
  let h0 = state[0], h1 = state[1], h2 = state[2], h3 = state[3];
  let h4 = state[4], h5 = state[5], h6 = state[6], h7 = state[7];
  let p = start;
  for (; p + 64 <= end; p += 64) {
    for (let i = 0; i < 16; i++) {
      const j = p + 4 * i;
      w[i] = (data[j] << 24) | (data[j + 1] << 16) | (data[j + 2] << 8) | data[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15], y = w[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    let t = 0;
    // Eight rounds per iteration with the variables' roles rotated instead of moved
    // (FIPS 180-4 6.2.2 step 3: after each round, a..h shift by one).
    for (let i = 0; i < 64; i += 8) {
      t = (h + ((((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7)))) + (g ^ (e & (f ^ g))) + K[i + 0] + w[i + 0]) | 0;
      d = (d + t) | 0;
      h = (t + ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10)))) + ((a & b) ^ (c & (a ^ b)))) | 0;
      t = (g + ((((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7)))) + (f ^ (d & (e ^ f))) + K[i + 1] + w[i + 1]) | 0;
      c = (c + t) | 0;
      g = (t + ((((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10)))) + ((h & a) ^ (b & (h ^ a)))) | 0;
      t = (f + ((((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7)))) + (e ^ (c & (d ^ e))) + K[i + 2] + w[i + 2]) | 0;
      b = (b + t) | 0;
      f = (t + ((((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10)))) + ((g & h) ^ (a & (g ^ h)))) | 0;
      t = (e + ((((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7)))) + (d ^ (b & (c ^ d))) + K[i + 3] + w[i + 3]) | 0;
      a = (a + t) | 0;
      e = (t + ((((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10)))) + ((f & g) ^ (h & (f ^ g)))) | 0;
      t = (d + ((((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7)))) + (c ^ (a & (b ^ c))) + K[i + 4] + w[i + 4]) | 0;
      h = (h + t) | 0;
      d = (t + ((((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10)))) + ((e & f) ^ (g & (e ^ f)))) | 0;
      t = (c + ((((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7)))) + (b ^ (h & (a ^ b))) + K[i + 5] + w[i + 5]) | 0;
      g = (g + t) | 0;
      c = (t + ((((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10)))) + ((d & e) ^ (f & (d ^ e)))) | 0;
      t = (b + ((((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7)))) + (a ^ (g & (h ^ a))) + K[i + 6] + w[i + 6]) | 0;
      f = (f + t) | 0;
      b = (t + ((((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10)))) + ((c & d) ^ (e & (c ^ d)))) | 0;
      t = (a + ((((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7)))) + (h ^ (f & (g ^ h))) + K[i + 7] + w[i + 7]) | 0;
      e = (e + t) | 0;
      a = (t + ((((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10)))) + ((b & c) ^ (d & (b ^ c)))) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  state[0] = h0; state[1] = h1; state[2] = h2; state[3] = h3;
  state[4] = h4; state[5] = h5; state[6] = h6; state[7] = h7;
  return p;
}

/** A SHA-256 computation fed in pieces of any size. */
export class Sha256 {
  constructor() {
    this.state = new Int32Array(INITIAL);
    this.w = new Int32Array(64);
    this.buffer = new Uint8Array(64);
    this.buffered = 0;
    // Message length in bytes; a Number is exact up to 2^53 bytes, far beyond any file.
    this.length = 0;
    this.finished = false;
  }

  /** Adds `data` (a Uint8Array) to the message. */
  update(data) {
    if (this.finished) throw new Error("SHA-256 already finished");
    this.length += data.length;
    let p = 0;
    if (this.buffered > 0) {
      const take = Math.min(64 - this.buffered, data.length);
      this.buffer.set(data.subarray(0, take), this.buffered);
      this.buffered += take;
      p = take;
      if (this.buffered < 64) return this;
      compress(this.state, this.w, this.buffer, 0, 64);
      this.buffered = 0;
    }
    p = compress(this.state, this.w, data, p, data.length);
    if (p < data.length) {
      this.buffer.set(data.subarray(p), 0);
      this.buffered = data.length - p;
    }
    return this;
  }

  /** The 32-byte digest; the object cannot be updated afterwards. */
  digest() {
    if (this.finished) throw new Error("SHA-256 already finished");
    const bits = this.length * 8;
    const tail = new Uint8Array(this.buffered < 56 ? 64 : 128);
    tail.set(this.buffer.subarray(0, this.buffered));
    tail[this.buffered] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(tail.length - 4, bits >>> 0);
    compress(this.state, this.w, tail, 0, tail.length);
    this.finished = true;
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) outView.setUint32(4 * i, this.state[i]);
    return out;
  }
}

/** SHA-256 of one byte array, synchronously. */
export function sha256(data) {
  return new Sha256().update(data).digest();
}
