/**
 * The shared frame of every plot: an SVG document with title, `<desc>` provenance, axes with
 * nice ticks and grid, axis labels, a legend to the right and a caption line. Plot modules
 * (line, scatter, histogram, bar) only draw their marks inside it. Pure string building.
 */
import { formatTick, logTicks, niceTicks, type TickSet } from "./ticks.ts";

/** Options every plot takes. Sizes in SVG user units (px). */
export interface PlotOptions {
  /** Title drawn at the top (also the SVG `<title>`). */
  title?: string;
  /** Label of the x axis. */
  xLabel?: string;
  /** Label of the y axis. */
  yLabel?: string;
  /** Provenance text from the caller (run ids, config, date): `<desc>` and a caption line. */
  caption?: string;
  /** Total width (default 640). */
  width?: number;
  /** Total height (default 400). */
  height?: number;
  /** Prefix of element ids; give each plot a distinct one when several share an HTML page. */
  id?: string;
}

/**
 * Okabe–Ito colour-blind-safe palette (blue, orange, bluish green, reddish purple, sky blue,
 * vermillion, yellow, black), then grey and brown so that the nine methods of a Pareto study get
 * nine colours; series take colours in this order.
 */
export const PALETTE: readonly string[] = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#CC79A7",
  "#56B4E9",
  "#D55E00",
  "#F0E442",
  "#000000",
  "#999999",
  "#8C510A",
];

/** Colour of series i (cycles through {@link PALETTE}). */
export function paletteColor(i: number): string {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/** Escape text for SVG/XML content and attribute values (also drops control characters). */
export function escapeXml(s: string): string {
  return String(s)
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** A coordinate with at most 2 decimals (short, deterministic output). */
export function coord(v: number): string {
  const r = Math.round(v * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

/** A data value for a `data-*` attribute (full precision, round-trips through Number()). */
export function dataValue(v: number): string {
  return String(v);
}

/** Approximate rendered width of a text in px at a font size (sans-serif average). */
export function textWidth(s: string, fontSize: number): number {
  return [...s].length * fontSize * 0.58;
}

/**
 * `s` shortened with `…` so that its width at `fontSize` stays within `maxWidth` px, estimated
 * generously (0.68 em per character: wide enough for DejaVu Sans digits and capitals).
 */
export function fitText(s: string, maxWidth: number, fontSize: number): string {
  const chars = [...s];
  const fits = Math.max(1, Math.floor(maxWidth / (fontSize * 0.68)));
  return chars.length <= fits ? s : chars.slice(0, Math.max(1, fits - 1)).join("") + "…";
}

/** An SVG text body: the fitted text, with the full text as a tooltip when it was shortened. */
function fittedBody(s: string, maxWidth: number, fontSize: number): string {
  const f = fitText(s, maxWidth, fontSize);
  return f === s ? escapeXml(s) : `<title>${escapeXml(s)}</title>${escapeXml(f)}`;
}

/** A continuous axis: data range and whether it is log10. */
export interface ContinuousAxis {
  lo: number;
  hi: number;
  log?: boolean;
  /** Number of ticks to aim for (default 5 for y, 6 for x). */
  ticks?: number;
}

/** A categorical axis (bars): one band per category. */
export interface CategoryAxis {
  categories: string[];
}

/** One entry of the legend. */
export interface LegendEntry {
  label: string;
  color: string;
  shape: "line" | "dot" | "box";
  dashed?: boolean;
}

/** Mapping from data to pixels handed to the mark-drawing callback. */
export interface Frame {
  /** x pixel of a data value (continuous axes). */
  x(v: number): number;
  /** y pixel of a data value. */
  y(v: number): number;
  /** Left pixel and width of category band i (categorical x axes). */
  band(i: number): { start: number; width: number };
  left: number;
  right: number;
  top: number;
  bottom: number;
  /** Whether a value can be drawn on the x / y axis (finite, and > 0 on a log axis). */
  xOk(v: number): boolean;
  yOk(v: number): boolean;
}

/** Everything {@link renderPlot} needs. */
export interface PlotSpec {
  /** CSS class of the root element, e.g. `line-plot`. */
  kind: string;
  options: PlotOptions;
  x: ContinuousAxis | CategoryAxis;
  y: ContinuousAxis;
  legend: LegendEntry[];
  /** Draw the marks (SVG elements) in pixel space. */
  marks(f: Frame): string;
  /** Shown in the middle when there is nothing to draw. */
  empty?: boolean;
}

function axisTicks(a: ContinuousAxis, count: number): TickSet {
  return a.log ? logTicks(a.lo, a.hi) : niceTicks(a.lo, a.hi, a.ticks ?? count);
}

/** Render a complete, standalone SVG document. */
export function renderPlot(spec: PlotSpec): string {
  const o = spec.options;
  const W = o.width ?? 640;
  const H = o.height ?? 400;
  const fs = 12;
  const yt = axisTicks(spec.y, 5);
  const yLabels = yt.ticks.map((t) => formatTick(t, yt.step));
  const yLabelW = Math.max(...yLabels.map((s) => textWidth(s, fs - 1)), 10);
  const categorical = "categories" in spec.x;
  const xt = categorical ? null : axisTicks(spec.x as ContinuousAxis, 6);
  const legendW = spec.legend.length > 0
    ? Math.min(200, Math.max(...spec.legend.map((e) => (fs - 1) * 0.68 * [...e.label].length)) + 34)
    : 0;
  const left = (o.yLabel ? 22 : 6) + yLabelW + 10;
  const right = W - 14 - legendW;
  const top = o.title ? 38 : 14;
  const bottom = H - ((o.xLabel ? 40 : 26) + (o.caption ? 18 : 0));
  const yLog = !!spec.y.log;
  const ty = (v: number) => (yLog ? Math.log10(v) : v);
  const y0 = ty(yt.min);
  const y1 = ty(yt.max);
  const y = (v: number) => bottom - ((ty(v) - y0) / (y1 - y0 || 1)) * (bottom - top);
  const xLog = !categorical && !!(spec.x as ContinuousAxis).log;
  const tx = (v: number) => (xLog ? Math.log10(v) : v);
  const x0 = xt ? tx(xt.min) : 0;
  const x1 = xt ? tx(xt.max) : 1;
  const x = (v: number) => left + ((tx(v) - x0) / (x1 - x0 || 1)) * (right - left);
  const cats = categorical ? (spec.x as CategoryAxis).categories : [];
  const bandW = (right - left) / Math.max(1, cats.length);
  const frame: Frame = {
    x,
    y,
    band: (i) => ({ start: left + i * bandW, width: bandW }),
    left,
    right,
    top,
    bottom,
    xOk: (v) => Number.isFinite(v) && (!xLog || v > 0),
    yOk: (v) => Number.isFinite(v) && (!yLog || v > 0),
  };
  const parts: string[] = [];
  const title = o.title ?? spec.kind;
  const pid = escapeXml((o.id ?? "plot").replace(/[^A-Za-z0-9_-]/g, "_"));
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" class="plot ${
      escapeXml(spec.kind)
    }" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${pid}-title ${pid}-desc" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="${fs}">`,
  );
  parts.push(`<title id="${pid}-title">${escapeXml(title)}</title>`);
  parts.push(`<desc id="${pid}-desc">${escapeXml(o.caption ?? "")}</desc>`);
  parts.push(`<rect class="background" x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  if (o.title) {
    parts.push(
      `<text class="title" x="${coord(W / 2)}" y="22" text-anchor="middle" font-size="${
        fs + 3
      }" font-weight="600" fill="#222">${fittedBody(o.title, W - 16, (fs + 3) * 1.08)}</text>`,
    );
  }
  // Grid and y ticks.
  const g: string[] = [`<g class="axis y-axis" fill="#444" font-size="${fs - 1}">`];
  yt.ticks.forEach((t, i) => {
    const py = coord(y(t));
    g.push(
      `<line class="grid" x1="${coord(left)}" x2="${
        coord(right)
      }" y1="${py}" y2="${py}" stroke="#e4e4e4" stroke-width="1"/>`,
      `<text x="${coord(left - 6)}" y="${py}" text-anchor="end" dominant-baseline="middle">${
        escapeXml(yLabels[i])
      }</text>`,
    );
  });
  g.push("</g>");
  // x ticks.
  g.push(`<g class="axis x-axis" fill="#444" font-size="${fs - 1}">`);
  if (xt) {
    for (const t of xt.ticks) {
      const px = coord(x(t));
      g.push(
        `<line class="grid" x1="${px}" x2="${px}" y1="${coord(top)}" y2="${
          coord(bottom)
        }" stroke="#f0f0f0" stroke-width="1"/>`,
        `<line x1="${px}" x2="${px}" y1="${coord(bottom)}" y2="${
          coord(bottom + 4)
        }" stroke="#666"/>`,
        `<text x="${px}" y="${coord(bottom + 16)}" text-anchor="middle">${
          escapeXml(formatTick(t, xt.step))
        }</text>`,
      );
    }
  } else {
    const maxChars = Math.max(3, Math.floor(bandW / ((fs - 1) * 0.58)));
    cats.forEach((c, i) => {
      const label = [...c].length > maxChars ? [...c].slice(0, maxChars - 1).join("") + "…" : c;
      const cx = coord(left + (i + 0.5) * bandW);
      g.push(
        `<text x="${cx}" y="${coord(bottom + 16)}" text-anchor="middle"><title>${
          escapeXml(c)
        }</title>${escapeXml(label)}</text>`,
      );
    });
  }
  g.push("</g>");
  parts.push(...g);
  parts.push(
    `<rect class="plot-area" x="${coord(left)}" y="${coord(top)}" width="${
      coord(right - left)
    }" height="${coord(bottom - top)}" fill="none" stroke="#888" stroke-width="1"/>`,
  );
  if (o.xLabel) {
    parts.push(
      `<text class="x-label" x="${coord((left + right) / 2)}" y="${
        coord(bottom + 34)
      }" text-anchor="middle" fill="#222">${fittedBody(o.xLabel, right - left, fs)}</text>`,
    );
  }
  if (o.yLabel) {
    const cy = coord((top + bottom) / 2);
    parts.push(
      `<text class="y-label" x="14" y="${cy}" text-anchor="middle" transform="rotate(-90 14 ${cy})" fill="#222">${
        fittedBody(o.yLabel, bottom - top, fs)
      }</text>`,
    );
  }
  parts.push(
    `<defs><clipPath id="${pid}-clip"><rect x="${coord(left)}" y="${coord(top)}" width="${
      coord(right - left)
    }" height="${coord(bottom - top)}"/></clipPath></defs>`,
  );
  parts.push(`<g class="marks" clip-path="url(#${pid}-clip)">${spec.marks(frame)}</g>`);
  if (spec.empty) {
    parts.push(
      `<text class="no-data" x="${coord((left + right) / 2)}" y="${
        coord((top + bottom) / 2)
      }" text-anchor="middle" fill="#888">no data</text>`,
    );
  }
  if (spec.legend.length > 0) {
    const lx = right + 12;
    const lg: string[] = [`<g class="legend" font-size="${fs - 1}" fill="#222">`];
    spec.legend.forEach((e, i) => {
      const ly = top + 8 + i * 18;
      const c = escapeXml(e.color);
      if (e.shape === "line") {
        lg.push(
          `<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2.5"${
            e.dashed ? ' stroke-dasharray="5 3"' : ""
          }/>`,
        );
      } else if (e.shape === "dot") {
        lg.push(`<circle cx="${lx + 9}" cy="${ly}" r="4.5" fill="${c}"/>`);
      } else {
        lg.push(
          `<rect x="${lx + 3}" y="${
            ly - 6
          }" width="12" height="12" fill="${c}" fill-opacity="0.75"/>`,
        );
      }
      lg.push(
        `<text x="${lx + 24}" y="${ly}" dominant-baseline="middle">${
          fittedBody(e.label, W - (lx + 24) - 4, fs - 1)
        }</text>`,
      );
    });
    lg.push("</g>");
    parts.push(...lg);
  }
  if (o.caption) {
    parts.push(
      `<text class="caption" x="8" y="${H - 6}" font-size="${fs - 2}" fill="#777">${
        fittedBody(o.caption, W - 16, fs - 2)
      }</text>`,
    );
  }
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/** Min and max of the drawable values (skips non-finite and, for log axes, ≤ 0). */
export function extent(values: Iterable<number>, log = false): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo > hi) return log ? [1, 10] : [0, 1];
  return [lo, hi];
}
