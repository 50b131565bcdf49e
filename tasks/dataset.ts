/**
 * The `dataset` stage (no upstream): builds the embedding rows — the synthetic world (with its
 * planted truth) or imported `.npy`/`.npz`/Parquet embeddings — validates them, assigns the
 * seeded pair-level train/eval split, and writes `embeddings.parquet` (all rows) plus, for a
 * synthetic world, `truth_directions.parquet`, `truth_concepts.parquet`, `truth_rows.parquet`.
 * Everything is validated before the first byte is written.
 */
import { isAbsolute, join, resolve } from "node:path";
import type { Stage, StageContext } from "../pipeline/stage.ts";
import { type DatasetSection, datasetSection } from "./config/dataset.ts";
import type { EmbeddingSet } from "../data/embeddings.ts";
import type { GroundTruth } from "../data/ground_truth.ts";
import { generateWorld, generateWorldOn } from "../data/synthetic_world.ts";
import type { Backend } from "../kernels/backend.ts";
import { progressCallback } from "../pipeline/progress.ts";
import { openBackend } from "../learn/stage_backend.ts";
import { importNpy } from "../data/import_npy.ts";
import { importParquet } from "../data/import_parquet.ts";
import { centreRows, normaliseRows, validateImportedRows } from "../data/import_validate.ts";
import { assignSplits, countSplits } from "../data/splits.ts";
import { centroidDistance, topOneRetrieval } from "../data/geometry.ts";
import { writeEmbeddings } from "../data/embeddings_io.ts";
import { writeGroundTruth } from "../data/ground_truth_io.ts";

/**
 * Raw input files of a dataset configuration by role (`path`, `textPath`, `pairs`), for the
 * stage instance's `rawInputs` (their content hashes enter the key). Relative paths are resolved
 * against `baseDir` (default: the working directory). Empty for the synthetic world.
 */
export function datasetRawInputs(p: DatasetSection, baseDir = Deno.cwd()): Record<string, string> {
  if (p.kind === "synthetic") return {};
  const out: Record<string, string> = {};
  const abs = (f: string) => (isAbsolute(f) ? f : resolve(baseDir, f));
  if (p.path) out.path = abs(p.path);
  if (p.kind === "npy") {
    if (p.textPath) out.textPath = abs(p.textPath);
    if (p.pairs) out.pairs = abs(p.pairs);
  }
  return out;
}

/** The file a role refers to: the engine's hashed raw input when given, else the parameter. */
function fileOf(ctx: StageContext<DatasetSection>, role: "path" | "textPath" | "pairs"): string {
  return ctx.rawInputs[role] ?? ctx.params[role];
}

/**
 * Build, validate and split the rows of a dataset configuration (no I/O besides reading inputs).
 * @param warn receives warnings (e.g. how many rows were not unit-norm)
 * @param world.backend opens the compute backend (needed by a world whose generator is `gemm`)
 * @param world.onProgress rows of the synthetic world generated so far, and the total
 */
export async function loadDataset(
  p: DatasetSection,
  files: { path: string; textPath: string; pairs: string },
  warn: (line: string) => void,
  world: {
    backend?: () => Promise<Backend>;
    onProgress?: (rows: number, total: number) => void;
  } = {},
): Promise<{ set: EmbeddingSet; truth: GroundTruth | null }> {
  let set: EmbeddingSet;
  let truth: GroundTruth | null = null;
  if (p.kind === "synthetic") {
    const opts = { onProgress: world.onProgress };
    let w;
    if (p.world.generator === "gemm") {
      if (!world.backend) throw new RangeError("loadDataset: generator `gemm` needs a backend");
      const backend = await world.backend();
      try {
        w = await generateWorldOn(p.world, p.seed, backend, opts);
      } finally {
        backend.close();
      }
    } else {
      w = generateWorld(p.world, p.seed, opts);
    }
    set = w.set;
    truth = w.truth;
    if (p.expectDim > 0 && set.d !== p.expectDim) {
      validateImportedRows(set, "synthetic world", p.expectDim);
    }
  } else {
    const name = p.kind === "npy"
      ? [files.path, files.textPath].filter((x) => x).join(" + ")
      : files.path;
    set = p.kind === "npy"
      ? await importNpy({
        path: files.path,
        textPath: files.textPath,
        pairs: files.pairs,
        imageArray: p.imageArray,
        textArray: p.textArray,
        pairIdColumn: p.pairIdColumn,
        captionColumn: p.captionColumn,
        imageColumn: p.imageColumn,
      })
      : await importParquet(files.path, { requireSplit: p.keepSplit });
    validateImportedRows(set, name, p.expectDim);
    if (p.normalise) {
      const k = normaliseRows(set, name);
      if (k > 0) warn(`${name}: ${k} of ${set.n} rows were not unit-norm; normalised them`);
    }
  }
  if (!(p.kind === "parquet" && p.keepSplit)) {
    set.split = assignSplits(set.pairIds, p.evalFraction, p.splitSeed);
  }
  if (p.centre) centreRows(set);
  return { set, truth };
}

/**
 * Files of the embedding-row stages' key folders: every stage that produces rows (`dataset`,
 * `embed`, `diet`) writes its table as `embeddings.parquet`; downstream stages read it by this name.
 */
export const datasetFiles = {
  /** The rows (data/embeddings_io.ts): all rows with their split; a diet's train rows. */
  embeddings: "embeddings.parquet",
} as const;

/** The `dataset` stage. */
export const datasetStage: Stage<DatasetSection> = {
  name: "dataset",
  version: 1,
  description: "embedding rows (synthetic world or imported) with a seeded pair-level split",
  inputs: {},
  params: datasetSection,
  outputs: [datasetFiles.embeddings],
  async run(ctx) {
    const p = ctx.params;
    const w = p.world;
    const bar = p.kind === "synthetic"
      ? ctx.log.progress("generate", w.images * (1 + w.captionsPerImage), "rows")
      : null;
    const { set, truth } = await loadDataset(
      p,
      {
        path: fileOf(ctx, "path"),
        textPath: fileOf(ctx, "textPath"),
        pairs: fileOf(ctx, "pairs"),
      },
      (line) => ctx.log.warn(line),
      {
        backend: () => openBackend(ctx),
        onProgress: bar ? progressCallback(bar) : undefined,
      },
    );
    bar?.done();
    const wbar = ctx.log.progress(`write ${datasetFiles.embeddings}`, set.n, "rows");
    await writeEmbeddings(join(ctx.outDir, datasetFiles.embeddings), set, {
      onProgress: progressCallback(wbar),
    });
    wbar.done();
    if (truth) await writeGroundTruth(ctx.outDir, truth);
    const counts = countSplits(set.modality, set.split);
    const retrieval = topOneRetrieval(set, 500);
    const distance = centroidDistance(set);
    ctx.setMeta("n", set.n);
    ctx.setMeta("d", set.d);
    ctx.setMeta("kind", p.kind);
    ctx.setMeta("counts", counts);
    ctx.setMeta("pairs", new Set(set.pairIds).size);
    ctx.setMeta("centroid_distance", distance);
    ctx.setMeta("retrieval_i2t", retrieval.imageToText);
    ctx.setMeta("retrieval_t2i", retrieval.textToImage);
    ctx.setMeta("retrieval_pairs", retrieval.pairs);
    if (truth) ctx.setMeta("planted", { concepts: truth.conceptKind.length, directions: truth.m });
    ctx.log.info(
      `${set.n} rows (d=${set.d}): train ${counts.train.image} images + ${counts.train.text} captions, eval ${counts.eval.image} + ${counts.eval.text}; centroid distance ${
        distance.toFixed(3)
      }, top-1 retrieval i→t ${retrieval.imageToText.toFixed(2)} t→i ${
        retrieval.textToImage.toFixed(2)
      } at ${retrieval.pairs} pairs`,
    );
  },
};
