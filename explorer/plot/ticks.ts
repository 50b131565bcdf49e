/**
 * Axis tick positions ("nice numbers": steps of 1, 2 or 5 × 10^k) and their labels.
 * Pure functions, no DOM.
 */

/** Ticks of a linear axis: `ticks` run from `min` to `max` (the extended, nice domain). */
export interface TickSet {
  /** Nice lower end of the domain (≤ the data minimum). */
  min: number;
  /** Nice upper end of the domain (≥ the data maximum). */
  max: number;
  /** Distance between ticks (linear) or 0 for a log axis. */
  step: number;
  /** Tick values, increasing. */
  ticks: number[];
}

/** The nice number (1, 2, 5 or 10 × 10^k) closest to (round) or at least (ceil) `x` > 0. */
export function niceNumber(x: number, round: boolean): number {
  const exp = Math.floor(Math.log10(x));
  const f = x / 10 ** exp;
  let nf: number;
  if (round) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nf * 10 ** exp;
}

/** Decimal places needed to print multiples of `step` exactly. */
export function stepDecimals(step: number): number {
  if (!(step > 0) || !Number.isFinite(step)) return 0;
  // Steps are 1, 2 or 5 × 10^k, so the decimals are -k (at least 0).
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/**
 * Nice linear ticks covering [lo, hi] with about `count` ticks (Heckbert's algorithm). Values
 * are rounded to the step's decimals, so no 0.30000000000000004. A degenerate range (lo = hi)
 * is widened around the value; non-finite input gives the ticks of [0, 1].
 * @param count desired number of ticks (≥ 2)
 */
export function niceTicks(lo: number, hi: number, count = 5): TickSet {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  count = Math.max(2, Math.floor(count));
  const range = niceNumber(hi - lo, false);
  const step = niceNumber(range / (count - 1), true);
  const dec = stepDecimals(step);
  const round = (v: number) => Number(v.toFixed(Math.min(20, dec)));
  const i0 = Math.floor(lo / step + 1e-9);
  const i1 = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let i = i0; i <= i1; i++) {
    const v = round(i * step);
    ticks.push(Object.is(v, -0) ? 0 : v);
  }
  return { min: ticks[0], max: ticks[ticks.length - 1], step, ticks };
}

/**
 * Ticks of a log10 axis covering [lo, hi] (both > 0): powers of ten, plus 2× and 5× when the
 * range spans fewer than 3 decades; thinned to every k-th decade when it spans more than 10.
 */
export function logTicks(lo: number, hi: number): TickSet {
  if (!(lo > 0) || !Number.isFinite(lo)) lo = hi > 0 && Number.isFinite(hi) ? hi / 10 : 1;
  if (!(hi > 0) || !Number.isFinite(hi)) hi = lo * 10;
  if (lo > hi) [lo, hi] = [hi, lo];
  let e0 = Math.floor(Math.log10(lo) + 1e-9);
  let e1 = Math.ceil(Math.log10(hi) - 1e-9);
  if (e0 === e1) {
    e0 -= 0;
    e1 += 1;
  }
  const decades = e1 - e0;
  const every = decades > 10 ? Math.ceil(decades / 8) : 1;
  const ticks: number[] = [];
  for (let e = e0; e <= e1; e++) {
    const p = Number((10 ** e).toPrecision(12));
    if ((e - e0) % every === 0) ticks.push(p);
    if (decades < 3 && e < e1) {
      ticks.push(Number((2 * 10 ** e).toPrecision(12)), Number((5 * 10 ** e).toPrecision(12)));
    }
  }
  return { min: 10 ** e0, max: 10 ** e1, step: 0, ticks };
}

/**
 * Label of a tick value: fixed with the step's decimals for ordinary magnitudes, exponent form
 * (`1e-5`, `2.5e6`) for very small or large ones. `step` 0 (log axes) formats each value alone.
 */
export function formatTick(v: number, step = 0): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) {
    const s = v.toExponential(
      step > 0 ? Math.max(0, Math.min(6, stepDecimalsRelative(v, step))) : 2,
    );
    return s.replace(/\.?0+e/, "e").replace("e+", "e");
  }
  if (step > 0) return v.toFixed(Math.min(20, stepDecimals(step)));
  return String(Number(v.toPrecision(6)));
}

function stepDecimalsRelative(v: number, step: number): number {
  return Math.max(0, Math.floor(Math.log10(Math.abs(v))) - Math.floor(Math.log10(step)));
}
