/**
 * The Slurm runner's pieces that need no cluster: the batch scripts (run here with bash, the way
 * Slurm would run them), sbatch flags from the runner section, parsing of sbatch/squeue output,
 * and the runner section's validation.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  arrayScript,
  arraySpec,
  logTail,
  parseJobId,
  parseQueue,
  probeScript,
  sbatchArgs,
  shellQuote,
} from "../pipeline/slurm_script.ts";
import { checkShardable, defaultRunnerSection, runnerSection } from "../pipeline/runner_config.ts";
import { splitWave } from "../pipeline/slurm_shards.ts";
import type { TaskSpec } from "../pipeline/task.ts";
import type { Stage } from "../pipeline/stage.ts";
import { z } from "zod";
import { validate } from "../pipeline/config_loader.ts";
import { UserError } from "../pipeline/errors.ts";
import { createSlurmRunner } from "../pipeline/slurm_runner.ts";

const dec = new TextDecoder();

async function bash(script: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command("bash", {
    args: ["-c", script],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("shellQuote survives bash for awkward words", async () => {
  const words = ["plain", "with space", "it's", `"dq" $HOME \`x\``, "a\nb", "", "-A", "é/ü"];
  const r = await bash(`printf '%s\\0' ${words.map(shellQuote).join(" ")}`);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split("\0").slice(0, -1), words);
});

Deno.test("array script: task i = array index + offset runs run-task and records its exit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A stand-in for the program: prints its arguments as the result line, fails on task 3.
    const fake = join(dir, "fake prog.sh");
    await Deno.writeTextFile(
      fake,
      `#!/bin/bash\necho "log line" >&2\necho "{\\"args\\":\\"$*\\",\\"cwd\\":\\"$(pwd)\\"}"\n[[ "$4" == *task-3.json ]] && exit 7\nexit 0\n`,
    );
    await Deno.chmod(fake, 0o755);
    const script = join(dir, "job.sh");
    await Deno.writeTextFile(
      script,
      arrayScript({ dir, offset: 2, command: [fake, "--flag"], cwd: "/tmp" }),
    );
    for (const idx of [0, 1]) {
      const r = await bash(`bash ${shellQuote(script)}`, { SLURM_ARRAY_TASK_ID: String(idx) });
      assert.equal(r.code, idx === 1 ? 7 : 0, r.stderr);
      assert.match(r.stderr, new RegExp(`task ${idx + 2} on `));
    }
    const res2 = JSON.parse(await Deno.readTextFile(join(dir, "result.2.json")));
    assert.equal(res2.args, `--flag run-task --task ${dir}/task-2.json`);
    assert.equal(res2.cwd, "/tmp");
    assert.equal((await Deno.readTextFile(join(dir, "exit.2"))).trim(), "0");
    assert.equal((await Deno.readTextFile(join(dir, "exit.3"))).trim(), "7");
    assert.ok(![...Deno.readDirSync(dir)].some((e) => e.name.endsWith(".tmp")));
    // Outside an array job the script refuses.
    const none = await bash(`bash ${shellQuote(script)}`);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /not a Slurm array task/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("probe script acknowledges only the right token", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tokenFile = join(dir, "probe.token");
    const ackFile = join(dir, "probe.ack");
    await Deno.writeTextFile(tokenFile, "abc-123");
    const bad = await bash(probeScript({ tokenFile, token: "other", ackFile }));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /cannot read .*probe\.token/);
    await assert.rejects(Deno.stat(ackFile));
    const good = await bash(probeScript({ tokenFile, token: "abc-123", ackFile }));
    assert.equal(good.code, 0, good.stderr);
    assert.ok((await Deno.readTextFile(ackFile)).trim().length > 0);
    const gone = await bash(
      probeScript({ tokenFile: join(dir, "nope"), token: "", ackFile: ackFile + "2" }),
    );
    assert.equal(gone.code, 1, "a missing token file is not an empty token");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sbatch flags follow the runner section", () => {
  const job = {
    name: "atlas-x",
    array: "0-4%2",
    output: "/c/l/%a.log",
    chdir: "/w",
    script: "/c/j.sh",
  };
  assert.deepEqual(sbatchArgs(defaultRunnerSection(), job), [
    "--parsable",
    "--job-name=atlas-x",
    "--output=/c/l/%a.log",
    "--chdir=/w",
    "--cpus-per-task=1",
    "--array=0-4%2",
    "/c/j.sh",
  ]);
  const r = runnerSection.parse({
    kind: "slurm",
    partition: "gpu",
    account: "lab",
    qos: "long",
    timeLimit: "1-02:00:00",
    cpus: 8,
    memory: "32G",
    gres: "gpu:1",
    extraFlags: ["--constraint=a100", "--exclusive"],
  });
  assert.deepEqual(sbatchArgs(r, job).slice(4), [
    "--cpus-per-task=8",
    "--array=0-4%2",
    "--partition=gpu",
    "--account=lab",
    "--qos=long",
    "--time=1-02:00:00",
    "--mem=32G",
    "--gres=gpu:1",
    "--constraint=a100",
    "--exclusive",
    "/c/j.sh",
  ]);
  assert.equal(arraySpec(1, 0), "0-0");
  assert.equal(arraySpec(12, 3), "0-11%3");
  assert.throws(() => arraySpec(0, 0));
});

Deno.test("sbatch and squeue output parsing", () => {
  assert.equal(parseJobId("1234\n"), "1234");
  assert.equal(parseJobId("77;clusterA\n"), "77");
  assert.throws(() => parseJobId("sbatch: error: nope"), /no job id/);
  assert.deepEqual(
    parseQueue("12_0|RUNNING|None\n12_3|PENDING|Resources\n\n13|PENDING|Priority\n"),
    [
      { jobId: "12", taskId: "0", state: "RUNNING", reason: "None" },
      { jobId: "12", taskId: "3", state: "PENDING", reason: "Resources" },
      { jobId: "13", taskId: "", state: "PENDING", reason: "Priority" },
    ],
  );
  assert.deepEqual(logTail("a\n\nb  \nc\n\n", 2), ["b", "c"]);
});

Deno.test("runner section: defaults, and one clear error per bad field", () => {
  const d = defaultRunnerSection();
  assert.equal(d.kind, "local");
  assert.equal(d.retries, 1);
  assert.equal(d.maxArraySize, 1000);
  for (
    const [raw, re] of [
      [{ timeLimit: "2h" }, /key timeLimit: expected a Slurm time/],
      [{ memory: "lots" }, /key memory: expected a Slurm memory size/],
      [{ extraFlags: ["exclusive"] }, /key extraFlags\.0: each extra flag starts with -/],
      [{ kind: "pbs" }, /key kind/],
      [{ retries: -1 }, /key retries/],
      [{ partiton: "x" }, /unknown key partiton; allowed here: kind, partition/],
    ] as const
  ) {
    assert.throws(() => validate(runnerSection, raw, "runner"), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, re);
      assert.equal(e.message.split("\n").length, 1);
      return true;
    });
  }
  for (const t of ["30", "02:00:00", "1-12", "1-12:30", "UNLIMITED"]) {
    assert.equal(runnerSection.parse({ timeLimit: t }).timeLimit, t);
  }
});

Deno.test("createSlurmRunner validates the config's runner section and needs a worker command", async () => {
  const cache = await Deno.makeTempDir();
  try {
    await assert.rejects(
      createSlurmRunner({ cache, config: { runner: { cpus: 0 } }, argv0: ["x"], quiet: true }),
      /the runner section: key cpus/,
    );
    await assert.rejects(
      createSlurmRunner({ cache, config: {}, argv0: [], quiet: true }),
      /no worker command: set runner.command/,
    );
    const r = await createSlurmRunner({
      cache,
      config: { runner: { kind: "slurm", command: ["deno", "run", "main.ts"] } },
      argv0: [],
      quiet: true,
    });
    assert.equal(r.name, "slurm");
    assert.ok(r.runDir.startsWith(join(cache, ".slurm")));
    assert.deepEqual(await r.runWave([]), []);
    await r.close();
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("runner.shards: a split stage's instances become part tasks, then merges; unknown or unshardable stages refused", async () => {
  const spec = (id: string, stage: string): TaskSpec => ({
    id,
    stage,
    key: id.padEnd(64, "0"),
    params: {},
    inputs: {},
    rawInputs: {},
    rawHashes: {},
    options: { backend: "cpu" },
    cache: "/c",
    codeVersion: "v",
    force: false,
  });
  const wave = [spec("embed[a]", "embed"), spec("train[x]", "train"), spec("embed[b]", "embed")];
  const none = splitWave(wave, {});
  assert.deepEqual(none.split, []);
  assert.deepEqual(none.first.map((t) => [t.of, t.label, t.spec.shard]), [
    [0, "embed[a]", undefined],
    [1, "train[x]", undefined],
    [2, "embed[b]", undefined],
  ]);
  assert.deepEqual(splitWave(wave, { embed: 1 }).first.length, 3, "one part: whole");
  const s = splitWave(wave, { embed: 2 });
  assert.deepEqual(s.split, [0, 2]);
  assert.deepEqual(s.first.map((t) => [t.of, t.label, t.spec.shard]), [
    [1, "train[x]", undefined],
    [0, "embed[a] shard 1/2", { index: 0, count: 2 }],
    [0, "embed[a] shard 2/2", { index: 1, count: 2 }],
    [2, "embed[b] shard 1/2", { index: 0, count: 2 }],
    [2, "embed[b] shard 2/2", { index: 1, count: 2 }],
  ]);
  assert.equal(s.first[1].spec.key, wave[0].key, "a part keeps its instance's key");
  assert.equal(wave[0].shard, undefined, "the wave's tasks are not changed");

  const run = () => Promise.resolve();
  const base = { version: 1, description: "", inputs: {}, params: z.object({}), outputs: [], run };
  // deno-lint-ignore no-explicit-any
  const stages = new Map<string, Stage<any>>([
    ["embed", { ...base, name: "embed", runShard: run }],
    ["train", { ...base, name: "train" }],
  ]);
  checkShardable({ embed: 4 }, stages);
  assert.throws(
    () => checkShardable({ train: 2 }, stages),
    (e) =>
      e instanceof UserError &&
      e.message === "runner.shards.train: stage train cannot run in shards; stages that can: embed",
  );
  assert.throws(() => checkShardable({ embd: 2 }, stages), /the study has no stage named embd/);
  assert.equal(runnerSection.parse({ shards: { embed: 8 } }).shards.embed, 8);
  assert.throws(() => runnerSection.parse({ shards: { embed: 0 } }));
  const cache = await Deno.makeTempDir();
  try {
    await assert.rejects(
      createSlurmRunner({
        cache,
        config: { runner: { shards: { train: 3 } } },
        argv0: ["x"],
        quiet: true,
        stages,
      }),
      /runner\.shards\.train: stage train cannot run in shards/,
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
