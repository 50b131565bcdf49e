/**
 * The Bridge Score of method.md §7: B = E_pairs[z_imgᵀ·z_txt] ⊙ (D·Dᵀ), a c×c matrix computed
 * sparsely. Co-activations are accumulated in a hash map over the (i, j) pairs that actually fire
 * together, and cos(D_i, D_j) is computed only for those pairs: memory ∝ co-active pairs, never c².
 *
 * Normalisations:
 * - `raw`:         B_ij = C_ij · cos_ij, C_ij = E_p[z_img,p,i · z_txt,p,j]
 * - `correlation`: B_ij = C_ij · cos_ij / sqrt(E_p[z_img,i²] · E_p[z_txt,j²])
 * - `centred`:     B_ij = (C_ij − μ_i·ν_j) · cos_ij, μ = E_p[z_img], ν = E_p[z_txt] (cross-covariance).
 *   Its rank-one part is dense: one pass over D·Dᵀ by blocks of rows (block×c at a time, through
 *   an injectable BLAS product) sums the bridge mass and searches the non-co-active top pairs;
 *   nothing c×c is ever held.
 */
import type { CsrCodes } from "../data/csr_codes.ts";
import type { Modality } from "../data/embeddings.ts";
import { UserError } from "../pipeline/errors.ts";

/** Normalisation of the co-activation (see the module doc). */
export type BridgeNormalisation = "raw" | "correlation" | "centred";

/** How image–caption pairs are formed: every caption with its image, or one averaged caption per image. */
export type BridgePairing = "caption" | "image";

/** Image and text codes aligned by pair: row p of `image` and row p of `text` form pair p. */
export interface PairedCodes {
  image: CsrCodes;
  text: CsrCodes;
}

/**
 * Align the codes of rows (table order of `codes`) into pairs. `pairIds[r]` is the image id of row
 * r (an image row carries its own id) and `modality[r]` its modality. `caption`: one pair per
 * caption row that has an image row; `image`: one pair per image, its captions' codes averaged
 * first. Images without captions and captions without images are skipped.
 */
export function pairCodes(
  codes: CsrCodes,
  pairIds: readonly string[],
  modality: readonly Modality[],
  pairing: BridgePairing = "caption",
): PairedCodes {
  if (pairIds.length !== codes.rows || modality.length !== codes.rows) {
    throw new UserError(
      `bridge: codes have ${codes.rows} rows but the embeddings give ${pairIds.length}; encode the same rows`,
    );
  }
  const imageRow = new Map<string, number>();
  for (let r = 0; r < codes.rows; r++) if (modality[r] === "image") imageRow.set(pairIds[r], r);
  const captions = new Map<number, number[]>();
  for (let r = 0; r < codes.rows; r++) {
    if (modality[r] !== "text") continue;
    const img = imageRow.get(pairIds[r]);
    if (img === undefined) continue;
    const list = captions.get(img);
    if (list) list.push(r);
    else captions.set(img, [r]);
  }
  const imgRows: number[] = [];
  const txtGroups: number[][] = [];
  for (const [img, caps] of [...captions.entries()].sort((a, b) => a[0] - b[0])) {
    if (pairing === "caption") {
      for (const t of caps) {
        imgRows.push(img);
        txtGroups.push([t]);
      }
    } else {
      imgRows.push(img);
      txtGroups.push(caps);
    }
  }
  return {
    image: gatherRows(codes, imgRows.map((r) => [r])),
    text: gatherRows(codes, txtGroups),
  };
}

/** Rows formed by averaging groups of rows of `codes` (a group of one copies a row). */
function gatherRows(codes: CsrCodes, groups: number[][]): CsrCodes {
  const rowPtr = new Int32Array(groups.length + 1);
  const idx: number[] = [];
  const val: number[] = [];
  const acc = new Map<number, number>();
  groups.forEach((g, p) => {
    acc.clear();
    for (const r of g) {
      for (let e = codes.rowPtr[r]; e < codes.rowPtr[r + 1]; e++) {
        const j = codes.index[e];
        acc.set(j, (acc.get(j) ?? 0) + codes.value[e] / g.length);
      }
    }
    for (const [j, v] of acc) {
      if (v === 0) continue;
      idx.push(j);
      val.push(v);
    }
    rowPtr[p + 1] = idx.length;
  });
  return {
    rows: groups.length,
    cols: codes.cols,
    rowPtr,
    index: Int32Array.from(idx),
    value: Float32Array.from(val),
  };
}

/**
 * Cosines of rows [start, start+count) of D against all c rows: out (count×c), row-major.
 * Inject a BLAS-backed one for the centred mass at large c (it is called c/block times).
 */
export type CosineBlockFn = (
  dict: Float32Array,
  c: number,
  d: number,
  start: number,
  count: number,
) => Float32Array | Float64Array;

/** Options of {@link bridgeScores}. */
export interface BridgeOptions {
  normalisation?: BridgeNormalisation;
  /** Number of top pairs (default 100). */
  topN?: number;
  /** Concept modality scores m_j (c; NaN for dead concepts), for the image/text-dominant filter. */
  modalityScore: ArrayLike<number>;
  /** i is image-dominant when m_i > this (default 0.5). */
  imageMin?: number;
  /** j is text-dominant when m_j < this (default 0.5). */
  textMax?: number;
  /** Row block of the dense centred-mass pass (default 256). */
  block?: number;
  /** Cosine block provider for the centred mass (default: float64 JS loops). */
  cosineBlock?: CosineBlockFn;
}

/** One bridge entry. */
export interface BridgePair {
  /** Image-side concept i. */
  i: number;
  /** Text-side concept j. */
  j: number;
  /** B_ij under the chosen normalisation. */
  value: number;
  /** C_ij = E_p[z_img,i · z_txt,j] (raw co-activation). */
  coactivation: number;
  /** cos(D_i, D_j). */
  cosine: number;
}

/** Result of {@link bridgeScores}. */
export interface BridgeResult {
  normalisation: BridgeNormalisation;
  /** Number of pairs averaged over. */
  pairs: number;
  /** Number of distinct co-active (i, j). */
  coactivePairs: number;
  /** Top pairs (value > 0, i image-dominant, j text-dominant, i ≠ j), value descending. */
  top: BridgePair[];
  /** Self-bridges B_ii (c), and C_ii (c). */
  selfBridge: Float64Array;
  selfCoactivation: Float64Array;
  /** Bridge mass Σ_j |B_ij| (c): concept i on the image side. */
  massImage: Float64Array;
  /** Σ_i |B_ij| (c): concept j on the text side. */
  massText: Float64Array;
  /** μ_i = E_p[z_img,i], ν_j = E_p[z_txt,j] (c each). */
  meanImage: Float64Array;
  meanText: Float64Array;
}

/** Co-activation sums keyed by (i, j): open addressing on float64 keys i·c + j. */
class CoactivationMap {
  keys: Float64Array;
  sums: Float64Array;
  size = 0;
  mask: number;
  /** @param c number of concepts (keys are i·c + j); @param capacityHint expected entries. */
  constructor(readonly c: number, capacityHint: number) {
    let cap = 1024;
    while (cap < capacityHint * 2) cap *= 2;
    this.keys = new Float64Array(cap).fill(-1);
    this.sums = new Float64Array(cap);
    this.mask = cap - 1;
  }
  slot(i: number, j: number, key: number): number {
    let h = (Math.imul(i, 0x9e3779b1) ^ Math.imul(j, 0x85ebca6b)) >>> 0;
    h = (h ^ (h >>> 15)) & this.mask;
    while (this.keys[h] !== key && this.keys[h] !== -1) h = (h + 1) & this.mask;
    return h;
  }
  add(i: number, j: number, key: number, v: number): void {
    let h = this.slot(i, j, key);
    if (this.keys[h] === -1) {
      if ((this.size + 1) * 2 > this.keys.length) {
        this.grow();
        h = this.slot(i, j, key);
      }
      this.keys[h] = key;
      this.size++;
    }
    this.sums[h] += v;
  }
  has(i: number, j: number, key: number): boolean {
    return this.keys[this.slot(i, j, key)] === key;
  }
  grow(): void {
    const oldKeys = this.keys, oldSums = this.sums;
    const cap = oldKeys.length * 2;
    this.keys = new Float64Array(cap).fill(-1);
    this.sums = new Float64Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let s = 0; s < oldKeys.length; s++) {
      const key = oldKeys[s];
      if (key === -1) continue;
      const c = this.c;
      const i = Math.floor(key / c), j = key - i * c;
      const h = this.slot(i, j, key);
      this.keys[h] = key;
      this.sums[h] = oldSums[s];
      this.size++;
    }
  }
}

function dotRows(dict: Float32Array, d: number, i: number, j: number): number {
  let s = 0;
  const a = i * d, b = j * d;
  for (let t = 0; t < d; t++) s += dict[a + t] * dict[b + t];
  return s;
}

/** Default {@link CosineBlockFn}: float64 JS loops over the given rows (rows assumed unit). */
export function cosineBlockReference(
  dict: Float32Array,
  c: number,
  d: number,
  start: number,
  count: number,
): Float64Array {
  const out = new Float64Array(count * c);
  for (let r = 0; r < count; r++) {
    for (let j = 0; j < c; j++) out[r * c + j] = dotRows(dict, d, start + r, j);
  }
  return out;
}

/**
 * Compute the Bridge Score of aligned pair codes over dictionary `dict` (c×d, unit rows).
 * Memory O(co-active pairs + c); time O(Σ_p k_img·k_txt + U·d) for U co-active pairs, plus
 * O(c²·d) by blocks for the `centred` mass only.
 */
export function bridgeScores(
  paired: PairedCodes,
  dict: Float32Array,
  c: number,
  d: number,
  opts: BridgeOptions,
): BridgeResult {
  const norm = opts.normalisation ?? "raw";
  if (!["raw", "correlation", "centred"].includes(norm)) {
    throw new UserError(
      `analysis.bridge.normalisation: '${norm}' is unknown; use raw | correlation | centred`,
    );
  }
  const { image: zi, text: zt } = paired;
  if (zi.rows !== zt.rows) throw new UserError("bridge: image and text codes differ in rows");
  if (zi.cols !== c || zt.cols !== c) {
    throw new UserError(`bridge: codes have ${zi.cols} concepts but the dictionary has ${c}`);
  }
  if (dict.length !== c * d) throw new UserError(`bridge: dictionary is not c×d = ${c}×${d}`);
  if (opts.modalityScore.length !== c) {
    throw new UserError(`bridge: ${opts.modalityScore.length} modality scores for ${c} concepts`);
  }
  const P = zi.rows;
  if (P === 0) throw new UserError("bridge: no image–caption pairs among the encoded rows");
  const topN = opts.topN ?? 100;
  const imageMin = opts.imageMin ?? 0.5;
  const textMax = opts.textMax ?? 0.5;

  const mu = new Float64Array(c), nu = new Float64Array(c);
  const e2i = new Float64Array(c), e2t = new Float64Array(c);
  let hint = 0;
  for (let p = 0; p < P; p++) {
    hint += (zi.rowPtr[p + 1] - zi.rowPtr[p]) * (zt.rowPtr[p + 1] - zt.rowPtr[p]);
    for (let e = zi.rowPtr[p]; e < zi.rowPtr[p + 1]; e++) {
      mu[zi.index[e]] += zi.value[e];
      e2i[zi.index[e]] += zi.value[e] * zi.value[e];
    }
    for (let e = zt.rowPtr[p]; e < zt.rowPtr[p + 1]; e++) {
      nu[zt.index[e]] += zt.value[e];
      e2t[zt.index[e]] += zt.value[e] * zt.value[e];
    }
  }
  for (let j = 0; j < c; j++) {
    mu[j] /= P;
    nu[j] /= P;
    e2i[j] /= P;
    e2t[j] /= P;
  }
  // Start small (the hint over-counts repeated pairs) and grow by doubling.
  const map = new CoactivationMap(c, Math.min(hint, 1 << 16));
  for (let p = 0; p < P; p++) {
    for (let a = zi.rowPtr[p]; a < zi.rowPtr[p + 1]; a++) {
      const i = zi.index[a], vi = zi.value[a];
      if (vi === 0) continue;
      const base = i * c;
      for (let b = zt.rowPtr[p]; b < zt.rowPtr[p + 1]; b++) {
        const vj = zt.value[b];
        if (vj === 0) continue;
        const j = zt.index[b];
        map.add(i, j, base + j, vi * vj);
      }
    }
  }

  const value = (i: number, j: number, coact: number, cos: number): number => {
    if (norm === "raw") return coact * cos;
    if (norm === "centred") return (coact - mu[i] * nu[j]) * cos;
    const den = Math.sqrt(e2i[i] * e2t[j]);
    return den > 0 ? (coact * cos) / den : 0;
  };
  const imgDom = (i: number) => opts.modalityScore[i] > imageMin;
  const txtDom = (j: number) => opts.modalityScore[j] < textMax;

  const selfBridge = new Float64Array(c);
  const selfCoactivation = new Float64Array(c);
  const massImage = new Float64Array(c);
  const massText = new Float64Array(c);
  const heap = new TopHeap(topN);
  for (let s = 0; s < map.keys.length; s++) {
    const key = map.keys[s];
    if (key === -1) continue;
    const i = Math.floor(key / c), j = key - i * c;
    const coact = map.sums[s] / P;
    const cos = dotRows(dict, d, i, j);
    const v = value(i, j, coact, cos);
    if (i === j) {
      selfBridge[i] = v;
      selfCoactivation[i] = coact;
    } else if (v > 0 && imgDom(i) && txtDom(j)) {
      heap.offer({ i, j, value: v, coactivation: coact, cosine: cos });
    }
    if (norm !== "centred") {
      massImage[i] += Math.abs(v);
      massText[j] += Math.abs(v);
    }
  }

  if (norm === "centred") {
    // Diagonal entries that never co-fire still carry −μ_i ν_i cos_ii.
    for (let i = 0; i < c; i++) {
      if (mu[i] * nu[i] !== 0 && !map.has(i, i, i * c + i)) {
        selfBridge[i] = value(i, i, 0, dotRows(dict, d, i, i));
      }
    }
    // One pass over D·Dᵀ by blocks of rows (never c² at once) gives, per row i, the dense part
    // −μ_i ν_j cos_ij of every entry: the bridge mass Σ_j |B_ij| and the top-pair candidates
    // among the non-co-active (i, j) (co-active ones were offered above).
    const block = opts.block ?? 256;
    const cosineBlock = opts.cosineBlock ?? cosineBlockReference;
    const rowCo = new Float64Array(c);
    const rowMark = new Uint8Array(c);
    const touched: number[] = [];
    const byRow = new Map<number, number[]>();
    for (let s = 0; s < map.keys.length; s++) {
      const key = map.keys[s];
      if (key === -1) continue;
      const i = Math.floor(key / c);
      const list = byRow.get(i);
      if (list) list.push(s);
      else byRow.set(i, [s]);
    }
    const active = (i: number) => mu[i] !== 0 || byRow.has(i);
    const textMask = new Uint8Array(c);
    for (let j = 0; j < c; j++) textMask[j] = txtDom(j) ? 1 : 0;
    for (let start = 0; start < c; start += block) {
      const count = Math.min(block, c - start);
      let any = false;
      for (let r = 0; r < count && !any; r++) any = active(start + r);
      if (!any) continue; // a row that never fires has B_ij = 0 for every j
      const cosB = cosineBlock(dict, c, d, start, count);
      for (let r = 0; r < count; r++) {
        const i = start + r;
        if (!active(i)) continue;
        for (const s of byRow.get(i) ?? []) {
          const j = map.keys[s] - i * c;
          rowCo[j] = map.sums[s] / P;
          rowMark[j] = 1;
          touched.push(j);
        }
        const searchRow = imgDom(i);
        let tau = heap.threshold();
        let m = 0;
        const o = r * c;
        const mi = mu[i];
        for (let j = 0; j < c; j++) {
          const v = (rowCo[j] - mi * nu[j]) * cosB[o + j];
          const a = v < 0 ? -v : v;
          m += a;
          massText[j] += a;
          if (v > tau && searchRow && rowMark[j] === 0 && textMask[j] === 1 && j !== i) {
            heap.offer({ i, j, value: v, coactivation: 0, cosine: cosB[o + j] });
            tau = heap.threshold();
          }
        }
        massImage[i] = m;
        for (const j of touched) {
          rowCo[j] = 0;
          rowMark[j] = 0;
        }
        touched.length = 0;
      }
    }
  }

  return {
    normalisation: norm,
    pairs: P,
    coactivePairs: map.size,
    top: heap.sorted(),
    selfBridge,
    selfCoactivation,
    massImage,
    massText,
    meanImage: mu,
    meanText: nu,
  };
}

/** Keeps the `cap` largest pairs by value (min-heap); ties broken by (i, j) ascending. */
class TopHeap {
  items: BridgePair[] = [];
  constructor(readonly cap: number) {}
  /** Smallest kept value when full, else 0 (only positive values are kept). */
  threshold(): number {
    return this.items.length < this.cap ? 0 : this.items[0].value;
  }
  less(a: BridgePair, b: BridgePair): boolean {
    if (a.value !== b.value) return a.value < b.value;
    if (a.i !== b.i) return a.i > b.i;
    return a.j > b.j;
  }
  offer(p: BridgePair): void {
    if (this.cap <= 0) return;
    const h = this.items;
    if (h.length < this.cap) {
      h.push(p);
      let k = h.length - 1;
      while (k > 0) {
        const parent = (k - 1) >> 1;
        if (!this.less(h[k], h[parent])) break;
        [h[k], h[parent]] = [h[parent], h[k]];
        k = parent;
      }
      return;
    }
    if (!this.less(h[0], p)) return;
    h[0] = p;
    let k = 0;
    while (true) {
      const l = 2 * k + 1, r = l + 1;
      let m = k;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === k) break;
      [h[k], h[m]] = [h[m], h[k]];
      k = m;
    }
  }
  sorted(): BridgePair[] {
    return [...this.items].sort((a, b) => (this.less(a, b) ? 1 : this.less(b, a) ? -1 : 0));
  }
}

/** Values of top pairs joining an image-only (m > 1 − t) and a text-only (m < t) concept. */
export function unimodalPairValues(
  r: BridgeResult,
  m: ArrayLike<number>,
  t: number,
): number[] {
  return r.top.filter((p) => m[p.i] > 1 - t && m[p.j] < t).map((p) => p.value);
}
