/**
 * The WebAssembly heap: where the wasm backend's tensors live, so that kernels read and write them in
 * place (no copy per op).
 *
 * Ownership, decided once:
 * - Every block belongs to exactly one typed-array view handed out by `allocF32` / `allocI32`. The block is
 *   freed when that view is garbage-collected (a FinalizationRegistry): tensors are freed as JavaScript
 *   frees them, with no dispose() to call, as in PyTorch. Views of a view (`subarray`) must not outlive it;
 *   qkv's ops never make them.
 * - V8 does not see wasm memory as memory pressure, so on its own it would collect these small view objects
 *   rarely and the heap would balloon. Each large block therefore carries an untouched, never-written
 *   external buffer of the same size (Node: Buffer.allocUnsafeSlow, which takes no resident memory), which
 *   V8 does count: garbage collection then runs about as often as if the data were ordinary ArrayBuffers.
 * - Kernel temporaries (`temp`) are freed explicitly by the caller, in a `finally`.
 * - Finalizers run between JavaScript tasks, so memory held by garbage is returned after the current
 *   synchronous job ends (an awaited training step, a test); a long synchronous loop keeps what it made.
 *
 * Allocation: blocks are 64-byte aligned, sized by class (multiples of 64 bytes up to 4 KiB, then four
 * classes per power of two, so at most 25% is wasted); freed blocks go to their class's free list and are
 * reused for the next request of that class. Blocks are never split or merged: training and generation
 * repeat the same sizes, which this serves in constant time. The memory grows when no block fits (shared
 * memory: existing views stay valid); without SharedArrayBuffer (a page without cross-origin isolation) it
 * cannot grow without detaching every view, so it is made at its final size up front.
 */

const ALIGN = 64;
/** Bytes below this are the kernels' own (null pointer and a guard). */
const RESERVED = 65536;
const PAGE = 65536;
/** Blocks from this size carry a pressure buffer; smaller ones are not worth a GC's attention. */
const PRESSURE_MIN = 1 << 16;

/** The class (block size in bytes) that serves a request of `bytes`. */
export function sizeClass(bytes: number): number {
  const b = Math.max(ALIGN, bytes);
  if (b <= 4096) return Math.ceil(b / ALIGN) * ALIGN;
  const pow = 2 ** Math.floor(Math.log2(b));
  const step = pow / 4;
  return Math.ceil(b / step) * step;
}

export interface HeapStats {
  /** Bytes in blocks that are in use. */
  liveBytes: number;
  liveBlocks: number;
  /** Bytes in freed blocks waiting for reuse. */
  freeBytes: number;
  /** The wasm memory's size in bytes. */
  memoryBytes: number;
  /** The highest liveBytes seen (reset with `resetPeak`). */
  peakLiveBytes: number;
}

type Pressure = (bytes: number) => object;

function pressureMaker(): Pressure {
  const B = (globalThis as { Buffer?: { allocUnsafeSlow(n: number): object } }).Buffer;
  if (B !== undefined) return (n) => B.allocUnsafeSlow(n);
  return (n) => new ArrayBuffer(n);
}

export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  private buffer: ArrayBuffer | SharedArrayBuffer;
  /** Every buffer object the memory has had (one per growth): a view on any of them is in wasm memory. */
  private readonly buffers = new WeakSet<ArrayBuffer | SharedArrayBuffer>();
  private top = RESERVED;
  private readonly free = new Map<number, number[]>();
  private readonly blockSize = new Map<number, number>();
  private readonly registry = new FinalizationRegistry<number>((ptr) => this.release(ptr));
  private readonly pressure = new WeakMap<object, object>();
  private readonly makePressure = pressureMaker();
  private stats = { liveBytes: 0, liveBlocks: 0, freeBytes: 0, peakLiveBytes: 0 };

  /**
   * @param memory shared (growable) or not; a non-shared memory is used at its current size only.
   */
  constructor(memory: WebAssembly.Memory, shared: boolean) {
    this.memory = memory;
    this.shared = shared;
    this.buffer = memory.buffer;
    this.buffers.add(this.buffer);
  }

  /** Whether `x` is a view into this heap's memory (its data can be handed to kernels as is). */
  owns(x: ArrayBufferView): boolean {
    return this.buffers.has(x.buffer);
  }

  /** A float32 view of n elements in wasm memory, freed when the view is garbage-collected. Contents are undefined. */
  allocF32(n: number): Float32Array {
    const ptr = this.allocBlock(n * 4);
    const view = new Float32Array(this.buffer, ptr, n);
    this.track(view, ptr);
    return view;
  }

  /** An int32 view of n elements in wasm memory, freed when garbage-collected. */
  allocI32(n: number): Int32Array {
    const ptr = this.allocBlock(n * 4);
    const view = new Int32Array(this.buffer, ptr, n);
    this.track(view, ptr);
    return view;
  }

  /** A block for a kernel's temporary use: the caller frees it with `freeTemp` (in a finally). */
  temp(bytes: number): number {
    return this.allocBlock(bytes);
  }

  freeTemp(ptr: number): void {
    this.release(ptr);
  }

  /** A float32 view of a temp block (not tracked: its life is the block's). */
  viewF32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.buffer, ptr, n);
  }

  getStats(): HeapStats {
    return { ...this.stats, memoryBytes: this.buffer.byteLength };
  }

  resetPeak(): void {
    this.stats.peakLiveBytes = this.stats.liveBytes;
  }

  private track(view: ArrayBufferView, ptr: number): void {
    this.registry.register(view, ptr);
    const bytes = this.blockSize.get(ptr)!;
    if (bytes >= PRESSURE_MIN) this.pressure.set(view, this.makePressure(bytes));
  }

  private allocBlock(bytes: number): number {
    if (!(bytes >= 0) || !Number.isFinite(bytes)) throw new Error(`qkv wasm heap: cannot allocate ${bytes} bytes`);
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let ptr: number;
    if (list !== undefined && list.length > 0) {
      ptr = list.pop()!;
      this.stats.freeBytes -= size;
    } else {
      ptr = this.top;
      const end = ptr + size;
      if (end > this.buffer.byteLength) this.grow(end);
      this.top = end;
    }
    this.blockSize.set(ptr, size);
    this.stats.liveBytes += size;
    this.stats.liveBlocks++;
    if (this.stats.liveBytes > this.stats.peakLiveBytes) this.stats.peakLiveBytes = this.stats.liveBytes;
    return ptr;
  }

  private release(ptr: number): void {
    const size = this.blockSize.get(ptr);
    if (size === undefined) throw new Error(`qkv wasm heap: freeing ${ptr}, which is not an allocated block`);
    this.blockSize.delete(ptr);
    this.stats.liveBytes -= size;
    this.stats.liveBlocks--;
    this.stats.freeBytes += size;
    let list = this.free.get(size);
    if (list === undefined) this.free.set(size, (list = []));
    list.push(ptr);
  }

  private grow(end: number): void {
    const have = this.buffer.byteLength;
    const limit = 65536 * PAGE;
    if (!this.shared || end > limit) {
      const why = this.shared
        ? 'WebAssembly memory is limited to 4 GiB'
        : 'this page has no SharedArrayBuffer (not cross-origin isolated), so the heap cannot grow: configureWasm({ memoryBytes }) sets its size';
      throw new Error(
        `qkv wasm heap: out of memory: need ${end} bytes, have ${have} (${why}). ` +
          `Tensors that became garbage are freed between tasks: a long synchronous loop (training steps, generation) ` +
          `should await between steps, e.g. \`await new Promise((r) => setImmediate(r))\`, as qkv's own loops do`,
      );
    }
    // Grow by at least half again, so that a growing workload grows memory O(log n) times.
    const want = Math.min(limit, Math.max(end, Math.floor(have * 1.5)));
    this.memory.grow(Math.ceil((want - have) / PAGE));
    this.buffer = this.memory.buffer;
    this.buffers.add(this.buffer);
  }
}
