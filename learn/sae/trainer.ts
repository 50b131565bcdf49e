/**
 * The shared training core of the SAE family (method.md §2) on a {@link Backend}; the variants
 * (learn/sae/variants/) plug in their sparsifier, extra gradient terms and threshold handling
 * through {@link VariantRun} hooks.
 *
 * The encoder is held as W (c×d, one row per concept, like the decoder D): the encoder matrix of
 * method.md is Wᵀ (exported as W_enc, d×c). Per step, all on the backend: pre = (X − b_dec)·Wᵀ +
 * b_enc; codes Z = Π(pre); Â = Z·D (+ b_dec);
 * loss = (1/B)·Σ‖Â − X‖² (+ variant terms); gradients through the sparse pattern; AuxK on dead
 * concepts (learn/sae/auxk.ts); the decoder gradient loses its component parallel to each row;
 * global-norm clip; AdamW; decoder rows renormalised. The host reads scalars and c-vectors only
 * every `syncEvery` steps (controllers, dead tracking) and once per epoch (the log).
 *
 * Gradients (G = (2/B)·(Â − X), g_ij = ⟨G_i, D_j⟩ on active entries):
 * ∂D = Zᵀ·G; ∂W = Sᵀ·X; ∂b_enc = colsum S with S_ij = g_ij (+ variant terms);
 * ∂b_dec = colsum G − Wᵀ·∂b_enc.
 */
import type { Backend, RowSelection, SparseCodes, Tensor } from "../../kernels/backend.ts";
import { transpose } from "../../kernels/js_gemm.ts";
import type { EpochLog, FittedDictionary } from "../learner.ts";
import { Rng } from "../../data/random.ts";
import { UserError } from "../../pipeline/errors.ts";
import { learningRate, type LrSchedule, warmupStepsFor } from "../schedule.ts";
import { DeviceVectors } from "./device_vectors.ts";
import { saeDictionary, type SaeWeights } from "./model.ts";
import { DeadConcepts } from "./auxk.ts";
import { initialDictionary } from "./init.ts";
import type { SaeVariant, VariantRun } from "./variant.ts";
import type { CoreOptions } from "./options.ts";
import type { SaeMethod } from "./variants/mod.ts";

/** Progress hooks of the SAE trainer. */
export interface SaeHooks {
  /** Called after every epoch with its log record. */
  onEpoch?(e: EpochLog): void;
  /** Called after every optimiser step (1-based `step` of `total`). */
  onStep?(step: number, total: number): void;
}

/** One optimised parameter with its gradient and Adam moments. */
interface Param {
  p: Tensor;
  g: Tensor;
  m: Tensor;
  v: Tensor;
  decay: boolean;
}

/**
 * Check the sizes of a run: c and k (1 ≤ k ≤ c) and X holding n·d values; a bad one is a
 * one-line {@link UserError} naming `train.<key>`.
 */
export function checkRunSizes(n: number, d: number, xLength: number, c: number, k: number): void {
  if (!Number.isInteger(c) || c < 1) {
    throw new UserError(`train.c: must be a positive integer, got ${c}`);
  }
  if (!Number.isInteger(k) || k < 1 || k > c) {
    throw new UserError(`train.k: must be an integer in 1..c (${c}), got ${k}`);
  }
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(d) || d < 1 || xLength !== n * d) {
    throw new UserError(
      `train: embeddings hold ${xLength} values, expected n·d = ${n}·${d}; check the diet input`,
    );
  }
}

/**
 * Train `variant` on X (n×d row-major) with validated options and return the fitted
 * dictionary. Sizes are checked here; `o` holds the shared options and the variant's own, as
 * parsed by the family's schema (learn/sae/variants/mod.ts).
 */
export async function trainSae(
  variant: SaeVariant,
  x: Float32Array,
  n: number,
  d: number,
  run: { c: number; k: number; seed: number },
  o: CoreOptions,
  backend: Backend,
  hooks?: SaeHooks,
): Promise<FittedDictionary> {
  checkRunSizes(n, d, x.length, run.c, run.k);
  const trainer = new SaeRun(variant, x, n, d, run.c, run.k, run.seed, o, backend);
  try {
    return await trainer.train(hooks);
  } finally {
    trainer.dispose();
  }
}

/**
 * One training run: owns every backend tensor of the run. Variants read its fields and call its
 * helpers from their hooks.
 */
export class SaeRun {
  readonly b: Backend;
  readonly v: DeviceVectors;
  readonly held: Tensor[] = [];
  readonly heldSparse: SparseCodes[] = [];
  /** Rows per batch. */
  readonly B: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly sched: LrSchedule;
  readonly dead: DeadConcepts;
  readonly hooks: VariantRun;
  // parameters, gradients, Adam moments
  /** Encoder rows (c×d). */
  readonly W: Tensor;
  readonly bEnc: Tensor;
  /** Decoder rows (c×d, unit norm). */
  readonly D: Tensor;
  readonly bDec: Tensor | null = null;
  readonly params: Param[] = [];
  // batch buffers
  /** The batch X (B×d). */
  readonly xb: Tensor;
  /** The encoder input X − b_dec (B×d; `xb` itself without a decoder bias). */
  readonly xc: Tensor;
  /** Pre-activations (B×c). */
  readonly pre: Tensor;
  readonly xhat: Tensor;
  /** G = gScale·(Â − X) after the reconstruction (B×d). */
  readonly r: Tensor;
  /** Codes of the batch (capacity B·k or B·c, see {@link SaeVariant.codesPerRow}). */
  readonly z: SparseCodes;
  /** g_ij on the kept entries (f32 [capacity]). */
  readonly vals: Tensor;
  /** Ones (f32 [capacity]). */
  readonly onesCap: Tensor;
  // accumulators
  readonly sse: Tensor;
  /**
   * Fire counts per concept ([c]) since the last sync (`window`, counted every step) and of the
   * epoch's earlier sync windows (`count`; an epoch ends with a sync).
   */
  readonly count: Tensor;
  readonly window: Tensor;
  /** Per-dimension mean of the training rows ([d], float64). */
  readonly mean: Float64Array;
  /** Code density ℓ0/c measured at the last sync (1 before the first). */
  density = 1;
  rowsSeen = 0;
  windowRows = 0;

  constructor(
    readonly variant: SaeVariant,
    readonly x: Float32Array,
    readonly n: number,
    readonly d: number,
    readonly c: number,
    readonly k: number,
    readonly seed: number,
    readonly o: CoreOptions,
    backend: Backend,
  ) {
    this.b = backend;
    const b = backend;
    this.v = new DeviceVectors(backend);
    const B = this.B = Math.min(o.batchSize, n);
    this.stepsPerEpoch = Math.floor(n / B);
    this.totalSteps = this.stepsPerEpoch * o.epochs;
    this.sched = {
      lr: o.lr,
      totalSteps: this.totalSteps,
      warmupSteps: warmupStepsFor(this.totalSteps, o.warmupFraction),
      minFraction: o.minLrFraction,
    };
    this.dead = new DeadConcepts(b, this.v, o, n, c, k, B);

    // ---- initial parameters: D (learn/sae/init.ts), encoder = Dᵀ (W = D), biases 0 (b_dec = mean) ----
    const mean = this.mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += x[i * d + t];
    for (let t = 0; t < d; t++) mean[t] /= n;
    const D0 = initialDictionary(o.initRows, x, n, d, c, mean, new Rng(seed));
    this.W = this.param(b.upload(D0, [c, d]), true);
    this.bEnc = this.param(b.zeros([c]), false);
    this.D = this.param(b.upload(D0, [c, d]), true);
    if (o.decoderBias) this.bDec = this.param(b.upload(Float32Array.from(mean), [d]), false);

    this.xb = this.keep(b.zeros([B, d]));
    this.xc = this.bDec ? this.keep(b.zeros([B, d])) : this.xb;
    this.pre = this.keep(b.zeros([B, c]));
    this.xhat = this.keep(b.zeros([B, d]));
    this.r = this.keep(b.zeros([B, d]));
    const cap = variant.codesPerRow === "c" ? B * c : B * k;
    this.z = this.sparse(B, c, cap);
    this.vals = this.keep(b.zeros([cap]));
    this.onesCap = this.keep(b.upload(new Float32Array(cap).fill(1), [cap]));
    this.sse = this.keep(b.zeros([1]));
    this.count = this.keep(b.zeros([c]));
    this.window = this.keep(b.zeros([c]));
    this.hooks = variant.start(this, o);
  }

  /** Hold a tensor for the run (released by {@link SaeRun.dispose}). */
  keep(t: Tensor): Tensor {
    this.held.push(t);
    return t;
  }

  /** Make `t` an optimised parameter (with `decay`: AdamW weight decay); gradients start at 0. */
  param(t: Tensor, decay: boolean): Tensor {
    const b = this.b;
    this.keep(t);
    this.params.push({
      p: t,
      g: this.keep(b.zeros(t.shape)),
      m: this.keep(b.zeros(t.shape)),
      v: this.keep(b.zeros(t.shape)),
      decay,
    });
    return t;
  }

  /** The gradient tensor of parameter `p`. */
  gradOf(p: Tensor): Tensor {
    return this.params.find((e) => e.p === p)!.g;
  }

  /** Sparse codes held for the run. */
  sparse(rows: number, cols: number, cap: number): SparseCodes {
    const z = this.b.sparse(rows, cols, cap);
    this.heldSparse.push(z);
    return z;
  }

  /** Release every tensor of the run. */
  dispose(): void {
    for (const t of this.held) this.b.dispose(t);
    for (const z of this.heldSparse) this.b.disposeSparse(z);
    this.dead.dispose();
    this.v.dispose();
  }

  /** Run every epoch, then the variant's finish; returns the fitted dictionary. */
  async train(hooks?: SaeHooks): Promise<FittedDictionary> {
    const { n, d, B, o } = this;
    const log: EpochLog[] = [];
    // per-row ‖x_i − x̄‖² for the training R² (x̄ = mean of all training rows)
    const mean = this.mean;
    const rowVar = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += (this.x[i * d + t] - mean[t]) ** 2;
      rowVar[i] = s;
    }
    const batch = new Float32Array(B * d);
    await this.hooks.init?.(batch);
    const shuffle = new Rng(`${this.seed}:sae-shuffle`);
    let step = 0;
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const perm = shuffle.permutation(n);
      let sst = 0;
      for (let s = 0; s < this.stepsPerEpoch; s++) {
        for (let i = 0; i < B; i++) {
          const row = perm[s * B + i];
          batch.set(this.x.subarray(row * d, row * d + d), i * d);
          sst += rowVar[row];
        }
        this.b.write(this.xb, batch);
        this.step(step);
        step++;
        this.rowsSeen += B;
        this.windowRows += B;
        if (step % o.syncEvery === 0 || s === this.stepsPerEpoch - 1) await this.sync();
        hooks?.onStep?.(step, this.totalSteps);
      }
      const e = await this.epochLog(epoch, sst, this.stepsPerEpoch * B);
      log.push(e);
      hooks?.onEpoch?.(e);
    }
    await this.hooks.finish?.(batch);
    return saeDictionary(await this.weights(), log);
  }

  /** Write rows `rows[start .. start+B)` of X to `xb` (and the centred copy `xc`). */
  loadBatch(batch: Float32Array, rows: ArrayLike<number>, start: number): void {
    const { d, B } = this;
    for (let i = 0; i < B; i++) {
      const row = rows[start + i];
      batch.set(this.x.subarray(row * d, row * d + d), i * d);
    }
    this.b.write(this.xb, batch);
    this.centre();
  }

  /** xc = xb − b_dec (nothing without a decoder bias). */
  centre(): void {
    if (!this.bDec) return;
    const { b, v, B, d } = this;
    b.linear(v.constant([B, 1], 1), v.constant([1, d], 0), this.bDec, this.xc);
    b.axpby(1, this.xb, -1, this.xc, this.xc);
  }

  /** pre = xc·Wᵀ + b_enc (the float32 encoder). */
  encode(): void {
    this.b.linear(this.xc, this.W, this.bEnc, this.pre, true);
  }

  /** Host sync: fire counts of the window → density, the variant's controllers, dead tracking. */
  async sync(): Promise<void> {
    if (this.windowRows === 0) return;
    const counts = (await this.b.read(this.window)) as Float32Array;
    let total = 0;
    for (let j = 0; j < this.c; j++) total += counts[j];
    const l0 = total / this.windowRows;
    this.density = l0 / this.c;
    this.hooks.sync?.(l0);
    this.dead.observe(counts, this.rowsSeen);
    this.b.axpby(1, this.count, 1, this.window, this.count);
    this.v.zero(this.window);
    this.windowRows = 0;
  }

  async epochLog(epoch: number, sst: number, rows: number): Promise<EpochLog> {
    const b = this.b;
    const sse = await b.readScalar(this.sse);
    const counts = (await b.read(this.count)) as Float32Array;
    let fired = 0;
    let total = 0;
    for (let j = 0; j < this.c; j++) {
      total += counts[j];
      if (counts[j] > 0) fired++;
    }
    const mse = sse / rows;
    const extra: Record<string, number> = {
      mse,
      lr: learningRate((epoch + 1) * this.stepsPerEpoch - 1, this.sched),
    };
    let loss = mse;
    if (this.hooks.log) loss += await this.hooks.log(extra, rows, total);
    loss += await this.dead.logInto(extra, rows);
    this.v.zero(this.sse);
    this.v.zero(this.count);
    return {
      epoch,
      loss,
      r2: sst > 0 ? 1 - sse / sst : 0,
      l0: total / rows,
      deadFraction: (this.c - fired) / this.c,
      extra,
    };
  }

  async weights(): Promise<SaeWeights> {
    const f32 = async (t: Tensor) => Float32Array.from((await this.b.read(t)) as Float32Array);
    return {
      method: this.variant.name as SaeMethod,
      encoding: this.variant.encoding,
      c: this.c,
      d: this.d,
      k: this.k,
      wEnc: transpose(await f32(this.W), this.c, this.d), // rows c×d → W_enc d×c
      bEnc: await f32(this.bEnc),
      wDec: await f32(this.D),
      bDec: this.bDec ? await f32(this.bDec) : null,
      threshold: await this.hooks.threshold(),
    };
  }

  /** One optimiser step on the batch already written to `xb` (0-based `t`). */
  step(t: number): void {
    const { v, d, o, hooks } = this;
    // ---- forward ----------------------------------------------------------------------------
    this.centre();
    // the fused encoder (the CPU backend may screen a bfloat16 product), which also makes AuxK's
    // selection of dead concepts from its own product
    const fused = hooks.fusedEncoder ?? false;
    if (!fused) this.encode();
    const aux = this.dead.active() ? this.dead.selection() : null;
    const gBdRow = this.bDec ? v.scratch("bdec.row", [1, d]) : null;
    if (gBdRow) v.zero(gBdRow);
    const gScale = 2 / (this.B * (hooks.terms ?? 1));
    const dense = !!hooks.dense && this.density > o.denseAbove;
    if (dense) this.denseCore(gScale, gBdRow);
    else this.sparseCore(t, gScale, gBdRow, fused ? aux : null);
    this.finishStep(t, gScale, gBdRow, aux, fused && !dense);
  }

  /**
   * The dense path (variants with {@link VariantRun.dense}, at high density): dense codes
   * Zd = pre·1[pre > θ] and dense GEMMs Â = Zd·D, ∂D = Zdᵀ·G, S = (G·Dᵀ) ⊙ 1[pre > θ] (+ variant
   * terms), ∂W = Xᵀ·S, ∂b = colsum S.
   */
  denseCore(gScale: number, gBdRow: Tensor | null): void {
    const { b, v, B, c } = this;
    const dense = this.hooks.dense!;
    const th = dense.threshold();
    const Zd = v.scratch("dense.z", [B, c]);
    const Gf = v.scratch("dense.g", [B, c]);
    b.thresholdDense(this.pre, th, Zd);
    const cnt = v.scratch("dense.cnt", [c]);
    b.countAbove(this.pre, th, cnt, 0);
    b.axpby(1, this.window, 1, cnt, this.window);
    dense.codeStats?.(Zd);
    b.linear(Zd, this.D, this.bDec, this.xhat);
    b.axpby(1, this.xhat, -1, this.xb, this.r);
    b.sumSquares(this.r, this.sse, true);
    b.axpby(gScale, this.r, 0, this.r, this.r); // r now holds G
    b.gemm(Zd, this.r, this.gradOf(this.D), { transA: true });
    if (gBdRow) b.gemm(v.constant([1, B], 1), this.r, gBdRow, { beta: 1 });
    b.gemm(this.r, this.D, Gf, { transB: true });
    dense.gradient(Gf);
    b.maskAbove(this.pre, th, Gf, Gf); // S
    b.gemm(Gf, this.xc, this.gradOf(this.W), { transA: true });
    b.columnSum(Gf, this.gradOf(this.bEnc), 0);
  }

  /**
   * The sparse path: codes Z = Π(pre) in CSR, sparse decode and sparse gradients; a fused encoder
   * also makes AuxK's selection `aux` (null: none this step, or not a fused variant).
   */
  sparseCore(t: number, gScale: number, gBdRow: Tensor | null, aux: RowSelection | null): void {
    const { b, v, B, hooks } = this;
    hooks.sparsify(t, aux);
    const fired = hooks.firedWeights?.() ?? this.onesCap;
    b.sparseColumnSum(this.z, fired, this.window, 1);
    hooks.codeStats?.();

    // ---- reconstruction and its gradient --------------------------------------------------------
    const gD = this.gradOf(this.D);
    // extra reconstruction terms (matryoshka's prefixes) start ∂D; otherwise the full term does
    const vFull = hooks.beforeResidual?.(gBdRow) ?? this.vals;
    // r = G of the full reconstruction, sse += ‖Â − X‖², g_ij = ⟨G_i, D_j⟩ in one fused op
    b.sparseResidual(this.z, this.D, this.bDec, this.xb, gScale, this.r, this.sse, true, vFull);
    b.sparseTransposeProduct(this.z, null, this.r, gD, hooks.beforeResidual ? 1 : 0);
    if (gBdRow) b.gemm(v.constant([1, B], 1), this.r, gBdRow, { beta: 1 });
    hooks.afterResidual?.(vFull);
    hooks.codeGradient?.(this.vals);
    b.sparseTransposeProduct(this.z, this.vals, this.xc, this.gradOf(this.W), 0);
    b.sparseColumnSum(this.z, this.vals, this.gradOf(this.bEnc), 0);
    hooks.afterGradients?.();
  }

  /**
   * AuxK on the step's selection `aux` (null: no dead concepts; `auxSelected`: made by the fused
   * encoder), decoder-bias gradient, clipping, AdamW and renormalisation (both paths).
   */
  finishStep(
    t: number,
    gScale: number,
    gBdRow: Tensor | null,
    aux: RowSelection | null,
    auxSelected: boolean,
  ): void {
    const { b, v, c, o } = this;
    const gW = this.gradOf(this.W);
    const gB = this.gradOf(this.bEnc);
    const gD = this.gradOf(this.D);
    if (aux) {
      const s = { pre: this.pre, r: this.r, xc: this.xc, D: this.D, gD, gW, gB };
      this.dead.apply(s, aux, gScale, auxSelected);
    }

    // ---- decoder bias: ∂b_dec = colsum G − Wᵀ·∂b_enc ---------------------------------------------
    if (this.bDec && gBdRow) {
      const gbRow = v.scratch("benc.row", [1, c]);
      v.toRow(gB, gbRow);
      b.gemm(gbRow, this.W, gBdRow, { alpha: -1, beta: 1 });
      v.rowToVector(gBdRow, this.gradOf(this.bDec));
    }

    // ---- geometry, clipping, update ---------------------------------------------------------------
    // ∂D loses its parallel component (and gives its squared norm); the clip factor scales each
    // gradient inside AdamW; D's AdamW renormalises its rows
    const ss = v.scratch("clip.ss", [1]);
    const f = v.scratch("clip.f", [1]);
    b.removeParallelComponent(this.D, gD, ss, false);
    for (const e of this.params) if (e.g !== gD) b.sumSquares(e.g, ss, true);
    b.clipFactor(ss, o.gradClip, f);
    const lr = learningRate(t, this.sched);
    for (const e of this.params) {
      b.adamw(e.p, e.g, e.m, e.v, {
        lr,
        beta1: o.beta1,
        beta2: o.beta2,
        eps: o.eps,
        weightDecay: e.decay ? o.weightDecay : 0,
        step: t + 1,
        gradScale: f,
        normalizeRows: e.p === this.D,
      });
    }
    this.hooks.afterUpdate?.();
  }
}
