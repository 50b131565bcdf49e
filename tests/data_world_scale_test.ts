/**
 * The synthetic world at scale: the `gemm` generator (float32 blocks on the compute backend)
 * against the planted truth and the `float64` reference, the bulk normal draws against the
 * one-at-a-time stream and the closed-form normal law, the size rule that picks the generator,
 * and the stage log's plain progress lines.
 */
import assert from "node:assert/strict";
import {
  defaultWorldGenerator,
  generateWorld,
  generateWorldOn,
  type WorldParams,
} from "../data/synthetic_world.ts";
import { Rng } from "../data/random.ts";
import { plantedDeviation } from "./helpers/planted_world.ts";
import { worldSection } from "../tasks/config/dataset.ts";
import { createBackend } from "../kernels/select.ts";
import { lineProgress } from "../pipeline/stage_log.ts";

function world(over: Partial<WorldParams> = {}): WorldParams {
  return worldSection.parse({
    d: 40,
    images: 700,
    captionsPerImage: 2,
    sharedConcepts: 20,
    imageConcepts: 5,
    textConcepts: 5,
    maxFrequency: 0.3,
    ...over,
  });
}

Deno.test("world gemm: rows are the planted sum (noise 0) to float32 rounding; truth as float64's", async () => {
  const backend = await createBackend("cpu");
  try {
    const p = world({ noise: 0, normalise: false, generator: "gemm" });
    const w = await generateWorldOn(p, 11, backend, { blockImages: 97 });
    assert.ok(plantedDeviation(p, w) < 1e-4, `deviation ${plantedDeviation(p, w)}`);
    // It can fail: a wrong gap sign on the text rows is far off.
    assert.ok(plantedDeviation({ ...p, gap: p.gap + 2 }, w) > 0.1);
    const ref = generateWorld({ ...p, generator: "float64" }, 11);
    assert.deepEqual(w.truth.directions, ref.truth.directions);
    assert.deepEqual(w.truth.gapDirection, ref.truth.gapDirection);
    assert.deepEqual(w.set.ids, ref.set.ids);
    assert.deepEqual(w.set.modality, ref.set.modality);
    // Normalised rows are unit.
    const u = await generateWorldOn(world({ generator: "gemm" }), 3, backend);
    for (let r = 0; r < u.set.n; r++) {
      let s = 0;
      for (let i = 0; i < u.set.d; i++) s += u.set.vectors[r * u.set.d + i] ** 2;
      assert.ok(Math.abs(Math.sqrt(s) - 1) < 1e-5);
    }
  } finally {
    backend.close();
  }
});

Deno.test("world gemm: noise has the planted per-direction variance; bytes fixed by the seed", async () => {
  const backend = await createBackend("cpu");
  try {
    // Pure noise: no concept fires, no offsets, no normalisation.
    const d = 10, noise = 0.7;
    const p = world({
      d,
      images: 5000,
      captionsPerImage: 1,
      maxFrequency: 1e-12,
      gap: 0,
      cone: 0,
      noise,
      noiseDecay: 1,
      normalise: false,
      generator: "gemm",
    });
    const a = await generateWorldOn(p, 2, backend, { blockImages: 333 });
    // Total variance noise², and the spread over directions is anisotropic as planted: the
    // variance along the float64 world's noise basis is read off the sample covariance's trace
    // and its largest Rayleigh quotient over the rows' own span (power iteration).
    const cov = new Float64Array(d * d);
    for (let r = 0; r < a.set.n; r++) {
      for (let i = 0; i < d; i++) {
        const xi = a.set.vectors[r * d + i];
        for (let j = 0; j < d; j++) cov[i * d + j] += xi * a.set.vectors[r * d + j];
      }
    }
    for (let i = 0; i < d * d; i++) cov[i] /= a.set.n;
    let tr = 0;
    for (let i = 0; i < d; i++) tr += cov[i * d + i];
    assert.ok(Math.abs(tr / noise ** 2 - 1) < 0.04, `total variance ${tr} vs ${noise ** 2}`);
    let v = new Float64Array(d).fill(1), top = 0;
    for (let it = 0; it < 200; it++) {
      const w = new Float64Array(d);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) w[i] += cov[i * d + j] * v[j];
      top = Math.hypot(...w);
      v = w.map((x) => x / top);
    }
    let z = 0;
    for (let i = 0; i < d; i++) z += Math.pow(i + 1, -2);
    const want = noise ** 2 / z; // planted variance of the first noise direction
    assert.ok(Math.abs(top / want - 1) < 0.1, `top eigenvalue ${top} vs ${want}`);
    // The same seed (and block size) gives the same bytes; another seed others.
    const b = await generateWorldOn(p, 2, backend, { blockImages: 333 });
    const c = await generateWorldOn(p, 3, backend, { blockImages: 333 });
    assert.deepEqual(a.set.vectors, b.set.vectors);
    assert.notDeepEqual(a.set.vectors, c.set.vectors);
  } finally {
    backend.close();
  }
});

Deno.test("world: the float64 generator is the same with any block size; gemm needs a backend", () => {
  const p = world({ d: 23, images: 90, captionsPerImage: 3 });
  const a = generateWorld(p, 5), b = generateWorld(p, 5, { blockImages: 7 });
  assert.deepEqual(a.set.vectors, b.set.vectors);
  assert.deepEqual(a.truth.rowActive.value, b.truth.rowActive.value);
  assert.throws(() => generateWorld({ ...p, generator: "gemm" }, 5), RangeError);
});

Deno.test("world: the size rule fills in gemm for paper-scale worlds only (the key records it)", () => {
  assert.equal(worldSection.parse({}).generator, undefined, "default world: key unchanged");
  const paper = worldSection.parse({ d: 768, images: 300000, captionsPerImage: 1 });
  assert.equal(paper.generator, "gemm");
  assert.equal(defaultWorldGenerator(paper), "gemm");
  assert.equal(
    worldSection.parse({ d: 768, images: 300000, generator: "float64" }).generator,
    "float64",
  );
  assert.equal(worldSection.parse(paper).generator, "gemm", "resolving twice changes nothing");
});

Deno.test("rng: bulk Box–Muller draws are the one-at-a-time stream, bit for bit", () => {
  for (const [lead, count] of [[0, 10], [1, 7], [3, 1], [2, 0]]) {
    const a = new Rng(9), b = new Rng(9);
    const scale = Float64Array.from({ length: count }, (_, j) => 0.5 + j);
    for (let i = 0; i < lead; i++) assert.equal(a.normal(), b.normal());
    const out = new Float64Array(count + 2);
    a.scaledNormalsInto(out, 2, scale, count);
    for (let j = 0; j < count; j++) assert.ok(Object.is(out[2 + j], scale[j] * b.normal()));
    assert.ok(Object.is(a.normal(), b.normal()), "the stream continues in step");
    assert.ok(Object.is(a.uniform(), b.uniform()));
  }
});

Deno.test("rng: ziggurat normals follow the normal law (moments and tails, closed forms)", () => {
  const n = 400000;
  const out = new Float32Array(n);
  new Rng(4).zigguratNormalsInto(out, 0, new Float64Array(n).fill(1), n);
  let m = 0, v = 0, k = 0, over1 = 0, over3 = 0;
  for (const x of out) {
    m += x;
    v += x * x;
    k += x ** 4;
    if (x > 1) over1++;
    if (Math.abs(x) > 3) over3++;
  }
  m /= n;
  v /= n;
  k /= n;
  const se = (p: number) => 5 * Math.sqrt(p * (1 - p) / n);
  assert.ok(Math.abs(m) < 5 / Math.sqrt(n), `mean ${m}`);
  assert.ok(Math.abs(v - 1) < 5 * Math.sqrt(2 / n), `variance ${v}`);
  assert.ok(Math.abs(k - 3) < 5 * Math.sqrt(96 / n), `fourth moment ${k}`);
  assert.ok(Math.abs(over1 / n - 0.158655254) < se(0.158655254), `P(z>1) ${over1 / n}`);
  assert.ok(Math.abs(over3 / n - 0.002699796) < se(0.002699796), `P(|z|>3) ${over3 / n}`);
  const again = new Float32Array(n);
  new Rng(4).zigguratNormalsInto(again, 0, new Float64Array(n).fill(1), n);
  assert.deepEqual(again, out);
});

Deno.test("progress lines: one per 10% step or 30 s, none while young, rate and ETA, a final line", () => {
  let t = 0;
  const lines: string[] = [];
  const bar = lineProgress("dataset generate", 1000, "rows", (l) => lines.push(l), {
    now: () => t,
  });
  t = 500;
  bar.tick(300); // young: silent
  t = 2000;
  bar.tick(100); // 40% at 200 rows/s
  t = 8000;
  bar.tick(10); // same decile, 6 s after the last line: silent
  t = 33000;
  bar.tick(10); // same decile, 31 s after the last line: a line
  t = 34000;
  bar.tick(580); // 100%: left to the final line
  bar.done();
  assert.deepEqual(lines, [
    "  dataset generate: 400/1000 rows (40%), 200 rows/s, eta 3s",
    "  dataset generate: 420/1000 rows (42%), 12.7 rows/s, eta 46s",
    "  dataset generate: 1000/1000 rows in 34.0s (29.4 rows/s)",
  ]);
});
