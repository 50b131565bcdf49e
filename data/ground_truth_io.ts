/**
 * Ground truth of a synthetic world ({@link GroundTruth}) as three Parquet tables in a folder:
 * - `truth_directions.parquet`: `direction` int32, `concept` int32, `modality` utf8,
 *   `vector` fixed_size_list<float32>[d] — one row per planted direction. File metadata
 *   `gap_direction` / `cone_direction` (JSON arrays of d numbers) when known.
 * - `truth_concepts.parquet`: `concept` int32, `kind` utf8 (shared|image|text), `frequency`
 *   float64, `image_direction` int32 (−1: none), `text_direction` int32 (−1: none),
 *   `twin_cosine` float64 (NaN unless shared). File metadata `caption_dropout` when known.
 * - `truth_rows.parquet`: `row` int32 (0-based, table order of the dataset's embeddings),
 *   `direction` int32, `value` float32 — the planted activations, long format. File metadata
 *   `n_rows` (rows of the embeddings table, including rows with no planted concept).
 */
import { join } from "node:path";
import type { GroundTruth } from "./ground_truth.ts";
import type { Modality } from "./embeddings.ts";
import { f32List, readTable, readTableInfo, writeTable } from "./table_io.ts";
import { UserError } from "../pipeline/errors.ts";

/** File names of the truth tables. */
export const TRUTH_FILES = {
  directions: "truth_directions.parquet",
  concepts: "truth_concepts.parquet",
  rows: "truth_rows.parquet",
} as const;

/** Write the three truth tables of `gt` into folder `dir` (which must exist). */
export async function writeGroundTruth(dir: string, gt: GroundTruth): Promise<void> {
  const { d, m } = gt;
  const dirMeta: Record<string, string> = { d: String(d) };
  if (gt.gapDirection) dirMeta.gap_direction = JSON.stringify(Array.from(gt.gapDirection));
  if (gt.coneDirection) dirMeta.cone_direction = JSON.stringify(Array.from(gt.coneDirection));
  await writeTable(join(dir, TRUTH_FILES.directions), {
    direction: Int32Array.from({ length: m }, (_, i) => i),
    concept: gt.directionConcept,
    modality: gt.directionModality.slice(),
    vector: f32List(gt.directions.subarray(0, m * d), d),
  }, { metadata: dirMeta });

  const c = gt.conceptKind.length;
  const imageDir = new Int32Array(c).fill(-1), textDir = new Int32Array(c).fill(-1);
  const twinCos = new Float64Array(c).fill(NaN);
  for (let p = 0; p < m; p++) {
    const j = gt.directionConcept[p];
    if (gt.directionModality[p] === "image") imageDir[j] = p;
    else textDir[j] = p;
  }
  gt.twins.forEach(([a], t) => (twinCos[gt.directionConcept[a]] = gt.twinCosine[t]));
  const conceptMeta: Record<string, string> = {};
  if (gt.captionDropout !== undefined) conceptMeta.caption_dropout = String(gt.captionDropout);
  await writeTable(join(dir, TRUTH_FILES.concepts), {
    concept: Int32Array.from({ length: c }, (_, i) => i),
    kind: gt.conceptKind.slice(),
    frequency: gt.conceptFrequency,
    image_direction: imageDir,
    text_direction: textDir,
    twin_cosine: twinCos,
  }, { metadata: conceptMeta });

  const { rowPtr, index, value } = gt.rowActive;
  const n = rowPtr.length - 1;
  const nnz = rowPtr[n];
  const row = new Int32Array(nnz);
  for (let r = 0; r < n; r++) row.fill(r, rowPtr[r], rowPtr[r + 1]);
  await writeTable(join(dir, TRUTH_FILES.rows), {
    row,
    direction: index.subarray(0, nnz),
    value: value.subarray(0, nnz),
  }, { metadata: { n_rows: String(n) } });
}

/**
 * Read the truth tables written by {@link writeGroundTruth} from folder `dir`.
 * @throws UserError naming the file when a table is missing or inconsistent
 */
export async function readGroundTruth(dir: string): Promise<GroundTruth> {
  const pd = join(dir, TRUTH_FILES.directions);
  const pc = join(dir, TRUTH_FILES.concepts);
  const pr = join(dir, TRUTH_FILES.rows);
  for (const p of [pd, pc, pr]) {
    try {
      await Deno.stat(p);
    } catch {
      throw new UserError(
        `${p}: missing; ground truth exists only for a synthetic world (dataset.kind: synthetic)`,
      );
    }
  }
  const bad = (p: string, msg: string) => new UserError(`${p}: ${msg}; re-run the dataset stage`);

  const dt = await readTable(pd, {
    direction: "i32",
    concept: "i32",
    modality: "utf8",
    vector: "fsl_f32",
  });
  const dInfo = await readTableInfo(pd);
  const m = dt.direction.length;
  const d = dt.vector.listSize;
  for (let p = 0; p < m; p++) {
    if (dt.direction[p] !== p) throw bad(pd, `column \`direction\` must be 0..${m - 1} in order`);
    const mod = dt.modality[p];
    if (mod !== "image" && mod !== "text") {
      throw bad(pd, `column \`modality\`, row ${p}: ${JSON.stringify(mod)} is not image|text`);
    }
  }
  const ct = await readTable(pc, {
    concept: "i32",
    kind: "utf8",
    frequency: "f64",
    image_direction: "i32",
    text_direction: "i32",
    twin_cosine: "f64",
  });
  const cInfo = await readTableInfo(pc);
  const c = ct.concept.length;
  const conceptKind: ("shared" | "image" | "text")[] = new Array(c);
  const twins: [number, number][] = [];
  const twinCosine: number[] = [];
  for (let j = 0; j < c; j++) {
    const k = ct.kind[j];
    if (k !== "shared" && k !== "image" && k !== "text") {
      throw bad(pc, `column \`kind\`, row ${j}: ${JSON.stringify(k)} is not shared|image|text`);
    }
    conceptKind[j] = k;
    if (k === "shared") {
      twins.push([ct.image_direction[j], ct.text_direction[j]]);
      twinCosine.push(ct.twin_cosine[j]);
    }
  }
  for (let p = 0; p < m; p++) {
    if (dt.concept[p] < 0 || dt.concept[p] >= c) {
      throw bad(pd, `column \`concept\`, row ${p}: ${dt.concept[p]} is not a concept of ${pc}`);
    }
  }

  const rt = await readTable(pr, { row: "i32", direction: "i32", value: "f32" });
  const rInfo = await readTableInfo(pr);
  const n = Number(rInfo.metadata.n_rows);
  if (!Number.isInteger(n) || n < 0) throw bad(pr, "file metadata `n_rows` is missing");
  const nnz = rt.row.length;
  const rowPtr = new Int32Array(n + 1);
  for (let i = 0; i < nnz; i++) {
    const r = rt.row[i];
    if (r < 0 || r >= n || (i > 0 && r < rt.row[i - 1])) {
      throw bad(pr, `column \`row\`, entry ${i}: ${r} is out of order or outside 0..${n - 1}`);
    }
    if (rt.direction[i] < 0 || rt.direction[i] >= m) {
      throw bad(pr, `column \`direction\`, entry ${i}: ${rt.direction[i]} is not a direction`);
    }
    rowPtr[r + 1]++;
  }
  for (let r = 0; r < n; r++) rowPtr[r + 1] += rowPtr[r];

  const vec = (
    s: string | undefined,
  ) => (s ? Float32Array.from(JSON.parse(s) as number[]) : undefined);
  const gt: GroundTruth = {
    d,
    m,
    directions: dt.vector.values,
    directionConcept: dt.concept,
    directionModality: dt.modality as Modality[],
    conceptKind,
    conceptFrequency: ct.frequency,
    twins,
    twinCosine: Float64Array.from(twinCosine),
    rowActive: { rowPtr, index: rt.direction, value: rt.value },
  };
  if (cInfo.metadata.caption_dropout !== undefined) {
    gt.captionDropout = Number(cInfo.metadata.caption_dropout);
  }
  const gap = vec(dInfo.metadata.gap_direction), cone = vec(dInfo.metadata.cone_direction);
  if (gap) gt.gapDirection = gap;
  if (cone) gt.coneDirection = cone;
  return gt;
}
