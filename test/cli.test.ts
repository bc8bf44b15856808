import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const qkv = (...args: string[]) => spawnSync(process.execPath, [`${root}dist/src/cli/bin.js`, ...args], { encoding: 'utf8', timeout: 120_000 });

test('qkv --help and --version', () => {
  const help = qkv('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /qkv demo/);
  const v = qkv('--version');
  assert.equal(v.status, 0);
  assert.equal(v.stdout.trim(), JSON.parse(readFileSync(`${root}package.json`, 'utf8')).version);
  assert.match(qkv('demo', '--help').stdout, /--steps N/);
});

test('qkv: usage mistakes exit 2 with one clear line and where to read more', () => {
  const r = qkv('frobnicate');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'.*\nSee qkv --help\./s);
  for (const [args, message] of [
    [['--steps', 'ten'], /--steps must be an integer from 1 to 1000000000, got 'ten'/],
    [['--steps', '0x10'], /--steps must be an integer from 1 to 1000000000, got '0x10'/],
    [['--batch', '1e2'], /--batch must be an integer/],
    [['--seed', '4294967296'], /--seed must be an integer from 0 to 4294967295/],
    [['--dim', '30', '--heads', '4'], /--dim 30 must be divisible by --heads 4/],
    [['--lr', '0'], /--lr must be a positive number, got '0'/],
    [['--nope', '1'], /--nope/],
  ] as const) {
    const bad = qkv('demo', ...args);
    assert.equal(bad.status, 2, `${args.join(' ')}: ${bad.stderr}`);
    assert.match(bad.stderr, message);
    assert.match(bad.stderr, /See qkv demo --help\./);
  }
});

test('qkv demo: a diverging run fails with a clear line instead of printing NaN', () => {
  const d = qkv('demo', '--lr', '1e30', '--steps', '30', '--length', '4', '--out', join(tmpdir(), 'qkv-diverge'));
  assert.equal(d.status, 1);
  assert.match(d.stderr, /training diverged: the loss is NaN at step \d+/);
  assert.doesNotMatch(d.stdout, /NaN/);
});

test('importing the CLI module runs nothing; main() returns exit codes', async () => {
  const { main } = await import('../src/cli/main.js');
  assert.equal(await main(['--version']), 0);
  await assert.rejects(main(['nope']), /unknown command 'nope'/);
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
  assert.ok(r.stderr.includes(`cannot write pictures to --out directory ${join(file, 'pictures')}`), r.stderr);
  assert.doesNotMatch(r.stderr, /step/); // before any training
  assert.match(qkv('demo', '--help').stdout, /--out DIR/);
});
