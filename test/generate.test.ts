import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../src/tensor/random.js';
import { GPT } from '../src/models/gpt.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { generate, logitsStepper } from '../src/generate/generate.js';
import { sampleToken, checkSamplingOptions } from '../src/generate/sampling.js';
import { assertClose } from './helpers/allclose.js';

const tok = CharTokenizer.fromText('abcdefghij .\n');
const model = (arch: 'gpt2' | 'llama' = 'gpt2', blockSize = 24) =>
  new GPT({ arch, vocabSize: tok.vocabSize, blockSize, nLayer: 2, nHead: 2, nEmbd: 16 }, { generator: new Generator(3) });

test('sampleToken: greedy is argmax; top-k 1 and a tiny top-p are greedy too; frequencies follow the softmax', () => {
  const logits = Float32Array.from([0.1, 2, -1, 2.5, 0]);
  const g = new Generator(1);
  assert.equal(sampleToken(logits, g, { temperature: 0 }), 3);
  for (let i = 0; i < 20; i++) {
    assert.equal(sampleToken(logits, g, { topK: 1 }), 3);
    assert.equal(sampleToken(logits, g, { topP: 0.01 }), 3);
  }
  const counts = new Array(5).fill(0);
  const n = 20000;
  for (let i = 0; i < n; i++) counts[sampleToken(logits, g)]++;
  const z = [...logits].map(Math.exp);
  const sum = z.reduce((a, b) => a + b);
  z.forEach((p, i) => assert.ok(Math.abs(counts[i] / n - p / sum) < 0.015, `token ${i}: ${counts[i] / n} vs ${p / sum}`));
  // top-k 2 keeps only ids 1 and 3; top-p 0.7 keeps 3 (0.47 of the mass) and 1 (0.29).
  for (let i = 0; i < 500; i++) {
    assert.ok([1, 3].includes(sampleToken(logits, g, { topK: 2 })));
    assert.ok([1, 3].includes(sampleToken(logits, g, { topP: 0.7 })));
  }
  assert.throws(() => sampleToken(Float32Array.from([0, NaN, 1]), g), /NaN logit \(token 1\)/);
  assert.equal(sampleToken(logits, g, { temperature: 1e-310 }), 3, 'a temperature that overflows the logits is greedy');
  assert.throws(() => checkSamplingOptions({ temperature: -1 }), /temperature must be a number >= 0/);
  assert.throws(() => checkSamplingOptions({ topK: 0 }), /topK must be a positive integer/);
  assert.throws(() => checkSamplingOptions({ topP: 0 }), /topP must be a number in \(0, 1\]/);
});

for (const arch of ['gpt2', 'llama'] as const) {
  test(`generate (${arch}): with and without the KV cache, the same logits at every step and the same text, past the context length too`, () => {
    const m = model(arch);
    m.eval();
    const withCache = logitsStepper(m, true);
    const without = logitsStepper(m, false);
    const ids = tok.encode('abc');
    const g = new Generator(9);
    for (let s = 0; s < 40; s++) {
      // 3 + 40 > blockSize 24: the context slides and the cached path must follow.
      const a = withCache(ids);
      const b = without(ids);
      assertClose(a, b, { rtol: 1e-5, atol: 1e-6 }, `step ${s}`);
      ids.push(sampleToken(b, g));
    }
    const r1 = generate(m, tok, 'abc', { maxNewTokens: 40, seed: 5 });
    const r2 = generate(m, tok, 'abc', { maxNewTokens: 40, seed: 5, cache: false });
    assert.equal(r1.text, r2.text);
    assert.equal(r1.newTokens, 40);
    assert.equal(r1.text.length, 40);
  });
}

test('generate: stop strings cut the text, streaming pieces add up to the result, bad prompts are refused', () => {
  const m = model();
  const full = generate(m, tok, 'a', { maxNewTokens: 60, seed: 2, temperature: 2 }).text;
  // Pick a stop string that occurs in the unconstrained sample, then stop on it.
  const at = 20;
  const stop = full.slice(at, at + 2);
  const first = full.indexOf(stop);
  const pieces: string[] = [];
  const r = generate(m, tok, 'a', { maxNewTokens: 60, seed: 2, temperature: 2, stop: [stop], onText: (t) => pieces.push(t) });
  assert.equal(r.stoppedBy, 'stop');
  assert.equal(r.text, full.slice(0, first));
  assert.equal(pieces.join(''), r.text);
  const streamed: string[] = [];
  const r2 = generate(m, tok, 'a', { maxNewTokens: 30, seed: 4, onText: (t) => streamed.push(t) });
  assert.equal(streamed.join(''), r2.text);
  assert.ok(streamed.length >= 20, 'text arrives token by token');
  assert.throws(() => generate(m, tok, 'abcZ'), /character "Z" \(U\+005A\) at character 3 .* not in the vocabulary/);
  assert.throws(() => generate(m, tok, 'a', { maxNewTokens: -1 }), /maxNewTokens must be an integer >= 0/);
  // An empty prompt starts from a newline (no end-of-text token in a char vocabulary).
  assert.equal(generate(m, tok, '', { maxNewTokens: 3 }).ids[0], tok.encode('\n')[0]);
});
