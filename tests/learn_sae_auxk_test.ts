/**
 * AuxK revives dead concepts (learn/sae/auxk.ts, issue #16 item 5). A learning rate well above the
 * stable range drives some concepts' pre-activations below zero on every row: they die. The aux
 * codes are ReLU'd, so only the straight-through encoder gradient can raise such a concept again;
 * with it the run ends with exactly the concepts the data leave idle dead (c − m of them) and
 * every planted direction recovered. Planted world: d = 64, 64 directions, 4 per row, c = 128.
 */
import assert from "node:assert/strict";
import { createBackend } from "../kernels/select.ts";
import { fitSae } from "../learn/sae/mod.ts";
import { plantedWorld, recoveredFraction } from "./helpers/planted_world.ts";

Deno.test("sae batchtopk: AuxK brings concepts killed by a high learning rate back (dead = (c − m)/c, all planted directions recovered)", async () => {
  const w = plantedWorld({ n: 4096, d: 64, m: 64, s: 4, seed: 3 });
  const c = 128;
  const b = await createBackend("cpu");
  try {
    // lr 5e-2 (10× the study's): before the straight-through gradient 52.3% of the concepts
    // ended dead and 92.2% of the planted directions were recovered
    const f = await fitSae("batchtopk", w.x, w.n, w.d, {
      c,
      k: 4,
      seed: 0,
      epochs: 20,
      batchSize: 256,
      lr: 5e-2,
    }, b);
    const last = f.log[f.log.length - 1];
    const rec = recoveredFraction(w.directions, w.m, f.dictionary, c, w.d, 0.9).fraction;
    assert.ok(last.deadFraction <= (c - w.m + 1) / c, `dead fraction ${last.deadFraction}`);
    assert.ok(rec >= 0.97, `recovered ${rec} of the planted directions at cosine ≥ 0.9`);
  } finally {
    b.close();
  }
});
