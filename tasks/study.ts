/**
 * The default study: how the configuration fans out into stage instances (method.md; design.md
 * "The flow").
 *
 * - `dataset` (or `embed[model=…]` when `embed.models` is set) → `diet[ratio,seed]` per diet.
 * - Pareto sweep: every method × k of `train` on the first diet, first seed → encode → evaluate →
 *   `pareto`.
 * - Stability runs: the primary method at the primary k, every seed × every diet → encode →
 *   `concepts`; `match` of seed pairs (first seed against each other, per diet) and of diet pairs
 *   (first diet against each other, first seed).
 * - The primary run (primary method and k, first diet, first seed): `modality`, `bridge`.
 * - `validate` (synthetic worlds: planted truth) and `claims` read all of the above.
 * - For the explorer: `labels` (concept names) of every run, `map` (PCA and UMAP layouts) of the
 *   primary run.
 */
import type { Stage, StageInstance } from "../pipeline/stage.ts";
import { instanceId } from "../pipeline/sweep.ts";
import { UserError } from "../pipeline/errors.ts";
import type { StudyConfig } from "./config/mod.ts";
import { datasetRawInputs, datasetStage } from "./dataset.ts";
import { dietInstanceParams, dietStage } from "./diet.ts";
import { embedParamsFor, embedStage } from "./embed.ts";
import { trainStage } from "./train.ts";
import { encodeStage } from "./encode.ts";
import { evaluateStage } from "./evaluate.ts";
import { paretoStage } from "./pareto.ts";
import { conceptsStage } from "./concepts.ts";
import { matchStage } from "./match.ts";
import { modalityStage } from "./modality.ts";
import { bridgeStage } from "./bridge.ts";
import { validateStage } from "./validate.ts";
import { claimsStage } from "./claims.ts";
import { labelsStage } from "./labels.ts";
import { mapStage } from "./map.ts";
import { trainGrid, type TrainRunParams } from "./config/train.ts";

/** Every stage of the study (workers look stages up by name here). */
// deno-lint-ignore no-explicit-any
export const studyStages: Stage<any>[] = [
  datasetStage,
  embedStage,
  dietStage,
  trainStage,
  encodeStage,
  evaluateStage,
  paretoStage,
  conceptsStage,
  matchStage,
  modalityStage,
  bridgeStage,
  validateStage,
  claimsStage,
  labelsStage,
  mapStage,
];

/** Short label of a train run, used in instance ids. */
function runCoords(p: TrainRunParams): Record<string, unknown> {
  return { method: p.method, k: p.k, seed: p.seed, diet: p.diet };
}

/** The instances of a validated configuration, in a readable order. */
export function buildStudy(config: StudyConfig, baseDir = Deno.cwd()): StageInstance[] {
  const out: StageInstance[] = [];
  const add = (inst: StageInstance) => {
    if (!out.some((o) => o.id === inst.id)) out.push(inst);
    return inst.id;
  };

  // ---- data ------------------------------------------------------------------------------
  let dataId: string;
  if (config.embed.models.length > 0) {
    const model = config.embed.models[0];
    const params = embedParamsFor(config.embed, model.name);
    dataId = add({
      id: instanceId("embed", { model: model.name }),
      stage: embedStage,
      params,
      inputs: {},
    });
  } else {
    dataId = add({
      id: "dataset",
      stage: datasetStage,
      params: config.dataset,
      inputs: {},
      rawInputs: datasetRawInputs(config.dataset, baseDir),
    });
  }
  const synthetic = config.embed.models.length === 0 && config.dataset.kind === "synthetic";
  const dietSeed = config.diets.seeds[0];
  const dietId = (ratio: string, seed = dietSeed) => instanceId("diet", { ratio, seed });
  for (const ratio of config.diets.ratios) {
    for (const seed of config.diets.seeds) {
      add({
        id: dietId(ratio, seed),
        stage: dietStage,
        params: dietInstanceParams(config.diets, ratio, seed),
        inputs: { dataset: dataId },
      });
    }
  }

  // ---- training, encoding, evaluation ---------------------------------------------------------
  const firstDiet = config.diets.ratios[0];
  const seeds = config.train.seeds;
  const primary = config.train.primary;
  const runs = new Map<string, TrainRunParams>();
  const addRun = (p: TrainRunParams) => {
    const id = instanceId("train", runCoords(p));
    if (!runs.has(id)) {
      runs.set(id, p);
      add({ id, stage: trainStage, params: { ...p }, inputs: { diet: dietId(p.diet) } });
      const coords = runCoords(p);
      add({
        id: instanceId("encode", coords),
        stage: encodeStage,
        params: {},
        inputs: { train: id, dataset: dataId },
      });
      add({
        id: instanceId("evaluate", coords),
        stage: evaluateStage,
        params: {},
        inputs: { train: id, encode: instanceId("encode", coords), dataset: dataId },
      });
    }
    return id;
  };
  const paretoRuns = trainGrid({ ...config.train, seeds: [seeds[0]] }, firstDiet).map(addRun);
  const primaryGrid = trainGrid({
    ...config.train,
    methods: [primary.method],
    k: [primary.k],
  }, firstDiet);
  if (primaryGrid.length === 0) {
    throw new UserError(`train.primary: no run for method ${primary.method}`);
  }
  const stabilityRun = (seed: number, diet: string) => addRun({ ...primaryGrid[0], seed, diet });
  for (const diet of config.diets.ratios) for (const seed of seeds) stabilityRun(seed, diet);
  const primaryId = stabilityRun(seeds[0], firstDiet);
  /** Id of a per-run stage (`encode`, `evaluate`, `concepts`, ...) of a train instance. */
  const ofRun = (stage: string, trainId: string) =>
    instanceId(stage, runCoords(runs.get(trainId)!));
  const paretoEvaluations = paretoRuns.map((id) => ofRun("evaluate", id));

  add({
    id: "pareto",
    stage: paretoStage,
    params: {},
    inputs: { "runs*": paretoEvaluations },
  });

  // ---- concepts and stability ----------------------------------------------------------------
  const conceptsOf = (trainId: string) => {
    return add({
      id: ofRun("concepts", trainId),
      stage: conceptsStage,
      params: config.analysis.concepts,
      inputs: { encode: ofRun("encode", trainId), dataset: dataId, "train?": trainId },
    });
  };
  const matchOf = (a: string, b: string, kind: "seeds" | "diets") => {
    const pa = runs.get(a)!, pb = runs.get(b)!;
    const coords = kind === "seeds"
      ? { method: pa.method, k: pa.k, diet: pa.diet, seeds: `${pa.seed}-${pb.seed}` }
      : { method: pa.method, k: pa.k, seed: pa.seed, diets: `${pa.diet}-${pb.diet}` };
    return add({
      id: instanceId("match", coords),
      stage: matchStage,
      params: config.analysis.match,
      inputs: { a, b, concepts_a: conceptsOf(a) },
    });
  };
  const seedMatches: string[] = [];
  for (const diet of config.diets.ratios) {
    for (const seed of seeds.slice(1)) {
      seedMatches.push(matchOf(stabilityRun(seeds[0], diet), stabilityRun(seed, diet), "seeds"));
    }
  }
  const dietMatches: string[] = [];
  for (const diet of config.diets.ratios.slice(1)) {
    dietMatches.push(matchOf(primaryId, stabilityRun(seeds[0], diet), "diets"));
  }

  // Concept statistics of every run (cheap), so that every run can be explored.
  for (const id of runs.keys()) conceptsOf(id);

  // ---- the primary run's geometry --------------------------------------------------------------
  const primaryConcepts = conceptsOf(primaryId);
  const modalityId = add({
    id: ofRun("modality", primaryId),
    stage: modalityStage,
    params: config.analysis.modality,
    inputs: { train: primaryId, dataset: dataId },
  });
  const bridgeId = add({
    id: ofRun("bridge", primaryId),
    stage: bridgeStage,
    params: config.analysis.bridge,
    inputs: {
      train: primaryId,
      encode: ofRun("encode", primaryId),
      dataset: dataId,
      concepts: primaryConcepts,
    },
  });

  // ---- the explorer's concept labels (every run) and map layout (the primary run) ----------
  for (const id of runs.keys()) {
    add({
      id: ofRun("labels", id),
      stage: labelsStage,
      params: {},
      inputs: { encode: ofRun("encode", id), dataset: dataId, train: id },
    });
  }
  add({ id: ofRun("map", primaryId), stage: mapStage, params: {}, inputs: { train: primaryId } });

  // ---- verdicts -------------------------------------------------------------------------------
  if (synthetic) {
    add({
      id: "validate",
      stage: validateStage,
      params: config.analysis.validate,
      inputs: {
        dataset: dataId,
        "runs*": [primaryId, ...seeds.slice(1).map((s) => stabilityRun(s, firstDiet))],
        "concepts?": primaryConcepts,
        "bridge?": bridgeId,
      },
    });
  }
  add({
    id: "claims",
    stage: claimsStage,
    params: config.analysis.claims,
    inputs: {
      "evaluations*": paretoEvaluations,
      "seedMatches*": seedMatches,
      "dietMatches*": dietMatches,
      "concepts?": primaryConcepts,
      "modality?": modalityId,
      "bridge?": bridgeId,
      "dataset?": dataId,
    },
  });
  return out;
}
