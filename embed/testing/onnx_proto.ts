/**
 * A minimal ONNX ModelProto writer (protobuf wire format written by hand), enough to build small
 * test and benchmark graphs in code: float32 / int64 initializers, typed inputs and outputs with
 * symbolic or fixed dimensions, nodes with int / ints / float attributes.
 * Field numbers follow onnx/onnx.proto (IR version 8).
 */

/** ONNX TensorProto.DataType values used here. */
export const OnnxType = { FLOAT: 1, INT64: 7 } as const;

/** A graph input or output: name, element type and dims (a string is a symbolic dimension). */
export interface OnnxValueInfo {
  name: string;
  elemType: number;
  dims: (number | string)[];
}

/** A constant tensor (initializer): float32 or int64 data in row-major order. */
export interface OnnxInitializer {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

/** One attribute value: an int, a list of ints or a float. */
export type OnnxAttribute = { i: number } | { ints: number[] } | { f: number };

/** One node of the graph. */
export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: Record<string, OnnxAttribute>;
}

/** A whole graph (one ModelProto). */
export interface OnnxGraph {
  name: string;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  initializers: OnnxInitializer[];
  nodes: OnnxNode[];
  /** Default opset 17. */
  opset?: number;
}

class Writer {
  #bytes: number[] = [];

  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.#bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.#bytes.push(Number(x));
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint): this {
    return this.tag(field, 0).varint(v);
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    for (const x of b) this.#bytes.push(x);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: Writer): this {
    return this.bytes(field, m.finish());
  }

  float(field: number, f: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(new Float32Array([f]).buffer);
    for (const x of b) this.#bytes.push(x);
    return this;
  }

  finish(): Uint8Array {
    return new Uint8Array(this.#bytes);
  }
}

function valueInfo(v: OnnxValueInfo): Writer {
  const shape = new Writer();
  for (const d of v.dims) {
    const dim = new Writer();
    if (typeof d === "string") dim.string(2, d);
    else dim.int(1, d);
    shape.message(1, dim);
  }
  const tensorType = new Writer().int(1, v.elemType).message(2, shape);
  const type = new Writer().message(1, tensorType);
  return new Writer().string(1, v.name).message(2, type);
}

function initializer(t: OnnxInitializer): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.data instanceof Float32Array ? OnnxType.FLOAT : OnnxType.INT64);
  w.string(8, t.name);
  const size = t.dims.reduce((a, b) => a * b, 1);
  if (size !== t.data.length) {
    throw new Error(
      `initializer ${t.name}: dims ${t.dims} hold ${size} values, data has ${t.data.length}`,
    );
  }
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return w;
}

function node(n: OnnxNode, index: number): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name ?? `${n.opType}_${index}`);
  w.string(4, n.opType);
  for (const [name, a] of Object.entries(n.attributes ?? {})) {
    const aw = new Writer().string(1, name);
    if ("i" in a) aw.int(3, a.i).int(20, 2);
    else if ("ints" in a) {
      for (const x of a.ints) aw.int(8, x);
      aw.int(20, 7);
    } else aw.float(2, a.f).int(20, 1);
    w.message(5, aw);
  }
  return w;
}

/**
 * Serialise a graph to ONNX ModelProto bytes, loadable by onnxruntime.
 * @returns the protobuf bytes of the model
 */
export function encodeOnnxModel(g: OnnxGraph): Uint8Array {
  const graph = new Writer();
  g.nodes.forEach((n, i) => graph.message(1, node(n, i)));
  graph.string(2, g.name);
  for (const t of g.initializers) graph.message(5, initializer(t));
  for (const v of g.inputs) graph.message(11, valueInfo(v));
  for (const v of g.outputs) graph.message(12, valueInfo(v));
  const opset = new Writer().string(1, "").int(2, g.opset ?? 17);
  return new Writer()
    .int(1, 8)
    .string(2, "concept-atlas")
    .message(7, graph)
    .message(8, opset)
    .finish();
}
