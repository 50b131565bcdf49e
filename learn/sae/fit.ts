/**
 * `fitSae`: train one SAE variant by name (learn/sae/variants/) with options validated by the
 * family's one schema (learn/sae/options.ts), on the shared core (learn/sae/trainer.ts).
 */
import type { Backend } from "../../kernels/backend.ts";
import type { FittedDictionary } from "../learner.ts";
import { UserError } from "../../pipeline/errors.ts";
import { parseOptions } from "./options.ts";
import { type SaeHooks, trainSae } from "./trainer.ts";
import {
  type SaeMethod,
  saeMethods,
  type SaeOptions,
  saeOptionsSchema,
  saeVariant,
} from "./variants/mod.ts";

/**
 * Train one SAE variant on X (n×d row-major) and return the fitted dictionary.
 * @param method `relu` | `topk` | `batchtopk` | `jumprelu` | `matryoshka`
 * @param opts `c` concepts, `k` codes per row (topk) or target ℓ0, `seed`, plus {@link SaeOptions}
 *   (validated here; already-validated options pass unchanged)
 * @param backend holds every training tensor; only per-epoch logs and periodic controller scalars return
 */
export async function fitSae(
  method: SaeMethod,
  x: Float32Array,
  n: number,
  d: number,
  opts: { c: number; k: number; seed: number } & Partial<SaeOptions>,
  backend: Backend,
  hooks?: SaeHooks,
): Promise<FittedDictionary> {
  const variant = saeVariant(method);
  if (!variant) {
    throw new UserError(
      `train.method: unknown SAE method '${method}'; use one of ${saeMethods.join(", ")}`,
    );
  }
  const { c, k, seed, ...rest } = opts;
  const o = parseOptions(saeOptionsSchema, method, rest);
  return await trainSae(variant, x, n, d, { c, k, seed }, o, backend, hooks);
}
