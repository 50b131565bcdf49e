/**
 * The `validate` stage (synthetic worlds only): scores the analyses against planted truth.
 *
 * Inputs:
 * - `dataset` (dataset): embeddings.parquet and the truth_*.parquet tables;
 * - `runs*` (train): dictionaries; the first is the primary run (recovery, bridge, unimodal
 *   checks); all of them together give the stability check (needs ≥ 2, e.g. seeds);
 * - `concepts?` (concepts of the primary run): modality scores for the unimodal check;
 * - `bridge?` (bridge of the primary run): bridge_pairs.parquet for precision@N.
 *
 * Output: `validation.json` = [{check, value, threshold, holds}] (also put in the manifest meta
 * as `validation`). Checks: `planted_recovered`, `stability_frequent_minus_rare`,
 * `bridge_twin_precision`, `unimodal_fraction_gap`; a check whose input is absent is left out.
 */
import { defineStage, type StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { readGroundTruth } from "../data/ground_truth_io.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import { readTable } from "../data/table_io.ts";
import type { Modality } from "../data/embeddings.ts";
import { syncProducts } from "../analysis/sync_products.ts";
import {
  bridgeTwinPrecision,
  check,
  plantedModalityScores,
  plantedStabilityGap,
  recoveredFraction,
  unimodalFractionOf,
  type ValidationCheck,
} from "../analysis/truth_checks.ts";
import { type ValidateConfig, validateConfig } from "./config/analysis.ts";
import { readModalityScores } from "../data/concepts_io.ts";
import { trainedFiles } from "../learn/trained.ts";
import { datasetFiles } from "./dataset.ts";
import { conceptsFiles } from "./concepts.ts";
import { bridgeFiles } from "./bridge.ts";

/** Files of a validate key folder. */
export const validateFiles = {
  /** `[{check, value, threshold, holds}]` ({@link ValidationCheck}[]). */
  checks: "validation.json",
} as const;

/** Input roles of the validate stage. */
const inputs = {
  dataset: "dataset",
  "runs*": "train",
  "concepts?": "concepts",
  "bridge?": "bridge",
} as const;

async function run(ctx: StageContext<ValidateConfig, typeof inputs>): Promise<void> {
  const p = ctx.params;
  const { dataset, bridge, concepts } = ctx.inputs;
  const runs = ctx.inputLists.runs;
  if (runs.length === 0) throw new UserError("validate: needs at least one `runs*` (train) input");
  const truth = await readGroundTruth(dataset.dir);
  const dicts = [];
  for (const r of runs) {
    const t = await readDictionary(`${r.dir}/${trainedFiles.dictionary}`);
    if (t.d !== truth.d) {
      throw new UserError(
        `${r.dir}/${trainedFiles.dictionary}: dimension ${t.d} differs from the planted ${truth.d}; train on this dataset`,
      );
    }
    dicts.push({ dict: t.directions, c: t.c });
  }
  const primary = dicts[0];
  // float32 BLAS screens the cosine argmaxes; results equal the float64 loops (bestMatches)
  const screen = (await syncProducts()).scores;
  const checks: ValidationCheck[] = [];
  checks.push(check(
    "planted_recovered",
    recoveredFraction(truth, primary.dict, primary.c, p.recoveryCosine, screen),
    p.recoveredMin,
  ));
  if (dicts.length >= 2) {
    checks.push(check(
      "stability_frequent_minus_rare",
      plantedStabilityGap(truth, dicts, screen).gap,
      p.stabilityGapMin,
    ));
  } else ctx.log.warn("validate: one run only; the stability check needs ≥ 2 runs");

  if (bridge) {
    const path = `${bridge.dir}/${bridgeFiles.pairs}`;
    const t = await readTable(path, { concept_image: "i32", concept_text: "i32" });
    const pairs = Array.from(t.concept_image, (i, q) => ({ i, j: t.concept_text[q] }));
    checks.push(check(
      "bridge_twin_precision",
      bridgeTwinPrecision(
        truth,
        primary.dict,
        primary.c,
        pairs,
        p.bridgeN,
        p.recoveryCosine,
        screen,
      ),
      p.bridgePrecisionMin,
    ));
  }
  if (concepts) {
    const learned = await readModalityScores(
      `${concepts.dir}/${conceptsFiles.concepts}`,
      primary.c,
    );
    // the modality and split columns only (not the vectors)
    const path = `${dataset.dir}/${datasetFiles.embeddings}`;
    const set = await readTable(path, { modality: "utf8", split: "utf8" });
    const evalRows: number[] = [];
    for (let i = 0; i < set.split.length; i++) if (set.split[i] === "eval") evalRows.push(i);
    const planted = plantedModalityScores(truth, set.modality as Modality[], evalRows);
    const gap = Math.abs(
      unimodalFractionOf(learned, p.unimodalThreshold) -
        unimodalFractionOf(planted, p.unimodalThreshold),
    );
    checks.push(check("unimodal_fraction_gap", gap, p.unimodalGapMax, "atMost"));
  }
  await Deno.writeTextFile(
    `${ctx.outDir}/${validateFiles.checks}`,
    JSON.stringify(checks, null, 2),
  );
  ctx.setMeta("validation", checks);
  for (const c of checks) {
    ctx.log.info(
      `validate: ${c.check} = ${c.value.toFixed(3)} (threshold ${c.threshold}) ${
        c.holds ? "holds" : "FAILS"
      }`,
    );
  }
}

/**
 * The `validate` stage: inputs `dataset`, `runs*` (train; first = primary), `concepts?`,
 * `bridge?`; params = `analysis.validate`.
 */
export const validateStage = defineStage({
  name: "validate",
  version: 1,
  description: "checks against planted truth: recovery, stability, bridge precision, unimodality",
  inputs,
  params: validateConfig,
  outputs: Object.values(validateFiles),
  run,
});
