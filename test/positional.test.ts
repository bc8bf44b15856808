/**
 * Properties of the positional encodings (sinusoidal, learned, RoPE, ALiBi), their gradients (finite
 * differences), their error messages, and the reason they exist: self-attention alone cannot tell positions
 * apart (it is permutation-equivariant), and each of them breaks that symmetry.
 * Parity with PyTorch lives in parity-positional.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../src/ops/methods.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Generator } from '../src/tensor/random.js';
import { add, div } from '../src/ops/elementwise.js';
import { matmul } from '../src/ops/matmul.js';
import { softmax } from '../src/ops/nn.js';
import { sinusoidalEncoding, SinusoidalPositionalEncoding } from '../src/positional/sinusoidal.js';
import { LearnedPositionalEmbedding } from '../src/positional/learned.js';
import { applyRope, ropeFrequencies } from '../src/positional/rope.js';
import { alibiBias, alibiSlopes } from '../src/positional/alibi.js';
import { gradcheck, param } from './helpers/gradcheck.js';
import { assertClose } from './helpers/allclose.js';

const randn = (shape: number[], seed: number, std = 1): Tensor => Tensor.randn(shape, { generator: new Generator(seed), std });

/** Rows of a [n, d] (or [1, n, d]) tensor in the order `perm`: out[r] = x[perm[r]]. */
function permuteRows(x: Tensor, perm: number[]): Tensor {
  const d = x.shape[x.ndim - 1];
  const out = new Float32Array(x.size);
  perm.forEach((src, r) => out.set(x.data.subarray(src * d, (src + 1) * d), r * d));
  return new Tensor(out, x.shape);
}

/** Dot product in float64 of row `r` of a and row `s` of b ([..., d] viewed as rows of d). */
function dotRows(a: Tensor, r: number, b: Tensor, s: number): number {
  const d = a.shape[a.ndim - 1];
  let acc = 0;
  for (let i = 0; i < d; i++) acc += a.data[r * d + i] * b.data[s * d + i];
  return acc;
}

// ------------------------------------------------------------------------------------------ sinusoidal

test('sinusoidal: the paper\'s formula, sin and cos interleaved by column', () => {
  const pe = sinusoidalEncoding(50, 6);
  assert.deepEqual([...pe.shape], [50, 6]);
  for (const pos of [0, 1, 7, 49]) {
    for (let i = 0; i < 3; i++) {
      const angle = pos / Math.pow(10000, (2 * i) / 6);
      assert.equal(pe.data[pos * 6 + 2 * i], Math.fround(Math.sin(angle)), `PE[${pos}, ${2 * i}]`);
      assert.equal(pe.data[pos * 6 + 2 * i + 1], Math.fround(Math.cos(angle)), `PE[${pos}, ${2 * i + 1}]`);
    }
  }
  // Position 0 is [0, 1, 0, 1, ...]; column 0 has wavelength 2π (sin(pos)).
  assert.deepEqual([...pe.data.subarray(0, 6)], [0, 1, 0, 1, 0, 1]);
  assert.equal(pe.data[3 * 6], Math.fround(Math.sin(3)));
  assert.equal(pe.requiresGrad, false);
});

test('sinusoidal: offset gives the same rows as a longer table; odd dim ends with a sine column', () => {
  const full = sinusoidalEncoding(20, 8, { base: 100 });
  const tail = sinusoidalEncoding(5, 8, { base: 100, offset: 15 });
  assert.deepEqual([...tail.data], [...full.data.subarray(15 * 8)]);
  const odd = sinusoidalEncoding(4, 5);
  assert.deepEqual([...odd.shape], [4, 5]);
  assert.equal(odd.data[3 * 5 + 4], Math.fround(Math.sin(3 / Math.pow(10000, 4 / 5))));
});

test('SinusoidalPositionalEncoding: adds the table, has no parameters or state, honours offset', () => {
  const m = new SinusoidalPositionalEncoding(8);
  assert.equal(m.numParameters(), 0);
  assert.equal(m.stateDict().size, 0);
  const x = randn([2, 5, 8], 1);
  const y = m.forward(x);
  const pe = sinusoidalEncoding(5, 8);
  for (let b = 0; b < 2; b++) {
    for (let i = 0; i < 40; i++) assert.equal(y.data[b * 40 + i], Math.fround(x.data[b * 40 + i] + pe.data[i]));
  }
  // Decoding: the token at position 100 alone, after the cache grew to cover it, equals the full table's row.
  const step = m.forward(Tensor.zeros([1, 1, 8]), 100);
  assert.deepEqual([...step.data], [...sinusoidalEncoding(1, 8, { offset: 100 }).data]);
  assert.deepEqual([...m.forward(x).data], [...y.data], 'the grown cache gives the same rows');
});

test('sinusoidal: errors name the argument and the value', () => {
  assert.throws(() => sinusoidalEncoding(4, 0), /sinusoidalEncoding: dim must be an integer >= 1, got 0/);
  assert.throws(() => sinusoidalEncoding(-1, 4), /sinusoidalEncoding: seqLen must be an integer >= 0, got -1/);
  assert.throws(() => sinusoidalEncoding(4, 4, { offset: 1.5 }), /offset must be an integer >= 0, got 1.5/);
  assert.throws(() => sinusoidalEncoding(4, 4, { base: 0 }), /base must be a positive finite number, got 0/);
  const m = new SinusoidalPositionalEncoding(8);
  assert.throws(() => m.forward(Tensor.zeros([2, 5, 6])), /SinusoidalPositionalEncoding\(8\): input \[2,5,6\] must be \[\.\.\., seq, 8\]/);
});

// ------------------------------------------------------------------------------------------ learned

test('LearnedPositionalEmbedding: weight [maxLen, dim] is the one parameter; forward adds rows offset..offset+seq-1', () => {
  const m = new LearnedPositionalEmbedding(10, 4, { generator: new Generator(3) });
  assert.deepEqual([...m.weight.shape], [10, 4]);
  assert.deepEqual(m.namedParameters().map(([n]) => n), ['weight']);
  assert.equal(m.numParameters(), 40);
  const x = randn([2, 3, 4], 4);
  const y = m.forward(x, 5);
  for (let b = 0; b < 2; b++) {
    for (let i = 0; i < 12; i++) assert.equal(y.data[b * 12 + i], Math.fround(x.data[b * 12 + i] + m.weight.data[5 * 4 + i]));
  }
});

test('LearnedPositionalEmbedding: initialised N(0, 0.02²) by default, std configurable', () => {
  const std = (t: Tensor): number => Math.sqrt(t.data.reduce((s, v) => s + v * v, 0) / t.size);
  // 4096 samples: the sample std is within ~1.1% (1/sqrt(2n)) of the true one; 10% is far outside chance.
  assert.ok(Math.abs(std(new LearnedPositionalEmbedding(64, 64, { generator: new Generator(1) }).weight) / 0.02 - 1) < 0.1);
  assert.ok(Math.abs(std(new LearnedPositionalEmbedding(64, 64, { generator: new Generator(1), std: 1 }).weight) - 1) < 0.1);
});

test('LearnedPositionalEmbedding: gradcheck for x and weight; rows outside the window get zero gradient', () => {
  const m = new LearnedPositionalEmbedding(7, 3, { generator: new Generator(5), std: 1 });
  const x = param([2, 4, 3], 6);
  gradcheck((xx) => m.forward(xx, 2), [x, m.weight]);
  m.weight.zeroGrad();
  m.forward(x, 2).sum().backward();
  const g = m.weight.grad!.data;
  for (let r = 0; r < 7; r++) {
    for (let c = 0; c < 3; c++) assert.equal(g[r * 3 + c], r >= 2 && r < 6 ? 2 : 0, `grad weight[${r}, ${c}] (batch 2 sums)`);
  }
});

test('LearnedPositionalEmbedding: errors name the sizes', () => {
  const m = new LearnedPositionalEmbedding(6, 4);
  assert.throws(() => m.forward(Tensor.zeros([1, 4, 4]), 3), /LearnedPositionalEmbedding\(6, 4\): positions 3\.\.6 \(offset 3 \+ seq 4 = 7\) exceed maxLen 6/);
  assert.throws(() => m.forward(Tensor.zeros([1, 7, 4])), /offset 0 \+ seq 7 = 7\) exceed maxLen 6/);
  assert.throws(() => m.forward(Tensor.zeros([1, 2, 5])), /input \[1,2,5\] must be \[\.\.\., seq, 4\]/);
  assert.throws(() => m.forward(Tensor.zeros([1, 2, 4]), -1), /offset must be a non-negative integer, got -1/);
  assert.throws(() => new LearnedPositionalEmbedding(0, 4), /maxLen must be a positive integer, got 0/);
  assert.doesNotThrow(() => m.forward(Tensor.zeros([1, 2, 4]), 4), 'positions 4..5 fit in maxLen 6');
});

// ------------------------------------------------------------------------------------------ RoPE

test('ropeFrequencies: [seqLen, headDim/2] tables of cos/sin(p·base^(-2i/d)); offset selects rows', () => {
  const { cos, sin } = ropeFrequencies(9, 8, { base: 100 });
  assert.deepEqual([...cos.shape], [9, 4]);
  assert.deepEqual([...sin.shape], [9, 4]);
  for (const p of [0, 3, 8]) {
    for (let i = 0; i < 4; i++) {
      const angle = p / Math.pow(100, (2 * i) / 8);
      assert.equal(cos.data[p * 4 + i], Math.fround(Math.cos(angle)));
      assert.equal(sin.data[p * 4 + i], Math.fround(Math.sin(angle)));
    }
  }
  const tail = ropeFrequencies(3, 8, { base: 100, offset: 6 });
  assert.deepEqual([...tail.cos.data], [...cos.data.subarray(6 * 4)]);
  assert.deepEqual([...tail.sin.data], [...sin.data.subarray(6 * 4)]);
});

test("ropeFrequencies: 'float32' precision (Hugging Face's roundings) agrees with 'float64' at short positions", () => {
  // At positions < 64 the float32 angle's error is below ulp(64)/2 = 3.8e-6.
  const a = ropeFrequencies(64, 16);
  const b = ropeFrequencies(64, 16, { precision: 'float32' });
  assertClose(b.cos, a.cos, { rtol: 0, atol: 4e-6 });
  assertClose(b.sin, a.sin, { rtol: 0, atol: 4e-6 });
});

for (const interleaved of [false, true]) {
  const conv = interleaved ? 'interleaved' : 'rotate-half';

  test(`applyRope (${conv}): position 0 is the identity and norms are preserved`, () => {
    const { cos, sin } = ropeFrequencies(40, 8);
    const x = randn([2, 3, 40, 8], 11);
    const y = applyRope(x, cos, sin, { interleaved });
    assert.deepEqual([...y.shape], [2, 3, 40, 8]);
    for (let row = 0; row < 2 * 3 * 40; row++) {
      const pos = row % 40;
      const nx = Math.sqrt(dotRows(x, row, x, row));
      const ny = Math.sqrt(dotRows(y, row, y, row));
      // Each coordinate is rounded once or twice in float32 (~1e-7 relative): norms agree to ~1e-7.
      assert.ok(Math.abs(ny - nx) <= 1e-6 * nx, `row ${row} (position ${pos}): |y| ${ny} vs |x| ${nx}`);
      if (pos === 0) assert.deepEqual([...y.data.subarray(row * 8, row * 8 + 8)], [...x.data.subarray(row * 8, row * 8 + 8)]);
    }
  });

  test(`applyRope (${conv}): q_m·k_n depends only on m - n`, () => {
    const headDim = 16;
    const { cos, sin } = ropeFrequencies(2048, headDim);
    const q = randn([1, 1, 1, headDim], 21);
    const k = randn([1, 1, 1, headDim], 22);
    const score = (m: number, n: number): number =>
      dotRows(applyRope(q, cos, sin, { offset: m, interleaved }), 0, applyRope(k, cos, sin, { offset: n, interleaved }), 0);
    for (const [m, n] of [[5, 2], [2, 5], [0, 0], [17, 9], [3, 0]]) {
      const s0 = score(m, n);
      for (const shift of [1, 10, 100, 1000, 2047 - Math.max(m, n)]) {
        // Float64 angles: cos/sin are within half a float32 ulp (6e-8) at every position, so each rotated
        // coordinate is within ~2e-7·|x| of exact and the 16-term dot (terms ~1) within ~1e-5 at worst
        // (measured 5.5e-7). With 'float32' angles (Hugging Face's) the same check measures 5.5e-5 at
        // shifts ~2000: the angle's own rounding, which is why 'float64' is the default.
        const s1 = score(m + shift, n + shift);
        assert.ok(Math.abs(s1 - s0) <= 1e-5, `q_${m}·k_${n} = ${s0} but shifted by ${shift}: ${s1}`);
      }
    }
    // ...and does depend on m - n.
    assert.ok(Math.abs(score(5, 2) - score(5, 3)) > 1e-2);
    assert.ok(Math.abs(score(5, 2) - score(2, 5)) > 1e-2, 'the score is not symmetric in m - n');
  });

  test(`applyRope (${conv}): KV-cache decoding: one position at its offset equals that row of the full sequence`, () => {
    const { cos, sin } = ropeFrequencies(12, 8);
    const x = randn([2, 2, 12, 8], 31);
    const full = applyRope(x, cos, sin, { interleaved });
    for (const t of [0, 5, 11]) {
      const step = new Tensor(new Float32Array(2 * 2 * 8), [2, 2, 1, 8]);
      const want = new Float32Array(2 * 2 * 8);
      for (let bh = 0; bh < 4; bh++) {
        step.data.set(x.data.subarray((bh * 12 + t) * 8, (bh * 12 + t + 1) * 8), bh * 8);
        want.set(full.data.subarray((bh * 12 + t) * 8, (bh * 12 + t + 1) * 8), bh * 8);
      }
      assert.deepEqual([...applyRope(step, cos, sin, { offset: t, interleaved }).data], [...want], `position ${t}, whole-context tables`);
      const one = ropeFrequencies(1, 8, { offset: t });
      assert.deepEqual([...applyRope(step, one.cos, one.sin, { interleaved }).data], [...want], `position ${t}, tables made at the offset`);
    }
  });

  test(`applyRope (${conv}): gradcheck, full and partial rotary, at an offset`, () => {
    const { cos, sin } = ropeFrequencies(9, 6);
    gradcheck((x) => applyRope(x, cos, sin, { interleaved, offset: 4 }), [param([2, 2, 5, 6], 41)]);
    gradcheck((x) => applyRope(x, cos, sin, { interleaved, offset: 1 }), [param([1, 2, 5, 10], 42)]); // rotates 6 of 10
    // Gradients also reach cos and sin when they require grad (the op is bilinear in x and the tables).
    gradcheck((x, c, s) => applyRope(x, c, s, { interleaved }), [param([2, 1, 3, 4], 43), param([3, 2], 44), param([3, 2], 45)]);
  });
}

test('applyRope: interleaved pairing = rotate-half on coordinates reordered evens-then-odds', () => {
  // The relation Hugging Face's Llama conversion relies on: permuting q/k's coordinates (or the rows of
  // Wq, Wk) turns one convention into the other. Same products and sums, so exactly equal.
  const d = 8;
  const { cos, sin } = ropeFrequencies(6, d);
  const x = randn([1, 2, 6, d], 51);
  const order = [0, 2, 4, 6, 1, 3, 5, 7]; // position in the halves layout -> interleaved coordinate
  const toHalves = (t: Tensor): Tensor => {
    const out = new Float32Array(t.size);
    for (let r = 0; r < t.size / d; r++) for (let j = 0; j < d; j++) out[r * d + j] = t.data[r * d + order[j]];
    return new Tensor(out, t.shape);
  };
  const inter = applyRope(x, cos, sin, { interleaved: true });
  const half = applyRope(toHalves(x), cos, sin);
  assert.deepEqual([...toHalves(inter).data], [...half.data]);
});

test('applyRope: partial rotary leaves the coordinates past rotaryDim unchanged', () => {
  const { cos, sin } = ropeFrequencies(5, 4); // rotaryDim 4 of headDim 10 (GPT-NeoX rotary_pct 0.4)
  const x = randn([2, 1, 5, 10], 61);
  for (const interleaved of [false, true]) {
    const y = applyRope(x, cos, sin, { interleaved });
    const all = ropeFrequencies(5, 10);
    const full = applyRope(x, all.cos, all.sin, { interleaved });
    for (let r = 0; r < 10; r++) {
      assert.deepEqual([...y.data.subarray(r * 10 + 4, r * 10 + 10)], [...x.data.subarray(r * 10 + 4, r * 10 + 10)]);
    }
    assert.notDeepEqual([...y.data], [...full.data]);
  }
});

test('RoPE: errors name the shapes and numbers', () => {
  const { cos, sin } = ropeFrequencies(4, 8);
  assert.throws(() => ropeFrequencies(4, 7), /ropeFrequencies: headDim must be a positive even integer \(coordinates are rotated in pairs\), got 7/);
  assert.throws(() => ropeFrequencies(4, 8, { precision: 'float16' as 'float32' }), /precision must be 'float64' or 'float32', got 'float16'/);
  assert.throws(
    () => applyRope(Tensor.zeros([1, 1, 3, 8]), cos, sin, { offset: 2 }),
    /applyRope: x \[1,1,3,8\] at offset 2 needs positions up to 5 \(offset \+ seq\) but cos\/sin \[4,4\] cover 4/,
  );
  assert.throws(() => applyRope(Tensor.zeros([1, 1, 3, 6]), cos, sin), /cos\/sin \[4,4\] rotate 8 coordinates but x \[1,1,3,6\] has headDim 6/);
  assert.throws(() => applyRope(Tensor.zeros([8]), cos, sin), /applyRope: x \[8\] must be \[\.\.\., seq, headDim\]/);
  assert.throws(() => applyRope(Tensor.zeros([1, 3, 8]), cos, Tensor.zeros([4, 3])), /cos \[4,4\] and sin \[4,3\] must both be \[positions, rotaryDim\/2\]/);
});

// ------------------------------------------------------------------------------------------ ALiBi

test('alibiSlopes: geometric from 2^(-8/n) for powers of 2; the paper\'s interleaving otherwise', () => {
  assert.deepEqual(alibiSlopes(8), [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]);
  assert.deepEqual(alibiSlopes(1), [1 / 256]);
  assert.deepEqual(alibiSlopes(2), [1 / 16, 1 / 256]);
  const s16 = alibiSlopes(16);
  for (let i = 0; i < 16; i++) assertClose([s16[i]], [2 ** (-(i + 1) / 2)], { rtol: 1e-14, atol: 0 }, `n=16 slope ${i}`);
  // 12 heads: the 8-head slopes, then the 1st, 3rd, 5th and 7th of the 16-head ones (2^-0.5, 2^-1.5, ...).
  const s12 = alibiSlopes(12);
  assert.deepEqual(s12.slice(0, 8), alibiSlopes(8));
  assertClose(s12.slice(8), [s16[0], s16[2], s16[4], s16[6]], { rtol: 0, atol: 0 });
  assert.throws(() => alibiSlopes(0), /alibiSlopes: numHeads must be a positive integer, got 0/);
  assert.throws(() => alibiSlopes(2.5), /numHeads must be a positive integer, got 2.5/);
});

test('alibiBias: [1, heads, seqQ, seqK] = -slope·|pos(i) - j|, bottom-right or top-left aligned', () => {
  const b = alibiBias(4, 3, 3);
  assert.deepEqual([...b.shape], [1, 4, 3, 3]);
  assert.equal(b.dtype, 'float32');
  // Slopes 1/4, 1/16, 1/64, 1/256: powers of 2, so every value is exact in float32.
  assert.deepEqual(b.toArray(), [alibiSlopes(4).map((m) => [[0, -m, -2 * m], [-m, 0, -m], [-2 * m, -m, 0]])]);
  // Decoding one token after 4 cached ones: the query is at position 4 (bottom-right).
  assert.deepEqual([...alibiBias(1, 1, 5).data], [-4, -3, -2, -1, 0].map((d) => d / 256));
  // Top-left: query 0 at position 0.
  assert.deepEqual([...alibiBias(1, 1, 5, { align: 'top-left' }).data], [0, -1, -2, -3, -4].map((d) => Math.fround(d / 256)));
  assert.deepEqual([...alibiBias(3, 4, 4).data], [...alibiBias(3, 4, 4, { align: 'top-left' }).data], 'seqQ = seqK: both alignments agree');
  assert.throws(() => alibiBias(4, -1, 3), /alibiBias: seqQ must be a non-negative integer, got -1/);
  assert.throws(() => alibiBias(4, 2, 3, { align: 'center' as 'top-left' }), /align must be 'bottom-right' or 'top-left', got 'center'/);
});

// ------------------------------------------------------------------------------------------ why: permutations

/**
 * One head of self-attention from plain ops: softmax(q kᵀ / sqrt(d) + bias) v with q = x Wq, k = x Wk,
 * v = x Wv; x: [n, d]. `rope` rotates q and k by their positions; `bias` [n, n] is added to the scores.
 */
function selfAttention(x: Tensor, w: { q: Tensor; k: Tensor; v: Tensor }, opts: { rope?: boolean; bias?: Tensor } = {}): Tensor {
  const d = x.shape[1];
  let q = matmul(x, w.q); // [n, d]
  let k = matmul(x, w.k);
  const v = matmul(x, w.v);
  if (opts.rope) {
    const { cos, sin } = ropeFrequencies(x.shape[0], d);
    q = applyRope(q, cos, sin);
    k = applyRope(k, cos, sin);
  }
  let scores = div(matmul(q, k, { transB: true }), Math.sqrt(d)); // [n, n]
  if (opts.bias) scores = add(scores, opts.bias);
  return matmul(softmax(scores, -1), v); // [n, d]
}

test('self-attention without positions is permutation-equivariant; sinusoidal, learned, RoPE and ALiBi break it', () => {
  const n = 7;
  const d = 8;
  const x = randn([n, d], 71);
  const w = { q: randn([d, d], 72, 1 / Math.sqrt(d)), k: randn([d, d], 73, 1 / Math.sqrt(d)), v: randn([d, d], 74, 1 / Math.sqrt(d)) };
  const perm = [3, 0, 6, 1, 5, 2, 4];
  const maxDiff = (a: Tensor, b: Tensor): number => a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i])), 0);

  // Permuting the tokens permutes the outputs the same way. Each output element is the same sum over the
  // same keys in another order; the reference kernels accumulate in float64 and round once, so the order
  // changes at most the last float32 bit of each op's result: ~1e-7 on these O(1) values. 1e-6 allows a
  // few such ulps through the chain (scores, softmax, weighted sum) and nothing more.
  const y = selfAttention(x, w);
  const yp = selfAttention(permuteRows(x, perm), w);
  const equivariance = maxDiff(yp, permuteRows(y, perm));
  assert.ok(equivariance <= 1e-6, `no positions: attn(Px) - P attn(x) = ${equivariance}`);

  // With positions, the same check fails by orders of magnitude (measured 0.66 to 3.1, and 0 above):
  // tokens are no longer interchangeable. 0.1 is far above rounding and far below what each method gives.
  const pe = sinusoidalEncoding(n, d);
  const learned = new LearnedPositionalEmbedding(n, d, { generator: new Generator(75), std: 1 });
  const alibi = new Tensor(alibiBias(8, n, n).data.slice(0, n * n), [n, n]); // head 0 of 8: slope 1/2
  const cases: [string, (z: Tensor) => Tensor][] = [
    ['sinusoidal', (z) => selfAttention(add(z, pe), w)],
    ['learned', (z) => selfAttention(learned.forward(z.reshape([1, n, d])).reshape([n, d]), w)],
    ['RoPE', (z) => selfAttention(z, w, { rope: true })],
    ['ALiBi', (z) => selfAttention(z, w, { bias: alibi })],
  ];
  for (const [name, f] of cases) {
    const diff = maxDiff(f(permuteRows(x, perm)), permuteRows(f(x), perm));
    assert.ok(diff > 0.1, `${name}: attn(Px) - P attn(x) = ${diff}, expected the positions to matter`);
  }
});
