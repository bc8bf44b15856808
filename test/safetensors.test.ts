import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileFormatError } from '../src/io/file-format-error.js';
import { parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors, type SafeTensorInput } from '../src/io/safetensors.js';
import { Tensor } from '../src/tensor/tensor.js';
import { ShapeError } from '../src/tensor/shape.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'qkv-safetensors-'));
const ascii = (s: string) => Array.from(Buffer.from(s, 'utf8'));
const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const le = (n: number, bytes: number) => Array.from({ length: bytes }, (_, i) => Number((BigInt(n) >> BigInt(8 * i)) & 0xffn));

/** A file from a header string (unpadded) and data bytes: the 8-byte length, the header, the data. */
function file(header: string | object, data: number[] | Uint8Array = []): Uint8Array {
  const h = ascii(typeof header === 'string' ? header : JSON.stringify(header));
  return Uint8Array.from([...le(h.length, 8), ...h, ...data]);
}

/** Float32 values as little-endian bytes. */
function f32Bytes(values: number[]): number[] {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeFloatLE(v, 4 * i));
  return Array.from(b);
}

/** Asserts that parsing fails with a one-line FileFormatError naming the file and matching `problem`. */
function rejects(bytes: Uint8Array, problem: RegExp, where = 'bad.safetensors'): void {
  assert.throws(
    () => parseSafetensors(bytes, where),
    (e: unknown) => {
      assert.ok(e instanceof FileFormatError, `expected a FileFormatError, got ${String(e)}`);
      assert.equal(e.name, 'FileFormatError');
      assert.equal(e.path, where);
      assert.ok(e.message.startsWith(`${where}: `), `message names the file: ${e.message}`);
      assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
      assert.match(e.message, problem);
      return true;
    },
  );
}

test('safetensors: round trip is bitwise, in memory and on disk (0-d, empty, NaN/Inf, odd shapes, order)', () => {
  const special = new Float32Array(8);
  const sbits = new Uint32Array(special.buffer);
  special.set([NaN, Infinity, -Infinity, -0, 1e-45, 3.4028234663852886e38, -1.5, 0.1]);
  sbits[0] = 0x7fc00001; // NaN with a payload
  sbits[7] = 0xffc12345; // negative NaN with another
  const odd = Float32Array.from({ length: 51 }, (_, i) => Math.sin(i * 1.7) * 10 ** ((i % 7) - 3));
  const input = new Map<string, SafeTensorInput>([
    ['z.scalar', Tensor.fromArray(3.25)],
    ['empty', { shape: [0], data: new Float32Array(0) }],
    ['special', { dtype: 'F32', shape: [2, 4], data: special }],
    ['empty2', new Tensor(new Float32Array(0), [2, 0, 3])],
    ['a.odd', new Tensor(odd, [1, 3, 17])],
    ['mask', Tensor.fromArray([true, false, true])],
    ['view', { shape: [2], data: new Float32Array(special.buffer, 8, 2) }], // an offset view
  ]);
  const bytes = serializeSafetensors(input);
  const dir = fresh();
  const path = join(dir, 'm.safetensors');
  writeSafetensors(path, input);
  assert.deepEqual(new Uint8Array(readFileSync(path)), bytes, 'the file holds exactly the serialized bytes');
  assert.deepEqual(readdirSync(dir), ['m.safetensors'], 'no temporary file left');
  for (const { tensors, metadata } of [parseSafetensors(bytes, 'mem'), readSafetensors(path)]) {
    assert.deepEqual([...tensors.keys()], [...input.keys()], 'the given order is kept');
    assert.deepEqual(metadata, {});
    for (const [name, t] of input) {
      const got = tensors.get(name)!;
      assert.equal(got.dtype, 'F32');
      assert.deepEqual(got.shape, [...t.shape], name);
      assert.deepEqual(bitsOf(got.data), bitsOf(t.data), `${name}: bit for bit`);
    }
    assert.deepEqual(tensors.get('z.scalar')!.shape, []);
    assert.equal(tensors.get('z.scalar')!.data.length, 1);
    assert.deepEqual(Array.from(tensors.get('mask')!.data), [1, 0, 1]);
  }
  // The header is padded to a multiple of 8, so the data (and every F32 tensor) is aligned.
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  assert.equal(bytes.length, 8 + n + 4 * (1 + 8 + 51 + 3 + 2));
});

test('safetensors: the header is padded with spaces to a multiple of 8 for every name length', () => {
  for (let len = 1; len <= 9; len++) {
    const bytes = serializeSafetensors(new Map([['x'.repeat(len), { shape: [1], data: Float32Array.of(len) }]]));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const header = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
    assert.match(header, /^\{.*\} {0,7}$/);
    assert.equal(parseSafetensors(bytes, 'mem').tensors.get('x'.repeat(len))!.data[0], len);
  }
});

test('safetensors: serialize writes the exact bytes of the official writer (its own test vectors)', () => {
  // safetensors/src/tensor.rs, test_serialization_forced_alignement: attn0, [1,1,2,3], 0..5.
  const out = serializeSafetensors(new Map([['attn0', { shape: [1, 1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) }]]));
  assert.deepEqual(Array.from(out), [
    72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70, 51, 50,
    34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102,
    102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32, 32, 32, 0, 0, 0, 0, 0, 0, 128, 63,
    0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
  ]);
  // test_empty: no tensors, without and with metadata.
  assert.deepEqual(Array.from(serializeSafetensors(new Map())), [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  assert.deepEqual(Array.from(serializeSafetensors(new Map(), { framework: 'pt' })), [
    40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102, 114, 97,
    109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
  ]);
  const empty = parseSafetensors(serializeSafetensors(new Map(), { framework: 'pt' }), 'mem');
  assert.equal(empty.tensors.size, 0);
  assert.deepEqual(empty.metadata, { framework: 'pt' });
});

test('safetensors: parses a file laid out byte by byte as Python safetensors.torch.save_file writes it', () => {
  // save_file({"a": torch.tensor([0.5, 65504], dtype=torch.float16), "b": torch.tensor([1.0, -2.0])}, f,
  //           metadata={"format": "pt"}): "__metadata__" first, tensors sorted by dtype alignment (F32
  // before F16) then name, compact JSON (139 bytes) padded with 5 spaces to 144 = 0x90, then the data.
  const header = '{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F16","shape":[2],"data_offsets":[8,12]}}';
  assert.equal(header.length, 139);
  const bytes = Uint8Array.from([
    0x90, 0, 0, 0, 0, 0, 0, 0,
    ...ascii(header), 0x20, 0x20, 0x20, 0x20, 0x20,
    0x00, 0x00, 0x80, 0x3f, /* 1.0f */ 0x00, 0x00, 0x00, 0xc0, /* -2.0f */
    0x00, 0x38, /* half 0.5 */ 0xff, 0x7b, /* half 65504 */
  ]);
  const { tensors, metadata } = parseSafetensors(bytes, 'model.safetensors');
  assert.deepEqual(metadata, { format: 'pt' });
  assert.deepEqual([...tensors.keys()], ['b', 'a'], 'file (offset) order');
  assert.deepEqual(tensors.get('b'), { dtype: 'F32', shape: [2], data: Float32Array.of(1, -2) });
  assert.deepEqual(tensors.get('a'), { dtype: 'F16', shape: [2], data: Float32Array.of(0.5, 65504) });

  // The Rust crate's own vectors: an unpadded 64-byte header (test_serialization, older writers) ...
  const old = Uint8Array.from([64, 0, 0, 0, 0, 0, 0, 0, ...ascii('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'), ...f32Bytes([0, 1, 2, 3, 4, 5])]);
  assert.deepEqual(Array.from(parseSafetensors(old, 'old').tensors.get('attn.0')!.data), [0, 1, 2, 3, 4, 5]);
  // ... and the doc example: '<' (60) then an I32 [2,2] of zeros.
  const doc = Uint8Array.from([...ascii('<\0\0\0\0\0\0\0{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}'), ...new Array<number>(16).fill(0)]);
  assert.deepEqual(parseSafetensors(doc, 'doc').tensors.get('test'), { dtype: 'I32', shape: [2, 2], data: new Float32Array(4) });
});

test('safetensors: metadata round trips (unicode, empty strings, odd keys)', () => {
  const metadata = { format: 'pt', note: 'héllo "quoted" \\ \n 数据 🙂', '': '', __proto__x: 'y' };
  const odd: Record<string, string> = JSON.parse('{"__proto__":"kept as a key"}');
  const all = { ...metadata, ...odd };
  const t = new Map([['w', { shape: [2], data: Float32Array.of(1, 2) }]]);
  const dir = fresh();
  writeSafetensors(join(dir, 'm.safetensors'), t, all);
  const got = readSafetensors(join(dir, 'm.safetensors')).metadata;
  assert.deepEqual(Object.entries(got).sort(), Object.entries(all).sort());
  assert.equal(Object.getPrototypeOf(got), Object.prototype, 'a "__proto__" key does not change the prototype');
  // A tensor may be named "__proto__" too.
  const p = parseSafetensors(serializeSafetensors(new Map([['__proto__', { shape: [1], data: Float32Array.of(7) }]])), 'mem');
  assert.deepEqual([...p.tensors.keys()], ['__proto__']);
  // "__metadata__": null is read as no metadata.
  assert.deepEqual(parseSafetensors(file('{"__metadata__":null}'), 'mem').metadata, {});
});

test('safetensors: F16, BF16, F64, I64, I32, U8 and BOOL decode exactly from hand-made bytes', () => {
  const u16 = (xs: number[]) => xs.flatMap((x) => le(x, 2));
  const decode = (dtype: string, shape: number[], data: number[]) =>
    parseSafetensors(file({ t: { dtype, shape, data_offsets: [0, data.length] } }, data), 'mem').tensors.get('t')!;

  const f16 = decode('F16', [11], u16([0x3c00, 0xc000, 0x0001, 0x7c00, 0xfc00, 0x7bff, 0x8000, 0x3555, 0x03ff, 0x0400, 0x7e00]));
  assert.equal(f16.dtype, 'F16');
  assert.deepEqual(Array.from(f16.data.subarray(0, 10)), [1, -2, 2 ** -24, Infinity, -Infinity, 65504, -0, 0.333251953125, 1023 * 2 ** -24, 2 ** -14]);
  assert.ok(Object.is(f16.data[6], -0));
  assert.ok(Number.isNaN(f16.data[10]));

  const bf16 = decode('BF16', [2, 3], u16([0x3f80, 0xc040, 0x7f80, 0x0001, 0x4049, 0xff80]));
  assert.deepEqual(bf16.shape, [2, 3]);
  assert.deepEqual(Array.from(bf16.data), [1, -3, Infinity, 2 ** -133, 3.140625, -Infinity]);

  const f64Bytes = Buffer.alloc(32);
  [1 / 3, -2.5, 1e300, 2 ** -149].forEach((v, i) => f64Bytes.writeDoubleLE(v, 8 * i));
  const f64 = decode('F64', [4], Array.from(f64Bytes));
  assert.deepEqual(Array.from(f64.data), [Math.fround(1 / 3), -2.5, Infinity, 2 ** -149]);

  const i64Bytes = Buffer.alloc(40);
  [0n, -1n, 2n ** 24n, -(2n ** 24n), 123456n].forEach((v, i) => i64Bytes.writeBigInt64LE(v, 8 * i));
  assert.deepEqual(Array.from(decode('I64', [5], Array.from(i64Bytes)).data), [0, -1, 2 ** 24, -(2 ** 24), 123456]);

  const i32Bytes = Buffer.alloc(12);
  [-7, 2 ** 24, 42].forEach((v, i) => i32Bytes.writeInt32LE(v, 4 * i));
  assert.deepEqual(Array.from(decode('I32', [3], Array.from(i32Bytes)).data), [-7, 2 ** 24, 42]);

  assert.deepEqual(Array.from(decode('U8', [3], [0, 128, 255]).data), [0, 128, 255]);
  const bool = decode('BOOL', [4], [1, 0, 0, 1]);
  assert.equal(bool.dtype, 'BOOL');
  assert.deepEqual(Array.from(bool.data), [1, 0, 0, 1]);
});

test('safetensors: integers float32 cannot hold exactly, and bool bytes other than 0/1, are FileFormatErrors', () => {
  const big = Buffer.alloc(16);
  big.writeBigInt64LE(1n, 0);
  big.writeBigInt64LE(2n ** 24n + 1n, 8);
  rejects(file({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, Array.from(big)), /tensor "ids": I64 element 1 is 16777217, beyond ±2\^24/);
  const neg = Buffer.alloc(8);
  neg.writeBigInt64LE(-(2n ** 62n));
  rejects(file({ ids: { dtype: 'I64', shape: [], data_offsets: [0, 8] } }, Array.from(neg)), /I64 element 0 is -4611686018427387904/);
  const i32 = Buffer.alloc(4);
  i32.writeInt32LE(-(2 ** 24) - 1);
  rejects(file({ n: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, Array.from(i32)), /I32 element 0 is -16777217/);
  rejects(file({ m: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] } }, [0, 1, 2]), /BOOL element 2 is byte 2, expected 0 or 1/);
});

test('safetensors: a truncated file, or a header length past the end, names the sizes', () => {
  const good = serializeSafetensors(new Map([['a', { shape: [4], data: Float32Array.of(1, 2, 3, 4) }], ['b', { shape: [2], data: Float32Array.of(5, 6) }]]));
  const n = Number(new DataView(good.buffer).getBigUint64(0, true));
  // Cut in the data: the header is whole but promises 24 bytes of data.
  rejects(good.subarray(0, good.length - 5), new RegExp(`truncated: the header describes 24 bytes of tensor data but only 19 are present.*should be ${good.length} bytes and is ${good.length - 5}`));
  rejects(good.subarray(0, 8 + n), /truncated: the header describes 24 bytes of tensor data but only 0 are present/);
  // Cut in the header.
  rejects(good.subarray(0, 20), new RegExp(`truncated or not a safetensors file: .*header length of ${n} bytes, but only 12 bytes follow`));
  // Fewer than 8 bytes.
  rejects(good.subarray(0, 5), /not a safetensors file: it has 5 bytes, fewer than the 8-byte header length/);
  rejects(new Uint8Array(0), /it has 0 bytes/);
  // A length that cannot be right (another format's bytes, e.g. a zip or an HTML page).
  rejects(Uint8Array.from([...ascii('<!DOCTYPE html><html></html>')]), /truncated or not a safetensors file: its first 8 bytes give a header length of \d+ bytes, but only 20 bytes follow/);
  rejects(Uint8Array.from([255, 255, 255, 255, 255, 255, 255, 255, 123, 125]), /header length of 18446744073709551615 bytes, but only 2 bytes follow/);
});

test('safetensors: a header that lies about sizes, overlaps, gaps or trailing bytes is refused', () => {
  const data = f32Bytes([1, 2, 3, 4]);
  // Lying shape: [3] of F32 needs 12 bytes; offsets span 16.
  rejects(file({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, data), /tensor "w": shape \[3\] of F32 needs 12 bytes, but data_offsets \[0,16\] span 16: the header contradicts itself/);
  // Lying dtype: F64 [2] needs 16 but offsets span 8.
  rejects(file({ w: { dtype: 'F64', shape: [2], data_offsets: [0, 8] }, v: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data), /tensor "w": shape \[2\] of F64 needs 16 bytes, but data_offsets \[0,8\] span 8/);
  // Overlap.
  rejects(
    file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data),
    /tensor "b" \(bytes \[8,16\]\) overlaps tensor "a" \(bytes \[0,12\]\)/,
  );
  rejects(
    file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data),
    /overlaps/,
  );
  // Gap between tensors, and before the first one.
  rejects(
    file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data),
    /gap of 4 bytes \(data bytes \[4,8\]\) between tensor "a" and tensor "b": tensors must be contiguous/,
  );
  rejects(file({ b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data), /gap of 8 bytes \(data bytes \[0,8\]\) between the start of the data and tensor "b"/);
  // Bytes after the last tensor.
  rejects(file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, data), /4 bytes after the last tensor's data \(data bytes \[12,16\]\) are not described by the header/);
  rejects(file({}, [0]), /1 bytes after the last tensor's data/);
  // Offsets that end before they begin.
  rejects(file({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, data), /tensor "a": data_offsets \[8,4\] end before they begin/);
  // A shape whose byte count overflows.
  rejects(file({ a: { dtype: 'F64', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 16] } }, data), /impossibly large/);
});

test('safetensors: a header that is not UTF-8 JSON of well-formed entries is refused', () => {
  rejects(file('{"a": {"dtype": "F32", '), /header is not valid JSON \(.*\); it begins "\{\\"a\\": \{\\"dtype\\": \\"F32\\", ": the file is corrupt/);
  rejects(file('{} junk'), /header is not valid JSON/);
  rejects(Uint8Array.from([...le(4, 8), 0x7b, 0xff, 0xfe, 0x7d]), /header \(bytes 8\.\.12\) is not valid UTF-8/);
  rejects(file('[1,2]'), /header must be a JSON object of tensor entries, found an array/);
  rejects(file('42'), /header must be a JSON object of tensor entries, found 42/);
  rejects(file('null'), /found null/);
  rejects(file({ a: 3 }), /tensor "a": expected an object \{"dtype", "shape", "data_offsets"\}, found 3/);
  rejects(file({ a: { shape: [], data_offsets: [0, 4] } }, f32Bytes([1])), /tensor "a": entry has no "dtype"/);
  rejects(file({ a: { dtype: 'F32', data_offsets: [0, 4] } }, f32Bytes([1])), /tensor "a": entry has no "shape"/);
  rejects(file({ a: { dtype: 'F32', shape: [1], data_offset: [0, 4] } }, f32Bytes([1])), /tensor "a": entry has no "data_offsets" .*found keys \["dtype","shape","data_offset"\]/);
  rejects(file({ a: { dtype: 32, shape: [1], data_offsets: [0, 4] } }, f32Bytes([1])), /"dtype" must be a string such as "F32", found 32/);
  rejects(file({ a: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, f32Bytes([1])), /tensor "a": unknown dtype "F33" \(expected one of F32, F16, BF16, F64, I64, I32, U8, BOOL\)/);
  rejects(file({ a: { dtype: 'I8', shape: [1], data_offsets: [0, 1] } }, [1]), /dtype I8 is a valid safetensors dtype but qkv does not read it/);
  rejects(file({ a: { dtype: 'F32', shape: '1', data_offsets: [0, 4] } }, f32Bytes([1])), /"shape" must be an array of sizes, found "1"/);
  rejects(file({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32Bytes([1])), /shape \[-1\] must hold non-negative integers, found -1/);
  rejects(file({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, f32Bytes([1])), /found 1\.5/);
  rejects(file({ a: { dtype: 'F32', shape: [null], data_offsets: [0, 4] } }, f32Bytes([1])), /found null/);
  rejects(file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }, f32Bytes([1])), /"data_offsets" must be \[begin, end\], found \[0,4,8\]/);
  rejects(file({ a: { dtype: 'F32', shape: [1], data_offsets: ['0', 4] } }, f32Bytes([1])), /must be two non-negative integers, found "0"/);
  rejects(file({ a: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, f32Bytes([1])), /found -4/);
  rejects(file({ __metadata__: ['pt'] }), /"__metadata__" must be an object of string values, found \["pt"\]/);
  rejects(file({ __metadata__: { epochs: 3 } }), /"__metadata__" value for key "epochs" must be a string, found 3/);
});

test('safetensors: tensors come back in data-offset order whatever the header order, empty tensors included', () => {
  const bytes = file(
    {
      c: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
      e2: { dtype: 'F32', shape: [0], data_offsets: [12, 12] },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      e1: { dtype: 'F32', shape: [2, 0], data_offsets: [8, 8] },
    },
    f32Bytes([1, 2, 3]),
  );
  const { tensors } = parseSafetensors(bytes, 'mem');
  assert.deepEqual([...tensors.keys()], ['a', 'e1', 'c', 'e2']);
  assert.deepEqual(tensors.get('e1'), { dtype: 'F32', shape: [2, 0], data: new Float32Array(0) });
  // The parsed data is a copy: it shares nothing with the input bytes.
  bytes.fill(0);
  assert.deepEqual(Array.from(tensors.get('a')!.data), [1, 2]);
  // Padding with spaces (any amount) is accepted; data at an odd offset in a larger buffer too.
  const padded = file('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   ', f32Bytes([9]));
  const shifted = new Uint8Array(padded.length + 3);
  shifted.set(padded, 3);
  assert.deepEqual(Array.from(parseSafetensors(shifted.subarray(3), 'mem').tensors.get('x')!.data), [9]);
});

test('readSafetensors: a missing file or a directory names the path; a corrupt file names it too', () => {
  const dir = fresh();
  const missing = join(dir, 'nope.safetensors');
  assert.throws(() => readSafetensors(missing), (e: Error) => !(e instanceof FileFormatError) && e.message === `cannot read safetensors file ${missing}: no such file (check the path and the working directory)`);
  assert.throws(() => readSafetensors(dir), (e: Error) => e.message.includes(dir) && /directory/.test(e.message));
  const bad = join(dir, 'bad.safetensors');
  writeFileSync(bad, Uint8Array.from([1, 2, 3]));
  assert.throws(() => readSafetensors(bad), (e: Error) => e instanceof FileFormatError && e.message.startsWith(`${bad}: not a safetensors file`));
});

test('writeSafetensors: an existing file is left intact when serialization throws', () => {
  const dir = fresh();
  const path = join(dir, 'w.safetensors');
  writeSafetensors(path, new Map([['w', { shape: [2], data: Float32Array.of(1, 2) }]]), { step: '1' });
  const before = readFileSync(path);
  const bad: [Map<string, SafeTensorInput>, RegExp, Record<string, string>?][] = [
    [new Map([['w', { shape: [3], data: Float32Array.of(1, 2) }]]), /tensor "w": data has 2 elements but shape \[3\] needs 3/],
    [new Map([['w', { shape: [-2], data: Float32Array.of(1, 2) }]]), /invalid shape \[-2\]/],
    [new Map([['w', { dtype: 'F16' as 'F32', shape: [2], data: Float32Array.of(1, 2) }]]), /only F32 is written, got dtype "F16"/],
    [new Map([['w', { shape: [2], data: [1, 2] as unknown as Float32Array }]]), /data must be a Float32Array/],
    [new Map([['__metadata__', { shape: [2], data: Float32Array.of(1, 2) }]]), /"__metadata__" is reserved/],
    [new Map(), /metadata value for "step" must be a string, got 2/, { step: 2 as unknown as string }],
  ];
  for (const [tensors, message, metadata] of bad) {
    assert.throws(() => writeSafetensors(path, tensors, metadata), (e: Error) => e instanceof ShapeError && message.test(e.message));
  }
  assert.deepEqual(readFileSync(path), before, 'the old file is unchanged');
  assert.deepEqual(readdirSync(dir), ['w.safetensors'], 'and nothing else was left behind');
  assert.deepEqual(readSafetensors(path).metadata, { step: '1' });
  // A failed write (the target is a directory) names the path and leaves no temporary file.
  assert.throws(() => writeSafetensors(dir, new Map()), (e: Error) => e.message.startsWith(`cannot write ${dir}:`));
  assert.deepEqual(readdirSync(dir), ['w.safetensors']);
});
