/**
 * A local model folder in the Hugging Face / transformers.js layout:
 * `config.json`, `tokenizer.json` (+ optional `tokenizer_config.json`), `preprocessor_config.json`,
 * and either `onnx/vision_model.onnx` + `onnx/text_model.onnx` (split) or `onnx/model.onnx`
 * (combined). Only local files are read here; a hub model is downloaded into such a folder first
 * (embed/hub_download.ts), choosing its files with {@link chooseModelFiles}.
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

/** The files of a model folder a run reads, by `/`-separated name relative to the folder. */
export interface ModelFileChoice {
  layout: "split" | "combined";
  /** Split layout: the two ONNX files; combined: `model` only (relative names). */
  onnx: { vision?: string; text?: string; model?: string };
  /** Every file read, ONNX first, then config.json, tokenizer.json, [tokenizer_config.json], preprocessor_config.json. */
  files: string[];
}

/**
 * Which files of a model folder (or of a hub repository) a run reads, given the names present:
 * the split ONNX pair when both exist, else `model.onnx`, plus the JSON files. Missing ONNX files
 * are a {@link UserError} naming the file (`where` prefixes the names in messages). The JSON files
 * are listed whether present or not (a missing one is reported when it is read), except the
 * optional tokenizer_config.json.
 */
export function chooseModelFiles(
  has: (name: string) => boolean,
  opts: { onnxSubdir?: string; variant?: string; where?: string } = {},
): ModelFileChoice {
  const sub = opts.onnxSubdir ?? "onnx";
  const suffix = opts.variant ? `_${opts.variant}` : "";
  const where = opts.where ?? "";
  const vision = `${sub}/vision_model${suffix}.onnx`;
  const text = `${sub}/text_model${suffix}.onnx`;
  const model = `${sub}/model${suffix}.onnx`;
  const [hasV, hasT, hasM] = [has(vision), has(text), has(model)];
  let layout: "split" | "combined";
  let onnx: ModelFileChoice["onnx"];
  if (hasV && hasT) {
    layout = "split";
    onnx = { vision, text };
  } else if (hasM) {
    layout = "combined";
    onnx = { model };
  } else if (hasV || hasT) {
    throw new UserError(
      `${where}${hasV ? text : vision}: missing (the folder has ${
        hasV ? "the vision" : "the text"
      } model only); export both encoders`,
    );
  } else {
    throw new UserError(
      `${where}${vision}: missing (and no ${where}${model}); export the ONNX encoders as in docs/models.md`,
    );
  }
  const json = ["config.json", "tokenizer.json"];
  if (has("tokenizer_config.json")) json.push("tokenizer_config.json");
  json.push("preprocessor_config.json");
  return { layout, onnx, files: [...Object.values(onnx), ...json] };
}

/** Whether each file exists, for {@link chooseModelFiles} over a local folder. */
function localFiles(dir: string): (name: string) => boolean {
  return (name) => {
    try {
      return Deno.statSync(`${dir}/${name}`).isFile;
    } catch {
      return false;
    }
  };
}

/**
 * The files a run reads from a local model folder (absolute paths by relative name). Throws
 * {@link UserError} when the folder or its ONNX files are missing.
 */
export function modelFolderFiles(
  dir: string,
  opts: { onnxSubdir?: string; variant?: string } = {},
): Record<string, string> {
  checkFolder(dir);
  const choice = chooseModelFiles(localFiles(dir), { ...opts, where: `${dir}/` });
  return Object.fromEntries(choice.files.map((f) => [f, `${dir}/${f}`]));
}

function checkFolder(dir: string): void {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(dir);
  } catch {
    throw new UserError(
      `model folder ${dir} does not exist; set embed.models[].path to a local export`,
    );
  }
  if (!st.isDirectory) {
    throw new UserError(`model path ${dir} is not a folder; point it at the model folder`);
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
  checkFolder(dir);
  const choice = chooseModelFiles(localFiles(dir), { ...opts, where: `${dir}/` });
  const onnx: ModelFolder["onnx"] = Object.fromEntries(
    Object.entries(choice.onnx).map(([k, f]) => [k, `${dir}/${f}`]),
  );
  const layout = choice.layout;
  const configPath = `${dir}/config.json`;
  const preprocessorPath = `${dir}/preprocessor_config.json`;
  const tokenizerConfigPath = `${dir}/tokenizer_config.json`;
  const [config, tokenizer, preprocessor] = await Promise.all([
    readJson(configPath, "config.json"),
    readJson(`${dir}/tokenizer.json`, "tokenizer.json"),
    readJson(preprocessorPath, "preprocessor_config.json"),
  ]);
  const tokenizerConfig = choice.files.includes("tokenizer_config.json")
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
