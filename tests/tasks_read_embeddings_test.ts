/**
 * The stages' cached read of an embeddings table (tasks/read_embeddings.ts readEmbeddingsCached):
 * the same set as a fresh read, a copy per call (one caller's changes never reach the next), a
 * changed file read again, and the options (split, source, dimension check) kept apart.
 */
import assert from "node:assert/strict";
import { readEmbeddings, writeEmbeddings } from "../data/embeddings_io.ts";
import type { EmbeddingSet } from "../data/embeddings.ts";
import { readEmbeddingsCached } from "../tasks/read_embeddings.ts";
import { UserError } from "../pipeline/errors.ts";
import { Rng } from "../data/random.ts";

function world(n: number, d: number, seed: number): EmbeddingSet {
  const rng = new Rng(seed);
  return {
    n,
    d,
    vectors: rng.fillNormal(new Float32Array(n * d)),
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
    pairIds: Array.from({ length: n }, (_, i) => `p${i >> 1}`),
    modality: Array.from({ length: n }, (_, i) => (i % 2 ? "text" : "image")),
    split: Array.from({ length: n }, (_, i) => (i % 3 ? "train" : "eval")),
    source: Array.from({ length: n }, (_, i) => (i % 5 ? `s${i}` : null)),
  };
}

Deno.test("readEmbeddingsCached: a fresh read's set, a copy per call, re-read on change", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/embeddings.parquet`;
    await writeEmbeddings(path, world(301, 7, 1));
    for (const opts of [{ split: "eval" as const }, { split: "eval" as const, source: false }]) {
      const want = await readEmbeddings(path, opts);
      const a = await readEmbeddingsCached(path, opts);
      assert.deepEqual(a, want);
      // a caller that changes its set in place does not change the next caller's
      a.vectors.fill(0);
      a.ids[0] = "changed";
      a.source?.fill("changed");
      assert.deepEqual(await readEmbeddingsCached(path, opts), want);
    }
    assert.equal((await readEmbeddingsCached(path, { split: "train" })).n, 200);
    await assert.rejects(
      () => readEmbeddingsCached(path, { split: "eval", expectDim: 8 }),
      UserError,
    );
    // the file rewritten (other rows, same path): read again
    await new Promise((r) => setTimeout(r, 20));
    await writeEmbeddings(path, world(150, 7, 2));
    assert.deepEqual(
      await readEmbeddingsCached(path, { split: "eval" }),
      await readEmbeddings(path, { split: "eval" }),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
