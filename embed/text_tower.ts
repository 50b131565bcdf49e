/** The text tower of an embed model entry, for labels and free-text queries. */
import { resolve } from "node:path";
import { DualEncoder } from "./dual_encoder.ts";

/** The embed instance's text encoder (model folder and options from its parameters). */
export function openTextTower(model: Record<string, unknown>): Promise<DualEncoder> {
  const m = model as Record<string, never>;
  return DualEncoder.load(resolve(String(model.path)), {
    variant: m.variant,
    overrides: {
      family: m.family,
      maxLength: m.maxLength,
      padding: m.padding,
      lowercase: m.lowercase,
      normalize: m.normalize,
      outputs: m.outputs,
      image: m.image,
    },
  });
}
