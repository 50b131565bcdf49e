/** Placeholder replaced below. */
import type { Backend } from "./backend.ts";
/** Create the WebGPU backend on an adapter. */
export function createWebGpuBackend(_adapter: GPUAdapter): Promise<Backend> {
  return Promise.reject(new Error("webgpu backend: not implemented yet"));
}
