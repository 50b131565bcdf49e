/**
 * Data diets (method.md §1): the image fraction of the training mixture, with the total number of
 * training rows held fixed, built by seeded sub-sampling of the train split.
 */
import { Rng } from "./random.ts";
import { UserError } from "../pipeline/errors.ts";

/**
 * Image fraction of a diet ratio.
 * @param ratio `natural` or `a:b` (image:text, positive integers)
 * @param naturalFraction image fraction of the data, used for `natural`
 * @returns a/(a+b), or naturalFraction
 */
export function dietImageFraction(ratio: string, naturalFraction: number): number {
  if (ratio === "natural") return naturalFraction;
  const m = /^([1-9][0-9]*):([1-9][0-9]*)$/.exec(ratio);
  if (!m) {
    throw new UserError(
      `diets.ratios: ${
        JSON.stringify(ratio)
      } is not a diet ratio; use "natural" or "a:b" image:text, e.g. "1:5"`,
    );
  }
  const a = Number(m[1]), b = Number(m[2]);
  return a / (a + b);
}

/** Image rows of a diet of `total` rows at image fraction r: round(total·r). */
export function dietImageCount(total: number, fraction: number): number {
  return Math.round(total * fraction);
}

/**
 * Whether `total` rows at image fraction `fraction` fit `images` and `texts` available rows. A
 * mixed diet (0 < fraction < 1) must hold at least one row of each modality.
 */
export function dietFits(total: number, fraction: number, images: number, texts: number): boolean {
  const ni = dietImageCount(total, fraction), nt = total - ni;
  if (ni > images || nt > texts) return false;
  return !(fraction > 0 && fraction < 1 && total > 0 && (ni === 0 || nt === 0));
}

/**
 * The largest total number of rows a diet at image fraction `fraction` allows with `images`
 * image rows and `texts` text rows available (0 when none).
 */
export function maxDietTotal(fraction: number, images: number, texts: number): number {
  let t = images + texts;
  if (fraction > 0) t = Math.min(t, Math.floor((images + 0.5) / fraction) + 1);
  if (fraction < 1) t = Math.min(t, Math.floor((texts + 0.5) / (1 - fraction)) + 1);
  t = Math.min(t, images + texts);
  while (t > 0 && !dietFits(t, fraction, images, texts)) t--;
  return t;
}

/**
 * The diet's sub-sample: which of the train rows it keeps.
 * @param modality modality of each candidate (train) row, length n
 * @param ratio `natural` | `a:b`
 * @param total rows to keep; 0 = the largest total every ratio of `autoRatios` allows
 * @param seed sub-sampling seed
 * @param autoRatios ratios considered when total = 0 (default: just `ratio`)
 * @returns kept row indices into `modality`, ascending (table order), and the counts
 * @throws UserError when the data cannot give `total` rows at this ratio (says the most it allows)
 */
export function selectDiet(
  modality: readonly ("image" | "text")[],
  ratio: string,
  total: number,
  seed: number,
  autoRatios: readonly string[] = [ratio],
): { rows: Int32Array; images: number; texts: number; total: number } {
  const imgRows: number[] = [], txtRows: number[] = [];
  modality.forEach((m, i) => (m === "image" ? imgRows : txtRows).push(i));
  const I = imgRows.length, T = txtRows.length;
  if (I + T === 0) {
    throw new UserError("diet: the dataset has no train rows; lower dataset.evalFraction");
  }
  const natural = I / (I + T);
  const r = dietImageFraction(ratio, natural);
  if (!Number.isInteger(total) || total < 0) {
    throw new UserError(`diets.total: must be an integer ≥ 0 (0 = auto), got ${total}`);
  }
  let N = total;
  if (N === 0) {
    N = Math.min(
      ...[ratio, ...autoRatios].map((q) => maxDietTotal(dietImageFraction(q, natural), I, T)),
    );
    if (N === 0) {
      throw new UserError(
        `diets.ratios: the train split (${I} images, ${T} captions) cannot feed every ratio of ${
          JSON.stringify(autoRatios)
        }; drop the ratios that need the missing modality`,
      );
    }
  }
  const ni = dietImageCount(N, r), nt = N - ni;
  if (!dietFits(N, r, I, T)) {
    const most = maxDietTotal(r, I, T);
    throw new UserError(
      `diets.total: diet ${ratio} of ${N} rows needs ${ni} images and ${nt} captions but the train split has ${I} images and ${T} captions; the most this data allows at ${ratio} is ${most} rows (set diets.total ≤ ${most}, or 0 for auto)`,
    );
  }
  const rng = new Rng(seed);
  const pick = (rows: number[], k: number) => {
    const p = rng.permutation(rows.length);
    return Array.from(p.subarray(0, k), (i) => rows[i]);
  };
  const keep = [...pick(imgRows, ni), ...pick(txtRows, nt)].sort((a, b) => a - b);
  return { rows: Int32Array.from(keep), images: ni, texts: nt, total: N };
}
