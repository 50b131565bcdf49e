/**
 * Building and loading the native sparse kernels: a fresh folder gets one library (no temporary
 * files left, older builds pruned) that later loads reuse without rebuilding; no compiler, or a compiler that fails,
 * gives null with the reason (the backend then runs its wasm kernels), and asking for the native
 * kernels explicitly then is a one-line error. The build half is ignored without a C compiler.
 */
import assert from "node:assert/strict";
import { buildNativeSparse } from "../kernels/native_sparse.ts";
import { missing } from "./helpers/prerequisites.ts";

async function hasCompiler(): Promise<boolean> {
  try {
    return (await new Deno.Command("cc", { args: ["--version"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

Deno.test("native kernels: no compiler, or one that fails, is refused cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atlas-native-" });
  try {
    const why: string[] = [];
    // no compiler: null and the reason
    const none = await buildNativeSparse({ cc: `${dir}/no-such-cc`, dir, log: (l) => why.push(l) });
    assert.equal(none, null);
    assert.match(why.join("\n"), /no C compiler .*no-such-cc.*install gcc/);
    // a compiler that answers but fails to build: null, the first line of its error
    const fake = `${dir}/fake-cc`;
    await Deno.writeTextFile(
      fake,
      '#!/bin/sh\nif [ "$1" = --version ]; then echo "fake cc 1.0"; exit 0; fi\necho "fake: cannot build" >&2; exit 1\n',
    );
    await Deno.chmod(fake, 0o755);
    why.length = 0;
    assert.equal(await buildNativeSparse({ cc: fake, dir, log: (l) => why.push(l) }), null);
    assert.match(why.join("\n"), /native build failed: fake: cannot build/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["fake-cc"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "native kernels: built once per folder, older builds pruned, reused",
  ignore: missing("cc", await hasCompiler()),
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "atlas-native-" });
  try {
    // a library of an older source in the folder is removed by the new build
    const stale = `${dir}/sparse_kernels-0123456789abcdef.so`;
    await Deno.writeTextFile(stale, "old build");
    const lib = await buildNativeSparse({ dir });
    assert.ok(lib, "built and loaded");
    assert.throws(() => Deno.statSync(stale), "the stale library is pruned");
    assert.match(lib.detail, /^native \(/);
    const built = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.equal(built.length, 1, `one library, no temporary files: ${built}`);
    assert.match(built[0], /^sparse_kernels-[0-9a-f]{16}\.so$/);
    const first = Deno.statSync(`${dir}/${built[0]}`);
    assert.ok(await buildNativeSparse({ dir }), "loads again");
    const again = Deno.statSync(`${dir}/${built[0]}`);
    assert.equal(again.mtime?.getTime(), first.mtime?.getTime(), "not rebuilt");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("native kernels: CONCEPT_ATLAS_NATIVE=0 and a missing compiler in a fresh process", async () => {
  const script = `
    import { createBackend } from "${new URL("../kernels/select.ts", import.meta.url).href}";
    const lines = [];
    const be = await createBackend("cpu", { log: (l) => lines.push(l) });
    console.log(JSON.stringify({ native: be.native !== null, line: lines.at(-1) }));
    be.close();
    try {
      const b2 = await createBackend("cpu", { sparse: "native" });
      b2.close();
      console.log("no error");
    } catch (e) {
      console.log("error: " + e.message);
    }`;
  const run = async (env: Record<string, string>) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", script],
      env,
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim().split("\n");
  };
  const off = await run({ CONCEPT_ATLAS_NATIVE: "0" });
  assert.deepEqual(JSON.parse(off[0]).native, false);
  assert.match(JSON.parse(off[0]).line, /sparse kernels wasm/);
  assert.match(
    off[1],
    /^error: sparse kernels: native kernels unavailable \(.*CONCEPT_ATLAS_NATIVE=0/,
  );
  const noCc = await run({ CONCEPT_ATLAS_CC: "/nonexistent/cc" });
  assert.equal(JSON.parse(noCc[0]).native, false);
  assert.match(noCc[1], /^error: sparse kernels: .*no C compiler.*install gcc/);
});

Deno.test("native kernels: without run/ffi permission, wasm and the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atlas-native-perm-" });
  try {
    const script = `${dir}/probe.ts`;
    const mod = new URL("../kernels/native_sparse.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { buildNativeSparse } from "${mod}";
const lines = [];
const lib = await buildNativeSparse({ dir: "${dir}/cache", log: (l) => lines.push(l) });
console.log(JSON.stringify({ lib: lib !== null, lines }));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", "--allow-env", script],
      stdout: "piped",
      stderr: "null",
    }).output();
    const r = JSON.parse(new TextDecoder().decode(out.stdout).trim());
    assert.equal(r.lib, false);
    assert.deepEqual(r.lines, [
      "sparse kernels: wasm (the native kernels need --allow-run and --allow-ffi)",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
