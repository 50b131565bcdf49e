/**
 * Reading an embeddings table inside a stage: with a progress bar over its rows (the row count
 * from the footer first), for the stages that read large tables (diet, modality, bridge); and
 * remembered for the next stage of the process that reads the same rows (encode, evaluate,
 * concepts and labels, once per trained dictionary).
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

/** The options {@link readEmbeddingsCached} keys its sets by. */
export type CachedReadOptions = Pick<
  ReadEmbeddingsOptions,
  "split" | "modality" | "expectDim" | "source"
>;

/** Sets read by {@link readEmbeddingsCached}, last used last; with the file's size and mtime. */
const recent = new Map<string, { stamp: string; set: Promise<EmbeddingSet> }>();
/** Sets kept, and the largest kept (bytes of vectors). */
const RECENT_SETS = 4;
const RECENT_MAX_BYTES = 64 << 20;

/**
 * {@link readEmbeddings} of `path` with `opts`, remembered in this process for the next stage
 * that reads the same file with the same options: the default study's encode, evaluate,
 * concepts and labels read the dataset's eval rows once per trained dictionary (44 times each),
 * a Parquet decode of the whole table each time. Every call returns its own copy; the file is
 * checked by size and modification time. The last {@link RECENT_SETS} sets up to 64 MB of
 * vectors each are kept.
 */
export async function readEmbeddingsCached(
  path: string,
  opts: CachedReadOptions = {},
): Promise<EmbeddingSet> {
  const info = await Deno.stat(path);
  const stamp = `${info.size}:${info.mtime?.getTime() ?? "?"}`;
  const key = JSON.stringify([
    path,
    opts.split ?? null,
    opts.modality ?? null,
    opts.expectDim ?? null,
    opts.source ?? true,
  ]);
  let entry = recent.get(key);
  if (!entry || entry.stamp !== stamp) entry = { stamp, set: readEmbeddings(path, { ...opts }) };
  recent.delete(key);
  recent.set(key, entry);
  while (recent.size > RECENT_SETS) recent.delete(recent.keys().next().value!);
  let set: EmbeddingSet;
  try {
    set = await entry.set;
  } catch (e) {
    if (recent.get(key) === entry) recent.delete(key);
    throw e;
  }
  if (set.vectors.byteLength > RECENT_MAX_BYTES && recent.get(key) === entry) recent.delete(key);
  return copyOf(set);
}

/** A copy of an embedding set (arrays included), so that no caller sees another's changes. */
function copyOf(s: EmbeddingSet): EmbeddingSet {
  const out: EmbeddingSet = {
    ...s,
    vectors: s.vectors.slice(),
    ids: [...s.ids],
    pairIds: [...s.pairIds],
    modality: [...s.modality],
    split: [...s.split],
  };
  if (s.source) out.source = [...s.source];
  return out;
}
