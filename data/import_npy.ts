/**
 * Import embeddings from `.npy` / `.npz` arrays plus a pairs table (JSON or CSV).
 *
 * Layouts (d = embedding dimension):
 * - one 3-D array (2, n, d) stacked [image, caption] as the COCO-500 fixture: the pairs table has
 *   n rows, row i the pair of image [0, i] and caption [1, i];
 * - an image array (nI, d) and a caption array (nT, d) (`path` + `textPath`, or two arrays of
 *   one `.npz`): the pairs table has nT rows, one per caption, in caption-array order; the images
 *   are its distinct pair ids in order of first appearance (there must be nI of them);
 * - one 2-D array (n, d) with a pairs table of n rows that has a `modality` column (image|text).
 * Row ids: an image row's id is its pair id; a caption's id is the table's `caption_id` / `id`
 * column when present, else `<pair id>#<k>` (k-th caption of that image). `source`: the image
 * column (path/URL) for images, the caption text for captions.
 */
import type { EmbeddingSet, Modality, Split } from "./embeddings.ts";
import { decodeNpy, type NpyArray } from "./npy.ts";
import { decodeNpz } from "./npz.ts";
import { type PairsTable, pickColumn, readPairsTable } from "./pairs_table.ts";
import { UserError } from "../pipeline/errors.ts";

/** What {@link importNpy} needs (the `dataset` section's keys of the same names). */
export interface NpyImportOptions {
  /** `.npy` or `.npz` file. */
  path: string;
  /** Optional second `.npy` holding the caption rows (then `path` holds the image rows). */
  textPath?: string;
  /** Pairs table (`.json` / `.csv`). */
  pairs: string;
  /** `.npz` array names ("" = auto). */
  imageArray?: string;
  textArray?: string;
  /** Pairs-table column overrides ("" = auto). */
  pairIdColumn?: string;
  captionColumn?: string;
  imageColumn?: string;
}

const PAIR_ID = ["pair_id", "image_id"] as const;
const CAPTION = ["caption", "text"] as const;
const IMAGE = ["image", "image_path", "file_name", "coco_url", "url"] as const;
const CAPTION_ID = ["caption_id", "id"] as const;
const IMAGE_NAMES = ["image", "images", "image_embeddings", "img"];
const TEXT_NAMES = ["text", "texts", "text_embeddings", "caption", "captions"];

async function readBytes(path: string, parameter: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch {
    throw new UserError(`${path}: cannot read the file; check ${parameter}`);
  }
}

function matrix(a: NpyArray, name: string): { n: number; d: number; data: Float32Array } {
  if (a.shape.length !== 2) {
    throw new UserError(
      `${name}: expected a 2-D array (rows, d), got shape (${a.shape.join(", ")})`,
    );
  }
  return { n: a.shape[0], d: a.shape[1], data: a.data };
}

/** Load the arrays: either one stacked/2-D array, or an image and a caption array. */
async function loadArrays(
  o: NpyImportOptions,
): Promise<{ single?: NpyArray; image?: NpyArray; text?: NpyArray; name: string }> {
  const bytes = await readBytes(o.path, "dataset.path");
  if (o.path.toLowerCase().endsWith(".npz")) {
    const arrays = await decodeNpz(bytes, o.path);
    const names = [...arrays.keys()];
    const find = (explicit: string | undefined, cands: string[], param: string) => {
      if (explicit) {
        if (!arrays.has(explicit)) {
          throw new UserError(
            `${o.path}: no array \`${explicit}\` (${param}); the archive holds ${names.join(", ")}`,
          );
        }
        return explicit;
      }
      return cands.find((c) => arrays.has(c));
    };
    const im = find(o.imageArray, IMAGE_NAMES, "dataset.imageArray");
    const tx = find(o.textArray, TEXT_NAMES, "dataset.textArray");
    if (im && tx) return { image: arrays.get(im), text: arrays.get(tx), name: o.path };
    if (im && !o.textArray) return { single: arrays.get(im), name: `${o.path}[${im}]` };
    if (names.length === 1) return { single: arrays.get(names[0]), name: `${o.path}[${names[0]}]` };
    throw new UserError(
      `${o.path}: cannot tell the image and caption arrays apart among ${
        names.join(", ")
      }; set dataset.imageArray and dataset.textArray`,
    );
  }
  const first = decodeNpy(bytes, o.path);
  if (o.textPath) {
    const second = decodeNpy(await readBytes(o.textPath, "dataset.textPath"), o.textPath);
    return { image: first, text: second, name: `${o.path} + ${o.textPath}` };
  }
  return { single: first, name: o.path };
}

/** The rows of a pairs table, validated for empty pair ids. */
function pairIdsOf(table: PairsTable, pairsName: string, col: string): string[] {
  return table.rows.map((r, i) => {
    const v = r[col];
    if (v === null || v === "") {
      throw new UserError(
        `${pairsName}: row ${i} has no \`${col}\`; every caption needs the id of its image`,
      );
    }
    return v;
  });
}

/**
 * Import embeddings from arrays and a pairs table. Vectors are returned as stored (not yet
 * normalised, not yet validated for finiteness/duplicates: see data/import_validate.ts); every
 * row has split `train` until splits are assigned.
 * @throws UserError for a shape, dimension or count mismatch, a missing column, or a bad file
 */
export async function importNpy(o: NpyImportOptions): Promise<EmbeddingSet> {
  if (!o.path) throw new UserError("dataset.path: empty; give the .npy or .npz file of embeddings");
  if (!o.pairs) {
    throw new UserError("dataset.pairs: empty; give the pairs table (.json or .csv) of the arrays");
  }
  const arr = await loadArrays(o);
  const table = await readPairsTable(o.pairs);
  const pn = o.pairs;
  const pairCol = pickColumn(
    table,
    pn,
    o.pairIdColumn ?? "",
    PAIR_ID,
    "dataset.pairIdColumn",
    true,
  )!;
  const capCol = pickColumn(
    table,
    pn,
    o.captionColumn ?? "",
    CAPTION,
    "dataset.captionColumn",
    false,
  );
  const imgCol = pickColumn(table, pn, o.imageColumn ?? "", IMAGE, "dataset.imageColumn", false);
  const capIdCol = CAPTION_ID.find((c) => table.columns.includes(c) && c !== pairCol) ?? null;
  const R = table.rows.length;

  const ids: string[] = [], pairIds: string[] = [], modality: Modality[] = [];
  const source: (string | null)[] = [];
  let d: number, vectors: Float32Array;
  const captionIds = (pids: string[]) => {
    const k = new Map<string, number>();
    return pids.map((p, i) => {
      const explicit = capIdCol ? table.rows[i][capIdCol] : null;
      const c = k.get(p) ?? 0;
      k.set(p, c + 1);
      return explicit !== null && explicit !== "" ? explicit : `${p}#${c}`;
    });
  };

  if (arr.single && arr.single.shape.length === 3) {
    const [two, n, dd] = arr.single.shape;
    if (two !== 2) {
      throw new UserError(
        `${arr.name}: a 3-D array must be stacked (2, n, d) as [image, caption]; got shape (${
          arr.single.shape.join(", ")
        })`,
      );
    }
    if (n !== R) {
      throw new UserError(
        `${pn}: has ${R} rows but ${arr.name} holds ${n} pairs; give one pairs-table row per pair`,
      );
    }
    d = dd;
    vectors = arr.single.data;
    const pids = pairIdsOf(table, pn, pairCol);
    const seen = new Map<string, number>();
    pids.forEach((p, i) => {
      const prev = seen.get(p);
      if (prev !== undefined) {
        throw new UserError(
          `${pn}: column \`${pairCol}\`: ${
            JSON.stringify(p)
          } occurs twice (rows ${prev} and ${i}); a stacked array needs one row per image`,
        );
      }
      seen.set(p, i);
    });
    const cids = captionIds(pids);
    for (let i = 0; i < n; i++) {
      ids.push(pids[i]);
      pairIds.push(pids[i]);
      modality.push("image");
      source.push(imgCol ? table.rows[i][imgCol] : null);
    }
    for (let i = 0; i < n; i++) {
      ids.push(cids[i]);
      pairIds.push(pids[i]);
      modality.push("text");
      source.push(capCol ? table.rows[i][capCol] : null);
    }
  } else if (arr.image && arr.text) {
    const im = matrix(arr.image, `${arr.name} (images)`);
    const tx = matrix(arr.text, `${arr.name} (captions)`);
    if (im.d !== tx.d) {
      throw new UserError(
        `${arr.name}: image rows have dimension ${im.d} but caption rows ${tx.d}; both must come from the same model`,
      );
    }
    if (tx.n !== R) {
      throw new UserError(
        `${pn}: has ${R} rows but the caption array holds ${tx.n}; give one pairs-table row per caption`,
      );
    }
    d = im.d;
    const pids = pairIdsOf(table, pn, pairCol);
    const order: string[] = [], firstRow = new Map<string, number>();
    pids.forEach((p, i) => {
      if (!firstRow.has(p)) {
        firstRow.set(p, i);
        order.push(p);
      }
    });
    if (order.length > im.n) {
      throw new UserError(
        `${pn}: captions name ${order.length} images but the image array holds ${im.n}; caption row ${
          firstRow.get(order[im.n])
        } (image ${
          JSON.stringify(order[im.n])
        }) has no image embedding — add it or drop its captions`,
      );
    }
    if (order.length < im.n) {
      throw new UserError(
        `${pn}: captions name ${order.length} images but the image array holds ${im.n}; every image needs a caption row (in image-array order)`,
      );
    }
    vectors = new Float32Array((im.n + tx.n) * d);
    vectors.set(im.data.subarray(0, im.n * d), 0);
    vectors.set(tx.data.subarray(0, tx.n * d), im.n * d);
    const cids = captionIds(pids);
    for (const p of order) {
      ids.push(p);
      pairIds.push(p);
      modality.push("image");
      source.push(imgCol ? table.rows[firstRow.get(p)!][imgCol] : null);
    }
    for (let i = 0; i < R; i++) {
      ids.push(cids[i]);
      pairIds.push(pids[i]);
      modality.push("text");
      source.push(capCol ? table.rows[i][capCol] : null);
    }
  } else {
    const m = matrix(arr.single!, arr.name);
    if (!table.columns.includes("modality")) {
      throw new UserError(
        `${pn}: ${arr.name} is a 2-D array of ${m.n} rows, so the pairs table needs a \`modality\` column (image|text) for each row; or stack images and captions as (2, n, d)`,
      );
    }
    if (m.n !== R) {
      throw new UserError(
        `${pn}: has ${R} rows but ${arr.name} holds ${m.n}; give one row per embedding`,
      );
    }
    d = m.d;
    vectors = m.data;
    const pids = pairIdsOf(table, pn, pairCol);
    const k = new Map<string, number>();
    for (let i = 0; i < R; i++) {
      const mod = table.rows[i].modality;
      if (mod !== "image" && mod !== "text") {
        throw new UserError(
          `${pn}: column \`modality\`, row ${i}: ${JSON.stringify(mod)} is not image|text`,
        );
      }
      modality.push(mod);
      pairIds.push(pids[i]);
      const explicit = capIdCol ? table.rows[i][capIdCol] : null;
      if (mod === "image") ids.push(explicit || pids[i]);
      else {
        const c = k.get(pids[i]) ?? 0;
        k.set(pids[i], c + 1);
        ids.push(explicit || `${pids[i]}#${c}`);
      }
      source.push(
        mod === "image"
          ? (imgCol ? table.rows[i][imgCol] : null)
          : (capCol ? table.rows[i][capCol] : null),
      );
    }
  }
  const n = ids.length;
  if (d < 1) throw new UserError(`${arr.name}: vectors have dimension 0`);
  const split: Split[] = new Array(n).fill("train");
  const hasSource = source.some((s) => s !== null);
  return {
    n,
    d,
    vectors: vectors.length === n * d ? vectors : vectors.slice(0, n * d),
    ids,
    pairIds,
    modality,
    split,
    ...(hasSource ? { source } : {}),
  };
}
