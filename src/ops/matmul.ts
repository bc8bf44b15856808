/** Matrix products, batched and broadcast, with transposes folded into the kernel so no copy is made. */
import { backend } from '../backend/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastIndexer, broadcastShapes, fmt, numel, ShapeError } from '../tensor/shape.js';
import { unbroadcast } from './broadcast.js';

export interface MatmulOptions {
  /** Use a's last two axes transposed: a is [..., k, m]. */
  transA?: boolean;
  /** Use b's last two axes transposed: b is [..., n, k] (as `x @ W.T` for a Linear weight [out, in]). */
  transB?: boolean;
}

/**
 * a @ b, as `torch.matmul`: a [..., m, k] @ b [..., k, n] -> [..., m, n], batch axes broadcast.
 * A 1-D a is a row vector [k] (its axis is dropped from the result); a 1-D b a column vector [k].
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false } = opts;
  const op = 'matmul';
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`${op}: ${fmt(a.shape)} x ${fmt(b.shape)}: both operands need at least 1 dimension`);
  const aVec = a.ndim === 1;
  const bVec = b.ndim === 1;
  const aS = aVec ? [1, a.shape[0]] : [...a.shape];
  const bS = bVec ? [b.shape[0], 1] : [...b.shape];
  const [ar, ac] = aS.slice(-2);
  const [br, bc] = bS.slice(-2);
  const [m, k] = transA && !aVec ? [ac, ar] : [ar, ac];
  const [k2, n] = transB && !bVec ? [bc, br] : [br, bc];
  const tA = transA && !aVec;
  const tB = transB && !bVec;
  if (k !== k2) {
    throw new ShapeError(`${op}: ${fmt(a.shape)}${tA ? 'ᵀ' : ''} x ${fmt(b.shape)}${tB ? 'ᵀ' : ''}: inner dimensions ${k} and ${k2} differ`);
  }
  const aBatch = aS.slice(0, -2);
  const bBatch = bS.slice(0, -2);
  let batchShape: number[];
  try {
    batchShape = broadcastShapes(op, aBatch, bBatch);
  } catch {
    throw new ShapeError(`${op}: ${fmt(a.shape)} x ${fmt(b.shape)}: batch dimensions ${fmt(aBatch)} and ${fmt(bBatch)} cannot be broadcast (each pair must be equal or one of them 1)`);
  }
  const batch = numel(batchShape);
  const aOffsets = offsets(aBatch, batchShape, ar * ac);
  const bOffsets = offsets(bBatch, batchShape, br * bc);
  const kern = backend();
  const out = kern.matmul(a.data, b.data, { batch, m, k, n, transA: tA, transB: tB, aOffsets, bOffsets });
  const outShape = [...batchShape, ...(aVec ? [] : [m]), ...(bVec ? [] : [n])];

  return Tensor.fromOp(op, out, outShape, [a, b], (g) => {
    const gOffsets = offsets(batchShape, batchShape, m * n);
    const full = [...batchShape];
    let ga: Float32Array | null = null;
    let gb: Float32Array | null = null;
    if (a.requiresGrad) {
      // dA_eff = dC · B_effᵀ; stored transposed when transA: dA = B_eff · dCᵀ.
      ga = tA
        ? kern.matmul(b.data, g, { batch, m: k, k: n, n: m, transA: tB, transB: true, aOffsets: bOffsets, bOffsets: gOffsets })
        : kern.matmul(g, b.data, { batch, m, k: n, n: k, transA: false, transB: !tB, aOffsets: gOffsets, bOffsets });
      ga = unbroadcast(ga, [...full, ar, ac], aS);
    }
    if (b.requiresGrad) {
      // dB_eff = A_effᵀ · dC; stored transposed when transB: dB = dCᵀ · A_eff.
      gb = tB
        ? kern.matmul(g, a.data, { batch, m: n, k: m, n: k, transA: true, transB: tA, aOffsets: gOffsets, bOffsets: aOffsets })
        : kern.matmul(a.data, g, { batch, m: k, k: m, n, transA: !tA, transB: false, aOffsets, bOffsets: gOffsets });
      gb = unbroadcast(gb, [...full, br, bc], bS);
    }
    return [ga, gb];
  });
}

/** Start of each batch's matrix in an operand whose batch axes broadcast to `batchShape`. */
function offsets(inBatch: readonly number[], batchShape: readonly number[], matSize: number): Int32Array {
  const map = broadcastIndexer(inBatch, batchShape);
  for (let i = 0; i < map.length; i++) map[i] *= matSize;
  return map;
}
