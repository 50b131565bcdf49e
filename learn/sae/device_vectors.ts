/**
 * Device-side vector helpers the SAE trainers need, composed from {@link Backend} ops only
 * (no host round trip): row scaling, elementwise products, clamping, 1-D ↔ 2-D moves.
 *
 * The Backend has no elementwise product or clamp, so these use an identity sparsity pattern
 * (entry e at row e, column e): with it, `sparseTransposeProduct` scales rows, `sparseSample`
 * multiplies elementwise and `sparseOuterToColumns` turns a vector into a 1×m row. Each helper
 * costs O(m·q) like the op it replaces. Scratch tensors are cached per shape and released by
 * {@link DeviceVectors.dispose}.
 */
import type { Backend, SparseCodes, Tensor } from "../../kernels/backend.ts";

/** Helpers bound to one backend; create one per training run and dispose it at the end. */
export class DeviceVectors {
  readonly #b: Backend;
  readonly #identity = new Map<number, SparseCodes>();
  readonly #rowPattern = new Map<number, SparseCodes>();
  readonly #clampCodes = new Map<number, SparseCodes>();
  readonly #tensors = new Map<string, Tensor>();

  /** @param backend the backend that owns every tensor passed to the helpers. */
  constructor(backend: Backend) {
    this.#b = backend;
  }

  /** Cached tensor filled with `value` of the given shape (do not modify it). */
  constant(shape: readonly number[], value: number): Tensor {
    const key = `const:${value}:${shape.join("x")}`;
    let t = this.#tensors.get(key);
    if (!t) {
      const size = shape.reduce((a, b) => a * b, 1);
      t = this.#b.upload(new Float32Array(size).fill(value), shape);
      this.#tensors.set(key, t);
    }
    return t;
  }

  /** Cached scratch tensor of a shape under a name (contents undefined between uses). */
  scratch(name: string, shape: readonly number[]): Tensor {
    const key = `scratch:${name}:${shape.join("x")}`;
    let t = this.#tensors.get(key);
    if (!t) {
      t = this.#b.zeros(shape);
      this.#tensors.set(key, t);
    }
    return t;
  }

  /** Set every element of `t` (f32) to zero. */
  zero(t: Tensor): void {
    this.#b.axpby(0, this.constant(t.shape, 0), 0, this.constant(t.shape, 0), t);
  }

  /** Set every element of `t` (f32) to `value`. */
  fill(t: Tensor, value: number): void {
    this.#b.axpby(value, this.constant(t.shape, 1), 0, this.constant(t.shape, 0), t);
  }

  /** Identity sparsity pattern of size m: rows m, cols m, entry e = (e, e) with value 1. */
  identity(m: number): SparseCodes {
    let z = this.#identity.get(m);
    if (!z) {
      z = this.#b.sparse(m, m, m);
      const ptr = new Int32Array(m + 1);
      for (let i = 0; i <= m; i++) ptr[i] = i;
      this.#b.write(z.rowPtr, ptr);
      this.#b.write(z.index, ptr.subarray(0, m));
      this.#b.write(z.value, new Float32Array(m).fill(1));
      this.#identity.set(m, z);
    }
    return z;
  }

  /** One-row pattern of width q: rows 1, cols q, entry j = (0, j) with value 1. */
  #row(q: number): SparseCodes {
    let z = this.#rowPattern.get(q);
    if (!z) {
      z = this.#b.sparse(1, q, q);
      const idx = new Int32Array(q);
      for (let j = 0; j < q; j++) idx[j] = j;
      this.#b.write(z.rowPtr, Int32Array.of(0, q));
      this.#b.write(z.index, idx);
      this.#b.write(z.value, new Float32Array(q).fill(1));
      this.#rowPattern.set(q, z);
    }
    return z;
  }

  /** out (m×q) = beta·out + diag(v)·a, with v f32 [m] and a (m×q). `out` must not alias `a`. */
  scaleRows(v: Tensor, a: Tensor, out: Tensor, beta = 0): void {
    const m = a.shape[0];
    this.#b.sparseTransposeProduct(this.identity(m), v, a, out, beta);
  }

  /** out (m×1) = v (f32 [m]) as a column. */
  toColumn(v: Tensor, out: Tensor): void {
    const m = v.size;
    this.scaleRows(v, this.constant([m, 1], 1), out);
  }

  /** out (1×m) = v (f32 [m]) as a row. */
  toRow(v: Tensor, out: Tensor): void {
    const m = v.size;
    this.#b.sparseOuterToColumns(this.constant([m, 1], 1), this.identity(m), v, out, 0);
  }

  /** out f32 [q] = row (1×q) as a plain vector. */
  rowToVector(row: Tensor, out: Tensor): void {
    const q = row.shape[1];
    this.#b.sparseSample(row, this.#eye(q), this.#row(q), out);
  }

  /** Dense q×q identity matrix (cached). */
  #eye(q: number): Tensor {
    const key = `eye:${q}`;
    let t = this.#tensors.get(key);
    if (!t) {
      const e = new Float32Array(q * q);
      for (let i = 0; i < q; i++) e[i * q + i] = 1;
      t = this.#b.upload(e, [q, q]);
      this.#tensors.set(key, t);
    }
    return t;
  }

  /** out f32 [m] = a ⊙ b (a, b f32 [m]); out may alias a or b. */
  mul(a: Tensor, b: Tensor, out: Tensor): void {
    const m = a.size;
    const colA = this.scratch("mul.a", [m, 1]);
    const colAB = this.scratch("mul.ab", [m, 1]);
    this.toColumn(a, colA);
    this.scaleRows(b, colA, colAB);
    this.#b.sparseSample(colAB, this.constant([m, 1], 1), this.identity(m), out);
  }

  /** v ← max(v, lo) elementwise, in place (v f32 [m]). */
  clampMin(v: Tensor, lo: number): void {
    const m = v.size;
    const shifted = this.scratch("clamp.shift", [m]);
    const row = this.scratch("clamp.row", [1, m]);
    let z = this.#clampCodes.get(m);
    if (!z) {
      z = this.#b.sparse(1, m, m);
      this.#clampCodes.set(m, z);
    }
    this.#b.axpby(1, v, -lo, this.constant([m], 1), shifted);
    this.toRow(shifted, row);
    this.#b.threshold(row, this.constant([1], 0), z);
    this.zero(v);
    this.#b.sparseColumnSum(z, z.value, v, 1);
    this.#b.axpby(1, v, lo, this.constant([m], 1), v);
  }

  /** Release every cached tensor and pattern. */
  dispose(): void {
    for (const t of this.#tensors.values()) this.#b.dispose(t);
    for (const m of [this.#identity, this.#rowPattern, this.#clampCodes]) {
      for (const z of m.values()) this.#b.disposeSparse(z);
      m.clear();
    }
    this.#tensors.clear();
  }
}
