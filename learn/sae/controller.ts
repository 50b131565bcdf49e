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
  /**
   * Start the encoder at the target ℓ0: per-concept thresholds t_j from one seeded batch of
   * training rows, each firing concept j on a fraction target/c of its rows (relu: b_enc = −t;
   * jumprelu: θ = t), so that training runs on the sparse path from the first step. false: the
   * plain start (b_enc = 0; jumprelu θ = `jumpThetaInit`), which codes about half of all entries.
   */
  startAtTarget: z.boolean().default(true),
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
   * Before the first step: when λ is unset (NaN), scale it to the data (below); with
   * `startAtTarget`, return the per-concept start thresholds of {@link targetThresholds} (null
   * otherwise). Both from the initial pre-activations of one seeded batch of training rows.
   */
  async init(run: SaeRun, batch: Float32Array): Promise<Float32Array | null> {
    if (!Number.isNaN(this.lambda) && !this.o.startAtTarget) return null;
    run.loadBatch(batch, new Rng(`${run.seed}:sae-init`).permutation(run.n), 0);
    run.encode();
    await this.initFromData(run, batch);
    if (!this.o.startAtTarget) return null;
    const pre = (await run.b.read(run.pre)) as Float32Array;
    const { t, density } = targetThresholds(pre, run.B, run.c, this.targetL0);
    // the first steps, before the first sync measures it, take the path of this density
    run.density = density;
    return t;
  }

  /**
   * When λ is unset (NaN): scale it to the data from the pre-activations of the seeded batch
   * that {@link PenaltyController.init} wrote to `run.pre` (host copy in `batch`, B×d). θ₀ = the
   * smallest value a batch top-k at the target ℓ0 keeps of them (the code size at the target
   * sparsity). Plain start: relu λ₀ = θ₀ (the ℓ1 price per unit of code that balances the
   * squared-error gain of a code of size θ₀), jumprelu λ₀ = θ₀² (the squared error saved by one
   * code of size θ₀). With `startAtTarget` twice that: codes start at the threshold, where the
   * gain of a first unit of code j on row i is 2·pre_ij (∂/∂z of ‖x − z·D_j‖² at z = 0), so
   * relu λ₀ = 2θ₀ keeps exactly the codes above θ₀, and jumprelu's straight-through θ-gradient
   * (θ·g with g = −2θ there) balances at λ₀ = 2θ₀² — without it the first steps' ℓ0 overshoots
   * the target and the trainer leaves the sparse path. Fallback when θ₀ ≤ 0: 1e-3·mean‖x‖².
   */
  async initFromData(run: SaeRun, batch: Float32Array): Promise<void> {
    if (!Number.isNaN(this.lambda)) return;
    const { b, v, B, c } = run;
    const kq = Math.max(1, Math.min(c, Math.round(this.targetL0)));
    const minKept = v.scratch("init.min", [1]);
    b.batchTopk(run.pre, kq, run.z, minKept);
    const theta0 = await b.readScalar(minKept);
    let meanSq = 0;
    for (let i = 0; i < batch.length; i++) meanSq += batch[i] * batch[i];
    meanSq /= B;
    // at the target start, twice the price: codes then start at the threshold t_j ≈ θ₀ (see doc)
    const f = this.o.startAtTarget ? 2 : 1;
    this.lambda = theta0 > 0
      ? f * (this.scale === "thetaSquared" ? theta0 * theta0 : theta0)
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

/**
 * Per-concept thresholds at a target ℓ0 from pre-activations `pre` (B×c row-major): t_j lies
 * midway between the q-th and (q+1)-th largest value of column j, q = round(B·targetL0/c) clamped
 * to 1..B−1, so that `pre > t_j` keeps q rows of each concept and about targetL0 codes per row
 * (every concept firing, none on every row). `density` = q/B, the code density at t. One pass
 * over `pre` in row order with a min-heap of the q+1 largest values per column.
 */
export function targetThresholds(
  pre: Float32Array,
  B: number,
  c: number,
  targetL0: number,
): { t: Float32Array; density: number } {
  const t = new Float32Array(c);
  if (B < 2) {
    for (let j = 0; j < c; j++) t[j] = pre[j] - 1e-6 * (1 + Math.abs(pre[j]));
    return { t, density: 1 };
  }
  const q = Math.max(1, Math.min(B - 1, Math.round(B * targetL0 / c)));
  const h = q + 1;
  // heap j: heap[j·h .. j·h + h), root (smallest kept) first; roots also in `root` (row order)
  const heap = new Float32Array(c * h).fill(-Infinity);
  const root = new Float32Array(c).fill(-Infinity);
  for (let i = 0; i < B; i++) {
    const off = i * c;
    for (let j = 0; j < c; j++) {
      const x = pre[off + j];
      if (!(x > root[j])) continue;
      // replace the root and sift down
      const base = j * h;
      let p = 0;
      for (;;) {
        const l = 2 * p + 1;
        if (l >= h) break;
        const r = l + 1;
        const m = r < h && heap[base + r] < heap[base + l] ? r : l;
        if (heap[base + m] >= x) break;
        heap[base + p] = heap[base + m];
        p = m;
      }
      heap[base + p] = x;
      root[j] = heap[base];
    }
  }
  for (let j = 0; j < c; j++) {
    const base = j * h;
    // the (q+1)-th largest is the root, the q-th the smaller of its children
    const second = h > 2 ? Math.min(heap[base + 1], heap[base + 2]) : heap[base + 1];
    t[j] = 0.5 * (heap[base] + second);
  }
  return { t, density: q / B };
}
