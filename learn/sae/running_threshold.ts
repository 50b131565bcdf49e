/**
 * The learned global threshold θ of the batch top-k family (batchtopk, matryoshka; method.md
 * §2): a running estimate of each batch's smallest kept value during training, re-calibrated
 * with the final weights after the last step, used at inference as pre > θ.
 */
import { z } from "zod";
import type { RowSelection, Tensor } from "../../kernels/backend.ts";
import type { SaeRun } from "./trainer.ts";

/** Options of the running threshold (shared by batchtopk and matryoshka). */
export const thresholdOptionsShape = {
  /**
   * Weight α of the running estimate θ ← (1−α_t)·θ + α_t·(smallest kept value of batch t), with
   * α_t = max(α, 1/(t+1)) (a plain running mean over the first 1/α steps, then an EMA).
   */
  thresholdMomentum: z.number().gt(0).lt(1).default(0.01),
  /**
   * `final`: after the last step, θ is re-estimated with the final weights as the mean, over one
   * pass of the training rows in batches of `batchSize`, of each batch's smallest kept value, so
   * the saved θ gives the target ℓ0 on the training rows (the running estimate lags the weights).
   * `running`: keep the running estimate as it stands after the last step.
   */
  thresholdCalibration: z.enum(["final", "running"]).default("final"),
};

/** Validated running-threshold options. */
export type ThresholdOptions = z.infer<z.ZodObject<typeof thresholdOptionsShape>>;

/** The running threshold of one run ([1] on the backend). */
export class RunningThreshold {
  readonly theta: Tensor;

  constructor(readonly run: SaeRun, readonly o: ThresholdOptions) {
    this.theta = run.keep(run.b.zeros([1]));
  }

  /**
   * Batch top-k codes of the step into `run.z` through the fused encoder op (which also makes
   * the selection `aux` when given) and the running update of θ with the batch's smallest kept
   * value.
   */
  sparsify(t: number, aux: RowSelection | null): void {
    const { b, v } = this.run;
    const run = this.run;
    const minKept = v.scratch("btk.min", [1]);
    b.encodeBatchTopk(run.xc, run.W, run.bEnc, run.k, run.z, minKept, run.pre, aux);
    const a = Math.max(this.o.thresholdMomentum, 1 / (t + 1));
    b.axpby(1 - a, this.theta, a, minKept, this.theta);
  }

  /**
   * After the last step (`thresholdCalibration: final`): θ = the mean over the ⌊n/B⌋ batches of
   * one pass over the training rows (in order) of each batch's smallest kept value, with the
   * final weights: the running estimate's target without its lag.
   */
  async calibrate(batch: Float32Array): Promise<void> {
    if (this.o.thresholdCalibration !== "final") return;
    const run = this.run;
    const { b, v, B, n, k } = run;
    const order = Int32Array.from({ length: n }, (_, i) => i);
    const minKept = v.scratch("btk.min", [1]);
    const sum = v.scratch("calib.sum", [1]);
    v.zero(sum);
    const batches = Math.floor(n / B);
    for (let s = 0; s < batches; s++) {
      run.loadBatch(batch, order, s * B);
      b.encodeBatchTopk(run.xc, run.W, run.bEnc, k, run.z, minKept, run.pre);
      b.axpby(1, sum, 1 / batches, minKept, sum);
    }
    b.copy(sum, this.theta);
    await b.readScalar(this.theta);
  }

  /** The current θ. */
  async read(): Promise<number> {
    return await this.run.b.readScalar(this.theta);
  }

  /** θ as the exported threshold tensor ([1]). */
  async exported(): Promise<Float32Array> {
    return Float32Array.from((await this.run.b.read(this.theta)) as Float32Array);
  }
}
