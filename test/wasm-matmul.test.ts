/**
 * The wasm backend's matmul (wasm/matmul.ts, src/backend/wasm/matmul.ts) against the reference matmul.
 *
 * Run it twice: `node --test build-x/test/wasm-matmul.test.js` tests the plain SIMD build, and with
 * `--experimental-wasm-relaxed-simd` the relaxed-SIMD one (fused multiply-adds); the first test checks
 * and prints which build this process runs.
 *
 * Tolerance. The kernel accumulates each C element in float32, one product at a time (or, on the
 * few-rows path with B transposed, in 4 lanes of partial sums), so by the standard bound for recursive
 * summation its error is at most gamma_k = k u / (1 - k u) times sum_q |a_iq| |b_qj|, u = 2^-24 (fused
 * multiply-adds only remove roundings). The reference is the exact sum rounded once to float32 (error
 * <= u |c|). So |wasm - reference| <= (k + 2) u sum_q |a_iq| |b_qj| (the + 2 covers the reference's own
 * rounding and gamma_k's higher-order term for the k here), computed per element with the reference matmul
 * of |A| and |B|. A wrong index, a missed edge or a stale accumulator gives errors of the size of the
 * values themselves, far above this bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor/tensor.js';
import { Generator } from '../src/tensor/random.js';
import { matmul } from '../src/ops/matmul.js';
import { backend, setBackend } from '../src/backend/backend.js';
import { matmul as reference } from '../src/backend/reference/matmul.js';
import type { MatmulParams } from '../src/backend/kernels/matmul.js';
import { wasmBackend, wasmInfo, wasmRuntime, configureWasm } from '../src/backend/wasm/index.js';
import { configureWasmMatmul } from '../src/backend/wasm/matmul.js';

const BOOLS = [false, true] as const;
const U = 2 ** -24;
// The flag on the command line, or set by the test preload (QKV_TEST_RELAXED=1, scripts/test.mjs's relaxed pass).
const relaxedFlag = process.execArgv.includes('--experimental-wasm-relaxed-simd') || process.env.QKV_TEST_RELAXED === '1';
const wasm = wasmBackend.matmul;
const defaults = configureWasmMatmul();

/** The two code paths, forced, and the default choice between them. */
const MODES = [
  { what: 'default', rowsPathMaxM: defaults.rowsPathMaxM, rowsPathMaxMacs: defaults.rowsPathMaxMacs },
  { what: 'packed only', rowsPathMaxM: 0, rowsPathMaxMacs: 0 },
  { what: 'rows only', rowsPathMaxM: 1e9, rowsPathMaxMacs: 0 },
];

/** Runs `f` once per mode, with the mode's settings. */
function eachMode(f: (what: string) => void): void {
  try {
    for (const { what, ...mode } of MODES) {
      configureWasmMatmul(mode);
      f(what);
    }
  } finally {
    configureWasmMatmul({ rowsPathMaxM: defaults.rowsPathMaxM, rowsPathMaxMacs: defaults.rowsPathMaxMacs });
  }
}

function random(n: number, gen: Generator): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = gen.normal();
  return x;
}

function params(batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean, aOffsets?: number[], bOffsets?: number[]): MatmulParams {
  return {
    batch, m, k, n, transA, transB,
    aOffsets: Int32Array.from(aOffsets ?? Array.from({ length: batch }, (_, i) => i * m * k)),
    bOffsets: Int32Array.from(bOffsets ?? Array.from({ length: batch }, (_, i) => i * k * n)),
  };
}

function describe(p: MatmulParams): string {
  return `batch ${p.batch} [${p.m}x${p.k}]${p.transA ? 'ᵀ' : ''} x [${p.k}x${p.n}]${p.transB ? 'ᵀ' : ''} aOffsets ${[...p.aOffsets].slice(0, 6)} bOffsets ${[...p.bOffsets].slice(0, 6)}`;
}

function assertSameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) assert.fail(`${what}: element ${i} is ${got[i]}, the other run gave ${want[i]}`);
  }
}

/**
 * Checks `got` against the reference within (k + 2) 2^-24 sum|a||b| per element (see the top of the file);
 * where the reference is NaN or infinite, `got` must be the same. Returns the largest error relative to
 * the bound (for the record).
 */
function assertClose(got: Float32Array, a: Float32Array, b: Float32Array, p: MatmulParams, what: string): number {
  const want = reference.matmul(a, b, p);
  const mag = reference.matmul(a.map(Math.abs), b.map(Math.abs), p);
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const w = want[i];
    if (!Number.isFinite(w)) {
      if (!Object.is(got[i], w) && !(Number.isNaN(w) && Number.isNaN(got[i]))) assert.fail(`${what}: element ${i} is ${got[i]}, reference ${w}`);
      continue;
    }
    const bound = (p.k + 2) * U * mag[i] + 1e-37;
    const err = Math.abs(got[i] - w);
    if (!(err <= bound)) assert.fail(`${what}: element ${i} is ${got[i]}, reference ${w} (error ${err} > bound ${bound})`);
    worst = Math.max(worst, err / bound);
  }
  return worst;
}

/** The product on 1 thread, checked against the reference, and on 2 threads, checked to be bitwise equal. */
function check(a: Float32Array, b: Float32Array, p: MatmulParams, what = describe(p)): Float32Array {
  configureWasm({ threads: 1 });
  const one = wasm(a, b, p);
  assertClose(one, a, b, p, what);
  configureWasm({ threads: 2 });
  assertSameBits(wasm(a, b, p), one, `${what}: 2 threads vs 1`);
  return one;
}

test('setup: the build this process runs, two threads, work split even for small products', async () => {
  const flavour = wasmInfo().flavour;
  console.log(`# wasm-matmul: testing the ${flavour} build (${relaxedFlag ? 'with' : 'without'} --experimental-wasm-relaxed-simd)`);
  assert.equal(flavour, relaxedFlag ? 'relaxed-simd' : 'simd');
  configureWasm({ threads: 2 });
  assert.equal(await wasmRuntime().pool.ready(), 2, 'two threads ready');
  configureWasmMatmul({ minThreadMacs: 0 }); // every product below is split between the threads
});

test('fused or not: the plain build rounds each product, the relaxed one may fuse', () => {
  // c = -1 * 1 + (1 + 2^-12)^2 = 2^-11 + 2^-24 exactly; rounding the product first loses the 2^-24.
  const x = 1 + 2 ** -12;
  const p = params(1, 1, 2, 1, false, false);
  eachMode((what) => {
    for (const m of [1, 5]) {
      const a = new Float32Array(2 * m).fill(0);
      a.set([-1, x]);
      const got = wasm(a, new Float32Array([1, x]), { ...p, m, aOffsets: new Int32Array(1) })[0];
      if (!relaxedFlag) assert.equal(got, 2 ** -11, `${what}, m = ${m}: unfused`);
      else {
        assert.ok(got === 2 ** -11 || got === 2 ** -11 + 2 ** -24, `${what}, m = ${m}: ${got}`);
        console.log(`# ${what}, m = ${m}: relaxed_madd ${got === 2 ** -11 ? 'is not fused' : 'is fused'} on this machine`);
      }
    }
  });
});

test('every transpose combination, sizes 1, 3, 17, 65, 127 mixed; 1 and 2 threads identical', () => {
  const gen = new Generator(1);
  const sizes = [1, 3, 17, 65, 127];
  let worst = 0;
  for (const transA of BOOLS) for (const transB of BOOLS) {
    for (const m of sizes) for (const k of sizes) for (const n of sizes) {
      const a = random(m * k, gen), b = random(k * n, gen);
      const p = params(1, m, k, n, transA, transB);
      check(a, b, p);
      worst = Math.max(worst, assertClose(wasm(a, b, p), a, b, p, describe(p)));
    }
  }
  console.log(`# largest error: ${worst.toFixed(4)} of the bound`);
  assert.ok(worst > 0, 'float32 accumulation differs from the float64 reference somewhere');
});

test('larger products: 300 x 257 x 129, k across the k blocks, n across the column blocks, m across the row blocks', () => {
  const gen = new Generator(2);
  for (const transA of BOOLS) for (const transB of BOOLS) {
    for (const [m, k, n] of [[300, 257, 129], [129, 600, 33], [9, 5, 1100], [260, 40, 12], [4, 513, 9], [8, 64, 8]]) {
      check(random(m * k, gen), random(k * n, gen), params(1, m, k, n, transA, transB));
    }
  }
});

test('the blocking does not change a bit: tiny blocks give the default blocks\' result', () => {
  const gen = new Generator(3);
  try {
    for (const transA of BOOLS) for (const transB of BOOLS) {
      for (const [m, k, n] of [[65, 127, 17], [127, 65, 130], [17, 300, 9], [5, 33, 70]]) {
        const a = random(m * k, gen), b = random(k * n, gen);
        const p = params(1, m, k, n, transA, transB);
        configureWasmMatmul({ kc: defaults.kc, mc: defaults.mc, nc: defaults.nc });
        const want = check(a, b, p);
        for (const [kc, mc, nc] of [[16, 8, 16], [1, 4, 8], [7, 12, 24], [100, 32, 40]]) {
          configureWasmMatmul({ kc, mc, nc });
          assertSameBits(check(a, b, p), want, `${describe(p)}: kc ${kc} mc ${mc} nc ${nc}`);
        }
      }
    }
  } finally {
    configureWasmMatmul({ kc: defaults.kc, mc: defaults.mc, nc: defaults.nc });
  }
});

test('both paths (packed panels; row by row, for few rows or tiny products) agree with the reference', () => {
  const gen = new Generator(4);
  eachMode((what) => {
    for (const transA of BOOLS) for (const transB of BOOLS) {
      for (const m of [1, 2, 3, 5, 17]) for (const [k, n] of [[1, 1], [3, 7], [9, 45], [64, 300], [130, 33]]) {
        check(random(m * k, gen), random(k * n, gen), params(1, m, k, n, transA, transB), `${what}: ${describe(params(1, m, k, n, transA, transB))}`);
        // And batched (a decoding step: one query row per head).
        check(random(5 * m * k, gen), random(5 * k * n, gen), params(5, m, k, n, transA, transB), `${what}: ${describe(params(5, m, k, n, transA, transB))}`);
      }
    }
  });
});

test('batches: broadcast offsets, an uneven offset table, one shared B (merged into one tall product), odd batch counts', () => {
  const gen = new Generator(5);
  for (const transA of BOOLS) for (const transB of BOOLS) {
    for (const [batch, m, k, n] of [[3, 17, 65, 33], [5, 64, 32, 64], [2, 130, 20, 9], [4, 2, 40, 50], [3, 5, 7, 300]]) {
      const mk = m * k, kn = k * n;
      const a = random(batch * mk + 7, gen), b = random(batch * kn + 5, gen);
      const seq = (step: number, start = 0): number[] => Array.from({ length: batch }, (_, i) => start + i * step);
      check(a, b, params(batch, m, k, n, transA, transB, seq(mk), seq(kn)));
      check(a, b, params(batch, m, k, n, transA, transB, seq(0), seq(kn)), `A broadcast: ${describe(params(batch, m, k, n, transA, transB))}`);
      check(a, b, params(batch, m, k, n, transA, transB, seq(mk), seq(0)), `B broadcast: ${describe(params(batch, m, k, n, transA, transB))}`);
      check(a, b, params(batch, m, k, n, transA, transB, seq(mk, 7), seq(kn, 5)), 'offsets not at 0');
      // Not evenly spaced (passed to the kernel as a table), and in reverse order.
      const aOff = seq(mk).map((o, i) => (i % 2 === 1 ? o + 7 : o));
      const bOff = seq(kn).reverse();
      check(a, b, params(batch, m, k, n, transA, transB, aOff, bOff), `uneven offsets: ${describe(params(batch, m, k, n, transA, transB, aOff, bOff))}`);
    }
  }
});

test('NaN and infinities propagate as in the reference, on both paths', () => {
  const gen = new Generator(6);
  eachMode((what) => {
    for (const transA of BOOLS) for (const transB of BOOLS) {
      for (const [m, k, n] of [[1, 5, 9], [3, 9, 17], [7, 20, 11], [65, 33, 30]]) {
        const a = random(m * k, gen), b = random(k * n, gen);
        const A = (i: number, q: number): number => (transA ? q * m + i : i * k + q);
        const B = (q: number, j: number): number => (transB ? j * k + q : q * n + j);
        a[A(0, 1)] = Infinity; // row 0: +-Infinity, but NaN where b[1][j] is 0
        b[B(1, n - 1)] = 0;
        if (m > 1) a[A(m - 1, 0)] = NaN; // a NaN in the last (possibly partial) row panel: row m-1 of C is NaN
        if (m > 2) {
          a[A(1, 2)] = Infinity; // row 1: inf - inf = NaN where b[2][j] and b[3][j] differ in sign
          a[A(1, 3)] = Infinity;
        }
        b[B(k - 1, 0)] = -Infinity; // column 0: -+Infinity (or NaN where a row has a NaN or opposite infinities)
        const p = params(1, m, k, n, transA, transB);
        const got = check(a, b, p, `${what}: ${describe(p)}`);
        const want = reference.matmul(a, b, p);
        let nans = 0, infs = 0;
        for (let i = 0; i < got.length; i++) {
          if (Number.isNaN(want[i])) nans++;
          else if (!Number.isFinite(want[i])) infs++;
        }
        assert.ok(nans >= (m > 1 ? n : 1) && infs > 0, `${describe(p)}: the case has NaNs (${nans}) and infinities (${infs})`);
      }
    }
  });
});

test('empty products: k = 0 gives zeros, m = 0 or n = 0 an empty result', () => {
  const got = wasm(new Float32Array(0), new Float32Array(0), params(2, 3, 0, 4, false, false));
  assert.equal(got.length, 24);
  for (const x of got) assert.ok(Object.is(x, 0));
  assert.equal(wasm(new Float32Array(0), new Float32Array(12), params(2, 0, 3, 4, false, false, [0, 0], [0, 12])).length, 0);
  assert.equal(wasm(new Float32Array(6), new Float32Array(0), params(2, 3, 2, 0, false, true, [0, 6], [0, 0])).length, 0);
});

test('inputs already in wasm memory (as every tensor under the wasm backend) and plain arrays agree', () => {
  const gen = new Generator(7);
  const a = random(40 * 50, gen), b = random(50 * 60, gen);
  const p = params(1, 40, 50, 60, false, true);
  const plain = wasm(a, b, p);
  const adopted = wasm(wasmBackend.adopt!(a), wasmBackend.adopt!(b), p);
  assert.ok(wasmRuntime().heap.owns(plain), 'the output is in wasm memory');
  assertSameBits(adopted, plain, 'adopted inputs');
});

/** Forward and gradients of `f` under the given backend. */
function run(name: string, f: (a: Tensor, b: Tensor) => Tensor, aShape: number[], bShape: number[], seed: number): Float32Array[] {
  const prev = setBackend(name);
  try {
    const gen = new Generator(seed);
    const a = Tensor.randn(aShape, { generator: gen, requiresGrad: true });
    const b = Tensor.randn(bShape, { generator: gen, requiresGrad: true });
    const y = f(a, b);
    const g = Tensor.randn([...y.shape], { generator: gen });
    y.backward(g);
    return [Float32Array.from(y.data), Float32Array.from(a.grad!.data), Float32Array.from(b.grad!.data)];
  } finally {
    setBackend(prev);
  }
}

test("ops matmul under setBackend('wasm'): values and gradients match the reference backend", () => {
  const cases: [string, number[], number[], boolean, boolean][] = [
    ['2-D', [17, 65], [65, 33], false, false],
    ['x @ Wᵀ (Linear), batched x', [3, 64, 128], [384, 128], false, true],
    ['aᵀ @ b', [2, 65, 17], [2, 65, 9], true, false],
    ['aᵀ @ bᵀ', [2, 65, 17], [2, 9, 65], true, true],
    ['broadcast batch axes', [2, 1, 7, 5], [3, 5, 6], false, false],
    ['attention heads', [2, 4, 64, 32], [2, 4, 64, 32], false, true],
    ['vector @ matrix', [13], [13, 7], false, false],
    ['matrix @ vector', [7, 13], [13], false, false],
    ['zero inner', [4, 0], [0, 3], false, false],
  ];
  for (const [what, aShape, bShape, transA, transB] of cases) {
    const f = (a: Tensor, b: Tensor): Tensor => matmul(a, b, { transA, transB });
    const want = run('reference', f, aShape, bShape, 11);
    const got = run('wasm', f, aShape, bShape, 11);
    const names = ['forward', 'grad a', 'grad b'];
    for (let i = 0; i < 3; i++) {
      // Each of the three is one matmul (then a sum over broadcast axes for the gradients) with k <= 128 and
      // standard normal entries: the bound at the top of the file is then (k + 2) 2^-24 sum|a||b| with
      // sum|a||b| ~ 0.64 k (under 2e-3 here), against |values| of ~sqrt(k); 1e-4 relative to 1 + |value|
      // holds it, while a wrong element is off by O(1).
      let worst = 0;
      for (let j = 0; j < want[i].length; j++) worst = Math.max(worst, Math.abs(got[i][j] - want[i][j]) / (1 + Math.abs(want[i][j])));
      assert.ok(worst < 1e-4, `${what}: ${names[i]}: relative error ${worst}`);
      assert.equal(got[i].length, want[i].length);
    }
  }
  assert.notEqual(backend().name, 'wasm', 'the previous backend is restored');
});

test('teardown', () => {
  configureWasmMatmul({ minThreadMacs: defaults.minThreadMacs });
});
