/**
 * Parity with PyTorch for positional information, against fixtures/positional.json (made by
 * fixtures/generate_positional.py: PyTorch 1.13, CPU). Each case reports its max absolute and max relative
 * error per compared tensor with t.diagnostic; the last test lists the worst per kind.
 *
 * Tolerances (NumPy allclose: |got - want| <= atol + rtol·|want|), and why:
 *
 * - sinusoidal: both sides compute the table in float64 and round once to float32. Their float64 pow and
 *   sin/cos may differ in the last double bit, which changes the float32 result only when the exact value
 *   lies within ~1e-16 of a rounding boundary, by one float32 ulp: at most 2^-24 ≈ 6e-8 for |value| < 1.
 *   atol 6e-8, rtol 0: anything beyond one ulp is a real difference (a swapped sin/cos column, a wrong
 *   frequency or offset gives O(1e-2..1) errors).
 * - rope, precision 'float32' (Hugging Face's Llama/GPT-NeoX/GPT-J tables): qkv forms inv_freq, the angle and
 *   cos/sin with PyTorch's float32 roundings (Math.fround after each step), so the angles agree bit for bit
 *   when PyTorch's float32 pow and cos/sin are correctly rounded; its vectorised SLEEF versions are within
 *   1 ulp, so a table entry may differ by one ulp (6e-8). Then applyRope performs the same float32 products
 *   and sums as rotate_half (x1·c - x2·s, x2·c + x1·s, each product rounded, then the sum), so outputs and
 *   gradients differ by at most ~1 ulp of the products, ~1e-7 relative to |x| ~ 1..4 (atol 5e-7, rtol 1e-6).
 *   A 1-ulp difference in an angle at position 4093 would move cos by ~2.4e-4 and fail this tolerance: the
 *   emulation is checked, not just the formula.
 * - rope, precision 'float64' against tables computed in float64 in PyTorch (then cast): same argument,
 *   the tables agree to one rounding (atol 6e-8), outputs as above.
 * - alibi slopes: the reference's float64 Python floats, recomputed with the same arithmetic
 *   (start·ratio^i, start = 2^(-8/n)). V8's `**` is not correctly rounded (2 ** -0.5 is one ulp below
 *   CPython's), and ratio^i multiplies that ulp by i (< 64 here): up to ~64 · 2^-53 ≈ 7e-15 relative, so
 *   rtol 2e-14. Rounded to float32, the precision the bias is used in, they must be identical (tolerance 0).
 * - alibi bias: -slope·distance, float64 then rounded once on both sides: identical unless a slope's
 *   last-bits difference above straddles a float32 rounding boundary, then one float32 ulp (rtol 1.2e-7).
 * - alibi fairseq: the paper's code adds slope·j (float32) with a causal -inf mask; qkv adds -slope·(i - j).
 *   They differ by slope·i, constant along each row, which the softmax cancels; but PyTorch rounds
 *   scores + m·j (up to ~8 here) in float32, an error up to ulp(8)/2 = 4.8e-7 in each logit, so the
 *   probabilities agree to ~5e-7 relative (atol 1e-6, rtol 2e-6). The bias difference itself is checked to
 *   be constant along rows to within the float32 rounding of m·j and m·(i - j) (atol 2e-6).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor/tensor.js';
import { add } from '../src/ops/elementwise.js';
import { softmax } from '../src/ops/nn.js';
import { sinusoidalEncoding } from '../src/positional/sinusoidal.js';
import { applyRope, ropeFrequencies } from '../src/positional/rope.js';
import { alibiBias, alibiSlopes } from '../src/positional/alibi.js';
import { loadFixture, toTensor, type FixtureCase } from './helpers/fixtures.js';
import { assertClose, type Tolerance } from './helpers/allclose.js';

const TOL = {
  sinusoidal: { rtol: 0, atol: 6e-8 },
  ropeTables: { rtol: 0, atol: 6e-8 },
  rope: { rtol: 1e-6, atol: 5e-7 },
  slopes: { rtol: 2e-14, atol: 0 },
  slopesF32: { rtol: 0, atol: 0 },
  alibiBias: { rtol: 1.2e-7, atol: 0 },
  alibiProbs: { rtol: 2e-6, atol: 1e-6 },
  alibiRowShift: { rtol: 0, atol: 2e-6 },
} satisfies Record<string, Tolerance>;

const fixture = loadFixture('positional.json');
const worst = new Map<string, { maxAbs: number; maxRel: number; where: string }>();

/** Max absolute error, and max relative error over elements with |want| >= 1e-4 (below that only atol means anything). */
function measure(got: ArrayLike<number>, want: ArrayLike<number>): { maxAbs: number; maxRel: number } {
  let maxAbs = 0;
  let maxRel = 0;
  for (let i = 0; i < want.length; i++) {
    if (got[i] === want[i]) continue;
    const d = Math.abs(got[i] - want[i]);
    maxAbs = Math.max(maxAbs, d);
    if (Math.abs(want[i]) >= 1e-4) maxRel = Math.max(maxRel, d / Math.abs(want[i]));
  }
  return { maxAbs, maxRel };
}

const e = (v: number): string => (v === 0 ? '0' : v.toExponential(2));

/** Compares, reports max abs/rel as a diagnostic and in the per-kind summary, then asserts. */
function check(t: TestContext, kind: string, caseName: string, what: string, got: Tensor | ArrayLike<number>, want: Tensor | ArrayLike<number>, tol: Tolerance): void {
  const g = got instanceof Tensor ? got.data : got;
  const w = want instanceof Tensor ? want.data : want;
  if (got instanceof Tensor && want instanceof Tensor) {
    assert.deepEqual([...got.shape], [...want.shape], `${caseName} ${what}: shape ${JSON.stringify(got.shape)}, expected ${JSON.stringify(want.shape)}`);
  }
  const m = measure(g, w);
  t.diagnostic(`${what}: max abs ${e(m.maxAbs)}, max rel ${e(m.maxRel)} (rtol ${tol.rtol}, atol ${tol.atol})`);
  const prev = worst.get(kind);
  if (prev === undefined) worst.set(kind, { ...m, where: `${caseName} ${what}` });
  else if (m.maxAbs > prev.maxAbs || m.maxRel > prev.maxRel) {
    worst.set(kind, { maxAbs: Math.max(prev.maxAbs, m.maxAbs), maxRel: Math.max(prev.maxRel, m.maxRel), where: `${caseName} ${what}` });
  }
  assertClose(g, w, tol, `${caseName} ${what}`);
}

const p = <T>(c: FixtureCase, key: string): T => c.params[key] as T;

function sinusoidalCase(t: TestContext, name: string, c: FixtureCase): void {
  const pe = sinusoidalEncoding(p(c, 'seqLen'), p(c, 'dim'), { base: p(c, 'base'), offset: p(c, 'offset') });
  check(t, 'sinusoidal', name, 'table', pe, toTensor(c.outputs.pe), TOL.sinusoidal);
}

function ropeCase(t: TestContext, name: string, c: FixtureCase): void {
  const offset = p<number>(c, 'offset');
  const q = toTensor(c.inputs.q, true);
  const k = toTensor(c.inputs.k, true);
  const seq = q.shape[2];
  // Tables for the whole context 0..offset+seq-1, applied at the offset: the KV-cache way of using them.
  const { cos, sin } = ropeFrequencies(offset + seq, p(c, 'rotaryDim'), { base: p(c, 'base'), precision: p(c, 'precision') });
  const want = { cos: toTensor(c.outputs.cos), sin: toTensor(c.outputs.sin) };
  // The fixture's tables hold rows offset..offset+seq-1.
  const rows = (x: Tensor): Tensor => new Tensor(x.data.slice(offset * x.shape[1]), [seq, x.shape[1]]);
  check(t, 'rope tables', name, 'cos', rows(cos), want.cos, TOL.ropeTables);
  check(t, 'rope tables', name, 'sin', rows(sin), want.sin, TOL.ropeTables);
  if (p(c, 'precision') === 'float32') {
    // For information, not a check: how far qkv's default (float64 angles) is from Hugging Face's float32
    // angles here; it grows with the position (half an ulp of the angle: ~1e-4 at position 4096).
    const exact = ropeFrequencies(offset + seq, p(c, 'rotaryDim'), { base: p(c, 'base') });
    const d = measure(rows(exact.cos).data, want.cos.data);
    t.diagnostic(`(info) default precision 'float64' vs these float32 tables, cos: max abs ${e(d.maxAbs)}`);
  }
  const opts = { offset, interleaved: p<boolean>(c, 'interleaved') };
  const qe = applyRope(q, cos, sin, opts);
  const ke = applyRope(k, cos, sin, opts);
  check(t, 'rope', name, 'q_embed', qe, toTensor(c.outputs.q_embed), TOL.rope);
  check(t, 'rope', name, 'k_embed', ke, toTensor(c.outputs.k_embed), TOL.rope);
  qe.backward(toTensor(c.inputs.w_q));
  ke.backward(toTensor(c.inputs.w_k));
  check(t, 'rope', name, 'grad q', q.grad!, toTensor(c.grads.q), TOL.rope);
  check(t, 'rope', name, 'grad k', k.grad!, toTensor(c.grads.k), TOL.rope);
}

function slopesCase(t: TestContext, name: string, c: FixtureCase): void {
  const ns = p<number[]>(c, 'numHeads');
  const slopes = p<number[][]>(c, 'slopes');
  ns.forEach((n, i) => {
    const got = alibiSlopes(n);
    check(t, 'alibi slopes', name, `n=${n}`, got, slopes[i], TOL.slopes);
    check(t, 'alibi slopes float32', name, `n=${n} as float32`, Float32Array.from(got), Float32Array.from(slopes[i]), TOL.slopesF32);
  });
}

function biasCase(t: TestContext, name: string, c: FixtureCase): void {
  const bias = alibiBias(p(c, 'numHeads'), p(c, 'seqQ'), p(c, 'seqK'), { align: p(c, 'align') });
  check(t, 'alibi bias', name, 'bias', bias, toTensor(c.outputs.bias), TOL.alibiBias);
}

function fairseqCase(t: TestContext, name: string, c: FixtureCase): void {
  const heads = p<number>(c, 'numHeads');
  const seq = p<number>(c, 'seq');
  const scores = toTensor(c.inputs.scores); // [1, heads, seq, seq]
  const causal = new Float32Array(seq * seq);
  for (let i = 0; i < seq; i++) for (let j = i + 1; j < seq; j++) causal[i * seq + j] = -Infinity;
  const bias = alibiBias(heads, seq, seq);
  const probs = softmax(add(add(scores, bias), new Tensor(causal, [seq, seq])), -1);
  check(t, 'alibi fairseq', name, 'attention probs', probs, toTensor(c.outputs.probs), TOL.alibiProbs);

  // The paper's mask minus qkv's bias, on the allowed entries (j <= i): m·j - (-m·(i - j)) = m·i, the same
  // for every key of the row; compare each entry with the row's value at j = 0.
  const mask = toTensor(c.outputs.mask).data;
  const got: number[] = [];
  const want: number[] = [];
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < seq; i++) {
      const row = (h * seq + i) * seq;
      for (let j = 0; j <= i; j++) {
        got.push(mask[row + j] - bias.data[row + j]);
        want.push(mask[row] - bias.data[row]);
      }
    }
  }
  check(t, 'alibi fairseq', name, 'paper mask - qkv bias constant along rows', got, want, TOL.alibiRowShift);
}

const RUN: Record<string, (t: TestContext, name: string, c: FixtureCase) => void> = {
  sinusoidal: sinusoidalCase,
  rope: ropeCase,
  alibi_slopes: slopesCase,
  alibi_bias: biasCase,
  alibi_fairseq: fairseqCase,
};

for (const [name, c] of Object.entries(fixture.cases)) {
  test(`parity ${name}`, (t) => {
    const run = RUN[c.params.kind as string];
    assert.ok(run, `case ${name}: unknown kind ${String(c.params.kind)}`);
    run(t, name, c);
  });
}

test('parity summary: worst errors per kind', (t) => {
  assert.ok(worst.size > 0, 'no case ran');
  for (const [kind, w] of worst) t.diagnostic(`${kind}: max abs ${e(w.maxAbs)}, max rel ${e(w.maxRel)} (worst: ${w.where})`);
  t.diagnostic(`fixture ${fixture.generator}, torch ${fixture.torch}`);
});
