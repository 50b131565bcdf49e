/**
 * A local model folder in the Hugging Face / transformers.js layout:
 * `config.json`, `tokenizer.json` (+ optional `tokenizer_config.json`), `preprocessor_config.json`,
 * and either `onnx/vision_model.onnx` + `onnx/text_model.onnx` (split) or `onnx/model.onnx`
 * (combined). Only local files are read; nothing is ever fetched.
 */
import { UserError } from "../pipeline/errors.ts";

/** The files of a model folder, checked to exist, with their JSON parsed. */
export interface ModelFolder {
  /** Absolute folder path. */
  dir: string;
  layout: "split" | "combined";
  /** Split layout: the two ONNX files; combined: `model` only. */
  onnx: { vision?: string; text?: string; model?: string };
  config: Record<string, unknown>;
  configPath: string;
  tokenizer: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  preprocessor: Record<string, unknown>;
  preprocessorPath: string;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function readJson(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new UserError(
      `${path}: ${what} is missing; export the model folder as in docs/models.md`,
    );
  }
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${path}: not a JSON object (${(e as Error).message}); re-export the file`);
  }
}

/**
 * Check and read a model folder. Throws {@link UserError} naming the first missing or malformed
 * file. `onnxSubdir` (default `onnx`) is where the ONNX files live; `variant` selects quantised
 * exports (`vision_model_quantized.onnx`, …) when set to e.g. `quantized`.
 */
export async function openModelFolder(
  dir: string,
  opts: { onnxSubdir?: string; variant?: string } = {},
): Promise<ModelFolder> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(dir);
  } catch {
    throw new UserError(
      `model folder ${dir} does not exist; set embed.models[].path to a local export`,
    );
  }
  if (!st.isDirectory) {
    throw new UserError(`model path ${dir} is not a folder; point it at the model folder`);
  }
  const sub = `${dir}/${opts.onnxSubdir ?? "onnx"}`;
  const suffix = opts.variant ? `_${opts.variant}` : "";
  const vision = `${sub}/vision_model${suffix}.onnx`;
  const text = `${sub}/text_model${suffix}.onnx`;
  const model = `${sub}/model${suffix}.onnx`;
  const [hasV, hasT, hasM] = await Promise.all([isFile(vision), isFile(text), isFile(model)]);
  let layout: "split" | "combined";
  let onnx: ModelFolder["onnx"];
  if (hasV && hasT) {
    layout = "split";
    onnx = { vision, text };
  } else if (hasM) {
    layout = "combined";
    onnx = { model };
  } else if (hasV || hasT) {
    throw new UserError(
      `${hasV ? text : vision}: missing (the folder has ${
        hasV ? "the vision" : "the text"
      } model only); export both encoders`,
    );
  } else {
    throw new UserError(
      `${vision}: missing (and no ${model}); export the ONNX encoders as in docs/models.md`,
    );
  }
  const configPath = `${dir}/config.json`;
  const preprocessorPath = `${dir}/preprocessor_config.json`;
  const tokenizerConfigPath = `${dir}/tokenizer_config.json`;
  const [config, tokenizer, preprocessor] = await Promise.all([
    readJson(configPath, "config.json"),
    readJson(`${dir}/tokenizer.json`, "tokenizer.json"),
    readJson(preprocessorPath, "preprocessor_config.json"),
  ]);
  const tokenizerConfig = (await isFile(tokenizerConfigPath))
    ? await readJson(tokenizerConfigPath, "tokenizer_config.json")
    : {};
  return {
    dir,
    layout,
    onnx,
    config,
    configPath,
    tokenizer,
    tokenizerConfig,
    preprocessor,
    preprocessorPath,
  };
}
