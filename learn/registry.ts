/**
 * Method name → fit / load. SAE methods go to learn/sae (`trainSae`, `loadSae`; the variants are
 * listed in learn/sae/variants/mod.ts), the classic baselines to learn/baselines. Every method's
 * options are validated here, once, by its strict zod schema (the SAE family shares one); a bad
 * option is a one-line {@link UserError} naming `train.options.<key>` (learn/sae/options.ts).
 */
import { z } from "zod";
import type { Backend } from "../kernels/backend.ts";
import type { EpochLog, FittedDictionary } from "./learner.ts";
import { UserError } from "../pipeline/errors.ts";
import {
  loadSae,
  parseOptions,
  type SaeHooks,
  saeMethods,
  type SaeOptions,
  saeOptionsSchema,
  saeVariant,
  trainSae,
} from "./sae/mod.ts";
import { fitPca, pcaDictionary } from "./baselines/pca.ts";
import { fitKmeans, kmeansDictionary } from "./baselines/kmeans.ts";
import { fitOmp, ompDictionary } from "./baselines/omp.ts";
import { fitSemiNmf, semiNmfDictionary } from "./baselines/seminmf.ts";

/** The classic baselines. */
export const baselineMethods = ["pca", "kmeans", "seminmf", "omp"] as const;

/** Every method name. */
export const allMethods = [...saeMethods, ...baselineMethods] as const;

/** One method name. */
export type MethodName = typeof allMethods[number];

/**
 * Width of the dense baselines: `k` fits k concepts (so their ℓ0 ≤ k and they sit beside the
 * k-sparse methods on the Pareto plot), `c` fits the full c (PCA keeps min(c, d)).
 */
const width = z.enum(["k", "c"]);

/** Options of each baseline (strict; every key has a default). */
export const baselineOptionsSchemas = {
  pca: z.strictObject({
    width: width.default("k"),
    /** Subtract the mean before the decomposition (the mean is the decoder bias). */
    center: z.boolean().default(true),
  }),
  kmeans: z.strictObject({
    iterations: z.number().int().positive().default(25),
    tolerance: z.number().nonnegative().default(1e-4),
  }),
  seminmf: z.strictObject({
    width: width.default("k"),
    iterations: z.number().int().positive().default(100),
    encodeIterations: z.number().int().positive().default(100),
    ridge: z.number().positive().default(1e-6),
  }),
  omp: z.strictObject({
    iterations: z.number().int().positive().default(10),
    fitRows: z.number().int().positive().default(8192),
  }),
} as const;

/** True for the SAE variants (trained by learn/sae), false for the baselines. */
export function isSaeMethod(method: string): boolean {
  return saeVariant(method) !== undefined;
}

/** The option schema of a method (SAE methods share {@link saeOptionsSchema}). */
export function methodOptionsSchema(method: string): z.ZodType {
  if (isSaeMethod(method)) return saeOptionsSchema;
  const s = (baselineOptionsSchemas as Record<string, z.ZodType>)[method];
  if (!s) throw unknownMethod(method);
  return s;
}

function unknownMethod(method: unknown): UserError {
  return new UserError(
    `train.method: unknown method ${JSON.stringify(method)}; use one of ${allMethods.join(", ")}`,
  );
}

/** True when the method's result depends on k (k-means is 1-sparse whatever k is). */
export function methodUsesK(method: string): boolean {
  return method !== "kmeans";
}

/** Validate `options` for `method`; returns the parsed options or throws a one-line UserError. */
export function parseMethodOptions(
  method: string,
  options: Record<string, unknown>,
): Record<string, unknown> {
  return parseOptions(methodOptionsSchema(method), method, options) as Record<string, unknown>;
}

/** What {@link fitMethod} needs besides the data. */
export interface FitRequest {
  method: string;
  /** Concepts (dense baselines with width `k` use k instead). */
  c: number;
  /** Target ℓ0 / atoms per row. */
  k: number;
  seed: number;
  /** Method options (validated here). */
  options?: Record<string, unknown>;
  /** Called after each epoch of the SAE trainers. */
  onEpoch?: (e: EpochLog) => void;
  /** Called after each optimiser step of the SAE trainers. */
  onStep?: (step: number, total: number) => void;
}

/** Fit `method` on X (n×d row-major) with the backend. Deterministic for a seed and backend. */
export function fitMethod(
  x: Float32Array,
  n: number,
  d: number,
  req: FitRequest,
  backend: Backend,
): Promise<FittedDictionary> {
  const { method, c, k, seed } = req;
  if (!(Number.isInteger(k) && k >= 1)) {
    throw new UserError(`train.k: must be a positive integer, got ${k}`);
  }
  if (!(Number.isInteger(c) && c >= 1)) {
    throw new UserError(`train.c: must be a positive integer, got ${c}`);
  }
  const opts = parseMethodOptions(method, req.options ?? {});
  switch (method) {
    case "pca": {
      const o = opts as z.infer<typeof baselineOptionsSchemas.pca>;
      return fitPca(x, n, d, { c: o.width === "k" ? k : c, center: o.center }, backend);
    }
    case "kmeans": {
      const o = opts as z.infer<typeof baselineOptionsSchemas.kmeans>;
      return fitKmeans(x, n, d, { c, seed, ...o }, backend);
    }
    case "seminmf": {
      const o = opts as z.infer<typeof baselineOptionsSchemas.seminmf>;
      const { width: w, ...rest } = o;
      return fitSemiNmf(x, n, d, { c: w === "k" ? k : c, seed, ...rest }, backend);
    }
    case "omp": {
      const o = opts as z.infer<typeof baselineOptionsSchemas.omp>;
      return fitOmp(x, n, d, { c, k, seed, ...o }, backend);
    }
    default: {
      const hooks: SaeHooks = { onEpoch: req.onEpoch, onStep: req.onStep };
      const o = opts as SaeOptions;
      return trainSae(saeVariant(method)!, x, n, d, { c, k, seed }, o, backend, hooks);
    }
  }
}

function tensor(
  tensors: Record<string, { shape: number[]; data: Float32Array }>,
  name: string,
  shape: number[],
): Float32Array {
  const t = tensors[name];
  if (!t) throw new UserError(`weights.safetensors: tensor '${name}' is missing; re-run train`);
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new UserError(
      `weights.safetensors: tensor '${name}' has shape [${t.shape}], expected [${shape}]; re-run train`,
    );
  }
  return t.data;
}

/**
 * Rebuild a fitted dictionary from its exported config (config.json) and tensors
 * (weights.safetensors), as written by the train stage.
 */
export function loadMethod(
  config: Record<string, unknown>,
  tensors: Record<string, { shape: number[]; data: Float32Array }>,
): FittedDictionary {
  const method = config.method;
  const c = Number(config.c);
  const d = Number(config.d);
  if (typeof method !== "string" || !(allMethods as readonly string[]).includes(method)) {
    throw unknownMethod(method);
  }
  if (isSaeMethod(method)) return loadSae(config, tensors);
  if (!(Number.isInteger(c) && c > 0 && Number.isInteger(d) && d > 0)) {
    throw new UserError(`config.json: 'c' and 'd' must be positive integers; re-run train`);
  }
  const dict = tensor(tensors, "W_dec", [c, d]);
  switch (method) {
    case "pca":
      return pcaDictionary(dict, tensor(tensors, "b_dec", [d]), c, d, {
        c_requested: config.c_requested,
        center: config.center,
        explained_variance: config.explained_variance,
      });
    case "kmeans":
      return kmeansDictionary(dict, c, d);
    case "omp":
      return ompDictionary(dict, c, d, Number(config.k));
    default:
      return semiNmfDictionary(dict, c, d, Number(config.encode_iterations));
  }
}
