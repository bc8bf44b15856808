/**
 * Parity of the transformer layers and stacks with PyTorch: fixtures/layers.json, written by
 * fixtures/generate_layers.py from torch.nn.TransformerEncoderLayer / TransformerDecoderLayer /
 * TransformerEncoder / TransformerDecoder (batch_first=True, dropout=0; both activations, both norm
 * placements, key padding masks, causal, bool and float attention masks).
 *
 * Each case loads PyTorch's state dict into the qkv module (in_proj_weight split into q, k, v; out_proj
 * renamed out; multihead_attn renamed crossAttn; PyTorch's "true = ignore" masks inverted), runs forward
 * and backward of sum(out * w), and compares the output, the first self-attention's per-head weights,
 * the inputs' gradients and every parameter's gradient.
 *
 * Tolerance: rtol 1e-4 with atol 1e-5 for outputs and attention weights, atol 2e-5 for gradients. Both
 * sides compute in float32 but not in the same order (PyTorch's GEMMs block and vectorise their sums,
 * its LayerNorm uses Welford; qkv's reference kernels accumulate in float64 and round once), so each op
 * differs by about an ulp (6e-8 relative). A layer chains ~15 ops, LayerNorm divides by its input's
 * standard deviation (amplifying absolute errors), and a two-layer stack doubles the chain; gradients add
 * sums over batch and sequence on top. Measured worst errors (reported per case below via t.diagnostic):
 * outputs 4.8e-7 absolute (values of magnitude ~1-4, so 1-2 ulp), weights 9e-8, input gradients 1.2e-6,
 * parameter gradients 1.4e-6. The bounds leave 10-20x headroom and stay far below any real mistake (a
 * missing residual, a wrong norm placement, a transposed projection or a mask off by one all change
 * values by O(0.1-1)). Relative errors alone can look large (1e-4) where a gradient is near zero, which
 * is what atol is for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor/tensor.js';
import { invertMask } from '../src/attention/masks.js';
import { MultiHeadAttention } from '../src/attention/multi-head-attention.js';
import { Module } from '../src/nn/module.js';
import { TransformerEncoderLayer, TransformerEncoder, type TransformerActivation } from '../src/nn/transformer-encoder-layer.js';
import { TransformerDecoderLayer, TransformerDecoder } from '../src/nn/transformer-decoder-layer.js';
import { loadFixture, toTensor, type FixtureTensor } from './helpers/fixtures.js';
import { compareClose, assertClose, type Tolerance } from './helpers/allclose.js';

const FORWARD_TOL: Tolerance = { rtol: 1e-4, atol: 1e-5 };
const GRAD_TOL: Tolerance = { rtol: 1e-4, atol: 2e-5 };

interface LayerParams {
  kind: 'encoder' | 'decoder';
  d_model: number;
  nhead: number;
  dim_feedforward: number;
  activation: TransformerActivation;
  norm_first: boolean;
  layer_norm_eps: number;
  causal: boolean;
  num_layers?: number;
  final_norm?: boolean;
  state: Record<string, FixtureTensor>;
}

/** A slice of rows [start, start + n) of a 2-D (or 1-D) fixture tensor's data. */
function rows(t: FixtureTensor, start: number, n: number): Tensor {
  const full = toTensor(t);
  const width = full.ndim === 2 ? full.shape[1] : 1;
  const shape = full.ndim === 2 ? [n, width] : [n];
  return new Tensor(full.data.slice(start * width, (start + n) * width), shape);
}

/**
 * PyTorch state name -> [qkv name, rows start, rows count] pieces: in_proj_* splits into q, k, v;
 * out_proj -> out; self_attn -> selfAttn; multihead_attn -> crossAttn. Everything else keeps its name.
 */
function mapName(torchName: string, t: FixtureTensor, dModel: number): [string, number, number][] {
  const name = torchName.replace(/(^|\.)self_attn\./, '$1selfAttn.').replace(/(^|\.)multihead_attn\./, '$1crossAttn.').replace('.out_proj.', '.out.');
  const m = /^(.*)\.in_proj_(weight|bias)$/.exec(name);
  if (m) return ['q', 'k', 'v'].map((p, i) => [`${m[1]}.${p}.${m[2]}`, i * dModel, dModel]);
  return [[name, 0, t.shape[0] ?? 1]];
}

function loadTorchState(module: Module, state: Record<string, FixtureTensor>, dModel: number): void {
  const ours = new Map<string, Tensor>();
  for (const [k, t] of Object.entries(state)) {
    for (const [name, start, n] of mapName(k, t, dModel)) ours.set(name, t.shape.length === 0 ? toTensor(t) : rows(t, start, n));
  }
  module.loadStateDict(ours); // strict: every name must match both ways
}

function build(p: LayerParams): Module {
  const opts = {
    dModel: p.d_model,
    nHead: p.nhead,
    dimFeedforward: p.dim_feedforward,
    dropout: 0,
    activation: p.activation,
    layerNormEps: p.layer_norm_eps,
    normFirst: p.norm_first,
  };
  if (p.num_layers !== undefined) {
    const stack = { ...opts, numLayers: p.num_layers, finalNorm: p.final_norm };
    return p.kind === 'encoder' ? new TransformerEncoder(stack) : new TransformerDecoder(stack);
  }
  return p.kind === 'encoder' ? new TransformerEncoderLayer(opts) : new TransformerDecoderLayer(opts);
}

const fixture = loadFixture('layers.json');

test('layers.json was written by generate_layers.py from PyTorch', () => {
  assert.equal(fixture.generator, 'generate_layers.py');
  assert.match(fixture.torch, /^\d+\.\d+/);
  assert.ok(Object.keys(fixture.cases).length >= 10);
});

for (const [name, c] of Object.entries(fixture.cases)) {
  test(`parity ${name}`, (t) => {
    const p = c.params as unknown as LayerParams;
    const module = build(p);
    module.eval();
    loadTorchState(module, p.state, p.d_model);

    const inp = (k: string): Tensor | undefined => (c.inputs[k] ? toTensor(c.inputs[k], true) : undefined);
    // PyTorch's key padding masks and bool attention masks say true = ignore; qkv's say true = may attend.
    const mask = (k: string): Tensor | undefined => {
      const m = c.inputs[k] ? toTensor(c.inputs[k]) : undefined;
      return m && m.dtype === 'bool' ? invertMask(m) : m;
    };
    const leaves: Record<string, Tensor> = {};
    let out: Tensor;
    let weights: Tensor | null = null;
    if (p.kind === 'encoder') {
      const src = (leaves.src = inp('src')!);
      const opts = { mask: mask('src_mask'), keyMask: mask('src_key_padding_mask'), causal: p.causal };
      if (module instanceof TransformerEncoderLayer) {
        ({ output: out, weights } = module.forward(src, { ...opts, needWeights: true, averageWeights: false }));
      } else {
        out = (module as TransformerEncoder).forward(src, opts);
      }
    } else {
      const tgt = (leaves.tgt = inp('tgt')!);
      const memory = (leaves.memory = inp('memory')!);
      const opts = {
        tgtMask: mask('tgt_mask'),
        memoryMask: mask('memory_mask'),
        tgtKeyMask: mask('tgt_key_padding_mask'),
        memoryKeyMask: mask('memory_key_padding_mask'),
        causal: p.causal,
      };
      if (module instanceof TransformerDecoderLayer) {
        ({ output: out, selfWeights: weights } = module.forward(tgt, memory, { ...opts, needWeights: true, averageWeights: false }));
      } else {
        out = (module as TransformerDecoder).forward(tgt, memory, opts);
      }
    }

    const report: string[] = [];
    const check = (what: string, actual: Tensor, expected: FixtureTensor, tol: Tolerance): void => {
      const e = toTensor(expected);
      assert.deepEqual([...actual.shape], [...e.shape], `${what}: shape`);
      const r = compareClose(actual, e, tol);
      report.push(`${what} abs ${r.maxAbs.toExponential(1)} rel ${r.maxRel.toExponential(1)}`);
      assertClose(actual, e, tol, `${name} ${what}`);
    };

    check('out', out, c.outputs.out, FORWARD_TOL);
    if (c.outputs.attn_weights) {
      assert.ok(weights, 'per-head weights returned');
      check('weights', weights!, c.outputs.attn_weights, FORWARD_TOL);
    }

    out.backward(toTensor(c.inputs.w));
    // Input gradients, then every parameter's (PyTorch's in_proj grads split as the weights were).
    let worstParam = { abs: 0, rel: 0, name: '' };
    for (const [k, g] of Object.entries(c.grads)) {
      if (!k.startsWith('state.')) {
        check(`grad ${k}`, leaves[k].grad!, g, GRAD_TOL);
        continue;
      }
      const own = new Map(module.namedTensors());
      for (const [qName, start, n] of mapName(k.slice('state.'.length), g, p.d_model)) {
        const param = own.get(qName);
        assert.ok(param?.grad, `${name}: ${qName} has a gradient`);
        const expected = g.shape.length === 0 ? toTensor(g) : rows(g, start, n);
        const r = compareClose(param!.grad!, expected, GRAD_TOL);
        if (r.maxAbs > worstParam.abs) worstParam = { abs: r.maxAbs, rel: r.maxRel, name: qName };
        assertClose(param!.grad!, expected, GRAD_TOL, `${name} grad ${qName}`);
      }
    }
    report.push(`param grads worst abs ${worstParam.abs.toExponential(1)} (${worstParam.name})`);
    t.diagnostic(report.join('; '));
  });
}

test('MultiHeadAttention.fromTorchState agrees with the layer loader on a fixture', () => {
  // The same PyTorch self_attn state loaded both ways gives the same projections.
  const c = fixture.cases.encoder_post_relu;
  const p = c.params as unknown as LayerParams;
  const state = new Map<string, Tensor>();
  for (const [k, v] of Object.entries(p.state)) if (k.startsWith('self_attn.')) state.set(k.slice('self_attn.'.length), toTensor(v));
  const mha = MultiHeadAttention.fromTorchState(state, { numHeads: p.nhead });
  const layer = build(p) as TransformerEncoderLayer;
  loadTorchState(layer, p.state, p.d_model);
  for (const [n, t] of mha.namedTensors()) assert.deepEqual([...t.data], [...layer.selfAttn.stateDict().get(n)!.data], n);
});
