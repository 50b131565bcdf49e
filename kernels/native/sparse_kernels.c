/*
 * Native kernels of the CPU backend: the sparse products and the optimiser passes of a training
 * step (Concept Atlas; kernels/native_sparse.ts builds and
 * loads this file with the system C compiler; without one the backend uses its WebAssembly
 * kernels). Every tensor lives in the backend's WebAssembly memory: functions take that memory's
 * base address and byte offsets into it. Shapes are row-major float32; sparse codes are CSR
 * (rowPtr i32 [n+1], index i32, value f32); the gather's column view (colPtr i32 [c+1], slotRow,
 * slotEntry) is built by the backend.
 *
 * Slabs: a sparse product reads, per entry (i, j), a whole row of a matrix that does not fit the
 * per-core L2 cache (the dictionary: 6144 x 3 KB), so a row-by-row kernel runs at memory speed.
 * These kernels first copy the gathered matrix into slab-major order (slab s holds floats
 * 64s..64s+63 of every row, zero-padded, contiguous), then sweep slab by slab: the slab being
 * gathered (c x 256 B = 1.5 MB) stays in L2, and a row's piece is four 512-bit registers.
 *
 * The optimiser kernels are plain streaming loops over rows (one pass where the wasm path needs
 * two or three).
 *
 * Exports (all synchronous; `threads` >= 1 worker threads are started per call):
 *   atlas_native_version()                                     -> ABI version
 *   atlas_native_slab()                                        -> floats per slab
 *   atlas_resid(base, rowPtr, index, value, dict, d, bias|0, x|0, scale, out, rowSs|0, vals|0,
 *               n, c, pack, threads)
 *       out_i = scale * (Z_i D + bias - x_i)   (x = 0: out_i = Z_i D + bias, scale ignored)
 *       rowSs_i = || Z_i D + bias - x_i ||^2   (when rowSs and x are given)
 *       vals_e = < out_i, D_j >                (when vals is given)
 *   atlas_sample(base, g, dict, d, rowPtr, index, vals, n, c, pack, threads)
 *       vals_e = < G_i, D_j >
 *   atlas_gather(base, colPtr, slotRow, slotEntry, vals, src, d, out, beta, c, n, pack, threads)
 *       out_j = beta out_j + sum_{s in column j, vals != 0} vals[slotEntry_s] src_{slotRow_s}
 *       (beta 0 overwrites, even NaN; a zero value is skipped, even over a NaN source row)
 *   atlas_topk_rows(base, pre, n, c, k, rowPtr, index, value, threads)
 *       per row of pre (n x c): the k largest entries (ties: lower column first), value
 *       max(pre, 0), columns ascending; rowPtr[i] = i k. The k-th largest of the maxima of the
 *       row's groups of 16 entries bounds the k-th largest entry from below: one pass keeps the
 *       entries at or above it, an exact sort of those picks the k. Rows with NaN, and k above a
 *       quarter of the groups, take a min-heap of k instead (the same result).
 *   atlas_scale_rows(base, v, a, rows, cols, out, beta, threads)
 *       out_i = beta out_i + v_i a_i (beta 0 overwrites, even NaN)
 *   atlas_removepar(base, dict, grad, rows, d, rowSs|0, threads)
 *       grad_j -= <grad_j, D_j> D_j (unit rows D); rowSs_j = || grad_j ||^2 after
 *   atlas_adamw(base, p, g, m, v, rows, cols, beta1, a1, beta2, a2, stepSize, invSqrtBc2, eps,
 *               decay, normalize, threads)
 *       m = beta1 m + a1 g; v = beta2 v + a2 g^2; p = decay p - stepSize m / (sqrt(v) invSqrtBc2
 *       + eps), then (normalize) each row of p (rows x cols) scaled to unit norm (zero rows kept)
 * `pack` is scratch of at least ceil(d/SLAB)*SLAB*max(n, c) floats (64-byte aligned).
 */

#include "common.h"

#ifndef SLAB
#define SLAB 64 /* floats per slab: a multiple of 16 */
#endif
#define NV (SLAB / 16)

/* ---- slab-major copies ------------------------------------------------------------------------ */
typedef struct {
  const float *src;
  float *dst;
  int rows, d, slabs;
} pack_t;
/* dst[(s*rows + i)*SLAB + t] = src[i*d + SLAB*s + t] (0 past d), rows [lo, hi) */
static void pack_rows(void *a, int lo, int hi) {
  pack_t *p = (pack_t *)a;
  for (int i = lo; i < hi; i++) {
    const float *row = p->src + (int64_t)i * p->d;
    for (int s = 0; s < p->slabs; s++) {
      float *o = p->dst + ((int64_t)s * p->rows + i) * SLAB;
      int w = p->d - s * SLAB;
      if (w >= SLAB) {
        for (int u = 0; u < NV; u++) st(o + 16 * u, ld(row + s * SLAB + 16 * u));
      } else {
        for (int t = 0; t < SLAB; t++) o[t] = t < w ? row[s * SLAB + t] : 0.0f;
      }
    }
  }
}
static void pack(const float *src, int rows, int d, float *dst, int threads) {
  pack_t p = {src, dst, rows, d, (d + SLAB - 1) / SLAB};
  parallel(pack_rows, &p, rows, threads);
}

/* load / store w <= SLAB floats of a row piece as NV registers (zero-padded) */
static inline void load_piece(const float *p, int w, v16 *x) {
  if (w >= SLAB) {
    for (int u = 0; u < NV; u++) x[u] = ld(p + 16 * u);
    return;
  }
  float tmp[SLAB] __attribute__((aligned(64))) = {0};
  memcpy(tmp, p, (size_t)w * sizeof(float));
  for (int u = 0; u < NV; u++) x[u] = ld(tmp + 16 * u);
}
static inline void store_piece(float *p, int w, const v16 *x) {
  if (w >= SLAB) {
    for (int u = 0; u < NV; u++) st(p + 16 * u, x[u]);
    return;
  }
  float tmp[SLAB] __attribute__((aligned(64)));
  for (int u = 0; u < NV; u++) st(tmp + 16 * u, x[u]);
  memcpy(p, tmp, (size_t)w * sizeof(float));
}
static inline int slab_width(int d, int s) { return d - s * SLAB < SLAB ? d - s * SLAB : SLAB; }

/* ---- decode / residual / sample by rows ------------------------------------------------------- */
typedef struct {
  const int32_t *rowPtr, *index;
  const float *value, *dictPack, *bias, *x, *g;
  float *out, *rowSs, *vals;
  float scale;
  int d, c, slabs;
} rows_t;

/*
 * The lane sums of 16 vectors, as one vector (lane l = sum of x[l]): a transposing tree of
 * pairwise folds, three operations per vector instead of a full horizontal sum each.
 */
static inline v16 fold2(v16 a, v16 b) { /* lanes 0-7: a folded to 8, lanes 8-15: b */
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
         __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30,
                                 31);
}
static inline v16 fold4(v16 a, v16 b) { /* groups of 8 -> groups of 4 */
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
         __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}
static inline v16 fold8(v16 a, v16 b) { /* groups of 4 -> groups of 2 */
  return __builtin_shufflevector(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
         __builtin_shufflevector(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
}
static inline v16 fold16(v16 a, v16 b) { /* groups of 2 -> single lanes */
  return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
         __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
static inline v16 sum16(const v16 *x) {
  v16 h[8], q[4], r[2];
  for (int t = 0; t < 8; t++) h[t] = fold2(x[2 * t], x[2 * t + 1]);
  for (int t = 0; t < 4; t++) q[t] = fold4(h[2 * t], h[2 * t + 1]);
  for (int t = 0; t < 2; t++) r[t] = fold8(q[2 * t], q[2 * t + 1]);
  return fold16(r[0], r[1]);
}
/* <g, D piece> as one vector of partial sums */
static inline v16 dot_piece(const v16 *g, const float *q) {
  v16 x = g[0] * ld(q);
  for (int u = 1; u < NV; u++) x += g[u] * ld(q + 16 * u);
  return x;
}

/* out_i (and rowSs_i) for rows [lo, hi), slab by slab */
static void decode_rows(void *a, int lo, int hi) {
  rows_t *p = (rows_t *)a;
  if (p->rowSs && p->x)
    for (int i = lo; i < hi; i++) p->rowSs[i] = 0.0f;
  if (p->x && p->vals)
    for (int e = p->rowPtr[lo]; e < p->rowPtr[hi]; e++) p->vals[e] = 0.0f;
  const v16 sc = splat(p->scale);
  for (int s = 0; s < p->slabs; s++) {
    const float *Ds = p->dictPack + (int64_t)s * p->c * SLAB;
    const int w = slab_width(p->d, s);
    for (int i = lo; i < hi; i++) {
      /* two interleaved partial sums (even and odd entries) hide the multiply-add latency */
      v16 acc[NV] = {0}, acc2[NV] = {0};
      int e = p->rowPtr[i];
      const int e1 = p->rowPtr[i + 1];
      for (; e + 1 < e1; e += 2) {
        const float *q0 = Ds + (int64_t)p->index[e] * SLAB;
        const float *q1 = Ds + (int64_t)p->index[e + 1] * SLAB;
        const v16 v0 = splat(p->value[e]), v1 = splat(p->value[e + 1]);
        for (int u = 0; u < NV; u++) {
          acc[u] += v0 * ld(q0 + 16 * u);
          acc2[u] += v1 * ld(q1 + 16 * u);
        }
      }
      if (e < e1) {
        const float *q0 = Ds + (int64_t)p->index[e] * SLAB;
        const v16 v0 = splat(p->value[e]);
        for (int u = 0; u < NV; u++) acc[u] += v0 * ld(q0 + 16 * u);
      }
      for (int u = 0; u < NV; u++) acc[u] += acc2[u];
      if (p->bias) {
        v16 b[NV];
        load_piece(p->bias + s * SLAB, w, b);
        for (int u = 0; u < NV; u++) acc[u] += b[u];
      }
      float *o = p->out + (int64_t)i * p->d + s * SLAB;
      if (p->x) {
        v16 x[NV], sq = {0};
        load_piece(p->x + (int64_t)i * p->d + s * SLAB, w, x);
        for (int u = 0; u < NV; u++) {
          acc[u] -= x[u];
          sq += acc[u] * acc[u];
          acc[u] *= sc;
        }
        if (p->rowSs) p->rowSs[i] += hsum(sq);
      }
      store_piece(o, w, acc);
      if (p->x && p->vals) {
        /* the sample on this slab while its pieces are in L1: vals_e += <r_i piece, D_j piece> */
        int e2 = p->rowPtr[i];
        for (; e2 + 15 < e1; e2 += 16) {
          v16 x[16];
          for (int u = 0; u < 16; u++) x[u] = dot_piece(acc, Ds + (int64_t)p->index[e2 + u] * SLAB);
          st(p->vals + e2, ld(p->vals + e2) + sum16(x));
        }
        for (; e2 < e1; e2++) {
          p->vals[e2] += hsum(dot_piece(acc, Ds + (int64_t)p->index[e2] * SLAB));
        }
      }
    }
  }
}

/* vals_e = <g_i, D_j> for the entries of rows [lo, hi) (g = p->g, or out when g is null) */
static void sample_rows(void *a, int lo, int hi) {
  rows_t *p = (rows_t *)a;
  const float *g = p->g ? p->g : p->out;
  for (int e = p->rowPtr[lo]; e < p->rowPtr[hi]; e++) p->vals[e] = 0.0f;
  for (int s = 0; s < p->slabs; s++) {
    const float *Ds = p->dictPack + (int64_t)s * p->c * SLAB;
    const int w = slab_width(p->d, s);
    for (int i = lo; i < hi; i++) {
      v16 gi[NV];
      load_piece(g + (int64_t)i * p->d + s * SLAB, w, gi);
      int e = p->rowPtr[i];
      const int e1 = p->rowPtr[i + 1];
      for (; e + 15 < e1; e += 16) {
        v16 x[16];
        for (int u = 0; u < 16; u++) x[u] = dot_piece(gi, Ds + (int64_t)p->index[e + u] * SLAB);
        st(p->vals + e, ld(p->vals + e) + sum16(x));
      }
      for (; e < e1; e++) p->vals[e] += hsum(dot_piece(gi, Ds + (int64_t)p->index[e] * SLAB));
    }
  }
}

static void decode_sample_rows(void *a, int lo, int hi) {
  rows_t *p = (rows_t *)a;
  decode_rows(a, lo, hi);
  if (p->vals && !p->x) sample_rows(a, lo, hi); /* with x the sample is fused in */
}


int atlas_native_version(void) { return 5; }
int atlas_native_slab(void) { return SLAB; }

void atlas_resid(uint8_t *base, uint32_t rowPtr, uint32_t index, uint32_t value, uint32_t dict,
                 int32_t d, uint32_t bias, uint32_t x, float scale, uint32_t out, uint32_t rowSs,
                 uint32_t vals, int32_t n, int32_t c, uint32_t packOff, int32_t threads) {
  float *dp = AT(float, packOff);
  pack(AT(const float, dict), c, d, dp, threads);
  rows_t p = {AT(const int32_t, rowPtr),
              AT(const int32_t, index),
              AT(const float, value),
              dp,
              bias ? AT(const float, bias) : 0,
              x ? AT(const float, x) : 0,
              0,
              AT(float, out),
              rowSs ? AT(float, rowSs) : 0,
              vals ? AT(float, vals) : 0,
              scale,
              d,
              c,
              (d + SLAB - 1) / SLAB};
  parallel(decode_sample_rows, &p, n, threads);
}

void atlas_sample(uint8_t *base, uint32_t g, uint32_t dict, int32_t d, uint32_t rowPtr,
                  uint32_t index, uint32_t vals, int32_t n, int32_t c, uint32_t packOff,
                  int32_t threads) {
  float *dp = AT(float, packOff);
  pack(AT(const float, dict), c, d, dp, threads);
  rows_t p = {AT(const int32_t, rowPtr),
              AT(const int32_t, index),
              0,
              dp,
              0,
              0,
              AT(const float, g),
              0,
              0,
              AT(float, vals),
              1.0f,
              d,
              c,
              (d + SLAB - 1) / SLAB};
  parallel(sample_rows, &p, n, threads);
}

/* ---- gather by concept ---------------------------------------------------------------------- */
typedef struct {
  const int32_t *colPtr, *slotRow, *slotEntry;
  const float *vals, *srcPack;
  float *out;
  float beta;
  int d, n, slabs;
} gather_t;

static void gather_cols(void *a, int lo, int hi) {
  gather_t *p = (gather_t *)a;
  const v16 bv = splat(p->beta);
  for (int s = 0; s < p->slabs; s++) {
    const float *Ss = p->srcPack + (int64_t)s * p->n * SLAB;
    const int w = slab_width(p->d, s);
    for (int j = lo; j < hi; j++) {
      v16 acc[NV] = {0}, acc2[NV] = {0};
      int q = p->colPtr[j];
      const int q1 = p->colPtr[j + 1];
      for (; q + 1 < q1; q += 2) {
        const float v0 = p->vals[p->slotEntry[q]], v1 = p->vals[p->slotEntry[q + 1]];
        if (v0 != 0.0f) {
          const float *r = Ss + (int64_t)p->slotRow[q] * SLAB;
          for (int u = 0; u < NV; u++) acc[u] += splat(v0) * ld(r + 16 * u);
        }
        if (v1 != 0.0f) {
          const float *r = Ss + (int64_t)p->slotRow[q + 1] * SLAB;
          for (int u = 0; u < NV; u++) acc2[u] += splat(v1) * ld(r + 16 * u);
        }
      }
      if (q < q1) {
        const float v0 = p->vals[p->slotEntry[q]];
        if (v0 != 0.0f) {
          const float *r = Ss + (int64_t)p->slotRow[q] * SLAB;
          for (int u = 0; u < NV; u++) acc[u] += splat(v0) * ld(r + 16 * u);
        }
      }
      for (int u = 0; u < NV; u++) acc[u] += acc2[u];
      float *o = p->out + (int64_t)j * p->d + s * SLAB;
      if (p->beta != 0.0f) {
        v16 old[NV];
        load_piece(o, w, old);
        for (int u = 0; u < NV; u++) acc[u] += p->beta == 1.0f ? old[u] : bv * old[u];
      }
      store_piece(o, w, acc);
    }
  }
}

void atlas_gather(uint8_t *base, uint32_t colPtr, uint32_t slotRow, uint32_t slotEntry,
                  uint32_t vals, uint32_t src, int32_t d, uint32_t out, float beta, int32_t c,
                  int32_t n, uint32_t packOff, int32_t threads) {
  float *sp = AT(float, packOff);
  pack(AT(const float, src), n, d, sp, threads);
  gather_t p = {AT(const int32_t, colPtr), AT(const int32_t, slotRow),
                AT(const int32_t, slotEntry), AT(const float, vals), sp, AT(float, out), beta, d,
                n, (d + SLAB - 1) / SLAB};
  /* concepts split so that each thread gets about the same number of slots */
  int parts = clamp_threads(threads, c), bounds[MAX_THREADS + 1];
  const int32_t *cp = p.colPtr;
  const int64_t nnz = cp[c];
  bounds[0] = 0;
  int j = 0;
  for (int t = 1; t < parts; t++) {
    const int64_t want = nnz * t / parts;
    while (j < c && cp[j] < want) j++;
    bounds[t] = j;
  }
  bounds[parts] = c;
  fork_join(gather_cols, &p, bounds, parts);
}

/* ---- optimiser: parallel-component removal and AdamW (rows) --------------------------------- */
typedef struct {
  const float *dict;
  float *grad, *rowSs;
  int d;
} removepar_t;


static void removepar_rows(void *a, int lo, int hi) {
  removepar_t *p = (removepar_t *)a;
  for (int j = lo; j < hi; j++) {
    const float *dj = p->dict + (int64_t)j * p->d;
    float *gj = p->grad + (int64_t)j * p->d;
    const float c = dot_row(gj, dj, p->d);
    const v16 cv = splat(c);
    int t = 0;
    for (; t + 16 <= p->d; t += 16) st(gj + t, ld(gj + t) - cv * ld(dj + t));
    for (; t < p->d; t++) gj[t] -= c * dj[t];
    if (p->rowSs) p->rowSs[j] = dot_row(gj, gj, p->d);
  }
}

void atlas_removepar(uint8_t *base, uint32_t dict, uint32_t grad, int32_t rows, int32_t d,
                     uint32_t rowSs, int32_t threads) {
  removepar_t p = {AT(const float, dict), AT(float, grad), rowSs ? AT(float, rowSs) : 0, d};
  parallel(removepar_rows, &p, rows, threads);
}

typedef struct {
  float *p, *m, *v;
  const float *g;
  int cols, normalize;
  float b1, a1, b2, a2, ss, isb, eps, dec;
} adamw_t;

static void adamw_rows(void *a, int lo, int hi) {
  adamw_t *q = (adamw_t *)a;
  const v16 b1 = splat(q->b1), a1 = splat(q->a1), b2 = splat(q->b2), a2 = splat(q->a2);
  const v16 ss = splat(q->ss), isb = splat(q->isb), eps = splat(q->eps), dec = splat(q->dec);
  for (int r = lo; r < hi; r++) {
    const int64_t o = (int64_t)r * q->cols;
    float *P = q->p + o, *M = q->m + o, *V = q->v + o;
    const float *G = q->g + o;
    int t = 0;
    for (; t + 16 <= q->cols; t += 16) {
      const v16 g = ld(G + t);
      const v16 m = b1 * ld(M + t) + a1 * g;
      const v16 v = b2 * ld(V + t) + a2 * g * g;
      st(M + t, m);
      st(V + t, v);
      st(P + t, ld(P + t) * dec - ss * m / (vsqrt(v) * isb + eps));
    }
    for (; t < q->cols; t++) {
      const float g = G[t];
      const float m = q->b1 * M[t] + q->a1 * g;
      const float v = q->b2 * V[t] + q->a2 * g * g;
      M[t] = m;
      V[t] = v;
      P[t] = P[t] * q->dec - q->ss * m / (__builtin_sqrtf(v) * q->isb + q->eps);
    }
    if (q->normalize) {
      const float n2 = dot_row(P, P, q->cols);
      if (n2 > 0.0f) {
        const float inv = 1.0f / __builtin_sqrtf(n2);
        const v16 iv = splat(inv);
        int u = 0;
        for (; u + 16 <= q->cols; u += 16) st(P + u, ld(P + u) * iv);
        for (; u < q->cols; u++) P[u] *= inv;
      }
    }
  }
}

void atlas_adamw(uint8_t *base, uint32_t p, uint32_t g, uint32_t m, uint32_t v, int32_t rows,
                 int32_t cols, float beta1, float a1, float beta2, float a2, float stepSize,
                 float invSqrtBc2, float eps, float decay, int32_t normalize, int32_t threads) {
  adamw_t q = {AT(float, p), AT(float, m), AT(float, v), AT(const float, g), cols, normalize,
               beta1, a1, beta2, a2, stepSize, invSqrtBc2, eps, decay};
  parallel(adamw_rows, &q, rows, threads);
}

/* ---- per-row top-k ---------------------------------------------------------------------------- */
typedef struct {
  const float *pre;
  int32_t *rowPtr, *index;
  float *value;
  int c, k;
} topk_t;

/* heap entry a is weaker than b: smaller value, or equal value and larger column */
static inline int weaker(const float *hv, const int32_t *hc, int a, int b) {
  return hv[a] < hv[b] || (hv[a] == hv[b] && hc[a] > hc[b]);
}
static inline void swap_entries(float *hv, int32_t *hc, int a, int b) {
  const float tv = hv[a];
  hv[a] = hv[b];
  hv[b] = tv;
  const int32_t tc = hc[a];
  hc[a] = hc[b];
  hc[b] = tc;
}
static void sift_up(float *hv, int32_t *hc, int j) {
  while (j > 0) {
    const int parent = (j - 1) >> 1;
    if (!weaker(hv, hc, j, parent)) break;
    swap_entries(hv, hc, j, parent);
    j = parent;
  }
}
static void sift_down(float *hv, int32_t *hc, int size) {
  int j = 0;
  for (;;) {
    const int l = 2 * j + 1, r = l + 1;
    if (l >= size) break;
    int w = l;
    if (r < size && weaker(hv, hc, r, l)) w = r;
    if (!weaker(hv, hc, w, j)) break;
    swap_entries(hv, hc, w, j);
    j = w;
  }
}
static int cmp_i32(const void *a, const void *b) {
  const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* candidates ordered by value descending, then column ascending */
typedef struct {
  float v;
  int32_t c;
} cand_t;
static int cmp_cand(const void *a, const void *b) {
  const cand_t *x = (const cand_t *)a, *y = (const cand_t *)b;
  if (x->v != y->v) return x->v > y->v ? -1 : 1;
  return (x->c > y->c) - (x->c < y->c);
}

/* insertion sorts for the short arrays of a row (a few dozen entries) */
static void sort_cands(cand_t *x, int n) {
  for (int i = 1; i < n; i++) {
    const cand_t t = x[i];
    int j = i - 1;
    while (j >= 0 && (x[j].v < t.v || (x[j].v == t.v && x[j].c > t.c))) {
      x[j + 1] = x[j];
      j--;
    }
    x[j + 1] = t;
  }
}
static void sort_cols(int32_t *x, int n) {
  if (n > 64) {
    qsort(x, (size_t)n, sizeof(int32_t), cmp_i32);
    return;
  }
  for (int i = 1; i < n; i++) {
    const int32_t t = x[i];
    int j = i - 1;
    while (j >= 0 && x[j] > t) {
      x[j + 1] = x[j];
      j--;
    }
    x[j + 1] = t;
  }
}

/*
 * Fast path of one row: columns of the k largest into hc (any order); 0 when the row needs the
 * heap (a NaN, or too few groups for the bound to help). Groups of 16 entries: lane l of the 16
 * vectors of each 256-float chunk (their maxima are 15 vector max operations, no horizontal
 * reduction), then the tail one entry per group.
 */
static int topk_row_blocks(const float *row, int c, int k, int32_t *hc, float *maxima,
                           cand_t *cand) {
  const int chunks = c / 256, tail = c - 256 * chunks;
  const int ng = 16 * chunks + tail;
  if (4 * k > ng) return 0;
  for (int q = 0; q < chunks; q++) {
    const float *r = row + 256 * q;
#ifdef __AVX512F__
    __m512 mx = _mm512_loadu_ps(r);
    __mmask16 nan = 0;
    for (int u = 0; u < 16; u++) {
      const __m512 v = _mm512_loadu_ps(r + 16 * u);
      nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      mx = _mm512_max_ps(mx, v);
    }
    if (nan) return 0;
    _mm512_storeu_ps(maxima + 16 * q, mx);
#else
    for (int l = 0; l < 16; l++) {
      float mx = r[l];
      for (int u = 0; u < 16; u++) {
        const float v = r[16 * u + l];
        if (v != v) return 0;
        mx = v > mx ? v : mx;
      }
      maxima[16 * q + l] = mx;
    }
#endif
  }
  for (int t = 0; t < tail; t++) {
    const float v = row[256 * chunks + t];
    if (v != v) return 0;
    maxima[16 * chunks + t] = v;
  }
  const float t0 = select_desc(maxima, ng, k - 1);
  int m = 0, j = 0;
#ifdef __AVX512F__
  const __m512 tv = _mm512_set1_ps(t0);
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  float cv[16];
  int32_t cc[16];
  for (; j + 16 <= c; j += 16) {
    const __m512 v = _mm512_loadu_ps(row + j);
    const __mmask16 hit = _mm512_cmp_ps_mask(v, tv, _CMP_GE_OQ);
    if (!hit) continue;
    _mm512_mask_compressstoreu_ps(cv, hit, v);
    _mm512_mask_compressstoreu_epi32(cc, hit, _mm512_add_epi32(iota, _mm512_set1_epi32(j)));
    const int h = __builtin_popcount(hit);
    for (int t = 0; t < h; t++) cand[m++] = (cand_t){cv[t], cc[t]};
  }
#endif
  for (; j < c; j++) {
    if (row[j] >= t0) cand[m++] = (cand_t){row[j], j};
  }
  if (m > 256) qsort(cand, (size_t)m, sizeof(cand_t), cmp_cand);
  else sort_cands(cand, m);
  for (int t = 0; t < k; t++) hc[t] = cand[t].c;
  return 1;
}

static void topk_rows(void *a, int lo, int hi) {
  topk_t *p = (topk_t *)a;
  const int c = p->c, k = p->k;
  float *hv = (float *)malloc(sizeof(float) * (size_t)k);
  int32_t *hc = (int32_t *)malloc(sizeof(int32_t) * (size_t)k);
  float *maxima = (float *)malloc(sizeof(float) * (size_t)(c + 16));
  cand_t *cand = (cand_t *)malloc(sizeof(cand_t) * (size_t)c);
  if (!hv || !hc || !maxima || !cand) { /* out of memory: leave the rows empty, no crash */
    for (int i = lo; i < hi; i++) p->rowPtr[i] = i * k;
    free(hv);
    free(hc);
    free(maxima);
    free(cand);
    return;
  }
  for (int i = lo; i < hi; i++) {
    const float *row = p->pre + (int64_t)i * c;
    if (topk_row_blocks(row, c, k, hc, maxima, cand)) goto emit;
    for (int j = 0; j < k; j++) {
      hv[j] = row[j];
      hc[j] = j;
      sift_up(hv, hc, j);
    }
    float minV = hv[0];
    int j = k;
    /* screen 16 at a time: an equal value at a later column never beats the root */
    for (; j + 16 <= c; j += 16) {
      const v16 v = ld(row + j);
      const v16 m = splat(minV);
      int any = 0;
      for (int l = 0; l < 16; l++) any |= v[l] > m[l];
      if (!any) continue;
      for (int l = 0; l < 16; l++) {
        if (row[j + l] > minV) {
          hv[0] = row[j + l];
          hc[0] = j + l;
          sift_down(hv, hc, k);
          minV = hv[0];
        }
      }
    }
    for (; j < c; j++) {
      if (row[j] > minV) {
        hv[0] = row[j];
        hc[0] = j;
        sift_down(hv, hc, k);
        minV = hv[0];
      }
    }
  emit:
    sort_cols(hc, k);
    const int64_t o = (int64_t)i * k;
    for (int t = 0; t < k; t++) {
      const float v = row[hc[t]];
      p->index[o + t] = hc[t];
      p->value[o + t] = v > 0.0f ? v : 0.0f;
    }
    p->rowPtr[i] = (int32_t)o;
  }
  free(hv);
  free(hc);
  free(maxima);
  free(cand);
}

void atlas_topk_rows(uint8_t *base, uint32_t pre, int32_t n, int32_t c, int32_t k, uint32_t rowPtr,
                     uint32_t index, uint32_t value, int32_t threads) {
  topk_t p = {AT(const float, pre), AT(int32_t, rowPtr), AT(int32_t, index), AT(float, value), c,
              k};
  parallel(topk_rows, &p, n, threads);
  p.rowPtr[n] = n * k;
}

/* ---- row scaling ---------------------------------------------------------------------------- */
typedef struct {
  const float *v, *a;
  float *out;
  int cols;
  float beta;
} scale_rows_t;

static void scale_rows(void *p_, int lo, int hi) {
  scale_rows_t *p = (scale_rows_t *)p_;
  for (int i = lo; i < hi; i++) {
    const float *a = p->a + (int64_t)i * p->cols;
    float *o = p->out + (int64_t)i * p->cols;
    const float s = p->v[i];
    const v16 sv = splat(s), bv = splat(p->beta);
    int t = 0;
    if (p->beta == 0.0f) {
      for (; t + 16 <= p->cols; t += 16) st(o + t, sv * ld(a + t));
      for (; t < p->cols; t++) o[t] = s * a[t];
    } else {
      for (; t + 16 <= p->cols; t += 16) st(o + t, bv * ld(o + t) + sv * ld(a + t));
      for (; t < p->cols; t++) o[t] = p->beta * o[t] + s * a[t];
    }
  }
}

void atlas_scale_rows(uint8_t *base, uint32_t v, uint32_t a, int32_t rows, int32_t cols,
                      uint32_t out, float beta, int32_t threads) {
  scale_rows_t p = {AT(const float, v), AT(const float, a), AT(float, out), cols, beta};
  parallel(scale_rows, &p, rows, threads);
}
