/**
 * Content-addressed stage keys (design.md "The cache"): SHA-256 over the key-scheme version, the
 * stage name and version, the canonical JSON of the resolved parameters, and the keys of the
 * inputs (raw inputs: their content hash). Computed before the stage runs.
 */
import { canonicalJson } from "./canonical_json.ts";
import { sha256Text } from "./hash.ts";

/** Version of the key scheme itself; bumping it invalidates every cache entry. */
export const KEY_SCHEME_VERSION = 1;

/** Everything a key depends on. */
export interface KeyMaterial {
  stage: string;
  version: number;
  params: unknown;
  /** Upstream keys by role (lists for `*` roles, in order). */
  inputs: Record<string, string | string[]>;
  /** SHA-256 of raw input files by role. */
  rawInputs: Record<string, string>;
}

/** The 64-hex key of a stage instance. */
export function stageKey(m: KeyMaterial): string {
  return sha256Text(
    canonicalJson({
      scheme: KEY_SCHEME_VERSION,
      stage: m.stage,
      version: m.version,
      params: m.params,
      inputs: m.inputs,
      raw: m.rawInputs,
    }),
  );
}
