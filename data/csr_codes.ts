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

/**
 * The k largest entries of each row of `codes` (ties: lower concept first), kept in concept order
 * within the row. Applied to per-row top-K codes (K ≥ k) this is exactly the per-row top-k
 * encoding of the same scores, so several sparsities come from one encoding pass.
 * @param codes CSR codes (rows × cols), entries of a row in any order
 * @param k entries to keep per row (≥ 0)
 * @returns new CSR codes with ≤ k entries per row
 */
export function largestPerRow(codes: CsrCodes, k: number): CsrCodes {
  const { rows, cols, rowPtr, index, value } = codes;
  const outPtr = new Int32Array(rows + 1);
  const outIndex = new Int32Array(Math.min(rowPtr[rows], rows * Math.max(0, k)));
  const outValue = new Float32Array(outIndex.length);
  let nnz = 0;
  const order: number[] = [];
  for (let i = 0; i < rows; i++) {
    order.length = 0;
    for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) order.push(e);
    order.sort((p, q) => value[q] - value[p] || index[p] - index[q]);
    const kept = order.slice(0, Math.max(0, k)).sort((p, q) => index[p] - index[q]);
    for (const e of kept) {
      outIndex[nnz] = index[e];
      outValue[nnz++] = value[e];
    }
    outPtr[i + 1] = nnz;
  }
  return {
    rows,
    cols,
    rowPtr: outPtr,
    index: outIndex.slice(0, nnz),
    value: outValue.slice(0, nnz),
  };
}
