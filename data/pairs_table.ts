/**
 * The pairs table of an imported dataset: a JSON array of objects or a CSV file with a header,
 * giving pair (image) ids and display text (caption, image path or URL). Values are kept as
 * strings (numbers are written in their JSON form; null / empty CSV fields are null).
 */
import { UserError } from "../pipeline/errors.ts";
import { parseCsv } from "./csv.ts";

/** A parsed pairs table: column names (first appearance order) and rows. */
export interface PairsTable {
  columns: string[];
  rows: Record<string, string | null>[];
}

function cell(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/**
 * Parse a JSON pairs table: an array of objects (or `{"pairs": [...]}`).
 * @param name file name for error messages
 */
export function parsePairsJson(text: string, name: string): PairsTable {
  if (text.trim() === "") {
    throw new UserError(`${name}: the pairs file is empty; give one object per pair`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${name}: not valid JSON (${(e as Error).message.split("\n")[0]})`);
  }
  if (
    v && typeof v === "object" && !Array.isArray(v) &&
    Array.isArray((v as { pairs?: unknown }).pairs)
  ) {
    v = (v as { pairs: unknown[] }).pairs;
  }
  if (!Array.isArray(v)) {
    throw new UserError(`${name}: expected a JSON array of objects, one per pair or caption`);
  }
  if (v.length === 0) throw new UserError(`${name}: the pairs table has no rows`);
  const columns: string[] = [];
  const seen = new Set<string>();
  const rows = v.map((o, i) => {
    if (!o || typeof o !== "object" || Array.isArray(o)) {
      throw new UserError(
        `${name}: entry ${i} is not an object; give {"image_id": …, "caption": …}`,
      );
    }
    const r: Record<string, string | null> = {};
    for (const [k, x] of Object.entries(o as Record<string, unknown>)) {
      if (!seen.has(k)) {
        seen.add(k);
        columns.push(k);
      }
      r[k] = cell(x);
    }
    return r;
  });
  return { columns, rows };
}

/**
 * Parse a CSV pairs table (RFC 4180: comma separated, `"` quoting with `""` escapes, CRLF or LF,
 * a header row). Empty fields are null.
 * @param name file name for error messages
 */
export function parsePairsCsv(text: string, name: string): PairsTable {
  const records = parseCsv(text, name);
  if (records.length === 0) {
    throw new UserError(`${name}: the pairs file is empty; give a header and one row per pair`);
  }
  const header = records[0].map((h) => (h ?? "").trim());
  header.forEach((h, j) => {
    if (h === "") throw new UserError(`${name}: header column ${j + 1} has no name`);
    if (header.indexOf(h) !== j) throw new UserError(`${name}: header names column \`${h}\` twice`);
  });
  if (records.length === 1) {
    throw new UserError(`${name}: the pairs table has a header but no rows`);
  }
  const rows = records.slice(1).map((r, k) => {
    if (r.length !== header.length) {
      throw new UserError(
        `${name}: line ${
          k + 2
        } has ${r.length} fields, the header has ${header.length}; quote fields that contain commas`,
      );
    }
    const o: Record<string, string | null> = {};
    header.forEach((h, j) => (o[h] = r[j]));
    return o;
  });
  return { columns: header, rows };
}

/**
 * Read a pairs table from `path` (`.json` or `.csv`, chosen by extension).
 * @throws UserError when the file is missing, empty, or malformed
 */
export async function readPairsTable(path: string): Promise<PairsTable> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new UserError(`${path}: cannot read the pairs file; check dataset.pairs`);
  }
  const lower = path.toLowerCase();
  if (lower.endsWith(".json")) return parsePairsJson(text, path);
  if (lower.endsWith(".csv")) return parsePairsCsv(text, path);
  throw new UserError(`${path}: dataset.pairs must be a .json or .csv file`);
}

/**
 * The first column of `candidates` present in the table (or `explicit` when given, which must be
 * present).
 * @param parameter config key named in errors, e.g. `dataset.pairIdColumn`
 * @returns the column name, or null when none is present and `required` is false
 */
export function pickColumn(
  table: PairsTable,
  name: string,
  explicit: string,
  candidates: readonly string[],
  parameter: string,
  required: boolean,
): string | null {
  if (explicit) {
    if (!table.columns.includes(explicit)) {
      throw new UserError(
        `${name}: column \`${explicit}\` (${parameter}) is missing; the table has ${
          table.columns.join(", ")
        }`,
      );
    }
    return explicit;
  }
  const hit = candidates.find((c) => table.columns.includes(c));
  if (!hit && required) {
    throw new UserError(
      `${name}: no column ${candidates.map((c) => `\`${c}\``).join(" or ")}; the table has ${
        table.columns.join(", ")
      } — set ${parameter}`,
    );
  }
  return hit ?? null;
}
