/**
 * Safetensors (https://github.com/huggingface/safetensors), the weight format of the Hugging Face hub.
 *
 * A file is: an 8-byte little-endian unsigned integer N; N bytes of UTF-8 JSON (the header), possibly
 * padded with trailing spaces; then the data buffer. The header maps each tensor name to
 * `{"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}` (byte offsets into the data buffer,
 * which starts right after the header), plus an optional `"__metadata__"` of string to string. The
 * tensors' byte ranges must tile the buffer exactly: contiguous, no overlap, no gap, nothing after the
 * last one. Data is little-endian and row-major.
 *
 * The reader trusts nothing: every field, every size and every offset is checked before a byte of data
 * is read, and each problem is a {@link FileFormatError} naming the file, what was expected and what was
 * found. Every dtype is read into a Float32Array (qkv's only storage type); the writer writes F32.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic-write.js';
import { FileFormatError } from './file-format-error.js';
import { Tensor } from '../tensor/tensor.js';
import { ShapeError, fmt } from '../tensor/shape.js';

/** The dtypes qkv reads. */
export type SafeDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8' | 'BOOL';

/** One tensor read from a safetensors file, its values converted to float32. */
export interface SafeTensor {
  /** The dtype stored in the file (the data is float32 whatever it is). */
  dtype: SafeDType;
  shape: number[];
  /** The values, row-major; `data.length` is the product of `shape` (1 for a 0-d tensor). */
  data: Float32Array;
}

/** What {@link serializeSafetensors} writes: a Tensor, or a plain shape and float32 data. */
export type SafeTensorInput = Tensor | { dtype?: 'F32'; shape: readonly number[]; data: Float32Array };

/** The header's reserved key for string metadata. */
const METADATA_KEY = '__metadata__';

/** The official reader refuses headers above 100 MB (`HeaderTooLarge`); so does this one. */
const MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of each dtype qkv reads. */
const DTYPE_SIZE: Readonly<Record<SafeDType, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, U8: 1, BOOL: 1 };

/** Valid safetensors dtypes that qkv does not read: named as such rather than as "unknown". */
const UNSUPPORTED_DTYPES = new Set(['I8', 'I16', 'U16', 'U32', 'U64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64']);

/** Integers up to 2^24 in magnitude are exactly representable in float32. */
const EXACT_INT = 2 ** 24;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isSafeDType(s: string): s is SafeDType {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short, bounded rendering of a JSON value for error messages. */
function show(v: unknown): string {
  const s = v === undefined ? 'nothing' : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** A checked, offset-sorted header entry. */
interface Entry {
  name: string;
  dtype: SafeDType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses the bytes of a safetensors file, validating everything first: the length prefix, the header's
 * UTF-8, JSON and structure, each tensor's dtype, shape and offsets, that each tensor's byte range
 * holds exactly product(shape) × dtype size bytes, and that the ranges tile the data buffer exactly
 * (no overlap, no gap, not truncated, nothing trailing).
 *
 * Every dtype becomes a Float32Array: F32 bit for bit, F16 and BF16 exactly, F64 rounded to nearest
 * (beyond float32's range: ±Infinity), U8 and BOOL exactly, I32 and I64 exactly when |v| ≤ 2^24 (else a
 * FileFormatError, since float32 could not hold the value). `dtype` keeps what the file stored.
 *
 * @param bytes the whole file
 * @param where the file's name, for error messages
 * @returns the tensors in file (data offset) order, and the `__metadata__` strings (empty if none)
 * @throws FileFormatError naming `where` and the problem
 */
export function parseSafetensors(bytes: Uint8Array, where: string): { tensors: Map<string, SafeTensor>; metadata: Record<string, string> } {
  const fail = (problem: string): never => {
    throw new FileFormatError(where, problem);
  };
  if (bytes.length < 8) {
    fail(`not a safetensors file: it has ${bytes.length} bytes, fewer than the 8-byte header length that starts every safetensors file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  const rest = bytes.length - 8;
  if (headerLen64 > BigInt(rest)) {
    fail(
      `truncated or not a safetensors file: its first 8 bytes give a header length of ${headerLen64} bytes, but only ${rest} bytes follow them` +
        ` (re-download or re-save the file; check that it is a .safetensors file and not, e.g., a PyTorch .bin or an HTML error page)`,
    );
  }
  const headerLen = Number(headerLen64);
  if (headerLen > MAX_HEADER_BYTES) {
    fail(`header of ${headerLen} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit of the safetensors format`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    return fail(`header (bytes 8..${dataStart}) is not valid UTF-8: the file is corrupt or not a safetensors file`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(
      `header is not valid JSON (${e instanceof Error ? e.message : String(e)}); it begins ${show(text.slice(0, 40))}: the file is corrupt or not a safetensors file`,
    );
  }
  if (!isPlainObject(header)) {
    return fail(`header must be a JSON object of tensor entries, found ${Array.isArray(header) ? 'an array' : show(header)}`);
  }

  // Metadata: an object of strings (null, as some writers emit for none, is accepted as empty).
  const metaEntries: [string, string][] = [];
  const rawMeta = header[METADATA_KEY];
  if (rawMeta !== undefined && rawMeta !== null) {
    if (!isPlainObject(rawMeta)) fail(`"${METADATA_KEY}" must be an object of string values, found ${show(rawMeta)}`);
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`"${METADATA_KEY}" value for key ${JSON.stringify(k)} must be a string, found ${show(v)}`);
      metaEntries.push([k, v as string]);
    }
  }

  // Each entry: dtype, shape, offsets, and that the offsets span exactly the bytes the shape needs.
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    const t = `tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(raw)) fail(`${t}: expected an object {"dtype", "shape", "data_offsets"}, found ${show(raw)}`);
    const info = raw as Record<string, unknown>;
    for (const key of ['dtype', 'shape', 'data_offsets']) {
      if (!(key in info)) fail(`${t}: entry has no "${key}" (expected {"dtype", "shape", "data_offsets"}, found keys ${show(Object.keys(info))})`);
    }
    const dtype = info.dtype;
    if (typeof dtype !== 'string') fail(`${t}: "dtype" must be a string such as "F32", found ${show(dtype)}`);
    if (!isSafeDType(dtype as string)) {
      const supported = Object.keys(DTYPE_SIZE).join(', ');
      fail(
        UNSUPPORTED_DTYPES.has(dtype as string)
          ? `${t}: dtype ${dtype as string} is a valid safetensors dtype but qkv does not read it (supported: ${supported}); convert the tensor to F32 before saving`
          : `${t}: unknown dtype ${show(dtype)} (expected one of ${supported})`,
      );
    }
    const shape = info.shape;
    if (!Array.isArray(shape)) fail(`${t}: "shape" must be an array of sizes, found ${show(shape)}`);
    for (const d of shape as unknown[]) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
        fail(`${t}: shape ${show(shape)} must hold non-negative integers, found ${show(d)}`);
      }
    }
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2) fail(`${t}: "data_offsets" must be [begin, end], found ${show(offsets)}`);
    const [begin, end] = offsets as unknown[];
    for (const o of [begin, end]) {
      if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
        fail(`${t}: "data_offsets" ${show(offsets)} must be two non-negative integers, found ${show(o)}`);
      }
    }
    const b = begin as number;
    const e = end as number;
    if (e < b) fail(`${t}: data_offsets [${b},${e}] end before they begin`);
    const dims = shape as number[];
    const size = DTYPE_SIZE[dtype as SafeDType];
    let nbytes = size;
    for (const d of dims) nbytes *= d;
    if (!Number.isSafeInteger(nbytes)) fail(`${t}: shape ${fmt(dims)} of ${dtype as string} is impossibly large`);
    if (nbytes !== e - b) {
      fail(
        `${t}: shape ${fmt(dims)} of ${dtype as string} needs ${nbytes} bytes, but data_offsets [${b},${e}] span ${e - b}: the header contradicts itself (a corrupt or badly written file)`,
      );
    }
    entries.push({ name, dtype: dtype as SafeDType, shape: dims.slice(), begin: b, end: e });
  }

  // The ranges must tile the data buffer exactly. Stable sort: equal ranges (empty tensors) keep header order.
  entries.sort((x, y) => x.begin - y.begin || x.end - y.end);
  const described = entries.reduce((m, x) => Math.max(m, x.end), 0);
  if (described > dataLen) {
    fail(
      `truncated: the header describes ${described} bytes of tensor data but only ${dataLen} are present after it ` +
        `(the file should be ${dataStart + described} bytes and is ${bytes.length}); it was cut short while downloading or writing: fetch or save it again`,
    );
  }
  let at = 0;
  let prev: Entry | undefined;
  for (const x of entries) {
    if (x.begin < at) {
      fail(
        `tensor ${JSON.stringify(x.name)} (bytes [${x.begin},${x.end}]) overlaps tensor ${JSON.stringify(prev?.name)} (bytes [${prev?.begin},${prev?.end}]): each tensor must have its own bytes`,
      );
    }
    if (x.begin > at) {
      const after = prev === undefined ? 'the start of the data' : `tensor ${JSON.stringify(prev.name)}`;
      fail(`gap of ${x.begin - at} bytes (data bytes [${at},${x.begin}]) between ${after} and tensor ${JSON.stringify(x.name)}: tensors must be contiguous`);
    }
    at = x.end;
    prev = x;
  }
  if (at < dataLen) {
    fail(`${dataLen - at} bytes after the last tensor's data (data bytes [${at},${dataLen}]) are not described by the header: the file is corrupt or has trailing data`);
  }

  const tensors = new Map<string, SafeTensor>();
  for (const x of entries) {
    const data = decode(bytes.subarray(dataStart + x.begin, dataStart + x.end), x, fail);
    tensors.set(x.name, { dtype: x.dtype, shape: x.shape, data });
  }
  return { tensors, metadata: Object.fromEntries(metaEntries) };
}

/** Copies `src` (little-endian, `size` bytes per element) into a fresh buffer in host byte order. */
function hostOrderCopy(src: Uint8Array, size: number): ArrayBuffer {
  const out = new Uint8Array(src.length);
  if (LITTLE_ENDIAN_HOST) out.set(src);
  else for (let i = 0; i < src.length; i += size) for (let j = 0; j < size; j++) out[i + j] = src[i + size - 1 - j];
  return out.buffer;
}

/** Converts one tensor's bytes (already checked to be the right length) to float32. */
function decode(src: Uint8Array, x: Entry, fail: (problem: string) => never): Float32Array {
  const n = src.length / DTYPE_SIZE[x.dtype];
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const t = `tensor ${JSON.stringify(x.name)}`;
  switch (x.dtype) {
    case 'F32':
      return new Float32Array(hostOrderCopy(src, 4)); // a copy of the bytes: NaN payloads survive
    case 'F16':
    case 'BF16': {
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer); // written as bits: exact, NaN payloads included
      for (let i = 0; i < n; i++) {
        const h = view.getUint16(2 * i, true);
        bits[i] = x.dtype === 'BF16' ? (h << 16) >>> 0 : f16ToF32Bits(h);
      }
      return out;
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true); // Float32Array rounds to nearest
      return out;
    }
    case 'I64': {
      const out = new Float32Array(n);
      const big = new BigInt64Array(hostOrderCopy(src, 8));
      const lim = BigInt(EXACT_INT);
      for (let i = 0; i < n; i++) {
        const v = big[i];
        if (v > lim || v < -lim) fail(`${t}: I64 element ${i} is ${v}, beyond ±2^24 where float32 holds integers exactly`);
        out[i] = Number(v);
      }
      return out;
    }
    case 'I32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getInt32(4 * i, true);
        if (v > EXACT_INT || v < -EXACT_INT) fail(`${t}: I32 element ${i} is ${v}, beyond ±2^24 where float32 holds integers exactly`);
        out[i] = v;
      }
      return out;
    }
    case 'U8':
      return Float32Array.from(src);
    case 'BOOL': {
      for (let i = 0; i < n; i++) if (src[i] > 1) fail(`${t}: BOOL element ${i} is byte ${src[i]}, expected 0 or 1`);
      return Float32Array.from(src);
    }
  }
}

/** The float32 bit pattern of an IEEE half (1 sign, 5 exponent, 10 mantissa bits): exact, as every half is a float32. */
function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let man = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (man << 13)) >>> 0; // Inf, NaN (payload kept)
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (man << 13)) >>> 0;
  if (man === 0) return sign >>> 0; // ±0
  // Subnormal half m·2^-24: normalize into a float32 normal.
  let e = -14;
  while ((man & 0x400) === 0) {
    man <<= 1;
    e--;
  }
  return (sign | ((e + 127) << 23) | ((man & 0x3ff) << 13)) >>> 0;
}

/**
 * Reads and parses a safetensors file (see {@link parseSafetensors}).
 *
 * @throws Error naming `path` when the file cannot be read (missing, a directory, no permission)
 * @throws FileFormatError naming `path` when its contents are not a valid safetensors file
 */
export function readSafetensors(path: string): { tensors: Map<string, SafeTensor>; metadata: Record<string, string> } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file (check the path and the working directory)'
        : code === 'EISDIR'
          ? 'it is a directory, not a file'
          : cause instanceof Error
            ? cause.message
            : String(cause);
    throw new Error(`cannot read safetensors file ${path}: ${reason}`, { cause });
  }
  return parseSafetensors(bytes, path);
}

/**
 * Serializes tensors to the bytes of a safetensors file, as the official writer lays them out: the
 * 8-byte little-endian header length, compact JSON (`"__metadata__"` first when given, then each tensor
 * as `{"dtype":"F32","shape":[..],"data_offsets":[b,e]}`), padded with spaces to a multiple of 8 bytes,
 * then each tensor's float32 data, little-endian and contiguous. Tensors keep the map's order (the
 * official writer sorts them by dtype and name; readers accept any order). Values are written bit for
 * bit (NaN payloads included). Bool tensors are written as F32 0/1.
 *
 * @param tensors name → Tensor, or a plain `{ shape, data }` (dtype, if given, must be 'F32')
 * @param metadata string metadata for `"__metadata__"`; omitted from the header when undefined
 * @throws ShapeError when a name is reserved, a dtype is not F32, or data does not match its shape
 */
export function serializeSafetensors(tensors: Map<string, SafeTensorInput>, metadata?: Record<string, string>): Uint8Array {
  const op = 'serializeSafetensors';
  // Key-value pairs, not an object: a tensor may be named "__proto__", which assignment would not store.
  const header: [string, unknown][] = [];
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) throw new ShapeError(`${op}: metadata must be an object of strings, got ${show(metadata)}`);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new ShapeError(`${op}: metadata value for ${JSON.stringify(k)} must be a string, got ${show(v)}`);
    }
    header.push([METADATA_KEY, Object.fromEntries(Object.entries(metadata))]);
  }
  const datas: Float32Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const what = `${op}: tensor ${JSON.stringify(name)}`;
    if (name === METADATA_KEY) throw new ShapeError(`${op}: "${METADATA_KEY}" is reserved for metadata and cannot name a tensor`);
    if (!(t instanceof Tensor)) {
      const dtype = (t as { dtype?: unknown }).dtype;
      if (dtype !== undefined && dtype !== 'F32') {
        throw new ShapeError(`${what}: only F32 is written, got dtype ${show(dtype)} (the data is float32 already: pass dtype 'F32' or omit it)`);
      }
      if (!(t.data instanceof Float32Array)) throw new ShapeError(`${what}: data must be a Float32Array`);
    }
    const shape = [...t.shape];
    let n = 1;
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`${what}: invalid shape ${fmt(shape)}: sizes must be non-negative integers`);
      n *= d;
    }
    if (t.data.length !== n) throw new ShapeError(`${what}: data has ${t.data.length} elements but shape ${fmt(shape)} needs ${n}`);
    header.push([name, { dtype: 'F32', shape, data_offsets: [offset, offset + 4 * n] }]);
    offset += 4 * n;
    datas.push(t.data);
  }
  const json = new TextEncoder().encode(`{${header.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const d of datas) {
    const src = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    if (LITTLE_ENDIAN_HOST) out.set(src, at);
    else for (let i = 0; i < src.length; i += 4) for (let j = 0; j < 4; j++) out[at + i + j] = src[i + 3 - j];
    at += src.length;
  }
  return out;
}

/**
 * Writes tensors to a safetensors file (see {@link serializeSafetensors}) atomically: the bytes are
 * built first, then written to a temporary file renamed over `path`, so a failure at any point leaves
 * an existing file at `path` as it was.
 *
 * @throws ShapeError for invalid tensors or metadata (nothing is written); Error naming `path` when the
 * file cannot be written
 */
export function writeSafetensors(path: string, tensors: Map<string, SafeTensorInput>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
