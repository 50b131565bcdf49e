/**
 * Matryoshka SAE (method.md §2): batch top-k codes, and the loss is the mean over nested
 * prefixes p of (1/B)·Σ‖Z_{:, <m_p}·D_{<m_p} (+ b_dec) − X‖², so the leading concepts alone
 * reconstruct well. Inference as batchtopk (one learned θ).
 */
import { z } from "zod";
import { UserError } from "../../../pipeline/errors.ts";
import type { Tensor } from "../../../kernels/backend.ts";
import type { SaeVariant } from "../variant.ts";
import { thresholdOptionsShape } from "../running_threshold.ts";
import { batchTopkRun } from "./batchtopk.ts";

/** matryoshka's options: the running threshold's and the prefix sizes. */
export const matryoshkaOptions = {
  ...thresholdOptionsShape,
  /**
   * Nested prefix sizes (number of leading concepts per reconstruction), increasing; c is added
   * when missing. null: c/16, c/8, c/4, c/2, c (rounded, at least 1).
   */
  prefixes: z.array(z.number().int().positive()).nullable().default(null),
};

/** Prefix sizes of the matryoshka loss: increasing, ending at c. */
export function matryoshkaPrefixes(c: number, given: number[] | null): number[] {
  const raw = given ?? [16, 8, 4, 2, 1].map((f) => Math.max(1, Math.round(c / f)));
  const out: number[] = [];
  for (const p of raw) {
    if (p > c) {
      throw new UserError(
        `train.options.prefixes: size ${p} exceeds the number of concepts ${c} for method matryoshka; fix or remove it`,
      );
    }
    if (out.length && p <= out[out.length - 1]) {
      if (given) {
        throw new UserError(
          `train.options.prefixes: must be strictly increasing for method matryoshka; fix or remove it`,
        );
      }
      continue;
    }
    out.push(p);
  }
  if (out[out.length - 1] !== c) out.push(c);
  return out;
}

/** The Matryoshka SAE. */
export const matryoshka: SaeVariant<typeof matryoshkaOptions, "matryoshka"> = {
  name: "matryoshka",
  options: matryoshkaOptions,
  encoding: "global_threshold",
  codesPerRow: "k",
  start(run, o) {
    const { b, v, B, c, d } = run;
    const prefixes = matryoshkaPrefixes(c, o.prefixes);
    const P = prefixes.length;
    // 0/1 mask f32 [c] of the concepts of each partial prefix
    const masks = prefixes.slice(0, -1).map((m) => {
      const a = new Float32Array(c);
      a.fill(1, 0, m);
      return run.keep(b.upload(a, [c]));
    });
    const base = batchTopkRun(run, o);
    return {
      ...base,
      terms: P,
      /** The partial prefixes first (scratch residual); the full prefix is the core's (in r). */
      beforeResidual(gBdRow: Tensor | null): Tensor {
        const gD = run.gradOf(run.D);
        v.zero(gD);
        if (P === 1) return run.vals;
        const Dp = v.scratch("mat.D", [c, d]);
        const rp = v.scratch("mat.r", [B, d]);
        const tmp = v.scratch("mat.tmp", [c, d]);
        const vp = v.scratch("mat.vals", [run.vals.size]);
        v.zero(run.vals);
        for (let p = 0; p < P - 1; p++) {
          v.scaleRows(masks[p], run.D, Dp);
          b.sparseDecode(run.z, Dp, run.bDec, rp);
          b.axpby(2 / (B * P), rp, -2 / (B * P), run.xb, rp);
          b.sparseSample(rp, Dp, run.z, vp);
          b.axpby(1, run.vals, 1, vp, run.vals);
          b.sparseTransposeProduct(run.z, null, rp, tmp, 0);
          v.scaleRows(masks[p], tmp, gD, 1);
          if (gBdRow) b.gemm(v.constant([1, B], 1), rp, gBdRow, { beta: 1 });
        }
        return v.scratch("mat.vals", [run.vals.size]);
      },
      afterResidual(vFull) {
        if (vFull !== run.vals) b.axpby(1, run.vals, 1, vFull, run.vals);
      },
      async log(extra, rows, fired) {
        extra.prefixes = P;
        return await base.log!(extra, rows, fired);
      },
    };
  },
};
