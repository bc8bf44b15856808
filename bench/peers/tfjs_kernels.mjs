/**
 * TensorFlow.js's WebAssembly backend (@tensorflow/tfjs-backend-wasm, XNNPACK kernels) on the kernel
 * benchmarks (see common.mjs for the command line, inputs and output). It imports the union package
 * @tensorflow/tfjs (as tfjs-backend-wasm's README does): tfjs-core alone registers no gradients.
 *
 *   matmul:    tf.matMul(A, B)
 *   attention: tf.matMul(tf.softmax(tf.matMul(q, k, false, true) * scale [+ mask]), v), intermediates disposed
 *              as soon as they are used; fwdbwd: tf.valueAndGrads of sum(out * g) (tf's tape, which keeps
 *              every intermediate until the backward is done, as PyTorch's autograd).
 *
 * Threads: in Node, tfjs-backend-wasm 4.x turns its threaded build off (the flag WASM_HAS_MULTITHREAD_SUPPORT
 * is false whenever IS_NODE; tfjs issue #3830: its pthread workers are blob: URLs, which Node's
 * worker_threads refuse) and loads the single-threaded SIMD build. So it runs on one thread; asking for more
 * prints a skip line. The JSON line reports what it used (simd, multithread, getThreadsCount()).
 *
 *   node bench/peers/tfjs_kernels.mjs attention fwdbwd 512 --causal 1
 */
import { SEEDS, input, inputsCrc, causalMaskValues, parseArgs, timeRuns, result, skip, writeOutputs, rssMiB, peakRssMiB } from './common.mjs';

const w = parseArgs(process.argv.slice(2));
let tf;
let tfwasm;
try {
  tf = await import('@tensorflow/tfjs'); // the union package: tfjs-core plus the gradients (tf.grad needs them)
  tfwasm = await import('@tensorflow/tfjs-backend-wasm');
} catch (e) {
  skip('tfjs-wasm', w, `@tensorflow/tfjs-backend-wasm is not installed (npm ci --prefix bench): ${e.message.split('\n')[0]}`);
  process.exit(0);
}

const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
const multithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
const info = { version: tf.version_core, wasmVersion: tfwasm.version_wasm, simd, multithread };
tf.enableProdMode(); // no per-op NaN checks or debug bookkeeping
if (w.threads > 1 && !multithread) {
  skip('tfjs-wasm', w, 'tfjs-backend-wasm has no threads in Node (its threaded build is off whenever IS_NODE: tfjs issue #3830)', { info });
  process.exit(0);
}
tfwasm.setThreadsCount(w.threads);
if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend failed to initialize');
await tf.ready();
info.threadsUsed = tfwasm.getThreadsCount();

let inputArrays;
let run; // returns the tensors to compare, in the order of common.mjs's --out
if (w.op === 'matmul') {
  const n = w.n;
  inputArrays = [input(SEEDS.a, n * n), input(SEEDS.b, n * n)];
  const [a, b] = inputArrays.map((x) => tf.tensor2d(x, [n, n]));
  run = () => [tf.matMul(a, b)];
} else {
  const { n, heads: h, headDim: d } = w;
  const shape = [1, h, n, d];
  inputArrays = [input(SEEDS.q, h * n * d), input(SEEDS.k, h * n * d), input(SEEDS.v, h * n * d)];
  const [q, k, v] = inputArrays.map((x) => tf.tensor4d(x, shape));
  const scale = tf.scalar(1 / Math.sqrt(d));
  const mask = w.causal ? tf.tensor2d(causalMaskValues(n), [n, n]) : null;
  if (w.op === 'attention-fwd') {
    run = () => {
      const s = tf.matMul(q, k, false, true);
      const ss = tf.mul(s, scale);
      s.dispose();
      const sm = mask ? tf.add(ss, mask) : ss;
      if (mask) ss.dispose();
      const p = tf.softmax(sm);
      sm.dispose();
      const out = tf.matMul(p, v);
      p.dispose();
      return [out];
    };
  } else {
    const g = tf.tensor4d(input(SEEDS.g, h * n * d), shape);
    inputArrays.push(g.dataSync());
    const attend = (q, k, v) => {
      let s = tf.mul(tf.matMul(q, k, false, true), scale);
      if (mask) s = tf.add(s, mask);
      return tf.matMul(tf.softmax(s), v);
    };
    const loss = (q, k, v) => {
      const out = attend(q, k, v);
      return { out, loss: tf.sum(tf.mul(out, g)) };
    };
    let lastOut = null;
    const f = (q, k, v) => {
      const { out, loss: l } = loss(q, k, v);
      lastOut = tf.keep(out);
      return l;
    };
    run = () => {
      const { value, grads } = tf.valueAndGrads(f)([q, k, v]);
      value.dispose();
      return [lastOut, ...grads];
    };
  }
}

const baseRssMiB = rssMiB();
let prev = null;
const t = await timeRuns(() => {
  if (prev) for (const x of prev) x.dispose(); // the last run's results (kept for --out)
  prev = run();
  return prev;
}, w);
const peak = peakRssMiB();
if (w.out) writeOutputs(w.out, t.last.map((x) => x.dataSync()));
console.log(
  JSON.stringify(
    result('tfjs-wasm', w, t, {
      threadsUsed: info.threadsUsed,
      peakRssMiB: peak,
      baseRssMiB,
      inputCrc: inputsCrc(inputArrays),
      outFile: w.out,
      info,
    }),
  ),
);
