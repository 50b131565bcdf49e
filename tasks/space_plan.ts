/**
 * Checks of a space's sub-study that can be made when the plan is built, before anything runs
 * (issue: a real set of 1,126 pairs ran 28 stages and then stopped at k-means). From the
 * configuration and the headers of the input files (a `.npy` header, a Parquet footer) alone:
 * the training rows of every diet against the number of concepts c (k-means and Semi-NMF need
 * at least c rows), and every k against c (and OMP's k against d). One {@link UserError} names the
 * space, the numbers and the key to change. Sizes that cannot be known before running (an embed
 * space, an `.npz`) are not checked here; their stages check them.
 */
import { isAbsolute, resolve } from "node:path";
import { UserError } from "../pipeline/errors.ts";
import { dietImageFraction, maxDietTotal } from "../data/diets.ts";
import { readParquetFooterCounts } from "../data/table_footer.ts";
import { methodUsesK } from "../learn/registry.ts";
import type { StudyConfig } from "./config/mod.ts";
import type { StudySpace } from "./config/spaces.ts";
import type { DatasetSection } from "./config/dataset.ts";

/** What the plan knows about a space's rows before running. */
export interface SpaceSizeEstimate {
  /** Dimension (null: unknown before running). */
  d: number | null;
  /** Training rows per diet (null: unknown). */
  dietRows: number | null;
  /** Whether `dietRows` is exact (else an upper estimate from the row count). */
  exact: boolean;
}

/** Shape of a `.npy` file from its header (synchronous, reads the first 4 KiB); null if unknown. */
export function npyShape(path: string): number[] | null {
  try {
    const f = Deno.openSync(path, { read: true });
    try {
      const buf = new Uint8Array(4096);
      const n = f.readSync(buf) ?? 0;
      if (n < 10 || buf[0] !== 0x93 || String.fromCharCode(...buf.subarray(1, 6)) !== "NUMPY") {
        return null;
      }
      const m = /'shape':\s*\(([^)]*)\)/.exec(new TextDecoder().decode(buf.subarray(8, n)));
      if (!m) return null;
      return m[1].split(",").map((x) => x.trim()).filter((x) => x !== "").map(Number);
    } finally {
      f.close();
    }
  } catch {
    return null;
  }
}

/** Train-split pairs of P pairs under the study's split rule (data/splits.ts). */
function trainPairs(pairs: number, evalFraction: number): number {
  let nEval = Math.round(pairs * evalFraction);
  if (pairs >= 2) nEval = Math.min(pairs - 1, Math.max(1, nEval));
  return pairs - nEval;
}

/** Rows of every diet (fixed total) from the train split's image and text rows. */
function dietTotal(config: StudyConfig, images: number, texts: number): number {
  if (config.diets.total > 0) return config.diets.total;
  const natural = images / Math.max(1, images + texts);
  return Math.min(
    ...config.diets.ratios.map((r) => maxDietTotal(dietImageFraction(r, natural), images, texts)),
  );
}

/** The largest diet total over every image/text mix of `rows` train rows (the mix unknown). */
function bestDietTotal(config: StudyConfig, rows: number): number {
  if (config.diets.total > 0) return config.diets.total;
  let best = 0;
  const steps = Math.min(rows, 512);
  for (let s = 1; s < steps; s++) {
    const images = Math.round((rows * s) / steps);
    best = Math.max(best, dietTotal(config, images, rows - images));
  }
  return best;
}

/** What can be known about a dataset space's sizes before running. */
export function estimateDatasetSize(
  config: StudyConfig,
  p: DatasetSection,
  baseDir: string,
): SpaceSizeEstimate {
  const abs = (f: string) => (isAbsolute(f) ? f : resolve(baseDir, f));
  const d0 = p.expectDim > 0 ? p.expectDim : null;
  if (p.kind === "synthetic") {
    const images = trainPairs(p.world.images, p.evalFraction);
    const texts = images * p.world.captionsPerImage;
    return { d: p.world.d, dietRows: dietTotal(config, images, texts), exact: true };
  }
  if (p.kind === "npy") {
    if (!p.path || p.path.endsWith(".npz")) return { d: d0, dietRows: null, exact: false };
    const shape = npyShape(abs(p.path));
    if (!shape) return { d: d0, dietRows: null, exact: false };
    const d = shape.at(-1) ?? null;
    if (shape.length === 3 && shape[0] === 2) {
      const images = trainPairs(shape[1], p.evalFraction);
      return { d, dietRows: dietTotal(config, images, images), exact: true };
    }
    let rows = shape[0];
    if (p.textPath) rows += npyShape(abs(p.textPath))?.[0] ?? 0;
    return {
      d,
      dietRows: bestDietTotal(config, Math.ceil(rows * (1 - p.evalFraction))),
      exact: false,
    };
  }
  // Parquet: the footer's row count, and d from the value count of the `vector` column.
  if (!p.path) return { d: d0, dietRows: null, exact: false };
  const footer = readParquetFooterCounts(abs(p.path));
  if (!footer || footer.rows === 0) return { d: d0, dietRows: null, exact: false };
  let d = d0;
  for (const [path, count] of footer.values) {
    if ((path === "vector" || path.startsWith("vector.")) && count % footer.rows === 0) {
      d = count / footer.rows;
    }
  }
  const train = p.keepSplit ? footer.rows : Math.ceil(footer.rows * (1 - p.evalFraction));
  return { d, dietRows: bestDietTotal(config, train), exact: false };
}

/**
 * Check one space's sub-study before anything runs; throws one {@link UserError} naming the key
 * to change. Returns what it estimated (for messages and tests).
 */
export function checkSpacePlan(
  config: StudyConfig,
  space: StudySpace,
  baseDir: string,
): SpaceSizeEstimate {
  const est: SpaceSizeEstimate = space.source.kind === "dataset"
    ? estimateDatasetSize(config, space.source.dataset, baseDir)
    : { d: null, dietRows: null, exact: false };
  const where = space.name ? `space ${space.name}` : "the dataset";
  const ownEf = space.expansionFactor !== undefined;
  const efKey = space.name && ownEf
    ? `the expansionFactor of space ${space.name}`
    : "train.expansionFactor";
  const c = space.c ?? (ownEf ? null : config.train.c) ??
    (est.d !== null
      ? Math.round((space.expansionFactor ?? config.train.expansionFactor) * est.d)
      : null);
  if (c === null) return est;
  const cKey = space.c !== undefined
    ? `the c of space ${space.name}`
    : config.train.c !== null && !ownEf
    ? "train.c"
    : efKey;
  const methods = new Set<string>([...config.train.methods, config.train.primary.method]);
  const ks = [...new Set([...config.train.k, config.train.primary.k])];
  const kMax = Math.max(...ks);
  const kUsers = [...methods].filter((m) => methodUsesK(m) && m !== "pca");
  if (kUsers.length > 0 && kMax > c) {
    throw new UserError(
      `train.k: k = ${kMax} exceeds the c = ${c} concepts of ${where} (${
        kUsers.join(", ")
      }); lower train.k (and train.primary.k) or raise ${cKey}`,
    );
  }
  if (config.train.methods.includes("omp") && est.d !== null) {
    const bad = config.train.k.filter((k) => k > Math.min(c, est.d!));
    if (bad.length > 0) {
      throw new UserError(
        `train.k: OMP needs k ≤ min(c, d) = ${Math.min(c, est.d)} in ${where}, got k = ${
          Math.max(...bad)
        }; lower train.k or drop omp from train.methods`,
      );
    }
  }
  const needRows = [...methods].filter((m) => m === "kmeans" || m === "seminmf");
  const shown = needRows.map((m) => (m === "kmeans" ? "k-means" : "Semi-NMF")).join(" and ");
  if (needRows.length > 0 && est.dietRows !== null && est.dietRows < c) {
    const about = est.exact ? "" : "at most about ";
    const maxEf = est.d ? Math.floor((est.dietRows / est.d) * 100) / 100 : null;
    throw new UserError(
      `${cKey}: ${shown} ${
        needRows.length > 1 ? "need" : "needs"
      } at least c = ${c} training rows, but every diet of ${where} holds ${about}${est.dietRows} (the ${config.diets.ratios.length} diets share ${
        config.diets.total > 0 ? "diets.total" : "the largest total every ratio allows"
      }); ${
        cKey === "train.c"
          ? "lower train.c"
          : `lower ${cKey}${maxEf !== null ? ` to ≤ ${maxEf}` : ""}`
      }, or remove ${needRows.join(" and ")} from train.methods`,
    );
  }
  return est;
}
