/**
 * The bytes of a one-node ONNX model (`Gemm`, opset 13) written directly in protobuf wire
 * format, so that no ONNX tooling is needed: Y = alpha·op(A)·op(B) with symbolic dimensions.
 */

class Writer {
  bytes: number[] = [];
  varint(v: number): void {
    let x = BigInt(v);
    if (x < 0n) x += 1n << 64n;
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }
  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }
  int(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(v);
  }
  str(field: number, s: string): void {
    this.bytesField(field, new TextEncoder().encode(s));
  }
  bytesField(field: number, b: Uint8Array | number[]): void {
    this.tag(field, 2);
    this.varint(b.length);
    for (const x of b) this.bytes.push(x);
  }
  float(field: number, v: number): void {
    this.tag(field, 5);
    const buf = new Uint8Array(4);
    new DataView(buf.buffer).setFloat32(0, v, true);
    for (const x of buf) this.bytes.push(x);
  }
  msg(field: number, build: (w: Writer) => void): void {
    const w = new Writer();
    build(w);
    this.bytesField(field, w.bytes);
  }
}

const FLOAT = 1;

function valueInfo(w: Writer, field: number, name: string, dims: string[]): void {
  w.msg(field, (vi) => {
    vi.str(1, name);
    vi.msg(2, (tp) =>
      tp.msg(1, (tt) => {
        tt.int(1, FLOAT);
        tt.msg(2, (sh) => {
          for (const d of dims) sh.msg(1, (dim) => dim.str(2, d));
        });
      }));
  });
}

/**
 * ONNX model bytes computing Y = alpha·op(A)·op(B) (inputs `A`, `B`, output `Y`, float32,
 * dimensions symbolic), opset 13, IR version 8.
 */
export function gemmModelBytes(transA: boolean, transB: boolean, alpha: number): Uint8Array {
  const m = new Writer();
  m.int(1, 8); // ir_version
  m.str(2, "concept-atlas");
  m.msg(7, (g) => {
    g.msg(1, (node) => {
      node.str(1, "A");
      node.str(1, "B");
      node.str(2, "Y");
      node.str(3, "gemm");
      node.str(4, "Gemm");
      node.msg(5, (a) => {
        a.str(1, "transA");
        a.int(3, transA ? 1 : 0);
        a.int(20, 2);
      });
      node.msg(5, (a) => {
        a.str(1, "transB");
        a.int(3, transB ? 1 : 0);
        a.int(20, 2);
      });
      node.msg(5, (a) => {
        a.str(1, "alpha");
        a.float(2, alpha);
        a.int(20, 1);
      });
    });
    g.str(2, "gemm_graph");
    valueInfo(g, 11, "A", transA ? ["K", "M"] : ["M", "K"]);
    valueInfo(g, 11, "B", transB ? ["N", "K"] : ["K", "N"]);
    valueInfo(g, 12, "Y", ["M", "N"]);
  });
  m.msg(8, (o) => {
    o.str(1, "");
    o.int(2, 13);
  });
  return new Uint8Array(m.bytes);
}
