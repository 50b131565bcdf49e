/**
 * Planning a no-op re-run over a large image folder: the embed stage's external inputs (every
 * image the captions CSV names, the CSV, the model folder) are content-hashed for its key, and the
 * state file of (path, size, mtime, inode) → sha256 (pipeline/content_hash.ts) lets a re-run stat
 * the files instead of reading them. Figure `raw_inputs.noop_plan` (unit s, target < 3 s at
 * 100,000 images): the whole `planStudy` of the embed instance after the first hash, beside its
 * floor — one `stat` per image at the rate a bare `Deno.statSync` loop over the same files
 * reaches (`stat_per_s`) — and the first, hashing, plan (`first_hash_s`).
 */
import type { Benchmark, BenchResult } from "./types.ts";
import { writeTinyDualEncoder } from "../embed/testing/tiny_dual_encoder.ts";
import { embedParams, embedStage } from "../tasks/embed.ts";
import { CacheLayout } from "../pipeline/cache.ts";
import { planStudy } from "../pipeline/plan.ts";
import { RACY_WINDOW_MS } from "../pipeline/content_hash.ts";

async function run(opts: { quick: boolean; log: (line: string) => void }): Promise<BenchResult[]> {
  const n = opts.quick ? 10_000 : 100_000;
  const dir = await Deno.makeTempDir({ prefix: "raw_inputs_bench_" });
  try {
    opts.log(`raw_inputs: writing ${n} small image files under ${dir}`);
    await Deno.mkdir(`${dir}/imgs`);
    const rows = ["image,caption"];
    const name = (i: number) => `imgs/${String(i).padStart(6, "0")}.jpg`;
    let next = 0;
    const writer = async () => {
      while (next < n) {
        const i = next++;
        const body = new Uint8Array(300);
        new DataView(body.buffer).setUint32(0, i);
        await Deno.writeFile(`${dir}/${name(i)}`, body);
      }
    };
    await Promise.all(Array.from({ length: 16 }, writer));
    for (let i = 0; i < n; i++) rows.push(`${name(i)},a photo number ${i}`);
    // Files younger than the racy window are hashed on every run, by design: let them age.
    await new Promise((r) => setTimeout(r, RACY_WINDOW_MS + 100));
    await Deno.writeTextFile(`${dir}/pairs.csv`, rows.join("\n") + "\n");
    await writeTinyDualEncoder(`${dir}/model`);
    const params = embedParams.parse({
      model: { name: "tiny", path: `${dir}/model` },
      source: { format: "csv", path: `${dir}/pairs.csv` },
    });
    const insts = [{ id: "embed[model=tiny]", stage: embedStage, params, inputs: {} }];
    const layout = new CacheLayout(`${dir}/cache`);
    let t0 = performance.now();
    await planStudy(insts, layout);
    const first = (performance.now() - t0) / 1000;
    let noop = Infinity;
    for (let r = 0; r < 3; r++) {
      t0 = performance.now();
      await planStudy(insts, layout);
      noop = Math.min(noop, (performance.now() - t0) / 1000);
    }
    let statBest = Infinity;
    for (let r = 0; r < 3; r++) {
      t0 = performance.now();
      for (let i = 0; i < n; i++) Deno.statSync(`${dir}/${name(i)}`);
      statBest = Math.min(statBest, (performance.now() - t0) / 1000);
    }
    const statPerS = n / statBest;
    return [{
      name: "raw_inputs.noop_plan",
      value: noop,
      unit: "s",
      files: n,
      target_s: 3,
      first_hash_s: first,
      stat_per_s: statPerS,
      floor_s: statBest,
      floor_ratio: statBest / noop,
    }];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The raw-input hashing benchmark. */
export const benchmarks: Benchmark[] = [{ group: "raw_inputs", run }];
