/**
 * Worker thread of the CPU backend's kernel pool (see {@link ./wasm_runtime.ts}): instantiates the
 * WebAssembly kernels on the backend's shared memory and runs its share of each job.
 * Protocol (Int32 control words at byte `ctrl` of the memory): [0] job sequence number,
 * [1] finished-worker count, [2] kernel index (−1: exit), [3] argument count, [8+2w], [9+2w] the
 * range of worker w; float64 arguments at byte `ctrl + 256`.
 */
import { parentPort } from "node:worker_threads";
import { instantiateKernels, KERNEL_NAMES } from "./wasm_kernels.ts";

interface Init {
  memory: WebAssembly.Memory;
  ctrl: number;
  worker: number;
}

parentPort!.once("message", (init: Init) => {
  const k = instantiateKernels(init.memory);
  const fns = KERNEL_NAMES.map((n) => k[n]);
  const ctrl = new Int32Array(init.memory.buffer, init.ctrl, 64);
  const args = new Float64Array(init.memory.buffer, init.ctrl + 256, 32);
  const w = init.worker;
  Atomics.add(ctrl, 4, 1);
  Atomics.notify(ctrl, 4);
  let seq = Atomics.load(ctrl, 0);
  for (;;) {
    Atomics.wait(ctrl, 0, seq);
    const s = Atomics.load(ctrl, 0);
    if (s === seq) continue;
    seq = s;
    const id = ctrl[2];
    if (id < 0) break;
    const n = ctrl[3];
    const a: number[] = [];
    for (let i = 0; i < n; i++) a.push(args[i]);
    const lo = ctrl[8 + 2 * w], hi = ctrl[9 + 2 * w];
    if (hi > lo) fns[id](...a, lo, hi);
    Atomics.add(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
  }
});
