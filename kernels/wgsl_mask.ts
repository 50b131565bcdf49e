/**
 * WGSL sources of the WebGPU backend's elementwise, row/column and dense-mask kernels (the
 * ops `mul`, `clampMin`, `copy`, `scaleRows`, `columnSum`, `thresholdDense`, `maskAbove`,
 * `countAbove`). Same conventions as kernels/wgsl.ts: uniform `P` at binding 0, storage arrays
 * after it, 2-D grids for large 1-D launches.
 */
import { WG } from "./wgsl.ts";

const flat =
  `fn flatId(wg: vec3<u32>, lid: vec3<u32>, nx: u32) -> u32 { return (wg.y * nx + wg.x) * ${WG}u + lid.x; }`;
const head = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {`;

/** out = a ⊙ b; mode bit 1: a is out, bit 2: b is out. */
export const MUL = `
struct P { total: u32, nx: u32, mode: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${flat}
${head}
  let i = flatId(wg, lid, p.nx);
  if (i >= p.total) { return; }
  let o = out[i];
  let a = select(A[i], o, (p.mode & 1u) != 0u);
  let b = select(B[i], o, (p.mode & 2u) != 0u);
  out[i] = a * b;
}`;

/** x = max(x, lo) (NaN kept). */
export const CLAMP_MIN = `
struct P { total: u32, nx: u32, pad: u32, pad1: u32, lo: f32, pad2: u32, pad3: u32, pad4: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
${flat}
${head}
  let i = flatId(wg, lid, p.nx);
  if (i < p.total) { let x = X[i]; if (x < p.lo) { X[i] = p.lo; } }
}`;

/** dst = src (32-bit words). */
export const COPY = `
struct P { total: u32, nx: u32, pad: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> S: array<u32>;
@group(0) @binding(2) var<storage, read_write> D: array<u32>;
${flat}
${head}
  let i = flatId(wg, lid, p.nx);
  if (i < p.total) { D[i] = S[i]; }
}`;

/** out (m×q) = beta·out + v_i·a_i. */
export const SCALE_ROWS = `
struct P { total: u32, q: u32, nx: u32, pad: u32, beta: f32, pad2: u32, pad3: u32, pad4: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> V: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${flat}
${head}
  let i = flatId(wg, lid, p.nx);
  if (i >= p.total) { return; }
  let s = V[i / p.q] * A[i];
  out[i] = select(s, p.beta * out[i] + s, p.beta != 0.0);
}`;

/** out (q) = beta·out + Σ_i a_ij: one thread per column (coalesced across threads). */
export const COLUMN_SUM_DENSE = `
struct P { m: u32, q: u32, nx: u32, pad: u32, beta: f32, pad2: u32, pad3: u32, pad4: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${flat}
${head}
  let j = flatId(wg, lid, p.nx);
  if (j >= p.q) { return; }
  var acc = 0.0;
  for (var i = 0u; i < p.m; i++) { acc += A[i * p.q + j]; }
  out[j] = select(acc, p.beta * out[j] + acc, p.beta != 0.0);
}`;

/**
 * out = (x or pre) where pre > theta (per column; thetaLen 1: shared), else 0.
 * mode bit 1: x is out (read from out); bit 2: no x, the value is pre.
 */
export const MASK_ABOVE = `
struct P { total: u32, q: u32, nx: u32, mode: u32, thetaLen: u32, pad: u32, pad2: u32, pad3: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read> theta: array<f32>;
@group(0) @binding(3) var<storage, read> X: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
${flat}
${head}
  let i = flatId(wg, lid, p.nx);
  if (i >= p.total) { return; }
  let t = select(theta[i % p.q], theta[0], p.thetaLen == 1u);
  let v = pre[i];
  var x = v;
  if ((p.mode & 1u) != 0u) { x = out[i]; } else if ((p.mode & 2u) == 0u) { x = X[i]; }
  out[i] = select(0.0, x, v > t);
}`;

/** out (q) = beta·out + #{i : pre_ij > theta_j}: one thread per column. */
export const COUNT_ABOVE = `
struct P { m: u32, q: u32, nx: u32, thetaLen: u32, beta: f32, pad2: u32, pad3: u32, pad4: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read> theta: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${flat}
${head}
  let j = flatId(wg, lid, p.nx);
  if (j >= p.q) { return; }
  let t = select(theta[j], theta[0], p.thetaLen == 1u);
  var n = 0u;
  for (var i = 0u; i < p.m; i++) { if (pre[i * p.q + j] > t) { n++; } }
  out[j] = select(f32(n), p.beta * out[j] + f32(n), p.beta != 0.0);
}`;
