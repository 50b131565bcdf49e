/**
 * Pieces shared by the views: the site context (which concept pages exist), concept links,
 * example cells (image / caption with activation), the modality colour scale.
 */
import type { Atlas, Run } from "../atlas.ts";
import type { ReportOptions } from "../options.ts";
import { conceptName, type RunData } from "../run_data.ts";
import { esc, fmt } from "../html.ts";
import { isUrl, resolveImageFile } from "../media.ts";
import { extname } from "node:path";
import { THUMBNAIL_SOURCES } from "../thumbnail.ts";

/** What a view needs besides the atlas: which concept pages exist (all, from the server). */
export interface SiteContext {
  atlas: Atlas;
  /** Page sizes (examples, neighbours, partners). */
  options: ReportOptions;
  /** True when the page of concept `j` of `run` exists (the static report may write a subset). */
  hasConceptPage(run: Run, j: number): boolean;
  /** Called for each local image and thumbnail a page shows (the report writes them). */
  onMedia?(run: Run, row: number, file: string, sitePath: string): void;
  /**
   * Free-text search through the text tower (server only): the top concepts of `run` by the
   * activation of the text's embedding, or null when this run's space has no text tower.
   */
  query?(run: Run, text: string, top: number): Promise<{ concept: number; value: number }[] | null>;
  /** Whether {@link query} can answer for `run` (its data came from an embed model). */
  canQuery?(run: Run): boolean;
}

/** A link to concept j of `run` from a page at depth `root` (or plain text without a page). */
export function conceptLink(ctx: SiteContext, root: string, run: Run, j: number, text?: string) {
  const label = esc(text ?? `#${j}`);
  return ctx.hasConceptPage(run, j)
    ? `<a class="concept-link" data-concept="${j}" href="${root}runs/${run.slug}/concepts/${j}.html">${label}</a>`
    : label;
}

/**
 * A link to concept j of a loaded run, named by its label (`#12 dog, frisbee`), from a page at
 * depth `root` (plain text without a page).
 */
export function namedLink(ctx: SiteContext, root: string, rd: RunData, j: number): string {
  return conceptLink(ctx, root, rd.run, j, conceptName(rd, j));
}

/** Colour of a modality score: text-only (0) blue → image-only (1) orange; NaN grey. */
export function modalityColor(m: number): string {
  if (!Number.isFinite(m)) return "#999999";
  const t = Math.min(1, Math.max(0, m));
  const a = [0, 114, 178], b = [230, 159, 0];
  const c = a.map((x, q) => Math.round(x + (b[q] - x) * t));
  return `#${c.map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

/** Site path of the thumbnail of eval row `row` (always JPEG). */
export function thumbPath(run: Run, row: number): string {
  return `runs/${run.slug}/thumbs/${row}.jpg`;
}

/** Site path of the media file of eval row `row` (extension from the resolved file). */
export function mediaPath(run: Run, row: number, file: string): string {
  return `runs/${run.slug}/media/${row}${extname(file).toLowerCase()}`;
}

/** HTML of one example row: an image (local file), a link (URL) or text, with its activation. */
export async function exampleHtml(
  ctx: SiteContext,
  root: string,
  rd: RunData,
  row: number,
  value: number | null,
  note = "",
): Promise<string> {
  const rows = rd.rows!;
  const src = rows.source[row];
  const id = rows.ids[row];
  const act = value === null ? "" : `<div class="act" data-value="${value}">${fmt(value)}</div>`;
  let body: string;
  if (rows.isImage[row] === 1) {
    const file = await resolveImageFile(src, ctx.atlas.datasetFolders);
    if (file) {
      const path = mediaPath(rd.run, row, file);
      const thumb = THUMBNAIL_SOURCES.has(extname(file).toLowerCase())
        ? thumbPath(rd.run, row)
        : path;
      ctx.onMedia?.(rd.run, row, file, path);
      if (thumb !== path) ctx.onMedia?.(rd.run, row, file, thumb);
      body = `<a class="image-link" href="${root}${esc(path)}"><img class="thumb" src="${root}${
        esc(thumb)
      }" alt="${esc(id)}" loading="lazy"></a>`;
    } else if (src && isUrl(src)) {
      body = `<a class="image-url" href="${esc(src)}" rel="noreferrer noopener" target="_blank">${
        esc(src)
      }</a>`;
    } else body = `<span class="image-source">${esc(src ?? "(no source)")}</span>`;
  } else body = `<q class="caption">${esc(src ?? "(no caption text)")}</q>`;
  return `<div class="example" data-row="${row}" data-modality="${
    rows.isImage[row] ? "image" : "text"
  }">${act}${body}<div class="row-id">${esc(id)}${note}</div></div>`;
}
