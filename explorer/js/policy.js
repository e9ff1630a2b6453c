// The trust policy the page verifies against: C2SP tlog-policy text (log keys, witnesses,
// groups, quorum), as the operator publishes it at /trust-policy, or as the user pinned it in
// this browser (localStorage). A served policy only tells you what the server claims; a pinned one
// is what you compared with your distribution's published keys.

import { VerifyError, fingerprint, parseVkey, renameEd25519 } from "./note.js";

const STORAGE_KEY = "cairn-explorer-pinned-policy";

/** Parses tlog-policy text: {text, logs: [{key, url}], witnesses: [{name, key, url}], groups, quorum}. */
export function parsePolicy(text) {
  if (text.length > 65536) throw new VerifyError("policy is larger than 64 KiB");
  const policy = { text, logs: [], witnesses: [], groups: new Map(), quorum: null };
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const [word, ...f] = line.split(/\s+/);
    switch (word) {
      case "log":
        policy.logs.push({ key: parseVkey(f[0]), url: f[1] });
        break;
      case "witness": {
        const key = parseVkey(f[1]);
        if (key.type !== 0x04) throw new VerifyError(`witness ${f[0]}: not a cosignature/v1 key`);
        policy.witnesses.push({ name: f[0], key, url: f[2] });
        break;
      }
      case "group":
        policy.groups.set(f[0], { threshold: f[1], members: f.slice(2) });
        break;
      case "quorum":
        policy.quorum = f[0];
        break;
      default:
        throw new VerifyError(`unknown policy line ${JSON.stringify(line.slice(0, 80))}`);
    }
  }
  if (policy.logs.length === 0) throw new VerifyError("policy has no log line");
  if (policy.quorum === null) throw new VerifyError("policy has no quorum line");
  return policy;
}

/**
 * The per-origin checkpoint keys of the two logs: either log lines named `X/releases` and
 * `X/keys`, or one log line named X whose key signs both under those names (DESIGN.md).
 */
export function logKeys(policy) {
  const byName = (suffix) => policy.logs.find((l) => l.key.name.endsWith(suffix))?.key.vkey;
  let releases = byName("/releases");
  let keys = byName("/keys");
  if ((!releases || !keys) && policy.logs.length === 1) {
    const base = policy.logs[0].key.vkey;
    releases = renameEd25519(base, `${policy.logs[0].key.name}/releases`);
    keys = renameEd25519(base, `${policy.logs[0].key.name}/keys`);
  }
  if (!releases || !keys) throw new VerifyError("policy names no release-log and key-log keys");
  return { releases, keys };
}

/** Whether the verified witnesses (names) satisfy the policy's quorum. */
export function quorumMet(policy, verifiedNames) {
  const seen = new Set();
  const met = (name) => {
    if (name === "none") return true;
    if (policy.witnesses.some((w) => w.name === name)) return verifiedNames.has(name);
    const g = policy.groups.get(name);
    if (g === undefined || seen.has(name)) return false;
    seen.add(name);
    const count = g.members.filter(met).length;
    seen.delete(name);
    const need = g.threshold === "all" ? g.members.length : g.threshold === "any" ? 1 : Number(g.threshold);
    return count >= need;
  };
  return met(policy.quorum);
}

export function pinnedPolicy() {
  try {
    return globalThis.localStorage?.getItem(STORAGE_KEY) ?? null;
  } catch {
    return null;
  }
}

export function pinPolicy(text) {
  globalThis.localStorage.setItem(STORAGE_KEY, text);
}

export function unpinPolicy() {
  globalThis.localStorage.removeItem(STORAGE_KEY);
}

export { fingerprint };
