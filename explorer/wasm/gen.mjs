// Writes sha256.wat, the explorer's SHA-256 compression function in the WebAssembly text format
// (FIPS 180-4, 6.2.2). The committed sha256.wat is the source of truth and is meant to be read;
// this script shows how it was made and writes the variant it was measured against. sha256.wasm is compiled from sha256.wat by the `wat` crate in a
// Rust test (log-server/src/explorer.rs, `explorer_wasm_is_compiled_from_the_wat`), which also
// regenerates it:
//
//   node explorer/wasm/gen.mjs > explorer/wasm/sha256.wat
//   CAIRN_WRITE_WASM=1 cargo test -p cairn-log-server explorer_wasm
//
// `node gen.mjs --unrolled` writes the same function with the 64 rounds unrolled (the schedule in
// 16 locals, the constants as immediates, no moves between rounds). In V8 (Node.js 20, Chromium)
// it ran no faster than the loops (docs/performance.md, "Explorer"), so the short one is kept. To
// compare again (wat2wasm is in Debian's wabt package):
//
//   node gen.mjs --unrolled > /tmp/unrolled.wat && wat2wasm /tmp/unrolled.wat -o /tmp/unrolled.wasm
//   node ../tests/speed.mjs 128 64 sha256.wasm /tmp/unrolled.wasm

import { K as K32, INITIAL } from "../js/sha256.js";

// The constants as unsigned numbers (sha256.js keeps K as an Int32Array).
const K = Array.from(K32, (k) => k >>> 0);
const H0 = INITIAL;

const rolled = !process.argv.includes("--unrolled");
const hex = (x) => `0x${(x >>> 0).toString(16).padStart(8, "0")}`;
const get = (v) => `(local.get $${v})`;
const rotr = (x, n) => `(i32.rotr ${x} (i32.const ${n}))`;
const xor3 = (a, b, c) => `(i32.xor (i32.xor ${a} ${b}) ${c})`;
const add = (...xs) => xs.reduce((acc, x) => `(i32.add ${acc} ${x})`);
// FIPS 180-4 4.1.2, (4.4) to (4.7).
const bigSigma0 = (x) => xor3(rotr(x, 2), rotr(x, 13), rotr(x, 22));
const bigSigma1 = (x) => xor3(rotr(x, 6), rotr(x, 11), rotr(x, 25));
const smallSigma0 = (x) => xor3(rotr(x, 7), rotr(x, 18), `(i32.shr_u ${x} (i32.const 3))`);
const smallSigma1 = (x) => xor3(rotr(x, 17), rotr(x, 19), `(i32.shr_u ${x} (i32.const 10))`);
// Ch(x,y,z) = (x & y) ^ (~x & z), written with one operation less; Maj likewise.
const ch = (x, y, z) => `(i32.xor ${z} (i32.and ${x} (i32.xor ${y} ${z})))`;
const maj = (x, y, z) => `(i32.or (i32.and ${x} ${y}) (i32.and ${z} (i32.or ${x} ${y})))`;
// A big-endian word at `addr`: WebAssembly loads little-endian, so swap the bytes.
// The value is teed into \`w\` first so that it is loaded once (operands evaluate left to right).
const loadBE = (w, addr) => bswap(`(local.tee $${w} (i32.load offset=${addr} (local.get $p)))`, get(w));
// There is no byte-swap instruction: rotate by 8 both ways and keep alternate bytes.
const bswap = (x, again) =>
  `(i32.or (i32.and (i32.rotl ${x} (i32.const 8)) (i32.const 0x00ff00ff)) (i32.and (i32.rotr ${again} (i32.const 8)) (i32.const 0xff00ff00)))`;
// A sum of several terms, one term per line.
const sum = (indent, terms) =>
  `${"(i32.add ".repeat(terms.length - 1).trimEnd()}\n${terms.map((x, i) => `${indent}${x}${i === 0 ? "" : ")"}`).join("\n")}`;

const out = [];
const emit = (s = "") => out.push(s);

emit(`;; SHA-256 (FIPS 180-4) for the log explorer: the compression function only. The caller
;; (explorer/js/sha256-wasm.js) copies the message into this module's memory, calls \`blocks\` for
;; every whole 64-byte block, pads the last block itself (FIPS 180-4 5.1.1) and reads the digest
;; from the state. ${rolled ? "Three loops as in the standard: the message schedule W[0..63] in\n;; memory, then 64 rounds; unrolling them measured no faster in V8" : "Written for throughput in V8: the 64 rounds unrolled, the message\n;; schedule W kept in 16 locals (W[t] overwrites W[t-16], which no later round needs), the round\n;; constants as immediates, and the eight working variables renamed instead of moved"}.
;; Written with gen.mjs${rolled ? "" : " --unrolled"}, which also writes the variant this was measured against; this
;; file is the source of truth. Compiled to sha256.wasm by a Rust test (see gen.mjs).
;;
;; Memory layout (one 64 KiB page to start; the caller grows it for larger buffers):
;;   0..31    the hash state H0..H7 (FIPS 180-4 6.2), as i32 in WebAssembly's little-endian order${rolled ? "\n;;   64..319  the message schedule W[0..63]\n;;   320..575 the round constants K[0..63] (FIPS 180-4 4.2.2)" : ""}
;;   1024..   free for the caller's message buffer (sha256-wasm.js puts it at 1024)
(module
  (memory (export "memory") 1)`);
if (rolled) {
  // Little-endian bytes, four words a line, each line commented with its words.
  const le = (k) => `"${[0, 8, 16, 24].map((s) => `\\${((k >>> s) & 255).toString(16).padStart(2, "0")}`).join("")}"`;
  emit(`\n  ;; K[0..63], the first 32 bits of the fractional parts of the cube roots of the first 64 primes,
  ;; stored little-endian so that i32.load reads each word.
  (data (i32.const 320)`);
  for (let i = 0; i < 64; i += 4) {
    const ks = K.slice(i, i + 4);
    emit(`    ${ks.map(le).join(" ")}  ;; ${ks.map((k) => hex(k).slice(2)).join(" ")}${i === 60 ? "" : ""}`);
  }
  emit(`  )`);
}
emit(`
  ;; init(): the state becomes the initial hash value H(0) (FIPS 180-4 5.3.3).
  (func (export "init")`);
H0.forEach((h, i) => emit(`    (i32.store offset=${4 * i} (i32.const 0) (i32.const ${hex(h)}))`.replace(/\)$/, ")") + (i === 7 ? ")" : "")));
emit(`
  ;; blocks(p, n): compresses the n 64-byte blocks at p..p+64n into the state (FIPS 180-4 6.2.2).
  ;; The caller keeps p+64n within memory; an access beyond it traps, it never reads elsewhere.
  (func (export "blocks") (param $p i32) (param $n i32)
    ;; h0..h7: the state across blocks; a..h: the working variables; t1: T1 of a round.
    (local $h0 i32) (local $h1 i32) (local $h2 i32) (local $h3 i32)
    (local $h4 i32) (local $h5 i32) (local $h6 i32) (local $h7 i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (local $e i32) (local $f i32) (local $g i32) (local $h i32)
    (local $t1 i32)`);
if (rolled) emit(`    ;; t2: T2 of a round; t: 4 times the index into W and K; x, y: words of W being read.
    (local $t2 i32) (local $t i32) (local $x i32) (local $y i32)`);
else emit(`    ${Array.from({ length: 16 }, (_, i) => `(local $w${i} i32)`).join(" ")}`);
const names = ["a", "b", "c", "d", "e", "f", "g", "h"];
for (let i = 0; i < 8; i++) emit(`    (local.set $h${i} (i32.load offset=${4 * i} (i32.const 0)))`);
emit(`    (block $done
      (loop $block
        (br_if $done (i32.eqz (local.get $n)))
        ;; 6.2.2 step 2: the working variables start from the state.`);
for (let i = 0; i < 8; i++) emit(`        (local.set $${names[i]} (local.get $h${i}))`);
if (rolled) {
  emit(`        ;; Step 1: the message schedule. W[0..15] are the block's big-endian words.
        (local.set $t (i32.const 0))
        (loop $load
          ;; W[t] = the word at p + 4t with its bytes reversed (WebAssembly loads little-endian).
          (i32.store offset=64 (local.get $t)
            ${bswap("(local.tee $x (i32.load (i32.add (local.get $p) (local.get $t))))", get("x")).replace(" (i32.and (i32.rotr", "\n              (i32.and (i32.rotr")})
          (br_if $load (i32.ne (local.tee $t (i32.add (local.get $t) (i32.const 4))) (i32.const 64))))
        ;; W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], t = 16..63 ($t is 4t).
        (loop $schedule
          (local.set $x (i32.load offset=4 (local.get $t)))   ;; W[t-15], at 64 + 4(t-15)
          (local.set $y (i32.load offset=56 (local.get $t)))  ;; W[t-2]
          (i32.store offset=64 (local.get $t)
            ${sum("              ", [smallSigma1(get("y")), "(i32.load offset=36 (local.get $t)) (; W[t-7] ;)", smallSigma0(get("x")), "(i32.load (local.get $t)) (; W[t-16] ;)"])})
          (br_if $schedule (i32.ne (local.tee $t (i32.add (local.get $t) (i32.const 4))) (i32.const 256))))
        ;; Step 3: 64 rounds.
        (local.set $t (i32.const 0))
        (loop $round
          ;; T1 = h + Σ1(e) + Ch(e,f,g) + K[t] + W[t]
          (local.set $t1 ${sum("            ", [get("h"), bigSigma1(get("e")), ch(get("e"), get("f"), get("g")), "(i32.load offset=320 (local.get $t))", "(i32.load offset=64 (local.get $t))"])})
          ;; T2 = Σ0(a) + Maj(a,b,c)
          (local.set $t2 ${sum("            ", [bigSigma0(get("a")), maj(get("a"), get("b"), get("c"))])})
          (local.set $h (local.get $g))
          (local.set $g (local.get $f))
          (local.set $f (local.get $e))
          (local.set $e (i32.add (local.get $d) (local.get $t1)))
          (local.set $d (local.get $c))
          (local.set $c (local.get $b))
          (local.set $b (local.get $a))
          (local.set $a (i32.add (local.get $t1) (local.get $t2)))
          (br_if $round (i32.ne (local.tee $t (i32.add (local.get $t) (i32.const 4))) (i32.const 256))))`);
} else {
  emit(`        ;; Step 3, unrolled. Instead of moving h=g, g=f, ... e=d+T1, ... a=T1+T2 after each round,
        ;; round t uses the variable that holds each role: the role of a in round t is held by
        ;; names[(0 - t) mod 8], so only d (new e) and h (new a) are written. W[t mod 16] holds
        ;; W[t]: loaded from the block for t < 16, computed from the four earlier words after.`);
  for (let t = 0; t < 64; t++) {
    const r = (j) => names[(((j - t) % 8) + 8) % 8];
    const [A, B, C, D, E, F, G, H] = [0, 1, 2, 3, 4, 5, 6, 7].map(r);
    const w = `w${t % 16}`;
    if (t < 16) {
      emit(`        ;; round ${t}: W[${t}] is the block's word ${t}; roles a..h = ${[A, B, C, D, E, F, G, H].join("")}`);
      emit(`        (local.set $${w} ${loadBE(w, 4 * t)})`);
    } else {
      emit(`        ;; round ${t}: W[${t}] = σ1(W[${t - 2}]) + W[${t - 7}] + σ0(W[${t - 15}]) + W[${t - 16}]; roles a..h = ${[A, B, C, D, E, F, G, H].join("")}`);
      emit(`        (local.set $${w} ${sum("          ", [smallSigma1(get(`w${(t - 2) % 16}`)), get(`w${(t - 7) % 16}`), smallSigma0(get(`w${(t - 15) % 16}`)), get(w)])})`);
    }
    // The terms that do not depend on the previous round's e come first, so that the sum's
    // longest path after e is known is two additions.
    emit(`        ;; T1 = K[${t}] + W[${t}] + h + Ch(e,f,g) + Σ1(e)`);
    emit(`        (local.set $t1 ${sum("          ", [`(i32.const ${hex(K[t])})`, get(w), get(H), ch(get(E), get(F), get(G)), bigSigma1(get(E))])})`);
    emit(`        ;; e of the next round = d + T1; a of the next round = T1 + Σ0(a) + Maj(a,b,c)`);
    emit(`        (local.set $${D} (i32.add ${get(D)} (local.get $t1)))`);
    emit(`        (local.set $${H} ${sum("          ", ["(local.get $t1)", bigSigma0(get(A)), maj(get(A), get(B), get(C))])})`);
  }
  emit(`        ;; After 64 rounds (a multiple of 8) every variable holds its own role again.`);
}
emit(`        ;; Step 4: H(i) = H(i-1) + the working variables.`);
for (let i = 0; i < 8; i++) emit(`        (local.set $h${i} (i32.add (local.get $h${i}) (local.get $${names[i]})))`);
emit(`        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $block)))`);
for (let i = 0; i < 8; i++) emit(`    (i32.store offset=${4 * i} (i32.const 0) (local.get $h${i}))${i === 7 ? "))" : ""}`);
process.stdout.write(out.join("\n") + "\n");
