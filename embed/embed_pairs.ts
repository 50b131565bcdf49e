/**
 * Embedding a {@link PairSet} with a {@link DualEncoder} into resumable shards, then streaming the
 * shards into the embeddings table (images in dataset order, then captions in dataset order).
 * Image decoding of the next batch overlaps inference of the current one.
 */
import type { Progress } from "../pipeline/stage.ts";
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

/**
 * Embed every image and caption of `pairs` into `opts.store`, skipping complete shards.
 * Errors (an unreadable image, say) propagate as thrown, leaving only complete shards behind.
 * @returns the dimension and counts; d is read from a stored shard when everything was resumed
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
  const kinds: [ShardKind, number, number][] = [
    ["image", pairs.images.length, opts.imageBatch],
    ["text", pairs.captions.length, opts.textBatch],
  ];
  for (const [kind, count, batch] of kinds) {
    const shards = shardCount(count, shardSize);
    for (let s = 0; s < shards; s++) {
      const first = s * shardSize;
      const n = Math.min(shardSize, count - first);
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
  }
  if (d === 0) d = (await store.read("image", 0)).d;
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
