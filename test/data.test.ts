import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTextFiles, firstInvalidUtf8 } from '../src/data/text-files.js';
import { loadBrownCorpus, brownCorpusFiles, brownFileToText } from '../src/data/brown.js';
import { splitTokens, sampleBatch } from '../src/data/batches.js';
import { Generator } from '../src/tensor/random.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'qkv-data-'));

test('readTextFiles: one file, BOM stripped, two files joined with a newline', () => {
  const dir = fresh();
  const a = join(dir, 'a.txt');
  const b = join(dir, 'b.txt');
  const bom = join(dir, 'bom.txt');
  writeFileSync(a, 'héllo 🤗\n');
  writeFileSync(b, 'second');
  writeFileSync(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('with bom')]));
  assert.equal(readTextFiles([a]), 'héllo 🤗\n');
  assert.equal(readTextFiles([bom]), 'with bom');
  assert.equal(readTextFiles([b, b]), 'second\nsecond');
  assert.equal(readTextFiles([a, b, bom]), 'héllo 🤗\n\nsecond\nwith bom');
});

test('readTextFiles: errors name the file, one line each', () => {
  const dir = fresh();
  const bad = join(dir, 'latin1.txt');
  writeFileSync(bad, Buffer.concat([Buffer.from('ok line\ncaf'), Buffer.from([0xe9]), Buffer.from(' au lait')]));
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '');
  const onlyBom = join(dir, 'only-bom.txt');
  writeFileSync(onlyBom, Buffer.from([0xef, 0xbb, 0xbf]));
  const sub = join(dir, 'sub');
  mkdirSync(sub);
  const missing = join(dir, 'nope.txt');
  const oneLine = (re: RegExp) => (e: Error) => {
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  };
  assert.throws(() => readTextFiles([bad]), oneLine(new RegExp(`^${escape(bad)}: not valid UTF-8: .*byte offset 11 \\(line 2\\).*\\(e9 20 61 75\\)`)));
  assert.throws(() => readTextFiles([empty]), oneLine(new RegExp(`^${escape(empty)}: the file is empty$`)));
  assert.throws(() => readTextFiles([onlyBom]), oneLine(/only-bom\.txt: the file is empty \(it holds only a UTF-8 byte order mark\)/));
  assert.throws(() => readTextFiles([sub]), oneLine(new RegExp(`^${escape(sub)}: is a directory`)));
  assert.throws(() => readTextFiles([missing]), oneLine(new RegExp(`^${escape(missing)}: no such file$`)));
  assert.throws(() => readTextFiles([]), /no files given/);
  // the first bad file stops the read, named
  const good = join(dir, 'good.txt');
  writeFileSync(good, 'fine');
  assert.throws(() => readTextFiles([good, missing]), /nope\.txt: no such file/);
});

test('firstInvalidUtf8 agrees with a fatal TextDecoder', () => {
  const cases: [number[], number][] = [
    [[0x61, 0x62], -1],
    [[0xf0, 0x9f, 0xa4, 0x97], -1], // 🤗
    [[0x61, 0xf0, 0x9f, 0xa4], 1], // truncated at the end
    [[0x61, 0xc0, 0xaf], 1], // overlong
    [[0xe0, 0x80, 0x80], 0], // overlong 3-byte
    [[0x61, 0xed, 0xa0, 0x80], 1], // surrogate
    [[0xf4, 0x90, 0x80, 0x80], 0], // above U+10FFFF
    [[0x61, 0x62, 0x80], 2], // stray continuation byte
    [[0xc3, 0xa9, 0xff], 2],
    [[0xe2, 0x82, 0x41], 0],
  ];
  for (const [bytes, at] of cases) {
    const b = new Uint8Array(bytes);
    assert.equal(firstInvalidUtf8(b), at, bytes.join(','));
    let valid = true;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      valid = false;
    }
    assert.equal(valid, at === -1);
  }
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('Brown corpus: plain English without tags, the first sentence exactly, a sane size', () => {
  const files = brownCorpusFiles();
  assert.equal(files.length, 500);
  assert.ok(files[0].endsWith('ca01') && files.at(-1)!.endsWith('cr09'));
  const text = loadBrownCorpus();
  assert.ok(text.length > 5_000_000 && text.length < 7_000_000, `length ${text.length}`);
  const first =
    'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.';
  assert.ok(text.startsWith(first + '\n'));
  assert.doesNotMatch(text, /\/(at|nn|nns|np|np\$|vb|vbd|vbz|vbn|jj|in|cc|rb|cs|to|dt|md|ppss|pps|cd)(-tl|-hl)?(?=\s|$)/);
  assert.doesNotMatch(text, /``/);
  assert.doesNotMatch(text, / [,.;:?!)](?=\s|$)/);
  assert.doesNotMatch(text, /\( /);
  assert.doesNotMatch(text, /\n\n\n/);
  assert.ok(text.endsWith('.\n'));
  assert.equal(loadBrownCorpus(), text, 'deterministic');
});

test('brownFileToText: tags after the last slash, quotes, paragraphs, sentence lines', () => {
  const tagged =
    "\n\n\t``/`` It/pps is/bez 1/2/cd done/vbn ,/, '/' pro/jj '/' (/( so/rb )/) ''/'' ./.\n" +
    "Jr./np ./.\n\n\n\tHe/pps said/vbd :/: ``/`` '/' Don't/do* ''/'' ?/.\n";
  assert.equal(brownFileToText(tagged), '"It is 1/2 done, \'pro\' (so)".\nJr.\n\nHe said: "\'Don\'t"?');
});

test('splitTokens: first 90% train, the rest val, as views', () => {
  const t = Int32Array.from({ length: 100 }, (_, i) => i);
  const { train, val } = splitTokens(t);
  assert.equal(train.length, 90);
  assert.equal(val.length, 10);
  assert.equal(val[0], 90);
  assert.equal(train.buffer, t.buffer);
  assert.equal(splitTokens(t, 0.25).train.length, 75);
  assert.equal(splitTokens(Int32Array.from({ length: 7 }), 0.1).train.length, 6); // floor(6.3)
  assert.equal(splitTokens(t, 0).val.length, 0);
  assert.throws(() => splitTokens(t, 1), /valFraction must be in \[0, 1\), got 1/);
  assert.throws(() => splitTokens(t, -0.1), /valFraction/);
});

test('sampleBatch: y is x shifted by one, windows within the data, shape [batch, block]', () => {
  const data = Int32Array.from({ length: 50 }, (_, i) => 1000 + i);
  const { x, y } = sampleBatch(data, 8, 5, new Generator(1));
  assert.deepEqual([...x.shape], [8, 5]);
  assert.deepEqual([...y.shape], [8, 5]);
  for (let b = 0; b < 8; b++) {
    const start = x.data[b * 5] - 1000;
    assert.ok(Number.isInteger(start) && start >= 0 && start < 50 - 5);
    for (let t = 0; t < 5; t++) {
      assert.equal(x.data[b * 5 + t], data[start + t]);
      assert.equal(y.data[b * 5 + t], data[start + t + 1]);
    }
  }
  // every start in [0, len - block) is reachable, including the last one
  const tiny = Int32Array.from([0, 1, 2, 3]);
  const seen = new Set<number>();
  const g = new Generator(3);
  for (let k = 0; k < 50; k++) seen.add(sampleBatch(tiny, 1, 2, g).x.data[0]);
  assert.deepEqual([...seen].sort(), [0, 1]);
  // exactly one block + 1 tokens: the only window
  const one = sampleBatch(Int32Array.from([5, 6, 7]), 2, 2, new Generator(0));
  assert.deepEqual(one.x.toArray(), [[5, 6], [5, 6]]);
  assert.deepEqual(one.y.toArray(), [[6, 7], [6, 7]]);
});

test('sampleBatch: deterministic under a seed, and draws exactly batchSize numbers', () => {
  const data = Int32Array.from({ length: 1000 }, (_, i) => (i * 7919) % 50257);
  const a = sampleBatch(data, 16, 32, new Generator(42));
  const b = sampleBatch(data, 16, 32, new Generator(42));
  assert.deepEqual(a.x.data, b.x.data);
  assert.deepEqual(a.y.data, b.y.data);
  assert.notDeepEqual(sampleBatch(data, 16, 32, new Generator(43)).x.data, a.x.data);
  const g = new Generator(9);
  sampleBatch(data, 12, 32, g);
  const ref = new Generator(9);
  for (let i = 0; i < 12; i++) ref.nextUint32();
  assert.deepEqual(g.getState(), ref.getState());
});

test('sampleBatch: too little data or bad sizes are refused clearly', () => {
  const g = new Generator(0);
  assert.throws(
    () => sampleBatch(Int32Array.from([1, 2, 3]), 4, 3, g),
    /the split has 3 tokens, fewer than one block of blockSize \+ 1 = 4: use a smaller block size or more text/,
  );
  assert.throws(() => sampleBatch(new Int32Array(10), 0, 3, g), /batchSize must be a positive integer, got 0/);
  assert.throws(() => sampleBatch(new Int32Array(10), 2, 2.5, g), /blockSize must be a positive integer, got 2.5/);
});
