;; SHA-256 (FIPS 180-4) for the log explorer: the compression function only. The caller
;; (explorer/js/sha256-wasm.js) copies the message into this module's memory, calls `blocks` for
;; every whole 64-byte block, pads the last block itself (FIPS 180-4 5.1.1) and reads the digest
;; from the state. Three loops as in the standard: the message schedule W[0..63] in
;; memory, then 64 rounds; unrolling them measured no faster in V8.
;; Written with gen.mjs, which also writes the variant this was measured against; this
;; file is the source of truth. Compiled to sha256.wasm by a Rust test (see gen.mjs).
;;
;; Memory layout (one 64 KiB page to start; the caller grows it for larger buffers):
;;   0..31    the hash state H0..H7 (FIPS 180-4 6.2), as i32 in WebAssembly's little-endian order
;;   64..319  the message schedule W[0..63]
;;   320..575 the round constants K[0..63] (FIPS 180-4 4.2.2)
;;   1024..   free for the caller's message buffer (sha256-wasm.js puts it at 1024)
(module
  (memory (export "memory") 1)

  ;; K[0..63], the first 32 bits of the fractional parts of the cube roots of the first 64 primes,
  ;; stored little-endian so that i32.load reads each word.
  (data (i32.const 320)
    "\98\2f\8a\42" "\91\44\37\71" "\cf\fb\c0\b5" "\a5\db\b5\e9"  ;; 428a2f98 71374491 b5c0fbcf e9b5dba5
    "\5b\c2\56\39" "\f1\11\f1\59" "\a4\82\3f\92" "\d5\5e\1c\ab"  ;; 3956c25b 59f111f1 923f82a4 ab1c5ed5
    "\98\aa\07\d8" "\01\5b\83\12" "\be\85\31\24" "\c3\7d\0c\55"  ;; d807aa98 12835b01 243185be 550c7dc3
    "\74\5d\be\72" "\fe\b1\de\80" "\a7\06\dc\9b" "\74\f1\9b\c1"  ;; 72be5d74 80deb1fe 9bdc06a7 c19bf174
    "\c1\69\9b\e4" "\86\47\be\ef" "\c6\9d\c1\0f" "\cc\a1\0c\24"  ;; e49b69c1 efbe4786 0fc19dc6 240ca1cc
    "\6f\2c\e9\2d" "\aa\84\74\4a" "\dc\a9\b0\5c" "\da\88\f9\76"  ;; 2de92c6f 4a7484aa 5cb0a9dc 76f988da
    "\52\51\3e\98" "\6d\c6\31\a8" "\c8\27\03\b0" "\c7\7f\59\bf"  ;; 983e5152 a831c66d b00327c8 bf597fc7
    "\f3\0b\e0\c6" "\47\91\a7\d5" "\51\63\ca\06" "\67\29\29\14"  ;; c6e00bf3 d5a79147 06ca6351 14292967
    "\85\0a\b7\27" "\38\21\1b\2e" "\fc\6d\2c\4d" "\13\0d\38\53"  ;; 27b70a85 2e1b2138 4d2c6dfc 53380d13
    "\54\73\0a\65" "\bb\0a\6a\76" "\2e\c9\c2\81" "\85\2c\72\92"  ;; 650a7354 766a0abb 81c2c92e 92722c85
    "\a1\e8\bf\a2" "\4b\66\1a\a8" "\70\8b\4b\c2" "\a3\51\6c\c7"  ;; a2bfe8a1 a81a664b c24b8b70 c76c51a3
    "\19\e8\92\d1" "\24\06\99\d6" "\85\35\0e\f4" "\70\a0\6a\10"  ;; d192e819 d6990624 f40e3585 106aa070
    "\16\c1\a4\19" "\08\6c\37\1e" "\4c\77\48\27" "\b5\bc\b0\34"  ;; 19a4c116 1e376c08 2748774c 34b0bcb5
    "\b3\0c\1c\39" "\4a\aa\d8\4e" "\4f\ca\9c\5b" "\f3\6f\2e\68"  ;; 391c0cb3 4ed8aa4a 5b9cca4f 682e6ff3
    "\ee\82\8f\74" "\6f\63\a5\78" "\14\78\c8\84" "\08\02\c7\8c"  ;; 748f82ee 78a5636f 84c87814 8cc70208
    "\fa\ff\be\90" "\eb\6c\50\a4" "\f7\a3\f9\be" "\f2\78\71\c6"  ;; 90befffa a4506ceb bef9a3f7 c67178f2
  )

  ;; init(): the state becomes the initial hash value H(0) (FIPS 180-4 5.3.3).
  (func (export "init")
    (i32.store offset=0 (i32.const 0) (i32.const 0x6a09e667))
    (i32.store offset=4 (i32.const 0) (i32.const 0xbb67ae85))
    (i32.store offset=8 (i32.const 0) (i32.const 0x3c6ef372))
    (i32.store offset=12 (i32.const 0) (i32.const 0xa54ff53a))
    (i32.store offset=16 (i32.const 0) (i32.const 0x510e527f))
    (i32.store offset=20 (i32.const 0) (i32.const 0x9b05688c))
    (i32.store offset=24 (i32.const 0) (i32.const 0x1f83d9ab))
    (i32.store offset=28 (i32.const 0) (i32.const 0x5be0cd19)))

  ;; blocks(p, n): compresses the n 64-byte blocks at p..p+64n into the state (FIPS 180-4 6.2.2).
  ;; The caller keeps p+64n within memory; an access beyond it traps, it never reads elsewhere.
  (func (export "blocks") (param $p i32) (param $n i32)
    ;; h0..h7: the state across blocks; a..h: the working variables; t1: T1 of a round.
    (local $h0 i32) (local $h1 i32) (local $h2 i32) (local $h3 i32)
    (local $h4 i32) (local $h5 i32) (local $h6 i32) (local $h7 i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (local $e i32) (local $f i32) (local $g i32) (local $h i32)
    (local $t1 i32)
    ;; t2: T2 of a round; t: 4 times the index into W and K; x, y: words of W being read.
    (local $t2 i32) (local $t i32) (local $x i32) (local $y i32)
    (local.set $h0 (i32.load offset=0 (i32.const 0)))
    (local.set $h1 (i32.load offset=4 (i32.const 0)))
    (local.set $h2 (i32.load offset=8 (i32.const 0)))
    (local.set $h3 (i32.load offset=12 (i32.const 0)))
    (local.set $h4 (i32.load offset=16 (i32.const 0)))
    (local.set $h5 (i32.load offset=20 (i32.const 0)))
    (local.set $h6 (i32.load offset=24 (i32.const 0)))
    (local.set $h7 (i32.load offset=28 (i32.const 0)))
    (block $done
      (loop $block
        (br_if $done (i32.eqz (local.get $n)))
        ;; 6.2.2 step 2: the working variables start from the state.
        (local.set $a (local.get $h0))
        (local.set $b (local.get $h1))
        (local.set $c (local.get $h2))
        (local.set $d (local.get $h3))
        (local.set $e (local.get $h4))
        (local.set $f (local.get $h5))
        (local.set $g (local.get $h6))
        (local.set $h (local.get $h7))
        ;; Step 1: the message schedule. W[0..15] are the block's big-endian words.
        (local.set $t (i32.const 0))
        (loop $load
          ;; W[t] = the word at p + 4t with its bytes reversed (WebAssembly loads little-endian).
          (i32.store offset=64 (local.get $t)
            (i32.or (i32.and (i32.rotl (local.tee $x (i32.load (i32.add (local.get $p) (local.get $t)))) (i32.const 8)) (i32.const 0x00ff00ff))
              (i32.and (i32.rotr (local.get $x) (i32.const 8)) (i32.const 0xff00ff00))))
          (br_if $load (i32.ne (local.tee $t (i32.add (local.get $t) (i32.const 4))) (i32.const 64))))
        ;; W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], t = 16..63 ($t is 4t).
        (loop $schedule
          (local.set $x (i32.load offset=4 (local.get $t)))   ;; W[t-15], at 64 + 4(t-15)
          (local.set $y (i32.load offset=56 (local.get $t)))  ;; W[t-2]
          (i32.store offset=64 (local.get $t)
            (i32.add (i32.add (i32.add
              (i32.xor (i32.xor (i32.rotr (local.get $y) (i32.const 17)) (i32.rotr (local.get $y) (i32.const 19))) (i32.shr_u (local.get $y) (i32.const 10)))
              (i32.load offset=36 (local.get $t)) (; W[t-7] ;))
              (i32.xor (i32.xor (i32.rotr (local.get $x) (i32.const 7)) (i32.rotr (local.get $x) (i32.const 18))) (i32.shr_u (local.get $x) (i32.const 3))))
              (i32.load (local.get $t)) (; W[t-16] ;)))
          (br_if $schedule (i32.ne (local.tee $t (i32.add (local.get $t) (i32.const 4))) (i32.const 256))))
        ;; Step 3: 64 rounds.
        (local.set $t (i32.const 0))
        (loop $round
          ;; T1 = h + Σ1(e) + Ch(e,f,g) + K[t] + W[t]
          (local.set $t1 (i32.add (i32.add (i32.add (i32.add
            (local.get $h)
            (i32.xor (i32.xor (i32.rotr (local.get $e) (i32.const 6)) (i32.rotr (local.get $e) (i32.const 11))) (i32.rotr (local.get $e) (i32.const 25))))
            (i32.xor (local.get $g) (i32.and (local.get $e) (i32.xor (local.get $f) (local.get $g)))))
            (i32.load offset=320 (local.get $t)))
            (i32.load offset=64 (local.get $t))))
          ;; T2 = Σ0(a) + Maj(a,b,c)
          (local.set $t2 (i32.add
            (i32.xor (i32.xor (i32.rotr (local.get $a) (i32.const 2)) (i32.rotr (local.get $a) (i32.const 13))) (i32.rotr (local.get $a) (i32.const 22)))
            (i32.or (i32.and (local.get $a) (local.get $b)) (i32.and (local.get $c) (i32.or (local.get $a) (local.get $b))))))
          (local.set $h (local.get $g))
          (local.set $g (local.get $f))
          (local.set $f (local.get $e))
          (local.set $e (i32.add (local.get $d) (local.get $t1)))
          (local.set $d (local.get $c))
          (local.set $c (local.get $b))
          (local.set $b (local.get $a))
          (local.set $a (i32.add (local.get $t1) (local.get $t2)))
          (br_if $round (i32.ne (local.tee $t (i32.add (local.get $t) (i32.const 4))) (i32.const 256))))
        ;; Step 4: H(i) = H(i-1) + the working variables.
        (local.set $h0 (i32.add (local.get $h0) (local.get $a)))
        (local.set $h1 (i32.add (local.get $h1) (local.get $b)))
        (local.set $h2 (i32.add (local.get $h2) (local.get $c)))
        (local.set $h3 (i32.add (local.get $h3) (local.get $d)))
        (local.set $h4 (i32.add (local.get $h4) (local.get $e)))
        (local.set $h5 (i32.add (local.get $h5) (local.get $f)))
        (local.set $h6 (i32.add (local.get $h6) (local.get $g)))
        (local.set $h7 (i32.add (local.get $h7) (local.get $h)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $block)))
    (i32.store offset=0 (i32.const 0) (local.get $h0))
    (i32.store offset=4 (i32.const 0) (local.get $h1))
    (i32.store offset=8 (i32.const 0) (local.get $h2))
    (i32.store offset=12 (i32.const 0) (local.get $h3))
    (i32.store offset=16 (i32.const 0) (local.get $h4))
    (i32.store offset=20 (i32.const 0) (local.get $h5))
    (i32.store offset=24 (i32.const 0) (local.get $h6))
    (i32.store offset=28 (i32.const 0) (local.get $h7))))
