/**
 * GPT-2's byte-level BPE tokenizer (50257 tokens: 50000 merges over 256 bytes, and '<|endoftext|>'),
 * the one nanoGPT uses through tiktoken. Encoding is js-tiktoken's, which gives tiktoken's ids.
 *
 * The ranks (about 0.5 MB of base64) load on the first `new Gpt2Tokenizer()`, not when this module is
 * imported: they come through `require` (js-tiktoken ships them as CommonJS too), which is synchronous,
 * so that `tokenizerFromJSON` stays synchronous. Once loaded they are kept for the process's lifetime and
 * shared by every Gpt2Tokenizer.
 */
import { createRequire } from 'node:module';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import { checkIds, checkWellFormed, type Tokenizer, type TokenizerJSON } from './tokenizer.js';

export const GPT2_VOCAB_SIZE = 50257;
export const GPT2_EOT_ID = 50256;
export const GPT2_EOT = '<|endoftext|>';

interface Loaded {
  tiktoken: Tiktoken;
  /** GPT-2's pre-tokenizer regex (tiktoken's pat_str), which cuts text into pieces (words, runs of spaces) that BPE encodes one by one. */
  pieces: RegExp;
  /** piece -> its ids: text repeats its words, and a Map lookup is cheaper than js-tiktoken's per-piece work. */
  cache: Map<string, readonly number[]>;
  /** bytes[id]: the UTF-8 bytes of token id (the special token's text for 50256). */
  bytes: Uint8Array[];
}

let loaded: Loaded | null = null;

function load(): Loaded {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const ranks = require('js-tiktoken/ranks/gpt2') as TiktokenBPE & { explicit_n_vocab?: number };
  const tiktoken = new Tiktoken(ranks);
  // Our own id -> bytes table (Tiktoken keeps one too, but not in its public API): the same parse of
  // "! offset tok tok ..." lines of base64 byte strings.
  const bytes = new Array<Uint8Array>(GPT2_VOCAB_SIZE);
  for (const line of ranks.bpe_ranks.split('\n')) {
    if (!line) continue;
    const parts = line.split(' ');
    const offset = Number.parseInt(parts[1], 10);
    for (let i = 2; i < parts.length; i++) bytes[offset + i - 2] = new Uint8Array(Buffer.from(parts[i], 'base64'));
  }
  if (ranks.special_tokens[GPT2_EOT] !== GPT2_EOT_ID) throw new Error(`gpt2 tokenizer: js-tiktoken's ranks do not map ${GPT2_EOT} to ${GPT2_EOT_ID}`);
  bytes[GPT2_EOT_ID] = new TextEncoder().encode(GPT2_EOT);
  for (let id = 0; id < GPT2_VOCAB_SIZE; id++) {
    if (!bytes[id]) throw new Error(`gpt2 tokenizer: js-tiktoken's ranks have no token ${id}; expected ids 0..${GPT2_VOCAB_SIZE - 1}`);
  }
  loaded = { tiktoken, bytes, pieces: new RegExp(ranks.pat_str, 'gu'), cache: new Map() };
  return loaded;
}

export class Gpt2Tokenizer implements Tokenizer {
  readonly type = 'gpt2' as const;
  readonly vocabSize = GPT2_VOCAB_SIZE;
  readonly eotId = GPT2_EOT_ID;
  readonly #l: Loaded;

  constructor() {
    this.#l = load();
  }

  /**
   * Text to ids. A literal '<|endoftext|>' in the text becomes the special token 50256 (js-tiktoken's
   * `allowedSpecial = 'all'`), as nanoGPT's sample.py encodes prompts (`allowed_special={"<|endoftext|>"}`):
   * so a prompt or a training file can mark document boundaries with it. (tiktoken's default would throw
   * on it instead; `encode_ordinary`, which nanoGPT's prepare.py uses, would spell it out as 7 ordinary tokens.)
   * Byte-level BPE encodes any text; only a lone UTF-16 surrogate (not Unicode text) throws.
   */
  encode(text: string): number[] {
    checkWellFormed('gpt2', text);
    const out: number[] = [];
    for (let start = 0; ; ) {
      const eot = text.indexOf(GPT2_EOT, start);
      this.#encodeOrdinary(eot < 0 ? text.slice(start) : text.slice(start, eot), out);
      if (eot < 0) return out;
      out.push(GPT2_EOT_ID);
      start = eot + GPT2_EOT.length;
    }
  }

  /**
   * js-tiktoken's encode, piece by piece with a cache (2-3x faster on a whole corpus, same ids): text
   * without special tokens is cut by the GPT-2 regex and each piece BPE-encoded on its own, which is what
   * tiktoken does; a piece cut from its context is matched whole by the same regex again (its only
   * lookahead, `\s+(?!\S)`, can only match more at the end of a string, and a piece is a whole match), so
   * `tiktoken.encode(piece)` gives the piece's ids.
   */
  #encodeOrdinary(text: string, out: number[]): void {
    const { tiktoken, cache } = this.#l;
    if (cache.size > 200_000) cache.clear(); // bound the memory on endless distinct text
    for (const m of text.matchAll(this.#l.pieces)) {
      const piece = m[0];
      let ids = cache.get(piece);
      if (ids === undefined) {
        ids = tiktoken.encode(piece);
        cache.set(piece, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
  }

  decode(ids: readonly number[]): string {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.decodeBytes(ids));
  }

  decodeBytes(ids: readonly number[]): Uint8Array {
    checkIds('gpt2', ids, GPT2_VOCAB_SIZE);
    const table = this.#l.bytes;
    let n = 0;
    for (const id of ids) n += table[id].length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const id of ids) {
      out.set(table[id], o);
      o += table[id].length;
    }
    return out;
  }

  toJSON(): TokenizerJSON {
    return { type: 'gpt2' };
  }
}
