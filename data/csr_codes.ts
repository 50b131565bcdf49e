/**
 * Sparse codes as the data layer stores them (codes.parquet): compressed sparse rows. The same
 * shape as learn/learner.ts `HostSparseCodes`, declared here so that data/ needs nothing from the
 * layers above it (TypeScript types are structural: either name serves for the other).
 */

/**
 * CSR codes of `rows` rows over `cols` concepts: row i's entries are positions
 * rowPtr[i] .. rowPtr[i+1]−1 of `index` (concept, 0 ≤ index < cols) and `value`.
 * rowPtr has length rows + 1 and rowPtr[0] = 0; index and value have length ≥ rowPtr[rows].
 */
export interface CsrCodes {
  rows: number;
  cols: number;
  rowPtr: Int32Array;
  index: Int32Array;
  value: Float32Array;
}
