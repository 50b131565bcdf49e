/** Host-side CSR sparse codes used by the CPU kernels (same layout as {@link SparseCodes}). */

/**
 * CSR codes on the host: entries of row i are positions rowPtr[i] .. rowPtr[i+1]-1 of
 * `index` (concept, i32) and `value` (f32). `index`/`value` may be longer than the entries used
 * (capacity); the used count is rowPtr[rows].
 */
export interface CsrCodes {
  rows: number;
  cols: number;
  rowPtr: Int32Array;
  index: Int32Array;
  value: Float32Array;
}
