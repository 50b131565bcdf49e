/** Scatter plots (stability vs frequency, concept maps): points with size, colour, tooltip, link. */
import {
  coord,
  dataValue,
  escapeXml,
  extent,
  type LegendEntry,
  paletteColor,
  type PlotOptions,
  renderPlot,
} from "./frame.ts";

/** One point. `color`: a CSS colour or a palette index; `href` makes the point a link. */
export interface ScatterPoint {
  x: number;
  y: number;
  /** Radius in px (default 3.5). */
  size?: number;
  color?: string | number;
  /** Tooltip text. */
  label?: string;
  href?: string;
}

/** Options of {@link scatterPlot}. */
export interface ScatterPlotOptions extends PlotOptions {
  points: ScatterPoint[];
  logX?: boolean;
  logY?: boolean;
  /** Legend entries, e.g. what each palette colour means. */
  legend?: { label: string; color: string | number }[];
  /** Fill opacity of the points (default 0.75: overlaps stay visible). */
  opacity?: number;
  /** Reference lines: horizontal at `y` and/or vertical at `x`. */
  rules?: { x?: number; y?: number; label?: string }[];
}

/** A data range widened by 4% of its span on each side (in log10 on a log axis), so that no
 * point sits on the frame. */
function padded([lo, hi]: [number, number], log?: boolean): [number, number] {
  if (log) {
    const a = Math.log10(lo), b = Math.log10(hi), m = 0.04 * (b - a || 1);
    return [10 ** (a - m), 10 ** (b + m)];
  }
  const m = 0.04 * (hi - lo || Math.abs(hi) || 1);
  return [lo - m, hi + m];
}

function colorOf(c: string | number | undefined): string {
  return typeof c === "number" ? paletteColor(c) : c ?? paletteColor(0);
}

/**
 * A scatter plot as a standalone SVG string. Points that cannot be drawn (non-finite, ≤ 0 on a
 * log axis) are left out; each drawn point has `data-x` / `data-y` and, when given, a tooltip
 * and a link.
 */
export function scatterPlot(opts: ScatterPlotOptions): string {
  const ok = (p: ScatterPoint) =>
    Number.isFinite(p.x) && Number.isFinite(p.y) && (!opts.logX || p.x > 0) &&
    (!opts.logY || p.y > 0);
  const pts = opts.points.filter(ok);
  const rules = opts.rules ?? [];
  const [xlo, xhi] = padded(
    extent([...pts.map((p) => p.x), ...rules.flatMap((r) => r.x ?? [])], opts.logX),
    opts.logX,
  );
  const [ylo, yhi] = padded(
    extent([...pts.map((p) => p.y), ...rules.flatMap((r) => r.y ?? [])], opts.logY),
    opts.logY,
  );
  const legend: LegendEntry[] = (opts.legend ?? []).map((e) => ({
    label: e.label,
    color: colorOf(e.color),
    shape: "dot",
  }));
  const opacity = opts.opacity ?? 0.75;
  return renderPlot({
    kind: "scatter-plot",
    options: opts,
    x: { lo: xlo, hi: xhi, log: opts.logX },
    y: { lo: ylo, hi: yhi, log: opts.logY },
    legend,
    empty: pts.length === 0,
    marks: (f) => {
      const out: string[] = [];
      for (const r of rules) {
        const t = r.label ? `<title>${escapeXml(r.label)}</title>` : "";
        if (r.y !== undefined && f.yOk(r.y)) {
          const y = coord(f.y(r.y));
          out.push(
            `<line class="rule" x1="${coord(f.left)}" x2="${
              coord(f.right)
            }" y1="${y}" y2="${y}" stroke="#555" stroke-dasharray="4 3">${t}</line>`,
          );
        }
        if (r.x !== undefined && f.xOk(r.x)) {
          const x = coord(f.x(r.x));
          out.push(
            `<line class="rule" x1="${x}" x2="${x}" y1="${coord(f.top)}" y2="${
              coord(f.bottom)
            }" stroke="#555" stroke-dasharray="4 3">${t}</line>`,
          );
        }
      }
      for (const p of pts) {
        const title = p.label !== undefined ? `<title>${escapeXml(p.label)}</title>` : "";
        const c = `<circle class="point" cx="${coord(f.x(p.x))}" cy="${coord(f.y(p.y))}" r="${
          coord(p.size ?? 3.5)
        }" fill="${escapeXml(colorOf(p.color))}" fill-opacity="${opacity}" data-x="${
          dataValue(p.x)
        }" data-y="${dataValue(p.y)}">${title}</circle>`;
        out.push(
          p.href !== undefined
            ? `<a href="${escapeXml(p.href)}" xlink:href="${escapeXml(p.href)}">${c}</a>`
            : c,
        );
      }
      return out.join("\n");
    },
  });
}
