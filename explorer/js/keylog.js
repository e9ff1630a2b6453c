// Key-log replay (spec/keylog.md sections 3 to 5) in the browser, over the whole key log after
// its entries were checked against the verified key-log checkpoint. The page replays as far as
// it can: an event it cannot accept stops the replay, and the page says where and why.

import { equalBytes } from "./bytes.js";
import { parseEntry, scopeMatches } from "./entry.js";
import { VerifyError, fingerprint, parseVkey, verifySignature } from "./note.js";

/**
 * Counts the distinct root keys of `roots` whose signatures on `note` verify; a known root's bad
 * signature refuses the event. Returns the signing root keys.
 */
async function rootSigners(note, roots) {
  const signers = [];
  for (const sig of note.signatures) {
    const key = roots.find((k) => k.name === sig.name && k.id === sig.id);
    if (key === undefined) continue;
    const { ok } = await verifySignature(key, note.text, note.textBytes, sig.signature);
    if (!ok) throw new VerifyError(`root key ${key.name}'s signature does not verify`);
    if (!signers.some((s) => equalBytes(s.key, key.key))) signers.push(key);
  }
  return signers;
}

/**
 * Replays key-log entries (byte arrays, in order). Returns {roots, threshold, keys (Map from
 * public-key hex to record), events: [{index, entry, signers, error?}], stoppedAt, error}.
 */
export async function replay(entries) {
  const state = { roots: [], threshold: 0, keys: new Map(), identities: new Map(), trustedRoots: [], events: [], stoppedAt: null, error: null };
  for (let index = 0; index < entries.length; index++) {
    let entry;
    try {
      entry = parseEntry(entries[index]);
      if (entry.kind !== "key") throw new VerifyError(`a ${entry.type} entry in the key log`);
      const signers = await apply(state, index, entry);
      state.events.push({ index, entry, signers });
    } catch (e) {
      state.stoppedAt = index;
      state.error = e.message;
      state.events.push({ index, entry, signers: [], error: e.message });
      break;
    }
  }
  return state;
}

const keyHex = (k) => Array.from(k.key, (b) => b.toString(16).padStart(2, "0")).join("");

async function apply(state, index, e) {
  if (index === 0) {
    if (e.event !== "root") throw new VerifyError("entry 0 of the key log is not a root event");
    const roots = e.roots.map(parseVkey);
    const signers = await rootSigners(e.note, roots);
    if (signers.length < e.threshold) throw new VerifyError(`genesis signed by ${signers.length} of its roots, threshold ${e.threshold}`);
    state.roots = roots;
    state.threshold = e.threshold;
    return signers;
  }
  const signers = await rootSigners(e.note, state.roots);
  if (signers.length < state.threshold) {
    throw new VerifyError(`signed by ${signers.length} current root keys, threshold ${state.threshold}`);
  }
  switch (e.event) {
    case "root": {
      const roots = e.roots.map(parseVkey);
      const newSigners = await rootSigners(e.note, roots);
      if (newSigners.length < e.threshold) throw new VerifyError(`root change signed by ${newSigners.length} of the new roots, threshold ${e.threshold}`);
      state.roots = roots;
      state.threshold = e.threshold;
      break;
    }
    case "add": {
      const key = parseVkey(e.key);
      if (state.keys.has(keyHex(key))) throw new VerifyError("key added twice");
      state.keys.set(keyHex(key), { key, vkey: e.key, scope: e.scope, from: e.from, addedAt: index, end: null, history: [{ index, event: "add" }] });
      break;
    }
    case "retire":
    case "revoke": {
      const key = parseVkey(e.key);
      const rec = state.keys.get(keyHex(key));
      if (rec === undefined) throw new VerifyError(`${e.event} of a key never added`);
      if (rec.vkey !== e.key) throw new VerifyError(`${e.event} names the key under another name`);
      const end = rec.end;
      const shortens = end === null || (end.kind === "retire" && (e.event === "retire" ? e.until < end.until : e.until <= end.until))
        || (end.kind === "revoke" && e.event === "revoke" && e.until < end.until);
      if (!shortens) throw new VerifyError(`${e.event} does not shorten the key's validity`);
      rec.end = { kind: e.event, until: e.until, at: index };
      rec.history.push({ index, event: e.event });
      break;
    }
    case "sigstore-root":
      // The trusted root itself is used by `cairn verify`; the page only records when it applies.
      state.trustedRoots.push({ from: e.from, at: index });
      break;
    case "add-identity": {
      const id = `${e.issuer} ${e.identity}`;
      if (state.identities.has(id)) throw new VerifyError("identity granted twice");
      state.identities.set(id, { issuer: e.issuer, identity: e.identity, scope: e.scope, from: e.from, addedAt: index, end: null });
      break;
    }
    case "retire-identity":
    case "revoke-identity": {
      const rec = state.identities.get(`${e.issuer} ${e.identity}`);
      if (rec === undefined) throw new VerifyError(`${e.event} of an identity never granted`);
      const kind = e.event === "retire-identity" ? "retire" : "revoke";
      const end = rec.end;
      const shortens = end === null || (end.kind === "retire" && (kind === "retire" ? e.until < end.until : e.until <= end.until))
        || (end.kind === "revoke" && kind === "revoke" && e.until < end.until);
      if (!shortens) throw new VerifyError(`${e.event} does not shorten the grant's validity`);
      rec.end = { kind, until: e.until, at: index };
      break;
    }
    default:
      throw new VerifyError(`unknown key event ${JSON.stringify(e.event)}`);
  }
  return signers;
}

/**
 * Which release key signed an entry note, and whether it was valid for `name` at release-log
 * `index` (spec/keylog.md section 5). Returns {key?, valid, reason}.
 */
export async function judgeSignature(state, note, name, index) {
  for (const sig of note.signatures) {
    for (const rec of state.keys.values()) {
      if (rec.key.name !== sig.name || rec.key.id !== sig.id) continue;
      const { ok } = await verifySignature(rec.key, note.text, note.textBytes, sig.signature);
      if (!ok) return { rec, valid: false, reason: `the signature by ${rec.key.name} does not verify` };
      if (index < rec.from) return { rec, valid: false, reason: `key valid only from release index ${rec.from}` };
      if (!scopeMatches(rec.scope, name)) return { rec, valid: false, reason: `name ${name} is outside the key's scope ${rec.scope}` };
      if (rec.end !== null && rec.end.until <= index) {
        return { rec, valid: false, reason: `key ${rec.end.kind === "revoke" ? "revoked" : "retired"} from release index ${rec.end.until} (key-log entry ${rec.end.at})` };
      }
      return { rec, valid: true, reason: `valid at index ${index}: scope ${rec.scope}, from ${rec.from}${rec.end ? `, ${rec.end.kind}d from ${rec.end.until}` : ""}` };
    }
  }
  return { valid: false, reason: "not signed by any release key of the key log" };
}

/** An identity pattern (spec/sigstore.md): exact, or `PREFIX@refs/tags/*` for one tag name. */
function identityMatches(pattern, identity) {
  if (!pattern.endsWith("@refs/tags/*")) return pattern === identity;
  const prefix = pattern.slice(0, -1);
  if (!identity.startsWith(prefix)) return false;
  const tag = identity.slice(prefix.length);
  return /^[A-Za-z0-9._+\/-]{1,255}$/.test(tag) && !/^[/.]/.test(tag) && !tag.endsWith("/") && !tag.includes("..") && !tag.includes("//");
}

/**
 * The key-log side of a Sigstore release (spec/keylog.md 5.1, steps 2 and 3): a trusted root in
 * force and a grant covering the identity at `index`. The bundle itself is not verified by the
 * page (`cairn verify` does that), so a release that passes is reported with that caveat.
 */
export function judgeSigstore(state, sigstore, name, index) {
  const covering = [...state.identities.values()].filter((g) => g.issuer === sigstore.issuer && identityMatches(g.identity, sigstore.identity));
  const who = `Sigstore identity ${sigstore.identity} (issuer ${sigstore.issuer})`;
  if (!state.trustedRoots.some((r) => r.from <= index)) return { valid: false, reason: `${who}: no Sigstore trusted root is pinned for release index ${index}` };
  if (covering.length === 0) return { valid: false, reason: `${who}: no grant in the key log` };
  if (covering.some((g) => g.end?.kind === "revoke" && g.end.until <= index)) return { valid: false, reason: `${who}: grant revoked at or before index ${index}` };
  const good = covering.find((g) => scopeMatches(g.scope, name) && g.from <= index && !(g.end && g.end.until <= index));
  if (good === undefined) return { valid: false, reason: `${who}: no grant valid for ${name} at index ${index}` };
  return { valid: true, unverifiedBundle: true, reason: `${who}, granted ${good.scope} from ${good.from}; its bundle sha256:${sigstore.bundle} is verified by \`cairn verify\`, not by this page` };
}

export { fingerprint };
