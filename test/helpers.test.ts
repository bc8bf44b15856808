/** The test helpers must be able to fail: these prove they catch what they claim to. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor/tensor.js';
import { compareClose } from './helpers/allclose.js';
import { gradcheck } from './helpers/gradcheck.js';

test('allclose: NumPy semantics, NaN never equal, infinities only equal to themselves', () => {
  assert.ok(compareClose([1, 2], [1 + 1e-9, 2], { rtol: 1e-6, atol: 0 }).ok);
  assert.ok(!compareClose([1.1], [1], { rtol: 1e-6, atol: 1e-6 }).ok);
  assert.ok(!compareClose([NaN], [NaN], { rtol: 1, atol: 1 }).ok);
  assert.ok(compareClose([-Infinity, Infinity], [-Infinity, Infinity], { rtol: 1e-6, atol: 0 }).ok);
  assert.ok(!compareClose([Infinity], [-Infinity], { rtol: 1e-6, atol: 0 }).ok);
  assert.ok(!compareClose([0], [-Infinity], { rtol: 1e-6, atol: 0 }).ok);
  assert.ok(!compareClose([-Infinity], [0], { rtol: 1e-6, atol: 1e30 }).ok);
});

test('gradcheck catches a wrong gradient on a small entry next to a large one', () => {
  // y = [1e4 x0, x1, x2] with a backward that is 50% wrong on the small entries.
  const scale = Float32Array.of(1e4, 1, 1);
  const wrong = Float32Array.of(1e4, 1.5, 0.6);
  const f = (x: Tensor) =>
    Tensor.fromOp('bad', x.data.map((v, i) => v * scale[i]), x.shape, [x], (g) => [g.map((v, i) => v * wrong[i])]);
  assert.throws(() => gradcheck(f, [Tensor.fromArray([0.3, -0.2, 0.5], undefined, true)], { maxElements: 3 }), /gradcheck: input 0/);
  const right = (x: Tensor) => Tensor.fromOp('good', x.data.map((v, i) => v * scale[i]), x.shape, [x], (g) => [g.map((v, i) => v * scale[i])]);
  gradcheck(right, [Tensor.fromArray([0.3, -0.2, 0.5], undefined, true)], { maxElements: 3 });
});
