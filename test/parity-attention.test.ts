/**
 * Attention against PyTorch 1.13: fixtures/attention.json from fixtures/generate_attention.py (an explicit
 * softmax(q kᵀ · scale + mask) v in torch, cross-checked there against F._scaled_dot_product_attention,
 * and torch.nn.MultiheadAttention(batch_first=True)). Forward outputs, weights, and gradients of
 * loss = sum(out * w) for q, k, v (and the float mask), MHA inputs and projection weights.
 *
 * Tolerance: rtol 1e-4, atol 1e-5. Both sides are float32, but they round differently: qkv's reference
 * kernels accumulate each matmul and softmax sum in float64 and round once, while torch (OpenBLAS)
 * accumulates in float32 in a blocked order. Each of the ~6 chained ops (projection, q kᵀ, softmax,
 * weights · v, merge, output projection, and the same again backward) then differs by a few float32 ulps
 * (eps32 = 1.2e-7) times the condition of the op; values are O(1) and sums run over <= 17 terms, so the
 * expected differences are ~1e-6; measured: at most 9.5e-7 absolute, 8.5e-5 relative where |expected| >=
 * 1e-3 (the diagnostics print each case). atol is ~10x the worst measured error. A real
 * mistake (a missing scale, a mask off by one position, a transposed gradient, a wrong head grouping)
 * changes values by O(0.1) or more.
 */
import { test } from 'node:test';
import '../src/ops/methods.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Generator } from '../src/tensor/random.js';
import { mul } from '../src/ops/elementwise.js';
import { sum } from '../src/ops/reduce.js';
import { scaledDotProductAttention } from '../src/attention/sdpa.js';
import { MultiHeadAttention } from '../src/attention/multi-head-attention.js';
import type { MaskAlign } from '../src/attention/masks.js';
import { loadFixture, toTensor, type FixtureCase } from './helpers/fixtures.js';
import { assertClose, type Tolerance } from './helpers/allclose.js';

const TOL: Tolerance = { rtol: 1e-4, atol: 1e-5 };
const fixture = loadFixture('attention.json');

/** Compares and tracks the worst errors of one case, for the diagnostic line. */
function checker(name: string) {
  let maxAbs = 0;
  let maxRel = 0;
  return {
    check(actual: Tensor, expected: Tensor, what: string): void {
      const r = assertClose(actual, expected, TOL, `${name}: ${what}`);
      maxAbs = Math.max(maxAbs, r.maxAbs);
      // Relative error only where |expected| >= 1e-3: some exact values are 0 (masked weights) or ~1e-8
      // rounding noise around 0 (k's bias gradient: softmax ignores a shift common to a row, so it is 0 in
      // exact arithmetic), where a relative error says nothing.
      for (let i = 0; i < expected.size; i++) {
        const e = expected.data[i];
        if (Math.abs(e) >= 1e-3) maxRel = Math.max(maxRel, Math.abs(actual.data[i] - e) / Math.abs(e));
      }
    },
    summary: () => `${name}: max abs error ${maxAbs.toExponential(2)}, max rel error ${maxRel.toExponential(2)} (where |expected| >= 1e-3)`,
  };
}

const sdpaCases = Object.entries(fixture.cases).filter(([n]) => n.startsWith('sdpa_'));
const mhaCases = Object.entries(fixture.cases).filter(([n]) => n.startsWith('mha_'));

test('attention fixtures are present', (t) => {
  t.diagnostic(`fixtures/attention.json from ${fixture.generator}, torch ${fixture.torch}: ${sdpaCases.length} sdpa cases, ${mhaCases.length} mha cases`);
  if (sdpaCases.length < 20 || mhaCases.length < 6) throw new Error('attention.json is missing cases: run ../shared/bin/torch-python fixtures/generate_attention.py');
});

for (const [name, c] of sdpaCases) {
  test(`parity ${name}`, (t) => {
    const q = toTensor(c.inputs.q, true);
    const k = toTensor(c.inputs.k, true);
    const v = toTensor(c.inputs.v, true);
    const w = toTensor(c.inputs.w);
    const mask = c.inputs.mask ? toTensor(c.inputs.mask, c.grads.mask !== undefined) : undefined;
    const p = c.params as { causal: boolean | MaskAlign; window: number | null; scale: number | null };
    const { output, weights } = scaledDotProductAttention(q, k, v, {
      causal: p.causal,
      mask,
      window: p.window ?? undefined,
      scale: p.scale ?? undefined,
      returnWeights: true,
    });
    sum(mul(output, w)).backward();
    const ck = checker(name);
    ck.check(output, toTensor(c.outputs.out), 'output');
    ck.check(weights, toTensor(c.outputs.weights), 'weights');
    ck.check(q.grad!, toTensor(c.grads.q), 'grad q');
    ck.check(k.grad!, toTensor(c.grads.k), 'grad k');
    ck.check(v.grad!, toTensor(c.grads.v), 'grad v');
    if (c.grads.mask) ck.check(mask!.grad!, toTensor(c.grads.mask), 'grad mask');
    t.diagnostic(ck.summary());
  });
}

/** The torch state dict stored in a case's inputs as "state.<name>". */
function torchState(c: FixtureCase): Map<string, Tensor> {
  return new Map(Object.entries(c.inputs).filter(([n]) => n.startsWith('state.')).map(([n, ft]) => [n.slice(6), toTensor(ft)]));
}

for (const [name, c] of mhaCases) {
  test(`parity ${name} (torch.nn.MultiheadAttention, batch_first)`, (t) => {
    const p = c.params as { numHeads: number; causal: boolean; averageWeights: boolean; selfAttention: boolean };
    const mha = MultiHeadAttention.fromTorchState(torchState(c), { numHeads: p.numHeads }).eval();
    const w = toTensor(c.inputs.w);
    let inputs: Record<string, Tensor>;
    let args: [Tensor, Tensor, Tensor];
    if (p.selfAttention) {
      const x = toTensor(c.inputs.x, true);
      inputs = { x };
      args = [x, x, x];
    } else {
      inputs = { query: toTensor(c.inputs.query, true), key: toTensor(c.inputs.key, true), value: toTensor(c.inputs.value, true) };
      args = [inputs.query, inputs.key, inputs.value];
    }
    const { output, weights } = mha.forward(...args, {
      keyMask: c.inputs.keyMask ? toTensor(c.inputs.keyMask) : undefined,
      mask: c.inputs.mask ? toTensor(c.inputs.mask) : undefined,
      causal: p.causal,
      needWeights: true,
      averageWeights: p.averageWeights,
    });
    sum(mul(output, w)).backward();
    const ck = checker(name);
    ck.check(output, toTensor(c.outputs.out), 'output');
    ck.check(weights!, toTensor(c.outputs.weights), 'weights');
    for (const [n, x] of Object.entries(inputs)) ck.check(x.grad!, toTensor(c.grads[n]), `grad ${n}`);
    const params = new Map(mha.namedParameters());
    for (const [n, g] of Object.entries(c.grads)) {
      if (n in inputs) continue;
      const param = params.get(n);
      if (!param) throw new Error(`${name}: no parameter '${n}' in MultiHeadAttention (have ${[...params.keys()].join(', ')})`);
      ck.check(param.grad!, toTensor(g), `grad ${n}`);
    }
    t.diagnostic(ck.summary());
  });
}

/**
 * Initialisation, against torch's own draws: the fixtures' MultiheadAttention weights are torch's initial
 * values (generate_attention.py only overwrites the biases, which torch sets to 0). _reset_parameters
 * draws xavier_uniform_ on the packed in_proj_weight [3E, E] (bound sqrt(6 / (E + 3E))) or on each of
 * q/k/v_proj_weight [E, in] (bound sqrt(6 / (E + in))), and leaves out_proj.weight as Linear made it
 * (bound 1/sqrt(E)). Torch's values must lie within those bounds and reach near them (>= 90%; the smallest
 * matrix has 24 values, so that fails by chance with probability 0.9^24 < 8%, and these draws are fixed),
 * and qkv's module of the same configuration must draw within the same bounds with zero biases.
 */
test('MultiHeadAttention initialisation has the bounds of torch.nn.MultiheadAttention._reset_parameters', (t) => {
  const maxAbs = (x: Tensor): number => x.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const lines: string[] = [];
  for (const [name, c] of mhaCases) {
    const state = torchState(c);
    const outW = state.get('out_proj.weight')!;
    const E = outW.shape[0];
    const packed = state.get('in_proj_weight');
    const kdim = packed ? E : state.get('k_proj_weight')!.shape[1];
    const vdim = packed ? E : state.get('v_proj_weight')!.shape[1];
    const ours = new MultiHeadAttention({ embedDim: E, numHeads: (c.params as { numHeads: number }).numHeads, kDim: kdim, vDim: vdim, bias: state.has('in_proj_bias'), generator: new Generator(E) });
    const pairs: [string, Tensor, Tensor[], number][] = packed
      ? [['in_proj_weight', packed, [ours.q.weight, ours.k.weight, ours.v.weight], Math.sqrt(6 / (E + 3 * E))]]
      : [
          ['q_proj_weight', state.get('q_proj_weight')!, [ours.q.weight], Math.sqrt(6 / (E + E))],
          ['k_proj_weight', state.get('k_proj_weight')!, [ours.k.weight], Math.sqrt(6 / (E + kdim))],
          ['v_proj_weight', state.get('v_proj_weight')!, [ours.v.weight], Math.sqrt(6 / (E + vdim))],
        ];
    pairs.push(['out_proj.weight', outW, [ours.out.weight], 1 / Math.sqrt(E)]);
    for (const [key, torchW, ourWs, bound] of pairs) {
      const tm = maxAbs(torchW);
      const om = Math.max(...ourWs.map(maxAbs));
      lines.push(`${name} ${key}: bound ${bound.toFixed(4)}, torch max ${tm.toFixed(4)}, qkv max ${om.toFixed(4)}`);
      if (!(tm <= Math.fround(bound) && tm >= 0.9 * bound)) throw new Error(`${name}: torch's ${key} max |w| ${tm} does not fit bound ${bound}: the bound formula is wrong`);
      if (!(om <= Math.fround(bound))) throw new Error(`${name}: qkv's weights for ${key} reach ${om} > torch's bound ${bound}`);
    }
    for (const lin of [ours.q, ours.k, ours.v, ours.out]) {
      if (lin.bias !== null && lin.bias.data.some((x) => x !== 0)) throw new Error(`${name}: qkv's biases must start at 0, as torch's in_proj_bias and out_proj.bias`);
    }
  }
  for (const line of lines) t.diagnostic(line);
});
