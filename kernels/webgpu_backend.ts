/**
 * The WebGPU backend: WGSL compute kernels (kernels/wgsl.ts) through Deno's `navigator.gpu`.
 * Tensors are GPUBuffers that persist across steps; ops are recorded into one command encoder
 * and submitted lazily; `read`/`readScalar` are the only synchronisation points. Column-wise
 * sparse products use a CSC view of the codes (built on the device when the pattern changes,
 * entries sorted by row so that sums are deterministic).
 */
import type { AdamWOptions, Backend, DType, GemmOptions, SparseCodes, Tensor } from "./backend.ts";
import { encodeBatchTopkDense } from "./backend.ts";
import { checkShape, shapeError, shapeSize } from "./shape.ts";
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
    const size = shapeSize(shape);
    if (data.length !== size) {
      throw shapeError("upload", `data length ${data.length} ≠ product of shape [${shape}]`);
    }
    const t = this.zeros(shape, data instanceof Int32Array ? "i32" : "f32") as GpuTensor;
    if (size > 0) this.write(t, data);
    return t;
  }
  write(t: Tensor, data: Float32Array | Int32Array, offset = 0): void {
    const g = this.#t(t, "write");
    if (offset < 0 || offset + data.length > g.size) {
      throw shapeError("write", `window ${offset}+${data.length} exceeds size ${g.size}`);
    }
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
  copyRows(src: Tensor, start: number, count: number, dst: Tensor): void {
    const s = this.#t(src, "copyRows src"), d = this.#t(dst, "copyRows dst");
    if (s.shape.length !== 2) throw shapeError("copyRows", "src must be 2-D");
    const cols = s.shape[1];
    checkShape("copyRows dst", d.shape, [count, cols]);
    if (start < 0 || start + count > s.shape[0]) {
      throw shapeError("copyRows", `rows ${start}..${start + count} outside ${s.shape[0]}`);
    }
    if (count * cols > 0) {
      this.#encoder().copyBufferToBuffer(s.buffer, start * cols * 4, d.buffer, 0, count * cols * 4);
    }
    this.#touch(d);
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
    if (A.shape.length !== 2 || B.shape.length !== 2 || C.shape.length !== 2) {
      throw shapeError("gemm", "A, B and C must be 2-D");
    }
    const tA = !!opts.transA, tB = !!opts.transB;
    const m = tA ? A.shape[1] : A.shape[0], k = tA ? A.shape[0] : A.shape[1];
    const kb = tB ? B.shape[1] : B.shape[0], n = tB ? B.shape[0] : B.shape[1];
    if (k !== kb) throw shapeError("gemm", `inner dimensions ${k} ≠ ${kb}`);
    checkShape("gemm C", C.shape, [m, n]);
    this.#dispatch(
      K.GEMM,
      [m, n, k, tA ? 1 : 0, tB ? 1 : 0, ["f", opts.alpha ?? 1], ["f", opts.beta ?? 0], 0],
      [A.buffer, B.buffer, C.buffer],
      [Math.ceil(n / 64), Math.ceil(m / 64)],
    );
  }
  linear(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, transW = false): void {
    const X = this.#t(x, "linear x"), W = this.#t(w, "linear w"), O = this.#t(out, "linear out");
    if (X.shape.length !== 2 || W.shape.length !== 2) {
      throw shapeError("linear", "x, w must be 2-D");
    }
    const [n, d] = X.shape;
    const c = transW ? W.shape[0] : W.shape[1];
    checkShape("linear w", W.shape, transW ? [c, d] : [d, c]);
    checkShape("linear out", O.shape, [n, c]);
    if (bias) {
      const Bi = this.#t(bias, "linear bias");
      checkShape("linear bias", Bi.shape, [c]);
      const g = this.#grid(Math.ceil((n * c) / K.WG));
      this.#dispatch(K.FILL_BIAS, [n * c, c, g[0], 0], [Bi.buffer, O.buffer], g);
    }
    this.gemm(x, w, out, { beta: bias ? 1 : 0, transB: transW });
  }

  // ---- sparsification ----
  #codes(op: string, pre: Tensor, z: SparseCodes): [GpuTensor, GpuSparse, number, number] {
    const P = this.#t(pre, `${op} pre`), Z = this.#z(z, op);
    if (P.shape.length !== 2) throw shapeError(op, "pre must be 2-D");
    if (Z.rows !== P.shape[0] || Z.cols !== P.shape[1]) {
      throw shapeError(op, `codes are ${Z.rows}×${Z.cols}, pre is ${P.shape[0]}×${P.shape[1]}`);
    }
    Z.cscStale = true;
    return [P, Z, P.shape[0], P.shape[1]];
  }
  /** Count, scan and ordered emission shared by the three sparsification ops. */
  #emit(
    P: GpuTensor,
    Z: GpuSparse,
    n: number,
    c: number,
    mode: number,
    sel: GPUBuffer,
    theta: GPUBuffer,
    thetaLen: number,
  ): void {
    const counts = this.#scratchBuf("emit.counts", n * 8);
    const tieBase = this.#scratchBuf("emit.tieBase", n * 4);
    const g = this.#grid(n);
    this.#dispatch(K.ROW_COUNT, [n, c, mode, g[0], thetaLen, 0, 0, 0], [
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
      [n, c, mode, g[0], thetaLen, Z.capacity, 0, 0],
      [P.buffer, sel, theta, Z.rowPtr.buffer, tieBase, Z.index.buffer, Z.value.buffer],
      g,
    );
  }
  topkRows(pre: Tensor, k: number, z: SparseCodes): void {
    const [P, Z, n, c] = this.#codes("topkRows", pre, z);
    if (!Number.isInteger(k) || k < 1 || k > c) {
      throw shapeError("topkRows", `k=${k} not in 1..${c}`);
    }
    if (n * k > Z.capacity) throw shapeError("topkRows", `n·k=${n * k} > capacity ${Z.capacity}`);
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
  ): void {
    encodeBatchTopkDense(this, x, w, bias, k, z, minKept, pre);
  }
  batchTopk(
    pre: Tensor,
    k: number,
    z: SparseCodes,
    minKept: Tensor,
    bias: Tensor | null = null,
  ): void {
    const [P0, Z, n, c] = this.#codes("batchTopk", pre, z);
    if (!(k > 0) || k > c) throw shapeError("batchTopk", `k=${k} not in (0, ${c}]`);
    const Kt = Math.min(Math.round(n * k), n * c);
    if (Kt > Z.capacity) throw shapeError("batchTopk", `n·k=${Kt} > capacity ${Z.capacity}`);
    const M = this.#t(minKept, "batchTopk minKept");
    let P = P0;
    if (bias) {
      // pre + bias (float32, correctly rounded) in a scratch copy; pre itself stays as it is
      const Bi = this.#t(bias, "batchTopk bias");
      checkShape("batchTopk bias", Bi.shape, [c]);
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
  threshold(pre: Tensor, theta: Tensor, z: SparseCodes): void {
    const [P, Z, n, c] = this.#codes("threshold", pre, z);
    const T = this.#t(theta, "threshold theta");
    if (T.size !== c && T.size !== 1) {
      throw shapeError("threshold", `theta has ${T.size} entries, expected ${c} or 1`);
    }
    this.#emit(P, Z, n, c, 2, this.#dummy, T.buffer, T.size);
  }

  // ---- sparse products ----
  #dict(op: string, dict: Tensor, Z: GpuSparse): [GpuTensor, number] {
    const D = this.#t(dict, `${op} dict`);
    if (D.shape.length !== 2 || D.shape[0] !== Z.cols) {
      throw shapeError(op, `dict must be ${Z.cols}×d, got [${D.shape}]`);
    }
    return [D, D.shape[1]];
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
    const [D, d] = this.#dict("sparseDecode", dict, Z);
    const O = this.#t(out, "sparseDecode out");
    checkShape("sparseDecode out", O.shape, [Z.rows, d]);
    const B = bias ? this.#t(bias, "sparseDecode bias") : null;
    if (B && B.size !== d) throw shapeError("sparseDecode", `bias length ${B.size} ≠ d=${d}`);
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
    if (r === x) throw shapeError("sparseResidual", "r must not alias x");
    this.sparseDecode(z, dict, bias, r);
    this.axpby(1, r, -1, x, r);
    this.sumSquares(r, sse, accumulate);
    this.axpby(scale, r, 0, r, r);
    if (vals) this.sparseSample(r, dict, z, vals);
  }
  sparseSample(g: Tensor, dict: Tensor, z: SparseCodes, vals: Tensor): void {
    const Z = this.#z(z, "sparseSample");
    const [D, d] = this.#dict("sparseSample", dict, Z);
    const G = this.#t(g, "sparseSample g"), V = this.#t(vals, "sparseSample vals");
    checkShape("sparseSample g", G.shape, [Z.rows, d]);
    checkShape("sparseSample vals", V.shape, [Z.capacity]);
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
    if (G.shape.length !== 2 || G.shape[0] !== Z.rows) {
      throw shapeError("sparseTransposeProduct", `g must be ${Z.rows}×d, got [${G.shape}]`);
    }
    const d = G.shape[1];
    checkShape("sparseTransposeProduct out", O.shape, [Z.cols, d]);
    const V = vals ? this.#t(vals, "sparseTransposeProduct vals") : Z.value;
    if (V.size !== Z.capacity) throw shapeError("sparseTransposeProduct", "vals length ≠ capacity");
    const s = this.#csc(Z);
    const gr = this.#grid(Z.cols);
    this.#dispatch(
      K.TRANSPOSE_PRODUCT,
      [Z.cols, d, gr[0], 0, ["f", beta], 0, 0, 0],
      [s.colPtr, s.list, s.entryRow, V.buffer, G.buffer, O.buffer],
      gr,
    );
  }
  sparseOuterToColumns(x: Tensor, z: SparseCodes, vals: Tensor, out: Tensor, beta: number): void {
    const Z = this.#z(z, "sparseOuterToColumns");
    const X = this.#t(x, "sparseOuterToColumns x"),
      O = this.#t(out, "out"),
      V = this.#t(vals, "vals");
    if (X.shape.length !== 2 || X.shape[0] !== Z.rows) {
      throw shapeError("sparseOuterToColumns", `x must be ${Z.rows}×d, got [${X.shape}]`);
    }
    const d = X.shape[1];
    checkShape("sparseOuterToColumns out", O.shape, [d, Z.cols]);
    checkShape("sparseOuterToColumns vals", V.shape, [Z.capacity]);
    const s = this.#csc(Z);
    this.#dispatch(
      K.OUTER_COLUMNS,
      [Z.cols, d, 0, 0, ["f", beta], 0, 0, 0],
      [s.colPtr, s.list, s.entryRow, V.buffer, X.buffer, O.buffer],
      [Math.ceil(Z.cols / 64), d],
    );
  }
  sparseColumnSum(z: SparseCodes, vals: Tensor, out: Tensor, beta: number): void {
    const Z = this.#z(z, "sparseColumnSum");
    const V = this.#t(vals, "vals"), O = this.#t(out, "out");
    checkShape("sparseColumnSum vals", V.shape, [Z.capacity]);
    checkShape("sparseColumnSum out", O.shape, [Z.cols]);
    const s = this.#csc(Z);
    const g = this.#grid(Math.ceil(Z.cols / K.WG));
    this.#dispatch(K.COLUMN_SUM, [Z.cols, g[0], 0, 0, ["f", beta], 0, 0, 0], [
      s.colPtr,
      s.list,
      V.buffer,
      O.buffer,
    ], g);
  }

  // ---- elementwise ----
  axpby(a: number, x: Tensor, b: number, y: Tensor, out: Tensor): void {
    const X = this.#t(x, "axpby x"), Y = this.#t(y, "axpby y"), O = this.#t(out, "axpby out");
    checkShape("axpby y", Y.shape, X.shape);
    checkShape("axpby out", O.shape, X.shape);
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
    if (B.size !== A.size || O.size !== A.size) {
      throw shapeError("mul", `sizes ${A.size}, ${B.size}, ${O.size} differ`);
    }
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
    if (S.size !== D.size) throw shapeError("copy", `sizes ${S.size} ≠ ${D.size}`);
    if (S.dtype !== D.dtype) throw shapeError("copy", `dtypes ${S.dtype} ≠ ${D.dtype}`);
    if (S === D) return;
    const g = this.#flatGrid(S.size);
    this.#dispatch(KM.COPY, [S.size, g[0], 0, 0], [S.buffer, D.buffer], g);
    this.#touch(D);
  }
  scaleRows(v: Tensor, a: Tensor, out: Tensor, beta = 0): void {
    const A = this.#t(a, "scaleRows a"), V = this.#t(v, "scaleRows v");
    const O = this.#t(out, "scaleRows out");
    if (A.shape.length !== 2) throw shapeError("scaleRows", "a must be 2-D");
    checkShape("scaleRows v", V.shape, [A.shape[0]]);
    checkShape("scaleRows out", O.shape, A.shape);
    if (A === O) throw shapeError("scaleRows", "out must not alias a");
    const g = this.#flatGrid(A.size);
    this.#dispatch(KM.SCALE_ROWS, [A.size, A.shape[1], g[0], 0, ["f", beta], 0, 0, 0], [
      V.buffer,
      A.buffer,
      O.buffer,
    ], g);
    this.#touch(O);
  }
  #rows(t: GpuTensor, what: string): [number, number] {
    if (t.shape.length === 1) return [1, t.shape[0]];
    if (t.shape.length !== 2) throw shapeError(what, "expects a 1-D or 2-D tensor");
    return [t.shape[0], t.shape[1]];
  }
  #theta(op: string, theta: Tensor, q: number): GpuTensor {
    const T = this.#t(theta, `${op} theta`);
    if (T.size !== q && T.size !== 1) {
      throw shapeError(op, `theta has ${T.size} entries, expected ${q} or 1`);
    }
    return T;
  }
  columnSum(a: Tensor, out: Tensor, beta = 0): void {
    const A = this.#t(a, "columnSum a"), O = this.#t(out, "columnSum out");
    const [m, q] = this.#rows(A, "columnSum a");
    checkShape("columnSum out", O.shape, [q]);
    const g = this.#flatGrid(q);
    this.#dispatch(KM.COLUMN_SUM_DENSE, [m, q, g[0], 0, ["f", beta], 0, 0, 0], [
      A.buffer,
      O.buffer,
    ], g);
    this.#touch(O);
  }
  #mask(op: string, pre: Tensor, theta: Tensor, x: Tensor | null, out: Tensor): void {
    const P = this.#t(pre, `${op} pre`), O = this.#t(out, `${op} out`);
    const [m, q] = this.#rows(P, `${op} pre`);
    const T = this.#theta(op, theta, q);
    checkShape(`${op} out`, O.shape, P.shape);
    if (P === O) throw shapeError(op, "out must not alias pre");
    const X = x ? this.#t(x, `${op} x`) : null;
    if (X) checkShape(`${op} x`, X.shape, P.shape);
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
    const [m, q] = this.#rows(P, "countAbove pre");
    const T = this.#theta("countAbove", theta, q);
    checkShape("countAbove out", O.shape, [q]);
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
    if (D.shape.length !== 2) throw shapeError("normalizeRows", "expects a 2-D tensor");
    const g = this.#grid(D.shape[0]);
    this.#dispatch(K.NORMALIZE_ROWS, [D.shape[0], D.shape[1], g[0], 0], [D.buffer], g);
  }
  removeParallelComponent(dict: Tensor, grad: Tensor, sumSq?: Tensor, accumulate = false): void {
    const D = this.#t(dict, "removeParallelComponent dict"), G = this.#t(grad, "grad");
    if (D.shape.length !== 2) throw shapeError("removeParallelComponent", "expects 2-D tensors");
    checkShape("removeParallelComponent grad", G.shape, D.shape);
    const g = this.#grid(D.shape[0]);
    this.#dispatch(K.REMOVE_PARALLEL, [D.shape[0], D.shape[1], g[0], 0], [D.buffer, G.buffer], g);
    if (sumSq) this.sumSquares(grad, sumSq, accumulate);
  }
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamWOptions): void {
    const P = this.#t(param, "adamw param"), G = this.#t(grad, "grad");
    const M = this.#t(m, "m"), V = this.#t(v, "v");
    for (const [w, t] of [["grad", G], ["m", M], ["v", V]] as const) {
      checkShape(`adamw ${w}`, t.shape, P.shape);
    }
    if (!(o.step >= 1)) throw shapeError("adamw", `step must be ≥ 1, got ${o.step}`);
    if (o.normalizeRows && P.shape.length !== 2) {
      throw shapeError("adamw", "normalizeRows needs a 2-D parameter");
    }
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
