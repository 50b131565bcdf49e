/**
 * The embed stage split into parts without Slurm (the engine path the Slurm runner's array tasks
 * take): part selection covers every shard once; part workers running at once — also two
 * different splits writing the same shards, and the same part twice — then the merge give an
 * embeddings.parquet byte-identical to a local run; a part worker killed mid-way (SIGKILL) is run
 * again and resumes from the shard it finished.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { partSlots, shardSlots } from "../embed/embed_pairs.ts";
import { CacheLayout, isPublished, readManifest } from "../pipeline/cache.ts";
import { planStudy } from "../pipeline/plan.ts";
import { executeStudy, taskSpec } from "../pipeline/execute.ts";
import { LocalRunner } from "../pipeline/runner.ts";
import { executeTask, type TaskSpec } from "../pipeline/task.ts";
import type { Stage } from "../pipeline/stage.ts";
import { writeEmbedData } from "./fixtures/slurm/embed_data.ts";
import { embedSlurmStudy } from "./fixtures/slurm/embed_slurm_study.ts";

const STUDY = new URL("./fixtures/slurm/embed_slurm_study.ts", import.meta.url).pathname;
// deno-lint-ignore no-explicit-any
const stages = new Map<string, Stage<any>>(embedSlurmStudy.stages.map((s) => [s.name, s]));
const opts = (cache: string) => ({ cache, options: { backend: "cpu" }, codeVersion: "test" });

Deno.test("embed parts: every shard in exactly one part, images and captions spread evenly", () => {
  const slots = shardSlots(10, 47, 4); // 3 image shards (4,4,2), 12 caption shards (…,3)
  assert.equal(slots.length, 15);
  assert.deepEqual(slots[2], { kind: "image", index: 2, first: 8, n: 2 });
  assert.deepEqual(slots[14], { kind: "text", index: 11, first: 44, n: 3 });
  assert.equal(slots.reduce((a, s) => a + s.n, 0), 57);
  for (const count of [1, 2, 4, 15, 20]) {
    const parts = Array.from({ length: count }, (_, index) => partSlots(slots, { index, count }));
    const seen = parts.flat().map((s) => `${s.kind}${s.index}`).sort();
    assert.deepEqual(seen, slots.map((s) => `${s.kind}${s.index}`).sort(), `count ${count}`);
    const sizes = parts.map((p) => p.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `count ${count}: ${sizes}`);
    const images = parts.map((p) => p.filter((s) => s.kind === "image").length);
    assert.ok(Math.max(...images) - Math.min(...images) <= 1, `count ${count}: ${images}`);
  }
  assert.throws(() => partSlots(slots, { index: 2, count: 2 }), /0 ≤ index < count/);
});

async function setup(prefix: string) {
  const dir = await Deno.makeTempDir({ prefix });
  const data = await writeEmbedData(join(dir, "data"));
  const config = embedSlurmStudy.configSchema.parse({
    model: data.model,
    captions: data.captions,
    images: data.images,
    shardSize: 2,
  });
  const instances = embedSlurmStudy.build(config);
  /** The planned embed task on `cache` (not run). */
  const spec = async (cache: string): Promise<TaskSpec> => {
    const plan = await planStudy(instances, new CacheLayout(cache));
    return taskSpec(plan[0], new Map(plan.map((p) => [p.instance.id, p])), opts(cache));
  };
  /** Run the study whole with the local runner; the table's bytes. */
  const local = async (cache: string): Promise<Uint8Array> => {
    const plan = await planStudy(instances, new CacheLayout(cache));
    const [s] = await executeStudy(plan, new LocalRunner({ stages, quiet: true }), opts(cache));
    return await Deno.readFile(join(s.dir, "embeddings.parquet"));
  };
  return { dir, data, spec, local };
}

async function partialFiles(layout: CacheLayout, t: TaskSpec): Promise<string[]> {
  const out: string[] = [];
  const root = layout.partialDir(t.stage, t.key);
  for await (const plan of Deno.readDir(root)) {
    for await (const f of Deno.readDir(join(root, plan.name))) out.push(f.name);
  }
  return out.sort();
}

Deno.test("embed parts: concurrent workers (overlapping splits, a part twice) and the merge equal the local run", async () => {
  const { dir, spec, local } = await setup("embed_shard_");
  try {
    const want = await local(join(dir, "local"));
    const cache = join(dir, "parts");
    const layout = new CacheLayout(cache);
    const t = await spec(cache);
    // 5 images + 10 captions in shards of 2: 3 image shards + 5 caption shards.
    const parts: TaskSpec[] = [
      ...[0, 1, 2].map((index) => ({ ...t, shard: { index, count: 3 } })),
      ...[0, 1].map((index) => ({ ...t, shard: { index, count: 2 } })),
      { ...t, shard: { index: 0, count: 3 } },
    ];
    const results = await Promise.all(parts.map((p) => executeTask(p, stages, { quiet: true })));
    assert.ok(results.every((r) => r.status === "ran"));
    assert.equal(await isPublished(layout, t.stage, t.key), false, "a part publishes nothing");
    const names = await partialFiles(layout, t);
    assert.deepEqual(names.filter((n) => n.endsWith(".tmp")), [], "no temporary file left");
    assert.equal(names.filter((n) => n.endsWith(".shard")).length, 8);
    assert.deepEqual(
      [...Deno.readDirSync(layout.lockRoot)].map((e) => e.name),
      [],
      "every part lock released",
    );
    // The merge computes nothing (rates 0) and writes the same bytes as the local run.
    assert.equal((await executeTask(t, stages, { quiet: true })).status, "ran");
    const m = await readManifest(layout, t.stage, t.key);
    assert.equal(m.meta.images_per_s, 0);
    assert.equal(m.meta.texts_per_s, 0);
    assert.equal(m.meta.rows, 15);
    const got = await Deno.readFile(join(layout.keyDir(t.stage, t.key), "embeddings.parquet"));
    assert.deepEqual(got, want);
    await assert.rejects(() => Deno.stat(layout.partialDir(t.stage, t.key)), Deno.errors.NotFound);
    // A part of a published key is cached; a part that is no part is refused.
    const again = await executeTask({ ...t, shard: { index: 1, count: 3 } }, stages);
    assert.equal(again.status, "cached");
    await assert.rejects(
      () => executeTask({ ...t, shard: { index: 3, count: 3 } }, stages),
      /shard 3 of 3 is not a part/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("embed parts: a worker killed mid-part is run again and resumes from its finished shard", async () => {
  const { dir, spec, local } = await setup("embed_kill_");
  try {
    const want = await local(join(dir, "local"));
    const cache = join(dir, "parts");
    const layout = new CacheLayout(cache);
    const t = await spec(cache);
    const marks = join(dir, "marks");
    await Deno.mkdir(marks);
    const worker = async (index: number) => {
      const file = join(dir, `task-${index}.json`);
      await Deno.writeTextFile(file, JSON.stringify({ ...t, shard: { index, count: 2 } }));
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", STUDY, "run-task", "--task", file],
        env: { ATLAS_EMBED_KILL_PART: "1", ATLAS_EMBED_KILL_DIR: marks },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, signal: out.signal, stderr: new TextDecoder().decode(out.stderr) };
    };
    // Part 1 of 2 (image shard 1, caption shards 0, 2, 4) dies after its first shard.
    const killed = await worker(1);
    assert.equal(killed.signal, "SIGKILL", killed.stderr);
    assert.equal(await Deno.readTextFile(join(marks, "killed-once")), "1");
    assert.deepEqual((await partialFiles(layout, t)).filter((n) => n.endsWith(".shard")), [
      "image-000001.shard",
    ]);
    assert.equal([...Deno.readDirSync(layout.lockRoot)].length, 1, "the dead worker's lock");
    // Run again (what the runner's retry does): takes the dead worker's lock over and resumes.
    const retry = await worker(1);
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stderr, /part 2 of 2: computed 3, resumed 1 shard\(s\)/);
    assert.equal((await worker(0)).code, 0);
    assert.equal((await executeTask(t, stages, { quiet: true })).status, "ran");
    const got = await Deno.readFile(join(layout.keyDir(t.stage, t.key), "embeddings.parquet"));
    assert.deepEqual(got, want);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
