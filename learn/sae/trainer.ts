/**
 * Training loop of the SAE family (method.md §2) on a {@link Backend}.
 *
 * The encoder is held as W (c×d, one row per concept, like the decoder D): the encoder matrix of
 * method.md is Wᵀ (exported as W_enc, d×c). Per step, all on the backend: pre = (X − b_dec)·Wᵀ +
 * b_enc; codes Z = Π(pre); Â = Z·D (+ b_dec);
 * loss = (1/B)·Σ‖Â − X‖² (+ method terms); gradients through the sparse pattern; AuxK on dead
 * concepts; the decoder gradient loses its component parallel to each row; global-norm clip;
 * AdamW; decoder rows renormalised. The host reads scalars and c-vectors only every `syncEvery`
 * steps (controllers, dead tracking) and once per epoch (the log).
 *
 * Gradients (G = (2/B)·(Â − X), g_ij = ⟨G_i, D_j⟩ on active entries):
 * ∂D = Zᵀ·G; ∂W = Sᵀ·X; ∂b_enc = colsum S with S_ij = g_ij (+ λ/B for relu's ℓ1);
 * ∂b_dec = colsum G − Wᵀ·∂b_enc. JumpReLU's threshold (straight-through, rectangle kernel of
 * bandwidth ε): ∂θ_j = −(θ_j/ε)·Σ_{i: |pre_ij−θ_j|<ε/2} g_ij − (λ/(B·ε))·#{i: |pre_ij−θ_j|<ε/2}.
 * Matryoshka: the mean over prefixes p of (1/B)·Σ‖Z_{:, <m_p}·D_{<m_p} (+ b_dec) − X‖².
 */
import type { Backend, SparseCodes, Tensor } from "../../kernels/backend.ts";
import { transpose } from "../../kernels/js_gemm.ts";
import type { EpochLog, FittedDictionary } from "../learner.ts";
import { Rng } from "../../data/random.ts";
import { normalizeRows } from "../../data/rows.ts";
import { UserError } from "../../pipeline/errors.ts";
import { learningRate, type LrSchedule, warmupStepsFor } from "../schedule.ts";
import { DeviceVectors } from "./device_vectors.ts";
import { saeDictionary, type SaeWeights } from "./model.ts";
import { type SaeMethod, saeMethods, type SaeOptions, saeOptionsSchema } from "./options.ts";

/** Progress hooks of {@link fitSae}. */
export interface SaeHooks {
  /** Called after every epoch with its log record. */
  onEpoch?(e: EpochLog): void;
  /** Called after every optimiser step (1-based `step` of `total`). */
  onStep?(step: number, total: number): void;
}

/** Validate the options; a bad one becomes a one-line {@link UserError}. */
function parseOptions(rest: Record<string, unknown>): SaeOptions {
  const r = saeOptionsSchema.safeParse(rest);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue.path.length ? issue.path.join(".") : "(options)";
    throw new UserError(`train option '${where}': ${issue.message}; fix it in the train config`);
  }
  return r.data;
}

/** Prefix sizes of the matryoshka loss: increasing, ending at c. */
export function matryoshkaPrefixes(c: number, given: number[] | null): number[] {
  const raw = given ?? [16, 8, 4, 2, 1].map((f) => Math.max(1, Math.round(c / f)));
  const out: number[] = [];
  for (const p of raw) {
    if (p > c) {
      throw new UserError(`train option 'prefixes': size ${p} exceeds the number of concepts ${c}`);
    }
    if (out.length && p <= out[out.length - 1]) {
      if (given) throw new UserError(`train option 'prefixes' must be strictly increasing`);
      continue;
    }
    out.push(p);
  }
  if (out[out.length - 1] !== c) out.push(c);
  return out;
}

/**
 * Train one SAE variant on X (n×d row-major) and return the fitted dictionary.
 * @param method `relu` | `topk` | `batchtopk` | `jumprelu` | `matryoshka`
 * @param opts `c` concepts, `k` codes per row (topk) or target ℓ0, `seed`, plus {@link SaeOptions}
 * @param backend holds every training tensor; only per-epoch logs and periodic controller scalars return
 */
export async function fitSae(
  method: SaeMethod,
  x: Float32Array,
  n: number,
  d: number,
  opts: { c: number; k: number; seed: number } & Partial<SaeOptions>,
  backend: Backend,
  hooks?: SaeHooks,
): Promise<FittedDictionary> {
  if (!(saeMethods as readonly string[]).includes(method)) {
    throw new UserError(
      `train: unknown SAE method '${method}'; use one of ${saeMethods.join(", ")}`,
    );
  }
  const { c, k, seed, ...rest } = opts;
  if (!Number.isInteger(c) || c < 1) {
    throw new UserError(`train option 'c' must be a positive integer, got ${c}`);
  }
  if (!Number.isInteger(k) || k < 1 || k > c) {
    throw new UserError(`train option 'k' must be an integer in 1..c (${c}), got ${k}`);
  }
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(d) || d < 1 || x.length !== n * d) {
    throw new UserError(
      `train: embeddings hold ${x.length} values, expected n·d = ${n}·${d}; check the diet input`,
    );
  }
  const o = parseOptions(rest);
  const trainer = new SaeTrainer(method, x, n, d, c, k, seed, o, backend);
  try {
    return await trainer.run(hooks);
  } finally {
    trainer.dispose();
  }
}

/** One training run: owns every backend tensor of the run. */
class SaeTrainer {
  readonly b: Backend;
  readonly v: DeviceVectors;
  readonly held: Tensor[] = [];
  readonly heldSparse: SparseCodes[] = [];
  readonly B: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly sched: LrSchedule;
  readonly prefixes: number[];
  readonly auxK: number;
  readonly deadAfter: number;
  readonly targetL0: number;
  // parameters, gradients, Adam moments
  W: Tensor;
  bEnc: Tensor;
  D: Tensor;
  bDec: Tensor | null = null;
  theta: Tensor | null = null;
  thetaRun: Tensor | null = null;
  grads: { p: Tensor; g: Tensor; m: Tensor; v: Tensor; decay: boolean }[] = [];
  // batch buffers
  xb: Tensor;
  xc: Tensor;
  pre: Tensor;
  xhat: Tensor;
  r: Tensor;
  z: SparseCodes;
  vals: Tensor;
  onesCap: Tensor;
  // accumulators
  sse: Tensor;
  auxSse: Tensor;
  l1: Tensor;
  count: Tensor;
  window: Tensor;
  // host-side controller state
  lambda: number;
  lastFired: Float64Array;
  deadCount = 0;
  /** Code density ℓ0/c measured at the last sync (1 before the first). */
  density = 1;
  rowsSeen = 0;
  windowRows = 0;
  /** ℓ0 of the first sync window, the start of the controllers' setpoint ramp (0 before it). */
  startL0 = 0;

  constructor(
    readonly method: SaeMethod,
    readonly x: Float32Array,
    readonly n: number,
    readonly d: number,
    readonly c: number,
    readonly k: number,
    readonly seed: number,
    readonly o: SaeOptions,
    backend: Backend,
  ) {
    this.b = backend;
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
    this.prefixes = method === "matryoshka" ? matryoshkaPrefixes(c, o.prefixes) : [c];
    this.auxK = Math.min(c, o.auxK ?? 2 * k);
    this.deadAfter = o.deadAfterRows ?? Math.min(n, 50_000);
    this.targetL0 = method === "relu" ? (o.reluTargetL0 ?? k) : (o.jumpTargetL0 ?? k);
    // NaN: scaled to the data before the first step (see initPenalty)
    this.lambda = method === "relu"
      ? (o.reluLambda ?? NaN)
      : (o.jumpL0Penalty ?? o.jumpL0PenaltyInit ?? NaN);
    this.lastFired = new Float64Array(c);

    // ---- initial parameters: D random unit rows, encoder = Dᵀ (W = D), biases 0 (b_dec = mean) ----
    const rng = new Rng(seed);
    const D0 = normalizeRows(rng.fillNormal(new Float32Array(c * d)), c, d);
    const b = this.b;
    const keep = (t: Tensor) => (this.held.push(t), t);
    const param = (t: Tensor, decay: boolean) => {
      this.held.push(t);
      this.grads.push({
        p: t,
        g: keep(b.zeros(t.shape)),
        m: keep(b.zeros(t.shape)),
        v: keep(b.zeros(t.shape)),
        decay,
      });
      return t;
    };
    this.W = param(b.upload(D0, [c, d]), true);
    this.bEnc = param(b.zeros([c]), false);
    this.D = param(b.upload(D0, [c, d]), true);
    if (o.decoderBias) {
      const mean = new Float64Array(d);
      for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += x[i * d + t];
      this.bDec = param(b.upload(Float32Array.from(mean, (s) => s / n), [d]), false);
    }
    if (method === "jumprelu") {
      this.theta = param(b.upload(new Float32Array(c).fill(o.jumpThetaInit), [c]), false);
    }
    if (method === "batchtopk" || method === "matryoshka") this.thetaRun = keep(b.zeros([1]));

    this.xb = keep(b.zeros([B, d]));
    this.xc = this.bDec ? keep(b.zeros([B, d])) : this.xb;
    this.pre = keep(b.zeros([B, c]));
    this.xhat = keep(b.zeros([B, d]));
    this.r = keep(b.zeros([B, d]));
    const cap = method === "relu" || method === "jumprelu" ? B * c : B * k;
    this.z = b.sparse(B, c, cap);
    this.heldSparse.push(this.z);
    this.vals = keep(b.zeros([cap]));
    this.onesCap = keep(b.upload(new Float32Array(cap).fill(1), [cap]));
    this.sse = keep(b.zeros([1]));
    this.auxSse = keep(b.zeros([1]));
    this.l1 = keep(b.zeros([c]));
    this.count = keep(b.zeros([c]));
    this.window = keep(b.zeros([c]));
  }

  gradOf(p: Tensor): Tensor {
    return this.grads.find((e) => e.p === p)!.g;
  }

  dispose(): void {
    for (const t of this.held) this.b.dispose(t);
    for (const z of this.heldSparse) this.b.disposeSparse(z);
    this.v.dispose();
  }

  sparse(rows: number, cols: number, cap: number): SparseCodes {
    const z = this.b.sparse(rows, cols, cap);
    this.heldSparse.push(z);
    return z;
  }

  async run(hooks?: SaeHooks): Promise<FittedDictionary> {
    const { n, d, B, o } = this;
    const log: EpochLog[] = [];
    // per-row ‖x_i − x̄‖² for the training R² (x̄ = mean of all training rows)
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += this.x[i * d + t];
    for (let t = 0; t < d; t++) mean[t] /= n;
    const rowVar = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += (this.x[i * d + t] - mean[t]) ** 2;
      rowVar[i] = s;
    }
    const batch = new Float32Array(B * d);
    await this.initPenalty(batch);
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
    if (this.thetaRun && o.thresholdCalibration === "final") await this.calibrateThreshold(batch);
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
    if (this.bDec) {
      this.b.linear(this.v.constant([B, 1], 1), this.v.constant([1, d], 0), this.bDec, this.xc);
      this.b.axpby(1, this.xb, -1, this.xc, this.xc);
    }
  }

  /**
   * relu / jumprelu, before the first step, when a controlled coefficient is left unset (NaN):
   * scale it to the data from one seeded batch of training rows. θ₀ = the smallest value a batch
   * top-k at the target ℓ0 keeps of the initial pre-activations (the code size at the target
   * sparsity); relu λ₀ = θ₀ (the ℓ1 price per unit of code that balances the squared-error gain of
   * a code of size θ₀), jumprelu λ₀ = θ₀² (the squared error saved by one code of size θ₀, the ℓ0
   * price of it). Fallback when θ₀ ≤ 0: 1e-3·mean‖x‖².
   */
  async initPenalty(batch: Float32Array): Promise<void> {
    const { b, v, B, c, d, n, method } = this;
    if ((method !== "relu" && method !== "jumprelu") || !Number.isNaN(this.lambda)) return;
    const rows = new Rng(`${this.seed}:sae-init`).permutation(n);
    this.loadBatch(batch, rows, 0);
    b.linear(this.xc, this.W, this.bEnc, this.pre, true);
    const kq = Math.max(1, Math.min(c, Math.round(this.targetL0)));
    const minKept = v.scratch("init.min", [1]);
    b.batchTopk(this.pre, kq, this.z, minKept);
    const theta0 = await b.readScalar(minKept);
    let meanSq = 0;
    for (let i = 0; i < B * d; i++) meanSq += batch[i] * batch[i];
    meanSq /= B;
    this.lambda = theta0 > 0 ? (method === "jumprelu" ? theta0 * theta0 : theta0) : 1e-3 * meanSq;
  }

  /**
   * BatchTopK / Matryoshka, after the last step (`thresholdCalibration: final`): θ = the mean over
   * the ⌊n/B⌋ batches of one pass over the training rows (in order) of each batch's smallest kept
   * value, with the final weights: the running estimate's target without its lag.
   */
  async calibrateThreshold(batch: Float32Array): Promise<void> {
    const { b, v, B, n, k } = this;
    const order = Int32Array.from({ length: n }, (_, i) => i);
    const minKept = v.scratch("btk.min", [1]);
    const sum = v.scratch("calib.sum", [1]);
    v.zero(sum);
    const batches = Math.floor(n / B);
    for (let s = 0; s < batches; s++) {
      this.loadBatch(batch, order, s * B);
      b.encodeBatchTopk(this.xc, this.W, this.bEnc, k, this.z, minKept, this.pre);
      b.axpby(1, sum, 1 / batches, minKept, sum);
    }
    b.copy(sum, this.thetaRun!);
    await b.readScalar(this.thetaRun!);
  }

  /** Host sync: controllers (relu λ, jumprelu ℓ0 penalty) and dead-concept tracking. */
  async sync(): Promise<void> {
    if (this.windowRows === 0) return;
    const counts = (await this.b.read(this.window)) as Float32Array;
    let total = 0;
    let dead = 0;
    for (let j = 0; j < this.c; j++) {
      total += counts[j];
      if (counts[j] > 0) this.lastFired[j] = this.rowsSeen;
      else if (this.rowsSeen - this.lastFired[j] >= this.deadAfter) dead++;
    }
    const l0 = total / this.windowRows;
    this.density = l0 / this.c;
    const controlled = (this.method === "relu" && this.o.reluControl) ||
      (this.method === "jumprelu" && this.o.jumpL0Penalty === null);
    if (controlled) {
      // setpoint: geometric ramp from the first measured ℓ0 down to the target
      if (this.startL0 === 0) this.startL0 = Math.max(this.targetL0, l0);
      const ramp = this.o.controllerRamp * this.totalSteps * this.B;
      const f = ramp > 0 ? Math.min(1, this.rowsSeen / ramp) : 1;
      const setpoint = this.startL0 ** (1 - f) * this.targetL0 ** f;
      const err = l0 > 0 ? Math.log(l0 / setpoint) : -1;
      this.lambda *= Math.exp(this.o.controllerGain * Math.max(-1, Math.min(1, err)));
    }
    if (this.o.deadHandling === "auxk") {
      if (dead !== this.deadCount || dead > 0) {
        const mask = new Float32Array(this.c);
        for (let j = 0; j < this.c; j++) {
          const isDead = this.rowsSeen - this.lastFired[j] >= this.deadAfter && counts[j] === 0;
          mask[j] = isDead ? 0 : -1e4;
        }
        this.b.write(this.v.scratch("aux.mask", [1, this.c]), mask);
      }
      this.deadCount = dead;
    }
    this.v.zero(this.window);
    this.windowRows = 0;
  }

  async epochLog(epoch: number, sst: number, rows: number): Promise<EpochLog> {
    const b = this.b;
    const sse = await b.readScalar(this.sse);
    const aux = await b.readScalar(this.auxSse);
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
    if (this.method === "matryoshka") extra.prefixes = this.prefixes.length;
    if (this.method === "relu") {
      const l1 = (await b.read(this.l1)) as Float32Array;
      let s = 0;
      for (let j = 0; j < this.c; j++) s += l1[j];
      extra.l1 = s / rows;
      extra.lambda = this.lambda;
      loss += this.lambda * extra.l1;
    }
    if (this.method === "jumprelu") {
      const th = (await b.read(this.theta!)) as Float32Array;
      let s = 0;
      for (let j = 0; j < this.c; j++) s += th[j];
      extra.thetaMean = s / this.c;
      extra.lambda = this.lambda;
      loss += this.lambda * total / rows;
    }
    if (this.thetaRun) extra.threshold = await b.readScalar(this.thetaRun);
    if (this.o.deadHandling === "auxk") {
      extra.auxLoss = this.o.auxCoefficient * aux / rows;
      extra.deadTracked = this.deadCount;
      loss += extra.auxLoss;
    }
    this.v.zero(this.sse);
    this.v.zero(this.auxSse);
    this.v.zero(this.count);
    this.v.zero(this.l1);
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
    const b = this.b;
    const f32 = async (t: Tensor) => Float32Array.from((await b.read(t)) as Float32Array);
    let threshold: Float32Array | null = null;
    if (this.theta) threshold = await f32(this.theta);
    else if (this.thetaRun) threshold = await f32(this.thetaRun);
    else if (this.method === "relu") threshold = new Float32Array(1);
    return {
      method: this.method,
      c: this.c,
      d: this.d,
      k: this.k,
      wEnc: transpose(await f32(this.W), this.c, this.d), // rows c×d → W_enc d×c
      bEnc: await f32(this.bEnc),
      wDec: await f32(this.D),
      bDec: this.bDec ? await f32(this.bDec) : null,
      threshold,
    };
  }

  /** One optimiser step on the batch already written to `xb` (0-based `t`). */
  step(t: number): void {
    const { b, v, B, d, o, method } = this;
    // ---- forward ----------------------------------------------------------------------------
    if (this.bDec) {
      b.linear(v.constant([B, 1], 1), v.constant([1, d], 0), this.bDec, this.xc);
      b.axpby(1, this.xb, -1, this.xc, this.xc);
    }
    // batch top-k takes the fused encoder (the CPU backend may screen a bfloat16 product) unless
    // AuxK needs every pre-activation this step
    const fused = (method === "batchtopk" || method === "matryoshka") && !this.auxActive();
    if (!fused) b.linear(this.xc, this.W, this.bEnc, this.pre, true);
    const gBdRow = this.bDec ? v.scratch("bdec.row", [1, d]) : null;
    if (gBdRow) v.zero(gBdRow);
    const P = this.prefixes.length;
    const gScale = 2 / (B * P);
    const dense = (method === "relu" || method === "jumprelu") && this.density > o.denseAbove;
    if (dense) this.denseCore(gScale, gBdRow);
    else this.sparseCore(t, gScale, gBdRow, fused);
    this.finishStep(t, gScale, gBdRow);
  }

  /**
   * relu / jumprelu at high density: dense codes Zd = pre·1[pre > θ] and dense GEMMs
   * Â = Zd·D, ∂D = Zdᵀ·G, S = (G·Dᵀ) ⊙ 1[pre > θ] (+ λ/B for relu), ∂W = Xᵀ·S, ∂b = colsum S.
   */
  denseCore(gScale: number, gBdRow: Tensor | null): void {
    const { b, v, B, c, o, method } = this;
    const th = method === "relu" ? v.constant([1], 0) : this.theta!;
    const Zd = v.scratch("dense.z", [B, c]);
    const Gf = v.scratch("dense.g", [B, c]);
    b.thresholdDense(this.pre, th, Zd);
    const cnt = v.scratch("dense.cnt", [c]);
    b.countAbove(this.pre, th, cnt, 0);
    b.axpby(1, this.count, 1, cnt, this.count);
    b.axpby(1, this.window, 1, cnt, this.window);
    if (method === "relu") b.columnSum(Zd, this.l1, 1);
    b.linear(Zd, this.D, this.bDec, this.xhat);
    b.axpby(1, this.xhat, -1, this.xb, this.r);
    b.sumSquares(this.r, this.sse, true);
    b.axpby(gScale, this.r, 0, this.r, this.r); // r now holds G
    b.gemm(Zd, this.r, this.gradOf(this.D), { transA: true });
    if (gBdRow) b.gemm(v.constant([1, B], 1), this.r, gBdRow, { beta: 1 });
    b.gemm(this.r, this.D, Gf, { transB: true });
    if (method === "jumprelu") {
      const eps = o.jumpBandwidth;
      const lo = v.scratch("jump.lo", [c]);
      const hi = v.scratch("jump.hi", [c]);
      b.axpby(1, this.theta!, -eps / 2, v.constant([c], 1), lo);
      b.axpby(1, this.theta!, eps / 2, v.constant([c], 1), hi);
      const tmp = v.scratch("dense.tmp", [B, c]);
      const sBand = v.scratch("jump.s", [c]);
      const nBand = v.scratch("jump.n", [c]);
      const s2 = v.scratch("jump.s2", [c]);
      const n2 = v.scratch("jump.n2", [c]);
      b.maskAbove(this.pre, lo, Gf, tmp);
      b.columnSum(tmp, sBand, 0);
      b.maskAbove(this.pre, hi, Gf, tmp);
      b.columnSum(tmp, s2, 0);
      b.axpby(1, sBand, -1, s2, sBand);
      b.countAbove(this.pre, lo, nBand, 0);
      b.countAbove(this.pre, hi, n2, 0);
      b.axpby(1, nBand, -1, n2, nBand);
      this.thetaGradFromBand(sBand, nBand);
    } else {
      b.gemm(v.constant([B, 1], 1), v.constant([1, c], 1), Gf, {
        alpha: this.lambda / B,
        beta: 1,
      });
    }
    b.maskAbove(this.pre, th, Gf, Gf); // S
    b.gemm(Gf, this.xc, this.gradOf(this.W), { transA: true });
    b.columnSum(Gf, this.gradOf(this.bEnc), 0);
  }

  /** ∂θ = −(θ/ε)·sBand − (λ/(B·ε))·nBand (see module doc). */
  thetaGradFromBand(sBand: Tensor, nBand: Tensor): void {
    const { b, v, B, o } = this;
    const eps = o.jumpBandwidth;
    const gT = this.gradOf(this.theta!);
    v.mul(this.theta!, sBand, gT);
    b.axpby(-1 / eps, gT, -this.lambda / (B * eps), nBand, gT);
  }

  /** The sparse path: codes Z = Π(pre) in CSR, sparse decode and sparse gradients. */
  sparseCore(t: number, gScale: number, gBdRow: Tensor | null, fused = false): void {
    const { b, v, B, c, d, o, method } = this;
    let zA: SparseCodes | null = null;
    let zB: SparseCodes | null = null;
    if (method === "relu") b.threshold(this.pre, v.constant([1], 0), this.z);
    else if (method === "topk") b.topkRows(this.pre, this.k, this.z);
    else if (method === "jumprelu") {
      const eps = o.jumpBandwidth;
      const lo = v.scratch("jump.lo", [c]);
      const hi = v.scratch("jump.hi", [c]);
      b.axpby(1, this.theta!, -eps / 2, v.constant([c], 1), lo);
      b.axpby(1, this.theta!, eps / 2, v.constant([c], 1), hi);
      b.threshold(this.pre, this.theta!, this.z);
      zA = this.jumpCodes("a");
      zB = this.jumpCodes("b");
      b.threshold(this.pre, lo, zA);
      b.threshold(this.pre, hi, zB);
    } else {
      const minKept = v.scratch("btk.min", [1]);
      if (fused) b.encodeBatchTopk(this.xc, this.W, this.bEnc, this.k, this.z, minKept, this.pre);
      else b.batchTopk(this.pre, this.k, this.z, minKept);
      const a = Math.max(o.thresholdMomentum, 1 / (t + 1));
      b.axpby(1 - a, this.thetaRun!, a, minKept, this.thetaRun!);
    }
    // top-k may keep non-positive pre-activations (value 0): they neither fire nor get gradient
    const zero = v.constant([1], 0);
    let fired = this.onesCap;
    if (method === "topk") {
      fired = v.scratch("topk.fired", [this.z.capacity]);
      b.maskAbove(this.z.value, zero, this.onesCap, fired);
    }
    b.sparseColumnSum(this.z, fired, this.count, 1);
    b.sparseColumnSum(this.z, fired, this.window, 1);
    if (method === "relu") b.sparseColumnSum(this.z, this.z.value, this.l1, 1);

    // ---- reconstruction and its gradient --------------------------------------------------------
    const gW = this.gradOf(this.W);
    const gB = this.gradOf(this.bEnc);
    const gD = this.gradOf(this.D);
    v.zero(gD);
    const P = this.prefixes.length;
    if (P > 1) {
      // partial prefixes first (scratch residual), the full prefix last (kept in r for AuxK)
      const Dp = v.scratch("mat.D", [c, d]);
      const rp = v.scratch("mat.r", [B, d]);
      const tmp = v.scratch("mat.tmp", [c, d]);
      const vp = v.scratch("mat.vals", [this.vals.size]);
      v.zero(this.vals);
      for (let p = 0; p < P - 1; p++) {
        const mask = this.prefixMask(p);
        v.scaleRows(mask, this.D, Dp);
        b.sparseDecode(this.z, Dp, this.bDec, rp);
        b.axpby(2 / (B * P), rp, -2 / (B * P), this.xb, rp);
        b.sparseSample(rp, Dp, this.z, vp);
        b.axpby(1, this.vals, 1, vp, this.vals);
        b.sparseTransposeProduct(this.z, null, rp, tmp, 0);
        v.scaleRows(mask, tmp, gD, 1);
        if (gBdRow) b.gemm(v.constant([1, B], 1), rp, gBdRow, { beta: 1 });
      }
    }
    // r = G of the full reconstruction, sse += ‖Â − X‖², g_ij = ⟨G_i, D_j⟩ in one fused op
    const vFull = P > 1 ? v.scratch("mat.vals", [this.vals.size]) : this.vals;
    b.sparseResidual(this.z, this.D, this.bDec, this.xb, gScale, this.r, this.sse, true, vFull);
    b.sparseTransposeProduct(this.z, null, this.r, gD, 1);
    if (gBdRow) b.gemm(v.constant([1, B], 1), this.r, gBdRow, { beta: 1 });
    if (P > 1) b.axpby(1, this.vals, 1, vFull, this.vals);
    if (method === "relu") b.axpby(1, this.vals, this.lambda / B, this.onesCap, this.vals);
    if (method === "topk") b.maskAbove(this.z.value, zero, this.vals, this.vals);
    b.sparseTransposeProduct(this.z, this.vals, this.xc, gW, 0);
    b.sparseColumnSum(this.z, this.vals, gB, 0);
    if (method === "jumprelu") this.jumpThetaGrad(zA!, zB!);
  }

  /** Whether this step runs AuxK (it reads the pre-activations of the dead concepts). */
  auxActive(): boolean {
    const o = this.o;
    return o.deadHandling === "auxk" && this.deadCount > 0 && o.auxCoefficient > 0;
  }

  /** AuxK, decoder-bias gradient, clipping, AdamW and renormalisation (both paths). */
  finishStep(t: number, gScale: number, gBdRow: Tensor | null): void {
    const { b, v, B, c, d, o } = this;
    const gW = this.gradOf(this.W);
    const gB = this.gradOf(this.bEnc);
    const gD = this.gradOf(this.D);

    // ---- AuxK on dead concepts ----------------------------------------------------------------------
    if (this.auxActive()) {
      const kAux = Math.min(this.auxK, this.deadCount);
      const zAux = this.auxCodes();
      const rAux = v.scratch("aux.r", [B, d]);
      const valsAux = v.scratch("aux.vals", [zAux.capacity]);
      b.gemm(v.constant([B, 1], 1), v.scratch("aux.mask", [1, c]), this.pre, { beta: 1 });
      b.topkRows(this.pre, kAux, zAux);
      // aux error ê − e with e = X − Â = −G/gScale
      b.sparseDecode(zAux, this.D, null, rAux);
      b.axpby(1, rAux, 1 / gScale, this.r, rAux);
      b.sumSquares(rAux, this.auxSse, true);
      b.axpby(2 * o.auxCoefficient / B, rAux, 0, rAux, rAux);
      b.sparseTransposeProduct(zAux, null, rAux, gD, 1);
      b.sparseSample(rAux, this.D, zAux, valsAux);
      b.maskAbove(zAux.value, v.constant([1], 0), valsAux, valsAux);
      b.sparseTransposeProduct(zAux, valsAux, this.xc, gW, 1);
      b.sparseColumnSum(zAux, valsAux, gB, 1);
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
    for (const e of this.grads) if (e.g !== gD) b.sumSquares(e.g, ss, true);
    b.clipFactor(ss, o.gradClip, f);
    const lr = learningRate(t, this.sched);
    for (const e of this.grads) {
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
    if (this.theta) v.clampMin(this.theta, o.jumpThetaMin);
  }

  /** JumpReLU: ∂θ from the band (θ−ε/2, θ+ε/2] = A \ B (see module doc). */
  jumpThetaGrad(zA: SparseCodes, zB: SparseCodes): void {
    const { b, v, c } = this;
    const gA = v.scratch("jump.gA", [zA.capacity]);
    const gBv = v.scratch("jump.gB", [zB.capacity]);
    const sBand = v.scratch("jump.s", [c]);
    const nBand = v.scratch("jump.n", [c]);
    b.sparseSample(this.r, this.D, zA, gA);
    b.sparseSample(this.r, this.D, zB, gBv);
    b.sparseColumnSum(zA, gA, sBand, 0);
    b.axpby(-1, gBv, 0, gBv, gBv);
    b.sparseColumnSum(zB, gBv, sBand, 1);
    b.sparseColumnSum(zA, this.onesCap, nBand, 0);
    const negOnes = v.constant([zB.capacity], -1);
    b.sparseColumnSum(zB, negOnes, nBand, 1);
    this.thetaGradFromBand(sBand, nBand);
  }

  jumpCodes(name: "a" | "b"): SparseCodes {
    const key = name === "a" ? "zA" : "zB";
    const self = this as unknown as Record<string, SparseCodes | undefined>;
    if (!self[key]) self[key] = this.sparse(this.B, this.c, this.B * this.c);
    return self[key]!;
  }

  #zAux: SparseCodes | null = null;
  auxCodes(): SparseCodes {
    if (!this.#zAux) this.#zAux = this.sparse(this.B, this.c, this.B * this.auxK);
    return this.#zAux;
  }

  #masks: Tensor[] = [];
  /** 0/1 mask f32 [c] of the concepts of prefix p (uploaded once). */
  prefixMask(p: number): Tensor {
    if (!this.#masks[p]) {
      const m = new Float32Array(this.c);
      m.fill(1, 0, this.prefixes[p]);
      const t = this.b.upload(m, [this.c]);
      this.held.push(t);
      this.#masks[p] = t;
    }
    return this.#masks[p];
  }
}
