/** Reading the per-concept table (`concepts.parquet`, written by the concepts stage). */
import { UserError } from "../pipeline/errors.ts";
import { readTable } from "./table_io.ts";

/**
 * The `modality_score` column of a concepts table as a length-c float64 array in concept order
 * (NaN for concepts the table does not list). Throws a {@link UserError} naming the file when a
 * column is missing or a concept index is outside 0..c−1.
 */
export async function readModalityScores(path: string, c: number): Promise<Float64Array> {
  const t = await readTable(path);
  const concept = t.concept as ArrayLike<number> | undefined;
  const score = t.modality_score as ArrayLike<number> | undefined;
  if (!concept || !score || typeof score[0] === "string") {
    throw new UserError(
      `${path}: columns \`concept\` and numeric \`modality_score\` are required; re-run concepts`,
    );
  }
  const out = new Float64Array(c).fill(NaN);
  for (let r = 0; r < concept.length; r++) {
    const j = Number(concept[r]);
    if (!(j >= 0 && j < c)) {
      throw new UserError(`${path}: column \`concept\` row ${r} holds ${j}, outside 0..${c - 1}`);
    }
    out[j] = Number(score[r]);
  }
  return out;
}
