/**
 * Shortest augmenting paths on a sparse candidate graph (a subset of the entries of an n×m cost,
 * n ≤ m), with a binary heap (Dijkstra on reduced costs). Same dual bookkeeping as the dense
 * solver (analysis/assignment_dense.ts), so the duals it returns are feasible on the candidate
 * edges; the caller certifies them on the full matrix.
 */
import { type AssignmentState, augmentPath } from "./assignment_dense.ts";

/** Candidate edges in CSR form by row; `cost` is the min-form cost of each edge (float64). */
export interface CandidateGraph {
  n: number;
  m: number;
  /** Row i's edges are rowPtr[i] .. rowPtr[i+1]−1 (length n+1). */
  rowPtr: Int32Array;
  /** Column of each edge. */
  col: Int32Array;
  /** Min-form cost of each edge. */
  cost: Float64Array;
}

/** Binary min-heap of (key, column) pairs with lazy deletion. */
class MinHeap {
  key: Float64Array;
  val: Int32Array;
  size = 0;
  constructor(capacity: number) {
    this.key = new Float64Array(Math.max(16, capacity));
    this.val = new Int32Array(Math.max(16, capacity));
  }
  push(k: number, x: number): void {
    if (this.size === this.key.length) {
      const nk = new Float64Array(this.size * 2);
      nk.set(this.key);
      const nv = new Int32Array(this.size * 2);
      nv.set(this.val);
      this.key = nk;
      this.val = nv;
    }
    const key = this.key, val = this.val;
    let p = this.size++;
    while (p > 0) {
      const q = (p - 1) >> 1;
      if (key[q] <= k) break;
      key[p] = key[q];
      val[p] = val[q];
      p = q;
    }
    key[p] = k;
    val[p] = x;
  }
  /** Remove the minimum; its key and value are left in `topKey` / `topVal`. */
  topKey = 0;
  topVal = 0;
  pop(): void {
    const key = this.key, val = this.val;
    this.topKey = key[0];
    this.topVal = val[0];
    const n = --this.size;
    if (n === 0) return;
    const k = key[n], x = val[n];
    let p = 0;
    for (;;) {
      let c = 2 * p + 1;
      if (c >= n) break;
      if (c + 1 < n && key[c + 1] < key[c]) c++;
      if (key[c] >= k) break;
      key[p] = key[c];
      val[p] = val[c];
      p = c;
    }
    key[p] = k;
    val[p] = x;
  }
}

/** Counters of one sparse solve. */
export interface SparseSolveStats {
  /** Augmenting paths run. */
  augmentations: number;
  /** Columns popped from the heap, summed over augmentations. */
  scanned: number;
}

/**
 * Complete `state` (duals feasible and assigned edges tight on the candidate graph) with one
 * shortest augmenting path per free row. Returns the rows for which the candidate graph holds
 * no augmenting path (their state is left unchanged), or an empty list on success.
 */
export function solveSparseFrom(
  g: CandidateGraph,
  state: AssignmentState,
  stats: SparseSolveStats = { augmentations: 0, scanned: 0 },
): number[] {
  const { n, m, rowPtr, col, cost } = g;
  const { rowToCol, colToRow, u, v } = state;
  const dist = new Float64Array(m);
  const pred = new Int32Array(m);
  const seen = new Int32Array(m); // stamp: touched in this search
  const done = new Int32Array(m); // stamp: popped in this search
  const scannedRows = new Int32Array(n);
  const scannedCols = new Int32Array(m);
  const heap = new MinHeap(1024);
  const stuck: number[] = [];
  let stamp = 0;
  for (let s = 0; s < n; s++) {
    if (rowToCol[s] !== -1) continue;
    stamp++;
    stats.augmentations++;
    heap.size = 0;
    let nsr = 0, nsc = 0;
    let i = s;
    let di = 0;
    let sink = -1;
    let minVal = 0;
    for (;;) {
      scannedRows[nsr++] = i;
      const base = di - u[i];
      for (let e = rowPtr[i], end = rowPtr[i + 1]; e < end; e++) {
        const j = col[e];
        if (done[j] === stamp) continue;
        const r = base + cost[e] - v[j];
        if (seen[j] !== stamp || r < dist[j]) {
          seen[j] = stamp;
          dist[j] = r;
          pred[j] = i;
          heap.push(r, j);
        }
      }
      let j = -1;
      while (heap.size > 0) {
        heap.pop();
        const x = heap.topVal;
        if (done[x] === stamp || heap.topKey > dist[x]) continue;
        j = x;
        break;
      }
      if (j < 0) break;
      done[j] = stamp;
      scannedCols[nsc++] = j;
      stats.scanned++;
      if (colToRow[j] === -1) {
        sink = j;
        minVal = dist[j];
        break;
      }
      i = colToRow[j];
      di = dist[j];
    }
    if (sink < 0) {
      stuck.push(s);
      continue;
    }
    augmentPath(state, { s, sink, minVal, dist, pred, scannedRows, nsr, scannedCols, nsc });
  }
  return stuck;
}
