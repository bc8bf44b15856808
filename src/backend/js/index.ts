/**
 * The 'js' backend: the reference backend with a fast matmul (register-tiled, packed panels, and a helper
 * worker thread for large products; see ./matmul.ts). Every kernel gives results bitwise equal to the
 * reference backend's.
 *
 * Importing this module registers the backend under the name 'js' (it does not select it); select it with
 * `setBackend('js')`. `registerJsBackend()` does the same registration explicitly (idempotent).
 */
import { registerBackend, type Backend } from '../backend.js';
import { referenceBackend } from '../reference/index.js';
import { matmul } from './matmul.js';

export { configureJsMatmul, jsMatmulOptions, startJsMatmulWorker, stopJsMatmulWorker, jsMatmulStats, type JsMatmulOptions } from './matmul.js';

export const jsBackend: Backend = { ...referenceBackend, name: 'js', ...matmul };

/** Registers the 'js' backend (done on import already); returns its name. */
export function registerJsBackend(): string {
  registerBackend(jsBackend);
  return jsBackend.name;
}

registerJsBackend();
