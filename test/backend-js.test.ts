import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor/tensor.js';
import { Generator } from '../src/tensor/random.js';
import { matmul } from '../src/ops/matmul.js';
import { backend, listBackends, setBackend } from '../src/backend/backend.js';
import { matmul as reference } from '../src/backend/reference/matmul.js';
import type { MatmulParams } from '../src/backend/kernels/matmul.js';
import { jsBackend, registerJsBackend, configureJsMatmul, jsMatmulOptions, startJsMatmulWorker, jsMatmulStats } from '../src/backend/js/index.js';
import { referenceBackend } from '../src/backend/reference/index.js';
import { matmul as js } from '../src/backend/js/matmul.js';

const BOOLS = [false, true] as const;

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

/** Asserts that two float32 arrays hold the same bits (so -0 differs from +0, and NaNs are compared by bits). */
function assertSameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) assert.fail(`${what}: element ${i} is ${got[i]} (0x${g[i].toString(16)}), reference ${want[i]} (0x${w[i].toString(16)})`);
  }
}

/** Runs the js matmul on the product and checks it against the reference, bit for bit. */
function check(a: Float32Array, b: Float32Array, p: MatmulParams): void {
  const what = `batch ${p.batch} [${p.m}x${p.k}]${p.transA ? 'ᵀ' : ''} x [${p.k}x${p.n}]${p.transB ? 'ᵀ' : ''} aOffsets ${[...p.aOffsets]} bOffsets ${[...p.bOffsets]}`;
  assertSameBits(js.matmul(a, b, p), reference.matmul(a, b, p), what);
}

function checkAll(seed: number): void {
  const gen = new Generator(seed);
  const sizes = [1, 3, 17, 65, 127];
  for (const transA of BOOLS) for (const transB of BOOLS) {
    for (const m of sizes) for (const k of sizes) for (const n of sizes) {
      check(random(m * k, gen), random(k * n, gen), params(1, m, k, n, transA, transB));
    }
    for (const [m, k, n] of [[130, 67, 129], [67, 130, 129], [129, 130, 67], [200, 256, 96], [768, 128, 4]]) {
      check(random(m * k, gen), random(k * n, gen), params(1, m, k, n, transA, transB));
    }
  }
}

function checkBatched(seed: number): void {
  const gen = new Generator(seed);
  for (const transA of BOOLS) for (const transB of BOOLS) {
    for (const [m, k, n] of [[5, 7, 3], [64, 32, 64], [17, 65, 33]]) {
      const mk = m * k, kn = k * n;
      const cases: [number, number[], number[]][] = [
        [6, [0, 1, 2, 3, 4, 5].map((i) => i * mk), [0, 1, 2, 3, 4, 5].map((i) => i * kn)], // distinct
        [6, [0, 1, 2, 3, 4, 5].map((i) => i * mk), [0, 0, 0, 0, 0, 0]], // shared B (x @ W): merged into one tall product
        [6, [0, 0, 0, 0, 0, 0], [0, 1, 2, 3, 4, 5].map((i) => i * kn)], // shared A
        [4, [0, mk, 0, mk], [0, 0, kn, kn]], // broadcast [2,1] x [1,2] batch axes
        [4, [0, 0, mk, mk], [0, kn, 0, kn]],
        [3, [mk, 0, 2 * mk], [0, 0, 0]], // shared B, A blocks out of order: not mergeable
        [3, [0, mk + 1, 2 * mk + 2], [1, 1, 1]], // gaps between blocks and an unaligned start
        [1, [3], [5]], // a single product at an offset
      ];
      for (const [batch, ao, bo] of cases) {
        const aLen = Math.max(...ao) + mk + 3, bLen = Math.max(...bo) + kn + 5;
        check(random(aLen, gen), random(bLen, gen), params(batch, m, k, n, transA, transB, ao, bo));
      }
    }
  }
}

function checkEmpty(): void {
  const gen = new Generator(3);
  for (const transA of BOOLS) for (const transB of BOOLS) {
    for (const [batch, m, k, n] of [[1, 0, 3, 4], [1, 3, 0, 4], [1, 3, 4, 0], [2, 5, 0, 6], [0, 3, 4, 5], [1, 0, 0, 0], [3, 1, 0, 1]]) {
      const p = params(batch, m, k, n, transA, transB);
      const out = js.matmul(random(batch * m * k, gen), random(batch * k * n, gen), p);
      assert.equal(out.length, batch * m * n);
      check(random(batch * m * k, gen), random(batch * k * n, gen), p);
    }
  }
}

function checkSpecialValues(): void {
  const gen = new Generator(4);
  for (const transA of BOOLS) for (const transB of BOOLS) {
    const [m, k, n] = [13, 9, 11];
    // Signed zeros, infinities and overflow (NaN only from inf - inf and 0 · inf), and tiny values.
    const specials = [0, -0, Infinity, -Infinity, 3e38, -3e38, 1e-45, -1e-45];
    const pick = (len: number): Float32Array => Float32Array.from({ length: len }, () => (gen.uniform() < 0.3 ? specials[gen.int(0, specials.length)] : gen.normal()));
    check(pick(m * k), pick(k * n), params(1, m, k, n, transA, transB));
    // All-zero operands of both signs: every sum starts at +0, as in the reference.
    check(new Float32Array(m * k).fill(-0), Float32Array.from({ length: k * n }, (_, i) => (i % 2 ? 0 : -0)), params(1, m, k, n, transA, transB));
    // NaN inputs (one NaN value, among finite values).
    const withNaN = (len: number): Float32Array => Float32Array.from({ length: len }, () => (gen.uniform() < 0.05 ? NaN : gen.normal()));
    check(withNaN(m * k), withNaN(k * n), params(1, m, k, n, transA, transB));
  }
}

test('js backend: registered by import, not selected', () => {
  assert.ok(listBackends().includes('js'));
  assert.equal(jsBackend.name, 'js');
  assert.equal(registerJsBackend(), 'js');
  assert.notEqual(backend().name, 'js');
  // Every kernel but matmul is the reference one.
  for (const key of Object.keys(referenceBackend) as (keyof typeof referenceBackend)[]) {
    if (key === 'name' || key === 'matmul') continue;
    assert.equal(jsBackend[key], referenceBackend[key], key);
  }
  assert.notEqual(jsBackend.matmul, referenceBackend.matmul);
});

test('js matmul, one thread: bitwise equal to the reference, every transpose, awkward sizes', () => {
  const saved = jsMatmulOptions();
  configureJsMatmul({ workers: false });
  try {
    checkAll(1);
  } finally {
    configureJsMatmul(saved);
  }
});

test('js matmul, one thread: batches with distinct, shared and broadcast offsets', () => {
  const saved = jsMatmulOptions();
  configureJsMatmul({ workers: false });
  try {
    checkBatched(2);
  } finally {
    configureJsMatmul(saved);
  }
});

test('js matmul: zero-size dimensions and empty sums', () => {
  checkEmpty();
});

test('js matmul: signed zeros, infinities, overflow, NaN', () => {
  const saved = jsMatmulOptions();
  configureJsMatmul({ workers: false });
  try {
    checkSpecialValues();
  } finally {
    configureJsMatmul(saved);
  }
});

test('js matmul with the helper worker: bitwise equal to the reference, and the worker does part of the work', async (t) => {
  if (!(await startJsMatmulWorker())) {
    t.skip('no worker threads here');
    return;
  }
  const saved = jsMatmulOptions();
  configureJsMatmul({ workers: true, minWorkerMacs: 0, adaptive: false });
  try {
    const before = jsMatmulStats();
    checkAll(5);
    checkBatched(6);
    checkEmpty();
    checkSpecialValues();
    // Large products, where the split matters.
    const gen = new Generator(7);
    for (const transA of BOOLS) for (const transB of BOOLS) {
      check(random(768 * 128, gen), random(384 * 128, gen), params(1, 768, 128, 384, transA, transB));
      check(random(48 * 64 * 32, gen), random(48 * 64 * 32, gen), params(48, 64, 32, 64, transA, transB));
    }
    const after = jsMatmulStats();
    assert.ok(after.threadedCalls > before.threadedCalls, 'some products were split with the worker');
    assert.ok(after.workerChunks > before.workerChunks, 'the worker computed some chunks');
  } finally {
    configureJsMatmul(saved);
  }
});

test('js matmul, adaptive (the default): the same bits whichever way each product runs', async () => {
  const haveWorker = await startJsMatmulWorker();
  const saved = jsMatmulOptions();
  configureJsMatmul({ workers: true, adaptive: true, minWorkerMacs: 1 });
  try {
    const gen = new Generator(8);
    const before = jsMatmulStats();
    for (let i = 0; i < 40; i++) {
      for (const [batch, m, k, n, transA, transB] of [[1, 96, 64, 96, false, true], [4, 33, 20, 17, true, false]] as const) {
        check(random(batch * m * k, gen), random(batch * k * n, gen), params(batch, m, k, n, transA, transB));
      }
    }
    const after = jsMatmulStats();
    if (haveWorker) {
      assert.ok(after.threadedCalls > before.threadedCalls, 'each shape is timed with the worker');
      assert.ok(after.probes > before.probes, 'and re-timed the other way now and then');
    }
  } finally {
    configureJsMatmul(saved);
  }
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
    return [y.data, a.grad!.data, b.grad!.data];
  } finally {
    setBackend(prev);
  }
}

test("ops matmul under setBackend('js'): same values and gradients as the reference backend, bit for bit", () => {
  const cases: [string, number[], number[], boolean, boolean][] = [
    ['2-D', [17, 65], [65, 33], false, false],
    ['x @ Wᵀ (Linear), batched x', [3, 64, 128], [384, 128], false, true],
    ['aᵀ @ b', [2, 65, 17], [2, 65, 9], true, false],
    ['aᵀ @ bᵀ', [2, 65, 17], [2, 9, 65], true, true],
    ['broadcast batch axes', [2, 1, 7, 5], [3, 5, 6], false, false],
    ['grouped heads (broadcast group axis)', [2, 2, 3, 16, 8], [2, 2, 1, 16, 8], false, true],
    ['vector @ matrix', [13], [13, 7], false, false],
    ['matrix @ vector', [7, 13], [13], false, false],
    ['batched @ vector', [4, 7, 13], [13], false, false],
    ['zero rows', [0, 5], [5, 3], false, false],
    ['zero inner', [4, 0], [0, 3], false, false],
  ];
  const saved = jsMatmulOptions();
  for (const workers of BOOLS) {
    configureJsMatmul({ workers, minWorkerMacs: 0, adaptive: false });
    try {
      for (const [what, aShape, bShape, transA, transB] of cases) {
        const f = (a: Tensor, b: Tensor): Tensor => matmul(a, b, { transA, transB });
        const want = run('reference', f, aShape, bShape, 11);
        const got = run('js', f, aShape, bShape, 11);
        const names = ['forward', 'grad a', 'grad b'];
        for (let i = 0; i < 3; i++) assertSameBits(got[i], want[i], `${what} (workers ${workers}): ${names[i]}`);
      }
    } finally {
      configureJsMatmul(saved);
    }
  }
  assert.notEqual(backend().name, 'js', 'the previous backend is restored');
});
