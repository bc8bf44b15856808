// Small whole-array kernels the runtime itself uses.

/** y[i] = x[i] * s over the thread's share of n elements (also the runtime's self-test at start-up). */
export function scale_f32(x: usize, y: usize, n: i32, s: f32, tid: i32, nthreads: i32): void {
  const chunk = (((n + nthreads - 1) / nthreads + 3) >> 2) << 2;
  const start = min(n, tid * chunk);
  const end = min(n, start + chunk);
  const sv = f32x4.splat(s);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.mul(v128.load(x + o), sv));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(x + o) * s);
  }
}

/** 1 in the relaxed-SIMD build, 0 in the plain SIMD one. */
export function relaxed_simd(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}

/** a * b + c on lanes: fused in the relaxed build (so that build always has a relaxed opcode for the engine to validate). */
export function madd_probe(a: f32, b: f32, c: f32): f32 {
  const x = f32x4.splat(a);
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.extract_lane(f32x4.relaxed_madd(x, f32x4.splat(b), f32x4.splat(c)), 0);
  return f32x4.extract_lane(f32x4.add(f32x4.mul(x, f32x4.splat(b)), f32x4.splat(c)), 0);
}
