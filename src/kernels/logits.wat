;; Scans over one row of float32 logits, four lanes at a time (WebAssembly SIMD): the passes a
;; decode step makes over a 49k-256k vocabulary (finite check, argmax, softmax, top-p buckets,
;; inverse-CDF draw), which in plain JavaScript cost 7 ns per token for the exp alone.
;; src/kernels/logits.ts owns the memory layout and is the only caller; scripts/build-wasm.ts
;; assembles this file (wabt) into logitsWasm.ts.
;;
;; Conventions: x, e, out, hist are byte offsets into memory, 16-byte aligned; n counts floats.
;; Passes that take n4 read x[0..n4) where n4 = n rounded up to 8 (two vectors, as softmax reads them)
;; and x[n..n4) hold -inf, whose exp is 0 and whose key is the largest (it is never drawn or kept).
;; key(x) = floor((max - x) * 8192), saturating: distance below the best logit in 1/8192 nat, the
;; one integer every top-p pass orders tokens by, so buckets (key >> 9, 1/16 nat) and sub-buckets
;; (key & 511) always agree on which token is where. softmax() computes the keys once.
;;
;; Everything is written inline: V8 does not inline WebAssembly calls, and a call per vector cost
;; more than the vector's arithmetic (a gather pass took 40 us with the key in a function, 16 us without).

(module
  (memory (export "memory") 1)
  (global $min (export "min") (mut f32) (f32.const 0))
  (global $bad (export "bad") (mut i32) (i32.const 0))

  ;; max of x[0..n); sets $min and $bad (1 if any value is NaN or infinite). Reads n exactly.
  (func (export "scan") (param $x i32) (param $n i32) (result f32)
    (local $p i32) (local $end i32) (local $v v128) (local $hi v128) (local $lo v128) (local $b v128)
    (local $m f32) (local $l f32) (local $s f32)
    (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (local.set $hi (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $lo (v128.const f32x4 inf inf inf inf))
    (local.set $b (v128.const i32x4 0 0 0 0))
    (local.set $p (local.get $x))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v (v128.load (local.get $p)))
        (local.set $hi (f32x4.pmax (local.get $hi) (local.get $v)))
        (local.set $lo (f32x4.pmin (local.get $lo) (local.get $v)))
        ;; pmax/pmin are one instruction each (max/min are several: they order -0 and NaN); a NaN
        ;; shows up in $b instead: NaN != NaN, |inf| == inf
        (local.set $b (v128.or (local.get $b)
          (v128.or (f32x4.ne (local.get $v) (local.get $v))
                   (f32x4.eq (f32x4.abs (local.get $v)) (v128.const f32x4 inf inf inf inf)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next)))
    ;; across the four lanes, the same way (pmax of the lanes swapped pairwise, twice)
    (local.set $hi (f32x4.pmax (local.get $hi) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $hi) (local.get $hi))))
    (local.set $hi (f32x4.pmax (local.get $hi) (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $hi) (local.get $hi))))
    (local.set $lo (f32x4.pmin (local.get $lo) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $lo) (local.get $lo))))
    (local.set $lo (f32x4.pmin (local.get $lo) (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $lo) (local.get $lo))))
    (local.set $m (f32x4.extract_lane 0 (local.get $hi)))
    (local.set $l (f32x4.extract_lane 0 (local.get $lo)))
    (global.set $bad (v128.any_true (local.get $b)))
    ;; the last n mod 4 values
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $tail
      (loop $more
        (br_if $tail (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $s (f32.load (local.get $p)))
        ;; as pmax / pmin: a NaN never replaces the running value (it is flagged in $bad)
        (local.set $m (select (local.get $s) (local.get $m) (f32.gt (local.get $s) (local.get $m))))
        (local.set $l (select (local.get $s) (local.get $l) (f32.lt (local.get $s) (local.get $l))))
        (if (i32.or (f32.ne (local.get $s) (local.get $s)) (f32.eq (f32.abs (local.get $s)) (f32.const inf)))
          (then (global.set $bad (i32.const 1))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $more)))
    (global.set $min (local.get $l))
    (local.get $m))

  ;; index of the first x[i] == v in x[0..n4), or -1
  (func (export "firstEqual") (param $x i32) (param $n4 i32) (param $v f32) (result i32)
    (local $p i32) (local $end i32) (local $vv v128) (local $hit i32)
    (local.set $vv (f32x4.splat (local.get $v)))
    (local.set $p (local.get $x))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n4) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $hit (i32x4.bitmask (f32x4.eq (v128.load (local.get $p)) (local.get $vv))))
        (if (local.get $hit)
          (then (return (i32.add (i32.shr_u (i32.sub (local.get $p) (local.get $x)) (i32.const 2)) (i32.ctz (local.get $hit))))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next)))
    (i32.const -1))

  ;; x[i] /= t over x[0..n4) (temperature)
  (func (export "divide") (param $x i32) (param $n4 i32) (param $t f32)
    (local $p i32) (local $end i32) (local $tt v128)
    (local.set $tt (f32x4.splat (local.get $t)))
    (local.set $p (local.get $x))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n4) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (v128.store (local.get $p) (f32x4.div (v128.load (local.get $p)) (local.get $tt)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next))))

  ;; e[i] = exp(x[i] - max) and keys[i] = key(x[i]) over n4 (a multiple of 8 here); returns the f64
  ;; sum of e. exp(y), y <= 0: Cody-Waite reduction y = k ln2 + r, |r| <= ln2/2, then
  ;; e^r = 1 + r + r^2 P(r) with P of degree 4 (fitted offline for least maximum relative error over
  ;; |r| <= ln2/2 by Lawson's reweighted least squares: 3e-9, below float32 rounding; 8e-8 overall in
  ;; float32, as Cephes expf's one degree more), times 2^k built in the exponent bits; 0 below -87.
  ;; With hist != 0 it also adds each token's e to its bucket, min(key >> 9, 511) (1/16 nat, the last
  ;; open-ended), in f64: lane j of each vector into its own histogram hist_j = hist + j * 4096 bytes
  ;; (so that runs of tokens in one bucket do not wait on one memory cell), zeroed by the caller,
  ;; added by addLanes. Top-p needs these masses next; a pass of their own read keys and e back
  ;; (47-71 us of a 49k draw).
  ;; Two vectors (a, b) per iteration, each with its own f64 sum: one vector's chain of dependent
  ;; multiply-adds left the core idle (117 us for 49k logits; 78 us two at a time).
  (func (export "softmax") (param $x i32) (param $e i32) (param $keys i32) (param $n4 i32) (param $max f32) (param $hist i32) (result f64)
    (local $p i32) (local $q i32) (local $o i32) (local $end i32) (local $mm v128) (local $a i32)
    (local $keya v128) (local $keyb v128)
    (local $ya v128) (local $ca v128) (local $ka v128) (local $ra v128) (local $va v128) (local $acca v128)
    (local $yb v128) (local $cb v128) (local $kb v128) (local $rb v128) (local $vb v128) (local $accb v128)
    ;; constants in locals: V8 rebuilds a v128.const inside a loop on every iteration
    (local $minus8192 v128) (local $minus87 v128) (local $log2e v128) (local $ln2hi v128) (local $ln2lo v128)
    (local $p4 v128) (local $p3 v128) (local $p2 v128) (local $p1 v128) (local $p0 v128) (local $one v128) (local $bias127 v128) (local $last v128)
    (local.set $mm (f32x4.splat (local.get $max)))
    (local.set $p (local.get $x))
    (local.set $q (local.get $e))
    (local.set $o (local.get $keys))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n4) (i32.const 2))))
    (local.set $minus8192 (v128.const f32x4 -8192 -8192 -8192 -8192))
    (local.set $minus87 (v128.const f32x4 -87 -87 -87 -87))
    (local.set $log2e (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))
    (local.set $ln2hi (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))
    (local.set $ln2lo (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))
    (local.set $p4 (v128.const f32x4 1.3814611593e-3 1.3814611593e-3 1.3814611593e-3 1.3814611593e-3))
    (local.set $p3 (v128.const f32x4 8.3687100559e-3 8.3687100559e-3 8.3687100559e-3 8.3687100559e-3))
    (local.set $p2 (v128.const f32x4 4.1668388993e-2 4.1668388993e-2 4.1668388993e-2 4.1668388993e-2))
    (local.set $p1 (v128.const f32x4 1.6666521132e-1 1.6666521132e-1 1.6666521132e-1 1.6666521132e-1))
    (local.set $p0 (v128.const f32x4 4.9999994040e-1 4.9999994040e-1 4.9999994040e-1 4.9999994040e-1))
    (local.set $one (v128.const f32x4 1 1 1 1))
    (local.set $bias127 (v128.const i32x4 127 127 127 127))
    (local.set $last (v128.const i32x4 511 511 511 511))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $ya (f32x4.sub (v128.load (local.get $p)) (local.get $mm)))
        (local.set $yb (f32x4.sub (v128.load offset=16 (local.get $p)) (local.get $mm)))
        ;; key: trunc(-y * 8192) = floor((max - x) * 8192) as -y >= 0
        (local.set $keya (i32x4.trunc_sat_f32x4_s (f32x4.mul (local.get $ya) (local.get $minus8192))))
        (local.set $keyb (i32x4.trunc_sat_f32x4_s (f32x4.mul (local.get $yb) (local.get $minus8192))))
        (v128.store (local.get $o) (local.get $keya))
        (v128.store offset=16 (local.get $o) (local.get $keyb))
        (local.set $ca (f32x4.pmax (local.get $ya) (local.get $minus87)))
        (local.set $cb (f32x4.pmax (local.get $yb) (local.get $minus87)))
        (local.set $ka (f32x4.nearest (f32x4.mul (local.get $ca) (local.get $log2e))))
        (local.set $kb (f32x4.nearest (f32x4.mul (local.get $cb) (local.get $log2e))))
        (local.set $ra (f32x4.sub (local.get $ca) (f32x4.mul (local.get $ka) (local.get $ln2hi))))
        (local.set $rb (f32x4.sub (local.get $cb) (f32x4.mul (local.get $kb) (local.get $ln2hi))))
        (local.set $ra (f32x4.sub (local.get $ra) (f32x4.mul (local.get $ka) (local.get $ln2lo))))
        (local.set $rb (f32x4.sub (local.get $rb) (f32x4.mul (local.get $kb) (local.get $ln2lo))))
        (local.set $va (f32x4.add (f32x4.mul (local.get $p4) (local.get $ra)) (local.get $p3)))
        (local.set $vb (f32x4.add (f32x4.mul (local.get $p4) (local.get $rb)) (local.get $p3)))
        (local.set $va (f32x4.add (f32x4.mul (local.get $va) (local.get $ra)) (local.get $p2)))
        (local.set $vb (f32x4.add (f32x4.mul (local.get $vb) (local.get $rb)) (local.get $p2)))
        (local.set $va (f32x4.add (f32x4.mul (local.get $va) (local.get $ra)) (local.get $p1)))
        (local.set $vb (f32x4.add (f32x4.mul (local.get $vb) (local.get $rb)) (local.get $p1)))
        (local.set $va (f32x4.add (f32x4.mul (local.get $va) (local.get $ra)) (local.get $p0)))
        (local.set $vb (f32x4.add (f32x4.mul (local.get $vb) (local.get $rb)) (local.get $p0)))
        (local.set $va (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $va) (local.get $ra)) (local.get $ra)) (local.get $ra))
                                  (local.get $one)))
        (local.set $vb (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $vb) (local.get $rb)) (local.get $rb)) (local.get $rb))
                                  (local.get $one)))
        (local.set $va (f32x4.mul (local.get $va)
          (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $ka)) (local.get $bias127)) (i32.const 23))))
        (local.set $vb (f32x4.mul (local.get $vb)
          (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $kb)) (local.get $bias127)) (i32.const 23))))
        ;; lanes below -87 are 0
        (local.set $va (v128.andnot (local.get $va) (f32x4.lt (local.get $ya) (local.get $minus87))))
        (local.set $vb (v128.andnot (local.get $vb) (f32x4.lt (local.get $yb) (local.get $minus87))))
        (v128.store (local.get $q) (local.get $va))
        (v128.store offset=16 (local.get $q) (local.get $vb))
        ;; the bucket masses when asked (a branch every iteration predicts the same way); the byte
        ;; offset of each lane's bucket, clamped to 0..511 (a NaN row's keys are 0, never below)
        (if (local.get $hist)
          (then
            (local.set $keya (i32x4.shl (i32x4.max_s (i32x4.min_s (i32x4.shr_s (local.get $keya) (i32.const 9)) (local.get $last))
                                                      (v128.const i32x4 0 0 0 0)) (i32.const 3)))
            (local.set $keyb (i32x4.shl (i32x4.max_s (i32x4.min_s (i32x4.shr_s (local.get $keyb) (i32.const 9)) (local.get $last))
                                                      (v128.const i32x4 0 0 0 0)) (i32.const 3)))
            (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 0) (i32x4.extract_lane 0 (local.get $keya)))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 0 (local.get $va)))))
            (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 4096) (i32x4.extract_lane 1 (local.get $keya)))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 1 (local.get $va)))))
            (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 8192) (i32x4.extract_lane 2 (local.get $keya)))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 2 (local.get $va)))))
            (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 12288) (i32x4.extract_lane 3 (local.get $keya)))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 3 (local.get $va)))))
            (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 0) (i32x4.extract_lane 0 (local.get $keyb)))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 0 (local.get $vb)))))
            (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 4096) (i32x4.extract_lane 1 (local.get $keyb)))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 1 (local.get $vb)))))
            (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 8192) (i32x4.extract_lane 2 (local.get $keyb)))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 2 (local.get $vb)))))
            (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 12288) (i32x4.extract_lane 3 (local.get $keyb)))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 3 (local.get $vb)))))))
        (local.set $acca (f64x2.add (local.get $acca) (f64x2.add (f64x2.promote_low_f32x4 (local.get $va))
                              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $va) (local.get $va))))))
        (local.set $accb (f64x2.add (local.get $accb) (f64x2.add (f64x2.promote_low_f32x4 (local.get $vb))
                              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $vb) (local.get $vb))))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $q (i32.add (local.get $q) (i32.const 32)))
        (local.set $o (i32.add (local.get $o) (i32.const 32)))
        (br $next)))
    (local.set $acca (f64x2.add (local.get $acca) (local.get $accb)))
    (f64.add (f64x2.extract_lane 0 (local.get $acca)) (f64x2.extract_lane 1 (local.get $acca))))

  ;; The four lane histograms added into the first: hist_0[k] += hist_1[k] + hist_2[k] + hist_3[k],
  ;; k < 512, two at a time.
  (func (export "addLanes") (param $hist i32)
    (local $p i32) (local $end i32)
    (local.set $p (local.get $hist))
    (local.set $end (i32.add (local.get $hist) (i32.const 4096)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (v128.store (local.get $p)
          (f64x2.add (f64x2.add (v128.load (local.get $p)) (v128.load offset=4096 (local.get $p)))
                     (f64x2.add (v128.load offset=8192 (local.get $p)) (v128.load offset=12288 (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next))))

  ;; Sub-bucket masses of bucket c (< 511): hist_j[key & 511] += e[i] for its tokens, per lane as softmax's buckets.
  (func (export "subBucketMass") (param $keys i32) (param $e i32) (param $n4 i32) (param $c i32) (param $hist i32)
    (local $p i32) (local $q i32) (local $end i32) (local $cc v128) (local $key v128) (local $k v128) (local $ev v128)
    (local $hit i32) (local $a i32)
    (local.set $cc (i32x4.splat (local.get $c)))
    (local.set $p (local.get $keys))
    (local.set $q (local.get $e))
    (local.set $end (i32.add (local.get $keys) (i32.shl (local.get $n4) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $key (v128.load (local.get $p)))
        (local.set $hit (i32x4.bitmask (i32x4.eq (i32x4.shr_s (local.get $key) (i32.const 9)) (local.get $cc))))
        (if (local.get $hit)
          (then
            (local.set $k (i32x4.shl (v128.and (local.get $key) (v128.const i32x4 511 511 511 511)) (i32.const 3)))
            (local.set $ev (v128.load (local.get $q)))
            (if (i32.and (local.get $hit) (i32.const 1))
              (then
                (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 0) (i32x4.extract_lane 0 (local.get $k)))))
                (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 0 (local.get $ev)))))))
            (if (i32.and (local.get $hit) (i32.const 2))
              (then
                (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 4096) (i32x4.extract_lane 1 (local.get $k)))))
                (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 1 (local.get $ev)))))))
            (if (i32.and (local.get $hit) (i32.const 4))
              (then
                (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 8192) (i32x4.extract_lane 2 (local.get $k)))))
                (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 2 (local.get $ev)))))))
            (if (i32.and (local.get $hit) (i32.const 8))
              (then
                (local.set $a (i32.add (local.get $hist) (i32.add (i32.const 12288) (i32x4.extract_lane 3 (local.get $k)))))
                (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32x4.extract_lane 3 (local.get $ev)))))))
          ))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (br $next)))
  )

  ;; Indices i < n4 with lo <= keys[i] <= hi into out (i32), in id order; returns how many.
  (func (export "gather") (param $keys i32) (param $n4 i32) (param $lo i32) (param $hi i32) (param $out i32) (result i32)
    (local $p i32) (local $end i32) (local $key v128) (local $hit i32) (local $o i32) (local $ll v128) (local $hh v128)
    (local.set $ll (i32x4.splat (local.get $lo)))
    (local.set $hh (i32x4.splat (local.get $hi)))
    (local.set $p (local.get $keys))
    (local.set $o (local.get $out))
    (local.set $end (i32.add (local.get $keys) (i32.shl (local.get $n4) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $key (v128.load (local.get $p)))
        (local.set $hit (i32x4.bitmask (v128.and (i32x4.ge_s (local.get $key) (local.get $ll)) (i32x4.le_s (local.get $key) (local.get $hh)))))
        (block $lanes
          (loop $lane
            (br_if $lanes (i32.eqz (local.get $hit)))
            (i32.store (local.get $o) (i32.add (i32.shr_u (i32.sub (local.get $p) (local.get $keys)) (i32.const 2)) (i32.ctz (local.get $hit))))
            (local.set $hit (i32.and (local.get $hit) (i32.sub (local.get $hit) (i32.const 1))))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (br $lane)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next)))
    (i32.shr_u (i32.sub (local.get $o) (local.get $out)) (i32.const 2)))

  ;; e[i] = 0 where keys[i] >= k (outside the nucleus); returns the f64 sum of what is left.
  (func (export "cutFrom") (param $keys i32) (param $e i32) (param $n4 i32) (param $k i32) (result f64)
    (local $p i32) (local $q i32) (local $end i32) (local $kk v128) (local $v v128) (local $acc v128)
    (local.set $kk (i32x4.splat (local.get $k)))
    (local.set $p (local.get $keys))
    (local.set $q (local.get $e))
    (local.set $end (i32.add (local.get $keys) (i32.shl (local.get $n4) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v (v128.andnot (v128.load (local.get $q)) (i32x4.ge_s (v128.load (local.get $p)) (local.get $kk))))
        (v128.store (local.get $q) (local.get $v))
        (local.set $acc (f64x2.add (local.get $acc) (f64x2.add (f64x2.promote_low_f32x4 (local.get $v))
                             (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (br $next)))
    (f64.add (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc))))

  ;; Inverse-CDF draw: the first i whose running f64 sum of e[0..i] exceeds t, or -1. Whole vectors
  ;; first (lanes 0+2 and 1+3 added, then the two), lane by lane inside the one where the sum passes t.
  (func (export "draw") (param $e i32) (param $n4 i32) (param $t f64) (result i32)
    (local $q i32) (local $end i32) (local $v v128) (local $s v128) (local $z f64) (local $w f64) (local $i i32)
    (local.set $q (local.get $e))
    (local.set $end (i32.add (local.get $e) (i32.shl (local.get $n4) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $q) (local.get $end)))
        (local.set $v (v128.load (local.get $q)))
        (local.set $s (f64x2.add (f64x2.promote_low_f32x4 (local.get $v))
                                 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
        (local.set $w (f64.add (local.get $z) (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s)))))
        (if (f64.gt (local.get $w) (local.get $t))
          (then
            (local.set $i (i32.const 0))
            (block $found
              (loop $lane
                (local.set $z (f64.add (local.get $z) (f64.promote_f32 (f32.load (i32.add (local.get $q) (i32.shl (local.get $i) (i32.const 2)))))))
                (br_if $found (f64.gt (local.get $z) (local.get $t)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $lane (i32.lt_u (local.get $i) (i32.const 3)))))
            (return (i32.add (i32.shr_u (i32.sub (local.get $q) (local.get $e)) (i32.const 2)) (local.get $i)))))
        (local.set $z (local.get $w))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (br $next)))
    (i32.const -1))
)
