/**
 * Device-side vector helpers the SAE trainers need, on {@link Backend} ops only (no host round
 * trip): cached constants and scratch tensors, zero/fill, row scaling, elementwise products,
 * clamping, 1-D ↔ 2-D moves. Scratch tensors are cached per shape and released by
 * {@link DeviceVectors.dispose}.
 */
import type { Backend, Tensor } from "../../kernels/backend.ts";

/** Helpers bound to one backend; create one per training run and dispose it at the end. */
export class DeviceVectors {
  readonly #b: Backend;
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

  /** out (m×q) = beta·out + diag(v)·a, with v f32 [m] and a (m×q). `out` must not alias `a`. */
  scaleRows(v: Tensor, a: Tensor, out: Tensor, beta = 0): void {
    this.#b.scaleRows(v, a, out, beta);
  }

  /** out (m×1) = v (f32 [m]) as a column. */
  toColumn(v: Tensor, out: Tensor): void {
    this.#b.copy(v, out);
  }

  /** out (1×m) = v (f32 [m]) as a row. */
  toRow(v: Tensor, out: Tensor): void {
    this.#b.copy(v, out);
  }

  /** out f32 [q] = row (1×q) as a plain vector. */
  rowToVector(row: Tensor, out: Tensor): void {
    this.#b.copy(row, out);
  }

  /** out f32 [m] = a ⊙ b (a, b f32 [m]); out may alias a or b. */
  mul(a: Tensor, b: Tensor, out: Tensor): void {
    this.#b.mul(a, b, out);
  }

  /** v ← max(v, lo) elementwise, in place (v f32 [m]). */
  clampMin(v: Tensor, lo: number): void {
    this.#b.clampMin(v, lo);
  }

  /** Release every cached tensor and pattern. */
  dispose(): void {
    for (const t of this.#tensors.values()) this.#b.dispose(t);
    this.#tensors.clear();
  }
}
