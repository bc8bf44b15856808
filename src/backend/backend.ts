/**
 * The kernel boundary. Tensor ops (src/ops) check shapes, build the autograd graph and call the kernels
 * of the active backend for every loop over data; models and modules only ever call ops. A new backend
 * (WebAssembly, WebGPU) implements this interface, is registered, and is selected with `setBackend`:
 * no op, module or model changes. The reference backend (plain TypeScript, simple and obviously right)
 * is the specification that every other backend is tested against.
 */
import type { ElementwiseKernels } from './kernels/elementwise.js';
import type { MatmulKernels } from './kernels/matmul.js';
import type { ReduceKernels } from './kernels/reduce.js';
import type { LayoutKernels } from './kernels/layout.js';
import type { NNKernels } from './kernels/nn.js';
import type { AttentionKernels } from './kernels/attention.js';
import type { OptimKernels } from './kernels/optim.js';
import { referenceBackend } from './reference/index.js';

export interface Backend extends ElementwiseKernels, MatmulKernels, ReduceKernels, LayoutKernels, NNKernels, AttentionKernels, OptimKernels {
  readonly name: string;
  /**
   * Where a new tensor's data lives: returns `data` itself, or a copy in the backend's own memory (the
   * wasm backend keeps every tensor in WebAssembly memory, so kernels never copy their inputs). Called
   * once per tensor, by the Tensor constructor. Absent: data stays where it is.
   */
  adopt?(data: Float32Array): Float32Array;
}

const registry = new Map<string, Backend>([[referenceBackend.name, referenceBackend]]);
let active: Backend = referenceBackend;

/** The backend that ops call now. */
export function backend(): Backend {
  return active;
}

export function registerBackend(b: Backend): void {
  registry.set(b.name, b);
}

/** Selects a registered backend by name ('reference' is always there). Returns the previous one's name. */
export function setBackend(name: string): string {
  const b = registry.get(name);
  if (b === undefined) {
    throw new Error(`setBackend: no backend named '${name}' (registered: ${[...registry.keys()].join(', ')})`);
  }
  const prev = active.name;
  active = b;
  return prev;
}

export function listBackends(): string[] {
  return [...registry.keys()];
}
