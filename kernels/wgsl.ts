/**
 * WGSL sources of the WebGPU backend's kernels. Every kernel reads its scalar parameters from a
 * uniform struct `P` of 4-byte fields (binding 0) and its arrays from storage bindings 1.. .
 * Large 1-D launches use a 2-D grid: flat workgroup id = wg.y · nx + wg.x (nx from `P.nx`).
 */

/** Workgroup size of 1-D kernels. */
export const WG = 256;

const flat =
  `fn flatId(wg: vec3<u32>, lid: vec3<u32>, nx: u32) -> u32 { return (wg.y * nx + wg.x) * ${WG}u + lid.x; }`;

/** Register-tiled GEMM: 64×64 output tile per 16×16 workgroup, 4×4 outputs per thread. */
export const GEMM = `
struct P { M: u32, N: u32, K: u32, tA: u32, tB: u32, alpha: f32, beta: f32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<f32, 1024>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  let tid = lid.y * 16u + lid.x;
  var acc: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }
  for (var k0 = 0u; k0 < p.K; k0 += 16u) {
    // tile loads: neighbouring threads read neighbouring addresses (coalesced) whichever way
    // A and B are stored: along k for A and for a transposed B, along m for a transposed A and
    // along n for B
    for (var l = 0u; l < 4u; l++) {
      let e = tid + l * 256u;
      let mm = select(e / 16u, e % 64u, p.tA == 1u);
      let kk = select(e % 16u, e / 64u, p.tA == 1u);
      let gi = row0 + mm;
      let gk = k0 + kk;
      var v = 0.0;
      if (gi < p.M && gk < p.K) { v = A[select(gi * p.K + gk, gk * p.M + gi, p.tA == 1u)]; }
      As[kk * 64u + mm] = v;
      let kb = select(e / 64u, e % 16u, p.tB == 1u);
      let nn = select(e % 64u, e / 16u, p.tB == 1u);
      let gj = col0 + nn;
      let gkb = k0 + kb;
      var w = 0.0;
      if (gj < p.N && gkb < p.K) { w = B[select(gkb * p.N + gj, gj * p.K + gkb, p.tB == 1u)]; }
      Bs[kb * 64u + nn] = w;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = As[kk * 64u + lid.y * 4u + i]; }
      for (var j = 0u; j < 4u; j++) { b[j] = Bs[kk * 64u + lid.x * 4u + j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid.y * 4u + i;
    if (r >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + lid.x * 4u + j;
      if (c >= p.N) { continue; }
      var v = p.alpha * acc[i * 4u + j];
      if (p.beta != 0.0) { v += p.beta * C[r * p.N + c]; }
      C[r * p.N + c] = v;
    }
  }
}`;

/** out[i] = bias[i % c] for i < n·c. */
export const FILL_BIAS = `
struct P { total: u32, c: u32, nx: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${flat}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatId(wg, lid, p.nx);
  if (i < p.total) { out[i] = bias[i % p.c]; }
}`;

/** out = a·x + b·y; mode bit 1: x is out, bit 2: y is out (aliases read from `out`). */
export const AXPBY = `
struct P { total: u32, nx: u32, mode: u32, pad: u32, a: f32, b: f32, pad2: u32, pad3: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${flat}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatId(wg, lid, p.nx);
  if (i >= p.total) { return; }
  let o = out[i];
  let x = select(X[i], o, (p.mode & 1u) != 0u);
  let y = select(Y[i], o, (p.mode & 2u) != 0u);
  out[i] = p.a * x + p.b * y;
}`;

/** Partial sums of squares: one per workgroup (grid-strided), into `part`. */
export const SUMSQ_PARTIAL = `
struct P { total: u32, groups: u32, pad: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
var<workgroup> s: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var i = wg.x * ${WG}u + lid.x; i < p.total; i += p.groups * ${WG}u) { acc = fma(X[i], X[i], acc); }
  s[lid.x] = acc;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w >>= 1u) {
    if (lid.x < w) { s[lid.x] += s[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { part[wg.x] = s[0]; }
}`;

/** out[0] = (acc ? out[0] : 0) + Σ part. */
export const SUM_FINAL = `
struct P { count: u32, acc: u32, pad: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> s: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var i = lid.x; i < p.count; i += ${WG}u) { acc += part[i]; }
  s[lid.x] = acc;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w >>= 1u) {
    if (lid.x < w) { s[lid.x] += s[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { out[0] = select(0.0, out[0], p.acc == 1u) + s[0]; }
}`;

/** out[0] = min(1, maxNorm / sqrt(sumSq[0])). */
export const CLIP = `
struct P { maxNorm: f32, pad: u32, pad2: u32, pad3: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> S: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1)
fn main() {
  let n = sqrt(S[0]);
  out[0] = select(1.0, p.maxNorm / n, n > p.maxNorm);
}`;

/** x *= s[0]. */
export const SCALE = `
struct P { total: u32, nx: u32, pad: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> S: array<f32>;
@group(0) @binding(2) var<storage, read_write> X: array<f32>;
${flat}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatId(wg, lid, p.nx);
  if (i < p.total) { X[i] = X[i] * S[0]; }
}`;

const rowReduce = `
var<workgroup> s: array<f32, 64>;
fn reduce64(v: f32, l: u32) -> f32 {
  s[l] = v;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w >>= 1u) {
    if (l < w) { s[l] += s[l + w]; }
    workgroupBarrier();
  }
  let r = s[0];
  workgroupBarrier();
  return r;
}`;

/** Unit-normalise each row (one 64-thread workgroup per row; zero rows unchanged). */
export const NORMALIZE_ROWS = `
struct P { rows: u32, d: u32, nx: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> D: array<f32>;
${rowReduce}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let j = wg.y * p.nx + wg.x;
  if (j >= p.rows) { return; }
  var a = 0.0;
  for (var t = lid.x; t < p.d; t += 64u) { a = fma(D[j * p.d + t], D[j * p.d + t], a); }
  let ss = reduce64(a, lid.x);
  if (ss == 0.0) { return; }
  let inv = 1.0 / sqrt(ss);
  for (var t = lid.x; t < p.d; t += 64u) { D[j * p.d + t] = D[j * p.d + t] * inv; }
}`;

/** grad_j −= ⟨grad_j, D_j⟩·D_j (one workgroup per row). */
export const REMOVE_PARALLEL = `
struct P { rows: u32, d: u32, nx: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> D: array<f32>;
@group(0) @binding(2) var<storage, read_write> G: array<f32>;
${rowReduce}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let j = wg.y * p.nx + wg.x;
  if (j >= p.rows) { return; }
  var a = 0.0;
  for (var t = lid.x; t < p.d; t += 64u) { a = fma(D[j * p.d + t], G[j * p.d + t], a); }
  let dot = reduce64(a, lid.x);
  for (var t = lid.x; t < p.d; t += 64u) { G[j * p.d + t] = G[j * p.d + t] - dot * D[j * p.d + t]; }
}`;

/** One AdamW step (PyTorch semantics). */
export const ADAMW = `
struct P { total: u32, nx: u32, pad: u32, pad2: u32, lr: f32, b1: f32, b2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32, pad3: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> W: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;
${flat}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flatId(wg, lid, p.nx);
  if (i >= p.total) { return; }
  let g = G[i];
  let m = p.b1 * M[i] + (1.0 - p.b1) * g;
  let v = p.b2 * V[i] + (1.0 - p.b2) * g * g;
  M[i] = m;
  V[i] = v;
  W[i] = W[i] * (1.0 - p.lr * p.wd) - (p.lr / p.bc1) * m / (sqrt(v) / sqrt(p.bc2) + p.eps);
}`;

/** Sortable key of a float (all values) or of a positive float (others → 0). */
const keys = `
fn keyAll(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
fn keyPos(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(0u, b, x > 0.0 && b <= 0x7f800000u);
}`;

/**
 * Threshold modes' test of ROW_COUNT / ROW_EMIT (their uniform p and theta): mode 2, x above its
 * column's theta; mode 3, lo < x ≤ hi with lo = theta[0 .. thetaLen), hi = theta[thetaLen ..).
 */
const thresholdTest = `
fn inThreshold(x: f32, j: u32) -> bool {
  let lo = select(theta[0], theta[j], p.thetaLen > 1u);
  if (p.mode == 2u) { return x > lo; }
  let hi = select(theta[p.thetaLen], theta[p.thetaLen + j], p.hiLen > 1u);
  return x > lo && x <= hi;
}`;

/**
 * Per-row radix select (one 256-thread workgroup per row): T_i = k-th largest key of row i,
 * and ties_i = how many entries equal to T_i to keep. Writes sel[2i] = T, sel[2i+1] = ties.
 */
export const ROW_SELECT = `
struct P { n: u32, c: u32, k: u32, nx: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read_write> sel: array<u32>;
var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> st: array<u32, 2>;
${keys}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = wg.y * p.nx + wg.x;
  if (i >= p.n) { return; }
  var prefix = 0u;
  var mask = 0u;
  var rem = p.k;
  for (var ps = 0u; ps < 4u; ps++) {
    let shift = 24u - 8u * ps;
    atomicStore(&hist[lid.x], 0u);
    workgroupBarrier();
    for (var j = lid.x; j < p.c; j += 256u) {
      let key = keyAll(pre[i * p.c + j]);
      if ((key & mask) == prefix) { atomicAdd(&hist[(key >> shift) & 255u], 1u); }
    }
    workgroupBarrier();
    if (lid.x == 0u) {
      var above = 0u;
      var b = 255u;
      loop {
        let h = atomicLoad(&hist[b]);
        if (above + h >= rem || b == 0u) { break; }
        above += h;
        b -= 1u;
      }
      st[0] = b;
      st[1] = rem - above;
    }
    workgroupBarrier();
    prefix = prefix | (st[0] << shift);
    mask = mask | (255u << shift);
    rem = st[1];
    workgroupBarrier();
  }
  if (lid.x == 0u) { sel[2u * i] = prefix; sel[2u * i + 1u] = rem; }
}`;

/** Global radix-select histogram pass over positive keys (batch top-k). */
export const GLOBAL_HIST = `
struct P { total: u32, nx: u32, shift: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read> st: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;
var<workgroup> h: array<atomic<u32>, 256>;
${keys}
${flat}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  atomicStore(&h[lid.x], 0u);
  workgroupBarrier();
  let base = flatId(wg, lid, p.nx) - lid.x;
  for (var r = 0u; r < 16u; r++) {
    let i = base * 16u + r * ${WG}u + lid.x;
    if (i < p.total) {
      let key = keyPos(pre[i]);
      if (key != 0u && (key & st[1]) == st[0]) { atomicAdd(&h[(key >> p.shift) & 255u], 1u); }
    }
  }
  workgroupBarrier();
  let v = atomicLoad(&h[lid.x]);
  if (v != 0u) { atomicAdd(&hist[lid.x], v); }
}`;

/**
 * Radix-select bookkeeping (one thread): st = [prefix, mask, rem, K]. `init` sets rem = K
 * (capped by the count of positives from the first pass); otherwise picks the bin of this pass.
 */
export const GLOBAL_PICK = `
struct P { shift: u32, first: u32, K: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> st: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<u32>;
@compute @workgroup_size(1)
fn main() {
  if (p.first == 1u) {
    var pos = 0u;
    for (var b = 0u; b < 256u; b++) { pos += hist[b]; }
    st[2] = min(p.K, pos);
    st[3] = st[2];
  }
  let rem = st[2];
  var above = 0u;
  var b = 255u;
  if (rem > 0u) {
    loop {
      let h = hist[b];
      if (above + h >= rem || b == 0u) { break; }
      above += h;
      b -= 1u;
    }
  }
  st[0] = st[0] | (b << p.shift);
  st[1] = st[1] | (255u << p.shift);
  st[2] = rem - above;
  for (var i = 0u; i < 256u; i++) { hist[i] = 0u; }
}`;

/**
 * Per-row counts for emission. mode 0: per-row select (sel[2i], sel[2i+1]) with keyAll;
 * mode 1: global select (st[0] = T, st[2] = ties, st[3] = K kept) with keyPos; mode 2: threshold
 * pre > theta[j] (theta length c, or 1); mode 3: band lo[j] < pre ≤ hi[j] (theta = lo, length
 * thetaLen, then hi, length hiLen). counts[2i] = kept-above, counts[2i+1] = equal-to-T.
 */
export const ROW_COUNT = `
struct P { n: u32, c: u32, mode: u32, nx: u32, thetaLen: u32, hiLen: u32, pad2: u32, pad3: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read> sel: array<u32>;
@group(0) @binding(3) var<storage, read> theta: array<f32>;
@group(0) @binding(4) var<storage, read_write> counts: array<u32>;
var<workgroup> s: array<u32, 128>;
${keys}
${thresholdTest}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = wg.y * p.nx + wg.x;
  if (i >= p.n) { return; }
  var gt = 0u;
  var eq = 0u;
  var T = 0u;
  if (p.mode == 0u) { T = sel[2u * i]; } else if (p.mode == 1u) { T = sel[0]; }
  for (var j = lid.x; j < p.c; j += 64u) {
    let x = pre[i * p.c + j];
    if (p.mode >= 2u) {
      if (inThreshold(x, j)) { gt += 1u; }
    } else {
      let key = select(keyPos(x), keyAll(x), p.mode == 0u);
      if (p.mode == 1u && key == 0u) { continue; }
      if (key > T) { gt += 1u; } else if (key == T) { eq += 1u; }
    }
  }
  s[lid.x] = gt;
  s[64u + lid.x] = eq;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w >>= 1u) {
    if (lid.x < w) { s[lid.x] += s[lid.x + w]; s[64u + lid.x] += s[64u + lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { counts[2u * i] = s[0]; counts[2u * i + 1u] = s[64]; }
}`;

/**
 * Exclusive scans over rows (one 256-thread workgroup): from counts (gt, eq) and the tie budget,
 * rowPtr[i] and tieBase[i] (ties used before row i). mode 0: per-row ties sel[2i+1]; mode 1:
 * global ties st[2]; mode 2: no ties. Sets err[0] = 1 when the total exceeds the capacity.
 */
export const ROW_SCAN = `
struct P { n: u32, mode: u32, capacity: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read> sel: array<u32>;
@group(0) @binding(3) var<storage, read_write> rowPtr: array<u32>;
@group(0) @binding(4) var<storage, read_write> tieBase: array<u32>;
@group(0) @binding(5) var<storage, read_write> err: array<u32>;
var<workgroup> a: array<u32, 256>;
var<workgroup> b: array<u32, 256>;
fn kept(i: u32, tb: u32) -> u32 {
  let gt = counts[2u * i];
  let eq = counts[2u * i + 1u];
  if (p.mode == 0u) { return gt + min(eq, sel[2u * i + 1u]); }
  if (p.mode == 1u) { let left = select(0u, sel[2] - tb, sel[2] > tb); return gt + min(eq, left); }
  return gt;
}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let per = (p.n + 255u) / 256u;
  let lo = min(p.n, lid.x * per);
  let hi = min(p.n, lo + per);
  var eqSum = 0u;
  for (var i = lo; i < hi; i++) { eqSum += counts[2u * i + 1u]; }
  b[lid.x] = eqSum;
  workgroupBarrier();
  // exclusive scan of eq sums (Hillis-Steele on inclusive, then shift)
  for (var w = 1u; w < 256u; w <<= 1u) {
    var v = b[lid.x];
    if (lid.x >= w) { v += b[lid.x - w]; }
    workgroupBarrier();
    b[lid.x] = v;
    workgroupBarrier();
  }
  var tb = select(0u, b[lid.x - 1u], lid.x > 0u);
  var keptSum = 0u;
  var t2 = tb;
  for (var i = lo; i < hi; i++) { keptSum += kept(i, t2); t2 += counts[2u * i + 1u]; }
  a[lid.x] = keptSum;
  workgroupBarrier();
  for (var w = 1u; w < 256u; w <<= 1u) {
    var v = a[lid.x];
    if (lid.x >= w) { v += a[lid.x - w]; }
    workgroupBarrier();
    a[lid.x] = v;
    workgroupBarrier();
  }
  var off = select(0u, a[lid.x - 1u], lid.x > 0u);
  for (var i = lo; i < hi; i++) {
    rowPtr[i] = off;
    tieBase[i] = tb;
    off += kept(i, tb);
    tb += counts[2u * i + 1u];
  }
  if (lid.x == 255u) {
    rowPtr[p.n] = a[255];
    if (a[255] > p.capacity) { err[0] = 1u; }
  }
}`;

/**
 * Ordered emission (one 64-thread workgroup per row, chunks of 64 columns, in-order compaction
 * by workgroup scan). Same modes as ROW_COUNT; values: mode 0 → max(pre, 0), else pre.
 */
export const ROW_EMIT = `
struct P { n: u32, c: u32, mode: u32, nx: u32, thetaLen: u32, capacity: u32, hiLen: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read> sel: array<u32>;
@group(0) @binding(3) var<storage, read> theta: array<f32>;
@group(0) @binding(4) var<storage, read> rowPtr: array<u32>;
@group(0) @binding(5) var<storage, read> tieBase: array<u32>;
@group(0) @binding(6) var<storage, read_write> index: array<u32>;
@group(0) @binding(7) var<storage, read_write> value: array<f32>;
var<workgroup> s: array<u32, 64>;
var<workgroup> q: array<u32, 64>;
${keys}
${thresholdTest}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = wg.y * p.nx + wg.x;
  if (i >= p.n) { return; }
  var T = 0u;
  var tieLeft = 0u;
  if (p.mode == 0u) { T = sel[2u * i]; tieLeft = sel[2u * i + 1u]; }
  if (p.mode == 1u) { T = sel[0]; let tb = tieBase[i]; tieLeft = select(0u, sel[2] - tb, sel[2] > tb); }
  var out = rowPtr[i];
  var tiesSeen = 0u;
  for (var j0 = 0u; j0 < p.c; j0 += 64u) {
    let j = j0 + lid.x;
    var gt = 0u;
    var eq = 0u;
    var x = 0.0;
    if (j < p.c) {
      x = pre[i * p.c + j];
      if (p.mode >= 2u) {
        if (inThreshold(x, j)) { gt = 1u; }
      } else {
        let key = select(keyPos(x), keyAll(x), p.mode == 0u);
        if (!(p.mode == 1u && key == 0u)) {
          if (key > T) { gt = 1u; } else if (key == T) { eq = 1u; }
        }
      }
    }
    // inclusive scan of eq flags to rank ties in column order
    q[lid.x] = eq;
    workgroupBarrier();
    for (var w = 1u; w < 64u; w <<= 1u) {
      var v = q[lid.x];
      if (lid.x >= w) { v += q[lid.x - w]; }
      workgroupBarrier();
      q[lid.x] = v;
      workgroupBarrier();
    }
    let tieRank = tiesSeen + q[lid.x] - eq;
    var keep = gt;
    if (eq == 1u && tieRank < tieLeft) { keep = 1u; }
    let eqTotal = q[63];
    workgroupBarrier();
    s[lid.x] = keep;
    workgroupBarrier();
    for (var w = 1u; w < 64u; w <<= 1u) {
      var v = s[lid.x];
      if (lid.x >= w) { v += s[lid.x - w]; }
      workgroupBarrier();
      s[lid.x] = v;
      workgroupBarrier();
    }
    if (keep == 1u) {
      let pos = out + s[lid.x] - 1u;
      if (pos < p.capacity) {
        index[pos] = j;
        value[pos] = select(x, max(x, 0.0), p.mode == 0u);
      }
    }
    out += s[63];
    tiesSeen += eqTotal;
    workgroupBarrier();
  }
}`;

/** min kept = bitcast(st[0]) when something is kept, else 0. */
export const MIN_KEPT = `
@group(0) @binding(0) var<storage, read> st: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1)
fn main() { out[0] = select(0.0, bitcast<f32>(st[0]), st[3] > 0u); }`;

/** out (n×d) = Z·D (+ bias): one 64-thread workgroup per row. */
export const DECODE = `
struct P { n: u32, d: u32, hasBias: u32, nx: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> rowPtr: array<u32>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@group(0) @binding(3) var<storage, read> value: array<f32>;
@group(0) @binding(4) var<storage, read> D: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = wg.y * p.nx + wg.x;
  if (i >= p.n) { return; }
  let e0 = rowPtr[i];
  let e1 = rowPtr[i + 1u];
  for (var t = lid.x; t < p.d; t += 64u) {
    var acc = select(0.0, bias[t], p.hasBias == 1u);
    for (var e = e0; e < e1; e++) { acc = fma(value[e], D[index[e] * p.d + t], acc); }
    out[i * p.d + t] = acc;
  }
}`;

/** vals[e] = ⟨G_row(e), D_index(e)⟩: one 64-thread workgroup per row, one entry at a time. */
export const SAMPLE = `
struct P { n: u32, d: u32, nx: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> rowPtr: array<u32>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@group(0) @binding(3) var<storage, read> G: array<f32>;
@group(0) @binding(4) var<storage, read> D: array<f32>;
@group(0) @binding(5) var<storage, read_write> vals: array<f32>;
${rowReduce}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = wg.y * p.nx + wg.x;
  if (i >= p.n) { return; }
  for (var e = rowPtr[i]; e < rowPtr[i + 1u]; e++) {
    let j = index[e];
    var a = 0.0;
    for (var t = lid.x; t < p.d; t += 64u) { a = fma(G[i * p.d + t], D[j * p.d + t], a); }
    let r = reduce64(a, lid.x);
    if (lid.x == 0u) { vals[e] = r; }
  }
}`;

/** CSC build, step 1: per-entry row (binary search) and per-concept counts. */
export const CSC_COUNT = `
struct P { rows: u32, capacity: u32, nx: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> rowPtr: array<u32>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@group(0) @binding(3) var<storage, read_write> entryRow: array<u32>;
@group(0) @binding(4) var<storage, read_write> count: array<atomic<u32>>;
${flat}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let e = flatId(wg, lid, p.nx);
  if (e >= min(rowPtr[p.rows], p.capacity)) { return; }
  var lo = 0u;
  var hi = p.rows;
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (rowPtr[mid] <= e) { lo = mid; } else { hi = mid; }
  }
  entryRow[e] = lo;
  atomicAdd(&count[index[e]], 1u);
}`;

/** Exclusive scan of `count` (length n) into ptr (length n+1); one 256-thread workgroup. */
export const SCAN = `
struct P { n: u32, pad: u32, pad2: u32, pad3: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> count: array<u32>;
@group(0) @binding(2) var<storage, read_write> ptr: array<u32>;
var<workgroup> a: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let per = (p.n + 255u) / 256u;
  let lo = min(p.n, lid.x * per);
  let hi = min(p.n, lo + per);
  var sum = 0u;
  for (var i = lo; i < hi; i++) { sum += count[i]; }
  a[lid.x] = sum;
  workgroupBarrier();
  for (var w = 1u; w < 256u; w <<= 1u) {
    var v = a[lid.x];
    if (lid.x >= w) { v += a[lid.x - w]; }
    workgroupBarrier();
    a[lid.x] = v;
    workgroupBarrier();
  }
  var off = select(0u, a[lid.x - 1u], lid.x > 0u);
  for (var i = lo; i < hi; i++) { ptr[i] = off; off += count[i]; }
  if (lid.x == 255u) { ptr[p.n] = a[255]; }
}`;

/** CSC build, step 2: scatter entry ids into concept lists (order fixed by CSC_SORT). */
export const CSC_FILL = `
struct P { rows: u32, capacity: u32, nx: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> rowPtr: array<u32>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@group(0) @binding(3) var<storage, read> colPtr: array<u32>;
@group(0) @binding(4) var<storage, read_write> cursor: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> list: array<u32>;
${flat}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let e = flatId(wg, lid, p.nx);
  if (e >= min(rowPtr[p.rows], p.capacity)) { return; }
  let j = index[e];
  list[colPtr[j] + atomicAdd(&cursor[j], 1u)] = e;
}`;

/** CSC build, step 3: sort each concept's entry list ascending (insertion sort; deterministic). */
export const CSC_SORT = `
struct P { cols: u32, nx: u32, pad: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> colPtr: array<u32>;
@group(0) @binding(2) var<storage, read_write> list: array<u32>;
${flat}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let j = flatId(wg, lid, p.nx);
  if (j >= p.cols) { return; }
  let a = colPtr[j];
  let b = colPtr[j + 1u];
  for (var x = a + 1u; x < b; x++) {
    let v = list[x];
    var y = x;
    while (y > a && list[y - 1u] > v) { list[y] = list[y - 1u]; y -= 1u; }
    list[y] = v;
  }
}`;

/** out (c×d) = beta·out + Σ_{e ∈ list j} vals[e]·G_row(e): one workgroup per concept. */
export const TRANSPOSE_PRODUCT = `
struct P { cols: u32, d: u32, nx: u32, pad: u32, beta: f32, pad2: u32, pad3: u32, pad4: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> colPtr: array<u32>;
@group(0) @binding(2) var<storage, read> list: array<u32>;
@group(0) @binding(3) var<storage, read> entryRow: array<u32>;
@group(0) @binding(4) var<storage, read> vals: array<f32>;
@group(0) @binding(5) var<storage, read> G: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let j = wg.y * p.nx + wg.x;
  if (j >= p.cols) { return; }
  for (var t = lid.x; t < p.d; t += 64u) {
    var acc = select(0.0, p.beta * out[j * p.d + t], p.beta != 0.0);
    for (var q = colPtr[j]; q < colPtr[j + 1u]; q++) {
      let e = list[q];
      acc = fma(vals[e], G[entryRow[e] * p.d + t], acc);
    }
    out[j * p.d + t] = acc;
  }
}`;

/** out (c) = beta·out + Σ_{e ∈ list j} vals[e]. */
export const COLUMN_SUM = `
struct P { cols: u32, nx: u32, pad: u32, pad1: u32, beta: f32, pad2: u32, pad3: u32, pad4: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> colPtr: array<u32>;
@group(0) @binding(2) var<storage, read> list: array<u32>;
@group(0) @binding(3) var<storage, read> vals: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
${flat}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let j = flatId(wg, lid, p.nx);
  if (j >= p.cols) { return; }
  var acc = select(0.0, p.beta * out[j], p.beta != 0.0);
  for (var q = colPtr[j]; q < colPtr[j + 1u]; q++) { acc += vals[list[q]]; }
  out[j] = acc;
}`;

/** vals[e] += alpha for the codes' entries e < rowPtr[n] (one thread per capacity slot). */
export const SPARSE_ADD_SCALAR = `
struct P { n: u32, nx: u32, pad: u32, pad1: u32, alpha: f32, pad2: u32, pad3: u32, pad4: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> rowPtr: array<u32>;
@group(0) @binding(2) var<storage, read_write> vals: array<f32>;
${flat}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let e = flatId(wg, lid, p.nx);
  if (e >= rowPtr[p.n]) { return; }
  vals[e] += p.alpha;
}`;
