/**
 * The default study: how the configuration fans out into stage instances (method.md; design.md
 * "The flow"). Every embedding space (tasks/config/spaces.ts) is a sub-study of its own:
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
 *
 * With several spaces (several `embed.models`, or `dataset.spaces`), every instance id of a space
 * carries it first (`train[space=clip,method=…]`, `dataset[space=clip]`; an embed instance stays
 * `embed[model=…]`), and for every seed after the first the primary run of the first diet gets its
 * own `modality`, `bridge` and `claims[space=…,seed=…]` (the claims' spread over the seeds); the
 * `compare` stage reads every space. Ids are labels only: a space's keys are those of the same
 * space studied alone, and a study without declared spaces keeps its ids too.
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
import { compareStage } from "./compare.ts";
import { labelsStage } from "./labels.ts";
import { mapStage } from "./map.ts";
import { trainGrid, type TrainRunParams } from "./config/train.ts";
import { resolveSpaces, type StudySpace } from "./config/spaces.ts";
import { checkSpacePlan } from "./space_plan.ts";

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
  compareStage,
  labelsStage,
  mapStage,
];

/** Short label of a train run, used in instance ids. */
function runCoords(p: TrainRunParams): Record<string, unknown> {
  return { method: p.method, k: p.k, seed: p.seed, diet: p.diet };
}

/** The ids of one space's sub-study that the comparison reads. */
export interface SpaceInstances {
  /** Space name (null: the single unnamed space). */
  name: string | null;
  /** Its `dataset` or `embed` instance. */
  data: string;
  /** Its `pareto` instance. */
  pareto: string;
  /** Its `claims` instances, first seed first (one per seed with several spaces). */
  claims: string[];
  /** Its `validate` instance (synthetic spaces only). */
  validate: string | null;
  /** `concepts` of the primary run of the first diet, one per seed. */
  concepts: string[];
  /** `match` instances of seed pairs, and of diet pairs. */
  seedMatches: string[];
  dietMatches: string[];
  /** `bridge` instances of the primary run of the first diet, one per seed where built. */
  bridges: string[];
}

type Add = (inst: StageInstance) => string;

/** The instances of one space's sub-study (added through `add`); the ids the comparison reads. */
function buildSpace(
  config: StudyConfig,
  space: StudySpace,
  named: boolean,
  add: Add,
  baseDir: string,
): SpaceInstances {
  /** A space's coordinates come first in its ids (none for the unnamed space). */
  const tag = (coords: Record<string, unknown> = {}) =>
    named ? { space: space.name, ...coords } : coords;
  const id = (stage: string, coords: Record<string, unknown> = {}) =>
    instanceId(stage, tag(coords));

  // ---- data ------------------------------------------------------------------------------
  let dataId: string;
  if (space.source.kind === "embed") {
    const name = space.source.model;
    // Study-level keys of the model entry are not embed parameters (keys stay unchanged).
    const models = config.embed.models.map(({ expansionFactor: _e, c: _c, ...m }) => m);
    const params = embedParamsFor({ ...config.embed, models }, name);
    dataId = add({
      id: instanceId("embed", { model: name }),
      stage: embedStage,
      params,
      inputs: {},
    });
  } else {
    dataId = add({
      id: id("dataset"),
      stage: datasetStage,
      params: space.source.dataset,
      inputs: {},
      rawInputs: datasetRawInputs(space.source.dataset, baseDir),
    });
  }
  const synthetic = space.source.kind === "dataset" && space.source.dataset.kind === "synthetic";
  const dietSeed = config.diets.seeds[0];
  const dietId = (ratio: string, seed = dietSeed) => id("diet", { ratio, seed });
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
  // A space's own expansion factor wins over the study's fixed c; its own c wins over both.
  const train = {
    ...config.train,
    ...(space.expansionFactor !== undefined
      ? { expansionFactor: space.expansionFactor, c: null }
      : {}),
    ...(space.c !== undefined ? { c: space.c } : {}),
  };
  const runs = new Map<string, TrainRunParams>();
  const addRun = (p: TrainRunParams) => {
    const trainId = id("train", runCoords(p));
    if (!runs.has(trainId)) {
      runs.set(trainId, p);
      add({ id: trainId, stage: trainStage, params: { ...p }, inputs: { diet: dietId(p.diet) } });
      const coords = runCoords(p);
      add({
        id: id("encode", coords),
        stage: encodeStage,
        params: {},
        inputs: { train: trainId, dataset: dataId },
      });
      add({
        id: id("evaluate", coords),
        stage: evaluateStage,
        params: {},
        inputs: { train: trainId, encode: id("encode", coords), dataset: dataId },
      });
    }
    return trainId;
  };
  const paretoRuns = trainGrid({ ...train, seeds: [seeds[0]] }, firstDiet).map(addRun);
  const primaryGrid = trainGrid({
    ...train,
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
  const ofRun = (stage: string, trainId: string) => id(stage, runCoords(runs.get(trainId)!));
  const paretoEvaluations = paretoRuns.map((r) => ofRun("evaluate", r));

  const paretoId = add({
    id: id("pareto"),
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
      id: id("match", coords),
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
  for (const r of runs.keys()) conceptsOf(r);

  // ---- the primary run's geometry --------------------------------------------------------------
  const geometryOf = (trainId: string) => {
    const concepts = conceptsOf(trainId);
    const modality = add({
      id: ofRun("modality", trainId),
      stage: modalityStage,
      params: config.analysis.modality,
      inputs: { train: trainId, dataset: dataId },
    });
    const bridge = add({
      id: ofRun("bridge", trainId),
      stage: bridgeStage,
      params: config.analysis.bridge,
      inputs: {
        train: trainId,
        encode: ofRun("encode", trainId),
        dataset: dataId,
        concepts,
      },
    });
    return { concepts, modality, bridge };
  };
  const primaryGeometry = geometryOf(primaryId);

  // ---- the explorer's concept labels (every run) and map layout (the primary run) ----------
  for (const r of runs.keys()) {
    add({
      id: ofRun("labels", r),
      stage: labelsStage,
      params: {},
      inputs: { encode: ofRun("encode", r), dataset: dataId, train: r },
    });
  }
  add({ id: ofRun("map", primaryId), stage: mapStage, params: {}, inputs: { train: primaryId } });

  // ---- verdicts -------------------------------------------------------------------------------
  let validateId: string | null = null;
  if (synthetic) {
    validateId = add({
      id: id("validate"),
      stage: validateStage,
      params: config.analysis.validate,
      inputs: {
        dataset: dataId,
        "runs*": [primaryId, ...seeds.slice(1).map((s) => stabilityRun(s, firstDiet))],
        "concepts?": primaryGeometry.concepts,
        "bridge?": primaryGeometry.bridge,
      },
    });
  }
  const claims = [add({
    id: id("claims"),
    stage: claimsStage,
    params: config.analysis.claims,
    inputs: {
      "evaluations*": paretoEvaluations,
      "seedMatches*": seedMatches,
      "dietMatches*": dietMatches,
      "concepts?": primaryGeometry.concepts,
      "modality?": primaryGeometry.modality,
      "bridge?": primaryGeometry.bridge,
      "dataset?": dataId,
    },
  })];
  const bridges = [primaryGeometry.bridge];
  if (named) {
    // The spread over the seeds: the per-run claims of every other seed's primary run.
    for (const seed of seeds.slice(1)) {
      const g = geometryOf(stabilityRun(seed, firstDiet));
      bridges.push(g.bridge);
      claims.push(add({
        id: id("claims", { seed }),
        stage: claimsStage,
        params: config.analysis.claims,
        inputs: {
          "concepts?": g.concepts,
          "modality?": g.modality,
          "bridge?": g.bridge,
          "dataset?": dataId,
        },
      }));
    }
  }
  return {
    name: space.name,
    data: dataId,
    pareto: paretoId,
    claims,
    validate: validateId,
    concepts: seeds.map((s) => conceptsOf(stabilityRun(s, firstDiet))),
    seedMatches,
    dietMatches,
    bridges,
  };
}

/**
 * The instances of a validated configuration, in a readable order: every space's sub-study, then
 * (with declared spaces) the `compare` instance over all of them. Checks that can be made before
 * anything runs (rows against c, k against c) throw one {@link UserError} naming the key to change.
 */
export function buildStudy(config: StudyConfig, baseDir = Deno.cwd()): StageInstance[] {
  const out: StageInstance[] = [];
  const add = (inst: StageInstance) => {
    if (!out.some((o) => o.id === inst.id)) out.push(inst);
    return inst.id;
  };
  const { spaces, named } = resolveSpaces(config.dataset, config.embed);
  for (const space of spaces) checkSpacePlan(config, space, baseDir);
  const built = spaces.map((space) => buildSpace(config, space, named, add, baseDir));
  if (named) {
    add({
      id: "compare",
      stage: compareStage,
      params: { ...config.analysis.compare, spaces: built.map((b) => b.name!) },
      inputs: {
        "data*": built.map((b) => b.data),
        "pareto*": built.map((b) => b.pareto),
        "claims*": built.flatMap((b) => b.claims),
        "validate*": built.flatMap((b) => (b.validate ? [b.validate] : [])),
        "concepts*": built.flatMap((b) => b.concepts),
        "seedMatches*": built.flatMap((b) => b.seedMatches),
        "dietMatches*": built.flatMap((b) => b.dietMatches),
        "bridges*": built.flatMap((b) => b.bridges),
      },
    });
  }
  return out;
}
