/** Shape helpers shared by the backends. */

/** Product of a shape's dimensions (validates non-negative integers). */
export function shapeSize(shape: readonly number[]): number {
  let s = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw shapeError("shape", `bad dimension ${d} in [${shape}]`);
    }
    s *= d;
  }
  return s;
}

/** A shape-mismatch error naming the op. */
export function shapeError(op: string, msg: string): RangeError {
  return new RangeError(`${op}: ${msg}`);
}

/** Throw unless `got` equals `want`. */
export function checkShape(what: string, got: readonly number[], want: readonly number[]): void {
  if (got.length !== want.length || got.some((g, i) => g !== want[i])) {
    throw shapeError(what, `shape [${got}] ≠ expected [${want}]`);
  }
}
