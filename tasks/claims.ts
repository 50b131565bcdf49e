/**
 * The `claims` stage: the study's claims measured on any dataset, each beside the same measure on
 * the null model (a seeded random dictionary of the same size with top-k codes).
 *
 * Inputs (all optional; a claim whose inputs are absent is left out, with a warning):
 * - `evaluations*` (evaluate): metrics.parquet (pooled r2, l0); the method is read from the
 *   instance's meta `method` or params `method` (PCA, K-means, Semi-NMF, OMP count as baselines);
 * - `seedMatches*`, `dietMatches*` (match): matches.parquet (cosine, frequency) of seed pairs and
 *   of diet pairs; their null is the same gap between two random dictionaries matched exactly
 *   (with `dataset?`), else a label-shuffle null (frequencies permuted among concepts);
 * - `concepts?` (concepts of the primary run): concepts.parquet (modality_score);
 * - `modality?` (modality of the primary run): projections.parquet, classifier.parquet, summary.json;
 * - `bridge?` (bridge of the primary run): summary.json;
 * - `dataset?` (dataset): eval rows for the null Pareto points (random dictionary of the primary
 *   run's size, top-k for every k of the evaluated points).
 *
 * Output: `claims.json` = [{claim, value, null_value, holds, detail}] (also in the manifest meta
 * as `claims`).
 */
import { defineStage, type InputArtifact, type StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { Rng } from "../data/random.ts";
import { readEmbeddings } from "../data/embeddings_io.ts";
import { readTable } from "../data/table_io.ts";
import { withProgress } from "../pipeline/progress.ts";
import { type CsrCodes, largestPerRow } from "../data/csr_codes.ts";
import { reconstructionR2 } from "../learn/metrics.ts";
import { sparseDecode } from "../learn/baselines/ops.ts";
import {
  nullK,
  type NullModel,
  nullModel,
  randomDictionary,
  scoreBlockReference,
} from "../analysis/null_dictionary.ts";
import { syncProducts } from "../analysis/sync_products.ts";
import { linearAssignment } from "../analysis/assignment.ts";
import {
  bridgeClaim,
  type Claim,
  classifierClaim,
  frequencyStabilityGap,
  orthogonalityClaim,
  paretoClaim,
  type ParetoPoint,
  stabilityClaim,
  unimodalClaim,
} from "../analysis/claims.ts";
import { unimodalFractionOf } from "../analysis/truth_checks.ts";
import { type ClaimsConfig, claimsConfig } from "./config/analysis.ts";
import { openBackend } from "../learn/stage_backend.ts";
import { datasetFiles } from "./dataset.ts";
import { conceptsFiles } from "./concepts.ts";
import { evaluateFiles } from "./evaluate.ts";
import { matchFiles } from "./match.ts";
import { modalityFiles } from "./modality.ts";
import { bridgeFiles } from "./bridge.ts";

/** Files of a claims key folder. */
export const claimsFiles = {
  /** `[{claim, value, null_value, holds, detail}]` (analysis/claims.ts `Claim`[]). */
  claims: "claims.json",
} as const;

/** Input roles of the claims stage (all optional). */
const inputs = {
  "evaluations*": "evaluate",
  "seedMatches*": "match",
  "dietMatches*": "match",
  "concepts?": "concepts",
  "modality?": "modality",
  "bridge?": "bridge",
  "dataset?": "dataset|embed",
} as const;
function num(col: unknown, path: string, name: string): ArrayLike<number> {
  if (!col || !(ArrayBuffer.isView(col))) {
    throw new UserError(`${path}: numeric column \`${name}\` is missing; re-run its stage`);
  }
  return col as unknown as ArrayLike<number>;
}

async function stabilityGaps(
  matches: InputArtifact[],
  topN: number,
  seed: number,
): Promise<{ gaps: number[]; nullGaps: number[] }> {
  const gaps: number[] = [], nullGaps: number[] = [];
  const rng = new Rng(seed);
  for (const m of matches) {
    const path = `${m.dir}/${matchFiles.matches}`;
    const t = await readTable(path);
    const cos = num(t.cosine, path, "cosine"), freq = num(t.frequency, path, "frequency");
    gaps.push(frequencyStabilityGap(cos, freq, topN));
    // Label-shuffle null: the same gap with frequencies permuted among concepts.
    const perm = rng.permutation(freq.length);
    nullGaps.push(frequencyStabilityGap(cos, Float64Array.from(perm, (q) => freq[q]), topN));
  }
  return { gaps, nullGaps };
}

async function run(ctx: StageContext<ClaimsConfig, typeof inputs>): Promise<void> {
  const p = ctx.params;
  const claims: Claim[] = [];
  const skip = (claim: string, why: string) => ctx.log.warn(`claims: ${claim} left out (${why})`);
  const t = p.unimodalThreshold;

  // Pareto: SAEs against baselines, null = random-dictionary top-k points.
  const evals = ctx.inputLists.evaluations;
  const { concepts, modality, bridge, dataset } = ctx.inputs;
  let c = 0;
  let modalityScores: Float64Array | null = null;
  if (concepts) {
    const path = `${concepts.dir}/${conceptsFiles.concepts}`;
    const tb = await readTable(path);
    const ms = num(tb.modality_score, path, "modality_score");
    c = ms.length;
    modalityScores = Float64Array.from(ms);
  }
  if (c === 0) c = Number(evals.find((e) => Number(e.meta.c) > 0)?.meta.c ?? 0);
  // The null's k: the configured one, else the first evaluated run's (not the primary run's).
  const kNull = nullK(p.null.k, evals.map((e) => e.meta.k));
  const evalSet = dataset
    ? await readEmbeddings(`${dataset.dir}/${datasetFiles.embeddings}`, {
      split: "eval",
      source: false,
    })
    : null;
  const products = await syncProducts();
  const anyMatches = ctx.inputLists.seedMatches.length + ctx.inputLists.dietMatches.length > 0;
  // The null's per-row top-k codes on the eval rows: one encoding (the GEMM of every eval row with
  // the random dictionary) at the largest k the claims use (`kTop`: the stability null's, raised to
  // the Pareto points' below), smaller k as its per-row prefixes (largestPerRow: the same codes as
  // encoding at that k).
  let kTop = anyMatches ? kNull : 0;
  let nullTop: NullModel | null = null;
  const nullAt = async (k: number): Promise<{ codes: CsrCodes; dictionary: Float32Array }> => {
    const set = evalSet!;
    nullTop ??= await withProgress(
      ctx.log,
      "null codes",
      set.n,
      "rows",
      (onProgress) =>
        nullModel(set.vectors, set.n, set.d, c, {
          seed: p.null.seed,
          k: kTop,
          scores: products.scores,
          onProgress,
        }),
    );
    const codes = k === nullTop.k ? nullTop.codes : largestPerRow(nullTop.codes, k);
    return { codes, dictionary: nullTop.dictionary };
  };
  if (evals.length > 0) {
    const points: ParetoPoint[] = [];
    for (const e of evals) {
      const path = `${e.dir}/${evaluateFiles.metrics}`;
      const tb = await readTable(path);
      const scope = tb.scope as string[] | undefined;
      const row = scope ? scope.indexOf("pooled") : 0;
      const method = String(e.meta.method ?? e.params.method ?? "");
      if (!method) {
        ctx.log.warn(`claims: ${e.id} names no method (meta or params); point skipped`);
        continue;
      }
      points.push({
        method,
        l0: num(tb.l0, path, "l0")[row],
        r2: num(tb.r2, path, "r2")[row],
      });
    }
    const nullPoints: ParetoPoint[] = [];
    if (evalSet && c > 0) {
      const set = evalSet;
      const ks = [...new Set(points.map((q) => Math.max(1, Math.round(q.l0))))].sort((a, b) =>
        a - b
      );
      kTop = Math.max(kTop, ...ks);
      const backend = ks.length > 0 ? await openBackend(ctx) : null;
      try {
        for (const k of ks) {
          const { codes: z, dictionary } = await nullAt(k);
          const xhat = await sparseDecode(backend!, z, dictionary, set.d);
          const r2 = reconstructionR2(set.vectors, xhat, set.n, set.d).r2;
          nullPoints.push({ method: "null", l0: z.rowPtr[z.rows] / z.rows, r2 });
        }
      } finally {
        backend?.close();
      }
    }
    claims.push(paretoClaim(points, nullPoints));
  } else skip("saes_beat_baselines_on_pareto", "no evaluations* inputs");

  // Null of the stability gap: two random dictionaries (seeds s, s+1) matched exactly, frequencies
  // from the first one's top-k codes on the eval rows; without the dataset, a label-shuffle null.
  let randomNullGap: number | null = null;
  if (anyMatches && evalSet && c > 0) {
    const { d } = evalSet;
    const { codes: z, dictionary: a } = await nullAt(kNull);
    const b = randomDictionary(c, d, p.null.seed + 1);
    const freq = new Float64Array(c);
    for (let e = 0; e < z.rowPtr[z.rows]; e++) if (z.value[e] > 0) freq[z.index[e]] += 1 / z.rows;
    const sim = (products.scores ?? scoreBlockReference)(a, c, d, b, c);
    const match = linearAssignment(sim, c, c, { maximize: true });
    const stab = Float64Array.from(match.rowToCol, (j, i) => (j >= 0 ? sim[i * c + j] : 0));
    randomNullGap = frequencyStabilityGap(stab, freq, p.stabilityTopN);
  }
  for (const scope of ["seeds", "diets"] as const) {
    const matches = ctx.inputLists[scope === "seeds" ? "seedMatches" : "dietMatches"];
    if (matches.length === 0) {
      skip(
        `frequent_more_stable_across_${scope}`,
        `no ${scope === "seeds" ? "seed" : "diet"}Matches*`,
      );
      continue;
    }
    const { gaps, nullGaps } = await stabilityGaps(matches, p.stabilityTopN, p.null.seed);
    claims.push(stabilityClaim(
      scope,
      gaps,
      randomNullGap !== null ? [randomNullGap] : nullGaps,
      p.stabilityMargin,
    ));
  }

  let nullModality: Float64Array | null = null;
  if (modality) {
    const path = `${modality.dir}/${modalityFiles.projections}`;
    const tb = await readTable(path);
    const dictCol = tb.dictionary as string[];
    const ms = num(tb.modality_score, path, "modality_score");
    const proj = num(tb[`projection_${p.subspace}`], path, `projection_${p.subspace}`);
    const learned: number[] = [], nul: number[] = [], nm: number[] = [];
    dictCol.forEach((k, q) => {
      if (k === "learned") learned.push(proj[q]);
      else {
        nul.push(proj[q]);
        nm.push(ms[q]);
      }
    });
    nullModality = Float64Array.from(nm);
    // Orthogonality over live concepts (those with a modality score) when known.
    const live = modalityScores
      ? learned.map((v, j) => (Number.isNaN(modalityScores![j]) ? NaN : v))
      : learned;
    const nullLive = nul.map((v, j) => (Number.isNaN(nm[j]) ? NaN : v));
    claims.push(orthogonalityClaim(live, nullLive, p.orthogonalMaxProjection));

    const cpath = `${modality.dir}/${modalityFiles.classifier}`;
    const cl = await readTable(cpath);
    const kind = cl.kind as string[];
    const sep = num(cl.separation, cpath, "separation");
    /** Separations of one kind; only its unimodal concepts when modality scores are known. */
    const pick = (want: string, scores: Float64Array | null): number[] => {
      const all: number[] = [];
      kind.forEach((k, q) => {
        if (k === want) all.push(sep[q]);
      });
      if (!scores) return all;
      const uni = all.filter((_, j) => scores[j] < t || scores[j] > 1 - t);
      return uni.length ? uni : all.filter((_, j) => !Number.isNaN(scores[j]));
    };
    const probeIdx = kind.indexOf("probe");
    claims.push(classifierClaim(
      pick("learned", modalityScores),
      pick("null", nullModality),
      probeIdx >= 0 ? sep[probeIdx] : NaN,
    ));
  } else {
    skip("concepts_nearly_orthogonal_to_modality_subspace", "no modality? input");
    skip("concepts_poor_modality_classifiers", "no modality? input");
  }

  if (modalityScores) {
    const nullFrac = nullModality ? unimodalFractionOf(nullModality, t) : NaN;
    claims.push(unimodalClaim(unimodalFractionOf(modalityScores, t), nullFrac));
  } else skip("most_concepts_unimodal", "no concepts? input");

  if (bridge) {
    const s = JSON.parse(await Deno.readTextFile(`${bridge.dir}/${bridgeFiles.summary}`));
    claims.push(
      bridgeClaim(s.unimodal_pair_values ?? [], s.null_model?.unimodal_pair_values ?? []),
    );
  } else skip("bridges_between_unimodal_concepts", "no bridge? input");

  await Deno.writeTextFile(`${ctx.outDir}/${claimsFiles.claims}`, JSON.stringify(claims, null, 2));
  ctx.setMeta(
    "claims",
    claims.map(({ claim, value, null_value, holds }) => ({ claim, value, null_value, holds })),
  );
  for (const c of claims) {
    ctx.log.info(
      `claims: ${c.claim} = ${c.value.toFixed(3)} (null ${c.null_value.toFixed(3)}) ${
        c.holds ? "holds" : "does not hold"
      }`,
    );
  }
}

/**
 * The `claims` stage: optional inputs `evaluations*`, `seedMatches*`, `dietMatches*`, `concepts?`,
 * `modality?`, `bridge?`, `dataset?`; params = `analysis.claims`.
 */
export const claimsStage = defineStage({
  name: "claims",
  version: 2, // 2: the null Pareto points decode on the backend (sparseDecode)
  description: "the study's claims with measured and null values",
  inputs,
  params: claimsConfig,
  outputs: Object.values(claimsFiles),
  run,
});
