/**
 * The `map` stage: 2-D layouts of one run's concept directions for the explorer's map. Input
 * `train` (dictionary.parquet). The PCA layout projects the mean-centred directions on their two
 * leading principal axes (covariance through kernels/host_gemm.ts, one symmetric
 * eigendecomposition); the UMAP layout embeds the directions with a seeded UMAP
 * (analysis/layout_umap.ts) over their exact cosine neighbours (analysis/layout_knn.ts); the rows
 * handed to umap-js besides the neighbours are the leading `pcaDims` principal coordinates.
 *
 * Output `layout.parquet`: concept i32, pca_x f64, pca_y f64, umap_x f64, umap_y f64; and
 * `summary.json` (variance of the two principal axes, UMAP settings).
 */
import { z } from "zod";
import { defineStage, type StageContext } from "../pipeline/stage.ts";
import { trainedFiles } from "../learn/trained.ts";
import { UserError } from "../pipeline/errors.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import { writeTable } from "../data/table_io.ts";
import { hostGemm } from "../kernels/host_gemm.ts";
import { eigh } from "../learn/eigh.ts";
import { pcaProjection } from "../analysis/layout_pca.ts";
import { umapLayout } from "../analysis/layout_umap.ts";
import { nearestNeighbours } from "../analysis/layout_knn.ts";
import { normalizedRows } from "../data/rows.ts";

/** Parameters of the map stage. */
export const mapParams = z.strictObject({
  /** Principal coordinates handed to UMAP. */
  pcaDims: z.number().int().min(2).default(50),
  /** UMAP neighbours per point. */
  neighbours: z.number().int().min(2).default(15),
  /** UMAP minimum distance. */
  minDist: z.number().min(0).default(0.1),
  /** UMAP epochs (0: umap-js's default for the size: 500 below 10k points, else 200). */
  epochs: z.number().int().min(0).default(0),
  seed: z.number().int().default(0),
});

/** Validated map parameters. */
export type MapParams = z.infer<typeof mapParams>;

/** Files of a `map` key folder. */
export const mapFiles = {
  /** One row per concept: PCA and UMAP coordinates. */
  layout: "layout.parquet",
  /** Variance of the principal axes and the UMAP settings. */
  summary: "summary.json",
} as const;

const inputs = { train: "train" } as const;

async function run(ctx: StageContext<MapParams, typeof inputs>): Promise<void> {
  const p = ctx.params;
  const train = ctx.inputs.train;
  if (!train) throw new UserError("map: needs the input `train`");
  const { directions, c, d } = await readDictionary(`${train.dir}/${trainedFiles.dictionary}`);
  const dims = Math.min(p.pcaDims, d, Math.max(2, c));
  // XᵀX / c of the centred rows through the host GEMM (d×d), then one eigendecomposition.
  const mean = new Float64Array(d);
  for (let j = 0; j < c; j++) for (let t = 0; t < d; t++) mean[t] += directions[j * d + t];
  for (let t = 0; t < d; t++) mean[t] /= Math.max(1, c);
  const xc = Float32Array.from(directions, (v, i) => v - mean[i % d]);
  const gram = await hostGemm(xc, xc, d, c, d, { transA: true });
  const cov = Float64Array.from(gram, (v) => v / Math.max(1, c));
  const pca = pcaProjection(directions, c, d, dims, { eig: (a, n) => eigh(a, n), gram: () => cov });
  const bar = ctx.log.progress("map: umap", 1, "epochs");
  let started = false;
  // Exact neighbours of the directions themselves (cosine through the host GEMM).
  const knn = c >= 3
    ? await nearestNeighbours(normalizedRows(directions, c, d), c, d, p.neighbours)
    : undefined;
  const xy = umapLayout(pca.coords, c, dims, {
    knn,
    seed: p.seed,
    neighbours: p.neighbours,
    minDist: p.minDist,
    epochs: p.epochs || undefined,
    onEpoch: (e, total) => {
      if (!started) {
        bar.done();
        started = true;
      }
      if (e % 50 === 0 || e === total) ctx.log.info(`map: umap epoch ${e}/${total}`);
    },
  });
  if (!started) bar.done();
  await writeTable(`${ctx.outDir}/${mapFiles.layout}`, {
    concept: Int32Array.from({ length: c }, (_, j) => j),
    pca_x: Float64Array.from({ length: c }, (_, j) => pca.coords[j * dims]),
    pca_y: Float64Array.from({ length: c }, (_, j) => pca.coords[j * dims + 1]),
    umap_x: Float64Array.from({ length: c }, (_, j) => xy[2 * j]),
    umap_y: Float64Array.from({ length: c }, (_, j) => xy[2 * j + 1]),
  });
  const summary = {
    concepts: c,
    d,
    pca_variance: [pca.variance[0], pca.variance[1]],
    umap: { input_dims: dims, neighbours: p.neighbours, min_dist: p.minDist, seed: p.seed },
  };
  await Deno.writeTextFile(
    `${ctx.outDir}/${mapFiles.summary}`,
    JSON.stringify(summary, null, 2) + "\n",
  );
  ctx.setMeta("concepts", c);
}

/** The `map` stage (input `train`). */
export const mapStage = defineStage({
  name: "map",
  version: 1,
  description: "2-D layouts (PCA, UMAP) of a run's concept directions",
  inputs,
  params: mapParams,
  outputs: Object.values(mapFiles),
  run,
});
