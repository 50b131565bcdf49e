/**
 * Embedding a {@link PairSet} with a {@link DualEncoder} into resumable shards, then streaming the
 * shards into the embeddings table (images in dataset order, then captions in dataset order).
 * Image decoding of the next batch overlaps inference of the current one.
 */
import type { Progress, ShardPart } from "../pipeline/stage.ts";
import type { Split } from "../data/embeddings.ts";
import { EmbeddingsWriter } from "../data/embeddings_io.ts";
import type { DualEncoder } from "./dual_encoder.ts";
import { loadImage, type PixelBatch } from "./image_preprocessor.ts";
import type { PairSet } from "./pair_source.ts";
import type { ShardKind, ShardStore } from "./shard_store.ts";

/** Options of {@link embedPairs}. */
export interface EmbedPairsOptions {
  store: ShardStore;
  /** Items (images or captions) per shard: the most work an interruption loses. */
  shardSize: number;
  /** Images per ORT run. */
  imageBatch: number;
  /** Captions per ORT run. */
  textBatch: number;
  /** Progress over images + captions (units: items). */
  progress?: Progress;
  /**
   * Compute only this part of the shards ({@link partSlots}); the others are neither computed
   * nor read. Default: every shard.
   */
  part?: ShardPart;
}

/** What {@link embedPairs} did. Rates are items per second of wall time on computed shards. */
export interface EmbedPairsResult {
  d: number;
  shards: { image: number; text: number };
  resumedShards: number;
  computedShards: number;
  imagesPerSecond: number;
  textsPerSecond: number;
}

/** Number of shards of `count` items. */
function shardCount(count: number, size: number): number {
  return Math.ceil(count / size);
}

/** One shard of the work: items `first .. first+n-1` of `kind`, stored as shard `index`. */
export interface ShardSlot {
  kind: ShardKind;
  /** Shard index within its kind. */
  index: number;
  /** First item (image or caption position in the dataset). */
  first: number;
  /** Items in the shard (≤ shardSize). */
  n: number;
}

/**
 * Every shard of a dataset of `nImages` images and `nCaptions` captions, `shardSize` items each:
 * the image shards in order, then the caption shards.
 */
export function shardSlots(nImages: number, nCaptions: number, shardSize: number): ShardSlot[] {
  const out: ShardSlot[] = [];
  for (const [kind, count] of [["image", nImages], ["text", nCaptions]] as const) {
    for (let index = 0; index < shardCount(count, shardSize); index++) {
      const first = index * shardSize;
      out.push({ kind, index, first, n: Math.min(shardSize, count - first) });
    }
  }
  return out;
}

/**
 * The shards of part `index` of `count`: every `count`-th slot starting at `index` (slot j goes to
 * part j mod count), so that every part gets about as many image shards (slow) as caption shards
 * (fast). The parts of one list are disjoint and together cover it.
 */
export function partSlots(slots: ShardSlot[], part: ShardPart): ShardSlot[] {
  const { index, count } = part;
  if (
    !Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count
  ) {
    throw new Error(`shard part ${index} of ${count}: expected 0 ≤ index < count`);
  }
  return slots.filter((_, j) => j % count === index);
}

/**
 * Embed every image and caption of `pairs` (or the shards of `opts.part`) into `opts.store`,
 * skipping complete shards.
 * Errors (an unreadable image, say) propagate as thrown, leaving only complete shards behind.
 * @returns the dimension and counts; d is read from a stored shard when everything was resumed
 *   (0 for a part with no shard)
 */
export async function embedPairs(
  encoder: DualEncoder,
  pairs: PairSet,
  opts: EmbedPairsOptions,
): Promise<EmbedPairsResult> {
  const { store, shardSize, progress } = opts;
  let d = 0;
  let resumed = 0;
  let computed = 0;
  const rate = { image: { n: 0, s: 0 }, text: { n: 0, s: 0 } };
  const extra = () => {
    const f = (r: { n: number; s: number }) => (r.s > 0 ? (r.n / r.s).toFixed(1) : "-");
    return `images/s=${f(rate.image)} texts/s=${f(rate.text)}`;
  };
  const all = shardSlots(pairs.images.length, pairs.captions.length, shardSize);
  const slots = opts.part ? partSlots(all, opts.part) : all;
  for (const { kind, index: s, first, n } of slots) {
    const batch = kind === "image" ? opts.imageBatch : opts.textBatch;
    if (await store.has(kind, s)) {
      resumed++;
      progress?.tick(n, extra());
      continue;
    }
    const t0 = performance.now();
    const out: Float32Array[] = [];
    if (kind === "image") {
      const prepare = async (b0: number): Promise<PixelBatch> => {
        const items = pairs.images.slice(first + b0, first + Math.min(n, b0 + batch));
        const imgs = await Promise.all(items.map((x) => loadImage(x.path)));
        return encoder.images.pixels(imgs);
      };
      let next: Promise<PixelBatch> | null = prepare(0);
      for (let b0 = 0; b0 < n; b0 += batch) {
        const cur: PixelBatch = await next!;
        next = b0 + batch < n ? prepare(b0 + batch) : null;
        next?.catch(() => {}); // awaited on the next turn; keeps it from being "unhandled"
        out.push(await encoder.embedPixels(cur));
        progress?.tick(cur.n, extra());
      }
    } else {
      for (let b0 = 0; b0 < n; b0 += batch) {
        const items = pairs.captions.slice(first + b0, first + Math.min(n, b0 + batch));
        out.push(await encoder.embedTexts(items.map((c) => c.text)));
        progress?.tick(items.length, extra());
      }
    }
    d = encoder.dim!;
    const vectors = new Float32Array(n * d);
    let o = 0;
    for (const v of out) {
      vectors.set(v, o);
      o += v.length;
    }
    await store.write(s, { kind, first, n, d, vectors });
    computed++;
    rate[kind].n += n;
    rate[kind].s += (performance.now() - t0) / 1000;
  }
  // Everything resumed: the dimension is in the stored shards (a part may have none: d stays 0).
  if (d === 0 && slots.length > 0) d = (await store.read(slots[0].kind, slots[0].index)).d;
  return {
    d,
    shards: {
      image: shardCount(pairs.images.length, shardSize),
      text: shardCount(pairs.captions.length, shardSize),
    },
    resumedShards: resumed,
    computedShards: computed,
    imagesPerSecond: rate.image.s > 0 ? rate.image.n / rate.image.s : 0,
    textsPerSecond: rate.text.s > 0 ? rate.text.n / rate.text.s : 0,
  };
}

/** Row ids of the embeddings table: `image:<image id>` and `text:<caption id>`. */
export function embeddingRowId(kind: ShardKind, id: string): string {
  return `${kind}:${id}`;
}

/**
 * Stream the complete shards of `pairs` into an embeddings Parquet table at `path`: image rows
 * (dataset order) then caption rows (dataset order); `pair_id` = image id, `split` from
 * `splitOf(pair id)`, `source` = image path as given / caption text.
 * @returns the number of rows written
 */
export async function writeEmbeddingsFromShards(
  path: string,
  store: ShardStore,
  pairs: PairSet,
  shardSize: number,
  d: number,
  splitOf: (pairId: string) => Split,
): Promise<number> {
  const w = await EmbeddingsWriter.create(path, d, true);
  let rows = 0;
  try {
    for (const kind of ["image", "text"] as const) {
      const count = kind === "image" ? pairs.images.length : pairs.captions.length;
      for (let s = 0; s < shardCount(count, shardSize); s++) {
        const sh = await store.read(kind, s);
        if (sh.d !== d) throw new Error(`shard ${kind} ${s}: dimension ${sh.d} ≠ ${d}`);
        const ids: string[] = [];
        const pairIds: string[] = [];
        const source: string[] = [];
        for (let i = sh.first; i < sh.first + sh.n; i++) {
          if (kind === "image") {
            const im = pairs.images[i];
            ids.push(embeddingRowId("image", im.id));
            pairIds.push(im.id);
            source.push(im.source);
          } else {
            const c = pairs.captions[i];
            ids.push(embeddingRowId("text", c.id));
            pairIds.push(c.imageId);
            source.push(c.text);
          }
        }
        await w.append({
          n: sh.n,
          d,
          vectors: sh.vectors,
          ids,
          pairIds,
          modality: ids.map(() => kind),
          split: pairIds.map(splitOf),
          source,
        });
        rows += sh.n;
      }
    }
  } catch (e) {
    await w.abort();
    throw e;
  }
  await w.close();
  return rows;
}
