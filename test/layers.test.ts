/**
 * Transformer encoder/decoder layers and stacks: gradients by finite differences, dropout in train and
 * eval mode, masks and causality as properties, attention weights, state names and error messages.
 * Agreement with PyTorch's values is test/parity-layers.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../src/ops/methods.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Generator } from '../src/tensor/random.js';
import { TransformerEncoderLayer, TransformerEncoder } from '../src/nn/transformer-encoder-layer.js';
import { TransformerDecoderLayer, TransformerDecoder } from '../src/nn/transformer-decoder-layer.js';
import { gradcheck, param } from './helpers/gradcheck.js';
import { assertClose } from './helpers/allclose.js';

const tiny = { dModel: 4, nHead: 2, dimFeedforward: 8, dropout: 0 };

/** The values of `x` at [b, s, :] for every s in `positions` (x: [batch, seq, d]). */
function rowsAt(x: Tensor, b: number, positions: number[]): number[] {
  const [, seq, d] = x.shape;
  return positions.flatMap((s) => Array.from(x.data.slice((b * seq + s) * d, (b * seq + s + 1) * d)));
}

/** A copy of x with position [b, s, :] replaced by fresh random values. */
function perturbAt(x: Tensor, b: number, s: number, seed = 99): Tensor {
  const [, seq, d] = x.shape;
  const data = x.data.slice();
  const g = new Generator(seed);
  for (let i = 0; i < d; i++) data[(b * seq + s) * d + i] = 3 * g.normal();
  return new Tensor(data, x.shape);
}

// ---- gradients ----

for (const normFirst of [false, true]) {
  test(`gradcheck encoder layer (normFirst ${normFirst}, gelu, keyMask, causal): src and parameters`, () => {
    const layer = new TransformerEncoderLayer({ ...tiny, activation: 'gelu', normFirst, generator: new Generator(1) });
    const keyMask = Tensor.fromArray([[true, true, true], [true, true, false]]);
    const src = param([2, 3, 4], 2);
    gradcheck((x) => layer.forward(x, { keyMask, causal: true }), [src, layer.selfAttn.q.weight, layer.linear1.weight, layer.norm1.weight!, layer.norm2.bias!, layer.linear2.bias!], { maxElements: 16 });
  });

  test(`gradcheck decoder layer (normFirst ${normFirst}, gelu, causal, memory keyMask): tgt, memory and parameters`, () => {
    const layer = new TransformerDecoderLayer({ ...tiny, activation: 'gelu', normFirst, generator: new Generator(3) });
    const memoryKeyMask = Tensor.fromArray([[true, false], [true, true]]);
    gradcheck(
      (t, m) => layer.forward(t, m, { causal: true, memoryKeyMask }),
      [param([2, 3, 4], 4), param([2, 2, 4], 5), layer.crossAttn.k.weight, layer.selfAttn.v.bias!, layer.norm3.weight!, layer.linear1.bias!],
      { maxElements: 16 },
    );
  });
}

test('gradcheck encoder stack with final norm and an additive float mask', () => {
  const enc = new TransformerEncoder({ ...tiny, numLayers: 2, finalNorm: true, normFirst: true, activation: 'gelu', generator: new Generator(6) });
  const bias = param([3, 3], 7, 0.5);
  gradcheck((x, b) => enc.forward(x, { mask: b }), [param([1, 3, 4], 8), bias, enc.layers[0].linear2.weight, enc.norm!.weight!], { maxElements: 16 });
});

test('gradcheck decoder stack (post-norm; gelu, as relu kinks can fall between finite-difference points)', () => {
  const dec = new TransformerDecoder({ ...tiny, numLayers: 2, activation: 'gelu', generator: new Generator(9) });
  gradcheck((t, m) => dec.forward(t, m, { causal: true }), [param([1, 3, 4], 10), param([1, 2, 4], 11), dec.layers[1].crossAttn.q.weight], { maxElements: 16 });
});

// ---- dropout ----

test('dropout: active in train mode (seeded, reproducible), identity in eval mode', () => {
  const make = (): TransformerEncoderLayer => new TransformerEncoderLayer({ dModel: 8, nHead: 2, dropout: 0.5, generator: new Generator(12) });
  const src = Tensor.randn([2, 5, 8], { generator: new Generator(13) });
  const a = make();
  const b = make();
  assert.ok(a.training, 'modules start in training mode, as PyTorch');
  const ta1 = a.forward(src);
  const ta2 = a.forward(src);
  assert.deepEqual([...ta1.data], [...b.forward(src).data], 'same seed, same weights and masks');
  assert.notDeepEqual([...ta1.data], [...ta2.data], 'a fresh mask on every call');

  a.eval();
  const e1 = a.forward(src);
  assert.deepEqual([...e1.data], [...a.forward(src).data], 'eval is deterministic');
  assert.notDeepEqual([...e1.data], [...ta1.data]);
  // Eval with p = 0.5 equals the same weights with dropout 0 in train mode: every Dropout (and the
  // attention's) is switched off by eval().
  const z = new TransformerEncoderLayer({ dModel: 8, nHead: 2, dropout: 0 });
  z.loadStateDict(a.stateDict());
  assert.deepEqual([...z.forward(src).data], [...e1.data]);
});

test('dropout reaches every place PyTorch puts it: all four in a decoder layer train mode', () => {
  const layer = new TransformerDecoderLayer({ dModel: 8, nHead: 2, dropout: 0.3, generator: new Generator(14) });
  for (const d of [layer.dropout, layer.dropout1, layer.dropout2, layer.dropout3]) assert.equal(d.p, 0.3);
  assert.equal(layer.selfAttn.dropout, 0.3);
  assert.equal(layer.crossAttn.dropout, 0.3);
  const enc = new TransformerEncoderLayer({ dModel: 8, nHead: 2 });
  assert.equal(enc.dropout.p, 0.1, 'default dropout 0.1, as PyTorch');
  assert.equal(enc.dimFeedforward, 32, 'default dimFeedforward 4 * dModel');
  assert.equal(enc.activation, 'relu');
  assert.equal(enc.normFirst, false);
});

// ---- masks, causality, weights ----

test('encoder causal: an output depends on no later position', () => {
  const layer = new TransformerEncoderLayer({ ...tiny, generator: new Generator(15) });
  const src = Tensor.randn([1, 5, 4], { generator: new Generator(16) });
  const y = layer.forward(src, { causal: true });
  const y2 = layer.forward(perturbAt(src, 0, 3), { causal: true });
  assertClose(rowsAt(y2, 0, [0, 1, 2]), rowsAt(y, 0, [0, 1, 2]), { rtol: 0, atol: 0 }, 'positions before the change');
  assert.notDeepEqual(rowsAt(y2, 0, [3]), rowsAt(y, 0, [3]));
});

test('encoder keyMask: padded positions do not affect real ones', () => {
  const layer = new TransformerEncoderLayer({ ...tiny, normFirst: true, generator: new Generator(17) });
  const src = Tensor.randn([2, 4, 4], { generator: new Generator(18) });
  const keyMask = Tensor.fromArray([[true, true, true, true], [true, true, false, false]]);
  const y = layer.forward(src, { keyMask });
  const y2 = layer.forward(perturbAt(perturbAt(src, 1, 3), 1, 2, 5), { keyMask });
  assertClose(rowsAt(y2, 1, [0, 1]), rowsAt(y, 1, [0, 1]), { rtol: 0, atol: 0 }, 'real positions of batch 1');
  assertClose(rowsAt(y2, 0, [0, 1, 2, 3]), rowsAt(y, 0, [0, 1, 2, 3]), { rtol: 0, atol: 0 }, 'batch 0 untouched');
});

test('decoder: causal in self-attention only, memory keyMask hides memory, memory fully visible otherwise', () => {
  const layer = new TransformerDecoderLayer({ ...tiny, generator: new Generator(19) });
  const tgt = Tensor.randn([1, 4, 4], { generator: new Generator(20) });
  const memory = Tensor.randn([1, 3, 4], { generator: new Generator(21) });
  const y = layer.forward(tgt, memory, { causal: true });
  // A later target position changes nothing before it.
  const yT = layer.forward(perturbAt(tgt, 0, 2), memory, { causal: true });
  assertClose(rowsAt(yT, 0, [0, 1]), rowsAt(y, 0, [0, 1]), { rtol: 0, atol: 0 });
  // The last memory position is seen by the first target position (cross-attention is not causal)...
  const m2 = perturbAt(memory, 0, 2);
  assert.notDeepEqual(rowsAt(layer.forward(tgt, m2, { causal: true }), 0, [0]), rowsAt(y, 0, [0]));
  // ...unless memoryKeyMask hides it.
  const memoryKeyMask = Tensor.fromArray([[true, true, false]]);
  const yk = layer.forward(tgt, memory, { causal: true, memoryKeyMask });
  assertClose(layer.forward(tgt, m2, { causal: true, memoryKeyMask }), yk, { rtol: 0, atol: 0 });
});

test('needWeights: averaged and per-head shapes, rows sum to 1, causal and padded keys get 0', () => {
  const layer = new TransformerEncoderLayer({ dModel: 8, nHead: 2, dropout: 0, generator: new Generator(22) });
  const src = Tensor.randn([2, 3, 8], { generator: new Generator(23) });
  const keyMask = Tensor.fromArray([[true, true, true], [true, true, false]]);
  const plain = layer.forward(src, { keyMask, causal: true });
  const avg = layer.forward(src, { keyMask, causal: true, needWeights: true });
  assert.deepEqual([...avg.weights.shape], [2, 3, 3]);
  // With weights asked for (and grad on), attention runs the composed path, whose weights are differentiable;
  // without, the fused one: the same math, rounded at other points, so equal to float32 rounding.
  assertClose(avg.output, plain, { rtol: 1e-5, atol: 1e-6 }, 'asking for weights changes nothing else');
  const { weights } = layer.forward(src, { keyMask, causal: true, needWeights: true, averageWeights: false });
  assert.deepEqual([...weights.shape], [2, 2, 3, 3]);
  const w = weights.toArray() as number[][][][];
  for (let b = 0; b < 2; b++) for (let h = 0; h < 2; h++) for (let i = 0; i < 3; i++) {
    const row = w[b][h][i];
    assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-6, 'row sums to 1');
    for (let j = i + 1; j < 3; j++) assert.equal(row[j], 0, 'causal: no later key');
    if (b === 1) assert.equal(row[2], 0, 'padded key');
  }
  assertClose(weights.mean(1), avg.weights, { rtol: 1e-6, atol: 1e-7 }, 'average of the heads');
});

test('decoder and stacks return weights for every attention and layer', () => {
  const dec = new TransformerDecoder({ dModel: 8, nHead: 4, numLayers: 2, dropout: 0, generator: new Generator(24) });
  const tgt = Tensor.randn([2, 3, 8], { generator: new Generator(25) });
  const memory = Tensor.randn([2, 5, 8], { generator: new Generator(26) });
  const r = dec.forward(tgt, memory, { causal: true, needWeights: true, averageWeights: false });
  assert.equal(r.selfWeights.length, 2);
  assert.deepEqual([...r.selfWeights[1].shape], [2, 4, 3, 3]);
  assert.deepEqual([...r.crossWeights[0].shape], [2, 4, 3, 5]);
  assertClose(r.output, dec.forward(tgt, memory, { causal: true }), { rtol: 1e-5, atol: 1e-6 }); // fused vs composed path
  const enc = new TransformerEncoder({ dModel: 8, nHead: 2, numLayers: 3, dropout: 0 });
  const e = enc.forward(memory, { needWeights: true });
  assert.equal(e.weights.length, 3);
  assert.deepEqual([...e.weights[2].shape], [2, 5, 5]);
});

// ---- state names ----

test('state dict names follow PyTorch (camelCase), q/k/v/out in place of in_proj/out_proj', () => {
  const enc = new TransformerEncoderLayer({ dModel: 8, nHead: 2 });
  const attn = (p: string): string[] => ['q', 'k', 'v', 'out'].flatMap((l) => [`${p}.${l}.weight`, `${p}.${l}.bias`]);
  const lin = ['linear1.weight', 'linear1.bias', 'linear2.weight', 'linear2.bias'];
  const norms = (n: number): string[] => Array.from({ length: n }, (_, i) => [`norm${i + 1}.weight`, `norm${i + 1}.bias`]).flat();
  assert.deepEqual([...enc.stateDict().keys()], [...attn('selfAttn'), ...lin, ...norms(2)]);
  assert.deepEqual(enc.stateDict().get('linear1.weight')!.shape, [32, 8]);
  const dec = new TransformerDecoderLayer({ dModel: 8, nHead: 2, dimFeedforward: 16 });
  assert.deepEqual([...dec.stateDict().keys()], [...attn('selfAttn'), ...attn('crossAttn'), ...lin, ...norms(3)]);
  assert.equal(dec.numParameters(), 2 * 4 * (8 * 8 + 8) + (8 * 16 + 16) + (16 * 8 + 8) + 3 * 2 * 8);

  const noBias = new TransformerEncoderLayer({ dModel: 8, nHead: 2, bias: false });
  assert.deepEqual([...noBias.stateDict().keys()], ['selfAttn.q.weight', 'selfAttn.k.weight', 'selfAttn.v.weight', 'selfAttn.out.weight', 'linear1.weight', 'linear2.weight', 'norm1.weight', 'norm2.weight']);

  const stack = new TransformerDecoder({ dModel: 8, nHead: 2, numLayers: 2, finalNorm: true });
  const keys = [...stack.stateDict().keys()];
  assert.equal(keys[0], 'layers.0.selfAttn.q.weight');
  assert.ok(keys.includes('layers.1.crossAttn.out.bias'));
  assert.deepEqual(keys.slice(-2), ['norm.weight', 'norm.bias']);
  assert.ok(!new TransformerEncoder({ dModel: 8, nHead: 2, numLayers: 1 }).stateDict().has('norm.weight'), 'no final norm by default');
});

// ---- errors ----

test('shape and option errors name the layer, the argument and the expected shape', () => {
  const enc = new TransformerEncoderLayer({ dModel: 8, nHead: 2 });
  assert.throws(() => enc.forward(Tensor.zeros([2, 5, 7])), /TransformerEncoderLayer\(dModel=8, nHead=2\): src \[2,5,7\] must be \[batch, seq, 8\]/);
  assert.throws(() => enc.forward(Tensor.zeros([5, 8])), /src \[5,8\] must be \[batch, seq, 8\]/);
  assert.throws(() => enc.forward(Tensor.zeros([2, 5, 8]), { keyMask: Tensor.fromArray([[true, false]]) }), /keyMask must be bool \[batch, seqK\] = \[2,5\]/);
  const dec = new TransformerDecoderLayer({ dModel: 8, nHead: 2 });
  assert.throws(() => dec.forward(Tensor.zeros([2, 3, 8]), Tensor.zeros([2, 4, 6])), /memory \[2,4,6\] must be \[batch, seq, 8\]/);
  assert.throws(() => dec.forward(Tensor.zeros([2, 3, 8]), Tensor.zeros([3, 4, 8])), /tgt \[2,3,8\] and memory \[3,4,8\] must have the same batch size/);
  assert.throws(() => new TransformerEncoderLayer({ dModel: 10, nHead: 3 }), /TransformerEncoderLayer: dModel \(10\) must be divisible by nHead \(3\)/);
  assert.throws(() => new TransformerDecoderLayer({ dModel: 0, nHead: 1 }), /TransformerDecoderLayer: dModel must be a positive integer, got 0/);
  assert.throws(() => new TransformerEncoderLayer({ dModel: 8, nHead: 2, activation: 'tanh' as 'relu' }), /TransformerEncoderLayer: activation must be one of relu, gelu, got 'tanh'/);
  assert.throws(() => new TransformerEncoderLayer({ dModel: 8, nHead: 2, dimFeedforward: 2.5 }), /dimFeedforward must be a positive integer/);
  assert.throws(() => new TransformerEncoderLayer({ dModel: 8, nHead: 2, dropout: 1 }), /TransformerEncoderLayer: dropout must be a probability in \[0, 1\), got 1/);
  assert.throws(() => new TransformerEncoder({ dModel: 8, nHead: 2, numLayers: 0 }), /TransformerEncoder: numLayers must be a positive integer, got 0/);
});

test('options are checked in resolveLayerOptions: dropout in [0, 1), layerNormEps > 0, activation by own name only', () => {
  const base = { dModel: 8, nHead: 2 };
  const layers = [
    ['TransformerEncoderLayer', (o: object) => new TransformerEncoderLayer({ ...base, ...o })],
    ['TransformerDecoderLayer', (o: object) => new TransformerDecoderLayer({ ...base, ...o })],
    ['TransformerEncoder', (o: object) => new TransformerEncoder({ ...base, numLayers: 1, ...o })],
    ['TransformerDecoder', (o: object) => new TransformerDecoder({ ...base, numLayers: 1, ...o })],
  ] as const;
  for (const [what, make] of layers) {
    const err = (arg: string, got: string) => new RegExp(`^ShapeError: ${what}: ${arg} must be .*, got ${got}$`);
    assert.throws(() => make({ dropout: 1 }), err('dropout', '1'));
    assert.throws(() => make({ dropout: -0.1 }), err('dropout', '-0\\.1'));
    assert.throws(() => make({ dropout: NaN }), err('dropout', 'NaN'));
    assert.throws(() => make({ dropout: '0.1' }), err('dropout', "string '0\\.1'"));
    assert.throws(() => make({ layerNormEps: 0 }), err('layerNormEps', '0'));
    assert.throws(() => make({ layerNormEps: -1e-5 }), err('layerNormEps', '-0\\.00001'));
    assert.throws(() => make({ layerNormEps: Infinity }), err('layerNormEps', 'Infinity'));
    assert.throws(() => make({ layerNormEps: NaN }), err('layerNormEps', 'NaN'));
    // Object.prototype names are not activations (they used to pass `in` and fail deep inside forward).
    for (const bad of ['toString', 'constructor', 'valueOf']) assert.throws(() => make({ activation: bad }), new RegExp(`${what}: activation must be one of relu, gelu, got '${bad}'`));
    // MLP's other activations are not PyTorch transformer-layer options.
    assert.throws(() => make({ activation: 'silu' }), new RegExp(`${what}: activation must be one of relu, gelu, got 'silu'`));
    assert.throws(() => make({ normFirst: 'yes' }), new RegExp(`${what}: normFirst must be true or false, got string 'yes'`));
    assert.throws(() => make({ dModel: '8' }), new RegExp(`${what}: dModel must be a positive integer, got string '8'`));
  }
  // Edges that are allowed: dropout 0, a tiny eps.
  const ok = new TransformerEncoderLayer({ ...base, dropout: 0, layerNormEps: 1e-12, activation: 'gelu' });
  assert.equal(ok.norm1.eps, 1e-12);
  assert.equal(ok.dropout.p, 0);
});
