/**
 * Embed throughput: images/s and texts/s of the embed stage's work (decode + preprocess +
 * tokenise + ORT + shard writes, `embedPairs`) against the bare ORT session run on the same,
 * already prepared batches (the floor the stage cannot beat). The model is a synthetic dual
 * encoder written in code (embed/testing/tiny_dual_encoder.ts) at a benchmark size, on 64×64
 * PNG images and short captions. Figures: `embed.images_per_s`, `embed.texts_per_s`.
 */
import * as ort from "onnxruntime-node";
import * as transformers from "@huggingface/transformers";
import type { Benchmark, BenchResult } from "./types.ts";
import { Rng } from "../data/random.ts";
import { DualEncoder } from "../embed/dual_encoder.ts";
import { embedPairs } from "../embed/embed_pairs.ts";
import { loadImage, type PixelBatch } from "../embed/image_preprocessor.ts";
import type { PairSet } from "../embed/pair_source.ts";
import { ShardStore } from "../embed/shard_store.ts";
import type { TokenBatch } from "../embed/caption_tokenizer.ts";
import { writeTinyDualEncoder } from "../embed/testing/tiny_dual_encoder.ts";

const WORDS = ["a", "the", "cat", "dog", "on", "mat", "red", "blue", "green", "sky", "house"];

async function best(reps: number, f: () => Promise<void>): Promise<number> {
  let b = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await f();
    b = Math.min(b, (performance.now() - t0) / 1000);
  }
  return b;
}

async function run(opts: { quick: boolean; log: (line: string) => void }): Promise<BenchResult[]> {
  const nImages = opts.quick ? 32 : 128;
  const nTexts = nImages * 5;
  const imageBatch = 32;
  const textBatch = 256;
  const threads = 2;
  const reps = opts.quick ? 2 : 3;
  const dir = await Deno.makeTempDir({ prefix: "embed_bench_" });
  try {
    await writeTinyDualEncoder(`${dir}/model`, {
      imageSize: 64,
      hidden: 512,
      dim: 256,
      words: WORDS,
    });
    const rng = new Rng(1);
    await Deno.mkdir(`${dir}/imgs`);
    const pairs: PairSet = { images: [], captions: [] };
    for (let i = 0; i < nImages; i++) {
      const px = new Uint8ClampedArray(96 * 96 * 3).map(() => rng.int(256));
      const path = `${dir}/imgs/${i}.png`;
      await new transformers.RawImage(px, 96, 96, 3).save(path);
      pairs.images.push({ id: String(i), path, source: `${i}.png` });
      for (let k = 0; k < 5; k++) {
        const len = 5 + rng.int(10);
        const text = Array.from({ length: len }, () => WORDS[rng.int(WORDS.length)]).join(" ");
        pairs.captions.push({ id: `${i}#${k}`, imageId: String(i), text });
      }
    }
    const enc = await DualEncoder.load(`${dir}/model`, { threads });
    // the stage's work, fresh shard folder each repetition
    let rates = { img: 0, txt: 0 };
    let rep = 0;
    await best(reps, async () => {
      const store = await ShardStore.open(`${dir}/partial${rep++}`, { rep });
      const r = await embedPairs(enc, pairs, {
        store,
        shardSize: 1024,
        imageBatch,
        textBatch,
      });
      rates = {
        img: Math.max(rates.img, r.imagesPerSecond),
        txt: Math.max(rates.txt, r.textsPerSecond),
      };
    });
    // bare ORT on the same prepared batches
    const pixelBatches: PixelBatch[] = [];
    for (let b = 0; b < nImages; b += imageBatch) {
      const imgs = await Promise.all(
        pairs.images.slice(b, b + imageBatch).map((x) => loadImage(x.path)),
      );
      pixelBatches.push(await enc.images.pixels(imgs));
    }
    const tokenBatches: TokenBatch[] = [];
    for (let b = 0; b < nTexts; b += textBatch) {
      tokenBatches.push(
        enc.tokenizer.encode(pairs.captions.slice(b, b + textBatch).map((c) => c.text)),
      );
    }
    await enc.release();
    const so: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    };
    const vs = await ort.InferenceSession.create(`${dir}/model/onnx/vision_model.onnx`, so);
    const ts = await ort.InferenceSession.create(`${dir}/model/onnx/text_model.onnx`, so);
    const tImg = await best(reps, async () => {
      for (const p of pixelBatches) {
        await vs.run({ pixel_values: new ort.Tensor("float32", p.data, p.dims) });
      }
    });
    const tTxt = await best(reps, async () => {
      for (const t of tokenBatches) {
        const shape = [t.n, t.length];
        await ts.run({
          input_ids: new ort.Tensor("int64", t.ids, shape),
          attention_mask: new ort.Tensor("int64", t.mask, shape),
        });
      }
    });
    await vs.release();
    await ts.release();
    const bareImg = nImages / tImg;
    const bareTxt = nTexts / tTxt;
    opts.log(
      `embed: stage ${rates.img.toFixed(0)} images/s vs bare ORT ${bareImg.toFixed(0)}; ` +
        `stage ${rates.txt.toFixed(0)} texts/s vs bare ORT ${bareTxt.toFixed(0)} ` +
        `(synthetic 64×64→512→256 encoder, ${threads} threads, best of ${reps})`,
    );
    const common = { threads, model: "synthetic 3·64·64→512→256", best_of: reps };
    return [
      {
        name: "embed.images_per_s",
        value: rates.img,
        unit: "images/s",
        reference: bareImg,
        reference_name: "bare ORT session, same prepared batches",
        ratio: rates.img / bareImg,
        overhead_ms_per_image: 1000 * (1 / rates.img - 1 / bareImg),
        images: nImages,
        batch: imageBatch,
        ...common,
      },
      {
        name: "embed.texts_per_s",
        value: rates.txt,
        unit: "texts/s",
        reference: bareTxt,
        reference_name: "bare ORT session, same token batches",
        ratio: rates.txt / bareTxt,
        overhead_ms_per_text: 1000 * (1 / rates.txt - 1 / bareTxt),
        texts: nTexts,
        batch: textBatch,
        ...common,
      },
    ];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The embed benchmarks. */
export const benchmarks: Benchmark[] = [{ group: "embed", run }];
