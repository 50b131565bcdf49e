/**
 * The Bridge Score of method.md §7: B = E_pairs[z_imgᵀ·z_txt] ⊙ (D·Dᵀ), a c×c matrix computed
 * by blocks of image-side concepts, never held whole: for a block of rows i, the co-activations
 * Σ_p z_img,p,i·z_txt,p,j are accumulated from the sparse codes (the image codes by concept, so
 * each product is added once, pairs in ascending order) into a block×c array, the block's cosines
 * come from one product D_block·Dᵀ (an injectable BLAS GEMM), and one pass over the block gives
 * the values, self-bridges, bridge mass and top-pair candidates. Time O(Σ_p k_img·k_txt + c²·d
 * by GEMM + c²); memory O(block·c + nnz).
 *
 * Normalisations:
 * - `raw`:         B_ij = C_ij · cos_ij, C_ij = E_p[z_img,p,i · z_txt,p,j]
 * - `correlation`: B_ij = C_ij · cos_ij / sqrt(E_p[z_img,i²] · E_p[z_txt,j²])
 * - `centred`:     B_ij = (C_ij − μ_i·ν_j) · cos_ij, μ = E_p[z_img], ν = E_p[z_txt] (cross-covariance).
 *   Its rank-one part is dense: the same pass covers every entry of an active row (the bridge
 *   mass and the non-co-active top pairs).
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
    if (g.length === 1) {
      // One row: its entries as stored (nonzero ones), in its order.
      const r = g[0];
      for (let e = codes.rowPtr[r]; e < codes.rowPtr[r + 1]; e++) {
        if (codes.value[e] === 0) continue;
        idx.push(codes.index[e]);
        val.push(codes.value[e]);
      }
      rowPtr[p + 1] = idx.length;
      return;
    }
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
  /**
   * Image-side concepts per block (default: as many as fit {@link BRIDGE_BLOCK_CELLS} entries,
   * block·c): the co-activation accumulator holds block×c float64 sums.
   */
  block?: number;
  /** Cosine block provider (default: float64 JS loops; inject a BLAS product at scale). */
  cosineBlock?: CosineBlockFn;
  /** Called with the image-side concepts done after each block. */
  onProgress?: (done: number) => void;
}

/** Entries (block·c) of one block of the bridge pass: 4M, 36 MB of sums and marks. */
export const BRIDGE_BLOCK_CELLS = 1 << 22;

/**
 * A block of the sparse normalisations takes its cosines from the block product only when more
 * than 1/32 of its entries are co-active; below, float64 dots of those entries are cheaper (a JS
 * dot runs at about 1/30 of the GEMM's rate per multiply-add).
 */
const DOTS_PER_PRODUCT = 32;

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
 * Memory O(block·c + nnz); time O(Σ_p k_img·k_txt + c²) plus the cosine products (c²·d, by
 * blocks of rows, skipped for blocks with nothing co-active).
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
  for (let p = 0; p < P; p++) {
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
  const value = (i: number, j: number, coact: number, cos: number): number => {
    if (norm === "raw") return coact * cos;
    if (norm === "centred") return (coact - mu[i] * nu[j]) * cos;
    const den = Math.sqrt(e2i[i] * e2t[j]);
    return den > 0 ? (coact * cos) / den : 0;
  };
  const imgDom = (i: number) => opts.modalityScore[i] > imageMin;
  const textMask = new Uint8Array(c);
  for (let j = 0; j < c; j++) textMask[j] = opts.modalityScore[j] < textMax ? 1 : 0;

  // The image codes by concept (CSC): for concept i, the pairs p where it fires, p ascending.
  const colPtr = new Int32Array(c + 1);
  for (let e = 0; e < zi.rowPtr[P]; e++) if (zi.value[e] !== 0) colPtr[zi.index[e] + 1]++;
  for (let i = 0; i < c; i++) colPtr[i + 1] += colPtr[i];
  const colPair = new Int32Array(colPtr[c]);
  const colValue = new Float64Array(colPtr[c]);
  const fill = colPtr.slice(0, c);
  for (let p = 0; p < P; p++) {
    for (let e = zi.rowPtr[p]; e < zi.rowPtr[p + 1]; e++) {
      if (zi.value[e] === 0) continue;
      const q = fill[zi.index[e]]++;
      colPair[q] = p;
      colValue[q] = zi.value[e];
    }
  }

  // Blocks of `block` image-side concepts: co-activation sums C_ij·P of the block's rows in a
  // dense block×c accumulator (each sum adds its pairs in ascending p), then one cosine block
  // and one pass over the block's entries for the values, top pairs, self-bridges and mass.
  const block = Math.max(1, Math.min(c, opts.block ?? Math.floor(BRIDGE_BLOCK_CELLS / c)));
  const acc = new Float64Array(block * c);
  const mark = new Uint8Array(block * c);
  // Marked entries in the order they were first hit; sorted, they visit a sparse block in
  // (row, concept) order without scanning block×c.
  let touched = new Int32Array(1024);
  // Without an injected product (or in a sparse block), the sparse normalisations take float64
  // dots of the co-active entries only; `centred` needs every entry of an active row.
  const cosineBlock = opts.cosineBlock ?? (norm === "centred" ? cosineBlockReference : null);
  const selfBridge = new Float64Array(c);
  const selfCoactivation = new Float64Array(c);
  const massImage = new Float64Array(c);
  const massText = new Float64Array(c);
  const heap = new TopHeap(topN);
  const centred = norm === "centred";
  let coactivePairs = 0;
  for (let start = 0; start < c; start += block) {
    const count = Math.min(block, c - start);
    let marked = 0;
    let active = false;
    for (let r = 0; r < count; r++) {
      const i = start + r;
      if (centred && mu[i] !== 0) active = true;
      const o = r * c;
      for (let e = colPtr[i]; e < colPtr[i + 1]; e++) {
        const p = colPair[e], vi = colValue[e];
        for (let b = zt.rowPtr[p]; b < zt.rowPtr[p + 1]; b++) {
          const vj = zt.value[b];
          if (vj === 0) continue;
          const q = o + zt.index[b];
          acc[q] += vi * vj;
          if (mark[q] === 0) {
            mark[q] = 1;
            if (marked === touched.length) {
              const grown = new Int32Array(2 * touched.length);
              grown.set(touched);
              touched = grown;
            }
            touched[marked++] = q;
          }
        }
      }
    }
    coactivePairs += marked;
    // Centred: every entry of a row that fires (a block with none has B = 0 throughout).
    if (centred && (marked > 0 || active)) {
      const cosB = cosineBlock!(dict, c, d, start, count);
      for (let r = 0; r < count; r++) {
        const i = start + r, o = r * c;
        const searchRow = imgDom(i);
        let rowActive = mu[i] !== 0;
        for (let j = 0; j < c && !rowActive; j++) rowActive = mark[o + j] === 1;
        if (!rowActive) continue; // a row that never fires has B_ij = 0 for every j
        const mi = mu[i];
        let tau = heap.threshold();
        let m = 0;
        for (let j = 0; j < c; j++) {
          const coact = mark[o + j] === 1 ? acc[o + j] / P : 0;
          const cos = cosB[o + j];
          const v = (coact - mi * nu[j]) * cos;
          const a = v < 0 ? -v : v;
          m += a;
          massText[j] += a;
          if (j === i) {
            selfBridge[i] = v;
            selfCoactivation[i] = coact;
          } else if (v > tau && searchRow && textMask[j] === 1) {
            heap.offer({ i, j, value: v, coactivation: coact, cosine: cos });
            tau = heap.threshold();
          }
        }
        massImage[i] = m;
      }
    }
    if (!centred && marked > 0) {
      // Marked entries in (row, concept) order: by a scan of the block, or by sorting the
      // touched list when it is sparse (the same order either way).
      const sparse = marked * 16 < count * c;
      const cells = sparse ? touched.subarray(0, marked).sort() : null;
      // Few co-active entries: their float64 dots cost less than the block product.
      const cosB = cosineBlock && marked * DOTS_PER_PRODUCT >= count * c
        ? cosineBlock(dict, c, d, start, count)
        : null;
      let tau = heap.threshold();
      const visit = (q: number) => {
        const r = Math.floor(q / c), j = q - r * c, i = start + r;
        const coact = acc[q] / P;
        const cos = cosB ? cosB[q] : dotRows(dict, d, i, j);
        const v = value(i, j, coact, cos);
        if (j === i) {
          selfBridge[i] = v;
          selfCoactivation[i] = coact;
        } else if (v > tau && textMask[j] === 1 && imgDom(i)) {
          heap.offer({ i, j, value: v, coactivation: coact, cosine: cos });
          tau = heap.threshold();
        }
        const a = Math.abs(v);
        massImage[i] += a;
        massText[j] += a;
      };
      if (cells) { for (let e = 0; e < marked; e++) visit(cells[e]); }
      else for (let q = 0; q < count * c; q++) if (mark[q] === 1) visit(q);
    }
    if (marked > 0) {
      if (marked * 16 < count * c) {
        for (let e = 0; e < marked; e++) {
          acc[touched[e]] = 0;
          mark[touched[e]] = 0;
        }
      } else {
        acc.fill(0, 0, count * c);
        mark.fill(0, 0, count * c);
      }
    }
    opts.onProgress?.(start + count);
  }

  return {
    normalisation: norm,
    pairs: P,
    coactivePairs,
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
