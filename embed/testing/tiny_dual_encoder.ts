/**
 * A tiny dual encoder with known weights, written as a model folder in the transformers.js layout
 * (config.json, tokenizer.json, tokenizer_config.json, preprocessor_config.json, onnx/*.onnx).
 * Used by the embed tests (checked against an independent TypeScript computation) and the embed
 * benchmark. The network:
 *
 * - vision: pixel_values [B,3,S,S] → flatten [B,3·S·S] → ·Wv [3SS,h] + bv → tanh → ·Pv [h,d]
 * - text: input_ids [B,L] → E[ids] [B,L,h] → Σ_l mask[b,l]·E[ids[b,l]] → tanh → ·Pt [h,d]
 *
 * Tokenizer: lowercase, whitespace split, whole-word vocabulary (`<pad>`=0, `<unk>`=1, `<s>`=2,
 * `</s>`=3, then `words`), template `<s> A </s>`.
 */
import { Rng } from "../../data/random.ts";
import { encodeOnnxModel, type OnnxGraph, type OnnxNode, OnnxType } from "./onnx_proto.ts";

/** Options of {@link writeTinyDualEncoder}. */
export interface TinyDualEncoderOptions {
  /** Image side S in pixels (the preprocessor resizes to S×S). Default 8. */
  imageSize?: number;
  /** Hidden width h. Default 16. */
  hidden?: number;
  /** Output dimension d. Default 6. */
  dim?: number;
  /** Extra vocabulary words (after the 4 special tokens). */
  words?: string[];
  /** `model_type` written to config.json. Default `clip`. */
  modelType?: string;
  /** `split`: onnx/vision_model.onnx + onnx/text_model.onnx; `combined`: onnx/model.onnx. */
  layout?: "split" | "combined";
  /** Output names (split layout: per model; combined: both in one graph). */
  imageOutput?: string;
  textOutput?: string;
  /** Whether the text graph takes `attention_mask` (else it sums over every position). */
  textUsesMask?: boolean;
  /** Per-channel mean and std written to preprocessor_config.json. */
  imageMean?: [number, number, number];
  imageStd?: [number, number, number];
  /** Whether tokenizer.json lowercases (a `Lowercase` normalizer). Default true. */
  lowercaseNormalizer?: boolean;
  /** Weight seed. Default 7. */
  seed?: number;
}

/** The weights written, row-major float32, for an independent reference computation. */
export interface TinyDualEncoderWeights {
  imageSize: number;
  hidden: number;
  dim: number;
  /** [3·S·S, h] */
  wv: Float32Array;
  /** [h] */
  bv: Float32Array;
  /** [h, d] */
  pv: Float32Array;
  /** [V, h] */
  emb: Float32Array;
  /** [h, d] */
  pt: Float32Array;
  /** vocabulary: token → id */
  vocab: Record<string, number>;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  textUsesMask: boolean;
}

const DEFAULT_WORDS = [
  "a",
  "an",
  "the",
  "cat",
  "dog",
  "on",
  "mat",
  "red",
  "blue",
  "green",
  "square",
  "sky",
  "over",
  "house",
  "sits",
  "runs",
  "photo",
  "of",
];

function vision(w: TinyDualEncoderWeights, output: string): OnnxGraph {
  const s = w.imageSize;
  return {
    name: "vision",
    inputs: [{ name: "pixel_values", elemType: OnnxType.FLOAT, dims: ["image_batch", 3, s, s] }],
    outputs: [{ name: output, elemType: OnnxType.FLOAT, dims: ["image_batch", w.dim] }],
    initializers: [
      { name: "Wv", dims: [3 * s * s, w.hidden], data: w.wv },
      { name: "bv", dims: [w.hidden], data: w.bv },
      { name: "Pv", dims: [w.hidden, w.dim], data: w.pv },
    ],
    nodes: [
      {
        opType: "Flatten",
        inputs: ["pixel_values"],
        outputs: ["v_flat"],
        attributes: { axis: { i: 1 } },
      },
      { opType: "MatMul", inputs: ["v_flat", "Wv"], outputs: ["v_h"] },
      { opType: "Add", inputs: ["v_h", "bv"], outputs: ["v_hb"] },
      { opType: "Tanh", inputs: ["v_hb"], outputs: ["v_t"] },
      { opType: "MatMul", inputs: ["v_t", "Pv"], outputs: [output] },
    ],
  };
}

function text(w: TinyDualEncoderWeights, output: string): OnnxGraph {
  const V = Object.keys(w.vocab).length;
  const nodes: OnnxNode[] = [
    {
      opType: "Gather",
      inputs: ["E", "input_ids"],
      outputs: ["t_e"],
      attributes: { axis: { i: 0 } },
    },
  ];
  let summed = "t_e";
  const inputs = [{ name: "input_ids", elemType: OnnxType.INT64, dims: ["text_batch", "seq"] }];
  if (w.textUsesMask) {
    inputs.push({ name: "attention_mask", elemType: OnnxType.INT64, dims: ["text_batch", "seq"] });
    nodes.push(
      {
        opType: "Cast",
        inputs: ["attention_mask"],
        outputs: ["t_mf"],
        attributes: { to: { i: 1 } },
      },
      { opType: "Unsqueeze", inputs: ["t_mf", "axes2"], outputs: ["t_m3"] },
      { opType: "Mul", inputs: ["t_e", "t_m3"], outputs: ["t_em"] },
    );
    summed = "t_em";
  }
  nodes.push(
    {
      opType: "ReduceSum",
      inputs: [summed, "axes1"],
      outputs: ["t_s"],
      attributes: { keepdims: { i: 0 } },
    },
    { opType: "Tanh", inputs: ["t_s"], outputs: ["t_t"] },
    { opType: "MatMul", inputs: ["t_t", "Pt"], outputs: [output] },
  );
  return {
    name: "text",
    inputs,
    outputs: [{ name: output, elemType: OnnxType.FLOAT, dims: ["text_batch", w.dim] }],
    initializers: [
      { name: "E", dims: [V, w.hidden], data: w.emb },
      { name: "Pt", dims: [w.hidden, w.dim], data: w.pt },
      { name: "axes1", dims: [1], data: new BigInt64Array([1n]) },
      { name: "axes2", dims: [1], data: new BigInt64Array([2n]) },
    ],
    nodes,
  };
}

/**
 * Write the tiny dual encoder's model folder into `dir` (created if absent).
 * @returns the weights, for an independent reference computation
 */
export async function writeTinyDualEncoder(
  dir: string,
  opts: TinyDualEncoderOptions = {},
): Promise<TinyDualEncoderWeights> {
  const s = opts.imageSize ?? 8;
  const h = opts.hidden ?? 16;
  const d = opts.dim ?? 6;
  const rng = new Rng(opts.seed ?? 7);
  const words = opts.words ?? DEFAULT_WORDS;
  const vocab: Record<string, number> = { "<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3 };
  for (const word of words) if (!(word in vocab)) vocab[word] = Object.keys(vocab).length;
  const V = Object.keys(vocab).length;
  const w: TinyDualEncoderWeights = {
    imageSize: s,
    hidden: h,
    dim: d,
    wv: rng.fillNormal(new Float32Array(3 * s * s * h), 1 / Math.sqrt(3 * s * s)),
    bv: rng.fillNormal(new Float32Array(h), 0.1),
    pv: rng.fillNormal(new Float32Array(h * d), 1 / Math.sqrt(h)),
    emb: rng.fillNormal(new Float32Array(V * h), 0.5),
    pt: rng.fillNormal(new Float32Array(h * d), 1 / Math.sqrt(h)),
    vocab,
    imageMean: opts.imageMean ?? [0.48, 0.46, 0.41],
    imageStd: opts.imageStd ?? [0.27, 0.26, 0.28],
    textUsesMask: opts.textUsesMask ?? true,
  };
  const layout = opts.layout ?? "split";
  const imageOutput = opts.imageOutput ?? "image_embeds";
  const textOutput = opts.textOutput ?? "text_embeds";
  await Deno.mkdir(`${dir}/onnx`, { recursive: true });
  if (layout === "split") {
    await Deno.writeFile(`${dir}/onnx/vision_model.onnx`, encodeOnnxModel(vision(w, imageOutput)));
    await Deno.writeFile(`${dir}/onnx/text_model.onnx`, encodeOnnxModel(text(w, textOutput)));
  } else {
    const v = vision(w, imageOutput);
    const t = text(w, textOutput);
    await Deno.writeFile(
      `${dir}/onnx/model.onnx`,
      encodeOnnxModel({
        name: "dual",
        inputs: [...t.inputs, ...v.inputs],
        outputs: [...v.outputs, ...t.outputs],
        initializers: [...v.initializers, ...t.initializers],
        nodes: [...v.nodes, ...t.nodes],
      }),
    );
  }
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<pad>"), special(1, "<unk>"), special(2, "<s>"), special(3, "</s>")],
    normalizer: opts.lowercaseNormalizer === false ? null : { type: "Lowercase" },
    pre_tokenizer: { type: "WhitespaceSplit" },
    post_processor: {
      type: "TemplateProcessing",
      single: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "</s>", type_id: 0 } },
      ],
      pair: [],
      special_tokens: {
        "<s>": { id: "<s>", ids: [2], tokens: ["<s>"] },
        "</s>": { id: "</s>", ids: [3], tokens: ["</s>"] },
      },
    },
    decoder: null,
    model: {
      type: "WordPiece",
      unk_token: "<unk>",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab,
    },
  };
  const json = (x: unknown) => JSON.stringify(x, null, 1);
  await Deno.writeTextFile(`${dir}/tokenizer.json`, json(tokenizer));
  await Deno.writeTextFile(
    `${dir}/tokenizer_config.json`,
    json({
      tokenizer_class: "PreTrainedTokenizer",
      pad_token: "<pad>",
      unk_token: "<unk>",
      bos_token: "<s>",
      eos_token: "</s>",
      model_max_length: 77,
    }),
  );
  await Deno.writeTextFile(
    `${dir}/preprocessor_config.json`,
    json({
      image_processor_type: "CLIPImageProcessor",
      do_resize: true,
      size: { height: s, width: s },
      do_center_crop: false,
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: true,
      image_mean: w.imageMean,
      image_std: w.imageStd,
      do_convert_rgb: true,
      resample: 3,
    }),
  );
  await Deno.writeTextFile(
    `${dir}/config.json`,
    json({ model_type: opts.modelType ?? "clip", projection_dim: d }),
  );
  return w;
}
