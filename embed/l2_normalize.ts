/** Row-wise L2 normalisation of embeddings (method.md §1). Pure. */

/**
 * Divide each row of `x` (row-major [n, d]) by its L2 norm, in place; a zero row stays zero.
 * The norm is accumulated in float64.
 * @returns `x`
 */
export function l2NormalizeRows(x: Float32Array, n: number, d: number): Float32Array {
  if (x.length !== n * d) throw new Error(`l2NormalizeRows: length ${x.length} is not ${n}·${d}`);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * d;
    for (let j = 0; j < d; j++) s += x[o + j] * x[o + j];
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) x[o + j] = x[o + j] * inv;
  }
  return x;
}
