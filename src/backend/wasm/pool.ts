/**
 * Threads for the WebAssembly kernels: a pool of workers created once, each with its own instance of the
 * same module over the same shared memory. A kernel call is broadcast: every participating thread calls
 * the same export with the same arguments and its own `tid`; the calling thread is tid 0 and takes its
 * share too, then waits until the workers have done theirs. The call stays synchronous.
 *
 * Hand-off: the arguments go into a small shared control block; a sequence number wakes the workers
 * (Atomics.notify), which spin briefly before sleeping again so that back-to-back kernels (a training step
 * makes hundreds) do not pay a wake-up each. Workers that are not ready yet (they start asynchronously) are
 * simply not used: calls run on the ready ones.
 */

// Control block (Int32 slots).
const SEQ = 0; // bumped by the caller for every call
const DONE = 1; // workers that finished the current call
const KERNEL = 2; // export index
const NARGS = 3;
const NTHREADS = 4;
const FAILED = 5; // a worker's kernel threw
const SPIN_US = 6; // how long idle workers spin before sleeping
const STOP = 7;
const READY0 = 8; // READY0 + w: worker w (tid w + 1) has instantiated the module
const MAX_WORKERS = 64;
const CTRL_INTS = READY0 + MAX_WORKERS;
const MAX_ARGS = 32;

export interface PoolWorkerData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: SharedArrayBuffer;
  args: SharedArrayBuffer;
  worker: number;
}

export type KernelExports = Record<string, (...args: number[]) => unknown>;

/** The exported function names, in a fixed order both sides agree on. */
export function kernelNames(module: WebAssembly.Module): string[] {
  return WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name).sort();
}

/** The worker side: wait for calls, run this thread's share, report. (Runs in the worker threads.) */
export function workerLoop(d: PoolWorkerData): void {
  const instance = new WebAssembly.Instance(d.module, { env: { memory: d.memory } });
  const exports = instance.exports as unknown as KernelExports;
  const fns = kernelNames(d.module).map((n) => exports[n]);
  const ctrl = new Int32Array(d.ctrl);
  const args = new Float64Array(d.args);
  const tid = d.worker + 1;
  const a: number[] = [];
  // Read the sequence number before saying ready: a call made after READY is then always seen.
  let seen = Atomics.load(ctrl, SEQ);
  Atomics.store(ctrl, READY0 + d.worker, 1);
  for (;;) {
    const spinUntil = performance.now() + Atomics.load(ctrl, SPIN_US) / 1000;
    while (Atomics.load(ctrl, SEQ) === seen && performance.now() < spinUntil);
    if (Atomics.load(ctrl, SEQ) === seen) Atomics.wait(ctrl, SEQ, seen);
    seen = Atomics.load(ctrl, SEQ);
    if (Atomics.load(ctrl, STOP) === 1) return;
    const nthreads = Atomics.load(ctrl, NTHREADS);
    if (tid < nthreads) {
      const n = Atomics.load(ctrl, NARGS);
      a.length = n + 2;
      for (let i = 0; i < n; i++) a[i] = args[i];
      a[n] = tid;
      a[n + 1] = nthreads;
      try {
        fns[Atomics.load(ctrl, KERNEL)](...a);
      } catch {
        Atomics.store(ctrl, FAILED, 1);
      }
      Atomics.add(ctrl, DONE, 1);
      Atomics.notify(ctrl, DONE);
    }
  }
}

type WorkerThreads = typeof import('node:worker_threads');

function workerThreads(): WorkerThreads | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return p?.getBuiltinModule?.('node:worker_threads') as WorkerThreads | undefined;
}

/** How many threads to use by default: the machine's cores (Node) or the browser's hardwareConcurrency. */
export function defaultThreads(): number {
  const os = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:os') as
    | typeof import('node:os')
    | undefined;
  const n = os?.availableParallelism?.() ?? (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(MAX_WORKERS + 1, n));
}

export class ThreadPool {
  readonly fns: KernelExports[string][];
  private readonly index = new Map<string, number>();
  private readonly ctrl: Int32Array | null;
  private readonly args: Float64Array | null;
  private readonly ctrlBuf: SharedArrayBuffer | null;
  private readonly argsBuf: SharedArrayBuffer | null;
  private workers: { terminate(): unknown; unref?(): void }[] = [];
  /** Threads wanted (the caller included). */
  private wanted = 1;
  private seq = 0;
  private readonly a: number[] = [];
  private readonly canWait: boolean;

  constructor(
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    exports: KernelExports,
    shared: boolean,
  ) {
    const names = kernelNames(module);
    this.fns = names.map((n) => exports[n]);
    names.forEach((n, i) => this.index.set(n, i));
    if (shared) {
      this.ctrlBuf = new SharedArrayBuffer(CTRL_INTS * 4);
      this.argsBuf = new SharedArrayBuffer(MAX_ARGS * 8);
      this.ctrl = new Int32Array(this.ctrlBuf);
      this.args = new Float64Array(this.argsBuf);
      Atomics.store(this.ctrl, SPIN_US, 200);
    } else {
      this.ctrlBuf = this.argsBuf = null;
      this.ctrl = this.args = null;
    }
    // Atomics.wait is refused on a browser's main thread; there the caller spins instead.
    this.canWait = typeof (globalThis as { window?: unknown }).window === 'undefined';
  }

  /** Threads that will run the next call: the caller plus the workers that are ready, up to `wanted`. */
  get threads(): number {
    if (this.ctrl === null) return 1;
    let n = 1;
    while (n < this.wanted && n - 1 < this.workers.length && Atomics.load(this.ctrl, READY0 + n - 1) === 1) n++;
    return n;
  }

  /** Threads asked for (the caller included); workers start as needed, asynchronously. */
  get requested(): number {
    return this.wanted;
  }

  /**
   * Sets the thread count (the caller included). Starts workers that are missing; extra ones stay idle.
   * With no shared memory or no worker support, stays at 1.
   */
  setThreads(n: number, workerUrl: URL): void {
    this.wanted = Math.max(1, Math.min(MAX_WORKERS + 1, Math.floor(n)));
    if (this.ctrl === null) return;
    const wt = workerThreads();
    if (wt === undefined) return; // browser workers: not wired yet; single thread
    while (this.workers.length < this.wanted - 1) {
      const data: PoolWorkerData = { module: this.module, memory: this.memory, ctrl: this.ctrlBuf!, args: this.argsBuf!, worker: this.workers.length };
      const w = new wt.Worker(workerUrl, { workerData: data });
      w.unref(); // idle workers never keep the process alive
      w.on('error', () => {}); // a worker that fails to start is simply never ready
      this.workers.push(w);
    }
  }

  /** Waits (asynchronously) until the requested workers are ready, or `timeoutMs` passes. Returns the thread count. */
  async ready(timeoutMs = 10000): Promise<number> {
    const t0 = Date.now();
    while (this.threads < this.wanted && Date.now() - t0 < timeoutMs) await new Promise((r) => setTimeout(r, 2));
    return this.threads;
  }

  /** Spin time of idle workers, in microseconds, before they sleep. */
  setSpin(us: number): void {
    if (this.ctrl !== null) Atomics.store(this.ctrl, SPIN_US, Math.max(0, Math.round(us)));
  }

  /**
   * Runs export `name` on `threads` threads (at most those ready): each gets `(...args, tid, nthreads)`.
   * `threads` 1 runs on the caller only, with no hand-off.
   */
  run(name: string, args: readonly number[], threads = this.wanted): void {
    const k = this.index.get(name);
    if (k === undefined) throw new Error(`qkv wasm: the module has no kernel '${name}'`);
    const nthreads = threads <= 1 ? 1 : Math.min(threads, this.threads);
    const a = this.a;
    a.length = args.length + 2;
    for (let i = 0; i < args.length; i++) a[i] = args[i];
    a[args.length + 1] = nthreads;
    if (nthreads === 1) {
      a[args.length] = 0;
      this.fns[k](...a);
      return;
    }
    if (args.length > MAX_ARGS) throw new Error(`qkv wasm: kernel '${name}' has ${args.length} arguments, more than ${MAX_ARGS}`);
    const ctrl = this.ctrl!;
    for (let i = 0; i < args.length; i++) this.args![i] = args[i];
    Atomics.store(ctrl, KERNEL, k);
    Atomics.store(ctrl, NARGS, args.length);
    Atomics.store(ctrl, NTHREADS, nthreads);
    Atomics.store(ctrl, DONE, 0);
    Atomics.store(ctrl, FAILED, 0);
    Atomics.store(ctrl, SEQ, ++this.seq);
    Atomics.notify(ctrl, SEQ);
    a[args.length] = 0;
    let err: unknown = null;
    try {
      this.fns[k](...a);
    } catch (e) {
      err = e;
    }
    const need = nthreads - 1;
    for (let spins = 0; ; spins++) {
      const done = Atomics.load(ctrl, DONE);
      if (done >= need) break;
      if (this.canWait && spins > 1000) Atomics.wait(ctrl, DONE, done, 1);
    }
    if (err !== null) throw err;
    if (Atomics.load(ctrl, FAILED) === 1) throw new Error(`qkv wasm: kernel '${name}' failed in a worker thread`);
  }

  /** Stops the workers (they exit after their current call). */
  async stop(): Promise<void> {
    if (this.ctrl === null) return;
    Atomics.store(this.ctrl, STOP, 1);
    Atomics.store(this.ctrl, SEQ, ++this.seq);
    Atomics.notify(this.ctrl, SEQ);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
    Atomics.store(this.ctrl, STOP, 0);
    for (let i = 0; i < MAX_WORKERS; i++) Atomics.store(this.ctrl, READY0 + i, 0);
  }
}
