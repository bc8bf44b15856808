/**
 * `npm run bench`: qkv against PyTorch (nanoGPT's own model and training loop, bench/torch_nanogpt.py)
 * on nanoGPT's CPU recipe, qkv's generation speed with and without the KV cache, and the kernels (matmul,
 * attention forward, forward + backward, a memory sweep) against PyTorch, onnxruntime-node and
 * TensorFlow.js's WebAssembly backend on the same inputs (bench/run-kernels.ts). Every measurement runs in
 * its own process, one after another (never two at once), and one table per section sums them up, as text
 * and as markdown for BENCHMARKS.md. Progress goes to stderr, the tables to stdout.
 *
 * Options (flags, or environment variables BENCH_<NAME> with dashes as underscores):
 *   --sections a,b          any of train,generate,matmul,attention,attention-backward,memory (default all)
 *   --quick                 small sizes and few runs (every section; a smoke test, not numbers to publish)
 *   --backends a,b          qkv backends for train step and generation (default: every one registered)
 *   --warmup 3 --iters 2 --runs 5                    train step, other backends (js: ~1.6 s per step)
 *   --ref-warmup 2 --ref-iters 1 --ref-runs 5        train step, the reference backend (~5 s per step)
 *   --torch-warmup 10 --torch-iters 20 --torch-runs 5 --torch-threads 2,1   (also the kernels' PyTorch)
 *   --torch-gen-threads 1   PyTorch threads for generation (qkv decodes on one thread; and two OpenMP
 *                           threads on two busy cores can make PyTorch's small steps 50x slower)
 *   --gen-tokens 500 --gen-runs 3 --gen-max-seconds 60   generation (runs stop early past the seconds)
 *   --ref-uncached          also time uncached generation on the reference backend (~5 min a run)
 *   --ref-check-tokens 64   length of the cached = uncached check on the reference backend without it
 *   Kernels:
 *   --kernel-backends reference,wasm,wasm-simd   qkv backends (wasm with relaxed SIMD; wasm-simd: the plain
 *                           SIMD build, matmul only; js too, on request); --qkv-threads 1,2 (not reference)
 *   --matmul-sizes 512,1024,2048 --attention-sizes 512,1024,2048,4096 --causal both|yes|no
 *   --memory-sizes 4096,16384,65536 --memory-backends wasm (at the largest --qkv-threads; PyTorch at the
 *                           first --torch-threads) --memory-causal 1
 *   --ref-max-n 512         the reference backend (~1 GFLOP/s) only up to this N
 *   --tfjs-max-n 1024       tfjs-wasm attention only up to this N (its batched matMul is ~1 GFLOP/s)
 *   --onnx-threads 2,1      onnxruntime intra-op threads (tfjs-wasm has one thread in Node)
 *   --kernel-warmup 1 --kernel-repeats 5 --kernel-max-seconds 20   --tolerance 1e-4 (agreement)
 *   --no-onnx --no-tfjs     skip those peers (installed on demand by bench/install-peers.mjs into bench/)
 *   --child-timeout 900     seconds before a measurement process is given up (its row says so)
 *   --no-torch              skip PyTorch;  --json  also print every raw result as JSON lines
 *   BENCH_TORCH_PYTHON=path the PyTorch interpreter (default ../shared/bin/torch-python)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableBackends, cpuBusy, flag, intOption, machineInfo, option, wantedBackends } from './common.js';
import type { TrainStepResult } from './train-step.js';
import type { GenerateBenchResult } from './generate.js';
import { runKernelBenchmarks, type KernelSection, type Table } from './run-kernels.js';

const here = fileURLToPath(new URL('.', import.meta.url)); // <build>/bench/
const root = fileURLToPath(new URL('../../', import.meta.url)); // the repository
const argv = process.argv.slice(2);
const t00 = performance.now();
const say = (s: string) => process.stderr.write(`[bench ${((performance.now() - t00) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);

const ALL_SECTIONS = ['train', 'generate', 'matmul', 'attention', 'attention-backward', 'memory'] as const;
type Section = (typeof ALL_SECTIONS)[number];
const sections = new Set(
  option(argv, 'sections', ALL_SECTIONS.join(','))
    .split(',')
    .filter((s) => s !== '')
    .map((s) => {
      if (!(ALL_SECTIONS as readonly string[]).includes(s)) throw new Error(`bench: unknown section '${s}' (have: ${ALL_SECTIONS.join(', ')})`);
      return s as Section;
    }),
);
/** --quick: small sizes and few runs everywhere (explicit options still win). */
const quick = flag(argv, 'quick');
const q = (full: number, small: number) => (quick ? small : full);
const list = (name: string, dflt: string): number[] =>
  option(argv, name, dflt)
    .split(',')
    .filter((s) => s !== '')
    .map((s) => {
      const v = Number(s);
      if (!Number.isInteger(v) || v < 1) throw new Error(`bench: --${name} takes positive integers, got '${s}'`);
      return v;
    });

const backends = await availableBackends();
const wanted = wantedBackends(argv, 'backends', backends, 'bench');
const counts = {
  fast: { warmup: intOption(argv, 'warmup', q(3, 1)), iters: intOption(argv, 'iters', q(2, 1), 1), runs: intOption(argv, 'runs', q(5, 2), 1) },
  reference: { warmup: intOption(argv, 'ref-warmup', q(2, 1)), iters: intOption(argv, 'ref-iters', 1, 1), runs: intOption(argv, 'ref-runs', q(5, 2), 1) },
  torch: { warmup: intOption(argv, 'torch-warmup', q(10, 3)), iters: intOption(argv, 'torch-iters', q(20, 5), 1), runs: intOption(argv, 'torch-runs', q(5, 2), 1) },
};
const torchThreads = list('torch-threads', quick ? '2' : '2,1');
const torchGenThreads = intOption(argv, 'torch-gen-threads', 1, 1);
const gen = {
  tokens: intOption(argv, 'gen-tokens', q(500, 100), 1),
  runs: intOption(argv, 'gen-runs', q(3, 1), 1),
  maxSeconds: intOption(argv, 'gen-max-seconds', 60, 1),
  refUncached: flag(argv, 'ref-uncached'),
  refCheckTokens: intOption(argv, 'ref-check-tokens', q(64, 16), 1),
};
const noTorch = flag(argv, 'no-torch');
const childTimeoutS = intOption(argv, 'child-timeout', 900, 1);
const printJson = flag(argv, 'json');
const torchPython = process.env.BENCH_TORCH_PYTHON || `${root}../shared/bin/torch-python`;
const causalOpt = option(argv, 'causal', 'both');
if (!['both', 'yes', 'no'].includes(causalOpt)) throw new Error(`bench: --causal is both, yes or no, got '${causalOpt}'`);
const qkvThreads = list('qkv-threads', quick ? '2' : '1,2');
const kernelBackends = option(argv, 'kernel-backends', 'reference,wasm,wasm-simd').split(',').filter((s) => s !== '');
const memoryBackends = option(argv, 'memory-backends', 'wasm').split(',').filter((s) => s !== '');
const tolerance = Number(option(argv, 'tolerance', '1e-4'));
if (!(tolerance > 0)) throw new Error('bench: --tolerance must be a positive number');
/** A peer package in bench/node_modules (bench/install-peers.mjs installs them), or why it is missing. */
const peerMissing = (pkg: string, flagName: string): string | null =>
  flag(argv, flagName) ? `skipped (--${flagName})` : existsSync(`${root}bench/node_modules/${pkg}/package.json`) ? null : `not installed (bench/node_modules/${pkg} is missing: node bench/install-peers.mjs)`;

/** Runs a command, returning its JSON output lines (objects) or an error message. */
function runJson(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { ok: true; lines: Record<string, unknown>[] } | { ok: false; error: string } {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 * 2 ** 20, timeout: childTimeoutS * 1000, killSignal: 'SIGKILL' });
  if (r.error) return { ok: false, error: (r.error as { code?: string }).code === 'ETIMEDOUT' ? `gave up after ${childTimeoutS} s (--child-timeout)` : r.error.message };
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  if (r.status !== 0) {
    // The error's own line (a Node or Python traceback ends with it, or shows it above the stack), else the tail.
    const out = (r.stderr || r.stdout).trim().split('\n');
    const message = [...out].reverse().find((l) => /^(\w+\.)*\w*(Error|Exception)\b.*:/.test(l.trim()));
    return { ok: false, error: `exit ${r.status ?? r.signal}: ${message?.trim() ?? out.slice(-3).join(' | ')}` };
  }
  return { ok: true, lines };
}

const raw: Record<string, unknown>[] = [];
const machine = machineInfo();
say(`machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; qkv backends: ${wanted.join(', ')}`);
const busyBefore = await cpuBusy(2000);
if (busyBefore !== null && busyBefore > 0.2) say(`note: the CPUs were ${(busyBefore * 100).toFixed(0)}% busy before the benchmark started (other work on this machine); timings will be slower than on an idle machine`);

// --- PyTorch -------------------------------------------------------------------------------------
interface TorchResult {
  ms_per_iter: number;
  threads: number;
  torch: string;
  blas: string | null;
  blas_loaded: string[];
  generate?: { tokens_per_second: number; new_tokens: number; block_size: number; runs_tokens_per_second: number[]; runs: number };
}
const torch = new Map<number, TorchResult>(); // train step, by thread count
let torchGen: (NonNullable<TorchResult['generate']> & { threads: number }) | undefined;
let torchMissing: string | null = null;
if (noTorch) torchMissing = 'skipped (--no-torch)';
else if (!existsSync(torchPython)) torchMissing = `not available: ${torchPython} does not exist (PyTorch runs only through that wrapper)`;
else {
  // One process per thread count; generation rides along with the train step of its thread count (or
  // runs alone when that count is not in --torch-threads).
  const doTrain = sections.has('train');
  const doGen = sections.has('generate') && gen.tokens > 0;
  const jobs: { n: number; trainStep: boolean; generate: boolean }[] = doTrain ? torchThreads.map((n) => ({ n, trainStep: true, generate: doGen && n === torchGenThreads })) : [];
  if (doGen && !jobs.some((j) => j.generate)) jobs.push({ n: torchGenThreads, trainStep: false, generate: true });
  for (const { n, trainStep, generate } of jobs) {
    const th = `${n} thread${n === 1 ? '' : 's'}`;
    const what = [trainStep ? `train step (${counts.torch.warmup} warm-up, ${counts.torch.runs} × ${counts.torch.iters} timed)` : '', generate ? `generate ${gen.tokens} tokens × up to ${gen.runs}` : '']
      .filter((x) => x)
      .join(', ');
    say(`PyTorch ${th}: ${what} ...`);
    const args = [`${root}bench/torch_nanogpt.py`, String(n)];
    args.push(...(trainStep ? ['--warmup', String(counts.torch.warmup), '--iters', String(counts.torch.iters), '--runs', String(counts.torch.runs)] : ['--warmup', '0', '--runs', '0']));
    if (generate) args.push('--generate', String(gen.tokens), '--gen-runs', String(gen.runs), '--gen-max-seconds', String(gen.maxSeconds));
    const r = runJson(torchPython, args, { OMP_NUM_THREADS: String(n) });
    if (!r.ok || r.lines.length === 0) {
      torchMissing = `failed: ${r.ok ? 'no output' : r.error}`;
      say(`PyTorch ${torchMissing}`);
      break;
    }
    const res = r.lines[0] as unknown as TorchResult;
    raw.push({ workload: 'torch', ...res });
    if (trainStep) torch.set(n, res);
    if (res.generate) torchGen = { ...res.generate, threads: n };
    say(`  ${trainStep ? `${res.ms_per_iter.toFixed(1)} ms/iter` : ''}${trainStep && res.generate ? ', ' : ''}${res.generate ? `generate ${res.generate.tokens_per_second.toFixed(1)} tok/s` : ''}`);
  }
}

// --- qkv: train step -------------------------------------------------------------------------------
// The wasm backend runs at each --qkv-threads count (QKV_THREADS), with relaxed SIMD where Node has it,
// as the CLI runs it; the other backends once.
const RELAXED = ['--experimental-wasm-relaxed-simd'];
const trainVariants = wanted.flatMap((b) =>
  b === 'wasm' ? qkvThreads.map((n) => ({ key: `wasm, ${n} thread${n === 1 ? '' : 's'}`, backend: b, env: { QKV_THREADS: String(n) } })) : [{ key: b, backend: b, env: {} }],
);
const train = new Map<string, TrainStepResult | string>();
for (const v of sections.has('train') ? trainVariants : []) {
  const c = v.backend === 'reference' ? counts.reference : counts.fast;
  say(`qkv ${v.key}: train step (${c.warmup} warm-up, ${c.runs} × ${c.iters} timed) ...`);
  const r = runJson(process.execPath, [...RELAXED, `${here}train-step.js`, '--backend', v.backend, '--warmup', String(c.warmup), '--iters', String(c.iters), '--runs', String(c.runs)], v.env);
  if (!r.ok) {
    train.set(v.key, `failed: ${r.error}`);
    say(`  failed: ${r.error}`);
    continue;
  }
  const res = r.lines[0] as unknown as TrainStepResult;
  raw.push({ ...res, variant: v.key } as unknown as Record<string, unknown>);
  train.set(v.key, res);
  say(`  ${res.msPerIter.toFixed(1)} ms/iter`);
}

// --- qkv: generation -------------------------------------------------------------------------------
interface GenRow {
  cached?: GenerateBenchResult | string;
  uncached?: GenerateBenchResult | string;
  check?: { tokens: number; same: boolean; firstDifference: number };
}
const generation = new Map<string, GenRow>();
function genRun(b: string, cache: 'on' | 'off' | 'both', tokens: number, runs: number): GenerateBenchResult[] | string {
  // wasm decodes on one thread: a token's products are too small to split.
  const r = runJson(process.execPath, [...RELAXED, `${here}generate.js`, '--backend', b, '--cache', cache, '--tokens', String(tokens), '--runs', String(runs), '--max-seconds', String(gen.maxSeconds)], b === 'wasm' ? { QKV_THREADS: '1' } : {});
  if (!r.ok) return `failed: ${r.error}`;
  return r.lines.filter((l) => l.workload === 'generate') as unknown as GenerateBenchResult[];
}
const sameIds = (a: GenerateBenchResult, b: GenerateBenchResult) => {
  const n = Math.max(a.ids.length, b.ids.length);
  for (let i = 0; i < n; i++) if (a.ids[i] !== b.ids[i]) return i;
  return -1;
};
for (const b of sections.has('generate') ? wanted : []) {
  const row: GenRow = {};
  generation.set(b, row);
  const full = b !== 'reference' || gen.refUncached;
  say(`qkv ${b}: generate ${gen.tokens} tokens with the KV cache${full ? ' and without' : ''} (up to ${gen.runs} runs each, ${gen.maxSeconds} s) ...`);
  const r = genRun(b, full ? 'both' : 'on', gen.tokens, gen.runs);
  if (typeof r === 'string') {
    row.cached = row.uncached = r;
    say(`  ${r}`);
    continue;
  }
  for (const x of r) raw.push({ ...x, ids: undefined });
  row.cached = r.find((x) => x.cache);
  row.uncached = r.find((x) => !x.cache);
  if (row.cached && row.uncached) {
    row.check = { tokens: gen.tokens, same: sameIds(row.cached, row.uncached) === -1, firstDifference: sameIds(row.cached, row.uncached) };
  } else if (full) {
    row.uncached ??= 'no result';
  } else {
    row.uncached = 'not run by default (~5 min a run; --ref-uncached)';
    say(`qkv ${b}: cached = uncached check on ${gen.refCheckTokens} tokens ...`);
    const c = genRun(b, 'both', gen.refCheckTokens, 1);
    if (typeof c === 'string') say(`  check ${c}`);
    else if (c.length === 2) row.check = { tokens: gen.refCheckTokens, same: sameIds(c[0], c[1]) === -1, firstDifference: sameIds(c[0], c[1]) };
  }
  if (row.check && !row.check.same) process.exitCode = 1; // the cache must not change the tokens
  const fmt = (x: GenerateBenchResult | string | undefined) => (x === undefined || typeof x === 'string' ? '-' : `${x.tokensPerSecond.toFixed(1)} tok/s`);
  say(`  cached ${fmt(row.cached)}, uncached ${fmt(row.uncached)}${row.check ? `; same tokens (${row.check.tokens}): ${row.check.same ? 'yes' : `NO, first difference at ${row.check.firstDifference}`}` : ''}`);
}

// --- kernels: matmul, attention, memory sweep (bench/run-kernels.ts) --------------------------------
const kernelSections = new Set(ALL_SECTIONS.filter((s): s is KernelSection => s !== 'train' && s !== 'generate' && sections.has(s)));
let kernels: ReturnType<typeof runKernelBenchmarks> | null = null;
if (kernelSections.size > 0) {
  // The Node peers live in bench/node_modules, installed on demand (npm ci --prefix bench); the npm output
  // goes to stderr with the progress lines.
  const absent = (pkg: string, flagName: string) => !flag(argv, flagName) && !existsSync(`${root}bench/node_modules/${pkg}/package.json`);
  if ([...kernelSections].some((s) => s !== 'memory') && (absent('onnxruntime-node', 'no-onnx') || absent('@tensorflow/tfjs-backend-wasm', 'no-tfjs'))) {
    spawnSync(process.execPath, [`${root}bench/install-peers.mjs`], { cwd: root, stdio: ['ignore', 2, 2] });
  }
  const expand = (names: string[], threads: number[]) => names.flatMap((backend) => (backend === 'reference' ? [{ backend, threads: 1 }] : threads.map((t) => ({ backend, threads: t }))));
  kernels = runKernelBenchmarks({
    root,
    here,
    sections: kernelSections,
    matmulSizes: list('matmul-sizes', quick ? '512' : '512,1024,2048'),
    attentionSizes: list('attention-sizes', quick ? '512' : '512,1024,2048,4096'),
    memorySizes: list('memory-sizes', quick ? '4096' : '4096,16384,65536'),
    causal: causalOpt === 'both' ? [false, true] : [causalOpt === 'yes'],
    heads: intOption(argv, 'heads', 12, 1),
    headDim: intOption(argv, 'head-dim', 64, 1),
    qkv: expand(kernelBackends, qkvThreads),
    refMaxN: intOption(argv, 'ref-max-n', 512, 1),
    tfjsMaxN: intOption(argv, 'tfjs-max-n', 1024, 1),
    torchPython,
    torchMissing: noTorch ? 'skipped (--no-torch)' : existsSync(torchPython) ? null : `not available: ${torchPython} does not exist`,
    torchThreads,
    onnxThreads: list('onnx-threads', quick ? '2' : '2,1'),
    onnxMissing: peerMissing('onnxruntime-node', 'no-onnx'),
    tfjsMissing: peerMissing('@tensorflow/tfjs-backend-wasm', 'no-tfjs'),
    memoryQkv: expand(memoryBackends, [Math.max(...qkvThreads)]),
    memoryTorchThreads: torchThreads[0],
    memoryCausal: option(argv, 'memory-causal', '1') !== '0',
    warmup: intOption(argv, 'kernel-warmup', 1),
    repeats: intOption(argv, 'kernel-repeats', q(5, 3), 1),
    maxSeconds: intOption(argv, 'kernel-max-seconds', q(20, 5), 1),
    tolerance,
    runJson,
    say,
  });
  raw.push(...kernels.raw);
  if (kernels.disagreement) process.exitCode = 1; // a peer computed something else on the same inputs
}

// --- the table -------------------------------------------------------------------------------------
const fmtNum = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
/** ratio qkv / PyTorch, with which one is faster in words (for ms lower is better, for tok/s higher). */
function ratio(q: number, t: number, lowerIsBetter: boolean): string {
  const r = q / t;
  const slower = lowerIsBetter ? r > 1 : r < 1;
  const times = r >= 1 ? r : 1 / r; // how many times slower or faster
  const words = Math.abs(times - r) < 1e-9 ? `qkv ${slower ? 'slower' : 'faster'}` : `qkv ${fmtNum(times)}× ${slower ? 'slower' : 'faster'}`;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)} (${words})`;
}
const rows: string[][] = [];

for (const { key: b } of sections.has('train') ? trainVariants : []) {
  const t = train.get(b);
  const qkvCell = typeof t === 'string' || t === undefined ? `${b}: ${t ?? 'not run'}` : `${fmtNum(t.msPerIter)} (${b})`;
  if (torch.size === 0) {
    rows.push(['nanoGPT CPU recipe train step (ms/iter)', qkvCell, `PyTorch ${torchMissing ?? 'not run'}`, '-']);
    continue;
  }
  for (const [n, tr] of torch) {
    rows.push([
      'nanoGPT CPU recipe train step (ms/iter)',
      qkvCell,
      `${fmtNum(tr.ms_per_iter)} (${n} thread${n === 1 ? '' : 's'})`,
      typeof t === 'object' ? ratio(t.msPerIter, tr.ms_per_iter, true) : '-',
    ]);
  }
}
for (const b of sections.has('generate') ? wanted : []) {
  const g = generation.get(b)!;
  const cell = (x: GenerateBenchResult | string | undefined) => (x === undefined ? '-' : typeof x === 'string' ? `${b}: ${x}` : `${fmtNum(x.tokensPerSecond)} (${b}, ${x.runs} run${x.runs === 1 ? '' : 's'})`);
  rows.push([`generate ${gen.tokens} tokens, KV cache (tok/s)`, cell(g.cached), "- (nanoGPT's generate has no KV cache)", '-']);
  const tg = torchGen ? `${fmtNum(torchGen.tokens_per_second)} (nanoGPT generate, ${torchGen.threads} thread${torchGen.threads === 1 ? '' : 's'}, ${torchGen.runs} run${torchGen.runs === 1 ? '' : 's'})` : `PyTorch ${torchMissing ?? 'not run'}`;
  rows.push([
    `generate ${gen.tokens} tokens, without KV cache (tok/s)`,
    cell(g.uncached),
    tg,
    typeof g.uncached === 'object' && torchGen ? ratio(g.uncached.tokensPerSecond, torchGen.tokens_per_second, false) : '-',
  ]);
}

const header = ['workload', 'qkv (backend)', 'PyTorch', 'ratio (qkv / PyTorch)'];
const busyAfter = await cpuBusy(1000);
const date = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
const t0r = raw.find((x) => x.workload === 'torch') as unknown as TorchResult | undefined;
const torchInfo = t0r
  ? `; PyTorch ${t0r.torch} (nanoGPT model.py + train.py loop, bench/torch_nanogpt.py; BLAS: ${t0r.blas ?? '?'}, loaded ${t0r.blas_loaded.map((p) => p.split('/').pop()).join(', ') || '?'})`
  : torchMissing !== null
    ? `; PyTorch ${torchMissing}`
    : ''; // (the kernel notes name PyTorch's version when only kernels ran)
/** Which qkv backends used more than the calling thread (the js matmul's helper worker). */
function threadNote(): string {
  const parts: string[] = [];
  for (const { key: b } of trainVariants) {
    const t = train.get(b);
    const w = typeof t === 'object' ? t.matmulWorker : null;
    if (w && w.threadedCalls > 0) parts.push(`${b} shares large matmuls with one helper worker thread (it did ${(w.workerShare * 100).toFixed(0)}% of the matmul work in the train step)`);
    else if (!b.startsWith('wasm')) parts.push(`${b} runs on one thread`);
  }
  if (trainVariants.some((v) => v.backend === 'wasm')) parts.push('wasm runs its kernels on the calling thread plus QKV_THREADS - 1 worker threads over shared WebAssembly memory, with relaxed SIMD (node --experimental-wasm-relaxed-simd, as the qkv CLI sets it)');
  return `qkv: ${parts.join('; ')}.`;
}
const notes = [
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; ${machine.os}; Node ${machine.node}${torchInfo}; ${date}.`,
  `Command: \`npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}\`${quick ? ' (--quick: small sizes and few runs, a smoke test)' : ''}.`,
  `CPU busy with other work before the run: ${busyBefore === null ? 'unknown' : `${(busyBefore * 100).toFixed(0)}%`}; load average at the start ${machine.loadAverage.join(' ')}${busyBefore !== null && busyBefore > 0.2 ? ' (the machine was shared: numbers are slower than on an idle machine)' : ''}.`,
];
if (sections.has('train')) {
  notes.push(
    `Train step: nanoGPT's CPU recipe (vocab 65, block 64, batch 12, 4 layers, 4 heads, width 128, dropout 0, bias; AdamW lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on matrices; clip 1.0; random tokens); one iteration = batch + forward + loss.item() + backward + clip + step + zero_grad; median ms over runs of several iterations after warm-up: ` +
      `qkv reference ${counts.reference.warmup} warm-up + ${counts.reference.runs} runs × ${counts.reference.iters}, other qkv backends ${counts.fast.warmup} + ${counts.fast.runs} × ${counts.fast.iters}${torch.size ? `, PyTorch ${counts.torch.warmup} + ${counts.torch.runs} × ${counts.torch.iters}` : ''}. ${threadNote()}`,
  );
}
if (sections.has('generate')) {
  notes.push(
    `Generation: the recipe's width (4 layers, 4 heads, width 128, 65-character vocabulary) with blockSize 1024 so that the 6-token prompt and all ${gen.tokens} new tokens fit; random init weights; temperature 1, seed 1337; median of up to ${gen.runs} runs (fewer past ${gen.maxSeconds} s); prompt time included. ${torchGen ? `PyTorch: nanoGPT's generate (no KV cache) on ${torchGenThreads} thread${torchGenThreads === 1 ? '' : 's'}. ` : ''}` +
      wanted
        .map((b) => {
          const c = generation.get(b)?.check;
          return c ? `${b}: cached and uncached gave the same ${c.tokens} tokens: ${c.same ? 'yes' : `NO (first difference at ${c.firstDifference})`}` : `${b}: cached = uncached not checked`;
        })
        .join('; ') +
      '.',
  );
}
if (kernels) notes.push(...kernels.notes);
notes.push(`CPU busy after the run (1 s sample, other work): ${busyAfter === null ? 'unknown' : `${(busyAfter * 100).toFixed(0)}%`}. Total time ${((performance.now() - t00) / 1000).toFixed(0)} s.`);

const tables: Table[] = [];
if (rows.length > 0) tables.push({ title: 'nanoGPT CPU recipe and generation', header, rows });
if (kernels) tables.push(...kernels.tables);

for (const t of tables) {
  const widths = t.header.map((h, i) => Math.max(h.length, ...t.rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join(' | ');
  console.log(`\n${t.title}\n`);
  console.log(line(t.header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of t.rows) console.log(line(r));
}
console.log('');
for (const n of notes) console.log(n);
console.log('\nMarkdown:');
for (const t of tables) {
  console.log(tables.length > 1 ? `\n### ${t.title}\n` : '');
  console.log(`| ${t.header.join(' | ')} |`);
  console.log(`|${t.header.map(() => '---').join('|')}|`);
  for (const r of t.rows) console.log(`| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
}
console.log('');
for (const n of notes) console.log(`- ${n}`);
if (printJson) {
  console.log('');
  for (const r of raw) console.log(JSON.stringify(r));
}
