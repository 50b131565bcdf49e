/**
 * BatchTopK SAE (method.md §2): Z keeps the B·k largest pre-activations of the whole batch
 * (exactly k per row on average), through the fused encoder where AuxK does not need every
 * pre-activation. Inference: one learned threshold θ (learn/sae/running_threshold.ts).
 */
import type { SaeVariant, VariantRun } from "../variant.ts";
import type { SaeRun } from "../trainer.ts";
import {
  RunningThreshold,
  type ThresholdOptions,
  thresholdOptionsShape,
} from "../running_threshold.ts";

/** batchtopk's options: those of the running threshold. */
export const batchtopkOptions = { ...thresholdOptionsShape };

/** The hooks of a batch top-k run (shared with matryoshka, which adds its prefixes). */
export function batchTopkRun(run: SaeRun, o: ThresholdOptions): VariantRun {
  const th = new RunningThreshold(run, o);
  return {
    fusedEncoder: true,
    sparsify: (t, aux) => th.sparsify(t, aux),
    async log(extra) {
      extra.threshold = await th.read();
      return 0;
    },
    finish: (batch) => th.calibrate(batch),
    threshold: () => th.exported(),
  };
}

/** The BatchTopK SAE. */
export const batchtopk: SaeVariant<typeof batchtopkOptions, "batchtopk"> = {
  name: "batchtopk",
  options: batchtopkOptions,
  encoding: "global_threshold",
  codesPerRow: "k",
  start: batchTopkRun,
};
