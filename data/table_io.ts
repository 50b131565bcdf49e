/**
 * Plain columnar tables as Parquet files (snappy, Arrow schema kept in the file metadata so that
 * pyarrow / pandas / polars / DuckDB read the standard types back, fixed-size lists included).
 * Output bytes are deterministic: no timestamps, fixed `created_by`, sorted metadata keys.
 */
import * as arrow from "apache-arrow";
import { UserError } from "../pipeline/errors.ts";
import { openParquet, ParquetStreamWriter } from "./parquet_file.ts";
import {
  allocColumn,
  arrowField,
  arrowTypeMatches,
  castHint,
  type Column,
  columnLength,
  type ColumnOf,
  columnsSliceToTable,
  type ColumnType,
  columnTypeOf,
  columnTypeOfArrow,
  copyVectorInto,
  type F32ListColumn,
} from "./table_arrow.ts";

export type { Column, ColumnOf, ColumnType, F32ListColumn };
export { f32List, isF32List } from "./table_arrow.ts";

/** Default rows per row group of plain tables. */
export const DEFAULT_ROW_GROUP_SIZE = 65536;

/** Options of {@link writeTable}. */
export interface WriteTableOptions {
  /** Maximum rows per row group (default {@link DEFAULT_ROW_GROUP_SIZE}). */
  rowGroupSize?: number;
  /** File key/value metadata (strings; keep them deterministic — no timestamps). */
  metadata?: Record<string, string>;
}

/**
 * Write columns (all of the same length n) as one Parquet file at `path`, row group by row
 * group. Column order in the file is the object's key order.
 * @throws RangeError when column lengths differ or a name is empty
 */
export async function writeTable(
  path: string,
  columns: Record<string, Column>,
  opts: WriteTableOptions = {},
): Promise<void> {
  const names = Object.keys(columns);
  if (names.length === 0) throw new RangeError(`${path}: writeTable needs at least one column`);
  const cols = names.map((k) => columns[k]);
  const n = columnLength(cols[0]);
  for (let j = 0; j < names.length; j++) {
    if (names[j] === "") throw new RangeError(`${path}: empty column name`);
    const len = columnLength(cols[j]);
    if (!Number.isInteger(len) || len !== n) {
      throw new RangeError(
        `${path}: column \`${names[j]}\` has ${len} rows, column \`${names[0]}\` has ${n}`,
      );
    }
  }
  const schema = new arrow.Schema(names.map((k, j) => arrowField(k, cols[j])));
  const rowGroupSize = Math.max(1, Math.floor(opts.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE));
  const dictionaryColumns = names.filter((_k, j) => columnTypeOf(cols[j]) === "utf8");
  const w = await ParquetStreamWriter.create(path, schema, {
    rowGroupSize,
    metadata: opts.metadata,
    dictionaryColumns,
  });
  try {
    for (let s = 0; s < n; s += rowGroupSize) {
      await w.write(columnsSliceToTable(schema, cols, s, Math.min(n, s + rowGroupSize)));
    }
    await w.close();
  } catch (e) {
    await w.abort();
    throw e;
  }
}

/** What {@link readTableInfo} reports about a Parquet file. */
export interface TableInfo {
  numRows: number;
  rowGroups: number;
  /** Columns in file order: name, Arrow type text, and the project's type name (null: none). */
  columns: { name: string; arrowType: string; type: ColumnType | null; listSize?: number }[];
  /** File key/value metadata (without the internal `ARROW:schema` entry). */
  metadata: Record<string, string>;
}

/** Schema, size and metadata of a Parquet file without decoding its data. */
export async function readTableInfo(path: string): Promise<TableInfo> {
  const src = await openParquet(path);
  try {
    const metadata = { ...src.metadata };
    delete metadata["ARROW:schema"];
    return {
      numRows: src.numRows,
      rowGroups: src.rowGroupRows.length,
      columns: src.schema.fields.map((f) => {
        const type = columnTypeOfArrow(f.type);
        return {
          name: f.name,
          arrowType: String(f.type),
          type,
          ...(type === "fsl_f32" ? { listSize: (f.type as arrow.FixedSizeList).listSize } : {}),
        };
      }),
      metadata,
    };
  } finally {
    src.close();
  }
}

/**
 * Read a Parquet table. With `spec`, only those columns are read and each must exist with that
 * type ({@link UserError} naming file and column otherwise); without it, every column is read
 * with its natural type (a column of a type the project cannot hold is an error).
 * utf8 columns read as `(string | null)[]`; null floats read as NaN; nulls elsewhere are errors.
 */
export async function readTable<S extends Record<string, ColumnType>>(
  path: string,
  spec: S,
): Promise<{ [K in keyof S]: ColumnOf<S[K]> }>;
export async function readTable(path: string): Promise<Record<string, Column>>;
export async function readTable(
  path: string,
  spec?: Record<string, ColumnType>,
): Promise<Record<string, Column>> {
  const src = await openParquet(path);
  try {
    const fields = new Map(src.schema.fields.map((f) => [f.name, f]));
    const want: [string, ColumnType, arrow.Field][] = [];
    if (spec) {
      for (const [name, type] of Object.entries(spec)) {
        const f = fields.get(name);
        if (!f) {
          const have = [...fields.keys()].map((k) => `\`${k}\``).join(", ");
          throw new UserError(
            `${path}: column \`${name}\` is missing (the file has ${
              have || "no columns"
            }); re-run the stage that writes it or add the column`,
          );
        }
        if (!arrowTypeMatches(f.type, type)) {
          throw new UserError(
            `${path}: column \`${name}\` has type ${f.type}, expected ${type}; ${castHint(type)}`,
          );
        }
        want.push([name, type, f]);
      }
    } else {
      for (const f of src.schema.fields) {
        const type = columnTypeOfArrow(f.type);
        if (type === null) {
          throw new UserError(
            `${path}: column \`${f.name}\` has type ${f.type}, which the project cannot read; cast it to float32, float64, int32, string, bool or fixed_size_list<float32>`,
          );
        }
        want.push([f.name, type, f]);
      }
    }
    const n = src.numRows;
    const out: Record<string, Column> = {};
    for (const [name, type, f] of want) {
      const L = type === "fsl_f32" ? (f.type as arrow.FixedSizeList).listSize : 0;
      out[name] = allocColumn(type, n, L);
    }
    if (want.length === 0) return out;
    const names = want.map((w) => w[0]);
    let at = 0;
    for (let g = 0; g < src.rowGroupRows.length; g++) {
      const t = await src.readRowGroup(g, names);
      for (const [name, type] of want) {
        const vec = t.getChild(name);
        if (!vec) {
          throw new UserError(
            `${path}: row group ${g} lacks column \`${name}\`; re-create the file`,
          );
        }
        const got = copyVectorInto(vec, type, out[name], at, {
          file: path,
          column: name,
          rowBase: at,
        });
        if (got !== src.rowGroupRows[g]) {
          throw new UserError(
            `${path}: row group ${g} column \`${name}\` has ${got} rows, metadata says ${
              src.rowGroupRows[g]
            }; re-create the file`,
          );
        }
      }
      at += src.rowGroupRows[g];
    }
    return out;
  } finally {
    src.close();
  }
}
