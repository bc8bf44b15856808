/**
 * Hugging Face GPT-2 checkpoints (src/models/gpt2-hf.ts) against an independent PyTorch forward:
 * fixtures/gpt2-tiny/ (config.json + model.safetensors in the Hub's layout: prefix-less names, Conv1D
 * weights [in, out], attn.bias buffers, no lm_head) and fixtures/gpt2.json, both written by
 * fixtures/generate_gpt2.py (plain torch, no transformers). A tiny random GPT-2 with the real vocabulary
 * (50257, so that GPT-2's tokenizer feeds it) and n_embd 16, 4 heads, 2 layers, 64 positions.
 *
 * What is compared, per position (full logits are too big to store; see the generator's docstring):
 * - the model's logits at 128 vocabulary ids (0..63, 63 spread ids, 50256) against torch's;
 * - every one of the 50257 logits against h · wte[v] rebuilt in float64 from torch's ln_f output h
 *   (stored, [B, T, 16]) and the checkpoint's wte: a check of the whole head and, through h, the trunk;
 * - the logsumexp over the vocabulary, the max, and the logit at torch's argmax.
 *
 * Tolerance: rtol 1e-5 with atol 1e-5 on logits of magnitude up to ~2.3. Both sides are float32 but sum
 * in different orders (PyTorch's blocked GEMMs and LayerNorm against qkv's float64-accumulating
 * kernels), so each op differs by about an ulp (6e-8 relative, 1.2e-7 to 2.4e-7 absolute at 1-2); two
 * layers of ~15 ops each, with LayerNorm dividing by a standard deviation, chain these to the measured
 * worst errors (printed by the diagnostics): 1.3e-6 on torch's logits at the stored ids, 2.3e-6 on all
 * logits against h · wteᵀ, 9e-7 on the logsumexp. 1e-5 leaves 4x headroom and stays far below any real
 * mistake: a transposed Conv1D, swapped q/k/v, a missing 1/sqrt(hd) or a position off by one change
 * logits by O(0.1-1), and even exact-erf GELU instead of gelu_new (the subtlest plausible slip, checked
 * below to be caught) moves them by 6e-4, 60x the tolerance. (Relative errors look large where a logit
 * is near zero; that is what atol is for.)
 * The KV-cached decode is compared with qkv's own full forward at atol 5e-6, rtol 1e-5: the same kernels
 * on the same numbers, differing only in which keys a softmax row sums over (a masked key weighs exactly 0
 * in the full forward, is absent with the cache) and in the matmul shapes. Measured: bit-identical (0) on
 * the reference backend, which rounds once from float64; up to 1.7e-6 absolute (logits of size ~0.01-1) on the wasm
 * backend, whose float32 SIMD kernels accumulate in a shape-dependent order (different tiles for 1 row
 * and for T rows). A cache bug (wrong position, stale key) moves logits by O(0.1).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, noGrad } from '../src/tensor/tensor.js';
import { concat, slice } from '../src/ops/shape.js';
import { FileFormatError } from '../src/io/file-format-error.js';
import { readSafetensors, writeSafetensors, type SafeTensorInput } from '../src/io/safetensors.js';
import { GPT } from '../src/models/gpt.js';
import { gptConfigFromHF, loadHFGpt2 } from '../src/models/gpt2-hf.js';
import { Gpt2Tokenizer } from '../src/tokenizers/gpt2.js';
import { loadFixture, toTensor, type FixtureCase } from './helpers/fixtures.js';
import { assertClose, compareClose, type Tolerance } from './helpers/allclose.js';

const LOGIT_TOL: Tolerance = { rtol: 1e-5, atol: 1e-5 };
const CACHE_TOL: Tolerance = { rtol: 1e-5, atol: 5e-6 };

const root = fileURLToPath(new URL('../../', import.meta.url));
const TINY = join(root, 'fixtures', 'gpt2-tiny');
const fixture = loadFixture('gpt2.json');
const CASES = Object.entries(fixture.cases);

let cached: ReturnType<typeof loadHFGpt2> | undefined;
const tiny = (): ReturnType<typeof loadHFGpt2> => (cached ??= loadHFGpt2(TINY));

const idsOf = (c: FixtureCase): Tensor => toTensor(c.inputs.ids);
const logitsOf = (model: GPT, ids: Tensor): Tensor => noGrad(() => model.forward(ids).logits);

/** The model's logits [B, T, V] gathered at `ids` per position: [B·T·ids.length] values. */
function gather(logits: Tensor, ids: number[]): Float32Array {
  const V = logits.shape[2];
  const rows = logits.size / V;
  const out = new Float32Array(rows * ids.length);
  for (let r = 0; r < rows; r++) for (let j = 0; j < ids.length; j++) out[r * ids.length + j] = logits.data[r * V + ids[j]];
  return out;
}

/** Every logit rebuilt in float64 from torch's ln_f output h [B, T, C] and a head matrix [V, C]. */
function rebuild(h: Tensor, head: Float32Array, V: number): Float64Array {
  const C = h.shape[2];
  const rows = h.size / C;
  const out = new Float64Array(rows * V);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += h.data[r * C + c] * head[v * C + c];
      out[r * V + v] = s;
    }
  }
  return out;
}

// ---------------------------------------------------------------- the config

test('gptConfigFromHF maps the tiny config.json to a GPTConfig', () => {
  const json: unknown = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
  assert.deepEqual(gptConfigFromHF(json, 'config.json'), {
    arch: 'gpt2', vocabSize: 50257, blockSize: 64, nLayer: 2, nHead: 4, nKVHead: 4, nEmbd: 16, ffnHidden: 64,
    dropout: 0, bias: true, activation: 'gelu_tanh', normEps: 1e-5, ropeTheta: 10000, tieWeights: true,
  });
  assert.deepEqual(tiny().config, gptConfigFromHF(json, 'config.json'));
});

test('gptConfigFromHF: GPT2Config defaults for missing keys, n_inner, gelu, untied head', () => {
  const c = gptConfigFromHF({ model_type: 'gpt2' }, 'c.json'); // openai-community/gpt2's shape
  assert.deepEqual([c.vocabSize, c.blockSize, c.nEmbd, c.nLayer, c.nHead, c.ffnHidden, c.activation, c.normEps, c.tieWeights], [50257, 1024, 768, 12, 12, 3072, 'gelu_tanh', 1e-5, true]);
  const d = gptConfigFromHF({ model_type: 'gpt2', n_embd: 8, n_head: 2, n_inner: 20, activation_function: 'gelu', tie_word_embeddings: false, layer_norm_epsilon: 1e-6 }, 'c.json');
  assert.deepEqual([d.ffnHidden, d.activation, d.tieWeights, d.normEps], [20, 'gelu', false, 1e-6]);
  assert.equal(gptConfigFromHF({ model_type: 'gpt2', activation_function: 'gelu_pytorch_tanh' }, 'c.json').activation, 'gelu_tanh');
});

test('gptConfigFromHF: one clear line naming the file for each unsupported config', () => {
  const bad: [unknown, RegExp][] = [
    [[1, 2], /must be a JSON object, found an array/],
    [{ n_embd: 16 }, /has no "model_type"; expected "gpt2"/],
    [{ model_type: 'gpt_neo' }, /model_type "gpt_neo" is not supported: only the GPT-2 family/],
    [{ model_type: 'gpt2', activation_function: 'relu' }, /activation_function "relu" is not supported \(supported: "gelu_new", "gelu_pytorch_tanh", "gelu"\)/],
    [{ model_type: 'gpt2', n_embd: 10, n_head: 4 }, /n_embd 10 is not divisible by n_head 4/],
    [{ model_type: 'gpt2', n_layer: '2' }, /"n_layer" must be a positive integer, found "2"/],
    [{ model_type: 'gpt2', n_inner: 0 }, /"n_inner" must be null or a positive integer, found 0/],
    [{ model_type: 'gpt2', layer_norm_epsilon: -1 }, /"layer_norm_epsilon" must be a positive number/],
    [{ model_type: 'gpt2', scale_attn_weights: false }, /scale_attn_weights false .* is not supported/],
    [{ model_type: 'gpt2', scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx true .* is not supported/],
    [{ model_type: 'gpt2', add_cross_attention: true }, /add_cross_attention true .* is not supported/],
    [{ model_type: 'gpt2', tie_word_embeddings: 'yes' }, /"tie_word_embeddings" must be true or false/],
  ];
  for (const [json, re] of bad) {
    assert.throws(() => gptConfigFromHF(json, 'dir/config.json'), (e: unknown) => {
      assert.ok(e instanceof FileFormatError, String(e));
      assert.equal(e.path, 'dir/config.json');
      assert.ok(e.message.startsWith('dir/config.json: '), e.message);
      assert.ok(!e.message.includes('\n'), e.message);
      assert.match(e.message, re);
      return true;
    });
  }
});

// ---------------------------------------------------------------- parity with PyTorch

test('logits equal the independent PyTorch forward (fixtures/gpt2.json)', (t) => {
  const { model } = tiny();
  const wte = model.transformer.wte.weight.data;
  const V = model.config.vocabSize;
  t.diagnostic(`fixtures/gpt2.json from ${fixture.generator}, torch ${fixture.torch}`);
  let worst = 0;
  for (const [name, c] of CASES) {
    const ids = idsOf(c);
    const logits = logitsOf(model, ids);
    assert.deepEqual(logits.shape, [...ids.shape, V], name);
    const vocabIds = c.params.vocab_ids as number[];
    // 1. torch's own logits at 128 ids of every position.
    const sub = assertClose(gather(logits, vocabIds), toTensor(c.outputs.logits_subset).data, LOGIT_TOL, `${name}: logits at vocab_ids`);
    // 2. all 50257 logits of every position against torch's h · wte.
    const full = assertClose(logits.data, rebuild(toTensor(c.outputs.hidden), wte, V), LOGIT_TOL, `${name}: every logit vs torch's h · wteᵀ`);
    // 3. per position: logsumexp, max, and our logit at torch's argmax is our max.
    const lse = toTensor(c.outputs.logsumexp).data;
    const mx = toTensor(c.outputs.max).data;
    const am = toTensor(c.outputs.argmax).data;
    const ourLse = new Float64Array(lse.length);
    const ourMax = new Float64Array(lse.length);
    for (let r = 0; r < lse.length; r++) {
      const row = logits.data.subarray(r * V, (r + 1) * V);
      let m = -Infinity;
      for (const v of row) m = Math.max(m, v);
      let s = 0;
      for (const v of row) s += Math.exp(v - m);
      ourLse[r] = m + Math.log(s);
      ourMax[r] = m;
      assert.ok(Math.abs(row[am[r]] - m) <= LOGIT_TOL.atol, `${name}: position ${r}: our logit at torch's argmax ${am[r]} is ${row[am[r]]}, our max ${m}`);
    }
    const l = assertClose(ourLse, lse, LOGIT_TOL, `${name}: logsumexp`);
    assertClose(ourMax, mx, LOGIT_TOL, `${name}: max`);
    const caseWorst = Math.max(sub.maxAbs, full.maxAbs, l.maxAbs);
    worst = Math.max(worst, caseWorst);
    t.diagnostic(
      `${name} ${JSON.stringify(ids.shape)}: max abs error: logits at vocab_ids ${sub.maxAbs.toExponential(2)}, all logits vs h·wteᵀ ${full.maxAbs.toExponential(2)} ` +
        `(max rel ${full.maxRel.toExponential(2)}), logsumexp ${l.maxAbs.toExponential(2)}`,
    );
  }
  t.diagnostic(`worst abs error of logits vs PyTorch: ${worst.toExponential(2)} (tolerance atol ${LOGIT_TOL.atol} + rtol ${LOGIT_TOL.rtol})`);
});

test('the fixture tells gelu_new from exact GELU: the same weights with activation gelu miss the tolerance', (t) => {
  const { model, config } = tiny();
  const erfModel = new GPT({ ...config, activation: 'gelu' });
  erfModel.loadStateDict(model.stateDict());
  const c = fixture.cases.random;
  const r = compareClose(gather(logitsOf(erfModel, idsOf(c)), c.params.vocab_ids as number[]), toTensor(c.outputs.logits_subset).data, LOGIT_TOL);
  t.diagnostic(`exact-erf GELU instead of gelu_new: max abs error ${r.maxAbs.toExponential(2)}`);
  assert.equal(r.ok, false);
  assert.ok(r.maxAbs > 10 * LOGIT_TOL.atol, `only ${r.maxAbs}`);
});

test("GPT-2's tokenizer encodes the sentence to the fixture's ids", () => {
  const c = fixture.cases.sentence;
  const text = c.params.text as string;
  assert.equal(text, 'Hello world, this is qkv.');
  const tok = new Gpt2Tokenizer();
  assert.deepEqual(tok.encode(text), Array.from(toTensor(c.inputs.ids).data));
  assert.equal(tok.vocabSize, tiny().config.vocabSize);
});

test('KV-cached decoding, one token at a time (and after a prefill), equals the full forward', (t) => {
  const { model } = tiny();
  for (const [name, c] of CASES) {
    const ids = idsOf(c);
    const T = ids.shape[1];
    const full = logitsOf(model, ids);
    const steps: Tensor[] = [];
    const cache = model.newCache();
    for (let i = 0; i < T; i++) steps.push(noGrad(() => model.forward(slice(ids, 1, i, i + 1), { cache }).logits));
    assert.equal(cache.length, T);
    const r = assertClose(concat(steps, 1), full, CACHE_TOL, `${name}: one token at a time`);
    // A prefill of several tokens, then single steps (the queries' causal mask aligned bottom-right).
    const p = Math.min(5, T - 1);
    const cache2 = model.newCache();
    const pre = noGrad(() => model.forward(slice(ids, 1, 0, p), { cache: cache2 }).logits);
    const rest = Array.from({ length: T - p }, (_, i) => noGrad(() => model.forward(slice(ids, 1, p + i, p + i + 1), { cache: cache2 }).logits));
    const r2 = assertClose(concat([pre, ...rest], 1), full, CACHE_TOL, `${name}: prefill ${p}, then one at a time`);
    // lastOnly: the last position's logits alone.
    assertClose(noGrad(() => model.forward(ids, { lastOnly: true }).logits), slice(full, 1, T - 1, T), CACHE_TOL, `${name}: lastOnly`);
    t.diagnostic(`${name}: KV-cached vs full forward: max abs diff ${r.maxAbs.toExponential(2)} (one at a time), ${r2.maxAbs.toExponential(2)} (after a prefill of ${p})`);
  }
});

// ---------------------------------------------------------------- other layouts

/** Temporary folders (a 3.3 MB checkpoint each), removed when the file's tests end. */
const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'qkv-gpt2-hf-'));
  made.push(d);
  return d;
};

/** The tiny checkpoint's tensors, as inputs for writeSafetensors. */
function tinyTensors(): Map<string, SafeTensorInput> {
  const out = new Map<string, SafeTensorInput>();
  for (const [name, t] of readSafetensors(join(TINY, 'model.safetensors')).tensors) out.set(name, { shape: t.shape, data: t.data });
  return out;
}

/** A folder with the tiny config (edited by `config`) and the given tensors (default: the tiny ones). */
function variant(opts: { tensors?: Map<string, SafeTensorInput>; config?: (c: Record<string, unknown>) => void } = {}): string {
  const dir = fresh();
  const c = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
  opts.config?.(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c, null, 2));
  writeSafetensors(join(dir, 'model.safetensors'), opts.tensors ?? tinyTensors());
  return dir;
}

test("save_pretrained's layout ('transformer.' prefix, lm_head.weight, no attn.bias buffers) loads the same model", () => {
  const prefixed = new Map<string, SafeTensorInput>();
  for (const [name, t] of tinyTensors()) if (!name.endsWith('.attn.bias')) prefixed.set(`transformer.${name}`, t);
  prefixed.set('lm_head.weight', prefixed.get('transformer.wte.weight')!);
  const { model } = loadHFGpt2(variant({ tensors: prefixed }));
  const a = model.stateDict();
  for (const [name, t] of tiny().model.stateDict()) assert.deepEqual(a.get(name)!.data, t.data, name);
  const ids = idsOf(fixture.cases.sentence);
  assert.deepEqual(logitsOf(model, ids).data, logitsOf(tiny().model, ids).data);
});

test('older exports: h.N.attn.masked_bias buffers are skipped too', () => {
  const tensors = tinyTensors();
  tensors.set('h.0.attn.masked_bias', { shape: [], data: Float32Array.of(-1e4) });
  tensors.set('h.1.attn.masked_bias', { shape: [], data: Float32Array.of(-1e4) });
  const { model } = loadHFGpt2(variant({ tensors }));
  assert.deepEqual(model.transformer.wte.weight.data, tiny().model.transformer.wte.weight.data);
});

test('tie_word_embeddings false: lm_head.weight is a separate head, and is required', () => {
  const tensors = tinyTensors();
  const wte = tensors.get('wte.weight')!.data;
  const head = Float32Array.from(wte, (v, i) => v * (1 + (i % 7) / 10) - 0.01);
  tensors.set('lm_head.weight', { shape: [50257, 16], data: head });
  const { model, config } = loadHFGpt2(variant({ tensors, config: (c) => (c.tie_word_embeddings = false) }));
  assert.equal(config.tieWeights, false);
  assert.notEqual(model.lm_head.weight, model.transformer.wte.weight);
  const c = fixture.cases.sentence;
  assertClose(logitsOf(model, idsOf(c)).data, rebuild(toTensor(c.outputs.hidden), head, 50257), LOGIT_TOL, 'untied head logits vs h · lm_headᵀ');
  expectFail(() => loadHFGpt2(variant({ config: (c) => (c.tie_word_embeddings = false) })), 'model.safetensors', /missing tensor 'lm_head\.weight': .*\(tie_word_embeddings false\)/);
});

// ---------------------------------------------------------------- errors

/** Asserts one line that starts with the path ending in `file` and matches `re`; FileFormatError when `format`. */
function expectFail(fn: () => unknown, file: string, re: RegExp, format = true): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, String(e));
    if (format) {
      assert.ok(e instanceof FileFormatError, `expected a FileFormatError, got ${e.name}: ${e.message}`);
      assert.ok(e.path.endsWith(file), `${e.path} names ${file}`);
    } else assert.ok(!(e instanceof FileFormatError), `${e.name}: ${e.message}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    assert.match(e.message.split(': ')[0], new RegExp(`${file.replace(/\./g, '\\.')}$`), `names ${file}: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

test('errors: a missing folder or file, each naming the path', () => {
  const dir = fresh();
  expectFail(() => loadHFGpt2(join(dir, 'nope')), 'nope', /no such folder \(expected a Hugging Face GPT-2 folder holding config.json and model.safetensors\)/, false);
  writeFileSync(join(dir, 'file'), '{}');
  expectFail(() => loadHFGpt2(join(dir, 'file')), 'file', /not a folder/, false);
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  expectFail(() => loadHFGpt2(empty), 'config.json', /missing: a Hugging Face GPT-2 folder holds config.json and model.safetensors/, false);
  copyFileSync(join(TINY, 'config.json'), join(empty, 'config.json'));
  expectFail(() => loadHFGpt2(empty), 'model.safetensors', /missing: a Hugging Face GPT-2 folder holds/, false);
  writeFileSync(join(empty, 'pytorch_model.bin'), '');
  expectFail(() => loadHFGpt2(empty), 'model.safetensors', /found pytorch_model.bin: only safetensors is read/, false);
});

test('errors: config.json not JSON, or not a supported GPT-2', () => {
  const dir = variant();
  writeFileSync(join(dir, 'config.json'), '{"model_type": "gpt2", "n_embd": 16,');
  expectFail(() => loadHFGpt2(dir), 'config.json', /not valid JSON \(.*\): the file is corrupt or not a Hugging Face config.json/);
  expectFail(() => loadHFGpt2(variant({ config: (c) => (c.model_type = 'gpt_neox') })), 'config.json', /model_type "gpt_neox" is not supported/);
  expectFail(() => loadHFGpt2(variant({ config: (c) => (c.activation_function = 'silu') })), 'config.json', /activation_function "silu" is not supported/);
});

test('errors: a tensor missing, unexpected or duplicated', () => {
  const drop = tinyTensors();
  drop.delete('h.1.mlp.c_fc.bias');
  expectFail(() => loadHFGpt2(variant({ tensors: drop })), 'model.safetensors', /missing tensor 'h\.1\.mlp\.c_fc\.bias' \(with or without the 'transformer\.' prefix\); check that .*config\.json \(vocab_size 50257, .*n_layer 2.*\) belongs to these weights/);
  const extra = tinyTensors();
  extra.set('h.0.attn.q_proj.weight', { shape: [16, 16], data: new Float32Array(256) });
  expectFail(() => loadHFGpt2(variant({ tensors: extra })), 'model.safetensors', /unexpected tensor 'h\.0\.attn\.q_proj\.weight': not part of a GPT-2 with this config/);
  const dup = tinyTensors();
  dup.set('transformer.wpe.weight', dup.get('wpe.weight')!);
  expectFail(() => loadHFGpt2(variant({ tensors: dup })), 'model.safetensors', /tensors 'transformer\.wpe\.weight' and 'wpe\.weight' are the same weight|tensors 'wpe\.weight' and 'transformer\.wpe\.weight' are the same weight/);
  // The config's n_layer disagrees with the weights: layer 2 missing, or layer 1 (and its buffer) unexpected.
  expectFail(() => loadHFGpt2(variant({ config: (c) => (c.n_layer = 3) })), 'model.safetensors', /missing tensors 'h\.2\.ln_1\.weight', .* and 6 more .*n_layer 3/);
  expectFail(() => loadHFGpt2(variant({ config: (c) => (c.n_layer = 1) })), 'model.safetensors', /unexpected tensors 'h\.1\.attn\.bias', 'h\.1\.attn\.c_attn\.bias', .*n_layer 1/);
});

test('errors: a shape that does not match the config names the tensor, both shapes and the mismatch', () => {
  // A valid safetensors file whose wpe has 32 positions (header and data consistent) under a 64-position config.
  const short = tinyTensors();
  short.set('wpe.weight', { shape: [32, 16], data: (short.get('wpe.weight')!.data as Float32Array).slice(0, 32 * 16) });
  const dir = variant({ tensors: short });
  assert.equal(readSafetensors(join(dir, 'model.safetensors')).tensors.get('wpe.weight')!.shape.join(), '32,16');
  expectFail(() => loadHFGpt2(dir), 'model.safetensors', /tensor 'wpe\.weight' has shape \[32, ?16\] but .*config\.json implies \[64, ?16\]: the config does not match the weights/);
  // The config is wider than the weights.
  expectFail(() => loadHFGpt2(variant({ config: (c) => (c.n_embd = 32) })), 'model.safetensors', /tensor 'wte\.weight' has shape \[50257, ?16\] but .* implies \[50257, ?32\]: the config does not match the weights \(.*n_embd 32/);
  // A Linear-layout ([out, in]) c_attn where Conv1D's [in, out] is expected.
  const linear = tinyTensors();
  const w = linear.get('h.0.attn.c_attn.weight')!;
  linear.set('h.0.attn.c_attn.weight', { shape: [48, 16], data: w.data as Float32Array });
  expectFail(() => loadHFGpt2(variant({ tensors: linear })), 'model.safetensors', /tensor 'h\.0\.attn\.c_attn\.weight' has shape \[48, ?16\] but .* implies \[16, ?48\]/);
});

test('errors: an lm_head.weight that is not wte under tied embeddings', () => {
  const tensors = tinyTensors();
  const wte = tensors.get('wte.weight')!;
  const head = (wte.data as Float32Array).slice();
  head[12345] += 1e-3;
  tensors.set('lm_head.weight', { shape: [50257, 16], data: head });
  expectFail(() => loadHFGpt2(variant({ tensors })), 'model.safetensors', /tensor 'lm_head\.weight' \[50257, ?16\] is not equal to wte\.weight .* ties them \(tie_word_embeddings true\)/);
});

test('errors: a truncated or corrupt model.safetensors (from readSafetensors)', () => {
  const dir = variant();
  const path = join(dir, 'model.safetensors');
  truncateSync(path, statSync(path).size - 1000);
  expectFail(() => loadHFGpt2(dir), 'model.safetensors', /truncated/);
  writeFileSync(path, 'not a safetensors file at all');
  expectFail(() => loadHFGpt2(dir), 'model.safetensors', /truncated or not a safetensors file/);
});
