/**
 * Concept Atlas — the composition root: hands the study (tasks/) to the engine's command line
 * (pipeline/), plugs in the Slurm runner, and adds the explorer's `serve` and `report` commands.
 *
 *   deno task pipeline [--config FILE] [--set key=value]… [--cache DIR] [--backend B] [--dry-run]
 *                      [--force STAGE]… [--json] [--offline] [--runner local|slurm]
 *   deno task pipeline dag | config
 *   deno task serve [--cache DIR] [--port N]
 *   deno task report [--cache DIR] [--out DIR]
 */
import { DEFAULT_CACHE, fail, runCli } from "./pipeline/cli.ts";
import { createSlurmRunner } from "./pipeline/slurm_runner.ts";
import { writeErr } from "./pipeline/stage_log.ts";
import { UserError } from "./pipeline/errors.ts";
import { buildReport, serveExplorer } from "./explorer/mod.ts";
import { atlasStudy } from "./tasks/atlas_study.ts";
import { textQuery } from "./tasks/text_query.ts";

/** Default folder of `deno task report`. */
export const DEFAULT_REPORT_DIR = "report";

if (import.meta.main) {
  await runCli(atlasStudy, Deno.args, {
    argv0: [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      new URL("./main.ts", import.meta.url).pathname,
    ],
    runners: { slurm: createSlurmRunner },
    extend(program) {
      program.command("serve")
        .description("the concept explorer on http://127.0.0.1:PORT")
        .option("--cache <dir>", "cache folder of a finished run", DEFAULT_CACHE)
        .option("--port <n>", "port", "8787")
        .option("--debug", "show stack traces")
        .action(async (o: { cache: string; port: string; debug?: boolean }) => {
          try {
            const port = Number(o.port);
            if (!Number.isInteger(port) || port < 0 || port > 65535) {
              throw new UserError(`--port ${o.port}: expected a whole number from 0 to 65535`);
            }
            const tower = textQuery();
            const { url, finished } = await serveExplorer({
              cache: o.cache,
              port,
              log: writeErr,
              query: (embed, train, text) => tower.activations(embed, train, text),
            });
            writeErr(`explorer: ${url} (Ctrl-C to stop)`);
            await finished;
          } catch (e) {
            fail(e, !!o.debug);
          }
        });
      program.command("report")
        .description("write a self-contained static report folder")
        .option("--cache <dir>", "cache folder of a finished run", DEFAULT_CACHE)
        .option("--out <dir>", "output folder", DEFAULT_REPORT_DIR)
        .option("--debug", "show stack traces")
        .action(async (o: { cache: string; out: string; debug?: boolean }) => {
          try {
            const r = await buildReport({ cache: o.cache, out: o.out, log: writeErr });
            console.log(`report: ${r.files} files in ${r.out} (open ${r.out}/index.html)`);
          } catch (e) {
            fail(e, !!o.debug);
          }
        });
    },
  });
}
