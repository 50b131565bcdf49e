/**
 * The sparse codes artifact (design.md): `codes.parquet` with `row` int32 (0-based position of
 * the encoded row in table order), `concept` int32, `value` float32; one table row per stored
 * entry, rows ascending.
 */
import { UserError } from "../pipeline/errors.ts";
import type { CsrCodes } from "./csr_codes.ts";
import { readTable, writeTable } from "./table_io.ts";

/** Write the CSR codes `z` as the codes table (every stored entry, zeros included). */
export async function writeCodes(path: string, z: CsrCodes): Promise<void> {
  const nnz = z.rowPtr[z.rows];
  const row = new Int32Array(nnz);
  for (let i = 0; i < z.rows; i++) row.fill(i, z.rowPtr[i], z.rowPtr[i + 1]);
  await writeTable(path, {
    row,
    concept: z.index.slice(0, nnz),
    value: z.value.slice(0, nnz),
  }, { metadata: { rows: String(z.rows), cols: String(z.cols) } });
}

/**
 * Read a codes table into CSR codes of shape rows×cols (entries grouped by `row`, kept in file
 * order within a row). A row outside 0..rows-1 or a concept outside 0..cols-1 is a
 * {@link UserError} naming the file, column and table row.
 */
export async function readCodes(
  path: string,
  rows: number,
  cols: number,
): Promise<CsrCodes> {
  const t = await readTable(path, { row: "i32", concept: "i32", value: "f32" });
  const nnz = t.row.length;
  const counts = new Int32Array(rows + 1);
  for (let e = 0; e < nnz; e++) {
    const r = t.row[e];
    if (r < 0 || r >= rows) {
      throw new UserError(
        `${path}: column \`row\` table row ${e} holds ${r}, outside 0..${
          rows - 1
        }; codes do not match these embeddings — re-run encode`,
      );
    }
    const j = t.concept[e];
    if (j < 0 || j >= cols) {
      throw new UserError(
        `${path}: column \`concept\` table row ${e} holds ${j}, outside 0..${
          cols - 1
        }; codes do not match this dictionary — re-run encode`,
      );
    }
    counts[r + 1]++;
  }
  const rowPtr = new Int32Array(rows + 1);
  for (let i = 0; i < rows; i++) rowPtr[i + 1] = rowPtr[i] + counts[i + 1];
  const fill = rowPtr.slice(0, rows);
  const index = new Int32Array(nnz);
  const value = new Float32Array(nnz);
  for (let e = 0; e < nnz; e++) {
    const p = fill[t.row[e]]++;
    index[p] = t.concept[e];
    value[p] = t.value[e];
  }
  return { rows, cols, rowPtr, index, value };
}
