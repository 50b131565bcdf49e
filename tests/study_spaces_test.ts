/**
 * Several embedding spaces in one study (issue 14): two synthetic spaces of different d and row
 * count end to end through the command line — both sub-studies run with distinct keys and
 * `space=` in their ids, the comparison's per-space numbers are those of each space studied alone
 * (same keys, and the same values as the lone study's claims), a second run is all cached, and
 * removing one space re-runs only the comparison. Also the configuration rules (names, merged world
 * knobs, per-space expansion) and the default study's ids.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import YAML from "yaml";
import { studyConfigSchema } from "../tasks/config/mod.ts";
import { buildStudy } from "../tasks/study.ts";
import { resolveSpaces } from "../tasks/config/spaces.ts";
import { readTable } from "../data/table_io.ts";
import { isUserError } from "../pipeline/errors.ts";
import { loadConfig } from "../pipeline/config_loader.ts";

const ROOT = new URL("..", import.meta.url).pathname;

interface Summary {
  ok: boolean;
  stages: { id: string; stage: string; status: string; key: string; dir: string }[];
  claims?: { space?: string; claim: string; value: number; holds: boolean }[];
  spaces?: { space: string; verdict: string }[];
}

const world = {
  images: 300,
  captionsPerImage: 2,
  sharedConcepts: 8,
  imageConcepts: 2,
  textConcepts: 2,
};
const SPACE_A = { name: "a16", kind: "synthetic", seed: 0, world: { d: 16 } };
const SPACE_B = {
  name: "b24",
  kind: "synthetic",
  seed: 1,
  world: { d: 24, images: 400 },
  expansionFactor: 2,
};
const BASE = {
  diets: { ratios: ["natural", "1:1"] },
  train: {
    methods: ["topk", "pca"],
    k: [4],
    seeds: [0, 1],
    epochs: 3,
    batchSize: 128,
    primary: { method: "topk", k: 4 },
  },
  analysis: { modality: { methods: ["mean"], randomDirections: 16 }, claims: { subspace: "mean" } },
};
const twoSpaces = { dataset: { world, spaces: [SPACE_A, SPACE_B] }, ...BASE };

/** Run the pipeline CLI on `config` (written to a file) from the repository root. */
async function pipeline(config: unknown, cache: string, ...extra: string[]): Promise<Summary> {
  const file = join(cache + "-config.yaml");
  await Deno.writeTextFile(file, YAML.stringify(config));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "--config", file, "--cache", cache, "--json", ...extra],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `pipeline failed:\n${stderr.slice(-3000)}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

Deno.test("spaces: two spaces of different d run as two sub-studies and one comparison", async () => {
  const cache = await Deno.makeTempDir({ prefix: "atlas-spaces-" });
  try {
    const first = await pipeline(twoSpaces, cache);
    assert.ok(first.stages.every((s) => s.status === "ran"));
    const ofSpace = (name: string) => first.stages.filter((s) => s.id.includes(`[space=${name}`));
    const a = ofSpace("a16"), b = ofSpace("b24");
    assert.equal(
      a.length + b.length + 1,
      first.stages.length,
      "every instance but compare has a space",
    );
    for (const s of ["dataset", "diet", "train", "claims", "validate", "pareto", "bridge"]) {
      assert.ok(
        a.some((x) => x.stage === s) && b.some((x) => x.stage === s),
        `both spaces have ${s}`,
      );
    }
    const keysA = new Set(a.map((s) => s.key));
    assert.ok(b.every((s) => !keysA.has(s.key)), "the spaces share no key");
    // Per-seed claims (the spread over seeds) in both spaces.
    assert.ok(a.some((s) => s.id === "claims[space=a16,seed=1]"));
    const compare = first.stages.find((s) => s.stage === "compare")!;

    // The comparison holds each space's numbers: d, c (per-space expansion), Pareto rows, claims.
    const spaces = await readTable(join(compare.dir, "spaces.parquet"));
    assert.deepEqual(spaces.space, ["a16", "b24"]);
    assert.deepEqual(Array.from(spaces.d as Int32Array), [16, 24]);
    assert.deepEqual(
      Array.from(spaces.c as Int32Array),
      [64, 48],
      "c = 4·16 and (own factor) 2·24",
    );
    assert.deepEqual(Array.from(spaces.rows as Int32Array), [900, 1200]);
    const claims = await readTable(join(compare.dir, "claims.parquet"));
    for (const space of ["a16", "b24"]) {
      const own = JSON.parse(
        await Deno.readTextFile(
          join(first.stages.find((s) => s.id === `claims[space=${space}]`)!.dir, "claims.json"),
        ),
      ) as { claim: string; value: number | null; null_value: number | null }[];
      const seed1 = JSON.parse(
        await Deno.readTextFile(
          join(
            first.stages.find((s) => s.id === `claims[space=${space},seed=1]`)!.dir,
            "claims.json",
          ),
        ),
      ) as { claim: string; value: number | null }[];
      for (const c of own) {
        const i = (claims.name as string[]).findIndex((n, q) =>
          n === c.claim && (claims.space as string[])[q] === space
        );
        assert.ok(i >= 0, `${space} ${c.claim} in the comparison`);
        // The lone study's value (JSON null = NaN) is the comparison's first-seed value.
        assert.ok(
          Object.is((claims.value as Float64Array)[i], c.value ?? NaN),
          `${space} ${c.claim}`,
        );
        const other = seed1.find((x) => x.claim === c.claim);
        const vals = [c.value, ...(other ? [other.value] : [])].filter((v): v is number =>
          Number.isFinite(v)
        );
        assert.equal(
          (claims.seed_n as Int32Array)[i],
          vals.length,
          `${space} ${c.claim}: seeds measured`,
        );
        if (vals.length === 2) {
          assert.equal((claims.seed_min as Float64Array)[i], Math.min(...vals));
          assert.equal((claims.seed_max as Float64Array)[i], Math.max(...vals));
          assert.ok(
            Math.abs((claims.seed_mean as Float64Array)[i] - (vals[0] + vals[1]) / 2) < 1e-15,
          );
        }
      }
      assert.ok(
        (claims.kind as string[]).some((k, q) =>
          k === "check" && (claims.space as string[])[q] === space
        ),
      );
    }
    const pareto = await readTable(join(compare.dir, "pareto.parquet"));
    const aPareto = await readTable(
      join(first.stages.find((s) => s.id === "pareto[space=a16]")!.dir, "pareto.parquet"),
    );
    const rowsA = (pareto.space as string[]).flatMap((s, i) => (s === "a16" ? [i] : []));
    assert.deepEqual(
      rowsA.map((i) => (pareto.r2 as Float64Array)[i]),
      Array.from(aPareto.r2 as Float64Array),
    );
    const svg = await Deno.readTextFile(join(compare.dir, "pareto.svg"));
    assert.equal(svg.match(/data-panel="/g)?.length, 2, "one panel per space");
    assert.deepEqual(first.spaces?.map((s) => s.space), ["a16", "b24"]);
    assert.ok(first.claims?.every((c) => c.space === "a16" || c.space === "b24"));

    // Each space alone (no declared spaces): the same keys, all cached in this cache.
    for (const space of [SPACE_A, SPACE_B]) {
      const { name: _n, expansionFactor, world: w, ...keys } = space as typeof SPACE_B;
      const alone = {
        dataset: { ...keys, world: { ...world, ...w } },
        ...BASE,
        train: { ...BASE.train, ...(expansionFactor ? { expansionFactor } : {}) },
      };
      const dry = await pipeline(alone, cache, "--dry-run");
      assert.deepEqual(
        dry.stages.filter((s) => s.status !== "cached").map((s) => s.id),
        [],
        `${space.name} alone is cached`,
      );
      assert.ok(
        dry.stages.every((s) => !s.id.includes("space=")),
        "a lone space keeps today's ids",
      );
    }

    // A second run: all cached. Removing a space: only the comparison runs.
    const second = await pipeline(twoSpaces, cache);
    assert.deepEqual(second.stages.filter((s) => s.status !== "cached").map((s) => s.id), []);
    const one = await pipeline(
      { ...twoSpaces, dataset: { world, spaces: [SPACE_A] } },
      cache,
      "--dry-run",
    );
    assert.deepEqual(one.stages.filter((s) => s.status !== "cached").map((s) => s.id), ["compare"]);
  } finally {
    await Deno.remove(cache, { recursive: true });
    await Deno.remove(cache + "-config.yaml").catch(() => {});
  }
});

Deno.test("spaces: the paper's four-model setting and the CI two-space study plan", async () => {
  for (
    const [file, spaces, trains] of [["paper.yaml", 4, 240], [
      "ci-two-spaces.yaml",
      2,
      null,
    ]] as const
  ) {
    const config = await loadConfig(studyConfigSchema, { file: join(ROOT, "configs", file) });
    const insts = buildStudy(config, ROOT);
    const compare = insts.find((i) => i.id === "compare")!;
    assert.equal((compare.params.spaces as string[]).length, spaces, file);
    if (trains !== null) {
      assert.equal(
        insts.filter((i) => i.stage.name === "train").length,
        trains,
        `${file}: 60 runs per space`,
      );
    }
  }
});

Deno.test("spaces: configuration rules", () => {
  const parse = (x: unknown) => studyConfigSchema.parse(x);
  // Default: one unnamed space, today's ids, no comparison.
  const ids = buildStudy(parse({})).map((i) => i.id);
  assert.ok(ids.includes("dataset") && ids.includes("claims") && !ids.includes("compare"));
  assert.ok(ids.every((id) => !id.includes("space=")));
  // World knobs merge over dataset.world; unknown knobs and duplicate names are errors.
  const cfg = parse({
    dataset: { world: { images: 50 }, spaces: [{ name: "x", world: { d: 8 } }, { name: "y" }] },
  });
  const { spaces, named } = resolveSpaces(cfg.dataset, cfg.embed);
  assert.equal(named, true);
  const ds = spaces.map((s) => s.source.kind === "dataset" ? s.source.dataset.world : null);
  assert.deepEqual(ds.map((w) => [w?.d, w?.images]), [[8, 50], [128, 50]]);
  const byExt = parse({
    dataset: { spaces: [{ name: "p", path: "v.parquet" }, { name: "n", path: "v.npy" }] },
  });
  assert.deepEqual(
    resolveSpaces(byExt.dataset, byExt.embed).spaces.map((s) =>
      s.source.kind === "dataset" ? s.source.dataset.kind : ""
    ),
    ["parquet", "npy"],
    "a space's kind follows its file's extension",
  );
  const bad = parse({ dataset: { spaces: [{ name: "x", world: { nope: 1 } }] } });
  assert.throws(
    () => resolveSpaces(bad.dataset, bad.embed),
    (e) => isUserError(e) && /spaces\[0\] \(x\)/.test((e as Error).message),
  );
  const dup = parse({ dataset: { spaces: [{ name: "x" }, { name: "x" }] } });
  assert.throws(() => resolveSpaces(dup.dataset, dup.embed), /used twice/);
  // Two embed models: two spaces; a model's own expansion factor is not an embed parameter.
  const embed = (ef?: number) =>
    buildStudy(parse({
      embed: {
        models: [{ name: "m1", path: "models/m1" }, {
          name: "m2",
          path: "models/m2",
          ...(ef ? { expansionFactor: ef } : {}),
        }],
        source: { format: "coco", path: "captions.json" },
      },
    }));
  const two = embed(2);
  assert.ok(
    two.some((i) => i.id === "embed[model=m1]") && two.some((i) => i.id === "embed[model=m2]"),
  );
  assert.ok(two.some((i) => i.id === "compare"));
  const trainOf = (insts: typeof two, space: string) =>
    insts.find((i) => i.id === `train[space=${space},method=batchtopk,k=8,seed=0,diet=natural]`)!;
  assert.equal(trainOf(two, "m2").params.expansionFactor, 2);
  assert.equal(trainOf(two, "m1").params.expansionFactor, 4);
  const plain = embed();
  const embedParams = (insts: typeof two) =>
    JSON.stringify(insts.find((i) => i.id === "embed[model=m2]")!.params);
  assert.equal(
    embedParams(two),
    embedParams(plain),
    "the embed instance's parameters are unchanged",
  );
  // One declared space: same keys as the plain section (ids carry its name); a comparison.
  const declared = buildStudy(parse({ dataset: { spaces: [{ name: "only" }] } }));
  assert.ok(
    declared.some((i) => i.id === "train[space=only,method=batchtopk,k=8,seed=0,diet=natural]"),
  );
  assert.ok(declared.some((i) => i.id === "compare"));
});
