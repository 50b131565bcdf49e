/**
 * The concept explorer and the static report (issue 8). `main.ts` registers the `serve` and
 * `report` subcommands with these two functions.
 */
export { serveExplorer } from "./server.ts";
export type { ServeOptions } from "./server.ts";
export { buildReport } from "./report.ts";
export type { ReportBuildOptions } from "./report.ts";
export { loadAtlas } from "./atlas.ts";
export type { Atlas, Instance, Run } from "./atlas.ts";
export { reportOptionsSchema } from "./options.ts";
export type { ReportOptions } from "./options.ts";
