/**
 * The study's default batch size from measurement (issue #16 item 3): the primary run
 * (batchtopk, k = 8, c = 4·d = 512, 30 epochs, lr 5e-3, the study's weight decay) on 7,680 rows
 * of the default synthetic world (the size of a default diet's training rows) at several batch
 * sizes, reporting the training R², the dead fraction, the planted directions recovered at
 * cosine ≥ 0.9 and samples/s.
 *
 * Usage: `deno run -A scripts/batch_size_sweep.ts [--batches 128,256,512,1024,2048]
 *   [--epochs 30] [--lr 5e-3] [--seeds 0,1]`. Prints one JSON line per (batch, seed).
 */
import { generateWorld } from "../data/synthetic_world.ts";
import { worldSection } from "../tasks/config/dataset.ts";
import { studyMethodOptions, trainSection } from "../tasks/config/train.ts";
import { Rng } from "../data/random.ts";
import { createBackend } from "../kernels/select.ts";
import { fitSae } from "../learn/sae/mod.ts";
import { recoveredFraction } from "../analysis/truth_checks.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
}

async function main(): Promise<void> {
  const batches = arg("batches", "128,256,512,1024,2048").split(",").map(Number);
  const seeds = arg("seeds", "0,1").split(",").map(Number);
  const epochs = Number(arg("epochs", "30"));
  const lr = Number(arg("lr", "5e-3"));
  const w = generateWorld(worldSection.parse({}), 0);
  const d = w.set.d;
  const n = 7680;
  const rows = new Rng("batch-sweep").permutation(w.set.n).subarray(0, n);
  const x = new Float32Array(n * d);
  rows.forEach((r, i) => x.set(w.set.vectors.subarray(r * d, (r + 1) * d), i * d));
  const study = studyMethodOptions(trainSection.parse({}), "batchtopk");
  const be = await createBackend("cpu");
  try {
    for (const batchSize of batches) {
      for (const seed of seeds) {
        const t0 = performance.now();
        const f = await fitSae(
          "batchtopk",
          x,
          n,
          d,
          { ...study, c: 4 * d, k: 8, seed, epochs, batchSize, lr },
          be,
        );
        const s = (performance.now() - t0) / 1000;
        const last = f.log[f.log.length - 1];
        console.log(JSON.stringify({
          batchSize,
          seed,
          steps: Math.floor(n / batchSize) * epochs,
          r2: +last.r2.toFixed(4),
          dead_fraction: +last.deadFraction.toFixed(4),
          recovered_09: +recoveredFraction(w.truth, f.dictionary, f.c, 0.9).toFixed(4),
          samples_per_s: Math.round(Math.floor(n / batchSize) * batchSize * epochs / s),
          seconds: +s.toFixed(1),
        }));
      }
    }
  } finally {
    be.close();
  }
}

if (import.meta.main) await main();
