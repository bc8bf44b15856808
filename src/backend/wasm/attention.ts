/**
 * The wasm backend's fused attention (FlashAttention-2; the kernels are in wasm/attention.ts): forward
 * with the per-row log-sum-exp, backward from it, and the weights recomputed from it. No [seqQ, seqK]
 * array is made except the weights themselves; memory is linear in the sequence lengths.
 *
 * Head sizes that are not multiples of 4 are padded with zeros here (copies of q, k, v, out, dout), so
 * the kernels see only multiples of 4; that costs a copy, not correctness.
 *
 * Backward schemes, which give the same bits (the same tiles summed in the same order):
 * - fused: one work item per (batch, kv head) computes dK, dV and dQ together (5 tile products);
 * - split: dK, dV per (batch, kv head, key block), then dQ per (batch, head, query block), each
 *   recomputing the probabilities (7 tile products) but with many more items to share among threads.
 * The faster one for the thread count is picked; the result does not depend on it.
 *
 * Threads take work items (tiles of query rows, or key blocks) from a shared atomic counter, biggest
 * first, so that causal work and a busy core balance out; each item is computed by one thread in one
 * order, so every result is the same bits on any number of threads.
 */
import type { AttentionKernels, AttentionParams } from '../kernels/attention.js';
import { call, type KernelCall } from './runtime.js';

/** Sentinel of the kernels' band offsets (no bound). */
const BIG = 0x3fffffff;

/**
 * Tile sizes and the backward scheme, for tests and benchmarks. (64 x 64 tiles: 32 and 128 measured the
 * same within the noise, and 64 x 64 x 4 bytes blocks of K and V fit the L1 cache together.)
 */
export interface WasmAttentionTuning {
  /** Query rows per forward/weights tile, summed over the query heads that share a kv head. */
  fwdRows: number;
  /** Keys per forward/weights tile (a multiple of 4). */
  fwdKeys: number;
  /** Query rows and keys per backward tile (keys a multiple of 4). */
  bwdRows: number;
  bwdKeys: number;
  /** 'auto': fused or split by the thread count; or forced. */
  scheme: 'auto' | 'fused' | 'split';
  /** Below this many multiply-adds a call runs on the calling thread only. */
  minParallelWork: number;
}

export const wasmAttentionTuning: WasmAttentionTuning = {
  fwdRows: 64,
  fwdKeys: 64,
  bwdRows: 64,
  bwdKeys: 64,
  scheme: 'auto',
  minParallelWork: 1 << 18,
};

/** Tiles the last call of each kernel computed (and how many of them needed a per-element mask test). */
export interface WasmAttentionStats {
  forward: { tiles: number; partial: number };
  weights: { tiles: number; partial: number };
  /** dK/dV pass (with dQ when fused) and the separate dQ pass (0 when fused). */
  backwardKV: { tiles: number; partial: number };
  backwardQ: { tiles: number; partial: number };
  scheme: 'fused' | 'split' | null;
}

export const wasmAttentionStats: WasmAttentionStats = {
  forward: { tiles: 0, partial: 0 },
  weights: { tiles: 0, partial: 0 },
  backwardKV: { tiles: 0, partial: 0 },
  backwardQ: { tiles: 0, partial: 0 },
  scheme: null,
};

const up4 = (n: number): number => (n + 3) & ~3;
const up64 = (n: number): number => Math.ceil(n / 64) * 64;

/** The allowed band of query i: keys [i + lo, i + hi] (causal, window, or none), clamped to the sentinels. */
function band(p: AttentionParams): [number, number] {
  const clampB = (x: number): number => Math.max(-BIG, Math.min(BIG, x));
  if (p.causal !== null) {
    const off = p.causal === 'bottom-right' ? p.seqK - p.seqQ : 0;
    return [p.window !== null ? clampB(off - p.window + 1) : -BIG, off];
  }
  if (p.window !== null) return [clampB(1 - p.window), clampB(p.window - 1)];
  return [-BIG, BIG];
}

/** The mask's pointer and element strides [batch, head, query, key] (0 on a broadcast axis). */
function maskArgs(c: KernelCall, p: AttentionParams): number[] {
  if (p.mask === null) return [0, 0, 0, 0, 0];
  const s = p.maskShape!;
  if (s.length !== 4) throw new Error(`wasm attention: maskShape must be 4-D, got [${s.join(', ')}]`);
  const full = [p.batch, p.heads, p.seqQ, p.seqK];
  for (let a = 0; a < 4; a++) {
    if (s[a] !== 1 && s[a] !== full[a]) throw new Error(`wasm attention: maskShape [${s.join(', ')}] does not broadcast to [${full.join(', ')}]`);
  }
  return [c.inF32(p.mask), s[0] === 1 ? 0 : s[1] * s[2] * s[3], s[1] === 1 ? 0 : s[2] * s[3], s[2] === 1 ? 0 : s[3], s[3] === 1 ? 0 : 1];
}

/** x [rows, d] as a temporary [rows, dp] (zeros in the padding), or x itself when d === dp. */
function padded(c: KernelCall, x: Float32Array, rows: number, d: number, dp: number): number {
  if (d === dp) return c.inF32(x);
  const ptr = c.scratch(rows * dp * 4);
  const y = c.r.heap.viewF32(ptr, rows * dp);
  y.fill(0);
  for (let r = 0; r < rows; r++) y.set(x.subarray(r * d, r * d + d), r * dp);
  return ptr;
}

/** An output [rows, d] from the kernel's [rows, dp] result at ptr (or the output itself when d === dp). */
function output(c: KernelCall, rows: number, d: number, dp: number): { ptr: number; finish: () => Float32Array } {
  const out = c.outF32(rows * d);
  if (d === dp) return { ptr: out.byteOffset, finish: () => out };
  const ptr = c.scratch(rows * dp * 4);
  return {
    ptr,
    finish: () => {
      const y = c.r.heap.viewF32(ptr, rows * dp);
      for (let r = 0; r < rows; r++) out.set(y.subarray(r * dp, r * dp + d), r * d);
      return out;
    },
  };
}

function checkParams(p: AttentionParams): void {
  const ints = [p.batch, p.heads, p.kvHeads, p.seqQ, p.seqK, p.headDim, p.headDimV];
  if (!ints.every((x) => Number.isInteger(x) && x >= 0) || p.kvHeads < 1 || p.heads % p.kvHeads !== 0) {
    throw new Error(`wasm attention: bad sizes ${JSON.stringify({ ...p, mask: undefined })}`);
  }
}

/** Threads for work of `madds` multiply-adds; zeroed counters [next item, tiles, partial tiles]. */
function setup(c: KernelCall, madds: number): { threads: number; ctr: number } {
  const threads = madds < wasmAttentionTuning.minParallelWork ? 1 : c.r.pool.requested;
  const ctr = c.scratch(64);
  c.r.heap.viewF32(ctr, 16).fill(0);
  return { threads, ctr };
}

function counters(c: KernelCall, ctr: number): { tiles: number; partial: number } {
  const v = new Int32Array(c.r.heap.memory.buffer, ctr, 3);
  return { tiles: v[1], partial: v[2] };
}

/** Forward/weights tile shape: query heads per tile (of a kv head's group), query positions per tile, keys. */
function fwdTile(p: AttentionParams): { gh: number; Bq: number; Bk: number } {
  const group = p.heads / p.kvHeads;
  const gh = Math.max(1, Math.min(group, Math.floor(wasmAttentionTuning.fwdRows / 4)));
  const Bq = Math.max(4, Math.min(up4(p.seqQ), Math.floor(wasmAttentionTuning.fwdRows / gh / 4) * 4));
  return { gh, Bq, Bk: up4(Math.max(4, wasmAttentionTuning.fwdKeys)) };
}

export const attentionKernels: Partial<AttentionKernels> = {
  attentionForward(q, k, v, p) {
    checkParams(p);
    return call((c) => {
      const { batch: B, heads: H, kvHeads: KH, seqQ: Sq, seqK: Sk, headDim: D, headDimV: DV } = p;
      const D4 = up4(D), DV4 = up4(DV);
      const qp = padded(c, q, B * H * Sq, D, D4);
      const kp = padded(c, k, B * KH * Sk, D, D4);
      const vp = padded(c, v, B * KH * Sk, DV, DV4);
      const out = output(c, B * H * Sq, DV, DV4);
      const lse = c.outF32(B * H * Sq);
      const [lo, hi] = band(p);
      const { gh, Bq, Bk } = fwdTile(p);
      const { threads, ctr } = setup(c, B * H * Sq * Sk * (D4 + DV4));
      const stride = up64(c.r.exports.attn_fwd_scratch(D4, DV4, Bk, gh * Bq) as number);
      const scratch = c.scratch(stride * threads);
      const args = [qp, kp, vp, out.ptr, lse.byteOffset, ...maskArgs(c, p), B, H, KH, Sq, Sk, D4, DV4, p.scale, lo, hi, Bq, gh, Bk, scratch, stride, ctr];
      c.r.pool.run('attn_fwd', args, threads);
      wasmAttentionStats.forward = counters(c, ctr);
      return { out: out.finish(), lse };
    });
  },

  attentionWeights(q, k, lse, p) {
    checkParams(p);
    return call((c) => {
      const { batch: B, heads: H, kvHeads: KH, seqQ: Sq, seqK: Sk, headDim: D } = p;
      const D4 = up4(D);
      const qp = padded(c, q, B * H * Sq, D, D4);
      const kp = padded(c, k, B * KH * Sk, D, D4);
      const w = c.outF32(B * H * Sq * Sk);
      const [lo, hi] = band(p);
      const { gh, Bq, Bk } = fwdTile(p);
      const { threads, ctr } = setup(c, B * H * Sq * Sk * D4);
      const stride = up64(c.r.exports.attn_weights_scratch(D4, Bk) as number);
      const scratch = c.scratch(stride * threads);
      const args = [qp, kp, c.inF32(lse), w.byteOffset, ...maskArgs(c, p), B, H, KH, Sq, Sk, D4, p.scale, lo, hi, Bq, gh, Bk, scratch, stride, ctr];
      c.r.pool.run('attn_weights', args, threads);
      wasmAttentionStats.weights = counters(c, ctr);
      return w;
    });
  },

  attentionBackward(q, k, v, out, lse, dout, p) {
    checkParams(p);
    return call((c) => {
      const { batch: B, heads: H, kvHeads: KH, seqQ: Sq, seqK: Sk, headDim: D, headDimV: DV } = p;
      const D4 = up4(D), DV4 = up4(DV);
      const nRows = B * H * Sq;
      const qp = padded(c, q, nRows, D, D4);
      const kp = padded(c, k, B * KH * Sk, D, D4);
      const vp = padded(c, v, B * KH * Sk, DV, DV4);
      const op = padded(c, out, nRows, DV, DV4);
      const dop = padded(c, dout, nRows, DV, DV4);
      const dq = output(c, nRows, D, D4);
      const dk = output(c, B * KH * Sk, D, D4);
      const dv = output(c, B * KH * Sk, DV, DV4);
      const [lo, hi] = band(p);
      const Bq = Math.max(4, Math.min(up4(Sq), up4(wasmAttentionTuning.bwdRows)));
      const Bk = up4(Math.max(4, wasmAttentionTuning.bwdKeys));
      const work = B * H * Sq * Sk * (2 * D4 + 2 * DV4);
      const { threads, ctr } = setup(c, work);
      // D_i = dout_i . out_i and lse with +Infinity on fully masked rows.
      const Dv = c.scratch(nRows * 4);
      const Lv = c.scratch(nRows * 4);
      c.r.pool.run('attn_bwd_prep', [op, dop, c.inF32(lse), Dv, Lv, nRows, DV4], nRows * DV4 < wasmAttentionTuning.minParallelWork ? 1 : threads);
      // Fused (B * KH items, 5 products a tile) unless splitting (7 products, finer items) shares the work better.
      const items = B * KH;
      const T = threads === 1 ? 1 : c.r.pool.threads;
      const scheme = wasmAttentionTuning.scheme !== 'auto' ? wasmAttentionTuning.scheme : T === 1 || Math.ceil(items / T) * 5 <= (items / T) * 7 ? 'fused' : 'split';
      const stride = up64(c.r.exports.attn_bwd_scratch(D4, DV4, Bq, Bk) as number);
      const scratch = c.scratch(stride * threads);
      const common = [...maskArgs(c, p), B, H, KH, Sq, Sk, D4, DV4, p.scale, lo, hi, Bq, Bk];
      const fused = scheme === 'fused' ? 1 : 0;
      c.r.pool.run('attn_bwd_kv', [qp, kp, vp, dop, Lv, Dv, dq.ptr, dk.ptr, dv.ptr, ...common, fused, scratch, stride, ctr], threads);
      wasmAttentionStats.backwardKV = counters(c, ctr);
      wasmAttentionStats.backwardQ = { tiles: 0, partial: 0 };
      if (!fused) {
        c.r.heap.viewF32(ctr, 16).fill(0);
        c.r.pool.run('attn_bwd_q', [qp, kp, vp, dop, Lv, Dv, dq.ptr, ...common, scratch, stride, ctr], threads);
        wasmAttentionStats.backwardQ = counters(c, ctr);
      }
      wasmAttentionStats.scheme = scheme;
      return { dq: dq.finish(), dk: dk.finish(), dv: dv.finish() };
    });
  },
};
