// Browser tests of the explorer: Debian's Chromium driven by playwright-core against the real
// server (started by tests/tests/explorer.rs, which passes the fixture as JSON in argv[2]).
// Prints `ok <check>` per passed check; any failure throws (exit 1) after a screenshot.
import { chromium } from "playwright-core";
import { join } from "node:path";

const fx = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
const problems = [];
let page;

function assert(cond, what) {
  if (!cond) throw new Error(what);
}

async function open(url) {
  page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`${url}: console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${url}: page error: ${e.message}`));
  await page.goto(url);
  return page;
}

async function shot(name) {
  await page.screenshot({ path: join(fx.screenshots, `${name}.png`), fullPage: true });
}

async function check(name, f) {
  try {
    await f();
    console.log(`ok ${name}`);
  } catch (e) {
    if (page) await shot(`FAILED-${name}`).catch(() => {});
    console.log(`FAILED ${name}: ${e.message}`);
    for (const p of problems) console.log(`  ${p}`);
    await browser.close();
    process.exit(1);
  }
}

const text = async (sel) => (await page.locator(sel).first().innerText()).replace(/\s+/g, " ");

await check("csp", async () => {
  const res = await fetch(fx.base + "/");
  const csp = res.headers.get("content-security-policy") ?? "";
  assert(csp.includes("default-src 'self'") && !csp.includes("unsafe-inline"), `CSP header: ${csp}`);
  // WebAssembly may be compiled ('wasm-unsafe-eval'); JavaScript eval stays forbidden.
  assert(csp.includes("script-src 'self' 'wasm-unsafe-eval';") && !csp.includes("'unsafe-eval'"), `CSP script-src: ${csp}`);
  const js = await fetch(fx.base + "/explorer/js/app.js");
  assert(js.ok && (js.headers.get("content-type") ?? "").startsWith("text/javascript"), "app.js served as JavaScript");
  const wasm = await fetch(fx.base + "/explorer/wasm/sha256.wasm");
  assert(wasm.ok && wasm.headers.get("content-type") === "application/wasm", "sha256.wasm served as application/wasm");
  assert(WebAssembly.validate(new Uint8Array(await wasm.arrayBuffer())), "sha256.wasm is a valid module");
});

await check("status", async () => {
  await open(fx.base + "/#status");
  await page.getByText("witness quorum").first().waitFor({ timeout: 30000 });
  await page.locator('#main[aria-busy="false"]').waitFor({ timeout: 30000 });
  const body = await text("#main");
  for (const log of ["log.example.org/releases", "log.example.org/keys"]) assert(body.includes(log), `origin ${log} shown`);
  const rows = page.locator("table.witnesses tbody tr");
  assert((await rows.count()) === 4, `two witnesses per log, got ${await rows.count()} rows`);
  for (let i = 0; i < 4; i++) assert((await rows.nth(i).innerText()).includes("verified"), `witness row ${i} verified`);
  for (const w of fx.witnesses) assert(body.includes(w), `witness ${w} named`);
  assert(body.includes("witness quorum \"quorum-group\" met"), "quorum met");
  assert(body.includes("agrees with the checkpoint above"), "update-latest.txt verified and agrees");
  assert(body.includes("cosigned") && body.includes("s ago"), "age from cosignatures");
  await shot("status");
});

await check("pin", async () => {
  await page.goto(fx.base + "/#trust");
  await page.locator("#pin").click();
  await page.getByText("pinned in this browser").first().waitFor();
  assert((await text("#trust")).includes("pinned in this browser"), "trust bar says pinned");
});

async function pasteDigest(digest) {
  await page.goto(fx.base + "/#check");
  await page.locator("#digest").fill(digest);
  await page.locator("#digest").press("Enter");
  await page.locator(".results .verdict").first().waitFor({ timeout: 30000 });
  return text(".results");
}

await check("drop-verified", async () => {
  await page.goto(fx.base + "/#check");
  await page.locator("#file").setInputFiles(fx.v20.path);
  await page.locator(".results .verdict").first().waitFor({ timeout: 30000 });
  const body = await text(".results");
  assert(body.includes(fx.v20.digest), "the page shows the digest it computed");
  assert(body.includes("Verified.") && body.includes("example/os 2.0"), `verdict for 2.0: ${body.slice(0, 400)}`);
  assert(body.includes("inclusion proof verified"), "inclusion verified");
  assert(body.includes("signed by example.org/rel2"), "signer shown");
  const hashed = page.locator(".results .hashed");
  assert((await hashed.getAttribute("data-engine")) === "WebAssembly" && body.includes("hashed in this browser (WebAssembly)"), `hashed with WebAssembly: ${await hashed.innerText()}`);
  await shot("check-verified");
});

// 24 MiB and 13 bytes through the worker's stream reader and the WebAssembly SHA-256: the same
// digest as the Rust test computed, then "not in the log".
await check("hash-large", async () => {
  await page.goto(fx.base + "/?large#check");
  await page.locator("#file").setInputFiles(fx.large.path);
  await page.locator(".results .verdict").first().waitFor({ timeout: 60000 });
  const body = await text(".results");
  assert(body.includes(fx.large.digest) && body.includes("(WebAssembly)"), `large file digest: ${body.slice(0, 300)}`);
  assert(body.includes("Not in the log."), "an unpublished file is not in the log");
});

// A static copy whose operator kept the older policy (no 'wasm-unsafe-eval'): the worker cannot
// compile the module, hashes in JavaScript, gets the same digest and says why.
await check("wasm-fallback", async () => {
  const old = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  const p = await context.newPage();
  await p.route("**/explorer/js/hash-worker.js", async (route) => {
    const res = await route.fetch();
    await route.fulfill({ response: res, headers: { ...res.headers(), "content-security-policy": old } });
  });
  await p.goto(fx.base + "/?old-policy#check");
  await p.locator("#file").setInputFiles(fx.v20.path);
  await p.locator(".results .verdict").first().waitFor({ timeout: 30000 });
  const hashed = p.locator(".results .hashed");
  const line = (await hashed.innerText()).replace(/\s+/g, " ");
  assert((await hashed.getAttribute("data-engine")) === "JavaScript", `fell back to JavaScript: ${line}`);
  assert(line.includes(fx.v20.digest) && line.includes("(JavaScript)") && line.includes("wasm-unsafe-eval"), `fallback line: ${line}`);
  assert((await p.locator(".results").innerText()).includes("Verified."), "same verdict with the JavaScript SHA-256");
  await p.close();
});

await check("paste-deprecated", async () => {
  const body = await pasteDigest(fx.v10.digest);
  assert(body.includes("Deprecated.") && body.includes("CVE-2026-12345") && body.includes("use 2.0 instead"), `deprecation: ${body.slice(0, 600)}`);
  await shot("check-deprecated");
});

await check("paste-revoked", async () => {
  const body = await pasteDigest(fx.v11.digest);
  assert(body.includes("Not valid.") && body.includes("revoked from release index 1"), `revoked: ${body.slice(0, 600)}`);
});

await check("paste-unknown", async () => {
  const body = await pasteDigest("ab".repeat(32));
  assert(body.includes("Not in the log."), `unknown digest: ${body}`);
});

await check("name-history", async () => {
  await page.goto(fx.base + "/#name=example%2Fos");
  await page.getByText("version(s) of example/os").waitFor({ timeout: 30000 });
  await page.locator('#main[aria-busy="false"]').waitFor({ timeout: 30000 });
  const body = await text("#main");
  for (const v of ["Release example/os 1.0", "Release example/os 1.1", "Release example/os 2.0", "Deprecation of example/os 1.0", "CVE-2026-12345"]) {
    assert(body.includes(v), `name view shows ${v}`);
  }
  await shot("name");
  await page.goto(fx.base + "/#name=..%2Fsize");
  await page.getByText("is not a release name").waitFor({ timeout: 30000 });
});

await check("key-history", async () => {
  await page.goto(fx.base + "/#key=" + encodeURIComponent(fx.rel1));
  await page.getByText("Key-log history").waitFor({ timeout: 30000 });
  await page.getByText("Scanned release-log entries").waitFor({ timeout: 30000 });
  const rows = await page.locator("table.history tbody tr").allInnerTexts();
  const events = rows.map((r) => r.split("\t")[1]);
  assert(JSON.stringify(events) === JSON.stringify(["add", "retire", "revoke"]), `events ${JSON.stringify(rows)}`);
  const body = await text("#main");
  assert(body.includes("revoked: signs nothing at or after release index 1"), "revoked status");
  assert(body.includes("Release example/os 1.0") && body.includes("Release example/os 1.1") && !body.includes("Release example/os 2.0"), "releases rel1 signed");
  await shot("key");
});

await check("recent", async () => {
  await page.goto(fx.base + "/#recent");
  await page.getByText("Latest key events").waitFor({ timeout: 30000 });
  await page.locator('#main[aria-busy="false"]').waitFor({ timeout: 30000 });
  const body = await text("#main");
  assert(body.includes("Release example/os 2.0") && body.includes("revoke"), "recent entries");
  await shot("recent");
});

await check("tampered-tile", async () => {
  await open(fx.wrongTile + "/#check");
  await page.locator("#digest").fill(fx.v20.digest);
  await page.locator("#digest").press("Enter");
  await page.getByText("inclusion NOT verified").first().waitFor({ timeout: 30000 });
  const body = await text(".results");
  assert(!body.includes("Verified.") && body.includes("Verification failed."), "a failure verdict, no success, with a wrong tile");
  await shot("tampered-tile");
});

await check("bad-signature", async () => {
  await open(fx.badSignature + "/#status");
  await page.getByText("Release log checkpoint: Verification failed").waitFor({ timeout: 30000 });
  const body = await text("#main");
  assert(body.includes("does not verify"), `reason shown: ${body.slice(0, 400)}`);
  await shot("bad-signature");
});

await check("mirror", async () => {
  await open(fx.mirror + "/#status");
  await page.locator('#main[aria-busy="false"]').waitFor({ timeout: 30000 });
  const status = await text("#main");
  assert(status.includes("verified with") && status.includes("witness quorum \"quorum-group\" met"), `mirror status: ${status.slice(0, 400)}`);
  await page.goto(fx.mirror + "/?again#check");
  await page.locator("#digest").fill(fx.v20.digest);
  await page.locator("#digest").press("Enter");
  await page.locator(".results .verdict").first().waitFor({ timeout: 30000 });
  const body = await text(".results");
  assert(body.includes("Verified.") && body.includes("example/os 2.0"), `mirror verdict: ${body.slice(0, 400)}`);
  await shot("mirror-check");
});

await browser.close();
const real = problems.filter((p) => !p.includes("404") && !p.includes("Failed to load resource"));
if (real.length > 0) {
  console.log(`FAILED console: ${real.join("\n")}`);
  process.exit(1);
}
