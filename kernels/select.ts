/**
 * Backend selection: `createBackend("auto" | "cpu" | "webgpu")` and the GEMM provider chain
 * (OpenBLAS through FFI, else onnxruntime-node, else TypeScript loops).
 */
import type { Backend } from "./backend.ts";
import { CpuBackend } from "./cpu_backend.ts";
import type { GemmKind, GemmProvider } from "./gemm_provider.ts";
import { createJsGemm } from "./js_gemm.ts";
import { loadOpenBlas } from "./openblas.ts";
import { loadOrtGemm } from "./ort_gemm.ts";
import { loadNativeSparse, type NativeSparse } from "./native_sparse.ts";
import { UserError } from "../pipeline/errors.ts";

/** Which backend to create. */
export type BackendKind = "auto" | "cpu" | "webgpu";

/** Options of {@link createBackend}. */
export interface CreateBackendOptions {
  /** Receives one line saying which implementation runs. Default: none. */
  log?: (line: string) => void;
  /** Force a CPU GEMM provider (default: the fastest available). */
  gemm?: GemmKind;
  /**
   * CPU sparse kernels: `native` (built with the system C compiler, see native_sparse.ts; an error
   * when it cannot be built), `wasm`, or by default native when available, else wasm.
   */
  sparse?: "native" | "wasm";
  /**
   * `auto` only: the FLOPs of one unit of the caller's work (a training step's encoder GEMM,
   * 2·B·d·c). Below {@link AUTO_GPU_MIN_FLOPS} `auto` stays on the CPU even with a hardware GPU.
   */
  workFlops?: number;
}

/**
 * FLOPs of a unit of work from which `auto` takes a hardware GPU. Measured on an NVIDIA H200
 * through WebGPU: a training step costs 20–40 ms whatever its size up to a few GFLOP (its
 * dispatches and synchronisation), so the default study's steps (d 128, c 512, B 512: 0.07 GFLOP)
 * ran at 25–45 steps/s there against over 100 on two CPU cores, while the paper-scale step (4.8
 * GFLOP at B 512) ran as fast as on a 2-core AMX Xeon and 4× as fast as on a 2-core Zen 1.
 */
export const AUTO_GPU_MIN_FLOPS = 2e9;

/** Whether `auto` may take a hardware GPU for work units of `workFlops` (undefined: unknown). */
export function autoMayUseGpu(workFlops: number | undefined): boolean {
  return workFlops === undefined || workFlops >= AUTO_GPU_MIN_FLOPS;
}

/**
 * The GEMM provider of the given kind, or the fastest available (openblas > ort > js).
 * Throws a {@link UserError} when a forced kind is unavailable.
 */
export async function createGemmProvider(kind?: GemmKind): Promise<GemmProvider> {
  if (kind === undefined || kind === "openblas") {
    const p = loadOpenBlas();
    if (p) return p;
    if (kind === "openblas") {
      throw new UserError(
        "--gemm openblas: no CBLAS library found (tried libopenblas.so.0, libblas.so.3); install Debian's libopenblas0 or set CONCEPT_ATLAS_BLAS to its path",
      );
    }
  }
  if (kind === undefined || kind === "ort") {
    const p = await loadOrtGemm();
    if (p) return p;
    if (kind === "ort") {
      throw new UserError(
        "--gemm ort: onnxruntime-node could not be loaded; run `deno install` so that npm:onnxruntime-node is available",
      );
    }
  }
  return createJsGemm();
}

/** True when a WebGPU adapter is a software rasteriser (llvmpipe, lavapipe, SwiftShader, WARP). */
export function isSoftwareAdapter(info: GPUAdapterInfo | undefined, fallback?: boolean): boolean {
  if (fallback) return true;
  if (!info) return true;
  // deno-lint-ignore no-explicit-any
  if ((info as any).isFallbackAdapter) return true;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`
    .toLowerCase();
  return /llvmpipe|lavapipe|swiftshader|software|microsoft basic render|warp/.test(text);
}

/**
 * Whether this machine may have a hardware GPU. On Linux a hardware adapter needs a device node
 * (`/dev/dri/renderD*` or `/dev/nvidia*`); without one, `auto` does not probe WebGPU at all (the
 * probe would only find a software adapter, and the Vulkan loader prints noise on stderr).
 */
function mayHaveHardwareGpu(): boolean {
  if (Deno.build.os !== "linux") return true;
  const any = (dir: string, prefix: string) => {
    try {
      for (const e of Deno.readDirSync(dir)) if (e.name.startsWith(prefix)) return true;
    } catch { /* no such folder */ }
    return false;
  };
  return any("/dev/dri", "renderD") || any("/dev", "nvidia");
}

/**
 * Create a compute backend.
 * - `cpu`: host arrays; GEMM through `opts.gemm` or the fastest provider found.
 * - `webgpu`: WGSL kernels on `navigator.gpu` (any adapter, software included); throws a
 *   {@link UserError} when there is none.
 * - `auto`: WebGPU on a hardware adapter, else CPU (no probe at all without a GPU device node);
 *   CPU also for work units below {@link AUTO_GPU_MIN_FLOPS} (`opts.workFlops`).
 * Logs one line such as `backend: cpu:openblas (libopenblas.so.0)`.
 */
export async function createBackend(
  kind: BackendKind,
  opts: CreateBackendOptions = {},
): Promise<Backend> {
  const log = opts.log ?? (() => {});
  if (kind !== "auto" && kind !== "cpu" && kind !== "webgpu") {
    throw new UserError(`--backend ${kind}: unknown backend; use auto, cpu or webgpu`);
  }
  const small = !autoMayUseGpu(opts.workFlops);
  if (kind === "auto" && small && mayHaveHardwareGpu()) {
    log(
      `backend: auto keeps work of ${
        (opts.workFlops! / 1e9).toPrecision(2)
      } GFLOP a step on the CPU (a GPU from ${
        AUTO_GPU_MIN_FLOPS / 1e9
      } GFLOP; --backend webgpu forces it)`,
    );
  }
  if (kind === "webgpu" || (kind === "auto" && !small && mayHaveHardwareGpu())) {
    const gpu = (globalThis.navigator as Navigator & { gpu?: GPU }).gpu;
    let adapter: GPUAdapter | null = null;
    try {
      adapter = gpu ? await gpu.requestAdapter({ powerPreference: "high-performance" }) : null;
    } catch {
      adapter = null;
    }
    if (kind === "webgpu" && !adapter) {
      throw new UserError(
        "--backend webgpu: no WebGPU adapter found (navigator.gpu); use --backend cpu or install a Vulkan driver (mesa-vulkan-drivers)",
      );
    }
    if (adapter) {
      const info = adapter.info;
      const software = isSoftwareAdapter(info);
      if (kind === "webgpu" || !software) {
        const { createWebGpuBackend } = await import("./webgpu_backend.ts");
        const b = await createWebGpuBackend(adapter);
        log(`backend: ${b.name}${software ? " (software adapter)" : ""}`);
        return b;
      }
      log(`backend: WebGPU adapter "${info.description || info.vendor}" is software; using cpu`);
    }
  }
  const provider = await createGemmProvider(opts.gemm);
  let native: NativeSparse | null = null;
  if (opts.sparse !== "wasm") {
    const why: string[] = [];
    native = await loadNativeSparse((line) => why.push(line));
    if (!native && opts.sparse === "native") {
      throw new UserError(
        `sparse kernels: native kernels unavailable (${
          why.join("; ") || "not on Linux"
        }); install gcc or use the wasm kernels`,
      );
    }
  }
  const b = new CpuBackend(provider, undefined, native);
  await b.ready();
  log(`backend: ${b.name} (${provider.detail}; sparse kernels ${native ? native.detail : "wasm"})`);
  return b;
}
