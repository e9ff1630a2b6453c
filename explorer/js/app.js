// The Cairn log explorer: views over a log server, a `cairn serve --mirror`, or a static copy.
// Everything shown is verified here first (checkpoint signature, cosignatures, inclusion proofs,
// key-log replay); what could not be verified is shown as a failure, never as an empty result.
// DOM is built with textContent only: log data never becomes markup.

import { concat, fromBase64, toBase64, utf8 } from "./bytes.js";
import { parseEntry } from "./entry.js";
import { hashFile } from "./hashfile.js";
import { judgeSignature, judgeSigstore, replay } from "./keylog.js";
import { FetchError, VerifiedLog, fetchText } from "./log.js";
import { fingerprint, keyIdHex, parseVkey, verifyCheckpoint } from "./note.js";
import { logKeys, parsePolicy, pinPolicy, pinnedPolicy, quorumMet, unpinPolicy } from "./policy.js";

const main = document.getElementById("main");
const trustBar = document.getElementById("trust");

/** h("p", {class: "x"}, "text", child...) */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const ok = (text) => h("span", { class: "ok" }, "\u2713 ", text);
const bad = (text) => h("span", { class: "bad" }, "\u2717 ", text);
const warn = (text) => h("span", { class: "warn" }, "! ", text);
const code = (text) => h("code", {}, text);

function failure(title, e) {
  const kind = e instanceof FetchError ? "Could not fetch" : "Verification failed";
  return h("div", { class: "verdict verdict-bad", role: "alert" }, h("strong", {}, `${title}: ${kind}`), h("p", {}, e.message));
}

function ago(seconds) {
  const s = Math.round(Date.now() / 1000 - seconds);
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

// ---------------------------------------------------------------------------------------------
// Loading and verifying the logs

let context = null;

async function loadPolicy() {
  const served = await fetchText("trust-policy").catch(() => null);
  const pinned = pinnedPolicy();
  if (pinned !== null) {
    return { policy: parsePolicy(pinned), source: "pinned", servedDiffers: served !== null && served !== pinned, served };
  }
  if (served === null) return { policy: null, source: "none", served };
  return { policy: parsePolicy(served), source: "served", served };
}

async function load() {
  const trust = await loadPolicy();
  if (trust.policy === null) return { trust };
  const keys = logKeys(trust.policy);
  const witnesses = trust.policy.witnesses;
  const [releases, keyLog] = await Promise.allSettled([
    VerifiedLog.open("releases/", keys.releases, witnesses),
    VerifiedLog.open("keys/", keys.keys, witnesses),
  ]);
  const ctx = { trust, keys, releases, keyLog };
  if (keyLog.status === "fulfilled") {
    try {
      ctx.keyState = await replay(await keyLog.value.allEntries());
    } catch (e) {
      ctx.keyStateError = e;
    }
  }
  return ctx;
}

async function getContext(force = false) {
  if (context === null || force) context = load();
  return context;
}

function renderTrustBar(ctx) {
  trustBar.replaceChildren();
  const t = ctx.trust;
  if (t.source === "none") {
    trustBar.append(bad("No trust policy: this server publishes none at /trust-policy and none is pinned here. "), h("a", { href: "#trust" }, "Paste your distribution's policy"));
    return;
  }
  const what = t.source === "pinned"
    ? ok("Verifying against the trust policy pinned in this browser. ")
    : warn("Verifying against the trust policy served by this server (not pinned: it proves only what this server claims). ");
  trustBar.append(what, h("a", { href: "#trust" }, "Keys and pinning"));
  if (t.servedDiffers) trustBar.append(" ", bad("The policy this server serves differs from the pinned one."));
}

// ---------------------------------------------------------------------------------------------
// Shared rendering of entries

function inclusionLine(log, item) {
  return item.included
    ? ok(`included in ${log.origin} at index ${item.index}: inclusion proof verified against the checkpoint of size ${log.size}`)
    : bad(`entry ${item.index} of ${log.origin}: inclusion NOT verified: ${item.error}`);
}

function keyLink(rec) {
  return h("a", { href: `#key=${encodeURIComponent(rec.vkey)}` }, rec.key.name);
}

/** A release (or deprecation) entry with its verification, as a card; returns {card, judgement}. */
async function entryCard(ctx, item, extra = []) {
  const log = ctx.releases.value;
  const card = h("article", { class: "card" });
  if (!item.included || item.bytes === undefined) {
    card.append(h("p", {}, inclusionLine(log, item)));
    return { card, failed: true };
  }
  let entry;
  try {
    entry = parseEntry(item.bytes);
  } catch (e) {
    card.append(h("p", {}, inclusionLine(log, item)), h("p", {}, bad(`entry does not parse: ${e.message}`)));
    return { card, failed: true };
  }
  const title = entry.kind === "release" ? `Release ${entry.name} ${entry.version}` : `Deprecation of ${entry.name} ${entry.version}`;
  card.append(h("h3", {}, title, h("span", { class: "index" }, ` release-log index ${item.index}`)));
  card.append(h("p", {}, inclusionLine(log, item)));
  let judgement = { valid: false, reason: "key log unavailable" };
  if (ctx.keyState) {
    if (entry.kind === "release" && entry.sigstore) {
      judgement = judgeSigstore(ctx.keyState, entry.sigstore, entry.name, item.index);
      card.append(h("p", {}, judgement.valid ? warn("") : bad(""), "authorised by ", judgement.reason));
    } else {
      judgement = await judgeSignature(ctx.keyState, entry.note, entry.name, item.index);
      const signer = judgement.rec ? h("span", {}, "signed by ", keyLink(judgement.rec), " ", code(fingerprint(judgement.rec.key)), ": ") : "";
      card.append(h("p", {}, judgement.valid ? ok("") : bad(""), signer, judgement.reason));
    }
  } else {
    card.append(h("p", {}, bad("signing key not checked: the key log could not be verified")));
  }
  if (entry.kind === "release") {
    const rows = [
      ...entry.artifacts.flatMap((a) => [["artifact", a], ...(a.decompressed ? [["decompressed content", { name: `${a.name}, decompressed`, ...a.decompressed }]] : [])]),
      ...entry.manifests.map((a) => ["manifest", a]),
    ];
    card.append(h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "file"), h("th", { scope: "col" }, "kind"), h("th", { scope: "col" }, "size"), h("th", { scope: "col" }, "sha256"))),
      h("tbody", {}, rows.map(([kind, a]) => h("tr", { class: extra.includes(a.digest) ? "match" : "" }, h("td", {}, a.name), h("td", {}, kind), h("td", {}, a.size.toLocaleString("en")), h("td", {}, code(a.digest)))))));
  } else {
    card.append(h("dl", {},
      h("dt", {}, "reason"), h("dd", {}, entry.reason),
      entry.advisory ? [h("dt", {}, "advisory"), h("dd", { class: "advisory" }, entry.advisory)] : [],
      entry.replacement ? [h("dt", {}, "replacement"), h("dd", {}, h("a", { href: `#name=${encodeURIComponent(entry.name)}` }, entry.replacement))] : []));
  }
  return { card, entry, judgement };
}

/** Lookup completeness: lookup/size must cover the checkpoint for a 404 to mean "none". */
async function lookupComplete(log) {
  const text = await fetchText("releases/lookup/size").catch(() => null);
  if (text === null) return { complete: false, why: "this server or copy answers no lookups (no releases/lookup/size)" };
  const size = Number(text.trim());
  if (!Number.isSafeInteger(size)) return { complete: false, why: "releases/lookup/size is not a number" };
  return size >= log.size ? { complete: true } : { complete: false, why: `lookups cover ${size} entries, the checkpoint ${log.size}` };
}

async function lookupIndexes(path) {
  const text = await fetchText(path);
  if (text === null) return null;
  const lines = text.trim().split("\n");
  if (!lines.every((l) => /^(0|[1-9][0-9]*)$/.test(l))) throw new FetchError(`${path}: malformed lookup answer`);
  return lines.map(Number);
}

async function deprecationsOf(ctx, name, version) {
  const path = `releases/lookup/name/${name}/_deprecations/${encodeURIComponent(version)}`;
  const indexes = await lookupIndexes(path);
  const out = [];
  for (const i of indexes ?? []) {
    const item = await ctx.releases.value.entry(i);
    const { card, entry, judgement } = await entryCard(ctx, item);
    // A deprecation counts only if it is logged, is one, names this release, and is validly signed.
    const counts = entry?.kind === "deprecate" && entry.name === name && entry.version === version && judgement?.valid;
    out.push({ card, entry, counts, index: i });
  }
  return out;
}

function requireLogs(ctx, box) {
  if (ctx.trust.policy === null) {
    box.append(failure("Trust policy", new Error("no trust policy: nothing can be verified. Paste one under Keys and pinning.")));
    return false;
  }
  if (ctx.releases.status === "rejected") {
    box.append(failure("Release log checkpoint", ctx.releases.reason));
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Views

async function viewStatus(box, ctx) {
  box.append(h("h2", {}, "Status"));
  if (ctx.trust.policy === null) {
    box.append(failure("Trust policy", new Error("no trust policy to verify against")));
    return;
  }
  for (const [label, settled, vkey] of [["Release log", ctx.releases, ctx.keys.releases], ["Key log", ctx.keyLog, ctx.keys.keys]]) {
    const card = h("section", { class: "card", "aria-label": label });
    card.append(h("h3", {}, label));
    if (settled.status === "rejected") {
      card.append(failure(`${label} checkpoint`, settled.reason), h("p", {}, "checked with log key ", code(vkey)));
      box.append(card);
      continue;
    }
    const log = settled.value;
    const verified = log.cosignatures.filter((c) => c.status === "verified");
    const newest = verified.reduce((m, c) => Math.max(m, c.time), 0);
    card.append(h("dl", {},
      h("dt", {}, "origin"), h("dd", {}, log.origin),
      h("dt", {}, "size"), h("dd", { class: "size" }, log.size.toLocaleString("en")),
      h("dt", {}, "root"), h("dd", {}, code(toBase64(log.checkpoint.root))),
      h("dt", {}, "age"), h("dd", {}, newest > 0 ? `cosigned ${ago(newest)} (${new Date(newest * 1000).toISOString()})` : "unknown: checkpoints carry no time and no witness cosignature verified"),
      h("dt", {}, "log signature"), h("dd", {}, ok("verified with "), code(log.logKey.vkey), " ", code(fingerprint(log.logKey)))));
    if (log.cosignatures.length > 0) {
      card.append(h("table", { class: "witnesses" },
        h("caption", {}, "Witness cosignatures (cosignature/v1)"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "witness"), h("th", { scope: "col" }, "key"), h("th", { scope: "col" }, "cosignature"), h("th", { scope: "col" }, "signed"))),
        h("tbody", {}, log.cosignatures.map((c) => h("tr", {},
          h("td", {}, c.witness.name),
          h("td", {}, code(fingerprint(c.witness.key))),
          h("td", {}, c.status === "verified" ? ok("verified") : c.status === "missing" ? warn("missing") : bad("INVALID")),
          h("td", {}, c.time ? `${new Date(c.time * 1000).toISOString()} (${ago(c.time)})` : ""))))));
      const met = quorumMet(ctx.trust.policy, new Set(verified.map((c) => c.witness.name)));
      card.append(h("p", {}, met ? ok(`witness quorum "${ctx.trust.policy.quorum}" met`) : bad(`witness quorum "${ctx.trust.policy.quorum}" NOT met`)));
    } else {
      card.append(h("p", {}, warn("the trust policy names no witnesses: nobody else vouches for this checkpoint")));
    }
    box.append(card);
  }
  // Channels: the compact line of update-latest.txt, verified with the release-log key.
  const channels = h("section", { class: "card", "aria-label": "Channels" }, h("h3", {}, "Channels"));
  const line = await fetchText("releases/update-latest.txt").catch((e) => e);
  if (line instanceof Error || line === null) {
    channels.append(h("p", {}, warn(`update-latest.txt: ${line === null ? "not served here" : line.message}`)));
  } else {
    channels.append(h("p", {}, "update-latest.txt: ", code(line.trim())), h("p", {}, await checkCompactLine(ctx, line.trim())));
  }
  const dns = await fetchText("releases/dns-txt").catch(() => null);
  if (dns !== null) channels.append(h("p", {}, "DNS TXT value: ", code(dns.trim())));
  box.append(channels);
}

async function checkCompactLine(ctx, line) {
  const f = line.split(" ");
  if (f.length !== 6 || f[0] !== "cairn-checkpoint/v1") return bad("not a cairn-checkpoint/v1 line");
  const [, origin, size, root, id, sig] = f;
  const raw = fromBase64(sig);
  if (raw === null || !/^[0-9a-f]{8}$/.test(id)) return bad("malformed compact line");
  const idBytes = new Uint8Array([0, 0, 0, 0]);
  new DataView(idBytes.buffer).setUint32(0, parseInt(id, 16));
  const note = `${origin}\n${size}\n${root}\n\n\u2014 ${origin} ${toBase64(concat(idBytes, raw))}\n`;
  try {
    const key = parseVkey(ctx.keys.releases);
    const { checkpoint } = await verifyCheckpoint(utf8.encode(note), key.name, key);
    const log = ctx.releases.value;
    if (!log) return ok("signature verified");
    if (checkpoint.size === log.checkpoint.size && toBase64(checkpoint.root) === toBase64(log.checkpoint.root)) {
      return ok("signature verified; agrees with the checkpoint above");
    }
    return warn(`signature verified; size ${checkpoint.size}, the checkpoint above has ${log.size}`);
  } catch (e) {
    return bad(`signature does not verify: ${e.message}`);
  }
}

function viewCheck(box, ctxPromise) {
  box.append(h("h2", {}, "Check a file"));
  const results = h("div", { class: "results", "aria-live": "polite" });
  const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "hashing progress" });
  const fileInput = h("input", { type: "file", id: "file", class: "visually-hidden" });
  const drop = h("label", { for: "file", class: "drop", tabindex: 0 },
    h("strong", {}, "Drop a file here"), " or press Enter to choose one. It is hashed in this browser and never uploaded.");
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      fileInput.click();
    }
  });
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length > 0) checkFile(e.dataTransfer.files[0]);
  });
  fileInput.addEventListener("change", () => {
    if (fileInput.files.length > 0) checkFile(fileInput.files[0]);
  });
  const digest = h("input", { type: "text", id: "digest", name: "digest", autocomplete: "off", spellcheck: "false", placeholder: "64 hex digits", inputmode: "text" });
  const form = h("form", { class: "row", onsubmit: (e) => {
    e.preventDefault();
    const hex = digest.value.trim().toLowerCase().replace(/^sha256:/, "");
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      results.replaceChildren(bad("a SHA-256 digest is 64 hexadecimal digits"));
      return;
    }
    checkDigest(hex, null);
  } }, h("label", { for: "digest" }, "or paste a SHA-256"), digest, h("button", { type: "submit" }, "Check"));
  box.append(drop, fileInput, form, progress, results);

  async function checkFile(file) {
    results.replaceChildren(h("p", {}, `Hashing ${file.name} (${file.size.toLocaleString("en")} bytes)\u2026`));
    progress.hidden = false;
    try {
      const { hex, ms, engine, fallback } = await hashFile(file, (done, total) => {
        progress.value = total ? done / total : 1;
      });
      progress.hidden = true;
      const how = `${(file.size / 1048576).toFixed(1)} MiB hashed in this browser (${engine}) in ${(ms / 1000).toFixed(2)} s`;
      const hashed = h("p", { class: "hashed", "data-ms": ms.toFixed(0), "data-engine": engine }, `SHA-256 of ${file.name}: `, code(hex), ` (${how})`);
      // Say why the slower path ran, for the user and for the operator's console.
      if (fallback) {
        hashed.append(h("br"), h("small", {}, `WebAssembly was not available (${fallback}); the page's Content-Security-Policy needs 'wasm-unsafe-eval' in script-src (docs/explorer.md).`));
        console.warn(`explorer: hashing in JavaScript: ${fallback}`);
      }
      results.replaceChildren(hashed);
      await checkDigest(hex, file, true);
    } catch (e) {
      progress.hidden = true;
      results.replaceChildren(failure("Hashing", e));
    }
  }

  async function checkDigest(hex, file, keep = false) {
    if (!keep) results.replaceChildren();
    const ctx = await ctxPromise;
    if (!requireLogs(ctx, results)) return;
    const log = ctx.releases.value;
    const out = h("div", {});
    results.append(out);
    try {
      const indexes = await lookupIndexes(`releases/lookup/sha256/${hex}`);
      if (indexes === null) {
        const c = await lookupComplete(log);
        out.append(c.complete
          ? h("div", { class: "verdict verdict-bad", role: "status" }, h("strong", {}, "Not in the log. "), `No release in ${log.origin} (${log.size} entries) names this digest. Do not trust this file on Cairn's word.`)
          : h("div", { class: "verdict verdict-warn" }, h("strong", {}, "Unanswered. "), `This server cannot say: ${c.why}.`));
        return;
      }
      for (const i of indexes) {
        const item = await log.entry(i);
        const { card, entry, judgement, failed } = await entryCard(ctx, item, [hex]);
        out.append(card);
        if (failed || entry?.kind !== "release") {
          card.prepend(h("div", { class: "verdict verdict-bad", role: "status" }, h("strong", {}, "Verification failed. "), `The log's answer for this digest (entry ${i}) could not be verified: do not trust this file on this page's word.`));
          continue;
        }
        const file_ = [...entry.artifacts, ...entry.manifests].find((a) => a.digest === hex);
        const sizeOk = file === null || file_ === undefined || file_.size === file.size;
        const deps = await deprecationsOf(ctx, entry.name, entry.version);
        if (deps.length > 0) card.append(h("h4", {}, "Deprecations"), ...deps.map((d) => d.card));
        const deprecated = deps.filter((d) => d.counts);
        let verdict;
        if (!file_) verdict = { level: "bad", text: `entry ${i} does not name this digest` };
        else if (!sizeOk) verdict = { level: "bad", text: `size mismatch: the log says ${file_.size} bytes, the file has ${file.size}` };
        else if (!judgement.valid) verdict = { level: "bad", text: `${entry.name} ${entry.version} is logged, but its signature is not valid: ${judgement.reason}` };
        else if (deprecated.length > 0) {
          const d = deprecated[0].entry;
          verdict = { level: "warn", text: `${file_.name} is ${entry.name} ${entry.version}, logged and validly signed, but DEPRECATED: ${d.reason}${d.advisory ? ` (${d.advisory})` : ""}${d.replacement ? `; use ${d.replacement} instead` : ""}` };
        } else verdict = { level: "ok", text: `${file_.name} is ${entry.name} ${entry.version}: logged at index ${i}, inclusion verified, signed by a key valid at that index.` };
        card.prepend(h("div", { class: `verdict verdict-${verdict.level}`, role: "status" }, h("strong", {}, verdict.level === "ok" ? "Verified. " : verdict.level === "warn" ? "Deprecated. " : "Not valid. "), verdict.text));
      }
    } catch (e) {
      out.append(failure("Lookup", e));
    }
  }
}

async function viewName(box, ctx, name) {
  box.append(h("h2", {}, "A name"));
  const input = h("input", { type: "text", id: "name", value: name ?? "", autocomplete: "off", spellcheck: "false", placeholder: "e.g. hardenedbsd/installer-amd64" });
  box.append(h("form", { class: "row", onsubmit: (e) => {
    e.preventDefault();
    location.hash = `#name=${encodeURIComponent(input.value.trim())}`;
  } }, h("label", { for: "name" }, "Release name"), input, h("button", { type: "submit" }, "Show")));
  if (!name) return;
  // The release-name grammar (spec/entries.md 4.3): also keeps the lookup path inside lookup/name/.
  if (name.length > 128 || !/^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/.test(name)) {
    box.append(h("p", {}, bad(`${JSON.stringify(name.slice(0, 140))} is not a release name (lowercase letters, digits, '.', '_', '-', segments separated by '/')`)));
    return;
  }
  if (!requireLogs(ctx, box)) return;
  const log = ctx.releases.value;
  const results = h("div", { class: "results", "aria-live": "polite" });
  box.append(results);
  const text = await fetchText(`releases/lookup/name/${name}/_versions`).catch((e) => e);
  if (text instanceof Error) {
    results.append(failure("Lookup", text));
    return;
  }
  if (text === null) {
    const c = await lookupComplete(log);
    results.append(c.complete ? h("p", {}, bad(`no release named ${name} in ${log.origin}`)) : h("p", {}, warn(`unavailable: ${c.why}`)));
    return;
  }
  const versions = text.trim().split("\n").map((l) => l.split(" "));
  results.append(h("p", {}, `${versions.length} version(s) of ${name}. The log records no time per entry; the index orders them.`));
  for (const [version, idx] of versions) {
    const item = await log.entry(Number(idx));
    const { card, entry } = await entryCard(ctx, item);
    if (entry && (entry.name !== name || entry.version !== version)) card.append(h("p", {}, bad(`the lookup said ${name} ${version}, the entry is ${entry.name} ${entry.version}`)));
    const deps = await deprecationsOf(ctx, name, version).catch((e) => [{ card: failure("Deprecations", e) }]);
    if (deps.length > 0) card.append(h("h4", {}, "Deprecations"), ...deps.map((d) => d.card));
    results.append(card);
  }
}

async function viewKey(box, ctx, vkey) {
  box.append(h("h2", {}, "A key"));
  const input = h("input", { type: "text", id: "vkey", value: vkey ?? "", autocomplete: "off", spellcheck: "false", placeholder: "name+keyid+base64" });
  box.append(h("form", { class: "row", onsubmit: (e) => {
    e.preventDefault();
    location.hash = `#key=${encodeURIComponent(input.value.trim())}`;
  } }, h("label", { for: "vkey" }, "Verifier key"), input, h("button", { type: "submit" }, "Show")));
  if (ctx.trust.policy === null || ctx.keyLog.status === "rejected" || !ctx.keyState) {
    box.append(failure("Key log", ctx.keyLog.reason ?? ctx.keyStateError ?? new Error("no trust policy")));
    return;
  }
  const state = ctx.keyState;
  const keyLog = ctx.keyLog.value;
  box.append(h("p", {}, ok(`key log replayed from its ${keyLog.size} entries, whose recomputed root matches the checkpoint verified with `), code(fingerprint(keyLog.logKey))));
  if (state.error) box.append(h("p", {}, bad(`replay stopped at key-log entry ${state.stoppedAt}: ${state.error}`)));
  box.append(h("p", {}, `Current root keys (threshold ${state.threshold}): `, state.roots.map((r) => [code(`${r.name} ${fingerprint(r)}`), " "])));
  const list = h("ul", { class: "keys" }, [...state.keys.values()].map((rec) => h("li", {}, keyLink(rec), ` scope ${rec.scope}, from ${rec.from}`, rec.end ? `, ${rec.end.kind}d until ${rec.end.until}` : "")));
  box.append(h("h3", {}, "Release keys"), list);
  if (!vkey) return;
  let key;
  try {
    key = parseVkey(vkey);
  } catch (e) {
    box.append(h("p", {}, bad(`not a verifier key: ${e.message}`)));
    return;
  }
  const rec = [...state.keys.values()].find((r) => r.vkey === vkey);
  const results = h("section", { class: "card", "aria-live": "polite" }, h("h3", {}, key.name, " ", code(fingerprint(key))));
  box.append(results);
  if (!rec) {
    results.append(h("p", {}, bad("this key was never added in the key log")));
    return;
  }
  results.append(h("table", { class: "history" }, h("caption", {}, "Key-log history"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "key-log index"), h("th", { scope: "col" }, "event"), h("th", { scope: "col" }, "details"), h("th", { scope: "col" }, "signed by roots"))),
    h("tbody", {}, state.events.filter((ev) => ev.entry?.key === vkey).map((ev) => h("tr", { class: `event-${ev.entry.event}` },
      h("td", {}, ev.index), h("td", {}, ev.entry.event),
      h("td", {}, ev.entry.event === "add" ? `scope ${ev.entry.scope}, from release index ${ev.entry.from}` : `until release index ${ev.entry.until}`, ev.entry.reason ? ` (${ev.entry.reason})` : ""),
      h("td", {}, ev.signers.map((s) => s.name).join(", ")))))));
  const status = rec.end ? `${rec.end.kind === "revoke" ? "revoked" : "retired"}: signs nothing at or after release index ${rec.end.until}` : "valid (not retired or revoked)";
  results.append(h("p", { class: "key-status" }, rec.end?.kind === "revoke" ? bad(status) : rec.end ? warn(status) : ok(status)));
  // Releases it signed: scan the release log from the key's `from`, at most SCAN entries.
  if (ctx.releases.status !== "fulfilled") return;
  const log = ctx.releases.value;
  const SCAN = 4096;
  const start = Math.max(0, Math.min(rec.from, log.size));
  const end = Math.min(log.size, start + SCAN);
  const signed = h("div", {});
  results.append(h("h4", {}, "Releases it signed"), signed);
  for (let i = start; i < end; i++) {
    const n = Math.floor(i / 256);
    const raw = (await log.bundle(n))[i - n * 256];
    let entry;
    try {
      entry = parseEntry(raw);
    } catch {
      continue;
    }
    if (!entry.note.signatures.some((s) => s.name === key.name && s.id === key.id)) continue;
    const { card } = await entryCard(ctx, await log.entry(i));
    signed.append(card);
  }
  signed.append(h("p", { class: "note" }, `Scanned release-log entries ${start} to ${end - 1} as served; each release listed has its inclusion verified.${end < log.size ? ` Entries from ${end} on were not scanned.` : ""}`));
}

async function viewRecent(box, ctx) {
  box.append(h("h2", {}, "Recent"));
  if (!requireLogs(ctx, box)) return;
  const log = ctx.releases.value;
  box.append(h("h3", {}, `Latest releases (${log.origin})`));
  for (let i = log.size - 1; i >= Math.max(0, log.size - 10); i--) box.append((await entryCard(ctx, await log.entry(i))).card);
  if (ctx.keyState) {
    box.append(h("h3", {}, "Latest key events"));
    const events = ctx.keyState.events.slice(-10).reverse();
    box.append(h("ul", {}, events.map((ev) => h("li", {}, `key-log ${ev.index}: ${ev.entry?.event ?? "?"} `, ev.entry?.key ? code(ev.entry.key.split("+")[0]) : "", ev.error ? bad(` ${ev.error}`) : ` signed by ${ev.signers.map((s) => s.name).join(", ")}`))));
  }
}

async function viewTrust(box, ctx) {
  box.append(h("h2", {}, "Keys and pinning"));
  const t = ctx.trust;
  if (t.policy) {
    box.append(h("p", {}, t.source === "pinned" ? "Pinned in this browser:" : "Served by this server at /trust-policy (not pinned):"));
    box.append(h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "role"), h("th", { scope: "col" }, "name"), h("th", { scope: "col" }, "key ID"), h("th", { scope: "col" }, "fingerprint"))),
      h("tbody", {}, [
        ...t.policy.logs.map((l) => h("tr", {}, h("td", {}, "log"), h("td", {}, l.key.name), h("td", {}, keyIdHex(l.key.id)), h("td", {}, code(fingerprint(l.key))))),
        ...t.policy.witnesses.map((w) => h("tr", {}, h("td", {}, "witness"), h("td", {}, w.name), h("td", {}, keyIdHex(w.key.id)), h("td", {}, code(fingerprint(w.key))))),
      ])));
    box.append(h("pre", {}, t.policy.text));
  }
  if (t.source === "served") box.append(h("button", { type: "button", id: "pin", onclick: () => { pinPolicy(t.served); refresh(); } }, "Pin this policy in this browser"));
  if (t.source === "pinned") box.append(h("button", { type: "button", id: "unpin", onclick: () => { unpinPolicy(); refresh(); } }, "Unpin"));
  const area = h("textarea", { id: "policy-text", rows: 6, spellcheck: "false" });
  const msg = h("p", { "aria-live": "polite" });
  box.append(h("form", { onsubmit: (e) => {
    e.preventDefault();
    try {
      parsePolicy(area.value);
      pinPolicy(area.value);
      refresh();
    } catch (err) {
      msg.replaceChildren(bad(err.message));
    }
  } }, h("label", { for: "policy-text" }, "Paste a tlog-policy from your distribution to pin it instead"), area, h("button", { type: "submit" }, "Pin pasted policy"), msg));
}

// ---------------------------------------------------------------------------------------------
// Routing

async function route() {
  const hash = decodeURIComponent(location.hash.slice(1));
  const [view, arg] = hash.includes("=") ? [hash.slice(0, hash.indexOf("=")), hash.slice(hash.indexOf("=") + 1)] : [hash || "status", null];
  for (const a of document.querySelectorAll("nav a")) a.toggleAttribute("aria-current", a.getAttribute("href") === `#${view}`);
  const box = h("div", { id: `view-${view}` });
  main.replaceChildren(box);
  main.setAttribute("aria-busy", "true");
  const ctxPromise = getContext();
  try {
    if (view === "check") {
      viewCheck(box, ctxPromise);
    } else {
      const ctx = await ctxPromise;
      renderTrustBar(ctx);
      if (view === "name") await viewName(box, ctx, arg);
      else if (view === "key") await viewKey(box, ctx, arg);
      else if (view === "recent") await viewRecent(box, ctx);
      else if (view === "trust") await viewTrust(box, ctx);
      else await viewStatus(box, ctx);
    }
    ctxPromise.then(renderTrustBar).catch(() => {});
  } catch (e) {
    box.append(failure("Explorer", e));
  } finally {
    main.setAttribute("aria-busy", "false");
  }
}

function refresh() {
  getContext(true);
  route();
}

window.addEventListener("hashchange", route);
document.getElementById("refresh").addEventListener("click", refresh);
route();
