/**
 * Parity with PyTorch for the optimizers and gradient clipping, against fixtures/optim.json made by
 * fixtures/generate_optim.py (PyTorch 1.13, float32, CPU, foreach=False). Each optimizer case starts from
 * the same parameters, applies the same 5 gradient sets (some missing: that parameter is skipped), and
 * compares the parameters after every step and the final optimizer state; each test reports its measured
 * max absolute and relative error as a diagnostic.
 *
 * Tolerances. qkv computes each element's update in float64 and rounds once to float32 on store (the
 * parameter, and each state buffer, as PyTorch stores them); PyTorch rounds after every float32 operation
 * (SGD: ~4 per element per step; AdamW: ~10: decay, two moment updates, sqrt, divide, add eps, addcdiv).
 * So each step differs by a few ulps of each quantity, and 5 steps compound it:
 *
 * - SGD parameters (|p| ~ 1-3, updates ~0.1-1): a few ulps of |p| per step, < 5 * 4 * 2^-24 * 3 ~ 4e-6 at
 *   worst, typically ~1e-7: rtol 1e-5 with atol 1e-6. Momentum buffers hold values of size ~1-10 with the
 *   same per-step rounding: same tolerance.
 * - AdamW parameters: the update is lr * m / (sqrt(v) + eps), whose relative error is ~10 ulps, so its
 *   absolute error is ~lr * 1e-6 per step on top of the ulps of |p| ~ 1: rtol 1e-5, atol 1e-6 (lr <= 0.02).
 *   The moments m (~grad scale) and v (~grad^2, down to 1e-4 for the small gradients) are compared with
 *   rtol 1e-5 and atol 1e-9: v and m are each a float32 chain of multiply-adds (~2 roundings per step),
 *   so relative error stays ~1e-6, and atol 1e-9 is far below their smallest magnitudes (v >= ~1e-6).
 * - clip: PyTorch sums squares in float32 per tensor (16 values) then takes the norm of the norms; qkv
 *   sums in float64: ~1e-7 relative on the norm, hence on the coefficient and the clipped gradients:
 *   rtol 1e-6, atol 1e-7 (1e-7 is 1 ulp of the O(1) gradients and covers values near zero).
 *
 * Any real mistake (dampening on the first momentum step, coupled instead of decoupled weight decay, bias
 * correction off by one step, eps inside the square root, a skipped parameter's step counted) changes
 * results by 1e-5 or more, 10x or more above these tolerances.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor/tensor.js';
import { SGD } from '../src/optim/sgd.js';
import { AdamW } from '../src/optim/adamw.js';
import { clipGradNorm } from '../src/optim/clip.js';
import type { Optimizer, ParamGroupSpec } from '../src/optim/optimizer.js';
import { loadFixture, toTensor, type FixtureCase } from './helpers/fixtures.js';
import { assertClose, type Tolerance } from './helpers/allclose.js';

const PARAM_TOL: Tolerance = { rtol: 1e-5, atol: 1e-6 };
const MOMENT_TOL: Tolerance = { rtol: 1e-5, atol: 1e-9 };
const CLIP_TOL: Tolerance = { rtol: 1e-6, atol: 1e-7 };

const fixture = loadFixture('optim.json');

/** Worst errors over a test, reported as a diagnostic; `worstOverall` collects them for the summary. */
const worstOverall: Record<string, { maxAbs: number; maxRel: number; case: string }> = {};

class Errors {
  maxAbs = 0;
  maxRel = 0;
  constructor(readonly name: string, readonly family: string) {}
  check(actual: Tensor | ArrayLike<number>, expected: Tensor | ArrayLike<number>, tol: Tolerance, what: string): void {
    const r = assertClose(actual, expected, tol, `${this.name}: ${what}`);
    this.maxAbs = Math.max(this.maxAbs, r.maxAbs);
    this.maxRel = Math.max(this.maxRel, r.maxRel);
  }
  report(t: TestContext): void {
    t.diagnostic(`${this.name}: max abs error ${this.maxAbs.toExponential(2)}, max rel error ${this.maxRel.toExponential(2)}`);
    const w = (worstOverall[this.family] ??= { maxAbs: 0, maxRel: 0, case: '' });
    if (this.maxAbs > w.maxAbs) Object.assign(w, { maxAbs: this.maxAbs, case: this.name });
    w.maxRel = Math.max(w.maxRel, this.maxRel);
  }
}

interface OptimParams {
  optimizer: 'SGD' | 'AdamW';
  options: Record<string, unknown>;
  groups: (Record<string, unknown> & { params: string[] })[];
  steps: Record<string, number>;
}

function makeOptimizer(c: FixtureCase, params: Record<string, Tensor>): Optimizer<any> {
  const p = c.params as unknown as OptimParams;
  const groups = p.groups.map((g) => ({ ...g, params: g.params.map((n) => params[n]) })) as ParamGroupSpec<any>[];
  if (p.optimizer === 'SGD') return new SGD(groups, p.options as { lr: number });
  return new AdamW(groups, p.options);
}

const STEPS = 5;

for (const [name, c] of Object.entries(fixture.cases)) {
  if (!('optimizer' in c.params)) continue;
  const kind = (c.params as unknown as OptimParams).optimizer;
  test(`parity ${kind} ${name}: parameters after each of ${STEPS} steps, and final state`, (t) => {
    const params = { W: toTensor(c.inputs.W, true), b: toTensor(c.inputs.b, true) };
    const opt = makeOptimizer(c, params);
    const errs = new Errors(name, kind);
    for (let k = 0; k < STEPS; k++) {
      for (const [n, p] of Object.entries(params)) {
        const g = c.inputs[`g${k}.${n}`];
        p.grad = g === undefined ? null : toTensor(g);
      }
      opt.step();
      for (const [n, p] of Object.entries(params)) errs.check(p, toTensor(c.outputs[`step${k}.${n}`]), PARAM_TOL, `step ${k} ${n}`);
    }
    const sd = opt.stateDict();
    assert.equal(sd.optimizer, kind, `${name}: the state dict names its optimizer`);
    // stateDict numbers parameters over the groups in order; map them back to their names.
    const order = (c.params as unknown as OptimParams).groups.flatMap((g) => g.params);
    let compared = 0;
    for (const [key, expected] of Object.entries(c.outputs)) {
      if (!key.startsWith('state.')) continue;
      const [, n, field] = key.split('.');
      const s = sd.state[order.indexOf(n)];
      assert.ok(s && s[field] instanceof Tensor, `${name}: no state '${field}' for ${n}`);
      errs.check(s[field] as Tensor, toTensor(expected), field === 'momentumBuffer' ? PARAM_TOL : MOMENT_TOL, `state ${n}.${field}`);
      compared++;
    }
    assert.ok(compared > 0 || kind === 'SGD', `${name}: no state compared`);
    for (const [n, steps] of Object.entries((c.params as unknown as OptimParams).steps)) {
      assert.equal(sd.state[order.indexOf(n)].step, steps, `${name}: step count of ${n}`);
    }
    errs.report(t);
  });
}

for (const [name, c] of Object.entries(fixture.cases)) {
  if (!('maxNorm' in c.params)) continue;
  test(`parity clipGradNorm ${name}: total norm and clipped gradients`, (t) => {
    const params = { W: toTensor(c.inputs.W, true), b: toTensor(c.inputs.b, true) };
    for (const [n, p] of Object.entries(params)) p.grad = toTensor(c.inputs[`g.${n}`]);
    const norm = clipGradNorm(Object.values(params), c.params.maxNorm as number);
    const errs = new Errors(name, 'clip');
    errs.check([norm], toTensor(c.outputs.norm).data, CLIP_TOL, 'norm');
    for (const [n, p] of Object.entries(params)) errs.check(p.grad!, toTensor(c.outputs[`clipped.${n}`]), CLIP_TOL, `clipped grad ${n}`);
    errs.report(t);
  });
}

test('parity summary: worst errors per family', (t) => {
  for (const [family, w] of Object.entries(worstOverall)) {
    t.diagnostic(`${family}: max abs error ${w.maxAbs.toExponential(2)} (${w.case}), max rel error ${w.maxRel.toExponential(2)}`);
  }
  assert.ok(Object.keys(worstOverall).length >= 3, 'SGD, AdamW and clip cases ran');
});
