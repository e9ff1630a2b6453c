// Cairn entries (spec/entries.md) read for display: the type line and the `key value` lines.
// The server, monitors and `cairn verify` apply the full strict grammar; the page relies on the
// log's signature and the inclusion proof for what the bytes are, and reads their fields here.

import { VerifyError, parseNote } from "./note.js";

/** Parses an entry note: {note, type, fields: [[key, value]...], ...typed fields}. */
export function parseEntry(bytes) {
  const note = parseNote(bytes);
  const lines = note.text.slice(0, -1).split("\n");
  const type = lines[0];
  const fields = lines.slice(1).map((l) => {
    const space = l.indexOf(" ");
    if (space <= 0) throw new VerifyError(`malformed entry line ${JSON.stringify(l.slice(0, 80))}`);
    return [l.slice(0, space), l.slice(space + 1)];
  });
  const one = (k) => fields.find(([key]) => key === k)?.[1];
  const all = (k) => fields.filter(([key]) => key === k).map(([, v]) => v);
  const file = (v) => {
    const [digest, size, name] = v.split(" ");
    if (!/^sha256:[0-9a-f]{64}$/.test(digest ?? "") || !/^(0|[1-9][0-9]*)$/.test(size ?? "") || !name) {
      throw new VerifyError(`malformed file line ${JSON.stringify(v.slice(0, 120))}`);
    }
    return { digest: digest.slice(7), size: Number(size), name };
  };
  const entry = { note, type, fields };
  switch (type) {
    case "cairn/release/v1": {
      // A `decompressed sha256:<hex> <size>` line belongs to the artifact line right before it
      // (a compressed image: what it decompresses to, spec/entries.md).
      const artifacts = [];
      for (const [key, value] of fields) {
        if (key === "artifact") artifacts.push(file(value));
        if (key === "decompressed" && artifacts.length > 0) {
          const [digest, size] = value.split(" ");
          if (!/^sha256:[0-9a-f]{64}$/.test(digest ?? "") || !/^(0|[1-9][0-9]*)$/.test(size ?? "")) {
            throw new VerifyError(`malformed decompressed line ${JSON.stringify(value.slice(0, 120))}`);
          }
          artifacts[artifacts.length - 1].decompressed = { digest: digest.slice(7), size: Number(size) };
        }
      }
      // A `sigstore sha256:<bundle> <issuer> <identity>` line: a Sigstore bundle, not a release
      // key, authorises the release (spec/entries.md 5.1).
      let sigstore;
      const line = one("sigstore");
      if (line !== undefined) {
        const [bundle, issuer, identity, more] = line.split(" ");
        if (!/^sha256:[0-9a-f]{64}$/.test(bundle ?? "") || !issuer || !identity || more !== undefined) {
          throw new VerifyError(`malformed sigstore line ${JSON.stringify(line.slice(0, 120))}`);
        }
        sigstore = { bundle: bundle.slice(7), issuer, identity };
      }
      return { ...entry, kind: "release", name: one("name"), version: one("version"), artifacts, manifests: all("manifest").map(file), sigstore };
    }
    case "cairn/deprecate/v1":
      return { ...entry, kind: "deprecate", name: one("name"), version: one("version"), reason: one("reason"), advisory: one("advisory"), replacement: one("replacement") };
    case "cairn/key/v1":
      return {
        ...entry, kind: "key", event: one("event"), roots: all("root"), threshold: one("threshold") === undefined ? undefined : Number(one("threshold")),
        key: one("key"), scope: one("scope"), from: one("from") === undefined ? undefined : Number(one("from")),
        until: one("until") === undefined ? undefined : Number(one("until")), reason: one("reason"),
        issuer: one("issuer"), identity: one("identity"),
      };
    default:
      throw new VerifyError(`unknown entry type ${JSON.stringify(type.slice(0, 40))}`);
  }
}

/** Scope matching (entries.md 4.6): same number of segments, `*` within one segment. */
export function scopeMatches(scope, name) {
  const s = scope.split("/");
  const n = name.split("/");
  if (s.length !== n.length) return false;
  return s.every((seg, i) => {
    const re = new RegExp("^" + seg.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\-]/g, "\\$&")).join("[^/]*") + "$");
    return re.test(n[i]);
  });
}
