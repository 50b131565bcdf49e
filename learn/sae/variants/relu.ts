/**
 * ReLU SAE (method.md §2): Z = ReLU(pre) with an ℓ1 penalty λ·(1/B)·Σ|z| steered toward the
 * target ℓ0 by a multiplicative controller (learn/sae/controller.ts). ∂pre gains λ/B on every
 * active entry. Starts at the target ℓ0 (b_enc from the data, option `startAtTarget`) and trains
 * through dense GEMMs while the code density is high.
 */
import { z } from "zod";
import type { SaeVariant } from "../variant.ts";
import { controllerOptionsShape, PenaltyController } from "../controller.ts";

/** relu's options (the controller's are shared with jumprelu). */
export const reluOptions = {
  /**
   * Initial (or, without the controller, fixed) ℓ1 coefficient λ. null: scaled to the data,
   * λ₀ = 2θ₀ (θ₀ with `startAtTarget: false`), θ₀ the smallest value a batch top-k at the target
   * ℓ0 keeps of the initial pre-activations of one batch (the code size at the target sparsity;
   * see learn/sae/controller.ts).
   */
  reluLambda: z.number().positive().nullable().default(null),
  /** Steer λ toward a target ℓ0 (multiplicative controller, every `syncEvery` steps). */
  reluControl: z.boolean().default(true),
  /** Target ℓ0 of the λ controller (null: k). */
  reluTargetL0: z.number().positive().nullable().default(null),
  ...controllerOptionsShape,
};

/** The ReLU SAE. */
export const relu: SaeVariant<typeof reluOptions, "relu"> = {
  name: "relu",
  options: reluOptions,
  encoding: "relu",
  codesPerRow: "c",
  start(run, o) {
    const { b, v, B, c } = run;
    const ctl = new PenaltyController(
      o,
      o.reluLambda ?? NaN,
      o.reluTargetL0 ?? run.k,
      o.reluControl,
      "theta",
    );
    const l1 = run.keep(b.zeros([c]));
    const zero = v.constant([1], 0);
    return {
      async init(batch) {
        // start at the target ℓ0: b_enc = −t (pre − t > 0 on target/c of each concept's rows)
        const t = await ctl.init(run, batch);
        if (t) b.write(run.bEnc, t.map((x) => -x));
      },
      sparsify: () => b.threshold(run.pre, zero, run.z),
      codeStats: () => b.sparseColumnSum(run.z, run.z.value, l1, 1),
      codeGradient: (vals) => b.sparseAddScalar(run.z, vals, ctl.lambda / B),
      dense: {
        threshold: () => zero,
        codeStats: (zd) => b.columnSum(zd, l1, 1),
        gradient(gf) {
          b.gemm(v.constant([B, 1], 1), v.constant([1, c], 1), gf, {
            alpha: ctl.lambda / B,
            beta: 1,
          });
        },
      },
      sync: (l0) => ctl.update(l0, run.rowsSeen, run.totalSteps, B),
      async log(extra, rows) {
        const a = (await b.read(l1)) as Float32Array;
        let s = 0;
        for (let j = 0; j < c; j++) s += a[j];
        v.zero(l1);
        extra.l1 = s / rows;
        extra.lambda = ctl.lambda;
        return ctl.lambda * extra.l1;
      },
      threshold: () => Promise.resolve(new Float32Array(1)),
    };
  },
};
