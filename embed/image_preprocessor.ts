/**
 * Image decoding (JPEG, PNG, WebP through transformers.js `RawImage`, i.e. sharp) and
 * preprocessing (resize, crop, rescale, normalise through transformers.js `ImageProcessor`), with
 * the settings: family preset defaults ← the model's preprocessor_config.json ← user overrides.
 */
import * as transformers from "@huggingface/transformers";
import { UserError } from "../pipeline/errors.ts";
import type { ModelFolder } from "./model_folder.ts";
import type { EncoderPreset } from "./presets.ts";

transformers.env.allowRemoteModels = false;

/** A decoded image (transformers.js RawImage). */
export type DecodedImage = transformers.RawImage;

/** A batch of preprocessed images: row-major float32 [n, 3, height, width]. */
export interface PixelBatch {
  n: number;
  dims: [number, number, number, number];
  data: Float32Array;
}

/**
 * Read and decode one image file. Throws {@link UserError} naming the file when it is missing or
 * cannot be decoded.
 */
export async function loadImage(path: string): Promise<DecodedImage> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch {
    throw new UserError(`image ${path} cannot be read (missing or not a file); fix the path`);
  }
  try {
    const img = await transformers.RawImage.fromBlob(new Blob([bytes as BufferSource]));
    if (img.width < 1 || img.height < 1) throw new Error("empty image");
    return img;
  } catch (e) {
    throw new UserError(
      `image ${path} cannot be decoded (${
        String((e as Error).message ?? e).split("\n")[0]
      }); replace it with a JPEG, PNG or WebP file`,
    );
  }
}

/** Preprocesses decoded images for one model. */
export class ImagePreprocessor {
  // deno-lint-ignore no-explicit-any
  #proc: any;
  /** The effective preprocessor settings (preprocessor_config.json vocabulary). */
  readonly settings: Record<string, unknown>;

  private constructor(settings: Record<string, unknown>) {
    this.settings = settings;
    // deno-lint-ignore no-explicit-any
    const lib = transformers as any;
    const key = String(settings.image_processor_type ?? "ImageProcessor").replace(/Fast$/, "");
    const cls = typeof lib[key] === "function" ? lib[key] : lib.ImageProcessor;
    this.#proc = new cls(settings);
  }

  /** Build from the model folder and preset. */
  static create(folder: ModelFolder, preset: EncoderPreset): ImagePreprocessor {
    const settings: Record<string, unknown> = {
      do_resize: true,
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: true,
      do_convert_rgb: true,
      ...preset.image,
      ...folder.preprocessor,
      ...preset.imageOverrides,
    };
    for (const k of ["image_mean", "image_std"]) {
      const v = settings[k];
      if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === "number")) {
        throw new UserError(
          `${folder.preprocessorPath}: ${k} must be 3 numbers; fix it or override it`,
        );
      }
    }
    return new ImagePreprocessor(settings);
  }

  /** Preprocess a batch of decoded images into one [n,3,H,W] float32 tensor. */
  async pixels(images: DecodedImage[]): Promise<PixelBatch> {
    const out = await this.#proc(images);
    const pv = out.pixel_values;
    const dims = pv.dims as number[];
    if (dims.length !== 4 || dims[0] !== images.length) {
      throw new Error(`image processor returned pixel_values of shape [${dims}]`);
    }
    return {
      n: images.length,
      dims: [dims[0], dims[1], dims[2], dims[3]],
      data: pv.data as Float32Array,
    };
  }
}
