/**
 * onnxruntime-node on the kernel benchmarks (see common.mjs for the command line, inputs and output):
 * each workload is an ONNX graph (opset 17) built in memory with onnx-proto.mjs and run by an
 * InferenceSession on the CPU execution provider with `--threads` intra-op threads (one inter-op thread,
 * sequential execution, every graph optimization on).
 *
 *   matmul:    C = MatMul(A, B)
 *   attention: out = MatMul(Softmax(Mul(MatMul(q, Transpose(k)), scale) [+ mask]), v), as PyTorch 1.13 users
 *              compose it; the causal mask is an [N, N] float input (0 / -Infinity, made once) added to the
 *              scores.
 * onnxruntime has no training here, so 'attention fwdbwd' prints a skip line.
 *
 *   node bench/peers/onnx_kernels.mjs attention fwd 512 --causal 1 --threads 2
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SEEDS, input, inputsCrc, causalMaskValues, parseArgs, timeRuns, result, skip, writeOutputs, rssMiB, peakRssMiB } from './common.mjs';
import { modelProto, node, tensor, valueInfo } from './onnx-proto.mjs';

const w = parseArgs(process.argv.slice(2));
const require = createRequire(import.meta.url);
let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  skip('onnxruntime', w, `onnxruntime-node is not installed (npm ci --prefix bench): ${e.message.split('\n')[0]}`);
  process.exit(0);
}
// The package's own version (its package.json is not in its exports map, so read it beside the entry point).
const ortVersion = JSON.parse(readFileSync(join(dirname(require.resolve('onnxruntime-node')), '..', 'package.json'), 'utf8')).version;

if (w.op === 'attention-fwdbwd') {
  skip('onnxruntime', w, 'onnxruntime-node runs inference only (no backward)', { version: ortVersion });
  process.exit(0);
}

let model;
let feeds;
let inputArrays;
const F = (name, data, dims) => new ort.Tensor('float32', data, dims);
if (w.op === 'matmul') {
  const n = w.n;
  const a = input(SEEDS.a, n * n);
  const b = input(SEEDS.b, n * n);
  inputArrays = [a, b];
  model = modelProto({
    nodes: [node('MatMul', ['A', 'B'], ['C'])],
    inputs: [valueInfo('A', [n, n]), valueInfo('B', [n, n])],
    outputs: [valueInfo('C', [n, n])],
  });
  feeds = { A: F('A', a, [n, n]), B: F('B', b, [n, n]) };
} else {
  const { n, heads: h, headDim: d } = w;
  const shape = [1, h, n, d];
  const q = input(SEEDS.q, h * n * d);
  const k = input(SEEDS.k, h * n * d);
  const v = input(SEEDS.v, h * n * d);
  inputArrays = [q, k, v];
  const nodes = [
    node('Transpose', ['k'], ['kT'], { perm: [0, 1, 3, 2] }),
    node('MatMul', ['q', 'kT'], ['s']),
    node('Mul', ['s', 'scale'], ['ss']),
    ...(w.causal ? [node('Add', ['ss', 'mask'], ['sm'])] : []),
    node('Softmax', [w.causal ? 'sm' : 'ss'], ['p'], { axis: 3 }),
    node('MatMul', ['p', 'v'], ['out']),
  ];
  // The mask is fed as an input (made once, as PyTorch's): an [N, N] initializer would be copied a few
  // times while the model bytes are built, which would show in this process's peak memory.
  model = modelProto({
    nodes,
    inputs: [valueInfo('q', shape), valueInfo('k', shape), valueInfo('v', shape), ...(w.causal ? [valueInfo('mask', [n, n])] : [])],
    outputs: [valueInfo('out', shape)],
    initializers: [tensor('scale', [], Float32Array.of(1 / Math.sqrt(d)))],
  });
  feeds = { q: F('q', q, shape), k: F('k', k, shape), v: F('v', v, shape) };
  if (w.causal) feeds.mask = F('mask', causalMaskValues(n), [n, n]);
}

const session = await ort.InferenceSession.create(model, {
  executionProviders: ['cpu'],
  intraOpNumThreads: w.threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
model = null; // the session has its own copy
const outName = session.outputNames[0];
const baseRssMiB = rssMiB();
const t = await timeRuns(async () => (await session.run(feeds))[outName], w);
const peak = peakRssMiB();
if (w.out) writeOutputs(w.out, [t.last.data]);
console.log(
  JSON.stringify(
    result('onnxruntime', w, t, {
      threadsUsed: w.threads,
      peakRssMiB: peak,
      baseRssMiB,
      inputCrc: inputsCrc(inputArrays),
      outFile: w.out,
      info: { version: ortVersion, executionProvider: 'cpu', opset: 17, graphOptimizationLevel: 'all' },
    }),
  ),
);
await session.release();
