/**
 * Column types of the project's plain tables and their conversion to and from Arrow data.
 * Writing slices columns into Arrow batches without copying numeric data; reading copies each
 * decoded Arrow chunk straight into preallocated output arrays.
 */
import * as arrow from "apache-arrow";
import { UserError } from "../pipeline/errors.ts";

/**
 * A fixed_size_list<float32>[listSize] column: row i is `values[i·listSize .. (i+1)·listSize)`.
 * `values` is row-major, length n·listSize.
 */
export interface F32ListColumn {
  readonly listSize: number;
  readonly values: Float32Array;
}

/** Wrap a row-major n×listSize Float32Array as a fixed_size_list<float32>[listSize] column. */
export function f32List(values: Float32Array, listSize: number): F32ListColumn {
  if (!Number.isInteger(listSize) || listSize < 1) {
    throw new RangeError(`f32List: listSize must be a positive integer, got ${listSize}`);
  }
  if (values.length % listSize !== 0) {
    throw new RangeError(
      `f32List: values.length ${values.length} is not a multiple of ${listSize}`,
    );
  }
  return { listSize, values };
}

/**
 * One column of a plain table. Float32/Float64/Int32 arrays map to float/double/int32;
 * string arrays to utf8 (null allowed); boolean arrays to bool; {@link F32ListColumn} to
 * fixed_size_list<float32>[d].
 */
export type Column =
  | Float32Array
  | Float64Array
  | Int32Array
  | string[]
  | (string | null)[]
  | boolean[]
  | F32ListColumn;

/** Column type names used by read specs: "fsl_f32" is fixed_size_list<float32>[d]. */
export type ColumnType = "f32" | "f64" | "i32" | "utf8" | "bool" | "fsl_f32";

/** The in-memory column type that a {@link ColumnType} reads back as. */
export type ColumnOf<T extends ColumnType> = T extends "f32" ? Float32Array
  : T extends "f64" ? Float64Array
  : T extends "i32" ? Int32Array
  : T extends "utf8" ? (string | null)[]
  : T extends "bool" ? boolean[]
  : F32ListColumn;

/** True for a {@link F32ListColumn}. */
export function isF32List(c: Column): c is F32ListColumn {
  return !Array.isArray(c) && !ArrayBuffer.isView(c) && typeof c === "object" && "listSize" in c;
}

/** Number of rows of a column. */
export function columnLength(c: Column): number {
  return isF32List(c) ? c.values.length / c.listSize : c.length;
}

/** The {@link ColumnType} of an in-memory column (string arrays are utf8, empty arrays utf8). */
export function columnTypeOf(c: Column): ColumnType {
  if (c instanceof Float32Array) return "f32";
  if (c instanceof Float64Array) return "f64";
  if (c instanceof Int32Array) return "i32";
  if (isF32List(c)) return "fsl_f32";
  if (c.length > 0 && typeof c[0] === "boolean") return "bool";
  return "utf8";
}

/** The Arrow field written for a column (numeric and list columns non-nullable, utf8 nullable). */
export function arrowField(name: string, c: Column): arrow.Field {
  switch (columnTypeOf(c)) {
    case "f32":
      return new arrow.Field(name, new arrow.Float32(), false);
    case "f64":
      return new arrow.Field(name, new arrow.Float64(), false);
    case "i32":
      return new arrow.Field(name, new arrow.Int32(), false);
    case "bool":
      return new arrow.Field(name, new arrow.Bool(), false);
    case "fsl_f32":
      return new arrow.Field(
        name,
        new arrow.FixedSizeList(
          (c as F32ListColumn).listSize,
          new arrow.Field("item", new arrow.Float32(), false),
        ),
        false,
      );
    default:
      return new arrow.Field(name, new arrow.Utf8(), true);
  }
}

const encoder = new TextEncoder();

/**
 * Arrow data of rows [start, end) of a column (numeric data is a view, not a copy).
 * @param field the field from {@link arrowField} for this column
 */
export function columnSliceToData(
  field: arrow.Field,
  c: Column,
  start: number,
  end: number,
): arrow.Data {
  const length = end - start;
  const type = field.type;
  if (c instanceof Float32Array || c instanceof Float64Array || c instanceof Int32Array) {
    return arrow.makeData({ type, length, nullCount: 0, data: c.subarray(start, end) });
  }
  if (isF32List(c)) {
    const L = c.listSize;
    const child = arrow.makeData({
      type: new arrow.Float32(),
      length: length * L,
      nullCount: 0,
      data: c.values.subarray(start * L, end * L),
    });
    return arrow.makeData({ type, length, nullCount: 0, child });
  }
  if (type instanceof arrow.Bool) {
    const bits = new Uint8Array(Math.ceil(length / 8));
    for (let i = 0; i < length; i++) if (c[start + i]) bits[i >> 3] |= 1 << (i & 7);
    return arrow.makeData({ type, length, nullCount: 0, data: bits });
  }
  // utf8 (nullable)
  const strs = c as (string | null)[];
  const parts: Uint8Array[] = new Array(length);
  const offsets = new Int32Array(length + 1);
  let total = 0;
  let nulls = 0;
  for (let i = 0; i < length; i++) {
    const s = strs[start + i];
    if (s === null || s === undefined) {
      nulls++;
      parts[i] = new Uint8Array(0);
    } else {
      if (typeof s !== "string") {
        throw new TypeError(
          `column \`${field.name}\`, row ${start + i}: expected a string, got ${typeof s}`,
        );
      }
      parts[i] = encoder.encode(s);
    }
    total += parts[i].length;
    if (total > 0x7fffffff) {
      throw new RangeError(`column \`${field.name}\`: more than 2 GiB of text in one batch`);
    }
    offsets[i + 1] = total;
  }
  const bytes = new Uint8Array(total);
  for (let i = 0; i < length; i++) bytes.set(parts[i], offsets[i]);
  let nullBitmap: Uint8Array | undefined;
  if (nulls > 0) {
    nullBitmap = new Uint8Array(Math.ceil(length / 8));
    for (let i = 0; i < length; i++) {
      const s = strs[start + i];
      if (s !== null && s !== undefined) nullBitmap[i >> 3] |= 1 << (i & 7);
    }
  }
  return arrow.makeData({
    type: type as arrow.Utf8,
    length,
    nullCount: nulls,
    valueOffsets: offsets,
    data: bytes,
    nullBitmap,
  });
}

/**
 * Build an Arrow table of rows [start, end) of the given columns.
 * @param fields one field per column, in the same order as `names`
 */
export function columnsSliceToTable(
  schema: arrow.Schema,
  columns: Column[],
  start: number,
  end: number,
): arrow.Table {
  const children = schema.fields.map((f, j) => columnSliceToData(f, columns[j], start, end));
  const data = arrow.makeData({
    type: new arrow.Struct(schema.fields),
    length: end - start,
    nullCount: 0,
    children,
  });
  return new arrow.Table(schema, new arrow.RecordBatch(schema, data));
}

/** Human-readable name of an Arrow type for error messages. */
export function arrowTypeName(t: arrow.DataType): string {
  return String(t);
}

/** Does the Arrow type `t` satisfy the requested column type? (utf8 also accepts large_utf8.) */
export function arrowTypeMatches(t: arrow.DataType, want: ColumnType): boolean {
  switch (want) {
    case "f32":
      return t.typeId === arrow.Type.Float &&
        (t as arrow.Float).precision === arrow.Precision.SINGLE;
    case "f64":
      return t.typeId === arrow.Type.Float &&
        (t as arrow.Float).precision === arrow.Precision.DOUBLE;
    case "i32":
      return t.typeId === arrow.Type.Int && (t as arrow.Int).bitWidth === 32 &&
        (t as arrow.Int).isSigned;
    case "utf8":
      return t.typeId === arrow.Type.Utf8 || t.typeId === arrow.Type.LargeUtf8;
    case "bool":
      return t.typeId === arrow.Type.Bool;
    case "fsl_f32":
      return t.typeId === arrow.Type.FixedSizeList &&
        arrowTypeMatches((t as arrow.FixedSizeList).children[0].type, "f32");
  }
}

/** The {@link ColumnType} of an Arrow type, or null when the project has no reader for it. */
export function columnTypeOfArrow(t: arrow.DataType): ColumnType | null {
  for (const c of ["f32", "f64", "i32", "utf8", "bool", "fsl_f32"] as const) {
    if (arrowTypeMatches(t, c)) return c;
  }
  return null;
}

/** What to say when a column has the wrong type. */
export function castHint(want: ColumnType): string {
  return {
    f32: "cast it to float32",
    f64: "cast it to float64 (double)",
    i32: "cast it to int32",
    utf8: "cast it to string (utf8)",
    bool: "cast it to bool",
    fsl_f32: "store it as fixed_size_list<float32>[d] (pyarrow: pa.list_(pa.float32(), d))",
  }[want];
}

/** Allocate an output column of `n` rows for a type (list columns need `listSize`). */
export function allocColumn(type: ColumnType, n: number, listSize = 0): Column {
  switch (type) {
    case "f32":
      return new Float32Array(n);
    case "f64":
      return new Float64Array(n);
    case "i32":
      return new Int32Array(n);
    case "utf8":
      return new Array<string | null>(n).fill(null);
    case "bool":
      return new Array<boolean>(n).fill(false);
    case "fsl_f32":
      return { listSize, values: new Float32Array(n * listSize) };
  }
}

function isValid(bitmap: Uint8Array | undefined | null, nullCount: number, bit: number): boolean {
  if (!bitmap || bitmap.length === 0 || nullCount === 0) return true;
  return (bitmap[bit >> 3] & (1 << (bit & 7))) !== 0;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * Copy an Arrow vector (all its chunks) into `out` starting at row `at`. Null floats become NaN;
 * a null in an int32, bool or list column is an error (the context names file and column).
 * @returns number of rows copied
 */
export function copyVectorInto(
  // deno-lint-ignore no-explicit-any
  vec: arrow.Vector<any>,
  type: ColumnType,
  out: Column,
  at: number,
  context: { file: string; column: string; rowBase: number },
): number {
  let row = at;
  const nullError = (i: number) =>
    new UserError(
      `${context.file}: column \`${context.column}\`, row ${
        context.rowBase + (row - at) + i
      }: value is null; fill or drop null rows`,
    );
  for (const data of vec.data) {
    const n = data.length;
    const off = data.offset;
    const bitmap = data.nullBitmap as Uint8Array | undefined;
    const nc = data.nullCount;
    switch (type) {
      case "f32":
      case "f64": {
        const o = out as Float32Array | Float64Array;
        o.set((data.values as Float32Array | Float64Array).subarray(0, n), row);
        if (nc > 0) {
          for (let i = 0; i < n; i++) if (!isValid(bitmap, nc, off + i)) o[row + i] = NaN;
        }
        break;
      }
      case "i32": {
        if (nc > 0) {
          for (let i = 0; i < n; i++) if (!isValid(bitmap, nc, off + i)) throw nullError(i);
        }
        (out as Int32Array).set((data.values as Int32Array).subarray(0, n), row);
        break;
      }
      case "bool": {
        if (nc > 0) {
          for (let i = 0; i < n; i++) if (!isValid(bitmap, nc, off + i)) throw nullError(i);
        }
        const vals = data.values as Uint8Array;
        const o = out as boolean[];
        for (let i = 0; i < n; i++) {
          const b = off + i;
          o[row + i] = (vals[b >> 3] & (1 << (b & 7))) !== 0;
        }
        break;
      }
      case "utf8": {
        const offsets = data.valueOffsets as Int32Array | BigInt64Array;
        const bytes = data.values as Uint8Array;
        const o = out as (string | null)[];
        const big = offsets instanceof BigInt64Array;
        for (let i = 0; i < n; i++) {
          if (!isValid(bitmap, nc, off + i)) {
            o[row + i] = null;
            continue;
          }
          const a = big ? Number(offsets[i]) : (offsets[i] as number);
          const b = big ? Number(offsets[i + 1]) : (offsets[i + 1] as number);
          o[row + i] = decoder.decode(bytes.subarray(a, b));
        }
        break;
      }
      case "fsl_f32": {
        if (nc > 0) {
          for (let i = 0; i < n; i++) if (!isValid(bitmap, nc, off + i)) throw nullError(i);
        }
        const o = out as F32ListColumn;
        const L = o.listSize;
        const child = data.children[0];
        const cv = child.values as Float32Array;
        o.values.set(cv.subarray(0, n * L), row * L);
        if (child.nullCount > 0) {
          const cb = child.nullBitmap as Uint8Array;
          for (let j = 0; j < n * L; j++) {
            if (!isValid(cb, child.nullCount, child.offset + j)) o.values[row * L + j] = NaN;
          }
        }
        break;
      }
    }
    row += n;
  }
  return row - at;
}
