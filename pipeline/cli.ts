/**
 * The engine's command line (design.md "The command line"): run a study's DAG with caching,
 * dry runs, forcing, JSON summaries, Mermaid output. Generic over the study.
 */
import { Command, Option } from "commander";
import YAML from "yaml";
import { join, resolve } from "node:path";
import type { StudyDefinition, StudyOption } from "./study.ts";
import type { Stage } from "./stage.ts";
import { isUserError, UserError } from "./errors.ts";
import { loadConfig } from "./config_loader.ts";
import { CacheLayout, writeJsonAtomic } from "./cache.ts";
import { planStudy } from "./plan.ts";
import { executeStudy, StageFailure, type StageSummary } from "./execute.ts";
import { LocalRunner, type Runner } from "./runner.ts";
import { studyToMermaid } from "./mermaid.ts";
import { codeVersion } from "./code_version.ts";
import { writeErr } from "./stage_log.ts";
import { executeTask, type TaskSpec } from "./task.ts";

/** Default cache folder (relative to the working directory). */
export const DEFAULT_CACHE = ".cache/atlas";

/** Options common to the commands that read a configuration. */
interface CommonOptions {
  config?: string;
  set: string[];
  cache: string;
  debug?: boolean;
}

/** Factory of extra runners (e.g. `slurm`), keyed by name. */
export type RunnerFactory = (ctx: {
  cache: string;
  // deno-lint-ignore no-explicit-any
  config: any;
  argv0: string[];
  quiet: boolean;
  /** The study's stages by name (a runner may split those that can run in shards). */
  // deno-lint-ignore no-explicit-any
  stages: Map<string, Stage<any>>;
}) => Promise<Runner>;

/** Options of {@link runCli}. */
export interface CliOptions {
  /** Command that re-enters this program (for worker processes), e.g. `["deno","run","-A","main.ts"]`. */
  argv0?: string[];
  /** Runners besides `local`. */
  runners?: Record<string, RunnerFactory>;
  /** Extra subcommands registered by the composition root (serve, report, ...). */
  extend?(program: Command): void;
}

const collect = (v: string, prev: string[]) => [...prev, v];

function addCommon(cmd: Command, options: readonly StudyOption[]): Command {
  cmd
    .option("--config <file>", "YAML configuration file (default: the built-in study)")
    .option("--set <key=value>", "override one configuration key (repeatable)", collect, [])
    .option("--cache <dir>", "cache folder", DEFAULT_CACHE);
  for (const opt of options) {
    const o = new Option(`--${opt.name} <${opt.name}>`, opt.description).default(opt.default);
    cmd.addOption(opt.choices ? o.choices(opt.choices) : o);
  }
  return cmd.option("--debug", "show stack traces");
}

/** The values of the study's run options from parsed command-line options. */
function runOptions(
  options: readonly StudyOption[],
  parsed: Record<string, unknown>,
): Record<string, string> {
  return Object.fromEntries(
    options.map((opt) => [opt.name, String(parsed[camelCase(opt.name)] ?? opt.default)]),
  );
}

/** `some-name` → `someName` (how commander names a flag's value). */
function camelCase(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
}

/**
 * Remember a finished run for readers of the cache (explorer, report): `<cache>/last_run.json`
 * and `<cache>/.runs/<timestamp>.json`.
 */
export async function recordRun(
  layout: CacheLayout,
  record: Record<string, unknown>,
): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  await writeJsonAtomic(join(layout.root, ".runs", `${stamp}.json`), record);
  await writeJsonAtomic(join(layout.root, "last_run.json"), record);
}

/** Print an error the way design.md asks and exit non-zero. */
export function fail(e: unknown, debug: boolean): never {
  const inner = e instanceof StageFailure ? e.cause : e;
  if (isUserError(inner)) {
    writeErr(`error: ${e instanceof StageFailure ? `stage ${e.id}: ` : ""}${inner.message}`);
  } else {
    const msg = inner instanceof Error ? inner.message : String(inner);
    writeErr(
      `error: ${e instanceof StageFailure ? `stage ${e.id} failed: ` : ""}${msg}${
        debug ? "" : " (run with --debug for the stack trace)"
      }`,
    );
  }
  if (debug && inner instanceof Error && inner.stack) writeErr(inner.stack);
  Deno.exit(e instanceof StageFailure ? 1 : 2);
}

/** Parse `args` and run the command. */
export async function runCli<C>(
  study: StudyDefinition<C>,
  args: string[],
  opts: CliOptions = {},
): Promise<void> {
  const stages = new Map(study.stages.map((s) => [s.name, s]));
  const studyOptions = study.options ?? [];
  const program = new Command("pipeline")
    .description(`${study.name}: run the study DAG with a content-addressed cache`)
    .exitOverride()
    .configureOutput({ writeErr: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)) })
    .showHelpAfterError(false);

  addCommon(
    program.command("run", { isDefault: true }).description("run the DAG (default)"),
    studyOptions,
  )
    .option("--dry-run", "print what would run and why, then stop")
    .option(
      "--force <stage>",
      "re-run a stage (or instance id) and its descendants (repeatable)",
      collect,
      [],
    )
    .option("--json", "print one JSON summary object as the last stdout line")
    .option(
      "--offline",
      "no network: external inputs resolve from local caches only (sets CONCEPT_ATLAS_OFFLINE=1)",
    )
    .option("--runner <name>", "where stage instances run: local (default) or a configured runner")
    .option("-q, --quiet", "only warnings, errors and the summary")
    .action(
      async (
        o: CommonOptions & {
          dryRun?: boolean;
          force: string[];
          json?: boolean;
          runner?: string;
          quiet?: boolean;
          offline?: boolean;
        },
      ) => {
        try {
          // Read by stages that fetch external inputs (and inherited by worker processes).
          if (o.offline) Deno.env.set("CONCEPT_ATLAS_OFFLINE", "1");
          const config = await loadConfig(study.configSchema, { file: o.config, sets: o.set });
          const instances = study.build(config);
          const layout = new CacheLayout(o.cache);
          const t0 = performance.now();
          const plan = await planStudy(instances, layout, {
            force: o.force,
            log: o.quiet ? undefined : writeErr,
          });
          if (o.dryRun) {
            const rows = plan.map((p) => ({
              id: p.instance.id,
              stage: p.instance.stage.name,
              status: p.status === "cached" ? "cached" : "would-run",
              key: p.key,
              reason: p.reason,
              dir: layout.keyDir(p.instance.stage.name, p.key),
            }));
            if (!o.json) {
              for (const r of rows) console.log(`${r.status.padEnd(9)} ${r.id}  (${r.reason})`);
              const n = rows.filter((r) => r.status !== "cached").length;
              console.log(`${n} of ${rows.length} stage instances would run`);
            } else {console.log(
                JSON.stringify({ ok: true, dry_run: true, cache: layout.root, stages: rows }),
              );}
            return;
          }
          const runnerName = o.runner ??
            ((config as { runner?: { kind?: string } }).runner?.kind) ?? "local";
          let runner: Runner;
          if (runnerName === "local") runner = new LocalRunner({ stages, quiet: o.quiet });
          else if (opts.runners?.[runnerName]) {
            runner = await opts.runners[runnerName]({
              cache: layout.root,
              config,
              argv0: opts.argv0 ?? [],
              quiet: !!o.quiet,
              stages,
            });
          } else {throw new UserError(
              `--runner ${runnerName}: unknown runner; available: local${
                Object.keys(opts.runners ?? {}).map((n) => `, ${n}`).join("")
              }`,
            );}
          const toRun = plan.filter((p) => p.status !== "cached").length;
          const options = runOptions(studyOptions, o as unknown as Record<string, unknown>);
          if (!o.quiet) {
            writeErr(
              `${study.name}: ${plan.length} stage instances, ${toRun} to run, cache ${layout.root}, ${
                Object.entries(options).map(([k, v]) => `${k} ${v}, `).join("")
              }runner ${runner.name}`,
            );
          }
          const onSig = () => {
            writeErr("interrupted: finished stages are kept in the cache; run again to continue");
            Deno.exit(130);
          };
          Deno.addSignalListener("SIGINT", onSig);
          const version = await codeVersion();
          let summaries: StageSummary[];
          try {
            summaries = await executeStudy(plan, runner, {
              cache: layout.root,
              options,
              codeVersion: version,
              onDone: (s, i, n) => {
                if (!o.quiet && s.status === "ran") {
                  writeErr(`[${i}/${n}] ran ${s.id} in ${s.seconds.toFixed(1)}s (${s.reason})`);
                }
              },
            });
          } finally {
            Deno.removeSignalListener("SIGINT", onSig);
            await runner.close?.();
          }
          const report = study.report
            ? await study.report(config, summaries)
            : { text: "", json: {} };
          await recordRun(layout, {
            config,
            code_version: version,
            stages: summaries,
            ...report.json,
          });
          const ran = summaries.filter((s) => s.status === "ran").length;
          const secs = ((performance.now() - t0) / 1000).toFixed(1);
          if (!o.json) {
            if (report.text) console.log(report.text);
            console.log(
              `${ran} ran, ${summaries.length - ran} cached, ${secs}s. Cache: ${layout.root}`,
            );
          } else {
            if (report.text && !o.quiet) writeErr(report.text);
            console.log(
              JSON.stringify({ ok: true, cache: layout.root, stages: summaries, ...report.json }),
            );
          }
        } catch (e) {
          fail(e, !!o.debug);
        }
      },
    );

  addCommon(program.command("dag").description("print the study graph as Mermaid"), studyOptions)
    .option("--stages", "one node per stage instead of per instance")
    .action(async (o: CommonOptions & { stages?: boolean }) => {
      try {
        const config = await loadConfig(study.configSchema, { file: o.config, sets: o.set });
        console.log(studyToMermaid(study.build(config), o.stages ? "stage" : "instance"));
      } catch (e) {
        fail(e, !!o.debug);
      }
    });

  addCommon(
    program.command("config").description("print the resolved configuration as YAML"),
    studyOptions,
  )
    .action(async (o: CommonOptions) => {
      try {
        const config = await loadConfig(study.configSchema, { file: o.config, sets: o.set });
        console.log(YAML.stringify(study.resolved ? study.resolved(config) : config));
      } catch (e) {
        fail(e, !!o.debug);
      }
    });

  program.command("run-task", { hidden: true })
    .description("internal: run one stage instance from a task file (cluster workers)")
    .requiredOption("--task <file>", "task JSON written by the coordinator")
    .option("--debug", "show stack traces")
    .action(async (o: { task: string; debug?: boolean }) => {
      try {
        const spec = JSON.parse(await Deno.readTextFile(resolve(o.task))) as TaskSpec;
        const r = await executeTask(spec, stages, { tty: false });
        console.log(JSON.stringify({ ok: true, id: spec.id, key: spec.key, ...r }));
      } catch (e) {
        fail(e, !!o.debug);
      }
    });

  opts.extend?.(program);
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    const code = (e as { code?: string; exitCode?: number }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version") return;
    if (code?.startsWith("commander.")) {
      // commander already printed its message ("error: unknown option ..."); make it one line.
      Deno.exit((e as { exitCode?: number }).exitCode || 2);
    }
    fail(e, args.includes("--debug"));
  }
}
