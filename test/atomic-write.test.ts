import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../src/io/atomic-write.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'qkv-atomic-'));

test('writeFileAtomic: strings and bytes round trip, and leave no temporary file', () => {
  const dir = fresh();
  const text = join(dir, 'a.txt');
  writeFileAtomic(text, 'héllo\n');
  assert.equal(readFileSync(text, 'utf8'), 'héllo\n');
  const bin = join(dir, 'b.bin');
  const bytes = new Uint8Array([0, 1, 2, 255, 128]);
  writeFileAtomic(bin, bytes);
  assert.deepEqual(new Uint8Array(readFileSync(bin)), bytes);
  writeFileAtomic(join(dir, 'empty'), '');
  assert.equal(readFileSync(join(dir, 'empty'), 'utf8'), '');
  assert.deepEqual(readdirSync(dir).sort(), ['a.txt', 'b.bin', 'empty']);
});

test('writeFileAtomic: replaces an existing file', () => {
  const dir = fresh();
  const file = join(dir, 'f.svg');
  writeFileSync(file, 'old content that is longer than the new');
  writeFileAtomic(file, 'new');
  assert.equal(readFileSync(file, 'utf8'), 'new');
  assert.deepEqual(readdirSync(dir), ['f.svg']);
});

test('writeFileAtomic: creates parent directories only when asked', () => {
  const dir = fresh();
  const nested = join(dir, 'x', 'y', 'z.txt');
  assert.throws(() => writeFileAtomic(nested, 'a'), (e: Error) => e.message.includes(nested) && /ENOENT/.test(e.message));
  writeFileAtomic(nested, 'a', { mkdir: true });
  assert.equal(readFileSync(nested, 'utf8'), 'a');
});

test('writeFileAtomic: an unwritable location throws an error naming the path and the cause, leaving nothing', () => {
  const dir = fresh();
  const blocker = join(dir, 'plain-file');
  writeFileSync(blocker, 'I am a file, not a directory');
  const target = join(blocker, 'out.svg');
  for (const mkdir of [false, true]) {
    assert.throws(
      () => writeFileAtomic(target, 'data', { mkdir }),
      (e: Error) => e.message.startsWith(`cannot write ${target}: `) && /ENOTDIR|EEXIST/.test(e.message) && e.cause instanceof Error,
    );
  }
  // A directory in the target's place: the rename fails after the temporary was written; it is removed.
  const taken = join(dir, 'taken');
  writeFileAtomic(join(taken, 'inner'), 'x', { mkdir: true });
  assert.throws(() => writeFileAtomic(taken, 'data'), (e: Error) => e.message.includes(taken));
  assert.deepEqual(readdirSync(dir).sort(), ['plain-file', 'taken']);
  assert.equal(readFileSync(blocker, 'utf8'), 'I am a file, not a directory');
});
