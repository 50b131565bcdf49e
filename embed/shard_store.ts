/**
 * Resumable embedding shards in a partial folder. A shard is the vectors of a contiguous range of
 * images or captions, in one file written to `<name>.tmp` and renamed: a shard file exists whole
 * or not at all. `plan.json` fingerprints the work list; a different plan clears the folder.
 *
 * File layout (little-endian): "CAES" magic, u32 header length, header JSON
 * `{kind, first, n, d}`, zero padding to a multiple of 4, then n·d float32.
 */

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

/** File name of shard `index` of `kind`. */
export function shardName(kind: ShardKind, index: number): string {
  return `${kind}-${String(index).padStart(6, "0")}.shard`;
}

/** The resumable shard folder of one embed run. */
export class ShardStore {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Open `dir` for the plan fingerprinted by `plan` (any JSON-able value): shards of another plan
   * and stale `.tmp` files are removed.
   */
  static async open(dir: string, plan: unknown): Promise<ShardStore> {
    await Deno.mkdir(dir, { recursive: true });
    const planText = JSON.stringify(plan);
    let old: string | null = null;
    try {
      old = await Deno.readTextFile(`${dir}/plan.json`);
    } catch {
      old = null;
    }
    for await (const e of Deno.readDir(dir)) {
      const stale = e.name.endsWith(".tmp") || (old !== planText && e.name.endsWith(".shard"));
      if (stale) await Deno.remove(`${dir}/${e.name}`);
    }
    if (old !== planText) {
      await Deno.writeTextFile(`${dir}/plan.json.tmp`, planText);
      await Deno.rename(`${dir}/plan.json.tmp`, `${dir}/plan.json`);
    }
    return new ShardStore(dir);
  }

  /** Whether shard `index` of `kind` is complete. */
  async has(kind: ShardKind, index: number): Promise<boolean> {
    try {
      return (await Deno.stat(`${this.dir}/${shardName(kind, index)}`)).isFile;
    } catch {
      return false;
    }
  }

  /** Write a shard atomically. `vectors` is row-major [n, d]. */
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
    const path = `${this.dir}/${shardName(kind, index)}`;
    try {
      await Deno.writeFile(`${path}.tmp`, bytes);
      await Deno.rename(`${path}.tmp`, path);
    } catch (e) {
      await Deno.remove(`${path}.tmp`).catch(() => {});
      throw e;
    }
  }

  /** Read shard `index` of `kind`. */
  async read(kind: ShardKind, index: number): Promise<Shard> {
    const path = `${this.dir}/${shardName(kind, index)}`;
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
