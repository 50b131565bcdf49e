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
import { Rng } from "./random.ts";
import { UserError } from "../pipeline/errors.ts";

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
 * Generate a world.
 * @param p knobs (see {@link WorldParams})
 * @param seed world seed; the same seed and knobs give bit-identical output
 * @returns rows in pair order (image i, then its captions); ids `img<i>` / `cap<i>_<k>`; pair id
 *   `img<i>`; `source` a display text listing the planted concepts of the row
 */
export function generateWorld(p: WorldParams, seed: number): SyntheticWorld {
  checkWorldParams(p);
  const rng = new Rng(seed);
  const d = p.d;
  const S = p.sharedConcepts, I = p.imageConcepts, T = p.textConcepts;
  const nConcepts = S + I + T;
  const m = 2 * S + I + T;

  // Planted offsets: cone c and gap g, orthonormal.
  const coneDir = randomUnit(rng, d);
  const gapDir = orthonormalise(randomUnit(rng, d), [coneDir], rng);

  // Directions and concept tables.
  const directions = new Float32Array(m * d);
  const dir64: Float64Array[] = new Array(m);
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
    dir64[k] = v;
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
  // Store float64 directions exactly as the float32 table holds them (truth = stored bytes).
  for (let k = 0; k < m; k++) {
    for (let i = 0; i < d; i++) dir64[k][i] = directions[k * d + i];
  }

  // Noise basis (random orthonormal) and spectrum.
  const basis: Float64Array[] = [];
  for (let i = 0; i < d; i++) basis.push(orthonormalise(randomUnit(rng, d), basis, rng));
  const noiseStd = new Float64Array(d);
  let ss = 0;
  for (let i = 0; i < d; i++) {
    noiseStd[i] = Math.pow(i + 1, -p.noiseDecay);
    ss += noiseStd[i] * noiseStd[i];
  }
  for (let i = 0; i < d; i++) noiseStd[i] *= p.noise / Math.sqrt(ss);

  const nRows = p.images * (1 + p.captionsPerImage);
  const vectors = new Float32Array(nRows * d);
  const ids: string[] = new Array(nRows);
  const pairIds: string[] = new Array(nRows);
  const modality: Modality[] = new Array(nRows);
  const split: Split[] = new Array(nRows).fill("train");
  const source: (string | null)[] = new Array(nRows);
  const rowPtr = new Int32Array(nRows + 1);
  const actIndex: number[] = [];
  const actValue: number[] = [];
  const logMean = Math.log(p.coefMean);
  const x = new Float64Array(d);
  const width = String(p.images - 1).length;

  const emit = (
    row: number,
    mod: Modality,
    act: number[],
    coef: number[],
    id: string,
    pairId: string,
  ) => {
    const sign = mod === "image" ? 0.5 : -0.5;
    for (let i = 0; i < d; i++) x[i] = p.cone * coneDir[i] + sign * p.gap * gapDir[i];
    for (let a = 0; a < act.length; a++) {
      const v = dir64[act[a]], c = coef[a];
      for (let i = 0; i < d; i++) x[i] += c * v[i];
    }
    for (let b = 0; b < d; b++) {
      const e = noiseStd[b] * rng.normal();
      if (e === 0) continue;
      const q = basis[b];
      for (let i = 0; i < d; i++) x[i] += e * q[i];
    }
    let scale = 1;
    if (p.normalise) {
      let s = 0;
      for (let i = 0; i < d; i++) s += x[i] * x[i];
      scale = s > 0 ? 1 / Math.sqrt(s) : 1;
    }
    for (let i = 0; i < d; i++) vectors[row * d + i] = x[i] * scale;
    for (let a = 0; a < act.length; a++) {
      actIndex.push(act[a]);
      actValue.push(coef[a] * scale);
    }
    rowPtr[row + 1] = actIndex.length;
    ids[row] = id;
    pairIds[row] = pairId;
    modality[row] = mod;
    source[row] = `${mod === "image" ? "image" : "caption"} of concepts: ${
      act.map((k) => `c${directionConcept[k]}`).join(" ") || "(none)"
    }`;
  };

  let row = 0;
  for (let img = 0; img < p.images; img++) {
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
    emit(row++, "image", act, coef, pairId, pairId);
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
      emit(row++, "text", cact, ccoef, `cap${pairId.slice(3)}_${k}`, pairId);
    }
  }

  const truth: GroundTruth = {
    d,
    m,
    directions,
    directionConcept,
    directionModality,
    conceptKind,
    conceptFrequency,
    twins,
    twinCosine,
    rowActive: {
      rowPtr,
      index: Int32Array.from(actIndex),
      value: Float32Array.from(actValue),
    },
    captionDropout: p.captionDropout,
    gapDirection: Float32Array.from(gapDir),
    coneDirection: Float32Array.from(coneDir),
  };
  return {
    set: { n: nRows, d, vectors, ids, pairIds, modality, split, source },
    truth,
  };
}
