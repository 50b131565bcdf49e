/**
 * The stage contract: a stage sees its input roles without the `?`/`*` suffix, every required
 * role present and every list role a list (empty when unbound); a stage without `params` takes
 * exactly `{}`; the study's run options reach `ctx.options` and the manifest, never the key.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { z } from "zod";
import { CacheLayout, readManifest } from "../pipeline/cache.ts";
import { planStudy } from "../pipeline/plan.ts";
import { executeStudy, taskSpec } from "../pipeline/execute.ts";
import { LocalRunner } from "../pipeline/runner.ts";
import { executeTask } from "../pipeline/task.ts";
import {
  bareRole,
  defineStage,
  type InputArtifact,
  type Stage,
  type StageInstance,
} from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";

/** A source without parameters or inputs: writes its id. */
const source = defineStage({
  name: "source",
  version: 1,
  description: "writes its id",
  inputs: {},
  outputs: ["id.txt"],
  async run(ctx) {
    await Deno.writeTextFile(join(ctx.outDir, "id.txt"), ctx.id);
  },
});

/** What the sink saw, by instance id. */
const seen = new Map<string, unknown>();

/** A sink with a required, an optional and a list role: records what it sees. */
const sink = defineStage({
  name: "sink",
  version: 1,
  description: "records its inputs",
  inputs: { src: "source", "extra?": "source", "parts*": "source" },
  params: z.strictObject({ tag: z.string().default("t") }),
  outputs: ["seen.json"],
  async run(ctx) {
    // Typed by the declaration: `src` is present, `extra` may be absent, `parts` is a list.
    const view = {
      inputs: Object.keys(ctx.inputs).sort(),
      src: ctx.inputs.src.id,
      extra: ctx.inputs.extra?.id ?? null,
      parts: ctx.inputLists.parts.map((p) => p.id),
      options: ctx.options,
    };
    seen.set(ctx.id, view);
    await Deno.writeTextFile(join(ctx.outDir, "seen.json"), JSON.stringify(view));
  },
});

/** Compile-time checks of the typed context (`deno check` fails if a marked line compiles). */
export function typedContext(ctx: Parameters<typeof sink.run>[0]): InputArtifact[] {
  // @ts-expect-error the optional role `extra?` may be absent
  void ctx.inputs.extra.id;
  // @ts-expect-error the stage declares no role `other`
  void ctx.inputs.other;
  // @ts-expect-error the stage sees `parts`, not `parts*`
  void ctx.inputLists["parts*"];
  return [ctx.inputs.src, ...ctx.inputLists.parts];
}

// deno-lint-ignore no-explicit-any
const stages = new Map<string, Stage<any>>([source, sink].map((s) => [s.name, s]));

function instances(bindExtra: boolean): StageInstance[] {
  return [
    { id: "source[a]", stage: source, params: {}, inputs: {} },
    { id: "source[b]", stage: source, params: {}, inputs: {} },
    {
      id: "sink[full]",
      stage: sink,
      params: {},
      inputs: {
        src: "source[a]",
        ...(bindExtra ? { "extra?": "source[b]" } : {}),
        "parts*": ["source[a]", "source[b]"],
      },
    },
    { id: "sink[bare]", stage: sink, params: { tag: "u" }, inputs: { src: "source[b]" } },
  ];
}

Deno.test("bareRole strips one `?` or `*` suffix", () => {
  assert.deepEqual(["train?", "runs*", "dataset"].map(bareRole), ["train", "runs", "dataset"]);
});

Deno.test("stage contract: bare roles, required inputs present, unbound lists empty, options in ctx and manifest", async () => {
  const cache = await Deno.makeTempDir();
  try {
    seen.clear();
    const layout = new CacheLayout(cache);
    const plan = await planStudy(instances(true), layout);
    const opts = { cache, options: { backend: "cpu", colour: "blue" }, codeVersion: "test" };
    await executeStudy(plan, new LocalRunner({ stages, quiet: true }), opts);
    assert.deepEqual(seen.get("sink[full]"), {
      inputs: ["extra", "src"],
      src: "source[a]",
      extra: "source[b]",
      parts: ["source[a]", "source[b]"],
      options: { backend: "cpu", colour: "blue" },
    });
    assert.deepEqual(seen.get("sink[bare]"), {
      inputs: ["src"],
      src: "source[b]",
      extra: null,
      parts: [],
      options: { backend: "cpu", colour: "blue" },
    });
    const full = plan.find((p) => p.instance.id === "sink[full]")!;
    const m = await readManifest(layout, "sink", full.key);
    assert.deepEqual(m.options, { backend: "cpu", colour: "blue" });
    assert.deepEqual(Object.keys(m.inputs).sort(), ["extra?", "parts*", "src"], "roles as bound");

    // Options never enter a key; an optional input does.
    const again = await planStudy(instances(true), layout);
    assert.ok(again.every((p) => p.status === "cached"));
    const noExtra = await planStudy(instances(false), layout);
    assert.notEqual(noExtra.find((p) => p.instance.id === "sink[full]")!.key, full.key);

    // A task that does not bind a required role is refused before the stage runs.
    const spec = taskSpec(full, new Map(plan.map((p) => [p.instance.id, p])), opts);
    delete spec.inputs.src;
    await assert.rejects(
      () => executeTask({ ...spec, force: true }, stages, { quiet: true }),
      /required input src of stage sink is not bound/,
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("stage contract: a stage without params takes exactly {}", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const layout = new CacheLayout(cache);
    const bad: StageInstance = { id: "source[x]", stage: source, params: { n: 1 }, inputs: {} };
    await assert.rejects(() => planStudy([bad], layout), (e: Error) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /^stage source\[x\]: parameter/);
      return true;
    });
    const [ok] = await planStudy([{ ...bad, params: {} }], layout);
    assert.deepEqual(ok.params, {});
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("stage contract: a study's run option is a flag, reaches the stage, and stays out of keys", async () => {
  const toy = new URL("./fixtures/toy_study.ts", import.meta.url).pathname;
  const cache = await Deno.makeTempDir();
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", toy, "--cache", cache, "--json", "--quiet", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr), text };
  };
  try {
    const a = await run("--number-style", "padded");
    assert.equal(a.code, 0, a.stderr);
    const layout = new CacheLayout(cache);
    const dbl = JSON.parse(a.text).stages.find((s: { id: string }) => s.id === "double[i=0]");
    const m = await readManifest(layout, "double", dbl.key);
    assert.deepEqual(m.options, { "number-style": "padded" });
    assert.equal(m.meta.number_style, "padded");
    const b = await run("--dry-run");
    assert.equal(b.code, 0, b.stderr);
    assert.ok(JSON.parse(b.text).stages.every((s: { status: string }) => s.status === "cached"));
    const bad = await run("--number-style", "fancy");
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--number-style <number-style>' argument 'fancy' is invalid/);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
