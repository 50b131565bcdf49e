/**
 * A seeded synthetic VLM world with planted ground truth (method.md §8).
 *
 * Generative model (all directions unit vectors in R^d, drawn from one seeded {@link Rng}):
 * - Concepts of three kinds: `shared` (an image direction u_j and a text twin
 *   v_j = t_j·u_j + √(1−t_j²)·w_j with w_j ⊥ u_j, so cos(u_j, v_j) = t_j exactly), `image`-only
 *   and `text`-only. Within each kind, the concept of rank r (1-based) has Zipf frequency
 *   f_r = maxFrequency · r^(−zipf).
 * - An image row: each shared or image-only concept is active with probability f, with a lognormal
 *   coefficient a = exp(N(log coefMean, coefSpread²)); x = Σ a·u + cone·c + (gap/2)·g + ε.
 * - Each of its captions keeps each shared concept of its image with probability 1 − captionDropout,
 *   with coefficient max(0, a·(1 + captionJitter·N(0,1))), adds each text-only concept with
 *   probability f; x = Σ a′·v + cone·c − (gap/2)·g + ε.
 * - c (cone) and g (gap) are orthonormal planted directions; ε is Gaussian noise of total standard
 *   deviation `noise` whose spectrum decays as (i+1)^(−noiseDecay) over a random orthonormal basis.
 * - Rows are L2-normalised when `normalise` (the planted coefficients are divided by the same norm,
 *   so `rowActive` holds coefficients in the units of the stored rows).
 */
import type { EmbeddingSet, Modality, Split } from "./embeddings.ts";
import type { GroundTruth } from "./ground_truth.ts";
import { hashString, Rng } from "./random.ts";
import { UserError } from "../pipeline/errors.ts";
import type { Backend, Tensor } from "../kernels/backend.ts";

/** Knobs of the world (the `dataset.world` config section; see tasks/config/dataset.ts). */
export interface WorldParams {
  d: number;
  images: number;
  captionsPerImage: number;
  sharedConcepts: number;
  imageConcepts: number;
  textConcepts: number;
  zipf: number;
  maxFrequency: number;
  twinCosine: number;
  twinCosineSpread: number;
  captionDropout: number;
  coefMean: number;
  coefSpread: number;
  captionJitter: number;
  gap: number;
  cone: number;
  noise: number;
  noiseDecay: number;
  normalise: boolean;
  /** How rows are summed (see {@link WorldGenerator}); unset = `float64`. */
  generator?: WorldGenerator;
}

/** A generated world: the rows (every row has split `train`; splits are assigned later) and truth. */
export interface SyntheticWorld {
  set: EmbeddingSet;
  truth: GroundTruth;
}

/**
 * Zipf frequencies of `count` concepts: f_r = maxFrequency · r^(−zipf), r = 1..count.
 * @returns Float64Array of length count, non-increasing, in (0, maxFrequency]
 */
export function zipfFrequencies(count: number, maxFrequency: number, zipf: number): Float64Array {
  const f = new Float64Array(count);
  for (let r = 0; r < count; r++) f[r] = maxFrequency * Math.pow(r + 1, -zipf);
  return f;
}

/** A random unit vector of dimension d (float64). */
function randomUnit(rng: Rng, d: number): Float64Array {
  const v = new Float64Array(d);
  let s = 0;
  do {
    s = 0;
    for (let i = 0; i < d; i++) {
      v[i] = rng.normal();
      s += v[i] * v[i];
    }
  } while (s === 0);
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < d; i++) v[i] *= inv;
  return v;
}

/** Make v unit and orthogonal to every basis vector (modified Gram–Schmidt, twice). */
function orthonormalise(v: Float64Array, basis: Float64Array[], rng: Rng): Float64Array {
  const d = v.length;
  for (let attempt = 0; attempt < 8; attempt++) {
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += v[i] * b[i];
        for (let i = 0; i < d; i++) v[i] -= dot * b[i];
      }
    }
    let s = 0;
    for (let i = 0; i < d; i++) s += v[i] * v[i];
    if (s > 1e-12) {
      const inv = 1 / Math.sqrt(s);
      for (let i = 0; i < d; i++) v[i] *= inv;
      return v;
    }
    v = randomUnit(rng, d);
  }
  throw new RangeError("orthonormalise: could not find a direction orthogonal to the basis");
}

/** Check the knobs; throw a {@link UserError} naming the first bad one. */
export function checkWorldParams(p: WorldParams): void {
  const bad = (key: string, what: string) =>
    new UserError(`dataset.world.${key}: ${what}; fix it in the config`);
  const int = (key: keyof WorldParams, min: number) => {
    const v = p[key] as number;
    if (!Number.isInteger(v) || v < min) throw bad(key, `must be an integer ≥ ${min}, got ${v}`);
  };
  int("d", 4);
  int("images", 1);
  int("captionsPerImage", 1);
  int("sharedConcepts", 0);
  int("imageConcepts", 0);
  int("textConcepts", 0);
  if (p.sharedConcepts + p.imageConcepts + p.textConcepts < 1) {
    throw bad("sharedConcepts", "the world needs at least one planted concept");
  }
  if (!(p.maxFrequency > 0 && p.maxFrequency <= 1)) {
    throw bad("maxFrequency", `must lie in (0, 1], got ${p.maxFrequency}`);
  }
  if (!(Math.abs(p.twinCosine) <= 1)) {
    throw bad("twinCosine", `must lie in [−1, 1], got ${p.twinCosine}`);
  }
  if (!(p.captionDropout >= 0 && p.captionDropout <= 1)) {
    throw bad("captionDropout", `must lie in [0, 1], got ${p.captionDropout}`);
  }
  if (!(p.coefMean > 0)) throw bad("coefMean", `must be > 0, got ${p.coefMean}`);
  for (
    const k of [
      "zipf",
      "twinCosineSpread",
      "coefSpread",
      "captionJitter",
      "gap",
      "cone",
      "noise",
      "noiseDecay",
    ] as const
  ) {
    if (!(p[k] >= 0) || !Number.isFinite(p[k])) throw bad(k, `must be a finite number ≥ 0`);
  }
  if (p.d < 2 + 1) throw bad("d", "must be at least 3 (cone and gap directions)");
}

/**
 * How a world's rows are produced (the generative model is the same; see the file's doc):
 * - `float64`: every row summed in float64, one term after another in JS, its noise drawn from the
 *   one world stream (Box–Muller) — the reference; bit-identical on every machine, but O(rows·d²)
 *   scalar work and rows·d slow normals: minutes at 600,000 × 768;
 * - `gemm`: blocks of rows summed in float32 by the compute backend — the planted terms as sparse
 *   codes × [directions; cone; gap], the noise as a GEMM of its coefficients with the noise basis —
 *   with each row's noise drawn from its own stream (ziggurat normals). Seconds at paper scale;
 *   bit-identical on the same backend. The planted directions, basis and ids are those of
 *   `float64`; the rows are another draw of the same model (the main stream no longer carries the
 *   noise).
 */
export type WorldGenerator = "float64" | "gemm";

/** Noise multiply-adds (rows·d²) above which {@link defaultWorldGenerator} picks `gemm`. */
export const GEMM_WORLD_WORK = 1e10;

/**
 * The generator a world gets when the config leaves `dataset.world.generator` unset: `float64`
 * up to {@link GEMM_WORLD_WORK} noise multiply-adds (the default world: 24,000 × 128² = 3.9e8),
 * `gemm` above (600,000 × 768² = 3.5e11).
 */
export function defaultWorldGenerator(
  p: Pick<WorldParams, "d" | "images" | "captionsPerImage">,
): WorldGenerator {
  const rows = p.images * (1 + p.captionsPerImage);
  return rows * p.d * p.d > GEMM_WORLD_WORK ? "gemm" : "float64";
}

/** Options of {@link generateWorld} and {@link generateWorldOn}. */
export interface GenerateWorldOptions {
  /** Called after each block of rows with the rows done so far and the total. */
  onProgress?: (rows: number, total: number) => void;
  /**
   * Images per block (default: about 2048 rows a block). The `gemm` generator's bytes depend on
   * it (a BLAS may sum a product of another height in another order); `float64`'s do not.
   */
  blockImages?: number;
}

/** The planted structure, drawn first: directions, offsets, noise basis and spectrum. */
interface Plan extends
  Pick<
    GroundTruth,
    | "directions"
    | "directionConcept"
    | "directionModality"
    | "conceptKind"
    | "conceptFrequency"
    | "twins"
    | "twinCosine"
  > {
  coneDir: Float64Array;
  gapDir: Float64Array;
  /** The directions (m×d) as float64: the same values as the float32 truth. */
  dir64: Float64Array;
  fS: Float64Array;
  fI: Float64Array;
  fT: Float64Array;
  /** d×d: row b is noise basis vector b. */
  basis: Float64Array;
  noiseStd: Float64Array;
}

function drawPlan(p: WorldParams, rng: Rng): Plan {
  const d = p.d;
  const S = p.sharedConcepts, I = p.imageConcepts, T = p.textConcepts;
  const nConcepts = S + I + T;
  const m = 2 * S + I + T;

  // Planted offsets: cone c and gap g, orthonormal.
  const coneDir = randomUnit(rng, d);
  const gapDir = orthonormalise(randomUnit(rng, d), [coneDir], rng);

  // Directions and concept tables.
  const directions = new Float32Array(m * d);
  const directionConcept = new Int32Array(m);
  const directionModality: Modality[] = new Array(m);
  const conceptKind: ("shared" | "image" | "text")[] = new Array(nConcepts);
  const conceptFrequency = new Float64Array(nConcepts);
  const twins: [number, number][] = [];
  const twinCosine = new Float64Array(S);
  const fS = zipfFrequencies(S, p.maxFrequency, p.zipf);
  const fI = zipfFrequencies(I, p.maxFrequency, p.zipf);
  const fT = zipfFrequencies(T, p.maxFrequency, p.zipf);
  const put = (k: number, v: Float64Array, concept: number, mod: Modality) => {
    for (let i = 0; i < d; i++) directions[k * d + i] = v[i];
    directionConcept[k] = concept;
    directionModality[k] = mod;
  };
  for (let j = 0; j < S; j++) {
    const u = randomUnit(rng, d);
    const w = orthonormalise(randomUnit(rng, d), [u], rng);
    const t = Math.max(
      -1,
      Math.min(1, p.twinCosine + p.twinCosineSpread * (2 * rng.uniform() - 1)),
    );
    const s = Math.sqrt(Math.max(0, 1 - t * t));
    const v = new Float64Array(d);
    for (let i = 0; i < d; i++) v[i] = t * u[i] + s * w[i];
    put(2 * j, u, j, "image");
    put(2 * j + 1, v, j, "text");
    conceptKind[j] = "shared";
    conceptFrequency[j] = fS[j];
    twins.push([2 * j, 2 * j + 1]);
    twinCosine[j] = t;
  }
  for (let j = 0; j < I; j++) {
    put(2 * S + j, randomUnit(rng, d), S + j, "image");
    conceptKind[S + j] = "image";
    conceptFrequency[S + j] = fI[j];
  }
  for (let j = 0; j < T; j++) {
    put(2 * S + I + j, randomUnit(rng, d), S + I + j, "text");
    conceptKind[S + I + j] = "text";
    conceptFrequency[S + I + j] = fT[j];
  }
  // Float64 directions exactly as the float32 table holds them (truth = stored bytes).
  const dir64 = Float64Array.from(directions);

  // Noise basis (random orthonormal) and spectrum.
  const rows: Float64Array[] = [];
  for (let i = 0; i < d; i++) rows.push(orthonormalise(randomUnit(rng, d), rows, rng));
  const basis = new Float64Array(d * d);
  rows.forEach((q, b) => basis.set(q, b * d));
  const noiseStd = new Float64Array(d);
  let ss = 0;
  for (let i = 0; i < d; i++) {
    noiseStd[i] = Math.pow(i + 1, -p.noiseDecay);
    ss += noiseStd[i] * noiseStd[i];
  }
  for (let i = 0; i < d; i++) noiseStd[i] *= p.noise / Math.sqrt(ss);
  return {
    coneDir,
    gapDir,
    directions,
    dir64,
    directionConcept,
    directionModality,
    conceptKind,
    conceptFrequency,
    twins,
    twinCosine,
    fS,
    fI,
    fT,
    basis,
    noiseStd,
  };
}

/**
 * The random draws of a block of rows, in the generator's one stream order: per image its
 * concepts and coefficients, its noise, then per caption its concepts, coefficients and noise.
 */
interface Block {
  /** First table row of the block. */
  row0: number;
  rows: number;
  /** 1 for an image row. */
  image: Uint8Array;
  /** CSR of the planted terms: direction ids and float64 coefficients (before normalisation). */
  actPtr: Int32Array;
  actIdx: number[];
  actCoef: number[];
  /**
   * rows×d noise coefficients e_b = noiseStd[b]·N(0,1) along the noise basis: float64 from the
   * main stream (`float64` generator), or float32 from each row's own stream (`gemm`).
   */
  noise: Float64Array;
  noise32: Float32Array;
}

/** The rows, ids and truth being filled, block by block. */
interface Output {
  vectors: Float32Array;
  ids: string[];
  pairIds: string[];
  modality: Modality[];
  source: (string | null)[];
  rowPtr: Int32Array;
  actIndex: Int32Array;
  actValue: Float32Array;
  nnz: number;
}

/** Draw images [img0, img1) into `blk` (and their ids and display texts into `out`). */
function drawBlock(
  p: WorldParams,
  plan: Plan,
  rng: Rng,
  img0: number,
  img1: number,
  blk: Block,
  out: Output,
  drawNoise: boolean,
): void {
  const d = p.d, S = p.sharedConcepts, I = p.imageConcepts, T = p.textConcepts;
  const { fS, fI, fT, noiseStd, directionConcept } = plan;
  const logMean = Math.log(p.coefMean);
  const width = String(p.images - 1).length;
  const per = 1 + p.captionsPerImage;
  blk.row0 = img0 * per;
  blk.rows = (img1 - img0) * per;
  blk.actIdx.length = 0;
  blk.actCoef.length = 0;
  let r = 0;
  const emit = (mod: Modality, act: number[], coef: number[], id: string, pairId: string) => {
    blk.image[r] = mod === "image" ? 1 : 0;
    for (let a = 0; a < act.length; a++) {
      blk.actIdx.push(act[a]);
      blk.actCoef.push(coef[a]);
    }
    blk.actPtr[r + 1] = blk.actIdx.length;
    if (drawNoise) rng.scaledNormalsInto(blk.noise, r * d, noiseStd, d);
    const row = blk.row0 + r;
    out.ids[row] = id;
    out.pairIds[row] = pairId;
    out.modality[row] = mod;
    out.source[row] = `${mod === "image" ? "image" : "caption"} of concepts: ${
      act.map((k) => `c${directionConcept[k]}`).join(" ") || "(none)"
    }`;
    r++;
  };
  blk.actPtr[0] = 0;
  for (let img = img0; img < img1; img++) {
    const pairId = `img${String(img).padStart(width, "0")}`;
    const act: number[] = [], coef: number[] = [];
    for (let j = 0; j < S; j++) {
      if (rng.uniform() < fS[j]) {
        act.push(2 * j);
        coef.push(Math.exp(logMean + p.coefSpread * rng.normal()));
      }
    }
    for (let j = 0; j < I; j++) {
      if (rng.uniform() < fI[j]) {
        act.push(2 * S + j);
        coef.push(Math.exp(logMean + p.coefSpread * rng.normal()));
      }
    }
    emit("image", act, coef, pairId, pairId);
    for (let k = 0; k < p.captionsPerImage; k++) {
      const cact: number[] = [], ccoef: number[] = [];
      for (let a = 0; a < act.length; a++) {
        if (act[a] >= 2 * S) continue; // image-only concepts do not reach captions
        if (rng.uniform() < p.captionDropout) continue;
        const c = coef[a] * (1 + p.captionJitter * rng.normal());
        if (c > 0) {
          cact.push(act[a] + 1);
          ccoef.push(c);
        }
      }
      for (let j = 0; j < T; j++) {
        if (rng.uniform() < fT[j]) {
          cact.push(2 * S + I + j);
          ccoef.push(Math.exp(logMean + p.coefSpread * rng.normal()));
        }
      }
      emit("text", cact, ccoef, `cap${pairId.slice(3)}_${k}`, pairId);
    }
  }
}

/**
 * The `gemm` generator's noise: row r's coefficients come from its own stream (seeded by the
 * world seed and r; ziggurat normals), so they do not depend on blocking and cost about one
 * 32-bit draw each.
 */
function drawRowNoise(plan: Plan, seed: number, blk: Block): void {
  const d = plan.noiseStd.length;
  const base = hashString(`synthetic world ${seed} noise`);
  for (let r = 0; r < blk.rows; r++) {
    new Rng((base + blk.row0 + r) | 0).zigguratNormalsInto(blk.noise32, r * d, plan.noiseStd, d);
  }
}

/** Append the block's planted coefficients, times each row's normalisation `scale`, to the truth. */
function putActive(blk: Block, scale: Float64Array, out: Output): void {
  for (let r = 0; r < blk.rows; r++) {
    for (let a = blk.actPtr[r]; a < blk.actPtr[r + 1]; a++) {
      if (out.nnz === out.actIndex.length) {
        const grow = Math.max(1024, out.nnz * 2);
        const ni = new Int32Array(grow), nv = new Float32Array(grow);
        ni.set(out.actIndex);
        nv.set(out.actValue);
        out.actIndex = ni;
        out.actValue = nv;
      }
      out.actIndex[out.nnz] = blk.actIdx[a];
      out.actValue[out.nnz] = blk.actCoef[a] * scale[r];
      out.nnz++;
    }
    out.rowPtr[blk.row0 + r + 1] = out.nnz;
  }
}

/** The float64 reference sum of a block's rows (the original generator's exact arithmetic). */
function sumBlockF64(p: WorldParams, plan: Plan, blk: Block, x: Float64Array, out: Output): void {
  const d = p.d;
  const { coneDir, gapDir, dir64, basis } = plan;
  const scale = new Float64Array(blk.rows);
  for (let r = 0; r < blk.rows; r++) {
    const sign = blk.image[r] ? 0.5 : -0.5;
    for (let i = 0; i < d; i++) x[i] = p.cone * coneDir[i] + sign * p.gap * gapDir[i];
    for (let a = blk.actPtr[r]; a < blk.actPtr[r + 1]; a++) {
      const o = blk.actIdx[a] * d, c = blk.actCoef[a];
      for (let i = 0; i < d; i++) x[i] += c * dir64[o + i];
    }
    const e0 = r * d;
    for (let b = 0; b < d; b++) {
      const e = blk.noise[e0 + b];
      if (e === 0) continue;
      const o = b * d;
      for (let i = 0; i < d; i++) x[i] += e * basis[o + i];
    }
    let sc = 1;
    if (p.normalise) {
      let s = 0;
      for (let i = 0; i < d; i++) s += x[i] * x[i];
      sc = s > 0 ? 1 / Math.sqrt(s) : 1;
    }
    const o = (blk.row0 + r) * d;
    for (let i = 0; i < d; i++) out.vectors[o + i] = x[i] * sc;
    scale[r] = sc;
  }
  putActive(blk, scale, out);
}

/** Backend tensors of the `gemm` generator: directions plus cone and gap, and the noise basis. */
interface GemmState {
  backend: Backend;
  /** (m+2)×d: the planted directions, then the cone and the gap direction. */
  dict: Tensor;
  /** d×d noise basis. */
  basis: Tensor;
}

/** The float32 backend sum of a block's rows: X = Z·[directions; cone; gap] + E·Q, normalised. */
async function sumBlockGemm(
  p: WorldParams,
  plan: Plan,
  blk: Block,
  g: GemmState,
  out: Output,
): Promise<void> {
  const d = p.d, m = plan.directions.length / d, n = blk.rows;
  const { backend } = g;
  const nnz = blk.actPtr[n] + 2 * n;
  const rowPtr = new Int32Array(n + 1), index = new Int32Array(nnz), value = new Float32Array(nnz);
  let e = 0;
  for (let r = 0; r < n; r++) {
    index[e] = m;
    value[e++] = p.cone;
    index[e] = m + 1;
    value[e++] = (blk.image[r] ? 0.5 : -0.5) * p.gap;
    for (let a = blk.actPtr[r]; a < blk.actPtr[r + 1]; a++) {
      index[e] = blk.actIdx[a];
      value[e++] = blk.actCoef[a];
    }
    rowPtr[r + 1] = e;
  }
  const z = backend.sparse(n, m + 2, nnz);
  const noise = backend.upload(blk.noise32.subarray(0, n * d), [n, d]);
  const x = backend.zeros([n, d]);
  let xs: Float32Array;
  try {
    backend.write(z.rowPtr, rowPtr);
    backend.write(z.index, index);
    backend.write(z.value, value);
    backend.sparseDecode(z, g.dict, null, x);
    backend.gemm(noise, g.basis, x, { beta: 1 });
    xs = await backend.read(x) as Float32Array;
  } finally {
    backend.disposeSparse(z);
    backend.dispose(noise);
    backend.dispose(x);
  }
  const scale = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    let sc = 1;
    if (p.normalise) {
      let s = 0;
      for (let i = 0; i < d; i++) s += xs[o + i] * xs[o + i];
      sc = s > 0 ? 1 / Math.sqrt(s) : 1;
    }
    const w = (blk.row0 + r) * d;
    for (let i = 0; i < d; i++) out.vectors[w + i] = xs[o + i] * sc;
    scale[r] = sc;
  }
  putActive(blk, scale, out);
}

/** Everything a generator run shares: the plan, the block buffers and the output. */
function startWorld(p: WorldParams, seed: number, opts: GenerateWorldOptions) {
  checkWorldParams(p);
  const rng = new Rng(seed);
  const plan = drawPlan(p, rng);
  const per = 1 + p.captionsPerImage;
  const nRows = p.images * per;
  const blockImages = Math.max(1, Math.floor(opts.blockImages ?? Math.ceil(2048 / per)));
  const blockRows = Math.min(p.images, blockImages) * per;
  const blk: Block = {
    row0: 0,
    rows: 0,
    image: new Uint8Array(blockRows),
    actPtr: new Int32Array(blockRows + 1),
    actIdx: [],
    actCoef: [],
    noise: new Float64Array(p.generator === "gemm" ? 0 : blockRows * p.d),
    noise32: new Float32Array(p.generator === "gemm" ? blockRows * p.d : 0),
  };
  const out: Output = {
    vectors: new Float32Array(nRows * p.d),
    ids: new Array(nRows),
    pairIds: new Array(nRows),
    modality: new Array(nRows),
    source: new Array(nRows),
    rowPtr: new Int32Array(nRows + 1),
    actIndex: new Int32Array(Math.max(1024, nRows * 4)),
    actValue: new Float32Array(Math.max(1024, nRows * 4)),
    nnz: 0,
  };
  return { rng, plan, nRows, blockImages, blk, out };
}

function finishWorld(p: WorldParams, plan: Plan, nRows: number, out: Output): SyntheticWorld {
  const truth: GroundTruth = {
    d: p.d,
    m: plan.directionConcept.length,
    directions: plan.directions,
    directionConcept: plan.directionConcept,
    directionModality: plan.directionModality,
    conceptKind: plan.conceptKind,
    conceptFrequency: plan.conceptFrequency,
    twins: plan.twins,
    twinCosine: plan.twinCosine,
    rowActive: {
      rowPtr: out.rowPtr,
      index: out.actIndex.slice(0, out.nnz),
      value: out.actValue.slice(0, out.nnz),
    },
    captionDropout: p.captionDropout,
    gapDirection: Float32Array.from(plan.gapDir),
    coneDirection: Float32Array.from(plan.coneDir),
  };
  const split: Split[] = new Array(nRows).fill("train");
  return {
    set: {
      n: nRows,
      d: p.d,
      vectors: out.vectors,
      ids: out.ids,
      pairIds: out.pairIds,
      modality: out.modality,
      split,
      source: out.source,
    },
    truth,
  };
}

/**
 * Generate a world with the `float64` generator (see {@link WorldGenerator}); a world whose
 * `generator` is `gemm` needs a backend: {@link generateWorldOn}.
 * @param p knobs (see {@link WorldParams})
 * @param seed world seed; the same seed and knobs give bit-identical output
 * @returns rows in pair order (image i, then its captions); ids `img<i>` / `cap<i>_<k>`; pair id
 *   `img<i>`; `source` a display text listing the planted concepts of the row
 */
export function generateWorld(
  p: WorldParams,
  seed: number,
  opts: GenerateWorldOptions = {},
): SyntheticWorld {
  if (p.generator === "gemm") {
    throw new RangeError("generateWorld: generator `gemm` needs a backend; use generateWorldOn");
  }
  const { rng, plan, nRows, blockImages, blk, out } = startWorld(p, seed, opts);
  const x = new Float64Array(p.d);
  for (let img = 0; img < p.images; img += blockImages) {
    drawBlock(p, plan, rng, img, Math.min(p.images, img + blockImages), blk, out, true);
    sumBlockF64(p, plan, blk, x, out);
    opts.onProgress?.(blk.row0 + blk.rows, nRows);
  }
  return finishWorld(p, plan, nRows, out);
}

/**
 * Generate a world with the generator its knobs name (unset: `float64`), the `gemm` one on
 * `backend` (see {@link WorldGenerator}). Same rows, ids and truth layout as
 * {@link generateWorld}; with `float64` the very same bytes.
 */
export async function generateWorldOn(
  p: WorldParams,
  seed: number,
  backend: Backend,
  opts: GenerateWorldOptions = {},
): Promise<SyntheticWorld> {
  if (p.generator !== "gemm") return generateWorld(p, seed, opts);
  const { rng, plan, nRows, blockImages, blk, out } = startWorld(p, seed, opts);
  const d = p.d, m = plan.directionConcept.length;
  const dict = new Float32Array((m + 2) * d);
  dict.set(plan.directions);
  for (let i = 0; i < d; i++) {
    dict[m * d + i] = plan.coneDir[i];
    dict[(m + 1) * d + i] = plan.gapDir[i];
  }
  const g: GemmState = {
    backend,
    dict: backend.upload(dict, [m + 2, d]),
    basis: backend.upload(Float32Array.from(plan.basis), [d, d]),
  };
  try {
    for (let img = 0; img < p.images; img += blockImages) {
      drawBlock(p, plan, rng, img, Math.min(p.images, img + blockImages), blk, out, false);
      drawRowNoise(plan, seed, blk);
      await sumBlockGemm(p, plan, blk, g, out);
      opts.onProgress?.(blk.row0 + blk.rows, nRows);
    }
  } finally {
    backend.dispose(g.dict);
    backend.dispose(g.basis);
  }
  return finishWorld(p, plan, nRows, out);
}
