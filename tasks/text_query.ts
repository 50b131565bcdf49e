/**
 * Free-text concept search for `deno task serve`: the text tower of a run's embed instance
 * composed with the run's trained dictionary (used by main.ts; not a stage).
 */
import { UserError } from "../pipeline/errors.ts";
import type { DualEncoder } from "../embed/dual_encoder.ts";
import { openTextTower } from "../embed/text_tower.ts";
import { encodeAll, loadTrained } from "../learn/trained.ts";
import { createBackend } from "../kernels/select.ts";
import type { Backend } from "../kernels/backend.ts";

/**
 * Free-text concept search for `deno task serve` (explorer/server.ts `query`): embeds a text with
 * the text tower of the run's embed instance (each model loaded once) and encodes it with the
 * run's trained dictionary (each loaded once) on the CPU backend; returns the activations.
 */
export function textQuery(): {
  activations(
    embed: { params: Record<string, unknown>; meta?: Record<string, unknown> },
    train: { dir: string },
    text: string,
  ): Promise<Float32Array>;
  close(): Promise<void>;
} {
  const encoders = new Map<string, Promise<DualEncoder>>();
  const models = new Map<string, ReturnType<typeof loadTrained>>();
  let backend: Promise<Backend> | null = null;
  return {
    async activations(embed, train, text) {
      const model = embed.params.model as Record<string, unknown>;
      const key = JSON.stringify(model);
      if (!encoders.has(key)) encoders.set(key, openTextTower(model, embed.meta));
      const encoder = await encoders.get(key)!;
      if (!models.has(train.dir)) models.set(train.dir, loadTrained(train.dir));
      const fitted = await models.get(train.dir)!;
      backend ??= createBackend("cpu");
      const x = await encoder.embedTexts([text]);
      if (x.length !== fitted.d) {
        throw new UserError(
          `query: the text tower gives ${x.length}-dimensional embeddings, the run has d = ${fitted.d}`,
        );
      }
      const z = await encodeAll(fitted, x, 1, await backend);
      const out = new Float32Array(z.cols);
      for (let e = z.rowPtr[0]; e < z.rowPtr[1]; e++) out[z.index[e]] = z.value[e];
      return out;
    },
    async close() {
      for (const e of encoders.values()) await (await e).release();
      if (backend) (await backend).close();
    },
  };
}
