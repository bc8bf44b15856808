import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, noGrad } from '../src/tensor/tensor.js';
import { Generator } from '../src/tensor/random.js';
import { GPT } from '../src/models/gpt.js';
import { resolveGPTConfig } from '../src/models/gpt-config.js';
import { gradcheck } from './helpers/gradcheck.js';
import { assertClose } from './helpers/allclose.js';

const ids = (B: number, T: number, V: number, seed: number) => Tensor.randint(0, V, [B, T], { generator: new Generator(seed) });
const tiny = { vocabSize: 11, blockSize: 12, nLayer: 2, nHead: 2, nEmbd: 8 };
const tinyLlama = { ...tiny, arch: 'llama' as const, nHead: 4, nKVHead: 2 };

test('GPT: nanoGPT names, tied head, 0.80M parameters for the Shakespeare CPU recipe', () => {
  const m = new GPT({ vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 }, { generator: new Generator(0) });
  // nanoGPT prints "number of parameters: 0.80M" for this config (it excludes wpe).
  assert.equal((m.countParameters() / 1e6).toFixed(2), '0.80');
  assert.equal(m.countParameters(false) - m.countParameters(), 64 * 128);
  const names = m.namedParameters().map(([n]) => n);
  assert.deepEqual(names.slice(0, 8), [
    'transformer.wte.weight', 'transformer.wpe.weight', 'transformer.h.0.ln_1.weight', 'transformer.h.0.ln_1.bias',
    'transformer.h.0.attn.c_attn.weight', 'transformer.h.0.attn.c_attn.bias', 'transformer.h.0.attn.c_proj.weight', 'transformer.h.0.attn.c_proj.bias',
  ]);
  assert.ok(!names.includes('lm_head.weight'), 'the tied head is counted once, under wte');
  assert.equal(m.lm_head.weight, m.transformer.wte.weight);
  assert.ok(m.stateDict().has('lm_head.weight'), 'the state dict still has both names, as nanoGPT');
});

test('GPT: initialisation as GPT-2 (N(0, 0.02), residual projections 0.02/sqrt(2L), zero biases, unit norms)', () => {
  const m = new GPT({ vocabSize: 500, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 }, { generator: new Generator(3) });
  const std = (t: Tensor) => {
    const d = t.data;
    let s = 0;
    let s2 = 0;
    for (const v of d) {
      s += v;
      s2 += v * v;
    }
    const mean = s / d.length;
    return Math.sqrt(s2 / d.length - mean * mean);
  };
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) / b < 0.05, `${what}: std ${a}, expected ${b}`);
  close(std(m.transformer.wte.weight), 0.02, 'wte');
  close(std(m.transformer.h[0].attn.c_attn.weight), 0.02, 'c_attn');
  close(std(m.transformer.h[2].mlp.c_fc.weight), 0.02, 'c_fc');
  close(std(m.transformer.h[1].attn.c_proj.weight), 0.02 / Math.sqrt(8), 'attn.c_proj');
  close(std(m.transformer.h[3].mlp.c_proj.weight), 0.02 / Math.sqrt(8), 'mlp.c_proj');
  assert.ok(m.transformer.h[0].attn.c_attn.bias!.data.every((v) => v === 0));
  assert.ok(m.transformer.ln_f.weight!.data.every((v) => v === 1));
  // At init the logits are near zero, so the loss is about ln(V).
  const { loss } = m.forward(ids(2, 16, 500, 1), { targets: ids(2, 16, 500, 2) });
  assert.ok(Math.abs(loss!.item() - Math.log(500)) < 0.05, `initial loss ${loss!.item()} vs ln(500) ${Math.log(500)}`);
});

for (const [name, cfg] of [['gpt2', tiny], ['llama (RMSNorm, RoPE, SwiGLU, GQA 4:2)', tinyLlama]] as const) {
  test(`GPT ${name}: causal (a token never changes the logits before it)`, () => {
    const m = new GPT(cfg, { generator: new Generator(1) });
    const a = ids(1, 10, 11, 5);
    const b = a.clone();
    (b.data as Float32Array)[6] = (a.data[6] + 1) % 11;
    const la = m.forward(a).logits.data;
    const lb = m.forward(b).logits.data;
    const V = 11;
    for (let t = 0; t < 10; t++) {
      const same = la.slice(t * V, (t + 1) * V).every((v, i) => v === lb[t * V + i]);
      assert.equal(same, t < 6, `position ${t}`);
    }
  });

  test(`GPT ${name}: the KV cache gives the logits of the full forward, one token at a time and in chunks`, () => {
    const m = new GPT(cfg, { generator: new Generator(2) });
    m.eval();
    const x = ids(2, 12, 11, 7);
    const full = noGrad(() => m.forward(x).logits);
    for (const chunks of [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [5, 1, 3, 3]]) {
      const cache = m.newCache();
      const re = new Float32Array(2 * 12 * 11); // [batch][pos][V], filled chunk by chunk
      let at = 0;
      for (const n of chunks) {
        const piece = new Float32Array(2 * n);
        for (let b = 0; b < 2; b++) for (let i = 0; i < n; i++) piece[b * n + i] = x.data[b * 12 + at + i];
        const out = noGrad(() => m.forward(new Tensor(piece, [2, n]), { cache }).logits.data);
        for (let b = 0; b < 2; b++) re.set(out.subarray(b * n * 11, (b + 1) * n * 11), (b * 12 + at) * 11);
        at += n;
      }
      assert.equal(cache.length, 12);
      // Same arithmetic on the same values except the order of the softmax rows' masked tail: 1e-6.
      assertClose(re, full.data, { rtol: 1e-5, atol: 1e-6 }, `cached logits, chunks ${chunks.join(',')}`);
    }
  });

  test(`GPT ${name}: gradients of the loss match finite differences`, () => {
    const m = new GPT({ ...cfg, blockSize: 6 }, { generator: new Generator(4) });
    // Larger weights than the init so that every path carries a gradient finite differences can see.
    for (const p of m.parameters()) for (let i = 0; i < p.size; i++) (p.data as Float32Array)[i] += 0.3 * Math.sin(i * 1.7 + p.size);
    const x = ids(2, 6, 11, 8);
    const y = ids(2, 6, 11, 9);
    const params = m.parameters();
    gradcheck(() => m.forward(x, { targets: y }).loss!, params, { maxElements: 6, h: 1e-2 });
  });
}

test('GPT: a context longer than blockSize is a clear error; lastOnly gives the last row', () => {
  const m = new GPT(tiny, { generator: new Generator(1) });
  assert.throws(() => m.forward(ids(1, 13, 11, 1)), /13 tokens exceed the model's context \(blockSize 12\); crop the input to the last 12 tokens/);
  const cache = m.newCache();
  m.forward(ids(1, 10, 11, 1), { cache });
  assert.throws(() => m.forward(ids(1, 3, 11, 1), { cache }), /10 cached \+ 3 tokens exceed the model's context/);
  const x = ids(2, 7, 11, 3);
  const all = m.forward(x).logits;
  const last = m.forward(x, { lastOnly: true }).logits;
  assert.deepEqual(last.shape, [2, 1, 11]);
  for (let b = 0; b < 2; b++) assert.deepEqual([...last.data.slice(b * 11, b * 11 + 11)], [...all.data.slice((b * 7 + 6) * 11, (b * 7 + 7) * 11)]);
});

test('GPT config: bad values are refused with one line naming the field', () => {
  assert.throws(() => resolveGPTConfig({ vocabSize: 10, nEmbd: 30, nHead: 4 }), /nEmbd 30 must be divisible by nHead 4/);
  assert.throws(() => resolveGPTConfig({ vocabSize: 10, nKVHead: 2 }), /grouped-query attention needs arch 'llama'/);
  assert.throws(() => resolveGPTConfig({ vocabSize: 10, arch: 'llama', nHead: 4, nKVHead: 3 }), /nKVHead 3 must divide nHead 4/);
  assert.throws(() => resolveGPTConfig({ vocabSize: 10, n_layer: 3 }), /unknown config key 'n_layer'/);
  assert.throws(() => resolveGPTConfig({ vocabSize: 0 }), /vocabSize must be an integer >= 1, got 0/);
  assert.throws(() => resolveGPTConfig({ vocabSize: 5, dropout: 1 }), /dropout must be a number in \[0, 1\)/);
});

test('GPT: trains (the loss on a repeated batch falls far below ln V)', () => {
  const m = new GPT({ ...tiny, nEmbd: 16 }, { generator: new Generator(5) });
  const x = ids(4, 12, 11, 10);
  const y = ids(4, 12, 11, 11);
  const params = m.parameters();
  let first = 0;
  let last = 0;
  for (let s = 0; s < 60; s++) {
    const { loss } = m.forward(x, { targets: y });
    if (s === 0) first = loss!.item();
    last = loss!.item();
    loss!.backward();
    for (const p of params) {
      const g = p.grad!.data;
      const d = p.data as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] -= 0.5 * g[i];
      p.markModified();
      p.zeroGrad();
    }
  }
  assert.ok(first > 2.2 && last < 1.0, `loss ${first} -> ${last}`);
});

test("GPT: a training step gives the same loss and gradients, bit for bit, on the 'js' and 'reference' backends", async () => {
  const { setBackend } = await import('../src/backend/backend.js');
  await import('../src/backend/js/index.js');
  const run = (name: string) => {
    const prev = setBackend(name);
    try {
      const m = new GPT({ vocabSize: 30, blockSize: 32, nLayer: 2, nHead: 4, nEmbd: 64 }, { generator: new Generator(6) });
      const { loss } = m.forward(ids(4, 32, 30, 1), { targets: ids(4, 32, 30, 2) });
      loss!.backward();
      return [loss!.data, ...m.parameters().map((p) => p.grad!.data)];
    } finally {
      setBackend(prev);
    }
  };
  const ref = run('reference');
  const js = run('js');
  ref.forEach((a, i) => assert.deepEqual(js[i], a, `tensor ${i}`));
});
