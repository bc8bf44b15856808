// matmul kernels (see README.md for the ABI).
//
// C[b] = op(A[b]) op(B[b]) in float32, GotoBLAS/BLIS style: op(B) is packed into panels of NR = 8 columns
// (k-major: for each q the 8 values of row q of the panel, contiguous), op(A) into panels of MR = 4 rows
// (k-major: the 4 values of column q), both zero-padded at the edges, and a 4 x 8 register tile of C
// (8 f32x4 accumulators) is computed from them: per q, 2 v128 loads of B, 4 splat loads of A, 8 multiply-adds
// (fused in the relaxed-SIMD build). Transposes are absorbed by the packing routines, so all four variants
// run the same micro-kernel.
//
// Blocking: for each block of NC columns and KC values of k, op(B)'s block is packed (L2/L3 resident); for
// each block of MC rows op(A)'s block is packed (L2), then every 4 x 8 tile of the block is computed, the
// B micro-panel (KC x 8) staying in L1 while the A micro-panels stream past it.
//
// Products with very few rows (a decoding step) or tiny ones take matmul_f32_rows instead: no packing, C
// computed row by row straight from A and B (an axpy over rows of B, or dot products with the rows of B
// when it is transposed).
//
// Order of the additions: on the packed path every C element is accumulated in one f32 accumulator over
// q = 0..k-1 in order (between k blocks the accumulator is stored to C and loaded back, which does not
// round), so its value depends only on the build (fused or not), not on the blocking or the thread split.
// The row path's axpy has the same order; its dot products sum 4 lanes of partial sums (q = 4t + lane) and
// then the lanes, every column the same way. Which path runs depends on the shape only, never on the
// thread count, so results are the same on any number of threads.
//
// Threads: the work is a list of tasks (batch item, row part, column part), the counts of parts chosen by
// the caller; thread tid takes a contiguous range of tasks and merges adjacent row parts of one product.

const MR: i32 = 4;
const NR: i32 = 8;

/** acc + a * b (fused multiply-add where the build has relaxed SIMD). */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, acc);
  } else {
    return f32x4.add(acc, f32x4.mul(a, b));
  }
}

/** acc + a * b on one float, rounded exactly as one lane of `madd`. */
// @ts-ignore: decorator
@inline function madd1(a: f32, b: f32, acc: f32): f32 {
  return f32x4.extract_lane(madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(acc)), 0);
}

/**
 * The 4 x 8 micro-kernel: C[0..4, 0..8] (at c, row stride ldc bytes) = (first ? 0 : C) + Ap Bp over kc steps.
 * ap: packed A micro-panel (kc x 4), bp: packed B micro-panel (kc x 8).
 */
// @ts-ignore: decorator
@inline function micro4x8(ap: usize, bp: usize, kc: i32, c: usize, ldc: usize, first: bool): void {
  let c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128;
  const c1 = c + ldc;
  const c2 = c1 + ldc;
  const c3 = c2 + ldc;
  if (first) {
    c00 = f32x4.splat(0); c01 = c00; c10 = c00; c11 = c00; c20 = c00; c21 = c00; c30 = c00; c31 = c00;
  } else {
    c00 = v128.load(c); c01 = v128.load(c, 16);
    c10 = v128.load(c1); c11 = v128.load(c1, 16);
    c20 = v128.load(c2); c21 = v128.load(c2, 16);
    c30 = v128.load(c3); c31 = v128.load(c3, 16);
  }
  for (let q = 0; q < kc; q++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    ap += 16;
    bp += 32;
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(c1, c10); v128.store(c1, c11, 16);
  v128.store(c2, c20); v128.store(c2, c21, 16);
  v128.store(c3, c30); v128.store(c3, c31, 16);
}

/** The micro-kernel on an edge tile (rows < 4 or cols < 8): through a 4 x 8 scratch tile. */
function microEdge(ap: usize, bp: usize, kc: i32, c: usize, ldc: usize, first: bool, rows: i32, cols: i32, tile: usize): void {
  if (!first) {
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < cols; j++) store<f32>(tile + ((<usize>(r * NR + j)) << 2), load<f32>(c + <usize>r * ldc + (<usize>j << 2)));
    }
  }
  micro4x8(ap, bp, kc, tile, <usize>NR << 2, first);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) store<f32>(c + <usize>r * ldc + (<usize>j << 2), load<f32>(tile + ((<usize>(r * NR + j)) << 2)));
  }
}

/**
 * Transposes 4 rows of 4 floats (at p0..p3) and stores them as 4 rows of 4 at d, d + ds, d + 2 ds, d + 3 ds:
 * d[q][r] = p_r[q].
 */
// @ts-ignore: decorator
@inline function transpose4(p0: usize, p1: usize, p2: usize, p3: usize, d: usize, ds: usize): void {
  const r0 = v128.load(p0);
  const r1 = v128.load(p1);
  const r2 = v128.load(p2);
  const r3 = v128.load(p3);
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(d, i64x2.shuffle(t0, t1, 0, 2));
  v128.store(d + ds, i64x2.shuffle(t0, t1, 1, 3));
  v128.store(d + 2 * ds, i64x2.shuffle(t2, t3, 0, 2));
  v128.store(d + 3 * ds, i64x2.shuffle(t2, t3, 1, 3));
}

/**
 * Packs op(B)[pc..pc+kc, jc..jc+nc] into ceil(nc / 8) panels of kc x 8 at dst (the last one zero-padded).
 * B (at b) is stored [k, n], or [n, k] when transB.
 */
function packB(b: usize, k: i32, n: i32, transB: bool, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize): void {
  const panelBytes = <usize>kc * (<usize>NR << 2);
  for (let j0 = 0; j0 < nc; j0 += NR) {
    const cols = min(NR, nc - j0);
    const d0 = dst + <usize>(j0 / NR) * panelBytes;
    const jj = jc + j0;
    if (!transB) {
      // Row q of op(B) is row pc + q of B: 8 contiguous floats.
      let s = b + ((<usize>pc * <usize>n + <usize>jj) << 2);
      const sn = <usize>n << 2;
      if (cols == NR) {
        for (let q = 0; q < kc; q++) {
          const d = d0 + (<usize>q << 5);
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
          s += sn;
        }
      } else {
        for (let q = 0; q < kc; q++) {
          const d = d0 + (<usize>q << 5);
          v128.store(d, f32x4.splat(0));
          v128.store(d, f32x4.splat(0), 16);
          for (let j = 0; j < cols; j++) store<f32>(d + (<usize>j << 2), load<f32>(s + (<usize>j << 2)));
          s += sn;
        }
      }
    } else {
      // Column j of op(B) is row jj + j of B (contiguous in q): transpose 8 rows into the panel.
      const rowBytes = <usize>k << 2;
      const s0 = b + ((<usize>jj * <usize>k + <usize>pc) << 2);
      if (cols == NR) {
        let q = 0;
        for (; q + 4 <= kc; q += 4) {
          const s = s0 + (<usize>q << 2);
          const d = d0 + (<usize>q << 5);
          transpose4(s, s + rowBytes, s + 2 * rowBytes, s + 3 * rowBytes, d, 32);
          const s4 = s + 4 * rowBytes;
          transpose4(s4, s4 + rowBytes, s4 + 2 * rowBytes, s4 + 3 * rowBytes, d + 16, 32);
        }
        for (; q < kc; q++) {
          const d = d0 + (<usize>q << 5);
          const s = s0 + (<usize>q << 2);
          for (let j = 0; j < NR; j++) store<f32>(d + (<usize>j << 2), load<f32>(s + <usize>j * rowBytes));
        }
      } else {
        for (let q = 0; q < kc; q++) {
          const d = d0 + (<usize>q << 5);
          v128.store(d, f32x4.splat(0));
          v128.store(d, f32x4.splat(0), 16);
          const s = s0 + (<usize>q << 2);
          for (let j = 0; j < cols; j++) store<f32>(d + (<usize>j << 2), load<f32>(s + <usize>j * rowBytes));
        }
      }
    }
  }
}

/**
 * Packs op(A)[ic..ic+mc, pc..pc+kc] into ceil(mc / 4) panels of kc x 4 at dst (the last one zero-padded).
 * A (at a) is stored [m, k], or [k, m] when transA.
 */
function packA(a: usize, m: i32, k: i32, transA: bool, ic: i32, mc: i32, pc: i32, kc: i32, dst: usize): void {
  const panelBytes = <usize>kc * (<usize>MR << 2);
  for (let i0 = 0; i0 < mc; i0 += MR) {
    const rows = min(MR, mc - i0);
    const d0 = dst + <usize>(i0 / MR) * panelBytes;
    const ii = ic + i0;
    if (transA) {
      // Column q of the panel is 4 contiguous floats of row pc + q of A.
      let s = a + ((<usize>pc * <usize>m + <usize>ii) << 2);
      const sm = <usize>m << 2;
      if (rows == MR) {
        for (let q = 0; q < kc; q++) {
          v128.store(d0 + (<usize>q << 4), v128.load(s));
          s += sm;
        }
      } else {
        for (let q = 0; q < kc; q++) {
          const d = d0 + (<usize>q << 4);
          v128.store(d, f32x4.splat(0));
          for (let r = 0; r < rows; r++) store<f32>(d + (<usize>r << 2), load<f32>(s + (<usize>r << 2)));
          s += sm;
        }
      }
    } else {
      // Row i of op(A) is contiguous in q: transpose 4 rows into the panel.
      const rowBytes = <usize>k << 2;
      const s0 = a + ((<usize>ii * <usize>k + <usize>pc) << 2);
      if (rows == MR) {
        let q = 0;
        for (; q + 4 <= kc; q += 4) {
          const s = s0 + (<usize>q << 2);
          transpose4(s, s + rowBytes, s + 2 * rowBytes, s + 3 * rowBytes, d0 + (<usize>q << 4), 16);
        }
        for (; q < kc; q++) {
          const d = d0 + (<usize>q << 4);
          const s = s0 + (<usize>q << 2);
          for (let r = 0; r < MR; r++) store<f32>(d + (<usize>r << 2), load<f32>(s + <usize>r * rowBytes));
        }
      } else {
        for (let q = 0; q < kc; q++) {
          const d = d0 + (<usize>q << 4);
          v128.store(d, f32x4.splat(0));
          const s = s0 + (<usize>q << 2);
          for (let r = 0; r < rows; r++) store<f32>(d + (<usize>r << 2), load<f32>(s + <usize>r * rowBytes));
        }
      }
    }
  }
}

/**
 * One product's block: C[r0..r1, c0..c1] = op(A) op(B), A at a, B at b, C at c (all of this batch item).
 * Scratch at s: the packed B block (ceil(min(NC, c1 - c0) / 8) * 8 * KC floats), then the packed A block
 * (ceil(min(MC, r1 - r0) / 4) * 4 * KC floats), then a 4 x 8 tile.
 */
function gemmBlock(
  a: usize, b: usize, c: usize, m: i32, k: i32, n: i32, transA: bool, transB: bool,
  r0: i32, r1: i32, c0: i32, c1: i32, kcMax: i32, mcMax: i32, ncMax: i32, s: usize,
): void {
  const ncBlock = min(ncMax, c1 - c0);
  const bBytes = <usize>(((ncBlock + NR - 1) / NR) * NR) * <usize>min(kcMax, k) << 2;
  const sa = s + bBytes;
  const mcBlock = min(mcMax, r1 - r0);
  const aBytes = <usize>(((mcBlock + MR - 1) / MR) * MR) * <usize>min(kcMax, k) << 2;
  const tile = sa + aBytes;
  const ldc = <usize>n << 2;
  for (let jc = c0; jc < c1; jc += ncMax) {
    const nc = min(ncMax, c1 - jc);
    for (let pc = 0; pc < k; pc += kcMax) {
      const kc = min(kcMax, k - pc);
      const first = pc == 0;
      packB(b, k, n, transB, pc, kc, jc, nc, s);
      const bPanel = <usize>kc << 5;
      const aPanel = <usize>kc << 4;
      for (let ic = r0; ic < r1; ic += mcMax) {
        const mc = min(mcMax, r1 - ic);
        packA(a, m, k, transA, ic, mc, pc, kc, sa);
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = min(NR, nc - jr);
          const bp = s + <usize>(jr / NR) * bPanel;
          let ap = sa;
          let cp = c + ((<usize>ic * <usize>n + <usize>(jc + jr)) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const rows = min(MR, mc - ir);
            if (rows == MR && cols == NR) micro4x8(ap, bp, kc, cp, ldc, first);
            else microEdge(ap, bp, kc, cp, ldc, first, rows, cols, tile);
            ap += aPanel;
            cp += ldc << 2;
          }
        }
      }
    }
  }
}

/** Byte address of batch item bi's operand: base + 4 table[bi] with a table (pointer != 0), else base + 4 bi step. */
// @ts-ignore: decorator
@inline function itemPtr(base: usize, table: usize, step: i32, bi: i32): usize {
  if (table != 0) return base + (<usize>load<i32>(table + (<usize>bi << 2)) << 2);
  return base + ((<usize>bi * <usize>step) << 2);
}

/**
 * C[b] = op(A[b]) op(B[b]) for b < batch, through packed panels. A[b] starts at a + 4 aOffs[b] (an i32 table at
 * aOffs), or at a + 4 b aStep when aOffs is 0; B[b] likewise; C[b] at c + 4 b m n. flags: 1 = transA,
 * 2 = transB. The work is batch * mparts * nparts tasks (row parts of ceil(m / mparts) rows rounded up to 4,
 * column parts of ceil(n / nparts) rounded up to 8); thread tid does tasks [tid T / nthreads, (tid + 1) T /
 * nthreads). Scratch: thread tid uses scratch + tid * stride, stride >= 4 (ceil(nc / 8) 8 kc +
 * ceil(mc / 4) 4 kc + 32) with kc = min(kcMax, k), nc = min(ncMax, columns of a part), mc = min(mcMax, rows
 * of a part).
 */
export function matmul_f32(
  a: usize, b: usize, c: usize, aOffs: usize, aStep: i32, bOffs: usize, bStep: i32,
  batch: i32, m: i32, k: i32, n: i32, flags: i32, mparts: i32, nparts: i32,
  kcMax: i32, mcMax: i32, ncMax: i32, scratch: usize, stride: usize,
  tid: i32, nthreads: i32,
): void {
  const transA = (flags & 1) != 0;
  const transB = (flags & 2) != 0;
  const mchunk = ((m + mparts - 1) / mparts + MR - 1) / MR * MR;
  const nchunk = ((n + nparts - 1) / nparts + NR - 1) / NR * NR;
  const per = mparts * nparts;
  const tasks = batch * per;
  const t0 = <i32>(<i64>tid * tasks / nthreads);
  const t1 = <i32>(<i64>(tid + 1) * tasks / nthreads);
  const s = scratch + <usize>tid * stride;
  const mn = <usize>m * <usize>n;
  let t = t0;
  while (t < t1) {
    // Task t = (bi, ni, mi), mi fastest: merge the run of row parts of the same (bi, ni).
    const bi = t / per;
    const rest = t - bi * per;
    const ni = rest / mparts;
    const mi = rest - ni * mparts;
    const run = min(t1 - t, mparts - mi);
    const r0 = min(m, mi * mchunk);
    const r1 = min(m, (mi + run) * mchunk);
    const c0 = min(n, ni * nchunk);
    const c1 = min(n, (ni + 1) * nchunk);
    t += run;
    if (r0 >= r1 || c0 >= c1) continue;
    const cp = c + ((<usize>bi * mn) << 2);
    gemmBlock(itemPtr(a, aOffs, aStep, bi), itemPtr(b, bOffs, bStep, bi), cp, m, k, n, transA, transB, r0, r1, c0, c1, kcMax, mcMax, ncMax, s);
  }
}

/**
 * One row of C, columns [c0, c1), from a contiguous row of op(A) (k floats at ar), op(B) not transposed
 * (B [k, n] at b): C[j] = sum_q ar[q] B[q, j], accumulated over q in order, 32 then 8 columns at a time.
 */
function rowAxpy(ar: usize, b: usize, cr: usize, k: i32, n: i32, c0: i32, c1: i32): void {
  const ldb = <usize>n << 2;
  let j = c0;
  for (; j + 32 <= c1; j += 32) {
    let x0 = f32x4.splat(0), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0, x7 = x0;
    let bp = b + (<usize>j << 2);
    let ap = ar;
    for (let q = 0; q < k; q++) {
      const av = v128.load32_splat(ap);
      x0 = madd(av, v128.load(bp), x0); x1 = madd(av, v128.load(bp, 16), x1);
      x2 = madd(av, v128.load(bp, 32), x2); x3 = madd(av, v128.load(bp, 48), x3);
      x4 = madd(av, v128.load(bp, 64), x4); x5 = madd(av, v128.load(bp, 80), x5);
      x6 = madd(av, v128.load(bp, 96), x6); x7 = madd(av, v128.load(bp, 112), x7);
      ap += 4;
      bp += ldb;
    }
    const d = cr + (<usize>j << 2);
    v128.store(d, x0); v128.store(d, x1, 16); v128.store(d, x2, 32); v128.store(d, x3, 48);
    v128.store(d, x4, 64); v128.store(d, x5, 80); v128.store(d, x6, 96); v128.store(d, x7, 112);
  }
  for (; j + 8 <= c1; j += 8) {
    let x0 = f32x4.splat(0), x1 = x0;
    let bp = b + (<usize>j << 2);
    let ap = ar;
    for (let q = 0; q < k; q++) {
      const av = v128.load32_splat(ap);
      x0 = madd(av, v128.load(bp), x0); x1 = madd(av, v128.load(bp, 16), x1);
      ap += 4;
      bp += ldb;
    }
    const d = cr + (<usize>j << 2);
    v128.store(d, x0); v128.store(d, x1, 16);
  }
  for (; j < c1; j++) {
    let x: f32 = 0;
    let bp = b + (<usize>j << 2);
    for (let q = 0; q < k; q++) {
      x = madd1(load<f32>(ar + (<usize>q << 2)), load<f32>(bp), x);
      bp += ldb;
    }
    store<f32>(cr + (<usize>j << 2), x);
  }
}

/** (l0 + l1) + (l2 + l3). */
// @ts-ignore: decorator
@inline function hsum(x: v128): f32 {
  return (f32x4.extract_lane(x, 0) + f32x4.extract_lane(x, 1)) + (f32x4.extract_lane(x, 2) + f32x4.extract_lane(x, 3));
}

/**
 * The dot product of ar and br (k floats each) as every column of rowDot computes it: 4 lanes of partial sums
 * over q = 4t + lane (t in order), summed as hsum, then the last k mod 4 products added in order.
 */
// @ts-ignore: decorator
@inline function dotTail(ar: usize, br: usize, k4: i32, k: i32, s: f32): f32 {
  for (let q = k4; q < k; q++) s = madd1(load<f32>(ar + (<usize>q << 2)), load<f32>(br + (<usize>q << 2)), s);
  return s;
}

/**
 * One row of C, columns [c0, c1), from a contiguous row of op(A) (k floats at ar), op(B) transposed
 * (B [n, k] at b): C[j] = dot(ar, row j of B), 8 columns at a time (see dotTail for the order).
 */
function rowDot(ar: usize, b: usize, cr: usize, k: i32, n: i32, c0: i32, c1: i32): void {
  const ldb = <usize>k << 2;
  const k4 = k & ~3;
  let j = c0;
  for (; j + 8 <= c1; j += 8) {
    const b0 = b + <usize>j * ldb;
    let x0 = f32x4.splat(0), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0, x7 = x0;
    for (let q = 0; q < k4; q += 4) {
      const o = <usize>q << 2;
      const av = v128.load(ar + o);
      let bp = b0 + o;
      x0 = madd(av, v128.load(bp), x0); bp += ldb;
      x1 = madd(av, v128.load(bp), x1); bp += ldb;
      x2 = madd(av, v128.load(bp), x2); bp += ldb;
      x3 = madd(av, v128.load(bp), x3); bp += ldb;
      x4 = madd(av, v128.load(bp), x4); bp += ldb;
      x5 = madd(av, v128.load(bp), x5); bp += ldb;
      x6 = madd(av, v128.load(bp), x6); bp += ldb;
      x7 = madd(av, v128.load(bp), x7);
    }
    const d = cr + (<usize>j << 2);
    store<f32>(d, dotTail(ar, b0, k4, k, hsum(x0)));
    store<f32>(d, dotTail(ar, b0 + ldb, k4, k, hsum(x1)), 4);
    store<f32>(d, dotTail(ar, b0 + 2 * ldb, k4, k, hsum(x2)), 8);
    store<f32>(d, dotTail(ar, b0 + 3 * ldb, k4, k, hsum(x3)), 12);
    store<f32>(d, dotTail(ar, b0 + 4 * ldb, k4, k, hsum(x4)), 16);
    store<f32>(d, dotTail(ar, b0 + 5 * ldb, k4, k, hsum(x5)), 20);
    store<f32>(d, dotTail(ar, b0 + 6 * ldb, k4, k, hsum(x6)), 24);
    store<f32>(d, dotTail(ar, b0 + 7 * ldb, k4, k, hsum(x7)), 28);
  }
  for (; j < c1; j++) {
    const br = b + <usize>j * ldb;
    let x = f32x4.splat(0);
    for (let q = 0; q < k4; q += 4) {
      const o = <usize>q << 2;
      x = madd(v128.load(ar + o), v128.load(br + o), x);
    }
    store<f32>(cr + (<usize>j << 2), dotTail(ar, br, k4, k, hsum(x)));
  }
}

/**
 * The few-rows path (no packing of B; for products with too few rows of C to amortise it): C[b] =
 * op(A[b]) op(B[b]) row by row, operands addressed as in matmul_f32. Work: batch * nparts tasks (column
 * parts of ceil(n / nparts) rounded up to 8), contiguous runs per thread. Scratch: thread tid uses
 * scratch + tid * stride (stride >= 4 k: a gathered row of op(A) when transA).
 */
export function matmul_f32_rows(
  a: usize, b: usize, c: usize, aOffs: usize, aStep: i32, bOffs: usize, bStep: i32,
  batch: i32, m: i32, k: i32, n: i32, flags: i32, nparts: i32, scratch: usize, stride: usize,
  tid: i32, nthreads: i32,
): void {
  const transA = (flags & 1) != 0;
  const transB = (flags & 2) != 0;
  const nchunk = ((n + nparts - 1) / nparts + NR - 1) / NR * NR;
  const tasks = batch * nparts;
  const t0 = <i32>(<i64>tid * tasks / nthreads);
  const t1 = <i32>(<i64>(tid + 1) * tasks / nthreads);
  const s = scratch + <usize>tid * stride;
  const mn = <usize>m * <usize>n;
  for (let t = t0; t < t1; t++) {
    const bi = t / nparts;
    const ni = t - bi * nparts;
    const c0 = min(n, ni * nchunk);
    const c1 = min(n, (ni + 1) * nchunk);
    if (c0 >= c1) continue;
    const ap = itemPtr(a, aOffs, aStep, bi);
    const bp = itemPtr(b, bOffs, bStep, bi);
    for (let i = 0; i < m; i++) {
      let ar = ap + ((<usize>i * <usize>k) << 2);
      if (transA) {
        // Gather row i of op(A) (column i of A [k, m]).
        for (let q = 0; q < k; q++) store<f32>(s + (<usize>q << 2), load<f32>(ap + ((<usize>q * <usize>m + <usize>i) << 2)));
        ar = s;
      }
      const cr = c + ((<usize>bi * mn + <usize>i * <usize>n) << 2);
      if (transB) rowDot(ar, bp, cr, k, n, c0, c1);
      else rowAxpy(ar, bp, cr, k, n, c0, c1);
    }
  }
}
