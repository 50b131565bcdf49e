/**
 * `deno task bench [--json] [--quick] [--filter TEXT]`: runs every benchmark module listed in
 * {@link BENCH_MODULES} that exists (each exports `benchmarks: Benchmark[]`, see bench/types.ts).
 * `--json` prints one JSON object per figure per line; otherwise a human table with each figure
 * beside its floor / reference. Progress lines go to stderr.
 */
import type { Benchmark, BenchResult } from "./types.ts";

/** Benchmark modules, relative to this file; missing ones are skipped. */
export const BENCH_MODULES: readonly string[] = [
  "./kernels_bench.ts",
  "./encoder_bench.ts",
  "./sae_bench.ts",
  "./train_bench.ts",
  "./match_bench.ts",
  "./embed_bench.ts",
  "./raw_inputs_bench.ts",
  "./data_bench.ts",
  "./analysis_bench.ts",
];

/** Load the benchmarks of every module in the list that exists. */
export async function loadBenchmarks(
  modules: readonly string[] = BENCH_MODULES,
): Promise<Benchmark[]> {
  const out: Benchmark[] = [];
  for (const rel of modules) {
    const url = new URL(rel, import.meta.url);
    try {
      await Deno.stat(url);
    } catch {
      continue;
    }
    const mod = await import(url.href);
    if (Array.isArray(mod.benchmarks)) out.push(...(mod.benchmarks as Benchmark[]));
  }
  return out;
}

/** One human-readable line for a figure: value, unit, then floor / reference fields. */
export function formatResult(r: BenchResult): string {
  const num = (v: unknown) =>
    typeof v === "number" ? (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4)) : String(v);
  const extras = Object.entries(r)
    .filter(([k]) => !["name", "value", "unit"].includes(k))
    .map(([k, v]) => `${k}=${num(v)}`)
    .join("  ");
  return `${r.name.padEnd(36)} ${num(r.value).padStart(10)} ${r.unit.padEnd(8)} ${extras}`;
}

async function main(args: string[]): Promise<void> {
  const json = args.includes("--json");
  const quick = args.includes("--quick");
  const fi = args.indexOf("--filter");
  const filter = fi >= 0 ? args[fi + 1] : undefined;
  const log = (line: string) => console.error(line);
  for (const b of await loadBenchmarks()) {
    if (filter && !b.group.includes(filter)) continue;
    if (!json) console.log(`# ${b.group}`);
    const results = await b.run({ quick, log });
    for (const r of results) console.log(json ? JSON.stringify(r) : formatResult(r));
  }
}

if (import.meta.main) await main(Deno.args);
