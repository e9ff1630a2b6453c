// Throughput of the explorer's SHA-256 implementations under Node.js (V8, as in Chromium), on an
// in-memory buffer fed in slices: sha256.js, and sha256-wasm.js over each .wasm given, each
// checked against WebCrypto. Used for the comparisons in docs/performance.md ("Explorer"). Usage:
//   node speed.mjs [MiB] [slice KiB] [FILE.wasm ...]   (default: 256 MiB, 8192 KiB, ../wasm/sha256.wasm)
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { Sha256 } from "../js/sha256.js";
import { Sha256Wasm, compileSha256Wasm } from "../js/sha256-wasm.js";
import { toHex } from "../js/bytes.js";

const here = dirname(fileURLToPath(import.meta.url));
const [mibArg, sliceArg, ...wasmFiles] = process.argv.slice(2);
const mib = Number(mibArg ?? 256);
const slice = Number(sliceArg ?? 8192) * 1024;
const files = wasmFiles.length ? wasmFiles : [join(here, "../wasm/sha256.wasm")];
const data = new Uint8Array(mib * 1048576);
for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));

async function run(name, make) {
  let digest;
  const rates = [];
  for (let r = 0; r < 3; r++) {
    const h = await make();
    const t = performance.now();
    for (let p = 0; p < data.length; p += slice) h.update(data.subarray(p, p + slice));
    digest = toHex(h.digest());
    if (digest !== want) throw new Error(`${name}: digest ${digest}, WebCrypto ${want}`);
    rates.push(mib / ((performance.now() - t) / 1000));
  }
  console.log(`${name}: ${rates.map((r) => r.toFixed(0)).join(" ")} MiB/s (${digest.slice(0, 16)})`);
}

const want = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)));
console.log(`${mib} MiB in ${slice / 1024} KiB slices, WebCrypto ${want.slice(0, 16)}`);
await run("sha256.js", async () => new Sha256());
for (const f of files) {
  const module = await compileSha256Wasm(readFileSync(f));
  await run(`${f} (buffer = slice)`, () => Sha256Wasm.create(module, slice));
  await run(`${f} (64 KiB buffer)`, () => Sha256Wasm.create(module, 65536));
}
