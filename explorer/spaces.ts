/**
 * The embedding spaces of a cache as the explorer sees them (method.md §9): the space of a stage
 * instance (the first `space=` coordinate of its id, or an embed instance's `model=`), the runs of
 * each space, and the `compare` instance when the study compared several spaces.
 */
import type { Atlas, Instance, Run } from "./atlas.ts";

/** The space named in a stage instance id (`train[space=clip,…]`, `embed[model=clip]`), or null. */
export function spaceOfInstanceId(id: string): string | null {
  const m = /^[^[]+\[(?:space|model)=([^,\]]+)/.exec(id);
  return m ? m[1] : null;
}

/** One space of the atlas with its runs (in the atlas order). */
export interface AtlasSpace {
  name: string;
  runs: Run[];
  /** The run to open first: the one with modality and bridge analyses, else the first. */
  main: Run;
}

/** The named spaces of the atlas, in order of first appearance (empty for a single-space study). */
export function atlasSpaces(atlas: Atlas): AtlasSpace[] {
  const by = new Map<string, Run[]>();
  for (const run of atlas.runs) {
    const s = run.space;
    if (!s) continue;
    if (!by.has(s)) by.set(s, []);
    by.get(s)!.push(run);
  }
  const order = compareInstance(atlas)?.params.spaces;
  const names = Array.isArray(order) ? order.map(String).filter((s) => by.has(s)) : [];
  for (const s of by.keys()) if (!names.includes(s)) names.push(s);
  return names.map((name) => {
    const runs = by.get(name)!;
    return { name, runs, main: runs.find((r) => r.bridge && r.modality) ?? runs[0] };
  });
}

/** The `compare` instance of the atlas (the newest when several), or undefined. */
export function compareInstance(atlas: Atlas): Instance | undefined {
  return atlas.instances.filter((i) => i.stage === "compare")
    .sort((a, b) => (a.finished < b.finished ? 1 : -1))[0];
}
