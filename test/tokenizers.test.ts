import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { Gpt2Tokenizer } from '../src/tokenizers/gpt2.js';
import { StreamDecoder, tokenizerFromJSON, type Tokenizer } from '../src/tokenizers/tokenizer.js';

const MIXED = 'Hello, wörld! 你好世界 🤗👍🏽 naïve café\n\ttabs  and   spaces 🚀';

function streamAll(tok: Tokenizer, ids: readonly number[]): string[] {
  const d = new StreamDecoder(tok);
  const parts = ids.map((id) => d.push(id));
  parts.push(d.flush());
  return parts;
}

test('char: round trip on text with emoji (surrogate pairs) and CJK; one token per code point', () => {
  const tok = CharTokenizer.fromText(MIXED);
  const ids = tok.encode(MIXED);
  assert.equal(ids.length, [...MIXED].length);
  assert.equal(tok.decode(ids), MIXED);
  assert.ok(tok.chars.includes('🤗'));
  assert.equal(tok.encode('🤗').length, 1);
  assert.equal(tok.type, 'char');
  assert.equal(tok.eotId, null);
  assert.equal(tok.vocabSize, new Set([...MIXED]).size);
});

test('char: vocabulary sorted by code point, as sorted(set(text)) in Python', () => {
  // U+FF5E (a BMP char above the surrogate range) must come before U+1F917: UTF-16 order would differ.
  const tok = CharTokenizer.fromText('b🤗a～\nab');
  assert.deepEqual(tok.chars, ['\n', 'a', 'b', '～', '🤗']);
  assert.deepEqual(tok.encode('ab\n'), [1, 2, 0]);
  assert.deepEqual(CharTokenizer.fromText('hello').chars, ['e', 'h', 'l', 'o']);
});

test('char: an unknown character names itself, its code, its position and where the vocabulary comes from', () => {
  const tok = CharTokenizer.fromText('abc 🤗');
  assert.throws(
    () => tok.encode('ab🤗c é'),
    (e: Error) => {
      assert.match(e.message, /"é"/);
      assert.match(e.message, /U\+00E9/);
      assert.match(e.message, /at character 5\b/); // code points: a b 🤗 c ' ' é
      assert.match(e.message, /text it was trained on/);
      return true;
    },
  );
  assert.throws(() => tok.encode('a\nb'), /"\\n" \(U\+000A\) at character 1/);
  assert.throws(() => tok.encode('a\ud800b'), /lone surrogate U\+D800 at character 1/);
  assert.throws(() => CharTokenizer.fromText(''), /empty text/);
});

test('char: decode checks ids', () => {
  const tok = CharTokenizer.fromText('abc');
  assert.throws(() => tok.decode([0, 3]), /cannot decode id 3 \(at index 1\): ids must be integers in \[0, 3\)/);
  assert.throws(() => tok.decode([-1]), /cannot decode id -1/);
  assert.throws(() => tok.decode([1.5]), /cannot decode id 1.5/);
});

test('char: constructor validates the vocabulary', () => {
  assert.throws(() => new CharTokenizer(['a', 'b', 'a']), /entries 0 and 2 are both "a" \(U\+0061\): characters must be unique/);
  assert.throws(() => new CharTokenizer(['a', 'bc']), /entry 1 \("bc"\) must be exactly one character/);
  assert.throws(() => new CharTokenizer(['']), /entry 0 \(""\) must be exactly one character/);
  assert.throws(() => new CharTokenizer(['\udc00']), /lone surrogate \(U\+DC00\)/);
  assert.throws(() => new CharTokenizer([]), /vocabulary is empty/);
  assert.equal(new CharTokenizer(['z', '🤗', 'a']).decode([1, 0, 2]), '🤗za'); // ids follow the given order
});

test('JSON round trip: char and gpt2', () => {
  const tok = CharTokenizer.fromText(MIXED);
  const json = JSON.parse(JSON.stringify(tok.toJSON()));
  assert.deepEqual(json, { type: 'char', chars: [...tok.chars] });
  const back = tokenizerFromJSON(json, 'ckpt/tokenizer.json');
  assert.equal(back.type, 'char');
  assert.deepEqual(back.encode(MIXED), tok.encode(MIXED));
  const g = tokenizerFromJSON(JSON.parse(JSON.stringify(new Gpt2Tokenizer().toJSON())), 'x.json');
  assert.equal(g.type, 'gpt2');
  assert.equal(g.vocabSize, 50257);
});

test('tokenizerFromJSON: bad JSON is refused, naming the file', () => {
  const where = 'run/ckpt.json';
  assert.throws(() => tokenizerFromJSON(null, where), /^Error: run\/ckpt\.json: tokenizer must be an object.*got null/);
  assert.throws(() => tokenizerFromJSON([1], where), /run\/ckpt\.json: tokenizer must be an object.*got an array/);
  assert.throws(() => tokenizerFromJSON({ type: 'bpe' }, where), /run\/ckpt\.json: tokenizer "type" must be "char" or "gpt2", got "bpe"/);
  assert.throws(() => tokenizerFromJSON({}, where), /"type" must be "char" or "gpt2", got nothing/);
  assert.throws(() => tokenizerFromJSON({ type: 'char' }, where), /run\/ckpt\.json: char tokenizer: "chars" must be an array.*got nothing/);
  assert.throws(() => tokenizerFromJSON({ type: 'char', chars: 'abc' }, where), /"chars" must be an array.*got "abc"/);
  assert.throws(() => tokenizerFromJSON({ type: 'char', chars: ['a', 1] }, where), /run\/ckpt\.json: char tokenizer: vocabulary entry 1 must be a string, got number/);
  assert.throws(() => tokenizerFromJSON({ type: 'char', chars: ['a', 'a'] }, where), /run\/ckpt\.json: .*must be unique/);
});

test('gpt2: known ids, the special token, vocab size', () => {
  const tok = new Gpt2Tokenizer();
  assert.equal(tok.vocabSize, 50257);
  assert.equal(tok.eotId, 50256);
  assert.deepEqual(tok.encode('Hello world'), [15496, 995]);
  assert.deepEqual(tok.encode('<|endoftext|>'), [50256]);
  assert.deepEqual(tok.encode('a<|endoftext|>b<|endoftext|>'), [64, 50256, 65, 50256]);
  assert.equal(tok.decode([50256]), '<|endoftext|>');
  assert.deepEqual(tok.encode(''), []);
});

test('gpt2: round trips unicode text; same ids as js-tiktoken itself', () => {
  const tok = new Gpt2Tokenizer();
  const ranks = createRequire(import.meta.url)('js-tiktoken/ranks/gpt2') as TiktokenBPE;
  const ref = new Tiktoken(ranks);
  const texts = [
    MIXED,
    "It's we'll they've I'm you'd  don't\n\n\n  x \t\ty   \n",
    '<|endoftext|>start<|endoftext|><|endoftext|> <|endoftext| <|end',
    'Numbers 1234567 3.14159 and ---- dashes ... ¿Qué? Ünïcödé ΑΒΓ Привет مرحبا 🇺🇸 🏳️‍🌈',
    '   leading and trailing   ',
  ];
  for (const t of texts) {
    const ids = tok.encode(t);
    assert.equal(tok.decode(ids), t);
    assert.deepEqual(ids, ref.encode(t, 'all'), t);
  }
  assert.throws(() => tok.encode('x\udfffy'), /gpt2 tokenizer: cannot encode the lone surrogate U\+DFFF at character 1/);
});

test('gpt2: decode of an id outside [0, 50257) throws naming it', () => {
  const tok = new Gpt2Tokenizer();
  assert.throws(() => tok.decode([15496, 50257]), /gpt2 tokenizer: cannot decode id 50257 \(at index 1\): ids must be integers in \[0, 50257\)/);
  assert.throws(() => tok.decode([-3]), /cannot decode id -3/);
  assert.throws(() => tok.decode([NaN]), /cannot decode id NaN/);
});

test('StreamDecoder: pieces concatenate to decode(ids), holding back characters split across byte-level tokens', () => {
  const tok = new Gpt2Tokenizer();
  const text = 'Emoji 🤗 and 👍🏽, CJK 你好, done.';
  const ids = tok.encode(text);
  const parts = streamAll(tok, ids);
  assert.equal(parts.join(''), tok.decode(ids));
  assert.equal(parts.join(''), text);
  assert.ok(parts.slice(0, -1).some((p) => p === ''), 'some token ends inside a character and yields nothing yet');
  for (const p of parts) assert.ok(!p.includes('\uFFFD'), `no broken character in ${JSON.stringify(p)}`);
  // The 🤗 emoji (4 bytes) spans more than one token: its last token completes it.
  const hug = tok.encode('🤗');
  assert.ok(hug.length > 1);
  const d = new StreamDecoder(tok);
  assert.deepEqual(hug.map((id) => d.push(id)), [...hug.slice(1).map(() => ''), '🤗']);
  assert.equal(d.flush(), '');
});

test('StreamDecoder: an unfinished character comes out at flush as decode gives it (U+FFFD)', () => {
  const tok = new Gpt2Tokenizer();
  const ids = tok.encode('ab🤗').slice(0, -1);
  const parts = streamAll(tok, ids);
  assert.equal(parts.join(''), tok.decode(ids));
  assert.ok(parts.at(-1)!.includes('\uFFFD'));
  // char tokenizer: every token is whole characters, so every push yields its character
  const ct = CharTokenizer.fromText(MIXED);
  const cparts = streamAll(ct, ct.encode(MIXED));
  assert.deepEqual(cparts, [...[...MIXED], '']);
  // a BOM character in the output is kept, as decode keeps it
  const bt = CharTokenizer.fromText('\ufeffa');
  assert.equal(streamAll(bt, bt.encode('\ufeffa\ufeff')).join(''), '\ufeffa\ufeff');
});
