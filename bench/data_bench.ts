/**
 * Data benchmarks at paper scale (issue 16: the `dataset` and `diet` stages at 600,000 × 768):
 * - `dataset.world_600k` (rows/s): the synthetic world of 300,000 images × 1 caption at d = 768
 *   (`--quick`: 10,000 images) generated with the `gemm` generator its size resolves to, then
 *   written as `embeddings.parquet` — what the `dataset` stage does. Beside it the phases, the
 *   rows/s of each, and the floor: the noise GEMM (2·rows·d² flops) at the backend's GEMM rate
 *   measured in the same run, plus the table's bytes at the rate one `Deno.writeFile` of as many
 *   bytes reaches in the same run (disk/page cache), with the ratio to it.
 * - `diet.world_600k` (rows/s): the train rows read back from that table and written again (a
 *   `diet` stage at the natural ratio keeps them all), beside its floor (read + write of the bytes).
 */
import { join } from "node:path";
import type { Benchmark, BenchResult } from "./types.ts";
import { worldSection } from "../tasks/config/dataset.ts";
import { generateWorldOn } from "../data/synthetic_world.ts";
import { readEmbeddings, writeEmbeddings } from "../data/embeddings_io.ts";
import { assignSplits } from "../data/splits.ts";
import { createBackend } from "../kernels/select.ts";
import type { Backend } from "../kernels/backend.ts";

/** Seconds of `f`. */
async function timed<T>(f: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, (performance.now() - t0) / 1000];
}

/** Flop/s of the backend's GEMM on a block of the noise product (2048 × d times d × d). */
async function gemmRate(backend: Backend, d: number): Promise<number> {
  const n = 2048;
  const a = backend.upload(new Float32Array(n * d).fill(0.5), [n, d]);
  const b = backend.upload(new Float32Array(d * d).fill(0.25), [d, d]);
  const c = backend.zeros([n, d]);
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const [, s] = await timed(async () => {
      backend.gemm(a, b, c, { beta: 1 });
      await backend.read(c);
    });
    best = Math.min(best, s);
  }
  for (const t of [a, b, c]) backend.dispose(t);
  return (2 * n * d * d) / best;
}

/** Bytes/s of writing and then reading back `bytes` bytes as one file in `dir`. */
async function diskRates(dir: string, bytes: number): Promise<{ write: number; read: number }> {
  const path = join(dir, "raw.bin");
  const buf = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4096) buf[i] = i & 255;
  const [, w] = await timed(() => Deno.writeFile(path, buf));
  const [, r] = await timed(() => Deno.readFile(path));
  await Deno.remove(path);
  return { write: bytes / w, read: bytes / r };
}

async function worldCase(quick: boolean, log: (l: string) => void): Promise<BenchResult[]> {
  const images = quick ? 10000 : 300000, d = 768;
  const p = worldSection.parse({ d, images, captionsPerImage: 1 });
  const dir = await Deno.makeTempDir({ prefix: "atlas-data-bench-" });
  const backend = await createBackend("auto", { log });
  try {
    log(`data: world ${2 * images} × ${d} (generator ${p.generator ?? "float64"})`);
    const [w, gen] = await timed(() => generateWorldOn(p, 0, backend));
    const set = w.set;
    set.split = assignSplits(set.pairIds, 0.2, 0);
    const path = join(dir, "embeddings.parquet");
    const [, write] = await timed(() => writeEmbeddings(path, set));
    const bytes = (await Deno.stat(path)).size;
    const disk = await diskRates(dir, bytes);
    const flops = await gemmRate(backend, d);
    log(`data: read back the train rows`);
    const [train, read] = await timed(() => readEmbeddings(path, { split: "train" }));
    const dietPath = join(dir, "diet.parquet");
    const [, dietWrite] = await timed(() => writeEmbeddings(dietPath, train));
    const dietBytes = (await Deno.stat(dietPath)).size;
    const n = set.n, total = gen + write;
    const gemmFloor = (2 * set.n * d * d) / flops;
    const floor = gemmFloor + bytes / disk.write;
    const dietTotal = read + dietWrite;
    const dietFloor = bytes / disk.read + dietBytes / disk.write;
    const name = quick ? "world_20k" : "world_600k";
    return [{
      name: `dataset.${name}`,
      value: n / total,
      unit: "rows/s",
      seconds: total,
      rows: n,
      d,
      generator: p.generator ?? "float64",
      backend: backend.name,
      generate_s: gen,
      generate_rows_per_s: n / gen,
      write_s: write,
      write_mb_per_s: bytes / 1e6 / write,
      bytes,
      floor_s: floor,
      floor_ratio: total / floor,
      gemm_floor_s: gemmFloor,
      gemm_gflops: flops / 1e9,
      write_floor_s: bytes / disk.write,
      disk_write_mb_per_s: disk.write / 1e6,
    }, {
      name: `diet.${name}`,
      value: train.n / dietTotal,
      unit: "rows/s",
      seconds: dietTotal,
      rows: train.n,
      read_s: read,
      read_mb_per_s: bytes / 1e6 / read,
      write_s: dietWrite,
      floor_s: dietFloor,
      floor_ratio: dietTotal / dietFloor,
      disk_read_mb_per_s: disk.read / 1e6,
    }];
  } finally {
    backend.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The data benchmarks. */
export const benchmarks: Benchmark[] = [{
  group: "data",
  run: ({ quick, log }) => worldCase(quick, log),
}];
