/**
 * The dictionary artifact (design.md): `dictionary.parquet` with `concept` int32 and `direction`
 * fixed_size_list<float32>[d], one row per concept in concept order.
 */
import { UserError } from "../pipeline/errors.ts";
import { f32List, readTable, writeTable } from "./table_io.ts";

/** A dictionary read back: D row-major c×d. */
export interface DictionaryTable {
  c: number;
  d: number;
  /** Row-major c×d; row j is concept j. */
  directions: Float32Array;
}

/** Write D (row-major c×d) to `path` as the dictionary table. */
export async function writeDictionary(
  path: string,
  dict: Float32Array,
  c: number,
  d: number,
): Promise<void> {
  if (dict.length !== c * d) {
    throw new RangeError(
      `writeDictionary: expected ${c}×${d} = ${c * d} values, got ${dict.length}`,
    );
  }
  const concept = new Int32Array(c);
  for (let j = 0; j < c; j++) concept[j] = j;
  await writeTable(path, { concept, direction: f32List(dict, d) });
}

/**
 * Read a dictionary table. Rows are placed by their `concept` id, which must be exactly
 * 0..c-1 (each once); otherwise a {@link UserError} naming the file and column.
 */
export async function readDictionary(path: string): Promise<DictionaryTable> {
  const t = await readTable(path, { concept: "i32", direction: "fsl_f32" });
  const c = t.concept.length;
  const d = t.direction.listSize;
  const directions = new Float32Array(c * d);
  const seen = new Uint8Array(c);
  for (let r = 0; r < c; r++) {
    const j = t.concept[r];
    if (j < 0 || j >= c || seen[j]) {
      throw new UserError(
        `${path}: column \`concept\` row ${r} holds ${j}; concepts must be 0..${
          c - 1
        }, each once — re-run train`,
      );
    }
    seen[j] = 1;
    directions.set(t.direction.values.subarray(r * d, (r + 1) * d), j * d);
  }
  return { c, d, directions };
}
