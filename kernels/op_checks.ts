/**
 * Shape checks of the {@link Backend} ops, shared by the CPU and WebGPU backends: each takes the
 * shapes (and the codes' dimensions) of an op's arguments, throws a RangeError naming the op on
 * a mismatch, and returns the dimensions the op runs on.
 */
import type { GemmOptions, Tensor } from "./backend.ts";
import { checkShape, shapeError, shapeSize } from "./shape.ts";

/** The dimensions of sparse codes that the checks need. */
interface Codes {
  readonly rows: number;
  readonly cols: number;
  readonly capacity: number;
}

/** gemm: C (m×n) = op(A)·op(B), op(A) m×k, op(B) k×n. */
export function gemmDims(
  a: Tensor,
  b: Tensor,
  c: Tensor,
  opts: GemmOptions,
): { m: number; n: number; k: number } {
  const as = a.shape, bs = b.shape, cs = c.shape;
  if (as.length !== 2 || bs.length !== 2 || cs.length !== 2) {
    throw shapeError("gemm", "A, B and C must be 2-D");
  }
  const tA = !!opts.transA, tB = !!opts.transB;
  const m = tA ? as[1] : as[0], k = tA ? as[0] : as[1];
  const kb = tB ? bs[1] : bs[0], n = tB ? bs[0] : bs[1];
  if (k !== kb) throw shapeError("gemm", `inner dimensions ${k} ≠ ${kb}`);
  checkShape("gemm C", cs, [m, n]);
  return { m, n, k };
}

/** linear: x n×d, w d×c (c×d with transW), out n×c, bias c. */
export function linearDims(
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  out: Tensor,
  transW: boolean,
): { n: number; d: number; c: number } {
  const xs = x.shape, ws = w.shape;
  if (xs.length !== 2 || ws.length !== 2) throw shapeError("linear", "x and w must be 2-D");
  const [n, d] = xs;
  const c = transW ? ws[0] : ws[1];
  checkShape("linear w", ws, transW ? [c, d] : [d, c]);
  checkShape("linear out", out.shape, [n, c]);
  if (bias) checkShape("linear bias", bias.shape, [c]);
  return { n, d, c };
}

/** A 1-D tensor of `length` entries. */
export function checkVector(what: string, t: Tensor, length: number): void {
  checkShape(what, t.shape, [length]);
}

/** The encoder of `op` for codes n×c: x n×d, w c×d (a row per concept), bias c; returns d. */
export function encoderDims(
  op: string,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  n: number,
  c: number,
): number {
  const d = x.shape[1];
  checkShape(`${op} x`, x.shape, [n, d]);
  checkShape(`${op} w`, w.shape, [c, d]);
  if (bias) checkVector(`${op} bias`, bias, c);
  return d;
}

/** A sparsification op's pre (n×c) against its codes: [n, c]. */
export function codesDims(op: string, pre: Tensor, z: Codes): [number, number] {
  const s = pre.shape;
  if (s.length !== 2) throw shapeError(op, "pre must be 2-D");
  if (z.rows !== s[0] || z.cols !== s[1]) {
    throw shapeError(op, `codes are ${z.rows}×${z.cols}, pre is ${s[0]}×${s[1]}`);
  }
  return [s[0], s[1]];
}

/** topkRows: k in 1..c and n·k within the capacity. */
export function checkTopk(n: number, c: number, k: number, z: Codes): void {
  if (!Number.isInteger(k) || k < 1 || k > c) {
    throw shapeError("topkRows", `k=${k} not in 1..${c}`);
  }
  if (n * k > z.capacity) throw shapeError("topkRows", `n·k=${n * k} > capacity ${z.capacity}`);
}

/** batchTopk / encodeBatchTopk: k in (0, c]; returns K = min(round(n·k), n·c) (≤ capacity). */
export function batchTopkCount(op: string, n: number, c: number, k: number, z: Codes): number {
  if (!(k > 0) || k > c) throw shapeError(op, `k=${k} not in (0, ${c}]`);
  const K = Math.min(Math.round(n * k), n * c);
  if (K > z.capacity) throw shapeError(op, `n·k=${K} > capacity ${z.capacity}`);
  return K;
}

/** A threshold vector: q entries (per column) or one (shared). */
export function checkTheta(op: string, theta: Tensor, q: number): void {
  if (theta.size !== q && theta.size !== 1) {
    throw shapeError(op, `theta has ${theta.size} entries, expected ${q} or 1`);
  }
}

/** A 1-D or 2-D tensor read as rows: [m, q] (1-D: one row). */
export function rowsOf(t: Tensor, what: string): [number, number] {
  const s = t.shape;
  if (s.length === 1) return [1, s[0]];
  if (s.length !== 2) throw shapeError(what, "expects a 1-D or 2-D tensor");
  return [s[0], s[1]];
}

/** A dictionary (c×d) of the codes' c: returns d. */
export function dictWidth(op: string, dict: Tensor, z: Codes): number {
  const s = dict.shape;
  if (s.length !== 2 || s[0] !== z.cols) {
    throw shapeError(op, `dict must be ${z.cols}×d, got [${s}]`);
  }
  return s[1];
}

/** A decoder bias of length d (or none). */
function checkBias(op: string, bias: Tensor | null, d: number): void {
  if (bias && bias.size !== d) throw shapeError(op, `bias length ${bias.size} ≠ d=${d}`);
}

/** sparseDecode: returns d. */
export function decodeDims(dict: Tensor, bias: Tensor | null, out: Tensor, z: Codes): number {
  const d = dictWidth("sparseDecode", dict, z);
  checkShape("sparseDecode out", out.shape, [z.rows, d]);
  checkBias("sparseDecode", bias, d);
  return d;
}

/** sparseResidual: returns d. */
export function residualDims(
  dict: Tensor,
  bias: Tensor | null,
  x: Tensor,
  r: Tensor,
  sse: Tensor,
  vals: Tensor | null,
  z: Codes,
): number {
  const d = dictWidth("sparseResidual", dict, z);
  checkShape("sparseResidual x", x.shape, [z.rows, d]);
  checkShape("sparseResidual r", r.shape, [z.rows, d]);
  if (r === x) throw shapeError("sparseResidual", "r must not alias x");
  checkBias("sparseResidual", bias, d);
  if (vals) checkShape("sparseResidual vals", vals.shape, [z.capacity]);
  if (sse.size < 1) throw shapeError("sparseResidual", "sse must hold one element");
  return d;
}

/** sparseSample: returns d. */
export function sampleDims(g: Tensor, dict: Tensor, vals: Tensor, z: Codes): number {
  const d = dictWidth("sparseSample", dict, z);
  checkShape("sparseSample g", g.shape, [z.rows, d]);
  checkShape("sparseSample vals", vals.shape, [z.capacity]);
  return d;
}

/** sparseTransposeProduct: g n×d, out c×d, vals [capacity]; returns d. */
export function transposeProductDims(
  vals: Tensor | null,
  g: Tensor,
  out: Tensor,
  z: Codes,
): number {
  const gs = g.shape;
  if (gs.length !== 2 || gs[0] !== z.rows) {
    throw shapeError("sparseTransposeProduct", `g must be ${z.rows}×d, got [${gs}]`);
  }
  const d = gs[1];
  checkShape("sparseTransposeProduct out", out.shape, [z.cols, d]);
  if (vals && vals.size !== z.capacity) {
    throw shapeError("sparseTransposeProduct", `vals length ${vals.size} ≠ capacity`);
  }
  return d;
}

/** sparseColumnSum: vals [capacity], out [c]. */
export function checkSparseColumnSum(vals: Tensor, out: Tensor, z: Codes): void {
  checkShape("sparseColumnSum vals", vals.shape, [z.capacity]);
  checkShape("sparseColumnSum out", out.shape, [z.cols]);
}

/**
 * threshold's band: `lo` and `hi` as thresholds of c columns (c entries or 1), its codes `bandZ`
 * other than the threshold's own `z` (both n×c: see {@link codesDims}).
 */
export function checkThresholdBand(
  lo: Tensor,
  hi: Tensor,
  c: number,
  bandZ: Codes,
  z: Codes,
): void {
  checkTheta("threshold band lo", lo, c);
  checkTheta("threshold band hi", hi, c);
  if (bandZ === z) throw shapeError("threshold", "band.z must be other codes than z");
}

/** sparseAddScalar: vals [capacity]. */
export function checkSparseAddScalar(vals: Tensor, z: Codes): void {
  checkShape("sparseAddScalar vals", vals.shape, [z.capacity]);
}

/** axpby: x, y and out of one shape. */
export function checkAxpby(x: Tensor, y: Tensor, out: Tensor): void {
  checkShape("axpby y", y.shape, x.shape);
  checkShape("axpby out", out.shape, x.shape);
}

/** mul: three tensors of one size. */
export function checkMul(a: Tensor, b: Tensor, out: Tensor): void {
  if (b.size !== a.size || out.size !== a.size) {
    throw shapeError("mul", `sizes ${a.size}, ${b.size}, ${out.size} differ`);
  }
}

/** copy: same size and dtype. */
export function checkCopy(src: Tensor, dst: Tensor): void {
  if (src.size !== dst.size) throw shapeError("copy", `sizes ${src.size} ≠ ${dst.size}`);
  if (src.dtype !== dst.dtype) throw shapeError("copy", `dtypes ${src.dtype} ≠ ${dst.dtype}`);
}

/** scaleRows: a m×q, v [m], out m×q (not a); returns [m, q]. */
export function scaleRowsDims(v: Tensor, a: Tensor, out: Tensor): [number, number] {
  const as = a.shape;
  if (as.length !== 2) throw shapeError("scaleRows", "a must be 2-D");
  checkShape("scaleRows v", v.shape, [as[0]]);
  checkShape("scaleRows out", out.shape, as);
  if (a === out) throw shapeError("scaleRows", "out must not alias a");
  return [as[0], as[1]];
}

/** columnSum: out [q]; returns [m, q]. */
export function columnSumDims(a: Tensor, out: Tensor): [number, number] {
  const [m, q] = rowsOf(a, "columnSum a");
  checkShape("columnSum out", out.shape, [q]);
  return [m, q];
}

/** thresholdDense / maskAbove: pre m×q, theta, x and out like pre (out not pre); [m, q]. */
export function maskDims(
  op: string,
  pre: Tensor,
  theta: Tensor,
  x: Tensor | null,
  out: Tensor,
): [number, number] {
  const [m, q] = rowsOf(pre, `${op} pre`);
  if (x) checkShape(`${op} x`, x.shape, pre.shape);
  checkShape(`${op} out`, out.shape, pre.shape);
  if (pre === out) throw shapeError(op, "out must not alias pre");
  checkTheta(op, theta, q);
  return [m, q];
}

/** countAbove: out [q]; returns [m, q]. */
export function countAboveDims(pre: Tensor, theta: Tensor, out: Tensor): [number, number] {
  const [m, q] = rowsOf(pre, "countAbove pre");
  checkShape("countAbove out", out.shape, [q]);
  checkTheta("countAbove", theta, q);
  return [m, q];
}

/** normalizeRows: a 2-D tensor; returns [rows, cols]. */
export function normalizeRowsDims(d: Tensor): [number, number] {
  const s = d.shape;
  if (s.length !== 2) throw shapeError("normalizeRows", "expects a 2-D tensor");
  return [s[0], s[1]];
}

/** removeParallelComponent: dict and grad of one 2-D shape; returns [rows, d]. */
export function removeParallelDims(dict: Tensor, grad: Tensor): [number, number] {
  const s = dict.shape;
  if (s.length !== 2) throw shapeError("removeParallelComponent", "expects 2-D tensors");
  checkShape("removeParallelComponent grad", grad.shape, s);
  return [s[0], s[1]];
}

/** adamw: grad, m and v like param; a step ≥ 1; normalizeRows only on a 2-D parameter. */
export function checkAdamw(
  param: Tensor,
  grad: Tensor,
  m: Tensor,
  v: Tensor,
  o: { step: number; normalizeRows?: boolean },
): void {
  const s = param.shape;
  checkShape("adamw grad", grad.shape, s);
  checkShape("adamw m", m.shape, s);
  checkShape("adamw v", v.shape, s);
  if (!(o.step >= 1)) throw shapeError("adamw", `step must be ≥ 1, got ${o.step}`);
  if (o.normalizeRows && s.length !== 2) {
    throw shapeError("adamw", "normalizeRows needs a 2-D parameter");
  }
}

/** upload: the data's length is the product of the shape; returns it. */
export function uploadSize(data: { length: number }, shape: readonly number[]): number {
  const size = shapeSize(shape);
  if (data.length !== size) {
    throw shapeError("upload", `data length ${data.length} ≠ product of shape [${shape}]`);
  }
  return size;
}

/** write: the window offset..offset+length lies inside the tensor. */
export function checkWrite(t: Tensor, length: number, offset: number): void {
  if (offset < 0 || offset + length > t.size) {
    throw shapeError("write", `window ${offset}+${length} exceeds size ${t.size}`);
  }
}
