/**
 * Encoder presets per model family (CLIP, SigLIP, SigLIP2, AIMv2): tokenizer length and padding,
 * image preprocessing defaults, ONNX output tensor names, normalisation. The family is read from
 * the model folder's `config.json` (`model_type`) and every field can be overridden.
 */
import { UserError } from "../pipeline/errors.ts";

/** Known model families. */
export type EncoderFamily = "clip" | "siglip" | "siglip2" | "aimv2";

/** Every family this module knows. */
export const ENCODER_FAMILIES: readonly EncoderFamily[] = ["clip", "siglip", "siglip2", "aimv2"];

/**
 * Image preprocessing settings, in the `preprocessor_config.json` vocabulary of transformers
 * (`size` {shortest_edge} or {height,width} in pixels, `crop_size`, `image_mean`/`image_std` per
 * RGB channel on the 0..1 scale, `resample` PIL code: 2 bilinear, 3 bicubic).
 */
export interface ImageSettings {
  size?: { shortest_edge?: number; height?: number; width?: number };
  do_center_crop?: boolean;
  crop_size?: { height: number; width: number };
  image_mean?: number[];
  image_std?: number[];
  resample?: number;
  do_resize?: boolean;
  do_rescale?: boolean;
  rescale_factor?: number;
  do_normalize?: boolean;
  do_convert_rgb?: boolean;
}

/** A resolved encoder preset. */
export interface EncoderPreset {
  family: EncoderFamily;
  /** Token sequence length (tokens, including special tokens). */
  maxLength: number;
  /** `max_length`: pad every caption to maxLength; `longest`: to the longest in the batch. */
  padding: "max_length" | "longest";
  /** Lowercase captions before tokenising (SigLIP2 was trained on lowercased text). */
  lowercase: boolean;
  /** Defaults for image preprocessing, used where preprocessor_config.json is silent. */
  image: ImageSettings;
  /** User overrides of image preprocessing: win over preprocessor_config.json. */
  imageOverrides: ImageSettings;
  /** Output tensor names: split layout (vision_model/text_model) and combined model.onnx. */
  outputs: { image: string; text: string; combinedImage: string; combinedText: string };
  /** L2-normalise every output vector (method.md §1; default true). */
  normalize: boolean;
}

/** Overrides of a preset (any subset; `image` fields merge over the model's own file). */
export interface PresetOverrides {
  family?: EncoderFamily;
  maxLength?: number;
  padding?: "max_length" | "longest";
  lowercase?: boolean;
  image?: ImageSettings;
  outputs?: Partial<EncoderPreset["outputs"]>;
  normalize?: boolean;
}

const OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_STD = [0.26862954, 0.26130258, 0.27577711];
const HALF = [0.5, 0.5, 0.5];

/** CLIP's recipe (OpenAI): 224² centre crop, OpenAI mean/std, bicubic; `*_embeds` outputs. */
const OPENAI_RECIPE: Omit<EncoderPreset, "family"> = {
  maxLength: 77,
  padding: "max_length",
  lowercase: false,
  image: {
    size: { shortest_edge: 224 },
    do_center_crop: true,
    crop_size: { height: 224, width: 224 },
    image_mean: OPENAI_MEAN,
    image_std: OPENAI_STD,
    resample: 3,
  },
  outputs: {
    image: "image_embeds",
    text: "text_embeds",
    combinedImage: "image_embeds",
    combinedText: "text_embeds",
  },
  normalize: true,
  imageOverrides: {},
};

/** SigLIP's recipe: 224² resize without crop, mean/std 0.5, bilinear; pooled outputs. */
const SIGLIP_RECIPE: Omit<EncoderPreset, "family"> = {
  maxLength: 64,
  padding: "max_length",
  lowercase: false,
  image: {
    size: { height: 224, width: 224 },
    do_center_crop: false,
    image_mean: HALF,
    image_std: HALF,
    resample: 2,
  },
  outputs: {
    image: "pooler_output",
    text: "pooler_output",
    combinedImage: "image_embeds",
    combinedText: "text_embeds",
  },
  normalize: true,
  imageOverrides: {},
};

/** Built-in presets (read-only: callers get copies). AIMv2 uses CLIP's recipe; SigLIP2 lowercases. */
const PRESETS: Record<EncoderFamily, EncoderPreset> = {
  clip: { family: "clip", ...OPENAI_RECIPE },
  siglip: { family: "siglip", ...SIGLIP_RECIPE },
  siglip2: { family: "siglip2", ...SIGLIP_RECIPE, lowercase: true },
  aimv2: { family: "aimv2", ...OPENAI_RECIPE },
};

/**
 * The family named by a `config.json` object (`model_type`, else `architectures`), or null.
 * `clip`, `clip_vision_model`… → clip; `siglip` → siglip; `siglip2` → siglip2; `aimv2…` → aimv2.
 * The fixed-resolution SigLIP2 checkpoints declare `model_type: siglip`; they are told apart by
 * their Gemma tokenizer (`tokenizer_class` of tokenizer_config.json, when given).
 */
export function detectFamily(
  config: Record<string, unknown>,
  tokenizerConfig: Record<string, unknown> = {},
): EncoderFamily | null {
  const family = detectFromConfig(config);
  const tc = String(tokenizerConfig.tokenizer_class ?? "").toLowerCase();
  if (family === "siglip" && tc.startsWith("gemma")) return "siglip2";
  return family;
}

function detectFromConfig(config: Record<string, unknown>): EncoderFamily | null {
  const names: string[] = [];
  if (typeof config.model_type === "string") names.push(config.model_type.toLowerCase());
  if (Array.isArray(config.architectures)) {
    for (const a of config.architectures) if (typeof a === "string") names.push(a.toLowerCase());
  }
  for (const n of names) {
    if (n.startsWith("siglip2")) return "siglip2";
    if (n.startsWith("siglip")) return "siglip";
    if (n.startsWith("aimv2")) return "aimv2";
    if (n.startsWith("clip") && !n.startsWith("clipseg")) return "clip";
  }
  return null;
}

/**
 * Resolve the preset of a model: the family from `overrides.family`, else from `config.json`
 * (and tokenizer_config.json);
 * then the overrides applied over the family defaults.
 * @param config parsed config.json of the model folder
 * @param configPath its path (named in errors)
 */
export function resolvePreset(
  config: Record<string, unknown>,
  configPath: string,
  overrides: PresetOverrides = {},
  tokenizerConfig: Record<string, unknown> = {},
): EncoderPreset {
  const family = overrides.family ?? detectFamily(config, tokenizerConfig);
  if (family === null) {
    throw new UserError(
      `${configPath}: model_type ${JSON.stringify(config.model_type ?? null)} is not one of ${
        ENCODER_FAMILIES.join(", ")
      }; set embed family explicitly`,
    );
  }
  if (!ENCODER_FAMILIES.includes(family)) {
    throw new UserError(
      `embed family "${family}" is unknown; use one of ${ENCODER_FAMILIES.join(", ")}`,
    );
  }
  const base = PRESETS[family];
  const preset: EncoderPreset = {
    family,
    maxLength: overrides.maxLength ?? base.maxLength,
    padding: overrides.padding ?? base.padding,
    lowercase: overrides.lowercase ?? base.lowercase,
    image: { ...base.image },
    imageOverrides: { ...(overrides.image ?? {}) },
    outputs: { ...base.outputs, ...(overrides.outputs ?? {}) },
    normalize: overrides.normalize ?? base.normalize,
  };
  if (!Number.isInteger(preset.maxLength) || preset.maxLength < 2) {
    throw new UserError(`embed maxLength ${preset.maxLength} must be an integer ≥ 2`);
  }
  return preset;
}

/** The built-in preset of a family (a copy). */
export function familyPreset(family: EncoderFamily): EncoderPreset {
  return structuredClone(PRESETS[family]);
}
