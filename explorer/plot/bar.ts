/** Grouped bar charts over categories (per-method metrics, claim values vs nulls). */
import {
  coord,
  dataValue,
  escapeXml,
  type LegendEntry,
  paletteColor,
  type PlotOptions,
  renderPlot,
} from "./frame.ts";

/** One series: a value per category (NaN: no bar). */
export interface BarSeries {
  label: string;
  values: ArrayLike<number>;
  color?: string;
}

/** Options of {@link barChart}. */
export interface BarChartOptions extends PlotOptions {
  categories: string[];
  series: BarSeries[];
}

/**
 * A grouped bar chart as a standalone SVG string; bars start at 0 (negative values go down).
 * Each bar has `data-category`, `data-series` and `data-value`.
 */
export function barChart(opts: BarChartOptions): string {
  const k = opts.categories.length;
  for (const s of opts.series) {
    if (s.values.length !== k) {
      throw new RangeError(
        `barChart: series "${s.label}" has ${s.values.length} values for ${k} categories`,
      );
    }
  }
  let lo = 0;
  let hi = 0;
  for (const s of opts.series) {
    for (let i = 0; i < k; i++) {
      const v = s.values[i];
      if (!Number.isFinite(v)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (lo === hi) hi = lo + 1;
  const legend: LegendEntry[] = opts.series.length > 1 || (opts.series[0]?.label ?? "") !== ""
    ? opts.series.map((s, i) => ({
      label: s.label,
      color: s.color ?? paletteColor(i),
      shape: "box",
    }))
    : [];
  const ns = Math.max(1, opts.series.length);
  return renderPlot({
    kind: "bar-chart",
    options: opts,
    x: { categories: opts.categories },
    y: { lo, hi },
    legend,
    empty: k === 0 || opts.series.length === 0,
    marks: (f) => {
      const out: string[] = [];
      const y0 = f.y(0);
      for (let i = 0; i < k; i++) {
        const band = f.band(i);
        const inner = band.width * 0.8;
        const w = inner / ns;
        opts.series.forEach((s, si) => {
          const v = s.values[i];
          if (!Number.isFinite(v)) return;
          const color = escapeXml(s.color ?? paletteColor(si));
          const x = band.start + band.width * 0.1 + si * w;
          const yv = f.y(v);
          out.push(
            `<rect class="bar" x="${coord(x)}" y="${coord(Math.min(yv, y0))}" width="${
              coord(w * 0.92)
            }" height="${coord(Math.abs(y0 - yv))}" fill="${color}" data-category="${
              escapeXml(opts.categories[i])
            }" data-series="${escapeXml(s.label)}" data-value="${dataValue(v)}"><title>${
              escapeXml(opts.categories[i])
            }${s.label ? ` · ${escapeXml(s.label)}` : ""}: ${dataValue(v)}</title></rect>`,
          );
        });
      }
      if (lo < 0) {
        out.push(
          `<line class="zero" x1="${coord(f.left)}" x2="${coord(f.right)}" y1="${coord(y0)}" y2="${
            coord(y0)
          }" stroke="#444"/>`,
        );
      }
      return out.join("\n");
    },
  });
}
