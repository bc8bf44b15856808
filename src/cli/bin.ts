#!/usr/bin/env node
/** The `qkv` executable. */
import { setBackend, listBackends } from '../backend/backend.js';
import { registerJsBackend } from '../backend/js/index.js';
import { registerWasmBackend, enableRelaxedSimdFlag } from '../backend/wasm/index.js';
import { main, reportError } from './main.js';

// Relaxed SIMD (fused multiply-add) is behind a V8 flag in Node 20; it must be on before the wasm kernels
// are compiled (on first use). Engines without it get the plain SIMD build.
enableRelaxedSimdFlag();
registerJsBackend();
registerWasmBackend();
// QKV_BACKEND picks the kernels: wasm (the default: WebAssembly SIMD on every core; QKV_THREADS sets how
// many), js (pure TypeScript, bitwise equal to the reference) or reference (the specification).
const wanted = process.env.QKV_BACKEND ?? 'wasm';
if (!listBackends().includes(wanted)) {
  console.error(`qkv: QKV_BACKEND=${wanted} is not a backend (available: ${listBackends().join(', ')})`);
  process.exit(2);
}
setBackend(wanted);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError(err);
  },
);
