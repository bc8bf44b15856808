/** The README's API tour is executable: this test runs it against the built package. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('README API tour runs and its stated shapes hold', async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const tour = readme.split('## API tour')[1];
  const code = /```ts\n([\s\S]*?)```/.exec(tour)?.[1];
  assert.ok(code, 'README has a ```ts block under "## API tour"');
  const index = pathToFileURL(join(root, 'dist/src/index.js')).href;
  // The tour is plain JavaScript apart from the import path; append checks of the shapes its comments state.
  const program = `${code.replace("from 'qkv'", `from '${index}'`)}
export const results = { x, w, output, weights, r };`;
  const dir = mkdtempSync(join(tmpdir(), 'qkv-readme-'));
  const file = join(dir, 'tour.mjs');
  writeFileSync(file, program);
  const { results } = await import(pathToFileURL(file).href);
  assert.deepEqual([...results.x.grad.shape], [2, 5, 16]);
  assert.deepEqual([...results.w.grad.shape], [16, 16]);
  assert.deepEqual([...results.output.shape], [2, 4, 5, 8]);
  assert.deepEqual([...results.weights.shape], [2, 4, 5, 5]);
  for (let row = 0; row < 2 * 4 * 5; row++) {
    let s = 0;
    for (let j = 0; j < 5; j++) s += results.weights.data[row * 5 + j];
    assert.ok(Math.abs(s - 1) < 1e-6, `weights row ${row} sums to ${s}`);
    for (let j = (row % 5) + 1; j < 5; j++) assert.equal(results.weights.data[row * 5 + j], 0);
  }
  assert.deepEqual([...results.r.output.shape], [2, 5, 16]);
  assert.deepEqual([...results.r.weights.shape], [2, 5, 5]);
  // keyMask: the first sequence's keys 3 and 4 are padding, so they get no weight.
  for (let i = 0; i < 5; i++) assert.equal(results.r.weights.data[i * 5 + 3] + results.r.weights.data[i * 5 + 4], 0);
});

test('README GPT example runs and its stated shapes hold', async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme.split('## Training a GPT')[1])?.[1];
  assert.ok(code, 'README has a ```ts block under "## Training a GPT"');
  const index = pathToFileURL(join(root, 'dist/src/index.js')).href;
  const program = `${code.replace("from 'qkv'", `from '${index}'`)}\nexport const results = { tok, model, logits, loss, out };`;
  const dir = mkdtempSync(join(tmpdir(), 'qkv-readme-'));
  const file = join(dir, 'gpt.mjs');
  writeFileSync(file, program);
  const { results } = await import(pathToFileURL(file).href);
  assert.deepEqual([...results.logits.shape], [1, 32, results.tok.vocabSize]);
  assert.ok(Math.abs(results.loss.item() - Math.log(results.tok.vocabSize)) < 0.1);
  assert.ok(results.model.transformer.wte.weight.grad !== null);
  assert.equal(results.out.text.length, 40);
});
