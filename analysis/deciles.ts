/**
 * Quantile bins (deciles by default) of a key, and the mean of a value per bin: used to report
 * per-concept stability against frequency and energy deciles (method.md §5).
 */

/** One quantile bin of a key with the mean of a value over its items. */
export interface QuantileBin {
  /** 0 = lowest key values. */
  bin: number;
  /** Items in the bin. */
  count: number;
  /** Smallest and largest key in the bin. */
  keyMin: number;
  keyMax: number;
  /** Mean of the value over the bin's items with a finite value (NaN when none). */
  mean: number;
  /** Items of the bin whose value is finite. */
  valueCount: number;
}

/**
 * Bin index of every item by rank of `key` (ascending; ties broken by item index so the result
 * is deterministic): bin = ⌊rank · bins / count⌋ over the included items, −1 for excluded ones
 * (non-finite key or `include[i]` false). Bins differ in size by at most one item.
 */
export function quantileBinIndex(
  key: ArrayLike<number>,
  bins: number,
  include?: ArrayLike<boolean | number>,
): Int32Array {
  if (!Number.isInteger(bins) || bins < 1) {
    throw new RangeError(`quantile bins must be a positive integer, got ${bins}`);
  }
  const n = key.length;
  const items: number[] = [];
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(key[i]) && (!include || include[i])) items.push(i);
  }
  items.sort((a, b) => key[a] - key[b] || a - b);
  const out = new Int32Array(n).fill(-1);
  const cnt = items.length;
  for (let r = 0; r < cnt; r++) out[items[r]] = Math.floor((r * bins) / cnt);
  return out;
}

/**
 * Mean of `value` per quantile bin of `key` (see {@link quantileBinIndex}). Non-finite values
 * are left out of the means but still counted in `count`.
 */
export function binnedMeans(
  key: ArrayLike<number>,
  value: ArrayLike<number>,
  bins = 10,
  include?: ArrayLike<boolean | number>,
): QuantileBin[] {
  if (key.length !== value.length) {
    throw new RangeError(`binnedMeans: ${key.length} keys for ${value.length} values`);
  }
  const idx = quantileBinIndex(key, bins, include);
  const out: QuantileBin[] = [];
  for (let b = 0; b < bins; b++) {
    out.push({ bin: b, count: 0, keyMin: Infinity, keyMax: -Infinity, mean: 0, valueCount: 0 });
  }
  for (let i = 0; i < idx.length; i++) {
    const b = idx[i];
    if (b < 0) continue;
    const q = out[b];
    q.count++;
    if (key[i] < q.keyMin) q.keyMin = key[i];
    if (key[i] > q.keyMax) q.keyMax = key[i];
    if (Number.isFinite(value[i])) {
      q.mean += value[i];
      q.valueCount++;
    }
  }
  for (const q of out) {
    q.mean = q.valueCount > 0 ? q.mean / q.valueCount : NaN;
    if (q.count === 0) q.keyMin = q.keyMax = NaN;
  }
  return out;
}
