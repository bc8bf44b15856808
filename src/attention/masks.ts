/**
 * Attention masks: bool tensors where **true = may attend**. This is the one convention everywhere in
 * qkv (scaledDotProductAttention, MultiHeadAttention's `mask` and `keyMask`, every builder here).
 *
 * Why say it so loudly: PyTorch uses two opposite conventions. `F.scaled_dot_product_attention`'s bool
 * `attn_mask` is true = attend, but `nn.MultiheadAttention`'s `key_padding_mask` and bool `attn_mask`
 * are true = *ignore*. qkv does not repeat that trap; `invertMask` converts a PyTorch-style
 * "true = ignore" mask.
 *
 * ## Alignment (when seqQ != seqK)
 *
 * A causal mask says "query i sees keys up to its own position", which needs the positions of queries
 * and keys on one axis. With seqQ == seqK there is one answer; otherwise two are in use:
 *
 * - `'bottom-right'`: the queries are the *last* seqQ positions of the keys' sequence, so query i sits at
 *   position p = i + (seqK - seqQ) and the last query sees every key. This is KV-cache decoding (a new
 *   token attends to all cached keys and itself) and FlashAttention's convention (since v2.1).
 * - `'top-left'`: query i sits at position p = i and sees keys 0..i. This is PyTorch's `is_causal=True`
 *   (`torch.ones(L, S).tril()`).
 *
 * ```
 * seqQ = 2, seqK = 4     bottom-right        top-left
 *   query 0              1 1 1 0             1 0 0 0
 *   query 1              1 1 1 1             1 1 0 0
 * ```
 *
 * With bottom-right and seqQ > seqK the first seqQ - seqK queries sit before every key and see nothing:
 * their rows are fully masked, which scaledDotProductAttention turns into zero output (not NaN).
 *
 * Masks carry no gradient; they are built from comparisons of position indices, so each builder reads as
 * its definition.
 */
import { Tensor, type NestedBoolArray } from '../tensor/tensor.js';
import { broadcastShapes, fmt, ShapeError } from '../tensor/shape.js';
import { gt, le, mul, eq, sub, abs, lt } from '../ops/elementwise.js';

/** How query positions line up with key positions when seqQ != seqK (see the module comment). */
export type MaskAlign = 'bottom-right' | 'top-left';

/** Throws unless n is a non-negative integer (a sequence length); `op` and `name` name the caller and the argument. */
export function checkLength(op: string, name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new ShapeError(`${op}: ${name} must be a non-negative integer, got ${n}`);
}

/**
 * Throws unless `align` is a MaskAlign; `op` names the caller in the error. Shared by every function that
 * takes an alignment (the mask builders here, alibiBias), so they all accept and explain the same values.
 */
export function checkAlign(op: string, align: unknown): asserts align is MaskAlign {
  if (align !== 'bottom-right' && align !== 'top-left') {
    throw new ShapeError(
      `${op}: align must be 'bottom-right' or 'top-left', got ${typeof align === 'string' ? `'${align}'` : String(align)} ` +
        `('bottom-right': the last query sees every key, KV-cache decoding and FlashAttention; 'top-left': query i sees keys 0..i, PyTorch's is_causal)`,
    );
  }
}

/**
 * Positions of queries and keys on one axis: `[rows: [seqQ, 1], cols: [seqK]]`, so that comparing them
 * broadcasts to [seqQ, seqK].
 */
function positions(seqQ: number, seqK: number, align: MaskAlign): [Tensor, Tensor] {
  const offset = align === 'bottom-right' ? seqK - seqQ : 0;
  const rows = new Tensor(Float32Array.from({ length: seqQ }, (_, i) => i + offset), [seqQ, 1]);
  const cols = Tensor.arange(seqK);
  return [rows, cols];
}

/** Logical and of two bool masks, broadcasting. */
function and2(a: Tensor, b: Tensor): Tensor {
  return gt(mul(a.toFloat(), b.toFloat()), 0);
}

/**
 * Causal mask: bool [seqQ, seqK], true where query i (at aligned position p) may attend key j, i.e. j <= p.
 * `align` only matters when seqQ != seqK; see the module comment for the two conventions.
 */
export function causalMask(seqQ: number, seqK: number, align: MaskAlign = 'bottom-right'): Tensor {
  checkLength('causalMask', 'seqQ', seqQ);
  checkLength('causalMask', 'seqK', seqK);
  checkAlign('causalMask', align);
  const [p, j] = positions(seqQ, seqK, align);
  return le(j, p); // j <= p
}

/**
 * Sliding-window mask: bool [seqQ, seqK].
 *
 * - causal (default): query at aligned position p sees the `window` keys p - window < j <= p (itself and
 *   the window - 1 before it), as Mistral's sliding window. `window >= seqK` is the plain causal mask.
 * - `causal: false`: a symmetric band |j - p| < window (local attention as in Longformer; 2 * window - 1
 *   keys around p).
 */
export function slidingWindowMask(seqQ: number, seqK: number, window: number, align: MaskAlign = 'bottom-right', opts: { causal?: boolean } = {}): Tensor {
  checkLength('slidingWindowMask', 'seqQ', seqQ);
  checkLength('slidingWindowMask', 'seqK', seqK);
  if (!Number.isInteger(window) || window < 1) throw new ShapeError(`slidingWindowMask: window must be a positive integer (keys per query), got ${window}`);
  checkAlign('slidingWindowMask', align);
  const [p, j] = positions(seqQ, seqK, align);
  if (opts.causal ?? true) return and2(le(j, p), gt(j, sub(p, window))); // p - window < j <= p
  return lt(abs(sub(j, p)), window); // |j - p| < window
}

/**
 * Key padding mask: bool [batch, 1, 1, seqK], true for real tokens (that may be attended), false for padding,
 * shaped to broadcast against scores [batch, heads, seqQ, seqK].
 *
 * `keys` is either the lengths of the sequences (numbers, or a 1-D float tensor [batch]; then `seqK`
 * defaults to the longest) or a bool tensor [batch, seqK] with true = real token.
 * For a PyTorch `key_padding_mask` (true = padding), pass `invertMask(keyPaddingMask)`.
 */
export function paddingMask(keys: Tensor | readonly number[], seqK?: number): Tensor {
  if (keys instanceof Tensor && keys.dtype === 'bool') {
    if (keys.ndim !== 2) throw new ShapeError(`paddingMask: a bool key mask must be [batch, seqK], got ${fmt(keys.shape)}`);
    if (seqK !== undefined && keys.shape[1] !== seqK) throw new ShapeError(`paddingMask: key mask ${fmt(keys.shape)} has ${keys.shape[1]} keys, but seqK is ${seqK}`);
    const [b, s] = keys.shape;
    return new Tensor(keys.data, [b, 1, 1, s], false, null, 'bool');
  }
  if (keys instanceof Tensor && keys.ndim !== 1) {
    throw new ShapeError(`paddingMask: lengths must be a 1-D tensor [batch] (or a bool mask [batch, seqK]), got float ${fmt(keys.shape)}`);
  }
  const lengths = Array.from(keys instanceof Tensor ? keys.data : keys);
  const n = seqK ?? Math.max(0, ...lengths);
  checkLength('paddingMask', 'seqK', n);
  for (const len of lengths) {
    if (!Number.isInteger(len) || len < 0 || len > n) throw new ShapeError(`paddingMask: length ${len} must be an integer in [0, ${n}] (seqK)`);
  }
  const lens = new Tensor(Float32Array.from(lengths), [lengths.length, 1, 1, 1]);
  return lt(Tensor.arange(n), lens); // key j is real when j < length
}

/**
 * Logical and of bool masks, broadcasting (NumPy rules): a position may be attended only if every mask
 * allows it. `null`/`undefined` entries are skipped; returns null when nothing is left.
 */
export function combineMasks(...masks: (Tensor | null | undefined)[]): Tensor | null {
  let acc: Tensor | null = null;
  for (const m of masks) {
    if (m === null || m === undefined) continue;
    if (m.dtype !== 'bool') {
      throw new ShapeError(
        `combineMasks: mask ${fmt(m.shape)} is float32; only bool masks (true = may attend) can be combined. An additive float mask is added to the scores: add float masks together instead`,
      );
    }
    if (acc === null) acc = m;
    else {
      broadcastShapes('combineMasks', acc.shape, m.shape); // the error names both shapes
      acc = and2(acc, m);
    }
  }
  return acc;
}

/**
 * Logical not of a bool mask. Converts PyTorch's "true = ignore" masks (`key_padding_mask`, bool
 * `attn_mask` of nn.MultiheadAttention) to qkv's "true = may attend".
 */
export function invertMask(mask: Tensor): Tensor {
  if (mask.dtype !== 'bool') throw new ShapeError(`invertMask: mask ${fmt(mask.shape)} must be bool, got float32`);
  return eq(mask.toFloat(), 0);
}

/**
 * Block-sparse mask: bool [seqQ, seqK] from a block layout bool [ceil(seqQ / blockSize), ceil(seqK / blockSize)],
 * where layout[a][b] = true lets every query of block a attend every key of block b (as BigBird /
 * Sparse Transformer layouts). The last block of each axis may be partial.
 */
export function blockSparseMask(layout: Tensor | NestedBoolArray, blockSize: number, seqQ: number, seqK: number): Tensor {
  const lay = layout instanceof Tensor ? layout : Tensor.fromArray(layout);
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new ShapeError(`blockSparseMask: blockSize must be a positive integer, got ${blockSize}`);
  checkLength('blockSparseMask', 'seqQ', seqQ);
  checkLength('blockSparseMask', 'seqK', seqK);
  const bq = Math.ceil(seqQ / blockSize);
  const bk = Math.ceil(seqK / blockSize);
  if (lay.dtype !== 'bool' || lay.ndim !== 2 || lay.shape[0] !== bq || lay.shape[1] !== bk) {
    throw new ShapeError(
      `blockSparseMask: layout must be bool [${bq},${bk}] (ceil(${seqQ}/${blockSize}), ceil(${seqK}/${blockSize})), got ${lay.dtype} ${fmt(lay.shape)}`,
    );
  }
  // A gather of layout rows/columns by block index: out[i, j] = layout[floor(i / B), floor(j / B)].
  const out = new Float32Array(seqQ * seqK);
  for (let i = 0; i < seqQ; i++) {
    const row = Math.floor(i / blockSize) * bk;
    for (let j = 0; j < seqK; j++) out[i * seqK + j] = lay.data[row + Math.floor(j / blockSize)];
  }
  return new Tensor(out, [seqQ, seqK], false, null, 'bool');
}
