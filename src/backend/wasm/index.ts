/**
 * The 'wasm' backend: WebAssembly SIMD kernels (built from wasm/ by scripts/build-wasm.mjs) on every core,
 * with tensors in WebAssembly memory (see heap.ts for who frees what). Kernels it does not have yet come
 * from the reference backend, which works on the same arrays.
 *
 * Importing this module registers the backend as 'wasm' (it does not select it): `setBackend('wasm')`.
 */
import { registerBackend, type Backend } from '../backend.js';
import { referenceBackend } from '../reference/index.js';
import { adopt } from './runtime.js';
import { matmulKernels } from './matmul.js';
import { attentionKernels } from './attention.js';
import { elementwiseKernels } from './elementwise.js';
import { nnKernels } from './nn.js';

export { configureWasm, initWasm, wasmInfo, stopWasmWorkers, rt as wasmRuntime, type WasmOptions } from './runtime.js';
export { enableRelaxedSimdFlag } from './module.js';

export const wasmBackend: Backend = {
  ...referenceBackend,
  name: 'wasm',
  adopt,
  ...elementwiseKernels,
  ...nnKernels,
  ...matmulKernels,
  ...attentionKernels,
};

/** Registers the 'wasm' backend (done on import already); returns its name. */
export function registerWasmBackend(): string {
  registerBackend(wasmBackend);
  return wasmBackend.name;
}

registerWasmBackend();
