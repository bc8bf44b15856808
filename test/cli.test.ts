import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

test('qkv demo: a short run prints progress, accuracy and an attention table', () => {
  const r = qkv('demo', '--steps', '20', '--length', '5');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /step 20\/20 loss \d+\.\d+ acc/);
  assert.match(r.stdout, /Token accuracy on 2000 unseen sequences: \d+\.\d+%/);
  assert.match(r.stdout, /Attention of layer \d head \d/);
  const table = r.stdout.split('q \\ k')[1];
  assert.equal(table.trim().split('\n').length, 6); // header line plus one row per query position
});
