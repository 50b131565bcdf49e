/**
 * Import a user's embeddings table from Parquet, as people export them: columns `id`, `pair_id`,
 * `modality` (`image` | `text`), `vector` and optional `split` and `source`. `vector` may be the
 * project's `fixed_size_list<float32>[d]` or a `list` / `large_list` of float32, float64 or float16
 * (DuckDB's `FLOAT[d]`, pandas, polars) with one constant length; `id` and `pair_id` may be strings
 * or integers. Without `split` every row reads as `train` (the study assigns splits itself unless
 * `dataset.keepSplit`). The shared checks of data/import_validate.ts follow in the stage.
 */
import * as arrow from "apache-arrow";
import type { EmbeddingSet, Modality, Split } from "./embeddings.ts";
import { openParquet } from "./parquet_file.ts";
import { arrowTypeMatches, copyVectorInto } from "./table_arrow.ts";
import { copyFloatLists, firstListLength, isFloatListType } from "./table_lists.ts";
import { UserError } from "../pipeline/errors.ts";

/** Options of {@link importParquet}. */
export interface ImportParquetOptions {
  /** The file's `split` column is kept (`dataset.keepSplit`), so it must be there. */
  requireSplit?: boolean;
}

/** Whether `t` is a type that reads as a row id (string or integer). */
function isIdType(t: arrow.DataType): boolean {
  return arrowTypeMatches(t, "utf8") || t.typeId === arrow.Type.Int;
}

/** Column `name` of a row group as strings (utf8 as is, integers printed). */
function readStrings(
  t: arrow.Table,
  name: string,
  n: number,
  context: { file: string; column: string; rowBase: number },
): (string | null)[] {
  const vec = t.getChild(name);
  if (!vec) {
    throw new UserError(
      `${context.file}: a row group lacks column \`${name}\`; re-create the file`,
    );
  }
  if (arrowTypeMatches(vec.type, "utf8")) {
    const out = new Array<string | null>(n).fill(null);
    copyVectorInto(vec, "utf8", out, 0, context);
    return out;
  }
  const out = new Array<string | null>(n);
  for (let i = 0; i < n; i++) {
    const v = vec.get(i);
    out[i] = v === null || v === undefined ? null : String(v);
  }
  return out;
}

/**
 * Read every row of the Parquet embeddings table at `path`.
 * @throws UserError when the file is missing or empty, a column is missing or of a type that cannot
 * hold embeddings, a vector's length differs from the first row's (naming that row), a value is
 * null, or a modality/split value is not one of its allowed values
 */
export async function importParquet(
  path: string,
  opts: ImportParquetOptions = {},
): Promise<EmbeddingSet> {
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
  const src = await openParquet(path);
  try {
    const fields = new Map(src.schema.fields.map((f) => [f.name, f]));
    const need = (name: string, ok: (t: arrow.DataType) => boolean, want: string) => {
      const f = fields.get(name);
      if (!f) {
        throw new UserError(
          `${path}: column \`${name}\` is missing; an embeddings table needs id, pair_id, modality, vector (optional split, source)`,
        );
      }
      if (!ok(f.type)) {
        throw new UserError(`${path}: column \`${name}\` has type ${f.type}; expected ${want}`);
      }
    };
    need("id", isIdType, "a string or integer id");
    need("pair_id", isIdType, "a string or integer pair (image) id");
    need("modality", (t) => arrowTypeMatches(t, "utf8"), "a string (image or text)");
    need(
      "vector",
      isFloatListType,
      "a list of floats of one length per row (float32[d], float64 lists, fixed_size_list)",
    );
    const hasSplit = fields.has("split");
    if (hasSplit) need("split", (t) => arrowTypeMatches(t, "utf8"), "a string (train or eval)");
    else if (opts.requireSplit) {
      throw new UserError(
        `${path}: column \`split\` is missing but dataset.keepSplit is true; set dataset.keepSplit to false (the study assigns splits) or add the column`,
      );
    }
    const hasSource = fields.has("source") && arrowTypeMatches(fields.get("source")!.type, "utf8");
    const cols = [
      "id",
      "pair_id",
      "modality",
      "vector",
      ...(hasSplit ? ["split"] : []),
      ...(hasSource ? ["source"] : []),
    ];

    const n = src.numRows;
    const set: EmbeddingSet = {
      n,
      d: 0,
      vectors: new Float32Array(0),
      ids: new Array<string>(n),
      pairIds: new Array<string>(n),
      modality: new Array<Modality>(n),
      split: new Array<Split>(n).fill("train"),
      ...(hasSource ? { source: new Array<string | null>(n).fill(null) } : {}),
    };
    let at = 0;
    for (let g = 0; g < src.rowGroupRows.length; g++) {
      const rows = src.rowGroupRows[g];
      const t = await src.readRowGroup(g, cols);
      const ctx = (column: string) => ({ file: path, column, rowBase: at });
      const vec = t.getChild("vector")!;
      if (set.d === 0) {
        const d = firstListLength(vec, ctx("vector"));
        if (d === 0) {
          throw new UserError(`${path}: column \`vector\`, row ${at}: the vector is empty`);
        }
        if (d !== null) {
          set.d = d;
          set.vectors = new Float32Array(n * d);
        }
      }
      if (set.d > 0) copyFloatLists(vec, set.vectors, set.d, at, ctx("vector"));
      const ids = readStrings(t, "id", rows, ctx("id"));
      const pairIds = readStrings(t, "pair_id", rows, ctx("pair_id"));
      const modality = readStrings(t, "modality", rows, ctx("modality"));
      const split = hasSplit ? readStrings(t, "split", rows, ctx("split")) : null;
      const source = hasSource ? readStrings(t, "source", rows, ctx("source")) : null;
      for (let i = 0; i < rows; i++) {
        const bad = (col: string, msg: string) =>
          new UserError(`${path}: column \`${col}\`, row ${at + i}: ${msg}`);
        if (ids[i] === null) throw bad("id", "value is null; every row needs one");
        if (pairIds[i] === null) throw bad("pair_id", "value is null; every row needs one");
        const m = modality[i];
        if (m !== "image" && m !== "text") {
          throw bad(
            "modality",
            `value ${JSON.stringify(m)} is not one of image|text; fix the value or drop the row`,
          );
        }
        set.ids[at + i] = ids[i]!;
        set.pairIds[at + i] = pairIds[i]!;
        set.modality[at + i] = m;
        if (split) {
          const s = split[i];
          if (s !== "train" && s !== "eval") {
            throw bad(
              "split",
              `value ${
                JSON.stringify(s)
              } is not one of train|eval; fix the value, drop the row or the column`,
            );
          }
          set.split[at + i] = s;
        }
        if (source && set.source) set.source[at + i] = source[i];
      }
      at += rows;
    }
    if (at !== n) throw new UserError(`${path}: the file changed while it was read; re-run`);
    return set;
  } finally {
    src.close();
  }
}
