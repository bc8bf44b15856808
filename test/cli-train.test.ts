import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = `${root}dist/src/cli/bin.js`;
const qkv = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });

function setup(): { dir: string; text: string; args: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'qkv-cli-train-'));
  const text = join(dir, 'text.txt');
  writeFileSync(text, Array.from({ length: 200 }, (_, i) => `the cat sat on the mat ${i % 5}.`).join('\n'));
  const args = [text, '--out-dir', join(dir, 'out'), '--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '16', '--batch-size', '4', '--eval-iters', '2', '--learning-rate', '1e-2'];
  return { dir, text, args };
}

test('qkv train then qkv sample: a model folder, a loss curve, progress, a streamed sample', () => {
  const { dir, args } = setup();
  const r = qkv('train', ...args, '--max_iters=30', '--lr-decay-iters', '30', '--eval-interval', '10', '--sample-tokens', '20', '--sample-prompt', 'the ');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /data: .*text\.txt: \d[\d,]* characters, \d[\d,]* tokens \(char, vocabulary \d+\)/);
  assert.match(r.stdout, /step 30: train loss \d\.\d{4}, val loss \d\.\d{4}/);
  assert.match(r.stdout, /Done: 30 steps in/);
  assert.match(r.stdout, /A sample from the saved model[^\n]*\n\nthe .{20}\n/s);
  assert.match(r.stderr, /step 30\/30 loss \d\.\d{4} lr [\d.e+-]+ \| [\d.]+k? tok\/s \| .* elapsed, 0s left/);
  for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'resume.json', 'loss.svg']) assert.ok(existsSync(join(dir, 'out', f)), f);
  const s = qkv('sample', '--model', join(dir, 'out'), '--prompt', 'the cat', '--max-new-tokens', '25', '--seed', '3', '--stop', '\n');
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /^the cat/);
  assert.match(s.stderr, /qkv model from .*: 1 layers, 2 heads, width 16, context 16/);
  assert.match(s.stderr, /tokens\/s, KV cache; stopped by (length|stop)/);
  const again = qkv('sample', '--model', join(dir, 'out'), '--prompt', 'the cat', '--max-new-tokens', '25', '--seed', '3', '--stop', '\n', '--no-cache');
  assert.equal(again.stdout, s.stdout, 'the KV cache does not change the text');
  const oov = qkv('sample', '--model', join(dir, 'out'), '--prompt', 'the dog!');
  assert.equal(oov.status, 1);
  assert.match(oov.stderr, /^qkv: the prompt cannot be encoded by this model's tokenizer: char tokenizer: character "d" \(U\+0064\) at character 4 .* not in the vocabulary/m);
  rmSync(dir, { recursive: true });
});

test('qkv train: Ctrl-C saves at the next step; --resume finishes with the uninterrupted loss curve', async () => {
  const { dir, args } = setup();
  const common = [...args, '--max-iters', '400', '--lr-decay-iters', '400', '--eval-interval', '100', '--sample-tokens', '0'];
  const straight = qkv('train', ...common, '--out-dir', join(dir, 'a'));
  assert.equal(straight.status, 0, straight.stderr);
  const child = spawn(process.execPath, [bin, 'train', ...common, '--out-dir', join(dir, 'b')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => {
    err += d;
    if (/step\s+\d+\/400/.test(err) && !child.killed) child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((res) => child.on('close', res));
  assert.equal(code, 130, `${out}\n${err}`);
  assert.match(out, /interrupted at step (\d+): the state is saved; continue with --resume/);
  assert.match(out, /Continue with: qkv train .* --resume/);
  const resumed = qkv('train', ...common, '--out-dir', join(dir, 'b'), '--resume');
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /resuming at step \d+ of 400/);
  const hist = (d: string) => (JSON.parse(readFileSync(join(dir, d, 'resume.json'), 'utf8')) as { history: unknown }).history;
  assert.deepEqual(hist('b'), hist('a'));
  assert.deepEqual(readFileSync(join(dir, 'b', 'model.safetensors')), readFileSync(join(dir, 'a', 'model.safetensors')));
  rmSync(dir, { recursive: true });
});

test('qkv train / sample: bad input gets one line and exit 1 (or 2 for a usage mistake)', () => {
  const { dir, args } = setup();
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '');
  const cases: [string[], RegExp, number][] = [
    [['train', empty], /empty\.txt.*empty/, 1],
    [['train', join(dir, 'missing.txt')], /missing\.txt.*no such file/, 1],
    [['train', ...args, '--max-iters', 'ten'], /--max-iters must be a number, got 'ten'/, 2],
    [['train', ...args, '--n-embd', '15'], /nEmbd 15 must be divisible by nHead 2/, 1],
    [['train', ...args, '--resume'], /nothing to resume/, 1],
    [['train', ...args, '--nope'], /Unknown option '--nope'/, 2],
    [['sample', '--model', join(dir, 'nowhere')], /nowhere: no such model folder/, 1],
  ];
  for (const [argv, message, status] of cases) {
    const r = qkv(...argv);
    assert.equal(r.status, status, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, argv.join(' '));
    assert.ok(r.stderr.trim().split('\n').length <= 2, `one line (plus a pointer to --help): ${r.stderr}`);
  }
  rmSync(dir, { recursive: true });
});

test('qkv sample reads a Hugging Face GPT-2 folder (the fixture checkpoint) with the GPT-2 tokenizer', () => {
  const r = qkv('sample', '--model', `${root}fixtures/gpt2-tiny`, '--prompt', 'Hello world', '--max-new-tokens', '5', '--temperature', '0');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /Hugging Face GPT-2 model from .*gpt2-tiny: 2 layers, 4 heads, width 16, context 64, vocabulary 50257/);
  assert.match(r.stdout, /^Hello world.+\n$/);
  const bad = qkv('sample', '--model', `${root}fixtures/gpt2-tiny`, '--temperature=-1');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--temperature must be a number >= 0/);
});
