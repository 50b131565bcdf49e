/**
 * JumpReLU SAE (method.md §2): z_ij = pre_ij·1[pre_ij > θ_j] with learned per-concept
 * thresholds θ and an ℓ0 penalty λ·(1/B)·#{z ≠ 0} steered toward the target ℓ0 by a
 * multiplicative controller (learn/sae/controller.ts). θ learns through a straight-through
 * estimator with a rectangle kernel of bandwidth ε:
 * ∂θ_j = −(θ_j/ε)·Σ_{i: |pre_ij−θ_j|<ε/2} g_ij − (λ/(B·ε))·#{i: |pre_ij−θ_j|<ε/2}, computed from
 * the band θ−ε/2 < pre ≤ θ+ε/2, which the threshold op collects as codes in the same pass.
 */
import { z } from "zod";
import type { SparseCodes, Tensor } from "../../../kernels/backend.ts";
import type { SaeVariant } from "../variant.ts";
import { controllerOptionsShape, PenaltyController } from "../controller.ts";

/** jumprelu's options (the controller's are shared with relu). */
export const jumpreluOptions = {
  ...controllerOptionsShape,
  /** Bandwidth ε of the rectangle kernel of the straight-through estimator. */
  jumpBandwidth: z.number().positive().default(1e-3),
  /**
   * Initial threshold θ of every concept; with `startAtTarget`, the least initial θ (concepts
   * whose start threshold t_j is lower get θ = this and b_enc = θ − t_j).
   */
  jumpThetaInit: z.number().positive().default(1e-3),
  /** Lower bound kept on θ after each step (thresholds stay positive). */
  jumpThetaMin: z.number().positive().default(1e-6),
  /** Fixed ℓ0 penalty coefficient; null: a controller steers it toward the target ℓ0. */
  jumpL0Penalty: z.number().nonnegative().nullable().default(null),
  /**
   * Initial coefficient of the controlled ℓ0 penalty. null: scaled to the data, λ₀ = 2θ₀² (θ₀²
   * with `startAtTarget: false`) with θ₀ as for `reluLambda` (see learn/sae/controller.ts).
   */
  jumpL0PenaltyInit: z.number().positive().nullable().default(null),
  /** Target ℓ0 of the controller (null: k). */
  jumpTargetL0: z.number().positive().nullable().default(null),
};

/** The JumpReLU SAE. */
export const jumprelu: SaeVariant<typeof jumpreluOptions, "jumprelu"> = {
  name: "jumprelu",
  options: jumpreluOptions,
  encoding: "per_concept_threshold",
  codesPerRow: "c",
  start(run, o) {
    const { b, v, B, c } = run;
    const eps = o.jumpBandwidth;
    const ctl = new PenaltyController(
      o,
      o.jumpL0Penalty ?? o.jumpL0PenaltyInit ?? NaN,
      o.jumpTargetL0 ?? run.k,
      o.jumpL0Penalty === null,
      "thetaSquared",
    );
    const theta = run.param(b.upload(new Float32Array(c).fill(o.jumpThetaInit), [c]), false);
    let band: SparseCodes | null = null; // the band's codes
    /** lo = θ − ε/2, hi = θ + ε/2 (scratch [c]). */
    const bounds = () => {
      const lo = v.scratch("jump.lo", [c]);
      const hi = v.scratch("jump.hi", [c]);
      b.axpby(1, theta, -eps / 2, v.constant([c], 1), lo);
      b.axpby(1, theta, eps / 2, v.constant([c], 1), hi);
      return { lo, hi };
    };
    /** ∂θ = −(θ/ε)·sBand − (λ/(B·ε))·nBand. */
    const thetaGrad = (sBand: Tensor, nBand: Tensor) => {
      const gT = run.gradOf(theta);
      v.mul(theta, sBand, gT);
      b.axpby(-1 / eps, gT, -ctl.lambda / (B * eps), nBand, gT);
    };
    return {
      async init(batch) {
        // start at the target ℓ0: θ_j = max(t_j, jumpThetaInit), b_enc_j = θ_j − t_j, so that
        // pre + b_enc > θ ⇔ pre > t (target/c of each concept's rows) with θ positive
        const t = await ctl.init(run, batch);
        if (!t) return;
        const th = t.map((x) => Math.max(x, o.jumpThetaInit));
        b.write(theta, th);
        b.write(run.bEnc, th.map((x, j) => x - t[j]));
      },
      sparsify() {
        band ??= run.sparse(B, c, B * c);
        b.threshold(run.pre, theta, run.z, { ...bounds(), z: band });
      },
      afterGradients() {
        // the band's g_ij and counts
        const g = v.scratch("jump.g", [band!.capacity]);
        const sBand = v.scratch("jump.s", [c]);
        const nBand = v.scratch("jump.n", [c]);
        b.sparseSample(run.r, run.D, band!, g);
        b.sparseColumnSum(band!, g, sBand, 0);
        b.sparseColumnSum(band!, run.onesCap, nBand, 0);
        thetaGrad(sBand, nBand);
      },
      dense: {
        threshold: () => theta,
        gradient(gf) {
          const { lo, hi } = bounds();
          const tmp = v.scratch("dense.tmp", [B, c]);
          const sBand = v.scratch("jump.s", [c]);
          const nBand = v.scratch("jump.n", [c]);
          const s2 = v.scratch("jump.s2", [c]);
          const n2 = v.scratch("jump.n2", [c]);
          b.maskAbove(run.pre, lo, gf, tmp);
          b.columnSum(tmp, sBand, 0);
          b.maskAbove(run.pre, hi, gf, tmp);
          b.columnSum(tmp, s2, 0);
          b.axpby(1, sBand, -1, s2, sBand);
          b.countAbove(run.pre, lo, nBand, 0);
          b.countAbove(run.pre, hi, n2, 0);
          b.axpby(1, nBand, -1, n2, nBand);
          thetaGrad(sBand, nBand);
        },
      },
      afterUpdate: () => v.clampMin(theta, o.jumpThetaMin),
      sync: (l0) => ctl.update(l0, run.rowsSeen, run.totalSteps, B),
      async log(extra, rows, fired) {
        const th = (await b.read(theta)) as Float32Array;
        let s = 0;
        for (let j = 0; j < c; j++) s += th[j];
        extra.thetaMean = s / c;
        extra.lambda = ctl.lambda;
        return ctl.lambda * fired / rows;
      },
      threshold: async () => Float32Array.from((await b.read(theta)) as Float32Array),
    };
  },
};
