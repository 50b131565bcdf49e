/** Several plots side by side in one SVG document (the panels of a comparison). */
import { coord, escapeXml } from "./frame.ts";

/** Options of {@link panelGrid}. */
export interface PanelGridOptions {
  /** Standalone SVG documents (as the plot functions return them), in reading order. */
  panels: string[];
  /** Panels per row (default: all in one row, at most 3). */
  columns?: number;
  /** Title above the grid. */
  title?: string;
  /** Provenance line below the grid (also the `<desc>`). */
  caption?: string;
}

/** Width and height attributes of a standalone SVG document. */
function sizeOf(svg: string): { w: number; h: number } {
  const m = /<svg[^>]*\swidth="([0-9.]+)"[^>]*\sheight="([0-9.]+)"/.exec(svg);
  return m ? { w: Number(m[1]), h: Number(m[2]) } : { w: 640, h: 400 };
}

/**
 * Lay out `panels` on a grid (row by row) as one standalone SVG string; each panel keeps its own
 * size and is nested as an `<svg>` element with class `panel` and `data-panel` = its index.
 */
export function panelGrid(opts: PanelGridOptions): string {
  const n = opts.panels.length;
  const cols = Math.max(1, opts.columns ?? Math.min(3, n));
  const sizes = opts.panels.map(sizeOf);
  const cellW = Math.max(1, ...sizes.map((s) => s.w));
  const cellH = Math.max(1, ...sizes.map((s) => s.h));
  const top = opts.title ? 34 : 0;
  const bottom = opts.caption ? 22 : 0;
  const rows = Math.ceil(n / cols);
  const W = cols * cellW, H = top + rows * cellH + bottom;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="plot panel-grid" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(opts.title ?? "panels")}</title>`,
    `<desc>${escapeXml(opts.caption ?? "")}</desc>`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`,
  ];
  if (opts.title) {
    out.push(
      `<text class="title" x="${
        coord(W / 2)
      }" y="22" text-anchor="middle" font-size="16" font-weight="600" fill="#222">${
        escapeXml(opts.title)
      }</text>`,
    );
  }
  opts.panels.forEach((svg, i) => {
    const x = (i % cols) * cellW, y = top + Math.floor(i / cols) * cellH;
    const inner = svg.replace(/^\s*<\?xml[^>]*>\s*/, "").replace(
      /^<svg\b/,
      `<svg x="${x}" y="${y}" data-panel="${i}"`,
    ).replace(/class="plot /, 'class="plot panel ');
    out.push(inner.trimEnd());
  });
  if (opts.caption) {
    out.push(
      `<text class="caption" x="8" y="${H - 6}" font-size="10" fill="#777">${
        escapeXml(opts.caption)
      }</text>`,
    );
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}
