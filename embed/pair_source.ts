/**
 * Image–caption datasets to embed: a COCO captions JSON with its image folder, or a CSV or
 * Parquet table of (image path, caption) rows. Every caption must hold text; every caption's
 * image must be known. Image files are checked when they are decoded (embed time).
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { UserError } from "../pipeline/errors.ts";
import { readTable } from "../data/table_io.ts";
import { parseCsv } from "../data/csv.ts";

/** How to read the pairs. Relative paths resolve against the current directory. */
export interface PairSourceSpec {
  /** `coco`: captions JSON (`images`, `annotations`); `csv` / `parquet`: one row per caption. */
  format: "coco" | "csv" | "parquet";
  /** The JSON, CSV or Parquet file. */
  path: string;
  /** Folder the image paths are relative to (default: the folder of `path`). */
  images?: string;
  /** CSV / Parquet column holding the image path (default `image`). */
  imageColumn?: string;
  /** CSV / Parquet column holding the caption (default `caption`). */
  captionColumn?: string;
  /** Keep only the first N images (in file order) and their captions. */
  maxImages?: number;
}

/** One image: `id` (its pair id), absolute `path`, `source` = the path as the dataset gives it. */
export interface ImageItem {
  id: string;
  path: string;
  source: string;
}

/** One caption: its own `id`, the `imageId` it describes, its `text`. */
export interface CaptionItem {
  id: string;
  imageId: string;
  text: string;
}

/** Images and captions in dataset order. */
export interface PairSet {
  images: ImageItem[];
  captions: CaptionItem[];
}

/**
 * `join(folder, p)` for an absolute, normalised `folder`, without join's cost for the common plain
 * relative path (no `.` or `..` segment, no `//`, no backslash): datasets name 100,000s of images.
 */
function under(folder: string, p: string): string {
  if (/(^|\/)\.\.?(\/|$)|\/\/|\\/.test(p)) return join(folder, p);
  return folder.endsWith("/") ? folder + p : `${folder}/${p}`;
}

function limit(set: PairSet, maxImages?: number): PairSet {
  if (maxImages === undefined || set.images.length <= maxImages) return set;
  const images = set.images.slice(0, maxImages);
  const keep = new Set(images.map((x) => x.id));
  return { images, captions: set.captions.filter((c) => keep.has(c.imageId)) };
}

async function readCoco(path: string, folder: string): Promise<PairSet> {
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new UserError(`${path}: cannot read the COCO captions JSON (${(e as Error).message})`);
  }
  const j = json as { images?: unknown; annotations?: unknown };
  if (!Array.isArray(j.images) || !Array.isArray(j.annotations)) {
    throw new UserError(`${path}: a COCO captions file needs arrays "images" and "annotations"`);
  }
  const images: ImageItem[] = [];
  const seen = new Set<string>();
  j.images.forEach((im: { id?: unknown; file_name?: unknown }, i: number) => {
    if (im?.id === undefined || typeof im.file_name !== "string") {
      throw new UserError(`${path}: images[${i}] needs "id" and "file_name"; fix the entry`);
    }
    const id = String(im.id);
    if (seen.has(id)) {
      throw new UserError(`${path}: images[${i}] repeats id ${id}; ids must be unique`);
    }
    seen.add(id);
    images.push({ id, path: under(folder, im.file_name), source: im.file_name });
  });
  const captions: CaptionItem[] = [];
  j.annotations.forEach(
    (a: { id?: unknown; image_id?: unknown; caption?: unknown }, i: number) => {
      const imageId = String(a?.image_id);
      if (!seen.has(imageId)) {
        throw new UserError(
          `${path}: annotations[${i}] names image_id ${imageId}, not in "images"`,
        );
      }
      if (typeof a.caption !== "string" || a.caption.trim() === "") {
        throw new UserError(
          `${path}: annotations[${i}] (image ${imageId}) has an empty caption; remove it or give it text`,
        );
      }
      captions.push({ id: String(a.id ?? `${imageId}#${i}`), imageId, text: a.caption.trim() });
    },
  );
  return { images, captions };
}

function fromRows(
  path: string,
  folder: string,
  imageCol: string,
  captionCol: string,
  paths: (string | null)[],
  texts: (string | null)[],
  firstRow: number,
): PairSet {
  const images: ImageItem[] = [];
  const byPath = new Map<string, number>();
  const captions: CaptionItem[] = [];
  for (let r = 0; r < paths.length; r++) {
    const p = paths[r]?.trim() ?? "";
    const where = `${path}: row ${r + firstRow}`;
    if (p === "") {
      throw new UserError(`${where}: column \`${imageCol}\` is empty; give the image path`);
    }
    const t = texts[r]?.trim() ?? "";
    if (t === "") {
      throw new UserError(
        `${where}: column \`${captionCol}\` is empty; remove the row or give it a caption`,
      );
    }
    let k = byPath.get(p);
    if (k === undefined) {
      k = images.length;
      byPath.set(p, k);
      images.push({ id: p, path: isAbsolute(p) ? p : under(folder, p), source: p });
    }
    captions.push({ id: `${p}#${r + firstRow}`, imageId: p, text: t });
  }
  return { images, captions };
}

async function readCsvPairs(
  path: string,
  folder: string,
  ic: string,
  cc: string,
): Promise<PairSet> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new UserError(`${path}: cannot read the CSV (${(e as Error).message})`);
  }
  const rows = parseCsv(text, path).map((r) => r.map((f) => f ?? ""));
  if (rows.length === 0) throw new UserError(`${path}: the CSV is empty; it needs a header row`);
  const header = rows[0].map((h) => h.trim());
  const ii = header.indexOf(ic);
  const ci = header.indexOf(cc);
  for (const [name, idx] of [[ic, ii], [cc, ci]] as const) {
    if (idx < 0) {
      throw new UserError(
        `${path}: column \`${name}\` is missing (header: ${
          header.join(", ")
        }); set the column name`,
      );
    }
  }
  const body = rows.slice(1).filter((r) => !(r.length === 1 && r[0] === ""));
  return fromRows(
    path,
    folder,
    ic,
    cc,
    body.map((r) => r[ii] ?? null),
    body.map((r) => r[ci] ?? null),
    2,
  );
}

async function readParquetPairs(
  path: string,
  folder: string,
  ic: string,
  cc: string,
): Promise<PairSet> {
  try {
    await Deno.stat(path);
  } catch {
    throw new UserError(`${path}: the Parquet file does not exist; fix the dataset path`);
  }
  const t = await readTable(path, { [ic]: "utf8", [cc]: "utf8" } as Record<string, "utf8">);
  return fromRows(
    path,
    folder,
    ic,
    cc,
    t[ic] as (string | null)[],
    t[cc] as (string | null)[],
    1,
  );
}

/** Read the pairs of a dataset. Throws {@link UserError} naming file, row and column at fault. */
export async function readPairSource(spec: PairSourceSpec): Promise<PairSet> {
  const path = resolve(spec.path);
  const folder = resolve(spec.images ?? dirname(path));
  const ic = spec.imageColumn ?? "image";
  const cc = spec.captionColumn ?? "caption";
  let set: PairSet;
  if (spec.format === "coco") set = await readCoco(path, folder);
  else if (spec.format === "csv") set = await readCsvPairs(path, folder, ic, cc);
  else if (spec.format === "parquet") set = await readParquetPairs(path, folder, ic, cc);
  else {
    throw new UserError(
      `embed source format "${spec.format}" is unknown; use coco, csv or parquet`,
    );
  }
  set = limit(set, spec.maxImages);
  if (set.images.length === 0) throw new UserError(`${path}: the dataset has no images`);
  return set;
}
