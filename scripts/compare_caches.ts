/**
 * Compare two caches built from the same configuration: every key folder must exist in both and
 * every artifact's SHA-256 (from the manifests) must be identical. Exit 1 and list differences otherwise.
 * Usage: deno run -A scripts/compare_caches.ts CACHE_A CACHE_B
 */
import { join } from "node:path";

async function manifests(root: string): Promise<Map<string, Record<string, { sha256: string }>>> {
  const out = new Map<string, Record<string, { sha256: string }>>();
  for await (const stage of Deno.readDir(root)) {
    if (!stage.isDirectory || stage.name.startsWith(".")) continue;
    for await (const key of Deno.readDir(join(root, stage.name))) {
      const m = JSON.parse(
        await Deno.readTextFile(join(root, stage.name, key.name, "manifest.json")),
      );
      out.set(`${stage.name}/${key.name} (${m.id})`, m.files);
    }
  }
  return out;
}

if (import.meta.main) {
  const [a, b] = Deno.args;
  if (!a || !b) {
    console.error("error: usage: compare_caches.ts CACHE_A CACHE_B");
    Deno.exit(2);
  }
  const ma = await manifests(a);
  const mb = await manifests(b);
  const problems: string[] = [];
  for (const k of new Set([...ma.keys(), ...mb.keys()])) {
    const fa = ma.get(k);
    const fb = mb.get(k);
    if (!fa || !fb) {
      problems.push(`${k}: only in ${fa ? a : b}`);
      continue;
    }
    for (const f of new Set([...Object.keys(fa), ...Object.keys(fb)])) {
      if (fa[f]?.sha256 !== fb[f]?.sha256) problems.push(`${k}: ${f} differs`);
    }
  }
  if (problems.length) {
    console.error(
      `error: the two runs differ in ${problems.length} artifact(s):\n${problems.join("\n")}`,
    );
    Deno.exit(1);
  }
  const files = [...ma.values()].reduce((s, f) => s + Object.keys(f).length, 0);
  console.log(`reproducible: ${ma.size} stage instances, ${files} artifacts byte-identical`);
}
