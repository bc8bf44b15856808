/**
 * Just enough of ONNX's protobuf (onnx/onnx.proto, proto2) to write a model in memory: a graph of nodes
 * with int, ints and float attributes, float32 initializers (raw_data), and inputs and outputs with fixed
 * shapes. Repeated scalars are written unpacked, as proto2 parsers expect by default. Field numbers are
 * onnx.proto's.
 *
 *   const bytes = modelProto({ opset: 17, inputs: [valueInfo('a', [2, 2])], outputs: [...], nodes: [
 *     node('MatMul', ['a', 'b'], ['c']) ], initializers: [tensor('b', [2, 2], Float32Array.of(1, 0, 0, 1))] });
 */
const utf8 = new TextEncoder();

/** Base-128 varint; negative numbers as their 64-bit two's complement (10 bytes), as protobuf's int64. */
function varint(v) {
  let b = BigInt.asUintN(64, BigInt(v));
  const out = [];
  while (b >= 0x80n) {
    out.push(Number(b & 0x7fn) | 0x80);
    b >>= 7n;
  }
  out.push(Number(b));
  return Uint8Array.from(out);
}

function concat(parts) {
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const key = (field, wire) => varint((field << 3) | wire);
const int = (field, v) => concat([key(field, 0), varint(v)]);
const bytes = (field, u8) => concat([key(field, 2), varint(u8.length), u8]);
const str = (field, s) => bytes(field, utf8.encode(s));
const msg = (field, parts) => bytes(field, concat(parts));
function float(field, f) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, f, true);
  return concat([key(field, 5), b]);
}

/** TensorProto.DataType */
export const FLOAT = 1;
/** AttributeProto.AttributeType */
const ATTR = { FLOAT: 1, INT: 2, INTS: 7 };

/** An attribute: a JS number is an INT when it is an integer (pass { float: x } for a FLOAT), an array INTS. */
function attribute(name, value) {
  const parts = [str(1, name)];
  if (Array.isArray(value)) {
    for (const v of value) parts.push(int(8, v));
    parts.push(int(20, ATTR.INTS));
  } else if (typeof value === 'object' && value !== null && 'float' in value) {
    parts.push(float(2, value.float), int(20, ATTR.FLOAT));
  } else if (Number.isInteger(value)) {
    parts.push(int(3, value), int(20, ATTR.INT));
  } else {
    throw new Error(`onnx-proto: unsupported attribute ${name}=${String(value)}`);
  }
  return concat(parts);
}

/** NodeProto */
export function node(opType, inputs, outputs, attributes = {}, name = `${opType}_${outputs[0]}`) {
  const parts = [];
  for (const i of inputs) parts.push(str(1, i));
  for (const o of outputs) parts.push(str(2, o));
  parts.push(str(3, name), str(4, opType));
  for (const [n, v] of Object.entries(attributes)) parts.push(msg(5, [attribute(n, v)]));
  return concat(parts);
}

/** TensorProto: a float32 initializer, its values as raw little-endian bytes. */
export function tensor(name, dims, values) {
  if (values.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`onnx-proto: ${name} has ${values.length} values for dims [${dims}]`);
  const parts = dims.map((d) => int(1, d));
  parts.push(int(2, FLOAT), str(8, name), bytes(9, new Uint8Array(values.buffer, values.byteOffset, values.byteLength)));
  return concat(parts);
}

/** ValueInfoProto of a float32 tensor with a fixed shape. */
export function valueInfo(name, dims) {
  const shape = concat(dims.map((d) => msg(1, [int(1, d)]))); // TensorShapeProto.dim { dim_value }
  const tensorType = concat([int(1, FLOAT), bytes(2, shape)]); // TypeProto.Tensor { elem_type, shape }
  return concat([str(1, name), msg(2, [bytes(1, tensorType)])]); // { name, type: TypeProto { tensor_type } }
}

/** ModelProto bytes: IR version 8 (opset 17's), one graph, the default ("ai.onnx") domain at `opset`. */
export function modelProto({ nodes, inputs, outputs, initializers = [], opset = 17, irVersion = 8, name = 'qkv_bench' }) {
  const graph = concat([
    ...nodes.map((n) => bytes(1, n)),
    str(2, name),
    ...initializers.map((t) => bytes(5, t)),
    ...inputs.map((v) => bytes(11, v)),
    ...outputs.map((v) => bytes(12, v)),
  ]);
  return concat([int(1, irVersion), str(2, 'qkv-bench'), bytes(7, graph), msg(8, [int(2, opset)])]);
}
