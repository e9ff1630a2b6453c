// Benchmark (docs/performance.md, "Explorer"): SHA-256 of a file in the page (headless Chromium,
// the same code path as dropping a file: hash-worker.js, WebAssembly, a BYOB stream reader)
// against `sha256sum` on the same file.
//
//   node bench.mjs BASE_URL FILE [RUNS]            the page, as a user drops a file
//   node bench.mjs BASE_URL FILE RUNS --variants   the worker's reading methods, slice sizes and
//                                                  SHA-256 engines, alternated run by run
import { chromium } from "playwright-core";
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";

const [base, file, runsArg, mode] = process.argv.slice(2);
const runs = Number(runsArg ?? 3);
const size = statSync(file).size;
const mib = size / 1048576;
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage();

function sha256sum() {
  const t = performance.now();
  const out = spawnSync("sha256sum", [file], { encoding: "utf8" });
  return { s: (performance.now() - t) / 1000, hex: out.stdout.split(" ")[0] };
}

if (mode === "--variants") {
  const MiB = 1048576;
  const variants = [
    ["wasm, BYOB 1 MiB (the page)", {}],
    ["wasm, BYOB 256 KiB", { buffer: MiB / 4 }],
    ["wasm, BYOB 4 MiB", { buffer: 4 * MiB }],
    ["wasm, stream chunks", { read: "stream" }],
    ["wasm, slices 4 MiB", { read: "slice", slice: 4 * MiB }],
    ["wasm, slices 8 MiB", { read: "slice", slice: 8 * MiB }],
    ["wasm, slices 16 MiB", { read: "slice", slice: 16 * MiB }],
    ["wasm, FileReaderSync 8 MiB", { read: "sync", slice: 8 * MiB }],
    ["js, BYOB 1 MiB", { engine: "js" }],
    ["js, slices 8 MiB (before)", { engine: "js", read: "slice", slice: 8 * MiB }],
  ];
  const times = new Map(variants.map(([name]) => [name, []]));
  const tool = [];
  await page.goto(`${base}/?bench#check`);
  await page.evaluate(() => {
    const input = document.createElement("input");
    input.type = "file";
    input.id = "bench-file";
    document.body.append(input);
  });
  await page.locator("#bench-file").setInputFiles(file);
  for (let r = 0; r < runs; r++) {
    const t = sha256sum();
    tool.push(t.s);
    for (const [name, options] of variants) {
      const got = await page.evaluate(async (options) => {
        const { hashFile } = await import("/explorer/js/hashfile.js");
        return hashFile(document.getElementById("bench-file").files[0], null, options);
      }, options);
      if (got.hex !== t.hex) throw new Error(`${name}: digest ${got.hex}, sha256sum ${t.hex}`);
      times.get(name).push(got.ms / 1000);
    }
  }
  console.log(`file ${mib.toFixed(0)} MiB, ${runs} alternations; sha256sum median ${median(tool).toFixed(2)} s = ${(mib / median(tool)).toFixed(0)} MiB/s`);
  for (const [name, t] of times) {
    console.log(`${name.padEnd(30)} ${t.map((s) => s.toFixed(2)).join(" ")} s, median ${median(t).toFixed(2)} s = ${(mib / median(t)).toFixed(0)} MiB/s, ${(median(t) / median(tool)).toFixed(2)}x`);
  }
} else {
  const page_ = [];
  const tool = [];
  let digest;
  let engine;
  for (let r = 0; r < runs; r++) {
    // A new document each run (a hash-only change would keep the previous run's result).
    await page.goto(`${base}/?run=${r}#check`);
    await page.locator("#file").setInputFiles(file);
    const hashed = page.locator(".results .hashed");
    await hashed.waitFor({ timeout: 600000 });
    page_.push(Number(await hashed.getAttribute("data-ms")) / 1000);
    engine = await hashed.getAttribute("data-engine");
    digest = (await hashed.locator("code").innerText()).trim();
    const t = sha256sum();
    tool.push(t.s);
    if (t.hex !== digest) throw new Error(`digests differ: page ${digest}, sha256sum ${t.hex}`);
  }
  console.log(`file ${mib.toFixed(0)} MiB, digest ${digest} (page and sha256sum agree), page hashed with ${engine}`);
  console.log(`page (Chromium):  ${page_.map((s) => s.toFixed(2)).join(" ")} s, median ${median(page_).toFixed(2)} s = ${(mib / median(page_)).toFixed(0)} MiB/s`);
  console.log(`sha256sum:        ${tool.map((s) => s.toFixed(2)).join(" ")} s, median ${median(tool).toFixed(2)} s = ${(mib / median(tool)).toFixed(0)} MiB/s`);
  console.log(`ratio page/sha256sum: ${(median(page_) / median(tool)).toFixed(2)}x`);
}
await browser.close();
