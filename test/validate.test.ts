/**
 * Argument checks at the entry of the ops (src/ops/validate.ts): a wrong argument fails at once with a
 * ShapeError naming the op, the argument and what it got, never as a TypeError from inside a kernel or as
 * a silent NaN. One table covers every op of shape.ts, reduce.ts and nn.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor/tensor.js';
import { ShapeError } from '../src/tensor/shape.js';
import {
  assertTensor, assertFiniteNumber, assertNumber, assertTensorOrNumber, assertNumberArray, assertTensorArray, assertOptionalTensor,
  assertBoolMask, axisOrScalar, describe,
} from '../src/ops/validate.js';
import * as sh from '../src/ops/shape.js';
import * as red from '../src/ops/reduce.js';
import * as nn from '../src/ops/nn.js';

/** Asserts that fn throws a ShapeError whose message is exactly `message` (a string) or matches it (a RegExp). */
function throwsShape(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ShapeError, `expected a ShapeError, got ${String(e)}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

test('assertTensor names the op, the argument and what it got', () => {
  const t = Tensor.zeros([2]);
  assertTensor('op', 'x', t); // no throw
  throwsShape(() => assertTensor('maskedFill', 'mask', 'causal'), 'maskedFill: mask must be a Tensor, got string');
  throwsShape(() => assertTensor('f', 'x', 3), 'f: x must be a Tensor, got 3');
  throwsShape(() => assertTensor('f', 'x', null), 'f: x must be a Tensor, got null');
  throwsShape(() => assertTensor('f', 'x', undefined), 'f: x must be a Tensor, got undefined');
  throwsShape(() => assertTensor('f', 'x', [1, 2]), 'f: x must be a Tensor, got an array of length 2');
  throwsShape(() => assertTensor('f', 'x', new Float32Array(2)), 'f: x must be a Tensor, got Float32Array');
  throwsShape(() => assertTensor('f', 'x', { data: [] }), 'f: x must be a Tensor, got Object');
  throwsShape(() => assertTensor('f', 'x', Object.create(null)), 'f: x must be a Tensor, got object');
  throwsShape(() => assertTensor('f', 'x', true), 'f: x must be a Tensor, got boolean');
  assertOptionalTensor('f', 'w', null);
  assertOptionalTensor('f', 'w', t);
  throwsShape(() => assertOptionalTensor('f', 'w', 1), 'f: w must be a Tensor, got 1');
  assert.equal(describe(t), 'a float32 Tensor [2]');
  assert.equal(describe(Tensor.fromArray([true])), 'a bool Tensor [1]');
});

test('assertFiniteNumber refuses NaN, infinities and non-numbers; assertNumber allows infinities', () => {
  assertFiniteNumber('f', 'p', 0.5);
  assertFiniteNumber('f', 'p', -3);
  for (const [v, got] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity'], ['1', 'string'], [null, 'null'], [undefined, 'undefined'], [1n, 'bigint']] as const) {
    throwsShape(() => assertFiniteNumber('dropout', 'p', v), `dropout: p must be a finite number, got ${got}`);
  }
  assertNumber('f', 'value', -Infinity);
  assertNumber('f', 'value', Infinity);
  throwsShape(() => assertNumber('maskedFill', 'value', NaN), 'maskedFill: value must be a number (not NaN), got NaN');
  throwsShape(() => assertNumber('maskedFill', 'value', '0'), 'maskedFill: value must be a number (not NaN), got string');
  assertTensorOrNumber('where', 'a', 1);
  assertTensorOrNumber('where', 'a', Tensor.zeros([1]));
  throwsShape(() => assertTensorOrNumber('where', 'a', [1]), 'where: a must be a Tensor or a number, got an array of length 1');
  throwsShape(() => assertTensorOrNumber('where', 'a', NaN), 'where: a must be a number (not NaN), got NaN');
});

test('array, mask and axis checks', () => {
  assertNumberArray('reshape', 'shape', [2, -1]);
  throwsShape(() => assertNumberArray('reshape', 'shape', 6), 'reshape: shape must be an array of numbers, got 6');
  throwsShape(() => assertNumberArray('reshape', 'shape', [2, NaN]), 'reshape: shape[1] must be a finite number, got NaN');
  assertTensorArray('concat', 'xs', []);
  throwsShape(() => assertTensorArray('concat', 'xs', Tensor.zeros([2])), 'concat: xs must be an array of Tensors, got a float32 Tensor [2]');
  throwsShape(() => assertTensorArray('concat', 'xs', [Tensor.zeros([2]), 'b']), 'concat: xs[1] must be a Tensor, got string');
  assertBoolMask('where', 'cond', Tensor.fromArray([true]));
  throwsShape(() => assertBoolMask('where', 'cond', Tensor.zeros([2, 2])), /^where: cond must be a bool tensor, got float32 \[2,2\]: call \.toBool\(\)/);
  assert.equal(axisOrScalar('sum', -1, 3), 2);
  assert.equal(axisOrScalar('sum', -1, 0), null);
  assert.equal(axisOrScalar('sum', 0, 0), null);
  throwsShape(() => axisOrScalar('sum', 1, 0), 'sum: axis 1 is out of range for a tensor of 0 dimensions (expected -1..0)');
  throwsShape(() => axisOrScalar('sum', 3, 3), /^sum: axis 3 is out of range for a tensor of 3 dimensions/);
  throwsShape(() => axisOrScalar('sum', NaN, 3), 'sum: axis must be a finite number, got NaN');
});

// Every op, called with a bad tensor argument or a bad number: [call, expected message start].
const x = Tensor.zeros([2, 3]);
const m = Tensor.fromArray([true, false, true]);
const S = 'str' as unknown as Tensor;
const N = NaN;
const CASES: [string, () => unknown, string][] = [
  ['reshape x', () => sh.reshape(S, [6]), 'reshape: x must be a Tensor, got string'],
  ['reshape shape', () => sh.reshape(x, 6 as unknown as number[]), 'reshape: shape must be an array of numbers, got 6'],
  ['permute x', () => sh.permute(S, [0]), 'permute: x must be a Tensor, got string'],
  ['permute perm', () => sh.permute(x, [0, N]), 'permute: perm[1] must be a finite number, got NaN'],
  ['transpose x', () => sh.transpose(S, 0, 1), 'transpose: x must be a Tensor, got string'],
  ['transpose axis', () => sh.transpose(x, 0, N), 'transpose: axis must be a finite number, got NaN'],
  ['unsqueeze x', () => sh.unsqueeze(S, 0), 'unsqueeze: x must be a Tensor, got string'],
  ['unsqueeze axis', () => sh.unsqueeze(x, N), 'unsqueeze: axis must be a finite number, got NaN'],
  ['squeeze x', () => sh.squeeze(S), 'squeeze: x must be a Tensor, got string'],
  ['squeeze axis', () => sh.squeeze(x, Infinity), 'squeeze: axis must be a finite number, got Infinity'],
  ['slice x', () => sh.slice(S, 0, 0), 'slice: x must be a Tensor, got string'],
  ['slice axis', () => sh.slice(x, N, 0), 'slice: axis must be a finite number, got NaN'],
  ['slice start', () => sh.slice(x, 0, N), 'slice: start must be a finite number, got NaN'],
  ['concat xs', () => sh.concat(x as unknown as Tensor[]), 'concat: xs must be an array of Tensors, got a float32 Tensor [2,3]'],
  ['concat entry', () => sh.concat([x, S]), 'concat: xs[1] must be a Tensor, got string'],
  ['concat axis', () => sh.concat([x], N), 'concat: axis must be a finite number, got NaN'],
  ['stack entry', () => sh.stack([S]), 'stack: xs[0] must be a Tensor, got string'],
  ['stack axis', () => sh.stack([x], N), 'stack: axis must be a finite number, got NaN'],
  ['split x', () => sh.split(S, 1), 'split: x must be a Tensor, got string'],
  ['split sizes', () => sh.split(x, N), 'split: sizes must be a finite number, got NaN'],
  ['split sizes list', () => sh.split(x, [1, N]), 'split: sizes[1] must be a finite number, got NaN'],
  ['split sizes type', () => sh.split(x, '1' as unknown as number), 'split: sizes must be a number or an array of numbers, got string'],
  ['broadcastTo x', () => sh.broadcastTo(S, [2]), 'broadcastTo: x must be a Tensor, got string'],
  ['broadcastTo shape', () => sh.broadcastTo(x, null as unknown as number[]), 'broadcastTo: shape must be an array of numbers, got null'],
  ['where cond', () => sh.where(S, 1, 2), 'where: cond must be a Tensor, got string'],
  ['where cond dtype', () => sh.where(x, 1, 2), 'where: cond must be a bool tensor, got float32 [2,3]'],
  ['where a', () => sh.where(m, S, 2), 'where: a must be a Tensor or a number, got string'],
  ['where b', () => sh.where(m, 1, N), 'where: b must be a number (not NaN), got NaN'],
  ['maskedFill x', () => sh.maskedFill(S, m, 0), 'maskedFill: x must be a Tensor, got string'],
  ['maskedFill mask', () => sh.maskedFill(x, S, 0), 'maskedFill: mask must be a Tensor, got string'],
  ['maskedFill mask dtype', () => sh.maskedFill(x, x, 0), 'maskedFill: mask must be a bool tensor, got float32 [2,3]'],
  ['maskedFill value', () => sh.maskedFill(x, m, S as unknown as number), 'maskedFill: value must be a number (not NaN), got string'],
  ['sum x', () => red.sum(S), 'sum: x must be a Tensor, got string'],
  ['sum axes', () => red.sum(x, N), 'sum: axis must be a finite number, got NaN'],
  ['mean x', () => red.mean(S), 'mean: x must be a Tensor, got string'],
  ['mean axes', () => red.mean(x, [0, N]), 'mean: axis must be a finite number, got NaN'],
  ['max x', () => red.max(S), 'max: x must be a Tensor, got string'],
  ['max axis', () => red.max(x, N), 'max: axis must be a finite number, got NaN'],
  ['argmax x', () => red.argmax(S), 'argmax: x must be a Tensor, got string'],
  ['argmax axis', () => red.argmax(x, N), 'argmax: axis must be a finite number, got NaN'],
  ['softmax x', () => nn.softmax(S), 'softmax: x must be a Tensor, got string'],
  ['softmax axis', () => nn.softmax(x, N), 'softmax: axis must be a finite number, got NaN'],
  ['logSoftmax x', () => nn.logSoftmax(S), 'logSoftmax: x must be a Tensor, got string'],
  ['logSoftmax axis', () => nn.logSoftmax(x, N), 'logSoftmax: axis must be a finite number, got NaN'],
  ['layerNorm x', () => nn.layerNorm(S, null, null), 'layerNorm: x must be a Tensor, got string'],
  ['layerNorm weight', () => nn.layerNorm(x, [1, 1, 1] as unknown as Tensor, null), 'layerNorm: weight must be a Tensor, got an array of length 3'],
  ['layerNorm bias', () => nn.layerNorm(x, null, 0 as unknown as Tensor), 'layerNorm: bias must be a Tensor, got 0'],
  ['layerNorm eps', () => nn.layerNorm(x, null, null, N), 'layerNorm: eps must be a finite number, got NaN'],
  ['rmsNorm x', () => nn.rmsNorm(S, null), 'rmsNorm: x must be a Tensor, got string'],
  ['rmsNorm weight', () => nn.rmsNorm(x, S), 'rmsNorm: weight must be a Tensor, got string'],
  ['rmsNorm eps', () => nn.rmsNorm(x, null, Infinity), 'rmsNorm: eps must be a finite number, got Infinity'],
  ['embedding ids', () => nn.embedding([0, 1] as unknown as Tensor, x), 'embedding: ids must be a Tensor, got an array of length 2'],
  ['embedding weight', () => nn.embedding(Tensor.fromArray([0]), S), 'embedding: weight must be a Tensor, got string'],
  ['dropout x', () => nn.dropout(S, 0.5), 'dropout: x must be a Tensor, got string'],
  ['dropout p', () => nn.dropout(x, N), 'dropout: p must be a finite number, got NaN'],
  ['dropout opts', () => nn.dropout(x, 0.5, null as unknown as object), 'dropout: options must be an object such as { training: false }, got null'],
  ['crossEntropy logits', () => nn.crossEntropy(S, x), 'crossEntropy: logits must be a Tensor, got string'],
  ['crossEntropy targets', () => nn.crossEntropy(x, [0, 1] as unknown as Tensor), 'crossEntropy: targets must be a Tensor, got an array of length 2'],
  ['crossEntropy labelSmoothing', () => nn.crossEntropy(x, Tensor.fromArray([0, 1]), { labelSmoothing: N }), 'crossEntropy: labelSmoothing must be a finite number, got NaN'],
  ['crossEntropy ignoreIndex', () => nn.crossEntropy(x, Tensor.fromArray([0, 1]), { ignoreIndex: N }), 'crossEntropy: ignoreIndex must be a finite number, got NaN'],
];

for (const [name, call, message] of CASES) {
  test(`entry check: ${name}`, () => throwsShape(call, new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`)));
}

test('an omitted (undefined) norm weight or bias is no parameter, as None in PyTorch', () => {
  const y = nn.layerNorm(Tensor.fromArray([[1, 3]]), undefined as unknown as null, undefined as unknown as null);
  assert.deepEqual([...y.data].map((v) => Math.round(v * 1000) / 1000), [-1, 1]);
  assert.equal(nn.rmsNorm(Tensor.fromArray([[3, 4]]), undefined as unknown as null, 0).data[0], Math.fround(3 / Math.sqrt(12.5)));
});
