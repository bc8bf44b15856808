/**
 * The fused attention op (the backend's attentionForward / attentionBackward / attentionWeights, see
 * src/backend/reference/attention.ts) against the composed one (matmul, maskedFill, softmax, matmul: the
 * specification), on awkward sizes and every kind of mask; fully masked rows; the log-sum-exp; a
 * finite-difference check; and that the fused op keeps no [seqQ, seqK] array.
 *
 * Tolerance, fused vs composed: rtol 1e-5, atol 1e-6 (allclose's |a - e| <= atol + rtol |e|). Both paths
 * are reference kernels that accumulate in float64, but they round differently: the fused kernel rounds
 * each result once, while the composed path rounds q·scale, the scores, the weights and the output to
 * float32 one after another (and the fused backward and weights recompute the probabilities from the
 * float32-rounded log-sum-exp). Each rounding is <= 2^-24 relative (6e-8), and a score s off by |s| · 6e-8
 * moves its weight by that much relatively; through sums of up to 127 terms (dk and dv also over up to 4
 * query heads) that is ~1e-7 to 1e-6 on values of O(1) to O(10). Measured over the cases below: at most
 * 2.4e-7 absolute on outputs and weights, 9.5e-7 on dk and dv, and no value uses more than 40% of the
 * tolerance (the diagnostics print the worst of each case). A real mistake (a window off by one key, a
 * wrong kv head, a missing scale, a wrong softmax backward) fails dozens of cases by far more.
 *
 * The suite may run on another backend (scripts/test.mjs runs every test file on the wasm backend too).
 * There both paths use that backend's float32 kernels, so the comparisons use the PyTorch-parity
 * tolerance for float32 accumulation (rtol 1e-4, atol 1e-5; see parity-attention.test.ts) instead; the
 * exact properties (zeros and -Infinity on fully masked rows, which kernels run) hold on any backend, and
 * the tests of the reference kernel's own numbers pin the reference backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../src/ops/methods.js';
import { Tensor, noGrad } from '../src/tensor/tensor.js';
import { Generator } from '../src/tensor/random.js';
import { backend, registerBackend, setBackend, type Backend } from '../src/backend/backend.js';
import { referenceBackend } from '../src/backend/reference/index.js';
import { allowed } from '../src/backend/reference/attention.js';
import type { AttentionParams } from '../src/backend/kernels/attention.js';
import { scaledDotProductAttention, type AttentionOptions } from '../src/attention/sdpa.js';
import { paddingMask, blockSparseMask } from '../src/attention/masks.js';
import { gradcheck, param } from './helpers/gradcheck.js';
import { assertClose, type Tolerance } from './helpers/allclose.js';

const TOL_REFERENCE: Tolerance = { rtol: 1e-5, atol: 1e-6 };
const TOL_FLOAT32: Tolerance = { rtol: 1e-4, atol: 1e-5 };
/** The tolerance for the active backend: 'js' is the reference backend with a bitwise-equal matmul. */
const tolerance = (): Tolerance => (['reference', 'js'].includes(backend().name) ? TOL_REFERENCE : TOL_FLOAT32);

/** Runs fn on the reference backend (whatever the active one is), for checks of the reference kernel's own numbers. */
function onReference<T>(fn: () => T): T {
  const prev = setBackend('reference');
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}

const randn = (shape: number[], seed: number, requiresGrad = false): Tensor => Tensor.randn(shape, { generator: new Generator(seed), requiresGrad });

/** A bool tensor with each value true with probability pTrue. */
function randomBool(shape: number[], seed: number, pTrue: number): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Float32Array.from({ length: n }, () => (g.uniform() < pTrue ? 1 : 0)), shape, false, null, 'bool');
}

/** A bool [batch, heads, seqQ, seqK] mask, random, with every 5th query row of every (batch, head) all false. */
function maskWithDeadRows(shape: number[], seed: number): Tensor {
  const m = randomBool(shape, seed, 0.6);
  const seqK = shape[3];
  const data = m.data.slice();
  for (let r = 0; r * seqK < data.length; r++) if ((r % shape[2]) % 5 === 2) data.fill(0, r * seqK, (r + 1) * seqK);
  return new Tensor(data, shape, false, null, 'bool');
}

interface Case {
  name: string;
  batch: number;
  heads: number;
  kvHeads: number;
  seqQ: number;
  seqK: number;
  headDim: number;
  headDimV: number;
  opts: AttentionOptions;
}

/** Which query rows of the case see no key at all: computed with the reference kernel's `allowed`. */
function deadRows(c: Case): boolean[] {
  const m = c.opts.mask ?? null;
  const align = c.opts.causal === true ? 'top-left' : c.opts.causal || null;
  const p: AttentionParams = {
    ...c, scale: 1, causal: align, window: c.opts.window ?? null,
    mask: m?.data ?? null, maskShape: m === null ? null : [...Array<number>(4 - m.ndim).fill(1), ...m.shape],
  };
  const dead: boolean[] = [];
  for (let b = 0; b < c.batch; b++) {
    for (let h = 0; h < c.heads; h++) {
      for (let i = 0; i < c.seqQ; i++) {
        let any = false;
        for (let j = 0; j < c.seqK && !any; j++) any = allowed(p, b, h, i, j);
        dead.push(!any);
      }
    }
  }
  return dead;
}

/** Runs one implementation: output, gradients of sum(w * output) for q, k, v, and the weights (computed under noGrad). */
function run(c: Case, impl: 'fused' | 'composed', seed: number) {
  const q = randn([c.batch, c.heads, c.seqQ, c.headDim], seed, true);
  const k = randn([c.batch, c.kvHeads, c.seqK, c.headDim], seed + 1, true);
  const v = randn([c.batch, c.kvHeads, c.seqK, c.headDimV], seed + 2, true);
  const output = scaledDotProductAttention(q, k, v, { ...c.opts, impl, returnWeights: false });
  output.backward(randn([...output.shape], seed + 3));
  const weights = noGrad(() => scaledDotProductAttention(q, k, v, { ...c.opts, impl, returnWeights: true }).weights);
  return { output, weights, dq: q.grad!, dk: k.grad!, dv: v.grad! };
}

/** max |a - e| over the values, and the largest fraction of the tolerance any value uses, for the diagnostics. */
function worstError(a: Tensor, e: Tensor, tol: Tolerance): string {
  let abs = 0;
  let used = 0;
  a.data.forEach((x, i) => {
    const d = Math.abs(x - e.data[i]);
    abs = Math.max(abs, d);
    used = Math.max(used, d / (tol.atol + tol.rtol * Math.abs(e.data[i])));
  });
  return `${abs.toExponential(1)} (${(100 * used).toFixed(0)}% of tol)`;
}

// ---------- the cases: sizes x heads x masks ----------

const SIZES: [number, number][] = [[1, 1], [1, 127], [3, 1], [3, 17], [17, 3], [17, 17], [65, 127], [127, 65], [65, 65], [127, 127]];
const HEADS: [number, number][] = [[1, 1], [4, 4], [4, 2], [4, 1]];
const DIMS: [number, number][] = [[8, 5], [4, 4], [16, 3]];

interface MaskKind {
  name: string;
  /** Options for these sizes, or null where the kind does not apply (a symmetric window needs seqQ == seqK). */
  opts(batch: number, heads: number, seqQ: number, seqK: number, seed: number): AttentionOptions | null;
}

const MASKS: MaskKind[] = [
  { name: 'no mask', opts: () => ({}) },
  { name: 'causal top-left', opts: () => ({ causal: 'top-left' }) },
  { name: 'causal bottom-right', opts: () => ({ causal: 'bottom-right' }) },
  { name: 'causal top-left + window 4', opts: () => ({ causal: 'top-left', window: 4 }) },
  { name: 'causal bottom-right + window 3', opts: () => ({ causal: 'bottom-right', window: 3 }) },
  { name: 'symmetric window 3', opts: (_b, _h, sq, sk) => (sq === sk ? { window: 3 } : null) },
  // lengths: the full sequence, and a shorter one (at least 1 key, so only causal rows can be dead)
  { name: 'padding [batch,1,1,seqK]', opts: (_b, _h, _sq, sk) => ({ mask: paddingMask([sk, Math.max(1, Math.ceil(sk / 3))], sk) }) },
  { name: 'random bool [batch,heads,seqQ,seqK]', opts: (b, h, sq, sk, seed) => ({ mask: randomBool([b, h, sq, sk], seed, 0.6) }) },
  { name: 'block-sparse bool [seqQ,seqK]', opts: (_b, _h, sq, sk) => ({ mask: blockSparseMask(Tensor.fromArray(Array.from({ length: Math.ceil(sq / 4) }, (_, a) => Array.from({ length: Math.ceil(sk / 4) }, (_, c) => (a + c) % 3 !== 1))), 4, sq, sk) }) },
  {
    name: 'causal bottom-right + window 5 + padding',
    opts: (_b, _h, _sq, sk) => ({ causal: 'bottom-right', window: 5, mask: paddingMask([sk, Math.max(1, Math.ceil(sk / 2))], sk) }),
  },
  { name: 'causal top-left + padding with an empty sequence', opts: (_b, _h, _sq, sk) => ({ causal: 'top-left', mask: paddingMask([0, sk], sk) }) },
  { name: 'random bool with fully masked rows', opts: (b, h, sq, sk, seed) => ({ mask: maskWithDeadRows([b, h, sq, sk], seed) }) },
];

const cases: Case[] = [];
MASKS.forEach((kind, mi) => {
  let n = 0; // cases of this kind so far: consecutive ones take the next head layout, so every layout meets every kind
  SIZES.forEach(([seqQ, seqK], si) => {
    const [heads, kvHeads] = HEADS[(mi + n) % HEADS.length];
    const [headDim, headDimV] = DIMS[(mi + n) % DIMS.length];
    const batch = 2;
    const opts = kind.opts(batch, heads, seqQ, seqK, 100 + si);
    if (opts === null) return;
    cases.push({ name: `${kind.name}, seqQ ${seqQ} seqK ${seqK}, heads ${heads}/${kvHeads}, headDim ${headDim}/${headDimV}`, batch, heads, kvHeads, seqQ, seqK, headDim, headDimV, opts });
    n++;
  });
});

test('the fused-vs-composed cases cover every size, head layout and mask kind, and fully masked rows', () => {
  const seen = (f: (c: Case) => string): Set<string> => new Set(cases.map(f));
  assert.equal(seen((c) => `${c.seqQ}x${c.seqK}`).size, SIZES.length);
  assert.equal(seen((c) => `${c.heads}/${c.kvHeads}`).size, HEADS.length);
  assert.ok(cases.length >= 110, `${cases.length} cases`);
  for (const kind of MASKS) {
    const ofKind = cases.filter((c) => c.name.startsWith(`${kind.name},`));
    assert.equal(new Set(ofKind.map((c) => `${c.heads}/${c.kvHeads}`)).size, HEADS.length, kind.name);
  }
  assert.ok(cases.filter((c) => deadRows(c).some((d) => d)).length >= 20, 'cases with fully masked rows');
});

for (const c of cases) {
  test(`fused equals composed: ${c.name}`, (t) => {
    const f = run(c, 'fused', 1);
    const r = run(c, 'composed', 1);
    const worst: string[] = [];
    const tol = tolerance();
    for (const key of ['output', 'weights', 'dq', 'dk', 'dv'] as const) {
      assertClose(f[key], r[key], tol, key);
      worst.push(`${key} ${worstError(f[key], r[key], tol)}`);
    }
    t.diagnostic(`max |fused - composed|: ${worst.join(', ')}`);
    // Fully masked rows: exactly zero output and weights from the fused op, and zero gradient for q.
    const dead = deadRows(c);
    const { headDim: D, headDimV: DV, seqK } = c;
    dead.forEach((d, row) => {
      if (!d) return;
      assert.ok(f.output.data.subarray(row * DV, (row + 1) * DV).every((x) => x === 0), `output row ${row}`);
      assert.ok(f.weights.data.subarray(row * seqK, (row + 1) * seqK).every((x) => x === 0), `weights row ${row}`);
      assert.ok(f.dq.data.subarray(row * D, (row + 1) * D).every((x) => x === 0), `dq row ${row}`);
    });
  });
}

// ---------- fully masked rows: lse, and no gradient through them ----------

test('fully masked rows: lse -Infinity, output 0, and a gradient on those rows alone reaches nothing', () => {
  const c: Case = { name: '', batch: 2, heads: 4, kvHeads: 2, seqQ: 17, seqK: 9, headDim: 6, headDimV: 5, opts: {} };
  c.opts = { causal: 'bottom-right', window: 4, mask: paddingMask([9, 3], 9) };
  const dead = deadRows(c);
  // bottom-right with seqQ 17 > seqK 9: the first 8 queries of every head sit before every key; with 3 real
  // keys (batch 1) and a window of 4, the queries at positions 6, 7, 8 see only padding.
  assert.equal(dead.filter((d) => d).length, 2 * 4 * 8 + 4 * 3);
  const q = randn([2, 4, 17, 6], 1, true);
  const k = randn([2, 2, 9, 6], 2, true);
  const v = randn([2, 2, 9, 5], 3, true);
  const p: AttentionParams = {
    batch: 2, heads: 4, kvHeads: 2, seqQ: 17, seqK: 9, headDim: 6, headDimV: 5, scale: 0.4, causal: 'bottom-right', window: 4,
    mask: c.opts.mask!.data, maskShape: [2, 1, 1, 9],
  };
  const { out, lse } = backend().attentionForward(q.data, k.data, v.data, p);
  dead.forEach((d, row) => {
    assert.equal(lse[row] === -Infinity, d, `lse row ${row}: ${lse[row]}`);
    if (d) assert.ok(out.subarray(row * 5, (row + 1) * 5).every((x) => x === 0));
    else assert.ok(Number.isFinite(lse[row]));
  });
  // Through the op: an upstream gradient only on the dead rows gives exactly zero gradients everywhere.
  const output = scaledDotProductAttention(q, k, v, { ...c.opts, scale: 0.4, impl: 'fused', returnWeights: false });
  const g = new Float32Array(output.size);
  dead.forEach((d, row) => d && g.fill(1, row * 5, (row + 1) * 5));
  output.backward(new Tensor(g, output.shape));
  for (const t of [q, k, v]) assert.ok(t.grad!.data.every((x) => x === 0), `grad ${JSON.stringify(t.shape)}`);
  // The kernel itself: the dead rows' dout contributes nothing.
  const grads = backend().attentionBackward(q.data, k.data, v.data, out, lse, g, p);
  for (const a of [grads.dq, grads.dk, grads.dv]) assert.ok(a.every((x) => x === 0));
});

test('reference kernel: lse is the natural log of the sum of exp(scaled scores) over the allowed keys', () => {
  const kern = referenceBackend;
  // q = 0: every score is 0, so lse = log(number of allowed keys): log(i + 1) under top-left causal.
  const p: AttentionParams = { batch: 1, heads: 2, kvHeads: 1, seqQ: 5, seqK: 7, headDim: 3, headDimV: 2, scale: 0.7, causal: 'top-left', window: null, mask: null, maskShape: null };
  const { lse } = kern.attentionForward(new Float32Array(30), randn([1, 1, 7, 3], 1).data, randn([1, 1, 7, 2], 2).data, p);
  assert.deepEqual(Array.from(lse), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4].map((i) => Math.fround(Math.log(i + 1))));
  // One key: lse = scale * q.k exactly (to float32), whatever the values.
  const q = randn([1, 1, 1, 4], 3);
  const k = randn([1, 1, 1, 4], 4);
  const one = { ...p, heads: 1, seqQ: 1, seqK: 1, headDim: 4, causal: null, scale: 0.3 };
  const expected = 0.3 * q.data.reduce((s, x, d) => s + x * k.data[d], 0);
  assert.equal(kern.attentionForward(q.data, k.data, new Float32Array(2), one).lse[0], Math.fround(expected));
});

test('attentionWeights: each row sums to 1, or is all 0 where every key is masked', () => {
  const c: Case = { name: '', batch: 2, heads: 4, kvHeads: 1, seqQ: 33, seqK: 21, headDim: 8, headDimV: 8, opts: {} };
  c.opts = { causal: 'bottom-right', mask: maskWithDeadRows([2, 4, 33, 21], 7) };
  const dead = deadRows(c);
  assert.ok(dead.some((d) => d) && dead.some((d) => !d));
  const q = randn([2, 4, 33, 8], 1).mul(3); // larger scores (std 3): lse up to ~10
  const { weights } = scaledDotProductAttention(q, randn([2, 1, 21, 8], 2), randn([2, 1, 21, 8], 3), { ...c.opts, returnWeights: true, impl: 'fused' });
  dead.forEach((d, row) => {
    const r = weights.data.subarray(row * 21, (row + 1) * 21);
    assert.ok(r.every((x) => x >= 0 && Number.isFinite(x)));
    const s = r.reduce((a, b) => a + b, 0);
    // Each weight is exp(s - lse) with lse rounded to float32 (relative error <= 2^-24 |lse| ~ 7e-7 for
    // |lse| <= 12 here), plus 1 ulp per weight: the sum is within 5e-6 of 1 (on the reference kernel; a
    // float32 kernel's scores and sums add ~(headDim + seqK) ulps: 5e-5).
    if (d) assert.equal(s, 0, `row ${row}`);
    else assert.ok(Math.abs(s - 1) < (tolerance() === TOL_REFERENCE ? 5e-6 : 5e-5), `row ${row} sums to ${s}`);
  });
});

// ---------- gradients: finite differences of the fused op itself ----------

test('gradcheck fused sdpa: grouped-query 4/2, headDim != headDimV, causal bottom-right + window + padding, dead rows', () => {
  const mask = paddingMask([5, 2], 5);
  const fn = (q: Tensor, k: Tensor, v: Tensor): Tensor => scaledDotProductAttention(q, k, v, { causal: 'bottom-right', window: 3, mask, impl: 'fused' });
  gradcheck(fn, [param([2, 4, 6, 3], 1), param([2, 2, 5, 3], 2), param([2, 2, 5, 2], 3)]);
});

test('gradcheck fused sdpa: no mask, multi-query, and a symmetric window', () => {
  gradcheck((q, k, v) => scaledDotProductAttention(q, k, v, { impl: 'fused', scale: 0.8 }), [param([1, 3, 4, 3], 4), param([1, 1, 5, 3], 5), param([1, 1, 5, 4], 6)]);
  gradcheck((q, k, v) => scaledDotProductAttention(q, k, v, { impl: 'fused', window: 2 }), [param([1, 2, 5, 3], 7), param([1, 2, 5, 3], 8), param([1, 2, 5, 3], 9)]);
});

// ---------- which path runs, and what the fused op keeps ----------

/** Runs fn on a copy of the reference backend that counts kernel calls and the largest array any kernel returned. */
function spy<T>(fn: () => T): { result: T; calls: Map<string, number>; largest: number } {
  const calls = new Map<string, number>();
  let largest = 0;
  const note = (x: unknown): void => {
    if (x instanceof Float32Array || x instanceof Int32Array) largest = Math.max(largest, x.length);
    else if (x !== null && typeof x === 'object') for (const y of Object.values(x)) note(y);
  };
  const wrapped: Record<string, unknown> = { name: 'fused-attention-spy' };
  for (const [key, f] of Object.entries(referenceBackend)) {
    if (typeof f !== 'function') continue;
    wrapped[key] = (...args: unknown[]) => {
      calls.set(key, (calls.get(key) ?? 0) + 1);
      const r = (f as (...a: unknown[]) => unknown)(...args);
      note(r);
      return r;
    };
  }
  registerBackend(wrapped as unknown as Backend);
  const prev = setBackend('fused-attention-spy');
  try {
    return { result: fn(), calls, largest };
  } finally {
    setBackend(prev);
  }
}

test('the fused op calls only the attention kernels and keeps no seqQ x seqK array (forward and backward)', () => {
  const [seqQ, seqK] = [48, 64];
  const q = randn([1, 2, seqQ, 4], 1, true);
  const k = randn([1, 1, seqK, 4], 2, true);
  const v = randn([1, 1, seqK, 4], 3, true);
  const mask = paddingMask([50], seqK);
  const g = randn([1, 2, seqQ, 4], 4);
  const { result: out, calls, largest } = spy(() => {
    const o = scaledDotProductAttention(q, k, v, { causal: 'bottom-right', window: 20, mask });
    assert.equal(o.node?.op, 'scaledDotProductAttention');
    const parents = o.node?.parents ?? [];
    assert.ok(parents.length === 3 && parents[0] === q && parents[1] === k && parents[2] === v); // one node, no intermediates
    o.backward(g);
    return o;
  });
  // ...plus one copy (scalar mul by 1) per leaf gradient, made when backward() stores q.grad, k.grad, v.grad.
  assert.deepEqual(Object.fromEntries(calls), { attentionForward: 1, attentionBackward: 1, scalar: 3 });
  // Every array a kernel made (out, lse, dq, dk, dv) is far smaller than the scores would be.
  assert.ok(largest < seqQ * seqK, `largest kernel result ${largest}`);
  assert.ok(out.grad === null && q.grad !== null && k.grad !== null && v.grad !== null);

  // returnWeights without a gradient: output fused, weights recomputed from lse (the only seqQ x seqK array).
  const w = spy(() => noGrad(() => scaledDotProductAttention(q, k, v, { causal: 'top-left', returnWeights: true })));
  assert.deepEqual(Object.fromEntries(w.calls), { attentionForward: 1, attentionWeights: 1 });
  assert.equal(w.result.weights.requiresGrad, false);
  const w2 = spy(() => scaledDotProductAttention(q.detach(), k.detach(), v.detach(), { returnWeights: true }));
  assert.deepEqual(Object.fromEntries(w2.calls), { attentionForward: 1, attentionWeights: 1 }, 'no input requires grad');
});

test('the composed path runs for dropout, a float mask, differentiable weights, and impl: composed; impl: fused refuses them', () => {
  const q = randn([1, 2, 5, 4], 1, true);
  const k = randn([1, 2, 6, 4], 2, true);
  const v = randn([1, 2, 6, 4], 3, true);
  const composedCases: [string, AttentionOptions, RegExp | null][] = [
    ['dropout', { dropout: 0.3, generator: new Generator(1) }, /impl 'fused' cannot apply dropout \(0.3\); use impl 'composed' or leave impl unset/],
    ['float mask', { mask: randn([5, 6], 4) }, /impl 'fused' cannot add a float32 \(additive\) mask \[5,6\]/],
    ['differentiable weights', { returnWeights: true }, /impl 'fused' cannot return weights that need a gradient/],
    ['impl composed', { impl: 'composed', causal: 'top-left' }, null],
  ];
  for (const [name, opts, refusal] of composedCases) {
    const { calls } = spy(() => scaledDotProductAttention(q, k, v, opts));
    assert.equal(calls.get('attentionForward'), undefined, name);
    assert.ok((calls.get('softmax') ?? 0) === 1 && (calls.get('matmul') ?? 0) >= 2, name);
    if (refusal) assert.throws(() => scaledDotProductAttention(q, k, v, { ...opts, impl: 'fused' }), refusal, name);
  }
  // Differentiable weights from the composed path carry a gradient to q and k.
  const { weights } = scaledDotProductAttention(q, k, v, { returnWeights: true });
  assert.equal(weights.requiresGrad, true);
  assert.throws(() => scaledDotProductAttention(q, k, v, { impl: 'flash' as never }), /scaledDotProductAttention: impl must be 'fused' or 'composed' \(or left unset\), got flash/);
});

test('the reference kernel computes each row from that row alone: a decoding step equals the last row of the full sequence, bit for bit', () => {
  onReference(() => {
    const [q, k, v] = [randn([2, 4, 9, 8], 1), randn([2, 2, 9, 8], 2), randn([2, 2, 9, 6], 3)];
    const full = scaledDotProductAttention(q, k, v, { causal: true });
    const step = scaledDotProductAttention(q.slice(2, 8, 9), k, v, { causal: 'bottom-right' });
    const last = full.slice(2, 8, 9);
    assert.deepEqual(Array.from(step.data), Array.from(last.data));
  });
});
