/**
 * The wasm backend's fused attention (wasm/attention.ts, src/backend/wasm/attention.ts) against the
 * reference kernels (src/backend/reference/attention.ts): out, lse, the weights, dq, dk, dv, on awkward
 * sizes, grouped-query heads, every kind of mask and their combinations, fully masked rows, NaN inputs;
 * 1 and 2 threads and both backward schemes give the same bits; and the kernels skip masked tiles (their
 * tile counters, checked against a brute-force count of the tiles that hold an allowed entry).
 *
 * Run it twice: `node --test build-x/test/wasm-attention.test.js` tests the plain SIMD build, and with
 * `--experimental-wasm-relaxed-simd` the relaxed-SIMD one (fused multiply-adds).
 *
 * Tolerance: a first-order error bound per element, computed in float64 by `bounds` below from the same
 * formulas (u = 2^-24; each float32 dot product or sum of n terms errs by at most (n + 2) u times the sum
 * of its terms' magnitudes, the standard recursive-summation bound; fused multiply-adds only remove
 * roundings):
 * - a score s_ij = scale q_i.k_j errs by e_ij = (D + 3) u |scale| sum_d |q_id k_jd| (the forward scales
 *   q first: one rounding more than a dot product's D + 2);
 * - so each probability P_ij = exp(s_ij - lse_i) errs relatively by e_ij + max_j e_ij (the lse moves with
 *   the scores) + (n + 16) u (the row sum over n keys, the exponential's own ~2 ulp, rescalings) +
 *   4 u (|s_ij| + |m_i|) (rounding the exponent's argument s - m, whose size can reach ~88);
 * - out_id = sum_j P_ij v_jd then errs by at most that relative error times sum_j P_ij |v_jd|, plus
 *   (n + 2) u of the same sum; lse by max_j e_ij + (n + 8) u + u |lse|;
 * - the backward (fed the same out and lse on both sides) the same way through dP = dO.v, D = dO.out,
 *   dS = P (dP - D), each term's error carried into dq = scale sum_j dS k, dk = scale sum_i dS q and
 *   dv = sum_i P dO, each summed over up to n terms.
 * The test allows twice that bound (the reference's own float32 rounding, second-order terms) plus
 * 1e-37 (exponentials that underflow to denormals in the reference are 0 in the kernel). For unit-size
 * inputs this is about 1e-5 of the terms' size: far below the size of the values, which is what a wrong
 * index, a missed tile or a stale accumulator produces. Where the bound is 0 (fully masked rows, keys no
 * query attends) the kernel must give exactly 0; NaN and infinities must match the reference exactly.
 * The tests print the worst error / allowance they saw (about 0.1 to 0.15): the bound is tight enough to
 * mean something.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../src/tensor/random.js';
import { attention as reference, allowed } from '../src/backend/reference/attention.js';
import type { AttentionParams } from '../src/backend/kernels/attention.js';
import { attentionKernels, wasmAttentionStats, wasmAttentionTuning } from '../src/backend/wasm/attention.js';
import { configureWasm, wasmBackend, wasmInfo, wasmRuntime } from '../src/backend/wasm/index.js';

const U = 2 ** -24;
const wasm = attentionKernels as Required<typeof attentionKernels>;
const defaults = { ...wasmAttentionTuning };
const relaxedFlag = process.execArgv.includes('--experimental-wasm-relaxed-simd') || process.env.QKV_TEST_RELAXED === '1';

interface Case {
  batch?: number;
  heads?: number;
  kvHeads?: number;
  seqQ: number;
  seqK: number;
  headDim?: number;
  headDimV?: number;
  causal?: 'top-left' | 'bottom-right' | null;
  window?: number | null;
  /** 'padding': [batch, 1, 1, seqK]; 'full': [batch, heads, seqQ, seqK]; 'rows': [1, 1, seqQ, seqK]; 'head': [1, heads, 1, 1]. */
  mask?: 'padding' | 'full' | 'rows' | 'head' | null;
  /** Probability of an allowed entry in a random mask. */
  pAllow?: number;
  /** Also check the backward (off for the large forward-only cases). */
  backward?: boolean;
  scale?: number;
}

function randn(n: number, g: Generator): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = g.normal();
  return x;
}

function maskFor(c: Case, p: AttentionParams, g: Generator): void {
  if (!c.mask) return;
  const { batch: B, heads: H, seqQ: Sq, seqK: Sk } = p;
  const shape = c.mask === 'padding' ? [B, 1, 1, Sk] : c.mask === 'full' ? [B, H, Sq, Sk] : c.mask === 'rows' ? [1, 1, Sq, Sk] : [1, H, 1, 1];
  const n = shape.reduce((a, b) => a * b, 1);
  const m = new Float32Array(n);
  const pAllow = c.pAllow ?? 0.7;
  if (c.mask === 'padding') {
    // batch b keeps its first Sk - b * (Sk / 3) keys: the later batches are padded.
    for (let b = 0; b < B; b++) for (let j = 0; j < Sk; j++) m[b * Sk + j] = j < Sk - Math.floor((b * Sk) / 3) ? 1 : 0;
  } else {
    for (let i = 0; i < n; i++) m[i] = g.uniform() < pAllow ? 1 : 0;
  }
  p.mask = m;
  p.maskShape = shape;
}

function makeParams(c: Case, seed: number): { p: AttentionParams; q: Float32Array; k: Float32Array; v: Float32Array; g: Float32Array } {
  const gen = new Generator(seed);
  const B = c.batch ?? 1, H = c.heads ?? 1, KH = c.kvHeads ?? H, D = c.headDim ?? 8, DV = c.headDimV ?? D;
  const p: AttentionParams = {
    batch: B, heads: H, kvHeads: KH, seqQ: c.seqQ, seqK: c.seqK, headDim: D, headDimV: DV,
    scale: c.scale ?? 1 / Math.sqrt(D), causal: c.causal ?? null, window: c.window ?? null, mask: null, maskShape: null,
  };
  maskFor(c, p, gen);
  return {
    p,
    q: randn(B * H * c.seqQ * D, gen),
    k: randn(B * KH * c.seqK * D, gen),
    v: randn(B * KH * c.seqK * DV, gen),
    g: randn(B * H * c.seqQ * DV, gen),
  };
}

function describe(c: Case, p: AttentionParams): string {
  return `B${p.batch} H${p.heads}/${p.kvHeads} Sq${p.seqQ} Sk${p.seqK} D${p.headDim}/${p.headDimV} causal ${p.causal} window ${p.window} mask ${c.mask ?? null}${p.maskShape ? ` [${p.maskShape.join(',')}]` : ''}`;
}

interface Bounds {
  out: Float64Array;
  lse: Float64Array;
  w: Float64Array;
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
}

/**
 * The per-element error bounds described at the top of the file, in float64. `out` and `lse` are what
 * both backward kernels are given (the reference's forward results).
 */
function bounds(q: Float32Array, k: Float32Array, v: Float32Array, dout: Float32Array, out: Float32Array, lse: Float32Array, p: AttentionParams): Bounds {
  const { batch: B, heads: H, kvHeads: KH, seqQ: Sq, seqK: Sk, headDim: D, headDimV: DV, scale } = p;
  const group = H / KH;
  const as = Math.abs(scale);
  const res: Bounds = {
    out: new Float64Array(out.length), lse: new Float64Array(lse.length), w: new Float64Array(B * H * Sq * Sk),
    dq: new Float64Array(q.length), dk: new Float64Array(k.length), dv: new Float64Array(v.length),
  };
  const s = new Float64Array(Sk), e = new Float64Array(Sk), keys = new Int32Array(Sk);
  const nRowsPerKey = group * Sq; // terms summed into one dk / dv element, at most
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kv = b * KH + Math.floor(h / group);
      for (let i = 0; i < Sq; i++) {
        const row = (b * H + h) * Sq + i;
        let n = 0, m = -Infinity, delta = 0;
        for (let j = 0; j < Sk; j++) {
          if (!allowed(p, b, h, i, j)) continue;
          let dot = 0, mag = 0;
          for (let d = 0; d < D; d++) {
            const x = q[row * D + d] * k[(kv * Sk + j) * D + d];
            dot += x;
            mag += Math.abs(x);
          }
          keys[n] = j;
          s[n] = scale * dot;
          e[n] = (D + 3) * U * as * mag;
          m = Math.max(m, s[n]);
          delta = Math.max(delta, e[n]);
          n++;
        }
        if (n === 0) continue; // all bounds 0: exact zeros expected
        let sum = 0;
        for (let t = 0; t < n; t++) sum += Math.exp(s[t] - m);
        const lse64 = m + Math.log(sum);
        res.lse[row] = delta + (n + 8) * U + U * Math.abs(lse64) + 4 * U * Math.abs(m);
        const L = lse[row];
        const o = row * DV;
        let Di = 0, eD = 0;
        for (let d = 0; d < DV; d++) {
          Di += dout[o + d] * out[o + d];
          eD += Math.abs(dout[o + d] * out[o + d]);
        }
        eD *= (DV + 2) * U;
        for (let t = 0; t < n; t++) {
          const j = keys[t];
          const P = Math.exp(s[t] - lse64);
          const rel = e[t] + delta + (n + 16) * U + 4 * U * (Math.abs(s[t]) + Math.abs(m));
          const vo = (kv * Sk + j) * DV;
          for (let d = 0; d < DV; d++) res.out[o + d] += (rel + (n + 2) * U) * P * Math.abs(v[vo + d]);
          // weights and backward: P recomputed from the given lse
          const Pb = Math.exp(s[t] - L);
          const relB = e[t] + 8 * U + 4 * U * (Math.abs(s[t]) + Math.abs(L));
          res.w[row * Sk + j] = relB * Pb;
          let dP = 0, edP = 0;
          for (let d = 0; d < DV; d++) {
            dP += dout[o + d] * v[vo + d];
            edP += Math.abs(dout[o + d] * v[vo + d]);
          }
          edP *= (DV + 2) * U;
          const dS = Pb * (dP - Di);
          const edS = relB * Math.abs(dS) + Pb * (edP + eD) + 2 * U * Math.abs(dS);
          const ko = (kv * Sk + j) * D;
          for (let d = 0; d < D; d++) {
            res.dq[row * D + d] += as * (edS + (n + 2) * U * Math.abs(dS)) * Math.abs(k[ko + d]);
            res.dk[ko + d] += as * (edS + (nRowsPerKey + 2) * U * Math.abs(dS)) * Math.abs(q[row * D + d]);
          }
          for (let d = 0; d < DV; d++) res.dv[vo + d] += (relB + (nRowsPerKey + 2) * U) * Pb * Math.abs(dout[o + d]);
        }
      }
    }
  }
  return res;
}

/** |got - want| <= 2 bound + 1e-37 elementwise; non-finite values must match exactly. Returns the worst error / allowance. */
function assertWithin(got: Float32Array, want: Float32Array, bound: Float64Array, what: string): number {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const w = want[i], x = got[i];
    if (!Number.isFinite(w) || !Number.isFinite(x)) {
      if (!(Object.is(x, w) || (Number.isNaN(w) && Number.isNaN(x)))) assert.fail(`${what}: element ${i} is ${x}, reference ${w}`);
      continue;
    }
    const allow = bound[i] === 0 ? 0 : 2 * bound[i] + 1e-37;
    const err = Math.abs(x - w);
    if (!(err <= allow)) assert.fail(`${what}: element ${i} is ${x}, reference ${w} (error ${err.toExponential(3)} > allowed ${allow.toExponential(3)})`);
    if (allow > 0) worst = Math.max(worst, err / allow);
  }
  return worst;
}

function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) assert.fail(`${what}: element ${i} is ${got[i]}, the other run gave ${want[i]}`);
  }
}

interface Results {
  out: Float32Array;
  lse: Float32Array;
  w: Float32Array;
  dq?: Float32Array;
  dk?: Float32Array;
  dv?: Float32Array;
}

/** The wasm kernels on a case: forward, weights and (if asked) backward from the given out / lse. */
function runWasm(d: ReturnType<typeof makeParams>, backward: boolean, given?: { out: Float32Array; lse: Float32Array }): Results {
  const { p, q, k, v, g } = d;
  const { out, lse } = wasm.attentionForward(q, k, v, p);
  const src = given ?? { out, lse };
  const res: Results = { out: out.slice(), lse: lse.slice(), w: wasm.attentionWeights(q, k, src.lse, p).slice() };
  if (backward) {
    const { dq, dk, dv } = wasm.attentionBackward(q, k, v, src.out, src.lse, g, p);
    Object.assign(res, { dq: dq.slice(), dk: dk.slice(), dv: dv.slice() });
  }
  return res;
}

/** Checks a case against the reference within the bounds; returns the worst error / allowance. */
function check(c: Case, seed: number): number {
  const d = makeParams(c, seed);
  const { p, q, k, v, g } = d;
  const what = describe(c, p);
  const backward = c.backward ?? true;
  const ref = reference.attentionForward(q, k, v, p);
  const got = runWasm(d, backward, ref);
  const bd = bounds(q, k, v, g, ref.out, ref.lse, p);
  let worst = 0;
  worst = Math.max(worst, assertWithin(got.out, ref.out, bd.out, `${what}: out`));
  worst = Math.max(worst, assertWithin(got.lse, ref.lse, bd.lse, `${what}: lse`));
  worst = Math.max(worst, assertWithin(got.w, reference.attentionWeights(q, k, ref.lse, p), bd.w, `${what}: weights`));
  if (backward) {
    const rb = reference.attentionBackward(q, k, v, ref.out, ref.lse, g, p);
    worst = Math.max(worst, assertWithin(got.dq!, rb.dq, bd.dq, `${what}: dq`));
    worst = Math.max(worst, assertWithin(got.dk!, rb.dk, bd.dk, `${what}: dk`));
    worst = Math.max(worst, assertWithin(got.dv!, rb.dv, bd.dv, `${what}: dv`));
  }
  return worst;
}

async function setThreads(n: number): Promise<void> {
  configureWasm({ threads: n });
  const have = await wasmRuntime().pool.ready();
  assert.equal(have, n, `wanted ${n} threads, the pool has ${have} ready`);
}

const SIZES = [1, 3, 17, 65, 127];

test('wasm attention: runs the build this process asked for', () => {
  assert.equal(wasmInfo().flavour, relaxedFlag ? 'relaxed-simd' : 'simd');
  console.log(`# wasm attention tests on the ${wasmInfo().flavour} build`);
});

test('wasm attention: the wasm backend uses these kernels', () => {
  assert.equal(wasmBackend.attentionForward, attentionKernels.attentionForward);
  assert.equal(wasmBackend.attentionBackward, attentionKernels.attentionBackward);
  assert.equal(wasmBackend.attentionWeights, attentionKernels.attentionWeights);
});

test('wasm attention: the kernels\' SIMD exp is accurate to a few float32 ulps, 0 below -87.33 and at -Infinity, NaN at NaN', () => {
  const exp = wasmRuntime().exports.attn_exp as (x: number) => number;
  let worst = 0;
  for (let i = 0; i <= 200000; i++) {
    const x = Math.fround(-87.3 + (i / 200000) * (88 + 87.3));
    const want = Math.exp(x);
    const got = exp(x);
    // relative error against the exact e^x of the float32 x; 4 u covers the polynomial's ~2 ulp and the
    // final roundings (the kernels' error bounds above budget 16 u for it)
    const rel = Math.abs(got - want) / want;
    if (!(rel <= 4 * U)) assert.fail(`exp(${x}) = ${got}, exact ${want} (relative error ${rel.toExponential(2)})`);
    worst = Math.max(worst, rel / U);
  }
  assert.equal(exp(0), 1);
  assert.equal(exp(-Infinity), 0);
  assert.equal(exp(-87.5), 0);
  assert.equal(exp(-1000), 0);
  assert.ok(Number.isNaN(exp(NaN)));
  console.log(`# exp: worst relative error ${worst.toFixed(2)} u`);
});

test('wasm attention: every size pair, no mask and causal (both alignments), against the reference', async () => {
  await setThreads(1);
  let worst = 0, n = 0;
  for (const seqQ of SIZES) {
    for (const seqK of SIZES) {
      for (const causal of [null, 'top-left', 'bottom-right'] as const) {
        worst = Math.max(worst, check({ seqQ, seqK, causal, headDim: 5, headDimV: 7 }, 100 + n++));
      }
    }
  }
  console.log(`# ${n} cases, worst error / allowance ${worst.toExponential(2)}`);
});

test('wasm attention: grouped-query heads and head sizes', async () => {
  await setThreads(1);
  let worst = 0, n = 0;
  for (const [heads, kvHeads] of [[1, 1], [4, 4], [4, 2], [4, 1]]) {
    for (const [headDim, headDimV] of [[5, 7], [64, 32], [8, 8], [12, 4], [1, 1], [36, 68]]) {
      for (const causal of [null, 'bottom-right'] as const) {
        worst = Math.max(worst, check({ batch: 2, heads, kvHeads, seqQ: 17, seqK: 65, headDim, headDimV, causal }, 200 + n++));
        worst = Math.max(worst, check({ heads, kvHeads, seqQ: 65, seqK: 17, headDim, headDimV, causal, mask: 'full' }, 200 + n++));
      }
    }
  }
  console.log(`# ${n} cases, worst error / allowance ${worst.toExponential(2)}`);
});

test('wasm attention: scale of any sign (negative and zero scales take the kernels\' other path)', async () => {
  await setThreads(1);
  let n = 0;
  for (const scale of [-0.4, 0, 2.5]) {
    for (const causal of [null, 'top-left'] as const) {
      check({ heads: 2, kvHeads: 1, seqQ: 65, seqK: 127, headDim: 12, headDimV: 8, causal, mask: 'full', scale }, 250 + n++);
    }
  }
});

test('wasm attention: every mask kind and their combinations', async () => {
  await setThreads(1);
  let worst = 0, n = 0;
  const masks = [null, 'padding', 'full', 'rows', 'head'] as const;
  for (const [seqQ, seqK] of [[65, 65], [127, 127], [17, 65], [65, 17], [3, 127], [1, 65]]) {
    for (const mask of masks) {
      for (const causal of [null, 'top-left', 'bottom-right'] as const) {
        for (const window of [null, 1, 7, 40]) {
          if (window !== null && causal === null && seqQ !== seqK) continue; // the op refuses it
          worst = Math.max(worst, check({ batch: 2, heads: 4, kvHeads: 2, seqQ, seqK, headDim: 8, headDimV: 4, causal, window, mask }, 300 + n++));
        }
      }
    }
  }
  console.log(`# ${n} cases, worst error / allowance ${worst.toExponential(2)}`);
});

test('wasm attention: large sizes (1000), forward and backward', async () => {
  await setThreads(1);
  let worst = 0;
  worst = Math.max(worst, check({ seqQ: 1000, seqK: 1000, headDim: 64, headDimV: 64, causal: 'top-left' }, 401));
  worst = Math.max(worst, check({ seqQ: 1000, seqK: 1000, headDim: 16, window: 100 }, 402));
  worst = Math.max(worst, check({ seqQ: 127, seqK: 1000, heads: 2, kvHeads: 1, headDim: 16, headDimV: 12, causal: 'bottom-right', mask: 'full', pAllow: 0.3 }, 403));
  worst = Math.max(worst, check({ seqQ: 1000, seqK: 17, headDim: 20, mask: 'padding', batch: 3 }, 404));
  console.log(`# worst error / allowance ${worst.toExponential(2)}`);
});

test('wasm attention: fully masked rows give out 0, lse -Infinity, weights 0 and no gradient', async () => {
  await setThreads(1);
  for (const c of [
    // bottom-right with more queries than keys: the first 65 - 17 queries see no key
    { seqQ: 65, seqK: 17, causal: 'bottom-right', headDim: 8 } as Case,
    // a mask that leaves some rows (and some keys) with nothing
    { seqQ: 65, seqK: 65, mask: 'full', pAllow: 0.03, headDim: 8, heads: 2 } as Case,
    // a bottom-right causal window of 3 over the last keys, which padding removes in batches 1 and 2
    { seqQ: 17, seqK: 65, causal: 'bottom-right', window: 3, mask: 'padding', batch: 3, headDim: 4 } as Case,
    // every row masked
    { seqQ: 17, seqK: 17, mask: 'head', pAllow: 0, headDim: 4, heads: 3 } as Case,
  ]) {
    const d = makeParams(c, 500);
    const { p } = d;
    const got = runWasm(d, true);
    let masked = 0;
    for (let b = 0; b < p.batch; b++) {
      for (let h = 0; h < p.heads; h++) {
        for (let i = 0; i < p.seqQ; i++) {
          let any = false;
          for (let j = 0; j < p.seqK && !any; j++) any = allowed(p, b, h, i, j);
          if (any) continue;
          masked++;
          const row = (b * p.heads + h) * p.seqQ + i;
          assert.equal(got.lse[row], -Infinity, `${describe(c, p)}: lse of masked row ${row}`);
          assert.ok(got.out.subarray(row * p.headDimV, (row + 1) * p.headDimV).every((x) => x === 0), `out row ${row} is 0`);
          assert.ok(got.w.subarray(row * p.seqK, (row + 1) * p.seqK).every((x) => x === 0), `weights row ${row} are 0`);
          assert.ok(got.dq!.subarray(row * p.headDim, (row + 1) * p.headDim).every((x) => x === 0), `dq row ${row} is 0`);
        }
      }
    }
    assert.ok(masked > 0, `${describe(c, p)} has fully masked rows`);
    check(c, 500); // and everything else as the reference
  }
});

test('wasm attention: NaN in q, k, v or dout propagates where the reference has it, and only there', async () => {
  await setThreads(1);
  // top-left causal: key 5 is seen by rows >= 5 only. bottom-right with seqQ > seqK: rows 0 .. 47 see no
  // key, so a NaN in their q or dout must go nowhere.
  const cases: [Case, number][] = [
    [{ seqQ: 17, seqK: 65, heads: 2, kvHeads: 1, causal: 'top-left', headDim: 8 }, 5],
    [{ seqQ: 65, seqK: 17, heads: 2, kvHeads: 1, causal: 'bottom-right', headDim: 8 }, 2],
    [{ seqQ: 65, seqK: 65, heads: 1, mask: 'full', pAllow: 0.5, headDim: 8 }, 7],
  ];
  for (const [c, at] of cases) {
    for (const which of ['q', 'k', 'v', 'g'] as const) {
      const d = makeParams(c, 600);
      d[which][at * 8 + 1] = NaN; // row / key `at` of head (or kv head) 0
      const what = `NaN in ${which === 'g' ? 'dout' : which} ${describe(c, d.p)}`;
      const ref = reference.attentionForward(d.q, d.k, d.v, d.p);
      const got = runWasm(d, true, ref);
      const rb = reference.attentionBackward(d.q, d.k, d.v, ref.out, ref.lse, d.g, d.p);
      const bd = bounds(d.q, d.k, d.v, d.g, ref.out, ref.lse, d.p);
      assertWithin(got.out, ref.out, bd.out, `${what}: out`);
      assertWithin(got.lse, ref.lse, bd.lse, `${what}: lse`);
      assertWithin(got.dq!, rb.dq, bd.dq, `${what}: dq`);
      assertWithin(got.dk!, rb.dk, bd.dk, `${what}: dk`);
      assertWithin(got.dv!, rb.dv, bd.dv, `${what}: dv`);
    }
  }
});

test('wasm attention: 1 and 2 threads, and both backward schemes, give the same bits', async () => {
  const cases: Case[] = [
    { batch: 2, heads: 4, kvHeads: 2, seqQ: 127, seqK: 127, headDim: 64, causal: 'top-left' },
    { heads: 1, seqQ: 300, seqK: 200, headDim: 5, headDimV: 7, causal: 'bottom-right', mask: 'full' },
    { heads: 3, seqQ: 256, seqK: 256, headDim: 16, window: 50, mask: 'padding' },
    { heads: 4, kvHeads: 1, seqQ: 65, seqK: 1000, headDim: 32, headDimV: 16 },
  ];
  for (const c of cases) {
    const d = makeParams(c, 700);
    const what = describe(c, d.p);
    Object.assign(wasmAttentionTuning, { minParallelWork: 0 });
    try {
      await setThreads(1);
      const one = runWasm(d, true);
      const oneScheme = wasmAttentionStats.scheme;
      wasmAttentionTuning.scheme = oneScheme === 'fused' ? 'split' : 'fused';
      const other = runWasm(d, true);
      wasmAttentionTuning.scheme = 'auto';
      await setThreads(2);
      const two = runWasm(d, true);
      wasmAttentionTuning.scheme = 'split';
      const twoSplit = runWasm(d, true);
      for (const key of ['out', 'lse', 'w', 'dq', 'dk', 'dv'] as const) {
        sameBits(two[key]!, one[key]!, `${what}: ${key}, 2 threads vs 1`);
        sameBits(twoSplit[key]!, one[key]!, `${what}: ${key}, 2 threads split vs 1`);
        sameBits(other[key]!, one[key]!, `${what}: ${key}, ${oneScheme} vs the other scheme`);
      }
    } finally {
      Object.assign(wasmAttentionTuning, defaults);
      await setThreads(1);
    }
  }
});

/**
 * The tiles a kernel must compute, brute force: tiles (rowsPerTile query positions of one head x
 * keysPerTile keys) holding at least one allowed entry, and how many of them also hold a masked-out one
 * (or stick out past the last key).
 */
function expectedTiles(p: AttentionParams, rowsPerTile: number, keysPerTile: number): { tiles: number; partial: number } {
  let tiles = 0, partial = 0;
  for (let b = 0; b < p.batch; b++) {
    for (let h = 0; h < p.heads; h++) {
      for (let i0 = 0; i0 < p.seqQ; i0 += rowsPerTile) {
        for (let j0 = 0; j0 < p.seqK; j0 += keysPerTile) {
          let yes = 0, no = 0;
          for (let i = i0; i < Math.min(i0 + rowsPerTile, p.seqQ); i++) {
            for (let j = j0; j < j0 + keysPerTile; j++) {
              if (j < p.seqK && allowed(p, b, h, i, j)) yes++;
              else no++;
            }
          }
          if (yes > 0) tiles++;
          if (yes > 0 && no > 0) partial++;
        }
      }
    }
  }
  return { tiles, partial };
}

test('wasm attention: masked tiles are skipped (tile counters)', async () => {
  await setThreads(1);
  const N = 1024;
  const T = 64;
  Object.assign(wasmAttentionTuning, { fwdRows: T, fwdKeys: T, bwdRows: T, bwdKeys: T });
  try {
    const counts: Record<string, number> = {};
    for (const [name, c] of [
      ['none', { seqQ: N, seqK: N }],
      ['causal', { seqQ: N, seqK: N, causal: 'top-left' }],
      ['causal bottom-right, seqQ < seqK', { seqQ: 300, seqK: N, causal: 'bottom-right' }],
      ['window 100', { seqQ: N, seqK: N, window: 100 }],
      ['causal window 64', { seqQ: N, seqK: N, causal: 'top-left', window: 64 }],
      ['padding (batch 1 keeps 2/3 of the keys)', { batch: 2, seqQ: 256, seqK: 768, mask: 'padding' }],
      ['all masked', { seqQ: 256, seqK: 256, mask: 'head', pAllow: 0 }],
    ] as [string, Case][]) {
      const d = makeParams({ ...c, headDim: 4 }, 800);
      const { p } = d;
      const want = expectedTiles(p, T, T);
      wasm.attentionForward(d.q, d.k, d.v, p);
      assert.deepEqual(wasmAttentionStats.forward, want, `${name}: forward tiles`);
      const { out, lse } = wasm.attentionForward(d.q, d.k, d.v, p);
      wasmAttentionTuning.scheme = 'split';
      wasm.attentionBackward(d.q, d.k, d.v, out, lse, d.g, p);
      assert.deepEqual(wasmAttentionStats.backwardKV, want, `${name}: backward dK/dV tiles`);
      assert.deepEqual(wasmAttentionStats.backwardQ, want, `${name}: backward dQ tiles`);
      wasmAttentionTuning.scheme = 'fused';
      wasm.attentionBackward(d.q, d.k, d.v, out, lse, d.g, p);
      assert.deepEqual(wasmAttentionStats.backwardKV, want, `${name}: fused backward tiles`);
      wasmAttentionTuning.scheme = 'auto';
      wasm.attentionWeights(d.q, d.k, lse, p);
      assert.deepEqual(wasmAttentionStats.weights, want, `${name}: weights tiles`);
      counts[name] = want.tiles;
    }
    const all = (N / T) ** 2;
    assert.equal(counts.none, all);
    // causal: the lower triangle of 16 x 16 tiles with its diagonal, 136 of 256 (~half)
    assert.equal(counts.causal, (16 * 17) / 2);
    // a query block of 64 with a window of 100 on both sides meets at most 5 key blocks of 64 (keys
    // i0 - 99 .. i0 + 162): ~(2 W + T) / N of the work
    assert.ok(counts['window 100'] <= 5 * (N / T), `window: ${counts['window 100']} tiles`);
    // a causal window of 64 on aligned blocks: the diagonal block and the one before it
    assert.equal(counts['causal window 64'], 2 * (N / T) - 1);
    assert.equal(counts['all masked'], 0);
  } finally {
    Object.assign(wasmAttentionTuning, defaults);
  }
});

test('wasm attention: GQA forward tiles cover the whole group (each K/V block once per tile of the group rows)', async () => {
  await setThreads(1);
  Object.assign(wasmAttentionTuning, { fwdRows: 64, fwdKeys: 64 });
  try {
    // 8 query heads on 2 kv heads, 64 queries: tiles of 4 heads x 16 queries; 4 query blocks x 1 chunk x 2 kv heads x 4 key blocks.
    const d = makeParams({ heads: 8, kvHeads: 2, seqQ: 64, seqK: 256, headDim: 4 }, 900);
    wasm.attentionForward(d.q, d.k, d.v, d.p);
    assert.equal(wasmAttentionStats.forward.tiles, 4 * 2 * 4);
  } finally {
    Object.assign(wasmAttentionTuning, defaults);
  }
});
