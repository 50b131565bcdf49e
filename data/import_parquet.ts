/**
 * Import an embeddings table in the project's Parquet schema (design.md): `id`, `pair_id`,
 * `modality`, `split`, `vector`, optional `source`. Column and value checks are those of
 * data/embeddings_io.ts; the shared checks of data/import_validate.ts follow in the stage.
 */
import type { EmbeddingSet } from "./embeddings.ts";
import { readEmbeddings } from "./embeddings_io.ts";
import { UserError } from "../pipeline/errors.ts";

/**
 * Read every row of the embeddings table at `path` (splits as stored in the file).
 * @throws UserError when the file is missing, empty (0 bytes), or not an embeddings table
 */
export async function importParquet(path: string): Promise<EmbeddingSet> {
  if (!path) throw new UserError("dataset.path: empty; give the Parquet embeddings table");
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch {
    throw new UserError(`${path}: cannot read the file; check dataset.path`);
  }
  if (size === 0) {
    throw new UserError(`${path}: the file is empty; write the embeddings table again`);
  }
  return await readEmbeddings(path);
}
