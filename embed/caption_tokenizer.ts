/**
 * Caption tokenisation through transformers.js (`PreTrainedTokenizer` built from the model
 * folder's tokenizer.json + tokenizer_config.json; no network), then padding on the right to the
 * preset's length. Over-long captions are truncated keeping their last special token (the EOS
 * that CLIP-style text towers pool on), as Python transformers does.
 */
import * as transformers from "@huggingface/transformers";
import { UserError } from "../pipeline/errors.ts";
import type { ModelFolder } from "./model_folder.ts";
import type { EncoderPreset } from "./presets.ts";

transformers.env.allowRemoteModels = false;

/** A padded batch of token ids: `ids` and `mask` are row-major [n, length] int64. */
export interface TokenBatch {
  n: number;
  length: number;
  ids: BigInt64Array;
  mask: BigInt64Array;
}

interface HfTokenizer {
  (text: string[], opts: Record<string, unknown>): { input_ids: number[][] };
  pad_token_id?: number;
  all_special_ids: number[];
}

/** Tokenises captions for one model. */
export class CaptionTokenizer {
  #tok: HfTokenizer;
  #preset: EncoderPreset;
  #padId: number;

  private constructor(tok: HfTokenizer, preset: EncoderPreset) {
    this.#tok = tok;
    this.#preset = preset;
    this.#padId = typeof tok.pad_token_id === "number" ? tok.pad_token_id : 0;
  }

  /** Build from a model folder's tokenizer files. Throws {@link UserError} if they are malformed. */
  static create(folder: ModelFolder, preset: EncoderPreset): CaptionTokenizer {
    const name = String(folder.tokenizerConfig.tokenizer_class ?? "PreTrainedTokenizer")
      .replace(/Fast$/, "");
    // deno-lint-ignore no-explicit-any
    const lib = transformers as any;
    const cls = typeof lib[name] === "function" ? lib[name] : lib.PreTrainedTokenizer;
    try {
      return new CaptionTokenizer(new cls(folder.tokenizer, folder.tokenizerConfig), preset);
    } catch (e) {
      throw new UserError(
        `${folder.dir}/tokenizer.json: cannot build the tokenizer (${
          (e as Error).message
        }); re-export it`,
      );
    }
  }

  /** Token sequence length a batch of these captions gets. */
  get maxLength(): number {
    return this.#preset.maxLength;
  }

  /**
   * Tokenise a batch of captions. Each caption must hold non-blank text.
   * @returns ids and attention mask, [n, L] with L = maxLength (padding `max_length`) or the
   * longest caption (padding `longest`, at most maxLength)
   */
  encode(texts: string[]): TokenBatch {
    for (let i = 0; i < texts.length; i++) {
      if (typeof texts[i] !== "string" || texts[i].trim() === "") {
        throw new UserError(`caption ${i} of the batch is empty; remove it or give it text`);
      }
    }
    const input = this.#preset.lowercase ? texts.map((t) => t.toLowerCase()) : texts;
    const enc = this.#tok(input, {
      add_special_tokens: true,
      padding: false,
      truncation: false,
      return_tensor: false,
    });
    const seqs = enc.input_ids;
    const max = this.#preset.maxLength;
    const length = this.#preset.padding === "max_length"
      ? max
      : Math.min(max, Math.max(...seqs.map((s) => s.length)));
    const n = texts.length;
    const ids = new BigInt64Array(n * length).fill(BigInt(this.#padId));
    const mask = new BigInt64Array(n * length);
    const special = new Set(this.#tok.all_special_ids);
    for (let i = 0; i < n; i++) {
      const s = seqs[i];
      const m = Math.min(s.length, length);
      for (let j = 0; j < m; j++) {
        ids[i * length + j] = BigInt(s[j]);
        mask[i * length + j] = 1n;
      }
      const last = s[s.length - 1];
      if (s.length > length && special.has(last)) ids[i * length + length - 1] = BigInt(last);
    }
    return { n, length, ids, mask };
  }
}
