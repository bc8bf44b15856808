/**
 * Finds, checks and compiles qkv's WebAssembly kernels (built from wasm/ by scripts/build-wasm.mjs into
 * dist/wasm/). Two builds of the same source: with relaxed SIMD (fused multiply-add) where the engine
 * validates it, else plain 128-bit SIMD. Node 20 has relaxed SIMD only behind
 * `--experimental-wasm-relaxed-simd` (the qkv CLI turns it on; see `enableRelaxedSimdFlag`).
 */

export type WasmFlavour = 'relaxed-simd' | 'simd';

type Fs = typeof import('node:fs');
type Url = typeof import('node:url');
type V8 = typeof import('node:v8');

function nodeBuiltin<T>(id: string): T | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return p?.getBuiltinModule?.(id) as T | undefined;
}

function fileFor(flavour: WasmFlavour): URL {
  return new URL(`../../../wasm/${flavour === 'relaxed-simd' ? 'qkv-relaxed' : 'qkv-simd'}.wasm`, import.meta.url);
}

/**
 * In Node 20, turns on V8's relaxed-SIMD flag for this process (it must happen before the first module is
 * compiled; later Node versions have the feature on by default and ignore the flag). Returns whether it
 * could be set. Browsers ship relaxed SIMD without a flag.
 */
export function enableRelaxedSimdFlag(): boolean {
  const v8 = nodeBuiltin<V8>('node:v8');
  if (v8 === undefined) return false;
  try {
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    return true;
  } catch {
    return false;
  }
}

/** Reads a build's bytes synchronously (Node), with an error that names the file and the fix. */
export function readWasmBytes(flavour: WasmFlavour): Uint8Array {
  const fs = nodeBuiltin<Fs>('node:fs');
  const url = nodeBuiltin<Url>('node:url');
  if (fs === undefined || url === undefined) {
    throw new Error('qkv wasm: synchronous loading needs Node; in a browser call `await initWasm()` first');
  }
  const path = url.fileURLToPath(fileFor(flavour));
  try {
    return fs.readFileSync(path);
  } catch (e) {
    throw new Error(`qkv wasm: cannot read ${path} (${(e as Error).message}); the WebAssembly kernels are built by \`npm run build\` (scripts/build-wasm.mjs)`);
  }
}

/** Fetches a build's bytes (browsers, or Node with fetch of file: URLs unavailable: falls back to fs). */
export async function fetchWasmBytes(flavour: WasmFlavour): Promise<Uint8Array> {
  if (nodeBuiltin<Fs>('node:fs') !== undefined) return readWasmBytes(flavour);
  const url = fileFor(flavour);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`qkv wasm: fetching ${url.href} failed: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Which flavour this engine runs: relaxed SIMD if a relaxed build validates here. */
export function pickFlavour(relaxedBytes: Uint8Array | null, prefer: WasmFlavour | 'auto' = 'auto'): WasmFlavour {
  if (prefer === 'simd') return 'simd';
  const ok = relaxedBytes !== null && WebAssembly.validate(relaxedBytes as Uint8Array<ArrayBuffer>);
  if (prefer === 'relaxed-simd' && !ok) {
    throw new Error("qkv wasm: relaxed SIMD was asked for but this engine does not validate it (Node 20 needs --experimental-wasm-relaxed-simd)");
  }
  return ok ? 'relaxed-simd' : 'simd';
}

/** Whether the engine has WebAssembly 128-bit SIMD at all (a module with one v128 op). */
export function hasSimd(): boolean {
  // (module (func (result v128) (v128.const i32x4 0 0 0 0)))
  const bytes = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 11,
  ]);
  return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
}
