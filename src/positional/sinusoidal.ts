/**
 * Fixed sinusoidal position encodings, as "Attention Is All You Need" (Vaswani et al. 2017, section 3.5):
 *
 *     PE[pos, 2i]   = sin(pos / base^(2i/d))
 *     PE[pos, 2i+1] = cos(pos / base^(2i/d))
 *
 * with base = 10000: sin and cos interleaved column by column, as the paper writes it (some code puts all
 * sines first and all cosines after; that is a fixed permutation of the columns, not this layout).
 * Nothing is learned; the encoding is added to the token embeddings.
 */
import { Tensor } from '../tensor/tensor.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { add } from '../ops/elementwise.js';
import { Module } from '../nn/module.js';

export interface SinusoidalOptions {
  /** The wavelength base (default 10000, the paper's): wavelengths run from 2π to base·2π. */
  base?: number;
  /** Position of the first row (default 0): row r encodes position offset + r, for decoding with a KV cache. */
  offset?: number;
}

/**
 * The sinusoidal table: [seqLen, dim], row r = the encoding of position offset + r.
 *
 * Each value is computed in float64 and rounded once to float32, so a table is the nearest float32 to the
 * exact values whatever the position (a float32 angle would already be off by ~1e-4 rad at position 2048).
 *
 * An odd `dim` is allowed: the formula defines every column (column j uses i = floor(j/2), sin for even j,
 * cos for odd j), so the last column is a sine with no cosine partner.
 */
export function sinusoidalEncoding(seqLen: number, dim: number, opts: SinusoidalOptions = {}): Tensor {
  const { base = 10000, offset = 0 } = opts;
  checkInt('sinusoidalEncoding', 'seqLen', seqLen, 0);
  checkInt('sinusoidalEncoding', 'dim', dim, 1);
  checkInt('sinusoidalEncoding', 'offset', offset, 0);
  if (!(base > 0) || !Number.isFinite(base)) throw new ShapeError(`sinusoidalEncoding: base must be a positive finite number, got ${base}`);
  return new Tensor(table(seqLen, dim, base, offset), [seqLen, dim]);
}

function table(seqLen: number, dim: number, base: number, offset: number): Float32Array {
  // One wavelength per pair of columns; the same divisors serve every row.
  const div = Float64Array.from({ length: dim }, (_, j) => Math.pow(base, (2 * Math.floor(j / 2)) / dim));
  const out = new Float32Array(seqLen * dim);
  for (let r = 0; r < seqLen; r++) {
    const pos = offset + r;
    for (let j = 0; j < dim; j++) {
      const angle = pos / div[j];
      out[r * dim + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return out;
}

export interface SinusoidalPositionalEncodingOptions {
  /** The wavelength base (default 10000). */
  base?: number;
}

/**
 * Adds the sinusoidal encoding to its input: forward(x: [batch, seq, dim]) = x + PE[offset .. offset+seq-1].
 * No parameters and no state in `stateDict()` (the table is a function of the position, not something to
 * save). The paper also scales the token embeddings by sqrt(dim) and applies dropout to the sum; those
 * belong to the embedding layer and the model, not here.
 */
export class SinusoidalPositionalEncoding extends Module {
  /** Rows 0..cachedRows-1 of the table, grown by doubling; a Float32Array, so not a tensor of state. */
  private cache: Float32Array = new Float32Array(0);
  private cachedRows = 0;

  constructor(readonly dim: number, private readonly opts: SinusoidalPositionalEncodingOptions = {}) {
    super();
    checkInt('SinusoidalPositionalEncoding', 'dim', dim, 1);
    const base = opts.base ?? 10000;
    if (!(base > 0) || !Number.isFinite(base)) throw new ShapeError(`SinusoidalPositionalEncoding: base must be a positive finite number, got ${base}`);
  }

  /**
   * x: [batch, seq, dim] (any number of leading axes: [..., seq, dim]) -> same shape, x + PE.
   * `offset` is the position of x's first row: pass the number of tokens already in the KV cache when
   * decoding one token at a time.
   */
  forward(x: Tensor, offset = 0): Tensor {
    const name = `SinusoidalPositionalEncoding(${this.dim})`;
    if (x.ndim < 2 || x.shape[x.ndim - 1] !== this.dim) {
      throw new ShapeError(`${name}: input ${fmt(x.shape)} must be [..., seq, ${this.dim}]`);
    }
    checkInt(name, 'offset', offset, 0);
    const seq = x.shape[x.ndim - 2];
    return add(x, this.rows(offset, seq));
  }

  /** PE rows offset..offset+seq-1 as [seq, dim], from the cache (each row depends only on its position). */
  private rows(offset: number, seq: number): Tensor {
    const need = offset + seq;
    if (need > this.cachedRows) {
      const rows = Math.max(need, 2 * this.cachedRows, 64);
      this.cache = table(rows, this.dim, this.opts.base ?? 10000, 0);
      this.cachedRows = rows;
    }
    return new Tensor(this.cache.slice(offset * this.dim, need * this.dim), [seq, this.dim]);
  }
}

function checkInt(op: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new ShapeError(`${op}: ${name} must be an integer >= ${min}, got ${v}`);
  }
}
