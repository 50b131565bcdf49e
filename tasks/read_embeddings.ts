/**
 * Reading an embeddings table inside a stage with a progress bar over its rows (the row count from
 * the footer first), for the stages that read large tables (diet, modality, bridge).
 */
import type { StageLog } from "../pipeline/stage.ts";
import { withProgress } from "../pipeline/progress.ts";
import {
  readEmbeddings,
  readEmbeddingsInfo,
  type ReadEmbeddingsOptions,
} from "../data/embeddings_io.ts";
import type { EmbeddingSet } from "../data/embeddings.ts";

/**
 * {@link readEmbeddings} of `path` with `opts`, shown as `label` over the file's rows on `log`.
 * @returns the embedding set (rows filtered by `opts`)
 */
export async function readEmbeddingsShown(
  log: StageLog,
  label: string,
  path: string,
  opts: Omit<ReadEmbeddingsOptions, "onProgress"> = {},
): Promise<EmbeddingSet> {
  const rows = (await readEmbeddingsInfo(path)).n;
  return await withProgress(
    log,
    label,
    rows,
    "rows",
    (advance) => readEmbeddings(path, { ...opts, onProgress: advance }),
  );
}
