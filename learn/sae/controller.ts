/**
 * The sparsity controller of the penalised SAE variants (relu's ℓ1 coefficient λ, jumprelu's ℓ0
 * penalty): a multiplicative controller that steers the penalty so that the training ℓ0 follows
 * a setpoint ramping geometrically to the target, and the data-scaled initial penalty.
 */
import { z } from "zod";
import { Rng } from "../../data/random.ts";
import type { SaeRun } from "./trainer.ts";

/** Options of the controllers (shared by relu and jumprelu). */
export const controllerOptionsShape = {
  /**
   * Gain of the multiplicative controllers, applied at every sync:
   * λ ← λ·exp(gain·clamp(ln(ℓ0/target), −1, 1)), with ℓ0 measured over the rows since the last sync.
   */
  controllerGain: z.number().positive().default(0.1),
  /**
   * Fraction of the run over which the controllers' setpoint moves geometrically from the ℓ0 of
   * the first sync to the target (then stays there); 0: the target from the start. A moving
   * setpoint keeps ℓ0 from overshooting below the target, which kills concepts for good.
   */
  controllerRamp: z.number().min(0).max(1).default(0.3),
};

/** Validated controller options. */
export type ControllerOptions = z.infer<z.ZodObject<typeof controllerOptionsShape>>;

/** How the penalty starts when it is left unset: the code size θ₀ (relu) or its square (jumprelu). */
export type PenaltyScale = "theta" | "thetaSquared";

/** One run's penalty coefficient and its controller. */
export class PenaltyController {
  /** Current coefficient (NaN until {@link PenaltyController.initFromData} when left unset). */
  lambda: number;
  /** ℓ0 of the first sync window, the start of the setpoint ramp (0 before it). */
  startL0 = 0;

  /**
   * @param lambda initial coefficient, or NaN to scale it to the data
   * @param targetL0 target codes per row
   * @param controlled whether the controller moves λ (otherwise it stays fixed)
   * @param scale how an unset λ is scaled to the data
   */
  constructor(
    readonly o: ControllerOptions,
    lambda: number,
    readonly targetL0: number,
    readonly controlled: boolean,
    readonly scale: PenaltyScale,
  ) {
    this.lambda = lambda;
  }

  /**
   * Before the first step, when λ is unset (NaN): scale it to the data from one seeded batch of
   * training rows. θ₀ = the smallest value a batch top-k at the target ℓ0 keeps of the initial
   * pre-activations (the code size at the target sparsity); relu λ₀ = θ₀ (the ℓ1 price per unit
   * of code that balances the squared-error gain of a code of size θ₀), jumprelu λ₀ = θ₀² (the
   * squared error saved by one code of size θ₀, the ℓ0 price of it). Fallback when θ₀ ≤ 0:
   * 1e-3·mean‖x‖² over the batch. `batch` is the run's host batch buffer (B×d).
   */
  async initFromData(run: SaeRun, batch: Float32Array): Promise<void> {
    if (!Number.isNaN(this.lambda)) return;
    const { b, v, B, c } = run;
    run.loadBatch(batch, new Rng(`${run.seed}:sae-init`).permutation(run.n), 0);
    run.encode();
    const kq = Math.max(1, Math.min(c, Math.round(this.targetL0)));
    const minKept = v.scratch("init.min", [1]);
    b.batchTopk(run.pre, kq, run.z, minKept);
    const theta0 = await b.readScalar(minKept);
    let meanSq = 0;
    for (let i = 0; i < batch.length; i++) meanSq += batch[i] * batch[i];
    meanSq /= B;
    this.lambda = theta0 > 0
      ? (this.scale === "thetaSquared" ? theta0 * theta0 : theta0)
      : 1e-3 * meanSq;
  }

  /**
   * One controller update after a sync window of measured ℓ0 `l0`, `rowsSeen` rows into a run of
   * `totalSteps` steps of `B` rows: λ ← λ·exp(gain·clamp(ln(ℓ0/setpoint), −1, 1)).
   */
  update(l0: number, rowsSeen: number, totalSteps: number, B: number): void {
    if (!this.controlled) return;
    // setpoint: geometric ramp from the first measured ℓ0 down to the target
    if (this.startL0 === 0) this.startL0 = Math.max(this.targetL0, l0);
    const ramp = this.o.controllerRamp * totalSteps * B;
    const f = ramp > 0 ? Math.min(1, rowsSeen / ramp) : 1;
    const setpoint = this.startL0 ** (1 - f) * this.targetL0 ** f;
    const err = l0 > 0 ? Math.log(l0 / setpoint) : -1;
    this.lambda *= Math.exp(this.o.controllerGain * Math.max(-1, Math.min(1, err)));
  }
}
