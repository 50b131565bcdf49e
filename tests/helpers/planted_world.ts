/** Checks of a synthetic world against its own ground truth, shared by the world tests. */
import type { generateWorld, WorldParams } from "../../data/synthetic_world.ts";

/** Largest |row − planted sum| over a world without normalisation (noise must be 0). */
export function plantedDeviation(p: WorldParams, w: ReturnType<typeof generateWorld>): number {
  const { set, truth } = w;
  const d = set.d, g = truth.gapDirection!, c = truth.coneDirection!;
  const { rowPtr, index, value } = truth.rowActive;
  let worst = 0;
  for (let r = 0; r < set.n; r++) {
    const sign = set.modality[r] === "image" ? 0.5 : -0.5;
    for (let i = 0; i < d; i++) {
      let x = p.cone * c[i] + sign * p.gap * g[i];
      for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) {
        x += value[k] * truth.directions[index[k] * d + i];
      }
      worst = Math.max(worst, Math.abs(x - set.vectors[r * d + i]));
    }
  }
  return worst;
}
