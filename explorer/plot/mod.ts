/** Dependency-free SVG plotting: each function returns a standalone SVG document string. */
export { linePlot } from "./line.ts";
export type { LinePlotOptions, LineSeries } from "./line.ts";
export { scatterPlot } from "./scatter.ts";
export type { ScatterPlotOptions, ScatterPoint } from "./scatter.ts";
export { histogram } from "./histogram.ts";
export type { HistogramOptions, HistogramSeries } from "./histogram.ts";
export { barChart } from "./bar.ts";
export type { BarChartOptions, BarSeries } from "./bar.ts";
export { escapeXml, PALETTE, paletteColor } from "./frame.ts";
export type { PlotOptions } from "./frame.ts";
export { formatTick, logTicks, niceNumber, niceTicks } from "./ticks.ts";
export type { TickSet } from "./ticks.ts";
export { panelGrid } from "./panels.ts";
export type { PanelGridOptions } from "./panels.ts";
