import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync, statSync, truncateSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, noGrad } from '../src/tensor/tensor.js';
import { learningRateAt } from '../src/train/lr-schedule.js';
import { train } from '../src/train/trainer.js';
import { loadCheckpoint, modelTensors } from '../src/train/checkpoint.js';
import type { TrainOptions } from '../src/train/train-options.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'qkv-train-'));

/** Some text with structure a tiny model picks up in a few steps. */
function corpus(dir: string): string {
  const lines: string[] = [];
  for (let i = 0; i < 300; i++) lines.push(`the cat sat on the mat ${i % 7}. a dog ran.`);
  const f = join(dir, 'text.txt');
  writeFileSync(f, lines.join('\n'));
  return f;
}

const small = (dir: string, file: string): Partial<TrainOptions> => ({
  outDir: join(dir, 'out'), files: [file], nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16, batchSize: 4,
  maxIters: 12, lrDecayIters: 12, warmupIters: 2, evalInterval: 4, evalIters: 2, learningRate: 1e-2, minLr: 1e-3, seed: 7,
});

test("learning rate: nanoGPT's warm-up and cosine schedule", () => {
  const s = { learningRate: 1e-3, warmupIters: 100, lrDecayIters: 2000, minLr: 1e-4, decayLr: true };
  assert.equal(learningRateAt(0, s), 1e-3 / 101);
  assert.equal(learningRateAt(99, s), (1e-3 * 100) / 101);
  assert.equal(learningRateAt(100, s), 1e-3); // cos(0) = 1
  assert.ok(Math.abs(learningRateAt(1050, s) - 5.5e-4) < 1e-15); // half way: the mean of the two
  assert.ok(Math.abs(learningRateAt(2000, s) - 1e-4) < 1e-18);
  assert.equal(learningRateAt(2001, s), 1e-4);
  assert.equal(learningRateAt(5, { ...s, decayLr: false }), 1e-3);
});

test('train: loss falls, the model folder loads back with the same logits, the loss curve is drawn', async () => {
  const dir = tmp();
  const opts = small(dir, corpus(dir));
  const r = await train({ ...opts, maxIters: 40, lrDecayIters: 40, evalInterval: 20 });
  assert.equal(r.steps, 40);
  assert.deepEqual(r.history.evals.map((e) => e.step), [0, 20, 40]);
  const [e0, , e2] = r.history.evals;
  assert.ok(e2.val < e0.val - 1, `val loss ${e0.val} -> ${e2.val}`);
  const files = readdirSync(opts.outDir!).sort();
  for (const f of ['config.json', 'loss.svg', 'model.safetensors', 'resume.json', 'tokenizer.json']) assert.ok(files.includes(f), `${f} in ${files}`);
  assert.equal(files.filter((f) => /^resume-\d+\.safetensors$/.test(f)).length, 1, 'old resume weights are removed');
  assert.match(readFileSync(join(opts.outDir!, 'loss.svg'), 'utf8'), /<svg[\s\S]*val \(eval\)/);
  // The saved model is the best one (the last eval here improved), so its logits equal the trained model's.
  const { model, tokenizer } = loadCheckpoint(opts.outDir!);
  const x = new Tensor(Float32Array.from(tokenizer.encode('the cat sat on')), [1, 14]);
  r.model.eval();
  const a = noGrad(() => r.model.forward(x).logits.data);
  const b = noGrad(() => model.forward(x).logits.data);
  assert.deepEqual([...b], [...a]);
  rmSync(dir, { recursive: true });
});

test('train --resume: an interrupted run continues bit for bit (losses, evals, weights)', async () => {
  const dir = tmp();
  const file = corpus(dir);
  const straight = await train({ ...small(dir, file), outDir: join(dir, 'a') });
  const controller = new AbortController();
  const first = await train({ ...small(dir, file), outDir: join(dir, 'b') }, { signal: controller.signal, onStep: (s) => s.step === 6 && controller.abort() });
  assert.equal(first.interrupted, true);
  assert.equal(first.steps, 6);
  const resumed = await train({ ...small(dir, file), outDir: join(dir, 'b') }, {}, true);
  assert.equal(resumed.steps, 12);
  assert.deepEqual(resumed.history.loss, straight.history.loss, 'per-step losses');
  assert.deepEqual(resumed.history.evals, straight.history.evals, 'evaluations');
  const wa = modelTensors(straight.model);
  for (const [name, t] of modelTensors(resumed.model)) assert.deepEqual([...t.data], [...wa.get(name)!.data], name);
  // Options that would change the run are refused on resume; more steps are allowed.
  await assert.rejects(() => train({ ...small(dir, file), outDir: join(dir, 'b'), learningRate: 0.5 }, {}, true), /learningRate was 0\.01 in the saved run and is 0\.5 now/);
  const longer = await train({ ...small(dir, file), outDir: join(dir, 'b'), maxIters: 14 }, {}, true);
  assert.equal(longer.steps, 14);
  rmSync(dir, { recursive: true });
});

test('train: bad input gets one clear line, and a failed resume leaves the saved files as they were', async () => {
  const dir = tmp();
  const file = corpus(dir);
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '');
  await assert.rejects(() => train({ ...small(dir, empty) }), /empty\.txt.*empty/);
  const short = join(dir, 'short.txt');
  writeFileSync(short, 'hello world, not much text here at all');
  await assert.rejects(() => train({ ...small(dir, short) }), /split \(\d+ tokens\) is shorter than one block of 17: use more text or a smaller --block-size/);
  const latin1 = join(dir, 'latin1.txt');
  writeFileSync(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f, 0x6b]));
  await assert.rejects(() => train({ ...small(dir, latin1) }), /latin1\.txt.*not valid UTF-8.*byte offset 3/);
  await assert.rejects(() => train({ ...small(dir, join(dir, 'nope.txt')) }), /nope\.txt.*no such file/);
  await assert.rejects(() => train({ ...small(dir, file), outDir: join(dir, 'never') }, {}, true), /nothing to resume|no such|missing/);

  // A run, then damage to its resume weights: resume refuses, and touches nothing.
  const out = join(dir, 'c');
  await train({ ...small(dir, file), outDir: out });
  const weights = readdirSync(out).find((f) => f.startsWith('resume-'))!;
  const before = Object.fromEntries(readdirSync(out).map((f) => [f, readFileSync(join(out, f))]));
  truncateSync(join(out, weights), statSync(join(out, weights)).size - 10);
  const damaged = readFileSync(join(out, weights));
  await assert.rejects(() => train({ ...small(dir, file), outDir: out, maxIters: 20 }, {}, true), new RegExp(`${weights}: is damaged: its SHA-256`));
  for (const [f, bytes] of Object.entries(before)) assert.deepEqual(readFileSync(join(out, f)), f === weights ? damaged : bytes, f);
  rmSync(dir, { recursive: true });
});

test('loadCheckpoint: missing, truncated and mismatched folders are reported by file', async () => {
  const dir = tmp();
  const out = join(dir, 'm');
  await train({ ...small(dir, corpus(dir)), outDir: out, maxIters: 4, evalInterval: 4 });
  assert.throws(() => loadCheckpoint(join(dir, 'nothing')), /nothing: no such model folder/);
  // config that does not match the weights
  const cfgPath = join(out, 'config.json');
  const cfg = readFileSync(cfgPath, 'utf8');
  writeFileSync(cfgPath, cfg.replace('"nEmbd": 16', '"nEmbd": 32'));
  assert.throws(() => loadCheckpoint(out), /model\.safetensors: tensor 'transformer\.wte\.weight' is \[\d+,16\] in the file but the config needs \[\d+,32\]; the config does not match the weights/);
  writeFileSync(cfgPath, '{"format": "qkv-gpt", ');
  assert.throws(() => loadCheckpoint(out), /config\.json: config\.json is not valid JSON/);
  writeFileSync(cfgPath, cfg);
  const w = join(out, 'model.safetensors');
  truncateSync(w, statSync(w).size - 100);
  assert.throws(() => loadCheckpoint(out), /model\.safetensors.*truncated/);
  rmSync(w);
  assert.throws(() => loadCheckpoint(out), /model\.safetensors: missing/);
  rmSync(dir, { recursive: true });
});

test('train --resume with more steps: an earlier run that ended off the eval interval continues exactly', async () => {
  const dir = tmp();
  const file = corpus(dir);
  const opts = { ...small(dir, file), lrDecayIters: 16 };
  const straight = await train({ ...opts, outDir: join(dir, 'a'), maxIters: 16 });
  const short = await train({ ...opts, outDir: join(dir, 'b'), maxIters: 10 });
  assert.deepEqual(short.history.evals.map((e) => e.step), [0, 4, 8, 10]);
  const resumed = await train({ ...opts, outDir: join(dir, 'b'), maxIters: 16 }, {}, true);
  assert.deepEqual(resumed.history.loss, straight.history.loss);
  assert.deepEqual(resumed.history.evals, straight.history.evals, 'the eval at step 10 is not part of the longer run');
  rmSync(dir, { recursive: true });
});

test('train: a new run in a used folder removes the old weights first; llama has no biases by default', async () => {
  const dir = tmp();
  const file = corpus(dir);
  const out = join(dir, 'o');
  await train({ ...small(dir, file), outDir: out, maxIters: 4, evalInterval: 4 });
  const controller = new AbortController();
  controller.abort(); // stopped before its first step: the folder must hold this run's weights, not the old ones
  const r = await train({ ...small(dir, file), outDir: out, nEmbd: 32, seed: 9 }, { signal: controller.signal });
  assert.equal(r.steps, 0);
  const { model } = loadCheckpoint(out);
  assert.equal(model.config.nEmbd, 32);
  const llama = await train({ ...small(dir, file), outDir: join(dir, 'l'), arch: 'llama', maxIters: 2, evalInterval: 2 });
  assert.equal(llama.config.bias, false);
  assert.ok(llama.model.namedParameters().every(([n]) => !n.endsWith('.bias')));
  rmSync(dir, { recursive: true });
});
