/**
 * Exact linear assignment (rectangular allowed) tuned for matching two learned dictionaries.
 *
 * The similarity matrix of two SAE dictionaries is far from random: most concepts have one
 * clear partner or none. So the solver
 * 1. keeps a sparse candidate set — the K best columns of every row and the K′ best rows of
 *    every column — found in one pass over the matrix;
 * 2. starts from the row reduction (u_i = min_j c_ij, v = 0; every row takes its best column when
 *    free), which already assigns the mutual best matches;
 * 3. completes it by shortest augmenting paths with a heap on the candidate graph
 *    (analysis/assignment_sparse.ts);
 * 4. proves optimality on the FULL matrix with the duals: c_ij − u_i − v_j ≥ −tol for every
 *    (i, j), equality on the assignment, and (rectangular) v ≤ 0 with v_j = 0 on unassigned
 *    columns. Any violating entries join the candidate set and the solve resumes; after
 *    `maxRounds` it falls back to the dense solver (analysis/assignment_dense.ts).
 * The answer is therefore always an optimum of the given matrix (up to `tol` per entry).
 */
import {
  type AssignmentState,
  type DenseCost,
  rowReductionStart,
  solveDense,
} from "./assignment_dense.ts";
import {
  type CandidateGraph,
  solveSparseFrom,
  type SparseSolveStats,
} from "./assignment_sparse.ts";

/** Options of {@link linearAssignment}. */
export interface AssignmentOptions {
  /** Maximise the sum (similarities) instead of minimising it (costs). Default false. */
  maximize?: boolean;
  /**
   * `auto`: dense below 64×64 entries, else `sparse`. `sparse`: candidate set + certificate, dense
   * fallback. `dense`: the dense solver only.
   */
  method?: "auto" | "sparse" | "dense";
  /** Candidate columns kept per row (default 32). */
  candidatesPerRow?: number;
  /** Candidate rows kept per column (default 8). */
  candidatesPerCol?: number;
  /** Certificate rounds before the dense fallback (default 6). */
  maxRounds?: number;
  /** Absolute tolerance on reduced costs (default 1e-9 × max(1, max |a|)). */
  tolerance?: number;
}

/** Counters describing how a solve went. */
export interface AssignmentStats {
  /** Which path produced the answer. */
  method: "sparse" | "dense";
  /** Certificate rounds run by the sparse path (0 for dense). */
  rounds: number;
  /** Candidate edges in the final sparse graph (0 for dense). */
  candidateEdges: number;
  /** Rows assigned by the row-reduction start (oriented problem). */
  initialAssigned: number;
  /** Shortest augmenting paths run by the sparse path. */
  augmentations: number;
  /** True when the dual certificate holds on the full matrix (always true on return). */
  certified: boolean;
  /** Most negative reduced cost found by the final check (≥ −tol). */
  minReducedCost: number;
  /** Rows the certificate had to scan in full (the others were proved by their bound). */
  certifiedRowScans: number;
  /** Wall time per phase in ms (select, solve, certify, dense); for benchmarks, not artifacts. */
  ms: Record<string, number>;
}

/** An optimal assignment of an n×m matrix. */
export interface Assignment {
  n: number;
  m: number;
  /** Column matched to each row, −1 for rows left unmatched (only when n > m); length n. */
  rowToCol: Int32Array;
  /** Row matched to each column, −1 for columns left unmatched (only when m > n); length m. */
  colToRow: Int32Array;
  /** Σ a[i, rowToCol[i]] over matched rows (float64), the optimum. */
  total: number;
  stats: AssignmentStats;
}

/**
 * Optimal one-to-one matching of the rows and columns of a row-major n×m matrix `a`,
 * min(n, m) pairs, minimising (or with `maximize`, maximising) the sum of matched entries.
 * @param a row-major n×m, finite values
 * @throws RangeError on a shape mismatch or a non-finite entry
 */
export function linearAssignment(
  a: Float32Array | Float64Array,
  n: number,
  m: number,
  opts: AssignmentOptions = {},
): Assignment {
  if (!Number.isInteger(n) || !Number.isInteger(m) || n < 0 || m < 0 || a.length !== n * m) {
    throw new RangeError(
      `linearAssignment: expected an n×m = ${n}×${m} matrix, got ${a.length} values`,
    );
  }
  const sign: 1 | -1 = opts.maximize ? -1 : 1;
  const maxAbs = finiteMaxAbs(a, m);
  const tol = opts.tolerance ?? 1e-9 * Math.max(1, maxAbs);
  const emptyStats: AssignmentStats = {
    method: "dense",
    rounds: 0,
    candidateEdges: 0,
    initialAssigned: 0,
    augmentations: 0,
    certified: true,
    minReducedCost: 0,
    certifiedRowScans: 0,
    ms: {},
  };
  if (n === 0 || m === 0) {
    return {
      n,
      m,
      rowToCol: new Int32Array(n).fill(-1),
      colToRow: new Int32Array(m).fill(-1),
      total: 0,
      stats: emptyStats,
    };
  }
  // Orient so that rows ≤ columns.
  const flip = n > m;
  const oa = flip ? transpose(a, n, m) : a;
  const on = flip ? m : n, om = flip ? n : m;
  const cost: DenseCost = { a: oa, n: on, m: om, sign };
  const method = opts.method ?? "auto";
  let state: AssignmentState;
  let stats: AssignmentStats;
  if (method === "dense" || (method === "auto" && on * om <= 64 * 64)) {
    const t0 = performance.now();
    state = solveDense(cost);
    const t1 = performance.now();
    const cert = certify(cost, state, tol);
    stats = {
      ...emptyStats,
      certified: cert.ok,
      minReducedCost: cert.minReduced,
      ms: { dense: t1 - t0, certify: performance.now() - t1 },
    };
    if (!cert.ok) throw new Error("linearAssignment: dense solve failed its certificate (bug)");
  } else {
    const r = solveSparseCertified(cost, tol, opts);
    state = r.state;
    stats = r.stats;
  }
  const rowToCol = new Int32Array(n).fill(-1);
  const colToRow = new Int32Array(m).fill(-1);
  let total = 0;
  for (let i = 0; i < on; i++) {
    const j = state.rowToCol[i];
    const [r, c] = flip ? [j, i] : [i, j];
    rowToCol[r] = c;
    colToRow[c] = r;
    total += a[r * m + c];
  }
  return { n, m, rowToCol, colToRow, total, stats };
}

/** max |a_t|, or a RangeError naming the first non-finite entry. */
function finiteMaxAbs(a: Float32Array | Float64Array, m: number): number {
  let hi = 0, lo = 0, sum = 0;
  for (let t = 0; t < a.length; t++) {
    const x = a[t];
    sum += x;
    if (x > hi) hi = x;
    else if (x < lo) lo = x;
  }
  if (!Number.isFinite(sum)) {
    for (let t = 0; t < a.length; t++) {
      if (!Number.isFinite(a[t])) {
        throw new RangeError(
          `linearAssignment: entry (${Math.floor(t / m)}, ${t % m}) is ${
            a[t]
          }; every cost must be finite`,
        );
      }
    }
  }
  return Math.max(hi, -lo);
}

/** Transpose of a row-major rows×cols matrix. */
function transpose(a: Float32Array | Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  }
  return out;
}

interface CertificateResult {
  ok: boolean;
  minReduced: number;
  /** Rows holding an entry with reduced cost < −tol. */
  badRows: number[];
}

/**
 * Check the dual certificate of `state` on the full cost: every reduced cost ≥ −tol, assigned
 * edges tight, every row assigned, and for n < m: v ≤ tol, |v_j| ≤ tol on free columns.
 */
function certify(cost: DenseCost, state: AssignmentState, tol: number): CertificateResult {
  return certificateOf(cost, state, tol, (i) => rowMinReduced(cost, i, state.v, Infinity));
}

/** min(low, min_j sign·a_ij − v_j) over the whole row i (the sign branch sits outside the loop). */
function rowMinReduced(cost: DenseCost, i: number, v: Float64Array, low: number): number {
  const { a, m, sign } = cost;
  const o = i * m;
  if (sign === 1) {
    for (let j = 0; j < m; j++) {
      const r = a[o + j] - v[j];
      if (r < low) low = r;
    }
  } else {
    for (let j = 0; j < m; j++) {
      const r = -a[o + j] - v[j];
      if (r < low) low = r;
    }
  }
  return low;
}

/**
 * The certificate checks of {@link certify} given each row's lowest reduced cost plus u_i
 * (`rowLow(i)` = min_j c_ij − v_j, or a proven lower bound of it).
 */
function certificateOf(
  cost: DenseCost,
  state: AssignmentState,
  tol: number,
  rowLow: (i: number) => number,
): CertificateResult {
  const { a, n, m, sign } = cost;
  const { u, v, rowToCol, colToRow } = state;
  let ok = true;
  let minReduced = Infinity;
  const badRows: number[] = [];
  for (let i = 0; i < n; i++) {
    const red = rowLow(i) - u[i];
    if (red < minReduced) minReduced = red;
    if (red < -tol) {
      ok = false;
      badRows.push(i);
    }
    const j = rowToCol[i];
    if (j < 0 || colToRow[j] !== i) ok = false;
    else if (Math.abs(sign * a[i * m + j] - u[i] - v[j]) > tol) ok = false;
  }
  if (n < m) {
    for (let j = 0; j < m; j++) {
      if (v[j] > tol || (colToRow[j] === -1 && Math.abs(v[j]) > tol)) ok = false;
    }
  }
  return { ok, minReduced, badRows };
}

/**
 * The same certificate as {@link certify}, but a row is scanned in full only when its bound
 * fails: every column outside row i's kRow best costs ≥ rowKth[i] and v_j ≤ max v, so
 * rowKth[i] − max v − u_i ≥ −tol proves all of them; the candidate edges are checked one by one.
 */
function certifySparse(
  cost: DenseCost,
  state: AssignmentState,
  tol: number,
  g: CandidateGraph,
  rowKth: Float64Array,
  dense: Uint8Array,
): CertificateResult & { scannedRows: number } {
  const { u, v } = state;
  let vmax = -Infinity;
  for (let j = 0; j < cost.m; j++) if (v[j] > vmax) vmax = v[j];
  let scannedRows = 0;
  const result = certificateOf(cost, state, tol, (i) => {
    let low = Infinity;
    for (let e = g.rowPtr[i], end = g.rowPtr[i + 1]; e < end; e++) {
      const r = g.cost[e] - v[g.col[e]];
      if (r < low) low = r;
    }
    if (!dense[i]) {
      const bound = rowKth[i] - vmax;
      if (bound - u[i] < -tol) {
        scannedRows++;
        low = rowMinReduced(cost, i, v, low);
      } else if (bound < low) low = bound;
    }
    return low;
  });
  return { ...result, scannedRows };
}

/** Result of {@link selectCandidates}. */
interface Candidates {
  /** Candidate columns of each row: its kRow best, then the columns that rank it in their kCol best. */
  rowSets: Int32Array[];
  /** min_j c_ij and its column (lowest on ties). */
  rowMin: Float64Array;
  rowArg: Int32Array;
  /** Every column outside row i's kRow best costs at least rowKth[i] (+∞ when all are kept). */
  rowKth: Float64Array;
}

/** One pass over the matrix: the K best columns per row, the K′ best rows per column. */
function selectCandidates(cost: DenseCost, kRow: number, kCol: number): Candidates {
  const { a, n, m, sign } = cost;
  kRow = Math.min(kRow, m);
  kCol = Math.min(kCol, n);
  // Row buffer: a max-heap of the kRow smallest costs seen (root = the largest kept).
  const hKey = new Float64Array(kRow);
  const hIdx = new Int32Array(kRow);
  const colKey = new Float64Array(m * kCol);
  const colIdx = new Int32Array(m * kCol);
  const colCount = new Int32Array(m);
  const colWorst = new Float64Array(m).fill(kCol > 0 ? Infinity : -Infinity);
  const rowSets: Int32Array[] = new Array(n);
  const rowMin = new Float64Array(n);
  const rowArg = new Int32Array(n);
  const rowKth = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * m;
    let cnt = 0;
    let worst = Infinity;
    let best = Infinity, arg = 0;
    for (let j = 0; j < m; j++) {
      const c = sign * a[o + j];
      if (c < worst) {
        if (c < best) {
          best = c;
          arg = j;
        }
        if (cnt < kRow) {
          // sift up
          let p = cnt++;
          while (p > 0) {
            const q = (p - 1) >> 1;
            if (hKey[q] >= c) break;
            hKey[p] = hKey[q];
            hIdx[p] = hIdx[q];
            p = q;
          }
          hKey[p] = c;
          hIdx[p] = j;
          if (cnt === kRow) worst = hKey[0];
        } else {
          // replace the root, sift down
          let p = 0;
          for (;;) {
            let q = 2 * p + 1;
            if (q >= kRow) break;
            if (q + 1 < kRow && hKey[q + 1] > hKey[q]) q++;
            if (hKey[q] <= c) break;
            hKey[p] = hKey[q];
            hIdx[p] = hIdx[q];
            p = q;
          }
          hKey[p] = c;
          hIdx[p] = j;
          worst = hKey[0];
        }
      }
      if (c < colWorst[j]) {
        const b = j * kCol;
        let p = colCount[j] < kCol ? colCount[j]++ : kCol - 1;
        while (p > 0 && colKey[b + p - 1] > c) {
          colKey[b + p] = colKey[b + p - 1];
          colIdx[b + p] = colIdx[b + p - 1];
          p--;
        }
        colKey[b + p] = c;
        colIdx[b + p] = i;
        if (colCount[j] === kCol) colWorst[j] = colKey[b + kCol - 1];
      }
    }
    rowSets[i] = hIdx.slice(0, cnt);
    rowMin[i] = best;
    rowArg[i] = arg;
    rowKth[i] = cnt === m ? Infinity : hKey[0];
  }
  if (kCol === 0) return { rowSets, rowMin, rowArg, rowKth };
  // Append the column candidates to their rows.
  const extraCount = new Int32Array(n);
  for (let j = 0; j < m; j++) {
    for (let t = 0; t < colCount[j]; t++) extraCount[colIdx[j * kCol + t]]++;
  }
  const merged: Int32Array[] = new Array(n);
  const fill = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    merged[i] = new Int32Array(rowSets[i].length + extraCount[i]);
    merged[i].set(rowSets[i]);
    fill[i] = rowSets[i].length;
  }
  for (let j = 0; j < m; j++) {
    for (let t = 0; t < colCount[j]; t++) {
      const i = colIdx[j * kCol + t];
      merged[i][fill[i]++] = j;
    }
  }
  return { rowSets: merged, rowMin, rowArg, rowKth };
}

/** CSR graph from per-row column lists (duplicates removed); `dense` rows take every column. */
function buildGraph(
  cost: DenseCost,
  rowSets: (Int32Array | number[])[],
  dense: Uint8Array,
): CandidateGraph {
  const { a, n, m, sign } = cost;
  const mark = new Int32Array(m).fill(-1);
  const rowPtr = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    let cnt = 0;
    if (dense[i]) cnt = m;
    else {
      for (const j of rowSets[i]) {
        if (mark[j] !== i) {
          mark[j] = i;
          cnt++;
        }
      }
    }
    rowPtr[i + 1] = rowPtr[i] + cnt;
  }
  mark.fill(-1);
  const col = new Int32Array(rowPtr[n]);
  const ecost = new Float64Array(rowPtr[n]);
  for (let i = 0; i < n; i++) {
    let p = rowPtr[i];
    const o = i * m;
    if (dense[i]) {
      for (let j = 0; j < m; j++) {
        col[p] = j;
        ecost[p++] = sign * a[o + j];
      }
      continue;
    }
    for (const j of rowSets[i]) {
      if (mark[j] !== i) {
        mark[j] = i;
        col[p] = j;
        ecost[p++] = sign * a[o + j];
      }
    }
  }
  return { n, m, rowPtr, col, cost: ecost };
}

function solveSparseCertified(
  cost: DenseCost,
  tol: number,
  opts: AssignmentOptions,
): { state: AssignmentState; stats: AssignmentStats } {
  const { a, n, m, sign } = cost;
  const kRow = Math.max(1, opts.candidatesPerRow ?? 32);
  const kCol = Math.max(0, opts.candidatesPerCol ?? 8);
  const maxRounds = Math.max(1, opts.maxRounds ?? 6);
  const ms: Record<string, number> = { select: 0, solve: 0, certify: 0, enlarge: 0, dense: 0 };
  let t = performance.now();
  const lap = (phase: string) => {
    const now = performance.now();
    ms[phase] += now - t;
    t = now;
  };
  const sel = selectCandidates(cost, kRow, kCol);
  const rowSets: number[][] = sel.rowSets.map((s) => Array.from(s));
  const dense = new Uint8Array(n);
  let state = rowReductionStart(n, m, sel.rowMin, sel.rowArg);
  let initialAssigned = 0;
  for (let i = 0; i < n; i++) if (state.rowToCol[i] !== -1) initialAssigned++;
  const sstats: SparseSolveStats = { augmentations: 0, scanned: 0 };
  let g = buildGraph(cost, rowSets, dense);
  lap("select");
  let certScans = 0;
  const addBuf = new Float64Array(kRow);
  const addIdx = new Int32Array(kRow);
  for (let round = 1; round <= maxRounds; round++) {
    // Augment; a row with no augmenting path in the graph becomes dense (always succeeds then).
    let stuck = solveSparseFrom(g, state, sstats);
    while (stuck.length > 0) {
      for (const s of stuck) {
        dense[s] = 1;
        // u_s = min_j (c_sj − v_j) keeps every reduced cost of the free row s ≥ 0.
        let low = Infinity;
        for (let j = 0; j < m; j++) low = Math.min(low, sign * a[s * m + j] - state.v[j]);
        state.u[s] = low;
      }
      g = buildGraph(cost, rowSets, dense);
      stuck = solveSparseFrom(g, state, sstats);
    }
    lap("solve");
    const cert = certifySparse(cost, state, tol, g, sel.rowKth, dense);
    certScans += cert.scannedRows;
    lap("certify");
    if (cert.ok) {
      return {
        state,
        stats: {
          method: "sparse",
          rounds: round,
          candidateEdges: g.rowPtr[n],
          initialAssigned,
          augmentations: sstats.augmentations,
          certified: true,
          minReducedCost: cert.minReduced,
          certifiedRowScans: certScans,
          ms,
        },
      };
    }
    if (round === maxRounds) break;
    // Enlarge: add the kRow most violating entries of every bad row.
    const { u, v } = state;
    for (const i of cert.badRows) {
      const o = i * m;
      let cnt = 0, worst = -tol;
      for (let j = 0; j < m; j++) {
        const r = sign * a[o + j] - u[i] - v[j];
        if (r < worst) {
          let p = cnt < kRow ? cnt++ : kRow - 1;
          while (p > 0 && addBuf[p - 1] > r) {
            addBuf[p] = addBuf[p - 1];
            addIdx[p] = addIdx[p - 1];
            p--;
          }
          addBuf[p] = r;
          addIdx[p] = j;
          if (cnt === kRow) worst = addBuf[kRow - 1];
        }
      }
      for (let q = 0; q < cnt; q++) rowSets[i].push(addIdx[q]);
    }
    g = buildGraph(cost, rowSets, dense);
    if (n === m) {
      // Warm repair (square: column duals are free): lower u_i of the bad rows to keep every
      // candidate reduced cost ≥ 0, and free those whose assigned edge is no longer tight.
      for (const i of cert.badRows) {
        let low = Infinity;
        for (let e = g.rowPtr[i]; e < g.rowPtr[i + 1]; e++) {
          low = Math.min(low, g.cost[e] - v[g.col[e]]);
        }
        u[i] = low;
        const j = state.rowToCol[i];
        if (j >= 0 && Math.abs(sign * a[i * m + j] - u[i] - v[j]) > tol) {
          state.rowToCol[i] = -1;
          state.colToRow[j] = -1;
        }
      }
    } else {
      // Rectangular: free columns must keep v_j = 0, so restart from the row reduction.
      state = rowReductionStart(n, m, sel.rowMin, sel.rowArg);
      dense.fill(0);
      g = buildGraph(cost, rowSets, dense);
    }
    lap("enlarge");
  }
  state = solveDense(cost);
  lap("dense");
  const cert = certify(cost, state, tol);
  lap("certify");
  if (!cert.ok) throw new Error("linearAssignment: dense fallback failed its certificate (bug)");
  return {
    state,
    stats: {
      method: "dense",
      rounds: maxRounds,
      candidateEdges: 0,
      initialAssigned,
      augmentations: sstats.augmentations,
      certified: true,
      minReducedCost: cert.minReduced,
      certifiedRowScans: certScans,
      ms,
    },
  };
}
