/**
 * The engine end to end on a toy study (tests/fixtures/toy_study.ts), through its command line
 * in subprocesses: caching, exact re-runs after a change, dry-run predictions, SIGKILL safety,
 * concurrent runs, forcing, errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const TOY = new URL("./fixtures/toy_study.ts", import.meta.url).pathname;

interface Summary {
  ok: boolean;
  stages: { id: string; stage: string; status: string; key: string; reason: string; dir: string }[];
  total?: number;
}

async function toy(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", TOY, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

async function toyJson(args: string[]): Promise<Summary> {
  const r = await toy([...args, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

const statusOf = (s: Summary) => Object.fromEntries(s.stages.map((x) => [x.id, x.status]));
const ranIds = (s: Summary) => s.stages.filter((x) => x.status === "ran").map((x) => x.id).sort();

Deno.test("second run is all cached; a changed parameter re-runs exactly its descendants", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const first = await toyJson(["--cache", cache, "--set", "n=3"]);
    assert.equal(first.total, (1 + 2 + 3) * 2);
    assert.deepEqual(ranIds(first).length, 7);
    const record = JSON.parse(await Deno.readTextFile(join(cache, "last_run.json")));
    assert.deepEqual(
      record.stages.map((x: { key: string }) => x.key),
      first.stages.map((x) => x.key),
    );
    assert.equal(record.config.n, 3);
    assert.equal(record.total, first.total);
    const second = await toyJson(["--cache", cache, "--set", "n=3"]);
    assert.ok(second.stages.every((s) => s.status === "cached"));
    assert.deepEqual(second.stages.map((s) => s.key), first.stages.map((s) => s.key));
    // factor feeds every `double` and hence `total`, but no `source`.
    const changed = await toyJson(["--cache", cache, "--set", "n=3", "--set", "factor=5"]);
    assert.deepEqual(ranIds(changed), ["double[i=0]", "double[i=1]", "double[i=2]", "total"]);
    assert.match(
      changed.stages.find((s) => s.id === "double[i=0]")!.reason,
      /parameter factor changed \(2 → 5\)/,
    );
    assert.match(changed.stages.find((s) => s.id === "total")!.reason, /input parts changed/);
    assert.equal(changed.total, 6 * 5);
    // base feeds one source each, and everything below.
    const base = await toyJson([
      "--cache",
      cache,
      "--set",
      "n=3",
      "--set",
      "factor=5",
      "--set",
      "base=2",
    ]);
    assert.equal(ranIds(base).length, 7);
    // Going back to an earlier configuration finds it cached.
    const back = await toyJson(["--cache", cache, "--set", "n=3"]);
    assert.ok(back.stages.every((s) => s.status === "cached"));
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("--dry-run predicts exactly what the real run then does", async () => {
  const cache = await Deno.makeTempDir();
  try {
    await toyJson(["--cache", cache, "--set", "n=2"]);
    for (const sets of [["n=3"], ["n=3", "factor=4"], ["n=1", "base=9"]]) {
      const args = ["--cache", cache, ...sets.flatMap((s) => ["--set", s])];
      const dry = await toyJson([...args, "--dry-run"]);
      const real = await toyJson(args);
      assert.deepEqual(
        dry.stages.map((s) => [s.id, s.status === "would-run" ? "ran" : s.status, s.key, s.reason]),
        real.stages.map((s) => [s.id, s.status, s.key, s.reason]),
      );
    }
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("--force re-runs the named stage and its descendants only", async () => {
  const cache = await Deno.makeTempDir();
  try {
    await toyJson(["--cache", cache]);
    const forced = await toyJson(["--cache", cache, "--force", "double"]);
    assert.deepEqual(ranIds(forced), ["double[i=0]", "double[i=1]", "total"]);
    assert.equal(forced.stages.find((s) => s.id === "double[i=1]")!.reason, "forced");
    assert.match(forced.stages.find((s) => s.id === "total")!.reason, /upstream forced/);
    const bad = await toy(["--cache", cache, "--force", "nosuch"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /^error: --force nosuch: no such stage/m);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("a run killed (SIGKILL) inside a stage leaves no key folder and the next run completes", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", TOY, "--cache", cache, "--set", "sleepMs=30000", "--quiet"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Wait until the first stage is running (its temporary folder exists).
    const tmp = join(cache, ".tmp");
    for (let i = 0; i < 300; i++) {
      try {
        if ([...Deno.readDirSync(tmp)].length > 0) break;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    await child.status;
    assert.ok([...Deno.readDirSync(tmp)].length > 0, "the killed run left its temporary folder");
    let published = 0;
    try {
      published = [...Deno.readDirSync(join(cache, "source"))].length;
    } catch { /* stage folder never created */ }
    assert.equal(published, 0, "no key folder may exist for the interrupted stage");
    const next = await toyJson(["--cache", cache, "--set", "sleepMs=30000", "--set", "sleepMs=0"]);
    assert.equal(next.total, 6);
    assert.equal(
      [...Deno.readDirSync(tmp)].length,
      0,
      "abandoned temporary folders are cleaned up",
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("two concurrent runs on one cache compute every key once and both succeed", async () => {
  const cache = await Deno.makeTempDir();
  const ledger = await Deno.makeTempFile();
  try {
    const args = [
      "--cache",
      cache,
      "--set",
      "n=3",
      "--set",
      "sleepMs=150",
      "--set",
      `ledger=${ledger}`,
    ];
    const [a, b] = await Promise.all([toyJson(args), toyJson(args)]);
    assert.equal(a.total, 12);
    assert.equal(b.total, 12);
    const computed = (await Deno.readTextFile(ledger)).trim().split("\n").sort();
    assert.deepEqual(computed, [...new Set(computed)], `a key was computed twice: ${computed}`);
    assert.equal(computed.length, 7);
    // Every published manifest is whole and checksums match.
    for (const s of a.stages) {
      const m = JSON.parse(await Deno.readTextFile(join(s.dir, "manifest.json")));
      assert.equal(m.key, s.key);
      assert.ok(m.files["value.txt"].sha256.length === 64);
    }
  } finally {
    await Deno.remove(cache, { recursive: true });
    await Deno.remove(ledger);
  }
});

Deno.test("bad configuration and failing stages give one error line and publish nothing", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const unknown = await toy(["--cache", cache, "--set", "fctor=3"]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr.trim().split("\n").length, 1);
    assert.match(unknown.stderr, /^error: .*unknown key fctor; allowed here: n, base, factor/);
    const wrongType = await toy(["--cache", cache, "--set", "factor=abc"]);
    assert.match(wrongType.stderr, /^error: .*key factor: .*expected number/);
    const cfg = join(cache, "bad.yaml");
    await Deno.writeTextFile(cfg, "n: 2\nfactor: [1,\n");
    const syntax = await toy(["--cache", cache, "--config", cfg]);
    assert.match(syntax.stderr, /^error: config file .*bad\.yaml, line \d+/);
    const failing = await toy(["--cache", cache, "--set", "failOn=double[i=1]"]);
    assert.equal(failing.code, 1);
    assert.match(
      failing.stderr,
      /^error: stage double\[i=1\]: toy failure in double\[i=1\]: parameter failOn/m,
    );
    assert.doesNotMatch(failing.stderr, /at .*\.ts:\d+/, "no stack trace without --debug");
    // Finished stages stay; the failed one is not published.
    const retry = await toyJson(["--cache", cache, "--set", "failOn=double[i=1]", "--dry-run"]);
    assert.equal(statusOf(retry)["source[i=1]"], "cached");
    assert.equal(statusOf(retry)["double[i=1]"], "would-run");
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
