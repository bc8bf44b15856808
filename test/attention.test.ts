/**
 * Properties of attention that hold for any inputs: weights are distributions, masks zero exactly what
 * they should, fully masked rows are zeros (not NaN), masks compose, gradients match finite differences,
 * grouped-query heads equal repeated kv heads, self-attention is permutation equivariant, and every
 * error names what went wrong.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../src/ops/methods.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Generator } from '../src/tensor/random.js';
import { concat, stack } from '../src/ops/shape.js';
import { dropout } from '../src/ops/nn.js';
import { matmul } from '../src/ops/matmul.js';
import { scaledDotProductAttention, type AttentionOptions } from '../src/attention/sdpa.js';
import { causalMask, slidingWindowMask, paddingMask, combineMasks, invertMask, blockSparseMask, type MaskAlign } from '../src/attention/masks.js';
import { alibiBias } from '../src/positional/alibi.js';
import { MultiHeadAttention } from '../src/attention/multi-head-attention.js';
import { gradcheck, param } from './helpers/gradcheck.js';
import { assertClose } from './helpers/allclose.js';

const randn = (shape: number[], seed: number, requiresGrad = false): Tensor => Tensor.randn(shape, { generator: new Generator(seed), requiresGrad });

/** A random bool mask with the given probability of true; key 0 is always allowed, so no row is fully masked. */
function randomMask(shape: number[], seed: number, pTrue = 0.6): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const last = shape[shape.length - 1];
  return new Tensor(Float32Array.from({ length: n }, (_, i) => (i % last === 0 || g.uniform() < pTrue ? 1 : 0)), shape, false, null, 'bool');
}

/** rows of the last axis of a [..., n] tensor as arrays. */
function rows(t: Tensor): number[][] {
  const n = t.shape[t.ndim - 1];
  const out: number[][] = [];
  for (let i = 0; i < t.size; i += n) out.push(Array.from(t.data.subarray(i, i + n)));
  return out;
}

/** The bool mask as nested 0/1 arrays, for readable expectations. */
const bits = (m: Tensor): number[][] => rows(m).map((r) => r.map((x) => (x ? 1 : 0)));

// ---------- masks ----------

test('causalMask: both alignments, as drawn in masks.ts', () => {
  assert.equal(causalMask(2, 4, 'bottom-right').dtype, 'bool');
  assert.deepEqual(bits(causalMask(2, 4, 'bottom-right')), [[1, 1, 1, 0], [1, 1, 1, 1]]);
  assert.deepEqual(bits(causalMask(2, 4, 'top-left')), [[1, 0, 0, 0], [1, 1, 0, 0]]);
  assert.deepEqual(bits(causalMask(3, 3, 'top-left')), bits(causalMask(3, 3, 'bottom-right')));
  // bottom-right with more queries than keys: the first query sits before every key.
  assert.deepEqual(bits(causalMask(3, 2, 'bottom-right')), [[0, 0], [1, 0], [1, 1]]);
});

test('slidingWindowMask: causal window and symmetric band', () => {
  assert.deepEqual(bits(slidingWindowMask(4, 4, 2, 'top-left')), [
    [1, 0, 0, 0],
    [1, 1, 0, 0],
    [0, 1, 1, 0],
    [0, 0, 1, 1],
  ]);
  assert.deepEqual(bits(slidingWindowMask(2, 4, 2, 'bottom-right')), [[0, 1, 1, 0], [0, 0, 1, 1]]);
  assert.deepEqual(bits(slidingWindowMask(4, 4, 2, 'top-left', { causal: false })), [
    [1, 1, 0, 0],
    [1, 1, 1, 0],
    [0, 1, 1, 1],
    [0, 0, 1, 1],
  ]);
  // A window as long as the sequence is the causal mask.
  assert.deepEqual(bits(slidingWindowMask(5, 7, 7, 'bottom-right')), bits(causalMask(5, 7, 'bottom-right')));
});

test('paddingMask from lengths and from a bool mask; invertMask converts PyTorch key_padding_mask', () => {
  const m = paddingMask([3, 1], 4);
  assert.deepEqual([...m.shape], [2, 1, 1, 4]);
  assert.equal(m.dtype, 'bool');
  assert.deepEqual(Array.from(m.data), [1, 1, 1, 0, 1, 0, 0, 0]);
  assert.deepEqual([...paddingMask([2, 3]).shape], [2, 1, 1, 3]); // seqK defaults to the longest
  assert.deepEqual(Array.from(paddingMask(Tensor.fromArray([3, 1]), 4).data), Array.from(m.data));
  const torchKeyPadding = Tensor.fromArray([[false, false, false, true], [false, true, true, true]]); // true = ignore
  assert.deepEqual(Array.from(paddingMask(invertMask(torchKeyPadding)).data), Array.from(m.data));
});

test('combineMasks: logical and with broadcasting, nulls skipped', () => {
  const a = Tensor.fromArray([[true, true], [false, true]]);
  const b = Tensor.fromArray([[true, false]]).reshape([1, 1, 2]).toBool();
  const c = combineMasks(a, null, b)!;
  assert.equal(c.dtype, 'bool');
  assert.deepEqual([...c.shape], [1, 2, 2]);
  assert.deepEqual(Array.from(c.data), [1, 0, 0, 0]);
  assert.equal(combineMasks(null, undefined), null);
  assert.equal(combineMasks(a), a);
});

test('blockSparseMask expands a block layout, last block partial', () => {
  const m = blockSparseMask([[true, false], [true, true]], 2, 3, 3);
  assert.deepEqual(bits(m), [[1, 1, 0], [1, 1, 0], [1, 1, 1]]);
});

// ---------- sdpa: weights are distributions, masks are exact ----------

const weightCases: [string, number, number, number, number, AttentionOptions][] = [
  ['no mask', 4, 4, 5, 7, {}],
  ['bool mask', 2, 2, 6, 6, { mask: randomMask([2, 2, 6, 6], 3, 0.5) }],
  ['causal bottom-right', 2, 2, 4, 9, { causal: 'bottom-right' }],
  ['causal top-left', 2, 2, 9, 4, { causal: 'top-left' }],
  ['causal window', 2, 2, 8, 8, { causal: true, window: 3 }],
  ['symmetric window', 2, 2, 8, 8, { window: 2 }],
  ['gqa + padding', 4, 2, 5, 5, { mask: paddingMask([5, 2]) }],
  ['float mask', 2, 2, 5, 6, { mask: randn([1, 2, 5, 6], 9) }],
];

for (const [name, h, hkv, sq, sk, opts] of weightCases) {
  test(`weights are non-negative and each row sums to 1: ${name}`, () => {
    const q = randn([2, h, sq, 4], 1);
    const k = randn([2, hkv, sk, 4], 2);
    const v = randn([2, hkv, sk, 3], 3);
    const { output, weights } = scaledDotProductAttention(q, k, v, { ...opts, returnWeights: true });
    assert.deepEqual([...output.shape], [2, h, sq, 3]);
    assert.deepEqual([...weights.shape], [2, h, sq, sk]);
    for (const row of rows(weights)) {
      assert.ok(row.every((x) => x >= 0 && Number.isFinite(x)));
      const s = row.reduce((a, b) => a + b, 0);
      // float32 weights each off by <= 1 ulp (6e-8): a sum of <= 9 is within 1e-6 of 1.
      assert.ok(Math.abs(s - 1) < 1e-6, `row sums to ${s}`);
    }
  });
}

for (const align of ['bottom-right', 'top-left'] as const) {
  for (const [sq, sk] of [[3, 7], [7, 3], [5, 5]]) {
    test(`causal ${align} ${sq}x${sk}: weights above the aligned diagonal are exactly 0, the rest positive`, () => {
      const { weights } = scaledDotProductAttention(randn([1, 2, sq, 4], 1), randn([1, 2, sk, 4], 2), randn([1, 2, sk, 4], 3), {
        causal: align,
        returnWeights: true,
      });
      const offset = align === 'bottom-right' ? sk - sq : 0;
      rows(weights).forEach((row, r) => {
        const i = r % sq;
        row.forEach((w, j) => {
          if (j > i + offset) assert.equal(w, 0, `query ${i} key ${j}`);
          else assert.ok(w > 0, `query ${i} key ${j}`);
        });
      });
    });
  }
}

test('causal: true equals both alignments when seqQ == seqK', () => {
  const [q, k, v] = [randn([1, 2, 5, 4], 1), randn([1, 2, 5, 4], 2), randn([1, 2, 5, 4], 3)];
  const a = scaledDotProductAttention(q, k, v, { causal: true });
  assert.deepEqual(Array.from(a.data), Array.from(scaledDotProductAttention(q, k, v, { causal: 'bottom-right' }).data));
  assert.deepEqual(Array.from(a.data), Array.from(scaledDotProductAttention(q, k, v, { causal: 'top-left' }).data));
});

test('non-causal window means a symmetric band |j - i| < window', () => {
  const { weights } = scaledDotProductAttention(randn([1, 1, 7, 4], 1), randn([1, 1, 7, 4], 2), randn([1, 1, 7, 4], 3), { window: 2, returnWeights: true });
  rows(weights).forEach((row, i) => row.forEach((w, j) => assert.equal(w > 0, Math.abs(j - i) < 2, `query ${i} key ${j}`)));
});

test('bottom-right causal with one query (a decoding step) sees every key: same as no mask', () => {
  const [q, k, v] = [randn([2, 2, 1, 4], 1), randn([2, 2, 9, 4], 2), randn([2, 2, 9, 4], 3)];
  assert.deepEqual(Array.from(scaledDotProductAttention(q, k, v, { causal: 'bottom-right' }).data), Array.from(scaledDotProductAttention(q, k, v).data));
});

// ---------- fully masked rows ----------

function checkFullyMaskedRow(name: string, sq: number, sk: number, opts: AttentionOptions, maskedRows: number[]): void {
  test(`fully masked query rows give zero output and zero gradients, not NaN: ${name}`, () => {
    const q = randn([1, 2, sq, 4], 1, true);
    const k = randn([1, 2, sk, 4], 2, true);
    const v = randn([1, 2, sk, 4], 3, true);
    const { output, weights } = scaledDotProductAttention(q, k, v, { ...opts, returnWeights: true });
    const outRows = rows(output);
    const wRows = rows(weights);
    for (let r = 0; r < outRows.length; r++) {
      const masked = maskedRows.includes(r % sq);
      assert.ok(outRows[r].every(Number.isFinite));
      if (masked) {
        assert.ok(outRows[r].every((x) => x === 0), `output row ${r}`);
        assert.ok(wRows[r].every((x) => x === 0), `weights row ${r}`);
      } else assert.ok(Math.abs(wRows[r].reduce((a, b) => a + b, 0) - 1) < 1e-6);
    }
    // Upstream gradient on every row: all gradients finite and q's masked rows exactly 0.
    output.backward(randn([...output.shape], 4));
    for (const t of [q, k, v]) assert.ok(Array.from(t.grad!.data).every(Number.isFinite));
    rows(q.grad!).forEach((row, r) => {
      if (maskedRows.includes(r % sq)) assert.ok(row.every((x) => x === 0), `grad q row ${r}`);
    });
    // Upstream gradient only on the masked rows: nothing flows anywhere.
    for (const t of [q, k, v]) t.zeroGrad();
    const g = new Float32Array(output.size);
    outRows.forEach((row, r) => {
      if (maskedRows.includes(r % sq)) g.fill(1, r * row.length, (r + 1) * row.length);
    });
    scaledDotProductAttention(q, k, v, { ...opts, returnWeights: false }).backward(new Tensor(g, output.shape));
    for (const t of [q, k, v]) assert.ok(Array.from(t.grad!.data).every((x) => x === 0));
  });
}

const rowMask = Tensor.fromArray([
  [true, false, true, true],
  [false, false, false, false],
  [true, true, true, true],
]);
checkFullyMaskedRow('bool mask row all false', 3, 4, { mask: rowMask }, [1]);
checkFullyMaskedRow('bottom-right causal with seqQ > seqK', 5, 3, { causal: 'bottom-right' }, [0, 1]);
checkFullyMaskedRow('float mask row all -Infinity', 3, 4, { mask: Tensor.fromArray([[0, 0, 0, 0], [-Infinity, -Infinity, -Infinity, -Infinity], [0, 1, 2, 3]]) }, [1]);
checkFullyMaskedRow('padding mask with a zero-length sequence and causal', 3, 3, { causal: true, mask: paddingMask([0], 3) }, [0, 1, 2]);

// ---------- masks compose ----------

test('masks compose: causal AND window AND bool mask equals one combined bool mask', () => {
  const [q, k, v] = [randn([2, 2, 6, 4], 1), randn([2, 2, 6, 4], 2), randn([2, 2, 6, 4], 3)];
  const m = randomMask([2, 1, 6, 6], 5);
  const a = scaledDotProductAttention(q, k, v, { causal: true, window: 3, mask: m });
  const combined = combineMasks(causalMask(6, 6), slidingWindowMask(6, 6, 3), m)!;
  const b = scaledDotProductAttention(q, k, v, { mask: combined });
  assert.deepEqual(Array.from(a.data), Array.from(b.data));
  const c = scaledDotProductAttention(q, k, v, { causal: true, mask: m });
  assert.deepEqual(Array.from(c.data), Array.from(scaledDotProductAttention(q, k, v, { mask: combineMasks(causalMask(6, 6), m)! }).data));
});

test('a bool mask and the equivalent additive float mask (0 / -Infinity) give the same result', () => {
  const [q, k, v] = [randn([2, 2, 4, 5], 1), randn([2, 2, 5, 5], 2), randn([2, 2, 5, 5], 3)];
  const m = randomMask([2, 1, 4, 5], 6);
  const f = new Tensor(m.data.map((x) => (x ? 0 : -Infinity)), m.shape);
  // A float mask always takes the composed path; the bool one is asked to as well, so the two agree bit for bit.
  assert.deepEqual(Array.from(scaledDotProductAttention(q, k, v, { mask: m, impl: 'composed' }).data), Array.from(scaledDotProductAttention(q, k, v, { mask: f }).data));
});

test('padded keys do not change the result: attention over padded keys equals attention over the real ones', () => {
  const [q, k, v] = [randn([1, 2, 3, 4], 1), randn([1, 2, 6, 4], 2), randn([1, 2, 6, 4], 3)];
  const full = scaledDotProductAttention(q, k, v, { mask: paddingMask([4], 6) });
  const cut = scaledDotProductAttention(q, k.slice(2, 0, 4), v.slice(2, 0, 4));
  assertClose(full, cut, { rtol: 0, atol: 1e-7 });
});

test('grouped-query attention equals attention with each kv head repeated for its query heads', () => {
  const [q, k, v] = [randn([2, 6, 4, 3], 1), randn([2, 2, 5, 3], 2), randn([2, 2, 5, 3], 3)];
  // kv head j serves query heads 3j, 3j+1, 3j+2 (consecutive, as repeat_interleave).
  const repeat = (t: Tensor): Tensor => concat([0, 0, 0, 1, 1, 1].map((j) => t.slice(1, j, j + 1)), 1);
  const a = scaledDotProductAttention(q, k, v, { causal: 'bottom-right' });
  const b = scaledDotProductAttention(q, repeat(k), repeat(v), { causal: 'bottom-right' });
  assertClose(a, b, { rtol: 0, atol: 1e-7 });
  const mqa = scaledDotProductAttention(q, k.slice(1, 0, 1), v.slice(1, 0, 1));
  const rep = (t: Tensor): Tensor => concat(Array.from({ length: 6 }, () => t.slice(1, 0, 1)), 1);
  assertClose(mqa, scaledDotProductAttention(q, rep(k), rep(v)), { rtol: 0, atol: 1e-7 });
});

test('without returnWeights the result is the output tensor; scale defaults to 1/sqrt(headDim)', () => {
  const [q, k, v] = [randn([1, 1, 3, 4], 1), randn([1, 1, 3, 4], 2), randn([1, 1, 3, 4], 3)];
  const out = scaledDotProductAttention(q, k, v);
  assert.ok(out instanceof Tensor);
  assert.deepEqual(Array.from(out.data), Array.from(scaledDotProductAttention(q, k, v, { scale: 0.5 }).data));
  // scale: explicit computation softmax(q kᵀ · s) v.
  const s = 0.3;
  const expected = matmul(matmul(q, k, { transB: true }).mul(s).softmax(-1), v);
  assertClose(scaledDotProductAttention(q, k, v, { scale: s }), expected, { rtol: 1e-6, atol: 1e-7 });
});

// ---------- dropout ----------

test('dropout: applied to the weights only when > 0, reproducible with a generator, returned weights are before dropout', () => {
  const [q, k, v] = [randn([2, 2, 4, 3], 1), randn([2, 2, 5, 3], 2), randn([2, 2, 5, 3], 3)];
  // Dropout takes the composed path; `plain` is asked to as well, so that they agree bit for bit.
  const plain = scaledDotProductAttention(q, k, v, { returnWeights: true, impl: 'composed' });
  assert.deepEqual(Array.from(scaledDotProductAttention(q, k, v, { dropout: 0, impl: 'composed' }).data), Array.from(plain.output.data));
  const r = scaledDotProductAttention(q, k, v, { dropout: 0.5, generator: new Generator(7), returnWeights: true });
  assert.deepEqual(Array.from(r.weights.data), Array.from(plain.weights.data));
  const expected = matmul(dropout(plain.weights, 0.5, { training: true, generator: new Generator(7) }), v);
  assert.deepEqual(Array.from(r.output.data), Array.from(expected.data));
  assert.notDeepEqual(Array.from(r.output.data), Array.from(plain.output.data));
});

// ---------- gradients: finite differences ----------

test('gradcheck sdpa: no mask, value headDim different', () => {
  gradcheck((q, k, v) => scaledDotProductAttention(q, k, v), [param([2, 2, 3, 4], 1), param([2, 2, 5, 4], 2), param([2, 2, 5, 3], 3)]);
});

test('gradcheck sdpa: causal bottom-right with bool padding mask', () => {
  const m = paddingMask([5, 3], 5);
  gradcheck((q, k, v) => scaledDotProductAttention(q, k, v, { causal: 'bottom-right', mask: m }), [param([2, 2, 3, 4], 1), param([2, 2, 5, 4], 2), param([2, 2, 5, 4], 3)]);
});

test('gradcheck sdpa: float additive mask gets its gradient too, with a fully masked row', () => {
  const bias = param([1, 2, 3, 4], 4);
  const block = Tensor.fromArray([[true, true, true, true], [false, false, false, false], [true, false, true, false]]);
  gradcheck((q, k, v, b) => scaledDotProductAttention(q, k, v, { mask: b.maskedFill(invertMask(block), -Infinity) }), [
    param([1, 2, 3, 4], 1),
    param([1, 2, 4, 4], 2),
    param([1, 2, 4, 4], 3),
    bias,
  ]);
});

test('gradcheck sdpa: grouped-query (heads 4, kvHeads 2) with causal window, and multi-query', () => {
  gradcheck((q, k, v) => scaledDotProductAttention(q, k, v, { causal: true, window: 2 }), [param([1, 4, 5, 3], 1), param([1, 2, 5, 3], 2), param([1, 2, 5, 3], 3)]);
  gradcheck((q, k, v) => scaledDotProductAttention(q, k, v, { mask: randomMask([1, 1, 3, 4], 8, 0.7) }), [
    param([1, 4, 3, 3], 1),
    param([1, 1, 4, 3], 2),
    param([1, 1, 4, 3], 3),
  ]);
});

test('gradcheck sdpa weights (returnWeights) with a bool mask', () => {
  const m = randomMask([2, 1, 3, 4], 3, 0.7);
  gradcheck((q, k) => scaledDotProductAttention(q, k, k, { mask: m, returnWeights: true }).weights, [param([2, 2, 3, 4], 1), param([2, 2, 4, 4], 2)]);
});

test('gradcheck MultiHeadAttention (grouped-query, cross-attention, key mask): inputs and weights', () => {
  const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 4, numKVHeads: 2, kDim: 5, vDim: 3, generator: new Generator(3) });
  const keyMask = Tensor.fromArray([[true, true, true, true], [true, true, false, false]]);
  const [query, key, value] = [param([2, 3, 8], 1), param([2, 4, 5], 2), param([2, 4, 3], 3)];
  gradcheck((a, b, c) => mha.forward(a, b, c, { keyMask, causal: 'bottom-right' }).output, [query, key, value]);
  gradcheck(() => mha.forward(query, key, value, { keyMask }).output, [mha.q.weight, mha.k.weight, mha.v.weight, mha.out.weight, mha.k.bias!], { maxElements: 16 });
});

// ---------- MultiHeadAttention ----------

test('MultiHeadAttention: state names, grouped-query shapes, weights shapes', () => {
  const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 4, numKVHeads: 2, generator: new Generator(1) });
  const shapes = Object.fromEntries([...mha.stateDict()].map(([n, t]) => [n, [...t.shape]]));
  assert.deepEqual(shapes, {
    'q.weight': [8, 8], 'q.bias': [8], 'k.weight': [4, 8], 'k.bias': [4], 'v.weight': [4, 8], 'v.bias': [4], 'out.weight': [8, 8], 'out.bias': [8],
  });
  const x = randn([2, 5, 8], 2);
  assert.equal(mha.forward(x, x, x).weights, null);
  assert.deepEqual([...mha.forward(x, x, x, { needWeights: true }).weights!.shape], [2, 5, 5]);
  const perHead = mha.forward(x, x, x, { needWeights: true, averageWeights: false }).weights!;
  assert.deepEqual([...perHead.shape], [2, 4, 5, 5]);
  assertClose(mha.forward(x, x, x, { needWeights: true }).weights!, perHead.mean(1), { rtol: 0, atol: 0 });
  assert.deepEqual(new MultiHeadAttention({ embedDim: 6, numHeads: 2, bias: false }).stateDict().size, 4);
});

/** max |x| and the standard deviation of a tensor's values. */
function spread(t: Tensor): { max: number; std: number } {
  let max = 0;
  let s2 = 0;
  for (const x of t.data) {
    max = Math.max(max, Math.abs(x));
    s2 += x * x;
  }
  return { max, std: Math.sqrt(s2 / t.size) };
}

/**
 * Asserts that t looks like U(-a, a): max |x| <= a (the float32 rounding of a at most), close to a (with n
 * draws, P(max < 0.99 a) = 0.99^n: < 1e-17 for n >= 4096), and std within 3% of a / sqrt(3).
 */
function assertUniform(t: Tensor, a: number, what: string): void {
  assert.ok(t.size >= 4096, `${what}: too few values (${t.size}) for a statistical check`);
  const { max, std } = spread(t);
  assert.ok(max <= Math.fround(a), `${what}: max |w| ${max} > bound ${a}`);
  assert.ok(max >= 0.99 * a, `${what}: max |w| ${max} is not close to bound ${a} (a smaller bound?)`);
  assert.ok(Math.abs(std / (a / Math.sqrt(3)) - 1) < 0.03, `${what}: std ${std}, expected ${a / Math.sqrt(3)} for U(-${a}, ${a})`);
}

const allZero = (t: Tensor | null, what: string): void => {
  assert.ok(t !== null, `${what}: no bias`);
  assert.ok(t.data.every((x) => x === 0), `${what}: not all zero`);
  assert.equal(t.requiresGrad, true, `${what}: must stay a trainable parameter`);
};

test('MultiHeadAttention init as nn.MultiheadAttention._reset_parameters: packed xavier bound sqrt(6 / (E + 3E)), zero biases, out.weight as Linear', () => {
  const E = 256;
  const mha = new MultiHeadAttention({ embedDim: E, numHeads: 4, generator: new Generator(11) });
  // in_proj_weight [3E, E]: fan_in E, fan_out 3E, one bound for q, k and v (0.0765; Linear's would be 1/16 = 0.0625).
  const a = Math.sqrt(6 / (E + 3 * E));
  assertUniform(mha.q.weight, a, 'q.weight');
  assertUniform(mha.k.weight, a, 'k.weight');
  assertUniform(mha.v.weight, a, 'v.weight');
  // out_proj.weight keeps Linear's init: U(-1/sqrt(E), 1/sqrt(E)).
  assertUniform(mha.out.weight, 1 / Math.sqrt(E), 'out.weight');
  for (const n of ['q', 'k', 'v', 'out'] as const) allZero(mha[n].bias, `${n}.bias`);
  // The same holds when kDim and vDim are given but equal embedDim (PyTorch still packs them).
  const same = new MultiHeadAttention({ embedDim: E, numHeads: 4, kDim: E, vDim: E, generator: new Generator(12) });
  assertUniform(same.k.weight, a, 'k.weight (kDim = vDim = E)');
  const noBias = new MultiHeadAttention({ embedDim: E, numHeads: 4, bias: false, generator: new Generator(13) });
  assert.deepEqual([noBias.q.bias, noBias.k.bias, noBias.v.bias, noBias.out.bias], [null, null, null, null]);
  assertUniform(noBias.v.weight, a, 'v.weight (bias: false)');
});

test('MultiHeadAttention init: separate q/k/v weights (kDim, vDim != E) and grouped-query heads get the xavier bound of each matrix', () => {
  // Cross-attention, as PyTorch's q/k/v_proj_weight: bound sqrt(6 / (in + out)) per matrix.
  const cross = new MultiHeadAttention({ embedDim: 128, numHeads: 4, kDim: 64, vDim: 32, generator: new Generator(21) });
  assertUniform(cross.q.weight, Math.sqrt(6 / (128 + 128)), 'cross q.weight');
  assertUniform(cross.k.weight, Math.sqrt(6 / (64 + 128)), 'cross k.weight');
  assertUniform(cross.v.weight, Math.sqrt(6 / (32 + 128)), 'cross v.weight');
  assertUniform(cross.out.weight, 1 / Math.sqrt(128), 'cross out.weight');
  for (const n of ['q', 'k', 'v', 'out'] as const) allZero(cross[n].bias, `cross ${n}.bias`);
  // Grouped-query (no PyTorch counterpart): per-matrix xavier, k and v are [numKVHeads * headDim, E] = [32, 128].
  const gqa = new MultiHeadAttention({ embedDim: 128, numHeads: 8, numKVHeads: 2, generator: new Generator(22) });
  assertUniform(gqa.q.weight, Math.sqrt(6 / (128 + 128)), 'gqa q.weight');
  assertUniform(gqa.k.weight, Math.sqrt(6 / (128 + 32)), 'gqa k.weight');
  assertUniform(gqa.v.weight, Math.sqrt(6 / (128 + 32)), 'gqa v.weight');
  assertUniform(gqa.out.weight, 1 / Math.sqrt(128), 'gqa out.weight');
  for (const n of ['q', 'k', 'v', 'out'] as const) allZero(gqa[n].bias, `gqa ${n}.bias`);
  // Reproducible from the generator.
  const again = new MultiHeadAttention({ embedDim: 128, numHeads: 8, numKVHeads: 2, generator: new Generator(22) });
  for (const [n, t] of gqa.stateDict()) assert.deepEqual(Array.from(again.stateDict().get(n)!.data), Array.from(t.data), n);
});

test('MultiHeadAttention: mask is checked against [batch, numHeads, seqQ, seqK] before keyMask joins it; 3-D masks only as [1, seqQ, seqK]', () => {
  const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 2, generator: new Generator(1) });
  const q = randn([2, 3, 8], 2);
  const kv = randn([2, 5, 8], 3);
  const keyMask = Tensor.fromArray([[true, true, true, true, true], [true, true, true, false, false]]);
  const scores = /cannot broadcast to the scores \[batch, numHeads, seqQ, seqK\] = \[2,2,3,5\]/;
  for (const km of [undefined, keyMask]) {
    // Without the early check, combining with keyMask [2,1,1,5] first made [2,1,2,5] and the error named that shape.
    for (const mask of [randomMask([2, 5], 4), randn([2, 5], 4), randomMask([1, 1, 4, 5], 4)]) {
      assert.throws(() => mha.forward(q, kv, kv, { keyMask: km, mask }), (e: Error) => {
        assert.match(e.message, new RegExp(`^MultiHeadAttention: mask \\[${mask.shape.join(',')}\\] `));
        assert.match(e.message, scores);
        assert.match(e.message, /query \[2,3,8\], key \[2,5,8\], value \[2,5,8\]/);
        return true;
      });
    }
    assert.throws(() => mha.forward(q, kv, kv, { keyMask: km, mask: randomMask([1, 1, 1, 3, 5], 4) }), /MultiHeadAttention: mask \[1,1,1,3,5\] cannot broadcast/);
  }
  // A 3-D mask [2, 3, 5] would broadcast as [heads, seqQ, seqK] (numHeads is 2 here) and silently mean per-head;
  // PyTorch's 3-D attn_mask is [batch * numHeads, seqQ, seqK]. Refused, with the 4-D alternative.
  for (const mask of [randomMask([2, 3, 5], 5), randn([2, 3, 5], 5), randomMask([4, 3, 5], 5)]) {
    assert.throws(() => mha.forward(q, kv, kv, { mask }), (e: Error) => {
      assert.match(e.message, new RegExp(`^MultiHeadAttention: a 3-D mask must be \\[1, seqQ, seqK\\]; got mask \\[${mask.shape.join(',')}\\]`));
      assert.match(e.message, /PyTorch's 3-D attn_mask is \[batch \* numHeads, seqQ, seqK\]/);
      assert.match(e.message, /pass a 4-D mask \[batch, 1, seqQ, seqK\] = \[2,1,3,5\]/);
      return true;
    });
  }
  // What is allowed: [seqQ, seqK], [1, seqQ, seqK], [batch, 1, seqQ, seqK], [batch, numHeads, seqQ, seqK], with or without keyMask.
  const m2 = randomMask([3, 5], 6);
  const ref = mha.forward(q, kv, kv, { mask: m2, keyMask }).output;
  for (const mask of [m2.reshape([1, 3, 5]), m2.reshape([1, 1, 3, 5]), stack([m2, m2], 0).reshape([2, 1, 3, 5]), stack([m2, m2, m2, m2], 0).reshape([2, 2, 3, 5])]) {
    assert.deepEqual(Array.from(mha.forward(q, kv, kv, { mask, keyMask }).output.data), Array.from(ref.data), `mask ${JSON.stringify(mask.shape)}`);
  }
});

test('MultiHeadAttention: keyMask equals the same padding passed as a mask, and padded keys get weight 0', () => {
  const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 2, generator: new Generator(1) });
  const x = randn([2, 5, 8], 2);
  const keyMask = Tensor.fromArray([[true, true, true, true, true], [true, true, false, false, false]]);
  const a = mha.forward(x, x, x, { keyMask, needWeights: true, causal: true });
  const b = mha.forward(x, x, x, { mask: paddingMask(keyMask), needWeights: true, causal: true }); // same path as a
  assert.deepEqual(Array.from(a.output.data), Array.from(b.output.data));
  rows(a.weights!).slice(5).forEach((row) => assert.deepEqual(row.slice(2), [0, 0, 0]));
  // keyMask with a float mask: the padding becomes -Infinity in the additive mask.
  const f = randn([5, 5], 3);
  const c = mha.forward(x, x, x, { keyMask, mask: f });
  const d = mha.forward(x, x, x, { mask: f.add(new Tensor(paddingMask(keyMask).data.map((t) => (t ? 0 : -Infinity)), [2, 1, 1, 5])) });
  assert.deepEqual(Array.from(c.output.data), Array.from(d.output.data));
});

test('MultiHeadAttention: dropout only in training mode', () => {
  const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 2, dropout: 0.5, generator: new Generator(1) });
  const x = randn([1, 6, 8], 2);
  const train1 = mha.forward(x, x, x).output;
  mha.eval();
  const e1 = mha.forward(x, x, x).output;
  const e2 = mha.forward(x, x, x).output;
  assert.deepEqual(Array.from(e1.data), Array.from(e2.data));
  assert.notDeepEqual(Array.from(train1.data), Array.from(e1.data));
});

test('MultiHeadAttention: the rope hook sees q [batch, heads, seqQ, headDim] and k [batch, kvHeads, seqK, headDim]', () => {
  const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 4, numKVHeads: 1, generator: new Generator(1) });
  const seen: string[] = [];
  const x = randn([2, 5, 8], 2);
  const plain = mha.forward(x, x, x).output;
  const same = mha.forward(x, x, x, { rope: (t, role) => (seen.push(`${role}${JSON.stringify(t.shape)}`), t) }).output;
  assert.deepEqual(seen, ['q[2,4,5,2]', 'k[2,1,5,2]']);
  assert.deepEqual(Array.from(same.data), Array.from(plain.data));
  const changed = mha.forward(x, x, x, { rope: (t, role) => (role === 'k' ? t.mul(2) : t) }).output;
  assert.notDeepEqual(Array.from(changed.data), Array.from(plain.data));
});

test('self-attention without positions is permutation equivariant: permuting tokens permutes the output', () => {
  const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 2, numKVHeads: 1, generator: new Generator(4) });
  const seq = 7;
  const perm = [3, 0, 6, 1, 5, 2, 4];
  const x = randn([2, seq, 8], 5);
  const permuteTokens = (t: Tensor): Tensor => stack([0, 1].map((b) => concat(perm.map((p) => t.slice(0, b, b + 1).slice(1, p, p + 1)), 1).squeeze(0)), 0);
  const xp = permuteTokens(x);
  const out = mha.forward(x, x, x).output;
  const outP = mha.forward(xp, xp, xp).output;
  // Tight: the reference kernels accumulate in float64 and round once, so a different order of the same
  // terms changes a result by at most ~1 float32 ulp (values are O(1)).
  assertClose(outP, permuteTokens(out), { rtol: 1e-6, atol: 1e-6 });
});

test('fromTorchState: packed in_proj and separate q/k/v projections map onto q, k, v, out', () => {
  const E = 4;
  const w = randn([3 * E, E], 1);
  const b = randn([3 * E], 2);
  const ow = randn([E, E], 3);
  const ob = randn([E], 4);
  const mha = MultiHeadAttention.fromTorchState({ in_proj_weight: w, in_proj_bias: b, 'out_proj.weight': ow, 'out_proj.bias': ob }, { numHeads: 2 });
  assert.deepEqual(Array.from(mha.k.weight.data), Array.from(w.data.subarray(E * E, 2 * E * E)));
  assert.deepEqual(Array.from(mha.v.bias!.data), Array.from(b.data.subarray(2 * E)));
  assert.deepEqual(Array.from(mha.out.weight.data), Array.from(ow.data));
  const cross = MultiHeadAttention.fromTorchState(
    { q_proj_weight: randn([E, E], 5), k_proj_weight: randn([E, 3], 6), v_proj_weight: randn([E, 2], 7), 'out_proj.weight': ow },
    { numHeads: 2 },
  );
  assert.equal(cross.kDim, 3);
  assert.equal(cross.vDim, 2);
  assert.equal(cross.q.bias, null);
});

// ---------- errors ----------

test('sdpa errors name q, k, v and their shapes', () => {
  const q = Tensor.zeros([2, 4, 3, 8]);
  const k = Tensor.zeros([2, 2, 5, 8]);
  const v = Tensor.zeros([2, 2, 5, 6]);
  const E = /scaledDotProductAttention: /;
  assert.throws(() => scaledDotProductAttention(Tensor.zeros([4, 3, 8]), k, v), /q must be 4-D \[batch, heads, seqQ, headDim\], got \[4,3,8\] \(q \[4,3,8\], k \[2,2,5,8\], v \[2,2,5,6\]\)/);
  assert.throws(() => scaledDotProductAttention(q, Tensor.zeros([2, 5, 8]), v), /k must be 4-D \[batch, kvHeads, seqK, headDim\], got \[2,5,8\]/);
  assert.throws(() => scaledDotProductAttention(q, k, Tensor.zeros([5, 6])), /v must be 4-D \[batch, kvHeads, seqK, headDimV\]/);
  assert.throws(() => scaledDotProductAttention(q.toBool(), k, v), /q must be float32, got a bool tensor/);
  assert.throws(() => scaledDotProductAttention(q, Tensor.zeros([3, 2, 5, 8]), v), /batch sizes differ: q 2, k 3, v 2/);
  assert.throws(() => scaledDotProductAttention(q, k, Tensor.zeros([2, 2, 4, 6])), /k and v must have the same kvHeads and seqK/);
  assert.throws(() => scaledDotProductAttention(q, Tensor.zeros([2, 2, 5, 7]), v), /q and k must have the same headDim: q 8, k 7/);
  assert.throws(() => scaledDotProductAttention(q, Tensor.zeros([2, 3, 5, 8]), Tensor.zeros([2, 3, 5, 6])), /q has 4 heads but k and v have 3: kvHeads must divide heads/);
  assert.throws(() => scaledDotProductAttention(q, k, v, { scale: NaN }), /scale must be a finite number, got NaN/);
  assert.throws(() => scaledDotProductAttention(q, k, v, { dropout: 1 }), /dropout must be a probability in \[0, 1\), got 1/);
  assert.throws(() => scaledDotProductAttention(q, k, v, { window: 0 }), /window must be a positive integer/);
  assert.throws(() => scaledDotProductAttention(q, k, v, { window: 2 }), /a non-causal window needs seqQ == seqK \(got seqQ 3, seqK 5\).*slidingWindowMask\(3, 5, 2/);
  assert.throws(() => scaledDotProductAttention(q, k, v, { causal: true }), (e: Error) => {
    assert.match(e.message, E);
    assert.match(e.message, /causal: true is ambiguous when seqQ \(3\) != seqK \(5\)/);
    assert.match(e.message, /causal: 'bottom-right'.*last query sees every key/);
    assert.match(e.message, /causal: 'top-left'.*query i attends keys 0\.\.i/);
    return true;
  });
  assert.throws(() => scaledDotProductAttention(q, k, v, { causal: 'diagonal' as never }), /causal must be true, false, 'bottom-right' or 'top-left', got diagonal/);
  assert.throws(() => scaledDotProductAttention(q, k, v, { mask: Tensor.zeros([3, 4]).toBool() }), /mask \[3,4\] cannot broadcast to the scores \[batch, heads, seqQ, seqK\] = \[2,4,3,5\]/);
  assert.throws(() => scaledDotProductAttention(q, k, v, { mask: Tensor.zeros([1, 2, 4, 3, 5]) }), /mask \[1,2,4,3,5\] cannot broadcast/);
});

test('mask builder errors', () => {
  assert.throws(() => causalMask(-1, 3), /causalMask: seqQ must be a non-negative integer, got -1/);
  assert.throws(() => causalMask(2, 2.5), /causalMask: seqK must be a non-negative integer, got 2.5/);
  assert.throws(() => causalMask(2, 3, 'bottom' as never), /causalMask: align must be 'bottom-right' or 'top-left', got 'bottom' \('bottom-right': the last query sees every key.*; 'top-left': query i sees keys 0\.\.i, PyTorch's is_causal\)/);
  assert.throws(() => causalMask(2, 3, 3 as never), /causalMask: align must be 'bottom-right' or 'top-left', got 3 \(/);
  assert.throws(() => slidingWindowMask(2, 3, 0), /slidingWindowMask: window must be a positive integer/);
  assert.throws(() => slidingWindowMask(2, 3, 2, 'left' as never), /slidingWindowMask: align must be/);
  assert.throws(() => slidingWindowMask(-2, 3, 2), /slidingWindowMask: seqQ must be a non-negative integer/);
  assert.throws(() => paddingMask(Tensor.zeros([2, 3, 4]).toBool()), /paddingMask: a bool key mask must be \[batch, seqK\], got \[2,3,4\]/);
  assert.throws(() => paddingMask(Tensor.zeros([2, 3]).toBool(), 4), /paddingMask: key mask \[2,3\] has 3 keys, but seqK is 4/);
  assert.throws(() => paddingMask(Tensor.zeros([2, 3])), /paddingMask: lengths must be a 1-D tensor \[batch\]/);
  assert.throws(() => paddingMask([2, 5], 4), /paddingMask: length 5 must be an integer in \[0, 4\]/);
  assert.throws(() => paddingMask([1.5], 3), /paddingMask: length 1.5 must be an integer/);
  assert.throws(() => paddingMask([1], -1), /paddingMask: seqK must be a non-negative integer/);
  assert.throws(() => combineMasks(causalMask(2, 2), Tensor.zeros([2, 2])), /combineMasks: mask \[2,2\] is float32; only bool masks/);
  assert.throws(() => combineMasks(causalMask(2, 2), causalMask(3, 3)), /combineMasks: shapes \[2,2\] and \[3,3\] cannot be broadcast/);
  assert.throws(() => invertMask(Tensor.zeros([2])), /invertMask: mask \[2\] must be bool, got float32/);
  assert.throws(() => blockSparseMask([[true]], 2, 3, 3), /blockSparseMask: layout must be bool \[2,2\] \(ceil\(3\/2\), ceil\(3\/2\)\), got bool \[1,1\]/);
  assert.throws(() => blockSparseMask([[true]], 0, 3, 3), /blockSparseMask: blockSize must be a positive integer, got 0/);
  assert.throws(() => blockSparseMask([[true]], 1, -1, 1), /blockSparseMask: seqQ must be a non-negative integer/);
  assert.throws(() => blockSparseMask([[true]], 1, 1, -1), /blockSparseMask: seqK must be a non-negative integer/);
});

test('alibiBias shares the attention masks\' alignment check (MaskAlign from masks.ts): same values, same error', () => {
  const message = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('no error');
  };
  for (const bad of ['center', 'bottom', 'Top-Left', null, 1]) {
    const fromMask = message(() => causalMask(2, 3, bad as never)).replace(/^causalMask: /, '');
    assert.equal(message(() => alibiBias(2, 2, 3, { align: bad as never })), `alibiBias: ${fromMask}`, String(bad));
    assert.equal(message(() => slidingWindowMask(2, 3, 1, bad as never)), `slidingWindowMask: ${fromMask}`, String(bad));
  }
  // Every MaskAlign is accepted by both, and a bias and a causal mask with the same align agree on which keys are "ahead".
  for (const align of ['bottom-right', 'top-left'] as const satisfies readonly MaskAlign[]) {
    const mask = causalMask(2, 4, align);
    const bias = alibiBias(1, 2, 4, { align });
    // On the allowed keys the bias is -slope * (p - j) <= 0 and largest (0) exactly at the query's own position p.
    rows(bias).forEach((r, i) => {
      const p = r.indexOf(0);
      assert.ok(p >= 0, `${align}: row ${i} has no zero`);
      assert.deepEqual(bits(mask)[i], r.map((_, j) => (j <= p ? 1 : 0)), `${align}: row ${i}`);
    });
  }
});

test('MultiHeadAttention errors', () => {
  assert.throws(() => new MultiHeadAttention({ embedDim: 0, numHeads: 1 }), /MultiHeadAttention: embedDim must be a positive integer, got 0/);
  assert.throws(() => new MultiHeadAttention({ embedDim: 8, numHeads: 1.5 }), /MultiHeadAttention: numHeads must be a positive integer, got 1.5/);
  assert.throws(() => new MultiHeadAttention({ embedDim: 8, numHeads: 2, kDim: -1 }), /MultiHeadAttention: kDim must be a positive integer, got -1/);
  assert.throws(() => new MultiHeadAttention({ embedDim: 8, numHeads: 3 }), /embedDim 8 must be divisible by numHeads 3/);
  assert.throws(() => new MultiHeadAttention({ embedDim: 8, numHeads: 4, numKVHeads: 3 }), /numKVHeads 3 must divide numHeads 4/);
  assert.throws(() => new MultiHeadAttention({ embedDim: 8, numHeads: 4, dropout: 1.5 }), /dropout must be a probability in \[0, 1\), got 1.5/);
  const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 2, kDim: 6, vDim: 4 });
  const [q, k, v] = [Tensor.zeros([2, 3, 8]), Tensor.zeros([2, 5, 6]), Tensor.zeros([2, 5, 4])];
  assert.throws(() => mha.forward(Tensor.zeros([3, 8]), k, v), /MultiHeadAttention: query must be \[batch, seqQ, 8\] \(batch first\), got \[3,8\] \(query \[3,8\], key \[2,5,6\], value \[2,5,4\]\)/);
  assert.throws(() => mha.forward(q, Tensor.zeros([2, 5, 8]), v), /key must be \[batch, seqK, 6\] \(batch first\), got \[2,5,8\]/);
  assert.throws(() => mha.forward(q, k, Tensor.zeros([2, 5, 6])), /value must be \[batch, seqK, 4\]/);
  assert.throws(() => mha.forward(q, Tensor.zeros([1, 5, 6]), v), /MultiHeadAttention: batch sizes differ \(query \[2,3,8\], key \[1,5,6\], value \[2,5,4\]\)/);
  assert.throws(() => mha.forward(q, k, Tensor.zeros([2, 4, 4])), /key and value must have the same seqK/);
  assert.throws(() => mha.forward(q, k, v, { keyMask: Tensor.zeros([2, 5]) }), /keyMask must be bool \[batch, seqK\] = \[2,5\] \(true = real token that may be attended\), got float32 \[2,5\]/);
  assert.throws(() => mha.forward(q, k, v, { keyMask: Tensor.zeros([2, 4]).toBool() }), /keyMask must be bool \[batch, seqK\] = \[2,5\].*got bool \[2,4\]/);
  assert.throws(() => mha.forward(q, k, v, { causal: true }), /causal: true is ambiguous when seqQ \(3\) != seqK \(5\)/);
  const ow = Tensor.zeros([4, 4]);
  assert.throws(() => MultiHeadAttention.fromTorchState({ in_proj_weight: Tensor.zeros([12, 4]) }, { numHeads: 2 }), /fromTorchState: missing 'out_proj.weight' \(have in_proj_weight\)/);
  assert.throws(() => MultiHeadAttention.fromTorchState({ in_proj_weight: Tensor.zeros([8, 4]), 'out_proj.weight': ow }, { numHeads: 2 }), /in_proj_weight must be \[3E, E\] = \[12,4\], got \[8,4\]/);
  assert.throws(() => MultiHeadAttention.fromTorchState({ q_proj_weight: ow, 'out_proj.weight': ow }, { numHeads: 2 }), /missing 'k_proj_weight'/);
  assert.throws(() => MultiHeadAttention.fromTorchState({ in_proj_weight: Tensor.zeros([12, 4]), 'out_proj.weight': ow, bias_k: Tensor.zeros([1, 1, 4]) }, { numHeads: 2 }), /add_bias_kv \(bias_k, bias_v\) is not supported/);
  assert.throws(
    () => MultiHeadAttention.fromTorchState({ in_proj_weight: Tensor.zeros([12, 4]), in_proj_bias: Tensor.zeros([12]), 'out_proj.weight': ow }, { numHeads: 2 }),
    /missing 'out_proj.bias'/,
  );
});

test('fromTorchState: both biases or neither, and in_proj_bias / q,k,v_proj_weight / out_proj shapes, each error naming the torch key', () => {
  const E = 4;
  const ow = Tensor.zeros([E, E]);
  const ob = Tensor.zeros([E]);
  const w = Tensor.zeros([3 * E, E]);
  const from = (state: Record<string, Tensor>) => () => MultiHeadAttention.fromTorchState(state, { numHeads: 2 });
  const F = /^MultiHeadAttention\.fromTorchState: /;
  const check = (state: Record<string, Tensor>, re: RegExp): void => {
    assert.throws(from(state), (e: Error) => (assert.match(e.message, F), assert.match(e.message, re), true));
  };
  // out_proj.bias without in_proj_bias used to be dropped silently (a module without biases came back).
  check({ in_proj_weight: w, 'out_proj.weight': ow, 'out_proj.bias': ob }, /missing 'in_proj_bias': the state has 'out_proj.bias', and torch.nn.MultiheadAttention has both biases \(bias=True\) or neither/);
  check({ in_proj_weight: w, in_proj_bias: Tensor.zeros([3 * E]), 'out_proj.weight': ow }, /missing 'out_proj.bias': the state has 'in_proj_bias'/);
  check({ in_proj_weight: w, in_proj_bias: Tensor.zeros([8]), 'out_proj.weight': ow, 'out_proj.bias': ob }, /in_proj_bias must be \[3E\] = \[12\], got \[8\]/);
  check({ in_proj_weight: w, in_proj_bias: Tensor.zeros([3, E]), 'out_proj.weight': ow, 'out_proj.bias': ob }, /in_proj_bias must be \[3E\] = \[12\], got \[3,4\]/);
  check({ in_proj_weight: w, in_proj_bias: Tensor.zeros([3 * E]), 'out_proj.weight': ow, 'out_proj.bias': Tensor.zeros([3]) }, /out_proj.bias must be \[E\] = \[4\], got \[3\]/);
  check({ in_proj_weight: w, 'out_proj.weight': Tensor.zeros([E, 3]) }, /out_proj.weight must be \[E, E\] \(E = embed_dim\), got \[4,3\]/);
  const sep = { q_proj_weight: Tensor.zeros([E, E]), k_proj_weight: Tensor.zeros([E, 3]), v_proj_weight: Tensor.zeros([E, 2]), 'out_proj.weight': ow };
  check({ ...sep, q_proj_weight: Tensor.zeros([3, E]) }, /q_proj_weight must be \[E, E\] with E = 4 \(from out_proj.weight \[4,4\]\), got \[3,4\]/);
  check({ ...sep, q_proj_weight: Tensor.zeros([E, 5]) }, /q_proj_weight must be \[E, E\] = \[4,4\], got \[4,5\]/);
  check({ ...sep, k_proj_weight: Tensor.zeros([3, 3]) }, /k_proj_weight must be \[E, kdim\] with E = 4 .*got \[3,3\]/);
  check({ ...sep, v_proj_weight: Tensor.zeros([E * 2]) }, /v_proj_weight must be \[E, vdim\] with E = 4 .*got \[8\]/);
  // The well-formed states still load: with both biases, and with neither.
  const withBias = MultiHeadAttention.fromTorchState({ ...sep, in_proj_bias: Tensor.ones([3 * E]), 'out_proj.bias': Tensor.full([E], 2) }, { numHeads: 2 });
  assert.deepEqual(Array.from(withBias.out.bias!.data), [2, 2, 2, 2]);
  assert.deepEqual(Array.from(withBias.k.bias!.data), [1, 1, 1, 1]);
  assert.equal(MultiHeadAttention.fromTorchState(sep, { numHeads: 2 }).out.bias, null);
});
