/**
 * The kernel sections of `npm run bench` (driven by run.ts): matmul, attention forward, attention forward
 * + backward, and the memory sweep, each measurement in its own process, one after another:
 *
 * - qkv (bench/kernels.ts) on each asked backend and thread count;
 * - PyTorch 1.13 (bench/torch_kernels.py, through ../shared/bin/torch-python);
 * - onnxruntime-node (bench/peers/onnx_kernels.mjs; forward only);
 * - TensorFlow.js's WebAssembly backend (bench/peers/tfjs_kernels.mjs; one thread in Node).
 *
 * All of them compute on the same inputs (bench/peers/common.mjs; each reports the CRC-32 of its inputs)
 * and write their result to a temporary file; each result is compared with PyTorch's (the first PyTorch
 * thread count that ran, else the first peer that ran): max |x - ref| / max |ref| per output (out, and for
 * forward + backward dq, dk, dv), the worst of them, against a stated tolerance.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KernelOp, KernelResult } from './kernels.js';

export type KernelSection = 'matmul' | 'attention' | 'attention-backward' | 'memory';

export type RunJson = (cmd: string, args: string[], env?: NodeJS.ProcessEnv) => { ok: true; lines: Record<string, unknown>[] } | { ok: false; error: string };

export interface KernelBenchOptions {
  root: string;
  /** <build>/bench/, where kernels.js is. */
  here: string;
  sections: ReadonlySet<KernelSection>;
  matmulSizes: number[];
  attentionSizes: number[];
  memorySizes: number[];
  causal: boolean[];
  heads: number;
  headDim: number;
  /** qkv columns: backend and thread count. */
  qkv: { backend: string; threads: number }[];
  /** The reference backend runs only at sizes up to this (it is ~1 GFLOP/s). */
  refMaxN: number;
  /** tfjs-wasm attention runs only at sizes up to this (its batched matMul is ~1 GFLOP/s). */
  tfjsMaxN: number;
  torchPython: string | null;
  torchMissing: string | null;
  torchThreads: number[];
  onnxThreads: number[];
  onnxMissing: string | null;
  tfjsMissing: string | null;
  memoryQkv: { backend: string; threads: number }[];
  memoryTorchThreads: number;
  memoryCausal: boolean;
  warmup: number;
  repeats: number;
  maxSeconds: number;
  tolerance: number;
  runJson: RunJson;
  say: (s: string) => void;
}

export interface Table {
  title: string;
  header: string[];
  rows: string[][];
}

export interface KernelBenchReport {
  tables: Table[];
  notes: string[];
  raw: Record<string, unknown>[];
  /** Some peer disagreed with the reference beyond the tolerance, or computed on other inputs. */
  disagreement: boolean;
}

interface Work {
  op: KernelOp;
  n: number;
  causal: boolean;
  heads: number;
  headDim: number;
  warmup: number;
  repeats: number;
  maxSeconds: number;
}

interface Peer {
  id: string;
  label: string;
  kind: 'qkv' | 'torch' | 'onnx' | 'tfjs';
  threads: number;
  backend?: string;
  /** null: run it; a string: why it is not run for this workload (the cell says 'not run'). */
  skip(w: Work): string | null;
  command(w: Work, out: string): { cmd: string; args: string[]; env?: NodeJS.ProcessEnv };
}

type Outcome = { kind: 'ok'; r: KernelResult; agreement?: Agreement } | { kind: 'skipped'; reason: string } | { kind: 'failed'; reason: string } | { kind: 'not-run'; reason: string };

interface Agreement {
  /** Worst max|x - ref| / max|ref| over the outputs; NaN when a value was NaN. */
  rel: number;
  maxAbs: number;
  against: string;
  sameInputs: boolean;
  ok: boolean;
}

const fmtNum = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const th = (n: number): string => `${n} thread${n === 1 ? '' : 's'}`;

function workArgs(w: Work, out: string): string[] {
  const what = w.op === 'matmul' ? ['matmul', String(w.n)] : ['attention', w.op === 'attention-fwd' ? 'fwd' : 'fwdbwd', String(w.n)];
  return [...what, '--causal', w.causal ? '1' : '0', '--heads', String(w.heads), '--head-dim', String(w.headDim), '--warmup', String(w.warmup), '--repeats', String(w.repeats), '--max-seconds', String(w.maxSeconds), '--out', out];
}

function makePeers(o: KernelBenchOptions): { qkv: Peer[]; torch: Peer[]; onnx: Peer[]; tfjs: Peer[] } {
  const node = process.execPath;
  // 'wasm' runs as the CLI does, with relaxed SIMD on (Node 20's flag); 'wasm-simd' is the plain SIMD build
  // (what an engine without relaxed SIMD runs), timed on matmul only.
  const qkvPeer = (backend: string, threads: number): Peer => ({
    id: `qkv-${backend}-${threads}`,
    label: `qkv ${backend === 'wasm' ? 'wasm relaxed-SIMD' : backend === 'wasm-simd' ? 'wasm plain SIMD' : backend}${backend === 'reference' ? '' : ` (${th(threads)})`}`,
    kind: 'qkv',
    threads,
    backend,
    skip: (w) =>
      backend === 'reference' && w.n > o.refMaxN
        ? `reference: only N <= ${o.refMaxN} (~1 GFLOP/s; --ref-max-n)`
        : backend === 'wasm-simd' && w.op !== 'matmul'
          ? 'plain SIMD: matmul only'
          : null,
    command: (w, out) => ({
      cmd: node,
      args: [
        ...(backend === 'wasm' ? ['--experimental-wasm-relaxed-simd'] : []),
        '--expose-gc',
        `${o.here}kernels.js`,
        ...workArgs(w, out),
        '--backend',
        backend === 'wasm-simd' ? 'wasm' : backend,
        '--threads',
        String(threads),
      ],
    }),
  });
  const torchPeer = (threads: number): Peer => ({
    id: `torch-${threads}`,
    label: `PyTorch (${th(threads)})`,
    kind: 'torch',
    threads,
    skip: () => o.torchMissing,
    command: (w, out) => ({ cmd: o.torchPython!, args: [`${o.root}bench/torch_kernels.py`, ...workArgs(w, out), '--threads', String(threads)], env: { OMP_NUM_THREADS: String(threads) } }),
  });
  const onnxPeer = (threads: number): Peer => ({
    id: `onnx-${threads}`,
    label: `onnxruntime (${th(threads)})`,
    kind: 'onnx',
    threads,
    skip: (w) => o.onnxMissing ?? (w.op === 'attention-fwdbwd' ? 'onnxruntime-node runs inference only' : null),
    command: (w, out) => ({ cmd: node, args: ['--expose-gc', `${o.root}bench/peers/onnx_kernels.mjs`, ...workArgs(w, out), '--threads', String(threads)] }),
  });
  const tfjsPeer: Peer = {
    id: 'tfjs-1',
    label: 'tfjs-wasm (1 thread)',
    kind: 'tfjs',
    threads: 1,
    skip: (w) => o.tfjsMissing ?? (w.op !== 'matmul' && w.n > o.tfjsMaxN ? `tfjs-wasm attention: only N <= ${o.tfjsMaxN} (its batched matMul runs at ~1 GFLOP/s; --tfjs-max-n)` : null),
    command: (w, out) => ({ cmd: node, args: ['--expose-gc', `${o.root}bench/peers/tfjs_kernels.mjs`, ...workArgs(w, out), '--threads', '1'] }),
  };
  return {
    qkv: o.qkv.map((q) => qkvPeer(q.backend, q.threads)),
    torch: o.torchThreads.map(torchPeer),
    onnx: o.onnxThreads.map(onnxPeer),
    tfjs: [tfjsPeer],
  };
}

function readF32(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** max|x - ref| / max|ref| for each of `parts` equal outputs, the worst one; NaN if any value is NaN. */
function compare(file: string, refFile: string, parts: number): { rel: number; maxAbs: number } | string {
  const x = readF32(file);
  const ref = readF32(refFile);
  if (x.length !== ref.length) return `${x.length} values, the reference has ${ref.length}`;
  const len = ref.length / parts;
  let worst = 0;
  let worstAbs = 0;
  for (let p = 0; p < parts; p++) {
    let maxAbs = 0;
    let maxRef = 0;
    for (let i = p * len; i < (p + 1) * len; i++) {
      const d = Math.abs(x[i] - ref[i]);
      if (Number.isNaN(d)) return { rel: NaN, maxAbs: NaN };
      if (d > maxAbs) maxAbs = d;
      const r = Math.abs(ref[i]);
      if (r > maxRef) maxRef = r;
    }
    const rel = maxRef > 0 ? maxAbs / maxRef : maxAbs;
    if (rel > worst) worst = rel;
    if (maxAbs > worstAbs) worstAbs = maxAbs;
  }
  return { rel: worst, maxAbs: worstAbs };
}

export function runKernelBenchmarks(o: KernelBenchOptions): KernelBenchReport {
  const dir = mkdtempSync(join(tmpdir(), 'qkv-bench-'));
  try {
    return run(o, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(o: KernelBenchOptions, dir: string): KernelBenchReport {
  const peers = makePeers(o);
  const raw: Record<string, unknown>[] = [];
  // peer label -> why its cells say skipped / failed / not run -> the workloads it happened to
  const reasons = new Map<string, Map<string, string[]>>();
  let disagreement = false;
  let fileNo = 0;
  const note = (label: string, why: string, w?: Work) => {
    if (!reasons.has(label)) reasons.set(label, new Map());
    const m = reasons.get(label)!;
    if (!m.has(why)) m.set(why, []);
    if (w !== undefined) m.get(why)!.push(`${w.op}${w.op === 'matmul' ? '' : w.causal ? ' causal' : ''} N=${w.n}${w.heads !== o.heads && w.op !== 'matmul' ? ` (${w.heads} head${w.heads === 1 ? '' : 's'})` : ''}`);
  };

  /** Runs every peer on one workload (PyTorch first: its output is the reference), then compares. */
  const measure = (w: Work, list: readonly Peer[]): Map<string, Outcome> => {
    const outcomes = new Map<string, Outcome>();
    const files = new Map<string, string>();
    for (const p of list) {
      const why = p.skip(w);
      if (why !== null) {
        outcomes.set(p.id, { kind: 'not-run', reason: why });
        note(p.label, why);
        continue;
      }
      const out = join(dir, `${fileNo++}.f32`);
      const { cmd, args, env } = p.command(w, out);
      const desc = `${p.label}: ${w.op} N=${w.n}${w.op === 'matmul' ? '' : `${w.causal ? ' causal' : ''} heads=${w.heads}`}`;
      o.say(`${desc} ...`);
      const r = o.runJson(cmd, args, env);
      const line = r.ok ? (r.lines.find((l) => l.workload === 'kernel') as KernelResult | undefined) : undefined;
      if (!r.ok || line === undefined) {
        const reason = r.ok ? 'no result line' : r.error;
        outcomes.set(p.id, { kind: 'failed', reason });
        note(p.label, `failed: ${reason}`, w);
        o.say(`  failed: ${reason}`);
        continue;
      }
      raw.push({ ...line, outFile: undefined, peerColumn: p.label });
      if (line.skipped !== undefined) {
        outcomes.set(p.id, { kind: 'skipped', reason: line.skipped });
        note(p.label, line.skipped, w);
        o.say(`  skipped: ${line.skipped}`);
        continue;
      }
      outcomes.set(p.id, { kind: 'ok', r: line });
      if (existsSync(out)) files.set(p.id, out);
      else note(p.label, 'wrote no output, so its agreement is unchecked', w);
      o.say(`  ${fmtNum(line.msMedian!)} ms, ${fmtNum(line.gflops!)} GFLOP/s, peak ${Math.round(line.peakRssMiB!)} MiB`);
    }
    // The reference output: PyTorch's first thread count that ran, else the first peer that ran.
    const refPeer = list.find((p) => p.kind === 'torch' && files.has(p.id)) ?? list.find((p) => files.has(p.id));
    if (refPeer !== undefined) {
      const refFile = files.get(refPeer.id)!;
      const refRes = (outcomes.get(refPeer.id) as { r: KernelResult }).r;
      const parts = w.op === 'attention-fwdbwd' ? 4 : 1;
      for (const p of list) {
        const oc = outcomes.get(p.id);
        const f = files.get(p.id);
        if (oc?.kind !== 'ok' || f === undefined || p === refPeer) continue;
        const c = compare(f, refFile, parts);
        const sameInputs = oc.r.inputCrc === refRes.inputCrc;
        if (typeof c === 'string') {
          oc.agreement = { rel: NaN, maxAbs: NaN, against: refPeer.label, sameInputs, ok: false };
          note(p.label, `output not comparable: ${c}`, w);
        } else {
          oc.agreement = { ...c, against: refPeer.label, sameInputs, ok: sameInputs && c.rel <= o.tolerance };
        }
        if (!oc.agreement.ok) {
          disagreement = true;
          o.say(`  DISAGREES: ${p.label} vs ${refPeer.label}: rel ${oc.agreement.rel.toExponential(2)}${sameInputs ? '' : ' (different inputs!)'}`);
        }
        raw.push({ workload: 'kernel-agreement', op: w.op, n: w.n, causal: w.causal, peer: p.label, ...oc.agreement });
      }
    }
    for (const f of files.values()) rmSync(f, { force: true });
    return outcomes;
  };

  const w0 = { heads: o.heads, headDim: o.headDim, warmup: o.warmup, repeats: o.repeats, maxSeconds: o.maxSeconds };
  const tables: Table[] = [];
  /** The agreement column: the worst peer's relative difference, or the first that failed. */
  const worstAgreement = (list: readonly Peer[], res: Map<string, Outcome>): string => {
    const all: { a: Agreement; label: string }[] = [];
    for (const p of list) {
      const oc = res.get(p.id);
      if (oc?.kind === 'ok' && oc.agreement !== undefined) all.push({ a: oc.agreement, label: p.label });
    }
    if (all.length === 0) return '-';
    const bad = all.find((x) => !x.a.ok);
    if (bad !== undefined) return `FAIL ${Number.isNaN(bad.a.rel) ? 'NaN' : bad.a.rel.toExponential(1)}: ${bad.label}${bad.a.sameInputs ? '' : ' (different inputs)'}`;
    const worst = all.reduce((m, x) => (x.a.rel > m.a.rel ? x : m));
    return `${worst.a.rel.toExponential(1)} (vs ${worst.a.against})`;
  };
  const cell = (oc: Outcome | undefined, show: (r: KernelResult) => string): string => {
    if (oc === undefined) return '-';
    if (oc.kind === 'ok') return show(oc.r);
    return oc.kind === 'not-run' ? 'not run' : oc.kind;
  };
  const attnCell = (r: KernelResult): string => `${fmtNum(r.msMedian!)} ms, ${fmtNum(r.gflops!)} GF/s, ${Math.round(r.peakRssMiB!)} MiB${r.attentionImpl === 'composed' && r.peer === 'qkv' ? ' (composed)' : ''}`;

  // --- matmul ---
  if (o.sections.has('matmul')) {
    const list = [...peers.torch, ...peers.qkv, ...peers.onnx, ...peers.tfjs];
    const rows: string[][] = [];
    for (const n of o.matmulSizes) {
      const res = measure({ ...w0, op: 'matmul', n, causal: false }, list);
      rows.push([String(n), ...list.map((p) => cell(res.get(p.id), (r) => fmtNum(r.gflops!))), worstAgreement(list, res)]);
    }
    tables.push({ title: 'Matmul C = A B, A and B [N, N] float32 (GFLOP/s, higher is better)', header: ['N', ...list.map((p) => p.label), 'agreement (max rel. diff)'], rows });
  }

  // --- attention forward, forward + backward ---
  for (const [section, op, title, list] of [
    ['attention', 'attention-fwd', 'forward', [...peers.torch, ...peers.qkv, ...peers.onnx, ...peers.tfjs]],
    ['attention-backward', 'attention-fwdbwd', 'forward + backward', [...peers.torch, ...peers.qkv, ...peers.tfjs]],
  ] as const) {
    if (!o.sections.has(section)) continue;
    const rows: string[][] = [];
    for (const n of o.attentionSizes) {
      for (const causal of o.causal) {
        const res = measure({ ...w0, op, n, causal }, list);
        rows.push([String(n), causal ? 'yes' : 'no', ...list.map((p) => cell(res.get(p.id), attnCell)), worstAgreement(list, res)]);
      }
    }
    tables.push({
      title: `Attention ${title}, batch 1, ${o.heads} heads, head size ${o.headDim} (median ms, GFLOP/s, peak resident memory of the process)`,
      header: ['N', 'causal', ...list.map((p) => p.label), 'agreement (max rel. diff)'],
      rows,
    });
  }

  // --- memory sweep ---
  if (o.sections.has('memory')) {
    const all = makePeers({ ...o, qkv: o.memoryQkv, torchThreads: [o.memoryTorchThreads], refMaxN: Infinity });
    const list = [...all.torch, ...all.qkv];
    const rows: string[][] = [];
    const prevDelta = new Map<string, { n: number; delta: number }>();
    for (const n of o.memorySizes) {
      const res = measure({ op: 'attention-fwdbwd', n, causal: o.memoryCausal, heads: 1, headDim: o.headDim, warmup: 0, repeats: 1, maxSeconds: 0 }, list);
      for (const p of list) {
        const oc = res.get(p.id);
        if (oc?.kind !== 'ok') {
          // A skip's reason belongs here (PyTorch: does not fit); a failure's is in the notes.
          const why = oc === undefined ? '-' : oc.kind === 'failed' ? 'failed (see the notes)' : `${oc.kind === 'not-run' ? 'not run' : oc.kind}: ${oc.reason}`;
          rows.push([String(n), p.label, why, '-', '-', '-', '-']);
          continue;
        }
        const r = oc.r;
        const delta = Math.max(0, r.peakRssMiB! - r.baseRssMiB!);
        const prev = prevDelta.get(p.id);
        const growth = prev && prev.delta > 0 ? `×${fmtNum(delta / prev.delta)} for ×${n / prev.n} N` : '-';
        prevDelta.set(p.id, { n, delta });
        const impl = r.attentionImpl ? ` (${r.attentionImpl})` : '';
        const agree = oc.agreement ? (oc.agreement.ok ? oc.agreement.rel.toExponential(1) : `FAIL ${oc.agreement.rel.toExponential(1)}`) : '-';
        rows.push([String(n), `${p.label}${impl}`, `${fmtNum(r.msMedian! / 1000)} s`, String(Math.round(r.peakRssMiB!)), String(Math.round(delta)), growth, agree]);
      }
    }
    tables.push({
      title: `Memory sweep: attention forward + backward, 1 head, head size ${o.headDim}${o.memoryCausal ? ', causal' : ''}, one run (peak resident memory grows linearly with N when nothing N x N is kept)`,
      header: ['N', 'peer', 'time', 'peak RSS (MiB)', 'peak - before (MiB)', 'growth of that', 'agreement vs PyTorch'],
      rows,
    });
  }

  // --- notes ---
  const notes: string[] = [];
  const first = (kind: string) => raw.find((x) => x.workload === 'kernel' && x.peer === kind && x.skipped === undefined) as (KernelResult & { info?: Record<string, unknown> }) | undefined;
  const versions: string[] = [];
  const t = first('torch');
  if (t?.info) versions.push(`PyTorch ${String(t.info.version)} (${String(t.info.blas)}; loaded ${(t.info.blasLoaded as string[]).join(', ')})`);
  const ort = first('onnxruntime');
  if (ort?.info) versions.push(`onnxruntime-node ${String(ort.info.version)} (CPU execution provider, intra-op threads as the column says, opset 17, all graph optimizations)`);
  const tf = first('tfjs-wasm');
  if (tf?.info) versions.push(`TensorFlow.js ${String(tf.info.version)} with tfjs-backend-wasm ${String(tf.info.wasmVersion)} (SIMD ${tf.info.simd ? 'on' : 'off'}, threads ${tf.info.multithread ? 'on' : 'off'}: ${String(tf.info.threadsUsed)} thread used; in Node its threaded build is always off, tfjs issue #3830)`);
  const wasmRes = raw.find((x) => x.workload === 'kernel' && x.peer === 'qkv' && x.backend === 'wasm' && x.skipped === undefined) as KernelResult | undefined;
  const wi = wasmRes?.info?.wasm as Record<string, unknown> | undefined;
  if (wi) versions.push(`qkv wasm: ${String(wi.flavour)} build, ${String(wi.shared ? 'shared memory' : 'unshared memory')}`);
  if (versions.length) notes.push(`Kernel peers: ${versions.join('; ')}.`);
  notes.push(
    `Kernels: every measurement in its own process, one after another; median of up to ${o.repeats} timed runs after ${o.warmup} warm-up (the timed runs stop once they took ${o.maxSeconds} s). ` +
      'Inputs: the same float32 values in every peer (a hash of the element index, uniform in [-1, 1), bench/peers/common.mjs; every peer reports the CRC-32 of its inputs and the driver checks it). ' +
      'FLOPs are the useful work, as FlashAttention counts it: matmul 2N³; attention forward 4·heads·N²·headSize, halved when causal; forward + backward 3.5× the forward. Peers that compute the masked half anyway (PyTorch, onnxruntime, tfjs: composed attention) are not credited for it.',
  );
  notes.push(
    'Attention: qkv `scaledDotProductAttention(q, k, v, { causal })` (fused kernels where the backend has them, else composed); PyTorch 1.13 has no `F.scaled_dot_product_attention` (it came in 2.0), so it runs what its users write: `softmax((q @ k.transpose(-2, -1)) * scale + mask) @ v` with a float causal mask made once; onnxruntime the same graph (Transpose, MatMul, Mul, Add, Softmax, MatMul; inference only); tfjs `tf.matMul(tf.softmax(tf.matMul(q, k, false, true) * scale + mask), v)`. Forward + backward backpropagates sum(out · g) for a fixed random g (autograd / tf.valueAndGrads).',
  );
  notes.push(
    `Agreement: each result against ${o.torchMissing ? 'the first peer that ran' : 'PyTorch'} on the same inputs: max |x − ref| / max |ref| per output (out; and dq, dk, dv), the worst peer shown; tolerance ${o.tolerance.toExponential(0)} (float32 with different summation orders stays near 1e-6 here; a wrong mask or scale gives O(1)).${disagreement ? ' SOME PEER DISAGREED (FAIL in the table).' : ' All agreed.'}`,
  );
  notes.push('Memory: peak resident set (ru_maxrss) of the measuring process, runtime and inputs included; "peak − before" subtracts the resident memory just before the first run, and its growth from one N to the next tells linear (×4 for ×4 N) from quadratic (×16).');
  for (const [label, m] of reasons) {
    const parts = [...m].map(([why, where]) => (where.length > 0 && !why.startsWith('reference:') && !why.startsWith('tfjs-wasm attention:') ? `${why} (${where.join(', ')})` : why));
    notes.push(`${label}: ${parts.join('; ')}.`);
  }
  return { tables, notes, raw, disagreement };
}
