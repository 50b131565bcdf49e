/**
 * Dense exact linear assignment: shortest augmenting paths (Jonker–Volgenant / Crouse 2016, the
 * algorithm behind scipy's `linear_sum_assignment`) over a full n×m cost matrix with n ≤ m.
 * Duals are kept in float64 and satisfy, at the end,
 *   c_ij − u_i − v_j ≥ 0 for every (i, j), equality on the assignment, v ≤ 0, v_j = 0 on free columns,
 * which certifies optimality (LP duality for the rectangular problem).
 * Work: O(m) per scanned row, so O(n²·m) in the worst case; fast when the row-reduction start
 * already assigns most rows.
 */

/** A (partial or complete) assignment with its dual variables, in min-cost form. */
export interface AssignmentState {
  /** n rows, m columns (n ≤ m). */
  n: number;
  m: number;
  /** Column of each row (−1 while free), length n. */
  rowToCol: Int32Array;
  /** Row of each column (−1 when free), length m. */
  colToRow: Int32Array;
  /** Row duals u (length n) and column duals v (length m) of the min-cost problem. */
  u: Float64Array;
  v: Float64Array;
}

/**
 * Cost of entry (i, j) in min-form: `sign · a[i·m + j]` (sign = −1 turns a similarity to
 * maximise into a cost to minimise).
 */
export interface DenseCost {
  /** Row-major n×m values. */
  a: Float32Array | Float64Array;
  n: number;
  m: number;
  /** +1: minimise a; −1: maximise a. */
  sign: 1 | -1;
}

/**
 * Start state by row reduction: u_i = min_j c_ij, v = 0, and each row takes its cheapest column
 * when that column is still free (rows visited by increasing u_i, so the strongest matches
 * claim their partner first). Every assigned edge is tight and every reduced cost ≥ 0.
 * @param rowMin min_j c_ij per row (length n); `rowArg` its column.
 */
export function rowReductionStart(
  n: number,
  m: number,
  rowMin: Float64Array,
  rowArg: Int32Array,
): AssignmentState {
  const rowToCol = new Int32Array(n).fill(-1);
  const colToRow = new Int32Array(m).fill(-1);
  const u = Float64Array.from(rowMin);
  const v = new Float64Array(m);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) =>
    rowMin[x] - rowMin[y] || x - y
  );
  for (const i of order) {
    const j = rowArg[i];
    if (colToRow[j] === -1) {
      colToRow[j] = i;
      rowToCol[i] = j;
    }
  }
  return { n, m, rowToCol, colToRow, u, v };
}

/** Row minima and their columns of a dense cost (ties: lowest column). */
export function denseRowMinima(cost: DenseCost): { rowMin: Float64Array; rowArg: Int32Array } {
  const { a, n, m, sign } = cost;
  const rowMin = new Float64Array(n);
  const rowArg = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * m;
    let best = Infinity, arg = 0;
    for (let j = 0; j < m; j++) {
      const c = sign * a[o + j];
      if (c < best) {
        best = c;
        arg = j;
      }
    }
    rowMin[i] = best;
    rowArg[i] = arg;
  }
  return { rowMin, rowArg };
}

/**
 * Complete `state` (feasible duals, tight assigned edges) to an optimal assignment on the dense
 * cost: one shortest augmenting path per free row. Mutates and returns `state`.
 */
export function solveDenseFrom(cost: DenseCost, state: AssignmentState): AssignmentState {
  const { a, n, m, sign } = cost;
  const { rowToCol, colToRow, u, v } = state;
  const dist = new Float64Array(m);
  const pred = new Int32Array(m);
  const remaining = new Int32Array(m);
  const scannedRows = new Int32Array(n);
  const scannedCols = new Int32Array(m);
  for (let s = 0; s < n; s++) {
    if (rowToCol[s] !== -1) continue;
    for (let j = 0; j < m; j++) {
      dist[j] = Infinity;
      remaining[j] = m - 1 - j;
    }
    let nRemaining = m;
    let nsr = 0, nsc = 0;
    let i = s;
    let minVal = 0;
    let sink = -1;
    while (sink === -1) {
      scannedRows[nsr++] = i;
      const o = i * m;
      const ui = u[i];
      let lowest = Infinity, index = -1;
      for (let t = 0; t < nRemaining; t++) {
        const j = remaining[t];
        const r = minVal + sign * a[o + j] - ui - v[j];
        if (r < dist[j]) {
          pred[j] = i;
          dist[j] = r;
        }
        const dj = dist[j];
        if (dj < lowest || (dj === lowest && colToRow[j] === -1)) {
          lowest = dj;
          index = t;
        }
      }
      if (index < 0 || lowest === Infinity) throw new RangeError("assignment: infeasible cost");
      minVal = lowest;
      const j = remaining[index];
      scannedCols[nsc++] = j;
      remaining[index] = remaining[--nRemaining];
      if (colToRow[j] === -1) sink = j;
      else i = colToRow[j];
    }
    augmentPath(state, { s, sink, minVal, dist, pred, scannedRows, nsr, scannedCols, nsc });
  }
  return state;
}

/** The end of one shortest-augmenting-path search (see {@link augmentPath}). */
export interface AugmentingPath {
  /** The free row the search started from. */
  s: number;
  /** The free column it reached, at reduced distance `minVal`. */
  sink: number;
  minVal: number;
  /** Reduced distance of every scanned column (length m). */
  dist: Float64Array;
  /** Row the path reaches each scanned column from (length m). */
  pred: Int32Array;
  /** Rows scanned in order, scannedRows[0] = s; the first `nsr` count. */
  scannedRows: Int32Array;
  nsr: number;
  /** Columns scanned, the first `nsc` count. */
  scannedCols: Int32Array;
  nsc: number;
}

/**
 * Finish a search shared by the dense and sparse solvers: shift the duals of the scanned rows
 * and columns by their distance below `minVal` (edges stay feasible, the path becomes tight),
 * then flip the path sink → s (`pred`) into the assignment. Mutates `state`.
 */
export function augmentPath(state: AssignmentState, p: AugmentingPath): void {
  const { rowToCol, colToRow, u, v } = state;
  const { s, minVal, dist, pred, scannedRows, scannedCols } = p;
  u[s] += minVal;
  for (let t = 1; t < p.nsr; t++) {
    const r = scannedRows[t];
    u[r] += minVal - dist[rowToCol[r]];
  }
  for (let t = 0; t < p.nsc; t++) {
    const j = scannedCols[t];
    v[j] -= minVal - dist[j];
  }
  let j = p.sink;
  for (;;) {
    const r = pred[j];
    colToRow[j] = r;
    const prev = rowToCol[r];
    rowToCol[r] = j;
    if (r === s) break;
    j = prev;
  }
}

/**
 * Optimal assignment of a dense n×m cost (n ≤ m) from the row-reduction start.
 * @returns the final state (every row assigned, duals certifying optimality).
 */
export function solveDense(cost: DenseCost): AssignmentState {
  const { rowMin, rowArg } = denseRowMinima(cost);
  return solveDenseFrom(cost, rowReductionStart(cost.n, cost.m, rowMin, rowArg));
}
