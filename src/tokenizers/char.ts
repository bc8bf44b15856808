/**
 * Character-level tokenizer, as nanoGPT's shakespeare_char: one token per character of the training
 * text. A "character" is a Unicode code point, so an emoji outside the BMP (a surrogate pair in a JS
 * string) is one token, not two.
 */
import { checkIds, checkWellFormed, type Tokenizer, type TokenizerJSON } from './tokenizer.js';

const encoder = new TextEncoder();

export class CharTokenizer implements Tokenizer {
  readonly type = 'char' as const;
  readonly eotId = null;
  /** The vocabulary: `chars[id]` is the character of token `id`. */
  readonly chars: readonly string[];
  readonly #ids = new Map<number, number>(); // code point -> id
  readonly #bytes: Uint8Array[];

  /**
   * A tokenizer whose ids are the positions in `chars`: each must be one code point (a surrogate pair
   * counts as one; a lone surrogate is refused), and none may repeat.
   */
  constructor(chars: readonly string[]) {
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i] as unknown;
      if (typeof c !== 'string') throw new Error(`char tokenizer: vocabulary entry ${i} must be a string, got ${c === null ? 'null' : typeof c}`);
      const cp = c.codePointAt(0);
      if (cp === undefined || c.length !== (cp > 0xffff ? 2 : 1)) {
        throw new Error(`char tokenizer: vocabulary entry ${i} (${JSON.stringify(c)}) must be exactly one character (one Unicode code point)`);
      }
      if (cp >= 0xd800 && cp <= 0xdfff) {
        throw new Error(`char tokenizer: vocabulary entry ${i} is a lone surrogate (${codeName(cp)}), not a character`);
      }
      const prev = this.#ids.get(cp);
      if (prev !== undefined) {
        throw new Error(`char tokenizer: vocabulary entries ${prev} and ${i} are both ${JSON.stringify(c)} (${codeName(cp)}): characters must be unique`);
      }
      this.#ids.set(cp, i);
    }
    if (chars.length === 0) throw new Error('char tokenizer: the vocabulary is empty');
    this.chars = Object.freeze([...chars]);
    this.#bytes = this.chars.map((c) => encoder.encode(c));
  }

  /**
   * The vocabulary of `text` as nanoGPT's prepare.py (`sorted(list(set(data)))`): its distinct
   * characters sorted by code point (Python sorts strings by code point too; JS's default sort would
   * order by UTF-16 unit, which differs for characters above U+FFFF).
   */
  static fromText(text: string): CharTokenizer {
    checkWellFormed('char', text);
    const seen = new Set<number>();
    for (const ch of text) seen.add(ch.codePointAt(0)!);
    if (seen.size === 0) throw new Error('char tokenizer: cannot build a vocabulary from empty text');
    return new CharTokenizer([...seen].sort((a, b) => a - b).map((cp) => String.fromCodePoint(cp)));
  }

  get vocabSize(): number {
    return this.chars.length;
  }

  encode(text: string): number[] {
    const ids = this.#ids;
    const out: number[] = [];
    let pos = 0; // characters (code points) so far, for the error message
    for (let i = 0; i < text.length; i++, pos++) {
      let cp = text.charCodeAt(i);
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
        const lo = text.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = (cp - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000;
          i++;
        }
      }
      const id = ids.get(cp);
      if (id === undefined) {
        if (cp >= 0xd800 && cp <= 0xdfff) checkWellFormed('char', text); // throws, naming the lone surrogate
        const ch = String.fromCodePoint(cp);
        throw new Error(
          `char tokenizer: character ${JSON.stringify(ch)} (${codeName(cp)}) at character ${pos} (0-based) of the text is not in the vocabulary; ` +
            `a char tokenizer knows only the ${this.chars.length} characters of the text it was trained on`,
        );
      }
      out.push(id);
    }
    return out;
  }

  decode(ids: readonly number[]): string {
    checkIds('char', ids, this.chars.length);
    let s = '';
    for (const id of ids) s += this.chars[id];
    return s;
  }

  decodeBytes(ids: readonly number[]): Uint8Array {
    checkIds('char', ids, this.chars.length);
    let n = 0;
    for (const id of ids) n += this.#bytes[id].length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const id of ids) {
      out.set(this.#bytes[id], o);
      o += this.#bytes[id].length;
    }
    return out;
  }

  toJSON(): TokenizerJSON {
    return { type: 'char', chars: [...this.chars] };
  }
}

/** `U+00E9` */
function codeName(cp: number): string {
  return 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
}
