import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const qkv = (...args: string[]) => spawnSync(process.execPath, [`${root}dist/src/cli/main.js`, ...args], { encoding: 'utf8', timeout: 120_000 });

test('qkv --help and --version', () => {
  const help = qkv('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /qkv demo/);
  const v = qkv('--version');
  assert.equal(v.status, 0);
  assert.equal(v.stdout.trim(), JSON.parse(readFileSync(`${root}package.json`, 'utf8')).version);
  assert.match(qkv('demo', '--help').stdout, /--steps N/);
});

test('qkv: unknown command and bad options get one clear line', () => {
  const r = qkv('frobnicate');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  const bad = qkv('demo', '--steps', 'ten');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--steps must be an integer >= 1, got 'ten'/);
  const heads = qkv('demo', '--dim', '30', '--heads', '4');
  assert.match(heads.stderr, /--dim 30 must be divisible by --heads 4/);
  const unknown = qkv('demo', '--nope', '1');
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /--nope/);
});

test('qkv demo: a short run prints progress, accuracy and an attention table, and draws pictures', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'qkv-cli-')), 'pictures'); // not there yet: the demo creates it
  const r = qkv('demo', '--steps', '20', '--length', '5', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /step 20\/20 loss \d+\.\d+ acc/);
  assert.match(r.stdout, /Token accuracy on 2000 unseen sequences: \d+\.\d+%/);
  assert.match(r.stdout, /Attention of layer \d head \d/);
  assert.match(r.stdout, /position i reads position 4-i\./);
  const table = r.stdout.split('q \\ k')[1].split('\n\n')[0];
  assert.equal(table.trim().split('\n').length, 6); // header line plus one row per query position
  assert.ok(r.stdout.includes(join(out, 'loss.svg')) && r.stdout.includes(join(out, 'attention.svg')), 'says where the pictures are');
  for (const name of ['loss.svg', 'attention.svg']) assert.ok(readFileSync(join(out, name), 'utf8').startsWith('<svg'), name);
  assert.deepEqual(readdirSync(out).sort(), ['attention-all.svg', 'attention.svg', 'loss.svg']); // no temporary files left
});

test('qkv demo: an unusable --out fails at once, naming the directory', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'qkv-cli-')), 'a-file');
  writeFileSync(file, '');
  const r = qkv('demo', '--out', join(file, 'pictures'));
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`cannot create --out directory ${join(file, 'pictures')}`), r.stderr);
  assert.doesNotMatch(r.stderr, /step/); // before any training
  assert.match(qkv('demo', '--help').stdout, /--out DIR/);
});
