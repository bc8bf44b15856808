// nn kernels (see README.md for the ABI): softmax and log-softmax with their backward passes, layer and RMS
// norm with theirs, embedding gather and scatter-add, cross-entropy, and the optimizer's AdamW update.
// The specification is src/backend/reference/nn.ts (and reference/optim.ts): NaN, -Infinity and fully
// masked rows behave exactly as there.
//
// Precision: elementwise work is float32 on f32x4 lanes; every sum over a row or over rows (max aside) is
// accumulated in float64 lanes (f64x2), as the reference does, so the statistics are the reference's up to
// the order of the additions. exp is a float32 polynomial (expv, below). Results agree with the reference
// to a few float32 ulps of the row's scale; dweight/dbias of the norm backward passes and scatterAdd are
// bitwise the reference's (same float64 operations in the same order). AdamW is float32 throughout.
//
// Threads: a kernel's rows (or units of rows) are split into contiguous ranges by tid; dweight/dbias are
// split by column ranges, each column summed over all rows in row order by one thread. No result depends
// on the thread count.

// ---- helpers ----

/** a * b + c on f32 lanes: fused in the relaxed-SIMD build. */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/**
 * exp on f32 lanes (Cephes expf): x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two for an exact
 * reduction), exp(r) by a degree-7 polynomial (within 1 ulp of exp, measured), times 2^n built in the
 * exponent bits in two halves, so that n from -150 to 128 works (gradual underflow to subnormals, overflow to
 * Infinity). x is first clamped to [-104, 88.8] (pmin/pmax keep NaN): exp(-104) rounds to +0 (so -Infinity
 * gives 0), exp(88.8) overflows to Infinity; NaN gives NaN. n = round(x log2 e) comes from adding 1.5 * 2^23,
 * whose float32 sum rounds to an integer: its bits minus the constant's are n.
 */
// @ts-ignore: decorator
@inline function expv(x0: v128): v128 {
  const x = f32x4.pmax(f32x4.pmin(x0, f32x4.splat(88.8)), f32x4.splat(-104));
  const magic = f32x4.splat(12582912); // 1.5 * 2^23
  const fx = madd(x, f32x4.splat(1.44269504088896341), magic);
  const t = f32x4.sub(fx, magic);
  const n = i32x4.sub(fx, magic);
  let r = madd(t, f32x4.splat(-0.693359375), x);
  r = madd(t, f32x4.splat(2.12194440e-4), r);
  const z = f32x4.mul(r, r);
  let p = f32x4.splat(1.9875691500e-4);
  p = madd(p, r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(madd(p, z, r), f32x4.splat(1));
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  const bias = i32x4.splat(127);
  return f32x4.mul(f32x4.mul(y, i32x4.shl(i32x4.add(n1, bias), 23)), i32x4.shl(i32x4.add(n2, bias), 23));
}

/** expv on one value (row tails), so that every element of a row gets the same exp. */
// @ts-ignore: decorator
@inline function exps(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}

/**
 * Natural log in float64, without tables (AssemblyScript's Math.log reads a lookup table from static
 * data, which the kernel ABI does not allow): x = 2^k m with m in [sqrt(1/2), sqrt(2)), and
 * log(m) = 2 atanh(f), f = (m - 1) / (m + 1), |f| < 0.1716, by its series up to f^21 (truncation < 1e-19
 * relative). Used once per row.
 */
function log64(x: f64): f64 {
  if (!(x > 0)) return x == 0 ? -Infinity : NaN;
  if (x == Infinity) return x;
  let k: i32 = 0;
  if (x < 2.2250738585072014e-308) {
    x *= 18014398509481984; // 2^54: subnormal to normal
    k = -54;
  }
  const bits = reinterpret<u64>(x);
  k += <i32>(bits >> 52) - 1023;
  let m = reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    k++;
  }
  const f = (m - 1) / (m + 1);
  const f2 = f * f;
  const p = f2 * (1.0 / 3 + f2 * (1.0 / 5 + f2 * (1.0 / 7 + f2 * (1.0 / 9 + f2 * (1.0 / 11 + f2 * (1.0 / 13 + f2 * (1.0 / 15 + f2 * (1.0 / 17 + f2 * (1.0 / 19 + f2 * (1.0 / 21))))))))));
  return <f64>k * 0.6931471805599453 + 2 * f + 2 * f * p;
}

/** The low two f32 lanes as f64 lanes. */
// @ts-ignore: decorator
@inline function lo64(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}

/** The high two f32 lanes as f64 lanes. */
// @ts-ignore: decorator
@inline function hi64(v: v128): v128 {
  return f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 2, 3));
}

/** Two f64x2 vectors rounded to one f32x4 [a0, a1, b0, b1]. */
// @ts-ignore: decorator
@inline function demote2(a: v128, b: v128): v128 {
  return i64x2.shuffle(f32x4.demote_f64x2_zero(a), f32x4.demote_f64x2_zero(b), 0, 2);
}

// @ts-ignore: decorator
@inline function hsum64(a: v128): f64 {
  return f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
}

/** Max of the lanes; NaN if any lane is NaN (f32.max propagates NaN). */
// @ts-ignore: decorator
@inline function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/** Start of part `k` of `total` items split into `parts` contiguous ranges. */
// @ts-ignore: decorator
@inline function part(total: i32, k: i32, parts: i32): i32 {
  return <i32>((<i64>total * k) / parts);
}

/**
 * Row max of a contiguous row, NaN if the row has a NaN (as the reference's); -Infinity for a row entirely
 * -Infinity. pmax (one instruction; it skips a NaN operand on the right) plus a separate NaN flag is much
 * faster than the NaN-propagating f32x4.max.
 */
function rowMax(x: usize, n: i32): f32 {
  let a = f32x4.splat(-Infinity);
  let b = a;
  let c = a;
  let d = a;
  let nan = i32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    const v0 = v128.load(x + o);
    const v1 = v128.load(x + o, 16);
    const v2 = v128.load(x + o, 32);
    const v3 = v128.load(x + o, 48);
    a = f32x4.pmax(a, v0);
    b = f32x4.pmax(b, v1);
    c = f32x4.pmax(c, v2);
    d = f32x4.pmax(d, v3);
    nan = v128.or(nan, v128.or(v128.or(f32x4.ne(v0, v0), f32x4.ne(v1, v1)), v128.or(f32x4.ne(v2, v2), f32x4.ne(v3, v3))));
  }
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    a = f32x4.pmax(a, v);
    nan = v128.or(nan, f32x4.ne(v, v));
  }
  if (v128.any_true(nan)) return NaN;
  let m = hmax(f32x4.pmax(f32x4.pmax(a, b), f32x4.pmax(c, d)));
  for (; i < n; i++) m = max(m, load<f32>(x + (<usize>i << 2)));
  return m;
}

/** Row max of a strided row (stride in bytes). */
function rowMaxStrided(x: usize, n: i32, stride: usize): f32 {
  let m: f32 = -Infinity;
  for (let i = 0; i < n; i++) m = max(m, load<f32>(x + <usize>i * stride));
  return m;
}

/** Max of four strided rows side by side (lane l = row l, element i at i * stride bytes); NaN in a lane with a NaN. */
function lanesMax(x: usize, n: i32, stride: usize): v128 {
  let m = f32x4.splat(-Infinity);
  let nan = i32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const v = v128.load(x + <usize>i * stride);
    m = f32x4.pmax(m, v);
    nan = v128.or(nan, f32x4.ne(v, v));
  }
  return v128.bitselect(f32x4.splat(NaN), m, nan);
}

/** y = exp(x - m) over a contiguous row; returns the sum of y in float64. */
function expRow(x: usize, y: usize, n: i32, m: f32): f64 {
  const mv = f32x4.splat(m);
  let s0 = f64x2.splat(0);
  let s1 = s0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const e = expv(f32x4.sub(v128.load(x + o), mv));
    v128.store(y + o, e);
    s0 = f64x2.add(s0, lo64(e));
    s1 = f64x2.add(s1, hi64(e));
  }
  let s = hsum64(f64x2.add(s0, s1));
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const e = exps(load<f32>(x + o) - m);
    store<f32>(y + o, e);
    s += <f64>e;
  }
  return s;
}

/** sum(exp(x - m)) over a contiguous row, in float64 (nothing stored). */
function expSumRow(x: usize, n: i32, m: f32): f64 {
  const mv = f32x4.splat(m);
  let s0 = f64x2.splat(0);
  let s1 = s0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const e = expv(f32x4.sub(v128.load(x + (<usize>i << 2)), mv));
    s0 = f64x2.add(s0, lo64(e));
    s1 = f64x2.add(s1, hi64(e));
  }
  let s = hsum64(f64x2.add(s0, s1));
  for (; i < n; i++) s += <f64>exps(load<f32>(x + (<usize>i << 2)) - m);
  return s;
}

/** y *= a over a contiguous row. */
function scaleRow(y: usize, n: i32, a: f32): void {
  const av = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.mul(v128.load(y + o), av));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) * a);
  }
}

/** y = v over a row (n values). */
function fillRow(y: usize, n: i32, v: f32): void {
  const vv = f32x4.splat(v);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), vv);
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), v);
}

/** Sum of a contiguous row in float64. */
function sumRow(x: usize, n: i32): f64 {
  let s0 = f64x2.splat(0);
  let s1 = s0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    s0 = f64x2.add(s0, lo64(v));
    s1 = f64x2.add(s1, hi64(v));
  }
  let s = hsum64(f64x2.add(s0, s1));
  for (; i < n; i++) s += <f64>load<f32>(x + (<usize>i << 2));
  return s;
}

// Softmax-like kernels over [outer, n, inner]. inner == 1: each row is contiguous and SIMD runs along it.
// inner > 1: four neighbouring rows (o, j..j+3) are adjacent in memory at every i, so SIMD runs across them
// (one row per lane, element stride inner); the last inner % 4 rows of each o are done one at a time.
// Work units: rows (inner == 1), or (o, block of 4 j's) pairs.

/** Number of work units of an [outer, n, inner] kernel. */
// @ts-ignore: decorator
@inline function unitsOf(outer: i32, inner: i32): i32 {
  return inner == 1 ? outer : outer * ((inner + 3) >> 2);
}

// ---- softmax ----

function softmaxRow(x: usize, y: usize, n: i32): void {
  const m = rowMax(x, n);
  if (m == -Infinity) {
    fillRow(y, n, 0);
    return;
  }
  const s = expRow(x, y, n, m);
  scaleRow(y, n, <f32>(1 / s));
}

function softmaxStrided(x: usize, y: usize, n: i32, stride: usize): void {
  const m = rowMaxStrided(x, n, stride);
  if (m == -Infinity) {
    for (let i = 0; i < n; i++) store<f32>(y + <usize>i * stride, 0);
    return;
  }
  let s: f64 = 0;
  for (let i = 0; i < n; i++) {
    const e = exps(load<f32>(x + <usize>i * stride) - m);
    store<f32>(y + <usize>i * stride, e);
    s += <f64>e;
  }
  const a = <f32>(1 / s);
  for (let i = 0; i < n; i++) store<f32>(y + <usize>i * stride, load<f32>(y + <usize>i * stride) * a);
}

/** Four rows side by side (lane l = row l, element i at i * stride bytes). */
function softmaxLanes(x: usize, y: usize, n: i32, stride: usize): void {
  const mv0 = lanesMax(x, n, stride);
  // A lane entirely -Infinity: subtract 0 instead (exp(-Infinity) = 0) and scale by 0 at the end.
  const dead = f32x4.eq(mv0, f32x4.splat(-Infinity));
  const mv = v128.bitselect(f32x4.splat(0), mv0, dead);
  let s0 = f64x2.splat(0);
  let s1 = s0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i * stride;
    const e = expv(f32x4.sub(v128.load(x + o), mv));
    v128.store(y + o, e);
    s0 = f64x2.add(s0, lo64(e));
    s1 = f64x2.add(s1, hi64(e));
  }
  const one = f64x2.splat(1);
  const a = v128.bitselect(f32x4.splat(0), demote2(f64x2.div(one, s0), f64x2.div(one, s1)), dead);
  for (let i = 0; i < n; i++) {
    const o = <usize>i * stride;
    v128.store(y + o, f32x4.mul(v128.load(y + o), a));
  }
}

export function nn_softmax(x: usize, y: usize, outer: i32, n: i32, inner: i32, tid: i32, nthreads: i32): void {
  const units = unitsOf(outer, inner);
  const u0 = part(units, tid, nthreads);
  const u1 = part(units, tid + 1, nthreads);
  if (inner == 1) {
    for (let r = u0; r < u1; r++) {
      const o = (<usize>r * <usize>n) << 2;
      softmaxRow(x + o, y + o, n);
    }
    return;
  }
  const nb = (inner + 3) >> 2;
  const stride = <usize>inner << 2;
  for (let u = u0; u < u1; u++) {
    const ob = u / nb;
    const j = (u % nb) << 2;
    const base = ((<usize>ob * <usize>n * <usize>inner) + <usize>j) << 2;
    if (j + 4 <= inner) softmaxLanes(x + base, y + base, n, stride);
    else for (let jj = 0; jj < inner - j; jj++) softmaxStrided(x + base + (<usize>jj << 2), y + base + (<usize>jj << 2), n, stride);
  }
}

// ---- softmax backward: dx = y (dy - sum(dy y)) ----

function softmaxBackRow(y: usize, dy: usize, dx: usize, n: i32): void {
  let s0 = f64x2.splat(0);
  let s1 = s0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const a = v128.load(y + o);
    const b = v128.load(dy + o);
    s0 = f64x2.add(s0, f64x2.mul(lo64(a), lo64(b)));
    s1 = f64x2.add(s1, f64x2.mul(hi64(a), hi64(b)));
  }
  let s = hsum64(f64x2.add(s0, s1));
  for (; i < n; i++) {
    const o = <usize>i << 2;
    s += <f64>load<f32>(y + o) * <f64>load<f32>(dy + o);
  }
  const d = <f32>s;
  const dv = f32x4.splat(d);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, f32x4.mul(v128.load(y + o), f32x4.sub(v128.load(dy + o), dv)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(y + o) * (load<f32>(dy + o) - d));
  }
}

function softmaxBackStrided(y: usize, dy: usize, dx: usize, n: i32, stride: usize): void {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i * stride;
    s += <f64>load<f32>(y + o) * <f64>load<f32>(dy + o);
  }
  const d = <f32>s;
  for (let i = 0; i < n; i++) {
    const o = <usize>i * stride;
    store<f32>(dx + o, load<f32>(y + o) * (load<f32>(dy + o) - d));
  }
}

function softmaxBackLanes(y: usize, dy: usize, dx: usize, n: i32, stride: usize): void {
  let s0 = f64x2.splat(0);
  let s1 = s0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i * stride;
    const a = v128.load(y + o);
    const b = v128.load(dy + o);
    s0 = f64x2.add(s0, f64x2.mul(lo64(a), lo64(b)));
    s1 = f64x2.add(s1, f64x2.mul(hi64(a), hi64(b)));
  }
  const dv = demote2(s0, s1);
  for (let i = 0; i < n; i++) {
    const o = <usize>i * stride;
    v128.store(dx + o, f32x4.mul(v128.load(y + o), f32x4.sub(v128.load(dy + o), dv)));
  }
}

export function nn_softmax_backward(y: usize, dy: usize, dx: usize, outer: i32, n: i32, inner: i32, tid: i32, nthreads: i32): void {
  const units = unitsOf(outer, inner);
  const u0 = part(units, tid, nthreads);
  const u1 = part(units, tid + 1, nthreads);
  if (inner == 1) {
    for (let r = u0; r < u1; r++) {
      const o = (<usize>r * <usize>n) << 2;
      softmaxBackRow(y + o, dy + o, dx + o, n);
    }
    return;
  }
  const nb = (inner + 3) >> 2;
  const stride = <usize>inner << 2;
  for (let u = u0; u < u1; u++) {
    const ob = u / nb;
    const j = (u % nb) << 2;
    const base = ((<usize>ob * <usize>n * <usize>inner) + <usize>j) << 2;
    if (j + 4 <= inner) softmaxBackLanes(y + base, dy + base, dx + base, n, stride);
    else {
      for (let jj = 0; jj < inner - j; jj++) {
        const b = base + (<usize>jj << 2);
        softmaxBackStrided(y + b, dy + b, dx + b, n, stride);
      }
    }
  }
}

// ---- log-softmax: y = (x - max) - log(sum(exp(x - max))) ----
// (x - max) first: exact near the max, so the largest log-probabilities keep their relative precision.

function logSoftmaxRow(x: usize, y: usize, n: i32): void {
  const m = rowMax(x, n);
  if (m == -Infinity) {
    fillRow(y, n, -Infinity);
    return;
  }
  const l = <f32>log64(expSumRow(x, n, m));
  const mv = f32x4.splat(m);
  const lv = f32x4.splat(l);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.sub(f32x4.sub(v128.load(x + o), mv), lv));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, (load<f32>(x + o) - m) - l);
  }
}

function logSoftmaxStrided(x: usize, y: usize, n: i32, stride: usize): void {
  const m = rowMaxStrided(x, n, stride);
  if (m == -Infinity) {
    for (let i = 0; i < n; i++) store<f32>(y + <usize>i * stride, -Infinity);
    return;
  }
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += <f64>exps(load<f32>(x + <usize>i * stride) - m);
  const l = <f32>log64(s);
  for (let i = 0; i < n; i++) store<f32>(y + <usize>i * stride, (load<f32>(x + <usize>i * stride) - m) - l);
}

function logSoftmaxLanes(x: usize, y: usize, n: i32, stride: usize): void {
  const mv0 = lanesMax(x, n, stride);
  const dead = f32x4.eq(mv0, f32x4.splat(-Infinity));
  const mv = v128.bitselect(f32x4.splat(0), mv0, dead);
  let s0 = f64x2.splat(0);
  let s1 = s0;
  for (let i = 0; i < n; i++) {
    const e = expv(f32x4.sub(v128.load(x + <usize>i * stride), mv));
    s0 = f64x2.add(s0, lo64(e));
    s1 = f64x2.add(s1, hi64(e));
  }
  const l0 = f64x2.replace_lane(f64x2.splat(log64(f64x2.extract_lane(s0, 0))), 1, log64(f64x2.extract_lane(s0, 1)));
  const l1 = f64x2.replace_lane(f64x2.splat(log64(f64x2.extract_lane(s1, 0))), 1, log64(f64x2.extract_lane(s1, 1)));
  const lv = demote2(l0, l1);
  const ninf = f32x4.splat(-Infinity);
  for (let i = 0; i < n; i++) {
    const o = <usize>i * stride;
    v128.store(y + o, v128.bitselect(ninf, f32x4.sub(f32x4.sub(v128.load(x + o), mv), lv), dead));
  }
}

export function nn_log_softmax(x: usize, y: usize, outer: i32, n: i32, inner: i32, tid: i32, nthreads: i32): void {
  const units = unitsOf(outer, inner);
  const u0 = part(units, tid, nthreads);
  const u1 = part(units, tid + 1, nthreads);
  if (inner == 1) {
    for (let r = u0; r < u1; r++) {
      const o = (<usize>r * <usize>n) << 2;
      logSoftmaxRow(x + o, y + o, n);
    }
    return;
  }
  const nb = (inner + 3) >> 2;
  const stride = <usize>inner << 2;
  for (let u = u0; u < u1; u++) {
    const ob = u / nb;
    const j = (u % nb) << 2;
    const base = ((<usize>ob * <usize>n * <usize>inner) + <usize>j) << 2;
    if (j + 4 <= inner) logSoftmaxLanes(x + base, y + base, n, stride);
    else for (let jj = 0; jj < inner - j; jj++) logSoftmaxStrided(x + base + (<usize>jj << 2), y + base + (<usize>jj << 2), n, stride);
  }
}

// ---- log-softmax backward: dx = dy - exp(y) sum(dy); zero on a row entirely -Infinity ----

function logSoftmaxBackRow(y: usize, dy: usize, dx: usize, n: i32): void {
  if (rowMax(y, n) == -Infinity) {
    fillRow(dx, n, 0);
    return;
  }
  const s = <f32>sumRow(dy, n);
  const ns = f32x4.splat(-s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, madd(expv(v128.load(y + o)), ns, v128.load(dy + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(dy + o) - exps(load<f32>(y + o)) * s);
  }
}

function logSoftmaxBackStrided(y: usize, dy: usize, dx: usize, n: i32, stride: usize): void {
  if (rowMaxStrided(y, n, stride) == -Infinity) {
    for (let i = 0; i < n; i++) store<f32>(dx + <usize>i * stride, 0);
    return;
  }
  let s64: f64 = 0;
  for (let i = 0; i < n; i++) s64 += <f64>load<f32>(dy + <usize>i * stride);
  const s = <f32>s64;
  for (let i = 0; i < n; i++) {
    const o = <usize>i * stride;
    store<f32>(dx + o, load<f32>(dy + o) - exps(load<f32>(y + o)) * s);
  }
}

function logSoftmaxBackLanes(y: usize, dy: usize, dx: usize, n: i32, stride: usize): void {
  const mv = lanesMax(y, n, stride);
  let s0 = f64x2.splat(0);
  let s1 = s0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i * stride;
    const d = v128.load(dy + o);
    s0 = f64x2.add(s0, lo64(d));
    s1 = f64x2.add(s1, hi64(d));
  }
  const dead = f32x4.eq(mv, f32x4.splat(-Infinity));
  const ns = f32x4.neg(demote2(s0, s1));
  const zero = f32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const o = <usize>i * stride;
    v128.store(dx + o, v128.bitselect(zero, madd(expv(v128.load(y + o)), ns, v128.load(dy + o)), dead));
  }
}

export function nn_log_softmax_backward(y: usize, dy: usize, dx: usize, outer: i32, n: i32, inner: i32, tid: i32, nthreads: i32): void {
  const units = unitsOf(outer, inner);
  const u0 = part(units, tid, nthreads);
  const u1 = part(units, tid + 1, nthreads);
  if (inner == 1) {
    for (let r = u0; r < u1; r++) {
      const o = (<usize>r * <usize>n) << 2;
      logSoftmaxBackRow(y + o, dy + o, dx + o, n);
    }
    return;
  }
  const nb = (inner + 3) >> 2;
  const stride = <usize>inner << 2;
  for (let u = u0; u < u1; u++) {
    const ob = u / nb;
    const j = (u % nb) << 2;
    const base = ((<usize>ob * <usize>n * <usize>inner) + <usize>j) << 2;
    if (j + 4 <= inner) logSoftmaxBackLanes(y + base, dy + base, dx + base, n, stride);
    else {
      for (let jj = 0; jj < inner - j; jj++) {
        const b = base + (<usize>jj << 2);
        logSoftmaxBackStrided(y + b, dy + b, dx + b, n, stride);
      }
    }
  }
}

// ---- layer norm: xhat = (x - mean) * rstd (biased variance, two passes), y = xhat * w + b ----
// w, b: pointer 0 = absent. mean, rstd and xhat in float64 as the reference; the affine step in float32.

export function nn_layer_norm(x: usize, w: usize, b: usize, y: usize, mean: usize, rstd: usize, rows: i32, cols: i32, eps: f64, tid: i32, nthreads: i32): void {
  const r0 = part(rows, tid, nthreads);
  const r1 = part(rows, tid + 1, nthreads);
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  for (let r = r0; r < r1; r++) {
    const off = (<usize>r * <usize>cols) << 2;
    const xr = x + off;
    const yr = y + off;
    const mu = sumRow(xr, cols) / <f64>cols;
    const muv = f64x2.splat(mu);
    let v0 = f64x2.splat(0);
    let v1 = v0;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const xv = v128.load(xr + (<usize>c << 2));
      const d0 = f64x2.sub(lo64(xv), muv);
      const d1 = f64x2.sub(hi64(xv), muv);
      v0 = f64x2.add(v0, f64x2.mul(d0, d0));
      v1 = f64x2.add(v1, f64x2.mul(d1, d1));
    }
    let vs = hsum64(f64x2.add(v0, v1));
    for (; c < cols; c++) {
      const d = <f64>load<f32>(xr + (<usize>c << 2)) - mu;
      vs += d * d;
    }
    const rs = 1 / Math.sqrt(vs / <f64>cols + eps);
    store<f32>(mean + (<usize>r << 2), <f32>mu);
    store<f32>(rstd + (<usize>r << 2), <f32>rs);
    const rsv = f64x2.splat(rs);
    c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      const xv = v128.load(xr + o);
      const xh = demote2(f64x2.mul(f64x2.sub(lo64(xv), muv), rsv), f64x2.mul(f64x2.sub(hi64(xv), muv), rsv));
      const wv = w != 0 ? v128.load(w + o) : one;
      const bv = b != 0 ? v128.load(b + o) : zero;
      v128.store(yr + o, madd(xh, wv, bv));
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const xh = <f32>((<f64>load<f32>(xr + o) - mu) * rs);
      store<f32>(yr + o, xh * (w != 0 ? load<f32>(w + o) : 1) + (b != 0 ? load<f32>(b + o) : 0));
    }
  }
}

/**
 * dweight (and dbias) of the norms over this thread's columns: dw[c] = sum over rows of dy * xhat, with
 * xhat = (x - mean) * rstd (layer norm; mean pointer 0 for RMS norm: xhat = x * rstd), db[c] = sum of dy;
 * each column summed in float64 in row order, as the reference. acc: 2 * cols float64 of scratch (the
 * thread uses its own columns of it). dw or db pointer 0: not wanted.
 */
function normParamGrads(x: usize, dy: usize, mean: usize, rstd: usize, dw: usize, db: usize, acc: usize, rows: i32, cols: i32, tid: i32, nthreads: i32): void {
  const blocks = (cols + 3) >> 2;
  const c0 = part(blocks, tid, nthreads) << 2;
  const c1 = min(cols, part(blocks, tid + 1, nthreads) << 2);
  if (c0 >= c1) return;
  const accW = acc;
  const accB = acc + (<usize>cols << 3);
  memory.fill(accW + (<usize>c0 << 3), 0, <usize>(c1 - c0) << 3);
  memory.fill(accB + (<usize>c0 << 3), 0, <usize>(c1 - c0) << 3);
  const cv = c0 + ((c1 - c0) & ~3);
  for (let r = 0; r < rows; r++) {
    const off = (<usize>r * <usize>cols) << 2;
    const mu: f64 = mean != 0 ? <f64>load<f32>(mean + (<usize>r << 2)) : 0;
    const rs = <f64>load<f32>(rstd + (<usize>r << 2));
    const muv = f64x2.splat(mu);
    const rsv = f64x2.splat(rs);
    let c = c0;
    for (; c < cv; c += 4) {
      const o = off + (<usize>c << 2);
      const xv = v128.load(x + o);
      const gv = v128.load(dy + o);
      const g0 = lo64(gv);
      const g1 = hi64(gv);
      const a = <usize>c << 3;
      if (dw != 0) {
        const h0 = f64x2.mul(f64x2.sub(lo64(xv), muv), rsv);
        const h1 = f64x2.mul(f64x2.sub(hi64(xv), muv), rsv);
        v128.store(accW + a, f64x2.add(v128.load(accW + a), f64x2.mul(g0, h0)));
        v128.store(accW + a, f64x2.add(v128.load(accW + a, 16), f64x2.mul(g1, h1)), 16);
      }
      if (db != 0) {
        v128.store(accB + a, f64x2.add(v128.load(accB + a), g0));
        v128.store(accB + a, f64x2.add(v128.load(accB + a, 16), g1), 16);
      }
    }
    for (; c < c1; c++) {
      const o = off + (<usize>c << 2);
      const g = <f64>load<f32>(dy + o);
      const a = <usize>c << 3;
      if (dw != 0) store<f64>(accW + a, load<f64>(accW + a) + g * ((<f64>load<f32>(x + o) - mu) * rs));
      if (db != 0) store<f64>(accB + a, load<f64>(accB + a) + g);
    }
  }
  for (let c = c0; c < c1; c++) {
    if (dw != 0) store<f32>(dw + (<usize>c << 2), <f32>load<f64>(accW + (<usize>c << 3)));
    if (db != 0) store<f32>(db + (<usize>c << 2), <f32>load<f64>(accB + (<usize>c << 3)));
  }
}

/**
 * Layer norm backward. Rows (this thread's range): with g = dy * w and xhat = (x - mean) * rstd,
 * dx = rstd * (g - mean(g) - xhat * mean(g xhat)) (the two means in float64). Columns (this thread's
 * range): dweight, dbias (see normParamGrads). w, dw, db: pointer 0 = absent. acc: 2 * cols float64.
 */
export function nn_layer_norm_backward(x: usize, w: usize, mean: usize, rstd: usize, dy: usize, dx: usize, dw: usize, db: usize, acc: usize, rows: i32, cols: i32, tid: i32, nthreads: i32): void {
  const r0 = part(rows, tid, nthreads);
  const r1 = part(rows, tid + 1, nthreads);
  const one = f32x4.splat(1);
  for (let r = r0; r < r1; r++) {
    const off = (<usize>r * <usize>cols) << 2;
    const xr = x + off;
    const gr = dy + off;
    const mu = load<f32>(mean + (<usize>r << 2));
    const rs = load<f32>(rstd + (<usize>r << 2));
    const mu64 = f64x2.splat(<f64>mu);
    const rs64 = f64x2.splat(<f64>rs);
    let a0 = f64x2.splat(0);
    let a1 = a0;
    let b0 = a0;
    let b1 = a0;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      const xv = v128.load(xr + o);
      const gv = v128.load(gr + o);
      let g0 = lo64(gv);
      let g1 = hi64(gv);
      if (w != 0) {
        const wv = v128.load(w + o);
        g0 = f64x2.mul(g0, lo64(wv));
        g1 = f64x2.mul(g1, hi64(wv));
      }
      const h0 = f64x2.mul(f64x2.sub(lo64(xv), mu64), rs64);
      const h1 = f64x2.mul(f64x2.sub(hi64(xv), mu64), rs64);
      a0 = f64x2.add(a0, g0);
      a1 = f64x2.add(a1, g1);
      b0 = f64x2.add(b0, f64x2.mul(g0, h0));
      b1 = f64x2.add(b1, f64x2.mul(g1, h1));
    }
    let sg = hsum64(f64x2.add(a0, a1));
    let sgx = hsum64(f64x2.add(b0, b1));
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const g = <f64>load<f32>(gr + o) * (w != 0 ? <f64>load<f32>(w + o) : 1);
      sg += g;
      sgx += g * ((<f64>load<f32>(xr + o) - <f64>mu) * <f64>rs);
    }
    const mg = <f32>(sg / <f64>cols);
    const mgx = <f32>(sgx / <f64>cols);
    const muv = f32x4.splat(mu);
    const rsv = f32x4.splat(rs);
    const mgv = f32x4.splat(mg);
    const nmgxv = f32x4.splat(-mgx);
    const dr = dx + off;
    c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      const xh = f32x4.mul(f32x4.sub(v128.load(xr + o), muv), rsv);
      const g = f32x4.mul(v128.load(gr + o), w != 0 ? v128.load(w + o) : one);
      v128.store(dr + o, f32x4.mul(rsv, madd(xh, nmgxv, f32x4.sub(g, mgv))));
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const xh = (load<f32>(xr + o) - mu) * rs;
      const g = load<f32>(gr + o) * (w != 0 ? load<f32>(w + o) : 1);
      store<f32>(dr + o, rs * ((g - mg) - xh * mgx));
    }
  }
  if (dw != 0 || db != 0) normParamGrads(x, dy, mean, rstd, dw, db, acc, rows, cols, tid, nthreads);
}

// ---- RMS norm: rstd = 1 / sqrt(mean(x^2) + eps), y = x * rstd * w ----

export function nn_rms_norm(x: usize, w: usize, y: usize, rstd: usize, rows: i32, cols: i32, eps: f64, tid: i32, nthreads: i32): void {
  const r0 = part(rows, tid, nthreads);
  const r1 = part(rows, tid + 1, nthreads);
  for (let r = r0; r < r1; r++) {
    const off = (<usize>r * <usize>cols) << 2;
    const xr = x + off;
    const yr = y + off;
    let s0 = f64x2.splat(0);
    let s1 = s0;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const xv = v128.load(xr + (<usize>c << 2));
      const a = lo64(xv);
      const b = hi64(xv);
      s0 = f64x2.add(s0, f64x2.mul(a, a));
      s1 = f64x2.add(s1, f64x2.mul(b, b));
    }
    let ss = hsum64(f64x2.add(s0, s1));
    for (; c < cols; c++) {
      const v = <f64>load<f32>(xr + (<usize>c << 2));
      ss += v * v;
    }
    const rs = 1 / Math.sqrt(ss / <f64>cols + eps);
    store<f32>(rstd + (<usize>r << 2), <f32>rs);
    const rsf = <f32>rs;
    const rsv = f32x4.splat(rsf);
    c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      let v = f32x4.mul(v128.load(xr + o), rsv);
      if (w != 0) v = f32x4.mul(v, v128.load(w + o));
      v128.store(yr + o, v);
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(yr + o, load<f32>(xr + o) * rsf * (w != 0 ? load<f32>(w + o) : 1));
    }
  }
}

/**
 * RMS norm backward. Rows: with g = dy * w and xhat = x * rstd, dx = rstd * (g - xhat * mean(g xhat)).
 * Columns: dweight (normParamGrads). w, dw: pointer 0 = absent. acc: 2 * cols float64.
 */
export function nn_rms_norm_backward(x: usize, w: usize, rstd: usize, dy: usize, dx: usize, dw: usize, acc: usize, rows: i32, cols: i32, tid: i32, nthreads: i32): void {
  const r0 = part(rows, tid, nthreads);
  const r1 = part(rows, tid + 1, nthreads);
  const one = f32x4.splat(1);
  for (let r = r0; r < r1; r++) {
    const off = (<usize>r * <usize>cols) << 2;
    const xr = x + off;
    const gr = dy + off;
    const rs = load<f32>(rstd + (<usize>r << 2));
    const rs64 = f64x2.splat(<f64>rs);
    let b0 = f64x2.splat(0);
    let b1 = b0;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      const xv = v128.load(xr + o);
      const gv = v128.load(gr + o);
      let g0 = lo64(gv);
      let g1 = hi64(gv);
      if (w != 0) {
        const wv = v128.load(w + o);
        g0 = f64x2.mul(g0, lo64(wv));
        g1 = f64x2.mul(g1, hi64(wv));
      }
      b0 = f64x2.add(b0, f64x2.mul(g0, f64x2.mul(lo64(xv), rs64)));
      b1 = f64x2.add(b1, f64x2.mul(g1, f64x2.mul(hi64(xv), rs64)));
    }
    let sgx = hsum64(f64x2.add(b0, b1));
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const g = <f64>load<f32>(gr + o) * (w != 0 ? <f64>load<f32>(w + o) : 1);
      sgx += g * (<f64>load<f32>(xr + o) * <f64>rs);
    }
    const mgx = <f32>(sgx / <f64>cols);
    const rsv = f32x4.splat(rs);
    const nmgxv = f32x4.splat(-mgx);
    const dr = dx + off;
    c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      const xh = f32x4.mul(v128.load(xr + o), rsv);
      const g = f32x4.mul(v128.load(gr + o), w != 0 ? v128.load(w + o) : one);
      v128.store(dr + o, f32x4.mul(rsv, madd(xh, nmgxv, g)));
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const xh = load<f32>(xr + o) * rs;
      const g = load<f32>(gr + o) * (w != 0 ? load<f32>(w + o) : 1);
      store<f32>(dr + o, rs * (g - xh * mgx));
    }
  }
  if (dw != 0) normParamGrads(x, dy, 0, rstd, dw, 0, acc, rows, cols, tid, nthreads);
}

// ---- embedding: gather and its gradient ----

/** out[i, :] = table[ids[i], :] for i in this thread's range of the n ids. */
export function nn_gather(table: usize, cols: i32, ids: usize, n: i32, out: usize, tid: i32, nthreads: i32): void {
  const i0 = part(n, tid, nthreads);
  const i1 = part(n, tid + 1, nthreads);
  const bytes = <usize>cols << 2;
  for (let i = i0; i < i1; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    memory.copy(out + <usize>i * bytes, table + <usize>id * bytes, bytes);
  }
}

/**
 * The positions of each id, in position order (a stable counting sort): ids with value k are
 * order[starts[k] .. starts[k + 1]). starts: rows + 1 int32, cursor: rows int32 of scratch. One thread
 * (tid 0) does it all.
 */
export function nn_scatter_sort(ids: usize, n: i32, rows: i32, starts: usize, cursor: usize, order: usize, tid: i32, nthreads: i32): void {
  if (tid != 0) return;
  memory.fill(cursor, 0, <usize>rows << 2);
  for (let i = 0; i < n; i++) {
    const a = cursor + (<usize>load<i32>(ids + (<usize>i << 2)) << 2);
    store<i32>(a, load<i32>(a) + 1);
  }
  let s = 0;
  for (let k = 0; k < rows; k++) {
    const a = cursor + (<usize>k << 2);
    const c = load<i32>(a);
    store<i32>(starts + (<usize>k << 2), s);
    store<i32>(a, s);
    s += c;
  }
  store<i32>(starts + (<usize>rows << 2), s);
  for (let i = 0; i < n; i++) {
    const a = cursor + (<usize>load<i32>(ids + (<usize>i << 2)) << 2);
    const p = load<i32>(a);
    store<i32>(order + (<usize>p << 2), i);
    store<i32>(a, p + 1);
  }
}

/**
 * out[k, :] = sum of dy[i, :] over the positions i with ids[i] = k, in position order, in float64 (as the
 * reference), for the rows k of this thread; zeros for ids that do not occur. starts/order from
 * nn_scatter_sort; acc: cols float64 per thread, at acc + tid * accStride.
 */
export function nn_scatter_add(dy: usize, out: usize, rows: i32, cols: i32, starts: usize, order: usize, acc: usize, accStride: i32, tid: i32, nthreads: i32): void {
  const k0 = part(rows, tid, nthreads);
  const k1 = part(rows, tid + 1, nthreads);
  const bytes = <usize>cols << 2;
  const a = acc + <usize>tid * <usize>accStride;
  for (let k = k0; k < k1; k++) {
    const s0 = load<i32>(starts + (<usize>k << 2));
    const s1 = load<i32>(starts + (<usize>(k + 1) << 2));
    const dst = out + <usize>k * bytes;
    if (s0 == s1) {
      memory.fill(dst, 0, bytes);
      continue;
    }
    if (s1 - s0 == 1) {
      // One term: its float64 sum is the value itself.
      memory.copy(dst, dy + <usize>load<i32>(order + (<usize>s0 << 2)) * bytes, bytes);
      continue;
    }
    memory.fill(a, 0, <usize>cols << 3);
    for (let s = s0; s < s1; s++) {
      const src = dy + <usize>load<i32>(order + (<usize>s << 2)) * bytes;
      let c = 0;
      for (; c + 4 <= cols; c += 4) {
        const v = v128.load(src + (<usize>c << 2));
        const p = a + (<usize>c << 3);
        v128.store(p, f64x2.add(v128.load(p), lo64(v)));
        v128.store(p, f64x2.add(v128.load(p, 16), hi64(v)), 16);
      }
      for (; c < cols; c++) {
        const p = a + (<usize>c << 3);
        store<f64>(p, load<f64>(p) + <f64>load<f32>(src + (<usize>c << 2)));
      }
    }
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const p = a + (<usize>c << 3);
      v128.store(dst + (<usize>c << 2), demote2(v128.load(p), v128.load(p, 16)));
    }
    for (; c < cols; c++) store<f32>(dst + (<usize>c << 2), <f32>load<f64>(a + (<usize>c << 3)));
  }
}

// ---- cross-entropy, fused with log-softmax ----

/**
 * loss[r] = (1 - s) (lse - x[t]) + (s / C) sum_c (lse - x[c]) for each row r of logits [rows, C] in this
 * thread's range, in float64 from the row's lse; 0 for an ignored row (target -1); Infinity for a row
 * entirely -Infinity.
 */
export function nn_cross_entropy(logits: usize, targets: usize, loss: usize, rows: i32, classes: i32, smoothing: f64, tid: i32, nthreads: i32): void {
  const r0 = part(rows, tid, nthreads);
  const r1 = part(rows, tid + 1, nthreads);
  for (let r = r0; r < r1; r++) {
    const t = load<i32>(targets + (<usize>r << 2));
    const lr = loss + (<usize>r << 2);
    if (t < 0) {
      store<f32>(lr, 0);
      continue;
    }
    const x = logits + ((<usize>r * <usize>classes) << 2);
    const m = rowMax(x, classes);
    if (m == -Infinity) {
      store<f32>(lr, Infinity);
      continue;
    }
    const lse = <f64>m + log64(expSumRow(x, classes, m));
    let l = lse - <f64>load<f32>(x + (<usize>t << 2));
    // Only with smoothing: a -Infinity logit makes the smooth term Infinity, and 0 * Infinity is NaN.
    // sum_c (lse - x[c]) = C lse - sum_c x[c]: every term is >= 0, so no cancellation.
    if (smoothing > 0) l = (1 - smoothing) * l + (smoothing / <f64>classes) * (<f64>classes * lse - sumRow(x, classes));
    store<f32>(lr, <f32>l);
  }
}

/**
 * dlogits[r, c] = dloss[r] (softmax[r, c] - (1 - s) [c = t] - s / C); zero rows where the target is -1 or the
 * row is entirely -Infinity.
 */
export function nn_cross_entropy_backward(logits: usize, targets: usize, dloss: usize, dx: usize, rows: i32, classes: i32, smoothing: f64, tid: i32, nthreads: i32): void {
  const r0 = part(rows, tid, nthreads);
  const r1 = part(rows, tid + 1, nthreads);
  const sc = smoothing / <f64>classes;
  const scf = <f32>sc;
  const scv = f32x4.splat(scf);
  for (let r = r0; r < r1; r++) {
    const t = load<i32>(targets + (<usize>r << 2));
    const off = (<usize>r * <usize>classes) << 2;
    const x = logits + off;
    const d = dx + off;
    const m: f32 = t < 0 ? -Infinity : rowMax(x, classes);
    if (m == -Infinity) {
      fillRow(d, classes, 0);
      continue;
    }
    const s = expRow(x, d, classes, m); // d = exp(x - m) for now
    const inv = 1 / s;
    const g = load<f32>(dloss + (<usize>r << 2));
    const et = <f64>load<f32>(d + (<usize>t << 2));
    const invv = f32x4.splat(<f32>inv);
    const gv = f32x4.splat(g);
    let c = 0;
    for (; c + 4 <= classes; c += 4) {
      const o = <usize>c << 2;
      v128.store(d + o, f32x4.mul(gv, madd(v128.load(d + o), invv, f32x4.neg(scv))));
    }
    for (; c < classes; c++) {
      const o = <usize>c << 2;
      store<f32>(d + o, g * (load<f32>(d + o) * <f32>inv - scf));
    }
    // The target's entry in float64 (p_t - (1 - s) cancels when the prediction is confident).
    store<f32>(d + (<usize>t << 2), <f32>(<f64>g * (et * inv - (1 - smoothing) - sc)));
  }
}

// ---- AdamW ----

/**
 * One AdamW step over this thread's share of n elements, in place, in float32 (as PyTorch's own AdamW on
 * float32 parameters): the reference's formula (src/backend/reference/optim.ts) with sqrt(v) / sqrt(bc2)
 * as sqrt(v) * (1 / sqrt(bc2)). vmax: pointer 0 = no AMSGrad (f32x4.max keeps NaN, as Math.max). sign: -1 to
 * maximize, else 1 (g * -1 is exactly -g). omb1 = 1 - beta1, omb2 = 1 - beta2 (from float64).
 * (The reference's float64 arithmetic on f64x2 lanes would be bitwise equal to it, but is 3-4x slower:
 * f64x2 division and square root.)
 */
export function optim_adamw(p: usize, grad: usize, m: usize, v: usize, vmax: usize, n: i32, beta1: f32, beta2: f32, omb1: f32, omb2: f32, sign: f32, decay: f32, stepSize: f32, invBc2Sqrt: f32, eps: f32, tid: i32, nthreads: i32): void {
  const blocks = (n + 3) >> 2;
  const i0 = part(blocks, tid, nthreads) << 2;
  const i1 = min(n, part(blocks, tid + 1, nthreads) << 2);
  const b1 = f32x4.splat(beta1);
  const b2 = f32x4.splat(beta2);
  const o1 = f32x4.splat(omb1);
  const o2 = f32x4.splat(omb2);
  const sg = f32x4.splat(sign);
  const dc = f32x4.splat(decay);
  const nss = f32x4.splat(-stepSize);
  const ib = f32x4.splat(invBc2Sqrt);
  const ep = f32x4.splat(eps);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const g = f32x4.mul(v128.load(grad + o), sg);
    const mi = madd(b1, v128.load(m + o), f32x4.mul(o1, g));
    v128.store(m + o, mi);
    let vi = madd(b2, v128.load(v + o), f32x4.mul(f32x4.mul(o2, g), g));
    v128.store(v + o, vi);
    if (vmax != 0) {
      vi = f32x4.max(v128.load(vmax + o), vi);
      v128.store(vmax + o, vi);
    }
    const upd = f32x4.div(f32x4.mul(nss, mi), madd(f32x4.sqrt(vi), ib, ep));
    v128.store(p + o, madd(v128.load(p + o), dc, upd));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grad + o) * sign;
    const mi = beta1 * load<f32>(m + o) + omb1 * g;
    store<f32>(m + o, mi);
    let vi = beta2 * load<f32>(v + o) + omb2 * g * g;
    store<f32>(v + o, vi);
    if (vmax != 0) {
      vi = max(load<f32>(vmax + o), vi);
      store<f32>(vmax + o, vi);
    }
    store<f32>(p + o, load<f32>(p + o) * decay + (-stepSize * mi) / (Mathf.sqrt(vi) * invBc2Sqrt + eps));
  }
}
