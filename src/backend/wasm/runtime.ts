/**
 * The wasm backend's runtime: one shared memory with its heap, the compiled module, and the thread pool,
 * made once (lazily, on the first kernel call, in Node; `await initWasm()` in a browser). Kernel wrappers
 * (the other files of this folder) reach it through `rt()` and `call()`.
 */
import { WasmHeap } from './heap.js';
import { ThreadPool, defaultThreads, type KernelExports } from './pool.js';
import { readWasmBytes, fetchWasmBytes, pickFlavour, hasSimd, type WasmFlavour } from './module.js';

export interface WasmOptions {
  /** Threads, the calling one included (default: every core; env QKV_THREADS). */
  threads?: number;
  /** 'auto' (default: relaxed SIMD where the engine has it), or force one build. Only before the first use. */
  flavour?: WasmFlavour | 'auto';
  /** Heap size when the memory cannot grow (no SharedArrayBuffer); default 1 GiB. Only before the first use. */
  memoryBytes?: number;
  /** How long idle workers spin, in microseconds, before sleeping (default 200). */
  spinMicros?: number;
}

export interface WasmRuntime {
  readonly heap: WasmHeap;
  readonly pool: ThreadPool;
  readonly flavour: WasmFlavour;
  readonly exports: KernelExports;
}

let runtime: WasmRuntime | null = null;
const settings: Required<WasmOptions> = { threads: envThreads() ?? defaultThreads(), flavour: 'auto', memoryBytes: 1 << 30, spinMicros: 200 };

function envThreads(): number | undefined {
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.QKV_THREADS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`QKV_THREADS must be a positive integer, got '${v}'`);
  return n;
}

const workerUrl = new URL('./worker.js', import.meta.url);

function create(bytes: (f: WasmFlavour) => Uint8Array): WasmRuntime {
  if (!hasSimd()) throw new Error('qkv wasm: this engine has no WebAssembly SIMD (Node >= 16.4 and every current browser have it); use the reference or js backend');
  let relaxed: Uint8Array | null = null;
  if (settings.flavour !== 'simd') {
    try {
      relaxed = bytes('relaxed-simd');
    } catch {
      relaxed = null;
    }
  }
  const flavour = pickFlavour(relaxed, settings.flavour);
  const module = new WebAssembly.Module((flavour === 'relaxed-simd' ? relaxed! : bytes('simd')) as Uint8Array<ArrayBuffer>);
  const shared = typeof SharedArrayBuffer === 'function';
  const PAGE = 65536;
  const memory = shared
    ? new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true })
    : new WebAssembly.Memory({ initial: Math.ceil(settings.memoryBytes / PAGE) });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const exports = instance.exports as unknown as KernelExports;
  const heap = new WasmHeap(memory, shared);
  const pool = new ThreadPool(module, memory, exports, shared);
  pool.setSpin(settings.spinMicros);
  pool.setThreads(settings.threads, workerUrl);
  return { heap, pool, flavour, exports };
}

/** The runtime, made on first use (synchronously: Node only; browsers call `initWasm` first). */
export function rt(): WasmRuntime {
  if (runtime === null) runtime = create(readWasmBytes);
  return runtime;
}

/** Makes the runtime asynchronously (browsers) and waits for the worker threads. Returns the thread count. */
export async function initWasm(opts: WasmOptions = {}): Promise<number> {
  configureWasm(opts);
  if (runtime === null) {
    const f = settings.flavour;
    const simd = await fetchWasmBytes('simd');
    let relaxed: Uint8Array | null = null;
    if (f !== 'simd') relaxed = await fetchWasmBytes('relaxed-simd').catch(() => null);
    if (runtime === null) runtime = create((fl) => (fl === 'simd' ? simd : relaxed!));
  }
  return runtime.pool.ready();
}

/** Changes settings; thread count and spin apply at once, the others only before the first use. */
export function configureWasm(opts: WasmOptions): void {
  if (opts.threads !== undefined) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new Error(`configureWasm: threads must be a positive integer, got ${opts.threads}`);
    settings.threads = opts.threads;
  }
  if (opts.spinMicros !== undefined) settings.spinMicros = opts.spinMicros;
  for (const key of ['flavour', 'memoryBytes'] as const) {
    if (opts[key] === undefined) continue;
    if (runtime !== null && opts[key] !== settings[key]) throw new Error(`configureWasm: ${key} can only be set before the wasm backend's first use`);
    (settings as Record<string, unknown>)[key] = opts[key];
  }
  if (runtime !== null) {
    runtime.pool.setSpin(settings.spinMicros);
    runtime.pool.setThreads(settings.threads, workerUrl);
  }
}

/** What the backend runs on now. */
export function wasmInfo(): { flavour: WasmFlavour; threads: number; requestedThreads: number; shared: boolean } {
  const r = rt();
  return { flavour: r.flavour, threads: r.pool.threads, requestedThreads: r.pool.requested, shared: r.heap.shared };
}

/** Stops the worker threads (the runtime stays usable on one thread until setThreads/configureWasm). */
export async function stopWasmWorkers(): Promise<void> {
  if (runtime !== null) await runtime.pool.stop();
}

/**
 * One kernel call's inputs and temporaries: `inF32`/`inI32` give an input's pointer, copying it into a
 * temporary block when it is not already in wasm memory; `scratch` gives a temporary block. All of them
 * are freed when the call ends.
 */
export class KernelCall {
  private temps: number[] = [];
  constructor(readonly r: WasmRuntime) {}

  inF32(x: Float32Array): number {
    if (this.r.heap.owns(x)) return x.byteOffset;
    const p = this.r.heap.temp(x.length * 4);
    this.temps.push(p);
    this.r.heap.viewF32(p, x.length).set(x);
    return p;
  }

  inI32(x: Int32Array): number {
    if (this.r.heap.owns(x)) return x.byteOffset;
    const p = this.r.heap.temp(x.length * 4);
    this.temps.push(p);
    new Int32Array(this.r.heap.memory.buffer, p, x.length).set(x);
    return p;
  }

  scratch(bytes: number): number {
    const p = this.r.heap.temp(bytes);
    this.temps.push(p);
    return p;
  }

  /** An output array in wasm memory (owned by the returned view). */
  outF32(n: number): Float32Array {
    return this.r.heap.allocF32(n);
  }

  release(): void {
    for (const p of this.temps) this.r.heap.freeTemp(p);
    this.temps = [];
  }
}

/** Runs `body` with a KernelCall whose temporaries are freed afterwards, even on error. */
export function call<T>(body: (c: KernelCall) => T): T {
  const c = new KernelCall(rt());
  try {
    return body(c);
  } finally {
    c.release();
  }
}

/** Where data of a Tensor should live under the wasm backend: in wasm memory (copied in once if not). */
export function adopt(data: Float32Array): Float32Array {
  const r = rt();
  if (r.heap.owns(data)) return data;
  const out = r.heap.allocF32(data.length);
  out.set(data);
  return out;
}
