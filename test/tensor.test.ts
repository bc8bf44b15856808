import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, noGrad, isGradEnabled } from '../src/tensor/tensor.js';
import { Generator, manualSeed } from '../src/tensor/random.js';
import { mul, add } from '../src/ops/elementwise.js';
import { sum } from '../src/ops/reduce.js';

test('creation: zeros, ones, full, arange, fromArray (nested, flat, bool)', () => {
  assert.deepEqual(Tensor.zeros([2, 2]).toArray(), [[0, 0], [0, 0]]);
  assert.deepEqual(Tensor.ones([3]).toArray(), [1, 1, 1]);
  assert.deepEqual(Tensor.full([1, 2], 7).toArray(), [[7, 7]]);
  assert.deepEqual(Tensor.arange(5).toArray(), [0, 1, 2, 3, 4]);
  assert.deepEqual(Tensor.arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
  const t = Tensor.fromArray([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual([...t.shape], [2, 3]);
  assert.deepEqual(Tensor.fromArray([1, 2, 3, 4, 5, 6], [3, 2]).toArray(), [[1, 2], [3, 4], [5, 6]]);
  const m = Tensor.fromArray([[true, false]]);
  assert.equal(m.dtype, 'bool');
  assert.deepEqual(m.toArray(), [[1, 0]]);
  assert.equal(Tensor.fromArray(3.5).item(), 3.5);
});

test('creation errors name the problem', () => {
  assert.throws(() => Tensor.fromArray([[1, 2], [3]]), /ragged nested array/);
  assert.throws(() => Tensor.fromArray([1, 2, 3], [2, 2]), /3 values cannot have shape \[2,2\]/);
  assert.throws(() => Tensor.zeros([2, -1]), /invalid shape \[2,-1\]/);
  assert.throws(() => new Tensor(new Float32Array(3), [2, 2]), /data has 3 elements but shape \[2,2\] needs 4/);
  assert.throws(() => Tensor.zeros([2]).item(), /item: tensor of shape \[2\] has 2 elements, expected 1/);
  assert.throws(() => Tensor.arange(0, 1, 0), /step must not be 0/);
  assert.throws(() => Tensor.randint(3, 3, [2]), /high \(3\) must be greater than low \(3\)/);
});

test('seeded random: same seed same values, different seed different values; state round-trips', () => {
  const a = Tensor.randn([100], { generator: new Generator(42) });
  const b = Tensor.randn([100], { generator: new Generator(42) });
  const c = Tensor.randn([100], { generator: new Generator(43) });
  assert.deepEqual(a.data, b.data);
  assert.notDeepEqual(a.data, c.data);
  manualSeed(7);
  const d = Tensor.rand([10]);
  manualSeed(7);
  assert.deepEqual(Tensor.rand([10]).data, d.data);
  const g = new Generator(1);
  g.normal(); // leave a spare normal in the state
  const state = g.getState();
  const next = [g.normal(), g.uniform(), g.int(0, 100)];
  const h = new Generator(999);
  h.setState(state);
  assert.deepEqual([h.normal(), h.uniform(), h.int(0, 100)], next);
});

test('random distributions: randn mean/std, rand range, randint range and integrality', () => {
  const n = Tensor.randn([20000], { generator: new Generator(3) });
  const mean = n.data.reduce((s, x) => s + x, 0) / n.size;
  const std = Math.sqrt(n.data.reduce((s, x) => s + (x - mean) ** 2, 0) / n.size);
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(std - 1) < 0.03, `mean ${mean} std ${std}`);
  const u = Tensor.rand([5000], { low: -2, high: 3, generator: new Generator(4) });
  assert.ok(u.data.every((x) => x >= -2 && x < 3));
  const r = Tensor.randint(2, 9, [5000], { generator: new Generator(5) });
  assert.ok(r.data.every((x) => Number.isInteger(x) && x >= 2 && x < 9));
  assert.equal(new Set(r.data).size, 7);
});

test('noGrad records no graph; detach cuts the graph; zeroGrad clears', () => {
  const x = Tensor.fromArray([1, 2], undefined, true);
  const y = noGrad(() => {
    assert.equal(isGradEnabled(), false);
    return mul(x, 3);
  });
  assert.equal(isGradEnabled(), true);
  assert.equal(y.requiresGrad, false);
  assert.throws(() => sum(y).backward(), /does not require grad/);
  const z = sum(add(mul(x, 2), mul(x, 3).detach()));
  z.backward();
  assert.deepEqual(x.grad!.toArray(), [2, 2]);
  x.zeroGrad();
  assert.equal(x.grad, null);
});

test('retainGrad keeps an intermediate gradient; backward with an explicit gradient', () => {
  const x = Tensor.fromArray([1, 2, 3], undefined, true);
  const h = mul(x, x).retainGrad();
  const out = mul(h, 2);
  out.backward(Tensor.fromArray([1, 1, 1]));
  assert.deepEqual(h.grad!.toArray(), [2, 2, 2]);
  assert.deepEqual(x.grad!.toArray(), [4, 8, 12]);
  assert.throws(() => mul(x, 2).backward(Tensor.ones([2])), /gradient of shape \[2\] does not match output of shape \[3\]/);
});

test('a deep graph (10000 ops) back-propagates without overflowing the stack', () => {
  const x = Tensor.fromArray([1], undefined, true);
  let y = x;
  for (let i = 0; i < 10000; i++) y = add(y, 1);
  y.backward();
  assert.equal(x.grad!.item(), 1);
});

test('an in-place update between forward and backward is refused, naming the op', async () => {
  const { SGD } = await import('../src/optim/sgd.js');
  const w = Tensor.fromArray([1, 2], undefined, true);
  const loss = sum(mul(w, w));
  w.markModified();
  assert.throws(() => loss.backward(), /backward: input 0 of 'mul' \(\[2\]\) was modified in place after the op read it/);
  // The same through an optimizer step: its write bumps the version.
  const v = Tensor.fromArray([1, 2], undefined, true);
  const opt = new SGD([v], { lr: 0.1 });
  sum(mul(v, v)).backward();
  const stale = sum(mul(v, v));
  opt.step();
  assert.throws(() => stale.backward(), /modified in place/);
  // Views share the version of the data they share.
  const x = Tensor.fromArray([1, 2, 3, 4], undefined, true);
  const before = x.detach().version;
  x.markModified();
  assert.equal(x.detach().version, before + 1);
});

test('a freed graph lets go of its inputs; clone is differentiable; bool tensors never require grad', () => {
  const x = Tensor.fromArray([1, 2], undefined, true);
  const y = sum(mul(x, 3));
  y.backward();
  assert.equal(y.node!.parents.length, 0);
  assert.throws(() => y.backward(), /freed by an earlier backward/);
  const c = mul(x, 2).clone();
  x.zeroGrad();
  sum(c).backward();
  assert.deepEqual(x.grad!.toArray(), [2, 2]);
  const m = Tensor.fromArray([true, false]);
  assert.throws(() => (m.requiresGrad = true), /a bool tensor \[2\] cannot require grad/);
  assert.throws(() => Tensor.fromArray([true, false], undefined, true), /cannot require grad/);
  assert.equal(m.clone().dtype, 'bool');
});

test('fromArray: nested values with a shape, typed arrays, and mixed leaves', () => {
  assert.deepEqual(Tensor.fromArray([[1, 2], [3, 4]], [4]).toArray(), [1, 2, 3, 4]);
  assert.throws(() => Tensor.fromArray([[1, 2], [3, 4]], [2]), /4 values cannot have shape \[2\]/);
  assert.deepEqual([...Tensor.fromArray(new Float32Array([1, 2, 3])).shape], [3]);
  assert.deepEqual([...Tensor.fromArray(new Float32Array([1, 2, 3, 4]), [2, 2]).shape], [2, 2]);
  assert.throws(() => Tensor.fromArray([true, 5] as unknown as boolean[]), /expected a boolean at depth 1, got number/);
  assert.throws(() => Tensor.fromArray([1, [2]] as unknown as number[]), /expected a number at depth 1, got an array/);
});

test('manualSeed re-seeds the default generator in place', async () => {
  const { globalGenerator } = await import('../src/tensor/random.js');
  const g = globalGenerator();
  manualSeed(11);
  const a = g.uniform();
  manualSeed(11);
  assert.equal(globalGenerator().uniform(), a);
  assert.equal(globalGenerator(), g);
});
