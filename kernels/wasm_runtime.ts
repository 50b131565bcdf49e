/**
 * Shared WebAssembly memory, a heap allocator over it and a pool of worker threads running the
 * SIMD kernels of {@link ./wasm_kernels.ts}: the CPU backend keeps its tensors here, so the
 * kernels (and OpenBLAS through FFI) work on them in place with no copies.
 *
 * Threads: `navigator.hardwareConcurrency` (at most 8) minus one workers, synchronised through
 * `Atomics` on control words in the memory; the calling thread takes the first share of each
 * job and blocks until the workers finish, so every op stays synchronous. Until the workers are
 * up (they start asynchronously), the calling thread runs whole jobs alone.
 */
import { Worker } from "node:worker_threads";
import {
  instantiateKernels,
  KERNEL_NAMES,
  type KernelExports,
  type KernelName,
  MAX_PAGES,
} from "./wasm_kernels.ts";

const PAGE = 65536;
const ALIGN = 64;
/** Bytes reserved at the start of the memory for the pool's control block. */
const CTRL_BYTES = 1024;

/** The runtime of one CPU backend. */
export class WasmRuntime {
  readonly memory: WebAssembly.Memory;
  readonly k: KernelExports;
  readonly threads: number;
  #free: Array<[number, number]> = []; // sorted [offset, size]
  #top = CTRL_BYTES;
  #sizes = new Map<number, number>();
  #workers: Worker[] = [];
  #ctrl: Int32Array;
  #args: Float64Array;
  #closed = false;

  /** @param threads total threads to use (default: hardware concurrency, max 8). */
  constructor(threads?: number) {
    this.memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    this.k = instantiateKernels(this.memory);
    this.#ctrl = new Int32Array(this.memory.buffer, 0, 64);
    this.#args = new Float64Array(this.memory.buffer, 256, 32);
    const hw = (globalThis.navigator?.hardwareConcurrency ?? 1) | 0;
    this.threads = Math.max(1, Math.min(8, threads ?? hw));
    for (let w = 0; w < this.threads - 1; w++) {
      const worker = new Worker(new URL("./cpu_worker.ts", import.meta.url));
      worker.postMessage({ memory: this.memory, ctrl: 0, worker: w });
      worker.unref();
      this.#workers.push(worker);
    }
  }

  /** Number of workers that have started (jobs are split only when all have). */
  get ready(): boolean {
    return Atomics.load(this.#ctrl, 4) === this.#workers.length;
  }

  /** Wait (asynchronously) until every worker has started, or `timeoutMs` has passed. */
  async whenReady(timeoutMs = 5000): Promise<boolean> {
    const t0 = performance.now();
    while (!this.ready && performance.now() - t0 < timeoutMs) {
      await new Promise((r) => setTimeout(r, 2));
    }
    return this.ready;
  }

  /** Allocate `bytes` (64-byte aligned) in the memory; returns the byte offset, or −1 when full. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.#free.length; i++) {
      const [off, sz] = this.#free[i];
      if (sz >= size) {
        if (sz === size) this.#free.splice(i, 1);
        else this.#free[i] = [off + size, sz - size];
        this.#sizes.set(off, size);
        return off;
      }
    }
    const off = this.#top;
    const end = off + size;
    if (end > MAX_PAGES * PAGE) return -1;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      // grow generously (at least 1/4 of what we have) to keep the number of grows small
      const want = Math.min(MAX_PAGES - have / PAGE, Math.max(pages, Math.ceil(have / PAGE / 4)));
      try {
        this.memory.grow(want);
      } catch {
        try {
          this.memory.grow(pages);
        } catch {
          return -1;
        }
      }
    }
    this.#top = end;
    this.#sizes.set(off, size);
    return off;
  }

  /** Release an allocation made by {@link alloc} (unknown offsets are ignored). */
  free(off: number): void {
    const size = this.#sizes.get(off);
    if (size === undefined) return;
    this.#sizes.delete(off);
    const f = this.#free;
    let lo = 0, hi = f.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (f[mid][0] < off) lo = mid + 1;
      else hi = mid;
    }
    f.splice(lo, 0, [off, size]);
    // coalesce with the next and the previous block
    if (lo + 1 < f.length && f[lo][0] + f[lo][1] === f[lo + 1][0]) {
      f[lo][1] += f[lo + 1][1];
      f.splice(lo + 1, 1);
    }
    if (lo > 0 && f[lo - 1][0] + f[lo - 1][1] === f[lo][0]) {
      f[lo - 1][1] += f[lo][1];
      f.splice(lo, 1);
      lo--;
    }
    // give the last block back to the bump pointer
    if (f.length && f[f.length - 1][0] + f[f.length - 1][1] === this.#top) {
      this.#top = f[f.length - 1][0];
      f.pop();
    }
  }

  /** A Float32Array view of `length` floats at byte offset `off`. */
  f32(off: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, off, length);
  }
  /** An Int32Array view of `length` ints at byte offset `off`. */
  i32(off: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, off, length);
  }

  /**
   * Run kernel `name` on the range [lo, hi), split in contiguous shares over the threads when
   * `work` (an estimate of the operations) is large enough to pay for the hand-off. `args` are
   * the kernel's arguments before its range. Range shares are multiples of `grain`.
   */
  run(name: KernelName, args: number[], lo: number, hi: number, work: number, grain = 1): void {
    const nw = this.#workers.length;
    if (nw === 0 || work < 200_000 || hi - lo < 2 * grain || this.#closed || !this.ready) {
      if (hi > lo) this.k[name](...args, lo, hi);
      return;
    }
    const T = nw + 1;
    const total = hi - lo;
    const share = Math.ceil(total / T / grain) * grain;
    const ctrl = this.#ctrl;
    for (let i = 0; i < args.length; i++) this.#args[i] = args[i];
    ctrl[2] = KERNEL_NAMES.indexOf(name);
    ctrl[3] = args.length;
    for (let w = 0; w < nw; w++) {
      ctrl[8 + 2 * w] = Math.min(hi, lo + (w + 1) * share);
      ctrl[9 + 2 * w] = Math.min(hi, lo + (w + 2) * share);
    }
    Atomics.store(ctrl, 1, 0);
    Atomics.add(ctrl, 0, 1);
    Atomics.notify(ctrl, 0);
    const myHi = Math.min(hi, lo + share);
    if (myHi > lo) this.k[name](...args, lo, myHi);
    let done: number;
    while ((done = Atomics.load(ctrl, 1)) < nw) Atomics.wait(ctrl, 1, done, 1000);
  }

  /** Stop the workers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ctrl[2] = -1;
    Atomics.add(this.#ctrl, 0, 1);
    Atomics.notify(this.#ctrl, 0);
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
  }
}
