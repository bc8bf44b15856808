/**
 * Parity with PyTorch for every op: forward outputs and input gradients against fixtures/ops.json, made by
 * fixtures/generate_ops.py (PyTorch 1.13, float32, CPU). Each case runs the qkv op on the fixture's inputs
 * (requiresGrad on every input the fixture has a gradient for), back-propagates the fixture's fixed random
 * weights w (the gradient of sum(out * w), so every output element's gradient counts), and compares the
 * output and every gradient with NumPy-allclose semantics (assertClose). Each test reports its measured max
 * absolute and max relative error (over the outputs and all gradients) as a diagnostic; the last test
 * lists the worst per op family.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor/tensor.js';
import * as ew from '../src/ops/elementwise.js';
import { matmul } from '../src/ops/matmul.js';
import * as red from '../src/ops/reduce.js';
import * as sh from '../src/ops/shape.js';
import * as nn from '../src/ops/nn.js';
import { loadFixture, toTensor, type FixtureCase } from './helpers/fixtures.js';
import { assertClose, type Tolerance } from './helpers/allclose.js';

/**
 * Tolerances, per op family. The reference backend evaluates each op in float64 and rounds the result
 * once to float32, so its values are within half an ulp (2^-24 ~ 6e-8 relative) of the exact result for
 * the fixture's float32 inputs; what is measured is essentially PyTorch's own float32 rounding.
 *
 * - compare: masks and indices, exact (tolerance 0).
 * - shape: copies, bit-exact forward; gradients are copies too, except that broadcast or repeated elements
 *   sum a handful (< 10) of terms of size ~1, whose float32 sum PyTorch rounds after each add: a few ulps
 *   of 1, so atol 1e-6.
 * - elementwise: add/sub/mul/div are correctly rounded on both sides (0 or 1 ulp after a broadcast sum);
 *   PyTorch's exp/log/tanh (SLEEF or libm, vectorised) are within ~1-2 ulp, and its silu/sigmoid and the
 *   derivatives compose 3-6 float32 operations, so a few ulps: ~1e-7..5e-7 relative. rtol 2e-6 leaves a
 *   margin of 4x or more over that; atol 1e-7 (about 1 ulp of the O(1) values here) covers values near
 *   zero whose relative error PyTorch's float32 cancellation makes large: sigmoid'(x) = y(1 - y) for large
 *   x, where 1 - y in float32 keeps only ~1e-3 relative accuracy of a ~1e-3 value (measured 3.7e-6 rel).
 * - gelu: PyTorch evaluates 0.5 x (1 + erf(x / sqrt 2)) (or 1 + tanh(...)) in float32, and for negative x
 *   the 1 + erf cancels: its absolute error is ~|x|/2 * ulp(1) (1e-7..5e-7 for |x| <= 8), however small the
 *   result (measured: gelu(-3.0884) = -0.0031079412 from PyTorch, -0.0031077322 from qkv, whose value is
 *   the correctly rounded one, 6.7e-5 relative apart; and PyTorch's tanh-gelu(-5.08) = 0 where the true
 *   value is -1.29e-7). So atol 1e-6 (2x over the worst |x|/2 * ulp(1) here), rtol 2e-6 as elementwise.
 * - matmul, reduce: PyTorch accumulates dot products and sums in float32, an error that grows with the
 *   length n of the axis: at most ~n * 2^-24 * sum|terms|, typically sqrt(n) times that (n <= 300 here, with
 *   terms of size ~1: ~1e-6 typical, 1e-5 worst case). rtol 1e-5, atol 1e-5 (relative to the O(1)-O(10)
 *   magnitudes of these outputs).
 * - softmax, norm, cross_entropy: a reduction over one axis (<= 65 long) followed by a few elementwise ops,
 *   forward and backward, each rounded in float32 by PyTorch, and gradients that subtract nearly equal
 *   terms (softmax: p * (g - sum(g * p)); layer norm: g - mean(g) - xhat * mean(g * xhat)), so it is the
 *   absolute error that stays small: rtol 1e-5, atol 1e-6 (measured: <= 5e-7 abs where values are O(1);
 *   larger absolute errors only on large values, e.g. 3e-5 on rms-norm gradients of ~100, within rtol).
 *   Any real mistake (a missing term, a wrong normalisation, a transposed or misplaced gradient) gives
 *   differences of 1e-3 or more.
 * - embedding: the forward is a copy (exact); the weight's gradient scatter-adds the rows of w of repeated
 *   ids (<= 4 terms here): a few ulps, rtol 1e-6, atol 1e-6.
 * - norm_degenerate: layer norm over an axis of size 1, where the normalised value is exactly 0 (qkv gives
 *   0: output = bias, no gradient to x or weight). PyTorch's kernel does not subtract the mean first (it
 *   scales x by rstd = eps^-1/2 = 316 and then subtracts mean * rstd; even its float64 kernel leaves 1e-14
 *   there), so in float32 it leaves noise of ~|x| * 316 * 2^-24 ~ 2e-5 * |x| in the normalised value
 *   (measured up to 1.1e-5) and ~1e-6..1e-5 in the weight's gradient: atol 1e-4, which still checks the
 *   output (= bias) and the bias gradient (= sum of w) and catches a NaN from 0/0.
 */
const TOLERANCES: Record<string, Tolerance> = {
  compare: { rtol: 0, atol: 0 },
  shape: { rtol: 1e-6, atol: 1e-6 },
  elementwise: { rtol: 2e-6, atol: 1e-7 },
  gelu: { rtol: 2e-6, atol: 1e-6 },
  matmul: { rtol: 1e-5, atol: 1e-5 },
  reduce: { rtol: 1e-5, atol: 1e-5 },
  softmax: { rtol: 1e-5, atol: 1e-6 },
  norm: { rtol: 1e-5, atol: 1e-6 },
  norm_degenerate: { rtol: 1e-5, atol: 1e-4 },
  embedding: { rtol: 1e-6, atol: 1e-6 },
  cross_entropy: { rtol: 1e-5, atol: 1e-6 },
};

type Params = Record<string, unknown>;
type Inputs = Record<string, Tensor>;
type Op = (x: Inputs, p: Params) => Tensor | Tensor[];

const num = (v: unknown): number => {
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  if (typeof v !== 'number') throw new Error(`expected a number parameter, got ${JSON.stringify(v)}`);
  return v;
};
/** The second operand: a scalar parameter if the case has one, else input b. */
const rhs = (x: Inputs, p: Params): Tensor | number => ('scalar' in p ? num(p.scalar) : x.b);
const opt = <T>(p: Params, key: string): T | undefined => (key in p ? (p[key] as T) : undefined);
/** Inputs named x0, x1, ... in order. */
const listed = (x: Inputs): Tensor[] => Object.keys(x).filter((k) => /^x\d+$/.test(k)).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))).map((k) => x[k]);

const OPS: Record<string, Op> = {
  add: (x, p) => ew.add(x.a, rhs(x, p)),
  sub: (x, p) => ew.sub(x.a, rhs(x, p)),
  mul: (x, p) => ew.mul(x.a, rhs(x, p)),
  div: (x, p) => ew.div(x.a, rhs(x, p)),
  pow: (x, p) => ew.pow(x.a, rhs(x, p)),
  maximum: (x) => ew.maximum(x.a, x.b),
  minimum: (x) => ew.minimum(x.a, x.b),
  neg: (x) => ew.neg(x.x),
  exp: (x) => ew.exp(x.x),
  log: (x) => ew.log(x.x),
  sqrt: (x) => ew.sqrt(x.x),
  rsqrt: (x) => ew.rsqrt(x.x),
  abs: (x) => ew.abs(x.x),
  tanh: (x) => ew.tanh(x.x),
  relu: (x) => ew.relu(x.x),
  gelu: (x, p) => ew.gelu(x.x, { approximate: p.approximate as 'none' | 'tanh' }),
  sigmoid: (x) => ew.sigmoid(x.x),
  silu: (x) => ew.silu(x.x),
  gt: (x, p) => ew.gt(x.a, rhs(x, p)),
  eq: (x, p) => ew.eq(x.a, rhs(x, p)),
  le: (x, p) => ew.le(x.a, rhs(x, p)),

  matmul: (x, p) => matmul(x.a, x.b, { transA: opt<boolean>(p, 'transA'), transB: opt<boolean>(p, 'transB') }),

  reshape: (x, p) => sh.reshape(x.x, p.shape as number[]),
  transpose: (x, p) => sh.transpose(x.x, num(p.axis0), num(p.axis1)),
  permute: (x, p) => sh.permute(x.x, p.perm as number[]),
  unsqueeze: (x, p) => sh.unsqueeze(x.x, num(p.axis)),
  squeeze: (x, p) => sh.squeeze(x.x, opt<number>(p, 'axis')),
  slice: (x, p) => sh.slice(x.x, num(p.axis), num(p.start), opt<number>(p, 'end')),
  concat: (x, p) => sh.concat(listed(x), num(p.axis)),
  split: (x, p) => sh.split(x.x, p.sizes as number | number[], num(p.axis)),
  stack: (x, p) => sh.stack(listed(x), num(p.axis)),
  broadcastTo: (x, p) => sh.broadcastTo(x.x, p.shape as number[]),
  where: (x, p) => sh.where(x.cond.dtype === 'bool' ? x.cond : ew.ne(x.cond, 0), 'a' in p ? num(p.a) : x.a, 'b' in p ? num(p.b) : x.b), // torch.where(cond != 0, ...) made the fixture
  maskedFill: (x, p) => sh.maskedFill(x.x, x.mask, num(p.value)),

  sum: (x, p) => red.sum(x.x, opt<number | number[]>(p, 'axes'), { keepdim: opt<boolean>(p, 'keepdim') }),
  mean: (x, p) => red.mean(x.x, opt<number | number[]>(p, 'axes'), { keepdim: opt<boolean>(p, 'keepdim') }),
  max: (x, p) => red.max(x.x, opt<number>(p, 'axis'), { keepdim: opt<boolean>(p, 'keepdim') }),
  argmax: (x, p) => red.argmax(x.x, opt<number>(p, 'axis'), { keepdim: opt<boolean>(p, 'keepdim') }),

  softmax: (x, p) => nn.softmax(x.x, num(p.axis)),
  logSoftmax: (x, p) => nn.logSoftmax(x.x, num(p.axis)),
  layerNorm: (x, p) => nn.layerNorm(x.x, x.weight ?? null, x.bias ?? null, num(p.eps)),
  rmsNorm: (x, p) => nn.rmsNorm(x.x, x.weight ?? null, num(p.eps)),
  embedding: (x) => nn.embedding(x.ids, x.weight),
  crossEntropy: (x, p) =>
    nn.crossEntropy(x.logits, x.targets, {
      reduction: p.reduction as 'mean' | 'sum' | 'none',
      ignoreIndex: num(p.ignoreIndex),
      labelSmoothing: num(p.labelSmoothing),
    }),
  dropout: (x, p) => nn.dropout(x.x, num(p.p), { training: p.training as boolean }),
};

/** Worst errors seen per family, for the summary at the end. */
const worst = new Map<string, { maxAbs: number; maxRel: number; absCase: string; relCase: string }>();

function fmtErr(v: number): string {
  return v === 0 ? '0' : v.toExponential(1);
}

/**
 * Relative errors are reported only where |expected| >= REL_FLOOR: below that (a probability of 1e-13, a
 * gradient that cancels to 1e-9) the relative error of a float32 result is noise, and only the absolute
 * error (checked by atol) means anything.
 */
const REL_FLOOR = 1e-4;

/** Max absolute error, and max relative error over elements with |expected| >= REL_FLOOR; equal values (infinities too) count 0. */
function measure(got: Tensor, want: Tensor): { maxAbs: number; maxRel: number } {
  let maxAbs = 0;
  let maxRel = 0;
  if (got.size !== want.size) return { maxAbs: Infinity, maxRel: Infinity };
  for (let i = 0; i < got.size; i++) {
    const a = got.data[i];
    const e = want.data[i];
    if (a === e) continue;
    const d = Math.abs(a - e);
    if (Number.isNaN(d)) return { maxAbs: NaN, maxRel: NaN };
    maxAbs = Math.max(maxAbs, d);
    if (Math.abs(e) >= REL_FLOOR) maxRel = Math.max(maxRel, d / Math.abs(e));
  }
  return { maxAbs, maxRel };
}

function runCase(t: TestContext, name: string, c: FixtureCase): void {
  const family = c.params.family as string;
  const tol = TOLERANCES[family];
  assert.ok(tol, `case ${name}: no tolerance for family ${family}`);
  const op = OPS[c.params.op as string];
  assert.ok(op, `case ${name}: no op ${String(c.params.op)}`);

  const weightNames = (k: string): boolean => /^w\d*$/.test(k);
  const inputs: Inputs = {};
  for (const [k, v] of Object.entries(c.inputs)) if (!weightNames(k)) inputs[k] = toTensor(v, k in c.grads);

  const result = op(inputs, c.params);
  const outs = Array.isArray(result) ? result : [result];
  const outNames = Object.keys(c.outputs);
  assert.equal(outs.length, outNames.length, `${name}: ${outs.length} outputs, expected ${outNames.length}`);

  const checks: [string, Tensor, Tensor][] = outNames.map((n, i) => [n, outs[i], toTensor(c.outputs[n])]);
  if (Object.keys(c.grads).length > 0) {
    // Gradient of sum_i sum(out_i * w_i): seed each output's backward with its weight.
    outs.forEach((o, i) => {
      const w = toTensor(c.inputs[outs.length === 1 ? 'w' : `w${i}`]);
      o.backward(w, { retainGraph: i < outs.length - 1 });
    });
    for (const [k, g] of Object.entries(c.grads)) {
      const got = inputs[k].grad ?? Tensor.zeros(inputs[k].shape);
      checks.push([`grad ${k}`, got, toTensor(g)]);
    }
  }

  // Measure everything first, so the diagnostic is there even when an assertion fails.
  let maxAbs = 0;
  let maxRel = 0;
  const parts: string[] = [];
  for (const [what, got, want] of checks) {
    const r = measure(got, want);
    maxAbs = Number.isNaN(r.maxAbs) ? NaN : Math.max(maxAbs, r.maxAbs);
    maxRel = Number.isNaN(r.maxRel) ? NaN : Math.max(maxRel, r.maxRel);
    parts.push(`${what} ${fmtErr(r.maxAbs)}/${fmtErr(r.maxRel)}`);
  }
  t.diagnostic(
    `max abs ${fmtErr(maxAbs)} max rel ${fmtErr(maxRel)} (rel where |expected| >= ${REL_FLOOR}; rtol ${tol.rtol}, atol ${tol.atol}; abs/rel: ${parts.join(', ')})`,
  );
  const w = worst.get(family) ?? { maxAbs: 0, maxRel: 0, absCase: '', relCase: '' };
  if (maxAbs >= w.maxAbs) Object.assign(w, { maxAbs, absCase: name });
  if (maxRel >= w.maxRel) Object.assign(w, { maxRel, relCase: name });
  worst.set(family, w);

  for (const [what, got, want] of checks) {
    if (family === 'compare' || what.startsWith('out')) {
      assert.equal(got.dtype, want.dtype, `${name} ${what}: dtype ${got.dtype}, expected ${want.dtype}`);
    }
    assertClose(got, want, tol, `${name} ${what}`);
  }
}

const fixture = loadFixture('ops.json');

for (const [name, c] of Object.entries(fixture.cases)) {
  test(name, (t) => runCase(t, name, c));
}

test('summary: worst error per op family', (t) => {
  for (const [family, w] of worst) {
    t.diagnostic(`${family}: max abs ${fmtErr(w.maxAbs)} (${w.absCase}), max rel ${fmtErr(w.maxRel)} (${w.relCase})`);
  }
});
