/**
 * The wasm backend's elementwise, reduction and layout kernels (wasm/elementwise.ts via
 * src/backend/wasm/elementwise.ts) against the reference kernels.
 *
 * Every call runs on 1 thread and on 2 threads with the work split forced at every size
 * (setElementwiseParallelWork(0)); the two results must be bitwise identical (NaN matching any NaN). Run
 * this file both as `node --test` (the plain SIMD build) and with `--experimental-wasm-relaxed-simd` (the
 * relaxed build, with fused multiply-adds): the tolerances below cover both.
 *
 * Tolerances (u = 2^-24, half an ulp of float32, so a correctly rounded result is within u |r| of the exact
 * value; the reference is correctly rounded up to its own float64 error):
 * - Bitwise equal to the reference: every layout kernel, broadcastTo and max (pure data movement and
 *   comparisons); binary and scalar add, sub, mul, div, maximum, minimum and comparisons (float32 + - * /
 *   of float32 values is the correctly rounded result, which is what float64-then-round gives; a scalar
 *   that is not a float32 value goes through float64 lanes); neg, abs, relu, sqrt, rsqrt (float64 lanes)
 *   and the derivatives of neg, exp, abs, relu, tanh, sigmoid (float64 lanes); sum over leading or middle
 *   axes (float64 sums in the reference's order).
 * - sum over trailing axes: float64 partial sums in another order, so the float64 results differ by at most
 *   n 2^-53 sum|x|, which moves the float32 result by at most one rounding: 2u |r| + 2^-50 n sum|x|.
 * - log and sqrt derivatives (dy / x and 0.5 dy / y instead of (1/x) dy and (0.5/y) dy): 4u |r|;
 *   rsqrt derivative (float64, 1/(x sqrt x) for x^-1.5): 2u |r|.
 * - exp, log, tanh (Cephes polynomials in float32, measured within 1 ulp): 4u |r|; sigmoid and silu (exp,
 *   one division, one product; measured within 3 ulps): 8u |r|.
 * - GELU forward: x sigmoid(z) with z = 2 sqrt(2/pi) (x + 0.044715 x^3) (tanh form), or x Phi(x) with
 *   Phi from erfc (erf form, exp(-x^2/2 + P)): the exp argument, rounded in float32, carries an absolute
 *   error of a few u |arg|, which becomes that relative error of the result: (16 + 8 |arg|) u |r|,
 *   arg = z or x^2/2 (measured: at most 28 ulps, in the far negative tail). Plus the reference's own error:
 *   its gelu_tanh takes 1 + tanh(u) in float64 (2^-52 |x| absolute); its erf is a Taylor series whose
 *   cancellation costs ~5e-11 (so its gelu_erf is off by up to ~3e-11 |x|, measured against mpmath: e.g.
 *   0.3% at x = -5.65, where the wasm kernel is within 1e-5 relative).
 * - Derivatives of silu and GELU: sums of two terms that cancel near the function's minimum, so the
 *   bound is relative to the terms' size S (silu: s + |x| s (1-s); gelu_tanh: s + 2|x| s (1-s) k (1 + 3c
 *   x^2); gelu_erf: Phi + |x| phi): (8 + 4 |arg|) u S + 8u |r|, plus the reference's own error (its erf;
 *   its float64 1 + tanh u and 1 - tanh^2 u, 2^-52 each, which make it exactly 0 in the far tail).
 * - An absolute floor of 1e-42 admits subnormal results (exp(x) below 2^-126 has fewer digits; silu and GELU
 *   multiply such a value by |x| <= ~104 before it underflows to 0: 104 * 1.4e-45 < 1e-42).
 * Special values (NaN, +-Infinity, +-0, subnormals, overflowing / underflowing arguments) must give exactly
 * the reference's NaN-ness, infinities and signed zeros.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { elementwise as refE, erf as refErf } from '../src/backend/reference/elementwise.js';
import { reduce as refR } from '../src/backend/reference/reduce.js';
import { layout as refL } from '../src/backend/reference/layout.js';
import { elementwiseKernels, setElementwiseParallelWork, collapse } from '../src/backend/wasm/elementwise.js';
import { wasmRuntime, configureWasm, wasmInfo } from '../src/backend/wasm/index.js';
import type { ElementwiseKernels, UnaryOp, BinaryOp } from '../src/backend/kernels/elementwise.js';
import type { ReduceKernels } from '../src/backend/kernels/reduce.js';
import type { LayoutKernels } from '../src/backend/kernels/layout.js';
import { Generator } from '../src/tensor/random.js';
import { numel } from '../src/tensor/shape.js';

const w = elementwiseKernels as ElementwiseKernels & ReduceKernels & LayoutKernels;
const U = 2 ** -24;
const FLOOR = 1e-42;
const SIZES = [1, 3, 17, 65, 127, 1000];

let oldParallel = 0;
before(async () => {
  oldParallel = setElementwiseParallelWork(0); // split even one element across threads
  configureWasm({ threads: 2 });
  await wasmRuntime().pool.ready();
  assert.equal(wasmInfo().threads, 2, 'the second thread must be running for the thread-count checks');
});
after(() => {
  setElementwiseParallelWork(oldParallel);
});

test('wasm elementwise: build flavour', (t) => {
  t.diagnostic(`flavour ${wasmInfo().flavour}`);
  assert.ok(['simd', 'relaxed-simd'].includes(wasmInfo().flavour));
});

// ---- helpers ----

/** Normal values times `scale`, in wasm memory (as a tensor's data is) unless `plain`. */
function random(n: number, gen: Generator, scale = 1, plain = false): Float32Array {
  const x = plain ? new Float32Array(n) : wasmRuntime().heap.allocF32(n);
  for (let i = 0; i < n; i++) x[i] = gen.normal() * scale;
  return x;
}

function inWasm(values: ArrayLike<number>): Float32Array {
  const x = wasmRuntime().heap.allocF32(values.length);
  x.set(Array.from(values));
  return x;
}

const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 1e-45, 1e30, -1e30, 3e38, -3e38, 88.7, 88.8, -87.5, -103, -104, -110, 20, -20, 9, -9, 0.625, -0.625, 1, -1, 1e-7];

type Arr = Float32Array | Int32Array;

function sameBits(a: Arr, b: Arr): number {
  if (a.length !== b.length) return 0;
  const fa = a instanceof Float32Array;
  for (let i = 0; i < a.length; i++) {
    if (fa && Number.isNaN(a[i]) && Number.isNaN(b[i])) continue;
    if (!Object.is(a[i], b[i])) return i;
  }
  return -1;
}

/** Same values bit for bit (so -0 differs from +0); any NaN matches any NaN. */
function assertSame(got: Arr, want: Arr, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const i = sameBits(got, want);
  assert.ok(i < 0, `${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
}

/** Runs `f` on 1 thread and on 2 (split forced), asserts the results identical, returns the 2-thread one. */
function both<T>(f: () => T, what: string, parts: (r: T) => Arr[] = (r) => [r as unknown as Arr]): T {
  configureWasm({ threads: 1 });
  const one = f();
  configureWasm({ threads: 2 });
  const two = f();
  const p1 = parts(one);
  const p2 = parts(two);
  p1.forEach((x, k) => assertSame(p2[k], x, `${what} (2 threads vs 1)`));
  return two;
}

/**
 * got vs want elementwise: NaN where want is NaN; exactly want where want is +-Infinity, or +-0 (signed)
 * unless `zeroExact(i)` says the reference's 0 is itself only an approximation; else
 * |got - want| <= bound(i) + FLOOR.
 */
function assertWithin(got: Float32Array, want: Float32Array, bound: (i: number) => number, what: string, zeroExact: (i: number) => boolean = () => true): number {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i];
    const r = want[i];
    if (Number.isNaN(r) || !Number.isFinite(r) || (r === 0 && zeroExact(i))) {
      assert.ok(Object.is(g, r) || (Number.isNaN(g) && Number.isNaN(r)), `${what}: element ${i} is ${g}, expected exactly ${r}`);
      continue;
    }
    const d = Math.abs(g - r);
    const b = bound(i) + FLOOR;
    assert.ok(d <= b, `${what}: element ${i} is ${g}, expected ${r} (|diff| ${d.toExponential(3)} > bound ${b.toExponential(3)})`);
    worst = Math.max(worst, d / b);
  }
  return worst;
}

// ---- unary ----

const UNARY_OPS: UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'tanh', 'sigmoid', 'relu', 'gelu_tanh', 'gelu_erf', 'silu'];
const K = Math.sqrt(2 / Math.PI);
const C = 0.044715;

/** |exp argument| inside the op at x (what the float32 rounding of that argument scales). */
function arg(op: UnaryOp, x: number): number {
  if (op === 'gelu_tanh') return Math.abs(2 * K * (x + C * x * x * x));
  if (op === 'gelu_erf') return 0.5 * x * x;
  if (op === 'silu' || op === 'sigmoid' || op === 'exp' || op === 'tanh') return Math.abs(x);
  return 0;
}

function refErfTerms(x: number): number {
  const phi = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  const Phi = 0.5 * (1 + refErf(x / Math.SQRT2));
  return Math.abs(Phi) + Math.abs(x) * phi;
}

/** Forward bound at x for reference value r. */
function fwdBound(op: UnaryOp, x: number, r: number): number {
  const a = Math.abs(r);
  switch (op) {
    case 'exp': case 'log': case 'tanh': return 4 * U * a;
    case 'sigmoid': case 'silu': return 8 * U * a;
    case 'gelu_tanh': return (16 + 8 * arg(op, x)) * U * a + 2 ** -52 * Math.abs(x);
    case 'gelu_erf': return (16 + 8 * arg(op, x)) * U * a + 5e-11 * Math.abs(x);
    default: return 0;
  }
}

/** Size of the terms that make f'(x) (before dy). */
function terms(op: UnaryOp, x: number): number {
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  if (op === 'silu') {
    const s = sig(x);
    return s + Math.abs(x) * s * (1 - s);
  }
  if (op === 'gelu_tanh') {
    const s = sig(2 * K * (x + C * x * x * x));
    return s + 2 * Math.abs(x) * s * (1 - s) * K * (1 + 3 * C * x * x);
  }
  if (op === 'gelu_erf') return refErfTerms(x);
  return 0;
}

function bwdBound(op: UnaryOp, x: number, dy: number, r: number): number {
  const a = Math.abs(r);
  switch (op) {
    case 'log': case 'sqrt': return 4 * U * a;
    case 'rsqrt': return 2 * U * a;
    case 'silu': return (8 + 4 * arg(op, x)) * U * terms(op, x) * Math.abs(dy) + 8 * U * a;
    case 'gelu_tanh': {
      // The reference's 1 + t and 1 - t^2 (t = tanh u in float64) are off by up to 2^-52 each.
      const refErr = 2 ** -52 * (1 + Math.abs(x) * K * (1 + 3 * C * x * x));
      return ((8 + 4 * arg(op, x)) * U * terms(op, x) + refErr) * Math.abs(dy) + 8 * U * a;
    }
    case 'gelu_erf': return ((8 + 4 * arg(op, x)) * U * terms(op, x) + 5e-11 * Math.abs(x)) * Math.abs(dy) + 8 * U * a;
    default: return 0; // bitwise
  }
}

const EXACT_FWD = new Set<UnaryOp>(['neg', 'abs', 'relu', 'sqrt', 'rsqrt']);
const EXACT_BWD = new Set<UnaryOp>(['neg', 'exp', 'abs', 'relu', 'tanh', 'sigmoid']);

function checkUnary(op: UnaryOp, x: Float32Array, dy: Float32Array, what: string): { fwd: number; bwd: number } {
  const want = refE.unary(op, x);
  const got = both(() => w.unary(op, x), `${what} forward`);
  let fwd = 0;
  if (EXACT_FWD.has(op)) assertSame(got, want, `${what} forward`);
  // The reference's GELU rounds to 0 in the far negative tail (1 + tanh, 1 + erf cancel in float64) where
  // the value is not 0: there its 0 is compared within the bound (which includes the reference's error).
  const gelu = op === 'gelu_tanh' || op === 'gelu_erf';
  const zeroExact = (i: number) => !gelu || x[i] === 0 || !Number.isFinite(x[i]);
  if (EXACT_FWD.has(op)) assertSame(got, want, `${what} forward`);
  else fwd = assertWithin(got, want, (i) => fwdBound(op, x[i], want[i]), `${what} forward`, zeroExact);
  // The backward takes the reference's forward output, so that it is tested alone.
  const y = inWasm(want);
  const gwant = refE.unaryBackward(op, x, want, dy);
  const ggot = both(() => w.unaryBackward(op, x, y, dy), `${what} backward`);
  let bwd = 0;
  if (EXACT_BWD.has(op)) assertSame(ggot, gwant, `${what} backward`);
  else bwd = assertWithin(ggot, gwant, (i) => bwdBound(op, x[i], dy[i], gwant[i]), `${what} backward`, zeroExact);
  return { fwd, bwd };
}

for (const op of UNARY_OPS) {
  test(`wasm unary ${op}: random inputs of awkward sizes, 1 and 2 threads`, (t) => {
    const gen = new Generator(11);
    let worst = { fwd: 0, bwd: 0 };
    for (const n of SIZES) {
      for (const scale of [1, 4]) {
        const x = random(n, gen, scale, n === 17);
        const dy = random(n, gen);
        const r = checkUnary(op, x, dy, `${op} n=${n} scale=${scale}`);
        worst = { fwd: Math.max(worst.fwd, r.fwd), bwd: Math.max(worst.bwd, r.bwd) };
      }
    }
    t.diagnostic(`largest error / bound: forward ${worst.fwd.toFixed(2)}, backward ${worst.bwd.toFixed(2)}`);
  });

  test(`wasm unary ${op}: special values and a sweep over every float32 exponent`, () => {
    const sweep: number[] = [];
    for (let e = -149; e <= 127; e += 0.25) sweep.push(2 ** e, -(2 ** e));
    const x = inWasm([...SPECIAL, ...sweep]);
    const gen = new Generator(5);
    const dy = inWasm(Array.from(x, (_, i) => (i < 3 ? [1, NaN, Infinity][i] : gen.normal())));
    checkUnary(op, x, dy, `${op} special`);
    // dy of 0 and +-Infinity at ordinary x: the products' NaN / Infinity follow the reference.
    const x2 = inWasm([0.5, -0.5, 2, -2, 0, -0, 100]);
    for (const d of [0, -0, Infinity, -Infinity, NaN]) checkUnary(op, x2, inWasm(new Array(7).fill(d)), `${op} dy=${d}`);
  });

  test(`wasm unary ${op}: a dense sweep of [-12, 12] (the accuracy bound holds everywhere)`, (t) => {
    const n = 48001;
    const x = wasmRuntime().heap.allocF32(n);
    for (let i = 0; i < n; i++) x[i] = -12 + (24 * i) / (n - 1);
    const dy = inWasm(new Array(n).fill(1));
    const r = checkUnary(op, x, dy, `${op} sweep`);
    t.diagnostic(`largest error / bound: forward ${r.fwd.toFixed(2)}, backward ${r.bwd.toFixed(2)}`);
  });
}

test('wasm unary: empty input', () => {
  for (const op of UNARY_OPS) {
    assert.equal(w.unary(op, new Float32Array(0)).length, 0);
    assert.equal(w.unaryBackward(op, new Float32Array(0), new Float32Array(0), new Float32Array(0)).length, 0);
  }
});

// ---- binary and scalar ----

const BINARY_OPS: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'];

/** Random values with ties (a few values repeat), zeros of both signs, and NaN / infinities sprinkled in. */
function mixed(n: number, gen: Generator, plain = false): Float32Array {
  const x = plain ? new Float32Array(n) : wasmRuntime().heap.allocF32(n);
  const pool = [0, -0, 1, -1, 0.5, 2, NaN, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    const u = gen.uniform();
    x[i] = u < 0.25 ? pool[gen.int(0, pool.length)] : u < 0.4 ? gen.int(-2, 3) : gen.normal() * 3;
  }
  return x;
}

function bshape(outShape: readonly number[], keep: readonly boolean[]): number[] {
  return outShape.map((d, i) => (keep[i] ? d : 1));
}

/** [a shape, b shape] pairs exercising every broadcast pattern. */
const BINARY_SHAPES: [number[], number[]][] = [
  ...SIZES.map((n): [number[], number[]] => [[n], [n]]), // same shape
  [[3, 17], [3, 17]],
  [[65, 17], [17]], // bias: [rows, cols] op [cols]
  [[127, 3], [1, 3]],
  [[17, 65], [17, 1]], // [rows, cols] op [rows, 1]
  [[1000], []], // scalar tensor
  [[], [1000]],
  [[1], [127]],
  [[65, 1], [1, 17]], // outer
  [[17, 1], [65]],
  [[2, 1, 3, 17], [5, 1, 17]],
  [[3, 1, 5], [1, 4, 1]],
  [[2, 3, 4, 5], [3, 1, 5]],
  [[2, 3, 4, 5], [2, 1, 4, 1]],
  [[1, 1], [1]],
  [[], []],
  [[12, 64, 128], [64, 128]],
  [[0, 3], [3]],
  [[4, 0], [1, 1]],
];

function outShapeOf(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, i) => {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    return da === 1 ? db : da;
  });
}

for (const op of BINARY_OPS) {
  test(`wasm binary ${op}: every broadcast pattern, bitwise equal to the reference, 1 and 2 threads`, () => {
    const gen = new Generator(3);
    for (const [as, bs] of BINARY_SHAPES) {
      for (const order of [0, 1]) {
        const [sa, sb] = order === 0 ? [as, bs] : [bs, as];
        const out = outShapeOf(sa, sb);
        const a = mixed(numel(sa), gen, sa.length === 2);
        const b = mixed(numel(sb), gen);
        const want = refE.binary(op, a, sa, b, sb, out);
        const got = both(() => w.binary(op, a, sa, b, sb, out), `${op} [${sa}] [${sb}]`);
        assertSame(got, want, `${op} [${sa}] (op) [${sb}]`);
      }
    }
  });

  test(`wasm scalar ${op}: float32 and non-float32 scalars, either side, bitwise equal`, () => {
    const gen = new Generator(4);
    const scalars = [0.5, -3, 0.1, 1 / 3, 1e300, -1e-50, 0, -0, NaN, Infinity, -Infinity, 2, 16777217];
    for (const n of SIZES) {
      const x = mixed(n, gen, n === 65);
      for (const s of scalars) {
        for (const first of [false, true]) {
          const want = refE.scalar(op, x, s, first);
          const got = both(() => w.scalar(op, x, s, first), `${op} scalar ${s}`);
          assertSame(got, want, `${op} n=${n} s=${s} first=${first}`);
        }
      }
    }
  });
}

test('collapse merges contiguous axes and drops size-1 ones', () => {
  assert.deepEqual(collapse([2, 3, 4], [[12, 4, 1], [0, 0, 1]]), { shape: [6, 4], strides: [[4, 1], [0, 1]] });
  assert.deepEqual(collapse([1, 1], [[0, 0]]), { shape: [1], strides: [[0]] });
  assert.deepEqual(collapse([5, 1, 7], [[7, 7, 1]]), { shape: [35], strides: [[1]] });
});

// ---- reductions ----

test('wasm sum: every contiguous run of axes, bitwise (leading/middle) or within one rounding (trailing)', () => {
  const gen = new Generator(6);
  const cases: [number[], number[]][] = [];
  for (const n of SIZES) cases.push([[n], [0]], [[7, n], [0]], [[7, n], [1]], [[7, n], [0, 1]], [[3, n, 5], [1]]);
  for (const shape of [[3, 5, 7], [2, 3, 4, 17], [1, 17, 1]]) {
    for (let f = 0; f < shape.length; f++) for (let l = f; l < shape.length; l++) cases.push([shape, Array.from({ length: l - f + 1 }, (_, k) => f + k)]);
  }
  cases.push([[12, 64, 128], [0, 1]], [[12, 20, 128], [0]], [[4, 70001], [1]], [[2, 140000], [0, 1]], [[3, 4, 5], []], [[3, 4, 5], [0, 2]], [[0, 3], [0]], [[3, 0], [1]], [[3, 0], [0]]);
  for (const [shape, axes] of cases) {
    const x = random(numel(shape), gen, 1, shape.length === 3);
    if (x.length > 2) x[1] = gen.uniform() < 0.5 ? 1e30 : -1e30; // cancellation
    const want = refR.sum(x, shape, axes);
    const got = both(() => w.sum(x, shape, axes), `sum [${shape}] over [${axes}]`);
    // Sums over trailing axes (nothing after the last summed axis) add in another order; the rest is bitwise.
    const contiguous = axes.length > 0 && axes[axes.length - 1] - axes[0] === axes.length - 1;
    const trailing = contiguous && numel(shape.slice(axes[axes.length - 1] + 1)) === 1;
    if (!trailing) {
      assertSame(got, want, `sum [${shape}] over [${axes}]`);
      continue;
    }
    const n = numel(axes.map((a) => shape[a]));
    const absSum = refR.sum(x.map(Math.abs), shape, axes);
    assertWithin(got, want, (i) => 2 * U * Math.abs(want[i]) + 2 ** -50 * n * absSum[i], `sum [${shape}] over [${axes}]`);
  }
});

test('wasm sum: NaN and infinities propagate as in the reference', () => {
  for (const [shape, axes] of [[[4, 9], [1]], [[4, 9], [0]], [[2, 70000], [1]]] as [number[], number[]][]) {
    const x = inWasm(new Array(numel(shape)).fill(1));
    x[2] = NaN;
    x[shape[1] + 1] = Infinity;
    x[shape[1] + 3] = -Infinity;
    x[x.length - 1] = Infinity;
    const want = refR.sum(x, shape, axes);
    assertSame(both(() => w.sum(x, shape, axes), 'sum special'), want, `sum special [${shape}] over [${axes}]`);
  }
});

test('wasm broadcastTo: every pattern, bitwise', () => {
  const gen = new Generator(7);
  const cases: [number[], number[]][] = [
    [[1], [1000]], [[1, 17], [65, 17]], [[17, 1], [17, 65]], [[2, 1, 3], [2, 4, 3]], [[1, 1], [3, 5]], [[3], [3]],
    [[0, 1], [0, 5]], [[1, 3, 1, 5], [2, 3, 4, 5]], [[1, 1, 1], [2, 3, 127]], [[1, 128], [768, 128]],
  ];
  for (const [shape, out] of cases) {
    const x = mixed(numel(shape), gen);
    assertSame(both(() => w.broadcastTo(x, shape, out), `broadcastTo [${shape}]`), refR.broadcastTo(x, shape, out), `broadcastTo [${shape}] -> [${out}]`);
  }
});

test('wasm max: values and first indices bitwise, NaN wins, all -Infinity, ties, empty axis', () => {
  const gen = new Generator(8);
  const cases: [number, number, number][] = [[5, 17, 1], [3, 65, 7], [2, 1000, 3], [4, 3, 127], [1, 1, 1], [2, 0, 3], [0, 5, 2], [65, 16, 1], [7, 127, 4], [3, 20, 5]];
  for (const n of SIZES) cases.push([1, n, 1], [2, n, 1]);
  for (const [outer, n, inner] of cases) {
    for (const kind of ['random', 'ties', 'nan', 'neginf', 'zeros']) {
      const size = outer * n * inner;
      let x: Float32Array;
      if (kind === 'random') x = random(size, gen);
      else if (kind === 'ties') x = inWasm(Array.from({ length: size }, () => gen.int(-2, 3)));
      else if (kind === 'nan') x = inWasm(Array.from({ length: size }, () => (gen.uniform() < 0.1 ? NaN : gen.normal())));
      else if (kind === 'neginf') x = inWasm(Array.from({ length: size }, () => (gen.uniform() < 0.9 ? -Infinity : gen.normal())));
      else x = inWasm(Array.from({ length: size }, () => (gen.uniform() < 0.5 ? 0 : -0)));
      const want = refR.max(x, outer, n, inner);
      const got = both(() => w.max(x, outer, n, inner), `max ${kind}`, (r) => [r.values, r.indices]);
      assertSame(got.values, want.values, `max values [${outer},${n},${inner}] ${kind}`);
      assertSame(got.indices, want.indices, `max indices [${outer},${n},${inner}] ${kind}`);
    }
  }
});

// ---- layout ----

function permutations(r: number): number[][] {
  if (r === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(r - 1)) for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), r - 1, ...p.slice(i)]);
  return out;
}

test('wasm permute: every permutation of ranks 1-4 on awkward shapes (incl. batched transposes), bitwise', () => {
  const gen = new Generator(9);
  const shapes = [[17], [7, 9], [5, 17, 65], [3, 17, 5], [2, 3, 4, 5], [2, 17, 3, 5], [1, 5, 1, 7], [3, 1, 65, 4], [12, 8, 4, 32], [2, 0, 3]];
  for (const shape of shapes) {
    for (const perm of permutations(shape.length)) {
      const x = random(numel(shape), gen, 1, shape.length === 2);
      const want = refL.permute(x, shape, perm);
      assertSame(both(() => w.permute(x, shape, perm), `permute [${shape}] [${perm}]`), want, `permute [${shape}] by [${perm}]`);
    }
  }
});

test('wasm slice / unslice: blocks along one and several axes, bitwise', () => {
  const gen = new Generator(10);
  const shapes = [[1000], [17, 65], [3, 17, 5], [2, 3, 4, 5], [12, 8, 384], [4, 1, 6]];
  for (const shape of shapes) {
    for (let trial = 0; trial < 12; trial++) {
      // one axis cut (as narrow / split / qkv) or every axis cut
      const cutAll = trial >= 8;
      const axis = trial % shape.length;
      const starts = shape.map((d, i) => (cutAll || i === axis ? gen.int(0, d) : 0));
      const outShape = shape.map((d, i) => (cutAll || i === axis ? gen.int(0, d - starts[i] + 1) : d));
      const x = random(numel(shape), gen, 1, trial === 3);
      assertSame(both(() => w.slice(x, shape, starts, outShape), 'slice'), refL.slice(x, shape, starts, outShape), `slice [${shape}] at [${starts}] size [${outShape}]`);
      const block = random(numel(outShape), gen, 1, trial === 5);
      assertSame(both(() => w.unslice(block, outShape, starts, shape), 'unslice'), refL.unslice(block, outShape, starts, shape), `unslice [${outShape}] at [${starts}] into [${shape}]`);
    }
  }
  // The whole tensor (no axis cut) and a scalar.
  const x = random(6, gen);
  assertSame(w.slice(x, [2, 3], [0, 0], [2, 3]), refL.slice(x, [2, 3], [0, 0], [2, 3]), 'slice whole');
  assertSame(w.unslice(x, [2, 3], [0, 0], [2, 3]), refL.unslice(x, [2, 3], [0, 0], [2, 3]), 'unslice whole');
  const s = inWasm([3]);
  assertSame(w.unslice(s, [], [], []), refL.unslice(s, [], [], []), 'unslice scalar');
  assertSame(w.slice(s, [], [], []), refL.slice(s, [], [], []), 'slice scalar');
});

test('wasm concat: along every axis, 1-4 inputs, empty pieces, inputs outside wasm memory, bitwise', () => {
  const gen = new Generator(12);
  for (const base of [[17], [3, 5], [2, 3, 4], [12, 8, 128]]) {
    for (let axis = 0; axis < base.length; axis++) {
      for (const count of [1, 2, 3, 4]) {
        const shapes = Array.from({ length: count }, (_, k) => base.map((d, i) => (i === axis ? (k === 1 ? 0 : gen.int(1, d + 3)) : d)));
        const xs = shapes.map((s, k) => random(numel(s), gen, 1, k === 2));
        assertSame(both(() => w.concat(xs, shapes, axis), 'concat'), refL.concat(xs, shapes, axis), `concat [${shapes.map((s) => `[${s}]`)}] axis ${axis}`);
      }
    }
  }
});

test('wasm where: every broadcast pattern of cond, a and b; NaN cond is true, -0 false; bitwise', () => {
  const gen = new Generator(13);
  const cases: [number[], number[], number[]][] = [
    [[1000], [1000], [1000]], [[1000], [], [1000]], [[1000], [1000], []], [[17], [], []],
    [[64, 64], [], [2, 4, 64, 64]], [[5, 7], [3, 5, 7], []], [[3, 1], [1, 4], []], [[3, 1], [1, 4], [2, 1, 1]],
    [[2, 3, 4, 5], [3, 1, 5], [4, 1]], [[1], [65], [127, 1]], [[0, 3], [3], []], [[1, 1], [1], []],
  ];
  for (const [cs, as, bs] of cases) {
    const out = outShapeOf(outShapeOf(cs, as), bs);
    const cond = inWasm(Array.from({ length: numel(cs) }, () => [0, -0, 1, NaN, 0.5, 0][gen.int(0, 6)]));
    const a = mixed(numel(as), gen, as.length === 0);
    const b = mixed(numel(bs), gen);
    const want = refL.where(cond, cs, a, as, b, bs, out);
    assertSame(both(() => w.where(cond, cs, a, as, b, bs, out), 'where'), want, `where [${cs}] [${as}] [${bs}]`);
  }
});

test('wasm kernels return arrays in wasm memory and never write their inputs', () => {
  const gen = new Generator(14);
  const x = random(127, gen);
  const b = random(127, gen);
  const copy = Float32Array.from(x);
  const outs = [
    w.unary('gelu_tanh', x), w.unaryBackward('gelu_erf', x, x, x), w.binary('add', x, [127], b, [127], [127]), w.scalar('mul', x, 0.1, false),
    w.sum(x, [127], [0]), w.permute(x, [127, 1], [1, 0]), w.slice(x, [127], [3], [10]), w.concat([x, b], [[127], [127]], 0),
  ];
  assertSame(x, copy, 'input untouched');
  for (const o of outs) assert.ok(wasmRuntime().heap.owns(o), 'output in wasm memory');
});
