/**
 * Resumable embedding shards in a partial folder, safe for several writers at once (cluster array
 * tasks of one embed instance on a shared filesystem). A shard is the vectors of a contiguous
 * range of images or captions, in one file.
 *
 * - Each plan (the fingerprint of the work list) has its own folder `plan-<sha256 16 hex>/`, with
 *   its `plan.json` written once (hard-linked into place: the first writer wins, the others read
 *   it). Shards of another plan are never touched (the engine removes the whole partial folder
 *   when the stage publishes).
 * - A shard is written to `<name>.<machine>.<pid>.<random>.tmp` — a name of its writer's own —
 *   and renamed: a shard file exists whole or not at all, and two writers of the same shard (the
 *   same bytes) never remove or truncate each other's file. Opening removes only the temporary
 *   files of dead processes of this machine, and any temporary file untouched for
 *   {@link ABANDONED_TMP_MS}.
 *
 * File layout (little-endian): "CAES" magic, u32 header length, header JSON
 * `{kind, first, n, d}`, zero padding to a multiple of 4, then n·d float32.
 */
import { join } from "node:path";
import { sha256Text } from "../pipeline/hash.ts";
import { processAlive } from "../pipeline/lock.ts";
import { machineTag } from "../pipeline/task.ts";

/** Which items a shard holds. */
export type ShardKind = "image" | "text";

/** A shard read back. `vectors` is row-major [n, d]. */
export interface Shard {
  kind: ShardKind;
  first: number;
  n: number;
  d: number;
  vectors: Float32Array;
}

const MAGIC = 0x53454143; // "CAES"

/** Age (ms) after which a temporary shard file of another machine counts as abandoned. */
export const ABANDONED_TMP_MS = 6 * 3600_000;

/** File name of shard `index` of `kind`. */
export function shardName(kind: ShardKind, index: number): string {
  return `${kind}-${String(index).padStart(6, "0")}.shard`;
}

/** Folder name of the plan fingerprinted by the JSON text `planText`. */
export function planFolderName(planText: string): string {
  return `plan-${sha256Text(planText).slice(0, 16)}`;
}

/** `<machine>.<pid>.<random>`: the writer part of a temporary file name. */
function writerTag(): string {
  return `${machineTag()}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`;
}

/** Write `text` to `path` unless it exists (first writer wins); the file appears whole. */
async function writeOnce(path: string, text: string): Promise<void> {
  const tmp = `${path}.${writerTag()}.tmp`;
  await Deno.writeTextFile(tmp, text);
  try {
    await Deno.link(tmp, path);
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/**
 * Whether a temporary file `name` (in `dir`) was abandoned: its writer is a dead process of this
 * machine, or it has not changed for {@link ABANDONED_TMP_MS}.
 */
async function abandoned(dir: string, name: string): Promise<boolean> {
  const parts = name.split(".");
  // <kind-index>.shard.<machine>.<pid>.<random>.tmp  or  plan.json.<machine>.<pid>.<random>.tmp
  const [machine, pid] = [parts.at(-4), Number(parts.at(-3))];
  if (machine === machineTag() && Number.isInteger(pid) && pid !== Deno.pid && !processAlive(pid)) {
    return true;
  }
  try {
    const m = (await Deno.stat(join(dir, name))).mtime?.getTime() ?? Date.now();
    return Date.now() - m > ABANDONED_TMP_MS;
  } catch {
    return false; // renamed or removed meanwhile
  }
}

/** The resumable shard folder of one embed plan. */
export class ShardStore {
  /** The plan's folder: `<root>/plan-<hash>/`. */
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Open the folder of the plan fingerprinted by `plan` (any JSON-able value) under `root`,
   * creating it and its `plan.json` when needed. Removes abandoned temporary files only; never
   * another writer's live file, never a shard.
   */
  static async open(root: string, plan: unknown): Promise<ShardStore> {
    const planText = JSON.stringify(plan);
    const dir = join(root, planFolderName(planText));
    await Deno.mkdir(dir, { recursive: true });
    await writeOnce(join(dir, "plan.json"), planText);
    const stored = await Deno.readTextFile(join(dir, "plan.json"));
    if (stored !== planText) {
      throw new Error(`${dir}/plan.json holds another plan (hash collision?); remove ${dir}`);
    }
    for await (const e of Deno.readDir(dir)) {
      if (e.name.endsWith(".tmp") && await abandoned(dir, e.name)) {
        await Deno.remove(join(dir, e.name)).catch(() => {});
      }
    }
    return new ShardStore(dir);
  }

  /** Whether shard `index` of `kind` is complete. */
  async has(kind: ShardKind, index: number): Promise<boolean> {
    try {
      return (await Deno.stat(join(this.dir, shardName(kind, index)))).isFile;
    } catch {
      return false;
    }
  }

  /**
   * Write a shard atomically through a temporary file of this writer's own. `vectors` is
   * row-major [n, d]. Another writer of the same shard may finish first; the last rename wins
   * and both wrote the same bytes.
   */
  async write(index: number, shard: Shard): Promise<void> {
    const { kind, first, n, d, vectors } = shard;
    if (vectors.length !== n * d) throw new Error(`shard ${index}: ${vectors.length} ≠ ${n}·${d}`);
    const header = new TextEncoder().encode(JSON.stringify({ kind, first, n, d }));
    const pad = (4 - ((8 + header.length) % 4)) % 4;
    const bytes = new Uint8Array(8 + header.length + pad + vectors.byteLength);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, header.length, true);
    bytes.set(header, 8);
    bytes.set(
      new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength),
      8 + header.length + pad,
    );
    const path = join(this.dir, shardName(kind, index));
    const tmp = `${path}.${writerTag()}.tmp`;
    try {
      await Deno.writeFile(tmp, bytes);
      await Deno.rename(tmp, path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  }

  /** Read shard `index` of `kind`. */
  async read(kind: ShardKind, index: number): Promise<Shard> {
    const path = join(this.dir, shardName(kind, index));
    const bytes = await Deno.readFile(path);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 8 || view.getUint32(0, true) !== MAGIC) {
      throw new Error(`${path}: not a shard`);
    }
    const hl = view.getUint32(4, true);
    const h = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hl)));
    const off = 8 + hl + ((4 - ((8 + hl) % 4)) % 4);
    const vectors = new Float32Array(bytes.slice(off).buffer);
    if (h.kind !== kind || vectors.length !== h.n * h.d) throw new Error(`${path}: corrupt shard`);
    return { kind, first: h.first, n: h.n, d: h.d, vectors };
  }

  /** Names of the complete shard files present (sorted). */
  async list(): Promise<string[]> {
    const names: string[] = [];
    for await (const e of Deno.readDir(this.dir)) if (e.name.endsWith(".shard")) names.push(e.name);
    return names.sort();
  }
}
