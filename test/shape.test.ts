/**
 * Shape ops: exact forward values (data movement is exact), finite-difference gradients for every op,
 * including sizes 1, 3 and 17 and negative axes, and the error messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor/tensor.js';
import { layout, whereGeneral } from '../src/backend/reference/layout.js';
import { add, mul, exp, gt } from '../src/ops/elementwise.js';
import { sum } from '../src/ops/reduce.js';
import {
  reshape, transpose, permute, unsqueeze, squeeze, slice, concat, split, stack, broadcastTo, where, maskedFill,
} from '../src/ops/shape.js';
import { gradcheck, param } from './helpers/gradcheck.js';

const range = (...shape: number[]): Tensor => reshape(Tensor.arange(shape.reduce((a, b) => a * b, 1)), shape);
const shapeOf = (t: Tensor): number[] => [...t.shape];

// ---- kernels: the specification other backends are tested against ----

test('layout kernels: permute, slice, unslice, concat, where', () => {
  const x = Float32Array.from([1, 2, 3, 4, 5, 6]); // [2,3]
  assert.deepEqual([...layout.permute(x, [2, 3], [1, 0])], [1, 4, 2, 5, 3, 6]);
  assert.deepEqual([...layout.slice(x, [2, 3], [1, 1], [1, 2])], [5, 6]);
  assert.deepEqual([...layout.unslice(Float32Array.from([5, 6]), [1, 2], [1, 1], [2, 3])], [0, 0, 0, 0, 5, 6]);
  assert.deepEqual([...layout.concat([x, Float32Array.from([7, 8])], [[2, 3], [2, 1]], 1)], [1, 2, 3, 7, 4, 5, 6, 8]);
  const cond = Float32Array.from([1, 0, NaN]); // NaN is nonzero: true
  assert.deepEqual([...layout.where(cond, [3], x, [2, 3], Float32Array.of(-1), [], [2, 3])], [1, -1, 3, 4, -1, 6]);
  // Empty and scalar shapes.
  assert.deepEqual([...layout.permute(Float32Array.of(7), [], [])], [7]);
  assert.deepEqual([...layout.slice(x, [2, 3], [0, 2], [2, 0])], []);
});

// ---- reshape, squeeze, unsqueeze ----

test('reshape: values, -1 inferred, data shared, graph node kept, bool kept', () => {
  const x = Tensor.arange(6);
  assert.deepEqual(reshape(x, [2, 3]).toArray(), [[0, 1, 2], [3, 4, 5]]);
  assert.deepEqual(shapeOf(reshape(x, [3, -1])), [3, 2]);
  assert.deepEqual(shapeOf(reshape(x, [-1, 1, 2])), [3, 1, 2]);
  assert.deepEqual(shapeOf(reshape(Tensor.zeros([0, 4]), [-1, 2])), [0, 2]);
  assert.equal(reshape(x, [6, 1]).data, x.data);
  const p = param([2, 3], 1);
  assert.equal(reshape(p, [3, 2]).node?.op, 'reshape');
  assert.equal(reshape(Tensor.fromArray([true, false]), [2, 1]).dtype, 'bool');
});

test('reshape errors name the shapes and element counts', () => {
  const x = Tensor.zeros([2, 3]);
  assert.throws(() => reshape(x, [4, 2]), /^ShapeError: reshape: cannot reshape \[2,3\] \(6 elements\) into \[4,2\] \(8 elements\)$/);
  assert.throws(() => reshape(x, [4, -1]), /reshape: cannot reshape \[2,3\] \(6 elements\) into \[4,-1\]/);
  assert.throws(() => reshape(Tensor.zeros([0, 3]), [0, -1]), /reshape: cannot reshape \[0,3\] \(0 elements\) into \[0,-1\]/);
  assert.throws(() => reshape(x, [-1, -1]), /reshape: only one size may be -1, got \[-1,-1\]/);
  assert.throws(() => reshape(x, [2, -3]), /reshape: invalid size -3 in \[2,-3\]/);
  assert.throws(() => reshape(x, [1.5, 4]), /reshape: invalid size 1.5/);
});

test('unsqueeze and squeeze: shapes, negative axes, PyTorch no-op on a non-1 axis', () => {
  const x = Tensor.zeros([2, 3]);
  assert.deepEqual(shapeOf(unsqueeze(x, 0)), [1, 2, 3]);
  assert.deepEqual(shapeOf(unsqueeze(x, 2)), [2, 3, 1]);
  assert.deepEqual(shapeOf(unsqueeze(x, -1)), [2, 3, 1]);
  assert.deepEqual(shapeOf(unsqueeze(x, -3)), [1, 2, 3]);
  assert.deepEqual(shapeOf(unsqueeze(Tensor.fromArray(5), 0)), [1]);
  const y = Tensor.zeros([1, 3, 1, 1]);
  assert.deepEqual(shapeOf(squeeze(y)), [3]);
  assert.deepEqual(shapeOf(squeeze(y, -1)), [1, 3, 1]);
  assert.deepEqual(shapeOf(squeeze(y, 0)), [3, 1, 1]);
  assert.deepEqual(shapeOf(squeeze(y, 1)), [1, 3, 1, 1]);
  assert.deepEqual(shapeOf(squeeze(Tensor.zeros([1, 1]))), []);
  assert.deepEqual(squeeze(reshape(Tensor.arange(3), [1, 3])).toArray(), [0, 1, 2]);
});

test('unsqueeze and squeeze axis errors', () => {
  assert.throws(() => unsqueeze(Tensor.zeros([2, 3]), 3), /unsqueeze: axis 3 is out of range for a tensor of 3 dimensions \(expected -3..2\)/);
  assert.throws(() => unsqueeze(Tensor.zeros([2, 3]), -4), /unsqueeze: axis -4 is out of range/);
  assert.throws(() => squeeze(Tensor.zeros([2, 1]), 2), /squeeze: axis 2 is out of range for a tensor of 2 dimensions/);
});

test('gradcheck reshape, unsqueeze, squeeze', () => {
  gradcheck((x) => mul(reshape(x, [17, -1]), reshape(x, [17, 3])), [param([3, 17], 1)]);
  gradcheck((x) => mul(unsqueeze(x, -1), unsqueeze(x, 0)), [param([3, 1], 2)]);
  gradcheck((x) => exp(squeeze(x)), [param([1, 17, 1], 3)]);
  gradcheck((x) => exp(squeeze(x, -3)), [param([1, 3, 1], 4)]);
});

// ---- permute, transpose ----

test('transpose and permute: values', () => {
  const m = Tensor.fromArray([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(transpose(m, 0, 1).toArray(), [[1, 4], [2, 5], [3, 6]]);
  assert.deepEqual(transpose(m, -1, -2).toArray(), [[1, 4], [2, 5], [3, 6]]);
  assert.deepEqual(transpose(m, 1, 1).toArray(), [[1, 2, 3], [4, 5, 6]]);
  const x = range(2, 3, 4); // x[i,j,k] = 12i + 4j + k
  const y = permute(x, [2, 0, -2]);
  assert.deepEqual(shapeOf(y), [4, 2, 3]);
  assert.deepEqual(y.toArray(), [0, 1, 2, 3].map((k) => [0, 1].map((i) => [0, 1, 2].map((j) => 12 * i + 4 * j + k))));
  assert.deepEqual(transpose(x, 0, -1).toArray(), [0, 1, 2, 3].map((k) => [0, 1, 2].map((j) => [0, 1].map((i) => 12 * i + 4 * j + k))));
  assert.deepEqual(permute(Tensor.fromArray(3), []).toArray(), 3);
  assert.equal(transpose(Tensor.fromArray([[true, false]]), 0, 1).dtype, 'bool');
});

test('permute and transpose errors', () => {
  const x = Tensor.zeros([2, 3, 4]);
  assert.throws(() => permute(x, [0, 0, 1]), /permute: \[0,0,1\] is not a permutation of the 3 axes of \[2,3,4\]/);
  assert.throws(() => permute(x, [0, 1]), /permute: \[0,1\] is not a permutation of the 3 axes of \[2,3,4\]/);
  assert.throws(() => permute(x, [0, 1, 3]), /permute: \[0,1,3\] is not a permutation/);
  assert.throws(() => permute(x, [0, 2, -1]), /permute: \[0,2,-1\] is not a permutation/);
  assert.throws(() => transpose(x, 0, 3), /transpose: axis 3 is out of range for a tensor of 3 dimensions/);
});

test('gradcheck permute and transpose', () => {
  gradcheck((x) => permute(x, [2, 0, 1]), [param([2, 3, 4], 1)]);
  gradcheck((x) => permute(x, [-1, 1, -3]), [param([3, 1, 17], 2)]);
  gradcheck((x) => transpose(x, -1, 0), [param([3, 1, 17], 3)]);
  // Through a nonlinearity, so the gradient arriving at transpose is not the weighting itself.
  gradcheck((x) => exp(transpose(x, 1, 2)), [param([2, 3, 4], 4)]);
});

// ---- slice ----

test('slice: Python semantics (negative indices, clamping, empty)', () => {
  const x = Tensor.arange(10);
  assert.deepEqual(slice(x, 0, 2, 5).toArray(), [2, 3, 4]);
  assert.deepEqual(slice(x, 0, 7).toArray(), [7, 8, 9]);
  assert.deepEqual(slice(x, 0, -3).toArray(), [7, 8, 9]);
  assert.deepEqual(slice(x, 0, 1, -7).toArray(), [1, 2]);
  assert.deepEqual(slice(x, 0, -100, 2).toArray(), [0, 1]);
  assert.deepEqual(slice(x, 0, 8, 100).toArray(), [8, 9]);
  assert.deepEqual(slice(x, 0, 5, 2).toArray(), []);
  assert.deepEqual(slice(x, 0, 12).toArray(), []);
  const m = range(3, 4); // m[i,j] = 4i + j
  assert.deepEqual(slice(m, -1, 1, 3).toArray(), [[1, 2], [5, 6], [9, 10]]);
  assert.deepEqual(slice(m, 0, -1).toArray(), [[8, 9, 10, 11]]);
  assert.deepEqual(shapeOf(slice(m, 1, 3, 1)), [3, 0]);
  const mask = Tensor.fromArray([[true, false], [false, true]]);
  assert.equal(slice(mask, 1, 0, 1).dtype, 'bool');
  assert.deepEqual(slice(mask, 1, 0, 1).toArray(), [[1], [0]]);
});

test('slice errors', () => {
  assert.throws(() => slice(Tensor.zeros([2, 3]), 2, 0, 1), /slice: axis 2 is out of range for a tensor of 2 dimensions/);
  assert.throws(() => slice(Tensor.zeros([2, 3]), 0, 0.5), /slice: start 0.5 must be an integer/);
  assert.throws(() => slice(Tensor.zeros([2, 3]), 0, 0, NaN), /slice: end must be a finite number, got NaN/);
  assert.throws(() => slice(Tensor.zeros([2, 3]), NaN, 0), /slice: axis must be a finite number, got NaN/);
  assert.throws(() => slice(Tensor.fromArray(3), 0, 0), /slice: a scalar \(shape \[\]\) has no axis to cut/);
});

test('gradcheck slice', () => {
  gradcheck((x) => slice(x, -1, -5), [param([3, 17], 1)]);
  gradcheck((x) => slice(x, 0, 1, 2), [param([3, 17], 2)]);
  gradcheck((x) => exp(slice(x, 1, 0, 1)), [param([3, 1, 2], 3)]);
  gradcheck((x) => slice(x, -2, 1, -1), [param([2, 17, 3], 4)]);
});

// ---- concat, stack, split ----

test('concat: values along each axis, negative axis, bool only if all bool', () => {
  const a = Tensor.fromArray([[1, 2], [3, 4]]);
  const b = Tensor.fromArray([[5, 6]]);
  const c = Tensor.fromArray([[7], [8]]);
  assert.deepEqual(concat([a, b]).toArray(), [[1, 2], [3, 4], [5, 6]]);
  assert.deepEqual(concat([a, c, a], -1).toArray(), [[1, 2, 7, 1, 2], [3, 4, 8, 3, 4]]);
  assert.deepEqual(concat([a]).toArray(), [[1, 2], [3, 4]]);
  assert.deepEqual(concat([a, Tensor.zeros([0, 2])]).toArray(), [[1, 2], [3, 4]]);
  const m = Tensor.fromArray([true, false]);
  assert.equal(concat([m, m]).dtype, 'bool');
  assert.equal(concat([m, Tensor.fromArray([1])]).dtype, 'float32');
});

test('concat errors name the offending tensor and both shapes', () => {
  const a = Tensor.zeros([2, 3]);
  assert.throws(
    () => concat([a, Tensor.zeros([5, 3]), Tensor.zeros([2, 4])], 0),
    /^ShapeError: concat: tensor 2 has shape \[2,4\] but tensor 0 has shape \[2,3\]: all sizes except along axis 0 must match$/,
  );
  assert.throws(() => concat([a, Tensor.zeros([3])], 0), /concat: tensor 1 has shape \[3\] but tensor 0 has shape \[2,3\]: ranks differ/);
  assert.throws(() => concat([]), /concat: needs at least one tensor/);
  assert.throws(() => concat([Tensor.fromArray(1), Tensor.fromArray(2)]), /concat: tensor 0 has shape \[\]/);
  assert.throws(() => concat([a, a], 2), /concat: axis 2 is out of range for a tensor of 2 dimensions/);
});

test('stack: new axis at the front, middle and end', () => {
  const a = Tensor.fromArray([1, 2, 3]);
  const b = Tensor.fromArray([4, 5, 6]);
  assert.deepEqual(stack([a, b]).toArray(), [[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(stack([a, b], 1).toArray(), [[1, 4], [2, 5], [3, 6]]);
  assert.deepEqual(stack([a, b], -1).toArray(), [[1, 4], [2, 5], [3, 6]]);
  assert.deepEqual(shapeOf(stack([range(2, 3), range(2, 3), range(2, 3)], -2)), [2, 3, 3]);
  assert.deepEqual(stack([Tensor.fromArray(1), Tensor.fromArray(2)]).toArray(), [1, 2]);
});

test('stack errors', () => {
  assert.throws(
    () => stack([Tensor.zeros([2, 3]), Tensor.zeros([2, 3]), Tensor.zeros([3, 2])]),
    /stack: tensor 2 has shape \[3,2\] but tensor 0 has shape \[2,3\]: all must be equal/,
  );
  assert.throws(() => stack([Tensor.zeros([2]), Tensor.zeros([2, 1])]), /stack: tensor 1 has shape \[2,1\] but tensor 0 has shape \[2\]/);
  assert.throws(() => stack([]), /stack: needs at least one tensor/);
  assert.throws(() => stack([Tensor.zeros([2])], 2), /stack: axis 2 is out of range for a tensor of 2 dimensions/);
});

test('split: chunk size (last piece smaller) and explicit sizes', () => {
  const x = Tensor.arange(5);
  assert.deepEqual(split(x, 2).map((t) => t.toArray()), [[0, 1], [2, 3], [4]]);
  assert.deepEqual(split(x, 5).map((t) => t.toArray()), [[0, 1, 2, 3, 4]]);
  assert.deepEqual(split(x, 9).map((t) => t.toArray()), [[0, 1, 2, 3, 4]]);
  assert.deepEqual(split(x, [1, 0, 4]).map((t) => t.toArray()), [[0], [], [1, 2, 3, 4]]);
  assert.deepEqual(split(Tensor.zeros([0]), 2).map(shapeOf), [[0]]);
  const m = range(2, 3); // [[0,1,2],[3,4,5]]
  assert.deepEqual(split(m, [2, 1], -1).map((t) => t.toArray()), [[[0, 1], [3, 4]], [[2], [5]]]);
  assert.deepEqual(split(m, 1).map((t) => t.toArray()), [[[0, 1, 2]], [[3, 4, 5]]]);
});

test('split errors', () => {
  const x = Tensor.zeros([2, 5]);
  assert.throws(() => split(x, [2, 2], 1), /^ShapeError: split: sizes \[2,2\] sum to 4 but axis 1 of \[2,5\] has size 5$/);
  assert.throws(() => split(x, [3, -1], -1), /split: sizes \[3,-1\] must be non-negative integers/);
  assert.throws(() => split(x, 0), /split: chunk size 0 must be a positive integer/);
  assert.throws(() => split(x, 1.5), /split: chunk size 1.5 must be a positive integer/);
  assert.throws(() => split(x, 1, -3), /split: axis -3 is out of range for a tensor of 2 dimensions/);
  assert.throws(() => split(Tensor.fromArray(3), 1), /split: a scalar \(shape \[\]\) has no axis to cut/);
});

test('gradcheck concat, stack, split', () => {
  gradcheck((a, b, c) => concat([a, b, c], -1), [param([3, 1], 1), param([3, 3], 2), param([3, 17], 3)]);
  gradcheck((a, b) => concat([a, b, a], 0), [param([1, 3], 4), param([17, 3], 5)]);
  gradcheck((a, b) => stack([a, b, a], -1), [param([3, 17], 6), param([3, 17], 7)]);
  gradcheck((a, b) => stack([a, b], 0), [param([1], 8), param([1], 9)]);
  // Pieces reordered and reused, so the gradients of several pieces must add up in x.
  gradcheck((x) => {
    const [p, q, r] = split(x, [1, 3, 13], -1);
    return concat([r, mul(p, 2), q, exp(p)], -1);
  }, [param([3, 17], 10)]);
  gradcheck((x) => {
    const pieces = split(x, 3, 0);
    return concat([pieces[5], pieces[0]], 0);
  }, [param([17, 1], 11)]);
});

test('split: gradient reaches only the pieces that were used', () => {
  const x = Tensor.fromArray([1, 2, 3, 4, 5], undefined, true);
  const [, b] = split(x, 2);
  sum(mul(b, 3)).backward();
  assert.deepEqual(x.grad!.toArray(), [0, 0, 3, 3, 0]);
});

// ---- broadcastTo ----

test('broadcastTo: values and shapes', () => {
  assert.deepEqual(broadcastTo(Tensor.fromArray([1, 2, 3]), [2, 3]).toArray(), [[1, 2, 3], [1, 2, 3]]);
  assert.deepEqual(broadcastTo(Tensor.fromArray([[1], [2]]), [2, 3]).toArray(), [[1, 1, 1], [2, 2, 2]]);
  assert.deepEqual(broadcastTo(Tensor.fromArray(7), [2]).toArray(), [7, 7]);
  assert.deepEqual(broadcastTo(Tensor.fromArray([[1], [2]]), [2, 2, 1]).toArray(), [[[1], [2]], [[1], [2]]]);
  assert.deepEqual(shapeOf(broadcastTo(Tensor.zeros([1, 3]), [0, 3])), [0, 3]);
});

test('broadcastTo errors', () => {
  assert.throws(
    () => broadcastTo(Tensor.zeros([2, 3]), [4, 3]),
    /broadcastTo: cannot broadcast \[2,3\] to \[4,3\]: aligned from the right, each size must equal the target's or be 1/,
  );
  assert.throws(() => broadcastTo(Tensor.zeros([3, 1]), [3]), /broadcastTo: cannot broadcast \[3,1\] to \[3\]/);
  assert.throws(() => broadcastTo(Tensor.zeros([1]), [-1]), /broadcastTo: invalid shape \[-1\]/);
});

test('gradcheck broadcastTo', () => {
  gradcheck((x) => broadcastTo(x, [17, 2, 3]), [param([1, 3], 1)]);
  gradcheck((x) => broadcastTo(x, [3, 17]), [param([3, 1], 2)]);
  gradcheck((x) => broadcastTo(x, [3, 1]), [param([1], 3)]);
});

// ---- where, maskedFill ----

test('where: tensors and numbers, broadcasting all three', () => {
  const cond = Tensor.fromArray([true, false, true]);
  const a = Tensor.fromArray([[1, 2, 3], [4, 5, 6]]);
  const b = Tensor.fromArray([[10], [20]]);
  assert.deepEqual(where(cond, a, b).toArray(), [[1, 10, 3], [4, 20, 6]]);
  assert.deepEqual(where(cond, a, -1).toArray(), [[1, -1, 3], [4, -1, 6]]);
  assert.deepEqual(where(cond, 0, b).toArray(), [[0, 10, 0], [0, 20, 0]]);
  assert.deepEqual(where(cond, 1, 2).toArray(), [1, 2, 1]);
  // A float cond must be made bool first, as in PyTorch: .toBool() reads nonzero as true.
  assert.deepEqual(where(Tensor.fromArray([[0], [0.5]]).toBool(), a, 0).toArray(), [[0, 0, 0], [4, 5, 6]]);
  assert.deepEqual(where(gt(Tensor.fromArray([[-1], [0.5]]), 0), a, 0).toArray(), [[0, 0, 0], [4, 5, 6]]);
  assert.equal(where(cond, cond, Tensor.fromArray([false])).dtype, 'bool');
  assert.equal(where(cond, cond, 0).dtype, 'float32');
});

test('where: gradient to a where cond is true, to b where false, summed to their shapes', () => {
  const cond = Tensor.fromArray([[true, false, true], [false, false, true]]);
  const a = Tensor.fromArray([1, 2, 3], undefined, true);
  const b = Tensor.fromArray([[1], [2]], undefined, true);
  sum(where(cond, a, b)).backward();
  assert.deepEqual(a.grad!.toArray(), [1, 0, 2]);
  assert.deepEqual(b.grad!.toArray(), [[1], [2]]);
});

test('where errors name cond, a and b', () => {
  assert.throws(
    () => where(Tensor.zeros([2, 3]).toBool(), Tensor.zeros([4]), 0),
    /where: cond \[2,3\], a \[4\] and b \[\] cannot be broadcast together/,
  );
  assert.throws(() => where(Tensor.zeros([3]).toBool(), 1, Tensor.zeros([2, 2])), /where: cond \[3\], a \[\] and b \[2,2\] cannot be broadcast/);
  // cond must be bool, as in PyTorch; the message says how to make one.
  assert.throws(
    () => where(Tensor.fromArray([1, 0, 1]), 1, 2),
    /^ShapeError: where: cond must be a bool tensor, got float32 \[3\]: call \.toBool\(\) on it \(nonzero = true\) or build it with a comparison such as x\.gt\(0\)$/,
  );
  assert.throws(() => where('yes' as unknown as Tensor, 1, 2), /^ShapeError: where: cond must be a Tensor, got string$/);
  assert.throws(() => where(Tensor.fromArray([true]), '1' as unknown as number, 2), /where: a must be a Tensor or a number, got string/);
  assert.throws(() => where(Tensor.fromArray([true]), 1, NaN), /where: b must be a number \(not NaN\), got NaN/);
});

test('gradcheck where', () => {
  // Every third position true, so both branches get gradient along every axis.
  const pattern = new Tensor(Float32Array.from({ length: 3 * 17 }, (_, i) => (i % 3 === 0 ? 1 : 0)), [3, 1, 17], false, null, 'bool');
  gradcheck((a, b) => where(pattern, a, b), [param([3, 2, 17], 1), param([2, 1], 2)]);
  gradcheck((a) => where(pattern, a, 5), [param([17], 3)]);
  gradcheck((b) => where(pattern, -1, exp(b)), [param([1, 1, 17], 4)]);
  // A float cond, even one that requires grad, is refused rather than read as nonzero = true.
  const c = Tensor.fromArray([1, 0, 1], undefined, true);
  assert.throws(() => where(c, param([3], 5), param([3], 6)), /where: cond must be a bool tensor, got float32 \[3\]/);
  gradcheck((a, b) => where(gt(c, 0), a, b), [param([3], 5), param([3], 6)]);
  assert.equal(c.grad, null);
});

test('maskedFill: causal mask, broadcast over a batch, bool kept', () => {
  const causal = Tensor.fromArray([[false, true, true], [false, false, true], [false, false, false]]);
  const scores = range(2, 3, 3);
  const out = maskedFill(scores, causal, -Infinity);
  assert.deepEqual(out.toArray(), [
    [[0, -Infinity, -Infinity], [3, 4, -Infinity], [6, 7, 8]],
    [[9, -Infinity, -Infinity], [12, 13, -Infinity], [15, 16, 17]],
  ]);
  assert.deepEqual(maskedFill(Tensor.fromArray([1, 2]), Tensor.fromArray([true]), 0).toArray(), [0, 0]);
  const m = maskedFill(Tensor.fromArray([true, false]), Tensor.fromArray([false, true]), 1);
  assert.equal(m.dtype, 'bool');
  assert.deepEqual(m.toArray(), [1, 1]);
});

test('maskedFill: gradient zero where filled', () => {
  const x = Tensor.fromArray([[1, 2], [3, 4]], undefined, true);
  sum(mul(maskedFill(x, Tensor.fromArray([[true, false], [false, true]]), 9), 2)).backward();
  assert.deepEqual(x.grad!.toArray(), [[0, 2], [2, 0]]);
});

test('maskedFill errors name the mask and x shapes', () => {
  assert.throws(() => maskedFill(Tensor.zeros([2, 3]), Tensor.zeros([3, 3]).toBool(), 0), /^ShapeError: maskedFill: mask \[3,3\] cannot be broadcast to x's shape \[2,3\]$/);
  // Broadcastable with x but to a bigger shape: x cannot grow.
  assert.throws(() => maskedFill(Tensor.zeros([3]), Tensor.zeros([2, 3]).toBool(), 0), /maskedFill: mask \[2,3\] cannot be broadcast to x's shape \[3\]/);
  // The mask must be bool, as in PyTorch: a float 0/-Infinity tensor is an additive mask, not a bool one.
  assert.throws(
    () => maskedFill(Tensor.zeros([2, 3]), Tensor.zeros([3]), 0),
    /^ShapeError: maskedFill: mask must be a bool tensor, got float32 \[3\]: call \.toBool\(\) on it \(nonzero = true\) or build it with a comparison such as x\.gt\(0\)$/,
  );
  assert.throws(() => maskedFill(Tensor.zeros([3]), 'causal' as unknown as Tensor, 0), /^ShapeError: maskedFill: mask must be a Tensor, got string$/);
  assert.throws(() => maskedFill([1, 2] as unknown as Tensor, Tensor.fromArray([true]), 0), /maskedFill: x must be a Tensor, got an array of length 2/);
  assert.throws(() => maskedFill(Tensor.zeros([3]), Tensor.fromArray([true]), NaN), /maskedFill: value must be a number \(not NaN\), got NaN/);
  assert.throws(() => maskedFill(Tensor.zeros([3]), Tensor.fromArray([true]), Tensor.zeros([1])), /maskedFill: value must be a number or a 0-d Tensor \(shape \[\]\), got a Tensor of shape \[1\]/);
});

test('gradcheck maskedFill', () => {
  const mask = new Tensor(Float32Array.from({ length: 17 }, (_, i) => (i % 4 === 1 ? 1 : 0)), [17, 1], false, null, 'bool');
  gradcheck((x) => maskedFill(exp(x), mask, -3), [param([2, 17, 3], 1)]);
  gradcheck((x) => maskedFill(x, Tensor.fromArray([true]), 0), [param([1], 2)]);
  gradcheck((x) => add(maskedFill(x, Tensor.fromArray([false, true, false]), 1e9), 1), [param([3, 3], 3)]);
});

test('maskedFill: a 0-d Tensor value, as PyTorch; it gets the gradient of the filled positions', () => {
  const mask = Tensor.fromArray([[true, false, true], [false, false, true]]);
  const x = Tensor.fromArray([[1, 2, 3], [4, 5, 6]], undefined, true);
  const v = Tensor.fromArray(-2, [], true);
  const y = maskedFill(x, mask, v);
  assert.deepEqual(y.toArray(), [[-2, 2, -2], [4, 5, -2]]);
  sum(mul(y, Tensor.fromArray([[1, 2, 3], [4, 5, 6]]))).backward();
  assert.deepEqual(v.grad!.toArray(), 1 + 3 + 6);
  assert.deepEqual(x.grad!.toArray(), [[0, 2, 0], [4, 5, 0]]);
  // A value that does not require grad is just its item; a bool x stays bool.
  assert.deepEqual(maskedFill(Tensor.zeros([2]), Tensor.fromArray([true, false]), Tensor.fromArray(-Infinity, [])).toArray(), [-Infinity, 0]);
  assert.equal(maskedFill(Tensor.fromArray([false, false]), Tensor.fromArray([true, false]), Tensor.fromArray(3, [])).dtype, 'bool');
  gradcheck((x, v) => maskedFill(exp(x), mask, v), [param([4, 2, 3], 7), param([], 8)]);
});

test('0-d tensors: squeeze and transpose accept axis -1 and 0, as PyTorch', () => {
  const s = Tensor.fromArray(5, []);
  for (const a of [0, -1]) {
    assert.deepEqual(shapeOf(squeeze(s, a)), []);
    assert.deepEqual(shapeOf(transpose(s, a, 0)), []);
  }
  assert.throws(() => squeeze(s, 1), /squeeze: axis 1 is out of range for a tensor of 0 dimensions \(expected -1..0\)/);
  assert.throws(() => transpose(s, 0, -2), /transpose: axis -2 is out of range for a tensor of 0 dimensions/);
  assert.deepEqual(shapeOf(unsqueeze(s, -1)), [1]);
});

// ---- the reference where's fast path against its general path ----

/** Values with zeros, NaN (a true cond) and -0, deterministic. */
function pattern(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => {
    const r = (i * 7 + seed * 13) % 11;
    return r === 0 ? NaN : r < 5 ? 0 : r === 5 ? -0 : r - 7.5;
  });
}

test('where kernel: the same-shape / scalar / trailing-broadcast fast path agrees with the general path on sizes 1, 3, 17, 65, 127', () => {
  const sizes = [1, 3, 17, 65, 127];
  for (const [k, n] of sizes.entries()) {
    const m = sizes[(k + 2) % sizes.length]; // pairs (1,17), (3,65), (17,127), (65,1), (127,3)
    const out = [2, n, m];
    // Each operand shape: the same shape, a scalar, all ones, a trailing block with or without leading 1s,
    // and (general path) shapes broadcast in the middle or at the end.
    const shapes: number[][] = [out, [], [1], [1, 1, 1], [n, m], [1, n, m], [m], [1, 1, m], [2, 1, m], [1, n, 1], [2, n, 1]];
    for (const [ci, cs] of shapes.entries()) {
      for (const as of [out, [], [n, m], [1, m], [n, 1]]) {
        for (const bs of [out, [], [1, 1, m], [2, 1, 1]]) {
          const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
          const c = pattern(size(cs), ci);
          const a = Float32Array.from({ length: size(as) }, (_, i) => i + 0.5);
          const b = Float32Array.from({ length: size(bs) }, (_, i) => -i - 0.25);
          const fast = layout.where(c, cs, a, as, b, bs, out);
          const general = whereGeneral(c, cs, a, as, b, bs, out);
          assert.deepEqual(fast, general, `cond ${JSON.stringify(cs)} a ${JSON.stringify(as)} b ${JSON.stringify(bs)} out ${JSON.stringify(out)}`);
        }
      }
    }
  }
  // Empty outputs and a 0-d output.
  assert.deepEqual(layout.where(new Float32Array(0), [0, 3], Float32Array.of(1), [], Float32Array.of(2), [], [0, 3]), new Float32Array(0));
  assert.deepEqual([...layout.where(Float32Array.of(0), [], Float32Array.of(1), [], Float32Array.of(2), [], [])], [2]);
});
