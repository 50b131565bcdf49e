/**
 * A linear probe separating images from texts: class-balanced, L2-regularised logistic
 * regression fitted by L-BFGS in float64 (method.md §6). O(n·d) per iteration, no d×d matrix.
 */
import { UserError } from "../pipeline/errors.ts";

/** Options of {@link fitLogisticProbe}. */
export interface LogisticProbeOptions {
  /** L2 penalty on the weights (not the intercept), on the mean weighted loss. Default 1e-4. */
  l2?: number;
  /** Maximum L-BFGS iterations. Default 200. */
  maxIter?: number;
  /** Stop when the gradient's max-norm falls below this. Default 1e-6. */
  tol?: number;
  /** Weight the classes so that each contributes half of the loss (default true: 1:5 data). */
  balanced?: boolean;
}

/** A fitted probe: score(a) = ⟨a, w⟩ + b; positive scores predict class 1 (image). */
export interface LogisticProbe {
  /** Weights, length d. */
  w: Float64Array;
  /** Intercept. */
  b: number;
  /** Iterations used. */
  iterations: number;
  /** Final objective (mean weighted log-loss + penalty). */
  loss: number;
}

/**
 * Fit a logistic-regression probe on rows `x` (n×d row-major) with labels `y` (1 = image,
 * 0 = text). Deterministic (no randomness).
 */
export function fitLogisticProbe(
  x: Float32Array,
  n: number,
  d: number,
  y: ArrayLike<number | boolean>,
  opts: LogisticProbeOptions = {},
): LogisticProbe {
  if (x.length !== n * d) {
    throw new UserError(`logistic probe: x has ${x.length} values, expected n·d = ${n * d}`);
  }
  if (y.length !== n) throw new UserError(`logistic probe: ${y.length} labels for ${n} rows`);
  const l2 = opts.l2 ?? 1e-4;
  const maxIter = opts.maxIter ?? 200;
  const tol = opts.tol ?? 1e-6;
  let nPos = 0;
  for (let i = 0; i < n; i++) if (y[i]) nPos++;
  if (nPos === 0 || nPos === n) {
    throw new UserError(
      "logistic probe: the rows hold one modality only; a modality probe needs image and text rows",
    );
  }
  const balanced = opts.balanced ?? true;
  const wPos = balanced ? 0.5 / nPos : 1 / n;
  const wNeg = balanced ? 0.5 / (n - nPos) : 1 / n;
  const p = d + 1; // last entry: intercept
  const margin = new Float64Array(n);

  const resid = new Float64Array(n);
  // Four rows at a time: each row's margin is still summed over t in order, and each gradient
  // entry still adds its rows in order, so the results are those of the plain loops bit for
  // bit; the four independent sums only hide the add latency and a quarter of the grad traffic.
  const n4 = n - (n % 4);
  const objective = (theta: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    const b = theta[d];
    for (let i = 0; i < n4; i += 4) {
      let s0 = b, s1 = b, s2 = b, s3 = b;
      const o0 = i * d, o1 = o0 + d, o2 = o1 + d, o3 = o2 + d;
      for (let t = 0; t < d; t++) {
        const w = theta[t];
        s0 += x[o0 + t] * w;
        s1 += x[o1 + t] * w;
        s2 += x[o2 + t] * w;
        s3 += x[o3 + t] * w;
      }
      margin[i] = s0;
      margin[i + 1] = s1;
      margin[i + 2] = s2;
      margin[i + 3] = s3;
    }
    for (let i = n4; i < n; i++) {
      let s = b;
      const o = i * d;
      for (let t = 0; t < d; t++) s += x[o + t] * theta[t];
      margin[i] = s;
    }
    let loss = 0;
    let g0 = 0;
    for (let i = 0; i < n; i++) {
      const yi = y[i] ? 1 : 0;
      const wi = yi ? wPos : wNeg;
      const s = margin[i];
      // log(1 + exp(-s)) for y=1, log(1 + exp(s)) for y=0, computed stably.
      const z = yi ? -s : s;
      loss += wi * (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));
      const sig = 1 / (1 + Math.exp(-s));
      const r = wi * (sig - yi);
      resid[i] = r;
      g0 += r;
    }
    grad[d] = g0;
    for (let i = 0; i < n4; i += 4) {
      const r0 = resid[i], r1 = resid[i + 1], r2 = resid[i + 2], r3 = resid[i + 3];
      const o0 = i * d, o1 = o0 + d, o2 = o1 + d, o3 = o2 + d;
      for (let t = 0; t < d; t++) {
        let g = grad[t];
        g += r0 * x[o0 + t];
        g += r1 * x[o1 + t];
        g += r2 * x[o2 + t];
        g += r3 * x[o3 + t];
        grad[t] = g;
      }
    }
    for (let i = n4; i < n; i++) {
      const r = resid[i];
      const o = i * d;
      for (let t = 0; t < d; t++) grad[t] += r * x[o + t];
    }
    for (let t = 0; t < d; t++) {
      loss += 0.5 * l2 * theta[t] * theta[t];
      grad[t] += l2 * theta[t];
    }
    return loss;
  };

  const { theta, iterations, value } = lbfgs(objective, new Float64Array(p), maxIter, tol);
  return { w: theta.slice(0, d), b: theta[d], iterations, loss: value };
}

/** Probe scores ⟨a, w⟩ + b of rows `x` (n×d); length n. */
export function probeScores(
  x: Float32Array,
  n: number,
  d: number,
  w: ArrayLike<number>,
  b = 0,
): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b;
    const o = i * d;
    for (let t = 0; t < d; t++) s += x[o + t] * w[t];
    out[i] = s;
  }
  return out;
}

/**
 * Balanced accuracy (mean of the per-class accuracies) of the rule `score > 0 ⇒ class 1`:
 * 0.5 is chance whatever the class ratio. NaN when a class is empty.
 */
export function balancedAccuracy(
  scores: ArrayLike<number>,
  y: ArrayLike<number | boolean>,
): number {
  let tp = 0, pos = 0, tn = 0, neg = 0;
  for (let i = 0; i < scores.length; i++) {
    if (y[i]) {
      pos++;
      if (scores[i] > 0) tp++;
    } else {
      neg++;
      if (scores[i] <= 0) tn++;
    }
  }
  if (pos === 0 || neg === 0) return NaN;
  return 0.5 * (tp / pos + tn / neg);
}

/** Limited-memory BFGS with a backtracking Armijo line search (memory 10). */
function lbfgs(
  f: (theta: Float64Array, grad: Float64Array) => number,
  theta0: Float64Array,
  maxIter: number,
  tol: number,
): { theta: Float64Array; iterations: number; value: number } {
  const p = theta0.length;
  const m = 10;
  let theta = theta0.slice();
  let grad = new Float64Array(p);
  let value = f(theta, grad);
  const sList: Float64Array[] = [];
  const yList: Float64Array[] = [];
  const rhoList: number[] = [];
  const dir = new Float64Array(p);
  const alpha = new Float64Array(m);
  let iter = 0;
  for (; iter < maxIter; iter++) {
    let gMax = 0;
    for (let t = 0; t < p; t++) gMax = Math.max(gMax, Math.abs(grad[t]));
    if (gMax < tol) break;
    // Two-loop recursion: dir = -H·grad.
    for (let t = 0; t < p; t++) dir[t] = -grad[t];
    for (let h = sList.length - 1; h >= 0; h--) {
      alpha[h] = rhoList[h] * dot(sList[h], dir);
      axpy(-alpha[h], yList[h], dir);
    }
    if (sList.length > 0) {
      const last = sList.length - 1;
      const gamma = dot(sList[last], yList[last]) / dot(yList[last], yList[last]);
      for (let t = 0; t < p; t++) dir[t] *= gamma;
    }
    for (let h = 0; h < sList.length; h++) {
      const beta = rhoList[h] * dot(yList[h], dir);
      axpy(alpha[h] - beta, sList[h], dir);
    }
    let slope = dot(grad, dir);
    if (!(slope < 0)) {
      for (let t = 0; t < p; t++) dir[t] = -grad[t];
      slope = dot(grad, dir);
      sList.length = 0;
      yList.length = 0;
      rhoList.length = 0;
    }
    let step = sList.length === 0 ? 1 / Math.max(1, Math.sqrt(-slope)) : 1;
    const next = new Float64Array(p);
    const nextGrad = new Float64Array(p);
    let nextValue = Infinity;
    let accepted = false;
    for (let ls = 0; ls < 40; ls++) {
      for (let t = 0; t < p; t++) next[t] = theta[t] + step * dir[t];
      nextValue = f(next, nextGrad);
      if (nextValue <= value + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) break;
    const s = new Float64Array(p);
    const yv = new Float64Array(p);
    for (let t = 0; t < p; t++) {
      s[t] = next[t] - theta[t];
      yv[t] = nextGrad[t] - grad[t];
    }
    const sy = dot(s, yv);
    if (sy > 1e-12) {
      if (sList.length === m) {
        sList.shift();
        yList.shift();
        rhoList.shift();
      }
      sList.push(s);
      yList.push(yv);
      rhoList.push(1 / sy);
    }
    const improvement = value - nextValue;
    theta = next;
    grad = nextGrad;
    value = nextValue;
    if (improvement < 1e-14 * Math.max(1, Math.abs(value))) {
      iter++;
      break;
    }
  }
  return { theta, iterations: iter, value };
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i] += a * x[i];
}
