/** The text tower of an embed model entry, for labels and free-text queries. */
import { resolve } from "node:path";
import { DualEncoder } from "./dual_encoder.ts";
import { UserError } from "../pipeline/errors.ts";
import { hubSettingsFromEnv } from "./hub_client.ts";
import { snapshotDir } from "./hub_cache.ts";

/**
 * The model folder of an embed instance: its local `path`, or for a hub model the snapshot of the
 * commit the instance embedded with (its manifest meta `hub.commit`) in the model cache
 * (`CONCEPT_ATLAS_MODELS`). Null when neither is known.
 */
export function textTowerFolder(
  model: Record<string, unknown>,
  meta: Record<string, unknown> = {},
): string | null {
  if (typeof model.path === "string") return resolve(model.path);
  const hub = meta.hub as { repo?: unknown; commit?: unknown } | undefined;
  if (typeof model.hub === "string" && typeof hub?.commit === "string") {
    return snapshotDir(hubSettingsFromEnv().modelsDir, model.hub, hub.commit);
  }
  return null;
}

/**
 * The embed instance's text encoder (model folder and options from its parameters, a hub model's
 * snapshot from its manifest meta; see {@link textTowerFolder}).
 */
export function openTextTower(
  model: Record<string, unknown>,
  meta: Record<string, unknown> = {},
): Promise<DualEncoder> {
  const m = model as Record<string, never>;
  const folder = textTowerFolder(model, meta);
  if (folder === null) {
    throw new UserError(
      `text tower: model ${
        String(model.name ?? "")
      } has neither a path nor an embedded hub commit; re-run its embed stage`,
    );
  }
  return DualEncoder.load(folder, {
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
