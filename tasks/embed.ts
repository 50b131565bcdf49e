/**
 * The `embed` stage: embed an image–caption dataset with one local ONNX dual encoder (CLIP,
 * SigLIP, SigLIP2, AIMv2) into `embeddings.parquet` — the same schema as the `dataset` stage,
 * with `source` filled and a train/eval split by pair. Resumable: finished shards in
 * ctx.partialDir are reused after an interruption. Shardable: a cluster runner may run parts of
 * the work as separate array tasks first (`runShard`); `run` then reuses their shards and only
 * merges, so the table is the same bytes however the work was split.
 *
 * External inputs (their content enters the key, see pipeline/content_hash.ts): `model` (every
 * file of the model folder the run reads; for a hub model the resolved commit and the hub's
 * hashes of those files), `source` (the captions / annotations file) and `images` (every image
 * the dataset names). A hub model is downloaded, verified, into the model cache when it runs.
 */
import { z } from "zod";
import { basename, dirname, resolve } from "node:path";
import type { ExternalInput } from "../pipeline/content_hash.ts";
import { listedNames } from "../pipeline/content_hash.ts";
import type { Progress, ShardPart, Stage, StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { assignSplits } from "../data/splits.ts";
import { DualEncoder } from "../embed/dual_encoder.ts";
import {
  embedPairs,
  type EmbedPairsResult,
  partSlots,
  shardSlots,
  writeEmbeddingsFromShards,
} from "../embed/embed_pairs.ts";
import { type PairSet, readPairSource } from "../embed/pair_source.ts";
import { ShardStore } from "../embed/shard_store.ts";
import { datasetFiles } from "./dataset.ts";
import { modelFolderFiles } from "../embed/model_folder.ts";
import { hubSettingsFromEnv } from "../embed/hub_client.ts";
import { hubFileDigest, resolveHubModel } from "../embed/hub_cache.ts";
import { downloadHubModel } from "../embed/hub_download.ts";
import {
  embedModelSchema,
  embedRunOptionsShape,
  type EmbedSection,
  embedSourceSchema,
} from "./config/embed.ts";

/** Parameters of one embed instance: one model, the dataset, run options. */
export const embedParams = z.strictObject({
  model: embedModelSchema,
  source: embedSourceSchema,
  ...embedRunOptionsShape,
});

/** Validated embed parameters. */
export type EmbedParams = z.infer<typeof embedParams>;

/**
 * Parameters of the embed instance for model `name` of a validated `embed` section.
 * Throws {@link UserError} when the section has no such model or no `source`.
 */
export function embedParamsFor(section: EmbedSection, name: string): EmbedParams {
  const model = section.models.find((m) => m.name === name);
  if (!model) {
    throw new UserError(`embed.models has no model named "${name}"; add it or fix the name`);
  }
  if (!section.source) {
    throw new UserError(`embed.source is missing; set embed.source.format and embed.source.path`);
  }
  return embedParams.parse({
    model,
    source: section.source,
    imageBatch: section.imageBatch,
    textBatch: section.textBatch,
    shardSize: section.shardSize,
    threads: section.threads,
    evalFraction: section.evalFraction,
    seed: section.seed,
  });
}

/** The dataset, the loaded encoder and the shard folder of one embed instance. */
interface EmbedWork {
  pairs: PairSet;
  encoder: DualEncoder;
  store: ShardStore;
  modelPath: string;
}

/** The hub revision an embed instance reads: `revision` (default `main`). */
function hubRevision(p: EmbedParams): string {
  return p.model.revision ?? "main";
}

/**
 * The files an embed instance reads from outside the cache, by role (`model`, `source`,
 * `images`), for the key. A hub model costs one metadata request (none offline or for a cached
 * commit); its files are not downloaded here.
 */
export async function embedExternalInputs(p: EmbedParams): Promise<Record<string, ExternalInput>> {
  const source = resolve(p.source.path);
  const imagesDir = resolve(p.source.images ?? dirname(source));
  const pairs = await readPairSource(p.source);
  const images = new Map<string, string>();
  const name = listedNames(imagesDir);
  for (const im of pairs.images) images.set(name(im.path), im.path);
  let model: ExternalInput;
  if (p.model.hub) {
    const m = await resolveHubModel(
      hubSettingsFromEnv(),
      p.model.hub,
      hubRevision(p),
      p.model.variant,
    );
    const digests: Record<string, string> = { "@commit": m.commit };
    for (const f of m.files) digests[f.name] = hubFileDigest(f);
    model = { path: m.snapshotDir, digests };
  } else {
    const dir = resolve(p.model.path!);
    model = { path: dir, files: modelFolderFiles(dir, { variant: p.model.variant }) };
  }
  return {
    model,
    source: { path: source, files: { [basename(source)]: source } },
    images: { path: imagesDir, files: images },
  };
}

/**
 * The model folder of a hub model, downloaded (verified) into the model cache when missing, with
 * a progress bar; the commit and every file's hashes go into the manifest. `planned` is the
 * snapshot folder the plan resolved (named by its commit), so the run reads exactly the commit
 * that is in the key even if the branch moved since.
 */
async function hubModelFolder(ctx: StageContext<EmbedParams>, planned?: string): Promise<string> {
  const p = ctx.params;
  const settings = hubSettingsFromEnv();
  const repo = p.model.hub!;
  const m = await resolveHubModel(
    settings,
    repo,
    planned ? basename(planned) : hubRevision(p),
    p.model.variant,
  );
  let bar: Progress | null = null;
  const files = await downloadHubModel(settings, m, {
    onStart(bytes, n) {
      if (n === 0) return;
      ctx.log.info(
        `downloading ${n} file(s) of ${repo}@${m.commit.slice(0, 12)} (${
          (bytes / 1e6).toFixed(1)
        } MB) from ${settings.endpoint} into ${settings.modelsDir}`,
      );
      bar = ctx.log.progress(`download ${repo}`, bytes, "bytes");
    },
    onBytes: (n) => bar?.tick(n),
  });
  (bar as Progress | null)?.done();
  ctx.setMeta("hub", {
    repo,
    revision: hubRevision(p),
    commit: m.commit,
    endpoint: settings.endpoint,
  });
  ctx.setMeta(
    "model_files",
    Object.fromEntries(
      Object.entries(files).map((
        [n, f],
      ) => [n, { bytes: f.bytes, sha256: f.sha256, git_sha1: f.gitSha1 }]),
    ),
  );
  return m.snapshotDir;
}

/** Read the dataset, load the encoder and open the shard folder (release the encoder after). */
async function openWork(ctx: StageContext<EmbedParams>): Promise<EmbedWork> {
  const p = ctx.params;
  const modelPath = p.model.hub
    ? await hubModelFolder(ctx, ctx.rawInputs.model)
    : ctx.rawInputs.model ?? p.model.path!;
  const sourcePath = ctx.rawInputs.source ?? p.source.path;
  const pairs = await readPairSource({ ...p.source, path: sourcePath });
  const encoder = await DualEncoder.load(modelPath, {
    threads: p.threads,
    variant: p.model.variant,
    overrides: {
      family: p.model.family,
      maxLength: p.model.maxLength,
      padding: p.model.padding,
      lowercase: p.model.lowercase,
      normalize: p.model.normalize,
      outputs: p.model.outputs,
      image: p.model.image,
    },
  });
  try {
    const store = await ShardStore.open(ctx.partialDir, {
      version: 1,
      images: pairs.images.length,
      captions: pairs.captions.length,
      first: [pairs.images[0]?.id, pairs.captions[0]?.id],
      last: [pairs.images.at(-1)?.id, pairs.captions.at(-1)?.id],
      shardSize: p.shardSize,
    });
    return { pairs, encoder, store, modelPath };
  } catch (e) {
    await encoder.release();
    throw e;
  }
}

/** Embed the pairs (all shards, or those of `part`) with `bar` as progress; closes `bar`. */
async function embedWithProgress(
  p: EmbedParams,
  encoder: DualEncoder,
  pairs: PairSet,
  store: ShardStore,
  bar: Progress,
  part?: ShardPart,
): Promise<EmbedPairsResult> {
  try {
    return await embedPairs(encoder, pairs, {
      store,
      shardSize: p.shardSize,
      imageBatch: p.imageBatch,
      textBatch: p.textBatch,
      progress: bar,
      ...(part ? { part } : {}),
    });
  } finally {
    bar.done();
  }
}

/**
 * Part `part.index` of `part.count` of the work (a cluster array task): embed that part's shards
 * (every `count`-th, see embed/embed_pairs.ts `partSlots`) into ctx.partialDir; `run` then
 * reuses them and writes the table.
 */
async function runShard(ctx: StageContext<EmbedParams>, part: ShardPart): Promise<void> {
  const p = ctx.params;
  const { pairs, encoder, store } = await openWork(ctx);
  try {
    const slots = partSlots(
      shardSlots(pairs.images.length, pairs.captions.length, p.shardSize),
      part,
    );
    const total = slots.reduce((a, s) => a + s.n, 0);
    ctx.log.info(
      `part ${
        part.index + 1
      } of ${part.count}: ${slots.length} shard(s), ${total} item(s) with ${encoder.preset.family}`,
    );
    const bar = ctx.log.progress(`embed part ${part.index + 1}/${part.count}`, total, "items");
    const result = await embedWithProgress(p, encoder, pairs, store, bar, part);
    ctx.log.info(
      `part ${
        part.index + 1
      } of ${part.count}: computed ${result.computedShards}, resumed ${result.resumedShards} shard(s) in ${store.dir}`,
    );
  } finally {
    await encoder.release();
  }
}

async function run(ctx: StageContext<EmbedParams>): Promise<void> {
  const p = ctx.params;
  const { pairs, encoder, store, modelPath } = await openWork(ctx);
  try {
    const total = pairs.images.length + pairs.captions.length;
    ctx.log.info(
      `embedding ${pairs.images.length} images and ${pairs.captions.length} captions with ${encoder.preset.family} (${encoder.folder.layout} ONNX) from ${modelPath}`,
    );
    const bar = ctx.log.progress("embed", total, "items");
    const result = await embedWithProgress(p, encoder, pairs, store, bar);
    if (result.resumedShards > 0) {
      ctx.log.info(`resumed ${result.resumedShards} finished shard(s) from ${ctx.partialDir}`);
    }
    const imageIds = pairs.images.map((x) => x.id);
    const imageSplits = assignSplits(imageIds, p.evalFraction, p.seed);
    const split = new Map(imageIds.map((id, i) => [id, imageSplits[i]]));
    const rows = await writeEmbeddingsFromShards(
      `${ctx.outDir}/${datasetFiles.embeddings}`,
      store,
      pairs,
      p.shardSize,
      result.d,
      (id) => split.get(id)!,
    );
    ctx.setMeta("d", result.d);
    // `n`, as every producer of an embeddings table records it (dataset, diet); `rows` as before.
    ctx.setMeta("n", rows);
    ctx.setMeta("rows", rows);
    ctx.setMeta("n_images", pairs.images.length);
    ctx.setMeta("n_texts", pairs.captions.length);
    ctx.setMeta("family", encoder.preset.family);
    ctx.setMeta("layout", encoder.folder.layout);
    ctx.setMeta("max_length", encoder.preset.maxLength);
    ctx.setMeta("normalized", encoder.preset.normalize);
    ctx.setMeta("images_per_s", result.imagesPerSecond);
    ctx.setMeta("texts_per_s", result.textsPerSecond);
    ctx.setMeta("split_rule", "assignSplits(data/splits.ts)");
  } finally {
    await encoder.release();
  }
}

/**
 * The embed stage (no upstream stages; the dataset and model come from parameters, their files'
 * content enters the key). Version 2: external inputs in the key, hub models.
 */
export const embedStage: Stage<EmbedParams> = {
  name: "embed",
  version: 2,
  description:
    "embed image–caption pairs with an ONNX dual encoder (CLIP/SigLIP/SigLIP2/AIMv2), local or from the hub",
  inputs: {},
  params: embedParams,
  outputs: [datasetFiles.embeddings],
  run,
  runShard,
  externalInputs: embedExternalInputs,
};
