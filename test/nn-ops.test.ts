/**
 * softmax, logSoftmax, layerNorm, rmsNorm, embedding, dropout, crossEntropy: exact values on small cases
 * worked out by hand, the fused kernels against the same formula composed of primitive ops, gradients
 * by finite differences over awkward sizes (1, 3, 17, 65) and axes, masking, seeding and error messages.
 *
 * Tolerances: forward values are float32 results of float64 arithmetic rounded once, compared with the
 * float64 formula, so rtol 1e-6 (a few float32 ulps) unless noted; composed ops round at every step, so
 * comparisons with them use rtol 1e-5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, noGrad } from '../src/tensor/tensor.js';
import { Generator, manualSeed } from '../src/tensor/random.js';
import * as ops from '../src/ops/elementwise.js';
import { sum, mean, max, argmax } from '../src/ops/reduce.js';
import { reduce, sumGeneral } from '../src/backend/reference/reduce.js';
import { nn } from '../src/backend/reference/nn.js';
import { softmax, logSoftmax, layerNorm, rmsNorm, embedding, dropout, crossEntropy, type CrossEntropyOptions } from '../src/ops/nn.js';
import { gradcheck, param } from './helpers/gradcheck.js';
import { assertClose } from './helpers/allclose.js';

const EXACT = { rtol: 1e-6, atol: 1e-7 };
const COMPOSED = { rtol: 1e-5, atol: 1e-6 };
const NEG_INF = -Infinity;

/** Backward of sum(w * y) for fixed weights w, returning x's gradient. */
function gradOf(x: Tensor, f: (x: Tensor) => Tensor, w?: Tensor): Float32Array {
  x.zeroGrad();
  const y = f(x);
  y.backward(w ?? Tensor.ones([...y.shape]));
  return x.grad!.data;
}

// ---- softmax / logSoftmax ----

test('softmax: hand-computed rows, along the last axis and along axis 0', () => {
  const x = Tensor.fromArray([[1, 2, 3], [5, 5, 5]]);
  const z = Math.exp(-2) + Math.exp(-1) + 1;
  assertClose(softmax(x), [Math.exp(-2) / z, Math.exp(-1) / z, 1 / z, 1 / 3, 1 / 3, 1 / 3], EXACT);
  // axis 0: columns (1, 5), (2, 5), (3, 5)
  const col = (a: number) => [1 / (1 + Math.exp(5 - a)), 1 / (1 + Math.exp(a - 5))];
  const [c0, c1, c2] = [col(1), col(2), col(3)];
  assertClose(softmax(x, 0), [c0[0], c1[0], c2[0], c0[1], c1[1], c2[1]], EXACT);
  assertClose(softmax(x, -2), softmax(x, 0), EXACT);
});

test('softmax is stable for huge logits and exact for a 0-d tensor', () => {
  assertClose(softmax(Tensor.fromArray([1000, 1000, -1000])), [0.5, 0.5, 0], EXACT);
  assertClose(softmax(Tensor.fromArray([-1e30, 0])), [0, 1], EXACT);
  assert.equal(softmax(Tensor.fromArray(7)).item(), 1);
  assert.deepEqual([...softmax(Tensor.fromArray(7)).shape], []);
});

test('softmax rows sum to 1 along every axis of [3,17,65]', () => {
  const x = param([3, 17, 65], 4, 3);
  for (const axis of [0, 1, 2, -1]) {
    const s = sum(softmax(x, axis), axis);
    assertClose(s, new Float32Array(s.size).fill(1), { rtol: 0, atol: 1e-6 }, `axis ${axis}`);
  }
});

test('softmax and logSoftmax agree with the formula composed of primitive ops, values and gradients', () => {
  const x = param([4, 17], 5, 2);
  const composedSoftmax = (t: Tensor) => {
    const e = ops.exp(ops.sub(t, max(t, -1, { keepdim: true }).detach()));
    return ops.div(e, sum(e, -1, { keepdim: true }));
  };
  const composedLogSoftmax = (t: Tensor) => {
    const shifted = ops.sub(t, max(t, -1, { keepdim: true }).detach());
    return ops.sub(shifted, ops.log(sum(ops.exp(shifted), -1, { keepdim: true })));
  };
  const w = param([4, 17], 6).detach();
  assertClose(softmax(x), composedSoftmax(x), COMPOSED);
  assertClose(gradOf(x, softmax, w), gradOf(x, composedSoftmax, w), COMPOSED);
  assertClose(logSoftmax(x), composedLogSoftmax(x), COMPOSED);
  assertClose(gradOf(x, logSoftmax, w), gradOf(x, composedLogSoftmax, w), COMPOSED);
  assertClose(ops.exp(logSoftmax(x)), softmax(x), COMPOSED);
});

test('logSoftmax: hand-computed values', () => {
  const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
  assertClose(logSoftmax(Tensor.fromArray([1, 2, 3])), [1 - lse, 2 - lse, 3 - lse], EXACT);
  // log(0.5) without underflow even where softmax's exp would give 0 for the third entry
  assertClose(logSoftmax(Tensor.fromArray([1000, 1000, -1000])), [-Math.LN2, -Math.LN2, -2000 - Math.LN2], EXACT);
});

for (const [shape, axis] of [
  [[1], -1], [[3], 0], [[17], -1], [[65], -1], [[2, 17], 1], [[65, 3], 0], [[3, 17, 2], 1], [[3, 1, 5], -2], [[2, 3, 5], 0],
] as [number[], number][]) {
  test(`gradcheck softmax and logSoftmax ${JSON.stringify(shape)} axis ${axis}`, () => {
    gradcheck((x) => softmax(x, axis), [param(shape, 7)]);
    gradcheck((x) => logSoftmax(x, axis), [param(shape, 8)]);
  });
}

test('a fully -Infinity row gives zeros and a zero gradient (softmax), -Infinity and a zero gradient (logSoftmax)', () => {
  const rows = [[NEG_INF, NEG_INF, NEG_INF], [0, NEG_INF, 0], [1, 2, 3]];
  const x = Tensor.fromArray(rows, undefined, true);
  const w = Tensor.fromArray([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
  const y = softmax(x);
  assert.deepEqual(Array.from(y.data.slice(0, 6)), [0, 0, 0, 0.5, 0, 0.5]);
  const g = gradOf(x, softmax, w);
  assert.deepEqual(Array.from(g.slice(0, 3)), [0, 0, 0]);
  assert.ok(g.every(Number.isFinite), `softmax gradient has a non-finite value: ${g}`);

  const ly = logSoftmax(x);
  assert.deepEqual(Array.from(ly.data.slice(0, 3)), [NEG_INF, NEG_INF, NEG_INF]);
  const lg = gradOf(x, logSoftmax, w);
  assert.deepEqual(Array.from(lg.slice(0, 3)), [0, 0, 0]);
  assert.ok(lg.every(Number.isFinite), `logSoftmax gradient has a non-finite value: ${lg}`);

  // The same along axis 0 (a strided column), as a [keys, queries] score matrix would be.
  const xt = Tensor.fromArray([[NEG_INF, 0], [NEG_INF, 0]], undefined, true);
  assert.deepEqual(Array.from(softmax(xt, 0).data), [0, 0.5, 0, 0.5]);
  const gt = gradOf(xt, (t) => softmax(t, 0), Tensor.fromArray([[1, 2], [3, 5]]));
  assert.deepEqual(Array.from(gt), [0, -0.75, 0, 0.75]);
});

test('softmax of a row with NaN is NaN (not silently masked)', () => {
  const y = softmax(Tensor.fromArray([[NaN, NaN], [1, 1]]));
  assert.ok(Number.isNaN(y.data[0]) && Number.isNaN(y.data[1]));
  assert.deepEqual(Array.from(y.data.slice(2)), [0.5, 0.5]);
});

// ---- layerNorm / rmsNorm ----

test('layerNorm: hand-computed values with weight and bias, biased variance, eps inside the sqrt', () => {
  // mean 2.5, biased variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25
  const x = Tensor.fromArray([[1, 2, 3, 4]]);
  const w = Tensor.fromArray([1, 2, -1, 0.5]);
  const b = Tensor.fromArray([0, 1, 0, -1]);
  const s = Math.sqrt(1.25 + 0.25);
  const xhat = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s];
  assertClose(layerNorm(x, null, null, 0.25), xhat, EXACT);
  assertClose(layerNorm(x, w, b, 0.25), [xhat[0], 2 * xhat[1] + 1, -xhat[2], 0.5 * xhat[3] - 1], EXACT);
  // Default eps 1e-5; each row has mean 0 and biased variance 1 - eps / (var + eps).
  const y = layerNorm(param([5, 65], 9, 3).detach(), null, null);
  assertClose(mean(y, -1), new Float32Array(5), { rtol: 0, atol: 1e-6 });
  const v = mean(ops.mul(y, y), -1);
  assertClose(v, new Float32Array(5).fill(1), { rtol: 0, atol: 1e-5 });
});

test('layerNorm agrees with the formula composed of primitive ops, values and gradients', () => {
  const x = param([3, 17], 10, 2);
  const w = param([17], 11);
  const b = param([17], 12);
  const composed = (t: Tensor, wt: Tensor, bt: Tensor) => {
    const c = ops.sub(t, mean(t, -1, { keepdim: true }));
    const rstd = ops.rsqrt(ops.add(mean(ops.mul(c, c), -1, { keepdim: true }), 1e-5));
    return ops.add(ops.mul(ops.mul(c, rstd), wt), bt);
  };
  assertClose(layerNorm(x, w, b), composed(x, w, b), COMPOSED);
  const gw = param([3, 17], 13).detach();
  const grads = (f: (a: Tensor, b: Tensor, c: Tensor) => Tensor) => {
    for (const t of [x, w, b]) t.zeroGrad();
    f(x, w, b).backward(gw);
    return [x, w, b].map((t) => t.grad!.data);
  };
  const [fused, comp] = [grads((a, c, d) => layerNorm(a, c, d)), grads(composed)];
  fused.forEach((g, i) => assertClose(g, comp[i], COMPOSED, `gradient ${['x', 'weight', 'bias'][i]}`));
});

for (const shape of [[1], [3], [2, 17], [65], [3, 1, 65], [4, 1]]) {
  const d = shape[shape.length - 1];
  test(`gradcheck layerNorm and rmsNorm ${JSON.stringify(shape)}, with and without weight`, () => {
    gradcheck((x, w, b) => layerNorm(x, w, b), [param(shape, 14), param([d], 15), param([d], 16)]);
    gradcheck((x) => layerNorm(x, null, null), [param(shape, 17)]);
    gradcheck((x, b) => layerNorm(x, null, b), [param(shape, 18), param([d], 19)]);
    gradcheck((x, w) => rmsNorm(x, w), [param(shape, 20), param([d], 21)]);
    gradcheck((x) => rmsNorm(x, null), [param(shape, 22)]);
  });
}

test('rmsNorm: hand-computed values, as x * rsqrt(mean(x^2) + eps) * weight', () => {
  // mean(x^2) = (9 + 16) / 2 = 12.5
  const x = Tensor.fromArray([[3, 4], [0, 0]]);
  const r = 1 / Math.sqrt(12.5 + 0.5);
  assertClose(rmsNorm(x, Tensor.fromArray([2, -0.5]), 0.5), [3 * r * 2, 4 * r * -0.5, 0, 0], EXACT);
  assertClose(rmsNorm(Tensor.fromArray([[3, 4]]), null, 0), [3 / Math.sqrt(12.5), 4 / Math.sqrt(12.5)], EXACT);
  assertClose(rmsNorm(Tensor.fromArray([[1, 1, 1]]), null), [1 / Math.sqrt(1 + 1e-6), 1 / Math.sqrt(1 + 1e-6), 1 / Math.sqrt(1 + 1e-6)], EXACT);
});

// ---- embedding ----

test('embedding: picks rows for ids of any shape and scatter-adds the gradient into weight', () => {
  const weight = new Tensor(Float32Array.from([0, 1, 10, 11, 20, 21, 30, 31]), [4, 2], true);
  const ids = Tensor.fromArray([[3, 0, 3], [1, 1, 1]]);
  const y = embedding(ids, weight);
  assert.deepEqual([...y.shape], [2, 3, 2]);
  assert.deepEqual(y.toArray(), [[[30, 31], [0, 1], [30, 31]], [[10, 11], [10, 11], [10, 11]]]);
  y.backward(Tensor.fromArray([[[1, 2], [3, 4], [5, 6]], [[1, 1], [1, 1], [1, 10]]]));
  // row 0: once (3,4); row 1: three times (1,1)+(1,1)+(1,10); row 2: never; row 3: twice (1,2)+(5,6)
  assert.deepEqual(weight.grad!.toArray(), [[3, 4], [3, 12], [0, 0], [6, 8]]);
  assert.deepEqual(embedding(Tensor.fromArray(2), weight).toArray(), [20, 21]); // a 0-d id gives one row
});

test('gradcheck embedding (weight only; ids repeat)', () => {
  const ids = Tensor.fromArray([[4, 0, 4, 16], [3, 3, 3, 1]]);
  gradcheck((w) => embedding(ids, w), [param([17, 3], 23)]);
  gradcheck((w) => embedding(Tensor.fromArray([0]), w), [param([1, 65], 24)]);
});

test('embedding errors name the id, its position and the vocabulary', () => {
  const w = Tensor.zeros([10, 4]);
  assert.throws(() => embedding(Tensor.fromArray([1, 2, 3, 12]), w), /embedding: id 12 at position 3 is outside the vocabulary \[0, 10\)/);
  assert.throws(() => embedding(Tensor.fromArray([[0, -1]]), w), /embedding: id -1 at position 1 is outside the vocabulary \[0, 10\)/);
  assert.throws(() => embedding(Tensor.fromArray([0.5]), w), /embedding: id 0.5 at position 0 is not an integer/);
  assert.throws(() => embedding(Tensor.fromArray([NaN]), w), /embedding: id NaN at position 0 is not an integer/);
  assert.throws(() => embedding(Tensor.fromArray([0]), Tensor.zeros([10])), /embedding: weight must be \[vocab, dim\], got \[10\]/);
});

// ---- dropout ----

test('dropout is the identity in eval mode and for p = 0', () => {
  const x = param([3, 5], 25);
  assert.equal(dropout(x, 0.5, { training: false }), x);
  assert.equal(dropout(x, 0), x);
});

test('dropout drops a fraction near p, scales the rest by 1/(1-p), and the gradient is the same mask', () => {
  for (const p of [0.1, 0.5, 0.9]) {
    const n = 100_000;
    const x = Tensor.ones([n], true);
    const y = dropout(x, p, { generator: new Generator(42) });
    let dropped = 0;
    for (const v of y.data) {
      if (v === 0) dropped++;
      else assert.equal(v, Math.fround(1 / (1 - p)));
    }
    // The dropped count is binomial: std sqrt(p (1-p) / n) <= 0.0016, so 0.01 is more than 6 std.
    assert.ok(Math.abs(dropped / n - p) < 0.01, `p ${p}: dropped fraction ${dropped / n}`);
    sum(y).backward();
    assert.deepEqual(x.grad!.data, y.data); // x = 1, so y is the mask itself
  }
});

test('dropout: the same seed gives the same mask, the global generator is used by default', () => {
  const x = param([4, 17], 26).detach();
  const a = dropout(x, 0.3, { generator: new Generator(7) });
  const b = dropout(x, 0.3, { generator: new Generator(7) });
  const c = dropout(x, 0.3, { generator: new Generator(8) });
  assert.deepEqual(a.data, b.data);
  assert.notDeepEqual(a.data, c.data);
  manualSeed(123);
  const d = dropout(x, 0.3);
  manualSeed(123);
  assert.deepEqual(dropout(x, 0.3).data, d.data);
  assert.deepEqual(dropout(x, 0.3, { training: true, generator: new Generator(123) }).data, d.data);
});

test('gradcheck dropout with a fixed seed', () => {
  gradcheck((x) => dropout(x, 0.4, { generator: new Generator(3) }), [param([3, 17], 27)]);
});

test('dropout rejects p outside [0, 1]', () => {
  for (const p of [-0.1, 1.5, 1 + 1e-9]) assert.throws(() => dropout(Tensor.zeros([2]), p), /dropout: p must be in \[0, 1\], got/);
  assert.throws(() => dropout(Tensor.zeros([2]), NaN), /dropout: p must be a finite number, got NaN/);
  assert.throws(() => dropout(Tensor.zeros([2]), '0.5' as unknown as number), /dropout: p must be a finite number, got string/);
});

test('dropout with p = 1 gives zeros and a zero gradient (as PyTorch), draws no mask', () => {
  const x = param([3, 17], 28);
  const g = new Generator(5);
  const y = dropout(x, 1, { generator: g });
  assert.deepEqual([...y.shape], [3, 17]);
  assert.ok(y.data.every((v) => Object.is(Math.abs(v), 0)), 'all zeros');
  sum(y).backward();
  assert.ok(x.grad!.data.every((v) => v === 0));
  assert.equal(g.uniform(), new Generator(5).uniform(), 'the generator is not advanced');
  assert.equal(dropout(x, 1, { training: false }), x, 'eval mode: still the identity');
  // x * 0, as PyTorch: a NaN or Infinity in x is not hidden.
  assert.ok(Number.isNaN(dropout(Tensor.fromArray([Infinity]), 1).data[0]));
});

// ---- crossEntropy ----

const LSE123 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));

test('crossEntropy: hand-computed losses for each reduction', () => {
  const logits = Tensor.fromArray([[1, 2, 3], [1, 2, 3], [0, 0, 0]]);
  const targets = Tensor.fromArray([2, 0, 1]);
  const losses = [LSE123 - 3, LSE123 - 1, Math.log(3)];
  assertClose(crossEntropy(logits, targets, { reduction: 'none' }), losses, EXACT);
  assertClose(crossEntropy(logits, targets, { reduction: 'sum' }), [losses[0] + losses[1] + losses[2]], EXACT);
  assertClose(crossEntropy(logits, targets), [(losses[0] + losses[1] + losses[2]) / 3], EXACT);
  assert.deepEqual([...crossEntropy(logits, targets).shape], []);
  // Unbatched: logits [C], target [].
  assertClose(crossEntropy(Tensor.fromArray([1, 2, 3]), Tensor.fromArray(2)), [LSE123 - 3], EXACT);
});

test('crossEntropy with ignoreIndex: ignored targets add 0 and leave the mean\'s count', () => {
  const logits = Tensor.fromArray([[1, 2, 3], [1, 2, 3], [1, 2, 3]], undefined, true);
  const targets = Tensor.fromArray([2, -100, 0]);
  const l = [LSE123 - 3, 0, LSE123 - 1];
  assertClose(crossEntropy(logits, targets, { reduction: 'none' }), l, EXACT);
  assertClose(crossEntropy(logits, targets, { reduction: 'sum' }), [l[0] + l[2]], EXACT);
  assertClose(crossEntropy(logits, targets), [(l[0] + l[2]) / 2], EXACT);
  // A custom ignoreIndex that is also a valid class: ignored anyway, as PyTorch.
  assertClose(crossEntropy(logits, Tensor.fromArray([2, 0, 0]), { ignoreIndex: 0 }), [LSE123 - 3], EXACT);
  // The gradient of the ignored row is zero; the others are (softmax - onehot) / 2.
  crossEntropy(logits, targets).backward();
  const p = [1, 2, 3].map((v) => Math.exp(v - LSE123));
  assertClose(logits.grad!, [p[0] / 2, p[1] / 2, (p[2] - 1) / 2, 0, 0, 0, (p[0] - 1) / 2, p[1] / 2, p[2] / 2], EXACT);
});

test('crossEntropy with every target ignored: mean is NaN (as PyTorch), sum is 0, gradients are zero', () => {
  const logits = param([2, 3], 28);
  const targets = Tensor.fromArray([-100, -100]);
  const m = crossEntropy(logits, targets);
  assert.ok(Number.isNaN(m.item()));
  m.backward();
  assert.deepEqual(Array.from(logits.grad!.data), [0, 0, 0, 0, 0, 0]);
  assert.equal(crossEntropy(logits, targets, { reduction: 'sum' }).item(), 0);
});

test('crossEntropy label smoothing matches PyTorch 1.13 (values and gradient, with an ignored target)', () => {
  // F.cross_entropy(x, [2, -100, 0], label_smoothing=0.1) for x below, printed by torch 1.13.
  const x = Tensor.fromArray([[1, 2, 3], [0.5, -1, 2], [3, 0, -2]], undefined, true);
  const t = Tensor.fromArray([2, -100, 0]);
  const opts = { labelSmoothing: 0.1 };
  assertClose(crossEntropy(x, t, { ...opts, reduction: 'none' }), [0.5076059103012085, 0, 0.3216518759727478], EXACT);
  assertClose(crossEntropy(x, t, { ...opts, reduction: 'sum' }), [0.8292578458786011], EXACT);
  const loss = crossEntropy(x, t, opts);
  assertClose(loss, [0.41462892293930054], EXACT);
  loss.backward();
  const expected = [0.02834862284362316, 0.10569757968187332, -0.13404616713523865, 0, 0, 0, 0.006582915782928467, 0.006895039230585098, -0.013477936387062073];
  assertClose(x.grad!, expected, { rtol: 1e-5, atol: 1e-7 });
  // By hand: (1 - s) * nll + (s / C) * sum_c -log p_c
  const handRow0 = 0.9 * (LSE123 - 3) + (0.1 / 3) * (3 * LSE123 - 6);
  assertClose([crossEntropy(x, t, { ...opts, reduction: 'none' }).data[0]], [handRow0], EXACT);
});

test('crossEntropy with classes on the last axis of [2,3,4] logits and [2,3] targets', () => {
  const logits = param([2, 3, 4], 29).detach();
  const targets = Tensor.fromArray([[0, 3, 1], [2, -100, 3]]);
  const losses = crossEntropy(logits, targets, { reduction: 'none' });
  assert.deepEqual([...losses.shape], [2, 3]);
  const lsm = logSoftmax(logits);
  targets.data.forEach((c, i) => assertClose([losses.data[i]], [c < 0 ? 0 : -lsm.data[i * 4 + c]], EXACT, `row ${i}`));
});

test('crossEntropy: -Infinity logits of other classes are fine; smoothing over them gives Infinity, as PyTorch', () => {
  const logits = Tensor.fromArray([[NEG_INF, 0, 0]], undefined, true);
  assertClose(crossEntropy(logits, Tensor.fromArray([1])), [Math.LN2], EXACT);
  crossEntropy(logits, Tensor.fromArray([1])).backward();
  assert.deepEqual(Array.from(logits.grad!.data), [0, -0.5, 0.5]);
  assert.equal(crossEntropy(logits, Tensor.fromArray([1]), { labelSmoothing: 0.1 }).item(), Infinity);
});

for (const [name, opts] of [
  ['mean', {}], ['sum', { reduction: 'sum' }], ['none', { reduction: 'none' }], ['mean, label smoothing 0.2', { labelSmoothing: 0.2 }],
  ['sum, label smoothing 1', { reduction: 'sum', labelSmoothing: 1 }], ['mean, ignoreIndex 2', { ignoreIndex: 2 }],
] as [string, CrossEntropyOptions][]) {
  test(`gradcheck crossEntropy (${name}) over 1, 3, 17 and 65 classes`, () => {
    for (const [rows, classes] of [[1, 1], [3, 3], [5, 17], [2, 65]]) {
      const g = new Generator(rows * 100 + classes);
      const targets = Tensor.fromArray(Array.from({ length: rows }, () => g.int(0, classes)), [rows]);
      gradcheck((x) => crossEntropy(x, targets, opts), [param([rows, classes], 30, 2)]);
    }
    const t3 = Tensor.fromArray([[0, 2], [1, (opts as CrossEntropyOptions).ignoreIndex ?? -100]]);
    gradcheck((x) => crossEntropy(x, t3, opts), [param([2, 2, 3], 31)]);
  });
}

test('crossEntropy errors name the target, its position and the class count', () => {
  const logits = Tensor.zeros([4, 10]);
  assert.throws(
    () => crossEntropy(logits, Tensor.fromArray([1, 2, 3, 12])),
    /crossEntropy: target 12 at position 3 is not a class of logits \[4,10\]: expected an integer in \[0, 10\) or ignoreIndex -100/,
  );
  assert.throws(() => crossEntropy(logits, Tensor.fromArray([1, -1, 3, 4])), /target -1 at position 1 .*\[0, 10\)/);
  assert.throws(() => crossEntropy(logits, Tensor.fromArray([1, 2.5, 3, 4])), /target 2.5 at position 1/);
  assert.throws(
    () => crossEntropy(logits, Tensor.fromArray([1, 2, 3])),
    /crossEntropy: targets of shape \[3\] do not match logits of shape \[4,10\]: expected targets \[4\]/,
  );
  assert.throws(() => crossEntropy(Tensor.fromArray(1), Tensor.fromArray(0)), /crossEntropy: logits is a scalar/);
  assert.throws(() => crossEntropy(logits, Tensor.zeros([4]), { labelSmoothing: 1.5 }), /crossEntropy: labelSmoothing must be in \[0, 1\], got 1.5/);
  assert.throws(
    () => crossEntropy(logits, Tensor.zeros([4]), { reduction: 'avg' as 'mean' }),
    /crossEntropy: reduction must be 'mean', 'sum' or 'none', got 'avg'/,
  );
});

// ---- shape errors and graph recording ----

test('softmax, layerNorm and rmsNorm errors name the op, the argument and the shapes', () => {
  assert.throws(() => softmax(Tensor.zeros([2, 3]), 2), /softmax: axis 2 is out of range for a tensor of 2 dimensions/);
  assert.throws(() => logSoftmax(Tensor.zeros([2, 3]), -3), /logSoftmax: axis -3 is out of range/);
  assert.throws(
    () => layerNorm(Tensor.zeros([2, 3]), Tensor.zeros([4]), null),
    /layerNorm: weight has shape \[4\] but must be \[3\] to match the last axis of x \[2,3\]/,
  );
  assert.throws(() => layerNorm(Tensor.zeros([2, 3]), null, Tensor.zeros([1, 3])), /layerNorm: bias has shape \[1,3\] but must be \[3\]/);
  assert.throws(() => layerNorm(Tensor.fromArray(1), null, null), /layerNorm: x is a scalar/);
  assert.throws(() => layerNorm(Tensor.zeros([3]), null, null, -1), /layerNorm: eps must be a non-negative number, got -1/);
  assert.throws(() => rmsNorm(Tensor.zeros([2, 3]), Tensor.zeros([2])), /rmsNorm: weight has shape \[2\] but must be \[3\]/);
});

test('no graph is recorded inside noGrad or without inputs that require grad', () => {
  const x = param([2, 3], 32);
  assert.equal(noGrad(() => softmax(x)).node, null);
  assert.equal(layerNorm(x.detach(), null, null).node, null);
  assert.equal(crossEntropy(x, Tensor.fromArray([0, 1])).node?.op, 'crossEntropy');
  // rmsNorm with a weight that requires grad but an input that does not: the weight still gets a gradient.
  const w = param([3], 33);
  sum(rmsNorm(x.detach(), w)).backward();
  assert.ok(w.grad !== null);
});

// ---- 0-d tensors and empty axis lists in reductions ----

test('reductions of a 0-d tensor accept axis -1 and 0, as PyTorch (mean is not NaN)', () => {
  const s = Tensor.fromArray(5, [], true);
  for (const a of [0, -1, [0], [-1]]) {
    for (const keepdim of [false, true]) {
      for (const f of [sum, mean]) {
        const y = f(s, a, { keepdim });
        assert.deepEqual([...y.shape], []);
        assert.equal(y.item(), 5, `${f.name}(x, ${JSON.stringify(a)}, keepdim ${keepdim})`);
      }
    }
    if (typeof a === 'number') {
      assert.equal(max(s, a).item(), 5);
      assert.deepEqual([...max(s, a, { keepdim: true }).shape], []);
      assert.equal(argmax(s, a).item(), 0);
    }
  }
  s.zeroGrad();
  mean(s, 0).backward();
  assert.equal(s.grad!.item(), 1);
  for (const f of [sum, mean]) {
    assert.throws(() => f(s, 1), new RegExp(`${f.name}: axis 1 is out of range for a tensor of 0 dimensions \\(expected -1..0\\)`));
    assert.throws(() => f(s, [0, -1]), new RegExp(`${f.name}: axes \\[0,-1\\] repeat an axis`));
  }
  assert.throws(() => max(s, -2), /max: axis -2 is out of range for a tensor of 0 dimensions/);
  assert.throws(() => argmax(s, 1), /argmax: axis 1 is out of range/);
  // Softmax of a 0-d tensor along -1 or 0 is 1.
  assert.equal(softmax(s, 0).item(), 1);
  assert.equal(softmax(s, -1).item(), 1);
});

test('sum and mean over an empty list of axes reduce every axis, as PyTorch 1.13', () => {
  const x = Tensor.fromArray([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual([...sum(x, []).shape], []);
  assert.equal(sum(x, []).item(), 21);
  assert.equal(mean(x, []).item(), 3.5);
  assert.deepEqual(sum(x, [], { keepdim: true }).toArray(), [[21]]);
  assert.deepEqual(mean(x, [], { keepdim: true }).toArray(), [[3.5]]);
});

test('reduction argument errors name the op and the argument', () => {
  const x = Tensor.zeros([2, 3]);
  assert.throws(() => sum(x, NaN), /sum: axis must be a finite number, got NaN/);
  assert.throws(() => mean(x, [0, 'a' as unknown as number]), /mean: axis must be a finite number, got string/);
  assert.throws(() => sum(x, '0' as unknown as number), /sum: axes must be a number or an array of numbers, got string/);
  assert.throws(() => sum(x, 0, { keepdim: 1 as unknown as boolean }), /sum: keepdim must be a boolean, got 1/);
  assert.throws(() => max(x, 0.5), /max: axis 0.5 is out of range/);
  assert.throws(() => mean(Tensor.zeros([0, 3]), 0), /mean: reducing \[0,3\] over an empty axis/);
});

// ---- reference kernels: fast paths against the general paths ----

/** Deterministic values with signs, magnitudes from 1e-3 to 1e3 (so float64 vs float32 order matters), and -0. */
function values(n: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n }, (_, i) => (i % 29 === 0 ? -0 : g.normal() * 10 ** g.int(-3, 4)));
}

test('sum kernel: the [outer, n, inner] path for contiguous axes agrees bit for bit with the general path, sizes 1, 3, 17, 65, 127', () => {
  const sizes = [1, 3, 17, 65, 127];
  const shapes: number[][] = [[], ...sizes.map((n) => [n])];
  for (const [i, a] of sizes.entries()) {
    const b = sizes[(i + 1) % sizes.length];
    const c = sizes[(i + 3) % sizes.length];
    shapes.push([a, b], [b, a], [a, b, c], [c, 1, a, 2]);
  }
  shapes.push([0, 3], [3, 0, 2]);
  for (const [si, shape] of shapes.entries()) {
    const x = values(shape.reduce((p, d) => p * d, 1), si);
    const r = shape.length;
    // Every subset of axes (contiguous runs take the fast path, the rest the general one).
    for (let bits = 0; bits < 1 << r; bits++) {
      const axes = Array.from({ length: r }, (_, d) => d).filter((d) => bits & (1 << d));
      assert.deepEqual(reduce.sum(x, shape, axes), sumGeneral(x, shape, axes), `shape ${JSON.stringify(shape)} axes ${JSON.stringify(axes)}`);
    }
  }
});

/** The previous scatterAdd: one float64 [rows, cols] buffer, rows added in position order. */
function scatterAddNaive(dy: Float32Array, rows: number, cols: number, ids: Int32Array): Float32Array {
  const acc = new Float64Array(rows * cols);
  for (let i = 0; i < ids.length; i++) for (let c = 0; c < cols; c++) acc[ids[i] * cols + c] += dy[i * cols + c];
  return Float32Array.from(acc);
}

test('scatterAdd kernel: per-row float64 accumulation agrees bit for bit with a [vocab, dim] float64 buffer, sizes 1, 3, 17, 65, 127', () => {
  const sizes = [1, 3, 17, 65, 127];
  for (const [i, rows] of sizes.entries()) {
    for (const cols of [sizes[(i + 1) % 5], sizes[(i + 3) % 5]]) {
      for (const len of [0, 1, 3, 17, 65, 127]) {
        const g = new Generator(rows * 1000 + cols * 10 + len);
        // Few distinct ids for many positions, so rows repeat a lot (and in no particular order).
        const ids = Int32Array.from({ length: len }, () => g.int(0, Math.min(rows, 1 + (len >> 2))));
        const dy = values(len * cols, len + cols);
        assert.deepEqual(nn.scatterAdd(dy, rows, cols, ids), scatterAddNaive(dy, rows, cols, ids), `rows ${rows} cols ${cols} len ${len}`);
      }
    }
  }
  // Ids in descending order and all the same row.
  const dy = values(127 * 3, 9);
  for (const ids of [Int32Array.from({ length: 127 }, (_, i) => 126 - i), new Int32Array(127).fill(5)]) {
    assert.deepEqual(nn.scatterAdd(dy, 127, 3, ids), scatterAddNaive(dy, 127, 3, ids));
  }
});
