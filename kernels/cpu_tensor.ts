/**
 * The CPU backend's tensors and sparse codes: host typed arrays, most of them views of the
 * backend's WebAssembly memory (`ptr` ≥ 0, so that the wasm and native kernels reach them by
 * byte offset), the rest plain arrays (`ptr` −1) when that memory is full.
 */
import type { DType, SparseCodes, Tensor } from "./backend.ts";
import type { CsrCodes } from "./host_sparse.ts";
import type { CsrOffsets } from "./native_sparse.ts";
import { shapeSize } from "./shape.ts";

/** A host tensor of the CPU backend. */
export class CpuTensor implements Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** The host array (Float32Array for f32, Int32Array for i32). */
  data: Float32Array | Int32Array;
  /** Byte offset in the backend's wasm memory, or −1 for a plain host array. */
  ptr: number;
  /** The sparse codes whose pattern (rowPtr or index) this tensor holds, if any. */
  owner: CpuSparse | null = null;
  constructor(
    shape: readonly number[],
    dtype: DType,
    data?: Float32Array | Int32Array,
    ptr = -1,
  ) {
    this.shape = [...shape];
    this.dtype = dtype;
    this.size = shapeSize(shape);
    this.data = data ?? (dtype === "f32" ? new Float32Array(this.size) : new Int32Array(this.size));
    this.ptr = ptr;
  }
  /** The data as float32 (a view of the same memory when the tensor is i32). */
  get f32(): Float32Array {
    const d = this.data;
    return d instanceof Float32Array ? d : new Float32Array(d.buffer, d.byteOffset, d.length);
  }
  /** The data as int32 (a view of the same memory when the tensor is f32: scratch reused). */
  get i32(): Int32Array {
    const d = this.data;
    return d instanceof Int32Array ? d : new Int32Array(d.buffer, d.byteOffset, d.length);
  }
}

/** Sparse codes held by the CPU backend. */
export class CpuSparse implements SparseCodes {
  /**
   * True when the pattern may have changed since the backend last built its column view (CSC)
   * of these codes: set by every op that writes rowPtr or index, and by {@link csr}, which hands
   * the arrays out writable.
   */
  cscStale = true;
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly capacity: number,
    readonly rowPtr: CpuTensor,
    readonly index: CpuTensor,
    readonly value: CpuTensor,
  ) {
    rowPtr.owner = this;
    index.owner = this;
  }
  /**
   * Compact codes written by row chunks into CSR: chunk k (rows [bounds[k], bounds[k+1])) wrote
   * counts[k] entries from slot bounds[k]·cols on, with each row's rowPtr; moves them to follow
   * the previous chunks and sets rowPtr[rows] (marks the column view stale).
   */
  compactRowChunks(bounds: Int32Array, counts: Int32Array, parts: number): void {
    this.cscStale = true;
    const rowPtr = this.rowPtr.i32, index = this.index.i32, value = this.value.f32;
    let total = 0;
    for (let k = 0; k < parts; k++) {
      const start = bounds[k] * this.cols, m = counts[k];
      if (start !== total) {
        index.copyWithin(total, start, start + m);
        value.copyWithin(total, start, start + m);
        const shift = start - total;
        for (let i = bounds[k]; i < bounds[k + 1]; i++) rowPtr[i] -= shift;
      }
      total += m;
    }
    rowPtr[this.rows] = total;
  }
  /** The arrays as host CSR codes (marks the column view stale: they are handed out writable). */
  csr(): CsrCodes {
    this.cscStale = true;
    return {
      rows: this.rows,
      cols: this.cols,
      rowPtr: this.rowPtr.i32,
      index: this.index.i32,
      value: this.value.f32,
    };
  }
  /** Entries in use (rowPtr[rows]). */
  get nnz(): number {
    return this.rowPtr.i32[this.rows];
  }
  /** Byte offsets of the three arrays (valid when all live in the wasm heap). */
  get offsets(): CsrOffsets {
    return { rowPtr: this.rowPtr.ptr, index: this.index.ptr, value: this.value.ptr };
  }
}

/** True when every tensor given lives in the wasm heap (nulls are ignored). */
export function inHeap(...ts: (CpuTensor | null)[]): boolean {
  for (const t of ts) if (t && t.ptr < 0) return false;
  return true;
}
