/**
 * The in-memory embeddings table (design.md "embeddings" artifact), shared by every wing.
 */

/** Modality of an embedding row. */
export type Modality = "image" | "text";

/** Split of an embedding row. */
export type Split = "train" | "eval";

/**
 * n embedding rows of dimension d, columnar.
 * - `vectors`: row-major float32, length n·d, L2-normalised unless the dataset says otherwise.
 * - `ids`: unique row ids; `pairIds`: the image id of each row (a caption carries its image's id).
 * - `modality` and `split` per row; `source` (image path or caption text) is optional display data.
 */
export interface EmbeddingSet {
  n: number;
  d: number;
  vectors: Float32Array;
  ids: string[];
  pairIds: string[];
  modality: Modality[];
  split: Split[];
  source?: (string | null)[];
}
