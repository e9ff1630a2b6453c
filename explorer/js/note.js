// C2SP signed-note (notes, verifier keys, signature types 0x01 Ed25519, 0x02 ECDSA P-256,
// 0x04 cosignature/v1, 0x05 RFC 6962 tree head) and C2SP tlog-checkpoint, with the same rules and
// limits as the Rust verifier (verifier/src/note.rs, note_ecdsa.rs, note_rfc6962.rs,
// cosignature.rs, checkpoint.rs). Signatures are checked with WebCrypto.

import {
  concat, equalBytes, fromBase64, parseDecimal, readU64, strictUtf8, toBase64, toHex, u64Bytes, utf8,
} from "./bytes.js";
import { sha256 } from "./sha256.js";

export const MAX_NOTE_SIZE = 65535;
export const MAX_NOTE_SIGNATURES = 32;
export const MAX_KEY_NAME_SIZE = 256;
export const MAX_SIGNATURE_SIZE = 512;
export const SIG_ED25519 = 0x01;
export const SIG_ECDSA = 0x02;
export const SIG_COSIGNATURE_V1 = 0x04;
export const SIG_RFC6962_STH = 0x05;
const MAX_COSIGNATURE_TIME = 2n ** 63n - 1n;
const SIGNATURE_PREFIX = "\u2014 ";
// DER SubjectPublicKeyInfo of a P-256 key with an uncompressed point, up to the point.
const P256_SPKI_PREFIX = new Uint8Array([
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
  0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
]);

const subtle = globalThis.crypto.subtle;

/** A refusal with a one-line reason. */
export class VerifyError extends Error {}

function fail(reason) {
  throw new VerifyError(reason);
}

/** Key names: non-empty, at most 256 bytes, no white space, no '+', no control character. */
export function checkKeyName(name) {
  if (name.length === 0 || utf8.encode(name).length > MAX_KEY_NAME_SIZE || /[\s+\p{Cc}]/u.test(name)) {
    fail(`invalid key name ${JSON.stringify(name.slice(0, 80))}`);
  }
  return name;
}

/** The key ID: first four bytes of SHA-256(name || 0x0A || type || key), big-endian. */
export function keyId(name, type, key) {
  const d = sha256(concat(utf8.encode(name), new Uint8Array([0x0a, type]), key));
  return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
}

export function keyIdHex(id) {
  return id.toString(16).padStart(8, "0");
}

function p256Point(spki) {
  if (spki.length !== 91 || !equalBytes(spki.subarray(0, 26), P256_SPKI_PREFIX) || spki[26] !== 0x04) {
    fail("key is not the DER SubjectPublicKeyInfo of a P-256 key with an uncompressed point");
  }
}

/**
 * Parses a verifier key `name+hexid+base64(type||key)` of any supported type. The key ID must be
 * the one computed from the key. Returns {name, id, type, key, vkey, cryptoKey (a promise)}.
 */
export function parseVkey(vkey) {
  if (typeof vkey !== "string" || vkey.length > MAX_KEY_NAME_SIZE + 1024) fail("verifier key is too long");
  const first = vkey.indexOf("+");
  const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
  if (second < 0) fail("verifier key must be name+keyid+base64");
  const name = checkKeyName(vkey.slice(0, first));
  const idText = vkey.slice(first + 1, second);
  if (!/^[0-9a-f]{8}$/.test(idText)) fail("key ID must be eight lowercase hex digits");
  const stated = parseInt(idText, 16) >>> 0;
  const material = fromBase64(vkey.slice(second + 1));
  if (material === null) fail("key material is not standard base64");
  if (material.length === 0) fail("key material is empty");
  const type = material[0];
  const key = material.slice(1);
  let computed;
  let cryptoKey;
  switch (type) {
    case SIG_ED25519:
    case SIG_COSIGNATURE_V1:
      if (key.length !== 32) fail("Ed25519 public key must be 32 bytes");
      computed = keyId(name, type, key);
      cryptoKey = subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
      break;
    case SIG_ECDSA:
      p256Point(key);
      computed = keyIdOfBytes(sha256(key));
      cryptoKey = subtle.importKey("spki", key, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
      break;
    case SIG_RFC6962_STH:
      p256Point(key);
      computed = keyId(name, type, sha256(key));
      cryptoKey = subtle.importKey("spki", key, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
      break;
    default:
      fail(`unsupported key type 0x${type.toString(16).padStart(2, "0")}`);
  }
  if (computed !== stated) {
    fail(`key ID of ${name} is ${idText}, but the key's ID is ${keyIdHex(computed)}`);
  }
  // A key the browser cannot import is refused when it is first used, not here: keep the
  // rejection from becoming an unhandled promise.
  cryptoKey.catch(() => {});
  return { name, id: computed, type, key, vkey, cryptoKey };
}

function keyIdOfBytes(d) {
  return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
}

/** The vkey of the same Ed25519 key under another name (the log's per-origin keys). */
export function renameEd25519(vkey, name) {
  const k = parseVkey(vkey);
  if (k.type !== SIG_ED25519) fail("not an Ed25519 verifier key");
  checkKeyName(name);
  return `${name}+${keyIdHex(keyId(name, SIG_ED25519, k.key))}+${toBase64(concat([SIG_ED25519], k.key))}`;
}

/** SHA-256 fingerprint of a key's material, for people to compare. */
export function fingerprint(key) {
  return "SHA256:" + toBase64(sha256(concat([key.type], key.key))).replace(/=+$/, "");
}

/** Parses a signed note: size, encoding and signature-line syntax. Nothing is verified. */
export function parseNote(bytes) {
  if (bytes.length > MAX_NOTE_SIZE) fail(`note is ${bytes.length} bytes, over the ${MAX_NOTE_SIZE} limit`);
  let all;
  try {
    all = strictUtf8.decode(bytes);
  } catch {
    fail("note is not valid UTF-8");
  }
  const control = [...all].find((c) => c < " " && c !== "\n");
  if (control !== undefined) fail(`note contains control character U+${control.charCodeAt(0).toString(16).padStart(4, "0")}`);
  const split = all.lastIndexOf("\n\n");
  if (split < 0) fail("note has no signature block");
  const text = all.slice(0, split + 1);
  const block = all.slice(split + 2);
  if (text === "\n") fail("note text is empty");
  if (block.length === 0) fail("note has no signature block");
  const signatures = [];
  let rest = block;
  while (rest.length > 0) {
    const end = rest.indexOf("\n");
    if (end < 0) fail(`malformed signature line ${JSON.stringify(rest.slice(0, 120))}`);
    const line = rest.slice(0, end);
    rest = rest.slice(end + 1);
    if (signatures.length === MAX_NOTE_SIGNATURES) fail("note has too many signatures");
    const sig = parseSignatureLine(line);
    if (signatures.some((s) => s.name === sig.name && s.id === sig.id)) {
      fail(`two signatures by ${sig.name} with key ID ${keyIdHex(sig.id)}`);
    }
    signatures.push(sig);
  }
  return { text, textBytes: utf8.encode(text), signatures };
}

function parseSignatureLine(line) {
  const malformed = () => fail(`malformed signature line ${JSON.stringify(line.slice(0, 120))}`);
  if (!line.startsWith(SIGNATURE_PREFIX)) malformed();
  const body = line.slice(SIGNATURE_PREFIX.length);
  const space = body.indexOf(" ");
  if (space < 0) malformed();
  const name = checkKeyName(body.slice(0, space));
  const b64 = body.slice(space + 1);
  if (b64.length > (Math.floor(MAX_SIGNATURE_SIZE / 3) + 1) * 4) malformed();
  const raw = fromBase64(b64);
  if (raw === null || raw.length < 5 || raw.length > MAX_SIGNATURE_SIZE) malformed();
  return { name, id: keyIdOfBytes(raw), signature: raw.slice(4) };
}

/** Converts a strict DER ECDSA-Sig-Value to the 64-byte r||s WebCrypto takes; null if not strict DER. */
function derToRaw(der) {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2 || der[1] > 0x7f) return null;
  const out = new Uint8Array(64);
  let p = 2;
  for (let k = 0; k < 2; k++) {
    if (der[p] !== 0x02) return null;
    const len = der[p + 1];
    if (len === 0 || len > 33 || p + 2 + len > der.length) return null;
    const int = der.subarray(p + 2, p + 2 + len);
    // Minimal encoding: no leading zero unless the next byte has its top bit set; positive.
    if (int[0] & 0x80) return null;
    if (int[0] === 0 && (len === 1 || !(int[1] & 0x80))) return null;
    const value = int[0] === 0 ? int.subarray(1) : int;
    if (value.length > 32) return null;
    out.set(value, 32 * k + 32 - value.length);
    p += 2 + len;
  }
  if (p !== der.length) return null;
  // r and s must be non-zero (WebCrypto would refuse them anyway).
  return out;
}

async function ecdsaVerify(key, message, der) {
  const raw = derToRaw(der);
  if (raw === null) return false;
  try {
    return await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, await key.cryptoKey, raw, message);
  } catch {
    return false;
  }
}

async function ed25519Verify(key, message, signature) {
  if (signature.length !== 64) return false;
  try {
    return await subtle.verify({ name: "Ed25519" }, await key.cryptoKey, signature, message);
  } catch {
    return false;
  }
}

/** The message a cosignature/v1 signs. */
export function cosignedMessage(time, text) {
  return utf8.encode(`cosignature/v1\ntime ${time}\n${text}`);
}

/**
 * Whether `signature` (after the key ID) by `key` is valid over `text`. For cosignatures and
 * RFC 6962 tree heads the timestamp is returned as `time` (a BigInt, POSIX seconds or ms).
 */
export async function verifySignature(key, text, textBytes, signature) {
  switch (key.type) {
    case SIG_ED25519:
      return { ok: await ed25519Verify(key, textBytes, signature) };
    case SIG_ECDSA:
      return { ok: await ecdsaVerify(key, textBytes, signature) };
    case SIG_COSIGNATURE_V1: {
      try {
        parseCheckpoint(text);
      } catch {
        return { ok: false };
      }
      if (signature.length !== 72) return { ok: false };
      const time = readU64(signature, 0);
      if (time > MAX_COSIGNATURE_TIME) return { ok: false };
      const ok = await ed25519Verify(key, cosignedMessage(time, text), signature.subarray(8));
      return { ok, time };
    }
    case SIG_RFC6962_STH: {
      if (signature.length < 12) return { ok: false };
      const time = readU64(signature, 0);
      const [hashAlg, sigAlg, hi, lo] = signature.subarray(8, 12);
      const der = signature.subarray(12);
      if (hashAlg !== 4 || sigAlg !== 3 || der.length !== ((hi << 8) | lo)) return { ok: false };
      let cp;
      try {
        cp = parseCheckpoint(text);
      } catch {
        return { ok: false };
      }
      if (cp.origin !== key.name || cp.extensions.length !== 0) return { ok: false };
      const treeHead = concat([0, 1], u64Bytes(time), u64Bytes(cp.size), cp.root);
      return { ok: await ecdsaVerify(key, treeHead, der), time };
    }
    default:
      return { ok: false };
  }
}

/**
 * Verifies a parsed note against known keys under the signed-note rules: unknown signatures are
 * ignored, a known key's bad signature rejects the note, at least one known signature must
 * verify, and a signature two known keys could claim is refused. Returns the verified
 * signatures as [{key, time}].
 */
export async function verifyNote(note, known) {
  const verified = [];
  for (const sig of note.signatures) {
    const matching = known.filter((k) => k.name === sig.name && k.id === sig.id);
    if (matching.length === 0) continue;
    if (matching.length > 1) fail(`two known keys are named ${sig.name} with key ID ${keyIdHex(sig.id)}`);
    const key = matching[0];
    const { ok, time } = await verifySignature(key, note.text, note.textBytes, sig.signature);
    if (!ok) fail(`signature by known key ${sig.name} (${keyIdHex(sig.id)}) does not verify`);
    verified.push({ key, time });
  }
  if (verified.length === 0) fail("note is not signed by any known key");
  return verified;
}

/** Parses a tlog-checkpoint body strictly. Returns {origin, size (BigInt), root, extensions}. */
export function parseCheckpoint(text) {
  if (utf8.encode(text).length > MAX_NOTE_SIZE) fail("checkpoint is too large");
  if ([...text].some((c) => c < " " && c !== "\n")) fail("checkpoint contains a control character");
  if (!text.endsWith("\n")) fail("checkpoint does not end in a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) fail(`checkpoint has ${lines.length} lines, at least 3 are needed`);
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin.length === 0) fail("checkpoint origin is empty");
  const size = parseDecimal(sizeText);
  if (size === null) fail(`checkpoint size ${JSON.stringify(sizeText.slice(0, 40))} is not a canonical decimal of at most 2^64-1`);
  const root = fromBase64(rootText);
  if (root === null || root.length !== 32) fail(`checkpoint root ${JSON.stringify(rootText.slice(0, 80))} is not base64 of 32 bytes`);
  const empty = extensions.findIndex((l) => l.length === 0);
  if (empty >= 0) fail(`checkpoint extension line ${empty + 4} is empty`);
  if (size === 0n && toHex(root) !== "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") {
    fail("a size-0 checkpoint must have the empty tree's root");
  }
  return { origin, size, root, extensions };
}

/**
 * Verifies a checkpoint note signed by `logKey` for `origin` (signature first, then the body).
 * Returns {checkpoint, note}. Cosignatures are checked separately (verifyCosignatures).
 */
export async function verifyCheckpoint(bytes, origin, logKey) {
  const note = parseNote(bytes);
  await verifyNote(note, [logKey]);
  const checkpoint = parseCheckpoint(note.text);
  if (checkpoint.origin !== origin) fail(`checkpoint origin is ${checkpoint.origin}, expected ${origin}`);
  return { checkpoint, note };
}

/**
 * Checks each witness's cosignature on a verified checkpoint note. Returns one result per
 * witness: {witness, status: "verified"|"missing"|"invalid", time (seconds, Number)}.
 */
export async function verifyCosignatures(note, witnesses) {
  const results = [];
  for (const witness of witnesses) {
    const sig = note.signatures.find((s) => s.name === witness.key.name && s.id === witness.key.id);
    if (sig === undefined) {
      results.push({ witness, status: "missing" });
      continue;
    }
    const { ok, time } = await verifySignature(witness.key, note.text, note.textBytes, sig.signature);
    results.push(ok ? { witness, status: "verified", time: Number(time) } : { witness, status: "invalid" });
  }
  return results;
}
