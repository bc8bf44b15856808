// Fused attention (FlashAttention-2) kernels: see src/backend/kernels/attention.ts for the semantics and
// src/backend/wasm/attention.ts for the caller. README.md describes the ABI.
//
// Layouts (float32, row-major): q [B, H, Sq, D], k [B, KH, Sk, D], v [B, KH, Sk, DV], out [B, H, Sq, DV],
// lse [B, H, Sq]. Query head h uses kv head h / (H / KH). The caller pads D and DV to multiples of 4.
//
// Masking. Query row i may attend key j when j lies in its band [i + loOff, i + hiOff] (causal, window or
// none, with sentinels +-BIG) and the bool mask, if any, is nonzero at mask[b*msb + h*msh + i*msq + j*msk]
// (a stride is 0 on a broadcast axis). Work is done in tiles of (query rows) x (a block of Bk keys); a tile
// is classified first: SKIP (nothing allowed: never touched), FULL (everything allowed: no per-element
// test) or PARTIAL (per-element test). ctr[1] counts the tiles computed and ctr[2] the partial ones (a debug
// counter the tests read); ctr[0] hands out work items (dynamic scheduling: each item is computed by one
// thread, in one order, so the result does not depend on the thread count).
//
// Products are 4-row register tiles (gemm4): C[4 x n] (+)= A[4 x K] B[K x n] with A read element by
// element (any strides: A or A transposed) and B by rows of 4-float vectors; K and V blocks are transposed
// into scratch where they are the B of a product with the key axis along n (S = Q K^T, dP = dO V^T).
// (4 rows x 8 columns is what fits V8's 15 usable xmm registers; a loop body is not unrolled because V8
// issues all of its loads first and would spill the accumulators.)
//
// Forward (attn_fwd): per item, the query rows are scaled by `scale` into scratch, then for each key
// block S = Q K^T, the online softmax per row (softmaxRow: the running max moves only when passed by more
// than TAU, so most blocks need no rescale of O), O += P V; at the end out = O / l, lse = m + log l.
// Backward (FlashAttention-2): attn_bwd_prep (D_i = dO_i . O_i), attn_bwd_kv (dK, dV per key block, or
// everything per (batch, kv head) when fused) and attn_bwd_q (dQ per query block), all through bwdTile.
// Exactness with non-finite inputs: a masked entry's P is exactly 0, but 0 * Infinity is NaN; a PARTIAL
// tile whose operands hold a non-finite value is therefore summed entry by entry over the allowed entries
// only (rare; checked per tile), so that masked and fully masked rows contribute nothing, as in the
// reference.

const BIG: i32 = 0x3fffffff;
const NEG_INF: f32 = -Infinity;
const SKIP: i32 = 0;
const FULL: i32 = 1;
const PARTIAL: i32 = 2;
/** The forward's running max moves only when passed by more than this (P <= e^TAU). */
const TAU: f32 = 8;

// ---------------------------------------------------------------------------------------------------
// SIMD helpers

@inline function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * e^x on 4 lanes (Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial, 2^n put into the
 * exponent bits), relative error ~1.5e-7. x < -87.33 (including -Infinity) gives 0; NaN gives NaN;
 * x > 88 is clamped to 88 (the kernels only take e^x of x <= ~0).
 */
@inline function exp4(x: v128): v128 {
  return expCore(f32x4.pmin(x, f32x4.splat(88.0))); // pmin keeps a NaN x
}

/** exp4 for x <= 88 (or NaN) known beforehand (the forward's x <= TAU): no clamp. */
@inline function expCore(xc: v128): v128 {
  // t = x log2(e) + 1.5 * 2^23 + 127: its low mantissa bits hold n + 127, n = round(x log2(e)), so that
  // t << 23 is 2^n's bit pattern.
  const t = fma(xc, f32x4.splat(1.44269504088896341), f32x4.splat(12583039.0));
  const n = f32x4.sub(t, f32x4.splat(12583039.0));
  let r = fma(n, f32x4.splat(-0.693359375), xc);
  r = fma(n, f32x4.splat(2.12194440e-4), r);
  let p = f32x4.splat(1.9875691500e-4);
  p = fma(p, r, f32x4.splat(1.3981999507e-3));
  p = fma(p, r, f32x4.splat(8.3334519073e-3));
  p = fma(p, r, f32x4.splat(4.1665795894e-2));
  p = fma(p, r, f32x4.splat(1.6666665459e-1));
  p = fma(p, r, f32x4.splat(5.0000001201e-1));
  p = fma(p, f32x4.mul(r, r), f32x4.add(r, f32x4.splat(1.0)));
  return v128.andnot(f32x4.mul(p, i32x4.shl(t, 23)), f32x4.lt(xc, f32x4.splat(-87.33)));
}

/** e^x of one value, through exp4 (so that scalar and vector results agree). */
@inline function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/** exp4 on one value (exported for the accuracy test). */
export function attn_exp(x: f32): f32 {
  return exp1(x);
}

/** C[4 x 8] (+)= A[4 x K] B[K x 8]: A[r, k] at a_r + k*aks, B row k at b + k*bs, C row r at c_r. */
@inline function mk8(a0: usize, a1: usize, a2: usize, a3: usize, aks: usize, b: usize, bs: usize,
  c0: usize, c1: usize, c2: usize, c3: usize, K: i32, acc: bool): void {
  let x00 = f32x4.splat(0), x01 = f32x4.splat(0), x10 = f32x4.splat(0), x11 = f32x4.splat(0);
  let x20 = f32x4.splat(0), x21 = f32x4.splat(0), x30 = f32x4.splat(0), x31 = f32x4.splat(0);
  if (acc) {
    x00 = v128.load(c0); x01 = v128.load(c0, 16);
    x10 = v128.load(c1); x11 = v128.load(c1, 16);
    x20 = v128.load(c2); x21 = v128.load(c2, 16);
    x30 = v128.load(c3); x31 = v128.load(c3, 16);
  }
  // One k per iteration: V8 issues a loop body's loads first, so unrolling would spill the accumulators.
  let k = 0;
  if (a1 == a0 + 4 && a2 == a0 + 8 && a3 == a0 + 12) {
    // A transposed (the 4 rows are 4 consecutive floats of each k): one pointer, immediate offsets.
    for (; k < K; k++) {
      const b0 = v128.load(b), b1 = v128.load(b, 16);
      let s = v128.load32_splat(a0); x00 = fma(s, b0, x00); x01 = fma(s, b1, x01);
      s = v128.load32_splat(a0, 4); x10 = fma(s, b0, x10); x11 = fma(s, b1, x11);
      s = v128.load32_splat(a0, 8); x20 = fma(s, b0, x20); x21 = fma(s, b1, x21);
      s = v128.load32_splat(a0, 12); x30 = fma(s, b0, x30); x31 = fma(s, b1, x31);
      a0 += aks; b += bs;
    }
    a1 = a0 + 4; a2 = a0 + 8; a3 = a0 + 12;
  }
  for (; k < K; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let s = v128.load32_splat(a0); x00 = fma(s, b0, x00); x01 = fma(s, b1, x01);
    s = v128.load32_splat(a1); x10 = fma(s, b0, x10); x11 = fma(s, b1, x11);
    s = v128.load32_splat(a2); x20 = fma(s, b0, x20); x21 = fma(s, b1, x21);
    s = v128.load32_splat(a3); x30 = fma(s, b0, x30); x31 = fma(s, b1, x31);
    a0 += aks; a1 += aks; a2 += aks; a3 += aks; b += bs;
  }
  v128.store(c0, x00); v128.store(c0, x01, 16);
  v128.store(c1, x10); v128.store(c1, x11, 16);
  v128.store(c2, x20); v128.store(c2, x21, 16);
  v128.store(c3, x30); v128.store(c3, x31, 16);
}

/** C[4 x 4] (+)= A[4 x K] B[K x 4] (the n % 8 == 4 tail of gemm4). */
@inline function mk4(a0: usize, a1: usize, a2: usize, a3: usize, aks: usize, b: usize, bs: usize,
  c0: usize, c1: usize, c2: usize, c3: usize, K: i32, acc: bool): void {
  let x0 = f32x4.splat(0), x1 = f32x4.splat(0), x2 = f32x4.splat(0), x3 = f32x4.splat(0);
  if (acc) { x0 = v128.load(c0); x1 = v128.load(c1); x2 = v128.load(c2); x3 = v128.load(c3); }
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b);
    x0 = fma(v128.load32_splat(a0), b0, x0);
    x1 = fma(v128.load32_splat(a1), b0, x1);
    x2 = fma(v128.load32_splat(a2), b0, x2);
    x3 = fma(v128.load32_splat(a3), b0, x3);
    a0 += aks; a1 += aks; a2 += aks; a3 += aks; b += bs;
  }
  v128.store(c0, x0); v128.store(c1, x1); v128.store(c2, x2); v128.store(c3, x3);
}

/** C[4 x n] (+)= A[4 x K] B[K x n], n % 4 == 0 (see mk8). */
function gemm4(a0: usize, a1: usize, a2: usize, a3: usize, aks: usize, b: usize, bs: usize,
  c0: usize, c1: usize, c2: usize, c3: usize, K: i32, n: i32, acc: bool): void {
  let o: usize = 0;
  const n8 = <usize>(n & ~7) << 2;
  if (acc) {
    for (; o < n8; o += 32) mk8(a0, a1, a2, a3, aks, b + o, bs, c0 + o, c1 + o, c2 + o, c3 + o, K, true);
    if ((n & 4) != 0) mk4(a0, a1, a2, a3, aks, b + o, bs, c0 + o, c1 + o, c2 + o, c3 + o, K, true);
  } else {
    for (; o < n8; o += 32) mk8(a0, a1, a2, a3, aks, b + o, bs, c0 + o, c1 + o, c2 + o, c3 + o, K, false);
    if ((n & 4) != 0) mk4(a0, a1, a2, a3, aks, b + o, bs, c0 + o, c1 + o, c2 + o, c3 + o, K, false);
  }
}

/**
 * Transposes rows [0, nr) of src (row stride srcStride floats, `cols` floats each, cols % 4 == 0) into
 * dst [cols x ld]: dst[c * ld + r] = src[r, c]; columns r in [nr, ld) of dst are zero (ld % 4 == 0).
 */
function transposeBlock(src: usize, srcStride: i32, nr: i32, cols: i32, dst: usize, ld: i32): void {
  const z = f32x4.splat(0);
  const ss = <usize>srcStride << 2;
  const ds = <usize>ld << 2;
  for (let r = 0; r < ld; r += 4) {
    const p0 = src + <usize>r * ss;
    const n = nr - r;
    for (let c = 0; c < cols; c += 4) {
      const o = <usize>c << 2;
      const r0 = n > 0 ? v128.load(p0 + o) : z;
      const r1 = n > 1 ? v128.load(p0 + ss + o) : z;
      const r2 = n > 2 ? v128.load(p0 + 2 * ss + o) : z;
      const r3 = n > 3 ? v128.load(p0 + 3 * ss + o) : z;
      const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
      const t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
      const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
      const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
      const d = dst + <usize>c * ds + (<usize>r << 2);
      v128.store(d, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
      v128.store(d + ds, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
      v128.store(d + 2 * ds, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
      v128.store(d + 3 * ds, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
    }
  }
}

@inline function zero(p: usize, floats: i32): void {
  memory.fill(p, 0, <usize>floats << 2);
}

@inline function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

@inline function scaleRows(dst: usize, src: usize, floats: i32, s: f32): void {
  const vs = f32x4.splat(s);
  const n = <usize>floats << 2;
  for (let o: usize = 0; o < n; o += 16) v128.store(dst + o, f32x4.mul(v128.load(src + o), vs));
}

@inline function up4(n: i32): i32 {
  return (n + 3) & ~3;
}

// ---------------------------------------------------------------------------------------------------
// Masks

/** Whether the bool mask allows (b, h, i, j) (mask != 0). */
@inline function maskAt(mask: usize, base: i32, msq: i32, msk: i32, i: i32, j: i32): bool {
  return load<f32>(mask + (<usize>(base + i * msq + j * msk) << 2)) != 0;
}

/**
 * The class of the tile rows [i0, i1] (heads [h0, h0 + nh)) x keys [j0, j0 + Bk) (of which the first kc
 * exist): SKIP, FULL or PARTIAL. mbase = b * msb.
 */
function classify(i0: i32, i1: i32, h0: i32, nh: i32, j0: i32, kc: i32, Bk: i32, loOff: i32, hiOff: i32,
  mask: usize, mbase: i32, msh: i32, msq: i32, msk: i32): i32 {
  const jl = j0 + kc - 1;
  if (j0 > i1 + hiOff || jl < i0 + loOff) return SKIP;
  let cls = j0 >= i1 + loOff && j0 + Bk - 1 <= i0 + hiOff && kc == Bk ? FULL : PARTIAL;
  if (mask != 0) {
    // Scan the tile's mask entries (each broadcast axis once): none allowed -> SKIP, some -> PARTIAL.
    const nH = msh == 0 ? 1 : nh;
    const iE = msq == 0 ? i0 : i1;
    const jE = msk == 0 ? j0 : jl;
    let any = false, all = true;
    for (let hh = 0; hh < nH; hh++) {
      const hb = mbase + (h0 + hh) * msh;
      for (let i = i0; i <= iE; i++) {
        for (let j = j0; j <= jE; j++) {
          if (maskAt(mask, hb, msq, msk, i, j)) any = true;
          else all = false;
        }
        if (any && !all) return PARTIAL;
      }
    }
    if (!any) return SKIP;
    if (!all) cls = PARTIAL;
  }
  return cls;
}

@inline function clampI(x: i64, lo: i32, hi: i32): i32 {
  return <i32>min<i64>(max<i64>(x, lo), hi);
}

/**
 * Sets to `fill` the entries of row s (keys j0 .. j0 + Bk, of which the first kc exist) that query i may
 * not attend (hb = the mask's offset of its batch and head).
 */
function maskRow(s: usize, Bk: i32, i: i32, j0: i32, kc: i32, loOff: i32, hiOff: i32,
  mask: usize, hb: i32, msq: i32, msk: i32, fill: f32): void {
  // allowed keys: [max(i + loOff, j0), min(i + hiOff, j0 + kc - 1)] and the mask
  const lo = clampI(<i64>i + loOff - j0, 0, Bk);
  const hi = clampI(<i64>i + hiOff - j0 + 1, 0, kc); // exclusive
  if (hi <= lo) {
    for (let jj = 0; jj < Bk; jj++) store<f32>(s + (<usize>jj << 2), fill);
    return;
  }
  for (let jj = 0; jj < lo; jj++) store<f32>(s + (<usize>jj << 2), fill);
  for (let jj = hi; jj < Bk; jj++) store<f32>(s + (<usize>jj << 2), fill);
  if (mask != 0) {
    for (let jj = lo; jj < hi; jj++) {
      if (!maskAt(mask, hb, msq, msk, i, j0 + jj)) store<f32>(s + (<usize>jj << 2), fill);
    }
  }
}

/** Whether query i may attend key j (the band and the mask; j is a real key). */
@inline function allowedAt(i: i32, j: i32, loOff: i32, hiOff: i32, mask: usize, hb: i32, msq: i32, msk: i32): bool {
  return <i64>j >= <i64>i + loOff && <i64>j <= <i64>i + hiOff && (mask == 0 || maskAt(mask, hb, msq, msk, i, j));
}

/** Whether `rows` rows of `cols` floats (row stride `stride` floats, cols % 4 == 0) are all finite. */
function allFinite(p: usize, rows: i32, stride: i32, cols: i32): bool {
  let acc = f32x4.splat(0);
  const z = f32x4.splat(0);
  const sb = <usize>stride << 2, cb = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const row = p + <usize>r * sb;
    for (let o: usize = 0; o < cb; o += 16) acc = f32x4.add(acc, f32x4.mul(v128.load(row + o), z)); // x * 0 is NaN iff x is not finite
  }
  return hsum(acc) == 0;
}

/** dst[0 .. n) += a * src[0 .. n) (n % 4 == 0). */
@inline function axpy(dst: usize, a: f32, src: usize, n: i32): void {
  const va = f32x4.splat(a);
  const nb = <usize>n << 2;
  for (let o: usize = 0; o < nb; o += 16) v128.store(dst + o, fma(va, v128.load(src + o), v128.load(dst + o)));
}

// ---------------------------------------------------------------------------------------------------
// Forward

/**
 * The online softmax step of one row (FlashAttention): s holds the row's scaled scores for keys
 * j0 .. j0 + Bk; masks them (PARTIAL), updates the running max *mp and sum *lp (rescaling the output row
 * when the max moves), and leaves P = e^(s - max) in s. slot: 16 bytes of scratch. A function of its own
 * so that V8 optimizes it after its first calls, not after a whole kernel call.
 */
function softmaxRow(s: usize, Bk: i32, cls: i32, i: i32, j0: i32, kc: i32, loOff: i32, hiOff: i32,
  mask: usize, hb: i32, msq: i32, msk: i32, mp: usize, lp: usize, orow: usize, DV: i32, slot: usize): void {
  const Bkb = <usize>Bk << 2;
  if (cls == PARTIAL) maskRow(s, Bk, i, j0, kc, loOff, hiOff, mask, hb, msq, msk, NEG_INF);
  let vm = f32x4.splat(NEG_INF);
  for (let o: usize = 0; o < Bkb; o += 16) vm = f32x4.pmax(vm, v128.load(s + o));
  // Lazy rescaling: the running max moves only when this block's max passes it by more than TAU, so
  // P <= e^TAU and the rescale of l and O (and its exponential) is skipped for most blocks. The result
  // is the same mathematically (lse = m + log(l) for whichever m), and float32 has room for l <= Sk e^TAU.
  const mOld = load<f32>(mp);
  const mx = hmax(vm);
  const raise = mx > mOld + TAU || mOld == NEG_INF;
  const mNew = raise ? mx : mOld;
  const mUse = mNew == NEG_INF ? <f32>0 : mNew;
  // -max from memory: V8 would otherwise re-splat it on every iteration.
  v128.store(slot, f32x4.splat(-mUse));
  let vs = f32x4.splat(0);
  for (let o: usize = 0; o < Bkb; o += 16) {
    const p = expCore(f32x4.add(v128.load(s + o), v128.load(slot)));
    v128.store(s + o, p);
    vs = f32x4.add(vs, p);
  }
  if (raise) {
    const alpha = exp1(mOld - mUse);
    store<f32>(lp, load<f32>(lp) * alpha + hsum(vs));
    store<f32>(mp, mNew);
    if (alpha != 1) {
      const va = f32x4.splat(alpha);
      const DVb = <usize>DV << 2;
      for (let o: usize = 0; o < DVb; o += 16) v128.store(orow + o, f32x4.mul(v128.load(orow + o), va));
    }
  } else {
    store<f32>(lp, load<f32>(lp) + hsum(vs));
  }
}

/** Forward tile's scratch (per thread): Kt [D x Bk] | S [4 x Bk] | O [R x DV] | m [R] | l [R] | Q [R x D] (scaled) | slot | dummy row. */
export function attn_fwd_scratch(D: i32, DV: i32, Bk: i32, R: i32): i32 {
  return (D * Bk + 4 * Bk + R * DV + 2 * up4(R) + R * D + 4 + max(max(D, DV), Bk) + 64) * 4;
}

/**
 * Forward. Work items: (b, kv head, chunk of gh query heads of its group, block of Bq query positions),
 * biggest query positions first. Each item keeps O [rows x DV], m, l for its gh * Bq rows and sweeps the
 * key blocks its band meets, loading each K/V block once for all of its rows.
 */
export function attn_fwd(q: usize, k: usize, v: usize, out: usize, lse: usize,
  mask: usize, msb: i32, msh: i32, msq: i32, msk: i32,
  B: i32, H: i32, KH: i32, Sq: i32, Sk: i32, D: i32, DV: i32, scale: f32,
  loOff: i32, hiOff: i32, Bq: i32, gh: i32, Bk: i32,
  scratch: usize, sstride: i32, ctr: usize, tid: i32, nthreads: i32): void {
  const group = H / KH;
  const nChunks = (group + gh - 1) / gh;
  const nQB = (Sq + Bq - 1) / Bq;
  const perQB = B * KH * nChunks;
  const nItems = perQB * nQB;
  const R = gh * Bq;
  const base = scratch + <usize>tid * <usize>sstride;
  const Kt = base;
  const Sb = Kt + (<usize>(D * Bk) << 2);
  const Ob = Sb + (<usize>(4 * Bk) << 2);
  const mb = Ob + (<usize>(R * DV) << 2);
  const lb = mb + (<usize>up4(R) << 2);
  const Qs = lb + (<usize>up4(R) << 2);
  const slot = Qs + (<usize>(R * D) << 2);
  const dummy = slot + 16;
  const Db = <usize>D << 2, DVb = <usize>DV << 2, Bkb = <usize>Bk << 2;
  for (;;) {
    const t = atomic.add<i32>(ctr, 1);
    if (t >= nItems) break;
    const qb = nQB - 1 - t / perQB;
    const rest = t % perQB;
    const chunk = rest % nChunks;
    const bk = rest / nChunks;
    const b = bk / KH, kvh = bk % KH;
    const i0 = qb * Bq, nq = min(Bq, Sq - i0), i1 = i0 + nq - 1;
    const h0 = kvh * group + chunk * gh, nh = min(gh, group - chunk * gh);
    const rows = nh * nq;
    zero(Ob, rows * DV);
    for (let r = 0; r < rows; r++) {
      store<f32>(mb + (<usize>r << 2), NEG_INF);
      store<f32>(lb + (<usize>r << 2), 0);
    }
    // The item's query rows, times scale (so that the products are the scaled scores).
    for (let hh = 0; hh < nh; hh++) scaleRows(Qs + <usize>(hh * nq) * Db, q + <usize>((b * H + h0 + hh) * Sq + i0) * Db, nq * D, scale);
    const kbase = k + <usize>(bk * Sk) * Db;
    const vbase = v + <usize>(bk * Sk) * DVb;
    const mbase = b * msb;
    const jlo = <i32>max<i64>(0, <i64>i0 + loOff), jhi = <i32>min<i64>(<i64>Sk - 1, <i64>i1 + hiOff);
    if (jlo <= jhi) {
      for (let kb = jlo / Bk; kb <= jhi / Bk; kb++) {
        const j0 = kb * Bk, kc = min(Bk, Sk - j0);
        const cls = classify(i0, i1, h0, nh, j0, kc, Bk, loOff, hiOff, mask, mbase, msh, msq, msk);
        if (cls == SKIP) continue;
        atomic.add<i32>(ctr, 1, 4);
        if (cls == PARTIAL) atomic.add<i32>(ctr, 1, 8);
        transposeBlock(kbase + <usize>j0 * Db, D, kc, D, Kt, Bk);
        const vb = vbase + <usize>j0 * DVb;
        // A masked key's P is 0, and 0 * v is 0 unless v is not finite: then (rarely) sum only the allowed keys.
        const exact = cls == PARTIAL && !allFinite(vb, kc, DV, DV);
        for (let hh = 0; hh < nh; hh++) {
          const h = h0 + hh;
          const qrow = Qs + <usize>(hh * nq) * Db;
          const hb = mbase + h * msh;
          for (let ig = 0; ig < nq; ig += 4) {
            const nr = min(4, nq - ig);
            const a0 = qrow + <usize>ig * Db;
            const a1 = nr > 1 ? a0 + Db : a0, a2 = nr > 2 ? a0 + 2 * Db : a0, a3 = nr > 3 ? a0 + 3 * Db : a0;
            gemm4(a0, a1, a2, a3, 4, Kt, Bkb, Sb, Sb + Bkb, Sb + 2 * Bkb, Sb + 3 * Bkb, D, Bk, false);
            for (let r = 0; r < nr; r++) {
              const row = hh * nq + ig + r;
              softmaxRow(Sb + <usize>r * Bkb, Bk, cls, i0 + ig + r, j0, kc, loOff, hiOff, mask, hb, msq, msk,
                mb + (<usize>row << 2), lb + (<usize>row << 2), Ob + <usize>row * DVb, DV, slot);
            }
            // O[rows] += P V
            const o0 = Ob + <usize>(hh * nq + ig) * DVb;
            if (exact) {
              for (let r = 0; r < nr; r++) {
                const i = i0 + ig + r;
                for (let jj = 0; jj < kc; jj++) {
                  if (allowedAt(i, j0 + jj, loOff, hiOff, mask, hb, msq, msk)) axpy(o0 + <usize>r * DVb, load<f32>(Sb + <usize>r * Bkb + (<usize>jj << 2)), vb + <usize>jj * DVb, DV);
                }
              }
              continue;
            }
            const o1 = nr > 1 ? o0 + DVb : dummy, o2 = nr > 2 ? o0 + 2 * DVb : dummy, o3 = nr > 3 ? o0 + 3 * DVb : dummy;
            gemm4(Sb, Sb + Bkb, Sb + 2 * Bkb, Sb + 3 * Bkb, 4, vb, DVb, o0, o1, o2, o3, kc, DV, true);
          }
        }
      }
    }
    // out = O / l, lse = m + log(l); a row with no allowed key: out 0, lse -Infinity.
    for (let hh = 0; hh < nh; hh++) {
      const rowg = (b * H + h0 + hh) * Sq + i0;
      for (let ii = 0; ii < nq; ii++) {
        const row = hh * nq + ii;
        const m = load<f32>(mb + (<usize>row << 2));
        const l = load<f32>(lb + (<usize>row << 2));
        const dst = out + <usize>(rowg + ii) * DVb;
        const src = Ob + <usize>row * DVb;
        if (l == 0) {
          // No allowed key (a NaN score makes l NaN, not 0, and NaN flows to out and lse as in the reference).
          zero(dst, DV);
          store<f32>(lse + (<usize>(rowg + ii) << 2), NEG_INF);
        } else {
          const inv = f32x4.splat(<f32>1 / l);
          for (let o: usize = 0; o < DVb; o += 16) v128.store(dst + o, f32x4.mul(v128.load(src + o), inv));
          store<f32>(lse + (<usize>(rowg + ii) << 2), m + Mathf.log(l));
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Attention weights

/** Weights tile scratch (per thread): Kt [D x Bk] | S [4 x Bk] | dummy. */
export function attn_weights_scratch(D: i32, Bk: i32): i32 {
  return (D * Bk + 4 * Bk + 64) * 4;
}

/** w [B, H, Sq, Sk] = exp(scale q.k - lse) on allowed keys, 0 elsewhere. Items as attn_fwd. */
export function attn_weights(q: usize, k: usize, lse: usize, w: usize,
  mask: usize, msb: i32, msh: i32, msq: i32, msk: i32,
  B: i32, H: i32, KH: i32, Sq: i32, Sk: i32, D: i32, scale: f32,
  loOff: i32, hiOff: i32, Bq: i32, gh: i32, Bk: i32,
  scratch: usize, sstride: i32, ctr: usize, tid: i32, nthreads: i32): void {
  const group = H / KH;
  const nChunks = (group + gh - 1) / gh;
  const nQB = (Sq + Bq - 1) / Bq;
  const perQB = B * KH * nChunks;
  const nItems = perQB * nQB;
  const base = scratch + <usize>tid * <usize>sstride;
  const Kt = base;
  const Sb = Kt + (<usize>(D * Bk) << 2);
  const Db = <usize>D << 2, Bkb = <usize>Bk << 2, Skb = <usize>Sk << 2;
  const nKB = (Sk + Bk - 1) / Bk;
  for (;;) {
    const t = atomic.add<i32>(ctr, 1);
    if (t >= nItems) break;
    const qb = nQB - 1 - t / perQB;
    const rest = t % perQB;
    const chunk = rest % nChunks;
    const bk = rest / nChunks;
    const b = bk / KH, kvh = bk % KH;
    const i0 = qb * Bq, nq = min(Bq, Sq - i0), i1 = i0 + nq - 1;
    const h0 = kvh * group + chunk * gh, nh = min(gh, group - chunk * gh);
    const kbase = k + <usize>(bk * Sk) * Db;
    const mbase = b * msb;
    for (let kb = 0; kb < nKB; kb++) {
      const j0 = kb * Bk, kc = min(Bk, Sk - j0);
      const cls = classify(i0, i1, h0, nh, j0, kc, Bk, loOff, hiOff, mask, mbase, msh, msq, msk);
      if (cls == SKIP) {
        for (let hh = 0; hh < nh; hh++) {
          const wrow = w + <usize>((b * H + h0 + hh) * Sq + i0) * Skb + (<usize>j0 << 2);
          for (let ii = 0; ii < nq; ii++) zero(wrow + <usize>ii * Skb, kc);
        }
        continue;
      }
      atomic.add<i32>(ctr, 1, 4);
      if (cls == PARTIAL) atomic.add<i32>(ctr, 1, 8);
      transposeBlock(kbase + <usize>j0 * Db, D, kc, D, Kt, Bk);
      for (let hh = 0; hh < nh; hh++) {
        const h = h0 + hh;
        const rowg = (b * H + h) * Sq + i0;
        const qrow = q + <usize>rowg * Db;
        const hb = mbase + h * msh;
        for (let ig = 0; ig < nq; ig += 4) {
          const nr = min(4, nq - ig);
          const a0 = qrow + <usize>ig * Db;
          const a1 = nr > 1 ? a0 + Db : a0, a2 = nr > 2 ? a0 + 2 * Db : a0, a3 = nr > 3 ? a0 + 3 * Db : a0;
          gemm4(a0, a1, a2, a3, 4, Kt, Bkb, Sb, Sb + Bkb, Sb + 2 * Bkb, Sb + 3 * Bkb, D, Bk, false);
          for (let r = 0; r < nr; r++) {
            const s = Sb + <usize>r * Bkb;
            const L = load<f32>(lse + (<usize>(rowg + ig + r) << 2));
            const vL = f32x4.splat(L == NEG_INF ? NEG_INF : -L);
            const vsc = f32x4.splat(scale);
            for (let o: usize = 0; o < Bkb; o += 16) v128.store(s + o, exp4(fma(v128.load(s + o), vsc, vL)));
            if (cls == PARTIAL) maskRow(s, Bk, i0 + ig + r, j0, kc, loOff, hiOff, mask, hb, msq, msk, 0);
            memory.copy(w + <usize>(rowg + ig + r) * Skb + (<usize>j0 << 2), s, <usize>kc << 2);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Backward

/** D_i = dout_i . out_i and L_i = lse_i (+Infinity for a fully masked row, so that its P is 0), rows split among threads. */
export function attn_bwd_prep(out: usize, dout: usize, lse: usize, Dv: usize, Lv: usize, nRows: i32, DV: i32, tid: i32, nthreads: i32): void {
  const chunk = (nRows + nthreads - 1) / nthreads;
  const r0 = min(nRows, tid * chunk), r1 = min(nRows, r0 + chunk);
  const DVb = <usize>DV << 2;
  for (let r = r0; r < r1; r++) {
    const po = out + <usize>r * DVb, pd = dout + <usize>r * DVb;
    let acc = f32x4.splat(0);
    for (let o: usize = 0; o < DVb; o += 16) acc = fma(v128.load(pd + o), v128.load(po + o), acc);
    store<f32>(Dv + (<usize>r << 2), hsum(acc));
    const L = load<f32>(lse + (<usize>r << 2));
    store<f32>(Lv + (<usize>r << 2), L == NEG_INF ? <f32>Infinity : L);
  }
}

/** Backward scratch (per thread): Kt [D x Bk] | Vt [DV x Bk] | P [Bq4 x Bk] | dS [Bq4 x Bk] | dK [Bk x D] | dV [Bk x DV] | dQ [Bq4 x D] | Q [Bq4 x D] (scaled) | slot | dummy. */
export function attn_bwd_scratch(D: i32, DV: i32, Bq: i32, Bk: i32): i32 {
  const Bq4 = up4(Bq);
  return (D * Bk + DV * Bk + 2 * Bq4 * Bk + Bk * D + Bk * DV + 2 * Bq4 * D + 8 + max(max(D, DV), Bk) + 64) * 4;
}

/**
 * One backward tile: rows [i0, i0 + nq) of head h (row pointers qrow, dorow; L, Dl their lse and D) x keys
 * [j0, j0 + kc) (Kt, Vt transposed blocks [D x Bk], [DV x Bk]; kb the K rows). Computes P and dS and adds
 * P^T dO to dV, dS^T (scale Q) to dK (dK, dV != 0; row strides D, DV), and dS K to dQ (dQ != 0, row stride D;
 * the caller scales it at the end). Qs: scratch for the scaled q rows; slot: 32 bytes of scratch.
 */
function bwdTile(qrow: usize, dorow: usize, L: usize, Dl: usize, nq: i32, i0: i32,
  Kt: usize, Vt: usize, kb: usize, j0: i32, kc: i32, cls: i32,
  D: i32, DV: i32, Bk: i32, scale: f32, loOff: i32, hiOff: i32, mask: usize, hb: i32, msq: i32, msk: i32,
  P: usize, dS: usize, dK: usize, dV: usize, dQ: usize, Qs: usize, slot: usize, dummy: usize): void {
  const Db = <usize>D << 2, DVb = <usize>DV << 2, Bkb = <usize>Bk << 2;
  // The rows of q times scale: the products with them are the scaled scores, and dK = sum dS (scale q).
  scaleRows(Qs, qrow, nq * D, scale);
  // A masked entry's P and dS are 0, and 0 * x is 0 unless x is not finite: then (rarely) sum only the
  // allowed entries (a fully masked row, whose lse is -Infinity, then contributes nothing at all).
  const exact = cls == PARTIAL && !(allFinite(Qs, nq, D, D) && allFinite(dorow, nq, DV, DV) && allFinite(kb, kc, D, D));
  for (let ig = 0; ig < nq; ig += 4) {
    const nr = min(4, nq - ig);
    const p0 = P + <usize>ig * Bkb, d0 = dS + <usize>ig * Bkb;
    // S -> P rows, dO V^T -> dS rows
    let a0 = Qs + <usize>ig * Db;
    let a1 = nr > 1 ? a0 + Db : a0, a2 = nr > 2 ? a0 + 2 * Db : a0, a3 = nr > 3 ? a0 + 3 * Db : a0;
    gemm4(a0, a1, a2, a3, 4, Kt, Bkb, p0, p0 + Bkb, p0 + 2 * Bkb, p0 + 3 * Bkb, D, Bk, false);
    a0 = dorow + <usize>ig * DVb;
    a1 = nr > 1 ? a0 + DVb : a0; a2 = nr > 2 ? a0 + 2 * DVb : a0; a3 = nr > 3 ? a0 + 3 * DVb : a0;
    gemm4(a0, a1, a2, a3, 4, Vt, Bkb, d0, d0 + Bkb, d0 + 2 * Bkb, d0 + 3 * Bkb, DV, Bk, false);
    for (let r = 0; r < nr; r++) {
      const i = ig + r;
      const pr = p0 + <usize>r * Bkb, dr = d0 + <usize>r * Bkb;
      // -lse and D from memory: V8 would otherwise re-splat them on every iteration.
      v128.store(slot, f32x4.splat(-load<f32>(L + (<usize>i << 2))));
      v128.store(slot, f32x4.splat(load<f32>(Dl + (<usize>i << 2))), 16);
      for (let o: usize = 0; o < Bkb; o += 16) {
        const p = exp4(f32x4.add(v128.load(pr + o), v128.load(slot)));
        v128.store(pr + o, p);
        v128.store(dr + o, f32x4.mul(p, f32x4.sub(v128.load(dr + o), v128.load(slot, 16))));
      }
      if (cls == PARTIAL) {
        maskRow(pr, Bk, i0 + i, j0, kc, loOff, hiOff, mask, hb, msq, msk, 0);
        maskRow(dr, Bk, i0 + i, j0, kc, loOff, hiOff, mask, hb, msq, msk, 0);
      }
    }
    if (exact) continue;
    if (dQ != 0) {
      // dQ[rows] += dS K
      const c0 = dQ + <usize>ig * Db;
      const c1 = nr > 1 ? c0 + Db : dummy, c2 = nr > 2 ? c0 + 2 * Db : dummy, c3 = nr > 3 ? c0 + 3 * Db : dummy;
      gemm4(d0, d0 + Bkb, d0 + 2 * Bkb, d0 + 3 * Bkb, 4, kb, Db, c0, c1, c2, c3, kc, D, true);
    }
  }
  if (exact) {
    // Row by row, key by key in ascending order (dQ over keys, dK and dV over rows: as the products do).
    for (let i = 0; i < nq; i++) {
      for (let jj = 0; jj < kc; jj++) {
        if (!allowedAt(i0 + i, j0 + jj, loOff, hiOff, mask, hb, msq, msk) || load<f32>(L + (<usize>i << 2)) == Infinity) continue;
        const pv = load<f32>(P + <usize>i * Bkb + (<usize>jj << 2)), dsv = load<f32>(dS + <usize>i * Bkb + (<usize>jj << 2));
        if (dQ != 0) axpy(dQ + <usize>i * Db, dsv, kb + <usize>jj * Db, D);
        if (dK != 0) {
          axpy(dV + <usize>jj * DVb, pv, dorow + <usize>i * DVb, DV);
          axpy(dK + <usize>jj * Db, dsv, Qs + <usize>i * Db, D);
        }
      }
    }
    return;
  }
  if (dK != 0) {
    // dV[keys] += P^T dO, dK[keys] += dS^T Q, contracting over the nq rows.
    for (let jj = 0; jj < kc; jj += 4) {
      const n = kc - jj;
      const pa = P + (<usize>jj << 2), da = dS + (<usize>jj << 2);
      let c0 = dV + <usize>jj * DVb;
      gemm4(pa, pa + 4, pa + 8, pa + 12, Bkb, dorow, DVb, c0, n > 1 ? c0 + DVb : dummy, n > 2 ? c0 + 2 * DVb : dummy, n > 3 ? c0 + 3 * DVb : dummy, nq, DV, true);
      c0 = dK + <usize>jj * Db;
      gemm4(da, da + 4, da + 8, da + 12, Bkb, Qs, Db, c0, n > 1 ? c0 + Db : dummy, n > 2 ? c0 + 2 * Db : dummy, n > 3 ? c0 + 3 * Db : dummy, nq, D, true);
    }
  }
}


/**
 * dK and dV (and, fused, dQ). Not fused: items (b, kv head, key block); each sums dK, dV of its keys over
 * the query heads of the group and the query blocks its band meets (in that order). Fused (every
 * (b, kv head) is one item): dQ too, summed over key blocks in ascending order straight into dq (zeroed
 * first) -- the same tiles in the same order as attn_bwd_q, so both give the same bits.
 */
export function attn_bwd_kv(q: usize, k: usize, v: usize, dout: usize, Lv: usize, Dv: usize,
  dq: usize, dk: usize, dv: usize,
  mask: usize, msb: i32, msh: i32, msq: i32, msk: i32,
  B: i32, H: i32, KH: i32, Sq: i32, Sk: i32, D: i32, DV: i32, scale: f32,
  loOff: i32, hiOff: i32, Bq: i32, Bk: i32, fused: i32,
  scratch: usize, sstride: i32, ctr: usize, tid: i32, nthreads: i32): void {
  const group = H / KH;
  const nKB = (Sk + Bk - 1) / Bk;
  const nItems = fused != 0 ? B * KH : B * KH * nKB;
  const Bq4 = up4(Bq);
  const base = scratch + <usize>tid * <usize>sstride;
  const Kt = base;
  const Vt = Kt + (<usize>(D * Bk) << 2);
  const Pb = Vt + (<usize>(DV * Bk) << 2);
  const dSb = Pb + (<usize>(Bq4 * Bk) << 2);
  const dKb = dSb + (<usize>(Bq4 * Bk) << 2);
  const dVb = dKb + (<usize>(Bk * D) << 2);
  const dQb = dVb + (<usize>(Bk * DV) << 2);
  const Qs = dQb + (<usize>(Bq4 * D) << 2);
  const slot = Qs + (<usize>(Bq4 * D) << 2);
  const dummy = slot + 32;
  const Db = <usize>D << 2, DVb = <usize>DV << 2;
  for (;;) {
    const t = atomic.add<i32>(ctr, 1);
    if (t >= nItems) break;
    const bk = fused != 0 ? t : t / nKB;
    const kbFirst = fused != 0 ? 0 : t % nKB;
    const kbEnd = fused != 0 ? nKB : kbFirst + 1;
    const b = bk / KH, kvh = bk % KH;
    const mbase = b * msb;
    if (fused != 0) zero(dq + <usize>(bk * group * Sq) * Db, group * Sq * D);
    for (let kbi = kbFirst; kbi < kbEnd; kbi++) {
      const j0 = kbi * Bk, kc = min(Bk, Sk - j0), jl = j0 + kc - 1;
      const krow = k + <usize>(bk * Sk + j0) * Db;
      const vrow = v + <usize>(bk * Sk + j0) * DVb;
      transposeBlock(krow, D, kc, D, Kt, Bk);
      transposeBlock(vrow, DV, kc, DV, Vt, Bk);
      zero(dKb, kc * D);
      zero(dVb, kc * DV);
      // query rows whose band meets the block: i + loOff <= jl and i + hiOff >= j0
      const iLo = <i32>max<i64>(0, <i64>j0 - hiOff), iHi = <i32>min<i64>(<i64>Sq - 1, <i64>jl - loOff);
      if (iLo <= iHi) {
        for (let hh = 0; hh < group; hh++) {
          const h = kvh * group + hh;
          const hb = mbase + h * msh;
          for (let qb = iLo / Bq; qb <= iHi / Bq; qb++) {
            const i0 = qb * Bq, nq = min(Bq, Sq - i0);
            const cls = classify(i0, i0 + nq - 1, h, 1, j0, kc, Bk, loOff, hiOff, mask, mbase, msh, msq, msk);
            if (cls == SKIP) continue;
            atomic.add<i32>(ctr, 1, 4);
            if (cls == PARTIAL) atomic.add<i32>(ctr, 1, 8);
            const row = (b * H + h) * Sq + i0;
            bwdTile(q + <usize>row * Db, dout + <usize>row * DVb, Lv + (<usize>row << 2), Dv + (<usize>row << 2), nq, i0,
              Kt, Vt, krow, j0, kc, cls, D, DV, Bk, scale, loOff, hiOff, mask, hb, msq, msk,
              Pb, dSb, dKb, dVb, fused != 0 ? dq + <usize>row * Db : 0, Qs, slot, dummy);
          }
        }
      }
      memory.copy(dk + <usize>(bk * Sk + j0) * Db, dKb, <usize>(kc * D) << 2); // (scale is in Qs)
      memory.copy(dv + <usize>(bk * Sk + j0) * DVb, dVb, <usize>(kc * DV) << 2);
    }
    if (fused != 0) {
      const p = dq + <usize>(bk * group * Sq) * Db;
      scaleRows(p, p, group * Sq * D, scale);
    }
  }
}

/** dQ (when attn_bwd_kv was not fused): items (b, head, query block), biggest query positions first; each sums dS K over its key blocks in ascending order. */
export function attn_bwd_q(q: usize, k: usize, v: usize, dout: usize, Lv: usize, Dv: usize, dq: usize,
  mask: usize, msb: i32, msh: i32, msq: i32, msk: i32,
  B: i32, H: i32, KH: i32, Sq: i32, Sk: i32, D: i32, DV: i32, scale: f32,
  loOff: i32, hiOff: i32, Bq: i32, Bk: i32,
  scratch: usize, sstride: i32, ctr: usize, tid: i32, nthreads: i32): void {
  const group = H / KH;
  const nQB = (Sq + Bq - 1) / Bq;
  const perQB = B * H;
  const nItems = perQB * nQB;
  const Bq4 = up4(Bq);
  const base = scratch + <usize>tid * <usize>sstride;
  const Kt = base;
  const Vt = Kt + (<usize>(D * Bk) << 2);
  const Pb = Vt + (<usize>(DV * Bk) << 2);
  const dSb = Pb + (<usize>(Bq4 * Bk) << 2);
  const dKb = dSb + (<usize>(Bq4 * Bk) << 2);
  const dVb = dKb + (<usize>(Bk * D) << 2);
  const dQb = dVb + (<usize>(Bk * DV) << 2);
  const Qs = dQb + (<usize>(Bq4 * D) << 2);
  const slot = Qs + (<usize>(Bq4 * D) << 2);
  const dummy = slot + 32;
  const Db = <usize>D << 2, DVb = <usize>DV << 2;
  for (;;) {
    const t = atomic.add<i32>(ctr, 1);
    if (t >= nItems) break;
    const qb = nQB - 1 - t / perQB;
    const bh = t % perQB;
    const b = bh / H, h = bh % H;
    const bk = b * KH + h / group;
    const i0 = qb * Bq, nq = min(Bq, Sq - i0), i1 = i0 + nq - 1;
    const row = bh * Sq + i0;
    const mbase = b * msb;
    const hb = mbase + h * msh;
    zero(dQb, nq * D);
    const jlo = <i32>max<i64>(0, <i64>i0 + loOff), jhi = <i32>min<i64>(<i64>Sk - 1, <i64>i1 + hiOff);
    if (jlo <= jhi) {
      for (let kbi = jlo / Bk; kbi <= jhi / Bk; kbi++) {
        const j0 = kbi * Bk, kc = min(Bk, Sk - j0);
        const cls = classify(i0, i1, h, 1, j0, kc, Bk, loOff, hiOff, mask, mbase, msh, msq, msk);
        if (cls == SKIP) continue;
        atomic.add<i32>(ctr, 1, 4);
        if (cls == PARTIAL) atomic.add<i32>(ctr, 1, 8);
        const krow = k + <usize>(bk * Sk + j0) * Db;
        transposeBlock(krow, D, kc, D, Kt, Bk);
        transposeBlock(v + <usize>(bk * Sk + j0) * DVb, DV, kc, DV, Vt, Bk);
        bwdTile(q + <usize>row * Db, dout + <usize>row * DVb, Lv + (<usize>row << 2), Dv + (<usize>row << 2), nq, i0,
          Kt, Vt, krow, j0, kc, cls, D, DV, Bk, scale, loOff, hiOff, mask, hb, msq, msk,
          Pb, dSb, 0, 0, dQb, Qs, slot, dummy);
      }
    }
    scaleRows(dq + <usize>row * Db, dQb, nq * D, scale);
  }
}
