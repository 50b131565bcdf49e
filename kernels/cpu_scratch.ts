/**
 * The CPU backend's scratch: one pool of named heap tensors (the native kernels' slab copies,
 * the column view, per-thread partials and bounds, candidate buffers), each grown on demand and
 * reused by every later call that asks for the same name.
 */
import type { DType } from "./backend.ts";
import type { CpuTensor } from "./cpu_tensor.ts";

/** Allocation and release of heap tensors (the backend's). */
export interface TensorHeap {
  /** A new zeroed tensor (a plain array, ptr −1, when the heap is full). */
  alloc(shape: readonly number[], dtype: DType): CpuTensor;
  /** Release a tensor. */
  dispose(t: CpuTensor): void;
}

/** Named scratch tensors in the wasm heap. */
export class ScratchPool {
  #slots = new Map<string, CpuTensor>();
  constructor(readonly heap: TensorHeap) {}

  /**
   * Scratch `name` of at least `size` elements of `dtype` in the heap (contents unspecified:
   * what the last user left), or null when the heap is full. A slot that must grow is released
   * and allocated again at max(size, its old size).
   */
  get(name: string, size: number, dtype: DType = "f32"): CpuTensor | null {
    let t = this.#slots.get(name);
    if (!t || t.size < size || t.dtype !== dtype) {
      const old = t && t.dtype === dtype ? t.size : 0;
      if (t) this.heap.dispose(t);
      t = this.heap.alloc([Math.max(size, old, 1)], dtype);
      this.#slots.set(name, t);
    }
    return t.ptr < 0 ? null : t;
  }

  /** Several slots at once, named `<group>.<key>`: all in the heap, or null. */
  group<K extends string>(
    group: string,
    want: Record<K, [size: number, dtype: DType]>,
  ): Record<K, CpuTensor> | null {
    const out = {} as Record<K, CpuTensor>;
    for (const name of Object.keys(want) as K[]) {
      const [size, dtype] = want[name];
      const t = this.get(`${group}.${name}`, size, dtype);
      if (!t) return null;
      out[name] = t;
    }
    return out;
  }
}
