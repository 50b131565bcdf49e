/**
 * Embedding spaces of a study (method.md §9): every `embed.models` entry and every
 * `dataset.spaces` entry is a space with its own sub-study (diets, Pareto sweep, stability runs,
 * analyses, claims). A study with no declared spaces (the default) has one unnamed space: the
 * `dataset` section itself, and its stage ids and keys are those of a single-space study.
 */
import { z } from "zod";
import { UserError } from "../../pipeline/errors.ts";
import { type DatasetSection, datasetSection } from "./dataset.ts";
import type { EmbedSection } from "./embed.ts";

/** A space name: used in stage ids (`train[space=NAME,…]`), so letters, digits, `.`, `_`, `-`. */
export const spaceName = z.string().regex(
  /^[A-Za-z0-9._-]+$/,
  "a space name holds letters, digits, '.', '_' and '-' only",
);

/**
 * One imported (or synthetic) embedding space of `dataset.spaces`: a name plus the `dataset` keys
 * that differ from the `dataset` section (which every space inherits: split fraction and seed,
 * normalisation, pairs-table columns, …), and per-space `train` overrides. Example:
 *
 * ```yaml
 * dataset:
 *   spaces:
 *     - { name: clip-b16, kind: npy, path: clip.npy, pairs: pairs.json }
 *     - { name: siglip-b16, kind: parquet, path: siglip.parquet, expansionFactor: 4 }
 * ```
 */
export const datasetSpaceSchema = z.strictObject({
  /** Space name (unique among the study's spaces). */
  name: spaceName,
  /**
   * Where the rows come from (default: by the extension of `path` when given — `.parquet` or
   * `.npy`/`.npz` — else the `dataset` section's kind).
   */
  kind: z.enum(["synthetic", "npy", "parquet"]).optional(),
  /** Embeddings file (`.npy`/`.npz`, or a Parquet table). */
  path: z.string().optional(),
  /** Second `.npy` with the caption rows. */
  textPath: z.string().optional(),
  /** Pairs table (`.json`/`.csv`). */
  pairs: z.string().optional(),
  /** `.npz` array names. */
  imageArray: z.string().optional(),
  textArray: z.string().optional(),
  /** Expected dimension (0 = any). */
  expectDim: z.number().int().min(0).optional(),
  /** Parquet: keep the file's `split` column. */
  keepSplit: z.boolean().optional(),
  /**
   * Synthetic space: world seed and the world knobs that differ from `dataset.world` (checked
   * against the world's schema once merged).
   */
  seed: z.number().int().optional(),
  world: z.record(z.string(), z.unknown()).optional(),
  /** Per-space `train.expansionFactor` (c = round(expansionFactor · d) of this space). */
  expansionFactor: z.number().positive().optional(),
  /** Per-space fixed `train.c` (wins over every expansion factor). */
  c: z.number().int().positive().optional(),
});

/** A validated `dataset.spaces` entry. */
export type DatasetSpace = z.infer<typeof datasetSpaceSchema>;

/** The `dataset` section as written in a configuration: the dataset keys plus `spaces`. */
export const datasetConfigSection = datasetSection.extend({
  /** Several embedding spaces (method.md §9); empty: the section itself is the one space. */
  spaces: z.array(datasetSpaceSchema).default([]),
});

/** Validated `dataset` section of a configuration. */
export type DatasetConfigSection = z.infer<typeof datasetConfigSection>;

/** One resolved embedding space of a study. */
export interface StudySpace {
  /** Space name; null for the single unnamed space of a study without declared spaces. */
  name: string | null;
  /** Where its rows come from: an `embed` instance of model `model`, or a `dataset` instance. */
  source:
    | { kind: "embed"; model: string }
    | { kind: "dataset"; dataset: DatasetSection };
  /** Per-space train overrides (undefined: the `train` section's). */
  expansionFactor?: number;
  c?: number;
}

/** The `dataset` section without `spaces`: the parameters of the single dataset instance. */
export function datasetParamsOf(section: DatasetConfigSection): DatasetSection {
  const { spaces: _spaces, ...rest } = section;
  return datasetSection.parse(rest);
}

/**
 * The spaces of a configuration, in order: every `embed.models` entry (named by the model), then
 * every `dataset.spaces` entry. No declared space, or a single model: one space, unnamed when it
 * is the `dataset` section itself and named by its model otherwise (ids as before: the model is in
 * the `embed[model=…]` id). Throws {@link UserError} on a duplicate name.
 */
export function resolveSpaces(
  dataset: DatasetConfigSection,
  embed: EmbedSection,
): { spaces: StudySpace[]; named: boolean } {
  const spaces: StudySpace[] = [];
  for (const m of embed.models) {
    spaces.push({
      name: m.name,
      source: { kind: "embed", model: m.name },
      ...(m.expansionFactor !== undefined ? { expansionFactor: m.expansionFactor } : {}),
      ...(m.c !== undefined ? { c: m.c } : {}),
    });
  }
  const base = datasetParamsOf(dataset);
  dataset.spaces.forEach((s, i) => {
    const { name, world, expansionFactor, c, ...keys } = s;
    // A space that names a file but no kind reads it by its extension.
    const kind = keys.kind ??
      (keys.path ? (/\.parquet$/i.test(keys.path) ? "parquet" : "npy") : base.kind);
    const merged = { ...base, ...keys, kind, world: { ...base.world, ...(world ?? {}) } };
    const parsed = datasetSection.safeParse(merged);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UserError(
        `dataset.spaces[${i}] (${name}).${issue.path.join(".")}: ${issue.message}`,
      );
    }
    spaces.push({
      name,
      source: { kind: "dataset", dataset: parsed.data },
      ...(expansionFactor !== undefined ? { expansionFactor } : {}),
      ...(c !== undefined ? { c } : {}),
    });
  });
  const seen = new Set<string>();
  for (const s of spaces) {
    if (seen.has(s.name!)) {
      throw new UserError(
        `space name "${s.name}" is used twice (embed.models / dataset.spaces); give every space its own name`,
      );
    }
    seen.add(s.name!);
  }
  if (spaces.length === 0) {
    return { spaces: [{ name: null, source: { kind: "dataset", dataset: base } }], named: false };
  }
  return { spaces, named: dataset.spaces.length > 0 || embed.models.length > 1 };
}
