// Runs the explorer's verification modules (the same files the page loads) over the repository's
// conformance vectors (vectors/manifest.json, format in vectors/README.md) and prints one line per
// case: `<id> <OK|FAIL> <reason>`. verifier/tests/conformance.rs holds the Rust verifier to the
// manifest's `expect` on every case; tests/tests/explorer.rs runs this script and holds the page
// to the same verdicts, so the two agree case by case.
//
// Usage: node explorer/tests/vectors.mjs [VECTORS_DIR]
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { fromBase64, fromHex, toHex, utf8 } from "../js/bytes.js";
import { leafHash, rootOf, verifyConsistency, verifyInclusion } from "../js/merkle.js";
import { parseCheckpoint, parseNote, parseVkey, verifyNote, verifySignature } from "../js/note.js";
import { Sha256 } from "../js/sha256.js";
import { Sha256Wasm, compileSha256Wasm } from "../js/sha256-wasm.js";
import { parseEntry } from "../js/entry.js";

const here = dirname(fileURLToPath(import.meta.url));
const dir = resolve(process.argv[2] ?? join(here, "../../vectors"));

class Reject extends Error {}
const reject = (why) => {
  throw new Reject(why);
};

/** A hash in base64: a value that is not canonical base64 of 32 bytes is a refusal. */
function hash(value, what) {
  const h = typeof value === "string" ? fromBase64(value) : null;
  if (h === null || h.length !== 32) reject(`${what} is not base64 of 32 bytes`);
  return h;
}
const hashes = (list, what) => (list ?? []).map((h, i) => hash(h, `${what}[${i}]`));
const first = (obj, names) => names.map((n) => obj[n]).find((v) => v !== undefined);
const u64 = (v) => (v === undefined ? undefined : BigInt(v));

async function checkNote(path, c) {
  const bytes = c.note !== undefined ? utf8.encode(c.note) : readFileSync(join(dirname(path), c.note_file));
  const keys = [];
  for (const vkey of c.vkeys) {
    try {
      keys.push(parseVkey(vkey));
    } catch (e) {
      reject(`vkey ${vkey}: ${e.message}`);
    }
  }
  // A key the platform cannot import (not a point) verifies nothing: refuse it as the Rust
  // verifier does when parsing the vkey.
  for (const k of keys) {
    try {
      await k.cryptoKey;
    } catch (e) {
      reject(`vkey ${k.vkey}: cannot be imported: ${e.message}`);
    }
  }
  let note;
  let verified;
  try {
    note = parseNote(bytes);
    verified = await verifyNote(note, keys);
  } catch (e) {
    reject(`note: ${e.message}`);
  }
  if (c.require === "all") {
    for (const k of keys) if (!verified.some((v) => v.key === k)) reject(`required key ${k.vkey} did not sign`);
  }
  if (c.checkpoint !== true) return null;
  let cp;
  try {
    cp = parseCheckpoint(note.text);
  } catch (e) {
    reject(`checkpoint: ${e.message}`);
  }
  // The first listed key that signed is the log's key (as in conformance.rs); with no origin
  // pinned, the signed origin is accepted.
  const logKey = keys.find((k) => verified.some((v) => v.key === k));
  const { ok } = await verifySignature(logKey, note.text, note.textBytes, note.signatures.find((s) => s.name === logKey.name && s.id === logKey.id).signature);
  if (!ok) reject("checkpoint signature does not verify");
  if (c.origin !== undefined && cp.origin !== c.origin) reject(`checkpoint origin ${cp.origin}, expected ${c.origin}`);
  return cp;
}

async function checkInclusion(p, cp) {
  const index = u64(first(p, ["index", "leafIdx", "logIndex"]));
  const size = u64(first(p, ["tree_size", "treeSize"])) ?? cp?.size;
  const rootText = first(p, ["root", "rootHash"]);
  const root = rootText !== undefined ? hash(rootText, "root") : cp?.root;
  const leafText = first(p, ["leaf_hash", "leafHash"]);
  const data = first(p, ["leaf_data", "canonicalizedBody"]);
  const leaf = leafText !== undefined ? hash(leafText, "leaf_hash") : await leafHash(fromBase64(data));
  const proof = hashes(first(p, ["proof", "hashes"]), "proof");
  try {
    await verifyInclusion(leaf, index, size, proof, root);
  } catch (e) {
    reject(`inclusion of ${index} in ${size}: ${e.message}`);
  }
}

async function checkConsistency(p, cp) {
  const root1 = hash(p.root1, "root1");
  const size2 = u64(p.size2) ?? cp?.size;
  const root2 = p.root2 !== undefined ? hash(p.root2, "root2") : cp?.root;
  const proof = hashes(first(p, ["proof", "hashes"]), "proof");
  try {
    await verifyConsistency(u64(p.size1), root1, size2, root2, proof);
  } catch (e) {
    reject(`consistency: ${e.message}`);
  }
}

async function runCase(path, c) {
  if ("leafIdx" in c) return checkInclusion(c, null);
  if ("size1" in c) return checkConsistency(c, null);
  const cp = c.note !== undefined || c.note_file !== undefined ? await checkNote(path, c) : null;
  for (const p of [c.inclusion ?? []].flat()) await checkInclusion(p, cp);
  for (const p of [c.consistency ?? []].flat()) await checkConsistency(p, cp);
  if (c.tree_size !== undefined && BigInt(c.tree_size) !== cp.size) reject("tree_size differs from the signed checkpoint");
  if (c.root !== undefined && toHex(hash(c.root, "root")) !== toHex(cp.root)) reject("root differs");
  if (c.root_hex !== undefined && c.root_hex !== toHex(cp.root)) reject("root_hex differs");
  if (c.leaf_hashes !== undefined) {
    const leaves = hashes(c.leaf_hashes, "leaf_hashes");
    if (BigInt(leaves.length) !== cp.size || toHex(await rootOf(leaves)) !== toHex(cp.root)) {
      reject("leaf_hashes do not hash to the signed root");
    }
  }
}

const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
let mismatches = 0;
for (const entry of manifest.cases) {
  const path = join(dir, entry.case);
  let verdict = "OK";
  let why = "";
  try {
    await runCase(path, JSON.parse(readFileSync(path, "utf8")));
  } catch (e) {
    if (!(e instanceof Reject)) {
      verdict = "BROKEN";
      why = `${e.name}: ${e.message}`;
    } else {
      verdict = "FAIL";
      why = e.message;
    }
  }
  if (verdict !== entry.expect) mismatches++;
  console.log(`case ${entry.id} ${verdict} ${why}`.trimEnd());
}

// RFC 6962 reference roots for every size 0..=8, through rootOf and inclusion proofs.
const leaves = readFileSync(join(dir, "rfc6962/leaves.hex"), "utf8").split("\n").map((l) => l.trim());
const roots = JSON.parse(readFileSync(join(dir, "rfc6962/reference_roots.json"), "utf8")).roots_hex;
for (let size = 0; size < roots.length; size++) {
  const hs = [];
  for (const l of leaves.slice(0, size)) hs.push(await leafHash(fromHex(l)));
  const got = toHex(await rootOf(hs));
  const ok = got === roots[size];
  if (!ok) mismatches++;
  console.log(`rfc6962-root ${size} ${ok ? "OK" : "FAIL"}`);
}

// SHA-256: FIPS 180-4 examples, then WebCrypto on every length 0..1100 fed in uneven pieces.
const fips = [
  ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ["abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"],
  ["a".repeat(1000000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"],
];
for (const [text, want] of fips) {
  const ok = toHex(new Sha256().update(utf8.encode(text)).digest()) === want;
  if (!ok) mismatches++;
  console.log(`sha256-fips ${text.length} ${ok ? "OK" : "FAIL"}`);
}
let shaBad = 0;
const data = new Uint8Array(1100).map((_, i) => (i * 131 + 7) & 255);
for (let len = 0; len <= data.length; len++) {
  const msg = data.subarray(0, len);
  const h = new Sha256();
  for (let p = 0, step = 1; p < len; p += step, step = (step * 7) % 97 + 1) h.update(msg.subarray(p, p + step));
  const want = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", msg)));
  if (toHex(h.digest()) !== want) shaBad++;
}
if (shaBad) mismatches++;
console.log(`sha256-webcrypto 0..${data.length} ${shaBad === 0 ? "OK" : `FAIL ${shaBad} lengths differ`}`);

// The WebAssembly SHA-256 (../wasm/sha256.wasm, what the page hashes files with): the FIPS/NIST
// examples; every length 0..300 in one update and in uneven pieces, against sha256.js and
// WebCrypto; then random lengths up to 3 MiB split at random points, with buffers of a few blocks
// (so that one update spans several calls into the module) and of 1 MiB, against WebCrypto.
{
  const module = await compileSha256Wasm(readFileSync(join(here, "../wasm/sha256.wasm")));
  let bad = [];
  for (const [text, want] of fips) {
    const got = toHex((await Sha256Wasm.create(module, 128)).update(utf8.encode(text)).digest());
    if (got !== want) bad.push(`FIPS example of ${text.length} bytes`);
  }
  const msg = new Uint8Array(300).map((_, i) => (i * 167 + 13) & 255);
  for (let len = 0; len <= 300; len++) {
    const m = msg.subarray(0, len);
    const js = toHex(new Sha256().update(m).digest());
    const web = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", m)));
    const whole = toHex((await Sha256Wasm.create(module, 256)).update(m).digest());
    const h = await Sha256Wasm.create(module, 128);
    for (let p = 0, step = 1; p < len; p += step, step = (step * 5) % 71 + 1) h.update(m.subarray(p, p + step));
    const pieces = toHex(h.digest());
    if (js !== web || whole !== web || pieces !== web) bad.push(`length ${len}: js ${js} wasm ${whole} in pieces ${pieces}, WebCrypto ${web}`);
  }
  console.log(`sha256-wasm fips-and-0..300 ${bad.length === 0 ? "OK" : `FAIL ${bad.slice(0, 3).join("; ")}`}`);
  if (bad.length) mismatches++;

  bad = [];
  // A seeded generator, so that a failure can be reproduced: xorshift32.
  let seed = 0x9e3779b9;
  const rand = (n) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const big = new Uint8Array(3 << 20);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  for (let run = 0; run < 40; run++) {
    const len = run < 4 ? big.length - run : rand(big.length + 1);
    const m = big.subarray(0, len);
    const web = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", m)));
    const capacity = run % 2 === 0 ? 64 * (2 + rand(6)) : 1 << 20;
    const h = await Sha256Wasm.create(module, capacity);
    const cuts = [];
    for (let p = 0; p < len; ) {
      // Mostly small and odd pieces, sometimes a large one, sometimes an empty one.
      const step = rand(4) === 0 ? rand(len + 1) : rand(5000);
      h.update(m.subarray(p, p + step));
      cuts.push(step);
      p += step;
    }
    const got = toHex(h.digest());
    if (got !== web) bad.push(`${len} bytes in ${cuts.length} pieces, buffer ${capacity}: ${got}, WebCrypto ${web}`);
  }
  console.log(`sha256-wasm random-40 ${bad.length === 0 ? "OK" : `FAIL ${bad.slice(0, 3).join("; ")}`}`);
  if (bad.length) mismatches++;
  let refused = false;
  const done = await Sha256Wasm.create(module);
  done.digest();
  try {
    done.update(new Uint8Array(1));
  } catch {
    refused = true;
  }
  console.log(`sha256-wasm update-after-digest ${refused ? "OK" : "FAIL an update after digest() was accepted"}`);
  if (!refused) mismatches++;
}
// Entries: the `decompressed` line of a compressed image belongs to the artifact before it
// (spec/vectors/entries/valid/release-decompressed.txt), and a malformed one is refused.
{
  const text = readFileSync(join(here, "../../spec/vectors/entries/valid/release-decompressed.txt"), "utf8");
  const signature = `\u2014 example.org/rel ${Buffer.from(new Uint8Array(68)).toString("base64")}\n`;
  const note = (t) => utf8.encode(`${t}\n${signature}`);
  const want = [];
  const lines = text.trimEnd().split("\n");
  lines.forEach((l, i) => {
    if (l.startsWith("artifact ")) {
      const next = lines[i + 1] ?? "";
      const [digest, size] = next.startsWith("decompressed ") ? next.slice(13).split(" ") : [];
      want.push(digest ? { name: l.split(" ")[3], digest: digest.slice(7), size: Number(size) } : { name: l.split(" ")[3] });
    }
  });
  const got = parseEntry(note(text)).artifacts.map((a) => (a.decompressed ? { name: a.name, ...a.decompressed } : { name: a.name }));
  let ok = JSON.stringify(got) === JSON.stringify(want) && want.some((a) => a.digest);
  let refused = false;
  try {
    parseEntry(note(text.replace(/^(decompressed sha256:[0-9a-f]{64}) /m, "$1 0")));
  } catch {
    refused = true;
  }
  ok = ok && refused;
  if (!ok) mismatches++;
  console.log(`entry-decompressed ${ok ? "OK" : `FAIL got ${JSON.stringify(got)} want ${JSON.stringify(want)} refused ${refused}`}`);
}
console.log(`summary ${manifest.cases.length} cases, ${mismatches} mismatches`);
process.exit(mismatches === 0 ? 0 : 1);
