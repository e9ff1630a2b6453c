// Benchmark (docs/performance.md, "Explorer"): SHA-256 of a file in the page (headless Chromium,
// the same code path as dropping a file: hash-worker.js reading 8 MiB slices) against
// `sha256sum` on the same file. Usage: node bench.mjs BASE_URL FILE [RUNS]
import { chromium } from "playwright-core";
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";

const [base, file, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 3);
const size = statSync(file).size;
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage();
const page_ = [];
const tool = [];
let digest;
for (let r = 0; r < runs; r++) {
  // A new document each run (a hash-only change would keep the previous run's result).
  await page.goto(`${base}/?run=${r}#check`);
  await page.locator("#file").setInputFiles(file);
  const hashed = page.locator(".results .hashed");
  await hashed.waitFor({ timeout: 600000 });
  page_.push(Number(await hashed.getAttribute("data-ms")) / 1000);
  digest = (await hashed.locator("code").innerText()).trim();
  const t = performance.now();
  const out = spawnSync("sha256sum", [file], { encoding: "utf8" });
  tool.push((performance.now() - t) / 1000);
  if (!out.stdout.startsWith(digest)) throw new Error(`digests differ: page ${digest}, sha256sum ${out.stdout}`);
}
await browser.close();
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const mib = size / 1048576;
console.log(`file ${mib.toFixed(0)} MiB, digest ${digest} (page and sha256sum agree)`);
console.log(`page (Chromium):  ${page_.map((s) => s.toFixed(2)).join(" ")} s, median ${median(page_).toFixed(2)} s = ${(mib / median(page_)).toFixed(0)} MiB/s`);
console.log(`sha256sum:        ${tool.map((s) => s.toFixed(2)).join(" ")} s, median ${median(tool).toFixed(2)} s = ${(mib / median(tool)).toFixed(0)} MiB/s`);
console.log(`ratio page/sha256sum: ${(median(page_) / median(tool)).toFixed(2)}x`);
