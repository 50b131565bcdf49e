/**
 * Dead concepts of an SAE run (method.md §2): tracking which concepts have not fired for
 * `deadAfterRows` training rows, and the AuxK auxiliary loss (Gao et al. 2024) that lets the dead
 * ones reconstruct the residual: with e = X − Â the main error, the top-`auxK` pre-activations of
 * the dead concepts per row give ê = Z_aux·D and the loss α·(1/B)·Σ‖ê − e‖², whose gradients
 * flow into D, W and b_enc of the dead concepts only.
 *
 * The aux codes are ReLU'd (a dead concept whose pre-activation is ≤ 0 adds nothing to ê), but
 * the encoder gradient passes the ReLU straight through on every selected entry: W and b_enc of a
 * dead concept move by ⟨ê − e, d_j⟩ also where its pre-activation is negative, raising it on the
 * rows whose residual its decoder row explains. Concepts die by drifting below zero on every row
 * (issue #16: at d = 768, c = 6144 and the study's lr 5e-3, 64% of the concepts, most with a
 * negative pre-activation on every row); with the ReLU's own gradient AuxK gave them no gradient
 * at all and they stayed dead for the rest of the run.
 */
import { z } from "zod";
import type { Backend, RowSelection, SparseCodes, Tensor } from "../../kernels/backend.ts";
import type { DeviceVectors } from "./device_vectors.ts";

/** The dead-concept options (part of every SAE variant's options). */
export const deadOptionsShape = {
  /** `auxk`: AuxK auxiliary loss (Gao et al. 2024) on dead concepts; `none`: nothing. */
  deadHandling: z.enum(["auxk", "none"]).default("auxk"),
  /** A concept is dead after firing on none of this many consecutive training rows (null: min(n, 50000)). */
  deadAfterRows: z.number().int().positive().nullable().default(null),
  /** Number of dead concepts per row in the AuxK reconstruction (null: 2·k). */
  auxK: z.number().int().positive().nullable().default(null),
  /** Weight α of the AuxK loss. */
  auxCoefficient: z.number().nonnegative().default(1 / 32),
};

/** Validated dead-concept options. */
export type DeadOptions = z.infer<z.ZodObject<typeof deadOptionsShape>>;

/** What AuxK reads and writes of the run's step (all device tensors). */
export interface AuxkStepTensors {
  /**
   * Pre-activations (B×c) of the step; AuxK adds the dead mask to them in place (unless the
   * encoder op already made the selection, see {@link DeadConcepts.selection}).
   */
  pre: Tensor;
  /** G = gScale·(Â − X) (B×d) of the main reconstruction. */
  r: Tensor;
  /** Encoder input (B×d, centred when there is a decoder bias). */
  xc: Tensor;
  /** Decoder rows D (c×d). */
  D: Tensor;
  /** Gradients accumulated into (∂D, ∂W, ∂b_enc). */
  gD: Tensor;
  gW: Tensor;
  gB: Tensor;
}

/**
 * Dead-concept tracker and AuxK for one run. `observe` runs at every host sync with the window's
 * per-concept fire counts; `apply` runs inside a step when {@link DeadConcepts.active}.
 */
export class DeadConcepts {
  /** Rows seen when each concept last fired. */
  readonly lastFired: Float64Array;
  /** Concepts dead at the last sync (counted only with `deadHandling: auxk`). */
  deadCount = 0;
  /** Rows without firing after which a concept counts as dead. */
  readonly deadAfter: number;
  /** Dead concepts per row in the AuxK reconstruction. */
  readonly auxK: number;
  /** Σ‖ê − e‖² of the AuxK reconstructions since the last epoch log ([1]). */
  readonly auxSse: Tensor;
  #zAux: SparseCodes | null = null;

  /**
   * @param n training rows; @param c concepts; @param k codes per row (AuxK keeps 2·k by default);
   * @param B rows per batch
   */
  constructor(
    readonly b: Backend,
    readonly v: DeviceVectors,
    readonly o: DeadOptions,
    readonly n: number,
    readonly c: number,
    k: number,
    readonly B: number,
  ) {
    this.lastFired = new Float64Array(c);
    this.auxK = Math.min(c, o.auxK ?? 2 * k);
    this.deadAfter = o.deadAfterRows ?? Math.min(n, 50_000);
    this.auxSse = b.zeros([1]);
  }

  /** Whether the step runs AuxK (it reads the pre-activations of the dead concepts). */
  active(): boolean {
    const o = this.o;
    return o.deadHandling === "auxk" && this.deadCount > 0 && o.auxCoefficient > 0;
  }

  /**
   * Host sync: update last-fired rows from the window's fire counts (f32 [c]) after `rowsSeen`
   * training rows, count the dead concepts and (AuxK) upload the additive mask that hides the
   * live ones (0 on dead, −1e4 on live).
   */
  observe(counts: Float32Array, rowsSeen: number): void {
    let dead = 0;
    for (let j = 0; j < this.c; j++) {
      if (counts[j] > 0) this.lastFired[j] = rowsSeen;
      else if (rowsSeen - this.lastFired[j] >= this.deadAfter) dead++;
    }
    if (this.o.deadHandling !== "auxk") return;
    if (dead !== this.deadCount || dead > 0) {
      const mask = new Float32Array(this.c);
      for (let j = 0; j < this.c; j++) {
        const isDead = rowsSeen - this.lastFired[j] >= this.deadAfter && counts[j] === 0;
        mask[j] = isDead ? 0 : -1e4;
      }
      this.b.write(this.v.scratch("aux.mask", [1, this.c]), mask);
    }
    this.deadCount = dead;
  }

  /**
   * The step's AuxK selection for an encoder op to make from its own product (valid while
   * {@link DeadConcepts.active}): per row, the top min(auxK, dead) pre-activations among the dead
   * concepts, into the run's aux codes.
   */
  selection(): RowSelection {
    const { b, v, B, c } = this;
    return {
      k: Math.min(this.auxK, this.deadCount),
      mask: v.scratch("aux.mask", [1, c]),
      ones: v.constant([B, 1], 1),
      z: this.#zAux ??= b.sparse(B, c, B * this.auxK),
    };
  }

  /**
   * The AuxK loss and its gradients for one step (`gScale` = 2/(B·P) of the main loss) on the
   * step's {@link DeadConcepts.selection} `sel`: with `selected` the encoder op has made it, else
   * it is made here from `s.pre`.
   */
  apply(s: AuxkStepTensors, sel: RowSelection, gScale: number, selected: boolean): void {
    const { b, v, B } = this;
    const d = s.xc.shape[1];
    const zAux = sel.z;
    const rAux = v.scratch("aux.r", [B, d]);
    const valsAux = v.scratch("aux.vals", [zAux.capacity]);
    if (!selected) {
      b.gemm(sel.ones, sel.mask, s.pre, { beta: 1 });
      b.topkRows(s.pre, sel.k, zAux);
    }
    // aux error ê − e with e = X − Â = −G/gScale
    b.sparseDecode(zAux, s.D, null, rAux);
    b.axpby(1, rAux, 1 / gScale, s.r, rAux);
    b.sumSquares(rAux, this.auxSse, true);
    b.axpby(2 * this.o.auxCoefficient / B, rAux, 0, rAux, rAux);
    b.sparseTransposeProduct(zAux, null, rAux, s.gD, 1);
    // straight through the ReLU: every selected entry, also those with a pre-activation ≤ 0
    b.sparseSample(rAux, s.D, zAux, valsAux);
    b.sparseTransposeProduct(zAux, valsAux, s.xc, s.gW, 1);
    b.sparseColumnSum(zAux, valsAux, s.gB, 1);
  }

  /** Epoch log fields (`auxLoss` per row, `deadTracked`); returns the loss term; resets the sum. */
  async logInto(extra: Record<string, number>, rows: number): Promise<number> {
    const aux = await this.b.readScalar(this.auxSse);
    this.v.zero(this.auxSse);
    if (this.o.deadHandling !== "auxk") return 0;
    extra.auxLoss = this.o.auxCoefficient * aux / rows;
    extra.deadTracked = this.deadCount;
    return extra.auxLoss;
  }

  /** Release the run's AuxK tensors. */
  dispose(): void {
    this.b.dispose(this.auxSse);
    if (this.#zAux) this.b.disposeSparse(this.#zAux);
  }
}
