import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor/tensor.js';
import * as ops from '../src/ops/elementwise.js';
import { sum, mean, max, argmax } from '../src/ops/reduce.js';
import { matmul } from '../src/ops/matmul.js';
import { gradcheck, param } from './helpers/gradcheck.js';
import { assertClose } from './helpers/allclose.js';

test('broadcasting add/mul/div/sub forward', () => {
  const a = Tensor.fromArray([[1, 2, 3], [4, 5, 6]]);
  const b = Tensor.fromArray([10, 20, 30]);
  assert.deepEqual(ops.add(a, b).toArray(), [[11, 22, 33], [14, 25, 36]]);
  assert.deepEqual(ops.mul(a, Tensor.fromArray([[2], [3]])).toArray(), [[2, 4, 6], [12, 15, 18]]);
  assert.deepEqual(ops.sub(a, 1).toArray(), [[0, 1, 2], [3, 4, 5]]);
});

test('broadcast failure names the op and both shapes', () => {
  assert.throws(() => ops.add(Tensor.zeros([2, 3]), Tensor.zeros([4])), /add: shapes \[2,3\] and \[4\] cannot be broadcast/);
});

for (const [name, f, positive] of [
  ['add', (a: Tensor, b: Tensor) => ops.add(a, b), false],
  ['sub', (a: Tensor, b: Tensor) => ops.sub(a, b), false],
  ['mul', (a: Tensor, b: Tensor) => ops.mul(a, b), false],
  ['div', (a: Tensor, b: Tensor) => ops.div(a, ops.add(ops.abs(b), 1)), false],
  ['pow', (a: Tensor, b: Tensor) => ops.pow(ops.add(ops.abs(a), 0.5), b), false],
  ['maximum', (a: Tensor, b: Tensor) => ops.maximum(a, b), false],
  ['minimum', (a: Tensor, b: Tensor) => ops.minimum(a, b), false],
] as const) {
  test(`gradcheck binary ${name} with broadcasting`, () => {
    gradcheck(f, [param([3, 1, 4], 1), param([2, 4], 2)]);
    void positive;
  });
}

for (const [name, f] of [
  ['neg', ops.neg], ['exp', ops.exp], ['tanh', ops.tanh], ['sigmoid', ops.sigmoid], ['relu', ops.relu], ['silu', ops.silu],
  ['gelu erf', (x: Tensor) => ops.gelu(x)], ['gelu tanh', (x: Tensor) => ops.gelu(x, { approximate: 'tanh' })],
  ['log', (x: Tensor) => ops.log(ops.add(ops.abs(x), 0.5))], ['rsqrt', (x: Tensor) => ops.rsqrt(ops.add(ops.abs(x), 0.5))],
  ['abs (seeded values stay > h away from the kink at 0)', ops.abs], ['sqrt', (x: Tensor) => ops.sqrt(ops.add(ops.abs(x), 0.5))],
  ['pow scalar', (x: Tensor) => ops.pow(x, 3)], ['div scalar', (x: Tensor) => ops.div(x, 3)],
] as const) {
  test(`gradcheck unary ${name}`, () => gradcheck(f as (x: Tensor) => Tensor, [param([17], 3)]));
}

test('matmul: forward, transposes and batch broadcasting against explicit loops', () => {
  const a = param([2, 1, 3, 4], 1);
  const b = param([3, 4, 5], 2);
  const c = matmul(a, b);
  assert.deepEqual([...c.shape], [2, 3, 3, 5]);
  const expected = new Float32Array(2 * 3 * 3 * 5);
  for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let r = 0; r < 3; r++) for (let s = 0; s < 5; s++) {
    let acc = 0;
    for (let q = 0; q < 4; q++) acc += a.data[i * 12 + r * 4 + q] * b.data[j * 20 + q * 5 + s];
    expected[((i * 3 + j) * 3 + r) * 5 + s] = acc;
  }
  assertClose(c.data, expected, { rtol: 1e-6, atol: 1e-6 });
});

test('matmul error names the op, both shapes and the inner dimensions', () => {
  assert.throws(() => matmul(Tensor.zeros([2, 3, 4]), Tensor.zeros([5, 6])), /matmul: \[2,3,4\] x \[5,6\]: inner dimensions 4 and 5 differ/);
});

for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
  test(`gradcheck matmul transA=${tA} transB=${tB} with broadcast batch`, () => {
    const a = param(tA ? [2, 1, 4, 3] : [2, 1, 3, 4], 1);
    const b = param(tB ? [3, 5, 4] : [3, 4, 5], 2);
    gradcheck((x, y) => matmul(x, y, { transA: tA, transB: tB }), [a, b]);
  });
}

test('gradcheck matmul with vectors', () => {
  gradcheck((x, y) => matmul(x, y), [param([4], 1), param([4, 3], 2)]);
  gradcheck((x, y) => matmul(x, y), [param([2, 4], 1), param([4], 2)]);
});

test('sum, mean, max, argmax with keepdim', () => {
  const x = Tensor.fromArray([[1, 5, 3], [4, 2, 6]]);
  assert.deepEqual(sum(x, 1).toArray(), [9, 12]);
  assert.deepEqual(sum(x, 0, { keepdim: true }).toArray(), [[5, 7, 9]]);
  assert.equal(mean(x).item(), 3.5);
  assert.deepEqual(max(x, -1).toArray(), [5, 6]);
  assert.deepEqual(argmax(x, 1).toArray(), [1, 2]);
  assert.equal(max(x).item(), 6);
  assert.equal(max(Tensor.fromArray(4, []), 0).item(), 4); // a 0-d tensor reduces over its one element, as PyTorch
  gradcheck((t) => sum(t, [0, 2]), [param([2, 3, 4], 1)]);
  gradcheck((t) => mean(t, 1, { keepdim: true }), [param([2, 3, 4], 1)]);
  gradcheck((t) => max(t, 1), [param([2, 3, 4], 1)]);
});

test('backward: accumulation, non-scalar error, freed graph error', () => {
  const x = Tensor.fromArray([1, 2, 3], undefined, true);
  sum(ops.mul(x, x)).backward();
  sum(ops.mul(x, x)).backward();
  assert.deepEqual(x.grad!.toArray(), [4, 8, 12]);
  assert.throws(() => ops.mul(x, 2).backward(), /not a scalar/);
  const y = sum(ops.exp(x));
  y.backward();
  assert.throws(() => y.backward(), /freed by an earlier backward/);
  const z = sum(ops.exp(x));
  z.backward(undefined, { retainGraph: true });
  z.backward();
});

test('binary kernel: same-shape and trailing-broadcast fast paths agree with the general index-map path', async () => {
  const { backend } = await import('../src/backend/backend.js');
  const { broadcastIndexer, broadcastShapes } = await import('../src/tensor/shape.js');
  const k = backend();
  const cases: [number[], number[]][] = [
    [[17], [17]], [[1, 3], [3]], [[3], [1, 3]], [[65, 3], [3]], [[2, 17, 5], [17, 5]], [[1], [127]], [[127], [1]], [[4, 1], [1, 3]], [[3, 1, 4], [2, 4]],
  ];
  for (const [sa, sb] of cases) {
    const a = param(sa, 1);
    const b = ops.add(ops.abs(param(sb, 2)), 0.5); // positive, for div and pow
    const out = broadcastShapes('test', sa, sb);
    const ia = broadcastIndexer(sa, out);
    const ib = broadcastIndexer(sb, out);
    for (const op of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'lt'] as const) {
      const x = op === 'pow' ? ops.abs(a) : a; // a negative base to a fractional power is NaN, which never compares equal
      const got = k.binary(op, x.data, sa, b.data, sb, out);
      const f = { add: (x: number, y: number) => x + y, sub: (x: number, y: number) => x - y, mul: (x: number, y: number) => x * y, div: (x: number, y: number) => x / y, pow: Math.pow, maximum: Math.max, lt: (x: number, y: number) => (x < y ? 1 : 0) }[op];
      const want = Float32Array.from(ia, (ai, i) => f(x.data[ai], b.data[ib[i]]));
      assertClose(got, want, { rtol: 0, atol: 0 }, `${op} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`);
    }
  }
});

test('pow gradients are 0, not NaN, where PyTorch defines them so', () => {
  const x = Tensor.fromArray([0, 2], undefined, true);
  sum(ops.pow(x, 0)).backward();
  assert.deepEqual(x.grad!.toArray(), [0, 0]);
  const a = Tensor.fromArray([0, 2], undefined, true);
  const e = Tensor.fromArray([2, 2], undefined, true);
  sum(ops.pow(a, e)).backward();
  assert.deepEqual(a.grad!.toArray(), [0, 4]);
  assertClose(e.grad!.data, [0, 4 * Math.log(2)], { rtol: 1e-6, atol: 0 });
  const z = Tensor.fromArray([0], undefined, true);
  const zero = Tensor.fromArray([0], undefined, true);
  sum(ops.pow(z, zero)).backward();
  assert.deepEqual([z.grad!.item(), zero.grad!.item()], [0, 0]);
});

test('maximum/minimum: ties split the gradient, NaN sends it to both (as PyTorch)', () => {
  const a = Tensor.fromArray([NaN, 1, 2, 3], undefined, true);
  const b = Tensor.fromArray([1, NaN, 2, 1], undefined, true);
  sum(ops.maximum(a, b)).backward();
  assert.deepEqual(a.grad!.toArray(), [1, 1, 0.5, 1]);
  assert.deepEqual(b.grad!.toArray(), [1, 1, 0.5, 0]);
});

test('matmul: batch dimensions that do not broadcast are named with both operands', () => {
  assert.throws(() => matmul(Tensor.zeros([2, 3, 4]), Tensor.zeros([3, 4, 5])), /matmul: \[2,3,4\] x \[3,4,5\]: batch dimensions \[2\] and \[3\] cannot be broadcast/);
});
