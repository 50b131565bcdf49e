/**
 * The synthetic world (data/synthetic_world.ts): its statistics against its own parameters
 * (closed forms), the planted truth against the rows, determinism, calibration to COCO-500 CLIP,
 * the truth tables round trip, and the `dataset` stage on a synthetic world.
 */
import assert from "node:assert/strict";
import { plantedDeviation } from "./helpers/planted_world.ts";
import { testContext } from "./helpers/stage_context.ts";
import { join } from "node:path";
import { generateWorld, type WorldParams, zipfFrequencies } from "../data/synthetic_world.ts";
import { centroidDistance, topOneRetrieval } from "../data/geometry.ts";
import { readGroundTruth, writeGroundTruth } from "../data/ground_truth_io.ts";
import { readEmbeddings } from "../data/embeddings_io.ts";
import { datasetSection, worldSection } from "../tasks/config/dataset.ts";
import { datasetStage } from "../tasks/dataset.ts";
import { UserError } from "../pipeline/errors.ts";

/** A small world for statistics (fast): d 48, 3000 images × 2 captions. */
function smallWorld(over: Partial<WorldParams> = {}): WorldParams {
  return worldSection.parse({
    d: 48,
    images: 3000,
    captionsPerImage: 2,
    sharedConcepts: 24,
    imageConcepts: 6,
    textConcepts: 6,
    maxFrequency: 0.3,
    zipf: 0.8,
    ...over,
  });
}

Deno.test("world: planted frequencies are Zipf and empirical frequencies match them (4σ)", () => {
  const p = smallWorld();
  const { set, truth } = generateWorld(p, 7);
  const S = p.sharedConcepts, I = p.imageConcepts, T = p.textConcepts;
  // Closed form of the planted frequencies.
  for (let r = 0; r < S; r++) {
    assert.ok(Math.abs(truth.conceptFrequency[r] - 0.3 * Math.pow(r + 1, -0.8)) < 1e-12);
  }
  assert.deepEqual(Array.from(zipfFrequencies(3, 0.5, 1)), [0.5, 0.25, 0.5 / 3]);
  // Empirical per-modality frequencies from the planted activations.
  const nImg = set.modality.filter((m) => m === "image").length;
  const nTxt = set.n - nImg;
  const countImg = new Float64Array(S + I + T), countTxt = new Float64Array(S + I + T);
  const { rowPtr, index } = truth.rowActive;
  for (let r = 0; r < set.n; r++) {
    for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) {
      const j = truth.directionConcept[index[k]];
      (set.modality[r] === "image" ? countImg : countTxt)[j]++;
      assert.equal(
        truth.directionModality[index[k]],
        set.modality[r],
        "direction of the row's modality",
      );
    }
  }
  const within = (emp: number, f: number, N: number, what: string) => {
    const tol = 4 * Math.sqrt(f * (1 - f) / N) + 1e-9;
    assert.ok(Math.abs(emp - f) <= tol, `${what}: empirical ${emp} vs planted ${f} (tol ${tol})`);
  };
  for (let j = 0; j < S + I + T; j++) {
    const f = truth.conceptFrequency[j];
    const kind = truth.conceptKind[j];
    if (kind !== "text") within(countImg[j] / nImg, f, nImg, `concept ${j} on images`);
    else assert.equal(countImg[j], 0);
    if (kind === "shared") {
      within(countTxt[j] / nTxt, f * (1 - p.captionDropout), nTxt, `concept ${j} on captions`);
    } else if (kind === "text") within(countTxt[j] / nTxt, f, nTxt, `concept ${j} on captions`);
    else assert.equal(countTxt[j], 0, "image-only concepts never reach captions");
  }
});

Deno.test("world: twin cosines are exact, within the configured range, mean near twinCosine", () => {
  const p = smallWorld({ sharedConcepts: 200, twinCosine: 0.5, twinCosineSpread: 0.3, images: 10 });
  const { truth } = generateWorld(p, 3);
  const d = truth.d;
  const dot = (a: number, b: number) => {
    let s = 0;
    for (let i = 0; i < d; i++) s += truth.directions[a * d + i] * truth.directions[b * d + i];
    return s;
  };
  for (let k = 0; k < truth.m; k++) assert.ok(Math.abs(dot(k, k) - 1) < 1e-5, "unit directions");
  assert.equal(truth.twins.length, 200);
  let mean = 0;
  truth.twins.forEach(([a, b], t) => {
    assert.equal(truth.directionModality[a], "image");
    assert.equal(truth.directionModality[b], "text");
    assert.ok(Math.abs(dot(a, b) - truth.twinCosine[t]) < 1e-5, `twin ${t} cosine`);
    assert.ok(truth.twinCosine[t] >= 0.2 - 1e-12 && truth.twinCosine[t] <= 0.8 + 1e-12);
    mean += truth.twinCosine[t] / 200;
  });
  // Uniform on [0.2, 0.8]: sd of the mean = 0.3/√3/√200 ≈ 0.012.
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean twin cosine ${mean}`);
});

Deno.test("world: rows are exactly the planted sum when noise is 0 (truth matches the rows)", () => {
  const p = smallWorld({ noise: 0, normalise: false, images: 200 });
  const planted = generateWorld(p, 11);
  const d = planted.set.d;
  const worst = plantedDeviation(p, planted);
  assert.ok(worst < 1e-4, `max deviation ${worst}`);
  // Normalised world: unit rows.
  const w = generateWorld(smallWorld({ images: 100 }), 11);
  for (let r = 0; r < w.set.n; r++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += w.set.vectors[r * d + i] ** 2;
    assert.ok(Math.abs(Math.sqrt(s) - 1) < 1e-5);
  }
});

Deno.test("world: the image−text centroid difference matches its closed form (gap, cone, concepts)", () => {
  const p = smallWorld({ normalise: false, captionJitter: 0, images: 4000 });
  const { set, truth } = generateWorld(p, 5);
  const d = set.d;
  // Empirical centroids and the trace of each modality's covariance.
  const mi = new Float64Array(d), mt = new Float64Array(d);
  const qi = new Float64Array(d), qt = new Float64Array(d);
  let ni = 0, nt = 0;
  for (let r = 0; r < set.n; r++) {
    const img = set.modality[r] === "image";
    img ? ni++ : nt++;
    for (let i = 0; i < d; i++) {
      const v = set.vectors[r * d + i];
      (img ? mi : mt)[i] += v;
      (img ? qi : qt)[i] += v * v;
    }
  }
  let trI = 0, trT = 0;
  for (let i = 0; i < d; i++) {
    mi[i] /= ni;
    mt[i] /= nt;
    trI += qi[i] / ni - mi[i] ** 2;
    trT += qt[i] / nt - mt[i] ** 2;
  }
  // E[image] − E[text] = gap·g + Σ_image-side f·E[a]·u − Σ_text-side f′·E[a]·v (cone cancels).
  const ea = p.coefMean * Math.exp(p.coefSpread ** 2 / 2);
  const expected = (gap: number) => {
    const e = new Float64Array(d);
    for (let i = 0; i < d; i++) e[i] = gap * truth.gapDirection![i];
    for (let k = 0; k < truth.m; k++) {
      const j = truth.directionConcept[k];
      const kind = truth.conceptKind[j];
      const f = truth.conceptFrequency[j];
      const isImg = truth.directionModality[k] === "image";
      const w = isImg ? f * ea : -(kind === "shared" ? f * (1 - p.captionDropout) : f) * ea;
      for (let i = 0; i < d; i++) e[i] += w * truth.directions[k * d + i];
    }
    return e;
  };
  const dist = (e: Float64Array) => {
    let s = 0;
    for (let i = 0; i < d; i++) s += (mi[i] - mt[i] - e[i]) ** 2;
    return Math.sqrt(s);
  };
  const sd = Math.sqrt(trI / ni + trT / nt); // rms norm of the sampling error
  const tol = 2 * sd;
  assert.ok(dist(expected(p.gap)) < tol, `error ${dist(expected(p.gap))} vs tolerance ${tol}`);
  // The test can fail: a gap off by 0.2 is far outside the tolerance.
  assert.ok(dist(expected(p.gap + 0.2)) > 2 * tol);
});

/** Eigenvalues of a symmetric d×d matrix (cyclic Jacobi, float64), descending. */
function symmetricEigenvalues(a: Float64Array, d: number): number[] {
  const m = Float64Array.from(a);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += m[p * d + q] ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = m[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * d + q] - m[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = m[k * d + p], akq = m[k * d + q];
          m[k * d + p] = c * akp - s * akq;
          m[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = m[p * d + k], aqk = m[q * d + k];
          m[p * d + k] = c * apk - s * aqk;
          m[q * d + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: d }, (_, i) => m[i * d + i]).sort((x, y) => y - x);
}

Deno.test("world: noise has the planted total variance and decaying spectrum (anisotropy)", () => {
  // No concept ever fires (frequency 1e-12), no offsets, no normalisation: rows are pure noise.
  const d = 12, noise = 0.8, decay = 1;
  const p = smallWorld({
    d,
    images: 6000,
    captionsPerImage: 1,
    maxFrequency: 1e-12,
    gap: 0,
    cone: 0,
    noise,
    noiseDecay: decay,
    normalise: false,
  });
  const { set, truth } = generateWorld(p, 2);
  assert.equal(truth.rowActive.index.length, 0);
  const cov = new Float64Array(d * d);
  for (let r = 0; r < set.n; r++) {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) cov[i * d + j] += set.vectors[r * d + i] * set.vectors[r * d + j];
    }
  }
  for (let i = 0; i < d * d; i++) cov[i] /= set.n;
  const eig = symmetricEigenvalues(cov, d);
  // Planted: variance of component i ∝ (i+1)^(−2·decay), summing to noise².
  let z = 0;
  for (let i = 0; i < d; i++) z += Math.pow(i + 1, -2 * decay);
  const want = Array.from({ length: d }, (_, i) => (noise ** 2 * Math.pow(i + 1, -2 * decay)) / z);
  const total = eig.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total / noise ** 2 - 1) < 0.03, `total variance ${total} vs ${noise ** 2}`);
  for (const i of [0, 1, 2]) {
    assert.ok(Math.abs(eig[i] / want[i] - 1) < 0.1, `eigenvalue ${i}: ${eig[i]} vs ${want[i]}`);
  }
  // Anisotropic: the top component carries far more variance than the last.
  assert.ok(eig[0] / eig[d - 1] > 50);
});

Deno.test("world: the same seed gives identical bytes, another seed different ones", () => {
  const p = smallWorld({ images: 300 });
  const a = generateWorld(p, 42), b = generateWorld(p, 42), c = generateWorld(p, 43);
  const bytes = (x: Float32Array | Int32Array) =>
    new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  assert.deepEqual(bytes(a.set.vectors), bytes(b.set.vectors));
  assert.deepEqual(bytes(a.truth.directions), bytes(b.truth.directions));
  assert.deepEqual(bytes(a.truth.rowActive.value), bytes(b.truth.rowActive.value));
  assert.deepEqual(a.set.ids, b.set.ids);
  assert.notDeepEqual(bytes(a.set.vectors), bytes(c.set.vectors));
  assert.notDeepEqual(bytes(a.truth.directions), bytes(c.truth.directions));
});

Deno.test("world: default knobs are calibrated to COCO-500 CLIP within 25% (0.851, 0.55)", () => {
  const p = worldSection.parse({});
  const { set } = generateWorld(p, datasetSection.parse({}).seed);
  const dist = centroidDistance(set);
  const r = topOneRetrieval(set, 500);
  assert.equal(r.pairs, 500);
  assert.ok(Math.abs(dist / 0.851 - 1) <= 0.25, `centroid distance ${dist}`);
  assert.ok(Math.abs(r.imageToText / 0.55 - 1) <= 0.25, `image→text retrieval ${r.imageToText}`);
  assert.ok(Math.abs(r.textToImage / 0.51 - 1) <= 0.25, `text→image retrieval ${r.textToImage}`);
  assert.equal(set.n, p.images * (1 + p.captionsPerImage));
});

Deno.test("world: bad knobs are user errors naming the key", () => {
  assert.throws(
    () =>
      generateWorld({ ...smallWorld(), sharedConcepts: 0, imageConcepts: 0, textConcepts: 0 }, 0),
    (e: unknown) => e instanceof UserError && /dataset\.world\.sharedConcepts/.test(e.message),
  );
  assert.throws(
    () => generateWorld({ ...smallWorld(), maxFrequency: 1.5 }, 0),
    (e: unknown) => e instanceof UserError && /dataset\.world\.maxFrequency/.test(e.message),
  );
  assert.throws(() => datasetSection.parse({ world: { noSuchKnob: 1 } }));
});

Deno.test("truth tables: writeGroundTruth / readGroundTruth round trip", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { truth } = generateWorld(smallWorld({ images: 50 }), 1);
    await writeGroundTruth(dir, truth);
    const back = await readGroundTruth(dir);
    assert.equal(back.d, truth.d);
    assert.equal(back.m, truth.m);
    assert.deepEqual(back.directions, truth.directions);
    assert.deepEqual(back.directionConcept, truth.directionConcept);
    assert.deepEqual(back.directionModality, truth.directionModality);
    assert.deepEqual(back.conceptKind, truth.conceptKind);
    assert.deepEqual(back.conceptFrequency, truth.conceptFrequency);
    assert.deepEqual(back.twins, truth.twins);
    assert.deepEqual(back.twinCosine, truth.twinCosine);
    assert.deepEqual(back.rowActive.rowPtr, truth.rowActive.rowPtr);
    assert.deepEqual(back.rowActive.index, truth.rowActive.index);
    assert.deepEqual(back.rowActive.value, truth.rowActive.value);
    assert.equal(back.captionDropout, truth.captionDropout);
    assert.deepEqual(back.gapDirection, truth.gapDirection);
    assert.deepEqual(back.coneDirection, truth.coneDirection);
    await Deno.remove(join(dir, "truth_rows.parquet"));
    await assert.rejects(() => readGroundTruth(dir), UserError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dataset stage (synthetic): files, meta, pair-level split, identical bytes per seed", async () => {
  const root = await Deno.makeTempDir();
  try {
    const params = datasetSection.parse({
      world: { d: 32, images: 400, captionsPerImage: 2, sharedConcepts: 20 },
      evalFraction: 0.25,
    });
    const run = async (name: string, p = params) => {
      const out = join(root, name);
      await Deno.mkdir(out);
      const lines: string[] = [], meta: Record<string, unknown> = {};
      await datasetStage.run(testContext(p, out, { id: "dataset", lines, meta }));
      return { out, lines, meta };
    };
    const a = await run("a");
    const files = [];
    for await (const e of Deno.readDir(a.out)) files.push(e.name);
    assert.deepEqual(files.sort(), [
      "embeddings.parquet",
      "truth_concepts.parquet",
      "truth_directions.parquet",
      "truth_rows.parquet",
    ]);
    assert.equal(a.meta.n, 1200);
    assert.equal(a.meta.d, 32);
    assert.deepEqual(a.meta.counts, {
      train: { image: 300, text: 600 },
      eval: { image: 100, text: 200 },
    });
    const set = await readEmbeddings(join(a.out, "embeddings.parquet"));
    const side = new Map<string, string>();
    for (let r = 0; r < set.n; r++) {
      const s = side.get(set.pairIds[r]);
      if (s !== undefined) assert.equal(set.split[r], s, "a pair stays on one side");
      side.set(set.pairIds[r], set.split[r]);
    }
    const b = await run("b");
    const c = await run("c", { ...params, seed: 1 });
    for (const f of files) {
      const x = await Deno.readFile(join(a.out, f)), y = await Deno.readFile(join(b.out, f));
      assert.deepEqual(x, y, `${f}: same seed, same bytes`);
      const z = await Deno.readFile(join(c.out, f));
      assert.notDeepEqual(x, z, `${f}: other seed differs`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
