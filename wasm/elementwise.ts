// Elementwise, reduction and layout kernels (see README.md for the ABI), wrapped by
// src/backend/wasm/elementwise.ts, which also decides the op codes below, collapses shapes and picks threads.
//
// Work split: elementwise and layout kernels give each thread a contiguous range of output elements whose
// bounds are multiples of 16 (a cache line of float32); reductions give each thread whole output elements.
// Every output element is computed by exactly one thread with the same instructions whatever its position
// (ragged tails run the same vector code on a partly filled vector), so results do not depend on nthreads.
//
// Accuracy: arithmetic that the reference does in float64 and rounds once is done so here too when float32
// would differ (rsqrt, the tanh/sigmoid/rsqrt derivatives, scalars not representable in float32, sums);
// + - * / of two float32 values are exact in float32 already. exp, log, tanh, sigmoid, silu, GELU are
// polynomial / rational approximations in float32 lanes (Cephes-style, Estrin-evaluated), a few float32
// ulps from the correctly rounded value (bounds stated and checked in test/wasm-elementwise.test.ts).

// ---- op codes (shared with src/backend/wasm/elementwise.ts) ----
const U_NEG = 0, U_EXP = 1, U_LOG = 2, U_SQRT = 3, U_RSQRT = 4, U_ABS = 5, U_TANH = 6, U_SIGMOID = 7,
  U_RELU = 8, U_GELU_TANH = 9, U_GELU_ERF = 10, U_SILU = 11;
const B_ADD = 0, B_SUB = 1, B_MUL = 2, B_DIV = 3, B_MAXIMUM = 4, B_MINIMUM = 5, B_EQ = 6, B_NE = 7,
  B_LT = 8, B_LE = 9, B_GT = 10, B_GE = 11;

// ---- small helpers ----

@inline function sp(x: f32): v128 {
  return f32x4.splat(x);
}

/** a * b + c: fused in the relaxed-SIMD build. */
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/** This thread's share [start, end) of n elements, bounds multiples of 16 (cache lines of float32). */
@inline function rangeStart(n: i32, tid: i32, nthreads: i32): i32 {
  const chunk = (((n + nthreads - 1) / nthreads + 15) >> 4) << 4;
  return min(n, tid * chunk);
}

@inline function rangeEnd(n: i32, tid: i32, nthreads: i32): i32 {
  const chunk = (((n + nthreads - 1) / nthreads + 15) >> 4) << 4;
  return min(n, tid * chunk + chunk);
}

/** This thread's share of `units` work items (whole items, no alignment). */
@inline function unitStart(units: i32, tid: i32, nthreads: i32): i32 {
  return <i32>((<i64>units * tid) / nthreads);
}

@inline function unitEnd(units: i32, tid: i32, nthreads: i32): i32 {
  return <i32>((<i64>units * (tid + 1)) / nthreads);
}

/** The first `k` (1..3) floats at p, in lanes 0..k-1 (zeros above). */
@inline function loadPartial(p: usize, k: i32): v128 {
  let v = f32x4.splat(0);
  v = v128.load32_lane(p, v, 0);
  if (k > 1) v = v128.load32_lane(p + 4, v, 1);
  if (k > 2) v = v128.load32_lane(p + 8, v, 2);
  return v;
}

@inline function storePartial(p: usize, v: v128, k: i32): void {
  v128.store32_lane(p, v, 0);
  if (k > 1) v128.store32_lane(p + 4, v, 1);
  if (k > 2) v128.store32_lane(p + 8, v, 2);
}

/** float32 lanes 0,1 and 2,3 as float64 pairs, and back (each value rounded once to float32). */
@inline function lo64(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}

@inline function hi64(v: v128): v128 {
  return f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 2, 3));
}

@inline function join32(lo: v128, hi: v128): v128 {
  return i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

// ---- vector math (float32 lanes) ----
//
// The polynomials' constants are read from a table `k` (filled once by ew_constants) rather than written as
// v128 constants: V8 rematerialises each v128 constant inside the loop (several instructions apiece), while
// a table operand is one load folded into the arithmetic (measured: exp 2.3 -> 1.6 ns per element).

const C_ONE: usize = 0, C_HALF = 16, C_ZERO = 32, C_SIGN = 48, C_INF = 64, C_NINF = 80, C_NAN = 96;
const E_LO: usize = 112, E_HI = 128, E_L2E = 144, E_MAGIC = 160, E_C1 = 176, E_C2 = 192, E_P0 = 208, E_P1 = 224,
  E_P2 = 240, E_P3 = 256, E_P4 = 272, E_P5 = 288, E_BIAS = 304, E_127 = 320;
const L_MIN: usize = 336, L_2P23 = 352, L_126 = 368, L_23 = 384, L_MANT = 400, L_HEXP = 416, L_SQRTH = 432,
  L_P0 = 448, L_P1 = 464, L_P2 = 480, L_P3 = 496, L_P4 = 512, L_P5 = 528, L_P6 = 544, L_P7 = 560, L_P8 = 576,
  L_C2 = 592, L_NHALF = 608, L_C1 = 624;
const T_P0: usize = 640, T_P1 = 656, T_P2 = 672, T_P3 = 688, T_P4 = 704, T_M2 = 720, T_THR = 736;
const R_C0: usize = 752, R_C1 = 768, R_C2 = 784, R_C3 = 800, R_C4 = 816, R_C5 = 832, R_C6 = 848, R_C7 = 864,
  R_C8 = 880, R_C9 = 896, R_ISQ2 = 912;
const G_2K: usize = 928, G_C = 944, G_3C = 960, G_CAP = 976, G_ISQ2PI = 992;
/** Bytes of the constant table. */
const TABLE_BYTES = 1024;

@inline function putF(k: usize, off: usize, v: f32): void {
  v128.store(k + off, f32x4.splat(v));
}

@inline function putI(k: usize, off: usize, v: i32): void {
  v128.store(k + off, i32x4.splat(v));
}

/**
 * Writes the constant table (TABLE_BYTES at k, 16-byte aligned) and returns its size; thread 0 only.
 * The JS side calls it once per runtime and passes k to ew_unary / ew_unary_backward.
 */
export function ew_constants(k: usize, tid: i32, nthreads: i32): i32 {
  if (tid != 0) return TABLE_BYTES;
  putF(k, C_ONE, 1.0); putF(k, C_HALF, 0.5); putF(k, C_ZERO, 0.0); putI(k, C_SIGN, 0x80000000);
  putF(k, C_INF, Infinity); putF(k, C_NINF, -Infinity); putF(k, C_NAN, NaN);
  // exp (Cephes expf)
  putF(k, E_LO, -104.0); putF(k, E_HI, 89.0); putF(k, E_L2E, 1.44269504088896341); putF(k, E_MAGIC, 12582912.0);
  putF(k, E_C1, -0.693359375); putF(k, E_C2, 2.12194440e-4);
  putF(k, E_P0, 1.9875691500e-4); putF(k, E_P1, 1.3981999507e-3); putF(k, E_P2, 8.3334519073e-3);
  putF(k, E_P3, 4.1665795894e-2); putF(k, E_P4, 1.6666665459e-1); putF(k, E_P5, 5.0000001201e-1);
  putI(k, E_BIAS, 0x4b400000); putI(k, E_127, 127);
  // log (Cephes logf)
  putF(k, L_MIN, 1.17549435e-38); putF(k, L_2P23, 8388608.0); putI(k, L_126, 126); putI(k, L_23, 23);
  putI(k, L_MANT, 0x007fffff); putI(k, L_HEXP, 0x3f000000); putF(k, L_SQRTH, 0.707106781186547524);
  putF(k, L_P0, 7.0376836292e-2); putF(k, L_P1, -1.1514610310e-1); putF(k, L_P2, 1.1676998740e-1);
  putF(k, L_P3, -1.2420140846e-1); putF(k, L_P4, 1.4249322787e-1); putF(k, L_P5, -1.6668057665e-1);
  putF(k, L_P6, 2.0000714765e-1); putF(k, L_P7, -2.4999993993e-1); putF(k, L_P8, 3.3333331174e-1);
  putF(k, L_C2, -2.12194440e-4); putF(k, L_NHALF, -0.5); putF(k, L_C1, 0.693359375);
  // tanh (Cephes tanhf, |x| < 0.625)
  putF(k, T_P0, -5.70498872745e-3); putF(k, T_P1, 2.06390887954e-2); putF(k, T_P2, -5.37397155531e-2);
  putF(k, T_P3, 1.33314422036e-1); putF(k, T_P4, -3.33332819422e-1); putF(k, T_M2, -2.0); putF(k, T_THR, 0.625);
  // erfc (Numerical Recipes erfcc)
  putF(k, R_C0, 0.17087277); putF(k, R_C1, -0.82215223); putF(k, R_C2, 1.48851587); putF(k, R_C3, -1.13520398);
  putF(k, R_C4, 0.27886807); putF(k, R_C5, -0.18628806); putF(k, R_C6, 0.09678418); putF(k, R_C7, 0.37409196);
  putF(k, R_C8, 1.00002368); putF(k, R_C9, -1.26551223); putF(k, R_ISQ2, 0.7071067811865476);
  // GELU
  putF(k, G_2K, 2 * 0.7978845608028654); putF(k, G_C, 0.044715); putF(k, G_3C, 3 * 0.044715);
  putF(k, G_CAP, 1e8); putF(k, G_ISQ2PI, 0.3989422804014327);
  return TABLE_BYTES;
}

/**
 * e^x: x = n ln2 + r (Cody-Waite), e^r by Cephes' expf polynomial, times 2^n applied as two factors so
 * that subnormal results are rounded once. NaN propagates; overflow gives +Infinity, underflow 0.
 */
@inline function vexp(k: usize, x0: v128): v128 {
  // pmax/pmin keep a NaN x (x < lo is false for NaN).
  const x = f32x4.pmin(f32x4.pmax(x0, v128.load(k, E_LO)), v128.load(k, E_HI));
  // t = x log2(e) + 1.5 * 2^23: the addition rounds to an integer n, kept in t's low mantissa bits.
  const t = madd(x, v128.load(k, E_L2E), v128.load(k, E_MAGIC));
  const n = f32x4.sub(t, v128.load(k, E_MAGIC));
  let r = madd(n, v128.load(k, E_C1), x); // exact: n and the constant have few bits
  r = madd(n, v128.load(k, E_C2), r);
  const z = f32x4.mul(r, r);
  // Estrin's scheme (shorter dependency chains than Horner: these loops are latency-bound).
  const a = madd(v128.load(k, E_P0), r, v128.load(k, E_P1));
  const b = madd(v128.load(k, E_P2), r, v128.load(k, E_P3));
  const c = madd(v128.load(k, E_P4), r, v128.load(k, E_P5));
  const p0 = madd(madd(a, z, b), z, c);
  const p = f32x4.add(madd(p0, z, r), v128.load(k, C_ONE));
  // n = bits(t) - bits(1.5 * 2^23); the shift by 23 drops the constant's bits, so (n + 127) << 23 = 2^n.
  const ni = i32x4.sub(t, v128.load(k, E_BIAS));
  const n1 = i32x4.shr_s(ni, 1);
  const n2 = i32x4.sub(ni, n1);
  const s1 = i32x4.shl(i32x4.add(n1, v128.load(k, E_127)), 23);
  const s2 = i32x4.shl(i32x4.add(n2, v128.load(k, E_127)), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/**
 * ln x: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln(m) by Cephes' logf polynomial. Subnormals are
 * scaled first; 0 gives -Infinity, negatives and NaN give NaN, +Infinity gives +Infinity.
 */
@inline function vlog(k: usize, x: v128): v128 {
  const sub = f32x4.lt(x, v128.load(k, L_MIN));
  const xs = v128.bitselect(f32x4.mul(x, v128.load(k, L_2P23)), x, sub);
  let e = i32x4.sub(i32x4.shr_u(xs, 23), v128.load(k, L_126));
  e = i32x4.sub(e, v128.and(sub, v128.load(k, L_23)));
  const m = v128.or(v128.and(xs, v128.load(k, L_MANT)), v128.load(k, L_HEXP)); // [0.5, 1)
  const lt = f32x4.lt(m, v128.load(k, L_SQRTH));
  e = i32x4.add(e, lt); // -1 where m < sqrt(1/2)
  const f = f32x4.add(f32x4.sub(m, v128.load(k, C_ONE)), v128.and(lt, m)); // m - 1, or 2m - 1 (exact)
  const ef = f32x4.convert_i32x4_s(e);
  const z = f32x4.mul(f, f);
  // P(f) = f ((q0 z + q1) z^2 + q2 z + q3) + P8, q_i = P_2i f + P_2i+1 (Estrin)
  const q0 = madd(v128.load(k, L_P0), f, v128.load(k, L_P1));
  const q1 = madd(v128.load(k, L_P2), f, v128.load(k, L_P3));
  const q2 = madd(v128.load(k, L_P4), f, v128.load(k, L_P5));
  const q3 = madd(v128.load(k, L_P6), f, v128.load(k, L_P7));
  const z2 = f32x4.mul(z, z);
  const inner = madd(madd(q0, z, q1), z2, madd(q2, z, q3));
  const p = madd(inner, f, v128.load(k, L_P8));
  let y = f32x4.mul(f32x4.mul(p, f), z);
  y = madd(ef, v128.load(k, L_C2), y);
  y = madd(z, v128.load(k, L_NHALF), y);
  let r = f32x4.add(f, y);
  r = madd(ef, v128.load(k, L_C1), r);
  r = v128.bitselect(v128.load(k, C_NINF), r, f32x4.eq(x, v128.load(k, C_ZERO)));
  r = v128.bitselect(v128.load(k, C_INF), r, f32x4.eq(x, v128.load(k, C_INF)));
  return v128.bitselect(v128.load(k, C_NAN), r, v128.not(f32x4.ge(x, v128.load(k, C_ZERO)))); // x < 0 or NaN
}

/**
 * tanh: on |x|, Cephes' odd polynomial below 0.625, else 1 - 2e/(1 + e) with e = exp(-2|x|); then x's
 * sign bit (so tanh(-0) = -0). Near 1 the error is that of 1 - q for a small q known to a few ulps of q,
 * so tanh is almost always correctly rounded there: the derivative 1 - y^2 amplifies any error of y.
 */
@inline function vtanh(k: usize, x: v128): v128 {
  const ax = f32x4.abs(x);
  const z = f32x4.mul(x, x);
  const z2 = f32x4.mul(z, z);
  const a = madd(v128.load(k, T_P0), z, v128.load(k, T_P1));
  const b = madd(v128.load(k, T_P2), z, v128.load(k, T_P3));
  const p = madd(madd(a, z2, b), z, v128.load(k, T_P4));
  const small = madd(f32x4.mul(p, z), ax, ax);
  const e = vexp(k, f32x4.mul(ax, v128.load(k, T_M2)));
  const one = v128.load(k, C_ONE);
  const big = f32x4.sub(one, f32x4.div(f32x4.add(e, e), f32x4.add(one, e)));
  const t = v128.bitselect(small, big, f32x4.lt(ax, v128.load(k, T_THR)));
  return v128.or(t, v128.and(x, v128.load(k, C_SIGN)));
}

/**
 * 1/(1 + e^-z) without overflow or cancellation: e = exp(-|z|), q = e/(1+e); z >= 0: 1 - q, else q.
 * (1 - q rather than 1/(1+e): near 1 it is then almost always correctly rounded, as y (1 - y) needs.)
 */
@inline function vsigmoid(k: usize, z: v128): v128 {
  const e = vexp(k, f32x4.neg(f32x4.abs(z)));
  const one = v128.load(k, C_ONE);
  const q = f32x4.div(e, f32x4.add(one, e));
  return v128.bitselect(f32x4.sub(one, q), q, f32x4.ge(z, v128.load(k, C_ZERO)));
}

/** 1 - sigmoid(z), as accurate (z >= 0: q, else 1 - q). */
@inline function vsigmoidc(k: usize, z: v128): v128 {
  const e = vexp(k, f32x4.neg(f32x4.abs(z)));
  const one = v128.load(k, C_ONE);
  const q = f32x4.div(e, f32x4.add(one, e));
  return v128.bitselect(q, f32x4.sub(one, q), f32x4.ge(z, v128.load(k, C_ZERO)));
}

/** 2u for GELU-tanh, u = sqrt(2/pi) (x + 0.044715 x^3): 0.5 (1 + tanh u) = sigmoid(2u). */
@inline function geluTanh2u(k: usize, x: v128): v128 {
  const x2 = f32x4.mul(x, x);
  return f32x4.mul(f32x4.mul(x, v128.load(k, G_2K)), madd(x2, v128.load(k, G_C), v128.load(k, C_ONE)));
}

/**
 * erfc(|x| / sqrt 2) by the Chebyshev fit of Numerical Recipes (erfcc, relative error below 1.2e-7):
 * t = 1/(1 + z/2), erfc z = t exp(-z^2 + P(t)).
 */
@inline function verfcHalf(k: usize, x: v128): v128 {
  const z = f32x4.mul(f32x4.abs(x), v128.load(k, R_ISQ2));
  const one = v128.load(k, C_ONE);
  const t = f32x4.div(one, madd(z, v128.load(k, C_HALF), one));
  // P(t) = t^6 (q0 t^2 + q1) + t^2 (q2 t^2 + q3) + q4, q_i = C_2i t + C_2i+1 (Estrin)
  const t2 = f32x4.mul(t, t);
  const t4 = f32x4.mul(t2, t2);
  const q0 = madd(v128.load(k, R_C0), t, v128.load(k, R_C1));
  const q1 = madd(v128.load(k, R_C2), t, v128.load(k, R_C3));
  const q2 = madd(v128.load(k, R_C4), t, v128.load(k, R_C5));
  const q3 = madd(v128.load(k, R_C6), t, v128.load(k, R_C7));
  const q4 = madd(v128.load(k, R_C8), t, v128.load(k, R_C9));
  const p = madd(madd(q0, t2, q1), f32x4.mul(t4, t2), madd(madd(q2, t2, q3), t2, q4));
  return f32x4.mul(t, vexp(k, f32x4.sub(p, f32x4.mul(z, z))));
}

/** Phi(x) = 0.5 (1 + erf(x / sqrt 2)), with no cancellation for negative x. */
@inline function vphi(k: usize, x: v128): v128 {
  const h = f32x4.mul(verfcHalf(k, x), v128.load(k, C_HALF));
  return v128.bitselect(f32x4.sub(v128.load(k, C_ONE), h), h, f32x4.ge(x, v128.load(k, C_ZERO)));
}

/** y = f(x) on one vector. */
@inline function unaryV(op: i32, k: usize, x: v128): v128 {
  switch (op) {
    case U_NEG: return f32x4.neg(x);
    case U_EXP: return vexp(k, x);
    case U_LOG: return vlog(k, x);
    case U_SQRT: return f32x4.sqrt(x);
    case U_RSQRT: {
      // 1 / sqrt(x) in float64, rounded once (as the reference).
      const one = f64x2.splat(1.0);
      return join32(f64x2.div(one, f64x2.sqrt(lo64(x))), f64x2.div(one, f64x2.sqrt(hi64(x))));
    }
    case U_ABS: return f32x4.abs(x);
    case U_TANH: return vtanh(k, x);
    case U_SIGMOID: return vsigmoid(k, x);
    case U_RELU: return f32x4.pmax(v128.load(k, C_ZERO), x); // 0 < x ? x : 0 (NaN and -0 give 0, as the reference)
    case U_GELU_TANH: return f32x4.mul(x, vsigmoid(k, geluTanh2u(k, x)));
    case U_GELU_ERF: return f32x4.mul(x, vphi(k, x));
    case U_SILU: return f32x4.mul(x, vsigmoid(k, x));
  }
  return x;
}

/** f'(x) * dy on one vector: x the input, y the forward output. */
@inline function derivV(op: i32, k: usize, x: v128, y: v128, dy: v128): v128 {
  switch (op) {
    case U_NEG: return f32x4.neg(dy);
    case U_EXP: return f32x4.mul(y, dy);
    case U_LOG: return f32x4.div(dy, x);
    case U_SQRT: return f32x4.div(f32x4.mul(dy, v128.load(k, C_HALF)), y);
    case U_RSQRT: {
      // -0.5 x^-1.5 dy in float64: x^-1.5 = 1 / (x sqrt x).
      const h = f64x2.splat(-0.5);
      const xl = lo64(x), xh = hi64(x);
      const dl = f64x2.div(f64x2.mul(h, lo64(dy)), f64x2.mul(xl, f64x2.sqrt(xl)));
      const dh = f64x2.div(f64x2.mul(h, hi64(dy)), f64x2.mul(xh, f64x2.sqrt(xh)));
      return join32(dl, dh);
    }
    case U_ABS: {
      const one = v128.load(k, C_ONE);
      const zero = v128.load(k, C_ZERO);
      const s = v128.or(v128.and(f32x4.gt(x, zero), one), v128.and(f32x4.lt(x, zero), f32x4.neg(one)));
      return f32x4.mul(s, dy);
    }
    case U_TANH: {
      // (1 - y^2) dy in float64 (exact as the reference: no cancellation error near |y| = 1).
      const one = f64x2.splat(1.0);
      const yl = lo64(y), yh = hi64(y);
      return join32(
        f64x2.mul(f64x2.sub(one, f64x2.mul(yl, yl)), lo64(dy)),
        f64x2.mul(f64x2.sub(one, f64x2.mul(yh, yh)), hi64(dy)),
      );
    }
    case U_SIGMOID: {
      const one = f64x2.splat(1.0);
      const yl = lo64(y), yh = hi64(y);
      return join32(
        f64x2.mul(f64x2.mul(yl, f64x2.sub(one, yl)), lo64(dy)),
        f64x2.mul(f64x2.mul(yh, f64x2.sub(one, yh)), hi64(dy)),
      );
    }
    case U_RELU: return f32x4.mul(v128.and(f32x4.gt(x, v128.load(k, C_ZERO)), v128.load(k, C_ONE)), dy);
    case U_GELU_TANH: {
      // s = sigmoid(2u) = 0.5 (1 + tanh u); 1 - tanh^2 u = 4 s (1 - s);
      // d = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3c x^2). x^2 is capped (the term is 0 there anyway) so that
      // huge finite x gives 0 * finite, not 0 * Infinity; x = +-Infinity still gives NaN, as the reference.
      const z = geluTanh2u(k, x);
      const s = vsigmoid(k, z);
      const c = vsigmoidc(k, z);
      const x2 = f32x4.pmin(f32x4.mul(x, x), v128.load(k, G_CAP));
      const q = f32x4.mul(madd(x2, v128.load(k, G_3C), v128.load(k, C_ONE)), v128.load(k, G_2K));
      const d = madd(f32x4.mul(f32x4.mul(s, c), q), x, s);
      return f32x4.mul(d, dy);
    }
    case U_GELU_ERF: {
      // Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi).
      const pdf = f32x4.mul(vexp(k, f32x4.mul(f32x4.mul(x, x), v128.load(k, L_NHALF))), v128.load(k, G_ISQ2PI));
      const d = madd(x, pdf, vphi(k, x));
      return f32x4.mul(d, dy);
    }
    case U_SILU: {
      // s (1 + x (1 - s))
      const s = vsigmoid(k, x);
      const c = vsigmoidc(k, x);
      return f32x4.mul(f32x4.mul(s, madd(x, c, v128.load(k, C_ONE))), dy);
    }
  }
  return dy;
}

// ---- unary ----

@inline function unaryLoop(op: i32, k: usize, x: usize, y: usize, s: i32, e: i32): void {
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, unaryV(op, k, v128.load(x + o)));
  }
  if (i < e) {
    const o = <usize>i << 2;
    storePartial(y + o, unaryV(op, k, loadPartial(x + o, e - i)), e - i);
  }
}

/** y[i] = f(x[i]), i < n; k: the constant table (ew_constants). */
export function ew_unary(op: i32, k: usize, x: usize, y: usize, n: i32, tid: i32, nthreads: i32): void {
  const s = rangeStart(n, tid, nthreads);
  const e = rangeEnd(n, tid, nthreads);
  if (s >= e) return;
  switch (op) {
    case U_NEG: unaryLoop(U_NEG, k, x, y, s, e); break;
    case U_EXP: unaryLoop(U_EXP, k, x, y, s, e); break;
    case U_LOG: unaryLoop(U_LOG, k, x, y, s, e); break;
    case U_SQRT: unaryLoop(U_SQRT, k, x, y, s, e); break;
    case U_RSQRT: unaryLoop(U_RSQRT, k, x, y, s, e); break;
    case U_ABS: unaryLoop(U_ABS, k, x, y, s, e); break;
    case U_TANH: unaryLoop(U_TANH, k, x, y, s, e); break;
    case U_SIGMOID: unaryLoop(U_SIGMOID, k, x, y, s, e); break;
    case U_RELU: unaryLoop(U_RELU, k, x, y, s, e); break;
    case U_GELU_TANH: unaryLoop(U_GELU_TANH, k, x, y, s, e); break;
    case U_GELU_ERF: unaryLoop(U_GELU_ERF, k, x, y, s, e); break;
    case U_SILU: unaryLoop(U_SILU, k, x, y, s, e); break;
  }
}

@inline function derivLoop(op: i32, k: usize, x: usize, y: usize, dy: usize, dx: usize, s: i32, e: i32): void {
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, derivV(op, k, v128.load(x + o), v128.load(y + o), v128.load(dy + o)));
  }
  if (i < e) {
    const o = <usize>i << 2;
    const m = e - i;
    storePartial(dx + o, derivV(op, k, loadPartial(x + o, m), loadPartial(y + o, m), loadPartial(dy + o, m)), m);
  }
}

/** dx[i] = f'(x[i]) dy[i] (y the forward output); k: the constant table. */
export function ew_unary_backward(op: i32, k: usize, x: usize, y: usize, dy: usize, dx: usize, n: i32, tid: i32, nthreads: i32): void {
  const s = rangeStart(n, tid, nthreads);
  const e = rangeEnd(n, tid, nthreads);
  if (s >= e) return;
  switch (op) {
    case U_NEG: derivLoop(U_NEG, k, x, y, dy, dx, s, e); break;
    case U_EXP: derivLoop(U_EXP, k, x, y, dy, dx, s, e); break;
    case U_LOG: derivLoop(U_LOG, k, x, y, dy, dx, s, e); break;
    case U_SQRT: derivLoop(U_SQRT, k, x, y, dy, dx, s, e); break;
    case U_RSQRT: derivLoop(U_RSQRT, k, x, y, dy, dx, s, e); break;
    case U_ABS: derivLoop(U_ABS, k, x, y, dy, dx, s, e); break;
    case U_TANH: derivLoop(U_TANH, k, x, y, dy, dx, s, e); break;
    case U_SIGMOID: derivLoop(U_SIGMOID, k, x, y, dy, dx, s, e); break;
    case U_RELU: derivLoop(U_RELU, k, x, y, dy, dx, s, e); break;
    case U_GELU_TANH: derivLoop(U_GELU_TANH, k, x, y, dy, dx, s, e); break;
    case U_GELU_ERF: derivLoop(U_GELU_ERF, k, x, y, dy, dx, s, e); break;
    case U_SILU: derivLoop(U_SILU, k, x, y, dy, dx, s, e); break;
  }
}

// ---- binary ----

/** a (op) b on lanes; exact IEEE float32 (as the reference's float64-then-round for these ops). */
@inline function binV(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case B_ADD: return f32x4.add(a, b);
    case B_SUB: return f32x4.sub(a, b);
    case B_MUL: return f32x4.mul(a, b);
    case B_DIV: return f32x4.div(a, b);
    // (a > b || a is NaN) ? a : b: NaN wins, ties (+-0) give b, as the reference.
    case B_MAXIMUM: return v128.bitselect(a, b, v128.or(f32x4.gt(a, b), f32x4.ne(a, a)));
    case B_MINIMUM: return v128.bitselect(a, b, v128.or(f32x4.lt(a, b), f32x4.ne(a, a)));
    case B_EQ: return v128.and(f32x4.eq(a, b), sp(1.0));
    case B_NE: return v128.and(f32x4.ne(a, b), sp(1.0));
    case B_LT: return v128.and(f32x4.lt(a, b), sp(1.0));
    case B_LE: return v128.and(f32x4.le(a, b), sp(1.0));
    case B_GT: return v128.and(f32x4.gt(a, b), sp(1.0));
    case B_GE: return v128.and(f32x4.ge(a, b), sp(1.0));
  }
  return a;
}

/** The same op on one float (the same IEEE result as a lane of binV). */
@inline function binS(op: i32, a: f32, b: f32): f32 {
  switch (op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_MAXIMUM: return a > b || a != a ? a : b;
    case B_MINIMUM: return a < b || a != a ? a : b;
    case B_EQ: return a == b ? 1 : 0;
    case B_NE: return a != b ? 1 : 0;
    case B_LT: return a < b ? 1 : 0;
    case B_LE: return a <= b ? 1 : 0;
    case B_GT: return a > b ? 1 : 0;
    case B_GE: return a >= b ? 1 : 0;
  }
  return a;
}

/**
 * One run of `len` outputs along the innermost axis; pattern: bit 1 = a advances (stride 1, else it is
 * one value), bit 0 = b advances.
 */
@inline function binSeg(op: i32, pat: i32, a: usize, b: usize, o: usize, len: i32): void {
  let i = 0;
  if (pat == 3) {
    for (; i + 8 <= len; i += 8) {
      const q = <usize>i << 2;
      v128.store(o + q, binV(op, v128.load(a + q), v128.load(b + q)));
      v128.store(o + q, binV(op, v128.load(a + q, 16), v128.load(b + q, 16)), 16);
    }
    for (; i + 4 <= len; i += 4) {
      const q = <usize>i << 2;
      v128.store(o + q, binV(op, v128.load(a + q), v128.load(b + q)));
    }
    for (; i < len; i++) {
      const q = <usize>i << 2;
      store<f32>(o + q, binS(op, load<f32>(a + q), load<f32>(b + q)));
    }
  } else if (pat == 2) {
    const bs = load<f32>(b);
    const bv = f32x4.splat(bs);
    for (; i + 8 <= len; i += 8) {
      const q = <usize>i << 2;
      v128.store(o + q, binV(op, v128.load(a + q), bv));
      v128.store(o + q, binV(op, v128.load(a + q, 16), bv), 16);
    }
    for (; i + 4 <= len; i += 4) {
      const q = <usize>i << 2;
      v128.store(o + q, binV(op, v128.load(a + q), bv));
    }
    for (; i < len; i++) {
      const q = <usize>i << 2;
      store<f32>(o + q, binS(op, load<f32>(a + q), bs));
    }
  } else if (pat == 1) {
    const as = load<f32>(a);
    const av = f32x4.splat(as);
    for (; i + 8 <= len; i += 8) {
      const q = <usize>i << 2;
      v128.store(o + q, binV(op, av, v128.load(b + q)));
      v128.store(o + q, binV(op, av, v128.load(b + q, 16)), 16);
    }
    for (; i + 4 <= len; i += 4) {
      const q = <usize>i << 2;
      v128.store(o + q, binV(op, av, v128.load(b + q)));
    }
    for (; i < len; i++) {
      const q = <usize>i << 2;
      store<f32>(o + q, binS(op, as, load<f32>(b + q)));
    }
  } else {
    const r = binS(op, load<f32>(a), load<f32>(b));
    const rv = f32x4.splat(r);
    for (; i + 4 <= len; i += 4) v128.store(o + (<usize>i << 2), rv);
    for (; i < len; i++) store<f32>(o + (<usize>i << 2), r);
  }
}

/**
 * The odometer over the outer axes of a collapsed nd problem. `dims` holds ndim sizes and then `nops`
 * stride arrays (each ndim int32, in elements); `idx` (this thread's scratch, ndim int32) and `offs`
 * (nops int32, right after idx) hold the position. Positions the walk at flat row `row`.
 */
function odoInit(dims: usize, ndim: i32, nops: i32, idx: usize, row: i32): void {
  const offs = idx + (<usize>ndim << 2);
  for (let k = 0; k < nops; k++) store<i32>(offs + (<usize>k << 2), 0);
  let r = row;
  for (let d = ndim - 2; d >= 0; d--) {
    const n = load<i32>(dims + (<usize>d << 2));
    const i = r % n;
    r = r / n;
    store<i32>(idx + (<usize>d << 2), i);
    for (let k = 0; k < nops; k++) {
      const st = load<i32>(dims + ((<usize>((k + 1) * ndim + d)) << 2));
      const p = offs + (<usize>k << 2);
      store<i32>(p, load<i32>(p) + i * st);
    }
  }
}

/** Advances the odometer by one row (the innermost axis is not part of it). */
function odoNext(dims: usize, ndim: i32, nops: i32, idx: usize): void {
  const offs = idx + (<usize>ndim << 2);
  for (let d = ndim - 2; d >= 0; d--) {
    const n = load<i32>(dims + (<usize>d << 2));
    const ip = idx + (<usize>d << 2);
    const i = load<i32>(ip) + 1;
    if (i < n) {
      store<i32>(ip, i);
      for (let k = 0; k < nops; k++) {
        const p = offs + (<usize>k << 2);
        store<i32>(p, load<i32>(p) + load<i32>(dims + ((<usize>((k + 1) * ndim + d)) << 2)));
      }
      return;
    }
    store<i32>(ip, 0);
    for (let k = 0; k < nops; k++) {
      const p = offs + (<usize>k << 2);
      store<i32>(p, load<i32>(p) - (n - 1) * load<i32>(dims + ((<usize>((k + 1) * ndim + d)) << 2)));
    }
  }
}

@inline function odoOff(idx: usize, ndim: i32, k: i32): i32 {
  return load<i32>(idx + (<usize>(ndim + k) << 2));
}

@inline function binaryWalk(op: i32, pat: i32, a: usize, b: usize, out: usize, ndim: i32, dims: usize, idx: usize, s: i32, e: i32): void {
  const L = load<i32>(dims + (<usize>(ndim - 1) << 2));
  const sa = pat >> 1;
  const sb = pat & 1;
  const row = s / L;
  let j = s - row * L;
  odoInit(dims, ndim, 2, idx, row);
  let pos = s;
  while (pos < e) {
    const len = min(L - j, e - pos);
    const pa = a + (<usize>(odoOff(idx, ndim, 0) + j * sa) << 2);
    const pb = b + (<usize>(odoOff(idx, ndim, 1) + j * sb) << 2);
    binSeg(op, pat, pa, pb, out + (<usize>pos << 2), len);
    pos += len;
    j = 0;
    if (pos < e) odoNext(dims, ndim, 2, idx);
  }
}

@inline function binaryOp(op: i32, a: usize, b: usize, out: usize, ndim: i32, dims: usize, idx: usize, s: i32, e: i32): void {
  const sa = load<i32>(dims + (<usize>(2 * ndim - 1) << 2));
  const sb = load<i32>(dims + (<usize>(3 * ndim - 1) << 2));
  const pat = (sa << 1) | sb;
  if (pat == 3) binaryWalk(op, 3, a, b, out, ndim, dims, idx, s, e);
  else if (pat == 2) binaryWalk(op, 2, a, b, out, ndim, dims, idx, s, e);
  else if (pat == 1) binaryWalk(op, 1, a, b, out, ndim, dims, idx, s, e);
  else binaryWalk(op, 0, a, b, out, ndim, dims, idx, s, e);
}

/**
 * out = a (op) b with broadcasting, over a collapsed problem of `ndim` axes (dims: sizes, a's strides,
 * b's strides, int32 each; innermost strides 0 or 1). `scratch + tid * sstride`: the thread's odometer.
 */
export function ew_binary(
  op: i32, a: usize, b: usize, out: usize, ndim: i32, dims: usize, total: i32, scratch: usize, sstride: i32, tid: i32, nthreads: i32,
): void {
  const s = rangeStart(total, tid, nthreads);
  const e = rangeEnd(total, tid, nthreads);
  if (s >= e) return;
  const idx = scratch + <usize>tid * <usize>sstride;
  switch (op) {
    case B_ADD: binaryOp(B_ADD, a, b, out, ndim, dims, idx, s, e); break;
    case B_SUB: binaryOp(B_SUB, a, b, out, ndim, dims, idx, s, e); break;
    case B_MUL: binaryOp(B_MUL, a, b, out, ndim, dims, idx, s, e); break;
    case B_DIV: binaryOp(B_DIV, a, b, out, ndim, dims, idx, s, e); break;
    case B_MAXIMUM: binaryOp(B_MAXIMUM, a, b, out, ndim, dims, idx, s, e); break;
    case B_MINIMUM: binaryOp(B_MINIMUM, a, b, out, ndim, dims, idx, s, e); break;
    case B_EQ: binaryOp(B_EQ, a, b, out, ndim, dims, idx, s, e); break;
    case B_NE: binaryOp(B_NE, a, b, out, ndim, dims, idx, s, e); break;
    case B_LT: binaryOp(B_LT, a, b, out, ndim, dims, idx, s, e); break;
    case B_LE: binaryOp(B_LE, a, b, out, ndim, dims, idx, s, e); break;
    case B_GT: binaryOp(B_GT, a, b, out, ndim, dims, idx, s, e); break;
    case B_GE: binaryOp(B_GE, a, b, out, ndim, dims, idx, s, e); break;
  }
}

// ---- scalar ----

/** x (op) s on float64 pairs (s not representable in float32): as the reference, rounded once. */
@inline function binD(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case B_ADD: return f64x2.add(a, b);
    case B_SUB: return f64x2.sub(a, b);
    case B_MUL: return f64x2.mul(a, b);
    case B_DIV: return f64x2.div(a, b);
    case B_MAXIMUM: return v128.bitselect(a, b, v128.or(f64x2.gt(a, b), f64x2.ne(a, a)));
    case B_MINIMUM: return v128.bitselect(a, b, v128.or(f64x2.lt(a, b), f64x2.ne(a, a)));
    case B_EQ: return v128.and(f64x2.eq(a, b), f64x2.splat(1.0));
    case B_NE: return v128.and(f64x2.ne(a, b), f64x2.splat(1.0));
    case B_LT: return v128.and(f64x2.lt(a, b), f64x2.splat(1.0));
    case B_LE: return v128.and(f64x2.le(a, b), f64x2.splat(1.0));
    case B_GT: return v128.and(f64x2.gt(a, b), f64x2.splat(1.0));
    case B_GE: return v128.and(f64x2.ge(a, b), f64x2.splat(1.0));
  }
  return a;
}

@inline function scalarLoop64(op: i32, x: usize, y: usize, s: f64, first: i32, i0: i32, e: i32): void {
  const sv = f64x2.splat(s);
  let i = i0;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    const l = first ? binD(op, sv, lo64(v)) : binD(op, lo64(v), sv);
    const h = first ? binD(op, sv, hi64(v)) : binD(op, hi64(v), sv);
    v128.store(y + o, join32(l, h));
  }
  if (i < e) {
    const o = <usize>i << 2;
    const v = loadPartial(x + o, e - i);
    const l = first ? binD(op, sv, lo64(v)) : binD(op, lo64(v), sv);
    const h = first ? binD(op, sv, hi64(v)) : binD(op, hi64(v), sv);
    storePartial(y + o, join32(l, h), e - i);
  }
}

/**
 * y[i] = x[i] (op) s (mode 0) or s (op) x[i] (mode 1) in float32, with s at address sptr (a float32 in
 * memory); modes 2 and 3 do the same in float64 with s = sd (when s is not a float32 value: then x (op) s
 * may differ from x (op) float32(s), e.g. x = 0.1f > 0.1, or maximum(+0, -1e-50) = +0 but -0 in float32).
 */
export function ew_scalar(op: i32, x: usize, y: usize, n: i32, sptr: usize, sd: f64, mode: i32, tid: i32, nthreads: i32): void {
  const s = rangeStart(n, tid, nthreads);
  const e = rangeEnd(n, tid, nthreads);
  if (s >= e) return;
  const p = x + (<usize>s << 2);
  const q = y + (<usize>s << 2);
  const len = e - s;
  if (mode >= 2) {
    const first = mode - 2;
    switch (op) {
      case B_ADD: scalarLoop64(B_ADD, x, y, sd, first, s, e); break;
      case B_SUB: scalarLoop64(B_SUB, x, y, sd, first, s, e); break;
      case B_MUL: scalarLoop64(B_MUL, x, y, sd, first, s, e); break;
      case B_DIV: scalarLoop64(B_DIV, x, y, sd, first, s, e); break;
      case B_MAXIMUM: scalarLoop64(B_MAXIMUM, x, y, sd, first, s, e); break;
      case B_MINIMUM: scalarLoop64(B_MINIMUM, x, y, sd, first, s, e); break;
      case B_EQ: scalarLoop64(B_EQ, x, y, sd, first, s, e); break;
      case B_NE: scalarLoop64(B_NE, x, y, sd, first, s, e); break;
      case B_LT: scalarLoop64(B_LT, x, y, sd, first, s, e); break;
      case B_LE: scalarLoop64(B_LE, x, y, sd, first, s, e); break;
      case B_GT: scalarLoop64(B_GT, x, y, sd, first, s, e); break;
      case B_GE: scalarLoop64(B_GE, x, y, sd, first, s, e); break;
    }
    return;
  }
  if (mode == 0) {
    switch (op) {
      case B_ADD: binSeg(B_ADD, 2, p, sptr, q, len); break;
      case B_SUB: binSeg(B_SUB, 2, p, sptr, q, len); break;
      case B_MUL: binSeg(B_MUL, 2, p, sptr, q, len); break;
      case B_DIV: binSeg(B_DIV, 2, p, sptr, q, len); break;
      case B_MAXIMUM: binSeg(B_MAXIMUM, 2, p, sptr, q, len); break;
      case B_MINIMUM: binSeg(B_MINIMUM, 2, p, sptr, q, len); break;
      case B_EQ: binSeg(B_EQ, 2, p, sptr, q, len); break;
      case B_NE: binSeg(B_NE, 2, p, sptr, q, len); break;
      case B_LT: binSeg(B_LT, 2, p, sptr, q, len); break;
      case B_LE: binSeg(B_LE, 2, p, sptr, q, len); break;
      case B_GT: binSeg(B_GT, 2, p, sptr, q, len); break;
      case B_GE: binSeg(B_GE, 2, p, sptr, q, len); break;
    }
  } else {
    switch (op) {
      case B_ADD: binSeg(B_ADD, 1, sptr, p, q, len); break;
      case B_SUB: binSeg(B_SUB, 1, sptr, p, q, len); break;
      case B_MUL: binSeg(B_MUL, 1, sptr, p, q, len); break;
      case B_DIV: binSeg(B_DIV, 1, sptr, p, q, len); break;
      case B_MAXIMUM: binSeg(B_MAXIMUM, 1, sptr, p, q, len); break;
      case B_MINIMUM: binSeg(B_MINIMUM, 1, sptr, p, q, len); break;
      case B_EQ: binSeg(B_EQ, 1, sptr, p, q, len); break;
      case B_NE: binSeg(B_NE, 1, sptr, p, q, len); break;
      case B_LT: binSeg(B_LT, 1, sptr, p, q, len); break;
      case B_LE: binSeg(B_LE, 1, sptr, p, q, len); break;
      case B_GT: binSeg(B_GT, 1, sptr, p, q, len); break;
      case B_GE: binSeg(B_GE, 1, sptr, p, q, len); break;
    }
  }
}

// ---- reductions ----

/** Sum of n floats at p in float64 (four float64x2 partial sums, then the tail in order). */
@inline function rowSum(p: usize, n: i32): f64 {
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const q = p + (<usize>i << 2);
    const v0 = v128.load(q);
    const v1 = v128.load(q, 16);
    a0 = f64x2.add(a0, lo64(v0));
    a1 = f64x2.add(a1, hi64(v0));
    a2 = f64x2.add(a2, lo64(v1));
    a3 = f64x2.add(a3, hi64(v1));
  }
  const t = f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3));
  let s = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
  for (; i < n; i++) s += <f64>load<f32>(p + (<usize>i << 2));
  return s;
}

/** out[o] = sum of row o (n contiguous floats), accumulated in float64; threads take whole rows. */
export function ew_sum_rows(x: usize, out: usize, outer: i32, n: i32, tid: i32, nthreads: i32): void {
  const s = unitStart(outer, tid, nthreads);
  const e = unitEnd(outer, tid, nthreads);
  for (let o = s; o < e; o++) {
    store<f32>(out + (<usize>o << 2), <f32>rowSum(x + ((<usize>o * <usize>n) << 2), n));
  }
}

/** Long rows, pass 1: partial[o * nb + k] = float64 sum of block k (of `block` floats) of row o. */
export function ew_sum_blocks(x: usize, partial: usize, outer: i32, n: i32, block: i32, tid: i32, nthreads: i32): void {
  const nb = (n + block - 1) / block;
  const units = outer * nb;
  const s = unitStart(units, tid, nthreads);
  const e = unitEnd(units, tid, nthreads);
  for (let u = s; u < e; u++) {
    const o = u / nb;
    const k = u - o * nb;
    const i0 = k * block;
    const len = min(block, n - i0);
    store<f64>(partial + (<usize>u << 3), rowSum(x + ((<usize>o * <usize>n + <usize>i0) << 2), len));
  }
}

/** Long rows, pass 2: out[o] = the row's block sums added in order. */
export function ew_sum_partials(partial: usize, out: usize, outer: i32, nb: i32, tid: i32, nthreads: i32): void {
  const s = unitStart(outer, tid, nthreads);
  const e = unitEnd(outer, tid, nthreads);
  for (let o = s; o < e; o++) {
    let acc: f64 = 0;
    const p = partial + ((<usize>o * <usize>nb) << 3);
    for (let k = 0; k < nb; k++) acc += load<f64>(p + (<usize>k << 3));
    store<f32>(out + (<usize>o << 2), <f32>acc);
  }
}

/**
 * out[o, j] = sum over i of x[o, i, j] (x as [outer, n, inner]): each output adds its n values in
 * increasing i in float64, exactly as the reference (bitwise equal). Work: tiles of 16 columns.
 */
export function ew_sum_cols(x: usize, out: usize, outer: i32, n: i32, inner: i32, tid: i32, nthreads: i32): void {
  const tiles = (inner + 15) >> 4;
  const units = outer * tiles;
  const s = unitStart(units, tid, nthreads);
  const e = unitEnd(units, tid, nthreads);
  const rowBytes = <usize>inner << 2;
  for (let u = s; u < e; u++) {
    const o = u / tiles;
    const j0 = (u - o * tiles) << 4;
    const w = min(16, inner - j0);
    const base = x + ((<usize>o * <usize>n * <usize>inner + <usize>j0) << 2);
    const dst = out + ((<usize>o * <usize>inner + <usize>j0) << 2);
    if (w == 16) {
      let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
      let a4 = f64x2.splat(0), a5 = f64x2.splat(0), a6 = f64x2.splat(0), a7 = f64x2.splat(0);
      let p = base;
      for (let i = 0; i < n; i++) {
        const v0 = v128.load(p);
        const v1 = v128.load(p, 16);
        const v2 = v128.load(p, 32);
        const v3 = v128.load(p, 48);
        a0 = f64x2.add(a0, lo64(v0));
        a1 = f64x2.add(a1, hi64(v0));
        a2 = f64x2.add(a2, lo64(v1));
        a3 = f64x2.add(a3, hi64(v1));
        a4 = f64x2.add(a4, lo64(v2));
        a5 = f64x2.add(a5, hi64(v2));
        a6 = f64x2.add(a6, lo64(v3));
        a7 = f64x2.add(a7, hi64(v3));
        p += rowBytes;
      }
      v128.store(dst, join32(a0, a1));
      v128.store(dst, join32(a2, a3), 16);
      v128.store(dst, join32(a4, a5), 32);
      v128.store(dst, join32(a6, a7), 48);
    } else {
      let j = 0;
      for (; j + 4 <= w; j += 4) {
        let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
        let p = base + (<usize>j << 2);
        for (let i = 0; i < n; i++) {
          const v = v128.load(p);
          a0 = f64x2.add(a0, lo64(v));
          a1 = f64x2.add(a1, hi64(v));
          p += rowBytes;
        }
        v128.store(dst + (<usize>j << 2), join32(a0, a1));
      }
      for (; j < w; j++) {
        let acc: f64 = 0;
        let p = base + (<usize>j << 2);
        for (let i = 0; i < n; i++) {
          acc += <f64>load<f32>(p);
          p += rowBytes;
        }
        store<f32>(dst + (<usize>j << 2), <f32>acc);
      }
    }
  }
}

/** The reference's rule for a new maximum: strictly greater, or the first NaN. */
@inline function beats(v: f32, best: f32): bool {
  return v > best || (v != v && best == best);
}

/**
 * Max over the middle axis of x [outer, n, inner] with the index of the first maximum (NaN wins, as the
 * reference); inner == 1: lane-parallel over each row, then the lanes merged by that rule.
 */
export function ew_max(x: usize, vals: usize, idxs: usize, outer: i32, n: i32, inner: i32, tid: i32, nthreads: i32): void {
  if (inner == 1) {
    const s = unitStart(outer, tid, nthreads);
    const e = unitEnd(outer, tid, nthreads);
    for (let o = s; o < e; o++) {
      const p = x + ((<usize>o * <usize>n) << 2);
      let best: f32 = -Infinity;
      let bi: i32 = 0;
      let i = 0;
      if (n >= 16) {
        let bv = f32x4.splat(-Infinity);
        let iv = i32x4.splat(0);
        let cur = i32x4(0, 1, 2, 3);
        for (; i + 4 <= n; i += 4) {
          const v = v128.load(p + (<usize>i << 2));
          const m = v128.or(f32x4.gt(v, bv), v128.and(f32x4.ne(v, v), f32x4.eq(bv, bv)));
          bv = v128.bitselect(v, bv, m);
          iv = v128.bitselect(cur, iv, m);
          cur = i32x4.add(cur, i32x4.splat(4));
        }
        // Merge the lanes: NaN first (lowest index), else the largest value, ties to the lowest index.
        best = f32x4.extract_lane(bv, 0);
        bi = i32x4.extract_lane(iv, 0);
        for (let k = 1; k < 4; k++) {
          let b: f32, bk: i32;
          if (k == 1) { b = f32x4.extract_lane(bv, 1); bk = i32x4.extract_lane(iv, 1); }
          else if (k == 2) { b = f32x4.extract_lane(bv, 2); bk = i32x4.extract_lane(iv, 2); }
          else { b = f32x4.extract_lane(bv, 3); bk = i32x4.extract_lane(iv, 3); }
          let take = false;
          if (best != best) take = b != b && bk < bi;
          else if (b != b) take = true;
          else take = b > best || (b == best && bk < bi);
          if (take) {
            best = b;
            bi = bk;
          }
        }
      }
      for (; i < n; i++) {
        const v = load<f32>(p + (<usize>i << 2));
        if (beats(v, best)) {
          best = v;
          bi = i;
        }
      }
      store<f32>(vals + (<usize>o << 2), best);
      store<i32>(idxs + (<usize>o << 2), bi);
    }
    return;
  }
  // Columns: groups of 4 adjacent columns scanned together down the n rows (each lane is one column).
  const groups = (inner + 3) >> 2;
  const units = outer * groups;
  const s = unitStart(units, tid, nthreads);
  const e = unitEnd(units, tid, nthreads);
  const rowBytes = <usize>inner << 2;
  for (let u = s; u < e; u++) {
    const o = u / groups;
    const j0 = (u - o * groups) << 2;
    const base = x + ((<usize>o * <usize>n * <usize>inner + <usize>j0) << 2);
    const ob = (<usize>o * <usize>inner + <usize>j0) << 2;
    if (j0 + 4 <= inner) {
      let bv = f32x4.splat(-Infinity);
      let iv = i32x4.splat(0);
      let p = base;
      for (let i = 0; i < n; i++) {
        const v = v128.load(p);
        const m = v128.or(f32x4.gt(v, bv), v128.and(f32x4.ne(v, v), f32x4.eq(bv, bv)));
        bv = v128.bitselect(v, bv, m);
        iv = v128.bitselect(i32x4.splat(i), iv, m);
        p += rowBytes;
      }
      v128.store(vals + ob, bv);
      v128.store(idxs + ob, iv);
    } else {
      for (let j = 0; j < inner - j0; j++) {
        let best: f32 = -Infinity;
        let bi: i32 = 0;
        let p = base + (<usize>j << 2);
        for (let i = 0; i < n; i++) {
          const v = load<f32>(p);
          if (beats(v, best)) {
            best = v;
            bi = i;
          }
          p += rowBytes;
        }
        store<f32>(vals + ob + (<usize>j << 2), best);
        store<i32>(idxs + ob + (<usize>j << 2), bi);
      }
    }
  }
}

// ---- layout ----

/** n floats from src to dst (no overlap). */
@inline function copyRun(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const q = <usize>i << 2;
    v128.store(dst + q, v128.load(src + q));
    v128.store(dst + q, v128.load(src + q, 16), 16);
    v128.store(dst + q, v128.load(src + q, 32), 32);
    v128.store(dst + q, v128.load(src + q, 48), 48);
  }
  for (; i + 4 <= n; i += 4) {
    const q = <usize>i << 2;
    v128.store(dst + q, v128.load(src + q));
  }
  for (; i < n; i++) {
    const q = <usize>i << 2;
    store<f32>(dst + q, load<f32>(src + q));
  }
}

@inline function fillRun(dst: usize, v: f32, n: i32): void {
  const vv = f32x4.splat(v);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), vv);
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), v);
}

/**
 * A strided copy over the index space `dims[0..ndim)` in row-major order: element idx goes from
 * src + sum idx*sstride to dst + sum idx*dstride (dims: sizes, src strides, dst strides; in elements).
 * Broadcasting, permute, slice and unslice are this with different strides. Threads split the index space.
 */
export function ew_copy_nd(src: usize, dst: usize, ndim: i32, dims: usize, total: i32, scratch: usize, sstride: i32, tid: i32, nthreads: i32): void {
  const s = rangeStart(total, tid, nthreads);
  const e = rangeEnd(total, tid, nthreads);
  if (s >= e) return;
  const idx = scratch + <usize>tid * <usize>sstride;
  const L = load<i32>(dims + (<usize>(ndim - 1) << 2));
  const ss = load<i32>(dims + (<usize>(2 * ndim - 1) << 2));
  const ds = load<i32>(dims + (<usize>(3 * ndim - 1) << 2));
  const row = s / L;
  let j = s - row * L;
  odoInit(dims, ndim, 2, idx, row);
  // The second-innermost axis is walked here (index i2, strides s2 / d2), the odometer only at its end:
  // rows can be short (a head's 32 floats in [B, T, H, D] -> [B, H, T, D]).
  const n2 = ndim >= 2 ? load<i32>(dims + (<usize>(ndim - 2) << 2)) : 1;
  const s2 = ndim >= 2 ? load<i32>(dims + (<usize>(2 * ndim - 2) << 2)) : 0;
  const d2 = ndim >= 2 ? load<i32>(dims + (<usize>(3 * ndim - 2) << 2)) : 0;
  let i2 = ndim >= 2 ? load<i32>(idx + (<usize>(ndim - 2) << 2)) : 0;
  let os = odoOff(idx, ndim, 0);
  let od = odoOff(idx, ndim, 1);
  let pos = s;
  while (pos < e) {
    const len = min(L - j, e - pos);
    const ps = src + (<usize>(os + j * ss) << 2);
    const pd = dst + (<usize>(od + j * ds) << 2);
    if (ds == 1 && ss == 1) copyRun(ps, pd, len);
    else if (ds == 1 && ss == 0) fillRun(pd, load<f32>(ps), len);
    else {
      const sb = <usize>ss << 2;
      const db = <usize>ds << 2;
      let p = ps, q = pd;
      for (let k = 0; k < len; k++) {
        store<f32>(q, load<f32>(p));
        p += sb;
        q += db;
      }
    }
    pos += len;
    j = 0;
    if (pos >= e) break;
    if (i2 + 1 < n2) {
      i2++;
      os += s2;
      od += d2;
    } else {
      // ndim >= 2 here (a 1-axis walk is one row). Hand the position back to the odometer.
      store<i32>(idx + (<usize>(ndim - 2) << 2), i2);
      store<i32>(idx + (<usize>ndim << 2), os);
      store<i32>(idx + (<usize>(ndim + 1) << 2), od);
      odoNext(dims, ndim, 2, idx);
      i2 = load<i32>(idx + (<usize>(ndim - 2) << 2));
      os = odoOff(idx, ndim, 0);
      od = odoOff(idx, ndim, 1);
    }
  }
}

/** 4x4 transpose: rows r0..r3 in, columns out. */
@inline function tr4(src: usize, sq: usize, dst: usize, Q: usize): void {
  // src + k*sq (k = 0..3) holds 4 consecutive p's of column q + k; dst + p'*Q holds row p' of the output.
  const c0 = v128.load(src);
  const c1 = v128.load(src + sq);
  const c2 = v128.load(src + 2 * sq);
  const c3 = v128.load(src + 3 * sq);
  const t0 = i32x4.shuffle(c0, c1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(c2, c3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(c0, c1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(c2, c3, 2, 6, 3, 7);
  v128.store(dst, i64x2.shuffle(t0, t1, 0, 2));
  v128.store(dst + Q, i64x2.shuffle(t0, t1, 1, 3));
  v128.store(dst + 2 * Q, i64x2.shuffle(t2, t3, 0, 2));
  v128.store(dst + 3 * Q, i64x2.shuffle(t2, t3, 1, 3));
}

/**
 * Batched transpose: out[b, p, q] = src[off(b) + p + q * sq] with out [batch..., P, Q] contiguous and
 * off(b) from `nb` batch axes (dims: their sizes, then their src strides). Work: blocks of 4 rows p.
 */
export function ew_transpose(src: usize, dst: usize, nb: i32, dims: usize, P: i32, Q: i32, sq: i32, tid: i32, nthreads: i32): void {
  let batch = 1;
  for (let d = 0; d < nb; d++) batch *= load<i32>(dims + (<usize>d << 2));
  const pblocks = (P + 3) >> 2;
  const units = batch * pblocks;
  const s = unitStart(units, tid, nthreads);
  const e = unitEnd(units, tid, nthreads);
  const sqb = <usize>sq << 2;
  const Qb = <usize>Q << 2;
  for (let u = s; u < e; u++) {
    const b = u / pblocks;
    const p0 = (u - b * pblocks) << 2;
    let off = 0;
    let r = b;
    for (let d = nb - 1; d >= 0; d--) {
      const n = load<i32>(dims + (<usize>d << 2));
      off += (r % n) * load<i32>(dims + (<usize>(nb + d) << 2));
      r /= n;
    }
    const sb = src + (<usize>(off + p0) << 2);
    const db = dst + ((<usize>b * <usize>P * <usize>Q + <usize>p0 * <usize>Q) << 2);
    if (p0 + 4 <= P) {
      let q = 0;
      for (; q + 4 <= Q; q += 4) tr4(sb + <usize>q * sqb, sqb, db + (<usize>q << 2), Qb);
      for (; q < Q; q++) {
        for (let k = 0; k < 4; k++) store<f32>(db + <usize>k * Qb + (<usize>q << 2), load<f32>(sb + <usize>q * sqb + (<usize>k << 2)));
      }
    } else {
      for (let k = 0; k < P - p0; k++) {
        for (let q = 0; q < Q; q++) store<f32>(db + <usize>k * Qb + (<usize>q << 2), load<f32>(sb + <usize>q * sqb + (<usize>k << 2)));
      }
    }
  }
}

/**
 * Row-major joining: the output is `outer` rows of rowLen floats, each the pieces one after another;
 * piece k (pieces: int32 pairs ptr, run) gives run floats per row from ptr + row * run, or zeros when its
 * ptr is 0. Concatenation is this; so is unslice along one axis (zeros, block, zeros).
 */
export function ew_concat(dst: usize, outer: i32, npieces: i32, pieces: usize, rowLen: i32, tid: i32, nthreads: i32): void {
  const total = outer * rowLen;
  const s = rangeStart(total, tid, nthreads);
  const e = rangeEnd(total, tid, nthreads);
  if (s >= e) return;
  let row = s / rowLen;
  let j = s - row * rowLen;
  let pos = s;
  while (pos < e) {
    // The piece holding column j of this row.
    let k = 0;
    let start = 0;
    for (;;) {
      const run = load<i32>(pieces + (<usize>(2 * k + 1) << 2));
      if (j < start + run) break;
      start += run;
      k++;
    }
    const ptr = <usize>load<u32>(pieces + (<usize>(2 * k) << 2));
    const run = load<i32>(pieces + (<usize>(2 * k + 1) << 2));
    const len = min(start + run - j, e - pos);
    const pd = dst + (<usize>pos << 2);
    if (ptr == 0) fillRun(pd, 0, len);
    else copyRun(ptr + ((<usize>row * <usize>run + <usize>(j - start)) << 2), pd, len);
    pos += len;
    j += len;
    if (j == rowLen) {
      j = 0;
      row++;
    }
  }
}

/** One run of where: bit 2 = cond advances, bit 1 = a, bit 0 = b (else each is one value). */
@inline function whereSeg(pat: i32, c: usize, a: usize, b: usize, o: usize, len: i32): void {
  const cs = load<f32>(c), as = load<f32>(a), bs = load<f32>(b);
  const cv = f32x4.splat(cs), av = f32x4.splat(as), bv = f32x4.splat(bs);
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const q = <usize>i << 2;
    const vc = pat & 4 ? v128.load(c + q) : cv;
    const va = pat & 2 ? v128.load(a + q) : av;
    const vb = pat & 1 ? v128.load(b + q) : bv;
    // cond != 0 (NaN counts as true, -0 as false, as the reference)
    v128.store(o + q, v128.bitselect(va, vb, f32x4.ne(vc, sp(0))));
  }
  for (; i < len; i++) {
    const q = <usize>i << 2;
    const x = pat & 4 ? load<f32>(c + q) : cs;
    const y = pat & 2 ? load<f32>(a + q) : as;
    const z = pat & 1 ? load<f32>(b + q) : bs;
    store<f32>(o + q, x != 0 ? y : z);
  }
}

@inline function whereWalk(pat: i32, c: usize, a: usize, b: usize, out: usize, ndim: i32, dims: usize, idx: usize, s: i32, e: i32): void {
  const L = load<i32>(dims + (<usize>(ndim - 1) << 2));
  const sc = (pat >> 2) & 1, sa = (pat >> 1) & 1, sb = pat & 1;
  const row = s / L;
  let j = s - row * L;
  odoInit(dims, ndim, 3, idx, row);
  let pos = s;
  while (pos < e) {
    const len = min(L - j, e - pos);
    const pc = c + (<usize>(odoOff(idx, ndim, 0) + j * sc) << 2);
    const pa = a + (<usize>(odoOff(idx, ndim, 1) + j * sa) << 2);
    const pb = b + (<usize>(odoOff(idx, ndim, 2) + j * sb) << 2);
    whereSeg(pat, pc, pa, pb, out + (<usize>pos << 2), len);
    pos += len;
    j = 0;
    if (pos < e) odoNext(dims, ndim, 3, idx);
  }
}

/**
 * out = cond != 0 ? a : b with broadcasting over a collapsed problem (dims: sizes, then the strides of
 * cond, a and b; innermost strides 0 or 1).
 */
export function ew_where(c: usize, a: usize, b: usize, out: usize, ndim: i32, dims: usize, total: i32, scratch: usize, sstride: i32, tid: i32, nthreads: i32): void {
  const s = rangeStart(total, tid, nthreads);
  const e = rangeEnd(total, tid, nthreads);
  if (s >= e) return;
  const idx = scratch + <usize>tid * <usize>sstride;
  const sc = load<i32>(dims + (<usize>(2 * ndim - 1) << 2));
  const sa = load<i32>(dims + (<usize>(3 * ndim - 1) << 2));
  const sb = load<i32>(dims + (<usize>(4 * ndim - 1) << 2));
  const pat = (sc << 2) | (sa << 1) | sb;
  switch (pat) {
    case 0: whereWalk(0, c, a, b, out, ndim, dims, idx, s, e); break;
    case 1: whereWalk(1, c, a, b, out, ndim, dims, idx, s, e); break;
    case 2: whereWalk(2, c, a, b, out, ndim, dims, idx, s, e); break;
    case 3: whereWalk(3, c, a, b, out, ndim, dims, idx, s, e); break;
    case 4: whereWalk(4, c, a, b, out, ndim, dims, idx, s, e); break;
    case 5: whereWalk(5, c, a, b, out, ndim, dims, idx, s, e); break;
    case 6: whereWalk(6, c, a, b, out, ndim, dims, idx, s, e); break;
    case 7: whereWalk(7, c, a, b, out, ndim, dims, idx, s, e); break;
  }
}
