/**
 * Native kernels for the CPU backend: kernels/native/sparse_kernels.c, compiled once per machine
 * with the system C compiler (`cc -O3 -march=native`, cached by a hash of the source, the
 * compiler's version and the CPU's flags) and loaded with `Deno.dlopen`. They run the sparse
 * decode, residual, sample and by-concept gather of a training step on slab-major copies that
 * stay in L2, with 512-bit vectors where the CPU has them — the WebAssembly kernels are limited to
 * 128-bit vectors and to memory speed on these gathers — and the optimiser's parallel-component
 * removal (with row norms) and AdamW (with row renormalisation) in one pass each.
 * kernels/native/encoder_screen.c (compiled into the same library) is the screened encoder
 * ({@link ScreenedEncoder}): on a CPU with the AMX tile unit, batch top-k codes without the float32
 * encoder GEMM.
 *
 * Without a compiler (or with `CONCEPT_ATLAS_NATIVE=0`) {@link loadNativeSparse} returns null and
 * the backend keeps its WebAssembly kernels; the reason goes to the log. `CONCEPT_ATLAS_CC` picks
 * the compiler (default `cc`); `CONCEPT_ATLAS_NATIVE_CACHE` the folder of built libraries
 * (default `$XDG_CACHE_HOME/concept-atlas/native`, else `~/.cache/concept-atlas/native`).
 */

/** The sources, compiled together into one library (the `.h` is included by both `.c`). */
const SOURCES = ["common.h", "sparse_kernels.c", "encoder_screen.c"].map((f) =>
  new URL(`./native/${f}`, import.meta.url)
);
/** ABI version the loader expects from `atlas_native_version()`. */
const ABI = 6;
/** Compiler flags (part of the cache key). */
const FLAGS = [
  "-O3",
  "-march=native",
  "-fno-math-errno", // square roots inline (no libm symbol left for the loader to find)
  "-fPIC",
  "-shared",
  "-pthread",
  "-std=gnu11",
  "-Wno-psabi",
];

const SYMBOLS = {
  atlas_native_version: { parameters: [], result: "i32" },
  atlas_native_slab: { parameters: [], result: "i32" },
  atlas_screen_ready: { parameters: [], result: "i32" },
  atlas_screen_new: { parameters: [], result: "pointer" },
  atlas_screen_stats: { parameters: ["pointer", "buffer"], result: "void" },
  atlas_encode_screen: {
    parameters: [
      "pointer",
      "pointer",
      "u32",
      "i32",
      "i32",
      "u32",
      "i32",
      "u32",
      "i32",
      "i32",
      "u32",
      "u32",
      "u32",
      "u32",
      "i32",
      "u32",
      "u32",
      "u32",
      "u32",
      "i32",
    ],
    result: "i32",
  },
  atlas_resid: {
    parameters: [
      "pointer",
      "u32",
      "u32",
      "u32",
      "u32",
      "i32",
      "u32",
      "u32",
      "f32",
      "u32",
      "u32",
      "u32",
      "i32",
      "i32",
      "u32",
      "i32",
    ],
    result: "void",
  },
  atlas_sample: {
    parameters: ["pointer", "u32", "u32", "i32", "u32", "u32", "u32", "i32", "i32", "u32", "i32"],
    result: "void",
  },
  atlas_topk_rows: {
    parameters: ["pointer", "u32", "i32", "i32", "i32", "u32", "u32", "u32", "i32"],
    result: "void",
  },
  atlas_scale_rows: {
    parameters: ["pointer", "u32", "u32", "i32", "i32", "u32", "f32", "i32"],
    result: "void",
  },
  atlas_removepar: {
    parameters: ["pointer", "u32", "u32", "i32", "i32", "u32", "i32"],
    result: "void",
  },
  atlas_adamw: {
    parameters: [
      "pointer",
      "u32",
      "u32",
      "u32",
      "u32",
      "i32",
      "i32",
      "f32",
      "f32",
      "f32",
      "f32",
      "f32",
      "f32",
      "f32",
      "f32",
      "i32",
      "i32",
    ],
    result: "void",
  },
  atlas_gather: {
    parameters: [
      "pointer",
      "u32",
      "u32",
      "u32",
      "u32",
      "u32",
      "i32",
      "u32",
      "f32",
      "i32",
      "i32",
      "u32",
      "i32",
    ],
    result: "void",
  },
} as const;

/** Byte offsets (into the backend's wasm memory) of one CSR code holder's arrays. */
export interface CsrOffsets {
  rowPtr: number;
  index: number;
  value: number;
}

/**
 * The loaded kernels. Every tensor argument is a byte offset into `memory` (the backend's wasm
 * memory); `pack` is scratch of at least {@link packFloats}(d, rows) floats for the matrix a
 * kernel copies slab-major (the dictionary's c rows, or the gather's n source rows); `threads`
 * ≥ 1 workers are started per call (the count never changes a result). Shapes: dict c×d,
 * x/out/g/src n×d, gather out c×d, row-major float32.
 */
export interface NativeSparse {
  /** What runs, for the log: e.g. `native (gcc 12.2.0, -march=native)`. */
  readonly detail: string;
  /**
   * The screened encoder (encoder_screen.c), or null when the CPU has no AMX tile unit, the
   * kernel refuses it to this process, or `CONCEPT_ATLAS_SCREEN=0`.
   */
  readonly screen: ScreenedEncoder | null;
  /**
   * out_i = scale·(Z_i·D + bias − x_i) (x 0: out_i = Z_i·D + bias); rowSs_i = ‖Z_i·D + bias − x_i‖²
   * (when rowSs and x are non-zero); vals_e = ⟨out_i, D_j⟩ (when vals is non-zero).
   */
  resid(memory: WebAssembly.Memory, a: NativeResidArgs): void;
  /** vals_e = ⟨G_i, D_j⟩ for every entry (i, j) of the codes. */
  sample(memory: WebAssembly.Memory, a: NativeSampleArgs): void;
  /**
   * out_j = beta·out_j + Σ_{slots s of column j, vals ≠ 0} vals[slotEntry_s]·src_{slotRow_s}
   * (beta 0 overwrites, even NaN).
   */
  gather(memory: WebAssembly.Memory, a: NativeGatherArgs): void;
  /**
   * Per row of pre (n×c): the k largest entries (ties: lower column first), value max(pre, 0),
   * columns ascending, written to the codes at i·k (rowPtr[i] = i·k).
   */
  topkRows(
    memory: WebAssembly.Memory,
    a: { pre: number; n: number; c: number; k: number; z: CsrOffsets; threads: number },
  ): void;
  /** out_i = beta·out_i + v_i·a_i for the rows of a (rows×cols; beta 0 overwrites). */
  scaleRows(
    memory: WebAssembly.Memory,
    a: {
      v: number;
      a: number;
      rows: number;
      cols: number;
      out: number;
      beta: number;
      threads: number;
    },
  ): void;
  /** grad_j −= ⟨grad_j, D_j⟩·D_j for every row (D rows×d); rowSs_j = ‖grad_j‖² after (if non-zero). */
  removepar(
    memory: WebAssembly.Memory,
    a: { dict: number; grad: number; rows: number; d: number; rowSs: number; threads: number },
  ): void;
  /**
   * AdamW on rows×cols: m = β1·m + a1·g; v = β2·v + a2·g²; p = decay·p − stepSize·m /
   * (√v·invSqrtBc2 + eps); then, with `normalize`, every row of p scaled to unit norm.
   */
  adamw(memory: WebAssembly.Memory, a: NativeAdamwArgs): void;
}

/** Arguments of {@link NativeSparse.resid} (offsets; 0 for an absent bias, x, rowSs or vals). */
export interface NativeResidArgs {
  z: CsrOffsets;
  dict: number;
  d: number;
  bias: number;
  x: number;
  scale: number;
  out: number;
  rowSs: number;
  vals: number;
  n: number;
  c: number;
  pack: number;
  threads: number;
}

/** Arguments of {@link NativeSparse.sample}. */
export interface NativeSampleArgs {
  g: number;
  dict: number;
  d: number;
  z: CsrOffsets;
  vals: number;
  n: number;
  c: number;
  pack: number;
  threads: number;
}

/** Arguments of {@link NativeSparse.gather} (the column view's offsets in `csc`). */
export interface NativeGatherArgs {
  csc: { colPtr: number; slotRow: number; slotEntry: number };
  vals: number;
  src: number;
  d: number;
  out: number;
  beta: number;
  c: number;
  n: number;
  pack: number;
  threads: number;
}

/** Arguments of {@link NativeSparse.adamw}. */
export interface NativeAdamwArgs {
  p: number;
  g: number;
  m: number;
  v: number;
  rows: number;
  cols: number;
  h: AdamwConstants;
  normalize: boolean;
  threads: number;
}

/** The constants of one AdamW update (the gradient scale folded into a1, a2). */
export interface AdamwConstants {
  beta1: number;
  a1: number;
  beta2: number;
  a2: number;
  stepSize: number;
  invSqrtBc2: number;
  eps: number;
  decay: number;
}

/** The constants in the kernels' argument order: β1, a1, β2, a2, stepSize, invSqrtBc2, eps, decay. */
export function adamwConstantList(
  h: AdamwConstants,
): [number, number, number, number, number, number, number, number] {
  return [h.beta1, h.a1, h.beta2, h.a2, h.stepSize, h.invSqrtBc2, h.eps, h.decay];
}

/**
 * Encoder + top-k without the float32 GEMM (kernels/native/encoder_screen.c): a bfloat16
 * product on the AMX tile unit, a bound on its error from the rows' norms, and float32 dot
 * products for the candidates the bound cannot rule out. The codes are those of a batch top-k
 * (or a per-row top-k) over float32 pre-activations: the same selection, values rounded in
 * another order. From the same product, optionally, a second per-row top-k over the columns a
 * mask allows (AuxK's dead concepts).
 */
export interface ScreenedEncoder {
  /**
   * Codes (CSR, rows ascending, columns ascending) of X·Wᵀ + bias (X n×d, W c×d, bias c or 0):
   * without `perRow`, the K largest positive entries (ties: lower flat index), their smallest
   * value at `minKept` (0 when none); with `perRow`, the K largest entries of every row (ties:
   * lower column; values clamped at 0, as topkRows writes them). With `aux`, also the `aux.k`
   * largest entries of every row among the columns where the f32 [c] `aux.mask` is 0, in
   * topkRows's layout. Returns the number of main codes, or −1 when the inputs need the float32
   * path (a non-finite value, a norm above 2^30, too many candidates, fewer allowed columns than
   * `aux.k`, no memory).
   */
  encode(
    memory: WebAssembly.Memory,
    a: {
      x: number;
      n: number;
      d: number;
      w: number;
      c: number;
      bias: number;
      perRow: boolean;
      K: number;
      z: CsrOffsets;
      minKept: number;
      aux: { k: number; mask: number; z: CsrOffsets } | null;
      threads: number;
    },
  ): number;
  /** Figures of the last call. */
  stats(): ScreenStats;
}

/** What the last screened encode did (times in milliseconds). */
export interface ScreenStats {
  /** Entries whose float32 value was computed (≥ the K kept, when K are positive). */
  candidates: number;
  /** Passes over the bfloat16 product (1 when the guess from the last call held). */
  passes: number;
  /** The lower bound on the K-th largest value the candidates were cut at (0: per row). */
  thetaLow: number;
  /** K of the call. */
  K: number;
  /** Calls of this process that fell back to the float32 path. */
  refusals: number;
  /** bfloat16 conversion, tile GEMM, pass(es), theta bound, compaction, float32 values, selection. */
  ms: number[];
  /** The second (per-row, masked) selection: candidates and milliseconds (0 when none). */
  aux: { candidates: number; ms: number };
}

/** Floats per slab of the native kernels (the C file's `SLAB`; checked when loading). */
const NATIVE_SLAB = 64;

/** Floats of slab-major scratch for `rows` rows of width d (rows padded to whole slabs). */
export function packFloats(d: number, rows: number): number {
  return Math.ceil(d / NATIVE_SLAB) * NATIVE_SLAB * rows;
}

let cached: Promise<{ lib: NativeSparse | null; why: string[] }> | null = null;

/**
 * Build (once per machine) and load the native kernels, or null when they cannot be used; the
 * reason goes to `log` (on every call). Loaded once per process: later calls return the same
 * library.
 */
export async function loadNativeSparse(
  log: (line: string) => void = () => {},
): Promise<NativeSparse | null> {
  if (!cached) cached = load();
  const { lib, why } = await cached;
  for (const line of why) log(line);
  return lib;
}

async function load(): Promise<{ lib: NativeSparse | null; why: string[] }> {
  const why: string[] = [];
  if (Deno.env.get("CONCEPT_ATLAS_NATIVE") === "0") {
    return { lib: null, why: ["sparse kernels: wasm (CONCEPT_ATLAS_NATIVE=0)"] };
  }
  const cc = Deno.env.get("CONCEPT_ATLAS_CC");
  const lib = await buildNativeSparse({ cc, dir: cacheDir(), log: (l) => why.push(l) });
  return { lib, why };
}

/** Options of {@link buildNativeSparse}. */
export interface BuildNativeOptions {
  /** The C compiler (default `cc`). */
  cc?: string;
  /** Folder of built libraries (default: see the module doc). */
  dir?: string;
  /** Receives one line when the native kernels cannot be used, saying why. */
  log?: (line: string) => void;
}

/**
 * Build (when the folder has no library for this source, compiler and CPU yet) and load the
 * native kernels, or null with the reason in `log`. Not memoised: {@link loadNativeSparse} is
 * the entry point; this one is for tests and tools.
 */
export async function buildNativeSparse(o: BuildNativeOptions = {}): Promise<NativeSparse | null> {
  const log = o.log ?? (() => {});
  if (Deno.build.os !== "linux" || SOURCES[0].protocol !== "file:") {
    log("sparse kernels: wasm (native kernels are built on Linux only)");
    return null;
  }
  const cc = o.cc ?? "cc";
  let version: string;
  try {
    const r = await new Deno.Command(cc, { args: ["--version"], stdout: "piped", stderr: "null" })
      .output();
    if (!r.success) throw new Error(`exit ${r.code}`);
    version = new TextDecoder().decode(r.stdout).split("\n")[0].trim();
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      log("sparse kernels: wasm (the native kernels need --allow-run and --allow-ffi)");
      return null;
    }
    log(`sparse kernels: wasm (no C compiler "${cc}"; install gcc for the native kernels)`);
    return null;
  }
  try {
    const sources = await Promise.all(SOURCES.map((u) => Deno.readTextFile(u)));
    const key = await sha256(
      [...sources, version, FLAGS.join(" "), cpuSignature()].join("\n"),
    );
    const dir = o.dir ?? cacheDir();
    await Deno.mkdir(dir, { recursive: true });
    const lib = `${dir}/sparse_kernels-${key.slice(0, 16)}.so`;
    if (!(await exists(lib))) {
      const tmp = `${lib}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
      // compile exactly the hashed text: a private copy of the sources
      const srcDir = `${tmp}.src`;
      await Deno.mkdir(srcDir);
      const names = SOURCES.map((u) => u.pathname.split("/").pop()!);
      for (let f = 0; f < names.length; f++) {
        await Deno.writeTextFile(`${srcDir}/${names[f]}`, sources[f]);
      }
      const units = names.filter((f) => f.endsWith(".c")).map((f) => `${srcDir}/${f}`);
      const r = await new Deno.Command(cc, {
        args: [...FLAGS, "-o", tmp, ...units],
        stdout: "null",
        stderr: "piped",
      }).output();
      await Deno.remove(srcDir, { recursive: true }).catch(() => {});
      if (!r.success) {
        await Deno.remove(tmp).catch(() => {});
        const why = new TextDecoder().decode(r.stderr).split("\n")[0];
        log(`sparse kernels: wasm (the native build failed: ${why})`);
        return null;
      }
      await Deno.rename(tmp, lib); // atomic: concurrent builders write the same bytes
      await pruneOtherBuilds(dir, lib);
    }
    const h = Deno.dlopen(lib, SYMBOLS);
    if (h.symbols.atlas_native_version() !== ABI || h.symbols.atlas_native_slab() !== NATIVE_SLAB) {
      h.close();
      log(`sparse kernels: wasm (${lib} has another ABI version or slab width)`);
      return null;
    }
    return wrap(h, `native (${cc} ${version.replace(/^.*?\) /, "")}, -march=native)`);
  } catch (e) {
    log(`sparse kernels: wasm (native kernels unavailable: ${(e as Error).message})`);
    return null;
  }
}

function wrap(h: Deno.DynamicLibrary<typeof SYMBOLS>, detail: string): NativeSparse {
  const s = h.symbols;
  const base = (m: WebAssembly.Memory) => Deno.UnsafePointer.of(new Uint8Array(m.buffer));
  return {
    detail,
    screen: Deno.env.get("CONCEPT_ATLAS_SCREEN") !== "0" && s.atlas_screen_ready() === 1
      ? screenedEncoder(s)
      : null,
    resid(m, a) {
      const { z } = a;
      s.atlas_resid(
        base(m),
        z.rowPtr,
        z.index,
        z.value,
        a.dict,
        a.d,
        a.bias,
        a.x,
        a.scale,
        a.out,
        a.rowSs,
        a.vals,
        a.n,
        a.c,
        a.pack,
        a.threads,
      );
    },
    sample(m, a) {
      const { z } = a;
      s.atlas_sample(
        base(m),
        a.g,
        a.dict,
        a.d,
        z.rowPtr,
        z.index,
        a.vals,
        a.n,
        a.c,
        a.pack,
        a.threads,
      );
    },
    gather(m, a) {
      const { csc } = a;
      s.atlas_gather(
        base(m),
        csc.colPtr,
        csc.slotRow,
        csc.slotEntry,
        a.vals,
        a.src,
        a.d,
        a.out,
        a.beta,
        a.c,
        a.n,
        a.pack,
        a.threads,
      );
    },
    topkRows(m, a) {
      const { z } = a;
      s.atlas_topk_rows(base(m), a.pre, a.n, a.c, a.k, z.rowPtr, z.index, z.value, a.threads);
    },
    scaleRows(m, a) {
      s.atlas_scale_rows(base(m), a.v, a.a, a.rows, a.cols, a.out, a.beta, a.threads);
    },
    removepar(m, a) {
      s.atlas_removepar(base(m), a.dict, a.grad, a.rows, a.d, a.rowSs, a.threads);
    },
    adamw(m, a) {
      const [b1, a1, b2, a2, ss, isb, eps, dec] = adamwConstantList(a.h);
      const norm = a.normalize ? 1 : 0;
      const { rows, cols } = a;
      s.atlas_adamw(
        base(m),
        a.p,
        a.g,
        a.m,
        a.v,
        rows,
        cols,
        b1,
        a1,
        b2,
        a2,
        ss,
        isb,
        eps,
        dec,
        norm,
        a.threads,
      );
    },
  };
}

function screenedEncoder(s: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"]): ScreenedEncoder {
  const ws = s.atlas_screen_new(); // scratch for the process (grown on demand, never freed)
  const out = new Float64Array(15);
  return {
    encode(m, a) {
      const p = Deno.UnsafePointer.of(new Uint8Array(m.buffer));
      const { z, aux } = a;
      return s.atlas_encode_screen(
        ws,
        p,
        a.x,
        a.n,
        a.d,
        a.w,
        a.c,
        a.bias,
        a.perRow ? 1 : 0,
        a.K,
        z.rowPtr,
        z.index,
        z.value,
        a.minKept,
        aux ? aux.k : 0,
        aux ? aux.mask : 0,
        aux ? aux.z.rowPtr : 0,
        aux ? aux.z.index : 0,
        aux ? aux.z.value : 0,
        a.threads,
      );
    },
    stats() {
      s.atlas_screen_stats(ws, out);
      return {
        candidates: out[0],
        passes: out[1],
        thetaLow: out[2],
        K: out[4],
        refusals: out[5],
        ms: Array.from(out.subarray(6, 13)),
        aux: { candidates: out[13], ms: out[14] },
      };
    },
  };
}

/**
 * Remove the libraries of other sources / compilers / CPUs from the build folder (a process that
 * has one loaded keeps it: the file stays until unmapped; a later run of that version rebuilds).
 */
async function pruneOtherBuilds(dir: string, keep: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (path !== keep && /^sparse_kernels-[0-9a-f]{16}\.so$/.test(e.name)) {
      await Deno.remove(path).catch(() => {});
    }
  }
}

function cacheDir(): string {
  const own = Deno.env.get("CONCEPT_ATLAS_NATIVE_CACHE");
  if (own) return own;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/concept-atlas/native`;
  const home = Deno.env.get("HOME");
  return home
    ? `${home}/.cache/concept-atlas/native`
    : `${Deno.env.get("TMPDIR") ?? "/tmp"}/concept-atlas-native`;
}

/** The CPU model and feature flags (a library built for one CPU must not load on another). */
function cpuSignature(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const pick = (k: string) => info.match(new RegExp(`^${k}\\s*:\\s*(.*)$`, "m"))?.[1] ?? "";
    return `${pick("model name")}|${pick("flags")}`;
  } catch {
    return "";
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function sha256(text: string): Promise<string> {
  const buf = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
