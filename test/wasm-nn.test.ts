/**
 * The wasm backend's nn kernels (wasm/nn.ts via src/backend/wasm/nn.ts) against the reference kernels, and
 * its AdamW update against the reference's.
 *
 * Every kernel runs on 1 thread and on 2 threads with the work split forced at every size
 * (setNNParallelMin(1)); the two results must be bitwise identical (NaN matching any NaN). Run this file
 * both as `node --test` (the plain SIMD build) and with `--experimental-wasm-relaxed-simd` (the relaxed
 * build, with fused multiply-adds): the tolerances below cover both.
 *
 * Tolerances, per element, in units of u = 2^-24 (half an ulp of float32) times the size of the terms that
 * make that element. The kernels sum in float64 (as the reference), so what differs from the reference is
 * the float32 elementwise work, each step adding at most ~u relative:
 * - exp: the float32 polynomial is within 1 ulp (2u) of exp; its argument x - max is rounded to float32 first,
 *   which changes exp by up to |x - max| u relative. So softmax is within (|x - max| + 8) u of each value
 *   (exp 2u, the reciprocal of the sum u, the product u, the reference's own rounding u, 3u spare).
 * - log-softmax: (x - max) - log(sum) in float32: two roundings of terms of size |x - max| and log(sum),
 *   plus the sum's error (weighted like softmax's): 4u (|x - max| + |y| + 4).
 * - softmax backward y (dy - dot): dot rounded to float32, one subtraction, one product: 4u y (|dy| + |dot|).
 *   log-softmax backward dy - exp(y) s: 4u (|dy| + exp(y) |s|).
 * - layer norm y = xhat w + b (xhat in float64, rounded once): 4u (|xhat w| + |b|); mean and rstd are float64
 *   statistics (only the order of additions differs) rounded once: 2u of the value (a rounding may flip).
 *   Its dx = rstd (g - mean(g) - xhat mean(g xhat)) in float32 from float64 means: each of the ~6 roundings
 *   is u of one of the terms: 8u rstd (|g| + |mean g| + |xhat mean(g xhat)|). RMS norm likewise.
 * - cross-entropy: the loss is float64 from lse, whose error is the exp sum's (R + 4) u, R = the row's
 *   largest |x - max|: 2u (|loss| + R + 4). Its backward g (p - (1 - s)[c = t] - s/C) with p = exp(x - max) /
 *   sum: |g| (p + s/C + [c = t]) (|x - max| + R + 10) u.
 * - Exact (bitwise): gather, scatterAdd, the norms' dweight and dbias (the same float64 operations as the
 *   reference in the same order), and every NaN / Infinity / masked-row outcome.
 * - AdamW: float32, see its section below.
 * An absolute floor of 1e-37 admits float32 subnormal results (exp underflow), which have fewer digits.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { nn as ref } from '../src/backend/reference/nn.js';
import { optim as refOptim } from '../src/backend/reference/optim.js';
import { nnKernels, setNNParallelMin } from '../src/backend/wasm/nn.js';
import { wasmRuntime, configureWasm, wasmInfo } from '../src/backend/wasm/index.js';
import { setBackend } from '../src/backend/backend.js';
import type { NNKernels } from '../src/backend/kernels/nn.js';
import type { OptimKernels, AdamWStep } from '../src/backend/kernels/optim.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Generator } from '../src/tensor/random.js';
import { AdamW } from '../src/optim/adamw.js';
import { loadFixture, toTensor } from './helpers/fixtures.js';
import { assertClose } from './helpers/allclose.js';

const w = nnKernels as NNKernels & Required<OptimKernels>;
const U = 2 ** -24;
const FLOOR = 1e-37;
const SIZES = [1, 3, 17, 65, 127, 1000];

let oldParallelMin = 0;
before(async () => {
  oldParallelMin = setNNParallelMin(1); // split even the smallest inputs across threads
  configureWasm({ threads: 2 });
  await wasmRuntime().pool.ready();
  assert.equal(wasmInfo().threads, 2, 'the second thread must be running for the thread-count checks');
});
after(() => {
  setNNParallelMin(oldParallelMin);
});

test('wasm nn: build flavour', (t) => {
  t.diagnostic(`flavour ${wasmInfo().flavour}`);
  assert.ok(['simd', 'relaxed-simd'].includes(wasmInfo().flavour));
});

// ---- helpers ----

function random(n: number, gen: Generator, scale = 1, shift = 0): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = gen.normal() * scale + shift;
  return x;
}

function bits(x: number): number {
  const f = new Float32Array([x]);
  return new Uint32Array(f.buffer)[0];
}

/** Same float32 values bit for bit (so -0 differs from +0); any NaN matches any NaN. */
function assertSame(got: Float32Array | null, want: Float32Array | null, what: string): void {
  if (got === null || want === null) {
    assert.equal(got, want, `${what}: null`);
    return;
  }
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const g: number = got[i];
    const e: number = want[i];
    if (Number.isNaN(e) && Number.isNaN(g)) continue;
    if (Object.is(g, e)) continue;
    assert.fail(`${what}: element ${i} is ${g} (0x${bits(g).toString(16)}), expected ${e} (0x${bits(e).toString(16)})`);
  }
}

/** The largest error seen per kernel, in units of its tolerance (reported by the last test). */
const worstSeen = new Map<string, number>();

/**
 * |got - want| <= tol(i) at every finite want; NaN and infinities must match exactly. Returns the largest
 * error in units of its tolerance, and records it under `kernel` (if given).
 */
function assertNear(got: Float32Array, want: Float32Array, tol: (i: number) => number, what: string, kernel?: string): number {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i];
    const e = want[i];
    if (Number.isNaN(e)) {
      if (!Number.isNaN(g)) assert.fail(`${what}: element ${i} is ${g}, expected NaN`);
      continue;
    }
    if (g === e) continue;
    const t = tol(i) + FLOOR;
    const d = Math.abs(g - e);
    if (!Number.isFinite(e) || !(d <= t)) assert.fail(`${what}: element ${i} is ${g}, expected ${e} (difference ${d}, tolerance ${t})`);
    worst = Math.max(worst, d / t);
  }
  if (kernel !== undefined) worstSeen.set(kernel, Math.max(worstSeen.get(kernel) ?? 0, worst));
  return worst;
}

/** The arrays of a kernel's result: the array itself, or the Float32Array fields of a result object (null kept). */
function arraysOf(x: object): [string, Float32Array | null][] {
  if (x instanceof Float32Array) return [['out', x]];
  return Object.entries(x).filter((e): e is [string, Float32Array | null] => e[1] === null || e[1] instanceof Float32Array);
}

/** Runs f on 1 thread and on 2; asserts the results are bitwise the same and returns the 2-thread one. */
function onBoth<T extends object>(what: string, f: () => T): T {
  configureWasm({ threads: 1 });
  const one = f();
  configureWasm({ threads: 2 });
  const two = f();
  const a = arraysOf(one);
  const b = arraysOf(two);
  for (let k = 0; k < a.length; k++) assertSame(b[k][1], a[k][1], `${what} ${a[k][0]}: 2 threads vs 1`);
  return two;
}

/** Calls f(base, stride) for every row of an [outer, n, inner] layout: element i of the row is at base + i * stride. */
function forRows(outer: number, n: number, inner: number, f: (base: number, stride: number) => void): void {
  for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) f(o * n * inner + j, inner);
}

/** Per element: the max of its row (NaN-propagating, as the reference's) and the row's largest |x - max| over finite x. */
function rowStats(x: Float32Array, outer: number, n: number, inner: number): { max: Float64Array; spread: Float64Array } {
  const max = new Float64Array(x.length);
  const spread = new Float64Array(x.length);
  forRows(outer, n, inner, (base, st) => {
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, x[base + i * st]);
    let r = 0;
    for (let i = 0; i < n; i++) if (Number.isFinite(x[base + i * st])) r = Math.max(r, Math.abs(x[base + i * st] - m));
    for (let i = 0; i < n; i++) {
      max[base + i * st] = m;
      spread[base + i * st] = r;
    }
  });
  return { max, spread };
}

/** Softmax-family input: N(0, 3^2), with ~10% of entries -Infinity and some rows entirely -Infinity. */
function maskedInput(outer: number, n: number, inner: number, gen: Generator): Float32Array {
  const x = random(outer * n * inner, gen, 3);
  for (let i = 0; i < x.length; i++) if (gen.uniform() < 0.1) x[i] = -Infinity;
  let row = 0;
  forRows(outer, n, inner, (base, st) => {
    if (row++ % 3 === 1) for (let i = 0; i < n; i++) x[base + i * st] = -Infinity;
  });
  return x;
}

// ---- softmax family ----

function checkSoftmaxFamily(x: Float32Array, outer: number, n: number, inner: number, gen: Generator, what: string): void {
  const { max } = rowStats(x, outer, n, inner);
  const y = onBoth(`${what} softmax`, () => w.softmax(x, outer, n, inner));
  const yr = ref.softmax(x, outer, n, inner);
  assertNear(y, yr, (i) => (Math.abs(x[i] - max[i]) + 8) * U * yr[i], `${what} softmax`, 'softmax');

  const ly = onBoth(`${what} logSoftmax`, () => w.logSoftmax(x, outer, n, inner));
  const lyr = ref.logSoftmax(x, outer, n, inner);
  assertNear(ly, lyr, (i) => 4 * U * (Math.abs(x[i] - max[i]) + Math.abs(lyr[i]) + 4), `${what} logSoftmax`, 'logSoftmax');

  const dy = random(x.length, gen);
  // Backward passes from the reference forward outputs (zero rows / -Infinity rows where masked).
  const dot = new Float64Array(x.length);
  const sdy = new Float64Array(x.length);
  forRows(outer, n, inner, (base, st) => {
    let d = 0;
    let s = 0;
    for (let i = 0; i < n; i++) {
      d += dy[base + i * st] * yr[base + i * st];
      s += dy[base + i * st];
    }
    for (let i = 0; i < n; i++) {
      dot[base + i * st] = d;
      sdy[base + i * st] = s;
    }
  });
  const dx = onBoth(`${what} softmaxBackward`, () => w.softmaxBackward(yr, dy, outer, n, inner));
  assertNear(dx, ref.softmaxBackward(yr, dy, outer, n, inner), (i) => 4 * U * yr[i] * (Math.abs(dy[i]) + Math.abs(dot[i])), `${what} softmaxBackward`, 'softmaxBackward');
  const ldx = onBoth(`${what} logSoftmaxBackward`, () => w.logSoftmaxBackward(lyr, dy, outer, n, inner));
  assertNear(ldx, ref.logSoftmaxBackward(lyr, dy, outer, n, inner), (i) => 4 * U * (Math.abs(dy[i]) + Math.exp(lyr[i]) * Math.abs(sdy[i])), `${what} logSoftmaxBackward`, 'logSoftmaxBackward');
}

test('softmax, logSoftmax and their backward passes match the reference over [outer, n, inner], with -Infinity entries and fully masked rows', () => {
  const gen = new Generator(1);
  for (const outer of [1, 3]) {
    for (const n of SIZES) {
      for (const inner of [1, 3, 4, 5, 17]) {
        if (n === 1000 && inner === 17 && outer === 3) continue;
        checkSoftmaxFamily(maskedInput(outer, n, inner, gen), outer, n, inner, gen, `[${outer}, ${n}, ${inner}]`);
      }
    }
  }
});

test('softmax family: a row with a NaN is all NaN, a row with +Infinity is NaN, a NaN beside -Infinity still wins (as the reference)', () => {
  const gen = new Generator(2);
  for (const [outer, n, inner] of [[24, 9, 1], [24, 19, 1], [6, 4, 1], [2, 9, 5], [3, 5, 4], [1, 3, 2]] as const) {
    const x = random(outer * n * inner, gen, 2);
    let row = 0;
    // The special value's position moves from row to row: every SIMD lane, unrolled accumulator and scalar tail.
    forRows(outer, n, inner, (base, st) => {
      const k = row % 4;
      if (k === 0) x[base + ((row * 3) % n) * st] = NaN;
      if (k === 1) x[base + ((row * 7) % n) * st] = Infinity;
      if (k === 2) {
        for (let i = 0; i < n; i++) x[base + i * st] = -Infinity;
        x[base + ((row * 5) % n) * st] = NaN; // NaN among -Infinity: NaN, not a masked row
      }
      row++;
    });
    const what = `[${outer}, ${n}, ${inner}] with NaN`;
    for (const [name, got, want] of [
      ['softmax', w.softmax(x, outer, n, inner), ref.softmax(x, outer, n, inner)],
      ['logSoftmax', w.logSoftmax(x, outer, n, inner), ref.logSoftmax(x, outer, n, inner)],
    ] as const) {
      let nans = 0;
      for (let i = 0; i < got.length; i++) {
        assert.equal(Number.isNaN(got[i]), Number.isNaN(want[i]), `${what} ${name}: element ${i} is ${got[i]}, reference ${want[i]}`);
        if (Number.isNaN(got[i])) nans++;
      }
      assert.ok(nans >= n, `${what} ${name}: some rows are NaN`);
    }
    checkSoftmaxFamily(x, outer, n, inner, gen, what);
    // Backward with a NaN upstream gradient or a NaN log-probability.
    const y = ref.softmax(random(x.length, gen), outer, n, inner);
    const dy = random(x.length, gen);
    dy[0] = NaN;
    assertSame(w.softmaxBackward(y, dy, outer, n, inner).map((v) => (Number.isNaN(v) ? NaN : 0)), ref.softmaxBackward(y, dy, outer, n, inner).map((v) => (Number.isNaN(v) ? NaN : 0)), `${what} softmaxBackward NaN pattern`);
    const ly = ref.logSoftmax(random(x.length, gen), outer, n, inner);
    ly[x.length - 1] = NaN;
    const lg = w.logSoftmaxBackward(ly, dy, outer, n, inner);
    const lr = ref.logSoftmaxBackward(ly, dy, outer, n, inner);
    for (let i = 0; i < lg.length; i++) assert.equal(Number.isNaN(lg[i]), Number.isNaN(lr[i]), `${what} logSoftmaxBackward NaN at ${i}`);
  }
});

test('softmax of rows entirely -Infinity is 0, logSoftmax -Infinity, their gradients 0: in contiguous rows, in SIMD lanes and in strided tails', () => {
  for (const [outer, n, inner] of [[3, 5, 1], [2, 7, 4], [2, 3, 6], [1, 1, 1], [1, 1, 9]] as const) {
    const x = new Float32Array(outer * n * inner).fill(-Infinity);
    const dy = new Float32Array(x.length).fill(1);
    assertSame(w.softmax(x, outer, n, inner), new Float32Array(x.length), 'softmax');
    assertSame(w.logSoftmax(x, outer, n, inner), new Float32Array(x.length).fill(-Infinity), 'logSoftmax');
    assertSame(w.softmaxBackward(new Float32Array(x.length), dy, outer, n, inner), new Float32Array(x.length), 'softmaxBackward');
    assertSame(w.logSoftmaxBackward(x, dy, outer, n, inner), new Float32Array(x.length), 'logSoftmaxBackward');
  }
});

test('softmax: large logits, subnormal and underflowing probabilities agree with the reference', () => {
  const x = Float32Array.from([80, 0, -5, -20, -60, -87, -90, -100, -103, -104, -200, 88.5, 88.7, 88, 0, -88]);
  const what = 'softmax extreme';
  const y = w.softmax(x, 1, x.length, 1);
  const yr = ref.softmax(x, 1, x.length, 1);
  assertNear(y, yr, (i) => (Math.abs(x[i] - 88.7) + 8) * U * yr[i], what);
  const x2 = Float32Array.from([0, -80, -86, -87.5, -95, -103.5, -150, -Infinity]);
  const y2 = w.softmax(x2, 1, x2.length, 1);
  const yr2 = ref.softmax(x2, 1, x2.length, 1);
  assertNear(y2, yr2, (i) => (Math.abs(x2[i]) + 8) * U * yr2[i], 'softmax underflow');
  assert.ok(y2[3] > 0 && y2[4] > 0 && y2[4] < 1.2e-38, 'exp(-95) is a float32 subnormal, not flushed to 0');
  assert.equal(y2[6], 0);
});

// ---- norms ----

function normCase(rows: number, cols: number, gen: Generator): { x: Float32Array; dy: Float32Array; weight: Float32Array; bias: Float32Array } {
  return { x: random(rows * cols, gen, 2, 3), dy: random(rows * cols, gen), weight: random(cols, gen, 1, 1), bias: random(cols, gen) };
}

const NORM_SHAPES: [number, number][] = [];
for (const rows of [1, 3, 17, 65, 127]) for (const cols of SIZES) NORM_SHAPES.push([rows, cols]);
NORM_SHAPES.push([1000, 65], [1000, 3]);

test('layerNorm and its backward match the reference, with and without weight and bias; dweight and dbias bitwise', () => {
  const gen = new Generator(3);
  for (const [rows, cols] of NORM_SHAPES) {
    const c = normCase(rows, cols, gen);
    for (const [hasW, hasB] of [[true, true], [true, false], [false, false], [false, true]] as const) {
      const weight = hasW ? c.weight : null;
      const bias = hasB ? c.bias : null;
      const what = `layerNorm [${rows}, ${cols}] weight ${hasW} bias ${hasB}`;
      const got = onBoth(what, () => w.layerNorm(c.x, weight, bias, rows, cols, 1e-5));
      const want = ref.layerNorm(c.x, weight, bias, rows, cols, 1e-5);
      assertNear(got.mean!, want.mean!, (r) => 2 * U * Math.abs(want.mean![r]), `${what} mean`, 'layerNorm mean');
      assertNear(got.rstd, want.rstd, (r) => 2 * U * want.rstd[r], `${what} rstd`, 'layerNorm rstd');
      const xhat = (i: number): number => (c.x[i] - want.mean![Math.floor(i / cols)]) * want.rstd[Math.floor(i / cols)];
      const wc = (i: number): number => (weight ? weight[i % cols] : 1);
      assertNear(got.y, want.y, (i) => 4 * U * (Math.abs(xhat(i) * wc(i)) + (bias ? Math.abs(bias[i % cols]) : 0)), `${what} y`, 'layerNorm y');

      const gg = onBoth(`${what} backward`, () => w.layerNormBackward(c.x, weight, hasB, want.mean!, want.rstd, c.dy, rows, cols));
      const gr = ref.layerNormBackward(c.x, weight, hasB, want.mean!, want.rstd, c.dy, rows, cols);
      const mg = new Float64Array(rows);
      const mgx = new Float64Array(rows);
      for (let i = 0; i < rows * cols; i++) {
        mg[Math.floor(i / cols)] += (c.dy[i] * wc(i)) / cols;
        mgx[Math.floor(i / cols)] += (c.dy[i] * wc(i) * xhat(i)) / cols;
      }
      assertNear(gg.dx, gr.dx, (i) => {
        const r = Math.floor(i / cols);
        return 8 * U * want.rstd[r] * (Math.abs(c.dy[i] * wc(i)) + Math.abs(mg[r]) + Math.abs(xhat(i) * mgx[r]));
      }, `${what} dx`, 'layerNormBackward dx');
      assertSame(gg.dweight, gr.dweight, `${what} dweight`);
      assertSame(gg.dbias, gr.dbias, `${what} dbias`);
    }
  }
});

test('rmsNorm and its backward match the reference, with and without weight; dweight bitwise', () => {
  const gen = new Generator(4);
  for (const [rows, cols] of NORM_SHAPES) {
    const c = normCase(rows, cols, gen);
    for (const weight of [c.weight, null]) {
      const what = `rmsNorm [${rows}, ${cols}] weight ${weight !== null}`;
      const got = onBoth(what, () => w.rmsNorm(c.x, weight, rows, cols, 1e-6));
      const want = ref.rmsNorm(c.x, weight, rows, cols, 1e-6);
      assert.equal(got.mean, null);
      assertNear(got.rstd, want.rstd, (r) => 2 * U * want.rstd[r], `${what} rstd`, 'rmsNorm rstd');
      assertNear(got.y, want.y, (i) => 4 * U * Math.abs(want.y[i]), `${what} y`, 'rmsNorm y');

      const wc = (i: number): number => (weight ? weight[i % cols] : 1);
      const xhat = (i: number): number => c.x[i] * want.rstd[Math.floor(i / cols)];
      const gg = onBoth(`${what} backward`, () => w.rmsNormBackward(c.x, weight, want.rstd, c.dy, rows, cols));
      const gr = ref.rmsNormBackward(c.x, weight, want.rstd, c.dy, rows, cols);
      const mgx = new Float64Array(rows);
      for (let i = 0; i < rows * cols; i++) mgx[Math.floor(i / cols)] += (c.dy[i] * wc(i) * xhat(i)) / cols;
      assertNear(gg.dx, gr.dx, (i) => 8 * U * want.rstd[Math.floor(i / cols)] * (Math.abs(c.dy[i] * wc(i)) + Math.abs(xhat(i) * mgx[Math.floor(i / cols)])), `${what} dx`, 'rmsNormBackward dx');
      assertSame(gg.dweight, gr.dweight, `${what} dweight`);
      assert.equal(gg.dbias, null);
    }
  }
});

test('norms propagate NaN and Infinity as the reference', () => {
  const gen = new Generator(5);
  const rows = 5;
  const cols = 9;
  const c = normCase(rows, cols, gen);
  c.x[3] = NaN;
  c.x[cols + 8] = Infinity;
  c.dy[2 * cols + 1] = NaN;
  const a = w.layerNorm(c.x, c.weight, c.bias, rows, cols, 1e-5);
  const b = ref.layerNorm(c.x, c.weight, c.bias, rows, cols, 1e-5);
  for (const [k, g, e] of [['y', a.y, b.y], ['mean', a.mean!, b.mean!], ['rstd', a.rstd, b.rstd]] as const) {
    for (let i = 0; i < g.length; i++) assert.equal(Number.isNaN(g[i]), Number.isNaN(e[i]), `layerNorm ${k}[${i}]: ${g[i]} vs ${e[i]}`);
  }
  const ga = w.layerNormBackward(c.x, c.weight, true, b.mean!, b.rstd, c.dy, rows, cols);
  const gb = ref.layerNormBackward(c.x, c.weight, true, b.mean!, b.rstd, c.dy, rows, cols);
  for (const [k, g, e] of [['dx', ga.dx, gb.dx], ['dweight', ga.dweight!, gb.dweight!], ['dbias', ga.dbias!, gb.dbias!]] as const) {
    for (let i = 0; i < g.length; i++) assert.equal(Number.isNaN(g[i]), Number.isNaN(e[i]), `layerNormBackward ${k}[${i}]: ${g[i]} vs ${e[i]}`);
  }
  const r = w.rmsNorm(c.x, c.weight, rows, cols, 1e-6);
  const rr = ref.rmsNorm(c.x, c.weight, rows, cols, 1e-6);
  for (let i = 0; i < r.y.length; i++) assert.equal(Number.isNaN(r.y[i]), Number.isNaN(rr.y[i]), `rmsNorm y[${i}]: ${r.y[i]} vs ${rr.y[i]}`);
});

// ---- embedding ----

test('gather and scatterAdd are bitwise the reference, with duplicate ids, unused rows and no ids', () => {
  const gen = new Generator(6);
  for (const rows of SIZES) {
    for (const cols of [1, 3, 17, 65, 127]) {
      for (const n of [0, 1, 3, 17, 1000]) {
        const table = random(rows * cols, gen);
        // Few distinct ids (many duplicates) half the time.
        const distinct = n % 2 === 0 ? Math.min(rows, 3) : rows;
        const ids = Int32Array.from({ length: n }, () => gen.int(0, distinct));
        const what = `[${rows}, ${cols}] ${n} ids`;
        assertSame(onBoth(`${what} gather`, () => w.gather(table, cols, ids)), ref.gather(table, cols, ids), `${what} gather`);
        const dy = random(n * cols, gen);
        assertSame(onBoth(`${what} scatterAdd`, () => w.scatterAdd(dy, rows, cols, ids)), ref.scatterAdd(dy, rows, cols, ids), `${what} scatterAdd`);
      }
    }
  }
  // Every id the same: one row sums all 1000 rows of dy (in float64, rounded once, as the reference).
  const dy = random(1000 * 5, gen, 1, 1000);
  const ids = new Int32Array(1000).fill(2);
  const got = w.scatterAdd(dy, 4, 5, ids);
  assertSame(got, ref.scatterAdd(dy, 4, 5, ids), 'scatterAdd, one id');
  let s = 0;
  for (let i = 0; i < 1000; i++) s += dy[i * 5];
  assert.equal(got[10], Math.fround(s));
  assertSame(got.subarray(0, 10), new Float32Array(10), 'rows never looked up are zero');
});

// ---- cross-entropy ----

test('crossEntropy and its backward match the reference: label smoothing, ignored rows, -Infinity logits, fully masked and NaN rows', () => {
  const gen = new Generator(7);
  for (const rows of SIZES) {
    for (const classes of SIZES) {
      if (rows * classes > 200_000) continue;
      const x = random(rows * classes, gen, 3);
      const targets = Int32Array.from({ length: rows }, () => (gen.uniform() < 0.2 ? -1 : gen.int(0, classes)));
      // Special rows (where there are enough): some -Infinity logits, the target's logit -Infinity, all -Infinity, a NaN.
      if (rows >= 17 && classes >= 3) {
        targets[1] = 0;
        for (let c = 1; c < classes; c += 2) x[classes + c] = -Infinity;
        targets[2] = 1;
        x[2 * classes + 1] = -Infinity;
        targets[3] = 0;
        for (let c = 0; c < classes; c++) x[3 * classes + c] = -Infinity;
        targets[4] = 0;
        x[4 * classes + classes - 1] = NaN;
        targets[5] = -1;
        for (let c = 0; c < classes; c++) x[5 * classes + c] = -Infinity;
      }
      const { max, spread } = rowStats(x, rows, classes, 1);
      const dloss = random(rows, gen);
      for (const s of [0, 0.1, 1]) {
        const what = `crossEntropy [${rows}, ${classes}] smoothing ${s}`;
        const loss = onBoth(what, () => w.crossEntropy(x, targets, rows, classes, s));
        const lr = ref.crossEntropy(x, targets, rows, classes, s);
        assertNear(loss, lr, (r) => 2 * U * (Math.abs(lr[r]) + spread[r * classes] + 4), what, 'crossEntropy');
        for (let r = 0; r < rows; r++) if (targets[r] < 0) assert.ok(Object.is(loss[r], 0), `${what}: ignored row ${r} has loss ${loss[r]}`);
        const dx = onBoth(`${what} backward`, () => w.crossEntropyBackward(x, targets, dloss, rows, classes, s));
        const dr = ref.crossEntropyBackward(x, targets, dloss, rows, classes, s);
        const lse = new Float64Array(rows);
        for (let r = 0; r < rows; r++) {
          let e = 0;
          for (let c = 0; c < classes; c++) e += Math.exp(x[r * classes + c] - max[r * classes]);
          lse[r] = max[r * classes] + Math.log(e);
        }
        assertNear(dx, dr, (i) => {
          const r = Math.floor(i / classes);
          const p = Math.exp(x[i] - lse[r]);
          return Math.abs(dloss[r]) * (p + s / classes + (i % classes === targets[r] ? 1 : 0)) * (Math.abs(x[i] - max[i]) + spread[i] + 10) * U;
        }, `${what} backward`, 'crossEntropyBackward');
        for (let r = 0; r < rows; r++) {
          if (targets[r] < 0) for (let c = 0; c < classes; c++) assert.ok(Object.is(dx[r * classes + c], 0), `${what}: ignored row ${r} has a gradient`);
        }
        if (rows >= 17 && classes >= 3) {
          assert.equal(loss[3], Infinity, `${what}: a fully masked row's loss is Infinity`);
          assert.ok(Number.isNaN(loss[4]), `${what}: a NaN row's loss is NaN`);
          // (with s = 1 the target term is 0 * Infinity = NaN, as in the reference)
          assert.equal(loss[2], s < 1 ? Infinity : NaN, `${what}: the target's logit -Infinity gives Infinity`);
          assert.equal(Number.isFinite(loss[1]), s === 0, `${what}: -Infinity logits off the target: finite without smoothing only`);
        }
      }
    }
  }
});

// ---- AdamW ----
// The wasm update is float32 (as PyTorch's own AdamW), the reference float64 per element rounded once. Per
// element of one step (u = 2^-24; terms from the reference's float64 values):
// - m = b1 m + (1 - b1) g: two products and a sum rounded (the reference: once): 3u (|b1 m| + |(1 - b1) g|).
// - v = b2 v + (1 - b2) g g: three products and a sum, all terms >= 0: 5u |v|; vmax = max(vmax, v) likewise.
// - p = p decay - stepSize m / (sqrt(v) / sqrt(bc2) + eps): decay rounded to float32 and the product, u |p|
//   each; the update's ~8 roundings (stepSize, 1 / sqrt(bc2), sqrt, product, add, divide, and v's 5u halved
//   by the square root) 12u |update|, plus m's error carried through stepSize / denominator; the final sum
//   and the reference's rounding 2u |p'|.
// Over several steps the errors compound: the multi-step tests reuse the PyTorch tolerances of
// test/parity-optim.test.ts (float32 PyTorch against the same float64 reference), with m's absolute floor
// raised for the cancellation in these random gradients (see there).

const ADAM_CASES: AdamWStep[] = [
  { lr: 1e-3, weightDecay: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, step: 1, maximize: false },
  { lr: 3e-2, weightDecay: 0, beta1: 0.8, beta2: 0.999, eps: 1e-6, step: 7, maximize: true },
  { lr: 1e-2, weightDecay: 1e-2, beta1: 0, beta2: 0, eps: 0, step: 1000, maximize: false },
];

/** Gradients with the awkward values: zeros of both signs, huge, tiny, subnormal, Infinity, NaN. */
function adamGrad(n: number, gen: Generator): Float32Array {
  const g = random(n, gen);
  const special = [0, -0, 1e30, -1e-30, 1e-40, Infinity, NaN, -3, 2e19];
  for (let i = 0; i < n; i += 11) g[i] = special[(i / 11) % special.length];
  return g;
}

test('AdamW update: float32 within its per-element bound of the reference (amsgrad, maximize, zero betas and eps, NaN/Infinity/subnormal gradients), on plain and on wasm-memory arrays; 1 and 2 threads bitwise equal', () => {
  const gen = new Generator(8);
  const heap = wasmRuntime().heap;
  for (const n of [...SIZES, 4096 + 3]) {
    for (const h of ADAM_CASES) {
      for (const amsgrad of [false, true]) {
        for (const inWasm of [false, true]) {
          const what = `AdamW n ${n} step ${h.step} maximize ${h.maximize} amsgrad ${amsgrad} ${inWasm ? 'wasm memory' : 'plain arrays'}`;
          const p0 = random(n, gen);
          const m0 = random(n, gen, 0.1);
          const v0 = random(n, gen, 0.01).map(Math.abs);
          const vmax0 = v0.map((v, i) => (i % 2 === 0 ? v * 2 : v / 2));
          const g = adamGrad(n, gen);
          const copy = (a: Float32Array): Float32Array => {
            if (!inWasm) return a.slice();
            const b = heap.allocF32(a.length);
            b.set(a);
            return b;
          };
          const want = [p0.slice(), m0.slice(), v0.slice(), vmax0.slice()];
          refOptim.adamwUpdate(want[0], g, want[1], want[2], amsgrad ? want[3] : null, h);
          const results: Float32Array[][] = [];
          for (const threads of [1, 2]) {
            configureWasm({ threads });
            const got = [copy(p0), copy(m0), copy(v0), copy(vmax0)];
            assert.equal(heap.owns(got[0]), inWasm);
            w.adamwUpdate(got[0], copy(g), got[1], got[2], amsgrad ? got[3] : null, h);
            results.push(got);
          }
          configureWasm({ threads: 2 });
          for (const [k, name] of ['p', 'm', 'v', 'vmax'].entries()) assertSame(results[1][k], results[0][k], `${what}: ${name}, 2 threads vs 1`);
          const got = results[1];
          if (!amsgrad) assertSame(got[3], vmax0, `${what}: vmax untouched`);
          const b1 = h.beta1;
          const mTerms = (i: number): number => Math.abs(b1 * m0[i]) + Math.abs((1 - b1) * g[i]);
          assertNear(got[1], want[1], (i) => 3 * U * mTerms(i), `${what}: m`, 'adamwUpdate m');
          assertNear(got[2], want[2], (i) => 5 * U * Math.abs(want[2][i]), `${what}: v`, 'adamwUpdate v');
          if (amsgrad) assertNear(got[3], want[3], (i) => 5 * U * Math.abs(want[3][i]), `${what}: vmax`, 'adamwUpdate vmax');
          const stepSize = h.lr / (1 - h.beta1 ** h.step);
          const bc2 = Math.sqrt(1 - h.beta2 ** h.step);
          assertNear(got[0], want[0], (i) => {
            const denom = Math.sqrt(amsgrad ? want[3][i] : want[2][i]) / bc2 + h.eps;
            const upd = Math.abs((stepSize * want[1][i]) / denom);
            return 4 * U * Math.abs(p0[i]) + 2 * U * Math.abs(want[0][i]) + 12 * U * upd + (3 * U * mTerms(i) * stepSize) / denom;
          }, `${what}: p`, 'adamwUpdate p');
        }
      }
    }
  }
});

test('AdamW on the wasm backend follows the reference backend over several steps (amsgrad switched on midway, maximize, two groups, a skipped gradient)', (t) => {
  const shapes = [[65, 128], [128], [3, 17], [1]];
  const run = (name: string): { params: Float32Array[]; state: Float32Array[] } => {
    const prev = setBackend(name);
    try {
      const gen = new Generator(9);
      const params = shapes.map((s) => new Tensor(random(s.reduce((a, b) => a * b, 1), gen), s));
      const opt = new AdamW([{ params: params.slice(0, 2), weightDecay: 0.1 }, { params: params.slice(2), weightDecay: 0, maximize: true }], { lr: 1e-2, betas: [0.9, 0.99] });
      for (let step = 0; step < 6; step++) {
        if (step === 3) for (const g of opt.paramGroups) g.amsgrad = true;
        for (const p of params) p.grad = new Tensor(random(p.data.length, gen), p.shape);
        if (step === 2) params[3].grad = null; // skipped this step
        opt.step();
      }
      const state: Float32Array[] = [];
      for (const s of Object.values(opt.stateDict().state)) {
        for (const k of ['expAvg', 'expAvgSq', 'maxExpAvgSq']) state.push(Float32Array.from((s[k] as Tensor).data));
      }
      return { params: params.map((p) => Float32Array.from(p.data)), state };
    } finally {
      setBackend(prev);
    }
  };
  const a = run('wasm');
  const b = run('reference');
  let worst = 0;
  for (let k = 0; k < a.params.length; k++) worst = Math.max(worst, assertNear(a.params[k], b.params[k], (i) => 1e-6 + 1e-5 * Math.abs(b.params[k][i]), `param ${k}`));
  assert.equal(a.state.length, b.state.length);
  // m (every third state array) cancels (b1 m against (1 - b1) g), so its error is relative to its terms, not
  // to m: per step 3u (|b1 m| + |(1 - b1) g|) <= 3u * 1.3 for these N(0, 1) gradients, ~1.4e-6 summed over the
  // steps (each earlier error decays by b1). v and vmax add terms >= 0: relative.
  for (let k = 0; k < a.state.length; k++) {
    const atol = k % 3 === 0 ? 2e-6 : 1e-9;
    worst = Math.max(worst, assertNear(a.state[k], b.state[k], (i) => atol + 1e-5 * Math.abs(b.state[k][i]), `state ${k}`));
  }
  t.diagnostic(`worst error: ${worst.toFixed(3)} of the tolerance`);
  // Not bitwise: a float32 update really ran (if this fails, the backend fell back to the reference loop).
  assert.ok(a.params.some((p, k) => p.some((v, i) => v !== b.params[k][i])), 'the wasm update differs from the float64 one somewhere');
});

test('AdamW on the wasm backend matches PyTorch (fixtures/optim.json) to the tolerances of test/parity-optim.test.ts', (t) => {
  const fixture = loadFixture('optim.json');
  const prev = setBackend('wasm');
  let cases = 0;
  try {
    for (const [name, c] of Object.entries(fixture.cases)) {
      const p = c.params as unknown as { optimizer?: string; options: Record<string, unknown>; groups: (Record<string, unknown> & { params: string[] })[] };
      if (p.optimizer !== 'AdamW') continue;
      const params: Record<string, Tensor> = { W: toTensor(c.inputs.W, true), b: toTensor(c.inputs.b, true) };
      const opt = new AdamW(p.groups.map((g) => ({ ...g, params: g.params.map((n) => params[n]) })), p.options);
      for (let k = 0; k < 5; k++) {
        for (const [n, q] of Object.entries(params)) {
          const g = c.inputs[`g${k}.${n}`];
          q.grad = g === undefined ? null : toTensor(g);
        }
        opt.step();
        for (const [n, q] of Object.entries(params)) assertClose(q, toTensor(c.outputs[`step${k}.${n}`]), { rtol: 1e-5, atol: 1e-6 }, `${name} step ${k} ${n}`);
      }
      cases++;
    }
  } finally {
    setBackend(prev);
  }
  t.diagnostic(`${cases} AdamW cases`);
  assert.ok(cases >= 3, 'the fixture has AdamW cases');
});

test('largest errors seen, in units of each tolerance (diagnostic; every one is <= 1 or a test above failed)', (t) => {
  for (const [k, v] of [...worstSeen].sort()) t.diagnostic(`${k}: ${v.toFixed(3)}`);
  assert.ok(worstSeen.size >= 15, 'the kernels above ran');
});
