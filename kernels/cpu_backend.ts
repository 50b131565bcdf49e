/**
 * The CPU backend: host Float32Array tensors (kernels/cpu_tensor.ts), dense GEMM through a
 * pluggable {@link GemmProvider} (OpenBLAS FFI, onnxruntime-node, or TS loops). Tensors live in
 * one shared WebAssembly memory ({@link WasmRuntime}) so that the per-step work of training runs
 * in place on the fast kernels (kernels/cpu_kernels.ts): native C where a compiler exists, else
 * WebAssembly SIMD split over all cores — the sparse products (decode, the fused residual,
 * sample, the gathers by concept over the column view of kernels/cpu_csc.ts), the batch top-k
 * candidate pass, linear's bias rows, axpby, large sums of squares, row normalisation, parallel
 * component removal and AdamW. Their scratch is one pool of named heap tensors
 * (kernels/cpu_scratch.ts). Tensors that do not fit the 4 GiB wasm32 memory fall back to plain
 * arrays and TypeScript loops. Other ops are TypeScript loops that touch only active entries (or
 * O(c) / O(n) work). Shape checks are shared with the WebGPU backend (kernels/op_checks.ts).
 * Per-op times of the study-scale step: `deno task bench --filter step_profile`.
 *
 * Ordering: ops run at once when the provider is synchronous. With an asynchronous provider
 * (ORT) ops are chained on a queue in call order; `read`/`readScalar` wait for it.
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
import type { GemmProvider } from "./gemm_provider.ts";
import type { NativeSparse, ScreenStats } from "./native_sparse.ts";
import {
  batchTopkHost,
  type BatchTopkStats,
  type CandidateScan,
  guessFromHistory,
  HINT_GAP,
  newBatchTopkScratch,
  nextHintGap,
  thresholdHost,
  topkGroups,
  topkRowsHost,
  topkRowsScreened,
  topkThresholds,
} from "./cpu_select.ts";
import {
  sparseColumnSumHost,
  sparseDecodeHost,
  sparseSampleHost,
  sparseTransposeProductHost,
} from "./cpu_sparse.ts";
import {
  adamwHost,
  axpbyHost,
  clipFactorHost,
  normalizeRowsHost,
  removeParallelHost,
  scaleHost,
  sumSquaresHost,
} from "./cpu_dense.ts";
import { checkShape, shapeError, shapeSize } from "./shape.ts";
import * as check from "./op_checks.ts";
import {
  clampMinHost,
  columnSumHost,
  countAboveHost,
  maskAboveHost,
  mulHost,
  scaleRowsHost,
} from "./cpu_mask.ts";
import { WasmRuntime } from "./wasm_runtime.ts";
import { TKSCAN_PAD } from "./wasm_kernels_dense.ts";
import { CpuSparse, CpuTensor, inHeap } from "./cpu_tensor.ts";
import { ScratchPool } from "./cpu_scratch.ts";
import { CscCache } from "./cpu_csc.ts";
import { type FastKernels, NativeKernels, WasmKernels } from "./cpu_kernels.ts";

/** The CPU backend over one GEMM provider. */
export class CpuBackend implements Backend {
  readonly name: string;
  readonly provider: GemmProvider;
  #pending: Promise<void> | null = null;
  /** Host scratch of the batch top-k selection (and its stats). */
  #topk = newBatchTopkScratch();
  /** The wasm memory, heap and thread pool holding this backend's tensors. */
  readonly rt: WasmRuntime;
  #registry: FinalizationRegistry<number>;
  /** Named heap scratch of every op. */
  readonly #pool: ScratchPool;
  #csc: CscCache;
  readonly #wasm: WasmKernels;
  readonly #nat: NativeKernels | null;

  /** The native sparse kernels, when loaded (else the wasm kernels run those ops). */
  readonly native: NativeSparse | null;

  /**
   * @param provider the GEMM implementation (the backend owns it and closes it).
   * @param threads threads for the wasm kernels (default: all cores, at most 8).
   * @param native native sparse kernels (decode, residual, sample, gather), or null for wasm.
   */
  constructor(provider: GemmProvider, threads?: number, native: NativeSparse | null = null) {
    this.provider = provider;
    this.name = `cpu:${provider.name}`;
    this.rt = new WasmRuntime(threads);
    this.native = native;
    const rt = this.rt;
    this.#registry = new FinalizationRegistry((ptr: number) => rt.free(ptr));
    this.#pool = new ScratchPool({
      alloc: (shape, dtype) => this.#new(shape, dtype),
      dispose: (t) => this.dispose(t),
    });
    this.#csc = new CscCache(this.#pool);
    this.#wasm = new WasmKernels(rt);
    this.#nat = native ? new NativeKernels(native, rt, this.#pool) : null;
  }

  /**
   * Start the kernel threads (otherwise they start once enough large jobs have run, see
   * kernels/wasm_runtime.ts) and resolve once they have started; ops work before, on one thread.
   */
  async ready(): Promise<void> {
    await this.rt.whenReady();
  }

  /** A new zeroed tensor in the wasm heap (a plain array when the heap is full). */
  #new(shape: readonly number[], dtype: DType): CpuTensor {
    const size = shapeSize(shape);
    const ptr = size > 0 ? this.rt.alloc(size * 4) : -1;
    if (ptr < 0) return new CpuTensor(shape, dtype);
    const data = dtype === "f32" ? this.rt.f32(ptr, size) : this.rt.i32(ptr, size);
    data.fill(0);
    const t = new CpuTensor(shape, dtype, data, ptr);
    this.#registry.register(t, ptr, t);
    return t;
  }

  /** Run `op` on the native kernels when loaded and willing, else on the wasm kernels. */
  #fast<A>(op: (k: FastKernels, a: A) => boolean, a: A): boolean {
    return (this.#nat !== null && op(this.#nat, a)) || op(this.#wasm, a);
  }

  /** Thread bounds i32 [T+1] (name `<group>.bounds`): chunk q of n ends on a multiple of `grain`. */
  #bounds(group: string, n: number, grain: number): CpuTensor | null {
    const T = this.rt.threads;
    const b = this.#pool.get(`${group}.bounds`, T + 1, "i32");
    if (!b) return null;
    const v = b.i32;
    for (let q = 0; q <= T; q++) v[q] = q === T ? n : Math.floor((n * q) / T / grain) * grain;
    return b;
  }

  /**
   * Batch top-k candidate pass on the wasm threads: one contiguous chunk of the flat range per
   * thread, each into its own slot range (cap + TKSCAN_PAD slots), then compacted in chunk order
   * (= flat order). The bias, when given, is added in-register (it must live in the heap).
   */
  #candidateScan: CandidateScan = (bits, N, guess, cap, bias, c) => {
    const T = this.rt.threads;
    const stride = cap + TKSCAN_PAD;
    const s = this.#pool.group("tkscan", {
      counts: [T, "i32"],
      cb: [T * stride, "i32"],
      ci: [T * stride, "i32"],
    });
    // chunk boundaries on multiples of 16 (the kernel's block; any boundary is correct)
    const bounds = s && this.#bounds("tkscan", N, 16);
    if (!s || !bounds) return null;
    this.#wasm.candidates({
      bits,
      bounds,
      guess,
      candBits: s.cb,
      candIdx: s.ci,
      cap,
      counts: s.counts,
      bias,
      c,
      N,
      parts: T,
    });
    const counts = s.counts.i32, cv = s.cb.i32, ci = s.ci.i32;
    let nc = 0;
    for (let q = 0; q < T; q++) {
      const m = counts[q];
      if (m < 0 || nc + m > cap) return null;
      if (q > 0 && m > 0) {
        cv.copyWithin(nc, q * stride, q * stride + m);
        ci.copyWithin(nc, q * stride, q * stride + m);
      }
      nc += m;
    }
    return { cv, ci, nc };
  };
  /**
   * Last exact batch top-k threshold per `pre` tensor, for the next call's first guess (at the
   * same K and c, with or without a bias: the trainer selects the same pre + b_enc either way,
   * through the fused encoder or from `linear`'s pre-activations).
   */
  #tkMemo = new WeakMap<
    CpuTensor,
    { K: number; c: number; t: number; tPrev: number | null; gap: number }
  >();
  /** What the last batchTopk did: guess path, candidate passes, candidates, scan time (ms). */
  get batchTopkStats(): Readonly<BatchTopkStats> {
    return this.#topk.stats;
  }

  /** Σ x² on the wasm threads (one float64 partial per thread's chunk), or null off-heap. */
  #sumSquaresWasm(x: CpuTensor): number | null {
    const T = this.rt.threads;
    const partial = this.#pool.get("sumsq.partial", 2 * T);
    const bounds = partial && this.#bounds("sumsq", x.size, 256);
    if (!partial || !bounds || !inHeap(x)) return null;
    this.#wasm.sumSquares({ x, bounds, partial, parts: T });
    const part = new Float64Array(this.rt.memory.buffer, partial.ptr, T);
    let total = 0;
    for (let q = 0; q < T; q++) total += part[q];
    return total;
  }

  /**
   * Row chunks of an m-row op, one per thread (bounds i32 [T+1]), and a heap buffer of
   * T·q·`words` 32-bit words for per-chunk column partials; null when the heap is full.
   */
  #rowChunks(m: number, q: number, words: number): { bounds: CpuTensor; buf: CpuTensor } | null {
    const T = this.rt.threads;
    const buf = this.#pool.get("chunks.buf", T * q * words);
    const bounds = buf && this.#bounds("chunks", m, 1);
    return buf && bounds ? { bounds, buf } : null;
  }
  /** out = src where pre > theta (per column or shared) on the wasm threads; false off-heap. */
  #maskWasm(
    pre: CpuTensor,
    theta: CpuTensor,
    src: CpuTensor,
    out: CpuTensor,
    m: number,
    q: number,
  ): boolean {
    if (m * q < 1 << 12 || !inHeap(pre, theta, src, out)) return false;
    this.#wasm.maskAbove({ pre, theta, src, out, m, q });
    return true;
  }

  /**
   * Sparse thresholding on the wasm threads when the codes can hold every entry (capacity ≥ n·c,
   * as for ReLU / JumpReLU training; the band's codes too): each thread's row chunk writes from
   * its worst-case slot, then the chunks are compacted in order. False when it cannot run (then
   * the JS loop does).
   */
  #thresholdWasm(
    pre: CpuTensor,
    theta: CpuTensor,
    n: number,
    c: number,
    z: CpuSparse,
    band: { lo: CpuTensor; hi: CpuTensor; z: CpuSparse } | null,
  ): boolean {
    if (n < 2 || n * c < 1 << 16 || z.capacity < n * c) return false;
    // the band: capacity for every entry, and bounds shared or per column as theta is
    const sizes = band && band.lo.size === theta.size && band.hi.size === theta.size;
    if (band && (band.z.capacity < n * c || !sizes)) return false;
    const part = this.#rowChunks(n, 1, 1);
    const T = this.rt.threads;
    const bandCounts = band && this.#pool.get("chunks.band", T);
    if (!part || (band && !bandCounts) || !inHeap(pre, theta, z.rowPtr, z.index, z.value)) {
      return false;
    }
    if (band && !inHeap(band.lo, band.hi, band.z.rowPtr, band.z.index, band.z.value)) return false;
    this.#wasm.threshold({
      pre,
      theta,
      c,
      n,
      bounds: part.bounds,
      z,
      counts: part.buf,
      parts: T,
      band: band && { ...band, counts: bandCounts! },
    });
    z.compactRowChunks(part.bounds.i32, part.buf.i32, T);
    band?.z.compactRowChunks(part.bounds.i32, bandCounts!.i32, T);
    return true;
  }

  #exec(fn: () => void | Promise<void>): void {
    if (this.#pending) {
      const p: Promise<void> = this.#pending.then(fn);
      this.#pending = p;
      p.then(() => {
        if (this.#pending === p) this.#pending = null;
      }, () => {});
      return;
    }
    const r = fn();
    if (r instanceof Promise) {
      this.#pending = r;
      r.then(() => {
        if (this.#pending === r) this.#pending = null;
      }, () => {});
    }
  }

  #t(t: Tensor, what: string): CpuTensor {
    if (!(t instanceof CpuTensor)) {
      throw new TypeError(`${what}: tensor belongs to another backend`);
    }
    return t;
  }
  #f(t: Tensor, what: string): Float32Array {
    const c = this.#t(t, what);
    if (c.dtype !== "f32") throw new TypeError(`${what}: expected an f32 tensor, got ${c.dtype}`);
    return c.data as Float32Array;
  }
  #z(z: SparseCodes, what: string): CpuSparse {
    if (!(z instanceof CpuSparse)) throw new TypeError(`${what}: codes belong to another backend`);
    return z;
  }

  // ---- memory ----
  zeros(shape: readonly number[], dtype: DType = "f32"): Tensor {
    return this.#new(shape, dtype);
  }
  upload(data: Float32Array | Int32Array, shape: readonly number[]): Tensor {
    check.uploadSize(data, shape);
    const dtype: DType = data instanceof Int32Array ? "i32" : "f32";
    const t = this.#new(shape, dtype);
    t.data.set(data);
    return t;
  }
  write(t: Tensor, data: Float32Array | Int32Array, offset = 0): void {
    const c = this.#t(t, "write");
    check.checkWrite(c, data.length, offset);
    const copy = this.#pending ? data.slice() : data;
    this.#exec(() => {
      c.data.set(copy, offset);
      if (c.owner) c.owner.cscStale = true;
    });
  }
  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    const c = this.#t(t, "read");
    await this.#flush();
    return c.data.slice();
  }
  async readScalar(t: Tensor): Promise<number> {
    const c = this.#t(t, "readScalar");
    await this.#flush();
    return c.data[0];
  }
  async #flush(): Promise<void> {
    while (this.#pending) await this.#pending;
  }
  dispose(t: Tensor): void {
    if (!(t instanceof CpuTensor) || t.ptr < 0) return;
    const ptr = t.ptr;
    this.#registry.unregister(t);
    t.ptr = -1;
    t.data = t.dtype === "f32" ? new Float32Array(0) : new Int32Array(0);
    if (this.#pending) this.#pending.then(() => this.rt.free(ptr), () => this.rt.free(ptr));
    else this.rt.free(ptr);
  }
  sparse(rows: number, cols: number, capacity: number): SparseCodes {
    return new CpuSparse(
      rows,
      cols,
      capacity,
      this.#new([rows + 1], "i32"),
      this.#new([capacity], "i32"),
      this.#new([capacity], "f32"),
    );
  }
  disposeSparse(z: SparseCodes): void {
    if (!(z instanceof CpuSparse)) return;
    this.#csc.forget(z);
    for (const t of [z.rowPtr, z.index, z.value]) this.dispose(t);
  }

  // ---- dense ----
  gemm(a: Tensor, b: Tensor, c: Tensor, opts: GemmOptions = {}): void {
    const A = this.#f(a, "gemm A"), B = this.#f(b, "gemm B"), C = this.#f(c, "gemm C");
    const { m, n, k } = check.gemmDims(a, b, c, opts);
    const call = {
      transA: !!opts.transA,
      transB: !!opts.transB,
      m,
      n,
      k,
      alpha: opts.alpha ?? 1,
      beta: opts.beta ?? 0,
      a: A,
      b: B,
      c: C,
    };
    this.#exec(() => this.provider.sgemm(call));
  }
  linear(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, transW = false): void {
    this.#t(x, "linear x");
    this.#t(w, "linear w");
    this.#t(out, "linear out");
    if (bias) this.#t(bias, "linear bias");
    const { n, c } = check.linearDims(x, w, bias, out, transW);
    if (bias) {
      const b = this.#f(bias, "linear bias"), o = this.#f(out, "linear out");
      const tB = bias as CpuTensor, tO = out as CpuTensor;
      this.#exec(() => {
        if (n === 0) return;
        if (inHeap(tB, tO)) return this.#wasm.rowFill({ bias: tB, c, out: tO, rows: n });
        o.set(b, 0);
        let filled = c;
        while (filled < n * c) {
          const len = Math.min(filled, n * c - filled);
          o.copyWithin(filled, 0, len);
          filled += len;
        }
      });
    }
    this.gemm(x, w, out, { beta: bias ? 1 : 0, transB: transW });
  }

  // ---- sparsification ----
  topkRows(pre: Tensor, k: number, z: SparseCodes): void {
    const Z = this.#z(z, "topkRows");
    const tP = this.#t(pre, "topkRows pre");
    const [n, c] = check.codesDims("topkRows", tP, Z);
    check.checkTopk(n, c, k, Z);
    const P = this.#f(pre, "topkRows pre");
    this.#exec(() => {
      if (this.#nat && n * c >= 1 << 12 && inHeap(tP, Z.rowPtr, Z.index, Z.value)) {
        Z.cscStale = true;
        this.#nat.topkRows({ pre: tP, n, c, k, z: Z });
        return;
      }
      if (n * c >= 1 << 16 && 4 * k <= topkGroups(c) && this.#topkScreen(tP, n, c, k, Z)) return;
      topkRowsHost(P, n, c, k, Z.csr());
    });
  }
  /**
   * Per-row top-k on the wasm threads: group maxima (`groupmax`), a lower bound per row on the
   * host, the candidates at or above it (`rowcands`), then their exact selection on the host
   * (cpu_select.ts topkRowsScreened). False when the heap is full.
   */
  #topkScreen(pre: CpuTensor, n: number, c: number, k: number, Z: CpuSparse): boolean {
    const ng = topkGroups(c), cap = 4 * k + 64;
    const s = this.#pool.group("topk", {
      t: [n, "f32"],
      max: [n * ng, "f32"],
      cv: [n * cap, "f32"],
      ci: [n * cap, "i32"],
      cnt: [n, "i32"],
    });
    if (!s || !inHeap(pre, Z.rowPtr, Z.index, Z.value)) return false;
    this.#wasm.groupMax({ pre, c, max: s.max, n });
    const thresholds = s.t.f32;
    topkThresholds(s.max.f32, n, ng, k, thresholds, new Float32Array(ng));
    this.#wasm.rowCandidates({ pre, c, t: s.t, cv: s.cv, ci: s.ci, cap, cnt: s.cnt, n });
    const heapRows = topkRowsScreened(
      pre.f32,
      n,
      c,
      k,
      thresholds,
      s.cv.f32,
      s.ci.i32,
      s.cnt.i32,
      cap,
      Z.csr(),
    );
    this.#topkRowsStats = { rows: n, heapRows };
    return true;
  }
  #topkRowsStats = { rows: 0, heapRows: 0 };
  /** The last screened per-row top-k on the wasm threads: rows, and those the heap took. */
  get topkRowsStats(): Readonly<{ rows: number; heapRows: number }> {
    return this.#topkRowsStats;
  }
  batchTopk(
    pre: Tensor,
    k: number,
    z: SparseCodes,
    minKept: Tensor,
    bias: Tensor | null = null,
  ): void {
    const Z = this.#z(z, "batchTopk");
    const tP = this.#t(pre, "batchTopk pre");
    const [n, c] = check.codesDims("batchTopk", tP, Z);
    const K = check.batchTopkCount("batchTopk", n, c, k, Z);
    const P = this.#f(pre, "batchTopk pre"), M = this.#f(minKept, "batchTopk minKept");
    const B = bias ? this.#f(bias, "batchTopk bias") : null;
    const tB = bias as CpuTensor | null;
    if (tB) check.checkVector("batchTopk bias", tB, c);
    const scan = inHeap(tP, tB) ? this.#candidateScan : undefined;
    this.#exec(() => {
      // first guess: from the last exact thresholds found for this pre (same K, c)
      const memo = this.#tkMemo.get(tP);
      const hit = memo && memo.K === K && memo.c === c;
      const guess = hit ? guessFromHistory(memo.t, memo.tPrev, memo.gap) : undefined;
      const t = batchTopkHost(P, n, c, K, Z.csr(), this.#topk, scan, { bias: B, guess });
      M[0] = t;
      const gap = hit ? nextHintGap(memo.gap, this.#topk.stats) : HINT_GAP.first;
      this.#tkMemo.set(tP, { K, c, t, tPrev: hit ? memo.t : null, gap });
    });
  }
  /**
   * Multiply-adds (n·c·d) from which {@link encodeBatchTopk} screens a bfloat16 product (when the
   * native kernels have the AMX tile unit); smaller problems take the float32 path. Tests set 0.
   */
  screenMinWork = 1 << 24;
  /**
   * Features d from which {@link encodeBatchTopk} and {@link encodeTopkRows} screen: below, an
   * entry's float32 dot product costs less than bounding and screening it (at B 512, c 1024–2048:
   * d 256 about even without AuxK, slower with it; d 768 1.2–1.6× faster). Tests set 0.
   */
  screenMinDepth = 384;
  #screenStats: ScreenStats | null = null;
  /** What the last {@link encodeBatchTopk} screened (null: it ran the float32 path). */
  get screenStats(): Readonly<ScreenStats> | null {
    return this.#screenStats;
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
    const op = "encodeBatchTopk";
    const dense = () => encodeBatchTopkDense(this, x, w, bias, k, z, minKept, pre, aux);
    const Z = this.#z(z, op);
    const tP = this.#t(pre, `${op} pre`);
    const [n, c] = check.codesDims(op, tP, Z);
    const K = check.batchTopkCount(op, n, c, k, Z);
    const tM = this.#t(minKept, `${op} minKept`);
    check.checkVector(`${op} minKept`, tM, 1);
    this.#screened(op, { x, w, bias, pre: tP, n, c, perRow: false, K, Z, minKept: tM, aux }, dense);
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
    const op = "encodeTopkRows";
    const dense = () => encodeTopkRowsDense(this, x, w, bias, k, z, pre, aux);
    const Z = this.#z(z, op);
    const tP = this.#t(pre, `${op} pre`);
    const [n, c] = check.codesDims(op, tP, Z);
    check.checkTopk(n, c, k, Z);
    this.#screened(
      op,
      { x, w, bias, pre: tP, n, c, perRow: true, K: k, Z, minKept: null, aux },
      dense,
    );
  }
  /**
   * An encoder op through the screened encoder when the native kernels have the AMX tile unit and
   * the problem is large enough, else (or when the screen refuses the inputs) `dense`.
   */
  #screened(
    op: string,
    a: {
      x: Tensor;
      w: Tensor;
      bias: Tensor | null;
      pre: CpuTensor;
      n: number;
      c: number;
      perRow: boolean;
      K: number;
      Z: CpuSparse;
      minKept: CpuTensor | null;
      aux: RowSelection | null | undefined;
    },
    dense: () => void,
  ): void {
    const { n, c, Z } = a;
    const tX = this.#t(a.x, `${op} x`), tW = this.#t(a.w, `${op} w`);
    const d = tX.shape[1];
    const fallback = () => {
      this.#screenStats = null;
      dense();
    };
    if (!this.native?.screen || n * c * d < this.screenMinWork || d < this.screenMinDepth) {
      return fallback();
    }
    const tB = a.bias ? this.#t(a.bias, `${op} bias`) : null;
    check.encoderDims(op, tX, tW, tB, n, c);
    let aux = null;
    if (a.aux) {
      const zA = this.#z(a.aux.z, `${op} aux`);
      check.codesDims(`${op} aux`, a.pre, zA);
      check.checkTopk(n, c, a.aux.k, zA);
      const tMask = this.#t(a.aux.mask, `${op} aux mask`);
      checkShape(`${op} aux mask`, tMask.shape, [1, c]);
      aux = { k: a.aux.k, mask: tMask, z: zA };
    }
    const inputs = [tX, tW, tB, a.minKept, Z.rowPtr, Z.index, Z.value];
    if (aux) inputs.push(aux.mask, aux.z.rowPtr, aux.z.index, aux.z.value);
    // synchronous (nothing queued before it), so that a refusal can still take the float32 path
    if (a.K === 0 || this.#pending || !inHeap(...inputs)) return fallback();
    Z.cscStale = true;
    if (aux) aux.z.cscStale = true;
    const r = this.#nat!.screenEncode({
      x: tX,
      n,
      d,
      w: tW,
      c,
      bias: tB,
      perRow: a.perRow,
      K: a.K,
      z: Z,
      minKept: a.minKept,
      aux,
    });
    if (!r || r.kept < 0) return fallback();
    this.#screenStats = r.stats;
  }
  threshold(pre: Tensor, theta: Tensor, z: SparseCodes, band?: ThresholdBand | null): void {
    const Z = this.#z(z, "threshold");
    const tP = this.#t(pre, "threshold pre");
    const [n, c] = check.codesDims("threshold", tP, Z);
    const th = this.#f(theta, "threshold theta");
    check.checkTheta("threshold", theta, c);
    const P = this.#f(pre, "threshold pre");
    const tT = theta as CpuTensor;
    let bd: { lo: CpuTensor; hi: CpuTensor; z: CpuSparse } | null = null;
    if (band) {
      const bZ = this.#z(band.z, "threshold band");
      check.codesDims("threshold band", tP, bZ);
      check.checkThresholdBand(band.lo, band.hi, c, bZ, Z);
      this.#f(band.lo, "threshold band lo");
      this.#f(band.hi, "threshold band hi");
      bd = { lo: band.lo as CpuTensor, hi: band.hi as CpuTensor, z: bZ };
    }
    this.#exec(() => {
      if (this.#thresholdWasm(tP, tT, n, c, Z, bd)) return;
      thresholdHost(P, n, c, th, Z.csr());
      if (bd) thresholdHost(P, n, c, bd.lo.f32, bd.z.csr(), bd.hi.f32);
    });
  }

  // ---- sparse products ----
  sparseDecode(z: SparseCodes, dict: Tensor, bias: Tensor | null, out: Tensor): void {
    const Z = this.#z(z, "sparseDecode");
    const D = this.#f(dict, "sparseDecode dict"), O = this.#f(out, "sparseDecode out");
    const B = bias ? this.#f(bias, "sparseDecode bias") : null;
    const d = check.decodeDims(dict, bias, out, Z);
    const tD = dict as CpuTensor, tO = out as CpuTensor, tB = bias as CpuTensor | null;
    this.#exec(() => {
      if (!inHeap(Z.rowPtr, Z.index, Z.value, tD, tO, tB)) {
        return sparseDecodeHost(Z.csr(), D, d, B, O);
      }
      this.#fast((k, a) => k.decode(a), { z: Z, dict: tD, d, bias: tB, out: tO });
    });
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
    const Z = this.#z(z, "sparseResidual");
    const tD = this.#t(dict, "sparseResidual dict"), tX = this.#t(x, "sparseResidual x");
    const tR = this.#t(r, "sparseResidual r");
    const tB = bias ? this.#t(bias, "sparseResidual bias") : null;
    const tV = vals ? this.#t(vals, "sparseResidual vals") : null;
    const S = this.#f(sse, "sparseResidual sse");
    const d = check.residualDims(tD, tB, tX, tR, this.#t(sse, "sparseResidual sse"), tV, Z);
    const n = Z.rows;
    const rowSs = inHeap(Z.rowPtr, Z.index, Z.value, tD, tB, tX, tR, tV)
      ? this.#pool.get("rows.sums", Math.max(n, 1))
      : null;
    if (!rowSs) {
      // host arrays: the unfused sequence
      this.sparseDecode(z, dict, bias, r);
      this.axpby(1, r, -1, x, r);
      this.sumSquares(r, sse, accumulate);
      this.axpby(scale, r, 0, r, r);
      if (vals) this.sparseSample(r, dict, z, vals);
      return;
    }
    this.#exec(() => {
      const a = { z: Z, dict: tD, d, bias: tB, x: tX, scale, out: tR, rowSs, vals: tV };
      this.#fast((k, a) => k.residual(a), a);
      const ss = rowSs.f32;
      let total = 0;
      for (let i = 0; i < n; i++) total += ss[i];
      S[0] = (accumulate ? S[0] : 0) + total;
    });
  }
  sparseSample(g: Tensor, dict: Tensor, z: SparseCodes, vals: Tensor): void {
    const Z = this.#z(z, "sparseSample");
    const D = this.#f(dict, "sparseSample dict");
    const G = this.#f(g, "sparseSample g"), V = this.#f(vals, "sparseSample vals");
    const d = check.sampleDims(g, dict, vals, Z);
    const tG = g as CpuTensor, tD = dict as CpuTensor, tV = vals as CpuTensor;
    this.#exec(() => {
      if (!inHeap(Z.rowPtr, Z.index, tG, tD, tV)) return sparseSampleHost(G, D, d, Z.csr(), V);
      this.#fast((k, a) => k.sample(a), { z: Z, g: tG, dict: tD, d, vals: tV });
    });
  }
  sparseTransposeProduct(
    z: SparseCodes,
    vals: Tensor | null,
    g: Tensor,
    out: Tensor,
    beta: number,
  ): void {
    const Z = this.#z(z, "sparseTransposeProduct");
    const G = this.#f(g, "sparseTransposeProduct g"),
      O = this.#f(out, "sparseTransposeProduct out");
    const V = vals ? this.#f(vals, "sparseTransposeProduct vals") : null;
    const d = check.transposeProductDims(vals, g, out, Z);
    const tV = (vals ?? Z.value) as CpuTensor, tG = g as CpuTensor, tO = out as CpuTensor;
    this.#exec(() => {
      if (!(this.#gatherRows(Z, tV, tG, d, tO, beta))) {
        sparseTransposeProductHost(Z.csr(), V, G, d, O, beta);
      }
    });
  }
  /** out (c×d) = beta·out + Zᵀ·src with values `vals`, by concept on the fast kernels. */
  #gatherRows(
    z: CpuSparse,
    vals: CpuTensor,
    src: CpuTensor,
    d: number,
    out: CpuTensor,
    beta: number,
  ): boolean {
    if (!inHeap(z.rowPtr, z.index, vals, src, out)) return false;
    const csc = this.#csc.view(z);
    if (!csc) return false;
    return this.#fast((k, a) => k.gather(a), { z, csc, vals, src, d, out, beta });
  }

  sparseColumnSum(z: SparseCodes, vals: Tensor, out: Tensor, beta: number): void {
    const Z = this.#z(z, "sparseColumnSum");
    const V = this.#f(vals, "sparseColumnSum vals"), O = this.#f(out, "sparseColumnSum out");
    check.checkSparseColumnSum(vals, out, Z);
    this.#exec(() => sparseColumnSumHost(Z.csr(), V, O, beta));
  }
  sparseAddScalar(z: SparseCodes, vals: Tensor, alpha: number): void {
    const Z = this.#z(z, "sparseAddScalar");
    const V = this.#f(vals, "sparseAddScalar vals");
    check.checkSparseAddScalar(vals, Z);
    const a = Math.fround(alpha);
    this.#exec(() => {
      const m = Z.rowPtr.i32[Z.rows];
      for (let e = 0; e < m; e++) V[e] += a;
    });
  }

  // ---- elementwise ----
  axpby(a: number, x: Tensor, b: number, y: Tensor, out: Tensor): void {
    const X = this.#f(x, "axpby x"), Y = this.#f(y, "axpby y"), O = this.#f(out, "axpby out");
    check.checkAxpby(x, y, out);
    const tX = x as CpuTensor, tY = y as CpuTensor, tO = out as CpuTensor;
    this.#exec(() => {
      if (!inHeap(tX, tY, tO)) return axpbyHost(a, X, b, Y, O);
      this.#wasm.axpby({ a, x: tX, b, y: tY, out: tO });
    });
  }
  sumSquares(x: Tensor, out: Tensor, accumulate = false): void {
    const X = this.#f(x, "sumSquares x"), O = this.#f(out, "sumSquares out");
    if (O.length < 1) throw shapeError("sumSquares", "out must hold one element");
    const tX = x as CpuTensor;
    this.#exec(() => {
      const ss = (X.length >= 1 << 16 ? this.#sumSquaresWasm(tX) : null) ??
        (this.provider.sumSquares ? this.provider.sumSquares(X) : sumSquaresHost(X));
      O[0] = (accumulate ? O[0] : 0) + ss;
    });
  }
  clipFactor(sumSq: Tensor, maxNorm: number, out: Tensor): void {
    const S = this.#f(sumSq, "clipFactor sumSq"), O = this.#f(out, "clipFactor out");
    this.#exec(() => {
      O[0] = clipFactorHost(S[0], maxNorm);
    });
  }
  scaleBy(x: Tensor, scale: Tensor): void {
    const X = this.#f(x, "scaleBy x"), S = this.#f(scale, "scaleBy scale");
    this.#exec(() => scaleHost(X, S[0]));
  }

  mul(a: Tensor, b: Tensor, out: Tensor): void {
    const A = this.#f(a, "mul a"), B = this.#f(b, "mul b"), O = this.#f(out, "mul out");
    check.checkMul(a, b, out);
    this.#exec(() => mulHost(A, B, O));
  }
  clampMin(x: Tensor, lo: number): void {
    const X = this.#f(x, "clampMin x");
    this.#exec(() => clampMinHost(X, lo));
  }
  copy(src: Tensor, dst: Tensor): void {
    const S = this.#t(src, "copy src"), D = this.#t(dst, "copy dst");
    check.checkCopy(S, D);
    if (S === D) return;
    this.#exec(() => {
      D.data.set(S.data);
      if (D.owner) D.owner.cscStale = true;
    });
  }
  scaleRows(v: Tensor, a: Tensor, out: Tensor, beta = 0): void {
    const V = this.#f(v, "scaleRows v"), A = this.#f(a, "scaleRows a");
    const O = this.#f(out, "scaleRows out");
    const [m, q] = check.scaleRowsDims(v, a, out);
    const tV = v as CpuTensor, tA = a as CpuTensor, tO = out as CpuTensor;
    this.#exec(() => {
      if (m * q >= 1 << 14 && inHeap(tV, tA, tO)) {
        this.#fast((k, x) => k.scaleRows(x), { v: tV, a: tA, rows: m, cols: q, out: tO, beta });
        return;
      }
      scaleRowsHost(V, A, m, q, O, beta);
    });
  }
  columnSum(a: Tensor, out: Tensor, beta = 0): void {
    const A = this.#f(a, "columnSum a"), O = this.#f(out, "columnSum out");
    const [m, q] = check.columnSumDims(a, out);
    const tA = a as CpuTensor;
    this.#exec(() => {
      const part = m * q >= 1 << 16 && m > 1 ? this.#rowChunks(m, q, 2) : null;
      if (!part || !inHeap(tA)) return columnSumHost(A, m, q, O, beta);
      const T = this.rt.threads;
      this.#wasm.columnSum({ a: tA, bounds: part.bounds, part: part.buf, m, q, parts: T });
      const p = new Float64Array(this.rt.memory.buffer, part.buf.ptr, T * q);
      for (let j = 0; j < q; j++) {
        let acc = 0;
        for (let k = 0; k < T; k++) acc += p[k * q + j];
        O[j] = (beta === 0 ? 0 : beta * O[j]) + acc;
      }
    });
  }
  thresholdDense(pre: Tensor, theta: Tensor, out: Tensor): void {
    const P = this.#f(pre, "thresholdDense pre"), T = this.#f(theta, "thresholdDense theta");
    const O = this.#f(out, "thresholdDense out");
    const [m, q] = check.maskDims("thresholdDense", pre, theta, null, out);
    const tP = pre as CpuTensor, tT = theta as CpuTensor, tO = out as CpuTensor;
    this.#exec(() => {
      if (!this.#maskWasm(tP, tT, tP, tO, m, q)) maskAboveHost(P, m, q, T, null, O);
    });
  }
  maskAbove(pre: Tensor, theta: Tensor, x: Tensor, out: Tensor): void {
    const P = this.#f(pre, "maskAbove pre"), T = this.#f(theta, "maskAbove theta");
    const X = this.#f(x, "maskAbove x"), O = this.#f(out, "maskAbove out");
    const [m, q] = check.maskDims("maskAbove", pre, theta, x, out);
    const tP = pre as CpuTensor, tT = theta as CpuTensor, tX = x as CpuTensor;
    const tO = out as CpuTensor;
    this.#exec(() => {
      if (!this.#maskWasm(tP, tT, tX, tO, m, q)) maskAboveHost(P, m, q, T, X, O);
    });
  }
  countAbove(pre: Tensor, theta: Tensor, out: Tensor, beta = 0): void {
    const P = this.#f(pre, "countAbove pre"), T = this.#f(theta, "countAbove theta");
    const O = this.#f(out, "countAbove out");
    const [m, q] = check.countAboveDims(pre, theta, out);
    const tP = pre as CpuTensor, tT = theta as CpuTensor;
    this.#exec(() => {
      const part = m * q >= 1 << 16 && m > 1 ? this.#rowChunks(m, q, 1) : null;
      if (!part || !inHeap(tP, tT)) return countAboveHost(P, m, q, T, O, beta);
      const nT = this.rt.threads;
      const { bounds, buf } = part;
      this.#wasm.countAbove({ pre: tP, theta: tT, bounds, part: buf, m, q, parts: nT });
      const cnt = new Int32Array(this.rt.memory.buffer, buf.ptr, nT * q);
      for (let j = 0; j < q; j++) {
        let acc = 0;
        for (let k = 0; k < nT; k++) acc += cnt[k * q + j];
        O[j] = (beta === 0 ? 0 : beta * O[j]) + acc;
      }
    });
  }

  // ---- geometry and optimiser ----
  normalizeRows(d: Tensor): void {
    const D = this.#f(d, "normalizeRows");
    const [rows, cols] = check.normalizeRowsDims(d);
    const tD = d as CpuTensor;
    this.#exec(() => {
      if (!inHeap(tD)) return normalizeRowsHost(D, rows, cols);
      this.#wasm.rowNorm({ x: tD, rows, cols });
    });
  }
  removeParallelComponent(dict: Tensor, grad: Tensor, sumSq?: Tensor, accumulate = false): void {
    const D = this.#f(dict, "removeParallelComponent dict");
    const G = this.#f(grad, "removeParallelComponent grad");
    const [rows, d] = check.removeParallelDims(dict, grad);
    const S = sumSq ? this.#f(sumSq, "removeParallelComponent sumSq") : null;
    const tD = dict as CpuTensor, tG = grad as CpuTensor;
    const rowSs = S ? this.#pool.get("rows.sums", Math.max(rows, 1)) : null;
    if (this.#nat && inHeap(tD, tG) && (!S || rowSs)) {
      // native: the removal and each row's squared norm in one pass
      const nat = this.#nat;
      this.#exec(() => {
        nat.removeParallel({ dict: tD, grad: tG, rows, d, rowSs });
        if (!S) return;
        const ss = rowSs!.f32;
        let total = 0;
        for (let j = 0; j < rows; j++) total += ss[j];
        S[0] = (accumulate ? S[0] : 0) + total;
      });
      return;
    }
    this.#exec(() => {
      if (!inHeap(tD, tG)) return removeParallelHost(D, G, rows, d);
      this.#wasm.removeParallel({ dict: tD, grad: tG, rows, d, rowSs: null });
    });
    if (sumSq) this.sumSquares(grad, sumSq, accumulate);
  }
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamWOptions): void {
    const P = this.#f(param, "adamw param"), G = this.#f(grad, "adamw grad");
    const M = this.#f(m, "adamw m"), V = this.#f(v, "adamw v");
    check.checkAdamw(param, grad, m, v, o);
    const s = param.shape;
    const F = o.gradScale ? this.#f(o.gradScale, "adamw gradScale") : null;
    const tP = param as CpuTensor, tG = grad as CpuTensor, tM = m as CpuTensor;
    const tV = v as CpuTensor;
    this.#exec(() => {
      const f = F ? F[0] : 1;
      if (!inHeap(tP, tG, tM, tV)) {
        const g = f === 1 ? G : Float32Array.from(G, (x) => x * f);
        adamwHost(P, g, M, V, o.lr, o.beta1, o.beta2, o.eps, o.weightDecay, o.step);
        if (o.normalizeRows) normalizeRowsHost(P, s[0], s[1]);
        return;
      }
      const bc1 = 1 - Math.pow(o.beta1, o.step);
      const bc2 = 1 - Math.pow(o.beta2, o.step);
      // the gradient scale f enters as m += (1−β1)·f·g and v += (1−β2)·f²·g²
      const h = {
        beta1: o.beta1,
        a1: (1 - o.beta1) * f,
        beta2: o.beta2,
        a2: (1 - o.beta2) * f * f,
        stepSize: o.lr / bc1,
        invSqrtBc2: 1 / Math.sqrt(bc2),
        eps: o.eps,
        decay: 1 - o.lr * o.weightDecay,
      };
      const rows = s.length === 2 ? s[0] : 1, cols = P.length / Math.max(rows, 1);
      const a = { p: tP, g: tG, m: tM, v: tV, rows, cols, h, normalize: !!o.normalizeRows };
      this.#fast((k, x) => k.adamw(x), a);
    });
  }

  close(): void {
    this.provider.close();
    this.rt.close();
  }
}
