/**
 * TopK SAE (method.md §2): Z keeps the k largest pre-activations of every row, through the fused
 * encoder op (`Backend.encodeTopkRows`: the CPU backend may screen a bfloat16 product). A kept
 * entry that is not positive (value 0 after top-k) neither fires nor gets a gradient. Inference:
 * top-k per row, no threshold.
 */
import type { SaeVariant } from "../variant.ts";

/** topk has no options of its own. */
export const topkOptions = {};

/** The TopK SAE. */
export const topk: SaeVariant<typeof topkOptions, "topk"> = {
  name: "topk",
  options: topkOptions,
  encoding: "topk_per_row",
  codesPerRow: "k",
  start(run) {
    const { b, v } = run;
    const zero = v.constant([1], 0);
    return {
      fusedEncoder: true,
      sparsify: (_t, aux) => b.encodeTopkRows(run.xc, run.W, run.bEnc, run.k, run.z, run.pre, aux),
      firedWeights() {
        const fired = v.scratch("topk.fired", [run.z.capacity]);
        b.maskAbove(run.z.value, zero, run.onesCap, fired);
        return fired;
      },
      codeGradient: (vals) => b.maskAbove(run.z.value, zero, vals, vals),
      threshold: () => Promise.resolve(null),
    };
  },
};
