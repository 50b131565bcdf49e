/**
 * The column view (CSC) of the CPU backend's sparse codes, for the products by concept (the
 * decoder and encoder gradients): entries of concept j are slots colPtr[j]..colPtr[j+1]−1, each
 * with its row (`slotRow`) and its CSR entry position (`slotEntry`), rows ascending within a
 * column. Built in O(nnz + cols) into scratch and reused while the codes' pattern is unchanged
 * (the two gradients of a step share one).
 */
import type { CpuSparse } from "./cpu_tensor.ts";
import type { ScratchPool } from "./cpu_scratch.ts";

/** Byte offsets of a column view's arrays in the wasm heap. */
export interface CscOffsets {
  colPtr: number;
  slotRow: number;
  slotEntry: number;
}

/** Fill the column view of CSR codes (colPtr i32 [cols+1], slotRow/slotEntry i32 [nnz]). */
function fillCsc(
  z: { rows: number; cols: number; rowPtr: Int32Array; index: Int32Array },
  colPtr: Int32Array,
  slotRow: Int32Array,
  slotEntry: Int32Array,
): void {
  const { rowPtr, index } = z, c = z.cols, nnz = rowPtr[z.rows];
  colPtr.fill(0, 0, c + 1);
  for (let e = 0; e < nnz; e++) colPtr[index[e] + 1]++;
  for (let j = 0; j < c; j++) colPtr[j + 1] += colPtr[j];
  // fill slots; colPtr[j] used as a cursor, restored afterwards
  for (let i = 0; i < z.rows; i++) {
    for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
      const q = colPtr[index[e]]++;
      slotRow[q] = i;
      slotEntry[q] = e;
    }
  }
  for (let j = c; j > 0; j--) colPtr[j] = colPtr[j - 1];
  colPtr[0] = 0;
}

/** The column view of the codes last asked for, kept in the pool's `csc.*` slots. */
export class CscCache {
  /** The codes the view was built for (valid while their `cscStale` is false). */
  #of: CpuSparse | null = null;
  constructor(readonly pool: ScratchPool) {}

  /** The view of `z` (built when stale or of other codes), or null when the heap is full. */
  view(z: CpuSparse): CscOffsets | null {
    const s = this.pool.group("csc", {
      colPtr: [z.cols + 1, "i32"],
      slotRow: [z.nnz, "i32"],
      slotEntry: [z.nnz, "i32"],
    });
    if (!s) return null;
    if (this.#of !== z || z.cscStale) {
      fillCsc(
        { rows: z.rows, cols: z.cols, rowPtr: z.rowPtr.i32, index: z.index.i32 },
        s.colPtr.i32,
        s.slotRow.i32,
        s.slotEntry.i32,
      );
      this.#of = z;
      z.cscStale = false;
    }
    return { colPtr: s.colPtr.ptr, slotRow: s.slotRow.ptr, slotEntry: s.slotEntry.ptr };
  }

  /** Forget `z` (its arrays are being released). */
  forget(z: CpuSparse): void {
    if (this.#of === z) this.#of = null;
  }
}
