/** Histograms over given bin edges (modality scores, frequencies); several series overlay. */
import {
  coord,
  dataValue,
  escapeXml,
  type LegendEntry,
  paletteColor,
  type PlotOptions,
  renderPlot,
} from "./frame.ts";

/** One series of bin counts (length = edges.length − 1). */
export interface HistogramSeries {
  label: string;
  counts: ArrayLike<number>;
  color?: string;
}

/** Options of {@link histogram}: `counts` for one unlabeled series, or `series`. */
export interface HistogramOptions extends PlotOptions {
  /** Bin edges, increasing, length m+1. */
  edges: ArrayLike<number>;
  counts?: ArrayLike<number>;
  series?: HistogramSeries[];
  /** log10 count axis (empty bins are not drawn). */
  logY?: boolean;
}

/**
 * A histogram as a standalone SVG string. Each bar has `data-lo`, `data-hi`, `data-count`.
 * Several series are drawn as translucent overlays with outlines.
 */
export function histogram(opts: HistogramOptions): string {
  const edges = Array.from(opts.edges);
  const m = edges.length - 1;
  if (m < 1) throw new RangeError("histogram: need at least 2 bin edges");
  for (let i = 0; i < m; i++) {
    if (!(edges[i] < edges[i + 1])) {
      throw new RangeError(`histogram: edges must increase (edge ${i + 1}: ${edges[i + 1]})`);
    }
  }
  const series: HistogramSeries[] = opts.series ??
    (opts.counts ? [{ label: "", counts: opts.counts }] : []);
  for (const s of series) {
    if (s.counts.length !== m) {
      throw new RangeError(
        `histogram: series "${s.label}" has ${s.counts.length} counts for ${m} bins`,
      );
    }
  }
  let max = 0;
  let minPos = Infinity;
  for (const s of series) {
    for (let i = 0; i < m; i++) {
      const c = s.counts[i];
      if (Number.isFinite(c) && c > max) max = c;
      if (Number.isFinite(c) && c > 0 && c < minPos) minPos = c;
    }
  }
  const legend: LegendEntry[] = series.length > 1 || (series[0]?.label ?? "") !== ""
    ? series.map((s, i) => ({ label: s.label, color: s.color ?? paletteColor(i), shape: "box" }))
    : [];
  const alpha = series.length > 1 ? 0.45 : 0.8;
  return renderPlot({
    kind: "histogram",
    options: opts,
    x: { lo: edges[0], hi: edges[m] },
    y: opts.logY
      ? { lo: Number.isFinite(minPos) ? minPos : 1, hi: Math.max(max, 1), log: true }
      : { lo: 0, hi: Math.max(max, 1) },
    legend,
    empty: series.length === 0,
    marks: (f) => {
      const out: string[] = [];
      const base = opts.logY ? f.bottom : f.y(0);
      series.forEach((s, si) => {
        const color = escapeXml(s.color ?? paletteColor(si));
        out.push(`<g class="series" data-series="${si}" data-label="${escapeXml(s.label)}">`);
        for (let i = 0; i < m; i++) {
          const c = s.counts[i];
          if (!f.yOk(c)) continue;
          const x0 = f.x(edges[i]);
          const x1 = f.x(edges[i + 1]);
          const yTop = f.y(c);
          out.push(
            `<rect class="bar" x="${coord(x0)}" y="${coord(Math.min(yTop, base))}" width="${
              coord(Math.max(0, x1 - x0))
            }" height="${
              coord(Math.abs(base - yTop))
            }" fill="${color}" fill-opacity="${alpha}" stroke="${color}" stroke-width="0.75" data-lo="${
              dataValue(edges[i])
            }" data-hi="${dataValue(edges[i + 1])}" data-count="${dataValue(c)}"><title>${
              s.label ? `${escapeXml(s.label)}: ` : ""
            }[${dataValue(edges[i])}, ${dataValue(edges[i + 1])}): ${dataValue(c)}</title></rect>`,
          );
        }
        out.push("</g>");
      });
      return out.join("\n");
    },
  });
}
