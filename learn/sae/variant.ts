/**
 * What an SAE variant declares (one file per variant under learn/sae/variants/, listed once in
 * learn/sae/variants/mod.ts): its name, its option keys, its inference rule, and the per-run
 * hooks the shared training core (learn/sae/trainer.ts) calls — the sparsifier, the extra
 * gradient terms and the threshold handling. A hook left out means "nothing extra".
 */
import type { z } from "zod";
import type { RowSelection, Tensor } from "../../kernels/backend.ts";
import type { SaeRun } from "./trainer.ts";
import type { CoreOptions } from "./options.ts";

/**
 * Inference rule of a trained SAE (exported as `encoding` in config.json): `relu` keeps
 * pre > 0; `topk_per_row` the k largest per row; `global_threshold` pre > θ (one θ);
 * `per_concept_threshold` pre > θ_j.
 */
export type SaeEncoding = "relu" | "topk_per_row" | "global_threshold" | "per_concept_threshold";

/** One SAE variant. `S` is the zod shape of its own options, `N` its name. */
export interface SaeVariant<S extends z.ZodRawShape = z.ZodRawShape, N extends string = string> {
  /** Method name (`train.methods`, config.json `method`). */
  readonly name: N;
  /**
   * Its option keys beyond the shared ones of learn/sae/options.ts (each with a default). Keys
   * shared with another variant (the controllers, the running threshold) are the same schema.
   */
  readonly options: S;
  /** Inference rule; it also fixes the exported `threshold` tensor's shape. */
  readonly encoding: SaeEncoding;
  /** Codes per row in training: at most `k` (the top-k family) or up to `c` (thresholds). */
  readonly codesPerRow: "k" | "c";
  /**
   * Per-run state and hooks for one training run (called once, after the core's parameters),
   * with the run's validated options (the shared ones and this variant's).
   */
  start(run: SaeRun, o: CoreOptions & z.infer<z.ZodObject<S>>): VariantRun;
}

/** The hooks of one run of a variant (see learn/sae/trainer.ts for where each is called). */
export interface VariantRun {
  /** Number P of reconstructions in the loss (matryoshka's prefixes); 1 when left out. */
  readonly terms?: number;
  /**
   * Whether the codes come from a fused encoder op (`Backend.encodeBatchTopk`,
   * `Backend.encodeTopkRows`, which may screen a bfloat16 product): then the core skips the
   * float32 pre-activation GEMM, and the op also makes AuxK's selection of dead concepts.
   */
  readonly fusedEncoder?: boolean;
  /** Before the first step, with a seeded batch (host copy) — e.g. scale a penalty to the data. */
  init?(batch: Float32Array): Promise<void>;
  /**
   * The sparsifier at 0-based step `t`: codes `run.z` from `run.pre`, or with
   * {@link VariantRun.fusedEncoder} from the fused encoder op, which then also makes the
   * selection `aux` when given (AuxK's dead concepts; always null for the other variants).
   */
  sparsify(t: number, aux: RowSelection | null): void;
  /** Per-entry weights (f32 [capacity]) counted as "fired" (default: every kept entry). */
  firedWeights?(): Tensor;
  /** Extra statistics of the step's sparse codes (e.g. relu's ℓ1). */
  codeStats?(): void;
  /**
   * Extra reconstruction terms before the full one (matryoshka's partial prefixes): it sets ∂D
   * (which the full term then accumulates into; without this hook the full term writes ∂D) and
   * adds into `gBdRow` and `run.vals`; returns where the full term's g_ij go (default `run.vals`).
   */
  beforeResidual?(gBdRow: Tensor | null): Tensor;
  /** After the full reconstruction, with the tensor {@link VariantRun.beforeResidual} returned. */
  afterResidual?(vFull: Tensor): void;
  /** Extra terms of ∂pre on the kept entries (`vals`, f32 [capacity]) before ∂W and ∂b_enc. */
  codeGradient?(vals: Tensor): void;
  /** After ∂W and ∂b_enc: gradients of the variant's own parameters. */
  afterGradients?(): void;
  /** The dense path (relu / jumprelu at high code density); left out: always sparse. */
  readonly dense?: {
    /** Threshold tensor ([1] or [c]) of the dense codes Zd = pre·1[pre > θ]. */
    threshold(): Tensor;
    /** Extra statistics of the dense codes (B×c). */
    codeStats?(zd: Tensor): void;
    /** Extra terms of ∂pre (dense B×c, before masking) and of the variant's own parameters. */
    gradient(gf: Tensor): void;
  };
  /** After the optimiser update (e.g. clamp thresholds). */
  afterUpdate?(): void;
  /** At each host sync, with the window's measured ℓ0 (controllers). */
  sync?(l0: number): void;
  /**
   * Epoch log: add the variant's fields to `extra` (rows = rows of the epoch, `fired` = Σ of
   * the epoch's fire counts) and return its loss term (added to the mse).
   */
  log?(extra: Record<string, number>, rows: number, fired: number): Promise<number>;
  /** After the last step (e.g. calibrate a threshold with the final weights). */
  finish?(batch: Float32Array): Promise<void>;
  /** The exported inference threshold (null: none), read after {@link VariantRun.finish}. */
  threshold(): Promise<Float32Array | null>;
}
