/**
 * The reduced default study (configs/ci-reduced.yaml: the default synthetic world, smaller) end to
 * end through the command line: every planned stage instance runs in a fresh cache, a second run
 * is all cached with the same keys, and the JSON summary carries the checks against planted truth
 * (which hold: the reduced study recovers its planted world) and the claims table.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../pipeline/config_loader.ts";
import { studyConfigSchema } from "../tasks/config/mod.ts";
import { buildStudy } from "../tasks/study.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const CONFIG = join(ROOT, "configs", "ci-reduced.yaml");

interface Summary {
  ok: boolean;
  stages: { id: string; stage: string; status: string; key: string; seconds: number }[];
  validation?: { check: string; value: number; threshold: number; holds: boolean }[];
  claims?: { claim: string; value: number; holds: boolean }[];
}

/** Run the pipeline CLI from the repository root; returns the last stdout line as JSON. */
async function pipeline(cache: string): Promise<Summary> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "--config", CONFIG, "--cache", cache, "--json"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `pipeline failed:\n${stderr.slice(-3000)}`);
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

Deno.test("ci-reduced study: every stage runs, a second run is all cached, truth checks hold", async () => {
  const config = await loadConfig(studyConfigSchema, { file: CONFIG });
  const planned = buildStudy(config, ROOT).map((i) => i.id);
  const cache = await Deno.makeTempDir({ prefix: "atlas-ci-reduced-" });
  try {
    const first = await pipeline(cache);
    assert.equal(first.ok, true);
    assert.deepEqual(first.stages.map((s) => s.id).sort(), [...planned].sort());
    const notRun = first.stages.filter((s) => s.status !== "ran").map((s) => s.id);
    assert.deepEqual(notRun, [], "a fresh cache runs every instance");
    const stages = new Set(first.stages.map((s) => s.stage));
    for (
      const name of [
        "dataset",
        "diet",
        "train",
        "encode",
        "evaluate",
        "pareto",
        "concepts",
        "match",
        "modality",
        "bridge",
        "validate",
        "claims",
      ]
    ) assert.ok(stages.has(name), `stage ${name} is part of the study`);

    // Checks against planted truth: all four present, finite, and they hold.
    const checks = new Map((first.validation ?? []).map((c) => [c.check, c]));
    for (
      const name of [
        "planted_recovered",
        "stability_frequent_minus_rare",
        "bridge_twin_precision",
        "unimodal_fraction_gap",
      ]
    ) {
      const c = checks.get(name);
      assert.ok(c, `validation check ${name} is in the JSON summary`);
      assert.ok(Number.isFinite(c.value), `${name} value ${c.value}`);
      assert.ok(c.holds, `${name} = ${c.value} (threshold ${c.threshold}) should hold`);
    }
    assert.ok((first.claims ?? []).length >= 5, "the claims table is in the JSON summary");
    for (const c of first.claims!) assert.equal(typeof c.holds, "boolean", c.claim);

    const second = await pipeline(cache);
    assert.ok(
      second.stages.every((s) => s.status === "cached"),
      `second run re-ran ${second.stages.filter((s) => s.status !== "cached").map((s) => s.id)}`,
    );
    assert.deepEqual(second.stages.map((s) => s.key), first.stages.map((s) => s.key));
    assert.deepEqual(second.validation, first.validation);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
