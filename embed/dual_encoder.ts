/**
 * A vision–language dual encoder run through onnxruntime-node sessions directly: loads a local
 * model folder (see model_folder.ts), resolves its preset, tokenises / preprocesses through
 * transformers.js and returns joint-space embeddings, L2-normalised per the preset.
 */
import * as ort from "onnxruntime-node";
import { UserError } from "../pipeline/errors.ts";
import { CaptionTokenizer, type TokenBatch } from "./caption_tokenizer.ts";
import { ImagePreprocessor, type PixelBatch } from "./image_preprocessor.ts";
import { normalizeRows } from "../data/rows.ts";
import { type ModelFolder, openModelFolder } from "./model_folder.ts";
import { type EncoderPreset, type PresetOverrides, resolvePreset } from "./presets.ts";

/** Options of {@link DualEncoder.load}. */
export interface DualEncoderOptions {
  /** Preset overrides (family, maxLength, image settings, output names, normalisation). */
  overrides?: PresetOverrides;
  /** ORT intra-op threads per session (0 = ORT default, all cores). */
  threads?: number;
  /** Quantised variant suffix of the ONNX files (`quantized` → `vision_model_quantized.onnx`). */
  variant?: string;
}

interface Tower {
  session: ort.InferenceSession;
  path: string;
  output: string;
}

const TEXT_INPUTS = new Set(["input_ids", "attention_mask", "token_type_ids", "position_ids"]);

async function openSession(path: string, threads: number): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(path, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
  } catch (e) {
    throw new UserError(
      `${path}: onnxruntime cannot load it (${
        String((e as Error).message).split("\n")[0]
      }); re-export`,
    );
  }
}

function checkOutput(session: ort.InferenceSession, path: string, name: string, key: string) {
  if (!session.outputNames.includes(name)) {
    throw new UserError(
      `${path}: has no output "${name}" (outputs: ${
        session.outputNames.join(", ")
      }); set embed ${key} to one of them`,
    );
  }
}

function checkInputs(session: ort.InferenceSession, path: string, allowed: Set<string>) {
  for (const name of session.inputNames) {
    if (!allowed.has(name)) {
      throw new UserError(
        `${path}: input "${name}" is not supported (supported: ${
          [...allowed].join(", ")
        }); re-export`,
      );
    }
  }
}

/** A loaded dual encoder. Call {@link DualEncoder.release} when done. */
export class DualEncoder {
  readonly folder: ModelFolder;
  readonly preset: EncoderPreset;
  readonly tokenizer: CaptionTokenizer;
  readonly images: ImagePreprocessor;
  #vision: Tower;
  #text: Tower;
  #combined: boolean;
  #dim: number | null = null;
  #pixelDims: [number, number] | null = null;

  private constructor(
    folder: ModelFolder,
    preset: EncoderPreset,
    vision: Tower,
    text: Tower,
  ) {
    this.folder = folder;
    this.preset = preset;
    this.#vision = vision;
    this.#text = text;
    this.#combined = folder.layout === "combined";
    this.tokenizer = CaptionTokenizer.create(folder, preset);
    this.images = ImagePreprocessor.create(folder, preset);
  }

  /** Open a local model folder. Throws {@link UserError} for missing files or output names. */
  static async load(dir: string, opts: DualEncoderOptions = {}): Promise<DualEncoder> {
    const folder = await openModelFolder(dir, { variant: opts.variant });
    const preset = resolvePreset(
      folder.config,
      folder.configPath,
      opts.overrides,
      folder.tokenizerConfig,
    );
    const threads = opts.threads ?? 0;
    let vision: Tower;
    let text: Tower;
    if (folder.layout === "split") {
      const [vs, ts] = await Promise.all([
        openSession(folder.onnx.vision!, threads),
        openSession(folder.onnx.text!, threads),
      ]);
      vision = { session: vs, path: folder.onnx.vision!, output: preset.outputs.image };
      text = { session: ts, path: folder.onnx.text!, output: preset.outputs.text };
      checkOutput(vs, vision.path, vision.output, "outputs.image");
      checkOutput(ts, text.path, text.output, "outputs.text");
      checkInputs(vs, vision.path, new Set(["pixel_values"]));
      checkInputs(ts, text.path, TEXT_INPUTS);
    } else {
      const s = await openSession(folder.onnx.model!, threads);
      vision = { session: s, path: folder.onnx.model!, output: preset.outputs.combinedImage };
      text = { session: s, path: folder.onnx.model!, output: preset.outputs.combinedText };
      checkOutput(s, vision.path, vision.output, "outputs.combinedImage");
      checkOutput(s, text.path, text.output, "outputs.combinedText");
      checkInputs(s, vision.path, new Set([...TEXT_INPUTS, "pixel_values"]));
    }
    for (const [t, need] of [[vision, "pixel_values"], [text, "input_ids"]] as const) {
      if (!t.session.inputNames.includes(need)) {
        throw new UserError(`${t.path}: has no input "${need}"; re-export the encoder`);
      }
    }
    return new DualEncoder(folder, preset, vision, text);
  }

  /** Embedding dimension d (known after the first batch; null before). */
  get dim(): number | null {
    return this.#dim;
  }

  #textFeeds(session: ort.InferenceSession, tokens: TokenBatch): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    const shape = [tokens.n, tokens.length];
    const meta = new Map(session.inputMetadata.map((m) => [m.name, m]));
    const asType = (name: string, v: BigInt64Array) => {
      const m = meta.get(name);
      const type = m && m.isTensor ? m.type : "int64";
      if (type === "int32") return new ort.Tensor("int32", Int32Array.from(v, Number), shape);
      return new ort.Tensor("int64", v, shape);
    };
    for (const name of session.inputNames) {
      if (name === "input_ids") feeds[name] = asType(name, tokens.ids);
      else if (name === "attention_mask") feeds[name] = asType(name, tokens.mask);
      else if (name === "token_type_ids") {
        feeds[name] = asType(name, new BigInt64Array(tokens.n * tokens.length));
      } else if (name === "position_ids") {
        const p = new BigInt64Array(tokens.n * tokens.length);
        for (let i = 0; i < p.length; i++) p[i] = BigInt(i % tokens.length);
        feeds[name] = asType(name, p);
      }
    }
    return feeds;
  }

  #collect(result: ort.InferenceSession.ReturnType, tower: Tower, n: number): Float32Array {
    const t = result[tower.output];
    if (t.type !== "float32") {
      throw new UserError(`${tower.path}: output "${tower.output}" is ${t.type}, expected float32`);
    }
    if (t.dims.length !== 2 || t.dims[0] !== n) {
      throw new UserError(
        `${tower.path}: output "${tower.output}" has shape [${t.dims}], expected [${n}, d]; choose the pooled embedding output`,
      );
    }
    const d = t.dims[1];
    if (this.#dim !== null && this.#dim !== d) {
      throw new UserError(
        `${this.folder.dir}: image and text outputs differ in dimension (${this.#dim} vs ${d}); check the output names`,
      );
    }
    this.#dim = d;
    const out = new Float32Array(t.data as Float32Array);
    return this.preset.normalize ? normalizeRows(out, n, d) : out;
  }

  #dummyPixels(): ort.Tensor {
    const [h, w] = this.#pixelDims ?? guessPixelDims(this.images.settings);
    return new ort.Tensor("float32", new Float32Array(3 * h * w), [1, 3, h, w]);
  }

  /** Embed preprocessed images. @returns row-major [n, d] float32 */
  async embedPixels(pixels: PixelBatch): Promise<Float32Array> {
    this.#pixelDims = [pixels.dims[2], pixels.dims[3]];
    const s = this.#vision.session;
    const feeds: Record<string, ort.Tensor> = {
      pixel_values: new ort.Tensor("float32", pixels.data, pixels.dims),
    };
    if (this.#combined) {
      Object.assign(feeds, this.#textFeeds(s, this.tokenizer.encode(["a"])));
    }
    const r = await s.run(feeds, [this.#vision.output]);
    return this.#collect(r, this.#vision, pixels.n);
  }

  /** Embed tokenised captions. @returns row-major [n, d] float32 */
  async embedTokens(tokens: TokenBatch): Promise<Float32Array> {
    const s = this.#text.session;
    const feeds = this.#textFeeds(s, tokens);
    if (this.#combined) feeds.pixel_values = this.#dummyPixels();
    const r = await s.run(feeds, [this.#text.output]);
    return this.#collect(r, this.#text, tokens.n);
  }

  /** Tokenise and embed captions. @returns row-major [n, d] float32 */
  embedTexts(texts: string[]): Promise<Float32Array> {
    return this.embedTokens(this.tokenizer.encode(texts));
  }

  /** Release the ORT sessions. */
  async release(): Promise<void> {
    await this.#vision.session.release();
    if (!this.#combined) await this.#text.session.release();
  }
}

function guessPixelDims(s: Record<string, unknown>): [number, number] {
  const crop = s.crop_size as { height?: number; width?: number } | undefined;
  if (s.do_center_crop && crop?.height && crop?.width) return [crop.height, crop.width];
  const size = s.size as { height?: number; width?: number; shortest_edge?: number } | undefined;
  if (size?.height && size?.width) return [size.height, size.width];
  if (size?.shortest_edge) return [size.shortest_edge, size.shortest_edge];
  return [224, 224];
}
