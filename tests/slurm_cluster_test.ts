/**
 * The Slurm runner on a real one-node Slurm cluster (scripts/slurm_cluster.sh, Debian's
 * slurm-wlm and munge, daemons as root): the toy study through `--runner slurm` gives artifacts
 * byte-identical to the local runner's; a task that fails once is retried and succeeds; a task
 * that always fails ends the run with an error naming the stage and its Slurm log; a cache the
 * nodes cannot see is refused; Ctrl-C cancels the jobs. Skipped (with a message) when Slurm is not
 * installed or we are not root; .ci/run installs it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeEmbedData } from "./fixtures/slurm/embed_data.ts";
import { missing as requireMissing } from "./helpers/prerequisites.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const STUDY = join(ROOT, "tests/fixtures/slurm/toy_slurm_study.ts");
const EMBED_STUDY = join(ROOT, "tests/fixtures/slurm/embed_slurm_study.ts");
const CLUSTER = join(ROOT, "scripts/slurm_cluster.sh");

function have(cmd: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
const isRoot = Deno.uid() === 0;
const missing = ["slurmctld", "slurmd", "munged", "sbatch", "squeue", "scancel"].filter((c) =>
  !have(c)
);
const skip = missing.length > 0 || !isRoot;
if (skip) {
  console.log(
    `slurm_cluster_test: skipped: ${
      missing.length
        ? `${missing.join(", ")} not installed (scripts/slurm_cluster.sh install)`
        : "not root"
    }`,
  );
}

const dec = new TextDecoder();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function toy(
  args: string[],
  env: Record<string, string>,
  study = STUDY,
): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", study, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function lastJson(
  r: Run,
): { ok: boolean; total: number; stages: { id: string; status: string }[] } {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

/** Every file under `dir` (relative path → bytes). */
async function files(dir: string, sub = ""): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(join(dir, sub))) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory) { for (const [k, v] of await files(dir, rel)) out.set(k, v); }
    else out.set(rel, await Deno.readFile(join(dir, rel)));
  }
  return out;
}

/** Published key folders (not the engine's dot-folders) of a cache. */
async function published(cache: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(cache)) {
    if (!e.isDirectory || e.name.startsWith(".")) continue;
    for (const [k, v] of await files(join(cache, e.name))) out.set(`${e.name}/${k}`, v);
  }
  return out;
}

/** A manifest without the fields that record when and how long a run took. */
function timeless(bytes: Uint8Array): unknown {
  const m = JSON.parse(dec.decode(bytes));
  delete m.started;
  delete m.finished;
  delete m.seconds;
  return m;
}

async function squeueNames(env: Record<string, string>): Promise<string[]> {
  const out = await new Deno.Command("squeue", {
    args: ["--noheader", "--array", "--format=%j|%i|%T"],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return dec.decode(out.stdout).split("\n").filter((l) => l.trim());
}

Deno.test({
  name: "slurm runner on a one-node cluster" + (skip ? " (skipped: no Slurm or not root)" : ""),
  ignore: requireMissing("slurm", !skip),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "atlas-slurm-" });
    const nodeLocal = join(dir, "nodelocal");
    try {
      const up = await new Deno.Command("bash", {
        args: [CLUSTER, "up", join(dir, "cluster"), "--private", nodeLocal],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(up.code, 0, `cluster did not start: ${dec.decode(up.stderr)}`);
      const conf = dec.decode(up.stdout).trim().split("\n").at(-1)!.replace(
        /^export SLURM_CONF=/,
        "",
      );
      const env = { SLURM_CONF: conf };
      const fast = ["--set", "runner.pollSeconds=0.3", "--runner", "slurm"];

      await t.step("artifacts are byte-identical to the local runner's", async () => {
        const a = join(dir, "local");
        const b = join(dir, "slurm");
        const local = lastJson(await toy(["--cache", a, "--set", "n=3", "--json"], env));
        const r = await toy(["--cache", b, "--set", "n=3", "--json", ...fast], env);
        const slurm = lastJson(r);
        assert.equal(slurm.total, 12);
        assert.equal(local.total, 12);
        assert.ok(slurm.stages.every((s) => s.status === "ran"), r.stderr);
        assert.match(r.stderr, /runner slurm/);
        assert.match(r.stderr, /submitted job \d+: 3 task\(s\)/, "one array job per wave");
        const fa = await published(a);
        const fb = await published(b);
        assert.deepEqual([...fb.keys()].sort(), [...fa.keys()].sort());
        assert.equal(fa.size, 7 * 2, "7 key folders, each value.txt + manifest.json");
        for (const [k, bytes] of fa) {
          if (k.endsWith("manifest.json")) assert.deepEqual(timeless(fb.get(k)!), timeless(bytes));
          else assert.deepEqual(fb.get(k), bytes, `${k} differs`);
        }
        // A successful run leaves no task files behind; a second run is all cached (no jobs).
        assert.deepEqual([...Deno.readDirSync(join(b, ".slurm"))], []);
        const again = lastJson(await toy(["--cache", b, "--set", "n=3", "--json", ...fast], env));
        assert.ok(again.stages.every((s) => s.status === "cached"));
      });

      await t.step(
        "embed split into 3 parts, one killed once, merges to the local run's bytes",
        async () => {
          const data = await writeEmbedData(join(dir, "embed-data"));
          const sets = [
            ...["--set", `model=${data.model}`, "--set", `captions=${data.captions}`],
            ...["--set", `images=${data.images}`, "--json"],
          ];
          const a = join(dir, "embed-local");
          const b = join(dir, "embed-slurm");
          const local = lastJson(await toy(["--cache", a, ...sets], env, EMBED_STUDY));
          assert.equal(local.stages[0].status, "ran");
          const marks = await Deno.makeTempDir({ dir });
          const r = await toy(
            [
              ...["--cache", b, ...sets, "--set", "runner.shards.embed=3"],
              ...["--set", "runner.retries=1", ...fast],
            ],
            { ...env, ATLAS_EMBED_KILL_PART: "1", ATLAS_EMBED_KILL_DIR: marks },
            EMBED_STUDY,
          );
          const slurm = lastJson(r);
          assert.equal(slurm.stages[0].status, "ran", r.stderr);
          // The parts in one array, the killed one resubmitted, then the merge as its own job.
          assert.match(r.stderr, /submitted job \d+: 3 task\(s\)/);
          assert.equal(await Deno.readTextFile(join(marks, "killed-once")), "1");
          assert.match(
            r.stderr,
            /resubmitting 1 failed task\(s\), retry 1 of 1: embed\[model=tiny\] shard 2\/3/,
          );
          assert.match(r.stderr, /every part of 1 split instance\(s\) is done; merging/);
          assert.match(r.stderr, /submitted job \d+: 1 task\(s\)/);
          const key = (slurm.stages[0] as unknown as { key: string }).key;
          const file = (c: string) => join(c, "embed", key, "embeddings.parquet");
          assert.deepEqual(await Deno.readFile(file(b)), await Deno.readFile(file(a)));
          // The merge computed nothing: every shard came from the parts.
          const m = JSON.parse(await Deno.readTextFile(join(b, "embed", key, "manifest.json")));
          assert.equal(m.meta.images_per_s, 0);
          assert.equal(m.meta.texts_per_s, 0);
          await assert.rejects(() => Deno.stat(join(b, ".partial", "embed", key)));
        },
      );

      await t.step("a task that fails once is retried and succeeds", async () => {
        const cache = join(dir, "flaky");
        const marks = await Deno.makeTempDir({ dir });
        const r = await toy(
          ["--cache", cache, "--json", "--set", "runner.retries=1", ...fast],
          { ...env, ATLAS_TOY_FAIL_ONCE: "double[i=1]", ATLAS_TOY_FAIL_ONCE_DIR: marks },
        );
        const s = lastJson(r);
        assert.equal(s.total, 6);
        assert.equal(await Deno.readTextFile(join(marks, "failed-once")), "double[i=1]");
        assert.match(r.stderr, /resubmitting 1 failed task\(s\), retry 1 of 1: double\[i=1\]/);
      });

      await t.step(
        "a task that always fails ends the run naming the stage and its log",
        async () => {
          const cache = join(dir, "failing");
          const r = await toy(
            ["--cache", cache, "--set", "failOn=double[i=0]", "--set", "runner.retries=1", ...fast],
            env,
          );
          assert.equal(r.code, 1, r.stderr);
          const err = r.stderr.split("\n").find((l) => l.startsWith("error:"));
          assert.ok(err, r.stderr);
          assert.match(err, /^error: stage double\[i=0\] failed: failed 2 time\(s\) on Slurm/);
          assert.match(err, /toy failure in double\[i=0\]/);
          const log = err.match(/; log (\S+\.log)/)?.[1];
          assert.ok(log, `no log path in: ${err}`);
          assert.match(await Deno.readTextFile(log), /toy failure in double\[i=0\]/);
          assert.match(r.stderr, /last \d+ line\(s\) of .*\.log:\n {2}\| /);
          // The other stages of the wave finished and stay cached; the failed one is not published.
          const dry = lastJson(
            await toy(
              ["--cache", cache, "--set", "failOn=double[i=0]", "--dry-run", "--json"],
              env,
            ),
          );
          const st = Object.fromEntries(dry.stages.map((x) => [x.id, x.status]));
          assert.equal(st["double[i=1]"], "cached");
          assert.equal(st["double[i=0]"], "would-run");
        },
      );

      await t.step("a cache the nodes cannot see is refused", async () => {
        try {
          await Deno.stat(join(dir, "cluster", "run", "private.ok"));
        } catch {
          console.log("skipped: no private mount namespace here (unshare -m), so no unseen cache");
          return;
        }
        const r = await toy(["--cache", join(nodeLocal, "cache"), ...fast], env);
        assert.equal(r.code, 2, r.stderr);
        assert.match(
          r.stderr,
          /^error: runner slurm: the Slurm nodes cannot see the cache .*nodelocal\/cache: probe job \d+/m,
        );
      });

      await t.step("Ctrl-C cancels the run's jobs", async () => {
        const cache = join(dir, "interrupted");
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "--quiet",
            STUDY,
            "--cache",
            cache,
            "--set",
            "sleepMs=60000",
            "--set",
            "runner.jobName=ctrlc",
            ...fast,
          ],
          env,
          stdout: "null",
          stderr: "piped",
        }).spawn();
        let running = false;
        for (let i = 0; i < 200 && !running; i++) {
          await new Promise((r) => setTimeout(r, 100));
          running = (await squeueNames(env)).some((l) => /^ctrlc-.*\|\d+_\d+\|RUNNING$/.test(l));
        }
        assert.ok(running, "an array task of the run is running");
        child.kill("SIGINT");
        const [status, stderr] = await Promise.all([
          child.status,
          new Response(child.stderr).text(),
        ]);
        assert.equal(status.code, 130, stderr);
        assert.match(stderr, /slurm: cancelled job \d+/);
        let left: string[] = [];
        for (let i = 0; i < 50; i++) {
          left = (await squeueNames(env)).filter((l) =>
            l.startsWith("ctrlc-") && !/\|COMPLETING$|CANCELLED/.test(l)
          );
          if (left.length === 0) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.deepEqual(left, [], "no job of the interrupted run is left in the queue");
      });
    } finally {
      await new Deno.Command("bash", { args: [CLUSTER, "down", join(dir, "cluster")] }).output();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
