/**
 * Timing of the wasm backend's fused attention kernels (src/backend/wasm/attention.ts) on the benchmark
 * shapes of `npm run bench` (q, k, v [1, heads, N, headDim], the same hashed inputs as bench/peers), and
 * against the reference kernel at a small N. Prints one line per case: median ms of the timed runs, GFLOP/s
 * counted as bench/peers/common.mjs does (forward 4 heads N^2 d, halved when causal; forward + backward
 * 3.5x that), and the tiles the kernels computed.
 *
 *   node --expose-gc build/bench/attention-wasm.js [--n 1024,2048,4096] [--threads 1,2] [--causal 0,1] [--mode fwd,fwdbwd]
 *        [--heads 12] [--head-dim 64] [--repeats 3] [--warmup 1] [--flavour simd|relaxed-simd] [--reference-n 256]
 *
 * --flavour relaxed-simd turns on Node 20's relaxed-SIMD flag itself. --reference-n 0 skips the reference.
 * Each line also has the process's peak resident memory (since the start) and the wasm heap's peak live
 * bytes during the timed runs (the memory test: --heads 1 --n 65536 --mode fwdbwd --repeats 1 --warmup 0).
 */
import { availableParallelism, loadavg } from 'node:os';
import { attention as reference } from '../src/backend/reference/attention.js';
import { attentionKernels, wasmAttentionStats } from '../src/backend/wasm/attention.js';
import { configureWasm, enableRelaxedSimdFlag, wasmInfo, wasmRuntime } from '../src/backend/wasm/index.js';
import { adopt } from '../src/backend/wasm/runtime.js';
import type { AttentionKernels, AttentionParams } from '../src/backend/kernels/attention.js';
import { median, option, intOption } from './common.js';
import { benchInput } from './kernels.js';

const argv = process.argv.slice(2);
const list = (name: string, dflt: string): number[] => option(argv, name, dflt).split(',').filter((s) => s !== '').map(Number);
const ns = list('n', '1024,2048,4096');
const threadsList = list('threads', `1,${availableParallelism()}`);
const causals = list('causal', '0,1').map((c) => c === 1);
const modes = option(argv, 'mode', 'fwd,fwdbwd').split(',');
const heads = intOption(argv, 'heads', 12, 1);
const headDim = intOption(argv, 'head-dim', 64, 1);
const repeats = intOption(argv, 'repeats', 3, 1);
const warmup = intOption(argv, 'warmup', 1, 0);
const refN = intOption(argv, 'reference-n', 256, 0);
const flavour = option(argv, 'flavour', 'simd') as 'simd' | 'relaxed-simd';
if (flavour === 'relaxed-simd') enableRelaxedSimdFlag();
configureWasm({ flavour });


function params(n: number, causal: boolean, h = heads): AttentionParams {
  return { batch: 1, heads: h, kvHeads: h, seqQ: n, seqK: n, headDim, headDimV: headDim, scale: 1 / Math.sqrt(headDim), causal: causal ? 'top-left' : null, window: null, mask: null, maskShape: null };
}

/**
 * Median wall ms of the timed runs, each run's wall ms, and the median CPU ms (all threads; steadier than
 * wall time on a busy machine). Between runs (outside the timing) garbage is collected when node runs
 * with --expose-gc, and the event loop turns once so that the wasm heap's finalizers free the outputs.
 */
async function time(k: AttentionKernels, p: AttentionParams, mode: string, reps: number): Promise<{ ms: number; runs: number[]; cpuMs: number }> {
  const n = p.seqQ * p.heads * headDim;
  // In wasm memory, as a wasm-backend Tensor's data is (the reference reads them there as well).
  const q = adopt(benchInput(11, n)), kk = adopt(benchInput(12, n)), v = adopt(benchInput(13, n)), g = adopt(benchInput(14, n));
  const once = (): void => {
    const { out, lse } = k.attentionForward(q, kk, v, p);
    if (mode === 'fwdbwd') k.attentionBackward(q, kk, v, out, lse, g, p);
  };
  const settle = async (): Promise<void> => {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 0));
  };
  for (let w = 0; w < warmup; w++) {
    once();
    await settle();
  }
  wasmRuntime().heap.resetPeak();
  const runs: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    once();
    runs.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    await settle();
  }
  return { ms: median(runs), runs, cpuMs: median(cpu) };
}

const flops = (p: AttentionParams, mode: string): number => ((4 * p.heads * p.seqQ * p.seqK * headDim) / (p.causal ? 2 : 1)) * (mode === 'fwdbwd' ? 3.5 : 1);

wasmRuntime();
console.log(JSON.stringify({ flavour: wasmInfo().flavour, loadavg: loadavg().map((x) => +x.toFixed(2)), cores: availableParallelism() }));
for (const mode of modes) {
  for (const causal of causals) {
    if (refN > 0) {
      const p = params(refN, causal);
      configureWasm({ threads: 1 });
      const r = await time(reference as AttentionKernels, p, mode, 1);
      const w = await time(attentionKernels as AttentionKernels, p, mode, repeats);
      console.log(JSON.stringify({ mode, causal, n: refN, threads: 1, referenceMs: +r.ms.toFixed(1), wasmMs: +w.ms.toFixed(2), speedup: +(r.ms / w.ms).toFixed(1) }));
    }
    for (const n of ns) {
      for (const threads of threadsList) {
        configureWasm({ threads });
        await wasmRuntime().pool.ready();
        const p = params(n, causal);
        const t = await time(attentionKernels as AttentionKernels, p, mode, repeats);
        const f = flops(p, mode);
        console.log(JSON.stringify({
          mode, causal, n, heads, headDim, threads, ms: +t.ms.toFixed(1), gflops: +(f / t.ms / 1e6).toFixed(1),
          runs: t.runs.map((x) => +x.toFixed(1)), cpuMs: +t.cpuMs.toFixed(1), tiles: wasmAttentionStats.forward.tiles, scheme: mode === 'fwdbwd' ? wasmAttentionStats.scheme : undefined,
          load1: +loadavg()[0].toFixed(2),
          peakRssMiB: Math.round((process.resourceUsage().maxRSS * 1024) / 2 ** 20),
          wasmPeakMiB: Math.round(wasmRuntime().heap.getStats().peakLiveBytes / 2 ** 20),
        }));
      }
    }
  }
}
