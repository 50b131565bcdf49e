/** Line plots (Pareto curves, training logs): one polyline per series, optional log x. */
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

/** One series: points (x[i], y[i]); non-finite points break the line. */
export interface LineSeries {
  label: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** CSS colour (default: the palette colour of the series index). */
  color?: string;
  /** Dashed stroke (e.g. for baselines). */
  dashed?: boolean;
  /** Draw a marker at each point (default true when the series has ≤ 200 points). */
  markers?: boolean;
}

/** Options of {@link linePlot}. */
export interface LinePlotOptions extends PlotOptions {
  series: LineSeries[];
  /** log10 x axis (points with x ≤ 0 are skipped). */
  logX?: boolean;
  /** log10 y axis (points with y ≤ 0 are skipped). */
  logY?: boolean;
  /** Fixed x range [lo, hi] (default: the data's), e.g. shared by the panels of a comparison. */
  xDomain?: [number, number];
  /** Fixed y range [lo, hi] (default: the data's). */
  yDomain?: [number, number];
}

/**
 * A line plot as a standalone SVG string. Each marker carries `data-x` / `data-y` with the
 * exact data values and a `<title>` tooltip.
 */
export function linePlot(opts: LinePlotOptions): string {
  for (const s of opts.series) {
    if (s.x.length !== s.y.length) {
      throw new RangeError(
        `linePlot: series "${s.label}" has ${s.x.length} x and ${s.y.length} y values`,
      );
    }
  }
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of opts.series) {
    for (let i = 0; i < s.x.length; i++) {
      const okX = Number.isFinite(s.x[i]) && (!opts.logX || s.x[i] > 0);
      const okY = Number.isFinite(s.y[i]) && (!opts.logY || s.y[i] > 0);
      if (okX && okY) {
        xs.push(s.x[i]);
        ys.push(s.y[i]);
      }
    }
  }
  const [xlo, xhi] = opts.xDomain ?? extent(xs, opts.logX);
  const [ylo, yhi] = opts.yDomain ?? extent(ys, opts.logY);
  const legend: LegendEntry[] = opts.series.map((s, i) => ({
    label: s.label,
    color: s.color ?? paletteColor(i),
    shape: "line",
    dashed: s.dashed,
  }));
  return renderPlot({
    kind: "line-plot",
    options: opts,
    x: { lo: xlo, hi: xhi, log: opts.logX },
    y: { lo: ylo, hi: yhi, log: opts.logY },
    legend,
    empty: xs.length === 0,
    marks: (f) => {
      const out: string[] = [];
      opts.series.forEach((s, si) => {
        const color = escapeXml(s.color ?? paletteColor(si));
        let d = "";
        let pen = false;
        const pts: number[] = [];
        for (let i = 0; i < s.x.length; i++) {
          if (!f.xOk(s.x[i]) || !f.yOk(s.y[i])) {
            pen = false;
            continue;
          }
          d += `${pen ? "L" : "M"}${coord(f.x(s.x[i]))} ${coord(f.y(s.y[i]))}`;
          pen = true;
          pts.push(i);
        }
        const g = [`<g class="series" data-series="${si}" data-label="${escapeXml(s.label)}">`];
        if (d) {
          g.push(
            `<path d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"${
              s.dashed ? ' stroke-dasharray="6 4"' : ""
            }/>`,
          );
        }
        if (s.markers ?? s.x.length <= 200) {
          for (const i of pts) {
            g.push(
              `<circle class="point" cx="${coord(f.x(s.x[i]))}" cy="${
                coord(f.y(s.y[i]))
              }" r="3" fill="${color}" data-x="${dataValue(s.x[i])}" data-y="${
                dataValue(s.y[i])
              }"><title>${escapeXml(s.label)}: (${dataValue(s.x[i])}, ${
                dataValue(s.y[i])
              })</title></circle>`,
            );
          }
        }
        g.push("</g>");
        out.push(g.join(""));
      });
      return out.join("\n");
    },
  });
}
