/** Listing a folder's files recursively, in a stable order. */
import { join } from "node:path";

/**
 * Every regular file under `dir` (recursive), as `/`-separated relative name → absolute path, in
 * walk order (entries sorted by name within each folder).
 */
export async function listFolder(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (sub: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(join(dir, sub))) entries.push(e);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory) await walk(rel);
      else if (e.isFile) out[rel] = join(dir, rel);
    }
  };
  await walk("");
  return out;
}
