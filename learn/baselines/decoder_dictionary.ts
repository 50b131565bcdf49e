/**
 * The shape shared by the baselines whose model is the dictionary alone (K-means, OMP,
 * Semi-NMF): reconstruction Â = Z·D without a bias, exported as one `W_dec` tensor. Each method
 * brings only its encoder and the config keys that describe it.
 */
import type { Backend } from "../../kernels/backend.ts";
import type { EpochLog, FittedDictionary, HostSparseCodes } from "../learner.ts";
import { sparseDecode } from "./ops.ts";

/** What a decoder-only method supplies. */
export interface DecoderOnlySpec {
  method: string;
  /** D, c×d row-major, unit rows. */
  dict: Float32Array;
  c: number;
  d: number;
  /** Codes of n rows X (n×d). */
  encode(x: Float32Array, n: number, backend: Backend): Promise<HostSparseCodes>;
  /** Method-specific config keys (k, iterations, a one-line `encoder` description, ...). */
  config: Record<string, unknown>;
  log?: EpochLog[];
}

/** A FittedDictionary whose decoder is Z·D and whose weights are `W_dec` (c×d). */
export function decoderOnlyDictionary(spec: DecoderOnlySpec): FittedDictionary {
  const { method, dict, c, d } = spec;
  return {
    method,
    c,
    d,
    dictionary: dict,
    log: spec.log ?? [],
    encode: spec.encode,
    decode(z: HostSparseCodes, backend: Backend): Promise<Float32Array> {
      return sparseDecode(backend, z, dict, d);
    },
    exportWeights() {
      return {
        tensors: { W_dec: { shape: [c, d], data: dict.slice() } },
        config: { method, c, d, ...spec.config, decoder: "x_hat = z @ W_dec" },
      };
    },
  };
}
