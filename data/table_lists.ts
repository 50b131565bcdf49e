/**
 * Float vectors stored as Arrow list columns, whichever way the writer laid them out: the
 * project's `fixed_size_list<float32>[d]`, or `list` / `large_list` (what DuckDB's `FLOAT[d]`,
 * pandas and polars write) of float32 or float64 (float16 too). Every row must hold the same number
 * of values; the first row of another length is a {@link UserError} naming it.
 */
import * as arrow from "apache-arrow";
import { UserError } from "../pipeline/errors.ts";
import { halfToFloat } from "./npy.ts";

/** Where a column comes from, for error messages. */
export interface ListColumnContext {
  file: string;
  column: string;
  /** File row of the vector's first row. */
  rowBase: number;
}

/** Whether `t` is a list-like type of floats this module reads. */
export function isFloatListType(t: arrow.DataType): boolean {
  if (
    t.typeId !== arrow.Type.FixedSizeList && t.typeId !== arrow.Type.List &&
    t.typeId !== arrow.Type.LargeList
  ) {
    return false;
  }
  const child = (t as arrow.List).children[0]?.type;
  return child !== undefined && child.typeId === arrow.Type.Float;
}

function isValid(bitmap: Uint8Array | null | undefined, nullCount: number, bit: number): boolean {
  if (!bitmap || bitmap.length === 0 || nullCount === 0) return true;
  return (bitmap[bit >> 3] & (1 << (bit & 7))) !== 0;
}

/** Child value j of a float child array as a number (float16 decoded). */
function childReader(child: arrow.Data): (j: number) => number {
  const values = child.values as Float32Array | Float64Array | Uint16Array;
  const nc = child.nullCount;
  const bitmap = child.nullBitmap as Uint8Array | undefined;
  const half = (child.type as arrow.Float).precision === arrow.Precision.HALF;
  return (j) => {
    if (!isValid(bitmap, nc, child.offset + j)) return NaN;
    return half ? halfToFloat(values[j]) : values[j];
  };
}

/**
 * Length of the first row of a float list vector (null when the vector has no rows).
 * @throws UserError when the first row is null
 */
export function firstListLength(vec: arrow.Vector, context: ListColumnContext): number | null {
  for (const data of vec.data) {
    if (data.length === 0) continue;
    if (!isValid(data.nullBitmap as Uint8Array, data.nullCount, data.offset)) {
      throw new UserError(
        `${context.file}: column \`${context.column}\`, row ${context.rowBase}: value is null; every row needs a vector`,
      );
    }
    if (data.type.typeId === arrow.Type.FixedSizeList) {
      return (data.type as arrow.FixedSizeList).listSize;
    }
    const off = data.valueOffsets as Int32Array | BigInt64Array;
    return Number(off[1]) - Number(off[0]);
  }
  return null;
}

/**
 * Copy the rows of a float list vector into `out` (row-major, `d` values per row) from row `at`.
 * @returns rows copied
 * @throws UserError naming the file row of the first null row or the first row whose length is not d
 */
export function copyFloatLists(
  vec: arrow.Vector,
  out: Float32Array,
  d: number,
  at: number,
  context: ListColumnContext,
): number {
  let row = at;
  for (const data of vec.data) {
    const n = data.length;
    const child = data.children[0];
    const read = childReader(child);
    const fixed = data.type.typeId === arrow.Type.FixedSizeList;
    const off = fixed ? null : (data.valueOffsets as Int32Array | BigInt64Array);
    const L = fixed ? (data.type as arrow.FixedSizeList).listSize : 0;
    for (let i = 0; i < n; i++) {
      const fileRow = context.rowBase + (row - at) + i;
      if (!isValid(data.nullBitmap as Uint8Array, data.nullCount, data.offset + i)) {
        throw new UserError(
          `${context.file}: column \`${context.column}\`, row ${fileRow}: value is null; every row needs a vector`,
        );
      }
      // Children of a sliced fixed-size list are sliced with it; list offsets index the child.
      const start = fixed ? i * L : Number(off![i]);
      const len = fixed ? L : Number(off![i + 1]) - start;
      if (len !== d) {
        throw new UserError(
          `${context.file}: column \`${context.column}\`, row ${fileRow}: the vector has ${len} values, the first row has ${d}; every vector needs the same length`,
        );
      }
      const o = (row + i) * d;
      for (let k = 0; k < d; k++) out[o + k] = read(start + k);
    }
    row += n;
  }
  return row - at;
}
