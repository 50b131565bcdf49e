/**
 * The WebGPU backend: WGSL compute kernels (kernels/wgsl.ts) through Deno's `navigator.gpu`.
 * Tensors are GPUBuffers that persist across steps; ops are recorded into one command encoder
 * and submitted lazily; `read`/`readScalar` are the only synchronisation points. Column-wise
 * sparse products use a CSC view of the codes (built on the device when the pattern changes,
 * entries sorted by row so that sums are deterministic).
 */
import type {
  AdamWOptions,
  Backend,
  DType,
  GemmOptions,
  RowSelection,
  SparseCodes,
  Tensor,
  ThresholdBand,
} from "./backend.ts";
import { encodeBatchTopkDense, encodeTopkRowsDense } from "./backend.ts";
import { shapeSize } from "./shape.ts";
import * as check from "./op_checks.ts";
import * as K from "./wgsl.ts";
import * as KM from "./wgsl_mask.ts";

/** A device tensor. */
class GpuTensor implements Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  /** Set on the rowPtr/index tensors of sparse codes: writes invalidate its CSC view. */
  owner: GpuSparse | null = null;
  constructor(
    shape: readonly number[],
    readonly dtype: DType,
    readonly buffer: GPUBuffer,
  ) {
    this.shape = [...shape];
    this.size = shapeSize(shape);
  }
}

interface Csc {
  colPtr: GPUBuffer;
  list: GPUBuffer;
  entryRow: GPUBuffer;
  count: GPUBuffer;
  cursor: GPUBuffer;
}

class GpuSparse implements SparseCodes {
  csc: Csc | null = null;
  cscStale = true;
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly capacity: number,
    readonly rowPtr: GpuTensor,
    readonly index: GpuTensor,
    readonly value: GpuTensor,
  ) {}
}

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Create the WebGPU backend on an adapter (requests the adapter's largest buffer limits). */
export async function createWebGpuBackend(adapter: GPUAdapter): Promise<Backend> {
  const lim = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
      maxBufferSize: lim.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(10, lim.maxStorageBuffersPerShaderStage),
    },
  });
  const info = adapter.info;
  return new WebGpuBackend(device, info.description || info.vendor || "adapter");
}

class WebGpuBackend implements Backend {
  readonly name: string;
  #enc: GPUCommandEncoder | null = null;
  #pipes = new Map<string, GPUComputePipeline>();
  #transient: GPUBuffer[] = [];
  #dummy: GPUBuffer;
  #err: GPUBuffer;
  #scratch = new Map<string, GPUBuffer>();
  #lost = false;
  #gpuError: string | null = null;

  constructor(readonly device: GPUDevice, adapterName: string) {
    this.name = `webgpu:${adapterName}`;
    this.#dummy = device.createBuffer({ size: 16, usage: USAGE });
    this.#err = device.createBuffer({ size: 16, usage: USAGE });
    device.lost.then(() => {
      this.#lost = true;
    });
    device.addEventListener("uncapturederror", (e) => {
      this.#gpuError ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  // ---- plumbing ----
  #encoder(): GPUCommandEncoder {
    this.#enc ??= this.device.createCommandEncoder();
    return this.#enc;
  }
  #submit(): void {
    if (this.#enc) {
      this.device.queue.submit([this.#enc.finish()]);
      this.#enc = null;
    }
  }
  #pipe(src: string): GPUComputePipeline {
    let p = this.#pipes.get(src);
    if (!p) {
      const module = this.device.createShaderModule({ code: src });
      p = this.device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      this.#pipes.set(src, p);
    }
    return p;
  }
  #uniform(fields: Array<number | ["f", number]>): GPUBuffer {
    const n = Math.ceil(fields.length / 4) * 4;
    const buf = this.device.createBuffer({
      size: n * 4,
      usage: GPUBufferUsage.UNIFORM,
      mappedAtCreation: true,
    });
    const ab = buf.getMappedRange();
    const u = new Uint32Array(ab), f = new Float32Array(ab);
    fields.forEach((x, i) => {
      if (Array.isArray(x)) f[i] = x[1];
      else u[i] = x >>> 0;
    });
    buf.unmap();
    this.#transient.push(buf);
    return buf;
  }
  #dispatch(
    src: string,
    uniform: Array<number | ["f", number]> | null,
    buffers: GPUBuffer[],
    groups: [number, number?, number?],
  ): void {
    const pipe = this.#pipe(src);
    const entries: GPUBindGroupEntry[] = [];
    let b = 0;
    if (uniform) entries.push({ binding: b++, resource: { buffer: this.#uniform(uniform) } });
    for (const buf of buffers) entries.push({ binding: b++, resource: { buffer: buf } });
    const bg = this.device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
    const pass = this.#encoder().beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bg);
    if (groups[0] > 0 && (groups[1] ?? 1) > 0) {
      pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
    }
    pass.end();
  }
  /** 2-D grid for `count` workgroups: [nx, ny] with nx ≤ 65535. */
  #grid(count: number): [number, number] {
    const nx = Math.max(1, Math.min(count, 65535));
    return [nx, Math.ceil(count / nx)];
  }
  #buf(bytes: number): GPUBuffer {
    return this.device.createBuffer({
      size: Math.max(16, Math.ceil(bytes / 16) * 16),
      usage: USAGE,
    });
  }
  #scratchBuf(name: string, bytes: number): GPUBuffer {
    let b = this.#scratch.get(name);
    if (!b || b.size < bytes) {
      if (b) this.#transient.push(b); // may still be referenced by recorded commands
      b = this.#buf(bytes);
      this.#scratch.set(name, b);
    }
    return b;
  }
  #t(t: Tensor, what: string): GpuTensor {
    if (!(t instanceof GpuTensor)) {
      throw new TypeError(`${what}: tensor belongs to another backend`);
    }
    return t;
  }
  #z(z: SparseCodes, what: string): GpuSparse {
    if (!(z instanceof GpuSparse)) throw new TypeError(`${what}: codes belong to another backend`);
    return z;
  }
  #touch(t: GpuTensor): void {
    if (t.owner) t.owner.cscStale = true;
  }

  // ---- memory ----
  zeros(shape: readonly number[], dtype: DType = "f32"): Tensor {
    const size = shapeSize(shape);
    const buf = this.#buf(size * 4);
    // new buffers are zero-initialised by WebGPU
    return new GpuTensor(shape, dtype, buf);
  }
  upload(data: Float32Array | Int32Array, shape: readonly number[]): Tensor {
    const size = check.uploadSize(data, shape);
    const t = this.zeros(shape, data instanceof Int32Array ? "i32" : "f32") as GpuTensor;
    if (size > 0) this.write(t, data);
    return t;
  }
  write(t: Tensor, data: Float32Array | Int32Array, offset = 0): void {
    const g = this.#t(t, "write");
    check.checkWrite(g, data.length, offset);
    this.#submit(); // keep call order: queued work first
    if (data.length > 0) {
      this.device.queue.writeBuffer(
        g.buffer,
        offset * 4,
        data.buffer as ArrayBuffer,
        data.byteOffset,
        data.byteLength,
      );
    }
    this.#touch(g);
  }
  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    const g = this.#t(t, "read");
    const bytes = Math.max(16, Math.ceil((g.size * 4) / 16) * 16);
    const staging = this.device.createBuffer({
      size: bytes + 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.#encoder();
    enc.copyBufferToBuffer(g.buffer, 0, staging, 0, bytes);
    enc.copyBufferToBuffer(this.#err, 0, staging, bytes, 16);
    enc.clearBuffer(this.#err);
    this.#submit();
    await staging.mapAsync(GPUMapMode.READ);
    const ab = staging.getMappedRange();
    const err = new Uint32Array(ab, bytes, 4)[0];
    const out = g.dtype === "f32"
      ? new Float32Array(ab, 0, g.size).slice()
      : new Int32Array(ab, 0, g.size).slice();
    staging.unmap();
    staging.destroy();
    for (const b of this.#transient) b.destroy();
    this.#transient = [];
    if (this.#lost) throw new Error("webgpu: device lost");
    if (this.#gpuError) {
      const m = this.#gpuError;
      this.#gpuError = null;
      throw new Error(`webgpu: ${m.split("\n")[0]}`);
    }
    if (err) {
      throw new RangeError(
        "sparse codes: more entries than the SparseCodes capacity; allocate a larger capacity",
      );
    }
    return out;
  }
  async readScalar(t: Tensor): Promise<number> {
    const g = this.#t(t, "readScalar");
    const tmp = new GpuTensor([1], g.dtype, this.#scratchBuf("scalar", 16));
    this.#encoder().copyBufferToBuffer(g.buffer, 0, tmp.buffer, 0, 4);
    return (await this.read(tmp))[0];
  }
  dispose(t: Tensor): void {
    this.#submit();
    this.#t(t, "dispose").buffer.destroy();
  }
  sparse(rows: number, cols: number, capacity: number): SparseCodes {
    const rp = this.zeros([rows + 1], "i32") as GpuTensor;
    const ix = this.zeros([capacity], "i32") as GpuTensor;
    const z = new GpuSparse(rows, cols, capacity, rp, ix, this.zeros([capacity]) as GpuTensor);
    rp.owner = z;
    ix.owner = z;
    return z;
  }
  disposeSparse(z: SparseCodes): void {
    const s = this.#z(z, "disposeSparse");
    this.#submit();
    for (const b of [s.rowPtr.buffer, s.index.buffer, s.value.buffer]) b.destroy();
    if (s.csc) { for (const b of Object.values(s.csc)) b.destroy(); }
  }

  // ---- dense ----
  gemm(a: Tensor, b: Tensor, c: Tensor, opts: GemmOptions = {}): void {
    const A = this.#t(a, "gemm A"), B = this.#t(b, "gemm B"), C = this.#t(c, "gemm C");
    const { m, n, k } = check.gemmDims(A, B, C, opts);
    const tA = !!opts.transA, tB = !!opts.transB;
    this.#dispatch(
      K.GEMM,
      [m, n, k, tA ? 1 : 0, tB ? 1 : 0, ["f", opts.alpha ?? 1], ["f", opts.beta ?? 0], 0],
      [A.buffer, B.buffer, C.buffer],
      [Math.ceil(n / 64), Math.ceil(m / 64)],
    );
  }
  linear(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, transW = false): void {
    const X = this.#t(x, "linear x"), W = this.#t(w, "linear w"), O = this.#t(out, "linear out");
    const Bi = bias ? this.#t(bias, "linear bias") : null;
    const { n, c } = check.linearDims(X, W, Bi, O, transW);
    if (Bi) {
      const g = this.#grid(Math.ceil((n * c) / K.WG));
      this.#dispatch(K.FILL_BIAS, [n * c, c, g[0], 0], [Bi.buffer, O.buffer], g);
    }
    this.gemm(x, w, out, { beta: bias ? 1 : 0, transB: transW });
  }

  // ---- sparsification ----
  #codes(op: string, pre: Tensor, z: SparseCodes): [GpuTensor, GpuSparse, number, number] {
    const P = this.#t(pre, `${op} pre`), Z = this.#z(z, op);
    const [n, c] = check.codesDims(op, P, Z);
    Z.cscStale = true;
    return [P, Z, n, c];
  }
  /**
   * Count, scan and ordered emission shared by the sparsification ops (mode: see ROW_COUNT in
   * wgsl.ts; hiLen: mode 3's upper bounds after the thetaLen lower ones in `theta`).
   */
  #emit(
    P: GpuTensor,
    Z: GpuSparse,
    n: number,
    c: number,
    mode: number,
    sel: GPUBuffer,
    theta: GPUBuffer,
    thetaLen: number,
    hiLen = 0,
  ): void {
    const counts = this.#scratchBuf("emit.counts", n * 8);
    const tieBase = this.#scratchBuf("emit.tieBase", n * 4);
    const g = this.#grid(n);
    this.#dispatch(K.ROW_COUNT, [n, c, mode, g[0], thetaLen, hiLen, 0, 0], [
      P.buffer,
      sel,
      theta,
      counts,
    ], g);
    this.#dispatch(K.ROW_SCAN, [n, mode, Z.capacity, 0], [
      counts,
      sel,
      Z.rowPtr.buffer,
      tieBase,
      this.#err,
    ], [1]);
    this.#dispatch(
      K.ROW_EMIT,
      [n, c, mode, g[0], thetaLen, Z.capacity, hiLen, 0],
      [P.buffer, sel, theta, Z.rowPtr.buffer, tieBase, Z.index.buffer, Z.value.buffer],
      g,
    );
  }
  topkRows(pre: Tensor, k: number, z: SparseCodes): void {
    const [P, Z, n, c] = this.#codes("topkRows", pre, z);
    check.checkTopk(n, c, k, Z);
    const sel = this.#scratchBuf("topk.sel", n * 8);
    const g = this.#grid(n);
    this.#dispatch(K.ROW_SELECT, [n, c, k, g[0]], [P.buffer, sel], g);
    this.#emit(P, Z, n, c, 0, sel, this.#dummy, 1);
  }
  encodeBatchTopk(
    x: Tensor,
    w: Tensor,
    bias: Tensor | null,
    k: number,
    z: SparseCodes,
    minKept: Tensor,
    pre: Tensor,
    aux?: RowSelection | null,
  ): void {
    encodeBatchTopkDense(this, x, w, bias, k, z, minKept, pre, aux);
  }
  encodeTopkRows(
    x: Tensor,
    w: Tensor,
    bias: Tensor | null,
    k: number,
    z: SparseCodes,
    pre: Tensor,
    aux?: RowSelection | null,
  ): void {
    encodeTopkRowsDense(this, x, w, bias, k, z, pre, aux);
  }
  batchTopk(
    pre: Tensor,
    k: number,
    z: SparseCodes,
    minKept: Tensor,
    bias: Tensor | null = null,
  ): void {
    const [P0, Z, n, c] = this.#codes("batchTopk", pre, z);
    const Kt = check.batchTopkCount("batchTopk", n, c, k, Z);
    const M = this.#t(minKept, "batchTopk minKept");
    let P = P0;
    if (bias) {
      // pre + bias (float32, correctly rounded) in a scratch copy; pre itself stays as it is
      const Bi = this.#t(bias, "batchTopk bias");
      check.checkVector("batchTopk bias", Bi, c);
      P = new GpuTensor([n, c], "f32", this.#scratchBuf("btk.biased", n * c * 4));
      const gb = this.#grid(Math.ceil((n * c) / K.WG));
      this.#dispatch(K.FILL_BIAS, [n * c, c, gb[0], 0], [Bi.buffer, P.buffer], gb);
      this.axpby(1, P0, 1, P, P);
    }
    const st = this.#scratchBuf("btk.state", 16);
    const hist = this.#scratchBuf("btk.hist", 256 * 4);
    const enc = this.#encoder();
    enc.clearBuffer(st);
    enc.clearBuffer(hist);
    const total = n * c;
    const g = this.#grid(Math.ceil(total / (K.WG * 16)));
    for (let pass = 0; pass < 4; pass++) {
      const shift = 24 - 8 * pass;
      this.#dispatch(K.GLOBAL_HIST, [total, g[0], shift, 0], [P.buffer, st, hist], g);
      this.#dispatch(K.GLOBAL_PICK, [shift, pass === 0 ? 1 : 0, Kt, 0], [st, hist], [1]);
    }
    this.#dispatch(K.MIN_KEPT, null, [st, M.buffer], [1]);
    this.#emit(P, Z, n, c, 1, st, this.#dummy, 1);
  }
  threshold(pre: Tensor, theta: Tensor, z: SparseCodes, band?: ThresholdBand | null): void {
    const [P, Z, n, c] = this.#codes("threshold", pre, z);
    const T = this.#t(theta, "threshold theta");
    check.checkTheta("threshold", T, c);
    let bZ: GpuSparse | null = null, lo: GpuTensor | null = null, hi: GpuTensor | null = null;
    if (band) {
      [, bZ] = this.#codes("threshold band", pre, band.z);
      lo = this.#t(band.lo, "threshold band lo");
      hi = this.#t(band.hi, "threshold band hi");
      check.checkThresholdBand(lo, hi, c, bZ, Z);
    }
    this.#emit(P, Z, n, c, 2, this.#dummy, T.buffer, T.size);
    if (!bZ || !lo || !hi) return;
    // mode 3 reads lo then hi from one buffer
    const bounds = this.#scratchBuf("threshold.band", (lo.size + hi.size) * 4);
    const enc = this.#encoder();
    enc.copyBufferToBuffer(lo.buffer, 0, bounds, 0, lo.size * 4);
    enc.copyBufferToBuffer(hi.buffer, 0, bounds, lo.size * 4, hi.size * 4);
    this.#emit(P, bZ, n, c, 3, this.#dummy, bounds, lo.size, hi.size);
  }

  // ---- sparse products ----
  #dict(op: string, dict: Tensor, Z: GpuSparse): [GpuTensor, number] {
    const D = this.#t(dict, `${op} dict`);
    return [D, check.dictWidth(op, D, Z)];
  }
  #csc(Z: GpuSparse): Csc {
    if (!Z.csc) {
      Z.csc = {
        colPtr: this.#buf((Z.cols + 1) * 4),
        list: this.#buf(Z.capacity * 4),
        entryRow: this.#buf(Z.capacity * 4),
        count: this.#buf(Z.cols * 4),
        cursor: this.#buf(Z.cols * 4),
      };
      Z.cscStale = true;
    }
    const s = Z.csc;
    if (Z.cscStale) {
      const enc = this.#encoder();
      enc.clearBuffer(s.count);
      enc.clearBuffer(s.cursor);
      const g = this.#grid(Math.ceil(Z.capacity / K.WG));
      const rp = Z.rowPtr.buffer, ix = Z.index.buffer;
      this.#dispatch(K.CSC_COUNT, [Z.rows, Z.capacity, g[0], 0], [rp, ix, s.entryRow, s.count], g);
      this.#dispatch(K.SCAN, [Z.cols, 0, 0, 0], [s.count, s.colPtr], [1]);
      this.#dispatch(K.CSC_FILL, [Z.rows, Z.capacity, g[0], 0], [
        rp,
        ix,
        s.colPtr,
        s.cursor,
        s.list,
      ], g);
      const g2 = this.#grid(Math.ceil(Z.cols / K.WG));
      this.#dispatch(K.CSC_SORT, [Z.cols, g2[0], 0, 0], [s.colPtr, s.list], g2);
      Z.cscStale = false;
    }
    return s;
  }
  sparseDecode(z: SparseCodes, dict: Tensor, bias: Tensor | null, out: Tensor): void {
    const Z = this.#z(z, "sparseDecode");
    const D = this.#t(dict, "sparseDecode dict");
    const O = this.#t(out, "sparseDecode out");
    const B = bias ? this.#t(bias, "sparseDecode bias") : null;
    const d = check.decodeDims(D, B, O, Z);
    const g = this.#grid(Z.rows);
    this.#dispatch(
      K.DECODE,
      [Z.rows, d, B ? 1 : 0, g[0]],
      [
        Z.rowPtr.buffer,
        Z.index.buffer,
        Z.value.buffer,
        D.buffer,
        B ? B.buffer : this.#dummy,
        O.buffer,
      ],
      g,
    );
  }
  sparseResidual(
    z: SparseCodes,
    dict: Tensor,
    bias: Tensor | null,
    x: Tensor,
    scale: number,
    r: Tensor,
    sse: Tensor,
    accumulate: boolean,
    vals: Tensor | null,
  ): void {
    const Z = this.#z(z, "sparseResidual"), D = this.#t(dict, "sparseResidual dict");
    const B = bias ? this.#t(bias, "sparseResidual bias") : null;
    const V = vals ? this.#t(vals, "sparseResidual vals") : null;
    const X = this.#t(x, "sparseResidual x"), R = this.#t(r, "sparseResidual r");
    check.residualDims(D, B, X, R, this.#t(sse, "sparseResidual sse"), V, Z);
    this.sparseDecode(z, dict, bias, r);
    this.axpby(1, r, -1, x, r);
    this.sumSquares(r, sse, accumulate);
    this.axpby(scale, r, 0, r, r);
    if (vals) this.sparseSample(r, dict, z, vals);
  }
  sparseSample(g: Tensor, dict: Tensor, z: SparseCodes, vals: Tensor): void {
    const Z = this.#z(z, "sparseSample");
    const D = this.#t(dict, "sparseSample dict");
    const G = this.#t(g, "sparseSample g"), V = this.#t(vals, "sparseSample vals");
    const d = check.sampleDims(G, D, V, Z);
    const gr = this.#grid(Z.rows);
    this.#dispatch(
      K.SAMPLE,
      [Z.rows, d, gr[0], 0],
      [Z.rowPtr.buffer, Z.index.buffer, G.buffer, D.buffer, V.buffer],
      gr,
    );
  }
  sparseTransposeProduct(
    z: SparseCodes,
    vals: Tensor | null,
    g: Tensor,
    out: Tensor,
    beta: number,
  ): void {
    const Z = this.#z(z, "sparseTransposeProduct");
    const G = this.#t(g, "sparseTransposeProduct g"),
      O = this.#t(out, "sparseTransposeProduct out");
    const V = vals ? this.#t(vals, "sparseTransposeProduct vals") : Z.value;
    const d = check.transposeProductDims(V, G, O, Z);
    const s = this.#csc(Z);
    const gr = this.#grid(Z.cols);
    this.#dispatch(
      K.TRANSPOSE_PRODUCT,
      [Z.cols, d, gr[0], 0, ["f", beta], 0, 0, 0],
      [s.colPtr, s.list, s.entryRow, V.buffer, G.buffer, O.buffer],
      gr,
    );
  }
  sparseColumnSum(z: SparseCodes, vals: Tensor, out: Tensor, beta: number): void {
    const Z = this.#z(z, "sparseColumnSum");
    const V = this.#t(vals, "vals"), O = this.#t(out, "out");
    check.checkSparseColumnSum(V, O, Z);
    const s = this.#csc(Z);
    const g = this.#grid(Math.ceil(Z.cols / K.WG));
    this.#dispatch(K.COLUMN_SUM, [Z.cols, g[0], 0, 0, ["f", beta], 0, 0, 0], [
      s.colPtr,
      s.list,
      V.buffer,
      O.buffer,
    ], g);
  }
  sparseAddScalar(z: SparseCodes, vals: Tensor, alpha: number): void {
    const Z = this.#z(z, "sparseAddScalar");
    const V = this.#t(vals, "sparseAddScalar vals");
    check.checkSparseAddScalar(V, Z);
    const g = this.#grid(Math.ceil(Z.capacity / K.WG));
    this.#dispatch(K.SPARSE_ADD_SCALAR, [Z.rows, g[0], 0, 0, ["f", alpha], 0, 0, 0], [
      Z.rowPtr.buffer,
      V.buffer,
    ], g);
    this.#touch(V);
  }

  // ---- elementwise ----
  axpby(a: number, x: Tensor, b: number, y: Tensor, out: Tensor): void {
    const X = this.#t(x, "axpby x"), Y = this.#t(y, "axpby y"), O = this.#t(out, "axpby out");
    check.checkAxpby(X, Y, O);
    const mode = (X === O ? 1 : 0) | (Y === O ? 2 : 0);
    const g = this.#grid(Math.ceil(X.size / K.WG));
    this.#dispatch(
      K.AXPBY,
      [X.size, g[0], mode, 0, ["f", a], ["f", b], 0, 0],
      [X === O ? this.#dummy : X.buffer, Y === O ? this.#dummy : Y.buffer, O.buffer],
      g,
    );
    this.#touch(O);
  }
  sumSquares(x: Tensor, out: Tensor, accumulate = false): void {
    const X = this.#t(x, "sumSquares x"), O = this.#t(out, "sumSquares out");
    const groups = Math.max(1, Math.min(1024, Math.ceil(X.size / K.WG)));
    const part = this.#scratchBuf("sumsq.part", groups * 4);
    this.#dispatch(K.SUMSQ_PARTIAL, [X.size, groups, 0, 0], [X.buffer, part], [groups]);
    this.#dispatch(K.SUM_FINAL, [groups, accumulate ? 1 : 0, 0, 0], [part, O.buffer], [1]);
  }
  clipFactor(sumSq: Tensor, maxNorm: number, out: Tensor): void {
    const S = this.#t(sumSq, "clipFactor sumSq"), O = this.#t(out, "clipFactor out");
    this.#dispatch(K.CLIP, [["f", maxNorm], 0, 0, 0], [S.buffer, O.buffer], [1]);
  }
  scaleBy(x: Tensor, scale: Tensor): void {
    const X = this.#t(x, "scaleBy x"), S = this.#t(scale, "scaleBy scale");
    const g = this.#grid(Math.ceil(X.size / K.WG));
    this.#dispatch(K.SCALE, [X.size, g[0], 0, 0], [S.buffer, X.buffer], g);
  }

  #flatGrid(total: number): [number, number] {
    return this.#grid(Math.ceil(total / K.WG));
  }
  mul(a: Tensor, b: Tensor, out: Tensor): void {
    const A = this.#t(a, "mul a"), B = this.#t(b, "mul b"), O = this.#t(out, "mul out");
    check.checkMul(A, B, O);
    const mode = (A === O ? 1 : 0) | (B === O ? 2 : 0);
    const g = this.#flatGrid(A.size);
    this.#dispatch(KM.MUL, [A.size, g[0], mode, 0], [
      A === O ? this.#dummy : A.buffer,
      B === O ? this.#dummy : B.buffer,
      O.buffer,
    ], g);
    this.#touch(O);
  }
  clampMin(x: Tensor, lo: number): void {
    const X = this.#t(x, "clampMin x");
    const g = this.#flatGrid(X.size);
    this.#dispatch(KM.CLAMP_MIN, [X.size, g[0], 0, 0, ["f", lo], 0, 0, 0], [X.buffer], g);
    this.#touch(X);
  }
  copy(src: Tensor, dst: Tensor): void {
    const S = this.#t(src, "copy src"), D = this.#t(dst, "copy dst");
    check.checkCopy(S, D);
    if (S === D) return;
    const g = this.#flatGrid(S.size);
    this.#dispatch(KM.COPY, [S.size, g[0], 0, 0], [S.buffer, D.buffer], g);
    this.#touch(D);
  }
  scaleRows(v: Tensor, a: Tensor, out: Tensor, beta = 0): void {
    const A = this.#t(a, "scaleRows a"), V = this.#t(v, "scaleRows v");
    const O = this.#t(out, "scaleRows out");
    check.scaleRowsDims(V, A, O);
    const g = this.#flatGrid(A.size);
    this.#dispatch(KM.SCALE_ROWS, [A.size, A.shape[1], g[0], 0, ["f", beta], 0, 0, 0], [
      V.buffer,
      A.buffer,
      O.buffer,
    ], g);
    this.#touch(O);
  }
  columnSum(a: Tensor, out: Tensor, beta = 0): void {
    const A = this.#t(a, "columnSum a"), O = this.#t(out, "columnSum out");
    const [m, q] = check.columnSumDims(A, O);
    const g = this.#flatGrid(q);
    this.#dispatch(KM.COLUMN_SUM_DENSE, [m, q, g[0], 0, ["f", beta], 0, 0, 0], [
      A.buffer,
      O.buffer,
    ], g);
    this.#touch(O);
  }
  #mask(op: string, pre: Tensor, theta: Tensor, x: Tensor | null, out: Tensor): void {
    const P = this.#t(pre, `${op} pre`), O = this.#t(out, `${op} out`);
    const T = this.#t(theta, `${op} theta`);
    const X = x ? this.#t(x, `${op} x`) : null;
    const [m, q] = check.maskDims(op, P, T, X, O);
    const mode = X === O ? 1 : X ? 0 : 2;
    const g = this.#flatGrid(m * q);
    this.#dispatch(KM.MASK_ABOVE, [m * q, q, g[0], mode, T.size, 0, 0, 0], [
      P.buffer,
      T.buffer,
      X && X !== O ? X.buffer : this.#dummy,
      O.buffer,
    ], g);
    this.#touch(O);
  }
  thresholdDense(pre: Tensor, theta: Tensor, out: Tensor): void {
    this.#mask("thresholdDense", pre, theta, null, out);
  }
  maskAbove(pre: Tensor, theta: Tensor, x: Tensor, out: Tensor): void {
    this.#mask("maskAbove", pre, theta, x, out);
  }
  countAbove(pre: Tensor, theta: Tensor, out: Tensor, beta = 0): void {
    const P = this.#t(pre, "countAbove pre"), O = this.#t(out, "countAbove out");
    const T = this.#t(theta, "countAbove theta");
    const [m, q] = check.countAboveDims(P, T, O);
    const g = this.#flatGrid(q);
    this.#dispatch(KM.COUNT_ABOVE, [m, q, g[0], T.size, ["f", beta], 0, 0, 0], [
      P.buffer,
      T.buffer,
      O.buffer,
    ], g);
    this.#touch(O);
  }

  // ---- geometry and optimiser ----
  normalizeRows(d: Tensor): void {
    const D = this.#t(d, "normalizeRows");
    check.normalizeRowsDims(D);
    const g = this.#grid(D.shape[0]);
    this.#dispatch(K.NORMALIZE_ROWS, [D.shape[0], D.shape[1], g[0], 0], [D.buffer], g);
  }
  removeParallelComponent(dict: Tensor, grad: Tensor, sumSq?: Tensor, accumulate = false): void {
    const D = this.#t(dict, "removeParallelComponent dict"), G = this.#t(grad, "grad");
    check.removeParallelDims(D, G);
    const g = this.#grid(D.shape[0]);
    this.#dispatch(K.REMOVE_PARALLEL, [D.shape[0], D.shape[1], g[0], 0], [D.buffer, G.buffer], g);
    if (sumSq) this.sumSquares(grad, sumSq, accumulate);
  }
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamWOptions): void {
    const P = this.#t(param, "adamw param"), G = this.#t(grad, "grad");
    const M = this.#t(m, "m"), V = this.#t(v, "v");
    check.checkAdamw(P, G, M, V, o);
    if (o.gradScale) {
      // the gradient stays as it is: scale a copy
      const scaled = new GpuTensor(G.shape, "f32", this.#scratchBuf("adamw.g", G.size * 4));
      this.copy(grad, scaled);
      this.scaleBy(scaled, o.gradScale);
      this.adamw(param, scaled, m, v, { ...o, gradScale: undefined });
      return;
    }
    const g = this.#grid(Math.ceil(P.size / K.WG));
    this.#dispatch(
      K.ADAMW,
      [
        P.size,
        g[0],
        0,
        0,
        ["f", o.lr],
        ["f", o.beta1],
        ["f", o.beta2],
        ["f", o.eps],
        ["f", o.weightDecay],
        ["f", 1 - Math.pow(o.beta1, o.step)],
        ["f", 1 - Math.pow(o.beta2, o.step)],
        0,
      ],
      [G.buffer, P.buffer, M.buffer, V.buffer],
      g,
    );
    if (o.normalizeRows) this.normalizeRows(param);
  }

  close(): void {
    this.#submit();
    for (const b of this.#scratch.values()) b.destroy();
    this.device.destroy();
  }
}
