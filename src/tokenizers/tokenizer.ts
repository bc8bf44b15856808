/**
 * Tokenizers: text to token ids and back. Two kinds, as nanoGPT: a character-level one whose vocabulary
 * is the set of characters of the training text (`CharTokenizer`), and GPT-2's byte-level BPE
 * (`Gpt2Tokenizer`, 50257 tokens). `toJSON`/`tokenizerFromJSON` store one next to a checkpoint, so that
 * sampling later maps ids to the same text.
 */
import { CharTokenizer } from './char.js';
import { Gpt2Tokenizer } from './gpt2.js';

/** What a checkpoint stores: a char tokenizer's whole vocabulary (in id order), or just the name of GPT-2's. */
export type TokenizerJSON = { type: 'char'; chars: string[] } | { type: 'gpt2' };

export interface Tokenizer {
  readonly type: 'char' | 'gpt2';
  /** Number of token ids: every id is an integer in [0, vocabSize). */
  readonly vocabSize: number;
  /** Token id that ends a document, if any (GPT-2: 50256 '<|endoftext|>'; a char tokenizer has none). */
  readonly eotId: number | null;
  /** Text to ids. Throws an Error that names the offending character and its position for text it cannot encode. */
  encode(text: string): number[];
  /**
   * Ids to text. Throws for an id that is not an integer in [0, vocabSize), naming it. Bytes that do not
   * form valid UTF-8 (a GPT-2 token sequence cut inside a character) decode to U+FFFD, as Python's
   * `errors='replace'`.
   */
  decode(ids: readonly number[]): string;
  /**
   * The UTF-8 bytes of the ids' text, concatenated (checked as `decode`). A GPT-2 token is a byte string
   * that need not be whole characters; this is what `StreamDecoder` works on.
   */
  decodeBytes(ids: readonly number[]): Uint8Array;
  toJSON(): TokenizerJSON;
}

/**
 * Builds a tokenizer from what `toJSON` stored, checking it; errors start with `where` (the file it came
 * from) and say what is wrong.
 */
export function tokenizerFromJSON(json: unknown, where: string): Tokenizer {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${where}: tokenizer must be an object like {"type":"char","chars":[...]} or {"type":"gpt2"}, got ${describe(json)}`);
  }
  const obj = json as Record<string, unknown>;
  if (obj.type === 'gpt2') return new Gpt2Tokenizer();
  if (obj.type === 'char') {
    const chars = obj.chars;
    if (!Array.isArray(chars)) throw new Error(`${where}: char tokenizer: "chars" must be an array of single-character strings, got ${describe(chars)}`);
    try {
      return new CharTokenizer(chars as unknown[] as string[]);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  }
  throw new Error(`${where}: tokenizer "type" must be "char" or "gpt2", got ${describe(obj.type)}`);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v);
  return `${typeof v} ${String(v)}`;
}

/**
 * Turns ids into text one token at a time, for printing generated text as it is sampled. A GPT-2 token
 * can end in the middle of a multi-byte UTF-8 character (an emoji is often 2-3 tokens); `push` holds such
 * bytes back until the character is complete, so it never prints a broken character, and the
 * concatenation of every `push` and the final `flush` equals `decode` of all the ids.
 *
 * It keeps a streaming `TextDecoder`, whose output in pieces equals its output in one go (the WHATWG
 * Encoding standard guarantees it), with `ignoreBOM` so that a generated U+FEFF is kept as `decode` keeps it.
 */
export class StreamDecoder {
  readonly #tok: Tokenizer;
  #decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(tok: Tokenizer) {
    this.#tok = tok;
  }

  /** The text that token `id` completes: '' while it only holds part of a character. */
  push(id: number): string {
    return this.#decoder.decode(this.#tok.decodeBytes([id]), { stream: true });
  }

  /** Ends the stream: bytes still held (an unfinished character) come out as U+FFFD, as `decode` gives them. Then starts afresh. */
  flush(): string {
    return this.#decoder.decode();
  }
}

/** Checks ids for `decode`: integers in [0, vocabSize), with an error naming the first bad one and its index. */
export function checkIds(kind: string, ids: readonly number[], vocabSize: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`${kind} tokenizer: cannot decode id ${id} (at index ${i}): ids must be integers in [0, ${vocabSize})`);
    }
  }
}

/**
 * Throws for a lone UTF-16 surrogate in `text`: such a string is not Unicode text (TextEncoder would
 * silently turn it into U+FFFD), so neither tokenizer can encode it faithfully.
 */
export function checkWellFormed(kind: string, text: string): void {
  let chars = 0;
  for (let i = 0; i < text.length; i++, chars++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
    if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      i++;
      continue;
    }
    throw new Error(
      `${kind} tokenizer: cannot encode the lone surrogate U+${c.toString(16).toUpperCase()} at character ${chars} (0-based) of the text: it is not valid Unicode text`,
    );
  }
}
